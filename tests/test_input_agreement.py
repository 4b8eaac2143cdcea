"""Inputs that must agree are checked at the door; a reward that never varies is said; small
sources are exhausted and said (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from w2s_plugin import Campaign, Source
from w2s_plugin.cli import main as cli
from w2s_plugin.diagnostics import diagnose
from w2s_plugin.errors import DataError, W2SError
from w2s_plugin.validation import check_classes_agree


def _spam_world(seed=0):
    """Two classes named by strings; four sources, one of them poisoned: its weak view belongs to
    other items, so its weak labels are confidently wrong for the strong features."""
    rng = np.random.default_rng(seed)
    n = 1500
    y = rng.integers(2, size=n)
    X = rng.normal(size=(n, 6)) + y[:, None] * 1.2
    names = np.array(["nonspam", "spam"])
    weak = LogisticRegression().fit(X[:200], names[y[:200]])
    srcs = [Source(f"s{i}", X[300 + 300 * i : 600 + 300 * i]) for i in range(3)]
    p = np.arange(1200, 1500)
    flipped = p[np.argsort(y[p], kind="stable")][::-1]  # weak view of an item of the other class first
    srcs.append(Source("poisoned", views={"weak": X[flipped], "strong": X[p]}))
    gold = (X[200:300], names[y[200:300]])  # gold items apart from every source, string labels
    return weak, srcs, gold


def test_string_gold_against_a_callable_weak_model_is_one_line_naming_both_sets():
    """The issue's example: callable weak model returning probabilities, string gold labels,
    reward='gain', no classes=. Before: every reward 0.0 and round-robin draws, silently."""
    weak, srcs, gold = _spam_world()

    def fn(A):
        return weak.predict_proba(np.asarray(A))

    with pytest.raises(DataError) as ei:
        Campaign(srcs, fn, reward="gain", gold=gold, batch_size=25, progress=False, random_state=0)
    msg = str(ei.value)
    assert "\n" not in msg and "'nonspam'" in msg and "'spam'" in msg and "0..k-1" in msg
    assert "classes=" in msg
    # with the fix the message names, the same campaign runs and its rewards vary by source
    c = Campaign(
        srcs,
        fn,
        reward="gain",
        gold=gold,
        batch_size=25,
        budget=400,
        progress=False,
        random_state=0,
        classes=weak.classes_,
    )
    c.run()
    assert len({round(r["reward"], 6) for r in c.rounds}) > 3 and not c.warnings()
    assert c.pulls()["poisoned"] < c.n_rounds / 4  # the poisoned source gets less than its round-robin share


def test_gold_outside_the_declared_classes_and_integer_gold_beyond_the_columns():
    weak, srcs, gold = _spam_world()
    with pytest.raises(DataError, match=r"'ham'.*classes=\[\.\.\.\]"):
        Campaign(
            srcs,
            weak,
            reward="gain",
            gold=(gold[0], np.where(gold[1] == "spam", "spam", "ham")),
            progress=False,
        )
    ints = (gold[0], (gold[1] == "spam").astype(int) + 1)  # 1, 2 against columns 0, 1

    def fn(A):
        return weak.predict_proba(np.asarray(A))

    c = Campaign(srcs, fn, reward="overlap", gold=ints, batch_size=25, progress=False)
    with pytest.raises(DataError, match=r"\[1, 2\].*0\.\.k-1.*\[0, 1\]"):
        c.step()  # the first batch shows the column count: checked then, before anything is drawn
    assert c.n_drawn == 0


def test_check_classes_agree_accepts_equal_sets_across_dtypes():
    check_classes_agree(np.array([0.0, 1.0, np.nan]), np.array([0, 1]), owner="x")
    check_classes_agree(np.array([True, False]), [0, 1], owner="x")
    check_classes_agree(np.array(["a", "b"], dtype=object), np.array(["a", "b", "c"]), owner="x")
    check_classes_agree([-1, 0, 1], np.arange(2), owner="x")  # -1 = no label against integer classes
    with pytest.raises(DataError, match=r"^annotate: answers \['c'\] are not all among"):
        check_classes_agree(["c"], ["a", "b"], owner="annotate", labels_name="answers")


def test_diagnose_gold_index_beyond_the_columns_names_both_sets(diagnose_cli, capsys):
    P = np.tile([[0.7, 0.3]], (60, 1))
    E = np.random.default_rng(0).normal(size=(60, 3))
    g = np.r_[np.zeros(30), np.full(30, 2.0)]
    with pytest.raises(DataError) as ei:
        diagnose(P, E, g)
    assert "\n" not in str(ei.value) and "[0, 2]" in str(ei.value) and "[0, 1]" in str(ei.value)
    rc = diagnose_cli(P, E, g)
    err = capsys.readouterr().err
    assert rc != 0 and len(err.strip().splitlines()) == 1 and "columns" in err


def test_a_reward_that_never_varies_is_a_warning_in_the_live_table_and_status(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 3))
    weak = LogisticRegression().fit(X[:100], (X[:100, 0] > 0).astype(int))
    srcs = [Source(f"s{i}", X[100 + 200 * i : 300 + 200 * i]) for i in range(3)]
    c = Campaign(
        srcs,
        weak,
        reward=lambda info: 0.25,
        batch_size=20,
        budget=240,
        state_dir=tmp_path / "c",
        progress=False,
        random_state=0,
    )
    c.run()
    assert sorted(c.pulls().values()) == [4, 4, 4]  # ties: the bandit draws round robin
    (w,) = c.warnings()
    assert "0.25 in all 12 rounds" in w and "round robin" in w and "likely cause" in w
    assert "WARNING" in c.engine.postfix()
    assert cli(["campaign", "status", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "WARNING: reward" in out and "round robin" in out
    assert cli(["campaign", "status", str(tmp_path / "c"), "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["warnings"] == [w]


def test_a_varying_reward_gives_no_warning():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 3))
    weak = LogisticRegression().fit(X[:100], (X[:100, 0] > 0).astype(int))
    srcs = [Source(f"s{i}", X[100 + 200 * i : 300 + 200 * i]) for i in range(2)]
    c = Campaign(srcs, weak, batch_size=20, budget=200, progress=False, random_state=0)
    c.run()
    assert c.warnings() == [] and "WARNING" not in c.engine.postfix()


def test_a_source_with_fewer_than_two_items_is_exhausted_and_said():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(402, 4))
    weak = LogisticRegression().fit(X[:100], (X[:100, 0] > 0).astype(int))
    srcs = [Source("a", X[:200]), Source("b", X[200:400]), Source("c4", X[400:401])]
    with pytest.warns(UserWarning, match=r"\['c4'\] hold fewer than 2 items.*exhausted"):
        c = Campaign(srcs, weak, batch_size=30, progress=False, random_state=0)
    c.run()
    assert c.n_drawn == 400 and c.pulls()["c4"] == 0 and c.done
    with pytest.raises(W2SError, match="larger than every source"):  # nothing drawable at all: an error
        Campaign([Source("c4", X[:1])], weak, batch_size=2, progress=False)
