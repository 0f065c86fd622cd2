"""The trajectory engine: K optimizer configurations x M start points x T steps, in one run.

Every run is a row of one ``(N, 2)`` array of positions. Runs of the same algorithm (and
the same code-path flags) form a *group* whose hyperparameters become ``(rows, 1)``
arrays, so each step costs one surface evaluation for all rows and one kernel call per
group: the per-call overhead of NumPy is paid once per algorithm, not once per run.
The kernels are the optimizers' own pure update functions (:func:`apply_update`,
:func:`bound_kernel`), so a trajectory here is, number for number, what the torch-shaped
class would produce.

A request goes through three phases, each a piece of its own below:

1. **Setup** (:func:`_setup`, giving a :class:`_Race`): the request is checked against the
   :class:`Limits`, its runs are resolved into lanes and groups, and their rows laid out.
2. **Stepping**: a *stepper* ``stepper(race, lanes, records)`` steps some consecutive lanes
   through every step and fills their rows of the records. :func:`_step_on_arrays` is the
   vectorized loop; a request of a few trajectories (the Playground's usual race: one
   start per run) is stepped coordinate by coordinate in Python floats instead
   (:func:`optim_core._engine_floats.step_on_floats`): with ``(1, 2)`` arrays NumPy's
   per-call cost is nearly all of a step. The kernels and the surface's expression are
   the same functions there, so both steppers give the same numbers.
3. **Records** (:class:`_Records`): allocated for the request, filled by the steppers, then
   cut at each divergence and returned as :class:`Trajectories` in the order of the runs.

A *lane* is the rows that share one gradient oracle (``oracle`` may give one per run, e.g.
one mini-batch size per run). Each oracle is called once per step on its own lane, and a
group never spans two lanes, so every run is computed exactly as in a request of its
lane's runs alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from optim_core import _engine_floats, registry
from optim_core import precision as _precision
from optim_core.budget import LIMITS, Limits, surface_nodes
from optim_core.clip import clip_by_norm, clip_by_value
from optim_core.optimizer import apply_update, bound_kernel, check_hyper
from optim_core.optimizers.lookahead import lookahead_sync
from optim_core.optimizers.sophia import refresh_hessian
from optim_core.schedules import plateau_init, plateau_step
from optim_core.surfaces.base import outside_bound

__all__ = ["RunSpec", "Trajectories", "run_trajectories", "Limits", "LIMITS"]




@dataclass(frozen=True)
class RunSpec:
    """One optimizer configuration of a race.

    ``hypers`` override the registry defaults, by kernel name (``beta1``, not ``betas``);
    float values may be arrays of shape ``(S,)`` for a sweep, expanding the run into S
    rows per start point. ``schedule`` is ``(name, params)`` of a registered schedule:
    its curve multiplies nothing, it *is* the lr (its ``base_lr`` is this run's lr), and a
    cycled momentum curve drives ``momentum`` or ``beta1``. ``clip_norm`` / ``clip_value``
    clip each trajectory's gradient as torch.nn.utils does; ``lookahead`` is ``(k, alpha)``.
    """

    optimizer: str
    hypers: Mapping[str, Any] = field(default_factory=dict)
    schedule: tuple[str, Mapping[str, Any]] | None = None
    clip_norm: float | None = None
    clip_value: float | None = None
    lookahead: tuple[int, float] | None = None
    label: str = ""

    @property
    def info(self):
        return registry.get_optimizer(self.optimizer)

    def resolved_hypers(self) -> dict[str, Any]:
        info = self.info
        unknown = set(self.hypers) - {h.name for h in info.hypers}
        if unknown:
            raise ValueError(f"{self.optimizer} has no hyperparameter(s) {sorted(unknown)}")
        hp = {**info.defaults(), **self.hypers}
        for h in info.hypers:
            check_hyper(h, hp[h.name])
        info.cls.check_relations(hp)
        return hp

    def display_label(self) -> str:
        return self.label or self.optimizer


@dataclass
class Trajectories:
    """What a run recorded. Axes: run k, start m, (sweep s folded into m), step t.

    ``positions[k, m, t]`` is the point after t steps (t = 0 is the start) and
    ``losses`` the loss there; ``grads[k, m, t]`` the gradient used by step t+1 (after
    noise and clipping: what the optimizer saw), ``raw_grads`` the same before clipping,
    ``updates`` the change that step applied and ``lrs`` the lr in force. A diverged run
    is NaN from the step after its divergence; ``diverged_step`` is that step (-1 if
    none) and ``diverged_reason`` says why.
    """

    specs: list[RunSpec]
    starts: np.ndarray
    steps: int
    positions: np.ndarray | None
    losses: np.ndarray | None
    grads: np.ndarray | None
    raw_grads: np.ndarray | None
    updates: np.ndarray | None
    lrs: np.ndarray | None
    states: list[dict[str, np.ndarray]]
    final_positions: np.ndarray
    final_losses: np.ndarray
    diverged_step: np.ndarray
    diverged_reason: np.ndarray
    steps_to_threshold: np.ndarray
    path_length: np.ndarray
    threshold: float
    minima: np.ndarray
    # Where each diverged run went at its divergence step: the first point outside the region
    # (possibly infinite), or the point whose loss was not finite; NaN for a run that did not
    # diverge. The path is cut before it, so this is the only record of the escape's direction.
    escapes: np.ndarray | None = None
    # Runs stored in low precision (``precision=``): optim_core.precision's report of the updates each
    # step rounded away; None when every run is float64.
    precision: dict | None = None

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_step >= 0

    @property
    def distance_to_minimum(self) -> np.ndarray:
        """Distance of each final point to the nearest known minimum (NaN if none are known)."""
        if len(self.minima) == 0:
            return np.full(self.final_losses.shape, np.nan)
        d = np.linalg.norm(self.final_positions[..., None, :] - self.minima, axis=-1)
        return d.min(axis=-1)

    @property
    def nearest_minimum(self) -> np.ndarray:
        """Index into ``minima`` of the minimum each run ends nearest to (-1 if diverged)."""
        if len(self.minima) == 0:
            return np.full(self.final_losses.shape, -1)
        d = np.linalg.norm(self.final_positions[..., None, :] - self.minima, axis=-1)
        idx = np.argmin(np.where(np.isfinite(d), d, np.inf), axis=-1)
        return np.where(self.diverged, -1, idx)

    def metrics(self) -> list[dict[str, Any]]:
        """One row per (run, start): the numbers the app's metrics table shows."""
        rows = []
        dist = self.distance_to_minimum
        for k, spec in enumerate(self.specs):
            for m in range(self.final_losses.shape[1]):
                ds = int(self.diverged_step[k, m])
                rows.append(
                    {
                        "run": spec.display_label(),
                        "start": m,
                        "final_loss": float(self.final_losses[k, m]),
                        "distance_to_min": float(dist[k, m]),
                        "steps_to_threshold": int(self.steps_to_threshold[k, m]),
                        "path_length": float(self.path_length[k, m]),
                        "diverged_at": ds,
                        "diverged_reason": str(self.diverged_reason[k, m]),
                    }
                )
        return rows


Oracle = Callable[[np.ndarray, int, np.ndarray], tuple]


def run_trajectories(
    surface,
    specs: Sequence[RunSpec],
    starts: Any,
    steps: int,
    *,
    oracle: Oracle | Sequence[Oracle | None] | None = None,
    record: str = "full",
    threshold: float | None = None,
    bound: float | None = None,
    limits: Limits = LIMITS,
    dtype=np.float64,
    precision=None,
) -> Trajectories:
    """Run every spec from every start for ``steps`` steps on ``surface``.

    ``starts`` is ``(M, 2)`` (shared by all runs) or ``(K, M, 2)`` (one set per run).
    ``oracle(xy, step, rows)`` -> ``(loss, grad)`` replaces the exact gradient (noise,
    mini-batches; ``rows`` is each row's start index, so every optimizer meets the same
    noise at the same step: a fair race). ``oracle`` may also be a sequence with one entry
    per spec, ``None`` meaning the exact gradient: runs given the same oracle (the same
    object) share its call, once per step on their rows, and every run's records equal, bit
    for bit, those of a request of one oracle's runs alone. ``record`` is ``"full"``
    (positions, losses, gradients, updates and optimizer state per step), ``"path"``
    (positions and losses) ``"summary"`` (final values and metrics, no per-step arrays) or
    ``"final"`` (as summary without the path length: the least work per step, for maps
    over many starts). ``threshold`` is the loss that counts as converged (default: the
    surface's minimum value + 1e-3); ``bound`` the distance from the origin past which a
    run has diverged. ``dtype`` is float64 (the default: equal to torch in float64) or
    float32, which halves the memory traffic of large batches such as convergence maps;
    records are float64. ``precision`` (an :class:`optim_core.precision.Precision`, a dtype name, or
    one per spec) stores parameters and optimizer state in float32, bfloat16 or float16, with a
    remedy for lost updates; the default (float64) changes nothing.
    """
    race = _setup(surface, specs, starts, steps, oracle, record, threshold, bound, limits, dtype)
    race.precision = _precision.attach(race, precision, limits) if precision is not None else None
    records = _Records.allocate(race)
    with np.errstate(all="ignore"):
        for stepper, lanes in _steppers(race):
            stepper(race, lanes, records.rows(_span(lanes)))
    traj = records.trajectories(race)
    if race.precision is not None:
        traj.precision = race.precision.report()
    return traj


# -- phase 1: setup --------------------------------------------------------------------------


@dataclass
class _Group:
    """Runs of one algorithm and one lane, stepped by one kernel call: rows ``rows`` of the race."""

    index: int  # position in _Race.groups (and in _Records.states)
    info: Any
    spec_index: list[int]
    rows: slice
    hypers: dict[str, Any]
    lr_curve: np.ndarray | None  # (steps, rows, 1) when scheduled
    momentum_curve: np.ndarray | None
    momentum_key: str | None
    state: dict
    # ReduceLROnPlateau runs: (columns within the group, tracker state, parameters).
    plateaus: list = field(default_factory=list)
    record_keys: list = field(default_factory=list)
    lane_rows: slice | None = None  # the same rows, counted from its lane's first row
    positions: np.ndarray | None = None  # this group's rows of the race's position array (a view)
    kernel: Any = None  # the kernel with this group's fixed hyperparameters bound (None if scheduled)


@dataclass
class _Lane:
    """The runs that share one gradient oracle: consecutive rows ``rows``, whole groups."""

    oracle: Oracle | None  # None: the surface's exact gradient
    evaluate: Oracle  # ``(xy, step, rows) -> (loss, grad)``, the oracle or the exact gradient
    rows: slice
    groups: list[_Group]
    clip_norm: np.ndarray | None  # (rows, 1) per row, inf where a run does not clip; None if none does
    clip_value: np.ndarray | None
    lookahead: bool  # whether any of its runs uses Lookahead


@dataclass
class _Race:
    """A checked request, laid out in rows: what every stepper and the records work from.

    Run k has ``m_total = n_starts * n_sweep`` rows (start-major, sweep-minor); rows are
    stored lane by lane and, within a lane, group by group, so each lane and each group is
    one contiguous slice of ``P``. ``inverse`` maps them back to run order (None when the
    runs were already in that order).
    """

    surface: Any
    specs: list[RunSpec]
    starts: np.ndarray  # (K, M, 2) float64, as given (possibly a broadcast view)
    steps: int
    record: str
    threshold: float
    bound: float
    dtype: np.dtype
    m_total: int
    groups: list[_Group]
    lanes: list[_Lane]
    P: np.ndarray  # (n_rows, 2) positions in row order, in ``dtype``; updated in place only
    row_start: np.ndarray  # (n_rows,) each row's start index: the ``rows`` an oracle is given
    inverse: np.ndarray | None
    la_k: np.ndarray  # (n_rows,) Lookahead's k per row, 0 without Lookahead
    la_alpha: np.ndarray  # (n_rows, 1)
    precision: Any = None  # optim_core.precision's hook when some run is stored in low precision

    @property
    def n_rows(self) -> int:
        return self.P.shape[0]

    @property
    def keep_path(self) -> bool:
        return self.record in ("full", "path")

    @property
    def full(self) -> bool:
        return self.record == "full"


def _setup(surface, specs, starts, steps, oracle, record, threshold, bound, limits, dtype) -> _Race:
    """Check the request against ``limits`` and lay its runs out in lanes, groups and rows."""
    specs, starts, steps, dtype, oracles, n_sweep = _checked(specs, starts, steps, oracle, record, limits, dtype,
                                                             surface_nodes(surface, limits))
    n_starts = starts.shape[1]
    m_total = n_starts * n_sweep  # rows per run: start-major, sweep-minor
    n_rows = len(specs) * m_total
    if threshold is None:
        threshold = float(getattr(surface, "global_min_value", 0.0)) + 1e-3
    if bound is None:
        bound = float(getattr(surface, "bound", 1e6))

    lane_oracles, lane_of_run = _lane_order(oracles)
    groups = _make_groups(specs, lane_of_run, n_starts, n_sweep, steps, dtype)
    # Run k's rows in run order are [k*m_total, (k+1)*m_total); they are stored group by group.
    order = np.concatenate([np.arange(n_rows).reshape(len(specs), m_total)[g.spec_index].ravel() for g in groups])
    P = np.ascontiguousarray(np.repeat(starts, n_sweep, axis=1).reshape(n_rows, 2)[order], dtype=dtype)
    for g in groups:
        g.positions = P[g.rows]  # P is updated in place only, so the views stay valid
    row_start = np.tile(np.repeat(np.arange(n_starts), n_sweep), len(specs))[order]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(n_rows)
    clip_norm, clip_value, la_k, la_alpha = _per_row_options(specs, groups, n_rows, m_total)
    lanes = _make_lanes(surface, lane_oracles, lane_of_run, groups, clip_norm, clip_value, la_k)
    # Rows are usually already in run order (runs of one algorithm given together); then the
    # records are returned as views instead of being copied row by row.
    in_order = bool(np.all(inverse == np.arange(n_rows)))
    return _Race(surface, specs, starts, steps, record, float(threshold), float(bound), dtype, m_total, groups,
                 lanes, P, row_start, None if in_order else inverse, la_k, la_alpha)


def _checked(specs, starts, steps, oracle, record, limits: Limits, dtype, nodes: int = 0):
    """The request's arguments, checked against ``limits`` and normalized:
    ``(specs, starts (K, M, 2), steps, dtype, one oracle per run, sweep size)``."""
    specs = list(specs)
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, not {dtype}")
    if not specs:
        raise ValueError("no runs to compute")
    if record not in ("full", "path", "summary", "final"):
        raise ValueError(f"record must be 'full', 'path', 'summary' or 'final', not {record!r}")
    steps = int(steps)
    if not 1 <= steps <= limits.max_steps:
        raise ValueError(f"steps must be between 1 and {limits.max_steps}, got {steps}")
    starts = np.asarray(starts, dtype=np.float64)
    if starts.ndim == 1:
        starts = starts[None, :]
    if starts.shape[-1] != 2 or starts.ndim not in (2, 3):
        raise ValueError(f"starts must have shape (M, 2) or (K, M, 2), got {starts.shape}")
    if starts.ndim == 2:
        starts = np.broadcast_to(starts, (len(specs), *starts.shape))
    if starts.shape[0] != len(specs):
        raise ValueError(f"{starts.shape[0]} sets of starts for {len(specs)} runs")
    if not np.all(np.isfinite(starts)):
        raise ValueError("start points must be finite numbers")
    if dtype == np.float32 and np.abs(starts).max(initial=0.0) > np.finfo(np.float32).max:
        # float32 would hold them as inf: the run would start "at" infinity with a finite loss on some surfaces
        raise ValueError(f"start points must lie within ±{np.finfo(np.float32).max:.3g} for a float32 run")
    n_starts = starts.shape[1]
    if len(specs) > limits.max_runs:
        raise ValueError(f"at most {limits.max_runs} runs per request, got {len(specs)}")
    if n_starts > limits.max_starts:
        raise ValueError(f"at most {limits.max_starts:,} start points per request, got {n_starts:,}")
    oracles = _run_oracles(oracle, len(specs))
    sweeps = [_sweep_size(s) for s in specs]
    if len(set(sweeps)) > 1:
        raise ValueError("every run of one request must sweep the same number of values")
    n_sweep = sweeps[0]
    m_total = n_starts * n_sweep  # rows per run: start-major, sweep-minor
    n_rows = len(specs) * m_total
    if n_rows * steps > limits.max_rows_x_steps:
        raise ValueError(f"{n_rows} trajectories x {steps} steps is more than one request may compute ({limits.max_rows_x_steps:,})")
    refused = limits.refusal(nodes or limits.builtin_nodes, n_rows, steps)
    if refused:
        raise ValueError(refused)
    if record == "full" and not limits.full_record_fits(n_rows, steps):
        raise ValueError("too much to record step by step: use record='path' or 'summary', or fewer steps or starts")
    return specs, starts, steps, dtype, oracles, n_sweep


def _run_oracles(oracle, n_runs: int) -> list:
    """One oracle per run: a callable or None (shared by all runs), or a sequence of them."""
    if oracle is None or callable(oracle):
        return [oracle] * n_runs
    if not isinstance(oracle, Sequence) or isinstance(oracle, str):
        raise ValueError(f"oracle must be a callable, None or one of them per run, not {type(oracle).__name__}")
    oracles = list(oracle)
    if len(oracles) != n_runs:
        raise ValueError(f"{len(oracles)} oracles for {n_runs} runs")
    for o in oracles:
        if o is not None and not callable(o):
            raise ValueError(f"an oracle must be a callable or None, not {type(o).__name__}")
    return oracles


def _lane_order(oracles: list) -> tuple[list, list[int]]:
    """The distinct oracles (by identity), one lane each, and each run's lane.

    Lanes follow the runs' order, except the exact gradient's (None), which comes last: it
    is the one the float path may take, and the others then stay one contiguous block.
    """
    distinct: list = []
    for o in sorted(oracles, key=lambda o: o is None):  # stable: the order of first use
        if not any(o is d for d in distinct):
            distinct.append(o)
    return distinct, [next(i for i, d in enumerate(distinct) if o is d) for o in oracles]


def _make_lanes(surface, lane_oracles, lane_of_run, groups, clip_norm, clip_value, la_k) -> list[_Lane]:
    """The lanes over the laid-out groups, with their rows' clipping settings (None where no
    run of the lane clips, as in a request of its runs alone)."""
    lanes = []
    for i, lane_oracle in enumerate(lane_oracles):
        members = [g for g in groups if lane_of_run[g.spec_index[0]] == i]
        rows = slice(members[0].rows.start, members[-1].rows.stop)
        for g in members:
            g.lane_rows = slice(g.rows.start - rows.start, g.rows.stop - rows.start)
        evaluate = lane_oracle if lane_oracle is not None else (lambda xy, t, r: surface.value_and_grad(xy))
        lanes.append(_Lane(lane_oracle, evaluate, rows, members,
                           clip_norm[rows] if np.isfinite(clip_norm[rows]).any() else None,
                           clip_value[rows] if np.isfinite(clip_value[rows]).any() else None,
                           bool(la_k[rows].any())))
    return lanes


def _per_row(value: Any, n_starts: int, n_sweep: int) -> np.ndarray:
    """One value per row of a run (rows are start-major, sweep-minor): shape (n_starts * n_sweep,)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_starts * n_sweep, float(arr))
    return np.tile(arr.reshape(-1), n_starts)


def _sweep_size(spec: RunSpec) -> int:
    sizes = {np.size(v) for v in spec.hypers.values() if not isinstance(v, (bool, str)) and np.ndim(v) > 0}
    if len(sizes) > 1:
        raise ValueError(f"{spec.display_label()}: swept hyperparameters must have the same length, got {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def _structural_key(spec: RunSpec, hp: Mapping[str, Any]) -> tuple:
    info = spec.info
    flags = tuple((h.name, hp[h.name]) for h in info.hypers if not h.sweepable)
    # Runs whose lr is scheduled differ per step; they still share a kernel call.
    return (info.name, flags)


def _make_groups(specs: Sequence[RunSpec], lane_of_run: Sequence[int], n_starts: int, n_sweep: int, steps: int,
                 dtype=np.float64) -> list[_Group]:
    """The kernel groups, lane by lane: runs of one lane with the same structural key.

    Within a lane, groups and their members keep the order of the runs, so a lane's groups
    are exactly those of a request of its runs alone (its hyperparameters too: a value
    shared by a whole group stays a Python scalar).
    """
    m_total = n_starts * n_sweep
    by_key: dict[tuple, list[int]] = {}
    resolved = []
    for k, spec in enumerate(specs):
        hp = spec.resolved_hypers()
        resolved.append(hp)
        by_key.setdefault((lane_of_run[k], _structural_key(spec, hp)), []).append(k)
    groups = []
    row = 0
    for _, members in sorted(by_key.items(), key=lambda item: item[0][0]):  # stable: lanes in order
        info = specs[members[0]].info
        n = len(members) * m_total
        hypers: dict[str, Any] = {}
        for h in info.hypers:
            values = [resolved[k][h.name] for k in members]
            if not h.sweepable or values[0] is None:
                hypers[h.name] = values[0]
            elif all(np.ndim(v) == 0 for v in values) and len({float(v) for v in values}) == 1:
                # One value for the whole group: a Python scalar keeps the kernel on its fast path.
                hypers[h.name] = float(values[0]) if h.kind == "float" else values[0]
            else:
                hypers[h.name] = np.concatenate([_per_row(v, n_starts, n_sweep) for v in values])[:, None]
        lr_curve, mom_curve, mom_key, plateaus = _group_schedules(specs, members, resolved, info, n_starts, n_sweep, steps)
        if hypers.pop("maximize", False):
            raise ValueError(f"{specs[members[0]].display_label()}: maximize makes no sense on a loss surface")
        state = info.init_state(np.zeros((n, 2), dtype=dtype), **hypers)
        groups.append(_Group(len(groups), info, members, slice(row, row + n), hypers, lr_curve, mom_curve, mom_key,
                             state, plateaus))
        row += n
    return groups


def _schedule_curves(spec: RunSpec, base_lr: float, steps: int) -> tuple[np.ndarray, np.ndarray | None]:
    name, params = spec.schedule
    out = registry.get_schedule(name).curve(steps, base_lr, **dict(params))
    lr = np.asarray(out["lr"], dtype=np.float64)[:steps]
    mom = out.get("momentum")
    return lr, (None if mom is None else np.asarray(mom, dtype=np.float64)[:steps])


def _group_schedules(specs, members, resolved, info, n_starts, n_sweep, steps):
    """Per-step lr (and cycled momentum) for a group with a scheduled run: (steps, rows, 1) arrays."""
    if not any(specs[k].schedule is not None for k in members):
        return None, None, None, []
    cycled = info.with_role("cycled_momentum")  # what OneCycleLR / CyclicLR's momentum curve drives
    mom_key = None if cycled is None else cycled.name
    lr_cols, mom_cols, plateaus = [], [], []
    m_total = n_starts * n_sweep
    for j, k in enumerate(members):
        if specs[k].schedule is not None and resolved[k]["lr"] is None:
            # Adafactor's relative step: no lr for a schedule to set (it would be NaN, or ignored).
            raise ValueError(f"{specs[k].display_label()}: a schedule sets the learning rate, but this run has none "
                             f"(lr is auto: {specs[k].optimizer} computes its own step size); set an lr "
                             "(with relative_step off) to schedule it")
        lr_rows = _per_row(resolved[k]["lr"], n_starts, n_sweep)
        base_mom = _per_row(resolved[k][mom_key], n_starts, n_sweep) if mom_key else None
        lr_run = np.empty((steps, lr_rows.size))
        mom_run = None if base_mom is None else np.broadcast_to(base_mom, (steps, base_mom.size)).copy()
        schedule = specs[k].schedule
        if schedule is not None and registry.get_schedule(schedule[0]).needs_metric:
            # The lr reacts to this run's own loss, so it is filled in step by step.
            params = {**registry.get_schedule(schedule[0]).defaults(), **dict(schedule[1])}
            mode = params.pop("mode", "min")
            lr_run[0] = lr_rows
            plateaus.append((slice(j * m_total, (j + 1) * m_total), plateau_init(m_total, lr_rows, mode), params))
            lr_cols.append(lr_run)
            if mom_run is not None:
                mom_cols.append(mom_run)
            continue
        for value in np.unique(lr_rows):
            cols = lr_rows == value
            if schedule is None:
                lr_run[:, cols] = value
                continue
            lr_curve, mom_curve = _schedule_curves(specs[k], float(value), steps)
            lr_run[:, cols] = lr_curve[:, None]
            if mom_curve is not None and mom_run is not None:
                mom_run[:, cols] = mom_curve[:, None]
        lr_cols.append(lr_run)
        if mom_run is not None:
            mom_cols.append(mom_run)
    lr = np.concatenate(lr_cols, axis=1)[:, :, None]
    cycles = mom_key is not None and any(
        specs[k].schedule is not None and registry.get_schedule(specs[k].schedule[0]).cycles_momentum for k in members
    )
    mom = np.concatenate(mom_cols, axis=1)[:, :, None] if cycles else None
    return lr, mom, (mom_key if cycles else None), plateaus


def _per_row_options(specs, groups, n_rows, m_total):
    """Clipping and Lookahead settings per row (inf and 0 where a run does not use them)."""
    clip_norm = np.full((n_rows, 1), np.inf)
    clip_value = np.full((n_rows, 1), np.inf)
    la_k = np.zeros(n_rows, dtype=np.int64)
    la_alpha = np.zeros((n_rows, 1))
    for g in groups:
        for j, k in enumerate(g.spec_index):
            rs = slice(g.rows.start + j * m_total, g.rows.start + (j + 1) * m_total)
            spec = specs[k]
            if spec.clip_norm is not None:
                if not spec.clip_norm > 0:
                    raise ValueError(f"{spec.display_label()}: clip_norm must be positive, got {spec.clip_norm}")
                clip_norm[rs] = float(spec.clip_norm)
            if spec.clip_value is not None:
                if not spec.clip_value > 0:
                    raise ValueError(f"{spec.display_label()}: clip_value must be positive, got {spec.clip_value}")
                clip_value[rs] = float(spec.clip_value)
            if spec.lookahead is not None:
                k_steps, alpha = spec.lookahead
                if int(k_steps) < 1 or not 0 <= float(alpha) <= 1:
                    raise ValueError(f"{spec.display_label()}: Lookahead needs k >= 1 and 0 <= alpha <= 1")
                la_k[rs], la_alpha[rs] = int(k_steps), float(alpha)
    return clip_norm, clip_value, la_k, la_alpha


# -- phase 2: stepping -----------------------------------------------------------------------


def _steppers(race: _Race) -> list[tuple[Callable, list[_Lane]]]:
    """Which stepper steps which lanes.

    The exact gradient's lane (always the last) goes on floats when it fits there, judged on
    that lane alone, as a request of its runs alone would be; all other lanes go on arrays,
    together, in one loop.
    """
    last = race.lanes[-1]
    if race.precision is None and _engine_floats.fits_floats(race, last):
        rest = race.lanes[:-1]
        return ([(_step_on_arrays, rest)] if rest else []) + [(_engine_floats.step_on_floats, [last])]
    return [(_step_on_arrays, race.lanes)]


def _span(lanes: Sequence[_Lane]) -> slice:
    return slice(lanes[0].rows.start, lanes[-1].rows.stop)


def _step_on_arrays(race: _Race, lanes: list[_Lane], rec: _Records) -> None:
    """The vectorized stepper: every step, one oracle call per lane and one kernel call per group.

    ``lanes`` are consecutive rows of ``race.P``; ``rec`` holds exactly their rows. Each step
    evaluates every lane at its current positions, checks and records, then moves each
    group by its kernel with its lane's (clipped) gradient, and last checks the bound.
    """
    span = _span(lanes)
    P = race.P[span]
    T, bound, threshold, keep_path, full = race.steps, race.bound, race.threshold, race.keep_path, race.full
    surface, summary = race.surface, race.record == "summary"
    pos, loss_rec, grad_rec, raw_rec = rec.positions, rec.losses, rec.grads, rec.raw_grads
    diverged_step, reason, hit, path_len = rec.diverged_step, rec.diverged_reason, rec.hit, rec.path_length
    la_k, la_alpha = race.la_k[span], race.la_alpha[span]
    slow = P.copy() if la_k.any() else None
    n_rows = P.shape[0]
    dead = np.zeros(n_rows, dtype=bool)
    dead_xy = np.zeros((n_rows, 2), dtype=bool)  # the same, per coordinate: copyto's fast path
    frozen = np.empty_like(P)  # where each diverged run stopped: its last good position
    any_dead = False
    # Online metrics, kept only when the path is not (maps over many starts); preallocated
    # so that a step over 40,000 rows allocates nothing for them.
    if not keep_path:
        unhit = np.ones(n_rows, dtype=bool)
        reached = np.empty(n_rows, dtype=bool)
        before = np.empty_like(P)
    # Per lane, views of its rows: what evaluating it needs (its oracle, positions, start
    # indices, loss record or threshold flags) and what stepping it needs (its gradient
    # records, clipping, groups). Views made once: a slice per step costs ~0.2 us each.
    evaluations, updates = [], []
    for lane in lanes:
        here = slice(lane.rows.start - span.start, lane.rows.stop - span.start)
        evaluations.append((lane.evaluate, race.P[lane.rows], race.row_start[lane.rows], here,
                            loss_rec[:, here] if keep_path else reached[here]))
        updates.append((raw_rec[:, here] if full else None, grad_rec[:, here] if full else None, lane.clip_norm,
                        lane.clip_value, lane.groups))
        for g in lane.groups:
            g.kernel = bound_kernel(g.info, g.hypers, batch_ndim=1) if g.lr_curve is None else None

    for t in range(T + 1):
        evaluated = []
        for evaluate, P_lane, rows, here, losses in evaluations:
            value, grad = evaluate(P_lane, t, rows)
            evaluated.append((value, grad))
            # One reduction (ufunc.reduce skips np.sum's Python wrapper): NaN or inf anywhere
            # makes the sum non-finite.
            if not math.isfinite(np.add.reduce(value, axis=None)):
                bad = ~dead[here] & ~np.isfinite(value)
                if bad.any():
                    frozen[here][bad] = P_lane[bad]
                    rec.escapes[here][bad] = P_lane[bad]
                    _mark(here, bad, t, "the loss became infinite or NaN", diverged_step, reason, dead, dead_xy)
                    any_dead = True
            if keep_path:
                losses[t] = value
            else:
                np.less_equal(value, threshold, out=losses)  # this lane's rows of ``reached``
        if keep_path:
            pos[t] = P
        else:
            reached &= unhit
            if reached.any():
                hit[reached] = t
                unhit &= ~reached
        if t == T:
            break
        if not keep_path:
            np.copyto(before, P)
        for (raw_lane, grads_lane, clip_norm, clip_value, groups), (value, grad) in zip(updates, evaluated):
            if full:
                raw_lane[t] = grad
            if clip_value is not None:
                grad = clip_by_value(grad, clip_value)
            if clip_norm is not None:
                grad = clip_by_norm(grad, clip_norm, batch_ndim=1)[0]
            if full:
                grads_lane[t] = grad
            for g in groups:
                hp = g.hypers
                if g.lr_curve is not None:
                    hp = dict(hp, lr=g.lr_curve[t])
                    if g.momentum_curve is not None:
                        hp[g.momentum_key] = g.momentum_curve[t]
                if race.precision is not None:
                    race.precision.before(g)
                if g.kernel is not None:
                    g.kernel(g.positions, grad[g.lane_rows], g.state, t + 1)
                else:
                    apply_update(g.info, g.positions, grad[g.lane_rows], g.state, t + 1, hp, batch_ndim=1)
                if race.precision is not None:
                    race.precision.after(g, t)  # rounds the parameters and the state as stored
                if g.info.needs_hessian:
                    # The exact diagonal at the new point, folded in on Sophia's cadence.
                    refresh_hessian(g.state, lambda g=g: _hessian_diag(surface, g.positions), t + 1,
                                    beta2=hp["beta2"], hessian_interval=hp["hessian_interval"])
                if full:
                    states = rec.states[g.index]
                    if t <= 1:  # the state's arrays exist once the first step has run
                        g.record_keys = _state_keys(states, g.state, T)
                    for key in g.record_keys:
                        states[key][t] = g.state[key]
                for cols, tracker, params in g.plateaus:
                    # torch's loop: loss = f(θ_t); step(); scheduler.step(loss) sets the next lr.
                    next_lr = plateau_step(tracker, value[g.lane_rows][cols], **params)
                    if t + 1 < T:
                        g.lr_curve[t + 1, cols, 0] = next_lr
        sync = None if slow is None else (la_k > 0) & ((t + 1) % np.maximum(la_k, 1) == 0)
        if sync is not None and sync.any():
            fast_rows, slow_rows = P[sync], slow[sync]
            lookahead_sync(fast_rows, slow_rows, la_alpha[sync])
            P[sync], slow[sync] = fast_rows, slow_rows
        if any_dead:
            # A diverged run keeps being stepped (its numbers are cut from the record
            # afterwards) but is put back where it stopped, so it cannot trip the
            # checks below again.
            np.copyto(P, frozen, where=dead_xy)
        # Two reductions without temporaries (the methods skip np.max's wrapper, ~3 us
        # a call); a NaN makes both comparisons false.
        if not (P.max() <= bound and P.min() >= -bound):
            gone = ~dead & outside_bound(P, bound)
            if gone.any():
                why = np.where(np.all(np.isfinite(P[gone]), axis=-1), f"left the region |x|, |y| <= {bound:g}",
                               "the position became infinite or NaN")
                rec.escapes[gone] = P[gone]
                frozen[gone] = pos[t][gone] if keep_path else before[gone]
                _mark(slice(None), gone, t + 1, why, diverged_step, reason, dead, dead_xy)
                any_dead = True
                np.copyto(P, frozen, where=dead_xy)
        if summary:
            np.subtract(P, before, out=before)
            path_len += np.hypot(before[:, 0], before[:, 1])


def _mark(rows, mask, t, why, diverged_step, reason, dead, dead_xy) -> None:
    """Mark rows ``rows`` where ``mask`` as diverged at step ``t`` (``mask`` is over ``rows``)."""
    diverged_step[rows][mask] = t
    reason[rows][mask] = why
    dead[rows] |= mask
    dead_xy[...] = dead[:, None]


def _hessian_diag(surface, xy: np.ndarray) -> np.ndarray:
    h = surface.hessian(xy)
    return np.stack([h[..., 0, 0], h[..., 1, 1]], axis=-1)


# -- phase 3: records ------------------------------------------------------------------------


@dataclass
class _Records:
    """What the steppers fill, row by row in the race's row order; :meth:`trajectories` turns it
    into :class:`Trajectories`.

    The per-step arrays have the step first: ``(T + 1, rows, 2)`` for positions, ``(T, rows,
    2)`` for gradients. ``states[i]`` holds group i's recorded state arrays, ``(T, rows, 2)``
    each, allocated by the stepper once the state exists. ``hit`` and ``path_length`` are
    filled online only when the path is not kept (from the path otherwise).
    """

    positions: np.ndarray | None
    losses: np.ndarray | None
    grads: np.ndarray | None
    raw_grads: np.ndarray | None
    states: list[dict[str, np.ndarray]]
    diverged_step: np.ndarray
    diverged_reason: np.ndarray
    hit: np.ndarray
    path_length: np.ndarray
    escapes: np.ndarray

    @classmethod
    def allocate(cls, race: _Race) -> _Records:
        T, n_rows, keep_path, full = race.steps, race.n_rows, race.keep_path, race.full
        return cls(
            positions=np.empty((T + 1, n_rows, 2)) if keep_path else None,
            losses=np.empty((T + 1, n_rows)) if keep_path else None,
            grads=np.empty((T, n_rows, 2)) if full else None,
            raw_grads=np.empty((T, n_rows, 2)) if full else None,
            states=[dict() for _ in race.groups],
            diverged_step=np.full(n_rows, -1, dtype=np.int64),
            diverged_reason=np.full(n_rows, "", dtype=object),
            hit=np.full(n_rows, -1, dtype=np.int64),
            path_length=np.zeros(n_rows) if race.record != "final" else np.full(n_rows, np.nan),
            escapes=np.full((n_rows, 2), np.nan),
        )

    def rows(self, rows: slice) -> _Records:
        """The records of rows ``rows`` only, as views (what one stepper fills); states are shared."""
        if rows == slice(0, self.diverged_step.shape[0]):
            return self

        def part(a, time_axis=True):
            return None if a is None else (a[:, rows] if time_axis else a[rows])

        return _Records(part(self.positions), part(self.losses), part(self.grads), part(self.raw_grads),
                        self.states, part(self.diverged_step, False), part(self.diverged_reason, False),
                        part(self.hit, False), part(self.path_length, False), part(self.escapes, False))

    def trajectories(self, race: _Race) -> Trajectories:
        """The filled records as :class:`Trajectories`: cut at divergences, in the order of the runs."""
        T, n_rows, m_total, keep_path, full = race.steps, race.n_rows, race.m_total, race.keep_path, race.full
        pos, loss_rec, grad_rec, raw_rec = self.positions, self.losses, self.grads, self.raw_grads
        diverged_step, hit, path_len = self.diverged_step, self.hit, self.path_length
        # Per-step lrs only where the path is kept: for a 200 x 200 map they would be 96 MB.
        lr_rec = _lr_record(race.groups, n_rows, T) if keep_path else None
        updates = None
        if keep_path:
            # Every recorded position is finite (a diverged run is held at its last good
            # point), so the path length needs no NaN handling; it is taken before the cut.
            # Lane by lane: NumPy sums the steps of a single row pairwise but those of several
            # rows one step after another, so a run's length is bit for bit that of a request
            # of its lane's runs alone only when summed over the same rows.
            path_len = np.concatenate([_path_length(pos[:, lane.rows]) for lane in race.lanes])
            if full:
                updates = np.diff(pos, axis=0)
            # A diverged run is cut at its divergence: NaN from that step on.
            steps_idx = np.arange(T + 1)[:, None]
            cut = (diverged_step >= 0) & (steps_idx >= diverged_step)
            pos[cut] = np.nan
            loss_rec[cut] = np.nan
            with np.errstate(invalid="ignore"):
                reached = loss_rec <= race.threshold
            hit = np.where(reached.any(axis=0), np.argmax(reached, axis=0), -1)
            if full:
                cut_t = cut[1:]
                updates[cut_t] = np.nan
                grad_rec[cut_t] = np.nan
                raw_rec[cut_t] = np.nan

        K, inverse = len(race.specs), race.inverse

        def unpermute(a: np.ndarray | None, time_axis: bool = True) -> np.ndarray | None:
            if a is None:
                return None
            if inverse is not None:
                a = a[:, inverse] if time_axis else a[inverse]
            if time_axis:
                a = np.moveaxis(a, 0, 1)  # (rows, T, ...)
            return a.reshape(K, m_total, *a.shape[1:])

        P = race.P
        final_loss = np.where(diverged_step >= 0, np.nan, race.surface.value(P).astype(np.float64, copy=False))
        states: list[dict[str, np.ndarray]] = [dict() for _ in race.specs]
        for g in race.groups:
            for j, k in enumerate(g.spec_index):
                lo = j * m_total
                states[k] = {key: np.moveaxis(v[:, lo : lo + m_total], 0, 1) for key, v in self.states[g.index].items()}
        return Trajectories(
            specs=race.specs,
            starts=race.starts,
            steps=T,
            positions=unpermute(pos),
            losses=unpermute(loss_rec),
            grads=unpermute(grad_rec),
            raw_grads=unpermute(raw_rec),
            updates=unpermute(updates),
            lrs=unpermute(lr_rec),
            states=states,
            final_positions=unpermute(P.astype(np.float64, copy=False), time_axis=False),
            final_losses=unpermute(final_loss, time_axis=False),
            diverged_step=unpermute(diverged_step, time_axis=False),
            diverged_reason=unpermute(self.diverged_reason, time_axis=False),
            steps_to_threshold=unpermute(hit, time_axis=False),
            path_length=unpermute(path_len, time_axis=False),
            escapes=unpermute(self.escapes, time_axis=False),
            threshold=race.threshold,
            minima=np.asarray(getattr(race.surface, "minima", np.empty((0, 2))), dtype=np.float64).reshape(-1, 2),
        )


def _state_keys(rec: dict, state: dict, T: int) -> list[str]:
    """The per-row state arrays worth recording (moments, buffers), with their records allocated."""
    keys = []
    for key, value in state.items():
        if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[-1] == 2:
            if key not in rec:
                rec[key] = np.full((T, *value.shape), np.nan)
            keys.append(key)
    return keys


def _path_length(pos: np.ndarray, block: int = 32) -> np.ndarray:
    """Total length of each row's path ``pos[:, row]``, summed over steps.

    Step by step through ``block`` steps at a time in reused buffers: one ``np.diff`` of the
    whole record would allocate (and page-fault in) as much memory as the record itself,
    which took longer than the arithmetic.
    """
    T = pos.shape[0] - 1
    total = np.zeros(pos.shape[1])
    d = np.empty((min(block, T), *pos.shape[1:]))
    sq = np.empty(d.shape[:2])
    with np.errstate(over="ignore"):  # a path out to 1e300 is infinitely long, not an error
        for lo in range(0, T, block):
            k = min(block, T - lo)
            dk, sk = d[:k], sq[:k]
            np.subtract(pos[lo + 1 : lo + 1 + k], pos[lo : lo + k], out=dk)
            np.multiply(dk, dk, out=dk)
            np.add(dk[..., 0], dk[..., 1], out=sk)
            total += np.sqrt(sk, out=sk).sum(axis=0)
    return total


def _lr_record(groups, n_rows: int, T: int) -> np.ndarray:
    """The lr in force per step and row, ``(T, n_rows)``.

    Without a schedule every row's lr is constant: the record is then a read-only
    broadcast of one value per row, which costs nothing for long runs.
    """
    if all(g.lr_curve is None for g in groups):
        per_row = np.concatenate([np.broadcast_to(np.asarray(g.hypers["lr"], dtype=np.float64).reshape(-1),
                                                  (g.rows.stop - g.rows.start,)) for g in groups])
        return np.broadcast_to(per_row, (T, n_rows))
    lrs = np.empty((T, n_rows))
    for g in groups:
        n = g.rows.stop - g.rows.start
        if g.lr_curve is not None:
            lrs[:, g.rows] = g.lr_curve[:, :, 0]
        else:
            lrs[:, g.rows] = np.broadcast_to(np.asarray(g.hypers["lr"], dtype=np.float64).reshape(1, -1), (T, n))
    return lrs
