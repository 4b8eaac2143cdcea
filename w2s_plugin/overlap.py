"""The math of overlap detection, in one place.

Everything here is plain numpy on validated arrays: weak-model confidence, the exact single L2
change point, and the overlap scores (chunked so that no N x N matrix is ever built). The
detector (``detector.py``) wires these together; the built-in plugins (``hooks/``) expose them by
name. Input checking lives in ``_validation.py``; these functions assume clean input.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "weak_confidence",
    "change_point_threshold",
    "change_point_index",
    "split_cost",
    "row_norms",
    "max_abs_cosine",
    "max_inner_product",
    "gram_matrix",
    "subspace_basis",
    "subspace_scores",
    "DEFAULT_CHUNK_ELEMENTS",
]

#: How many float64 elements one chunk of a (chunk x n_reference) similarity block may hold.
#: 4M elements = 32 MiB: large enough for BLAS to run at full speed, small enough to stream.
DEFAULT_CHUNK_ELEMENTS = 1 << 22


def weak_confidence(proba) -> np.ndarray:
    """Confidence of the weak model per point.

    Binary: ``2 * |p - 0.5|`` where ``p`` is the probability of class 1 (a 1-D array of ``p`` or
    an ``(n, 2)`` array). ``k`` classes: the margin between the two largest probabilities, which
    equals the binary formula when ``k = 2`` (``p - (1 - p) = 2p - 1``).
    """
    from ._validation import check_proba

    P = check_proba(proba)
    if P.shape[1] == 2:
        return np.abs(P[:, 1] - P[:, 0])
    top2 = np.partition(P, P.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def split_cost(sorted_values: np.ndarray, k: int) -> float:
    """Summed within-segment squared error of splitting ``sorted_values`` into ``[:k]`` and ``[k:]``."""
    v = np.asarray(sorted_values, dtype=np.float64)
    left, right = v[:k], v[k:]
    cost = 0.0
    if left.size:
        cost += float(((left - left.mean()) ** 2).sum())
    if right.size:
        cost += float(((right - right.mean()) ** 2).sum())
    return cost


def change_point_index(sorted_values: np.ndarray, min_size: int = 1) -> int | None:
    """Index ``k`` of the optimal single L2 split of already-sorted values, or ``None``.

    The cost of a split at ``k`` is ``SSE(v[:k]) + SSE(v[k:])``. With prefix sums ``S1`` (values)
    and ``S2`` (squares), ``SSE(v[:k]) = S2[k] - S1[k]^2 / k``, so every split is scored at once
    in O(n). Since ``sum(v^2)`` is the same for every split, minimising the cost is maximising
    ``S1[k]^2/k + (S1[n]-S1[k])^2/(n-k)``: Otsu's between-class criterion on 1-D data.

    Only splits between two *distinct* values are candidates, so equal values always land on the
    same side (a 1-D two-means optimum never needs to separate ties, so nothing is lost). Returns
    ``None`` when no candidate exists: fewer than ``2 * min_size`` values, or all values equal.
    """
    v = np.asarray(sorted_values, dtype=np.float64)
    n = v.size
    if n < 2 * max(1, min_size):
        return None
    # Centre first: the prefix-sum formula loses precision when values are far from zero.
    v = v - v.mean()
    s1 = np.cumsum(v)
    total = s1[-1]
    k = np.arange(1, n, dtype=np.float64)  # split after position k-1, i.e. left = v[:k]
    left = s1[:-1]
    gain = left * left / k + (total - left) ** 2 / (n - k)
    valid = v[1:] > v[:-1]
    if min_size > 1:
        valid[: min_size - 1] = False
        valid[n - min_size:] = False
    if not valid.any():
        return None
    gain = np.where(valid, gain, -np.inf)
    return int(np.argmax(gain)) + 1


def change_point_threshold(values, min_size: int = 1) -> float:
    """Threshold at the single L2 change point of the sorted ``values``.

    The threshold is the midpoint between the last value of the lower segment and the first value
    of the upper one, so ``values >= threshold`` is exactly the upper segment and a new value is
    assigned to the nearer side.

    Relation to the reference: ``ruptures.Binseg(model="l2").fit(sorted).predict(n_bkps=1)``
    minimises the same cost, but its default grid (``jump=5``, ``min_size=2``) only tries splits at
    multiples of 5, so it can land up to 4 positions from this exact optimum. The criterion is
    Otsu's threshold computed on the raw values instead of a histogram.

    Rule for degenerate input (documented, never a crash): with fewer than ``2 * min_size`` values,
    or when all values are equal, there is no split; the threshold is then the minimum value, so
    every point falls on the upper side. An empty input gives ``nan``.
    """
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if v.size == 0:
        return float("nan")
    if not np.isfinite(v).all():
        raise ValueError("change_point_threshold: values contain NaN or inf; drop or impute them first.")
    k = change_point_index(v, min_size=min_size)
    if k is None:
        return float(v[0])
    return float((v[k - 1] + v[k]) / 2.0)


def row_norms(X: np.ndarray) -> np.ndarray:
    """Euclidean norm of every row, in float64, without squaring a copy of the whole array."""
    X = np.asarray(X)
    return np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))


def _chunk_rows(n_rows: int, n_cols: int, chunk_elements: int) -> int:
    return int(max(1, min(n_rows, chunk_elements // max(1, n_cols))))


def max_abs_cosine(X: np.ndarray, reference: np.ndarray, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> np.ndarray:
    """``max_h |cos(x, h)|`` for every row ``x`` of ``X`` over the rows ``h`` of ``reference``.

    The paper's overlap score. Exact, streamed over ``X`` in chunks so that memory stays
    O(chunk x n_reference) and the full similarity matrix is never built.
    """
    R = np.asarray(reference, dtype=np.float64)
    R = R / row_norms(R)[:, None]
    n = X.shape[0]
    out = np.empty(n, dtype=np.float64)
    step = _chunk_rows(n, R.shape[0], chunk_elements)
    for start in range(0, n, step):
        chunk = np.asarray(X[start:start + step], dtype=np.float64)
        sims = chunk @ R.T
        np.abs(sims, out=sims)
        out[start:start + step] = sims.max(axis=1) / row_norms(chunk)
    return out


def max_inner_product(X: np.ndarray, reference: np.ndarray, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> np.ndarray:
    """``max_h <x, h>``: the raw inner product the reference's data-selection code uses (no norm, no abs)."""
    R = np.asarray(reference, dtype=np.float64)
    n = X.shape[0]
    out = np.empty(n, dtype=np.float64)
    step = _chunk_rows(n, R.shape[0], chunk_elements)
    for start in range(0, n, step):
        chunk = np.asarray(X[start:start + step], dtype=np.float64)
        out[start:start + step] = (chunk @ R.T).max(axis=1)
    return out


