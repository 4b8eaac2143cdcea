"""The math of detection: confidence, the exact L2 change point, and the scores, against brute force."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from w2s_plugin import change_point_threshold, weak_confidence
from w2s_plugin.hooks.thresholds import change_point_grid
from w2s_plugin.overlap import (
    change_point_index,
    gram_matrix,
    iter_row_blocks,
    max_abs_cosine,
    rms_cosine_factor,
    split_cost,
    subspace_basis,
    subspace_scores,
)


def brute_force_split(v):
    """Every split k in 1..n-1 of the sorted values, scored by the summed within-segment squared error."""
    v = np.sort(np.asarray(v, dtype=np.float64))
    costs = [split_cost(v, k) for k in range(1, v.size)]
    return int(np.argmin(costs)) + 1, float(min(costs))


values = arrays(
    np.float64,
    st.integers(2, 60),
    elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32),
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_change_point_index_matches_brute_force(v):
    s = np.sort(v)
    k = change_point_index(s)
    if s[0] == s[-1]:
        assert k is None  # documented: constant values have no split
        return
    _, best = brute_force_split(s)
    # same objective value as the best of all n-1 splits (ties between positions are allowed) ...
    assert split_cost(s, k) <= best + 1e-9 * max(1.0, abs(best)) + 1e-9
    # ... and never a split between equal values
    assert s[k - 1] < s[k]


@settings(max_examples=300, deadline=None)
@given(values)
def test_change_point_threshold_gives_the_brute_force_regions(v):
    s = np.sort(v)
    thr = change_point_threshold(v)
    lower = v < thr
    if s[0] == s[-1]:
        assert thr == s[0] and not lower.any()
        return
    k_bf, best = brute_force_split(s)
    # the regions the threshold induces are an optimal split of the data
    assert 0 < lower.sum() < v.size
    assert split_cost(s, int(lower.sum())) <= best + 1e-9 * max(1.0, abs(best)) + 1e-9
    # and a unique optimum is found exactly
    costs = np.array([split_cost(s, k) for k in range(1, s.size)])
    if np.sum(costs <= best + 1e-9 * max(1.0, abs(best))) == 1:
        assert int(lower.sum()) == k_bf


@settings(max_examples=100, deadline=None)
@given(values, st.integers(1, 5))
def test_min_size_restricts_the_search(v, m):
    s = np.sort(v)
    k = change_point_index(s, min_size=m)
    cand = [j for j in range(m, s.size - m + 1) if s[j - 1] < s[j]]
    if not cand:
        assert k is None
        return
    best = min(split_cost(s, j) for j in cand)
    assert k in cand and split_cost(s, k) <= best + 1e-9 * max(1.0, abs(best)) + 1e-9


def test_change_point_is_shift_and_scale_invariant_far_from_zero():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0, 1, 300), rng.normal(5, 1, 200)])
    base = (v < change_point_threshold(v)).sum()
    assert (v * 1e-6 + 1e6 < change_point_threshold(v * 1e-6 + 1e6)).sum() == base


def test_grid_change_point_is_the_best_split_on_multiples_of_five():
    rng = np.random.default_rng(1)
    v = np.concatenate([rng.normal(0, 1, 123), rng.normal(4, 1, 77)])
    s = np.sort(v)
    thr = change_point_grid(v)
    k = int((v < thr).sum())
    assert k % 5 == 0
    grid = range(5, s.size, 5)
    assert split_cost(s, k) == pytest.approx(min(split_cost(s, j) for j in grid))
    # the exact split is never worse
    assert split_cost(s, int((v < change_point_threshold(v)).sum())) <= split_cost(s, k) + 1e-12


@pytest.mark.parametrize(
    "values, expected",
    [
        ([], "nan"),  # empty: no threshold
        ([0.3], 0.3),  # one value: no split, every point on the upper side
        ([0.2, 0.2, 0.2], 0.2),  # constant: no split
        ([0.1, 0.9], 0.5),  # two distinct values: midpoint
    ],
)
def test_degenerate_inputs_follow_the_documented_rule(values, expected):
    thr = change_point_threshold(values)
    if expected == "nan":
        assert np.isnan(thr)
    else:
        assert thr == pytest.approx(expected)
        assert not (np.asarray(values) < thr).all()


def test_change_point_rejects_nan():
    with pytest.raises(ValueError, match="NaN or inf"):
        change_point_threshold([0.1, np.nan, 0.3])


# --- weak confidence ---------------------------------------------------------------------------


def test_binary_confidence_vector_and_matrix_agree():
    p = np.array([0.0, 0.1, 0.5, 0.75, 1.0])
    expected = 2 * np.abs(p - 0.5)
    np.testing.assert_allclose(weak_confidence(p), expected)
    np.testing.assert_allclose(weak_confidence(np.column_stack([1 - p, p])), expected)


def test_multiclass_confidence_is_top1_minus_top2():
    P = np.array([[0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.05, 0.9, 0.05]])
    np.testing.assert_allclose(weak_confidence(P), [0.5, 0.1, 0.0, 0.85], atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(0, 1)))
def test_margin_equals_binary_formula_for_two_classes(p):
    P = np.column_stack([1 - p, p])
    np.testing.assert_allclose(weak_confidence(P), 2 * np.abs(p - 0.5), atol=1e-12)


# --- scores ------------------------------------------------------------------------------------


def _unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_max_abs_cosine_equals_the_full_matrix_and_streams_in_chunks():
    rng = np.random.default_rng(2)
    X, H = rng.normal(size=(257, 9)), rng.normal(size=(31, 9))
    full = np.abs(_unit(X) @ _unit(H).T).max(axis=1)
    np.testing.assert_allclose(max_abs_cosine(X, H, chunk_elements=31 * 7), full, rtol=1e-12)
    rows = rng.random(257) < 0.4
    np.testing.assert_allclose(max_abs_cosine(X, H, chunk_elements=50, rows=rows), full[rows], rtol=1e-12)


def test_rms_cosine_is_the_quadratic_mean_of_cosines():
    rng = np.random.default_rng(3)
    X, H = rng.normal(size=(200, 12)), rng.normal(size=(60, 12)) * rng.uniform(0.1, 5, (60, 1))
    G, n = gram_matrix(H, chunk_rows=7)
    L = rms_cosine_factor(G, n, tol=0.0)
    direct = np.sqrt(((_unit(X) @ _unit(H).T) ** 2).mean(axis=1))
    np.testing.assert_allclose(subspace_scores(X, L, chunk_rows=13), direct, rtol=1e-10)
    # dropping weak directions changes every squared score by at most tol
    L2 = rms_cosine_factor(G, n, tol=0.05)
    assert L2.shape[1] < L.shape[1]
    assert np.max(np.abs(subspace_scores(X, L2) ** 2 - direct**2)) <= 0.05 + 1e-12


def test_subspace_scores_are_projection_norms_and_float32_matches_float64():
    rng = np.random.default_rng(4)
    H = np.column_stack([rng.normal(size=(100, 3)), np.zeros((100, 5))])  # spans the first 3 axes
    B = subspace_basis(gram_matrix(H)[0], variance=0.999)
    assert B.shape == (8, 3)
    X = rng.normal(size=(50, 8))
    expected = np.linalg.norm(_unit(X)[:, :3], axis=1)
    np.testing.assert_allclose(subspace_scores(X, B), expected, rtol=1e-10)
    np.testing.assert_allclose(subspace_scores(X.astype(np.float32), B), expected, rtol=1e-5)


def test_row_blocks_cover_a_mask_an_index_and_unsorted_indices():
    X = np.arange(40.0).reshape(20, 2)
    for rows in (None, np.arange(20) % 3 == 0, np.array([1, 2, 3, 10, 19]), np.array([5, 1, 5])):
        got = np.empty((0, 2))
        for _pos, block in iter_row_blocks(X, rows, chunk_rows=4):
            assert block.shape[0] <= 4
            got = np.vstack([got, block])
        want = X if rows is None else X[rows]
        np.testing.assert_array_equal(got, want)
