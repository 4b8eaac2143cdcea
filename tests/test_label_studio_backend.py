"""The ML backend protocol over real HTTP (a werkzeug server on a free port), no Label Studio needed.

Numbers asserted: the cold-start acquisition ranking against the synthetic corpus's ground-truth
regions, the weak model's accuracy before and after annotations, state surviving a restart.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("flask")
pytest.importorskip("label_studio_sdk")
requests = pytest.importorskip("requests")

from werkzeug.serving import make_server  # noqa: E402

from w2s_plugin.integrations.label_studio.app import create_app  # noqa: E402
from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews  # noqa: E402
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_label_studio_env")

NO_CHOICES = '<View><Text name="text" value="$text"/><TextArea name="note" toName="text"/></View>'


class Server:
    """A real threaded HTTP server for a Flask app, on 127.0.0.1 and a free port."""

    def __init__(self, app):
        self.srv = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.thread.join(5)


@pytest.fixture
def served(tmp_path):
    servers = []

    def start(**kw):
        auth = {k: kw.pop(k) for k in ("basic_auth_user", "basic_auth_pass") if k in kw}
        kw.setdefault("model_dir", tmp_path / "models")
        kw.setdefault(
            "embedder", HashingTextEmbedder()
        )  # the synthetic corpus's numbers are for hashed counts
        s = Server(create_app(OverlapDensityBackend(**kw), **auth))
        servers.append(s)
        return s.url

    yield start
    for s in servers:
        s.close()


def tasks_of(records, start_id=1):
    return [{"id": start_id + i, "data": {"text": r["text"]}} for i, r in enumerate(records)]


def setup(url, project="7.1700000000", extra=None):
    r = requests.post(
        f"{url}/setup", json={"project": project, "schema": LABEL_CONFIG, "extra_params": extra}
    )
    assert r.status_code == 200, r.text
    return r.json()["model_version"]


def predict(url, tasks, project="7.1700000000", **kw):
    r = requests.post(
        f"{url}/predict",
        json={
            "project": project,
            "tasks": tasks,
            "label_config": LABEL_CONFIG,
            "params": {"login": None, "password": None, "context": None},
        },
        **kw,
    )
    assert r.status_code == 200, r.text
    return r.json()["results"]


def annotation_event(task, label, ann_id, action="ANNOTATION_CREATED"):
    return {
        "action": action,
        "project": {"id": 7, "label_config": LABEL_CONFIG},
        "task": task,
        "annotation": {
            "id": ann_id,
            "task": task["id"],
            "was_cancelled": False,
            "result": [
                {
                    "from_name": "sentiment",
                    "to_name": "text",
                    "type": "choices",
                    "value": {"choices": [label]},
                }
            ],
        },
    }


def test_health_setup_and_prediction_format(served):
    url = served()
    for path in ("/", "/health"):
        body = requests.get(url + path).json()
        assert body["status"] == "UP" and body["model_class"] == "OverlapDensityBackend"
    version = setup(url, extra={"keywords": EASY})
    recs = make_reviews(40, random_state=3)
    results = predict(url, tasks_of(recs))
    assert len(results) == 40
    for res in results:
        assert res["model_version"] == version
        assert 0.0 <= res["score"] <= 1.0
        region = res["result"][0]
        assert (
            region["from_name"] == "sentiment" and region["to_name"] == "text" and region["type"] == "choices"
        )
        assert region["value"]["choices"][0] in ("Positive", "Negative")
        meta = region["w2s"]
        assert meta["region"] in ("easy_only", "hard_only", "overlap")
        assert meta["acquisition_score"] == pytest.approx(res["score"], abs=1e-6)
        assert set(meta["weak_proba"]) == {"Positive", "Negative"}
    metrics = requests.get(url + "/metrics").json()
    assert metrics["setup"] == 1 and metrics["projects"]["7"]["predictions"] == 40


def test_cold_start_scores_put_overlap_first(served):
    """Before any annotation: keyword voter + hashed text. The top 20% by score must be mostly overlap
    texts (ground truth), far above the corpus rate; weak labels on overlap texts are right."""
    url = served()
    setup(url, extra={"keywords": EASY})
    recs = make_reviews(300, overlap=0.25, hard=0.3, random_state=11)
    results = predict(url, tasks_of(recs))
    score = np.array([r["score"] for r in results])
    truth = np.array([r["region"] for r in recs])
    top = np.argsort(-score)[:60]
    base = np.mean(truth == "overlap")
    top_share = np.mean(truth[top] == "overlap")
    assert top_share >= 0.9 and top_share >= 3 * base, (top_share, base)
    weak = np.array([r["result"][0]["value"]["choices"][0] for r in results])
    gold = np.array([r["label"] for r in recs])
    detected = np.array([r["result"][0]["w2s"]["region"] for r in results])
    assert np.mean(weak[detected == "overlap"] == gold[detected == "overlap"]) >= 0.95
    # hard-only texts carry no keyword: the weak model is at chance there, and says so (low score)
    assert np.mean(detected[truth == "hard_only"] == "hard_only") >= 0.9


def test_webhook_trains_bumps_version_and_survives_restart(served, tmp_path):
    url = served()
    v0 = setup(url, extra={"keywords": EASY})
    recs = make_reviews(200, random_state=5)
    tasks = tasks_of(recs)
    before = predict(url, tasks)
    gold = np.array([r["label"] for r in recs])
    hard = np.array([r["region"] == "hard_only" for r in recs])

    def acc(res, idx):
        return np.mean(np.array([res[i]["result"][0]["value"]["choices"][0] for i in idx]) == gold[idx])

    for i in range(60):  # annotators label the first 60 tasks
        r = requests.post(f"{url}/webhook", json=annotation_event(tasks[i], recs[i]["label"], 1000 + i))
        assert r.status_code == 201, r.text
    v1 = r.json()["model_version"]
    assert v1 != v0
    after = predict(url, tasks)
    # predictions keep the version Label Studio's score column counts; the model itself is named in meta
    assert all(x["model_version"] == v0 for x in after)
    assert all(x["result"][0]["w2s"]["model"] == v1 for x in after)
    rest = np.arange(60, 200)
    acc_hard_before = acc(before, rest[hard[rest]])
    acc_hard_after = acc(after, rest[hard[rest]])
    # the keyword voter is at chance on hard-only texts; trained on annotations, the weak model learns
    # the hard cue words too
    assert acc_hard_before <= 0.65 and acc_hard_after >= 0.8, (acc_hard_before, acc_hard_after)
    # an unknown action is acknowledged, not trained on
    r = requests.post(f"{url}/webhook", json={"action": "LABEL_LINK_CREATED", "project": {"id": 7}})
    assert r.status_code == 200 and r.json()["status"] == "Unknown event"
    # deleting annotations retrains without them
    r = requests.post(
        f"{url}/webhook",
        json={
            "action": "ANNOTATIONS_DELETED",
            "project": {"id": 7},
            "annotations": [{"id": 1000 + i} for i in range(30)],
        },
    )
    assert r.status_code == 201 and r.json()["n_train"] == 30
    v2 = r.json()["model_version"]
    # a new process on the same MODEL_DIR continues exactly
    url2 = served(model_dir=tmp_path / "models")
    again = predict(url2, tasks[:50], project="7")
    assert {x["result"][0]["w2s"]["model"] for x in again} == {v2}
    r = requests.post(f"{url}/predict", json={"project": "7", "tasks": tasks[:50]})
    assert [x["result"] for x in r.json()["results"]] == [x["result"] for x in again]


@pytest.mark.parametrize(
    "body,status,words",
    [
        ("{not json", 400, "JSON"),
        ("[1, 2]", 400, "JSON object"),
        (json.dumps({"project": "7", "tasks": "nope", "label_config": LABEL_CONFIG}), 400, "list"),
        (
            json.dumps({"project": "123456", "tasks": [{"id": 1, "data": {"text": "x"}}]}),
            404,
            "unknown project",
        ),
        (json.dumps({"project": "abc", "tasks": [], "label_config": LABEL_CONFIG}), 400, "project id"),
        (
            json.dumps(
                {"project": "8", "tasks": [{"id": 1, "data": {"text": "x"}}], "label_config": NO_CHOICES}
            ),
            400,
            "Choices",
        ),
        (
            json.dumps(
                {"project": "7", "tasks": [{"id": 5, "data": {"body": "x"}}], "label_config": LABEL_CONFIG}
            ),
            400,
            "'text'",
        ),
        (
            json.dumps(
                {"project": "7", "tasks": [{"id": 5, "data": {"text": 3}}], "label_config": LABEL_CONFIG}
            ),
            400,
            "string",
        ),
        (
            json.dumps({"project": "7", "tasks": [{"id": 5}], "label_config": "<View><Text"}),
            400,
            "labeling config",
        ),
    ],
)
def test_bad_predict_requests_are_4xx_with_a_message(served, body, status, words):
    url = served()
    r = requests.post(f"{url}/predict", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert words.lower() in r.json()["error"].lower()


def test_bad_setup_and_webhook_requests(served):
    url = served()
    r = requests.post(f"{url}/setup", json={"project": "9.1", "schema": NO_CHOICES})
    assert r.status_code == 400 and "Choices" in r.json()["error"]
    r = requests.post(
        f"{url}/setup",
        json={"project": "9.1", "schema": LABEL_CONFIG, "extra_params": {"keywords": {"Neutral": ["meh"]}}},
    )
    assert r.status_code == 400 and "Neutral" in r.json()["error"]
    r = requests.post(f"{url}/webhook", json={"action": "START_TRAINING", "project": {"id": 424242}})
    assert r.status_code == 404 and "unknown project" in r.json()["error"]
    r = requests.post(f"{url}/webhook", json={"project": {"id": 7}})
    assert r.status_code == 400 and "action" in r.json()["error"]
    assert requests.get(f"{url}/nowhere").status_code == 404


def test_setup_accepts_extra_params_as_a_json_string(served):
    """``ml.create(..., extra_params=json.dumps({...}))`` (and the connection form) send a string:
    it must configure the keywords exactly like the object does; junk strings are a 400 that says why."""
    recs = make_reviews(200, overlap=0.3, hard=0.3, random_state=11)
    url = served()
    setup(url, "20.1", {"keywords": EASY})
    as_object = predict(url, tasks_of(recs), project="20.1")
    setup(
        url, "21.1", json.dumps({"keywords": {c.lower(): w for c, w in EASY.items()}})
    )  # "positive" -> Positive
    as_string = predict(url, tasks_of(recs), project="21.1")
    assert [r["score"] for r in as_string] == [r["score"] for r in as_object]
    # with the keywords, texts with an easy keyword are not hard-only: >= 90 % of easy-only ones
    easy = [
        r["result"][0]["w2s"]["region"] for r, rec in zip(as_string, recs) if rec["region"] == "easy_only"
    ]
    assert sum(g != "hard_only" for g in easy) / len(easy) >= 0.9
    assert setup(url, "22.1", "") and setup(url, "22.1", "   ")  # an empty string is "no extra params"
    for bad, words in (
        ("not json", "not valid JSON"),
        ("[1, 2]", "holding a list"),
        ('"keywords"', "holding a str"),
        (42, "got int"),
    ):
        r = requests.post(
            f"{url}/setup", json={"project": "23.1", "schema": LABEL_CONFIG, "extra_params": bad}
        )
        assert r.status_code == 400, r.text
        assert r.json()["status"] == "error" and words in r.json()["error"]


def test_empty_text_gets_an_empty_prediction_not_an_error(served):
    url = served()
    setup(url, extra={"keywords": EASY})
    recs = make_reviews(10, random_state=1)
    tasks = tasks_of(recs) + [{"id": 99, "data": {"text": "   "}}]
    res = predict(url, tasks)
    assert res[-1]["result"] == [] and res[-1]["score"] == 0.0
    assert all(r["result"] for r in res[:-1])


def test_basic_auth(served):
    url = served(basic_auth_user="ls", basic_auth_pass="s3cret")
    assert requests.get(f"{url}/health").status_code == 401
    assert requests.post(f"{url}/predict", json={}).status_code == 401
    assert requests.get(f"{url}/health", auth=("ls", "wrong")).status_code == 401
    r = requests.get(f"{url}/health", auth=("ls", "s3cret"))
    assert r.status_code == 200 and r.json()["status"] == "UP"


def test_twenty_concurrent_predict_calls(served):
    url = served()
    setup(url, extra={"keywords": EASY})
    recs = make_reviews(400, random_state=9)
    chunks = [tasks_of(recs[i * 20 : (i + 1) * 20], start_id=1 + i * 20) for i in range(20)]
    with ThreadPoolExecutor(max_workers=20) as ex:
        out = list(
            ex.map(
                lambda ts: requests.post(
                    f"{url}/predict",
                    json={"project": "7.1700000000", "tasks": ts, "label_config": LABEL_CONFIG},
                    timeout=120,
                ),
                chunks,
            )
        )
    assert [r.status_code for r in out] == [200] * 20
    assert all(len(r.json()["results"]) == 20 for r in out)
    assert requests.get(f"{url}/metrics").json()["projects"]["7"]["texts_seen"] == 400
