"""The plugin contract: inline plugins used by name everywhere, a real third-party package found
through its entry point (and blocked by the environment variables), errors that name the plugin,
the core never importing a built-in, and the hook documentation kept in sync."""

import ast
import csv
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from w2s_plugin import (
    Campaign,
    ColumnView,
    Region,
    Source,
    SourceBandit,
    acquisition,
    detect_overlap,
    hookimpl,
    hookspecs,
    plugins,
)
from w2s_plugin.campaign import load_state
from w2s_plugin.cli import main
from w2s_plugin.datasets import make_overlap_mixture

PLUGIN_ENV = ("W2S_PLUGINS", "W2S_DISABLE_PLUGINS")

ROOT = Path(__file__).resolve().parents[1]
# plugin_env (restores W2S_PLUGINS / W2S_DISABLE_PLUGINS and the manager) lives in conftest.py


# --- an inline plugin: one of each kind --------------------------------------------------------

FAMILY = make_overlap_mixture(1, 1, 1, random_state=5)


class HalfEmbedder:
    """A 'framework model' the core knows nothing about: only the plugin's w2s_embed understands it."""

    def __init__(self, scale=2.0):
        self.scale = scale
        self.calls = 0


def confident_overlap(report, proba, n, *, random_state=None):
    """Detected overlap points first, most confident first; then the rest by confidence."""
    score = report.confidence + (report.regions == int(Region.OVERLAP))
    idx = np.lexsort((np.arange(score.size), -score))[:n]
    return idx, score[idx]


class NormScorer:
    """Overlap score = the row's Euclidean norm (easy to check from outside)."""

    def __init__(self, power=1.0):
        self.power = power

    def fit(self, X, rows=None):
        return self

    def score(self, X):
        return np.linalg.norm(np.asarray(X, dtype=float), axis=1) ** self.power


class LastSource:
    """Always the last active source."""

    def choose(self, stats, t, rng):
        return int(np.flatnonzero(stats.active)[-1])


