"""diagnose() and `w2s diagnose`: the verdict on synthetic data where the answer is known both ways."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.experiments.trust import CASES, case_proba
from w2s_plugin import OverlapDetector, Region
from w2s_plugin.cli import main as cli
from w2s_plugin.diagnostics import diagnose, fisher_greater, newcombe_interval
from w2s_plugin.errors import DataError, W2SError


@pytest.fixture(scope="module")
def mixture(weak_mixture):
    pool, proba, _ = weak_mixture(1000, 500, seed=3, train_seed=4)
    return pool, proba


def test_informative_mixture_is_called_informative(mixture):
    pool, proba = mixture
    rep = diagnose(proba, pool.X, pool.y)
    assert rep.verdict == "informative"
    o, h = rep.regions[Region.OVERLAP], rep.regions[Region.HARD_ONLY]
    assert o.accuracy > 0.85 and h.accuracy < 0.6  # the paper's picture, measured on gold labels
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


@pytest.mark.parametrize(
    "gold, msg",
    [
        (np.zeros(5), "one entry per point"),
        (np.array(["a"] * 10), "integer class indices"),
        (np.full(10, -1), "no gold label"),
        (np.full(10, 7), "class indices >= 2"),
    ],
)
def test_bad_gold_labels_say_what_to_fix(gold, msg):
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match=msg):
        diagnose(rng.random(10), rng.normal(size=(10, 3)), gold)


def test_cli_diagnose_reads_files(tmp_path, diagnose_cli, mixture, capsys):
    pool, proba = mixture
    gold = pool.y.astype(float)
    gold[::2] = np.nan
    with open(tmp_path / "gold.csv", "w") as fh:
        fh.write("label\n" + "\n".join("" if np.isnan(g) else str(int(g)) for g in gold) + "\n")
    with open(tmp_path / "src.csv", "w") as fh:
        fh.write("source\n" + "\n".join("a" if i % 3 else "b" for i in range(gold.size)) + "\n")
    rc = diagnose_cli(proba[:, 1], pool.X, tmp_path / "gold.csv", "--sources", str(tmp_path / "src.csv"))
    out = capsys.readouterr().out
    assert rc == 0
    # The verdict is informative; its headline says so in words that fit the decision (with half
    # the pool gold-labelled, gold labels alone may win, and then the headline must not contradict it).
    assert ("INFORMATIVE" in out or "(the test says informative" in out) and "ONLY" not in out
    assert f"{pool.y.size // 2} gold-labelled points" in out
    assert "\na " in out and "\nb " in out

    shuffled = case_proba(CASES[2], proba, np.random.default_rng(0))
    rc = diagnose_cli(shuffled, pool.X, tmp_path / "gold.csv", "--strict", "--json")
    assert rc == 1
    assert '"verdict": "not informative"' in capsys.readouterr().out


def test_cli_diagnose_bad_input_is_one_line(tmp_path, diagnose_cli, capsys):
    with open(tmp_path / "gold.csv", "w") as fh:
        fh.write("\n".join(["0", "1", "cat"] + ["0"] * 7))
    p, e = np.random.default_rng(0).random(10), np.random.default_rng(0).normal(size=(10, 3))
    rc = diagnose_cli(p, e, tmp_path / "gold.csv")
    err = capsys.readouterr().err
    assert rc == 2 and "class index" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "kwargs, error, msg",
    [
        ({"alpha": 1.5}, W2SError, r"alpha must be in \(0, 1\)"),
        ({"min_gap": -0.1}, W2SError, r"min_gap must be in \[0, 1\)"),
        ({"sources": np.array(["a"] * 9)}, DataError, "one source name per point"),
        ({"regions": np.full(10, 5)}, DataError, "Region values"),
        ({"detector": "overlap"}, W2SError, "must be an OverlapDetector"),
    ],
)
def test_bad_diagnose_arguments_are_w2s_errors(kwargs, error, msg):
    rng = np.random.default_rng(0)
    with pytest.raises(error, match=msg):
        diagnose(rng.random(10), rng.normal(size=(10, 3)), np.tile([0, 1], 5), policies=False, **kwargs)


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--alpha", "2"], "alpha must be in (0, 1)"),
        (["--min-gap", "1"], "min_gap must be in [0, 1)"),
    ],
)
def test_cli_diagnose_bad_options_are_one_line(tmp_path, capsys, argv, msg):
    rc, cap = _run_cli(tmp_path, *_tiny_pool(), "\n".join(["0", "1"] * 5) + "\n", capsys, extra=argv)
    assert rc == 2 and msg in cap.err and "Traceback" not in cap.err
    assert len(cap.err.strip().splitlines()) == 1


def test_cli_diagnose_gold_class_beyond_proba_columns_is_one_line(tmp_path, capsys):
    rc, cap = _run_cli(tmp_path, *_tiny_pool(), "\n".join(["0", "3"] * 5) + "\n", capsys)
    assert rc == 2 and "class indices >= 2" in cap.err and "Traceback" not in cap.err


def _tiny_pool():
    """Ten points: binary probabilities and 3-d embeddings (seed 0), for the CLI's input checks."""
    rng = np.random.default_rng(0)
    p = rng.random(10)
    return np.column_stack([1 - p, p]), rng.normal(size=(10, 3))


