"""The torch-shaped scheduler base class and the helpers the schedule modules share.

A scheduler here is, as in ``torch.optim.lr_scheduler``, *chainable*: at every
``step()`` it computes the new lr of each param group from the group's current lr
(``lr * ratio`` for the multiplicative schedules, an affine update for cosine
annealing) or from ``initial_lr`` (the absolute ones). That is what makes
``ChainedScheduler`` and ``SequentialLR`` give torch's numbers, so the classes keep
torch's recursive form; the per-step formulas themselves are the vectorized helpers of
each module, which the pure curve functions evaluate on ``np.arange(n)`` at once.

Arguments follow torch: what torch accepts and computes numbers for, we accept and give
the same numbers for (repeated or unsorted MultiStepLR milestones, ``gamma = 0``,
``eta_min`` above the lr, ...). An argument with which torch divides by zero, at
construction or at a later step, is refused at construction with a
:class:`DividesByZeroError` (a ``ZeroDivisionError``, as torch's, and a ``ValueError``).
A few arguments torch accepts are refused on purpose, each listed in its class's
docstring under "Refused": those that make the lr negative (a negative ``gamma``,
``eta_min``, ``div_factor``), lengths of 0 or less with which torch's step-by-step form
contradicts its own closed form (``total_iters=0``), and typos torch silently reads as
something else (``scale_mode``). Non-finite numbers and non-integers for an ``int``
argument are refused everywhere.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from optim_core.entries import valid_interval

__all__ = ["LRScheduler", "DividesByZeroError", "ArgumentTypeError"]

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` is deprecated (as in torch): it sets last_epoch and uses the "
    "closed form where one exists. Call `scheduler.step()` without arguments instead."
)


# -- argument checks ---------------------------------------------------------------------
class DividesByZeroError(ValueError, ZeroDivisionError):
    """An argument with which torch's scheduler divides by zero.

    torch accepts it and raises ``ZeroDivisionError`` when it gets there (at construction
    or at a later step, e.g. ``StepLR(step_size=0)`` at the first ``step()``); we refuse
    it at construction. The error is both a ``ZeroDivisionError`` (what torch raises, so
    ``except ZeroDivisionError`` catches it here too) and a ``ValueError`` that names the
    argument (what every other refused argument raises).
    """


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type where torch raises a TypeError: a TypeError as torch's, and a
    ValueError, the one error a page or the engine catches for a refused argument."""


def _refuse(message: str, zero: str | None):
    """The error for a refused argument: a DividesByZeroError when ``zero`` says where torch divides by it."""
    if zero:
        return DividesByZeroError(f"{message} (torch divides by zero {zero})")
    return ValueError(message)


def check_int(owner: str, name: str, value: Any, low: int | None = None, why: str = "", strict: bool = False,
              zero: str | None = None) -> int:
    """``value`` as an int, or a ValueError naming the argument and the reason.

    ``strict``: only integer types (torch's ``isinstance(value, int)`` checks; NumPy
    integers pass too), not integral floats. ``zero``: where torch divides by zero when
    the value is 0 (then the error is a :class:`DividesByZeroError`).
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok and not strict and isinstance(value, numbers.Real) and not isinstance(value, bool):
        ok = math.isfinite(value) and float(value).is_integer()
    if not ok:
        raise ValueError(f"{owner}: {name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        bound = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise _refuse(f"{owner}: {name} must be {bound}{why}, got {value}", zero if value == 0 else None)
    return value


def check_real(owner: str, name: str, value: Any, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False, why: str = "", zero: str | None = None) -> float:
    """``value`` as a finite float in the given interval, or a ValueError saying which.

    ``zero``: where torch divides by zero when the value is 0 (the error is then a
    :class:`DividesByZeroError`).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    value = float(value)
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise _refuse(f"{owner}: {name} must lie in {interval}{why}, got {value!r}", zero if value == 0 else None)
    return value


def check_declared(owner: str, name: str, value: Any, why: str = "", strict: bool = False,
                   zero: str | None = None) -> Any:
    """``value`` checked against what ``owner``'s registry entry declares for ``name``: its kind
    (int or float) and its ``Hyper.valid`` interval, as optimizers check theirs.

    The interval is written once, in the entry; ``why``, ``strict`` and ``zero`` are as for
    :func:`check_int` / :func:`check_real`.
    """
    from optim_core import registry  # the entries are read when a schedule is built, not at import

    h = registry.get_schedule(owner).hyper(name)
    lo, hi, lo_closed, hi_closed = valid_interval(h.valid)
    if h.kind == "int":
        low = None if lo == -math.inf else int(math.ceil(lo) if lo_closed else math.floor(lo) + 1)
        return check_int(owner, name, value, low=low, why=why, strict=strict, zero=zero)
    return check_real(owner, name, value, low=None if lo == -math.inf else lo, high=None if hi == math.inf else hi,
                      low_open=not lo_closed, high_open=not hi_closed, why=why, zero=zero)


