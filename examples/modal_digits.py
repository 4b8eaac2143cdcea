"""Active learning on scikit-learn's bundled digits, with overlap density as the query strategy.

The *weak* learner sees 2x2-pooled 4x4 images; the *strong* representation is the full 8x8
image. Two settings, each a curve per strategy (``overlap``, ``hard_only``, modAL's
``uncertainty_sampling``, ``random``), averaged over seeds:

A. human labels (classic active learning): each round the modAL ``ActiveLearner`` queries
   ``batch`` points, an oracle labels them, the learner is taught. Curves: the weak learner's
   test accuracy, and that of a strong model (logistic regression on 8x8) trained on the same
   labelled set.
B. weak labels (weak-to-strong): the weak learner stays fixed (seed set only); each round the
   strategy picks ``batch`` points that get the *weak learner's* labels, and the strong model is
   trained on the seed set plus those weak-labelled points. This is what overlap density is for.

Run from a checkout: ``python examples/modal_digits.py [--out digits_curves.png]``.

The same strategy works with a modAL ``Committee``; pass ``n_instances`` by keyword there
(``Committee.query(X, 3)`` binds 3 to ``return_metrics`` and returns one row)::

    committee = Committee(learner_list=[ActiveLearner(LogisticRegression(), X_training=..., y_training=...)
                                        for _ in range(3)], query_strategy=overlap_sampling)
    idx, X = committee.query(X4_pool, n_instances=20, embeddings=X8_pool)
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

STRATEGIES = ("overlap", "hard_only", "uncertainty_sampling", "random")


def load(random_state=0, test_size=0.3):
    """``(X4_pool, X8_pool, y_pool, X4_test, X8_test, y_test)``: weak 4x4 and strong 8x8 views."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X8 = d.data / 16.0
    X4 = X8.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    idx_pool, idx_test = train_test_split(
        np.arange(len(d.target)), test_size=test_size, stratify=d.target, random_state=random_state
    )
    return X4[idx_pool], X8[idx_pool], d.target[idx_pool], X4[idx_test], X8[idx_test], d.target[idx_test]


def _logreg():
    from sklearn.linear_model import LogisticRegression

    # C=10: with the default C=1 the weights of a 30-point fit are so shrunk that the unpenalised
    # intercepts (class frequencies) decide, and adding class-skewed points lowers accuracy.
    return LogisticRegression(max_iter=2000, C=10.0)


def _seed_set(y, per_class, rng):
    return np.concatenate(
        [rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)]
    )


def _pick(strategy, learner, X4, X8, n, rng):
    from modAL.uncertainty import uncertainty_sampling

    from w2s_plugin.integrations.modal import overlap_sampling

    if strategy == "random":
        return rng.choice(X4.shape[0], n, replace=False)
    if strategy == "uncertainty_sampling":
        return uncertainty_sampling(learner, X4, n_instances=n)[0]
    return overlap_sampling(learner, X4, n_instances=n, embeddings=X8, strategy=strategy)[0]


def run(rounds=10, batch=20, seeds=(0, 1, 2), per_class=3, strategies=STRATEGIES, progress=True):
    """Curves per setting and strategy:
    ``{"A_weak"|"A_strong"|"B_strong": {strategy: (rounds+1,) mean acc}}``, plus
    ``"B_weak_label_acc"`` (accuracy of the weak labels each strategy picked) and ``"labels"``."""
    import modAL.models  # noqa: F401  (load every BLAS library before limiting their threads)
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    # Hundreds of small fits: one BLAS thread is much faster than several (above all on a busy machine).
    with threadpool_limits(1):
        return _run(rounds, batch, seeds, per_class, strategies, progress)


