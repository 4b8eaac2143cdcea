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

from ._validation import check_embeddings, check_proba
from .bandit import wilson_interval
from .detector import OverlapDetector, Region, W2SWarning

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
    n_points: int = 0          # points in the group, labelled or not
    overlap_density: float = float("nan")
    density_ci: tuple = (float("nan"), float("nan"))

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else float("nan")

    def to_dict(self) -> dict:
        return {"name": self.name, "n_gold": self.n, "correct": self.correct, "accuracy": self.accuracy,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "n_points": self.n_points,
                "overlap_density": self.overlap_density, "density_ci": list(self.density_ci)}


@dataclass
class DiagnosticReport:
    """What :func:`diagnose` found: accuracies per region and per source, the test, the verdict."""

    regions: dict                 # Region -> GroupAccuracy
    rest: GroupAccuracy           # every gold point not detected as overlap
    sources: dict                 # source name -> GroupAccuracy (overall) ; empty without sources
    source_overlap: dict          # source name -> GroupAccuracy on its detected-overlap points
    gap: float                    # accuracy(overlap) - accuracy(rest)
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

    @property
    def informative(self) -> bool:
        return self.verdict == "informative"

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict, "reason": self.reason, "p_value": self.p_value, "gap": self.gap,
            "gap_ci": list(self.gap_ci), "alpha": self.alpha, "min_gap": self.min_gap, "n_gold": self.n_gold,
            "n_points": self.n_points, "overlap_density": self.density,
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
        lines = [f"weak-label accuracy on {self.n_gold} gold-labelled points ({self.n_points} points in all, "
                 f"overlap density {self.density:.3f})", "", "by detected region", head]
        for r in _REGION_ORDER:
            lines.append(row(self.regions[r]))
        lines.append(row(self.rest))
        if self.sources:
            lines += ["", "by source (overall; on its detected overlap; its overlap density)",
                      f"{'source':<22} {'points':>7} {'gold':>6} {'weak acc':>8}  95% Wilson interval"]
            for name, g in self.sources.items():
                o = self.source_overlap[name]
                oa = "-" if not o.n else f"{o.accuracy:.3f} (n={o.n})"
                lo, hi = g.density_ci
                lines.append(row(g, f"  overlap acc {oa}; density {g.overlap_density:.3f} [{lo:.3f}, {hi:.3f}]"))
        lo, hi = self.gap_ci
        lines += ["", f"gap (overlap - rest): {self.gap:+.3f}, 95% interval [{lo:+.3f}, {hi:+.3f}]; "
                      f"one-sided Fisher exact p = {self.p_value:.3g}",
                  f"verdict: overlap density looks {self.verdict.upper()} here: {self.reason}"]
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
        raise ValueError(f"y_gold must be 1-D with one entry per point ({n}); got shape {y.shape}. "
                         "Mark points without a gold label by -1 (or NaN).")
    if y.dtype.kind not in "fiub":
        raise ValueError(f"y_gold must hold integer class indices (column of proba), -1 for unlabelled; "
                         f"got dtype {y.dtype}. Map your label names to column indices first.")
    bad = np.flatnonzero(invalid_gold(y))
    if bad.size:
        word, verb = ("row", "holds") if bad.size == 1 else ("rows", "hold")
        raise ValueError(f"y_gold must hold class indices (0 .. k-1), or -1 / NaN for no gold label; "
                         f"{word} {_first(bad.tolist())} (0-based) {verb} {_first(y[bad].tolist())}")
    if y.dtype.kind == "f":
        labelled = ~np.isnan(y) & (y != -1)
        y = np.where(labelled, y, -1).astype(np.int64)
    else:
        y = y.astype(np.int64)
        labelled = y >= 0
    return y, labelled


