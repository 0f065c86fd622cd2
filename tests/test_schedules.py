"""Every scheduler class against torch.optim.lr_scheduler, step by step, and the pure curves against torch.

A torch optimizer and an optim_core optimizer (SGD with momentum, or Adam for the beta1
cycling) with two param groups of different lrs are driven in parallel; after every
``step()`` each group's lr, momentum / betas[0], the keys torch adds (initial_lr, max_lr,
...), ``get_last_lr()`` and ``last_epoch`` must agree at rtol 1e-9, and so must the
parameters at the end. The pure curve of the same schedule must then equal torch's lrs.

The second half is the audit of the arguments: each input torch accepts gives torch's
numbers (repeated milestones, ``gamma = 0``, degenerate OneCycleLR phases, ...); where
torch divides by zero ours raises a ZeroDivisionError too (at construction); and each
input we refuse on purpose is shown next to what torch does with it.
"""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest

import optim_core
from optim_core.schedules import DividesByZeroError
from tests.asserts import assert_same, reference

torch = reference("torch")
TL = torch.optim.lr_scheduler

RTOL, ATOL = 1e-9, 1e-15
LRS = (0.1, 0.05)
GROUP_KEYS = ("initial_lr", "max_lr", "min_lr", "base_momentum", "max_momentum")


def make_optimizers(opt: str = "SGD", lrs=LRS, shape=(3,), default_lr=None):
    """A torch and an optim_core optimizer with one float64 parameter of ``shape`` per lr (one group each)."""
    theirs = [torch.zeros(shape, dtype=torch.float64, requires_grad=True) for _ in lrs]
    ours = [optim_core.Parameter(np.zeros(shape)) for _ in lrs]
    kwargs = {"momentum": 0.9} if opt == "SGD" else {}
    if default_lr is not None:
        kwargs["lr"] = default_lr
    t_opt = getattr(torch.optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(theirs, lrs)], **kwargs)
    o_opt = getattr(optim_core, opt)([{"params": [p], "lr": lr} for p, lr in zip(ours, lrs)], **kwargs)

    def step_both(i):
        for p in theirs:
            p.grad = torch.full(shape, 0.01 * math.sin(i + 1), dtype=torch.float64)
        for p in ours:
            p.grad = np.full(shape, 0.01 * math.sin(i + 1))
        t_opt.step()
        o_opt.step()

    step_both.params = (theirs, ours)
    return t_opt, o_opt, step_both


def momentum_of(group):
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum")


def snapshot(opt, scheduler) -> dict:
    """What a scheduler step sets: per-group lr, momentum and torch's extra keys, get_last_lr, last_epoch."""
    groups = opt.param_groups
    snap = {"lr": [g["lr"] for g in groups], "momentum": [momentum_of(g) for g in groups],
            "last_lr": list(scheduler.get_last_lr()), "last_epoch": getattr(scheduler, "last_epoch", None)}
    for key in GROUP_KEYS:
        snap[key] = [g.get(key) for g in groups]
    return snap


def compare_records(ours: list[dict], theirs: list[dict], where: str = "", rtol=RTOL, atol=ATOL) -> None:
    """Our snapshots equal torch's: float64 arrays of shape (steps, groups), compared with assert_same."""
    for key in ("lr", "momentum", *GROUP_KEYS, "last_lr"):
        expected = [s[key] for s in theirs]
        if all(v is None for row in expected for v in row):
            continue  # torch has no such key (e.g. no max_lr outside OneCycleLR)
        assert_same(np.asarray([s[key] for s in ours], dtype=np.float64), np.asarray(expected, dtype=np.float64),
                    rtol=rtol, atol=atol, err_msg=f"{where}{key}")
    # ChainedScheduler has no last_epoch in torch either (None on both sides).
    assert [s["last_epoch"] for s in ours] == [s["last_epoch"] for s in theirs], f"{where}last_epoch"


def drive(factory, steps, opt="SGD", metrics=None, torch_factory=None, lrs=LRS, shape=(3,), default_lr=None,
          rtol=RTOL, atol=ATOL):
    """Run ours and torch's side by side and assert every step equal.

    Returns torch's lrs and momenta, float64 arrays of shape (steps + 1, groups).
    """
    t_opt, o_opt, step_both = make_optimizers(opt, lrs, shape, default_lr)
    t_s = (torch_factory or factory)(t_opt, TL)
    o_s = factory(o_opt, optim_core)
    ours, theirs = [snapshot(o_opt, o_s)], [snapshot(t_opt, t_s)]
    for i in range(steps):
        step_both(i)
        if metrics is None:
            t_s.step()
            o_s.step()
        else:
            t_s.step(metrics[i])
            o_s.step(metrics[i])
        ours.append(snapshot(o_opt, o_s))
        theirs.append(snapshot(t_opt, t_s))
    compare_records(ours, theirs, rtol=rtol, atol=atol)
    for g, (p_t, p_o) in enumerate(zip(*step_both.params)):
        assert_same(p_o.data, p_t, rtol=1e-9, atol=1e-15, err_msg=f"the parameters of group {g} after {steps} steps")
    momenta = [s["momentum"] for s in theirs]
    has_momentum = not any(v is None for row in momenta for v in row)
    return {"lr": np.asarray([s["lr"] for s in theirs], dtype=np.float64),
            "momentum": np.asarray(momenta, dtype=np.float64) if has_momentum else None}


def by_name(name, **kw):
    return lambda opt, mod: getattr(mod, name)(opt, **kw)


# -- pure curves for a class configuration --------------------------------------------
def _per_group(value, g):
    return value[g] if isinstance(value, (list, tuple)) else value


