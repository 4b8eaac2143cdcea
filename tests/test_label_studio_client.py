"""client.py: bounded retries with backoff, one-line errors (unreachable, 401, 404, 5xx) that say what
is saved and how to resume, and no header, token or cookie in any output or log record.

401 and 404 come from the real Label Studio server (tests skip without it); "unreachable" is a real
closed port; the 5xx answers come from a small real HTTP server that fails on purpose, the one fault a
healthy Label Studio cannot be made to produce on demand."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("flask")
requests = pytest.importorskip("requests")

from flask import Flask, jsonify  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from w2s_plugin.errors import W2SError  # noqa: E402
from w2s_plugin.integrations.label_studio.client import LabelStudioClient, LabelStudioError  # noqa: E402

LS_URL = os.environ.get("LABEL_STUDIO_URL")
LS_KEY = os.environ.get("LABEL_STUDIO_API_KEY")
SECRET = "w2s-secret-token-0123456789abcdef"
needs_ls = pytest.mark.skipif(
    not LS_URL, reason="LABEL_STUDIO_URL is not set (scripts/test.sh starts a server)"
)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Flaky:
    """A real HTTP server whose /api/projects/1/ answers 503 ``fail`` times, then the project."""

    def __init__(self, fail: int):
        self.calls = 0
        app = Flask("flaky")

        @app.get("/api/projects/1/")
        def project():
            self.calls += 1
            if self.calls <= fail:
                return jsonify({"detail": "overloaded"}), 503
            return jsonify({"id": 1, "label_config": "<View/>", "model_version": ""})

        self.srv = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


def no_secret(text: str):
    for needle in (SECRET, "Authorization", "Token ", "Cookie", "sessionid", "csrftoken"):
        assert needle not in text, f"{needle!r} leaked: {text[:500]}"


def test_unreachable_is_one_line_after_bounded_retries_with_backoff(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{closed_port()}"
    client = LabelStudioClient(
        url,
        SECRET,
        retries=3,
        backoff=0.1,
        hint="saved: /tmp/x/label_studio_campaign.json; run the same command to resume",
    )
    t0 = time.time()
    with pytest.raises(LabelStudioError) as err:
        client.project(1)
    took = time.time() - t0
    msg = str(err.value)
    assert "\n" not in msg and "unreachable" in msg and url in msg and "after 4 attempts" in msg
    assert "saved: /tmp/x/label_studio_campaign.json" in msg and "resume" in msg
    assert 0.7 <= took < 10, took  # backoff 0.1 + 0.2 + 0.4 between the 4 attempts
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 3  # logged at INFO, not printed
    no_secret(msg + caplog.text + "".join(capsys.readouterr()))
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_5xx_is_retried_then_succeeds_or_fails_as_one_line(caplog):
    caplog.set_level(logging.DEBUG)
    ok = Flaky(fail=2)
    try:
        assert LabelStudioClient(ok.url, SECRET, retries=3, backoff=0.01).project(1)["id"] == 1
        assert ok.calls == 3
    finally:
        ok.close()
    bad = Flaky(fail=100)
    try:
        with pytest.raises(LabelStudioError) as err:
            LabelStudioClient(bad.url, SECRET, retries=2, backoff=0.01).project(1)
        assert bad.calls == 3 and "answered 503" in str(err.value) and "after 3 attempts" in str(err.value)
    finally:
        bad.close()
    no_secret(str(err.value) + caplog.text)


def test_retries_and_backoff_are_configurable_from_the_environment(monkeypatch):
    monkeypatch.setenv("W2S_LS_RETRIES", "0")
    monkeypatch.setenv("W2S_LS_BACKOFF", "2.5")
    c = LabelStudioClient("http://127.0.0.1:1", SECRET)
    assert (c.retries, c.backoff) == (0, 2.5)
    assert SECRET not in repr(c)
    monkeypatch.setenv("W2S_LS_RETRIES", "many")
    with pytest.raises(W2SError, match="W2S_LS_RETRIES"):
        LabelStudioClient("http://127.0.0.1:1", SECRET)


@needs_ls
def test_wrong_key_and_wrong_project_against_the_real_server(caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LabelStudioError) as err:
        LabelStudioClient(LS_URL, SECRET, retries=0).project(1)
    assert err.value.status == 401 and "rejected the API key" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(LabelStudioError) as err404:
        LabelStudioClient(LS_URL, LS_KEY, retries=0).project(987654)
    assert err404.value.status == 404 and "check the project id" in str(err404.value)
    out = str(err.value) + str(err404.value) + caplog.text + "".join(capsys.readouterr())
    no_secret(out)
    assert LS_KEY not in out


@needs_ls
@pytest.mark.parametrize("case", ["down", "bad_key", "bad_project"])
def test_campaign_cli_failures_are_one_line_without_secrets(tmp_path, case):
    """`w2s campaign run --label-studio-url ...` as a user runs it: one line on stderr, exit 2, no token."""
    (tmp_path / "a.csv").write_text("id,text\n1,great product\n2,awful product\n")
    (tmp_path / "c.toml").write_text(
        '[[sources]]\nname = "a"\npath = "a.csv"\n\n[campaign]\nbatch_size = 2\n'
        'state_dir = "state"\n\n[label_studio]\nkeywords = { Positive = ["great"] }\n'
    )
    url = {"down": f"http://127.0.0.1:{closed_port()}"}.get(case, LS_URL)
    key = SECRET if case == "bad_key" else (LS_KEY if case == "bad_project" else SECRET)
    project = "987654" if case == "bad_project" else "1"
    env = {
        **os.environ,
        "LABEL_STUDIO_API_KEY": key,
        "W2S_LS_RETRIES": "1",
        "W2S_LS_BACKOFF": "0.05",
        "W2S_EMBEDDER": "hashing",
    }
    r = subprocess.run(
        [
            str(Path(sys.executable).with_name("w2s")),
            "campaign",
            "run",
            "--label-studio-url",
            url,
            "--project",
            project,
            "--config",
            "c.toml",
            "--no-progress",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    words = {"down": "unreachable", "bad_key": "rejected the API key", "bad_project": "check the project id"}[
        case
    ]
    assert words in lines[0] and "run the same command" in lines[0], lines[0]
    no_secret(r.stdout + r.stderr)
    assert key not in r.stdout + r.stderr
