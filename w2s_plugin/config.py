"""Configuration files: a TOML description of an acquisition strategy or a whole campaign.

Every name in a config file (scorer, threshold rule, bandit policy, strategy, source type, model
type) is looked up in the plugin registry, so a plugin's additions are configurable the moment it
is installed. Validation happens before anything runs and every error is a :class:`ConfigError`
that names the file, the key path (``sources[1].path``), what was expected and what was found.

The schema is :data:`SCHEMA`; docs/configuration.md documents every key (a test keeps the two
in sync).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import errors, plugins
from .detector import DEFAULT_SCORER
from .errors import SettingError, StateError
from .params import UnknownParameterError, check_params, required_params, signature_params, supported

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ConfigError(errors.ConfigError):
    """A config file is wrong: ``file``, ``key`` (a path like ``sources[0].path``), ``expected``
    and ``received`` say exactly where and how."""

    def __init__(self, file, key: str, expected: str, received: Any, hint: str = ""):
        self.file = str(file)
        self.key = key
        self.expected = expected
        self.received = received
        self.hint = hint
        got = received if isinstance(received, str) and key == "(file)" else _short(received)
        msg = f"{self.file}: {key}: expected {expected}; got {got}"
        super().__init__(msg + (f" ({hint})" if hint else ""))


def _short(v: Any, limit: int = 80) -> str:
    r = repr(v)
    return r if len(r) <= limit else r[: limit - 3] + "..."


# --- the schema ------------------------------------------------------------------------------

_MISSING = object()


@dataclass(frozen=True)
class Key:
    """One documented config key: where it lives, what it accepts, what it means."""

    path: str  # "campaign.batch_size", "sources[].path"
    types: tuple  # accepted Python types after TOML parsing
    expected: str  # human wording for errors
    doc: str
    default: Any = _MISSING
    required: bool = False
    check: Callable[[Any], bool] | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]


def _pos_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _number_or_name(v) -> bool:
    return isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool))


_INT = (int,)
_STR = (str,)
_TABLE = (dict,)
_BOOL = (bool,)

SCHEMA: list[Key] = [
    Key(
        "plugins",
        (list,),
        "a list of module names or .py files",
        "Extra plugins to load for this config: importable module names or paths to ``.py`` files "
        "(relative to the config file). Installed entry-point plugins load anyway.",
        default=[],
    ),
    Key("seed", _INT, "an integer", "Seeds every random choice: source order, bandit, detector.", default=0),
    # [campaign]
    Key("campaign", _TABLE, "a table", "How a campaign runs (needed by ``w2s campaign run``)."),
    Key(
        "campaign.batch_size",
        _INT,
        "a positive integer",
        "Points drawn per round.",
        required=True,
        check=_pos_int,
    ),
    Key(
        "campaign.budget",
        _INT,
        "an integer >= campaign.batch_size",
        "Total points to draw; omit to run until every source is exhausted.",
        check=_pos_int,
    ),
    Key(
        "campaign.state_dir",
        _STR,
        "a directory path",
        "Where state is written atomically after every round; an existing state is resumed. "
        "Omit to keep the campaign in memory only.",
    ),
    Key(
        "campaign.max_rounds",
        _INT,
        "a positive integer",
        "Stop after this many rounds in one run.",
        check=_pos_int,
    ),
    Key("campaign.progress", _BOOL, "true or false", "Show a progress bar.", default=True),
    Key(
        "campaign.reward",
        _STR,
        "a registered reward name",
        "What the bandit maximises each round (a reward plugin; default ``overlap``).",
        default="overlap",
    ),
    Key("campaign.reward_params", _TABLE, "a table", "Parameters of the reward's factory."),
    Key(
        "campaign.gold",
        _TABLE,
        "a table {path = ..., labels = ...}",
        "A gold sample (what reward ``gain`` scores batches against): ``path`` a file of items in the "
        "sources' own form (any source type; ``type`` and ``params`` as for a source), ``labels`` a "
        "file with one label per item (``.npy`` or one per line) or a column of ``path``'s records; "
        "without ``labels``, the source's own labels (``params = { label_column = ... }``).",
    ),
    Key(
        "campaign.true_densities",
        _TABLE,
        "a table of source name = density",
        "Known overlap densities (simulations only): enables regret against the oracle.",
    ),
    # [[sources]]
    Key(
        "sources",
        (list,),
        "an array of tables ([[sources]]) or of paths",
        "The pools the bandit chooses between. A plain string is shorthand for ``{path = ...}``.",
    ),
    Key(
        "sources[].name",
        _STR,
        "a non-empty string",
        "Source name (default: the file name without extension).",
    ),
    Key(
        "sources[].path",
        _STR,
        "a file path or URI",
        "File or URI; its extension or scheme picks the source type unless ``type`` is given.",
    ),
    Key(
        "sources[].type",
        _STR,
        "a registered source type",
        "Source type (``npy``, ``npz``, ``csv``, ``jsonl`` or a plugin's). Without ``path`` the "
        "type's loader is called with location ``None`` (generated or remote sources).",
    ),
    Key(
        "sources[].params",
        _TABLE,
        "a table",
        "Keyword arguments for the source type's loader "
        "(e.g. ``features``, ``id_column``, ``label_column`` for CSV/JSONL).",
        default={},
    ),
    Key(
        "sources[].shuffle",
        _BOOL,
        "true or false",
        "Draw in a seeded random order (default) or file order.",
        default=True,
    ),
    Key("sources[].seed", _INT, "an integer", "Seed of this source's draw order (default: seed + position)."),
    Key(
        "sources[].views",
        _TABLE,
        "a table of role = file path or list of column names",
        "What each model reads when it is not the source's own features: ``weak`` (the weak model's "
        "input) and/or ``strong`` (the representation), each a file with one row per item in the "
        "source's order (e.g. stored embeddings, ``.npy``), the name of an array in an ``.npz`` "
        "source, or a list of column names of a CSV/JSONL source.",
    ),
    # [weak_model] / [representation]
    Key("weak_model", _TABLE, "a table", "The weak model: where class probabilities come from."),
    Key(
        "weak_model.type",
        _STR,
        "a registered model type",
        "Model type (``sklearn``, ``pickle``, ``precomputed``, ``labeling_functions``, ... or a "
        "plugin's); every other key of the table is a parameter of that type.",
        required=True,
    ),
    Key(
        "representation",
        _TABLE,
        "a table",
        "The strong model's representation (default: the features themselves, ``identity``).",
    ),
    Key(
        "representation.type",
        _STR,
        "a registered model type",
        "Model type (``identity``, ``columns``, ``sklearn`` with a transformer, ``precomputed``, "
        "``pickle`` or a plugin's); other keys are its parameters.",
        required=True,
    ),
    # [detector]
    Key("detector", _TABLE, "a table", "Overlap detection (OverlapDetector parameters)."),
    Key("detector.scorer", _STR, "a registered overlap scorer", "Overlap scorer.", default=DEFAULT_SCORER),
    Key("detector.scorer_params", _TABLE, "a table", "Parameters of the scorer.", default={}),
    Key(
        "detector.hard_threshold",
        (str, int, float),
        "a threshold rule name or a number in [0, 1]",
        "Split of weak confidence (hard-only below).",
        default="change_point",
        check=lambda v: _number_or_name(v) and (isinstance(v, str) or 0 <= v <= 1),
    ),
    Key(
        "detector.overlap_threshold",
        (str, int, float),
        "a threshold rule name or a finite number",
        "Split of the overlap score (overlap at or above; in [0, 1] for the built-in cosine scorers).",
        default="change_point",
        check=lambda v: _number_or_name(v) and (isinstance(v, str) or math.isfinite(v)),
    ),
    Key("detector.threshold_params", _TABLE, "a table", "Parameters of the threshold rules.", default={}),
    Key(
        "detector.accumulate",
        _BOOL,
        "true or false",
        "Fit thresholds on every point seen so far, not one batch (campaigns: default true).",
        default=True,
    ),
    Key(
        "detector.history_size",
        _INT,
        "a positive integer",
        "Points kept (reservoir) when accumulating.",
        default=50_000,
        check=_pos_int,
    ),
    Key(
        "detector.chunk_size",
        _INT,
        "a positive integer",
        "Rows scored per chunk.",
        default=8192,
        check=_pos_int,
    ),
    # [bandit]
    Key("bandit", _TABLE, "a table", "Which source to draw from next."),
    Key("bandit.policy", _STR, "a registered bandit policy", "Bandit policy.", default="ucb"),
    Key(
        "bandit.params",
        _TABLE,
        "a table",
        "Parameters of the policy (e.g. ``c`` for ucb, ``epsilon`` for epsilon_greedy).",
        default={},
    ),
    Key(
        "bandit.horizon",
        _INT,
        "a positive integer",
        "Planned rounds (only ``reference_ucb`` uses it).",
        check=_pos_int,
    ),
    # [acquisition]
    Key(
        "acquisition",
        _TABLE,
        "a table",
        "Which points of a batch to pick (modAL query strategy, Label Studio prediction scores).",
    ),
    Key(
        "acquisition.strategy",
        _STR,
        "a registered acquisition strategy",
        "Acquisition strategy.",
        default="overlap",
    ),
    Key(
        "acquisition.params",
        _TABLE,
        "a table",
        "Parameters of the strategy (e.g. ``ratio`` for overlap_then_hard).",
        default={},
    ),
    Key("acquisition.n", _INT, "a positive integer", "Points to pick per query.", check=_pos_int),
]

#: Tables whose keys other than ``type`` are parameters of the registered model type.
OPEN_TABLES = ("weak_model", "representation")
#: Keywords the library passes to a source loader itself (when the loader takes them).
SOURCE_SUPPLIED = ("name", "shuffle", "random_state")


def schema() -> list[Key]:
    """:data:`SCHEMA` plus the keys of every table a plugin adds (``register_config_tables``)."""
    return [*SCHEMA, *(k for e in plugins.get_registry("config_tables").values() for k in e.obj)]


def _by_path() -> dict[str, Key]:
    return {k.path: k for k in schema()}


#: Parameter names of model types and source loaders that are resolved as paths too.
PATH_PARAMS = {"path", "train", "labels"}


# --- the parsed config -----------------------------------------------------------------------


@dataclass
class Config:
    """A validated config: plain data (``data``) plus where it came from (relative paths are resolved)."""

    data: dict
    file: str
    base_dir: Path
    plugins_loaded: list = field(default_factory=list)

    def get(self, path: str, default: Any = _MISSING) -> Any:
        """Value at a dotted ``path`` (``"bandit.policy"``), or the schema default."""
        node: Any = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is not _MISSING:
                    return default
                key = _by_path().get(path)
                return None if key is None or key.default is _MISSING else key.default
            node = node[part]
        return node

    def error(self, key: str, expected: str, received: Any, hint: str = "") -> ConfigError:
        return ConfigError(self.file, key, expected, received, hint)

    @property
    def is_campaign(self) -> bool:
        return bool(self.data.get("sources"))

    # -- builders ------------------------------------------------------------------------------
    def build_sources(self) -> list:
        from .sources import Source

        out = []
        seed = self.get("seed")
        for i, spec in enumerate(self.data.get("sources", [])):
            where = f"sources[{i}]"
            kw = dict(spec.get("params", {}))
            try:
                loader = self.source_loader(spec)
                # shuffle and seed are the config's keys, handed on only to a loader that takes them
                supplied = {"shuffle": spec.get("shuffle", True), "random_state": spec.get("seed", seed + i)}
                kw = {**(supported(loader, supplied, skip=1) if loader is not None else supplied), **kw}
                if spec.get("path") is not None:
                    src = Source.from_path(spec["path"], name=spec.get("name"), type=spec.get("type"), **kw)
                else:
                    src = loader(None, name=spec.get("name") or spec["type"], **kw)
            except (ValueError, OSError, TypeError, KeyError) as exc:
                raise self.error(where, "a source that loads", spec, f"{type(exc).__name__}: {exc}") from None
            if not isinstance(src, Source):
                raise self.error(where, "a loader returning a Source", type(src).__name__)
            if spec.get("views"):
                try:
                    src.add_views(spec["views"])
                except (ValueError, OSError) as exc:
                    raise self.error(f"{where}.views", "views that load", spec["views"], str(exc)) from None
            out.append(src)
        return out

    def source_loader(self, spec: dict):
        """The loader a ``[[sources]]`` entry uses: its ``type``, else its URI scheme or extension
        (exactly as ``Source.from_path`` picks it); ``None`` when none matches."""
        if spec.get("type"):
            return plugins.lookup("sources", spec["type"], "source type")
        from .sources import loader_for

        try:
            return loader_for(spec["path"])
        except ValueError:
            return None

    def check_name(self, kind: str, name, kp: str, what: str) -> Any:
        """The object registered as ``name`` in ``kind``, or an error at key ``kp`` listing the names."""
        registry = plugins.get_registry(kind)
        if name not in registry:
            raise self.error(
                kp,
                f"a registered {what} ({', '.join(sorted(registry))})",
                name,
                _suggest(str(name), registry) or "register one with a plugin",
            )
        return registry[name].obj

    def build_model(self, table: str):
        """The object a ``[weak_model]`` / ``[representation]`` table describes (``None`` = identity)."""
        spec = self.data.get(table)
        if spec is None:
            if table == "representation":
                return None
            raise self.error(table, f"a [{table}] table", None)
        params = {k: v for k, v in spec.items() if k != "type"}
        factory = plugins.lookup("models", spec["type"], "model type")
        try:
            return factory(**params)
        except (ValueError, OSError, TypeError, KeyError, ImportError) as exc:
            raise self.error(
                table, f"a buildable {spec['type']!r} model", params, f"{type(exc).__name__}: {exc}"
            ) from None

    def detector_params(self) -> dict:
        d = dict(self.data.get("detector", {}))
        d.setdefault("accumulate", True)
        d["random_state"] = self.get("seed")
        return d

    def build_detector(self):
        from .detector import OverlapDetector

        return OverlapDetector(**self.detector_params())

    def bandit_params(self) -> dict:
        b = self.data.get("bandit", {})
        out = {"policy": b.get("policy", "ucb"), "policy_params": dict(b.get("params", {}))}
        if b.get("horizon") is not None:
            out["horizon"] = b["horizon"]
        return out

    def acquisition(self) -> tuple[str, dict]:
        """``(strategy name, params)`` for :func:`w2s_plugin.acquisition.rank` and the integrations."""
        a = self.data.get("acquisition", {})
        return a.get("strategy", "overlap"), dict(a.get("params", {}))

    def gold(self):
        """``(items, labels)`` of ``campaign.gold`` (``None`` without it)."""
        spec = self.get("campaign.gold")
        if spec is None:
            return None
        try:
            return load_gold(spec)
        except (ValueError, OSError) as exc:
            raise self.error(
                "campaign.gold", "a gold sample that loads", spec.get("path"), str(exc)
            ) from None

    def state_dir(self) -> Path | None:
        sd = self.get("campaign.state_dir")
        return None if sd is None else Path(sd)

    def has_state(self) -> bool:
        from .campaign import STATE_FILE

        sd = self.state_dir()
        return sd is not None and (sd / STATE_FILE).exists()

    def build_campaign(self, progress: bool | None = None, force_new: bool = False):
        """A :class:`~w2s_plugin.Campaign` from this config; resumed when ``campaign.state_dir``
        already holds state (check :meth:`has_state` to tell the user), unless ``force_new`` (the
        old folder is then moved aside and a new campaign starts)."""
        from .campaign import Campaign

        if not self.is_campaign:
            raise self.error("sources", "at least one source to run a campaign", self.data.get("sources"))
        if "campaign" not in self.data:
            raise self.error("campaign", "a [campaign] table with batch_size", None)
        if "weak_model" not in self.data:
            raise self.error("weak_model", "a [weak_model] table to run a campaign", None)
        kw = dict(
            detector=self.detector_params(),
            bandit=self.bandit_params(),
            batch_size=self.get("campaign.batch_size"),
            budget=self.get("campaign.budget"),
            true_densities=self.get("campaign.true_densities"),
            progress=self.get("campaign.progress") if progress is None else progress,
            random_state=self.get("seed"),
            reward=self.get("campaign.reward") or "overlap",
            reward_params=self.get("campaign.reward_params"),
            gold=self.gold(),
        )
        if kw["reward"] not in plugins.get_registry("rewards"):
            raise self.error(
                "campaign.reward",
                f"a registered reward ({', '.join(sorted(plugins.get_registry('rewards')))})",
                kw["reward"],
            )
        sources = self.build_sources()
        weak = self.build_model("weak_model")
        embed = self.build_model("representation")
        try:
            if self.has_state() and not force_new:
                return Campaign.resume(self.state_dir(), sources, weak, embed, **kw)
            return Campaign(sources, weak, embed, state_dir=self.state_dir(), force_new=force_new, **kw)
        except StateError:
            raise  # a damaged folder or a changed seed names the file itself; not a sources problem
        except SettingError as exc:  # the setting is named by the error, not found in its text
            raise self.error(
                f"campaign.{exc.field}",
                "a value consistent with the sources and saved state",
                self.get(f"campaign.{exc.field}", None),
                str(exc),
            ) from None
        except ValueError as exc:
            raise self.error(
                "sources", "sources a campaign can use", [s.name for s in sources], str(exc)
            ) from None

    def summary(self) -> str:
        """A few lines saying what this config will do."""
        lines = []
        if self.plugins_loaded:
            lines.append(f"plugins:         {', '.join(self.plugins_loaded)}")
        for i, s in enumerate(self.data.get("sources", [])):
            what = s.get("path") or f"type {s.get('type')}"
            lines.append(f"source {i}:        {s.get('name') or Path(str(s.get('path'))).stem}  ({what})")
        for t in OPEN_TABLES:
            if t in self.data:
                params = {k: v for k, v in self.data[t].items() if k != "type"}
                lines.append(
                    f"{t + ':':<17}{self.data[t]['type']}  {_short(params, 60) if params else ''}".rstrip()
                )
        det = self.data.get("detector", {})
        lines.append(
            f"detector:        scorer={det.get('scorer', DEFAULT_SCORER)} "
            f"hard_threshold={det.get('hard_threshold', 'change_point')} "
            f"overlap_threshold={det.get('overlap_threshold', 'change_point')}"
        )
        if self.is_campaign or "bandit" in self.data:
            b = self.bandit_params()
            lines.append(f"bandit:          {b['policy']} {b['policy_params'] or ''}".rstrip())
        if "acquisition" in self.data:
            s, p = self.acquisition()
            lines.append(f"acquisition:     {s} {p or ''}".rstrip())
        if "campaign" in self.data:
            c = self.data["campaign"]
            lines.append(
                f"campaign:        batch_size={c.get('batch_size')} "
                f"budget={c.get('budget', 'until exhausted')} "
                f"state_dir={c.get('state_dir', '(memory only)')}"
            )
        lines.append(f"seed:            {self.get('seed')}")
        return "\n".join(lines)


# --- loading and validation ------------------------------------------------------------------


def load_config(path, build: bool = False) -> Config:
    """Read, validate and return the config at ``path`` (a :class:`ConfigError` on any problem).

    Validation checks types, unknown keys, registered names and parameter names against the
    registered factories, and that input files exist. With ``build=True`` it also loads the
    sources and builds the models, detector and bandit (what ``w2s config check --build`` does).
    """
    file = str(path)
    p = Path(path)
    if not p.is_file():
        raise ConfigError(file, "(file)", "an existing TOML file", "no such file")
    try:
        with open(p, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "(file)", "valid TOML", f"a syntax error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            file,
            "(file)",
            "UTF-8 text",
            f"a byte that is not UTF-8 at offset {exc.start} (save the file as UTF-8)",
        ) from None
    return validate(data, file=file, base_dir=p.resolve().parent, build=build)


def loads_config(text: str, file: str = "<string>", base_dir=".", build: bool = False) -> Config:
    """Like :func:`load_config`, from a TOML string."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "(file)", "valid TOML", f"a syntax error: {exc}") from None
    return validate(data, file=file, base_dir=Path(base_dir).resolve(), build=build)


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"did you mean {close[0]!r}?" if close else ""


