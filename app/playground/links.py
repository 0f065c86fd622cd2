"""The Playground's URL in the browser: the Streamlit side of :mod:`.handoff`.

:func:`own_url` is the page's first call in each full run, before any widget:

- a link just opened (the page's first run in this session) or an entry restored by Back or
  Forward: the URL is the scene; the lesson is read from it and, on Back/Forward, every scene
  value the session holds is dropped, so each widget takes the URL's value or its default;
- otherwise the session is the scene: values queued by a lesson, a click or another page are
  applied, and if the URL does not open the resulting scene, the whole query is written in one
  step (:func:`app.ui.widgets.replace_query_params`: one browser history entry, every value that
  shapes the scene in it, whoever set it).

:func:`copy_link` draws the "Copy link" control; its script also keeps the browser's history at
one entry per user action (:mod:`app.ui.copy_link`).
"""

from __future__ import annotations

from typing import Any, Mapping, MutableMapping

import streamlit as st

from app.playground import handoff
from app.playground import state as U
from app.ui import copy_link as CL
from app.ui.widgets import history_navigation, replace_query_params

__all__ = ["INIT", "EARLY_VIEW_KEYS", "own_url", "copy_link", "lesson_link"]

INIT = "_pg_init"  # set once the Playground has run in this session
EARLY_VIEW_KEYS = ("pg_step", "pg_log")
_CHECKED = "_pg_url_checked"  # the values and URL last found to agree (no need to walk them again)


def own_url(ss: MutableMapping[str, Any]) -> None:
    """Read the scene from the URL, or write it there (see the module's doc)."""
    url = st.query_params.to_dict()
    url_is_scene = INIT not in ss or history_navigation()
    if url_is_scene:
        back = INIT in ss
        handoff.open_link(ss, url, back=back)
        if back:
            # View settings the page reads before their widgets (the map's step and the loss scale,
            # app.ui.widgets.adopt_url): the restored entry's, not the ones just left.
            for key in EARLY_VIEW_KEYS:
                ss.pop(key, None)
        ss[INIT] = True
    if handoff.apply_queued(ss) or not url_is_scene:
        # The same values and the same URL as when last checked: the URL still opens this scene.
        seen = (U.url_params_signature(ss), repr(sorted(url.items())))
        if ss.get(_CHECKED) == seen:
            return
        try:
            target = handoff.url_update(ss, url)
        except (ValueError, TypeError, KeyError):  # settings the page itself refuses (it says so below)
            target = None
        if target is not None:
            replace_query_params(target)
        else:
            ss[_CHECKED] = seen


def copy_link(key: str = "pg_copy_link") -> None:
    """The "Copy link" control: copies the address of the scene shown (every value that shapes it is
    in the URL), and keeps one history entry per change of the scene."""
    CL.copy_link(key=key, scene_keys=U.SCENE_KEY_PATTERN)


def lesson_link(ss: Mapping[str, Any], tailoring) -> str:
    """The address of the scene in ``ss`` opened with ``tailoring`` (:mod:`app.playground.tailor`):
    what a teacher sends students. Without the browser's address (a test), the query alone."""
    from urllib.parse import urlencode

    params = U.url_params({**ss, U.TAILOR: tailoring, U.GUIDE: None})
    try:
        base = st.context.url or ""
    except Exception:  # no browser session (AppTest)
        base = ""
    return f"{base}?{urlencode(params)}"
