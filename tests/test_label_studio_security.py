"""The ML backend against callers it must not trust (issue 22) and Label Studio's own conventions
(issue 19): the stored token never leaves for another host, a pull never wipes annotations, every
caller mistake is a one-line 4xx naming no server path, the request-size cap, Label Studio's events.

The "Label Studio" hosts here are tiny HTTP listeners on 127.0.0.1 that record the headers they get
(the real server cannot be made to answer an empty task list on demand); the restart test against
the real server is in test_label_studio_conventions.py.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("flask")
pytest.importorskip("label_studio_sdk")

from w2s_plugin.integrations.label_studio import backend as backend_mod  # noqa: E402
from w2s_plugin.integrations.label_studio.app import create_app  # noqa: E402
from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews  # noqa: E402
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder  # noqa: E402

SECRET = "legit-token-0123456789abcdef"


class Listener:
    """An HTTP server on 127.0.0.1 that records every request's method, path and headers and answers
    like a Label Studio with no annotated task (or with ``tasks``)."""

    def __init__(self, tasks=None):
        self.seen: list[tuple[str, str, dict]] = []
        self.tasks = list(tasks or [])
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                outer.seen.append(("GET", self.path, dict(self.headers)))
                if self.path.startswith("/api/tasks"):
                    body = {"tasks": outer.tasks, "total": len(outer.tasks)}
                else:
                    body = {"id": 1, "model_version": ""}
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def tokens(self) -> list:
        return [h.get("Authorization") for _, _, h in self.seen]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def listeners():
    made = []

    def make(tasks=None):
        made.append(Listener(tasks))
        return made[-1]

    yield make
    for lst in made:
        lst.close()


@pytest.fixture
def no_ls_env(monkeypatch):
    for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_HOST", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_ACCESS_TOKEN"):
        monkeypatch.delenv(k, raising=False)


def make_backend(model_dir):
    return OverlapDensityBackend(model_dir=model_dir, embedder=HashingTextEmbedder())


def client_for(model_dir, **kw):
    return create_app(make_backend(model_dir), **kw).test_client()


def annotation(tid, label, ann_id):
    return {
        "id": ann_id,
        "task": tid,
        "was_cancelled": False,
        "result": [
            {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
        ],
    }


def annotate(c, recs, project=1, start=0):
    for i, r in enumerate(recs):
        task = {"id": start + i + 1, "data": {"text": r["text"]}}
        body = {
            "action": "ANNOTATION_CREATED",
            "project": {"id": project},
            "task": task,
            "annotation": annotation(task["id"], r["label"], 1000 + start + i),
        }
        resp = c.post("/webhook", json=body)
        assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def setup(c, project="1.1700000000", **kw):
    return c.post("/setup", json={"project": project, "schema": LABEL_CONFIG, **kw})


def test_token_never_goes_to_another_host_and_an_empty_pull_wipes_nothing(tmp_path, listeners, no_ls_env):
    """The reproduction from issue 22: Label Studio's /setup, then a second /setup naming another host
    without a token, then START_TRAINING. Before the fix the backend sent ``Token <SECRET>`` to the
    second host and replaced the 10 stored annotations by its empty task list."""
    legit, evil = listeners(), listeners()
    c = client_for(tmp_path / "models")
    assert setup(c, hostname=legit.url + "/", access_token=SECRET).status_code == 200
    assert legit.tokens() == [f"Token {SECRET}"]  # /setup read the project's model version
    assert annotate(c, make_reviews(10, random_state=0))["n_train"] == 10

    r = setup(c, hostname=evil.url)  # no token: refused, nothing sent anywhere
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert "bound to the host" in err and "\n" not in err and SECRET not in err
    r = setup(c, access_token="another-token")  # a token without its host: refused too
    assert r.status_code == 400 and "without its 'hostname'" in r.get_json()["error"]

    r = c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
    assert r.status_code == 201 and r.get_json()["n_train"] == 10  # legit answered no task: none lost
    assert evil.seen == []
    assert all(t == f"Token {SECRET}" for t in legit.tokens()) and len(legit.tokens()) >= 2

    # the evil host with a token of its own is a new, consistent pair: it gets that token only, and
    # its empty answer deletes nothing (only a deletion event does)
    assert setup(c, hostname=evil.url, access_token="evil-own-token").status_code == 200
    r = c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
    assert r.status_code == 201 and r.get_json()["n_train"] == 10
    assert set(evil.tokens()) == {"Token evil-own-token"}
    on_disk = json.loads((tmp_path / "models" / "1" / "state.json").read_text())
    assert len(on_disk["examples"]) == 10
    assert SECRET not in (tmp_path / "models" / "1" / "state.json").read_text()  # tokens stay in memory


def test_a_pull_adds_and_updates_but_only_deletion_events_delete(tmp_path, listeners, no_ls_env):
    recs = make_reviews(12, random_state=1)
    c = client_for(tmp_path / "models")
    ls_side = listeners()
    assert setup(c, hostname=ls_side.url, access_token=SECRET).status_code == 200
    annotate(c, recs[:6])
    # Label Studio now holds tasks 5..12 (6 was relabelled); tasks 1..4 are absent from its answer
    flipped = {"Positive": "Negative", "Negative": "Positive"}
    ls_side.tasks = [
        {
            "id": i + 1,
            "data": {"text": r["text"]},
            "total_annotations": 1,
            "annotations": [annotation(i + 1, flipped[r["label"]] if i == 5 else r["label"], 2000 + i)],
        }
        for i, r in enumerate(recs)
        if i >= 4
    ]
    r = c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 1}})
    assert r.status_code == 201 and r.get_json()["n_train"] == 12
    state = json.loads((tmp_path / "models" / "1" / "state.json").read_text())
    assert state["examples"]["6"]["label"] == flipped[recs[5]["label"]]
    # explicit deletions: two annotations by id, then a deleted task
    r = c.post(
        "/webhook",
        json={
            "action": "ANNOTATIONS_DELETED",
            "project": {"id": 1},
            "annotations": [{"id": 1000}, {"id": 1001}],
        },
    )
    assert r.status_code == 201 and r.get_json()["n_train"] == 10
    r = c.post("/webhook", json={"action": "TASKS_DELETED", "project": {"id": 1}, "tasks": [{"id": 12}]})
    assert r.status_code == 201 and r.get_json()["n_train"] == 9


def test_legacy_train_endpoint_trains_on_the_exported_tasks(tmp_path, no_ls_env):
    """Label Studio with its webhook-training flag off posts every annotated task to /train."""
    recs = make_reviews(20, random_state=2)
    c = client_for(tmp_path / "models")
    assert setup(c).status_code == 200
    tasks = [
        {"id": i + 1, "data": {"text": r["text"]}, "annotations": [annotation(i + 1, r["label"], 3000 + i)]}
        for i, r in enumerate(recs)
    ]
    r = c.post("/train", json={"project": "1.1700000000", "label_config": LABEL_CONFIG, "annotations": tasks})
    assert r.status_code == 201 and r.get_json()["n_train"] == 20 and r.get_json()["trained"]


def test_unknown_event_is_a_logged_200(tmp_path, caplog):
    c = client_for(tmp_path / "models")
    with caplog.at_level(logging.INFO, logger="w2s_plugin.integrations.label_studio.backend"):
        r = c.post("/webhook", json={"action": "LABEL_LINK_CREATED", "project": {"id": 1}})
    assert r.status_code == 200 and r.get_json()["status"] == "Unknown event"
    assert any("LABEL_LINK_CREATED" in rec.getMessage() for rec in caplog.records)


def _deep(n):
    return "[" * n + "]" * n


BAD = [
    ("/setup", _deep(100_000), "deeper than"),
    (
        "/webhook",
        '{"action": "START_TRAINING", "project": {"id": 1}, "x": ' + _deep(200) + "}",
        "deeper than",
    ),
    (
        "/webhook",
        json.dumps({"action": "ANNOTATION_DELETED", "project": {"id": 1}, "annotation": {"id": [1, 2]}}),
        "integer id",
    ),
    (
        "/webhook",
        json.dumps(
            {
                "action": "ANNOTATION_CREATED",
                "project": {"id": 1},
                "task": {"id": 1, "data": ["a list"]},
                "annotation": annotation(1, "Positive", 1),
            }
        ),
        "'data' must be an object",
    ),
    ("/setup", json.dumps({"project": "²", "schema": LABEL_CONFIG}), "ASCII digits"),
    ("/setup", json.dumps({"project": "9" * 5000, "schema": LABEL_CONFIG}), "ASCII digits"),
    ("/predict", json.dumps({"project": "9" * 5000, "tasks": []}), "ASCII digits"),
    ("/webhook", '{"action": "START_TRAINING", "project": {"id": ' + "9" * 5000 + "}}", "not valid JSON"),
    ("/webhook", json.dumps({"action": "START_TRAINING", "project": {"id": "9" * 5000}}), "ASCII digits"),
    ("/setup", b'{"project": "1", "schema": "\xff\xfe"}', "not valid JSON"),
    ("/setup", json.dumps({"project": "1", "schema": LABEL_CONFIG, "hostname": ["x"]}), "hostname"),
    ("/train", json.dumps({"project": "1", "annotations": {"a": 1}}), "annotations"),
]


@pytest.mark.parametrize("path, body, words", BAD, ids=[f"{p}-{w}" for p, _, w in BAD])
def test_caller_mistakes_are_one_line_4xx_without_server_paths(tmp_path, path, body, words):
    c = client_for(tmp_path / "models")
    assert setup(c, project="1").status_code == 200
    r = c.post(path, data=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.get_data(as_text=True)[:300]
    err = r.get_json()["error"]
    assert words in err and "\n" not in err and len(err) < 400
    assert str(tmp_path) not in r.get_data(as_text=True)
    # the project still works afterwards ("²" used to fail it forever)
    assert (
        c.post("/predict", json={"project": "1", "tasks": [{"id": 1, "data": {"text": "great"}}]}).status_code
        == 200
    )
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["1"]


def test_no_response_names_a_server_path(tmp_path):
    c = client_for(tmp_path / "models")
    assert setup(c, project="1").status_code == 200
    for path in ("/", "/health", "/metrics"):
        assert str(tmp_path) not in c.get(path).get_data(as_text=True)
    assert c.get("/health").get_json()["state"] == "disk"


def test_request_size_cap_is_a_413_that_says_how_to_raise_it(tmp_path, monkeypatch):
    c = client_for(tmp_path / "models", max_request_mb=1)
    assert setup(c, project="1").status_code == 200
    big = {"project": "1", "tasks": [{"id": 1, "data": {"text": "word " * 300_000}}]}  # 1.5 MB
    r = c.post("/predict", json=big)
    assert r.status_code == 413 and "W2S_MAX_REQUEST_MB" in r.get_json()["error"]
    monkeypatch.setenv("W2S_MAX_REQUEST_MB", "2")
    c2 = client_for(tmp_path / "models")
    assert c2.post("/predict", json=big).status_code == 200
    monkeypatch.setenv("W2S_MAX_REQUEST_MB", "lots")
    with pytest.raises(Exception, match="must be a number of MB"):
        client_for(tmp_path / "models")


def test_a_full_disk_is_a_one_line_507(tmp_path, monkeypatch):
    """ENOSPC is *injected* at the backend's write call (no tmpfs can be mounted in the test run)."""

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "models" / "1" / "state.json"))

    c = client_for(tmp_path / "models")
    monkeypatch.setattr(backend_mod, "atomic_write_bytes", full)
    r = setup(c, project="1")
    assert r.status_code == 507
    err = r.get_json()["error"]
    assert "disk is full" in err and "\n" not in err and str(tmp_path) not in err


