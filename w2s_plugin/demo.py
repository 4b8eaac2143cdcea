"""The offline demo: detection and weak-to-strong training on the paper's mixture, with ground truth.

Kept as functions returning numbers so the tests assert exactly what the demo prints.
"""

from __future__ import annotations

import numpy as np

from .datasets import make_overlap_mixture
from .detector import DEFAULT_SCORER, Region, detect_overlap
from .validation import check_random_state

REGION_ORDER = (Region.OVERLAP, Region.EASY_ONLY, Region.HARD_ONLY)


def region_scores(true_regions, found_regions) -> dict:
    """Precision, recall and F1 of each region, and how many points truly hold it."""
    t = np.asarray(true_regions)
    f = np.asarray(found_regions)
    out = {}
    for r in Region:
        tp = int(np.sum((t == r) & (f == r)))
        fp = int(np.sum((t != r) & (f == r)))
        fn = int(np.sum((t == r) & (f != r)))
        p = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
        out[r] = {"precision": p, "recall": rc, "f1": f1, "support": int(np.sum(t == r))}
    return out


def w2s_accuracy(X_train, y_weak, test, C: float = 0.01) -> dict:
    """A strong logistic regression (the paper's C = 0.01) trained on weak labels; test accuracy overall
    and on hard-only test points."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y_weak)) < 2:
        return {"all": float("nan"), "hard_only": float("nan")}
    model = LogisticRegression(C=C, max_iter=2000).fit(X_train, y_weak)
    pred = model.predict(test.X)
    hard = test.regions == Region.HARD_ONLY
    return {"all": float(np.mean(pred == test.y)), "hard_only": float(np.mean(pred[hard] == test.y[hard]))}


def detection_run(
    n_per_region: int = 1000,
    seed: int = 0,
    scorer: str = DEFAULT_SCORER,
    absent: str = "zero",
    noise: float = 5.0,
    n_classes: int = 2,
) -> dict:
    """One seed of the demo: detection quality and strong-model accuracy, overlap-selected vs random."""
    from sklearn.linear_model import LogisticRegression

    n = n_per_region
    pool = make_overlap_mixture(n, n, n, noise=noise, absent=absent, n_classes=n_classes, random_state=seed)
    weak_train = pool.sample(n, n, n, random_state=seed + 10_000)
    test = pool.sample(n, n, n, random_state=seed + 20_000)
    weak = LogisticRegression(max_iter=2000).fit(weak_train.weak_view(), weak_train.y)
    proba = weak.predict_proba(pool.weak_view())
    report = detect_overlap(proba, pool.X, scorer=scorer, random_state=seed)
    y_weak = proba.argmax(axis=1)
    chosen = report.indices(Region.OVERLAP)
    rng = check_random_state(seed)
    rand = rng.choice(len(pool.y), size=max(chosen.size, 2), replace=False)
    weak_test = weak.predict(test.weak_view())
    hard = test.regions == Region.HARD_ONLY
    return {
        "seed": seed,
        "scorer": scorer,
        "report": report,
        "pool": pool,
        "detection": region_scores(pool.regions, report.regions),
        "n_selected": int(chosen.size),
        "weak_label_acc_overlap": float(np.mean(y_weak[chosen] == pool.y[chosen]))
        if chosen.size
        else float("nan"),
        "weak_label_acc_rest": float(
            np.mean(y_weak[report.regions != Region.OVERLAP] == pool.y[report.regions != Region.OVERLAP])
        ),
        "weak_test": {
            "all": float(np.mean(weak_test == test.y)),
            "hard_only": float(np.mean(weak_test[hard] == test.y[hard])),
        },
        "w2s_overlap": w2s_accuracy(pool.X[chosen], y_weak[chosen], test) if chosen.size >= 2 else None,
        "w2s_random": w2s_accuracy(pool.X[rand], y_weak[rand], test),
    }


def detection_demo(seeds=range(5), n_per_region: int = 1000, scorer: str = DEFAULT_SCORER) -> dict:
    """Several seeds of :func:`detection_run`, averaged."""
    runs = [detection_run(n_per_region, s, scorer) for s in seeds]
    det = {
        r: {
            k: float(np.mean([run["detection"][r][k] for run in runs])) for k in ("precision", "recall", "f1")
        }
        for r in Region
    }

    def mean(path):
        vals = []
        for run in runs:
            v = run
            for p in path:
                v = v[p] if v is not None else None
            if v is not None:
                vals.append(v)
        return float(np.mean(vals)) if vals else float("nan")

    return {
        "runs": runs,
        "detection": det,
        "n_selected": mean(["n_selected"]),
        "weak_label_acc_overlap": mean(["weak_label_acc_overlap"]),
        "weak_label_acc_rest": mean(["weak_label_acc_rest"]),
        "weak_test": {k: mean(["weak_test", k]) for k in ("all", "hard_only")},
        "w2s_overlap": {k: mean(["w2s_overlap", k]) for k in ("all", "hard_only")},
        "w2s_random": {k: mean(["w2s_random", k]) for k in ("all", "hard_only")},
    }


def format_detection_demo(res: dict) -> str:
    lines = [
        "Detection against ground truth (paper's mixture, mean over seeds)",
        f"{'region':<10} {'precision':>9} {'recall':>7} {'F1':>6}",
    ]
    for r in REGION_ORDER:
        d = res["detection"][r]
        lines.append(f"{r.name.lower():<10} {d['precision']:>9.3f} {d['recall']:>7.3f} {d['f1']:>6.3f}")
    lines += [
        "",
        f"weak-label accuracy on detected overlap points: {res['weak_label_acc_overlap']:.3f}"
        f"  (elsewhere: {res['weak_label_acc_rest']:.3f})",
        "",
        "Strong model (logistic regression, C=0.01) trained on weak labels of the detected-overlap points",
        f"({res['n_selected']:.0f} on average over {len(res['runs'])} seeds) or of as many random points; "
        "test accuracy:",
        f"{'training data':<28} {'test acc':>9} {'hard-only acc':>14}",
        *(
            f"{label:<28} {res[key]['all']:>9.3f} {res[key]['hard_only']:>14.3f}"
            for label, key in (
                ("weak model itself", "weak_test"),
                ("detected-overlap points", "w2s_overlap"),
                ("random points (same number)", "w2s_random"),
            )
        ),
        "",
        "On hard-only points the weak model is at chance, and so is a strong model trained on its labels",
        "of random points (it learns to copy the weak model); trained on overlap points, it learns the",
        "hard pattern from correctly labelled examples and carries it over: weak-to-strong generalization.",
    ]
    return "\n".join(lines)


def plot_detection_demo(res: dict, path=None):
    """One figure a person can read without the console: what each panel shows is in its title, the
    chance line is labelled, the legends count detected points beside the true ones, and the box
    gives the plotted seed's precision/recall next to the mean over seeds the console prints."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = res["runs"][0]
    n_seeds = len(res["runs"])
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), gridspec_kw={"width_ratios": [1, 1, 1.15]})
    pool, report = run["pool"], run["report"]
    report.plot(ax=axes[:2], truth=pool.regions)
    ov, mean = run["detection"][Region.OVERLAP], res["detection"][Region.OVERLAP]
    axes[1].text(
        0.98,
        0.04,
        f"overlap, seed {run['seed']} (plotted): precision {ov['precision']:.3f}, recall {ov['recall']:.3f}\n"
        f"overlap, mean of {n_seeds} seeds (printed): precision {mean['precision']:.3f}, "
        f"recall {mean['recall']:.3f}",
        transform=axes[1].transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
        bbox={"boxstyle": "round", "fc": "white", "ec": "0.7"},
    )
    fig.suptitle(
        f"Left, middle: how the detector splits one pool (seed {run['seed']}, {len(pool.y)} points, "
        "a third each easy-only, hard-only, overlap).   Right: what training on the detected "
        f"overlap points buys (mean of {n_seeds} seeds).",
        fontsize=10,
    )
    ax = axes[2]
    labels = [
        "weak model\nitself",
        "strong model on\nweak labels of\ndetected overlap",
        "strong model on\nweak labels of as\nmany random points",
    ]
    keys = ["weak_test", "w2s_overlap", "w2s_random"]
    allv = [res[k]["all"] for k in keys]
    hard = [res[k]["hard_only"] for k in keys]
    x = np.arange(3)
    bars_all = ax.bar(x - 0.2, allv, 0.4, label="all test points", color="#1f77b4")
    bars_hard = ax.bar(x + 0.2, hard, 0.4, label="hard-only test points", color="#ff7f0e")
    for bars in (bars_all, bars_hard):
        ax.bar_label(bars, fmt="%.2f", fontsize=8, padding=2)
    ax.set_xticks(x, labels, fontsize=8)
    n_classes = pool.centers.shape[0]
    ax.set_ylim(min(0.4, 1 / n_classes - 0.05), 1.02)
    ax.axhline(1 / n_classes, color="grey", lw=1, ls=":", label=f"chance ({n_classes} classes)")
    ax.set(title=f"test accuracy, mean of {n_seeds} seeds", ylabel="accuracy")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    if path is None:  # the caller (a test, a notebook) gets the figure to look at
        return fig
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
