"""Built-in bandit policies. A policy is a small object with one method:
``choose(stats, t, rng) -> index of an active arm``."""

from __future__ import annotations

import math

import numpy as np

from w2s_plugin.errors import W2SError
from w2s_plugin.hookspecs import hookimpl


def _unpulled(stats):
    """First active arm never pulled, or None: every index policy pulls each source once first."""
    fresh = np.flatnonzero(stats.active & (stats.rounds == 0))
    return int(fresh[0]) if fresh.size else None


def _argmax_active(values, stats, rng):
    v = np.where(stats.active, values, -np.inf)
    best = np.flatnonzero(v == v.max())
    return int(best[0]) if best.size == 1 else int(rng.choice(best))


class _UCBIndex:
    """An upper-confidence index ``mean_k + c * sqrt(2 ln t / n_k)``; subclasses say what ``mean`` and
    ``n`` count (points or rounds). Unpulled sources first."""

    def __init__(self, c: float = 1.0):
        self.c = float(c)

    def choose(self, stats, t, rng):
        k = _unpulled(stats)
        if k is not None:
            return k
        mean, n = self._mean_and_count(stats)
        return _argmax_active(mean + self.c * np.sqrt(2.0 * math.log(max(t, 2)) / n), stats, rng)


class UCB(_UCBIndex):
    """Point-count UCB (default): ``ô_k + c * sqrt(2 ln t / points_k)``.

    The estimate and its bonus rest on every point drawn from the source, not on the number of
    rounds, so with batches of n points the bonus is ~sqrt(n) times tighter than per-round UCB1.
    """

    @staticmethod
    def _mean_and_count(stats):
        return stats.density, np.maximum(stats.drawn, 1)


class UCB1Rounds(_UCBIndex):
    """Classic UCB1 on per-round rewards: mean batch density ``+ sqrt(2 ln t / N_k)``."""

    @staticmethod
    def _mean_and_count(stats):
        n = np.maximum(stats.rounds, 1)
        return stats.reward_sum / n, n


class ReferenceUCB:
    """The reference code's index: mean batch density ``+ sqrt(2 ln T) / N_k`` (T = horizon, or t)."""

    def choose(self, stats, t, rng):
        k = _unpulled(stats)
        if k is not None:
            return k
        T = stats.horizon or max(t, 2)
        n = np.maximum(stats.rounds, 1)
        return _argmax_active(stats.reward_sum / n + math.sqrt(2.0 * math.log(max(T, 2))) / n, stats, rng)


class Thompson:
    """Thompson sampling on a Beta(a + overlap, b + non-overlap) posterior per source."""

    def __init__(self, a: float = 1.0, b: float = 1.0):
        self.a, self.b = float(a), float(b)

    def choose(self, stats, t, rng):
        draws = rng.beta(self.a + stats.overlap, self.b + stats.drawn - stats.overlap)
        return _argmax_active(draws, stats, rng)


class EpsilonGreedy:
    """Best estimated density, except a uniformly random source with probability ``epsilon``."""

    def __init__(self, epsilon: float = 0.1):
        if not 0.0 <= float(epsilon) <= 1.0:
            raise W2SError(f"epsilon_greedy: epsilon must be in [0, 1]; got {epsilon!r}")
        self.epsilon = float(epsilon)

    def choose(self, stats, t, rng):
        k = _unpulled(stats)
        if k is not None:
            return k
        if rng.random() < self.epsilon:
            return int(rng.choice(np.flatnonzero(stats.active)))
        return _argmax_active(stats.density, stats, rng)


class RoundRobin:
    """Each active source in turn (fewest rounds first): a uniform-allocation baseline."""

    def choose(self, stats, t, rng):
        r = np.where(stats.active, stats.rounds, np.iinfo(np.int64).max)
        return int(np.argmin(r))


class Random:
    """A uniformly random active source each round: the paper's baseline (docs/method.md)."""

    def choose(self, stats, t, rng):
        return int(rng.choice(np.flatnonzero(stats.active)))


class Oracle:
    """Always the active source with the highest *true* density (``densities``, in source order).

    Only for simulations, where the truth is known: the yardstick regret is measured against.
    """

    def __init__(self, densities):
        self.densities = np.asarray(densities, dtype=np.float64)

    def choose(self, stats, t, rng):
        if self.densities.size != len(stats.names):
            raise W2SError(f"oracle policy: {self.densities.size} densities for {len(stats.names)} sources")
        return _argmax_active(self.densities, stats, rng)


@hookimpl
def register_bandit_policies(register):
    register("ucb", UCB)
    register("ucb1_rounds", UCB1Rounds)
    register("reference_ucb", ReferenceUCB)
    register("thompson", Thompson)
    register("epsilon_greedy", EpsilonGreedy)
    register("round_robin", RoundRobin)
    register("random", Random)
    register("oracle", Oracle)
