"""Trust diagnostics on synthetic data where the answer is known both ways.

Three cases on the paper's mixture (binary, noise variance 5, equal thirds, ``n`` points with gold
labels): the weak model's real probabilities (*informative*), the same weak labels with a random
confidence in [0.5, 1] (the confidence carries no information; the labels are as good as before),
probabilities shuffled across points, and random (Dirichlet) probabilities.
:func:`w2s_plugin.diagnostics.diagnose` should say ``informative`` for the first and ``not
informative`` for the last two. The second case is the subtle one: the confidence is noise, so
hard-only detection is random, yet the points that line up with a random sample's principal
directions are the ones far out along the class axis, whose weak labels *are* more accurate.
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.datasets import make_overlap_mixture
from w2s_plugin.detector import Region
from w2s_plugin.diagnostics import diagnose

from ._common import fmt, md_table, mean_ci, run_main, run_seeds

TITLE = "Trust diagnostics: does overlap density look informative here?"
CASES = (
    "real probabilities",
    "random confidence, same labels",
    "probabilities shuffled",
    "random probabilities",
)


def case_proba(case: str, proba: np.ndarray, rng) -> np.ndarray:
    if case == CASES[0]:
        return proba
    if case == CASES[3]:
        return rng.dirichlet(np.ones(proba.shape[1]), size=proba.shape[0])
    if case == CASES[1]:
        lab = proba.argmax(axis=1)
        c = rng.uniform(0.5, 1.0, size=lab.size)
        return np.column_stack([np.where(lab == 0, c, 1 - c), np.where(lab == 1, c, 1 - c)])
    return proba[rng.permutation(proba.shape[0])]


def one_seed(seed: int, n_per_region: int = 1000) -> dict:
    from sklearn.linear_model import LogisticRegression

    pool = make_overlap_mixture(n_per_region, n_per_region, n_per_region, random_state=seed)
    train = pool.sample(500, 500, 500, random_state=seed + 1)
    weak = LogisticRegression(max_iter=1000).fit(train.weak_view(), train.y)
    proba = weak.predict_proba(pool.weak_view())
    rng = np.random.default_rng(seed)
    out = {}
    for case in CASES:
        rep = diagnose(case_proba(case, proba, rng), pool.X, pool.y, random_state=seed, policies=False)
        out[case] = {
            "verdict": rep.verdict,
            "gap": rep.gap,
            "gap_ci": rep.gap_ci,
            "p": rep.p_value,
            "acc_overlap": rep.regions[Region.OVERLAP].accuracy,
            "acc_rest": rep.rest.accuracy,
        }
    return out


def run(size: str = "full", seed: int = 0, progress: bool = True) -> dict:
    return run_seeds(one_seed, size, seed, 10, 3, "trust diagnostics", progress)


def markdown(res: dict, img_dir=None, img_prefix=None) -> str:
    rows = []
    for case in CASES:
        v = [r[case]["verdict"] for r in res["runs"]]
        rows.append(
            [
                case,
                fmt(*mean_ci([r[case]["acc_overlap"] for r in res["runs"]])),
                fmt(*mean_ci([r[case]["acc_rest"] for r in res["runs"]])),
                fmt(*mean_ci([r[case]["gap"] for r in res["runs"]])),
                ", ".join(
                    f"{x}: {v.count(x)}"
                    for x in ("informative", "not informative", "inconclusive")
                    if v.count(x)
                ),
            ]
        )
    return "\n".join(
        [
            f"## 5. {TITLE}",
            "",
            "`w2s diagnose` / `w2s_plugin.diagnostics.diagnose` (see docs/diagnostics.md) on the paper's "
            "mixture, 3000 "
            f"gold-labelled points, {res['seeds']} seeds. Test: one-sided Fisher exact test that weak labels "
            "are more "
            "accurate on detected overlap than elsewhere; *informative* needs p < 0.05 and a gap of at least "
            "10 points; "
            "*not informative* needs the gap's 95% Newcombe interval to exclude 10 points (or a significant "
            "negative gap).",
            "",
            md_table(
                [
                    "weak model's probabilities",
                    "weak acc on detected overlap",
                    "weak acc elsewhere",
                    "gap",
                    "verdicts over seeds",
                ],
                rows,
            ),
        ]
    )


def main(argv=None) -> int:
    import sys

    return run_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