def _schema_path(path: str) -> str:
    """``sources[2].params`` -> ``sources[].params``."""
    import re

    return re.sub(r"\[\d+\]", "[]", path)


def _check_table(cfg: Config, table: dict, prefix: str, keys: list[Key]) -> None:
    """Types, required keys and unknown keys of one (closed) table."""
    spath = _schema_path(prefix)
    known = {k.name: k for k in keys if k.path.rsplit(".", 1)[0] == spath and k.path != spath}
    for name, value in table.items():
        kp = f"{prefix}.{name}" if prefix else name
        key = known.get(name)
        if key is None:
            expected = "one of " + ", ".join(sorted(known))
            raise cfg.error(kp, f"a known key ({expected})", name, _suggest(name, known) or "unknown key")
        _check_value(cfg, key, value, kp)
    for name, key in known.items():
        if key.required and name not in table:
            raise cfg.error(f"{prefix}.{name}", key.expected, None, "this key is required")


def _check_value(cfg: Config, key: Key, value, kp: str) -> None:
    ok = isinstance(value, key.types) and not (isinstance(value, bool) and bool not in key.types)
    if ok and key.check is not None:
        ok = key.check(value)
    if not ok:
        raise cfg.error(kp, key.expected, value)


def _resolve(cfg: Config, value: str) -> str:
    if "://" in value or os.path.isabs(value):
        return value
    if value.startswith("~"):
        return os.path.expanduser(value)
    return str((cfg.base_dir / os.path.expanduser(value)).resolve())


