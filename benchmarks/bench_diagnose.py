"""Cost of ``diagnose`` (detection + the decision's cross-fitted strong models) against one detection.

10^5 x 384 float32 pool of the paper's mixture, 500 gold labels. Baseline, in the same process:
one ``detect_overlap`` on the same pool. The decision trains one logistic regression per weak-only
policy (4) on at most ``max_train`` (default 4000) pool items: with a large pool the policy's items
outside the gold sample are subsampled, so no gold item is ever in a training set and one fit
serves every fold. ``gold`` costs 5 fits on the gold items, and each ``gold+`` candidate 45 (3
weights x (5 folds + 10 pairs of folds), the nested weight choice) on the gold items plus at most
``max_train`` weak labels. Target (issue 11): diagnose costs at most 10x one detection.

    python benchmarks/bench_diagnose.py [--n 100000] [--gold 500] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--gold", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-train", type=int, default=4000, dest="max_train")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1: the machine is shared)")
    args = ap.parse_args(argv)
    from bench_detection import pool  # noqa: E402  (same data as the detection benchmark)
    from threadpoolctl import threadpool_limits

    from w2s_plugin import detect_overlap
    from w2s_plugin.diagnostics import decide, diagnose

    E, P, _, _ = pool(args.n)
    rng = np.random.default_rng(0)
    # Gold labels: the weak model's labels, flipped with probability 1 - its confidence (cost does not
    # depend on the labels' values, only on there being two classes).
    weak = P.argmax(1)
    y_true = np.where(rng.random(args.n) < 1 - P.max(1), 1 - weak, weak)
    gold = np.full(args.n, -1)
    idx = rng.choice(args.n, args.gold, replace=False)
    gold[idx] = y_true[idx]
    t_det, t_diag, t_dec = [], [], []
    with threadpool_limits(args.threads):
        for _ in range(args.repeats):
            t = time.perf_counter()
            rep = detect_overlap(P, E, random_state=0)
            t_det.append(time.perf_counter() - t)
            t = time.perf_counter()
            d = diagnose(P, E, gold, random_state=0, max_train=args.max_train)
            t_diag.append(time.perf_counter() - t)
            t = time.perf_counter()
            decide(P, E, gold, rep.regions, max_train=args.max_train)
            t_dec.append(time.perf_counter() - t)
    det, diag, dec = (float(np.median(v)) for v in (t_det, t_diag, t_dec))
    print(
        f"pool {args.n} x {E.shape[1]} float32, {args.gold} gold labels, max_train {args.max_train}, "
        f"{args.threads} BLAS thread(s), {platform.machine()} with {os.cpu_count()} CPU(s), "
        f"load {os.getloadavg()[0]:.1f}; median of {args.repeats}"
    )
    print(f"one detection (detect_overlap):        {det:7.2f} s")
    print(f"diagnose (detection + decision):       {diag:7.2f} s  = {diag / det:.2f} x one detection")
    print(f"decision alone (7 candidates + control): {dec:7.2f} s  = {dec / det:.2f} x one detection")
    print(f"recommendation: {d.recommendation}; subsampled: {d.decision.subsampled}")
    return 0 if diag / det <= 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