def pure_curve(name, kw, g, base_lr, n):
    kw = dict(kw)
    if name == "OneCycleLR":
        kw["max_lr"] = _per_group(kw["max_lr"], g)
        return optim_core.one_cycle_lr(n, **kw)
    if name == "CyclicLR":
        base, top = _per_group(kw.pop("base_lr"), g), _per_group(kw.pop("max_lr"), g)
        return optim_core.cyclic_lr(n, base, top, **kw)
    if name in ("LambdaLR", "MultiplicativeLR"):
        fn = _per_group(kw["lr_lambda"], g)
        return getattr(optim_core, {"LambdaLR": "lambda_lr", "MultiplicativeLR": "multiplicative_lr"}[name])(
            n, base_lr, fn)
    fn = {
        "StepLR": optim_core.step_lr,
        "MultiStepLR": optim_core.multistep_lr,
        "ExponentialLR": optim_core.exponential_lr,
        "ConstantLR": optim_core.constant_lr,
        "LinearLR": optim_core.linear_lr,
        "PolynomialLR": optim_core.polynomial_lr,
        "CosineAnnealingLR": optim_core.cosine_annealing_lr,
        "CosineAnnealingWarmRestarts": optim_core.cosine_annealing_warm_restarts,
    }[name]
    return fn(n, base_lr, **kw)


def assert_pure_matches(name, kw, rec, n, lrs=LRS):
    """The pure curve of each group equals torch's recorded lrs (and momenta)."""
    for g, base in enumerate(lrs):
        curve = pure_curve(name, kw, g, base, n)
        assert_same(curve["lr"], rec["lr"][:, g], rtol=RTOL, atol=ATOL, err_msg=f"pure {name} lr, group {g}")
        if "momentum" in curve:
            assert_same(curve["momentum"], rec["momentum"][:, g], rtol=RTOL, atol=ATOL,
                        err_msg=f"pure {name} momentum, group {g}")


def _sine_scale(x):
    return 0.5 * (1 + math.sin(x * math.pi / 2))


def _stair(epoch):
    return 0.5 if epoch % 25 == 0 else 1.0


CASES = [
    ("StepLR", dict(step_size=30, gamma=0.1), 300, "SGD"),
    ("StepLR", dict(step_size=7, gamma=0.5), 300, "SGD"),
    ("StepLR", dict(step_size=1, gamma=0.99), 400, "SGD"),
    ("MultiStepLR", dict(milestones=[30, 80], gamma=0.1), 300, "SGD"),
    ("MultiStepLR", dict(milestones=[0, 5, 100, 250], gamma=0.5), 300, "SGD"),
    ("ExponentialLR", dict(gamma=0.99), 400, "SGD"),
    ("ExponentialLR", dict(gamma=1.01), 300, "Adam"),
    ("ConstantLR", dict(), 300, "SGD"),
    ("ConstantLR", dict(factor=0.5, total_iters=50), 300, "SGD"),
    ("ConstantLR", dict(factor=1.0, total_iters=3), 300, "SGD"),
    ("LinearLR", dict(), 300, "SGD"),
    ("LinearLR", dict(start_factor=0.01, end_factor=1.0, total_iters=100), 300, "SGD"),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=200), 300, "SGD"),
    ("LinearLR", dict(start_factor=0.5, end_factor=0.1, total_iters=400), 300, "Adam"),
    ("PolynomialLR", dict(), 300, "SGD"),
    ("PolynomialLR", dict(total_iters=200, power=2.0), 300, "SGD"),
    ("PolynomialLR", dict(total_iters=300, power=0.5), 300, "SGD"),
    ("PolynomialLR", dict(total_iters=250, power=0.9), 300, "SGD"),
    ("CosineAnnealingLR", dict(T_max=100), 300, "SGD"),
    ("CosineAnnealingLR", dict(T_max=50, eta_min=0.001), 400, "SGD"),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01), 300, "SGD"),
    ("CosineAnnealingLR", dict(T_max=1, eta_min=0.0), 300, "SGD"),
    ("CosineAnnealingLR", dict(T_max=3, eta_min=0.2), 300, "SGD"),  # eta_min above the second group's lr
    ("CosineAnnealingLR", dict(T_max=700, eta_min=1e-4), 2500, "Adam"),
    ("CosineAnnealingWarmRestarts", dict(T_0=10), 300, "SGD"),
    ("CosineAnnealingWarmRestarts", dict(T_0=10, T_mult=2, eta_min=0.001), 400, "SGD"),
    ("CosineAnnealingWarmRestarts", dict(T_0=1, T_mult=3), 300, "SGD"),
    ("CosineAnnealingWarmRestarts", dict(T_0=50, T_mult=1, eta_min=0.01), 300, "SGD"),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=300), 300, "SGD"),
    ("OneCycleLR", dict(max_lr=[0.1, 0.3], total_steps=300, three_phase=True), 300, "SGD"),
    ("OneCycleLR", dict(max_lr=0.2, total_steps=400, anneal_strategy="linear", pct_start=0.25), 400, "SGD"),
    ("OneCycleLR", dict(max_lr=0.01, total_steps=320, three_phase=True, anneal_strategy="linear",
                        base_momentum=0.8, max_momentum=0.9), 320, "Adam"),
    ("OneCycleLR", dict(max_lr=0.05, epochs=10, steps_per_epoch=30, div_factor=10.0, final_div_factor=100.0), 300,
     "Adam"),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=300, cycle_momentum=False), 300, "SGD"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=20), 300, "SGD"),
    ("CyclicLR", dict(base_lr=[0.01, 0.001], max_lr=[0.1, 0.05], step_size_up=15, step_size_down=25,
                      mode="triangular2"), 300, "SGD"),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.01, step_size_up=10, mode="exp_range", gamma=0.99), 300, "Adam"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=12, scale_fn=_sine_scale, scale_mode="cycle"), 300,
     "SGD"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=12, scale_fn=lambda x: 1 / (1 + 0.01 * x),
                      scale_mode="iterations", base_momentum=0.85, max_momentum=0.95), 300, "Adam"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=7, step_size_down=3, cycle_momentum=False), 300,
     "SGD"),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95**e), 300, "SGD"),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1.0 / (1 + e), lambda e: 1.0 if e < 100 else 0.1]), 300, "SGD"),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.99), 300, "SGD"),
    ("MultiplicativeLR", dict(lr_lambda=[_stair, lambda e: 0.995]), 300, "SGD"),
]

