"""``MultiSourceLearner``: a modAL learner that lets a bandit choose which pool each query comes from.

Each query, the bandit picks a source; only a window of ``batch_size`` unused candidates of that
source is scored (weak probabilities from the learner, overlap detection, a registered strategy),
and the best ``n_instances`` are returned for labelling. ``teach`` gives the labels to the learner,
marks the items used and rewards the source, so pulls drift toward the pools whose overlap
density is highest. State (bandit, sources, which items have been scored, the query awaiting
labels, every label taught) is written atomically after each call, so a crash loses nothing and
:meth:`MultiSourceLearner.resume` continues where it stopped.

Evidence is counted once per item. Only ``n_instances`` of a window are taught; the rest stay
unused and come back in later windows (after the source's unused items have all been visited,
windows wrap around to them). Counting every window in full would count those items again and
again as new draws: the bandit's ``drawn`` would exceed the pool and its intervals would shrink
on repeated, not new, evidence. So the learner keeps, per source, a mask of the items already
scored, and rewards a pull with only the window's *first-time* items: ``bandit.update(source,
n_fresh, n_overlap among them)``. Windows are taken in the source's (shuffled) draw order,
independently of the scores, so the scored items are a uniform sample of the pool without
replacement and ``overlap / drawn`` estimates the pool's detected overlap share; once a pool
is fully scored it is the share over the whole pool. A pull whose window holds no first-time
item still counts as a pull (``rounds`` and the bandit's clock advance, its per-round mean
is unchanged) but adds no drawn or overlap items: round-robin moves on, and the UCB bonuses of
the other sources keep growing with ``t``, so they are revisited as usual.
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from pathlib import Path

import numpy as np

from w2s_plugin import plugins
from w2s_plugin.bandit import SourceBandit
from w2s_plugin.campaign import _jsonable, atomic_write_bytes
from w2s_plugin.detector import OverlapDetector, Region
from w2s_plugin.models import Precomputed
from w2s_plugin.sources import Source

from .strategy import score_pool, weak_proba_of

STATE_FILE = "learner_state.json"
STATE_KIND = "w2s_plugin.MultiSourceLearner"
STATE_VERSION = 2   # 2: adds the per-source masks of scored items (evidence counted once per item)


def _pack(mask: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.packbits(mask).tobytes(), 6)).decode("ascii")


def _unpack(s: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(zlib.decompress(base64.b64decode(s)), dtype=np.uint8), count=n).astype(bool)


def _count_pull_without_evidence(bandit: SourceBandit, name: str) -> None:
    """A pull that saw no first-time item: advance its round count and the clock, add no items.

    ``SourceBandit.update`` needs at least one item; here the per-round reward sum grows by the
    source's current per-round mean, so per-round policies see an unchanged mean.
    """
    k = bandit.names.index(name)
    r = int(bandit.rounds_[k])
    bandit.reward_sum_[k] += bandit.reward_sum_[k] / r if r else 0.0
    bandit.rounds_[k] += 1
    bandit.t_ += 1


class MultiSourceLearner:
    """Query a modAL learner from several pools, choosing the pool by its overlap density.

    Parameters
    ----------
    learner : modAL ``ActiveLearner`` or ``Committee``, fitted on a seed set (it is the weak model).
    sources : list of :class:`~w2s_plugin.Source` (names unique, same feature space).
    bandit : ``None`` (``ucb``), a policy name, or a :class:`~w2s_plugin.SourceBandit` over the same names.
    batch_size : candidates scored per query (a window of the chosen source's unused items).
    strategy : registered acquisition strategy ranking the window (default ``overlap``).
    strategy_params : extra keyword arguments for the strategy.
    embed : the strong representation: ``None`` (the features), a transformer or callable (via the
        ``w2s_embed`` hook), or ``Precomputed("embeddings")`` (an array stored with each source).
    detector : ``OverlapDetector``; default one that accumulates history across queries, so the
        thresholds, and hence the densities, are comparable between sources.
    state_dir : directory for the state file (``None``: in memory only).
    random_state : seeds the bandit, the detector and the strategy.
    """

    def __init__(self, learner, sources, bandit=None, batch_size: int = 256, strategy: str = "overlap",
                 embed=None, detector=None, state_dir=None, random_state=None, strategy_params: dict | None = None,
                 _resume: bool = False):
        if isinstance(sources, dict):
            sources = list(sources.values())
        srcs = list(sources or [])
        if not srcs or not all(isinstance(s, Source) for s in srcs):
            raise ValueError("MultiSourceLearner: sources must be a non-empty list of w2s_plugin.Source")
        names = [s.name for s in srcs]
        if len(set(names)) != len(names):
            raise ValueError(f"MultiSourceLearner: source names must be unique; got {names}")
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"MultiSourceLearner: batch_size must be a positive integer; got {batch_size!r}")
        if not callable(getattr(learner, "teach", None)) or not hasattr(learner, "predict_proba"):
            raise ValueError("MultiSourceLearner: learner must be a modAL ActiveLearner or Committee "
                             f"(with teach and predict_proba); got {type(learner).__name__}")
        plugins.lookup("acquisition_strategies", strategy, "acquisition strategy")
        self.learner = learner
        self.sources = {s.name: s for s in srcs}
        if bandit is None or isinstance(bandit, str):
            bandit = SourceBandit(names, policy=bandit or "ucb", random_state=random_state)
        if not isinstance(bandit, SourceBandit):
            raise ValueError(f"bandit must be None, a policy name or a SourceBandit; got {type(bandit).__name__}")
        if list(bandit.names) != names:
            raise ValueError(f"the bandit's sources {bandit.names} differ from the learner's {names}")
        self.bandit = bandit
        self.batch_size = int(batch_size)
        self.strategy = strategy
        self.strategy_params = dict(strategy_params or {})
        self.embed = embed
        self.detector = detector if detector is not None else OverlapDetector(accumulate=True,
                                                                             random_state=random_state)
        self.random_state = random_state
        self.state_dir = None if state_dir is None else Path(state_dir)
        self.pending: dict | None = None
        self.offsets = {n: 0 for n in names}
        self.scored = {s.name: np.zeros(len(s), dtype=bool) for s in srcs}  # items whose evidence is counted
        self.n_queries = 0
        self.history: list[dict] = []   # one row per taught batch
        self.taught: list[dict] = []    # every teach call, in order: {"source", "positions", "y"}
        for s in srcs:
            if s.exhausted:
                self.bandit.exhaust(s.name)
        if self.state_dir is not None:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            exists = (self.state_dir / STATE_FILE).exists()
            if exists and not _resume:
                raise ValueError(f"MultiSourceLearner: {self.state_dir} already holds a learner's state; use "
                                 "MultiSourceLearner.resume(...) to continue it, or choose another state_dir")
            if exists:
                self._load()
        elif _resume:
            raise ValueError("MultiSourceLearner.resume needs a state_dir")

    @classmethod
    def resume(cls, state_dir, learner, sources, reteach: bool = True, **kwargs) -> "MultiSourceLearner":
        """Continue from ``state_dir`` with the same sources (and settings passed again in ``kwargs``).

        ``reteach=True`` (for a learner rebuilt from its seed set after a crash) teaches it every
        label recorded so far, in one call; pass ``False`` if ``learner`` already holds them.
        """
        if not (Path(state_dir) / STATE_FILE).exists():
            raise ValueError(f"MultiSourceLearner.resume: no state in {state_dir} (no {STATE_FILE})")
        self = cls(learner, sources, state_dir=state_dir, _resume=True, **kwargs)
        if reteach:
            Xs = [self._features(self.sources[t["source"]].get(t["positions"])) for t in self.taught]
            ys = [np.asarray(t["y"]) for t in self.taught]
            if Xs:  # same rows in the same order as the original calls, so the refit model is the same
                self.learner.teach(np.vstack(Xs), np.concatenate(ys))
        return self

    # -- the loop --------------------------------------------------------------------------------
    @staticmethod
    def _features(batch):
        if batch.X is None:
            raise ValueError(f"source {batch.source!r} has no features X; the modAL learner needs numeric rows")
        return batch.X

    def _embed(self, batch):
        if isinstance(self.embed, Precomputed):
            return self.embed.from_batch(batch)
        return plugins.embed(self.embed, self._features(batch))

    def _window(self, source: Source) -> tuple[np.ndarray, int]:
        """The next ``batch_size`` unused items after the previous window (wrapping), and its offset."""
        remaining = source.n_remaining
        if remaining <= self.batch_size:
            return source.candidates(remaining), 0
        off = self.offsets[source.name] % remaining
        cand = source.candidates(off + self.batch_size)
        win = cand[off:]
        if win.size < self.batch_size:  # wrap around to the start of the unused items
            win = np.concatenate([win, cand[:self.batch_size - win.size]])
        return win, off

    def _seed(self):
        if self.random_state is None or not isinstance(self.random_state, (int, np.integer)):
            return None
        return int(np.random.SeedSequence([int(self.random_state), self.n_queries]).generate_state(1)[0])

    def query(self, n_instances: int = 1):
        """``(source_name, positions, X)``: the items to label next, from the source the bandit picks.

        ``positions`` address items of that source (pass them back to :meth:`teach`). While a query
        awaits its labels, calling ``query`` again returns it unchanged (so a restart asks again
        for the same items instead of losing them).
        """
        if not isinstance(n_instances, (int, np.integer)) or isinstance(n_instances, bool) or n_instances < 1:
            raise ValueError(f"n_instances must be a positive integer; got {n_instances!r}")
        if n_instances > self.batch_size:
            raise ValueError(f"n_instances={n_instances} is larger than batch_size={self.batch_size}, the number "
                             "of candidates scored per query; raise batch_size or ask for fewer")
        if self.pending is not None:
            p = self.pending
            pos = np.asarray(p["positions"], dtype=np.int64)
            return p["source"], pos, self._features(self.sources[p["source"]].get(pos))
        name = self.bandit.select()
        source = self.sources[name]
        window, off = self._window(source)
        batch = source.get(window)
        X = self._features(batch)
        proba = weak_proba_of(self.learner, X)
        emb = self._embed(batch)
        n = int(min(n_instances, window.size))
        det = self.detector
        if window.size < 2 and not hasattr(det, "hard_threshold_"):
            raise ValueError(f"source {name!r} has a single item left and the detector is not fitted yet")
        idx, scores, report = score_pool(proba, emb, n, strategy=self.strategy, detector=det,
                                         random_state=self._seed(), source=name, refit=True,
                                         **self.strategy_params)
        n_overlap = report.n_overlap if report is not None else 0
        fresh = ~self.scored[name][window]
        n_overlap_fresh = int(report.mask(Region.OVERLAP)[fresh].sum()) if report is not None else 0
        self.n_queries += 1
        self.offsets[name] = off + window.size
        self.pending = {"source": name, "positions": window[idx].tolist(), "scores": scores.tolist(),
                        "n_candidates": int(window.size), "n_overlap": int(n_overlap),
                        "density": float(n_overlap / window.size), "query": self.n_queries,
                        "fresh": window[fresh].tolist(), "n_overlap_fresh": n_overlap_fresh}
        self._save()
        return name, window[idx], X[idx]

    def teach(self, source_name: str, indices, y, **teach_kwargs):
        """Teach the learner the labels ``y`` of ``indices`` (positions) of ``source_name``.

        Marks the items used, calls the ``after_teach`` hook, and, when they answer the pending
        query, rewards that source with the overlap count among the window's first-time items
        (see the module docstring) and marks them scored.
        """
        if source_name not in self.sources:
            raise ValueError(f"unknown source {source_name!r}; sources are {', '.join(self.sources)}")
        source = self.sources[source_name]
        pos = np.asarray(indices, dtype=np.int64).reshape(-1)
        y_arr = np.asarray(y)
        if pos.size == 0:
            raise ValueError("teach: indices is empty")
        if y_arr.shape[0] != pos.size:
            raise ValueError(f"teach: {pos.size} indices but {y_arr.shape[0]} labels; pass one label per index")
        if pos.min() < 0 or pos.max() >= len(source):
            raise ValueError(f"teach: indices out of range for source {source_name!r} (0..{len(source) - 1})")
        X = self._features(source.get(pos))
        self.learner.teach(X, y_arr, **teach_kwargs)
        source.mark_used(pos)
        self.taught.append({"source": source_name, "positions": pos.tolist(), "y": y_arr.tolist()})
        plugins.call_lifecycle("after_teach", source=source_name, indices=pos, y=y_arr)
        p = self.pending
        row = {"query": None, "source": source_name, "n_taught": int(pos.size)}
        if p is not None and p["source"] == source_name:
            fresh = np.asarray(p["fresh"], dtype=np.int64)
            fresh = fresh[~self.scored[source_name][fresh]]  # defensive: only never-counted items
            n_fresh = int(fresh.size)
            n_ov = min(int(p["n_overlap_fresh"]), n_fresh)
            if n_fresh:
                self.bandit.update(source_name, n_fresh, n_ov)
                self.scored[source_name][fresh] = True
            else:
                _count_pull_without_evidence(self.bandit, source_name)
            # taught items inside the scored window no longer count towards the next window's offset
            in_window = int(np.isin(pos, np.asarray(p["positions"])).sum())
            self.offsets[source_name] = max(0, self.offsets[source_name] - in_window)
            row.update(query=p["query"], n_candidates=p["n_candidates"], n_overlap=p["n_overlap"],
                       density=p["density"], n_fresh=n_fresh, n_overlap_fresh=n_ov)
            self.pending = None
        if source.exhausted:
            self.bandit.exhaust(source_name)
        self.history.append(row)
        self._save()
        return self

    def discard(self):
        """Drop the pending query without teaching it (its items stay available; no reward)."""
        self.pending = None
        self._save()
        return self

    # -- reporting -------------------------------------------------------------------------------
    def pulls(self) -> dict:
        """Answered queries (bandit pulls) per source so far, with or without first-time items."""
        return {n: int(r) for n, r in zip(self.bandit.names, self.bandit.rounds_)}

    def summary(self) -> str:
        """The bandit's table: pulls, items scored once (``drawn`` <= pool size), overlap, density."""
        return self.bandit.summary()

    # -- persistence -----------------------------------------------------------------------------
    def _save(self) -> None:
        if self.state_dir is None:
            return
        det_file = None
        hist = self.detector.history_state() if hasattr(self.detector, "history_state") else {}
        if hist:
            det_file = f"learner-detector-{self.n_queries:06d}.npz"
            buf = io.BytesIO()
            np.savez(buf, **hist)
            atomic_write_bytes(self.state_dir / det_file, buf.getvalue())
        state = {
            "kind": STATE_KIND, "version": STATE_VERSION, "batch_size": self.batch_size, "strategy": self.strategy,
            "sources": {n: s.state() for n, s in self.sources.items()}, "bandit": self.bandit.to_dict(),
            "pending": self.pending, "offsets": self.offsets, "n_queries": self.n_queries,
            "scored": {n: _pack(m) for n, m in self.scored.items()},
            "history": self.history, "taught": self.taught, "detector_file": det_file,
        }
        atomic_write_bytes(self.state_dir / STATE_FILE, json.dumps(state, default=_jsonable).encode())
        for old in self.state_dir.glob("learner-detector-*.npz"):
            if old.name != det_file:
                old.unlink(missing_ok=True)

    def _load(self) -> None:
        path = self.state_dir / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from None
        if state.get("kind") != STATE_KIND:
            raise ValueError(f"{path} was not written by a MultiSourceLearner")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{path} is a version {state.get('version')} MultiSourceLearner state; this version reads "
                             f"version {STATE_VERSION} (version 1 counted re-scored items as new evidence and did not "
                             "record which items were scored, so it cannot be continued exactly): start a new "
                             "state_dir, teaching the labels of the old run as seed labels")
        if set(state["sources"]) != set(self.sources):
            raise ValueError(f"{path}: the saved learner has sources {sorted(state['sources'])}, "
                             f"but these were given: {sorted(self.sources)}")
        if state["batch_size"] != self.batch_size:
            raise ValueError(f"{path}: the saved learner used batch_size={state['batch_size']}, not {self.batch_size}")
        for name, s in state["sources"].items():
            self.sources[name].load_state(s)
        self.bandit = SourceBandit.from_dict(state["bandit"])
        self.pending = state["pending"]
        self.offsets = {k: int(v) for k, v in state["offsets"].items()}
        self.scored = {k: _unpack(v, len(self.sources[k])) for k, v in state["scored"].items()}
        self.n_queries = int(state["n_queries"])
        self.history = state["history"]
        self.taught = state["taught"]
        if state.get("detector_file") and hasattr(self.detector, "load_history_state"):
            with np.load(self.state_dir / state["detector_file"]) as z:
                self.detector.load_history_state({k: z[k] for k in z.files})
            # thresholds are refitted from the history on the next query
        return None

