"""Built-in ``w2s diagnose`` (which weak labels should the strong model be trained on, and should I
trust overlap density on my data?) and ``w2s report``
(regenerate docs/results.md and its plots)."""

from __future__ import annotations

import json
import os

import numpy as np

from w2s_plugin.errors import DataError
from w2s_plugin.hookspecs import hookimpl


def _number(cell: str):
    """A gold cell as a float (NaN when empty), or None when it is not a number (text, a header)."""
    if cell == "":
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        return None


def _lines(numbers, limit: int = 5) -> str:
    shown = ", ".join(str(k) for k in numbers[:limit])
    return (
        ("line " if len(numbers) == 1 else "lines ")
        + shown
        + (f" (and {len(numbers) - limit} more)" if len(numbers) > limit else "")
    )


def _read_column(path: str, what: str, n: int) -> np.ndarray:
    """One column of ``n`` cells from a CSV/TSV/TXT file, read row by row with the csv module.

    An empty line is an empty cell (for gold labels: no gold label), so a file whose last points
    have no label keeps its length; only blank lines beyond the ``n`` rows are dropped (a stray final
    newline). A first row that is not a class index (gold) or that makes the file one row too long
    (sources, after dropping those blank lines) is a header.
    """
    import csv

    from w2s_plugin.diagnostics import invalid_gold

    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} file {path!r} does not exist")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t" if path.endswith(".tsv") else ","))
    wide = [i + 1 for i, r in enumerate(rows) if len(r) > 1]
    if wide:
        raise DataError(
            f"{what} file {path!r} must have one column; {_lines(wide)} "
            f"{'has' if len(wide) == 1 else 'have'} more"
        )
    cells = [r[0].strip() if r else "" for r in rows]
    first = 1  # file line number of cells[0]
    gold = what == "gold labels"
    has_header = gold and bool(cells) and cells[0] != "" and _number(cells[0]) is None
    if has_header:
        cells, first = cells[1:], 2
    while len(cells) > n and cells[-1] == "":  # blank lines after the last point
        cells.pop()
    if not gold and len(cells) == n + 1:  # names can be anything: a header is the row too many
        has_header, cells, first = True, cells[1:], 2
    if len(cells) != n:
        raise DataError(
            f"{what} file {path!r} has {len(cells)} "
            f"rows{' after its header' if has_header else ''} "
            f"but the pool has {n} points; give one row per point (an empty row = "
            f"{'no gold label' if gold else 'an empty name'})"
        )
    if not gold:
        return np.asarray(cells)
    vals = [_number(c) for c in cells]
    text = [i + first for i, v in enumerate(vals) if v is None]
    if text:
        raise DataError(
            f"gold labels file {path!r}: every row must be a class index (0, 1, ...) or empty / "
            "-1 "
            f"for no gold label; {_lines(text)} {'is' if len(text) == 1 else 'are'} not a "
            "number"
        )
    y = np.asarray(vals, dtype=np.float64)
    bad = [int(i) + first for i in np.flatnonzero(invalid_gold(y))]
    if bad:
        raise DataError(
            f"gold labels file {path!r}: class indices must be 0, 1, ... (or -1 / empty for no "
            "gold "
            f"label); {_lines(bad)} {'holds' if len(bad) == 1 else 'hold'} "
            f"{', '.join(rows[k - 1][0].strip() for k in bad[:5])}"
        )
    return y


def _load_labels(path: str, what: str, n: int) -> np.ndarray:
    """A 1-D column of ``n`` entries from .csv/.tsv/.txt (see :func:`_read_column`) or .npy/.npz."""
    from w2s_plugin.files import load_array as _load_array

    if path.endswith((".csv", ".txt", ".tsv")):
        return _read_column(path, what, n)
    return np.asarray(_load_array(path, what)).ravel()


def cmd_diagnose(args) -> int:
    from w2s_plugin import OverlapDetector
    from w2s_plugin.diagnostics import diagnose
    from w2s_plugin.files import load_array as _load_array

    proba = np.asarray(_load_array(args.proba, "proba"))
    if proba.ndim == 2 and proba.shape[1] == 1:
        proba = proba[:, 0]
    emb = _load_array(args.embeddings, "embeddings")
    n = proba.shape[0]
    gold = _load_labels(args.gold, "gold labels", n)
    sources = _load_labels(args.sources, "sources", n) if args.sources else None
    kw = {"scorer": args.scorer} if args.scorer else {}
    det = OverlapDetector(random_state=args.seed, **kw)
    rep = diagnose(
        proba,
        emb,
        gold,
        sources=sources,
        detector=det,
        alpha=args.alpha,
        min_gap=args.min_gap,
        random_state=args.seed,
        estimator=args.strong_model,
        folds=args.folds,
        max_train=args.max_train,
    )
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2))  # to_dict gives plain types, one per field
    else:
        print(rep.summary())
    return 0 if rep.verdict == "informative" or not args.strict else 1


