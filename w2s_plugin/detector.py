"""Two-stage overlap detection (docs/method.md, "Two-stage detection") as a scikit-learn style estimator.

Stage 1 splits weak-model confidence at its L2 change point: points below are *hard-only*.
Stage 2 scores every other point by how strongly its representation lines up with what the
hard-only points span, and splits those scores again: points at or above are *overlap*, the rest
*easy-only*. Scorers and threshold rules are looked up by name in the plugin registry.
"""

from __future__ import annotations

import enum
import inspect
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import plugins
from .errors import DataError, MissingExtraError, W2SError
from .overlap import RowCheck, iter_row_blocks, weak_confidence
from .params import ParamsMixin, accepts, check_params, supported
from .validation import check_embeddings, check_proba, check_random_state

#: Scorer keywords the detector itself supplies (when the factory takes them), not the user.
_DETECTOR_KWARGS = ("chunk_size", "random_state", "exact")


def make_scorer(name: str, params: dict | None, chunk_size: int, random_state=None, exact: bool = False):
    """Build the overlap scorer registered as ``name`` with the user's ``params``.

    ``chunk_size``, ``random_state`` and ``exact`` go to the factory only if its signature names them (a
    factory with ``**kwargs`` takes everything). A parameter the factory does not take is a
    W2SError naming it and the accepted ones, so a typo such as ``varance`` is never ignored.
    """
    factory = plugins.lookup("overlap_scorers", name, "overlap scorer")
    if params is not None and not isinstance(params, dict):
        raise W2SError(
            f"scorer_params must be a dict of the scorer's parameters, e.g. {{'variance': 0.9}}; "
            f"got {type(params).__name__} {params!r}"
        )
    params = dict(params or {})
    check_params(factory, params, f"overlap scorer {name!r}", supplied=_DETECTOR_KWARGS)
    kwargs = supported(factory, {"chunk_size": chunk_size, "random_state": random_state})
    try:  # only a scorer that names ``exact`` has two paths; **kwargs plugins never see it
        names_exact = "exact" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        names_exact = False
    if names_exact:
        kwargs["exact"] = bool(exact)
    kwargs.update(params)  # the user's value wins, chunk_size and random_state included
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise W2SError(f"overlap scorer {name!r} rejected its parameters {params}: {exc}") from exc


#: The scorer used when none is named. Chosen by the detection-quality evidence in
#: docs/detection.md: on the paper's mixture, with ground truth, it has the best overlap F1
#: (0.90 vs 0.80 for ``subspace`` and 0.18 for the paper's ``max_cosine``), and is linear in n.
DEFAULT_SCORER = "rms_cosine"


class W2SWarning(UserWarning):
    """Something about the data makes a result less meaningful than usual."""


class Region(enum.IntEnum):
    """Which patterns a point holds (docs/method.md, "The three regions")."""

    EASY_ONLY = 0
    HARD_ONLY = 1
    OVERLAP = 2

    @classmethod
    def parse(cls, value) -> Region:
        """``value`` as a Region: a Region, its int, or its name (``"overlap"``, ``"hard_only"``,
        ``"hard-only"``, any case), so ``report.indices("overlap")`` reads as the docs do."""
        if isinstance(value, str):
            key = value.strip().upper().replace("-", "_").replace(" ", "_")
            if key in cls.__members__:
                return cls[key]
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if int(value) in cls._value2member_map_:
                return cls(int(value))
        names = ", ".join(repr(r.name.lower()) for r in cls)
        raise W2SError(f"unknown region {value!r}: use one of {names} (or a Region, or its int 0-2)")


class ByRegion(dict):
    """A dict keyed by :class:`Region` (counts, accuracies) that also takes a region's name or int."""

    def __getitem__(self, key):
        return super().__getitem__(Region.parse(key))

    def get(self, key, default=None):
        try:
            return self[key]
        except (KeyError, W2SError):
            return default

    def __contains__(self, key):
        try:
            return super().__contains__(Region.parse(key))
        except W2SError:
            return False


def assign_regions(conf, score, hard_threshold: float, overlap_threshold: float) -> np.ndarray:
    """The one region rule (every detection path uses it): hard-only below the confidence
    threshold; among the rest, overlap where the overlap score reaches its threshold (a NaN score
    never does), else easy-only. ``int8`` codes of :class:`Region`."""
    conf = np.asarray(conf)
    regions = np.full(conf.shape[0], int(Region.EASY_ONLY), dtype=np.int8)
    hard = conf < hard_threshold
    regions[hard] = int(Region.HARD_ONLY)
    with np.errstate(invalid="ignore"):
        regions[~hard & (np.asarray(score) >= overlap_threshold)] = int(Region.OVERLAP)
    return regions


