"""The `w2s config` and `w2s campaign` commands, run in-process through `w2s_plugin.cli.main`."""

import json
import sys
import types
from pathlib import Path

import pytest

from w2s_plugin import plugins
from w2s_plugin.campaign import load_state
from w2s_plugin.cli import main

ROOT = Path(__file__).resolve().parents[1]


# the example config loads a local plugin file: leave the manager as we found it (conftest.py)
pytestmark = pytest.mark.usefixtures("restore_plugins")


@pytest.fixture
def example(example_config):
    return example_config


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
    code, out, err = run(
        capsys, "campaign", "run", "--config", str(example), "--max-rounds", "4", "--no-progress"
    )
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
    lines = {
        ln.split()[0]: ln.split()
        for ln in out.splitlines()
        if ln.split() and ln.split()[0] in ("poor", "medium", "rich")
    }
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
    code, _, err = run(
        capsys, "campaign", "run", "--label-studio-url", "http://127.0.0.1:1", "--project", "3"
    )
    assert code == 2 and "LABEL_STUDIO_API_KEY" in err
    code, _, err = run(capsys, "campaign", "run", "--config", str(example), "--project", "3")
    assert code == 2 and "--project only applies with --label-studio-url" in err

    # The integration missing (the label-studio extra not installed): simulated by blocking the
    # import, the one fault this environment (which has every extra) cannot produce for real.
    import w2s_plugin.integrations.label_studio as ls_pkg

    for mod in ("driver", "campaign_cli"):  # an earlier test may have imported the real ones
        monkeypatch.setitem(sys.modules, f"w2s_plugin.integrations.label_studio.{mod}", None)
        monkeypatch.delattr(ls_pkg, mod, raising=False)
    code, _, err = run(
        capsys,
        "campaign",
        "run",
        "--label-studio-url",
        "http://127.0.0.1:1",
        "--project",
        "3",
        "--api-key",
        "k",
    )
    assert (
        code == 2
        and "pip install -e '.[label-studio]' in the w2s_plugin checkout" in err
        and "Traceback" not in err
    )


def test_label_studio_flags_reach_the_driver(capsys, example, monkeypatch):
    """The contract with the Label Studio driver (tested for real against a server in its own
    tests): `run_from_cli(args, config)` gets the parsed flags and the validated config. A stand-in
    module records the call, so this test does not need a server."""
    calls = []
    stand_in = types.ModuleType("w2s_plugin.integrations.label_studio.campaign_cli")
    stand_in.run_from_cli = lambda args, config: calls.append((args, config)) or 0
    monkeypatch.setitem(sys.modules, "w2s_plugin.integrations.label_studio.campaign_cli", stand_in)
    import w2s_plugin.integrations.label_studio as ls_pkg

    monkeypatch.setattr(ls_pkg, "campaign_cli", stand_in, raising=False)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "from-env")
    code, _, err = run(
        capsys,
        "campaign",
        "run",
        "--config",
        str(example),
        "--label-studio-url",
        "http://ls:8080",
        "--project",
        "7",
    )
    assert code == 0, err
    ((args, cfg),) = calls
    assert (args.label_studio_url, args.project, args.api_key) == ("http://ls:8080", "7", "from-env")
    assert cfg.get("campaign.batch_size") == 100 and [s["name"] for s in cfg.data["sources"]] == [
        "poor",
        "medium",
        "rich",
    ]


# --- a new user's first commands: one-line errors (exit 2), no tracebacks, nothing lost ------------

INSTALL_DASK = "pip install -e '.[dask]' in the w2s_plugin checkout (it is not on PyPI)"
LS_INSTALL = "pip install -e '.[label-studio]' in the w2s_plugin checkout (it is not on PyPI)"


@pytest.fixture
def arrays(tmp_path, weak_mixture):
    """Weak probabilities and embeddings of a small version of the paper's mixture, as .npy files."""
    import numpy as np

    pool, proba, _ = weak_mixture(200, None)
    np.save(tmp_path / "p.npy", proba)
    np.save(tmp_path / "e.npy", pool.X)
    return ["--proba", str(tmp_path / "p.npy"), "--embeddings", str(tmp_path / "e.npy")]


def one_line_error(code, out, err, prefix):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith(prefix), err
    return err.strip()


def test_missing_dask_extra_is_one_line(capsys, monkeypatch, arrays, example):
    # Every extra is installed here; a None entry in sys.modules makes `import dask` fail as it does
    # without the extra. This is the only way to cause that fault in this environment.
    monkeypatch.setitem(sys.modules, "dask", None)
    for spec in ("threads", "processes:2"):
        msg = one_line_error(*run(capsys, "detect", *arrays, "--scheduler", spec), "w2s detect: error: ")
        assert msg == f"w2s detect: error: --scheduler needs the dask extra: {INSTALL_DASK}"
    code, out, err = run(
        capsys, "campaign", "run", "--config", str(example), "--scheduler", "threads", "--no-progress"
    )
    assert (
        one_line_error(code, out, err, "w2s campaign: error: ")
        == f"w2s campaign: error: --scheduler needs the dask extra: {INSTALL_DASK}"
    )
    assert not out and not (example.parent / "runs").exists()  # checked before any work


