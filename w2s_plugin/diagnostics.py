"""Should you trust overlap density on *your* data? A check on a small gold-labelled sample.

The method rests on one claim: the points detection calls *overlap* carry weak labels that are
clearly more accurate than the rest. That claim can be checked before a bandit is allowed to steer
a campaign: label a few hundred points by hand, run :func:`diagnose`, read the verdict.

The test. Weak-label correctness on detected-overlap points is compared with correctness on every
other gold-labelled point by a one-sided Fisher exact test (H1: overlap is more accurate; the
hypergeometric tail of the 2 x 2 table). Accuracies get Wilson score intervals; the gap gets
Newcombe's hybrid-score interval (built from the two Wilson intervals). The verdict is

* ``informative``: p < ``alpha`` **and** the observed gap is at least ``min_gap``;
* ``not informative``: the interval's upper end is below ``min_gap`` (a useful gap is ruled out),
  or the gap is significantly negative;
* ``inconclusive``: anything else (usually too few gold labels, or too few detected-overlap points).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .bandit import wilson_interval
from .detector import ByRegion, OverlapDetector, Region, W2SWarning
from .errors import DataError, W2SError
from .validation import check_classes_agree, check_embeddings, check_proba

VERDICTS = ("informative", "not informative", "inconclusive")
_REGION_ORDER = (Region.OVERLAP, Region.EASY_ONLY, Region.HARD_ONLY)


@dataclass
class GroupAccuracy:
    """Weak-label accuracy of one group of gold-labelled points, with its Wilson interval."""

    name: str
    n: int
    correct: int
    ci_low: float
    ci_high: float
    n_points: int = 0  # points in the group, labelled or not
    overlap_density: float = float("nan")
    density_ci: tuple = (float("nan"), float("nan"))

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "n_gold": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_points": self.n_points,
            "overlap_density": self.overlap_density,
            "density_ci": list(self.density_ci),
        }


@dataclass
class DiagnosticReport:
    """What :func:`diagnose` found: accuracies per region and per source, the test, the verdict."""

    regions: dict  # Region (or its name) -> GroupAccuracy
    rest: GroupAccuracy  # every gold point not detected as overlap
    sources: dict  # source name -> GroupAccuracy (overall) ; empty without sources
    source_overlap: dict  # source name -> GroupAccuracy on its detected-overlap points
    gap: float  # accuracy(overlap) - accuracy(rest)
    gap_ci: tuple
    p_value: float
    verdict: str
    reason: str
    alpha: float
    min_gap: float
    n_gold: int
    n_points: int
    density: float
    detector: object = field(repr=False, default=None)
    region_labels: np.ndarray = field(repr=False, default=None)
    decision: Decision = None

    @property
    def recommendation(self) -> str | None:
        """The training set to use, one of :data:`RECOMMENDABLE` (see :class:`Decision`)."""
        return self.decision.recommendation if self.decision is not None else None

    @property
    def informative(self) -> bool:
        return self.verdict == "informative"

    def to_dict(self) -> dict:
        """Plain JSON types, one per field: numpy scalars become bool/int/float, and a number that is
        undefined (NaN: an empty group, no interval) becomes None."""
        return json_ready(self._to_dict())

    def _to_dict(self) -> dict:
        d = self.decision
        out = {
            "recommendation": self.recommendation,
            "policies": {k: v.to_dict() for k, v in d.policies.items()} if d else {},
            "decision": d.to_dict() if d else None,
        }
        out.update(self._label_dict())
        if d is not None:
            for name, sd in d.sources.items():
                out["sources"].setdefault(name, {}).update(
                    {
                        "recommendation": sd.recommendation,
                        "reason": sd.reason,
                        "policies": {k: v.to_dict() for k, v in sd.policies.items()},
                    }
                )
        return out

    def _label_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "verdict_headline": self.verdict_headline(),
            "reason": self.reason,
            "p_value": float(self.p_value),
            "gap": float(self.gap),
            "gap_ci": [float(v) for v in self.gap_ci],
            "alpha": float(self.alpha),
            "min_gap": float(self.min_gap),
            "n_gold": int(self.n_gold),
            "n_points": int(self.n_points),
            "overlap_density": float(self.density),
            "test": "one-sided Fisher exact test, weak-label accuracy on detected overlap > elsewhere",
            "regions": {r.name.lower(): g.to_dict() for r, g in self.regions.items()},
            "rest": self.rest.to_dict(),
            "sources": {k: g.to_dict() for k, g in self.sources.items()},
            "source_overlap": {k: g.to_dict() for k, g in self.source_overlap.items()},
        }

    def summary(self) -> str:
        def row(g: GroupAccuracy, extra: str = "") -> str:
            acc = "-" if not g.n else f"{g.accuracy:.3f}"
            return f"{g.name:<22} {g.n_points:>7} {g.n:>6} {acc:>8}  [{g.ci_low:.3f}, {g.ci_high:.3f}]{extra}"

        head = f"{'group':<22} {'points':>7} {'gold':>6} {'weak acc':>8}  95% Wilson interval"
        lines = []
        top = self.decision.headline() if self.decision is not None else None
        if top:
            lines += [top, ""]
        if self.decision is not None:
            lines += [
                "== which training set to give the strong model ==",
                self.decision.summary(),
                "",
                "== are weak labels more accurate on detected overlap? ==",
            ]
        lines += [
            f"weak-label accuracy on {self.n_gold} gold-labelled points ({self.n_points} points in all, "
            f"overlap density {self.density:.3f})",
            "",
            "by detected region",
            head,
        ]
        for r in _REGION_ORDER:
            lines.append(row(self.regions[r]))
        lines.append(row(self.rest))
        if self.sources:
            lines += [
                "",
                "by source (overall; on its detected overlap; its overlap density)",
                f"{'source':<22} {'points':>7} {'gold':>6} {'weak acc':>8}  95% Wilson interval",
            ]
            for name, g in self.sources.items():
                o = self.source_overlap[name]
                oa = "-" if not o.n else f"{o.accuracy:.3f} (n={o.n})"
                lo, hi = g.density_ci
                lines.append(
                    row(g, f"  overlap acc {oa}; density {g.overlap_density:.3f} [{lo:.3f}, {hi:.3f}]")
                )
        lo, hi = self.gap_ci
        lines += [
            "",
            f"gap (overlap - rest): {self.gap:+.3f}, 95% interval [{lo:+.3f}, {hi:+.3f}]; "
            f"one-sided Fisher exact p = {self.p_value:.3g}",
            self.verdict_headline(),
        ]
        return "\n".join(lines)

    def verdict_headline(self) -> str:
        """The label analysis's verdict line. It never contradicts the decision: when the gold labels
        alone win, an informative test says only that overlap is *relatively* more reliable."""
        if self.recommendation == "gold" and self.verdict == "informative":
            return (
                "verdict: weak labels are more accurate on detected overlap than elsewhere (the test says "
                f"informative: {self.reason}), but even there they do not pay here: the decision above is "
                "to train on the gold labels only; overlap density can still rank sources or points for "
                "people to label"
            )
        return f"verdict: overlap density looks {self.verdict.upper()} here: {self.reason}"


def json_ready(v):
    """``v`` with plain JSON types only: numpy bools/ints/floats as Python ones (never a bool turned
    into 1.0), tuples and arrays as lists, NaN and inf as None."""
    if isinstance(v, dict):
        return {str(k): json_ready(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [json_ready(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def _group(name, correct_mask, in_group, labelled, z) -> GroupAccuracy:
    sel = in_group & labelled
    n = int(sel.sum())
    c = int(correct_mask[sel].sum())
    lo, hi = wilson_interval(c, n, z) if n else (float("nan"), float("nan"))
    return GroupAccuracy(name, n, c, lo, hi, n_points=int(in_group.sum()))


def fisher_greater(c1: int, n1: int, c2: int, n2: int) -> float:
    """One-sided Fisher exact p-value that group 1's success rate exceeds group 2's."""
    from scipy.stats import hypergeom

    if n1 == 0 or n2 == 0:
        return float("nan")
    # Successes in group 1 given the margins: hypergeometric(M=n1+n2, n=c1+c2, N=n1).
    return float(hypergeom.sf(c1 - 1, n1 + n2, c1 + c2, n1))


def newcombe_interval(c1: int, n1: int, c2: int, n2: int, z: float = 1.96) -> tuple[float, float]:
    """Newcombe's hybrid-score interval for p1 - p2 (method 10), from the two Wilson intervals."""
    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan")
    p1, p2 = c1 / n1, c2 / n2
    l1, u1 = wilson_interval(c1, n1, z)
    l2, u2 = wilson_interval(c2, n2, z)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def invalid_gold(y) -> np.ndarray:
    """Mask of entries that are neither a class index (0, 1, ...) nor "no gold label" (-1 or NaN)."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        missing = np.isnan(y) | (y == -1)
        return ~missing & ~(np.isfinite(y) & (y >= 0) & (y == np.round(y)))
    return (y < -1) if y.dtype.kind == "i" else np.zeros(y.shape, dtype=bool)


def _first(values, limit: int = 5) -> str:
    shown = ", ".join(str(v) for v in list(values)[:limit])
    return shown + (f" (and {len(values) - limit} more)" if len(values) > limit else "")


def _gold(y_gold, n: int):
    """Gold labels as int64 with -1 for "no gold label", and the mask of labelled points.

    -1 and NaN mean "no gold label" whatever the dtype (labels read from a CSV are floats, so -1.0
    must not count as a label); any other negative or fractional value is an error.
    """
    y = np.asarray(y_gold)
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(
            f"y_gold must be 1-D with one entry per point ({n}); got shape {y.shape}. "
            "Mark points without a gold label by -1 (or NaN)."
        )
    if y.dtype.kind not in "fiub":
        raise DataError(
            f"y_gold must hold integer class indices (column of proba), -1 for unlabelled; "
            f"got dtype {y.dtype}. Map your label names to column indices first."
        )
    bad = np.flatnonzero(invalid_gold(y))
    if bad.size:
        word, verb = ("row", "holds") if bad.size == 1 else ("rows", "hold")
        raise DataError(
            f"y_gold must hold class indices (0 .. k-1), or -1 / NaN for no gold label; "
            f"{word} {_first(bad.tolist())} (0-based) {verb} {_first(y[bad].tolist())}"
        )
    if y.dtype.kind == "f":
        labelled = ~np.isnan(y) & (y != -1)
        y = np.where(labelled, y, -1).astype(np.int64)
    else:
        y = y.astype(np.int64)
        labelled = y >= 0
    return y, labelled


def diagnose(
    proba,
    embeddings,
    y_gold,
    sources=None,
    detector=None,
    *,
    regions=None,
    alpha: float = 0.05,
    min_gap: float = 0.10,
    z: float = 1.96,
    random_state=0,
    estimator=None,
    folds: int = 5,
    max_train: int = 4000,
    policies: bool = True,
    candidates=None,
    weights=None,
) -> DiagnosticReport:
    """Which weak labels to train the strong model on (the decision), then weak-label accuracy per
    detected region and per source and whether overlap looks informative (the label analysis).

    The decision (:func:`decide`, in ``report.decision`` / ``report.recommendation``) estimates by
    cross-fitting on the gold items the accuracy of a strong model (``estimator``: any scikit-learn
    classifier, or one of :data:`STRONG_MODELS`; default logistic regression on the standardized
    embeddings) trained on each candidate (:data:`RECOMMENDABLE`): the gold labels alone (``gold``),
    the weak labels of a policy (``all``, ``confident`` = not hard-only, ``overlap``; ``random`` of
    the overlap's size is a control) or both (``gold+<policy>``, one weak label weighing one of
    ``weights`` of a gold label, chosen by nested cross-fitting). ``candidates`` restricts what may
    be recommended; ``policies=False`` skips the decision.

    Parameters
    ----------
    proba : (n,) p(class 1) or (n, k) weak-model probabilities for every point of the pool.
    embeddings : (n, d) strong representations of the same points.
    y_gold : (n,) gold class indices (columns of ``proba``); -1 or NaN where there is no gold label.
        Detection runs on every point (thresholds need the whole pool); accuracy uses the labelled ones.
    sources : optional (n,) source name of every point: accuracy and overlap density per source.
    detector : an :class:`OverlapDetector` (fitted, e.g. a campaign's: its thresholds are reused and
        its history is left alone; not fitted: fitted here) or ``None`` for the library default.
    regions : optional precomputed regions (``Region`` values), skipping detection.
    alpha, min_gap : the verdict's significance level and the smallest accuracy gap worth acting on.
    """
    P = check_proba(proba, min_rows=2)
    n = P.shape[0]
    if not 0 < alpha < 1:
        raise W2SError(f"alpha must be in (0, 1); got {alpha!r}")
    if not 0 <= min_gap < 1:
        raise W2SError(f"min_gap must be in [0, 1); got {min_gap!r}")
    y, labelled = _gold_for_proba(y_gold, P)
    det, regions = _regions(P, embeddings, detector, regions, random_state)
    report = _label_analysis(P, y, labelled, regions, sources, alpha, min_gap, z)
    report.detector = det
    if policies:
        report.decision = decide(
            P,
            check_embeddings(embeddings, n_rows=n),
            y,
            regions,
            sources=sources,
            estimator=estimator,
            folds=folds,
            max_train=max_train,
            random_state=random_state,
            z=z,
            candidates=RECOMMENDABLE if candidates is None else candidates,
            weights=WEAK_WEIGHTS if weights is None else weights,
        )
    return report


def _label_analysis(P, y, labelled, regions, sources, alpha, min_gap, z) -> DiagnosticReport:
    """The report without its decision: weak-label accuracy per region and per source, the test of
    overlap against the rest, and the verdict."""
    correct = (P.argmax(axis=1) == y) & labelled
    reg = ByRegion(
        (r, _group(r.name.lower(), correct, regions == int(r), labelled, z)) for r in _REGION_ORDER
    )
    ov = regions == int(Region.OVERLAP)
    rest = _group("not overlap (rest)", correct, ~ov, labelled, z)
    o = reg[Region.OVERLAP]
    gap = o.accuracy - rest.accuracy if o.n and rest.n else float("nan")
    gap_ci = newcombe_interval(o.correct, o.n, rest.correct, rest.n, z)
    p = fisher_greater(o.correct, o.n, rest.correct, rest.n)
    verdict, reason = _verdict(o, rest, gap, gap_ci, p, alpha, min_gap)
    src_acc, src_ov = _source_groups(sources, correct, ov, labelled, z)
    return DiagnosticReport(
        reg,
        rest,
        src_acc,
        src_ov,
        float(gap),
        gap_ci,
        float(p),
        verdict,
        reason,
        alpha,
        min_gap,
        int(labelled.sum()),
        P.shape[0],
        float(ov.mean()),
        region_labels=regions,
    )


def _gold_for_proba(y_gold, P):
    """:func:`_gold` for the points of ``P``, checked against its columns and for at least one label."""
    y, labelled = _gold(y_gold, P.shape[0])
    if (y[labelled] >= P.shape[1]).any():
        k = P.shape[1]
        check_classes_agree(
            y[labelled],
            np.arange(k),
            owner="diagnose",
            labels_name=f"y_gold has class indices >= {k}: its classes",
            classes_name=f"the {k} probability columns",
            fix="give each gold label as the column of proba that holds its class "
            "(its position in the weak model's classes_)",
        )
    if labelled.sum() == 0:
        raise DataError("y_gold has no gold label (every entry is -1/NaN): label a sample of points first")
    return y, labelled


def _regions(P, embeddings, detector, regions, random_state):
    """``(detector, regions as int8)``: the given regions checked, or detected on the whole pool (a
    fitted detector judges with its thresholds and keeps its history; an unfitted one is fitted)."""
    n = P.shape[0]
    if regions is not None:
        regions = np.asarray(regions)
        if regions.shape != (n,) or not np.isin(regions, [int(r) for r in Region]).all():
            raise DataError(f"regions must be {n} Region values (0 easy-only, 1 hard-only, 2 overlap)")
        return detector, regions.astype(np.int8)
    E = check_embeddings(embeddings, n_rows=n)
    det = detector if detector is not None else OverlapDetector(random_state=random_state)
    if not isinstance(det, OverlapDetector):
        raise W2SError(f"detector must be an OverlapDetector or None; got {type(det).__name__}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", W2SWarning)
        if hasattr(det, "hard_threshold_"):  # fitted: judge with its thresholds, never touch its history
            regions = det.predict(P, E)
        else:
            regions = det.fit(P, E).report_.regions
    return det, regions.astype(np.int8)


def _verdict(o: GroupAccuracy, rest: GroupAccuracy, gap, gap_ci, p, alpha, min_gap) -> tuple[str, str]:
    """The label analysis's ``(verdict, reason)`` from the overlap and rest groups and the test."""
    if not o.n or not rest.n:
        return (
            "inconclusive",
            f"{'no' if not o.n else 'every'} gold-labelled point is detected as overlap, so there is "
            "nothing to compare; label more points (or a random sample of the pool)",
        )
    if p < alpha and gap >= min_gap:
        return (
            "informative",
            f"weak labels are {100 * gap:.1f} percentage points more accurate on detected overlap than "
            f"elsewhere ({o.accuracy:.3f} vs {rest.accuracy:.3f}; n={o.n} vs n={rest.n}); p = {p:.2g} < "
            f"{alpha}",
        )
    if gap_ci[1] < min_gap:
        return (
            "not informative",
            f"the gap's 95% interval [{gap_ci[0]:+.3f}, {gap_ci[1]:+.3f}] rules out a gap of "
            f"{100 * min_gap:.3g} percentage points or more: detected overlap does not pick out more "
            "reliable weak labels here, so overlap-driven selection has nothing to exploit",
        )
    p_less = fisher_greater(rest.correct, rest.n, o.correct, o.n)
    if p_less < alpha:
        return (
            "not informative",
            f"weak labels are significantly LESS accurate on detected overlap ({o.accuracy:.3f} vs "
            f"{rest.accuracy:.3f}, p = {p_less:.2g}): do not let overlap density steer this campaign",
        )
    return (
        "inconclusive",
        f"gap {gap:+.3f} with 95% interval [{gap_ci[0]:+.3f}, {gap_ci[1]:+.3f}] and p = {p:.2g}: too few "
        f"gold labels to decide (overlap n={o.n}, rest n={rest.n}); label more points",
    )


