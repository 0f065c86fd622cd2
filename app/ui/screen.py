"""One 1280x720 screen: how presenter mode fits a page's main picture and its controls into it.

A lecture hall's projector shows 1280x720. With the sidebar closed (presenter mode,
:mod:`app.ui.presenter`) Streamlit's wide layout leaves :data:`MAIN_WIDTH` pixels between its side
paddings, and a page in presenter mode puts its picture and a narrow column of the picture's controls
and numbers side by side (``st.columns(split(width))``), its explanations after them.

Plotly charts take the height they are given (:func:`room`: what is left under where they start). The two canvas views size
themselves from their width instead: the race view (``app/playground/static/race.js``) draws its map
about as tall as wide, Live Training's view (``app/training/static/live_view.js``) its maps at the
data's aspect ratio. :func:`race_view_width` and :func:`live_view_width` find the widest column whose
view is no taller than a height, from those scripts' geometry, mirrored in the constants below (a
change of sizes there must be made here too; ``tests/test_presenter_browser.py`` measures the result
in a real browser).

Pure arithmetic (NumPy for a data set's extent): no streamlit.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["SCREEN", "MAIN_WIDTH", "GAP", "SIDE", "NARROWEST_SIDE", "CHART_WIDTH", "TOP", "MEMORY_TOP", "LIVE_TOP",
           "MARGIN", "THEME_SWITCH", "room", "split", "race_view_height", "race_view_width", "legend_lines", "extent_aspect",
           "live_view_height", "live_view_width"]

SCREEN = (1280, 720)
MAIN_WIDTH = 1120  # 1280 less the wide layout's 5rem of padding on each side
GAP = 32  # st.columns(gap="medium")
SIDE = 330  # the column of controls and numbers beside a picture
NARROWEST_SIDE = 260
CHART_WIDTH = MAIN_WIDTH - GAP - SIDE
# Where the pictures start in presenter mode, measured in Chromium at 1280x720 (presenter mode's top padding,
# which clears Streamlit's header bar, then a one-line title):
TOP = 202  # a Schedules tab's picture (under the title and the row of tabs)
MEMORY_TOP = 146  # Memory's chart (a title, no tabs)
LIVE_TOP = 60  # Live Training's view (its title stands beside it)
MARGIN = 10  # left free at the bottom of the screen
# A projector theme chosen (&theme=dark) mounts app/ui/presenter.py's theme switch, in the sidebar: it moves
# nothing on the page.
THEME_SWITCH = 0


def room(top: float, shift: float = 0) -> int:
    """The height left on the screen under ``top`` (moved down by ``shift``), less :data:`MARGIN`: what a
    picture starting there may take (a Plotly chart's element is as tall as its figure)."""
    return int(SCREEN[1] - top - shift - MARGIN)


def split(picture: float, total: float = MAIN_WIDTH, gap: float = GAP) -> list[float]:
    """``st.columns`` weights for a picture ``picture`` pixels wide and a column of controls beside it
    (at least :data:`NARROWEST_SIDE` pixels: the picture gives way)."""
    rest = total - gap
    picture = min(max(float(picture), 0.0), rest - NARROWEST_SIDE)
    return [picture, rest - picture]


# -- the race view (race.js: resize(); race.css) ----------------------------------------------------------
RACE_MARGIN = dict(l=76, r_scale=118, r=20, t_title=46, t=14, b=60)
RACE_PLOT = (240, 640)  # the plot area's height, at equal scales: clamped to this
RACE_PLOT_FREE = (280, 640)  # the same, when the axes are not at equal scales (plot height 0.75 x width)
RACE_EQUAL = (0.4, 2.5)  # window aspect ratios drawn at equal scales (app/playground/race_view.EQUAL_ASPECT)
# Under the map: the play bar (38 px buttons and their margins; narrower than RACE_BAR_WIDTH, its step bar and
# counter wrap onto a second line), the note's margin and the legend, whose items (a run's key and name,
# "start", "known minimum") wrap onto lines of 29 px, 4 px apart; above the view, the landscape's empty
# element and its gap.
RACE_BAR = 56
RACE_BAR_WIDTH = 590  # Play, Replay, speed, the step bar at its narrowest and the counter, 8 px apart
RACE_BAR_WRAP = 34
RACE_LEGEND_LINE = 33
RACE_LEGEND_GAP = 16  # between items
RACE_KEY = (52, 24)  # a run's key (line and marker) and a mark's (start, minimum), with the gap to the text
RACE_CHAR = 8.8  # the legend's 18 px text: pixels per character (measured: 7.7 to 8.6)
RACE_ABOVE = 16


def legend_lines(items: Sequence[tuple[float, str]], width: float) -> int:
    """The lines a legend of ``(key width, text)`` items wraps onto in ``width`` pixels (greedy, like
    a wrapping flex row)."""
    lines, used = 1, 0.0
    for key, text in items:
        w = key + RACE_CHAR * len(text)
        if used and used + RACE_LEGEND_GAP + w > width:
            lines, used = lines + 1, w
        else:
            used = used + (RACE_LEGEND_GAP if used else 0) + w
    return lines


def _aspect(window: Sequence) -> float:
    """A ``((x0, x1), (y0, y1))`` or ``(x0, x1, y0, y1)`` window's height / width."""
    w = [float(v) for v in (window[0][0], window[0][1], window[1][0], window[1][1])] \
        if isinstance(window[0], (tuple, list)) else [float(v) for v in window]
    return (w[3] - w[2]) / (w[1] - w[0]) if w[1] > w[0] else 1.0


def race_view_height(width: float, window: Sequence, *, labels: Sequence[str] = ("a run", "another run"),
                     minima: bool = True, scale: bool = True, title: bool = True) -> float:
    """The race view's height (map, play bar, legend of the runs ``labels``; the landscape's element
    above) at ``width`` pixels for the surface ``window``, as race.js draws it."""
    m = RACE_MARGIN
    w = max(320.0, math.floor(width))
    pw = w - m["l"] - (m["r_scale"] if scale else m["r"])
    aspect = _aspect(window)
    if RACE_EQUAL[0] <= aspect <= RACE_EQUAL[1]:
        ph = min(max(pw * aspect, RACE_PLOT[0]), RACE_PLOT[1])
    else:
        ph = min(max(pw * 0.75, RACE_PLOT_FREE[0]), RACE_PLOT_FREE[1])
    items = [(RACE_KEY[0], label) for label in labels] + [(RACE_KEY[1], "start")]
    items += [(RACE_KEY[1], "known minimum")] if minima else []
    legend = RACE_LEGEND_LINE * legend_lines(items, w)
    bar = RACE_BAR + (RACE_BAR_WRAP if w < RACE_BAR_WIDTH else 0)
    return RACE_ABOVE + round(ph) + (m["t_title"] if title else m["t"]) + m["b"] + bar + legend


def race_view_width(window: Sequence, height: float, *, labels: Sequence[str] = ("a run", "another run"),
                    minima: bool = True, scale: bool = True, title: bool = True,
                    widest: float = MAIN_WIDTH - GAP - NARROWEST_SIDE) -> float:
    """The widest race view (at most ``widest``) no taller than ``height`` for the surface ``window``."""
    return _widest(lambda w: race_view_height(w, window, labels=labels, minima=minima, scale=scale, title=title),
                   height, 320, widest)


def _widest(height_at, height: float, narrowest: float, widest: float, fallback: float | None = None) -> float:
    """The widest width from ``widest`` down to ``narrowest`` (in steps of 4 px) at which ``height_at`` is at
    most ``height``; when there is none, the width down to ``fallback`` (default ``narrowest``) at which it is
    least (the widest of those)."""
    w = math.floor(widest)
    while w >= narrowest:
        if height_at(w) <= height:
            return float(w)
        w -= 4
    best, best_h = float(math.floor(widest)), math.inf
    w = math.floor(widest)
    while w >= (narrowest if fallback is None else fallback):
        h = height_at(w)
        if h < best_h:
            best, best_h = float(w), h
        w -= 4
    return best


# -- Live Training's view (live_view.js: paintMaps(), row(), paintCurves(); live_view.css) ---------------------
# Text is the theme's size (app.ui.theme.sizes(): 18 px, titles 22 px); widths measured in Chromium.
LIVE_LINE = 29  # a line of the runs' or the classes' legend (a row gap of 4 px between wrapped lines)
LIVE_LEGEND_MARGIN = 10  # the runs' legend: 2 px above, 8 below
LIVE_RUN_ITEM = 282  # a run's legend item ("Adam · optim_core (NumPy)", its key and the 18 px gap)
LIVE_CLASSES_MARGIN = 20  # the classes' legend: 6 px above, 14 below
LIVE_CLASSES_WIDTH = 750  # the classes' legend on one line (five items and their gaps)
LIVE_MAP_GAP = 14  # between the runs' maps
LIVE_MAP = (120, 360)  # a map's height: its width x the data's aspect ratio, clamped to this
LIVE_CURVES = 290  # the loss and accuracy panels with one-line titles
LIVE_CURVES_GAP = 36  # between the two panels
LIVE_TITLE_WIDTH = 332  # the longest panel title on one line ("Accuracy (solid: train, dashed: test)")


def _map_title() -> float:
    """The two lines above a map (its run's name, its step and test accuracy) and the margin under it."""
    from app.ui.theme import FONT_SIZE, TITLE_SIZE

    return TITLE_SIZE + FONT_SIZE + 16 + 4


def _lines(items_width: float, width: float) -> int:
    return max(1, math.ceil(items_width / max(width, 1.0)))


def extent_aspect(*points) -> float:
    """Height / width of the box around ``(n, 2)`` point sets (the data Live Training's maps show)."""
    xy = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in points])
    span = xy.max(axis=0) - xy.min(axis=0)
    return float(span[1] / span[0]) if span[0] > 0 else 1.0


