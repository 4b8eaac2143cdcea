"""Hybrid campaigns (w2s_plugin.hybrid): people label where weak labels fail, weak labels fill in.

Real data: scikit-learn's handwritten digits, a weak labeler trained on a separate labelled split
that sees only a 4x4 downsampled image, people simulated by the true labels."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from w2s_plugin import Campaign, Source
from w2s_plugin.campaign import load_state
from w2s_plugin.errors import DataError, StateError, W2SError
from w2s_plugin.hybrid import ANSWERS_FILE, diverse_pick, wilson

SETUP = """
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from w2s_plugin import Source

def pool4(A):
    return A.reshape(-1, 8, 8).reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)

class Weak:
    def __init__(self, X, y):
        self.m = LogisticRegression(C=0.05, max_iter=500).fit(pool4(X), y)
        self.classes_ = self.m.classes_
    def predict_proba(self, A):
        return self.m.predict_proba(pool4(A))

def digits_setup(n_pool=900, seed=0):
    d = load_digits()
    perm = np.random.default_rng(seed).permutation(len(d.target))
    w, p, t = perm[:150], perm[150:150 + n_pool], perm[1300:]
    weak = Weak(d.data[w], d.target[w])
    src = Source("digits", d.data[p], y=d.target[p], random_state=seed)
    return src, weak, (d.data[t], d.target[t])
