r"""Warm-up schedules of transformer training: linear warm-up, then a cosine or polynomial decay.

Adaptive optimizers take their largest steps relative to the gradient scale at the very
start, when Adam's second-moment estimate rests on a handful of gradients; ramping the
lr up from 0 over the first steps (often 1-10% of the run) keeps those steps small, and
the decay then brings the lr down for the end of training.

Both are Hugging Face transformers' schedules, number for number: ``WarmupCosine`` is
``get_cosine_schedule_with_warmup`` (with ``min_lr_ratio > 0``,
``get_cosine_with_min_lr_schedule_with_warmup(min_lr_rate=...)``) and
``WarmupPolynomial`` is ``get_polynomial_decay_schedule_with_warmup``. Both are a
``LambdaLR`` factor of the step: the warm-up :math:`t / \max(1, W)` for :math:`t < W`,
then the decay with progress :math:`p = (t - W) / \max(1, T - W)`. Our names for
transformers' arguments: ``warmup_steps`` = ``num_warmup_steps``, ``total_steps`` =
``num_training_steps``, ``min_lr_ratio`` = ``min_lr_rate``, ``end_lr`` = ``lr_end``.

As in transformers, the progress is not clipped: stepped past ``total_steps`` the cosine
goes on (with ``num_cycles=0.5`` the lr climbs back towards the peak, as
CosineAnnealingLR's does past ``T_max``), while the polynomial holds ``end_lr``. And as
there, ``end_lr`` is an absolute lr for the optimizer's default lr
(``optimizer.defaults["lr"]``, which must exceed it): a param group with another lr
decays to ``end_lr`` scaled by the ratio of the two.

Refused (transformers accepts): ``warmup_steps > total_steps`` (the decay then has no
steps: transformers' cosine jumps between its extremes at every step after the warm-up,
its polynomial drops to ``end_lr`` at once); a negative ``warmup_steps``;
``min_lr_ratio`` outside [0, 1] (the floor as a fraction of the peak); ``end_lr < 0`` (a
negative lr). For WarmupPolynomial ``total_steps == warmup_steps`` and ``power < 0``
raise a :class:`~optim_core.schedules._base.DividesByZeroError` (transformers:
ZeroDivisionError at step ``warmup_steps``, resp. ``total_steps``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optim_core.entries import Hyper, ScheduleInfo
from optim_core.schedules._base import (
    check_declared,
    DividesByZeroError,
    LRScheduler,
    check_int,
    check_optimizer,
    check_real,
    check_steps,
    ADAMW_STAND_IN,
    fmt,
    torch_snippet,
)

__all__ = ["WarmupCosine", "WarmupPolynomial", "warmup_cosine", "warmup_polynomial"]


# -- argument checks ------------------------------------------------------------------------
def _warmup_params(owner, warmup_steps, total_steps, low_total=1):
    w = check_declared(owner, "warmup_steps", warmup_steps, why=" (the length of the linear warm-up)")
    t = check_int(owner, "total_steps", total_steps, low=low_total, why=" (the step at which the decay ends)")
    if t < w:
        raise ValueError(f"{owner}: total_steps ({t}) must be >= warmup_steps ({w}): the decay starts after the warm-up")
    return w, t


def _cosine_params(warmup_steps, total_steps, min_lr_ratio, num_cycles):
    owner = "WarmupCosine"
    w, t = _warmup_params(owner, warmup_steps, total_steps)
    r = check_declared(owner, "min_lr_ratio", min_lr_ratio,
                       why=" (the floor as a fraction of the peak lr)")
    c = check_declared(owner, "num_cycles", num_cycles, why=" (the number of cosine waves; 0.5 is a half wave)")
    return {"warmup_steps": w, "total_steps": t, "min_lr_ratio": r, "num_cycles": c}


def _polynomial_params(warmup_steps, total_steps, power, end_lr, lr_init):
    owner = "WarmupPolynomial"
    w, t = _warmup_params(owner, warmup_steps, total_steps, low_total=0)  # t > w >= 0 below
    if t == w:
        raise DividesByZeroError(
            f"{owner}: total_steps ({t}) must be > warmup_steps ({w}): the decay needs a step (transformers "
            f"divides by zero at step {w}: `(step - warmup_steps) / (total_steps - warmup_steps)`)"
        )
    power = check_real(owner, "power", power, why=" (the decay's exponent)")
    if power < 0:
        raise DividesByZeroError(
            f"{owner}: power must lie in [0, inf), got {power!r} (transformers divides by zero at step "
            f"total_steps: `0.0 ** power`)"
        )
    end_lr = check_declared(owner, "end_lr", end_lr, why=" (the lr at total_steps; a negative one is a "
                                                             "negative lr)")
    lr_init = check_real(owner, "the optimizer's default lr", lr_init)
    if not (lr_init > end_lr):  # transformers' check, with its message
        raise ValueError(f"lr_end ({end_lr}) must be smaller than initial lr ({lr_init})")
    return {"warmup_steps": w, "total_steps": t, "power": power, "end_lr": end_lr, "lr_init": lr_init}


def _default_lr(optimizer) -> float:
    """transformers' ``lr_init``: ``optimizer.defaults["lr"]`` (else the first group's initial lr)."""
    defaults = getattr(optimizer, "defaults", None)
    if isinstance(defaults, Mapping) and defaults.get("lr") is not None:
        return defaults["lr"]
    group = optimizer.param_groups[0]
    return group.get("initial_lr", group["lr"])


# -- the LambdaLR factors, in transformers' arithmetic ----------------------------------------
def _warmup_cosine_factor(t, warmup_steps, total_steps, min_lr_ratio, num_cycles):
    t = np.asarray(t)
    progress = (t - warmup_steps) / max(1, total_steps - warmup_steps)
    factor = 0.5 * (1.0 + np.cos(np.pi * float(num_cycles) * 2.0 * progress))
    factor = np.maximum(0.0, factor * (1 - min_lr_ratio) + min_lr_ratio)
    return np.where(t < warmup_steps, t / max(1, warmup_steps), factor)


def _warmup_polynomial_factor(t, warmup_steps, total_steps, power, end_lr, lr_init):
    t = np.asarray(t)
    pct_remaining = 1 - (t - warmup_steps) / (total_steps - warmup_steps)
    with np.errstate(invalid="ignore"):  # past total_steps pct_remaining < 0, a branch not taken
        decay = (lr_init - end_lr) * pct_remaining**power + end_lr
    return np.where(t < warmup_steps, t / max(1, warmup_steps),
                    np.where(t > total_steps, end_lr / lr_init, decay / lr_init))


# -- pure curves --------------------------------------------------------------------------------
def warmup_cosine(n, base_lr, warmup_steps, total_steps, min_lr_ratio=0.0, num_cycles=0.5):
    r"""Linear warm-up from 0 to ``base_lr`` over ``warmup_steps``, then ``num_cycles``
    cosine waves (a half wave by default) down to ``min_lr_ratio * base_lr`` at ``total_steps``:
    :math:`\eta_t = \eta_0 \max\!\left(0,\ r + (1 - r)\tfrac12(1 + \cos 2\pi c\,p)\right)`,
    transformers' ``get_cosine_schedule_with_warmup``; past ``total_steps`` the cosine goes on."""
    n = check_steps(n)
    p = _cosine_params(warmup_steps, total_steps, min_lr_ratio, num_cycles)
    return {"lr": float(base_lr) * _warmup_cosine_factor(np.arange(n), **p)}


