"""modAL integration: overlap density as a query strategy, and a learner that picks its pool.

Needs the ``modal`` extra (``pip install -e '.[modal]'`` in a checkout). See docs/modal.md.
"""

from .hybrid import weak_error_sampling
from .learner import MultiSourceLearner
from .strategy import overlap_sampling, score_pool

__all__ = ["MultiSourceLearner", "overlap_sampling", "score_pool", "weak_error_sampling"]