def live_view_height(width: float, n_runs: int, aspect: float) -> float:
    """Live Training's view from its top to the bottom of its loss and accuracy curves (the diagnostics
    follow), ``width`` pixels wide for ``n_runs`` runs on data of height / width ``aspect``."""
    from app.ui.theme import TITLE_SIZE

    n = max(1, int(n_runs))
    block = lambda lines: LIVE_LINE * lines + 4 * (lines - 1)  # noqa: E731
    legend = block(_lines(n * LIVE_RUN_ITEM - 18, width)) + LIVE_LEGEND_MARGIN
    pw = (width - LIVE_MAP_GAP * (n - 1)) / n
    maps = _map_title() + max(LIVE_MAP[0], min(pw * aspect, LIVE_MAP[1]))
    classes = block(_lines(LIVE_CLASSES_WIDTH, width)) + LIVE_CLASSES_MARGIN
    panel = (width - LIVE_CURVES_GAP) / 2 - 4
    curves = LIVE_CURVES + ((TITLE_SIZE + 4) if panel < LIVE_TITLE_WIDTH else 0)
    return legend + maps + classes + curves


def live_view_width(n_runs: int, aspect: float, height: float, *, narrowest: float = 480,
                    widest: float = MAIN_WIDTH - GAP - NARROWEST_SIDE) -> float:
    """The widest Live Training view (between ``narrowest`` and ``widest``) whose maps and curves fit in
    ``height``. When none does (one run's map is as tall as its width allows; square data's maps are tall),
    the least tall view whose legends and titles stay on one line: large maps, the curves' top on screen,
    rather than everything squeezed and still cut."""
    return _widest(lambda w: live_view_height(w, n_runs, aspect), height, narrowest, widest,
                   fallback=min(LIVE_CLASSES_WIDTH, widest))
