"""diagnose() and `w2s diagnose`: the verdict on synthetic data where the answer is known both ways."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from w2s_plugin import OverlapDetector, Region
from w2s_plugin.cli import main as cli
from w2s_plugin.datasets import make_overlap_mixture
from w2s_plugin.diagnostics import diagnose, fisher_greater, newcombe_interval
from w2s_plugin.experiments.trust import CASES, case_proba


@pytest.fixture(scope="module")
def mixture():
    pool = make_overlap_mixture(1000, 1000, 1000, random_state=3)
    train = pool.sample(500, 500, 500, random_state=4)
    weak = LogisticRegression(max_iter=1000).fit(train.weak_view(), train.y)
    return pool, weak.predict_proba(pool.weak_view())


def test_informative_mixture_is_called_informative(mixture):
    pool, proba = mixture
    rep = diagnose(proba, pool.X, pool.y)
    assert rep.verdict == "informative"
    o, h = rep.regions[Region.OVERLAP], rep.regions[Region.HARD_ONLY]
    assert o.accuracy > 0.85 and h.accuracy < 0.6          # the paper's picture, measured on gold labels
    assert rep.gap > 0.15 and rep.gap_ci[0] > 0.10 and rep.p_value < 1e-6
    assert o.ci_low < o.accuracy < o.ci_high


@pytest.mark.parametrize("case", [CASES[2], CASES[3]])
def test_confidence_without_information_is_not_informative(mixture, case):
    pool, proba = mixture
    rep = diagnose(case_proba(case, proba, np.random.default_rng(0)), pool.X, pool.y)
    assert rep.verdict == "not informative"
    assert rep.gap_ci[1] < 0.10


def test_random_confidence_with_good_labels_shrinks_the_gap(mixture):
    # Documented in docs/results.md section 5: the representation alone still ranks reliable points,
    # so the verdict may go either way; what must hold is that the gap is far smaller than with the
    # weak model's real confidence.
    pool, proba = mixture
    real = diagnose(proba, pool.X, pool.y).gap
    for seed in range(2):
        rep = diagnose(case_proba(CASES[1], proba, np.random.default_rng(seed)), pool.X, pool.y)
        assert rep.gap < real - 0.05


def test_few_gold_labels_are_inconclusive_not_a_false_verdict(mixture):
    pool, proba = mixture
    rng = np.random.default_rng(1)
    gold = np.full(pool.y.shape, -1)
    keep = rng.choice(pool.y.size, size=30, replace=False)
    gold[keep] = pool.y[keep]
    shuffled = case_proba(CASES[2], proba, rng)
    rep = diagnose(shuffled, pool.X, gold)
    assert rep.n_gold == 30 and rep.n_points == pool.y.size
    assert rep.verdict == "inconclusive"


def test_per_source_accuracy_and_density(mixture):
    pool, proba = mixture
    # Two sources: one holds every true overlap point, the other none.
    src = np.where(pool.regions == Region.OVERLAP, "rich", "poor")
    rep = diagnose(proba, pool.X, pool.y, sources=src)
    assert set(rep.sources) == {"poor", "rich"}
    assert rep.sources["rich"].overlap_density > rep.sources["poor"].overlap_density + 0.3
    assert rep.sources["rich"].accuracy > rep.sources["poor"].accuracy
    lo, hi = rep.sources["rich"].density_ci
    assert lo <= rep.sources["rich"].overlap_density <= hi
    assert "rich" in rep.summary() and "verdict" in rep.summary()


def test_fitted_detector_thresholds_are_reused(mixture):
    pool, proba = mixture
    det = OverlapDetector(random_state=0).fit(proba, pool.X)
    rep = diagnose(proba[:600], pool.X[:600], pool.y[:600], detector=det)
    np.testing.assert_array_equal(rep.region_labels, det.predict(proba[:600], pool.X[:600]))


def test_a_campaigns_accumulating_detector_is_not_changed(mixture):
    pool, proba = mixture
    det = OverlapDetector(accumulate=True, random_state=0).fit(proba[:1500], pool.X[:1500])
    seen, thr = det.n_seen_, det.hard_threshold_
    diagnose(proba[1500:], pool.X[1500:], pool.y[1500:], detector=det)
    assert det.n_seen_ == seen and det.hard_threshold_ == thr


def test_statistics_match_known_values():
    from scipy.stats import fisher_exact

    for c1, n1, c2, n2 in [(8, 10, 1, 6), (40, 50, 30, 50), (5, 20, 15, 20), (0, 3, 3, 3)]:
        expected = fisher_exact([[c1, n1 - c1], [c2, n2 - c2]], alternative="greater").pvalue
        assert fisher_greater(c1, n1, c2, n2) == pytest.approx(expected, rel=1e-9)
    lo, hi = newcombe_interval(56, 70, 48, 80)  # Newcombe (1998) example: 0.0524 to 0.3339
    assert lo == pytest.approx(0.0524, abs=1e-3) and hi == pytest.approx(0.3339, abs=1e-3)


@pytest.mark.parametrize("gold, msg", [
    (np.zeros(5), "one entry per point"),
    (np.array(["a"] * 10), "integer class indices"),
    (np.full(10, -1), "no gold label"),
    (np.full(10, 7), "class indices >= 2"),
])
def test_bad_gold_labels_say_what_to_fix(gold, msg):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=msg):
        diagnose(rng.random(10), rng.normal(size=(10, 3)), gold)


def test_cli_diagnose_reads_files(tmp_path, mixture, capsys):
    pool, proba = mixture
    np.save(tmp_path / "p.npy", proba[:, 1])
    np.save(tmp_path / "e.npy", pool.X)
    gold = pool.y.astype(float)
    gold[::2] = np.nan
    with open(tmp_path / "gold.csv", "w") as fh:
        fh.write("label\n" + "\n".join("" if np.isnan(g) else str(int(g)) for g in gold) + "\n")
    with open(tmp_path / "src.csv", "w") as fh:
        fh.write("source\n" + "\n".join("a" if i % 3 else "b" for i in range(gold.size)) + "\n")
    rc = cli(["diagnose", "--proba", str(tmp_path / "p.npy"), "--embeddings", str(tmp_path / "e.npy"),
              "--gold", str(tmp_path / "gold.csv"), "--sources", str(tmp_path / "src.csv")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "INFORMATIVE" in out and f"{pool.y.size // 2} gold-labelled points" in out
    assert "\na " in out and "\nb " in out

    np.save(tmp_path / "shuffled.npy", case_proba(CASES[2], proba, np.random.default_rng(0)))
    rc = cli(["diagnose", "--proba", str(tmp_path / "shuffled.npy"), "--embeddings", str(tmp_path / "e.npy"),
              "--gold", str(tmp_path / "gold.csv"), "--strict", "--json"])
    assert rc == 1
    assert '"verdict": "not informative"' in capsys.readouterr().out


def test_cli_diagnose_bad_input_is_one_line(tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.random.default_rng(0).random(10))
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(10, 3)))
    with open(tmp_path / "gold.csv", "w") as fh:
        fh.write("\n".join(["0", "1", "cat"] + ["0"] * 7))
    rc = cli(["diagnose", "--proba", str(tmp_path / "p.npy"), "--embeddings", str(tmp_path / "e.npy"),
              "--gold", str(tmp_path / "gold.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "class index" in err and "Traceback" not in err
