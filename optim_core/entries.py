"""The registry's entry types: a hyperparameter, an optimizer, a schedule, a loss surface.

Every optimizer, schedule and surface module declares its entry (``INFO`` or ``INFOS``)
with these types, next to the code it describes; :mod:`optim_core.registry` collects
them. This module imports nothing of ``optim_core`` (only the standard library), so any
module may import it first without an import cycle.

A hyperparameter may carry a ``role``: what the app and the engine need to know about it
beyond its value, declared here once instead of being guessed from its name. The roles
(:data:`ROLES`):

``"cycled_momentum"``
    The optimizer's momentum coefficient, the one a momentum-cycling schedule
    (OneCycleLR, CyclicLR with ``cycle_momentum``) moves: SGD's, RMSprop's and LARS's
    ``momentum``, the Adam family's (and Lion's, LAMB's, Sophia's, Adafactor's) ``beta1``.
    At most one per optimizer; an optimizer without one (Adagrad, Adadelta) is not cycled.
``"run_length"``
    A schedule's horizon, the steps it is meant to span: the app sets it to the run's
    number of steps by default (CosineAnnealingLR's and SequentialLR's ``T_max``,
    PolynomialLR's ``total_iters``, the warm-up schedules' ``total_steps``).
``"phase_length"``
    The length of one phase of a schedule, after which the lr holds (ConstantLR's and
    LinearLR's ``total_iters``): a warm-up's length when the schedule warms up, the
    decay's length when it decays. The Schedules page leaves it alone; the Playground
    defaults it to the race's length, as it does a ``run_length``.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

__all__ = [
    "ROLES",
    "LENGTH_ROLES",
    "Hyper",
    "valid_interval",
    "OptimizerInfo",
    "ScheduleInfo",
    "SurfaceInfo",
]

# The fixed vocabulary of ``Hyper.role`` (see the module docstring).
ROLES: tuple[str, ...] = ("cycled_momentum", "run_length", "phase_length")
# The roles of a schedule parameter that is a number of steps the schedule spans.
LENGTH_ROLES: frozenset[str] = frozenset({"run_length", "phase_length"})


@functools.lru_cache(maxsize=None)
def valid_interval(spec: str) -> tuple[float, float, bool, bool]:
    """``(low, high, low_closed, high_closed)`` of an interval written ``"[0, 1)"`` or ``"(0, inf)"``;
    the empty string is any finite value."""
    if not spec:
        return -float("inf"), float("inf"), False, False
    lo_s, hi_s = spec[1:-1].split(",")
    return float(lo_s), float(hi_s), spec[0] == "[", spec[-1] == "]"


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: how it is named, bounded and shown.

    ``name`` is the keyword the pure update function takes (``beta1``, not ``betas``);
    the torch-shaped classes pack ``beta1``/``beta2`` into ``betas`` themselves.
    ``kind`` is ``"float"``, ``"int"``, ``"bool"`` or ``"choice"``. Only ``float`` and
    ``int`` hyperparameters may be arrays (a sweep); ``bool`` and ``choice`` select a
    code path and are therefore the same for every trajectory of one engine group.
    ``low``/``high``/``log`` describe the slider; ``valid`` is the interval the value
    must lie in, written like ``"[0, 1)"`` or ``"(0, inf)"`` (empty: any finite value).
    ``role`` is one of :data:`ROLES`, or empty.
    """

    name: str
    default: Any
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    label: str = ""
    help: str = ""
    valid: str = ""
    role: str = ""

    def __post_init__(self):
        if self.role and self.role not in ROLES:
            raise ValueError(f"{self.name}: unknown role {self.role!r}; known: {', '.join(ROLES)}")

    @property
    def sweepable(self) -> bool:
        return self.kind in ("float", "int")

    @property
    def display(self) -> str:
        return self.label or self.name


def _with_role(owner: str, hypers: Sequence[Hyper], role: str) -> Hyper | None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    found = [h for h in hypers if h.role == role]
    if len(found) > 1:
        raise ValueError(f"{owner} declares the role {role!r} on {len(found)} parameters")
    return found[0] if found else None


