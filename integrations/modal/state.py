"""The ``modal`` state kind (:class:`MultiSourceLearner`) and how its 0.1.0 folders are read.

Registered through the ``register_state_kinds`` hook by :mod:`.plugin`; imports neither modAL nor
the learner, so ``w2s campaign status`` reads a learner's folder without the ``modal`` extra.
"""

from __future__ import annotations

from w2s_plugin.errors import StateError
from w2s_plugin.state import StateKind, migrated_state

LEGACY_FILE = "learner_state.json"
#: The learner's own keys at the top level of ``state.json``.
KEYS = ("strategy", "pending", "offsets", "n_queries", "scored", "taught")


def version_1(path, version) -> StateError:
    return StateError(
        f"{path} is a version {version} MultiSourceLearner state; this version reads version 2 and "
        "later (version 1 counted re-scored items as new evidence and did not record which items were "
        "scored, so it cannot be continued exactly): start a new state_dir, teaching the labels of the "
        "old run as seed labels"
    )


def _check(path, st: dict) -> None:
    if st.get("version") == 1 or "scored" not in st:
        raise version_1(path, st.get("version"))


def _migrate(old: dict, path) -> dict:
    """A 0.1.0 ``learner_state.json``: its answered queries become rounds (written to the log by
    the first commit), its detector file the detector's history."""
    if old.get("version") != 2 or "scored" not in old:
        raise version_1(path, old.get("version"))
    rounds = []
    for h in old.get("history") or []:
        if h.get("query"):
            n = int(h.get("n_fresh", 0))
            reward = (h["n_overlap_fresh"] / n) if n else None
            rounds.append({**h, "round": len(rounds) + 1, "n": n, "reward": reward, "reward_name": "overlap"})
    detector = {"legacy_file": old.get("detector_file")}
    return migrated_state("modal", old, LEGACY_FILE, rounds, detector=detector, **{k: old[k] for k in KEYS})


KIND = StateKind("MultiSourceLearner", legacy_file=LEGACY_FILE, migrate=_migrate, check=_check)
