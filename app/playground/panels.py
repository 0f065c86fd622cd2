"""What the Playground page shows of a computed race: its figures and tables, ready to draw.

Each function takes the scene, its :class:`~app.playground.race.Result` and its surface and
feeds :mod:`.figures`' pure builders (the runs' colors and names, the surface's window,
minima and minimum value, the titles), or builds a table's rows. Nothing here imports
streamlit.
"""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from app.playground import figures as F
from app.playground import race_view as V
from app.playground.analyses import Sensitivity
from app.playground.race import Result
from app.playground.scene import Scene
from app.playground.theory import StabilityLesson
from app.ui.theme import run_color
from optim_core.engine import Trajectories

__all__ = [
    "run_colors",
    "race_view",
    "surface_3d",
    "loss_chart",
    "scoreboard",
    "SCOREBOARD_HELP",
    "basin_note",
    "convergence_charts",
    "sensitivity_chart",
    "stability_chart",
]

# Short enough for the scoreboard's width at 1280x720; the whole meaning is in the column's help.
THRESHOLD_COLUMN = "steps to within 10⁻³"
DIVERGED_COLUMN = "diverged"
SCOREBOARD_HELP = {
    THRESHOLD_COLUMN: "Steps until the loss first came within 10⁻³ of the surface's global minimum "
                      "(loss ≤ min + 10⁻³); never: not within the race's steps.",
    DIVERGED_COLUMN: "The step at which the run left the map or its loss became too large, and why.",
}


def run_colors(scene: Scene) -> list[str]:
    return [r.color or run_color(i) for i, r in enumerate(scene.runs)]


def _title(surface) -> str:
    return getattr(surface, "title", "") or getattr(surface, "name", "")


def race_view(scene: Scene, res: Result, surface, land: F.Landscape | None, step: int, default_step: int,
              log: bool = True) -> dict:
    """The browser-side race's payload (:mod:`.race_view`), the loss chart included (on a log axis
    with ``log``): the map opens on the whole race unless a step is being inspected, and marks the
    inspected ``step`` once it was moved from ``default_step``."""
    tr = res.traj
    T = int(tr.steps)
    fmin = getattr(surface, "global_min_value", None)
    return V.race_payload(
        tr.positions[:, 0], res.labels, run_colors(scene), window=surface.window, landscape=land,
        starts=tr.starts[:, 0], minima=getattr(surface, "minima", None), title=f"{_title(surface)} · {T} steps" + ("" if scene.precision == "float64" else f" · {scene.precision}"),
        step=step, show_step=V.view_step(step, T, default_step), mark=step != default_step, diverged_step=tr.diverged_step[:, 0],
        reasons=tr.diverged_reason[:, 0], escapes=None if tr.escapes is None else tr.escapes[:, 0],
        losses=tr.losses[:, 0], log=log, fmin=None if fmin is None or not math.isfinite(fmin) else float(fmin),
        scene_id=V.scene_id(scene))


def surface_3d(scene: Scene, res: Result, surface) -> go.Figure:
    tr = res.traj
    return F.surface3d_figure(surface, tr.positions[:, 0], res.labels, colors=run_colors(scene),
                              title=f"{_title(surface)}: paths after {int(tr.steps)} steps")


def loss_chart(scene: Scene, res: Result, surface, log: bool, step: int) -> go.Figure:
    """Loss against step, the inspected ``step`` marked; with ``log``, above the surface's minimum."""
    fmin = getattr(surface, "global_min_value", None)
    fmin = None if fmin is None or not math.isfinite(fmin) else float(fmin)
    tr = res.traj
    return F.loss_figure(tr.losses[:, 0], res.labels, colors=run_colors(scene), log=log, fmin=fmin,
                         inspect_step=step, diverged_step=tr.diverged_step[:, 0])


def scoreboard(tr: Trajectories) -> list[dict[str, Any]]:
    """One row per run (:meth:`Trajectories.metrics`): diverged where and why, else its final loss,
    when it reached the threshold and how far from a minimum it ended."""
    rows = []
    for m in tr.metrics():
        ds, thr, d = m["diverged_at"], m["steps_to_threshold"], m["distance_to_min"]
        rows.append({
            "run": m["run"],
            DIVERGED_COLUMN: "—" if ds < 0 else f"step {ds}: {m['diverged_reason']}",
            "final loss": "—" if ds >= 0 else f"{m['final_loss']:.4g}",
            THRESHOLD_COLUMN: "never" if thr < 0 else str(thr),
            "distance to minimum": "—" if ds >= 0 or not math.isfinite(d) else f"{d:.3g}",
        })
    return rows


def convergence_charts(cmap, surface, label: str) -> tuple[go.Figure, go.Figure | None]:
    """Steps to converge from every start; which minimum each start reaches (None on a surface
    with a single known minimum, where every start that converges ends there)."""
    minima = getattr(surface, "minima", None)
    steps = F.convergence_map_figure(cmap, kind="steps", minima=minima, title=f"Steps to converge: {label}")
    if minima is None or len(minima) <= 1:
        return steps, None
    return steps, F.convergence_map_figure(cmap, kind="basin", minima=minima, title="Which minimum each start reaches")


def basin_note(surface) -> str:
    """What the convergence tab says where it draws no map of basins (a surface with at most one
    known minimum): true of the surface, whose known minima may not be all its minima."""
    minima = getattr(surface, "minima", None)
    tags = set(getattr(surface, "tags", ()) or ())
    if minima is None or len(minima) == 0:
        return ("This surface has no known minimum, so there are no basins to map; the map on the left "
                "shows how long each start takes to reach the loss threshold, if it ever does.")
    if "multimodal" in tags:
        return ("Only this surface's global minimum is known; it has local minima besides, where a start may "
                "stop and never reach the loss threshold (grey on the left). The map on the left shows how long "
                "each start that reaches the global minimum takes.")
    if "convex" in tags:
        return ("This surface has a single minimum, so every start that converges ends there; the map on the "
                "left shows how long each one takes.")
    return ("This surface has a single known minimum: every start that reaches the loss threshold ends there; "
            "the map on the left shows how long each one takes.")


def sensitivity_chart(smap, s: Sensitivity) -> go.Figure:
    return F.sensitivity_map_figure(smap, x_label=s.x.display, y_label=s.y.display, current=s.current,
                                    title=f"{s.optimizer}: final loss after {s.steps} steps")


def stability_chart(lesson: StabilityLesson, final_losses, diverged) -> go.Figure:
    """The sweep against η, the theory's limits dashed (row 0: gradient descent, row 1: heavy ball)."""
    names = lesson.series
    return F.stability_figure(
        lesson.lrs, dict(zip(names, final_losses)), dict(zip(names, diverged)), bounds=lesson.bounds,
        colors={name: run_color(i) for i, name in enumerate(names)},
        title=f"Final loss after {lesson.steps} steps against η — the dashed lines are the theory's limits")
