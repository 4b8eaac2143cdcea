"""The Docker image's steps without docker (issue 19): build the wheel from the files the Dockerfile
copies, install it into a clean venv, `w2s serve`, GET /health; and the compose file builds that
Dockerfile and lets Label Studio reach a private-address backend.

The venv reuses the test environment's installed dependencies through a ``.pth`` file (as the
Dockerfile's ``pip install ...[label-studio]`` would install them) and gets the wheel with
``--no-deps``, so the test takes seconds, offline."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

flask = pytest.importorskip("flask")
requests = pytest.importorskip("requests")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "integrations" / "label_studio"


def dockerfile_sources() -> list[str]:
    """What the Dockerfile's wheel stage copies from the checkout (``COPY a b ./`` and ``COPY d ./d``)."""
    text = (HERE / "Dockerfile").read_text()
    stage = text.split("FROM ", 2)[1]  # the first stage only
    out = []
    for line in stage.splitlines():
        m = re.match(r"COPY\s+(?!--)(.+)\s+\S+$", line.strip())
        if m:
            out += m.group(1).split()
    return out


def test_dockerfile_copies_what_the_wheel_needs():
    assert dockerfile_sources() == ["pyproject.toml", "README.md", "w2s_plugin", "hooks", "integrations"]
    ignore = (HERE / "Dockerfile.dockerignore").read_text().split()
    assert ignore[0:1] == ["#"] or "*" in ignore
    assert all(f"!{s}" in ignore for s in dockerfile_sources())


def test_compose_builds_the_dockerfile_and_lets_label_studio_call_the_backend():
    compose = yaml.safe_load((HERE / "docker-compose.yml").read_text())
    backend = compose["services"]["w2s-backend"]
    assert backend["build"] == {"context": "../..", "dockerfile": "integrations/label_studio/Dockerfile"}
    assert (
        HERE / backend["build"]["context"] / backend["build"]["dockerfile"]
    ).resolve() == HERE / "Dockerfile"
    assert "image" not in backend and "command" not in backend  # the image's CMD: w2s serve
    env = backend["environment"]
    assert env["BASIC_AUTH_USER"] and env["BASIC_AUTH_PASS"]  # it listens on 0.0.0.0
    assert env["LABEL_STUDIO_URL"] == "http://label-studio:8080"
    ls_env = compose["services"]["label-studio"]["environment"]
    assert ls_env["ML_BLOCK_LOCAL_IP"] == "false" and ls_env["SSRF_PROTECTION_ENABLED"] == "false"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_wheel_from_the_checkout_installs_into_a_clean_venv_and_serves(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in dockerfile_sources():  # the Dockerfile's wheel stage, file for file
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(
                p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            )
        else:
            shutil.copy(p, src / name)
    dist = tmp_path / "dist"
    deps = Path(flask.__file__).resolve().parents[1]  # the installed dependencies (and pip)
    # offline with the installed setuptools when it is new enough for pyproject.toml (>= 77; a venv's
    # own bundled copy may be older and come first, hence PYTHONPATH); else pip's isolated build
    # fetches it from the package index
    env = {**os.environ, "PYTHONPATH": str(deps)}
    probe = "import setuptools, sys; sys.exit(int(setuptools.__version__.split('.')[0]) < 77)"
    isolation = subprocess.run([sys.executable, "-c", probe], env=env).returncode != 0
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", dist, src]
    r = subprocess.run(
        cmd if isolation else [*cmd, "--no-build-isolation", "--no-index"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = dist.glob("w2s_plugin-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "_deps.pth").write_text(f"{deps}\n")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
        timeout=300,
    )
    where = subprocess.run(
        [py, "-c", "import w2s_plugin.integrations.label_studio.app as m; print(m.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: its w2s_plugin/ would shadow the installed one
    ).stdout.strip()
    assert where.startswith(purelib), where  # the wheel's copy, not the checkout's
    assert sysconfig.get_paths()["purelib"] != purelib

    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABEL_STUDIO_", "BASIC_AUTH_", "PYTHONPATH"))
    }
    env.update(W2S_EMBEDDER="hashing", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [venv / "bin" / "w2s", "serve", "--port", str(port), "--model-dir", tmp_path / "models"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        banner = proc.stdout.readline()
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        assert banner.startswith(f"w2s ML backend on http://127.0.0.1:{port}"), banner
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=60).json()
        assert health == {"status": "UP", "model_class": "OverlapDensityBackend", "state": "disk"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
