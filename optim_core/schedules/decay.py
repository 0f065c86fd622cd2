"""The multiplicative decays: StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR, PolynomialLR.

Each is one vectorized *ratio* function of the step, ``r(t)``, the factor torch's
chainable ``get_lr`` multiplies the current lr by (``t = 0`` is the constructor's initial
step). The class multiplies ``group["lr"]`` by ``r(last_epoch)``; the pure curve is the
running product ``base_lr * r(0) * r(1) * ... * r(t)`` in the same order (one
``np.multiply.accumulate``), so both give torch's numbers.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable

import numpy as np

from optim_core.entries import Hyper, ScheduleInfo
from optim_core.schedules._base import (
    DividesByZeroError,
    MultiplicativeScheduler,
    check_declared,
    check_gamma,
    check_int,
    check_real,
    check_steps,
    class_snippet,
    fmt,
    ratio_curve,
    torch_snippet,
)

__all__ = [
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "ConstantLR",
    "LinearLR",
    "PolynomialLR",
    "step_lr",
    "multistep_lr",
    "exponential_lr",
    "constant_lr",
    "linear_lr",
    "polynomial_lr",
]


# -- argument checks (with torch's defaults), shared by the classes and the pure functions
def _step_params(step_size, gamma=0.1):
    owner = "StepLR"
    return {
        "step_size": check_declared(owner, "step_size", step_size, why=" (the lr decays every step_size steps)",
                               zero="at the first step(): `last_epoch % step_size`"),
        "gamma": check_gamma(owner, gamma),
    }


def _multistep_params(milestones, gamma=0.1):
    owner = "MultiStepLR"
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Iterable):
        raise ValueError(f"{owner}: milestones must be a list of step numbers, got {milestones!r}")
    ms = [check_int(owner, "milestones[i]", m, low=0,
                    why=" (a step index: step() never reaches a negative one, which torch's closed form still counts)")
          for m in milestones]
    return {"milestones": ms, "gamma": check_gamma(owner, gamma)}


def _exponential_params(gamma):
    return {"gamma": check_gamma("ExponentialLR", gamma, why="the per-step factor")}


def _constant_params(factor=1.0 / 3, total_iters=5):
    owner = "ConstantLR"
    return {
        "factor": check_declared(owner, "factor", factor,
                                 why=" (the lr is multiplied by it, then divided by it at total_iters)",
                             zero="at step total_iters: `1.0 / factor`"),
        "total_iters": check_declared(owner, "total_iters", total_iters,
                                      why=" (the number of steps the factor applies; with 0 or less torch never "
                                     "lifts the factor, while its closed form never applies it)"),
    }


def _linear_params(start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    owner = "LinearLR"
    return {
        "start_factor": check_declared(owner, "start_factor", start_factor,
                                       why=" (the factor multiplies the lr at step 0; torch divides by it)"),
        "end_factor": check_declared(owner, "end_factor", end_factor),
        "total_iters": check_declared(owner, "total_iters", total_iters,
                                      why=" (the number of steps of the linear ramp; with 0 or less torch keeps "
                                     "start_factor forever, while its closed form divides by it)"),
    }


def _polynomial_params(total_iters=5, power=1.0):
    owner = "PolynomialLR"
    total_iters = check_declared(owner, "total_iters", total_iters,
                                 why=" (the number of steps until the lr reaches 0; with 0 or less torch never "
                                "changes the lr, while its closed form divides by it)")
    power = check_real(owner, "power", power, why=" (the decay's exponent)")
    if power < 0:
        raise DividesByZeroError(
            f"{owner}: power must lie in [0, inf), got {power!r} (with a negative power the lr grows, then torch "
            "divides by zero at step total_iters: `0.0 ** power`)"
        )
    return {"total_iters": total_iters, "power": power}


# -- the ratio functions: torch's get_lr factors, vectorized over the step ---------------
def _step_ratio(t, initial, *, step_size, gamma):
    t = np.asarray(t)
    return np.where((t == 0) | (t % step_size != 0), 1.0, gamma)


def _multistep_ratio(t, initial, *, milestones, gamma):
    # torch keeps the milestones in a Counter: at a milestone listed k times it multiplies
    # by gamma ** k (once, not k times), in any order of the list.
    t = np.asarray(t)
    counts = np.zeros(t.shape)
    for m, k in Counter(milestones).items():
        counts[t == m] = k
    return np.where(counts > 0, np.power(float(gamma), counts), 1.0)


def _exponential_ratio(t, initial, *, gamma):
    return np.where(initial, 1.0, gamma)


def _constant_ratio(t, initial, *, factor, total_iters):
    t = np.asarray(t)
    return np.where(t == 0, factor, np.where(t != total_iters, 1.0, 1.0 / factor))


def _linear_ratio(t, initial, *, start_factor, end_factor, total_iters):
    t = np.asarray(t)
    span = end_factor - start_factor
    with np.errstate(divide="ignore", invalid="ignore"):
        ramp = 1.0 + span / (total_iters * start_factor + (t - 1) * span)
    return np.where(t == 0, start_factor, np.where(initial | (t > total_iters), 1.0, ramp))


def _polynomial_ratio(t, initial, *, total_iters, power):
    t = np.asarray(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = ((1.0 - t / total_iters) / (1.0 - (t - 1) / total_iters)) ** power
    return np.where(initial | (t > total_iters), 1.0, decay)


def _ratios(ratio_fn, n: int, params: dict) -> np.ndarray:
    t = np.arange(n)
    return np.asarray(ratio_fn(t, t == 0, **params), dtype=np.float64)


# Used by the composition helpers: name -> (parameter check, ratio function).
RATIOS = {
    "StepLR": (_step_params, _step_ratio),
    "MultiStepLR": (_multistep_params, _multistep_ratio),
    "ExponentialLR": (_exponential_params, _exponential_ratio),
    "ConstantLR": (_constant_params, _constant_ratio),
    "LinearLR": (_linear_params, _linear_ratio),
    "PolynomialLR": (_polynomial_params, _polynomial_ratio),
}


def ratios(name: str, n: int, **params) -> np.ndarray:
    """torch's per-step factors of schedule ``name`` for steps ``0..n-1`` (index 0: the initial step)."""
    check, fn = RATIOS[name]
    return _ratios(fn, check_steps(n), check(**params))


