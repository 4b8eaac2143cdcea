"""``overlap_sampling``: overlap density as a modAL query strategy.

modAL calls a query strategy as ``strategy(learner, X_pool, *args, **kwargs)`` and unpacks what
it returns into ``(indices, metrics)``. This one scores the pool with the two-stage overlap
detector (weak probabilities from the learner, representations from the strong model) and ranks
it with any registered acquisition strategy.
"""

from __future__ import annotations

import sys

import numpy as np

from w2s_plugin import acquisition, plugins
from w2s_plugin.detector import OverlapDetector
from w2s_plugin.errors import DataError, W2SError
from w2s_plugin.params import accepts

__all__ = ["overlap_sampling", "score_pool", "weak_proba_of"]


def _n_rows(X) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise W2SError(f"X_pool must be an array-like of rows; got {type(X).__name__}") from None


def _check_n_instances(n_instances, n: int) -> None:
    """The one check of ``n_instances`` on the modAL path (against a pool of ``n`` rows)."""
    if not isinstance(n_instances, (int, np.integer)) or isinstance(n_instances, bool) or n_instances < 1:
        raise W2SError(f"n_instances must be a positive integer; got {n_instances!r}")
    if n_instances > n:
        raise W2SError(
            f"n_instances={n_instances} is larger than the pool, which has {n} rows; "
            "ask for at most that many"
        )


def _estimators(classifier):
    """The scikit-learn estimators behind a modAL learner or committee (for the predict_proba check)."""
    if hasattr(classifier, "learner_list"):  # modAL Committee
        return [getattr(lr, "estimator", lr) for lr in classifier.learner_list]
    if hasattr(classifier, "estimator"):  # modAL ActiveLearner
        return [classifier.estimator]
    return [classifier]


def _check_committee_call(classifier) -> None:
    """Refuse ``Committee.query(X_pool, 10)``. modAL 0.4.2.1 declares ``Committee.query(self, X_pool,
    return_metrics=False, *query_args, **query_kwargs)``, so a positional 10 becomes ``return_metrics``
    and the strategy is called with the default ``n_instances=1``: one row comes back, in a 3-tuple.
    The strategy cannot see ``return_metrics``, so it reads it from modAL's frame: the caller, or a
    few frames up when the strategy is wrapped (functools.partial, a decorator)."""
    if not hasattr(classifier, "learner_list"):
        return
    frame, flag = sys._getframe(2), None  # 0: this function, 1: overlap_sampling, 2: modAL or a wrapper
    for _ in range(4):
        if frame is None:
            return
        if frame.f_code.co_name == "query" and frame.f_locals.get("self") is classifier:
            flag = frame.f_locals.get("return_metrics")
            break
        frame = frame.f_back
    if isinstance(flag, (int, np.integer)) and not isinstance(flag, bool):
        raise W2SError(
            f"Committee.query(X_pool, {flag}) gives {flag} to modAL's return_metrics, not n_instances, "
            f"and would query 1 point: call committee.query(X_pool, n_instances={flag})"
        )


def _check_pool_as_embeddings(X_pool) -> None:
    """With neither ``embeddings`` nor ``embed_model``, ``X_pool`` stands in for the strong
    representation. That is right only when ``X_pool`` already is the strong view; a weak view with
    the strong features zeroed has all-zero rows, which detection cannot place. Say so, and what to pass.
    Read in row blocks, so a memory-mapped pool is never copied whole."""
    X = X_pool
    if not isinstance(X, np.ndarray):
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            return  # not numeric: detection's own check names the problem
    if X.ndim != 2 or X.dtype.kind not in "fiub":
        return
    step = 1 << 16
    zero = np.concatenate(
        [np.flatnonzero(~np.asarray(X[i : i + step]).any(axis=1)) + i for i in range(0, X.shape[0], step)]
        or [np.zeros(0, np.int64)]
    )
    if zero.size:
        rows = ", ".join(str(int(i)) for i in zero[:5]) + (" ..." if zero.size > 5 else "")
        raise DataError(
            f"no embeddings= given, so X_pool stands in for the strong model's representation, but "
            f"{zero.size} of its rows are all zero ({rows}; a weak view with the strong features zeroed?): "
            "pass embeddings=, the strong model's representation of the same rows, in the same order"
        )


