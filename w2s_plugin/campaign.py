"""A multi-source campaign: each round the bandit picks a source, a batch is drawn and weak-labeled,
overlap is detected, and the source's density estimate is updated.

Crash safety. Every round is committed to ``state_dir`` before the next one starts, so a crash
(even SIGKILL or a power cut) loses at most the round in flight, and ``Campaign.resume`` continues
exactly where it stopped: same picks, same draws, nothing drawn twice, no round lost or counted
twice. The layout keeps the per-round write small however long the campaign runs:

* ``rounds.jsonl`` - an append-only log, one line per round (its row and its drawn items);
* ``detector-*.npz`` - the detector's cross-round history as a snapshot plus one small delta per
  round (only the reservoir slots that round wrote), compacted into a new snapshot now and then;
* ``state.json`` - the small commit record, replaced atomically (temp file, fsync, rename,
  directory fsync) *after* the log line and the delta are on disk: sources' used-masks, the
  bandit (random stream included), the log's committed length and the detector files in use.

On resume, log bytes past the committed length (a round that crashed before its commit) are cut
off and files the commit does not name are ignored. See docs/campaigns.md.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import plugins
from .bandit import SourceBandit
from .detector import OverlapDetector, Region
from .models import Precomputed
from .progress import progress
from .sources import Source

STATE_FILE = "state.json"
LOG_FILE = "rounds.jsonl"
STATE_VERSION = 2
ITEM_COLUMNS = ("round", "source", "id", "position", "region", "weak_label", "confidence", "overlap_score")


def atomic_write_bytes(path: Path, data: bytes, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a torn one:
    a temporary file in the same directory, fsync, rename, then fsync of the directory."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if sync_dir:
        _fsync_dir(path.parent)


def _fsync_dir(path) -> None:
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


@dataclass
class CampaignResults:
    """What a campaign produced: the per-round table, every drawn item, and regret when the truth is known.

    ``regret[i]`` is the cumulative pseudo-regret after round ``i + 1``, in overlap points: the
    sum over rounds of ``n * (best true density - true density of the source pulled)``.
    """

    rounds: list
    items: dict
    true_densities: dict | None
    regret: np.ndarray | None = field(default=None)

    def training_set(self, which: str = "overlap") -> dict:
        """Drawn items as columns (``source``, ``id``, ``position``, ``weak_label``, ``region``, ...):
        ``"overlap"`` keeps detected-overlap items only, ``"all"`` keeps every drawn item."""
        if which not in ("overlap", "all"):
            raise ValueError(f"which must be 'overlap' or 'all'; got {which!r}")
        if which == "all":
            return {k: list(v) for k, v in self.items.items()}
        keep = [i for i, r in enumerate(self.items["region"]) if r == int(Region.OVERLAP)]
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
            raise ValueError("best_share needs true densities (simulations only)")
        best = max(self.true_densities, key=self.true_densities.get)
        pulled = self.sources_pulled[skip:]
        return float(np.mean([s == best for s in pulled])) if pulled else float("nan")

    def __repr__(self) -> str:
        # Short on purpose: ``items`` holds every drawn point (hundreds of thousands of values).
        drawn = sum(r["n"] for r in self.rounds)
        found = int(sum(r["n_overlap"] for r in self.rounds))
        parts = [f"{len(self.rounds)} round(s)", f"{drawn} item(s) drawn",
                 f"{found} overlap ({found / drawn:.1%})" if drawn else "0 overlap"]
        if self.regret is not None and len(self.regret):
            parts.append(f"regret {float(self.regret[-1]):.1f}")
        return f"<CampaignResults: {', '.join(parts)}; .table() for the rounds, .training_set() for the items>"

    def table(self) -> str:
        head = f"{'round':>5} {'source':<14} {'drawn':>6} {'overlap':>8} {'density':>8}"
        if self.regret is not None:
            head += f" {'regret':>8}"
        lines = [head]
        for i, r in enumerate(self.rounds):
            line = f"{r['round']:>5} {r['source']:<14} {r['n']:>6} {r['n_overlap']:>8} {r['density']:>8.3f}"
            if self.regret is not None:
                line += f" {self.regret[i]:>8.1f}"
            lines.append(line)
        return "\n".join(lines)


class Campaign:
    """Draw batches from the sources a bandit picks, detect overlap in each, keep everything on disk.

    Parameters
    ----------
    sources : list of Source (or paths, loaded with ``Source.from_path``)
    weak_model : anything the ``w2s_weak_proba`` hook understands (an estimator with
        ``predict_proba``, a callable) or ``Precomputed("proba")``.
    embed : the strong representation: ``None`` (the features), a callable, a transformer, or
        ``Precomputed("embeddings")``.
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
    """

    #: Compact the detector deltas into a snapshot once they hold this many rows in total
    #: (times the history size), so resuming never replays more than a bounded log.
    SNAPSHOT_FACTOR = 1.0

    def __init__(self, sources, weak_model, embed=None, detector=None, bandit=None, batch_size: int = 100,
                 budget: int | None = None, state_dir=None, true_densities: dict | None = None,
                 progress: bool = True, random_state=None, resume: bool = False):
        if isinstance(sources, (str, os.PathLike, Source)):
            sources = [sources]
        srcs = [s if isinstance(s, Source) else Source.from_path(s) for s in (sources or [])]
        if not srcs:
            raise ValueError("Campaign: sources is empty; give at least one Source")
        names = [s.name for s in srcs]
        if len(set(names)) != len(names):
            raise ValueError(f"Campaign: source names must be unique; got {names}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 2:
            raise ValueError(f"Campaign: batch_size must be an integer >= 2 (detection splits each batch "
                             f"in two); got {batch_size!r}")
        largest = max(len(s) for s in srcs)
        if batch_size > largest:
            raise ValueError(f"Campaign: batch_size ({batch_size}) is larger than every source "
                             f"(the largest, {max(srcs, key=len).name!r}, has {largest} items)")
        small = [s.name for s in srcs if len(s) < 2]
        if small:
            raise ValueError(f"Campaign: source(s) {small} hold fewer than 2 items; detection needs at least 2 per batch")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, np.integer))
                                   or budget < batch_size):
            raise ValueError(f"Campaign: budget ({budget!r}) must be an integer >= batch_size ({batch_size})")
        dims = {s.name: s.n_features for s in srcs if s.n_features is not None}
        if len(set(dims.values())) > 1 and not isinstance(embed, Precomputed):
            raise ValueError("Campaign: sources have different n_features (columns of X): "
                             + ", ".join(f"{k}={v}" for k, v in dims.items())
                             + "; every source must share one feature layout")
        self.sources = {s.name: s for s in srcs}
        self.weak_model = weak_model
        self.embed = embed
        if detector is None:
            detector = OverlapDetector(accumulate=True, random_state=random_state)
        elif isinstance(detector, dict):
            detector = OverlapDetector(**{"accumulate": True, "random_state": random_state, **detector})
        if not hasattr(detector, "fit"):
            raise ValueError(f"Campaign: detector must be an OverlapDetector or a dict of its parameters; "
                             f"got {type(detector).__name__}")
        self.detector = detector
        if bandit is None or isinstance(bandit, str):
            bandit = SourceBandit(names, policy=bandit or "ucb", random_state=random_state)
        elif isinstance(bandit, dict):
            bandit = SourceBandit(names, **{"random_state": random_state, **bandit})
        if not isinstance(bandit, SourceBandit):
            raise ValueError(f"Campaign: bandit must be a SourceBandit, a policy name or a dict; got {type(bandit).__name__}")
        if list(bandit.names) != names:
            raise ValueError(f"Campaign: the bandit's sources {bandit.names} differ from the campaign's {names}")
        self.bandit = bandit
        self.batch_size = int(batch_size)
        self.budget = None if budget is None else int(budget)
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.progress = progress
        self.random_state = random_state
        if true_densities is None and all("regions" in s.extras for s in srcs):
            true_densities = {s.name: float(np.mean(np.asarray(s.extras["regions"]) == int(Region.OVERLAP)))
                              for s in srcs}
        if true_densities is not None:
            missing = sorted(set(names) - set(true_densities))
            if missing:
                raise ValueError(f"Campaign: true_densities has no entry for source(s) {missing}")
        self.true_densities = true_densities
        self.rounds: list[dict] = []
        self.items: dict[str, list] = {k: [] for k in ITEM_COLUMNS}
        # persistence bookkeeping
        self._log_bytes = 0
        self._det_snapshot: str | None = None
        self._det_deltas: list[str] = []
        self._det_delta_rows = 0
        self._log_crc = 0
        for s in srcs:
            if s.n_remaining < 2:
                self.bandit.exhaust(s.name)
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            exists = (self.state_dir / STATE_FILE).exists()
            if exists and not resume:
                raise ValueError(f"Campaign: {self.state_dir} already holds a campaign; use Campaign.resume(...) "
                                 "to continue it, or choose another state_dir")
            if exists:
                self._load()
            elif (self.state_dir / LOG_FILE).exists():  # a crash before the first commit
                (self.state_dir / LOG_FILE).unlink()
        elif resume:
            raise ValueError("Campaign.resume needs a state_dir")

    @classmethod
    def resume(cls, state_dir, sources, weak_model, embed=None, **kwargs) -> "Campaign":
        """Continue the campaign saved in ``state_dir``: same sources and models, state from disk.

        ``batch_size``, ``budget``, ``random_state`` and the detector's parameters default to the
        saved ones; the bandit (policy, counts, random stream) always comes from disk.
        """
        path = Path(state_dir) / STATE_FILE
        if not path.exists():
            raise ValueError(f"Campaign.resume: no campaign state in {state_dir} (no {STATE_FILE})")
        saved = _read_state_json(path)
        kwargs.setdefault("batch_size", saved.get("batch_size", 100))
        kwargs.setdefault("budget", saved.get("budget"))
        if "random_state" not in kwargs and isinstance(saved.get("random_state"), int):
            kwargs["random_state"] = saved["random_state"]
        if "detector" not in kwargs and isinstance(saved.get("detector_params"), dict):
            kwargs["detector"] = dict(saved["detector_params"])
        return cls(sources, weak_model, embed, state_dir=state_dir, resume=True, **kwargs)

    # -- accounting ------------------------------------------------------------------------------
    @property
    def n_drawn(self) -> int:
        return int(sum(r["n"] for r in self.rounds))

    @property
    def n_rounds(self) -> int:
        return len(self.rounds)

    @property
    def budget_left(self) -> int | None:
        return None if self.budget is None else self.budget - self.n_drawn

    @property
    def done(self) -> bool:
        if self.budget is not None and self.budget_left < 2:
            return True
        return not self.bandit.active_.any()

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

    # -- one round -------------------------------------------------------------------------------
    def _proba(self, batch):
        if isinstance(self.weak_model, Precomputed):
            return self.weak_model.from_batch(batch)
        return plugins.weak_proba(self.weak_model, batch.view("weak"))

    def _embed(self, batch):
        if isinstance(self.embed, Precomputed):
            return self.embed.from_batch(batch)
        return plugins.embed(self.embed, batch.view("strong"))

    def step(self) -> dict:
        """Run one round and commit it; returns the round's row.

        If the weak model, the representation or detection fails, nothing is consumed: the
        items stay undrawn and the bandit's random stream is rewound, so a retry is exact.
        """
        if self.done:
            raise RuntimeError("the campaign is done: budget spent or every source exhausted")
        rng_state = self.bandit.rng_.bit_generator.state
        name = self.bandit.select()
        source = self.sources[name]
        try:
            pos = source.candidates(self._batch_n(source))
            batch = source.get(pos)
            proba = np.asarray(self._proba(batch))
            emb = self._embed(batch)
            report = self.detector.fit(proba, emb).report_
        except ValueError as exc:
            self.bandit.rng_.bit_generator.state = rng_state
            raise ValueError(f"round {self.n_rounds + 1}, source {name!r}: {exc}") from exc
        except BaseException:
            self.bandit.rng_.bit_generator.state = rng_state
            raise
        source.mark_used(pos)
        n_overlap = report.n_overlap
        self.bandit.update(name, len(batch), n_overlap)
        if source.n_remaining < 2:
            self.bandit.exhaust(name)
        row = {"round": self.n_rounds + 1, "source": name, "n": len(batch), "n_overlap": int(n_overlap),
               "density": float(report.density), "hard_threshold": float(report.hard_threshold),
               "overlap_threshold": float(report.overlap_threshold), "n_hard": report.counts[Region.HARD_ONLY]}
        if self.true_densities is not None:
            best = max(self.true_densities.values())
            row["regret"] = float(len(batch) * (best - self.true_densities[name]))
        P = np.asarray(proba, dtype=np.float64)
        labels = (P > 0.5).astype(int) if P.ndim == 1 else P.argmax(axis=1)
        new_items = {
            "round": [row["round"]] * len(batch),
            "source": [name] * len(batch),
            "id": [v.item() if isinstance(v, np.generic) else v for v in batch.ids],
            "position": batch.positions.tolist(),
            "region": report.regions.astype(int).tolist(),
            "weak_label": np.asarray(labels).tolist(),
            "confidence": report.confidence.tolist(),
            "overlap_score": [None if np.isnan(v) else float(v) for v in report.overlap_score],
        }
        self.rounds.append(row)
        for k in ITEM_COLUMNS:
            self.items[k] += new_items[k]
        self._save(row, new_items)
        plugins.call_lifecycle("on_round_end", campaign=self, round=row)
        return row

    def run(self, max_rounds: int | None = None) -> "CampaignResults":
        """Run rounds until the budget is spent, every source is exhausted, or ``max_rounds`` more ran."""
        total = None
        if self.budget is not None:
            total = max(0, -(-(self.budget - self.n_drawn) // self.batch_size))
        if max_rounds is not None:
            total = max_rounds if total is None else min(total, max_rounds)
        bar = progress(total=total, desc="campaign", disable=not self.progress, unit="round")
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
        return self.budget is not None and self.budget_left >= 2 and not self.bandit.active_.any()

    def _postfix(self) -> str:
        parts = []
        for r in self.bandit.estimates():
            if r["drawn"]:
                parts.append(f"{r['source']}={r['density']:.2f}[{r['ci_low']:.2f},{r['ci_high']:.2f}]")
        return " ".join(parts)

    def results(self) -> CampaignResults:
        regret = None
        if self.true_densities is not None and self.rounds:
            regret = np.cumsum([r.get("regret", 0.0) for r in self.rounds])
        return CampaignResults(list(self.rounds), {k: list(v) for k, v in self.items.items()},
                               self.true_densities, regret)

    def training_data(self, which: str = "overlap"):
        """``(X, weak_labels, sources)`` of the drawn items (overlap-only or all), gathered from the sources;
        ``X`` is the sources' strong view (their features unless a source has a ``strong`` view)."""
        ts = self.results().training_set(which)
        Xs, ys, srcs = [], [], []
        for name, src in self.sources.items():
            sel = [i for i, s in enumerate(ts["source"]) if s == name]
            if not sel:
                continue
            strong = src.get([ts["position"][i] for i in sel]).view("strong")  # what the strong model reads
            if not hasattr(strong, "shape"):
                raise ValueError(f"training_data: source {name!r} has no feature matrix X or strong view; "
                                 "use results().training_set() and the records instead")
            Xs.append(strong)
            ys.append(np.asarray([ts["weak_label"][i] for i in sel]))
            srcs += [name] * len(sel)
        if not Xs:
            return np.empty((0, 0)), np.empty(0, dtype=int), []
        return np.vstack(Xs), np.concatenate(ys), srcs

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
        """Persist the detector's history: a small delta of the slots this round wrote, or a snapshot."""
        det = self.detector
        if not hasattr(det, "history_state") or not getattr(det, "accumulate", False):
            return
        touched = getattr(det, "_hist_touched", None)
        hist_size = int(getattr(det, "history_size", 0) or 0)
        r = self.n_rounds
        full = (touched is None or self._det_snapshot is None
                or self._det_delta_rows + touched.size > self.SNAPSHOT_FACTOR * max(hist_size, 1))
        hist = det.history_state()
        if not hist:
            return
        buf = io.BytesIO()
        if full:
            name = f"detector-snapshot-{r:08d}.npz"
            np.savez(buf, **hist)
            self._det_snapshot, self._det_deltas, self._det_delta_rows = name, [], 0
        else:
            name = f"detector-delta-{r:08d}.npz"
            np.savez(buf, slots=touched, conf=hist["conf"][touched], emb=hist["emb"][touched],
                     size=np.array(hist["conf"].size), n_seen=hist["n_seen"], rng=hist["rng"])
            self._det_deltas.append(name)
            self._det_delta_rows += int(touched.size)
        atomic_write_bytes(self.state_dir / name, buf.getvalue())

    def _save(self, row: dict, new_items: dict) -> None:
        if self.state_dir is None:
            return
        # 1. the round's log line (append + fsync); not yet committed
        line = (json.dumps({"row": row, "items": new_items}, default=_jsonable, separators=(",", ":")) + "\n").encode()
        log = self.state_dir / LOG_FILE
        with open(log, "ab") as fh:
            if fh.tell() != self._log_bytes:  # leftovers of an uncommitted round
                fh.truncate(self._log_bytes)
                fh.seek(self._log_bytes)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        log_bytes = self._log_bytes + len(line)
        # 2. the detector's history
        old_files = {self._det_snapshot, *self._det_deltas}
        self._save_detector()
        # 3. the commit record
        state = {
            "version": STATE_VERSION, "batch_size": self.batch_size, "budget": self.budget,
            "random_state": self.random_state if isinstance(self.random_state, (int, type(None))) else None,
            "detector_params": self._detector_params(),
            "n_rounds": self.n_rounds, "n_drawn": self.n_drawn,
            "n_overlap": int(sum(r["n_overlap"] for r in self.rounds)),
            "log": {"file": LOG_FILE, "bytes": log_bytes, "crc32": _crc_update(self._log_crc, line)},
            "sources": {name: s.state() for name, s in self.sources.items()},
            "bandit": self.bandit.to_dict(),
            "true_densities": self.true_densities,
            "detector": {"snapshot": self._det_snapshot, "deltas": list(self._det_deltas)},
        }
        atomic_write_bytes(self.state_dir / STATE_FILE, json.dumps(state, default=_jsonable).encode())
        self._log_bytes = log_bytes
        self._log_crc = state["log"]["crc32"]
        # 4. files the new commit no longer names (after a compaction)
        for old in old_files - {self._det_snapshot, *self._det_deltas, None}:
            (self.state_dir / old).unlink(missing_ok=True)

    def _load(self) -> None:
        path = self.state_dir / STATE_FILE
        state = _read_state_json(path)
        if set(state["sources"]) != set(self.sources):
            raise ValueError(f"{path}: the saved campaign has sources {sorted(state['sources'])}, "
                             f"but these were given: {sorted(self.sources)}")
        if state["batch_size"] != self.batch_size:
            raise ValueError(f"{path}: the saved campaign used batch_size={state['batch_size']}, "
                             f"not {self.batch_size}")
        for name, s in state["sources"].items():
            self.sources[name].load_state(s)
        self.bandit = SourceBandit.from_dict(state["bandit"])
        self.rounds, self.items, self._log_bytes, self._log_crc = _read_log(self.state_dir, state)
        if len(self.rounds) != state["n_rounds"]:
            raise ValueError(f"{path}: the round log holds {len(self.rounds)} committed rounds, "
                             f"the state says {state['n_rounds']}")
        if state.get("budget") is not None and self.budget is None:
            self.budget = state["budget"]
        if self.true_densities is None:
            self.true_densities = state.get("true_densities")
        det = state.get("detector") or {}
        self._det_snapshot = det.get("snapshot")
        self._det_deltas = list(det.get("deltas") or [])
        if self._det_snapshot and hasattr(self.detector, "load_history_state"):
            self.detector.load_history_state(self._replay_detector())
        # files of a round that crashed before its commit
        named = {self._det_snapshot, *self._det_deltas}
        for f in self.state_dir.glob("detector-*.npz"):
            if f.name not in named:
                f.unlink(missing_ok=True)

    def _replay_detector(self) -> dict:
        with np.load(self.state_dir / self._det_snapshot) as z:
            hist = {k: z[k] for k in z.files}
        conf, emb = hist["conf"], hist["emb"]
        self._det_delta_rows = 0
        for name in self._det_deltas:
            with np.load(self.state_dir / name) as z:
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


