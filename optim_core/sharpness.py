"""Sharpness along trajectories: the top Hessian eigenvalue λ_max at every step, η·λ_max against
the stability threshold, and the steps where a path leaves or re-enters the stable region.

On a quadratic, gradient descent multiplies the error along an eigenvector of curvature λ by
``1 - ηλ``: it is stable while ``η·λ_max < 2`` (:func:`optim_core.analysis.quadratic_stability`).
Off quadratics the Hessian changes along the path, and Cohen et al. (ICLR 2021, "Gradient descent
on neural networks typically occurs at the edge of stability") observed that full-batch GD drives
λ_max up until ``η·λ_max`` hovers at 2. Here the Hessian is the surface's exact one
(:meth:`optim_core.surfaces.base.Surface.hessian`), evaluated at every point of a batch of paths in
one call, and its eigenvalues come from one ``eigvalsh`` on the ``(..., 2, 2)`` array.

Step s (1 ≤ s ≤ T) moves θ_{s-1} to θ_s with the lr η_s in force: its stability quantity is
``η_s · λ_max(H(θ_{s-1}))`` (:func:`step_sharpness`).

Which threshold applies depends on the optimizer (:func:`stability_threshold`): 2 for gradient
descent, 2(1+β) for heavy-ball momentum, 2(1+β)/(1+2β) for Nesterov's (torch's forms), divided by
1-τ with dampening τ. L2 weight decay λ_wd adds λ_wd to every curvature the step sees. Adaptive
methods are stable by the same kind of rule only for the *preconditioned* Hessian ``P⁻¹H``
(Cohen et al. 2022, "Adaptive gradient methods at the edge of stability"):
:func:`preconditioned_top_eigenvalue` computes its λ_max for a diagonal P.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from optim_core.analysis import quadratic_stability

__all__ = [
    "top_eigenvalue",
    "preconditioned_top_eigenvalue",
    "sharpness_along",
    "step_sharpness",
    "StabilityThreshold",
    "stability_threshold",
    "region_changes",
    "crossing_steps",
]


def top_eigenvalue(h) -> np.ndarray:
    """λ_max of symmetric ``h`` of shape ``(..., 2, 2)``: shape ``(...)``, float64 (float32 for a
    float32 ``h``). A Hessian with a NaN or infinite entry gives NaN."""
    h = np.asarray(h)
    if h.ndim < 2 or h.shape[-2:] != (2, 2):
        raise ValueError(f"expected Hessians of shape (..., 2, 2), got shape {h.shape}")
    if h.dtype != np.float32:
        h = h.astype(np.float64, copy=False)
    bad = ~np.all(np.isfinite(h), axis=(-2, -1))
    if bad.any():
        h = np.where(bad[..., None, None], 0.0, h).astype(h.dtype, copy=False)
    lam = np.linalg.eigvalsh(h)[..., -1]  # ascending: the last is the largest
    return np.where(bad, np.nan, lam).astype(h.dtype, copy=False)


def preconditioned_top_eigenvalue(h, p) -> np.ndarray:
    """λ_max of ``P⁻¹H`` for the diagonal preconditioner ``P = diag(p)`` (``p`` of shape ``(..., 2)``,
    positive), computed as the symmetric ``P^{-1/2} H P^{-1/2}``, which has the same eigenvalues.
    A non-positive or non-finite ``p`` gives NaN."""
    h = np.asarray(h, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(all="ignore"):
        s = 1.0 / np.sqrt(np.where(p > 0, p, np.nan))
        scaled = h * s[..., :, None] * s[..., None, :]
    return top_eigenvalue(scaled)


def sharpness_along(surface, positions) -> np.ndarray:
    """λ_max of ``surface``'s exact Hessian at every point of ``positions`` (shape ``(..., 2)``, e.g.
    ``(K, M, T+1, 2)`` from :class:`optim_core.engine.Trajectories`): shape ``(...)``. Points that
    are NaN (a diverged run) give NaN."""
    xy = np.asarray(positions)
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise ValueError(f"expected points of shape (..., 2), got shape {xy.shape}")
    with np.errstate(all="ignore"):
        lam = top_eigenvalue(surface.hessian(xy))
    # A surface whose Hessian is constant (a quadratic) returns it even at NaN: a diverged point has none.
    return np.where(np.all(np.isfinite(xy), axis=-1), lam, np.nan).astype(lam.dtype, copy=False)


def step_sharpness(surface, positions, lrs, shift=0.0, preconditioner=None) -> np.ndarray:
    """``η_s · λ_max(H(θ_{s-1}) + shift·I)`` for every step s = 1..T: shape ``lrs.shape`` = ``(..., T)``.

    ``positions`` has shape ``(..., T+1, 2)`` (θ_0 … θ_T), ``lrs`` ``(..., T)`` (the lr in force at
    each step, a schedule's included); ``shift`` (broadcast against ``(..., T)``) is the curvature
    L2 weight decay adds (:attr:`StabilityThreshold.shift`). With ``preconditioner``, the diagonal
    ``P`` of each step (shape ``(..., T, 2)``), the eigenvalue is that of ``P⁻¹(H + shift·I)``
    (:func:`preconditioned_top_eigenvalue`).
    """
    xy = np.asarray(positions)
    lr = np.asarray(lrs, dtype=np.float64)
    if xy.ndim < 2 or xy.shape[-1] != 2 or xy.shape[:-2] != lr.shape[:-1] or xy.shape[-2] != lr.shape[-1] + 1:
        raise ValueError(f"positions (..., T+1, 2) and lrs (..., T) do not match: {xy.shape} and {lr.shape}")
    with np.errstate(all="ignore"):
        before = xy[..., :-1, :]
        h = np.asarray(surface.hessian(before), dtype=np.float64)
        h = np.where(np.all(np.isfinite(before), axis=-1)[..., None, None], h, np.nan)  # diverged: no Hessian
        shift = np.asarray(shift, dtype=np.float64)
        if np.any(shift != 0):
            h = h + shift[..., None, None] * np.eye(2)
        if preconditioner is None:
            lam = top_eigenvalue(h)
        else:
            p = np.asarray(preconditioner, dtype=np.float64)
            if p.shape != h.shape[:-1]:
                raise ValueError(f"preconditioner must have shape {h.shape[:-1]}, got {p.shape}")
            lam = preconditioned_top_eigenvalue(h, p)
        return lr * lam


@dataclass(frozen=True)
class StabilityThreshold:
    """The stable region of an optimizer on a quadratic: ``η·(λ_max + shift) < threshold``.

    ``kind`` is ``"gd"``, ``"heavy_ball"`` or ``"nesterov"`` when the rule is the optimizer's own
    (``applies``); for any other optimizer it is ``"preconditioned"`` (an adaptive method: the
    rule holds for ``η·λ_max(P⁻¹H)`` against ``preconditioned``, the threshold given here being
    gradient descent's 2, as a yardstick) or ``"none"`` (no rule of this form: 2 as a yardstick).
    """

    kind: str
    threshold: float
    shift: float = 0.0  # L2 weight decay's curvature, added to λ_max
    beta: float = 0.0  # the momentum in the rule (β₁ for Adam-like methods)
    dampening: float = 0.0
    preconditioned: float = math.nan  # the threshold on η·λ_max(P⁻¹H) for an adaptive method

    @property
    def applies(self) -> bool:
        return self.kind in ("gd", "heavy_ball", "nesterov")


# Adaptive methods whose step is (a momentum of) g / P with a diagonal P, and the hyperparameter that
# is their momentum: an exponential average m ← βm + (1-β)g, i.e. heavy ball with lr η(1-β).
_EMA_MOMENTUM = {"Adam": "beta1", "AdamW": "beta1", "NAdam": "beta1", "RAdam": "beta1", "Adam8bit": "beta1",
                 "Adamax": "beta1"}
_PLAIN_PRECONDITIONED = ("RMSprop", "Adagrad")


def stability_threshold(optimizer: str, hypers: Mapping[str, Any] | None = None) -> StabilityThreshold:
    """The rule for ``optimizer`` (a registry name) with ``hypers`` (missing ones at torch's defaults).

    SGD: ``2`` (no momentum), ``2(1+β)`` (heavy ball), ``2(1+β)/(1+2β)`` (Nesterov), each divided by
    ``1-τ`` for dampening τ (the buffer then holds ``(1-τ)g``: the same rule with lr ``η(1-τ)``);
    ``shift`` is the weight decay. Adam-like methods: the preconditioned threshold
    ``2(1+β₁)/(1-β₁)`` (their momentum is an average); RMSprop: ``2(1+μ)`` with its momentum μ;
    Adagrad: 2. Anything else (sign methods, trust ratios, Hessian estimates): kind ``"none"``.
    """
    hp = dict(hypers or {})

    def number(name: str, default: float = 0.0) -> float:
        v = hp.get(name, default)
        try:
            return float(v) if v is not None else default
        except (TypeError, ValueError):
            return default

    if optimizer == "SGD":
        beta, tau = number("momentum"), number("dampening")
        wd = number("weight_decay")
        if beta == 0:
            return StabilityThreshold("gd", quadratic_stability(1.0, 1.0)["gd_max_lr"], wd)
        th = quadratic_stability(1.0, 1.0, beta)
        if hp.get("nesterov"):
            return StabilityThreshold("nesterov", th["nesterov_max_lr"], wd, beta)
        limit = th["heavy_ball_max_lr"] / (1.0 - tau) if tau < 1 else math.inf
        return StabilityThreshold("heavy_ball", limit, wd, beta, tau)
    gd = quadratic_stability(1.0, 1.0)["gd_max_lr"]
    if optimizer in _EMA_MOMENTUM:
        beta = number(_EMA_MOMENTUM[optimizer], 0.9)
        pre = quadratic_stability(1.0, 1.0, beta)["heavy_ball_max_lr"] / (1.0 - beta) if beta < 1 else math.inf
        return StabilityThreshold("preconditioned", gd, beta=beta, preconditioned=pre)
    if optimizer in _PLAIN_PRECONDITIONED:
        beta = number("momentum") if optimizer == "RMSprop" else 0.0
        pre = quadratic_stability(1.0, 1.0, beta)["heavy_ball_max_lr"] if beta else gd
        return StabilityThreshold("preconditioned", gd, beta=beta, preconditioned=pre)
    return StabilityThreshold("none", gd)


def region_changes(values, threshold) -> np.ndarray:
    """Where a sequence of η·λ_max crosses ``threshold``: int8 of ``values``' shape ``(..., T)``, +1 at
    index t where it leaves the stable region (``values[t] >= threshold`` after ``values[t-1] <
    threshold``), -1 where it comes back (the reverse), 0 elsewhere. Index 0 is never a crossing;
    a NaN on either side of a pair is none either. ``threshold`` broadcasts against ``(..., T)``
    (one per run: shape ``(..., 1)``)."""
    q = np.asarray(values, dtype=np.float64)
    if q.ndim == 0:
        raise ValueError("expected a sequence of values, shape (..., T)")
    thr = np.asarray(threshold, dtype=np.float64)
    out = np.zeros(q.shape, dtype=np.int8)
    if q.shape[-1] < 2:
        return out
    with np.errstate(invalid="ignore"):
        unstable = q >= thr
    finite = np.isfinite(q)
    both = finite[..., 1:] & finite[..., :-1]
    out[..., 1:] = np.where(both, unstable[..., 1:].astype(np.int8) - unstable[..., :-1].astype(np.int8), 0)
    return out


def crossing_steps(values, threshold) -> tuple[np.ndarray, np.ndarray]:
    """For one run's η·λ_max per step (``values[t]`` belongs to step t+1): the steps where the path
    leaves the stable region and those where it re-enters it, as two int64 arrays of 1-based steps."""
    q = np.asarray(values, dtype=np.float64)
    if q.ndim != 1:
        raise ValueError(f"expected one run's values, shape (T,), got shape {q.shape}")
    ch = region_changes(q, threshold)
    return np.flatnonzero(ch > 0).astype(np.int64) + 1, np.flatnonzero(ch < 0).astype(np.int64) + 1
