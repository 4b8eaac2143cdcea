"""Rewards: what a campaign's bandit maximises, as a plugin kind (``register_rewards``).

Each round the engine builds a :class:`RoundInfo` for the drawn batch and calls the campaign's
reward once; the reward returns the round's value *per item*, in [0, 1], and the bandit is
updated with ``value * n`` (so the built-in ``overlap`` reward, the share of detected-overlap
items, reproduces the original overlap-count bandit exactly). A reward may also look at the
whole campaign: ``bind(engine)`` is called once when the engine is built or resumed, and
``state()`` / ``load_state()`` carry what it learned across a restart.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

import numpy as np

from . import plugins
from .errors import W2SError
from .params import check_call
from .protocols import Reward  # noqa: F401  (re-exported: the protocol lives with the others)


@dataclass
class RoundInfo:
    """Everything about one round that a reward may use."""

    round: int  # 1-based round number
    source: str  # the source drawn from
    batch: typing.Any  # the drawn Batch: batch.view("weak"), batch.view("strong"), .ids, .positions
    proba: np.ndarray  # (n, k) weak probabilities
    embeddings: np.ndarray  # (n, d) strong representation
    report: typing.Any  # OverlapReport of the batch (regions, confidence, overlap_score, ...)
    weak_labels: np.ndarray  # (n,) weak labels as class labels (classes_[argmax]), never column indices

    @property
    def n(self) -> int:
        return len(self.weak_labels)


class _FunctionReward:
    """A plain ``callable(info) -> float`` used as a reward."""

    def __init__(self, func, name: str | None = None):
        self.func = func
        self.name = name or getattr(func, "__name__", None) or type(func).__name__

    def __call__(self, info: RoundInfo) -> float:
        return self.func(info)


def make_reward(spec="overlap", **params) -> Reward:
    """A reward object from ``spec``: a registered name (``params`` go to its factory), a reward
    object (an object with ``name`` and ``__call__``), or a plain ``callable(info) -> float``."""
    if spec is None:
        spec = "overlap"
    if isinstance(spec, str):
        factory = plugins.lookup("rewards", spec, "reward")
        check_call(factory, params, f"reward {spec!r}: reward_params", suggest=True)
        reward = factory(**params)
        if not getattr(reward, "name", None):
            reward.name = spec
        return reward
    if params:
        raise W2SError(f"reward_params only apply to a reward given by name; got a {type(spec).__name__}")
    if callable(spec) and isinstance(getattr(spec, "name", None), str):
        return spec
    if callable(spec):
        return _FunctionReward(spec)
    raise W2SError(
        f"reward must be a registered name, a reward object or a callable(info) -> float; "
        f"got {type(spec).__name__}"
    )


def check_value(reward: Reward, value, round_no: int) -> float:
    """The reward's answer as a float in [0, 1], or an error naming the reward."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise W2SError(
            f"reward {reward.name!r} returned {value!r} in round {round_no}; "
            "a reward returns a number in [0, 1] (per item)"
        ) from None
    if not (0.0 <= v <= 1.0):
        raise W2SError(
            f"reward {reward.name!r} returned {v} in round {round_no}; a reward returns a value "
            "per item, in [0, 1]"
        )
    return v


def reward_warning(rounds, reward_name: str, n_sources: int, min_rounds: int | None = None) -> str | None:
    """A one-line warning when the reward took the same value in every round so far, or None.

    A reward that never varies makes every source tie, so the bandit draws them in turn (round
    robin) whatever the sources hold: the campaign is random sampling while looking adaptive. It is
    said only after ``min_rounds`` rounds with items (default: two per source, at least 4) and with
    at least two sources; the likely cause depends on the reward and its value.
    """
    vals = [r.get("reward") for r in rounds if r.get("n")]
    need = max(4, 2 * n_sources) if min_rounds is None else min_rounds
    if n_sources < 2 or len(vals) < need or any(not isinstance(v, (int, float)) for v in vals):
        return None
    if max(vals) - min(vals) > 1e-12:
        return None
    v = float(vals[0])
    if reward_name == "gain":
        cause = {
            0.0: "the weak labels never match the gold labels' classes (pass classes= naming the weak "
            "model's probability columns in order), or every batch is far worse than gold alone",
            0.5: "no batch moves the strong model's gold accuracy (a large gold sample and small batches: "
            "raise batch_size or reward_params scale)",
            1.0: "every batch raises gold accuracy beyond 1/scale (lower reward_params scale)",
        }.get(v, "the reward does not depend on the batch")
    elif reward_name == "overlap":
        cause = {
            0.0: "no batch held a detected-overlap point (the weak model may be uninformative here, or the "
            "detector's thresholds too strict)",
            1.0: "every point is detected as overlap (the detector's thresholds are too loose)",
        }.get(v, "the reward does not depend on the batch")
    else:
        cause = "the reward does not depend on the batch it is given (check what it reads from RoundInfo)"
    return (
        f"reward {reward_name!r} was {v:.3g} in all {len(vals)} rounds, so every source ties and the "
        f"bandit draws them in turn (round robin, no better than random); likely cause: {cause}"
    )
