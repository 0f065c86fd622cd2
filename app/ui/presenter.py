"""Presenter mode and the projector theme: one switch for every page, kept in the URL.

A teacher turns presenter mode on in the sidebar ("Display"), or opens a link with
``?presenter=1``; ``&theme=dark`` (or ``light``) picks the projector theme. The choice is the
session's (:data:`MODE`, :data:`THEME`): a page switch, which clears Streamlit's query
parameters, writes it back into the URL, so a link copied on any page keeps it.

- Presenter mode: the sidebar starts collapsed, the page's padding shrinks and each page lays its
  main picture, play controls, step counter and key numbers out to fit one 1280x720 screen
  (each page asks :func:`on`).
- The theme: figures are built for it (:func:`app.ui.theme.current` reads the session's choice
  through the provider this module installs); Streamlit's own colors follow through its
  light/dark setting, which a small script (``static/theme_switch.js``) sets in the browser's
  storage before reloading the page once. Without a choice, figures follow Streamlit's own
  setting (``st.context.theme``), light when it is unknown.

:func:`setup` is called by ``app/main.py`` before the navigation runs, :func:`controls` draws the
switch in the sidebar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import streamlit as st

from app.ui import components, theme

__all__ = ["PARAM", "THEME_PARAM", "MODE", "THEME", "PAGE_PATHS", "parse_flag", "parse_theme", "setup", "on",
           "active_theme", "controls", "STYLE"]

PARAM = "presenter"  # ?presenter=1
THEME_PARAM = "theme"  # ?theme=dark
MODE = "_presenter"  # session: presenter mode on (bool)
THEME = "_projector_theme"  # session: "light", "dark", or absent (follow Streamlit's setting)
_SEEN = "_presenter_url_seen"  # the (presenter, theme) parameters last read from the URL
PAGE_PATHS = ("", "schedules", "live-training", "memory")  # app/main.py's url paths (Playground: "")

_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no"}

_STATIC = Path(__file__).with_name("static")
_mount = components.register("optimizer_explorer_theme_switch", _STATIC / "theme_switch.js")

# What presenter mode changes in Streamlit's own layout: less padding above the page (the first
# screen is worth more than the header's air), captions as large as body text.
STYLE = """<style>
.stMainBlockContainer { padding-top: 4rem; padding-bottom: 1rem; }
[data-testid="stCaptionContainer"] { font-size: 1rem; }
</style>"""


def parse_flag(value: Any) -> bool | None:
    """``presenter``'s value in a URL: True, False, or None (absent or unreadable)."""
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    text = str(value).strip().lower() if value is not None else ""
    return True if text in _TRUE else False if text in _FALSE else None


def parse_theme(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    text = str(value).strip().lower() if value is not None else ""
    return text if text in theme.THEMES else None


def _read_url(ss, url: Mapping[str, Any]) -> None:
    """Take the URL's presenter and theme parameters into the session when they changed since last
    read (a link opened, Back, a hand-edited address); a page switch that dropped them changes nothing."""
    seen = (url.get(PARAM), url.get(THEME_PARAM))
    if seen == ss.get(_SEEN):
        return
    ss[_SEEN] = seen
    flag, kind = parse_flag(seen[0]), parse_theme(seen[1])
    if flag is not None:
        ss[MODE] = flag
    if kind is not None:
        ss[THEME] = kind


def _write_url(ss) -> None:
    """Put the session's choice back into the URL when it is missing there (after a page switch)."""
    want = {PARAM: "1" if ss.get(MODE) else None, THEME_PARAM: ss.get(THEME)}
    for key, value in want.items():
        have = st.query_params.get(key)
        if value is None:
            if have is not None and key == PARAM:
                del st.query_params[key]
        elif have != value:
            st.query_params[key] = value
    ss[_SEEN] = (st.query_params.get(PARAM), st.query_params.get(THEME_PARAM))


def _session_theme() -> str | None:
    """The provider of :func:`app.ui.theme.current`: the session's choice, else Streamlit's setting."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:  # a worker thread: it is given its theme
        return None
    kind = st.session_state.get(THEME)
    if kind in theme.THEMES:
        return kind
    try:
        return st.context.theme.type
    except Exception:  # no browser (AppTest) or an older frontend
        return None


theme.set_provider(_session_theme)


def on() -> bool:
    """Whether presenter mode is on in this session."""
    return bool(st.session_state.get(MODE, False))


def active_theme() -> str:
    return theme.current()


def setup() -> None:
    """The top of every run (``app/main.py``, before the navigation): read or restore the URL's
    presenter parameters and set the page's configuration (presenter mode: sidebar collapsed)."""
    ss = st.session_state
    _read_url(ss, st.query_params.to_dict())
    st.set_page_config(page_title="Optimizer Explorer", layout="wide",
                       initial_sidebar_state="collapsed" if on() else "auto")


def _toggled() -> None:
    ss = st.session_state
    ss[MODE] = bool(ss.get("_presenter_toggle"))


def _themed() -> None:
    ss = st.session_state
    kind = ss.get("_presenter_theme_choice")
    ss[THEME] = str(kind).lower() if kind else "light"


def controls() -> None:
    """The "Display" switch in the sidebar (every page), the presenter style, and the script that
    makes Streamlit's own colors follow the chosen theme."""
    ss = st.session_state
    with st.sidebar:
        st.toggle("Presenter mode", value=on(), key="_presenter_toggle", on_change=_toggled,
                  help="For a projector: the main picture, its controls and numbers on one 1280x720 screen, "
                       "the sidebar closed. Kept in the link (?presenter=1).")
        if on():
            st.segmented_control("Projector theme", ["Light", "Dark"], default=active_theme().title(),
                                 required=True, key="_presenter_theme_choice", on_change=_themed,
                                 help="Dark suits a dim room, light a bright one. Kept in the link (&theme=dark).")
    _write_url(ss)
    if on():
        st.html(STYLE)
    chosen = ss.get(THEME)
    if chosen in theme.THEMES:
        with st.sidebar:  # out of the page's flow: an element there, even empty, moves the page down
            _mount(key="_presenter_theme_switch", height=0, data={"want": chosen, "paths": list(PAGE_PATHS)})
