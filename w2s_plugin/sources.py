"""Sources: named pools that hand out batches without replacement and remember what they gave.

A source holds features ``X`` (an array, possibly memory-mapped so the pool never has to fit in
RAM), optional ``records`` (dicts, e.g. text for Label Studio), optional gold labels ``y`` and
any per-item ``extras`` (precomputed probabilities, embeddings, true regions in simulations).
Items are addressed by their position; ``ids`` gives each a stable id that survives restarts.
File types and URI schemes are plugins (``register_sources``); see :meth:`Source.from_path`.
"""

from __future__ import annotations

import base64
import os
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from . import plugins
from ._validation import check_random_state


def loader_for(path: str, type: str | None = None):
    """The registered loader for ``path``: by ``type``, else URI scheme, else the longest matching extension."""
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
        raise ValueError(f"no source type for {path!r}; known extensions: {', '.join(known)} "
                         "(or pass type=..., or register a source plugin)")
    return best[1]


def _check_loader_params(loader, path, params: dict) -> None:
    """A typo in a loader parameter is a ValueError listing what the loader accepts."""
    import difflib
    import inspect

    try:
        sig = inspect.signature(loader)
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    accepted = [n for n in list(sig.parameters)[1:] if n != "name"]
    unknown = [k for k in params if k not in accepted]
    if unknown:
        hints = "".join(f" (did you mean {m[0]!r} for {k!r}?)" for k in unknown
                        for m in [difflib.get_close_matches(k, accepted, 1)] if m)
        raise ValueError(f"source {path!r}: unknown parameter(s) {', '.join(unknown)}{hints}; "
                         f"this source type accepts: {', '.join(accepted)}")


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

    def __len__(self) -> int:
        return int(self.positions.size)

    def view(self, role: str):
        """What the ``role`` model (``"weak"`` or ``"strong"``) reads for these items: the feature
        matrix ``X``, or the records when there is no ``X``."""
        if role not in ("weak", "strong"):
            raise ValueError(f"Batch.view: role must be 'weak' or 'strong'; got {role!r}")
        return self.X if self.X is not None else self.records

    def subset(self, keep) -> "Batch":
        """The batch restricted to items ``keep`` (indices into it)."""
        keep = np.asarray(keep, dtype=np.int64)
        pick = (lambda v: None if v is None else (v[keep] if hasattr(v, "shape") else [v[i] for i in keep]))
        return Batch(self.source, self.positions[keep], [self.ids[i] for i in keep], pick(self.X),
                     pick(self.records), pick(self.y), {k: pick(v) for k, v in self.extras.items()})


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
    shuffle : bool
        Draw in a seeded random order (default) or in file order.
    random_state : int or None
        Seeds the draw order. With ``None`` a fresh seed is drawn and saved in :meth:`state`, so a
        resumed campaign continues in the same order without the user having to pick a seed.
    """

    def __init__(self, name: str, X=None, *, records=None, ids=None, y=None, extras: dict | None = None,
                 shuffle: bool = True, random_state=None, meta: dict | None = None):
        if not isinstance(name, str) or not name:
            raise ValueError("a Source needs a non-empty string name")
        if X is None and records is None:
            raise ValueError(f"source {name!r}: give features X, records, or both")
        if X is not None:
            if not hasattr(X, "shape"):
                try:
                    X = np.asarray(X, dtype=np.float64)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"source {name!r}: X must be a numeric (n, d) array ({exc})") from None
            if len(X.shape) != 2:
                raise ValueError(f"source {name!r}: X must be 2-D (n_items, n_features); got shape {tuple(X.shape)}")
        n = X.shape[0] if X is not None else len(records)
        if records is not None and len(records) != n:
            raise ValueError(f"source {name!r}: {len(records)} records but X has {n} rows")
        if n == 0:
            raise ValueError(f"source {name!r} is empty: it has no items to draw")
        self.name = name
        self.X = X
        self.records = records
        self.ids = list(range(n)) if ids is None else list(ids)
        if len(self.ids) != n:
            raise ValueError(f"source {name!r}: {len(self.ids)} ids for {n} items")
        if len(set(self.ids)) != n:
            raise ValueError(f"source {name!r}: ids must be unique")
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and self.y.shape[0] != n:
            raise ValueError(f"source {name!r}: y has {self.y.shape[0]} labels for {n} items")
        self.extras = {}
        for key, arr in (extras or {}).items():
            if len(arr) != n:
                raise ValueError(f"source {name!r}: extras[{key!r}] has {len(arr)} rows for {n} items")
            self.extras[key] = arr
        self.shuffle = shuffle
        self.random_state = random_state
        self.meta = dict(meta or {})
        self._n = n
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
        return f"Source({self.name!r}, n={self._n}, remaining={self.n_remaining})"

    @property
    def n_remaining(self) -> int:
        return int(self._n - self._used.sum())

    @property
    def exhausted(self) -> bool:
        return self.n_remaining == 0

    @property
    def n_features(self) -> int | None:
        return None if self.X is None else int(self.X.shape[1])

    def candidates(self, n: int) -> np.ndarray:
        """Positions of the next ``n`` unused items in draw order, without using them."""
        if n < 1:
            raise ValueError(f"source {self.name!r}: batch size must be >= 1; got {n}")
        while self._cursor < self._n and self._used[self._order[self._cursor]]:
            self._cursor += 1
        out = []
        need = int(n)
        i = self._cursor
        while need > 0 and i < self._n:
            block = self._order[i:i + max(need * 2, 1024)]
            free = block[~self._used[block]]
            out.append(free[:need])
            need -= min(need, free.size)
            i += block.size
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)

    def mark_used(self, positions) -> None:
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= self._n):
            raise ValueError(f"source {self.name!r}: positions out of range 0..{self._n - 1}")
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
        return Batch(self.name, pos, [self.ids[int(p)] for p in pos], X, records, y, extras)

    def draw(self, n: int) -> Batch:
        """Take the next ``n`` unused items (fewer if the source runs out) and mark them used."""
        pos = self.candidates(n)
        self.mark_used(pos)
        return self.get(pos)

    def state(self) -> dict:
        """Plain-JSON state: which items are used (a compressed bitmask) and the draw order's seed."""
        return {"name": self.name, "n": self._n, "used": _pack_mask(self._used), "cursor": int(self._cursor),
                "order_crc": self._order_crc(), "order_seed": getattr(self, "order_seed_", None)}

    def _order_crc(self) -> int:
        """Fingerprint of the draw order, so a resume with a differently seeded source is caught."""
        if not hasattr(self, "_order_crc_cache"):
            self._order_crc_cache = zlib.crc32(np.ascontiguousarray(self._order, dtype=np.int64).tobytes()) & 0xFFFFFFFF
        return self._order_crc_cache

    def load_state(self, state: dict) -> "Source":
        if state.get("n") != self._n:
            raise ValueError(f"source {self.name!r} has {self._n} items but the saved state was for {state.get('n')}; "
                             "the data changed since the campaign started")
        saved_seed = state.get("order_seed")
        if getattr(self, "_fresh_seed", False) and saved_seed is not None and saved_seed != self.order_seed_:
            # built without a seed: take the one the saved campaign drew, so the order is the same
            self.order_seed_ = int(saved_seed)
            self._order = check_random_state(self.order_seed_).permutation(self._n)
            self.__dict__.pop("_order_crc_cache", None)
        if state.get("order_crc") is not None and state["order_crc"] != self._order_crc():
            raise ValueError(f"source {self.name!r} draws in a different order than when the state was saved; "
                             "rebuild it with the same shuffle and random_state")
        self._used = _unpack_mask(state["used"], self._n)
        self._cursor = int(state.get("cursor", 0))
        return self

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_records(cls, name: str, records: Iterable[dict], features=None, id_key: str | None = None,
                     label_key: str | None = None, **kwargs) -> "Source":
        """A source from any iterable of dicts; ``features`` names the numeric keys that form ``X``."""
        recs = [dict(r) for r in records]
        if not recs:
            raise ValueError(f"source {name!r} is empty: the iterable yielded no records")
        X = None
        if features:
            missing = [f for f in features if f not in recs[0]]
            if missing:
                raise ValueError(f"source {name!r}: records have no key(s) {missing}")
            X = np.array([[r[f] for f in features] for r in recs], dtype=np.float64)
        ids = [r[id_key] for r in recs] if id_key else None
        y = np.array([r[label_key] for r in recs]) if label_key else None
        return cls(name, X, records=recs, ids=ids, y=y, **kwargs)

    @classmethod
    def from_path(cls, path, name: str | None = None, type: str | None = None, **params) -> "Source":
        """A source from a file or URI: the loader is picked by ``type``, URI scheme or extension.

        Built-in: ``.npy`` (memory-mapped), ``.npz``, ``.csv``, ``.jsonl``; plugins add more.
        """
        path = str(path)
        loader = loader_for(path, type)
        if type is None and "://" not in path and not os.path.exists(path):
            raise ValueError(f"source file {path!r} does not exist")
        if name is None:
            name = os.path.splitext(os.path.basename(path.rstrip("/")))[0] or path
        _check_loader_params(loader, path, params)
        return loader(path, name=name, **params)
