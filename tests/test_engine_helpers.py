"""The engine's helpers that the front-ends share (issue 13): one round's rollback, batch sizing,
windows over a source, user-given positions."""

import numpy as np
import pytest

from w2s_plugin import Source
from w2s_plugin.engine import Engine
from w2s_plugin.errors import W2SError
from w2s_plugin.params import UnknownParameterError


def _engine(n=(7, 30), **kw):
    rng = np.random.default_rng(0)
    srcs = [Source(f"s{i}", rng.normal(size=(k, 3)), random_state=i) for i, k in enumerate(n)]
    return Engine(srcs, kind="campaign", owner="Campaign", random_state=0, **kw)


def test_attempt_rewinds_the_pick_and_names_the_round_keeping_the_error_class():
    e = _engine()
    picks = []
    for exc in (W2SError("bad input"), UnknownParameterError("typo", ["x"], ["y"]), KeyError("bug")):
        name = e.select()
        with pytest.raises(type(exc)) as ei:
            with e.attempt(name):
                raise exc
        picks.append(name)
        if type(exc) is W2SError:
            assert str(ei.value) == f"round 1, source {name!r}: bad input"
        if isinstance(exc, UnknownParameterError):  # its own constructor: raised as it was
            assert ei.value is exc and ei.value.unknown == ["x"]
    assert len(set(picks)) == 1  # the random stream was rewound each time: the same pick again


def test_next_batch_size_never_strands_fewer_than_min_left():
    e = _engine(batch_size=6, budget=40)
    e.min_left = 2
    small, big = e.sources["s0"], e.sources["s1"]
    assert e.next_batch_size(small) == 7  # 6 of 7 would leave one point: take all 7
    assert e.next_batch_size(big) == 6
    e.budget = 6
    assert e.next_batch_size(small) == 6  # ... unless the budget has no room for it


def test_window_wraps_around_the_unused_items_and_positions_are_checked():
    s = Source("a", np.arange(20.0).reshape(10, 2), shuffle=False)
    s.mark_used([0, 1])
    win, off = s.window(4, 6)
    assert off == 6 and list(win) == [8, 9, 2, 3]
    assert list(s.window(20, 3)[0]) == list(range(2, 10))
    assert list(s.positions_of([[3], [4]], "teach")) == [3, 4]
    with pytest.raises(W2SError, match="teach: indices is empty"):
        s.positions_of([], "teach")
    with pytest.raises(W2SError, match=r"teach: indices out of range for source 'a' \(0..9\)"):
        s.positions_of([10], "teach")
