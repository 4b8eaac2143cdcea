"""Built-in model adapters: how the library gets probabilities and representations, and how a
configuration file names a model."""

from __future__ import annotations

import importlib
import pickle

import numpy as np

from w2s_plugin.errors import W2SError
from w2s_plugin.hookspecs import hookimpl
from w2s_plugin.models import ColumnView, LabelingFunctions, Precomputed


@hookimpl(trylast=True)
def w2s_weak_proba(model, X):
    """scikit-learn style estimators (``predict_proba``; a modAL learner or committee too) and plain
    callables."""
    return _apply(model, "predict_proba", X)


@hookimpl(trylast=True)
def w2s_embed(model, X):
    """``None`` (the features themselves), transformers (``transform``) and plain callables."""
    return X if model is None else _apply(model, "transform", X)


def _apply(model, method: str, X):
    """``model.<method>(X)``, or ``model(X)`` for a plain callable; ``None`` (another plugin's turn)
    for precomputed columns and anything else."""
    if isinstance(model, Precomputed):
        return None
    if hasattr(model, method):
        return getattr(model, method)(X)
    if callable(model):
        return model(X)
    return None


def _import(dotted: str):
    module, _, attr = dotted.rpartition(".")
    if not module:
        raise W2SError(
            f"estimator must be a dotted path like 'sklearn.linear_model.LogisticRegression'; got {dotted!r}"
        )
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise W2SError(f"cannot import {dotted!r}: {exc}") from None


def _columns(columns):
    if columns is None:
        return None
    if isinstance(columns, dict):  # {start = 0, stop = 20}
        return slice(columns.get("start"), columns.get("stop"), columns.get("step"))
    return list(columns)


def sklearn_model(
    estimator: str,
    params: dict | None = None,
    train: str | None = None,
    columns=None,
    x_key: str = "X",
    y_key: str = "y",
):
    """A scikit-learn estimator by dotted path, fitted on ``train`` (an .npz with X and y) if given,
    seeing only ``columns`` of X if given (the weak view)."""
    est = _import(estimator)(**(params or {}))
    cols = _columns(columns)
    model = ColumnView(cols, est) if cols is not None else est
    if train is not None:
        with np.load(train) as z:
            model.fit(z[x_key], z[y_key])
    return model


def pickle_model(path: str, columns=None):
    """A fitted model saved with pickle or joblib (only load files you trust)."""
    with open(path, "rb") as fh:
        model = pickle.load(fh)
    cols = _columns(columns)
    return ColumnView(cols, model) if cols is not None else model


def columns_model(columns):
    """The selected columns of X themselves (a representation)."""
    return ColumnView(_columns(columns))


def identity_model():
    """X itself (a representation)."""
    return None


def precomputed_model(key: str):
    """An array stored with each source (``extras[key]``, e.g. an .npz member ``proba``)."""
    return Precomputed(key)


def labeling_functions_model(functions, n_classes: int, abstain: int = -1, alpha: float = 1.0):
    """Labeling functions by dotted path, combined by smoothed majority vote."""
    return LabelingFunctions([_import(f) for f in functions], n_classes, abstain, alpha)


@hookimpl
def register_models(register):
    register("sklearn", sklearn_model)
    register("pickle", pickle_model)
    register("columns", columns_model)
    register("identity", identity_model)
    register("precomputed", precomputed_model)
    register("labeling_functions", labeling_functions_model)
