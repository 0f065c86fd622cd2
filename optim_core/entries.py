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
        return self.factory(**{**self.defaults(), **params})
