"""WSGI entry point: ``gunicorn 'w2s_plugin.integrations.label_studio.wsgi:app'``.

Configured by the environment: ``MODEL_DIR`` (state directory), ``W2S_CONFIG`` (a TOML file with a
``[label_studio]`` table, see docs/label_studio.md), ``BASIC_AUTH_USER`` / ``BASIC_AUTH_PASS``,
``W2S_MAX_REQUEST_MB``, and ``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY`` (or ``LABEL_STUDIO_HOST`` /
``LABEL_STUDIO_ACCESS_TOKEN``) for training after a restart before Label Studio calls /setup again.
"""

from __future__ import annotations

import os

from .app import create_app
from .config import backend_from_config, load_config

_config = load_config(os.environ.get("W2S_CONFIG"))
app = create_app(
    backend_from_config(_config, model_dir=os.environ.get("MODEL_DIR")),
    max_request_mb=(_config.get("label_studio") or {}).get("max_request_mb"),
)