# Inputs at the edges of what torch accepts: each gives torch's numbers, class and pure curve.
EDGE_CASES = [
    # A repeated milestone counts twice (torch's Counter): gamma ** 2 at step 30.
    ("MultiStepLR", dict(milestones=[30, 30, 60], gamma=0.1), 100, "SGD"),
    ("MultiStepLR", dict(milestones=[60, 30, 0, 30, 60, 60], gamma=0.5), 100, "Adam"),  # unsorted, 0, repeats
    ("MultiStepLR", dict(milestones=(5, 5, 5), gamma=2.0), 30, "SGD"),  # gamma > 1, a tuple
    ("MultiStepLR", dict(milestones=[], gamma=0.5), 30, "SGD"),
    ("MultiStepLR", dict(milestones=[10, 20], gamma=0.0), 30, "SGD"),
    ("StepLR", dict(step_size=10, gamma=0.0), 40, "SGD"),
    ("StepLR", dict(step_size=4, gamma=1.5), 40, "SGD"),
    ("ExponentialLR", dict(gamma=0.0), 20, "SGD"),
    ("ConstantLR", dict(factor=1.0, total_iters=1), 20, "SGD"),
    ("ConstantLR", dict(factor=0.25, total_iters=1), 20, "SGD"),
    ("LinearLR", dict(start_factor=1.0, end_factor=1.0, total_iters=10), 20, "SGD"),
    ("LinearLR", dict(start_factor=0.001, end_factor=0.0, total_iters=1), 20, "SGD"),
    ("PolynomialLR", dict(total_iters=10, power=0.0), 20, "SGD"),  # power 0: the lr never moves
    ("PolynomialLR", dict(total_iters=1, power=3.0), 20, "SGD"),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.5), 40, "SGD"),  # eta_min above both lrs
    ("CosineAnnealingWarmRestarts", dict(T_0=1, T_mult=1), 20, "SGD"),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=1, eta_min=0.2), 30, "SGD"),
    # OneCycleLR where pct_start * total_steps < 1: no warm-up step, torch starts near max_lr.
    ("OneCycleLR", dict(max_lr=0.1, total_steps=3), 3, "SGD"),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=1), 1, "SGD"),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=2, three_phase=True), 2, "SGD"),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=50, pct_start=0.0), 50, "SGD"),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=10, pct_start=0.05, anneal_strategy="linear"), 10, "Adam"),
    # three_phase with pct_start > 0.5: the run ends inside the second phase.
    ("OneCycleLR", dict(max_lr=0.1, total_steps=100, pct_start=0.6, three_phase=True), 100, "SGD"),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=100, pct_start=0.9, three_phase=True, anneal_strategy="linear"),
     100, "SGD"),
    ("OneCycleLR", dict(max_lr=[0.1, 0.2], total_steps=40, pct_start=1.0 - 1e-9), 40, "SGD"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=0), 30, "SGD"),  # a sawtooth
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2.5, step_size_down=0.5), 30, "SGD"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range", gamma=0.0), 30, "Adam"),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, gamma=-3.0), 30, "SGD"),  # gamma unused
    ("CyclicLR", dict(base_lr=0.1, max_lr=0.01, step_size_up=4), 30, "SGD"),  # base_lr above max_lr
    ("LambdaLR", dict(lr_lambda=(lambda e: 0.9**e, lambda e: 1.0 / (1 + e))), 30, "SGD"),  # a tuple
    ("MultiplicativeLR", dict(lr_lambda=(lambda e: 0.9, lambda e: 1.1)), 30, "SGD"),
]


@pytest.mark.parametrize("name,kw,steps,opt", CASES + EDGE_CASES, ids=lambda c: c if isinstance(c, str) else None)
def test_class_matches_torch_and_pure_curve(name, kw, steps, opt):
    rec = drive(by_name(name, **kw), steps, opt)
    assert_pure_matches(name, kw, rec, steps + 1)


def test_repeated_milestone_applies_gamma_twice_like_torch_on_0d_parameters():
    # The case, spelled out: torch multiplies by gamma ** 2 at step 30.
    rec = drive(by_name("MultiStepLR", milestones=[30, 30, 60], gamma=0.1), 70, shape=())
    assert_same(rec["lr"][[29, 30, 59, 60], 0], np.array([0.1, 0.1 * 0.1**2, 0.1 * 0.1**2, 0.1 * 0.1**2 * 0.1]),
                rtol=1e-15)
    assert_same(optim_core.multistep_lr(71, 0.1, milestones=[30, 30, 60])["lr"], rec["lr"][:, 0], rtol=1e-15)