# -- pure curves --------------------------------------------------------------------------
def step_lr(n, base_lr, step_size, gamma=0.1):
    r"""StepLR's lr for steps ``0..n-1``: :math:`\eta_t = \eta_0\,\gamma^{\lfloor t/s\rfloor}`."""
    return {"lr": ratio_curve(base_lr, ratios("StepLR", n, step_size=step_size, gamma=gamma))}


def multistep_lr(n, base_lr, milestones, gamma=0.1):
    r"""MultiStepLR: :math:`\eta_t = \eta_0\,\gamma^{\#\{m \le t\}}`, the milestones in any order, a repeated
    one counted as often as it is listed (torch's Counter)."""
    return {"lr": ratio_curve(base_lr, ratios("MultiStepLR", n, milestones=milestones, gamma=gamma))}


def exponential_lr(n, base_lr, gamma):
    r"""ExponentialLR: :math:`\eta_t = \eta_0\,\gamma^t`, as torch's running product."""
    return {"lr": ratio_curve(base_lr, ratios("ExponentialLR", n, gamma=gamma))}


def constant_lr(n, base_lr, factor=1.0 / 3, total_iters=5):
    r"""ConstantLR: :math:`\eta_0 \cdot f` for ``t < total_iters``, then :math:`\eta_0`."""
    return {"lr": ratio_curve(base_lr, ratios("ConstantLR", n, factor=factor, total_iters=total_iters))}