def _load_config_plugins(cfg: Config) -> None:
    disabled = plugins._names("W2S_DISABLE_PLUGINS") or set()
    for i, spec in enumerate(cfg.data.get("plugins", [])):
        kp = f"plugins[{i}]"
        if not isinstance(spec, str) or not spec:
            raise cfg.error(kp, "a module name or a .py file", spec)
        if spec.endswith(".py"):
            path = Path(_resolve(cfg, spec))
            name = path.stem
            if not path.is_file():
                raise cfg.error(kp, "an existing .py file", spec)
        else:
            path, name = None, spec
        if name in disabled:
            continue
        plugins.load_plugins()
        if plugins.pm.has_plugin(name):
            cfg.plugins_loaded.append(name)
            continue
        try:
            if path is not None:
                mod_spec = importlib.util.spec_from_file_location(f"w2s_config_plugin_{name}", path)
                module = importlib.util.module_from_spec(mod_spec)
                mod_spec.loader.exec_module(module)
            else:
                module = importlib.import_module(spec)
        except Exception as exc:
            raise cfg.error(kp, "a plugin that imports", spec, f"{type(exc).__name__}: {exc}") from None
        plugins.register(module, name=name)
        cfg.plugins_loaded.append(name)


def _check_params(cfg: Config, factory, params: dict, kp: str, what: str, skip: int = 0, provided=()) -> None:
    """``params`` must be parameters of ``factory`` (after ``skip`` positional arguments), and every
    parameter it requires must be given (or be one of ``provided``, which the library passes)."""
    try:
        check_params(factory, [k for k in params if k not in provided], what, skip=skip)
    except UnknownParameterError as exc:
        accepted = _accepted(factory, skip)
        raise cfg.error(
            f"{kp}.{exc.unknown[0]}",
            f"a parameter of {what} ({', '.join(accepted) or 'none'})",
            exc.unknown[0],
            _suggest(exc.unknown[0], accepted),
        ) from None
    missing = [n for n in required_params(factory, skip) if n not in params and n not in provided]
    if missing:
        raise cfg.error(f"{kp}.{missing[0]}", f"a value (required by {what})", None, "this key is required")


