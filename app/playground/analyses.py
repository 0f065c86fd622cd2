"""The Playground's analyses of one run: what each one sweeps, and the sweeps themselves.

- the convergence map: the run repeated from every start of a grid (:func:`convergence_steps`,
  :func:`convergence_fits`; the map is :func:`optim_core.analysis.convergence_map`);
- the sensitivity map: the run's final loss over a grid of two of its hyperparameters, on
  slider values so that a clicked cell is a configuration the sliders can show
  (:func:`sweepable`, :func:`default_axes`, :class:`Sensitivity`, :func:`clicked`);
- the stability sweep: gradient descent and heavy ball against η on a quadratic
  (:func:`stability_sweep`, for :class:`app.playground.theory.StabilityLesson`).

Pure: the page caches these through :mod:`.cache`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from app.playground import state as U
from app.playground.scene import Scene, scene_start, shown_hypers
from app.ui.controls import hyper_options, snap
from optim_core.budget import surface_nodes
from optim_core.engine import LIMITS, RunSpec, Trajectories, run_trajectories
from app import budget

__all__ = [
    "CONVERGENCE_GRIDS",
    "affordable",
    "SENSITIVITY_GRIDS",
    "convergence_steps",
    "convergence_fits",
    "run_convergence_map",
    "sweep_values",
    "sweepable",
    "default_axes",
    "Sensitivity",
    "sensitivity",
    "run_sensitivity_map",
    "clicked",
    "stability_sweep",
]

CONVERGENCE_GRIDS = (20, 40, 60, 80, 100)  # starts per side
CONVERGENCE_MAX_STEPS = budget.CONVERGENCE_MAX_STEPS
SENSITIVITY_GRIDS = (9, 15, 21, 31)  # values per hyperparameter (about)


# ---------------------------------------------------------------------------------------
# Convergence map
# ---------------------------------------------------------------------------------------


def convergence_steps(steps: int) -> int:
    """How long each start of a convergence map runs: the race's steps, at most 1000."""
    return int(min(steps, CONVERGENCE_MAX_STEPS))


def convergence_fits(n: int, steps: int, surface=None) -> bool:
    """Whether an ``n × n`` map of ``steps`` steps is within what one request may compute (on ``surface``:
    within its CPU budget too, :class:`optim_core.budget.Limits`)."""
    if n * n * steps > LIMITS.max_rows_x_steps:
        return False
    return surface is None or LIMITS.fits(surface_nodes(surface), n * n, steps)


def affordable(surface, asked: int, steps: int, options: Sequence[int], rows=lambda n: n * n) -> tuple[int | None, str]:
    """The grid to compute for a map asked at ``asked`` values per side: ``asked`` when it fits the CPU
    budget (:mod:`optim_core.budget`), else the largest of ``options`` below it that does (None: none
    does), with a sentence saying so (empty when nothing was changed)."""
    nodes = surface_nodes(surface)
    fits = lambda n: rows(n) * steps <= LIMITS.max_rows_x_steps and LIMITS.fits(nodes, rows(n), steps)  # noqa: E731
    if fits(asked):
        return asked, ""
    smaller = [n for n in options if n < asked and fits(n)]
    why = (f"{rows(asked):,} runs × {steps:,} steps on this surface would take about "
           f"{LIMITS.seconds(nodes, rows(asked), steps):.1f} s of CPU, more than the {LIMITS.max_seconds:g} s one "
           f"request may use")
    if not smaller:
        return None, why + ": use fewer steps or a simpler surface."
    return max(smaller), why + f", so the grid was reduced to {max(smaller)} per side."


def run_convergence_map(surface, spec: RunSpec, n: int, steps: int):
    from optim_core.analysis import convergence_map

    return convergence_map(surface, spec, n=n, steps=steps)


# ---------------------------------------------------------------------------------------
# Sensitivity map
# ---------------------------------------------------------------------------------------


