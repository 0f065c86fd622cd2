"""The trajectory engine: batched equals single, equals the torch-shaped classes, divergence, analyses."""

import math

import numpy as np
import pytest

import optim_core
from optim_core import registry
from optim_core.analysis import convergence_map, empirical_max_stable_lr, quadratic_stability, sensitivity_map
from optim_core.engine import LIMITS, RunSpec, run_trajectories
from tests.asserts import assert_same


class Quadratic:
    """f = 0.5 (a x^2 + b y^2) + c x y, a hand-derived stand-in independent of optim_core.surfaces."""

    def __init__(self, a=1.0, b=10.0, c=0.0):
        self.a, self.b, self.c = a, b, c
        self.minima = np.array([[0.0, 0.0]])
        self.global_min_value = 0.0
        self.bound = 1e3
        self.window = ((-3, 3), (-3, 3))

    def value(self, xy):
        x, y = xy[..., 0], xy[..., 1]
        return 0.5 * (self.a * x * x + self.b * y * y) + self.c * x * y

    def grad(self, xy):
        x, y = xy[..., 0], xy[..., 1]
        return np.stack([self.a * x + self.c * y, self.b * y + self.c * x], axis=-1)

    def value_and_grad(self, xy):
        return self.value(xy), self.grad(xy)

    def hessian(self, xy):
        h = np.array([[self.a, self.c], [self.c, self.b]])
        return np.broadcast_to(h, xy.shape[:-1] + (2, 2))


def _class_path(surface, name, hypers, start, steps):
    """Step the torch-shaped class on one Parameter: the reference for the engine."""
    info = registry.get_optimizer(name)
    p = optim_core.Parameter(np.asarray(start, dtype=np.float64))
    opt = info.cls([p], **info.cls.keywords(hypers))
    path = [p.data.copy()]
    for _ in range(steps):
        p.grad = surface.grad(p.data)
        opt.step()
        if info.needs_hessian and opt.hessian_due():
            # Sophia's loop: after every k-th step, fold in the curvature at the new point.
            opt.update_hessian([np.diag(surface.hessian(p.data)).copy()])
        path.append(p.data.copy())
    return np.array(path)


# Hyperparameters that keep every optimizer stable and moving on the stand-in quadratic.
def _gentle(name):
    info = registry.get_optimizer(name)
    names = {h.name for h in info.hypers}
    hp = {}
    if "lr" in names and info.hyper("lr").default is not None:
        hp["lr"] = 0.05 if name not in ("Adadelta",) else 1.0
    if "momentum" in names:
        hp["momentum"] = 0.5
    return hp


