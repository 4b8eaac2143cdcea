"""Typed run settings: one default per setting for every front-end, errors that name the field."""

import pytest

from w2s_plugin import Campaign
from w2s_plugin.config import ConfigError, loads_config
from w2s_plugin.errors import SettingError
from w2s_plugin.settings import DEFAULT_BATCH_SIZE, RunSettings
from w2s_plugin.simulation import make_sources


def test_one_batch_size_default_and_the_saved_one_on_resume(tmp_path):
    syn = make_sources([0.2, 0.4], 300, random_state=0)
    c = Campaign(syn.sources, syn.weak_model, state_dir=tmp_path / "c", progress=False, random_state=0)
    assert c.batch_size == DEFAULT_BATCH_SIZE == 100 and c.settings.batch_size == 100
    c.engine.close()
    syn = make_sources([0.2, 0.4], 300, random_state=0)
    d = tmp_path / "d"
    Campaign(syn.sources, syn.weak_model, batch_size=30, state_dir=d, progress=False).engine.close()
    assert Campaign.resume(d, syn.sources, syn.weak_model, progress=False).batch_size == 30


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 20, "budget": 5}, "budget"),
        ({"batch_size": 999}, "batch_size"),
    ],
)
def test_setting_errors_carry_their_field(kw, field):
    syn = make_sources([0.2, 0.4], 300, random_state=0)
    with pytest.raises(SettingError) as ei:
        Campaign(syn.sources, syn.weak_model, progress=False, **kw)
    assert ei.value.field == field and field in str(ei.value)
    with pytest.raises(SettingError) as ei:
        RunSettings.of(batch_sise=3)
    assert ei.value.field == "batch_sise"


def test_config_points_at_the_key_from_the_field_not_the_message(tmp_path):
    (tmp_path / "a.npy").write_bytes(b"")
    import numpy as np

    np.save(tmp_path / "a.npy", np.random.default_rng(0).normal(size=(30, 2)))
    text = (
        '[[sources]]\npath = "a.npy"\n[weak_model]\ntype = "columns"\ncolumns = [0, 1]\n'
        "[campaign]\nbatch_size = 50\n"
    )
    cfg = loads_config(text, base_dir=tmp_path)
    with pytest.raises(ConfigError) as ei:
        cfg.build_campaign(progress=False)
    assert "campaign.batch_size" in str(ei.value) and "larger than every source" in str(ei.value)


def test_every_front_end_parameter_named_as_a_setting_reaches_the_engine():
    """``RunSettings.from_arguments``: a front-end's keyword parameters that are settings reach its
    engine by name; parameters that are not settings are left out; overrides win; a misspelt override
    is a SettingError naming it."""
    import inspect

    from w2s_plugin.integrations.modal import MultiSourceLearner

    fields = set(RunSettings.fields())
    for front_end in (Campaign, MultiSourceLearner):
        params = set(inspect.signature(front_end).parameters) & fields
        assert {"batch_size", "reward", "reward_params", "gold", "classes", "random_state"} <= params
    syn = make_sources([0.2, 0.4], 300, random_state=0)
    c = Campaign(
        syn.sources,
        syn.weak_model,
        batch_size=30,
        budget=90,
        reward_params={},
        progress=False,
        random_state=7,
    )
    assert (c.settings.batch_size, c.settings.budget, c.settings.random_state) == (30, 90, 7)
    s = RunSettings.from_arguments({"batch_size": 5, "self": None, "budget": 10}, budget=20)
    assert (s.batch_size, s.budget, s.reward) == (5, 20, "overlap")
    with pytest.raises(SettingError) as err:
        RunSettings.from_arguments({}, batchsize=5)
    assert err.value.field == "batchsize"
