"""Query time of ``overlap_sampling`` vs modAL's ``uncertainty_sampling`` on the same pool and learner.

Both strategies query the same fitted ``ActiveLearner`` on the same 200k x 64 pool, alternately,
``--repeats`` times each; the figure is the ratio of median times measured in this one process.
Target: ratio <= 3. Run: ``.venv/bin/python benchmarks/bench_modal.py``.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks._bench import int_parser  # noqa: E402


def _parse(argv):
    ap = int_parser(__doc__, n=200_000, dims=64, n_instances=100, repeats=7, classes=10)
    ap.add_argument("--float32", action="store_true", help="also time float32 embeddings")
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads (threadpoolctl); on a loaded machine multithreaded BLAS spin-waits",
    )
    return ap.parse_args(argv)


def _queries(args) -> dict:
    """``{name: query()}``: both strategies on one fitted learner over the mixture's weak view."""
    from modAL.models import ActiveLearner
    from modAL.uncertainty import uncertainty_sampling
    from sklearn.linear_model import LogisticRegression

    from w2s_plugin.datasets import make_overlap_mixture
    from w2s_plugin.integrations.modal import overlap_sampling

    warnings.simplefilter("ignore", FutureWarning)
    if args.blas_threads is not None:  # after the imports, so every BLAS library is loaded and limited
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)
    half = args.dims // 2
    share = args.n // 3
    mix = make_overlap_mixture(
        share,
        share,
        args.n - 2 * share,
        n_easy_dims=half,
        n_hard_dims=args.dims - half,
        n_classes=args.classes,
        noise=1.0,
        random_state=0,
    )
    X = mix.X
    seed = mix.sample(300, 300, 300, random_state=1)
    # The weak learner sees only the easy block (its hard block zeroed), the pool is the full X.
    learner = ActiveLearner(LogisticRegression(max_iter=300), X_training=seed.weak_view(), y_training=seed.y)
    X_weak = mix.weak_view()

    def q_unc():
        return uncertainty_sampling(learner, X_weak, n_instances=args.n_instances)

    def q_ovl():
        # Weak probabilities on the weak view, the full features as the strong representation.
        return overlap_sampling(learner, X_weak, n_instances=args.n_instances, embeddings=X)

    runs = {"uncertainty_sampling": q_unc, "overlap_sampling": q_ovl}
    if args.float32:
        X32 = X.astype(np.float32)
        runs["overlap_sampling (float32 embeddings)"] = lambda: overlap_sampling(
            learner, X_weak, n_instances=args.n_instances, embeddings=X32
        )
    return runs


def _time(runs: dict, repeats: int) -> dict:
    """Wall times of each query, alternating, after one warm-up call each."""
    for f in runs.values():  # warm-up
        f()
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for k, f in runs.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return times


def main(argv=None):
    args = _parse(argv)
    times = _time(_queries(args), args.repeats)
    base = statistics.median(times["uncertainty_sampling"])
    print(
        f"modAL query time, pool {args.n} x {args.dims}, {args.classes} classes, "
        f"n_instances={args.n_instances}, "
        f"median of {args.repeats}"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}; BLAS threads {args.blas_threads or 'default'}; "
        f"load average {os.getloadavg()[0]:.1f}; {datetime.date.today()}"
    )
    print(f"{'strategy':<40} {'median s':>9} {'ratio':>7}")
    for k, ts in times.items():
        m = statistics.median(ts)
        print(f"{k:<40} {m:>9.3f} {m / base:>7.2f}")
    ratio = statistics.median(times["overlap_sampling"]) / base
    print(f"ratio overlap/uncertainty = {ratio:.2f} (target <= 3: {'met' if ratio <= 3 else 'NOT met'})")
    return ratio


if __name__ == "__main__":
    main()
