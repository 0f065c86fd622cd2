"""The trajectory engine: K optimizer configurations x M start points x T steps, in one run.

Every run is a row of one ``(N, 2)`` array of positions. Runs of the same algorithm (and
the same code-path flags) form a *group* whose hyperparameters become ``(rows, 1)``
arrays, so each step costs one surface evaluation for all rows and one kernel call per
group: the per-call overhead of NumPy is paid once per algorithm, not once per run.
The kernels are the optimizers' own pure update functions (:func:`apply_update`,
:func:`bound_kernel`), so a trajectory here is, number for number, what the torch-shaped
class would produce.

A request of a few trajectories (the Playground's usual race: one start per run) is
stepped coordinate by coordinate in Python floats instead (:func:`_run_on_floats`): with
``(1, 2)`` arrays NumPy's per-call cost is nearly all of a step. The kernels and the
surface's expression are the same functions there, so both paths give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from optim_core import registry
from optim_core.clip import clip_by_norm, clip_by_value
from optim_core.optimizer import apply_update, bound_kernel, check_hyper
from optim_core.optimizers.lookahead import lookahead_sync
from optim_core.optimizers.sophia import refresh_hessian
from optim_core.schedules import plateau_init, plateau_step
from optim_core.surfaces.base import Surface, outside_bound

__all__ = ["RunSpec", "Trajectories", "run_trajectories", "Limits", "LIMITS"]


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the engine: the app checks requests against these."""

    max_runs: int = 12
    max_starts: int = 200 * 200
    max_steps: int = 5000
    max_rows_x_steps: int = 40_000 * 500
    max_recorded_values: int = 20_000_000

    def full_record_fits(self, n_rows: int, steps: int) -> bool:
        """Whether recording every step of ``n_rows`` trajectories stays within bounds.

        A full record keeps about 12 numbers per row and step: position, loss, gradient
        before and after clipping, update, lr and a few optimizer-state values.
        """
        return n_rows * (steps + 1) * 12 <= self.max_recorded_values


LIMITS = Limits()


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

    def effective_lr(self) -> np.ndarray:
        """Per-coordinate effective step size ``-update / grad`` (NaN where the gradient is ~0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            eff = -self.updates / self.grads
        return np.where(np.abs(self.grads) > 1e-300, eff, np.nan)

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


def _per_row(value: Any, n_starts: int, n_sweep: int) -> np.ndarray:
    """One value per row of a run (rows are start-major, sweep-minor): shape (n_starts * n_sweep,)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n_starts * n_sweep, float(arr))
    return np.tile(arr.reshape(-1), n_starts)


@dataclass
class _Group:
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
    positions: np.ndarray | None = None  # this group's rows of the engine's position array (a view)
    kernel: Any = None  # the kernel with this group's fixed hyperparameters bound (None if scheduled)


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


def _schedule_curves(spec: RunSpec, base_lr: float, steps: int) -> tuple[np.ndarray, np.ndarray | None]:
    name, params = spec.schedule
    out = registry.get_schedule(name).curve(steps, base_lr, **dict(params))
    lr = np.asarray(out["lr"], dtype=np.float64)[:steps]
    mom = out.get("momentum")
    return lr, (None if mom is None else np.asarray(mom, dtype=np.float64)[:steps])


