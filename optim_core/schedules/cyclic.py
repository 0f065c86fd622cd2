"""Cyclical schedules that also move momentum: CyclicLR (Smith 2017) and OneCycleLR (Smith 2018).

Both set the lr from the step alone (not from the current lr), so the vectorized
evaluators here serve the class (one step) and the pure curve (all steps) alike. With
``cycle_momentum`` they move momentum the opposite way (high lr, low momentum): the
group's ``momentum``, or ``betas[0]`` for Adam-like optimizers.
"""

from __future__ import annotations

import math
import types

import numpy as np

from optim_core.entries import Hyper, ScheduleInfo
from optim_core.schedules._base import (
    DividesByZeroError,
    LRScheduler,
    check_declared,
    check_choice,
    check_flag,
    check_gamma,
    check_optimizer,
    check_real,
    check_steps,
    fmt,
    format_param,
    kwargs_text,
    momentum_key,
    set_momentum,
    torch_snippet,
)

__all__ = ["CyclicLR", "OneCycleLR", "cyclic_lr", "one_cycle_lr"]


# -- CyclicLR -------------------------------------------------------------------------------
def _cyclic_params(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode):
    owner = "CyclicLR"
    up = float(check_real(owner, "step_size_up", step_size_up, low=0.0, low_open=True,
                          why=" (the number of steps of the rising half cycle)",
                          zero="at construction: `x / step_ratio` at step 0"))
    down = up if step_size_down is None else float(
        check_real(owner, "step_size_down", step_size_down, low=0.0,
                   why=" (the number of steps of the falling half cycle; 0 drops back at once, a sawtooth)"))
    if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
        raise ValueError(f"{owner}: mode is invalid and scale_fn is None (mode must be 'triangular', "
                         f"'triangular2' or 'exp_range', got {mode!r})")
    if scale_fn is not None and not callable(scale_fn):
        raise TypeError(f"{owner}: scale_fn must be a callable of one number, got {type(scale_fn).__name__}")
    # torch reads any scale_mode but 'cycle' as 'iterations'; a typo is refused here.
    check_choice(owner, "scale_mode", scale_mode, ("cycle", "iterations"))
    if scale_fn is None and mode == "exp_range":
        gamma = check_gamma(owner, gamma, why="exp_range's per-step factor")
    # Otherwise gamma is not used (as in torch, it is then not checked either).
    total = up + down
    return {"total_size": total, "step_ratio": up / total, "mode": mode, "gamma": gamma,
            "scale_fn": scale_fn, "scale_mode": scale_mode}


def _check_max_lr(max_lr) -> float:
    # torch takes a negative max_lr, and the lr then goes negative: refused, as a negative gamma is.
    return check_declared("CyclicLR", "max_lr", max_lr, why=" (the top of the cycle; a negative one makes the lr "
                                                             "negative)")


def _effective_scale_mode(mode, scale_fn, scale_mode):
    if scale_fn is not None:
        return scale_mode
    return "iterations" if mode == "exp_range" else "cycle"


def _builtin_scale(mode, gamma, x):
    if mode == "triangular":
        return np.ones(np.shape(x))
    if mode == "triangular2":
        return 1 / (2.0 ** (np.asarray(x) - 1))
    return gamma ** np.asarray(x)


def _scale_values(mode, gamma, scale_fn, x):
    """The scale function on an int array; a user function is called once per distinct value."""
    if scale_fn is None:
        return _builtin_scale(mode, gamma, x)
    x = np.asarray(x)
    uniq, inverse = np.unique(x, return_inverse=True)
    values = np.array([float(scale_fn(int(u))) for u in uniq], dtype=np.float64)
    return values[inverse].reshape(x.shape)


def _cyclic_position(t, total_size, step_ratio):
    """``(cycle, scale_factor)`` for steps ``t``, in torch's arithmetic."""
    t = np.asarray(t)
    cycle = np.floor(1 + t / total_size).astype(np.int64)
    x = 1.0 + t / total_size - cycle
    with np.errstate(divide="ignore", invalid="ignore"):
        scale_factor = np.where(x <= step_ratio, x / step_ratio, (x - 1) / (step_ratio - 1))
    return cycle, scale_factor


def _cyclic_values(base_lr, max_lr, scale_factor, scale, base_momentum=None, max_momentum=None):
    lr = base_lr + (max_lr - base_lr) * scale_factor * scale
    if base_momentum is None:
        return lr, None
    return lr, max_momentum - (max_momentum - base_momentum) * scale_factor * scale


