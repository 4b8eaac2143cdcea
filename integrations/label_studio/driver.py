"""The campaign driver: fill a Label Studio project from the sources a bandit picks.

Each round it (1) reads the project's annotations back and retrains the weak model when they
changed (the annotated tasks also become the engine's gold sample), (2) asks the bandit for a
source, (3) scores the source's next batch with the backend (weak label, region, acquisition
score), (4) imports the batch with its predictions in one bulk call, and (5) rewards the source
with the campaign's reward for the batch (by default its detected overlap share).

Idempotent: every task carries ``w2s_source`` and ``w2s_item_id`` in its data; before importing,
the driver lists the ones already in the project, so a round re-run after a crash (or with a lost
state file) imports nothing twice. Sources, bandit, reward and state on disk are the engine's
(:mod:`w2s_plugin.engine`), committed after every round.

**Hybrid mode** (``human_budget=B``): the round is the engine's hybrid round
(:class:`w2s_plugin.hybrid.HybridLabeling`, the same code a Python ``Campaign(annotate=...)`` runs):
the engine detects overlap, plans which items people label (a random audit share of the batch, the
rest routed: hard-only first, then the strong model's uncertainty), and weak labels fill in the rest.
The driver puts the planned tasks in the Data Manager tab "w2s: for people" (sorted by priority,
audit tasks unmarked), the others in "w2s: weak labels" with the weak label as a prediction, waits
until people answered the planned tasks (their annotations are the engine's human labels), and
accepts a weak label only while the audit's lower 95% Wilson bound on the weak-label precision of its
(region, source) stays above ``accept_threshold`` (:mod:`.queue`); other weak tasks move to the
people's tab, and an answer to one is a human label too.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np

from w2s_plugin import plugins
from w2s_plugin.detector import Region, W2SWarning
from w2s_plugin.engine import STATE_FILE, Engine, engine_attributes
from w2s_plugin.errors import ConfigError, StateError, W2SError
from w2s_plugin.progress import progress as progress_bar
from w2s_plugin.settings import RunSettings
from w2s_plugin.sources import Source
from w2s_plugin.state import atomic_write_bytes, load_state

from . import queue as q
from .backend import OverlapDensityBackend, project_key
from .client import ANNOTATED_QUERY, LabelStudioError, as_http_client

SOURCE_KEY = "w2s_source"
ITEM_KEY = "w2s_item_id"
REGIONS = {r.name.lower(): int(r) for r in Region}


def make_client(url: str, api_key: str):
    """A ``label_studio_sdk`` client (the SDK is part of the ``label-studio`` extra)."""
    from label_studio_sdk import LabelStudio  # as label-studio-sdk 2.x documents it

    if not url:
        raise W2SError("no Label Studio URL: pass --label-studio-url or set LABEL_STUDIO_URL")
    if not api_key:
        raise W2SError("no Label Studio API key: pass --api-key or set LABEL_STUDIO_API_KEY")
    return LabelStudio(base_url=url.rstrip("/"), api_key=api_key)


def _as_dict(obj) -> dict:
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return obj.dict()


def project_tasks(client, project: int, annotated_only: bool = False, fields: str = "all"):
    """Every task of ``project`` as a dict. ``annotated_only`` filters on ``total_annotations > 0``
    (Label Studio 1.23.2 ignores ``only_annotated=True``)."""
    yield from as_http_client(client).tasks(
        int(project), fields=fields, query=ANNOTATED_QUERY if annotated_only else None
    )


def annotated_tasks(client, project: int):
    return (
        t
        for t in project_tasks(client, project, annotated_only=True)
        if (t.get("total_annotations") or 0) > 0
    )


def project_source(
    client, project: int, name: str | None = None, random_state=0, shuffle: bool = True
) -> Source:
    """Another Label Studio project's tasks as a :class:`~w2s_plugin.Source` (records are the task data,
    ids the task ids), so a bandit can draw from it like from a file."""
    tasks = list(project_tasks(client, project, fields="task_only"))
    if not tasks:
        raise W2SError(f"Label Studio project {project} has no tasks to draw from")
    return Source(
        name or f"label-studio-{project}",
        records=[dict(t["data"]) for t in tasks],
        ids=[t["id"] for t in tasks],
        shuffle=shuffle,
        random_state=random_state,
    )


LabelStudioProjectSource = project_source


@engine_attributes
class CampaignDriver:
    """Run a multi-source campaign whose batches land in a Label Studio project.

    Parameters
    ----------
    client : label_studio_sdk client (see :func:`make_client`)
    project : int, the annotation project to fill (its labeling config needs ``<Choices>`` on a text)
    sources : list of :class:`~w2s_plugin.Source` with text records (``Source.from_path`` on a CSV or
        JSONL file with a text column, or :func:`project_source` for another project)
    backend : :class:`OverlapDensityBackend` (default: one with ``model_dir`` = ``state_dir/model``);
        share its ``model_dir`` with the served backend to keep one weak model per project.
    batch_size : tasks per round; default 100 (:data:`~w2s_plugin.settings.DEFAULT_BATCH_SIZE`;
        0.1.0 had 20), the saved one on resume
    bandit : :class:`~w2s_plugin.SourceBandit`, a policy name, or ``{"policy": ..., "policy_params": ...}``
    text_column : field of a source record holding the text (default: the config's ``$variable``)
    state_dir : where the state is committed after every round (``None``: memory only; the project's
        own tasks still prevent double imports). An existing state (0.1.0 folders too) is resumed.
    progress : show a progress bar in :meth:`run`
    random_state : int
    reward, reward_params : as for :class:`~w2s_plugin.Campaign`; the annotated tasks are the gold
        sample (``engine.gold``: the task data as records, the annotators' choices as labels), after
        any ``gold=(records, labels)`` given here.
    classes : the weak model's classes (default: the labeling config's choices, in order).
    human_budget : a **hybrid** campaign: people label up to this many tasks in total (see the module
        docstring); ``None`` (default): the weak-label workflow above.
    audit_share, human_batch, stop_when, hybrid_params : as for :class:`~w2s_plugin.Campaign`.
    accept_threshold : a weak-trusted task's label is accepted while the lower 95% Wilson bound of the
        audited weak-label precision of its (region, source) is at least this (default
        :data:`.queue.DEFAULT_THRESHOLD`, measured in docs/label_studio.md); 0 accepts every weak label.
    score : hybrid mode: what the prediction-score column shows for the driver's tasks: ``"trust"``
        (the backend's acquisition score, as without hybrid mode) or ``"need"`` (how much a task needs
        a person); the tasks already imported follow at the next start, or :meth:`switch_score`.
    wait : seconds to wait for people's answers in a round (``None``: as long as it takes); when they
        are not all in, a :class:`W2SError` says what is missing and the same command resumes.
    poll : seconds between two looks at Label Studio while waiting.
    retrain_weak : retrain the weak model on the annotations at the start of every round (as without
        hybrid mode; default). ``False`` keeps the weak labeler the audits measure fixed.
    """

    def __init__(
        self,
        client,
        project,
        sources,
        backend: OverlapDensityBackend | None = None,
        batch_size: int | None = None,
        bandit=None,
        text_column: str | None = None,
        state_dir=None,
        progress: bool = True,
        random_state=0,
        reward="overlap",
        reward_params: dict | None = None,
        gold=None,
        classes=None,
        human_budget: int | None = None,
        audit_share: float = 0.15,
        human_batch: int | None = None,
        stop_when=None,
        hybrid_params: dict | None = None,
        accept_threshold: float = q.DEFAULT_THRESHOLD,
        score: str = "trust",
        wait: float | None = None,
        poll: float = 2.0,
        retrain_weak: bool = True,
    ):
        settings = RunSettings.from_arguments(locals())
        self.client = client
        self._set_hybrid_options(accept_threshold, score, wait, poll, retrain_weak)
        self.project = int(project_key(project))
        srcs = list(sources or [])
        if not srcs or not all(isinstance(s, Source) for s in srcs):
            raise W2SError("CampaignDriver needs a non-empty list of Source objects")
        if batch_size is not None:  # checked before any request
            settings.check_batch_size("CampaignDriver")
        sd = None if state_dir is None else Path(state_dir)
        self.progress = progress
        self._connect(backend, random_state, sd)
        self.text_column = text_column or self.schema.value_key
        self._check_text_column(srcs)
        resume = sd is not None and any((sd / f).exists() for f in (STATE_FILE, "label_studio_campaign.json"))
        hybrid = _hybrid_labeling(
            self._await_people,
            _saved_hybrid(sd) if resume else {},
            human_budget,
            audit_share=audit_share,
            human_batch=human_batch,
            stop_when=stop_when,
            hybrid_params=hybrid_params,
        )
        settings = dataclasses.replace(
            settings, state_dir=sd, classes=list(self.schema.choices) if classes is None else classes
        )
        self.engine = Engine(
            srcs,
            self._weak_proba,
            self._embed,
            kind="label_studio",
            owner="CampaignDriver",
            settings=settings,
            resume=resume,
            hybrid=hybrid,
        )
        self._start(resume, sd, gold)

    def _set_hybrid_options(self, accept_threshold, score, wait, poll, retrain_weak) -> None:
        """Check and keep the hybrid mode's own options (before any request to Label Studio)."""
        self.accept_threshold = q.check_threshold(accept_threshold)
        self.score = q.check_score_mode(score)
        if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait < 0):
            raise ConfigError(f"wait must be a number of seconds >= 0 or None; got {wait!r}")
        if isinstance(poll, bool) or not isinstance(poll, (int, float)) or poll <= 0:
            raise ConfigError(f"poll must be a positive number of seconds; got {poll!r}")
        self.wait, self.poll, self.retrain_weak = wait, float(poll), bool(retrain_weak)

    def _connect(self, backend, random_state, sd: Path | None) -> None:
        """The backend (a new one keeps its model under ``sd/model``) and the project's labeling config."""
        if backend is None:
            backend = OverlapDensityBackend(
                model_dir=None if sd is None else sd / "model",
                random_state=random_state if isinstance(random_state, int) else 0,
            )
        self.backend, self._state_dir = backend, sd
        self.http = as_http_client(self.client, hint=self._resume_hint)
        proj = self.http.project(self.project)
        self.label_config = proj["label_config"]
        self.project_version = proj.get("model_version") or ""
        if self.project_version:  # predictions carry the version the score column counts
            self.backend.set_label(self.project, self.project_version)
        self.schema = self.backend.schema(self.project, self.label_config)

    def _check_text_column(self, srcs) -> None:
        for s in srcs:
            if s.records is None:
                raise W2SError(
                    f"source {s.name!r} has no records: the driver needs texts "
                    f"(a CSV/JSONL file with a {self.text_column!r} column)"
                )
            if self.text_column not in s.records[0]:
                raise W2SError(
                    f"source {s.name!r} has no {self.text_column!r} field "
                    f"(it has {', '.join(map(str, s.records[0]))}); pass text_column=..."
                )

    def _start(self, resume: bool, sd: Path | None, gold) -> None:
        """After the engine is made: check the folder is this project's, read the driver's own state,
        commit a new folder's project, and (hybrid mode) set up the tabs and queue fields."""
        x = self.engine.extra
        if resume and x.get("project") != self.project:
            raise StateError(
                f"{sd} belongs to Label Studio project {x.get('project')}, not {self.project}; "
                "use another state_dir"
            )
        self._warned_cold, self._gold = False, gold
        self.n_annotated_seen = x.get("n_annotated_seen", -1)
        self.annotation_stats: dict = x.get("annotation_stats", {})
        if not self.engine.resumed and sd is not None:  # the new folder names its project from the start
            self._set_extra()  # (the engine committed it before round 1; a kill in round 1 then resumes)
            self.engine.save()
        self.tabs: dict = {}
        self.last_plan = None
        self._task_index: dict = {}
        self._id_pos: dict = {}
        if self.hybrid is not None:  # the tabs and the queue fields as the state says (rebuilt on resume)
            self.tabs = q.ensure_tabs(self.http, self.project)
            self._refresh_index()
            self._apply_gate()
            self.switch_score(self.score)  # a changed `score` setting applies to the tasks already there

    @property
    def hybrid(self):
        """The engine's :class:`~w2s_plugin.hybrid.HybridLabeling` in hybrid mode, else None."""
        return getattr(self.engine, "hybrid", None)

    def _texts(self, items) -> list:
        return [r.get(self.text_column) if isinstance(r, dict) else r for r in items]

    def _weak_proba(self, items) -> np.ndarray:
        """The project's weak model on records or texts (columns in the labeling config's choice order)."""
        with self.backend._hold(self.project, self.label_config) as p:
            return np.asarray(p.weak.predict_proba(self._texts(items)), dtype=np.float64)

    def _embed(self, items) -> np.ndarray:
        return np.asarray(plugins.embed(self.backend.embedder, self._texts(items)), dtype=np.float64)

    def _resume_hint(self) -> str:
        engine = self.__dict__.get("engine")  # None while __init__ is still talking to Label Studio
        if self._state_dir is None:
            return (
                "nothing saved locally (no state_dir); tasks already imported stay in the project and are "
                "not imported twice: run the same command again to continue"
            )
        done = engine.n_rounds if engine is not None else 0
        # a state file this driver has not committed to (another run's, or none) is not "saved"
        if engine is None or done == 0 or not (self._state_dir / STATE_FILE).exists():
            return (
                f"nothing saved yet (no round done; state goes to {self._state_dir}): "
                "run the same command again"
            )
        return (
            f"saved: {self._state_dir / STATE_FILE} ({done} round{'s' if done != 1 else ''} done); run the "
            "same command again to resume"
        )

    # -- Label Studio reads ----------------------------------------------------------------------
    def existing_items(self) -> set:
        """``(source, item id)`` of every task this driver (or any earlier run) put in the project."""
        out = set()
        for t in project_tasks(self.http, self.project, fields="task_only"):
            d = t.get("data") or {}
            if SOURCE_KEY in d and ITEM_KEY in d:
                out.add((str(d[SOURCE_KEY]), str(d[ITEM_KEY])))
        return out

    def sync_annotations(self) -> dict:
        """Read every annotation back; when they changed, retrain the weak model on all of them
        (so deletions count too), make them the engine's gold sample, and record, per source, how
        often annotators agreed with the imported weak label overall and on detected-overlap tasks."""
        tasks = list(annotated_tasks(self.http, self.project))
        if len(tasks) == self.n_annotated_seen:
            return {"annotated": len(tasks), "retrained": False}
        pairs, stats, gold = [], {}, ([], [])
        for t in tasks:
            anns = [a for a in (t.get("annotations") or []) if not a.get("was_cancelled")]
            if not anns:
                continue
            pairs.append((t, anns[-1]))
            src = (t.get("data") or {}).get(SOURCE_KEY)
            human = _choice(anns[-1], self.schema.from_name)
            if human is not None:
                gold[0].append(
                    dict(
                        t.get("data") or {},
                        **{self.text_column: (t.get("data") or {}).get(self.schema.value_key)},
                    )
                )
                gold[1].append(human)
            pred = next(
                (
                    r
                    for p in t.get("predictions") or []
                    for r in (p.get("result") or [])
                    if isinstance(r, dict) and "w2s" in r
                ),
                None,
            )
            if src is None or human is None or pred is None:
                continue
            weak = (pred.get("value") or {}).get("choices", [None])[0]
            s = stats.setdefault(
                src, {"annotated": 0, "agree": 0, "overlap_annotated": 0, "overlap_agree": 0}
            )
            s["annotated"] += 1
            s["agree"] += int(weak == human)
            if pred["w2s"].get("region") == "overlap":
                s["overlap_annotated"] += 1
                s["overlap_agree"] += int(weak == human)
        if self.retrain_weak:
            out = self.backend.add_annotations(self.project, pairs, self.label_config, replace=True)
        else:
            out = {"trained": False, "model_version": self.backend.current_version(self.project)}
        self.n_annotated_seen = len(tasks)
        self.annotation_stats = stats
        if self.hybrid is not None:  # annotations are people's answers (human labels), not gold
            self._record_unplanned(pairs)
            return {
                "annotated": len(tasks),
                "retrained": out["trained"],
                "model_version": out["model_version"],
            }
        if self._gold is not None:  # the user's gold sample first, then the annotated tasks
            gold = (list(self._gold[0]) + gold[0], list(self._gold[1]) + gold[1])
        self.engine.gold = (gold[0], np.asarray(gold[1])) if gold[1] else None
        return {"annotated": len(tasks), "retrained": out["trained"], "model_version": out["model_version"]}

    # -- one round -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """Every source is exhausted (or, in hybrid mode, the stopping rule fired)."""
        return not self.bandit.any_active or bool(self.hybrid is not None and self.hybrid.stopped)

    def run_round(self, existing: set | None = None) -> dict:
        """One round; ``existing`` is the set from :meth:`existing_items` (listed here if not given)."""
        if self.done:
            raise RuntimeError("every source is exhausted: nothing left to import")
        if self.hybrid is not None:
            return self._hybrid_round(existing)
        t0 = time.perf_counter()
        synced = self.sync_annotations()
        self._warn_if_no_keywords()
        if existing is None:
            existing = self.existing_items()
        e = self.engine
        name = e.select()
        source = self.sources[name]
        positions = source.candidates(self.batch_size)
        batch = source.get(positions)
        tasks = []
        for rec, item_id in zip(batch.records, batch.ids):
            text = rec.get(self.text_column)
            if not isinstance(text, str):
                e.rollback()
                raise W2SError(f"source {name!r} item {item_id!r}: {self.text_column!r} is not a string")
            tasks.append(
                {"data": {self.schema.value_key: text, SOURCE_KEY: name, ITEM_KEY: str(_plain(item_id))}}
            )
        try:  # the round pipeline on the backend's numbers; its JSON is made for the import only
            scored = self.backend.score_tasks(self.project, tasks, self.label_config)
            res = e.evaluate(name, batch, scored.proba, report=scored.report)
            preds = self.backend.predictions(self.project, scored)
        except BaseException:  # nothing imported yet: undo the pick so a retry is the same round
            e.rollback()
            raise
        new = [
            (t, p)
            for t, p in zip(tasks, preds)
            if (t["data"][SOURCE_KEY], t["data"][ITEM_KEY]) not in existing
        ]
        imported_ids = []
        if new:
            payload = [{"data": t["data"], "predictions": [p]} for t, p in new]  # every task gets its score
            imported_ids = self.http.import_tasks(self.project, payload)
            if not self.project_version:  # the score column counts the project's version only
                self._set_project_version(preds[0]["model_version"])
            for t, _ in new:
                existing.add((t["data"][SOURCE_KEY], t["data"][ITEM_KEY]))
        source.mark_used(positions)
        self._set_extra()
        row = {
            **res.row,
            "imported": len(new),
            "skipped": len(tasks) - len(new),
            "model_version": self.backend.current_version(self.project),
            "annotated": synced["annotated"],
            "retrained": synced["retrained"],
            "task_ids": imported_ids,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        return e.record(name, row, res.value, items=res.items)

    def _set_extra(self) -> None:
        self.engine.extra.update(
            project=self.project,
            n_annotated_seen=self.n_annotated_seen,
            annotation_stats=self.annotation_stats,
        )

    # -- hybrid mode -----------------------------------------------------------------------------
    def _task_of(self, name, rec, item_id) -> dict:
        text = rec.get(self.text_column)
        if not isinstance(text, str):
            raise W2SError(f"source {name!r} item {item_id!r}: {self.text_column!r} is not a string")
        return {"data": {self.schema.value_key: text, SOURCE_KEY: name, ITEM_KEY: str(_plain(item_id))}}

    def _hybrid_round(self, existing: set | None) -> dict:
        """The engine's hybrid round (:meth:`Engine.evaluate`, the pipeline every front-end runs), with
        Label Studio as the people: evaluate and plan, publish the tasks, wait for the answers, commit,
        gate."""
        t0 = time.perf_counter()
        synced = self.sync_annotations()
        self._warn_if_no_keywords()
        if existing is None:
            existing = self.existing_items()
        e, hy = self.engine, self.hybrid
        name = e.select()
        source = self.sources[name]
        with e.attempt(name):  # nothing consumed on a failure: a retry is the same round
            positions = source.candidates(e.next_batch_size(source))
            batch = source.get(positions)
            tasks = [self._task_of(name, r, i) for r, i in zip(batch.records, batch.ids)]
            scored = self.backend.score_tasks(self.project, tasks, self.label_config)
            # people answer in Label Studio once the tasks are there: the plan first, answers below
            res = e.evaluate(name, batch, scored.proba, report=scored.report, ask=False)
            req = res.request
            self.last_plan = req  # which tasks are audits: known here only, never in Label Studio
            preds = self.backend.predictions(self.project, scored)
            imported = self._publish(name, batch, tasks, preds, req, existing)
            hy.ask(req)  # waits for people; answers already in Label Studio come back without asking
        source.mark_used(positions)
        row = {
            **res.row,
            "imported": len(imported),
            "skipped": len(tasks) - len(imported),
        }
        row.update(hy.apply(req))
        self._set_extra()
        row.update(
            model_version=self.backend.current_version(self.project),
            annotated=synced["annotated"],
            retrained=synced["retrained"],
            task_ids=imported,
            seconds=round(time.perf_counter() - t0, 3),
        )
        row = e.record(name, row, res.value, items=res.items)
        hy.after_commit()
        self._apply_gate()
        e.save()  # the queue's numbers after this round, for `w2s campaign status`
        return row

    def _refresh_index(self) -> None:
        """``(source, item id) -> task`` (with predictions and annotations) of the driver's tasks."""
        self._task_index = {}
        for t in project_tasks(self.http, self.project):
            d = t.get("data") or {}
            if SOURCE_KEY in d and ITEM_KEY in d:
                self._task_index[(str(d[SOURCE_KEY]), str(d[ITEM_KEY]))] = t

    def _position(self, source: str, item_id: str):
        """The position in ``source`` of the item whose id prints as ``item_id`` (or None)."""
        if source not in self._id_pos:
            ids = self.sources[source].ids
            self._id_pos[source] = {str(_plain(i)): p for p, i in enumerate(ids)}
        return self._id_pos[source].get(str(item_id))

    def _score(self, trust: float, need: float) -> float:
        return float(trust if self.score == "trust" else need)

    def _publish(self, name, batch, tasks, preds, req, existing) -> list:
        """Import the round's new tasks and put every planned task (this batch's audits, routed items
        of any round) in the people's queue, the rest of the batch in the weak queue."""
        planned = {}
        for s, ps in req.positions.items():
            for p, k in zip(ps, req.kinds[s]):
                planned[(s, int(p))] = k
        routed = [key for key, k in planned.items() if k == "routed"]
        prio = dict(zip(routed, q.need_scores(len(routed)).tolist()))
        audits = [key for key, k in planned.items() if k == "audit"]
        rng = np.random.default_rng([int(self.engine.random_state or 0), int(req.round), 99])
        prio.update(zip(audits, q.audit_priorities(list(prio.values()), len(audits), rng).tolist()))
        new = []
        for p, t, pred in zip(np.asarray(batch.positions).tolist(), tasks, preds):
            key = (t["data"][SOURCE_KEY], t["data"][ITEM_KEY])
            if key in existing:
                continue
            trust = float(pred.get("score") or 0.0)
            if (name, int(p)) in planned:  # nothing marks an audit: no weak label, no trust shown
                need = prio[(name, int(p))]
                fields = {q.QUEUE_KEY: q.PEOPLE, q.PRIORITY_KEY: need, q.TRUST_KEY: None}
                pred = {"result": [], "score": self._score(0.0, need), "model_version": pred["model_version"]}
            else:
                need = round(0.5 * (1.0 - trust), 6)
                fields = {q.QUEUE_KEY: q.WEAK, q.PRIORITY_KEY: need, q.TRUST_KEY: trust}
                pred = {**pred, "score": self._score(trust, need)}
                if pred["result"]:
                    pred["result"] = [{**pred["result"][0], "score": pred["score"]}]
            new.append({"data": {**t["data"], **fields}, "predictions": [pred]})
        ids = []
        if new:
            ids = self.http.import_tasks(self.project, new)
            if not self.project_version:
                self._set_project_version(new[0]["predictions"][0]["model_version"])
            for t in new:
                existing.add((t["data"][SOURCE_KEY], t["data"][ITEM_KEY]))
        self._refresh_index()
        self.tabs = q.ensure_tabs(self.http, self.project)
        src_ids = {}
        for (s, p), _ in planned.items():  # earlier tasks routed now, and tasks of a replayed round
            item = src_ids.setdefault(s, self.sources[s].ids)[p]
            task = self._task_index.get((s, str(_plain(item))))
            if task is not None and not _answered(task):
                self._to_people(task, prio[(s, p)], hide=True)
        return ids

    def _set_project_version(self, version: str) -> None:
        """Make the project's model version the one the predictions carry (the score column counts it).
        Label Studio 1.23 sometimes refuses it (400) right after the import that created the first
        predictions of that version; a few retries, then a warning and another try next round."""
        for attempt in range(4):
            try:
                self.http.set_model_version(self.project, version)
            except LabelStudioError as exc:
                if exc.status != 400:
                    raise
                time.sleep(0.5 * 2**attempt)
            else:
                self.project_version = version
                return
        warnings.warn(
            f"Label Studio did not accept model version {version!r} for project {self.project} yet; the "
            "prediction-score column stays empty until the next round sets it",
            W2SWarning,
            stacklevel=3,
        )

    def _our_prediction(self, task):
        """The task's prediction of the project's version; one is created (empty result) if the task
        has none (seen once on Label Studio 1.23: a task imported with a prediction listed without
        it), so the score column never has a hole."""
        preds = task.get("predictions") or []
        mine = [p for p in preds if p.get("model_version") == self.project_version] or preds
        if mine:
            return mine[0]
        made = self.http.request(
            "POST",
            "/api/predictions/",
            json={
                "task": int(task["id"]),
                "result": [],
                "score": 0.0,
                "model_version": self.project_version or self.backend.prediction_version(self.project),
            },
            idempotent=False,
        )
        task["predictions"] = [made]
        return made

    def _to_people(self, task, need: float, hide: bool, queue: str = q.PEOPLE) -> None:
        """Move a task to the people's queue (or ``held``) with its weak label removed from the
        prediction; ``hide``: a planned task, so nothing shows it is an audit (its trust goes too)."""
        d = task.get("data") or {}
        trust = None if hide else d.get(q.TRUST_KEY)
        q.set_task_fields(self.http, task, **{q.QUEUE_KEY: queue, q.PRIORITY_KEY: need, q.TRUST_KEY: trust})
        pred = self._our_prediction(task)
        if pred is not None:
            want = {"result": [], "score": self._score(0.0 if trust is None else trust, need)}
            if pred.get("result") or abs(float(pred.get("score") or 0) - want["score"]) > 1e-9:
                self.http.request("PATCH", f"/api/predictions/{int(pred['id'])}/", json=want)
                pred.update(want)

    def _to_weak(self, task, weak_label) -> None:
        """Move a task (back) to the weak queue with its weak label as the prediction."""
        d = task.get("data") or {}
        trust = float(d.get(q.TRUST_KEY) or 0.0)
        need = round(0.5 * (1.0 - trust), 6)
        q.set_task_fields(self.http, task, **{q.QUEUE_KEY: q.WEAK, q.PRIORITY_KEY: need, q.TRUST_KEY: trust})
        pred = self._our_prediction(task)
        if pred is None or weak_label is None:
            return
        score = self._score(trust, need)
        if not pred.get("result"):
            region = {
                "from_name": self.schema.from_name,
                "to_name": self.schema.to_name,
                "type": "choices",
                "value": {"choices": [str(weak_label)]},
                "score": score,
            }
            want = {"result": [region], "score": score}
        else:
            want = {"score": score}
        if want.get("result") or abs(float(pred.get("score") or 0) - score) > 1e-9:
            self.http.request("PATCH", f"/api/predictions/{int(pred['id'])}/", json=want)
            pred.update(want)

    def audit_cells(self) -> dict:
        """``{(region, source): (correct, n)}``: the audit answers that matched the weak label."""
        return q.audit_cells(self.hybrid)

    def accepted(self) -> dict:
        """``{(region, source): bool}``: whose weak labels are accepted now (see ``accept_threshold``)."""
        return q.accepted_cells(self.audit_cells(), self.accept_threshold)

    def _accepted_mask(self) -> np.ndarray:
        return q.accepted_mask(self.hybrid, self.accept_threshold)

    def _apply_gate(self) -> None:
        """Weak-trusted tasks whose cell's audit bound is below the threshold leave the weak tab: to the
        people's tab (weak label hidden, least trusted first) as far as the human budget left after
        the next round's quota allows, else ``held`` (in no tab); back to the weak tab once the bound
        recovers. Answered tasks stay where they are (their answers are human labels)."""
        if not self._task_index:
            self._refresh_index()
        hy, it = self.hybrid, self.engine.items
        acc = self._accepted_mask()
        rejected = []
        for s, p, i, lab, ok in zip(it["source"], it["position"], it["id"], it["weak_label"], acc):
            if (s, int(p)) in hy.answers:
                continue
            task = self._task_index.get((str(s), str(_plain(i))))
            if task is None or _answered(task):
                continue
            if ok:
                self._to_weak(task, lab)
            else:
                rejected.append(task)
        room = max(0, hy.budget_left - hy.quota()) if not self.done else hy.budget_left
        rejected.sort(key=lambda t: (float((t.get("data") or {}).get(q.TRUST_KEY) or 0.0), t["id"]))
        for k, task in enumerate(rejected):
            trust = float((task.get("data") or {}).get(q.TRUST_KEY) or 0.0)
            where = q.PEOPLE if k < room else q.HELD
            self._to_people(task, round(0.5 * (1.0 - trust), 6), hide=False, queue=where)
        self.tabs = q.ensure_tabs(self.http, self.project)
        self._write_status()

    def _await_people(self, batch) -> list:
        """The hybrid engine's ``annotate``: wait until every task of ``batch`` has an answer in Label
        Studio (answers given before, e.g. before a crash, come back at once) and return them."""
        keys = [(batch.source, str(_plain(i))) for i in batch.ids]
        missing = [k for k in keys if k not in self._task_index]
        if missing:
            self._refresh_index()
        labels: dict = {}
        deadline = None if self.wait is None else time.monotonic() + self.wait
        while True:
            for k in keys:
                if k in labels:
                    continue
                task = self._task_index.get(k)
                if task is None:
                    raise W2SError(f"task for {k[0]!r} item {k[1]!r} is not in project {self.project}")
                task = self.http.request("GET", f"/api/tasks/{int(task['id'])}/")
                lab = _answer(task, self.schema.from_name)
                if lab is not None:
                    labels[k] = lab
                    self._task_index[k] = task
            if len(labels) == len(keys):
                return [labels[k] for k in keys]
            if deadline is not None and time.monotonic() >= deadline:
                raise W2SError(
                    f"{len(keys) - len(labels)} of {len(keys)} tasks for people (round "
                    f"{self.engine.n_rounds + 1}) have no answer yet; they wait in the Data Manager tab "
                    f"{q.PEOPLE_TAB!r} of project {self.project}. Answers given so far are kept: run the "
                    "same command again to continue"
                )
            time.sleep(self.poll)

    def _record_unplanned(self, pairs) -> None:
        """Answers to tasks the engine did not ask for in a round (weak tasks a failed audit moved to
        the people's tab, or any other imported task someone labelled): human labels too."""
        hy, it = self.hybrid, self.engine.items
        committed = set(zip(it["source"], (int(p) for p in it["position"])))
        by_source: dict = {}
        for task, ann in pairs:
            d = task.get("data") or {}
            if SOURCE_KEY not in d or ITEM_KEY not in d or d[SOURCE_KEY] not in self.sources:
                continue
            lab = _choice(ann, self.schema.from_name)
            pos = self._position(d[SOURCE_KEY], d[ITEM_KEY])
            if lab is None or pos is None:
                continue
            key = (d[SOURCE_KEY], int(pos))
            if key in committed and key not in hy.answers:
                by_source.setdefault(key[0], []).append((key[1], lab, d[ITEM_KEY]))
        for s, rows in by_source.items():
            hy.record_answers(
                s,
                [r[0] for r in rows],
                [r[1] for r in rows],
                self.engine.n_rounds,
                ["routed"] * len(rows),
                [r[2] for r in rows],
            )

    def training_set(self, gate: bool = True):
        """Hybrid mode: the engine's ``(X, y, sample_weight)`` (human labels at 1, weak labels at the
        cross-fitted weight), with weight 0 for the weak labels the audit does not accept (``gate``)."""
        if self.hybrid is None:
            raise W2SError("training_set() is for hybrid campaigns (human_budget=...); use training_data()")
        return q.gate_training_set(self.hybrid, self._accepted_mask() if gate else None)

    def switch_score(self, mode: str) -> int:
        """Show ``"trust"`` or ``"need"`` in the prediction-score column, for the tasks already imported
        too; returns the number of predictions changed."""
        self.score = q.check_score_mode(mode)
        self._refresh_index()
        changed = 0
        for task in self._task_index.values():
            d = task.get("data") or {}
            if d.get(q.PRIORITY_KEY) is None:
                continue
            pred = self._our_prediction(task)
            want = self._score(float(d.get(q.TRUST_KEY) or 0.0), float(d[q.PRIORITY_KEY]))
            if abs(float(pred.get("score") or 0.0) - want) > 1e-9:
                self.http.request("PATCH", f"/api/predictions/{int(pred['id'])}/", json={"score": want})
                pred["score"] = want
                changed += 1
        return changed

    def hybrid_status(self) -> dict | None:
        """The engine's hybrid numbers (human budget left, audit precision, strong-model accuracy, value
        of the last human labels, stopping) and the queue's (accepted cells, tab sizes)."""
        hy = self.hybrid
        if hy is None:
            return None
        st = dict(hy.status())
        st["human_budget_left"] = hy.budget_left
        st["accept_threshold"] = self.accept_threshold
        st["audit_cells"] = [
            {
                "region": r,
                "source": s,
                "correct": c,
                "n": n,
                "lower95": round(q.wilson_lower(c, n), 4),
                "accepted": q.wilson_lower(c, n) >= self.accept_threshold,
            }
            for (r, s), (c, n) in sorted(self.audit_cells().items())
        ]
        queues = {q.PEOPLE: 0, q.WEAK: 0, q.HELD: 0}
        for t in self._task_index.values():
            d = t.get("data") or {}
            if d.get(q.QUEUE_KEY) in queues and not _answered(t):
                queues[d[q.QUEUE_KEY]] += 1
        st["queue"] = {"people_waiting": queues[q.PEOPLE], "weak": queues[q.WEAK], "held": queues[q.HELD]}
        st["score"] = self.score
        return st

    def _write_status(self) -> None:
        """The hybrid numbers where people look: the state's ``status_lines`` (``w2s campaign status``
        prints them) and ``hybrid.json`` in the backend's project folder (its ``/metrics``)."""
        from .campaign_cli import hybrid_lines

        st = self.hybrid_status()
        self.engine.extra["label_studio_hybrid"] = st
        self.engine.extra["status_lines"] = ["Label Studio:", *hybrid_lines(st, full=False)]
        d = getattr(self.backend, "model_dir", None)
        if d is None:
            return
        path = Path(d) / str(self.project)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path / q.STATUS_FILE, json.dumps(st, default=_plain).encode())

    def _warn_if_no_keywords(self) -> None:
        if self._warned_cold or not self.backend.uses_fallback_keywords(self.project):
            return
        self._warned_cold = True
        warnings.warn(
            f"no cold-start keywords for project {self.project} (set [label_studio] keywords = "
            f'{{ {self.schema.choices[0]} = ["..."], ... }}): the weak model only knows the choice names, so '
            "every item will look hard-only (overlap density 0) until annotations of two choices arrive",
            W2SWarning,
            stacklevel=3,
        )

    def run(self, rounds: int | None = None) -> list:
        """Run ``rounds`` rounds (default: until every source is exhausted); returns their rows."""
        existing = self.existing_items()
        out = []
        bar = progress_bar(
            total=rounds,
            desc=f"label studio campaign ({self.engine.reward.name})",
            disable=not self.progress,
            unit="round",
        )
        try:
            while not self.done and (rounds is None or len(out) < rounds):
                out.append(self.run_round(existing))
                bar.update(1)
                bar.set_postfix_str(
                    " ".join(
                        f"{r['source']}={r['density']:.2f}" for r in self.bandit.estimates() if r["drawn"]
                    )
                )
        finally:
            bar.close()
        return out

    def training_data(self, which: str = "overlap"):
        """``(records, weak_labels, sources)`` of the imported items: ``overlap``, ``confident`` (not
        hard-only) or ``all``; weak labels are the labeling config's choices."""
        return self.engine.training_data(which)

    def summary(self) -> str:
        lines = [self.bandit.summary()]
        if self.annotation_stats:
            lines.append("")
            lines.append(f"{'source':<16} {'annotated':>9} {'weak agrees':>11} {'on overlap':>11}")
            for src, s in sorted(self.annotation_stats.items()):
                ov = f"{s['overlap_agree']}/{s['overlap_annotated']}" if s["overlap_annotated"] else "-"
                lines.append(f"{src:<16} {s['annotated']:>9} {s['agree'] / s['annotated']:>11.2f} {ov:>11}")
        return "\n".join(lines)


