"""`w2s serve` as real processes: it binds before it prints, a busy port is one line and exit 2, and a
SIGKILL during /predict or during a retrain loses no annotation: the restarted server serves the last
good model. No Label Studio needed (the protocol's requests are sent as Label Studio sends them)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("flask")
pytest.importorskip("gunicorn")
requests = pytest.importorskip("requests")

from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews  # noqa: E402

W2S = str(Path(sys.executable).with_name("w2s"))
# no Label Studio here: the served backend must not read the test server's projects of the same ids
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")},
    "W2S_EMBEDDER": "hashing",
    "PYTHONUNBUFFERED": "1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """``w2s serve`` in its own process group (so SIGKILL reaches gunicorn's worker too)."""

    def __init__(self, model_dir, port=None, env=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [W2S, "serve", "--port", str(self.port), "--model-dir", str(model_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env or ENV,
            start_new_session=True,
        )
        self.banner = self.proc.stdout.readline()
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # drain gunicorn's log

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def serve():
    started = []

    def start(*a, **kw):
        s = Serve(*a, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


def post(url, path, body, timeout=120):
    r = requests.post(url + path, json=body, timeout=timeout)
    assert r.status_code in (200, 201), r.text[:300]
    return r.json()


def event(action, tasks, labels, first_id):
    anns = [
        {
            "id": first_id + i,
            "task": t["id"],
            "was_cancelled": False,
            "result": [
                {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [y]}}
            ],
        }
        for i, (t, y) in enumerate(zip(tasks, labels))
    ]
    return {
        "action": action,
        "project": {"id": 7, "label_config": LABEL_CONFIG},
        "annotation": anns,
        "task": tasks,
    }


def test_serve_binds_before_it_prints_and_a_busy_port_is_one_line(serve, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    s = serve(tmp_path / "models", env={**ENV, "HOME": str(home)})
    assert s.banner.startswith(f"w2s ML backend on {s.url}"), s.banner
    # the banner means the port is bound: /health answers (the worker may still be booting)
    assert requests.get(s.url + "/health", timeout=60).json()["status"] == "UP"
    t0 = time.time()
    busy = subprocess.run(
        [W2S, "serve", "--port", str(s.port)], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert busy.returncode == 2 and busy.stdout == ""
    lines = busy.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {s.port}" in lines[0] and "in use" in lines[0], busy.stderr
    assert time.time() - t0 < 30
    # no gunicorn control socket in the user's home (gunicorn 23+ makes ~/.gunicorn/gunicorn.ctl by default)
    assert not (home / ".gunicorn").exists()


def project_with_model(url, n_ann=40):
    post(url, "/setup", {"project": "7.1", "schema": LABEL_CONFIG, "extra_params": {"keywords": EASY}})
    recs = make_reviews(300, random_state=2)
    tasks = [{"id": i + 1, "data": {"text": r["text"]}} for i, r in enumerate(recs)]
    out = post(
        url, "/webhook", event("ANNOTATIONS_CREATED", tasks[:n_ann], [r["label"] for r in recs[:n_ann]], 1)
    )
    assert out["trained"] and out["n_train"] == n_ann
    return recs, tasks, out["model_version"]


def weak_view(results):
    return [(r["result"][0]["w2s"]["model"], r["result"][0]["w2s"]["weak_proba"]) for r in results]


def test_sigkill_during_predict_keeps_the_state_and_the_model(serve, tmp_path):
    models = tmp_path / "models"
    s = serve(models)
    recs, tasks, model = project_with_model(s.url)
    before = post(s.url, "/predict", {"project": "7", "tasks": tasks[40:140]})["results"]
    big = [
        {"id": 10_000 + i, "data": {"text": f"{r['text']} {i}"}}
        for i, r in enumerate(make_reviews(60_000, random_state=3))
    ]
    failed = []
    t = threading.Thread(target=lambda: failed.append(_post_quietly(s.url, {"project": "7", "tasks": big})))
    t.start()
    time.sleep(1.5)  # the 60,000-task batch is being scored
    s.kill()
    t.join(30)
    assert failed == [False], "the kill did not land during /predict"
    json.loads((models / "7" / "state.json").read_text())  # never a torn file
    s2 = serve(models)
    after = post(s2.url, "/predict", {"project": "7", "tasks": tasks[40:140]})["results"]
    assert weak_view(after) == weak_view(before) and {m for m, _ in weak_view(after)} == {model}
    assert requests.get(s2.url + "/metrics", timeout=30).json()["projects"]["7"]["annotations"] == 40


def _post_quietly(url, body) -> bool:
    try:
        return requests.post(url + "/predict", json=body, timeout=120).status_code == 200
    except requests.RequestException:
        return False


def test_sigkill_during_a_retrain_loses_no_annotation_and_serves_the_last_good_model(serve, tmp_path):
    models = tmp_path / "models"
    s = serve(models)
    recs, tasks, model = project_with_model(s.url)
    before = post(s.url, "/predict", {"project": "7", "tasks": tasks[40:140]})["results"]
    # 30,000 more annotations in one event: their refit (5-fold CV, fit, share matching) takes seconds
    many = make_reviews(30_000, random_state=4)
    more = [{"id": 50_000 + i, "data": {"text": f"{r['text']} {i}"}} for i, r in enumerate(many)]
    body = event("ANNOTATIONS_CREATED", more, [r["label"] for r in many], 100_000)
    t = threading.Thread(target=_webhook_quietly, args=(s.url, body))
    t.start()
    state = models / "7" / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline:  # the annotations reach the disk before the refit starts
        try:
            if len(json.loads(state.read_text())["examples"]) == 40 + len(more):
                break
        except ValueError:
            pass
        time.sleep(0.05)
    s.kill()
    t.join(30)
    saved = json.loads(state.read_text())
    assert len(saved["examples"]) == 40 + len(more), "the kill came before the annotations were saved"
    assert saved["weak_file"] == f"weak-v{int(model.split('-')[2]):06d}.pkl", (
        "the refit finished before the kill"
    )
    s2 = serve(models)
    m = requests.get(s2.url + "/metrics", timeout=30).json()
    after = post(s2.url, "/predict", {"project": "7", "tasks": tasks[40:140]})["results"]
    assert weak_view(after) == weak_view(before)  # the last good model
    m = requests.get(s2.url + "/metrics", timeout=30).json()["projects"]["7"]
    assert m["annotations"] == 40 + len(more) and m["model"] == model
    # the next training event refits on everything that was saved
    out = post(s2.url, "/webhook", {"action": "START_TRAINING", "project": {"id": 7}}, timeout=300)
    assert out["trained"] and out["n_train"] == 40 + len(more) and out["model_version"] != model


def _webhook_quietly(url, body) -> bool:
    try:
        return requests.post(url + "/webhook", json=body, timeout=300).status_code == 201
    except requests.RequestException:
        return False
