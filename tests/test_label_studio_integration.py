"""Against a real Label Studio server (scripts/label_studio.sh starts one; CI sets LABEL_STUDIO_URL).

The backend runs as a real HTTP server on 127.0.0.1 in a thread; Label Studio connects to it
(``ml.create``), calls /setup, /predict and the webhook itself.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.label_studio

from ls_server import server_or_skip  # noqa: E402

LS_URL, LS_KEY = server_or_skip()

pytest.importorskip("label_studio_sdk")
requests = pytest.importorskip("requests")


from w2s_plugin import Source  # noqa: E402
from w2s_plugin.engine import load_state  # noqa: E402
from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend  # noqa: E402
from w2s_plugin.integrations.label_studio.driver import (  # noqa: E402
    ITEM_KEY,
    SOURCE_KEY,
    STATE_FILE,
    CampaignDriver,
    project_source,
    project_tasks,
)
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews  # noqa: E402

N_ANNOTATED = 24


def new_project(ls, config=LABEL_CONFIG):
    return ls.projects.create(title=f"w2s-test-{uuid.uuid4().hex[:8]}", label_config=config)


def choice(pred):
    return pred["result"][0]["value"]["choices"][0]


def predictions_by_task(ls, project):
    return {t["id"]: t for t in project_tasks(ls, project)}


def annotate(ls, task_id, label):
    ls.annotations.create(
        id=task_id,
        result=[
            {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
        ],
    )


def test_backend_in_label_studio_predicts_trains_and_predicts_again(ls, backend_server):
    url, backend = backend_server
    p = new_project(ls)
    recs = make_reviews(120, overlap=0.25, hard=0.3, random_state=21)
    ls.projects.import_tasks(
        p.id, request=[{"data": {"text": r["text"], "gold": r["label"], "truth": r["region"]}} for r in recs]
    )
    setups = backend.counters["setup"]
    ls.ml.create(url=url, project=p.id, title="w2s overlap", extra_params={"keywords": EASY})
    assert backend.counters["setup"] > setups, "Label Studio did not call /setup"
    v0 = backend.current_version(p.id)
    label = "w2s overlap"  # the project's model version (Label Studio sets it to the title after /setup)

    ls.actions.create(
        id="retrieve_tasks_predictions", project=p.id, selected_items={"all": True, "excluded": []}
    )
    assert backend.prediction_version(p.id) == label  # read back at the /setup before /predict
    tasks = predictions_by_task(ls, p.id)
    assert len(tasks) == 120
    for t in tasks.values():
        assert len(t["predictions"]) == 1
        pred = t["predictions"][0]
        assert pred["model_version"] == label and 0.0 <= pred["score"] <= 1.0
        assert pred["result"][0]["w2s"]["model"] == v0
        assert pred["result"][0]["w2s"]["region"] in ("easy_only", "hard_only", "overlap")
    # sorting by prediction score puts overlap tasks first (ground truth kept in the task data)
    ordered = sorted(tasks.values(), key=lambda t: -t["predictions"][0]["score"])
    truth = np.array([t["data"]["truth"] for t in ordered])
    base = np.mean(truth == "overlap")
    top = np.mean(truth[:24] == "overlap")
    assert top >= 0.75 and top >= 2.5 * base, (top, base)

    # annotators label N_ANNOTATED tasks through the SDK; each annotation reaches /webhook and retrains
    ids = sorted(tasks)
    t0 = time.time()
    for tid in ids[:N_ANNOTATED]:
        annotate(ls, tid, tasks[tid]["data"]["gold"])
    deadline = time.time() + 60
    while backend.current_version(p.id) == v0 and time.time() < deadline:
        time.sleep(0.5)
    v1 = backend.current_version(p.id)
    assert v1 != v0, "no webhook reached the backend"
    assert backend.metrics()["projects"][str(p.id)]["annotations"] == N_ANNOTATED
    print(f"{N_ANNOTATED} annotations through the webhook in {time.time() - t0:.1f}s")

    # the version predictions carry is stable (the score column counts it): "Retrieve predictions" adds
    # nothing; deleting the old predictions and retrieving again re-scores with the new model
    ls.actions.create(
        id="retrieve_tasks_predictions", project=p.id, selected_items={"all": True, "excluded": []}
    )
    assert all(len(t["predictions"]) == 1 for t in predictions_by_task(ls, p.id).values())
    ls.actions.create(
        id="delete_tasks_predictions", project=p.id, selected_items={"all": True, "excluded": []}
    )
    ls.actions.create(
        id="retrieve_tasks_predictions", project=p.id, selected_items={"all": True, "excluded": []}
    )
    again = predictions_by_task(ls, p.id)
    fresh = {
        tid: [x for x in t["predictions"] if x["result"] and x["result"][0]["w2s"]["model"] == v1]
        for tid, t in again.items()
    }
    assert all(len(v) == 1 for v in fresh.values()), "every task got a prediction from the new model"
    rest = ids[N_ANNOTATED:]
    hard = [tid for tid in rest if again[tid]["data"]["truth"] == "hard_only"]

    def p_gold(pred, task):  # the weak model's probability of the right answer
        return pred["result"][0]["w2s"]["weak_proba"][task["data"]["gold"]]

    old_p = np.mean([p_gold(tasks[t]["predictions"][0], tasks[t]) for t in hard])
    new_p = np.mean([p_gold(fresh[t][0], again[t]) for t in hard])
    new_acc = np.mean([choice(fresh[t][0]) == again[t]["data"]["gold"] for t in hard])
    changed = sum(choice(tasks[t]["predictions"][0]) != choice(fresh[t][0]) for t in rest)
    print(
        f"hard-only tasks: p(gold) {old_p:.3f} -> {new_p:.3f}, accuracy of the new weak labels {new_acc:.3f}"
    )
    # hard-only texts hold no keyword: the cold-start voter is at exactly 0.5 there; trained on the
    # annotations, the weak model has learnt the hard cue words
    assert changed > 0 and old_p == pytest.approx(0.5) and new_p >= 0.55 and new_acc >= 0.75, (
        old_p,
        new_p,
        new_acc,
        changed,
    )


def test_label_studio_cannot_connect_a_backend_to_a_config_without_choices(ls, backend_server):
    url, backend = backend_server
    p = new_project(ls, '<View><Text name="text" value="$text"/><TextArea name="note" toName="text"/></View>')
    errors = backend.counters["errors"]
    try:
        ml = ls.ml.create(url=url, project=p.id, title="w2s")
    except Exception as exc:  # Label Studio refuses the connection: our 400 message surfaces
        assert "Choices" in str(exc) or "400" in str(exc)
    else:
        assert ls.ml.get(id=ml.id).state in ("ER", "Error", "ERROR") or "Choices" in (
            ls.ml.get(id=ml.id).error_message or ""
        )
    assert backend.counters["errors"] > errors


def write_sources(tmp_path):
    """Three pools with different overlap densities (one CSV, two JSONL); the third is rich in overlap."""
    paths = []
    for k, (ov, hard, kind) in enumerate([(0.05, 0.45, "csv"), (0.2, 0.3, "jsonl"), (0.6, 0.2, "jsonl")]):
        recs = make_reviews(40, overlap=ov, hard=hard, random_state=100 + k, prefix=f"s{k}-")
        path = tmp_path / f"pool{k}.{kind}"
        if kind == "csv":
            with open(path, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=["id", "text", "label", "region"])
                w.writeheader()
                w.writerows(recs)
        else:
            path.write_text("".join(json.dumps(r) + "\n" for r in recs))
        paths.append(path)
    return [Source.from_path(p, id_column="id", random_state=i) for i, p in enumerate(paths)]


def test_campaign_driver_five_rounds_three_sources_idempotent(ls, tmp_path):
    p = new_project(ls)
    state = tmp_path / "state"
    backend = OverlapDensityBackend(model_dir=tmp_path / "models", keywords=EASY)
    driver = CampaignDriver(
        ls,
        p.id,
        write_sources(tmp_path),
        backend=backend,
        batch_size=10,
        bandit="ucb",
        state_dir=state,
        progress=False,
        random_state=0,
    )
    rows = [driver.run_round() for _ in range(4)]
    snapshot = tmp_path / "after4.json"
    shutil.copy(state / STATE_FILE, snapshot)
    rows.append(driver.run_round())
    assert [r["imported"] for r in rows] == [10] * 5 and len({r["source"] for r in rows[:3]}) == 3

    tasks = list(project_tasks(ls, p.id))
    assert len(tasks) == 50
    keys = [(t["data"][SOURCE_KEY], t["data"][ITEM_KEY]) for t in tasks]
    assert len(set(keys)) == 50
    assert all(len(t["predictions"]) == 1 for t in tasks), [len(t["predictions"]) for t in tasks]
    imported_ids = sorted(i for r in rows for i in r["task_ids"])
    assert imported_ids == sorted(t["id"] for t in tasks)

    # a crash after the import but before the state write: the repeated round 5 imports nothing
    shutil.copy(snapshot, state / STATE_FILE)
    replay = CampaignDriver(
        ls,
        p.id,
        write_sources(tmp_path),
        backend=backend,
        batch_size=10,
        bandit="ucb",
        state_dir=state,
        progress=False,
        random_state=0,
    )
    again = replay.run_round()
    assert again["source"] == rows[4]["source"] and again["imported"] == 0 and again["skipped"] == 10
    assert len(list(project_tasks(ls, p.id, fields="task_only"))) == 50

    # annotations are read back (total_annotations > 0, not only_annotated) and retrain the weak model
    gold = {(s.name, str(i)): r["label"] for s in replay.sources.values() for i, r in zip(s.ids, s.records)}
    for t in tasks[:12]:
        annotate(ls, t["id"], gold[(t["data"][SOURCE_KEY], t["data"][ITEM_KEY])])
    r6 = replay.run_round()
    assert r6["annotated"] == 12 and r6["retrained"] and r6["model_version"] != rows[0]["model_version"]
    assert r6["imported"] == 10
    # the annotated tasks are the engine's gold sample: records with their text, labels as the choices
    X_gold, y_gold = replay.engine.gold
    assert len(X_gold) == len(y_gold) == 12 and all(isinstance(r["text"], str) for r in X_gold)
    assert sorted(y_gold) == sorted(gold[(t["data"][SOURCE_KEY], t["data"][ITEM_KEY])] for t in tasks[:12])
    X, y, srcs = replay.training_data("all")  # imported records with weak labels as the config's choices
    assert len(X) == len(y) == 60 and set(y) <= set(replay.schema.choices)
    assert len(list(project_tasks(ls, p.id, fields="task_only"))) == 60
    # the overlap-rich pool has the highest estimated density
    est = {e["source"]: e for e in replay.bandit.estimates()}
    assert est["pool2"]["density"] > est["pool0"]["density"]


def test_another_label_studio_project_is_a_source(ls, tmp_path):
    pool = new_project(ls)
    recs = make_reviews(15, random_state=3)
    ls.projects.import_tasks(pool.id, request=[{"data": {"text": r["text"]}} for r in recs])
    target = new_project(ls)
    src = project_source(ls, pool.id)
    driver = CampaignDriver(
        ls, target.id, [src], backend=OverlapDensityBackend(keywords=EASY), batch_size=10, progress=False
    )
    rows = driver.run()
    assert [r["imported"] for r in rows] == [10, 5] and driver.done
    texts = sorted(t["data"]["text"] for t in project_tasks(ls, target.id, fields="task_only"))
    assert texts == sorted(r["text"] for r in recs)


DOC = (Path(__file__).resolve().parents[1] / "docs" / "label_studio.md").read_text()


def doc_block(lang, containing):
    blocks = re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)
    return next(b for b in blocks if containing in b)


def test_docs_campaign_example_finds_overlap_and_no_keywords_warns(ls, tmp_path, monkeypatch, capsys):
    """docs/label_studio.md's campaign example, run as written (4 of its rounds): non-zero densities and
    the overlap-rich pool preferred; the same config without [label_studio] keywords finds nothing and
    warns once."""
    from w2s_plugin.cli import main

    monkeypatch.chdir(tmp_path)
    exec(compile(doc_block("python", "make_reviews(300"), "make_sources.py", "exec"), {})
    config = doc_block("toml", "[label_studio]\nkeywords")
    (tmp_path / "campaign.toml").write_text(config)
    (tmp_path / "nokw.toml").write_text(config.split("[label_studio]")[0].replace("ls-campaign", "ls-nokw"))
    label_config = doc_block("xml", "<Choices")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", LS_KEY)
    monkeypatch.delenv("MODEL_DIR", raising=False)
    runs = {}
    for name in ("campaign", "nokw"):
        project = ls.projects.create(title=f"w2s-doc-{uuid.uuid4().hex[:6]}", label_config=label_config)
        rc = main(
            [
                "campaign",
                "run",
                "--label-studio-url",
                LS_URL,
                "--project",
                str(project.id),
                "--config",
                f"{name}.toml",
                "--no-progress",
                "--max-rounds",
                "4",
            ]
        )
        assert rc == 0
        # the driver keeps its state apart from a local campaign's: <state_dir>/label-studio-<project>
        where = tmp_path / ("ls-campaign" if name == "campaign" else "ls-nokw") / f"label-studio-{project.id}"
        runs[name] = load_state(where)["rounds"]
        out = capsys.readouterr()
        warned = "no cold-start keywords" in out.err
        assert warned == (name == "nokw"), out.err
    dens = [r["density"] for r in runs["campaign"]]
    assert min(dens) > 0 and sum(r["source"] == "vendor_b" for r in runs["campaign"]) >= 2
    assert all(r["density"] == 0 for r in runs["nokw"])


def test_sdk_connect_with_json_string_extra_params_and_retrieve_predictions(ls, backend_server):
    """``ml.create(extra_params=json.dumps(...))`` makes Label Studio send a string to /setup: it must be
    accepted, its keywords used, and "Retrieve predictions" must fill every task."""
    url, _ = backend_server
    p = new_project(ls)
    ls.ml.create(project=p.id, url=url, title="w2s", extra_params=json.dumps({"keywords": EASY}))
    recs = make_reviews(30, overlap=0.3, hard=0.3, random_state=5)
    ls.projects.import_tasks(p.id, request=[{"text": r["text"], "truth": r["region"]} for r in recs])
    assert all(not t["predictions"] for t in project_tasks(ls, p.id))  # nothing until asked
    ls.actions.create(id="retrieve_tasks_predictions", project=p.id)
    tasks = list(project_tasks(ls, p.id))
    assert all(len(t["predictions"]) == 1 for t in tasks), [len(t["predictions"]) for t in tasks]
    regions = [(t["data"]["truth"], t["predictions"][0]["result"][0]["w2s"]["region"]) for t in tasks]
    easy = [g for truth, g in regions if truth == "easy_only"]
    assert easy and sum(g != "hard_only" for g in easy) / len(easy) >= 0.9  # the keywords reached the voter