def sweep_values(h, current: Any, n: int) -> np.ndarray:
    """About ``n`` slider values of ``h`` for a sensitivity map, so a clicked cell is a slider value.

    Log-scaled hyperparameters span two decades either side of ``current``; linear ones
    their whole range (without the tiny values near 0 meant for weight decay), where
    the decay rates' 0.9, 0.99, 0.999 are kept.
    """
    opts = [o for o in hyper_options(h) if o is not None]
    if h.log:
        cur = float(current) if current else float(h.default or opts[len(opts) // 2])
        opts = [o for o in opts if cur / 100 * (1 - 1e-9) <= o <= cur * 100 * (1 + 1e-9)]
    else:
        lo, hi = float(opts[0]), float(opts[-1])
        opts = [o for o in opts if o == lo or o - lo >= (hi - lo) / 25]
    if len(opts) > n:
        idx = np.unique(np.round(np.linspace(0, len(opts) - 1, n)).astype(int))
        opts = [opts[i] for i in idx]
    return np.array(opts, dtype=np.float64)


def sweepable(optimizer: str) -> list:
    """The hyperparameters of ``optimizer`` a sensitivity map can sweep: bounded floats."""
    return [h for h in shown_hypers(optimizer) if h.kind == "float" and h.low is not None]


def default_axes(names: Sequence[str], hypers: Sequence) -> tuple[str, str]:
    """The axes a map starts on: the lr across, and up a momentum the schedules cycle, else α,
    ρ or β₂, else the second hyperparameter."""
    preferred = [h.name for h in hypers if h.role == "cycled_momentum"] + ["alpha", "rho", "beta2"]
    second = next((n for n in preferred if n in names and n != "lr"), names[1])
    return ("lr" if "lr" in names else names[0]), second


@dataclass(frozen=True)
class Sensitivity:
    """One sensitivity map of run ``k``: its axes' values, the other settings, where it starts."""

    k: int
    optimizer: str
    x: Any  # the registry Hyper across
    y: Any  # and up
    xs: np.ndarray
    ys: np.ndarray
    base: dict  # the run's other hyperparameters
    start: tuple[float, float]
    steps: int
    options: dict  # schedule, clipping, Lookahead: as the run has them
    current: tuple[float, float]  # the run's own (x, y): the framed cell

    def key(self) -> tuple:
        """What the map depends on besides the surface (for the cache)."""
        return (self.optimizer, self.x.name, self.y.name, tuple(self.xs), tuple(self.ys), tuple(sorted(self.base.items())),
                self.start, self.steps, repr(self.options))


def sensitivity(scene: Scene, surface, traj: Trajectories, k: int, x: str, y: str, n: int) -> Sensitivity:
    """The map of run ``k`` of ``scene`` over hyperparameters ``x`` and ``y``, about ``n`` values each,
    as long as the race (``traj``: the race's record, for the run's schedule as the engine ran it)."""
    run = scene.runs[k]
    by_name = {h.name: h for h in sweepable(run.optimizer)}
    hp = run.hyper_dict()
    options = {"schedule": traj.specs[k].schedule, "clip_norm": run.clip_norm, "clip_value": run.clip_value,
               "lookahead": run.lookahead}
    start = run.start or scene_start(scene, surface)
    return Sensitivity(
        k, run.optimizer, by_name[x], by_name[y], sweep_values(by_name[x], hp.get(x), n),
        sweep_values(by_name[y], hp.get(y), n), {h: v for h, v in hp.items() if h not in (x, y)},
        (float(start[0]), float(start[1])), int(traj.steps), options,
        (float(hp.get(x) or 0), float(hp.get(y) or 0)))


def run_sensitivity_map(surface, s: Sensitivity):
    from optim_core.analysis import sensitivity_map

    return sensitivity_map(surface, s.optimizer, s.x.name, s.xs, s.y.name, s.ys, np.array(s.start), steps=s.steps,
                           base_hypers=s.base, **s.options)


def clicked(s: Sensitivity, point: Mapping[str, Any]) -> dict[str, Any] | None:
    """The widget values that race a clicked cell, from the selection ``point`` the browser sends.

    The map's cells sit at integer positions (column i, row j: see
    :func:`app.playground.figures.sensitivity_map_figure`), so the point's ``x`` and ``y`` index
    ``s.xs`` and ``s.ys``. Anything else (a point without them, out of the grid) gives None.
    """
    try:
        i, j = int(round(float(point["x"]))), int(round(float(point["y"])))
    except (KeyError, TypeError, ValueError):
        return None
    if not (0 <= i < len(s.xs) and 0 <= j < len(s.ys)):
        return None
    return {U.run_key(s.k, s.x.name): snap(float(s.xs[i]), s.x), U.run_key(s.k, s.y.name): snap(float(s.ys[j]), s.y)}


# ---------------------------------------------------------------------------------------
# Stability sweep
# ---------------------------------------------------------------------------------------


def stability_sweep(surface, lrs: np.ndarray, beta: float, start: Sequence[float], steps: int):
    """Final losses and divergence of gradient descent (row 0) and heavy ball with ``beta`` (row 1)
    at each of ``lrs``, from ``start``."""
    specs = [RunSpec("SGD", {"lr": lrs}), RunSpec("SGD", {"lr": lrs, "momentum": beta})]
    tr = run_trajectories(surface, specs, np.asarray(start, dtype=np.float64)[None, :], steps, record="summary")
    return tr.final_losses, tr.diverged
