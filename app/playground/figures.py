"""Pure figure builders: NumPy arrays in, ``go.Figure`` out, shared by every page.

The landscape is a PNG drawn with NumPy + Pillow and placed in ``layout.images`` (layer
below), not a contour trace: plotly.js drops a contour trace as soon as an animated figure
plays (plotly.js issue 4491), while a layout image stays. Banded colors with thin iso-lines,
light on the light theme and dark on the dark one (one :class:`Landscape` holds both pictures),
leave the saturated run colors (:mod:`app.ui.theme`) readable on a projector.

Every builder draws for the current theme (:func:`app.ui.theme.current`): its paper, text and
lines, each run's color in the theme's tone, and each run's marker shape or dash pattern.

The race animation's frames update only the trajectory traces, with float32 arrays, at
most ``max_frames`` frames; a frame's trail holds *every* step up to its own, so a
period-2 zig-zag stays visible however many steps one frame advances.
"""

from __future__ import annotations

import base64
import copy
import io
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from PIL import Image

from app.ui import theme
from app.ui.controls import fmt
from app.ui.theme import (
    FONT_SIZE,
    LINE_WIDTH,
    MARKER_SIZE,
    TITLE_SIZE,
    TRANSPARENT,
    base_layout,
    legend_below,
    palette,
    run_dash,
    run_dash_3d,
    run_symbol,
    run_symbol_3d,
    tone,
)

# st.plotly_chart serializes every figure with plotly.io.to_json: orjson (a declared
# dependency) does it ~2.4x faster than the standard json module. plotly's "auto" would
# fall back to json without a word if orjson went missing; naming it makes that an error.
pio.json.config.default_engine = "orjson"

__all__ = [
    "Landscape",
    "landscape",
    "race_figure",
    "frame_steps",
    "nice_ticks",
    "last_valid",
    "surface3d_figure",
    "loss_figure",
    "loss_scale",
    "convergence_map_figure",
    "sensitivity_map_figure",
    "stability_figure",
    "CLICK_GRID_NAME",
    "AnimatedFigure",
    "frames_of",
    "decode_array",
]

X_LABEL, Y_LABEL = "θ₁", "θ₂"
CLICK_GRID_NAME = "click to start here"
N_BANDS = 14
# The light theme's iso-line factor (a band's color times this), for tests and tools that read the PNG.
_ISO_DARKEN = 1.0 - theme.LIGHT.iso_mix


def _cmap(u: np.ndarray, kind: str | None = None) -> np.ndarray:
    """RGB (float 0-255) of theme ``kind``'s landscape map at ``u`` in [0, 1]."""
    stops = palette(kind).landscape_stops
    at = np.array([v for v, _ in stops])
    rgb = np.array([c for _, c in stops], dtype=np.float64)
    return np.stack([np.interp(u, at, rgb[:, c]) for c in range(3)], axis=-1)


