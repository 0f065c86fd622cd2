"""The race view as a Streamlit custom component (v2: no iframe, nothing fetched from outside).

Its JavaScript and CSS ship in ``static/`` beside this module and are registered once per
process, after the shared helpers (:mod:`app.ui.components`). :func:`show_landscape` mounts
the landscape image (a payload that stays identical while the surface does: Streamlit's
message cache then answers it from the browser), and
:func:`show_race` the race; the race reports the step it was paused or scrubbed to (state
``step``) and a click on the map (trigger ``click``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, MutableMapping

from app.playground.figures import Landscape
from app.playground.race_view import landscape_payload
from app.ui import components

__all__ = ["NAME", "PAINT_FIRST_S", "show_landscape", "show_race"]

NAME = "optimizer_explorer_race"
_STATIC = Path(__file__).with_name("static")
# After a new race is mounted, the script waits this long before it sends the rest of the page. The
# browser renders the deltas that arrive together in one pass; without the pause, the theory's KaTeX
# formulas and the tables that follow delayed the new picture by ~70 ms (slider -> painted: median
# ~170 ms without it, ~105 ms with 40 ms; 15 ms gave ~140 ms). The thread sleeps: no CPU is held.
PAINT_FIRST_S = 0.04

_mount = components.register(NAME, _STATIC / "race.js", _STATIC / "race.css")
_mount_landscape = components.register("optimizer_explorer_landscape", _STATIC / "landscape.js")


def show_landscape(land: Landscape, key: str) -> None:
    """The landscape image, kept by the browser under its id for every race view of the page."""
    _mount_landscape(data=landscape_payload(land), key=key, height=0)


def _ignore() -> None:
    """The page reads the map's events from its state at the top of the next run (testable without a
    browser), so the callbacks have nothing to do; they declare the state and trigger names."""


def show_race(payload: dict[str, Any], key: str, state: MutableMapping[str, Any] | None = None):
    """The race view. Its state under ``key`` holds ``step`` (the step last paused or scrubbed to)
    and, for one run after a click, ``click`` (``{"x", "y"}``). With the session ``state``, a
    payload that differs from the last one this session sent is given :data:`PAINT_FIRST_S` to be
    painted before the rest of the page follows."""
    result = _mount(data=payload, key=key, on_step_change=_ignore, on_click_change=_ignore)
    if state is not None:
        sent = (payload.get("scene"), payload.get("step"), payload.get("show"), payload.get("steps"),
                repr(payload.get("loss")), len(payload.get("runs", ())))
        if state.get(f"_{key}_sent") != sent:
            state[f"_{key}_sent"] = sent
            time.sleep(PAINT_FIRST_S)
    return result