"""
_NS: dict = {}
exec(SETUP, _NS)  # the same setup in this process and in the crash test's child processes
digits_setup = _NS["digits_setup"]


def truth(batch):
    return batch.y


def _acc(X, y, w, test):
    return LogisticRegression(max_iter=2000).fit(X, y, sample_weight=w).score(*test)


def test_hybrid_campaign_spends_the_budget_once_and_beats_weak_labels_alone(tmp_path):
    src, weak, test = digits_setup()
    asked = []

    def annotate(batch):
        asked.extend(batch.positions.tolist())
        return batch.y

    c = Campaign(
        [src],
        weak,
        batch_size=150,
        budget=900,
        human_budget=120,
        annotate=annotate,
        state_dir=tmp_path / "c",
        random_state=0,
        progress=False,
    )
    c.run()
    assert len(asked) == len(set(asked)) == 120  # the whole budget, never an item twice
    st = c.hybrid_status()
    assert st["n_human"] == 120 and st["n_weak"] == 780
    assert 0.1 * 120 <= st["n_audit"] <= 0.25 * 120  # the audit share (0.15, at least one a round)
    X, y, w = c.training_set()
    assert X.shape == (900, 64) and y.shape == w.shape == (900,)
    assert int((w == 1).sum()) >= 120 and set(np.unique(w)) <= {0.0, 0.1, 0.3, 1.0}
    pos = np.asarray(c.items["position"])  # one source: training rows are in the items' order
    human = np.asarray([("digits", int(p)) in c.engine.hybrid.answers for p in pos])
    assert human.sum() == 120 and np.all(w[human] == 1)
    # the human labels are the true ones; the weak ones are the weak model's
    assert np.mean(y[human] == src.y[pos][human]) == 1.0
    weak_only = _acc(X, np.asarray(c.items["weak_label"]), None, test)
    hybrid = _acc(X, y, w, test)
    assert hybrid > weak_only + 0.03, (hybrid, weak_only)  # measured: .847 vs .799
    # the audit: weak-label precision with a Wilson interval that holds the truth of the pool
    p = st["weak_precision"]
    true_prec = np.mean(np.asarray(c.items["weak_label"]) == src.y[pos])
    assert p[1] <= true_prec <= p[2]
    assert "human=120/120" in c.engine.postfix() and "weak_prec=" in c.engine.postfix()
    assert all("n_human" in r and "weak_precision" in r for r in c.rounds)
    assert sum(r["n_human"] for r in c.rounds) == 120
    assert (tmp_path / "c" / ANSWERS_FILE).exists()


def test_routing_finds_more_weak_label_errors_than_random_and_diverse_batches_cover_more_classes():
    src, weak, _ = digits_setup(seed=1)
    c = Campaign(
        [src],
        weak,
        batch_size=300,
        budget=900,
        human_budget=90,
        annotate=truth,
        audit_share=0.0,
        random_state=1,
        progress=False,
    )
    c.run()
    pos = np.asarray(c.items["position"])
    wl = np.asarray(c.items["weak_label"])
    human = np.asarray([("digits", int(p)) in c.engine.hybrid.answers for p in pos])
    err_routed = np.mean(wl[human] != src.y[pos][human])
    err_all = np.mean(wl != src.y[pos])
    assert err_routed > err_all + 0.15, (err_routed, err_all)
    # diverse pick vs top-n on the same scores: more classes among the picks
    rng = np.random.default_rng(0)
    E = src.X[:600]
    scores = rng.random(600) + (src.y[:600] == 3) * 2  # the top scores are all one class
    top = np.argsort(-scores)[:30]
    div = diverse_pick(E, scores, 30, candidate_factor=10)
    assert len(set(div.tolist())) == 30
    assert np.unique(src.y[:600][div]).size > np.unique(src.y[:600][top]).size


def test_unknown_class_labels_from_annotate_are_one_line_error_naming_both_sets():
    src, weak, _ = digits_setup(n_pool=300)
    c = Campaign(
        [src],
        weak,
        batch_size=100,
        budget=300,
        human_budget=30,
        annotate=lambda b: ["cat"] * len(b),
        random_state=0,
        progress=False,
    )
    with pytest.raises(DataError) as e:
        c.step()
    msg = str(e.value)
    assert "\n" not in msg and "'cat'" in msg and "'9'" in msg
    assert c.n_rounds == 0 and c.sources["digits"].n_remaining == 300  # nothing consumed
    with pytest.raises(W2SError, match="human_budget"):
        Campaign([src], weak, annotate=truth, progress=False)


def test_training_set_of_a_multi_view_source_is_a_dict_of_views():
    src, weak, _ = digits_setup(n_pool=400)
    mv = Source("mv", src.X, y=src.y, views={"weak": src.X[:, :32]}, random_state=0)

    class WeakHalf:
        classes_ = weak.classes_

        def predict_proba(self, A):
            return weak.predict_proba(np.hstack([A, A]))

    c = Campaign(
        [mv],
        WeakHalf(),
        batch_size=100,
        budget=400,
        human_budget=40,
        annotate=truth,
        random_state=0,
        progress=False,
    )
    c.run()
    X, y, w = c.training_set()
    assert set(X) == {"weak", "strong"} and X["weak"].shape == (400, 32) and X["strong"].shape == (400, 64)
    assert y.shape == w.shape == (400,)


def test_stop_when_ends_the_campaign_when_human_labels_stop_paying():
    src, weak, _ = digits_setup()
    c = Campaign(
        [src],
        weak,
        batch_size=60,
        budget=900,
        human_budget=600,
        human_batch=20,
        annotate=truth,
        stop_when=lambda st: st["n_human"] >= 80,
        random_state=0,
        progress=False,
    )
    c.run()
    assert c.done and c.hybrid_status()["stopped"] and c.n_drawn < 900
    assert c.hybrid_status()["n_human"] == 80
    st = c.hybrid_status()
    assert st["cv_accuracy"] is not None and 0 < st["cv_accuracy"][0] <= 1


def test_wilson_interval():
    p, lo, hi = wilson(8, 10)
    assert p == 0.8 and lo == pytest.approx(0.490, abs=1e-3) and hi == pytest.approx(0.943, abs=1e-3)


CHILD = SETUP + textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from w2s_plugin import Campaign
    from w2s_plugin import hybrid as H
    state_dir, kill_at = sys.argv[1], int(sys.argv[2])
    step = int(sys.argv[3]) or None
    src, weak, _ = digits_setup(n_pool=600)

    def annotate(batch):
        with open(Path(state_dir).parent / "asked.txt", "a") as fh:
            fh.write("".join(f"{p}\\n" for p in batch.positions.tolist()))
        return batch.y

    orig = H.HybridLabeling.record_answers
    calls = [0]

    def record(self, *a, **k):  # SIGKILL right after an answer is on disk, before the round commits
        orig(self, *a, **k)
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    H.HybridLabeling.record_answers = record
    kw = dict(annotate=annotate, progress=False)
    if (Path(state_dir) / "state.json").exists():
        c = Campaign.resume(state_dir, [src], weak, **kw)
    else:
        c = Campaign([src], weak, batch_size=60, budget=600, human_budget=100, state_dir=state_dir,
                     random_state=3, hybrid_params={"human_step": step}, **kw)
    c.run()
    print("DONE", c.n_rounds, flush=True)
""")


