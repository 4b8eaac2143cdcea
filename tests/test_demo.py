"""`w2s demo` is the README's first command: it must run offline and show what it claims."""

import re

from w2s_plugin.cli import main


def test_demo_runs_offline_and_shows_the_weak_to_strong_effect(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "out"), "--seeds", "2", "--n", "400"])
    out = capsys.readouterr().out
    assert rc == 0
    f1 = float(re.search(r"^overlap\s+[0-9.]+\s+[0-9.]+\s+([0-9.]+)$", out, re.M).group(1))
    assert f1 > 0.75  # measured ~0.9 on the paper's mixture
    row = {
        name: tuple(map(float, re.search(rf"^{name}\s+([0-9.]+)\s+([0-9.]+)$", out, re.M).groups()))
        for name in ("weak model itself", "detected-overlap points", r"random points \(same number\)")
    }
    weak, overlap, rand = row.values()
    assert abs(weak[1] - 0.5) < 0.06  # the weak model is at chance on hard-only points
    assert overlap[1] > rand[1] + 0.2  # overlap-trained strong model learns the hard pattern
    assert overlap[0] > weak[0]  # and beats the weak model overall
    camp = {
        m.group(1): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(r"^(ucb|random|oracle)\s+([0-9.]+)\s+([0-9.]+)\s", out, re.M)
    }
    assert set(camp) == {"ucb", "random", "oracle"}
    assert camp["oracle"][0] >= camp["ucb"][0] > camp["random"][0]  # overlap points collected
    assert camp["ucb"][1] < camp["random"][1]  # regret against the oracle
    for png in ("demo_detection.png", "demo_campaign.png"):
        data = (tmp_path / "out" / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_demo_figures_say_what_they_show():
    """The plots are read without the console: titles match the panels, the chance line is labelled,
    the number of seeds is stated, and the campaign figure plots what the bandit maximizes."""
    import numpy as np

    from w2s_plugin import demo, demo_campaign

    res = demo.detection_demo(seeds=range(2), n_per_region=200)
    fig = demo.plot_detection_demo(res)
    left, middle, right = fig.axes[:3]
    assert "stage 1" in left.get_title() and "stage 2" in middle.get_title()
    assert "density" not in fig._suptitle.get_text()  # no panel shows a density
    assert "mean of 2 seeds" in fig._suptitle.get_text() and "mean of 2 seeds" in right.get_title()
    legend = [t.get_text() for t in right.get_legend().get_texts()]
    assert "chance (2 classes)" in legend
    chance = [ln for ln in right.get_lines() if ln.get_label() == "chance (2 classes)"]
    assert chance and chance[0].get_ydata()[0] == 0.5
    # The legends count detected points and say so, with the true counts beside them (1343 hard-only
    # "points" read as the pool's hard-only points when 1000 were); the box repeats the console's means.
    run, R = res["runs"][0], demo.Region
    counts, truth = run["report"].counts, np.bincount(run["pool"].regions, minlength=3)
    legends = [t.get_text() for ax in (left, middle) for t in ax.get_legend().get_texts()]
    for r, name in ((R.HARD_ONLY, "hard-only"), (R.EASY_ONLY, "easy-only"), (R.OVERLAP, "overlap")):
        assert f"{name}: {counts[r]} detected, {truth[r]} true" in legends, legends
    assert counts[R.HARD_ONLY] != truth[R.HARD_ONLY]  # the two numbers differ here: the label must say which
    box = " ".join(t.get_text() for t in middle.texts)
    printed = demo.format_detection_demo(res)
    mean = re.search(r"^overlap\s+([0-9.]+)\s+([0-9.]+)", printed, re.M).groups()
    assert f"mean of 2 seeds (printed): precision {mean[0]}, recall {mean[1]}" in box
    assert f"seed {run['seed']} (plotted)" in box and f"seed {run['seed']}" in fig._suptitle.get_text()

    camp = demo_campaign.campaign_demo(seeds=range(2), n_per_source=200, batch_size=20, budget=100)
    fig = demo_campaign.plot_campaign_demo(camp)
    ax = fig.axes[0]
    assert "what the bandit maximizes" in ax.get_title() and "mean of 2 seeds" in ax.get_title()
    assert ax.get_xlabel() == "points drawn (budget spent)"
    lines = {ln.get_label().split(" ")[0]: ln for ln in ax.get_lines()}
    assert set(lines) == {"ucb", "random", "oracle"}
    for pol, ln in lines.items():
        assert np.allclose(ln.get_ydata(), camp[pol]["overlap"])  # the overlap count, per policy
        assert np.array_equal(ln.get_xdata(), np.arange(20, 101, 20))  # against the budget spent
    assert "mean of 2 seeds" in fig.axes[1].get_title()
    assert any(ln.get_label() == "chance (2 classes)" for ln in fig.axes[1].get_lines())