def run_trajectories(
    surface,
    specs: Sequence[RunSpec],
    starts: Any,
    steps: int,
    *,
    oracle=None,
    record: str = "full",
    threshold: float | None = None,
    bound: float | None = None,
    limits: Limits = LIMITS,
    dtype=np.float64,
) -> Trajectories:
    """Run every spec from every start for ``steps`` steps on ``surface``.

    ``starts`` is ``(M, 2)`` (shared by all runs) or ``(K, M, 2)`` (one set per run).
    ``oracle(xy, step, rows)`` -> ``(loss, grad)`` replaces the exact gradient (noise,
    mini-batches; ``rows`` is each row's start index, so every optimizer meets the same
    noise at the same step: a fair race). ``record`` is ``"full"`` (positions, losses,
    gradients, updates and optimizer state per step), ``"path"`` (positions and losses)
    ``"summary"`` (final values and metrics, no per-step arrays) or ``"final"`` (as
    summary without the path length: the least work per step, for maps over many starts).
    ``threshold`` is the loss that counts as converged (default: the surface's minimum
    value + 1e-3); ``bound`` the distance from the origin past which a run has diverged.
    ``dtype`` is float64 (the default: equal to torch in float64) or float32, which halves
    the memory traffic of large batches such as convergence maps; records are float64.
    """
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
    n_starts = starts.shape[1]
    if len(specs) > limits.max_runs:
        raise ValueError(f"at most {limits.max_runs} runs per request, got {len(specs)}")
    if n_starts > limits.max_starts:
        raise ValueError(f"at most {limits.max_starts:,} start points per request, got {n_starts:,}")
    sweeps = [_sweep_size(s) for s in specs]
    if len(set(sweeps)) > 1:
        raise ValueError("every run of one request must sweep the same number of values")
    n_sweep = sweeps[0]
    m_total = n_starts * n_sweep  # rows per run: start-major, sweep-minor
    n_rows = len(specs) * m_total
    if n_rows * steps > limits.max_rows_x_steps:
        raise ValueError(f"{n_rows} trajectories x {steps} steps is more than one request may compute ({limits.max_rows_x_steps:,})")
    if record == "full" and not limits.full_record_fits(n_rows, steps):
        raise ValueError("too much to record step by step: use record='path' or 'summary', or fewer steps or starts")
    if threshold is None:
        threshold = float(getattr(surface, "global_min_value", 0.0)) + 1e-3
    if bound is None:
        bound = float(getattr(surface, "bound", 1e6))

    # Rows: run k occupies rows [k*m_total, (k+1)*m_total); within a run, start-major.
    positions0 = np.repeat(starts, n_sweep, axis=1).reshape(n_rows, 2)
    row_start = np.tile(np.repeat(np.arange(n_starts), n_sweep), len(specs))
    groups = _make_groups(specs, n_starts, n_sweep, steps, dtype)
    order = np.concatenate([np.arange(n_rows).reshape(len(specs), m_total)[g.spec_index].ravel() for g in groups])
    # Rows are stored group by group so each group's rows are one contiguous view.
    P = np.ascontiguousarray(positions0[order], dtype=dtype)
    for g in groups:
        g.positions = P[g.rows]  # P is updated in place only, so the views stay valid
    row_start = row_start[order]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(n_rows)

    T = steps
    keep_path = record in ("full", "path")
    full = record == "full"
    pos = np.empty((T + 1, n_rows, 2)) if keep_path else None
    loss_rec = np.empty((T + 1, n_rows)) if keep_path else None
    grad_rec = np.empty((T, n_rows, 2)) if full else None
    raw_rec = np.empty((T, n_rows, 2)) if full else None
    state_rec: list[dict[str, np.ndarray]] = [dict() for _ in groups]

    clip_norm, clip_value, la_k, la_alpha = _per_row_options(specs, groups, n_rows, m_total)
    slow = P.copy() if la_k.any() else None
    evaluate = oracle if oracle is not None else (lambda xy, t, rows: surface.value_and_grad(xy))

    diverged_step = np.full(n_rows, -1, dtype=np.int64)
    reason = np.full(n_rows, "", dtype=object)
    dead = np.zeros(n_rows, dtype=bool)
    dead_xy = np.zeros((n_rows, 2), dtype=bool)  # the same, per coordinate: copyto's fast path
    frozen = np.empty_like(P)  # where each diverged run stopped: its last good position
    any_dead = False
    # Online metrics, kept only when the path is not (maps over many starts); preallocated
    # so that a step over 40,000 rows allocates nothing for them.
    hit = np.full(n_rows, -1, dtype=np.int64)
    path_len = np.zeros(n_rows) if record != "final" else np.full(n_rows, np.nan)
    if not keep_path:
        unhit = np.ones(n_rows, dtype=bool)
        reached = np.empty(n_rows, dtype=bool)
        before = np.empty_like(P)

    on_floats = _fits_float_path(surface, groups, n_rows, oracle, keep_path, dtype, clip_norm, clip_value, slow)
    with np.errstate(all="ignore"):
        if on_floats:
            _run_on_floats(surface, groups, P, T, bound, full, pos, loss_rec, grad_rec, raw_rec, state_rec,
                           diverged_step, reason, dead)
        else:
            for g in groups:
                g.kernel = bound_kernel(g.info, g.hypers, batch_ndim=1) if g.lr_curve is None else None
            for t in range(T + 1):
                value, grad = evaluate(P, t, row_start)
                # One reduction (ufunc.reduce skips np.sum's Python wrapper): NaN or inf anywhere
                # makes the sum non-finite.
                if not math.isfinite(np.add.reduce(value, axis=None)):
                    bad = ~dead & ~np.isfinite(value)
                    if bad.any():
                        frozen[bad] = P[bad]
                        _mark(bad, t, "the loss became infinite or NaN", diverged_step, reason, dead, dead_xy)
                        any_dead = True
                if keep_path:
                    pos[t] = P
                    loss_rec[t] = value
                else:
                    np.less_equal(value, threshold, out=reached)
                    reached &= unhit
                    if reached.any():
                        hit[reached] = t
                        unhit &= ~reached
                if t == T:
                    break
                if full:
                    raw_rec[t] = grad
                if clip_value is not None:
                    grad = clip_by_value(grad, clip_value)
                if clip_norm is not None:
                    grad = clip_by_norm(grad, clip_norm, batch_ndim=1)[0]
                if full:
                    grad_rec[t] = grad
                if not keep_path:
                    np.copyto(before, P)
                for gi, g in enumerate(groups):
                    hp = g.hypers
                    if g.lr_curve is not None:
                        hp = dict(hp, lr=g.lr_curve[t])
                        if g.momentum_curve is not None:
                            hp[g.momentum_key] = g.momentum_curve[t]
                    if g.kernel is not None:
                        g.kernel(g.positions, grad[g.rows], g.state, t + 1)
                    else:
                        apply_update(g.info, g.positions, grad[g.rows], g.state, t + 1, hp, batch_ndim=1)
                    if g.info.needs_hessian:
                        # The exact diagonal at the new point, folded in on Sophia's cadence.
                        refresh_hessian(g.state, lambda g=g: _hessian_diag(surface, g.positions), t + 1,
                                        beta2=hp["beta2"], hessian_interval=hp["hessian_interval"])
                    if full:
                        if t <= 1:  # the state's arrays exist once the first step has run
                            g.record_keys = _state_keys(state_rec[gi], g.state, T)
                        for key in g.record_keys:
                            state_rec[gi][key][t] = g.state[key]
                    for cols, tracker, params in g.plateaus:
                        # torch's loop: loss = f(θ_t); step(); scheduler.step(loss) sets the next lr.
                        next_lr = plateau_step(tracker, value[g.rows][cols], **params)
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
                        frozen[gone] = pos[t][gone] if keep_path else before[gone]
                        _mark(gone, t + 1, why, diverged_step, reason, dead, dead_xy)
                        any_dead = True
                        np.copyto(P, frozen, where=dead_xy)
                if record == "summary":
                    np.subtract(P, before, out=before)
                    path_len += np.hypot(before[:, 0], before[:, 1])

    K = len(specs)
    # Per-step lrs only where the path is kept: for a 200 x 200 map they would be 96 MB.
    lr_rec = _lr_record(groups, n_rows, T) if keep_path else None
    updates = None
    if keep_path:
        # Every recorded position is finite (a diverged run is held at its last good
        # point), so the path length needs no NaN handling; it is taken before the cut.
        path_len = _path_length(pos)
        if full:
            updates = np.diff(pos, axis=0)
        # A diverged run is cut at its divergence: NaN from that step on.
        steps_idx = np.arange(T + 1)[:, None]
        cut = (diverged_step >= 0) & (steps_idx >= diverged_step)
        pos[cut] = np.nan
        loss_rec[cut] = np.nan
        with np.errstate(invalid="ignore"):
            reached = loss_rec <= threshold
        hit = np.where(reached.any(axis=0), np.argmax(reached, axis=0), -1)
        if full:
            cut_t = cut[1:]
            updates[cut_t] = np.nan
            grad_rec[cut_t] = np.nan
            raw_rec[cut_t] = np.nan

    # Rows are usually already in spec order (runs of one algorithm given together); then
    # the records are returned as views instead of being copied row by row.
    in_order = bool(np.all(inverse == np.arange(n_rows)))

    def unpermute(a: np.ndarray | None, time_axis: bool = True) -> np.ndarray | None:
        if a is None:
            return None
        if not in_order:
            a = a[:, inverse] if time_axis else a[inverse]
        if time_axis:
            a = np.moveaxis(a, 0, 1)  # (rows, T, ...)
        return a.reshape(K, m_total, *a.shape[1:])

    final_pos = P.astype(np.float64, copy=False)
    final_loss = np.where(diverged_step >= 0, np.nan, surface.value(P).astype(np.float64, copy=False))
    states: list[dict[str, np.ndarray]] = [dict() for _ in specs]
    for g, rec in zip(groups, state_rec):
        for j, k in enumerate(g.spec_index):
            lo = j * m_total
            states[k] = {key: np.moveaxis(v[:, lo : lo + m_total], 0, 1) for key, v in rec.items()}

    return Trajectories(
        specs=specs,
        starts=starts,
        steps=T,
        positions=unpermute(pos),
        losses=unpermute(loss_rec),
        grads=unpermute(grad_rec),
        raw_grads=unpermute(raw_rec),
        updates=unpermute(updates),
        lrs=unpermute(lr_rec),
        states=states,
        final_positions=unpermute(final_pos, time_axis=False),
        final_losses=unpermute(final_loss, time_axis=False),
        diverged_step=unpermute(diverged_step, time_axis=False),
        diverged_reason=unpermute(reason, time_axis=False),
        steps_to_threshold=unpermute(hit, time_axis=False),
        path_length=unpermute(path_len, time_axis=False),
        threshold=float(threshold),
        minima=np.asarray(getattr(surface, "minima", np.empty((0, 2))), dtype=np.float64).reshape(-1, 2),
    )


