"""Live Training's pictures as a Streamlit custom component (v2: no iframe, nothing fetched from outside).

The JavaScript and CSS ship in ``static/`` beside this module (``live_view.js``, ``live_view.css``:
package data, like every package's ``static/``); they are read once per process, after the shared
helpers (:mod:`app.ui.components`), and registered under :data:`NAME`. They name no color or size:
every payload carries the current theme's (:func:`app.training.figures.style`,
:func:`app.ui.theme.sizes`). :func:`show` mounts the view with a payload of
:func:`app.training.figures.live_payload` for what this session's browser holds (the session's
:class:`~app.training.figures.LiveSync`, kept under :data:`SYNC_KEY`) and records what it holds
afterwards. When the browser's copy does not match a payload (another race, a reload or a
remount, more payloads lost in a row than each payload repeats, another theme) it is sent
everything; when the browser finds a gap it sends the trigger ``resync``; its callback, which runs
before the next script or fragment run, marks the record so that that run sends everything.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from app.training.figures import GRID, MAX_KEEP, live_payload, resend_all
from app.ui import components

__all__ = ["NAME", "KEY", "SYNC_KEY", "JS", "CSS", "show", "forget"]

NAME = "optimizer_explorer.live_training"
KEY = "lt_live_view"  # the element's key: one instance, kept across reruns (its JS keeps what it was sent)
SYNC_KEY = "_lt_sync"
_ASSETS = Path(__file__).with_name("static")


JS = components.module_js(_ASSETS / "live_view.js")
CSS = components.compact_css((_ASSETS / "live_view.css").read_text(encoding="utf-8"))


@functools.cache
def _mount():
    import streamlit as st

    return st.components.v2.component(NAME, js=JS, css=CSS)


def forget() -> None:
    """Forget what this session believes its browser holds: the next payload is sent in full."""
    import streamlit as st

    st.session_state[SYNC_KEY] = resend_all(st.session_state.get(SYNC_KEY))


def show(race, *, grid: int = GRID, keep: int = MAX_KEEP) -> dict[str, Any]:
    """Mount the view of ``race`` (new rows and grids only, unless the browser needs everything);
    returns the payload sent."""
    import streamlit as st

    payload, sync = live_payload(race, st.session_state.get(SYNC_KEY), grid=grid, keep=keep)
    _mount()(data=payload, key=KEY, on_resync_change=forget)
    # Recorded only once mounted: a run stopped by a click before that sent nothing.
    st.session_state[SYNC_KEY] = sync
    return payload
