"""Property-based (hypothesis, derandomized, bounded): random shapes, dtypes, class orders, string vs
integer labels and tiny sources. Each call either raises a one-line W2SError, or returns exactly
what the equivalent canonical input gives (float64 arrays, integer class indices in column order).

Values are drawn so that every dtype holds them exactly (small integers for features; dyadic
probabilities), so "equivalent" means equal values, not approximately equal ones. float32 is
computed in float32 by design (overlap._work_dtype), so its canonical input is itself, and it is
exercised through the other variations only.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w2s_plugin import Campaign, Source, detect_overlap
from w2s_plugin.diagnostics import diagnose
from w2s_plugin.errors import W2SError

SETTINGS = dict(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
DTYPES = ("float64", "float16", "int64", "bool")


def _outcome(fn):
    """('ok', value) or ('error', message); an error must be a one-line W2SError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn()
    except W2SError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, f"multi-line error: {msg!r}"
        return "error", type(exc).__name__
    except Exception as exc:  # anything else is a bug: a user never reads a numpy traceback
        raise AssertionError(f"{type(exc).__name__} escaped instead of a W2SError: {exc}") from exc


@st.composite
def pools(draw, max_n=40):
    n = draw(st.integers(1, max_n))
    k = draw(st.sampled_from([2, 3, 5]))  # 0.25 / (k - 1) is dyadic: exact in float16
    d = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from(DTYPES))
    hi = 1 if dtype == "bool" else 6
    E = np.asarray(
        draw(st.lists(st.integers(0 if dtype == "bool" else -hi, hi), min_size=n * d, max_size=n * d))
    )
    E = E.reshape(n, d).astype(np.float64)
    top = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    sure = np.asarray(draw(st.lists(st.sampled_from([0.5, 0.75, 1.0]), min_size=n, max_size=n)))
    P = np.tile(((1 - sure) / (k - 1))[:, None], (1, k))
    P[np.arange(n), top] = sure
    perm = np.asarray(draw(st.permutations(range(k))))
    return P, E, dtype, perm


def _same_report(a, b):
    assert np.array_equal(a.regions, b.regions)
    assert np.array_equal(a.confidence, b.confidence)
    assert np.array_equal(np.isnan(a.overlap_score), np.isnan(b.overlap_score))
    assert a.hard_threshold == b.hard_threshold and a.overlap_threshold == b.overlap_threshold


@settings(max_examples=25, **SETTINGS)
@given(pools())
def test_detect_overlap_dtypes_class_order_and_binary_vectors(case):
    P, E, dtype, perm = case
    canon = _outcome(lambda: detect_overlap(P, E, random_state=0))
    variants = [
        lambda: detect_overlap(P, E.astype(dtype), random_state=0),
        lambda: detect_overlap(P[:, perm], E, random_state=0),  # another class order
    ]
    if P.shape[1] == 2:
        variants.append(lambda: detect_overlap(P[:, 1], E, random_state=0))  # 1-D p(class 1)
    for v in variants:
        got = _outcome(v)
        assert got[0] == canon[0], (got, canon)
        if got[0] == "ok":
            _same_report(got[1], canon[1])


@settings(max_examples=8, **SETTINGS)
@given(pools(max_n=60), st.data())
def test_diagnose_label_dtypes_and_feature_dtypes(case, data):
    P, E, dtype, _ = case
    n, k = P.shape
    truth = np.asarray(data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    has = np.asarray(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    gold = np.where(has, truth, -1)

    def run(p, e, g):
        rep = diagnose(p, e, g, random_state=0, folds=2)
        return rep.to_dict()

    canon = _outcome(lambda: run(P, E, gold))
    floats = np.where(has, truth.astype(float), np.nan)
    for v in (
        lambda: run(P, E.astype(dtype), gold),
        lambda: run(P, E, floats),
        lambda: run(P, E, gold.astype(np.int8)),
    ):
        got = _outcome(v)
        assert got[0] == canon[0], (got, canon)
        if got[0] == "ok":
            assert got[1] == canon[1]
    # label names instead of column indices: a one-line error that says what to pass
    names = np.asarray([f"c{i}" for i in range(k)])[truth]
    assert _outcome(lambda: run(P, E, names))[0] == "error"


def _weak(k):
    """A fixed weak model on integer features: class = first feature mod k, confidence by the second."""

    def proba(X):
        X = np.asarray(X, dtype=np.float64)
        top = np.mod(X[:, 0], k).astype(int)
        sure = np.where(X[:, -1] > 0, 0.75, 0.5)
        P = np.tile(((1 - sure) / (k - 1))[:, None], (1, k))
        P[np.arange(len(X)), top] = sure
        return P

    return proba


@st.composite
def campaigns(draw):
    k = draw(st.sampled_from([2, 3]))
    d = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(1, 25), min_size=1, max_size=4))
    dtype = draw(st.sampled_from(("float64", "float16", "int64")))
    batch = draw(st.integers(2, 8))
    n = sum(sizes)
    X = np.asarray(draw(st.lists(st.integers(-6, 6), min_size=n * d, max_size=n * d))).reshape(n, d)
    return k, X.astype(np.float64), sizes, dtype, batch