def gen_source(location, name, **kw):
    """``gen://pool?seed=3&overlap=0.5&n=400``: a mixture pool generated on the fly."""
    q = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()} if location else {}
    n, dens = int(q.get("n", 400)), float(q.get("overlap", 0.3))
    n_o = int(n * dens)
    m = FAMILY.sample((n - n_o) // 2, n - n_o - (n - n_o) // 2, n_o, random_state=int(q.get("seed", 0)))
    return Source(
        name,
        m.X,
        y=m.y,
        extras={"regions": m.regions},
        **{k: v for k, v in kw.items() if k in ("shuffle", "random_state")},
    )


def weak_model():
    tr = FAMILY.sample(600, 600, 600, random_state=11)
    return ColumnView(FAMILY.easy_dims, LogisticRegression(max_iter=1000)).fit(tr.X, tr.y)


class InlinePlugin:
    def __init__(self):
        self.embedders = []

    @hookimpl
    def register_acquisition_strategies(self, register):
        register("test_confident_overlap", confident_overlap, needs_report=True)

    @hookimpl
    def register_overlap_scorers(self, register):
        register("test_norm", NormScorer)

    @hookimpl
    def register_bandit_policies(self, register):
        register("test_last", LastSource)

    @hookimpl
    def register_sources(self, register):
        register("test_gen", gen_source, schemes=("gen",))

    @hookimpl
    def register_models(self, register):
        def half(scale=2.0):
            e = HalfEmbedder(scale)
            self.embedders.append(e)
            return e

        register("test_half", half)
        register("test_weak", weak_model)

    @hookimpl
    def w2s_embed(self, model, X):
        if isinstance(model, HalfEmbedder):
            model.calls += 1
            return model.scale * np.asarray(X)[:, ::2]  # every other feature
        return None


INLINE_NAMES = {
    "acquisition_strategies": "test_confident_overlap",
    "overlap_scorers": "test_norm",
    "bandit_policies": "test_last",
    "sources": "test_gen",
    "models": "test_half",
}


@pytest.fixture
def inline(plugin_env):
    plugin = InlinePlugin()
    name = plugins.register(plugin, name="inline")
    yield plugin
    if plugins.pm.has_plugin(name):
        plugins.unregister(name=name)
    for kind, item in INLINE_NAMES.items():
        assert item not in plugins.get_registry(kind)


def test_inline_plugin_is_registered_under_its_name(inline):
    for kind, item in INLINE_NAMES.items():
        assert plugins.get_registry(kind)[item].plugin == "inline"
    row = next(r for r in plugins.describe() if r["name"] == "inline")
    assert row["registers"]["models"] == ["test_half", "test_weak"] and not row["builtin"]
    assert "w2s_embed" in row["hooks"]


def test_inline_scorer_and_strategy_by_name_in_detection_and_ranking(inline):
    m = FAMILY.sample(200, 200, 200, random_state=1)
    P = weak_model().predict_proba(m.X)
    report = detect_overlap(P, m.X, scorer="test_norm", random_state=0)
    assert report.scorer == "test_norm"
    nonhard = report.regions != int(Region.HARD_ONLY)
    np.testing.assert_allclose(report.overlap_score[nonhard], np.linalg.norm(m.X[nonhard], axis=1))
    report2 = detect_overlap(P, m.X, scorer="test_norm", scorer_params={"power": 2.0}, random_state=0)
    np.testing.assert_allclose(report2.overlap_score[nonhard], np.linalg.norm(m.X[nonhard], axis=1) ** 2)

    idx, scores = acquisition.rank("test_confident_overlap", report, P, 30)
    assert np.all(report.regions[idx] == int(Region.OVERLAP))
    assert np.all(np.diff(report.confidence[idx]) <= 0)


def test_inline_policy_source_and_embed_provider_in_a_campaign(inline, tmp_path):
    sources = [
        Source.from_path(f"gen://pool?seed={i}&overlap={d}&n=300", name=f"s{i}", random_state=i)
        for i, d in enumerate((0.2, 0.4, 0.1))
    ]
    emb = HalfEmbedder()
    camp = Campaign(
        sources,
        weak_model(),
        embed=emb,
        bandit="test_last",
        batch_size=100,
        budget=500,
        detector={"scorer": "test_norm"},
        state_dir=tmp_path / "st",
        progress=False,
        random_state=0,
    )
    res = camp.run()
    # test_last: the last source until it is exhausted (3 rounds of 100), then the one before it.
    assert [r["source"] for r in res.rounds] == ["s2", "s2", "s2", "s1", "s1"]
    assert emb.calls == 5  # the plugin's w2s_embed gave every round's representation
    assert camp.detector.n_features_in_ == (FAMILY.n_easy_dims + FAMILY.n_hard_dims) // 2
    assert load_state(tmp_path / "st")["bandit"]["policy"] == "test_last"


def test_inline_plugin_through_the_cli(inline, tmp_path, capsys):
    m = FAMILY.sample(100, 100, 100, random_state=2)
    P = weak_model().predict_proba(m.X)
    np.save(tmp_path / "p.npy", P)
    np.save(tmp_path / "e.npy", m.X)
    out = tmp_path / "regions.csv"
    assert (
        main(
            [
                "detect",
                "--proba",
                str(tmp_path / "p.npy"),
                "--embeddings",
                str(tmp_path / "e.npy"),
                "--scorer",
                "test_norm",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "(test_norm scorer)" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    got = np.array([float(r["overlap_score"]) for r in rows if r["region"] != "hard_only"])
    keep = [r["region"] != "hard_only" for r in rows]
    np.testing.assert_allclose(got, np.linalg.norm(m.X[keep], axis=1), rtol=1e-5)

    assert main(["plugins", "--json"]) == 0
    listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["inline"]["registers"]["bandit_policies"] == ["test_last"]
    assert listed["cmd_campaign"]["registers"]["commands"] == ["campaign", "config"]


def test_inline_plugin_through_a_config_file(inline, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("""
seed = 1
[campaign]
batch_size = 50
budget = 200
state_dir = "run"
progress = false
[[sources]]
name = "a"
path = "gen://x?seed=1&overlap=0.4&n=200"
[[sources]]
name = "b"
path = "gen://x?seed=2&overlap=0.2&n=200"
[[sources]]
name = "c"
type = "test_gen"
[weak_model]
type = "test_weak"
[representation]
type = "test_half"
scale = 3.0
[detector]
scorer = "test_norm"
scorer_params = { power = 1.0 }
[bandit]
policy = "test_last"
[acquisition]
strategy = "test_confident_overlap"
""")
    assert main(["config", "check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"OK: {cfg}") and "bandit:          test_last" in out
    assert main(["campaign", "run", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "starting a new campaign" in out and "4 round(s)" in out
    state = load_state(tmp_path / "run")
    assert [r["source"] for r in state["rounds"]] == ["c"] * 4  # the plugin's policy, by name from the file
    assert inline.embedders and inline.embedders[-1].scale == 3.0 and inline.embedders[-1].calls == 4


def test_lifecycle_hooks_are_called(plugin_env, tmp_path):
    events = []

    class Recorder:
        @hookimpl
        def before_query(self, source, n):
            events.append(("before_query", source, n))

        @hookimpl
        def after_query(self, source, indices, scores, report):
            events.append(("after_query", source, list(indices), len(report)))

        @hookimpl
        def on_round_end(self, campaign, round):
            events.append(("on_round_end", round["round"], campaign.n_rounds))

        @hookimpl
        def on_campaign_end(self, campaign):
            events.append(("on_campaign_end", campaign.n_rounds))

    plugins.register(Recorder(), name="recorder")
    m = FAMILY.sample(50, 50, 50, random_state=3)
    P = weak_model().predict_proba(m.X)
    report = detect_overlap(P, m.X, random_state=0)
    idx, _ = acquisition.rank("overlap", report, P, 7, source="forum")
    assert events == [("before_query", "forum", 7), ("after_query", "forum", list(idx), 150)]
    events.clear()
    src = Source("only", m.X, random_state=0)
    camp = Campaign([src], weak_model(), batch_size=50, progress=False, random_state=0)
    camp.run(max_rounds=2)
    assert events == [("on_round_end", 1, 1), ("on_round_end", 2, 2)]  # not ended: max_rounds stopped it
    camp.run()
    assert events[-2:] == [("on_round_end", 3, 3), ("on_campaign_end", 3)]


# --- errors name the plugin --------------------------------------------------------------------


def test_plugin_raising_in_a_register_hook_is_named(plugin_env):
    class Broken:
        @hookimpl
        def register_bandit_policies(self, register):
            raise RuntimeError("boom")

    with pytest.raises(
        plugins.PluginError,
        match=r"plugin 'broken' raised while registering "
        r"bandit_policies: "
        r"RuntimeError: boom",
    ):
        plugins.register(Broken(), name="broken")  # reported at once, not at the next lookup
    assert not plugins.pm.has_plugin("broken")
    assert SourceBandit(["a", "b"]).select() == "a"  # and the library keeps working without it


def test_duplicate_name_names_both_plugins_and_the_name(plugin_env):
    class Dup:
        @hookimpl
        def register_acquisition_strategies(self, register):
            register("overlap", lambda report, proba, n, random_state=None: (np.arange(n), np.zeros(n)))

    with pytest.raises(plugins.PluginError) as ei:
        plugins.register(Dup(), name="dup")
    msg = str(ei.value)
    assert "plugin 'dup'" in msg and "'overlap'" in msg and "plugin 'strategies' already registered" in msg
    assert not plugins.pm.has_plugin("dup")
    assert plugins.get_registry("acquisition_strategies")["overlap"].plugin == "strategies"


def test_misspelt_hook_and_wrong_arguments_are_rejected(plugin_env):
    typo = types.ModuleType("typo_plugin")

    @hookimpl
    def register_strategies(register):
        register("x", None)

    typo.register_strategies = register_strategies
    with pytest.raises(
        plugins.PluginError,
        match=r"plugin 'typo' implements unknown hook\(s\) "
        r"register_strategies",
    ):
        plugins.register(typo, name="typo")
    assert not plugins.pm.has_plugin("typo")

    class WrongArgs:
        @hookimpl
        def after_query(self, source, idx):
            pass

    with pytest.raises(plugins.PluginError, match=r"plugin 'wrong' does not match the hook contract"):
        plugins.register(WrongArgs(), name="wrong")


def test_duplicate_command_gives_one_line_naming_the_plugin(plugin_env, capsys):
    class DupCommand:
        @hookimpl
        def register_commands(self, subparsers):
            subparsers.add_parser("demo")

    plugins.register(DupCommand(), name="dupcmd")
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert "plugin 'dupcmd' failed to add its commands" in err and "demo" in err and "Traceback" not in err


# --- a real third-party package ----------------------------------------------------------------


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """pip-install tests/plugin_pkg (its own pyproject, entry point in the `w2s_plugin` group) into a
    temporary directory: a real dist-info, exactly what `pip install` gives a user."""
    tmp = tmp_path_factory.mktemp("plugin_pkg")
    src = tmp / "src"
    shutil.copytree(ROOT / "tests" / "plugin_pkg", src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = tmp / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-input",
            "-q",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip could not install tests/plugin_pkg:\n{proc.stdout}\n{proc.stderr}")
    assert list(target.glob("w2s_example_plugin-0.1.0.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def example_plugin(installed_plugin, plugin_env):
    sys.path.insert(0, str(installed_plugin))
    importlib.invalidate_caches()
    plugins.reload_plugins()
    yield installed_plugin
    sys.path.remove(str(installed_plugin))
    sys.modules.pop("w2s_example_plugin", None)
    importlib.invalidate_caches()


def test_third_party_plugin_is_discovered_and_used(example_plugin, capsys):
    assert plugins.get_registry("acquisition_strategies")["weak_confident"].plugin == "example"
    row = next(r for r in plugins.describe() if r["name"] == "example")
    assert row["distribution"] == "w2s-example-plugin 0.1.0" and not row["builtin"]
    assert row["registers"] == {
        "acquisition_strategies": ["weak_confident"],
        "overlap_scorers": ["centroid_cosine"],
        "commands": ["example-hello"],
    }

    m = FAMILY.sample(150, 150, 150, random_state=4)
    P = weak_model().predict_proba(m.X)
    report = detect_overlap(P, m.X, scorer="centroid_cosine", random_state=0)
    assert report.scorer == "centroid_cosine" and report.n_overlap > 0
    idx, scores = acquisition.rank("weak_confident", report, P, 40)
    assert np.all(np.diff(scores) <= 0) and np.mean(m.regions[idx] != int(Region.HARD_ONLY)) == 1.0

    assert main(["example-hello", "--name", "tests"]) == 0
    assert capsys.readouterr().out.strip() == "hello from w2s-example-plugin, tests"
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "example  (w2s-example-plugin 0.1.0)" in out and "commands: example-hello" in out


@pytest.mark.parametrize(
    "env,loaded",
    [
        ({"W2S_DISABLE_PLUGINS": "example"}, False),
        ({"W2S_PLUGINS": ""}, False),
        ({"W2S_PLUGINS": "other,example"}, True),
        ({"W2S_PLUGINS": "other"}, False),
        ({"W2S_DISABLE_PLUGINS": "strategies"}, True),
    ],
)
def test_environment_variables_block_or_allow_it(example_plugin, env, loaded):
    os.environ.update(env)
    plugins.reload_plugins()
    assert ("weak_confident" in plugins.get_registry("acquisition_strategies")) is loaded
    assert plugins.pm.has_plugin("example") is loaded
    # the package's own integrations are not third-party: an allow-list never drops them
    assert plugins.pm.has_plugin("label_studio") and plugins.pm.has_plugin("dask")
    if env.get("W2S_DISABLE_PLUGINS") == "strategies":  # a built-in can be switched off too
        assert "overlap" not in plugins.get_registry("acquisition_strategies")
    else:
        assert "overlap" in plugins.get_registry("acquisition_strategies")


def test_blocking_in_a_fresh_process(installed_plugin):
    def listed(extra_env):
        env = {k: v for k, v in os.environ.items() if k not in PLUGIN_ENV}
        env.update(PYTHONPATH=str(installed_plugin), **extra_env)
        proc = subprocess.run(
            [sys.executable, "-m", "w2s_plugin.cli", "plugins", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        return {r["name"] for r in json.loads(proc.stdout)}

    assert "example" in listed({})
    assert "example" not in listed({"W2S_DISABLE_PLUGINS": "example"})


# --- one code path: the core never imports a built-in ------------------------------------------


BUILTIN_IMPORT = re.compile(r"^(w2s_plugin\.hooks|\.+hooks)(\.|$)")


def _builtin_imports(source: str, filename: str):
    """(line, name) of every import of a built-in plugin module, and of every string naming one."""
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names = [base] + [base + a.name if base.endswith(".") else f"{base}.{a.name}" for a in node.names]
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"w2s_plugin\.hooks(\.\w+)*", node.value)
        ):
            names = [node.value]  # importlib.import_module("w2s_plugin.hooks...") and friends
        for n in names:
            if BUILTIN_IMPORT.match(n):
                yield node.lineno, n


def test_core_never_imports_a_builtin_plugin():
    offenders = []
    for path in sorted((ROOT / "w2s_plugin").rglob("*.py")):
        rel = path.relative_to(ROOT)
        for lineno, name in _builtin_imports(path.read_text(), str(path)):
            if rel.as_posix() == "w2s_plugin/plugins.py" and lineno and name.startswith("w2s_plugin.hooks."):
                continue  # the plugin manager's BUILTIN_PLUGINS table: the one place that names them
            offenders.append(f"{rel}:{lineno} refers to {name}")
    assert not offenders, "the core must look built-ins up by name in the registry:\n" + "\n".join(offenders)


def test_the_import_check_catches_every_form():
    src = (
        "from w2s_plugin.hooks import strategies\nfrom .hooks.scorers import X\nimport "
        "w2s_plugin.hooks.models\n"
        "from w2s_plugin import hooks\nfrom . import "
        "hooks\nimportlib.import_module('w2s_plugin.hooks.policies')\n"
        "from . import plugins\nfrom .hookspecs import hookimpl\n"
    )
    assert sorted({ln for ln, _ in _builtin_imports(src, "fake.py")}) == [1, 2, 3, 4, 5, 6]


BUILTIN_NAMES = {
    "overlap_scorers": {"subspace", "max_cosine", "max_inner"},
    "thresholds": {"change_point", "change_point_grid", "median", "quantile"},
    "acquisition_strategies": {
        "overlap",
        "hard_only",
        "overlap_then_hard",
        "uncertainty",
        "margin",
        "entropy",
        "random",
        "confident",
    },
    "bandit_policies": {
        "ucb",
        "ucb1_rounds",
        "reference_ucb",
        "thompson",
        "epsilon_greedy",
        "round_robin",
        "random",
    },
    "sources": {"npy", "npz", "csv", "jsonl"},
    "models": {"sklearn", "pickle", "columns", "identity", "precomputed", "labeling_functions"},
}


@pytest.mark.parametrize("kind", sorted(BUILTIN_NAMES))
def test_every_builtin_is_a_hook_implementation_in_hooks(kind):
    reg = plugins.get_registry(kind)
    for name in BUILTIN_NAMES[kind]:
        plugin = reg[name].plugin
        assert plugin in plugins.BUILTIN_PLUGINS, (kind, name, plugin)
        module = plugins.BUILTIN_PLUGINS[plugin]
        assert module.startswith("w2s_plugin.hooks.")
        assert (ROOT / "hooks" / (module.rsplit(".", 1)[1] + ".py")).exists()


# --- the hook documentation is complete (datasette-style) --------------------------------------

PLUGINS_DOC = (ROOT / "docs" / "plugins.md").read_text()


@pytest.mark.parametrize("hook", plugins.hook_names())
def test_every_hook_is_documented(hook):
    sig = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    heading = f"### `{hook}({sig})`"
    assert heading in PLUGINS_DOC, f"docs/plugins.md needs a section headed {heading}"
    assert getattr(hookspecs, hook).__doc__, f"hookspecs.{hook} needs a docstring"


def test_documented_hooks_exist():
    documented = re.findall(r"^### `(\w+)\(", PLUGINS_DOC, re.M)
    assert set(documented) == set(plugins.hook_names())


def test_the_guide_example_plugin_works(plugin_env):
    blocks = re.findall(r"```python\n(.*?)```", PLUGINS_DOC, re.S)
    code = next(b for b in blocks if "def register_bandit_policies" in b)
    module = types.ModuleType("w2s_greedy_plugin")
    exec(compile(code, "docs/plugins.md", "exec"), module.__dict__)
    plugins.register(module, name="greedy")
    bandit = SourceBandit(["a", "b", "c"], policy="greedy", random_state=0)
    for name, dens in (("a", 0.1), ("b", 0.6), ("c", 0.3)):
        assert bandit.select() == name
        bandit.update(name, 100, int(100 * dens))
    assert [bandit.select() for _ in range(3)] == ["b", "b", "b"]
    m = FAMILY.sample(100, 100, 100, random_state=6)
    P = weak_model().predict_proba(m.X)
    report = detect_overlap(P, m.X, random_state=0)
    idx, _ = acquisition.rank("overlap_first_confident", report, P, 20, min_confidence=0.7)
    assert np.all(report.regions[idx] == int(Region.OVERLAP)) and np.all(report.confidence[idx] >= 0.7)
    assert "greedy-info" in plugins._commands_by_plugin()["greedy"]
