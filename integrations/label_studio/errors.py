"""Errors that map to HTTP status codes: a caller's mistake is a 4xx with a message, never a 500."""

from __future__ import annotations

from w2s_plugin.errors import W2SError


class BackendError(W2SError):
    """Base class: ``status`` is the HTTP status the app answers with."""

    status = 400


class BadRequest(BackendError):
    status = 400


class NotFound(BackendError):
    status = 404
