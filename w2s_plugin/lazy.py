"""Public names imported on first use (PEP 562), for the package and its integrations, so that
``import w2s_plugin`` and ``w2s`` start without numpy and scikit-learn, and an integration's
package imports without its extra until one of its names is used."""

from __future__ import annotations

import sys
from importlib import import_module


def lazy_getattr(package: str, names: dict):
    """A module ``__getattr__`` for ``package``: ``names`` maps a public name to the module (relative
    to ``package``) that defines it; the value is imported on first use and kept in the package."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module, package), name)
        namespace[name] = value
        return value

    return __getattr__
