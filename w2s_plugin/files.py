"""Reading arrays a user hands the command line: .npy (memory-mapped), .npz and delimited text."""

from __future__ import annotations

import os

import numpy as np

from .errors import DataError


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def load_array(path: str, what: str) -> np.ndarray:
    """Load ``path`` as a numeric array; ``what`` names it in errors ("proba", "embeddings", ...).

    ``.npy`` stays memory-mapped so a pool larger than RAM is read in chunks; CSV/TSV may have a
    header row, which is skipped.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} file {path!r} does not exist")
    if path.endswith((".npy", ".npz")):
        check_numpy_file(path, what)
    if path.endswith(".npy"):
        return np.load(path, mmap_mode="r")
    if path.endswith(".npz"):
        with np.load(path) as z:
            if not z.files:
                raise DataError(f"{what} file {path!r} holds no arrays")
            return z[z.files[0]]
    if path.endswith((".csv", ".txt", ".tsv")):
        delim = "\t" if path.endswith(".tsv") else ","
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
        skip = 0 if all(_is_number(c) for c in first.strip().split(delim)) else 1
        try:
            return np.loadtxt(path, delimiter=delim, skiprows=skip, ndmin=2 if what == "embeddings" else 1)
        except ValueError as exc:
            raise DataError(f"{what} file {path!r} is not a numeric table: {exc}") from None
    raise DataError(f"{what} file {path!r}: use .npy, .npz or .csv")


#: How every .npy file and every .npz (zip) archive starts.
_MAGIC = {".npy": (b"\x93NUMPY",), ".npz": (b"PK\x03\x04", b"PK\x05\x06")}


def check_numpy_file(path: str, what: str) -> None:
    """A file named .npy/.npz that is not one (a CSV renamed, a text dump) is a one-line DataError:
    numpy would take it for a pickle and say it "contains pickled (object) data"."""
    ext = ".npz" if str(path).lower().endswith(".npz") else ".npy"
    with open(path, "rb") as fh:
        head = fh.read(6)
    if not head.startswith(_MAGIC[ext]):
        kind = "a NumPy .npy array" if ext == ".npy" else "a NumPy .npz archive"
        saver = "numpy.save" if ext == ".npy" else "numpy.savez"
        raise DataError(
            f"{what} file {path!r} is not {kind} (it lacks the {ext} header); "
            f"write it with {saver}, or give a .csv"
        )
