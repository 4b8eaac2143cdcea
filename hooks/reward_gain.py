"""Built-in ``gain`` reward: what a source's weak labels do to the strong model's accuracy on gold.

For users with a gold sample. Each round the drawn batch's weak labels are added to a small
*reference* training set (a uniform reservoir of the items drawn so far, from every source), and
the reward is the change in the reference strong model's accuracy on the gold items, paired on
the same gold items (only predictions that flip count):

    reward = clip(0.5 + scale * (acc_gold(fit(R + batch)) - acc_gold(fit(R))), 0, 1)

Why this design (libact's ALBL also scores arms by accuracy, but of a learner on queried labels):

* It measures the decision the campaign serves: a batch of confidently wrong weak labels pulls the
  model's gold accuracy down however overlap-dense it looks, so its source's reward falls.
* The reference is a fixed-size reservoir (``reference_size`` items), so adding a batch of the
  same size always means the same thing: the reward does not shrink as the campaign grows, and a
  source the campaign has neglected (items the reference lacks) shows its true gain.
* It is cheap: two fits of a logistic regression on at most ``reference_size + batch`` items, and
  predictions on the gold items, per round. Gold embeddings and the scaler are computed once.
* Noise: paired evaluation removes the gold sample's sampling noise shared by both models; the
  bandit's mean over rounds does the rest. Until the reference holds ``min_reference`` items the
  reward is the batch model's own gold accuracy (nothing to compare with yet).
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.errors import W2SError
from w2s_plugin.hookspecs import hookimpl


def _strong_view(X):
    return X["strong"] if isinstance(X, dict) else X


class GainReward:
    """Paired change of a reference strong model's gold accuracy when the round's batch is added.

    Parameters
    ----------
    gold : optional ``(E_gold, y_gold)``: gold items already in the strong representation and their
        class labels. Without it, :meth:`bind` reads ``engine.gold`` and embeds it with ``engine.embed``.
    reference_size : items kept in the reservoir the batch is compared against.
    scale : reward per unit of accuracy change (0.5 + scale * delta, clipped to [0, 1]); 5 maps a
        10-point change to the ends of the range.
    C : inverse regularization of the reference logistic regression.
    min_reference : below this many reference items the reward is the batch model's gold accuracy.
    random_state : seeds the reservoir.
    """

    name = "gain"

    def __init__(self, gold=None, *, reference_size: int = 400, scale: float = 5.0, C: float = 1.0,
                 min_reference: int = 50, random_state=0):
        if reference_size < 10:
            raise W2SError(f"gain reward: reference_size must be at least 10; got {reference_size!r}")
        if not scale > 0:
            raise W2SError(f"gain reward: scale must be positive; got {scale!r}")
        self.reference_size, self.scale, self.C = int(reference_size), float(scale), float(C)
        self.min_reference = int(min_reference)
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self._E = None      # reservoir embeddings (standardized)
        self._y = None      # reservoir weak labels
        self._seen = 0
        self._gold = None
        if gold is not None:
            self._set_gold(*gold)

    # -- gold ---------------------------------------------------------------------------------
    def _set_gold(self, E_gold, y_gold):
        E = np.asarray(E_gold, dtype=np.float64)
        y = np.asarray(y_gold)
        if E.ndim != 2 or y.ndim != 1 or E.shape[0] != y.shape[0]:
            raise W2SError(f"gain reward: gold must be (n, d) embeddings and n labels; got {E.shape} and {y.shape}")
        if E.shape[0] < 10 or np.unique(y).size < 2:
            raise W2SError("gain reward needs a gold sample of at least 10 items with at least two classes; "
                           f"got {E.shape[0]} item(s) and {np.unique(y).size} class(es)")
        self._mu = E.mean(axis=0)
        sd = E.std(axis=0)
        self._sd = np.where(sd > 0, sd, 1.0)
        self._gold = ((E - self._mu) / self._sd, y)

    def bind(self, engine) -> None:
        """Embed ``engine.gold`` once with the campaign's strong representation."""
        if self._gold is not None:
            return
        gold = getattr(engine, "gold", None)
        if gold is None:
            raise W2SError("reward 'gain' needs a gold sample: pass gold=(X_gold, y_gold) (items in the sources' "
                           "own form, labels as classes), or choose reward='overlap'")
        X, y = gold
        self._set_gold(engine.embed(_strong_view(X)), y)

    # -- the reward ---------------------------------------------------------------------------
    def _acc(self, E, y) -> np.ndarray:
        """Per-gold-item correctness of a logistic regression fit on (E, y)."""
        from sklearn.linear_model import LogisticRegression

        Eg, yg = self._gold
        classes = np.unique(y)
        if classes.size < 2:
            pred = np.full(yg.shape, classes[0], dtype=object)
        else:
            pred = LogisticRegression(C=self.C, max_iter=300).fit(E, y).predict(Eg)
        return np.asarray(pred == yg, dtype=np.float64)

    def score(self, embeddings, weak_labels) -> float:
        """The reward for a batch (embeddings in the strong representation, weak labels as classes)."""
        if self._gold is None:
            raise W2SError("reward 'gain' is not bound to a gold sample: call bind(engine) or pass gold=...")
        E = (np.asarray(embeddings, dtype=np.float64) - self._mu) / self._sd
        y = np.asarray(weak_labels)
        if E.shape[0] == 0:
            return 0.5
        if self._E is None or self._E.shape[0] < self.min_reference:
            value = float(self._acc(E, y).mean())
        else:
            delta = float((self._acc(np.vstack([self._E, E]), np.concatenate([self._y, y]))
                           - self._acc(self._E, self._y)).mean())
            value = float(np.clip(0.5 + self.scale * delta, 0.0, 1.0))
        self._add(E, y)
        return value

    def _add(self, E, y):
        """Reservoir sampling: every item drawn so far is in the reference with equal probability."""
        if self._E is None:
            self._E, self._y = E[:0].copy(), y[:0].copy()
        for i in range(E.shape[0]):
            self._seen += 1
            if self._E.shape[0] < self.reference_size:
                self._E = np.vstack([self._E, E[i:i + 1]])
                self._y = np.concatenate([self._y, y[i:i + 1]])
            else:
                j = int(self._rng.integers(self._seen))
                if j < self.reference_size:
                    self._E[j], self._y[j] = E[i], y[i]

    def __call__(self, info) -> float:
        return self.score(info.embeddings, info.weak_labels)

    # -- persistence ----------------------------------------------------------------------------
    def state(self) -> dict:
        return {"seen": self._seen, "reference": None if self._E is None else self._E.tolist(),
                "labels": None if self._y is None else self._y.tolist(),
                "rng": self._rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        self._seen = int(state.get("seen", 0))
        if state.get("reference") is not None:
            self._E = np.asarray(state["reference"], dtype=np.float64)
            self._y = np.asarray(state["labels"])
        if state.get("rng"):
            self._rng.bit_generator.state = state["rng"]


def make_gain(**params) -> GainReward:
    return GainReward(**params)


@hookimpl
def register_rewards(register):
    register("gain", make_gain)
