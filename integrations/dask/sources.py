"""Pools that never fit in memory: a directory of ``.npy`` or Parquet shards, or a dask array.

* :class:`ShardedArray` reads rows of many shard files as one ``(n, d)`` array: ``.npy`` shards
  are memory-mapped (a batch reads only its rows), Parquet shards are read a row group at a time
  (a small cache keeps the last few).
* :func:`shards_to_dask` is the same shards as a dask array whose tasks read their own rows on
  the workers (the client never holds the data), for :class:`DaskOverlapDetector`.
* :class:`PoolSource` is a :class:`~w2s_plugin.Source` whose bookkeeping does not grow with a
  Python object per item: ids are a ``range``, the seeded draw order is a pseudo-random
  permutation computed on the fly (a Feistel network), and only the "used" mask costs 1 byte per
  item. Campaigns and bandits use it like any other source.
"""

from __future__ import annotations

import glob
import os
import zlib
from collections import OrderedDict

import numpy as np

from w2s_plugin.errors import DataError
from w2s_plugin.sources import Source
from w2s_plugin.validation import check_random_state

__all__ = [
    "ShardedArray",
    "PoolSource",
    "FeistelPermutation",
    "load_shards",
    "shards_to_dask",
    "write_npy_shards",
    "source_from_dask",
]

_EXTS = (".npy", ".parquet", ".pq")


def _shard_paths(location) -> list[str]:
    location = str(location)
    if location.startswith("shards://"):
        location = location[len("shards://") :]
    if os.path.isdir(location):
        paths = sorted(p for p in glob.glob(os.path.join(location, "*")) if p.lower().endswith(_EXTS))
    else:
        paths = sorted(glob.glob(location))
    if not paths:
        raise DataError(f"no .npy or .parquet shards at {location!r}: give a directory of shards or a glob")
    kinds = {os.path.splitext(p)[1].lower() in (".parquet", ".pq") for p in paths}
    if len(kinds) > 1:
        raise DataError(f"{location!r} mixes .npy and Parquet shards; keep one format per directory")
    return paths


class _NpyShard:
    def __init__(self, path):
        self.path = path
        arr = np.load(path, mmap_mode="r")
        if arr.ndim not in (1, 2):
            raise DataError(
                f"shard {path} holds an array of shape {arr.shape}; expected (rows,) or (rows, features)"
            )
        self.shape, self.dtype = arr.shape, arr.dtype

    def rows(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray(np.load(self.path, mmap_mode="r")[idx])

    def slice(self, start: int, stop: int) -> np.ndarray:
        return np.array(np.load(self.path, mmap_mode="r")[start:stop])


class _ParquetShard:
    """One Parquet file: numeric columns (each a feature) or one list column of vectors."""

    def __init__(self, path, columns=None):
        import pyarrow.parquet as pq

        self.path, self.columns = path, columns
        f = pq.ParquetFile(path)
        md = f.metadata
        self.group_rows = np.array(
            [md.row_group(i).num_rows for i in range(md.num_row_groups)], dtype=np.int64
        )
        self.group_start = np.concatenate([[0], np.cumsum(self.group_rows)])
        first = self._table(f.read_row_group(0, columns=columns)) if md.num_row_groups else np.empty((0, 0))
        self.shape = (int(md.num_rows),) + first.shape[1:]
        self.dtype = first.dtype
        self._cache: OrderedDict = OrderedDict()

    @staticmethod
    def _table(t) -> np.ndarray:
        cols = []
        for col in t.columns:
            c = col.combine_chunks()
            if hasattr(c, "flatten") and hasattr(c.type, "value_type"):  # list<float>: one vector per row
                flat = c.flatten().to_numpy(zero_copy_only=False)
                cols.append(flat.reshape(len(c), -1) if len(c) else flat.reshape(0, 0))
            else:
                cols.append(c.to_numpy(zero_copy_only=False).reshape(-1, 1))
        if not cols:
            raise DataError("a Parquet shard has no columns to read")
        out = cols[0] if len(cols) == 1 else np.hstack(cols)
        return (
            out[:, 0]
            if out.ndim == 2
            and out.shape[1] == 1
            and len(t.columns) == 1
            and not hasattr(t.columns[0].type, "value_type")
            else out
        )

    def _group(self, g: int) -> np.ndarray:
        if g in self._cache:
            self._cache.move_to_end(g)
            return self._cache[g]
        import pyarrow.parquet as pq

        arr = self._table(pq.ParquetFile(self.path).read_row_group(int(g), columns=self.columns))
        self._cache[g] = arr
        while len(self._cache) > 4:
            self._cache.popitem(last=False)
        return arr

    def rows(self, idx: np.ndarray) -> np.ndarray:
        g = np.searchsorted(self.group_start, idx, side="right") - 1
        out = np.empty((idx.size,) + self.shape[1:], dtype=self.dtype)
        for gi in np.unique(g):
            m = g == gi
            out[m] = self._group(int(gi))[idx[m] - self.group_start[gi]]
        return out

    def slice(self, start: int, stop: int) -> np.ndarray:
        return self.rows(np.arange(start, stop))


class ShardedArray:
    """Rows of many shard files as one read-only array: ``shape``, ``dtype``, ``len`` and row indexing."""

    def __init__(self, location, columns=None):
        self.paths = _shard_paths(location)
        parquet = self.paths[0].lower().endswith((".parquet", ".pq"))
        self.shards = [(_ParquetShard(p, columns) if parquet else _NpyShard(p)) for p in self.paths]
        tails = {s.shape[1:] for s in self.shards}
        if len(tails) > 1:
            raise DataError(f"shards at {location!r} disagree on the row shape: {sorted(tails)}")
        self.offsets = np.concatenate([[0], np.cumsum([s.shape[0] for s in self.shards])]).astype(np.int64)
        self.shape = (int(self.offsets[-1]),) + tails.pop()
        self.dtype = self.shards[0].dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ShardedArray({len(self.paths)} shards, shape={self.shape}, dtype={self.dtype})"

    def __array__(self, dtype=None, copy=None):
        out = self[0 : len(self)]
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            rows = self[key[0]]
            return rows[(slice(None),) + key[1:]] if not np.isscalar(key[0]) else rows[key[1:]]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1:
                parts = []
                for i in range(int(np.searchsorted(self.offsets, start, "right") - 1), len(self.shards)):
                    a, b = self.offsets[i], self.offsets[i + 1]
                    if a >= stop:
                        break
                    lo, hi = max(start, a) - a, min(stop, b) - a
                    if hi > lo:
                        parts.append(self.shards[i].slice(int(lo), int(hi)))
                return np.concatenate(parts) if parts else np.empty((0,) + self.shape[1:], self.dtype)
            key = np.arange(start, stop, step)
        if np.isscalar(key):
            k = int(key)
            k = k + len(self) if k < 0 else k
            return self[np.array([k])][0]
        idx = np.asarray(key)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"row index out of range 0..{len(self) - 1}")
        shard = np.searchsorted(self.offsets, idx, side="right") - 1
        out = np.empty((idx.size,) + self.shape[1:], dtype=self.dtype)
        for s in np.unique(shard):
            m = shard == s
            local = idx[m] - self.offsets[s]
            order = np.argsort(local, kind="stable")  # sorted reads are fastest on a memory map
            got = self.shards[s].rows(local[order])
            tmp = np.empty_like(got)
            tmp[order] = got
            out[m] = tmp
        return out


