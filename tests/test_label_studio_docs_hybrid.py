"""docs/label_studio.md's hybrid walkthrough, run as written against the real server (issue 19):
serve, connect, run, annotate (a simulated annotator posts the hidden truth of the tasks in the
people's tab, in its order), status and /metrics."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.label_studio

from ls_server import server_or_skip  # noqa: E402

LS_URL, LS_KEY = server_or_skip()
pytest.importorskip("label_studio_sdk")
requests = pytest.importorskip("requests")
pytest.importorskip("w2s_plugin.hybrid")

from test_label_studio_hybrid import Annotator  # noqa: E402

from w2s_plugin.integrations.label_studio.client import LabelStudioClient  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import make_reviews  # noqa: E402

DOC = (Path(__file__).resolve().parents[1] / "docs" / "label_studio.md").read_text()
BIN = str(Path(sys.executable).parent)


def block(lang, containing):
    return next(b for b in re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S) if containing in b)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_docs_hybrid_walkthrough_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labeling_config.xml").write_text(block("xml", "<Choices"))
    exec(compile(block("python", "make_reviews(300"), "make_sources.py", "exec"), {"__name__": "__main__"})
    (tmp_path / "connect_hybrid.py").write_text(block("python", "Reviews (hybrid)"))
    (tmp_path / "hybrid.toml").write_text(block("toml", "human_budget"))
    truth = {
        (name, r["id"]): r["label"]
        for name, overlap, seed in (("vendor_a", 0.05, 1), ("vendor_b", 0.5, 2))
        for r in make_reviews(300, overlap=overlap, hard=0.3, random_state=seed, prefix=name)
    }
    port = free_port()
    env = {**os.environ, "PORT": str(port), "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
    env.pop("MODEL_DIR", None)
    serve_line = block("bash", "MODEL_DIR=w2s-models w2s serve").strip()
    procs = []

    def bash(script):
        p = subprocess.Popen(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        procs.append(p)
        return p

    try:
        serve = bash(serve_line)  # its own process group: killed with it below
        deadline, up = time.time() + 120, False
        while not up and time.time() < deadline:
            try:
                up = requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok
            except requests.RequestException:
                time.sleep(0.5)
        assert up, serve.stdout.read() if serve.poll() is not None else "w2s serve did not answer /health"
        threading.Thread(target=serve.stdout.read, daemon=True).start()
        run = bash(block("bash", "--config hybrid.toml"))
        lines, project = [], None
        for line in run.stdout:
            lines.append(line)
            m = re.search(r"of project (\d+)", line)
            if m:
                project = int(m.group(1))
                break
        assert project, "".join(lines)
        bot = Annotator(LabelStudioClient(LS_URL, LS_KEY), project, truth)
        bot.start()
        try:
            out = "".join(lines) + run.communicate(timeout=600)[0]
        finally:
            bot.stop.set()
            bot.join(30)
        assert run.returncode == 0 and not bot.errors, (out, bot.errors)
        assert "human labels: 60 of 60 (0 left" in out, out
        env["PROJECT"] = str(project)
        status = bash(block("bash", 'w2s campaign status "ls-hybrid/'))
        got = status.communicate(timeout=120)[0]
        assert status.returncode == 0, got
        assert "human labels: 60 of 60 (0 left" in got and "weak-label precision on the audit" in got, got
        assert " accepted" in got and "to people" in got, got  # the audit vouches for some cells, not all
        weak = int(re.search(r"tabs: \d+ task\(s\) wait for people, (\d+) weak-labelled", got).group(1))
        assert weak > 0, got
        last = got.strip().splitlines()[-1].split(" ", 1)
        assert last[0] == "0", got  # /metrics: no human budget left
        print(got)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
