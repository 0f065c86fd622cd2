"""optim_core: optimizers, schedules, loss surfaces and a trajectory engine, in NumPy.

The optimizers and schedulers follow torch.optim's API and numbers; every one is also a
pure function on broadcasting arrays, which the trajectory engine calls directly. The
registry (:mod:`optim_core.registry`) describes them all for the app and the tests.
"""

from optim_core import registry
from optim_core.optimizer import HyperparameterError, Optimizer, Parameter, apply_update
from optim_core.schedules import *  # noqa: F403
from optim_core.schedules import __all__ as _schedule_names
from optim_core.surfaces import *  # noqa: F403
from optim_core.surfaces import __all__ as _surface_names

# The optimizer classes are exported from the registry, so a new optimizer needs no line here.
_optimizer_names = []
for _info in registry.optimizers().values():
    globals()[_info.name] = _info.cls
    _optimizer_names.append(_info.name)

__all__ = [
    "registry",
    "Parameter",
    "Optimizer",
    "HyperparameterError",
    "apply_update",
    *_optimizer_names,
    *_schedule_names,
    *_surface_names,
]
