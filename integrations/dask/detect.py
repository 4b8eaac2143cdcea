"""Two-stage overlap detection on Dask: the same method as ``OverlapDetector``, on pools spread
over many processes or machines, without ever gathering the pool to one of them.

Data flow (``E`` = embeddings, the big array; ``P`` = probabilities, n x k):

1. ``conf = weak_confidence(P)`` per block, kept on the workers (8 bytes per point).
   Hard threshold: the L2 change point of ``conf`` from a mergeable histogram sketch
   (``sketch.py``), refined exactly from the few values in the candidate bins.
2. **Pass 1 over E**: each block adds ``sum h^T h / |h|^2`` over its hard-only rows (the
   subspace scorer's Gram matrix, d x d) or a bottom-k uniform sample of them (other scorers);
   the partial results are tree-reduced, the reference is built once and broadcast as one task.
3. **Pass 2 over E**: ``map_blocks`` scores every non-hard row against the reference; scores stay
   on the workers. Overlap threshold: the sketch again, on the scores.
4. Regions are a lazy ``map_blocks`` of ``conf`` and scores; counts are a distributed bincount.

Only d x d matrices, sketches (2 MiB) and the values of a few histogram bins travel to the client.
"""

from __future__ import annotations

import warnings

import numpy as np

from w2s_plugin.detector import (
    DEFAULT_SCORER,
    ByRegion,
    OverlapReport,
    Region,
    W2SWarning,
    assign_regions,
    make_scorer,
    warn_no_hard_only,
)
from w2s_plugin.errors import MissingExtraError, W2SError
from w2s_plugin.overlap import gram_matrix, weak_confidence
from w2s_plugin.params import ParamsMixin
from w2s_plugin.validation import check_embeddings, check_proba

from .sketch import (
    DEFAULT_BINS,
    DEFAULT_MAX_REFINE,
    ChangePointSketch,
    bin_index,
    refine_threshold,
    sketch_split,
)

__all__ = ["DaskOverlapDetector", "DaskOverlapReport", "detect_overlap_dask", "as_dask_array"]


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingExtraError("the Dask path", "dask") from None
    return dask, da


def as_dask_array(x, name: str = "input"):
    """A dask array from a dask array, a dask DataFrame (its numeric columns), a dask Series whose
    items are vectors, or an in-memory array (split into row blocks)."""
    dask, da = _dask()
    if isinstance(x, da.Array):
        arr = x
    elif hasattr(x, "to_dask_array") and hasattr(x, "columns"):  # DataFrame
        arr = x.to_dask_array(lengths=True)
    elif hasattr(x, "map_partitions") and hasattr(x, "dtype"):  # Series
        if x.dtype == object:
            arr = _series_of_vectors(x)
        else:
            arr = x.to_dask_array(lengths=True)
    else:
        a = np.asarray(x)
        arr = da.from_array(a, chunks=(max(1, min(a.shape[0], 1 << 18)),) + a.shape[1:])
    if any(np.isnan(c) for dim in arr.chunks for c in dim):
        arr = arr.compute_chunk_sizes()
    return arr


def _series_of_vectors(s):
    """A dask Series of equal-length vectors (e.g. a Parquet list column) as an (n, d) dask array."""
    dask, da = _dask()
    parts = s.to_delayed()
    lengths = s.map_partitions(len).compute()
    first = s.head(1)
    if len(first) == 0:
        raise W2SError("the embeddings Series is empty")
    d = len(first.iloc[0])

    def stack(part):
        return np.stack(part.to_numpy()).astype(np.float64) if len(part) else np.empty((0, d))

    blocks = [
        da.from_delayed(dask.delayed(stack)(p), shape=(int(n), d), dtype=np.float64)
        for p, n in zip(parts, lengths)
    ]
    return da.concatenate(blocks, axis=0)


# -- block functions (run on the workers) ---------------------------------------------------------
def _conf_block(p: np.ndarray) -> np.ndarray:
    return weak_confidence(check_proba(p, name="proba (a block)"))


def _gram_block(e: np.ndarray, conf: np.ndarray, thr: float) -> np.ndarray:
    """This block's Gram matrix of hard-only rows, flattened, with the row count appended."""
    e = check_embeddings(e, name="embeddings (a block)", check_constant=False)
    hard = np.flatnonzero(conf < thr)
    G, k = gram_matrix(e, hard)
    return np.concatenate([G.ravel(), [k]])


