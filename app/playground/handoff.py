"""The Playground's door for widget values set from outside its widgets, and its URL.

Streamlit lets code set a widget's value only before the widget is drawn in a run. So a
chart click, a gallery button or another page *queues* values here and the Playground
applies them at the top of its next run, before its first widget:

- :func:`queue_scene` — open a whole scene (another page's "Open in the Playground",
  then ``st.switch_page(PAGE, query_params=link(scene))``; a gallery lesson);
- :func:`queue_values` — set a few of the Playground's widgets (a click on a chart);
- :func:`apply_queued` — the Playground's first call in each run.

Every Playground widget is bound to the URL, but Streamlit writes a value set from code into
the URL only for a widget that was drawn in the run before, one parameter (one browser
history entry) at a time: a lesson that brings a surface parameter, or more runs, left them
out of the link. So the page owns its URL: :func:`url_update` says, at the top of a run, the
whole query the browser must show for the state (:func:`app.playground.state.url_params`),
and the page writes it in one step. When the URL is the scene instead — a link just opened,
or Back/Forward (:func:`open_link`) — the widgets are read from it, and nothing else.

The state is passed in (``st.session_state``), so this module imports no streamlit.
"""

from __future__ import annotations

from typing import Any, Mapping, MutableMapping

from app.playground import state as U
from app.playground import tailor as T
from app.playground.lessons import LESSON_BY_KEY
from app.playground.scene import Scene

__all__ = ["PAGE", "LESSON", "queue_scene", "queue_values", "apply_queued", "link", "open_link", "url_update",
           "map_step", "map_point"]

PAGE = "views/playground.py"  # for st.switch_page
LESSON = U.LESSON  # the gallery lesson being shown (None: the user's own race)
_QUEUE = "_pg_pending"  # widget values to apply at the top of the Playground's next run


def queue_values(state: MutableMapping[str, Any], values: Mapping[str, Any]) -> None:
    """Set these Playground widget values (keys of :mod:`app.playground.state`) on its next run."""
    state[_QUEUE] = {**state.get(_QUEUE, {}), **values}


def queue_scene(state: MutableMapping[str, Any], scene: Scene, lesson: str | None = None) -> None:
    """Open ``scene`` on the Playground's next run, shown as gallery lesson ``lesson`` (None: the user's own)."""
    queue_values(state, {**U.state_from_scene(scene), LESSON: lesson})


def apply_queued(state: MutableMapping[str, Any]) -> bool:
    """Apply what was queued (the Playground calls this before drawing any widget); whether anything was."""
    values = state.pop(_QUEUE, None)
    if values:
        state.update(values)
    return bool(values)


def link(scene: Scene, lesson: str | None = None) -> dict[str, str]:
    """The Playground's query parameters for ``scene`` (shown as lesson ``lesson``): what another page
    passes to ``st.switch_page`` so that the Playground's URL is the scene's from the start."""
    return U.url_params({**U.state_from_scene(scene), LESSON: lesson})


def open_link(state: MutableMapping[str, Any], url: Mapping[str, Any], back: bool = False) -> None:
    """The URL is the scene: a link opened in a new session, or an entry restored by Back/Forward
    (``back``). The lesson is the link's (:data:`app.playground.state.LESSON_PARAM`; the first
    lesson's without one), and so are the guided lesson followed and the controls shown
    (:mod:`app.playground.tailor`). On Back/Forward every scene widget value in the session is dropped,
    so that each widget takes the URL's value, or its default where the URL has none (a run or
    a parameter the entry does not show comes back at its default later, not as it was left)."""
    state[LESSON] = U.lesson_from_url(url)
    guide = state[U.GUIDE] = T.guide_from_url(url, LESSON_BY_KEY)
    state[U.TAILOR] = T.from_url(url)
    if guide is not None and not any(U.is_scene_key(k) and k not in T.PARAMS and k != U.LESSON_PARAM for k in url):
        # A hand-written lesson link (?pg_guide=momentum&pg_gstep=2): the step's own scene.
        queue_scene(state, LESSON_BY_KEY[guide.lesson].steps[guide.step].scene)
        state[LESSON] = None
    if back:
        for key in [k for k in list(state.keys()) if U.is_scene_key(k) and not k.endswith("_box")]:
            del state[key]  # (a run's expander, ``pg_r<i>_box``, keeps its open or closed state)


def url_update(state: Mapping[str, Any], url: Mapping[str, Any]) -> dict[str, str] | None:
    """The whole query the browser must show for ``state`` (scene parameters and lesson from
    :func:`app.playground.state.url_params`, the other parameters of ``url`` kept: the view, the
    inspected step), or None when ``url`` already opens this scene."""
    scene = U.url_params(state)
    if U.same_scene_url(scene, url):
        return None
    kept = {k: v for k, v in url.items() if not U.is_scene_key(k)}
    return {**scene, **kept}


def map_step(value: Any) -> int | None:
    """The step the race view sent (its state ``step``), or None for anything that is not a finite number:
    the browser sends an int, a forged message anything."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


def map_point(value: Any) -> tuple[float, float] | None:
    """The point of a click on the map (``{"x": .., "y": ..}``), or None unless both are finite numbers
    within the engine's reach (a forged click could send 1e308)."""
    import math

    if not isinstance(value, Mapping):
        return None
    x, y = value.get("x"), value.get("y")
    ok = all(not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and abs(v) <= 1e6
             for v in (x, y))
    return (float(x), float(y)) if ok else None