def test_missing_label_studio_extra_is_one_line(capsys, monkeypatch, example):
    # As above: blocking the imports is the only way to lose the extra in this environment.
    import w2s_plugin.integrations.label_studio as ls_pkg

    for mod in (
        "flask",
        "label_studio_sdk",
        "w2s_plugin.integrations.label_studio.app",
        "w2s_plugin.integrations.label_studio.driver",
    ):
        monkeypatch.setitem(sys.modules, mod, None)
    for attr in ("app", "driver"):
        monkeypatch.delattr(ls_pkg, attr, raising=False)
    code, out, err = run(capsys, "serve", "--port", "1")
    expected = f"this command needs the label-studio extra: {LS_INSTALL}"
    assert one_line_error(code, out, err, "w2s serve: error: ") == "w2s serve: error: " + expected
    code, out, err = run(
        capsys,
        "campaign",
        "run",
        "--config",
        str(example),
        "--label-studio-url",
        "http://127.0.0.1:1",
        "--project",
        "3",
        "--api-key",
        "k",
    )
    assert one_line_error(code, out, err, "w2s campaign: error: ") == (
        f"w2s campaign: error: --label-studio-url needs the label-studio extra: {LS_INSTALL}"
    )


def test_scorer_params_must_be_a_json_object_with_known_keys(capsys, arrays):
    hint = "w2s detect: error: --scorer-params must be a JSON object, e.g. '{\"variance\": 0.9}'"
    for bad in ("[1]", "{x", "0.9", '"variance"'):
        msg = one_line_error(*run(capsys, "detect", *arrays, "--scorer-params", bad), hint)
        assert bad in msg
    msg = one_line_error(
        *run(capsys, "detect", *arrays, "--scorer", "subspace", "--scorer-params", '{"varance": 0.5}'),
        "w2s detect: error: ",
    )
    assert msg.endswith(
        "overlap scorer 'subspace' got unknown parameter(s) varance; it accepts: n_components, variance"
    )
    code, out, err = run(
        capsys, "detect", *arrays, "--scorer", "subspace", "--scorer-params", '{"variance": 0.5}'
    )
    assert code == 0 and "overlap density:" in out and not err


def test_output_paths_are_checked_before_the_work(capsys, arrays, tmp_path):
    missing = tmp_path / "no" / "such"
    for flag, name in (("--out", "r.csv"), ("--plot", "r.png")):
        code, out, err = run(capsys, "detect", *arrays, flag, str(missing / name))
        msg = one_line_error(code, out, err, "w2s detect: error: ")
        assert msg == (
            f"w2s detect: error: {flag} {missing / name}: directory {missing} does not exist "
            "(create it first)"
        )
        assert not out  # nothing computed
    code, out, err = run(capsys, "detect", *arrays, "--out", str(tmp_path / "r.csv"))
    assert code == 0 and (tmp_path / "r.csv").read_text().count("\n") == 601

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err = run(
        capsys, "demo", "--out", str(blocker / "plots")
    )  # would take minutes if not checked first
    msg = one_line_error(code, out, err, "w2s demo: error: ")
    assert msg == f"w2s demo: error: --out {blocker / 'plots'}: cannot create the directory (Not a directory)"
    assert not out


def test_ctrl_c_while_plugins_load_is_one_line(capsys, monkeypatch):
    # Ctrl-C cannot be delivered at this exact moment (plugin loading, ~0.25 s) from a test any other
    # way: the loader itself raises KeyboardInterrupt, as Python does when SIGINT arrives there.
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(plugins, "load_plugins", interrupted)
    code, out, err = run(capsys, "plugins")
    assert code == 130 and err == "w2s: interrupted\n" and not out


def _w2s(*argv, stdout=None, env_extra=None):
    import os
    import subprocess

    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "w2s_plugin.cli", *argv],
        stdout=stdout or subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )


def test_closed_pipe_exits_quietly(example):
    """`w2s config check t.toml | head -1`: head closes the pipe; w2s stops quietly with 141 (128 +
    SIGPIPE, what a shell reports for any program killed by a closed pipe)."""
    p = _w2s("config", "check", str(example))
    p.stdout.close()  # the reader is gone before w2s writes anything
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and err == ""


