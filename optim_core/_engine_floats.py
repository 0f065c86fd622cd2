"""The trajectory engine's float stepper: a few trajectories, one coordinate at a time in Python floats.

A stepper of :mod:`optim_core.engine` like its array loop (``stepper(race, lanes,
records)``: it steps the rows of ``lanes`` through every step and fills their rows of the
records), for requests of a few trajectories, where NumPy's per-call overhead would be
nearly all of a step. :func:`fits_floats` says when it may take a lane.
"""

from __future__ import annotations

import math

import numpy as np

from optim_core.optimizer import bound_kernel
from optim_core.surfaces.base import Surface

__all__ = ["FLOAT_PATH_MAX_ROWS", "fits_floats", "step_on_floats"]

# Requests with few trajectories go coordinate by coordinate in Python floats (see
# step_on_floats). Measured over 500 recorded Rosenbrock steps: floats cost ~1.5 ms per
# trajectory, arrays ~8 ms plus ~2.5 ms per algorithm group, so floats pay up to about
# 4 + 2 trajectories per group (1 group: 6; the default scene's 6 groups: 16), never above
# this cap. Re-measured when the engine was split into phases, on the Playground's default
# scene (6 optimizers x 1 start x 500 steps, everything recorded; 80 interleaved runs):
# app.playground.scene.compute took 6.0 ms median (5.8 best) with the float path, 16.7 ms (16.6)
# without; the engine call alone 6.4 ms (6.2) against 18.2 ms (18.1). 0 switches it off.
FLOAT_PATH_MAX_ROWS = 16


def _additive_noise(oracle, surface) -> bool:
    """Whether ``oracle`` is ``surface``'s exact gradient plus seeded Gaussian noise only
    (:class:`optim_core.stochastic.StochasticGradient` without mini-batches): drawn ahead in one
    block, that noise is added on floats exactly as the array loop adds it."""
    return (getattr(oracle, "additive_noise_only", False) is True and getattr(oracle, "surface", None) is surface
            and hasattr(oracle, "noise_block"))


def fits_floats(race, lane) -> bool:
    """Whether :func:`step_on_floats` can step ``lane``: a few trajectories on a built-in surface,
    exact gradients or additive Gaussian noise on them, every kernel able to run on floats, and
    none of the per-row extras it leaves to arrays (mini-batch noise, clipping, Lookahead, plateau
    schedules, Sophia's Hessians).

    Judged on the lane alone, so a lane is stepped as a request of its runs alone would be.
    """
    groups, n_rows = lane.groups, lane.rows.stop - lane.rows.start
    if not race.keep_path or n_rows > min(FLOAT_PATH_MAX_ROWS, 4 + 2 * len(groups)) or race.dtype != np.float64:
        return False
    if lane.clip_norm is not None or lane.clip_value is not None or lane.lookahead:
        return False
    surface = race.surface
    if lane.oracle is not None and not _additive_noise(lane.oracle, surface):
        return False
    if not isinstance(surface, Surface) or type(surface).value_and_grad is not Surface.value_and_grad:
        return False  # e.g. a typed formula, which evaluates through its own tree
    return all(g.info.runs_on_floats and not g.info.needs_hessian and not g.plateaus for g in groups)


def step_on_floats(race, lanes, rec) -> None:
    """The engine's array loop for a few trajectories, one coordinate at a time in Python
    floats; it fills the same records.

    With one start per run every array of a step is ``(1, 2)``, and NumPy's ~0.5 us per call
    is then nearly all the cost of a step, where a float operation takes ~30 ns. Nothing is
    computed differently: the kernels are the optimizers' own (they also run on floats,
    ``OptimizerInfo.runs_on_floats``) and ``surface._fg`` is the same expression the array
    path evaluates, so every number equals the array loop's (tests compare them exactly).
    """
    (lane,) = lanes  # only a lane of exact or additively noisy gradients fits (see fits_floats)
    T, bound, full = race.steps, race.bound, race.full
    fg = race.surface._fg
    # Additive noise (fits_floats): the array loop adds noise_scale * pairs to the exact gradient;
    # the same products, drawn for every step at once, are added here to the same floats.
    noise = None
    if lane.oracle is not None and lane.oracle.noise_scale > 0:  # (σ = 0 is the exact gradient, -0.0 kept)
        sg = lane.oracle
        noise = (sg.noise_scale * sg.noise_block(0, T + 1, race.row_start[lane.rows])).tolist()
    P = race.P[lane.rows]
    n = P.shape[0]
    xs, ys = P[:, 0].tolist(), P[:, 1].tolist()
    live = [True] * n
    frozen: list = [None] * n
    marks = []  # (row, step, reason, escape point) of each divergence
    # One entry per row: its kernel, its own hyperparameters as floats, its schedule, and
    # one state dict per coordinate. Rows of a group are consecutive, as in P.
    rows = []
    recorded: list[dict[str, list]] = []
    for g in lane.groups:
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
            rows.append((g.lane_rows.start + j, j, update, hp, lrs, moms, g.momentum_key, sx, sy, appends))

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
                                  else "the position became infinite or NaN", (x, y)))
                    x, y = frozen[r] = (hist_x[t - 1][r], hist_y[t - 1][r])
                    live[r] = False
                xs[r], ys[r] = x, y
            f, gx, gy = fg(x, y)
            fs.append(f)
            if noise is None:
                new_gx.append(float(gx))
                new_gy.append(float(gy))
            else:
                nx, ny = noise[t][r]
                new_gx.append(float(gx) + nx)
                new_gy.append(float(gy) + ny)
            if not math.isfinite(f) and live[r]:
                frozen[r] = (x, y)
                live[r] = False
                marks.append((r, t, "the loss became infinite or NaN", (x, y)))
        gxs, gys = new_gx, new_gy
        hist_x.append(xs[:])
        hist_y.append(ys[:])
        hist_f.append(fs)
        hist_gx.append(gxs)
        hist_gy.append(gys)

    rec.positions[..., 0] = hist_x
    rec.positions[..., 1] = hist_y
    rec.losses[...] = hist_f
    if full:
        rec.raw_grads[..., 0] = hist_gx[:T]
        rec.raw_grads[..., 1] = hist_gy[:T]
        rec.grads[...] = rec.raw_grads  # no clipping on this path
        for g, kept in zip(lane.groups, recorded):
            n_g = g.rows.stop - g.rows.start
            for key, values in kept.items():
                try:
                    arr = np.array(values, dtype=np.float64)
                except TypeError:  # None: a buffer not created (yet), like SGD's without momentum
                    arr = np.array([[math.nan if v is None else v for v in xy] for xy in values])
                if not np.all(np.isnan(arr)):  # never created: the array loop does not record it either
                    rec.states[g.index][key] = arr.reshape(T, n_g, 2)
    P[:, 0] = xs
    P[:, 1] = ys
    for r, step, why, escape in marks:
        rec.diverged_step[r] = step
        rec.diverged_reason[r] = why
        rec.escapes[r] = escape
