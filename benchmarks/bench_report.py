"""How long `w2s report` takes: all experiments in one process (the baseline) vs the report's
2 worker processes with one BLAS thread each, measured in the same session.

    python benchmarks/bench_report.py [--size small|full]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.experiments.report import run_all  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", default="small", choices=("small", "full"))
    args = p.parse_args()
    rows = []
    for jobs in (1, 2):
        load = os.getloadavg()[0]
        t = time.perf_counter()
        out = run_all(size=args.size, jobs=jobs, progress=False)
        wall = time.perf_counter() - t
        rows.append((jobs, wall, load, out["times"]))
    base = rows[0][1]
    print(f"size {args.size}; {os.cpu_count()} CPUs")
    print(f"{'workers':>8} {'wall s':>8} {'ratio':>6} {'load':>5}  per experiment")
    for jobs, wall, load, times in rows:
        per = ", ".join(f"{k} {v:.0f}s" for k, v in times.items())
        print(f"{jobs:>8} {wall:>8.1f} {wall / base:>6.2f} {load:>5.1f}  {per}")


if __name__ == "__main__":
    main()
