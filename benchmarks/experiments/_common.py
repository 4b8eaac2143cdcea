"""Shared helpers for the experiments: sizes, summaries, tables and plot styling."""

from __future__ import annotations

import math
import os

import numpy as np

from w2s_plugin.errors import MissingExtraError, W2SError

#: The two sizes every experiment knows: ``full`` for docs/results.md, ``small`` for the tests.
SIZES = ("full", "small")


def check_size(size: str) -> str:
    if size not in SIZES:
        raise W2SError(f"size must be one of {SIZES}; got {size!r}")
    return size


def run_seeds(one_seed, size: str, seed: int, n_full: int, n_small: int, desc: str, progress: bool) -> dict:
    """``one_seed(s)`` for ``n_full`` (or, at reduced size, ``n_small``) consecutive seeds, with a bar."""
    from w2s_plugin.progress import progress as _progress

    check_size(size)
    n = n_full if size == "full" else n_small
    bar = _progress(total=n, desc=desc, disable=not progress, unit="seed")
    runs = []
    for s in range(seed, seed + n):
        runs.append(one_seed(s))
        bar.update(1)
    bar.close()
    return {"size": size, "seeds": n, "runs": runs}


def mean_ci(values, z: float = 1.96) -> tuple[float, float]:
    """Mean and the half-width of its normal-approximation 95% interval (NaNs dropped)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(z * v.std(ddof=1) / math.sqrt(v.size))


def fmt(m: float, h: float | None = None, digits: int = 3) -> str:
    if m is None or not np.isfinite(m):
        return "–"
    if h is None or not np.isfinite(h):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {h:.{digits}f}"


def md_table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def pyplot():
    """matplotlib.pyplot on the Agg backend, with a readable default style."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingExtraError("the report's plots (matplotlib)", "plot") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "legend.fontsize": 9,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "figure.dpi": 100,
        }
    )
    return plt


def save(fig, img_dir, name: str) -> str:
    os.makedirs(img_dir, exist_ok=True)
    path = os.path.join(img_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def run_main(module, argv=None) -> int:
    """``python -m benchmarks.experiments.X [--small] [--out DIR]``: run, print the section, write plots."""
    import argparse

    from w2s_plugin.cli import count

    p = argparse.ArgumentParser(
        prog=f"python -m {module.__name__}", description=(module.__doc__ or "").split("\n")[0]
    )
    p.add_argument("--small", action="store_true", help="the reduced size the tests use")
    p.add_argument(
        "--out",
        default="w2s-experiments",
        help="directory for the PNG plots (default w2s-experiments; `w2s report` writes docs/img)",
    )
    p.add_argument(
        "--seed",
        type=count("--seed", minimum=0, error=argparse.ArgumentTypeError),
        default=0,
        help="first seed of the experiment (default 0)",
    )
    args = p.parse_args(argv)
    res = module.run(size="small" if args.small else "full", seed=args.seed, progress=True)
    print(module.markdown(res, img_dir=args.out, img_prefix=args.out))
    return 0
