"""Sources: named pools that hand out batches without replacement and remember what they gave.

A source holds features ``X`` (an array, possibly memory-mapped so the pool never has to fit in
RAM), optional ``records`` (dicts, e.g. text for Label Studio), optional gold labels ``y`` and
any per-item ``extras`` (precomputed probabilities, embeddings, true regions in simulations).
Items are addressed by their position; ``ids`` gives each a stable id that survives restarts.
File types and URI schemes are plugins (``register_sources``); see :meth:`Source.from_path`.

Views: the weak model and the strong representation may read different things about the same
item (a weak feature table and stored sentence embeddings). ``views={"weak": A, "strong": B}``
stores them apart, one row per item each, so nobody has to concatenate and slice; a batch hands
each model its own with :meth:`Batch.view`.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from . import plugins
from .errors import DataError, StateError, W2SError
from .params import check_call, supported
from .validation import check_random_state

#: The roles the campaign asks for: ``weak`` (what the weak model reads) and ``strong`` (what the
#: representation / strong model reads). Other role names are allowed for a user's own use.
ROLES = ("weak", "strong")


def loader_for(path: str, type: str | None = None):
    """The registered loader for ``path``: by ``type``, else URI scheme, else the longest matching
    extension."""
    if type is not None:
        return plugins.lookup("sources", type, "source type")
    path = str(path)
    registry = plugins.get_registry("sources")
    if "://" in path:
        scheme = path.split("://", 1)[0]
        for entry in registry.values():
            if scheme in entry.meta.get("schemes", ()):
                return entry.obj
    lower = path.lower()
    best = None
    for entry in registry.values():
        for ext in entry.meta.get("extensions", ()):
            if lower.endswith(ext.lower()) and (best is None or len(ext) > best[0]):
                best = (len(ext), entry.obj)
    if best is None:
        known = sorted({e for en in registry.values() for e in en.meta.get("extensions", ())})
        raise W2SError(
            f"no source type for {path!r}; known extensions: {', '.join(known)} "
            "(or pass type=..., or register a source plugin)"
        )
    return best[1]


def _check_loader_params(loader, path, params: dict) -> None:
    """A typo in a loader parameter is an error listing what the loader accepts (with a hint)."""
    check_call(loader, params, f"source {path!r}", skip=1, supplied=("name",), suggest=True)


@dataclass
class Batch:
    """Items drawn from one source: positions in the source, stable ids, features and the rest."""

    source: str
    positions: np.ndarray
    ids: list
    X: Any
    records: list | None = None
    y: np.ndarray | None = None
    extras: dict = field(default_factory=dict)
    views: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.positions.size)

    def view(self, role: str):
        """What the model in ``role`` reads for these items: ``"weak"`` (the weak model's input) or
        ``"strong"`` (the representation). Without a view of that name: the features ``X``, or the
        records when there is no ``X``."""
        if role in self.views:
            return self.views[role]
        if role not in ROLES:
            known = sorted(set(ROLES) | set(self.views))
            raise DataError(f"source {self.source!r} has no view {role!r}; views: {', '.join(known)}")
        return self.X if self.X is not None else self.records

    def subset(self, keep) -> Batch:
        """The batch restricted to items ``keep`` (indices into it), views included."""
        keep = np.asarray(keep, dtype=np.int64)
        pick = lambda v: None if v is None else (v[keep] if hasattr(v, "shape") else [v[i] for i in keep])
        return Batch(
            self.source,
            self.positions[keep],
            [self.ids[i] for i in keep],
            pick(self.X),
            pick(self.records),
            pick(self.y),
            {k: pick(v) for k, v in self.extras.items()},
            {k: pick(v) for k, v in self.views.items()},
        )


def _pack_mask(mask: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.packbits(mask).tobytes(), 6)).decode("ascii")


def _unpack_mask(s: str, n: int) -> np.ndarray:
    raw = np.frombuffer(zlib.decompress(base64.b64decode(s)), dtype=np.uint8)
    return np.unpackbits(raw, count=n).astype(bool)


class Source:
    """A pool of items to draw from.

    Parameters
    ----------
    name : str
    X : array (n, d), optional
        Features handed to the weak model and the representation; memory-mapped arrays are read
        a batch at a time.
    records : list of dict, optional
        Raw items (used when ``X`` is None, e.g. texts).
    ids : sequence, optional
        Stable id per item (default: the position, ``0..n-1``).
    y : array, optional
        Gold labels, for simulations and diagnostics.
    extras : dict of arrays, optional
        Per-item arrays carried into each batch (``proba``, ``embeddings``, ``regions``, ...).
    views : dict, optional
        What each model reads, by role (``"weak"``, ``"strong"``; see :meth:`Batch.view`), when it
        is not ``X``. Each value is an (n, d) array stored apart (memory-mapped arrays stay so), a
        file path (any source type; one row per item, same order), the name of one of ``extras``,
        a list of record keys (a named column group of a CSV/JSONL table), or a list of column
        indices / a slice of ``X``. A role without a view reads ``X`` (or the records).
    shuffle : bool
        Draw in a seeded random order (default) or in file order.
    random_state : int or None
        Seeds the draw order. With ``None`` a fresh seed is drawn and saved in :meth:`state`, so a
        resumed campaign continues in the same order without the user having to pick a seed.
    """

    #: Read-only defaults, so a subclass that does not call ``__init__`` (a sharded pool) has no views.
    views = MappingProxyType({})
    _view_columns = MappingProxyType({})

    def __init__(
        self,
        name: str,
        X=None,
        *,
        records=None,
        ids=None,
        y=None,
        extras: dict | None = None,
        shuffle: bool = True,
        random_state=None,
        meta: dict | None = None,
        views: dict | None = None,
    ):
        if not isinstance(name, str) or not name:
            raise W2SError("a Source needs a non-empty string name")
        n_views = None
        if X is None and records is None and views:
            views, n_views = _standalone_views(name, views)
        elif X is None and records is None:
            raise DataError(f"source {name!r}: give features X, records, or both (or views)")
        if X is not None:
            X = _as_table(X, f"source {name!r}: X")
        n = X.shape[0] if X is not None else len(records) if records is not None else n_views
        if records is not None and len(records) != n:
            raise DataError(f"source {name!r}: {len(records)} records but X has {n} rows")
        if n == 0:
            raise DataError(f"source {name!r} is empty: it has no items to draw")
        self.name = name
        self.X = X
        self.records = records
        self.ids = list(range(n)) if ids is None else list(ids)
        if len(self.ids) != n:
            raise DataError(f"source {name!r}: {len(self.ids)} ids for {n} items")
        if len(set(self.ids)) != n:
            raise DataError(f"source {name!r}: ids must be unique")
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and self.y.shape[0] != n:
            raise DataError(f"source {name!r}: y has {self.y.shape[0]} labels for {n} items")
        self.extras = {}
        for key, arr in (extras or {}).items():
            if len(arr) != n:
                raise DataError(f"source {name!r}: extras[{key!r}] has {len(arr)} rows for {n} items")
            self.extras[key] = arr
        self.shuffle = shuffle
        self.random_state = random_state
        self.meta = dict(meta or {})
        self._n = n
        self.add_views(views or {})
        if shuffle and random_state is None:
            random_state = int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
            self._fresh_seed = True
        self.order_seed_ = int(random_state) if isinstance(random_state, (int, np.integer)) else None
        self._order = check_random_state(random_state).permutation(n) if shuffle else np.arange(n)
        self._used = np.zeros(n, dtype=bool)
        self._cursor = 0  # every position in _order[:_cursor] is used

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        views = f", views={self.view_names}" if self.view_names else ""
        return f"Source({self.name!r}, n={self._n}, remaining={self.n_remaining}{views})"

    @property
    def n_remaining(self) -> int:
        return int(self._n - self._used.sum())

    @property
    def exhausted(self) -> bool:
        return self.n_remaining == 0

    @property
    def n_features(self) -> int | None:
        return None if self.X is None else int(self.X.shape[1])

    def window(self, size: int, offset: int = 0) -> tuple[np.ndarray, int]:
        """``size`` unused items starting ``offset`` items into the unused ones' draw order, wrapping
        around to the first; and the offset used (0 when every unused item fits)."""
        remaining = self.n_remaining
        if remaining <= size:
            return self.candidates(remaining), 0
        off = offset % remaining
        cand = self.candidates(off + size)
        win = cand[off:]
        if win.size < size:  # wrap around to the start of the unused items
            win = np.concatenate([win, cand[: size - win.size]])
        return win, off

    def positions_of(self, indices, what: str) -> np.ndarray:
        """``indices`` given by a user as a 1-D array of positions: non-empty and in range."""
        pos = np.asarray(indices, dtype=np.int64).reshape(-1)
        if pos.size == 0:
            raise W2SError(f"{what}: indices is empty")
        if pos.min() < 0 or pos.max() >= self._n:
            raise W2SError(f"{what}: indices out of range for source {self.name!r} (0..{self._n - 1})")
        return pos

    def candidates(self, n: int) -> np.ndarray:
        """Positions of the next ``n`` unused items in draw order, without using them."""
        if n < 1:
            raise W2SError(f"source {self.name!r}: batch size must be >= 1; got {n}")
        while self._cursor < self._n and self._used[self._order[self._cursor]]:
            self._cursor += 1
        out = []
        need = int(n)
        i = self._cursor
        while need > 0 and i < self._n:
            block = self._order[i : i + max(need * 2, 1024)]
            free = block[~self._used[block]]
            out.append(free[:need])
            need -= min(need, free.size)
            i += block.size
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)

    def mark_used(self, positions) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= self._n):
            raise W2SError(f"source {self.name!r}: positions out of range 0..{self._n - 1}")
        self._used[positions] = True

    def get(self, positions) -> Batch:
        """The items at ``positions`` as a :class:`Batch` (does not mark them used)."""
        pos = np.asarray(positions, dtype=np.int64)
        # Sorted reads are much faster on memory-mapped files; restore the caller's order after.
        order = np.argsort(pos, kind="stable")
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        sp = pos[order]
        X = None if self.X is None else np.asarray(self.X[sp])[inv]
        records = None if self.records is None else [self.records[int(p)] for p in pos]
        y = None if self.y is None else self.y[pos]
        extras = {k: np.asarray(v[sp])[inv] for k, v in self.extras.items()}
        views = {k: np.asarray(v[sp])[inv] for k, v in self.views.items()}
        for role, cols in self._view_columns.items():
            views[role] = np.asarray(self.X[sp][:, cols])[inv]
        return Batch(self.name, pos, [self.ids[int(p)] for p in pos], X, records, y, extras, views)

    # -- views -----------------------------------------------------------------------------------
    @property
    def view_names(self) -> list:
        """Roles with their own view (the others read ``X`` or the records)."""
        return sorted(set(self.views) | set(self._view_columns))

    def view(self, role: str):
        """The whole pool as the model in ``role`` reads it (see :meth:`Batch.view`)."""
        if role in self.views:
            return self.views[role]
        if role in self._view_columns:
            return np.asarray(self.X[:, self._view_columns[role]])
        if role not in ROLES:
            raise DataError(
                f"source {self.name!r} has no view {role!r}; views: "
                f"{', '.join(sorted(set(ROLES) | set(self.view_names)))}"
            )
        return self.X if self.X is not None else self.records

    def add_views(self, views: dict) -> Source:
        """Attach views (see the class docstring for what a value may be); returns the source."""
        if not isinstance(views, dict):
            raise DataError(
                f"source {self.name!r}: views must be a dict of role -> array, file or columns; "
                f"got {type(views).__name__}"
            )
        if "views" not in self.__dict__:
            self.views, self._view_columns = dict(self.views), dict(self._view_columns)
        for role, value in views.items():
            if not isinstance(role, str) or not role:
                raise DataError(
                    f"source {self.name!r}: a view's role must be a non-empty string; got {role!r}"
                )
            where = f"source {self.name!r}: view {role!r}"
            if isinstance(value, slice) or _is_index_list(value):
                if self.X is None:
                    raise DataError(f"{where} selects columns of X, but this source has no X")
                cols = value if isinstance(value, slice) else np.asarray(value, dtype=np.int64)
                width = self.X.shape[1]
                if not isinstance(cols, slice) and cols.size and (cols.min() < -width or cols.max() >= width):
                    raise DataError(f"{where}: column index out of range for X with {width} columns")
                self._view_columns[role] = cols
                self.views.pop(role, None)
                continue
            if isinstance(value, (list, tuple)) and value and all(isinstance(c, str) for c in value):
                arr = self._columns_of_records(list(value), where)
            elif isinstance(value, (str, os.PathLike)):
                arr = self._array_named(str(value), where)
            else:
                arr = _as_table(value, where)
            if arr.shape[0] != self._n:
                raise DataError(
                    f"{where} has {arr.shape[0]} rows for {self._n} items; "
                    "a view needs one row per item, in the same order"
                )
            self.views[role] = arr
            self._view_columns.pop(role, None)
        return self

    def _columns_of_records(self, columns: list, where: str) -> np.ndarray:
        if self.records is None:
            raise DataError(f"{where} names record keys {columns}, but this source has no records")
        missing = [c for c in columns if c not in self.records[0]]
        if missing:
            raise DataError(
                f"{where}: the records have no key(s) {', '.join(map(repr, missing))}; "
                f"keys: {', '.join(map(str, self.records[0]))}"
            )
        try:
            return np.array([[float(r[c]) for c in columns] for r in self.records], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"{where}: a record lacks a key or has a non-numeric value in it ({exc})"
            ) from None

    def _array_named(self, value: str, where: str):
        """A view given as a string: the name of one of the extras, else a file of any source type."""
        if value in self.extras:
            return _as_table(self.extras[value], where)
        if "://" not in value and not os.path.exists(value):
            extras = f" or one of the arrays {', '.join(self.extras)}" if self.extras else ""
            raise DataError(f"{where}: {value!r} is not an existing file{extras}")
        other = _view_file(value, where)
        default_ids = other.ids == list(range(len(other)))
        same = [str(i) for i in other.ids] == [str(i) for i in self.ids]
        if not default_ids and len(other) == self._n and not same:
            raise DataError(
                f"{where}: {value} lists the items in another order (or with other ids) "
                "than the source; sort it to the source's order"
            )
        return other.X

    def draw(self, n: int) -> Batch:
        """Take the next ``n`` unused items (fewer if the source runs out) and mark them used."""
        pos = self.candidates(n)
        self.mark_used(pos)
        return self.get(pos)

    def state(self) -> dict:
        """Plain-JSON state: which items are used (a compressed bitmask) and the draw order's seed."""
        return {
            "name": self.name,
            "n": self._n,
            "used": _pack_mask(self._used),
            "cursor": int(self._cursor),
            "order_crc": self._order_crc(),
            "order_seed": getattr(self, "order_seed_", None),
            "content_crc": self._content_crc(),
        }

    #: Items whose content the resume fingerprint reads: this many, evenly spaced (cheap for any size).
    CONTENT_SAMPLE = 1024

    def _content_crc(self) -> int | None:
        """Fingerprint of the items' content: the size, and the ids, features and records of a fixed,
        evenly spaced sample of items, so data changed at the same size is caught on resume
        (``None`` when the features cannot be read by position, e.g. a lazy array)."""
        if not hasattr(self, "_content_crc_cache"):
            pos = np.unique(np.linspace(0, self._n - 1, min(self._n, self.CONTENT_SAMPLE)).astype(np.int64))
            ids = [str(self.ids[int(i)]) for i in pos]
            crc = zlib.crc32(f"{self._n}\x1f".encode() + "\x1f".join(ids).encode())
            try:
                if self.X is not None:
                    crc = zlib.crc32(
                        np.ascontiguousarray(np.asarray(self.X[pos]), dtype=np.float64).tobytes(), crc
                    )
                if self.records is not None:
                    rows = [self.records[int(i)] for i in pos]
                    crc = zlib.crc32(json.dumps(rows, sort_keys=True, default=str).encode(), crc)
            except (TypeError, IndexError, ValueError, NotImplementedError):
                crc = None
            self._content_crc_cache = None if crc is None else crc & 0xFFFFFFFF
        return self._content_crc_cache

    def _order_crc(self) -> int:
        """Fingerprint of the draw order, so a resume with a differently seeded source is caught."""
        if not hasattr(self, "_order_crc_cache"):
            self._order_crc_cache = (
                zlib.crc32(np.ascontiguousarray(self._order, dtype=np.int64).tobytes()) & 0xFFFFFFFF
            )
        return self._order_crc_cache

    def load_state(self, state: dict) -> Source:
        if state.get("n") != self._n:
            raise StateError(
                f"source {self.name!r} has {self._n} items but the saved state was for {state.get('n')}; "
                "the data changed since the campaign started"
            )
        saved_seed = state.get("order_seed")
        if getattr(self, "_fresh_seed", False) and saved_seed is not None and saved_seed != self.order_seed_:
            # built without a seed: take the one the saved campaign drew, so the order is the same
            self.order_seed_ = int(saved_seed)
            self._order = check_random_state(self.order_seed_).permutation(self._n)
            self.__dict__.pop("_order_crc_cache", None)
        if state.get("order_crc") is not None and state["order_crc"] != self._order_crc():
            raise StateError(
                f"source {self.name!r} draws in a different order than when the state was saved; "
                "rebuild it with the same shuffle and random_state"
            )
        saved_content, content = state.get("content_crc"), self._content_crc()
        if saved_content is not None and content is not None and saved_content != content:
            raise StateError(
                f"source {self.name!r}: its items changed since the state was saved (same size, other "
                "ids, features or records); resume with the data the run started with"
            )
        self._used = _unpack_mask(state["used"], self._n)
        self._cursor = int(state.get("cursor", 0))
        return self

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_records(
        cls,
        name: str,
        records: Iterable[dict],
        features=None,
        id_key: str | None = None,
        label_key: str | None = None,
        **kwargs,
    ) -> Source:
        """A source from any iterable of dicts; ``features`` names the numeric keys that form ``X``."""
        recs = [dict(r) for r in records]
        if not recs:
            raise DataError(f"source {name!r} is empty: the iterable yielded no records")
        X = None
        if features:
            missing = [f for f in features if f not in recs[0]]
            if missing:
                raise DataError(f"source {name!r}: records have no key(s) {missing}")
            X = np.array([[r[f] for f in features] for r in recs], dtype=np.float64)
        ids = [r[id_key] for r in recs] if id_key else None
        y = np.array([r[label_key] for r in recs]) if label_key else None
        return cls(name, X, records=recs, ids=ids, y=y, **kwargs)

    @classmethod
    def from_path(cls, path, name: str | None = None, type: str | None = None, **params) -> Source:
        """A source from a file or URI: the loader is picked by ``type``, URI scheme or extension.

        Built-in: ``.npy`` (memory-mapped), ``.npz``, ``.csv``, ``.jsonl``; plugins add more.
        """
        path = str(path)
        views = params.pop("views", None)
        loader = loader_for(path, type)
        if type is None and "://" not in path and not os.path.exists(path):
            raise DataError(f"source file {path!r} does not exist")
        if name is None:
            name = os.path.splitext(os.path.basename(path.rstrip("/")))[0] or path
        # shuffle and random_state go only to a loader that takes them (as the hookspec says)
        lib = {k: params.pop(k) for k in ("shuffle", "random_state") if k in params}
        params = {**supported(loader, lib, skip=1), **params}
        _check_loader_params(loader, path, params)
        src = loader(path, name=name, **params)
        return src.add_views(views) if views else src


def _is_index_list(value) -> bool:
    """A list / 1-D array of integers: column indices of X (a named column group)."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and value.dtype.kind in "iu"
    return (
        isinstance(value, (list, tuple))
        and bool(value)
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    )


def _as_table(value, where: str):
    """An (n, d) array; memory-mapped and other lazy arrays (with ``shape``) are kept as they are."""
    if not hasattr(value, "shape"):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{where} must be a numeric (n, d) array ({exc})") from None
    if len(value.shape) != 2:
        raise DataError(f"{where} must be 2-D (n_items, n_features); got shape {tuple(value.shape)}")
    return value


def _view_file(path: str, where: str) -> Source:
    """A view stored in its own file, read by whatever source type its extension names."""
    other = Source.from_path(path, name=f"{where}:{os.path.basename(path)}", shuffle=False)
    if other.X is None:
        raise DataError(f"{where}: {path} holds no numeric columns")
    return other


def _standalone_views(name: str, views: dict):
    """A source given only by views (no X, no records): both roles, files loaded; the item count."""
    if not isinstance(views, dict):
        raise DataError(
            f"source {name!r}: views must be a dict of role -> array or file; got {type(views).__name__}"
        )
    missing = [r for r in ROLES if r not in views]
    if missing:
        raise DataError(
            f"source {name!r}: without X or records, give a view for each of 'weak' and 'strong' "
            f"(missing: {', '.join(missing)})"
        )
    out = {}
    for role, value in views.items():
        where = f"source {name!r}: view {role!r}"
        if isinstance(value, (str, os.PathLike)):
            if "://" not in str(value) and not os.path.exists(str(value)):
                raise DataError(f"{where}: {str(value)!r} is not an existing file")
            value = _view_file(str(value), where).X
        elif (
            isinstance(value, slice)
            or _is_index_list(value)
            or (isinstance(value, (list, tuple)) and value and all(isinstance(c, str) for c in value))
        ):
            raise DataError(f"{where} selects columns, but the source has no X or records to select from")
        out[role] = _as_table(value, where)
    return out, int(out["weak"].shape[0])
