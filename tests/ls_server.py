"""Where the tests' real Label Studio server is (scripts/test.sh starts one and exports its address)."""

from __future__ import annotations

import os

import pytest

NOT_SET = (
    "LABEL_STUDIO_URL is not set: start a server with `source scripts/label_studio.sh && ls_start` "
    "(scripts/test.sh does this)"
)


def server_or_skip() -> tuple[str, str | None]:
    """``(url, api_key)`` of the test server; skips the calling test module when there is none."""
    url = os.environ.get("LABEL_STUDIO_URL")
    if not url:
        pytest.skip(NOT_SET, allow_module_level=True)
    return url, os.environ.get("LABEL_STUDIO_API_KEY")
