"""Analyses built on one engine call each: convergence maps, sensitivity maps, stability theory.

A convergence map runs one optimizer from every point of a grid of starts; a sensitivity
map runs it from one start over a grid of two hyperparameters. Both are a single
vectorized :func:`run_trajectories` call in ``record="final"`` mode, so a 200 x 200 map
costs about what 300 steps of one (40000, 2) array cost. Convergence maps compute in
float32 by default (as torch trains by default): they are bound by memory traffic over
40,000 rows, and float32 halves it. A map's colours do not depend on the last digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from optim_core.engine import RunSpec, Trajectories, run_trajectories

__all__ = [
    "ConvergenceMap",
    "SensitivityMap",
    "convergence_map",
    "sensitivity_map",
    "quadratic_stability",
    "empirical_max_stable_lr",
]


@dataclass
class ConvergenceMap:
    """Per start point on an ``(n, n)`` grid (row = y, column = x)."""

    xs: np.ndarray
    ys: np.ndarray
    steps_to_converge: np.ndarray  # first step whose loss <= threshold, -1 if never
    basin: np.ndarray  # index of the known minimum the run ends at (within tol), -1 otherwise
    diverged: np.ndarray
    final_loss: np.ndarray
    threshold: float
    minima: np.ndarray


@dataclass
class SensitivityMap:
    """Per hyperparameter pair on a ``(len(y_values), len(x_values))`` grid."""

    x_param: str
    y_param: str
    x_values: np.ndarray
    y_values: np.ndarray
    final_loss: np.ndarray
    steps_to_threshold: np.ndarray
    diverged: np.ndarray
    threshold: float


def _window(surface, window) -> tuple[tuple[float, float], tuple[float, float]]:
    (x0, x1), (y0, y1) = window if window is not None else surface.window
    return (float(x0), float(x1)), (float(y0), float(y1))


def convergence_map(
    surface,
    spec: RunSpec,
    n: int = 100,
    steps: int = 300,
    window=None,
    threshold: float | None = None,
    basin_tol: float | None = None,
    oracle=None,
    dtype=np.float32,
) -> ConvergenceMap:
    """Run ``spec`` from each of ``n x n`` starts covering the window.

    ``basin_tol`` is how close to a known minimum a run must end to count as having
    reached it (default: 2% of the window's diagonal). ``dtype=np.float64`` gives runs
    equal, number for number, to single float64 runs from the same starts.
    """
    n = int(n)
    if not 2 <= n <= 200:
        raise ValueError(f"a convergence map is between 2 x 2 and 200 x 200 starts, got {n}")
    (x0, x1), (y0, y1) = _window(surface, window)
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    X, Y = np.meshgrid(xs, ys)
    starts = np.stack([X.ravel(), Y.ravel()], axis=-1)
    parts = [_run_block(surface, spec, starts[lo : lo + BLOCK_ROWS], lo, steps, threshold, oracle, dtype)
             for lo in range(0, len(starts), BLOCK_ROWS)]
    tr = parts[0]

    def joined(attr):
        return np.concatenate([getattr(p, attr)[0] for p in parts])

    if basin_tol is None:
        basin_tol = 0.02 * math.hypot(x1 - x0, y1 - y0)
    basin = np.where(joined("distance_to_minimum") <= basin_tol, joined("nearest_minimum"), -1)
    return ConvergenceMap(
        xs=xs,
        ys=ys,
        steps_to_converge=joined("steps_to_threshold").reshape(n, n),
        basin=basin.reshape(n, n),
        diverged=joined("diverged").reshape(n, n),
        final_loss=joined("final_losses").reshape(n, n),
        threshold=tr.threshold,
        minima=tr.minima,
    )


# Starts per engine call in a map: the step's temporaries (at most 128 kB) then stay in
# cache and below the sizes where glibc's malloc starts returning memory to the system and
# faulting it in again (see optim_core.optimizer.CHUNK_BYTES). Measured on this machine
# for 200 x 200 x 300 Adam steps on Rosenbrock: float32 124-129 ms with 8192 or 16384 rows
# (but 208 ms in one loaded run with 16384), 186 ms with 4096; float64 198-205 ms.
BLOCK_ROWS = 8192


def _run_block(surface, spec, block, lo, steps, threshold, oracle, dtype) -> Trajectories:
    # Noise is drawn per start index: keep the global index so blocking changes nothing.
    shifted = None if oracle is None else (lambda xy, t, rows: oracle(xy, t, rows + lo))
    return run_trajectories(surface, [spec], block, steps, record="final", threshold=threshold, oracle=shifted,
                            dtype=dtype)


def sensitivity_map(
    surface,
    optimizer: str,
    x_param: str,
    x_values: Sequence[float],
    y_param: str,
    y_values: Sequence[float],
    start: Sequence[float],
    steps: int = 300,
    base_hypers: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    oracle=None,
    **run_options: Any,
) -> SensitivityMap:
    """Final loss and steps-to-threshold over a grid of two hyperparameters, from one start.

    ``run_options`` go to :class:`RunSpec` (``schedule``, ``clip_norm``, ``lookahead``).
    """
    if x_param == y_param:
        raise ValueError("choose two different hyperparameters")
    xv = np.asarray(x_values, dtype=np.float64).ravel()
    yv = np.asarray(y_values, dtype=np.float64).ravel()
    X, Y = np.meshgrid(xv, yv)
    hypers = dict(base_hypers or {})
    hypers[x_param] = X.ravel()
    hypers[y_param] = Y.ravel()
    spec = RunSpec(optimizer, hypers, **run_options)
    tr = run_trajectories(surface, [spec], np.asarray(start, dtype=np.float64)[None, :], steps,
                          record="final", threshold=threshold, oracle=oracle)
    shape = (yv.size, xv.size)
    return SensitivityMap(
        x_param=x_param,
        y_param=y_param,
        x_values=xv,
        y_values=yv,
        final_loss=tr.final_losses[0].reshape(shape),
        steps_to_threshold=tr.steps_to_threshold[0].reshape(shape),
        diverged=tr.diverged[0].reshape(shape),
        threshold=tr.threshold,
    )


def quadratic_stability(L: float, mu: float, beta: float | None = None) -> dict[str, float]:
    r"""Stability theory of gradient descent on a quadratic with Hessian eigenvalues in [μ, L].

    For the eigenvalue λ, GD multiplies the error by ``1 - ηλ``: stable iff ``η < 2/L``,
    fastest at ``η = 2/(L+μ)`` with rate ``(κ-1)/(κ+1)``. Heavy-ball momentum (torch's
    SGD form, ``b ← βb + g``, ``θ ← θ - ηb``) has characteristic polynomial
    ``z² - (1+β-ηλ)z + β``: stable iff ``η < 2(1+β)/L``; its optimum is
    ``β* = ((√κ-1)/(√κ+1))²``, ``η* = 4/(√L+√μ)²`` with rate ``√β*``. Nesterov (torch's form)
    is stable iff ``η < 2(1+β)/(L(1+2β))``.
    """
    L, mu = float(L), float(mu)
    if not (L > 0 and mu > 0 and mu <= L):
        raise ValueError(f"need 0 < mu <= L, got mu={mu}, L={L}")
    kappa = L / mu
    sk = math.sqrt(kappa)
    out = {
        "L": L,
        "mu": mu,
        "kappa": kappa,
        "gd_max_lr": 2.0 / L,
        "gd_optimal_lr": 2.0 / (L + mu),
        "gd_rate": (kappa - 1) / (kappa + 1),
        "optimal_momentum": ((sk - 1) / (sk + 1)) ** 2,
        "optimal_momentum_lr": 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2,
        "momentum_rate": (sk - 1) / (sk + 1),
    }
    if beta is not None:
        beta = float(beta)
        out["beta"] = beta
        out["heavy_ball_max_lr"] = 2.0 * (1.0 + beta) / L
        out["nesterov_max_lr"] = 2.0 * (1.0 + beta) / (L * (1.0 + 2.0 * beta))
    return out


def empirical_max_stable_lr(
    surface,
    optimizer: str,
    hypers: Mapping[str, Any] | None,
    start: Sequence[float],
    steps: int,
    lrs: Sequence[float],
) -> tuple[float, Trajectories]:
    """The largest lr of ``lrs`` whose run neither diverges nor ends above its starting loss.

    All lrs run as one sweep; returns ``(lr, trajectories)`` with ``lr = nan`` if none is stable.
    """
    lrs = np.sort(np.asarray(lrs, dtype=np.float64).ravel())
    spec = RunSpec(optimizer, {**dict(hypers or {}), "lr": lrs})
    start = np.asarray(start, dtype=np.float64)[None, :]
    tr = run_trajectories(surface, [spec], start, steps, record="final")
    f0 = float(surface.value(start)[0])
    stable = ~tr.diverged[0] & (tr.final_losses[0] <= f0)
    # Stability is monotone in lr on a quadratic; take the last stable lr before the first unstable one.
    first_bad = int(np.argmin(stable)) if not stable.all() else lrs.size
    return (float(lrs[first_bad - 1]) if first_bad > 0 else float("nan")), tr