def test_warnings_are_one_line_without_source(tmp_path):
    import numpy as np

    np.save(tmp_path / "p.npy", np.full(300, 0.9))  # equally confident everywhere: no hard-only point
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(300, 4)))
    p = _w2s("detect", "--proba", str(tmp_path / "p.npy"), "--embeddings", str(tmp_path / "e.npy"))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0 and b"overlap density: 0.0000" in out
    assert err.decode() == (
        "w2s: warning: no hard-only point found (the weak model is equally confident "
        "everywhere): nothing spans the hard pattern, so every non-hard point is "
        "easy-only "
        "and the overlap density is 0\n"
    )


def test_interrupted_campaign_says_what_is_saved_and_resumes(capsys, example, tmp_path):
    from w2s_plugin.hookspecs import hookimpl

    class CtrlC:
        """Ctrl-C right after round 3 is committed (on_round_end runs after the state is written)."""

        @hookimpl
        def on_round_end(self, campaign, round):
            if round["round"] == 3:
                raise KeyboardInterrupt

    state = tmp_path / "runs" / "mixture"
    plugins.register(CtrlC(), name="ctrl-c")
    code, out, err = run(capsys, "campaign", "run", "--config", str(example), "--no-progress")
    plugins.unregister(name="ctrl-c")
    assert code == 130
    assert err == (
        f"w2s campaign: interrupted: 3 round(s), 300 point(s) saved in {state}; "
        "run the same command again to resume\n"
    )
    assert len(load_state(state)["rounds"]) == 3
    code, out, err = run(
        capsys, "campaign", "run", "--config", str(example), "--no-progress", "--max-rounds", "1"
    )
    assert code == 0, err
    assert out.splitlines()[0] == f"resuming the campaign in {state}: 3 round(s), 300 point(s) already drawn"
    assert "ran 1 round(s); 4 in total, 400 points drawn" in out


def test_exhausted_sources_are_reported_and_results_repr_is_short(capsys, example):
    from w2s_plugin.config import load_config

    # Three sources of 900 points each, a budget of 5000: the sources run out first.
    example.write_text(example.read_text().replace("budget = 1500", "budget = 5000"))
    code, out, err = run(capsys, "campaign", "run", "--config", str(example))  # progress bar on (config)
    assert code == 0, err
    assert (
        "campaign: every source is exhausted after 27 round(s); budget not spent (2700 of 5000 points drawn)"
    ) in err

    res = load_config(example).build_campaign(progress=False).results()  # resumed from the saved state
    assert len(res.items["id"]) == 2700
    text = repr(res)
    assert text.startswith("<CampaignResults: 27 round(s), 2700 item(s) drawn, ") and ".table()" in text
    assert len(text) < 200


# -- counts are checked at the door --------------------------------------------------------------

import argparse  # noqa: E402
import re  # noqa: E402

from w2s_plugin.cli import build_parser  # noqa: E402


def _arguments(parser=None, words=()):
    """Every option and positional argument of every ``w2s`` command (plugins' included)."""
    parser = parser or build_parser()
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _arguments(sub, (*words, name))
        else:
            yield words, a


def _options():
    """Every option of every ``w2s`` command (plugins' included), with the words that reach it."""
    return ((words, a) for words, a in _arguments() if a.option_strings)


COUNTS = [(words, a) for words, a in _options() if getattr(a.type, "__name__", "") == "count"]


def test_no_option_takes_a_bare_int():
    """A bare ``type=int`` lets ``--max-rounds -1`` through; every whole-number option is a count."""
    bare = [" ".join((*w, a.option_strings[0])) for w, a in _options() if a.type is int]
    assert not bare, f"use w2s_plugin.cli.count for {bare}"
    flags = {(w, a.option_strings[0]) for w, a in COUNTS}
    assert {
        (("campaign", "run"), "--max-rounds"),
        (("campaign", "status"), "--rounds"),
        (("demo",), "--seeds"),
        (("demo",), "--n"),
        (("detect",), "--seed"),
        (("serve",), "--port"),
        (("serve",), "--workers"),
        (("report",), "--jobs"),
    } <= flags


@pytest.mark.parametrize("words,action", COUNTS, ids=[" ".join((*w, a.option_strings[0])) for w, a in COUNTS])
def test_every_count_option_below_its_minimum_is_a_one_line_error(capsys, words, action):
    flag = action.option_strings[0]
    minimum = int(re.search(r"(?:>=|from) (-?\d+)", _error(capsys, words, flag, "x")).group(1))
    assert action.type(str(minimum)) == minimum  # the smallest allowed value passes
    for bad in (str(minimum - 1), "-1" if minimum > -1 else None, "1.5", ""):
        if bad is None:
            continue
        err = _error(capsys, words, flag, bad)
        assert err.startswith(f"w2s {words[0]}: error: {flag} must be a whole number ")
        assert err.count("\n") == 1 and "Traceback" not in err and "usage" not in err