def _check_source_views(cfg: Config, s: dict, kp: str) -> None:
    """``[sources.views]``: role = a file (resolved like ``path``), an array name, or column names."""
    if s.get("views"):
        s["views"] = dict(s["views"])
    for role, value in s.get("views", {}).items():
        where = f"{kp}.views.{role}"
        if isinstance(value, list) and value and all(isinstance(c, str) and c for c in value):
            continue  # column names of a CSV/JSONL source, checked when it loads
        if not isinstance(value, str) or not value:
            raise cfg.error(where, "a file path, an array name or a list of column names", value)
        path = _resolve(cfg, value)
        if os.path.exists(path) or "://" in value:
            s["views"][role] = path
        elif "/" in value or os.path.splitext(value)[1]:  # looks like a file: say it is missing now
            raise cfg.error(where, "an existing file (one row per item)", value, f"resolved to {path}")


def _accepted(factory, skip: int) -> list[str]:
    sig = signature_params(factory, skip)
    return sig[0] if sig is not None else []


def _source_name(s: dict) -> str:
    return s.get("name") or Path(s.get("path", s.get("type", ""))).stem


# --- one validator per table -----------------------------------------------------------------


def _validate_top(cfg: Config, keys: list[Key]) -> None:
    top = {k.name: k for k in keys if "." not in k.path and "[" not in k.path}
    for name, value in cfg.data.items():
        if name not in top:
            raise cfg.error(
                name,
                "a known top-level key (" + ", ".join(sorted(top)) + ")",
                name,
                _suggest(name, top) or "unknown key",
            )
        _check_value(cfg, top[name], value, name)