# Requests with few trajectories go coordinate by coordinate in Python floats (see
# _run_on_floats). Measured over 500 recorded Rosenbrock steps: floats cost ~1.5 ms per
# trajectory, arrays ~8 ms plus ~2.5 ms per algorithm group, so floats pay up to about
# 4 + 2 trajectories per group (1 group: 6; the default scene's 6 groups: 16), never above
# this cap.
FLOAT_PATH_MAX_ROWS = 16


def _fits_float_path(surface, groups, n_rows, oracle, keep_path, dtype, clip_norm, clip_value, slow) -> bool:
    """Whether :func:`_run_on_floats` can do this run: a few trajectories on a built-in surface,
    every kernel able to run on floats, and none of the per-row extras it leaves to arrays
    (noise, clipping, Lookahead, plateau schedules, Sophia's Hessians)."""
    if not keep_path or n_rows > min(FLOAT_PATH_MAX_ROWS, 4 + 2 * len(groups)) or dtype != np.float64:
        return False
    if oracle is not None or clip_norm is not None or clip_value is not None or slow is not None:
        return False
    if not isinstance(surface, Surface) or type(surface).value_and_grad is not Surface.value_and_grad:
        return False  # e.g. a typed formula, which evaluates through its own tree
    return all(g.info.runs_on_floats and not g.info.needs_hessian and not g.plateaus for g in groups)