def _source_groups(sources, correct, ov, labelled, z) -> tuple[dict, dict]:
    """Per source: weak-label accuracy overall (with its overlap density) and on its detected overlap."""
    src_acc, src_ov = {}, {}
    if sources is None:
        return src_acc, src_ov
    n = ov.size
    s = np.asarray(sources)
    if s.ndim != 1 or s.shape[0] != n:
        raise DataError(f"sources must be 1-D with one source name per point ({n}); got shape {s.shape}")
    for name in sorted({str(v) for v in s}) if s.dtype.kind in "OUS" else sorted(set(s.tolist())):
        m = s.astype(str) == str(name)
        g = _group(str(name), correct, m, labelled, z)
        n_ov = int((m & ov).sum())
        g.overlap_density = n_ov / int(m.sum())
        g.density_ci = wilson_interval(n_ov, int(m.sum()), z)
        src_acc[str(name)] = g
        src_ov[str(name)] = _group(f"{name} overlap", correct, m & ov, labelled, z)
    return src_acc, src_ov


# --------------------------------------------------------------------------------------------------
# The decision: which weak labels should the strong model be trained on?
# --------------------------------------------------------------------------------------------------

#: Training-set policies whose strong models :func:`estimate_policies` compares. ``random`` (a
#: random sample of the pool of the overlap's size) is a control, never recommended: it tells
#: whether ``overlap`` wins by *which* points it keeps or merely by keeping fewer.
POLICIES = ("all", "confident", "overlap", "random")
#: Training sets made of weak labels only.
WEAK_POLICIES = ("all", "confident", "overlap")
#: Every candidate :func:`decide` may recommend: the gold labels alone, each weak-label policy, and
#: the gold labels plus that policy's weak labels at a cross-fitted per-weak-label weight. The gold
#: candidates exist because on real tables whose weak labeler is poor, a strong model trained on a
#: few hundred gold labels beats every weak-label training set by 10+ points (issue 18).
RECOMMENDABLE = ("gold",) + WEAK_POLICIES + tuple(f"gold+{p}" for p in WEAK_POLICIES)
#: Per-weak-label weights the ``gold+`` candidates choose from (a gold label weighs 1).
WEAK_WEIGHTS = (1.0, 0.3, 0.1)
#: Weak labels a ``gold+`` candidate's estimate trains on at most (a reweighted uniform sample).
MAX_MIXED_WEAK = 1000

