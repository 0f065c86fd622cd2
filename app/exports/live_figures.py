"""Live Training for slides and hand-outs: Plotly figures and a CSV of a :class:`~app.training.backend.Race`.

The page draws a race in the browser (:mod:`app.training.live_view`), so it has no Plotly figure to
export; these builders draw the same pictures as static figures for :func:`app.exports.stills.still`:

- :func:`boundary_figure`: one panel per run, its P(class 1) over the plane (the theme's
  ``CLASS_SCALE``), the decision boundary P = 1/2, the training (filled) and test (rings) points;
- :func:`curves_figure`: loss (log scale) and accuracy of every run against the step, from its
  evaluations on the whole training (solid) and test (dashed) sets;
- :func:`diagnostics_figure`: per-step gradient norm (dotted: after clipping), learning rate and
  weight norm;
- :func:`curves_csv`: every recorded number of every run, one row per run per step.

Each figure has a title, a legend and axis labels and reads at 1280x720, in the current theme
(:func:`app.ui.theme.current`; an export's thread sets it with :func:`app.ui.theme.using`). Each run
keeps its color and its marker shape, as in the browser (a few shapes along each curve). Pure
functions of the race (no streamlit); the caller holds the page's lock so that no step lands while
one is drawn.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import plotly.graph_objects as go

from app.training.backend import BACKENDS
from app.training.figures import TITLES
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
    swatch,
)

__all__ = ["GRID", "MAX_POINTS", "CSV_COLUMNS", "boundary_figure", "curves_figure", "diagnostics_figure",
           "curves_csv"]

STILL_SIZE = (1280, 720)  # the size stills are made at (app.exports.stills.still's default)
GRID = 120  # decision-boundary grid points per side (the still's heatmap is smoothed between them)
MAX_POINTS = 2000  # points per curve at most (evenly spread, the last one kept): light SVGs and PDFs
MARKS_PER_CURVE = 8  # a run's shape markers along each of its curves
HIST_CSV = ("batch_loss", "lr", "grad_norm", "grad_norm_clipped", "weight_norm")
EVAL_CSV = ("train_loss", "train_acc", "test_loss", "test_acc")
CSV_COLUMNS = ("run", "label", "optimizer", "backend", "step", "epoch") + HIST_CSV + EVAL_CSV


def _thin(n: int) -> np.ndarray:
    """Indices of at most MAX_POINTS evenly spread rows of ``n`` (the first and last included)."""
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_POINTS).astype(int))


def _title(text: str) -> dict:
    return dict(text=text, font=dict(size=TITLE_SIZE), x=0.01, xanchor="left")


def _panels(n: int, titles: list[str], gap: float, top: float) -> dict:
    """Layout keys for ``n`` side-by-side panels (axes x, x2, ...) with a title above each."""
    width = (1.0 - gap * (n - 1)) / n
    layout: dict = {"annotations": []}
    for i in range(n):
        k = "" if i == 0 else str(i + 1)
        x0 = i * (width + gap)
        layout["xaxis" + k] = dict(domain=[x0, x0 + width], anchor="y" + k)
        layout["yaxis" + k] = dict(domain=[0.0, top], anchor="x" + k)
        layout["annotations"].append(dict(text=titles[i], x=x0 + width / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="top", showarrow=False,
                                          font=dict(size=FONT_SIZE, color=palette().text)))
    return layout


def _run_name(run) -> str:
    return run.config.title()


def _where(race) -> str:
    return f"{race.spec.describe()} · {'full batch' if race.full_batch else f'batches of {race.batch_size}'}"


# ---------------------------------------------------------------------------------------
# Decision boundaries
# ---------------------------------------------------------------------------------------


def _boundary_title(i: int, run) -> str:
    acc = run.last("test_acc")
    acc_text = f"{acc:.0%}" if math.isfinite(acc) else "–"
    head = f"{swatch(run_color(i))} <b>{_run_name(run)}</b>"
    tail = f"test accuracy {acc_text} · step {run.step:,}"
    if run.diverged:
        tail += f" · <span style='color:{palette().mark_red}'>diverged</span>"
    return f"{head}<br>{tail}"


def _arrangement(n: int, aspect: float, width: int = STILL_SIZE[0], height: int = STILL_SIZE[1]) -> tuple[int, int]:
    """(rows, columns) of ``n`` maps of height/width ``aspect`` that draws them largest on a still of that size
    (less the title, the legend, the color bar and each map's title); fewer rows when equal."""
    best, best_scale = (1, n), 0.0
    for rows in range(1, n + 1):
        cols = math.ceil(n / rows)
        if (rows - 1) * cols >= n:
            continue  # a row left empty
        w = (width - 140 - 20 * (cols - 1)) / cols
        h = (height - 150) / rows - 60
        scale = min(w, h / aspect)
        if scale > best_scale * 1.02:
            best, best_scale = (rows, cols), scale
    return best


def boundary_figure(race, grid: int = GRID) -> go.Figure:
    """Per run: P(class 1) over the plane, the boundary P = 1/2, the training (filled) and test (rings) points.

    The maps keep the data's aspect and are arranged in the rows that draw them largest at 1280x720
    (four runs: two by two); each map's title (the run, its test accuracy and step) sits on it.
    """
    runs = race.runs
    n = len(runs)
    p = palette()
    x0, x1, y0, y1 = race.bounds()
    rows, cols = _arrangement(n, (y1 - y0) / (x1 - x0))
    gap_x, gap_y = 0.02, 0.1
    w = (1.0 - gap_x * (cols - 1)) / cols
    h = (1.0 - gap_y * (rows - 1)) / rows
    layout: dict = {}
    traces = []
    for i, run in enumerate(runs):
        k = "" if i == 0 else str(i + 1)
        r, c = divmod(i, cols)
        axes = dict(xaxis="x" + k, yaxis="y" + k)
        with np.errstate(all="ignore"):
            g = race.decision_grid(run, grid)
        prob = np.asarray(g["prob"], dtype=np.float64)
        traces.append(go.Heatmap(
            x=g["x"], y=g["y"], z=prob, zmin=0.0, zmax=1.0, colorscale=[list(s) for s in p.class_scale],
            zsmooth="best",
            name=f"P(class 1): {_run_name(run)}", showscale=i == 0, showlegend=False,
            colorbar=dict(title=dict(text="P(class 1)", side="right"), len=0.8, thickness=14,
                          tickvals=[0, 0.5, 1], ticktext=["0", "½", "1"]),
            hovertemplate="P(class 1) = %{z:.2f}<extra></extra>", **axes))
        if np.isfinite(prob).any() and np.nanmin(prob) < 0.5 < np.nanmax(prob):
            traces.append(go.Contour(
                x=g["x"], y=g["y"], z=prob, contours=dict(start=0.5, end=0.5, size=1.0, coloring="none"),
                line=dict(color=p.decision_boundary, width=LINE_WIDTH), showscale=False,
                name="decision boundary (P = ½)", legendgroup="boundary",
                showlegend=not any(isinstance(t, go.Contour) for t in traces), hoverinfo="skip", **axes))
        for cls in (0, 1):
            tr, te = race.y_train == cls, race.y_test == cls
            traces.append(go.Scatter(
                x=race.X_train[tr, 0], y=race.X_train[tr, 1], mode="markers", name=f"class {cls}, training",
                legendgroup=f"train{cls}", showlegend=i == 0, hoverinfo="skip",
                marker=dict(color=p.class_colors[cls], size=7, line=dict(color=p.marker_edge, width=0.8)), **axes))
            traces.append(go.Scatter(
                x=race.X_test[te, 0], y=race.X_test[te, 1], mode="markers", name=f"class {cls}, test",
                legendgroup=f"test{cls}", showlegend=i == 0, hoverinfo="skip",
                marker=dict(color=p.class_colors[cls], size=10, symbol="circle-open", line=dict(width=2.5)), **axes))
        hidden = dict(showticklabels=False, showgrid=False, zeroline=False, ticks="")
        left, top = c * (w + gap_x), 1.0 - r * (h + gap_y)
        # The map's title is its x axis's, on top: it stays on the map when the equal scales shrink the map.
        layout["xaxis" + k] = dict(domain=[left, left + w], anchor="y" + k, range=[x0, x1], constrain="domain",
                                   side="top", title=dict(text=_boundary_title(i, run), standoff=6,
                                                          font=dict(size=FONT_SIZE)), **hidden)
        layout["yaxis" + k] = dict(domain=[max(0.0, top - h), top - 0.1 / rows], anchor="x" + k, range=[y0, y1],
                                   scaleanchor="x" + k, scaleratio=1, constrain="domain", **hidden)
    return go.Figure(traces, layout=base_layout(
        title=_title(f"Decision boundaries after {race.step:,} steps · {_where(race)}"),
        legend=dict(orientation="h", y=-0.03, yanchor="top", x=0.5, xanchor="center"),
        margin=dict(l=20, r=20, t=70, b=60),
        **layout,
    ))


# ---------------------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------------------


def _marks(i: int, open_: bool = False) -> dict:
    """Run ``i``'s shape markers along a curve: filled on a solid curve, open on a dashed one."""
    p = palette()
    color = run_tone(i)
    if open_:
        return dict(symbol=run_symbol(i) + "-open", size=MARKER_SIZE - 1, color=color, maxdisplayed=MARKS_PER_CURVE,
                    line=dict(width=2))
    return dict(symbol=run_symbol(i), size=MARKER_SIZE - 1, color=color, maxdisplayed=MARKS_PER_CURVE,
                line=dict(color=p.marker_edge, width=1.5))


def curves_figure(race) -> go.Figure:
    """Loss (log scale) and accuracy of every run against the step: training set solid, test set dashed."""
    layout = _panels(2, [TITLES["loss"], TITLES["acc"]], gap=0.08, top=0.9)
    traces = []
    for i, run in enumerate(race.runs):
        e = run.evals
        idx = _thin(len(e["step"]))
        x = e["step"][idx]
        for j, (train_key, test_key) in enumerate((("train_loss", "test_loss"), ("train_acc", "test_acc"))):
            axes = dict(xaxis="x" if j == 0 else "x2", yaxis="y" if j == 0 else "y2", legendgroup=str(i))
            traces.append(go.Scatter(x=x, y=e[train_key][idx], mode="lines+markers", name=_run_name(run),
                                     showlegend=j == 0, line=dict(color=run_tone(i), width=LINE_WIDTH),
                                     marker=_marks(i), **axes))
            traces.append(go.Scatter(x=x, y=e[test_key][idx], mode="lines+markers", name=f"{_run_name(run)} (test)",
                                     showlegend=False, line=dict(color=run_tone(i), width=LINE_WIDTH, dash="dash"),
                                     marker=_marks(i, open_=True), **axes))
    layout["yaxis"].update(type="log", title="cross-entropy loss")
    layout["yaxis2"].update(title="accuracy", tickformat=".0%")
    layout["xaxis"]["title"] = layout["xaxis2"]["title"] = TITLES["step"]
    return go.Figure(traces, layout=base_layout(
        title=_title(f"Loss and accuracy, {race.step:,} steps · {_where(race)}"),
        legend=legend_below(x=0.5, xanchor="center"),
        margin=dict(l=80, r=30, t=90, b=70),
        **layout,
    ))


def diagnostics_figure(race) -> go.Figure:
    """Per-step gradient norm (dotted: after clipping), learning rate and weight norm of every run."""
    panels = (("grad_norm", TITLES["grad_norm"], "log"), ("lr", TITLES["lr"], "linear"),
              ("weight_norm", TITLES["weight_norm"], "linear"))
    layout = _panels(3, [title for _, title, _ in panels], gap=0.07, top=0.9)
    traces = []
    for i, run in enumerate(race.runs):
        h = run.history
        idx = _thin(len(h["step"]))
        x = h["step"][idx]
        for j, (key, _, _) in enumerate(panels):
            k = "" if j == 0 else str(j + 1)
            axes = dict(xaxis="x" + k, yaxis="y" + k, legendgroup=str(i))
            traces.append(go.Scatter(x=x, y=h[key][idx], mode="lines+markers", name=_run_name(run), showlegend=j == 0,
                                     line=dict(color=run_tone(i), width=LINE_WIDTH), marker=_marks(i), **axes))
            if key == "grad_norm" and run.config.clip_norm is not None:
                traces.append(go.Scatter(x=x, y=h["grad_norm_clipped"][idx], mode="lines+markers",
                                         name=f"{_run_name(run)} (after clipping)", showlegend=False,
                                         line=dict(color=run_tone(i), width=LINE_WIDTH, dash="dot"),
                                         marker=_marks(i, open_=True), **axes))
    for j, (_, _, kind) in enumerate(panels):
        k = "" if j == 0 else str(j + 1)
        layout["xaxis" + k]["title"] = TITLES["step"]
        layout["yaxis" + k]["type"] = kind
    return go.Figure(traces, layout=base_layout(
        title=_title(f"Gradient norm, learning rate and weight norm, {race.step:,} steps · {_where(race)}"),
        legend=legend_below(x=0.5, xanchor="center"),
        margin=dict(l=70, r=30, t=90, b=70),
        **layout,
    ))


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------


def _cell(x: float) -> str:
    """A float as the shortest text that reads back to the same float64; empty if not finite."""
    return repr(x) if math.isfinite(x) else ""


def curves_csv(race) -> bytes:
    """Every run's records, one row per run per step (``0 … run.step``), UTF-8, comma-separated.

    Per step ``t ≥ 1`` (the step ``t - 1 → t``): ``batch_loss`` (the mean training loss of the step's
    mini-batches, before it), ``lr`` (in force for it; empty when the optimizer sets its own),
    ``grad_norm`` and ``grad_norm_clipped`` (before and after clipping), ``weight_norm`` (after it).
    At each evaluation (step 0, then every ``eval_every`` steps): ``train_loss``, ``train_acc``,
    ``test_loss``, ``test_acc`` on the whole sets; empty at the other steps.
    """
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for i, run in enumerate(race.runs):
        h, e = run.history, run.evals
        n = run.step + 1
        cols = {name: [""] * n for name in HIST_CSV + EVAL_CSV}
        hist_rows = h["step"].astype(np.int64)  # 1, 2, ..., run.step
        for name, key in zip(HIST_CSV, ("loss", "lr", "grad_norm", "grad_norm_clipped", "weight_norm")):
            col = cols[name]
            for t, v in zip(hist_rows.tolist(), h[key].tolist()):
                col[t] = _cell(v)
        eval_rows = e["step"].astype(np.int64)
        for name in EVAL_CSV:
            col = cols[name]
            for t, v in zip(eval_rows.tolist(), e[name].tolist()):
                if 0 <= t < n:
                    col[t] = _cell(v)
        label = _run_name(run)
        backend = BACKENDS.get(run.config.backend, run.config.backend)
        per_epoch = run.accumulate / race.batches_per_epoch
        columns = [cols[name] for name in HIST_CSV + EVAL_CSV]
        for t in range(n):
            w.writerow([i + 1, label, run.config.optimizer, backend, t, _cell(round(t * per_epoch, 6))]
                       + [c[t] for c in columns])
    return out.getvalue().encode("utf-8")
