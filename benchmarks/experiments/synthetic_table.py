"""The paper's synthetic table: w2s accuracy (overall and on hard-only points) against overlap ratio.

Protocol (docs/method.md, "The paper's synthetic experiment", as the reference notebook runs it).
Per repetition the class means ``+/-theta`` (``theta ~ U[0,1]^40``, 20 easy + 20 hard dims, noise
variance 5) are drawn once; for each overlap count ``m`` in 10..50 three independent sets of 100
easy-only, 100 hard-only and ``m`` overlap points are drawn (overlap ratio ``m / (200 + m)`` =
.048 ... .200):

* *train*: the weak model (logistic regression, default C, hard dims zeroed) and the strong
  ceiling (logistic regression on all dims) are fit on its **true** labels;
* *pseudo*: the weak model labels it; the W2S model (logistic regression, C = 0.01) is fit on
  those weak labels;
* *test*: every model is scored on all of it and on its hard-only points.

The paper's W2S model is fit on the weak labels of the pseudo set's **overlap points only**
(``w2s`` below). Two variants are reported beside it: ``w2s_all`` fits on the whole pseudo set
(the overlap-density reading: more overlap in the same training set), and ``w2s_detected`` fits on
the pseudo points *our detector* calls overlap (no ground truth used), i.e. the library end to end.
"""

from __future__ import annotations

import warnings

import numpy as np

from w2s_plugin.datasets import make_overlap_mixture
from w2s_plugin.detector import DEFAULT_SCORER, Region, W2SWarning, detect_overlap
from w2s_plugin.progress import progress as _progress

from ._common import check_size, fmt, md_table, mean_ci, pyplot, run_main, save

TITLE = "Synthetic table: w2s accuracy against overlap ratio"
OVERLAP_COUNTS = (10, 20, 30, 40, 50)

#: The paper's reported means (docs/method.md, "The paper's synthetic experiment"), by overlap count.
PAPER = {
    10: {"ratio": 0.048, "weak": 0.668, "strong": 0.824, "w2s": 0.584, "w2s_hard": 0.562},
    20: {"ratio": 0.091, "weak": 0.679, "strong": 0.830, "w2s": 0.670, "w2s_hard": 0.624},
    30: {"ratio": 0.130, "weak": 0.686, "strong": 0.835, "w2s": 0.729, "w2s_hard": 0.669},
    40: {"ratio": 0.167, "weak": 0.694, "strong": 0.840, "w2s": 0.764, "w2s_hard": 0.700},
    50: {"ratio": 0.200, "weak": 0.700, "strong": 0.844, "w2s": 0.779, "w2s_hard": 0.712},
}
METRICS = (
    "weak",
    "weak_hard",
    "strong",
    "w2s",
    "w2s_hard",
    "w2s_all",
    "w2s_all_hard",
    "w2s_detected",
    "w2s_detected_hard",
    "n_detected",
    "w2s_random",
    "w2s_random_hard",
    "w2s_confident",
    "w2s_confident_hard",
)


def _fit_score(X, y, C, test, hard):
    from sklearn.linear_model import LogisticRegression

    if np.unique(y).size < 2:  # a single weak label: the model predicts it everywhere
        pred = np.full(test.y.shape, y[0] if y.size else 0)
    else:
        pred = LogisticRegression(C=C, max_iter=1000).fit(X, y).predict(test.X)
    return float(np.mean(pred == test.y)), float(np.mean(pred[hard] == test.y[hard]))


