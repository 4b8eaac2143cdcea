"""A multi-source campaign: each round the bandit picks a source, a batch is drawn and weak-labeled,
overlap is detected, and the campaign's reward for the batch updates the source's estimate.

Sources, bandit, reward, state on disk and resume rules live in :mod:`w2s_plugin.engine`; this
front-end draws, weak-labels and detects. Every round is committed to ``state_dir`` before the
next starts, so a crash (even SIGKILL) loses at most the round in flight and
``Campaign.resume`` continues exactly where it stopped. See docs/campaigns.md.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from . import plugins
from .detector import Region
from .engine import LOG_FILE, STATE_FILE, Engine, atomic_write_bytes, load_state  # noqa: F401  (re-exported)
from .errors import StateError, W2SError
from .models import Precomputed
from .progress import progress
from .results import CampaignResults  # noqa: F401  (re-exported)
from .sources import Source


class Campaign:
    """Draw batches from the sources a bandit picks, detect overlap in each, keep everything on disk.

    Parameters
    ----------
    sources : list of Source (or paths, loaded with ``Source.from_path``)
    weak_model : anything the ``w2s_weak_proba`` hook understands (an estimator with
        ``predict_proba``, a callable) or ``Precomputed("proba")``; it reads each batch's
        ``view("weak")``.
    embed : the strong representation: ``None`` (the features), a callable, a transformer, or
        ``Precomputed("embeddings")``; it reads each batch's ``view("strong")``.
    detector : OverlapDetector or dict of its params (default: accumulate history across rounds).
    bandit : SourceBandit, a policy name, or a dict ``{"policy": ..., "policy_params": ...}``.
    batch_size : points per round (>= 2: detection splits a batch in two).
    budget : total points to draw (default: until every source is exhausted). A round never holds
        a single point, so the last round may take one extra point from a source (rather than
        strand it) or the campaign may stop one point short of the budget.
    state_dir : where every round is committed (``None``: in memory only).
    true_densities : ``{source: density}`` for simulations; taken from each source's
        ``extras["regions"]`` when all have it. Enables regret.
    progress : show a progress bar (on stderr) with the current estimates in ``run()``.
    random_state : seeds the bandit and detector when they are built here.
    reward, reward_params : what the bandit maximises: a registered reward name (default
        ``overlap``), a reward object or a ``callable(info) -> float`` (see :mod:`w2s_plugin.rewards`).
    gold : ``None`` or ``(X_gold, y_gold)``, gold items in the sources' form, labels as classes
        (for rewards that measure accuracy).
    classes : class labels in the order of the weak model's probability columns (default: its
        ``classes_``, else ``0..k-1``); weak labels are reported as these.
    """

    def __init__(
        self,
        sources,
        weak_model,
        embed=None,
        detector=None,
        bandit=None,
        batch_size: int = 100,
        budget: int | None = None,
        state_dir=None,
        true_densities: dict | None = None,
        progress: bool = True,
        random_state=None,
        resume: bool = False,
        reward="overlap",
        reward_params: dict | None = None,
        gold=None,
        classes=None,
    ):
        if isinstance(sources, (str, os.PathLike, Source)):
            sources = [sources]
        srcs = [s if isinstance(s, Source) else Source.from_path(s) for s in (sources or [])]
        _check(srcs, batch_size, budget, embed)
        if true_densities is None and srcs and all("regions" in s.extras for s in srcs):
            true_densities = {
                s.name: float(np.mean(np.asarray(s.extras["regions"]) == int(Region.OVERLAP))) for s in srcs
            }
        if true_densities is not None:
            missing = sorted({s.name for s in srcs} - set(true_densities))
            if missing:
                raise W2SError(f"Campaign: true_densities has no entry for source(s) {missing}")
        self.weak_model, self.embed, self.progress = weak_model, embed, progress
        self.engine = Engine(
            srcs,
            weak_model,
            embed,
            kind="campaign",
            owner="Campaign",
            detector=detector,
            bandit=bandit,
            batch_size=batch_size,
            budget=budget,
            state_dir=state_dir,
            reward=reward,
            reward_params=reward_params,
            gold=gold,
            classes=classes,
            true_densities=true_densities,
            random_state=random_state,
            resume=resume,
            min_left=2,
        )

    def __getattr__(self, name):
        # sources, bandit, detector, rounds, items, batch_size, budget, state_dir, n_drawn, done, ...
        if name == "engine":
            raise AttributeError(name)
        return getattr(self.engine, name)

    @classmethod
    def resume(cls, state_dir, sources, weak_model, embed=None, **kwargs) -> Campaign:
        """Continue the campaign saved in ``state_dir`` (0.1.0 folders included): same sources and models.

        ``batch_size``, ``budget``, ``random_state``, the reward and the detector's parameters default
        to the saved ones; the bandit (policy, counts, random stream) always comes from disk.
        """
        try:
            saved = load_state(state_dir, kind="campaign")
        except StateError as exc:
            if not os.path.exists(os.path.join(state_dir, STATE_FILE)):
                raise StateError(
                    f"Campaign.resume: no campaign state in {state_dir} (no {STATE_FILE})"
                ) from None
            raise exc
        kwargs.setdefault("batch_size", saved.get("batch_size", 100))
        kwargs.setdefault("budget", saved.get("budget"))
        if "random_state" not in kwargs and isinstance(saved.get("random_state"), int):
            kwargs["random_state"] = saved["random_state"]
        if "detector" not in kwargs and isinstance(saved.get("detector_params"), dict):
            kwargs["detector"] = dict(saved["detector_params"])
        rew = saved.get("reward") or {}
        if "reward" not in kwargs and rew.get("name"):
            if rew["name"] not in plugins.get_registry("rewards"):
                raise StateError(
                    f"{state_dir}: the saved campaign's reward {rew['name']!r} is not a registered "
                    "reward (it was given as an object); pass the same reward=... to resume"
                )
            kwargs["reward"] = rew["name"]
            kwargs.setdefault("reward_params", rew.get("params") or None)
        return cls(sources, weak_model, embed, state_dir=state_dir, resume=True, **kwargs)

    def _batch_n(self, source: Source) -> int:
        """Points to draw this round: the batch size, capped by budget and source, never leaving one point."""
        left = source.n_remaining
        n = min(self.batch_size, left)
        budget_left = self.budget_left
        if budget_left is not None:
            n = min(n, budget_left)
        if left - n == 1 and (budget_left is None or n + 1 <= budget_left):
            n += 1  # do not strand one point in the source
        return n

    def step(self) -> dict:
        """Run one round and commit it; returns the round's row.

        If the weak model, the representation, detection or the reward fails, nothing is consumed:
        the items stay undrawn and the bandit's random stream is rewound, so a retry is exact.
        """
        if self.done:
            raise RuntimeError("the campaign is done: budget spent or every source exhausted")
        e = self.engine
        name = e.select()
        source = self.sources[name]
        try:
            pos = source.candidates(self._batch_n(source))
            info = e.detect(name, source.get(pos))
            value = e.reward_of(info)
        except ValueError as exc:
            e.rollback()
            raise type(exc)(f"round {self.n_rounds + 1}, source {name!r}: {exc}") from exc
        except BaseException:
            e.rollback()
            raise
        source.mark_used(pos)
        rep = info.report
        row = e.record(
            name,
            {
                "source": name,
                "n": len(pos),
                "n_overlap": int(rep.n_overlap),
                "density": float(rep.density),
                "hard_threshold": float(rep.hard_threshold),
                "overlap_threshold": float(rep.overlap_threshold),
                "n_hard": rep.counts[Region.HARD_ONLY],
            },
            value,
            info,
        )
        plugins.call_lifecycle("on_round_end", campaign=self, round=row)
        return row

    def run(self, max_rounds: int | None = None) -> CampaignResults:
        """Run rounds until the budget is spent, every source is exhausted, or ``max_rounds`` more ran."""
        total = None
        if self.budget is not None:
            total = max(0, -(-(self.budget - self.n_drawn) // self.batch_size))
        if max_rounds is not None:
            total = max_rounds if total is None else min(total, max_rounds)
        bar = progress(
            total=total, desc=f"campaign ({self.engine.reward.name})", disable=not self.progress, unit="round"
        )
        ran = 0
        try:
            while not self.done and (max_rounds is None or ran < max_rounds):
                self.step()
                ran += 1
                bar.set_postfix_str(self._postfix(), refresh=False)
                bar.update(1)
        finally:
            bar.close()
        if (
            ran and self.progress and self.sources_exhausted_early
        ):  # the bar stopped short of its total: say why
            print(
                f"campaign: every source is exhausted after {self.n_rounds} round(s); budget not spent "
                f"({self.n_drawn} of {self.budget} points drawn)",
                file=sys.stderr,
            )
        if self.done:
            plugins.call_lifecycle("on_campaign_end", campaign=self)
        return self.results()

    @property
    def sources_exhausted_early(self) -> bool:
        """Every source ran out while part of the budget is still unspent."""
        return self.budget is not None and self.budget_left >= 2 and not self.bandit.any_active

    def _postfix(self) -> str:
        return " ".join(
            f"{r['source']}={r['density']:.2f}[{r['ci_low']:.2f},{r['ci_high']:.2f}]"
            for r in self.bandit.estimates()
            if r["drawn"]
        )

    def results(self) -> CampaignResults:
        regret = None
        if self.true_densities is not None and self.rounds:
            regret = np.cumsum([r.get("regret", 0.0) for r in self.rounds])
        return CampaignResults(
            list(self.rounds),
            {k: list(v) for k, v in self.items.items()},
            self.true_densities,
            regret,
            self.engine.reward.name,
        )

    def training_data(self, which: str = "overlap"):
        """``(X, weak_labels, sources)`` of the drawn items: ``which`` is ``"overlap"`` (detected
        overlap), ``"confident"`` (not hard-only) or ``"all"``. Weak labels are class labels (the weak
        model's ``classes_``, or ``classes=``), ``X`` each source's strong view."""
        return self.engine.training_data(which)


def _check(srcs, batch_size, budget, embed) -> None:
    """Campaign arguments checked at the door, with messages that say what to change."""
    if not srcs:
        raise W2SError("Campaign: sources is empty; give at least one Source")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 2:
        raise W2SError(
            f"Campaign: batch_size must be an integer >= 2 (detection splits each batch "
            f"in two); got {batch_size!r}"
        )
    largest = max(len(s) for s in srcs)
    if batch_size > largest:
        raise W2SError(
            f"Campaign: batch_size ({batch_size}) is larger than every source "
            f"(the largest, {max(srcs, key=len).name!r}, has {largest} items)"
        )
    small = [s.name for s in srcs if len(s) < 2]
    if small:
        raise W2SError(
            f"Campaign: source(s) {small} hold fewer than 2 items; detection needs at least 2 per batch"
        )
    if budget is not None and (
        isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < batch_size
    ):
        raise W2SError(f"Campaign: budget ({budget!r}) must be an integer >= batch_size ({batch_size})")
    dims = {s.name: s.n_features for s in srcs if s.n_features is not None}
    if len(set(dims.values())) > 1 and not isinstance(embed, Precomputed):
        raise W2SError(
            "Campaign: sources have different n_features (columns of X): "
            + ", ".join(f"{k}={v}" for k, v in dims.items())
            + "; every source must share one feature layout"
        )