@dataclass
class OverlapReport:
    """What detection found in one set of points."""

    regions: np.ndarray
    confidence: np.ndarray
    overlap_score: np.ndarray
    hard_threshold: float
    overlap_threshold: float
    scorer: str = DEFAULT_SCORER
    counts: dict = field(init=False)
    density: float = field(init=False)

    def __post_init__(self):
        self.regions = np.asarray(self.regions, dtype=np.int8)
        bc = np.bincount(self.regions, minlength=3)
        self.counts = ByRegion((r, int(bc[r])) for r in Region)
        n = self.regions.size
        self.density = float(bc[Region.OVERLAP] / n) if n else 0.0

    def __len__(self) -> int:
        return int(self.regions.size)

    @property
    def n_overlap(self) -> int:
        return self.counts[Region.OVERLAP]

    def mask(self, region: Region | str) -> np.ndarray:
        """Whether each point is in ``region`` (a Region or its name, e.g. ``"overlap"``)."""
        return self.regions == int(Region.parse(region))

    def indices(self, region: Region | str) -> np.ndarray:
        """Positions of the points in ``region`` (a Region or its name, e.g. ``"overlap"``)."""
        return np.flatnonzero(self.regions == int(Region.parse(region)))

    def summary(self) -> str:
        """A short text table: counts and shares per region, both thresholds, the density."""
        n = len(self)
        lines = [
            f"overlap detection ({self.scorer} scorer) on {n} points",
            f"{'region':<10} {'count':>8} {'share':>7}",
        ]
        for r in (Region.OVERLAP, Region.EASY_ONLY, Region.HARD_ONLY):
            c = self.counts[r]
            lines.append(f"{r.name.lower():<10} {c:>8} {c / n if n else 0:>7.1%}")
        lines.append(f"hard-only threshold (weak confidence <): {self.hard_threshold:.4g}")
        lines.append(f"overlap threshold (overlap score >=):    {self.overlap_threshold:.4g}")
        lines.append(f"overlap density: {self.density:.4f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "n": len(self),
            "scorer": self.scorer,
            "density": self.density,
            "hard_threshold": self.hard_threshold,
            "overlap_threshold": self.overlap_threshold,
            "counts": {r.name.lower(): c for r, c in self.counts.items()},
        }

    def plot(self, path=None, ax=None, truth=None):
        """Sorted confidence and overlap-score curves with their thresholds (needs the ``plot`` extra).

        The legend counts *detected* points per region; pass ``truth`` (the true ``Region`` of each
        point, where known, e.g. a synthetic pool's ``regions``) to show the true counts beside them.
        Returns the matplotlib figure; writes it to ``path`` when given.
        """
        n = len(self)
        true_count = None
        if truth is not None:
            truth = np.asarray(truth)
            if truth.shape != (n,) or not np.isin(truth, [int(r) for r in Region]).all():
                raise DataError(
                    f"truth must hold the true Region (0, 1 or 2) of each of the {n} points; got "
                    f"shape {truth.shape}"
                )
            true_count = np.bincount(truth.astype(np.int64), minlength=3)

        def label(r: Region) -> str:
            name = r.name.lower().replace("_", "-")
            text = f"{name}: {self.counts[r]} detected"
            return text if true_count is None else f"{text}, {int(true_count[r])} true"

        plt = _pyplot(agg=path is not None and ax is None)
        if ax is None:
            fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        else:
            axes = np.atleast_1d(ax)
            fig = axes[0].figure
        self._plot_stage1(axes[0], label)
        if len(axes) > 1:
            self._plot_stage2(axes[1], label)
        fig.suptitle(f"overlap detection on {n} points: overlap density {self.density:.3f}", fontsize=11)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
        return fig

    def _plot_stage1(self, a0, label) -> None:
        """Stage 1 decides hard-only vs the rest; colour only that, so no region hides another."""
        order = np.argsort(self.confidence, kind="stable")
        keep = _thin(order.size)
        conf = self.confidence[order][keep]
        is_hard = self.regions[order][keep] == int(Region.HARD_ONLY)
        a0.scatter(
            keep[is_hard],
            conf[is_hard],
            s=5,
            color=_REGION_COLORS[Region.HARD_ONLY],
            label=label(Region.HARD_ONLY),
        )
        a0.scatter(
            keep[~is_hard],
            conf[~is_hard],
            s=5,
            color="#7f7f7f",
            label=f"rest: {len(self) - self.counts[Region.HARD_ONLY]}, split in stage 2",
        )
        a0.axhline(
            self.hard_threshold, color="k", ls="--", lw=1, label=f"threshold {self.hard_threshold:.3g}"
        )
        a0.set(
            title="stage 1: weak-model confidence, sorted",
            xlabel="points (sorted by confidence)",
            ylabel="confidence (top-1 minus top-2 prob.)",
        )
        a0.legend(loc="upper left", fontsize=8, markerscale=2)

    def _plot_stage2(self, a1, label) -> None:
        """Stage 2 splits the non-hard points' overlap scores into easy-only and overlap."""
        nh = self.regions != int(Region.HARD_ONLY)
        s = self.overlap_score[nh]
        reg = self.regions[nh]
        o = np.argsort(s, kind="stable")
        keep = _thin(o.size)
        for r in (Region.EASY_ONLY, Region.OVERLAP):
            m = reg[o][keep] == int(r)
            a1.scatter(keep[m], s[o][keep][m], s=5, color=_REGION_COLORS[r], label=label(r))
        if np.isfinite(self.overlap_threshold):
            a1.axhline(
                self.overlap_threshold,
                color="k",
                ls="--",
                lw=1,
                label=f"threshold {self.overlap_threshold:.3g}",
            )
        a1.set(
            title=f"stage 2: overlap score of the rest, sorted ({self.scorer})",
            xlabel="non-hard points (sorted by score)",
            ylabel="overlap score",
        )
        a1.legend(loc="upper left", fontsize=8, markerscale=2)