def weak_proba_of(classifier, X) -> np.ndarray:
    """``classifier.predict_proba(X)`` with the usual mistakes turned into one clear ValueError."""
    name = type(classifier).__name__
    for est in _estimators(classifier):
        try:
            has = callable(getattr(est, "predict_proba", None))
        except AttributeError:  # scikit-learn's available_if (e.g. SVC(probability=False)) raises here
            has = False
        if not has:
            raise W2SError(
                f"overlap_sampling needs class probabilities, but the {type(est).__name__} inside this "
                f"{name} has "
                "no predict_proba; use a probabilistic estimator (e.g. LogisticRegression, "
                "SVC(probability=True), "
                "or CalibratedClassifierCV around it)"
            )
    try:
        return np.asarray(classifier.predict_proba(X))
    except AttributeError as exc:  # NotFittedError is an AttributeError too
        if "not fitted" in str(exc).lower() or type(exc).__name__ == "NotFittedError":
            raise W2SError(
                f"the {name}'s estimator is not fitted yet: give the learner "
                "X_training/y_training "
                "(a labelled seed set) before querying"
            ) from None
        raise W2SError(f"{name}.predict_proba failed: {exc}") from None


def score_pool(
    proba,
    embeddings,
    n_instances: int,
    *,
    strategy: str = "overlap",
    detector=None,
    random_tie_break: bool = False,
    random_state=None,
    source=None,
    refit: bool = False,
    check: bool = True,
    **params,
):
    """Detect overlap among the pool and rank it: ``(indices, scores, report)``.

    ``check=False``: ``n_instances`` was checked by the caller (:func:`overlap_sampling`).

    ``detector``: ``None`` (a fresh :class:`OverlapDetector` fitted on this pool), an unfitted
    detector (fitted on this pool, then kept fitted), or a fitted one (its thresholds and
    hard-only reference are reused through ``predict_report``; ``refit=True`` fits it again on
    this pool, which an ``accumulate=True`` detector merges with its history). Strategies that do
    not need the report (``uncertainty``, ``margin``, ``entropy``, ``random``) skip detection.
    """
    func = plugins.lookup("acquisition_strategies", strategy, "acquisition strategy")
    entry = plugins.get_registry("acquisition_strategies")[strategy]
    P = np.asarray(proba)
    m = P.shape[0]
    if check:
        _check_n_instances(n_instances, m)
    report = None
    if entry.meta.get("needs_report", True):
        if detector is None:
            detector = OverlapDetector(random_state=random_state)
        if not isinstance(detector, OverlapDetector) and not hasattr(detector, "fit"):
            raise W2SError(f"detector must be an OverlapDetector or None; got {type(detector).__name__}")
        if hasattr(detector, "hard_threshold_") and not (refit and m >= 2):
            report = detector.predict_report(P, embeddings)
        else:
            if m < 2:
                raise W2SError(
                    "an unfitted detector needs a pool of at least 2 rows to fit its thresholds; "
                    "pass a fitted OverlapDetector to score a single row"
                )
            report = detector.fit(P, embeddings).report_
    if random_tie_break and accepts(func, "random_tie_break"):
        params["random_tie_break"] = True
    idx, scores = acquisition.rank(
        strategy, report, P, int(n_instances), source=source, random_state=random_state, **params
    )
    return idx, scores, report


