"""Colors, fonts and sizes shared by every figure, chosen to read from the back of a lecture hall.

Every color the app draws with is named here, once; figures and pages import the names.
"""

from __future__ import annotations

from typing import Callable

# Okabe-Ito: distinguishable with the common color-vision deficiencies, and on a projector.
RUN_COLORS = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442", "#000000")
# What the eye must find at once: a run that diverged, a ReduceLROnPlateau cut, where the LR range
# test stopped, its suggested lr.
MARK_RED = "#B00020"
# The rim that lifts a marker off the curve or the map under it.
MARKER_EDGE = "white"
# Reference lines drawn over the curves: milestones, the page's base lr.
GUIDE_GREY = "#777"
# The cursor at the step being read off.
CURSOR_GREY = "#333333"
# Raw data under its smoothed curve (every step's loss in the LR range test).
RAW_GREY = "#9E9E9E"
# A legend drawn over a figure: white, a little see-through.
LEGEND_BACKGROUND = "rgba(255,255,255,0.9)"
# Live Training's two classes: Okabe-Ito blue / vermillion for the points, and the probability
# map under them from a light blue (class 0) through white (undecided) to a light vermillion (class 1).
CLASS_COLORS = ("#0072B2", "#D55E00")
CLASS_SCALE = [[0.0, "#6FA8D6"], [0.5, "#FFFFFF"], [1.0, "#EE9E73"]]

# The Playground's maps (app/playground/figures.py).
PAPER = "white"  # the map's background; the fill of a known minimum's star
INK = "black"  # outlines on any map color: a minimum's star, the start's ring, the picked cell's frame
TRANSPARENT = "rgba(0,0,0,0)"  # invisible markers that only catch clicks
AXIS_LINE = "#444"  # the frame of a map
CONTOUR_GREY = "#888"  # iso-lines on the 3D surface
BOUND_LINE = "#222"  # the stability limits (2/L, 2(1+β)/L)
LABEL_BACKGROUND = "rgba(255,255,255,0.85)"  # an annotation over curves
NEVER_CONVERGED = "#c8c8c8"  # a convergence-map cell whose run neither converged nor diverged
SEQUENTIAL_SCALE = "Viridis"  # steps to converge, final loss
# The loss landscape: a light sequential map, pale blue (low) through pale green and sand to light
# clay (high), as (position in [0, 1], (r, g, b)); iso-lines are the band's color times ISO_DARKEN.
LANDSCAPE_STOPS = (
    (0.0, (214, 232, 247)),
    (0.3, (226, 242, 222)),
    (0.6, (248, 242, 212)),
    (0.85, (244, 222, 196)),
    (1.0, (230, 196, 178)),
)
ISO_DARKEN = 0.72

# The browser-side race view (app/playground/static/race.js, race.css) takes these through its payload.
TEXT = "#222222"  # tick labels, captions and controls' text
CONTROL_LINE = "#bbbbbb"  # the outline of a button or a select box
ACCENT = "#0072B2"  # what the hand should find: Play, the step bar, a focused control (Okabe-Ito blue)
NO_LANDSCAPE = "#f3f3f3"  # the plot area while the landscape image is on its way
HALO = "rgba(255,255,255,0.55)"  # under a trail, so it reads on any band of the landscape
READOUT_BACKGROUND = "rgba(255,255,255,0.88)"  # the hover readout over the map
SCALE_LINE = "#666666"  # the color bar's frame

# The browser-side Live Training view (app/training/static/live_view.js, live_view.css) takes these,
# with TEXT, AXIS_LINE, MARKER_EDGE and MARK_RED, through its payload (app.training.figures.STYLE).
GRID_LINE = "#e6e6e6"  # the grid lines behind the curves
SOFT_TEXT = "#333333"  # the class legend under the maps, a shade lighter than TEXT
HINT_TEXT = "#666666"  # what stands in for a curve not drawn yet ("no values yet")
DIVERGED_VEIL = "rgba(255,255,255,0.72)"  # over a diverged run's map, under the word "diverged"
DECISION_BOUNDARY = "rgba(40,40,40,0.85)"  # the line P(class 1) = 1/2 on the maps, and its legend entry
NOTE_LINE = "#c9d9ea"  # the step-0 note's frame,
NOTE_BACKGROUND = "#f3f8fd"  # its light blue background
NOTE_TEXT = "#1b3a57"  # and its dark blue text

FONT_SIZE = 16
TITLE_SIZE = 20
LINE_WIDTH = 3
MARKER_SIZE = 12
FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"


def run_color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


def swatch(color: str, size: str = "") -> str:
    """A ■ in ``color``, as HTML (markdown with ``unsafe_allow_html``, a Plotly title); ``size``: a CSS font-size."""
    style = f"color:{color}" + (f";font-size:{size}" if size else "")
    return f"<span style='{style}'>■</span>"


def base_layout(**overrides) -> dict:
    """Layout keys every figure starts from: large type, white background, tight margins."""
    layout = dict(
        template="plotly_white",
        font=dict(size=FONT_SIZE, family=FONT_FAMILY),
        margin=dict(l=60, r=20, t=50, b=55),
        legend=dict(font=dict(size=FONT_SIZE)),
        hoverlabel=dict(font_size=FONT_SIZE),
    )
    layout.update(overrides)
    return layout


# ---------------------------------------------------------------------------------------
# Light or dark: which one the figures being built now are for
# ---------------------------------------------------------------------------------------

THEMES = ("light", "dark")
_provider: Callable[[], str | None] | None = None


def set_provider(provider: Callable[[], str | None]) -> None:
    """Where :func:`current` reads the active theme from (the app: the session's choice,
    :mod:`app.ui.presenter`); a provider that answers None or something else means light."""
    global _provider
    _provider = provider


def current() -> str:
    """The theme figures are built for now: "light" or "dark"."""
    kind = _provider() if _provider is not None else None
    return kind if kind in THEMES else "light"
