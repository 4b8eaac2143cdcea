"""WSGI entry point: ``gunicorn 'w2s_plugin.integrations.label_studio.wsgi:app'``.

Configured by the environment: ``MODEL_DIR`` (state directory), ``W2S_CONFIG`` (a TOML file with a
``[label_studio]`` table, see docs/label_studio.md), ``BASIC_AUTH_USER`` / ``BASIC_AUTH_PASS``.
"""

from __future__ import annotations

import os

from .app import create_app
from .config import backend_from_config, load_config

app = create_app(
    backend_from_config(load_config(os.environ.get("W2S_CONFIG")), model_dir=os.environ.get("MODEL_DIR"))
)
