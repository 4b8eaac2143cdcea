"""What `w2s config check` and the CLI refuse in one line (issue 22): a config that is not UTF-8,
fixed thresholds out of range, a misspelt reward, reward ``gain`` without gold data; and that
``campaign.gold`` makes ``reward = "gain"`` usable from a config. A full disk is a real one (a
small tmpfs, the ``full_disk`` fixture of conftest.py, mounted when the test runs as root) and
otherwise skipped; the backend's own ENOSPC
test in test_label_studio_security.py injects the error instead."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from w2s_plugin import cli
from w2s_plugin.config import ConfigError, load_config

pytestmark = pytest.mark.usefixtures("restore_plugins")


def check(capsys, path):
    code = cli.main(["config", "check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def with_lines(example_config, extra: str, section: str = "[campaign]"):
    text = example_config.read_text().replace(section + "\n", section + "\n" + extra + "\n", 1)
    example_config.write_text(text)
    return example_config


def test_a_config_that_is_not_utf8_is_one_line(tmp_path, capsys):
    p = tmp_path / "latin1.toml"
    p.write_bytes("seed = 1\n# caf\xe9\n[campaign]\nbatch_size = 10\n".encode("latin-1"))
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert "UTF-8" in str(ei.value) and "offset 14" in str(ei.value)
    code, out, err = check(capsys, p)
    assert code == 2 and err.count("\n") == 1 and "UTF-8" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "line, key",
    [
        ("hard_threshold = 5.0", "detector.hard_threshold"),
        ("hard_threshold = nan", "detector.hard_threshold"),
        ("hard_threshold = -0.1", "detector.hard_threshold"),
        ("overlap_threshold = inf", "detector.overlap_threshold"),
        ("overlap_threshold = 1.5", "detector.overlap_threshold"),  # rms_cosine scores lie in [0, 1]
    ],
)
def test_fixed_thresholds_are_range_checked(example_config, line, key):
    text = example_config.read_text().replace('hard_threshold = "change_point"\n', "")
    text = text.replace('overlap_threshold = "change_point"\n', "")
    example_config.write_text(text.replace("[detector]\n", f"[detector]\n{line}\n"))
    with pytest.raises(ConfigError) as ei:
        load_config(example_config)
    assert ei.value.key == key and "\n" not in str(ei.value)


def test_in_range_thresholds_pass_and_an_unbounded_scorer_may_go_above_one(example_config):
    text = example_config.read_text().replace('hard_threshold = "change_point"', "hard_threshold = 0.4")
    text = text.replace('scorer = "rms_cosine"', 'scorer = "max_inner"')
    example_config.write_text(text.replace('overlap_threshold = "change_point"', "overlap_threshold = 3.0"))
    cfg = load_config(example_config)
    assert cfg.get("detector.hard_threshold") == 0.4 and cfg.get("detector.overlap_threshold") == 3.0


def test_a_misspelt_reward_fails_config_check_naming_the_valid_ones(example_config, capsys):
    with_lines(example_config, 'reward = "gian"')
    code, out, err = check(capsys, example_config)
    assert code == 2 and err.count("\n") == 1
    assert "campaign.reward" in err and "gain, overlap" in err and "did you mean 'gain'?" in err


def test_gain_without_gold_is_a_config_error_naming_the_key(example_config):
    with_lines(example_config, 'reward = "gain"')
    with pytest.raises(ConfigError) as ei:
        load_config(example_config)
    assert ei.value.key == "campaign.gold" and "path = ..., labels = ..." in str(ei.value)


def test_reward_gain_runs_from_a_config_with_a_gold_table(example_config):
    """The example campaign with ``reward = "gain"`` and a gold sample from the same mixture (items in
    the sources' form, the 40 features; labels in a second file)."""
    sys.path.insert(0, str(example_config.parent))
    try:
        import mixture_plugin
    finally:
        sys.path.pop(0)
    g = mixture_plugin._family().sample(40, 40, 40, random_state=77)
    np.save(example_config.parent / "gold.npy", g.X)
    np.save(example_config.parent / "gold_labels.npy", g.y)
    with_lines(example_config, 'reward = "gain"\ngold = { path = "gold.npy", labels = "gold_labels.npy" }')
    text = example_config.read_text().replace("budget = 1500", "budget = 600")
    example_config.write_text(text)
    cfg = load_config(example_config)
    assert cfg.get("campaign.gold")["path"] == str(example_config.parent / "gold.npy")
    camp = cfg.build_campaign(progress=False)
    res = camp.run()
    rewards = [r["reward"] for r in res.rounds]
    assert len(rewards) == 6 and all(0.0 <= v <= 1.0 for v in rewards)
    assert {r["reward_name"] for r in res.rounds} == {"gain"}
    assert len(set(np.round(rewards, 6))) > 1  # the reward reads the batches, not a constant
    # a gold table with a wrong key or a missing label file names the key
    bad = example_config.read_text().replace('labels = "gold_labels.npy"', 'label = "gold_labels.npy"')
    example_config.write_text(bad)
    with pytest.raises(ConfigError) as ei:
        load_config(example_config)
    assert ei.value.key == "campaign.gold.label" and "did you mean 'labels'?" in str(ei.value)


# --- a full disk is one line ----------------------------------------------------------------------


def test_a_full_disk_is_one_line_not_a_traceback(example_config, full_disk, capsys):
    text = example_config.read_text().replace('state_dir = "runs/mixture"', f'state_dir = "{full_disk}/run"')
    example_config.write_text(text)
    code = cli.main(["campaign", "run", "--config", str(example_config), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    line = [ln for ln in err.splitlines() if "error" in ln]
    assert len(line) == 1 and ("disk is full" in line[0] or "No space left" in line[0]), err
