"""Built-in state kind: ``campaign`` (:class:`~w2s_plugin.Campaign`), and how its 0.1.0 folders are read.

Other front-ends register their kinds from their own packages (the modAL learner, the Label Studio
driver); see :class:`w2s_plugin.state.StateKind`.
"""

from __future__ import annotations

from w2s_plugin.hookspecs import hookimpl
from w2s_plugin.state import STATE_FILE, StateKind


def _campaign_v2(old: dict, path) -> dict | None:
    """A 0.1.0 Campaign's ``state.json`` (version 2): the same layout and log, overlap reward."""
    if old.get("version") != 2 or "kind" in old:
        return None
    return dict(
        old,
        kind="campaign",
        reward={"name": "overlap"},
        index_labels_until=old.get("n_rounds", 0),
        migrated_from=f"{STATE_FILE}, state version 2",
    )


@hookimpl
def register_state_kinds(register):
    register("campaign", StateKind("Campaign", legacy_file=STATE_FILE, migrate=_campaign_v2))
