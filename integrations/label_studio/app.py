"""The Label Studio ML backend protocol over HTTP (Flask), serving an :class:`OverlapDensityBackend`.

Endpoints, as Label Studio 1.23 calls them (``label_studio/ml/api_connector.py``):

* ``GET /health``, ``GET /`` -> ``{"status": "UP", "model_class": ...}``
* ``POST /setup`` ``{project, schema, extra_params, hostname, access_token}`` -> ``{"model_version"}``
* ``POST /predict`` ``{tasks, project, label_config, params}`` -> ``{"results": [...]}`` (one per task)
* ``POST /webhook`` ``{action, project, annotation, task}``: annotation events,
  ``START_TRAINING`` and ``PROJECT_UPDATED`` train (201); any other action -> a logged 200
  ``{"status": "Unknown event"}``
* ``POST /train`` ``{annotations, project, label_config}``: what Label Studio sends for "Start training"
  when its webhook-training flag is off (every annotated task); trains (201)
* ``GET /metrics`` -> counters and per-project state (JSON)

A caller's mistake (bad JSON, JSON nested deeper than ``MAX_DEPTH``, a body over the size cap, an
unknown project, a config without ``<Choices>``, a task without the text field) is a 4xx with
``{"error": one line}``; no answer names a path on the server. HTTP basic auth is on when
``BASIC_AUTH_USER`` and ``BASIC_AUTH_PASS`` are set.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from .backend import OverlapDensityBackend
from .errors import BackendError, BadRequest

logger = logging.getLogger(__name__)

#: JSON nesting deeper than this is refused (Label Studio's payloads nest about 8 levels).
MAX_DEPTH = 64
#: Default request-size cap in MB (``W2S_MAX_REQUEST_MB`` or ``[label_studio] max_request_mb``).
DEFAULT_MAX_REQUEST_MB = 32.0


def _too_deep(data, limit: int = MAX_DEPTH) -> bool:
    """True if ``data`` nests lists/objects deeper than ``limit`` (iterative: no recursion to exhaust)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _body() -> dict:
    if not request.is_json:
        raise BadRequest("the request body must be JSON (Content-Type: application/json)")
    raw = request.get_data(cache=True)  # over the size cap: a 413 from here
    try:
        data = json.loads(raw)
    except RecursionError:
        data = RecursionError
    except ValueError as exc:  # bad syntax, bad UTF-8, a 5000-digit number
        raise BadRequest(f"the request body is not valid JSON: {' '.join(str(exc).split())[:160]}") from None
    if data is RecursionError or _too_deep(data):
        raise BadRequest(f"the request body nests JSON deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise BadRequest(f"the request body must be a JSON object; got {type(data).__name__}")
    return data


def max_request_bytes(max_request_mb=None) -> int:
    """The request-size cap in bytes: ``max_request_mb``, else ``W2S_MAX_REQUEST_MB``, else 32 MB."""
    from w2s_plugin.errors import ConfigError

    raw = max_request_mb if max_request_mb is not None else os.environ.get("W2S_MAX_REQUEST_MB")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raw = DEFAULT_MAX_REQUEST_MB
    try:
        mb = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(
            f"W2S_MAX_REQUEST_MB / max_request_mb must be a number of MB; got {raw!r}"
        ) from None
    if not (mb > 0 and mb < 1e6):
        raise ConfigError(f"W2S_MAX_REQUEST_MB / max_request_mb must be > 0 (MB); got {raw!r}")
    return int(mb * 1024 * 1024)


def create_app(
    backend: OverlapDensityBackend | None = None,
    basic_auth_user: str | None = None,
    basic_auth_pass: str | None = None,
    model_dir=None,
    max_request_mb=None,
) -> Flask:
    """A Flask app serving ``backend`` (default: one with ``MODEL_DIR`` from the environment).

    Basic auth credentials default to ``BASIC_AUTH_USER`` / ``BASIC_AUTH_PASS``; bodies larger than
    ``max_request_mb`` (default ``W2S_MAX_REQUEST_MB``, else 32) are refused with a 413.
    """
    cap = max_request_bytes(max_request_mb)
    if backend is None:
        backend = OverlapDensityBackend(model_dir=model_dir or os.environ.get("MODEL_DIR"))
    user = basic_auth_user if basic_auth_user is not None else os.environ.get("BASIC_AUTH_USER")
    password = basic_auth_pass if basic_auth_pass is not None else os.environ.get("BASIC_AUTH_PASS")
    auth = (user, password) if user and password else None

    backend.warm_up()
    app = Flask("w2s_label_studio_backend")
    app.config["backend"] = backend
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = cap
    if auth is not None:
        app.before_request(_basic_auth(*auth))
    _add_routes(app, backend)
    _add_error_handlers(app, backend, cap)
    return app


def _basic_auth(user: str, password: str):
    """A ``before_request`` hook: a 401 unless the request carries these credentials (compared in
    constant time)."""

    def check():
        given = request.authorization
        if (
            given is None
            or given.username is None
            or given.password is None
            or not (
                hmac.compare_digest(given.username, user) and hmac.compare_digest(given.password, password)
            )
        ):
            return Response(
                '{"error": "authentication required (HTTP basic auth)"}',
                401,
                {"WWW-Authenticate": 'Basic realm="w2s ML backend"', "Content-Type": "application/json"},
            )
        return None

    return check


def _add_routes(app: Flask, backend: OverlapDensityBackend) -> None:
    """The protocol's endpoints (see the module docstring), each a thin JSON edge over ``backend``."""

    @app.get("/")
    @app.get("/health")
    def health():
        return jsonify(
            {
                "status": "UP",
                "model_class": type(backend).__name__,
                # where the state is stays in the server's log: no answer names a path on the server
                "state": "memory" if backend.model_dir is None else "disk",
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

    @app.post("/train")
    def train():
        data = _body()
        out = backend.train(data.get("project"), data.get("annotations"), data.get("label_config"))
        return jsonify(out), 201

    @app.get("/metrics")
    def metrics():
        return jsonify(backend.metrics())


def _add_error_handlers(app: Flask, backend: OverlapDensityBackend, cap: int) -> None:
    """Every failure as ``{"status": "error", "error": one line}``: the caller's (4xx), a full disk
    (507), a bug (500, details in the log only). No answer names a path on the server."""

    @app.errorhandler(BackendError)
    def _backend_error(exc):
        backend.counters["errors"] += 1
        return jsonify({"status": "error", "error": str(exc)}), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if exc.code == 413:
            message = (
                f"the request body is larger than the backend's cap of {cap / 2**20:g} MB; raise it with "
                "W2S_MAX_REQUEST_MB (or [label_studio] max_request_mb) or send fewer tasks per request"
            )
        else:
            message = f"{exc.name}: {exc.description}"
        return jsonify({"status": "error", "error": message}), exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc):  # not the caller's fault: say so, log the details (never in the answer)
        backend.counters["errors"] += 1
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            logger.error("serving %s: the disk under MODEL_DIR is full (%s)", request.path, exc)
            message = "the backend's disk is full: free space under its MODEL_DIR and send the request again"
            return jsonify({"status": "error", "error": message}), 507
        logger.exception("unexpected error serving %s", request.path)
        # the exception's message can name paths on the server: only its type goes out
        message = f"internal error (a bug; the backend's log has the details): {type(exc).__name__}"
        return jsonify({"status": "error", "error": message}), 500
