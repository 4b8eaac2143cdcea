"""Each experiment of docs/results.md at reduced size: the direction of every effect the report states.

The report's sentences are generated from the same numbers (benchmarks/experiments/report.py);
these tests pin the claims themselves, so a change that breaks one fails here, not silently in the docs.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from benchmarks.experiments import (
    EXPERIMENTS,
    detection_quality,
    digits,
    real_data,
    source_selection,
    synthetic_table,
    trust,
)
from benchmarks.experiments._common import mean_ci

pytestmark = pytest.mark.slow


def _small_run(name: str, module):
    """A module-scoped fixture ``name``: the experiment at reduced size (seed 0), run once per module."""

    @pytest.fixture(scope="module", name=name)
    def run():
        return module.run(size="small", progress=False)

    return run


synth = _small_run("synth", synthetic_table)
detection = _small_run("detection", detection_quality)
selection = _small_run("selection", source_selection)
digit = _small_run("digit", digits)
trusted = _small_run("trusted", trust)
real = _small_run("real", real_data)


@pytest.fixture(scope="module")
def hybrid():
    from benchmarks.experiments import hybrid_study

    return hybrid_study.run(size="small", progress=False)


# -- 1. synthetic table ------------------------------------------------------------------------------
def test_synthetic_table_matches_the_paper(synth):
    s = synth["summary"]
    for m, paper in synthetic_table.PAPER.items():
        for key in ("weak", "strong", "w2s", "w2s_hard"):
            assert abs(s[m][key][0] - paper[key]) < 0.05, (m, key, s[m][key][0], paper[key])


def test_w2s_on_hard_only_rises_with_overlap_while_weak_stays_at_chance(synth):
    s = synth["summary"]
    gain, half = synth["gain_hard_50_vs_10"]
    assert gain - half > 0.05
    assert synth["slope_w2s_hard"] > 0
    for m in synthetic_table.OVERLAP_COUNTS:
        assert abs(s[m]["weak_hard"][0] - 0.5) < 0.04


def test_whole_set_training_barely_moves_on_hard_only(synth):
    s = synth["summary"]
    whole = s[50]["w2s_all_hard"][0] - s[10]["w2s_all_hard"][0]
    assert abs(whole) < 0.03
    assert synth["gain_hard_50_vs_10"][0] > whole + 0.08


# -- 2. detection quality ---------------------------------------------------------------------------
def _f1(res, k, absent, scorer):
    from w2s_plugin import Region

    cell = res["cells"][(k, absent, detection_quality.PAPER_NOISE, detection_quality.PAPER_DENSITY)]
    return cell[scorer][Region.OVERLAP]["f1"][0]


def test_gram_scorers_beat_the_papers_max_cosine(detection):
    for k in (2, 3):
        for sc in ("rms_cosine", "subspace"):
            assert _f1(detection, k, "zero", sc) > _f1(detection, k, "zero", "max_cosine") + 0.2
    assert _f1(detection, 2, "zero", "subspace") > _f1(detection, 2, "zero", "max_inner")
    assert _f1(detection, 2, "zero", "subspace") > 0.7


def test_noise_filled_absent_dims_bring_every_scorer_near_chance(detection):
    for k in (2, 3):
        for sc in detection_quality.SCORERS:
            f = _f1(detection, k, "noise", sc)
            assert f < 0.45
            if sc != "max_cosine":  # max_cosine is already near chance with zeros
                assert f < _f1(detection, k, "zero", sc) - 0.1


# -- 3. source selection ----------------------------------------------------------------------------
def test_ucb_and_thompson_collect_more_overlap_than_random(selection):
    col = {p: mean_ci(d["true_cum"][:, -1])[0] for p, d in selection["policies"].items()}
    assert col["ucb"] > col["random"] + 30
    assert col["thompson"] > col["random"] + 30
    assert col["ucb"] > col["ucb1_rounds"]
    assert all(col["oracle"] >= v for v in col.values())


def test_strong_models_of_all_policies_are_close(selection):
    spread, _ = source_selection.accuracy_spread(selection)
    assert spread < 0.05


# -- 4. digits --------------------------------------------------------------------------------------
def _d(res, kind, a, b):
    return float(np.mean([r[kind][a] - r[kind][b] for r in res["runs"]]))


def test_digits_weak_labels_are_more_accurate_on_detected_overlap(digit):
    for kind in ("a", "b"):
        assert _d(digit, kind, "acc_overlap", "acc_rest") > 0.1
        assert all(r[kind]["verdict"] == "informative" for r in digit["runs"])


def test_digits_where_overlap_selection_does_not_help(digit):
    # (b) clusters: detected-overlap images lose to random images of the same number.
    assert _d(digit, "b", "w2s_overlap", "w2s_random") < -0.1
    # (a) detection finds the constructed overlap poorly, and ucb cannot rank the sources.
    assert np.mean([r["a"]["detect_f1"] for r in digit["runs"]]) < 0.5
    assert abs(_d(digit, "a", "camp_ucb_overlap_frac", "camp_random_overlap_frac")) < 0.05


def test_digits_where_it_helps(digit):
    # True overlap images beat random ones, and detected overlap helps on hard-only test images.
    assert _d(digit, "a", "w2s_true_overlap", "w2s_random") > 0.05
    assert _d(digit, "a", "w2s_overlap_hard", "w2s_random_hard") > 0


def test_digits_fixed_size_sets_with_more_overlap(digit):
    # (a): hard-only accuracy rises with the share of detected overlap; clean accuracy peaks at 50%.
    assert _d(digit, "a", "mix100_hard", "mix0_hard") > 0.05
    assert _d(digit, "a", "mix50", "mix0") > 0 and _d(digit, "a", "mix50", "mix100") > 0
    # (b): a training set made only of detected overlap is the worst.
    assert _d(digit, "b", "mix100", "mix0") < -0.1


# -- 5. trust diagnostics ---------------------------------------------------------------------------
def test_trust_verdicts_known_both_ways(trusted):
    v = {c: [r[c]["verdict"] for r in trusted["runs"]] for c in trust.CASES}
    assert v[trust.CASES[0]] == ["informative"] * trusted["seeds"]
    assert v[trust.CASES[2]] == ["not informative"] * trusted["seeds"]
    assert v[trust.CASES[3]] == ["not informative"] * trusted["seeds"]


# -- 6. real data (digits slice; the full study adds satellite, spam and DNA) ------------------------
def test_real_data_gain_avoids_the_mislabelled_source_and_diagnose_stays_close(real):
    runs = real["datasets"]["digits"]["runs"]
    for r in runs:
        q = r["sources"]["quality (one mislabelled)"]
        assert q["ucb + gain"]["bad_share"] <= 0.15 < q["random"]["bad_share"] + 0.1
        assert q["ucb + gain"]["acc"] > q["random"]["acc"]
    loss = real_data.regrets(runs)
    assert max(loss["recommendation"]) <= 0.03 and np.mean(loss["recommendation"]) <= 0.02


# -- 7. hybrid campaigns (a satellite slice; the full study adds spam and the drug reviews) -----------
def test_hybrid_beats_uncertainty_sampling_and_weak_labels_at_small_budgets_on_satellite(hybrid):
    from benchmarks.experiments.hybrid_study import analyse

    rows = analyse(hybrid)["satellite"]["rows"]
    for r in hybrid["runs"]["satellite"]:  # every seed: more than weak labels alone, and than US at 50
        assert r["acc"]["hybrid"][50] > r["acc"]["uncertainty"][50]
        assert r["acc"]["hybrid"][100] > r["acc"]["weak"][100]
    assert rows[50]["vs_uncertainty"][0] > 0.02  # full study: +6.3 points at B = 50


# -- the report --------------------------------------------------------------------------------------
def test_report_writes_every_section_and_plot(
    tmp_path, synth, detection, selection, digit, trusted, real, hybrid
):
    from benchmarks.experiments.report import write_report

    results = {
        "synthetic_table": synth,
        "detection_quality": detection,
        "source_selection": selection,
        "digits": digit,
        "trust": trusted,
        "real_data": real,
        "hybrid_study": hybrid,
    }
    path = write_report(
        {
            "results": results,
            "times": {k: 1.0 for k in results},
            "size": "small",
            "seed": 0,
            "jobs": 1,
            "wall": 5.0,
        },
        str(tmp_path),
    )
    text = open(path, encoding="utf-8").read()
    for i in range(1, len(EXPERIMENTS) + 1):
        assert f"\n## {i}. " in text
    for png in (
        "synthetic_table.png",
        "detection_quality.png",
        "source_selection.png",
        "digits.png",
        "real_data.png",
        "hybrid_study.png",
    ):
        assert f"(img/{png})" in text
        assert os.path.getsize(tmp_path / "img" / png) > 20_000
    assert "nan" not in text.lower().replace("nanmean", "")


def test_cli_report_small(tmp_path, capsys):
    from w2s_plugin.cli import main

    assert (
        main(
            [
                "report",
                "--small",
                "--only",
                "trust",
                "--jobs",
                "1",
                "--docs",
                str(tmp_path),
                "--save-results",
                str(tmp_path / "r.pkl"),
            ]
        )
        == 0
    )
    assert "## 5. Trust diagnostics" in (tmp_path / "results.md").read_text()
    (tmp_path / "results.md").unlink()
    assert main(["report", "--from-results", str(tmp_path / "r.pkl"), "--docs", str(tmp_path)]) == 0
    assert "## 5. Trust diagnostics" in (tmp_path / "results.md").read_text()
    assert main(["report", "--only", "nope", "--docs", str(tmp_path)]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_cli_report_outside_a_checkout_is_one_line(tmp_path, capsys, monkeypatch):
    """The experiments are not in the wheel: `w2s report` elsewhere says where to run it, nothing else."""
    from w2s_plugin.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["report", "--small", "--only", "trust"]) == 2
    out, err = capsys.readouterr()
    assert not out and err.count("\n") == 1
    assert "source checkout" in err and "make report" in err
    assert not (tmp_path / "docs").exists()


def test_experiment_argument_mistakes_are_w2s_errors(tmp_path, capsys, monkeypatch):
    from benchmarks.experiments._common import check_size
    from w2s_plugin import cli
    from w2s_plugin.errors import W2SError

    with pytest.raises(W2SError, match="size must be one of"):
        check_size("huge")
    with pytest.raises(W2SError, match="unknown dataset 'iris'"):
        real_data.one_seed(0, dataset="iris")
    assert cli.main(["report", "--only", "trust,nope", "--docs", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment(s) ['nope']" in err and "Traceback" not in err


def test_cli_report_from_a_file_that_is_not_saved_results_is_one_line(tmp_path, capsys, monkeypatch):
    import pickle

    from w2s_plugin import cli

    (tmp_path / "notes.txt").write_text("not a pickle\n")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    for name, why in (("notes.txt", "UnpicklingError"), ("list.pkl", "it holds a list")):
        assert cli.main(["report", "--from-results", str(tmp_path / name), "--docs", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "is not a results file written by --save-results" in err and why in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "results.md").exists()
