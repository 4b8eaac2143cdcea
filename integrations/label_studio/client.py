"""The HTTP layer the campaign driver and the backend use to talk to Label Studio.

Why not the SDK: its errors print the request's headers (the API token) and session cookies, and it
does not retry. This client speaks the few REST calls the integration needs with ``requests``:

* bounded retries with exponential backoff on connection errors, timeouts and 5xx answers
  (``retries`` / ``backoff``, or ``W2S_LS_RETRIES`` / ``W2S_LS_BACKOFF`` in the environment); a POST
  that creates tasks is retried only when the connection failed before the server answered, so a
  retry never imports twice;
* every failure is one :class:`LabelStudioError` line: what failed, and (from ``hint``) what is saved
  and how to resume. 401/403, 404 and "unreachable" each have their own wording;
* no header, token or cookie ever reaches a message or a log record: messages are composed here
  from the method, the path and the status, never from the request, and chained exceptions are
  dropped (``from None``).
"""

from __future__ import annotations

import json
import logging
import os
import time

from w2s_plugin.errors import W2SError

logger = logging.getLogger(__name__)

#: The Data Manager filter for tasks with at least one annotation (one definition for the backend
#: and the driver).
ANNOTATED_QUERY = json.dumps(
    {
        "filters": {
            "conjunction": "and",
            "items": [
                {
                    "filter": "filter:tasks:total_annotations",
                    "operator": "greater",
                    "type": "Number",
                    "value": 0,
                }
            ],
        }
    }
)

RETRY_STATUS = frozenset({500, 502, 503, 504})