def _validate_source(cfg: Config, i: int, raw) -> dict:
    """One ``[[sources]]`` entry, normalised to a table with its paths resolved."""
    kp = f"sources[{i}]"
    s = {"path": raw} if isinstance(raw, str) else raw
    if not isinstance(s, dict):
        raise cfg.error(kp, "a table or a path string", s)
    s = dict(s)
    _check_table(cfg, s, kp, SCHEMA)
    if "path" not in s and "type" not in s:
        raise cfg.error(f"{kp}.path", "a path (or a type)", None, "a source needs a path, a type, or both")
    if "path" in s:
        s["path"] = _resolve(cfg, s["path"])
        if "://" not in s["path"] and not os.path.exists(s["path"]):
            raise cfg.error(
                f"{kp}.path",
                "an existing file",
                raw["path"] if isinstance(raw, dict) else raw,
                f"resolved to {s['path']}",
            )
    if "type" not in s and "://" not in s["path"]:
        exts = {
            e.lower()
            for en in plugins.get_registry("sources").values()
            for e in en.meta.get("extensions", ())
        }
        if not any(s["path"].lower().endswith(e) for e in exts):
            raise cfg.error(
                f"{kp}.path",
                f"a file with a known extension ({', '.join(sorted(exts))})",
                Path(s["path"]).name,
                "or set type = ..., or register a source plugin",
            )
    if "type" in s:
        cfg.check_name("sources", s["type"], f"{kp}.type", "source type")
    loader = cfg.source_loader(s)
    if loader is not None:
        kind = s.get("type") or Path(s["path"].split("://", 1)[0] if "://" in s["path"] else s["path"]).suffix
        _check_params(
            cfg,
            loader,
            s.get("params", {}),
            f"{kp}.params",
            f"source type {kind!r}",
            skip=1,
            provided=SOURCE_SUPPLIED,
        )
    if s.get("params"):
        s["params"] = {
            k: _resolve(cfg, v) if k in PATH_PARAMS and isinstance(v, str) else v
            for k, v in s["params"].items()
        }
    _check_source_views(cfg, s, kp)
    return s