OPTIMIZERS = list(registry.optimizers())


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_engine_equals_class_for_every_optimizer(name):
    surface = Quadratic(1.0, 4.0, 0.5)
    hp = _gentle(name)
    starts = np.array([[2.0, 1.5], [-1.0, 2.5]])
    tr = run_trajectories(surface, [RunSpec(name, hp)], starts, 40)
    for m, start in enumerate(starts):
        ref = _class_path(surface, name, hp, start, 40)
        assert_same(tr.positions[0, m], ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_batched_equals_single_for_every_optimizer(name):
    surface = Quadratic(1.0, 4.0, 0.5)
    hp = _gentle(name)
    other = dict(hp)
    if "lr" in other:
        other["lr"] = other["lr"] * 0.5
    specs = [RunSpec(name, hp), RunSpec("SGD", {"lr": 0.01}), RunSpec(name, other)]
    starts = np.array([[2.0, 1.5], [-1.0, 2.5], [0.5, -2.0]])
    together = run_trajectories(surface, specs, starts, 30)
    for k, spec in enumerate(specs):
        for m in range(len(starts)):
            alone = run_trajectories(surface, [spec], starts[m : m + 1], 30)
            np.testing.assert_array_equal(together.positions[k, m], alone.positions[0, 0])


def test_sweep_rows_equal_separate_runs():
    surface = Quadratic()
    lrs = np.array([0.01, 0.05, 0.1])
    betas = np.array([0.8, 0.9, 0.95])
    starts = np.array([[2.0, 1.0], [-1.0, 0.5]])
    swept = run_trajectories(surface, [RunSpec("Adam", {"lr": lrs, "beta1": betas})], starts, 50)
    assert swept.positions.shape == (1, 6, 51, 2)
    for m in range(2):
        for s in range(3):
            alone = run_trajectories(surface, [RunSpec("Adam", {"lr": lrs[s], "beta1": betas[s]})], starts[m : m + 1], 50)
            np.testing.assert_array_equal(swept.positions[0, m * 3 + s], alone.positions[0, 0])


def test_divergence_is_marked_and_others_go_on():
    surface = Quadratic(1.0, 10.0)  # L = 10: gradient descent is stable below lr = 0.2
    specs = [RunSpec("SGD", {"lr": 0.1}), RunSpec("SGD", {"lr": 0.5}, label="too big")]
    tr = run_trajectories(surface, specs, [[1.0, 1.0]], 200)
    assert tr.diverged_step[0, 0] == -1
    d = int(tr.diverged_step[1, 0])
    # |1 - 0.5*10| = 4: |y| grows 4x a step and passes the bound 1e3 at step 5.
    assert d == 5
    assert "left the region" in tr.diverged_reason[1, 0]
    assert np.all(np.isnan(tr.positions[1, 0, d:]))
    assert np.all(np.isfinite(tr.positions[1, 0, :d]))
    assert np.isnan(tr.final_losses[1, 0])
    alone = run_trajectories(surface, specs[:1], [[1.0, 1.0]], 200)
    np.testing.assert_array_equal(tr.positions[0], alone.positions[0])
    row = [r for r in tr.metrics() if r["run"] == "too big"][0]
    assert row["diverged_at"] == 5


def test_nan_gradient_is_reported_not_hidden():
    class Hole(Quadratic):
        def value_and_grad(self, xy):
            v, g = super().value_and_grad(xy)
            g = np.where(xy[..., :1] < 0.5, np.nan, g)
            return v, g

    tr = run_trajectories(Hole(), [RunSpec("SGD", {"lr": 0.3})], [[1.0, 0.0]], 20)
    d = int(tr.diverged_step[0, 0])
    assert d > 0 and "NaN" in tr.diverged_reason[0, 0]


def test_recorded_grads_updates_and_state_are_consistent():
    surface = Quadratic()
    tr = run_trajectories(surface, [RunSpec("SGD", {"lr": 0.05, "momentum": 0.9})], [[2.0, 1.0]], 30)
    pos, grads, upd = tr.positions[0, 0], tr.grads[0, 0], tr.updates[0, 0]
    np.testing.assert_allclose(grads, surface.grad(pos[:-1]))
    np.testing.assert_allclose(upd, np.diff(pos, axis=0))
    buf = tr.states[0]["momentum_buffer"][0]
    np.testing.assert_allclose(upd, -0.05 * buf, rtol=1e-12)
    np.testing.assert_allclose(tr.lrs[0, 0], 0.05)
    np.testing.assert_allclose(tr.losses[0, 0], surface.value(pos))
    assert tr.path_length[0, 0] == pytest.approx(np.linalg.norm(upd, axis=-1).sum())


def test_clip_norm_equals_clip_grad_norm_then_step():
    surface = Quadratic(1.0, 10.0)
    tr = run_trajectories(surface, [RunSpec("SGD", {"lr": 0.05}, clip_norm=1.0)], [[3.0, 2.0]], 20)
    p = np.array([3.0, 2.0])
    for t in range(20):
        g = surface.grad(p)
        g = g * min(1.0, 1.0 / (np.linalg.norm(g) + 1e-6))
        p = p - 0.05 * g
        assert_same(tr.positions[0, 0, t + 1], p, rtol=1e-12)
    raw = tr.raw_grads[0, 0]
    assert np.all(np.linalg.norm(tr.grads[0, 0], axis=-1) <= 1.0 + 1e-12)
    assert np.linalg.norm(raw[0]) > 1.0


def test_summary_mode_metrics_equal_full_mode():
    surface = Quadratic()
    specs = [RunSpec("SGD", {"lr": 0.05, "momentum": 0.9}), RunSpec("Adam", {"lr": 0.2}), RunSpec("SGD", {"lr": 0.3})]
    starts = np.array([[2.0, 1.0], [1.0, -2.0]])
    full = run_trajectories(surface, specs, starts, 120)
    summary = run_trajectories(surface, specs, starts, 120, record="summary")
    assert summary.positions is None
    np.testing.assert_array_equal(full.steps_to_threshold, summary.steps_to_threshold)
    np.testing.assert_array_equal(full.diverged_step, summary.diverged_step)
    np.testing.assert_allclose(full.path_length, summary.path_length, rtol=1e-12)
    np.testing.assert_array_equal(full.final_losses, summary.final_losses)


def test_requests_beyond_limits_are_refused_with_a_reason():
    surface = Quadratic()
    with pytest.raises(ValueError, match="steps must be between"):
        run_trajectories(surface, [RunSpec("SGD")], [[1.0, 1.0]], LIMITS.max_steps + 1)
    with pytest.raises(ValueError, match="more than one request may compute"):
        run_trajectories(surface, [RunSpec("SGD")] * 4, np.zeros((LIMITS.max_starts, 2)), 1000)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        run_trajectories(surface, [RunSpec("SGD", {"lr": -1.0})], [[1.0, 1.0]], 10)
    with pytest.raises(ValueError, match="no hyperparameter"):
        run_trajectories(surface, [RunSpec("SGD", {"betas": 1})], [[1.0, 1.0]], 10)
    with pytest.raises(ValueError, match="finite"):
        run_trajectories(surface, [RunSpec("SGD")], [[np.nan, 1.0]], 10)


def test_lookahead_sync_every_k_steps():
    surface = Quadratic()
    k, alpha, lr = 5, 0.5, 0.05
    tr = run_trajectories(surface, [RunSpec("SGD", {"lr": lr}, lookahead=(k, alpha))], [[2.0, 1.0]], 20)
    fast = slow = np.array([2.0, 1.0])
    for t in range(1, 21):
        fast = fast - lr * surface.grad(fast)
        if t % k == 0:
            slow = slow + alpha * (fast - slow)
            fast = slow
        assert_same(tr.positions[0, 0, t], fast, rtol=1e-12)


def test_quadratic_stability_theory_matches_the_engine():
    L, mu = 10.0, 1.0
    theory = quadratic_stability(L, mu, beta=0.9)
    assert theory["gd_max_lr"] == pytest.approx(0.2)
    assert theory["heavy_ball_max_lr"] == pytest.approx(0.38)
    assert theory["optimal_momentum"] == pytest.approx(((math.sqrt(10) - 1) / (math.sqrt(10) + 1)) ** 2)
    surface = Quadratic(mu, L)
    lrs = np.linspace(0.05, 0.5, 91)  # spacing 0.005
    found, _ = empirical_max_stable_lr(surface, "SGD", {}, [1.0, 1.0], 300, lrs)
    assert theory["gd_max_lr"] - 0.0051 <= found <= theory["gd_max_lr"]
    found_hb, _ = empirical_max_stable_lr(surface, "SGD", {"momentum": 0.9}, [1.0, 1.0], 600, lrs)
    assert theory["heavy_ball_max_lr"] - 0.0051 <= found_hb <= theory["heavy_ball_max_lr"]
    found_nag, _ = empirical_max_stable_lr(surface, "SGD", {"momentum": 0.9, "nesterov": True}, [1.0, 1.0], 600, lrs)
    assert theory["nesterov_max_lr"] - 0.0051 <= found_nag <= theory["nesterov_max_lr"]


def test_optimal_momentum_beats_larger_momentum_and_plain_gd():
    L, mu = 100.0, 1.0
    th = quadratic_stability(L, mu)
    surface = Quadratic(mu, L)
    b = th["optimal_momentum"]
    # Below beta* the lr eta* lies past the stability bound 2(1+beta)/L; above it the rate sqrt(beta) is slower.
    betas = np.array([b, b + 0.05, b + 0.1])
    tr = run_trajectories(surface, [RunSpec("SGD", {"lr": th["optimal_momentum_lr"], "momentum": betas})], [[1.0, 1.0]], 150, record="summary")
    final = tr.final_losses[0]
    assert final[0] < final[1] < final[2]
    gd = run_trajectories(surface, [RunSpec("SGD", {"lr": th["gd_optimal_lr"]})], [[1.0, 1.0]], 150, record="summary")
    assert final[0] < 1e-6 * gd.final_losses[0, 0]


def test_convergence_map_is_reproducible_and_matches_single_runs():
    surface = Quadratic(1.0, 3.0)
    spec = RunSpec("SGD", {"lr": 0.1, "momentum": 0.5})
    a = convergence_map(surface, spec, n=12, steps=100, dtype=np.float64)
    b = convergence_map(surface, spec, n=12, steps=100, dtype=np.float64)
    np.testing.assert_array_equal(a.steps_to_converge, b.steps_to_converge)
    assert a.steps_to_converge.shape == (12, 12)
    for i, j in [(3, 7), (0, 0), (11, 5)]:
        single = run_trajectories(surface, [spec], [[a.xs[j], a.ys[i]]], 100)
        assert a.steps_to_converge[i, j] == single.steps_to_threshold[0, 0]
        assert a.final_loss[i, j] == single.final_losses[0, 0]
    assert np.all(a.basin == 0)


def test_float32_convergence_map_agrees_with_float64_and_is_reproducible():
    # Four minima: the basin picture is where float32 could go wrong, and does not.
    surface = registry.get_surface("Himmelblau").make()
    spec = RunSpec("Adam", {"lr": 0.05})
    m32 = convergence_map(surface, spec, n=40, steps=200)
    m64 = convergence_map(surface, spec, n=40, steps=200, dtype=np.float64)
    np.testing.assert_array_equal(m32.basin, convergence_map(surface, spec, n=40, steps=200).basin)
    assert len(set(m64.basin.ravel().tolist()) - {-1}) == 4
    assert np.mean(m32.basin == m64.basin) >= 0.995
    assert np.mean(m32.steps_to_converge == m64.steps_to_converge) >= 0.99
    assert np.all(np.abs(m32.steps_to_converge - m64.steps_to_converge)[m64.steps_to_converge >= 0] <= 2)


def test_float32_runs_keep_float32_state_and_float64_records():
    surface = Quadratic(1.0, 3.0)
    spec = RunSpec("Adam", {"lr": 0.1})
    t32 = run_trajectories(surface, [spec], [[1.0, -2.0]], 50, dtype=np.float32)
    t64 = run_trajectories(surface, [spec], [[1.0, -2.0]], 50)
    assert t32.positions.dtype == t32.final_positions.dtype == t32.final_losses.dtype == np.float64
    np.testing.assert_allclose(t32.positions, t64.positions, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(t32.positions, t64.positions)  # it really ran in float32
    with pytest.raises(ValueError, match="float32 or float64"):
        run_trajectories(surface, [spec], [[1.0, -2.0]], 5, dtype=np.int64)


def test_sensitivity_map_grid_matches_single_runs():
    surface = Quadratic(1.0, 10.0)
    lrs = np.array([0.01, 0.05, 0.1, 0.25])
    moms = np.array([0.0, 0.5, 0.9])
    sm = sensitivity_map(surface, "SGD", "lr", lrs, "momentum", moms, [1.0, 1.0], steps=80)
    assert sm.final_loss.shape == (3, 4)
    for i, mom in enumerate(moms):
        for j, lr in enumerate(lrs):
            single = run_trajectories(surface, [RunSpec("SGD", {"lr": lr, "momentum": mom})], [[1.0, 1.0]], 80, record="summary")
            assert sm.diverged[i, j] == single.diverged[0, 0]
            if not single.diverged[0, 0]:
                assert sm.final_loss[i, j] == pytest.approx(single.final_losses[0, 0], rel=1e-12)
    assert sm.diverged[0, 3]  # lr 0.25 > 2/L without momentum
    assert not sm.diverged[2, 3]  # but inside 2(1+0.9)/L with momentum 0.9


def _class_loop_with_scheduler(surface, opt_cls, opt_kwargs, make_sched, start, steps, metric=False):
    p = optim_core.Parameter(np.asarray(start, dtype=np.float64))
    opt = opt_cls([p], **opt_kwargs)
    sched = make_sched(opt)
    path, lrs = [p.data.copy()], []
    for _ in range(steps):
        loss, g = surface.value_and_grad(p.data)
        p.grad = g
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(float(loss)) if metric else sched.step()
        path.append(p.data.copy())
    return np.array(path), np.array(lrs)


def test_scheduled_run_equals_optimizer_plus_torch_style_scheduler():
    surface = Quadratic(1.0, 4.0)
    steps = 120
    spec = RunSpec("SGD", {"lr": 0.1, "momentum": 0.9}, schedule=("OneCycleLR", {"pct_start": 0.25}))
    tr = run_trajectories(surface, [spec], [[2.0, 1.0]], steps)
    path, lrs = _class_loop_with_scheduler(
        surface, optim_core.SGD, {"lr": 0.1, "momentum": 0.9},
        lambda o: optim_core.OneCycleLR(o, max_lr=0.1, total_steps=steps, pct_start=0.25), [2.0, 1.0], steps)
    assert_same(tr.lrs[0, 0], lrs, rtol=1e-12)
    assert_same(tr.positions[0, 0], path, rtol=1e-10, atol=1e-13)


def test_plateau_schedule_reacts_to_each_runs_own_loss():
    surface = Quadratic(1.0, 10.0)
    steps = 150
    params = {"factor": 0.5, "patience": 2, "threshold": 0.1}
    # lr 0.199 is just inside 2/L = 0.2: y shrinks 1% a step,  under the 10% threshold, so the lr is cut.
    specs = [RunSpec("SGD", {"lr": 0.199}, schedule=("ReduceLROnPlateau", params)),
             RunSpec("SGD", {"lr": 0.05}, schedule=("ReduceLROnPlateau", params))]
    tr = run_trajectories(surface, specs, [[2.0, 1.0]], steps)
    for k, lr0 in enumerate((0.199, 0.05)):
        path, lrs = _class_loop_with_scheduler(
            surface, optim_core.SGD, {"lr": lr0}, lambda o: optim_core.ReduceLROnPlateau(o, **params),
            [2.0, 1.0], steps, metric=True)
        assert_same(tr.lrs[k, 0], lrs, rtol=1e-12)
        assert_same(tr.positions[k, 0], path, rtol=1e-12, atol=1e-15)
    assert tr.lrs[0, 0, -1] < 0.199  # it did reduce


def test_adam_one_cycle_cycles_beta1():
    surface = Quadratic()
    steps = 80
    spec = RunSpec("Adam", {"lr": 0.05}, schedule=("OneCycleLR", {}))
    tr = run_trajectories(surface, [spec], [[2.0, 1.0]], steps)
    path, lrs = _class_loop_with_scheduler(
        surface, optim_core.Adam, {"lr": 0.05},
        lambda o: optim_core.OneCycleLR(o, max_lr=0.05, total_steps=steps), [2.0, 1.0], steps)
    assert_same(tr.positions[0, 0], path, rtol=1e-10, atol=1e-13)


def test_engine_checks_relations_between_hyperparameters_like_the_class():
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum"):
        run_trajectories(Quadratic(), [RunSpec("SGD", {"lr": 0.1, "nesterov": True})], [[1.0, 1.0]], 5)


def test_engine_enforces_the_run_and_start_limits_itself():
    surface = Quadratic()
    with pytest.raises(ValueError, match="at most 12 runs"):
        run_trajectories(surface, [RunSpec("SGD")] * (LIMITS.max_runs + 1), [[1.0, 1.0]], 5)
    with pytest.raises(ValueError, match="start points per request"):
        run_trajectories(surface, [RunSpec("SGD")], np.zeros((LIMITS.max_starts + 1, 2)), 5, record="final")
    assert LIMITS.full_record_fits(6, 500) and not LIMITS.full_record_fits(40_000, 500)


@pytest.mark.parametrize("name", list(registry.optimizers()))
def test_0d_hyperparameters_are_scalars(name):
    # A hyperparameter given as a 0-d array or a NumPy scalar (what np.float64 arithmetic
    # gives) is one value, not a sweep: the run equals the one with a Python float, bit for bit.
    surface = registry.get_surface("Rosenbrock").make()
    fixed = {"relative_step": False} if name == "Adafactor" else {}
    runs = [optim_core.engine.run_trajectories(surface, [RunSpec(name, {**fixed, "lr": lr})], start, 40)
            for lr, start in [(1e-3, [[-1.0, 1.5]]), (np.array(1e-3), np.array([-1.0, 1.5])), (np.float64(1e-3), (-1.0, 1.5))]]
    for other in runs[1:]:
        assert other.positions.shape == runs[0].positions.shape == (1, 1, 41, 2)
        assert np.array_equal(other.positions, runs[0].positions)


@pytest.mark.parametrize("float_path", [True, False])
def test_one_divergence_rule_for_the_engine_and_the_surfaces(float_path):
    # A plane falling along the diagonal: SGD moves by lr·(1, 1) per step, so after step t
    # the run is at (t, t). The engine (on floats for one run, on arrays for eight) must stop
    # it exactly where Surface.diverged first says so.
    surface = optim_core.CustomSurface("-x - y", window=((-3.0, 3.0), (-3.0, 3.0)))
    surface.bound = 10.0
    specs = [RunSpec("SGD", {"lr": 1.0})] + ([] if float_path else [RunSpec("SGD", {"lr": 1.0})] * 7)
    tr = run_trajectories(surface, specs, [[0.0, 0.0]], 20)
    x = np.arange(21.0)  # the undisturbed path: (t, t) after step t
    first = int(np.argmax(surface.diverged(np.stack([x, x], axis=-1))))
    assert first == 11  # the box |x|, |y| <= 10; a disc of radius 10 would be left at step 8 (8·√2 > 10)
    assert tr.diverged_step[0, 0] == first
    assert "left the region" in str(tr.diverged_reason[0, 0])
    nan = np.array([[np.nan, 0.0], [0.0, np.inf], [10.0, -10.0], [10.0 + 1e-9, 0.0]])
    assert surface.diverged(nan).tolist() == [True, True, False, True]
