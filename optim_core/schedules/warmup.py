r"""Warm-up schedules of transformer training: linear warm-up, then a cosine or polynomial decay.

Adaptive optimizers take their largest steps relative to the gradient scale at the very
start, when Adam's second-moment estimate rests on a handful of gradients; ramping the
lr up from 0 over the first steps (often 1-10% of the run) keeps those steps small, and
the decay then brings the lr down for the end of training. Both are written here as
torch users write them, a ``LambdaLR`` factor of the step: warm-up
:math:`t / \max(1, W)` for :math:`t < W`, then the decay with progress
:math:`p = \mathrm{clip}((t - W) / \max(1, T - W), 0, 1)`. Unlike a bare cosine the
progress is clipped, so the lr stays at its floor after ``total_steps``.
"""

from __future__ import annotations

import numpy as np

from optim_core.registry import Hyper, ScheduleInfo
from optim_core.schedules._base import LRScheduler, check_int, check_real, check_steps, fmt, torch_snippet

__all__ = ["WarmupCosine", "WarmupPolynomial", "warmup_cosine", "warmup_polynomial"]


def _warmup_params(owner, warmup_steps, total_steps):
    w = check_int(owner, "warmup_steps", warmup_steps, low=0, why=" (the length of the linear warm-up)")
    t = check_int(owner, "total_steps", total_steps, low=1, why=" (the step at which the decay ends)")
    if t < w:
        raise ValueError(f"{owner}: total_steps ({t}) must be >= warmup_steps ({w}): the decay starts after the warm-up")
    return w, t


def _progress(t, warmup_steps, total_steps):
    t = np.asarray(t, dtype=np.float64)
    return t, np.clip((t - warmup_steps) / max(1, total_steps - warmup_steps), 0.0, 1.0)


def _warmup_cosine_factor(t, warmup_steps, total_steps, min_lr_ratio):
    t, p = _progress(t, warmup_steps, total_steps)
    decay = min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1.0 + np.cos(np.pi * p))
    return np.where(t < warmup_steps, t / max(1, warmup_steps), decay)


def _warmup_polynomial_lr(t, base_lr, warmup_steps, total_steps, power, end_lr):
    t, p = _progress(t, warmup_steps, total_steps)
    decay = end_lr + (base_lr - end_lr) * (1 - p) ** power
    return np.where(t < warmup_steps, base_lr * (t / max(1, warmup_steps)), decay)


def warmup_cosine(n, base_lr, warmup_steps, total_steps, min_lr_ratio=0.0):
    r"""Linear warm-up from 0 to ``base_lr`` over ``warmup_steps``, then a cosine down to
    ``min_lr_ratio * base_lr`` at ``total_steps`` (held after):
    :math:`\eta_t = \eta_0 \left(r + (1 - r)\tfrac12(1 + \cos \pi p)\right)`."""
    n = check_steps(n)
    w, T = _warmup_params("WarmupCosine", warmup_steps, total_steps)
    r = check_real("WarmupCosine", "min_lr_ratio", min_lr_ratio, low=0.0, high=1.0,
                   why=" (the floor as a fraction of the peak lr)")
    return {"lr": float(base_lr) * _warmup_cosine_factor(np.arange(n), w, T, r)}


def warmup_polynomial(n, base_lr, warmup_steps, total_steps, power=1.0, end_lr=0.0):
    r"""Linear warm-up from 0 to ``base_lr``, then :math:`\eta_{end} + (\eta_0 - \eta_{end})(1 - p)^{power}`
    (BERT's linear decay is ``power=1, end_lr=0``); ``end_lr`` is held after ``total_steps``."""
    n = check_steps(n)
    w, T = _warmup_params("WarmupPolynomial", warmup_steps, total_steps)
    power = check_real("WarmupPolynomial", "power", power, low=0.0, why=" (the decay's exponent)")
    end_lr = check_real("WarmupPolynomial", "end_lr", end_lr, low=0.0, why=" (the lr at total_steps)")
    return {"lr": _warmup_polynomial_lr(np.arange(n), float(base_lr), w, T, power, end_lr)}


