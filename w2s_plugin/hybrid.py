"""Hybrid campaigns: people label where weak labels fail, weak labels fill in where they pay.

One implementation behind every front-end (``Campaign(annotate=...)``, the modAL
``MultiSourceLearner(human_budget=...)``, the Label Studio people's queue). The engine draws and
weak-labels batches as before; :class:`HybridLabeling` adds, per round:

1. **Audit.** A random ``audit_share`` of the round's human quota is drawn uniformly from the
   round's batch (before any routing), so the audited items are an unbiased sample of what that
   source yields: their human labels give weak-label precision per source and per region
   (:meth:`HybridLabeling.audit_table`, Wilson intervals) and an unbiased, *prequential* estimate
   of the strong model's accuracy (each audited item is scored by the model fitted before its
   label was known).
2. **Routing.** The rest of the quota goes to the drawn items (of every round so far) whose weak
   labels are least trustworthy: while there are too few human labels to fit a strong model,
   hard-only items first (lowest weak confidence first); after that, the items the strong model
   (fitted on the current training set) is least sure of. With ``diverse=True`` the batch is a
   core-set (farthest-first) pick among the ``candidate_factor * n`` most uncertain candidates, in
   the standardized strong representation, so one batch does not hold near-duplicates.
3. **Asking.** ``annotate(batch)`` gets a :class:`~w2s_plugin.sources.Batch` per source and returns
   one class label per item. With ``human_step=n`` the routed part of a round is asked ``n`` at a
   time, the strong model refitted on the answers so far before the next ``n`` are picked. Every
   answer is appended to ``human_labels.jsonl`` in ``state_dir`` and fsync'ed *before* the round
   goes on, and an item with a saved answer is never asked again: a round replayed after a crash
   reads its answers from that file instead of asking (and so picks the same steps).
4. **Weighing.** ``training_set()`` is ``(X, y, sample_weight)``: gold and human labels at weight
   1, every other drawn item's weak label at ``weak_weight_``. The weight is chosen among
   ``weak_weights`` (default ``(1, 0.3, 0.1, 0)``). It starts at 0.1 and is re-chosen each time the
   number of labels doubled, among the current weight and its two neighbours in the sorted
   candidates, moving only on a paired win larger than its standard error: one step at a time, so
   it does not jump around on noise. Each candidate is scored, once there are ``MIN_HELD`` audit
   and gold labels, on those (a uniform, held-out sample: one fit per candidate on the other labels;
   ``weight_choice="audit"``, the default), before that by cross-fitting on all gold and human
   labels (``weight_choice="crossfit"`` always does). These fits keep a seeded sample of the weak
   rows and start from the previous candidate's solution, so a choice costs a few small fits.
5. **Stopping.** At each re-choice the labels added since the previous one are left out of the
   training fits once: the paired change in held-out accuracy, per 100 labels, is the value
   of the last human batch (``value_per_100_``). ``stop_when=x`` stops the campaign when it falls
   below ``x`` points per 100 labels (``stop_when`` may also be ``callable(status) -> bool``).

A front-end that cannot call people synchronously (Label Studio) uses the two halves directly:
:meth:`HybridLabeling.plan` (which items, by source, without asking) and :meth:`HybridLabeling.
record_answers` (store answers that arrived), then :meth:`HybridLabeling.apply` when the round
is committed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .bandit import wilson_interval
from .detector import Region
from .errors import DataError, StateError, W2SError

__all__ = [
    "ANSWERS_FILE",
    "WEAK_WEIGHTS",
    "HumanRequest",
    "HybridLabeling",
    "diverse_pick",
    "wilson",
]

ANSWERS_FILE = "human_labels.jsonl"
#: Candidate weights of a weak label relative to a human one (the first is never the default).
WEAK_WEIGHTS = (1.0, 0.3, 0.1, 0.0)
DEFAULT_WEAK_WEIGHT = 0.1
#: held-out (audit and gold) labels needed before weight_choice="audit" scores on them alone
MIN_HELD = 30
REGION_NAMES = {int(r): r.name.lower() for r in Region}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float, float]:
    """``(k / n, low, high)``: the proportion and its Wilson score interval (``nan`` for ``n == 0``)."""
    if n <= 0:
        return float("nan"), float("nan"), float("nan")
    low, high = wilson_interval(k, n, z)
    return float(k / n), float(low), float(high)


def _standardize(E, mu, sd):
    return (np.asarray(E, dtype=np.float64) - mu) / sd


def diverse_pick(E, scores, n: int, candidate_factor: int = 5) -> np.ndarray:
    """Indices of ``n`` items with high ``scores`` that are not near-duplicates of each other.

    Among the ``candidate_factor * n`` highest-scoring rows of ``E``, a farthest-first (core-set /
    k-center greedy) traversal from the highest-scoring one: each next pick is the candidate
    farthest from every pick so far. ``O(candidates * n * d)``; no pairwise matrix. Deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = int(min(n, scores.size))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    cand = order[: max(n, int(candidate_factor) * n)]
    if cand.size == n:
        return cand
    X = np.asarray(E, dtype=np.float64)[cand]
    picked = [0]
    dist = np.sum((X - X[0]) ** 2, axis=1)
    for _ in range(n - 1):
        dist[picked[-1]] = -1.0
        j = int(np.argmax(dist))
        picked.append(j)
        dist = np.minimum(dist, np.sum((X - X[j]) ** 2, axis=1))
    return cand[np.asarray(picked, dtype=np.int64)]


@dataclass
class HumanRequest:
    """The items of one round that people are asked to label, by source (JSON-able with
    :meth:`to_dict`, so a front-end that waits for people can keep it in its state).

    ``positions[source]`` are positions in that source; ``kinds[source]`` says for each whether it
    is an ``"audit"`` item (a uniform sample of the round's batch) or a ``"routed"`` one.
    ``audit[source]`` holds, per audit item, ``[position, region, weak_label, predicted]``: its
    region and weak label, and the current strong model's prediction made before its label was
    known (``None`` without a model) for the unbiased accuracy estimate. ``n_new`` counts requested
    items of the round's own batch (the rest were drawn in earlier rounds).
    """

    round: int
    positions: dict = field(default_factory=dict)
    kinds: dict = field(default_factory=dict)
    audit: dict = field(default_factory=dict)
    n_new: int = 0

    @property
    def n(self) -> int:
        return int(sum(len(p) for p in self.positions.values()))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HumanRequest:
        return cls(
            int(d["round"]),
            dict(d["positions"]),
            dict(d["kinds"]),
            dict(d.get("audit") or {}),
            int(d.get("n_new") or 0),
        )


