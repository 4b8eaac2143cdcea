"""Reading the ``[label_studio]`` table of a w2s config file into a backend."""

from __future__ import annotations

import os

from w2s_plugin import plugins
from w2s_plugin.errors import ConfigError

from .backend import OverlapDensityBackend

BACKEND_KEYS = {
    "model_dir",
    "strategy",
    "detector",
    "keywords",
    "pool_size",
    "C",
    "random_state",
    "embedder",
    "max_text_chars",
}
#: Read by the campaign driver only (``w2s campaign run --label-studio-url``); ``w2s serve`` ignores them.
DRIVER_KEYS = {"text_column"}
#: Read by the HTTP app (``w2s serve``, ``wsgi``), not the backend.
APP_KEYS = {"max_request_mb"}


def load_config(path) -> dict:
    """The parsed TOML file (``{}`` for ``None``)."""
    if not path:
        return {}
    if not os.path.exists(path):
        raise ConfigError(f"config file {path!r} does not exist")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as fh:
        try:
            return tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path!r} is not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"config file {path!r} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
            ) from None


def build_model(spec):
    """A model from a ``{type = "...", ...}`` table via the ``register_models`` registry."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(
            f"a model table needs a 'type' (registered: "
            f"{', '.join(sorted(plugins.get_registry('models')))}); got {spec!r}"
        )
    params = {k: v for k, v in spec.items() if k != "type"}
    factory = plugins.lookup("models", spec["type"], "model type")
    try:
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"model type {spec['type']!r}: bad parameters {params}: {exc}") from None


def backend_from_config(config: dict | None, model_dir=None) -> OverlapDensityBackend:
    """An :class:`OverlapDensityBackend` from ``config["label_studio"]`` (keys: ``model_dir``,
    ``strategy``, ``detector`` (OverlapDetector params), ``keywords``, ``pool_size``, ``C``,
    ``random_state``, ``embedder`` (a model table, e.g. ``{type = "text_hashing"}``))."""
    table = dict((config or {}).get("label_studio") or {})
    unknown = sorted(set(table) - BACKEND_KEYS - DRIVER_KEYS - APP_KEYS - {"campaign"})
    if unknown:
        raise ConfigError(
            f"unknown key(s) in [label_studio]: {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(BACKEND_KEYS | DRIVER_KEYS | APP_KEYS))}"
        )
    return OverlapDensityBackend(
        model_dir=model_dir or table.get("model_dir"),
        embedder=build_model(table.get("embedder")),
        strategy=table.get("strategy", "overlap"),
        detector_params=table.get("detector"),
        keywords=table.get("keywords"),
        pool_size=int(table.get("pool_size", 2000)),
        C=float(table.get("C", 1.0)),
        random_state=int(table.get("random_state", 0)),
        max_text_chars=table.get("max_text_chars", 20_000),
    )
