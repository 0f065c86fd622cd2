"""A "Copy link" control, and the browser history a page with a shareable URL needs.

A custom component (``st.components.v2``: no iframe, nothing fetched; its script and style are
``static/copy_link.js`` and ``copy_link.css``):

- :func:`copy_link` draws a "Copy link" button that copies ``window.location.href`` with
  ``navigator.clipboard.writeText``. Where the clipboard API is missing (plain http on a LAN
  address is not a secure context) or refuses, it shows the link in a selected text box instead
  (and tries the older ``document.execCommand("copy")``).
- Its script also keeps the browser's history at **one entry per user action**, once loaded
  (it stays for the rest of the page's life, on every page of the app). Streamlit 1.67 pushes
  one history entry per query parameter it sets from the server (a lesson made one entry per
  parameter, all but the last a half-applied scene; leaving a page pushed an entry without its
  parameters, which Back then opened as the default scene) and replaces the current entry when
  the user changes a bound widget (so Back skipped the user's own changes). The script wraps
  ``history.pushState``/``replaceState``: the first change after a click or a key press that
  changes the scene (another page, or on the page that declared them, one of its ``scene_keys``
  parameters) is a new entry; every other change of the URL (the rest of that action, a
  correction, a view setting such as the inspected step, anything while Back/Forward is being
  restored) replaces the current entry. Back and Forward then restore whole scenes.
- :func:`keep_history` installs the history part alone (a page that hands a scene to another).
"""

from __future__ import annotations

from pathlib import Path

from app.ui import components
from app.ui import theme

__all__ = ["NAME", "copy_link", "keep_history"]

NAME = "optimizer_explorer_copy_link"

_STATIC = Path(__file__).with_name("static")
_mount = components.register(NAME, _STATIC / "copy_link.js", _STATIC / "copy_link.css")


def copy_link(key: str, scene_keys: str | None = None) -> None:
    """The "Copy link" button. ``scene_keys``: a regular expression matching the page's URL
    parameters that shape what it shows; a user's change of one of them is a new history entry."""
    _mount(key=key, data={"kind": "copy_link", "copy": True, "scene_keys": scene_keys,
                          "style": {"control": theme.palette().control_line}})


def keep_history(key: str) -> None:
    """Only the history part (nothing drawn): one browser history entry per user action."""
    _mount(key=key, data={"kind": "history", "copy": False, "scene_keys": None}, height=0)
