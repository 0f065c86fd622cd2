"""The one registry: every optimizer, schedule and surface, with its parameters.

The app builds its controls, theory panels and "copy as PyTorch" snippets from these
entries, and the tests build their tables from them. Each entry is declared next to the
code it describes (``INFO = OptimizerInfo(...)`` in the optimizer's own module); this
file only lists the modules, so adding an optimizer is its own file plus one line in
``_OPTIMIZER_MODULES``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

__all__ = [
    "Hyper",
    "OptimizerInfo",
    "ScheduleInfo",
    "SurfaceInfo",
    "optimizers",
    "schedules",
    "surfaces",
    "get_optimizer",
    "get_schedule",
    "get_surface",
]


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

    @property
    def sweepable(self) -> bool:
        return self.kind in ("float", "int")

    @property
    def display(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class OptimizerInfo:
    """What the app and the tests need to know about one optimizer.

    ``update(param, grad, state, step, *, batch_ndim=0, **hypers)`` is the pure
    in-place kernel and ``init_state(param, **hypers)`` builds its state; the class
    ``cls`` wraps both with the torch.optim API. ``state_bytes(shape, itemsize,
    **hypers)`` gives the bytes of optimizer state kept for one tensor of that shape.
    ``runs_on_floats``: ``update`` and ``init_state`` also take one coordinate as Python
    floats (scalar hyperparameters, float state buffers); ``update`` then returns the new
    param and stores new buffers in ``state``, bit for bit as on a float64 array.
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

    def __post_init__(self):
        # The class reads its kernel and hyperparameters from its entry.
        self.cls.info = self

    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hypers}

    def hyper(self, name: str) -> Hyper:
        for h in self.hypers:
            if h.name == name:
                return h
        raise KeyError(f"{self.name} has no hyperparameter {name!r}")

    def state_bytes_per_param(self, itemsize: int = 4, shape: Sequence[int] | None = None, **hypers) -> float:
        """Bytes of state per parameter for a tensor of ``shape`` (default: a 4096x4096 matrix)."""
        shape = tuple(shape) if shape is not None else (4096, 4096)
        n = 1
        for s in shape:
            n *= s
        return self.state_bytes(shape, itemsize, **{**self.defaults(), **hypers}) / n


@dataclass(frozen=True)
class ScheduleInfo:
    """A learning-rate schedule: its pure curve function and how to present it.

    ``curve(n_steps, base_lr, **params)`` returns a dict of arrays with at least ``"lr"``
    (and ``"momentum"`` for schedules that cycle it), one value per step.
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

    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.params}


@dataclass(frozen=True)
class SurfaceInfo:
    """A 2D loss surface: a factory for the surface object and how to present it."""

    name: str
    factory: Callable[..., Any]
    params: tuple[Hyper, ...] = ()
    note: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.params}

    def make(self, **params):
        return self.factory(**{**self.defaults(), **params})


# One line per optimizer module; each module defines ``INFO``.
_OPTIMIZER_MODULES = (
    "sgd",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "nadam",
    "radam",
    "adamax",
    "lion",
    "lamb",
    "lars",
    "adafactor",
    "sophia",
    "adam8bit",
)

_cache: dict[str, dict[str, Any]] = {}


def _collect(kind: str, modules: Sequence[str], package: str) -> dict[str, Any]:
    if kind not in _cache:
        entries: dict[str, Any] = {}
        for mod_name in modules:
            mod = importlib.import_module(f"{package}.{mod_name}")
            infos = mod.INFOS if hasattr(mod, "INFOS") else [mod.INFO]
            for info in infos:
                entries[info.name] = info
        _cache[kind] = entries
    return _cache[kind]


def optimizers() -> dict[str, OptimizerInfo]:
    """Every registered optimizer, by class name, in teaching order."""
    return _collect("optimizers", _OPTIMIZER_MODULES, "optim_core.optimizers")


def schedules() -> dict[str, ScheduleInfo]:
    """Every registered schedule, by name."""
    from optim_core.schedules import SCHEDULE_MODULES

    return _collect("schedules", SCHEDULE_MODULES, "optim_core.schedules")


def surfaces() -> dict[str, SurfaceInfo]:
    """Every registered loss surface, by name."""
    from optim_core.surfaces import SURFACE_MODULES

    return _collect("surfaces", SURFACE_MODULES, "optim_core.surfaces")


def _get(table: Mapping[str, Any], name: str, what: str):
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(table)}") from None


def get_optimizer(name: str) -> OptimizerInfo:
    return _get(optimizers(), name, "optimizer")


def get_schedule(name: str) -> ScheduleInfo:
    return _get(schedules(), name, "schedule")


def get_surface(name: str) -> SurfaceInfo:
    return _get(surfaces(), name, "surface")