def check_gamma(owner: str, gamma: Any, why: str = "the decay factor") -> float:
    """A decay factor, as ``owner``'s entry declares it: any finite number >= 0 (torch takes any;
    a negative one flips the lr's sign)."""
    return check_declared(owner, "gamma", gamma, why=f" ({why}; a negative one would make the lr negative)")


def check_flag(owner: str, name: str, value: Any) -> bool:
    """A switch of a pure curve: True or False (torch's classes read any value's truth; the curves,
    which take what a page or a URL sends, refuse anything else)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{owner}: {name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(owner: str, name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {list(choices)}, got {value!r}")
    return value


def check_steps(n: Any) -> int:
    return check_int("curve", "n (the number of steps)", n, low=0)


def check_optimizer(optimizer: Any) -> None:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer (it has no list of param_groups)")


def format_param(name: str, optimizer: Any, value: Any) -> list:
    """One value per param group: a scalar is repeated; a list must match (torch's ``_format_param``)."""
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has {n}."
            )
        return list(value)
    return [value] * n


def momentum_key(owner: str, optimizer: Any) -> bool:
    """Whether the optimizer's momentum lives in ``betas[0]`` (True) or ``momentum`` (False)."""
    defaults = getattr(optimizer, "defaults", None) or optimizer.param_groups[0]
    if "momentum" not in defaults and "betas" not in defaults:
        raise ValueError(f"{owner}: optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
    return "betas" in defaults


def set_momentum(group: dict, value: float, use_beta1: bool) -> None:
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def ratio_curve(base_lr: float, ratios: np.ndarray) -> np.ndarray:
    """``lr_t = lr_{t-1} * ratios[t]`` from ``lr_{-1} = base_lr``: torch's chain of products, in order."""
    return np.multiply.accumulate(np.concatenate(([float(base_lr)], ratios)))[1:]


def call_per_step(fn, t: np.ndarray, vectorized: bool) -> np.ndarray:
    """A user callable of the step, on every step: as one array call, or once per step with an int."""
    if vectorized:
        out = np.asarray(fn(t), dtype=np.float64)
        return np.broadcast_to(out, t.shape).astype(np.float64)
    return np.array([fn(int(i)) for i in t], dtype=np.float64)


# -- the scheduler base ------------------------------------------------------------------
class LRScheduler:
    """torch's ``LRScheduler`` over any optim_core optimizer's ``param_groups``.

    Construction records ``group["initial_lr"]`` (torch's key) and takes the initial
    step, so ``group["lr"]`` holds the lr for step 0; each ``step()`` moves to the next.
    Subclasses implement :meth:`get_lr` (the chainable update) and, where torch has one,
    ``_get_closed_form_lr`` (used by ``step(epoch)`` and by ``SequentialLR`` at a milestone).
    """

    _is_initial: bool = False
    # Attributes that hold user callables: left out of state_dict, as torch does.
    _callable_attrs: tuple[str, ...] = ()

    def __init__(self, optimizer: Any, last_epoch: int = -1):
        check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming a scheduler with "
                        "last_epoch >= 0 (load the optimizer's state_dict first, or use last_epoch=-1)"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The lrs set by the last step (one per param group)."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance one step (call it after ``optimizer.step()``)."""
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            values = closed() if closed is not None else self.get_lr()
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__} computed {len(values)} lrs for {len(groups)} param groups")
        for group, lr in zip(groups, values):
            group["lr"] = float(lr)
        self._last_lr = [group["lr"] for group in groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (and user callables, as torch leaves out lambdas)."""
        state = {k: v for k, v in self.__dict__.items() if k != "optimizer" and k not in self._callable_attrs}
        return copy.deepcopy(state)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.__dict__.update(copy.deepcopy(dict(state_dict)))


class MultiplicativeScheduler(LRScheduler):
    """A schedule whose step multiplies each group's lr by ``_ratio(t, initial)``."""

    def _ratio(self, t: int, initial: bool) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        r = float(self._ratio(self.last_epoch, self._is_initial))
        return [group["lr"] * r for group in self.optimizer.param_groups]


# -- torch snippets ----------------------------------------------------------------------
def fmt(value: Any) -> str:
    """A Python literal for ``value`` that round-trips exactly."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, (list, tuple)):
        inner = ", ".join(fmt(v) for v in value)
        return f"[{inner}]"
    return repr(value)


def kwargs_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items())


# The optimizer a snippet builds when none is chosen, or in place of one torch.optim has no twin of
# (a schedule's numbers do not depend on the optimizer): its torch.optim class and keywords as written.
SGD_STAND_IN: tuple[str, Mapping[str, Any]] = ("SGD", {"momentum": 0.9})  # a momentum for cycling schedules
ADAMW_STAND_IN: tuple[str, Mapping[str, Any]] = ("AdamW", {"weight_decay": 0.01})  # the transformers' usual


def torch_momentum_expr(optimizer: str) -> str | None:
    """Where torch.optim's ``optimizer`` (a registry name) keeps the momentum a cycling schedule
    moves, its ``cycled_momentum``: ``optimizer.param_groups[0]["momentum"]``, ``...["betas"][0]``,
    or None when it has none."""
    from optim_core import registry

    info = registry.get_optimizer(optimizer)
    h = info.with_role("cycled_momentum")
    if h is None:
        return None
    for packed, parts in info.cls.packed.items():
        if h.name in parts:
            return f'optimizer.param_groups[0]["{packed}"][{parts.index(h.name)}]'
    return f'optimizer.param_groups[0]["{h.name}"]'


def optimizer_lines(base_lr: float, optimizer: str | None = None, hypers: Mapping[str, Any] | None = None,
                    stand_in: tuple[str, Mapping[str, Any]] = SGD_STAND_IN) -> tuple[list[str], str]:
    """The lines of a snippet that build its optimizer, and the torch.optim class they build.

    ``optimizer`` (a registry name) is built with the keywords of its ``hypers`` (kernel names, as
    the registry's) that differ from its defaults, when torch.optim has its twin (``torch_twin``);
    ``stand_in`` is built otherwise, after a comment saying so, and when ``optimizer`` is None.
    """
    from optim_core import registry

    lines = []
    name, kwargs = stand_in
    if optimizer is not None:
        info = registry.get_optimizer(optimizer)
        if info.torch_twin:
            default = info.cls.keywords()
            name = optimizer
            kwargs = {k: v for k, v in info.cls.keywords(hypers or {}).items() if k != "lr" and v != default[k]}
        else:
            lines.append(f"# torch.optim has no {optimizer}: {name} stands in below (the schedule's numbers do not "
                         "depend on the optimizer).")
    kw = f", {kwargs_text(kwargs)}" if kwargs else ""
    lines.append(f"optimizer = torch.optim.{name}(model.parameters(), lr={fmt(base_lr)}{kw})")
    return lines, name


def torch_snippet(
    scheduler_lines: str,
    *,
    base_lr: float,
    n_steps: int,
    optimizer: str | None = None,
    hypers: Mapping[str, Any] | None = None,
    stand_in: tuple[str, Mapping[str, Any]] = SGD_STAND_IN,
    record_momentum: bool = False,
    metric: str | None = None,
    preamble: str = "",
) -> str:
    """A runnable script: a model, an optimizer, the scheduler, and the loop that records ``lrs``.

    The optimizer is ``optimizer`` with ``hypers``, or ``stand_in`` (:func:`optimizer_lines`).
    ``scheduler_lines`` must assign ``scheduler``; ``record_momentum`` also records ``momenta``,
    the optimizer's cycled momentum (if it has one); ``metric`` is an expression of ``step``
    passed to ``scheduler.step(metric)`` (ReduceLROnPlateau).
    """
    head = "import math\n\nimport torch\n\n" if "math." in scheduler_lines + preamble + (metric or "") else "import torch\n\n"
    opt_lines, built = optimizer_lines(base_lr, optimizer, hypers, stand_in)
    momentum = torch_momentum_expr(built) if record_momentum else None
    lines = [
        head + (preamble + "\n" if preamble else "")
        + "model = torch.nn.Linear(2, 1)",
        *opt_lines,
        scheduler_lines,
        "",
        "lrs = []",
    ]
    if momentum is not None:
        lines.append("momenta = []")
    lines.append(f"for step in range({int(n_steps)}):")
    lines.append('    lrs.append(optimizer.param_groups[0]["lr"])')
    if momentum is not None:
        lines.append(f"    momenta.append({momentum})")
    lines.append("    optimizer.step()  # after loss.backward() in a real training loop")
    if metric is None:
        lines.append("    scheduler.step()")
    else:
        lines.append(f"    val_loss = {metric}  # stands in for the validation loss")
        lines.append("    scheduler.step(val_loss)")
    return "\n".join(lines) + "\n"


def class_snippet(cls_name: str):
    """The snippet builder of a torch scheduler class that takes the schedule's parameters as they are."""

    def pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, **params):
        line = f"scheduler = torch.optim.lr_scheduler.{cls_name}(optimizer, {kwargs_text(params)})"
        return torch_snippet(line, base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers)

    return pytorch