def cyclic_lr(n, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular", gamma=1.0,
              scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8, max_momentum=0.9):
    r"""CyclicLR's lr (and momentum) for steps ``0..n-1``.

    The lr rises linearly from ``base_lr`` to ``max_lr`` over ``step_size_up`` steps and
    falls back over ``step_size_down``; the amplitude is scaled by ``scale_fn`` of the
    cycle number (triangular: 1, triangular2: halved each cycle) or of the step
    (exp_range: ``gamma ** t``). Momentum moves from ``max_momentum`` down and back.
    """
    n = check_steps(n)
    _check_max_lr(max_lr)
    check_flag("CyclicLR", "cycle_momentum", cycle_momentum)
    base_momentum = check_real("CyclicLR", "base_momentum", base_momentum)
    max_momentum = check_real("CyclicLR", "max_momentum", max_momentum)
    p = _cyclic_params(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)
    t = np.arange(n)
    cycle, sf = _cyclic_position(t, p["total_size"], p["step_ratio"])
    x = cycle if _effective_scale_mode(mode, scale_fn, scale_mode) == "cycle" else t
    scale = _scale_values(mode, p["gamma"], scale_fn, x)
    lr, mom = _cyclic_values(float(base_lr), float(max_lr), sf, scale,
                             *((float(base_momentum), float(max_momentum)) if cycle_momentum else ()))
    return {"lr": lr, "momentum": mom} if cycle_momentum else {"lr": lr}


