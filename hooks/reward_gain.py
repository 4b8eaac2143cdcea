"""Built-in ``gain`` reward: what a source's weak labels do to the strong model's accuracy on gold.

For users with a gold sample. The gold items are split once into two halves A and B. Each round,
a strong model (logistic regression on the standardized representation) is fit on half A's gold
labels plus the batch's *weak* labels and scored on half B, and the other way round; the reward
is the change against the same models fit on the gold half alone:

    delta  = mean over the two halves of  acc_B(fit(A + batch)) - acc_B(fit(A))
    reward = clip(0.5 + scale * delta, 0, 1)

where ``acc`` is the mean probability the model gives each held-out gold item's class (a smooth
accuracy: one batch moves it measurably even when it flips few predictions).

Why this design (libact's ALBL also scores arms by a learner's accuracy on labelled data):

* It measures what the campaign is for: confidently wrong weak labels pull a strong model away
  from the gold labels however overlap-dense their source looks, so that source's reward falls.
* The reference is clean (gold labels) and fixed, so the reward is stationary: it does not depend
  on what was drawn before, and a wrong batch always hurts. A gold item is never scored by a model
  that saw it (cross-fitting over the two halves).
* Good sources get similar rewards (correct labels add little to a model that already has gold
  labels), so ``ucb`` spreads the budget over them as ``random`` would, and keeps the variety of
  the training set; it concentrates only away from harmful sources.
* Cheap: four fits per round on half the gold sample plus one batch; no state to save.

In a hybrid campaign (``Campaign(annotate=..., human_budget=...)``) the reference is the labels
held *so far*: gold plus the human labels collected, re-split each time it grows. The batch's
weak labels (at weight 1) are then measured against everything people have labelled, so the reward
falls below 0.5 (the batch hurts) once the human labels alone do better than with those weak
labels: it turns negative when weak labels stop paying. Until 20 labels exist it is 0.5.

A first design scored the batch against a reservoir of the campaign's own earlier draws; on the
real-data studies it drew up to a third of the budget from a mislabelled source on some seeds
(once wrong labels are in the reference, more of them hurt little). docs/results.md has the numbers.
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.errors import W2SError
from w2s_plugin.hookspecs import hookimpl


def _strong_view(X):
    return X["strong"] if isinstance(X, dict) else X


class GainReward:
    """Cross-fitted change of a strong model's gold accuracy when the batch's weak labels join half
    of the gold sample.

    Parameters
    ----------
    gold : optional ``(E_gold, y_gold)``: gold items already in the strong representation and their
        class labels. Without it, :meth:`bind` reads ``engine.gold`` and embeds it with ``engine.embed``.
    scale : reward per unit of change (0.5 + scale * delta, clipped to [0, 1]); 10 maps a 5-point
        change to the ends of the range.
    C : inverse regularization of the logistic regression.
    random_state : seeds the split of the gold sample into halves.
    """

    name = "gain"

    def __init__(self, gold=None, *, scale: float = 10.0, C: float = 1.0, random_state=0):
        if not scale > 0:
            raise W2SError(f"gain reward: scale must be positive; got {scale!r}")
        self.scale, self.C, self.random_state = float(scale), float(C), random_state
        self._halves = None
        self._hybrid, self._n_ref = None, 0
        if gold is not None:
            self._set_gold(*gold)

    def _set_gold(self, E_gold, y_gold):
        E = np.asarray(E_gold, dtype=np.float64)
        y = np.asarray(y_gold)
        if E.ndim != 2 or y.ndim != 1 or E.shape[0] != y.shape[0]:
            raise W2SError(
                f"gain reward: gold must be (n, d) embeddings and n labels; got {E.shape} and {y.shape}"
            )
        if E.shape[0] < 20 or np.unique(y).size < 2:
            raise W2SError(
                "gain reward needs a gold sample of at least 20 items with at least two classes; "
                f"got {E.shape[0]} item(s) and {np.unique(y).size} class(es)"
            )
        self._mu = E.mean(axis=0)
        sd = E.std(axis=0)
        self._sd = np.where(sd > 0, sd, 1.0)
        E = (E - self._mu) / self._sd
        perm = np.random.default_rng(self.random_state).permutation(y.size)
        a, b = perm[: y.size // 2], perm[y.size // 2 :]
        self._halves = ((E[a], y[a], E[b], y[b]), (E[b], y[b], E[a], y[a]))
        self._base = [self._acc(Et, yt, Ee, ye).mean() for Et, yt, Ee, ye in self._halves]

    def bind(self, engine) -> None:
        """Embed ``engine.gold`` once with the campaign's strong representation."""
        if self._halves is not None:
            return
        gold = getattr(engine, "gold", None)
        if getattr(engine, "hybrid", None) is not None:  # the reference grows with the human labels
            self._hybrid = engine.hybrid
            return
        if gold is None:
            raise W2SError(
                "reward 'gain' needs a gold sample: pass gold=(X_gold, y_gold) (items in the sources' "
                "own form, labels as classes), or choose reward='overlap'"
            )
        X, y = gold
        self._set_gold(engine.embed(_strong_view(X)), y)

    def _acc(self, E, y, E_eval, y_eval) -> np.ndarray:
        """Per held-out gold item, the probability a logistic regression fit on (E, y) gives its class."""
        from sklearn.linear_model import LogisticRegression

        classes = np.unique(y)
        if classes.size < 2:
            return np.asarray(y_eval == classes[0], dtype=np.float64)
        model = LogisticRegression(C=self.C, max_iter=300).fit(E, y)
        proba = model.predict_proba(E_eval)
        col = {c: i for i, c in enumerate(model.classes_.tolist())}
        j = np.asarray([col.get(c, -1) for c in y_eval.tolist()])
        return np.where(j >= 0, proba[np.arange(y_eval.size), np.maximum(j, 0)], 0.0)

    def score(self, embeddings, weak_labels) -> float:
        """The reward for a batch (embeddings in the strong representation, weak labels as classes)."""
        if self._halves is None:
            raise W2SError("reward 'gain' is not bound to a gold sample: call bind(engine) or pass gold=...")
        E = (np.asarray(embeddings, dtype=np.float64) - self._mu) / self._sd
        y = np.asarray(weak_labels)
        if E.shape[0] == 0:
            return 0.5
        delta = np.mean(
            [
                self._acc(
                    np.vstack([Et, E]), np.concatenate([yt, y.astype(yt.dtype, copy=False)]), Ee, ye
                ).mean()
                - base
                for (Et, yt, Ee, ye), base in zip(self._halves, self._base)
            ]
        )
        return float(np.clip(0.5 + self.scale * delta, 0.0, 1.0))

    def _refresh(self) -> bool:
        """A hybrid campaign: the reference is the gold and human labels held now. False: too few."""
        E, y = self._hybrid.labelled()
        if y.size < 20 or np.unique(y).size < 2:
            return False
        if y.size != self._n_ref:
            self._set_gold(E, np.asarray(y.tolist()))
            self._n_ref = int(y.size)
        return True

    def __call__(self, info) -> float:
        if self._hybrid is not None and not self._refresh():
            return 0.5
        return self.score(info.embeddings, info.weak_labels)

    def state(self) -> dict:
        """Nothing accumulates: the reward depends only on the gold sample and the batch."""
        return {}

    def load_state(self, state: dict) -> None:
        return None


def make_gain(**params) -> GainReward:
    return GainReward(**params)


@hookimpl
def register_rewards(register):
    register("gain", make_gain)
