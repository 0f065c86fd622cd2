"""Colors, fonts and sizes shared by every figure, chosen to read from the back of a lecture hall.

Every color the app draws with is named here, once; figures and pages import the names. There are
two projector themes, light and dark (:data:`THEMES`): each is a :class:`Palette` holding every
color that depends on the background (:data:`LIGHT`, :data:`DARK`). A figure builder asks
:func:`palette` for the palette of the theme being built for (:func:`current`: the session's
choice while a page runs, a :func:`using` block in an export's thread) and never names a color.

Runs. A run's color names it (:func:`run_color`, the light palette's Okabe-Ito colors: a scene and
its link store it); each theme draws it in its own tone (:func:`tone`: the same hue, lighter or
darker for the paper). A run also has a marker shape (:func:`run_symbol`) and a dash pattern
(:func:`run_dash`), so runs stay apart for a viewer who cannot tell their colors apart, or when a
projector washes them out.

The module-level names (``PAPER``, ``TEXT``, ``RUN_COLORS``, ...) are the light theme's, kept for
code that only draws on a light background (e.g. :mod:`app.ui.copy_link`).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Callable, Iterator

# ---------------------------------------------------------------------------------------
# Sizes: the same in both themes
# ---------------------------------------------------------------------------------------

FONT_SIZE = 18  # every text on a chart: tick labels, legends, hover labels, annotations, color bars
TITLE_SIZE = 22  # a chart's title
LINE_WIDTH = 3  # every curve, trail and reference line
MARKER_SIZE = 12
FONT_FAMILY = "DejaVu Sans, Arial, sans-serif"


@dataclass(frozen=True)
class Palette:
    """Every color that depends on the background, for one projector theme."""

    kind: str  # "light" or "dark"
    plotly_base: str  # the Plotly template the theme's own template starts from
    # Backgrounds
    paper: str  # a chart's background (and the fill of a known minimum's star)
    plot: str  # the plotting area's background
    no_landscape: str  # the race map while the landscape image is on its way
    legend_background: str  # a legend drawn over a figure, a little see-through
    label_background: str  # an annotation over curves
    readout_background: str  # the hover readout over the race map
    halo: str  # under a trail, so that it reads on any band of the landscape
    diverged_veil: str  # over a diverged run's map, under the word "diverged"
    # Text
    text: str  # tick labels, captions and controls' text
    soft_text: str  # a legend under the maps, a shade softer than text
    hint_text: str  # what stands in for a curve not drawn yet
    # Lines and marks
    ink: str  # outlines on any map color: a minimum's star, the start's ring, the picked cell's frame
    axis_line: str  # the frame of a chart
    grid_line: str  # the grid behind curves
    scale_line: str  # the color bar's frame
    control_line: str  # the outline of a button or a select box
    contour_grey: str  # iso-lines on the 3D surface
    bound_line: str  # the stability limits (2/L, 2(1+β)/L)
    guide_grey: str  # reference lines: milestones, the page's base lr
    cursor_grey: str  # the cursor at the step being read off
    raw_grey: str  # raw data under its smoothed curve (every step's loss in the LR range test)
    marker_edge: str  # the rim that lifts a marker off the curve or the map under it
    accent: str  # what the hand should find: Play, the step bar, a focused control
    mark_red: str  # what the eye must find at once: a diverged run, an lr cut, where a test stopped
    never_converged: str  # a convergence-map cell whose run neither converged nor diverged
    decision_boundary: str  # the line P(class 1) = 1/2 on Live Training's maps
    note_line: str  # the step-0 note's frame,
    note_background: str  # its background
    note_text: str  # and its text
    # Runs, classes and maps
    runs: tuple[str, ...]  # run i's tone on this paper (Okabe-Ito hues)
    class_colors: tuple[str, str]  # Live Training's two classes
    class_scale: tuple[tuple[float, str], ...]  # P(class 1) from class 0 through undecided to class 1
    sequential_scale: str  # steps to converge, final loss
    # The loss landscape: (position in [0, 1], (r, g, b)) stops of a banded sequential map; iso-lines
    # are each band's color moved iso_mix of the way toward iso_toward.
    landscape_stops: tuple[tuple[float, tuple[int, int, int]], ...]
    iso_toward: tuple[int, int, int]
    iso_mix: float


# Okabe-Ito, in the order runs take them: orange, sky blue, bluish green, vermillion, reddish purple,
# blue, yellow, black. On white, orange and sky blue are drawn a little deeper (HLS lightness x 0.85 and
# x 0.8) to reach 3:1 against the paper; yellow keeps its hue at 1.3:1 (RUN_EXCEPTIONS). On the dark
# paper every Okabe-Ito color reads except black, drawn as a light grey there.
LIGHT = Palette(
    kind="light",
    plotly_base="plotly_white",
    paper="#FFFFFF",
    plot="#FFFFFF",
    no_landscape="#F3F3F3",
    legend_background="rgba(255,255,255,0.9)",
    label_background="rgba(255,255,255,0.85)",
    readout_background="rgba(255,255,255,0.88)",
    halo="rgba(255,255,255,0.55)",
    diverged_veil="rgba(255,255,255,0.72)",
    text="#222222",
    soft_text="#333333",
    hint_text="#595959",
    ink="#000000",
    axis_line="#444444",
    grid_line="#E6E6E6",
    scale_line="#666666",
    control_line="#BBBBBB",
    contour_grey="#888888",
    bound_line="#222222",
    guide_grey="#666666",
    cursor_grey="#333333",
    raw_grey="#9E9E9E",
    marker_edge="#FFFFFF",
    accent="#0072B2",
    mark_red="#B00020",
    never_converged="#C8C8C8",
    decision_boundary="rgba(40,40,40,0.85)",
    note_line="#C9D9EA",
    note_background="#F3F8FD",
    note_text="#1B3A57",
    runs=("#C38700", "#1E9BE2", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442", "#000000"),
    class_colors=("#0072B2", "#D55E00"),
    # From a light blue (class 0) through white (undecided) to a light vermillion (class 1).
    class_scale=((0.0, "#6FA8D6"), (0.5, "#FFFFFF"), (1.0, "#EE9E73")),
    sequential_scale="Viridis",
    # Pale blue (low) through pale green and sand to light clay (high): saturated runs pop on it.
    landscape_stops=((0.0, (214, 232, 247)), (0.3, (226, 242, 222)), (0.6, (248, 242, 212)),
                     (0.85, (244, 222, 196)), (1.0, (230, 196, 178))),
    iso_toward=(0, 0, 0),
    iso_mix=0.28,
)

# Streamlit 1.67's own dark background is #171614 (measured in the browser: .stApp is rgb(23, 22, 20) in
# its dark theme; #0E1117 was older versions'): the charts sit on it without a seam. Greys are warm
# like Streamlit's own (its secondary background is #2D2B27).
DARK = Palette(
    kind="dark",
    plotly_base="plotly_dark",
    paper="#171614",
    plot="#171614",
    no_landscape="#22211E",
    legend_background="rgba(23,22,20,0.9)",
    label_background="rgba(23,22,20,0.85)",
    readout_background="rgba(23,22,20,0.88)",
    halo="rgba(23,22,20,0.6)",
    diverged_veil="rgba(23,22,20,0.72)",
    text="#EDEBE8",
    soft_text="#D6D3CE",
    hint_text="#ABA79F",
    ink="#F2F2F2",
    axis_line="#8F8B84",
    grid_line="#33312D",
    scale_line="#8F8B84",
    control_line="#5C5952",
    contour_grey="#9A968F",
    bound_line="#E0DDD8",
    guide_grey="#ABA79F",
    cursor_grey="#D6D3CE",
    raw_grey="#7F7B74",
    marker_edge="#171614",
    accent="#56B4E9",
    mark_red="#FF6B6B",
    never_converged="#4D4A45",
    decision_boundary="rgba(237,235,232,0.9)",
    note_line="#2E4A66",
    note_background="#14202E",
    note_text="#CFE3F7",
    runs=("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442", "#E0E0E0"),
    class_colors=("#56B4E9", "#E8743B"),
    # From a deep blue (class 0) through the paper (undecided) to a deep vermillion (class 1).
    class_scale=((0.0, "#1F4A6E"), (0.5, "#201F1C"), (1.0, "#6B3418")),
    sequential_scale="Viridis",
    # The same walk, dark and growing lighter with the loss: slate (low, where runs end: nothing there
    # competes with the blue runs) through dark teal and olive to clay (high).
    landscape_stops=((0.0, (28, 34, 40)), (0.3, (30, 50, 46)), (0.6, (56, 58, 40)),
                     (0.85, (80, 60, 44)), (1.0, (98, 58, 54))),
    iso_toward=(255, 255, 255),
    iso_mix=0.22,
)

PALETTES = {"light": LIGHT, "dark": DARK}

# Runs whose color is below 3:1 against a theme's paper, and why it is kept: each is told apart by
# its marker shape and dash pattern (run_symbol, run_dash), never by its color alone.
RUN_EXCEPTIONS = {
    "light": {6: "Okabe-Ito yellow reads only 1.3:1 on white; no darker yellow stays yellow. Its runs carry "
                 "a cross and a sparse-dot dash, and trails are drawn over a halo."},
    "dark": {},
}

# Marker shapes and dash patterns, by run index (cycling). Shapes avoid those the charts give a meaning:
# the star (a known minimum), the x (a diverged run) and the red ▼ (an lr cut: drawn in MARK_RED only).
RUN_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "triangle-down", "pentagon", "cross", "hexagon")
# Plotly's 3D scatter has fewer shapes: open ones stand in for those it lacks.
RUN_SYMBOLS_3D = ("circle", "square", "diamond", "circle-open", "square-open", "diamond-open", "cross", "x")
# Dash patterns in units of the line's width (Plotly's named dashes, as plotly.js draws them, then two
# of the app's own); () is solid.
RUN_DASHES = (
    ("solid", ()),
    ("dash", (3, 3)),
    ("dot", (1, 1)),
    ("dashdot", (3, 1, 1, 1)),
    ("longdash", (5, 5)),
    ("longdashdot", (5, 2, 1, 2)),
    ("", (1, 3)),  # sparse dots
    ("", (5, 1, 1, 1, 1, 1)),  # long, dot, dot
)

# Fill patterns of bars, by series index (Plotly's pattern shapes; "" is a plain fill).
RUN_PATTERNS = ("", "/", ".", "x", "\\", "+", "-", "|")

# The light theme's names, for code that only draws on light paper.
RUN_COLORS = LIGHT.runs
MARK_RED = LIGHT.mark_red
MARKER_EDGE = LIGHT.marker_edge
GUIDE_GREY = LIGHT.guide_grey
CURSOR_GREY = LIGHT.cursor_grey
RAW_GREY = LIGHT.raw_grey
LEGEND_BACKGROUND = LIGHT.legend_background
CLASS_COLORS = LIGHT.class_colors
CLASS_SCALE = [[p, c] for p, c in LIGHT.class_scale]
PAPER = LIGHT.paper
INK = LIGHT.ink
TRANSPARENT = "rgba(0,0,0,0)"  # invisible markers that only catch clicks (both themes)
AXIS_LINE = LIGHT.axis_line
CONTOUR_GREY = LIGHT.contour_grey
BOUND_LINE = LIGHT.bound_line
LABEL_BACKGROUND = LIGHT.label_background
NEVER_CONVERGED = LIGHT.never_converged
SEQUENTIAL_SCALE = LIGHT.sequential_scale
LANDSCAPE_STOPS = LIGHT.landscape_stops
ISO_DARKEN = 1.0 - LIGHT.iso_mix
TEXT = LIGHT.text
CONTROL_LINE = LIGHT.control_line
ACCENT = LIGHT.accent
NO_LANDSCAPE = LIGHT.no_landscape
HALO = LIGHT.halo
READOUT_BACKGROUND = LIGHT.readout_background
SCALE_LINE = LIGHT.scale_line
GRID_LINE = LIGHT.grid_line
SOFT_TEXT = LIGHT.soft_text
HINT_TEXT = LIGHT.hint_text
DIVERGED_VEIL = LIGHT.diverged_veil
DECISION_BOUNDARY = LIGHT.decision_boundary
NOTE_LINE = LIGHT.note_line
NOTE_BACKGROUND = LIGHT.note_background
NOTE_TEXT = LIGHT.note_text


# ---------------------------------------------------------------------------------------
# Light or dark: which one the figures being built now are for
# ---------------------------------------------------------------------------------------

THEMES = ("light", "dark")
_provider: Callable[[], str | None] | None = None
_local = threading.local()


def set_provider(provider: Callable[[], str | None]) -> None:
    """Where :func:`current` reads the active theme from (the app: the session's choice,
    :mod:`app.ui.presenter`); a provider that answers None or something else means light."""
    global _provider
    _provider = provider


def current() -> str:
    """The theme figures are built for now: "light" or "dark". A :func:`using` block of this thread
    comes first, then the provider."""
    kind = getattr(_local, "kind", None)
    if kind in THEMES:
        return kind
    kind = _provider() if _provider is not None else None
    return kind if kind in THEMES else "light"


@contextlib.contextmanager
def using(kind: str) -> Iterator[str]:
    """Build for theme ``kind`` in this thread until the block ends (an export's worker thread has no
    session: it is given the theme its menu was built in)."""
    if kind not in THEMES:
        raise ValueError(f"unknown theme {kind!r}: one of {', '.join(THEMES)}")
    before = getattr(_local, "kind", None)
    _local.kind = kind
    try:
        yield kind
    finally:
        _local.kind = before


def palette(kind: str | None = None) -> Palette:
    """The palette of theme ``kind`` (default: :func:`current`)."""
    return PALETTES[kind if kind in THEMES else current()]


# ---------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------

# Any theme's tone of run i (upper case) -> i: a run's color, whichever theme it was taken from.
_RUN_INDEX = {c.upper(): i for p in PALETTES.values() for i, c in enumerate(p.runs)}
if len(_RUN_INDEX) != len({(c.upper(), i) for p in PALETTES.values() for i, c in enumerate(p.runs)}):
    raise AssertionError("a color stands for two different runs in the palettes")


def run_color(i: int) -> str:
    """Run ``i``'s color as a scene stores it (the light palette's); draw it with :func:`tone`."""
    return RUN_COLORS[i % len(RUN_COLORS)]


def tone(color: str, kind: str | None = None) -> str:
    """``color`` as theme ``kind`` draws it: a run's color becomes that theme's tone of the run;
    any other color (a teacher's own) is drawn as it is."""
    i = _RUN_INDEX.get(str(color).upper())
    return color if i is None else palette(kind).runs[i]


def run_tone(i: int, kind: str | None = None) -> str:
    """Run ``i``'s color on theme ``kind``'s paper."""
    runs = palette(kind).runs
    return runs[i % len(runs)]


def run_symbol(i: int) -> str:
    """Run ``i``'s marker shape (a Plotly symbol name; the canvas views draw the same shapes)."""
    return RUN_SYMBOLS[i % len(RUN_SYMBOLS)]


def run_symbol_3d(i: int) -> str:
    """Run ``i``'s marker shape among those Plotly's 3D scatter has."""
    return RUN_SYMBOLS_3D[i % len(RUN_SYMBOLS_3D)]


def run_dash(i: int, width: float = LINE_WIDTH) -> str:
    """Run ``i``'s dash pattern for a Plotly line ``width`` wide ("solid", "dash", ... or "3px,9px")."""
    name, units = RUN_DASHES[i % len(RUN_DASHES)]
    return name or ",".join(f"{v}px" for v in run_dash_px(i, width))


def run_dash_3d(i: int) -> str:
    """Run ``i``'s dash among Plotly's named ones (all a 3D line has)."""
    named = [name for name, _ in RUN_DASHES if name]
    return named[i % len(named)]


def run_dash_px(i: int, width: float = LINE_WIDTH) -> list[float]:
    """Run ``i``'s dash pattern as on and off lengths in pixels (a canvas's setLineDash); [] is solid.
    Named patterns come out as plotly.js draws them (units of the width, at least 3 px)."""
    unit = max(float(width), 3.0)
    return [round(v * unit, 2) for v in RUN_DASHES[i % len(RUN_DASHES)][1]]


def run_pattern(i: int) -> str:
    """Series ``i``'s bar fill pattern (a Plotly pattern shape; "" for a plain fill)."""
    return RUN_PATTERNS[i % len(RUN_PATTERNS)]


def swatch(color: str, size: str = "") -> str:
    """A ■ in ``color`` (a run's color in the current theme's tone), as HTML (markdown with
    ``unsafe_allow_html``, a Plotly title); ``size``: a CSS font-size."""
    style = f"color:{tone(color)}" + (f";font-size:{size}" if size else "")
    return f"<span style='{style}'>■</span>"


def sizes() -> dict[str, float]:
    """The sizes the browser-side views draw with (their payloads carry them)."""
    return {"font": FONT_SIZE, "title": TITLE_SIZE, "line": LINE_WIDTH, "marker": MARKER_SIZE}


# ---------------------------------------------------------------------------------------
# Plotly
# ---------------------------------------------------------------------------------------

_TEMPLATE_LOCK = threading.Lock()


def plotly_template(kind: str | None = None) -> str:
    """The name of theme ``kind``'s Plotly template (registered in ``plotly.io.templates`` on first use):
    Plotly's own light or dark template with the palette's paper, text, axes and grid, the runs' tones
    as its color cycle."""
    p = palette(kind)
    name = f"optimizer_explorer_{p.kind}"
    import plotly.io as pio

    if name in pio.templates:
        return name
    with _TEMPLATE_LOCK:
        if name not in pio.templates:
            import plotly.graph_objects as go

            t = go.layout.Template(pio.templates[p.plotly_base])
            # A log axis labels its decades only: plotly writes the digits between them (2, 5) at about
            # two thirds of the font size.
            axis = dict(gridcolor=p.grid_line, linecolor=p.axis_line, zerolinecolor=p.grid_line,
                        tickcolor=p.axis_line, tickfont=dict(size=FONT_SIZE, color=p.text),
                        title=dict(font=dict(size=FONT_SIZE, color=p.text)), minorloglabels="none")
            scene_axis = dict(backgroundcolor=p.plot, gridcolor=p.grid_line, linecolor=p.axis_line,
                              zerolinecolor=p.grid_line, tickfont=dict(size=FONT_SIZE, color=p.text),
                              title=dict(font=dict(size=FONT_SIZE, color=p.text)))
            t.layout.update(
                paper_bgcolor=p.paper, plot_bgcolor=p.plot, colorway=list(p.runs),
                font=dict(size=FONT_SIZE, family=FONT_FAMILY, color=p.text),
                title=dict(font=dict(size=TITLE_SIZE, color=p.text)),
                xaxis=axis, yaxis=axis,
                scene=dict(xaxis=scene_axis, yaxis=scene_axis, zaxis=scene_axis),
                legend=dict(font=dict(size=FONT_SIZE, color=p.text)),
                hoverlabel=dict(font=dict(size=FONT_SIZE)),
                annotationdefaults=dict(font=dict(size=FONT_SIZE, color=p.text)),
                coloraxis=dict(colorbar=dict(tickfont=dict(size=FONT_SIZE, color=p.text))),
            )
            pio.templates[name] = t
    return name


def legend_below(**overrides) -> dict:
    """A horizontal legend at the bottom of the figure, under the x axis's title whatever the figure's
    height (Plotly widens the bottom margin to hold it): a legend placed in the plot's own coordinates
    under the axis ran into the axis title once the text grew to the theme's size."""
    return dict(dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, xanchor="left"), **overrides)


def _merge(base: dict, over: dict) -> dict:
    """``over`` laid on ``base``: dicts in both are merged, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def base_layout(**overrides) -> dict:
    """Layout keys every figure starts from, for the current theme: large type, the theme's paper and
    text, tight margins. ``overrides`` are merged in (a dict into the dict it overrides)."""
    p = palette()
    axis = dict(tickfont=dict(size=FONT_SIZE, color=p.text), title=dict(font=dict(size=FONT_SIZE, color=p.text)),
                gridcolor=p.grid_line, linecolor=p.axis_line, zerolinecolor=p.grid_line, minorloglabels="none")
    layout = dict(
        template=plotly_template(p.kind),
        paper_bgcolor=p.paper,
        plot_bgcolor=p.plot,
        font=dict(size=FONT_SIZE, family=FONT_FAMILY, color=p.text),
        margin=dict(l=60, r=20, t=50, b=55),
        legend=dict(font=dict(size=FONT_SIZE, color=p.text)),
        hoverlabel=dict(font=dict(size=FONT_SIZE)),
        xaxis=axis,
        yaxis=axis,
    )
    return _merge(layout, overrides)
