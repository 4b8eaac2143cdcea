"""Nothing lost in a hybrid Label Studio campaign (issue 19): ``w2s campaign run`` as a real process,
killed with SIGKILL while it waits for people (some answers given, some not). The restarted command
imports nothing twice, keeps every answer given before the kill (read back from Label Studio, never
asked again), rebuilds the people's tab that was deleted meanwhile, and finishes the campaign."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.label_studio

from ls_server import server_or_skip  # noqa: E402

LS_URL, LS_KEY = server_or_skip()
pytest.importorskip("label_studio_sdk")
pytest.importorskip("requests")
pytest.importorskip("w2s_plugin.hybrid")

from w2s_plugin.engine import load_state  # noqa: E402
from w2s_plugin.hybrid import ANSWERS_FILE  # noqa: E402
from w2s_plugin.integrations.label_studio import queue as q  # noqa: E402
from w2s_plugin.integrations.label_studio.client import LabelStudioClient  # noqa: E402
from w2s_plugin.integrations.label_studio.driver import ITEM_KEY, SOURCE_KEY  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import LABEL_CONFIG, make_reviews  # noqa: E402

W2S = str(Path(sys.executable).with_name("w2s"))
CONFIG = """seed = 3

[[sources]]
path = "shop.csv"
params = {{ id_column = "id" }}

[[sources]]
path = "forum.csv"
params = {{ id_column = "id" }}

[campaign]
batch_size = 20
state_dir = "{state}"

[label_studio]
embedder = {{ type = "text_hashing" }}
human_budget = 30
human_batch = 10
audit_share = 0.2
poll = 0.3

[label_studio.keywords]
Positive = ["great", "excellent", "love", "wonderful", "best"]
Negative = ["awful", "terrible", "hate", "horrible", "worst"]
"""


def answer(http, task, label):
    http.request(
        "POST",
        f"/api/tasks/{task['id']}/annotations/",
        json={
            "result": [
                {
                    "from_name": "sentiment",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [label]},
                }
            ]
        },
        idempotent=False,
    )


def people_tab(http, project):
    views = http.request("GET", "/api/dm/views/", params={"project": project}) or []
    return [v for v in views if (v.get("data") or {}).get("title") == q.PEOPLE_TAB]


def test_sigkill_while_waiting_for_people_loses_no_answer_and_rebuilds_the_tab(tmp_path):
    http = LabelStudioClient(LS_URL, LS_KEY)
    project = http.request(
        "POST",
        "/api/projects/",
        json={"title": f"w2s-kill-{uuid.uuid4().hex[:8]}", "label_config": LABEL_CONFIG},
    )["id"]
    truth = {}
    for k, name in enumerate(("shop", "forum")):
        recs = make_reviews(60, overlap=0.3, hard=0.3, random_state=70 + k, prefix=f"{name}-")
        truth.update({(name, r["id"]): r["label"] for r in recs})
        with open(tmp_path / f"{name}.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["id", "text"], extrasaction="ignore")
            w.writeheader()
            w.writerows(recs)
    state = tmp_path / "state"
    (tmp_path / "hybrid.toml").write_text(CONFIG.format(state=state))
    cmd = [W2S, "campaign", "run", "--label-studio-url", LS_URL, "--project", str(project)]
    cmd += ["--config", "hybrid.toml", "--no-progress", "--max-rounds", "3"]
    env = {**os.environ, "LABEL_STUDIO_API_KEY": LS_KEY, "PYTHONUNBUFFERED": "1"}
    env.pop("MODEL_DIR", None)

    def start():
        return subprocess.Popen(
            cmd,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    proc = start()
    try:
        # the first round's tasks for people appear; people answer some of them, then the driver dies
        deadline, waiting = time.time() + 180, []
        while time.time() < deadline and len(waiting) < 10:
            tab = people_tab(http, project)
            waiting = q.view_tasks(http, project, tab[0]["id"]) if tab else []
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
        assert len(waiting) == 10, len(waiting)
        given = {}
        for t in waiting[:4]:
            key = (t["data"][SOURCE_KEY], t["data"][ITEM_KEY])
            answer(http, t, truth[key])
            given[key] = truth[key]
        time.sleep(1.0)  # the driver sees some answers and keeps waiting for the rest
        assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    n_tasks = len(list(http.tasks(project, fields="task_only")))
    assert n_tasks == 20  # round 1 imported, not committed
    for v in people_tab(http, project):  # someone deletes the tab meanwhile
        http.request("DELETE", f"/api/dm/views/{v['id']}/")

    proc = start()
    try:
        deadline = time.time() + 300
        answered = set(given)
        while proc.poll() is None and time.time() < deadline:
            tab = people_tab(http, project)
            for t in q.view_tasks(http, project, tab[0]["id"]) if tab else []:
                key = (t["data"][SOURCE_KEY], t["data"][ITEM_KEY])
                assert key not in answered, f"{key} was asked again after its answer"
                answer(http, t, truth[key])
                answered.add(key)
            time.sleep(0.5)
        out = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out
    assert "human labels: 30 of 30" in out, out
    tasks = list(http.tasks(project))
    keys = [(t["data"][SOURCE_KEY], t["data"][ITEM_KEY]) for t in tasks]
    assert len(keys) == len(set(keys)) == 60  # 3 rounds of 20, nothing imported twice
    assert all(len(t.get("annotations") or []) <= 1 for t in tasks)  # nobody answered a task twice
    assert len(people_tab(http, project)) == 1  # rebuilt, once
    # every answer is in the engine, the four given before the kill included, with the given labels
    sdir = state / f"label-studio-{project}"  # the driver's folder under campaign.state_dir
    st = load_state(sdir, kind="label_studio")
    answers = {}
    for line in (sdir / ANSWERS_FILE).read_text().splitlines():
        a = json.loads(line)
        answers[(a["source"], str(a["id"]))] = a["label"]
    assert {k: answers[k] for k in given} == given
    assert len(answers) == 30 and all(answers[k] == truth[k] for k in answers)
    assert st["label_studio_hybrid"]["human_budget_left"] == 0
    status = subprocess.run(
        [W2S, "campaign", "status", str(sdir)], capture_output=True, text=True, env=env, timeout=60
    )
    assert status.returncode == 0 and "human labels: 30 of 30 (0 left" in status.stdout, status.stdout
