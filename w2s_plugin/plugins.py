"""The one plugin manager, and the registries built from the ``register_*`` hooks.

Built-in behaviour lives in ``w2s_plugin.hooks`` and is registered here as ordinary plugins;
third-party plugins come from the ``w2s_plugin`` entry-point group. Two environment variables
steer loading (read when the manager is first built, or by :func:`reload_plugins`):

* ``W2S_PLUGINS``: comma-separated names; when set, only these third-party plugins load (the
  package's own integrations, entry points of ``w2s-plugin`` itself, always do)
  (empty string: none). Built-ins always load.
* ``W2S_DISABLE_PLUGINS``: comma-separated names of plugins (built-in or third-party) not to load.

The core never imports a built-in directly: it asks :func:`get_registry` for a name.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, W2SError  # noqa: F401  (PluginError re-exported)

ENTRY_POINT_GROUP = "w2s_plugin"

#: Built-in plugin modules, registered under their short names.
BUILTIN_PLUGINS = {
    "scorers": "w2s_plugin.hooks.scorers",
    "thresholds": "w2s_plugin.hooks.thresholds",
    "strategies": "w2s_plugin.hooks.strategies",
    "policies": "w2s_plugin.hooks.policies",
    "rewards": "w2s_plugin.hooks.rewards",
    "sources": "w2s_plugin.hooks.sources",
    "models": "w2s_plugin.hooks.models",
    "commands": "w2s_plugin.hooks.commands",
    "cmd_campaign": "w2s_plugin.hooks.cmd_campaign",
    "evidence": "w2s_plugin.hooks.cmd_evidence",
    "reward_gain": "w2s_plugin.hooks.reward_gain",
    "state_kinds": "w2s_plugin.hooks.state_kinds",
}

#: Registration hook for each registry kind.
KINDS = {
    "overlap_scorers": "register_overlap_scorers",
    "thresholds": "register_thresholds",
    "acquisition_strategies": "register_acquisition_strategies",
    "bandit_policies": "register_bandit_policies",
    "rewards": "register_rewards",
    "sources": "register_sources",
    "models": "register_models",
    "config_tables": "register_config_tables",
    "state_kinds": "register_state_kinds",
}


#: How errors name one item of each kind.
SINGULAR = {
    "overlap_scorers": "overlap scorer",
    "thresholds": "threshold rule",
    "acquisition_strategies": "acquisition strategy",
    "bandit_policies": "bandit policy",
    "rewards": "reward",
    "sources": "source type",
    "models": "model type",
    "config_tables": "config table",
    "state_kinds": "state kind",
}


@dataclass
class Entry:
    """One registered item: what it is, who registered it, and any metadata it came with."""

    name: str
    obj: Any
    plugin: str
    meta: dict = field(default_factory=dict)


pm = pluggy.PluginManager("w2s_plugin")
pm.add_hookspecs(hookspecs)
_loaded = False
#: Every registry built for the current set of plugins, by kind; ``_cache_key`` names that set.
_cache: dict[str, dict[str, Entry]] = {}
_cache_key: tuple = ()
_distributions: dict[str, str] = {}


def _names(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _load_builtins() -> None:
    disabled = _names("W2S_DISABLE_PLUGINS") or set()
    for short, module in BUILTIN_PLUGINS.items():
        if short in disabled or module in disabled or pm.has_plugin(short):
            continue
        pm.register(importlib.import_module(module), name=short)


def _load_entry_points() -> None:
    allowed = _names("W2S_PLUGINS")
    disabled = _names("W2S_DISABLE_PLUGINS") or set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if dist is not None:
            own = dist.metadata["Name"] == "w2s-plugin"
        else:
            own = ep.value.startswith("w2s_plugin.")
        # ^ this package's own integrations (dask, label_studio) are built-ins, not third-party
        if ep.name in disabled or (allowed is not None and ep.name not in allowed and not own):
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must say who it is
            raise PluginError(f"plugin {ep.name!r} (entry point {ep.value}) failed to load: {exc}") from exc
        _register_checked(plugin, ep.name, f"entry point {ep.value}")
        dist = getattr(ep, "dist", None)
        if dist is not None:
            _distributions[ep.name] = f"{dist.metadata['Name']} {dist.version}"


def _register_checked(plugin, name: str | None, where: str = "") -> str:
    """Register ``plugin`` and reject hook implementations the contract does not know (a misspelt
    hook name would otherwise be silently ignored) or whose arguments do not match their spec."""
    label = name or getattr(plugin, "__name__", repr(plugin))
    suffix = f" ({where})" if where else ""
    try:
        registered = pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {label!r}{suffix} does not match the hook contract: {exc}") from None
    except ValueError as exc:  # pluggy: name or object already registered
        raise PluginError(f"plugin {label!r}{suffix} cannot be registered: {exc}") from None
    unknown = [
        h.name
        for h in pm.get_hookcallers(plugin) or []
        if h.spec is None and not any(i.optionalhook for i in h.get_hookimpls() if i.plugin is plugin)
    ]
    if unknown:
        pm.unregister(plugin)
        raise PluginError(
            f"plugin {label!r}{suffix} implements unknown hook(s) {', '.join(sorted(unknown))}; "
            f"the hooks are: {', '.join(hook_names())}"
        )
    return registered


def hook_names() -> list[str]:
    """Every hook of the contract (``hookspecs.py``), in source order."""
    return [n for n, f in vars(hookspecs).items() if callable(f) and hasattr(f, "w2s_plugin_spec")]


def load_plugins() -> pluggy.PluginManager:
    """Register the built-ins and the entry-point plugins once; return the manager."""
    global _loaded
    if not _loaded:
        _loaded = True
        _load_builtins()
        _load_entry_points()
    return pm


def reload_plugins() -> pluggy.PluginManager:
    """Unregister everything and load again, honouring the environment variables as they are now."""
    global _loaded
    for plugin in list(pm.get_plugins()):
        pm.unregister(plugin)
    _invalidate()
    _distributions.clear()
    _loaded = False
    return load_plugins()


def _invalidate() -> None:
    """Forget every registry (the set of plugins changed)."""
    global _cache_key
    _cache.clear()
    _cache_key = ()


def register(plugin, name: str | None = None):
    """Register a plugin object or module at run time (tests, notebooks, a config file's
    ``plugins`` list); returns its name.

    Raises :class:`PluginError` right here, and leaves the plugin unregistered, for an unknown hook
    name, a registration hook that raises, or a name another plugin already registered.
    """
    load_plugins()
    registered = _register_checked(plugin, name)
    _invalidate()
    hooks = {h.name for h in pm.get_hookcallers(plugin) or []}
    try:
        for kind, hook in KINDS.items():
            if hook in hooks:
                get_registry(kind)
    except PluginError:
        pm.unregister(plugin)
        _invalidate()
        raise
    return registered


def unregister(plugin=None, name: str | None = None):
    """Undo :func:`register`."""
    out = pm.unregister(plugin=plugin, name=name)
    _invalidate()
    return out


def plugin_name(plugin) -> str:
    return pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))


def get_registry(kind: str) -> dict[str, Entry]:
    """All items of ``kind`` (a key of :data:`KINDS`), by name, each with the plugin that added it.

    Each hook implementation is called on its own with a ``register`` bound to its plugin, so an
    error or a duplicate names the plugin responsible. Every kind is cached for the current set of
    plugins and rebuilt only when that set changes (:func:`register`, :func:`unregister`,
    :func:`reload_plugins`, or ``pm.register`` called directly).
    """
    global _cache_key
    if kind not in KINDS:
        raise ValueError(f"unknown registry kind {kind!r}; expected one of {sorted(KINDS)}")
    load_plugins()
    key = tuple((name, id(p)) for name, p in pm.list_name_plugin())
    if key != _cache_key:
        _cache.clear()
        _cache_key = key
    if kind in _cache:
        return _cache[kind]
    hook = getattr(pm.hook, KINDS[kind])
    found: dict[str, Entry] = {}
    # get_hookimpls() is in registration order (pluggy calls them in reverse): built-ins come
    # first, so a later plugin reusing a built-in name is the one reported as the duplicate.
    for impl in hook.get_hookimpls():
        who = impl.plugin_name

        def _register(name, obj, _who=who, **meta):
            if not isinstance(name, str) or not name:
                raise PluginError(
                    f"plugin {_who!r} registered a {SINGULAR[kind]} with an invalid name {name!r}"
                )
            if name in found:
                raise PluginError(
                    f"plugin {_who!r} registered {SINGULAR[kind]} {name!r}, "
                    f"which plugin {found[name].plugin!r} already registered; rename one of them"
                )
            found[name] = Entry(name=name, obj=obj, plugin=_who, meta=meta)

        try:
            impl.function(_register)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {who!r} raised while registering {kind}: {type(exc).__name__}: {exc}"
            ) from exc
    _cache[kind] = found
    return found


def lookup(kind: str, name: str, what: str | None = None) -> Any:
    """The object registered as ``name`` in ``kind``, or a W2SError listing the valid names."""
    registry = get_registry(kind)
    if not isinstance(name, str) or name not in registry:
        label = what or SINGULAR[kind]
        raise W2SError(f"unknown {label} {name!r}; registered: {', '.join(sorted(registry)) or '(none)'}")
    return registry[name].obj


def call_lifecycle(hook_name: str, **kwargs) -> None:
    """Call a lifecycle hook on every plugin (return values ignored)."""
    load_plugins()
    getattr(pm.hook, hook_name)(**kwargs)


def weak_proba(model, X) -> Any:
    """Class probabilities from any model a plugin understands (``w2s_weak_proba``)."""
    return _model_hook("w2s_weak_proba", model, X)


def embed(model, X) -> Any:
    """Representations from any model a plugin understands (``w2s_embed``); ``None`` means ``X`` itself."""
    return _model_hook("w2s_embed", model, X)


#: Per model hook: what no plugin could do, and how the user fixes it.
_MODEL_HOOK_FAILURES = {
    "w2s_weak_proba": (
        "get class probabilities from",
        "give it a predict_proba method, pass a callable X -> probabilities, or register a "
        "w2s_weak_proba hook",
    ),
    "w2s_embed": (
        "embed with",
        "pass a callable X -> embeddings, an object with transform(), None for the raw features, or "
        "register a w2s_embed hook",
    ),
}


def _model_hook(hook_name: str, model, X) -> Any:
    """The first plugin's answer to a model hook; no answer is a one-line error saying the fix."""
    load_plugins()
    out = getattr(pm.hook, hook_name)(model=model, X=X)
    if out is None:
        task, fix = _MODEL_HOOK_FAILURES[hook_name]
        raise W2SError(f"no plugin can {task} a {type(model).__name__}: {fix}")
    return out


