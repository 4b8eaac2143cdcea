"""``MultiSourceLearner``: a modAL learner that lets a bandit choose which pool each query comes from.

Each query, the bandit picks a source; only a window of ``batch_size`` unused candidates of that
source is scored (weak probabilities from the learner, overlap detection, a registered strategy),
and the best ``n_instances`` are returned for labelling. ``teach`` gives the labels to the learner,
marks the items used and rewards the source, so pulls drift toward the pools that earn the most
reward (by default their overlap density). Sources, bandit, reward and state on disk are the
engine's (:mod:`w2s_plugin.engine`); this front-end keeps the window, the pending query and the
labels taught, so :meth:`MultiSourceLearner.resume` continues where a crash stopped.

Evidence is counted once per item. Only ``n_instances`` of a window are taught; the rest stay
unused and come back in later windows (after the source's unused items have all been visited,
windows wrap around to them). Counting every window in full would count those items again and
again as new draws: the bandit's ``drawn`` would exceed the pool and its intervals would shrink
on repeated, not new, evidence. So the learner keeps, per source, a mask of the items already
scored, and rewards a pull with only the window's *first-time* items: ``bandit.update(source,
n_fresh, reward among them)``. Windows are taken in the source's (shuffled) draw order,
independently of the scores, so the scored items are a uniform sample of the pool without
replacement. A pull whose window holds no first-time item still counts as a pull
(``SourceBandit.count_pull``: rounds and the clock advance, its per-round mean is unchanged).
"""

from __future__ import annotations

import numpy as np

from w2s_plugin import acquisition, plugins
from w2s_plugin.detector import Region
from w2s_plugin.engine import STATE_FILE, Engine, engine_attributes  # noqa: F401  (STATE_FILE re-exported)
from w2s_plugin.errors import W2SError
from w2s_plugin.hybrid import HybridLabeling, hybrid_resume_params
from w2s_plugin.settings import RunSettings
from w2s_plugin.sources import Source, _pack_mask, _unpack_mask

from .strategy import weak_proba_of


