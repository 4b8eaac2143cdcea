"""``--scheduler``: where Dask work runs, from one string.

* ``threads``: the local threaded scheduler (no cluster; numpy releases the GIL in BLAS).
* ``processes``: a ``dask.distributed.LocalCluster`` of worker processes on this machine
  (``processes:N`` for N workers; default one per core, one thread each).
* ``synchronous``: one thread, for debugging.
* ``tcp://host:port`` (or any ``dask.distributed`` address): an existing cluster's scheduler.
"""

from __future__ import annotations

import contextlib

from w2s_plugin.errors import MissingExtraError, W2SError, install_hint

INSTALL = install_hint("dask")


class MissingDaskError(MissingExtraError):
    """The dask extra (dask, or dask.distributed for a cluster) is not installed."""

    def __init__(self, message: str):
        W2SError.__init__(self, message)
        self.extra = "dask"


def _local(spec: str) -> bool:
    return spec in ("threads", "synchronous", "sync")


def require_dask(spec: str | None, flag: str = "--scheduler") -> None:
    """Fail early, with one line naming the extra, when ``spec`` needs a part of dask that is missing."""
    if not spec:
        return
    modules = ("dask", "dask.array") if _local(str(spec)) else ("dask", "dask.array", "distributed")
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            raise MissingDaskError(f"{flag} needs the dask extra: {INSTALL}") from None


@contextlib.contextmanager
def scheduler(spec: str | None):
    """Context manager running Dask work on ``spec``; yields the ``distributed.Client`` or ``None``."""
    if spec is None or spec == "":
        yield None
        return
    require_dask(spec)
    import dask

    spec = str(spec)
    if _local(spec):
        with dask.config.set(scheduler="sync" if spec.startswith("sync") else "threads"):
            yield None
        return
    from distributed import Client, LocalCluster  # present: require_dask checked

    if spec == "processes" or spec.startswith("processes:"):
        n = None
        if ":" in spec:
            try:
                n = int(spec.split(":", 1)[1])
            except ValueError:
                raise W2SError(f"--scheduler {spec!r}: use processes:N with N an integer") from None
        import os

        n = n or os.cpu_count() or 1
        with (
            LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    if "://" in spec or ":" in spec:
        try:
            client = Client(spec, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise W2SError(
                f"--scheduler {spec!r}: cannot reach a dask.distributed scheduler there ({exc})"
            ) from None
        with client:
            yield client
        return
    raise W2SError(
        f"--scheduler {spec!r}: use threads, processes, processes:N, synchronous, "
        "or a dask.distributed address such as tcp://10.0.0.5:8786"
    )