def one_repetition(
    seed: int, n_easy: int = 100, n_hard: int = 100, overlap_counts=OVERLAP_COUNTS, detect: bool = True
) -> dict:
    """One repetition: every overlap count on one draw of ``theta``. Returns ``{m: {metric: value}}``."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    base = make_overlap_mixture(1, 0, 0, random_state=rng)  # draws theta only
    out = {}
    for m in overlap_counts:
        train = base.sample(n_easy, n_hard, m, random_state=rng)
        pseudo = base.sample(n_easy, n_hard, m, random_state=rng)
        test = base.sample(n_easy, n_hard, m, random_state=rng)
        hard = test.regions == Region.HARD_ONLY
        weak = LogisticRegression(max_iter=1000).fit(train.weak_view(), train.y)
        wpred = weak.predict(test.weak_view())
        r = {
            "weak": float(np.mean(wpred == test.y)),
            "weak_hard": float(np.mean(wpred[hard] == test.y[hard])),
        }
        r["strong"], _ = _fit_score(train.X, train.y, 1.0, test, hard)
        proba = weak.predict_proba(pseudo.weak_view())
        y_weak = proba.argmax(axis=1)
        ov = pseudo.regions == Region.OVERLAP
        r["w2s"], r["w2s_hard"] = _fit_score(pseudo.X[ov], y_weak[ov], 0.01, test, hard)
        r["w2s_all"], r["w2s_all_hard"] = _fit_score(pseudo.X, y_weak, 0.01, test, hard)
        # Control: m random pseudo points (own generator, so every other draw stays as before).
        rnd = np.random.default_rng([seed, m]).choice(y_weak.size, size=int(ov.sum()), replace=False)
        r["w2s_random"], r["w2s_random_hard"] = _fit_score(pseudo.X[rnd], y_weak[rnd], 0.01, test, hard)
        if detect:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", W2SWarning)
                regions = detect_overlap(proba, pseudo.X, random_state=seed).regions
            det = regions == Region.OVERLAP
            conf = regions != Region.HARD_ONLY
            r["w2s_confident"], r["w2s_confident_hard"] = _fit_score(
                pseudo.X[conf], y_weak[conf], 0.01, test, hard
            )
            r["n_detected"] = int(det.sum())
            if det.sum() >= 1:
                r["w2s_detected"], r["w2s_detected_hard"] = _fit_score(
                    pseudo.X[det], y_weak[det], 0.01, test, hard
                )
            else:
                r["w2s_detected"] = r["w2s_detected_hard"] = float("nan")
        out[m] = r
    return out


def run(size: str = "full", seed: int = 0, progress: bool = True, repetitions: int | None = None) -> dict:
    """All repetitions; ``full`` = 200 (the paper: 500), ``small`` = 30."""
    check_size(size)
    reps = repetitions or (200 if size == "full" else 30)
    per = {m: {k: [] for k in METRICS} for m in OVERLAP_COUNTS}
    bar = _progress(total=reps, desc="synthetic table", disable=not progress, unit="rep")
    for i in range(reps):
        res = one_repetition(seed * 100_003 + i)
        for m, r in res.items():
            for k in METRICS:
                per[m][k].append(r.get(k, float("nan")))
        bar.update(1)
    bar.close()
    summary = {m: {k: mean_ci(v) for k, v in d.items()} for m, d in per.items()}
    # Paired per-repetition gains: more overlap (50 vs 10) and overlap-only vs whole set.
    gain_hard = np.asarray(per[50]["w2s_hard"]) - np.asarray(per[10]["w2s_hard"])
    return {
        "size": size,
        "repetitions": reps,
        "per_rep": per,
        "summary": summary,
        "gain_hard_50_vs_10": mean_ci(gain_hard),
        "slope_w2s_hard": float(
            np.polyfit(
                [m / (200 + m) for m in OVERLAP_COUNTS],
                [summary[m]["w2s_hard"][0] for m in OVERLAP_COUNTS],
                1,
            )[0]
        ),
    }


def plot(res: dict, img_dir) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    ratios = [m / (200 + m) for m in OVERLAP_COUNTS]
    s = res["summary"]
    for ax, suffix, title in ((axes[0], "", "all test points"), (axes[1], "_hard", "hard-only test points")):
        series = [
            ("weak" + ("_hard" if suffix else ""), "weak model", "tab:gray", "-"),
            ("w2s" + suffix, "w2s: true overlap points (paper)", "tab:green", "-"),
            ("w2s_detected" + suffix, "w2s: detected overlap points", "tab:olive", "--"),
            ("w2s_all" + suffix, "w2s: whole pseudo set", "tab:blue", "-."),
        ]
        if not suffix:
            series.insert(1, ("strong", "strong (true labels)", "black", ":"))
        for key, label, color, ls in series:
            m = np.array([s[c][key][0] for c in OVERLAP_COUNTS])
            h = np.array([s[c][key][1] for c in OVERLAP_COUNTS])
            ax.plot(ratios, m, ls, color=color, marker="o", ms=4, label=label)
            ax.fill_between(ratios, m - h, m + h, color=color, alpha=0.15)
        pkey = "w2s_hard" if suffix else "w2s"
        ax.plot(
            ratios,
            [PAPER[c][pkey] for c in OVERLAP_COUNTS],
            "x",
            color="tab:red",
            ms=9,
            mew=2,
            label="paper's w2s (reference)",
        )
        if not suffix:
            ax.plot(
                ratios,
                [PAPER[c]["weak"] for c in OVERLAP_COUNTS],
                "+",
                color="tab:gray",
                ms=10,
                mew=2,
                label="paper's weak",
            )
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set(title=f"accuracy on {title}", xlabel="overlap ratio of each set  m / (200 + m)")
        ax.legend(loc="lower right")
    axes[0].set_ylabel(f"test accuracy (mean ± 95% CI, {res['repetitions']} reps)")
    return save(fig, img_dir, "synthetic_table.png")


_HEADER = [
    "overlap ratio",
    "weak acc",
    "strong (true labels)",
    "w2s acc",
    "w2s acc hard-only",
    "weak acc hard-only",
    "w2s detected",
    "w2s detected hard-only",
    "w2s whole set (all)",
    "w2s whole set hard-only",
    "w2s random (m points)",
    "w2s random hard-only",
    "w2s confident (detected, not hard-only)",
    "w2s confident hard-only",
]
#: Columns with the paper's value next to ours, then columns of ours alone.
_WITH_PAPER = ("weak", "strong", "w2s", "w2s_hard")
_OURS = (
    "weak_hard",
    "w2s_detected",
    "w2s_detected_hard",
    "w2s_all",
    "w2s_all_hard",
    "w2s_random",
    "w2s_random_hard",
    "w2s_confident",
    "w2s_confident_hard",
)


def _rows(s) -> list:
    return [
        [f"{m / (200 + m):.3f}"]
        + [f"{PAPER[m][k]:.3f} / {fmt(*s[m][k])}" for k in _WITH_PAPER]
        + [fmt(*s[m][k]) for k in _OURS]
        for m in OVERLAP_COUNTS
    ]


def _differences(res) -> str:
    s = res["summary"]
    d = {k: max(abs(s[m][k][0] - PAPER[m][k]) for m in OVERLAP_COUNTS) for k in _WITH_PAPER}
    g, gh = res["gain_hard_50_vs_10"]
    return (
        "**Differences from the paper.** Largest gap between the paper's mean and ours over the five ratios: "
        f"weak {d['weak']:.3f}, strong {d['strong']:.3f}, w2s {d['w2s']:.3f}, w2s hard-only "
        f"{d['w2s_hard']:.3f}. "
        f"The w2s accuracy on hard-only points rises with the overlap ratio as in the paper (paired gain "
        f"from ratio .048 to .200: {fmt(g, gh)}; least-squares slope {res['slope_w2s_hard']:.2f} accuracy "
        "per "
        "unit ratio), while the weak model stays near chance there. Remaining differences come from the "
        "random draws (the reference fixes no seed) and the solver (scikit-learn's current lbfgs)."
    )


def _does_and_does_not(s) -> str:
    lo, hi = s[10]["w2s_all_hard"][0], s[50]["w2s_all_hard"][0]
    return (
        "**What the table does and does not show.** In this protocol the W2S model sees *only* overlap "
        "points, so a higher ratio also means *more* training points (10 → 50): the rise mixes overlap "
        "density with sample size. The `w2s whole set` columns fit on all 200 + m pseudo points instead, "
        f"where only the share of overlap changes: hard-only accuracy moves from {lo:.3f} to {hi:.3f}, "
        "a much smaller effect, because 100 easy-only points with correct weak labels but no hard pattern "
        "and 100 hard-only points with coin-flip labels dominate the set. The `w2s detected` columns "
        f"replace the ground-truth overlap set with the points our detector (default `{DEFAULT_SCORER}` "
        "scorer) "
        "calls overlap in the pseudo set, with no ground truth. The `w2s random` columns fit on m random "
        "pseudo "
        "points (the same number as the overlap set): the control that separates *which* points from *how "
        "many*; the `w2s confident` columns on every pseudo point the detector does not call hard-only. At "
        "ratio "
        f".200: true overlap {s[50]['w2s'][0]:.3f}, detected overlap {s[50]['w2s_detected'][0]:.3f}, "
        "confident "
        f"{s[50]['w2s_confident'][0]:.3f}, random {s[50]['w2s_random'][0]:.3f}, all "
        f"{s[50]['w2s_all'][0]:.3f}; at "
        f".048: {s[10]['w2s'][0]:.3f}, {s[10]['w2s_detected'][0]:.3f}, {s[10]['w2s_confident'][0]:.3f}, "
        f"{s[10]['w2s_random'][0]:.3f}, {s[10]['w2s_all'][0]:.3f}. Here, where hard-only weak labels are "
        "coin "
        "flips, dropping them is what pays; keeping only detected overlap among the rest is "
        + (
            "no better than keeping all of the rest (`confident`) at either end."
            if all(s[m]["w2s_confident"][0] >= s[m]["w2s_detected"][0] for m in (10, 50))
            else "better than keeping all of the rest (`confident`) at one end at least."
        )
    )


def markdown(res: dict, img_dir="docs/img", img_prefix="img") -> str:
    path = plot(res, img_dir)
    text = [
        f"## 1. {TITLE}",
        "",
        f"{res['repetitions']} repetitions (the paper: 500); each cell is *paper / ours* (mean ± 95% CI over "
        "repetitions). Protocol in `benchmarks/experiments/synthetic_table.py`: per repetition one "
        "`theta`, then for each overlap count m = 10..50 three independent sets of 100 easy-only, 100 "
        "hard-only and m overlap points (train: weak and strong models on true labels; pseudo: weak labels; "
        "test). The W2S model is logistic regression (C = 0.01) fit on the weak labels of the pseudo set's "
        "overlap points, as in the reference notebook.",
        "",
        md_table(_HEADER, _rows(res["summary"])),
        "",
        f"![synthetic table]({img_prefix}/{path.split('/')[-1]})",
        "",
        _differences(res),
        "",
        _does_and_does_not(res["summary"]),
    ]
    return "\n".join(text)


def main(argv=None) -> int:
    import sys

    return run_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