def warmup_polynomial(n, base_lr, warmup_steps, total_steps, power=1.0, end_lr=1e-7, lr_init=None):
    r"""Linear warm-up from 0 to ``base_lr``, then :math:`\eta_{end} + (\eta_0 - \eta_{end})(1 - p)^{power}`
    until ``total_steps``, ``end_lr`` after: transformers' ``get_polynomial_decay_schedule_with_warmup``
    (BERT's linear decay is ``power=1``). ``lr_init`` is the optimizer's default lr the
    decay is computed for (default ``base_lr``); a group of another lr is scaled by ``base_lr / lr_init``."""
    n = check_steps(n)
    base_lr = float(base_lr)
    p = _polynomial_params(warmup_steps, total_steps, power, end_lr, base_lr if lr_init is None else lr_init)
    return {"lr": base_lr * _warmup_polynomial_factor(np.arange(n), **p)}


# -- classes -------------------------------------------------------------------------------------
class WarmupCosine(LRScheduler):
    """``WarmupCosine(optimizer, warmup_steps, total_steps, min_lr_ratio=0.0, num_cycles=0.5, last_epoch=-1)``:
    transformers' ``get_cosine_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps,
    num_cycles, last_epoch)`` (``min_lr_ratio``: ``get_cosine_with_min_lr_schedule_with_warmup``'s
    ``min_lr_rate``), each group scaled from its own initial lr. What transformers accepts
    and we refuse is listed in :mod:`optim_core.schedules.warmup`."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr_ratio=0.0, num_cycles=0.5, last_epoch=-1):
        p = _cosine_params(warmup_steps, total_steps, min_lr_ratio, num_cycles)
        self.warmup_steps, self.total_steps = p["warmup_steps"], p["total_steps"]
        self.min_lr_ratio, self.num_cycles = p["min_lr_ratio"], p["num_cycles"]
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        f = float(_warmup_cosine_factor(self.last_epoch, self.warmup_steps, self.total_steps, self.min_lr_ratio,
                                        self.num_cycles))
        return [base_lr * f for base_lr in self.base_lrs]


class WarmupPolynomial(LRScheduler):
    """``WarmupPolynomial(optimizer, warmup_steps, total_steps, power=1.0, end_lr=1e-7, last_epoch=-1)``:
    transformers' ``get_polynomial_decay_schedule_with_warmup(optimizer, num_warmup_steps,
    num_training_steps, lr_end, power, last_epoch)``. ``end_lr`` is reached by the group whose
    lr is the optimizer's default lr; every group is ``its initial lr * factor(t)``. What
    transformers accepts and we refuse is listed in :mod:`optim_core.schedules.warmup`."""

    def __init__(self, optimizer, warmup_steps, total_steps, power=1.0, end_lr=1e-7, last_epoch=-1):
        check_optimizer(optimizer)
        p = _polynomial_params(warmup_steps, total_steps, power, end_lr, _default_lr(optimizer))
        self.warmup_steps, self.total_steps = p["warmup_steps"], p["total_steps"]
        self.power, self.end_lr, self.lr_init = p["power"], p["end_lr"], p["lr_init"]
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        f = float(_warmup_polynomial_factor(self.last_epoch, self.warmup_steps, self.total_steps, self.power,
                                            self.end_lr, self.lr_init))
        return [base_lr * f for base_lr in self.base_lrs]


# -- registry -----------------------------------------------------------------------------
def _warmup_cosine_pytorch(base_lr=5e-4, n_steps=1000, optimizer=None, hypers=None, warmup_steps=100,
                           total_steps=1000, min_lr_ratio=0.1, num_cycles=0.5):
    body = f"""warmup_steps, total_steps = {warmup_steps}, {total_steps}