def array_backend(*arrays) -> Any:
    """The backend a plugin provides for ``arrays`` (``w2s_array_backend``), or ``None`` when they
    are in-memory arrays the core handles itself. NumPy arrays skip the hook call."""
    if all(type(a).__module__ == "numpy" for a in arrays):
        return None
    load_plugins()
    for a in arrays:
        backend = pm.hook.w2s_array_backend(data=a)
        if backend is not None:
            return backend
    return None


def add_command_options(command: str, parser) -> None:
    """Let plugins add options to the built-in ``command`` (``"detect"``, ``"campaign run"``)."""
    load_plugins()
    for impl in pm.hook.add_command_options.get_hookimpls():
        try:
            impl.function(command=command, parser=parser)
        except Exception as exc:  # argparse's "conflicting option string" for a duplicate option
            raise PluginError(
                f"plugin {impl.plugin_name!r} failed to add options to `w2s {command}`: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def command_contexts(command: str, args) -> list:
    """Context managers plugins want the work of ``command`` to run inside (e.g. a Dask scheduler).

    Called before any work, so a plugin can reject its options early (a missing extra)."""
    load_plugins()
    return [c for c in pm.hook.command_context(command=command, args=args) if c is not None]


def run_command(command: str, args, config=None):
    """The exit code of a plugin that runs ``command`` itself for these ``args``
    (``w2s_run_command``), or ``None`` when the built-in should run it."""
    load_plugins()
    return pm.hook.w2s_run_command(command=command, args=args, config=config)


def describe() -> list[dict]:
    """What each plugin registers, for ``w2s plugins``."""
    load_plugins()
    rows = {}
    for plugin in pm.get_plugins():
        name = pm.get_name(plugin)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        dist = _distributions.get(name)
        rows[name] = {
            "name": name,
            "hooks": hooks,
            "registers": {},
            "distribution": dist,
            "builtin": name in BUILTIN_PLUGINS,
        }
    for kind in KINDS:
        for entry in get_registry(kind).values():
            rows.setdefault(
                entry.plugin,
                {"name": entry.plugin, "hooks": [], "registers": {}, "distribution": None, "builtin": False},
            )
            rows[entry.plugin]["registers"].setdefault(kind, []).append(entry.name)
    for name, commands in _commands_by_plugin().items():
        if name in rows and commands:
            rows[name]["registers"]["commands"] = commands
    return sorted(rows.values(), key=lambda r: (not r["builtin"], r["name"]))


def _commands_by_plugin() -> dict[str, list[str]]:
    """The ``w2s`` subcommands each plugin's ``register_commands`` adds, found by letting it add
    them to a throw-away parser (cheap: argparse only)."""
    import argparse

    out = {}
    for impl in pm.hook.register_commands.get_hookimpls():
        sub = argparse.ArgumentParser(add_help=False).add_subparsers()
        try:
            impl.function(sub)
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin_name!r} raised while adding commands: {type(exc).__name__}: {exc}"
            ) from exc
        out[impl.plugin_name] = sorted(sub.choices)
    return out
