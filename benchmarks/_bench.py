"""Small helpers the benchmark scripts share (they run as scripts, so this is imported after they put the
checkout's root on ``sys.path``)."""

from __future__ import annotations

import argparse


def int_parser(doc: str, **defaults: int) -> argparse.ArgumentParser:
    """A parser described by ``doc``'s first line, with one ``--name`` integer option per keyword, in order
    (``rows_per_shard=...`` becomes ``--rows-per-shard``): the sizes every benchmark takes."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    return ap
