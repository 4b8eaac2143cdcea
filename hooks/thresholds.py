"""Built-in threshold rules: where to split a 1-D array of confidences or overlap scores."""

from __future__ import annotations

import numpy as np

from w2s_plugin.errors import W2SError
from w2s_plugin.hookspecs import hookimpl
from w2s_plugin.overlap import change_point_threshold


def change_point(values, min_size: int = 1) -> float:
    """The exact single L2 change point on the sorted values (the paper's rule; no hand-set threshold)."""
    return change_point_threshold(values, min_size=min_size)


def change_point_grid(values, jump: int = 5, min_size: int = 2) -> float:
    """The reference's ``ruptures.Binseg(model="l2", jump=5, min_size=2)`` split: the best split
    whose index is a multiple of ``jump``. Kept for faithful comparisons; ``change_point`` is exact."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = v.size
    if n == 0:
        return float("nan")
    cand = np.arange(jump, n, jump)
    cand = cand[(cand >= min_size) & (n - cand >= min_size)]
    if cand.size == 0 or v[0] == v[-1]:
        return float(v[0])
    c = v - v.mean()
    s1 = np.cumsum(c)
    left = s1[cand - 1]
    gain = left * left / cand + (s1[-1] - left) ** 2 / (n - cand)
    k = int(cand[int(np.argmax(gain))])
    return float(v[k])


def median(values) -> float:
    """The median: a simple fallback the reference uses when change-point search fails."""
    return float(np.median(np.asarray(values, dtype=np.float64)))


def quantile(values, q: float = 0.5) -> float:
    """A fixed quantile ``q`` in [0, 1]: when you know the share you want below the threshold."""
    if not 0.0 <= float(q) <= 1.0:
        raise W2SError(f"quantile threshold: q must be in [0, 1]; got {q!r}")
    return float(np.quantile(np.asarray(values, dtype=np.float64), q))


@hookimpl
def register_thresholds(register):
    register("change_point", change_point)
    register("change_point_grid", change_point_grid)
    register("median", median)
    register("quantile", quantile)


__all__ = ["change_point", "change_point_grid", "median", "quantile"]
