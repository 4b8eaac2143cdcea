"""State folders written by w2s_plugin 0.1.0 (tests/data/state_0_1_0, made by make_state_fixtures.py
with that version) resume with the current code and continue exactly as the uninterrupted run did."""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

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
    assert log == expected["log"][fx.MODAL["stop"] :]
    assert (
        msl.bandit.overlap_.tolist() == expected["overlap"]
        and msl.bandit.drawn_.tolist() == expected["drawn"]
    )
    assert (
        not (d / "learner_state.json").exists()
        and json.loads((d / STATE_FILE).read_text())["kind"] == "modal"
    )


@pytest.mark.label_studio
def test_label_studio_driver_folder_resumes_and_continues_exactly(tmp_path):
    import os
    import uuid

    if not os.environ.get("LABEL_STUDIO_URL"):
        pytest.skip("LABEL_STUDIO_URL is not set (a Label Studio server is needed)")
    pytest.importorskip("label_studio_sdk")
    from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend
    from w2s_plugin.integrations.label_studio.driver import CampaignDriver, make_client, project_tasks
    from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG

    d, expected = copy(tmp_path, "label_studio")
    client = make_client(os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"])
    proj = client.projects.create(title=f"w2s-migrate-{uuid.uuid4().hex[:6]}", label_config=LABEL_CONFIG)
    # the 0.1.0 run's project and backend state, moved to a fresh project of this server
    legacy = d / "label_studio_campaign.json"
    legacy.write_text(legacy.read_text().replace('"project": 2', f'"project": {proj.id}'))
    (d / "model" / "2").rename(d / "model" / str(proj.id))
    for k in (0, 1):
        shutil.copy(FIX / "label_studio" / f"pool{k}.csv", tmp_path / f"pool{k}.csv")
    drv = CampaignDriver(
        client,
        proj.id,
        fx.ls_sources(tmp_path),
        batch_size=fx.LS["batch"],
        bandit="ucb",
        backend=OverlapDensityBackend(model_dir=d / "model", keywords=EASY, random_state=0),
        state_dir=d,
        progress=False,
        random_state=0,
    )
    stop = fx.LS["stop"]
    assert drv.engine.resumed and len(drv.rounds) == stop
    rows = drv.run()
    assert [[r["source"], r["n_overlap"]] for r in rows] == expected["rounds"][stop:]
    tasks = sorted(project_tasks(client, proj.id, fields="task_only"), key=lambda t: t["id"])
    assert [[t["data"]["w2s_source"], t["data"]["w2s_item_id"]] for t in tasks] == expected["items"][
        stop * fx.LS["batch"] :
    ]
    st = load_state(d)
    assert st["kind"] == "label_studio" and len(st["rounds"]) == len(expected["rounds"])
    assert not legacy.exists()


@pytest.mark.parametrize(
    "name,kind,rounds,drawn",
    [
        ("campaign", "campaign", 6, 60),
        ("modal", "MultiSourceLearner state", 5, 150),
        ("label_studio", "Label Studio CampaignDriver state", 4, 32),
    ],
)
def test_status_reads_every_front_ends_0_1_0_folder(capsys, tmp_path, name, kind, rounds, drawn):
    from w2s_plugin.cli import main

    d, _ = copy(tmp_path, name)
    before = sorted(p.name for p in d.iterdir())
    assert main(["campaign", "status", str(d)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{kind} in {d}: {rounds} round(s), {drawn} point(s) drawn")
    assert "reward overlap" in out and "written by w2s_plugin 0.1.0" in out
    assert main(["campaign", "status", str(d), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rounds"] == rounds and data["drawn"] == drawn and data["reward"] == "overlap"
    assert sorted(p.name for p in d.iterdir()) == before  # read-only
