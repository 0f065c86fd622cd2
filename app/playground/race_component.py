"""The race view as a Streamlit custom component (v2: no iframe, nothing fetched from outside).

Its JavaScript and CSS ship in ``static/`` beside this module and are registered once per
process, after the shared helpers (:mod:`app.ui.components`). :func:`show_landscape` mounts
the landscape image (a payload that stays identical while the surface does: Streamlit's
message cache then answers it from the browser), and
:func:`show_race` the race; the race reports the step it was paused or scrubbed to (state
``step``) and a click on the map (trigger ``click``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.playground.figures import Landscape
from app.playground.race_view import landscape_payload
from app.ui import components

__all__ = ["NAME", "show_landscape", "show_race"]

NAME = "optimizer_explorer_race"
_STATIC = Path(__file__).with_name("static")

_mount = components.register(NAME, _STATIC / "race.js", _STATIC / "race.css")
_mount_landscape = components.register("optimizer_explorer_landscape", _STATIC / "landscape.js")


def show_landscape(land: Landscape, key: str) -> None:
    """The landscape image, kept by the browser under its id for every race view of the page."""
    _mount_landscape(data=landscape_payload(land), key=key, height=0)


def _ignore() -> None:
    """The page reads the map's events from its state at the top of the next run (testable without a
    browser), so the callbacks have nothing to do; they declare the state and trigger names."""


def show_race(payload: dict[str, Any], key: str):
    """The race view. Its state under ``key`` holds ``step`` (the step last paused or scrubbed to)
    and, for one run after a click, ``click`` (``{"x", "y"}``)."""
    return _mount(data=payload, key=key, on_step_change=_ignore, on_click_change=_ignore)
