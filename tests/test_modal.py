"""overlap_sampling on real modAL learners and committees (modAL-python 0.4.2.1)."""

from __future__ import annotations

import functools

import numpy as np
import pytest

pytest.importorskip("modAL")

from modAL.models import ActiveLearner, Committee  # noqa: E402
from modAL.uncertainty import uncertainty_sampling  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

from w2s_plugin import OverlapDetector, Region, detect_overlap, hookimpl, plugins  # noqa: E402
from w2s_plugin.datasets import make_overlap_mixture  # noqa: E402
from w2s_plugin.errors import DataError, W2SError  # noqa: E402
from w2s_plugin.hooks.strategies import overlap_scores  # noqa: E402
from w2s_plugin.integrations.modal import overlap_sampling  # noqa: E402

# modAL 0.4.2.1's teach() passes force_all_finite, which scikit-learn 1.6/1.7 warn about.
pytestmark = pytest.mark.filterwarnings("ignore:'force_all_finite' was renamed:FutureWarning")


def weak_estimator(n_easy=20):
    """The weak model sees only the easy block of the mixture."""
    return make_pipeline(
        ColumnTransformer([("easy", "passthrough", list(range(n_easy)))]),
        LogisticRegression(solver="liblinear"),
    )


@pytest.fixture(scope="module")
def data():
    mix = make_overlap_mixture(200, 200, 200, random_state=0)
    seed = mix.sample(40, 40, 40, random_state=1)
    return mix, seed


def counting(strategy):
    """Wrap a query strategy to count how often modAL calls it."""

    @functools.wraps(strategy)
    def wrapped(*args, **kwargs):
        wrapped.calls += 1
        return strategy(*args, **kwargs)

    wrapped.calls = 0
    return wrapped


def make_learner(seed, strategy):
    return ActiveLearner(weak_estimator(), query_strategy=strategy, X_training=seed.X, y_training=seed.y)


def make_committee(seed, strategy, k=3):
    members = []
    for i in range(k):
        rows = np.random.default_rng(i).choice(len(seed.y), size=len(seed.y), replace=True)
        members.append(ActiveLearner(weak_estimator(), X_training=seed.X[rows], y_training=seed.y[rows]))
    return Committee(learner_list=members, query_strategy=strategy)


@pytest.mark.parametrize("kind", ["learner", "committee"])
@pytest.mark.parametrize("n", [1, 2, 10])
def test_query_rows_single_call_scores_and_teach(data, kind, n):
    mix, seed = data
    strat = counting(overlap_sampling)
    model = make_learner(seed, strat) if kind == "learner" else make_committee(seed, strat)

    idx, X = model.query(mix.X, n_instances=n)
    assert strat.calls == 1, "modAL retries the strategy when unpacking fails; ours must unpack at once"
    assert len(idx) == n and X.shape == (n, mix.X.shape[1])
    np.testing.assert_array_equal(X, mix.X[idx])

    idx2, X2, metrics = model.query(mix.X, n_instances=n, return_metrics=True)
    assert strat.calls == 2
    np.testing.assert_array_equal(idx2, idx)
    # Recompute: the detector on the same probabilities and pool, then the overlap scores.
    report = detect_overlap(model.predict_proba(mix.X), mix.X)
    expected = overlap_scores(report)
    np.testing.assert_allclose(metrics, expected[idx])
    rest = np.setdiff1d(np.arange(len(expected)), idx)
    assert metrics.min() >= expected[rest].max(), "the chosen points are the top-n by score"
    assert np.all(np.diff(metrics) <= 0), "best first"

    n_before = (model.X_training if kind == "learner" else model.learner_list[0].X_training).shape[0]
    model.teach(X, mix.y[idx])
    n_after = (model.X_training if kind == "learner" else model.learner_list[0].X_training).shape[0]
    assert n_after == n_before + n
    assert strat.calls == 2, "teach does not query"


def test_overlap_queries_find_true_overlap(data):
    """User-relied behaviour: the top of the ranking is ground-truth overlap (base rate 1/3)."""
    mix, seed = data
    learner = make_learner(seed, overlap_sampling)
    idx, _ = learner.query(mix.X, n_instances=50)
    precision = float(np.mean(mix.regions[idx] == Region.OVERLAP))
    assert precision >= 0.8, precision
    hard_idx, _ = learner.query(mix.X, n_instances=50, strategy="hard_only")
    assert float(np.mean(mix.regions[hard_idx] == Region.HARD_ONLY)) >= 0.8