def _choice(annotation: dict, from_name: str):
    for r in annotation.get("result") or []:
        if isinstance(r, dict) and r.get("from_name") == from_name:
            ch = (r.get("value") or {}).get("choices") or []
            return ch[0] if ch else None
    return None


def _answer(task: dict, from_name: str):
    """The choice of a task's latest annotation that was not cancelled (skipped), or None."""
    anns = [a for a in (task.get("annotations") or []) if not a.get("was_cancelled")]
    return _choice(anns[-1], from_name) if anns else None


def _answered(task: dict) -> bool:
    return bool(task.get("total_annotations")) or any(
        not a.get("was_cancelled") for a in task.get("annotations") or []
    )


def _hybrid_labeling(annotate, saved: dict, human_budget, hybrid_params, **options):
    """The driver's :class:`~w2s_plugin.hybrid.HybridLabeling`, or None without a human budget. A
    resumed hybrid folder (``saved``: its hybrid state) keeps its settings where none are given."""
    if human_budget is None and saved.get("human_budget") is not None:  # a hybrid run resumed
        human_budget = saved["human_budget"]
        options = {k: saved.get(k, v) for k, v in options.items()}
    if human_budget is None:
        return None
    from w2s_plugin.hybrid import HybridLabeling, hybrid_resume_params

    if saved:  # the saved weak_weights/diverse unless given (the resume fingerprint)
        hybrid_params = hybrid_resume_params(saved, hybrid_params)
    return HybridLabeling(annotate, human_budget, **options, **dict(hybrid_params or {}))


def _saved_hybrid(state_dir) -> dict:
    try:
        return dict(load_state(state_dir, kind="label_studio").get("hybrid") or {})
    except StateError:
        return {}


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (set, tuple)):
        return list(v)
    return v
