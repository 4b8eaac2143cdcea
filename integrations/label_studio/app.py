"""The Label Studio ML backend protocol over HTTP (Flask), serving an :class:`OverlapDensityBackend`.

Endpoints, as Label Studio 1.23 calls them (``label_studio/ml/api_connector.py``):

* ``GET /health``, ``GET /`` -> ``{"status": "UP", "model_class": ...}``
* ``POST /setup`` ``{project, schema, extra_params, hostname, access_token}`` -> ``{"model_version"}``
* ``POST /predict`` ``{tasks, project, label_config, params}`` -> ``{"results": [...]}`` (one per task)
* ``POST /webhook`` ``{action, project, annotation, task}``: annotation events and
  ``START_TRAINING`` train (201); any other action -> 200 ``{"status": "Unknown event"}``
* ``GET /metrics`` -> counters and per-project state (JSON)

A caller's mistake (bad JSON, unknown project, a config without ``<Choices>``, a task without the
text field) is a 4xx with ``{"error": message}``. HTTP basic auth is on when ``BASIC_AUTH_USER``
and ``BASIC_AUTH_PASS`` are set.
"""

from __future__ import annotations

import hmac
import logging
import os

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from .backend import OverlapDensityBackend
from .errors import BackendError, BadRequest

logger = logging.getLogger(__name__)


def _body() -> dict:
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("the request body must be JSON (Content-Type: application/json)")
    if not isinstance(data, dict):
        raise BadRequest(f"the request body must be a JSON object; got {type(data).__name__}")
    return data


def create_app(
    backend: OverlapDensityBackend | None = None,
    basic_auth_user: str | None = None,
    basic_auth_pass: str | None = None,
    model_dir=None,
) -> Flask:
    """A Flask app serving ``backend`` (default: one with ``MODEL_DIR`` from the environment).

    Basic auth credentials default to ``BASIC_AUTH_USER`` / ``BASIC_AUTH_PASS``.
    """
    if backend is None:
        backend = OverlapDensityBackend(model_dir=model_dir or os.environ.get("MODEL_DIR"))
    user = basic_auth_user if basic_auth_user is not None else os.environ.get("BASIC_AUTH_USER")
    password = basic_auth_pass if basic_auth_pass is not None else os.environ.get("BASIC_AUTH_PASS")
    auth = (user, password) if user and password else None

    backend.warm_up()
    app = Flask("w2s_label_studio_backend")
    app.config["backend"] = backend
    app.json.sort_keys = False

    @app.before_request
    def _check_auth():
        if auth is None:
            return None
        given = request.authorization
        if (
            given is None
            or given.username is None
            or given.password is None
            or not (
                hmac.compare_digest(given.username, auth[0]) and hmac.compare_digest(given.password, auth[1])
            )
        ):
            return Response(
                '{"error": "authentication required (HTTP basic auth)"}',
                401,
                {"WWW-Authenticate": 'Basic realm="w2s ML backend"', "Content-Type": "application/json"},
            )
        return None

    @app.get("/")
    @app.get("/health")
    def health():
        return jsonify(
            {
                "status": "UP",
                "model_class": type(backend).__name__,
                "model_dir": None if backend.model_dir is None else str(backend.model_dir),
            }
        )

    @app.post("/setup")
    def setup():
        data = _body()
        version = backend.setup(
            data.get("project"),
            data.get("schema"),
            data.get("extra_params"),
            hostname=data.get("hostname"),
            access_token=data.get("access_token"),
        )
        return jsonify({"model_version": version})

    @app.post("/predict")
    def predict():
        data = _body()
        if "tasks" not in data:
            raise BadRequest("the request has no 'tasks' list")
        results = backend.predict(data.get("project"), data["tasks"], data.get("label_config"))
        return jsonify({"results": results})

    @app.post("/webhook")
    def webhook():
        data = _body()
        event = data.get("action")
        if not isinstance(event, str):
            raise BadRequest("a webhook needs an 'action' string")
        out = backend.fit(event, data)
        if out.get("status") == "Unknown event":
            return jsonify(out), 200
        return jsonify(out), 201

    @app.get("/metrics")
    def metrics():
        return jsonify(backend.metrics())

    @app.errorhandler(BackendError)
    def _backend_error(exc):
        backend.counters["errors"] += 1
        return jsonify({"status": "error", "error": str(exc)}), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        return jsonify({"status": "error", "error": f"{exc.name}: {exc.description}"}), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc):  # a bug, not the caller's fault: say so, log the traceback
        backend.counters["errors"] += 1
        logger.exception("unexpected error serving %s", request.path)
        return jsonify({"status": "error", "error": f"internal error: {type(exc).__name__}: {exc}"}), 500

    return app
