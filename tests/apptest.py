"""What the AppTest page tests share: the app's entry, a fresh page from a query, and "nothing went wrong"."""

from __future__ import annotations

import os

from streamlit.testing.v1 import AppTest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "app", "main.py")


def fresh(query: dict | None = None) -> AppTest:
    """The app opened with ``query`` as its URL's query parameters (one run)."""
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    return at


def clean(at: AppTest) -> None:
    """No traceback and no st.error on the page."""
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
