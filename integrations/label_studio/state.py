"""The ``label_studio`` state kind (:class:`CampaignDriver`) and how its 0.1.0 folders are read.

Registered through the ``register_state_kinds`` hook by the integration's plugin module.
"""

from __future__ import annotations

from w2s_plugin.state import LOG_FILE, STATE_VERSION, StateKind, empty_items

LEGACY_FILE = "label_studio_campaign.json"


def _migrate(old: dict, path) -> dict:
    """A 0.1.0 ``label_studio_campaign.json``: its rounds (written to the log by the first commit),
    project and annotation counters."""
    rounds = [
        {**r, "reward": r["n_overlap"] / r["n"], "reward_name": "overlap"} for r in old.get("rounds") or []
    ]
    return {
        "version": STATE_VERSION,
        "kind": "label_studio",
        "batch_size": old.get("batch_size"),
        "budget": None,
        "random_state": None,
        "sources": old.get("sources"),
        "bandit": old.get("bandit"),
        "reward": {"name": "overlap"},
        "log": {"file": LOG_FILE, "bytes": 0},
        "detector": {},
        "migrated_from": LEGACY_FILE,
        "project": old.get("project"),
        "n_annotated_seen": old.get("n_annotated_seen", -1),
        "annotation_stats": old.get("annotation_stats", {}),
        "rounds": rounds,
        "items": empty_items(),
    }


KIND = StateKind("Label Studio CampaignDriver", legacy_file=LEGACY_FILE, migrate=_migrate)
