"""Registering the app's custom components (Streamlit components v2: no iframe, nothing fetched).

A view's JavaScript is an ES module in a ``static/`` folder of its package; :func:`register`
puts the shared helpers (``app/ui/static/chartkit.js``) in front of it, drops whole-line
comments and indentation (the module travels with every update of the view), and registers it
with its CSS under a name unique in the app.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CHARTKIT", "compact_js", "compact_css", "module_js", "register"]

CHARTKIT = Path(__file__).with_name("static") / "chartkit.js"


def compact_js(js: str) -> str:
    """The module without whole-line comments, blank lines and indentation (safe for the app's
    modules: none has a string or template literal spanning lines)."""
    lines = (line.strip() for line in js.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


def compact_css(css: str) -> str:
    return re.sub(r"/\*.*?\*/\s*", "", css, flags=re.S)


def module_js(path: Path) -> str:
    """A view's module as it is sent: the shared helpers, then the view."""
    return compact_js(CHARTKIT.read_text(encoding="utf-8") + "\n" + Path(path).read_text(encoding="utf-8"))


def register(name: str, js: Path, css: Path | None = None):
    """The mounting command of component ``name`` (call once per process)."""
    import streamlit as st

    return st.components.v2.component(
        name, js=module_js(js), css=None if css is None else compact_css(Path(css).read_text(encoding="utf-8")))
