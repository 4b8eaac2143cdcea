"""Built-in overlap scorers: how strongly a point lines up with what the hard-only points span."""

from __future__ import annotations

import numpy as np

from w2s_plugin.hookspecs import hookimpl
from w2s_plugin.overlap import (
    DEFAULT_CHUNK_ELEMENTS,
    gram_matrix,
    iter_row_blocks,
    max_abs_cosine,
    max_inner_product,
    rms_cosine_factor,
    subspace_basis,
    subspace_scores,
)


class SubspaceScorer:
    """Norm of a unit-normalised point's projection onto the top-r directions of the hard-only points.

    Linear in n; the reference is a d x d Gram matrix, so it merges across chunks, rounds and
    Dask partitions (``partial_fit``). ``n_components`` fixes r; otherwise r is the smallest rank
    explaining ``variance`` of the hard-only points' energy.
    """

    def __init__(self, n_components: int | None = None, variance: float = 0.9, chunk_size: int = 8192):
        if n_components is not None and (not isinstance(n_components, (int, np.integer)) or n_components < 1):
            raise ValueError(f"subspace scorer: n_components must be a positive integer or None; got {n_components!r}")
        if not 0 < float(variance) <= 1:
            raise ValueError(f"subspace scorer: variance must be in (0, 1]; got {variance!r}")
        self.n_components = n_components
        self.variance = float(variance)
        self.chunk_size = int(chunk_size)

    def _basis(self) -> np.ndarray:
        return subspace_basis(self.gram_, self.n_components, self.variance)

    def fit(self, X, rows=None):
        gram, n = gram_matrix(X, rows, chunk_rows=self.chunk_size)
        return self.fit_gram(gram, n)

    def fit_gram(self, gram, n_reference: int):
        """Fit from a Gram matrix of unit-normalised hard-only rows summed elsewhere (chunks, rounds,
        Dask partitions). Any scorer with this method is treated as mergeable by distributed code."""
        self.gram_, self.n_reference_ = np.asarray(gram, dtype=np.float64), int(n_reference)
        self.basis_ = self._basis()
        return self

    def partial_fit(self, X, rows=None):
        if not hasattr(self, "gram_"):
            return self.fit(X, rows)
        G, n = gram_matrix(X, rows, chunk_rows=self.chunk_size)
        self.gram_ += G
        self.n_reference_ += n
        self.basis_ = self._basis()
        return self

    def score(self, X, rows=None) -> np.ndarray:
        return subspace_scores(X, self.basis_, chunk_rows=self.chunk_size, rows=rows)


class RMSCosineScorer(SubspaceScorer):
    """Root-mean-square |cos| to the hard-only points: ``sqrt(mean_h cos(x, h)^2)``.

    The paper's ``max_h |cos(x, h)|`` with the max replaced by a quadratic mean, so a few points
    wrongly detected as hard-only cannot pull every score up. Exact and linear in n: the mean over
    the reference is a quadratic form in its d x d Gram matrix (mergeable, like ``subspace``).
    Parameter-free; ``tol`` bounds the error on the squared score from dropping weak directions.
    """

    def __init__(self, tol: float = 1e-4, chunk_size: int = 8192):
        if not 0 <= float(tol) < 1:
            raise ValueError(f"rms_cosine scorer: tol must be in [0, 1); got {tol!r}")
        self.tol = float(tol)
        self.chunk_size = int(chunk_size)

    def _basis(self) -> np.ndarray:
        return rms_cosine_factor(self.gram_, self.n_reference_, self.tol)


class MaxCosineScorer:
    """The paper's score: ``max_h |cos(x, h)|`` over the hard-only points, exact and chunked.

    Memory is O(chunk x n_hard). ``max_reference`` caps the reference at a random sample (seeded)
    for very large hard-only sets; ``None`` keeps all of them, as the paper does.
    """

    def __init__(self, max_reference: int | None = None, chunk_size: int = 8192, random_state=None):
        self.max_reference = max_reference
        self.chunk_size = int(chunk_size)
        self.random_state = random_state

    def _reference(self, X, rows):
        if rows is None:
            idx = np.arange(X.shape[0])
        else:
            rows = np.asarray(rows)
            idx = np.flatnonzero(rows) if rows.dtype == bool else rows
        if self.max_reference is not None and idx.size > self.max_reference:
            rng = np.random.default_rng(self.random_state)
            idx = np.sort(rng.choice(idx, size=int(self.max_reference), replace=False))
        dtype = np.float32 if np.asarray(X[:0]).dtype == np.float32 else np.float64
        ref = np.empty((idx.size, X.shape[1]), dtype=dtype)
        for pos, block in iter_row_blocks(X, idx, self.chunk_size, dtype):
            ref[pos] = block
        return ref

    def fit(self, X, rows=None):
        self.reference_ = self._reference(X, rows)
        return self

    def partial_fit(self, X, rows=None):
        if not hasattr(self, "reference_"):
            return self.fit(X, rows)
        new = self._reference(X, rows)
        self.reference_ = np.vstack([self.reference_, new.astype(self.reference_.dtype, copy=False)])
        return self

    def _chunk_elements(self):
        return max(DEFAULT_CHUNK_ELEMENTS, self.chunk_size)

    def score(self, X, rows=None) -> np.ndarray:
        return max_abs_cosine(X, self.reference_, chunk_elements=self._chunk_elements(), rows=rows)


class MaxInnerScorer(MaxCosineScorer):
    """The reference's data-selection variant: ``max_h <x, h>`` (no normalisation, no absolute value)."""

    def score(self, X, rows=None) -> np.ndarray:
        return max_inner_product(X, self.reference_, chunk_elements=self._chunk_elements(), rows=rows)


@hookimpl
def register_overlap_scorers(register):
    register("subspace", SubspaceScorer)
    register("rms_cosine", RMSCosineScorer)
    register("max_cosine", MaxCosineScorer)
    register("max_inner", MaxInnerScorer)