# --- regressions from a new-user trial -----------------------------------------------------------


def _half_gold(y, dtype=float):
    gold = np.asarray(y, dtype=dtype).copy()
    gold[::2] = -1
    return gold


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.float32])
def test_minus_one_means_no_gold_label_whatever_the_dtype(mixture, dtype):
    # Labels read from a CSV are floats; -1.0 used to count as a (always wrong) gold label.
    pool, proba = mixture
    ref = diagnose(proba, pool.X, _half_gold(pool.y, np.int64))
    rep = diagnose(proba, pool.X, _half_gold(pool.y, dtype))
    assert rep.n_gold == pool.y.size // 2 == ref.n_gold
    for r in ref.regions:
        assert (rep.regions[r].n, rep.regions[r].correct) == (ref.regions[r].n, ref.regions[r].correct)
    assert rep.gap == pytest.approx(ref.gap) and rep.verdict == ref.verdict == "informative"


@pytest.mark.parametrize(
    "bad, rows",
    [
        ({3: -2.0}, "3"),
        ({2: 0.5, 7: 1.5}, "2, 7"),
        ({4: np.inf}, "4"),
        ({1: -0.5}, "1"),
    ],
)
def test_negative_or_fractional_float_labels_name_the_rows(bad, rows):
    rng = np.random.default_rng(0)
    gold = np.zeros(10)
    for i, v in bad.items():
        gold[i] = v
    with pytest.raises(ValueError, match=rf"rows? {rows}\b"):
        diagnose(rng.random(10), rng.normal(size=(10, 3)), gold)


def test_negative_integer_labels_other_than_minus_one_are_rejected():
    rng = np.random.default_rng(0)
    gold = np.zeros(10, dtype=int)
    gold[6] = -3
    with pytest.raises(ValueError, match=r"row 6\b"):
        diagnose(rng.random(10), rng.normal(size=(10, 3)), gold)


def _run_cli(tmp_path, proba, X, gold_text, capsys, extra=()):
    np.save(tmp_path / "p.npy", proba[:, 1])
    np.save(tmp_path / "e.npy", X)
    (tmp_path / "gold.csv").write_bytes(gold_text.encode())
    rc = cli(
        [
            "diagnose",
            "--proba",
            str(tmp_path / "p.npy"),
            "--embeddings",
            str(tmp_path / "e.npy"),
            "--gold",
            str(tmp_path / "gold.csv"),
            "--json",
            *extra,
        ]
    )
    return rc, capsys.readouterr()


@pytest.mark.parametrize("header", ["label\n", ""])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_cli_gold_csv_with_empty_last_rows(tmp_path, mixture, capsys, header, newline):
    # The last rows have no gold label: their empty cells must count as rows, not be stripped.
    import json

    pool, proba = mixture
    gold = pool.y.astype(float)
    gold[::2] = np.nan
    gold[-5:] = np.nan
    cells = ["" if np.isnan(g) else str(int(g)) for g in gold]
    rc, cap = _run_cli(tmp_path, proba, pool.X, header + newline.join(cells) + newline, capsys)
    assert rc == 0, cap.err
    rep = json.loads(cap.out)
    assert rep["n_points"] == pool.y.size and rep["n_gold"] == int(np.isfinite(gold).sum())
    assert rep["verdict"] == "informative"