_REGION_COLORS = {Region.HARD_ONLY: "#d62728", Region.EASY_ONLY: "#1f77b4", Region.OVERLAP: "#2ca02c"}


def _pyplot(agg: bool):
    """``matplotlib.pyplot`` (the ``plot`` extra), on the file-only Agg backend when ``agg``."""
    try:
        import matplotlib

        if agg:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingExtraError("plotting", "plot") from None
    return plt


def _thin(m: int) -> np.ndarray:
    """At most 4000 evenly spaced positions of ``m``: curves keep their shape, fast for 10^6 points."""
    if not m:
        return np.zeros(0, np.int64)
    return np.unique(np.linspace(0, m - 1, min(m, 4000)).astype(np.int64))


def _threshold(rule, values: np.ndarray, params: dict | None) -> float:
    if values.size == 0:
        return float("nan")
    if isinstance(rule, (int, float)) and not isinstance(rule, bool):
        return float(rule)
    func = plugins.lookup("thresholds", rule, "threshold rule")
    params = params or {}
    check_params(func, params, f"threshold rule {rule!r}", skip=1)
    return float(func(values, **params))


NO_HARD_ONLY = (
    "no hard-only point found (the weak model is equally confident everywhere): nothing spans "
    "the hard pattern, so every non-hard point is easy-only and the overlap density is 0"
)


def warn_no_hard_only(stacklevel: int = 2) -> None:
    """Warn (:class:`W2SWarning`) that stage 1 found no hard-only point, for every detector
    (in memory, Dask). ``stacklevel`` counts from the caller, as in :func:`warnings.warn`."""
    warnings.warn(NO_HARD_ONLY, W2SWarning, stacklevel=stacklevel + 1)


def _fit_reference(scorer, E, hard_rows: np.ndarray, hist_ref: np.ndarray, fit_kw: dict) -> None:
    """Fit ``scorer`` on the hard-only rows of ``E`` and the history's hard-only rows ``hist_ref``."""
    if not hist_ref.shape[0]:
        scorer.fit(E, rows=hard_rows, **fit_kw)
    elif not hasattr(scorer, "partial_fit"):
        scorer.fit(np.vstack([np.asarray(E[hard_rows], dtype=np.float64), hist_ref]))
    elif hard_rows.size:
        scorer.fit(E, rows=hard_rows, **fit_kw)
        scorer.partial_fit(hist_ref)
    else:
        scorer.fit(hist_ref)


