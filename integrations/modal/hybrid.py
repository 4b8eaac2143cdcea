"""``weak_error_sampling``: a modAL query strategy for people in a hybrid setting.

When weak labels fill in the pool, a human label is worth most where the weak label is wrong: it
replaces a wrong label instead of confirming a right one. The learner (fitted on the human labels
so far) estimates that chance as ``1 - P(weak label)``; the batch is a core-set pick among the
``candidate_factor * n`` highest, so it is not a cluster of near-duplicates (top-n picks of any
score tend to bunch up in one region of the pool).
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.errors import W2SError
from w2s_plugin.hybrid import diverse_pick

from .strategy import _n_rows, weak_proba_of

__all__ = ["weak_error_sampling"]


def weak_error_sampling(
    classifier,
    X_pool,
    n_instances: int = 1,
    *,
    weak_labels=None,
    weak_model=None,
    embeddings=None,
    diverse: bool = True,
    candidate_factor: int = 5,
):
    """modAL query strategy: diverse pool items the weak labeler most likely gets wrong.

    Use it as ``ActiveLearner(..., query_strategy=weak_error_sampling)``, then
    ``learner.query(X_pool, n_instances=20, weak_labels=w)``. Returns ``(indices, scores)`` as modAL
    expects (``learner.query`` adds the rows).

    Parameters
    ----------
    classifier : the modAL ActiveLearner (or anything with ``predict_proba`` and ``classes_``),
        fitted on the human labels so far.
    X_pool : the unlabelled pool.
    n_instances : items to return.
    weak_labels : the weak labeler's class label per pool row; or ``weak_model`` (anything with
        ``predict_proba`` and ``classes_``) to compute them from ``X_pool``.
    embeddings : the representation the diversity is measured in (default ``X_pool``).
    diverse : core-set pick among the top candidates (default) or plain top-n.
    candidate_factor : the core-set pick chooses among this many times ``n_instances``.
    """
    n = _n_rows(X_pool)
    if isinstance(n_instances, bool) or not isinstance(n_instances, (int, np.integer)) or n_instances < 1:
        raise W2SError(f"n_instances must be a positive integer; got {n_instances!r}")
    if weak_labels is None:
        if weak_model is None:
            raise W2SError(
                "weak_error_sampling needs the weak labels: pass weak_labels=(one class per pool row) or "
                "weak_model=(an estimator with predict_proba) to learner.query"
            )
        P = np.asarray(weak_model.predict_proba(X_pool))
        weak_labels = np.asarray(weak_model.classes_)[P.argmax(axis=1)]
    weak_labels = np.asarray(weak_labels)
    if weak_labels.shape != (n,):
        raise W2SError(f"weak_labels has shape {weak_labels.shape}; give one class label per pool row ({n})")
    P = weak_proba_of(classifier, X_pool)
    classes = getattr(classifier, "classes_", None)
    if classes is None:
        classes = getattr(getattr(classifier, "estimator", None), "classes_", None)
    col = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    j = np.asarray([col.get(v, -1) for v in weak_labels.tolist()])
    # a weak label of a class the learner has never seen is as likely wrong as anything can be
    p_right = np.where(j >= 0, P[np.arange(n), np.maximum(j, 0)], 0.0)
    score = 1.0 - p_right
    E = np.asarray(X_pool if embeddings is None else embeddings, dtype=np.float64)
    if E.shape[0] != n:
        raise W2SError(f"embeddings has {E.shape[0]} rows for a pool of {n}")
    if diverse:
        sd = E.std(axis=0)
        idx = diverse_pick(
            (E - E.mean(axis=0)) / np.where(sd > 0, sd, 1.0), score, n_instances, candidate_factor
        )
    else:
        idx = np.argsort(-score, kind="stable")[: int(n_instances)]
    return idx, score[idx]
