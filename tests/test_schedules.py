"""Every scheduler class against torch.optim.lr_scheduler, step by step, and the pure curves against both.

A torch optimizer and an optim_core optimizer (SGD with momentum, or Adam for the beta1
cycling) with two param groups of different lrs are driven in parallel; after every
``step()`` each group's lr, momentum / betas[0], the keys torch adds (initial_lr, max_lr,
...), ``get_last_lr()`` and ``last_epoch`` must agree at rtol 1e-9. The lr (and momentum)
the class produced must then equal the pure curve of the same schedule.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

import optim_core

torch = pytest.importorskip("torch")
TL = torch.optim.lr_scheduler

RTOL, ATOL = 1e-9, 1e-15
LRS = (0.1, 0.05)
GROUP_KEYS = ("initial_lr", "max_lr", "min_lr", "base_momentum", "max_momentum")


def close(a, b) -> bool:
    return abs(a - b) <= RTOL * abs(b) + ATOL


def make_optimizers(opt: str = "SGD", lrs=LRS):
    theirs = [torch.zeros(3, dtype=torch.float64, requires_grad=True) for _ in lrs]
    ours = [optim_core.Parameter(np.zeros(3)) for _ in lrs]
    kwargs = {"momentum": 0.9} if opt == "SGD" else {}
    t_opt = getattr(torch.optim, opt)([{"params": [p], "lr": lr} for p, lr in zip(theirs, lrs)], **kwargs)
    o_opt = getattr(optim_core, opt)([{"params": [p], "lr": lr} for p, lr in zip(ours, lrs)], **kwargs)

    def step_both(i):
        for p in theirs:
            p.grad = torch.full((3,), 0.01 * math.sin(i + 1), dtype=torch.float64)
        for p in ours:
            p.grad = np.full(3, 0.01 * math.sin(i + 1))
        t_opt.step()
        o_opt.step()

    return t_opt, o_opt, step_both


def momentum_of(group):
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum")


def assert_same(t_opt, o_opt, t_s, o_s, where):
    for g, (tg, og) in enumerate(zip(t_opt.param_groups, o_opt.param_groups)):
        assert close(og["lr"], tg["lr"]), f"{where}: group {g} lr {og['lr']!r} != torch {tg['lr']!r}"
        tm, om = momentum_of(tg), momentum_of(og)
        if tm is not None:
            assert close(om, tm), f"{where}: group {g} momentum {om!r} != torch {tm!r}"
        for key in GROUP_KEYS:
            if key in tg:
                assert key in og and close(og[key], tg[key]), f"{where}: group {g} {key} differs"
    for a, b in zip(o_s.get_last_lr(), t_s.get_last_lr()):
        assert close(a, b), f"{where}: get_last_lr differs"
    # ChainedScheduler has no last_epoch in torch either.
    mine, theirs = getattr(o_s, "last_epoch", None), getattr(t_s, "last_epoch", None)
    assert mine == theirs, f"{where}: last_epoch {mine} != {theirs}"


def drive(factory, steps, opt="SGD", metrics=None, torch_factory=None, lrs=LRS):
    """Run ours and torch's side by side; return our per-step lrs and momenta, shape (steps + 1, groups)."""
    t_opt, o_opt, step_both = make_optimizers(opt, lrs)
    t_s = (torch_factory or factory)(t_opt, TL)
    o_s = factory(o_opt, optim_core)
    assert_same(t_opt, o_opt, t_s, o_s, "after construction")
    rec_lr = [[g["lr"] for g in o_opt.param_groups]]
    rec_m = [[momentum_of(g) for g in o_opt.param_groups]]
    for i in range(steps):
        step_both(i)
        if metrics is None:
            t_s.step()
            o_s.step()
        else:
            t_s.step(metrics[i])
            o_s.step(metrics[i])
        assert_same(t_opt, o_opt, t_s, o_s, f"after step {i + 1}")
        rec_lr.append([g["lr"] for g in o_opt.param_groups])
        rec_m.append([momentum_of(g) for g in o_opt.param_groups])
    return {"lr": np.array(rec_lr), "momentum": np.array(rec_m, dtype=np.float64)}


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
        "WarmupCosine": optim_core.warmup_cosine,
        "WarmupPolynomial": optim_core.warmup_polynomial,
    }[name]
    return fn(n, base_lr, **kw)


def assert_pure_matches(name, kw, rec, n):
    for g, base in enumerate(LRS):
        curve = pure_curve(name, kw, g, base, n)
        np.testing.assert_allclose(curve["lr"], rec["lr"][:, g], rtol=RTOL, atol=ATOL,
                                   err_msg=f"pure {name} lr, group {g}")
        if "momentum" in curve:
            np.testing.assert_allclose(curve["momentum"], rec["momentum"][:, g], rtol=RTOL, atol=ATOL,
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


@pytest.mark.parametrize("name,kw,steps,opt", CASES, ids=lambda c: c if isinstance(c, str) else None)
def test_class_matches_torch_and_pure_curve(name, kw, steps, opt):
    rec = drive(by_name(name, **kw), steps, opt)
    assert_pure_matches(name, kw, rec, steps + 1)


# -- our two extra schedules, against the LambdaLR a torch user would write -------------
def _torch_warmup_cosine(warmup_steps, total_steps, min_lr_ratio=0.0):
    def f(step):
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        p = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))

    return f


