"""Moved to :mod:`w2s_plugin.params` (public: plugin authors use the same rules); kept for imports."""

from .params import *  # noqa: F403
