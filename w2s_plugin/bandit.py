"""Choosing which source to draw from next: a multi-armed bandit over sources.

Each arm is a source; pulling it draws a batch of ``n`` points and earns a reward in ``[0, n]``:
the campaign's reward per item (a plugin; by default ``overlap``, the share of points detection
calls overlap) times ``n``. The default policy (``ucb``) estimates a source's mean reward per
point from every point drawn from it, so its confidence bonus shrinks with points, not rounds
(docs/campaigns.md states the regret bound). Policies are plugins.

The public API a front-end uses: :meth:`SourceBandit.select`, :meth:`~SourceBandit.update`,
:meth:`~SourceBandit.count_pull` (a pull that brought no new evidence), :meth:`~SourceBandit.exhaust`,
:meth:`~SourceBandit.rng_state` / :meth:`~SourceBandit.set_rng_state` (undo a failed round's
random draw), :meth:`~SourceBandit.estimates`, :meth:`~SourceBandit.to_dict` / ``from_dict``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from . import plugins
from .errors import W2SError
from .params import check_call
from .validation import check_random_state


@dataclass
class ArmStats:
    """What a policy sees: one entry per source, in the bandit's order."""

    names: list
    active: np.ndarray  # bool: the source still has points to draw
    rounds: np.ndarray  # N_k: rounds that pulled source k
    drawn: np.ndarray  # points drawn from k
    overlap: np.ndarray  # reward earned on them (overlap points for the ``overlap`` reward; float)
    reward_sum: np.ndarray  # sum over k's rounds of that round's reward per point
    t: int  # rounds so far (all sources)
    horizon: int | None = None

    @property
    def density(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.drawn > 0, self.overlap / np.maximum(self.drawn, 1), 0.0)


