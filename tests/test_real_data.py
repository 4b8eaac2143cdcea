"""The real-data study at reduced size, and the .rda reader on the packaged datasets.

The R datasets come from Debian's r-cran-mlbench / r-cran-kernlab (.ci/run installs them); the
tests that need them skip with that message when they are absent. Digits ships with scikit-learn.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.experiments import real_data
from benchmarks.experiments.rdata import load_data_frame

needs_r = pytest.mark.skipif(
    not real_data.available("satellite") or not real_data.available("spam"),
    reason="needs apt-get install r-cran-mlbench r-cran-kernlab",
)


@needs_r
def test_rda_reader_reads_the_packaged_data_frames():
    X, y, names = load_data_frame("mlbench", "Satellite")
    assert X.shape == (6435, 36) and names[0] == "x.1" and np.isfinite(X).all()
    assert dict(zip(*np.unique(y, return_counts=True)))["red soil"] == 1533  # the UCI class counts
    X, y, _ = load_data_frame("kernlab", "spam")
    assert X.shape == (4601, 57) and (y == "spam").sum() == 1813
    assert X[:, 56].max() == 15841  # capital run length total


def test_study_on_digits_one_seed():
    """One seed on digits (always installed): every number the report uses is there and sane."""
    r = real_data.one_seed(0, "digits")
    assert 0.8 < r["weak_acc_test"] < r["gold_strong"] and 0.9 < r["gold_strong"]
    assert set(r["point"]) == {"all", "confident", "overlap", "random"}
    assert r["point_n"]["overlap"] == r["point_n"]["random"] < r["point_n"]["confident"] < r["point_n"]["all"]
    assert r["recommendation"] in ("all", "confident", "overlap")
    q = r["sources"]["quality (one mislabelled)"]
    # The mislabelled source is the worst single source by far; gain draws little from it.
    assert q["single"]["mislabelled"] < min(v for k, v in q["single"].items() if k != "mislabelled") - 0.3
    assert q["ucb + gain"]["bad_share"] <= 0.15 and q["random"]["bad_share"] > q["ucb + gain"]["bad_share"]
    assert q["ucb + gain"]["acc"] > q["random"]["acc"]
    assert (
        r["sources"]["topic clusters"]["best single (hindsight)"]["acc"]
        < r["sources"]["topic clusters"]["random"]["acc"]
    )