class LabelStudioError(W2SError):
    """A Label Studio call failed (after its retries); the message is one line, safe to print."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def _env_number(name: str, default, kind):
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise W2SError(f"{name} must be a number; got {raw!r}") from None
    if value < 0:
        raise W2SError(f"{name} must be >= 0; got {raw!r}")
    return value


class LabelStudioClient:
    """A small Label Studio REST client with retries and safe errors.

    Parameters
    ----------
    url : the server's base URL (``http://localhost:8080``)
    api_key : a legacy API token (``Token ...``) or a personal access token (JWT refresh token; it is
        exchanged for an access token at ``/api/token/refresh`` and refreshed on a 401)
    retries : extra attempts after the first one (default 3, or ``W2S_LS_RETRIES``)
    backoff : seconds before the first retry, doubled each time (default 0.5, or ``W2S_LS_BACKOFF``)
    timeout : seconds per request
    hint : ``None``, a string or a callable returning one, appended to every error: what is saved
        and how to resume (the campaign driver passes its own)
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        retries: int | None = None,
        backoff: float | None = None,
        timeout: float = 30.0,
        hint=None,
    ):
        if not url:
            raise W2SError("no Label Studio URL: pass --label-studio-url or set LABEL_STUDIO_URL")
        if not api_key:
            raise W2SError("no Label Studio API key: pass --api-key or set LABEL_STUDIO_API_KEY")
        import requests

        self.url = str(url).rstrip("/")
        self._key = str(api_key)
        self.retries = int(_env_number("W2S_LS_RETRIES", 3, int) if retries is None else retries)
        self.backoff = float(_env_number("W2S_LS_BACKOFF", 0.5, float) if backoff is None else backoff)
        if self.retries < 0 or self.backoff < 0:
            raise W2SError(f"retries and backoff must be >= 0; got {self.retries}, {self.backoff}")
        self.timeout = float(timeout)
        self.hint = hint
        self._session = requests.Session()
        self._access: str | None = None

    def __repr__(self) -> str:  # never the key
        return f"LabelStudioClient({self.url!r}, retries={self.retries}, backoff={self.backoff})"

    # -- plumbing ----------------------------------------------------------------------------------
    def _auth_header(self) -> dict:
        if self._key.count(".") == 2:  # a JWT personal access token: exchange it once
            if self._access is None:
                self._access = self._refresh()
            return {"Authorization": f"Bearer {self._access}"}
        return {"Authorization": f"Token {self._key}"}

    def _refresh(self) -> str:
        data = self._send("POST", "/api/token/refresh", json={"refresh": self._key}, auth=False)
        return data["access"]

    def _tail(self) -> str:
        hint = self.hint() if callable(self.hint) else self.hint
        return f"; {hint}" if hint else ""

    def _fail(self, what: str, status: int | None = None):
        return LabelStudioError(f"Label Studio {what}{self._tail()}", status)

    def request(self, method: str, path: str, *, params=None, json=None, idempotent: bool | None = None):
        """One REST call; the decoded JSON answer (``None`` for an empty body)."""
        return self._send(method, path, params=params, json=json, idempotent=idempotent)

    def _send(self, method: str, path: str, *, params=None, json=None, idempotent=None, auth: bool = True):
        import requests

        idempotent = method in ("GET", "PATCH", "PUT", "DELETE") if idempotent is None else idempotent
        where = f"{method} {path}"
        attempts = self.retries + 1
        delay = self.backoff
        last = ""
        for attempt in range(1, attempts + 1):
            headers = self._auth_header() if auth else {}
            try:
                r = self._session.request(
                    method, self.url + path, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except requests.ConnectionError as exc:
                # refused/reset before an answer: safe to retry; a read timeout on a POST is not
                refused = not isinstance(exc, requests.ReadTimeout)
                last = f"is unreachable at {self.url} ({type(exc).__name__})"
                if not (idempotent or refused) or attempt == attempts:
                    break
            except requests.Timeout as exc:
                last = f"did not answer {where} within {self.timeout:g}s ({type(exc).__name__})"
                if not idempotent or attempt == attempts:
                    break
            else:
                if r.status_code in (401, 403):
                    if auth and self._access is not None and r.status_code == 401 and attempt == 1:
                        self._access = None  # an expired access token: exchange once more
                        continue
                    raise self._fail(
                        f"rejected the API key ({r.status_code} on {where}): check --api-key / "
                        "LABEL_STUDIO_API_KEY (Account & Settings > Access Token)",
                        r.status_code,
                    ) from None
                if r.status_code == 404:
                    raise self._fail(
                        f"has no {path} (404 on {where}): check the project id and the URL {self.url}", 404
                    ) from None
                if r.status_code in RETRY_STATUS:
                    last = f"answered {r.status_code} to {where}"
                    if attempt == attempts:
                        break
                elif r.status_code >= 400:
                    raise self._fail(
                        f"refused {where} ({r.status_code}: {_short(r)})", r.status_code
                    ) from None
                else:
                    if not r.content:
                        return None
                    try:
                        return r.json()
                    except ValueError:
                        raise self._fail(
                            f"answered {where} with something that is not JSON "
                            f"(is {self.url} a Label Studio server?)",
                            r.status_code,
                        ) from None
            logger.info(
                "Label Studio %s (attempt %d of %d); retrying in %.1fs", last, attempt, attempts, delay
            )
            time.sleep(delay)
            delay *= 2
        tries = f" after {attempts} attempt{'s' if attempts > 1 else ''}"
        raise self._fail(f"{last}{tries}") from None

    # -- the calls the integration makes -----------------------------------------------------------
    def project(self, project: int) -> dict:
        return self.request("GET", f"/api/projects/{int(project)}/")

    def set_model_version(self, project: int, version: str) -> dict:
        return self.request("PATCH", f"/api/projects/{int(project)}/", json={"model_version": version})

    def ml_backends(self, project: int) -> list:
        return self.request("GET", "/api/ml/", params={"project": int(project)}) or []

    def tasks(self, project: int, fields: str = "all", query: str | None = None, page_size: int = 500):
        """Every task of ``project`` (dicts), page by page."""
        page = 1
        while True:
            params = {"project": int(project), "fields": fields, "page": page, "page_size": page_size}
            if query:
                params["query"] = query
            try:
                data = self.request("GET", "/api/tasks/", params=params)
            except LabelStudioError as exc:
                if exc.status == 404 and page > 1:  # past the last page
                    return
                raise
            rows = data.get("tasks", []) if isinstance(data, dict) else (data or [])
            yield from rows
            total = data.get("total") if isinstance(data, dict) else None
            if len(rows) < page_size or (total is not None and page * page_size >= total):
                return
            page += 1

    def import_tasks(self, project: int, tasks: list) -> list:
        """Create ``tasks`` (with their predictions); the new task ids."""
        data = self.request(
            "POST",
            f"/api/projects/{int(project)}/import",
            params={"return_task_ids": "true"},
            json=tasks,
            idempotent=False,
        )
        return list((data or {}).get("task_ids") or [])


def _short(r) -> str:
    try:
        body = r.json()
        text = body.get("detail") or body.get("error") or body.get("validation_errors") or body
        text = json.dumps(text) if not isinstance(text, str) else text
    except ValueError:
        text = r.text
    text = " ".join(str(text).split())
    return text[:200] + ("..." if len(text) > 200 else "")


def as_http_client(client, hint=None) -> LabelStudioClient:
    """``client`` as a :class:`LabelStudioClient`: itself, or one made from a ``label_studio_sdk``
    client's base URL and key (so code written against :func:`driver.make_client` keeps working)."""
    if isinstance(client, LabelStudioClient):
        if hint is not None:
            client.hint = hint
        return client
    wrapper = getattr(client, "_client_wrapper", None)
    tokens = getattr(wrapper, "_tokens_client", None)
    if wrapper is None or getattr(tokens, "api_key", None) is None:
        raise W2SError(
            f"expected a Label Studio client (driver.make_client or client.LabelStudioClient); "
            f"got {type(client).__name__}"
        )
    return LabelStudioClient(wrapper.get_base_url(), tokens.api_key, hint=hint)
