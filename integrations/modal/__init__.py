"""modAL integration: overlap density as a query strategy, and a learner that picks its pool.

Needs the ``modal`` extra (``pip install -e '.[modal]'`` in a checkout). See docs/modal.md. The
names below are imported on first use, so the plugin module (the learner's state kind) loads alone.
"""

from w2s_plugin.lazy import lazy_getattr

_LAZY = {
    "MultiSourceLearner": ".learner",
    "overlap_sampling": ".strategy",
    "score_pool": ".strategy",
    "weak_error_sampling": ".hybrid",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
