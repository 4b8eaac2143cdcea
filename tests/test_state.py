"""The state folder's safety rules (issue 22): one writer per folder, a round log is never deleted,
a resume with changed inputs is refused by name, interrupted writes leave no litter; and a
front-end outside the package saves and resumes its own kind of state without editing the core."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from w2s_plugin import Campaign, hookimpl, plugins
from w2s_plugin.cli import main
from w2s_plugin.detector import Region, W2SWarning
from w2s_plugin.engine import Engine
from w2s_plugin.errors import StateError
from w2s_plugin.settings import RunSettings
from w2s_plugin.simulation import make_sources
from w2s_plugin.state import LOG_FILE, STATE_FILE, StateKind, load_state

DENS, N, SEED, BATCH = [0.1, 0.3, 0.5], 120, 3, 20


def _campaign(d, rounds=3, **kw):
    syn = make_sources(DENS, N, random_state=SEED)
    args = dict(batch_size=BATCH, budget=300, state_dir=d, progress=False, random_state=SEED)
    c = Campaign(syn.sources, syn.weak_model, **{**args, **kw})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", W2SWarning)
        c.run(max_rounds=rounds)
    return c


def _resume(d, syn=None, **kw):
    syn = syn or make_sources(DENS, N, random_state=SEED)
    return Campaign.resume(d, syn.sources, syn.weak_model, progress=False, **kw)


HOLDER = textwrap.dedent(f"""
    import sys, time, warnings
    warnings.simplefilter("ignore")
    from w2s_plugin import Campaign
    from w2s_plugin.simulation import make_sources
    syn = make_sources({DENS}, {N}, random_state={SEED})
    c = Campaign.resume(sys.argv[1], syn.sources, syn.weak_model, progress=False)
    c.run(max_rounds=1)
    print("HOLDING", flush=True)
    time.sleep(120)
