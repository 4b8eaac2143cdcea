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
from dataclasses import dataclass, field

import numpy as np

from . import plugins
from .detector import Region
from .engine import (ITEM_COLUMNS, LOG_FILE, STATE_FILE, STATE_VERSION, Engine, _jsonable, _keep,  # noqa: F401
                     atomic_write_bytes, load_state)
from .errors import StateError, W2SError
from .models import Precomputed
from .progress import progress
from .sources import Source


@dataclass
class CampaignResults:
    """What a campaign produced: the per-round table, every drawn item, and regret when the truth is known.

    ``regret[i]`` is the cumulative pseudo-regret after round ``i + 1``, in overlap points: the
    sum over rounds of ``n * (best true density - true density of the source pulled)``; it
    measures the ``overlap`` objective whatever ``reward_name`` the bandit used.
    """

    rounds: list
    items: dict
    true_densities: dict | None
    regret: np.ndarray | None = field(default=None)
    reward_name: str = "overlap"

    def training_set(self, which: str = "overlap") -> dict:
        """Drawn items as columns (``source``, ``id``, ``position``, ``weak_label``, ``region``, ...):
        ``"overlap"`` keeps detected-overlap items, ``"confident"`` everything not hard-only,
        ``"all"`` every drawn item."""
        keep = _keep(self.items["region"], which)
        return {k: [v[i] for i in keep] for k, v in self.items.items()}

    @property
    def cumulative_overlap(self) -> np.ndarray:
        """Overlap points detected so far, after each round."""
        return np.cumsum([r["n_overlap"] for r in self.rounds]).astype(np.int64)

    @property
    def sources_pulled(self) -> list:
        return [r["source"] for r in self.rounds]

    def pulls(self) -> dict:
        """Rounds per source."""
        out: dict = {}
        for s in self.sources_pulled:
            out[s] = out.get(s, 0) + 1
        return out

    def best_share(self, skip: int = 0) -> float:
        """Share of rounds (after the first ``skip``) that pulled the truly best source (needs true densities)."""
        if not self.true_densities:
            raise W2SError("best_share needs true densities (simulations only)")
        best = max(self.true_densities, key=self.true_densities.get)
        pulled = self.sources_pulled[skip:]
        return float(np.mean([s == best for s in pulled])) if pulled else float("nan")

    def hindsight(self) -> dict | None:
        """The best single source in hindsight, from the records alone (no truth needed).

        ``rates``: each pulled source's observed reward per item (its total reward over its items);
        ``source``/``rate``: the best of them; ``regret``: what always pulling it would have earned at
        that rate over the campaign's items, minus what the campaign earned (negative when the
        campaign beat it). A source pulled rarely has a noisy rate, so this baseline is optimistic
        for the campaign's rivals: a fair yardstick, not the truth. ``None`` before the first round.
        """
        got, drawn = {}, {}
        for r in self.rounds:
            value = r.get("reward")
            value = (r["n_overlap"] / r["n"] if r["n"] else 0.0) if value is None else value
            got[r["source"]] = got.get(r["source"], 0.0) + value * r["n"]
            drawn[r["source"]] = drawn.get(r["source"], 0) + r["n"]
        rates = {s: got[s] / drawn[s] for s in got if drawn[s]}
        if not rates:
            return None
        best = max(rates, key=rates.get)
        total_n, total = sum(drawn.values()), sum(got.values())
        return {"source": best, "rate": rates[best], "rates": rates, "campaign_rate": total / total_n,
                "regret": rates[best] * total_n - total, "reward": self.reward_name}

    def __repr__(self) -> str:
        # Short on purpose: ``items`` holds every drawn point (hundreds of thousands of values).
        drawn = sum(r["n"] for r in self.rounds)
        found = int(sum(r["n_overlap"] for r in self.rounds))
        parts = [f"{len(self.rounds)} round(s)", f"{drawn} item(s) drawn",
                 f"{found} overlap ({found / drawn:.1%})" if drawn else "0 overlap", f"reward {self.reward_name}"]
        if self.regret is not None and len(self.regret):
            parts.append(f"regret {float(self.regret[-1]):.1f}")
        return f"<CampaignResults: {', '.join(parts)}; .table() for the rounds, .training_set() for the items>"

    def table(self) -> str:
        """One line per round; a column for the reward when it is not ``overlap`` (= density)."""
        extra = self.reward_name != "overlap"
        head = f"{'round':>5} {'source':<14} {'drawn':>6} {'overlap':>8} {'density':>8}"
        head += f" {self.reward_name[:8]:>8}" if extra else ""
        if self.regret is not None:
            head += f" {'regret':>8}"
        lines = [head]
        for i, r in enumerate(self.rounds):
            line = f"{r['round']:>5} {r['source']:<14} {r['n']:>6} {r['n_overlap']:>8} {r['density']:>8.3f}"
            if extra:
                line += f" {'-' if r.get('reward') is None else format(r['reward'], '.3f'):>8}"
            if self.regret is not None:
                line += f" {self.regret[i]:>8.1f}"
            lines.append(line)
        return "\n".join(lines)

    def summary(self) -> str:
        """Totals, the best single source in hindsight, and regret against the oracle when known."""
        drawn = sum(r["n"] for r in self.rounds)
        lines = [f"{len(self.rounds)} round(s), {drawn} item(s) drawn, reward {self.reward_name}"]
        h = self.hindsight()
        if h:
            lines.append(f"best single source in hindsight: {h['source']} ({self.reward_name} {h['rate']:.3f} per item, "
                         f"campaign {h['campaign_rate']:.3f}); regret against always pulling it: {h['regret']:.1f}")
        if self.regret is not None and len(self.regret):
            lines.append(f"regret against the oracle (true overlap densities): {float(self.regret[-1]):.1f} overlap points")
        return "\n".join(lines)


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

    def __init__(self, sources, weak_model, embed=None, detector=None, bandit=None, batch_size: int = 100,
                 budget: int | None = None, state_dir=None, true_densities: dict | None = None,
                 progress: bool = True, random_state=None, resume: bool = False, reward="overlap",
                 reward_params: dict | None = None, gold=None, classes=None):
        if isinstance(sources, (str, os.PathLike, Source)):
            sources = [sources]
        srcs = [s if isinstance(s, Source) else Source.from_path(s) for s in (sources or [])]
        _check(srcs, batch_size, budget, embed)
        if true_densities is None and srcs and all("regions" in s.extras for s in srcs):
            true_densities = {s.name: float(np.mean(np.asarray(s.extras["regions"]) == int(Region.OVERLAP)))
                              for s in srcs}
        if true_densities is not None:
            missing = sorted({s.name for s in srcs} - set(true_densities))
            if missing:
                raise W2SError(f"Campaign: true_densities has no entry for source(s) {missing}")
        self.weak_model, self.embed, self.progress = weak_model, embed, progress
        self.engine = Engine(srcs, weak_model, embed, kind="campaign", owner="Campaign", detector=detector,
                             bandit=bandit, batch_size=batch_size, budget=budget, state_dir=state_dir,
                             reward=reward, reward_params=reward_params, gold=gold, classes=classes,
                             true_densities=true_densities, random_state=random_state, resume=resume, min_left=2)

    def __getattr__(self, name):
        # sources, bandit, detector, rounds, items, batch_size, budget, state_dir, n_drawn, done, ...
        if name == "engine":
            raise AttributeError(name)
        return getattr(self.engine, name)

    @classmethod
    def resume(cls, state_dir, sources, weak_model, embed=None, **kwargs) -> "Campaign":
        """Continue the campaign saved in ``state_dir`` (0.1.0 folders included): same sources and models.

        ``batch_size``, ``budget``, ``random_state``, the reward and the detector's parameters default
        to the saved ones; the bandit (policy, counts, random stream) always comes from disk.
        """
        try:
            saved = load_state(state_dir, kind="campaign")
        except StateError as exc:
            if not os.path.exists(os.path.join(state_dir, STATE_FILE)):
                raise StateError(f"Campaign.resume: no campaign state in {state_dir} (no {STATE_FILE})") from None
            raise exc
        kwargs.setdefault("batch_size", saved.get("batch_size", 100))
        kwargs.setdefault("budget", saved.get("budget"))
        if "random_state" not in kwargs and isinstance(saved.get("random_state"), int):
            kwargs["random_state"] = saved["random_state"]
        if "detector" not in kwargs and isinstance(saved.get("detector_params"), dict):
            kwargs["detector"] = dict(saved["detector_params"])
        rew = saved.get("reward") or {}
        if "reward" not in kwargs and rew.get("name"):
            kwargs["reward"] = rew["name"]
            kwargs.setdefault("reward_params", rew.get("params") or None)
        return cls(sources, weak_model, embed, state_dir=state_dir, resume=True, **kwargs)

    def _batch_n(self, source: Source) -> int:
        """Points to draw this round: the batch size, capped by budget and source, never leaving a lone point."""
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
        row = e.record(name, {"source": name, "n": len(pos), "n_overlap": int(rep.n_overlap),
                              "density": float(rep.density), "hard_threshold": float(rep.hard_threshold),
                              "overlap_threshold": float(rep.overlap_threshold),
                              "n_hard": rep.counts[Region.HARD_ONLY]}, value, info)
        plugins.call_lifecycle("on_round_end", campaign=self, round=row)
        return row

    def run(self, max_rounds: int | None = None) -> "CampaignResults":
        """Run rounds until the budget is spent, every source is exhausted, or ``max_rounds`` more ran."""
        total = None
        if self.budget is not None:
            total = max(0, -(-(self.budget - self.n_drawn) // self.batch_size))
        if max_rounds is not None:
            total = max_rounds if total is None else min(total, max_rounds)
        bar = progress(total=total, desc=f"campaign ({self.engine.reward.name})", disable=not self.progress,
                       unit="round")
        ran = 0
        try:
            while not self.done and (max_rounds is None or ran < max_rounds):
                self.step()
                ran += 1
                bar.set_postfix_str(self._postfix(), refresh=False)
                bar.update(1)
        finally:
            bar.close()
        if ran and self.progress and self.sources_exhausted_early:  # the bar stopped short of its total: say why
            print(f"campaign: every source is exhausted after {self.n_rounds} round(s); budget not spent "
                  f"({self.n_drawn} of {self.budget} points drawn)", file=sys.stderr)
        if self.done:
            plugins.call_lifecycle("on_campaign_end", campaign=self)
        return self.results()

    @property
    def sources_exhausted_early(self) -> bool:
        """Every source ran out while part of the budget is still unspent."""
        return self.budget is not None and self.budget_left >= 2 and not self.bandit.any_active

    def _postfix(self) -> str:
        return " ".join(f"{r['source']}={r['density']:.2f}[{r['ci_low']:.2f},{r['ci_high']:.2f}]"
                        for r in self.bandit.estimates() if r["drawn"])

    def results(self) -> CampaignResults:
        regret = None
        if self.true_densities is not None and self.rounds:
            regret = np.cumsum([r.get("regret", 0.0) for r in self.rounds])
        return CampaignResults(list(self.rounds), {k: list(v) for k, v in self.items.items()},
                               self.true_densities, regret, self.engine.reward.name)

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
        raise W2SError(f"Campaign: batch_size must be an integer >= 2 (detection splits each batch "
                       f"in two); got {batch_size!r}")
    largest = max(len(s) for s in srcs)
    if batch_size > largest:
        raise W2SError(f"Campaign: batch_size ({batch_size}) is larger than every source "
                       f"(the largest, {max(srcs, key=len).name!r}, has {largest} items)")
    small = [s.name for s in srcs if len(s) < 2]
    if small:
        raise W2SError(f"Campaign: source(s) {small} hold fewer than 2 items; detection needs at least 2 per batch")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, np.integer))
                               or budget < batch_size):
        raise W2SError(f"Campaign: budget ({budget!r}) must be an integer >= batch_size ({batch_size})")
    dims = {s.name: s.n_features for s in srcs if s.n_features is not None}
    if len(set(dims.values())) > 1 and not isinstance(embed, Precomputed):
        raise W2SError("Campaign: sources have different n_features (columns of X): "
                       + ", ".join(f"{k}={v}" for k, v in dims.items())
                       + "; every source must share one feature layout")