def _validate_sources(cfg: Config) -> None:
    srcs = cfg.data.get("sources", [])
    if not srcs:
        return
    norm = [_validate_source(cfg, i, s) for i, s in enumerate(srcs)]
    names = [_source_name(s) for s in norm]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise cfg.error(
            "sources", "unique source names", names, f"repeated: {', '.join(dup)}; set name = ..."
        )
    cfg.data["sources"] = norm


def _validate_model(cfg: Config, t: str) -> None:
    spec = cfg.data.get(t)
    if spec is None:
        return
    if "type" not in spec:
        raise cfg.error(f"{t}.type", "a registered model type", None, "this key is required")
    if not isinstance(spec["type"], str):
        raise cfg.error(f"{t}.type", "a registered model type", spec["type"])
    factory = cfg.check_name("models", spec["type"], f"{t}.type", "model type")
    params = {k: v for k, v in spec.items() if k != "type"}
    _check_params(cfg, factory, params, t, f"model type {spec['type']!r}")
    for k in PATH_PARAMS & set(params):
        if isinstance(params[k], str):
            spec[k] = _resolve(cfg, params[k])
            if not os.path.exists(spec[k]):
                raise cfg.error(f"{t}.{k}", "an existing file", params[k], f"resolved to {spec[k]}")


