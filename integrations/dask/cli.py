"""``w2s detect --scheduler ...``: the detect command on Dask (called lazily by hooks/commands.py)."""

from __future__ import annotations

import csv
import json
import os
import time

import numpy as np

from w2s_plugin.errors import W2SError


def _dask_input(path: str, what: str, rows_per_chunk: int):
    """A .npy file, a directory (or glob) of .npy/Parquet shards, or a small .npz/.csv file."""
    import dask.array as da

    from .sources import shards_to_dask

    if not (os.path.exists(path) or any(c in path for c in "*?[")):
        raise FileNotFoundError(f"{what} file {path!r} does not exist")
    if (
        os.path.isdir(path)
        or path.lower().endswith((".npy", ".parquet", ".pq"))
        or any(c in path for c in "*?[")
    ):
        arr = shards_to_dask(path, rows_per_chunk=rows_per_chunk)
    else:
        from w2s_plugin.files import load_array as _load_array

        a = np.asarray(_load_array(path, what))
        arr = da.from_array(a, chunks=(rows_per_chunk,) + a.shape[1:])
    if arr.ndim == 2 and arr.shape[1] == 1 and what == "proba":
        arr = arr[:, 0]
    return arr


def detect_on_dask(args) -> int:
    from w2s_plugin import Region

    from .cluster import scheduler
    from .detect import DaskOverlapDetector

    if args.plot:
        raise W2SError(
            "--plot needs every point in one process; it is not available with --scheduler "
            "(use report.compute().plot() on a pool that fits in memory)"
        )
    rows = int(getattr(args, "chunk_rows", None) or 262_144)
    params = json.loads(args.scorer_params) if args.scorer_params else None
    kw = {"scorer": args.scorer} if args.scorer else {}
    t0 = time.perf_counter()
    with scheduler(args.scheduler) as client:
        E = _dask_input(args.embeddings, "embeddings", rows)
        P = _dask_input(args.proba, "proba", rows)
        where = (
            client.dashboard_link if client is not None and getattr(client, "dashboard_link", None) else ""
        )
        print(
            f"Dask ({args.scheduler}{', ' + where if where else ''}): {E.shape[0]} points x {E.shape[1]} "
            f"features in {E.numblocks[0]} blocks"
        )
        det = DaskOverlapDetector(scorer_params=params, random_state=args.seed, **kw).fit(P, E)
        report = det.report_
        print(report.summary())
        print(f"({time.perf_counter() - t0:.1f} s)")
        if args.out:
            _write_csv(args.out, report, Region)
            print(f"regions written to {args.out}")
    return 0


def _write_csv(path, report, Region):
    """Stream the per-point table to one CSV, a block at a time (never the whole pool at once)."""
    import dask

    names = {int(r): r.name.lower() for r in Region}
    blocks = zip(
        report.regions.to_delayed().ravel(),
        report.confidence.to_delayed().ravel(),
        report.overlap_score.to_delayed().ravel(),
    )
    start = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "region", "confidence", "overlap_score"])
        for rb, cb, sb in blocks:
            r, c, s = dask.compute(rb, cb, sb)
            for i, (ri, ci, si) in enumerate(zip(r, c, s)):
                w.writerow([start + i, names[int(ri)], f"{ci:.6g}", "" if np.isnan(si) else f"{si:.6g}"])
            start += len(r)