class HybridLabeling:
    """The hybrid part of a campaign (see the module docstring). Built by the front-ends from their
    ``annotate=``, ``human_budget=``, ... arguments; bound to the engine with :meth:`bind`.

    Parameters
    ----------
    annotate : ``callable(batch) -> labels`` (one class label per item of the Batch), or ``None``
        for a front-end that collects answers itself (modAL ``teach``, Label Studio).
    human_budget : total human labels to spend.
    audit_share : share of each round's quota drawn uniformly from the round's batch (0..1).
    human_batch : human labels per round (default: the budget spread evenly over the rounds the
        draw budget allows; without a draw budget, a tenth of ``batch_size``).
    weak_weights : candidate weights of a weak label (a human label weighs 1).
    diverse : core-set pick among uncertain candidates (default) instead of the top-n.
    candidate_factor : the diverse pick chooses among this many times the batch's most uncertain.
    human_step : ask people in steps of this many labels within a round, refitting the strong model
        on the answers so far before routing the next step (as uncertainty sampling re-fits between
        its batches; default 25, from the study's before/after); ``None``: the round's whole quota
        at once (runs saved with ``None`` or before steps existed resume so). Only for front-ends whose
        ``annotate`` answers at once (``Campaign``); a front-end that publishes the plan before
        people answer (Label Studio) sets ``publishes_plan = True`` and gets the whole quota at once.
    route_weight : weight of weak labels in the model that routes items to people (its uncertainty
        picks them); ``None``: the training set's chosen weight.
    stop_when : ``None``, a number (stop when the last human labels were worth fewer accuracy
        points per 100 labels) or ``callable(status_dict) -> bool``.
    strong_model : scikit-learn classifier accepting ``sample_weight`` (default
        ``LogisticRegression(C=1, max_iter=300, tol=1e-3)``), fitted on the standardized strong
        representation.
    min_labels : labels (gold + human) needed before the weak-label weight is chosen from data.
    n_folds : folds of the cross-fitting.
    weight_choice : ``"audit"`` (default: once there are ``MIN_HELD`` audit and gold labels, one fit
        per candidate weight on the other labels, scored on those, a uniform held-out sample; cross-
        fitted before) or ``"crossfit"`` (every gold and human label scored by a fit that did not see
        it, ``n_folds`` fits per candidate; the behaviour of runs saved before this option).
    random_state : seeds the audit sample and the folds.
    """

    def __init__(
        self,
        annotate=None,
        human_budget: int = 0,
        *,
        audit_share: float = 0.15,
        human_batch: int | None = None,
        weak_weights=WEAK_WEIGHTS,
        diverse: bool = True,
        candidate_factor: int = 5,
        human_step: int | None = 25,
        route_weight: float | None = None,
        stop_when=None,
        strong_model=None,
        min_labels: int = 40,
        n_folds: int = 2,
        weight_choice: str = "audit",
        random_state=None,
    ):
        if (
            isinstance(human_budget, bool)
            or not isinstance(human_budget, (int, np.integer))
            or human_budget < 1
        ):
            raise W2SError(
                f"human_budget must be a positive integer (labels people give); got {human_budget!r}"
            )
        if not (isinstance(audit_share, (int, float)) and 0.0 <= audit_share <= 1.0):
            raise W2SError(f"audit_share must be a number in [0, 1]; got {audit_share!r}")
        for name, v in (("human_batch", human_batch), ("human_step", human_step)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise W2SError(f"{name} must be a positive integer or None; got {v!r}")
        w = [float(x) for x in weak_weights]
        if not w or any(not (0.0 <= x <= 1.0) for x in w):
            raise W2SError(f"weak_weights must be numbers in [0, 1]; got {list(weak_weights)!r}")
        if annotate is not None and not callable(annotate):
            raise W2SError(f"annotate must be a callable(batch) -> labels; got {type(annotate).__name__}")
        if stop_when is not None and not callable(stop_when) and not isinstance(stop_when, (int, float)):
            raise W2SError(
                f"stop_when must be a number (accuracy points per 100 human labels) or a "
                f"callable(status) -> bool; got {type(stop_when).__name__}"
            )
        self.annotate = annotate
        self.human_budget = int(human_budget)
        self.audit_share = float(audit_share)
        self.human_batch = None if human_batch is None else int(human_batch)
        self.weak_weights = tuple(w)
        self.diverse = bool(diverse)
        self.candidate_factor = int(candidate_factor)
        self.human_step = None if human_step is None else int(human_step)
        if route_weight is not None and not (
            isinstance(route_weight, (int, float)) and 0 <= route_weight <= 1
        ):
            raise W2SError(f"route_weight must be None or a number in [0, 1]; got {route_weight!r}")
        self.route_weight = None if route_weight is None else float(route_weight)
        #: True for a front-end that shows the whole plan to people before they answer (no steps)
        self.publishes_plan = False
        self._plan_info = None
        self.stop_when = stop_when
        self.strong_model = strong_model
        self.min_labels = int(min_labels)
        self.n_folds = int(n_folds)
        if weight_choice not in ("crossfit", "audit"):
            raise W2SError(f"weight_choice must be 'crossfit' or 'audit'; got {weight_choice!r}")
        self.weight_choice = weight_choice
        self.random_state = random_state
        self.engine = None
        #: (source, position) -> {"label", "kind", "round", "id"}: every answer people gave.
        self.answers: dict = {}
        self.weak_weight_ = DEFAULT_WEAK_WEIGHT if DEFAULT_WEAK_WEIGHT in w else w[-1]
        self.weight_scores_: dict = {}
        self.value_per_100_ = None
        self.value_ci_ = None
        self.cv_accuracy_ = None
        self.n_labels_at_choice_ = 0
        self.prequential_: list = []  # [round, source, region, weak_ok, strong_ok] per audit answer
        self.stopped_reason = None
        self.n_asked_ = 0  # calls to annotate in this process (for tests and logs)
        self._model = None
        self._model_key = None

    # -- binding and state -----------------------------------------------------------------------
    def bind(self, engine) -> HybridLabeling:
        """Attach to ``engine`` (its sources, classes, gold, state_dir) and read saved answers."""
        self.engine = engine
        engine.hybrid = self
        if self.random_state is None and isinstance(engine.random_state, (int, np.integer)):
            self.random_state = int(engine.random_state)
        saved = engine.extra.get("hybrid")
        if saved:
            if "weight_choice" not in saved:  # a run saved before the option: it keeps its choice rule
                self.weight_choice = "crossfit"
            self._check_unchanged(saved, engine)
            self.load_state(saved)
        self._read_answers()
        if engine.resumed:  # a choice due after the last commit (a crash before its save): make it now;
            self.after_commit(save=False)  # the next commit saves it (the reward is not bound yet)
        self._sync()
        return self

    def _check_unchanged(self, saved: dict, engine) -> None:
        """Part of the resume fingerprint: the settings that pick which items people label must be
        the saved ones (``human_budget`` may change: more or fewer labels from here on)."""
        from .state import FORCE_NEW

        for key, value in self._pick_settings().items():
            if key in saved and saved[key] != value:
                raise StateError(
                    f"{engine.state_dir}: the saved hybrid run used {key}={saved[key]!r}, not {value!r}; "
                    f"resume with {key}={saved[key]!r}, or {FORCE_NEW}"
                )

    @property
    def _answers_path(self) -> Path | None:
        sd = getattr(self.engine, "state_dir", None)
        return None if sd is None else Path(sd) / ANSWERS_FILE

    def _read_answers(self) -> None:
        path = self._answers_path
        if path is None or not path.exists():
            return
        with open(path, "rb") as fh:
            lines = fh.read().split(b"\n")
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                a = json.loads(line)
                key = (a["source"], int(a["position"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                if i == len(lines):  # a line torn by a crash mid-write: that answer was never committed
                    break
                raise StateError(
                    f"{path}: line {i} is not a human answer; the file is damaged. Restore it from a "
                    "backup, or start a new state_dir"
                ) from None
            self.answers[key] = {k: a.get(k) for k in ("label", "kind", "round", "id")}

    def _pick_settings(self) -> dict:
        """The settings that pick which items people label (saved; a resume must use the same)."""
        return {
            "audit_share": self.audit_share,
            "human_batch": self.human_batch,
            "weak_weights": list(self.weak_weights),
            "diverse": self.diverse,
            "human_step": self.human_step,
            "route_weight": self.route_weight,
            "weight_choice": self.weight_choice,
        }

    def state(self) -> dict:
        """JSON-able settings and estimates (saved in the engine's commit record)."""
        return {
            "human_budget": self.human_budget,
            **self._pick_settings(),
            "weak_weight": self.weak_weight_,
            "weight_scores": {str(k): v for k, v in self.weight_scores_.items()},
            "value_per_100": self.value_per_100_,
            "value_ci": self.value_ci_,
            "cv_accuracy": self.cv_accuracy_,
            "n_labels_at_choice": self.n_labels_at_choice_,
            "last_choice_round": self._last_choice_round,
            "prequential": self.prequential_,
            "stopped": self.stopped_reason,
            "stop_when": self.stop_when if isinstance(self.stop_when, (int, float)) else None,
        }

    def load_state(self, st: dict) -> None:
        self.weak_weight_ = float(st.get("weak_weight", self.weak_weight_))
        self.weight_scores_ = {float(k): v for k, v in (st.get("weight_scores") or {}).items()}
        self.value_per_100_ = st.get("value_per_100")
        self.value_ci_ = st.get("value_ci")
        self.cv_accuracy_ = st.get("cv_accuracy")
        self.n_labels_at_choice_ = int(st.get("n_labels_at_choice") or 0)
        self._last_choice_round_saved = int(st.get("last_choice_round") or 0)
        self.prequential_ = [list(r) for r in st.get("prequential") or []]
        self.stopped_reason = st.get("stopped")

    def _sync(self) -> None:
        if self.engine is not None:
            self.engine.extra["hybrid"] = self.state()

    # -- what has been drawn and labelled --------------------------------------------------------
    _COMMITTED = ("source", "position", "region", "weak_label", "confidence")

    def _committed(self):
        """``(sources, positions, regions, weak_labels, confidence)`` of the committed drawn items,
        read-only. Cached: the engine's item columns only grow (``+=``) or are replaced, so their
        identities and length say when they changed (a round otherwise re-read them per refit)."""
        it = self.engine.items
        key = tuple(id(it[k]) for k in self._COMMITTED) + (len(it["position"]),)
        if getattr(self, "_committed_key", None) != key:
            dtypes = (object, np.int64, np.int64, object, np.float64)
            cols = tuple(np.asarray(it[k], dtype=t) for k, t in zip(self._COMMITTED, dtypes))
            for c in cols:
                c.flags.writeable = False
            self._committed_cache, self._committed_key = cols, key
        return self._committed_cache

    def _human_mask(self) -> np.ndarray:
        """Which committed items have a human answer (cached until items or answers change)."""
        it = self.engine.items
        key = (len(it["position"]), len(self.answers), self.engine.n_rounds)
        if getattr(self, "_mask_key", None) != key:
            src, pos, *_ = self._committed()
            self._mask = self._answer_round(src, pos) < key[2] + 1
            self._mask_key = key
        return self._mask

    def _answer_round(self, src, pos) -> np.ndarray:
        """Per item ``(src[i], pos[i])``: the round whose plan asked for its answer (a huge number for
        an item without one). Vectorized over one dense array per source (rebuilt when answers change)."""
        version = (len(self.answers), getattr(self, "_answers_version", 0))
        if getattr(self, "_rounds_key", None) != version:
            big = np.iinfo(np.int64).max
            arrays: dict = {}
            for (s, p), a in self.answers.items():
                if s not in self.engine.sources:
                    continue
                arr = arrays.get(s)
                if arr is None:
                    arr = arrays[s] = np.full(len(self.engine.sources[s]), big, dtype=np.int64)
                arr[int(p)] = int(a.get("round") or 0)
            self._rounds_arrays, self._rounds_key = arrays, version
        out = np.full(len(pos), np.iinfo(np.int64).max, dtype=np.int64)
        src = np.asarray(src, dtype=object)
        pos = np.asarray(pos, dtype=np.int64)
        for s, arr in self._rounds_arrays.items():
            sel = src == s
            if sel.any():
                out[sel] = arr[pos[sel]]
        return out

    def _answered(self, key, before_round: int) -> bool:
        """An answer asked for by a round before ``before_round`` (answers a crashed round got stay on
        disk and are read again when that round is replayed, but do not count before it)."""
        a = self.answers.get(key)
        return a is not None and int(a.get("round") or 0) < before_round

    @property
    def n_human(self) -> int:
        """Human labels of committed items (the budget spent)."""
        return int(self._human_mask().sum())

    @property
    def budget_left(self) -> int:
        return max(0, self.human_budget - self.n_human)

    def _embeddings(self, src, pos) -> np.ndarray:
        """The strong representation of items (cached per source: one row per item ever asked for)."""
        src = np.asarray(src, dtype=object)
        pos = np.asarray(pos, dtype=np.int64)
        if pos.size == 0:
            return np.empty((0, 0))
        out = None
        for s in dict.fromkeys(src.tolist()):
            sel = np.flatnonzero(src == s)
            cache = self._emb_store(s)
            missing = np.unique(pos[sel][cache.index[pos[sel]] < 0])
            if missing.size:
                cache.put(missing, self.engine.strong_of(self.engine.sources[s].get(missing)))
            E = cache.get(pos[sel])
            if out is None:
                out = np.empty((pos.size, E.shape[1]), dtype=np.float64)
            out[sel] = E
        return out

    def _emb_store(self, s) -> _RowCache:
        stores = self.__dict__.setdefault("_emb_cache", {})
        if s not in stores:
            stores[s] = _RowCache(len(self.engine.sources[s]))
        return stores[s]

    def remember(self, info) -> None:
        """Cache a drawn batch's strong representation (the engine computed it for detection)."""
        bpos = np.asarray(info.batch.positions, dtype=np.int64)
        if bpos.size:
            self._emb_store(info.source).put(bpos, info.embeddings)

    def _gold(self):
        gold = getattr(self.engine, "gold", None)
        if gold is None:
            return np.empty((0, 0)), np.empty(0, dtype=object)
        X, y = gold
        Xs = X["strong"] if isinstance(X, dict) else X
        return np.asarray(self.engine.embed(Xs), dtype=np.float64), np.asarray(y, dtype=object)

    def labelled(self):
        """``(E, y)``: gold and committed human labels in the strong representation (for rewards)."""
        src, pos, *_ = self._committed()
        keys = [(src[i], int(pos[i])) for i in np.flatnonzero(self._human_mask())]
        Eg, yg = self._gold()
        if keys:
            Eh = self._embeddings([k[0] for k in keys], [k[1] for k in keys])
            yh = np.asarray([self.answers[k]["label"] for k in keys], dtype=object)
            E = np.vstack([Eg, Eh]) if yg.size else Eh
            return E, np.concatenate([yg, yh])
        return Eg, yg

    def _design_key(self):
        gold = getattr(self.engine, "gold", None)
        return (
            getattr(self, "_committed_key", None),
            len(self.answers),
            getattr(self, "_answers_version", 0),
            self.engine.n_rounds,
            id(gold),
            None if gold is None else len(gold[1]),
        )

    def _design(self):
        """Everything the strong model learns from: embeddings, labels, is-human mask (read-only;
        cached until items, answers, rounds or gold change: routing, steps and the weight choice
        ask for it several times a round)."""
        self._committed()  # refreshes the committed key the design key includes
        key = self._design_key()
        if getattr(self, "_design_cache_key", None) != key:
            out = self._build_design()
            for a in out:
                a.flags.writeable = False
            self._design_cache, self._design_cache_key = out, key
            self._scaled_cache = None
        return self._design_cache

    def _scaled_design(self):
        """``(Z, mu, sd, y, human)``: the design standardized (constant columns left as they are),
        cached with the design."""
        E, y, human = self._design()
        if getattr(self, "_scaled_cache", None) is None:
            mu, sd = E.mean(axis=0), E.std(axis=0)
            sd = np.where(sd > 0, sd, 1.0)
            Z = _standardize(E, mu, sd)
            Z.flags.writeable = False
            self._scaled_cache = (Z, mu, sd)
        return (*self._scaled_cache, y, human)

    def _build_design(self):
        src, pos, _, weak, _ = self._committed()
        human = self._human_mask().copy()
        y = weak.copy()
        for i in np.flatnonzero(human):
            y[i] = self.answers[(src[i], int(pos[i]))]["label"]
        E = self._embeddings(src.tolist(), pos.tolist()) if pos.size else np.empty((0, 0))
        Eg, yg = self._gold()
        if yg.size:
            E = np.vstack([Eg, E]) if pos.size else Eg
            y = np.concatenate([yg, y])
            human = np.concatenate([np.ones(yg.size, dtype=bool), human])
        return E, _as_labels(y), human

    # -- the strong model ------------------------------------------------------------------------
    def _new_model(self):
        from sklearn.base import clone
        from sklearn.linear_model import LogisticRegression

        m = self.strong_model
        return LogisticRegression(C=1.0, max_iter=300, tol=1e-3) if m is None else clone(m)

    def _fit(self, E, y, w, warm=None):
        """The strong model fitted on the rows of positive weight (None if it cannot be). ``warm``: a
        fitted model of the same kind whose coefficients start the solver (the weight choice's fits
        differ little from each other), when the estimator has ``warm_start``."""
        keep = w > 0
        if keep.sum() == 0 or np.unique(y[keep]).size < 2:
            return None
        m = self._new_model()
        if warm is not None and hasattr(warm, "coef_") and "warm_start" in m.get_params():
            m.set_params(warm_start=True)
            m.coef_, m.intercept_ = warm.coef_.copy(), np.array(warm.intercept_, copy=True)
            try:
                return m.fit(E[keep], y[keep], sample_weight=w[keep])
            except ValueError:  # other classes in this fit: start from zero
                m = self._new_model()
        return m.fit(E[keep], y[keep], sample_weight=w[keep])

    def model(self):
        """The strong model fitted on the current training set (refitted when it changed), or None."""
        E, y, human = self._design()
        key = (y.size, int(human.sum()), self.weak_weight_)
        if self._model_key != key:
            if y.size == 0 or human.sum() == 0:
                self._model, self._scaler = None, None
            else:
                Z, mu, sd, y, human = self._scaled_design()
                w = np.where(human, 1.0, self.weak_weight_)
                self._scaler = (mu, sd)
                self._model = self._fit(Z, y, w)
            self._model_key = key
        return self._model

    def _predict_proba(self, E):
        m = self.model()
        if m is None:
            return None
        return m.predict_proba(_standardize(E, *self._scaler))

    @property
    def _route_w(self) -> float:
        return self.weak_weight_ if self.route_weight is None else self.route_weight

    def _route_proba(self, E):
        """The routing model's probabilities: the training-set model, or (``route_weight`` set) one
        fitted with weak labels at that weight."""
        if self.route_weight is None or self.route_weight == self.weak_weight_:
            return self._predict_proba(E)
        Ed, y, human = self._design()
        key = (y.size, int(human.sum()), self.route_weight)
        if getattr(self, "_rmodel_key", None) != key:
            self._rmodel = None
            if y.size and human.sum():
                Z, mu, sd, y, human = self._scaled_design()
                m = self._fit(Z, y, np.where(human, 1.0, self.route_weight))
                self._rmodel = None if m is None else (m, mu, sd)
            self._rmodel_key = key
        if self._rmodel is None:
            return None
        m, mu, sd = self._rmodel
        return m.predict_proba(_standardize(E, mu, sd))

    # -- one round -------------------------------------------------------------------------------
    def quota(self) -> int:
        """Human labels to ask for this round."""
        e = self.engine
        left = self.budget_left
        if left <= 0 or self.stopped_reason:
            return 0
        if self.human_batch is not None:
            return min(left, self.human_batch)
        if e.budget is not None:
            rounds_left = max(1, -(-(e.budget - e.n_drawn) // e.batch_size))
            return min(left, -(-left // rounds_left))
        return min(left, max(1, e.batch_size // 10))

    def _seed(self, round_no: int, salt: int):
        rs = self.random_state
        if rs is None:
            return None
        return np.random.default_rng([int(rs), int(round_no), salt])

    def plan(self, info, n: int | None = None, only_source: str | None = None) -> HumanRequest:
        """Which items people should label this round (``info``: the round's RoundInfo, its batch
        drawn and detected but not yet committed). Never an item answered in an earlier round.
        ``n``: the number of labels to ask (default :meth:`quota`); ``only_source``: route only to
        items of that source (a front-end that asks one source at a time)."""
        req = HumanRequest(info.round)
        q = self.quota() if n is None else min(int(n), self.budget_left)
        if q <= 0:
            return req
        self.remember(info)
        self._plan_info = (info.round, info, only_source)
        n_audit = int(round(q * self.audit_share))
        if self.audit_share > 0 and q >= 2:
            n_audit = max(1, n_audit)
        rng = self._seed(info.round, 1) or np.random.default_rng()
        bpos = np.asarray(info.batch.positions, dtype=np.int64)
        fresh = np.asarray([not self._answered((info.source, int(p)), info.round) for p in bpos.tolist()])
        audit_idx = np.empty(0, dtype=np.int64)
        if n_audit and bpos.size:
            # uniform over the whole batch, so the audit is an unbiased sample of the source's draws
            audit_idx = rng.choice(bpos.size, size=min(n_audit, bpos.size), replace=False)
            audit_idx = audit_idx[fresh[audit_idx]]
        chosen = {(info.source, int(bpos[i])): "audit" for i in audit_idx}
        P_audit = self._predict_proba(np.asarray(info.embeddings)[audit_idx]) if audit_idx.size else None
        regions = np.asarray(info.report.regions)
        for j, i in enumerate(audit_idx):
            pred = None if P_audit is None else _plain(self._model.classes_[int(np.argmax(P_audit[j]))])
            entry = [int(bpos[i]), int(regions[i]), _plain(np.asarray(info.weak_labels)[i]), pred]
            req.audit.setdefault(info.source, []).append(entry)
        n_route = q - len(chosen)
        if n_route > 0:
            for key in self._route(info, n_route, set(chosen), only_source):
                chosen[key] = "routed"
        in_batch = set(bpos.tolist())
        for (s, p), kind in chosen.items():
            req.positions.setdefault(s, []).append(p)
            req.kinds.setdefault(s, []).append(kind)
            req.n_new += int(s == info.source and p in in_batch)
        return req

    def _route(self, info, n: int, exclude: set, only_source: str | None = None, predict=None) -> list:
        """The ``n`` drawn items (committed ones and this round's) least worth trusting to weak labels."""
        src, pos, reg, _, conf = self._committed()
        bpos = np.asarray(info.batch.positions, dtype=np.int64)
        src = np.concatenate([src, np.full(bpos.size, info.source, dtype=object)])
        pos = np.concatenate([pos, bpos])
        reg = np.concatenate([reg, np.asarray(info.report.regions, dtype=np.int64)])
        conf = np.concatenate([conf, np.asarray(info.report.confidence, dtype=np.float64)])
        ok = self._answer_round(src, pos) >= info.round  # never an item answered in an earlier round
        if only_source is not None:
            ok &= src == only_source
        if exclude:
            ok &= ~_member(src, pos, exclude)
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return []
        E = self._embeddings(src[idx].tolist(), pos[idx].tolist())
        if predict is not None:
            P = predict(E)
        else:
            P = self._route_proba(E) if self.n_labels >= 10 else None
        if P is None:
            # no strong model yet: hard-only first, least confident weak label first
            score = (reg[idx] == int(Region.HARD_ONLY)).astype(np.float64) + (1.0 - conf[idx]) * 0.5
        else:
            Ps = np.sort(P, axis=1)
            score = 1.0 - (Ps[:, -1] - (Ps[:, -2] if P.shape[1] > 1 else 0.0))  # small margin first
        if self.diverse:
            mu, sd = E.mean(axis=0), E.std(axis=0)
            pick = diverse_pick(
                _standardize(E, mu, np.where(sd > 0, sd, 1.0)), score, n, self.candidate_factor
            )
        else:
            pick = np.argsort(-score, kind="stable")[:n]
        return [(src[idx[i]], int(pos[idx[i]])) for i in pick]

    @property
    def n_labels(self) -> int:
        g = getattr(self.engine, "gold", None)
        return self.n_human + (0 if g is None else len(g[1]))

    def ask(self, req: HumanRequest) -> dict:
        """Answers for ``req``: saved ones from the answers file, the rest from ``annotate`` (one call
        per source), each committed to disk before this returns. ``{(source, position): label}``.
        With ``human_step`` (and a front-end that does not publish the plan first) the routed part is
        asked in steps, the strong model refitted on the answers so far before each next step; ``req``
        is rewritten to the items actually asked. A replayed round asks the same steps: each step's
        pick depends only on the committed state and the answers of the steps before it (on disk)."""
        pi = self._plan_info
        if (
            self.human_step
            and self.annotate is not None
            and not self.publishes_plan
            and pi is not None
            and pi[0] == req.round
            and sum(k == "routed" for ks in req.kinds.values() for k in ks) > self.human_step
        ):
            return self._ask_in_steps(req, pi[1], pi[2])
        return self._ask_plain(req)

    def _ask_in_steps(self, req: HumanRequest, info, only_source) -> dict:
        order = [((s, int(p)), k) for s, ps in req.positions.items() for p, k in zip(ps, req.kinds[s])]
        asked = [(key, k) for key, k in order if k == "audit"]
        n_route = len(order) - len(asked)
        self._ask_plain(_request(req.round, asked))
        n_done, predict = 0, None  # the first step: the committed model (as plan routes)
        while n_done < n_route:
            keys = self._route(
                info, min(self.human_step, n_route - n_done), {k for k, _ in asked}, only_source, predict
            )
            if not keys:
                break
            new = [(key, "routed") for key in keys]
            self._ask_plain(_request(req.round, new))
            asked += new
            n_done += len(new)
            if n_done < n_route:
                predict = self._round_model(info, [k for k, _ in asked])
        in_batch = set(np.asarray(info.batch.positions).tolist())
        req.positions, req.kinds, req.n_new = {}, {}, 0
        for (s, p), kind in asked:
            req.positions.setdefault(s, []).append(p)
            req.kinds.setdefault(s, []).append(kind)
            req.n_new += int(s == info.source and p in in_batch)
        return {key: self.answers[key]["label"] for key, _ in asked}

    def _round_model(self, info, keys):
        """``predict_proba`` of the strong model fitted on the committed training set plus the round's
        batch (weak labels) and the answers to ``keys`` (this round's asked items); None if it cannot
        be fitted yet."""
        src, pos, _, weak, _ = self._committed()
        bpos = np.asarray(info.batch.positions, dtype=np.int64)
        src = np.concatenate([src, np.full(bpos.size, info.source, dtype=object)])
        pos = np.concatenate([pos, bpos])
        y = np.concatenate([weak, np.asarray(info.weak_labels, dtype=object)])
        human = np.concatenate([self._human_mask(), np.zeros(bpos.size, dtype=bool)])
        human |= _member(src, pos, set(keys))
        for i in np.flatnonzero(human):
            y[i] = self.answers[(src[i], int(pos[i]))]["label"]
        E = self._embeddings(src.tolist(), pos.tolist())
        Eg, yg = self._gold()
        if yg.size:
            E, y = np.vstack([Eg, E]), np.concatenate([yg, y])
            human = np.concatenate([np.ones(yg.size, dtype=bool), human])
        y = _as_labels(y)
        w = np.where(human, 1.0, self._route_w)
        weak_rows = np.flatnonzero(~human)
        cap = _weak_cap(int(human.sum()), weak_rows.size)
        if self._route_w > 0 and weak_rows.size > cap:  # a seeded sample, weights scaled up
            rng = np.random.default_rng([int(self.random_state or 0), int(info.round), len(keys), 13])
            w[rng.choice(weak_rows, size=weak_rows.size - cap, replace=False)] = 0.0
            w[~human] *= weak_rows.size / cap
        mu, sd = E.mean(axis=0), E.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        m = self._fit(_standardize(E, mu, sd), y, w)
        if m is None:
            return None
        return lambda X: m.predict_proba(_standardize(X, mu, sd))

    def _ask_plain(self, req: HumanRequest) -> dict:
        out = {}
        for s, ps in req.positions.items():
            kinds = dict(zip(ps, req.kinds[s]))
            new = [p for p in ps if (s, p) not in self.answers]
            if new:
                if self.annotate is None:
                    raise W2SError(
                        "this hybrid campaign has no annotate function: pass annotate=fn (fn(batch) -> "
                        "labels) when you create or resume it"
                    )
                batch = self.engine.sources[s].get(np.asarray(new, dtype=np.int64))
                self.n_asked_ += len(new)
                labels = self.annotate(batch)
                self.record_answers(s, new, labels, req.round, [kinds[p] for p in new], batch.ids)
            out.update({(s, p): self.answers[(s, p)]["label"] for p in ps})
        return out

    def record_answers(self, source: str, positions, labels, round_no: int, kinds=None, ids=None) -> None:
        """Store people's answers for items of ``source`` (appended to the answers file and fsync'ed)."""
        labels = list(labels) if not isinstance(labels, np.ndarray) else labels.tolist()
        positions = [int(p) for p in positions]
        if len(labels) != len(positions):
            raise DataError(
                f"annotate returned {len(labels)} labels for {len(positions)} items of source {source!r}; "
                "return one class label per item of the batch"
            )
        classes = self.engine.classes_
        if classes is not None:
            known = {_plain(c) for c in np.asarray(classes).tolist()}
            bad = sorted({str(_plain(v)) for v in labels if _plain(v) not in known})
            if bad:
                raise DataError(
                    f"annotate returned class label(s) {bad} that are not among the weak model's classes "
                    f"{sorted(str(c) for c in known)}; return labels from that set (or pass classes=...)"
                )
        kinds = kinds or ["routed"] * len(positions)
        ids = ids if ids is not None else positions
        lines = []
        for p, lab, k, i in zip(positions, labels, kinds, ids):
            rec = {"label": _plain(lab), "kind": k, "round": int(round_no), "id": _plain(i)}
            self.answers[(source, p)] = rec
            lines.append(json.dumps({"source": source, "position": p, **rec}, separators=(",", ":")))
        self._answers_version = getattr(self, "_answers_version", 0) + 1
        path = self._answers_path
        if path is not None and lines:
            with open(path, "ab") as fh:
                fh.write(("\n".join(lines) + "\n").encode())
                fh.flush()
                os.fsync(fh.fileno())

    def apply(self, req: HumanRequest) -> dict:
        """After the round's answers are in, before its commit: the audit bookkeeping. Returns the
        round's row fields (human/weak split and the current estimates)."""
        n_audit = 0
        for s, entries in req.audit.items():
            for p, region, weak, pred in entries:
                a = self.answers.get((s, int(p)))
                if a is None:  # an audit item people did not answer (a front-end may allow that)
                    continue
                lab = a["label"]
                n_audit += 1
                self.prequential_.append(
                    [
                        req.round,
                        s,
                        int(region),
                        bool(weak == lab),
                        None if pred is None else bool(pred == lab),
                    ]
                )
        n_human = sum(1 for s, ps in req.positions.items() for p in ps if (s, int(p)) in self.answers)
        self._sync()
        st = self.status()
        return {
            "n_human": n_human,
            "n_audit": n_audit,
            "n_routed": n_human - n_audit,
            "human_total": st["n_human"] + n_human,
            "weak_weight": st["weak_weight"],
            "weak_precision": st["weak_precision"],
            "accuracy": st["accuracy"],
            "value_per_100": st["value_per_100"],
        }

    def after_commit(self, save: bool = True) -> None:
        """Once the round is committed: re-choose the weight when labels doubled, check the stop rule,
        and commit what changed (the next round's record shows the new estimates).
        Deterministic in the committed state, so a crash before this save is redone on resume."""
        before = json.dumps(self.state(), sort_keys=True, default=str)
        n = self.n_labels
        if n >= self.min_labels and n >= 2 * max(self.n_labels_at_choice_, self.min_labels // 2):
            self._choose_weight()
        self._check_stop()
        self._sync()
        if save and json.dumps(self.state(), sort_keys=True, default=str) != before and self.engine.rounds:
            self.engine.save()

    def _folds(self, n: int, k: int) -> np.ndarray:
        rng = np.random.default_rng([int(self.random_state or 0), n, 7])
        return rng.permutation(n) % k

    def _choose_weight(self) -> None:
        """Cross-fitted accuracy on the gold and human labels for each candidate weight; and the value
        of the labels added since the last choice (the same folds with those labels left out)."""
        Z, _, _, y, human = self._scaled_design()
        lab = np.flatnonzero(human)
        rounds = self._label_rounds(human)
        held = self._held_rows(human) if self.weight_choice == "audit" else None
        fold = np.full(y.size, -1)  # -1: in every training fold; f >= 0: scored by the fit without f
        if held is not None and held.sum() >= MIN_HELD:
            # one fit per weight on everything but the audit (and gold) labels, scored on those: a
            # uniform sample of the draws, held out, so the score is unbiased and costs one fit
            k, fold[held] = 1, 0
        else:
            k = max(2, min(self.n_folds, lab.size // 10))
            fold[lab] = self._folds(lab.size, k)
        lab = np.flatnonzero(fold >= 0)  # the scored labels
        n_lab = int(human.sum())
        # the weak rows in these fits: a seeded sample of at most _weak_cap rows whose weights are scaled
        # up to the same total, so the choice costs about one fit on the training set (benchmarks/)
        weak_rows = np.flatnonzero(~human)
        scale = 1.0
        cap = _weak_cap(n_lab, weak_rows.size)
        if weak_rows.size > cap:
            rng = np.random.default_rng([int(self.random_state or 0), n_lab, 11])
            drop = rng.choice(weak_rows, size=weak_rows.size - cap, replace=False)
            fold[drop] = -2  # never trained on, never scored: out of the cross-fit
            scale = weak_rows.size / cap
        # the current weight and its neighbours in the sorted candidates: the weight moves at most one
        # step per choice (steadier across seeds, and three weights cost less than four)
        ladder = sorted(set(self.weak_weights))
        here = ladder.index(self.weak_weight_) if self.weak_weight_ in ladder else len(ladder) // 2
        correct = {}
        warm = [None] * k  # each fold's last model starts the next weight's fit on that fold
        for w in ladder[max(0, here - 1) : here + 2]:
            hit = np.zeros(lab.size, dtype=np.float64)
            for f in range(k):
                train = (fold != f) & (fold != -2)
                m = self._fit(Z[train], y[train], np.where(human[train], 1.0, w * scale), warm[f])
                warm[f] = m or warm[f]
                te = fold[lab] == f
                hit[te] = 0.0 if m is None else (m.predict(Z[lab[te]]) == y[lab[te]])
            correct[w] = hit
        current = ladder[here]
        best = current
        for w, h in correct.items():  # move off the current weight only on a paired, clear win
            d = h - correct[current]
            se = d.std(ddof=1) / math.sqrt(d.size) if d.size > 1 else float("inf")
            if d.mean() > max(se, 1e-12) and d.mean() > (correct[best] - correct[current]).mean():
                best = w
        self.weight_scores_ = {w: float(h.mean()) for w, h in correct.items()}
        self.weak_weight_ = float(best)
        acc = correct[best]
        self.cv_accuracy_ = list(wilson(int(acc.sum()), acc.size))
        # value of the labels added since the last choice: leave them out of the training folds
        last = rounds > self._last_choice_round if self.n_labels_at_choice_ else np.zeros(y.size, dtype=bool)
        n_last = int(last.sum())
        if n_last and n_last < n_lab:
            hit = np.zeros(lab.size, dtype=np.float64)
            for f in range(k):
                train = (fold != f) & (fold != -2) & ~last
                m = self._fit(Z[train], y[train], np.where(human[train], 1.0, best * scale), warm[f])
                te = fold[lab] == f
                hit[te] = 0.0 if m is None else (m.predict(Z[lab[te]]) == y[lab[te]])
            d = (acc - hit) * 100.0 * 100.0 / n_last  # accuracy points per 100 labels
            se = d.std(ddof=1) / math.sqrt(d.size) if d.size > 1 else float("nan")
            self.value_per_100_ = float(d.mean())
            self.value_ci_ = [float(d.mean() - 1.96 * se), float(d.mean() + 1.96 * se)]
        self.n_labels_at_choice_ = n_lab
        self._last_choice_round_saved = int(self.engine.n_rounds)
        self._model_key = None

    def _held_rows(self, human) -> np.ndarray:
        """Design rows of the gold labels and the audit answers (uniform samples of the draws)."""
        src, pos, *_ = self._committed()
        g = int(human.size - pos.size)
        held = np.zeros(human.size, dtype=bool)
        held[:g] = True
        for i in np.flatnonzero(self._human_mask()):
            held[g + i] = self.answers[(src[i], int(pos[i]))].get("kind") == "audit"
        return held

    @property
    def _last_choice_round(self) -> int:
        return int(getattr(self, "_last_choice_round_saved", 0))

    def _label_rounds(self, human) -> np.ndarray:
        """Round of each design row's human answer (0 for gold and weak rows)."""
        src, pos, *_ = self._committed()
        g = int(human.size - pos.size)
        r = np.zeros(human.size, dtype=np.int64)
        for i in np.flatnonzero(self._human_mask()):
            r[g + i] = int(self.answers[(src[i], int(pos[i]))].get("round") or 0)
        return r

    def _check_stop(self) -> None:
        if self.stopped_reason or self.stop_when is None:
            return
        st = self.status()
        if callable(self.stop_when):
            if self.stop_when(st):
                self.stopped_reason = "stop_when(status) returned True"
        elif self.value_per_100_ is not None and self.value_per_100_ < float(self.stop_when):
            self.stopped_reason = (
                f"the last human labels were worth {self.value_per_100_:.2f} accuracy points per 100 "
                f"labels, below stop_when={self.stop_when}"
            )

    @property
    def stopped(self) -> bool:
        return bool(self.stopped_reason)

    # -- the training set ------------------------------------------------------------------------
    def training_set(self, include_gold: bool = True):
        """``(X, y, sample_weight)``: committed drawn items in the sources' form (a dict of views for
        sources with views, else ``X`` or the records), human labels at weight 1, weak labels at
        ``weak_weight_`` (rows of weight 0 are kept, so rows match the engine's items); the gold
        items (weight 1) come first when ``include_gold`` and the campaign has gold."""
        e = self.engine
        src, pos, _, weak, _ = self._committed()
        y = weak.copy()
        w = np.full(pos.size, self.weak_weight_, dtype=np.float64)
        for i in np.flatnonzero(self._human_mask()):
            y[i], w[i] = self.answers[(src[i], int(pos[i]))]["label"], 1.0
        parts = []
        for name, source in e.sources.items():
            sel = np.flatnonzero(src == name)
            if sel.size:
                parts.append((sel, source.get(pos[sel])))
        order = np.concatenate([s for s, _ in parts]) if parts else np.empty(0, dtype=np.int64)
        X = _stack_items([b for _, b in parts])
        y, w = y[order], w[order]
        if include_gold and e.gold is not None:
            Xg, yg = e.gold
            X = _concat_forms(Xg, X)
            y = np.concatenate([np.asarray(yg, dtype=object), y])
            w = np.concatenate([np.ones(len(yg)), w])
        return X, _as_labels(y), w

    # -- reporting -------------------------------------------------------------------------------
    def audit_table(self) -> list:
        """Weak-label precision on the audit labels, per source and per region, with Wilson intervals."""
        rows = []
        pq = self.prequential_
        for key, name in ((1, "source"), (2, "region")):
            groups: dict = {}
            for r in pq:
                groups.setdefault(r[key], []).append(bool(r[3]))
            for g, v in sorted(groups.items(), key=lambda t: str(t[0])):
                p, lo, hi = wilson(int(sum(v)), len(v))
                label = REGION_NAMES.get(g, str(g)) if key == 2 else g
                rows.append({"by": name, "group": label, "n": len(v), "precision": p, "ci": [lo, hi]})
        return rows

    def accuracy(self) -> list:
        """``[p, low, high, n]``: the strong model's prequential accuracy on the audit labels."""
        v = [bool(r[4]) for r in self.prequential_ if r[4] is not None]
        return [*wilson(int(sum(v)), len(v)), len(v)]

    def status(self) -> dict:
        """The hybrid campaign's numbers for the live table, the round records and ``campaign status``."""
        pq = self.prequential_
        n_audit = len(pq)
        return {
            "human_budget": self.human_budget,
            "n_human": self.n_human,
            "n_audit": n_audit,
            "n_weak": max(0, len(self.engine.items["position"]) - self.n_human),
            "weak_weight": self.weak_weight_,
            "weak_precision": list(wilson(int(sum(bool(r[3]) for r in pq)), n_audit)),
            "accuracy": self.accuracy(),
            "cv_accuracy": self.cv_accuracy_,
            "value_per_100": self.value_per_100_,
            "value_ci": self.value_ci_,
            "stopped": self.stopped_reason,
        }

    def postfix(self) -> str:
        st = self.status()
        s = f"human={st['n_human']}/{self.human_budget} weak={st['n_weak']} w={self.weak_weight_:g}"
        p = st["weak_precision"]
        if st["n_audit"]:
            s += f" weak_prec={p[0]:.2f}[{p[1]:.2f},{p[2]:.2f}]"
        a = st["accuracy"]
        if a[3]:
            s += f" acc={a[0]:.2f}[{a[1]:.2f},{a[2]:.2f}]"
        if self.value_per_100_ is not None:
            s += f" value/100={self.value_per_100_:+.2f}pt"
        return s


class _RowCache:
    """Rows of a source's items, stored once: a dense position -> row index and a growing matrix."""

    def __init__(self, n: int):
        self.index = np.full(n, -1, dtype=np.int64)
        self.rows = None
        self.n = 0

    def put(self, pos, E) -> None:
        pos = np.asarray(pos, dtype=np.int64)
        E = np.asarray(E, dtype=np.float64)
        pos, first = np.unique(pos, return_index=True)
        new = self.index[pos] < 0
        pos, E = pos[new], E[first][new]
        if pos.size == 0:
            return
        need = self.n + pos.size
        if self.rows is None or need > len(self.rows):
            grown = np.empty((max(need, 2 * (0 if self.rows is None else len(self.rows)), 64), E.shape[1]))
            if self.rows is not None:
                grown[: self.n] = self.rows[: self.n]
            self.rows = grown
        self.rows[self.n : need] = E
        self.index[pos] = np.arange(self.n, need)
        self.n = need

    def get(self, pos) -> np.ndarray:
        return self.rows[self.index[np.asarray(pos, dtype=np.int64)]]


def _member(src, pos, keys: set) -> np.ndarray:
    """Which ``(src[i], pos[i])`` are in ``keys`` (a set of ``(source, position)``)."""
    out = np.zeros(len(pos), dtype=bool)
    if not keys:
        return out
    src = np.asarray(src, dtype=object)
    pos = np.asarray(pos, dtype=np.int64)
    by: dict = {}
    for s, p in keys:
        by.setdefault(s, []).append(int(p))
    for s, ps in by.items():
        sel = np.flatnonzero(src == s)
        if sel.size:
            out[sel] = np.isin(pos[sel], np.asarray(ps, dtype=np.int64))
    return out


def _weak_cap(n_labels: int, n_weak: int) -> int:
    """Weak rows kept (weights scaled up to the same total) in the fits that only choose: the weight
    choice and the refits between human steps. Twice the labels, a fifth of the weak rows, at least
    300: enough weak rows that a weight's effect shows, few enough that such a fit costs a fraction of
    one on the whole training set."""
    return int(max(300, 2 * n_labels, n_weak // 5))


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _request(round_no: int, keyed) -> HumanRequest:
    """A HumanRequest of ``[((source, position), kind), ...]`` (grouped by source, order kept)."""
    req = HumanRequest(round_no)
    for (s, p), k in keyed:
        req.positions.setdefault(s, []).append(int(p))
        req.kinds.setdefault(s, []).append(k)
    return req


def _as_labels(y):
    """Labels as a plain NumPy array (numbers stay numbers, strings stay strings)."""
    y = list(np.asarray(y, dtype=object).tolist())
    try:
        return np.asarray(y) if y else np.empty(0, dtype=np.int64)
    except (TypeError, ValueError):
        return np.asarray(y, dtype=object)


def _form(batch):
    """An item batch as the sources hold it: a dict of views by role for sources with views."""
    if batch.views:
        return {role: batch.view(role) for role in sorted({"weak", "strong", *batch.views})}
    return batch.X if batch.X is not None else batch.records


def _stack_items(batches):
    forms = [_form(b) for b in batches]
    if not forms:
        return np.empty((0, 0))
    return _concat_list(forms)


def _concat_list(forms):
    first = forms[0]
    if isinstance(first, dict):
        return {k: _concat_list([f[k] for f in forms]) for k in first}
    if all(isinstance(f, np.ndarray) for f in forms):
        return np.vstack(forms) if forms[0].ndim == 2 else np.concatenate(forms)
    return [r for f in forms for r in f]


def _concat_forms(a, b):
    if isinstance(b, dict):
        if not isinstance(a, dict):
            raise DataError(
                "training_set: the gold items are not a dict of views but the sources have views; give "
                "gold=(dict of views, labels), or call training_set(include_gold=False)"
            )
        return {k: _concat_list([a[k], b[k]]) for k in b if k in a}
    if isinstance(b, np.ndarray) and b.size == 0:
        return a
    return _concat_list([a if isinstance(a, np.ndarray) or isinstance(a, list) else np.asarray(a), b])


# -- a saved campaign's hybrid numbers (``w2s campaign status``, the campaign plot) --------------------
def hybrid_resume_params(saved: dict, given: dict | None) -> dict:
    """``hybrid_params`` for resuming a hybrid run: the saved ``weak_weights`` and ``diverse`` unless
    given (``saved``: the run's saved hybrid state)."""
    params = dict(given or {})
    for key in ("weak_weights", "diverse", "route_weight", "weight_choice"):
        if saved.get(key) is not None:
            params.setdefault(key, saved[key])
    # a run saved before steps were the default (or without them) asked whole quotas: it resumes so
    params.setdefault("human_step", saved.get("human_step"))
    return params


def saved_status(state: dict) -> dict | None:
    """The hybrid numbers of a saved state (as :func:`~w2s_plugin.engine.load_state` returns it), or
    None for a campaign without people. Needs no models: everything comes from the commit record
    and the round log."""
    h = state.get("hybrid")
    if not h:
        return None
    rounds = state.get("rounds") or []
    pq = h.get("prequential") or []
    n_human = int(rounds[-1].get("human_total", 0)) if rounds else 0
    n_drawn = int(sum(r.get("n", 0) for r in rounds))

    def prec(rows):
        return list(wilson(int(sum(bool(r[3]) for r in rows)), len(rows)))

    acc = [bool(r[4]) for r in pq if r[4] is not None]
    by_source, by_region = {}, {}
    for r in pq:
        by_source.setdefault(r[1], []).append(r)
        by_region.setdefault(REGION_NAMES.get(int(r[2]), str(r[2])), []).append(r)
    return {
        "human_budget": h.get("human_budget"),
        "n_human": n_human,
        "n_audit": len(pq),
        "n_weak": max(0, n_drawn - n_human),
        "weak_weight": h.get("weak_weight"),
        "weight_choice": h.get("weight_choice", "crossfit"),
        "weight_scores": h.get("weight_scores"),
        "weak_precision": prec(pq),
        "weak_precision_by_source": {k: [len(v), *prec(v)] for k, v in sorted(by_source.items())},
        "weak_precision_by_region": {k: [len(v), *prec(v)] for k, v in sorted(by_region.items())},
        "accuracy": [*wilson(int(sum(acc)), len(acc)), len(acc)],
        "cv_accuracy": h.get("cv_accuracy"),
        "value_per_100": h.get("value_per_100"),
        "value_ci": h.get("value_ci"),
        "stop_when": h.get("stop_when"),
        "stopped": h.get("stopped"),
    }


def _iv(v) -> str:
    if v is None or v[0] is None or (isinstance(v[0], float) and math.isnan(v[0])):
        return "-"
    return f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]"


def status_lines(st: dict) -> list:
    """``w2s campaign status`` lines for :func:`saved_status`."""
    lines = [
        f"hybrid: {st['n_human']} of {st['human_budget']} human labels spent ({st['n_audit']} audit), "
        f"{st['n_weak']} weak labels at weight {st['weak_weight']:g} ("
        + ("scored on the audit labels" if st.get("weight_choice") == "audit" else "cross-fitted")
        + ")",
        f"strong model accuracy on audit labels (prequential, 95% Wilson): {_iv(st['accuracy'])} "
        f"from {st['accuracy'][3]} labels",
    ]
    if st.get("cv_accuracy"):
        how = (
            "held out on audit + gold labels (or cross-fitted while they were few)"
            if st.get("weight_choice") == "audit"
            else "cross-fitted on gold + human labels"
        )
        lines.append(f"strong model accuracy {how}: {_iv(st['cv_accuracy'])}")
    v = st.get("value_per_100")
    if v is None:
        lines.append(
            "value of the last human labels: not estimated yet (needs twice the labels of the last estimate)"
        )
    else:
        ci = st.get("value_ci") or [float("nan")] * 2
        lines.append(
            f"value of the last human labels: {v:+.2f} accuracy points per 100 labels "
            f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"
            + (f"; stop_when={st['stop_when']}" if st.get("stop_when") is not None else "")
        )
    if st.get("stopped"):
        lines.append(f"stopped: {st['stopped']}")
    lines.append(f"weak-label precision on the audit (95% Wilson): {_iv(st['weak_precision'])}")
    for what in ("source", "region"):
        for k, (n, p, lo, hi) in st[f"weak_precision_by_{what}"].items():
            lines.append(f"  {what} {k:<16} {n:>5} audited  precision {_iv([p, lo, hi])}")
    return lines


def plot_hybrid(state: dict, path=None):
    """The campaign plot of a hybrid campaign: per round, the human/weak split (left) and the audit
    estimates with their Wilson intervals (right)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = state.get("rounds") or []
    pq = (state.get("hybrid") or {}).get("prequential") or []
    r_no = np.asarray([r["round"] for r in rounds])
    human = np.asarray([r.get("human_total", 0) for r in rounds])
    drawn = np.cumsum([r.get("n", 0) for r in rounds])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].plot(r_no, human, marker="o", label="human labels (cumulative)")
    axes[0].plot(r_no, drawn - human, marker="o", label="weak labels (cumulative)")
    axes[0].set(xlabel="round", ylabel="labels", title="human / weak split")
    axes[0].legend()
    for col, name in ((3, "weak-label precision"), (4, "strong-model accuracy")):
        pts = []
        for t in r_no:
            v = [bool(r[col]) for r in pq if r[0] <= t and r[col] is not None]
            pts.append(wilson(int(sum(v)), len(v)))
        p = np.asarray(pts, dtype=np.float64)
        if p.size:
            axes[1].plot(r_no, p[:, 0], marker="o", label=f"{name} (audit)")
            axes[1].fill_between(r_no, p[:, 1], p[:, 2], alpha=0.2)
    axes[1].set(xlabel="round", ylabel="estimate, 95% Wilson band", title="audit estimates", ylim=(0, 1))
    axes[1].legend(loc="lower right")
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
