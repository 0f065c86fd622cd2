"""Figures of the Live Training page: pure functions of a race (no streamlit import).

Decision boundaries per run, loss and accuracy curves, and the per-step diagnostics
(gradient norm before/after clipping, learning rate, weight norm).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.ui.theme import CLASS_COLORS, CLASS_SCALE, LINE_WIDTH, MARKER_EDGE, base_layout, run_color, swatch

__all__ = ["boundary_figure", "curves_figure", "diagnostics_figure", "run_title"]

GRID = 80  # decision-boundary resolution per run
MAX_POINTS = 1000  # points per curve sent to the browser (float32: ~4 kB per array)


def _thin(x: np.ndarray) -> np.ndarray:
    """Indices of at most MAX_POINTS evenly spread samples (always the last one)."""
    n = len(x)
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_POINTS).astype(int))


def _f32(a: np.ndarray) -> np.ndarray:
    """Half the bytes on the wire; curves need no more precision than that."""
    return np.asarray(a, dtype=np.float32)


def run_title(i: int, run) -> str:
    return f"{swatch(run_color(i))} {run.config.title()}"


def _panels(n: int, titles: list[str], gap: float = 0.06, top: float = 0.84) -> dict:
    """Layout keys for ``n`` side-by-side panels (axes x, x2, ... with titles above them).

    Built as one figure rather than with make_subplots: a Plotly figure costs ~8 ms for its
    template alone, and the live view redraws several times a second.
    """
    width = (1.0 - gap * (n - 1)) / n
    layout: dict = {"annotations": []}
    for i in range(n):
        k = "" if i == 0 else str(i + 1)
        x0 = i * (width + gap)
        layout["xaxis" + k] = dict(domain=[x0, x0 + width], anchor="y" + k)
        layout["yaxis" + k] = dict(domain=[0.0, top], anchor="x" + k)
        layout["annotations"].append(dict(text=titles[i], x=x0 + width / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="top", showarrow=False))
    return layout


def boundary_figure(race) -> go.Figure:
    """Each run's class-1 probability over the plane, with the training (filled) and test (open) points."""
    runs = race.runs
    titles = [f"{run_title(i, r)}<br>test accuracy {r.last('test_acc'):.0%}" for i, r in enumerate(runs)]
    layout = _panels(len(runs), titles, gap=0.02)
    x0, x1, y0, y1 = race.bounds()
    traces = []
    for i, run in enumerate(runs):
        k = "" if i == 0 else str(i + 1)
        axes = dict(xaxis="x" + k, yaxis="y" + k)
        with np.errstate(all="ignore"):
            g = race.decision_grid(run, GRID)
        traces.append(go.Heatmap(x=_f32(g["x"]), y=_f32(g["y"]), z=g["prob"], zmin=0.0, zmax=1.0, colorscale=CLASS_SCALE,
                                 zsmooth="fast", showscale=False,
                                 hovertemplate="P(class 1) = %{z:.2f}<extra></extra>", **axes))
        for cls in (0, 1):
            tr, te = race.y_train == cls, race.y_test == cls
            traces.append(go.Scatter(
                x=race.X_train[tr, 0], y=race.X_train[tr, 1], mode="markers", name=f"class {cls} (train)",
                legendgroup=f"train{cls}", showlegend=i == 0, hoverinfo="skip",
                marker=dict(color=CLASS_COLORS[cls], size=6, line=dict(color=MARKER_EDGE, width=0.8)), **axes))
            traces.append(go.Scatter(
                x=race.X_test[te, 0], y=race.X_test[te, 1], mode="markers", name=f"class {cls} (test)",
                legendgroup=f"test{cls}", showlegend=i == 0, hoverinfo="skip",
                marker=dict(color=CLASS_COLORS[cls], size=9, symbol="circle-open", line=dict(width=2)), **axes))
        hidden = dict(showticklabels=False, showgrid=False, zeroline=False)
        layout["xaxis" + k].update(range=[x0, x1], constrain="domain", **hidden)
        layout["yaxis" + k].update(range=[y0, y1], scaleanchor="x" + k, scaleratio=1, constrain="domain", **hidden)
    # Equal axis scales: size the figure for the data's aspect on a ~1300 px wide page.
    aspect = (y1 - y0) / (x1 - x0)
    height = int(min(max(1300 / len(runs) * aspect + 130, 300), 600))
    return go.Figure(traces, layout=base_layout(
        height=height,
        legend=dict(orientation="h", y=-0.02, yanchor="top", x=0.5, xanchor="center"),
        margin=dict(l=10, r=10, t=70, b=40),
        **layout,
    ))


