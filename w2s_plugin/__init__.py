"""w2s_plugin: overlap density as an acquisition function.

Detect *overlap* points (a correct weak label and a hard pattern), estimate each source's
overlap density, and let a bandit pick where the next batch comes from: the data where
weak-to-strong generalization pays most. See README.md and docs/.
"""

from .bandit import SourceBandit
from .campaign import Campaign
from .detector import DEFAULT_SCORER, OverlapDetector, OverlapReport, Region, W2SWarning, detect_overlap
from .hookspecs import hookimpl
from .models import ColumnView, LabelingFunctions, Precomputed
from .overlap import change_point_threshold, weak_confidence
from .sources import Batch, Source

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "Campaign",
    "ColumnView",
    "DEFAULT_SCORER",
    "LabelingFunctions",
    "OverlapDetector",
    "OverlapReport",
    "Precomputed",
    "Region",
    "Source",
    "SourceBandit",
    "W2SWarning",
    "change_point_threshold",
    "detect_overlap",
    "hookimpl",
    "weak_confidence",
]
