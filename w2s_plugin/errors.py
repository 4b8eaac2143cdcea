"""One error hierarchy. ``W2SError`` means "the user gave us something we cannot use": bad input,
a bad config value, a damaged or mismatched state folder, a missing extra. The CLI prints these as
one line; anything else is a bug and gets a traceback. It subclasses ``ValueError`` so code that
caught ``ValueError`` before keeps working."""

from __future__ import annotations


class W2SError(ValueError):
    """A user mistake the library detected; the message says what was wrong and what to do."""


class ConfigError(W2SError):
    """A configuration file or table is invalid (names the file, the key, expected and received)."""


class SettingError(W2SError):
    """A run setting (``batch_size``, ``budget``, ...) that cannot be used; ``field`` names it, so a
    config file can point at its key without reading the message."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class StateError(W2SError):
    """A saved state folder cannot be used: damaged, written by another version, or written by a
    campaign with other sources or another seed. The message names the file and the remedy."""


class DataError(W2SError):
    """An input array, file or source is unusable (wrong shape, not a NumPy file, NaN, ...)."""


class PluginError(W2SError, RuntimeError):
    """A plugin failed to load or to register: the message names the plugin and the item."""


class MissingExtraError(W2SError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, what: str, extra: str):
        super().__init__(
            f"{what} needs the {extra} extra: pip install -e '.[{extra}]' from a checkout "
            f"(or pip install 'w2s-plugin[{extra}]' from a built wheel)"
        )
        self.extra = extra