# -- details torch has -------------------------------------------------------------------
def test_initial_lr_is_kept_across_schedulers_and_resume_needs_it():
    _, o_opt, _ = make_optimizers()
    optim_core.StepLR(o_opt, step_size=3)
    assert [g["initial_lr"] for g in o_opt.param_groups] == list(LRS)
    for g in o_opt.param_groups:
        g["lr"] = 1.0
    s = optim_core.ExponentialLR(o_opt, gamma=0.5)  # initial_lr is setdefault: the first one wins
    assert s.base_lrs == list(LRS)
    _, fresh, _ = make_optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        optim_core.StepLR(fresh, step_size=3, last_epoch=5)


def _one_cycle_resumed(opt, mod):
    mod.OneCycleLR(opt, max_lr=0.1, total_steps=100)  # sets the group keys a resumed one reads
    return mod.OneCycleLR(opt, max_lr=0.1, total_steps=100, last_epoch=7)


@pytest.mark.parametrize("name,kw", [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[9, 9, 30, 5], gamma=0.5)),
    ("CosineAnnealingLR", dict(T_max=20, eta_min=0.001)),
    ("CosineAnnealingWarmRestarts", dict(T_0=5, T_mult=2, eta_min=0.001)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("ConstantLR", dict(factor=0.5, total_iters=12)),
    ("LinearLR", dict(start_factor=0.2, total_iters=10)),
    ("PolynomialLR", dict(total_iters=40, power=2.0)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 0.9**e, lambda e: 1 / (1 + e)])),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.97)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=6)),
    ("OneCycleLR", None),
])
def test_resuming_with_last_epoch_matches_torch(name, kw):
    # A scheduler created with last_epoch=k continues from the groups' initial_lr, as torch's does.
    def factory(opt, mod):
        if kw is None:
            return _one_cycle_resumed(opt, mod)
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        return getattr(mod, name)(opt, last_epoch=7, **kw)

    drive(factory, 60)


def test_step_with_epoch_uses_closed_form_like_torch():
    for name, kw in [("CosineAnnealingLR", dict(T_max=30, eta_min=0.01)),
                     ("MultiStepLR", dict(milestones=[20, 4, 20], gamma=0.5)),
                     ("PolynomialLR", dict(total_iters=30, power=0.0))]:
        t_opt, o_opt, _ = make_optimizers()
        t_s, o_s = getattr(TL, name)(t_opt, **kw), getattr(optim_core, name)(o_opt, **kw)
        ours, theirs = [], []
        for epoch in (5, 17, 3, 40, 20, 0):
            with pytest.warns(UserWarning):
                t_s.step(epoch)
            with pytest.warns(UserWarning):
                o_s.step(epoch)
            ours.append(snapshot(o_opt, o_s))
            theirs.append(snapshot(t_opt, t_s))
        compare_records(ours, theirs, where=f"{name} step(epoch): ")


def test_warm_restarts_fractional_epochs_match_torch():
    t_opt, o_opt, _ = make_optimizers()
    t_s = TL.CosineAnnealingWarmRestarts(t_opt, T_0=5, T_mult=2, eta_min=0.001)
    o_s = optim_core.CosineAnnealingWarmRestarts(o_opt, T_0=5, T_mult=2, eta_min=0.001)
    iters = 7
    ours, theirs = [], []
    for epoch in range(40):
        for i in range(iters):
            t_s.step(epoch + i / iters)
            o_s.step(epoch + i / iters)
            ours.append(snapshot(o_opt, o_s))
            theirs.append(snapshot(t_opt, t_s))
    compare_records(ours, theirs)


def test_one_cycle_stepping_past_total_steps_raises_like_torch():
    t_opt, o_opt, _ = make_optimizers()
    t_s, o_s = TL.OneCycleLR(t_opt, max_lr=0.1, total_steps=20), optim_core.OneCycleLR(o_opt, max_lr=0.1,
                                                                                        total_steps=20)
    for _ in range(20):
        t_opt.step()
        t_s.step()
        o_s.step()
    with pytest.raises(ValueError) as theirs:
        t_s.step()
    with pytest.raises(ValueError) as ours:
        o_s.step()
    assert str(ours.value) == str(theirs.value) == "Tried to step 21 times. The specified number of total steps is 20"
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        optim_core.one_cycle_lr(22, 0.1, total_steps=20)


def test_cycle_momentum_needs_momentum_or_betas():
    p = optim_core.Parameter(np.zeros(2))
    opt = optim_core.Adagrad([p], lr=0.1)
    with pytest.raises(ValueError, match="momentum or beta1"):
        optim_core.OneCycleLR(opt, max_lr=0.1, total_steps=100)
    with pytest.raises(ValueError, match="momentum or beta1"):
        optim_core.CyclicLR(opt, base_lr=0.01, max_lr=0.1)
    optim_core.OneCycleLR(opt, max_lr=0.1, total_steps=100, cycle_momentum=False)


@pytest.mark.parametrize("opt_name,torch_name", [("RMSprop", "RMSprop"), ("NAdam", "NAdam"), ("AdamW", "AdamW"),
                                                 ("Lion", "Adam")])
