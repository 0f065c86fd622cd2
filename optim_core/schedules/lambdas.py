"""Schedules from a user callable: LambdaLR (lr = base_lr * f(t)) and MultiplicativeLR (lr *= f(t)).

The pure functions call the callable once per step with an ``int`` (as torch does), or
once on the whole step array when ``vectorized=True`` says it accepts arrays. For the
registry, which needs numbers a slider can move, both are shown with one parameterized
callable: ``LambdaLR`` with ``f(t) = gamma ** t`` and ``MultiplicativeLR`` with
``f(t) = gamma`` (the same curve as ExponentialLR, written the MultiplicativeLR way).
"""

from __future__ import annotations

import types

import numpy as np

from optim_core.entries import Hyper, ScheduleInfo
from optim_core.schedules._base import (
    LRScheduler,
    call_per_step,
    check_declared,
    check_steps,
    fmt,
    ratio_curve,
    torch_snippet,
)

__all__ = ["LambdaLR", "MultiplicativeLR", "lambda_lr", "multiplicative_lr"]


def _check_callable(owner, fn):
    if not callable(fn):
        raise TypeError(f"{owner}: lr_lambda should be a function, but got {type(fn).__name__}")
    return fn


def lambda_lr(n, base_lr, lr_lambda, vectorized=False):
    """LambdaLR's lr for steps ``0..n-1``: ``base_lr * lr_lambda(t)``."""
    t = np.arange(check_steps(n))
    return {"lr": float(base_lr) * call_per_step(_check_callable("LambdaLR", lr_lambda), t, vectorized)}


def multiplicative_lr(n, base_lr, lr_lambda, vectorized=False):
    """MultiplicativeLR's lr: ``lr_t = lr_{t-1} * lr_lambda(t)`` for ``t >= 1`` (step 0 keeps ``base_lr``)."""
    t = np.arange(check_steps(n))
    r = call_per_step(_check_callable("MultiplicativeLR", lr_lambda), t[1:], vectorized)
    return {"lr": ratio_curve(base_lr, np.concatenate((np.ones(min(1, len(t))), r)))}


def multiplicative_ratios(n, lr_lambda, vectorized=False, milestone=False):
    """The factors MultiplicativeLR applies at steps ``0..n-1``.

    Step 0 is the constructor's step (factor 1) or, at a SequentialLR milestone
    (``milestone=True``), ``lr_lambda(0)`` applied to the lr the previous schedule left.
    """
    t = np.arange(check_steps(n))
    r = call_per_step(_check_callable("MultiplicativeLR", lr_lambda), t, vectorized) if n else np.ones(0)
    if n and not milestone:
        r[0] = 1.0
    return r


class _LambdaScheduler(LRScheduler):
    _callable_attrs = ("lr_lambdas",)

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        self.optimizer = optimizer
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"Expected {n} lr_lambdas, but got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for fn in self.lr_lambdas:
            _check_callable(type(self).__name__, fn)
        super().__init__(optimizer, last_epoch)

    def state_dict(self):
        """As torch: plain functions are not saved; callable objects save their ``__dict__``."""
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state)
        for fn, attrs in zip(self.lr_lambdas, saved):
            if attrs is not None:
                fn.__dict__.update(attrs)


class LambdaLR(_LambdaScheduler):
    """torch's ``LambdaLR(optimizer, lr_lambda, last_epoch=-1)``: ``lr = initial_lr * lr_lambda(step)``.

    ``lr_lambda`` is one callable or a list with one per param group.
    """

    def get_lr(self):
        return [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaScheduler):
    """torch's ``MultiplicativeLR(optimizer, lr_lambda, last_epoch=-1)``: ``lr *= lr_lambda(step)`` each step."""

    def get_lr(self):
        if self._is_initial:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * fn(self.last_epoch) for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups)]


# -- registry -----------------------------------------------------------------------------
def _lambda_curve(n_steps, base_lr, gamma=0.995):
    gamma = check_declared("LambdaLR", "gamma", gamma, why=" (the demo callable's factor)")
    return lambda_lr(n_steps, base_lr, lambda t: gamma**t, vectorized=True)


def _multiplicative_curve(n_steps, base_lr, gamma=0.995):
    gamma = check_declared("MultiplicativeLR", "gamma", gamma, why=" (the demo callable's factor)")
    return multiplicative_lr(n_steps, base_lr, lambda t: np.full(np.shape(t), gamma), vectorized=True)


def _lambda_pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, gamma=0.995):
    line = f"scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda step: {fmt(gamma)} ** step)"
    return torch_snippet(line, base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers)


def _multiplicative_pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, gamma=0.995):
    line = f"scheduler = torch.optim.lr_scheduler.MultiplicativeLR(optimizer, lr_lambda=lambda step: {fmt(gamma)})"
    return torch_snippet(line, base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers)


_GAMMA = Hyper("gamma", 0.995, low=0.9, high=1.0, label="γ",
               help="Parameter of the demo callable (any Python function of the step works in code).",
               valid="[0, inf)")

INFOS = [
    ScheduleInfo(
        name="LambdaLR",
        curve=_lambda_curve,
        params=(_GAMMA,),
        latex=r"\eta_t = \eta_0 \cdot f(t), \qquad \text{shown with } f(t) = \gamma^{t}",
        summary="Any schedule as a function of the step (warm-up + decay recipes from papers); "
                "shown here with f(t) = γ^t.",
        pytorch=_lambda_pytorch,
        cls=LambdaLR,
    ),
    ScheduleInfo(
        name="MultiplicativeLR",
        curve=_multiplicative_curve,
        params=(_GAMMA,),
        latex=r"\eta_t = \eta_{t-1} \cdot f(t), \qquad \text{shown with } f(t) = \gamma",
        summary="A per-step factor from a function (e.g. decay only on some epochs); "
                "shown with the constant factor γ, which is ExponentialLR.",
        pytorch=_multiplicative_pytorch,
        cls=MultiplicativeLR,
    ),
]