def _validate_detector(cfg: Config) -> None:
    det = cfg.data.get("detector", {})
    scorer = det.get("scorer", DEFAULT_SCORER)
    factory = cfg.check_name("overlap_scorers", scorer, "detector.scorer", "overlap scorer")
    _check_params(cfg, factory, det.get("scorer_params", {}), "detector.scorer_params", f"scorer {scorer!r}")
    check_fixed_thresholds(det, lambda key, expected, value: cfg.error(f"detector.{key}", expected, value))
    for key in ("hard_threshold", "overlap_threshold"):
        rule = det.get(key, "change_point")
        if isinstance(rule, str):
            func = cfg.check_name("thresholds", rule, f"detector.{key}", "threshold rule")
            _check_params(
                cfg,
                func,
                det.get("threshold_params", {}),
                "detector.threshold_params",
                f"threshold rule {rule!r}",
                skip=1,
            )


#: Built-in scorers whose overlap score lies in [0, 1] (|cos| based); ``max_inner`` is unbounded.
BOUNDED_SCORERS = ("rms_cosine", "subspace", "max_cosine")


def check_fixed_thresholds(det: dict, error) -> None:
    """Fixed thresholds in range: ``hard_threshold`` in [0, 1] (weak confidence is), ``overlap_threshold``
    finite and in [0, 1] for the bounded built-in scorers. ``error(key, expected, value)`` makes the
    exception (the Label Studio backend checks its own detector table with this too)."""
    hard = det.get("hard_threshold")
    if _is_number(hard) and not (math.isfinite(hard) and 0 <= hard <= 1):
        raise error("hard_threshold", "a threshold rule name or a number in [0, 1] (weak confidence)", hard)
    over = det.get("overlap_threshold")
    if _is_number(over):
        bounded = det.get("scorer", DEFAULT_SCORER) in BOUNDED_SCORERS
        if not math.isfinite(over) or (bounded and not 0 <= over <= 1):
            raise error(
                "overlap_threshold",
                "a threshold rule name or a number in [0, 1] (the scorer's overlap score)"
                if bounded
                else "a threshold rule name or a finite number",
                over,
            )


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _validate_bandit(cfg: Config) -> None:
    b = cfg.data.get("bandit", {})
    policy = b.get("policy", "ucb")
    factory = cfg.check_name("bandit_policies", policy, "bandit.policy", "bandit policy")
    _check_params(cfg, factory, b.get("params", {}), "bandit.params", f"bandit policy {policy!r}")


def _validate_acquisition(cfg: Config) -> None:
    a = cfg.data.get("acquisition", {})
    strategy = a.get("strategy", "overlap")
    cfg.check_name("acquisition_strategies", strategy, "acquisition.strategy", "acquisition strategy")
    if a.get("params"):
        from .acquisition import dry_run

        try:
            dry_run(strategy, a["params"])
        except ValueError as exc:
            raise cfg.error(
                "acquisition.params", f"parameters of strategy {strategy!r}", a["params"], str(exc)
            ) from None


GOLD_KEYS = ("path", "labels", "type", "params")


def _validate_gold(cfg: Config, c: dict) -> None:
    """``campaign.gold = {path, labels, type, params}``: keys known, files resolved and present."""
    gold = c.get("gold")
    if gold is None:
        return
    for k in gold:
        if k not in GOLD_KEYS:
            raise cfg.error(
                f"campaign.gold.{k}", f"a known key ({', '.join(GOLD_KEYS)})", k, _suggest(k, GOLD_KEYS)
            )
    gold = c["gold"] = dict(gold)
    if not isinstance(gold.get("path"), str) or not gold["path"]:
        raise cfg.error(
            "campaign.gold.path", "a file of gold items", gold.get("path"), "this key is required"
        )
    gold["path"] = _resolve(cfg, gold["path"])
    if "://" not in gold["path"] and not os.path.exists(gold["path"]):
        raise cfg.error("campaign.gold.path", "an existing file", gold["path"])
    labels = gold.get("labels")
    if labels is not None:
        if not isinstance(labels, str) or not labels:
            raise cfg.error("campaign.gold.labels", "a label file or a column name", labels)
        path = _resolve(cfg, labels)
        if os.path.exists(path):
            gold["labels"] = path
        elif "/" in labels or os.path.splitext(labels)[1]:  # looks like a file: say it is missing now
            raise cfg.error("campaign.gold.labels", "an existing file (one label per item)", labels)
    if "type" in gold:
        cfg.check_name("sources", gold["type"], "campaign.gold.type", "source type")
    if "params" in gold and not isinstance(gold["params"], dict):
        raise cfg.error("campaign.gold.params", "a table", gold["params"])