def test_schedulers_drive_other_optimizers(opt_name, torch_name):
    # Any optim_core optimizer: the scheduler only touches param_groups (momentum, or betas[0]).
    # The reference is torch's OneCycleLR on the torch optimizer with the same kind of momentum
    # (Lion, which torch lacks, keeps betas like Adam).
    p = optim_core.Parameter(np.ones(4))
    opt = getattr(optim_core, opt_name)([p], lr=0.01)
    t_opt = getattr(torch.optim, torch_name)([torch.ones(4, dtype=torch.float64, requires_grad=True)], lr=0.01)
    s, t_s = optim_core.OneCycleLR(opt, max_lr=0.01, total_steps=50), TL.OneCycleLR(t_opt, max_lr=0.01,
                                                                                      total_steps=50)
    ours, theirs = [snapshot(opt, s)], [snapshot(t_opt, t_s)]
    for _ in range(50):
        p.grad = 0.1 * p.data
        opt.step()
        t_opt.step()
        s.step()
        t_s.step()
        ours.append(snapshot(opt, s))
        theirs.append(snapshot(t_opt, t_s))
    compare_records(ours, theirs)
    assert np.all(np.isfinite(p.data))


# -- the arguments: what torch raises, ours raises ----------------------------------------------
def _groups_of(mod):
    """A two-group SGD (with momentum) of torch or of optim_core."""
    if mod is TL:
        params = [torch.zeros(2, dtype=torch.float64, requires_grad=True) for _ in range(2)]
        return torch.optim.SGD([{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.05}],
                               momentum=0.9)
    params = [optim_core.Parameter(np.zeros(2)) for _ in range(2)]
    return optim_core.SGD([{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 0.05}], momentum=0.9)


def _construct_and_step(make, mod, steps=12):
    """Build with ``mod`` (torch's lr_scheduler or optim_core) and step; the exception raised, or None."""
    opt = _groups_of(mod)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            s = make(opt, mod)
            for _ in range(steps):
                opt.step()
                s.step()
        except Exception as exc:  # noqa: BLE001 - the point is which one
            return exc
    return None


# Both refuse at construction, with the same exception type.
SAME_ERROR = [
    ("WarmRestarts T_0=2.0", lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=2.0), ValueError),
    ("WarmRestarts T_0=0", lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=0), ValueError),
    ("WarmRestarts T_mult=2.0", lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2.0), ValueError),
    ("WarmRestarts T_mult=0", lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=0), ValueError),
    ("ConstantLR factor=1.5", lambda o, m: m.ConstantLR(o, factor=1.5), ValueError),
    ("ConstantLR factor<0", lambda o, m: m.ConstantLR(o, factor=-0.5), ValueError),
    ("LinearLR start=0", lambda o, m: m.LinearLR(o, start_factor=0.0), ValueError),
    ("LinearLR end=1.2", lambda o, m: m.LinearLR(o, end_factor=1.2), ValueError),
    ("OneCycleLR pct_start=0 (int)", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, pct_start=0), ValueError),
    ("OneCycleLR pct_start=1.3", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.3), ValueError),
    ("OneCycleLR total_steps=10.0", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10.0), ValueError),
    ("OneCycleLR total_steps=0", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=0), ValueError),
    ("OneCycleLR no length", lambda o, m: m.OneCycleLR(o, 0.1), ValueError),
    ("OneCycleLR epochs=0", lambda o, m: m.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3), ValueError),
    ("OneCycleLR anneal", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="exp"), ValueError),
    ("OneCycleLR max_lr list", lambda o, m: m.OneCycleLR(o, [0.1], total_steps=10), ValueError),
    ("CyclicLR mode", lambda o, m: m.CyclicLR(o, 0.01, 0.1, mode="sawtooth"), ValueError),
    ("CyclicLR base_lr list", lambda o, m: m.CyclicLR(o, [0.01, 0.02, 0.03], 0.1), ValueError),
    ("Plateau factor=1", lambda o, m: m.ReduceLROnPlateau(o, factor=1.0), ValueError),
    ("Plateau mode", lambda o, m: m.ReduceLROnPlateau(o, mode="up"), ValueError),
    ("Plateau mode=None", lambda o, m: m.ReduceLROnPlateau(o, mode=None), TypeError),
    ("Plateau threshold_mode", lambda o, m: m.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError),
    ("Plateau threshold_mode=1", lambda o, m: m.ReduceLROnPlateau(o, threshold_mode=1), TypeError),
    ("Plateau min_lr list", lambda o, m: m.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError),
    ("LambdaLR list", lambda o, m: m.LambdaLR(o, lr_lambda=[lambda e: 1.0]), ValueError),
    ("LambdaLR not callable", lambda o, m: m.LambdaLR(o, lr_lambda=0.5), TypeError),
    ("MultiplicativeLR not callable", lambda o, m: m.MultiplicativeLR(o, lr_lambda=[0.5, 0.5]), TypeError),
    ("SequentialLR no scheduler", lambda o, m: m.SequentialLR(o, [], milestones=[]), ValueError),
    ("SequentialLR milestones", lambda o, m: m.SequentialLR(o, [m.StepLR(o, 3)], milestones=[4]), ValueError),
    ("SequentialLR plateau", lambda o, m: m.SequentialLR(o, [m.StepLR(o, 3), m.ReduceLROnPlateau(o)], [4]),
     ValueError),
    ("SequentialLR not a scheduler", lambda o, m: m.SequentialLR(o, [m.StepLR(o, 3), object()], [4]), TypeError),
    ("ChainedScheduler no scheduler", lambda o, m: m.ChainedScheduler([]), ValueError),
    ("ChainedScheduler foreign", lambda o, m: m.ChainedScheduler([m.StepLR(o, 3), m.StepLR(_groups_of(m), 3)]),
     ValueError),
]


