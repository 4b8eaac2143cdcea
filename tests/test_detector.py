"""OverlapDetector behaves as a scikit-learn estimator and its report as documented."""

import numpy as np
import pytest
from sklearn.base import clone

from w2s_plugin import DEFAULT_SCORER, OverlapDetector, OverlapReport, Region, detect_overlap
from w2s_plugin.errors import DataError, W2SError


@pytest.fixture(scope="module")
def data(weak_mixture):
    """The paper's mixture (smaller), weak model on the easy view trained on a separate draw."""
    return weak_mixture(300, 300, max_iter=2000)


def test_fit_returns_self_and_sets_fitted_attributes(data):
    pool, P, _ = data
    det = OverlapDetector(random_state=0)
    assert det.fit(P, pool.X) is det
    assert 0 < det.hard_threshold_ < 1 and np.isfinite(det.overlap_threshold_)
    assert det.n_features_in_ == pool.X.shape[1] and det.n_classes_ == 2
    assert det.scorer_ is not None and isinstance(det.report_, OverlapReport)
    assert det.scorer == DEFAULT_SCORER == det.report_.scorer
    rep = det.report_
    assert len(rep) == len(pool.y) and sum(rep.counts.values()) == len(pool.y)
    assert rep.density == pytest.approx(rep.counts[Region.OVERLAP] / len(pool.y))
    hard = rep.regions == Region.HARD_ONLY
    assert np.isnan(rep.overlap_score[hard]).all() and np.isfinite(rep.overlap_score[~hard]).all()
    assert (rep.confidence[hard] < rep.hard_threshold).all() and (
        rep.confidence[~hard] >= rep.hard_threshold
    ).all()
    ov = rep.regions == Region.OVERLAP
    assert (rep.overlap_score[ov] >= rep.overlap_threshold).all()
    assert (rep.overlap_score[rep.regions == Region.EASY_ONLY] < rep.overlap_threshold).all()


@pytest.mark.parametrize("scorer", ["rms_cosine", "subspace", "max_cosine", "max_inner"])
def test_predict_in_chunks_equals_fit_regions(data, scorer):
    pool, P, _ = data
    det = OverlapDetector(scorer=scorer, chunk_size=37, random_state=0).fit(P, pool.X)
    parts = [det.predict(P[s : s + 100], pool.X[s : s + 100]) for s in range(0, len(P), 100)]
    np.testing.assert_array_equal(np.concatenate(parts), det.report_.regions)
    np.testing.assert_array_equal(det.fit_predict(P, pool.X), det.report_.regions)
    # float32 input (the fast path) gives the same regions
    np.testing.assert_array_equal(det.predict(P, pool.X.astype(np.float32)), det.report_.regions)


def test_chunk_size_does_not_change_the_result(data):
    pool, P, _ = data
    a = detect_overlap(P, pool.X, chunk_size=8192)
    b = detect_overlap(P, pool.X, chunk_size=7)
    np.testing.assert_array_equal(a.regions, b.regions)
    np.testing.assert_allclose(a.overlap_score, b.overlap_score, rtol=1e-10, equal_nan=True)


def test_predict_before_fit_and_wrong_features(data):
    pool, P, _ = data
    with pytest.raises(ValueError, match="not fitted yet.*call fit"):
        OverlapDetector().predict(P, pool.X)
    det = OverlapDetector().fit(P, pool.X)
    with pytest.raises(ValueError, match="3 features; the detector was fitted on 40"):
        det.predict(P[:5], pool.X[:5, 18:21])
    with pytest.raises(ValueError, match="3 classes; the detector was fitted on 2"):
        det.predict(np.full((5, 3), 1 / 3), pool.X[:5])


