"""The `w2s config` and `w2s campaign` commands, run in-process through `w2s_plugin.cli.main`."""

import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from w2s_plugin import plugins
from w2s_plugin.campaign import load_state
from w2s_plugin.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def restore_plugins():
    yield
    plugins.reload_plugins()  # the example config loads a local plugin file


@pytest.fixture
def example(tmp_path):
    for f in ("campaign.toml", "mixture_plugin.py"):
        shutil.copy(ROOT / "examples" / f, tmp_path / f)
    return tmp_path / "campaign.toml"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("campaign", "config", "demo", "detect", "plugins"):
        assert cmd in out
    code, out, _ = run(capsys, "campaign")
    assert code == 2 and "run" in out and "status" in out


def test_config_check_ok_and_errors(capsys, example, tmp_path):
    code, out, err = run(capsys, "config", "check", str(example))
    assert code == 0 and not err
    assert out.splitlines()[0] == f"OK: {example}"
    assert "source 2:        rich  (type mixture)" in out and "bandit:          ucb {'c': 1.0}" in out
    code, out, _ = run(capsys, "config", "check", "--build", str(example))
    assert code == 0 and "(sources loaded, models built)" in out

    bad = tmp_path / "bad.toml"
    bad.write_text(example.read_text().replace('policy = "ucb"', 'policy = "ucbb"'))
    code, out, err = run(capsys, "config", "check", str(bad))
    assert code == 2 and not out
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"w2s config: error: {bad}: bandit.policy: expected a registered bandit policy")
    assert "got 'ucbb' (did you mean 'ucb'?)" in err


def test_campaign_run_resume_status(capsys, example, tmp_path):
    state = tmp_path / "runs" / "mixture"
    code, out, err = run(capsys, "campaign", "run", "--config", str(example), "--max-rounds", "4", "--no-progress")
    assert code == 0, err
    assert f"starting a new campaign; state goes to {state}" in out
    assert "ran 4 round(s); 4 in total, 400 points drawn" in out
    assert "source            pulls" in out and "95% interval" in out

    code, out, err = run(capsys, "campaign", "run", "--config", str(example), "--no-progress")
    assert code == 0, err
    assert out.splitlines()[0] == f"resuming the campaign in {state}: 4 round(s), 400 point(s) already drawn"
    assert "ran 11 round(s); 15 in total, 1500 points drawn" in out
    saved = load_state(state)
    assert len(saved["rounds"]) == 15 and sum(r["n"] for r in saved["rounds"]) == 1500

    code, out, _ = run(capsys, "campaign", "run", "--config", str(example), "--no-progress")
    assert code == 0 and "already complete" in out

    code, out, _ = run(capsys, "campaign", "status", str(state), "--rounds", "2")
    assert code == 0
    assert f"campaign in {state}: 15 round(s), 1500 point(s) drawn of a budget of 1500" in out
    lines = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.split() and ln.split()[0] in ("poor", "medium", "rich")}
    pulls = {name: int(row[1]) for name, row in lines.items()}
    assert sum(pulls.values()) == 15 and pulls["rich"] == max(pulls.values())
    assert "last 2 round(s):" in out

    code, out, _ = run(capsys, "campaign", "status", str(state), "--json")
    data = json.loads(out)
    assert data["rounds"] == 15 and data["drawn"] == 1500
    by = {s["source"]: s for s in data["sources"]}
    overlap = {name: sum(r["n_overlap"] for r in saved["rounds"] if r["source"] == name) for name in by}
    for name, s in by.items():
        assert s["pulls"] == pulls[name] and s["overlap"] == overlap[name]
        assert s["ci_low"] <= s["density"] <= s["ci_high"]
    # the rich source (true density 0.5) is estimated above the poor one (0.1)
    assert by["rich"]["density"] > by["poor"]["density"]


def test_campaign_errors_are_one_line(capsys, tmp_path, example):
    code, _, err = run(capsys, "campaign", "status", str(tmp_path / "nope"))
    assert code == 2 and "is not a directory" in err
    code, _, err = run(capsys, "campaign", "status", str(tmp_path))
    assert code == 2 and "no campaign state" in err
    code, _, err = run(capsys, "campaign", "run")
    assert code == 2 and "give --config FILE" in err
    code, _, err = run(capsys, "campaign", "run", "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and "expected an existing TOML file" in err
    strategy_only = tmp_path / "s.toml"
    strategy_only.write_text('[acquisition]\nstrategy = "overlap"\n')
    code, _, err = run(capsys, "campaign", "run", "--config", str(strategy_only))
    assert code == 2 and "sources: expected at least one source to run a campaign" in err


def test_label_studio_flags(capsys, example, monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    code, _, err = run(capsys, "campaign", "run", "--label-studio-url", "http://127.0.0.1:1")
    assert code == 2 and "needs --project" in err
    code, _, err = run(capsys, "campaign", "run", "--label-studio-url", "http://127.0.0.1:1", "--project", "3")
    assert code == 2 and "LABEL_STUDIO_API_KEY" in err
    code, _, err = run(capsys, "campaign", "run", "--config", str(example), "--project", "3")
    assert code == 2 and "--project only applies with --label-studio-url" in err

    # The integration missing (the label-studio extra not installed): simulated by blocking the
    # import, the one fault this environment (which has every extra) cannot produce for real.
    import w2s_plugin.integrations.label_studio as ls_pkg

    monkeypatch.setitem(sys.modules, "w2s_plugin.integrations.label_studio.driver", None)
    monkeypatch.delattr(ls_pkg, "driver", raising=False)  # an earlier test may have imported the real one
    code, _, err = run(capsys, "campaign", "run", "--label-studio-url", "http://127.0.0.1:1", "--project", "3",
                       "--api-key", "k")
    assert code == 2 and "pip install 'w2s-plugin[label-studio]'" in err and "Traceback" not in err


def test_label_studio_flags_reach_the_driver(capsys, example, monkeypatch):
    """The contract with the Label Studio driver (tested for real against a server in its own
    tests): `run_from_cli(args, config)` gets the parsed flags and the validated config. A stand-in
    module records the call, so this test does not need a server."""
    calls = []
    stand_in = types.ModuleType("w2s_plugin.integrations.label_studio.driver")
    stand_in.run_from_cli = lambda args, config: calls.append((args, config)) or 0
    monkeypatch.setitem(sys.modules, "w2s_plugin.integrations.label_studio.driver", stand_in)
    import w2s_plugin.integrations.label_studio as ls_pkg

    monkeypatch.setattr(ls_pkg, "driver", stand_in, raising=False)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "from-env")
    code, _, err = run(capsys, "campaign", "run", "--config", str(example), "--label-studio-url", "http://ls:8080",
                       "--project", "7")
    assert code == 0, err
    (args, cfg), = calls
    assert (args.label_studio_url, args.project, args.api_key) == ("http://ls:8080", "7", "from-env")
    assert cfg.get("campaign.batch_size") == 100 and [s["name"] for s in cfg.data["sources"]] == ["poor", "medium", "rich"]
