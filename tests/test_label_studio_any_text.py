"""Any text is served (issue 12): texts without word tokens, a 0.1.0 state holding them, rejected
requests that leave nothing behind, a version that moves only with the annotations, a weak model
that does not collapse onto the majority choice. Real HTTP (werkzeug) against the real backend."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flask")
pytest.importorskip("label_studio_sdk")
requests = pytest.importorskip("requests")

from test_label_studio_backend import Server, annotation_event, predict, setup, tasks_of  # noqa: E402

from w2s_plugin.integrations.label_studio.app import create_app  # noqa: E402
from w2s_plugin.integrations.label_studio.backend import DEFAULT_LABEL, OverlapDensityBackend  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews  # noqa: E402
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_label_studio_env")

FIXTURE = Path(__file__).parent / "fixtures" / "label_studio_0_1_0"
#: no word tokens: hashed counts give a zero vector for each
NO_WORDS = ["\U0001f44d\U0001f44d", "!!!", "...", "\u200b", "   ", ""]


@pytest.fixture
def start(tmp_path):
    servers = []

    def run(model_dir=None, **kw):
        kw.setdefault("embedder", HashingTextEmbedder())
        s = Server(create_app(OverlapDensityBackend(model_dir=model_dir or tmp_path / "models", **kw)))
        servers.append(s)
        return s.url

    yield run
    for s in servers:
        s.close()


def mixed_tasks(n=60, seed=4):
    """Real-looking reviews with the no-word texts spread among them (ids 1..n+6)."""
    recs = make_reviews(n, overlap=0.3, hard=0.3, random_state=seed)
    tasks = tasks_of(recs)
    for j, text in enumerate(NO_WORDS):
        tasks.insert(5 + 9 * j, {"id": 1000 + j, "data": {"text": text}})
    return recs, tasks


def test_texts_without_words_are_hard_only_with_no_evidence_and_never_fail_the_batch(start, tmp_path):
    url = start()
    label = setup(url, extra={"keywords": EASY})
    assert label == DEFAULT_LABEL
    recs, tasks = mixed_tasks()
    res = predict(url, tasks)
    assert len(res) == len(tasks)
    by_id = {t["id"]: r for t, r in zip(tasks, res)}
    odd = [by_id[1000 + j] for j in range(len(NO_WORDS))]
    assert all(r["result"] == [] and r["score"] == 0.0 and r["model_version"] == label for r in odd)
    real = [r for t, r in zip(tasks, res) if t["id"] < 1000]
    assert all(r["result"] and r["score"] > 0.0 for r in real)
    # "no evidence" is the bottom of the prediction-score order
    assert max(r["score"] for r in odd) < min(r["score"] for r in real)
    # nothing invalid is persisted: the pool holds only the real texts
    state = json.loads((tmp_path / "models" / "7" / "state.json").read_text())
    assert set(state["pool_texts"]) == {r["text"] for r in recs}
    # the same batch again, and a batch of nothing but such texts, still answer 200
    assert [r["score"] for r in predict(url, tasks)] == [r["score"] for r in res]
    only = predict(url, [{"id": 2000 + j, "data": {"text": t}} for j, t in enumerate(NO_WORDS)])
    assert [r["score"] for r in only] == [0.0] * len(NO_WORDS)
    m = requests.get(f"{url}/metrics").json()["projects"]["7"]
    assert m["no_evidence"] == 2 * len(NO_WORDS) + len(NO_WORDS)
    # annotating such a text is kept and trains without error
    r = requests.post(
        f"{url}/webhook", json=annotation_event({"id": 1001, "data": {"text": "!!!"}}, "Positive", 5)
    )
    assert r.status_code == 201
    for i in range(12):
        r = requests.post(
            f"{url}/webhook", json=annotation_event(tasks_of(recs)[i], recs[i]["label"], 10 + i)
        )
        assert r.status_code == 201, r.text
    assert r.json()["n_train"] == 13
    again = predict(url, tasks)
    assert [again[tasks.index(t)]["score"] for t in tasks if t["id"] >= 1000] == [0.0] * len(NO_WORDS)


def test_a_0_1_0_state_holding_texts_without_words_recovers_on_start(start, tmp_path):
    """tests/fixtures/label_studio_0_1_0 was written by the 0.1.0 backend (make_fixture.py): its pool
    holds four texts without words, so every 0.1.0 /predict for that project answered 500."""
    model_dir = tmp_path / "models"
    shutil.copytree(FIXTURE / "7", model_dir / "7")
    before = json.loads((model_dir / "7" / "state.json").read_text())
    assert "!!!" in before["pool_texts"] and len(before["examples"]) == 11
    url = start(model_dir)
    recs = make_reviews(30, overlap=0.3, hard=0.3, random_state=8)
    tasks = tasks_of(recs, start_id=500) + [{"id": 201, "data": {"text": "!!!"}}]
    res = predict(url, tasks, project="7")
    assert len(res) == 31 and res[-1]["score"] == 0.0 and all(r["result"] for r in res[:-1])
    # the last good model is served (version 3, trained on the 11 saved annotations), none lost
    assert {r["result"][0]["w2s"]["model"] for r in res[:-1]} == {"w2s-overlap-3-n11"}
    after = json.loads((model_dir / "7" / "state.json").read_text())
    assert not set(after["pool_texts"]) & {"\U0001f44d\U0001f44d", "!!!", "...", "\u200b"}
    assert after["examples"] == before["examples"] and after["version"] == 3
    # and the weak model's labels on the real texts are those of the saved model, not a cold start
    weak = [r["result"][0]["w2s"]["weak_proba"]["Positive"] for r in res[:-1]]
    assert len(set(np.round(weak, 3))) > 2


def test_rejected_requests_leave_no_project_folder_and_failing_setup_saves_nothing(start, tmp_path):
    url = start()
    models = tmp_path / "models"
    r = requests.post(f"{url}/predict", json={"project": "31", "tasks": [{"id": 1, "data": {"text": "x"}}]})
    assert r.status_code == 404
    r = requests.post(f"{url}/predict", json={"project": "32", "tasks": [], "label_config": "<View><Text"})
    assert r.status_code == 400
    r = requests.post(
        f"{url}/setup",
        json={"project": "33.1", "schema": LABEL_CONFIG, "extra_params": {"keywords": {"Neutral": ["meh"]}}},
    )
    assert r.status_code == 400
    r = requests.post(f"{url}/webhook", json={"action": "START_TRAINING", "project": {"id": 34}})
    assert r.status_code == 404
    assert not any((models / k).exists() for k in ("31", "32", "33", "34"))
    # a project whose /setup worked keeps its config when a later /setup fails
    setup(url, "35.1", {"keywords": EASY})
    saved = (models / "35" / "state.json").read_bytes()
    r = requests.post(
        f"{url}/setup",
        json={"project": "35.1", "schema": LABEL_CONFIG, "extra_params": {"keywords": {"Positive": "great"}}},
    )
    assert r.status_code == 400
    assert (models / "35" / "state.json").read_bytes() == saved
    recs = make_reviews(20, random_state=2)
    assert all(r["result"] for r in predict(url, tasks_of(recs), project="35"))


def test_version_moves_only_when_the_annotations_change(start):
    url = start()
    setup(url, extra={"keywords": EASY})
    recs = make_reviews(40, random_state=6)
    tasks = tasks_of(recs)
    for i in range(10):
        r = requests.post(f"{url}/webhook", json=annotation_event(tasks[i], recs[i]["label"], 100 + i))
    v = r.json()["model_version"]
    # the same annotation delivered again (an ANNOTATION_UPDATED without a change) trains nothing
    r = requests.post(
        f"{url}/webhook", json=annotation_event(tasks[3], recs[3]["label"], 103, "ANNOTATION_UPDATED")
    )
    assert r.json() == {"model_version": v, "trained": False, "n_train": 10, "status": "ok"}
    other = "Negative" if recs[3]["label"] == "Positive" else "Positive"
    r = requests.post(f"{url}/webhook", json=annotation_event(tasks[3], other, 103, "ANNOTATION_UPDATED"))
    assert r.json()["trained"] and r.json()["model_version"] != v


def test_served_weak_model_follows_a_skewed_project_without_collapsing(start):
    """A project with three Positive reviews to one Negative; its first 20 tasks are annotated. The
    served labels on the rest follow the annotated class shares instead of collapsing onto
    Positive, the minority choice is found, and /metrics reports the weak model's cross-validated
    accuracy and the label distribution it serves."""
    url = start()
    setup(url, extra={"keywords": EASY})
    recs = make_reviews(800, overlap=0.3, hard=0.4, random_state=12)
    neg = [r for r in recs if r["label"] == "Negative"]
    pos = [r for r in recs if r["label"] == "Positive"]
    rng = np.random.default_rng(0)
    recs = [recs_ for recs_ in rng.permutation(np.array(pos[:300] + neg[:100], dtype=object))]
    tasks = tasks_of(recs)
    n_ann = 20
    for i in range(n_ann):
        r = requests.post(f"{url}/webhook", json=annotation_event(tasks[i], recs[i]["label"], 300 + i))
        assert r.status_code == 201
    annotated_neg = np.mean([recs[i]["label"] == "Negative" for i in range(n_ann)])
    res = predict(url, tasks[n_ann:])
    served = np.array([r["result"][0]["value"]["choices"][0] for r in res])
    gold = np.array([r["label"] for r in recs[n_ann:]])
    share_neg = np.mean(served == "Negative")
    recall_neg = np.mean(served[gold == "Negative"] == "Negative")
    recall_pos = np.mean(served[gold == "Positive"] == "Positive")
    print(
        f"annotated Negative share {annotated_neg:.2f}; served {share_neg:.3f} (truth "
        f"{np.mean(gold == 'Negative'):.3f}); recall Negative {recall_neg:.3f}, Positive {recall_pos:.3f}"
    )
    assert abs(share_neg - annotated_neg) <= 0.1 and share_neg >= 0.1, (share_neg, annotated_neg)
    assert recall_neg >= 0.5 and recall_pos >= 0.7, (recall_neg, recall_pos)
    m = requests.get(f"{url}/metrics").json()["projects"]["7"]
    assert (
        m["weak_cv"]["n"] == n_ann and m["weak_cv"]["folds"] >= 2 and 0.0 <= m["weak_cv"]["accuracy"] <= 1.0
    )
    assert m["served_share"]["Negative"] == pytest.approx(share_neg, abs=1e-3)
    assert m["served"]["Negative"] == int(np.sum(served == "Negative"))
