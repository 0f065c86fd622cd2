"""What every browser test needs: Debian's Chromium and Playwright, or a clear skip (a failure in CI).

``sync_api = require()`` at the top of a browser test module: Playwright's sync API, or the
module is skipped with the reason (``CI=true``: it fails instead, since CI installs both).
The ``server`` and ``browser`` fixtures (module scope: one server and one Chromium per test
file, from :mod:`app.devserver`) are in ``conftest.py``.
"""

from __future__ import annotations

import os

import pytest

from app import devserver
from tests.asserts import reference

__all__ = ["SHOTS", "require", "skip_or_fail"]

SHOTS = "/tmp/shots"


def skip_or_fail(why: str) -> None:
    """Skip the calling module, or fail it in CI (CI=true), where nothing may be skipped."""
    if os.environ.get("CI") == "true":
        pytest.fail(why, pytrace=False)
    pytest.skip(why, allow_module_level=True)


def require():
    """Playwright's sync API, once Debian's Chromium is known to be installed."""
    if devserver.chromium_path() is None:
        skip_or_fail("Debian's Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    return reference("playwright.sync_api", "playwright (Python) is not installed")
