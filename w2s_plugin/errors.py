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


def install_hint(extra: str) -> str:
    """How to add ``extra``. The package is not on PyPI, so a hint naming the PyPI project cannot
    work; from a checkout it is an editable install (README, "After make demo", shows the wheel form)."""
    return f"pip install -e '.[{extra}]' in the w2s_plugin checkout (it is not on PyPI)"


class MissingExtraError(W2SError, ImportError):
    """An optional dependency is not installed; the message names the pip extra."""

    def __init__(self, what: str, extra: str):
        super().__init__(f"{what} needs the {extra} extra: {install_hint(extra)}")
        self.extra = extra
