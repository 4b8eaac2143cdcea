"""modAL integration: overlap density as a query strategy, and a learner that picks its pool.

Needs the ``modal`` extra (``pip install -e '.[modal]'`` in a checkout). See docs/modal.md. The
names below are imported on first use, so the plugin module (the learner's state kind) loads alone.
"""

from importlib import import_module

_LAZY = {
    "MultiSourceLearner": ".learner",
    "overlap_sampling": ".strategy",
    "score_pool": ".strategy",
    "weak_error_sampling": ".hybrid",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
