"""State folders written by w2s_plugin 0.1.0 (tests/data/state_0_1_0, made by make_state_fixtures.py
with that version) resume with the current code and continue exactly as the uninterrupted run did."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parent / "data"
FIX = DATA / "state_0_1_0"
sys.path.insert(0, str(DATA))
import make_state_fixtures as fx  # noqa: E402

from w2s_plugin import Campaign  # noqa: E402
from w2s_plugin.engine import STATE_FILE, load_state, model_classes  # noqa: E402


def copy(tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(FIX / name / "state", dst)
    return dst, json.loads((FIX / name / "expected.json").read_text())


def test_campaign_v2_folder_resumes_and_continues_exactly(tmp_path):
    d, expected = copy(tmp_path, "campaign")
    syn = fx.campaign_sources()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = Campaign.resume(d, syn.sources, syn.weak_model, progress=False)
        assert c.resumed and "version 2" in c.migrated_from and c.n_rounds == fx.CAMPAIGN["stop"]
        # 0.1.0 logged weak labels as column indices; they come back as the weak model's classes
        assert set(c.items["weak_label"]) <= set(model_classes(syn.weak_model).tolist())
        c.run()
    r = c.results()
    assert r.sources_pulled == expected["sources"]
    assert [str(i) for i in r.items["id"]] == expected["ids"]
    assert [row["n_overlap"] for row in r.rounds] == expected["n_overlap"]
    st = json.loads((d / STATE_FILE).read_text())
    assert st["version"] == 3 and st["kind"] == "campaign" and st["reward"]["name"] == "overlap"
    assert load_state(d)["n_rounds"] == len(expected["sources"])


def test_modal_learner_state_folder_resumes_and_continues_exactly(tmp_path):
    pytest.importorskip("modAL")
    d, expected = copy(tmp_path, "modal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msl = fx.modal_learner(d, resume=True)
        assert msl.engine.resumed and msl.engine.migrated_from == "learner_state.json"
        assert len(msl.history) == fx.MODAL["stop"] and msl.pending is not None
        log = [fx.modal_step(msl) for _ in range(fx.MODAL["queries"] - fx.MODAL["stop"])]
    # the pending query of the 0.1.0 folder is asked again, then the picks go on as uninterrupted
    assert log == expected["log"][fx.MODAL["stop"]:]
    assert msl.bandit.overlap_.tolist() == expected["overlap"] and msl.bandit.drawn_.tolist() == expected["drawn"]
    assert not (d / "learner_state.json").exists() and json.loads((d / STATE_FILE).read_text())["kind"] == "modal"