def _hex(rgb) -> str:
    r, g, b = (int(round(float(c))) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _colors(colors: Sequence[str] | None, n: int) -> list[str]:
    """The runs' colors as the current theme draws them (run i's own when none are given)."""
    base = list(colors) if colors else [theme.run_color(k) for k in range(n)]
    return [tone(c) for c in base] or [theme.run_tone(0)]


@dataclass(frozen=True)
class Landscape:
    """A rendered loss landscape: a PNG per theme and the scale they encode (picklable, cacheable).

    One object serves both themes, so a cache of it needs no theme in its key; :meth:`image` is the
    current theme's picture."""

    png: str  # data URI: the light theme's picture
    window: tuple[tuple[float, float], tuple[float, float]]
    log: bool
    lo: float  # scale value at the lowest band (log10 units when log)
    hi: float
    offset: float  # f* subtracted before the log (0 for linear)
    bands: int
    width: int
    height: int
    png_dark: str = ""  # data URI: the dark theme's picture (the same bands and iso-lines)

    def image(self, kind: str | None = None) -> str:
        """The PNG (data URI) for theme ``kind`` (default: the current one)."""
        return self.png_dark if palette(kind).kind == "dark" and self.png_dark else self.png

    def colorscale(self, kind: str | None = None) -> list[list]:
        """The banded colorscale matching theme ``kind``'s image, for a color bar."""
        scale = []
        for b in range(self.bands):
            c = _hex(_cmap(np.array((b + 0.5) / self.bands), kind))
            scale.append([b / self.bands, c])
            scale.append([(b + 1) / self.bands, c])
        return scale

    def ticks(self) -> tuple[list[float], list[str]]:
        """Color-bar ticks in loss units: decades for a log scale, nice steps otherwise."""
        if self.log:
            vals = list(range(math.ceil(self.lo), math.floor(self.hi) + 1))
            step = max(1, math.ceil(len(vals) / 6))
            vals = vals[::step]
            return [float(v) for v in vals], [fmt(10.0**v, 4, power=True) for v in vals]
        vals = nice_ticks(self.lo, self.hi, 6)
        return vals, [fmt(v, 4, power=True) for v in vals]

    @property
    def scale_title(self) -> str:
        if self.log and self.offset != 0:
            return "loss − min"
        return "loss"


def nice_ticks(lo: float, hi: float, n: int) -> list[float]:
    """About ``n`` round ticks in [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten; the same
    rule as the browser views' ``niceTicks`` in app/ui/static/chartkit.js)."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    out, v = [], math.ceil(lo / step - 1e-9) * step
    while v <= hi + step * 1e-9:
        out.append(0.0 if abs(v) < step * 1e-9 else float(f"{v:.12g}"))
        v += step
    return out


def _scale(Z: np.ndarray, log: bool, fmin: float | None) -> tuple[np.ndarray, float, float, float]:
    """``(t, lo, hi, offset)``: the values on the color axis and its range."""
    finite = np.isfinite(Z)
    if not finite.any():
        return np.zeros_like(Z), 0.0, 1.0, 0.0
    zmin = float(np.min(Z[finite]))
    if log:
        offset = min(zmin, fmin) if fmin is not None and math.isfinite(fmin) else zmin
        D = np.where(finite, Z - offset, np.nan)
        pos = D[np.isfinite(D) & (D > 0)]
        if pos.size == 0:
            return np.zeros_like(Z), 0.0, 1.0, offset
        hi = math.log10(float(np.max(pos)))
        lo = max(math.log10(float(np.percentile(pos, 0.5))), hi - 12)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.log10(np.maximum(D, 10.0**lo))
        return np.where(finite, t, hi), lo, hi, offset
    hi = float(np.percentile(Z[finite], 99.5))
    if hi <= zmin:
        hi = zmin + 1.0
    return np.where(finite, Z, hi), zmin, hi, 0.0


def wants_log(surface, Z: np.ndarray) -> bool:
    """The surface's own ``log_levels`` flag; for custom formulas, whether values span decades."""
    flag = getattr(surface, "log_levels", None)
    if flag is not None and not callable(flag):
        return bool(flag)
    finite = Z[np.isfinite(Z)]
    if finite.size < 10:
        return False
    d = finite - finite.min()
    med = float(np.median(d))
    return med > 0 and float(np.percentile(d, 99)) / med > 30


def landscape(surface, window=None, n: int = 480, bands: int = N_BANDS, log: bool | None = None) -> Landscape:
    """Render ``surface`` over ``window`` as banded PNGs with thin iso-lines, one per theme (~10-60 ms):
    the same bands, indexed, with each theme's colors."""
    window = window or surface.window
    (x0, x1), (y0, y1) = window
    nx = int(n)
    ny = int(max(16, min(2 * n, round(n * (y1 - y0) / (x1 - x0))))) if x1 > x0 else int(n)
    X, Y = np.meshgrid(np.linspace(x0, x1, nx), np.linspace(y0, y1, ny))
    with np.errstate(all="ignore"):
        Z = np.asarray(surface.value(np.stack((X, Y), axis=-1)), dtype=np.float64)
    use_log = wants_log(surface, Z) if log is None else bool(log)
    fmin = getattr(surface, "global_min_value", None)
    t, lo, hi, offset = _scale(Z, use_log, fmin)
    u = np.clip((t - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(t)
    band = np.minimum((u * bands).astype(np.int64), bands - 1)
    # Iso-lines: a pixel whose band differs from its right or upper neighbour takes its band's line color.
    edge = np.zeros(band.shape, dtype=bool)
    edge[:, :-1] |= band[:, :-1] != band[:, 1:]
    edge[:-1, :] |= band[:-1, :] != band[1:, :]
    index = np.flipud((band + bands * edge).astype(np.uint8))  # row 0 is the top (largest y)
    uris = {kind: _png(index, _band_colors(bands, kind)) for kind in theme.THEMES}
    return Landscape(uris["light"], ((float(x0), float(x1)), (float(y0), float(y1))), use_log, float(lo), float(hi),
                     float(offset), int(bands), nx, ny, png_dark=uris["dark"])


def _band_colors(bands: int, kind: str) -> np.ndarray:
    """``(2 * bands, 3)`` uint8: each band's fill, then each band's iso-line color, for theme ``kind``."""
    p = palette(kind)
    fill = _cmap((np.arange(bands) + 0.5) / bands, kind)
    line = fill + (np.asarray(p.iso_toward, dtype=np.float64) - fill) * p.iso_mix
    return np.clip(np.round(np.concatenate([fill, line])), 0, 255).astype(np.uint8)


def _png(index: np.ndarray, colors: np.ndarray) -> str:
    """An indexed PNG (one byte a pixel) as a data URI."""
    img = Image.fromarray(index, "P")
    img.putpalette(colors.reshape(-1).tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------------------
# The race
# ---------------------------------------------------------------------------------------


def frame_steps(steps: int, max_frames: int = 150) -> np.ndarray:
    """The steps the animation shows: all of them up to ``max_frames``, else evenly spaced (0 and
    the last always included)."""
    steps = int(steps)
    if steps + 1 <= max_frames:
        return np.arange(steps + 1)
    return np.unique(np.round(np.linspace(0, steps, max_frames)).astype(np.int64))


def last_valid(path: np.ndarray) -> int:
    """The index of a path's last finite point (-1 if none): where a diverged run was cut."""
    ok = np.all(np.isfinite(path), axis=-1)
    idx = np.flatnonzero(ok)
    return int(idx[-1]) if idx.size else -1


def exit_point(path: np.ndarray, window) -> np.ndarray | None:
    """Where a diverged path leaves the window (its boundary crossing), else its last finite point."""
    last = last_valid(path)
    if last < 0:
        return None
    (x0, x1), (y0, y1) = window
    p = path[: last + 1]
    inside = (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
    if inside[-1]:
        return p[-1].copy()
    out_idx = np.flatnonzero(~inside)
    first_out = int(out_idx[0])
    if first_out == 0:
        return np.clip(p[0], [x0, y0], [x1, y1])
    a, b = p[first_out - 1], p[first_out]
    d = b - a
    ts = [1.0]
    for k, (lo, hi) in enumerate(((x0, x1), (y0, y1))):
        if d[k] > 0:
            ts.append((hi - a[k]) / d[k])
        elif d[k] < 0:
            ts.append((lo - a[k]) / d[k])
    return a + max(0.0, min(ts)) * d


def _f32(a) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def _b64(a) -> dict | list:
    """A float32 array in plotly.js's typed-array form (what plotly.py sends for NumPy arrays)."""
    a = _f32(a)
    if a.size == 0:
        return []
    return {"dtype": "f4", "bdata": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(v) -> np.ndarray:
    """The inverse of plotly's typed-array encoding (for tests and exports): a list or a bdata dict."""
    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if "shape" in v:
            arr = arr.reshape(tuple(int(x) for x in str(v["shape"]).split(",") if x.strip()))
        return arr
    return np.asarray(v, dtype=np.float64)


class AnimatedFigure(go.Figure):
    """A ``go.Figure`` whose animation frames (and bulky layout parts) are kept as ready-to-send dicts.

    Building 100+ frames as validated ``go.Frame`` objects costs about a second per race,
    and validating a 150-step slider and copying a named template another 0.2 s. These
    parts hold nothing to validate (pre-encoded float32 typed arrays, marker colors, slider
    steps), so they are stored raw and merged in by :meth:`to_dict`, the method Streamlit,
    ``plotly.io.to_json`` and ``write_html`` all serialize through.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._raw_frames: list = []
        self._raw_layout: dict = {}

    @property
    def raw_frames(self) -> list:
        return self._raw_frames

    @raw_frames.setter
    def raw_frames(self, frames: list) -> None:
        self._raw_frames = list(frames)

    @property
    def raw_layout(self) -> dict:
        """Layout keys (``template``, ``sliders``, ``updatemenus``) merged in at serialization."""
        return self._raw_layout

    @raw_layout.setter
    def raw_layout(self, layout: dict) -> None:
        self._raw_layout = dict(layout)

    def to_dict(self):
        out = super().to_dict()
        # A copy: the cached template is shared by every figure (and every user) in the process.
        out["layout"].update(copy.deepcopy(self._raw_layout))
        if self._raw_frames:
            out["frames"] = [dict(f) for f in self._raw_frames]
        return out

    def __reduce__(self):
        return _rebuild_animated, (super().to_dict(), self._raw_frames, self._raw_layout)


def _rebuild_animated(fig_dict: dict, frames: list, layout: dict) -> "AnimatedFigure":
    fig = AnimatedFigure(fig_dict)
    fig.raw_frames = frames
    fig.raw_layout = layout
    return fig


_TEMPLATES: dict[str, dict] = {}


def _template_json(name: str) -> dict:
    """A named plotly template as a plain dict, built once per process (assigning one costs ~30 ms)."""
    if name not in _TEMPLATES:
        import plotly.io as pio

        _TEMPLATES[name] = pio.templates[name].to_plotly_json()
    return _TEMPLATES[name]


def frames_of(fig) -> list[dict]:
    """The animation frames of a figure as dicts (raw frames of an :class:`AnimatedFigure`)."""
    if isinstance(fig, AnimatedFigure) and fig.raw_frames:
        return fig.raw_frames
    return [f.to_plotly_json() for f in fig.frames]


def _axes(window, equal: bool) -> dict:
    (x0, x1), (y0, y1) = window
    line = palette().axis_line
    xa = dict(range=[x0, x1], title=dict(text=X_LABEL, font=dict(size=TITLE_SIZE)), showgrid=False, zeroline=False,
              constrain="domain", ticks="outside", mirror=True, showline=True, linecolor=line)
    ya = dict(range=[y0, y1], title=dict(text=Y_LABEL, font=dict(size=TITLE_SIZE)), showgrid=False, zeroline=False,
              constrain="domain", ticks="outside", mirror=True, showline=True, linecolor=line)
    if equal:
        ya.update(scaleanchor="x", scaleratio=1)
    return dict(xaxis=xa, yaxis=ya)


def _click_grid(window, n: int = 41) -> dict:
    """Invisible markers over the whole window: a click on the map selects one and returns its (θ₁, θ₂)."""
    (x0, x1), (y0, y1) = window
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return dict(
        type="scatter", x=_b64(gx.ravel()), y=_b64(gy.ravel()), mode="markers", name=CLICK_GRID_NAME,
        marker=dict(size=16, color=TRANSPARENT, opacity=0.0),
        selected=dict(marker=dict(opacity=0.0)), unselected=dict(marker=dict(opacity=0.0)),
        hovertemplate="θ₁ = %{x:.3g}, θ₂ = %{y:.3g}<br>click: start here<extra></extra>",
        showlegend=False,
    )


def _colorbar_trace(land: Landscape) -> dict:
    """A one-point invisible trace that carries the color bar of the PNG's loss scale."""
    tickvals, ticktext = land.ticks()
    p = palette()
    (x0, _), (y0, _) = land.window
    return dict(
        type="scatter", x=[x0], y=[y0], mode="markers", hoverinfo="skip", showlegend=False, name="loss scale",
        marker=dict(size=0.1, opacity=0, color=[land.lo], cmin=land.lo, cmax=land.hi, colorscale=land.colorscale(p.kind),
                    showscale=True,
                    colorbar=dict(title=dict(text=land.scale_title, side="top", font=dict(size=FONT_SIZE, color=p.text)),
                                  tickvals=tickvals, ticktext=ticktext, thickness=16, len=0.42, y=0.0,
                                  yanchor="bottom", x=1.02, xanchor="left",
                                  tickfont=dict(size=FONT_SIZE, color=p.text), outlinewidth=0)),
    )


def race_figure(
    positions: np.ndarray,
    labels: Sequence[str],
    *,
    window,
    background: Landscape | None = None,
    colors: Sequence[str] | None = None,
    starts: np.ndarray | None = None,
    minima: np.ndarray | None = None,
    title: str = "",
    max_frames: int = 120,
    inspect_step: int | None = None,
    height: int = 720,
    click_grid: bool = True,
    frame_ms: int = 60,
) -> AnimatedFigure:
    """The animated race: trails that grow, a head per run, start and minima, ✕ where a run left.

    ``positions`` is ``(K, T+1, 2)``, NaN after a run diverged. The figure opens on the
    last step (a static export shows whole paths); ▶ plays from step 0. Frames replace
    only the K trails, the heads and the ✕ marks. The figure is assembled from plain
    dicts without plotly.py's validation (tests validate it): that keeps a 6 x 500-step
    race at tens of milliseconds.
    """
    P = np.asarray(positions, dtype=np.float64)
    K, T1, _ = P.shape
    T = T1 - 1
    colors = _colors(colors, K)
    p = palette()
    (x0, x1), (y0, y1) = window
    aspect = (y1 - y0) / (x1 - x0) if x1 > x0 else 1.0
    traces: list[dict] = []
    if click_grid:
        traces.append(_click_grid(window))
    if background is not None:
        traces.append(_colorbar_trace(background))
    if minima is not None and len(minima):
        mins = np.asarray(minima, dtype=np.float64).reshape(-1, 2)
        traces.append(dict(
            type="scatter", x=_b64(mins[:, 0]), y=_b64(mins[:, 1]), mode="markers", name="known minimum",
            showlegend=True, marker=dict(symbol="star", size=22, color=p.paper, line=dict(color=p.ink, width=2)),
            hovertemplate="minimum (%{x:.3g}, %{y:.3g})<extra></extra>"))
    if starts is not None:
        st = np.unique(np.asarray(starts, dtype=np.float64).reshape(-1, 2), axis=0)
        traces.append(dict(
            type="scatter", x=_b64(st[:, 0]), y=_b64(st[:, 1]), mode="markers", name="start", showlegend=True,
            marker=dict(symbol="circle-open", size=20, color=p.ink, line=dict(width=3)),
            hovertemplate="start (%{x:.3g}, %{y:.3g})<extra></extra>"))
    last = [last_valid(P[k]) for k in range(K)]
    diverged = [last[k] < T for k in range(K)]
    exits = [exit_point(P[k], window) if diverged[k] else None for k in range(K)]
    if inspect_step is not None and 0 <= inspect_step <= T:
        idx = [k for k in range(K) if last[k] >= 0]
        pts = np.array([P[k, min(inspect_step, last[k])] for k in idx]).reshape(-1, 2)
        traces.append(dict(
            type="scatter", x=_b64(pts[:, 0]), y=_b64(pts[:, 1]), mode="markers", name=f"step {inspect_step}",
            showlegend=False, hovertemplate=f"inspected step {inspect_step}<extra></extra>",
            marker=dict(symbol=[run_symbol(k) + "-open" for k in idx], size=20,
                        color=[colors[k % len(colors)] for k in idx], line=dict(width=3))))
    # The legend: each run's line with its head's shape (the trails themselves stay out of it).
    for k in range(K):
        c = colors[k % len(colors)]
        traces.append(dict(
            type="scatter", x=[None], y=[None], mode="lines+markers", name=labels[k], legendgroup=f"r{k}",
            showlegend=True, hoverinfo="skip", line=dict(color=c, width=LINE_WIDTH),
            marker=dict(symbol=run_symbol(k), size=MARKER_SIZE + 2, color=c, line=dict(color=p.marker_edge, width=2))))

    def state(s: int):
        """Per run: the trail up to step s (every step), and the heads and ✕ marks at step s."""
        trails, heads, head_colors, head_symbols, exs, ex_colors = [], [], [], [], [], []
        for k in range(K):
            upto = min(s, last[k])
            trails.append(P[k, : upto + 1] if upto >= 0 else P[k, :0])
            if diverged[k] and s > last[k]:
                if exits[k] is not None:
                    exs.append(exits[k])
                    ex_colors.append(colors[k % len(colors)])
            elif upto >= 0:
                heads.append(P[k, upto])
                head_colors.append(colors[k % len(colors)])
                head_symbols.append(run_symbol(k))
        return trails, np.reshape(heads, (-1, 2)), head_colors, head_symbols, np.reshape(exs, (-1, 2)), ex_colors

    def dynamic(s: int, full: bool) -> list[dict]:
        trails, heads, head_colors, head_symbols, exs, ex_colors = state(s)
        out = [{"type": "scatter", "x": _b64(t[:, 0]), "y": _b64(t[:, 1])} for t in trails]
        out.append({"type": "scatter", "x": _b64(heads[:, 0]), "y": _b64(heads[:, 1]),
                    "marker": {"color": head_colors, "symbol": head_symbols}})
        out.append({"type": "scatter", "x": _b64(exs[:, 0]), "y": _b64(exs[:, 1]), "text": ["✕"] * len(exs),
                    "textfont": {"color": ex_colors or p.mark_red}})
        if full:
            for k in range(K):
                out[k].update(
                    mode="lines", name=labels[k], legendgroup=f"r{k}", showlegend=False, connectgaps=False,
                    line=dict(color=colors[k % len(colors)], width=LINE_WIDTH),
                    hovertemplate=f"{labels[k]}<br>θ₁ = %{{x:.4g}}, θ₂ = %{{y:.4g}}<extra></extra>")
            out[K].update(mode="markers", name="current position", showlegend=False,
                          marker=dict(size=MARKER_SIZE + 6, color=head_colors, symbol=head_symbols,
                                      line=dict(color=p.marker_edge, width=3)),
                          hovertemplate="θ₁ = %{x:.4g}, θ₂ = %{y:.4g}<extra></extra>")
            out[K + 1].update(mode="text", name="diverged", showlegend=False, cliponaxis=False,
                              textfont=dict(size=36, color=ex_colors or p.mark_red),
                              hovertemplate="diverged: left here<extra></extra>")
        return out

    first_dynamic = len(traces)
    traces += dynamic(T, full=True)
    dyn = list(range(first_dynamic, first_dynamic + K + 2))
    fsteps = frame_steps(T, max_frames)
    frames = [{"name": str(int(s)), "traces": dyn, "data": dynamic(int(s), full=False)} for s in fsteps]

    def play(ms: int, restart: bool = False) -> list:
        return [None if not restart else [str(int(s)) for s in fsteps],
                dict(frame=dict(duration=ms, redraw=False), fromcurrent=not restart, mode="immediate",
                     transition=dict(duration=0))]

    slider = dict(
        active=len(fsteps) - 1, x=0.0, len=1.0, y=0, yanchor="top", pad=dict(t=115, b=0, l=0, r=0),
        currentvalue=dict(prefix="step ", font=dict(size=FONT_SIZE + 2, color=p.text), xanchor="right", offset=10),
        font=dict(size=FONT_SIZE, color=p.text), ticklen=4, minorticklen=2, bgcolor=p.grid_line,
        bordercolor=p.control_line, activebgcolor=p.accent, tickcolor=p.axis_line,
        steps=[dict(method="animate", label=str(int(s)),
                    args=[[str(int(s))], dict(mode="immediate", frame=dict(duration=0, redraw=False),
                                               transition=dict(duration=0))]) for s in fsteps],
    )
    buttons = [
        dict(label="▶ Play", method="animate", args=play(frame_ms)),
        dict(label="❚❚ Pause", method="animate",
             args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))]),
        dict(label="↺ Replay", method="animate", args=play(frame_ms, restart=True)),
        dict(label="slow", method="animate", args=play(frame_ms * 3)),
        dict(label="fast", method="animate", args=play(max(frame_ms // 3, 1))),
    ]
    layout = base_layout(
        height=height,
        margin=dict(l=70, r=20, t=60 if title else 20, b=185),
        legend=dict(orientation="v", yanchor="top", y=1.0, x=1.02, xanchor="left", font=dict(size=FONT_SIZE),
                    bgcolor=p.legend_background, itemclick="toggle", tracegroupgap=2),
        hovermode="closest",
        dragmode="pan",
        plot_bgcolor=p.plot,
        uirevision="race",
        sliders=[slider],
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0, xanchor="left", y=0,
                          yanchor="top", pad=dict(r=6, t=68), buttons=buttons, font=dict(size=FONT_SIZE, color=p.text),
                          bgcolor=p.paper, bordercolor=p.control_line)],
        **_axes(window, equal=0.4 <= aspect <= 2.5),
    )
    if title:
        layout["title"] = dict(text=title, font=dict(size=TITLE_SIZE), x=0.01, xanchor="left")
    if background is not None:
        layout["images"] = [dict(source=background.image(p.kind), xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0, sizey=y1 - y0,
                                 sizing="stretch", layer="below", opacity=1.0)]
    template = layout.pop("template", None)
    fig = AnimatedFigure(dict(data=traces, layout=layout), _validate=False)
    raw: dict = {}
    if isinstance(template, str):
        raw["template"] = _template_json(template)
    elif template is not None:
        fig.update_layout(template=template)
    fig.raw_layout = raw
    fig.raw_frames = frames
    return fig


# ---------------------------------------------------------------------------------------
# 3D view
# ---------------------------------------------------------------------------------------


def _cell_minimum(surface, X: np.ndarray, Y: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The loss at each grid point, as the lowest of 3 x 3 samples across its cell.

    A valley narrower than a cell (Rosenbrock's, away from the origin) is otherwise hit by
    some grid rows and missed by the next, and the 3D surface shows its floor as a comb of
    spikes. The lowest value in each cell draws the valley whole; the surface then lies at
    or below the true loss everywhere, so the paths lifted onto it stay visible above it.
    """
    Z = None
    with np.errstate(all="ignore"):
        for a in (-1.0 / 3.0, 0.0, 1.0 / 3.0):
            for b in (-1.0 / 3.0, 0.0, 1.0 / 3.0):
                z = np.asarray(surface.value(np.stack((X + a * dx, Y + b * dy), axis=-1)), dtype=np.float64)
                Z = z if Z is None else np.fmin(Z, z)
    return Z


def surface3d_figure(surface, positions: np.ndarray, labels: Sequence[str], *, window=None,
                     colors: Sequence[str] | None = None, n: int = 140, log: bool | None = None,
                     title: str = "", height: int = 640) -> go.Figure:
    """The loss as a 3D surface with each run's path lifted onto it (log-scaled height when the
    values span decades: the z axis then reads log₁₀(loss − min))."""
    window = window or surface.window
    (x0, x1), (y0, y1) = window
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = _cell_minimum(surface, X, Y, (x1 - x0) / (n - 1), (y1 - y0) / (n - 1))
    use_log = wants_log(surface, Z) if log is None else bool(log)
    t, lo, hi, offset = _scale(Z, use_log, getattr(surface, "global_min_value", None))
    if not use_log:
        t = np.clip(t, lo, hi)

    def lift(z):
        z = np.asarray(z, dtype=np.float64)
        if use_log:
            with np.errstate(all="ignore"):
                return np.log10(np.maximum(z - offset, 10.0**lo))
        return np.clip(z, lo, hi)

    colors = _colors(colors, len(labels))
    p = palette()
    fig = go.Figure()
    scale = Landscape("", window, use_log, lo, hi, offset, N_BANDS, n, n)
    fig.add_trace(go.Surface(x=_f32(X[0]), y=_f32(Y[:, 0]), z=_f32(t), colorscale=scale.colorscale(p.kind), cmin=lo,
                             cmax=hi, showscale=False, opacity=0.95, name="loss",
                             contours=dict(z=dict(show=True, color=p.contour_grey, width=1, start=lo, end=hi,
                                                  size=(hi - lo) / N_BANDS if hi > lo else 1)),
                             hovertemplate="θ₁ %{x:.3g}, θ₂ %{y:.3g}<extra></extra>"))
    P = np.asarray(positions, dtype=np.float64)
    for k in range(P.shape[0]):
        path = P[k]
        ok = np.all(np.isfinite(path), axis=-1)
        inside = ok & (path[:, 0] >= x0) & (path[:, 0] <= x1) & (path[:, 1] >= y0) & (path[:, 1] <= y1)
        path = np.where(inside[:, None], path, np.nan)
        with np.errstate(all="ignore"):
            z = lift(surface.value(np.nan_to_num(path)))
        z = np.where(inside, z, np.nan)
        span = (hi - lo) * 0.01
        c = colors[k % len(colors)]
        # The path, and its last point inside the window in the run's shape (the only marker drawn: the
        # legend shows the line's dash and the shape).
        size = np.zeros(len(path), dtype=np.float32)
        idx = np.flatnonzero(inside)
        if idx.size:
            size[idx[-1]] = 9
        fig.add_trace(go.Scatter3d(x=_f32(path[:, 0]), y=_f32(path[:, 1]), z=_f32(z + span), mode="lines+markers",
                                   name=labels[k], legendgroup=f"r{k}",
                                   line=dict(color=c, width=7, dash=run_dash_3d(k)),
                                   marker=dict(size=size, color=c, symbol=run_symbol_3d(k), opacity=1.0,
                                               line=dict(color=p.marker_edge, width=2))))
    ztitle = ("log₁₀(loss − min)" if offset != 0 else "log₁₀ loss") if use_log else "loss"
    fig.update_layout(**base_layout(
        height=height, title=dict(text=title, font=dict(size=TITLE_SIZE)) if title else None,
        # Room for the z axis's title at the left (cut to "oss" at l=0) and the legend below the
        # scene (clipped at b=0): the legend sits in the bottom margin, a row per few runs.
        margin=dict(l=30, r=30, t=50 if title else 10, b=80),
        legend=dict(orientation="h", yanchor="top", y=-0.01, x=0, font=dict(size=FONT_SIZE), itemsizing="constant"),
        # Few ticks: at the theme's font size, a 3D axis's labels otherwise run into one another.
        scene=dict(xaxis=dict(title=dict(text=X_LABEL), nticks=4), yaxis=dict(title=dict(text=Y_LABEL), nticks=4),
                   zaxis=dict(title=dict(text=ztitle), nticks=4), aspectmode="manual",
                   aspectratio=dict(x=1, y=1, z=0.6),
                   camera=dict(eye=dict(x=1.4, y=-1.4, z=1.05))),
    ))
    return fig


# ---------------------------------------------------------------------------------------
# Loss vs step
# ---------------------------------------------------------------------------------------


def loss_scale(losses: np.ndarray, log: bool, fmin: float | None) -> tuple[np.ndarray, bool, str]:
    """What a loss chart plots: ``(values, log axis?, axis title)``. On a log axis, ``loss − f*``
    when the minimum value f* is known (an exact minimum drawn at 1e-16), else the loss itself if it
    stays positive; otherwise a linear axis. NaN (a diverged run) stays NaN: a gap."""
    L = np.asarray(losses, dtype=np.float64)
    use_log = bool(log) and (fmin is None or math.isfinite(fmin))
    shift = float(fmin) if (use_log and fmin is not None and math.isfinite(fmin)) else 0.0
    if use_log and fmin is None:
        finite = L[np.isfinite(L)]
        use_log = finite.size > 0 and float(finite.min()) > 0
    Y = L - shift
    if use_log:
        Y = np.where(np.isfinite(Y) & (Y <= 0), 1e-16, Y)
    return Y, use_log, ("loss − min" if shift else "loss") + (" (log scale)" if use_log else "")


def loss_figure(losses: np.ndarray, labels: Sequence[str], *, colors: Sequence[str] | None = None,
                log: bool = True, fmin: float | None = None, inspect_step: int | None = None,
                diverged_step: Sequence[int] | None = None, title: str = "Loss at each step",
                height: int = 420) -> go.Figure:
    """Loss against step for every run, each in its color and dash pattern; with ``log``, ``loss − f*``
    on a log axis (f* = ``fmin``)."""
    Y, use_log, ylabel = loss_scale(losses, log, fmin)
    K, T1 = Y.shape
    colors = _colors(colors, K)
    p = palette()
    fig = go.Figure()
    for k in range(K):
        y = Y[k]
        # Steps 0, 1, 2, ... as x0 and dx: no x array on the wire (4 bytes a step per run saved).
        fig.add_trace(go.Scatter(x0=0, dx=1, y=_f32(y), mode="lines", name=labels[k],
                                 line=dict(color=colors[k % len(colors)], width=LINE_WIDTH, dash=run_dash(k)),
                                 hovertemplate=f"{labels[k]}<br>step %{{x}}: %{{y:.4g}}<extra></extra>"))
        if diverged_step is not None and diverged_step[k] >= 0:
            j = int(diverged_step[k]) - 1
            if 0 <= j < T1 and np.isfinite(y[j]):
                fig.add_trace(go.Scatter(x=[j], y=[y[j]], mode="text", text=["✕"], showlegend=False,
                                         textfont=dict(size=26, color=p.mark_red), hoverinfo="skip"))
    fig.update_layout(**base_layout(
        height=height, title=dict(text=title, font=dict(size=TITLE_SIZE)),
        xaxis=dict(title=dict(text="step"), rangemode="tozero"),
        yaxis=dict(title=dict(text=ylabel), type="log" if use_log else "linear", exponentformat="power"),
        legend=legend_below(),
        margin=dict(l=75, r=20, t=50, b=60),
    ))
    if inspect_step is not None:
        fig.add_vline(x=int(inspect_step), line=dict(color=p.cursor_grey, width=LINE_WIDTH, dash="dash"),
                      annotation_text=f"step {int(inspect_step)}", annotation_position="top",
                      annotation_font=dict(size=FONT_SIZE, color=p.cursor_grey))
    return fig


# ---------------------------------------------------------------------------------------
# Analyses
# ---------------------------------------------------------------------------------------


def _heat_axes(window) -> dict:
    return _axes(window, equal=True)


def convergence_map_figure(cmap, *, kind: str = "steps", title: str = "", minima=None, window=None,
                           height: int = 600) -> go.Figure:
    """From every start on a grid: how many steps to converge (``kind="steps"``) or which minimum
    it reached (``kind="basin"``); runs that diverged are dark red, runs that never converged grey."""
    xs, ys = np.asarray(cmap.xs), np.asarray(cmap.ys)
    window = window or ((float(xs[0]), float(xs[-1])), (float(ys[0]), float(ys[-1])))
    fig = go.Figure()
    p = palette()
    div = np.asarray(cmap.diverged, dtype=bool)
    if kind == "basin":
        basin = np.asarray(cmap.basin, dtype=np.float64)
        nmin = max(int(np.nanmax(basin)) + 1, 1) if basin.size else 1
        z = np.where(div | (basin < 0), np.nan, basin)
        scale = []
        for i in range(nmin):
            c = theme.run_tone(i + 1)
            scale += [[i / nmin, c], [(i + 1) / nmin, c]]
        fig.add_trace(go.Heatmap(x=_f32(xs), y=_f32(ys), z=_f32(z), zmin=-0.5, zmax=nmin - 0.5,
                                 colorscale=scale, name="basin",
                                 colorbar=dict(title=dict(text="minimum"), tickvals=list(range(nmin)),
                                               ticktext=[f"#{i + 1}" for i in range(nmin)]),
                                 hovertemplate="start (%{x:.3g}, %{y:.3g}) → minimum #%{z}<extra></extra>"))
    else:
        steps = np.asarray(cmap.steps_to_converge, dtype=np.float64)
        z = np.where((steps < 0) | div, np.nan, steps)
        fig.add_trace(go.Heatmap(x=_f32(xs), y=_f32(ys), z=_f32(z), colorscale=p.sequential_scale, reversescale=True,
                                 name="steps", colorbar=dict(title=dict(text="steps")),
                                 hovertemplate="start (%{x:.3g}, %{y:.3g}): %{z:.0f} steps<extra></extra>"))
    never = np.where(~div & np.isnan(z), 1.0, np.nan)
    if np.isfinite(never).any():
        fig.add_trace(go.Heatmap(x=_f32(xs), y=_f32(ys), z=_f32(never), colorscale=[[0, p.never_converged], [1, p.never_converged]],
                                 showscale=False, name="never converged",
                                 hovertemplate="start (%{x:.3g}, %{y:.3g}): did not converge<extra></extra>"))
    if div.any():
        fig.add_trace(go.Heatmap(x=_f32(xs), y=_f32(ys), z=_f32(np.where(div, 1.0, np.nan)),
                                 colorscale=[[0, p.mark_red], [1, p.mark_red]], showscale=False,
                                 name="diverged", hovertemplate="start (%{x:.3g}, %{y:.3g}): diverged<extra></extra>"))
    if minima is not None and len(minima):
        m = np.asarray(minima, dtype=np.float64).reshape(-1, 2)
        fig.add_trace(go.Scatter(x=m[:, 0], y=m[:, 1], mode="markers+text", name="minima",
                                 text=[f"#{i + 1}" for i in range(len(m))], textposition="top center",
                                 textfont=dict(size=FONT_SIZE), showlegend=False,
                                 marker=dict(symbol="star", size=22, color=p.paper, line=dict(color=p.ink, width=2))))
    fig.update_layout(**base_layout(height=height, title=dict(text=title, font=dict(size=TITLE_SIZE)),
                                    margin=dict(l=70, r=20, t=60, b=60), **_heat_axes(window)))
    return fig


def sensitivity_map_figure(smap, *, x_label: str, y_label: str, title: str = "", current: tuple | None = None,
                           height: int = 560) -> go.Figure:
    """Final loss over a grid of two hyperparameters (log color); ✕ marks diverged cells; an
    invisible marker on every cell makes a click return that cell's values."""
    xv, yv = np.asarray(smap.x_values), np.asarray(smap.y_values)
    nx, ny = xv.size, yv.size
    loss = np.asarray(smap.final_loss, dtype=np.float64)
    div = np.asarray(smap.diverged, dtype=bool)
    ref = getattr(smap, "threshold", 0.0) - 1e-3
    with np.errstate(all="ignore"):
        gap = loss - (ref if math.isfinite(ref) else np.nanmin(loss))
        z = np.log10(np.maximum(gap, 1e-12))
    z = np.where(div | ~np.isfinite(loss), np.nan, z)
    fig = go.Figure()
    p = palette()
    fig.add_trace(go.Heatmap(x=np.arange(nx), y=np.arange(ny), z=_f32(z), colorscale=p.sequential_scale, name="final loss",
                             colorbar=dict(title=dict(text="log₁₀(final loss − min)")),
                             customdata=np.dstack(np.meshgrid(xv, yv)),
                             hovertemplate=f"{x_label} = %{{customdata[0]:.3g}}<br>{y_label} = %{{customdata[1]:.3g}}"
                                           "<br>log₁₀ gap %{z:.2f}<extra></extra>"))
    jj, ii = np.nonzero(div)
    if ii.size:
        fig.add_trace(go.Scatter(x=ii, y=jj, mode="text", text=["✕"] * ii.size, name="diverged",
                                 textfont=dict(size=FONT_SIZE, color=p.mark_red), hoverinfo="skip", showlegend=False))
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny))
    fig.add_trace(go.Scatter(
        x=gx.ravel(), y=gy.ravel(), mode="markers", name="cells", showlegend=False,
        customdata=np.stack([np.meshgrid(xv, yv)[0].ravel(), np.meshgrid(xv, yv)[1].ravel()], axis=-1),
        marker=dict(size=max(6, min(28, 600 // max(nx, ny))), symbol="square", color=TRANSPARENT, opacity=0),
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate=f"{x_label} = %{{customdata[0]:.3g}}<br>{y_label} = %{{customdata[1]:.3g}}"
                      "<br>click: race this<extra></extra>"))
    if current is not None:
        cx = int(np.argmin(np.abs(xv - current[0]) / np.maximum(np.abs(xv), 1e-300)))
        cy = int(np.argmin(np.abs(yv - current[1])))
        size = max(10, min(34, 560 // max(nx, ny)))
        for color, width in ((p.ink, 5), (p.marker_edge, 2)):  # a ring edged in the ink shows on any cell color
            fig.add_trace(go.Scatter(x=[cx], y=[cy], mode="markers", name="current", showlegend=False,
                                     hoverinfo="skip",
                                     marker=dict(symbol="square-open", size=size, color=color, line=dict(width=width))))
    step_x = max(1, nx // 8)
    step_y = max(1, ny // 8)
    fig.update_layout(**base_layout(
        height=height, title=dict(text=title, font=dict(size=TITLE_SIZE)),
        xaxis=dict(title=dict(text=x_label), tickvals=list(range(0, nx, step_x)),
                   ticktext=[fmt(v, 3) for v in xv[::step_x]], showgrid=False, zeroline=False),
        yaxis=dict(title=dict(text=y_label), tickvals=list(range(0, ny, step_y)),
                   ticktext=[fmt(v, 3) for v in yv[::step_y]], showgrid=False, zeroline=False),
        margin=dict(l=80, r=20, t=60, b=70), clickmode="event+select", dragmode=False))
    return fig


def stability_figure(lrs: np.ndarray, final_losses: dict[str, np.ndarray], diverged: dict[str, np.ndarray], *,
                     bounds: dict[str, float], colors: dict[str, str] | None = None, f0: float | None = None,
                     title: str = "", height: int = 480) -> go.Figure:
    """Final loss against η (log-log) for GD and heavy ball, ✕ where a run diverged, with the
    theoretical limits (2/L, 2(1+β)/L) drawn as dashed vertical lines."""
    lrs = np.asarray(lrs, dtype=np.float64)
    fig = go.Figure()
    p = palette()
    finite_all = np.concatenate([np.asarray(v)[np.isfinite(v)] for v in final_losses.values()] or [np.array([1.0])])
    top = float(np.nanmax(finite_all)) if finite_all.size else 1.0
    top = max(top, f0 or 0.0, 1e-12) * 10
    for i, (name, fl) in enumerate(final_losses.items()):
        c = tone((colors or {}).get(name, theme.run_color(i)))
        fl = np.asarray(fl, dtype=np.float64)
        dv = np.asarray(diverged[name], dtype=bool)
        y = np.where(dv | ~np.isfinite(fl), np.nan, np.maximum(fl, 1e-16))
        fig.add_trace(go.Scatter(x=lrs, y=y, mode="lines+markers", name=name,
                                 line=dict(color=c, width=LINE_WIDTH, dash=run_dash(i)),
                                 marker=dict(size=MARKER_SIZE, symbol=run_symbol(i), line=dict(color=p.marker_edge, width=1)),
                                 hovertemplate="η = %{x:.3g}: final loss %{y:.3g}<extra></extra>"))
        if dv.any():
            fig.add_trace(go.Scatter(x=lrs[dv], y=np.full(int(dv.sum()), top), mode="text", text=["✕"] * int(dv.sum()),
                                     name=f"{name}: diverged", textfont=dict(size=22, color=c), showlegend=False,
                                     hovertemplate=f"{name}: η = %{{x:.3g}} diverged<extra></extra>"))
    for i, (name, x) in enumerate(bounds.items()):
        fig.add_vline(x=x, line=dict(color=p.bound_line, width=LINE_WIDTH, dash="dash" if i == 0 else "dot"))
        # On a log axis an annotation's x is log10 of the value (add_vline's own annotation gets this wrong).
        fig.add_annotation(x=math.log10(x), y=1.0 if i % 2 == 0 else 0.02, xref="x", yref="paper",
                           text=f"{name} = {x:.3g}", showarrow=False, xanchor="right", xshift=-4,
                           yanchor="top" if i % 2 == 0 else "bottom", font=dict(size=FONT_SIZE, color=p.text),
                           bgcolor=p.label_background)
    fig.update_layout(**base_layout(
        height=height, title=dict(text=title, font=dict(size=TITLE_SIZE)),
        xaxis=dict(title=dict(text="learning rate η"), type="log", exponentformat="power"),
        yaxis=dict(title=dict(text="final loss (log scale) — ✕ diverged"), type="log", exponentformat="power"),
        legend=legend_below(),
        margin=dict(l=80, r=20, t=60, b=60)))
    return fig