min_lr_ratio, num_cycles = {fmt(min_lr_ratio)}, {fmt(num_cycles)}


# = transformers.get_cosine_with_min_lr_schedule_with_warmup(optimizer, warmup_steps, total_steps,
#       num_cycles=num_cycles, min_lr_rate=min_lr_ratio)  (get_cosine_schedule_with_warmup when the ratio is 0)
def lr_lambda(step):
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    return max(0.0, factor * (1 - min_lr_ratio) + min_lr_ratio)

"""
    return torch_snippet("scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)",
                         base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers,
                         stand_in=ADAMW_STAND_IN, preamble=body)


def _warmup_polynomial_pytorch(base_lr=5e-4, n_steps=1000, optimizer=None, hypers=None, warmup_steps=100,
                               total_steps=1000, power=1.0, end_lr=1e-7):
    body = f"""lr_init, lr_end = {fmt(base_lr)}, {fmt(end_lr)}  # lr_init: the optimizer's default lr
warmup_steps, total_steps, power = {warmup_steps}, {total_steps}, {fmt(power)}


# = transformers.get_polynomial_decay_schedule_with_warmup(optimizer, warmup_steps, total_steps,
#       lr_end=lr_end, power=power)
def lr_lambda(step):  # LambdaLR multiplies this by each group's initial lr
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    if step > total_steps:
        return lr_end / lr_init
    pct_remaining = 1 - (step - warmup_steps) / (total_steps - warmup_steps)
    return ((lr_init - lr_end) * pct_remaining**power + lr_end) / lr_init

