"""The Label Studio backend sorts tasks exactly as ``acquisition.rank`` does (issue 20: one ranking).

Label Studio orders its queue by prediction score; the modAL strategies and the campaign engine rank
with ``w2s_plugin.acquisition.rank``. Here the backend scores a batch of real texts (hashed counts,
the keyword voter at cold start, then a logistic regression trained on annotations) and the order
of its scores, ties by position, must be ``rank``'s on the same report and probabilities, for every
built-in strategy. Repeated texts make ties.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("label_studio_sdk")

from w2s_plugin import acquisition  # noqa: E402
from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend  # noqa: E402
from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews  # noqa: E402
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_label_studio_env")

PROJECT = "7.1700000000"


def tasks_of(records, start_id=1):
    return [{"id": start_id + i, "data": {"text": r["text"]}} for i, r in enumerate(records)]


def annotation(task, label, ann_id):
    result = [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
    return task, {"id": ann_id, "task": task["id"], "was_cancelled": False, "result": result}


BATCH = make_reviews(80, random_state=11, prefix="b")
BATCH += BATCH[:10]  # the same texts again: tied scores


def backend_order(scores):
    """The order Label Studio shows: highest score first, equal scores by position."""
    return np.lexsort((np.arange(len(scores)), -np.asarray(scores)))


def scored(strategy, trained):
    b = OverlapDensityBackend(
        model_dir=None, embedder=HashingTextEmbedder(), strategy=strategy, keywords=EASY
    )
    pool = make_reviews(150, random_state=3)
    b.score_tasks(PROJECT, tasks_of(pool), LABEL_CONFIG)  # the pool detection is fitted on
    if trained:
        pairs = [annotation(t, r["label"], i) for i, (t, r) in enumerate(zip(tasks_of(pool[:60]), pool[:60]))]
        assert b.add_annotations(PROJECT, pairs, LABEL_CONFIG)["trained"]
    out = b.score_tasks(PROJECT, tasks_of(BATCH, 1000), LABEL_CONFIG)
    assert out.ok.all() and out.detected.all()
    return b, out


@pytest.mark.parametrize("trained", [False, True], ids=["cold_start", "trained"])
@pytest.mark.parametrize("strategy", acquisition.strategy_names())
def test_backend_sorts_as_rank(strategy, trained):
    b, out = scored(strategy, trained)
    idx, _ = acquisition.rank(strategy, out.report, out.proba, len(out.report), random_state=b.random_state)
    assert np.array_equal(backend_order(out.scores), idx)
    assert ((out.scores > 0) & (out.scores <= 1)).all()  # Label Studio's range; 0 is "no evidence" only


def test_overlap_then_hard_ratio_at_the_top():
    """``overlap_then_hard`` joins two rankings: the top ceil(ratio * m) by score are the overlap
    ranking's best, the rest follow by hardness (before, a logistic squash of the two scales mixed them)."""
    b, out = scored("overlap_then_hard", trained=True)
    m = len(out.report)
    order = backend_order(out.scores)
    over, _ = acquisition.rank("overlap", out.report, out.proba, m)
    k = int(np.ceil(0.5 * m))
    assert set(order[:k]) == set(over[:k])
    conf = out.report.confidence[order[k:]]
    assert (np.diff(conf) >= 0).all()  # the rest: least confident first
    assert len(np.unique(out.scores)) == m  # rank positions: no ties on this scale


def test_overlap_scores_do_not_depend_on_the_batch():
    """``overlap`` keeps a fixed scale (Label Studio compares scores of tasks scored in different
    requests): a text scores the same alone in a batch of 5 as in a batch of 90."""
    b, out = scored("overlap", trained=True)
    again = b.score_tasks(PROJECT, tasks_of(BATCH[:5], 1000), LABEL_CONFIG)
    assert np.allclose(again.scores, out.scores[:5])
    hard = out.report.regions == 1
    assert hard.any() and (~hard).any()
    assert out.scores[hard].max() < 0.5 <= out.scores[~hard].min()