@engine_attributes
class MultiSourceLearner:
    """Query a modAL learner from several pools, choosing the pool by its reward (overlap density by default).

    Parameters
    ----------
    learner : modAL ``ActiveLearner`` or ``Committee``, fitted on a seed set (it is the weak model).
    sources : list of :class:`~w2s_plugin.Source` (names unique, same feature space).
    bandit : ``None`` (``ucb``), a policy name, or a :class:`~w2s_plugin.SourceBandit` over the same names.
    batch_size : candidates scored per query (a window of the chosen source's unused items); default
        100 (:data:`~w2s_plugin.settings.DEFAULT_BATCH_SIZE`; 0.1.0 had 256), the saved one on resume.
    strategy : registered acquisition strategy ranking the window (default ``overlap``).
    strategy_params : extra keyword arguments for the strategy.
    embed : the strong representation: ``None`` (the features), a transformer or callable (via the
        ``w2s_embed`` hook), or ``Precomputed("embeddings")`` (an array stored with each source).
    detector : ``OverlapDetector``; default one that accumulates history across queries, so the
        thresholds, and hence the densities, are comparable between sources.
    state_dir : directory for the state (``None``: in memory only).
    random_state : seeds the bandit, the detector and the strategy.
    reward, reward_params, gold, classes : as for :class:`~w2s_plugin.Campaign`.
    human_budget, audit_share, stop_when, hybrid_params : the *hybrid* mode
        (:mod:`w2s_plugin.hybrid`, the engine's one implementation): ``query(n)`` returns the items
        people should label (an audit sample of the window's first-time items, the rest routed to
        the scored items of that source the weak labels are least trustworthy on; never an item
        already answered), people answer through ``teach``, and ``training_set()`` is ``(X, y,
        sample_weight)``: human labels at weight 1, the learner's weak labels of every other scored
        item at the cross-fitted weight. ``query`` raises once the human budget is spent.

    ``pulls()`` (answered queries per source), ``summary()`` (the bandit's table; ``drawn`` counts
    items scored once), ``training_data(which)`` (the scored first-time items), ``sources``,
    ``bandit``, ... are the engine's (:class:`~w2s_plugin.engine.Engine`).
    """

    def __init__(
        self,
        learner,
        sources,
        bandit=None,
        batch_size: int | None = None,
        strategy: str = "overlap",
        embed=None,
        detector=None,
        state_dir=None,
        random_state=None,
        strategy_params: dict | None = None,
        reward="overlap",
        reward_params: dict | None = None,
        gold=None,
        classes=None,
        human_budget: int | None = None,
        audit_share: float = 0.15,
        stop_when=None,
        hybrid_params: dict | None = None,
        _resume: bool = False,
    ):
        settings = RunSettings.from_arguments(locals())
        srcs = list(sources.values()) if isinstance(sources, dict) else list(sources or [])
        if not srcs or not all(isinstance(s, Source) for s in srcs):
            raise W2SError("MultiSourceLearner: sources must be a non-empty list of w2s_plugin.Source")
        if not callable(getattr(learner, "teach", None)) or not hasattr(learner, "predict_proba"):
            raise W2SError(
                "MultiSourceLearner: learner must be a modAL ActiveLearner or Committee "
                f"(with teach and predict_proba); got {type(learner).__name__}"
            )
        plugins.lookup("acquisition_strategies", strategy, "acquisition strategy")
        entry = plugins.get_registry("acquisition_strategies")[strategy]
        self._needs_report = entry.meta.get("needs_report", True)
        self.learner, self.strategy, self.embed = learner, strategy, embed
        self.strategy_params = dict(strategy_params or {})
        hybrid = None
        if human_budget is not None:
            hybrid = HybridLabeling(
                None, human_budget, audit_share=audit_share, stop_when=stop_when, **dict(hybrid_params or {})
            )
        self.engine = e = Engine(
            srcs,
            learner,
            embed,
            kind="modal",
            owner="MultiSourceLearner",
            settings=settings,
            resume=_resume,
            hybrid=hybrid,
        )
        x = e.extra
        self.pending: dict | None = x.get("pending")
        self.offsets = {n: int(x.get("offsets", {}).get(n, 0)) for n in e.sources}
        self.scored = {
            n: (_unpack_mask(x["scored"][n], len(s)) if "scored" in x else np.zeros(len(s), dtype=bool))
            for n, s in e.sources.items()
        }  # items whose evidence is counted
        self.n_queries = int(x.get("n_queries", 0))
        self.taught: list[dict] = list(x.get("taught", []))  # every teach call: {"source", "positions", "y"}

    @property
    def history(self) -> list:
        """One row per answered query (bandit pull)."""
        return self.engine.rounds

    @classmethod
    def resume(cls, state_dir, learner, sources, reteach: bool = True, **kwargs) -> MultiSourceLearner:
        """Continue from ``state_dir`` (0.1.0 folders too) with the same sources and settings.

        ``reteach=True`` (for a learner rebuilt from its seed set after a crash) teaches it every
        label recorded so far, in one call; pass ``False`` if ``learner`` already holds them.
        """
        if "human_budget" not in kwargs:  # a hybrid run's settings come from its state
            from w2s_plugin.engine import load_state

            try:
                saved = load_state(state_dir, kind="modal").get("hybrid") or {}
            except W2SError:  # no or a damaged state: the constructor says which, in its words
                saved = {}
            for key in ("human_budget", "audit_share", "stop_when"):
                if saved.get(key) is not None:
                    kwargs.setdefault(key, saved[key])
            if saved:
                kwargs["hybrid_params"] = hybrid_resume_params(saved, kwargs.get("hybrid_params"))
        self = cls(learner, sources, state_dir=state_dir, _resume=True, **kwargs)
        if reteach:
            Xs = [self._features(self.sources[t["source"]].get(t["positions"])) for t in self.taught]
            if Xs:  # same rows in the same order as the original calls, so the refit model is the same
                self.learner.teach(np.vstack(Xs), np.concatenate([np.asarray(t["y"]) for t in self.taught]))
        return self

    # -- the loop --------------------------------------------------------------------------------
    @staticmethod
    def _features(batch):
        X = batch.view("weak")
        if batch.X is None:
            raise W2SError(f"source {batch.source!r} has no features X; the modAL learner needs numeric rows")
        return X

    def query(self, n_instances: int = 1):
        """``(source_name, positions, X)``: the items to label next, from the source the bandit picks.

        ``positions`` address items of that source (pass them back to :meth:`teach`). While a query
        awaits its labels, calling ``query`` again returns it unchanged (so a restart asks again
        for the same items instead of losing them). The reward of the window's first-time items is
        computed here and given to the bandit when the labels arrive.
        """
        if not isinstance(n_instances, (int, np.integer)) or isinstance(n_instances, bool) or n_instances < 1:
            raise W2SError(f"n_instances must be a positive integer; got {n_instances!r}")
        if n_instances > self.batch_size:
            raise W2SError(
                f"n_instances={n_instances} is larger than batch_size={self.batch_size}, the number "
                "of candidates scored per query; raise batch_size or ask for fewer"
            )
        again = self._pending_query()
        if again is not None:
            return again
        hy = self.engine.hybrid
        if hy is not None and (hy.budget_left <= 0 or hy.stopped):
            raise W2SError(
                "MultiSourceLearner: the human budget is spent"
                + (f" ({hy.stopped_reason})" if hy.stopped else "")
                + "; use training_set() for the strong model's training set"
            )
        return self._new_query(n_instances)

    def _pending_query(self):
        """The query that awaits its labels, as :meth:`query` returns it, or None. In hybrid mode, answers
        saved before a crash are never asked again: all in, they are taught here (and the next query is
        new); some in, only the rest is returned."""
        hy, p = self.engine.hybrid, self.pending
        if p is not None and hy is not None and p.get("hybrid"):
            answered = [q for q in p["positions"] if (p["source"], int(q)) in hy.answers]
            if answered and len(answered) == len(p["positions"]):
                labels = [hy.answers[(p["source"], int(q))]["label"] for q in answered]
                self.teach(p["source"], answered, labels)
            elif answered:
                left = np.asarray([q for q in p["positions"] if q not in set(answered)], dtype=np.int64)
                return p["source"], left, self._features(self.sources[p["source"]].get(left))
        p = self.pending
        if p is None:
            return None
        pos = np.asarray(p["positions"], dtype=np.int64)
        return p["source"], pos, self._features(self.sources[p["source"]].get(pos))

    def _new_query(self, n_instances: int):
        """Score the next window of the source the bandit picks, choose the items (the strategy's top
        ``n_instances``, or the hybrid plan's), and save them as the pending query."""
        e, hy = self.engine, self.engine.hybrid
        name = e.select()
        source = self.sources[name]
        window, off = source.window(self.batch_size, self.offsets[name])
        batch = source.get(window)
        X = self._features(batch)
        proba = weak_proba_of(self.learner, X)
        if window.size < 2 and not hasattr(self.detector, "hard_threshold_"):
            raise W2SError(f"source {name!r} has a single item left and the detector is not fitted yet")
        fresh = ~self.scored[name][window]
        n = int(min(n_instances, window.size))
        value, items, report, req = 0.0, None, None, None
        if self._needs_report or hy is not None:  # strategies that skip detection earn no reward
            # evidence counts once per item; a hybrid plan routes among the first-time items and earlier ones
            plan = None if hy is None else {"n": n, "only_source": name}
            res = e.evaluate(name, batch, proba, keep=fresh, plan=plan, ask=False)
            report, req = res.info.report, res.request
            if res.items is not None:
                value, items = res.value, res.items
        if hy is None:
            idx, scores = acquisition.rank(
                self.strategy,
                report,
                proba,
                n,
                source=name,
                random_state=e.round_seed(self.n_queries),
                **self.strategy_params,
            )
        n_overlap = report.n_overlap if report is not None else 0
        self.n_queries += 1
        self.offsets[name] = off + window.size
        if hy is not None:  # people label the hybrid plan's items instead of the strategy's top n
            if req is None or not req.n:
                raise W2SError(f"MultiSourceLearner: no item of source {name!r} is left for people to label")
            # routed items may come from the source's earlier windows
            qpos = np.asarray(req.positions[name], dtype=np.int64)
            Xq, scores = self._features(source.get(qpos)), np.zeros(qpos.size)
        else:
            qpos, Xq = window[idx], X[idx]
        self.pending = {"source": name, "positions": qpos.tolist(), "scores": scores.tolist()}
        if hy is not None:
            self.pending.update(hybrid=req.to_dict(), window=window.tolist())
        self.pending.update(n_candidates=int(window.size), n_overlap=int(n_overlap), query=self.n_queries)
        self.pending.update(density=float(n_overlap / window.size), fresh=window[fresh].tolist())
        n_overlap_fresh = 0 if report is None else int(report.mask(Region.OVERLAP)[fresh].sum())
        self.pending.update(reward=value, items=items, n_overlap_fresh=n_overlap_fresh)
        self._save()
        return name, qpos, Xq

    def teach(self, source_name: str, indices, y, **teach_kwargs):
        """Teach the learner the labels ``y`` of ``indices`` (positions) of ``source_name``.

        Marks the items used, calls the ``after_teach`` hook, and, when they answer the pending
        query, rewards that source with the reward of the window's first-time items (see the module
        docstring) and marks them scored.
        """
        source = self.engine.source(source_name)
        pos, y_arr = source.positions_of(indices, "teach"), np.asarray(y)
        if y_arr.shape[0] != pos.size:
            raise W2SError(f"teach: {pos.size} indices but {y_arr.shape[0]} labels; pass one label per index")
        hy, p = self.engine.hybrid, self.pending
        req = None
        if hy is not None and p is not None and p.get("hybrid") and p["source"] == source_name:
            from w2s_plugin.hybrid import HumanRequest

            req = HumanRequest.from_dict(p["hybrid"])
            kind = dict(zip(req.positions.get(source_name, []), req.kinds.get(source_name, [])))
            new = [i for i, q in enumerate(pos.tolist()) if (source_name, q) not in hy.answers]
            if new:  # committed to the answers file before anything else
                hy.record_answers(
                    source_name,
                    pos[new],
                    y_arr[new],
                    req.round,
                    [kind.get(int(pos[i]), "routed") for i in new],
                )
        self.learner.teach(self._features(source.get(pos)), y_arr, **teach_kwargs)
        source.mark_used(pos)
        self.taught.append({"source": source_name, "positions": pos.tolist(), "y": y_arr.tolist()})
        plugins.call_lifecycle("after_teach", source=source_name, indices=pos, y=y_arr)
        p = self.pending
        if p is None or p["source"] != source_name:
            if source.exhausted:
                self.bandit.exhaust(source_name)
            self._save()
            return self
        fresh_all = np.asarray(p["fresh"], dtype=np.int64)
        keep = ~self.scored[source_name][fresh_all]  # defensive: only never-counted items
        fresh = fresh_all[keep]
        value = p.get("reward")
        if value is None:  # a query pending in a 0.1.0 folder: the overlap share of its first-time items
            value = p["n_overlap_fresh"] / fresh.size if fresh.size else 0.0
        items = p.get("items")
        if items is not None:
            items = {k: [v for v, k2 in zip(col, keep) if k2] for k, col in items.items()}
        self.scored[source_name][fresh] = True
        # taught items inside the scored window no longer count towards the next window's offset
        in_window = int(np.isin(pos, np.asarray(p.get("window", p["positions"]))).sum())
        self.offsets[source_name] = max(0, self.offsets[source_name] - in_window)
        self.pending = None
        self._sync()
        nf = int(fresh.size)
        row = {"query": p["query"], "source": source_name, "n": nf, "n_taught": int(pos.size)}
        row.update({k: p[k] for k in ("n_candidates", "n_overlap", "density")}, n_fresh=nf)
        row["n_overlap_fresh"] = min(int(p["n_overlap_fresh"]), nf)
        if req is not None:
            row.update(hy.apply(req))
        self.engine.record(source_name, row, value if fresh.size else None, items=items)
        if req is not None:
            hy.after_commit()
        return self

    def training_set(self, which: str | None = None, include_gold: bool = True):
        """Hybrid mode (``which=None``): ``(X, y, sample_weight)`` for the strong model (see
        :class:`~w2s_plugin.Campaign.training_set`); otherwise the engine's columns of ``which``."""
        if which is None and self.engine.hybrid is not None:
            return self.engine.hybrid.training_set(include_gold=include_gold)
        return self.engine.training_set(which or "overlap")

    def discard(self):
        """Drop the pending query without teaching it (its items stay available; no reward)."""
        self.pending = None
        self._save()
        return self

    def _sync(self) -> None:
        keys = ("strategy", "pending", "offsets", "n_queries", "taught")
        self.engine.extra = {k: getattr(self, k) for k in keys}
        self.engine.extra["scored"] = {n: _pack_mask(m) for n, m in self.scored.items()}
        if self.engine.hybrid is not None:
            self.engine.extra["hybrid"] = self.engine.hybrid.state()

    def _save(self) -> None:
        self._sync()
        self.engine.save()
