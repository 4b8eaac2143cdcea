"""What each kind of plugin object must look like, written once.

``hookspecs.py`` says how a plugin hands the library an object; this module says what the object
is. Each ``register_*`` hook's factory or function returns (or is) one of the protocols below.
They are ``typing.Protocol`` classes: nothing has to inherit from them, they exist for readers,
type checkers and ``isinstance`` checks where marked ``runtime_checkable``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class OverlapScorer(Protocol):
    """``register_overlap_scorers``: ``factory(**params) -> OverlapScorer``.

    ``fit`` learns the reference from the hard-only points' representations; ``score`` says, for
    each row, how much of the hard pattern it holds (higher = more). A factory that takes
    ``chunk_size`` and/or ``random_state`` gets the detector's values.

    Optional methods the library uses when present:

    * ``partial_fit(hard_embeddings) -> self``: merge more hard-only rows into the reference
      (accumulating detectors use it instead of refitting on the history);
    * ``fit_gram(gram, n) -> self``: fit from a summed Gram matrix of unit-normalised hard-only
      rows (the Dask backend then builds the reference exactly, in one pass);
    * a ``rows`` keyword on ``fit`` and ``score``: a boolean mask or index array of the rows to
      use, so the detector never copies a memory-mapped pool.
    """

    def fit(self, hard_embeddings) -> OverlapScorer: ...

    def score(self, embeddings) -> Any: ...


class ThresholdRule(Protocol):
    """``register_thresholds``: ``rule(values, **params) -> float``, the split of a 1-D array;
    values below it form the lower group (hard-only for confidence, not overlap for scores)."""

    def __call__(self, values, **params) -> float: ...


class AcquisitionStrategy(Protocol):
    """``register_acquisition_strategies``: ``strategy(report, proba, n, *, random_state=None,
    **params) -> (indices, scores)``: the ``n`` chosen indices of the report's points, best first,
    one finite score each (higher = more wanted). Register with ``needs_report=False`` when the
    strategy reads ``proba`` only (then detection can be skipped)."""

    def __call__(self, report, proba, n: int, *, random_state=None, **params) -> tuple: ...


@runtime_checkable
class BanditPolicy(Protocol):
    """``register_bandit_policies``: ``factory(**params) -> BanditPolicy``.

    ``choose(stats, t, rng)`` returns the index of the arm to pull, among ``stats.active``;
    ``stats`` is a :class:`~w2s_plugin.bandit.ArmStats` (per source: ``names``, ``active``,
    ``rounds``, ``drawn``, ``overlap``, ``reward_sum``, ``density``; and ``horizon``), ``t`` the
    round, ``rng`` the bandit's seeded Generator (the only randomness a policy may use, so a
    resumed campaign makes the same picks). Optional ``get_state()`` / ``set_state(d)`` persist
    policy-internal state with the campaign.
    """

    def choose(self, stats, t: int, rng) -> int: ...


class SourceLoader(Protocol):
    """``register_sources``: ``loader(location, name, **params) -> Source``.

    ``location`` is the path or URI (``None`` for a config source with a ``type`` and no
    ``path``); ``name`` is always given. ``shuffle`` and ``random_state`` are passed only when the
    loader takes them; every other parameter comes from the user, and a name the loader does not
    take is an error before it is called.
    """

    def __call__(self, location, name, **params) -> Any: ...


class ModelFactory(Protocol):
    """``register_models``: ``factory(**params) -> model``: a model object built from a config
    table (``type = "name"`` plus parameters). The object is then used through the
    ``w2s_weak_proba`` / ``w2s_embed`` provider hooks, so it needs no particular method."""

    def __call__(self, **params) -> Any: ...


class ConfigTable(Protocol):
    """``register_config_tables``: ``register(name, keys, validate=None, path_keys=())``.

    ``keys`` is a list of :class:`~w2s_plugin.config.Key` (path ``"name.key"``), checked like the
    built-in tables (types, unknown keys, required keys) and documented the same way;
    ``validate(cfg, table)``, when given, runs after those checks for what depends on other
    tables or the registries, and raises ``cfg.error(...)``; ``path_keys`` are resolved relative
    to the config file.
    """

    def __call__(self, cfg, table: dict) -> None: ...


@runtime_checkable
class ArrayBackend(Protocol):
    """``w2s_array_backend``: runs :class:`~w2s_plugin.OverlapDetector` on arrays the core does not
    hold in memory (dask arrays, for the ``dask`` integration). Each method does what the
    detector's method of the same name does and returns what it returns."""

    def fit_detector(self, detector, proba, embeddings) -> Any: ...

    def predict_report(self, detector, proba, embeddings) -> Any: ...


@runtime_checkable
class Reward(Protocol):
    """``register_rewards``: ``factory(**params) -> Reward``; what a campaign's bandit maximises.

    ``__call__(info)`` gets the round's :class:`~w2s_plugin.rewards.RoundInfo` and returns the
    round's reward per item, in [0, 1]. Optional methods: ``bind(engine)`` (called once, with the
    :class:`~w2s_plugin.engine.Engine`), ``state() -> dict`` (JSON-able, saved with every commit)
    and ``load_state(state)`` (on resume).
    """

    name: str

    def __call__(self, info: Any) -> float: ...