@pytest.mark.parametrize("label,make,kind", SAME_ERROR, ids=[c[0] for c in SAME_ERROR])
def test_both_refuse_with_the_same_exception_type(label, make, kind):
    theirs, ours = _construct_and_step(make, TL, 0), _construct_and_step(make, optim_core, 0)
    assert type(theirs) is kind, f"torch raised {theirs!r}"
    assert isinstance(ours, kind), f"ours raised {ours!r}, torch {theirs!r}"


# torch accepts, then divides by zero (at construction or at a later step); ours raises at
# construction a DividesByZeroError: a ZeroDivisionError, as torch's, and a ValueError.
DIVIDES_BY_ZERO = [
    ("StepLR step_size=0", lambda o, m: m.StepLR(o, step_size=0), 1),
    ("ConstantLR factor=0", lambda o, m: m.ConstantLR(o, factor=0.0, total_iters=4), 4),
    ("PolynomialLR power<0", lambda o, m: m.PolynomialLR(o, total_iters=6, power=-1.0), 6),
    ("CosineAnnealingLR T_max=0", lambda o, m: m.CosineAnnealingLR(o, T_max=0), 1),
    ("OneCycleLR pct*total=1", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, pct_start=0.1), 0),
    ("OneCycleLR pct_start=1.0", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.0), 10),
    ("OneCycleLR three_phase", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=9, pct_start=5 / 9, three_phase=True),
     9),
    ("OneCycleLR div_factor=0", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, div_factor=0.0), 0),
    ("OneCycleLR final_div_factor=0", lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, final_div_factor=0.0), 0),
    ("CyclicLR step_size_up=0", lambda o, m: m.CyclicLR(o, 0.01, 0.1, step_size_up=0, step_size_down=4), 0),
    ("CyclicLR both 0", lambda o, m: m.CyclicLR(o, 0.01, 0.1, step_size_up=0), 0),
]


@pytest.mark.parametrize("label,make,torch_step", DIVIDES_BY_ZERO, ids=[c[0] for c in DIVIDES_BY_ZERO])
def test_where_torch_divides_by_zero_ours_raises_zero_division_at_construction(label, make, torch_step):
    # torch: ZeroDivisionError at step `torch_step` (0: its constructor); ours: at construction.
    opt = _groups_of(TL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if torch_step == 0:
            with pytest.raises(ZeroDivisionError):
                make(opt, TL)
        else:
            s = make(opt, TL)
            for _ in range(torch_step - 1):
                opt.step()
                s.step()
            with pytest.raises(ZeroDivisionError):
                s.step()
    with pytest.raises(ZeroDivisionError) as ours:
        make(_groups_of(optim_core), optim_core)
    assert isinstance(ours.value, DividesByZeroError) and isinstance(ours.value, ValueError)
    assert "torch divides by zero" in str(ours.value)


def test_pure_curves_raise_where_the_classes_do():
    with pytest.raises(ZeroDivisionError):
        optim_core.one_cycle_lr(5, 0.1, total_steps=10, pct_start=1.0)
    with pytest.raises(ZeroDivisionError):
        optim_core.step_lr(5, 0.1, step_size=0)
    with pytest.raises(ZeroDivisionError):
        optim_core.cyclic_lr(5, 0.01, 0.1, step_size_up=0)
    with pytest.raises(ZeroDivisionError):
        optim_core.polynomial_lr(5, 0.1, total_iters=3, power=-0.5)


# -- deliberate differences: torch accepts, we refuse (ours next to torch's) ------------------------
def _torch_lrs(make, steps, epochs=()):
    """torch's lr of group 0 after construction and each step (then after each step(epoch))."""
    opt = _groups_of(TL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = make(opt, TL)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(steps):
            opt.step()
            s.step()
            out.append(opt.param_groups[0]["lr"])
        for e in epochs:
            s.step(e)
            out.append(opt.param_groups[0]["lr"])
    return np.asarray(out, dtype=np.float64)


def _ours_refuses(make, match):
    with pytest.raises(ValueError, match=match):
        make(_groups_of(optim_core), optim_core)


def test_refused_negative_or_zero_lengths_torch_reads_inconsistently():
    # StepLR(step_size=-3): torch steps like step_size=3, but its closed form gives gamma ** (t // -3).
    lrs = _torch_lrs(lambda o, m: m.StepLR(o, step_size=-3, gamma=0.5), 7, epochs=[4])
    assert_same(lrs, np.array([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.1 * 0.5**-2]), rtol=1e-15)
    _ours_refuses(lambda o, m: m.StepLR(o, step_size=-3, gamma=0.5), "step_size must be a positive integer")
    # ConstantLR(total_iters=0): torch never lifts the factor; its closed form never applies it.
    lrs = _torch_lrs(lambda o, m: m.ConstantLR(o, factor=0.5, total_iters=0), 4, epochs=[2])
    assert_same(lrs, np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.1]), rtol=1e-15)
    _ours_refuses(lambda o, m: m.ConstantLR(o, factor=0.5, total_iters=0), "total_iters must be a positive integer")
    # LinearLR(total_iters=0): torch keeps start_factor for ever; its closed form divides by zero.
    lrs = _torch_lrs(lambda o, m: m.LinearLR(o, start_factor=0.5, total_iters=0), 4)
    assert_same(lrs, np.full(5, 0.05), rtol=1e-15)
    with pytest.raises(ZeroDivisionError):
        _torch_lrs(lambda o, m: m.LinearLR(o, start_factor=0.5, total_iters=0), 0, epochs=[2])
    _ours_refuses(lambda o, m: m.LinearLR(o, total_iters=0), "total_iters must be a positive integer")
    # PolynomialLR(total_iters=0): torch never changes the lr; its closed form divides by zero.
    assert_same(_torch_lrs(lambda o, m: m.PolynomialLR(o, total_iters=0), 4), np.full(5, 0.1), rtol=1e-15)
    with pytest.raises(ZeroDivisionError):
        _torch_lrs(lambda o, m: m.PolynomialLR(o, total_iters=0), 0, epochs=[2])
    _ours_refuses(lambda o, m: m.PolynomialLR(o, total_iters=0), "total_iters must be a positive integer")
    # CosineAnnealingLR(T_max=-3): torch computes the schedule of T_max=3.
    assert_same(_torch_lrs(lambda o, m: m.CosineAnnealingLR(o, T_max=-3), 9),
                _torch_lrs(lambda o, m: m.CosineAnnealingLR(o, T_max=3), 9), rtol=1e-15)
    _ours_refuses(lambda o, m: m.CosineAnnealingLR(o, T_max=-3), "T_max must be a positive integer")