def test_accumulate_uses_earlier_batches_and_caps_history(data):
    pool, P, weak = data
    batches = [(P[s : s + 150], pool.X[s : s + 150]) for s in range(0, 900, 150)]
    acc = OverlapDetector(accumulate=True, history_size=400, random_state=3)
    for p, e in batches[:3]:
        acc.fit(p, e)
    assert acc.n_seen_ == 450 and acc._hist_conf.size == 400 and acc._hist_emb.shape == (400, 40)
    # the hard-only threshold is the change point of history + new batch, not of the batch alone
    p, e = batches[3]
    before = acc._hist_conf.copy()
    acc.fit(p, e)
    from w2s_plugin import change_point_threshold, weak_confidence

    assert acc.hard_threshold_ == pytest.approx(
        change_point_threshold(np.concatenate([before, weak_confidence(p)]))
    )
    alone = OverlapDetector().fit(p, e)
    assert acc.hard_threshold_ != alone.hard_threshold_
    assert acc.n_seen_ == 600 and acc._hist_conf.size == 400
    # deterministic by random_state: the same batches give the same history and regions
    again = OverlapDetector(accumulate=True, history_size=400, random_state=3)
    for p, e in batches[:4]:
        again.fit(p, e)
    np.testing.assert_array_equal(again._hist_conf, acc._hist_conf)
    np.testing.assert_array_equal(again.report_.regions, acc.report_.regions)
    other = OverlapDetector(accumulate=True, history_size=400, random_state=4)
    for p, e in batches[:4]:
        other.fit(p, e)
    assert not np.array_equal(other._hist_conf, acc._hist_conf)
    # without accumulate every fit starts afresh
    plain = OverlapDetector(random_state=3)
    for p, e in batches[:4]:
        plain.fit(p, e)
    np.testing.assert_array_equal(plain.report_.regions, alone.report_.regions)


def test_accumulate_finds_overlap_in_a_batch_without_hard_points(data):
    """A later batch with no hard-only points still gets an overlap split from the history's."""
    pool, P, _ = data
    det = OverlapDetector(accumulate=True, random_state=0).fit(P, pool.X)
    easy_side = det.report_.regions != Region.HARD_ONLY
    rep = det.fit(P[easy_side][:200], pool.X[easy_side][:200]).report_
    assert rep.counts[Region.OVERLAP] > 0 and rep.counts[Region.EASY_ONLY] > 0


def test_get_set_params_and_clone(data):
    pool, P, _ = data
    det = OverlapDetector(
        scorer="max_cosine", scorer_params={"max_reference": 50}, accumulate=True, random_state=7
    )
    params = det.get_params()
    assert params["scorer"] == "max_cosine" and params["random_state"] == 7
    assert det.set_params(chunk_size=11) is det and det.chunk_size == 11
    with pytest.raises(ValueError, match="no parameter 'chunksize'"):
        det.set_params(chunksize=3)
    det.fit(P, pool.X)
    c = clone(det)
    assert c.get_params() == det.get_params() and not hasattr(c, "hard_threshold_")
    np.testing.assert_array_equal(
        c.fit(P, pool.X).report_.regions, OverlapDetector(**det.get_params()).fit(P, pool.X).report_.regions
    )
    assert "max_cosine" in repr(det)


def test_unknown_scorer_lists_the_registered_ones(data):
    pool, P, _ = data
    with pytest.raises(ValueError, match="unknown overlap scorer 'cosine'.*max_cosine.*rms_cosine"):
        detect_overlap(P, pool.X, scorer="cosine")


def test_no_hard_points_warns_and_reports_zero_density():
    rng = np.random.default_rng(0)
    from w2s_plugin import W2SWarning

    with pytest.warns(W2SWarning, match="no hard-only point"):
        rep = detect_overlap(np.full(20, 0.9), rng.normal(size=(20, 4)))
    assert rep.density == 0 and rep.counts[Region.EASY_ONLY] == 20


def test_summary_and_plot(data, tmp_path):
    pool, P, _ = data
    rep = detect_overlap(P, pool.X, random_state=0)
    text = rep.summary()
    for word in ("overlap", "easy_only", "hard_only", "threshold", "density", str(len(rep))):
        assert word in text
    assert f"{rep.density:.4f}" in text and str(rep.counts[Region.OVERLAP]) in text
    pytest.importorskip("matplotlib")
    path = tmp_path / "detect.png"
    fig = rep.plot(path)
    assert path.exists() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_scorer_parameter_typos_are_errors_not_ignored(data):
    pool, P, _ = data
    with pytest.raises(ValueError) as ei:
        OverlapDetector(scorer="subspace", scorer_params={"varance": 0.5}).fit(P, pool.X)
    assert str(ei.value) == (
        "overlap scorer 'subspace' got unknown parameter(s) varance; it accepts: n_components, variance"
    )
    with pytest.raises(
        ValueError, match=r"'max_cosine' got unknown parameter\(s\) tol; it accepts: max_reference$"
    ):
        OverlapDetector(scorer="max_cosine", scorer_params={"tol": 0.1}).fit(P, pool.X)
    with pytest.raises(ValueError, match="scorer_params must be a dict"):
        OverlapDetector(scorer_params=[1]).fit(P, pool.X)
    # a correct parameter is used, not dropped: a tighter variance keeps fewer directions
    loose = OverlapDetector(scorer="subspace", scorer_params={"variance": 0.99}, random_state=0).fit(
        P, pool.X
    )
    tight = OverlapDetector(scorer="subspace", scorer_params={"variance": 0.3}, random_state=0).fit(P, pool.X)
    assert tight.scorer_.basis_.shape[1] < loose.scorer_.basis_.shape[1]