def test_bare_index_array_trap_in_modal():
    """Why overlap_sampling returns (indices, scores): modAL unpacks a bare array of length 2 as
    (index, metric) and returns ONE row, and it calls a strategy whose return does not unpack twice."""
    X = np.random.default_rng(0).normal(size=(50, 3))
    y = (X[:, 0] > 0).astype(int)

    bare = counting(lambda clf, X_pool, n_instances=1: np.arange(n_instances))
    learner = ActiveLearner(LogisticRegression(), query_strategy=bare, X_training=X[:10], y_training=y[:10])
    idx, rows = learner.query(X, n_instances=2)
    assert np.ndim(idx) == 0 and rows.shape == (3,), "modAL turned 2 indices into one row"
    assert bare.calls == 1
    learner.query(X, n_instances=3)
    assert bare.calls == 3, "a return that does not unpack into two makes modAL call the strategy again"

    learner = ActiveLearner(
        LogisticRegression(), query_strategy=overlap_sampling, X_training=X[:10], y_training=y[:10]
    )
    idx, rows = learner.query(X, n_instances=2)
    assert len(idx) == 2 and rows.shape == (2, 3)


def test_committee_positional_n_instances_is_refused_not_one_row(data):
    """modAL's Committee.query(X, 10) binds 10 to return_metrics and calls the strategy with
    n_instances=1: it used to return ONE index quietly. Now a one-line error names the fix."""
    mix, seed = data
    uncertain = Committee(learner_list=make_committee(seed, overlap_sampling).learner_list)
    out = uncertain.query(mix.X, 10)  # modAL's own default strategy: the trap, as modAL has it
    assert len(out) == 3 and len(out[0]) == 1, "10 went to return_metrics; one row came back"
    for strategy in (overlap_sampling, counting(overlap_sampling), functools.partial(overlap_sampling)):
        committee = make_committee(seed, strategy)
        with pytest.raises(W2SError, match=r"call committee.query\(X_pool, n_instances=10\)"):
            committee.query(mix.X, 10)
        idx, X = committee.query(mix.X, n_instances=10)
        assert len(idx) == 10 and X.shape[0] == 10
        idx2, X2, metrics = committee.query(mix.X, True, n_instances=10)  # return_metrics=True still works
        np.testing.assert_array_equal(idx2, idx)
        assert len(metrics) == 10
    learner = make_learner(seed, overlap_sampling)  # ActiveLearner.query takes n_instances positionally
    idx, X = learner.query(mix.X, 10)
    assert len(idx) == 10


def test_leaving_out_embeddings_on_a_weak_view_says_what_to_pass():
    """The README's modAL block: X_pool is the weak view (hard block zeroed), so X_pool cannot stand
    in for the strong representation. Leaving embeddings= out names that, not a cosine detail."""
    pool = make_overlap_mixture(300, 300, 300, random_state=0)
    X_pool = pool.weak_view()
    learner = ActiveLearner(
        LogisticRegression(max_iter=1000), overlap_sampling, X_training=X_pool[:30], y_training=pool.y[:30]
    )
    with pytest.raises(DataError, match="no embeddings= given, so X_pool stands in") as ei:
        learner.query(X_pool, n_instances=10)
    assert f"{int(np.sum(pool.regions == Region.HARD_ONLY))} of its rows are all zero" in str(ei.value)
    idx, _ = learner.query(X_pool, n_instances=10, embeddings=pool.X)
    assert np.mean(pool.regions[idx] == Region.OVERLAP) >= 0.8
    # X_pool that already is the strong view is a fine stand-in: same picks as passing it explicitly
    strong = ActiveLearner(weak_estimator(), overlap_sampling, X_training=pool.X[:30], y_training=pool.y[:30])
    np.testing.assert_array_equal(
        strong.query(pool.X, n_instances=10)[0], strong.query(pool.X, n_instances=10, embeddings=pool.X)[0]
    )


def test_strategies_by_name(data):
    mix, seed = data
    learner = make_learner(seed, overlap_sampling)
    ours, s = learner.query(mix.X, n_instances=5, strategy="uncertainty", return_metrics=True)[::2]
    ref, _ = ActiveLearner(
        weak_estimator(), query_strategy=uncertainty_sampling, X_training=seed.X, y_training=seed.y
    ).query(mix.X, n_instances=5)
    assert set(ours) == set(ref)
    P = learner.predict_proba(mix.X)
    np.testing.assert_allclose(s, 1 - P.max(axis=1)[ours])
    idx, _ = learner.query(mix.X, n_instances=7, strategy="overlap_then_hard", ratio=3 / 7)
    assert len(idx) == 7
    a, _ = learner.query(mix.X, n_instances=5, strategy="random", random_state=3)
    b, _ = learner.query(mix.X, n_instances=5, strategy="random", random_state=3)
    np.testing.assert_array_equal(a, b)