def test_a_real_full_disk_under_model_dir_is_a_one_line_507(full_disk):
    c = client_for(full_disk / "models")  # the folder itself may still fit; state.json does not
    r = setup(c, project="1")
    assert r.status_code == 507
    err = r.get_json()["error"]
    assert "disk is full" in err and "\n" not in err and str(full_disk) not in err


def test_cold_start_says_it_has_no_model_yet(tmp_path):
    """Issue 23: with no annotations and no keywords every task came back easy_only with weak confidence 0."""
    c = client_for(tmp_path / "models")
    assert setup(c, project="1").status_code == 200
    recs = make_reviews(60, random_state=4)
    tasks = [{"id": i + 1, "data": {"text": r["text"]}} for i, r in enumerate(recs)]
    res = c.post("/predict", json={"project": "1", "tasks": tasks}).get_json()["results"]
    metas = [r["result"][0]["w2s"] for r in res]
    no_kw = [m for m in metas if m["weak_confidence"] == 0.0]
    assert len(no_kw) >= 30  # the choice names ("Positive") are rare in the corpus
    assert all(m["region"] == "hard_only" and m["no_model"].startswith("no model yet") for m in no_kw)
    assert all(r["score"] < 0.05 for r in res if r["result"][0]["w2s"]["weak_confidence"] == 0.0)
    assert all("no model yet" in r["result"][0]["meta"]["text"][0] for r in res)
    # with keywords, the texts that hold one are placed by the detector, and still called cold
    assert setup(c, project="2", extra_params={"keywords": EASY}).status_code == 200
    res = c.post("/predict", json={"project": "2", "tasks": tasks}).get_json()["results"]
    regions = {r["result"][0]["w2s"]["region"] for r in res}
    assert "easy_only" in regions or "overlap" in regions
    # after annotations of both choices, predictions no longer say so
    annotate(c, recs[:20], project=2)
    res = c.post("/predict", json={"project": "2", "tasks": tasks}).get_json()["results"]
    assert not any("no_model" in r["result"][0]["w2s"] for r in res)