def _error(capsys, words, flag, value):
    code = main([*words, f"{flag}={value}"])
    out, err = capsys.readouterr()
    assert code == 2 and not out, (words, flag, value, out)
    return err


@pytest.mark.parametrize("rounds", ["0", "-1"])
def test_max_rounds_below_one_runs_nothing_and_says_so(capsys, example, tmp_path, rounds):
    """Before: -1 ran nothing and exited 0, 0 ran the whole campaign."""
    code, out, err = run(
        capsys, "campaign", "run", "--config", str(example), "--max-rounds", rounds, "--no-progress"
    )
    assert code == 2 and not out
    assert err == f"w2s campaign: error: --max-rounds must be a whole number >= 1; got {rounds}\n"
    assert not (tmp_path / "runs").exists()  # nothing started


def test_standalone_scripts_check_their_counts_too(capsys):
    from benchmarks.experiments._common import run_main
    from examples import modal_digits as example_digits

    with pytest.raises(SystemExit) as ei:
        run_main(types.SimpleNamespace(__name__="benchmarks.experiments.x", __doc__="x"), ["--seed", "-1"])
    assert ei.value.code == 2 and "--seed must be a whole number >= 0; got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ei:
        example_digits.main(["--rounds", "0"])
    assert ei.value.code == 2 and "--rounds must be a whole number >= 1; got 0" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["proba.npy", "proba.npz"])
def test_a_text_file_named_npy_says_it_is_not_a_numpy_file(capsys, tmp_path, name):
    """Before: numpy's "contains pickled (object) data"."""
    (tmp_path / name).write_text("0.1,0.9\n0.8,0.2\n")
    import numpy as np

    np.save(tmp_path / "emb.npy", np.zeros((2, 3)))
    code, out, err = run(
        capsys, "detect", "--proba", str(tmp_path / name), "--embeddings", str(tmp_path / "emb.npy")
    )
    kind = "a NumPy .npy array" if name.endswith(".npy") else "a NumPy .npz archive"
    assert code == 2 and not out and err.count("\n") == 1
    assert err.startswith(f"w2s detect: error: proba file '{tmp_path / name}' is not {kind}")
    assert "pickled" not in err


def test_every_option_and_argument_has_help():
    """`w2s detect --help` listed `--seed SEED` with nothing after it; every argument says what it does."""
    found = list(_arguments())
    missing = [
        " ".join(("w2s", *w, a.option_strings[0] if a.option_strings else a.dest))
        for w, a in found
        if not a.help or a.help == argparse.SUPPRESS
    ]
    assert not missing, f"arguments without help text: {missing}"
    assert len(found) > 60  # the walk reached every command, nested ones and plugins' included
    assert {("detect",), ("diagnose",), ("report",)} <= {w for w, a in found if "--seed" in a.option_strings}


@pytest.mark.parametrize(
    "argv",
    [["detect", "--proba", "nope.npy", "--embeddings", "e.npy"], ["campaign", "status", "no-such-dir"]],
    ids=["detect", "campaign status"],
)
def test_debug_is_accepted_before_and_after_the_command(capsys, tmp_path, monkeypatch, argv):
    """`w2s detect ... --debug` was refused by argparse (only `w2s --debug detect` worked)."""
    monkeypatch.chdir(tmp_path)
    prefix = f"w2s {argv[0]}: error: "
    plain = one_line_error(*run(capsys, *argv), prefix)
    for args in (["--debug", *argv], [*argv, "--debug"], [argv[0], "--debug", *argv[1:]]):
        code, out, err = run(capsys, *args)
        assert code == 2 and "Traceback (most recent call last)" in err, args
        assert err.rstrip().splitlines()[-1] == plain  # the same one-line message, after the traceback


def test_example_campaign_picks_the_rich_source_the_same_way_every_run(capsys, example, tmp_path):
    """examples/campaign.toml's sources differ (true overlap 0.1, 0.3, 0.5) and everything is seeded:
    a second run in a fresh folder prints the same picks and numbers, and `rich` gets the most."""
    import shutil

    other = tmp_path / "again"
    other.mkdir()
    for f in ("campaign.toml", "mixture_plugin.py"):
        shutil.copy(example.parent / f, other / f)
    outs = []
    for cfg in (example, other / "campaign.toml"):
        code, out, err = run(capsys, "campaign", "run", "--config", str(cfg), "--no-progress")
        assert code == 0, err
        outs.append(out.split("\n", 1)[1])  # the first line names the state folder
    assert outs[0] == outs[1]
    pulls = {m[0]: int(m[1]) for m in re.findall(r"^(poor|medium|rich)\s+(\d+)\s", outs[0], re.M)}
    assert pulls["rich"] > pulls["medium"] > pulls["poor"], pulls
