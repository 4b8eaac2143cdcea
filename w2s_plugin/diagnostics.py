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
from .validation import check_embeddings, check_proba

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
        """The training policy to use: ``all``, ``confident`` or ``overlap`` (see :class:`Decision`)."""
        return self.decision.recommendation if self.decision is not None else None

    @property
    def informative(self) -> bool:
        return self.verdict == "informative"

    def to_dict(self) -> dict:
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
            "reason": self.reason,
            "p_value": self.p_value,
            "gap": self.gap,
            "gap_ci": list(self.gap_ci),
            "alpha": self.alpha,
            "min_gap": self.min_gap,
            "n_gold": self.n_gold,
            "n_points": self.n_points,
            "overlap_density": self.density,
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
        if self.decision is not None:
            lines += [
                "== which weak labels to train the strong model on ==",
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
            f"verdict: overlap density looks {self.verdict.upper()} here: {self.reason}",
        ]
        return "\n".join(lines)


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
) -> DiagnosticReport:
    """Which weak labels to train the strong model on (the decision), then weak-label accuracy per
    detected region and per source and whether overlap looks informative (the label analysis).

    The decision (:func:`decide`, in ``report.decision`` / ``report.recommendation``) estimates by
    cross-fitting on the gold items the accuracy of a strong model (``estimator``: any scikit-learn
    classifier, or one of :data:`STRONG_MODELS`; default logistic regression on the standardized
    embeddings) trained on the weak labels of each policy: ``all``, ``confident`` (not hard-only),
    ``overlap`` and ``random`` (the overlap's size, a control). ``policies=False`` skips it.

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
    y, labelled = _gold(y_gold, n)
    if (y[labelled] >= P.shape[1]).any():
        raise DataError(f"y_gold has class indices >= {P.shape[1]}, but proba has {P.shape[1]} columns")
    if labelled.sum() == 0:
        raise DataError("y_gold has no gold label (every entry is -1/NaN): label a sample of points first")
    if regions is None:
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
    else:
        det = detector
        regions = np.asarray(regions)
        if regions.shape != (n,) or not np.isin(regions, [int(r) for r in Region]).all():
            raise DataError(f"regions must be {n} Region values (0 easy-only, 1 hard-only, 2 overlap)")
    regions = regions.astype(np.int8)
    weak = P.argmax(axis=1)
    correct = (weak == y) & labelled
    reg = ByRegion(
        (r, _group(r.name.lower(), correct, regions == int(r), labelled, z)) for r in _REGION_ORDER
    )
    ov = regions == int(Region.OVERLAP)
    rest = _group("not overlap (rest)", correct, ~ov, labelled, z)
    o = reg[Region.OVERLAP]
    gap = o.accuracy - rest.accuracy if o.n and rest.n else float("nan")
    gap_ci = newcombe_interval(o.correct, o.n, rest.correct, rest.n, z)
    p = fisher_greater(o.correct, o.n, rest.correct, rest.n)
    p_less = fisher_greater(rest.correct, rest.n, o.correct, o.n)

    if not o.n or not rest.n:
        verdict, reason = (
            "inconclusive",
            (
                f"{'no' if not o.n else 'every'} gold-labelled point is detected as overlap, so there is "
                "nothing to "
                "compare; label more points (or a random sample of the pool)"
            ),
        )
    elif p < alpha and gap >= min_gap:
        verdict, reason = (
            "informative",
            (
                f"weak labels are {100 * gap:.1f} percentage points more accurate on detected overlap than "
                f"elsewhere ({o.accuracy:.3f} vs {rest.accuracy:.3f}; n={o.n} vs n={rest.n}); p = {p:.2g} < "
                f"{alpha}"
            ),
        )
    elif gap_ci[1] < min_gap:
        verdict, reason = (
            "not informative",
            (
                f"the gap's 95% interval [{gap_ci[0]:+.3f}, {gap_ci[1]:+.3f}] rules out a gap of "
                f"{100 * min_gap:.3g} percentage points or more: "
                "detected overlap does not pick out more reliable weak labels here, so overlap-driven "
                "selection "
                "has nothing to exploit"
            ),
        )
    elif p_less < alpha:
        verdict, reason = (
            "not informative",
            (
                f"weak labels are significantly LESS accurate on detected overlap ({o.accuracy:.3f} vs "
                f"{rest.accuracy:.3f}, p = {p_less:.2g}): do not let overlap density steer this campaign"
            ),
        )
    else:
        verdict, reason = (
            "inconclusive",
            (
                f"gap {gap:+.3f} with 95% interval [{gap_ci[0]:+.3f}, {gap_ci[1]:+.3f}] and p = {p:.2g}: too "
                "few gold "
                f"labels to decide (overlap n={o.n}, rest n={rest.n}); label more points"
            ),
        )

    src_acc, src_ov = {}, {}
    if sources is not None:
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
    dec = None
    if policies:
        E = check_embeddings(embeddings, n_rows=n)
        dec = decide(
            P,
            E,
            y,
            regions,
            sources=sources,
            estimator=estimator,
            folds=folds,
            max_train=max_train,
            random_state=random_state,
            z=z,
        )
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
        n,
        float(ov.mean()),
        det,
        regions,
        dec,
    )


# --------------------------------------------------------------------------------------------------
# The decision: which weak labels should the strong model be trained on?
# --------------------------------------------------------------------------------------------------

#: Training-set policies whose strong models :func:`estimate_policies` compares. ``random`` (a
#: random sample of the pool of the overlap's size) is a control, never recommended: it tells
#: whether ``overlap`` wins by *which* points it keeps or merely by keeping fewer.
POLICIES = ("all", "confident", "overlap", "random")
RECOMMENDABLE = ("all", "confident", "overlap")

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
    """Estimated gold accuracy of a strong model trained on one policy's weak labels.

    ``ci`` is the accuracy's Wilson interval; ``diff``/``diff_ci`` the paired difference against
    ``all`` on the same gold items (mean of per-item correctness differences, normal interval).
    """

    name: str
    accuracy: float
    ci: tuple
    n_train: int
    n_policy: int
    diff: float = 0.0
    diff_ci: tuple = (0.0, 0.0)
    correct: np.ndarray = field(repr=False, default=None)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "ci": list(self.ci),
            "n_train": self.n_train,
            "n_policy": self.n_policy,
            "diff_vs_all": self.diff,
            "diff_ci": list(self.diff_ci),
        }


@dataclass
class Decision:
    """Which policy to train the strong model on, why, and the estimates behind it."""

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

    def to_dict(self) -> dict:
        return {
            "recommendation": self.recommendation,
            "reason": self.reason,
            "supported_by_gold": self.supported,
            "policies": {k: v.to_dict() for k, v in self.policies.items()},
            "n_gold": self.n_gold,
            "max_train": self.max_train,
            "subsampled": self.subsampled,
            "strong_model": self.estimator,
            "folds": self.folds,
        }

    def summary(self) -> str:
        lines = [
            f"strong model ({self.estimator}) trained on the weak labels of each policy, accuracy estimated "
            f"on {self.n_gold} gold labels by {self.folds}-fold cross-fitting"
        ]
        if self.policies:
            lines += [f"{'policy':<11} {'n_train':>8} {'accuracy':>9}  95% interval      vs all (paired)"]
            for p in self.policies.values():
                lines.append(
                    f"{p.name:<11} {p.n_train:>8} {p.accuracy:>9.3f}  [{p.ci[0]:.3f}, {p.ci[1]:.3f}]   "
                    f"{p.diff:+.3f} [{p.diff_ci[0]:+.3f}, {p.diff_ci[1]:+.3f}]"
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


def _fit_predict(estimator, X, y, X_eval):
    from sklearn.base import clone

    classes = np.unique(y)
    if classes.size == 0:
        return np.full(len(X_eval), -1, dtype=np.int64)
    if classes.size == 1:  # every weak label the same: the model can only predict that class
        return np.full(len(X_eval), classes[0], dtype=np.int64)
    return np.asarray(clone(estimator).fit(X, y).predict(X_eval))


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
    gold_idx = np.flatnonzero(labelled)
    fold_of = np.full(labelled.size, -1, dtype=np.int64)
    fold_of[gold_idx] = rng.permutation(gold_idx.size) % folds
    yg = y[gold_idx]
    out, subsampled = {}, False
    for name, mask in masks.items():
        pred = np.full(gold_idx.size, -1, dtype=np.int64)
        outside = mask & ~labelled
        n_train = 0
        if outside.sum() >= max_train:
            idx = rng.choice(np.flatnonzero(outside), size=max_train, replace=False)
            subsampled = subsampled or outside.sum() > max_train
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


def recommend(policies: dict, default: str = SAFE_DEFAULT, z: float = 1.96) -> tuple[str, str, bool]:
    """The recommendable policy with the best gold estimate (ties go to ``default``), the reason,
    and whether a paired 95% interval separates it from ``default``.

    Why not "``default`` unless significantly beaten": in the real-data studies (docs/results.md)
    a few hundred gold labels rarely separate policies whose test accuracies differ by one to three
    points, so that rule kept ``all`` where ``confident`` or ``overlap`` was better by 1-2 points,
    while following the best estimate stayed within a point of the best policy on average on every
    dataset. Every fixed policy lost more than a point somewhere.
    """
    cand = [p for p in RECOMMENDABLE if p in policies]
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
                f"{best} has the best estimate on gold ({100 * margin:+.1f} points over the next policy"
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
            "in the "
            "real-data studies (docs/results.md) following the best estimate stayed within a point "
            "of the "
            "best policy on average, while every fixed policy lost more somewhere"
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
) -> Decision:
    """Estimate, by cross-fitting on the gold sample, the strong model each training policy gives.

    ``proba``/``embeddings`` cover the whole pool; ``y_gold`` holds class indices (columns of
    ``proba``) or -1 for no gold label; ``regions`` are the detected regions of the pool. The strong
    model (``estimator``, any scikit-learn classifier; default a logistic regression on the
    standardized representation) is trained on pool items' *weak* labels and scored on gold items.
    """
    P = check_proba(proba, min_rows=2)
    E = check_embeddings(embeddings, n_rows=P.shape[0])
    y, labelled = _gold(y_gold, P.shape[0])
    regions = np.asarray(regions)
    if default not in RECOMMENDABLE:
        raise W2SError(f"default must be one of {RECOMMENDABLE}; got {default!r}")
    if folds < 2:
        raise W2SError(f"folds must be at least 2; got {folds!r}")
    if max_train < 10:
        raise W2SError(f"max_train must be at least 10; got {max_train!r}")
    if estimator is None:
        estimator, est_name = (
            make_strong_model("logistic"),
            "logistic regression on the standardized representation",
        )
    elif isinstance(estimator, str):
        est_name = {
            "logistic": "logistic regression",
            "ridge": "ridge classifier",
            "knn": "15-nearest neighbours",
            "forest": "random forest",
        }.get(estimator, estimator) + " on the standardized representation"
        estimator = make_strong_model(estimator, random_state)
    else:
        est_name = type(estimator).__name__
    weak = P.argmax(axis=1)
    n_gold = int(labelled.sum())
    n_classes = np.unique(y[labelled]).size
    base = dict(n_gold=n_gold, max_train=max_train, subsampled=False, estimator=est_name, folds=folds)
    if n_gold < min_gold or n_classes < 2:
        why = (
            f"only {n_gold} gold labels (at least {min_gold} are needed)"
            if n_gold < min_gold
            else "every gold label is the same class"
        )
        return Decision(
            default, f"{why}: no estimate possible, so this is the safe default", False, {}, **base
        )
    masks = _policy_masks(regions, np.random.default_rng(random_state))
    pol, sub = estimate_policies(
        E,
        weak,
        y,
        labelled,
        masks,
        estimator,
        folds=folds,
        max_train=max_train,
        random_state=random_state,
        z=z,
    )
    rec, reason, supported = recommend(pol, default, z)
    dec = Decision(rec, reason, supported, pol, **{**base, "subsampled": sub})
    if sources is not None:
        s = np.asarray(sources).astype(str)
        for name in sorted(set(s.tolist())):
            sm = _policy_masks(regions, np.random.default_rng(random_state), within=s == name)
            sp, ssub = estimate_policies(
                E,
                weak,
                y,
                labelled,
                sm,
                estimator,
                folds=folds,
                max_train=max_train,
                random_state=random_state,
                z=z,
            )
            r, why, ok = recommend(sp, default, z)
            dec.sources[name] = Decision(r, why, ok, sp, **{**base, "subsampled": ssub})
    return dec
