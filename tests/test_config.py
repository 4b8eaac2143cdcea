"""Config files: a real campaign built from TOML, every validation error naming file, key, expected
and received value, and the documentation kept in sync with the schema."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from w2s_plugin import Region, acquisition, plugins
from w2s_plugin.config import ConfigError, load_config, loads_config, schema
from w2s_plugin.datasets import make_overlap_mixture

ROOT = Path(__file__).resolve().parents[1]
DENSITIES = {"poor": 0.1, "medium": 0.25, "rich": 0.5}


# config files may load plugins: leave the manager as we found it (restore_plugins, conftest.py)
pytestmark = pytest.mark.usefixtures("restore_plugins")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Three .npz sources from one mixture with known overlap densities, and a weak-model training set."""
    d = tmp_path_factory.mktemp("cfgdata")
    fam = make_overlap_mixture(1, 1, 1, random_state=7)
    for i, (name, dens) in enumerate(DENSITIES.items()):
        n = 1500
        n_o = int(dens * n)
        m = fam.sample((n - n_o) // 2, n - n_o - (n - n_o) // 2, n_o, random_state=10 + i)
        np.savez(d / f"{name}.npz", X=m.X, y=m.y, regions=m.regions)
    tr = fam.sample(700, 700, 700, random_state=99)
    np.savez(d / "weak_train.npz", X=tr.X, y=tr.y)
    return d


CAMPAIGN = """
seed = 3

[campaign]
batch_size = 100
budget = 1200
state_dir = "state"
progress = false

[[sources]]
path = "{d}/poor.npz"

[[sources]]
path = "{d}/medium.npz"

[[sources]]
name = "rich"
path = "{d}/rich.npz"
params = {{ x_key = "X" }}

[weak_model]
type = "sklearn"
estimator = "sklearn.linear_model.LogisticRegression"
params = {{ max_iter = 1000 }}
train = "{d}/weak_train.npz"
columns = {{ start = 0, stop = 20 }}

[representation]
type = "identity"

[detector]
scorer = "subspace"
scorer_params = {{ variance = 0.9 }}

[bandit]
policy = "thompson"
params = {{ a = 1.0, b = 1.0 }}

[acquisition]
strategy = "overlap_then_hard"
params = {{ ratio = 0.5 }}
n = 20
"""


def write(tmp_path, text, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_campaign_from_config_runs_finds_the_rich_source_and_resumes(tmp_path, data_dir):
    path = write(tmp_path, CAMPAIGN.format(d=data_dir))
    cfg = load_config(path)
    assert cfg.state_dir() == tmp_path / "state"  # relative to the config file, not the cwd
    assert not cfg.has_state()
    camp = cfg.build_campaign()
    assert camp.batch_size == 100 and camp.budget == 1200 and camp.bandit.policy == "thompson"
    assert camp.detector.scorer == "subspace" and camp.detector.accumulate
    res = camp.run(max_rounds=6)
    assert len(res.rounds) == 6
    # true densities come from the sources' `regions` arrays
    assert camp.true_densities == pytest.approx({"poor": 0.1, "medium": 0.25, "rich": 0.5}, abs=0.01)

    cfg2 = load_config(path)
    assert cfg2.has_state()
    resumed = cfg2.build_campaign()
    assert resumed.n_rounds == 6
    res = resumed.run()
    assert resumed.n_drawn == 1200 and len(res.rounds) == 12
    picks = [r["source"] for r in res.rounds]
    assert picks.count("rich") >= 7, picks  # Thompson on densities 0.1 / 0.25 / 0.5
    ids = list(zip(res.items["source"], res.items["id"]))
    assert len(ids) == len(set(ids)) == 1200  # nothing drawn twice across the resume
    # the acquisition table is what the integrations read
    strategy, params = cfg.acquisition()
    assert (strategy, params, cfg.get("acquisition.n")) == ("overlap_then_hard", {"ratio": 0.5}, 20)


def test_example_config_runs_offline(example_config):
    cfg = load_config(example_config, build=True)
    assert cfg.plugins_loaded == ["mixture_plugin"]
    camp = cfg.build_campaign(progress=False)
    res = camp.run()
    picks = [r["source"] for r in res.rounds]
    assert camp.n_drawn == 1500 and picks.count("rich") >= 8, picks
    assert (example_config.parent / "runs" / "mixture" / "state.json").exists()


def test_strategy_only_config(tmp_path):
    cfg = loads_config('[acquisition]\nstrategy = "hard_only"\nn = 5\n[detector]\nscorer = "max_cosine"\n')
    assert not cfg.is_campaign
    m = make_overlap_mixture(50, 50, 50, random_state=0)
    P = np.where(m.regions[:, None] == int(Region.HARD_ONLY), 0.5, np.array([[0.05, 0.95]]))
    report = cfg.build_detector().fit(P, m.X).report_
    strategy, params = cfg.acquisition()
    idx, _ = acquisition.rank(strategy, report, P, cfg.get("acquisition.n"), **params)
    assert np.all(m.regions[idx] == int(Region.HARD_ONLY))


def _err(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_config(path)
    e = ei.value
    assert e.file == str(path) and str(path) in str(e)
    return e


BASE = '[campaign]\nbatch_size = 100\n[[sources]]\npath = "{d}/poor.npz"\n[weak_model]\ntype = "identity"\n'

BAD = [
    # (extra / replaced TOML, key, substring of expected, received)
    ("campain = 1\n", "campain", "known top-level key", "campain"),
    ("[campaign]\nbatch_size = '100'\n", "campaign.batch_size", "positive integer", "100"),
    ("[campaign]\nbatch_size = 0\n", "campaign.batch_size", "positive integer", 0),
    ("[campaign]\nbatch_size = 100\nbudget = 50\n", "campaign.budget", ">= campaign.batch_size", 50),
    ("[campaign]\nbatch_size = 100\nbudjet = 500\n", "campaign.budjet", "known key", "budjet"),
    ("[bandit]\npolicy = 'ucbb'\n", "bandit.policy", "registered bandit policy", "ucbb"),
    (
        "[bandit]\npolicy = 'epsilon_greedy'\nparams = {epsilonn = 0.1}\n",
        "bandit.params.epsilonn",
        "parameter of bandit policy 'epsilon_greedy' (epsilon)",
        "epsilonn",
    ),
    ("[detector]\nscorer = 'nope'\n", "detector.scorer", "registered overlap scorer", "nope"),
    ("[detector]\nhard_threshold = true\n", "detector.hard_threshold", "rule name or a number", True),
    (
        "[detector]\nhard_threshold = 'quantile'\nthreshold_params = {qq = 0.2}\n",
        "detector.threshold_params.qq",
        "parameter of threshold rule 'quantile' (q)",
        "qq",
    ),
    (
        "[acquisition]\nstrategy = 'overlapp'\n",
        "acquisition.strategy",
        "registered acquisition strategy",
        "overlapp",
    ),
    (
        "[acquisition]\nstrategy = 'overlap_then_hard'\nparams = {ratoi = 0.3}\n",
        "acquisition.params",
        "parameters of strategy 'overlap_then_hard'",
        {"ratoi": 0.3},
    ),
    # a bad *value* is caught by a dry run of the strategy, not in the middle of a campaign
    (
        "[acquisition]\nstrategy = 'overlap_then_hard'\nparams = {ratio = 7}\n",
        "acquisition.params",
        "parameters of strategy 'overlap_then_hard'",
        {"ratio": 7},
    ),
    # a typo in the params of a source picked by its extension (no type = ...)
    (
        "[[sources]]\nname = 'extra'\npath = '{d}/rich.npz'\nparams = {x_kye = 'X'}\n",
        "sources[1].params.x_kye",
        "a parameter of source type '.npz'",
        "x_kye",
    ),
    ("[[sources]]\npath = '{d}/missing.npz'\n", "sources[1].path", "an existing file", "{d}/missing.npz"),
    (
        "[[sources]]\npath = '{d}/rich.npz'\ntype = 'parquet'\n",
        "sources[1].type",
        "registered source type",
        "parquet",
    ),
    (
        "[[sources]]\nname = 'poor'\npath = '{d}/rich.npz'\n",
        "sources",
        "unique source names",
        ["poor", "poor"],
    ),
    ("[[sources]]\nshuffle = true\n", "sources[1].path", "a path (or a type)", None),
    ("[representation]\ncolumns = [0, 1]\n", "representation.type", "registered model type", None),
    (
        "[representation]\ntype = 'sklearn'\nestimatr = 'x'\n",
        "representation.estimatr",
        "parameter of model type 'sklearn'",
        "estimatr",
    ),
    (
        "[representation]\ntype = 'sklearn'\n",
        "representation.estimator",
        "required by model type 'sklearn'",
        None,
    ),
    ("plugins = ['nowhere.py']\n", "plugins[0]", "an existing .py file", "nowhere.py"),
    (
        "[campaign]\nbatch_size = 100\ntrue_densities = {rich = 0.5}\n",
        "campaign.true_densities.rich",
        "a source name",
        "rich",
    ),
]


@pytest.mark.parametrize(
    "extra,key,expected,received", BAD, ids=[b[1] + ":" + str(i) for i, b in enumerate(BAD)]
)
def test_errors_name_file_key_expected_and_received(tmp_path, data_dir, extra, key, expected, received):
    d = str(data_dir)
    base = BASE.format(d=d)
    if extra.startswith("[campaign]"):
        base = base.replace("[campaign]\nbatch_size = 100\n", "")
    extra = extra.replace("{d}", d)
    text = base + extra if extra.startswith("[") else extra + base  # top-level keys go before any table
    e = _err(tmp_path, text)
    assert e.key == key, str(e)
    assert expected in e.expected, str(e)
    if received is not None:
        assert e.received == (received.replace("{d}", d) if isinstance(received, str) else received), str(e)
    assert key in str(e) and "expected" in str(e)


def test_syntax_error_and_missing_file(tmp_path):
    e = _err(tmp_path, "[campaign\nbatch_size = 1\n")
    assert e.key == "(file)" and e.expected == "valid TOML" and "line 1" in str(e)
    with pytest.raises(ConfigError, match="expected an existing TOML file"):
        load_config(tmp_path / "nope.toml")


def test_unknown_extension_and_suggestions(tmp_path, data_dir):
    (tmp_path / "pool.parquet").write_bytes(b"")
    e = _err(tmp_path, '[[sources]]\npath = "pool.parquet"\n')
    assert e.key == "sources[0].path" and "known extension (.csv, .jsonl, .ndjson, .npy, .npz)" in e.expected
    e = _err(tmp_path, '[bandit]\npolicy = "thompsn"\n')
    assert "did you mean 'thompson'?" in str(e)


def test_errors_found_only_when_building_name_the_key(tmp_path, data_dir):
    text = BASE.format(d=data_dir).replace("batch_size = 100", "batch_size = 5000")
    cfg = load_config(write(tmp_path, text))
    with pytest.raises(ConfigError) as ei:
        cfg.build_campaign()
    assert ei.value.key == "campaign.batch_size" and ei.value.received == 5000
    assert "larger than every source" in str(ei.value)
    bad_model = BASE.format(d=data_dir).replace(
        'type = "identity"', 'type = "sklearn"\nestimator = "sklearn.nothing.Here"'
    )
    with pytest.raises(ConfigError) as ei:
        load_config(write(tmp_path, bad_model), build=True)
    assert ei.value.key == "weak_model" and "cannot import 'sklearn.nothing.Here'" in str(ei.value)


# --- documentation kept in sync with the schema (datasette-style) -----------------------------

DOC = (ROOT / "docs" / "configuration.md").read_text()


@pytest.mark.parametrize("path", [k.path for k in schema()])  # plugin tables included
def test_every_config_key_is_documented(path):
    assert f"`{path}`" in DOC, f"config key {path} is not documented in docs/configuration.md"


@pytest.mark.parametrize(
    "name", sorted(n for n, e in plugins.get_registry("models").items() if e.plugin == "models")
)
def test_every_builtin_model_type_and_parameter_is_documented(name):
    m = re.search(rf'##### `type = "{name}"`\n(.*?)(?=\n#####|\n### |\Z)', DOC, re.S)
    assert m, f"model type {name!r} has no section in docs/configuration.md"
    factory = plugins.get_registry("models")[name].obj
    for p in inspect.signature(factory).parameters:
        assert f"`{p}`" in m.group(1), f"parameter {p!r} of model type {name!r} is undocumented"


def test_label_studio_table(tmp_path):
    """[label_studio] is a known table: keywords and text_column reach the Label Studio driver; a bad
    keyword list or an unknown key is a ConfigError naming the key."""
    cfg = loads_config(
        '[label_studio]\nkeywords = { Positive = ["great"], Negative = ["awful", "so bad"] }\n'
        'text_column = "body"\nmodel_dir = "m"\n',
        base_dir=tmp_path,
    )
    assert cfg.get("label_studio.keywords") == {"Positive": ["great"], "Negative": ["awful", "so bad"]}
    assert cfg.get("label_studio.text_column") == "body" and cfg.get("label_studio.pool_size") == 2000
    assert cfg.get("label_studio.model_dir") == str((tmp_path / "m").resolve())
    for text, key in (
        ('keywords = { Positive = "great" }', "label_studio.keywords"),
        ('keywords = { Positive = [""] }', "label_studio.keywords"),
        ('keyword = { Positive = ["great"] }', "label_studio.keyword"),
        ('strategy = "overlapp"', "label_studio.strategy"),
        ("pool_size = 1", "label_studio.pool_size"),
    ):
        with pytest.raises(ConfigError) as exc:
            loads_config("[label_studio]\n" + text + "\n")
        assert exc.value.key == key, exc.value