"""
    return torch_snippet("scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)",
                         base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers,
                         stand_in=ADAMW_STAND_IN, preamble=body)


def _warmup_hypers():
    return (
        Hyper("warmup_steps", 100, kind="int", low=0, high=5000, label="warm-up steps",
              help="Steps of linear warm-up from 0 to the peak lr.", valid="[0, inf)"),
        Hyper("total_steps", 1000, kind="int", low=1, high=20000, label="total steps",
              help="Step at which the decay reaches its floor (set it to the run's length: past it the cosine "
                   "goes on, the polynomial holds its end lr).", valid="[1, inf)", role="run_length"),
    )


INFOS = [
    ScheduleInfo(
        name="WarmupCosine",
        curve=warmup_cosine,
        params=(
            *_warmup_hypers(),
            Hyper("min_lr_ratio", 0.1, low=0.0, high=1.0, label="floor ratio",
                  help="Final lr as a fraction of the peak (transformers' min_lr_rate).", valid="[0, 1]"),
            Hyper("num_cycles", 0.5, low=0.0, high=3.0, label="cycles",
                  help="Cosine waves over the decay: 0.5 goes once from the peak to the floor (transformers' "
                       "num_cycles).", valid=""),
        ),
        latex=r"\eta_t = \eta_0 \begin{cases} t / W & t < W \\ r + (1 - r)\,\tfrac12\left(1 + \cos 2\pi c\,p\right) & t \ge W"
              r"\end{cases}, \quad p = \frac{t - W}{T - W}",
        summary="The transformer standard (GPT, ViT, LLaMA): warm up over the first ~1-10% of steps, then cosine "
                "decay to ~10% of the peak.",
        pytorch=_warmup_cosine_pytorch,
        cls=WarmupCosine,
    ),
    ScheduleInfo(
        name="WarmupPolynomial",
        curve=warmup_polynomial,
        params=(
            *_warmup_hypers(),
            Hyper("power", 1.0, low=0.1, high=5.0, label="power",
                  help="1: linear decay (BERT); larger: faster early decay.", valid="[0, inf)"),
            Hyper("end_lr", 0.0, low=0.0, high=0.01, label="end lr",
                  help="The lr reached at total_steps and held after (transformers' lr_end; below the peak lr).",
                  valid="[0, inf)"),
        ),
        latex=r"\eta_t = \begin{cases} \eta_0\, t / W & t < W \\ \eta_{end} + (\eta_0 - \eta_{end})(1 - p)^{k} & W \le t \le T"
              r"\\ \eta_{end} & t > T \end{cases}, \quad p = \frac{t - W}{T - W}",
        summary="BERT's recipe (power 1: warm-up then linear decay to 0); other powers give the 'poly' decays "
                "of fine-tuning scripts.",
        pytorch=_warmup_polynomial_pytorch,
        cls=WarmupPolynomial,
    ),
]