def test_env_credentials_let_a_restarted_backend_train_without_setup(tmp_path, listeners, monkeypatch):
    """The official ML backend's convention: LABEL_STUDIO_HOST / LABEL_STUDIO_ACCESS_TOKEN (and the
    _URL / _API_KEY spellings) when /setup has not been called since the restart."""
    recs = make_reviews(8, random_state=5)
    ls_side = listeners(
        [
            {
                "id": i + 1,
                "data": {"text": r["text"]},
                "total_annotations": 1,
                "annotations": [annotation(i + 1, r["label"], 4000 + i)],
            }
            for i, r in enumerate(recs)
        ]
    )
    for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("LABEL_STUDIO_HOST", ls_side.url)
    monkeypatch.setenv("LABEL_STUDIO_ACCESS_TOKEN", "env-token")
    assert setup(client_for(tmp_path / "models"), project="1").status_code == 200  # no credentials sent
    restarted = client_for(tmp_path / "models")
    r = restarted.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
    assert r.status_code == 201 and r.get_json()["n_train"] == 8
    assert set(ls_side.tokens()) == {"Token env-token"}


def test_state_stays_bounded_with_huge_texts(tmp_path):
    """Issue 22: 40 texts of 2 MB grew state.json to 82 MB, rewritten on every pool change. A text is
    scored whole but kept as its first ``max_text_chars`` characters (pool and annotations)."""
    backend = OverlapDensityBackend(
        model_dir=tmp_path / "models", embedder=HashingTextEmbedder(), max_text_chars=5000
    )
    c = create_app(backend, max_request_mb=64).test_client()
    assert setup(c, project="1", extra_params={"keywords": EASY}).status_code == 200
    recs = make_reviews(40, random_state=6)
    huge = [(r["text"] + " ") * (200_000 // len(r["text"])) for r in recs]  # ~200 kB each, 8 MB in all
    tasks = [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(huge)]
    r = c.post("/predict", json={"project": "1", "tasks": tasks})
    assert r.status_code == 200 and len(r.get_json()["results"]) == 40
    # the weak label is the one of the whole text (its words repeat, so its beginning agrees here)
    short = c.post("/predict", json={"project": "1", "tasks": [{"id": 1, "data": {"text": recs[0]["text"]}}]})
    assert (
        r.get_json()["results"][0]["result"][0]["value"]
        == short.get_json()["results"][0]["result"][0]["value"]
    )
    annotate(c, [{"text": t, "label": rec["label"]} for t, rec in zip(huge[:10], recs)])
    state_file = tmp_path / "models" / "1" / "state.json"
    state = json.loads(state_file.read_text())
    assert max(len(t) for t in state["pool_texts"]) == 5000
    assert max(len(v["text"]) for v in state["examples"].values()) == 5000
    assert state_file.stat().st_size < 60 * 5000 * 1.2  # 40 pool texts + 10 annotations, not 8 MB
