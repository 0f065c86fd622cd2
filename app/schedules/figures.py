"""Pure figure builders of the Schedules page: NumPy arrays in, ``go.Figure`` out.

* :func:`lr_figure`: several learning-rate curves overlaid (linear or log y), a second
  panel with the momentum / β₁ curves of the schedules that cycle it, an optional marker
  at one step, ReduceLROnPlateau's reductions as ▼ and milestones as dotted lines.
* :func:`range_test_figure`: the LR range test, loss against lr on a log axis, the
  smoothed loss and the suggested lr.
* :func:`mark_reductions`: ▼ marks on an existing loss figure (``app.playground.figures.loss_figure``).

Every figure starts from :func:`app.ui.theme.base_layout` (the current theme's paper, text and font
sizes), draws with the theme's palette and labels use Unicode (η, β₁), since Streamlit does not render
LaTeX inside Plotly. Overlaid curves carry their run's marker shape (a few along each curve), so they
are told apart without their colors; no line is drawn thinner than the theme's line width.
Curves are sent as float64 arrays, so a chart's numbers are the schedule's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.playground import figures as F
from app.playground import race_view as V
from app.ui.controls import fmt
from app.ui.theme import (
    FONT_SIZE,
    LINE_WIDTH,
    MARKER_SIZE,
    TITLE_SIZE,
    base_layout,
    legend_below,
    palette,
    run_color,
    run_symbol,
    run_tone,
    tone,
)

__all__ = ["LRCurve", "lr_figure", "range_test_figure", "mark_reductions", "run_race_view", "run_loss_figure",
           "loss_text", "LR_LABEL", "MOMENTUM_LABEL"]

LR_LABEL = "learning rate η"
MOMENTUM_LABEL = "momentum / β₁"
MARKS_PER_CURVE = 10  # a curve's shape markers, spread along it (plotly's marker.maxdisplayed)


@dataclass(frozen=True)
class LRCurve:
    """One curve to draw: ``lr[t]`` at step t; NaN where the curve is not defined (not drawn)."""

    label: str
    lr: np.ndarray
    momentum: np.ndarray | None = None
    reductions: Sequence[int] = field(default_factory=tuple)
    color: str | None = None
    dash: str = "solid"
    width: float = LINE_WIDTH


def _f64(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


def _color(c: LRCurve, i: int) -> str:
    return tone(c.color or run_color(i))


def _shape_marks(i: int, color: str, edge: str) -> dict:
    """A curve's marker: curve ``i``'s shape, :data:`MARKS_PER_CURVE` of them along it."""
    return dict(symbol=run_symbol(i), size=MARKER_SIZE - 1, color=color, maxdisplayed=MARKS_PER_CURVE,
                line=dict(color=edge, width=1.5))


def lr_figure(
    curves: Sequence[LRCurve],
    *,
    log_y: bool = False,
    marker_step: int | None = None,
    milestones: Sequence[int] = (),
    title: str = "Learning rate at each step",
    height: int | None = None,
    x_label: str = "step",
) -> go.Figure:
    """Overlaid lr curves; a second panel (shared x) when any curve has a momentum / β₁ curve.

    ``marker_step`` draws a dashed vertical line there and a dot on every curve (at the
    last defined step if a curve is shorter). ``reductions`` of a curve are drawn as ▼ on
    it (ReduceLROnPlateau's cuts); ``milestones`` as dotted vertical lines.
    """
    with_mom = any(c.momentum is not None for c in curves)
    if with_mom:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.66, 0.34], vertical_spacing=0.07)
    else:
        fig = go.Figure()
    rows = dict(row=1, col=1) if with_mom else {}
    p = palette()
    red_legend = True
    for i, c in enumerate(curves):
        color = _color(c, i)
        width = max(float(c.width), LINE_WIDTH)
        lr = _f64(c.lr)
        x = np.arange(len(lr), dtype=np.int32)
        fig.add_trace(go.Scatter(
            x=x, y=lr, mode="lines+markers", name=c.label, legendgroup=f"c{i}",
            line=dict(color=color, width=width, dash=c.dash), marker=_shape_marks(i, color, p.marker_edge),
            hovertemplate=f"{c.label}<br>step %{{x}}: η = %{{y:.4g}}<extra></extra>"), **rows)
        red = [int(r) for r in c.reductions if 0 <= int(r) < len(lr)]
        if red:
            fig.add_trace(go.Scatter(
                x=np.array(red, dtype=np.int32), y=lr[red], mode="markers", name="ReduceLROnPlateau cut the lr",
                legendgroup="reductions", showlegend=red_legend,
                marker=dict(symbol="triangle-down", size=MARKER_SIZE + 6, color=p.mark_red,
                            line=dict(color=p.marker_edge, width=1.5)),
                hovertemplate=f"{c.label}<br>lr cut at step %{{x}} → η = %{{y:.4g}}<extra></extra>"), **rows)
            red_legend = False
        if c.momentum is not None:
            mom = _f64(c.momentum)
            fig.add_trace(go.Scatter(
                x=np.arange(len(mom), dtype=np.int32), y=mom, mode="lines+markers", name=f"{c.label} · {MOMENTUM_LABEL}",
                legendgroup=f"c{i}", showlegend=False, line=dict(color=color, width=width, dash="dot"),
                marker=_shape_marks(i, color, p.marker_edge),
                hovertemplate=f"{c.label}<br>step %{{x}}: {MOMENTUM_LABEL} = %{{y:.4g}}<extra></extra>"),
                row=2, col=1)
    for m in milestones:
        fig.add_vline(x=int(m), line=dict(color=p.guide_grey, width=LINE_WIDTH, dash="dot"),
                      annotation_text=f"milestone {int(m)}", annotation_position="top right",
                      annotation_font=dict(size=FONT_SIZE, color=p.guide_grey))
    if marker_step is not None:
        s = int(marker_step)
        _add_step_marker(fig, curves, s, with_mom)
    layout = base_layout(
        height=height or (560 if with_mom else 430),
        title=dict(text=title, font=dict(size=TITLE_SIZE)),
        legend=legend_below(font=dict(size=FONT_SIZE)),
        margin=dict(l=80, r=20, t=55, b=70),
        hovermode="closest",
    )
    fig.update_layout(**layout)
    ytype = "log" if log_y else "linear"
    if with_mom:
        fig.update_yaxes(title_text=LR_LABEL + (" (log)" if log_y else ""), type=ytype, exponentformat="power",
                         row=1, col=1)
        fig.update_yaxes(title_text=MOMENTUM_LABEL, row=2, col=1)
        fig.update_xaxes(title_text=x_label, rangemode="tozero", row=2, col=1)
        fig.update_xaxes(rangemode="tozero", row=1, col=1)
    else:
        fig.update_yaxes(title_text=LR_LABEL + (" (log)" if log_y else ""), type=ytype, exponentformat="power")
        fig.update_xaxes(title_text=x_label, rangemode="tozero")
    return fig


def _add_step_marker(fig: go.Figure, curves: Sequence[LRCurve], s: int, with_mom: bool) -> None:
    p = palette()
    xs, ys, cols, texts, symbols = [], [], [], [], []
    mxs, mys, mcols, msymbols = [], [], [], []
    for i, c in enumerate(curves):
        lr = _f64(c.lr)
        if len(lr) == 0:
            continue
        j = min(max(s, 0), len(lr) - 1)
        if not math.isfinite(lr[j]):
            continue
        xs.append(j)
        ys.append(lr[j])
        cols.append(_color(c, i))
        texts.append(c.label)
        symbols.append(run_symbol(i))
        if c.momentum is not None and len(c.momentum):
            k = min(max(s, 0), len(c.momentum) - 1)
            mxs.append(k)
            mys.append(float(c.momentum[k]))
            mcols.append(_color(c, i))
            msymbols.append(run_symbol(i))
    rows = dict(row=1, col=1) if with_mom else {}
    fig.add_trace(go.Scatter(
        x=np.array(xs, dtype=np.int32), y=_f64(ys), mode="markers", name=f"step {s}", showlegend=False, text=texts,
        marker=dict(size=MARKER_SIZE + 6, color=cols, symbol=symbols, line=dict(color=p.marker_edge, width=2.5)),
        hovertemplate="%{text}<br>step %{x}: η = %{y:.4g}<extra></extra>"), **rows)
    if with_mom and mxs:
        fig.add_trace(go.Scatter(
            x=np.array(mxs, dtype=np.int32), y=_f64(mys), mode="markers", name=f"step {s} · {MOMENTUM_LABEL}",
            showlegend=False, marker=dict(size=MARKER_SIZE + 4, color=mcols, symbol=msymbols,
                                          line=dict(color=p.marker_edge, width=2)),
            hovertemplate=f"step %{{x}}: {MOMENTUM_LABEL} = %{{y:.4g}}<extra></extra>"), row=2, col=1)
    kw = dict(line=dict(color=p.cursor_grey, width=LINE_WIDTH, dash="dash"))
    if with_mom:
        fig.add_vline(x=s, row="all", col=1, **kw)
    else:
        fig.add_vline(x=s, annotation_text=f"step {s}", annotation_position="top",
                      annotation_font=dict(size=FONT_SIZE, color=p.cursor_grey), **kw)


def mark_reductions(fig: go.Figure, steps: Sequence[int], *, trace: int = 0,
                    name: str = "ReduceLROnPlateau cut the lr") -> go.Figure:
    """▼ at ``steps`` on trace ``trace`` of ``fig`` (at the y it plots there), e.g. on a loss curve."""
    steps = [int(s) for s in steps]
    if not steps or len(fig.data) <= trace:
        return fig
    tr = fig.data[trace]
    p = palette()
    y = np.asarray(tr.y, dtype=np.float64)
    x = np.asarray(tr.x) if tr.x is not None else np.arange(len(y))
    pos = {int(v): i for i, v in enumerate(x)}
    idx = [pos[s] for s in steps if s in pos and math.isfinite(y[pos[s]])]
    if not idx:
        return fig
    fig.add_trace(go.Scatter(
        x=np.asarray(x)[idx].astype(np.int32), y=y[idx], mode="markers", name=name,
        marker=dict(symbol="triangle-down", size=MARKER_SIZE + 6, color=p.mark_red,
                    line=dict(color=p.marker_edge, width=1.5)),
        hovertemplate="lr cut at step %{x}<extra></extra>"))
    return fig


def _log_vline(fig: go.Figure, x: float, color: str, dash: str, text: str = "") -> None:
    """A vertical line at ``x`` on a log x axis: shapes take data units there, annotations log10 units."""
    fig.add_shape(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1,
                  line=dict(color=color, width=LINE_WIDTH, dash=dash))
    if text:
        fig.add_annotation(xref="x", yref="paper", x=math.log10(x), y=1.0, yanchor="bottom", xanchor="right",
                           text=text, showarrow=False, font=dict(size=FONT_SIZE, color=color))


def range_test_figure(
    lrs: np.ndarray,
    losses: np.ndarray,
    smoothed: np.ndarray,
    *,
    suggested_lr: float | None = None,
    suggested_index: int | None = None,
    stop_step: int | None = None,
    current_lr: float | None = None,
    loss_label: str = "loss",
    title: str = "LR range test",
    log_y: bool | None = None,
    height: int = 470,
) -> go.Figure:
    """Loss against lr (log x): every step's loss, its smoothed curve, the suggested lr (a star marker and a line).

    ``stop_step`` marks where divergence stopped the test (✕); ``current_lr`` the page's
    base lr (a grey dotted line). ``log_y`` None: log when the losses span over 100×.
    """
    lrs, losses, smoothed = _f64(lrs), _f64(losses), _f64(smoothed)
    p = palette()
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=lrs, y=losses, mode="lines+markers", name="loss at each step",
        line=dict(color=p.raw_grey, width=LINE_WIDTH), marker=dict(size=6, color=p.raw_grey),
        hovertemplate="η = %{x:.3g}<br>loss = %{y:.4g}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=lrs, y=smoothed, mode="lines", name="smoothed loss", line=dict(color=run_tone(5), width=LINE_WIDTH + 2),
        hovertemplate="η = %{x:.3g}<br>smoothed = %{y:.4g}<extra></extra>"))
    if stop_step is not None and 0 <= int(stop_step) < len(lrs) and math.isfinite(smoothed[int(stop_step)]):
        k = int(stop_step)
        fig.add_trace(go.Scatter(
            x=lrs[k:k + 1], y=smoothed[k:k + 1], mode="markers", name="diverged: test stopped",
            marker=dict(symbol="x", size=MARKER_SIZE + 8, color=p.mark_red, line=dict(color=p.marker_edge, width=1)),
            hovertemplate="stopped: the loss blew up<br>η = %{x:.3g}<extra></extra>"))
    if suggested_lr is not None and suggested_index is not None and 0 <= int(suggested_index) < len(lrs):
        k = int(suggested_index)
        fig.add_trace(go.Scatter(
            x=lrs[k:k + 1], y=smoothed[k:k + 1], mode="markers", name=f"suggested η ≈ {fmt(suggested_lr, 3)}",
            marker=dict(symbol="star", size=MARKER_SIZE + 12, color=p.mark_red, line=dict(color=p.marker_edge, width=2)),
            hovertemplate="steepest descent<br>η = %{x:.3g}<extra></extra>"))
        _log_vline(fig, float(suggested_lr), p.mark_red, "dash")
    if current_lr is not None and current_lr > 0:
        _log_vline(fig, float(current_lr), p.guide_grey, "dot", text=f"base lr {fmt(current_lr, 3)}")
    finite = losses[np.isfinite(losses)]
    if log_y is None:
        log_y = finite.size > 0 and float(finite.min()) > 0 and float(finite.max()) > 100 * float(finite.min())
    fig.update_layout(**base_layout(
        height=height,
        title=dict(text=title, font=dict(size=TITLE_SIZE)),
        xaxis=dict(title=dict(text="learning rate η (log scale)"), type="log", exponentformat="power"),
        yaxis=dict(title=dict(text=loss_label + (" (log)" if log_y else "")), type="log" if log_y else "linear",
                   exponentformat="power"),
        legend=legend_below(font=dict(size=FONT_SIZE)),
        margin=dict(l=80, r=20, t=55, b=60),
        hovermode="closest",
    ))
    return fig


# -- a schedule driving a run (the "Apply to a run" tab) -----------------------------------------
def loss_text(loss: float) -> str:
    """A run's loss at a step, as the tab's metric shows it ("diverged" once it is not finite)."""
    return f"{loss:.4g}" if math.isfinite(loss) else "diverged"


def run_race_view(traj, labels, surface, landscape, step: int) -> dict:
    """The Playground's browser-side race view (:mod:`app.playground.race_view`) of a scheduled run:
    it opens on step ``step`` and marks it; clicks do not move the start here."""
    T = int(traj.steps)
    return V.race_payload(
        traj.positions[:, 0], labels, [run_color(k) for k in range(len(labels))], window=surface.window,
        landscape=landscape, starts=traj.starts[:, 0], minima=getattr(surface, "minima", None),
        title=f"{getattr(surface, 'title', '') or getattr(surface, 'name', '')} · {T} steps", step=step,
        show_step=step, diverged_step=traj.diverged_step[:, 0], reasons=traj.diverged_reason[:, 0],
        escapes=None if traj.escapes is None else traj.escapes[:, 0], clickable=False)


def run_loss_figure(traj, labels, surface, step: int, reductions) -> go.Figure:
    """The run's loss per step over the surface's minimum value, ▼ where ReduceLROnPlateau cut the lr."""
    fmin = getattr(surface, "global_min_value", None)
    fmin = None if fmin is None or not math.isfinite(fmin) else float(fmin)
    fig = F.loss_figure(traj.losses[:, 0], labels, fmin=fmin, inspect_step=step,
                        diverged_step=traj.diverged_step[:, 0], height=380)
    mark_reductions(fig, reductions)
    return fig