#: The policy used when there is no estimate (too few gold labels, one class) and that wins ties.
#: Chosen by the real-data studies in docs/results.md ("Real data" section): of the three fixed
#: policies, training on every weak label had the smallest worst-case loss against the best policy
#: on a large test split (about 1.5 points on digits), where ``confident`` lost about 3 and
#: ``overlap`` about 5 points on the DNA data.
SAFE_DEFAULT = "all"

#: Fewer gold labels than this (or a single class) and no estimate is attempted.
MIN_GOLD = 40

STRONG_MODELS = ("logistic", "ridge", "knn", "forest")


def make_strong_model(name: str = "logistic", random_state=0):
    """A named strong model on the standardized representation (the CLI's ``--strong-model``)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        from sklearn.linear_model import LogisticRegression

        est = LogisticRegression(max_iter=500)
    elif name == "ridge":
        from sklearn.linear_model import RidgeClassifier

        est = RidgeClassifier()
    elif name == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        est = KNeighborsClassifier(n_neighbors=15)
    elif name == "forest":
        from sklearn.ensemble import RandomForestClassifier

        est = RandomForestClassifier(n_estimators=100, random_state=random_state, n_jobs=1)
    else:
        raise W2SError(
            f"unknown strong model {name!r}; choose one of {', '.join(STRONG_MODELS)} "
            "(or pass any scikit-learn estimator from Python)"
        )
    return make_pipeline(StandardScaler(), est)


@dataclass
class PolicyEstimate:
    """Estimated gold accuracy of a strong model trained on one candidate training set.

    ``ci`` is the accuracy's Wilson interval; ``diff``/``diff_ci`` the paired difference against
    ``all`` on the same gold items (mean of per-item correctness differences, normal interval).
    ``weak_weight`` is the weight of one weak label relative to a gold label in the final training
    set (1 where no weight applies: weak-only policies and ``gold``).
    """

    name: str
    accuracy: float
    ci: tuple
    n_train: int
    n_policy: int
    diff: float = 0.0
    diff_ci: tuple = (0.0, 0.0)
    correct: np.ndarray = field(repr=False, default=None)
    weak_weight: float = 1.0

    def to_dict(self) -> dict:
        return {
            "accuracy": float(self.accuracy),
            "ci": [float(v) for v in self.ci],
            "n_train": int(self.n_train),
            "n_policy": int(self.n_policy),
            "weak_weight": float(self.weak_weight),
            "diff_vs_all": float(self.diff),
            "diff_ci": [float(v) for v in self.diff_ci],
        }


@dataclass
class Decision:
    """Which training set to give the strong model, why, and the estimates behind it."""

    recommendation: str
    reason: str
    supported: bool  # True: the gold estimates single out the policy; False: the safe default
    policies: dict  # name -> PolicyEstimate (empty when the gold sample is too small)
    n_gold: int
    max_train: int
    subsampled: bool
    estimator: str
    folds: int
    sources: dict = field(default_factory=dict)  # source name -> Decision
    weights: tuple = WEAK_WEIGHTS

    def gold_margin(self, z: float = 1.96):
        """``(best weak-using candidate, paired difference gold - it, its 95% interval)``, or None
        unless ``gold`` is recommended."""
        if self.recommendation != "gold" or "gold" not in self.policies:
            return None
        others = [p for p in self.policies.values() if p.name in RECOMMENDABLE and p.name != "gold"]
        if not others:
            return None
        best = max(others, key=lambda p: p.accuracy)
        d, ci = _paired(self.policies["gold"].correct, best.correct, z)
        return best.name, d, ci

    def headline(self) -> str | None:
        """The first line of the text output when the gold labels alone win: weak labels do not pay."""
        m = self.gold_margin()
        if m is None:
            return None
        name, d, (lo, hi) = m
        g = self.policies["gold"]
        return (
            f"WEAK LABELS DO NOT PAY ON THIS DATA: the strong model trained on the {self.n_gold} gold labels "
            f"alone ({g.accuracy:.3f}) beats the best use of weak labels ({name}) by {100 * d:.1f} points "
            f"(paired 95% interval [{100 * lo:+.1f}, {100 * hi:+.1f}]); train on gold only"
        )

    def to_dict(self) -> dict:
        return {
            "recommendation": self.recommendation,
            "reason": self.reason,
            "supported_by_gold": bool(self.supported),
            "policies": {k: v.to_dict() for k, v in self.policies.items()},
            "n_gold": int(self.n_gold),
            "max_train": int(self.max_train),
            "subsampled": bool(self.subsampled),
            "strong_model": self.estimator,
            "folds": int(self.folds),
            "weak_weights": [float(w) for w in self.weights],
        }

    def summary(self) -> str:
        lines = [
            f"strong model ({self.estimator}) trained on each candidate training set (gold labels, weak "
            f"labels, or both), accuracy estimated on {self.n_gold} gold labels by {self.folds}-fold "
            "cross-fitting"
        ]
        if self.policies:
            lines += [
                f"{'training set':<15} {'n_train':>8} {'weak wt':>7} {'accuracy':>9}  95% interval      "
                "vs all (paired)"
            ]
            for p in self.policies.values():
                wt = f"{p.weak_weight:g}" if p.name.startswith("gold+") else "-"
                lines.append(
                    f"{p.name:<15} {p.n_train:>8} {wt:>7} {p.accuracy:>9.3f}  "
                    f"[{p.ci[0]:.3f}, {p.ci[1]:.3f}]   "
                    f"{p.diff:+.3f} [{p.diff_ci[0]:+.3f}, {p.diff_ci[1]:+.3f}]"
                )
            if any(p.startswith("gold+") for p in self.policies):
                lines.append(
                    "(gold+X: the gold labels plus X's weak labels, one weak label weighing the 'weak wt' "
                    f"of a gold label, chosen from {', '.join(f'{w:g}' for w in self.weights)} by "
                    "cross-fitting nested inside each fold; estimated on a uniform sample of at most "
                    f"{MAX_MIXED_WEAK} of X's weak labels, reweighted to the full set's weight)"
                )
            if self.subsampled:
                lines.append(
                    f"(training sets larger than {self.max_train} were subsampled to {self.max_train} "
                    "points to keep this fast; raise --max-train for the full sets)"
                )
        lines.append(f"recommendation: train on {self.recommendation.upper()}: {self.reason}")
        for name, d in self.sources.items():
            accs = ", ".join(f"{p.name} {p.accuracy:.3f}" for p in d.policies.values()) or "-"
            lines.append(f"  source {name}: {accs}; recommend {d.recommendation}")
        return "\n".join(lines)


def _paired(a: np.ndarray, b: np.ndarray, z: float = 1.96) -> tuple[float, tuple]:
    """Mean of a - b over paired 0/1 outcomes and its normal 95% interval."""
    d = a.astype(np.float64) - b.astype(np.float64)
    m = float(d.mean())
    if d.size < 2:
        return m, (float("nan"), float("nan"))
    h = z * float(d.std(ddof=1)) / math.sqrt(d.size)
    return m, (m - h, m + h)


def _weight_kwargs(estimator, sample_weight) -> dict | None:
    """``fit`` keyword arguments passing ``sample_weight`` to ``estimator`` (a pipeline's last step),
    or None when it takes no sample weights."""
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import has_fit_parameter

    if isinstance(estimator, Pipeline):
        name, last = estimator.steps[-1]
        return {f"{name}__sample_weight": sample_weight} if has_fit_parameter(last, "sample_weight") else None
    return {"sample_weight": sample_weight} if has_fit_parameter(estimator, "sample_weight") else None


def _fit_predict(estimator, X, y, X_eval, sample_weight=None):
    from sklearn.base import clone

    classes = np.unique(y)
    if classes.size == 0:
        return np.full(len(X_eval), -1, dtype=np.int64)
    if classes.size == 1:  # every label the same: the model can only predict that class
        return np.full(len(X_eval), classes[0], dtype=np.int64)
    kw = {} if sample_weight is None else (_weight_kwargs(estimator, sample_weight) or {})
    return np.asarray(clone(estimator).fit(X, y, **kw).predict(X_eval))


def _policy_masks(regions: np.ndarray, rng, within=None) -> dict:
    """Pool masks of the four policies, restricted to ``within`` (a source) when given."""
    within = np.ones(regions.size, dtype=bool) if within is None else within
    ov = (regions == int(Region.OVERLAP)) & within
    rand = np.zeros(regions.size, dtype=bool)
    rand[rng.choice(np.flatnonzero(within), size=int(ov.sum()), replace=False)] = True
    return {
        "all": within.copy(),
        "confident": (regions != int(Region.HARD_ONLY)) & within,
        "overlap": ov,
        "random": rand,
    }


def _fold_of(labelled: np.ndarray, folds: int, rng) -> np.ndarray:
    """Fold of every gold item (-1 elsewhere), drawn first from ``rng`` so every estimate pairs."""
    gold_idx = np.flatnonzero(labelled)
    fold_of = np.full(labelled.size, -1, dtype=np.int64)
    fold_of[gold_idx] = rng.permutation(gold_idx.size) % folds
    return fold_of


def estimate_policies(
    E,
    weak,
    y,
    labelled,
    masks: dict,
    estimator,
    *,
    folds: int = 5,
    max_train: int = 4000,
    random_state=0,
    z: float = 1.96,
) -> tuple[dict, bool]:
    """Cross-fitted gold accuracy of ``estimator`` trained on the weak labels of each mask's points.

    A gold item is never in the training set of the model that is scored on it. When a policy has at
    least ``max_train`` points besides the gold items, one model trained on a subsample of those
    serves every fold (no gold item is in it); otherwise each of ``folds`` folds of the gold items
    gets its own model, trained on the policy's points outside that fold (subsampled to
    ``max_train``). Returns ``({name: PolicyEstimate}, subsampled)``.
    """
    rng = np.random.default_rng(random_state)
    fold_of = _fold_of(labelled, folds, rng)
    gold_idx = np.flatnonzero(labelled)
    yg = y[gold_idx]
    out, subsampled = {}, False
    for name, mask in masks.items():
        pred = np.full(gold_idx.size, -1, dtype=np.int64)
        outside = mask & ~labelled
        n_train = 0
        if outside.sum() >= max_train:
            idx = rng.choice(np.flatnonzero(outside), size=max_train, replace=False)
            subsampled = subsampled or bool(outside.sum() > max_train)
            pred[:] = _fit_predict(estimator, E[idx], weak[idx], E[gold_idx])
            n_train = idx.size
        else:
            sizes = []
            for f in range(folds):
                ev = fold_of[gold_idx] == f
                if not ev.any():
                    continue
                idx = np.flatnonzero(mask & (fold_of != f))
                if idx.size > max_train:
                    idx, subsampled = rng.choice(idx, size=max_train, replace=False), True
                sizes.append(idx.size)
                if idx.size:
                    pred[ev] = _fit_predict(estimator, E[idx], weak[idx], E[gold_idx[ev]])
            n_train = int(round(np.mean(sizes))) if sizes else 0
        correct = pred == yg
        c = int(correct.sum())
        out[name] = PolicyEstimate(
            name,
            c / correct.size,
            wilson_interval(c, correct.size, z),
            n_train,
            int(mask.sum()),
            correct=correct,
        )
    if "all" in out:
        for p in out.values():
            p.diff, p.diff_ci = _paired(p.correct, out["all"].correct, z)
    return out, subsampled


def estimate_gold_policies(
    E,
    weak,
    y,
    labelled,
    masks: dict,
    estimator,
    *,
    weights=WEAK_WEIGHTS,
    folds: int = 5,
    max_train: int = 4000,
    max_weak: int = None,
    random_state=0,
    z: float = 1.96,
) -> tuple[dict, bool]:
    """Cross-fitted gold accuracy of ``gold`` (a strong model on the gold labels alone) and of
    ``gold+<name>`` for every mask (the gold labels plus the mask's weak labels outside the gold
    sample, one weak label weighing ``w`` of a gold label).

    The model scored on gold fold ``f`` never saw fold ``f``. Its weight is chosen without fold
    ``f`` too (nested): for every other fold ``g``, a model trained without folds ``f`` and ``g`` is
    scored on ``g``, and the weight with the most correct answers over those folds wins (ties go to
    the first of ``weights``). One model per pair of folds and weight serves both orders, so a
    ``gold+`` candidate costs ``len(weights) * folds * (folds + 1) / 2`` fits. The reported
    ``weak_weight`` (the one to train the final model with) is the weight with the best
    cross-fitted accuracy over every gold item.

    Cost: the weak labels of a ``gold+`` candidate are a uniform sample of at most ``max_weak``
    (default :data:`MAX_MIXED_WEAK`, and never more than ``max_train``), each weighing ``w`` times
    (all / sampled) so the sample carries the full set's weight against the gold labels: the 45 fits
    then cost about what the weak-only policies' 4 fits on ``max_train`` items do, times 4.
    """
    max_weak = MAX_MIXED_WEAK if max_weak is None else int(max_weak)
    rng = np.random.default_rng(random_state)
    if _weight_kwargs(estimator, np.ones(1)) is None:
        weights = (1.0,)  # this estimator takes no sample weights: weak labels count fully or not at all
    cf = _MixedCrossFit(E, weak, y, _fold_of(labelled, folds, rng), estimator, weights, folds, z)
    none = np.zeros(0, dtype=np.int64)
    out = {"gold": cf.estimate("gold", none, int(cf.gold_idx.size), 0)}
    out["gold"].weak_weight = 1.0
    cap = min(max_train, max_weak)
    for name, mask in masks.items():
        wk = np.flatnonzero(mask & ~labelled)
        n_weak = int(wk.size)
        if wk.size > cap:
            wk = np.sort(rng.choice(wk, size=cap, replace=False))
        out[f"gold+{name}"] = cf.estimate(f"gold+{name}", wk, int(mask.sum()), n_weak)
    return out, False


class _MixedCrossFit:
    """The cross-fitting behind :func:`estimate_gold_policies`: models trained on gold folds plus a
    weighted sample of weak labels, scored on the gold folds they never saw."""

    def __init__(self, E, weak, y, fold_of, estimator, weights, folds: int, z: float):
        self.E, self.weak, self.y, self.estimator, self.z = E, weak, y, estimator, z
        self.gold_idx = np.flatnonzero(fold_of >= 0)
        self.gf, self.yg = fold_of[self.gold_idx], y[self.gold_idx]
        self.weights = tuple(float(w) for w in weights)
        self.fold_ids = [f for f in range(folds) if (self.gf == f).any()]

    def fit_without(self, drop, wk, w, n_weak):
        """Predictions on the gold items of folds ``drop`` by a model trained on every other gold
        item (gold label, weight 1) and the weak items ``wk``, a uniform sample of ``n_weak`` (weak
        label, weight ``w * n_weak / len(wk)``: the sample carries the full set's total weight)."""
        ev = np.isin(self.gf, drop)
        tr = self.gold_idx[~ev]
        X = np.concatenate([self.E[tr], self.E[wk]])
        lab = np.concatenate([self.y[tr], self.weak[wk]])
        sw = np.concatenate([np.ones(tr.size), np.full(wk.size, w * n_weak / wk.size)]) if wk.size else None
        return ev, _fit_predict(self.estimator, X, lab, self.E[self.gold_idx[ev]], sw), tr.size + n_weak

    def outer(self, wk, n_weak) -> tuple[dict, list]:
        """Per weight, whether each gold item is predicted right by the model that did not see its
        fold; and the training-set sizes."""
        correct = {w: np.zeros(self.gold_idx.size, dtype=bool) for w in self.weights}
        sizes = []
        for w in self.weights:
            for f in self.fold_ids:
                ev, pred, size = self.fit_without([f], wk, w, n_weak)
                correct[w][ev] = pred == self.yg[ev]
                sizes.append(size)
        return correct, sizes

    def chosen_weights(self, wk, n_weak) -> dict:
        """The weight for each outer fold, chosen on the other folds only (nested; ties go first)."""
        weights, fold_ids, gf = self.weights, self.fold_ids, self.gf
        if len(weights) < 2 or len(fold_ids) < 3:
            return {f: weights[0] for f in fold_ids}
        inner = {(f, w): 0 for f in fold_ids for w in weights}
        for a, f in enumerate(fold_ids):
            for g in fold_ids[a + 1 :]:
                for w in weights:
                    ev, pred, _ = self.fit_without([f, g], wk, w, n_weak)
                    ok = pred == self.yg[ev]
                    in_g = gf[ev] == g
                    inner[f, w] += int(ok[in_g].sum())  # scored on g, chosen for outer fold f
                    inner[g, w] += int(ok[~in_g].sum())
        return {f: max(weights, key=lambda w, f=f: (inner[f, w], -weights.index(w))) for f in fold_ids}

    def estimate(self, name, wk, n_policy, n_weak) -> PolicyEstimate:
        weights = self.weights
        correct, sizes = self.outer(wk, n_weak)
        chosen = self.chosen_weights(wk, n_weak)
        c = np.zeros(self.gold_idx.size, dtype=bool)
        for f in self.fold_ids:
            c[self.gf == f] = correct[chosen[f]][self.gf == f]
        final_w = max(weights, key=lambda w: (int(correct[w].sum()), -weights.index(w)))
        k = int(c.sum())
        return PolicyEstimate(
            name,
            k / c.size,
            wilson_interval(k, c.size, self.z),
            int(round(np.mean(sizes))) if sizes else 0,
            n_policy,
            correct=c,
            weak_weight=final_w if wk.size else 1.0,
        )


def recommend(policies: dict, default: str = SAFE_DEFAULT, z: float = 1.96) -> tuple[str, str, bool]:
    """The recommendable candidate with the best gold estimate (ties go to ``default``), the reason,
    and whether a paired 95% interval separates it from ``default``.

    Why not "``default`` unless significantly beaten": in the real-data studies (docs/results.md)
    a few hundred gold labels rarely separate policies whose test accuracies differ by one to three
    points, so that rule kept ``all`` where ``confident`` or ``overlap`` was better by 1-2 points,
    while following the best estimate stayed within a point of the best policy on average on every
    dataset. Every fixed policy lost more than a point somewhere.

    A weak-only policy ``X`` is not recommended when ``gold+X`` was estimated: ``gold+X`` at weight 1
    is ``X`` plus the gold labels, so ``X`` can beat it only by the noise of a few hundred gold
    labels (on the five real tables of docs/diagnostics.md, ``gold+X`` beat ``X`` on test for every
    X, by 0.9 to 56 points on average over 8 seeds, while picking ``all`` on its estimate cost 1.1
    points on two satellite seeds in a run that allowed it).
    """
    cand = [p for p in RECOMMENDABLE if p in policies]
    cand = [p for p in cand if f"gold+{p}" not in cand]  # X is dominated by gold+X (see above)
    best = max(cand, key=lambda p: (policies[p].accuracy, p == default))
    if best == default or default not in policies:
        others = [p for p in cand if p != best]
        margin = min((policies[best].accuracy - policies[p].accuracy for p in others), default=0.0)
        separated = bool(others) and all(
            _paired(policies[best].correct, policies[p].correct, z)[1][0] > 0 for p in others
        )
        return (
            best,
            (
                f"{best} has the best estimate on gold ({100 * margin:+.1f} points over the next candidate"
                + (", every paired 95% interval above zero)" if separated else ")")
                + ("" if best != SAFE_DEFAULT else "; it is also the safe default")
            ),
            separated,
        )
    d, (lo, hi) = _paired(policies[best].correct, policies[default].correct, z)
    if lo > 0:
        return (
            best,
            (
                f"its strong model is {100 * d:.1f} points more accurate on gold than {default}'s "
                f"(paired 95% interval [{100 * lo:+.1f}, {100 * hi:+.1f}] points)"
            ),
            True,
        )
    return (
        best,
        (
            f"{best} has the best estimate on gold ({100 * d:+.1f} points over {default}), though the gold "
            f"sample cannot separate them (paired 95% interval [{100 * lo:+.1f}, {100 * hi:+.1f}]); "
            "in the real-data studies (docs/results.md, docs/diagnostics.md) following the best estimate "
            "stayed within a point of the best candidate on average"
        ),
        False,
    )


def decide(
    proba,
    embeddings,
    y_gold,
    regions,
    *,
    sources=None,
    estimator=None,
    folds: int = 5,
    max_train: int = 4000,
    min_gold: int = MIN_GOLD,
    default: str = SAFE_DEFAULT,
    random_state=0,
    z: float = 1.96,
    candidates=RECOMMENDABLE,
    weights=WEAK_WEIGHTS,
) -> Decision:
    """Estimate, by cross-fitting on the gold sample, the strong model each candidate training set gives.

    ``proba``/``embeddings`` cover the whole pool; ``y_gold`` holds class indices (columns of
    ``proba``) or -1 for no gold label; ``regions`` are the detected regions of the pool. The strong
    model (``estimator``, any scikit-learn classifier; default a logistic regression on the
    standardized representation) is trained on pool items' weak labels (``all``, ``confident``,
    ``overlap``; ``random`` is a control), on the gold labels alone (``gold``) or on both
    (``gold+<policy>``, weak labels weighted by ``weights``, chosen by nested cross-fitting) and
    scored on gold items it never saw. ``candidates`` restricts what may be recommended (e.g.
    :data:`WEAK_POLICIES` for the weak-label policies only). Per-source decisions (``sources``)
    compare the weak-label policies of each source.
    """
    P = check_proba(proba, min_rows=2)
    E = check_embeddings(embeddings, n_rows=P.shape[0])
    y, labelled = _gold(y_gold, P.shape[0])
    regions = np.asarray(regions)
    candidates, default, weights = _check_decide_args(candidates, default, folds, max_train, weights)
    estimator, est_name = _strong_model(estimator, random_state)
    weak = P.argmax(axis=1)
    n_gold = int(labelled.sum())
    base = dict(n_gold=n_gold, max_train=max_train, subsampled=False, estimator=est_name, folds=folds)
    if n_gold < min_gold or np.unique(y[labelled]).size < 2:
        why = (
            f"only {n_gold} gold labels (at least {min_gold} are needed)"
            if n_gold < min_gold
            else "every gold label is the same class"
        )
        return Decision(
            default, f"{why}: no estimate possible, so this is the safe default", False, {}, **base
        )
    kw = dict(folds=folds, max_train=max_train, random_state=random_state, z=z)
    pol, sub = _estimate_candidates(E, weak, y, labelled, regions, estimator, candidates, weights, kw)
    rec, reason, supported = recommend(pol, default, z)
    dec = Decision(rec, reason, supported, pol, **{**base, "subsampled": sub}, weights=weights)
    if sources is not None:
        s = np.asarray(sources).astype(str)
        for name in sorted(set(s.tolist())):
            sm = _policy_masks(regions, np.random.default_rng(random_state), within=s == name)
            sp, ssub = estimate_policies(E, weak, y, labelled, sm, estimator, **kw)
            r, why, ok = recommend(sp, SAFE_DEFAULT, z)
            dec.sources[name] = Decision(r, why, ok, sp, **{**base, "subsampled": ssub})
    return dec


def _estimate_candidates(
    E, weak, y, labelled, regions, estimator, candidates, weights, kw
) -> tuple[dict, bool]:
    """``({name: PolicyEstimate}, subsampled)`` for the candidates and the ``random`` control, in
    :data:`RECOMMENDABLE` order; ``kw`` holds ``folds``, ``max_train``, ``random_state`` and ``z``."""
    masks = _policy_masks(regions, np.random.default_rng(kw["random_state"]))
    pol, sub = estimate_policies(E, weak, y, labelled, masks, estimator, **kw)
    if any(c.startswith("gold") for c in candidates):
        mixed = {p: masks[p] for p in WEAK_POLICIES if f"gold+{p}" in candidates}
        gp, gsub = estimate_gold_policies(E, weak, y, labelled, mixed, estimator, weights=weights, **kw)
        for p in gp.values():
            p.diff, p.diff_ci = _paired(p.correct, pol["all"].correct, kw["z"])
        pol.update(gp)
        sub = sub or gsub
    keep = RECOMMENDABLE + ("random",)
    return {k: pol[k] for k in keep if k in pol and (k in candidates or k == "random")}, sub


def _check_decide_args(candidates, default, folds, max_train, weights) -> tuple[tuple, str, tuple]:
    """``(candidates, default, weights)`` of :func:`decide`, checked; a ``default`` that is not a
    candidate becomes the safe default (or the first candidate)."""
    candidates = tuple(candidates)
    unknown = [c for c in candidates if c not in RECOMMENDABLE]
    if unknown or not candidates:
        raise W2SError(f"candidates must be among {', '.join(RECOMMENDABLE)}; got {list(candidates)!r}")
    if default not in candidates:
        default = SAFE_DEFAULT if SAFE_DEFAULT in candidates else candidates[0]
    if folds < 2:
        raise W2SError(f"folds must be at least 2; got {folds!r}")
    if max_train < 10:
        raise W2SError(f"max_train must be at least 10; got {max_train!r}")
    weights = tuple(weights)
    if not weights or not all(isinstance(w, (int, float)) and 0 < w <= 1 for w in weights):
        raise W2SError(f"weights must be numbers in (0, 1]; got {weights!r}")
    return candidates, default, weights


def _strong_model(estimator, random_state) -> tuple[object, str]:
    """``(estimator, how the report names it)`` for an estimator, a :data:`STRONG_MODELS` name or None."""
    if estimator is None:
        return make_strong_model("logistic"), "logistic regression on the standardized representation"
    if isinstance(estimator, str):
        name = {
            "logistic": "logistic regression",
            "ridge": "ridge classifier",
            "knn": "15-nearest neighbours",
            "forest": "random forest",
        }.get(estimator, estimator)
        return make_strong_model(estimator, random_state), name + " on the standardized representation"
    return estimator, type(estimator).__name__