class OverlapDetector(ParamsMixin):
    """Detect easy-only, hard-only and overlap points (scikit-learn conventions).

    Parameters
    ----------
    scorer : str
        Registered overlap scorer: ``"rms_cosine"`` (the default: root-mean-square |cos| to the
        hard-only points, linear in n), ``"subspace"`` (projection onto their top directions,
        linear in n), ``"max_cosine"`` (the paper's exact max |cos| to any hard-only point),
        ``"max_inner"`` (the reference's raw inner product), or any plugin's.
    scorer_params : dict, optional
        Passed to the scorer's factory (e.g. ``{"variance": 0.9}`` or ``{"n_components": 5}``).
    hard_threshold, overlap_threshold : str or float
        Registered threshold rule for each stage (default ``"change_point"``, the exact L2
        change point), or a fixed value.
    threshold_params : dict, optional
        Passed to both threshold rules.
    accumulate : bool
        Carry points across ``fit`` calls: thresholds and the hard-only reference then use every
        point seen so far (a uniform reservoir of at most ``history_size``), as the reference does
        over the rounds of a campaign.
    history_size : int
        Cap on the points kept for ``accumulate``.
    chunk_size : int
        Rows scored at a time; memory is O(chunk_size x reference size).
    random_state : int, Generator or None
        Seeds the history reservoir and any scorer that samples.
    exact : bool
        ``False`` (default): the built-in ``rms_cosine`` scorer takes its fast path (symmetric and
        triangular BLAS kernels, validation fused into the reads, a sampled Gram matrix and a lower
        rank only where a pilot shows the same regions; see docs/detection.md). ``True``: every
        hard-only row, full products, a separate validation pass (the earlier result).
    progress : bool
        Show a progress bar over the rows read (useful for memory-mapped pools).

    Attributes (after ``fit``)
    --------------------------
    hard_threshold_, overlap_threshold_ : float
    scorer_ : fitted scorer object (``None`` if no hard-only point was found)
    n_features_in_, n_classes_ : int
    report_ : OverlapReport of the points passed to the last ``fit``
    n_seen_ : int, points seen by ``fit`` so far
    """

    def __init__(
        self,
        scorer: str = DEFAULT_SCORER,
        scorer_params: dict | None = None,
        hard_threshold="change_point",
        overlap_threshold="change_point",
        threshold_params: dict | None = None,
        accumulate: bool = False,
        history_size: int = 50_000,
        chunk_size: int = 8192,
        random_state=None,
        exact: bool = False,
        progress: bool = False,
    ):
        self.scorer = scorer
        self.scorer_params = scorer_params
        self.hard_threshold = hard_threshold
        self.overlap_threshold = overlap_threshold
        self.threshold_params = threshold_params
        self.accumulate = accumulate
        self.history_size = history_size
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.exact = exact
        self.progress = progress

    # -- fitting -----------------------------------------------------------------------------
    def _check(self, proba, embeddings, min_rows: int, fused: bool = False):
        """Checked ``(P, E)``. ``fused``: a float ndarray of the right shape is returned unread; its
        values are checked by a :class:`RowCheck` inside the scorer's passes (no separate pass)."""
        P = check_proba(proba, min_rows=min_rows)
        e = embeddings
        if not (
            fused
            and isinstance(e, np.ndarray)
            and e.dtype.kind == "f"
            and e.ndim == 2
            and e.shape[0] == P.shape[0]
            and e.shape[1] > 0
        ):
            e = check_embeddings(embeddings, n_rows=P.shape[0])
            fused = False
        if not isinstance(self.chunk_size, (int, np.integer)) or self.chunk_size < 1:
            raise W2SError(f"chunk_size must be a positive integer; got {self.chunk_size!r}")
        return (P, e, RowCheck(e)) if fused else (P, e, None)

    def _new_scorer(self):
        return make_scorer(self.scorer, self.scorer_params, self.chunk_size, self.random_state, self.exact)

    def _update_history(self, conf: np.ndarray, E: np.ndarray, rng: np.random.Generator) -> None:
        """Reservoir-sample this batch into the history (uniform over every point seen)."""
        if not hasattr(self, "_hist_conf"):
            self._hist_conf = np.empty(0)
            self._hist_emb = np.empty((0, E.shape[1]))
            self.n_seen_ = 0
        cap = int(self.history_size)
        seen = self.n_seen_
        n = conf.size
        room = max(0, cap - self._hist_conf.size)
        take = min(room, n)
        touched = [np.arange(self._hist_conf.size, self._hist_conf.size + take)]
        keep_conf = [self._hist_conf, conf[:take]]
        keep_emb = [self._hist_emb, np.asarray(E[:take], dtype=np.float64)]
        self._hist_conf = np.concatenate(keep_conf)
        self._hist_emb = np.vstack(keep_emb)
        if take < n:  # Algorithm R, vectorised: item i (global index seen+i) replaces slot j < cap
            gidx = seen + np.arange(take, n)
            j = (rng.random(gidx.size) * (gidx + 1)).astype(np.int64)
            hit = j < cap
            src = np.arange(take, n)[hit]
            slots = j[hit]
            self._hist_conf[slots] = conf[src]
            self._hist_emb[slots] = np.asarray(E[src], dtype=np.float64)
            touched.append(slots)
        # Slots written by this call: lets a Campaign persist the history as small per-round deltas.
        self._hist_touched = np.unique(np.concatenate(touched))
        self.n_seen_ = seen + n

    def fit(self, proba, embeddings):
        """Learn both thresholds and the hard-only reference from ``proba`` and ``embeddings``.

        Arrays a plugin claims through ``w2s_array_backend`` (the ``dask`` integration claims dask
        arrays and dataframes) are fitted by that plugin's backend: same method, run where the data
        lives, ``report_`` keeps per-point arrays there (see docs/dask.md).
        """
        backend = plugins.array_backend(proba, embeddings)
        if backend is not None:
            return backend.fit_detector(self, proba, embeddings)
        P, E, rowcheck = self._check(proba, embeddings, min_rows=2, fused=not self.exact)
        if hasattr(self, "n_features_in_") and self.accumulate and E.shape[1] != self.n_features_in_:
            raise DataError(
                f"embeddings have {E.shape[1]} features but earlier batches had {self.n_features_in_}"
            )
        rng = check_random_state(self.random_state) if not hasattr(self, "_rng") else self._rng
        self._rng = rng
        conf = weak_confidence(P)
        if self.accumulate and getattr(self, "_hist_conf", np.empty(0)).size:
            hist_conf, hist_emb = self._hist_conf, self._hist_emb
        else:
            hist_conf, hist_emb = np.empty(0), np.empty((0, E.shape[1]))
        self.hard_threshold_ = _threshold(
            self.hard_threshold, np.concatenate([hist_conf, conf]), self.threshold_params
        )
        hard = conf < self.hard_threshold_
        hist_hard = hist_conf < self.hard_threshold_
        bar = None
        if self.progress:
            from .progress import progress

            bar = progress(total=conf.size, desc="detect: rows read", unit="row")
        if not hard.any() and not hist_hard.any():
            warn_no_hard_only(stacklevel=2)
            self.scorer_ = None
            self.overlap_threshold_ = float("inf")
            score = np.zeros(conf.size)
        else:
            score, rowcheck = self._fit_stage2(E, hard, hist_emb, hist_hard, rowcheck, bar)
        if bar is not None:
            bar.close()
        if rowcheck is not None:
            rowcheck.finish()  # constant embeddings, or rows no pass read
        if self.accumulate:
            self._update_history(conf, E, rng)
        else:
            self.n_seen_ = getattr(self, "n_seen_", 0) + conf.size
        self.n_features_in_ = E.shape[1]
        self.n_classes_ = P.shape[1]
        self.report_ = self._make_report(conf, score)
        return self

    def _fit_stage2(self, E, hard, hist_emb, hist_hard, rowcheck, bar):
        """Fit the scorer on the hard-only points (this batch's and the history's), score the rest and
        set the overlap threshold. Returns the scores (NaN on hard-only rows) and the row check still
        to finish (``None`` once finished)."""
        scorer = self._new_scorer()
        fuses = accepts(scorer.fit, "check") and accepts(scorer.score, "check")
        if rowcheck is not None and not fuses:
            # a scorer whose passes cannot validate (plugins, subspace, max_cosine): one pass up front
            rowcheck.finish()
            rowcheck = None
        fit_kw = {"check": rowcheck, "progress": bar} if rowcheck is not None else {}
        _fit_reference(scorer, E, np.flatnonzero(hard), hist_emb[hist_hard], fit_kw)
        self.scorer_ = scorer
        nonhard = ~hard
        score = np.full(hard.size, np.nan)
        score[nonhard] = self._score(E, nonhard, **fit_kw)
        values = score[nonhard]
        if (~hist_hard).any():
            values = np.concatenate([values, scorer.score(hist_emb[~hist_hard])])
        self.overlap_threshold_ = _threshold(self.overlap_threshold, values, self.threshold_params)
        return score, rowcheck

    def _score(self, E, rows_mask: np.ndarray, **kw) -> np.ndarray:
        """Scores of the selected rows, streamed in chunks of ``chunk_size`` rows.

        Built-in scorers take ``rows`` and walk ``E`` slice by slice; for a plugin scorer without
        it, the selected rows are gathered one chunk at a time (never the whole selection at once).
        """
        rows = None if rows_mask.all() else rows_mask
        if rows is None or accepts(self.scorer_.score, "rows"):
            return np.asarray(
                self.scorer_.score(E, rows=rows, **kw) if rows is not None else self.scorer_.score(E, **kw),
                dtype=np.float64,
            )
        out = np.empty(int(rows_mask.sum()))
        for pos, block in iter_row_blocks(E, rows_mask, max(self.chunk_size, 1), np.asarray(E[:0]).dtype):
            out[pos] = self.scorer_.score(block)
        return out

    def _make_report(self, conf: np.ndarray, score: np.ndarray) -> OverlapReport:
        regions = assign_regions(conf, score, self.hard_threshold_, self.overlap_threshold_)
        score = np.where(regions == int(Region.HARD_ONLY), np.nan, score)
        return OverlapReport(regions, conf, score, self.hard_threshold_, self.overlap_threshold_, self.scorer)

    def _check_fitted(self):
        if not hasattr(self, "hard_threshold_"):
            raise W2SError("this OverlapDetector is not fitted yet: call fit(proba, embeddings) first")

    def predict_report(self, proba, embeddings) -> OverlapReport:
        """Assign regions to new points with the fitted thresholds and reference."""
        self._check_fitted()
        backend = plugins.array_backend(proba, embeddings)
        if backend is not None:
            return backend.predict_report(self, proba, embeddings)
        P, E, _ = self._check(proba, embeddings, min_rows=1)
        if E.shape[1] != self.n_features_in_:
            raise DataError(
                f"embeddings have {E.shape[1]} features; the detector was fitted on {self.n_features_in_}"
            )
        if P.shape[1] != self.n_classes_:
            raise DataError(f"proba has {P.shape[1]} classes; the detector was fitted on {self.n_classes_}")
        conf = weak_confidence(P)
        hard = conf < self.hard_threshold_
        score = np.full(conf.size, np.nan)
        if self.scorer_ is None:
            score[~hard] = 0.0
        elif (~hard).any():
            score[~hard] = self._score(E, ~hard)
        return self._make_report(conf, score)

    def predict(self, proba, embeddings) -> np.ndarray:
        """Regions (``Region`` values as int8) of new points, with the fitted thresholds."""
        return self.predict_report(proba, embeddings).regions

    def fit_predict(self, proba, embeddings) -> np.ndarray:
        return self.fit(proba, embeddings).report_.regions

    def fit_report(self, proba, embeddings) -> OverlapReport:
        return self.fit(proba, embeddings).report_

    # -- persistence of the accumulated history (for campaigns) ----------------------------------
    def history_state(self) -> dict:
        """Arrays needed to resume accumulation exactly (see ``Campaign``)."""
        if not hasattr(self, "_hist_conf"):
            return {}
        return {
            "conf": self._hist_conf,
            "emb": self._hist_emb,
            "n_seen": np.array(self.n_seen_),
            "rng": np.frombuffer(repr(self._rng.bit_generator.state).encode(), dtype=np.uint8),
        }

    def load_history_state(self, state: dict):
        if not state:
            return self
        import ast

        self._hist_conf = np.asarray(state["conf"], dtype=np.float64)
        self._hist_emb = np.asarray(state["emb"], dtype=np.float64)
        self.n_seen_ = int(state["n_seen"])
        rng = check_random_state(self.random_state)
        rng.bit_generator.state = ast.literal_eval(bytes(np.asarray(state["rng"], dtype=np.uint8)).decode())
        self._rng = rng
        return self


def detect_overlap(proba, embeddings, **params) -> OverlapReport:
    """Run the two-stage detector on one set of points and return its :class:`OverlapReport`.

    ``params`` are :class:`OverlapDetector` parameters (``scorer``, ``hard_threshold``, ...).
    """
    return OverlapDetector(**params).fit(proba, embeddings).report_