def diagnose(proba, embeddings, y_gold, sources=None, detector=None, *, regions=None, alpha: float = 0.05,
             min_gap: float = 0.10, z: float = 1.96, random_state=0) -> DiagnosticReport:
    """Weak-label accuracy per detected region and per source, and whether overlap looks informative.

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
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    if not 0 <= min_gap < 1:
        raise ValueError(f"min_gap must be in [0, 1); got {min_gap!r}")
    y, labelled = _gold(y_gold, n)
    if (y[labelled] >= P.shape[1]).any():
        raise ValueError(f"y_gold has class indices >= {P.shape[1]}, but proba has {P.shape[1]} columns")
    if labelled.sum() == 0:
        raise ValueError("y_gold has no gold label (every entry is -1/NaN): label a sample of points first")
    if regions is None:
        E = check_embeddings(embeddings, n_rows=n)
        det = detector if detector is not None else OverlapDetector(random_state=random_state)
        if not isinstance(det, OverlapDetector):
            raise ValueError(f"detector must be an OverlapDetector or None; got {type(det).__name__}")
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
            raise ValueError(f"regions must be {n} Region values (0 easy-only, 1 hard-only, 2 overlap)")
    regions = regions.astype(np.int8)
    weak = P.argmax(axis=1)
    correct = (weak == y) & labelled
    reg = {r: _group(r.name.lower(), correct, regions == int(r), labelled, z) for r in _REGION_ORDER}
    ov = regions == int(Region.OVERLAP)
    rest = _group("not overlap (rest)", correct, ~ov, labelled, z)
    o = reg[Region.OVERLAP]
    gap = o.accuracy - rest.accuracy if o.n and rest.n else float("nan")
    gap_ci = newcombe_interval(o.correct, o.n, rest.correct, rest.n, z)
    p = fisher_greater(o.correct, o.n, rest.correct, rest.n)
    p_less = fisher_greater(rest.correct, rest.n, o.correct, o.n)

    if not o.n or not rest.n:
        verdict, reason = "inconclusive", (
            f"{'no' if not o.n else 'every'} gold-labelled point is detected as overlap, so there is nothing to "
            "compare; label more points (or a random sample of the pool)")
    elif p < alpha and gap >= min_gap:
        verdict, reason = "informative", (
            f"weak labels are {100 * gap:.1f} percentage points more accurate on detected overlap than "
            f"elsewhere ({o.accuracy:.3f} vs {rest.accuracy:.3f}; n={o.n} vs n={rest.n}); p = {p:.2g} < {alpha}")
    elif gap_ci[1] < min_gap:
        verdict, reason = "not informative", (
            f"the gap's 95% interval [{gap_ci[0]:+.3f}, {gap_ci[1]:+.3f}] rules out a gap of "
            f"{100 * min_gap:.3g} percentage points or more: "
            "detected overlap does not pick out more reliable weak labels here, so overlap-driven selection "
            "has nothing to exploit")
    elif p_less < alpha:
        verdict, reason = "not informative", (
            f"weak labels are significantly LESS accurate on detected overlap ({o.accuracy:.3f} vs "
            f"{rest.accuracy:.3f}, p = {p_less:.2g}): do not let overlap density steer this campaign")
    else:
        verdict, reason = "inconclusive", (
            f"gap {gap:+.3f} with 95% interval [{gap_ci[0]:+.3f}, {gap_ci[1]:+.3f}] and p = {p:.2g}: too few gold "
            f"labels to decide (overlap n={o.n}, rest n={rest.n}); label more points")

    src_acc, src_ov = {}, {}
    if sources is not None:
        s = np.asarray(sources)
        if s.ndim != 1 or s.shape[0] != n:
            raise ValueError(f"sources must be 1-D with one source name per point ({n}); got shape {s.shape}")
        for name in sorted({str(v) for v in s}) if s.dtype.kind in "OUS" else sorted(set(s.tolist())):
            m = s.astype(str) == str(name)
            g = _group(str(name), correct, m, labelled, z)
            n_ov = int((m & ov).sum())
            g.overlap_density = n_ov / int(m.sum())
            g.density_ci = wilson_interval(n_ov, int(m.sum()), z)
            src_acc[str(name)] = g
            src_ov[str(name)] = _group(f"{name} overlap", correct, m & ov, labelled, z)
    return DiagnosticReport(reg, rest, src_acc, src_ov, float(gap), gap_ci, float(p), verdict, reason, alpha, min_gap,
                            int(labelled.sum()), n, float(ov.mean()), det, regions)