def linear_lr(n, base_lr, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
    r"""LinearLR: the factor goes linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` steps."""
    return {"lr": ratio_curve(base_lr, ratios("LinearLR", n, start_factor=start_factor, end_factor=end_factor,
                                              total_iters=total_iters))}


def polynomial_lr(n, base_lr, total_iters=5, power=1.0):
    r"""PolynomialLR: :math:`\eta_t = \eta_0\,(1 - \min(t, T)/T)^p`."""
    return {"lr": ratio_curve(base_lr, ratios("PolynomialLR", n, total_iters=total_iters, power=power))}


# -- classes ------------------------------------------------------------------------------
class StepLR(MultiplicativeScheduler):
    """torch's ``StepLR(optimizer, step_size, gamma=0.1, last_epoch=-1)``: lr *= gamma every step_size steps.

    Refused (torch accepts): ``step_size=0`` (torch raises ZeroDivisionError at the first
    ``step()``; here a :class:`DividesByZeroError` at construction); a negative or
    non-integer ``step_size`` (torch's step-by-step form and closed form then disagree);
    ``gamma < 0`` (a negative lr). ``gamma = 0`` and ``gamma > 1`` are accepted, as torch.
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        p = _step_params(step_size, gamma)
        self.step_size, self.gamma = p["step_size"], p["gamma"]
        super().__init__(optimizer, last_epoch)

    def _ratio(self, t, initial):
        return _step_ratio(t, initial, step_size=self.step_size, gamma=self.gamma)

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(MultiplicativeScheduler):
    """torch's ``MultiStepLR(optimizer, milestones, gamma=0.1, last_epoch=-1)``: lr *= gamma at each milestone.

    As torch, ``milestones`` is kept as a ``Counter``: any order, and a milestone listed
    k times multiplies the lr by ``gamma ** k`` there.

    Refused (torch accepts): a negative milestone (``step()`` never reaches it, but torch's
    closed form, used by ``step(epoch)`` and by SequentialLR at its milestones, counts
    it); ``gamma < 0`` (a negative lr).
    """

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        p = _multistep_params(list(milestones), gamma)
        self.milestones, self.gamma = Counter(p["milestones"]), p["gamma"]
        super().__init__(optimizer, last_epoch)

    def _ratio(self, t, initial):
        return _multistep_ratio(t, initial, milestones=list(self.milestones.elements()), gamma=self.gamma)

    def _get_closed_form_lr(self):
        k = bisect_right(sorted(self.milestones.elements()), self.last_epoch)
        return [base_lr * self.gamma**k for base_lr in self.base_lrs]


class ExponentialLR(MultiplicativeScheduler):
    """torch's ``ExponentialLR(optimizer, gamma, last_epoch=-1)``: lr *= gamma every step.

    Refused (torch accepts): ``gamma < 0`` (the lr's sign would alternate).
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _exponential_params(gamma)["gamma"]
        super().__init__(optimizer, last_epoch)

    def _ratio(self, t, initial):
        return _exponential_ratio(t, initial, gamma=self.gamma)

    def _get_closed_form_lr(self):
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class ConstantLR(MultiplicativeScheduler):
    """torch's ``ConstantLR(optimizer, factor=1/3, total_iters=5, last_epoch=-1)``: a constant reduced lr, then the full one.

    Refused (torch accepts): ``factor=0`` (torch raises ZeroDivisionError at step
    ``total_iters``; here a :class:`DividesByZeroError` at construction);
    ``total_iters <= 0`` (torch then never lifts the factor, while its closed form never
    applies it).
    """

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        p = _constant_params(factor, total_iters)
        self.factor, self.total_iters = p["factor"], p["total_iters"]
        super().__init__(optimizer, last_epoch)

    def _ratio(self, t, initial):
        return _constant_ratio(t, initial, factor=self.factor, total_iters=self.total_iters)

    def _get_closed_form_lr(self):
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]


class LinearLR(MultiplicativeScheduler):
    """torch's ``LinearLR(optimizer, start_factor=1/3, end_factor=1.0, total_iters=5, last_epoch=-1)``.

    Refused (torch accepts): ``total_iters <= 0`` (torch then keeps ``start_factor``
    forever, while its closed form divides by zero).
    """

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        p = _linear_params(start_factor, end_factor, total_iters)
        self.start_factor, self.end_factor, self.total_iters = p["start_factor"], p["end_factor"], p["total_iters"]
        super().__init__(optimizer, last_epoch)

    def _ratio(self, t, initial):
        return _linear_ratio(t, initial, start_factor=self.start_factor, end_factor=self.end_factor,
                             total_iters=self.total_iters)

    def _get_closed_form_lr(self):
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]


class PolynomialLR(MultiplicativeScheduler):
    """torch's ``PolynomialLR(optimizer, total_iters=5, power=1.0, last_epoch=-1)``: decay to 0 at total_iters.

    ``power=0`` keeps the lr constant, as torch. Refused (torch accepts): ``total_iters <= 0``
    (torch then never changes the lr, while its closed form divides by zero); ``power < 0``
    (the lr grows, then torch raises ZeroDivisionError at ``total_iters``; here a
    :class:`DividesByZeroError` at construction).
    """

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        p = _polynomial_params(total_iters, power)
        self.total_iters, self.power = p["total_iters"], p["power"]
        super().__init__(optimizer, last_epoch)

    def _ratio(self, t, initial):
        return _polynomial_ratio(t, initial, total_iters=self.total_iters, power=self.power)

    def _get_closed_form_lr(self):
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base_lr in self.base_lrs]


# -- registry -----------------------------------------------------------------------------
def _gamma(default, low, high, help):
    return Hyper("gamma", default, low=low, high=high, label="γ", help=help, valid="[0, inf)")


def _multistep_pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, milestones=(300, 600), gamma=0.1):
    line = (f"scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones={fmt(list(milestones))}, "
            f"gamma={fmt(gamma)})")
    return torch_snippet(line, base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers)