def test_cli_gold_csv_written_by_csv_module_and_as_floats(tmp_path, mixture, capsys):
    # csv.writer quotes a lone empty cell (""), pandas writes labels as 1.0 and missing as -1.0 or "".
    import csv
    import io
    import json

    pool, proba = mixture
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["gold"])
    for i, g in enumerate(pool.y):
        w.writerow([""] if i % 3 == 0 else ["-1.0"] if i % 3 == 1 else [f"{float(g)}"])
    rc, cap = _run_cli(tmp_path, proba, pool.X, buf.getvalue(), capsys)
    assert rc == 0, cap.err
    rep = json.loads(cap.out)
    assert rep["n_gold"] == len(range(2, pool.y.size, 3)) and rep["n_points"] == pool.y.size


def test_cli_gold_csv_extra_trailing_blank_line_is_tolerated_but_short_file_is_not(tmp_path, mixture, capsys):
    pool, proba = mixture
    cells = [str(int(g)) for g in pool.y]
    rc, cap = _run_cli(tmp_path, proba, pool.X, "\n".join(cells) + "\n\n", capsys)
    assert rc == 0, cap.err
    rc, cap = _run_cli(tmp_path, proba, pool.X, "\n".join(cells[:-3]) + "\n", capsys)
    assert rc == 2 and f"{pool.y.size - 3} rows" in cap.err and f"{pool.y.size} points" in cap.err
    assert "Traceback" not in cap.err


def test_cli_gold_csv_bad_cells_name_their_lines(tmp_path, mixture, capsys):
    pool, proba = mixture
    cells = [str(int(g)) for g in pool.y]
    cells[4], cells[9] = "-2", "0.5"
    rc, cap = _run_cli(tmp_path, proba, pool.X, "label\n" + "\n".join(cells) + "\n", capsys)
    assert rc == 2 and "lines 6, 11" in cap.err and "Traceback" not in cap.err
    cells[4], cells[9] = "cat", "1"
    rc, cap = _run_cli(tmp_path, proba, pool.X, "label\n" + "\n".join(cells) + "\n", capsys)
    assert rc == 2 and "line 6" in cap.err and "class index" in cap.err
    rc, cap = _run_cli(tmp_path, proba, pool.X, "label\n" + "\n".join(c + ",x" for c in cells) + "\n", capsys)
    assert rc == 2 and "one column" in cap.err


def test_cli_gold_npy_floats_with_minus_one(diagnose_cli, mixture, capsys):
    import json

    pool, proba = mixture
    rc = diagnose_cli(proba[:, 1], pool.X, _half_gold(pool.y, float), "--json")
    assert rc == 0 and json.loads(capsys.readouterr().out)["n_gold"] == pool.y.size // 2


def test_cli_sources_csv_with_header_and_trailing_newlines(tmp_path, diagnose_cli, mixture, capsys):
    pool, proba = mixture
    names = ["a" if i % 3 else "b" for i in range(pool.y.size)]
    for text in ["origin\n" + "\n".join(names) + "\n\n", "\r\n".join(names)]:
        (tmp_path / "s.csv").write_text(text)
        rc = diagnose_cli(proba[:, 1], pool.X, pool.y, "--sources", str(tmp_path / "s.csv"))
        out = capsys.readouterr().out
        assert rc == 0 and "\na " in out and "\nb " in out and "origin" not in out


def test_verdict_speaks_of_percentage_points(mixture):
    pool, proba = mixture
    rep = diagnose(proba, pool.X, pool.y)
    o, r = rep.regions[Region.OVERLAP], rep.rest
    assert f"{100 * rep.gap:.1f} percentage points more accurate" in rep.reason
    assert f"({o.accuracy:.3f} vs {r.accuracy:.3f}" in rep.reason
    assert "%" not in rep.reason
    shuffled = diagnose(case_proba(CASES[2], proba, np.random.default_rng(0)), pool.X, pool.y)
    assert shuffled.verdict == "not informative" and "10 percentage points" in shuffled.reason