def test_refused_negative_milestone_that_torch_counts_only_in_its_closed_form():
    # MultiStepLR([-2, 3]): step() never reaches -2, but torch's closed form (step(epoch), and
    # SequentialLR at a milestone) counts it: step(0) gives 0.1 * 0.5.
    lrs = _torch_lrs(lambda o, m: m.MultiStepLR(o, milestones=[-2, 3], gamma=0.5), 4, epochs=[0])
    assert_same(lrs, np.array([0.1, 0.1, 0.1, 0.05, 0.05, 0.05]), rtol=1e-15)
    _ours_refuses(lambda o, m: m.MultiStepLR(o, milestones=[-2, 3]), r"milestones\[i\] must be an integer >= 0")


def test_refused_arguments_that_make_the_lr_negative():
    cases = [
        (lambda o, m: m.ExponentialLR(o, gamma=-1.0), 3, r"gamma must lie in \[0, inf\)"),
        (lambda o, m: m.StepLR(o, step_size=2, gamma=-0.5), 3, r"gamma must lie in \[0, inf\)"),
        (lambda o, m: m.MultiStepLR(o, milestones=[1], gamma=-0.5), 3, r"gamma must lie in \[0, inf\)"),
        (lambda o, m: m.CosineAnnealingLR(o, T_max=4, eta_min=-0.1), 4, "eta_min must lie in"),
        (lambda o, m: m.CosineAnnealingWarmRestarts(o, T_0=4, eta_min=-0.1), 3, "eta_min must lie in"),
        (lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, div_factor=-5.0), 0, "div_factor must lie in"),
        (lambda o, m: m.OneCycleLR(o, 0.1, total_steps=10, final_div_factor=-5.0), 10, "final_div_factor must lie in"),
        (lambda o, m: m.CyclicLR(o, 0.01, 0.1, step_size_up=2, mode="exp_range", gamma=-0.9), 3,
         r"gamma must lie in \[0, inf\)"),
        (lambda o, m: m.CyclicLR(o, 0.01, -0.1, step_size_up=2, cycle_momentum=False), 3,
         r"max_lr must lie in \[0, inf\)"),
    ]
    for make, steps, match in cases:
        assert np.min(_torch_lrs(make, steps)) < 0  # torch: a negative lr
        _ours_refuses(make, match)


def test_refused_negative_step_sizes_of_cyclic_lr():
    # torch: step_size_down=-2 with step_size_up=4 gives a cycle of 2 steps whose lr never comes down.
    lrs = _torch_lrs(lambda o, m: m.CyclicLR(o, 0.01, 0.1, step_size_up=4, step_size_down=-2, cycle_momentum=False),
                     6)
    assert_same(lrs, 0.01 + 0.09 * np.array([0.0, 0.25, 0.0, 0.25, 0.0, 0.25, 0.0]), rtol=1e-12)
    _ours_refuses(lambda o, m: m.CyclicLR(o, 0.01, 0.1, step_size_up=4, step_size_down=-2), "step_size_down must lie")
    _ours_refuses(lambda o, m: m.CyclicLR(o, 0.01, 0.1, step_size_up=-4), "step_size_up must lie")


def test_refused_scale_mode_typo_that_torch_reads_as_iterations():
    def make(mode):
        return lambda o, m: m.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=lambda x: 0.5**x, scale_mode=mode)

    assert_same(_torch_lrs(make("epochs"), 20), _torch_lrs(make("iterations"), 20), rtol=0)
    _ours_refuses(make("epochs"), "scale_mode must be one of")


def test_refused_decreasing_sequential_milestones_torch_bisects_as_something_else():
    def make(ms):
        return lambda o, m: m.SequentialLR(o, [m.ConstantLR(o, factor=0.5, total_iters=2), m.ExponentialLR(o, 0.5),
                                               m.StepLR(o, 2, 0.1)], milestones=ms)

    # torch runs [5, 3] as [3, 3]: the ExponentialLR never runs.
    assert_same(_torch_lrs(make([5, 3]), 9), _torch_lrs(make([3, 3]), 9), rtol=0)
    _ours_refuses(make([5, 3]), "milestones must be non-decreasing")


