"""Label Studio integration: an ML backend that serves weak labels scored by overlap density, and a
campaign driver that fills an annotation project from the sources a bandit picks.

Needs the ``label-studio`` extra (``pip install -e '.[label-studio]'`` in a checkout; the package is
not on PyPI). Names are imported
lazily so ``import w2s_plugin.integrations.label_studio`` works without Flask.
"""

from __future__ import annotations

_EXPORTS = {
    "OverlapDensityBackend": ".backend",
    "create_app": ".app",
    "CampaignDriver": ".driver",
    "LabelStudioProjectSource": ".driver",
    "HashingTextEmbedder": ".text",
    "KeywordVoter": ".text",
    "TextWeakClassifier": ".text",
    "parse_label_config": ".labeling",
    "BackendError": ".errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