def test_plugin_scorers_get_chunk_size_and_random_state_only_if_they_take_them(data):
    from w2s_plugin import plugins
    from w2s_plugin.hookspecs import hookimpl

    seen = {}

    class Bare:  # takes neither chunk_size nor random_state (the detector must not pass them)
        def __init__(self, scale=1.0):
            seen["bare"] = scale

        def fit(self, X, rows=None):
            return self

        def score(self, X):
            return np.linalg.norm(np.asarray(X), axis=1)

    def catch_all(**kw):  # a factory with **kwargs takes everything
        seen["catch_all"] = kw
        return Bare()

    class Plugin:
        @hookimpl
        def register_overlap_scorers(self, register):
            register("t_bare", Bare)
            register("t_catch_all", catch_all)

    plugin = Plugin()
    plugins.register(plugin)
    try:
        pool, P, _ = data
        OverlapDetector(scorer="t_bare", scorer_params={"scale": 2.0}).fit(P, pool.X)
        assert seen["bare"] == 2.0
        OverlapDetector(
            scorer="t_catch_all", scorer_params={"anything": 1}, chunk_size=77, random_state=5
        ).fit(P, pool.X)
        assert seen["catch_all"] == {"chunk_size": 77, "random_state": 5, "anything": 1}
        with pytest.raises(
            ValueError, match=r"'t_bare' got unknown parameter\(s\) chunk; it accepts: scale$"
        ):
            OverlapDetector(scorer="t_bare", scorer_params={"chunk": 1}).fit(P, pool.X)
    finally:
        plugins.unregister(plugin)


def test_region_names_work_wherever_a_region_does(data):
    """`report.indices("overlap")` used to fail with int('overlap'); names, Regions and ints agree."""
    pool, P, _ = data
    rep = detect_overlap(P, pool.X, random_state=0)
    for r in Region:
        want = np.flatnonzero(rep.regions == r)
        assert want.size > 50  # every region is populated here, so equal results are not all empty
        for key in (r, int(r), r.name.lower(), r.name, r.name.lower().replace("_", "-")):
            np.testing.assert_array_equal(rep.indices(key), want)
            np.testing.assert_array_equal(np.flatnonzero(rep.mask(key)), want)
            assert rep.counts[key] == want.size and key in rep.counts and rep.counts.get(key) == want.size
    assert rep.counts == {r: int(np.sum(rep.regions == r)) for r in Region}  # still a plain mapping
    for bad in ("overlapp", "hard", 3, -1, True, 2.0):
        with pytest.raises(W2SError, match=r"unknown region .*'easy_only', 'hard_only', 'overlap'") as ei:
            rep.indices(bad)
        assert str(ei.value).count("\n") == 0
        assert bad not in rep.counts and rep.counts.get(bad, "none") == "none"


def test_transposed_probabilities_are_named_as_transposed(data):
    """A (2, n) matrix used to be told its rows do not sum to 1; the shape is the problem."""
    pool, P, _ = data
    with pytest.raises(DataError, match=r"shape \(2, 900\).*transposed.*\(900, 2\).*proba\.T"):
        detect_overlap(P.T, pool.X)
    three = np.column_stack([P[:, 0] * 0.5, P[:, 0] * 0.5, P[:, 1]])
    with pytest.raises(DataError, match=r"shape \(3, 900\).*transposed"):
        OverlapDetector().fit(three.T, pool.X)
    off = P.copy()
    off[3] = [0.5, 0.2]  # a genuinely bad row keeps its own message
    with pytest.raises(DataError, match=r"rows 3 do not sum to 1"):
        detect_overlap(off, pool.X)


def test_plot_legend_says_detected_and_checks_truth(data):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    pool, P, _ = data
    rep = detect_overlap(P, pool.X, random_state=0)
    fig = rep.plot()
    labels = [t.get_text() for ax in fig.axes for t in ax.get_legend().get_texts()]
    assert f"hard-only: {rep.counts['hard_only']} detected" in labels and not any("true" in t for t in labels)
    plt.close(fig)
    with pytest.raises(DataError, match="truth must hold the true Region .* of each of the 900 points"):
        rep.plot(truth=pool.regions[:10])
    with pytest.raises(DataError, match="truth must hold"):
        rep.plot(truth=np.full(900, 7))
