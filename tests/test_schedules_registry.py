"""The schedule registry: entries are complete, their torch snippets run and give the same curve,
bad arguments raise ValueErrors that say what is wrong, and the core never imports torch."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

import optim_core
import optim_core.schedules as sched
from optim_core.optimizer import check_hyper
from optim_core.registry import ScheduleInfo
from tests.asserts import assert_same, reference

torch = reference("torch")

SCHEDULES = optim_core.registry.schedules()
TORCH_NAMES = {"StepLR", "MultiStepLR", "ExponentialLR", "ConstantLR", "LinearLR", "PolynomialLR", "LambdaLR",
               "MultiplicativeLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR", "CyclicLR",
               "ReduceLROnPlateau", "SequentialLR", "ChainedScheduler"}


def test_every_torch_scheduler_the_two_warmups_and_the_typed_formula_are_registered():
    assert TORCH_NAMES | {"WarmupCosine", "WarmupPolynomial", "FormulaLR"} == set(SCHEDULES)
    assert all(n in dir(torch.optim.lr_scheduler) for n in TORCH_NAMES)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_entry_is_complete(name):
    info: ScheduleInfo = SCHEDULES[name]
    assert info.name == name == info.cls.__name__
    assert info.summary and "\n" not in info.summary and info.latex
    for h in info.params:
        assert h.kind in ("float", "int", "bool", "choice", "text")
        if h.kind == "text":  # a formula: checked by its schedule (tests/test_formula_schedule.py)
            assert isinstance(h.default, str) and h.default
            continue
        check_hyper(h, h.default)  # defaults lie in their valid intervals
        if h.kind in ("float", "int"):
            assert h.low is not None and h.high is not None and h.low <= h.default <= h.high, h.name
    out = info.curve(500, 0.05, **info.defaults())
    assert out["lr"].shape == (500,) and np.all(np.isfinite(out["lr"])) and np.all(out["lr"] >= 0)
    assert ("momentum" in out) == info.cycles_momentum
    assert info.needs_metric == (name == "ReduceLROnPlateau")


VARIANTS = [(name, {}) for name in SCHEDULES] + [
    ("StepLR", {"step_size": 45, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": (100, 300, 600, 900), "gamma": 0.3}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 300}),
    ("PolynomialLR", {"total_iters": 250, "power": 2.0}),
    ("LambdaLR", {"gamma": 0.98}),
    ("CosineAnnealingLR", {"T_max": 90, "eta_min": 0.001}),
    ("CosineAnnealingWarmRestarts", {"T_0": 15, "T_mult": 3, "eta_min": 0.002}),
    ("OneCycleLR", {"three_phase": True, "anneal_strategy": "linear", "pct_start": 0.2}),
    ("OneCycleLR", {"cycle_momentum": False, "div_factor": 10.0}),
    ("CyclicLR", {"mode": "exp_range", "gamma": 0.995, "step_size_up": 30, "step_size_down": 50}),
    ("CyclicLR", {"mode": "triangular2", "step_size_up": 25, "cycle_momentum": False}),
    ("WarmupCosine", {"warmup_steps": 40, "total_steps": 300, "min_lr_ratio": 0.0}),
    ("WarmupCosine", {"warmup_steps": 10, "total_steps": 250, "min_lr_ratio": 0.2, "num_cycles": 1.25}),
    ("WarmupPolynomial", {"warmup_steps": 0, "total_steps": 350, "power": 2.0, "end_lr": 0.001}),
    ("WarmupPolynomial", {"warmup_steps": 30, "total_steps": 300, "power": 0.0, "end_lr": 0.01}),
    ("MultiStepLR", {"milestones": (300, 100, 100), "gamma": 0.5}),
    ("CyclicLR", {"step_size_up": 30, "step_size_down": 0}),
    ("OneCycleLR", {"pct_start": 0.0}),
    ("OneCycleLR", {"pct_start": 0.7, "three_phase": True}),
    ("ReduceLROnPlateau", {"patience": 3, "factor": 0.3, "cooldown": 2, "threshold_mode": "abs",
                           "threshold": 0.001}),
    ("SequentialLR", {"warmup_iters": 30, "T_max": 100, "eta_min": 0.001}),
    ("ChainedScheduler", {"warmup_iters": 50, "start_factor": 0.1, "gamma": 0.99}),
]


@pytest.mark.parametrize("name,params", VARIANTS, ids=lambda v: v if isinstance(v, str) else None)
def test_pytorch_snippet_runs_and_gives_the_curve(name, params):
    info = SCHEDULES[name]
    params = {**info.defaults(), **params}
    n, base_lr = 400, 0.05
    code = info.pytorch(base_lr=base_lr, n_steps=n, **params)
    assert "model = torch.nn.Linear(2, 1)" in code
    namespace: dict = {}
    exec(compile(code, f"<{name} snippet>", "exec"), namespace)  # noqa: S102
    curve = info.curve(n, base_lr, **params)
    assert_same(curve["lr"], np.asarray(namespace["lrs"], dtype=np.float64), rtol=1e-9, atol=1e-15)
    if "momentum" in curve:
        assert_same(curve["momentum"], np.asarray(namespace["momenta"], dtype=np.float64), rtol=1e-9)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_pytorch_snippet_builds_the_optimizer_it_is_given(name):
    # No optimizer: a stand-in (SGD with momentum; AdamW for the transformer warm-ups). A registry
    # optimizer: torch.optim's twin with its non-default keywords, or the stand-in and a comment
    # saying so. Every one is valid Python; with torch it gives the curve, momenta included.
    info = SCHEDULES[name]
    params = info.defaults()
    n, base_lr = 120, 0.05
    stand_in = ("AdamW(model.parameters(), lr=0.05, weight_decay=0.01)" if name.startswith("Warmup")
                else "SGD(model.parameters(), lr=0.05, momentum=0.9)")
    stand_in = f"optimizer = torch.optim.{stand_in}\n"
    assert stand_in in info.pytorch(base_lr=base_lr, n_steps=n, **params)
    curve = info.curve(n, base_lr, **params)
    for opt, entry in optim_core.registry.optimizers().items():
        cycles = info.cycles_momentum and entry.with_role("cycled_momentum") is not None
        p = {**params, "cycle_momentum": False} if info.cycles_momentum and not cycles else params
        code = info.pytorch(base_lr=base_lr, n_steps=n, optimizer=opt, hypers={}, **p)
        compile(code, f"<{name} with {opt}>", "exec")
        if entry.torch_twin:
            assert f"optimizer = torch.optim.{opt}(model.parameters(), lr=0.05)\n" in code
        else:
            assert f"# torch.optim has no {opt}: " in code and stand_in in code
        if opt in ("SGD", "AdamW", "Adagrad", "Lion"):  # momentum, β₁, neither, a stand-in
            namespace: dict = {}
            exec(code, namespace)  # noqa: S102
            lr = info.curve(n, base_lr, **p)["lr"]
            assert_same(lr, np.asarray(namespace["lrs"], dtype=np.float64), rtol=1e-9, atol=1e-15)
            if cycles:
                assert_same(curve["momentum"], np.asarray(namespace["momenta"], dtype=np.float64), rtol=1e-9)


def test_plateau_curve_takes_a_metric_and_reports_reductions():
    info = SCHEDULES["ReduceLROnPlateau"]
    metric = np.r_[np.linspace(1, 0.5, 50), np.full(100, 0.5)]
    out = info.curve(120, 0.1, metrics=metric, **{**info.defaults(), "patience": 5, "factor": 0.5})
    assert out["lr"][:56].tolist() == [0.1] * 56 and out["lr"][-1] < 0.1
    assert out["reductions"][0] == 56 and np.all(np.diff(out["lr"])[out["reductions"] - 1] < 0)


BAD = [
    (lambda o: optim_core.StepLR(o, step_size=0), "step_size must be a positive integer"),
    (lambda o: optim_core.StepLR(o, step_size=-2), "step_size must be a positive integer"),
    (lambda o: optim_core.StepLR(o, step_size=2.5), "step_size must be an integer"),
    (lambda o: optim_core.StepLR(o, step_size=2, gamma=float("nan")), "gamma must be a finite number"),
    (lambda o: optim_core.MultiStepLR(o, milestones=[30, -1]), r"milestones\[i\] must be an integer >= 0"),
    (lambda o: optim_core.MultiStepLR(o, milestones=[30, 10.5]), r"milestones\[i\] must be an integer"),
    (lambda o: optim_core.ExponentialLR(o, gamma=-0.5), r"gamma must lie in \[0, inf\)"),
    (lambda o: optim_core.ConstantLR(o, factor=1.5), r"factor must lie in \(0, 1\]"),
    (lambda o: optim_core.ConstantLR(o, factor=0.0), r"factor must lie in \(0, 1\]"),
    (lambda o: optim_core.ConstantLR(o, total_iters=0), "total_iters must be a positive integer"),
    (lambda o: optim_core.LinearLR(o, start_factor=0.0), r"start_factor must lie in \(0, 1\]"),
    (lambda o: optim_core.LinearLR(o, end_factor=1.2), r"end_factor must lie in \[0, 1\]"),
    (lambda o: optim_core.LinearLR(o, total_iters=0), "total_iters must be a positive integer"),
    (lambda o: optim_core.PolynomialLR(o, power=-1.0), "power must lie in"),
    (lambda o: optim_core.PolynomialLR(o, total_iters=-3), "total_iters must be a positive integer"),
    (lambda o: optim_core.CosineAnnealingLR(o, T_max=0), "T_max must be a positive integer"),
    (lambda o: optim_core.CosineAnnealingLR(o, T_max=-5), "T_max must be a positive integer"),
    (lambda o: optim_core.CosineAnnealingLR(o, T_max=10, eta_min=-0.1), "eta_min must lie in"),
    (lambda o: optim_core.CosineAnnealingWarmRestarts(o, T_0=0), "T_0 must be a positive integer"),
    (lambda o: optim_core.CosineAnnealingWarmRestarts(o, T_0=4.0), "T_0 must be an integer"),
    (lambda o: optim_core.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), "T_mult must be a positive integer"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=100, pct_start=1.3), "pct_start must lie in"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=100, pct_start=-0.1), "pct_start must lie in"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=100, pct_start=1), "Expected float between 0 and 1"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=100, pct_start=float("nan")),
     "pct_start must be a finite number"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=0), "Expected positive integer total_steps"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1), "either total_steps OR"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, epochs=0, steps_per_epoch=3), "positive integer epochs"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=0.1),
     "total_steps=10 is too small for pct_start=0.1: the warm-up .*torch divides by zero"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.0),
     "give phase 2 no length.* at step 10"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=100, anneal_strategy="exp"), "anneal_strategy"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=[0.1], total_steps=100), "max_lr must have the same length"),
    (lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=100, div_factor=0.0), "div_factor must lie in"),
    (lambda o: optim_core.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=0), "step_size_up must lie in"),
    (lambda o: optim_core.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_down=-1), "step_size_down must lie in"),
    (lambda o: optim_core.CyclicLR(o, base_lr=0.01, max_lr=0.1, mode="sawtooth"), "mode is invalid"),
    (lambda o: optim_core.CyclicLR(o, base_lr=0.01, max_lr=0.1, scale_fn=abs, scale_mode="epochs"), "scale_mode"),
    (lambda o: optim_core.CyclicLR(o, base_lr=0.01, max_lr=0.1, mode="exp_range", gamma=-0.5), "gamma must lie in"),
    (lambda o: optim_core.ReduceLROnPlateau(o, factor=1.0), "Factor should be < 1.0"),
    (lambda o: optim_core.ReduceLROnPlateau(o, mode="up"), "mode 'up' is unknown"),
    (lambda o: optim_core.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold mode 'pct' is unknown"),
    (lambda o: optim_core.ReduceLROnPlateau(o, patience=-1), "patience must be an integer >= 0"),
    (lambda o: optim_core.ReduceLROnPlateau(o, min_lr=[0.1]), "expected 2 min_lrs"),
    (lambda o: optim_core.LambdaLR(o, lr_lambda=[lambda e: 1.0]), "Expected 2 lr_lambdas"),
    (lambda o: optim_core.SequentialLR(o, [optim_core.StepLR(o, 2), optim_core.StepLR(o, 2),
                                           optim_core.StepLR(o, 2)], milestones=[5, 3]),
     "milestones must be non-decreasing"),
    (lambda o: optim_core.WarmupCosine(o, warmup_steps=200, total_steps=100), "total_steps .* must be >= warmup"),
    (lambda o: optim_core.WarmupCosine(o, warmup_steps=10, total_steps=100, min_lr_ratio=2.0), "min_lr_ratio"),
    (lambda o: optim_core.WarmupCosine(o, warmup_steps=10, total_steps=100, num_cycles=float("inf")), "num_cycles"),
    (lambda o: optim_core.WarmupPolynomial(o, warmup_steps=-1, total_steps=100), "warmup_steps must be"),
    (lambda o: optim_core.WarmupPolynomial(o, warmup_steps=100, total_steps=100), "total_steps .* must be >"),
    (lambda o: optim_core.WarmupPolynomial(o, warmup_steps=10, total_steps=100, end_lr=-0.01), "end_lr must lie"),
    (lambda o: optim_core.WarmupPolynomial(o, warmup_steps=10, total_steps=100, end_lr=0.5),
     r"lr_end \(0.5\) must be smaller than initial lr"),
]


@pytest.mark.parametrize("make,match", BAD, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_arguments_raise_value_errors_that_say_why(make, match):
    p, q = optim_core.Parameter(np.zeros(2)), optim_core.Parameter(np.zeros(2))
    opt = optim_core.SGD([{"params": [p], "lr": 0.1}, {"params": [q], "lr": 0.05}], momentum=0.9)
    with pytest.raises(ValueError, match=match):
        make(opt)


def test_where_torch_divides_by_zero_our_value_error_is_a_zero_division_error_too():
    # torch accepts these arguments and then divides by zero; ours refuses them at construction
    # with an error that is both (tests/test_schedules.py checks the step at which torch fails).
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ZeroDivisionError):  # torch: the warm-up phase has zero length
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=0.1)
    with pytest.raises(ZeroDivisionError):  # torch accepts factor 0, then divides by it at total_iters
        s = torch.optim.lr_scheduler.ConstantLR(opt, factor=0.0, total_iters=2)
        for _ in range(2):
            opt.step()
            s.step()
    p = optim_core.Parameter(np.zeros(2))
    ours = optim_core.SGD([p], lr=0.1, momentum=0.9)
    for make in (lambda: optim_core.OneCycleLR(ours, max_lr=0.1, total_steps=10, pct_start=0.1),
                 lambda: optim_core.ConstantLR(ours, factor=0.0, total_iters=2)):
        with pytest.raises(ZeroDivisionError) as err:
            make()
        assert isinstance(err.value, ValueError) and isinstance(err.value, sched.DividesByZeroError)


@pytest.mark.parametrize("call,match", [
    (lambda: optim_core.step_lr(10, 0.1, step_size=0), "step_size"),
    (lambda: optim_core.cosine_annealing_lr(10, 0.1, T_max=0), "T_max"),
    (lambda: optim_core.one_cycle_lr(10, 0.1, total_steps=100, pct_start=1.0), "give phase 2 no length"),
    (lambda: optim_core.one_cycle_lr(10, 0.1, total_steps=100, pct_start=1.5), "pct_start"),
    (lambda: optim_core.multistep_lr(10, 0.1, milestones=[3, -3]), "milestones"),
    (lambda: optim_core.warmup_polynomial(10, 0.1, 5, 50, end_lr=0.2), "must be smaller than initial lr"),
    (lambda: optim_core.warmup_polynomial(10, 0.1, 5, 50, end_lr=0.05, lr_init=0.01), "must be smaller"),
    (lambda: optim_core.cyclic_lr(10, 0.01, 0.1, mode="x"), "mode is invalid"),
    (lambda: optim_core.plateau_lr([1.0, 2.0], 0.1, factor=2.0), "Factor should be < 1.0"),
    (lambda: optim_core.warmup_polynomial(10, 0.1, 5, 50, power=-1), "power"),
    (lambda: optim_core.step_lr(-1, 0.1, step_size=3), "number of steps"),
])
def test_pure_functions_check_their_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_curves_have_n_values_and_start_at_step_zero():
    assert optim_core.step_lr(0, 0.1, step_size=3)["lr"].shape == (0,)
    assert optim_core.cosine_annealing_lr(1, 0.1, T_max=3)["lr"].tolist() == [0.1]
    assert optim_core.linear_lr(3, 1.0, start_factor=0.5, total_iters=2)["lr"].tolist() == [0.5, 0.75, 1.0]
    lr = optim_core.cosine_annealing_warm_restarts(40, 1.0, T_0=4, T_mult=2)["lr"]
    assert np.flatnonzero(lr == 1.0).tolist() == [0, 4, 12, 28]  # restarts after 4, 8, 16 steps


def test_exports_and_all():
    # The top level re-exports the schedules' public names (the tools stay in optim_core.schedules).
    shared = set(sched.__all__) & set(optim_core.__all__)
    assert {"StepLR", "MultiStepLR", "WarmupCosine", "multistep_lr", "warmup_polynomial", "sequential_lr"} <= shared
    for name in shared:
        assert getattr(optim_core, name) is getattr(sched, name)
    for name in sched.__all__:
        assert getattr(sched, name) is not None
    # The modules holding entries are listed once, in the registry (tests/test_registry.py checks the list).
    assert not hasattr(sched, "SCHEDULE_MODULES")


def test_core_never_imports_torch():
    code = ("import sys, optim_core, optim_core.schedules.lr_finder, optim_core.schedules.bench;"
            "optim_core.registry.schedules(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=optim_core.__path__[0] + "/..")


def test_bench_schedules_is_fast():
    out = sched.bench_schedules(repeats=3)
    assert len(out["schedules"]) == 10 == len(set(out["schedules"]))
    assert 0 < out["seconds"] < 0.5  # milliseconds in practice; generous for a loaded machine


# -- every schedule parameter is checked against the interval its entry declares ---------------------
# A parameter some setting leaves unused is probed in the setting that uses it.
PROBE_CONTEXT = {("CyclicLR", "gamma"): {"mode": "exp_range"}}


def _outside(h):
    """Values just outside ``h.valid`` (none for an unbounded side), of ``h``'s kind."""
    from optim_core.entries import valid_interval

    lo, hi, lo_closed, hi_closed = valid_interval(h.valid)
    out = []
    if math.isfinite(lo):
        out.append(lo - 1 if h.kind == "int" else (np.nextafter(lo, -np.inf) if lo_closed else lo))
    if math.isfinite(hi):
        out.append(hi + 1 if h.kind == "int" else (np.nextafter(hi, np.inf) if hi_closed else hi))
    return [float(v) if h.kind == "float" else int(v) for v in out]


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_values_outside_the_declared_interval_are_refused(name):
    info = SCHEDULES[name]
    probed = 0
    for h in info.params:
        if h.kind not in ("int", "float"):
            continue
        for value in _outside(h):
            params = {**info.defaults(), **PROBE_CONTEXT.get((name, h.name), {}), h.name: value}
            with pytest.raises(ValueError):
                info.curve(50, 0.1, **params)
            probed += 1
    assert probed or all(h.kind not in ("int", "float") or not h.valid for h in info.params)