""")


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    d = tmp_path / "camp"
    _campaign(d, rounds=2).engine.close()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(d)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "HOLDING"
        before = (d / LOG_FILE).read_bytes()
        with pytest.raises(StateError, match=rf"being written by pid {proc.pid} on \S+ \(.*python"):
            _resume(d)
        assert (d / LOG_FILE).read_bytes() == before  # nothing written by the refused writers
    finally:
        proc.kill()
        proc.wait()
    c = _resume(d)  # the lock dies with its process: the run continues from the holder's 3 rounds
    assert c.n_rounds == 3 and load_state(d)["n_rounds"] == 3
    c.step()
    assert load_state(d)["n_rounds"] == 4


def test_a_newer_front_end_in_the_same_process_takes_the_folder_over(tmp_path):
    d = tmp_path / "camp"
    old = _campaign(d, rounds=2)
    new = _resume(d)
    with pytest.raises(StateError, match="taken over by a newer Campaign"):
        old.step()
    assert new.step()["round"] == 3 and load_state(d)["n_rounds"] == 3


def test_a_round_log_without_state_json_is_never_deleted(tmp_path, capsys):
    d = tmp_path / "camp"
    _campaign(d, rounds=3).engine.close()
    log = (d / LOG_FILE).read_bytes()
    (d / STATE_FILE).unlink()
    syn = make_sources(DENS, N, random_state=SEED)
    with pytest.raises(StateError, match=rf"{LOG_FILE} holds {len(log)} bytes of rounds but {STATE_FILE}"):
        Campaign(syn.sources, syn.weak_model, batch_size=BATCH, state_dir=d, progress=False)
    with pytest.raises(StateError, match="no campaign state"):
        _resume(d)
    assert (d / LOG_FILE).read_bytes() == log
    (d / STATE_FILE).write_text("{")  # unreadable: named, with the remedy; the log stays
    with pytest.raises(StateError, match="not valid JSON.*--force-new"):
        _resume(d)
    assert (d / LOG_FILE).read_bytes() == log
    # force_new moves the folder aside, log included, and starts over
    c = Campaign(syn.sources, syn.weak_model, batch_size=BATCH, state_dir=d, progress=False, force_new=True)
    assert (
        c.engine.moved_to.name.startswith("camp.old-") and (c.engine.moved_to / LOG_FILE).read_bytes() == log
    )
    assert c.n_rounds == 0 and load_state(d)["n_rounds"] == 0


def test_a_new_folder_is_committed_before_its_first_round(tmp_path):
    """So a log alone always means a lost commit record, never a crash to clean up."""
    d = tmp_path / "camp"
    syn = make_sources(DENS, N, random_state=SEED)
    c = Campaign(syn.sources, syn.weak_model, batch_size=BATCH, state_dir=d, progress=False)
    st = json.loads((d / STATE_FILE).read_text())
    assert st["n_rounds"] == 0 and st["log"]["bytes"] == 0 and c.n_rounds == 0


@pytest.mark.parametrize(
    "change, named",
    [
        ("content", "source 's1': its items changed"),
        ("scorer", "detector scorer is 'max_cosine', not 'rms_cosine'"),
        ("policy", "bandit policy is 'ucb', not 'thompson'"),
        ("reward", "reward is 'overlap', not 'gain'"),
        ("seed", "random_state=3, not 4"),
    ],
)
def test_a_resume_with_changed_inputs_names_what_changed(tmp_path, change, named):
    d = tmp_path / "camp"
    _campaign(d, rounds=2, bandit="ucb", detector={"scorer": "max_cosine"}).engine.close()
    syn = make_sources(DENS, N, random_state=SEED)
    kw = {}
    if change == "content":  # same size, same ids, one item's features changed
        syn.sources[1].X[7, 0] += 1.0
    elif change == "scorer":
        kw["detector"] = {"scorer": "rms_cosine"}
    elif change == "policy":
        kw["bandit"] = "thompson"
    elif change == "reward":
        kw.update(reward="gain", gold=(syn.sources[0].X[:40], np.zeros(40, dtype=int)))
    else:
        kw["random_state"] = 4
    with pytest.raises(StateError) as ei:
        _resume(d, syn, **kw)
    msg = str(ei.value)
    assert named in msg and "--force-new" in msg and "\n" not in msg
    assert _resume(d).n_rounds == 2  # unchanged inputs still resume


LOCKER = textwrap.dedent("""
    import sys, time
    from w2s_plugin.state import StateLock
    StateLock(sys.argv[1], "test")
    print("HOLDING", flush=True)
    time.sleep(120)