def _run_on_floats(surface, groups, P, T, bound, full, pos, loss_rec, grad_rec, raw_rec, state_rec,
                   diverged_step, reason, dead) -> None:
    """The array loop of :func:`run_trajectories` for a few trajectories, one coordinate at a
    time in Python floats; it fills the same records.

    With one start per run every array of a step is ``(1, 2)``, and NumPy's ~0.5 us per call
    is then nearly all the cost of a step, where a float operation takes ~30 ns. Nothing is
    computed differently: the kernels are the optimizers' own (they also run on floats,
    ``OptimizerInfo.runs_on_floats``) and ``surface._fg`` is the same expression the array
    path evaluates, so every number equals the array loop's (tests compare them exactly).
    """
    fg = surface._fg
    n = P.shape[0]
    xs, ys = P[:, 0].tolist(), P[:, 1].tolist()
    live = [True] * n
    frozen: list = [None] * n
    marks = []  # (row, step, reason) of each divergence
    # One entry per row: its kernel, its own hyperparameters as floats, its schedule, and
    # one state dict per coordinate. Rows of a group are consecutive, as in P.
    rows = []
    recorded: list[dict[str, list]] = []
    for g in groups:
        info = g.info
        n_g = g.rows.stop - g.rows.start
        lrs = None if g.lr_curve is None else g.lr_curve[:, :, 0].T.tolist()
        moms = None if g.momentum_curve is None else g.momentum_curve[:, :, 0].T.tolist()
        # The state the array loop would record: per-coordinate buffers (or not yet created).
        buffers = [k for k, v in g.state.items() if v is None or (isinstance(v, np.ndarray) and v.shape == (n_g, 2))]
        recorded.append({k: [] for k in buffers} if full else {})
        for j in range(n_g):
            hp = {k: (float(v[j, 0]) if isinstance(v, np.ndarray) else v) for k, v in g.hypers.items()}
            sx, sy = info.init_state(0.0, **hp), info.init_state(0.0, **hp)
            appends = [(k, recorded[-1][k].append) for k in buffers] if full else []
            update = info.update if lrs is not None else bound_kernel(info, hp)
            rows.append((g.rows.start + j, j, update, hp, lrs, moms, g.momentum_key, sx, sy, appends))

    hist_x, hist_y, hist_f, hist_gx, hist_gy = [], [], [], [], []
    gxs = gys = None
    for t in range(T + 1):
        # One pass over the rows per step: each is updated (step t, with the gradient at its
        # position after t-1 steps), checked, and evaluated at its new position; rows are
        # independent, so this is the array loop's order, row by row.
        fs, new_gx, new_gy = [], [], []
        for r, j, update, hp, lrs, moms, mom_key, sx, sy, appends in rows:
            x, y = xs[r], ys[r]
            if t:
                if lrs is None:
                    x = update(x, gxs[r], sx, t)
                    y = update(y, gys[r], sy, t)
                else:
                    hp["lr"] = lrs[j][t - 1]
                    if moms is not None:
                        hp[mom_key] = moms[j][t - 1]
                    x = update(x, gxs[r], sx, t, **hp)
                    y = update(y, gys[r], sy, t, **hp)
                for key, append in appends:
                    append((sx[key], sy[key]))
                if not live[r]:
                    x, y = frozen[r]
                elif not (abs(x) <= bound and abs(y) <= bound):  # outside_bound, on floats (a NaN fails both)
                    finite = math.isfinite(x) and math.isfinite(y)
                    marks.append((r, t, f"left the region |x|, |y| <= {bound:g}" if finite
                                  else "the position became infinite or NaN"))
                    x, y = frozen[r] = (hist_x[t - 1][r], hist_y[t - 1][r])
                    live[r] = False
                xs[r], ys[r] = x, y
            f, gx, gy = fg(x, y)
            fs.append(f)
            new_gx.append(float(gx))
            new_gy.append(float(gy))
            if not math.isfinite(f) and live[r]:
                frozen[r] = (x, y)
                live[r] = False
                marks.append((r, t, "the loss became infinite or NaN"))
        gxs, gys = new_gx, new_gy
        hist_x.append(xs[:])
        hist_y.append(ys[:])
        hist_f.append(fs)
        hist_gx.append(gxs)
        hist_gy.append(gys)

    pos[..., 0] = hist_x
    pos[..., 1] = hist_y
    loss_rec[...] = hist_f
    if full:
        raw_rec[..., 0] = hist_gx[:T]
        raw_rec[..., 1] = hist_gy[:T]
        grad_rec[...] = raw_rec  # no clipping on this path
        for g, rec, kept in zip(groups, state_rec, recorded):
            n_g = g.rows.stop - g.rows.start
            for key, values in kept.items():
                try:
                    arr = np.array(values, dtype=np.float64)
                except TypeError:  # None: a buffer not created (yet), like SGD's without momentum
                    arr = np.array([[math.nan if v is None else v for v in xy] for xy in values])
                if not np.all(np.isnan(arr)):  # never created: the array loop does not record it either
                    rec[key] = arr.reshape(T, n_g, 2)
    P[:, 0] = xs
    P[:, 1] = ys
    for r, step, why in marks:
        diverged_step[r] = step
        reason[r] = why
        dead[r] = True