def _run(rounds, batch, seeds, per_class, strategies, progress):
    from modAL.models import ActiveLearner

    warnings.simplefilter("ignore", FutureWarning)  # modAL passes force_all_finite to scikit-learn
    out = {k: {s: [] for s in strategies} for k in ("A_weak", "A_strong", "B_strong", "B_weak_label_acc")}
    X4p, X8p, yp, X4t, X8t, yt = load()
    for seed in seeds:
        rng0 = np.random.default_rng(seed)
        seed_idx = _seed_set(yp, per_class, rng0)
        for s in strategies:
            rng = np.random.default_rng([seed, 1])
            # A: human labels, the learner is taught each round.
            learner = ActiveLearner(_logreg(), X_training=X4p[seed_idx], y_training=yp[seed_idx])
            pool = np.setdiff1d(np.arange(len(yp)), seed_idx)
            labelled = list(seed_idx)
            weak_c, strong_c = [], []
            for r in range(rounds + 1):
                weak_c.append(learner.score(X4t, yt))
                strong_c.append(_logreg().fit(X8p[labelled], yp[labelled]).score(X8t, yt))
                if r == rounds:
                    break
                q = pool[_pick(s, learner, X4p[pool], X8p[pool], batch, rng)]
                learner.teach(X4p[q], yp[q])
                labelled += q.tolist()
                pool = np.setdiff1d(pool, q)
            out["A_weak"][s].append(weak_c)
            out["A_strong"][s].append(strong_c)
            # B: weak labels from a fixed weak learner.
            rng = np.random.default_rng([seed, 2])
            weak = ActiveLearner(_logreg(), X_training=X4p[seed_idx], y_training=yp[seed_idx])
            pool = np.setdiff1d(np.arange(len(yp)), seed_idx)
            Xs, ys = [X8p[seed_idx]], [yp[seed_idx]]
            curve, correct, picked = [], 0, 0
            for r in range(rounds + 1):
                curve.append(_logreg().fit(np.vstack(Xs), np.concatenate(ys)).score(X8t, yt))
                if r == rounds:
                    break
                q = pool[_pick(s, weak, X4p[pool], X8p[pool], batch, rng)]
                wl = weak.predict(X4p[q])
                correct += int((wl == yp[q]).sum())
                picked += q.size
                Xs.append(X8p[q])
                ys.append(wl)
                pool = np.setdiff1d(pool, q)
            out["B_strong"][s].append(curve)
            out["B_weak_label_acc"][s].append(correct / picked if picked else float("nan"))
            if progress:
                print(
                    f"  seed {seed} {s:<22} A strong {strong_c[-1]:.3f}  B strong {curve[-1]:.3f}", flush=True
                )
    res = {k: {s: np.mean(np.asarray(v, dtype=float), axis=0) for s, v in d.items()} for k, d in out.items()}
    res["labels"] = len(seed_idx) + batch * np.arange(rounds + 1)
    return res


def table(res) -> str:
    lines = [
        f"{'strategy':<22} {'A weak acc':>10} {'A strong acc':>12} {'B strong acc':>12} "
        f"{'B weak-label acc':>16}",
        f"{'(at the last round)':<22}",
    ]
    for s in res["A_weak"]:
        lines.append(
            f"{s:<22} {res['A_weak'][s][-1]:>10.3f} {res['A_strong'][s][-1]:>12.3f} "
            f"{res['B_strong'][s][-1]:>12.3f} {float(res['B_weak_label_acc'][s]):>16.3f}"
        )
    return "\n".join(lines)


def plot(res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharex=True)
    titles = {
        "A_weak": "A: weak learner (4x4), human labels",
        "A_strong": "A: strong model (8x8), human labels",
        "B_strong": "B: strong model (8x8), weak labels",
    }
    for ax, key in zip(axes, titles):
        for s, curve in res[key].items():
            ax.plot(res["labels"], curve, marker="o", ms=3, label=s)
        ax.set(title=titles[key], xlabel="labelled points (seed + queried)", ylabel="test accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return fig


def main(argv=None):
    from w2s_plugin.cli import count

    ap = argparse.ArgumentParser(description="overlap density vs uncertainty and random on digits (modAL)")
    ap.add_argument("--out", default="digits_curves.png")
    ap.add_argument("--rounds", type=count("--rounds", error=argparse.ArgumentTypeError), default=10)
    ap.add_argument("--batch", type=count("--batch", error=argparse.ArgumentTypeError), default=20)
    ap.add_argument("--seeds", type=count("--seeds", error=argparse.ArgumentTypeError), default=3)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    res = run(args.rounds, args.batch, tuple(range(args.seeds)))
    print(table(res))
    plot(res, args.out)
    print(f"wrote {args.out} ({time.perf_counter() - t:.0f} s)")
    return res


if __name__ == "__main__":
    main()
