"""A seeded fuzz of the ML backend's HTTP API (issue 22): requests shaped like Label Studio's, with
fields replaced by random JSON (wrong types, huge or non-ASCII ids, path-like strings, deep
nesting), plus raw garbage. Bounded in count (``N_REQUESTS``) and time (``SECONDS``). Asserts: no
answer is a 500, every error is one line naming no server path, and nothing is written outside the
model dir (whose entries are project folders named by ids only)."""

from __future__ import annotations

import json
import random
import time

import pytest

pytest.importorskip("flask")
pytest.importorskip("label_studio_sdk")

from w2s_plugin.integrations.label_studio.app import create_app  # noqa: E402
from w2s_plugin.integrations.label_studio.backend import TRAIN_EVENTS, OverlapDensityBackend  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews  # noqa: E402
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder  # noqa: E402

N_REQUESTS = 400
SECONDS = 45
SEED = 20261203

NASTY_STRINGS = [
    "",
    " ",
    "²",
    "١٢",
    "9" * 5000,
    "../../etc/passwd",
    "/tmp/x",
    "1/../..",
    "1.2.3",
    "-1",
    "0x10",
    "1e3",
    "\x00",
    "nan",
    "NaN",
    "true",
    "<View><Text",
    LABEL_CONFIG,
    "<View/>",
    "http://127.0.0.1:1",
    "ftp://x",
    "Positive",
    "Negative",
    "great product",
    "👍" * 50,
    "a" * 100_000,
]
ACTIONS = [
    *TRAIN_EVENTS,  # every action that trains, and some that do not
    "PROJECT_CREATED",
    "LABEL_LINK_CREATED",
    "",
    "x" * 500,
]


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(12 if depth < 4 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, -1, 7, 2**63, -(2**70), 10**30])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e308, float("nan"), float("inf")])
    if kind in (4, 5, 6, 7):
        return rng.choice(NASTY_STRINGS)
    if kind in (8, 9):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 10:
        return {rng.choice(["id", "data", "text", "result", "task", "x"]): random_value(rng, depth + 1)}
    return json.loads("[" * 70 + "]" * 70)  # deeper than the backend accepts


def task(rng, i, text=None):
    return {"id": i, "data": {"text": text if text is not None else rng.choice(TEXTS)}}


def annotation(rng, tid, ann_id):
    return {
        "id": ann_id,
        "task": tid,
        "was_cancelled": rng.random() < 0.1,
        "result": [
            {
                "from_name": "sentiment",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [rng.choice(["Positive", "Negative"])]},
            }
        ],
    }


TEXTS = [r["text"] for r in make_reviews(60, random_state=3)]


def skeleton(rng: random.Random) -> tuple[str, dict]:
    """A plausible request of each kind (valid most of the time before mutation)."""
    project = rng.choice(["1", "1.1700000000", "2", 1, 2])
    path = rng.choice(["/setup", "/predict", "/webhook", "/webhook", "/train"])
    if path == "/setup":
        return path, {
            "project": project,
            "schema": LABEL_CONFIG,
            "extra_params": rng.choice([None, {"keywords": EASY}, json.dumps({"keywords": EASY}), ""]),
            "hostname": rng.choice([None, "http://127.0.0.1:1"]),
            "access_token": rng.choice([None, "tok"]),
        }
    if path == "/predict":
        n = rng.randrange(1, 6)
        return path, {
            "project": project,
            "label_config": LABEL_CONFIG,
            "tasks": [task(rng, rng.randrange(1, 50)) for _ in range(n)],
            "params": {},
        }
    if path == "/train":
        return path, {
            "project": project,
            "label_config": LABEL_CONFIG,
            "annotations": [
                {**task(rng, i), "annotations": [annotation(rng, i, 100 + i)]}
                for i in range(1, rng.randrange(2, 8))
            ],
        }
    action = rng.choice(ACTIONS)
    tid = rng.randrange(1, 50)
    body = {"action": action, "project": {"id": rng.choice([1, 2]), "label_config": LABEL_CONFIG}}
    if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
        body.update(task=task(rng, tid), annotation=annotation(rng, tid, 1000 + tid))
    elif action == "ANNOTATIONS_CREATED":
        ts = [task(rng, rng.randrange(1, 50)) for _ in range(3)]
        body.update(task=ts, annotation=[annotation(rng, t["id"], 2000 + t["id"]) for t in ts])
    elif action in ("ANNOTATION_DELETED", "ANNOTATIONS_DELETED"):
        body["annotations"] = [{"id": 1000 + rng.randrange(1, 50)}]
    elif action == "TASKS_DELETED":
        body["tasks"] = [{"id": rng.randrange(1, 50)}]
    return path, body