def shards_to_dask(location, rows_per_chunk: int = 262_144, columns=None):
    """The shards as a dask array; each task reads its own rows (on the worker, from the path).

    Workers must see the same path (one machine, or a shared file system). ``rows_per_chunk``
    bounds the memory of one task (``.npy``); Parquet chunks are row groups.
    """
    import dask
    import dask.array as da

    arr = ShardedArray(location, columns=columns)
    blocks = []
    for s, shard in zip(arr.paths, arr.shards):
        n = shard.shape[0]
        if isinstance(shard, _ParquetShard):
            ranges = [(int(a), int(b)) for a, b in zip(shard.group_start[:-1], shard.group_start[1:])]
        else:
            ranges = [(a, min(n, a + rows_per_chunk)) for a in range(0, n, rows_per_chunk)]
        for a, b in ranges:
            if b > a:
                blocks.append(
                    da.from_delayed(
                        dask.delayed(_read_rows, pure=True)(s, a, b, columns),
                        shape=(b - a,) + arr.shape[1:],
                        dtype=arr.dtype,
                    )
                )
    return da.concatenate(blocks, axis=0)


def _read_rows(path, start, stop, columns=None):
    if path.lower().endswith(".npy"):
        return _NpyShard(path).slice(start, stop)
    return _ParquetShard(path, columns).slice(start, stop)


