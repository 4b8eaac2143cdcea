"""Acquisition strategies, through the one code path users take: ``acquisition.rank(name, ...)``.

Quality is measured against the mixture's ground-truth regions; the classic baselines are checked
against their textbook (modAL) definitions on hand-made probabilities.
"""

import numpy as np
import pytest

from w2s_plugin import Region, acquisition, detect_overlap

N_PICK = 150


@pytest.fixture(scope="module")
def mixture_case(weak_mixture):
    pool, proba, _ = weak_mixture(600, 1000)
    report = detect_overlap(proba, pool.X, random_state=0)
    return pool, proba, report


def share(regions, idx, region):
    return float(np.mean(regions[idx] == int(region)))


def test_overlap_picks_are_mostly_true_overlap_far_above_random(mixture_case):
    pool, proba, report = mixture_case
    idx, scores = acquisition.rank("overlap", report, proba, N_PICK)
    overlap_share = share(pool.regions, idx, Region.OVERLAP)
    random_shares = [
        share(
            pool.regions, acquisition.rank("random", report, proba, N_PICK, random_state=s)[0], Region.OVERLAP
        )
        for s in range(10)
    ]
    # Measured: 0.97 for `overlap` vs 0.33 on average for `random` (the pool is one third overlap).
    assert overlap_share >= 0.9
    assert overlap_share >= 2.5 * np.mean(random_shares)
    assert np.all(np.diff(scores) <= 0), "scores come best first"
    assert share(pool.regions, idx, Region.HARD_ONLY) <= 0.02


def test_hard_only_picks_are_mostly_true_hard_only(mixture_case):
    pool, proba, report = mixture_case
    idx, scores = acquisition.rank("hard_only", report, proba, N_PICK)
    assert share(pool.regions, idx, Region.HARD_ONLY) >= 0.9  # measured 0.97
    np.testing.assert_allclose(scores, 1.0 - report.confidence[idx])


def test_overlap_then_hard_splits_by_ratio(mixture_case):
    pool, proba, report = mixture_case
    idx, _ = acquisition.rank("overlap_then_hard", report, proba, 100, ratio=0.6)
    assert idx.size == 100 and np.unique(idx).size == 100
    assert share(pool.regions, idx[:60], Region.OVERLAP) >= 0.9
    # Measured 0.875: the least confident handful are non-hard points the weak model is unsure of.
    assert share(pool.regions, idx[60:], Region.HARD_ONLY) >= 0.85
    only_o, _ = acquisition.rank("overlap_then_hard", report, proba, 100, ratio=1.0)
    np.testing.assert_array_equal(only_o, acquisition.rank("overlap", report, proba, 100)[0])
    only_h, _ = acquisition.rank("overlap_then_hard", report, proba, 100, ratio=0.0)
    np.testing.assert_array_equal(only_h, acquisition.rank("hard_only", report, proba, 100)[0])
    with pytest.raises(ValueError, match="ratio"):
        acquisition.rank("overlap_then_hard", report, proba, 10, ratio=1.5)


def test_uncertainty_baselines_agree_with_modal_definitions():
    P = np.array(
        [
            [0.90, 0.05, 0.05],  # confident
            [0.40, 0.35, 0.25],  # small margin, high entropy
            [0.50, 0.50, 0.00],  # zero margin, a zero probability (entropy must stay finite)
            [0.34, 0.33, 0.33],  # nearly uniform: least confident, max entropy
            [0.60, 0.10, 0.30],
        ]
    )
    # modAL: classifier_uncertainty = 1 - max p; classifier_margin = p_(1) - p_(2) (smallest first);
    # classifier_entropy = scipy.stats.entropy(p), natural log.
    unc = 1 - P.max(axis=1)
    srt = np.sort(P, axis=1)
    marg = srt[:, -1] - srt[:, -2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(P > 0, P * np.log(P), 0.0), axis=1)
    from scipy.stats import entropy as scipy_entropy

    np.testing.assert_allclose(ent, scipy_entropy(P, axis=1))

    idx, s = acquisition.rank("uncertainty", None, P, 5)
    assert idx.tolist() == [3, 1, 2, 4, 0]
    np.testing.assert_allclose(s, unc[idx])
    idx, s = acquisition.rank("margin", None, P, 5)
    assert idx.tolist() == [2, 3, 1, 4, 0]
    np.testing.assert_allclose(s, -marg[idx])
    idx, s = acquisition.rank("entropy", None, P, 5)
    assert idx.tolist() == np.argsort(-ent, kind="stable").tolist() == [3, 1, 4, 2, 0]
    np.testing.assert_allclose(s, ent[idx])
    # A 1-D binary vector means p(class 1): 0.5 is the most uncertain.
    idx, _ = acquisition.rank("uncertainty", None, np.array([0.9, 0.5, 0.2, 0.6]), 2)
    assert idx.tolist() == [1, 3]


def test_ties_are_broken_by_index_or_seeded_random():
    P = np.full((10, 2), 0.5)
    idx, s = acquisition.rank("uncertainty", None, P, 4)
    assert idx.tolist() == [0, 1, 2, 3] and np.all(s == 0.5)
    a, _ = acquisition.rank("uncertainty", None, P, 4, random_tie_break=True, random_state=1)
    b, _ = acquisition.rank("uncertainty", None, P, 4, random_tie_break=True, random_state=1)
    c, _ = acquisition.rank("uncertainty", None, P, 4, random_tie_break=True, random_state=2)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    # Ties at the cut: the n-th score is shared by several points; the lowest indices win.
    P2 = np.array([[0.9, 0.1], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.95, 0.05]])
    idx, _ = acquisition.rank("uncertainty", None, P2, 2)
    assert idx.tolist() == [1, 2]


def test_random_is_seeded_and_uniform(mixture_case):
    pool, proba, report = mixture_case
    a, _ = acquisition.rank("random", report, proba, 50, random_state=3)
    b, _ = acquisition.rank("random", report, proba, 50, random_state=3)
    c, _ = acquisition.rank("random", report, proba, 50, random_state=4)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    hits = np.zeros(len(report))
    for s in range(200):
        hits[acquisition.rank("random", report, proba, 90, random_state=s)[0]] += 1
    # Each point is picked with probability 90/1800 = 0.05: 10 times in 200 draws on average.
    assert abs(hits.mean() - 10.0) < 1e-9 and hits.std() < 5


def test_bad_requests_name_what_to_fix(mixture_case):
    pool, proba, report = mixture_case
    with pytest.raises(ValueError, match="asked for 5000 points but only 1800"):
        acquisition.rank("overlap", report, proba, 5000)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        acquisition.rank("overlap", report, proba, 0)
    with pytest.raises(ValueError, match=r"unknown acquisition strategy 'overlapp'; registered: .*overlap"):
        acquisition.rank("overlapp", report, proba, 5)
    with pytest.raises(ValueError, match=r"got unknown parameter\(s\) ratoi; it accepts: ratio"):
        acquisition.rank("overlap_then_hard", report, proba, 5, ratoi=0.5)
    with pytest.raises(ValueError, match="detect overlap first"):
        acquisition.rank("overlap", None, proba, 5)
    with pytest.raises(ValueError, match="report has 1800 points but proba has 10"):
        acquisition.rank("overlap", report, proba[:10], 5)
    assert set(acquisition.strategy_names()) >= {
        "overlap",
        "hard_only",
        "overlap_then_hard",
        "uncertainty",
        "margin",
        "entropy",
        "random",
    }
