"""The paper's synthetic mixture, with ground-truth regions (docs/method.md).

Each point has ``n_easy_dims`` easy and ``n_hard_dims`` hard features. Its class ``y`` shifts
the features by the class centre; noise is Gaussian with variance ``noise``. Easy-only points
lack the hard pattern, hard-only points the easy pattern: the absent block is zeroed (the
paper) or, with ``absent="noise"``, pure noise with no class signal (a harder, more realistic
variant). The weak model sees only the easy block (:meth:`OverlapMixture.weak_view`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detector import Region
from .errors import W2SError
from .validation import check_random_state


@dataclass
class OverlapMixture:
    """A draw from the mixture: ``X``, labels ``y``, true ``regions``, and how to draw more."""

    X: np.ndarray
    y: np.ndarray
    regions: np.ndarray
    centers: np.ndarray  # (n_classes, n_dims) class centres (binary: -theta, +theta)
    n_easy_dims: int
    n_hard_dims: int
    noise: float
    absent: str

    @property
    def easy_dims(self) -> slice:
        return slice(0, self.n_easy_dims)

    @property
    def hard_dims(self) -> slice:
        return slice(self.n_easy_dims, self.n_easy_dims + self.n_hard_dims)

    @property
    def density(self) -> float:
        return float(np.mean(self.regions == int(Region.OVERLAP)))

    def weak_view(self, X=None) -> np.ndarray:
        """The weak model's view: the hard block zeroed, so only easy patterns can be learned."""
        V = np.array(self.X if X is None else X, dtype=np.float64, copy=True)
        V[:, self.hard_dims] = 0.0
        return V

    def sample(
        self, n_easy: int = 0, n_hard: int = 0, n_overlap: int = 0, random_state=None
    ) -> OverlapMixture:
        """Another draw from the same distribution (same class centres), e.g. to train the weak model."""
        return make_overlap_mixture(
            n_easy,
            n_hard,
            n_overlap,
            n_easy_dims=self.n_easy_dims,
            n_hard_dims=self.n_hard_dims,
            noise=self.noise,
            absent=self.absent,
            n_classes=self.centers.shape[0],
            centers=self.centers,
            random_state=random_state,
        )


def make_overlap_mixture(
    n_easy: int = 100,
    n_hard: int = 100,
    n_overlap: int = 100,
    *,
    n_easy_dims: int = 20,
    n_hard_dims: int = 20,
    noise: float = 5.0,
    absent: str = "zero",
    n_classes: int = 2,
    centers=None,
    shuffle: bool = True,
    random_state=None,
) -> OverlapMixture:
    """Draw easy-only, hard-only and overlap points from the paper's Gaussian mixture.

    Binary (the paper): ``theta ~ U[0, 1]^d`` fixed, ``x = +/-theta + N(0, noise * I)``.
    ``k`` classes: centres ``U[-1, 1]^d`` per class. Pass ``centers`` (from an earlier draw's
    ``.centers``) to draw again from the same distribution; ``random_state`` fixes everything.
    """
    for label, v in (("n_easy", n_easy), ("n_hard", n_hard), ("n_overlap", n_overlap)):
        if not isinstance(v, (int, np.integer)) or v < 0:
            raise W2SError(f"{label} must be a non-negative integer; got {v!r}")
    if n_easy + n_hard + n_overlap == 0:
        raise W2SError("make_overlap_mixture: ask for at least one point")
    if n_easy_dims < 1 or n_hard_dims < 1:
        raise W2SError("n_easy_dims and n_hard_dims must be >= 1")
    if noise <= 0:
        raise W2SError(f"noise is a variance and must be > 0; got {noise!r}")
    if absent not in ("zero", "noise"):
        raise W2SError(f"absent must be 'zero' (the paper) or 'noise'; got {absent!r}")
    if n_classes < 2:
        raise W2SError(f"n_classes must be >= 2; got {n_classes}")
    rng = check_random_state(random_state)
    d = n_easy_dims + n_hard_dims
    if centers is None:
        if n_classes == 2:
            theta = rng.uniform(0.0, 1.0, size=d)
            centers = np.stack([-theta, theta])
        else:
            centers = rng.uniform(-1.0, 1.0, size=(n_classes, d))
    centers = np.asarray(centers, dtype=np.float64)
    if centers.shape != (n_classes, d):
        raise W2SError(f"centers must have shape ({n_classes}, {d}); got {centers.shape}")
    n = n_easy + n_hard + n_overlap
    regions = np.repeat(
        np.array([Region.EASY_ONLY, Region.HARD_ONLY, Region.OVERLAP], dtype=np.int8),
        [n_easy, n_hard, n_overlap],
    )
    y = rng.integers(0, n_classes, size=n)
    sd = np.sqrt(noise)
    X = centers[y] + rng.normal(0.0, sd, size=(n, d))
    easy, hard = slice(0, n_easy_dims), slice(n_easy_dims, d)
    absent_easy = regions == Region.HARD_ONLY
    absent_hard = regions == Region.EASY_ONLY
    if absent == "zero":
        X[absent_easy, easy] = 0.0
        X[absent_hard, hard] = 0.0
    else:  # the block is there but carries no class signal
        X[absent_easy, easy] = rng.normal(0.0, sd, size=(int(absent_easy.sum()), n_easy_dims))
        X[absent_hard, hard] = rng.normal(0.0, sd, size=(int(absent_hard.sum()), n_hard_dims))
    if shuffle:
        p = rng.permutation(n)
        X, y, regions = X[p], y[p], regions[p]
    return OverlapMixture(X, y, regions, centers, n_easy_dims, n_hard_dims, float(noise), absent)
