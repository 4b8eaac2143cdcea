"""`w2s detect` on a pool larger than memory: a 10^7 x 384 float32 .npy (15 GB), read memory-mapped.

Writes the pool block by block (never in memory), runs ``w2s detect --proba p.npy --embeddings e.npy``
as a child process, and records its wall time and peak resident memory (``ru_maxrss`` of the child),
then deletes the files. Run once as a benchmark, not in the test suite:

    python benchmarks/bench_detect_memmap.py [--n 10000000] [--dir /work/tmp] [--keep]

Features: independent normal coordinates scaled by k^-1/2 (a power-law spectrum; the detector is
rotation invariant, so no rotation is needed); the weak model's confidence ranks points by |<x, w>|
plus noise with half of them hard-only (the construction of bench_detection.py part d).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks._bench import int_parser  # noqa: E402


def write_pool(path_e: Path, path_p: Path, n: int, d: int, share: float, seed: int, block: int = 250_000):
    rng = np.random.default_rng(seed)
    scale = (np.arange(1, d + 1) ** -0.5).astype(np.float32)
    w = rng.standard_normal(d).astype(np.float32)
    w /= np.linalg.norm(w)
    E = np.lib.format.open_memmap(path_e, mode="w+", dtype=np.float32, shape=(n, d))
    z = np.empty(n, np.float32)
    for s in range(0, n, block):
        m = min(block, n - s)
        X = rng.standard_normal((m, d), dtype=np.float32)
        X *= scale
        E[s : s + m] = X
        z[s : s + m] = X @ w
        E.flush()
    del E
    z += rng.standard_normal(n).astype(np.float32) * (0.3 * float(z.std()))
    u = np.empty(n)
    u[np.argsort(np.abs(z), kind="stable")] = (np.arange(n) + 0.5) / n
    conf = np.where(u < share, 0.2 * u / share, 0.5 + 0.5 * (u - share) / (1 - share))
    np.save(path_p, (0.5 + np.sign(z) * conf / 2).astype(np.float64))


def _parse(argv):
    ap = int_parser(__doc__, n=10_000_000, d=384)
    ap.add_argument("--share", type=float, default=0.5)
    ap.add_argument("--dir", default=str(Path(__file__).resolve().parents[1] / ".bench-tmp"))
    ap.add_argument("--keep", action="store_true", help="keep the files")
    ap.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--reuse", action="store_true", help="use emb.npy/proba.npy already in --dir (from --keep)"
    )
    return ap.parse_args(argv)


def _write_in_child(args, out: Path):
    """Write the pool in its own process, so the measuring parent never maps the file."""
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--write-only",
            "--n",
            str(args.n),
            "--d",
            str(args.d),
            "--share",
            str(args.share),
            "--dir",
            str(out),
        ],
        check=True,
    )


def _poll_rss(proc) -> int:
    """Peak RSS of ``proc`` and its children (not ``time`` itself), polled every 0.2 s until it exits."""
    polled = 0
    try:
        import psutil

        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                procs = [ps, *ps.children(recursive=True)]
                polled = max(polled, sum(c.memory_info().rss for c in procs if c.name() != "time"))
            except psutil.Error:
                pass
            time.sleep(0.2)
    except ImportError:
        pass
    return polled


def _run_detect(e: Path, p: Path, out: Path):
    """``w2s detect`` on the files as a child: (its CompletedProcess, polled peak RSS, peak RSS)."""
    w2s = Path(sys.executable).with_name("w2s")
    # /usr/bin/time -v reports the peak RSS of w2s itself (ru_maxrss of a child forked from this
    # process could include pages of the parent); psutil polls it as a cross-check
    cmd = [str(w2s), "detect", "--proba", str(p), "--embeddings", str(e)]
    timer = shutil.which("time") or "/usr/bin/time"
    use_timer = os.path.exists(timer)
    errfile = open(out / "stderr.txt", "w+", encoding="utf-8")  # a pipe would fill up with the bar
    proc = subprocess.Popen(
        ([timer, "-v"] if use_timer else []) + cmd, stdout=subprocess.PIPE, stderr=errfile, text=True
    )
    polled = _poll_rss(proc)
    stdout, _ = proc.communicate()
    errfile.seek(0)
    stderr = errfile.read()
    errfile.close()
    os.unlink(errfile.name)
    res = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    peak = int(m.group(1)) * 1024 if m else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return res, polled, peak


def main(argv=None):
    args = _parse(argv)
    out = Path(args.dir)
    if args.write_only:  # run as its own process, so the measuring parent never maps the file
        write_pool(out / "emb.npy", out / "proba.npy", args.n, args.d, args.share, seed=0)
        return
    out.mkdir(parents=True, exist_ok=True)
    need = args.n * args.d * 4 + args.n * 8
    free = shutil.disk_usage(out).free
    print(
        f"pool {args.n:,} x {args.d} float32 = {need / 1e9:.1f} GB; free on {out}: {free / 1e9:.1f} GB",
        flush=True,
    )
    if free < need * 1.1 and not args.reuse:
        sys.exit(f"not enough disk for {need / 1e9:.1f} GB; pass a smaller --n")
    e, p = out / "emb.npy", out / "proba.npy"
    try:
        t = time.perf_counter()
        if args.reuse and e.exists() and p.exists():  # written by an earlier --keep run
            print("reusing the files in", out)
        else:
            _write_in_child(args, out)
        t_write = time.perf_counter() - t
        print(f"written in {t_write:.0f} s; load average {os.getloadavg()[0]:.1f}", flush=True)
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        res, polled, peak = _run_detect(e, p, out)
        t_det = time.perf_counter() - t
        print(f"peak RSS polled every 0.2 s: {polled / 2**20:.0f} MiB")
        print(res.stdout)
        bar = [ln for ln in res.stderr.replace("\r", "\n").splitlines() if "rows read" in ln]
        print("progress bar, last line:", bar[-1] if bar else "(none)")
        if res.returncode:
            print(res.stderr)
            sys.exit(res.returncode)
        print(
            f"w2s detect: {t_det:.1f} s, peak RSS {peak / 2**20:.0f} MiB "
            f"({peak / (args.n * args.d * 4):.1%} of the embeddings file); load average "
            f"{load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
            flush=True,
        )
    finally:
        if not args.keep:
            for f in (e, p):
                f.unlink(missing_ok=True)
            try:
                out.rmdir()
            except OSError:
                pass


if __name__ == "__main__":
    main()