def overlap_sampling(
    classifier,
    X_pool,
    n_instances: int = 1,
    *,
    embeddings=None,
    strategy: str = "overlap",
    detector=None,
    random_tie_break: bool = False,
    embed_model=None,
    random_state=None,
    **kwargs,
):
    """modAL query strategy: the pool points an overlap-density strategy wants most.

    Use it as ``ActiveLearner(..., query_strategy=overlap_sampling)`` (or a ``Committee``), then
    ``learner.query(X_pool, n_instances=10, embeddings=E)``. With a ``Committee`` pass
    ``n_instances`` by keyword: ``Committee.query(X, 3)`` binds 3 to ``return_metrics`` (a W2SError
    here, rather than one point quietly).

    Parameters
    ----------
    classifier : modAL ActiveLearner or Committee (anything with ``predict_proba``): the weak model.
    X_pool : the unlabelled pool, one row per point.
    n_instances : how many points to return.
    embeddings : (n, d) strong representations of the pool rows, in the same order. Default:
        ``embed_model`` through the ``w2s_embed`` hook; with neither, ``X_pool`` itself (only right
        when ``X_pool`` is the strong view; all-zero rows there are a DataError saying so).
    strategy : a registered acquisition strategy (``overlap``, ``hard_only``, ``overlap_then_hard``,
        ``uncertainty``, ``margin``, ``entropy``, ``random`` or a plugin's).
    detector : ``OverlapDetector`` or ``None``; see :func:`score_pool`.
    random_tie_break : break score ties at random (seeded by ``random_state``) instead of by index.
    embed_model : the strong model, anything a ``w2s_embed`` plugin understands (a transformer,
        a callable, a model of a registered framework).
    random_state : seeds detection and tie-breaking.
    **kwargs : passed to the acquisition strategy (e.g. ``ratio=0.3`` for ``overlap_then_hard``),
        plus ``source`` (a name given to the lifecycle hooks).

    Returns
    -------
    (indices, scores) : positions in ``X_pool``, best first, and each one's strategy score.
        Always a pair, so modAL's ``query`` unpacks it once (a bare index array of length 2
        would be unpacked as ``(index, metric)``) and ``return_metrics=True`` gives the scores.
    """
    _check_committee_call(classifier)
    plugins.lookup("acquisition_strategies", strategy, "acquisition strategy")  # fail before any work
    needs_report = plugins.get_registry("acquisition_strategies")[strategy].meta.get("needs_report", True)
    n = _n_rows(X_pool)
    _check_n_instances(n_instances, n)
    E = _pool_embeddings(X_pool, n, embeddings, embed_model, needs_report)
    P = weak_proba_of(classifier, X_pool)
    if P.shape[0] != n:
        raise ValueError(
            f"{type(classifier).__name__}.predict_proba returned {P.shape[0]} rows for a pool of {n}"
        )
    idx, scores, _ = score_pool(
        P,
        E,
        int(n_instances),
        strategy=strategy,
        detector=detector,
        random_tie_break=random_tie_break,
        random_state=random_state,
        source=kwargs.pop("source", None),
        check=False,
        **kwargs,
    )
    return idx, scores


def _pool_embeddings(X_pool, n: int, embeddings, embed_model, needs_report: bool):
    """The strong representation of the pool rows: ``embeddings`` as given (one row per pool row), none
    for a strategy without detection, else ``embed_model`` through the ``w2s_embed`` hook (``X_pool``
    itself without one, checked for all-zero rows)."""
    if embeddings is not None:
        rows = _n_rows(embeddings)
        if rows != n:
            raise W2SError(
                f"embeddings has {rows} rows but X_pool has {n}: pass one representation per pool "
                "row, in the same order (recompute them after removing queried rows from the "
                "pool)"
            )
        return embeddings
    if not needs_report:  # uncertainty, margin, ...: no detection, so no representation to compute
        return None
    E = plugins.embed(embed_model, X_pool)
    if _n_rows(E) != n:
        raise ValueError(f"the w2s_embed hook returned {_n_rows(E)} rows for a pool of {n}")
    if embed_model is None:
        _check_pool_as_embeddings(E)
    return E