def gram_matrix(X: np.ndarray, rows: np.ndarray | None = None, chunk_rows: int = 16384) -> tuple[np.ndarray, int]:
    """``sum_i x_i^T x_i / |x_i|^2`` over the (selected) rows, and how many rows went in.

    The Gram matrix of unit-normalised rows is mergeable (sums over chunks, partitions or rounds),
    which is what lets the subspace scorer stream, accumulate history and run on Dask.
    """
    d = X.shape[1]
    G = np.zeros((d, d), dtype=np.float64)
    idx = np.arange(X.shape[0]) if rows is None else np.asarray(rows)
    for start in range(0, idx.size, chunk_rows):
        sel = idx[start:start + chunk_rows]
        chunk = np.asarray(X[sel], dtype=np.float64)
        chunk /= row_norms(chunk)[:, None]
        G += chunk.T @ chunk
    return G, int(idx.size)


def subspace_basis(gram: np.ndarray, n_components: int | None = None, variance: float = 0.9) -> np.ndarray:
    """Top right singular vectors of the unit-normalised hard-only embeddings, from their Gram matrix.

    ``n_components`` fixes the rank; otherwise the smallest rank whose singular values explain
    ``variance`` of the total. Returns a ``(d, r)`` orthonormal basis.
    """
    w, V = np.linalg.eigh((gram + gram.T) / 2.0)
    order = np.argsort(w)[::-1]
    w = np.clip(w[order], 0.0, None)
    V = V[:, order]
    if n_components is None:
        total = w.sum()
        if total <= 0:
            return V[:, :1]
        r = int(np.searchsorted(np.cumsum(w) / total, variance) + 1)
    else:
        r = int(n_components)
    r = max(1, min(r, int((w > w[0] * 1e-12).sum()) if w[0] > 0 else 1, V.shape[1]))
    return V[:, :r]


def subspace_scores(X: np.ndarray, basis: np.ndarray, chunk_rows: int = 8192) -> np.ndarray:
    """``|| basis^T x / |x| ||``: how much of each unit-normalised row lies in the hard-only subspace.

    Linear in n (O(n d r)), streamed in chunks; values in [0, 1].
    """
    n = X.shape[0]
    out = np.empty(n, dtype=np.float64)
    B = np.asarray(basis, dtype=X.dtype if X.dtype in (np.float32, np.float64) else np.float64)
    for start in range(0, n, chunk_rows):
        chunk = X[start:start + chunk_rows]
        proj = np.asarray(chunk @ B, dtype=np.float64)
        out[start:start + chunk_rows] = row_norms(proj) / row_norms(chunk)
    return out
