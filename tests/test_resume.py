"""Crash safety: a campaign killed with SIGKILL at random moments resumes exactly where it stopped."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from collections import Counter

import numpy as np
import pytest

from w2s_plugin import Campaign
from w2s_plugin.campaign import LOG_FILE, STATE_FILE, load_state
from w2s_plugin.detector import W2SWarning
from w2s_plugin.simulation import make_sources

DENS = [0.05, 0.1, 0.2, 0.3, 0.5]
SEED, N, BATCH, BUDGET, HIST = 11, 300, 20, 640, 120

CHILD = textwrap.dedent(f"""
    import sys, warnings
    warnings.simplefilter("ignore")
    from pathlib import Path
    from w2s_plugin import Campaign
    from w2s_plugin.simulation import make_sources
    state_dir = sys.argv[1]
    syn = make_sources({DENS}, {N}, random_state={SEED})
    if (Path(state_dir) / "state.json").exists():
        c = Campaign.resume(state_dir, syn.sources, syn.weak_model, progress=False)
    else:
        c = Campaign(syn.sources, syn.weak_model, bandit="thompson", detector={{"history_size": {HIST}}},
                     batch_size={BATCH}, budget={BUDGET}, state_dir=state_dir, progress=False,
                     random_state={SEED})
    c.run()
    print("DONE", c.n_rounds, flush=True)
""")


def _new_campaign(state_dir=None, **settings):
    """A campaign on the test's sources and seed, in this process; without ``settings``, the one CHILD
    runs."""
    syn = make_sources(DENS, N, random_state=SEED)
    settings = settings or {"bandit": "thompson", "detector": {"history_size": HIST}, "budget": BUDGET}
    return Campaign(
        syn.sources,
        syn.weak_model,
        batch_size=BATCH,
        state_dir=state_dir,
        progress=False,
        random_state=SEED,
        **settings,
    )


def _uninterrupted(state_dir=None):
    c = _new_campaign(state_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", W2SWarning)
        c.run()
    return c


def _committed_rounds(state_dir):
    try:
        return json.loads((state_dir / STATE_FILE).read_text())["n_rounds"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _check_invariants(state_dir):
    st = load_state(state_dir)
    rounds, items = st["rounds"], st["items"]
    keys = list(zip(items["source"], items["id"]))
    assert len(keys) == len(set(keys)), "an item was drawn twice"
    assert st["n_rounds"] == len(rounds) and [r["round"] for r in rounds] == list(range(1, len(rounds) + 1))
    assert len(keys) == len(rounds) * BATCH == st["n_drawn"]
    b = st["bandit"]
    pulls = Counter(r["source"] for r in rounds)
    assert b["t"] == len(rounds)
    assert {n: k for n, k in zip(b["names"], b["rounds"]) if k} == dict(pulls)
    assert b["drawn"] == [BATCH * pulls.get(n, 0) for n in b["names"]]
    assert b["overlap"] == [sum(r["n_overlap"] for r in rounds if r["source"] == n) for n in b["names"]]
    return len(rounds)


@pytest.mark.slow
def test_sigkill_at_random_rounds_then_resume_equals_an_uninterrupted_run(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    state_dir = tmp_path / "camp"
    rng = np.random.default_rng(0)
    total = BUDGET // BATCH
    targets = sorted(rng.choice(np.arange(3, total - 3), size=4, replace=False).tolist())
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    kills = []
    for target in targets:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(state_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        deadline = time.monotonic() + 60
        while _committed_rounds(state_dir) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(float(rng.uniform(0, 0.03)))  # land anywhere inside the next round, writes included
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
        done = _check_invariants(state_dir)
        assert 0 < done < total
        kills.append(done)
    out = subprocess.run(
        [sys.executable, str(script), str(state_dir)], capture_output=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert _check_invariants(state_dir) == total
    assert len(set(kills)) >= 3  # the kills really happened at different rounds

    ref = _uninterrupted()
    st = load_state(state_dir)
    assert st["rounds"] == json.loads(json.dumps(ref.rounds))
    assert st["items"] == json.loads(json.dumps(ref.items))
    assert st["bandit"] == json.loads(json.dumps(ref.bandit.to_dict()))
    # the detector's cross-round history (accumulate) resumed exactly too
    syn = make_sources(DENS, N, random_state=SEED)
    resumed = Campaign.resume(state_dir, syn.sources, syn.weak_model, progress=False)
    assert resumed.done
    assert np.array_equal(resumed.detector._hist_conf, ref.detector._hist_conf)
    assert np.array_equal(resumed.detector._hist_emb, ref.detector._hist_emb)
    assert resumed.detector.n_seen_ == ref.detector.n_seen_ == BUDGET
    assert resumed.detector._rng.bit_generator.state == ref.detector._rng.bit_generator.state


def test_in_process_stop_and_resume_many_times_is_exact(tmp_path):
    ref = _uninterrupted()
    d = tmp_path / "c"
    c = _new_campaign(d)
    c.run(max_rounds=7)
    for k in (1, 5, 13, 2, 100):
        syn = make_sources(DENS, N, random_state=SEED)
        c = Campaign.resume(d, syn.sources, syn.weak_model, progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", W2SWarning)
            c.run(max_rounds=k)
    assert c.done
    assert c.rounds == json.loads(json.dumps(ref.rounds))
    assert c.items == json.loads(json.dumps(ref.items))
    # compaction ran: one snapshot and a bounded tail of deltas
    files = sorted(p.name for p in d.iterdir())
    assert sum(f.startswith("detector-snapshot") for f in files) == 1


def test_torn_tail_of_the_log_is_cut_and_stray_files_are_ignored(tmp_path):
    d = tmp_path / "c"
    c = _new_campaign(d, budget=200)
    c.run(max_rounds=4)
    committed = (d / LOG_FILE).stat().st_size
    with open(d / LOG_FILE, "ab") as fh:  # a crash in the middle of writing round 5's line
        fh.write(b'{"row": {"round": 5, "sou')
    (d / "detector-delta-00000005.npz").write_bytes(b"half a file")
    (d / ".state.json.abc.tmp").write_bytes(b"{")
    assert load_state(d)["n_rounds"] == 4  # read-only view ignores the tail
    syn = make_sources(DENS, N, random_state=SEED)
    c2 = Campaign.resume(d, syn.sources, syn.weak_model, progress=False)
    assert c2.n_rounds == 4 and (d / LOG_FILE).stat().st_size == committed
    assert not (d / "detector-delta-00000005.npz").exists()
    c2.run()
    assert c2.n_drawn == 200 and load_state(d)["n_rounds"] == 10


def test_resume_refuses_a_different_campaign(tmp_path):
    d = tmp_path / "c"
    _new_campaign(d, budget=200).run(max_rounds=2)
    syn = make_sources(DENS, N, random_state=SEED)
    with pytest.raises(ValueError, match="already holds a campaign"):
        Campaign(syn.sources, syn.weak_model, batch_size=BATCH, state_dir=d)
    with pytest.raises(ValueError, match="batch_size=20"):
        Campaign.resume(d, syn.sources, syn.weak_model, batch_size=30)
    with pytest.raises(ValueError, match="sources"):
        Campaign.resume(d, syn.sources[:3], syn.weak_model)
    other = make_sources(DENS, N, random_state=SEED + 1)  # same names and sizes, other draw order
    with pytest.raises(ValueError, match="different order"):
        Campaign.resume(d, other.sources, syn.weak_model)
    (d / STATE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Campaign.resume(d, syn.sources, syn.weak_model)
