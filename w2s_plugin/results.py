"""What a campaign produced: its rounds and items, with regret against the oracle (simulations) and
the best single source in hindsight (any campaign, from the records alone)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engine import _keep
from .errors import W2SError


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
        """Share of rounds (after the first ``skip``) that pulled the truly best source (simulations)."""
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
        return {
            "source": best,
            "rate": rates[best],
            "rates": rates,
            "campaign_rate": total / total_n,
            "regret": rates[best] * total_n - total,
            "reward": self.reward_name,
        }

    def __repr__(self) -> str:
        # Short on purpose: ``items`` holds every drawn point (hundreds of thousands of values).
        drawn = sum(r["n"] for r in self.rounds)
        found = int(sum(r["n_overlap"] for r in self.rounds))
        parts = [
            f"{len(self.rounds)} round(s)",
            f"{drawn} item(s) drawn",
            f"{found} overlap ({found / drawn:.1%})" if drawn else "0 overlap",
            f"reward {self.reward_name}",
        ]
        if self.regret is not None and len(self.regret):
            parts.append(f"regret {float(self.regret[-1]):.1f}")
        return (
            f"<CampaignResults: {', '.join(parts)}; .table() for the rounds, .training_set() for the items>"
        )

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
            lines.append(
                f"best single source in hindsight: {h['source']} ({self.reward_name} {h['rate']:.3f} per "
                f"item, campaign {h['campaign_rate']:.3f}); "
                f"regret against always pulling it: {h['regret']:.1f}"
            )
        if self.regret is not None and len(self.regret):
            lines.append(
                "regret against the oracle (true overlap densities): "
                f"{float(self.regret[-1]):.1f} overlap points"
            )
        return "\n".join(lines)