def _checkout_experiments():
    """The report's experiments live in a source checkout (benchmarks/experiments), not in the wheel:
    find the checkout from the working directory up and import them from there."""
    import importlib
    import sys
    from pathlib import Path

    from w2s_plugin.errors import W2SError

    here = Path.cwd().resolve()
    for root in (here, *here.parents):
        if (root / "benchmarks" / "experiments" / "report.py").is_file():
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            return importlib.import_module("benchmarks.experiments.report")
    raise W2SError(
        f"w2s report runs from a w2s_plugin source checkout (no benchmarks/experiments/ in {here} "
        "or above): clone the repository and run `make report` there"
    )


def cmd_report(args) -> int:
    build_report = _checkout_experiments().build_report

    only = [s.strip() for s in args.only.split(",")] if args.only else None
    path = build_report(
        docs_dir=args.docs,
        size="small" if args.small else "full",
        seed=args.seed,
        jobs=args.jobs,
        only=only,
        save_results=args.save_results,
        from_results=args.from_results,
    )
    print(f"report written to {path} (plots in {os.path.join(args.docs, 'img')})")
    return 0


@hookimpl
def register_commands(subparsers):
    _add_diagnose(subparsers)
    _add_report(subparsers)


def _add_diagnose(subparsers) -> None:
    from w2s_plugin.cli import count
    from w2s_plugin.diagnostics import STRONG_MODELS

    from .commands import add_pool_options, add_seed_option

    p = subparsers.add_parser(
        "diagnose",
        help="on a gold sample: which training set to give the strong model (gold labels alone, "
        "weak labels, or both)",
        description="First, the decision: by cross-fitting on the gold labels, the accuracy of a strong "
        "model trained on each candidate: the gold labels alone (gold); the weak labels of a policy "
        "(all; confident = not hard-only; detected overlap; random of the overlap's size as a "
        "control); or the gold labels plus a policy's weak labels at a cross-fitted weight (gold+all, "
        "gold+confident, gold+overlap); paired 95% intervals against all, and a recommendation "
        "(its first line says so when the weak labels do not pay). Second, the label analysis: "
        "weak-label accuracy per detected region and per source with 95% Wilson intervals, and "
        "a verdict: informative when weak labels "
        "are clearly more accurate on detected overlap than elsewhere (one-sided Fisher exact "
        "test).",
    )
    add_pool_options(p)
    p.add_argument(
        "--gold",
        required=True,
        help="gold class index per point (.npy/.csv, one column); -1, NaN or empty = no gold label",
    )
    p.add_argument("--sources", help="optional source name per point (.csv/.txt one column, or .npy)")
    p.add_argument("--scorer", default=None, help="overlap scorer (default: the library default)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument(
        "--min-gap",
        type=float,
        default=0.10,
        dest="min_gap",
        help="smallest accuracy gap worth acting on (default 0.10)",
    )
    p.add_argument(
        "--strong-model",
        dest="strong_model",
        choices=STRONG_MODELS,
        default="logistic",
        help="strong model trained on the weak labels, on the standardized embeddings (default logistic)",
    )
    p.add_argument(
        "--folds",
        type=count("--folds", minimum=2),
        default=5,
        help="cross-fitting folds over the gold items (default 5)",
    )
    p.add_argument(
        "--max-train",
        dest="max_train",
        type=count("--max-train"),
        default=4000,
        help="subsample each policy's training set to at most this many points (default 4000)",
    )
    add_seed_option(p, "seeds detection, the cross-fitting folds and the subsampling (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--strict", action="store_true", help="exit with status 1 unless the verdict is informative"
    )
    p.set_defaults(func=cmd_diagnose)


def _add_report(subparsers) -> None:
    from w2s_plugin.cli import count

    from .commands import add_seed_option

    p = subparsers.add_parser(
        "report", help="rerun the experiments and rewrite docs/results.md with PNG plots"
    )
    p.add_argument(
        "--docs", default="docs", help="docs directory to write results.md and img/ into (default docs)"
    )
    p.add_argument(
        "--small", action="store_true", help="reduced sizes (as in the tests): a quick look, not the report"
    )
    p.add_argument("--only", help="comma-separated experiments (default: all)")
    p.add_argument("--jobs", type=count("--jobs"), default=2, help="worker processes (default 2)")
    add_seed_option(p, "first seed of the experiments (default 0)")
    p.add_argument("--save-results", dest="save_results", help="also pickle the raw results to this file")
    p.add_argument(
        "--from-results",
        dest="from_results",
        help="rewrite the report from a pickle saved by --save-results, without rerunning "
        "(trusted files only)",
    )
    p.set_defaults(func=cmd_report)
