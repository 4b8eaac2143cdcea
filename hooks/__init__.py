"""Built-in plugins of w2s_plugin.

Each module here is an ordinary pluggy plugin: it implements hooks from
``w2s_plugin.hookspecs`` exactly as a third-party plugin would, and ``w2s_plugin.plugins``
registers it under its short name (``scorers``, ``thresholds``, ``strategies``, ``policies``,
``sources``, ``models``). Disable one with ``W2S_DISABLE_PLUGINS=name``.
"""
