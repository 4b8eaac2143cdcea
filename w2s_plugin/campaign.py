"""A multi-source campaign: each round the bandit picks a source, a batch is drawn and weak-labeled,
overlap is detected, and the campaign's reward for the batch updates the source's estimate.

Sources, bandit, reward, state on disk and resume rules live in :mod:`w2s_plugin.engine`; this
front-end draws, weak-labels and detects. Every round is committed to ``state_dir`` before the
next starts, so a crash (even SIGKILL) loses at most the round in flight and
``Campaign.resume`` continues exactly where it stopped. See docs/campaigns.md.
"""

from __future__ import annotations

from . import engine as _engine
from . import plugins
from .engine import LOG_FILE, STATE_FILE, Engine, atomic_write_bytes, engine_attributes, load_state  # noqa: F401  (re-exported)
from .errors import W2SError
from .hybrid import HybridLabeling, hybrid_resume_params
from .results import CampaignResults  # noqa: F401  (re-exported)
from .settings import RunSettings


@engine_attributes
class Campaign:
    """Draw batches from the sources a bandit picks, detect overlap in each, keep everything on disk.

    Parameters
    ----------
    sources : list of Source (or paths, loaded with ``Source.from_path``)
    weak_model : anything the ``w2s_weak_proba`` hook understands (an estimator with
        ``predict_proba``, a callable) or ``Precomputed("proba")``; it reads each batch's
        ``view("weak")``.
    embed : the strong representation: ``None`` (the features), a callable, a transformer, or
        ``Precomputed("embeddings")``; it reads each batch's ``view("strong")``.
    detector : OverlapDetector or dict of its params (default: accumulate history across rounds).
    bandit : SourceBandit, a policy name, or a dict ``{"policy": ..., "policy_params": ...}``.
    batch_size : points per round (>= 2: detection splits a batch in two); default 100
        (:data:`~w2s_plugin.settings.DEFAULT_BATCH_SIZE`, or the saved one on resume).
    budget : total points to draw (default: until every source is exhausted). A round never holds
        a single point, so the last round may take one extra point from a source (rather than
        strand it) or the campaign may stop one point short of the budget.
    state_dir : where every round is committed (``None``: in memory only).
    true_densities : ``{source: density}`` for simulations; taken from each source's
        ``extras["regions"]`` when all have it. Enables regret.
    progress : show a progress bar (on stderr) with the current estimates in ``run()``.
    random_state : seeds the bandit and detector when they are built here.
    reward, reward_params : what the bandit maximises: a registered reward name (default
        ``overlap``), a reward object or a ``callable(info) -> float`` (see :mod:`w2s_plugin.rewards`).
    gold : ``None`` or ``(X_gold, y_gold)``, gold items in the sources' form, labels as classes
        (for rewards that measure accuracy).
    classes : class labels in the order of the weak model's probability columns (default: its
        ``classes_``, else ``0..k-1``); weak labels are reported as these.
    annotate, human_budget : a *hybrid* campaign (:mod:`w2s_plugin.hybrid`): each round people label
        up to the round's share of ``human_budget`` items through ``annotate(batch) -> labels``
        (an audit sample of the batch, the rest routed to the drawn items weak labels are least
        trustworthy on), and weak labels fill in the rest. Answers are committed before the round
        goes on; an item is never asked twice, also across a crash and ``resume``.
    audit_share : share of each round's human labels drawn uniformly from the batch (default 0.15):
        unbiased weak-label precision per source and region, and the strong model's accuracy.
    human_batch : human labels per round (default: the budget spread over the rounds).
    stop_when : stop when the last human labels were worth fewer accuracy points per 100 labels than
        this number (or ``callable(status) -> bool``); see ``hybrid_status()``.
    hybrid_params : more :class:`~w2s_plugin.hybrid.HybridLabeling` settings (``weak_weights``,
        ``diverse``, ``strong_model``, ``min_labels``, ...).
    force_new : start a new campaign even if ``state_dir`` holds one: the old folder is moved aside
        to ``<state_dir>.old-<UTC time>`` (never deleted).

    The rest (``results()``, ``training_data(which)``, ``summary()``, ``sources``, ``bandit``,
    ``rounds``, ``n_drawn``, ``done``, ...) is the engine's (:class:`~w2s_plugin.engine.Engine`).
    """

    def __init__(
        self,
        sources,
        weak_model,
        embed=None,
        detector=None,
        bandit=None,
        batch_size: int | None = None,
        budget: int | None = None,
        state_dir=None,
        true_densities: dict | None = None,
        progress: bool = True,
        random_state=None,
        resume: bool = False,
        reward="overlap",
        reward_params: dict | None = None,
        gold=None,
        classes=None,
        annotate=None,
        human_budget: int | None = None,
        audit_share: float = 0.15,
        human_batch: int | None = None,
        stop_when=None,
        hybrid_params: dict | None = None,
        force_new: bool = False,
        _saved=None,
    ):
        srcs = _engine.prepare_sources(sources, "Campaign")
        settings = RunSettings.from_arguments(
            locals(), true_densities=_engine.true_densities_of(srcs, true_densities, "Campaign")
        ).resolved(None if _saved is None else _saved.state)
        _engine.check_batching(srcs, settings, embed, "Campaign")
        self.weak_model, self.embed, self.progress = weak_model, embed, progress
        hybrid = None
        if human_budget is not None:
            hybrid = HybridLabeling(
                annotate,
                human_budget,
                audit_share=audit_share,
                human_batch=human_batch,
                stop_when=stop_when,
                **dict(hybrid_params or {}),
            )
        elif annotate is not None:
            raise W2SError("Campaign: annotate= needs human_budget= (how many labels people may give)")
        self.engine = Engine(
            srcs,
            weak_model,
            embed,
            kind="campaign",
            owner="Campaign",
            settings=settings,
            resume=resume,
            min_left=2,
            force_new=force_new,
            hybrid=hybrid,
            _saved=_saved,
        )

    @classmethod
    def resume(cls, state_dir, sources, weak_model, embed=None, **kwargs) -> Campaign:
        """Continue the campaign saved in ``state_dir`` (0.1.0 folders included): same sources and models.

        ``batch_size``, ``budget``, ``random_state``, the reward and the detector's parameters default
        to the saved ones; the bandit (policy, counts, random stream) always comes from disk.
        """
        kwargs = _engine.resume_settings(state_dir, "campaign", kwargs)
        # a hybrid run's settings come from its state (read once, by resume_settings)
        saved = (kwargs["_saved"].state.get("hybrid") or {}) if "human_budget" not in kwargs else {}
        for key in ("human_budget", "audit_share", "human_batch", "stop_when"):
            if saved.get(key) is not None:
                kwargs.setdefault(key, saved[key])
        if saved:
            kwargs["hybrid_params"] = hybrid_resume_params(saved, kwargs.get("hybrid_params"))
        return cls(sources, weak_model, embed, state_dir=state_dir, resume=True, **kwargs)

    def step(self) -> dict:
        """Run one round and commit it; returns the round's row.

        If the weak model, the representation, detection or the reward fails, nothing is consumed:
        the items stay undrawn and the bandit's random stream is rewound, so a retry is exact.
        """
        if self.done:
            raise RuntimeError("the campaign is done: budget spent or every source exhausted")
        e = self.engine
        name = e.select()
        source = self.sources[name]
        with e.attempt(name):
            pos = source.candidates(e.next_batch_size(source))
            res = e.evaluate(name, source.get(pos))  # hybrid: people's answers are on disk first
        source.mark_used(pos)
        row = e.record(name, res.row, res.value, items=res.items)
        if e.hybrid is not None:
            e.hybrid.after_commit()
        plugins.call_lifecycle("on_round_end", campaign=self, round=row)
        return row

    def training_set(self, which: str | None = None, include_gold: bool = True):
        """A hybrid campaign (``which=None``): ``(X, y, sample_weight)``, the strong model's training
        set (gold and human labels at weight 1, weak labels at the cross-fitted weight, possibly 0;
        ``X`` in the sources' form, a dict of views for sources with views). Otherwise, or with
        ``which`` (``overlap``, ``confident``, ``all``): the drawn items' columns, as before."""
        if which is None and self.engine.hybrid is not None:
            return self.engine.hybrid.training_set(include_gold=include_gold)
        return self.engine.training_set(which or "overlap")

    def hybrid_status(self) -> dict | None:
        """A hybrid campaign's numbers (human/weak split, weak-label precision and the strong model's
        accuracy on the audit labels with Wilson intervals, the value of the last human labels)."""
        return None if self.engine.hybrid is None else self.engine.hybrid.status()

    def run(self, max_rounds: int | None = None) -> CampaignResults:
        """Run rounds until the budget is spent, every source is exhausted, or ``max_rounds`` more ran."""
        self.engine.run_rounds(self.step, max_rounds, self.progress, "campaign")
        if self.done:
            plugins.call_lifecycle("on_campaign_end", campaign=self)
        return self.results()
