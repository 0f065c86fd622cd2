r"""Cosine annealing: CosineAnnealingLR (torch's recursive form) and CosineAnnealingWarmRestarts.

torch's ``CosineAnnealingLR`` does not evaluate the closed form
:math:`\eta_t = \eta_{min} + (\eta_0 - \eta_{min})(1 + \cos(\pi t / T))/2`; it updates
the current lr, ``lr_t = eta_min + (lr_{t-1} - eta_min) * c_t / c_{t-1}`` with
``c_t = 1 + cos(pi t / T)``, and at the steps just after each minimum
(``t = T+1, 3T+1, ...``, where ``c_{t-1} = 0``) it adds
``(eta_0 - eta_min)(1 - cos(pi / T)) / 2`` to the lr instead. Past ``T_max`` the lr
therefore climbs back up (period ``2 T_max``). Run alone from ``eta_0`` this equals the
closed form up to rounding (measured <= 3e-12 relative for T_max up to 10^4), but it is
a different rule: it acts on whatever lr it finds, so chained with another schedule,
after a manual lr change or when resumed, it gives other numbers than the formula.
:func:`cosine_annealing_lr` follows the recursion segment by segment (between two
minima the product of the ratios telescopes to ``c_t / c_s``) and matches torch to
~1e-15; :func:`cosine_maps` gives the update itself for the chained composition.
"""

from __future__ import annotations

import math

import numpy as np

from optim_core.entries import Hyper, ScheduleInfo
from optim_core.schedules._base import (
    LRScheduler,
    check_declared,
    check_steps,
    class_snippet,
)

__all__ = [
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "cosine_annealing_lr",
    "cosine_annealing_warm_restarts",
]


_ETA_MIN_WHY = " (the lowest lr; a negative one makes the lr negative around each minimum)"


def _cosine_params(T_max, eta_min):
    owner = "CosineAnnealingLR"
    return {
        "T_max": check_declared(owner, "T_max", T_max,
                                why=" (the number of steps of a half cosine period; torch reads a negative T_max as -T_max)",
                           zero="at the first step(): `% (2 * T_max)`"),
        "eta_min": check_declared(owner, "eta_min", eta_min, why=_ETA_MIN_WHY),
    }


def _restart_params(T_0, T_mult, eta_min):
    owner = "CosineAnnealingWarmRestarts"
    # torch: isinstance(T_0, int) and isinstance(T_mult, int), a ValueError otherwise.
    return {
        "T_0": check_declared(owner, "T_0", T_0, strict=True, why=" (the number of steps before the first restart)"),
        "T_mult": check_declared(owner, "T_mult", T_mult, strict=True, why=" (the factor growing each period)"),
        "eta_min": check_declared(owner, "eta_min", eta_min, why=_ETA_MIN_WHY),
    }


def _c(t, T_max):
    """``1 + cos(pi t / T)``, evaluated in torch's order."""
    return 1 + np.cos(np.pi * np.asarray(t) / T_max)


def _special(t, T_max):
    """The steps at which torch adds instead of scaling (just after each minimum)."""
    t = np.asarray(t)
    return (t >= 1) & ((t - 1 - T_max) % (2 * T_max) == 0)


def _bump(base_lr, T_max, eta_min):
    return (base_lr - eta_min) * (1 - math.cos(math.pi / T_max)) / 2