""")


def test_cli_second_writer_is_one_line_naming_the_holder(tmp_path, capsys, example_config):
    d = tmp_path / "runs" / "mixture"
    args = ["campaign", "run", "--config", str(example_config), "--max-rounds", "1", "--no-progress"]
    assert main(args) == 0  # and gives the folder up when done
    capsys.readouterr()
    proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(d)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "HOLDING"
        assert main(args) == 2
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and f"is being written by pid {proc.pid}" in err, err
        assert load_state(d)["n_rounds"] == 1
    finally:
        proc.kill()
        proc.wait()


def test_cli_force_new_moves_the_old_campaign_aside(tmp_path, capsys, example_config):
    d = tmp_path / "runs" / "mixture"
    assert (
        main(["campaign", "run", "--config", str(example_config), "--max-rounds", "2", "--no-progress"]) == 0
    )
    log = (d / LOG_FILE).read_bytes()
    capsys.readouterr()
    args = ["campaign", "run", "--config", str(example_config), "--max-rounds", "1", "--no-progress"]
    assert main([*args, "--force-new"]) == 0
    out = capsys.readouterr().out
    (old,) = [p for p in d.parent.iterdir() if p.name.startswith("mixture.old-")]
    assert f"moved to {old}" in out and "starting a new campaign" in out
    assert (old / LOG_FILE).read_bytes() == log and load_state(d)["n_rounds"] == 1


def test_orphan_temp_files_are_cleaned_on_start(tmp_path):
    d = tmp_path / "camp"
    _campaign(d, rounds=2).engine.close()
    litter = [d / ".state.json.k2j3.tmp", d / ".detector-snapshot-00000002.npz.x9.tmp"]
    for f in litter:
        f.write_bytes(b"torn")
    keep = d / "notes.tmp"  # not one of ours
    keep.write_text("mine")
    c = _resume(d)
    assert not any(f.exists() for f in litter) and keep.exists() and c.n_rounds == 2


# -- a front-end outside the package --------------------------------------------------------------
class ToyFrontEnd:
    """A minimal front-end a newcomer might write: draws a batch, lets the engine score and commit it."""

    def __init__(self, sources, weak_model, state_dir, resume=False):
        settings = RunSettings(batch_size=BATCH, state_dir=state_dir, random_state=0)  # the typed settings
        self.engine = Engine(
            sources, weak_model, kind="toy", owner="ToyFrontEnd", settings=settings, resume=resume
        )
        self.engine.extra.setdefault("toy_rounds", 0)

    def step(self):
        e = self.engine
        name = e.select()
        src = e.sources[name]
        with e.attempt(name):
            pos = src.candidates(e.next_batch_size(src))
            info = e.detect(name, src.get(pos))
            value = e.reward_of(info)
        src.mark_used(pos)
        e.extra["toy_rounds"] += 1
        row = {"source": name, "n": len(pos), "n_overlap": int(info.report.n_overlap)}
        return e.record(name, {**row, "density": row["n_overlap"] / len(pos)}, value, info)


def _toy_migrate(old, path):
    """The toy's "0.1.0" file: a list of sources' states and a bandit, no rounds yet."""
    return {
        "version": 3,
        "kind": "toy",
        "batch_size": old["batch"],
        "sources": old["sources"],
        "bandit": old["bandit"],
        "reward": {"name": "overlap"},
        "rounds": [],
        "items": None,
    }


class ToyPlugin:
    @hookimpl
    def register_state_kinds(self, register):
        register("toy", StateKind("ToyFrontEnd", legacy_file="toy_state.json", migrate=_toy_migrate))


def test_a_plugin_front_end_saves_and_resumes_its_own_state_kind(tmp_path, capsys, plugin_env):
    plugins.register(ToyPlugin(), name="toy")
    d = tmp_path / "toy"
    syn = make_sources(DENS, N, random_state=SEED)
    toy = ToyFrontEnd(syn.sources, syn.weak_model, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", W2SWarning)
        rows = [toy.step() for _ in range(3)]
    assert main(["campaign", "status", str(d)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ToyFrontEnd state in {d}: 3 round(s), 60 point(s) drawn")
    syn = make_sources(DENS, N, random_state=SEED)
    again = ToyFrontEnd(syn.sources, syn.weak_model, d, resume=True)
    assert again.engine.resumed and again.engine.extra["toy_rounds"] == 3
    assert [r["source"] for r in again.engine.rounds] == [r["source"] for r in rows]
    assert again.step()["round"] == 4
    overlap = sum(r == int(Region.OVERLAP) for r in again.engine.items["region"])
    assert overlap == sum(r["n_overlap"] for r in again.engine.rounds)
    # its older file is read through its own migration, and replaced by the first commit
    old = tmp_path / "old"
    old.mkdir()
    st = json.loads((d / STATE_FILE).read_text())
    fresh = make_sources(DENS, N, random_state=SEED).sources
    legacy = {"batch": BATCH, "sources": {s.name: s.state() for s in fresh}, "bandit": None}
    legacy["bandit"] = {
        **st["bandit"],
        "rounds": [0, 0, 0],
        "drawn": [0, 0, 0],
        "overlap": [0, 0, 0],
        "reward_sum": [0.0, 0.0, 0.0],
        "t": 0,
    }
    (old / "toy_state.json").write_text(json.dumps(legacy))
    assert load_state(old)["migrated_from"] == "toy_state.json"
    syn = make_sources(DENS, N, random_state=SEED)
    moved = ToyFrontEnd(syn.sources, syn.weak_model, old, resume=True)
    moved.step()
    assert not (old / "toy_state.json").exists() and load_state(old)["kind"] == "toy"
    assert os.path.exists(old / LOG_FILE)
