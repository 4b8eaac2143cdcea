"""Moved to :mod:`w2s_plugin.validation` (public: plugin authors use the same checks); kept for imports."""

from .validation import *  # noqa: F403
