"""Fixtures shared by several test modules."""

import contextlib
import functools
import os
import shutil
import subprocess
import uuid
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


@functools.lru_cache(maxsize=32)
def _weak_mixture(n: int, n_train: int | None, seed: int = 0, train_seed: int = 1, max_iter: int = 1000):
    from sklearn.linear_model import LogisticRegression

    from w2s_plugin.datasets import make_overlap_mixture

    pool = make_overlap_mixture(n, n, n, random_state=seed)
    train = pool if n_train is None else pool.sample(n_train, n_train, n_train, random_state=train_seed)
    weak = LogisticRegression(max_iter=max_iter).fit(train.weak_view(), train.y)
    return pool, weak.predict_proba(pool.weak_view()), weak


@pytest.fixture(scope="session")
def weak_mixture():
    """The paper's mixture (``n`` points per region) and a weak logistic regression on its easy view,
    trained on a separate draw of ``n_train`` per region (``None``: on the pool itself):
    ``weak_mixture(n, n_train, seed=0, train_seed=1, max_iter=1000) -> (pool, proba, weak)``, built
    once per argument set for the whole run (treat the arrays and the model as read-only)."""
    return _weak_mixture


@pytest.fixture
def diagnose_cli(tmp_path):
    """``w2s diagnose`` on arrays written to ``tmp_path``: ``diagnose_cli(proba, X, gold=None, *argv)``
    saves ``proba`` and ``X`` as .npy files, and ``gold`` too unless it is a path (a file the test
    wrote), then runs the command with ``argv`` appended and returns its exit code."""
    import numpy as np

    from w2s_plugin.cli import main as cli

    def run(proba, X, gold=None, *argv):
        np.save(tmp_path / "p.npy", proba)
        np.save(tmp_path / "e.npy", X)
        args = ["diagnose", "--proba", str(tmp_path / "p.npy"), "--embeddings", str(tmp_path / "e.npy")]
        if gold is not None:
            if not isinstance(gold, (str, os.PathLike)):
                np.save(tmp_path / "g.npy", gold)
                gold = tmp_path / "g.npy"
            args += ["--gold", str(gold)]
        return cli([*args, *argv])

    return run


@pytest.fixture
def example_config(tmp_path):
    """examples/campaign.toml and the plugin file it loads, copied to a fresh directory."""
    for f in ("campaign.toml", "mixture_plugin.py"):
        shutil.copy(ROOT / "examples" / f, tmp_path / f)
    return tmp_path / "campaign.toml"


# --- Label Studio: shared by the tests that talk to the real server --------------------------------

#: Where the backend finds Label Studio credentials after a restart (as the official ML backend does).
LS_CREDENTIAL_VARS = (
    "LABEL_STUDIO_URL",
    "LABEL_STUDIO_HOST",
    "LABEL_STUDIO_API_KEY",
    "LABEL_STUDIO_ACCESS_TOKEN",
)


@pytest.fixture
def no_label_studio_env(monkeypatch):
    """Protocol tests that talk to no Label Studio run without its credentials in the environment
    (the backend would otherwise read the test server's projects of the same ids)."""
    for k in LS_CREDENTIAL_VARS:
        monkeypatch.delenv(k, raising=False)


@pytest.fixture(scope="module")
def ls():
    """An SDK client for the server the test run started (LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY)."""
    from w2s_plugin.integrations.label_studio.driver import make_client

    return make_client(os.environ["LABEL_STUDIO_URL"], os.environ["LABEL_STUDIO_API_KEY"])


@pytest.fixture(scope="module")
def backend_server(tmp_path_factory):
    """The ML backend on a free local port, with hashed word counts (the synthetic corpus's
    thresholds are for those; the embedding model has its own tests): yields (url, backend)."""
    import threading

    from werkzeug.serving import make_server

    from w2s_plugin.integrations.label_studio.app import create_app
    from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend
    from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder

    backend = OverlapDensityBackend(
        model_dir=tmp_path_factory.mktemp("models"), embedder=HashingTextEmbedder()
    )
    srv = make_server("127.0.0.1", 0, create_app(backend), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", backend
    srv.shutdown()
    thread.join(5)


@pytest.fixture
def full_disk(tmp_path):
    """A real full disk: a 512 kB tmpfs mounted under ``tmp_path`` and filled to the last byte
    (needs root and ``mount``; skipped otherwise). Unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a real full disk needs root to mount a tmpfs")
    mnt = tmp_path / f"full-{uuid.uuid4().hex[:8]}"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        for name, chunk in (("filler", 4096), ("filler2", 1)):  # pages, then the last bytes
            fd = os.open(mnt / name, os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
            finally:
                os.close(fd)
        yield mnt
    finally:
        with contextlib.suppress(OSError):
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
