"""Overlap detection and campaigns on Dask, for pools too large for one machine (the ``dask`` extra).

Importing this package does not import dask; its modules do, when used.
"""

from __future__ import annotations

__all__ = [
    "DaskOverlapDetector",
    "DaskOverlapReport",
    "detect_overlap_dask",
    "PoolSource",
    "ShardedArray",
    "load_shards",
    "shards_to_dask",
    "write_npy_shards",
    "scheduler",
]


def __getattr__(name):
    if name in ("DaskOverlapDetector", "DaskOverlapReport", "detect_overlap_dask"):
        from . import detect

        return getattr(detect, name)
    if name in ("PoolSource", "ShardedArray", "load_shards", "shards_to_dask", "write_npy_shards"):
        from . import sources

        return getattr(sources, name)
    if name == "scheduler":
        from .cluster import scheduler

        return scheduler
    raise AttributeError(name)
