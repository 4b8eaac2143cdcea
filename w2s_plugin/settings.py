"""The settings of a multi-source run, typed and made once, shared by every front-end
(``Campaign``, the modAL ``MultiSourceLearner``, the Label Studio ``CampaignDriver``) and the
:class:`~w2s_plugin.engine.Engine` they drive.

One default per setting. ``batch_size`` is 100 for every front-end (0.1.0 had 100 for a campaign,
256 for the learner and 20 for the driver; a resumed folder keeps the batch size it was saved
with). A mistake is a :class:`~w2s_plugin.errors.SettingError` whose ``field`` names the setting.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from .errors import SettingError

#: Points (candidates, tasks) per round, for every front-end.
DEFAULT_BATCH_SIZE = 100


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What a run is configured with. ``batch_size=None`` means: the saved one when resuming,
    else :data:`DEFAULT_BATCH_SIZE`."""

    batch_size: int | None = None
    budget: int | None = None
    detector: Any = None  # OverlapDetector or a dict of its parameters (default: accumulating)
    bandit: Any = None  # SourceBandit, a policy name, or {"policy": ..., "policy_params": ...}
    reward: Any = "overlap"  # a registered reward name, a reward object or callable(info) -> float
    reward_params: dict | None = None
    gold: Any = None  # None or (X_gold, y_gold)
    classes: Any = None  # class labels in the order of the weak model's probability columns
    true_densities: dict | None = None  # simulations: {source: density}, enables regret
    random_state: Any = None
    state_dir: Any = None

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, **kwargs) -> RunSettings:
        """Settings from keywords; an unknown keyword is a SettingError naming it."""
        unknown = sorted(set(kwargs) - set(cls.fields()))
        if unknown:
            raise SettingError(
                f"unknown setting(s) {unknown}; the settings are {', '.join(cls.fields())}", unknown[0]
            )
        return cls(**kwargs)

    @classmethod
    def from_arguments(cls, arguments: dict, **overrides) -> RunSettings:
        """The settings among a front-end constructor's arguments (its ``locals()`` on entry).

        ``Campaign``, ``MultiSourceLearner`` and ``CampaignDriver`` keep their settings as explicit
        keyword parameters named as the fields here, so users see them in ``help()``; this takes each
        field one of them has, so the list of settings is written once. ``overrides`` are values the
        front-end worked out itself (e.g. the driver's ``classes``)."""
        given = {f: arguments[f] for f in cls.fields() if f in arguments}
        return cls.of(**{**given, **overrides})

    def resolved(self, saved: dict | None = None) -> RunSettings:
        """``batch_size`` filled in: the saved one when resuming, else the default."""
        if self.batch_size is not None:
            return self
        size = (saved or {}).get("batch_size") or DEFAULT_BATCH_SIZE
        return dataclasses.replace(self, batch_size=int(size))

    def check_batch_size(self, owner: str, minimum: int = 1) -> None:
        b = self.batch_size
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < minimum:
            why = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            why += " (detection splits each batch in two)" if minimum == 2 else ""
            raise SettingError(f"{owner}: batch_size must be {why}; got {b!r}", "batch_size")

    def check_budget(self, owner: str) -> None:
        b = self.budget
        if b is not None and (
            isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < self.batch_size
        ):
            raise SettingError(
                f"{owner}: budget ({b!r}) must be an integer >= batch_size ({self.batch_size})", "budget"
            )

    def engine_kwargs(self) -> dict:
        return {f: getattr(self, f) for f in self.fields()}