def load_gold(spec: dict):
    """``(items, labels)`` from a validated ``campaign.gold`` table (items in the sources' own form:
    the features ``X``, else the records)."""
    import numpy as np

    from .errors import DataError
    from .sources import Source

    src = Source.from_path(
        spec["path"], name="gold", type=spec.get("type"), shuffle=False, **dict(spec.get("params") or {})
    )
    items = src.X if src.X is not None else src.records
    labels = spec.get("labels")
    if labels is None:
        if src.y is None:
            raise DataError(
                f"gold file {spec['path']}: no labels; set campaign.gold.labels (a file or a column name) "
                "or params = { label_column = ... }"
            )
        y = np.asarray(src.y)
    elif os.path.exists(labels):
        if labels.endswith(".npy"):
            y = np.load(labels, allow_pickle=False)
        else:
            with open(labels, encoding="utf-8") as fh:
                y = np.array([line.strip() for line in fh if line.strip()])
    else:
        if not src.records or labels not in src.records[0]:
            raise DataError(f"gold file {spec['path']}: no column {labels!r} to read the labels from")
        y = np.array([r[labels] for r in src.records])
    if y.ndim != 1 or y.shape[0] != len(src):
        raise DataError(f"gold: {y.shape[0] if y.ndim else 0} labels for {len(src)} items in {spec['path']}")
    return items, y


def _validate_campaign(cfg: Config) -> None:
    c = cfg.data.get("campaign", {})
    if not c:
        return
    reward = c.get("reward", "overlap")
    factory = cfg.check_name("rewards", reward, "campaign.reward", "reward")
    if c.get("reward_params"):
        _check_params(cfg, factory, c["reward_params"], "campaign.reward_params", f"reward {reward!r}")
    _validate_gold(cfg, c)
    # a front-end's own table (e.g. a Label Studio project) brings its own labels for the gain reward
    front_end = any(t in cfg.data for t in plugins.get_registry("config_tables"))
    if reward == "gain" and "gold" not in c and not front_end:
        raise cfg.error(
            "campaign.gold",
            "a gold sample {path = ..., labels = ...}",
            None,
            "reward 'gain' scores each batch against it (a front-end's table, e.g. a Label Studio "
            "project, may bring its own labels instead)",
        )
    if c.get("budget") is not None and c["budget"] < c["batch_size"]:
        raise cfg.error(
            "campaign.budget", f"an integer >= campaign.batch_size ({c['batch_size']})", c["budget"]
        )
    if "state_dir" in c:
        c["state_dir"] = _resolve(cfg, c["state_dir"])
    if c.get("true_densities"):
        names = {_source_name(s) for s in cfg.data.get("sources", [])}
        for k, v in c["true_densities"].items():
            if k not in names:
                raise cfg.error(
                    f"campaign.true_densities.{k}", f"a source name ({', '.join(sorted(names))})", k
                )
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 1:
                raise cfg.error(f"campaign.true_densities.{k}", "a density in [0, 1]", v)


def _validate_plugin_tables(cfg: Config) -> None:
    """Tables added by plugins: resolve their path keys, then run their own checks."""
    for name, entry in plugins.get_registry("config_tables").items():
        table = cfg.data.get(name)
        if not isinstance(table, dict):
            continue
        for k in entry.meta.get("path_keys", ()):
            if isinstance(table.get(k), str):
                table[k] = _resolve(cfg, table[k])
        validate = entry.meta.get("validate")
        if validate is not None:
            validate(cfg, table)


def _build_all(cfg: Config) -> None:
    """``build=True``: load the sources and build the models, detector and bandit now."""
    data = cfg.data
    if data.get("sources"):
        cfg.build_sources()
    for t in OPEN_TABLES:
        if t in data:
            cfg.build_model(t)
    from .bandit import SourceBandit

    for table, build in (
        ("detector", cfg.build_detector),
        ("bandit", lambda: SourceBandit(["a"], random_state=cfg.get("seed"), **cfg.bandit_params())),
    ):
        try:
            build()
        except ValueError as exc:  # the table that failed is the one being built
            raise cfg.error(table, "buildable parameters", data.get(table, {}), str(exc)) from None


#: Closed tables checked key by key against the schema (plugin tables are added to these).
CLOSED_TABLES = ("campaign", "detector", "bandit", "acquisition")


def validate(data: dict, file: str = "<config>", base_dir=".", build: bool = False) -> Config:
    """Validate parsed TOML ``data``; return a :class:`Config` with relative paths resolved."""
    cfg = Config(data=data, file=file, base_dir=Path(base_dir))
    if "plugins" in data:
        _check_value(cfg, _by_path()["plugins"], data["plugins"], "plugins")
    _load_config_plugins(cfg)  # first: the config's own plugins may add tables
    keys = schema()
    _validate_top(cfg, keys)
    for t in (*CLOSED_TABLES, *plugins.get_registry("config_tables")):
        if t in data:
            _check_table(cfg, data[t], t, keys)
    _validate_sources(cfg)
    for t in OPEN_TABLES:
        _validate_model(cfg, t)
    _validate_detector(cfg)
    _validate_bandit(cfg)
    _validate_acquisition(cfg)
    _validate_plugin_tables(cfg)
    _validate_campaign(cfg)
    if build:
        _build_all(cfg)
    return cfg
