"""Small model adapters: views on columns, precomputed arrays and labeling functions.

The weak model and the strong representation can be anything a ``w2s_weak_proba`` /
``w2s_embed`` plugin understands; these adapters cover the common cases without a framework:
a scikit-learn estimator on a subset of columns (the weak *view*), probabilities or embeddings a
user computed elsewhere (e.g. an LLM's), and weak supervision by labeling functions.
"""

from __future__ import annotations

import numpy as np

from .errors import W2SError


class Precomputed:
    """Take the batch's ``extras[key]`` (an array stored with the source) instead of calling a model.

    Use it for probabilities or embeddings computed by another system (an LLM, a Snorkel label model).
    """

    def __init__(self, key: str):
        self.key = key

    def __repr__(self) -> str:
        return f"Precomputed({self.key!r})"

    def from_batch(self, batch) -> np.ndarray:
        if self.key not in batch.extras:
            raise W2SError(
                f"source {batch.source!r} has no precomputed {self.key!r} array; "
                f"it has {sorted(batch.extras) or 'none'}"
            )
        return np.asarray(batch.extras[self.key])


class ColumnView:
    """Select columns of ``X`` (e.g. the weak model's view), optionally then call ``estimator``.

    With an estimator it acts as a weak model (``predict_proba``) or an embedder (``transform``);
    without one it is a representation: the selected columns themselves.
    """

    def __init__(self, columns, estimator=None):
        self.columns = columns if isinstance(columns, slice) else np.asarray(columns, dtype=np.int64)
        self.estimator = estimator

    def view(self, X) -> np.ndarray:
        return np.asarray(X)[:, self.columns]

    def fit(self, X, y):
        self.estimator.fit(self.view(X), y)
        return self

    def predict_proba(self, X):
        return self.estimator.predict_proba(self.view(X))

    def transform(self, X):
        V = self.view(X)
        return (
            self.estimator.transform(V)
            if self.estimator is not None and hasattr(self.estimator, "transform")
            else V
        )


class LabelingFunctions:
    """Weak supervision by labeling functions: each maps a batch to one vote per item (``abstain`` = no vote).

    Probabilities are the smoothed vote shares (``alpha`` pseudo-votes per class), so an item with
    no votes gets a uniform distribution and counts as unconfident.
    """

    def __init__(self, functions, n_classes: int, abstain: int = -1, alpha: float = 1.0):
        if not functions:
            raise W2SError("LabelingFunctions needs at least one labeling function")
        if n_classes < 2:
            raise W2SError(f"LabelingFunctions needs n_classes >= 2; got {n_classes}")
        self.functions = list(functions)
        self.n_classes = int(n_classes)
        self.abstain = abstain
        self.alpha = float(alpha)

    def votes(self, X) -> np.ndarray:
        cols = []
        for f in self.functions:
            v = np.asarray(f(X)).reshape(-1)
            bad = (v != self.abstain) & ((v < 0) | (v >= self.n_classes))
            if bad.any():
                raise W2SError(
                    f"labeling function {getattr(f, '__name__', f)!r} returned labels outside "
                    f"0..{self.n_classes - 1} (abstain is {self.abstain})"
                )
            cols.append(v)
        return np.column_stack(cols)

    def predict_proba(self, X) -> np.ndarray:
        V = self.votes(X)
        counts = np.zeros((V.shape[0], self.n_classes))
        for c in range(self.n_classes):
            counts[:, c] = (V == c).sum(axis=1)
        counts += self.alpha
        return counts / counts.sum(axis=1, keepdims=True)
