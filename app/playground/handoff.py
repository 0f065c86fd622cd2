"""The Playground's door for widget values set from outside its widgets.

Streamlit lets code set a widget's value only before the widget is drawn in a run. So a
chart click, a gallery button or another page *queues* values here and the Playground
applies them at the top of its next run, before its first widget:

- :func:`queue_scene` — open a whole scene (another page's "Open in the Playground",
  then ``st.switch_page(PAGE)``; a gallery lesson);
- :func:`queue_values` — set a few of the Playground's widgets (a click on a chart);
- :func:`apply_queued` — the Playground's first call in each run.

The state is passed in (``st.session_state``), so this module imports no streamlit.
"""

from __future__ import annotations

from typing import Any, Mapping, MutableMapping

from app.playground import state as U
from app.playground.scene import Scene

__all__ = ["PAGE", "LESSON", "queue_scene", "queue_values", "apply_queued"]

PAGE = "views/playground.py"  # for st.switch_page
LESSON = "_pg_preset"  # the gallery lesson being shown (None: the user's own race)
_QUEUE = "_pg_pending"  # widget values to apply at the top of the Playground's next run


def queue_values(state: MutableMapping[str, Any], values: Mapping[str, Any]) -> None:
    """Set these Playground widget values (keys of :mod:`app.playground.state`) on its next run."""
    state[_QUEUE] = {**state.get(_QUEUE, {}), **values}


def queue_scene(state: MutableMapping[str, Any], scene: Scene, lesson: str | None = None) -> None:
    """Open ``scene`` on the Playground's next run, shown as gallery lesson ``lesson`` (None: the user's own)."""
    queue_values(state, {**U.state_from_scene(scene), LESSON: lesson})


def apply_queued(state: MutableMapping[str, Any]) -> None:
    """Apply what was queued (the Playground calls this before drawing any widget)."""
    values = state.pop(_QUEUE, None)
    if values:
        state.update(values)
