"""The math of overlap detection, in one place.

Everything here is plain numpy on validated arrays: weak-model confidence, the exact single L2
change point, and the overlap scores (chunked so that no N x N matrix is ever built). The
detector (``detector.py``) wires these together; the built-in plugins (``hooks/``) expose them by
name. Input checking lives in ``_validation.py``; these functions assume clean input.
"""

from __future__ import annotations

import numpy as np

from .errors import DataError

__all__ = [
    "weak_confidence",
    "change_point_threshold",
    "change_point_index",
    "split_cost",
    "row_norms",
    "max_abs_cosine",
    "max_inner_product",
    "gram_matrix",
    "iter_row_blocks",
    "subspace_basis",
    "subspace_scores",
    "rms_cosine_factor",
    "RowCheck",
    "gram_fast",
    "row_norm_pass",
    "cholesky_factor",
    "banded_factor",
    "gram_eigh",
    "quadratic_scores",
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
    from .validation import check_proba

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
    # Candidates are judged on the raw values: centring can merge two distinct tiny values.
    valid = v[1:] > v[:-1]
    # Centre first: the prefix-sum formula loses precision when values are far from zero.
    v = v - v.mean()
    s1 = np.cumsum(v)
    total = s1[-1]
    k = np.arange(1, n, dtype=np.float64)  # split after position k-1, i.e. left = v[:k]
    left = s1[:-1]
    gain = left * left / k + (total - left) ** 2 / (n - k)
    if min_size > 1:
        valid[: min_size - 1] = False
        valid[n - min_size :] = False
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
        raise DataError("change_point_threshold: values contain NaN or inf; drop or impute them first.")
    k = change_point_index(v, min_size=min_size)
    if k is None:
        return float(v[0])
    return float((v[k - 1] + v[k]) / 2.0)


def _row_indices(rows, n: int) -> np.ndarray:
    """Row positions from a boolean mask of length ``n`` or an index array."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise ValueError(f"row mask has shape {rows.shape}; expected ({n},)")
        return np.flatnonzero(rows)
    return rows.astype(np.int64, copy=False).ravel()


def row_norms(X: np.ndarray) -> np.ndarray:
    """Euclidean norm of every row, in float64, without squaring a copy of the whole array."""
    X = np.asarray(X)
    return np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))


def _work_dtype(X) -> np.dtype:
    """float32 input is computed in float32 (half the memory traffic, twice the BLAS speed);
    everything else in float64."""
    return np.dtype(np.float32) if np.asarray(X[:0]).dtype == np.float32 else np.dtype(np.float64)


def _fast_row_norms(chunk: np.ndarray) -> np.ndarray:
    """Row norms in the chunk's own precision (float32 sums of d squares lose ~1e-7 relative)."""
    return np.sqrt(np.einsum("ij,ij->i", chunk, chunk))


def _chunk_rows(n_rows: int, n_cols: int, chunk_elements: int) -> int:
    return int(max(1, min(n_rows, chunk_elements // max(1, n_cols))))


def iter_row_blocks(X, rows=None, chunk_rows: int = 8192, dtype=None):
    """Yield ``(positions, block)``: the selected rows of ``X`` as dense arrays, a contiguous slice at a time.

    ``rows`` is ``None`` (all rows), a boolean mask, or an array of indices. ``positions`` index
    into the selection (so ``out[positions] = f(block)`` fills a per-selected-row result). Rows are
    read slice by slice, so a memory-mapped ``X`` is read sequentially and only one block of at most
    ``chunk_rows`` rows is ever copied; ``np.asarray(X[idx])`` on a large selection would copy it all.
    """
    n = X.shape[0]
    dtype = _work_dtype(X) if dtype is None else np.dtype(dtype)
    chunk_rows = max(1, int(chunk_rows))
    if rows is None:
        for s in range(0, n, chunk_rows):
            yield np.arange(s, min(n, s + chunk_rows)), np.asarray(X[s : s + chunk_rows], dtype=dtype)
        return
    idx = _row_indices(rows, n)
    if idx.size == 0:
        return
    if idx.size > 1 and not (np.diff(idx) > 0).all():  # unsorted or repeated: gather chunk by chunk
        for s in range(0, idx.size, chunk_rows):
            sel = idx[s : s + chunk_rows]
            yield np.arange(s, s + sel.size), np.asarray(X[sel], dtype=dtype)
        return
    # Sorted unique indices: walk X in contiguous windows and pick the selected rows of each.
    pos = 0
    while pos < idx.size:
        lo = int(idx[pos])
        stop = int(np.searchsorted(idx, lo + chunk_rows, side="left"))
        sel = idx[pos:stop]
        window = X[lo : int(sel[-1]) + 1]
        if sel.size == window.shape[0]:
            block = np.asarray(window, dtype=dtype)
        else:
            block = np.asarray(np.asarray(window)[sel - lo], dtype=dtype)
        yield np.arange(pos, stop), block
        pos = stop


def _normalised_reference(reference, dtype) -> np.ndarray:
    R = np.array(reference, dtype=dtype, copy=True)
    R /= _fast_row_norms(R)[:, None]
    return R


def max_abs_cosine(
    X: np.ndarray, reference: np.ndarray, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS, rows=None
) -> np.ndarray:
    """``max_h |cos(x, h)|`` for every (selected) row ``x`` of ``X`` over the rows ``h`` of ``reference``.

    The paper's overlap score. Exact, streamed over ``X`` in chunks so that memory stays
    O(chunk x n_reference) and the full similarity matrix is never built.
    """
    dtype = _work_dtype(X)
    R = _normalised_reference(reference, dtype)
    n = X.shape[0] if rows is None else _n_selected(X, rows)
    out = np.empty(n, dtype=np.float64)
    step = _chunk_rows(max(n, 1), R.shape[0], chunk_elements)
    for pos, chunk in iter_row_blocks(X, rows, step, dtype):
        sims = chunk @ R.T
        # max |s| = max(max s, -min s): two reductions, no extra pass writing |s|
        best = np.maximum(sims.max(axis=1), -sims.min(axis=1))
        out[pos] = best / _fast_row_norms(chunk)
    return out


def max_inner_product(
    X: np.ndarray, reference: np.ndarray, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS, rows=None
) -> np.ndarray:
    """``max_h <x, h>``: the raw inner product the reference's data-selection code uses (no norm, no abs)."""
    dtype = _work_dtype(X)
    R = np.asarray(reference, dtype=dtype)
    n = X.shape[0] if rows is None else _n_selected(X, rows)
    out = np.empty(n, dtype=np.float64)
    step = _chunk_rows(max(n, 1), R.shape[0], chunk_elements)
    for pos, chunk in iter_row_blocks(X, rows, step, dtype):
        out[pos] = (chunk @ R.T).max(axis=1)
    return out


def _n_selected(X, rows) -> int:
    rows = np.asarray(rows)
    return int(rows.sum()) if rows.dtype == bool else int(rows.size)


def gram_matrix(
    X: np.ndarray, rows: np.ndarray | None = None, chunk_rows: int = 8192
) -> tuple[np.ndarray, int]:
    """``sum_i x_i^T x_i / |x_i|^2`` over the (selected) rows, and how many rows went in.

    The Gram matrix of unit-normalised rows is mergeable (sums over chunks, partitions or rounds),
    which is what lets the subspace scorers stream, accumulate history and run on Dask. Each block's
    product runs in the input's precision (float32 stays float32, a symmetric rank-k update);
    the sum over blocks is kept in float64.
    """
    d = X.shape[1]
    G = np.zeros((d, d), dtype=np.float64)
    count = 0
    for _, chunk in iter_row_blocks(X, rows, chunk_rows):
        # Not in place: for contiguous or full selections the block is a view of the caller's X.
        chunk = chunk / _fast_row_norms(chunk)[:, None]
        G += chunk.T @ chunk
        count += chunk.shape[0]
    return G, count


def _eigh(M: np.ndarray):
    """``np.linalg.eigh`` on one BLAS thread: for a d x d matrix (d ~ 10^2-10^3) threads only add
    synchronisation, and on a busy machine multi-threaded LAPACK was measured 10-70x slower."""
    try:
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency
    except ImportError:  # pragma: no cover
        return np.linalg.eigh(M)
    with threadpool_limits(1, user_api="blas"):
        return np.linalg.eigh(M)


def subspace_basis(gram: np.ndarray, n_components: int | None = None, variance: float = 0.9) -> np.ndarray:
    """Top right singular vectors of the unit-normalised hard-only embeddings, from their Gram matrix.

    ``n_components`` fixes the rank; otherwise the smallest rank whose singular values explain
    ``variance`` of the total. Returns a ``(d, r)`` orthonormal basis.
    """
    w, V = _eigh((gram + gram.T) / 2.0)
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


def subspace_scores(X: np.ndarray, basis: np.ndarray, chunk_rows: int = 8192, rows=None) -> np.ndarray:
    """``|| basis^T x / |x| ||``: how much of each unit-normalised (selected) row lies in the subspace.

    Linear in n (O(n d r)), streamed in chunks in the input's precision; values in [0, 1] (for an
    orthonormal basis). Also scores :func:`rms_cosine_factor` bases, whose columns are weighted.
    """
    dtype = _work_dtype(X)
    B = np.asarray(basis, dtype=dtype)
    n = X.shape[0] if rows is None else _n_selected(X, rows)
    out = np.empty(n, dtype=np.float64)
    for pos, chunk in iter_row_blocks(X, rows, chunk_rows, dtype):
        proj = chunk @ B
        out[pos] = _fast_row_norms(proj) / _fast_row_norms(chunk)
    return out


def rms_cosine_factor(gram: np.ndarray, n_reference: int, tol: float = 1e-4) -> np.ndarray:
    """A ``(d, r)`` factor ``L`` with ``|| L^T x / |x| ||^2 = mean_h cos(x, h)^2`` over the reference.

    ``mean_h cos^2(x, h) = x^T (G / n) x / |x|^2`` with ``G`` the Gram matrix of the unit-normalised
    reference rows, so the root-mean-square cosine is a subspace score whose directions are weighted
    by the square root of their share of the reference's energy. Directions whose eigenvalues sum to
    at most ``tol`` (of a total of 1) are dropped: this changes any squared score by at most ``tol``.
    """
    if n_reference <= 0:
        raise ValueError("rms_cosine_factor: the reference is empty")
    w, V = _eigh((gram + gram.T) / (2.0 * n_reference))
    w = np.clip(w, 0.0, None)  # ascending
    dropped = np.cumsum(w)
    keep = dropped > tol  # drop the smallest directions while their summed energy stays <= tol
    if not keep.any():
        keep[-1] = True
    L = V[:, keep] * np.sqrt(w[keep])[None, :]
    return L[:, ::-1].copy()


# -- the fast path: one copy per block, BLAS-3 triangular kernels, validation fused into the reads -----------


class RowCheck:
    """Input validation fused into passes that already compute squared row norms.

    A NaN/inf row has a non-finite squared norm and an all-zero row a zero one, so two reductions
    over the ``k`` norms of a block replace a separate pass over the ``k x d`` block. On any bad
    row the full streamed check (``check_embeddings``) runs, so the message is the usual one.
    ``finish`` catches the two cases the norms cannot: constant embeddings (all norms equal, then
    confirmed by the full check) and rows no pass has visited.
    """

    def __init__(self, E, name: str = "embeddings"):
        self.E, self.name = E, name
        self.lo, self.hi, self.rows = np.inf, -np.inf, 0

    def __call__(self, sq: np.ndarray) -> None:
        if not sq.size:
            return
        lo, hi = float(sq.min()), float(sq.max())
        if not (lo > 0 and hi < np.inf):
            self._fail()
        self.lo, self.hi, self.rows = min(self.lo, lo), max(self.hi, hi), self.rows + sq.size

    def _fail(self):
        from .validation import check_embeddings

        check_embeddings(self.E, name=self.name)  # raises with the usual message
        raise DataError(
            f"{self.name}: some rows are too large to square in {np.asarray(self.E[:0]).dtype} "
            "(their norm overflows); rescale the embeddings."
        )

    def finish(self) -> None:
        n = self.E.shape[0]
        if self.rows < n or (n > 1 and self.lo == self.hi):
            from .validation import check_embeddings

            check_embeddings(self.E, name=self.name)


def _mmap_release(X):
    """For a read-only ``np.memmap``: a function that drops rows ``[lo, hi)`` from this process's
    resident set once they are used (``madvise(MADV_DONTNEED)``; the data stays in the OS page
    cache). Without it, a two-pass read of a 15 GB file leaves every page it touched counted in RSS."""
    import mmap

    mm = getattr(X, "_mmap", None)
    if (
        mm is None
        or getattr(X, "mode", None) != "r"
        or not hasattr(mm, "madvise")
        or not hasattr(mmap, "MADV_DONTNEED")
        or not X.flags.c_contiguous
    ):
        return None
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    except (TypeError, ValueError):  # pragma: no cover - a closed or unusual mapping
        return None
    start, row, size, page = X.ctypes.data - base, X.strides[0], len(mm), mmap.PAGESIZE

    def release(lo: int, hi: int) -> None:
        a = start + lo * row
        a -= a % page
        b = min(size, start + hi * row)
        if b > a >= 0:
            mm.madvise(mmap.MADV_DONTNEED, a, b - a)

    return release


def _blocks_into(X, rows, chunk_rows: int, dtype, progress=None):
    """Like :func:`iter_row_blocks`, but every block is a copy in one reused buffer (no allocation or
    page fault per block; callers may scale or overwrite it in place) and pages of a read-only
    memory map are released after use. Yields ``(positions, block)``."""
    n, d = X.shape
    chunk_rows = max(1, int(chunk_rows))
    release = _mmap_release(X) if isinstance(X, np.memmap) else None
    if rows is None:
        idx = None
        total = n
    else:
        idx = _row_indices(rows, n)
        total = idx.size
        if total == 0:
            return
        if total > 1 and not (np.diff(idx) > 0).all():  # unsorted or repeated: plain gathers
            for s in range(0, total, chunk_rows):
                sel = idx[s : s + chunk_rows]
                yield np.arange(s, s + sel.size), np.asarray(X[sel], dtype=dtype)
            return
    buf = np.empty((min(chunk_rows, total), d), dtype=dtype)
    pos = 0
    while pos < total:
        if idx is None:
            lo, stop = pos, min(n, pos + chunk_rows)
            hi, k = stop, stop - pos
            block = buf[:k]
            np.copyto(block, X[lo:hi], casting="unsafe")
        else:
            lo = int(idx[pos])
            stop = int(np.searchsorted(idx, lo + chunk_rows, side="left"))
            sel = idx[pos:stop]
            hi, k = int(sel[-1]) + 1, stop - pos
            block = buf[:k]
            window = X[lo:hi]
            if k == hi - lo:
                np.copyto(block, window, casting="unsafe")
            elif window.dtype == dtype:
                np.take(window, sel - lo, axis=0, out=block, mode="clip")  # "raise" buffers `out`
            else:
                np.copyto(block, np.asarray(window)[sel - lo], casting="unsafe")
        if release is not None:
            release(lo, hi)
        yield np.arange(pos, stop), block
        if progress is not None:
            progress.update(k)
        pos = stop


def row_norm_pass(X, rows, chunk_rows: int, check, progress=None) -> None:
    """Feed ``check`` (a :class:`RowCheck`) the squared norms of rows no other pass reads."""
    dtype = _work_dtype(X)
    for _, block in _blocks_into(X, rows, chunk_rows, dtype, progress):
        check(np.einsum("ij,ij->i", block, block))


def _blas(dtype, name: str):
    from scipy.linalg import blas  # a scikit-learn dependency

    return getattr(blas, ("s" if np.dtype(dtype) == np.float32 else "d") + name)


def gram_fast(X, rows=None, chunk_rows: int = 16384, check=None, progress=None) -> tuple[np.ndarray, int]:
    """:func:`gram_matrix` (same sum, same float64 result up to rounding) at half the flops.

    One copy of each block into a reused buffer, normalised in place, then a symmetric rank-k
    update (``?syrk``: only one triangle of ``XᵀX``, half the multiply-adds of a general product).
    ``check`` is a :class:`RowCheck` fed the squared norms this pass computes anyway.
    """
    dtype = _work_dtype(X)
    syrk = _blas(dtype, "syrk")
    d = X.shape[1]
    G = np.zeros((d, d), dtype=np.float64)
    count = 0
    for _, block in _blocks_into(X, rows, chunk_rows, dtype, progress):
        sq = np.einsum("ij,ij->i", block, block)
        if check is not None:
            check(sq)
        block *= (1.0 / np.sqrt(sq)).astype(dtype, copy=False)[:, None]
        G += syrk(1.0, block.T, trans=0, lower=0)  # upper triangle of blockᵀ block
        count += block.shape[0]
    G = np.triu(G)
    return G + np.triu(G, 1).T, count


def gram_eigh(gram: np.ndarray, n_reference: int):
    """Eigenvalues (ascending, clipped at 0) and eigenvectors of ``C = gram / n_reference``."""
    w, V = _eigh((gram + gram.T) / (2.0 * n_reference))
    return np.clip(w, 0.0, None), V


def cholesky_factor(gram: np.ndarray, n_reference: int):
    """Lower-triangular ``L`` with ``L Lᵀ = C = gram / n_reference``, or ``None`` if ``C`` is singular.

    ``x̂ᵀ C x̂ = ||Lᵀ x̂||²`` exactly, at d²/2 multiply-adds per point (``?trmm``)."""
    if n_reference <= 0:
        raise ValueError("cholesky_factor: the reference is empty")
    C = (gram + gram.T) / (2.0 * n_reference)
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        return None


def banded_factor(gram: np.ndarray, n_reference: int, rank: int, eig=None):
    """A rank-``rank`` factor of ``C = gram / n_reference`` plus a constant, with a worst-case error bound.

    The ``d - rank`` smallest eigenvalues of ``C`` lie in a band ``[a, b]``; each is replaced by the
    band's middle ``shift = (a + b) / 2``. Since ``Σ_k (v_kᵀ x̂)² = 1`` for a unit ``x̂``, this changes
    ``x̂ᵀ C x̂`` by at most ``bound = (b - a) / 2`` for every point (a deterministic bound). Returns
    ``(factor, shift, bound)`` with ``x̂ᵀ C x̂ ≈ shift + ||factorᵀ x̂||²``; O(d rank) per point.
    ``eig``: ``(w, V)`` of ``C`` from an earlier call (:func:`gram_eigh`), to try several ranks cheaply.
    """
    w, V = gram_eigh(gram, n_reference) if eig is None else eig
    d = w.size
    k = d - max(1, min(int(rank), d))  # number of directions folded into the constant
    shift = float((w[0] + w[k - 1]) / 2.0) if k else 0.0
    bound = float((w[k - 1] - w[0]) / 2.0) if k else 0.0
    keep = slice(d - 1, k - 1 if k else None, -1)  # the kept directions, descending
    factor = V[:, keep] * np.sqrt(np.clip(w[keep] - shift, 0.0, None))[None, :]
    return np.ascontiguousarray(factor), shift, bound


def quadratic_scores(
    X,
    factor: np.ndarray,
    shift: float = 0.0,
    triangular: bool = False,
    chunk_rows: int = 16384,
    rows=None,
    check=None,
    progress=None,
) -> np.ndarray:
    """``sqrt(shift + ||factorᵀ x̂||²)`` for every (selected) row, streamed in the input's precision.

    ``triangular``: ``factor`` is lower triangular and is applied in place with ``?trmm`` (half the
    multiply-adds of a general product). ``check`` is a :class:`RowCheck` (validation fused in).
    """
    dtype = _work_dtype(X)
    F = np.asarray(factor, dtype=dtype)
    if triangular:
        trmm = _blas(dtype, "trmm")
        F = np.asfortranarray(F)
    n = X.shape[0] if rows is None else _n_selected(X, rows)
    out = np.empty(n, dtype=np.float64)
    for pos, block in _blocks_into(X, rows, chunk_rows, dtype, progress):
        sq = np.einsum("ij,ij->i", block, block)
        if check is not None:
            check(sq)
        if triangular:  # (block L)ᵀ = Lᵀ blockᵀ, written over the buffer (blockᵀ is Fortran-ordered)
            proj = trmm(1.0, F, block.T, side=0, lower=1, trans_a=1, overwrite_b=1).T
        else:
            proj = block @ F
        q = np.einsum("ij,ij->i", proj, proj).astype(np.float64)
        out[pos] = np.sqrt(np.clip(q / sq + shift, 0.0, None))
    return out
