"""The people's queue of a hybrid campaign where a labeling team sees it (issue 19): the Data Manager
tabs the driver makes, the audit gate on weak labels, the score column's two modes, and the people's
tab read off the page in headless Chromium (Debian's chromium + chromedriver, as
test_label_studio_score_column.py). Synthetic reviews with known regions: the keyword labeler is right
on easy-only and overlap texts and flips a coin on hard-only ones, so the gate has something to find.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.label_studio

from ls_server import server_or_skip  # noqa: E402

LS_URL, LS_KEY = server_or_skip()
pytest.importorskip("label_studio_sdk")
pytest.importorskip("requests")
pytest.importorskip("w2s_plugin.hybrid")

import test_label_studio_score_column as score_column  # noqa: E402
from test_label_studio_hybrid import Annotator  # noqa: E402

from w2s_plugin import Source  # noqa: E402
from w2s_plugin.errors import W2SError  # noqa: E402
from w2s_plugin.integrations.label_studio import queue as q  # noqa: E402
from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend  # noqa: E402
from w2s_plugin.integrations.label_studio.client import LabelStudioClient  # noqa: E402
from w2s_plugin.integrations.label_studio.driver import ITEM_KEY, SOURCE_KEY, CampaignDriver  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews  # noqa: E402
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder  # noqa: E402

chromium = score_column.browser  # the headless-Chromium fixture ("browser")
page_order = score_column.page_order
IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Three hybrid rounds answered by the simulated annotator, then a fourth whose tasks wait."""
    tmp = tmp_path_factory.mktemp("people")
    http = LabelStudioClient(LS_URL, LS_KEY)
    project = http.request(
        "POST",
        "/api/projects/",
        json={"title": f"w2s-people-{uuid.uuid4().hex[:8]}", "label_config": LABEL_CONFIG},
    )["id"]
    truth, sources = {}, []
    for k, (name, hard) in enumerate((("shop", 0.2), ("forum", 0.5))):
        recs = make_reviews(120, overlap=0.3, hard=hard, random_state=40 + k, prefix=f"{name}-")
        truth.update({(name, r["id"]): r for r in recs})
        sources.append(Source(name, records=recs, ids=[r["id"] for r in recs], random_state=k))
    backend = OverlapDensityBackend(model_dir=tmp / "models", keywords=EASY, embedder=HashingTextEmbedder())
    driver = CampaignDriver(
        http,
        project,
        sources,
        backend=backend,
        batch_size=30,
        state_dir=tmp / "state",
        progress=False,
        random_state=1,
        human_budget=80,
        human_batch=10,
        audit_share=0.5,
        retrain_weak=False,
        wait=300,
        poll=0.3,
    )
    labels = {key: r["label"] for key, r in truth.items()}
    bot = Annotator(http, project, labels)
    bot.start()
    try:
        driver.run(3)
    finally:
        bot.stop.set()
        bot.join(30)
    assert not bot.errors, bot.errors
    driver.wait = 0  # the next round publishes its tasks and says they wait
    with pytest.raises(W2SError, match="wait in the Data Manager tab 'w2s: for people'"):
        driver.run_round()
    return driver, http, project, truth


def test_audit_gate_keeps_the_weak_labels_it_can_vouch_for(campaign):
    driver, http, project, truth = campaign
    hy, it = driver.hybrid, driver.engine.items
    driver._refresh_index()
    acc = q.accepted_mask(hy, driver.accept_threshold)
    cells = driver.audit_cells()
    # the hard-only cells' audits show coin flips: their bound stays below 0.5; easy/overlap pass it
    assert any(r == "hard_only" and not ok for (r, _), ok in driver.accepted().items()), cells
    assert any(r != "hard_only" and ok for (r, _), ok in driver.accepted().items()), cells
    right = {True: [], False: []}
    plan = driver.last_plan  # the waiting round asks people for some earlier tasks: they wait in their tab
    waiting = {(s, str(driver.sources[s].ids[p])) for s, ps in plan.positions.items() for p in ps}
    for s, i, lab, ok in zip(it["source"], it["id"], it["weak_label"], acc):
        task = driver._task_index[(s, str(i))]
        if task.get("total_annotations") or (s, str(i)) in waiting:
            continue
        right[bool(ok)].append(lab == truth[(s, i)]["label"])
        queue = task["data"][q.QUEUE_KEY]
        assert queue == (q.WEAK if ok else q.PEOPLE if queue == q.PEOPLE else q.HELD), (queue, ok)
        pred = task["predictions"][0]
        if ok:  # the weak tab shows the weak label as the prediction
            assert pred["result"][0]["value"]["choices"] == [lab]
        else:
            assert pred["result"] == []
    # accepted weak labels are right (the audit vouched for their cells)
    a, r = np.mean(right[True]), np.mean(right[False])
    print(
        f"weak-label accuracy: accepted {a:.3f} ({len(right[True])}), rejected {r:.3f} ({len(right[False])})"
    )
    assert a >= 0.95, (a, r)  # rejected ones include cells not audited enough yet, not only bad ones
    # rejected weak labels weigh 0 in the training set; accepted ones the engine's weight
    X, y, w = driver.training_set()
    X0, y0, w0 = driver.training_set(gate=False)
    assert len(w) == len(w0) == len(it["source"]) and list(y) == list(y0)
    src = np.asarray(it["source"], dtype=object)
    order = np.concatenate([np.flatnonzero(src == n) for n in driver.sources if (src == n).any()])
    rejected = (~acc & ~hy._human_mask())[order]  # training-set rows follow the sources' order
    assert rejected.any() and (w[rejected] == 0).all() and (w[~rejected] == w0[~rejected]).all()
    # the human budget holds, the moved tasks included
    assert hy.n_human <= hy.human_budget
    st = driver.hybrid_status()
    assert st["human_budget_left"] == hy.budget_left and st["accept_threshold"] == 0.5
    assert {c["accepted"] for c in st["audit_cells"]} == {True, False}


