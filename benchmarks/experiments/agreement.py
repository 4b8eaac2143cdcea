"""An ``agreement`` reward, measured in the real-data study as a candidate third reward and *not*
registered as a built-in: it was no better than ``gain`` anywhere and lost 0.8 points against
random sources on spam's topic clusters (docs/results.md section 6).

How often a batch's weak labels agree with a strong model fit on gold, the cheapest accuracy-based
reward: once, at bind time, a logistic
regression is fit on the gold items' strong representation and labels; each round the reward is
the mean probability that model gives the batch's *weak* labels, i.e. an estimate of the batch's
weak-label accuracy as the strong model sees it. One prediction per round, no refit, stationary
(it does not depend on what was drawn before). It catches a confidently mislabelled source as
``gain`` does; unlike ``gain`` it is blind to coverage (a source whose labels are right but that
adds nothing new scores as high as one that fills a gap).
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.errors import W2SError


class AgreementReward:
    """Mean probability, under a strong model fit on gold, of the batch's weak labels.

    Parameters
    ----------
    gold : optional ``(E_gold, y_gold)`` in the strong representation; else read at :meth:`bind`.
    C : inverse regularization of the gold model.
    """

    name = "agreement"

    def __init__(self, gold=None, *, C: float = 1.0):
        self.C = float(C)
        self._model = None
        if gold is not None:
            self._fit(*gold)

    def _fit(self, E, y):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        E, y = np.asarray(E, dtype=np.float64), np.asarray(y)
        if E.ndim != 2 or E.shape[0] != y.shape[0] or E.shape[0] < 10 or np.unique(y).size < 2:
            raise W2SError(
                "agreement reward needs a gold sample of at least 10 items with at least two classes "
                f"(embeddings (n, d) and n labels); got {E.shape} and {y.shape}"
            )
        self._model = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=1000)).fit(E, y)
        self._col = {c: i for i, c in enumerate(self._model.classes_.tolist())}

    def bind(self, engine) -> None:
        if self._model is not None:
            return
        gold = getattr(engine, "gold", None)
        if gold is None:
            raise W2SError(
                "reward 'agreement' needs a gold sample: pass gold=(X_gold, y_gold), or choose "
                "reward='overlap'"
            )
        X, y = gold
        self._fit(engine.embed(X["strong"] if isinstance(X, dict) else X), y)

    def score(self, embeddings, weak_labels) -> float:
        if self._model is None:
            raise W2SError(
                "reward 'agreement' is not bound to a gold sample: call bind(engine) or pass gold=..."
            )
        E = np.asarray(embeddings, dtype=np.float64)
        if E.shape[0] == 0:
            return 0.5
        P = self._model.predict_proba(E)
        j = np.asarray([self._col.get(c, -1) for c in np.asarray(weak_labels).tolist()])
        return float(np.where(j >= 0, P[np.arange(E.shape[0]), np.maximum(j, 0)], 0.0).mean())

    def __call__(self, info) -> float:
        return self.score(info.embeddings, info.weak_labels)