def curves_figure(race) -> go.Figure:
    """Loss (log scale) and accuracy of every run: train solid, test dashed (periodic evaluations)."""
    layout = _panels(2, ["Loss (solid: train, dashed: test)", "Accuracy (solid: train, dashed: test)"])
    traces = []
    for i, run in enumerate(race.runs):
        e = run.evals
        idx = _thin(e["step"])
        x = e["step"][idx].astype(np.int32)
        for j, (train_key, test_key) in enumerate((("train_loss", "test_loss"), ("train_acc", "test_acc"))):
            axes = dict(xaxis="x" if j == 0 else "x2", yaxis="y" if j == 0 else "y2", legendgroup=str(i))
            traces.append(go.Scatter(x=x, y=_f32(e[train_key][idx]), mode="lines", name=run.config.title(),
                                     showlegend=j == 0, line=dict(color=run_color(i), width=LINE_WIDTH), **axes))
            traces.append(go.Scatter(x=x, y=_f32(e[test_key][idx]), mode="lines", name=run.config.title() + " (test)",
                                     showlegend=False, line=dict(color=run_color(i), width=LINE_WIDTH, dash="dash"),
                                     **axes))
    layout["yaxis"]["type"] = "log"
    layout["xaxis"]["title"] = layout["xaxis2"]["title"] = "step"
    return go.Figure(traces, layout=base_layout(height=400, legend=dict(orientation="h", y=-0.22, yanchor="top", x=0),
                                                **layout))


def diagnostics_figure(race) -> go.Figure:
    """Per-step gradient norm (dotted: after clipping), learning rate and weight norm of every run."""
    panels = (("grad_norm", "Gradient norm ‖∇L‖ (dotted: clipped)", True),
              ("lr", "Learning rate η", False),
              ("weight_norm", "Weight norm ‖θ‖", False))
    layout = _panels(3, [title for _, title, _ in panels])
    traces = []
    for i, run in enumerate(race.runs):
        h = run.history
        idx = _thin(h["step"])
        x = h["step"][idx].astype(np.int32)
        for j, (key, _, _) in enumerate(panels):
            k = "" if j == 0 else str(j + 1)
            axes = dict(xaxis="x" + k, yaxis="y" + k, legendgroup=str(i), showlegend=False)
            traces.append(go.Scatter(x=x, y=_f32(h[key][idx]), mode="lines", name=run.config.title(),
                                     line=dict(color=run_color(i), width=LINE_WIDTH), **axes))
            if key == "grad_norm" and run.config.clip_norm is not None:
                traces.append(go.Scatter(x=x, y=_f32(h["grad_norm_clipped"][idx]), mode="lines",
                                         name=run.config.title() + " (after clipping)",
                                         line=dict(color=run_color(i), width=LINE_WIDTH, dash="dot"), **axes))
    for j, (_, _, log_y) in enumerate(panels):
        k = "" if j == 0 else str(j + 1)
        layout["xaxis" + k]["title"] = "step"
        if log_y:
            layout["yaxis" + k]["type"] = "log"
    return go.Figure(traces, layout=base_layout(height=330, showlegend=False, **layout))
