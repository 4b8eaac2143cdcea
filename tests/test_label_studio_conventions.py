"""The ecosystem's conventions (issue 19) and the newcomer's Label Studio path (issue 23):

* a restarted backend trains from Label Studio without a new /setup, with the credentials of the
  environment (``LABEL_STUDIO_URL`` / ``LABEL_STUDIO_API_KEY``), against the real server: "Start
  training" (START_TRAINING), a project update (PROJECT_UPDATED), annotations created, updated and
  deleted each reach the right action;
* ``w2s serve`` beyond loopback without auth warns;
* ``w2s campaign run --label-studio-url`` with Label Studio down writes nothing, keeps apart from the
  local campaign's folder and never claims to have saved anything.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("gunicorn")
requests = pytest.importorskip("requests")

from w2s_plugin import cli  # noqa: E402
from w2s_plugin.integrations.label_studio.campaign_cli import driver_state_dir  # noqa: E402
from w2s_plugin.integrations.label_studio.plugin import exposure_warning  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import LABEL_CONFIG, make_reviews  # noqa: E402

W2S = str(Path(sys.executable).with_name("w2s"))
LS_VARS = ("LABEL_STUDIO_URL", "LABEL_STUDIO_HOST", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_ACCESS_TOKEN")
BARE_ENV = {
    **{k: v for k, v in os.environ.items() if k not in LS_VARS and not k.startswith("BASIC_AUTH_")},
    "W2S_EMBEDDER": "hashing",
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """``w2s serve`` in its own process group; stdout and stderr kept apart."""

    def __init__(self, model_dir, port, env, host="127.0.0.1"):
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [W2S, "serve", "--host", host, "--port", str(port), "--model-dir", str(model_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.banner = self.proc.stdout.readline()
        self.err: list[str] = []
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        requests.get(self.url + "/health", timeout=60)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def serve():
    started = []

    def start(*a, **kw):
        started.append(Serve(*a, **kw))
        return started[-1]

    yield start
    for s in started:
        s.kill()


# --- w2s serve beyond loopback -------------------------------------------------------------------


def test_exposure_warning_only_beyond_loopback_without_auth():
    assert exposure_warning("127.0.0.1", {}) is None and exposure_warning("localhost", {}) is None
    assert exposure_warning("::1", {}) is None and exposure_warning("127.0.0.2", {}) is None
    w = exposure_warning("0.0.0.0", {})
    assert w.startswith("warning: serving on 0.0.0.0 without authentication") and "BASIC_AUTH_USER" in w
    assert exposure_warning("0.0.0.0", {"BASIC_AUTH_USER": "ls", "BASIC_AUTH_PASS": "x"}) is None
    assert exposure_warning("192.168.1.5", {"BASIC_AUTH_USER": "ls"}) is not None  # half a pair is none


def test_serve_on_all_interfaces_without_auth_prints_the_warning(serve, tmp_path):
    s = serve(tmp_path / "m", free_port(), BARE_ENV, host="0.0.0.0")
    deadline = time.time() + 30
    while not any("warning: serving on 0.0.0.0" in line for line in s.err) and time.time() < deadline:
        time.sleep(0.2)
    assert any("warning: serving on 0.0.0.0 without authentication" in line for line in s.err), s.err
    assert requests.get(s.url + "/health", timeout=30).status_code == 200


# --- a Label Studio campaign with Label Studio down -------------------------------------------------


def test_label_studio_down_saves_nothing_and_leaves_the_local_campaign_alone(
    example_config, monkeypatch, capsys
):
    """Issue 23: it used to fail after 18 s with ``saved: .../examples/runs/mixture/state.json (0 rounds
    done)`` (the finished local campaign's file) and leave an empty ``model/`` folder there."""
    local = example_config.parent / "runs" / "mixture"
    local.mkdir(parents=True)
    (local / "state.json").write_text('{"kind": "campaign", "the local campaign": true}')
    before = sorted(p.relative_to(example_config.parent) for p in example_config.parent.rglob("*"))
    monkeypatch.setenv("W2S_LS_RETRIES", "0")
    t0 = time.time()
    code = cli.main(
        [
            "campaign", "run", "--config", str(example_config), "--no-progress",
            "--label-studio-url", f"http://127.0.0.1:{free_port()}", "--project", "1", "--api-key", "k",
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and time.time() - t0 < 10
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0], err
    assert "nothing saved" in lines[0] and "saved:" not in lines[0]
    assert str(local / "label-studio-1") in lines[0]  # where its state would go: apart from the local one
    after = sorted(p.relative_to(example_config.parent) for p in example_config.parent.rglob("*"))
    assert after == before  # no model/ folder, no state, nothing
    assert json.loads((local / "state.json").read_text())["the local campaign"]


def test_driver_state_dir_keeps_apart_from_a_local_campaign_and_resumes_old_driver_folders(tmp_path):
    assert driver_state_dir(None, 3) is None
    assert driver_state_dir(tmp_path / "new", 3) == tmp_path / "new" / "label-studio-3"
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "state.json").write_text('{"kind": "campaign"}')
    assert driver_state_dir(tmp_path / "local", 3) == tmp_path / "local" / "label-studio-3"
    (tmp_path / "driver").mkdir()
    (tmp_path / "driver" / "state.json").write_text('{"kind": "label_studio"}')
    assert driver_state_dir(tmp_path / "driver", 3) == tmp_path / "driver"  # a driver's folder resumes
    (tmp_path / "v010").mkdir()
    (tmp_path / "v010" / "label_studio_campaign.json").write_text("{}")
    assert driver_state_dir(tmp_path / "v010", 3) == tmp_path / "v010"  # 0.1.0 driver state


# --- a restarted backend against the real server ----------------------------------------------------


def _metrics(url, project):
    return requests.get(url + "/metrics", timeout=30).json()["projects"].get(str(project), {})


def _wait(pred, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.label_studio
@pytest.mark.slow
def test_restarted_backend_trains_from_label_studio_with_env_credentials(serve, tmp_path):
    if not os.environ.get("LABEL_STUDIO_URL"):
        pytest.skip("LABEL_STUDIO_URL is not set: start a server with scripts/label_studio.sh")
    from w2s_plugin.integrations.label_studio.driver import make_client

    ls = make_client(os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"])
    env_creds = {**BARE_ENV, **{k: os.environ[k] for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")}}
    p = ls.projects.create(title=f"w2s-restart-{uuid.uuid4().hex[:8]}", label_config=LABEL_CONFIG)
    recs = make_reviews(30, random_state=8)
    ls.projects.import_tasks(p.id, request=[{"data": {"text": r["text"], "gold": r["label"]}} for r in recs])
    tasks = sorted(ls.tasks.list(project=p.id), key=lambda t: t.id)
    gold = {t.id: t.data["gold"] for t in tasks}

    def annotate(tid, label=None):
        return ls.annotations.create(
            id=tid,
            result=[
                {
                    "from_name": "sentiment",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [label or gold[tid]]},
                }
            ],
        )

    port, models = free_port(), tmp_path / "models"
    first = serve(models, port, BARE_ENV)
    ml = ls.ml.create(url=first.url, project=p.id, title="w2s")  # Label Studio calls /setup
    assert (models / str(p.id) / "state.json").exists()
    first.kill()
    for t in tasks[:16]:  # annotated while the backend is down: no webhook reaches it
        annotate(t.id)

    # restarted without credentials in the environment: "Start training" has nothing to read with
    bare = serve(models, port, BARE_ENV)
    ls.ml.train(id=ml.id)
    assert _wait(lambda: "annotations" in _metrics(bare.url, p.id))
    assert _metrics(bare.url, p.id)["annotations"] == 0
    bare.kill()

    # restarted with LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY: the same click trains on all 16
    server = serve(models, port, env_creds)
    ls.ml.train(id=ml.id)
    assert _wait(lambda: _metrics(server.url, p.id).get("annotations") == 16), _metrics(server.url, p.id)
    m = _metrics(server.url, p.id)
    assert m["weak_model"] == "TextWeakClassifier" and m["model"].endswith("-n16")

    # annotation events reach their actions: created (+1), updated (label changes), deleted (-1)
    a17 = annotate(tasks[16].id)
    assert _wait(lambda: _metrics(server.url, p.id).get("annotations") == 17)
    flipped = "Negative" if gold[tasks[16].id] == "Positive" else "Positive"
    ls.annotations.update(
        id=a17.id,
        result=[
            {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [flipped]}}
        ],
    )

    def label_of(tid):
        state = json.loads((models / str(p.id) / "state.json").read_text())
        return state["examples"].get(str(tid), {}).get("label")

    assert _wait(lambda: label_of(tasks[16].id) == flipped)
    ls.annotations.delete(id=a17.id)
    assert _wait(lambda: _metrics(server.url, p.id).get("annotations") == 16)

    # PROJECT_UPDATED (Label Studio sends it when settings are saved, e.g. with "Start training")
    # reads the annotations back too: two made while the backend was down arrive with it
    server.kill()
    for t in tasks[17:19]:
        annotate(t.id)
    server = serve(models, port, env_creds)
    ls.projects.update(id=p.id, title=p.title + " (renamed)")
    assert _wait(lambda: _metrics(server.url, p.id).get("annotations") == 18), _metrics(server.url, p.id)
