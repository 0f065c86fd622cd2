"""optim_core: optimizers, schedules, loss surfaces and a trajectory engine, in NumPy.

The optimizers and schedulers follow torch.optim's API and numbers; every one is also a
pure function on broadcasting arrays, which the trajectory engine calls directly. The
registry (:mod:`optim_core.registry`, with the entry types of :mod:`optim_core.entries`)
describes them all for the app and the tests.

``__all__`` is the public API: the shell and the optimizers listed here, and the public
lists of :mod:`optim_core.schedules` and :mod:`optim_core.surfaces`. Tools of the app and
the engine (the batched plateau stepper, the "copy as PyTorch" builders, the benchmarks)
stay in their modules, e.g. ``optim_core.schedules.plateau_step``.
"""

from optim_core import registry
from optim_core.clip import clip_grad_norm_, clip_grad_value_
from optim_core.optimizer import HyperparameterError, Optimizer, Parameter, apply_update
from optim_core.optimizers.lookahead import Lookahead
from optim_core.schedules import *  # noqa: F403 - its __all__ is the public list
from optim_core.schedules import __all__ as _SCHEDULES
from optim_core.surfaces import *  # noqa: F403
from optim_core.surfaces import __all__ as _SURFACES

# The optimizer classes come from the registry, so that a new optimizer is its own file
# and one registry line; the other public names are written out here and in the
# subpackages' __all__.
_OPTIMIZERS = tuple(info.name for info in registry.optimizers().values())
globals().update({info.name: info.cls for info in registry.optimizers().values()})

__all__ = [
    "registry",
    # the torch.optim shell
    "Parameter",
    "Optimizer",
    "HyperparameterError",
    "apply_update",
    *_OPTIMIZERS,
    "Lookahead",
    # torch.nn.utils
    "clip_grad_norm_",
    "clip_grad_value_",
    # schedulers, their pure curves and the LR range test; loss surfaces and formulas
    *_SCHEDULES,
    *_SURFACES,
]
