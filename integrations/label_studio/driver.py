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
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from w2s_plugin import plugins
from w2s_plugin.detector import Region, W2SWarning
from w2s_plugin.engine import STATE_FILE, Engine, engine_attributes
from w2s_plugin.errors import StateError, W2SError
from w2s_plugin.progress import progress as progress_bar
from w2s_plugin.settings import RunSettings
from w2s_plugin.sources import Source

from .backend import OverlapDensityBackend, project_key
from .client import ANNOTATED_QUERY, as_http_client

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
    ):
        self.client = client
        self.project = int(project_key(project))
        srcs = list(sources or [])
        if not srcs or not all(isinstance(s, Source) for s in srcs):
            raise W2SError("CampaignDriver needs a non-empty list of Source objects")
        if batch_size is not None:  # checked before any request
            RunSettings(batch_size=batch_size).check_batch_size("CampaignDriver")
        sd = None if state_dir is None else Path(state_dir)
        if backend is None:
            backend = OverlapDensityBackend(
                model_dir=None if sd is None else sd / "model",
                random_state=random_state if isinstance(random_state, int) else 0,
            )
        self.backend, self.progress, self._state_dir = backend, progress, sd
        self.http = as_http_client(client, hint=self._resume_hint)
        proj = self.http.project(self.project)
        self.label_config = proj["label_config"]
        self.project_version = proj.get("model_version") or ""
        if self.project_version:  # predictions carry the version the score column counts
            self.backend.set_label(self.project, self.project_version)
        self.schema = self.backend.schema(self.project, self.label_config)
        self.text_column = text_column or self.schema.value_key
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
        resume = sd is not None and any((sd / f).exists() for f in (STATE_FILE, "label_studio_campaign.json"))
        self.engine = Engine(
            srcs,
            self._weak_proba,
            self._embed,
            kind="label_studio",
            owner="CampaignDriver",
            settings=RunSettings(
                bandit=bandit,
                batch_size=batch_size,
                state_dir=sd,
                reward=reward,
                reward_params=reward_params,
                gold=gold,
                classes=list(self.schema.choices) if classes is None else classes,
                random_state=random_state,
            ),
            resume=resume,
        )
        x = self.engine.extra
        if resume and x.get("project") != self.project:
            raise StateError(
                f"{sd} belongs to Label Studio project {x.get('project')}, not {self.project}; "
                "use another state_dir"
            )
        self._warned_cold, self._gold = False, gold
        self.n_annotated_seen = x.get("n_annotated_seen", -1)
        self.annotation_stats: dict = x.get("annotation_stats", {})

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
        out = self.backend.add_annotations(self.project, pairs, self.label_config, replace=True)
        self.n_annotated_seen = len(tasks)
        self.annotation_stats = stats
        if self._gold is not None:  # the user's gold sample first, then the annotated tasks
            gold = (list(self._gold[0]) + gold[0], list(self._gold[1]) + gold[1])
        self.engine.gold = (gold[0], np.asarray(gold[1])) if gold[1] else None
        return {"annotated": len(tasks), "retrained": out["trained"], "model_version": out["model_version"]}

    # -- one round -------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return not self.bandit.any_active

    def run_round(self, existing: set | None = None) -> dict:
        """One round; ``existing`` is the set from :meth:`existing_items` (listed here if not given)."""
        if self.done:
            raise RuntimeError("every source is exhausted: nothing left to import")
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
                self.http.set_model_version(self.project, preds[0]["model_version"])
                self.project_version = preds[0]["model_version"]
            for t, _ in new:
                existing.add((t["data"][SOURCE_KEY], t["data"][ITEM_KEY]))
        source.mark_used(positions)
        e.extra = {
            "project": self.project,
            "n_annotated_seen": self.n_annotated_seen,
            "annotation_stats": self.annotation_stats,
        }
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


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (set, tuple)):
        return list(v)
    return v
