"""The one multi-source engine behind every front-end (``Campaign``, the modAL ``MultiSourceLearner``,
the Label Studio ``CampaignDriver``): sources, bandit, reward, state on disk, resume rules and
round records. A front-end keeps only what differs: how it scores a batch and what it does with it.

State on disk (version 3, every front-end; docs/campaigns.md):

* ``rounds.jsonl`` - an append-only log, one line per round (its row and its drawn items);
* ``detector-*.npz`` - the detector's cross-round history: a snapshot plus one small delta per
  commit (only the reservoir slots the last fit wrote), compacted into a new snapshot now and then;
* ``state.json`` - the small commit record, replaced atomically (temp file, fsync, rename,
  directory fsync) *after* the log line and the delta are on disk: ``kind`` (which front-end),
  sources' used-masks, the bandit (random stream included), the reward and its state, the log's
  committed length and checksum, the detector files in use, and the front-end's own keys.

On resume, log bytes past the committed length (a round that crashed before its commit) are cut
off and files the commit does not name are ignored. Folders written by 0.1.0 (a ``Campaign``'s
state version 2, a ``MultiSourceLearner``'s ``learner_state.json``, a Label Studio driver's
``label_studio_campaign.json``) are read too and rewritten as version 3 by their first commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

from . import plugins
from .bandit import SourceBandit
from .detector import OverlapDetector, OverlapReport, Region
from .errors import SettingError, StateError, W2SError
from .models import Precomputed
from .progress import progress
from .rewards import RoundInfo, check_value, make_reward, reward_warning
from .settings import DEFAULT_BATCH_SIZE, RunSettings
from .sources import Source
from .state import (  # noqa: F401  (re-exported: front-ends and 0.1.0 users import them from here)
    FORCE_NEW,
    ITEM_COLUMNS,
    LOG_FILE,
    STATE_FILE,
    STATE_VERSION,
    SavedState,
    StateLock,
    atomic_write_bytes,
    check_orphan_log,
    clean_temp_files,
    crc_update,
    damaged,
    jsonable,
    load_state,
    log_line,
    move_aside,
    read_state,
)
from .state import display as state_display
from .validation import check_classes_agree

#: Keys of ``state.json`` the engine writes; the rest belong to the front-end (``Engine.extra``).
_COMMON_KEYS = {
    "version",
    "kind",
    "batch_size",
    "budget",
    "random_state",
    "detector_params",
    "n_rounds",
    "n_drawn",
    "n_overlap",
    "log",
    "sources",
    "bandit",
    "true_densities",
    "detector",
    "reward",
    "index_labels_until",
    "migrated_from",
    "legacy_file",
}


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def resume_settings(state_dir, kind: str, kwargs: dict) -> dict:
    """``kwargs`` for resuming the run saved in ``state_dir``: ``batch_size``, ``budget``,
    ``random_state``, the detector's parameters and a registered reward default to the saved ones
    (the bandit, with its random stream, always comes from disk). The folder is locked and read
    here, once: the state read travels on as ``_saved`` to the :class:`Engine`."""
    owner = state_display(kind)
    if not os.path.isdir(state_dir):
        raise _no_state(owner, kind, state_dir)
    lock = StateLock(state_dir, owner)
    try:
        saved = read_state(state_dir, kind)
        if saved is None:
            raise _no_state(owner, kind, state_dir)
        st = saved.state
        kwargs = dict(kwargs)
        if kwargs.get("batch_size") is None:
            kwargs["batch_size"] = st.get("batch_size") or DEFAULT_BATCH_SIZE
        kwargs.setdefault("budget", st.get("budget"))
        if "random_state" not in kwargs and isinstance(st.get("random_state"), int):
            kwargs["random_state"] = st["random_state"]
        if "detector" not in kwargs and isinstance(st.get("detector_params"), dict):
            kwargs["detector"] = dict(st["detector_params"])
        rew = st.get("reward") or {}
        if "reward" not in kwargs and rew.get("name"):
            if rew["name"] not in plugins.get_registry("rewards"):
                raise StateError(
                    f"{state_dir}: the saved campaign's reward {rew['name']!r} is not a registered "
                    "reward (it was given as an object); pass the same reward=... to resume"
                )
            kwargs["reward"] = rew["name"]
            kwargs.setdefault("reward_params", rew.get("params") or None)
    except BaseException:
        lock.release()
        raise
    saved.lock = lock
    kwargs["_saved"] = saved
    return kwargs


def _no_state(owner: str, kind: str, state_dir) -> StateError:
    what = "campaign" if kind == "campaign" else owner
    return StateError(f"{owner}.resume: no {what} state in {state_dir} (no {STATE_FILE})")


def check_batch_size(batch_size, owner: str, minimum: int = 1) -> None:
    RunSettings(batch_size=batch_size).check_batch_size(owner, minimum)


def check_batching(srcs, settings: RunSettings, embed, owner: str, minimum: int = 2) -> None:
    """Batch size, budget and sources checked against each other at the door (a campaign draws
    whole batches of at least ``minimum`` items from one feature layout)."""
    settings.check_batch_size(owner, minimum)
    batch_size = settings.batch_size
    largest = max(len(s) for s in srcs)
    if batch_size > largest:
        raise SettingError(
            f"{owner}: batch_size ({batch_size}) is larger than every source "
            f"(the largest, {max(srcs, key=len).name!r}, has {largest} items)",
            "batch_size",
        )
    small = [s.name for s in srcs if len(s) < minimum]
    if small:  # exhausted from the start (the Engine never draws from them), and said
        import warnings

        from .detector import W2SWarning

        warnings.warn(
            f"{owner}: source(s) {small} hold fewer than {minimum} items (detection needs at least "
            f"{minimum} per batch): treated as exhausted, the campaign draws from the others",
            W2SWarning,
            stacklevel=3,
        )
    settings.check_budget(owner)
    dims = {s.name: s.n_features for s in srcs if s.n_features is not None}
    if len(set(dims.values())) > 1 and not isinstance(embed, Precomputed):
        raise W2SError(
            f"{owner}: sources have different n_features (columns of X): "
            + ", ".join(f"{k}={v}" for k, v in dims.items())
            + "; every source must share one feature layout"
        )


def true_densities_of(srcs, given: dict | None, owner: str) -> dict | None:
    """``given``, else each source's share of ``extras["regions"] == OVERLAP`` when all have one
    (simulations); every source must have an entry."""
    if given is None and srcs and all("regions" in s.extras for s in srcs):
        overlap = int(Region.OVERLAP)
        given = {s.name: float(np.mean(np.asarray(s.extras["regions"]) == overlap)) for s in srcs}
    if given is not None:
        missing = sorted({s.name for s in srcs} - set(given))
        if missing:
            raise W2SError(f"{owner}: true_densities has no entry for source(s) {missing}")
    return given


def prepare_sources(sources, owner: str) -> list:
    if isinstance(sources, dict):
        sources = list(sources.values())
    if isinstance(sources, (str, os.PathLike, Source)):
        sources = [sources]
    srcs = [s if isinstance(s, Source) else Source.from_path(s) for s in (sources or [])]
    if not srcs:
        raise W2SError(f"{owner}: sources is empty; give at least one Source")
    names = [s.name for s in srcs]
    if len(set(names)) != len(names):
        raise W2SError(f"{owner}: source names must be unique; got {names}")
    return srcs


def build_detector(detector, random_state, owner: str):
    """An :class:`OverlapDetector` from ``None`` (accumulating across rounds) or a dict of its
    parameters; a detector object is used as it is."""
    if detector is None:
        detector = OverlapDetector(accumulate=True, random_state=random_state)
    elif isinstance(detector, dict):
        detector = OverlapDetector(**{"accumulate": True, "random_state": random_state, **detector})
    if not hasattr(detector, "fit"):
        raise W2SError(
            f"{owner}: detector must be an OverlapDetector or a dict of its parameters; "
            f"got {type(detector).__name__}"
        )
    return detector


def build_bandit(bandit, names, random_state, owner: str) -> SourceBandit:
    if bandit is None or isinstance(bandit, str):
        bandit = SourceBandit(names, policy=bandit or "ucb", random_state=random_state)
    elif isinstance(bandit, dict):
        bandit = SourceBandit(names, **{"random_state": random_state, **bandit})
    if not isinstance(bandit, SourceBandit):
        raise W2SError(
            f"{owner}: bandit must be a SourceBandit, a policy name or a dict; got {type(bandit).__name__}"
        )
    if list(bandit.names) != list(names):
        raise W2SError(f"{owner}: the bandit's sources {bandit.names} differ from the {owner}'s {names}")
    return bandit


#: What every front-end exposes of its engine as its own attributes (read and written through).
FRONT_END_ATTRIBUTES = (
    "sources",
    "bandit",
    "detector",
    "reward",
    "rounds",
    "items",
    "settings",
    "batch_size",
    "budget",
    "state_dir",
    "random_state",
    "true_densities",
    "gold",
    "classes_",
    "resumed",
    "migrated_from",
    "n_rounds",
    "n_drawn",
    "budget_left",
    "done",
    "sources_exhausted_early",
    "results",
    "training_set",
    "training_data",
    "pulls",
    "summary",
    "postfix",
    "warnings",
    "source",
)


def engine_attributes(cls):
    """Class decorator for a front-end holding ``self.engine``: :data:`FRONT_END_ATTRIBUTES` become
    properties reading (and writing) the engine's, except those the class defines itself."""

    def make(name):
        def get(self):
            return getattr(self.engine, name)

        def set_(self, value):
            setattr(self.engine, name, value)

        return property(get, set_, doc=f"The engine's ``{name}`` (:class:`Engine`).")

    for name in FRONT_END_ATTRIBUTES:
        if not any(name in k.__dict__ for k in cls.__mro__):
            setattr(cls, name, make(name))
    return cls


