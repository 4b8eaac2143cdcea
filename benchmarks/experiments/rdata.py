"""A small reader for the ``.rda`` files that R data packages ship (Debian ``r-cran-*``).

Enough of R's XDR serialization format (versions 2 and 3) to read data frames of numeric, integer,
logical, character and factor columns, so the real-data studies can use datasets that arrive with
``apt-get install r-cran-mlbench r-cran-kernlab`` without R itself. Not a general R reader:
closures, environments with contents and bytecode raise :class:`~w2s_plugin.errors.DataError`.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct

import numpy as np

from w2s_plugin.errors import DataError

#: Where Debian installs R packages' data.
R_LIBRARY_DIRS = ("/usr/lib/R/site-library", "/usr/lib/R/library", "/usr/local/lib/R/site-library")

_NA_INT = -(2**31)
_NIL, _GLOBALENV, _EMPTYENV, _BASEENV, _REF, _ALTREP = 254, 253, 242, 241, 255, 238
_SPECIAL = {252: None, 251: None, 250: None}


class _Reader:
    def __init__(self, data: bytes):
        self.b, self.i, self.refs = data, 0, []

    def int(self) -> int:
        v = struct.unpack_from(">i", self.b, self.i)[0]
        self.i += 4
        return v

    def length(self) -> int:
        n = self.int()
        if n == -1:
            hi, lo = self.int(), self.int()
            n = (hi << 32) + lo
        return n

    def array(self, fmt: str, n: int) -> np.ndarray:
        size = np.dtype(fmt).itemsize * n
        out = np.frombuffer(self.b, dtype=fmt, count=n, offset=self.i).copy()
        self.i += size
        return out

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        has_attr, has_tag = bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if t == _NIL or t in (_GLOBALENV, _EMPTYENV, _BASEENV) or t in _SPECIAL:
            return None
        if t == _REF:
            k = flags >> 8
            return self.refs[(k if k else self.int()) - 1]
        if t == 1:  # SYMSXP
            name = self.item()
            self.refs.append(_Sym(name))
            return self.refs[-1]
        if t in (2, 6, 17):  # LISTSXP, LANGSXP, DOTSXP: a pairlist
            out = {}
            attr = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item()
            out[tag.name if isinstance(tag, _Sym) else len(out)] = car
            if isinstance(cdr, dict):
                for k, v in cdr.items():
                    out[k if not isinstance(k, int) else len(out)] = v
            del attr
            return out
        if t == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            s = self.b[self.i : self.i + n].decode("utf-8", errors="replace")
            self.i += n
            return s
        if t == 4:  # ENVSXP
            self.int()
            env = {}
            self.refs.append(env)
            self.item()
            frame = self.item()
            hashtab = self.item()
            self.item()  # noqa: E702
            for part in (frame, hashtab):
                if isinstance(part, dict):
                    env.update(part)
            return env
        if t == _ALTREP:
            info, state, attr = self.item(), self.item(), self.item()
            cls = next(iter(info.values())).name if isinstance(info, dict) else ""
            if cls in ("compact_intseq", "compact_realseq"):
                n, start, step = (float(v) for v in state[:3])
                val = start + step * np.arange(int(n))
                val = val.astype(np.int64) if cls == "compact_intseq" else val
            elif cls.startswith("wrap_"):
                val = next(iter(state.values())) if isinstance(state, dict) else state
            elif cls == "deferred_string":
                val = np.asarray([str(v) for v in np.asarray(next(iter(state.values())))], dtype=object)
            else:
                raise DataError(f"unsupported ALTREP class {cls!r} in an .rda file")
            return _with_attrs(val, attr)
        if t in (10, 13):  # LGLSXP, INTSXP
            v = self.array(">i4", self.length()).astype(np.int64)
            val = np.where(v == _NA_INT, -1, v) if t == 13 else v
            val = _RInt(val, v == _NA_INT)
        elif t == 14:  # REALSXP
            val = self.array(">f8", self.length()).astype(np.float64)
        elif t == 15:  # CPLXSXP
            v = self.array(">f8", 2 * self.length())
            val = v[0::2] + 1j * v[1::2]
        elif t == 16:  # STRSXP
            val = np.asarray([self.item() for _ in range(self.length())], dtype=object)
        elif t in (19, 20):  # VECSXP, EXPRSXP
            val = [self.item() for _ in range(self.length())]
        else:
            raise DataError(f"unsupported R object type {t} in an .rda file (only data objects are read)")
        return _with_attrs(val, self.item() if has_attr else None)


class _Sym:
    def __init__(self, name):
        self.name = name


class _RInt:
    """An R integer/logical vector before its attributes say whether it is a factor."""

    def __init__(self, values, na):
        self.values, self.na = values, na


def _with_attrs(val, attr):
    attr = attr if isinstance(attr, dict) else {}
    cls = attr.get("class")
    cls = list(cls) if cls is not None else []
    if isinstance(val, _RInt):
        if "factor" in cls and attr.get("levels") is not None:
            levels = np.asarray(attr["levels"], dtype=object)
            codes = val.values - 1
            return RFactor(np.where(val.na, -1, codes), levels)
        val = val.values
    if "data.frame" in cls and isinstance(val, list):
        names = [str(n) for n in attr.get("names", [])]
        return dict(zip(names, val))
    if isinstance(val, list) and attr.get("names") is not None:
        return dict(zip([str(n) for n in attr["names"]], val))
    if isinstance(val, np.ndarray) and attr.get("dim") is not None:
        dim = [
            int(d) for d in np.asarray(attr["dim"].values if isinstance(attr["dim"], _RInt) else attr["dim"])
        ]
        val = val.reshape(dim[::-1]).T  # R is column-major
    return val


class RFactor:
    """A factor column: integer ``codes`` (-1 for NA) into ``levels``."""

    def __init__(self, codes, levels):
        self.codes, self.levels = codes, levels

    def labels(self) -> np.ndarray:
        return np.where(self.codes >= 0, self.levels[np.maximum(self.codes, 0)], None)


def _decompress(raw: bytes, path: str) -> bytes:
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw)
    if raw[:3] == b"BZh":
        return bz2.decompress(raw)
    if raw[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(raw)
    if raw[:4] in (b"RDX2", b"RDX3"):
        return raw
    raise DataError(f"{path}: not an .rda file (unknown compression)")


def read_rda(path: str) -> dict:
    """Every object saved in the ``.rda`` file at ``path``: {name: value}. Data frames come back as
    {column: array or :class:`RFactor`}; matrices as 2-D arrays."""
    with open(path, "rb") as fh:
        data = _decompress(fh.read(), path)
    if data[:5] not in (b"RDX2\n", b"RDX3\n") or data[5:7] != b"X\n":
        raise DataError(f"{path}: only XDR .rda files (RDX2/RDX3) are read")
    r = _Reader(data)
    r.i = 7
    version = r.int()
    r.int(), r.int()
    if version == 3:
        n = r.int()
        r.i += n
    out = r.item()
    if not isinstance(out, dict):
        raise DataError(f"{path}: expected a list of saved objects")
    return out


def find_rda(package: str, name: str) -> str:
    """Path of ``<package>/data/<name>.rda`` in the R library, or a DataError saying what to install."""
    for d in R_LIBRARY_DIRS:
        p = os.path.join(d, package, "data", f"{name}.rda")
        if os.path.exists(p):
            return p
    raise DataError(
        f"R dataset {package}::{name} not found in {', '.join(R_LIBRARY_DIRS)}; install it with "
        f"apt-get install r-cran-{package.lower()} (Debian/Ubuntu)"
    )


def load_data_frame(package: str, name: str) -> tuple[np.ndarray, np.ndarray, list]:
    """``(X, y, feature_names)`` from an R data frame whose last factor column is the class: numeric
    (and factor, as codes) columns become X, the class factor's labels become y (strings)."""
    df = read_rda(find_rda(package, name))[name]
    cols = list(df.items())
    target = max(i for i, (_, v) in enumerate(cols) if isinstance(v, RFactor))
    y = cols[target][1].labels()
    feats, names = [], []
    for i, (k, v) in enumerate(cols):
        if i == target:
            continue
        feats.append(
            v.codes.astype(np.float64) if isinstance(v, RFactor) else np.asarray(v, dtype=np.float64)
        )
        names.append(k)
    return np.column_stack(feats), np.asarray(y).astype(str), names
