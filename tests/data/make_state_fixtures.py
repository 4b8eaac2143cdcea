"""Writes the 0.1.0 state folders under tests/data/state_0_1_0/ (run ONCE with w2s_plugin 0.1.0,
commit a3b9b33).

Each folder is a run interrupted part-way; ``expected.json`` beside it holds what the same run, left
uninterrupted, picked and drew, so tests/test_state_migration.py can check that the current code
resumes each folder and continues exactly. Kept for the record; rerunning it with a later version
would write that version's format instead.

    python tests/data/make_state_fixtures.py            # campaign + modAL folders
    python tests/data/make_state_fixtures.py --label-studio   # also the Label Studio driver (needs a server)
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np

warnings.simplefilter("ignore")
OUT = Path(__file__).resolve().parent / "state_0_1_0"

# -- shared recipes (the test imports these to rebuild the same sources and models) -----------------
CAMPAIGN = dict(densities=[0.1, 0.3, 0.6], n=80, seed=5, batch=10, budget=200, hist=40, stop=6)
MODAL = dict(seed=1, n=150, batch=30, n_instances=4, queries=10, stop=5)
LS = dict(batch=8, rounds=8, stop=4)


def campaign_sources():
    from w2s_plugin.simulation import make_sources

    c = CAMPAIGN
    return make_sources(c["densities"], c["n"], n_weak_train=200, n_test=30, random_state=c["seed"])


def campaign(state_dir=None):
    from w2s_plugin import Campaign

    c = CAMPAIGN
    syn = campaign_sources()
    return Campaign(
        syn.sources,
        syn.weak_model,
        bandit="thompson",
        detector={"history_size": c["hist"]},
        batch_size=c["batch"],
        budget=c["budget"],
        state_dir=state_dir,
        progress=False,
        random_state=c["seed"],
    )


def modal_setup():
    from modAL.models import ActiveLearner
    from sklearn.linear_model import LogisticRegression

    from w2s_plugin import Source
    from w2s_plugin.datasets import make_overlap_mixture

    m = MODAL
    base = make_overlap_mixture(20, 20, 20, random_state=m["seed"])
    sources = []
    for k, (name, (e, h, o)) in enumerate({"low": (0.7, 0.2, 0.1), "high": (0.2, 0.2, 0.6)}.items()):
        s = base.sample(
            int(m["n"] * e), int(m["n"] * h), int(m["n"] * o), random_state=100 * m["seed"] + k + 1
        )
        sources.append(Source(name, s.X, y=s.y, random_state=m["seed"]))
    weak = ActiveLearner(LogisticRegression(solver="liblinear"), X_training=base.X[:, :20], y_training=base.y)
    return sources, _FirstColumns(weak)


class _FirstColumns:
    """The weak learner sees the first 20 (easy) features only."""

    def __init__(self, learner):
        self.learner = learner
        self.X_training = learner.X_training

    def predict_proba(self, X):
        return self.learner.predict_proba(np.asarray(X)[:, :20])

    def teach(self, X, y, **kw):
        self.learner.teach(np.asarray(X)[:, :20], y, **kw)
        self.X_training = self.learner.X_training


def modal_learner(state_dir=None, resume=False):
    from w2s_plugin.integrations.modal import MultiSourceLearner

    m = MODAL
    sources, learner = modal_setup()
    kw = dict(batch_size=m["batch"], random_state=m["seed"])
    if resume:
        return MultiSourceLearner.resume(state_dir, learner, sources, **kw)
    return MultiSourceLearner(learner, sources, state_dir=state_dir, **kw)


def modal_step(msl):
    name, pos, _ = msl.query(n_instances=MODAL["n_instances"])
    msl.teach(name, pos, msl.sources[name].y[pos])
    return [name, [int(p) for p in pos]]


def ls_sources(folder: Path):
    from w2s_plugin import Source
    from w2s_plugin.integrations.label_studio.synthetic import make_reviews

    paths = []
    for k, (ov, hard) in enumerate([(0.05, 0.45), (0.6, 0.2)]):
        path = folder / f"pool{k}.csv"
        if not path.exists():
            recs = make_reviews(24, overlap=ov, hard=hard, random_state=100 + k, prefix=f"s{k}-")
            with open(path, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=["id", "text", "label", "region"])
                w.writeheader()
                w.writerows(recs)
        paths.append(path)
    return [Source.from_path(p, id_column="id", random_state=k) for k, p in enumerate(paths)]


def main():
    OUT.mkdir(exist_ok=True)
    # 1. Campaign (state v2): 6 of 20 rounds
    d = OUT / "campaign"
    shutil.rmtree(d, ignore_errors=True)
    full = campaign()
    full.run()
    expected = {
        "sources": full.results().sources_pulled,
        "ids": [str(i) for i in full.items["id"]],
        "n_overlap": [r["n_overlap"] for r in full.rounds],
    }
    part = campaign(d / "state")
    part.run(max_rounds=CAMPAIGN["stop"])
    (d / "expected.json").write_text(json.dumps(expected))

    # 2. MultiSourceLearner (learner_state.json v2): 5 of 10 queries taught, the 6th awaiting labels
    d = OUT / "modal"
    shutil.rmtree(d, ignore_errors=True)
    ref = modal_learner()
    log = [modal_step(ref) for _ in range(MODAL["queries"])]
    part = modal_learner(d / "state")
    for _ in range(MODAL["stop"]):
        modal_step(part)
    part.query(n_instances=MODAL["n_instances"])
    (d / "expected.json").write_text(
        json.dumps({"log": log, "overlap": ref.bandit.overlap_.tolist(), "drawn": ref.bandit.drawn_.tolist()})
    )

    if "--label-studio" in sys.argv:
        import uuid

        from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend
        from w2s_plugin.integrations.label_studio.driver import CampaignDriver, make_client
        from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG

        d = OUT / "label_studio"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        client = make_client(os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"])
        import tempfile

        from w2s_plugin.integrations.label_studio.driver import project_tasks

        runs = {}
        for name, rounds in (("ref", LS["rounds"]), ("state", LS["stop"])):
            proj = client.projects.create(
                title=f"w2s-fixture-{uuid.uuid4().hex[:6]}", label_config=LABEL_CONFIG
            )
            model_dir = Path(tempfile.mkdtemp()) if name == "ref" else d / "state" / "model"
            drv = CampaignDriver(
                client,
                proj.id,
                ls_sources(d),
                batch_size=LS["batch"],
                bandit="ucb",
                backend=OverlapDensityBackend(model_dir=model_dir, keywords=EASY, random_state=0),
                state_dir=None if name == "ref" else d / "state",
                progress=False,
                random_state=0,
            )
            runs[name] = [[r["source"], r["n_overlap"]] for r in drv.run(rounds)]
            tasks = sorted(project_tasks(client, proj.id, fields="task_only"), key=lambda t: t["id"])
            runs[name + "_ids"] = [[t["data"]["w2s_source"], t["data"]["w2s_item_id"]] for t in tasks]
        (d / "expected.json").write_text(json.dumps({"rounds": runs["ref"], "items": runs["ref_ids"]}))


if __name__ == "__main__":
    main()
