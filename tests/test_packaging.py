"""The wheel ships w2s_plugin.hooks and w2s_plugin.integrations (mapped from top-level folders)."""

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = (
    "import w2s_plugin, w2s_plugin.hooks.scorers, w2s_plugin.integrations; "
    "from w2s_plugin import plugins; print(sorted(plugins.get_registry('overlap_scorers')))"
)


def test_editable_install_imports_hooks_and_integrations():
    out = subprocess.run([sys.executable, "-c", IMPORTS], cwd="/", capture_output=True, text=True, check=True)
    assert "rms_cosine" in out.stdout and "subspace" in out.stdout


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv(tmp_path):
    # build isolation: pyproject needs setuptools>=77 (the dev venv may hold an older one)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (wheel,) = wheels.glob("w2s_plugin-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "w2s_plugin/hooks/scorers.py" in names and "w2s_plugin/integrations/__init__.py" in names
    # the experiments and the examples live in the checkout only (they rewrite docs/, read Debian data)
    assert not [n for n in names if "experiments" in n or "example" in n or n.startswith("benchmarks/")]
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env)
    py = env / "bin" / "python"
    # numpy / scikit-learn / pluggy come from the local pip cache when present (no new download
    # if the suite's own install already fetched them)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = subprocess.run(
        [str(py), "-c", IMPORTS], cwd=str(tmp_path), capture_output=True, text=True, check=True
    )
    assert "rms_cosine" in out.stdout
    loc = subprocess.run(
        [str(py), "-c", "import w2s_plugin.hooks as h; print(h.__file__)"],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(env) in loc and str(ROOT) not in loc
