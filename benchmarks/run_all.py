"""Run every ``benchmarks/bench_*.py`` in turn, each in its own process; stop at the first failure.

    python benchmarks/run_all.py            # full sizes (long: see each script's docstring)
    python benchmarks/run_all.py --quick    # small sizes: checks that every benchmark still runs
    python benchmarks/run_all.py --only detection,modal

``make bench`` runs it. Every benchmark reports ratios against a baseline measured in the same
process, so the numbers mean something on any machine; ``--quick`` sizes are too small for the
ratios to be worth quoting and never update RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Arguments for ``--quick``: sizes that finish in seconds to a minute each on a laptop.
QUICK_ARGS = {
    "campaign": ["--batch", "500", "--rounds", "3"],
    "hybrid": ["--n", "1500", "--batch", "250", "--human", "150"],
    "dask": [
        "--n",
        "200000",
        "--d",
        "16",
        "--baseline",
        "100000",
        "--rows-per-shard",
        "50000",
        "--rows-per-chunk",
        "50000",
        "--workers",
        "1",
    ],
    "detection": ["--n-big", "20000", "--n-ref", "10000", "--n-cos", "5000", "--n-grid", "20000"]
    + ["--repeats", "1", "--no-write"],
    "detect_memmap": ["--n", "200000"],
    "diagnose": ["--n", "20000", "--repeats", "1"],
    "label_studio": ["--requests", "5", "--rounds", "2", "--batch", "20"],
    "modal": ["--n", "5000", "--dims", "16", "--repeats", "2"],
    "report": ["--size", "small"],
}
#: Skipped by ``--quick``: even the smallest run takes minutes (every experiment, twice).
QUICK_SKIP = {"report"}


def benchmarks() -> dict[str, Path]:
    """``{name: path}`` of every ``bench_<name>.py`` next to this file, in name order."""
    return {p.stem[len("bench_") :]: p for p in sorted(HERE.glob("bench_*.py"))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: check that every benchmark runs")
    ap.add_argument("--only", default=None, help="comma-separated names (detection, modal, ...)")
    args = ap.parse_args(argv)
    found = benchmarks()
    names = list(found)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in found]
        if unknown:
            ap.error(f"unknown benchmark(s) {', '.join(unknown)}; found: {', '.join(found)}")
    if args.quick:
        names = [n for n in names if n not in QUICK_SKIP or args.only]
    with tempfile.TemporaryDirectory(prefix="w2s-bench-") as scratch:
        for name in names:
            cmd = [sys.executable, str(found[name])]
            if args.quick:
                cmd += QUICK_ARGS.get(name, [])
            if name in ("dask", "detect_memmap"):  # their files go to scratch, never into a checkout
                cmd += ["--dir", os.path.join(scratch, name)]
            print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
            t0 = time.perf_counter()
            code = subprocess.call(cmd)
            print(f"== {name}: exit {code} in {time.perf_counter() - t0:.1f} s", flush=True)
            if code != 0:
                print(f"stopped: benchmarks/bench_{name}.py failed (exit {code})", file=sys.stderr)
                return code
    print(f"all {len(names)} benchmark(s) ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