def cosine_annealing_lr(n, base_lr, T_max, eta_min=0.0):
    r"""CosineAnnealingLR's lr for steps ``0..n-1``, as torch's recursion computes it.

    :math:`\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})(1 + \cos(\pi t / T_{max}))`
    up to ``T_max``; past it the lr rises again (a period of ``2 T_max``).
    """
    n = check_steps(n)
    p = _cosine_params(T_max, eta_min)
    T, eta = p["T_max"], p["eta_min"]
    base_lr = float(base_lr)
    t = np.arange(n)
    c = _c(t, T)
    # Segment j starts at s_j = 0 (j = 0) or s_j = (2j - 1) T + 1, just after a minimum.
    j = np.where(t <= T, 0, (t - 1 - T) // (2 * T) + 1)
    s = np.where(j == 0, 0, (2 * j - 1) * T + 1)
    # At a minimum c = 0 exactly, so torch's lr there is eta_min exactly; the next step
    # adds the bump to it, and every later segment starts from the same value.
    start_later = (eta + _bump(base_lr, T, eta)) - eta
    d_start = np.where(j == 0, base_lr - eta, start_later)
    c_ref = np.where(j == 0, 2.0, c[s])
    with np.errstate(divide="ignore", invalid="ignore"):
        d = d_start * (c / c_ref)
    lr = d + eta
    if n:
        lr[0] = base_lr
    return {"lr": lr}


def cosine_maps(n, base_lr, T_max, eta_min=0.0):
    """torch's per-step update as arrays ``(a, c, d)``: ``lr_t = a_t (lr_{t-1} - c_t) + d_t``.

    Used to chain CosineAnnealingLR with other schedules (ChainedScheduler), where its
    update acts on an lr the other schedules have changed.
    """
    n = check_steps(n)
    p = _cosine_params(T_max, eta_min)
    T, eta = p["T_max"], p["eta_min"]
    t = np.arange(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = _c(t, T) / _c(t - 1, T)
    special = _special(t, T)
    a = np.where(special, 1.0, ratio)
    c = np.where(special, 0.0, eta)
    d = np.where(special, _bump(float(base_lr), T, eta), eta)
    if n:
        a[0], c[0], d[0] = 1.0, 0.0, 0.0  # the constructor's step keeps the lr
    return a, c, d


def _restart_position(t, T_0, T_mult):
    """``(T_cur, T_i)`` for integer steps: position in the current period and its length."""
    t = np.asarray(t)
    if T_mult == 1:
        return t % T_0, np.full(t.shape, T_0)
    starts = [0]
    length = T_0
    top = int(t.max()) if t.size else 0
    while starts[-1] <= top:
        starts.append(starts[-1] + length)
        length *= T_mult
    starts = np.array(starts[:-1], dtype=np.int64)
    k = np.searchsorted(starts, t, side="right") - 1
    return t - starts[k], T_0 * np.power(T_mult, k, dtype=np.int64)


def _restart_lr(base_lr, eta_min, T_cur, T_i):
    return eta_min + (base_lr - eta_min) * (1 + np.cos(np.pi * T_cur / T_i)) / 2


def cosine_annealing_warm_restarts(n, base_lr, T_0, T_mult=1, eta_min=0.0):
    r"""CosineAnnealingWarmRestarts's lr: a cosine from ``base_lr`` to ``eta_min`` over each
    period, periods of ``T_0, T_0 T_mult, T_0 T_mult^2, ...`` steps, restarting at ``base_lr``."""
    n = check_steps(n)
    p = _restart_params(T_0, T_mult, eta_min)
    T_cur, T_i = _restart_position(np.arange(n), p["T_0"], p["T_mult"])
    return {"lr": _restart_lr(float(base_lr), p["eta_min"], T_cur, T_i)}


class CosineAnnealingLR(LRScheduler):
    """torch's ``CosineAnnealingLR(optimizer, T_max, eta_min=0.0, last_epoch=-1)``, recursive form.

    ``eta_min`` above the lr is accepted (the lr then rises to it), as torch. Refused (torch
    accepts): ``T_max=0`` (torch raises ZeroDivisionError at the first ``step()``; here a
    :class:`DividesByZeroError` at construction); ``T_max < 0`` (torch computes the
    schedule of ``-T_max``); ``eta_min < 0`` (a negative lr around each minimum).
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        p = _cosine_params(T_max, eta_min)
        self.T_max, self.eta_min = p["T_max"], p["eta_min"]
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        groups = self.optimizer.param_groups
        t, T, eta = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and t > 0:
            # Resumed with last_epoch > 0: torch starts from the closed form.
            return [eta + (base_lr - eta) * float(_c(t, T)) / 2 for base_lr in self.base_lrs]
        if _special(t, T):
            return [group["lr"] + _bump(base_lr, T, eta) for base_lr, group in zip(self.base_lrs, groups)]
        ratio = float(_c(t, T) / _c(t - 1, T))
        return [ratio * (group["lr"] - eta) + eta for group in groups]

    def _get_closed_form_lr(self):
        return [self.eta_min + (base_lr - self.eta_min) * float(_c(self.last_epoch, self.T_max)) / 2
                for base_lr in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """torch's ``CosineAnnealingWarmRestarts(optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1)`` (SGDR).

    ``step(epoch)`` accepts a fractional epoch (``epoch + i / iters``), as torch's does.
    ``T_0`` and ``T_mult`` must be integers (not ``2.0``), as torch checks. Refused (torch
    accepts): ``eta_min < 0`` (a negative lr at the end of each period).
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        p = _restart_params(T_0, T_mult, eta_min)
        self.T_0, self.T_mult, self.eta_min = p["T_0"], p["T_mult"], p["eta_min"]
        self.T_i = self.T_0
        self.T_cur = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [float(_restart_lr(base_lr, self.eta_min, self.T_cur, self.T_i)) for base_lr in self.base_lrs]

    def step(self, epoch=None):
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise ValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    k = int(math.log((epoch / self.T_0 * (self.T_mult - 1) + 1), self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**k - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**k
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


# -- registry -----------------------------------------------------------------------------
_ETA_MIN = Hyper("eta_min", 0.0, low=0.0, high=0.1, label="η_min",
                 help="The lowest lr, reached at the end of each half period.", valid="[0, inf)")

INFOS = [
    ScheduleInfo(
        name="CosineAnnealingLR",
        curve=cosine_annealing_lr,
        params=(
            Hyper("T_max", 1000, kind="int", low=1, high=20000, label="T_max",
                  help="Steps from the full lr to η_min (past it the lr climbs back).", valid="[1, inf)",
                  role="run_length"),
            _ETA_MIN,
        ),
        latex=r"\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})\left(1 + \cos\frac{\pi t}{T_{max}}\right)",
        summary="The default decay for vision and language models: smooth, no milestones to tune; set T_max "
                "to the training length.",
        pytorch=class_snippet("CosineAnnealingLR"),
        cls=CosineAnnealingLR,
    ),
    ScheduleInfo(
        name="CosineAnnealingWarmRestarts",
        curve=cosine_annealing_warm_restarts,
        params=(
            Hyper("T_0", 200, kind="int", low=1, high=5000, label="T_0",
                  help="Length of the first period.", valid="[1, inf)"),
            Hyper("T_mult", 2, kind="int", low=1, high=4, label="T_mult",
                  help="Each period is T_mult times longer than the previous.", valid="[1, inf)"),
            _ETA_MIN,
        ),
        latex=r"\eta_t = \eta_{min} + \tfrac12(\eta_0 - \eta_{min})\left(1 + \cos\frac{\pi T_{cur}}{T_i}\right),"
              r"\quad T_i = T_0\, T_{mult}^{\,i}",
        summary="SGDR: periodic restarts to escape sharp minima and to snapshot an ensemble at each minimum.",
        pytorch=class_snippet("CosineAnnealingWarmRestarts"),
        cls=CosineAnnealingWarmRestarts,
    ),
]