def test_score_column_switches_between_trust_and_need(campaign):
    driver, http, project, _ = campaign
    view = http.request(
        "POST",
        "/api/dm/views/",
        json={"project": project, "data": {"title": "by score", "ordering": ["-tasks:predictions_score"]}},
    )["id"]

    def column():
        return {t["id"]: (t["predictions_score"], t["data"]) for t in q.view_tasks(http, project, view)}

    assert driver.switch_score("need") > 0
    for score, d in column().values():
        assert score == pytest.approx(d[q.PRIORITY_KEY], abs=1e-6)
    top = sorted(column().values(), key=lambda v: -v[0])[:10]
    assert all(d[q.QUEUE_KEY] == q.PEOPLE for _, d in top)  # "needs a person" puts the people's tasks first
    assert driver.switch_score("trust") > 0
    for score, d in column().values():
        assert score == pytest.approx(d.get(q.TRUST_KEY) or 0.0, abs=1e-6)
    assert driver.switch_score("trust") == 0


def test_people_tab_in_headless_chromium(campaign, chromium, tmp_path):
    """The people's tab as an annotator opens it: the waiting round's tasks (audits among them,
    unmarked), most needed first. The order and count on the page are the API's; a screenshot of each
    tab (``W2S_DOCS_SCREENSHOT=1`` writes docs/img/label_studio_people_tab.png and ..._weak_tab.png)."""
    driver, http, project, truth = campaign
    tabs = q.ensure_tabs(http, project)
    people = q.view_tasks(http, project, tabs[q.PEOPLE_TAB])
    prios = [t["data"][q.PRIORITY_KEY] for t in people]
    assert prios == sorted(prios, reverse=True)
    plan = driver.last_plan
    waiting = {(s, str(driver.sources[s].ids[p])) for s, ps in plan.positions.items() for p in ps}
    keys = [(t["data"][SOURCE_KEY], t["data"][ITEM_KEY]) for t in people]
    assert waiting <= set(keys) and keys[: len(waiting)] == [k for k in keys if k in waiting]
    audits = [
        (s, str(driver.sources[s].ids[p]))
        for s, ps in plan.positions.items()
        for p, kind in zip(ps, plan.kinds[s])
        if kind == "audit"
    ]
    assert audits and set(audits) <= set(keys)
    fields = {k for t in people if (t["data"][SOURCE_KEY], t["data"][ITEM_KEY]) in waiting for k in t["data"]}
    assert not any("audit" in f for f in fields)  # nothing marks an audit
    score_column.login(chromium)
    shots = {}
    for title, name in (
        (q.PEOPLE_TAB, "label_studio_people_tab.png"),
        (q.WEAK_TAB, "label_studio_weak_tab.png"),
    ):
        expected = q.view_tasks(http, project, tabs[title])
        chromium.get(f"{LS_URL}/projects/{project}/data?tab={tabs[title]}")
        shown = page_order(chromium, len(expected))
        shot = IMG / name if os.environ.get("W2S_DOCS_SCREENSHOT") == "1" else tmp_path / name
        chromium.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        shots[title] = (shown, [t["id"] for t in expected])
    shown, api = shots[q.PEOPLE_TAB]
    print(f"people's tab: {len(shown)} tasks on the page, {len(waiting)} of the waiting round first")
    assert shown == api and len(shown) == len(people)
    shown, api = shots[q.WEAK_TAB]
    assert shown[:20] == api[:20]  # the page shows the first rows of a long tab
