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
