"""The ``label_studio`` state kind (:class:`CampaignDriver`) and how its 0.1.0 folders are read.

Registered through the ``register_state_kinds`` hook by the integration's plugin module.
"""

from __future__ import annotations

from w2s_plugin.state import StateKind, migrated_state

LEGACY_FILE = "label_studio_campaign.json"


def _migrate(old: dict, path) -> dict:
    """A 0.1.0 ``label_studio_campaign.json``: its rounds (written to the log by the first commit),
    project and annotation counters."""
    rounds = [
        {**r, "reward": r["n_overlap"] / r["n"], "reward_name": "overlap"} for r in old.get("rounds") or []
    ]
    return migrated_state(
        "label_studio",
        old,
        LEGACY_FILE,
        rounds,
        project=old.get("project"),
        n_annotated_seen=old.get("n_annotated_seen", -1),
        annotation_stats=old.get("annotation_stats", {}),
    )


KIND = StateKind("Label Studio CampaignDriver", legacy_file=LEGACY_FILE, migrate=_migrate)
