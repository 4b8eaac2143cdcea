"""A multi-source campaign: each round the bandit picks a source, a batch is drawn and weak-labeled,
overlap is detected, and the source's density estimate is updated. State is written atomically
after every round, so a crash loses at most the round in flight and ``Campaign.resume``
continues exactly where it stopped (same picks, same draws, nothing drawn twice).
"""

from __future__ import annotations

import json
import os
import tempfile
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
STATE_VERSION = 1


def atomic_write_bytes(path: Path, data: bytes) -> None:
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
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


@dataclass
class CampaignResults:
    """What a campaign produced: the per-round table, every drawn item, and regret when the truth is known."""

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
        return np.cumsum([r["n_overlap"] for r in self.rounds])

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
    batch_size : points per round.
    budget : total points to draw (default: until every source is exhausted).
    state_dir : where state is written after every round (``None``: in memory only).
    true_densities : ``{source: density}`` for simulations; taken from each source's
        ``extras["regions"]`` when all have it. Enables regret.
    progress : show a progress bar in ``run()``.
    random_state : seeds the bandit and detector when they are built here.
    """

    def __init__(self, sources, weak_model, embed=None, detector=None, bandit=None, batch_size: int = 100,
                 budget: int | None = None, state_dir=None, true_densities: dict | None = None,
                 progress: bool = True, random_state=None, resume: bool = False):
        srcs = [s if isinstance(s, Source) else Source.from_path(s) for s in (sources or [])]
        if not srcs:
            raise ValueError("Campaign: sources is empty; give at least one Source")
        names = [s.name for s in srcs]
        if len(set(names)) != len(names):
            raise ValueError(f"Campaign: source names must be unique; got {names}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"Campaign: batch_size must be a positive integer; got {batch_size!r}")
        largest = max(len(s) for s in srcs)
        if batch_size > largest:
            raise ValueError(f"Campaign: batch_size ({batch_size}) is larger than every source "
                             f"(the largest, {max(srcs, key=len).name!r}, has {largest} items)")
        if budget is not None and (not isinstance(budget, (int, np.integer)) or budget < batch_size):
            raise ValueError(f"Campaign: budget ({budget!r}) must be an integer >= batch_size ({batch_size})")
        dims = {s.name: s.n_features for s in srcs if s.n_features is not None}
        if len(set(dims.values())) > 1 and not isinstance(embed, Precomputed):
            raise ValueError("Campaign: sources have different numbers of features: "
                             + ", ".join(f"{k}={v}" for k, v in dims.items()) + "; every source must share one representation")
        self.sources = {s.name: s for s in srcs}
        self.weak_model = weak_model
        self.embed = embed
        if detector is None:
            detector = OverlapDetector(accumulate=True, random_state=random_state)
        elif isinstance(detector, dict):
            detector = OverlapDetector(**{"accumulate": True, "random_state": random_state, **detector})
        self.detector = detector
        if bandit is None or isinstance(bandit, str):
            bandit = SourceBandit(names, policy=bandit or "ucb", random_state=random_state)
        elif isinstance(bandit, dict):
            bandit = SourceBandit(names, random_state=random_state, **bandit)
        if list(bandit.names) != names:
            raise ValueError(f"Campaign: the bandit's sources {bandit.names} differ from the campaign's {names}")
        self.bandit = bandit
        self.batch_size = int(batch_size)
        self.budget = None if budget is None else int(budget)
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.progress = progress
        self.random_state = random_state
        if true_densities is None and all("regions" in s.extras for s in srcs):
            true_densities = {s.name: float(np.mean(np.asarray(s.extras["regions"]) == int(Region.OVERLAP))) for s in srcs}
        self.true_densities = true_densities
        self.rounds: list[dict] = []
        self.items: dict[str, list] = {k: [] for k in ("round", "source", "id", "position", "region", "weak_label",
                                                         "confidence", "overlap_score")}
        for s in srcs:
            if s.exhausted:
                self.bandit.exhaust(s.name)
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            exists = (self.state_dir / STATE_FILE).exists()
            if exists and not resume:
                raise ValueError(f"Campaign: {self.state_dir} already holds a campaign; use Campaign.resume(...) "
                                 "to continue it, or choose another state_dir")
            if exists:
                self._load()
        elif resume:
            raise ValueError("Campaign.resume needs a state_dir")

    @classmethod
    def resume(cls, state_dir, sources, weak_model, embed=None, **kwargs) -> "Campaign":
        """Continue the campaign saved in ``state_dir``: same sources and models, state from disk."""
        if not (Path(state_dir) / STATE_FILE).exists():
            raise ValueError(f"Campaign.resume: no campaign state in {state_dir} (no {STATE_FILE})")
        return cls(sources, weak_model, embed, state_dir=state_dir, resume=True, **kwargs)

    # -- accounting ------------------------------------------------------------------------------
    @property
    def n_drawn(self) -> int:
        return int(sum(r["n"] for r in self.rounds))

    @property
    def n_rounds(self) -> int:
        return len(self.rounds)

    @property
    def done(self) -> bool:
        if self.budget is not None and self.n_drawn >= self.budget:
            return True
        return not self.bandit.active_.any()

    # -- one round -------------------------------------------------------------------------------
    def _proba(self, batch):
        if isinstance(self.weak_model, Precomputed):
            return self.weak_model.from_batch(batch)
        return plugins.weak_proba(self.weak_model, batch.X if batch.X is not None else batch.records)

    def _embed(self, batch):
        if isinstance(self.embed, Precomputed):
            return self.embed.from_batch(batch)
        return plugins.embed(self.embed, batch.X if batch.X is not None else batch.records)

    def step(self) -> dict:
        """Run one round and persist it; returns the round's row."""
        if self.done:
            raise RuntimeError("the campaign is done: budget spent or every source exhausted")
        name = self.bandit.select()
        source = self.sources[name]
        n = self.batch_size if self.budget is None else min(self.batch_size, self.budget - self.n_drawn)
        batch = source.draw(n)
        proba = np.asarray(self._proba(batch))
        emb = self._embed(batch)
        if len(batch) >= 2 or not hasattr(self.detector, "hard_threshold_"):
            report = self.detector.fit(proba, emb).report_
        else:  # a last single item: judge it with the thresholds fitted so far
            report = self.detector.predict_report(proba, emb)
        n_overlap = report.n_overlap
        self.bandit.update(name, len(batch), n_overlap)
        if source.exhausted:
            self.bandit.exhaust(name)
        row = {"round": self.n_rounds + 1, "source": name, "n": len(batch), "n_overlap": int(n_overlap),
               "density": float(report.density), "hard_threshold": float(report.hard_threshold),
               "overlap_threshold": float(report.overlap_threshold), "n_hard": report.counts[Region.HARD_ONLY]}
        if self.true_densities is not None:
            best = max(self.true_densities.values())
            row["regret"] = float(len(batch) * (best - self.true_densities[name]))
        self.rounds.append(row)
        P = np.asarray(proba, dtype=np.float64)
        labels = (P > 0.5).astype(int) if P.ndim == 1 else P.argmax(axis=1)
        it = self.items
        it["round"] += [row["round"]] * len(batch)
        it["source"] += [name] * len(batch)
        it["id"] += [v.item() if isinstance(v, np.generic) else v for v in batch.ids]
        it["position"] += batch.positions.tolist()
        it["region"] += report.regions.astype(int).tolist()
        it["weak_label"] += np.asarray(labels).tolist()
        it["confidence"] += report.confidence.tolist()
        it["overlap_score"] += [None if np.isnan(v) else float(v) for v in report.overlap_score]
        self._save()
        plugins.call_lifecycle("on_round_end", campaign=self, round=row)
        return row

    def run(self, max_rounds: int | None = None) -> "CampaignResults":
        """Run rounds until the budget is spent, every source is exhausted, or ``max_rounds`` more ran."""
        total = None
        if self.budget is not None:
            total = -(-(self.budget - self.n_drawn) // self.batch_size)
        if max_rounds is not None:
            total = max_rounds if total is None else min(total, max_rounds)
        bar = progress(total=total, desc="campaign", disable=not self.progress, unit="round")
        ran = 0
        try:
            while not self.done and (max_rounds is None or ran < max_rounds):
                self.step()
                ran += 1
                bar.update(1)
                est = " ".join(f"{r['source']}={r['density']:.2f}" for r in self.bandit.estimates() if r["drawn"])
                bar.set_postfix_str(est)
        finally:
            bar.close()
        if self.done:
            plugins.call_lifecycle("on_campaign_end", campaign=self)
        return self.results()

    def results(self) -> CampaignResults:
        regret = None
        if self.true_densities is not None and self.rounds:
            regret = np.cumsum([r.get("regret", 0.0) for r in self.rounds])
        return CampaignResults(list(self.rounds), {k: list(v) for k, v in self.items.items()},
                               self.true_densities, regret)

    def training_data(self, which: str = "overlap"):
        """``(X, weak_labels, sources)`` of the drawn items (overlap-only or all), gathered from the sources."""
        ts = self.results().training_set(which)
        Xs, ys, srcs = [], [], []
        for name, src in self.sources.items():
            sel = [i for i, s in enumerate(ts["source"]) if s == name]
            if not sel:
                continue
            batch = src.get([ts["position"][i] for i in sel])
            Xs.append(batch.X)
            ys.append(np.asarray([ts["weak_label"][i] for i in sel]))
            srcs += [name] * len(sel)
        if not Xs:
            return np.empty((0, 0)), np.empty(0, dtype=int), []
        return np.vstack(Xs), np.concatenate(ys), srcs

    # -- persistence -----------------------------------------------------------------------------
    def _detector_file(self, round_no: int) -> str:
        return f"detector-{round_no:06d}.npz"

    def _save(self) -> None:
        if self.state_dir is None:
            return
        det_file = None
        hist = self.detector.history_state() if hasattr(self.detector, "history_state") else {}
        if hist:
            import io

            det_file = self._detector_file(self.n_rounds)
            buf = io.BytesIO()
            np.savez(buf, **hist)
            atomic_write_bytes(self.state_dir / det_file, buf.getvalue())
        state = {
            "version": STATE_VERSION, "batch_size": self.batch_size, "budget": self.budget,
            "sources": {name: s.state() for name, s in self.sources.items()},
            "bandit": self.bandit.to_dict(), "rounds": self.rounds, "items": self.items,
            "true_densities": self.true_densities, "detector_file": det_file,
        }
        atomic_write_bytes(self.state_dir / STATE_FILE, json.dumps(state, default=_jsonable).encode())
        for old in self.state_dir.glob("detector-*.npz"):  # only after the new state points elsewhere
            if old.name != det_file:
                old.unlink(missing_ok=True)

    def _load(self) -> None:
        path = self.state_dir / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); it was not written by this library") from None
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{path}: state version {state.get('version')} is not {STATE_VERSION}")
        if set(state["sources"]) != set(self.sources):
            raise ValueError(f"{path}: the saved campaign has sources {sorted(state['sources'])}, "
                             f"but these were given: {sorted(self.sources)}")
        if state["batch_size"] != self.batch_size:
            raise ValueError(f"{path}: the saved campaign used batch_size={state['batch_size']}, "
                             f"not {self.batch_size}")
        for name, s in state["sources"].items():
            self.sources[name].load_state(s)
        self.bandit = SourceBandit.from_dict(state["bandit"])
        self.rounds = state["rounds"]
        self.items = state["items"]
        if state.get("budget") is not None and self.budget is None:
            self.budget = state["budget"]
        if state.get("detector_file") and hasattr(self.detector, "load_history_state"):
            with np.load(self.state_dir / state["detector_file"]) as z:
                self.detector.load_history_state({k: z[k] for k in z.files})


def load_state(state_dir) -> dict:
    """The raw saved state of a campaign (for ``w2s campaign status``)."""
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        raise ValueError(f"no campaign state in {state_dir} (no {STATE_FILE})")
    return json.loads(path.read_text())
