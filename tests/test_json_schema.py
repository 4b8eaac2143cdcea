"""Every `--json` command prints one type per field, whatever the run (issue 21: `diagnose --json`
printed `"subsampled": 1.0` on some runs and `true` on others, a numpy bool through a float default).

The commands are found by walking the CLI's parser, so a new `--json` command without a schema
here fails the test. Each is run on inputs that exercise its branches (subsampled or not, with and
without sources, too few gold labels, gold winning, overlap and gain rewards, a source never
drawn); every leaf's type must be the same across runs (None only where a field is declared
nullable: a value that is undefined, e.g. the accuracy of an empty group)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from w2s_plugin import Campaign, Source
from w2s_plugin.cli import build_parser
from w2s_plugin.cli import main as cli

pytestmark = pytest.mark.usefixtures("restore_plugins")

#: keys whose children are named by the data (policies, sources, regions): one schema for all
MAPS = {"policies", "sources", "regions", "source_overlap", "registers"}
#: fields that may be None where the value is undefined (and only those)
NULLABLE = {
    "diagnose": {
        "p_value",
        "gap",
        "gap_ci[]",
        "regions.*.accuracy",
        "regions.*.ci_low",
        "regions.*.ci_high",
        "regions.*.density_ci[]",
        "regions.*.overlap_density",
        "rest.accuracy",
        "rest.ci_low",
        "rest.ci_high",
        "rest.density_ci[]",
        "rest.overlap_density",
        "sources.*.accuracy",
        "sources.*.ci_low",
        "sources.*.ci_high",
        "source_overlap.*.accuracy",
        "source_overlap.*.ci_low",
        "source_overlap.*.ci_high",
        "source_overlap.*.density_ci[]",
        "source_overlap.*.overlap_density",
        "decision",
    },
    "campaign status": {
        "budget",
        "migrated_from",
        "sources[].density",
        "sources[].ci_low",
        "sources[].ci_high",
        "hybrid",  # an object for a hybrid campaign (human_budget), null otherwise
        "label_studio_hybrid",  # the Label Studio queue's numbers (a hybrid driver's folder), null otherwise
    },
    "plugins": {"[].distribution"},
}


def _leaves(obj, path="", out=None):
    out = {} if out is None else out
    if isinstance(obj, dict):
        if not obj:
            out.setdefault(path + "{}", set()).add("empty")
        for k, v in obj.items():
            key = "*" if path.rsplit(".", 1)[-1] in MAPS else k
            _leaves(v, f"{path}.{key}" if path else key, out)
    elif isinstance(obj, list):
        for v in obj:
            _leaves(v, path + "[]", out)
    else:
        out.setdefault(path, set()).add(type(obj).__name__)
    return out


def _check(command, outputs):
    seen: dict = {}
    for o in outputs:
        for p, t in _leaves(o).items():
            seen.setdefault(p, set()).update(t)
    bad = {}
    for p, types in seen.items():
        types = types - {"empty"}
        if "NoneType" in types and p not in NULLABLE[command] and not p.startswith("decision"):
            bad[p] = types
        elif len(types - {"NoneType"}) > 1:
            bad[p] = types
    assert not bad, f"{command} --json: fields with more than one type: {bad}"
    return seen


def _json_commands():
    """(command words) of every subcommand with a --json flag."""
    found = []

    def walk(p, words):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, words + [name])
            elif "--json" in a.option_strings:
                found.append(" ".join(words))

    walk(build_parser(), [])
    return sorted(found)


def test_every_json_command_has_a_schema_here():
    assert _json_commands() == sorted(NULLABLE)


def _gold(y, n, seed):
    g = np.full(y.size, -1.0)
    i = np.random.default_rng(seed).choice(y.size, n, replace=False)
    g[i] = y[i]
    return g


def test_diagnose_json_one_type_per_field(tmp_path, capsys, weak_mixture):
    pool, P, _ = weak_mixture(250, 200, max_iter=500)
    np.save(tmp_path / "p.npy", P)
    np.save(tmp_path / "e.npy", pool.X)
    np.save(tmp_path / "src.npy", np.where(np.arange(pool.y.size) % 3, "a", "b"))
    # a weak model that is right everywhere: the gold-only candidate loses, and vice versa
    np.save(tmp_path / "p_true.npy", np.eye(2)[pool.y] * 0.9 + 0.05)
    runs = [
        ("p", 200, []),
        ("p", 200, ["--max-train", "50", "--sources", str(tmp_path / "src.npy")]),  # subsampled: true
        ("p", 30, []),  # too few gold labels: no policies
        ("p_true", 150, ["--strong-model", "knn"]),
    ]
    outs = []
    for proba, n_gold, extra in runs:
        np.save(tmp_path / "g.npy", _gold(pool.y, n_gold, n_gold))
        cmd = ["diagnose", "--proba", str(tmp_path / f"{proba}.npy"), "--embeddings", str(tmp_path / "e.npy")]
        rc = cli(cmd + ["--gold", str(tmp_path / "g.npy"), "--json"] + extra)
        assert rc == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert {o["decision"]["subsampled"] for o in outs} == {True, False}
    seen = _check("diagnose", outs)
    assert seen["decision.subsampled"] == {"bool"} and seen["policies.*.weak_weight"] == {"float"}
    assert seen["policies.*.n_train"] == {"int"} and seen["policies.*.accuracy"] == {"float"}
    assert all(
        o["recommendation"] in ("gold", "all", "confident", "overlap") or "+" in o["recommendation"]
        for o in outs
    )


def test_campaign_status_json_one_type_per_field(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(900, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    weak = LogisticRegression().fit(X[:100, :1], y[:100])

    def fn(A):
        return weak.predict_proba(np.asarray(A)[:, :1])

    outs = []
    for reward, kw in (("overlap", {}), ("gain", {"gold": (X[100:200], y[100:200]), "classes": [0, 1]})):
        srcs = [Source(f"s{i}", X[200 + 200 * i : 400 + 200 * i]) for i in range(3)] + [
            Source("tiny", X[-1:])
        ]
        d = tmp_path / reward
        with pytest.warns(UserWarning, match="fewer than 2 items"):
            c = Campaign(
                srcs,
                fn,
                batch_size=20,
                budget=100,
                state_dir=d,
                progress=False,
                random_state=0,
                reward=reward,
                **kw,
            )
        c.run()
        assert cli(["campaign", "status", str(d), "--json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert cli(["plugins", "--json"]) == 0
    plug = json.loads(capsys.readouterr().out)
    seen = _check("campaign status", outs)
    assert seen["overlap"] == {"float"} and seen["sources[].overlap"] == {"float"}
    _check("plugins", [plug])