class _Declared:
    """What every entry answers about the parameters it declares (``_declared``)."""

    _what = "parameter"

    @property
    def _declared(self) -> Sequence[Hyper]:
        raise NotImplementedError

    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self._declared}

    def hyper(self, name: str) -> Hyper:
        for h in self._declared:
            if h.name == name:
                return h
        raise KeyError(f"{self.name} has no {self._what} {name!r}")

    def with_role(self, role: str) -> Hyper | None:
        """The parameter declared with ``role`` (one of :data:`ROLES`), or None."""
        return _with_role(self.name, self._declared, role)


@dataclass(frozen=True)
class OptimizerInfo(_Declared):
    """What the app and the tests need to know about one optimizer.

    ``update(param, grad, state, step, *, batch_ndim=0, **hypers)`` is the pure
    in-place kernel and ``init_state(param, **hypers)`` builds its state; the class
    ``cls`` wraps both with the torch.optim API (and finds this entry through the
    registry: ``cls.info``). ``state_bytes(shape, itemsize, **hypers)`` gives the bytes
    of optimizer state kept for one tensor of that shape.
    ``runs_on_floats``: ``update`` and ``init_state`` also take one coordinate as Python
    floats (scalar hyperparameters, float state buffers); ``update`` then returns the new
    param and stores new buffers in ``state``, bit for bit as on a float64 array.
    ``torch_twin``: torch.optim has a class of the same name taking the same keywords with the
    same defaults, so code written for one builds the other (the Schedules page's "copy as
    PyTorch" builds it by name; Live Training can step it with torch.optim).
    """

    name: str
    cls: type
    update: Callable[..., None]
    init_state: Callable[..., dict]
    hypers: tuple[Hyper, ...]
    latex: str
    state_bytes: Callable[..., float]
    state_note: str
    paper: str
    summary: str
    family: str = "adaptive"
    elementwise: bool = True
    needs_hessian: bool = False
    runs_on_floats: bool = False
    torch_twin: bool = False

    _what = "hyperparameter"

    @property
    def _declared(self) -> Sequence[Hyper]:
        return self.hypers

    def state_bytes_per_param(self, itemsize: int = 4, shape: Sequence[int] | None = None, **hypers) -> float:
        """Bytes of state per parameter for a tensor of ``shape`` (default: a 4096x4096 matrix)."""
        shape = tuple(shape) if shape is not None else (4096, 4096)
        n = 1
        for s in shape:
            n *= s
        return self.state_bytes(shape, itemsize, **{**self.defaults(), **hypers}) / n


@dataclass(frozen=True)
class ScheduleInfo(_Declared):
    """A learning-rate schedule: its pure curve function and how to present it.

    ``curve(n_steps, base_lr, **params)`` returns a dict of arrays with at least ``"lr"``
    (and ``"momentum"`` for schedules that cycle it), one value per step.
    ``pytorch(base_lr=..., n_steps=..., optimizer=None, hypers=None, **params)`` returns a
    runnable torch script that builds the optimizer ``optimizer`` (a registry name, with the
    kernel-named ``hypers``; None: a stand-in) and this schedule, and records ``lrs``.
    """

    name: str
    curve: Callable[..., Mapping[str, Any]]
    params: tuple[Hyper, ...]
    latex: str
    summary: str
    pytorch: Callable[..., str]
    cls: type | None = None
    cycles_momentum: bool = False
    needs_metric: bool = False

    def __post_init__(self):
        # Every caller (the engine, the app) gets a curve that is finite or a ValueError.
        object.__setattr__(self, "curve", _finite_curve(self.name, self.curve))

    @property
    def _declared(self) -> Sequence[Hyper]:
        return self.params

    def length_param(self) -> Hyper | None:
        """The parameter that is a number of steps the schedule spans (a ``run_length`` or ``phase_length``)."""
        found = [h for h in self.params if h.role in LENGTH_ROLES]
        if len(found) > 1:
            raise ValueError(f"{self.name} declares {len(found)} length parameters")
        return found[0] if found else None