def _bandit_setting(bandit) -> dict | None:
    """The policy a caller asked for (``None``: none given, the saved one is used on resume)."""
    if bandit is None:
        return None
    if isinstance(bandit, str):
        return {"policy": bandit}
    if isinstance(bandit, dict):
        return {"policy": bandit.get("policy", "ucb"), "policy_params": bandit.get("policy_params")}
    return {"policy": bandit.policy, "policy_params": bandit.policy_params}


def model_classes(model):
    """``classes_`` of a model, of the estimator inside a modAL learner, or None."""
    for m in (model, getattr(model, "estimator", None)):
        c = getattr(m, "classes_", None)
        if c is not None:
            return np.asarray(c)
    return None


@dataclasses.dataclass
class RoundResult:
    """What :meth:`Engine.evaluate` makes of a drawn batch: the round's :class:`RoundInfo` (whole
    batch), the reward ``value`` per counted item (``None`` when none counts), the row's common
    columns and the counted items' columns (``None`` when none counts)."""

    info: RoundInfo
    value: float | None
    row: dict
    items: dict | None
    #: the hybrid plan of the round (a :class:`~w2s_plugin.hybrid.HumanRequest`), in a hybrid run
    request: object = None


class Engine:
    """Sources, bandit, reward, detector and state of one multi-source run (see the module docstring).

    What a reward's ``bind(engine)`` may use: ``sources``, ``weak_proba(X)``, ``embed(X)``,
    ``classes_``, ``gold`` (``None`` or ``(X_gold, y_gold)``; the Label Studio driver refreshes it
    as annotations arrive), ``random_state``, ``rounds`` and ``items``.
    """

    #: Compact the detector deltas into a snapshot once they hold this many rows in total
    #: (times the history size), so resuming never replays more than a bounded log.
    SNAPSHOT_FACTOR = 1.0

    def __init__(
        self,
        sources,
        weak_model=None,
        embed=None,
        *,
        kind: str = "campaign",
        owner: str = "Campaign",
        settings: RunSettings | None = None,
        resume: bool = False,
        min_left: int = 1,
        force_new: bool = False,
        hybrid=None,
        _saved: SavedState | None = None,
        **kwargs,
    ):
        """``settings`` (a :class:`~w2s_plugin.settings.RunSettings`), or its fields as keywords."""
        st = settings if settings is not None else RunSettings.of(**kwargs)
        if settings is not None and kwargs:
            raise W2SError(f"{owner}: give settings= or setting keywords, not both ({sorted(kwargs)})")
        detector, bandit, random_state = st.detector, st.bandit, st.random_state
        reward, reward_params = st.reward, st.reward_params
        srcs = prepare_sources(sources, owner)
        names = [s.name for s in srcs]
        self.kind, self.owner, self.min_left = kind, owner, int(min_left)
        self.sources = {s.name: s for s in srcs}
        self.weak_model, self.embed_model = weak_model, embed
        self.detector = build_detector(detector, random_state, owner)
        self.bandit = build_bandit(bandit, names, random_state, owner)
        self._given_bandit = _bandit_setting(bandit)
        self.reward = make_reward(reward, **dict(reward_params or {}))
        self.reward_params = dict(reward_params or {})
        self.bandit.reward_name = self.reward.name
        if st.batch_size is not None:
            st.check_batch_size(owner)
        self.batch_size = None if st.batch_size is None else int(st.batch_size)  # None: saved or default
        self.budget = None if st.budget is None else int(st.budget)
        self.state_dir = None if st.state_dir is None else Path(st.state_dir)
        self.random_state = random_state
        self.gold = st.gold
        self._classes = None if st.classes is None else np.asarray(st.classes)
        self._gold_checked = False
        self.check_gold_classes()
        self.true_densities = st.true_densities
        self.rounds: list[dict] = []
        self.items: dict[str, list] = {k: [] for k in ITEM_COLUMNS}
        self.extra: dict = {}  # the front-end's own keys, saved at the top level of state.json
        self.resumed, self.migrated_from = False, None
        self._log_bytes, self._log_crc, self._index_labels_until = 0, 0, 0
        self._det_snapshot, self._det_deltas, self._det_delta_rows, self._det_seq = None, [], 0, 0
        self._legacy: list[str] = []
        self._pending_log: list = []  # rounds migrated from a 0.1.0 folder, written by the first commit
        self._rng_checkpoint = None
        for s in srcs:
            if s.n_remaining < self.min_left:
                self.bandit.exhaust(s.name)
        saved = self._start(_saved, resume, force_new)
        self.settings = dataclasses.replace(st, batch_size=self.batch_size)
        self.hybrid = None  # a HybridLabeling (w2s_plugin.hybrid) when people label part of the draws
        if hybrid is not None:
            try:
                hybrid.bind(self)
            except BaseException:
                self.close()
                raise
        if hasattr(self.reward, "bind"):
            self.reward.bind(self)
        if (
            saved
            and (saved.get("reward") or {}).get("state") is not None
            and hasattr(self.reward, "load_state")
        ):
            self.reward.load_state(saved["reward"]["state"])
        if self.state_dir is not None and saved is None:
            # a new folder is committed before its first round, so a round log never stands alone
            # (a log without state.json is then a lost commit record, never a crash to clean up)
            self.save()

    def _start(self, saved: SavedState | None, resume: bool, force_new: bool) -> dict | None:
        """Open the state folder (if any; the lock is given back if that fails) and settle the
        batch size (given, saved, or the default). Returns the saved state dict, if resumed."""
        self._lock: StateLock | None = None
        self.moved_to: Path | None = None  # where force_new moved the old folder
        if self.state_dir is not None:
            try:
                saved = self._open_state(saved, resume, force_new)
            except BaseException:
                if self._lock is not None:
                    self._lock.release()
                raise
        elif resume:
            raise StateError(f"{self.owner}.resume needs a state_dir")
        if self.batch_size is None:
            self.batch_size = DEFAULT_BATCH_SIZE
        return saved.state if saved is not None else None

    def close(self) -> None:
        """Give up the state folder's lock (another process may then continue the run); the
        process exiting does the same. Further commits by this engine fail."""
        if self._lock is not None:
            self._lock.release()

    def source(self, name: str) -> Source:
        """The source called ``name`` (a user's name: a W2SError listing the sources if unknown)."""
        if name not in self.sources:
            raise W2SError(f"unknown source {name!r}; sources are {', '.join(self.sources)}")
        return self.sources[name]

    # -- models ----------------------------------------------------------------------------------
    def weak_proba(self, X) -> np.ndarray:
        """The weak model's class probabilities for items in the sources' weak view."""
        return np.asarray(plugins.weak_proba(self.weak_model, X))

    def embed(self, X) -> np.ndarray:
        """The strong representation of items in the sources' strong view."""
        return plugins.embed(self.embed_model, X)

    @property
    def classes_(self) -> np.ndarray | None:
        if self._classes is not None:
            return self._classes
        return model_classes(self.weak_model)

    def check_gold_classes(self, k: int | None = None) -> None:
        """Gold labels must name the weak labels' classes (``classes_``, else the column indices
        ``0..k-1``): a one-line DataError at the door otherwise, never a reward that ties forever.
        Checked when the campaign is built, and once more when the first batch shows ``k``."""
        if self.gold is None or self._gold_checked:
            return
        y = np.asarray(self.gold[1]) if isinstance(self.gold, (tuple, list)) and len(self.gold) == 2 else None
        if y is None:
            return  # the reward that reads gold says what shape it wants
        classes = self.classes_
        if classes is None and k is None and y.dtype.kind in "iub":
            return  # integer labels: checked against the columns once a batch shows how many there are
        shown = classes if classes is not None else np.arange(k if k is not None else 0)
        what = (
            "the weak model's classes"
            if classes is not None
            else "the weak labels, column indices 0..k-1 (the weak model has no classes_)"
        )
        check_classes_agree(
            y,
            shown,
            owner=self.owner,
            classes_name=what,
            fix="pass classes=[...] naming the weak model's probability columns in order"
            + (" (e.g. classes=weak.classes_)" if classes is None else ""),
        )
        self._gold_checked = classes is not None or k is not None

    def labels_of(self, proba) -> np.ndarray:
        """Weak labels as class labels: ``classes_[argmax]`` (``arange(k)`` when no classes are known)."""
        P = np.asarray(proba, dtype=np.float64)
        idx = (P > 0.5).astype(int) if P.ndim == 1 else P.argmax(axis=1)
        classes = self.classes_
        k = 2 if P.ndim == 1 else P.shape[1]
        self.check_gold_classes(k)
        if classes is None:
            return idx
        if len(classes) != k:
            raise W2SError(
                f"{self.owner}: {len(classes)} classes {list(classes)[:5]} but the weak model gives "
                f"{k} probability columns; pass classes= in the order of its columns"
            )
        return np.asarray(classes)[idx]

    def strong_of(self, batch) -> np.ndarray:
        """The strong representation of a drawn batch (stored with it, or computed from its strong view)."""
        em = self.embed_model
        return em.from_batch(batch) if isinstance(em, Precomputed) else self.embed(batch.view("strong"))

    def detect(self, name: str, batch, round_no: int | None = None, proba=None, report=None) -> RoundInfo:
        """Weak probabilities (``proba`` if given, else the weak model's), the strong representation
        and overlap detection (``report`` if the caller's own detector made one) for a drawn batch.

        The detector is fitted on the batch (an accumulating detector merges it into its history);
        a single item is placed with the thresholds it already has."""
        if proba is None:
            wm = self.weak_model
            proba = (
                wm.from_batch(batch) if isinstance(wm, Precomputed) else self.weak_proba(batch.view("weak"))
            )
        proba = np.asarray(proba)
        if report is not None and self.reward.name == "overlap" and self.hybrid is None:
            emb = np.empty((len(batch), 0))  # the overlap reward reads the report only (a hybrid
            # run's strong model and diverse audit pick need the representation)
        else:
            emb = self.strong_of(batch)
        if report is None:
            if len(batch) < 2 and hasattr(self.detector, "hard_threshold_"):
                report = self.detector.predict_report(proba, emb)
            else:
                report = self.detector.fit(proba, emb).report_
        return RoundInfo(
            round_no or self.n_rounds + 1, name, batch, proba, emb, report, self.labels_of(proba)
        )

    def evaluate(
        self, name: str, batch, proba=None, *, report=None, keep=None, plan=None, ask: bool = True
    ) -> RoundResult:
        """The round pipeline, the same for every front-end: a drawn batch -> the round's record.

        1. weak probabilities: ``proba`` when the front-end has them (a modAL learner, the Label
           Studio backend's model), else the engine's weak model on the batch's weak view;
        2. the strong representation and overlap detection (:meth:`detect`; ``report`` when the
           front-end's own detector already placed the batch);
        3. the reward of the items that count (``keep``: a boolean mask, e.g. the first-time items
           of a modAL window; ``None``: all) and their item columns;
        4. the row's common columns: ``source, n`` (items that count), ``n_overlap, density,
           hard_threshold, overlap_threshold, n_hard`` (of the whole batch).

        Nothing is consumed or committed: the front-end marks the items used and passes
        ``result.row`` (plus its own columns), ``result.value`` and ``result.items`` to
        :meth:`record`. Extensions (hybrid human + weak rounds) hook in here, on the
        :class:`RoundResult`, so every front-end gets them.

        5. in a hybrid run (:mod:`w2s_plugin.hybrid`): the round's human plan (``plan``: keywords of
           :meth:`~w2s_plugin.hybrid.HybridLabeling.plan`) over the counted items as
           ``result.request``; with ``ask`` people answer it now (on disk before anything is
           consumed) and the row gets the human/weak split. A front-end whose people answer later
           (``ask=False``, the modAL learner) applies the answers itself before :meth:`record`.
        """
        info = self.detect(name, batch, proba=proba, report=report)
        rep = info.report
        counted = info if keep is None else subset_info(info, keep)
        n = counted.n
        value = self.reward_of(counted) if n else None
        items = self.items_of(counted) if n else None
        row = {"source": name, "n": n, "n_overlap": int(rep.n_overlap), "density": float(rep.density)}
        row.update(hard_threshold=float(rep.hard_threshold), overlap_threshold=float(rep.overlap_threshold))
        row["n_hard"] = int(rep.counts[Region.HARD_ONLY])
        request, hy = None, self.hybrid
        if hy is not None:
            request = hy.plan(counted, **dict(plan or {}))
            if ask:
                hy.ask(request)
                row.update(hy.apply(request))
        return RoundResult(info, value, row, items, request)

    # -- one round -------------------------------------------------------------------------------
    def select(self) -> str:
        """The bandit's pick; :meth:`rollback` undoes its random draw if the round then fails."""
        self._rng_checkpoint = self.bandit.rng_state()
        return self.bandit.select()

    def rollback(self) -> None:
        if self._rng_checkpoint is not None:
            self.bandit.set_rng_state(self._rng_checkpoint)

    @contextlib.contextmanager
    def attempt(self, name: str):
        """The part of a round that may fail before anything is consumed: on an error the bandit's
        pick is undone (a retry is the same round) and a ``ValueError`` names the round and source."""
        try:
            yield
        except ValueError as exc:
            self.rollback()
            try:
                new = type(exc)(f"round {self.n_rounds + 1}, source {name!r}: {exc}")
            except Exception:  # an error class with its own constructor: keep it as it is
                raise exc from None
            raise new from exc
        except BaseException:
            self.rollback()
            raise

    def next_batch_size(self, source: Source) -> int:
        """Points to draw from ``source`` this round: the batch size, capped by the budget and the
        source, never leaving fewer than ``min_left`` points behind when one more fits the budget."""
        left = source.n_remaining
        n = min(self.batch_size, left)
        budget_left = self.budget_left
        if budget_left is not None:
            n = min(n, budget_left)
        if 0 < left - n < self.min_left and (budget_left is None or left <= budget_left):
            n = left  # do not strand a point in the source
        return n

    def round_seed(self, i: int) -> int | None:
        """A seed for step ``i`` derived from an integer ``random_state`` (``None`` without one)."""
        rs = self.random_state
        if rs is None or not isinstance(rs, (int, np.integer)):
            return None
        return int(np.random.SeedSequence([int(rs), i]).generate_state(1)[0])

    def reward_of(self, info: RoundInfo) -> float:
        return check_value(self.reward, self.reward(info), info.round)

    def record(
        self,
        name: str,
        row: dict,
        value: float | None,
        info: RoundInfo | None = None,
        items: dict | None = None,
    ) -> dict:
        """Reward the source (``value`` per item over ``row["n"]`` items; ``n == 0``: a pull without
        evidence), append the round's row and items, and commit. Returns the row."""
        n = int(row["n"])
        if n:
            total = value * n
            snapped = round(total)
            self.bandit.update(name, n, snapped if abs(total - snapped) < 1e-9 else total)
        else:
            self.bandit.count_pull(name)
        if self.sources[name].n_remaining < self.min_left:
            self.bandit.exhaust(name)
        row = {"round": self.n_rounds + 1, **row, "reward": value, "reward_name": self.reward.name}
        if self.true_densities is not None and n:
            row["regret"] = float(n * (max(self.true_densities.values()) - self.true_densities[name]))
        if info is not None:
            items = self.items_of(info)
        new_items = {k: [] for k in ITEM_COLUMNS} if items is None else dict(items)
        new_items["round"] = [row["round"]] * len(new_items["source"])
        self.rounds.append(row)
        for k in ITEM_COLUMNS:
            self.items[k] += new_items[k]
        self.save(row, new_items)
        return row

    @staticmethod
    def items_of(info: RoundInfo) -> dict:
        """The item columns of a round (JSON-able)."""
        b, rep = info.batch, info.report
        n = len(b)
        return {
            "round": [info.round] * n,
            "source": [info.source] * n,
            "id": [_plain(v) for v in b.ids],
            "position": np.asarray(b.positions).tolist(),
            "region": rep.regions.astype(int).tolist(),
            "weak_label": [_plain(v) for v in info.weak_labels],
            "confidence": np.asarray(rep.confidence).tolist(),
            "overlap_score": [None if np.isnan(v) else float(v) for v in rep.overlap_score],
        }

    # -- accounting ------------------------------------------------------------------------------
    @property
    def n_rounds(self) -> int:
        return len(self.rounds)

    @property
    def n_drawn(self) -> int:
        return int(sum(r["n"] for r in self.rounds))

    @property
    def budget_left(self) -> int | None:
        return None if self.budget is None else self.budget - self.n_drawn

    @property
    def done(self) -> bool:
        if self.hybrid is not None and self.hybrid.stopped:
            return True
        return (self.budget is not None and self.budget_left < self.min_left) or not self.bandit.active_.any()

    def training_set(self, which: str = "overlap") -> dict:
        """Drawn items as columns, filtered: ``overlap`` (detected overlap), ``confident`` (everything
        not hard-only) or ``all``."""
        keep = _keep(self.items["region"], which)
        return {k: [v[i] for i in keep] for k, v in self.items.items()}

    def training_data(self, which: str = "overlap", view: str = "strong"):
        """``(X, weak_labels, sources)`` of the drawn items in ``which`` (see :meth:`training_set`):
        ``X`` from each source's ``view``, weak labels as class labels."""
        ts = self.training_set(which)
        Xs, ys, srcs = [], [], []
        for name, src in self.sources.items():
            sel = [i for i, s in enumerate(ts["source"]) if s == name]
            if not sel:
                continue
            X = src.get([ts["position"][i] for i in sel]).view(view)
            if X is None:
                raise W2SError(
                    f"training_data: source {name!r} has no {view!r} view or features X; "
                    "use training_set() and the records instead"
                )
            Xs.append(X)
            ys.append(np.asarray([ts["weak_label"][i] for i in sel]))
            srcs += [name] * len(sel)
        if not Xs:
            return np.empty((0, 0)), np.empty(0, dtype=int), []
        X = np.vstack(Xs) if all(isinstance(x, np.ndarray) for x in Xs) else [r for x in Xs for r in x]
        return X, np.concatenate(ys), srcs

    # -- running and reporting -------------------------------------------------------------------
    def run_rounds(self, step, max_rounds: int | None = None, show: bool = True, desc: str = "campaign"):
        """Call ``step()`` until :attr:`done` or ``max_rounds`` more ran, with a progress bar showing
        the current estimates; returns the rows ``step`` returned."""
        total = None
        if self.budget is not None:
            total = max(0, -(-(self.budget - self.n_drawn) // self.batch_size))
        if max_rounds is not None:
            total = max_rounds if total is None else min(total, max_rounds)
        bar = progress(total=total, desc=f"{desc} ({self.reward.name})", disable=not show, unit="round")
        rows = []
        try:
            while not self.done and (max_rounds is None or len(rows) < max_rounds):
                rows.append(step())
                bar.set_postfix_str(self.postfix(), refresh=False)
                bar.update(1)
        finally:
            bar.close()
        if rows and show:
            for w in self.warnings():
                print(f"{desc}: WARNING: {w}", file=sys.stderr)
        if rows and show and self.sources_exhausted_early:  # the bar stopped short of its total: say why
            print(
                f"{desc}: every source is exhausted after {self.n_rounds} round(s); budget not spent "
                f"({self.n_drawn} of {self.budget} points drawn)",
                file=sys.stderr,
            )
        return rows

    @property
    def sources_exhausted_early(self) -> bool:
        """Every source ran out while part of the budget is still unspent."""
        return self.budget is not None and self.budget_left >= self.min_left and not self.bandit.any_active

    def postfix(self) -> str:
        """The current estimates, one ``source=mean[low,high]`` per source drawn from (in a hybrid
        campaign also the human/weak split, audit estimates and the stopping signal), and a warning
        when the reward has not varied (see :meth:`warnings`)."""
        text = " ".join(
            f"{r['source']}={r['density']:.2f}[{r['ci_low']:.2f},{r['ci_high']:.2f}]"
            for r in self.bandit.estimates()
            if r["drawn"]
        )
        if self.hybrid is not None:
            text = f"{text} {self.hybrid.postfix()}"
        if self.warnings():
            text += f" | WARNING: reward {self.reward.name!r} tied in every round (round robin)"
        return text

    def warnings(self) -> list:
        """What looks wrong with the run so far, one line each (today: a reward that never varies)."""
        w = reward_warning(self.rounds, self.reward.name, len(self.sources))
        return [w] if w else []

    def results(self):
        """The run so far as :class:`~w2s_plugin.results.CampaignResults` (with regret in simulations)."""
        from .results import CampaignResults  # results imports this module

        regret = None
        if self.true_densities is not None and self.rounds:
            regret = np.cumsum([r.get("regret", 0.0) for r in self.rounds])
        items = {k: list(v) for k, v in self.items.items()}
        return CampaignResults(list(self.rounds), items, self.true_densities, regret, self.reward.name)

    def pulls(self) -> dict:
        """Bandit pulls per source so far (rounds, with or without new evidence)."""
        return {n: int(r) for n, r in zip(self.bandit.names, self.bandit.rounds_)}

    def summary(self) -> str:
        """The bandit's table: pulls, items drawn, reward, mean and interval per source."""
        return self.bandit.summary()

    # -- persistence -----------------------------------------------------------------------------
    def _detector_params(self):
        if not isinstance(self.detector, OverlapDetector):
            return None
        params = self.detector.get_params()
        try:
            json.dumps(params)
        except TypeError:
            return None
        return params

    def _save_detector(self) -> None:
        """Persist the detector's history: a small delta of the slots its last fit wrote, or a snapshot."""
        det = self.detector
        if not hasattr(det, "history_state") or not getattr(det, "accumulate", False):
            return
        hist = det.history_state()
        if not hist:
            return
        touched = getattr(det, "_hist_touched", None)
        hist_size = int(getattr(det, "history_size", 0) or 0)
        full = (
            touched is None
            or self._det_snapshot is None
            or self._det_delta_rows + touched.size > self.SNAPSHOT_FACTOR * max(hist_size, 1)
        )
        buf = io.BytesIO()
        self._det_seq += 1  # front-ends that commit between rounds need names that never repeat
        stamp = f"{self.n_rounds:08d}" + ("" if self.kind == "campaign" else f"-{self._det_seq:06d}")
        if full:
            name = f"detector-snapshot-{stamp}.npz"
            np.savez(buf, **hist)
            self._det_snapshot, self._det_deltas, self._det_delta_rows = name, [], 0
        else:
            name = f"detector-delta-{stamp}.npz"
            np.savez(
                buf,
                slots=touched,
                conf=hist["conf"][touched],
                emb=hist["emb"][touched],
                size=np.array(hist["conf"].size),
                n_seen=hist["n_seen"],
                rng=hist["rng"],
            )
            self._det_deltas.append(name)
            self._det_delta_rows += int(touched.size)
        atomic_write_bytes(self.state_dir / name, buf.getvalue())

    def save(self, row: dict | None = None, new_items: dict | None = None) -> None:
        """Commit: the round's log line (if any), the detector's history, then ``state.json``."""
        if self.state_dir is None:
            return
        self._lock.check(self.owner)
        data = b""
        if self._pending_log:  # rounds migrated from a 0.1.0 folder go into the log first
            data = b"".join(log_line(r, {k: [] for k in ITEM_COLUMNS}) for r in self._pending_log)
        if row is not None:
            data += log_line(row, new_items)
        log = self.state_dir / LOG_FILE
        with open(log, "ab") as fh:
            if fh.tell() != self._log_bytes:  # leftovers of an uncommitted round
                fh.truncate(self._log_bytes)
                fh.seek(self._log_bytes)
            if data:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        log_bytes, crc = self._log_bytes + len(data), crc_update(self._log_crc, data)
        old_files = {self._det_snapshot, *self._det_deltas}
        self._save_detector()
        reward_state = self.reward.state() if hasattr(self.reward, "state") else None
        state = {
            **self.extra,
            "version": STATE_VERSION,
            "kind": self.kind,
            "batch_size": self.batch_size,
            "budget": self.budget,
            "random_state": self.random_state if isinstance(self.random_state, (int, type(None))) else None,
            "detector_params": self._detector_params(),
            "n_rounds": self.n_rounds,
            "n_drawn": self.n_drawn,
            "n_overlap": int(sum(r.get("n_overlap", 0) for r in self.rounds)),
            "log": {"file": LOG_FILE, "bytes": log_bytes, "crc32": crc},
            "sources": {name: s.state() for name, s in self.sources.items()},
            "bandit": self.bandit.to_dict(),
            "true_densities": self.true_densities,
            "detector": {
                "snapshot": self._det_snapshot,
                "deltas": list(self._det_deltas),
                "seq": self._det_seq,
            },
            "reward": {"name": self.reward.name, "params": self.reward_params, "state": reward_state},
            "index_labels_until": self._index_labels_until,
        }
        atomic_write_bytes(self.state_dir / STATE_FILE, json.dumps(state, default=jsonable).encode())
        self._log_bytes, self._log_crc, self._pending_log = log_bytes, crc, []
        for old in old_files - {self._det_snapshot, *self._det_deltas, None}:
            (self.state_dir / old).unlink(missing_ok=True)
        for legacy in self._legacy:  # the 0.1.0 files are superseded by the commit just written
            (self.state_dir / legacy).unlink(missing_ok=True)
        self._legacy = []

    def _open_state(self, saved: SavedState | None, resume: bool, force_new: bool) -> SavedState | None:
        """Lock the state folder, clean what a kill left behind, and read its state (once; a
        resume may have read it already) or start a new one. Returns the state read, if any."""
        d, owner = self.state_dir, self.owner
        if resume and force_new:
            raise W2SError(f"{owner}: force_new starts a new run; it cannot be combined with resume")
        if saved is None:
            if resume and not d.is_dir():
                raise _no_state(owner, self.kind, d)
            if force_new and d.is_dir() and any(d.iterdir()):
                with contextlib.ExitStack() as stack:
                    stack.callback(StateLock(d, owner).release)  # no other writer while it moves
                    self.moved_to = move_aside(d)
            d.mkdir(parents=True, exist_ok=True)
            self._lock = StateLock(d, owner)
            saved = read_state(d, self.kind)
        else:
            self._lock = saved.lock
        clean_temp_files(d)
        if resume and saved is None:
            raise _no_state(owner, self.kind, d)
        if saved is not None and not resume:
            what = "a campaign" if self.kind == "campaign" else f"a {state_display(self.kind)}'s state"
            raise StateError(
                f"{owner}: {d} already holds {what}; use {owner}.resume(...) to continue it, or {FORCE_NEW}"
            )
        if saved is None:
            check_orphan_log(d, owner)
            return None
        if self.batch_size is None:  # not given: the saved one
            self.batch_size = int(saved.state.get("batch_size") or DEFAULT_BATCH_SIZE)
        self._load(saved)
        return saved

    def _load(self, saved: SavedState) -> None:
        """Take over a saved run: rounds, items, sources, bandit, reward, detector history, after
        checking that everything that changes results is what it was (one line names what changed)."""
        st, where = saved.state, saved.path
        self.rounds, self.items = saved.rounds, saved.items
        self._log_bytes, self._log_crc = saved.log_bytes, saved.log_crc
        self.migrated_from, self._legacy = saved.migrated_from, list(saved.legacy_files)
        if not saved.rounds_in_log:
            self._pending_log = list(self.rounds)
        log = self.state_dir / LOG_FILE
        if self._log_bytes and log.stat().st_size > self._log_bytes:  # a round that crashed before its commit
            with open(log, "r+b") as fh:
                fh.truncate(self._log_bytes)
        if set(st["sources"]) != set(self.sources):
            raise StateError(
                f"{where}: the saved {state_display(self.kind)} has sources {sorted(st['sources'])}, "
                f"but these were given: {sorted(self.sources)}; pass the same sources, or {FORCE_NEW}"
            )
        if st.get("batch_size") != self.batch_size:
            raise StateError(
                f"{where}: the saved {state_display(self.kind)} used batch_size={st.get('batch_size')}, "
                f"not {self.batch_size}; resume with batch_size={st.get('batch_size')}, or {FORCE_NEW}"
            )
        saved_seed = st.get("random_state")
        for name, s in st["sources"].items():
            try:
                self.sources[name].load_state(s)
            except ValueError as exc:
                seed = (
                    f" (the saved run's seed was random_state={saved_seed})" if saved_seed is not None else ""
                )
                raise StateError(
                    f"{where}: {exc}{seed}. A changed seed or changed data: resume with the sources "
                    f"built exactly as before, or {FORCE_NEW}"
                ) from None
        self._check_unchanged(st, where)
        self.bandit = SourceBandit.from_dict(st["bandit"])
        self.bandit.reward_name = self.reward.name
        if st.get("budget") is not None and self.budget is None:
            self.budget = st["budget"]
        if self.true_densities is None:
            self.true_densities = st.get("true_densities")
        self._index_labels_until = int(st.get("index_labels_until") or 0)
        if self._index_labels_until and self.classes_ is not None:  # 0.1.0 logged column indices
            classes, cut = self.classes_, self.items["round"]
            self.items["weak_label"] = [
                _plain(classes[int(v)]) if r <= self._index_labels_until else v
                for r, v in zip(cut, self.items["weak_label"])
            ]
        self.extra = {k: v for k, v in st.items() if k not in _COMMON_KEYS}
        self._load_detector(st.get("detector") or {})
        self.resumed = True

    def _check_unchanged(self, st: dict, where) -> None:
        """Everything else that changes a resumed run's results must be what it was: the seed, the
        reward (and its parameters), the bandit policy and the detector's parameters (the sources'
        content and draw order are checked by each source's ``load_state``)."""
        changed = []  # (what changed, the remedy), first one reported
        seed = st.get("random_state")
        if isinstance(seed, int) and isinstance(self.random_state, int) and seed != self.random_state:
            changed.append(
                (
                    f"used random_state={seed}, not {self.random_state} (a changed seed)",
                    f"random_state={seed}",
                )
            )
        rew = st.get("reward") or {}
        if rew.get("name", "overlap") != self.reward.name:
            was = rew.get("name", "overlap")
            changed.append((f"'s reward is {was!r}, not {self.reward.name!r}", f"reward={was!r}"))
        elif "params" in rew and (rew["params"] or {}) != self.reward_params:
            was = rew["params"] or {}
            changed.append(
                (f"'s reward_params are {was!r}, not {self.reward_params!r}", f"reward_params={was!r}")
            )
        b = st.get("bandit") or {}
        if self._given_bandit is not None:
            for key in ("policy", "policy_params"):
                was, now = b.get(key) or None, self._given_bandit.get(key) or None
                if was != now:
                    changed.append((f"'s bandit {key} is {was!r}, not {now!r}", f"bandit {key}={was!r}"))
        old, new = st.get("detector_params"), self._detector_params()
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) & set(new)):  # a parameter added since: the run used its default
                if key != "random_state" and old[key] != new[key]:
                    changed.append(
                        (f"'s detector {key} is {old[key]!r}, not {new[key]!r}", f"{key}={old[key]!r}")
                    )
        if changed:
            what, fix = changed[0]
            more = f" (and {len(changed) - 1} more changed setting(s))" if len(changed) > 1 else ""
            sep = "" if what.startswith("'") else " "
            raise StateError(f"{where}: the saved run{sep}{what}{more}; resume with {fix}, or {FORCE_NEW}")

    def _load_detector(self, det: dict) -> None:
        self._det_snapshot, self._det_deltas = det.get("snapshot"), list(det.get("deltas") or [])
        self._det_seq = int(det.get("seq") or 0)
        if hasattr(self.detector, "load_history_state"):
            if self._det_snapshot:
                self.detector.load_history_state(self._replay_detector())
            elif det.get("legacy_file"):
                with np.load(self.state_dir / det["legacy_file"]) as z:
                    self.detector.load_history_state({k: z[k] for k in z.files})
        named = {self._det_snapshot, *self._det_deltas}
        for f in self.state_dir.glob("detector-*.npz"):  # files of a round that crashed before its commit
            if f.name not in named:
                f.unlink(missing_ok=True)
        if det.get("legacy_file"):
            self._legacy.append(det["legacy_file"])

    def _replay_detector(self) -> dict:
        def npz(name):
            try:
                return np.load(self.state_dir / name)
            except (OSError, ValueError) as exc:
                raise damaged(
                    self.state_dir / name, f"cannot be read as the detector's history ({exc})"
                ) from None

        with npz(self._det_snapshot) as z:
            hist = {k: z[k] for k in z.files}
        conf, emb = hist["conf"], hist["emb"]
        self._det_delta_rows = 0
        for name in self._det_deltas:
            with npz(name) as z:
                size = int(z["size"])
                if size > conf.size:
                    conf = np.concatenate([conf, np.zeros(size - conf.size)])
                    emb = np.vstack([emb, np.zeros((size - emb.shape[0], emb.shape[1]))])
                slots = z["slots"]
                conf[slots] = z["conf"]
                emb[slots] = z["emb"]
                hist["n_seen"], hist["rng"] = z["n_seen"], z["rng"]
                self._det_delta_rows += int(slots.size)
        hist["conf"], hist["emb"] = conf, emb
        return hist


def _keep(regions, which: str) -> list:
    if which not in ("overlap", "confident", "all"):
        raise W2SError(f"which must be 'overlap', 'confident' or 'all'; got {which!r}")
    if which == "all":
        return list(range(len(regions)))
    if which == "overlap":
        return [i for i, r in enumerate(regions) if r == int(Region.OVERLAP)]
    return [i for i, r in enumerate(regions) if r != int(Region.HARD_ONLY)]


def subset_info(info: RoundInfo, keep) -> RoundInfo:
    """The same round restricted to items ``keep`` (a boolean mask or indices)."""
    keep = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep, dtype=np.int64)
    rep = info.report
    sub = OverlapReport(
        rep.regions[keep],
        np.asarray(rep.confidence)[keep],
        np.asarray(rep.overlap_score)[keep],
        rep.hard_threshold,
        rep.overlap_threshold,
        rep.scorer,
    )
    batch = info.batch.subset(keep)
    return RoundInfo(
        info.round,
        info.source,
        batch,
        info.proba[keep],
        np.asarray(info.embeddings)[keep],
        sub,
        np.asarray(info.weak_labels)[keep],
    )