def test_refused_plateau_arguments_torch_reads_as_something_else():
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99, 1.0]

    def torch_lrs(**kw):
        opt = _groups_of(TL)
        s = TL.ReduceLROnPlateau(opt, patience=1, **kw)
        out = []
        for m in metrics:
            s.step(m)
            out.append(opt.param_groups[0]["lr"])
        return np.asarray(out, dtype=np.float64)

    # A negative factor: torch sets the lr to min_lr at the first reduction.
    assert_same(torch_lrs(factor=-0.5, min_lr=0.01)[-1:], np.array([0.01]), rtol=0)
    # A negative patience: torch reduces at every step, even at the first, which always improves.
    opt = _groups_of(TL)
    s = TL.ReduceLROnPlateau(opt, patience=-1, factor=0.5)
    s.step(1.0)
    assert opt.param_groups[0]["lr"] == 0.05
    # A negative cooldown, min_lr: torch reads both as 0; a negative threshold: a worse metric is better.
    assert_same(torch_lrs(cooldown=-3), torch_lrs(cooldown=0), rtol=0)
    assert_same(torch_lrs(min_lr=-1.0), torch_lrs(min_lr=0.0), rtol=0)
    assert_same(torch_lrs(threshold=-0.2), np.full(len(metrics), 0.1), rtol=0)  # never reduces
    for kw, match in [(dict(factor=-0.5), "factor must lie in"), (dict(patience=-1), "patience must be"),
                      (dict(cooldown=-3), "cooldown must be"), (dict(min_lr=-1.0), "min_lr must lie in"),
                      (dict(threshold=-0.2), "threshold must lie in"), (dict(eps=-1e-3), "eps must lie in")]:
        with pytest.raises(ValueError, match=match):
            optim_core.ReduceLROnPlateau(_groups_of(optim_core), **kw)


# -- state_dict round trips -------------------------------------------------------------
ROUNDTRIP = [
    by_name("StepLR", step_size=10, gamma=0.5),
    by_name("MultiStepLR", milestones=[20, 50, 20], gamma=0.3),
    by_name("ExponentialLR", gamma=0.98),
    by_name("ConstantLR", factor=0.25, total_iters=40),
    by_name("LinearLR", start_factor=0.1, total_iters=60),
    by_name("PolynomialLR", total_iters=90, power=2.0),
    by_name("CosineAnnealingLR", T_max=30, eta_min=0.002),
    by_name("CosineAnnealingWarmRestarts", T_0=7, T_mult=2, eta_min=0.001),
    by_name("OneCycleLR", max_lr=0.2, total_steps=120, three_phase=True),
    by_name("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=9, mode="triangular2"),
    by_name("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=9, scale_fn=_sine_scale),
    by_name("LambdaLR", lr_lambda=lambda e: 1 / (1 + 0.1 * e)),
    by_name("MultiplicativeLR", lr_lambda=_stair),
    by_name("WarmupCosine", warmup_steps=20, total_steps=100, min_lr_ratio=0.1, num_cycles=0.75),
    by_name("WarmupPolynomial", warmup_steps=20, total_steps=100, power=2.0),
    lambda opt, mod: mod.SequentialLR(opt, [mod.LinearLR(opt, start_factor=0.1, total_iters=20),
                                            mod.CosineAnnealingLR(opt, T_max=40, eta_min=0.001)], milestones=[25]),
    lambda opt, mod: mod.ChainedScheduler([mod.ConstantLR(opt, factor=0.5, total_iters=15),
                                           mod.CosineAnnealingLR(opt, T_max=20, eta_min=0.001)]),
]


def _run(scheduler, opt, steps, metrics=None, start=0):
    out = []
    for i in range(start, start + steps):
        opt.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[i])
        out.append([g["lr"] for g in opt.param_groups] + [momentum_of(g) or 0.0 for g in opt.param_groups])
    return out


@pytest.mark.parametrize("factory", ROUNDTRIP, ids=range(len(ROUNDTRIP)))
def test_state_dict_round_trip_continues_like_uninterrupted(factory):
    total, cut = 110, 47
    _, opt, _ = make_optimizers("Adam")
    whole = _run(factory(opt, optim_core), opt, total)

    _, opt1, _ = make_optimizers("Adam")
    s1 = factory(opt1, optim_core)
    first = _run(s1, opt1, cut)
    saved_s, saved_o = pickle.loads(pickle.dumps(s1.state_dict())), opt1.state_dict()

    _, opt2, _ = make_optimizers("Adam")
    s2 = factory(opt2, optim_core)
    s2.load_state_dict(saved_s)
    opt2.load_state_dict(saved_o)
    rest = _run(s2, opt2, total - cut)
    assert first + rest == whole


def test_plateau_state_dict_round_trip():
    metrics = 1.0 / (1 + 0.05 * np.arange(200)) + 0.01 * np.sin(np.arange(200))
    kw = dict(mode="min", factor=0.5, patience=3, cooldown=2, min_lr=[1e-4, 1e-3])
    _, opt, _ = make_optimizers()
    whole = _run(optim_core.ReduceLROnPlateau(opt, **kw), opt, 200, metrics)
    _, opt1, _ = make_optimizers()
    s1 = optim_core.ReduceLROnPlateau(opt1, **kw)
    first = _run(s1, opt1, 80, metrics)
    _, opt2, _ = make_optimizers()
    s2 = optim_core.ReduceLROnPlateau(opt2, **kw)
    s2.load_state_dict(pickle.loads(pickle.dumps(s1.state_dict())))
    opt2.load_state_dict(opt1.state_dict())
    assert first + _run(s2, opt2, 120, metrics, start=80) == whole


def test_lambda_state_dict_saves_callable_objects_like_torch():
    class Decay:
        def __init__(self):
            self.rate = 0.9

        def __call__(self, e):
            return self.rate**e

    _, opt, _ = make_optimizers()
    fn = Decay()
    s = optim_core.LambdaLR(opt, [fn, lambda e: 1.0])
    state = s.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.9}, None]
    fn.rate = 0.5
    s.load_state_dict(state)
    assert fn.rate == 0.9