@dataclass(frozen=True)
class SurfaceInfo(_Declared):
    """A 2D loss surface: a factory for the surface object and how to present it."""

    name: str
    factory: Callable[..., Any]
    params: tuple[Hyper, ...] = ()
    note: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def _declared(self) -> Sequence[Hyper]:
        return self.params

    def make(self, **params):
        """The surface with ``params`` over the defaults, each checked against its declaration.

        A parameter the entry does not declare, or a value outside its declared ``valid``
        interval (NaN, inf, text that is not a number, a list...), raises a ValueError that
        names it; so does a surface whose window would not be finite. Numeric text ("2.5", as
        a URL holds it) is read as the number.
        """
        unknown = sorted(set(params) - {h.name for h in self.params})
        if unknown:
            takes = ", ".join(h.name for h in self.params) or "no parameters"
            raise ValueError(f"no parameter {', '.join(map(repr, unknown))} (this surface takes {takes})")
        values = {**self.defaults(), **params}
        values = {h.name: _checked_number(h, values[h.name]) for h in self.params}
        surface = self.factory(**values)
        window = getattr(surface, "window", ((0.0, 0.0), (0.0, 0.0)))
        if not all(math.isfinite(float(v)) for pair in window for v in pair) or not math.isfinite(surface.bound):
            raise ValueError("these parameters put the surface out of range "
                             f"({', '.join(f'{k} = {v:g}' for k, v in values.items())})")
        return surface


def _checked_number(h: Hyper, value: Any) -> Any:
    """A surface parameter as a number inside ``h.valid`` (an int for an int), or a ValueError naming it
    (by its label: the caller says which surface, as the app's "Rosenbrock: b must lie in (0, inf)")."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        raise ValueError(f"{h.display} must be a number, got {value!r}")
    number = float(number)
    if not math.isfinite(number):
        raise ValueError(f"{h.display} must be a finite number, got {value!r}")
    if h.kind == "int":
        if not number.is_integer():
            raise ValueError(f"{h.display} must be an integer, got {value!r}")
        number = int(number)
    if h.valid:
        lo, hi, lo_closed, hi_closed = valid_interval(h.valid)
        if not ((number >= lo if lo_closed else number > lo) and (number <= hi if hi_closed else number < hi)):
            raise ValueError(f"{h.display} must lie in {h.valid}, got {value!r}")
    return number


# Longer curves are refused: no request of the app comes near, and n floats are allocated at once.
MAX_CURVE_STEPS = 1_000_000


def _finite_curve(name: str, curve: Callable[..., Mapping[str, Any]]) -> Callable[..., Mapping[str, Any]]:
    """``curve`` with its base lr and length checked, and a ValueError instead of a curve that is not
    finite (a factor that overflows over the run, a division by a subnormal, ...)."""
    if getattr(curve, "_checks_finite", False):
        return curve

    @functools.wraps(curve)
    def checked(n_steps, base_lr, *args, **params):
        if isinstance(base_lr, bool) or not isinstance(base_lr, numbers.Real) or not (
                math.isfinite(base_lr) and base_lr >= 0):
            raise ValueError(f"{name}: the base learning rate must be a finite number >= 0, got {base_lr!r}")
        if isinstance(n_steps, numbers.Real) and not isinstance(n_steps, bool) and n_steps > MAX_CURVE_STEPS:
            raise ValueError(f"{name}: at most {MAX_CURVE_STEPS:,} steps, got {n_steps:g}")
        import numpy as np  # the entry types import only the standard library at module level

        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # reported below instead
            out = curve(n_steps, base_lr, *args, **params)
        for key, what in (("lr", "learning rate"), ("momentum", "momentum")):
            values = out.get(key) if isinstance(out, Mapping) else None
            if values is None:
                continue
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            finite = np.isfinite(values)
            if not finite.all():
                raise ValueError(f"{name}: with these parameters the {what} is not a finite number at step "
                                 f"{int(np.argmin(finite))} (it overflows or is undefined); use smaller factors "
                                 "or a smaller base learning rate")
            # A negative lr steps uphill. torch's recursive forms may round a decay to 0 (or to eta_min
            # from below) a rounding error below it: that is kept, anything more is refused.
            if key == "lr" and values.size and values.min() < -1e-9 * max(float(base_lr), np.abs(values).max()):
                t = int(np.argmax(values < 0))
                raise ValueError(f"{name}: with these parameters the learning rate goes negative at step {t} "
                                 f"({values[t]:.3g}); check the factors and which bound is the larger")
        return out

    checked._checks_finite = True
    return checked
