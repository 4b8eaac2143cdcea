"""Fixtures shared by several test modules."""

import os
import shutil
from pathlib import Path

import pytest

from w2s_plugin import plugins

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_ENV = ("W2S_PLUGINS", "W2S_DISABLE_PLUGINS")


@pytest.fixture
def restore_plugins():
    """Reload the plugin manager after the test (config files and tests register plugins)."""
    yield
    plugins.reload_plugins()


@pytest.fixture
def plugin_env():
    """Restore the plugin environment variables and the manager after a test, whatever it did."""
    saved = {k: os.environ.get(k) for k in PLUGIN_ENV}
    for k in PLUGIN_ENV:
        os.environ.pop(k, None)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    plugins.reload_plugins()


@pytest.fixture
def example_config(tmp_path):
    """examples/campaign.toml and the plugin file it loads, copied to a fresh directory."""
    for f in ("campaign.toml", "mixture_plugin.py"):
        shutil.copy(ROOT / "examples" / f, tmp_path / f)
    return tmp_path / "campaign.toml"
