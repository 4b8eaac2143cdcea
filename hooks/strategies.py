"""Built-in acquisition strategies: which points to label or weak-label next.

A strategy ranks the points of an overlap report and returns the ``n`` best, best first, with a
finite score each (higher = more wanted), so the same numbers can sort a Label Studio queue.
Strategies take only the keyword parameters they use, so a misspelt parameter in a config file
is an error rather than silently ignored. ``random_tie_break=True`` breaks ties at random (seeded);
the default breaks them by index, so results never depend on the sort algorithm.
"""

from __future__ import annotations

import numpy as np

from w2s_plugin.detector import Region
from w2s_plugin.errors import W2SError
from w2s_plugin.hookspecs import hookimpl
from w2s_plugin.validation import check_proba, check_random_state


def top_n(scores: np.ndarray, n: int, random_tie_break: bool = False, random_state=None) -> np.ndarray:
    """Indices of the ``n`` largest scores, best first; ties broken by index, or at random."""
    scores = np.asarray(scores, dtype=np.float64)
    n = int(min(n, scores.size))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    if random_tie_break:
        perm = check_random_state(random_state).permutation(scores.size)
        order = perm[np.argsort(-scores[perm], kind="stable")]
        return order[:n]
    if n < scores.size:
        part = np.argpartition(-scores, n - 1)[:n]
        # argpartition does not keep ties in index order: widen to every tie of the n-th score.
        cutoff = scores[part].min()
        part = np.flatnonzero(scores >= cutoff)
    else:
        part = np.arange(scores.size)
    order = part[np.lexsort((part, -scores[part]))]
    return order[:n]


def overlap_scores(report) -> np.ndarray:
    """Per-point acquisition score of the ``overlap`` strategy: the overlap score for non-hard
    points; hard-only points rank below every non-hard one (by confidence), so the scores stay finite."""
    s = np.asarray(report.overlap_score, dtype=np.float64).copy()
    hard = report.regions == int(Region.HARD_ONLY)
    lo = np.nanmin(s[~hard]) if (~hard).any() else 0.0
    s[hard] = lo - 1.0 + report.confidence[hard]
    return s


def _pick(scores, n, random_tie_break=False, random_state=None, **_):
    idx = top_n(scores, n, random_tie_break, random_state)
    return idx, scores[idx]


def overlap(report, proba, n, *, random_state=None, random_tie_break=False):
    """Most overlap-like first: the points whose weak labels are right and which carry the hard pattern."""
    return _pick(overlap_scores(report), n, random_tie_break, random_state)


def hard_only(report, proba, n, *, random_state=None, random_tie_break=False):
    """Least confident first: what humans should label because the weak model cannot."""
    return _pick(1.0 - np.asarray(report.confidence, dtype=np.float64), n, random_tie_break, random_state)


def overlap_then_hard(report, proba, n, *, ratio: float = 0.5, random_state=None, random_tie_break=False):
    """``ceil(ratio * n)`` points by ``overlap``, the rest by ``hard_only`` (weak labels for the first,
    human labels for the second). Scores are each ranking's own."""
    if not 0.0 <= float(ratio) <= 1.0:
        raise W2SError(f"overlap_then_hard: ratio must be in [0, 1]; got {ratio!r}")
    n = int(min(n, len(report)))
    n_over = int(np.ceil(ratio * n))
    o_scores = overlap_scores(report)
    first = top_n(o_scores, n_over, random_tie_break, random_state)
    h_scores = 1.0 - np.asarray(report.confidence, dtype=np.float64)
    rest = h_scores.copy()
    rest[first] = -np.inf
    second = top_n(rest, n - first.size, random_tie_break, random_state)
    idx = np.concatenate([first, second])
    return idx, np.concatenate([o_scores[first], h_scores[second]])


def uncertainty(report, proba, n, *, random_state=None, random_tie_break=False):
    """Classic least-confidence sampling: ``1 - max_k p_k``."""
    P = check_proba(proba)
    return _pick(1.0 - P.max(axis=1), n, random_tie_break, random_state)


def margin(report, proba, n, *, random_state=None, random_tie_break=False):
    """Smallest margin between the two most likely classes first (score = minus the margin)."""
    P = check_proba(proba)
    top2 = np.partition(P, P.shape[1] - 2, axis=1)[:, -2:]
    return _pick(-(top2[:, 1] - top2[:, 0]), n, random_tie_break, random_state)


def entropy(report, proba, n, *, random_state=None, random_tie_break=False):
    """Highest predictive entropy first."""
    P = check_proba(proba)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1)
    return _pick(h, n, random_tie_break, random_state)


def confident(report, proba, n, *, random_state=None):
    """Uniformly at random among the points detection does not call hard-only (seeded); hard-only
    points only when the rest run out, least hard first. The control that separates the paper's two
    stages: it drops hard-only points like ``overlap`` does but ignores the overlap score, so
    ``overlap`` helps only where it beats ``confident``."""
    rng = check_random_state(random_state)
    conf = np.asarray(report.confidence, dtype=np.float64)
    scores = 1.0 + rng.random(len(report))  # non-hard: uniform in [1, 2)
    hard = report.regions == int(Region.HARD_ONLY)
    scores[hard] = conf[hard] - 1.0  # hard-only: below every non-hard point, most confident first
    return _pick(scores, n)


def random(report, proba, n, *, random_state=None):
    """Uniformly at random (seeded): the baseline every other strategy must beat."""
    rng = check_random_state(random_state)
    m = len(report) if report is not None else check_proba(proba).shape[0]
    scores = rng.random(m)
    return _pick(scores, n)


@hookimpl
def register_acquisition_strategies(register):
    register("overlap", overlap, needs_report=True)
    register("hard_only", hard_only, needs_report=True)
    register("overlap_then_hard", overlap_then_hard, needs_report=True)
    register("uncertainty", uncertainty, needs_report=False)
    register("margin", margin, needs_report=False)
    register("entropy", entropy, needs_report=False)
    register("confident", confident, needs_report=True)
    register("random", random, needs_report=False)