def wilson_interval(successes: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (well behaved at 0, 1 and small n)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def regret_bound(densities, batch_size: int, rounds: int, detection_error: float = 0.0) -> float:
    """Upper bound on the expected regret, in overlap points, of the point-count ``ucb`` policy (c = 1).

    Auer et al. (2002, Thm. 1) with the estimate and bonus over *points*: a suboptimal source k
    is pulled at most ``8 ln T / (n gap_k^2) + 1 + pi^2/3`` times in expectation, and each pull
    loses ``n gap_k`` overlap points, so ``E[R_T] <= sum_k 8 ln T / gap_k + (1 + pi^2/3) n gap_k``.
    Assumes exact detection, items drawn uniformly without replacement from pools that do not run
    out, and T >= K. With a detection bias of at most ``detection_error`` (eps) per source, gaps
    shrink to ``gap_k - 2 eps`` in the log term; a source with ``gap_k <= 2 eps`` may look best,
    and its term becomes linear, ``n gap_k T`` (docs/campaigns.md derives this).
    """
    d = np.asarray(densities, dtype=np.float64)
    n, T, eps = int(batch_size), int(rounds), float(detection_error)
    gaps = d.max() - d
    total = 0.0
    for g in gaps[gaps > 0]:
        if g > 2 * eps:
            total += 8.0 * math.log(max(T, 2)) * g / (g - 2 * eps) ** 2 + (1 + math.pi**2 / 3) * n * g
        else:
            total += n * g * T
    return float(min(total, n * T * gaps.max()))


class SourceBandit:
    """Pick sources by a registered policy and keep per-source overlap counts.

    Parameters
    ----------
    sources : list of str or objects with ``.name``
    policy : str
        Registered bandit policy (``ucb`` default; ``ucb1_rounds``, ``reference_ucb``,
        ``thompson``, ``epsilon_greedy``, ``round_robin``, ``random``, or a plugin's).
    policy_params : dict, optional
        Passed to the policy's factory (e.g. ``{"epsilon": 0.1}``).
    horizon : int, optional
        Total rounds planned; only ``reference_ucb`` uses it (``ln T``).
    random_state : int, Generator or None

    ``overlap_`` holds each source's total reward (for the default ``overlap`` reward, its count
    of overlap points); ``reward_name`` names the reward in tables.
    """

    reward_name = "overlap"

    def __init__(
        self,
        sources,
        policy: str = "ucb",
        policy_params: dict | None = None,
        horizon: int | None = None,
        random_state=None,
    ):
        names = [s if isinstance(s, str) else getattr(s, "name", None) for s in sources]
        if not names:
            raise W2SError("SourceBandit needs at least one source")
        if any(not isinstance(n, str) or not n for n in names):
            raise W2SError("every source needs a non-empty string name")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise W2SError(f"source names must be unique; repeated: {', '.join(dup)}")
        self.names = names
        self.policy = policy
        self.policy_params = dict(policy_params or {})
        self.horizon = horizon
        self.random_state = random_state
        factory = plugins.lookup("bandit_policies", policy, "bandit policy")
        check_call(factory, self.policy_params, f"bandit policy {policy!r}: policy_params", suggest=True)
        self.policy_ = factory(**self.policy_params)
        self.rng_ = check_random_state(random_state)
        k = len(names)
        self.active_ = np.ones(k, dtype=bool)
        self.rounds_ = np.zeros(k, dtype=np.int64)
        self.drawn_ = np.zeros(k, dtype=np.int64)
        self.overlap_ = np.zeros(k, dtype=np.float64)
        self.reward_sum_ = np.zeros(k, dtype=np.float64)
        self.t_ = 0

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise W2SError(f"unknown source {name!r}; sources are {', '.join(self.names)}") from None

    def stats(self) -> ArmStats:
        return ArmStats(
            list(self.names),
            self.active_.copy(),
            self.rounds_.copy(),
            self.drawn_.copy(),
            self.overlap_.copy(),
            self.reward_sum_.copy(),
            self.t_,
            self.horizon,
        )

    def select(self) -> str:
        """Name of the source to draw from next."""
        if not self.active_.any():
            raise RuntimeError("every source is exhausted: nothing left to select")
        k = int(self.policy_.choose(self.stats(), self.t_, self.rng_))
        if not (0 <= k < len(self.names)) or not self.active_[k]:
            raise RuntimeError(f"bandit policy {self.policy!r} chose {k}, which is not an active source")
        return self.names[k]

    def update(self, source: str, n_drawn: int, n_overlap: float):
        """Record a round: ``n_drawn`` points from ``source`` earned ``n_overlap`` in total (the reward
        per point times ``n_drawn``; for the ``overlap`` reward, the number of overlap points)."""
        k = self._index(source)
        n_drawn, n_overlap = int(n_drawn), float(n_overlap)
        if n_drawn < 1 or not 0 <= n_overlap <= n_drawn:
            raise W2SError(
                f"update({source!r}): need n_drawn >= 1 and 0 <= n_overlap <= n_drawn; "
                f"got n_drawn={n_drawn}, n_overlap={n_overlap}"
            )
        self.rounds_[k] += 1
        self.drawn_[k] += n_drawn
        self.overlap_[k] += n_overlap
        self.reward_sum_[k] += n_overlap / n_drawn
        self.t_ += 1
        return self

    def count_pull(self, source: str):
        """Record a pull that brought no new evidence (no first-time item): its round count and the
        clock advance, no points are added, and its per-round mean reward stays unchanged (the
        per-round sum grows by the current mean)."""
        k = self._index(source)
        r = int(self.rounds_[k])
        self.reward_sum_[k] += self.reward_sum_[k] / r if r else 0.0
        self.rounds_[k] += 1
        self.t_ += 1
        return self

    def rng_state(self) -> dict:
        """The random stream's state (JSON-able): take it before :meth:`select`, give it back with
        :meth:`set_rng_state` when the round fails, so a retry draws exactly the same."""
        return json.loads(json.dumps(self.rng_.bit_generator.state))

    def set_rng_state(self, state: dict) -> None:
        self.rng_.bit_generator.state = state

    @property
    def any_active(self) -> bool:
        return bool(self.active_.any())

    def exhaust(self, source: str, exhausted: bool = True):
        """Take a source out of (or back into) the selection."""
        self.active_[self._index(source)] = not exhausted
        return self

    def estimates(self, z: float = 1.96) -> list[dict]:
        """Per source: pulls, points drawn, reward earned (``overlap``), estimated mean reward per point
        (``density``) and its Wilson interval; ``reward`` names the reward."""
        rows = []
        for k, name in enumerate(self.names):
            lo, hi = wilson_interval(self.overlap_[k], self.drawn_[k], z)
            est = self.overlap_[k] / self.drawn_[k] if self.drawn_[k] else float("nan")
            rows.append(
                {
                    "source": name,
                    "pulls": int(self.rounds_[k]),
                    "drawn": int(self.drawn_[k]),
                    "overlap": _num(self.overlap_[k]),
                    "density": est,
                    "ci_low": lo,
                    "ci_high": hi,
                    "active": bool(self.active_[k]),
                    "reward": self.reward_name,
                }
            )
        return rows

    def to_dict(self) -> dict:
        """Plain-JSON state: enough to continue exactly, random stream included."""
        return {
            "names": self.names,
            "policy": self.policy,
            "policy_params": self.policy_params,
            "horizon": self.horizon,
            "random_state": self.random_state if isinstance(self.random_state, (int, type(None))) else None,
            "active": self.active_.tolist(),
            "rounds": self.rounds_.tolist(),
            "drawn": self.drawn_.tolist(),
            "overlap": [int(v) if float(v).is_integer() else float(v) for v in self.overlap_],
            "reward_name": self.reward_name,
            "reward_sum": self.reward_sum_.tolist(),
            "t": self.t_,
            "rng": json.loads(json.dumps(self.rng_.bit_generator.state)),
            "policy_state": self.policy_.get_state() if hasattr(self.policy_, "get_state") else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SourceBandit:
        b = cls(
            d["names"],
            policy=d["policy"],
            policy_params=d.get("policy_params"),
            horizon=d.get("horizon"),
            random_state=d.get("random_state"),
        )
        b.active_ = np.asarray(d["active"], dtype=bool)
        b.rounds_ = np.asarray(d["rounds"], dtype=np.int64)
        b.drawn_ = np.asarray(d["drawn"], dtype=np.int64)
        b.overlap_ = np.asarray(d["overlap"], dtype=np.float64)
        b.reward_name = d.get("reward_name", "overlap")
        b.reward_sum_ = np.asarray(d["reward_sum"], dtype=np.float64)
        b.t_ = int(d["t"])
        b.rng_.bit_generator.state = d["rng"]
        if d.get("policy_state") is not None and hasattr(b.policy_, "set_state"):
            b.policy_.set_state(d["policy_state"])
        return b

    def summary(self) -> str:
        """The estimates as a table; columns are named after the reward (``overlap``/``density``
        for the default reward, ``<name>``/``mean`` for another)."""
        plain = self.reward_name == "overlap"
        total, mean = ("overlap", "density") if plain else (self.reward_name[:8], "mean")
        lines = [f"{'source':<16} {'pulls':>6} {'drawn':>8} {total:>8} {mean:>8}  95% interval"]
        for r in self.estimates():
            dens = "-" if math.isnan(r["density"]) else f"{r['density']:.3f}"
            flag = "" if r["active"] else "  (exhausted)"
            got = r["overlap"] if isinstance(r["overlap"], int) else f"{r['overlap']:.1f}"
            lines.append(
                f"{r['source']:<16} {r['pulls']:>6} {r['drawn']:>8} {got:>8} {dens:>8}  "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]{flag}"
            )
        return "\n".join(lines)


def _num(v):
    """A reward total as an int when it is whole (overlap counts), else a float."""
    v = float(v)
    return int(v) if v.is_integer() else v
