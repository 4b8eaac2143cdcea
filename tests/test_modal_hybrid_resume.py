"""Crash safety of the modAL hybrid learner: ``MultiSourceLearner(human_budget=...)`` killed with
SIGKILL mid-campaign resumes to the state of an uninterrupted run on the same seed.

A real subprocess runs the query/teach loop (real modAL ActiveLearner, scikit-learn digits, people
simulated by the true labels and logged when they answer) and is killed at three kinds of moment:
right after a query is saved (no answer yet), right after people's answers reach the answers file
(before the round commits), and right after a round commits (before the hybrid estimates are
re-chosen). Resumed each time with a learner rebuilt from its seed set; at the end no answer was
given twice, and the rounds, items, hybrid state, training set and the strong model's accuracy
equal the uninterrupted run's.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("modAL")

from sklearn.linear_model import LogisticRegression  # noqa: E402

from w2s_plugin.campaign import load_state  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::FutureWarning")]

SETUP = """
import numpy as np
from modAL.models import ActiveLearner
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from w2s_plugin import Source
from w2s_plugin.errors import W2SError
from w2s_plugin.integrations.modal import MultiSourceLearner

def pool4(A):
    return np.asarray(A).reshape(-1, 8, 8).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)

DIGITS = load_digits()
PERM = np.random.default_rng(0).permutation(len(DIGITS.target))
SEED_SET, POOL, TEST = PERM[:150], PERM[150:950], PERM[1250:]

def weak_learner():
    est = make_pipeline(FunctionTransformer(pool4), LogisticRegression(C=0.05, max_iter=500))
    return ActiveLearner(est, X_training=DIGITS.data[SEED_SET], y_training=DIGITS.target[SEED_SET])

def sources():
    X, y = DIGITS.data[POOL], DIGITS.target[POOL]
    return [Source("a", X[:400], y=y[:400], random_state=0), Source("b", X[400:], y=y[400:], random_state=0)]

SETTINGS = dict(batch_size=80, random_state=3)

def learner(state_dir, resume):
    if resume:
        return MultiSourceLearner.resume(state_dir, weak_learner(), sources(), **SETTINGS)
    return MultiSourceLearner(weak_learner(), sources(), human_budget=90, state_dir=state_dir, **SETTINGS)

def run(msl, answered=None):
    # people answer every query in full; the loop ends when the human budget is spent
    while True:
        try:
            name, pos, _ = msl.query(n_instances=10)
        except W2SError as exc:
            if "human budget is spent" not in str(exc):
                raise
            return msl
        if answered is not None:
            answered(name, pos)
        msl.teach(name, pos, msl.sources[name].y[pos])
"""
_NS: dict = {}
exec(SETUP, _NS)  # the same setup here and in the child processes

CHILD = SETUP + textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from w2s_plugin import hybrid as H
    state_dir, where, kill_at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    calls = [0]

    def count():
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def after(orig):  # SIGKILL once orig has run (its writes are on disk)
        def wrapped(*a, **k):
            out = orig(*a, **k)
            count()
            return out
        return wrapped

    def before(orig):  # SIGKILL before orig runs
        def wrapped(*a, **k):
            count()
            return orig(*a, **k)
        return wrapped

    if where == "query":  # the query is saved as pending; nobody has answered it yet
        MultiSourceLearner.query = after(MultiSourceLearner.query)
    elif where == "answers":  # the answers are in the answers file; the round is not committed
        H.HybridLabeling.record_answers = after(H.HybridLabeling.record_answers)
    elif where == "commit":  # the round is committed; the hybrid estimates are not re-chosen yet
        H.HybridLabeling.after_commit = before(H.HybridLabeling.after_commit)

    def answered(name, pos):
        with open(state_dir.parent / "answered.txt", "a") as fh:
            fh.write("".join(f"{name}:{int(p)}\\n" for p in pos))

    run(learner(state_dir, (state_dir / "state.json").exists()), answered)
    print("DONE", flush=True)
""")


def test_sigkill_mid_campaign_then_resume_equals_an_uninterrupted_run_and_never_asks_twice(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    d = tmp_path / "msl"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    def child(where, kill_at):
        return subprocess.run(
            [sys.executable, str(script), str(d), where, str(kill_at)],
            capture_output=True,
            env=env,
            timeout=300,
        )

    # a resumed learner's first after_commit is the one binding the hybrid state runs: "commit" counts it
    kills = [("query", 2), ("answers", 2), ("commit", 2), ("answers", 3), ("query", 1), ("commit", 3)]
    progress = []
    for where, kill_at in kills:
        out = child(where, kill_at)
        assert out.returncode == -signal.SIGKILL, (where, kill_at, out.stderr.decode()[-2000:])
        st = load_state(d)
        progress.append((len(st["rounds"]), st["pending"] is not None))
    rounds = [n for n, _ in progress]
    assert rounds == sorted(set(rounds)) and rounds[-1] < 9, progress  # each child got further; none ended
    assert {pending for _, pending in progress} == {True, False}, progress
    out = child("none", 0)
    assert out.returncode == 0 and b"DONE" in out.stdout, out.stderr.decode()[-2000:]

    answered = (tmp_path / "answered.txt").read_text().split()
    assert len(answered) == len(set(answered)) == 90  # people never answer an item twice

    ref = _NS["run"](_NS["learner"](tmp_path / "ref", False))
    st, st_ref = load_state(d), load_state(tmp_path / "ref")
    assert len(st["rounds"]) == 9
    for key in ("rounds", "items", "hybrid", "bandit"):
        assert st[key] == st_ref[key], key
    assert st["hybrid"] == json.loads(json.dumps(ref.engine.extra["hybrid"]))

    resumed = _NS["learner"](d, True)
    assert resumed.engine.hybrid.status()["n_human"] == 90
    X1, y1, w1 = resumed.training_set()
    X2, y2, w2 = ref.training_set()
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2) and np.array_equal(w1, w2)
    # the modAL learner rebuilt from the recorded labels predicts as the uninterrupted one
    digits, test = _NS["DIGITS"], _NS["TEST"]
    Xt, yt = digits.data[test], digits.target[test]
    assert np.array_equal(resumed.learner.predict(Xt), ref.learner.predict(Xt))
    acc = LogisticRegression(max_iter=2000).fit(X1, y1, sample_weight=w1).score(Xt, yt)
    acc_ref = LogisticRegression(max_iter=2000).fit(X2, y2, sample_weight=w2).score(Xt, yt)
    assert acc == acc_ref and acc > 0.8, (acc, acc_ref)
