"""A mergeable summary for the single L2 change point, and its exact refinement.

The exact change point (``w2s_plugin.overlap.change_point_index``) needs the sorted values. On a
pool spread over many machines we never sort: each partition reduces its values to a fixed-range
histogram that also keeps, per bin, the count, the sum, the smallest and the largest value
(:class:`ChangePointSketch`). Sketches add up across partitions, in any order.

From the merged sketch, every split *at a bin boundary* is scored exactly (counts and sums are all
the L2 cost needs). A split *inside* bin ``b`` cannot be scored without the bin's values, but its
gain is bounded from above (:func:`bin_gain_upper_bounds`): the cumulative sum of sorted values is
convex in the rank, so inside the bin it lies between the chord joining the bin's two ends and the
lines through its ends with the bin's min / max as slopes. Bins whose bound is below the best
boundary gain cannot hold the optimum and are pruned. What remains (typically a handful of bins
around the split) is the *candidate region*; a second pass pulls only the values in those bins,
and the split is then computed exactly (:func:`refine_threshold`). The result equals the
single-machine ``change_point_threshold`` (up to the rounding of float sums in another order).

Without the second pass (``refine=False`` or too many values in the candidate region) the best
boundary split is returned with a rigorous, data-dependent bound: the exact threshold lies in the
hull of the candidate region, so ``|t_sketch - t_exact| <= bound_`` where ``bound_`` is the distance
from ``t_sketch`` to the farthest end of that hull (never more than its width plus the gap to
``t_sketch``). With ``B`` bins over a range ``R`` the hull spans whole bins, so typically a few
``R / B``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default number of bins: 65536 bins x 4 float64/int64 arrays = 2 MiB per partition sketch.
DEFAULT_BINS = 1 << 16
#: At most this many values are pulled to the client in the refinement pass (8 bytes each).
DEFAULT_MAX_REFINE = 1 << 22


def bin_index(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """Bin of every value; the same function is used in both passes, so bins never disagree."""
    v = np.asarray(values, dtype=np.float64)
    if hi <= lo:
        return np.zeros(v.shape, dtype=np.int64)
    idx = np.floor((v - lo) * (bins / (hi - lo))).astype(np.int64)
    np.clip(idx, 0, bins - 1, out=idx)
    return idx


@dataclass
class ChangePointSketch:
    """Per-bin count, sum, min and max of values over a fixed range ``[lo, hi]``; merge with ``+``."""

    lo: float
    hi: float
    count: np.ndarray
    total: np.ndarray
    vmin: np.ndarray
    vmax: np.ndarray

    @classmethod
    def empty(cls, lo: float, hi: float, bins: int = DEFAULT_BINS) -> ChangePointSketch:
        return cls(
            float(lo),
            float(hi),
            np.zeros(bins, np.int64),
            np.zeros(bins, np.float64),
            np.full(bins, np.inf),
            np.full(bins, -np.inf),
        )

    @classmethod
    def from_values(cls, values, lo: float, hi: float, bins: int = DEFAULT_BINS) -> ChangePointSketch:
        """Summarise one partition's values (NaN values are skipped: they are not in the split)."""
        v = np.asarray(values, dtype=np.float64).ravel()
        v = v[~np.isnan(v)]
        s = cls.empty(lo, hi, bins)
        if v.size == 0:
            return s
        idx = bin_index(v, lo, hi, bins)
        s.count += np.bincount(idx, minlength=bins)
        s.total += np.bincount(idx, weights=v, minlength=bins)
        np.minimum.at(s.vmin, idx, v)
        np.maximum.at(s.vmax, idx, v)
        return s

    @property
    def bins(self) -> int:
        return int(self.count.size)

    @property
    def n(self) -> int:
        return int(self.count.sum())

    def __add__(self, other: ChangePointSketch) -> ChangePointSketch:
        if (self.lo, self.hi, self.bins) != (other.lo, other.hi, other.bins):
            raise ValueError("cannot merge sketches over different ranges or bin counts")
        return ChangePointSketch(
            self.lo,
            self.hi,
            self.count + other.count,
            self.total + other.total,
            np.minimum(self.vmin, other.vmin),
            np.maximum(self.vmax, other.vmax),
        )


def merge(sketches) -> ChangePointSketch:
    """Sum of sketches (the reduction step)."""
    it = iter(sketches)
    out = next(it)
    for s in it:
        out = out + s
    return out