INFOS = [
    ScheduleInfo(
        name="StepLR",
        curve=step_lr,
        params=(
            Hyper("step_size", 300, kind="int", low=1, high=5000, label="step size",
                  help="Steps between two decays.", valid="[1, inf)"),
            _gamma(0.1, 0.01, 0.99, "Factor applied at each decay."),
        ),
        latex=r"\eta_t = \eta_0\,\gamma^{\lfloor t / s \rfloor}",
        summary="The classic ResNet recipe: train at a constant lr, cut it 10x every few epochs (e.g. every 30 of 90).",
        pytorch=class_snippet("StepLR"),
        cls=StepLR,
    ),
    ScheduleInfo(
        name="MultiStepLR",
        curve=multistep_lr,
        params=(
            Hyper("milestones", (300, 600), kind="choice",
                  choices=((300, 600), (500, 750), (250, 500, 750), (100, 300, 600, 900)),
                  label="milestones",
                  help="Steps at which the lr is multiplied by γ (a step listed twice applies γ twice)."),
            _gamma(0.1, 0.01, 0.99, "Factor applied at each milestone."),
        ),
        latex=r"\eta_t = \eta_0\,\gamma^{\,|\{m_i \le t\}|}",
        summary="Step decay at hand-picked epochs (e.g. 30 and 80 of 100): the standard for ImageNet/CIFAR baselines.",
        pytorch=_multistep_pytorch,
        cls=MultiStepLR,
    ),
    ScheduleInfo(
        name="ExponentialLR",
        curve=exponential_lr,
        params=(_gamma(0.995, 0.9, 1.0, "Factor applied at every step."),),
        latex=r"\eta_t = \eta_0\,\gamma^{t}",
        summary="A smooth geometric decay every epoch; simple, but the lr shrinks fast, so γ is usually 0.95-0.99.",
        pytorch=class_snippet("ExponentialLR"),
        cls=ExponentialLR,
    ),
    ScheduleInfo(
        name="ConstantLR",
        curve=constant_lr,
        params=(
            Hyper("factor", 1.0 / 3, low=0.01, high=1.0, label="factor",
                  help="Fraction of the lr used during the first total_iters steps.", valid="(0, 1]"),
            Hyper("total_iters", 100, kind="int", low=1, high=5000, label="total iters",
                  help="Steps at the reduced lr.", valid="[1, inf)", role="phase_length"),
        ),
        latex=r"\eta_t = \eta_0 \cdot \begin{cases} f & t < T \\ 1 & t \ge T \end{cases}",
        summary="A crude warm-up: a few steps at a fraction of the lr, usually chained with a decay.",
        pytorch=class_snippet("ConstantLR"),
        cls=ConstantLR,
    ),
    ScheduleInfo(
        name="LinearLR",
        curve=linear_lr,
        params=(
            Hyper("start_factor", 0.01, low=0.001, high=1.0, log=True, label="start factor",
                  help="Fraction of the lr at step 0.", valid="(0, 1]"),
            Hyper("end_factor", 1.0, low=0.0, high=1.0, label="end factor",
                  help="Fraction of the lr from total_iters on.", valid="[0, 1]"),
            Hyper("total_iters", 100, kind="int", low=1, high=5000, label="total iters",
                  help="Length of the linear ramp.", valid="[1, inf)", role="phase_length"),
        ),
        latex=r"\eta_t = \eta_0\left(f_0 + (f_1 - f_0)\,\frac{\min(t, T)}{T}\right)",
        summary="Linear warm-up (start_factor < 1 → 1) before a decay in a SequentialLR, or a linear decay to end_factor.",
        pytorch=class_snippet("LinearLR"),
        cls=LinearLR,
    ),
    ScheduleInfo(
        name="PolynomialLR",
        curve=polynomial_lr,
        params=(
            Hyper("total_iters", 1000, kind="int", low=1, high=20000, label="total iters",
                  help="Step at which the lr reaches 0 (and stays there).", valid="[1, inf)", role="run_length"),
            Hyper("power", 1.0, low=0.1, high=5.0, label="power p",
                  help="1 is a linear decay; larger powers drop faster early.", valid="[0, inf)"),
        ),
        latex=r"\eta_t = \eta_0 \left(1 - \frac{\min(t, T)}{T}\right)^{p}",
        summary="Decay to zero over a fixed budget; power 0.9 is the DeepLab segmentation 'poly' schedule, power 1 linear decay.",
        pytorch=class_snippet("PolynomialLR"),
        cls=PolynomialLR,
    ),
]
