"""diagnose weighs the gold labels the user holds: on packaged real data (Debian r-cran-mlbench) with
a weak labeler trained on a separate labelled split, it recommends gold (or gold plus a sliver of
weak labels) where weak labels do not pay and gold plus weak labels where they do, within a point
of the best of the seven candidates on the test split (docs/diagnostics.md has the 8-seed table)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from benchmarks.experiments import gold_decision, real_data

pytestmark = pytest.mark.skipif(not real_data.available("dna"), reason="needs Debian r-cran-mlbench")

POOL = 1500  # a small slice of each table keeps this test at about half a minute


def _runs(dataset, seeds):
    data = gold_decision.load(dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [gold_decision.one_seed(dataset, s, data, pool_size=POOL) for s in seeds]


def test_letters_weak_labels_do_not_pay_and_the_advice_says_so():
    runs = _runs("letter", (0, 2))
    for r in runs:
        t = r["truth"]
        assert t["gold"] > max(t["all"], t["confident"], t["overlap"]) + 0.3  # weak labels ~10% right
        rec = r["recommendation"]
        # gold alone, or gold plus the few confident/overlap weak labels: as good as gold alone
        assert rec in ("gold", "gold+confident", "gold+overlap"), rec
        assert abs(t[rec] - t["gold"]) <= 0.01
    assert np.mean([r["loss"] for r in runs]) <= 0.01
    gold_runs = [r for r in runs if r["recommendation"] == "gold"]
    assert gold_runs  # measured: seed 2
    for r in gold_runs:
        line = r["first_line"]
        assert line.startswith("WEAK LABELS DO NOT PAY ON THIS DATA") and "points" in line


def test_dna_gold_plus_weak_labels_wins_and_is_recommended():
    runs = _runs("dna", (0, 1))
    for r in runs:
        t = r["truth"]
        assert t["gold+confident"] > t["gold"] + 0.01 and t["gold+confident"] > t["all"] + 0.01
        assert r["recommendation"].startswith("gold+")
        assert not r["first_line"].startswith("WEAK LABELS DO NOT PAY")
    assert np.mean([r["loss"] for r in runs]) <= 0.01
