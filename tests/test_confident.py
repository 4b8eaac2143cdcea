"""The ``confident`` acquisition strategy: random among non-hard points, the control for ``overlap``."""

import numpy as np
import pytest

from w2s_plugin import Region, acquisition, detect_overlap


@pytest.fixture(scope="module")
def case(weak_mixture):
    pool, proba, _ = weak_mixture(600, 1000)
    return pool, proba, detect_overlap(proba, pool.X, random_state=0)


def test_confident_drops_hard_only_and_is_otherwise_random(case):
    pool, proba, report = case
    n = 300
    idx, scores = acquisition.rank("confident", report, proba, n, random_state=0)
    assert np.unique(idx).size == n and np.all(np.diff(scores) <= 0)
    assert not (report.regions[idx] == int(Region.HARD_ONLY)).any()
    # Random among non-hard points: the detected-overlap share matches the non-hard pool's share.
    nonhard = report.regions != int(Region.HARD_ONLY)
    share_pool = float(np.mean(report.regions[nonhard] == int(Region.OVERLAP)))
    shares = [
        np.mean(
            report.regions[acquisition.rank("confident", report, proba, n, random_state=s)[0]]
            == int(Region.OVERLAP)
        )
        for s in range(10)
    ]
    assert abs(np.mean(shares) - share_pool) < 0.04
    # Weak labels of the picks are far more accurate than a random sample's (hard-only ones are coin flips).
    weak = proba.argmax(1)
    acc_conf = np.mean(weak[idx] == pool.y[idx])
    ridx, _ = acquisition.rank("random", report, proba, n, random_state=0)
    assert acc_conf > np.mean(weak[ridx] == pool.y[ridx]) + 0.1
    # Seeded: same seed, same picks; another seed, other picks.
    np.testing.assert_array_equal(idx, acquisition.rank("confident", report, proba, n, random_state=0)[0])
    assert set(idx) != set(acquisition.rank("confident", report, proba, n, random_state=1)[0])


def test_confident_falls_back_to_least_hard_points_when_non_hard_run_out(case):
    pool, proba, report = case
    n_nonhard = int((report.regions != int(Region.HARD_ONLY)).sum())
    idx, _ = acquisition.rank("confident", report, proba, n_nonhard + 5, random_state=0)
    extra = idx[n_nonhard:]
    hard = np.flatnonzero(report.regions == int(Region.HARD_ONLY))
    assert set(extra) <= set(hard)
    top5 = hard[np.argsort(-report.confidence[hard], kind="stable")[:5]]
    assert set(extra) == set(top5)
