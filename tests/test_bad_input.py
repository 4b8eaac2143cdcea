"""Every user mistake gives one ValueError that says what to fix (never a numpy traceback)."""

import numpy as np
import pytest

from w2s_plugin import OverlapDetector, detect_overlap, weak_confidence

rng = np.random.default_rng(0)
P = rng.uniform(0, 1, 50)
E = rng.normal(size=(50, 6))


def check(match, proba=P, emb=E, **params):
    with pytest.raises(ValueError, match=match) as info:
        detect_overlap(proba, emb, **params)
    assert "Traceback" not in str(info.value)
    return str(info.value)


def test_nan_in_probabilities():
    p = P.copy()
    p[[3, 7]] = np.nan
    msg = check(r"proba contains NaN or inf in rows 3, 7", proba=p)
    assert "finite" in msg


def test_inf_in_embeddings():
    e = E.copy()
    e[11, 2] = np.inf
    check(r"embeddings contains NaN or inf in rows 11; clean or drop those points", emb=e)


def test_nan_in_embeddings():
    e = E.copy()
    e[0, 0] = np.nan
    check(r"embeddings contains NaN or inf in rows 0", emb=e)


def test_embeddings_one_dimensional():
    check(
        r"embeddings must be 2-D \(n_points, n_features\); got a 1-D array of length 50.*reshape", emb=E[:, 0]
    )


def test_embeddings_three_dimensional():
    check(r"embeddings must be 2-D .*got shape \(50, 3, 2\)", emb=E.reshape(50, 3, 2))


def test_probabilities_three_dimensional():
    check(r"proba must be 1-D .* or 2-D \(n, k\); got shape", proba=np.full((50, 2, 1), 0.5))


def test_probabilities_single_column():
    check(r"one column per class.*1-D array of p\(class 1\) or an \(n, 2\) matrix", proba=P[:, None])


def test_mismatched_lengths():
    check(r"embeddings has 49 rows but the probabilities have 50: pass one row per point", emb=E[:49])


def test_probabilities_outside_unit_interval():
    logits = rng.normal(size=(50, 2)) * 3
    check(r"values outside \[0, 1\] in rows .*not logits", proba=logits)


def test_probabilities_rows_not_summing_to_one():
    q = np.column_stack([P, P])
    check(r"rows 0, 1, 2, 3, 4 ... do not sum to 1.*predict_proba", proba=q)


def test_non_numeric_input():
    check(r"proba must be a numeric array", proba=["a"] * 50)


def test_empty_input():
    check(r"proba is empty: pass at least 2 point\(s\)", proba=np.zeros(0), emb=np.zeros((0, 6)))


def test_empty_embeddings_with_probabilities():
    check(r"embeddings is empty: pass at least one point", emb=np.zeros((0, 6)))


def test_single_point_fit():
    check(r"proba has 1 point\(s\); at least 2 are needed to fit thresholds", proba=P[:1], emb=E[:1])


def test_constant_embeddings():
    check(r"embeddings are constant: all 50 rows are identical.*computed per point", emb=np.ones((50, 6)))


def test_zero_vectors():
    e = E.copy()
    e[[4, 9]] = 0
    check(r"all-zero rows \(4, 9\).*cosine similarity is undefined. Drop those points", emb=e)


def test_zero_features():
    check(r"embeddings has no features", emb=np.zeros((50, 0)))


def test_unknown_threshold_rule():
    check(r"unknown threshold rule 'otsu'; registered: .*change_point", hard_threshold="otsu")


def test_bad_chunk_size():
    check(r"chunk_size must be a positive integer; got 0", chunk_size=0)


def test_bad_scorer_params():
    check(
        r"subspace scorer: variance must be in \(0, 1\]; got 2",
        scorer="subspace",
        scorer_params={"variance": 2},
    )


def test_predict_before_fit():
    with pytest.raises(ValueError, match=r"not fitted yet: call fit\(proba, embeddings\) first"):
        OverlapDetector().predict(P, E)


def test_wrong_n_features_at_predict():
    det = OverlapDetector().fit(P, E)
    with pytest.raises(ValueError, match=r"embeddings have 5 features; the detector was fitted on 6"):
        det.predict(P, E[:, :5])


def test_accumulate_with_changed_features():
    det = OverlapDetector(accumulate=True).fit(P, E)
    with pytest.raises(ValueError, match=r"embeddings have 5 features but earlier batches had 6"):
        det.fit(P, E[:, :5])


def test_weak_confidence_rejects_bad_probabilities_too():
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        weak_confidence([0.2, 1.4])
