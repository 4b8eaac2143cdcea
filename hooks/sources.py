"""Built-in source types: .npy (memory-mapped), .npz, .csv and .jsonl files."""

from __future__ import annotations

import csv
import json

import numpy as np

from w2s_plugin.errors import DataError
from w2s_plugin.files import check_numpy_file
from w2s_plugin.hookspecs import hookimpl
from w2s_plugin.sources import Source

# Every loader names its parameters (no **kwargs), so a typo in a config file's ``params`` or in
# ``Source.from_path(..., id_colum=...)`` is an error instead of a silently ignored key.


def load_npy(path, name, labels=None, shuffle=True, random_state=None, meta=None):
    """A 2-D .npy array of features, memory-mapped: the pool is read a batch at a time.
    ``labels``: an .npy of gold labels, one per row."""
    check_numpy_file(path, f"source {name!r}:")
    X = np.load(path, mmap_mode="r")
    if X.ndim != 2:
        raise DataError(
            f"source {name!r}: {path} holds an array of shape {X.shape}; expected (n_items, n_features)"
        )
    if labels:
        check_numpy_file(labels, f"source {name!r}: labels")
    y = np.load(labels) if labels else None
    return Source(name, X, y=y, shuffle=shuffle, random_state=random_state, meta=meta)


def load_npz(path, name, x_key: str = "X", shuffle=True, random_state=None, meta=None):
    """An .npz archive: ``X`` (features), optional ``y`` and ``ids``; every other array with one row
    per item becomes an extra (e.g. ``proba``, ``embeddings``, ``regions``). An archive with arrays
    ``weak`` and ``strong`` and no ``X`` is a two-view source: each model reads its own array."""
    check_numpy_file(path, f"source {name!r}:")
    with np.load(path, allow_pickle=False) as z:
        if x_key == "X" and "X" not in z.files and {"weak", "strong"} <= set(z.files):
            views = {"weak": z["weak"], "strong": z["strong"]}
            y = z["y"] if "y" in z.files else None
            ids = z["ids"].tolist() if "ids" in z.files else None
            return Source(
                name, views=views, y=y, ids=ids, shuffle=shuffle, random_state=random_state, meta=meta
            )
        if x_key not in z.files:
            raise DataError(f"source {name!r}: {path} has no array {x_key!r} (it has {', '.join(z.files)})")
        X = z[x_key]
        n = X.shape[0] if X.ndim else 0
        y = z["y"] if "y" in z.files else None
        ids = z["ids"].tolist() if "ids" in z.files else None
        extras = {
            k: z[k] for k in z.files if k not in (x_key, "y", "ids") and z[k].ndim >= 1 and z[k].shape[0] == n
        }
    return Source(name, X, y=y, ids=ids, extras=extras, shuffle=shuffle, random_state=random_state, meta=meta)


def _numeric(value) -> bool:
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def _from_rows(name, rows, features, id_column, label_column, params, where):
    if not rows:
        raise DataError(f"source {name!r}: {where} has no rows")
    # A column literally named "id" / "label" is the item id / gold label unless told otherwise:
    # a numeric id silently used as a feature would poison every score.
    if id_column is None and "id" in rows[0]:
        id_column = "id"
    if label_column is None and "label" in rows[0]:
        label_column = "label"
    for what, col in (("id_column", id_column), ("label_column", label_column)):
        if col is not None and col not in rows[0]:
            raise DataError(
                f"source {name!r}: {where} has no column {col!r} ({what}); columns: {', '.join(rows[0])}"
            )
    if features is None:
        skip = {id_column, label_column}
        features = [k for k, v in rows[0].items() if k not in skip and _numeric(v)]
    X = None
    if features:
        try:
            X = np.array([[float(r[f]) for f in features] for r in rows], dtype=np.float64)
        except KeyError as exc:
            raise DataError(f"source {name!r}: {where} has a row without column {exc}") from None
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"source {name!r}: {where} has a non-numeric value in a feature column ({exc})"
            ) from None
    ids = [r[id_column] for r in rows] if id_column else None
    y = np.array([r[label_column] for r in rows]) if label_column else None
    return Source(name, X, records=rows, ids=ids, y=y, **params)


def load_csv(
    path, name, features=None, id_column=None, label_column=None, shuffle=True, random_state=None, meta=None
):
    """A CSV file with a header; ``features`` (default: every numeric column but id and label) form X.
    ``id_column`` / ``label_column`` default to columns named ``id`` / ``label`` when present."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    kw = {"shuffle": shuffle, "random_state": random_state, "meta": meta}
    return _from_rows(name, rows, features, id_column, label_column, kw, path)


def load_jsonl(
    path, name, features=None, id_column=None, label_column=None, shuffle=True, random_state=None, meta=None
):
    """JSON Lines, one object per item; like CSV, ``features`` name the numeric keys that form X."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(
                        f"source {name!r}: {path} line {lineno} is not valid JSON ({exc.msg})"
                    ) from None
    kw = {"shuffle": shuffle, "random_state": random_state, "meta": meta}
    return _from_rows(name, rows, features, id_column, label_column, kw, path)


@hookimpl
def register_sources(register):
    register("npy", load_npy, extensions=(".npy",))
    register("npz", load_npz, extensions=(".npz",))
    register("csv", load_csv, extensions=(".csv",))
    register("jsonl", load_jsonl, extensions=(".jsonl", ".ndjson"))
