"""Dask benchmark: overlap detection on N x 128 float32 embeddings stored as .npy shards on disk.

Measures, in one run on one machine (so ratios are comparable while other jobs share the CPU):

* the single-machine path (``OverlapDetector`` on in-memory arrays) at ``--baseline`` points;
* the Dask path (``DaskOverlapDetector`` on a ``LocalCluster`` of processes reading the shards)
  at the same size and at ``--n`` points;
* peak RSS of every worker process (psutil, polled every 0.25 s) and of the client;
* the per-task cost by task type (distributed's task stream), for a paper estimate on N workers.

Usage: ``python benchmarks/bench_dask.py --n 10000000 --dir /work/main/.bench-data`` (writes
~5 GB, deletes it afterwards unless ``--keep``). Prints a JSON summary and a Markdown table.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks._bench import int_parser  # noqa: E402


def generate(directory: str, n: int, d: int, rows_per_shard: int, seed: int = 0):
    """Three regions as in the paper's mixture, 64 easy + 64 hard dims; p(class 1) from the easy dims."""
    emb_dir, p_dir = os.path.join(directory, "emb"), os.path.join(directory, "proba")
    os.makedirs(emb_dir, exist_ok=True)
    os.makedirs(p_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    half = d // 2
    theta = rng.uniform(0, 1, d).astype(np.float32)
    w = theta[:half] / 5.0
    for i, start in enumerate(range(0, n, rows_per_shard)):
        m = min(rows_per_shard, n - start)
        r = np.random.default_rng([seed, i])
        region = r.integers(0, 3, m)  # 0 easy-only, 1 hard-only, 2 overlap
        y = r.integers(0, 2, m).astype(np.float32) * 2 - 1
        X = r.standard_normal((m, d), dtype=np.float32) * np.float32(np.sqrt(5.0))
        X += y[:, None] * theta[None, :]
        X[region == 1, :half] = 0.0
        X[region == 0, half:] = 0.0
        p = 1.0 / (1.0 + np.exp(-(X[:, :half] @ w)))
        np.save(os.path.join(emb_dir, f"part-{i:05d}.npy"), X)
        np.save(os.path.join(p_dir, f"part-{i:05d}.npy"), p.astype(np.float64))
    return emb_dir, p_dir


class RSSPoller:
    """Peak RSS of each worker process and of this process, polled in a background thread."""

    def __init__(self, client, every: float = 0.25):
        import psutil

        self.client, self.every = client, every
        info = client.scheduler_info()["workers"]
        self.procs = {addr: psutil.Process(w["pid"]) if "pid" in w else None for addr, w in info.items()}
        pids = client.run(os.getpid)
        self.procs = {addr: psutil.Process(pid) for addr, pid in pids.items()}
        self.me = psutil.Process()
        self.peak = {addr: 0 for addr in self.procs}
        self.peak_client = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for addr, p in self.procs.items():
                try:
                    self.peak[addr] = max(self.peak[addr], p.memory_info().rss)
                except Exception:
                    pass
            self.peak_client = max(self.peak_client, self.me.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self):
        self.peak = {a: 0 for a in self.procs}
        self.peak_client = 0
        self._t = threading.Thread(target=self._run, daemon=True)
        self._stop.clear()
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def task_costs(events) -> dict:
    """Seconds of compute per task type (key prefix) from distributed's task stream."""
    out: dict = {}
    for ev in events:
        key = ev["key"]
        name = key[0] if isinstance(key, tuple) else key
        prefix = str(name).split("-")[0]
        for s in ev.get("startstops", ()):
            if s["action"] == "compute":
                out.setdefault(prefix, [0.0, 0])
                out[prefix][0] += s["stop"] - s["start"]
                out[prefix][1] += 1
    return {
        k: {"seconds": round(v[0], 3), "tasks": v[1]}
        for k, v in sorted(out.items(), key=lambda kv: -kv[1][0])
    }


def _parse(argv):
    ap = int_parser(
        __doc__,
        n=10_000_000,
        d=128,
        baseline=1_000_000,
        rows_per_shard=1_000_000,
        rows_per_chunk=250_000,
        workers=2,
    )
    ap.add_argument(
        "--memory-limit", default="3GiB", help="per worker (distributed spills / pauses above it)"
    )
    ap.add_argument("--dir", default="/work/main/.bench-data/dask")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--json", default=None, help="also write the summary here")
    return ap.parse_args(argv)


def _time_dask(args, emb_dir, p_dir, rep1, res):
    """The Dask path on a LocalCluster at the baseline size and at ``--n``: one entry of ``res`` each."""
    from distributed import Client, LocalCluster, get_task_stream

    from w2s_plugin.integrations.dask.detect import DaskOverlapDetector
    from w2s_plugin.integrations.dask.sources import shards_to_dask

    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.memory_limit,
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):
        poll = RSSPoller(client)
        for label, n in (("dask_baseline", args.baseline), ("dask_full", args.n)):
            E = shards_to_dask(emb_dir, rows_per_chunk=args.rows_per_chunk)[:n]
            P = shards_to_dask(p_dir, rows_per_chunk=args.rows_per_chunk)[:n]
            client.run(lambda: __import__("gc").collect())
            with poll, get_task_stream(client) as ts:
                t = time.perf_counter()
                det = DaskOverlapDetector(random_state=0).fit(P, E)
                rep = det.report_
                el = time.perf_counter() - t
            res[label] = {
                "seconds": el,
                "blocks": int(E.numblocks[0]),
                "peak_worker_rss_mib": {a.split(":")[-1]: round(v / 2**20) for a, v in poll.peak.items()},
                "peak_client_rss_mib": round(poll.peak_client / 2**20),
                "hard_threshold": rep.hard_threshold,
                "overlap_threshold": rep.overlap_threshold,
                "density": rep.density,
                "split_info": [det.hard_split_info_, det.overlap_split_info_],
                "task_costs": task_costs(ts.data),
            }
            if label == "dask_baseline":
                r = rep.compute()
                res[label]["agreement_with_single"] = float((r.regions == rep1.regions).mean())
                res[label]["threshold_diff"] = [
                    abs(rep.hard_threshold - rep1.hard_threshold),
                    abs(rep.overlap_threshold - rep1.overlap_threshold),
                ]
            del det, rep
            client.cancel(list(client.futures))