def _torch_warmup_poly(base_lr, warmup_steps, total_steps, power, end_lr):
    def f(step):
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        p = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return (end_lr + (base_lr - end_lr) * (1 - p) ** power) / base_lr

    return f


WARMUP_CASES = [
    ("WarmupCosine", dict(warmup_steps=30, total_steps=250, min_lr_ratio=0.1)),
    ("WarmupCosine", dict(warmup_steps=0, total_steps=300)),
    ("WarmupCosine", dict(warmup_steps=100, total_steps=100, min_lr_ratio=0.5)),
    ("WarmupPolynomial", dict(warmup_steps=30, total_steps=250, power=1.0, end_lr=0.0)),
    ("WarmupPolynomial", dict(warmup_steps=20, total_steps=280, power=2.0, end_lr=0.001)),
    ("WarmupPolynomial", dict(warmup_steps=1, total_steps=150, power=0.5, end_lr=0.01)),
]


@pytest.mark.parametrize("name,kw", WARMUP_CASES, ids=lambda c: c if isinstance(c, str) else None)
def test_warmup_schedules_match_torch_lambdalr(name, kw):
    def torch_factory(opt, mod):
        if name == "WarmupCosine":
            return mod.LambdaLR(opt, _torch_warmup_cosine(**kw))
        return mod.LambdaLR(opt, [_torch_warmup_poly(lr, **kw) for lr in LRS])

    rec = drive(by_name(name, **kw), 300, "Adam", torch_factory=torch_factory)
    assert_pure_matches(name, kw, rec, 301)
    if kw["warmup_steps"]:
        assert rec["lr"][0, 0] == 0.0 and np.isclose(rec["lr"][kw["warmup_steps"], 0], LRS[0])


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


@pytest.mark.parametrize("name,kw", [
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("CosineAnnealingLR", dict(T_max=20, eta_min=0.001)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("LinearLR", dict(start_factor=0.2, total_iters=10)),
])
def test_resuming_with_last_epoch_matches_torch(name, kw):
    # A scheduler created with last_epoch=k continues from the groups' initial_lr, as torch's does.
    def factory(opt, mod):
        for g in opt.param_groups:
            g["initial_lr"] = g["lr"]
        return getattr(mod, name)(opt, last_epoch=7, **kw)

    drive(factory, 60)


def test_step_with_epoch_uses_closed_form_like_torch():
    t_opt, o_opt, _ = make_optimizers()
    t_s, o_s = TL.CosineAnnealingLR(t_opt, T_max=30, eta_min=0.01), optim_core.CosineAnnealingLR(o_opt, T_max=30,
                                                                                                   eta_min=0.01)
    for epoch in (5, 17, 3, 40):
        with pytest.warns(UserWarning):
            t_s.step(epoch)
        with pytest.warns(UserWarning):
            o_s.step(epoch)
        assert_same(t_opt, o_opt, t_s, o_s, f"step({epoch})")


def test_warm_restarts_fractional_epochs_match_torch():
    t_opt, o_opt, _ = make_optimizers()
    t_s = TL.CosineAnnealingWarmRestarts(t_opt, T_0=5, T_mult=2, eta_min=0.001)
    o_s = optim_core.CosineAnnealingWarmRestarts(o_opt, T_0=5, T_mult=2, eta_min=0.001)
    iters = 7
    for epoch in range(40):
        for i in range(iters):
            t_s.step(epoch + i / iters)
            o_s.step(epoch + i / iters)
            assert_same(t_opt, o_opt, t_s, o_s, f"epoch {epoch} + {i}/{iters}")


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


@pytest.mark.parametrize("opt_name", ["RMSprop", "NAdam", "AdamW", "Lion"])
def test_schedulers_drive_other_optimizers(opt_name):
    # Any optim_core optimizer: the scheduler only touches param_groups.
    p = optim_core.Parameter(np.ones(4))
    opt = getattr(optim_core, opt_name)([p], lr=0.01)
    s = optim_core.OneCycleLR(opt, max_lr=0.01, total_steps=50)
    curve = optim_core.one_cycle_lr(51, 0.01, total_steps=50)
    for i in range(50):
        assert close(opt.param_groups[0]["lr"], curve["lr"][i])
        assert close(momentum_of(opt.param_groups[0]), curve["momentum"][i])
        p.grad = 0.1 * p.data
        opt.step()
        s.step()
    assert np.all(np.isfinite(p.data))


# -- state_dict round trips -------------------------------------------------------------
ROUNDTRIP = [
    by_name("StepLR", step_size=10, gamma=0.5),
    by_name("MultiStepLR", milestones=[20, 50], gamma=0.3),
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
    by_name("WarmupCosine", warmup_steps=20, total_steps=100, min_lr_ratio=0.1),
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
