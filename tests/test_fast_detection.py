"""The fast detection path (the default) against the exact one (exact=True), the error bound it relies on,
and memory-mapped pools (detect_overlap and `w2s detect`) against the same pool in memory."""

import csv

import numpy as np
import pytest

from w2s_plugin import OverlapDetector, Region, detect_overlap
from w2s_plugin.cli import main
from w2s_plugin.hooks.scorers import RMSCosineScorer
from w2s_plugin.overlap import (
    RowCheck,
    _mmap_release,
    banded_factor,
    cholesky_factor,
    gram_fast,
    gram_matrix,
    quadratic_scores,
    rms_cosine_factor,
    subspace_scores,
)


def pool(n, d, share, spectrum, seed=0):
    """Features and p(class 1) whose hard-only share is `share` (the benchmark's construction, smaller)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    if spectrum == "powerlaw":
        Q = np.linalg.qr(rng.standard_normal((d, d)))[0]
        X = ((X * np.arange(1, d + 1) ** -0.5) @ Q).astype(np.float32)
    w = rng.standard_normal(d)
    z = X @ (w / np.linalg.norm(w))
    z += rng.standard_normal(n) * 0.3 * z.std()
    u = np.empty(n)
    u[np.argsort(np.abs(z), kind="stable")] = (np.arange(n) + 0.5) / n
    conf = np.where(u < share, 0.2 * u / share, 0.5 + 0.5 * (u - share) / (1 - share))
    return X, 0.5 + np.sign(z) * conf / 2


@pytest.mark.parametrize("spectrum", ["isotropic", "powerlaw"])
@pytest.mark.parametrize("share", [0.1, 0.4, 0.7])
def test_fast_path_agrees_with_the_exact_path(spectrum, share, monkeypatch):
    monkeypatch.setattr(RMSCosineScorer, "MIN_ROWS_FOR_SHORTCUTS", 0)  # exercise them at this size
    X, p1 = pool(30_000, 128, share, spectrum)
    exact = detect_overlap(p1, X, exact=True, random_state=0)
    # a small sample so that the split-half test is exercised at this size
    det = OverlapDetector(random_state=0, scorer_params={"sample": 3000}).fit(p1, X)
    fast = det.report_
    assert abs(exact.counts[Region.HARD_ONLY] / X.shape[0] - share) < 0.01
    assert fast.hard_threshold == exact.hard_threshold
    assert np.mean(fast.regions == exact.regions) >= 0.995
    assert abs(fast.overlap_threshold - exact.overlap_threshold) < 5e-3
    sc = det.scorer_
    if spectrum == "isotropic":  # scores are close together: neither the sample nor a low rank may be used
        assert not sc.sampled_ and sc.triangular_


def test_fast_path_takes_its_shortcuts_where_the_pilot_allows_them(monkeypatch):
    monkeypatch.setattr(RMSCosineScorer, "MIN_ROWS_FOR_SHORTCUTS", 0)
    X, p1 = pool(60_000, 128, 0.7, "powerlaw")
    params = {"sample": 20_000, "max_disagreement": 0.004}  # looser than the default, to pass at this size
    det = OverlapDetector(random_state=0, scorer_params=params).fit(p1, X)
    sc = det.scorer_
    assert sc.sampled_ and sc.split_disagreement_ <= 2 * sc.max_disagreement
    assert sc.n_reference_ == 40_000 < sc.n_hard_rows_
    assert not sc.triangular_ and sc.basis_.shape[1] < 128 and sc.pilot_disagreement_ <= sc.max_disagreement
    exact = detect_overlap(p1, X, exact=True)
    # each shortcut keeps its pilot disagreement below max_disagreement, so together about twice that
    assert np.mean(det.report_.regions == exact.regions) >= 1 - 2 * sc.max_disagreement


def test_a_refused_sample_is_doubled_and_rechecked_before_the_exact_gram(monkeypatch):
    """The split-half test refuses 2 x 3 000 rows here; doubling twice (2 x 12 000 of 42 000 hard-only rows)
    passes it, and the regions still agree with the exact path. Without doublings the Gram is exact."""
    monkeypatch.setattr(RMSCosineScorer, "MIN_ROWS_FOR_SHORTCUTS", 0)
    X, p1 = pool(60_000, 128, 0.7, "powerlaw")
    params = {"sample": 3000, "max_disagreement": 0.004}
    exact = detect_overlap(p1, X, exact=True)
    det = OverlapDetector(random_state=0, scorer_params=params).fit(p1, X)
    sc = det.scorer_
    limit = 2 * sc.max_disagreement
    assert len(sc.split_checks_) == 3 and all(c > limit for c in sc.split_checks_[:-1])
    assert sc.sampled_ and sc.split_disagreement_ == sc.split_checks_[-1] <= limit
    assert sc.n_reference_ == 2 * 4 * 3000 < sc.n_hard_rows_ == 42_000
    assert np.mean(det.report_.regions == exact.regions) >= 1 - limit
    monkeypatch.setattr(RMSCosineScorer, "MAX_SAMPLE_DOUBLINGS", 0)
    sc0 = OverlapDetector(random_state=0, scorer_params=params).fit(p1, X).scorer_
    assert sc0.split_checks_ == sc.split_checks_[:1] and not sc0.sampled_
    assert sc0.n_reference_ == sc0.n_hard_rows_


def test_few_features_or_points_take_the_exact_cholesky_path_without_a_pilot(monkeypatch):
    X, p1 = pool(30_000, 128, 0.7, "powerlaw")  # 9 000 points to score: below MIN_ROWS_FOR_SHORTCUTS
    sc = OverlapDetector(random_state=0, scorer_params={"sample": 3000}).fit(p1, X).scorer_
    assert sc.triangular_ and not sc.sampled_ and sc.n_reference_ == sc.n_hard_rows_
    monkeypatch.setattr(RMSCosineScorer, "MIN_ROWS_FOR_SHORTCUTS", 0)
    X, p1 = pool(30_000, 64, 0.7, "powerlaw")
    sc = OverlapDetector(random_state=0, scorer_params={"sample": 3000}).fit(p1, X).scorer_
    assert sc.triangular_ and not sc.sampled_ and sc.n_reference_ == sc.n_hard_rows_


def test_gram_fast_equals_gram_matrix_and_cholesky_scores_are_exact():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5000, 40)).astype(np.float32)
    rows = rng.random(5000) < 0.3
    G0, n0 = gram_matrix(X, rows)
    G1, n1 = gram_fast(X, rows, chunk_rows=700)
    assert n0 == n1 == rows.sum()
    np.testing.assert_allclose(G1, G0, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(G1, G1.T)
    U = X[rows] / np.linalg.norm(X[rows], axis=1, keepdims=True)
    want = np.sqrt(
        np.mean((X[~rows].astype(np.float64) @ U.T.astype(np.float64)) ** 2, axis=1)
        / np.sum(X[~rows].astype(np.float64) ** 2, axis=1)
    )
    L = cholesky_factor(G1, n1)
    got = quadratic_scores(X, L, 0.0, True, chunk_rows=333, rows=~rows)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    old = subspace_scores(X, rms_cosine_factor(G0, n0), rows=~rows)
    np.testing.assert_allclose(got, old, rtol=1e-3)


@pytest.mark.parametrize("rank", [1, 4, 16, 39])
def test_banded_factor_error_bound_holds_for_every_point(rank):
    """The bound the fast path relies on: |approximate - exact| squared score <= bound_, for any point."""
    rng = np.random.default_rng(2)
    d = 40
    H = (rng.standard_normal((3000, d)) * np.arange(1, d + 1) ** -0.7).astype(np.float32)
    G, n = gram_matrix(H)
    C = G / n
    F, shift, bound = banded_factor(G, n, rank)
    w = np.linalg.eigvalsh(C)
    assert bound == pytest.approx((w[d - rank - 1] - w[0]) / 2, rel=1e-6, abs=1e-12)
    x = rng.standard_normal((20_000, d))
    x[:d] = np.linalg.eigh(C)[1].T  # the eigenvectors themselves: the worst cases
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    exact = np.einsum("ij,jk,ik->i", x, C, x)
    approx = shift + np.sum((x @ F) ** 2, axis=1)
    assert np.max(np.abs(approx - exact)) <= bound + 1e-9
    assert np.max(np.abs(approx - exact)) >= 0.5 * bound  # attained (up to float error) on the band's ends


def test_fused_validation_reports_bad_rows_as_before(monkeypatch):
    monkeypatch.setattr(RMSCosineScorer, "MIN_ROWS_FOR_SHORTCUTS", 0)  # unread hard rows: the norms-only pass
    X, p1 = pool(20_000, 128, 0.7, "powerlaw")
    hard = detect_overlap(p1, X, exact=True).mask(Region.HARD_ONLY)
    i = int(np.flatnonzero(hard)[-1])  # with sample=500 most hard rows are only validated, not used
    for bad, match in ((np.nan, "contains NaN or inf in rows"), (0.0, "all-zero rows")):
        E = X.copy()
        E[i] = bad
        with pytest.raises(ValueError, match=match + rf".*{i}"):
            detect_overlap(p1, E, scorer_params={"sample": 500})
    with pytest.raises(ValueError, match="embeddings are constant"):
        detect_overlap(p1, np.ones_like(X))
    chk = RowCheck(X)
    chk(np.ones(5))
    with pytest.raises(ValueError):  # rows no pass has read are checked in full: a NaN there is found
        E = X.copy()
        E[7, 0] = np.inf
        RowCheck(E).finish()


@pytest.mark.parametrize("exact", [False, True])
def test_memory_mapped_pool_gives_the_in_memory_result(tmp_path, exact, monkeypatch):
    monkeypatch.setattr(RMSCosineScorer, "MIN_ROWS_FOR_SHORTCUTS", 0)  # the sample and pilot read the map too
    X, p1 = pool(30_000, 128, 0.6, "powerlaw")
    np.save(tmp_path / "e.npy", X)
    M = np.load(tmp_path / "e.npy", mmap_mode="r")
    assert _mmap_release(M) is not None  # pages are dropped from the resident set as the passes go
    params = dict(random_state=3, exact=exact, scorer_params=None if exact else {"sample": 3000})
    a = detect_overlap(p1, X, **params)
    b = detect_overlap(p1, M, **params)
    np.testing.assert_array_equal(a.regions, b.regions)
    assert (a.hard_threshold, a.overlap_threshold) == (b.hard_threshold, b.overlap_threshold)
    np.testing.assert_array_equal(a.overlap_score, b.overlap_score)


def test_w2s_detect_on_npy_files_matches_detect_overlap(tmp_path, capsys):
    X, p1 = pool(20_000, 24, 0.5, "isotropic")
    np.save(tmp_path / "e.npy", X)
    np.save(tmp_path / "p.npy", p1)
    out = tmp_path / "r.csv"
    assert (
        main(
            [
                "detect",
                "--proba",
                str(tmp_path / "p.npy"),
                "--embeddings",
                str(tmp_path / "e.npy"),
                "--seed",
                "0",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with open(out, encoding="utf-8") as fh:
        got = [row["region"] for row in csv.DictReader(fh)]
    want = detect_overlap(p1, X, random_state=0).regions
    assert got == [Region(int(r)).name.lower() for r in want]
    assert "overlap detection" in capsys.readouterr().out
