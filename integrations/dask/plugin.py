"""The ``dask`` plugin: the ``shards`` source type (and the ``shards://`` scheme), the array backend
that runs :class:`~w2s_plugin.OverlapDetector` on dask collections, and the ``--scheduler`` option
of ``w2s detect`` and ``w2s campaign run``.

Loaded through the ``w2s_plugin`` entry point; dask is imported only when a dask collection or a
``--scheduler`` is actually used, so listing plugins (or starting ``w2s``) never needs it.
"""

from __future__ import annotations

from w2s_plugin.hookspecs import hookimpl

SCHEDULER_HELP = "threads, processes[:N], or a dask.distributed address"
#: Built-in commands that get ``--scheduler``.
COMMANDS = ("detect", "campaign run")


def load_shards(location, name, **params):
    """A pool stored as a directory of ``.npy`` / Parquet shards (see docs/dask.md)."""
    from .sources import load_shards as _load

    return _load(location, name, **params)


@hookimpl
def register_sources(register):
    register("shards", load_shards, schemes=("shards",))


def is_dask_collection(x) -> bool:
    """A dask array, dataframe or series, recognised without importing dask."""
    return type(x).__module__.split(".")[0] in ("dask", "dask_expr")


class DaskBackend:
    """:class:`~w2s_plugin.protocols.ArrayBackend` for dask collections (``detect.py`` does the work)."""

    def fit_detector(self, detector, proba, embeddings):
        from .detect import fit_detector

        return fit_detector(detector, proba, embeddings)

    def predict_report(self, detector, proba, embeddings):
        from .detect import predict_report

        return predict_report(detector, proba, embeddings)


_BACKEND = DaskBackend()


@hookimpl
def w2s_array_backend(data):
    return _BACKEND if is_dask_collection(data) else None


@hookimpl
def add_command_options(command, parser):
    if command == "detect":
        parser.add_argument(
            "--scheduler",
            default=None,
            help=f"run on Dask (needs the dask extra): {SCHEDULER_HELP}; "
            "--proba/--embeddings "
            "may then be .npy files or directories of shards",
        )
    elif command == "campaign run":
        parser.add_argument(
            "--scheduler",
            default=None,
            help=f"Dask scheduler for dask-backed sources (dask extra): {SCHEDULER_HELP}",
        )


@hookimpl
def command_context(command, args):
    """``campaign run --scheduler``: the rounds run on that scheduler (the extra is checked now)."""
    spec = getattr(args, "scheduler", None)
    if command not in COMMANDS or not spec:
        return None
    from .cluster import require_dask, scheduler

    require_dask(spec)  # before any work: a missing extra is one line, nothing computed
    return scheduler(spec) if command == "campaign run" else None


@hookimpl
def w2s_run_command(command, args, config):
    """``detect --scheduler``: the whole command runs on Dask, arrays never gathered."""
    if command != "detect" or not getattr(args, "scheduler", None):
        return None
    from .cli import detect_on_dask

    return detect_on_dask(args)
