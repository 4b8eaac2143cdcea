"""The plugin contract of w2s_plugin.

Every behaviour the library has by name (scorers, threshold rules, acquisition strategies,
bandit policies, source types, model adapters, CLI commands) reaches the core through these
hooks; the built-ins in ``w2s_plugin.hooks`` implement them exactly as a third-party plugin would.
A plugin is any module or object with ``@hookimpl`` functions, registered through the
``w2s_plugin`` entry-point group (see ``plugins.py``). What each registered object must look like
is written once, as a ``typing.Protocol``, in ``w2s_plugin/protocols.py``.

The "Built-in:" lists below name what ``w2s_plugin.hooks`` registers; a test keeps them equal
to the registries.

Three kinds of hook:

* **registration hooks** (``register_*``) receive a ``register(name, obj, **meta)`` callback and
  call it once per thing they add. Names are global per kind: a duplicate is an error naming both
  plugins.
* **provider hooks** (``firstresult``) return a value for objects they understand and ``None``
  for the rest: the first non-``None`` answer wins, so a plugin can teach the library about a new
  model framework without touching it.
* **command hooks** let a plugin extend a built-in command: add options to it
  (``add_command_options``), wrap its work in a context (``command_context``) or run it itself
  (``w2s_run_command``). The integrations (Dask, Label Studio) plug into ``w2s detect`` and
  ``w2s campaign run`` this way; the core never imports them.
* **lifecycle hooks** are called at fixed points of a query or a campaign; their return values
  are ignored. Use them for logging, metrics, or side effects like exporting a batch. Where each
  is called from: ``before_query`` / ``after_query`` by ``acquisition.rank`` (so by every query
  strategy, the modAL one included); ``after_teach`` by the modAL integration after a learner's
  ``teach``; ``on_round_end`` by ``Campaign.step``; ``on_campaign_end`` by ``Campaign.run``.

docs/plugins.md documents every hook (a test fails when one is missing) and has a complete
example plugin.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("w2s_plugin")
hookimpl = pluggy.HookimplMarker("w2s_plugin")


# --- registration hooks --------------------------------------------------------------------


@hookspec
def register_overlap_scorers(register):
    """Register overlap scorers: ``register(name, factory)``.

    ``factory(**params)`` returns a :class:`~w2s_plugin.protocols.OverlapScorer`: an object with
    ``fit(hard_embeddings) -> self`` (learn the hard-only reference) and
    ``score(embeddings) -> ndarray`` (higher = more of the hard pattern), plus optional
    ``partial_fit`` for scorers whose reference is mergeable across rounds, and optional
    ``fit_gram(gram, n)`` for scorers that can be fitted from a summed Gram matrix of
    unit-normalised hard-only rows (the Dask path then builds the reference exactly, in one pass).
    Built-in: ``rms_cosine`` (the default), ``subspace``, ``max_cosine``, ``max_inner``.
    """


@hookspec
def register_thresholds(register):
    """Register threshold rules: ``register(name, func)``.

    ``func(values, **params) -> float`` (:class:`~w2s_plugin.protocols.ThresholdRule`) picks the
    split of a 1-D array; points below it are the lower group. Built-in: ``change_point`` (exact
    L2), ``change_point_grid`` (the reference's Binseg grid), ``median``, ``quantile``.
    """


@hookspec
def register_acquisition_strategies(register):
    """Register acquisition strategies: ``register(name, func)``.

    ``func(report, proba, n, *, random_state=None, **params) -> (indices, scores)``
    (:class:`~w2s_plugin.protocols.AcquisitionStrategy`) ranks the
    points of an :class:`~w2s_plugin.OverlapReport` and returns the ``n`` chosen indices, best
    first, with one score each (higher = more wanted). Built-in: ``overlap``, ``hard_only``,
    ``overlap_then_hard``, ``uncertainty``, ``margin``, ``entropy``, ``random``, ``confident``
    (random among points not detected as hard-only: the baseline that separates the two stages).
    """


@hookspec
def register_bandit_policies(register):
    """Register source-selection policies: ``register(name, factory)``.

    ``factory(**params)`` returns a :class:`~w2s_plugin.protocols.BanditPolicy`: an object with
    one method, ``choose(stats, t, rng) -> int``, that picks an arm among ``stats.active`` (see
    :class:`~w2s_plugin.bandit.ArmStats`). Built-in: ``ucb``, ``ucb1_rounds``, ``reference_ucb``,
    ``thompson``, ``epsilon_greedy``, ``round_robin``, ``random``, ``oracle``.
    """


@hookspec
def register_rewards(register):
    """Register campaign rewards: ``register(name, factory)``.

    ``factory(**params)`` returns a reward (the :class:`~w2s_plugin.rewards.Reward` protocol): an
    object with ``name`` and ``__call__(info) -> float``, the round's reward per item in [0, 1]
    given a :class:`~w2s_plugin.rewards.RoundInfo`; optionally ``bind(engine)``, ``state()`` and
    ``load_state(state)``. Built-in: ``overlap`` (the share of detected-overlap items), ``gain``
    (what the batch's weak labels do to a strong model's accuracy on a gold sample).
    """


@hookspec
def register_sources(register):
    """Register source types: ``register(name, loader, extensions=(...), schemes=(...))``.

    ``loader(location, name, **params)`` returns a :class:`~w2s_plugin.Source`
    (:class:`~w2s_plugin.protocols.SourceLoader`; ``shuffle`` and ``random_state`` are passed
    only when the loader takes them). ``Source.from_path`` picks the loader by URI scheme
    (``scheme://...``) or file extension. Built-in: ``npy``, ``npz``, ``csv``, ``jsonl``.
    """


@hookspec
def register_models(register):
    """Register weak/strong model adapters for configuration files: ``register(name, factory)``.

    ``factory(**params)`` (:class:`~w2s_plugin.protocols.ModelFactory`) builds a model object
    from a config table (``type = "name"``); the
    object is then used through the ``w2s_weak_proba`` / ``w2s_embed`` provider hooks.
    Built-in: ``sklearn``, ``pickle``, ``columns``, ``identity``, ``precomputed``,
    ``labeling_functions``.
    """


@hookspec
def register_config_tables(register):
    """Add a table to configuration files: ``register(name, keys, validate=None, path_keys=())``.

    ``keys`` lists :class:`~w2s_plugin.config.Key` objects (paths ``"name"`` and ``"name.key"``),
    checked and documented exactly like the built-in tables; ``validate(cfg, table)`` runs after
    those checks (see :class:`~w2s_plugin.protocols.ConfigTable`); ``path_keys`` are resolved
    relative to the config file. The Label Studio integration adds ``[label_studio]`` this way.
    Built-in: none.
    """


@hookspec
def register_state_kinds(register):
    """Register a front-end's kind of saved state: ``register(kind, StateKind(display, ...))``.

    A front-end that commits rounds through the :class:`~w2s_plugin.engine.Engine` (``kind=...``)
    registers its kind here, with the file and migration of folders an older version wrote
    (:class:`~w2s_plugin.state.StateKind`), so ``w2s campaign status`` and resume read its folders
    without the core knowing it. Built-in: ``campaign``.
    """


@hookspec
def register_commands(subparsers):
    """Add subcommands to the ``w2s`` command line: ``subparsers`` is an argparse subparsers action.

    Set ``func`` with ``parser.set_defaults(func=...)``; it receives the parsed ``args`` and
    returns an exit code.
    """


@hookspec
def add_command_options(command, parser):
    """Add options to the built-in command ``command`` (``"detect"`` or ``"campaign run"``):
    ``parser`` is its argparse parser. Read them back in ``command_context`` or
    ``w2s_run_command``; the built-in ignores options it does not know."""


@hookspec
def command_context(command, args):
    """Return a context manager the work of ``command`` should run inside (e.g. a Dask scheduler
    for ``--scheduler``), or ``None``. Called before any work, so raising a
    :class:`~w2s_plugin.errors.W2SError` here rejects a bad option early; enter nothing here."""


# --- provider hooks ------------------------------------------------------------------------


@hookspec(firstresult=True)
def w2s_run_command(command, args, config):
    """Run the built-in command ``command`` yourself when ``args`` ask for what this plugin provides
    (``--label-studio-url`` for ``campaign run``, ``--scheduler`` for ``detect``) and return its
    exit code; return ``None`` to let the built-in run. ``config`` is the loaded
    :class:`~w2s_plugin.config.Config` (``None`` when the command has none)."""


@hookspec(firstresult=True)
def w2s_array_backend(data):
    """Return an :class:`~w2s_plugin.protocols.ArrayBackend` that runs overlap detection on
    ``data`` (probabilities or embeddings of a type this plugin owns, e.g. a dask array), or
    ``None``. Recognise the type without importing its library, so the core stays light."""


@hookspec(firstresult=True)
def w2s_weak_proba(model, X):
    """Return the weak model's class probabilities for ``X`` as an ``(n, k)`` array, or ``None``
    if this plugin does not know the model's type."""


@hookspec(firstresult=True)
def w2s_embed(model, X):
    """Return the strong model's representation of ``X`` as an ``(n, d)`` array, or ``None`` if
    this plugin does not know the model's type."""


# --- lifecycle hooks -----------------------------------------------------------------------


@hookspec
def before_query(source, n):
    """Called before candidates of ``source`` (a name, or ``None`` for a single pool) are scored
    to pick ``n`` of them."""


@hookspec
def after_query(source, indices, scores, report):
    """Called after a query picked ``indices`` (with ``scores``) from ``source``; ``report`` is the
    :class:`~w2s_plugin.OverlapReport` of the scored candidates."""


@hookspec
def after_teach(source, indices, y):
    """Called after labels ``y`` for ``indices`` of ``source`` were given to a learner.

    The modAL integration (``w2s_plugin.integrations.modal``) calls it after each ``teach``;
    ``source`` is the source's name (``None`` for a single pool) and ``indices`` are positions in
    the pool that was queried. Other integrations that train on new labels should call it too,
    through ``plugins.call_lifecycle("after_teach", ...)``.
    """


@hookspec
def on_round_end(campaign, round):
    """Called after a campaign round was recorded and its state written to disk; ``round`` is the
    round's row (a dict) in the per-round table."""


@hookspec
def on_campaign_end(campaign):
    """Called once when a campaign's ``run()`` finishes (budget spent or sources exhausted)."""