def _estimate(res, args):
    """Per-million rates, the Dask/single ratio and the paper estimate for 10^9 points on N workers."""
    per_m = lambda s, n: s / (n / 1e6)  # noqa: E731
    res["single_s_per_1e6"] = per_m(res["single_s"], args.baseline)
    res["dask_baseline_s_per_1e6"] = per_m(res["dask_baseline"]["seconds"], args.baseline)
    res["dask_full_s_per_1e6"] = per_m(res["dask_full"]["seconds"], args.n)
    res["ratio_full_vs_single"] = res["dask_full_s_per_1e6"] / res["single_s_per_1e6"]
    # paper estimate: per-block compute (all tasks that touch a block, summed) -> N workers
    costs = res["dask_full"]["task_costs"]
    block_s = sum(v["seconds"] for v in costs.values()) / res["dask_full"]["blocks"]
    res["compute_s_per_block"] = block_s
    serial = res["dask_full"]["seconds"] - sum(v["seconds"] for v in costs.values()) / args.workers
    res["serial_overhead_s"] = max(0.0, serial)
    est = {}
    for nw in (1, 2, 8, 32, 128):
        blocks = 1e9 / args.rows_per_chunk
        est[nw] = {
            "seconds_for_1e9": blocks * block_s / nw + res["serial_overhead_s"],
            "points_per_s": 1e9 / (blocks * block_s / nw + res["serial_overhead_s"]),
        }
    res["estimate"] = est


def main(argv=None):
    args = _parse(argv)

    from w2s_plugin import OverlapDetector
    from w2s_plugin.integrations.dask.sources import ShardedArray

    res: dict = {
        "n": args.n,
        "d": args.d,
        "baseline_n": args.baseline,
        "workers": args.workers,
        "rows_per_chunk": args.rows_per_chunk,
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
    }
    t = time.perf_counter()
    emb_dir, p_dir = generate(args.dir, args.n, args.d, args.rows_per_shard)
    res["generate_s"] = round(time.perf_counter() - t, 1)
    res["bytes_on_disk"] = sum(os.path.getsize(os.path.join(emb_dir, f)) for f in os.listdir(emb_dir))
    try:
        # single machine, in memory, at the baseline size
        E1 = np.asarray(ShardedArray(emb_dir)[0 : args.baseline])
        P1 = np.asarray(ShardedArray(p_dir)[0 : args.baseline])
        t = time.perf_counter()
        rep1 = OverlapDetector(random_state=0).fit(P1, E1).report_
        res["single_s"] = time.perf_counter() - t
        res["scorer"] = rep1.scorer
        _time_dask(args, emb_dir, p_dir, rep1, res)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)

    _estimate(res, args)
    print(json.dumps(res, indent=1, default=float))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1, default=float)
    return res


if __name__ == "__main__":
    main()