@pytest.mark.slow
@pytest.mark.parametrize("step", [0, 4])
def test_sigkill_after_answers_are_saved_resumes_exactly_and_never_asks_twice(tmp_path, step):
    # step 4: each round asks its audit, then 4 routed labels, a refit, the next 4: the kills land
    # between the steps of a round (answers of some steps on disk, the round not committed)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    d = tmp_path / "camp"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for kill_at in (2, 3, 2):  # the 2nd, then 2 + 3 = 5th, then 7th answer batch is on disk when killed
        out = subprocess.run(
            [sys.executable, str(script), str(d), str(kill_at), str(step)],
            capture_output=True,
            env=env,
            timeout=300,
        )
        assert out.returncode == -signal.SIGKILL, out.stderr.decode()[-2000:]
    out = subprocess.run(
        [sys.executable, str(script), str(d), "0", str(step)], capture_output=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    asked = (tmp_path / "asked.txt").read_text().split()
    assert len(asked) == len(set(asked)) == 100  # a crash never asks people twice

    src, weak, _ = digits_setup(n_pool=600)
    sizes = []

    def annotate(batch):
        sizes.append(len(batch))
        return batch.y

    ref = Campaign(
        [src],
        weak,
        batch_size=60,
        budget=600,
        human_budget=100,
        annotate=annotate,
        state_dir=tmp_path / "ref",
        random_state=3,
        progress=False,
        hybrid_params={"human_step": step or None},
    )
    ref.run()
    assert sum(sizes) == 100
    if step:  # the rounds (10 labels each) really were asked in steps of at most 4
        assert max(sizes) <= step and len(sizes) >= 3 * ref.n_rounds
    st = load_state(d)
    assert st["rounds"] == json.loads(json.dumps(ref.rounds))
    assert st["items"] == json.loads(json.dumps(ref.items))
    assert st["hybrid"] == json.loads(json.dumps(ref.engine.extra["hybrid"]))
    src2, weak2, _ = digits_setup(n_pool=600)
    resumed = Campaign.resume(d, [src2], weak2, progress=False)
    X1, y1, w1 = resumed.training_set()
    X2, y2, w2 = ref.training_set()
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2) and np.array_equal(w1, w2)