def _crc_update(crc: int, data: bytes) -> int:
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def _read_state_json(path: Path) -> dict:
    try:
        state = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it was not written by this library") from None
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{path}: state version {state.get('version')} is not {STATE_VERSION} "
                         "(written by another version of w2s_plugin)")
    return state


def _read_log(state_dir: Path, state: dict):
    """Committed rounds and items from the round log; cuts off an uncommitted tail."""
    info = state.get("log") or {}
    path = Path(state_dir) / info.get("file", LOG_FILE)
    committed = int(info.get("bytes", 0))
    rounds, items = [], {k: [] for k in ITEM_COLUMNS}
    if committed == 0:
        return rounds, items, 0, 0
    if not path.exists() or path.stat().st_size < committed:
        raise ValueError(f"{path}: the round log is shorter than the {committed} committed bytes; "
                         "the campaign directory is damaged")
    with open(path, "rb") as fh:
        data = fh.read(committed)
    crc = _crc_update(0, data)
    if info.get("crc32") is not None and crc != info["crc32"]:
        raise ValueError(f"{path}: the round log's checksum does not match the committed state; "
                         "the campaign directory is damaged")
    for line in data.splitlines():
        rec = json.loads(line)
        rounds.append(rec["row"])
        for k in ITEM_COLUMNS:
            items[k] += rec["items"][k]
    if path.stat().st_size > committed:
        with open(path, "r+b") as fh:
            fh.truncate(committed)
    return rounds, items, committed, crc


def load_state(state_dir) -> dict:
    """The saved state of a campaign (for ``w2s campaign status``), with its committed ``rounds`` and ``items``.

    Read-only: an uncommitted tail of the round log is ignored, not removed.
    """
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        raise ValueError(f"no campaign state in {state_dir} (no {STATE_FILE})")
    state = _read_state_json(path)
    info = state.get("log") or {}
    committed = int(info.get("bytes", 0))
    rounds, items = [], {k: [] for k in ITEM_COLUMNS}
    if committed:
        with open(Path(state_dir) / info.get("file", LOG_FILE), "rb") as fh:
            data = fh.read(committed)
        for line in data.splitlines():
            rec = json.loads(line)
            rounds.append(rec["row"])
            for k in ITEM_COLUMNS:
                items[k] += rec["items"][k]
    state["rounds"], state["items"] = rounds, items
    return state