class CyclicLR(LRScheduler):
    """torch's ``CyclicLR(optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
    mode='triangular', gamma=1.0, scale_fn=None, scale_mode='cycle', cycle_momentum=True,
    base_momentum=0.8, max_momentum=0.9, last_epoch=-1)``.

    ``base_lr``/``max_lr``/``base_momentum``/``max_momentum`` may be lists, one per group.
    ``step_size_down=0`` (a sawtooth) and, in ``exp_range``, ``gamma=0`` are accepted, as
    torch; ``gamma`` is only checked where it is used. ``step_size_up=0`` raises a
    :class:`DividesByZeroError` (torch: ZeroDivisionError at construction).

    Refused (torch accepts): a ``scale_mode`` other than 'cycle' or 'iterations' (torch reads
    any other string as 'iterations'); negative step sizes; ``gamma < 0`` in ``exp_range``
    (the amplitude's sign would alternate); a negative ``max_lr`` (a negative lr). Numeric
    arguments are checked against the intervals the registry entry declares.
    """

    _callable_attrs = ("_scale_fn_custom",)

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = format_param("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = format_param("max_lr", optimizer, max_lr)
        for value in self.max_lrs:
            _check_max_lr(value)
        p = _cyclic_params(step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)
        self.total_size, self.step_ratio = p["total_size"], p["step_ratio"]
        self.mode, self.gamma = mode, p["gamma"]
        self._scale_fn_custom = scale_fn
        self.scale_mode = _effective_scale_mode(mode, scale_fn, scale_mode)
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = momentum_key("CyclicLR", optimizer)
            self.base_momentums = format_param("base_momentum", optimizer, base_momentum)
            self.max_momentums = format_param("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def scale_fn(self, x):
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return float(_builtin_scale(self.mode, self.gamma, x))

    def get_lr(self):
        t = self.last_epoch
        cycle = math.floor(1 + t / self.total_size)
        _, sf = _cyclic_position(t, self.total_size, self.step_ratio)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else t)
        sf = float(sf)
        lrs = [float(_cyclic_values(b, m, sf, scale)[0]) for b, m in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, m_base, m_max in zip(self.optimizer.param_groups, self.base_momentums, self.max_momentums):
                set_momentum(group, float(_cyclic_values(0.0, 0.0, sf, scale, m_base, m_max)[1]), self.use_beta1)
        return lrs

    def state_dict(self):
        state = super().state_dict()
        fn = self._scale_fn_custom
        # As torch: a callable object's attributes are saved, a plain function (or lambda) is not.
        state["_scale_fn_custom"] = (None if fn is None or isinstance(fn, types.FunctionType)
                                     else dict(getattr(fn, "__dict__", {})))
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        attrs = state.pop("_scale_fn_custom", None)
        super().load_state_dict(state)
        if attrs is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(attrs)


# -- OneCycleLR -----------------------------------------------------------------------------
def _one_cycle_params(total_steps, epochs, steps_per_epoch, pct_start, anneal_strategy, div_factor,
                      final_div_factor, three_phase):
    owner = "OneCycleLR"
    if total_steps is not None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)) or total_steps <= 0:
            raise ValueError(f"Expected positive integer total_steps, but got {total_steps}")
        total = int(total_steps)
    elif epochs is not None and steps_per_epoch is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs <= 0:
            raise ValueError(f"Expected positive integer epochs, but got {epochs}")
        if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, (int, np.integer)) or steps_per_epoch <= 0:
            raise ValueError(f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}")
        total = int(epochs) * int(steps_per_epoch)
    else:
        raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
    # torch: isinstance(pct_start, float) and 0 <= pct_start <= 1, a ValueError otherwise.
    if not isinstance(pct_start, (float, np.floating)):
        raise ValueError(f"Expected float between 0 and 1 pct_start, but got {pct_start}")
    pct = check_declared(owner, "pct_start", pct_start,
                         why=" (the fraction of the cycle spent increasing the lr)")
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
    div = check_declared(owner, "div_factor", div_factor,
                         why=" (initial_lr = max_lr / div_factor; a negative one makes the lr negative)",
                     zero="at construction: `max_lr / div_factor`")
    final = check_declared(owner, "final_div_factor", final_div_factor,
                           why=" (min_lr = initial_lr / final_div_factor; a negative one makes the lr negative)",
                       zero="at construction: `initial_lr / final_div_factor`")
    if three_phase:
        phases = [
            (float(pct * total) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            (float(2 * pct * total) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
            (total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
        ]
    else:
        phases = [
            (float(pct * total) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            (total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
        ]
    hit = _zero_length_step(phases, total)
    if hit is not None:
        step, i = hit
        cause = (f"total_steps={total} is too small for pct_start={pct_start}: the warm-up (phase 1) has" if i == 0
                 else f"pct_start={pct_start}{' with three_phase' if three_phase else ''} and total_steps={total} "
                      f"give phase {i + 1}")
        raise DividesByZeroError(
            f"{owner}: {cause} no length, ending where it starts (step {phases[i][0]:g}), "
            f"and step {step} falls in it (torch divides by zero there: `(step - start) / (end - start)`, "
            f"{'at construction' if step == 0 else f'at step {step}'})"
        )
    return {"total_steps": total, "phases": phases, "anneal_strategy": anneal_strategy, "div_factor": div,
            "final_div_factor": final}


def _anneal(strategy, start, end, pct):
    if strategy == "cos":
        cos_out = np.cos(np.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out
    return (end - start) * pct + start


def _phase_of(step, phases):
    """torch's choice of phase for one step: the first that ends at or after it, else the last."""
    for i, (end, *_) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            return i
    raise AssertionError("unreachable")


def _zero_length_step(phases, total):
    """``(step, phase)`` for the first step of ``0..total`` whose phase has no length (torch's 0/0), or None.

    The phase of a step changes only at the phase ends, so the steps at and just after
    each end (and 0 and ``total``) are the only ones to try.
    """
    starts = [0.0] + [end for end, *_ in phases[:-1]]
    candidates = {0, total}
    for end, *_ in phases:
        if math.isfinite(end):
            candidates.update((math.floor(end), math.floor(end) + 1))
    for step in sorted(c for c in candidates if 0 <= c <= total):
        i = _phase_of(step, phases)
        if phases[i][0] - starts[i] == 0:
            return step, i
    return None


def _one_cycle_at(t, phases, values, strategy, cycle_momentum):
    """lr (and momentum) at steps ``t`` for one group; ``values`` maps the phase keys to numbers."""
    t = np.asarray(t, dtype=np.float64)
    lr = np.zeros(t.shape)
    mom = np.zeros(t.shape) if cycle_momentum else None
    done = np.zeros(t.shape, dtype=bool)
    start = 0.0
    for i, (end, lr0, lr1, m0, m1) in enumerate(phases):
        sel = ~done & ((t <= end) | (i == len(phases) - 1))
        with np.errstate(divide="ignore", invalid="ignore"):  # a phase of no length no step falls in
            pct = (t - start) / (end - start)
        lr = np.where(sel, _anneal(strategy, values[lr0], values[lr1], pct), lr)
        if cycle_momentum:
            mom = np.where(sel, _anneal(strategy, values[m0], values[m1], pct), mom)
        done |= sel
        start = end
    return lr, mom


def _too_many_steps(step, total):
    return ValueError(f"Tried to step {step} times. The specified number of total steps is {total}")


def one_cycle_lr(n, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False):
    r"""OneCycleLR's lr (and momentum) for steps ``0..n-1`` (``n - 1 <= total_steps``, as torch allows).

    The lr warms from ``max_lr / div_factor`` to ``max_lr`` over ``pct_start`` of the
    steps, then anneals (cosine or linear) to ``max_lr / (div_factor * final_div_factor)``;
    ``three_phase`` returns to the initial lr symmetrically before the final annihilation.
    """
    n = check_steps(n)
    check_flag("OneCycleLR", "three_phase", three_phase)
    check_flag("OneCycleLR", "cycle_momentum", cycle_momentum)
    base_momentum = check_real("OneCycleLR", "base_momentum", base_momentum)
    max_momentum = check_real("OneCycleLR", "max_momentum", max_momentum)
    p = _one_cycle_params(total_steps, epochs, steps_per_epoch, pct_start, anneal_strategy, div_factor,
                          final_div_factor, three_phase)
    if n - 1 > p["total_steps"]:
        raise _too_many_steps(n - 1, p["total_steps"])
    initial = float(max_lr) / p["div_factor"]
    values = {"initial_lr": initial, "max_lr": float(max_lr), "min_lr": initial / p["final_div_factor"],
              "max_momentum": float(max_momentum), "base_momentum": float(base_momentum)}
    lr, mom = _one_cycle_at(np.arange(n), p["phases"], values, anneal_strategy, cycle_momentum)
    return {"lr": lr, "momentum": mom} if cycle_momentum else {"lr": lr}


class OneCycleLR(LRScheduler):
    """torch's ``OneCycleLR(optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
    pct_start=0.3, anneal_strategy='cos', cycle_momentum=True, base_momentum=0.85,
    max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1)``.

    Sets each group's ``initial_lr``, ``max_lr`` and ``min_lr`` (and ``max_momentum`` /
    ``base_momentum``), and raises ValueError when stepped past ``total_steps``.

    Every ``pct_start`` in [0, 1] torch takes (a float, as torch checks) gives torch's
    numbers, including the degenerate ones: with ``pct_start * total_steps < 1`` the
    warm-up has no step and the lr starts near ``max_lr``; with ``three_phase`` and
    ``pct_start > 0.5`` the run ends before the last phase. Where a step would fall in a
    phase of no length (``pct_start * total_steps == 1``, or ``pct_start=1.0``, whose
    decay has no length and whose step ``total_steps`` torch divides by zero at), and for
    ``div_factor=0`` or ``final_div_factor=0``, a :class:`DividesByZeroError` is raised at
    construction (torch: ZeroDivisionError at construction or at that step).

    Refused (torch accepts): ``div_factor < 0`` or ``final_div_factor < 0`` (a negative lr).
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False, last_epoch=-1):
        check_optimizer(optimizer)
        self.optimizer = optimizer
        p = _one_cycle_params(total_steps, epochs, steps_per_epoch, pct_start, anneal_strategy, div_factor,
                              final_div_factor, three_phase)
        self.total_steps = p["total_steps"]
        self._schedule_phases = p["phases"]
        self._anneal_func_type = anneal_strategy
        max_lrs = format_param("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for m, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = m / p["div_factor"]
                group["max_lr"] = m
                group["min_lr"] = group["initial_lr"] / p["final_div_factor"]
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = momentum_key("OneCycleLR", optimizer)
            max_ms = format_param("max_momentum", optimizer, max_momentum)
            base_ms = format_param("base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_ms, base_ms, optimizer.param_groups):
                    set_momentum(group, m_max, self.use_beta1)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise _too_many_steps(step, self.total_steps)
        lrs = []
        for group in self.optimizer.param_groups:
            lr, mom = _one_cycle_at(step, self._schedule_phases, group, self._anneal_func_type, self.cycle_momentum)
            lrs.append(float(lr))
            if self.cycle_momentum:
                set_momentum(group, float(mom), self.use_beta1)
        return lrs


# -- registry -----------------------------------------------------------------------------
def _momentum_hypers(base, top):
    return (
        Hyper("cycle_momentum", True, kind="bool", label="cycle momentum",
              help="Move momentum (or Adam's β₁) opposite to the lr."),
        Hyper("base_momentum", base, low=0.5, high=0.99, label="base momentum",
              help="Momentum when the lr is at its peak."),  # any number, as torch takes any
        Hyper("max_momentum", top, low=0.5, high=0.999, label="max momentum",
              help="Momentum when the lr is at its lowest."),
    )


def _cyclic_curve(n_steps, base_lr, **params):
    return cyclic_lr(n_steps, base_lr, **params)


def _cyclic_pytorch(base_lr=0.01, n_steps=1000, optimizer=None, hypers=None, **params):
    line = f"scheduler = torch.optim.lr_scheduler.CyclicLR(optimizer, base_lr={fmt(base_lr)}, {kwargs_text(params)})"
    return torch_snippet(line, base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers,
                         record_momentum=params.get("cycle_momentum", True))


def _one_cycle_curve(n_steps, base_lr, total_steps=None, **params):
    return one_cycle_lr(n_steps, max_lr=base_lr, total_steps=n_steps if total_steps is None else total_steps,
                        **params)


def _one_cycle_pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, total_steps=None, **params):
    total = n_steps if total_steps is None else total_steps
    line = (f"scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr={fmt(base_lr)}, total_steps={total}"
            + (f", {kwargs_text(params)}" if params else "") + ")")
    return torch_snippet(line, base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers,
                         record_momentum=params.get("cycle_momentum", True))


INFOS = [
    ScheduleInfo(
        name="OneCycleLR",
        curve=_one_cycle_curve,
        params=(
            Hyper("pct_start", 0.3, low=0.05, high=0.95, label="pct start",
                  help="Fraction of the run spent warming up to max_lr (the lr slider sets max_lr).",
                  valid="[0, 1]"),
            Hyper("anneal_strategy", "cos", kind="choice", choices=("cos", "linear"), label="annealing",
                  help="Shape of both ramps."),
            *_momentum_hypers(0.85, 0.95),
            Hyper("div_factor", 25.0, low=2.0, high=1000.0, log=True, label="div factor",
                  help="initial lr = max_lr / div_factor.", valid="(0, inf)"),
            Hyper("final_div_factor", 1e4, low=1.0, high=1e6, log=True, label="final div factor",
                  help="final lr = initial lr / final_div_factor.", valid="(0, inf)"),
            Hyper("three_phase", False, kind="bool", label="three phase",
                  help="Come back down to the initial lr symmetrically, then annihilate (fast.ai's original)."),
        ),
        latex=r"\eta_t = \begin{cases} \mathrm{anneal}(\eta_{max}/d,\ \eta_{max},\ t / (p T)) & t \le pT \\"
              r" \mathrm{anneal}(\eta_{max},\ \eta_{max}/(d f),\ (t - pT) / ((1-p) T)) & t > pT \end{cases},"
              r"\quad \mathrm{anneal}_{\cos}(a, b, x) = b + \tfrac{a-b}{2}(1 + \cos \pi x)",
        summary="Super-convergence: one warm-up to a large lr and a long anneal, stepped every batch; the "
                "lr slider is the peak max_lr, and the curve spans the whole run (total_steps = n_steps).",
        pytorch=_one_cycle_pytorch,
        cls=OneCycleLR,
        cycles_momentum=True,
    ),
    ScheduleInfo(
        name="CyclicLR",
        curve=_cyclic_curve,
        params=(
            Hyper("max_lr", 0.1, low=1e-4, high=10.0, log=True, label="max lr",
                  help="Top of the cycle (the lr slider is the bottom, base_lr).", valid="[0, inf)"),
            Hyper("step_size_up", 200, kind="int", low=1, high=5000, label="step size up",
                  help="Steps from base_lr to max_lr.", valid="[1, inf)"),
            Hyper("step_size_down", 200, kind="int", low=0, high=5000, label="step size down",
                  help="Steps from max_lr back to base_lr (0: a sawtooth).", valid="[0, inf)"),
            Hyper("mode", "triangular", kind="choice", choices=("triangular", "triangular2", "exp_range"),
                  label="mode", help="triangular: constant amplitude; triangular2: halved each cycle; "
                                     "exp_range: scaled by γ^t."),
            Hyper("gamma", 0.999, low=0.99, high=1.0, label="γ (exp_range)",
                  help="Per-step amplitude factor in exp_range mode.", valid="[0, inf)"),
            *_momentum_hypers(0.8, 0.9),
        ),
        latex=r"\eta_t = \eta_{base} + (\eta_{max} - \eta_{base})\,\max(0, 1 - |x|)\, s(\cdot),"
              r"\quad x = \frac{t}{S} - 2\left\lfloor 1 + \frac{t}{2S} \right\rfloor + 1"
              r"\quad (S = \text{step size, shown symmetric})",
        summary="Triangular lr cycles between two bounds: cheap to tune (use the LR range test's bounds) and "
                "helps escape saddle regions; triangular2/exp_range shrink the cycles over time.",
        pytorch=_cyclic_pytorch,
        cls=CyclicLR,
        cycles_momentum=True,
    ),
]
