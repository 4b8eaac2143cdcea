"""The modAL integration as a w2s plugin (entry point ``modal``): registers the learner's state kind,
so its folders (0.1.0 ones too) are read by ``w2s campaign status`` and resumed. Imports no modAL."""

from __future__ import annotations

from w2s_plugin.hookspecs import hookimpl

from .state import KIND


@hookimpl
def register_state_kinds(register):
    register("modal", KIND)