def _sample_block(e: np.ndarray, conf: np.ndarray, thr: float, m: int, seed: int, block_id=None):
    """A bottom-m sample of this block's hard rows by random key: merging keeps the m smallest
    keys overall, a uniform sample without replacement of all hard rows (mergeable)."""
    e = check_embeddings(e, name="embeddings (a block)", check_constant=False)
    hard = np.flatnonzero(conf < thr)
    rng = np.random.default_rng([seed, int(block_id)])
    keys = rng.random(hard.size)
    take = np.argsort(keys)[:m]
    return keys[take], np.asarray(e[hard[take]], dtype=np.float64)


def _merge_samples(a, b, m: int):
    keys = np.concatenate([a[0], b[0]])
    rows = np.vstack([a[1], b[1]])
    take = np.argsort(keys, kind="stable")[:m]
    return keys[take], rows[take]


def _score_block(e: np.ndarray, conf: np.ndarray, thr: float, scorer) -> np.ndarray:
    out = np.full(conf.shape[0], np.nan)
    keep = conf >= thr
    if keep.any():
        sub = e if keep.all() else e[keep]
        out[keep] = scorer.score(np.asarray(sub))
    return out


def _regions_block(conf: np.ndarray, score: np.ndarray, t_hard: float, t_over: float) -> np.ndarray:
    return assign_regions(conf, score, t_hard, t_over)  # the core's rule, block by block