@dataclass
class SketchSplit:
    """What the first pass knows about the split.

    ``threshold`` is the best split at a bin boundary (exact for that boundary), ``gain`` its
    Otsu gain; ``candidates`` the bins that may still hold a better split inside them; ``bound``
    the guaranteed ``|threshold - exact threshold|``; ``split`` is ``None`` when no split exists
    (fewer than ``2 * min_size`` values, or all equal), then ``threshold`` is the minimum value as
    in the single-machine rule.
    """

    threshold: float
    gain: float
    candidates: np.ndarray
    bound: float
    mean: float
    split: int | None
    n_candidate_values: int


def _nonempty(sk: ChangePointSketch):
    keep = np.flatnonzero(sk.count > 0)
    return keep, sk.count[keep].astype(np.float64), sk.total[keep], sk.vmin[keep], sk.vmax[keep]


def bin_gain_upper_bounds(sk: ChangePointSketch, mean: float, min_size: int = 1):
    """Edge gains and an upper bound on the gain of any split strictly inside each non-empty bin.

    Gain of a split after rank ``k`` (values centred on ``mean`` so their total is ~0):
    ``G(k) = L_k^2 / k + (T - L_k)^2 / (n - k)`` with ``L_k`` the centred prefix sum. Returns
    ``(keep, edge_k, edge_gain, ub)``: the non-empty bins, the rank after each of them, the exact
    gain of splitting after it, and the bound for splits inside it.
    """
    keep, c, s, mn, mx = _nonempty(sk)
    n = float(c.sum())
    cs = s - c * mean  # centred sums per bin
    T = float(cs.sum())
    K = np.cumsum(c)  # rank after each bin
    L = np.cumsum(cs)  # centred prefix sum after each bin
    K0, L0 = K - c, L - cs  # before each bin
    with np.errstate(divide="ignore", invalid="ignore"):
        edge_gain = L * L / K + (T - L) ** 2 / (n - K)
    edge_gain[K >= n] = -np.inf
    lo_k, hi_k = np.maximum(K0 + 1, min_size), np.minimum(K - 1, n - min_size)
    edge_gain[(K < min_size) | (n - K < min_size)] = -np.inf
    # Inside bin b, at j = k - K0 values taken (1 <= j <= c - 1):
    #   L(j) <= chord: L0 + j * cs / c      (convexity of the prefix sum of sorted values)
    #   L(j) >= max(L0 + j*(mn-mean), L1 - (c-j)*(mx-mean))
    # so |L(j)| <= A = max(|L0|, |L1|, |min_j of the lower envelope|). Then with T the total,
    #   G = L^2/k + (T-L)^2/(n-k) <= A^2/k + (|T| + A)^2/(n-k),
    # and 1/k, 1/(n-k) are largest at the interval's ends.
    a, b = mn - mean, mx - mean  # slopes of the two lower lines (a <= b)
    L1 = L
    # intersection of L0 + j*a and L1 - (c - j)*b: j* = (L1 - c*b - L0) / (a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        jstar = np.where(b > a, (L1 - c * b - L0) / (a - b), 0.0)
    jstar = np.clip(np.nan_to_num(jstar), 0.0, c)
    env_min = np.minimum(
        np.maximum(L0 + jstar * a, L1 - (c - jstar) * b),
        np.minimum(np.maximum(L0, L1 - c * b), np.maximum(L0 + c * a, L1)),
    )
    A = np.maximum(np.maximum(np.abs(L0), np.abs(L1)), np.abs(env_min))
    with np.errstate(divide="ignore", invalid="ignore"):
        ub = A * A / lo_k + (abs(T) + A) ** 2 / (n - hi_k)
    # A second bound, tight near the ends of the range where k or n - k is small: |L(j)| grows by
    # at most m = max(|a|, |b|) per value, so L^2/k <= (|L0| + j m)^2 / (K0 + j) and
    # (T-L)^2/(n-k) <= (|T-L1| + (c-j) m)^2 / (n-K1 + c-j); both are convex in j, so their
    # maxima over [lo_k, hi_k] are at its ends.
    m = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(divide="ignore", invalid="ignore"):

        def left(k):
            return (np.abs(L0) + (k - K0) * m) ** 2 / k

        def right(k):
            return (np.abs(T - L1) + (K - k) * m) ** 2 / (n - k)

        ub2 = np.maximum(left(lo_k), left(hi_k)) + np.maximum(right(lo_k), right(hi_k))
    # A third, usually the tightest: for a fixed k the gain is convex in L, and L(j) lies between the
    # lines L0 + j*a and L0 + j*b (every value of the bin is in [min, max]); along each line the gain
    # is a sum of quadratic-over-linear terms, convex in j. So its maximum is at one of the 2 x 2
    # corners (line, end of the interval). Near-tied bins (e.g. many identical confidences) get a
    # bound equal to the gains at their ends, so they are pruned.
    with np.errstate(divide="ignore", invalid="ignore"):
        ub3 = np.full_like(ub, -np.inf)
        for slope in (a, b):
            for k in (lo_k, hi_k):
                Lk = L0 + (k - K0) * slope
                ub3 = np.maximum(ub3, Lk * Lk / k + (T - Lk) ** 2 / (n - k))
    ub = np.minimum(np.minimum(ub, ub2), ub3)
    ub[(c < 2) | (mx <= mn) | (lo_k > hi_k)] = -np.inf  # no split strictly inside
    return keep, K, edge_gain, ub