def write_npy_shards(directory, X, rows_per_shard: int = 1_000_000, prefix: str = "part") -> list[str]:
    """Write ``X`` (any array with row slicing, e.g. a memmap) as ``part-00000.npy``, ... in ``directory``."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for i, start in enumerate(range(0, X.shape[0], rows_per_shard)):
        p = os.path.join(directory, f"{prefix}-{i:05d}.npy")
        np.save(p, np.asarray(X[start : start + rows_per_shard]))
        paths.append(p)
    return paths


class FeistelPermutation:
    """A seeded pseudo-random permutation of ``0..n-1`` evaluated on demand (O(1) memory).

    A 4-round balanced Feistel network on ``2h`` bits (``4^h >= n``) with cycle-walking: values
    that land outside ``[0, n)`` are permuted again until they fall inside, which keeps it a
    bijection on ``[0, n)``. Supports ``perm[i]`` and ``perm[a:b]`` like the array it replaces.
    """

    def __init__(self, n: int, random_state=None):
        self.n = int(n)
        self.h = max(1, int(np.ceil(np.log2(max(self.n, 2)) / 2)))
        self.mask = np.uint64((1 << self.h) - 1)
        self.keys = check_random_state(random_state).integers(0, 2**63, size=4, dtype=np.uint64)

    def __len__(self) -> int:
        return self.n

    def _round(self, r, key):
        x = (r ^ key) * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(29)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(32)
        return x & self.mask

    def _once(self, x):
        h = np.uint64(self.h)
        left, right = x >> h, x & self.mask
        for key in self.keys:
            left, right = right, left ^ self._round(right, key)
        return (left << h) | right

    def apply(self, i) -> np.ndarray:
        with np.errstate(over="ignore"):
            x = self._once(np.asarray(i, dtype=np.uint64))
            out = x >= np.uint64(self.n)
            while out.any():
                x[out] = self._once(x[out])
                out = x >= np.uint64(self.n)
        return x.astype(np.int64)

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n)
            return self.apply(np.arange(start, stop, step, dtype=np.uint64))
        if np.isscalar(key):
            k = int(key)
            if not -self.n <= k < self.n:
                raise IndexError(k)
            return int(self.apply(np.array([k % self.n]))[0])
        return self.apply(np.asarray(key))

    def __array__(self, dtype=None, copy=None):
        return self[:].astype(dtype or np.int64)


class PoolSource(Source):
    """A :class:`~w2s_plugin.Source` over a pool too large for per-item Python objects.

    ``X`` and each extra are anything with ``shape`` and row indexing: a :class:`ShardedArray`, a
    dask array (a batch computes only its rows) or a memory map. Ids are positions (a ``range``);
    the shuffled draw order is a :class:`FeistelPermutation`. Without replacement, resumable
    (``state``/``load_state``), like every source.
    """

    def __init__(
        self,
        name: str,
        X,
        *,
        y=None,
        extras: dict | None = None,
        shuffle: bool = True,
        random_state=None,
        meta: dict | None = None,
    ):
        if not isinstance(name, str) or not name:
            raise DataError("a Source needs a non-empty string name")
        if not hasattr(X, "shape") or len(X.shape) != 2:
            raise DataError(
                f"source {name!r}: X must be a 2-D array-like (n_items, n_features); "
                f"got {getattr(X, 'shape', type(X).__name__)}"
            )
        n = int(X.shape[0])
        if n == 0:
            raise DataError(f"source {name!r} is empty: it has no items to draw")
        self.name, self.X, self.records = name, X, None
        self.ids = range(n)
        self.y = None if y is None else y
        if y is not None and int(y.shape[0]) != n:
            raise DataError(f"source {name!r}: y has {y.shape[0]} labels for {n} items")
        self.extras = {}
        for key, arr in (extras or {}).items():
            if int(arr.shape[0]) != n:
                raise DataError(f"source {name!r}: extras[{key!r}] has {arr.shape[0]} rows for {n} items")
            self.extras[key] = arr
        self.shuffle, self.random_state, self.meta = shuffle, random_state, dict(meta or {})
        self._n = n
        self._order = FeistelPermutation(n, random_state) if shuffle else _Identity(n)
        self._used = np.zeros(n, dtype=bool)
        self._cursor = 0

    def get(self, positions):
        batch = super().get(positions)
        if batch.y is not None:
            batch.y = np.asarray(batch.y)
        return batch

    def _order_crc(self) -> int:
        head = np.asarray(self._order[: min(self._n, 4096)], dtype=np.int64)
        return zlib.crc32(head.tobytes() + str(self._n).encode()) & 0xFFFFFFFF


class _Identity:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, key):
        if isinstance(key, slice):
            return np.arange(*key.indices(self.n), dtype=np.int64)
        return int(key) if np.isscalar(key) else np.asarray(key, dtype=np.int64)


def load_shards(
    location, name, extras: dict | None = None, labels=None, columns=None, **params
) -> PoolSource:
    """The ``shards`` source type: ``location`` is a directory (or glob, or ``shards://dir``) of
    ``.npy`` / Parquet shards holding X; ``extras`` maps names (``proba``, ``embeddings``) to
    other shard directories with one row per item; ``labels`` a shard directory of gold labels."""
    X = ShardedArray(location, columns=columns)
    ex = {k: ShardedArray(v) for k, v in (extras or {}).items()}
    y = ShardedArray(labels) if labels else None
    kw = {k: params[k] for k in ("shuffle", "random_state", "meta") if k in params}
    return PoolSource(name, X, y=y, extras=ex, **kw)


def source_from_dask(name: str, X, extras: dict | None = None, **params) -> PoolSource:
    """A source over dask collections (arrays or dataframes): each batch computes only its rows."""
    from .detect import as_dask_array

    X = as_dask_array(X, "X")
    ex = {k: as_dask_array(v, k) for k, v in (extras or {}).items()}
    return PoolSource(name, X, extras=ex, **params)
