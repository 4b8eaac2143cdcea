"""Synthetic multi-source campaigns with known overlap densities (for tests, benchmarks and the demo).

Two levels of realism:

* :func:`make_sources` builds ``K`` real :class:`~w2s_plugin.Source` pools from the paper's
  mixture (docs/method.md), each with a chosen true overlap density, plus a weak model that
  sees only the easy features and a test set with ground-truth regions. A :class:`Campaign` on
  them runs the real detector, so detection error is part of the picture.
* :func:`simulate_bandit` runs a :class:`~w2s_plugin.SourceBandit` alone, drawing each round's
  overlap count as ``Binomial(n, density)``: exact detection, i.e. the bandit's own behaviour,
  fast enough to average over many seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bandit import SourceBandit
from .datasets import OverlapMixture, make_overlap_mixture
from .detector import Region
from .errors import W2SError
from .models import ColumnView
from .sources import Source
from .validation import check_random_state

__all__ = ["SyntheticSources", "make_sources", "simulate_bandit", "BanditRun", "strong_accuracy"]


def _check_densities(densities) -> np.ndarray:
    d = np.asarray(densities, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise W2SError(f"densities must be a non-empty 1-D list of overlap densities; got {densities!r}")
    if not np.all(np.isfinite(d)) or (d < 0).any() or (d > 1).any():
        raise W2SError(f"densities must lie in [0, 1]; got {d.tolist()}")
    return d


@dataclass
class SyntheticSources:
    """What :func:`make_sources` builds. Unpacks as ``sources, weak_model, test``."""

    sources: list  # list of Source, named "s0".."s{K-1}", extras["regions"] = truth
    weak_model: ColumnView  # logistic regression on the easy features only
    test: OverlapMixture  # held-out points with y and true regions (equal thirds)
    densities: dict  # {name: realised true overlap density of the pool}
    mixture: OverlapMixture  # the first draw (its centres define the distribution)

    def __iter__(self):
        return iter((self.sources, self.weak_model, self.test))

    @property
    def best(self) -> str:
        return max(self.densities, key=self.densities.get)

    def bandit_settings(self, policy: str, **settings) -> dict:
        """A campaign's ``bandit`` settings for ``policy`` on these sources: the ``oracle`` policy is
        given the true densities it always follows."""
        out = {"policy": policy, **settings}
        if policy == "oracle":
            out["policy_params"] = {"densities": [self.densities[s.name] for s in self.sources]}
        return out

    def campaign(self, policy: str, bandit: dict | None = None, **settings):
        """A :class:`~w2s_plugin.Campaign` on these sources and their weak model, its bandit running
        ``policy`` (with ``bandit``'s other settings); ``settings`` are the Campaign's."""
        from .campaign import Campaign

        return Campaign(
            self.sources, self.weak_model, bandit=self.bandit_settings(policy, **(bandit or {})), **settings
        )


def make_sources(
    densities,
    n_per_source: int = 2000,
    *,
    hard_share: float = 0.5,
    n_easy_dims: int = 20,
    n_hard_dims: int = 20,
    noise: float = 5.0,
    absent: str = "zero",
    n_weak_train: int = 600,
    n_test: int = 600,
    names=None,
    random_state=None,
) -> SyntheticSources:
    """``K = len(densities)`` sources from one synthetic mixture, source ``k`` with overlap density
    ``densities[k]``.

    The points of a source that are not overlap are split ``hard_share`` hard-only / the rest
    easy-only. Each source carries ``y`` and ``extras["regions"]`` (so a Campaign knows the true
    densities and reports regret). The weak model is a logistic regression fitted on
    ``n_weak_train`` fresh points of the same mixture, seeing only the easy features; the test set
    has ``n_test`` points in equal thirds. Everything follows from ``random_state``.
    """
    d = _check_densities(densities)
    if not isinstance(n_per_source, (int, np.integer)) or n_per_source < 2:
        raise W2SError(f"n_per_source must be an integer >= 2; got {n_per_source!r}")
    if not 0.0 <= hard_share <= 1.0:
        raise W2SError(f"hard_share must be in [0, 1]; got {hard_share!r}")
    if names is None:
        names = [f"s{k}" for k in range(d.size)]
    names = list(names)
    if len(names) != d.size:
        raise W2SError(f"names: {len(names)} names for {d.size} densities")
    from sklearn.linear_model import LogisticRegression

    rng = check_random_state(random_state)
    seeds = rng.integers(0, 2**31 - 1, size=d.size + 4)
    base = make_overlap_mixture(
        1,
        1,
        1,
        n_easy_dims=n_easy_dims,
        n_hard_dims=n_hard_dims,
        noise=noise,
        absent=absent,
        random_state=int(seeds[0]),
    )
    sources, realised = [], {}
    for k, (dens, name) in enumerate(zip(d, names)):
        n_ov = int(round(dens * n_per_source))
        n_hard = int(round(hard_share * (n_per_source - n_ov)))
        n_easy = n_per_source - n_ov - n_hard
        m = base.sample(n_easy, n_hard, n_ov, random_state=int(seeds[k + 1]))
        sources.append(
            Source(name, m.X, y=m.y, extras={"regions": m.regions}, random_state=int(seeds[k + 1]) ^ 0x5EED)
        )
        realised[name] = m.density
    third = max(1, n_weak_train // 3)
    wt = base.sample(third, third, third, random_state=int(seeds[-3]))
    weak = ColumnView(base.easy_dims, LogisticRegression(max_iter=2000)).fit(wt.X, wt.y)
    t3 = max(1, n_test // 3)
    test = base.sample(t3, t3, t3, random_state=int(seeds[-2]))
    return SyntheticSources(sources, weak, test, realised, base)


def strong_accuracy(X, y_weak, test: OverlapMixture, C: float = 0.01) -> dict:
    """Test accuracy (all, hard-only) of the paper's strong model, logistic regression with ``C``,
    trained on weak labels; NaN when the labels hold a single class."""
    from sklearn.linear_model import LogisticRegression

    y_weak = np.asarray(y_weak)
    if y_weak.size < 2 or np.unique(y_weak).size < 2:
        return {"all": float("nan"), "hard_only": float("nan"), "n_train": int(y_weak.size)}
    model = LogisticRegression(C=C, max_iter=2000).fit(X, y_weak)
    pred = model.predict(test.X)
    hard = test.regions == int(Region.HARD_ONLY)
    return {
        "all": float(np.mean(pred == test.y)),
        "hard_only": float(np.mean(pred[hard] == test.y[hard])),
        "n_train": int(y_weak.size),
    }


@dataclass
class BanditRun:
    """One Binomial simulation: the arm pulled each round, overlap found, and pseudo-regret."""

    arms: np.ndarray  # index pulled each round
    overlap: np.ndarray  # overlap count each round
    regret: np.ndarray  # cumulative pseudo-regret in overlap points: n * (mu* - mu_arm)
    best: int
    bandit: SourceBandit

    def best_share(self, skip: int = 0) -> float:
        """Share of rounds after the first ``skip`` that pulled the best source."""
        a = self.arms[skip:]
        return float(np.mean(a == self.best)) if a.size else float("nan")


def simulate_bandit(
    densities,
    policy: str = "ucb",
    batch_size: int = 100,
    rounds: int = 100,
    policy_params: dict | None = None,
    random_state=None,
) -> BanditRun:
    """Run ``policy`` for ``rounds`` rounds where pulling source ``k`` yields
    ``Binomial(batch_size, densities[k])`` overlap points (exact detection; pools never run out).
    ``oracle`` gets the densities itself."""
    d = _check_densities(densities)
    rng = check_random_state(random_state)
    seed_bandit, seed_draws = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
    params = dict(policy_params or {})
    if policy == "oracle":
        params.setdefault("densities", d.tolist())
    names = [f"s{k}" for k in range(d.size)]
    bandit = SourceBandit(
        names, policy=policy, policy_params=params, horizon=rounds, random_state=seed_bandit
    )
    draws = np.random.default_rng(seed_draws)
    arms = np.empty(rounds, dtype=np.int64)
    found = np.empty(rounds, dtype=np.int64)
    for t in range(rounds):
        k = names.index(bandit.select())
        c = int(draws.binomial(batch_size, d[k]))
        bandit.update(names[k], batch_size, c)
        arms[t], found[t] = k, c
    best = int(np.argmax(d))
    regret = np.cumsum(batch_size * (d[best] - d[arms]))
    return BanditRun(arms, found, regret, best, bandit)
