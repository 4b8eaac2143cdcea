"""w2s_plugin: overlap density as an acquisition function.

Detect *overlap* points (a correct weak label and a hard pattern), estimate each source's
overlap density, and let a bandit pick where the next batch comes from: the data where
weak-to-strong generalization pays most. See README.md and docs/.

The public names below are imported on first use (PEP 562), so ``import w2s_plugin`` and the
``w2s`` command start without loading numpy and scikit-learn until a command needs them.
"""

from typing import TYPE_CHECKING

from .hookspecs import hookimpl  # noqa: F401  (re-exported: listed in __all__)
from .lazy import lazy_getattr

__version__ = "0.1.0"

_LAZY = {
    "SourceBandit": ".bandit",
    "Campaign": ".campaign",
    "DEFAULT_SCORER": ".detector",
    "OverlapDetector": ".detector",
    "OverlapReport": ".detector",
    "Region": ".detector",
    "W2SWarning": ".detector",
    "detect_overlap": ".detector",
    "ColumnView": ".models",
    "LabelingFunctions": ".models",
    "Precomputed": ".models",
    "change_point_threshold": ".overlap",
    "weak_confidence": ".overlap",
    "Batch": ".sources",
    "Source": ".sources",
    "RunSettings": ".settings",
    "W2SError": ".errors",
    "ConfigError": ".errors",
    "DataError": ".errors",
    "StateError": ".errors",
    "SettingError": ".errors",
    "PluginError": ".errors",
    "MissingExtraError": ".errors",
}

__all__ = sorted([*_LAZY, "hookimpl"])


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__():
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs
    from .bandit import SourceBandit  # noqa: F401
    from .campaign import Campaign  # noqa: F401
    from .detector import DEFAULT_SCORER, OverlapDetector, OverlapReport, Region, W2SWarning, detect_overlap  # noqa: F401
    from .errors import (  # noqa: F401
        ConfigError,
        DataError,
        MissingExtraError,
        PluginError,
        SettingError,
        StateError,
        W2SError,
    )
    from .models import ColumnView, LabelingFunctions, Precomputed  # noqa: F401
    from .overlap import change_point_threshold, weak_confidence  # noqa: F401
    from .settings import RunSettings  # noqa: F401
    from .sources import Batch, Source  # noqa: F401
