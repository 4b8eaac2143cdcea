"""The ``dask`` plugin: registers the ``shards`` source type (and the ``shards://`` scheme).

Loaded through the ``w2s_plugin`` entry point; dask is imported only when a shard source is
opened as a dask array, so listing plugins never needs it.
"""

from __future__ import annotations

from w2s_plugin.hookspecs import hookimpl


def load_shards(location, name, **params):
    """A pool stored as a directory of ``.npy`` / Parquet shards (see docs/dask.md)."""
    from .sources import load_shards as _load

    return _load(location, name, **params)


@hookimpl
def register_sources(register):
    register("shards", load_shards, schemes=("shards",))