def _run_campaign(k, X, sizes, batch, reward, classes=None, gold=None):
    cuts = np.cumsum([0] + sizes)
    srcs = [Source(f"s{i}", X[a:b], shuffle=False) for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:]))]
    kw = {} if gold is None else {"gold": gold}
    c = Campaign(
        srcs, _weak(k), batch_size=batch, progress=False, random_state=0, reward=reward, classes=classes, **kw
    )
    c.run(max_rounds=12)
    return [(r["source"], r["n"], r["n_overlap"], round(r["reward"], 12)) for r in c.rounds], list(
        c.items["region"]
    )


@settings(max_examples=12, **SETTINGS)
@given(campaigns())
def test_campaign_overlap_reward_dtypes_and_tiny_sources(case):
    k, X, sizes, dtype, batch = case
    canon = _outcome(lambda: _run_campaign(k, X, sizes, batch, "overlap"))
    got = _outcome(lambda: _run_campaign(k, X.astype(dtype), sizes, batch, "overlap"))
    assert got == canon


@settings(max_examples=6, **SETTINGS)
@given(campaigns(), st.data())
def test_campaign_gain_reward_string_vs_integer_labels(case, data):
    k, X, sizes, dtype, batch = case
    rng = np.random.default_rng(0)
    Xg = rng.integers(-6, 7, size=(40, X.shape[1])).astype(np.float64)
    yg = np.mod(Xg[:, 0], k).astype(int)
    yg[:k] = np.arange(k)  # every class in the gold sample
    names = np.asarray([f"c{i}" for i in range(k)])  # sorts like 0..k-1
    canon = _outcome(lambda: _run_campaign(k, X, sizes, batch, "gain", gold=(Xg, yg)))
    got = _outcome(lambda: _run_campaign(k, X, sizes, batch, "gain", classes=names, gold=(Xg, names[yg])))
    assert got[0] == canon[0], (got, canon)
    if got[0] == "ok":
        assert got == canon
    # string gold without classes=: refused at the door, never a reward that ties forever
    assert _outcome(lambda: _run_campaign(k, X, sizes, batch, "gain", gold=(Xg, names[yg])))[0] == "error"


@settings(max_examples=12, **SETTINGS)
@given(pools(max_n=30), st.integers(1, 5), st.booleans())
def test_modal_overlap_sampling_dtypes_and_label_types(case, n_instances, string_labels):
    pytest.importorskip("modAL")
    from modAL.models import ActiveLearner
    from sklearn.neighbors import KNeighborsClassifier

    from w2s_plugin.integrations.modal import overlap_sampling

    _, E, dtype, _ = case
    n = E.shape[0]
    y = (E[:, 0] > 0).astype(int)
    if np.unique(y).size < 2:
        y[0] = 1 - y[0]
    names = np.asarray(["neg", "pos"])

    def query(X, labels):
        learner = ActiveLearner(
            KNeighborsClassifier(1), query_strategy=overlap_sampling, X_training=E, y_training=labels
        )
        idx, scores = learner.query(X, n_instances=n_instances, embeddings=E, random_state=0)
        return np.asarray(idx).tolist(), np.asarray(scores).tolist()

    canon = _outcome(lambda: query(E, y))
    got = _outcome(lambda: query(E.astype(dtype), names[y] if string_labels else y))
    assert got[0] == canon[0], (got, canon, n)
    if got[0] == "ok":
        assert got == canon
