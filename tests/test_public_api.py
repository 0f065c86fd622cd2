"""The top-level API: every public name importable from ``optim_core``, and only those."""

import optim_core

# Issue 2's list, written out (never read from the package under test).
TORCH_OPTIM = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam", "RAdam", "Adamax"]
MODERN = ["Lion", "LAMB", "LARS", "Adafactor", "Sophia", "Adam8bit", "Lookahead"]
SHELL = ["Parameter", "Optimizer", "HyperparameterError", "apply_update", "registry", "clip_grad_norm_",
         "clip_grad_value_"]
SCHEDULERS = ["LRScheduler", "DividesByZeroError", "StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LinearLR", "PolynomialLR",
              "LambdaLR", "MultiplicativeLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
              "CyclicLR", "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler", "WarmupCosine",
              "WarmupPolynomial", "FormulaLR"]
CURVES = ["step_lr", "multistep_lr", "exponential_lr", "constant_lr", "linear_lr", "polynomial_lr", "lambda_lr",
          "multiplicative_lr", "cosine_annealing_lr", "cosine_annealing_warm_restarts", "one_cycle_lr", "cyclic_lr",
          "warmup_cosine", "warmup_polynomial", "formula_lr", "plateau_lr", "sequential_lr", "chained_lr", "lr_range_test",
          "LRRangeTestResult"]
SURFACES = ["Surface", "Quadratic", "QuadraticBowl", "Ravine", "RotatedRavine", "Booth", "Matyas", "Saddle",
            "MonkeySaddle", "PlateauCliff", "Rosenbrock", "Beale", "McCormick", "GoldsteinPrice", "Himmelblau",
            "ThreeHumpCamel", "SixHumpCamel", "StyblinskiTang", "Rastrigin", "Ackley", "RippleBowl",
            "CustomSurface", "parse_formula", "FormulaError", "StochasticGradient"]
PUBLIC = TORCH_OPTIM + MODERN + SHELL + SCHEDULERS + CURVES + SURFACES
# Tools of the app, the engine and the benchmarks: reachable in their modules, not at the top.
INTERNAL = ["bench_schedules", "plateau_init", "plateau_step", "torch_snippet", "kwargs_text", "bound_kernel",
            "check_hyper", "CHUNK_BYTES", "SCHEDULE_MODULES", "SURFACE_MODULES"]


def test_all_is_exactly_the_public_names():
    assert len(optim_core.__all__) == len(set(optim_core.__all__))
    assert sorted(optim_core.__all__) == sorted(PUBLIC)


def test_star_import_gives_the_public_names():
    namespace = {}
    exec("from optim_core import *", namespace)
    assert sorted(k for k in namespace if not k.startswith("__")) == sorted(PUBLIC)


def test_internals_stay_in_their_modules():
    for name in INTERNAL:
        assert not hasattr(optim_core, name), f"optim_core.{name} should stay in its module"
    from optim_core.optimizer import bound_kernel  # noqa: F401
    from optim_core.schedules import bench_schedules, plateau_init, plateau_step, torch_snippet  # noqa: F401


def test_wrappers_and_clipping_are_the_real_objects():
    from optim_core.clip import clip_grad_norm_, clip_grad_value_
    from optim_core.optimizers.lookahead import Lookahead

    assert optim_core.Lookahead is Lookahead
    assert optim_core.clip_grad_norm_ is clip_grad_norm_ and optim_core.clip_grad_value_ is clip_grad_value_