def test_representation_sources(data):
    """embeddings=..., embed_model=... (w2s_embed hook) and the pool itself rank consistently."""
    mix, seed = data
    learner = make_learner(seed, overlap_sampling)
    pca = PCA(n_components=10, random_state=0).fit(mix.X)
    via_model, s1 = overlap_sampling(learner, mix.X, 10, embed_model=pca)
    via_array, s2 = overlap_sampling(learner, mix.X, 10, embeddings=pca.transform(mix.X))
    np.testing.assert_array_equal(via_model, via_array)
    np.testing.assert_allclose(s1, s2)
    raw, _ = overlap_sampling(learner, mix.X, 10)
    raw_explicit, _ = overlap_sampling(learner, mix.X, 10, embeddings=mix.X)
    np.testing.assert_array_equal(raw, raw_explicit)

    class Strong:  # a model of a "framework" only a plugin knows
        def __init__(self, W):
            self.W = W

    class Provider:
        @hookimpl
        def w2s_embed(self, model, X):
            return np.asarray(X) @ model.W if isinstance(model, Strong) else None

    W = np.random.default_rng(0).normal(size=(mix.X.shape[1], 8))
    provider = Provider()
    plugins.register(provider, name="test-strong-embed")
    try:
        hooked, _ = overlap_sampling(learner, mix.X, 10, embed_model=Strong(W))
    finally:
        plugins.unregister(provider)
    direct, _ = overlap_sampling(learner, mix.X, 10, embeddings=mix.X @ W)
    np.testing.assert_array_equal(hooked, direct)


def test_fitted_and_unfitted_detector(data):
    mix, seed = data
    learner = make_learner(seed, overlap_sampling)
    det = OverlapDetector()
    idx, _ = learner.query(mix.X, n_instances=5, detector=det)
    assert hasattr(det, "hard_threshold_"), "an unfitted detector is fitted on the pool"
    thr = det.hard_threshold_
    new = mix.sample(50, 50, 50, random_state=7)
    idx2, _, s2 = learner.query(new.X, n_instances=5, detector=det, return_metrics=True)
    assert det.hard_threshold_ == thr, "a fitted detector is reused, not refitted"
    expected = overlap_scores(det.predict_report(learner.predict_proba(new.X), new.X))
    np.testing.assert_allclose(s2, expected[idx2])


def test_errors_are_clear_value_errors(data):
    mix, seed = data
    no_proba = ActiveLearner(SVC(), query_strategy=overlap_sampling, X_training=seed.X, y_training=seed.y)
    with pytest.raises(ValueError, match="predict_proba"):
        no_proba.query(mix.X, n_instances=2)
    with pytest.raises(ValueError, match="predict_proba"):
        overlap_sampling(object(), mix.X, 2)

    learner = make_learner(seed, overlap_sampling)
    with pytest.raises(ValueError, match="embeddings has 10 rows but X_pool has 600"):
        learner.query(mix.X, n_instances=2, embeddings=mix.X[:10])
    with pytest.raises(ValueError, match="larger than the pool"):
        learner.query(mix.X[:5], n_instances=6)
    with pytest.raises(ValueError, match="unknown acquisition strategy 'nope'"):
        learner.query(mix.X, n_instances=2, strategy="nope")
    with pytest.raises(ValueError, match="positive integer"):
        overlap_sampling(learner, mix.X, 0)
    with pytest.raises(ValueError, match="unknown parameter"):
        overlap_sampling(learner, mix.X, 2, strategy="overlap", ratio=0.5)
    unfitted = ActiveLearner(weak_estimator(), query_strategy=overlap_sampling)
    with pytest.raises(ValueError, match="not fitted"):
        unfitted.query(mix.X, n_instances=2)


def test_pool_and_embeddings_are_not_modified(data):
    """Detection normalises rows block by block; it must never write into the caller's arrays."""
    mix, seed = data
    learner = make_learner(seed, overlap_sampling)
    # Sorted by weak confidence, the hard-only rows are one contiguous block: the case where a
    # block of rows is a view of the caller's array rather than a copy.
    P = learner.predict_proba(mix.X)
    order = np.argsort(np.abs(P[:, 1] - P[:, 0]), kind="stable")
    X = mix.X[order]
    X_before = X.copy()
    E = np.ascontiguousarray(X[:, ::-1])
    E_before = E.copy()
    learner.query(X, n_instances=10)
    learner.query(X, n_instances=10, embeddings=E)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(E, E_before)


@pytest.mark.slow
def test_digits_example_reduced(tmp_path):
    """The digits example, shortened (5 rounds, 2 seeds): exactly what docs/modal.md claims."""
    pytest.importorskip("matplotlib")
    from examples import modal_digits as ex

    res = ex.run(rounds=5, batch=20, seeds=(0, 1), progress=False)
    last = {
        k: {s: float(np.asarray(v)[-1]) for s, v in res[k].items()}
        for k in ("A_weak", "A_strong", "B_strong")
    }
    wl = {s: float(v) for s, v in res["B_weak_label_acc"].items()}
    # B (weak labels): overlap picks far more correct weak labels and gives the best strong model.
    assert wl["overlap"] >= wl["random"] + 0.1, wl
    assert last["B_strong"]["overlap"] > max(v for s, v in last["B_strong"].items() if s != "overlap"), last
    # A (human labels): overlap is the worst strategy; it is not a classic active-learning criterion.
    assert last["A_strong"]["overlap"] < min(v for s, v in last["A_strong"].items() if s != "overlap"), last
    assert last["A_weak"]["overlap"] < min(v for s, v in last["A_weak"].items() if s != "overlap"), last
    ex.plot(res, tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 10_000
    assert "overlap" in ex.table(res)
