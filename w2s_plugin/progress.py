"""Progress bars: tqdm when it is installed (the ``progress`` extra), a plain stderr line otherwise."""

from __future__ import annotations

import sys
import time


class _Plain:
    def __init__(self, total=None, desc="", disable=False, **_):
        self.total, self.desc, self.disable, self.n = total, desc, disable, 0
        self._last = 0.0
        self._postfix = ""

    def update(self, k=1):
        self.n += k
        now = time.monotonic()
        if not self.disable and (now - self._last > 0.5 or self.n == self.total):
            self._last = now
            tot = f"/{self.total}" if self.total else ""
            sys.stderr.write(f"\r{self.desc} {self.n}{tot} {self._postfix}"[:160].ljust(60))
            sys.stderr.flush()

    def set_postfix_str(self, s, refresh=True):
        self._postfix = s

    def close(self):
        if not self.disable and self.n:
            sys.stderr.write("\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(total=None, desc="", disable=False, unit="it"):
    """A progress bar with ``update``, ``set_postfix_str`` and ``close``."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Plain(total=total, desc=desc, disable=disable)
    return tqdm(total=total, desc=desc, disable=disable, unit=unit, dynamic_ncols=True, leave=True)