def test_campaign_status_shows_the_split_the_audit_and_the_stopping_signal(tmp_path, capsys):
    from w2s_plugin.cli import main

    src, weak, _ = digits_setup(n_pool=600)
    d = tmp_path / "c"
    c = Campaign(
        [src],
        weak,
        batch_size=100,
        budget=600,
        human_budget=120,
        annotate=truth,
        state_dir=d,
        random_state=0,
        progress=False,
    )
    c.run()
    assert main(["campaign", "status", str(d), "--plot", str(tmp_path / "h.png")]) == 0
    out = capsys.readouterr().out
    assert "hybrid: 120 of 120 human labels spent" in out and "480 weak labels" in out
    assert "strong model accuracy on audit labels" in out and "weak-label precision on the audit" in out
    assert "value of the last human labels" in out
    assert (tmp_path / "h.png").stat().st_size > 10_000
    assert main(["campaign", "status", str(d), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)["hybrid"]
    live = c.hybrid_status()
    assert st["n_human"] == live["n_human"] == 120 and st["accuracy"][:3] == pytest.approx(
        live["accuracy"][:3]
    )
    assert st["weak_precision"] == pytest.approx(live["weak_precision"])
    assert st["weak_precision_by_source"]["digits"][0] == st["n_audit"] == live["n_audit"]


def test_gain_reward_turns_negative_when_weak_labels_stop_paying():
    src, weak, _ = digits_setup(n_pool=1000)
    c = Campaign(
        [src],
        weak,
        batch_size=100,
        budget=1000,
        human_budget=700,
        human_batch=70,
        annotate=truth,
        reward="gain",
        random_state=0,
        progress=False,
    )
    c.run()
    r = [row["reward"] for row in c.rounds]
    assert r[0] == 0.5  # no labels yet: neutral
    assert np.mean(r[1:3]) > 0.5 > np.mean(r[-3:]), r


def test_resume_keeps_the_hybrid_settings_and_refuses_a_changed_audit_share(tmp_path):
    src, weak, _ = digits_setup(n_pool=300)
    kw = dict(batch_size=100, budget=300, state_dir=tmp_path / "c", random_state=0, progress=False)
    c = Campaign([src], weak, human_budget=30, annotate=truth, audit_share=0.3, **kw)
    c.step()
    n_human = c.hybrid_status()["n_human"]
    c.engine.close()
    src2, weak2, _ = digits_setup(n_pool=300)
    with pytest.raises(StateError, match=r"audit_share=0.3, not 0.5; resume with audit_share=0.3"):
        Campaign.resume(tmp_path / "c", [src2], weak2, annotate=truth, audit_share=0.5, progress=False)
    again = Campaign.resume(tmp_path / "c", [src2], weak2, annotate=truth, progress=False)
    assert again.engine.hybrid.audit_share == 0.3 and again.hybrid_status()["n_human"] == n_human == 10
    again.run()
    assert again.hybrid_status()["n_human"] == 30  # the budget, spent once across the resume


def test_human_steps_close_the_gap_to_uncertainty_sampling_at_a_large_budget():
    # 300 human labels in 3 rounds: asked all at once, a round's 100 labels are picked by a model that
    # saw none of them; in steps of 25 with a refit between (human_step=25), as modAL's uncertainty
    # sampling re-fits between its batches of 25, the hybrid keeps up with it.
    pytest.importorskip("modAL")
    from modAL.models import ActiveLearner
    from modAL.uncertainty import uncertainty_sampling

    def strong():
        return LogisticRegression(C=1.0, max_iter=300, tol=1e-3)

    acc = {"one": [], "step": [], "us": []}
    for seed in (0, 1, 2):
        src, weak, (Xt, yt) = digits_setup(n_pool=1150, seed=seed)
        mu, sd = src.X.mean(axis=0), src.X.std(axis=0)
        sd[sd == 0] = 1.0
        for name, params in (("one", {"human_step": None}), ("step", {"human_step": 25})):
            c = Campaign(
                [Source("digits", src.X, y=src.y, random_state=seed)],
                weak,
                batch_size=384,
                budget=1150,
                human_budget=300,
                annotate=truth,
                random_state=seed,
                progress=False,
                hybrid_params=params,
            )
            c.run()
            X, y, w = c.training_set()
            keep = w > 0
            m = strong().fit((X[keep] - mu) / sd, y[keep], sample_weight=w[keep])
            acc[name].append(m.score((Xt - mu) / sd, yt))
        E = (src.X - mu) / sd
        first = np.random.default_rng(seed).choice(len(E), size=25, replace=False)
        learner = ActiveLearner(strong(), uncertainty_sampling, X_training=E[first], y_training=src.y[first])
        avail = np.ones(len(E), dtype=bool)
        avail[first] = False
        for _ in range(11):  # 25 + 11 x 25 = 300 labels
            idx = np.flatnonzero(avail)
            q, _ = learner.query(E[idx], n_instances=25)
            learner.teach(E[idx[q]], src.y[idx[q]])
            avail[idx[q]] = False
        acc["us"].append(learner.score((Xt - mu) / sd, yt))
    one, step, us = (float(np.mean(acc[k])) for k in ("one", "step", "us"))
    assert step > one + 0.015, acc  # measured: .964 vs .935 (steps +3.0 points)
    assert step > us - 0.01, acc  # measured: .964 vs .968 (uncertainty sampling 0.3 point higher)


def test_bad_human_step_or_route_weight_is_one_line_error():
    from w2s_plugin.hybrid import HybridLabeling

    for kw in ({"human_step": 0}, {"human_step": 2.5}, {"route_weight": 1.5}):
        with pytest.raises(W2SError) as e:
            HybridLabeling(None, 10, **kw)
        assert "\n" not in str(e.value) and next(iter(kw)) in str(e.value)


def test_a_run_saved_without_steps_resumes_without_them():
    # human_step=25 became the default; a run saved with whole-quota asks (None, or saved before the
    # option existed) must replay its rounds the same way, unless the caller says otherwise
    from w2s_plugin.hybrid import hybrid_resume_params

    assert hybrid_resume_params({"human_step": None}, None)["human_step"] is None
    assert hybrid_resume_params({}, {})["human_step"] is None
    assert hybrid_resume_params({"human_step": 25}, None)["human_step"] == 25
    assert hybrid_resume_params({}, {"human_step": 10})["human_step"] == 10