def sketch_split(sk: ChangePointSketch, min_size: int = 1, rtol: float = 1e-9) -> SketchSplit:
    """First-pass answer: best boundary split, the bins that could beat it, and the error bound."""
    keep, c, s, mn, mx = _nonempty(sk)
    n = int(c.sum())
    if n == 0:
        return SketchSplit(float("nan"), -np.inf, np.empty(0, np.int64), 0.0, float("nan"), None, 0)
    lo_val, hi_val = float(mn[0]), float(mx[-1])
    mean = float(s.sum() / n)
    if n < 2 * max(1, min_size) or lo_val == hi_val:
        return SketchSplit(lo_val, -np.inf, np.empty(0, np.int64), 0.0, mean, None, 0)
    keep, K, edge_gain, ub = bin_gain_upper_bounds(sk, mean, min_size)
    best = int(np.argmax(edge_gain))
    g = float(edge_gain[best])
    if np.isfinite(g):
        thr = float((mx[best] + mn[best + 1]) / 2.0)
        split = int(K[best])
    else:  # no admissible boundary split: everything rests on the refinement
        thr, split = float("nan"), None
    tol = rtol * max(abs(g), 1e-300) if np.isfinite(g) else np.inf
    cand_pos = np.flatnonzero(ub >= g - tol)
    candidates = keep[cand_pos]
    if cand_pos.size == 0:
        bound = 0.0
    else:
        lo_hull, hi_hull = float(mn[cand_pos].min()), float(mx[cand_pos].max())
        ref = thr if np.isfinite(thr) else (lo_hull + hi_hull) / 2.0
        bound = max(abs(ref - lo_hull), abs(hi_hull - ref))
    return SketchSplit(thr, g, candidates, bound, mean, split, int(c[cand_pos].sum()))


def refine_threshold(
    sk: ChangePointSketch, first: SketchSplit, values_in_candidates: np.ndarray, min_size: int = 1
) -> float:
    """The exact threshold from the sketch and the values of the candidate bins (second pass).

    Every split inside a candidate bin is scored with the exact prefix sum (the sketch gives the
    sum of everything before the bin, the pulled values give the rest); the best of those and of
    the boundary splits wins, ties going to the lower rank like ``np.argmax`` on one machine.
    """
    if first.split is None and first.candidates.size == 0:
        return first.threshold
    keep, c, s, mn, mx = _nonempty(sk)
    n = float(c.sum())
    mean = first.mean
    cs = s - c * mean
    T = float(cs.sum())
    K = np.cumsum(c)
    L = np.cumsum(cs)
    pos_of_bin = {int(b): i for i, b in enumerate(keep)}
    v = np.sort(np.asarray(values_in_candidates, dtype=np.float64))
    vb = bin_index(v, sk.lo, sk.hi, sk.bins)
    best_k, best_g, best_t = first.split, first.gain, first.threshold
    for b in np.unique(vb):
        i = pos_of_bin[int(b)]
        vals = v[vb == b]
        if vals.size != c[i]:
            raise RuntimeError(
                f"refinement pass saw {vals.size} values in bin {b}, the sketch {int(c[i])}: "
                "the data changed between the two passes"
            )
        k0, l0 = K[i] - c[i], L[i] - cs[i]
        Lj = l0 + np.cumsum(vals - mean)[:-1]  # splits after 1 .. c-1 values of the bin
        kj = k0 + np.arange(1, vals.size, dtype=np.float64)
        g = Lj * Lj / kj + (T - Lj) ** 2 / (n - kj)
        ok = (vals[1:] > vals[:-1]) & (kj >= min_size) & (n - kj >= min_size)
        if not ok.any():
            continue
        g = np.where(ok, g, -np.inf)
        j = int(np.argmax(g))
        k = int(kj[j])
        if g[j] > best_g or (g[j] == best_g and (best_k is None or k < best_k)):
            best_k, best_g, best_t = k, float(g[j]), float((vals[j] + vals[j + 1]) / 2.0)
    return best_t
