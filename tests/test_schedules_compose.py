"""ReduceLROnPlateau (class, pure curve, batched stepper) and SequentialLR / ChainedScheduler
(classes and pure helpers), against torch step by step."""

from __future__ import annotations

import numpy as np
import pytest

import optim_core
from optim_core.schedules import plateau_init, plateau_step
from tests.asserts import assert_same, reference
from tests.test_schedules import ATOL, LRS, RTOL, by_name, compare_records, drive, make_optimizers, snapshot

torch = reference("torch")
TL = torch.optim.lr_scheduler


# -- ReduceLROnPlateau ------------------------------------------------------------------------
def _loss_like(n, seed):
    """A falling, noisy, eventually flat metric (plateaus make the scheduler act)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 1.0 / (1.0 + 0.03 * t) + 0.02 * rng.normal(size=n) + 0.3 * (t > 200)


def _metric(mode, n=400, seed=0):
    m = _loss_like(n, seed)
    return m if mode == "min" else 1.0 - m  # an accuracy-like metric for 'max'


PLATEAU = [
    dict(mode="min"),
    dict(mode="min", threshold_mode="abs", threshold=0.01, patience=5),
    dict(mode="max", factor=0.5, patience=3),
    dict(mode="max", threshold_mode="abs", threshold=0.005, patience=4, cooldown=3),
    dict(mode="min", factor=0.3, patience=2, cooldown=5, min_lr=0.002),
    dict(mode="min", factor=0.5, patience=1, min_lr=[1e-3, 1e-2]),
    dict(mode="max", threshold_mode="rel", threshold=0.05, patience=0, factor=0.7, eps=0.004),
    dict(mode="min", threshold_mode="rel", threshold=0.0, patience=6, cooldown=1, factor=0.0),
]


@pytest.mark.parametrize("kw", PLATEAU, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_plateau_class_matches_torch_and_pure(kw):
    metrics = _metric(kw["mode"])
    rec = drive(by_name("ReduceLROnPlateau", **kw), len(metrics), metrics=metrics)
    for g, base in enumerate(LRS):
        pure_kw = dict(kw)
        if isinstance(kw.get("min_lr"), list):
            pure_kw["min_lr"] = kw["min_lr"][g]
        out = optim_core.plateau_lr(metrics, base, **pure_kw)
        assert_same(out["lr"], rec["lr"][:, g], rtol=RTOL, atol=ATOL, err_msg=f"group {g}")
        drops = np.flatnonzero(np.diff(rec["lr"][:, g]) < 0) + 1
        assert_same(out["reductions"], drops.astype(np.int64), rtol=0, err_msg="the steps of the reductions")
    assert np.any(np.diff(rec["lr"][:, 0]) < 0), "the metric should trigger at least one reduction"


@pytest.mark.parametrize("kw", PLATEAU, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_plateau_batched_stepper_equals_torch_row_by_row(kw):
    B, n = 5, 300
    metrics = np.stack([_metric(kw["mode"], n, seed=b) for b in range(B)], axis=1)  # (n, B)
    base = np.array([0.1, 0.05, 0.2, 0.01, 0.1])
    params = dict(kw)
    mode = params.pop("mode")
    if isinstance(params.get("min_lr"), list):
        params["min_lr"] = params["min_lr"][0]
    # A sweep: one factor per run.
    factors = np.array([params.get("factor", 0.1), 0.5, 0.2, 0.9, 0.0])
    params["factor"] = factors
    state = plateau_init(B, base, mode=mode)
    lrs = [state["lr"].copy()]
    for i in range(n):
        lrs.append(plateau_step(state, metrics[i], **params).copy())
    lrs = np.array(lrs)
    for b in range(B):
        opt = torch.optim.SGD([torch.zeros(1, dtype=torch.float64, requires_grad=True)], lr=float(base[b]))
        s = TL.ReduceLROnPlateau(opt, mode=mode, **{**params, "factor": float(factors[b])})
        row = [opt.param_groups[0]["lr"]]
        for i in range(n):
            s.step(float(metrics[i, b]))
            row.append(opt.param_groups[0]["lr"])
        assert_same(lrs[:, b], np.asarray(row, dtype=np.float64), rtol=0, err_msg=f"run {b}")
        assert_same(np.array([state["best"][b]]), np.array([s.best], dtype=np.float64), rtol=0)
        assert state["num_bad_epochs"][b] == s.num_bad_epochs and state["cooldown_counter"][b] == s.cooldown_counter
    assert state["last_epoch"] == n


def test_plateau_stepper_checks_its_mode():
    state = plateau_init(3, 0.1, mode="max")
    with pytest.raises(ValueError, match="mode"):
        plateau_step(state, np.zeros(3), mode="min")
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        plateau_step(state, np.zeros(3), factor=np.array([0.5, 1.0, 0.1]))
    with pytest.raises(TypeError, match="threshold_mode must be a string"):  # torch: a TypeError too
        plateau_step(state, np.zeros(3), threshold_mode=None)
    with pytest.raises(TypeError, match="mode must be a string"):
        plateau_init(3, 0.1, mode=None)


def test_plateau_pure_handles_nan_metrics_like_torch():
    metrics = np.array([1.0, 0.9, np.nan, np.nan, np.nan, 0.8, np.nan, np.nan, np.nan])
    rec = drive(by_name("ReduceLROnPlateau", patience=1), len(metrics), metrics=metrics)
    assert_same(optim_core.plateau_lr(metrics, LRS[0], patience=1)["lr"], rec["lr"][:, 0], rtol=RTOL, atol=ATOL)


def test_plateau_step_with_an_epoch_warns_and_continues_like_torch():
    t_opt, o_opt, _ = make_optimizers()
    t_s, o_s = TL.ReduceLROnPlateau(t_opt, patience=0), optim_core.ReduceLROnPlateau(o_opt, patience=0)
    ours, theirs = [], []
    for epoch, metric in [(5, 1.0), (9, 1.0), (2, 0.5), (None, 0.7), (3, 0.7)]:
        for s in (t_s, o_s):
            if epoch is None:
                s.step(metric)
            else:
                with pytest.warns(UserWarning, match="deprecated"):
                    s.step(metric, epoch)
        ours.append(snapshot(o_opt, o_s))
        theirs.append(snapshot(t_opt, t_s))
    compare_records(ours, theirs)


# -- SequentialLR / ChainedScheduler ----------------------------------------------------------
def _children(mod, opt, specs):
    return [getattr(mod, name)(opt, **kw) for name, kw in specs]


def sequential(specs, milestones):
    return lambda opt, mod: mod.SequentialLR(opt, _children(mod, opt, specs), milestones=milestones)


def chained(specs):
    return lambda opt, mod: mod.ChainedScheduler(_children(mod, opt, specs), optimizer=opt)


def _stair(e):
    return 0.5 if e % 30 == 0 else 1.0


SEQUENTIAL = [
    ([("LinearLR", dict(start_factor=0.01, total_iters=50)), ("CosineAnnealingLR", dict(T_max=250))], [50]),
    ([("LinearLR", dict(start_factor=0.1, total_iters=40)),
      ("CosineAnnealingLR", dict(T_max=60, eta_min=0.001))], [40]),  # the cosine runs past T_max
    ([("ConstantLR", dict(factor=0.2, total_iters=10)), ("ExponentialLR", dict(gamma=0.98)),
      ("StepLR", dict(step_size=30, gamma=0.5))], [20, 120]),
    ([("ExponentialLR", dict(gamma=0.97)), ("MultiplicativeLR", dict(lr_lambda=_stair))], [60]),
    ([("LinearLR", dict(start_factor=0.5, total_iters=20)),
      ("CosineAnnealingWarmRestarts", dict(T_0=20, T_mult=2, eta_min=0.001))], [20]),
    ([("LambdaLR", dict(lr_lambda=lambda e: (e + 1) / 30)), ("PolynomialLR", dict(total_iters=200, power=2.0)),
      ("MultiStepLR", dict(milestones=[10, 40], gamma=0.5))], [30, 200]),
    ([("StepLR", dict(step_size=5, gamma=0.9)), ("LinearLR", dict(start_factor=1.0, end_factor=0.1,
                                                                     total_iters=100))], [300]),
    # Milestones torch accepts beyond strictly increasing positive ones: 0 and below (the next part
    # runs from the start, taking the initial step), repeated (the parts between never run).
    ([("ConstantLR", dict(factor=0.5, total_iters=2)), ("ExponentialLR", dict(gamma=0.99))], [0]),
    ([("ConstantLR", dict(factor=0.5, total_iters=2)), ("MultiplicativeLR", dict(lr_lambda=_stair))], [-4]),
    ([("ConstantLR", dict(factor=0.5, total_iters=2)), ("ExponentialLR", dict(gamma=0.9)),
      ("MultiplicativeLR", dict(lr_lambda=_stair))], [40, 40]),
    ([("StepLR", dict(step_size=3)), ("LinearLR", dict(start_factor=0.2, total_iters=30)),
      ("MultiStepLR", dict(milestones=[70, 20, 20], gamma=0.5))], [0, 0]),
    ([("LinearLR", dict(start_factor=0.2, total_iters=30)), ("MultiStepLR", dict(milestones=[0, 0, 50], gamma=0.5)),
      ("PolynomialLR", dict(total_iters=50, power=0.0))], [25, 120]),
]

CHAINED = [
    [("LinearLR", dict(start_factor=0.1, total_iters=50)), ("ExponentialLR", dict(gamma=0.99))],
    [("ConstantLR", dict(factor=0.5, total_iters=30)), ("CosineAnnealingLR", dict(T_max=70, eta_min=0.001))],
    [("CosineAnnealingLR", dict(T_max=40)), ("StepLR", dict(step_size=25, gamma=0.5))],
    [("ExponentialLR", dict(gamma=0.99)), ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + 0.05 * e))),
     ("StepLR", dict(step_size=20, gamma=0.8))],
    [("MultiplicativeLR", dict(lr_lambda=_stair)), ("PolynomialLR", dict(total_iters=250, power=1.5)),
     ("MultiStepLR", dict(milestones=[50, 150], gamma=0.3))],
    [("CosineAnnealingWarmRestarts", dict(T_0=30, T_mult=2)), ("LinearLR", dict(start_factor=0.2,
                                                                                  total_iters=60))],
    [("MultiStepLR", dict(milestones=[90, 30, 30], gamma=0.5)), ("ExponentialLR", dict(gamma=0.0)),
     ("LambdaLR", dict(lr_lambda=lambda e: 1.0))],
    [("MultiStepLR", dict(milestones=[90, 30, 30], gamma=0.5)), ("StepLR", dict(step_size=40, gamma=0.0))],
]


@pytest.mark.parametrize("specs,milestones", SEQUENTIAL, ids=range(len(SEQUENTIAL)))
def test_sequential_matches_torch_and_pure(specs, milestones):
    n = 300
    rec = drive(sequential(specs, milestones), n)
    for g, base in enumerate(LRS):
        curve = optim_core.sequential_lr(n + 1, base, specs, milestones)
        assert_same(curve["lr"], rec["lr"][:, g], rtol=RTOL, atol=ATOL, err_msg=f"group {g}")


@pytest.mark.parametrize("specs", CHAINED, ids=range(len(CHAINED)))
def test_chained_matches_torch_and_pure(specs):
    n = 300
    rec = drive(chained(specs), n)
    for g, base in enumerate(LRS):
        curve = optim_core.chained_lr(n + 1, base, specs)
        assert_same(curve["lr"], rec["lr"][:, g], rtol=RTOL, atol=ATOL, err_msg=f"group {g}")


def test_composites_of_cycling_schedulers_match_torch():
    # The classes accept what torch accepts, including schedulers that rewrite lr / initial_lr.
    drive(chained([("OneCycleLR", dict(max_lr=0.1, total_steps=300)), ("ExponentialLR", dict(gamma=0.999))]), 300)
    drive(sequential([("LinearLR", dict(start_factor=0.1, total_iters=30)),
                      ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=20))], [30]), 300, opt="Adam")


def test_nested_sequential_in_chained_matches_torch():
    def factory(opt, mod):
        seq = mod.SequentialLR(opt, [mod.LinearLR(opt, start_factor=0.1, total_iters=20),
                                     mod.ExponentialLR(opt, gamma=0.99)], milestones=[20])
        return mod.ChainedScheduler([seq, mod.StepLR(opt, step_size=50, gamma=0.5)], optimizer=opt)

    drive(factory, 300)


def test_pure_helpers_accept_registry_parameterized_lambdas():
    n = 200
    a = optim_core.chained_lr(n, 0.1, [("LambdaLR", {"gamma": 0.99}), ("LinearLR", {"total_iters": 10})])
    b = optim_core.chained_lr(n, 0.1, [("LambdaLR", {"lr_lambda": lambda e: 0.99**e}),
                                       ("LinearLR", {"total_iters": 10})])
    assert_same(a["lr"], b["lr"], rtol=1e-12)  # two spellings of one part (not a reference)
    seq = optim_core.sequential_lr(n, 0.1, [("ExponentialLR", {"gamma": 0.9}), ("MultiplicativeLR", {"gamma": 0.5})],
                                   [5])
    assert np.isclose(seq["lr"][5], 0.1 * 0.9**4 * 0.5)  # MultiplicativeLR continues from the previous lr


@pytest.mark.parametrize("call,match", [
    (lambda: optim_core.sequential_lr(10, 0.1, [("StepLR", {"step_size": 2})], [3]), "one more than"),
    (lambda: optim_core.sequential_lr(10, 0.1, [("StepLR", {"step_size": 2}), ("ExponentialLR", {"gamma": 0.9}),
                                                ("ExponentialLR", {"gamma": 0.9})], [5, 3]), "non-decreasing"),
    (lambda: optim_core.sequential_lr(10, 0.1, [("StepLR", {"step_size": 0}), ("ExponentialLR", {"gamma": 0.9})],
                                      [0]), "step_size"),  # a part that never runs is still checked
    (lambda: optim_core.sequential_lr(10, 0.1, [], []), "at least one"),
    (lambda: optim_core.chained_lr(10, 0.1, [("OneCycleLR", {"total_steps": 10})]), "cannot compose 'OneCycleLR'"),
    (lambda: optim_core.chained_lr(10, 0.1, [("ReduceLROnPlateau", {})]), "cannot compose"),
    (lambda: optim_core.chained_lr(10, 0.1, [("CosineAnnealingLR", {"T_max": 0})]), "T_max must be a positive"),
])
def test_composition_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_composite_classes_reject_plateau_and_foreign_optimizers():
    _, opt, _ = make_optimizers()
    _, other, _ = make_optimizers()
    plateau = optim_core.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        optim_core.ChainedScheduler([plateau])
    with pytest.raises(ValueError, match="same optimizer"):
        optim_core.SequentialLR(opt, [optim_core.StepLR(opt, 3), optim_core.StepLR(other, 3)], milestones=[4])
    with pytest.raises(ValueError, match="one more than"):
        optim_core.SequentialLR(opt, [optim_core.StepLR(opt, 3)], milestones=[4])
