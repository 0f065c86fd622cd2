"""Learning-rate schedules, with torch.optim.lr_scheduler's classes and numbers.

Every schedule comes in two forms: a torch-shaped class that drives any optim_core
optimizer through its ``param_groups`` (``step()``, ``get_last_lr()``, ``state_dict()``),
and a pure function that returns the whole curve for ``n`` steps as arrays,
``{"lr": array(n)}`` (plus ``"momentum"`` for OneCycleLR / CyclicLR), where index ``i``
is the lr in force for step ``i`` (after ``i`` calls of ``step()``).

Modules: ``decay`` (StepLR, MultiStepLR, ExponentialLR, ConstantLR, LinearLR,
PolynomialLR), ``lambdas`` (LambdaLR, MultiplicativeLR), ``cosine`` (CosineAnnealingLR,
CosineAnnealingWarmRestarts), ``cyclic`` (OneCycleLR, CyclicLR), ``warmup``
(WarmupCosine, WarmupPolynomial: transformers' warm-up schedules), ``formula`` (FormulaLR: a LambdaLR
whose lambda is typed as a formula of the step), ``plateau`` (ReduceLROnPlateau and its batched
stepper), ``compose`` (SequentialLR, ChainedScheduler and their pure forms),
``lr_finder`` (the LR range test) and ``bench``.
"""

from optim_core.schedules._base import DividesByZeroError, LRScheduler, kwargs_text, torch_momentum_expr, torch_snippet
from optim_core.schedules.bench import bench_schedules
from optim_core.schedules.compose import (
    ChainedScheduler,
    SequentialLR,
    chained_lr,
    composition_snippet,
    sequential_lr,
)
from optim_core.schedules.cosine import (
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    cosine_annealing_lr,
    cosine_annealing_warm_restarts,
)
from optim_core.schedules.cyclic import CyclicLR, OneCycleLR, cyclic_lr, one_cycle_lr
from optim_core.schedules.decay import (
    ConstantLR,
    ExponentialLR,
    LinearLR,
    MultiStepLR,
    PolynomialLR,
    StepLR,
    constant_lr,
    exponential_lr,
    linear_lr,
    multistep_lr,
    polynomial_lr,
    step_lr,
)
from optim_core.schedules.formula import FormulaLR, formula_lr
from optim_core.schedules.lambdas import LambdaLR, MultiplicativeLR, lambda_lr, multiplicative_lr
from optim_core.schedules.lr_finder import LRRangeTestResult, lr_range_test
from optim_core.schedules.plateau import ReduceLROnPlateau, plateau_init, plateau_lr, plateau_step
from optim_core.schedules.warmup import WarmupCosine, WarmupPolynomial, warmup_cosine, warmup_polynomial

# The public names, re-exported by optim_core. The app's and the engine's tools (the
# batched plateau stepper, the "copy as PyTorch" builders, the benchmark) are imported
# from here by name but are not part of the API.
__all__: list[str] = [
    "LRScheduler",
    "DividesByZeroError",
    # classes, torch's names
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "ConstantLR",
    "LinearLR",
    "PolynomialLR",
    "LambdaLR",
    "MultiplicativeLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "OneCycleLR",
    "CyclicLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "ChainedScheduler",
    "WarmupCosine",
    "WarmupPolynomial",
    "FormulaLR",
    # pure curves
    "step_lr",
    "multistep_lr",
    "exponential_lr",
    "constant_lr",
    "linear_lr",
    "polynomial_lr",
    "lambda_lr",
    "multiplicative_lr",
    "cosine_annealing_lr",
    "cosine_annealing_warm_restarts",
    "one_cycle_lr",
    "cyclic_lr",
    "warmup_cosine",
    "warmup_polynomial",
    "formula_lr",
    "plateau_lr",
    "sequential_lr",
    "chained_lr",
    # the LR range test
    "lr_range_test",
    "LRRangeTestResult",
]
