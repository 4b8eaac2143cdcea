"""Built-in overlap scorers: how strongly a point lines up with what the hard-only points span."""

from __future__ import annotations

import numpy as np

from w2s_plugin.errors import W2SError
from w2s_plugin.hookspecs import hookimpl
from w2s_plugin.overlap import (
    DEFAULT_CHUNK_ELEMENTS,
    _blocks_into,
    _work_dtype,
    banded_factor,
    change_point_threshold,
    cholesky_factor,
    gram_eigh,
    gram_fast,
    gram_matrix,
    iter_row_blocks,
    max_abs_cosine,
    max_inner_product,
    quadratic_scores,
    rms_cosine_factor,
    row_norm_pass,
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
            raise W2SError(
                f"subspace scorer: n_components must be a positive integer or None; got {n_components!r}"
            )
        if not 0 < float(variance) <= 1:
            raise W2SError(f"subspace scorer: variance must be in (0, 1]; got {variance!r}")
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
    wrongly detected as hard-only cannot pull every score up. Linear in n: the mean over the
    reference is a quadratic form ``x̂ᵀ C x̂`` in the d x d Gram matrix of the hard-only points
    (mergeable, like ``subspace``).

    ``exact=True`` is the plain path: the Gram matrix of every hard-only row, an eigen-factor dropping
    directions whose energy sums to at most ``tol``, general matrix products, a separate validation pass.

    ``exact=False`` (the default) gives the same regions (checked, see docs/detection.md) faster
    (the last two shortcuts only with at least ``MIN_FEATURES_FOR_SHORTCUTS`` = 128 features and
    ``MIN_ROWS_FOR_SHORTCUTS`` = 100 000 points to score):

    * Gram by symmetric rank-k updates, scores by a triangular (Cholesky) factor: half the flops each.
    * ``sample``: if there are more than ``2 * sample`` hard-only rows, the Gram matrix is built from two
      disjoint uniform samples of ``sample`` rows; it is kept only if the regions of a pilot of points
      scored with each half disagree on at most ``2 * max_disagreement`` of them (a split-half test:
      the pooled sample's noise is half the halves' difference); on a refusal both halves are doubled
      and the test repeated (at most ``MAX_SAMPLE_DOUBLINGS`` times, while rows remain outside the
      sample); otherwise the remaining rows are added (exact). ``split_checks_`` lists each test.
    * a low rank (``banded_factor``: the smallest eigenvalues replaced by a constant, error on any
      squared score at most ``bound_``) is used only if, on the pilot, its regions differ from the
      full-rank ones on at most ``max_disagreement`` of the points.
    """

    #: pilot points (from the rows to be scored) used to check the sample and the rank
    PILOT = 20_000
    #: below this many features the passes are bound by reading memory, not by flops: no shortcut
    #: (and no pilot) pays for itself, so the exact Cholesky path is used
    MIN_FEATURES_FOR_SHORTCUTS = 128
    #: with fewer rows to score than this, the pilot would cost a large share of the scoring itself
    MIN_ROWS_FOR_SHORTCUTS = 100_000
    #: on a refused split-half check, both halves are doubled (rows added, none recomputed) and the
    #: check repeated, at most this many times, before the remaining rows make the Gram matrix exact
    MAX_SAMPLE_DOUBLINGS = 2

    def __init__(
        self,
        tol: float = 1e-4,
        chunk_size: int = 8192,
        exact: bool = False,
        sample: int | None = 65_536,
        max_disagreement: float = 0.002,
        random_state=None,
    ):
        if not 0 <= float(tol) < 1:
            raise W2SError(f"rms_cosine scorer: tol must be in [0, 1); got {tol!r}")
        if sample is not None and (not isinstance(sample, (int, np.integer)) or sample < 1):
            raise W2SError(f"rms_cosine scorer: sample must be a positive integer or None; got {sample!r}")
        if not 0 <= float(max_disagreement) < 1:
            raise W2SError(f"rms_cosine scorer: max_disagreement must be in [0, 1); got {max_disagreement!r}")
        self.tol = float(tol)
        self.chunk_size = int(chunk_size)
        self.exact = bool(exact)
        self.sample = sample
        self.max_disagreement = float(max_disagreement)
        self.random_state = random_state

    def _block_rows(self) -> int:
        # the fast path copies each block once into a reused buffer; larger blocks amortise BLAS calls
        return 16384 if self.chunk_size == 8192 else self.chunk_size

    def _basis(self) -> np.ndarray:
        return rms_cosine_factor(self.gram_, self.n_reference_, self.tol)

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, X, rows=None, check=None, progress=None):
        if self.exact:
            return super().fit(X, rows)
        n = X.shape[0]
        if rows is None:
            ref = np.arange(n)
        else:
            rows = np.asarray(rows)
            ref = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64, copy=False).ravel()
        rng = np.random.default_rng(self.random_state)
        pilot = None
        if rows is not None and ref.size < n and X.shape[1] >= self.MIN_FEATURES_FOR_SHORTCUTS:
            rest = np.ones(n, dtype=bool)
            rest[ref] = False
            cand = np.flatnonzero(rest)
            if cand.size >= self.MIN_ROWS_FOR_SHORTCUTS:
                pilot = np.sort(rng.choice(cand, size=min(self.PILOT, cand.size), replace=False))
        self.sampled_ = False
        self.split_disagreement_ = float("nan")
        self.split_checks_ = []
        m = self.sample
        blk = self._block_rows()
        if m is not None and pilot is not None and pilot.size >= 100 and ref.size > 2 * m:
            perm = rng.permutation(ref.size)
            Ga, na = gram_fast(X, np.sort(ref[perm[:m]]), blk, check=check)
            Gb, nb = gram_fast(X, np.sort(ref[perm[m : 2 * m]]), blk, check=check)
            P = _pilot_block(X, pilot)
            size, checks = m, []
            while True:  # halves A = perm[:size] + ..., B = the next rows; both double on a refusal
                ra = _pilot_regions(P, cholesky_or_banded(Ga, na))
                rb = _pilot_regions(P, cholesky_or_banded(Gb, nb))
                checks.append(float(np.mean(ra != rb)))
                # the pooled sample is about half as far from the exact regions as one half from the other
                if checks[-1] <= 2 * self.max_disagreement:
                    self.sampled_ = True
                    break
                # a refusal wastes no rows (the exact Gram includes them); stop once a doubled sample
                # would leave no hard-only row out
                if len(checks) > self.MAX_SAMPLE_DOUBLINGS or ref.size <= 4 * size:
                    break
                Ga2, na2 = gram_fast(X, np.sort(ref[perm[2 * size : 3 * size]]), blk, check=check)
                Gb2, nb2 = gram_fast(X, np.sort(ref[perm[3 * size : 4 * size]]), blk, check=check)
                Ga, na, Gb, nb = Ga + Ga2, na + na2, Gb + Gb2, nb + nb2
                size *= 2
            self.split_disagreement_, self.split_checks_ = checks[-1], checks
            rest_rows = np.sort(ref[perm[2 * size :]])
            if self.sampled_:
                if check is not None:  # unread rows are still validated (a cheap norms-only pass)
                    row_norm_pass(X, rest_rows, blk, check, progress)
                elif progress is not None:
                    progress.update(rest_rows.size)
                G, cnt = Ga + Gb, na + nb
            else:
                Gr, nr = gram_fast(X, rest_rows, blk, check=check, progress=progress)
                G, cnt = Ga + Gb + Gr, na + nb + nr
            if progress is not None:
                progress.update(2 * size)
        else:
            G, cnt = gram_fast(X, ref if rows is not None else None, blk, check=check, progress=progress)
            P = _pilot_block(X, pilot) if pilot is not None and pilot.size >= 100 else None
        self.n_hard_rows_ = int(ref.size)
        return self._fit_gram(G, cnt, P)

    def partial_fit(self, X, rows=None):
        if self.exact or not hasattr(self, "gram_"):
            return super().partial_fit(X, rows) if self.exact else self.fit(X, rows)
        G, n = gram_fast(X, rows, chunk_rows=self._block_rows())
        return self._fit_gram(self.gram_ + G, self.n_reference_ + n, None)

    def fit_gram(self, gram, n_reference: int):
        if self.exact:
            self.sampled_, self.shift_, self.triangular_, self.bound_ = False, 0.0, False, self.tol
            return super().fit_gram(gram, n_reference)
        return self._fit_gram(gram, n_reference, None)

    def _fit_gram(self, gram, n_reference: int, pilot):
        """Full-rank (Cholesky) factor; a lower rank only where the pilot shows the same regions."""
        self.gram_, self.n_reference_ = np.asarray(gram, dtype=np.float64), int(n_reference)
        self.pilot_disagreement_ = 0.0
        full = cholesky_or_banded(self.gram_, self.n_reference_)
        self.basis_, self.shift_, self.triangular_, self.bound_ = full
        d = self.gram_.shape[0]
        if pilot is None or d < 16:
            return self
        exact_regions = _pilot_regions(pilot, full)
        eig = gram_eigh(self.gram_, self.n_reference_)
        # candidate ranks, cheapest first; a rank only pays off below ~d/2 (the triangular factor costs d²/2)
        for r in sorted({max(1, d // 16), max(1, d // 8), max(1, d // 4), max(1, int(0.4 * d))}):
            F, shift, bound = banded_factor(self.gram_, self.n_reference_, r, eig)
            cand = (F, shift, False, bound)
            diff = float(np.mean(_pilot_regions(pilot, cand) != exact_regions))
            if diff <= self.max_disagreement:
                self.basis_, self.shift_, self.triangular_, self.bound_ = cand
                self.pilot_disagreement_ = diff
                break
        return self

    def score(self, X, rows=None, check=None, progress=None) -> np.ndarray:
        if self.exact:
            return subspace_scores(X, self.basis_, chunk_rows=self.chunk_size, rows=rows)
        return quadratic_scores(
            X,
            self.basis_,
            self.shift_,
            self.triangular_,
            chunk_rows=self._block_rows(),
            rows=rows,
            check=check,
            progress=progress,
        )


def cholesky_or_banded(gram, n_reference):
    """``(factor, shift, triangular, bound)``: the exact Cholesky factor, or (singular ``C``, e.g. fewer
    hard-only rows than features) the full-rank eigen-factor, also exact."""
    L = cholesky_factor(gram, n_reference)
    if L is not None:
        return L, 0.0, True, 0.0
    F, shift, bound = banded_factor(gram, n_reference, gram.shape[0])
    return F, shift, False, bound


def _pilot_block(X, idx):
    """The pilot rows, gathered block by block (``X[idx]`` on a memory map would fault in, and keep
    resident, the pages around every scattered row)."""
    dtype = _work_dtype(X)
    out = np.empty((idx.size, X.shape[1]), dtype=dtype)
    for pos, block in _blocks_into(X, idx, 16384, dtype):
        out[pos] = block
    return out


def _pilot_regions(P, fac) -> np.ndarray:
    F, shift, tri, _ = fac
    s = quadratic_scores(P, F, shift, tri, chunk_rows=P.shape[0])
    return s >= change_point_threshold(s)


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