def _select_bins(v: np.ndarray, lo: float, hi: float, bins: int, candidates: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    return v[np.isin(bin_index(v, lo, hi, bins), candidates)]


def _tree(items: list, fn, split_every: int = 8):
    """Pairwise-ish tree reduction of delayed objects, so no task receives every partial result."""
    dask, _ = _dask()
    while len(items) > 1:
        nxt = []
        for i in range(0, len(items), split_every):
            group = items[i : i + split_every]
            nxt.append(group[0] if len(group) == 1 else dask.delayed(_reduce_all)(fn, group))
        items = nxt
    return items[0]


def _reduce_all(fn, group):
    out = group[0]
    for g in group[1:]:
        out = fn(out, g)
    return out


def _add(a, b):
    return a + b


def _compute(*objs):
    dask, _ = _dask()
    return dask.compute(*objs)


# -- the report ------------------------------------------------------------------------------------
class DaskOverlapReport:
    """Like :class:`~w2s_plugin.OverlapReport`, with per-point arrays left on the cluster (dask arrays).

    ``counts``, ``density`` and the thresholds are plain numbers; ``compute()`` brings the whole
    report to the client as an ``OverlapReport`` (only for pools that fit in memory).
    ``hard_threshold_bound`` / ``overlap_threshold_bound``: guaranteed distance to the exact
    single-machine threshold (0 when the refinement pass ran).
    """

    def __init__(
        self,
        regions,
        confidence,
        overlap_score,
        hard_threshold,
        overlap_threshold,
        scorer,
        hard_threshold_bound=0.0,
        overlap_threshold_bound=0.0,
    ):
        self.regions = regions
        self.confidence = confidence
        self.overlap_score = overlap_score
        self.hard_threshold = float(hard_threshold)
        self.overlap_threshold = float(overlap_threshold)
        self.scorer = scorer
        self.hard_threshold_bound = float(hard_threshold_bound)
        self.overlap_threshold_bound = float(overlap_threshold_bound)
        _, da = _dask()
        bc = da.bincount(regions.astype(np.int64), minlength=3).compute()
        self.counts = ByRegion((r, int(bc[r])) for r in Region)
        n = int(regions.shape[0])
        self.density = float(bc[Region.OVERLAP] / n) if n else 0.0

    def __len__(self) -> int:
        return int(self.regions.shape[0])

    @property
    def n_overlap(self) -> int:
        return self.counts[Region.OVERLAP]

    def mask(self, region: Region | str):
        """Whether each point is in ``region`` (a Region or its name, e.g. ``"overlap"``), lazily."""
        return self.regions == int(Region.parse(region))

    def to_dict(self) -> dict:
        """:meth:`OverlapReport.to_dict`, with the thresholds' error bounds before the counts."""
        d = OverlapReport.to_dict(self)
        bounds = {
            "hard_threshold_bound": self.hard_threshold_bound,
            "overlap_threshold_bound": self.overlap_threshold_bound,
        }
        return {**{k: v for k, v in d.items() if k != "counts"}, **bounds, "counts": d["counts"]}

    def summary(self) -> str:
        rep = OverlapReport.__new__(OverlapReport)
        rep.regions, rep.counts, rep.density = self.regions, self.counts, self.density
        rep.scorer = self.scorer
        rep.hard_threshold, rep.overlap_threshold = self.hard_threshold, self.overlap_threshold
        text = OverlapReport.summary(rep).replace("overlap detection", "overlap detection on Dask", 1)
        if self.hard_threshold_bound or self.overlap_threshold_bound:
            text += (
                f"\nthreshold error bounds vs exact: hard <= {self.hard_threshold_bound:.3g}, "
                f"overlap <= {self.overlap_threshold_bound:.3g}"
            )
        return text

    def compute(self) -> OverlapReport:
        """The report as an in-memory :class:`OverlapReport` (gathers n points: small pools only)."""
        r, c, s = _compute(self.regions, self.confidence, self.overlap_score)
        return OverlapReport(r, c, s, self.hard_threshold, self.overlap_threshold, self.scorer)


# -- the estimator ---------------------------------------------------------------------------------
class DaskOverlapDetector(ParamsMixin):
    """Two-stage overlap detection on dask arrays (scikit-learn conventions).

    Parameters are those of :class:`~w2s_plugin.OverlapDetector` that make sense without a
    history, plus:

    bins : int
        Histogram bins of the change-point sketch (memory 32 bytes per bin per partial sketch).
    refine : bool
        Run the second, exact pass over the candidate bins (default). Without it the threshold is
        the best bin-boundary split and ``*_threshold_bound_`` says how far it can be from exact.
    max_refine : int
        Most values the refinement may pull to the client; above it the sketch answer is kept
        (with its bound) and a ``W2SWarning`` says so.
    max_reference : int
        For scorers other than ``subspace``: the size of the uniform sample of hard-only rows that
        forms the reference (the subspace scorer uses the exact Gram matrix of all of them).
    """

    def __init__(
        self,
        scorer: str = DEFAULT_SCORER,
        scorer_params: dict | None = None,
        hard_threshold="change_point",
        overlap_threshold="change_point",
        threshold_params: dict | None = None,
        bins: int = DEFAULT_BINS,
        refine: bool = True,
        max_refine: int = DEFAULT_MAX_REFINE,
        max_reference: int = 20_000,
        chunk_size: int = 8192,
        random_state=None,
    ):
        self.scorer = scorer
        self.scorer_params = scorer_params
        self.hard_threshold = hard_threshold
        self.overlap_threshold = overlap_threshold
        self.threshold_params = threshold_params
        self.bins = bins
        self.refine = refine
        self.max_refine = max_refine
        self.max_reference = max_reference
        self.chunk_size = chunk_size
        self.random_state = random_state

    # -- inputs --------------------------------------------------------------------------------
    def _inputs(self, proba, embeddings):
        _, da = _dask()
        P = as_dask_array(proba, "proba")
        E = as_dask_array(embeddings, "embeddings")
        if P.ndim not in (1, 2):
            raise W2SError(f"proba must be 1-D (binary p(class 1)) or 2-D (n, k); got shape {P.shape}")
        if E.ndim != 2:
            raise W2SError(f"embeddings must be 2-D (n_points, n_features); got shape {E.shape}")
        if P.shape[0] != E.shape[0]:
            raise W2SError(
                f"embeddings have {E.shape[0]} rows but the probabilities have {P.shape[0]}: "
                "pass one row per point, in the same order"
            )
        if E.shape[0] == 0:
            raise W2SError("embeddings are empty: pass at least one point")
        if E.chunks[1] != (E.shape[1],):
            E = E.rechunk({1: -1})
        rows = E.chunks[0]
        P = P.rechunk({0: rows} if P.ndim == 1 else {0: rows, 1: -1})
        for k in ("bins", "max_refine", "max_reference", "chunk_size"):
            v = getattr(self, k)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise W2SError(f"{k} must be a positive integer; got {v!r}")
        return P, E

    def _confidence(self, P):
        _, da = _dask()
        conf = (
            P.map_blocks(_conf_block, drop_axis=1, dtype=np.float64)
            if P.ndim == 2
            else P.map_blocks(_conf_block, dtype=np.float64)
        )
        return conf

    # -- thresholds ------------------------------------------------------------------------------
    def _split(self, rule, values, lo, hi, what: str):
        """(threshold, bound, info) from the sketch of a persisted 1-D dask array (NaN skipped)."""
        dask, _ = _dask()
        if isinstance(rule, (int, float, np.floating, np.integer)) and not isinstance(rule, bool):
            return float(rule), 0.0, {}
        if rule != "change_point":
            raise W2SError(
                f"{what}: the Dask path computes 'change_point' thresholds (or takes a number); got {rule!r}"
            )
        min_size = int((self.threshold_params or {}).get("min_size", 1))
        bins = int(self.bins)
        blocks = list(values.to_delayed().ravel())
        sketches = [dask.delayed(ChangePointSketch.from_values)(b, lo, hi, bins) for b in blocks]
        (sk,) = _compute(_tree(sketches, _add))
        first = sketch_split(sk, min_size=min_size)
        info = {
            "n_candidate_bins": int(first.candidates.size),
            "n_candidate_values": first.n_candidate_values,
            "refined": False,
        }
        if first.n_candidate_values == 0 or not self.refine:
            if not np.isfinite(first.threshold) and first.candidates.size:
                raise W2SError(f"{what}: no admissible split at a bin boundary; use refine=True or more bins")
            return first.threshold, first.bound, info
        if first.n_candidate_values > self.max_refine:
            warnings.warn(
                f"{what}: {first.n_candidate_values} values lie in the candidate bins, more than "
                f"max_refine={self.max_refine}; keeping the sketch threshold (error <= "
                f"{first.bound:.3g}). "
                "Raise bins or max_refine for the exact value.",
                W2SWarning,
                stacklevel=3,
            )
            return first.threshold, first.bound, info
        picks = [dask.delayed(_select_bins)(b, lo, hi, bins, first.candidates) for b in blocks]
        vals = _compute(*picks)
        thr = refine_threshold(sk, first, np.concatenate(vals) if vals else np.empty(0), min_size=min_size)
        info["refined"] = True
        return thr, 0.0, info

    # -- fitting -----------------------------------------------------------------------------------
    def _reference(self, E, conf, thr):
        """Pass 1 over the embeddings: the hard-only reference, built on the client from merged parts."""
        dask, _ = _dask()
        scorer = make_scorer(self.scorer, self.scorer_params, self.chunk_size, self.random_state)
        eb, cb = E.to_delayed().ravel(), conf.to_delayed().ravel()
        if hasattr(scorer, "fit_gram"):  # a mergeable Gram-matrix scorer (subspace, rms_cosine): exact
            parts = [dask.delayed(_gram_block)(e, c, thr) for e, c in zip(eb, cb)]
            (flat,) = _compute(_tree(parts, _add))
            d = E.shape[1]
            n_ref = int(round(flat[-1]))
            if n_ref == 0:
                return None, 0
            scorer.fit_gram(flat[:-1].reshape(d, d), n_ref)
            return scorer, n_ref
        m = int(self.max_reference)
        seed = int(np.random.default_rng(self.random_state).integers(2**31))
        parts = [dask.delayed(_sample_block)(e, c, thr, m, seed, i) for i, (e, c) in enumerate(zip(eb, cb))]
        (sample,) = _compute(_tree(parts, lambda a, b: _merge_samples(a, b, m)))
        rows = sample[1]
        if rows.shape[0] == 0:
            return None, 0
        scorer.fit(rows)
        return scorer, int(rows.shape[0])

    def fit(self, proba, embeddings):
        """Learn both thresholds and the hard-only reference; ``report_`` covers every point."""
        dask, da = _dask()
        P, E = self._inputs(proba, embeddings)
        conf = self._confidence(P).persist()
        self.hard_threshold_, self.hard_threshold_bound_, self.hard_split_info_ = self._split(
            self.hard_threshold, conf, 0.0, 1.0, "hard threshold"
        )
        thr = self.hard_threshold_
        scorer, n_ref = self._reference(E, conf, thr)
        self.n_reference_ = n_ref
        if scorer is None:
            warn_no_hard_only(stacklevel=2)
            self.scorer_ = None
            self.overlap_threshold_, self.overlap_threshold_bound_ = float("inf"), 0.0
            self.overlap_split_info_ = {}
            score = da.where(conf < thr, np.nan, 0.0)
        else:
            self.scorer_ = scorer
            score = self._scores(E, conf).persist()
            lo, hi = _compute(da.nanmin(score), da.nanmax(score))
            if not np.isfinite(lo):  # every point is hard-only
                lo, hi = 0.0, 1.0
            self.overlap_threshold_, self.overlap_threshold_bound_, self.overlap_split_info_ = self._split(
                self.overlap_threshold, score, float(lo), float(hi), "overlap threshold"
            )
        self.n_features_in_ = int(E.shape[1])
        self.n_classes_ = 2 if P.ndim == 1 else int(P.shape[1])
        self.n_seen_ = int(E.shape[0])
        self.report_ = self._report(conf, score)
        return self

    def _scores(self, E, conf):
        dask, da = _dask()
        ref = dask.delayed(self.scorer_, pure=True)  # one task holds the reference; every block reads it
        # blockwise, not map_blocks: map_blocks would align the 1-D conf with E's last axis
        return da.blockwise(
            _score_block,
            "i",
            E,
            "ij",
            conf,
            "i",
            self.hard_threshold_,
            None,
            ref,
            None,
            concatenate=True,
            dtype=np.float64,
        )

    def _report(self, conf, score) -> DaskOverlapReport:
        _, da = _dask()
        regions = da.map_blocks(
            _regions_block, conf, score, self.hard_threshold_, self.overlap_threshold_, dtype=np.int8
        )
        return DaskOverlapReport(
            regions,
            conf,
            score,
            self.hard_threshold_,
            self.overlap_threshold_,
            self.scorer,
            self.hard_threshold_bound_,
            self.overlap_threshold_bound_,
        )

    def predict_report(self, proba, embeddings) -> DaskOverlapReport:
        """Regions of new points with the fitted thresholds and reference (one pass, lazy)."""
        _, da = _dask()
        if not hasattr(self, "hard_threshold_"):
            raise W2SError("this DaskOverlapDetector is not fitted yet: call fit(proba, embeddings) first")
        P, E = self._inputs(proba, embeddings)
        if E.shape[1] != self.n_features_in_:
            raise W2SError(
                f"embeddings have {E.shape[1]} features; the detector was fitted on {self.n_features_in_}"
            )
        conf = self._confidence(P)
        if self.scorer_ is None:
            score = da.where(conf < self.hard_threshold_, np.nan, 0.0)
        else:
            score = self._scores(E, conf)
        return self._report(conf, score)

    def predict(self, proba, embeddings):
        return self.predict_report(proba, embeddings).regions


def detect_overlap_dask(proba, embeddings, **params) -> DaskOverlapReport:
    """Run the two-stage detector on dask arrays; ``params`` are :class:`DaskOverlapDetector` parameters."""
    return DaskOverlapDetector(**params).fit(proba, embeddings).report_


# -- the hook used by OverlapDetector when it is given dask collections -----------------------------
_SHARED = (
    "scorer",
    "scorer_params",
    "hard_threshold",
    "overlap_threshold",
    "threshold_params",
    "chunk_size",
    "random_state",
)
_FITTED = (
    "hard_threshold_",
    "overlap_threshold_",
    "scorer_",
    "report_",
    "n_features_in_",
    "n_classes_",
    "n_seen_",
    "hard_threshold_bound_",
    "overlap_threshold_bound_",
    "n_reference_",
)


def _from(detector) -> DaskOverlapDetector:
    if getattr(detector, "accumulate", False):
        raise W2SError(
            "OverlapDetector(accumulate=True) keeps a history in memory; on dask arrays fit the "
            "whole pool at once instead (accumulate=False)"
        )
    return DaskOverlapDetector(**{k: getattr(detector, k) for k in _SHARED})


def fit_detector(detector, proba, embeddings):
    """``OverlapDetector.fit`` on dask collections: fit a DaskOverlapDetector, copy its fitted state."""
    dd = _from(detector).fit(proba, embeddings)
    for k in _FITTED:
        setattr(detector, k, getattr(dd, k))
    detector._dask_detector = dd
    return detector


def predict_report(detector, proba, embeddings) -> DaskOverlapReport:
    dd = getattr(detector, "_dask_detector", None)
    if dd is None:
        dd = _from(detector)
        for k in _FITTED:
            if hasattr(detector, k):
                setattr(dd, k, getattr(detector, k))
    return dd.predict_report(proba, embeddings)