class WarmupCosine(LRScheduler):
    """``WarmupCosine(optimizer, warmup_steps, total_steps, min_lr_ratio=0.0, last_epoch=-1)``:
    the LambdaLR of :func:`warmup_cosine`, each group scaled from its own initial lr."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr_ratio=0.0, last_epoch=-1):
        self.warmup_steps, self.total_steps = _warmup_params("WarmupCosine", warmup_steps, total_steps)
        self.min_lr_ratio = check_real("WarmupCosine", "min_lr_ratio", min_lr_ratio, low=0.0, high=1.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        f = float(_warmup_cosine_factor(self.last_epoch, self.warmup_steps, self.total_steps, self.min_lr_ratio))
        return [base_lr * f for base_lr in self.base_lrs]


class WarmupPolynomial(LRScheduler):
    """``WarmupPolynomial(optimizer, warmup_steps, total_steps, power=1.0, end_lr=0.0, last_epoch=-1)``:
    linear warm-up, then polynomial decay of each group from its initial lr to ``end_lr``."""

    def __init__(self, optimizer, warmup_steps, total_steps, power=1.0, end_lr=0.0, last_epoch=-1):
        self.warmup_steps, self.total_steps = _warmup_params("WarmupPolynomial", warmup_steps, total_steps)
        self.power = check_real("WarmupPolynomial", "power", power, low=0.0)
        self.end_lr = check_real("WarmupPolynomial", "end_lr", end_lr, low=0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [float(_warmup_polynomial_lr(self.last_epoch, base_lr, self.warmup_steps, self.total_steps,
                                            self.power, self.end_lr))
                for base_lr in self.base_lrs]


# -- registry -----------------------------------------------------------------------------
def _warmup_cosine_pytorch(base_lr=5e-4, n_steps=1000, warmup_steps=100, total_steps=1000, min_lr_ratio=0.1):
    body = f"""warmup_steps, total_steps, min_lr_ratio = {warmup_steps}, {total_steps}, {fmt(min_lr_ratio)}


def lr_lambda(step):
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    progress = min(1.0, max(0.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

"""
    return torch_snippet("scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)",
                         base_lr=base_lr, n_steps=n_steps, optimizer="AdamW", optimizer_kwargs="weight_decay=0.01",
                         preamble=body)


def _warmup_polynomial_pytorch(base_lr=5e-4, n_steps=1000, warmup_steps=100, total_steps=1000, power=1.0,
                               end_lr=0.0):
    body = f"""base_lr, end_lr = {fmt(base_lr)}, {fmt(end_lr)}
warmup_steps, total_steps, power = {warmup_steps}, {total_steps}, {fmt(power)}


def lr_lambda(step):  # LambdaLR multiplies this by base_lr
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    progress = min(1.0, max(0.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)))
    return (end_lr + (base_lr - end_lr) * (1 - progress) ** power) / base_lr

"""
    return torch_snippet("scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)",
                         base_lr=base_lr, n_steps=n_steps, optimizer="AdamW", optimizer_kwargs="weight_decay=0.01",
                         preamble=body)


def _warmup_hypers():
    return (
        Hyper("warmup_steps", 100, kind="int", low=0, high=5000, label="warm-up steps",
              help="Steps of linear warm-up from 0 to the peak lr.", valid="[0, inf)"),
        Hyper("total_steps", 1000, kind="int", low=1, high=20000, label="total steps",
              help="Step at which the decay reaches its floor (held afterwards).", valid="[1, inf)"),
    )


INFOS = [
    ScheduleInfo(
        name="WarmupCosine",
        curve=warmup_cosine,
        params=(
            *_warmup_hypers(),
            Hyper("min_lr_ratio", 0.1, low=0.0, high=1.0, label="floor ratio",
                  help="Final lr as a fraction of the peak.", valid="[0, 1]"),
        ),
        latex=r"\eta_t = \eta_0 \begin{cases} t / W & t < W \\ r + (1 - r)\,\tfrac12\left(1 + \cos \pi p\right) & t \ge W"
              r"\end{cases}, \quad p = \min\!\left(1, \frac{t - W}{T - W}\right)",
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
                  help="The lr reached at total_steps.", valid="[0, inf)"),
        ),
        latex=r"\eta_t = \begin{cases} \eta_0\, t / W & t < W \\ \eta_{end} + (\eta_0 - \eta_{end})(1 - p)^{k} & t \ge W"
              r"\end{cases}, \quad p = \min\!\left(1, \frac{t - W}{T - W}\right)",
        summary="BERT's recipe (power 1: warm-up then linear decay to 0); other powers give the 'poly' decays "
                "of fine-tuning scripts.",
        pytorch=_warmup_polynomial_pytorch,
        cls=WarmupPolynomial,
    ),
]
