"""The one registry: every optimizer, schedule and surface, with its parameters.

The app builds its controls, theory panels and "copy as PyTorch" snippets from these
entries, and the tests build their tables from them. Each entry is declared next to the
code it describes (``INFO = OptimizerInfo(...)``, or ``INFOS = [...]``, in its own
module) with the types of :mod:`optim_core.entries`; this file lists the modules, once,
so adding an optimizer is its own file plus one line in ``_OPTIMIZER_MODULES`` (a
schedule or a surface: a line in ``_SCHEDULE_MODULES`` or ``_SURFACE_MODULES``, when it
lives in a new module).

Only :mod:`optim_core.entries` is imported here at module level; the modules holding
entries are imported the first time a collection is asked for, and they import the entry
types from :mod:`optim_core.entries`, never from here.
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping, Sequence

from optim_core.entries import LENGTH_ROLES, ROLES, Hyper, OptimizerInfo, ScheduleInfo, SurfaceInfo

__all__ = [
    "ROLES",
    "LENGTH_ROLES",
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
    "optimizer_of_class",
]

# One line per module holding entries (``INFO`` or ``INFOS``), in the order the app lists them.
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
_SCHEDULE_MODULES = ("decay", "lambdas", "cosine", "cyclic", "warmup", "plateau", "compose", "formula")
_SURFACE_MODULES = ("quadratic", "saddles", "plateau", "benchmarks", "multimodal")

_cache: dict[str, dict[str, Any]] = {}
_by_class: dict[type, OptimizerInfo] = {}


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
    return _collect("schedules", _SCHEDULE_MODULES, "optim_core.schedules")


def surfaces() -> dict[str, SurfaceInfo]:
    """Every registered loss surface, by name."""
    return _collect("surfaces", _SURFACE_MODULES, "optim_core.surfaces")


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


def optimizer_of_class(cls: type) -> OptimizerInfo:
    """The entry whose ``cls`` is ``cls`` or its nearest registered base class (what ``cls.info`` gives).

    A subclass of a registered optimizer shares its entry; a class with no registered
    class in its MRO raises ``LookupError``. Answers are cached per class.
    """
    try:
        return _by_class[cls]
    except KeyError:
        pass
    own = {info.cls: info for info in optimizers().values()}
    for klass in cls.__mro__:
        if klass in own:
            _by_class[cls] = own[klass]
            return own[klass]
    raise LookupError(f"{cls.__name__} is not a registered optimizer class (nor a subclass of one); "
                      "register its module in optim_core.registry._OPTIMIZER_MODULES")
