"""Built-in rewards. ``overlap``: the share of the round's items that detection calls overlap (the
original method's signal, and the default)."""

from __future__ import annotations

from w2s_plugin.hookspecs import hookimpl


class OverlapReward:
    """Share of detected-overlap items in the batch: ``n_overlap / n``."""

    name = "overlap"

    def __call__(self, info) -> float:
        n = len(info.report)
        return info.report.n_overlap / n if n else 0.0


@hookimpl
def register_rewards(register):
    register("overlap", OverlapReward)
