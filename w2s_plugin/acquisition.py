"""Running a named acquisition strategy: registry lookup, checks on what it returns, lifecycle hooks."""

from __future__ import annotations

import numpy as np

from . import plugins
from .errors import DataError, W2SError
from .params import check_params as _check_params
from .validation import check_proba


def strategy_names() -> list[str]:
    return sorted(plugins.get_registry("acquisition_strategies"))


def check_params(strategy: str, params: dict) -> None:
    """Raise a W2SError naming the parameters ``strategy`` accepts if ``params`` has others."""
    func = plugins.lookup("acquisition_strategies", strategy, "acquisition strategy")
    # report, proba, n are the library's; random_state is passed by rank() itself
    _check_params(func, params, f"acquisition strategy {strategy!r}", skip=3, supplied=("random_state",))


def dry_run(strategy: str, params: dict) -> None:
    """Call ``strategy`` once on six made-up points, so a bad parameter *value* (``ratio = 7``) is
    reported when a configuration is checked rather than in the middle of a campaign."""
    import numpy as np

    from .detector import OverlapReport

    check_params(strategy, params)
    conf = np.linspace(0.05, 0.95, 6)
    report = OverlapReport(
        regions=np.array([1, 1, 0, 2, 0, 2]),
        confidence=conf,
        overlap_score=np.array([np.nan, np.nan, 0.1, 0.8, 0.2, 0.9]),
        hard_threshold=0.3,
        overlap_threshold=0.5,
    )
    p1 = (1 + conf) / 2
    rank(strategy, report, np.column_stack([1 - p1, p1]), 2, random_state=0, **params)


def rank(strategy: str, report, proba, n: int, *, source=None, random_state=None, **params):
    """Pick ``n`` points of ``report`` with the strategy registered as ``strategy``.

    Returns ``(indices, scores)``, best first. Calls the ``before_query`` / ``after_query``
    lifecycle hooks around the strategy. A strategy that returns malformed output is a bug in
    its plugin: that stays a plain ValueError (a traceback in the CLI).
    """
    func = plugins.lookup("acquisition_strategies", strategy, "acquisition strategy")
    entry = plugins.get_registry("acquisition_strategies")[strategy]
    if report is None and entry.meta.get("needs_report", True):
        raise W2SError(
            f"acquisition strategy {strategy!r} ranks points by their overlap report: "
            "detect overlap first (OverlapDetector / detect_overlap) and pass the report"
        )
    check_params(strategy, params)
    P = check_proba(proba)
    m = P.shape[0]
    if report is not None and len(report) != m:
        raise DataError(f"the overlap report has {len(report)} points but proba has {m}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise W2SError(f"n must be a positive integer; got {n!r}")
    if n > m:
        raise DataError(f"asked for {n} points but only {m} candidates are available")
    plugins.call_lifecycle("before_query", source=source, n=int(n))
    try:
        out = func(report, P, int(n), random_state=random_state, **params)
    except TypeError as exc:
        raise W2SError(f"acquisition strategy {strategy!r}: {exc}") from None
    try:
        idx, scores = out
    except (TypeError, ValueError):
        raise ValueError(
            f"acquisition strategy {strategy!r} must return (indices, scores); got {type(out).__name__}"
        ) from None
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if idx.size != scores.size:
        raise ValueError(
            f"acquisition strategy {strategy!r} returned {idx.size} indices but {scores.size} scores"
        )
    if idx.size and (idx.min() < 0 or idx.max() >= m or np.unique(idx).size != idx.size):
        raise ValueError(f"acquisition strategy {strategy!r} returned out-of-range or repeated indices")
    if not np.isfinite(scores).all():
        raise ValueError(f"acquisition strategy {strategy!r} returned non-finite scores")
    plugins.call_lifecycle("after_query", source=source, indices=idx, scores=scores, report=report)
    return idx, scores
