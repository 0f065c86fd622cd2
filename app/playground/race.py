"""Running a scene: validation against the engine's limits, one engine call, and the words around it.

:func:`compute` never raises: every refusal (too many runs or steps, an unknown optimizer,
a formula refused, a start outside the surface's region) becomes a message, and what
happened (who diverged, and why) is worded by :mod:`.theory`. Nothing here imports
streamlit: the page caches :func:`compute` on the frozen scene (:mod:`.cache`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from app.playground import theory
from app.playground.scene import (
    MAX_RUNS,
    RunConfig,
    Scene,
    SceneError,
    available_schedules,
    make_surface,
    scene_start,
    unique_labels,
)
from app.ui.controls import batch_size_of, fmt
from optim_core import registry
from optim_core.engine import LIMITS, RunSpec, Trajectories, run_trajectories
from optim_core.optimizer import check_hyper
from optim_core.precision import Precision

__all__ = ["Result", "validate", "refusals", "compute"]


@dataclass
class Result:
    """What the page shows: the trajectories and the words around them."""

    scene: Scene
    surface: Any = None
    traj: Trajectories | None = None
    labels: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # diverged runs, stability
    stability: dict | None = None  # optim_core.analysis.quadratic_stability on a quadratic surface
    # Runs left out of the race, by their index in the requested scene, and why; ``scene`` is
    # then the race of the others.
    refused: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.traj is not None and not self.errors


def refusals(scene: Scene) -> dict[int, str]:
    """Runs whose hyperparameters each pass but do not go together (torch's relations, e.g.
    Nesterov without momentum), by index: they are left out, and the other runs race."""
    known = registry.optimizers()
    out = {}
    for i, run in enumerate(scene.runs):
        info = known.get(run.optimizer)
        if info is None:
            continue
        try:
            info.cls.check_relations({**info.defaults(), **dict(run.hypers)})
        except ValueError as exc:
            out[i] = str(exc)
    return out


def validate(scene: Scene) -> list[str]:
    """Reasons the scene cannot be computed (empty when it can), checked against LIMITS."""
    errors = []
    n = len(scene.runs)
    if n == 0:
        errors.append("Add at least one run.")
    if n > min(MAX_RUNS, LIMITS.max_runs):
        errors.append(f"At most {min(MAX_RUNS, LIMITS.max_runs)} runs can race at once (asked for {n}).")
    steps = scene.steps
    if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= LIMITS.max_steps:
        errors.append(f"Steps must be a whole number between 1 and {LIMITS.max_steps:,} (asked for {steps}).")
    elif n * steps > LIMITS.max_rows_x_steps:
        errors.append(f"{n} runs × {steps} steps is more than one request may compute.")
    elif not LIMITS.full_record_fits(n, steps):
        errors.append("Too many steps to record for the step inspector: use fewer steps.")
    starts = [scene.start] + [r.start for r in scene.runs]
    if any(s is not None and not all(math.isfinite(float(c)) for c in s) for s in starts):
        errors.append("The start point must be two finite numbers.")
    if not (math.isfinite(scene.noise) and 0 <= scene.noise <= 1e3):
        errors.append(f"Gradient noise must be between 0 and 1000 (got {scene.noise}).")
    if scene.batch_size < 0 or any(r.batch < 0 for r in scene.runs):
        errors.append("Batch sizes must be positive (0 means the full batch).")
    known = registry.optimizers()
    schedules = available_schedules()
    for i, run in enumerate(scene.runs):
        who = f"Run {i + 1} ({run.optimizer})"
        if run.optimizer not in known:
            errors.append(f"Run {i + 1}: unknown optimizer {run.optimizer!r}.")
            continue
        info = known[run.optimizer]
        names = {h.name for h in info.hypers}
        for name, value in run.hypers:
            if name not in names:
                errors.append(f"{who}: no hyperparameter {name!r}.")
                continue
            try:
                check_hyper(info.hyper(name), value)
            except ValueError as exc:
                errors.append(f"{who}: {exc}.")
        if run.schedule is not None and run.schedule not in schedules:
            errors.append(f"{who}: unknown schedule {run.schedule!r}.")
        for what, v in (("clip norm", run.clip_norm), ("clip value", run.clip_value)):
            if v is not None and not (math.isfinite(v) and v > 0):
                errors.append(f"{who}: the {what} must be a positive number (got {v}).")
        if run.lookahead is not None:
            k, alpha = run.lookahead
            if int(k) < 1 or not 0 <= float(alpha) <= 1:
                errors.append(f"{who}: Lookahead needs k ≥ 1 and 0 ≤ α ≤ 1.")
    return errors


def _spec(run: RunConfig, label: str) -> RunSpec:
    hypers = {k: v for k, v in run.hypers}
    schedule = (run.schedule, dict(run.schedule_params)) if run.schedule else None
    return RunSpec(run.optimizer, hypers, schedule=schedule, clip_norm=run.clip_norm, clip_value=run.clip_value,
                   lookahead=run.lookahead, label=label)


def _oracle(surface, scene: Scene, batch: int):
    if scene.noise <= 0 and batch <= 0:
        return None
    from optim_core.stochastic import StochasticGradient

    return StochasticGradient(surface, noise_scale=float(scene.noise), batch_size=batch_size_of(batch),
                              seed=int(scene.seed))


def compute(scene: Scene) -> Result:
    """Run the scene on the engine; every refusal becomes a message, never an exception."""
    res = Result(scene)
    res.errors = validate(scene)
    if res.errors:
        return res
    res.refused = refusals(scene)
    if len(res.refused) == len(scene.runs):
        res.errors = [f"Run {i + 1} ({scene.runs[i].optimizer}): {msg}." for i, msg in res.refused.items()]
        return res
    if res.refused:
        scene = res.scene = replace(scene, runs=tuple(r for i, r in enumerate(scene.runs) if i not in res.refused))
    try:
        surface = res.surface = make_surface(scene)
    except SceneError as exc:
        res.errors.append(str(exc))
        return res
    res.labels = unique_labels(scene.runs)
    start = scene_start(scene, surface)
    bound = float(getattr(surface, "bound", math.inf))
    for s in [start] + [r.start for r in scene.runs if r.start is not None]:
        if max(abs(s[0]), abs(s[1])) > bound:
            res.errors.append(f"The start point ({fmt(s[0])}, {fmt(s[1])}) is outside the region where this surface "
                              f"is raced (|θ₁|, |θ₂| ≤ {fmt(bound)}): type a start inside it in the sidebar.")
            return res
    own = any(r.start is not None for r in scene.runs)
    starts = np.array([[r.start if r.start is not None else start] for r in scene.runs], dtype=np.float64)
    specs = [_spec(r, lab) for r, lab in zip(scene.runs, res.labels)]
    # Runs with their own mini-batch size meet a different gradient oracle: one oracle per
    # size, shared by the runs of that size (the engine calls each once per step).
    batches = [r.batch or scene.batch_size for r in scene.runs]
    try:
        by_batch = {b: _oracle(surface, scene, b) for b in sorted(set(batches))}
        precision = None if scene.precision == "float64" else [
            Precision(scene.precision, r.remedy, seed=int(scene.seed)) for r in scene.runs]
        traj = run_trajectories(surface, specs, starts if own else starts[0], scene.steps,
                                oracle=[by_batch[b] for b in batches], record="full", precision=precision)
    except ImportError as exc:
        res.errors.append(f"Gradient noise is not available yet ({exc}); set the noise to 0.")
        return res
    except (ValueError, ArithmeticError) as exc:
        res.errors.append(f"The engine refused this race: {exc}")
        return res
    res.traj = traj
    try:
        res.stability = theory.stability(surface)
    except ValueError:  # curvatures that are not a quadratic's: no bound to quote
        res.stability = None
    res.notes = theory.divergence_notes(scene, surface, traj, res.labels, res.stability)
    if scene.stochastic and getattr(surface, "global_min_value", 0) == -math.inf:
        res.warnings.append("This surface has no bottom: noise only decides how fast runs leave.")
    return res
