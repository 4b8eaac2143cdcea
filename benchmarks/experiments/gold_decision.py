"""Does ``diagnose`` weigh the gold labels right? Real data, a weak labeler independent of the gold.

Per dataset and seed: 30% of the items are the *test* split (only for measuring); 300 other items
with true labels train the *weak* model (a logistic regression on a weak feature view, see
:mod:`.real_data`; letters: the bounding box, 4 of 16 features), a separate labelled split, so the
weak labels are independent of the gold; the pool is the rest (at most ``POOL`` items), and 300
pool items form the gold sample. :func:`w2s_plugin.diagnostics.diagnose` recommends one of the
seven candidates (``gold``, ``all``, ``confident``, ``overlap``, ``gold+all``, ``gold+confident``,
``gold+overlap``); the strong model (logistic regression on the standardized full features) is
trained on every candidate's full training set (``gold+`` at the weak-label weight diagnose chose)
and scored on the test split. The *loss* of the recommendation is the best candidate's test
accuracy minus the recommended one's.

    python -m benchmarks.experiments.gold_decision [--seeds 8] [--datasets satellite,letter,...]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from w2s_plugin.detector import OverlapDetector, Region
from w2s_plugin.diagnostics import RECOMMENDABLE, diagnose, make_strong_model

DATASETS = ("satellite", "letter", "spam", "dna", "digits")
POOL = 4000
N_WEAK, N_GOLD = 300, 300


def load(name: str):
    """(X, y as 0..k-1, weak view) of one packaged dataset."""
    from sklearn.preprocessing import LabelEncoder

    if name == "letter":
        from .rdata import load_data_frame

        X, y, _ = load_data_frame("mlbench", "LetterRecognition")
        return np.asarray(X, dtype=np.float64), LabelEncoder().fit_transform(y), (lambda A: A[:, :4])
    from .real_data import _load

    X, y, view, _ = _load(name)
    return X, y, view


def one_seed(dataset: str, seed: int, data=None, pool_size: int = POOL) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, view = data if data is not None else load(dataset)
    idx = np.arange(y.size)
    rest, test = train_test_split(idx, test_size=0.3, random_state=seed, stratify=y)
    wtrain, pool = train_test_split(rest, train_size=N_WEAK, random_state=seed, stratify=y[rest])
    if pool.size > pool_size:
        pool = np.random.default_rng(seed).choice(pool, pool_size, replace=False)
    weak_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        view(X[wtrain]), y[wtrain]
    )
    k = int(y.max()) + 1
    P = np.zeros((pool.size, k))
    P[:, weak_model.classes_] = weak_model.predict_proba(view(X[pool]))  # columns = class indices
    scaler = StandardScaler().fit(X[pool])
    E, E_test, y_test, yp = scaler.transform(X[pool]), scaler.transform(X[test]), y[test], y[pool]
    rng = np.random.default_rng(seed)
    gi = rng.choice(pool.size, N_GOLD, replace=False)
    gold = np.full(pool.size, -1)
    gold[gi] = yp[gi]
    rep = diagnose(P, E, gold, detector=OverlapDetector(random_state=seed), random_state=seed)
    dec = rep.decision
    weak, reg, lab = P.argmax(1), rep.region_labels, gold >= 0
    masks = {
        "all": np.ones(pool.size, bool),
        "confident": reg != int(Region.HARD_ONLY),
        "overlap": reg == int(Region.OVERLAP),
    }
    truth = {}
    for name in RECOMMENDABLE:
        if name == "gold":
            Xt, yt, sw = E[lab], yp[lab], None
        elif name in masks:
            Xt, yt, sw = E[masks[name]], weak[masks[name]], None
        else:
            m = masks[name[5:]] & ~lab
            w = dec.policies[name].weak_weight
            Xt = np.concatenate([E[lab], E[m]])
            yt = np.concatenate([yp[lab], weak[m]])
            sw = np.concatenate([np.ones(lab.sum()), np.full(m.sum(), w)])
        est = make_strong_model()
        kw = {} if sw is None else {"logisticregression__sample_weight": sw}
        truth[name] = float(est.fit(Xt, yt, **kw).score(E_test, y_test)) if np.unique(yt).size > 1 else 0.0
    best = max(truth.values())
    return {
        "dataset": dataset,
        "seed": seed,
        "recommendation": dec.recommendation,
        "truth": truth,
        "estimates": {n: p.accuracy for n, p in dec.policies.items()},
        "weights": {n: p.weak_weight for n, p in dec.policies.items()},
        "loss": best - truth[dec.recommendation],
        "weak_acc": float(np.mean(weak == yp)),
        "verdict": rep.verdict,
        "first_line": rep.summary().splitlines()[0],
    }


def run(seeds: int = 8, datasets=DATASETS, progress: bool = True) -> list:
    out = []
    for d in datasets:
        data = load(d)
        for s in range(seeds):
            r = one_seed(d, s, data)
            out.append(r)
            if progress:
                print(
                    json.dumps({k: r[k] for k in ("dataset", "seed", "recommendation", "loss")}), flush=True
                )
    return out


def table(runs: list) -> str:
    """The per-dataset markdown table: test accuracy of each candidate, what was recommended, loss."""
    from ._common import mean_ci

    head = ["dataset", "weak acc"] + list(RECOMMENDABLE) + ["recommended (count)", "loss, points mean", "max"]
    rows = []
    for d in dict.fromkeys(r["dataset"] for r in runs):
        rs = [r for r in runs if r["dataset"] == d]
        recs = {}
        for r in rs:
            recs[r["recommendation"]] = recs.get(r["recommendation"], 0) + 1
        loss = [100 * r["loss"] for r in rs]
        m, h = mean_ci(loss)
        rows.append(
            [f"{d} ({len(rs)} seeds)", f"{np.mean([r['weak_acc'] for r in rs]):.3f}"]
            + [f"{np.mean([r['truth'][c] for r in rs]):.3f}" for c in RECOMMENDABLE]
            + [
                ", ".join(f"{k} {v}" for k, v in sorted(recs.items(), key=lambda kv: -kv[1])),
                f"{m:.2f} ± {h:.2f}",
                f"{max(loss):.2f}",
            ]
        )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--save", help="write the raw runs as JSON here")
    args = ap.parse_args(argv)
    runs = run(args.seeds, [d.strip() for d in args.datasets.split(",")])
    if args.save:
        with open(args.save, "w") as fh:
            json.dump(runs, fh, indent=1)
    print(table(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
