"""2D loss surfaces for the trajectory engine and the app.

Every surface subclasses :class:`~optim_core.surfaces.base.Surface` (value, exact gradient
and Hessian, vectorized over ``(..., 2)`` arrays) and is registered next to its code with a
``SurfaceInfo``; ``optim_core.registry.surfaces()`` collects them in the order of its
module list (teaching order). :class:`CustomSurface` builds one from a typed
formula (:mod:`optim_core.formula`) and is not registered: the app constructs it directly.
"""

from optim_core.formula import FormulaError, parse_formula
from optim_core.stochastic import StochasticGradient
from optim_core.surfaces.base import Surface
from optim_core.surfaces.benchmarks import Beale, GoldsteinPrice, McCormick, Rosenbrock
from optim_core.surfaces.custom import CustomSurface
from optim_core.surfaces.multimodal import (
    Ackley,
    Himmelblau,
    Rastrigin,
    RippleBowl,
    SixHumpCamel,
    StyblinskiTang,
    ThreeHumpCamel,
)
from optim_core.surfaces.plateau import PlateauCliff
from optim_core.surfaces.quadratic import Booth, Matyas, Quadratic, QuadraticBowl, Ravine, RotatedRavine
from optim_core.surfaces.saddles import MonkeySaddle, Saddle

__all__ = [
    "Surface",
    "Quadratic",
    "QuadraticBowl",
    "Ravine",
    "RotatedRavine",
    "Booth",
    "Matyas",
    "Saddle",
    "MonkeySaddle",
    "PlateauCliff",
    "Rosenbrock",
    "Beale",
    "McCormick",
    "GoldsteinPrice",
    "Himmelblau",
    "ThreeHumpCamel",
    "SixHumpCamel",
    "StyblinskiTang",
    "Rastrigin",
    "Ackley",
    "RippleBowl",
    "CustomSurface",
    "parse_formula",
    "FormulaError",
    "StochasticGradient",
]
