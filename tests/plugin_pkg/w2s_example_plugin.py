"""An example third-party w2s_plugin plugin: one acquisition strategy, one overlap scorer and one
``w2s`` subcommand, found through the ``w2s_plugin`` entry-point group."""

import numpy as np

from w2s_plugin import hookimpl


def weak_confident(report, proba, n, *, random_state=None):
    """Most confident weak labels first: the points to weak-label without a human."""
    conf = np.asarray(report.confidence, dtype=np.float64)
    order = np.lexsort((np.arange(conf.size), -conf))[:n]
    return order, conf[order]


class CentroidCosine:
    """|cosine| to the mean direction of the hard-only points (a deliberately simple scorer)."""

    def __init__(self, eps: float = 1e-12):
        self.eps = eps

    def fit(self, X, rows=None):
        X = np.asarray(X if rows is None else np.asarray(X)[rows], dtype=np.float64)
        c = (X / (np.linalg.norm(X, axis=1, keepdims=True) + self.eps)).mean(axis=0)
        self.center_ = c / (np.linalg.norm(c) + self.eps)
        return self

    def score(self, X):
        X = np.asarray(X, dtype=np.float64)
        return np.abs(X @ self.center_) / (np.linalg.norm(X, axis=1) + self.eps)


@hookimpl
def register_acquisition_strategies(register):
    register("weak_confident", weak_confident, needs_report=True)


@hookimpl
def register_overlap_scorers(register):
    register("centroid_cosine", CentroidCosine)


def _hello(args):
    print(f"hello from w2s-example-plugin, {args.name}")
    return 0


@hookimpl
def register_commands(subparsers):
    p = subparsers.add_parser("example-hello", help="say hello (example plugin)")
    p.add_argument("--name", default="world")
    p.set_defaults(func=_hello)
