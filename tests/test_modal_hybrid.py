"""The hybrid mode on modAL: MultiSourceLearner(human_budget=...) with people answering through
``teach``, and ``weak_error_sampling`` for a plain ActiveLearner. Real modAL learners, real data
(scikit-learn digits; the weak labeler sees a 4x4 downsampled image)."""

import numpy as np
import pytest

pytest.importorskip("modAL")

from modAL.models import ActiveLearner  # noqa: E402
from modAL.uncertainty import uncertainty_sampling  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402

from w2s_plugin import Source  # noqa: E402
from w2s_plugin.errors import W2SError  # noqa: E402
from w2s_plugin.integrations.modal import MultiSourceLearner, weak_error_sampling  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


def _pool4(A):
    return np.asarray(A).reshape(-1, 8, 8).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)


def _data(seed=0):
    d = load_digits()
    perm = np.random.default_rng(seed).permutation(len(d.target))
    return d.data, d.target, perm[:150], perm[150:1250], perm[1250:]


def _weak_learner(X, y):
    est = make_pipeline(FunctionTransformer(_pool4), LogisticRegression(C=0.05, max_iter=500))
    return ActiveLearner(est, X_training=X, y_training=y)


def test_multisource_learner_hybrid_people_answer_through_teach_weak_labels_fill_the_rest(tmp_path):
    X, y, w, p, t = _data()
    a, b = p[:550], p[550:]
    srcs = [Source("a", X[a], y=y[a], random_state=0), Source("b", X[b], y=y[b], random_state=0)]
    msl = MultiSourceLearner(
        _weak_learner(X[w], y[w]),
        srcs,
        batch_size=100,
        human_budget=80,
        state_dir=tmp_path / "m",
        random_state=0,
    )
    asked = []
    for _ in range(8):
        name, pos, Xq = msl.query(n_instances=10)
        assert len(pos) == 10 and np.array_equal(Xq, msl.sources[name].X[pos])
        asked += [(name, int(q)) for q in pos]
        msl.teach(name, pos, msl.sources[name].y[pos])
    assert len(asked) == len(set(asked)) == 80  # never an item twice
    with pytest.raises(W2SError, match="human budget is spent"):
        msl.query(n_instances=10)
    st = msl.engine.hybrid.status()
    assert st["n_human"] == 80 and st["n_audit"] >= 8 and st["n_weak"] == 800 - 80
    Xt, yt, wt = msl.training_set()
    assert Xt.shape == (800, 64) and yt.shape == wt.shape == (800,)
    pos = np.asarray(msl.items["position"])
    srcn = np.asarray(msl.items["source"])
    truth = np.where(srcn == "a", y[a][np.minimum(pos, 549)], y[b][np.minimum(pos, 549)])
    # training rows are grouped by source in the sources' order
    order = np.concatenate([np.flatnonzero(srcn == "a"), np.flatnonzero(srcn == "b")])
    truth, weak = truth[order], np.asarray(msl.items["weak_label"])[order]
    human = wt == 1
    assert np.all(yt[human & (weak != yt)] == truth[human & (weak != yt)])
    hybrid = LogisticRegression(max_iter=2000).fit(Xt, yt, sample_weight=wt).score(X[t], y[t])
    weak_only = LogisticRegression(max_iter=2000).fit(Xt, weak).score(X[t], y[t])
    assert hybrid > weak_only + 0.02, (hybrid, weak_only)
    # resume: the answers and the estimates come back; the budget stays spent
    again = MultiSourceLearner.resume(
        tmp_path / "m", _weak_learner(X[w], y[w]), srcs_copy(X, y, a, b), batch_size=100, random_state=0
    )
    assert again.engine.hybrid.status()["n_human"] == 80
    X2, y2, w2 = again.training_set()
    assert np.array_equal(y2, yt) and np.array_equal(w2, wt)


def srcs_copy(X, y, a, b):
    return [Source("a", X[a], y=y[a], random_state=0), Source("b", X[b], y=y[b], random_state=0)]


def test_weak_error_sampling_with_a_plain_active_learner_finds_weak_label_errors_in_many_classes():
    X, y, w, p, _ = _data(1)
    weak = make_pipeline(FunctionTransformer(_pool4), LogisticRegression(C=0.05, max_iter=500)).fit(
        X[w], y[w]
    )
    wl = weak.predict(X[p])
    err = wl != y[p]
    rng = np.random.default_rng(1)
    seed = rng.choice(p.size, 40, replace=False)
    learner = ActiveLearner(
        LogisticRegression(max_iter=2000),
        query_strategy=weak_error_sampling,
        X_training=X[p][seed],
        y_training=y[p][seed],
    )
    idx, Xq = learner.query(X[p], n_instances=40, weak_labels=wl)
    assert len(set(idx.tolist())) == 40 and np.array_equal(Xq, X[p][idx])
    unc, _ = uncertainty_sampling(learner, X[p], n_instances=40)
    top, _ = weak_error_sampling(learner, X[p], 40, weak_labels=wl, diverse=False)
    rate, rate_unc = err[idx].mean(), err[unc].mean()
    assert rate > 2 * err.mean() and rate > rate_unc, (rate, rate_unc, err.mean())
    assert np.unique(y[p][idx]).size >= np.unique(y[p][top]).size
    idx2, _ = learner.query(X[p], n_instances=40, weak_model=weak)  # the weak labels computed for you
    assert np.array_equal(np.sort(idx2), np.sort(idx))
    with pytest.raises(W2SError, match="weak_labels"):
        learner.query(X[p], n_instances=5)