def _per_row_options(specs, groups, n_rows, m_total):
    """Clipping and Lookahead settings per row; None where no run uses them."""
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
    return (
        clip_norm if np.isfinite(clip_norm).any() else None,
        clip_value if np.isfinite(clip_value).any() else None,
        la_k,
        la_alpha,
    )


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


def _mark(mask, t, why, diverged_step, reason, dead, dead_xy) -> None:
    diverged_step[mask] = t
    reason[mask] = why
    dead |= mask
    dead_xy[...] = dead[:, None]


def _state_keys(rec: dict, state: dict, T: int) -> list[str]:
    """The per-row state arrays worth recording (moments, buffers), with their records allocated."""
    keys = []
    for key, value in state.items():
        if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[-1] == 2:
            if key not in rec:
                rec[key] = np.full((T, *value.shape), np.nan)
            keys.append(key)
    return keys


def _hessian_diag(surface, xy: np.ndarray) -> np.ndarray:
    h = surface.hessian(xy)
    return np.stack([h[..., 0, 0], h[..., 1, 1]], axis=-1)


def _make_groups(specs: Sequence[RunSpec], n_starts: int, n_sweep: int, steps: int, dtype=np.float64) -> list[_Group]:
    m_total = n_starts * n_sweep
    by_key: dict[tuple, list[int]] = {}
    resolved = []
    for k, spec in enumerate(specs):
        hp = spec.resolved_hypers()
        resolved.append(hp)
        by_key.setdefault(_structural_key(spec, hp), []).append(k)
    groups = []
    row = 0
    for members in by_key.values():
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
        groups.append(_Group(info, members, slice(row, row + n), hypers, lr_curve, mom_curve, mom_key, state, plateaus))
        row += n
    return groups


def _group_schedules(specs, members, resolved, info, n_starts, n_sweep, steps):
    """Per-step lr (and cycled momentum) for a group with a scheduled run: (steps, rows, 1) arrays."""
    if not any(specs[k].schedule is not None for k in members):
        return None, None, None, []
    names = {h.name for h in info.hypers}
    mom_key = "momentum" if "momentum" in names else ("beta1" if "beta1" in names else None)
    lr_cols, mom_cols, plateaus = [], [], []
    m_total = n_starts * n_sweep
    for j, k in enumerate(members):
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
