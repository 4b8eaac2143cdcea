"""Input checks that turn user mistakes into a DataError (a W2SError) saying what to fix (public:
plugins check their inputs with the same functions).

A user who passes NaN, a transposed array or logits instead of probabilities should read one
sentence about their input, never a traceback from deep inside numpy.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError, W2SError

__all__ = ["PROBA_SUM_ATOL", "check_embeddings", "check_proba", "check_random_state"]

#: Rows of a probability matrix must sum to 1 within this tolerance.
PROBA_SUM_ATOL = 1e-3
_CHECK_CHUNK = 1 << 16


def _first_bad(mask: np.ndarray, limit: int = 5) -> str:
    idx = np.flatnonzero(mask)[:limit]
    more = " ..." if mask.sum() > limit else ""
    return ", ".join(str(int(i)) for i in idx) + more


def check_proba(proba, name: str = "proba", min_rows: int = 1) -> np.ndarray:
    """Return an ``(n, k)`` float64 probability matrix, or raise DataError naming the problem.

    Accepts a 1-D array of p(class 1) for binary tasks, or an ``(n, k)`` matrix whose rows sum to 1.
    """
    try:
        P = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{name} must be a numeric array of probabilities; could not convert it ({exc})."
        ) from None
    if P.ndim == 0:
        raise DataError(f"{name} must be a 1-D array of p(class 1) or an (n, k) matrix, got a scalar.")
    if P.ndim == 1:
        P = np.column_stack([1.0 - P, P]) if P.size else P.reshape(0, 2)
        binary_vector = True
    elif P.ndim == 2:
        binary_vector = False
    else:
        raise DataError(f"{name} must be 1-D (binary p(class 1)) or 2-D (n, k); got shape {P.shape}.")
    if P.shape[0] < min_rows:
        if P.shape[0] == 0:
            raise DataError(f"{name} is empty: pass at least {min_rows} point(s).")
        raise DataError(
            f"{name} has {P.shape[0]} point(s); at least {min_rows} are needed to fit thresholds."
        )
    if P.shape[1] < 2:
        raise DataError(
            f"{name} has shape {P.shape}: it needs one column per class (at least 2). "
            "For a binary task pass a 1-D array of p(class 1) or an (n, 2) matrix."
        )
    # Fast path: two reductions without temporaries (NaN propagates through min/max); the per-row
    # masks that name the bad rows are built only when something is wrong.
    lo, hi = (P.min(), P.max()) if P.size else (0.0, 0.0)
    finite = np.isfinite(P).all(axis=1) if not (np.isfinite(lo) and np.isfinite(hi)) else None
    if finite is not None and not finite.all():
        raise DataError(
            f"{name} contains NaN or inf in rows {_first_bad(~finite)}; every probability must be finite."
        )
    bad = ((P < 0) | (P > 1)).any(axis=1) if (lo < 0 or hi > 1) else None
    if bad is not None and bad.any():
        raise DataError(
            f"{name} has values outside [0, 1] in rows {_first_bad(bad)}; pass probabilities "
            "(e.g. predict_proba or a softmax), not logits or decision scores."
        )
    if not binary_vector:
        off = np.abs(P.sum(axis=1) - 1.0) > PROBA_SUM_ATOL
        if off.any() and P.shape[1] > P.shape[0] and (np.abs(P.sum(axis=0) - 1.0) <= PROBA_SUM_ATOL).all():
            raise DataError(
                f"{name} has shape {P.shape}, one row per class and one column per point: it is transposed; "
                f"pass it as ({P.shape[1]}, {P.shape[0]}), one row per point (e.g. {name}.T)."
            )
        if off.any():
            raise DataError(
                f"{name} rows {_first_bad(off)} do not sum to 1 (tolerance {PROBA_SUM_ATOL}); "
                "pass a probability per class, e.g. the output of predict_proba."
            )
    return P


def check_embeddings(
    embeddings,
    n_rows: int | None = None,
    name: str = "embeddings",
    allow_zero_rows: bool = False,
    check_constant: bool = True,
) -> np.ndarray:
    """Return a 2-D float array (memory-mapped arrays stay memory-mapped), or raise DataError.

    Checks are streamed in chunks so a pool larger than memory is never copied.
    """
    if isinstance(embeddings, np.ndarray):
        E = embeddings
        if E.dtype.kind not in "fiu":
            try:
                E = E.astype(np.float64)
            except (TypeError, ValueError):
                raise DataError(f"{name} must be numeric; got dtype {embeddings.dtype}.") from None
    else:
        try:
            E = np.asarray(embeddings, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{name} must be a numeric (n, d) array; could not convert it ({exc}).") from None
    if E.dtype.kind in "iu":
        E = E.astype(np.float64)
    if E.ndim == 1:
        raise DataError(
            f"{name} must be 2-D (n_points, n_features); got a 1-D array of length {E.shape[0]}. "
            "Use x.reshape(-1, 1) for a single feature."
        )
    if E.ndim != 2:
        raise DataError(f"{name} must be 2-D (n_points, n_features); got shape {E.shape}.")
    if E.shape[0] == 0:
        raise DataError(f"{name} is empty: pass at least one point.")
    if E.shape[1] == 0:
        raise DataError(f"{name} has no features (shape {E.shape}).")
    if n_rows is not None and E.shape[0] != n_rows:
        raise DataError(
            f"{name} has {E.shape[0]} rows but the probabilities have {n_rows}: pass one row per point, in "
            "the same order."
        )
    first = np.asarray(E[0])
    constant = E.shape[0] > 1
    for start in range(0, E.shape[0], _CHECK_CHUNK):
        chunk = np.asarray(E[start : start + _CHECK_CHUNK])
        finite = np.isfinite(chunk).all(axis=1)
        if not finite.all():
            rows = ", ".join(str(int(i) + start) for i in np.flatnonzero(~finite)[:5])
            raise DataError(f"{name} contains NaN or inf in rows {rows}; clean or drop those points.")
        if not allow_zero_rows:
            zero = ~chunk.any(axis=1)
            if zero.any():
                rows = ", ".join(str(int(i) + start) for i in np.flatnonzero(zero)[:5])
                raise DataError(
                    f"{name} has all-zero rows ({rows}); a zero vector has no direction, so its cosine "
                    "similarity is undefined. Drop those points or use a representation without zero vectors."
                )
        if constant and check_constant and not (chunk == first).all():
            constant = False
    if constant and check_constant:
        raise DataError(
            f"{name} are constant: all {E.shape[0]} rows are identical, so no point can be told apart from "
            "another. Check that the representation was computed per point."
        )
    return E


def check_random_state(random_state) -> np.random.Generator:
    """A numpy Generator from None, an int, a Generator or a RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    raise W2SError(
        f"random_state must be None, an int or a numpy Generator; got {type(random_state).__name__}."
    )