def mutate(rng: random.Random, value, rate: float):
    """``value`` with some of its fields (at any depth) replaced by random JSON."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if rng.random() < rate / 3:
                continue  # a missing field
            out[k] = random_value(rng) if rng.random() < rate else mutate(rng, v, rate)
        if rng.random() < rate / 3:
            out[rng.choice(["id", "project", "tasks", "data", "zzz"])] = random_value(rng)
        return out
    if isinstance(value, list):
        return [random_value(rng) if rng.random() < rate else mutate(rng, v, rate) for v in value]
    return value


def request_bytes(rng: random.Random) -> tuple[str, bytes]:
    r = rng.random()
    path, body = skeleton(rng)
    if r < 0.05:
        return path, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))  # garbage
    if r < 0.10:
        return path, json.dumps(random_value(rng)).encode()  # any JSON, often not an object
    if r < 0.30:
        return path, json.dumps(body).encode()  # as is
    return path, json.dumps(mutate(rng, body, rng.choice([0.05, 0.2, 0.5]))).encode()


def listing(root):
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if "models" not in p.relative_to(root).parts
    )


def test_fuzzed_requests_never_500_and_write_only_under_the_model_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("W2S_LS_BACKOFF", "0")  # fuzzed /setup hostnames are unreachable: no sleeping
    for k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_HOST", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_ACCESS_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    root = tmp_path / "root"
    root.mkdir()
    (root / "neighbour.txt").write_text("outside the model dir")
    models = root / "models"
    app = create_app(OverlapDensityBackend(model_dir=models, embedder=HashingTextEmbedder()))
    c = app.test_client()
    # two projects that exist, so most fuzzed requests reach deep code
    for project in ("1", "2"):
        r = c.post(
            "/setup", json={"project": project, "schema": LABEL_CONFIG, "extra_params": {"keywords": EASY}}
        )
        assert r.status_code == 200
    before = listing(tmp_path)
    rng = random.Random(SEED)
    statuses: dict[int, int] = {}
    t0 = time.time()
    n = 0
    for n in range(1, N_REQUESTS + 1):  # noqa: B007
        path, raw = request_bytes(rng)
        r = c.post(path, data=raw, headers={"Content-Type": "application/json"})
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        text = r.get_data(as_text=True)
        assert r.status_code < 500, (path, raw[:500], text[:500])
        if r.status_code >= 400:
            err = r.get_json()["error"]
            assert "\n" not in err and len(err) < 1000, err[:300]
        assert str(tmp_path) not in text
        if time.time() - t0 > SECONDS:
            break
    assert listing(tmp_path) == before  # nothing outside the model dir
    assert all(p.is_dir() and p.name.isdigit() for p in models.iterdir()), list(models.iterdir())
    # the fuzz reached both outcomes: answers and refusals
    ok = sum(v for k, v in statuses.items() if k < 300)
    assert n >= 150 and ok >= 0.2 * n and sum(v for k, v in statuses.items() if k >= 400) >= 0.2 * n, statuses
    assert c.get("/health").status_code == 200
    print(f"{n} fuzzed requests in {time.time() - t0:.1f}s: {dict(sorted(statuses.items()))}")
