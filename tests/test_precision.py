"""Low-precision parameters and state (optim_core.precision): rounding helpers, the engine's
rounded races against torch.optim in the same dtype, stochastic rounding's statistics and Kahan's
compensation.

Which torch runs are "the same thing", and which are compared:

* bfloat16 and float16: ``torch.optim.SGD/Adam(fused=True)`` on CPU, with the parameter (a
  (3, 2) tensor: three starts) and the state in that dtype. The fused kernels read every value,
  compute in float32 and store each tensor once per step, which is the model here (computed in
  float64 and stored once: float32's 16 and 13 extra bits make the stored results equal).
  Compared step by step (each torch step from the engine's stored values, 200 steps): SGD, SGD
  with momentum 0.9, Adam, on the quadratic bowl and on Rosenbrock; parameters and state within
  one ulp and equal in at least 99 % of the values (torch multiplies by lr, μ, β₁, β₂ rounded to
  float32: a result that lands near a rounding midpoint can be stored one ulp away from the float64
  model's), and the free-running races equal bit for bit over their first 30 steps. Not compared: torch's default (for-loop / foreach) kernels,
  which round after every op (``buf.mul_(μ)`` is rounded before ``.add_(g)``): another algorithm.
* float32: torch has no wider arithmetic for float32 (its ops, fused or not, round each product to
  float32), so the same thing is torch.optim in float64 with the parameter and state cast to
  float32 after each step (``Tensor.to`` rounds float64 to float32 once, to nearest). Compared step
  by step on the same runs, within one float32 ulp and equal in at least 99 % of the values. torch's own float32 SGD without momentum and with lr a power of two is
  the same thing too (its products are exact), and is compared as well.

The gradient both sides use is the surface's float64 gradient at the stored point, rounded to the
dtype (what a low-precision ``param.grad`` holds); torch computes its own at its own parameter.
"""

from __future__ import annotations

import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from optim_core import registry
from optim_core.engine import RunSpec, run_trajectories
from optim_core.precision import Precision, kahan_add, round_to, stochastic_round, ulp
from tests.asserts import assert_same, reference

torch = reference("torch")

TORCH = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
NUMPY = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "float16": np.float16}
MANTISSA = {"float32": 23, "bfloat16": 7, "float16": 10}  # stored fraction bits
STEPS = 200


def _surface(name):
    return registry.get_surface(name).make()


STARTS = {"Quadratic bowl": np.array([[1.5, 1.0], [-1.8, 1.6], [0.3, -1.7]]),
          "Rosenbrock": np.array([[-1.2, 1.0], [-0.5, 0.8], [1.2, 1.0]])}
RUNS = {  # name: (engine spec, torch class, torch keywords, state keys)
    "SGD": (RunSpec("SGD", {"lr": 1e-3}), "SGD", {"lr": 1e-3}, ()),
    "SGD momentum": (RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9}), "SGD", {"lr": 1e-3, "momentum": 0.9},
                     ("momentum_buffer",)),
    "Adam": (RunSpec("Adam", {"lr": 1e-2}), "Adam", {"lr": 1e-2}, ("exp_avg", "exp_avg_sq")),
}


# -- rounding helpers --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("shape", [(), (5, 2), (3, 4, 2)])
def test_round_to_matches_torch_from_float32(dtype, shape):
    # From float32, torch's cast rounds once, to nearest even: an independent reference.
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, shape)).astype(np.float32)
    got = round_to(x, dtype)
    want = torch.from_numpy(np.asarray(x)).to(TORCH[dtype]).to(torch.float64).numpy()
    assert isinstance(got, np.ndarray) and got.shape == shape and got.dtype == np.float64
    assert_same(got, want, rtol=0)


def test_round_to_from_float64_rounds_once():
    # Values just past a midpoint: a cast through float32 (torch's from float64) would land on the
    # midpoint and round to even; the exact value rounds up. Expected values worked out by hand.
    bf_mid = 1 + 2.0**-8  # halfway between 1 and 1 + 2^-7 in bfloat16
    cases = [("bfloat16", bf_mid, 1.0), ("bfloat16", bf_mid + 2.0**-30, 1 + 2.0**-7),
             ("bfloat16", 1 + 3 * 2.0**-8, 1 + 2 * 2.0**-7),  # a tie: to the even neighbour
             ("float16", 1 + 2.0**-11 + 2.0**-40, 1 + 2.0**-10), ("float16", 65520.0, math.inf),
             ("float16", 65519.99, 65504.0), ("bfloat16", -bf_mid - 2.0**-30, -(1 + 2.0**-7))]
    for dtype, x, want in cases:
        got = round_to(np.float64(x), dtype)
        assert got.shape == () and got.dtype == np.float64
        assert float(got) == want, (dtype, x, float(got), want)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_ulp_and_the_half_ulp_rule(dtype):
    x = np.array([[1.0, 1.5], [1000.0, -3.0]])
    u = ulp(x, dtype)
    assert u.shape == (2, 2) and u.dtype == np.float64
    p = MANTISSA[dtype]
    want = np.array([[2.0**-p, 2.0**-p], [2.0 ** (9 - p), 2.0 ** (1 - p)]])  # 1000 is in [2^9, 2^10)
    assert_same(u, want, rtol=0)
    assert float(ulp(np.float64(1.0), dtype)) == float(torch.finfo(TORCH[dtype]).eps)
    # Below half an ulp an update is rounded away; above it, it arrives as a whole ulp.
    assert_same(round_to(x + 0.49 * u, dtype), x, rtol=0)
    assert_same(round_to(x + 0.51 * u, dtype), x + u, rtol=0)


# -- stochastic rounding -----------------------------------------------------------------------


def _neighbours_torch(x, dtype):
    """The values of ``dtype`` just below and above each ``x``, from torch."""
    t = TORCH[dtype]
    r = torch.from_numpy(x.astype(np.float32)).to(t)  # within one ulp of x
    below, above = (torch.nextafter(r, torch.full_like(r, s)) for s in (-math.inf, math.inf))
    rf, bf, af = (v.to(torch.float64).numpy() for v in (r, below, above))
    return np.where(rf > x, bf, rf), np.where(rf < x, af, rf)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_stochastic_rounding_stays_between_the_neighbours(dtype):
    rng = np.random.default_rng(7)
    x = rng.uniform(-4, 4, (400, 2))
    down, up = _neighbours_torch(x, dtype)
    assert np.all(down <= x) and np.all(x <= up)
    for seed in range(5):
        got = stochastic_round(x, dtype, np.random.default_rng(seed))
        assert got.shape == x.shape and got.dtype == np.float64
        assert np.all((got == down) | (got == up))
    # Representable values are left alone; the same seed draws the same roundings.
    assert_same(stochastic_round(down, dtype, np.random.default_rng(0)), down, rtol=0)
    assert_same(stochastic_round(x, dtype, np.random.default_rng(3)), stochastic_round(x, dtype, np.random.default_rng(3)),
                rtol=0)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_stochastic_rounding_is_unbiased(dtype):
    # x = 1 + f ulp for several fractions f; each of n draws rounds up with probability f, so the
    # mean error has standard deviation ulp * sqrt(f (1 - f) / n). Allowed: 5 of them (a rounding
    # to nearest would be off by min(f, 1 - f) ulps, over 100 standard deviations here).
    fractions = np.array([0.01, 0.1, 0.3, 0.5, 0.77, 0.999])
    u = 2.0 ** -MANTISSA[dtype]
    x = 1.0 + fractions * u
    n = 200_000
    draws = stochastic_round(np.broadcast_to(x, (n, x.size)), dtype, np.random.default_rng(2024))
    assert draws.shape == (n, 6) and draws.dtype == np.float64
    bias = draws.mean(axis=0) - x
    sigma = u * np.sqrt(fractions * (1 - fractions) / n)
    assert np.all(np.abs(bias) <= 5 * sigma), (bias / sigma)
    assert np.all(np.abs(bias) < 0.01 * u)


# -- the engine against torch.optim ------------------------------------------------------------


def _torch_race(surface, starts, cls, kwargs, dtype, state_keys, *, fused, forced=None):
    """torch.optim with a (3, 2) parameter: positions (T+1, 3, 2) and state (T, 3, 2) per key, float64.

    With ``forced = (positions, states)`` every step starts from those (the engine's): each torch
    step is then compared with one engine step from the same stored values."""
    p = torch.tensor(starts).to(TORCH[dtype]).requires_grad_(True)
    opt = getattr(torch.optim, cls)([p], fused=fused, **kwargs)
    pos, states = [p.detach().double().numpy().copy()], {k: [] for k in state_keys}
    for t in range(STEPS):
        if forced is not None:
            with torch.no_grad():
                p.copy_(torch.from_numpy(forced[0][t]).to(TORCH[dtype]))
                for k in state_keys:
                    if t > 0:
                        opt.state[p][k].copy_(torch.from_numpy(forced[1][k][t - 1]).to(TORCH[dtype]))
        _, g = surface.value_and_grad(p.detach().double().numpy())
        p.grad = torch.from_numpy(np.asarray(g, dtype=np.float64)).to(TORCH[dtype])
        opt.step()
        pos.append(p.detach().double().numpy().copy())
        for k in state_keys:
            states[k].append(opt.state[p][k].double().numpy().copy())
    return np.array(pos), {k: np.array(v) for k, v in states.items()}


def _torch_race_cast(surface, starts, cls, kwargs, dtype, state_keys, forced):
    """torch.optim in float64 whose parameter and state are rounded to ``dtype`` after each step,
    each step from the engine's stored values ``forced = (positions, states)``."""
    def cast(t):
        return t.to(TORCH[dtype]).to(torch.float64)

    p = cast(torch.tensor(starts)).requires_grad_(True)
    opt = getattr(torch.optim, cls)([p], foreach=False, **kwargs)
    pos, states = [p.detach().numpy().copy()], {k: [] for k in state_keys}
    for t in range(STEPS):
        with torch.no_grad():
            p.copy_(torch.from_numpy(forced[0][t]))
            for k in state_keys:
                if t > 0:
                    opt.state[p][k].copy_(torch.from_numpy(forced[1][k][t - 1]))
        _, g = surface.value_and_grad(p.detach().numpy())
        p.grad = cast(torch.from_numpy(np.asarray(g, dtype=np.float64)))
        opt.step()
        with torch.no_grad():
            p.copy_(cast(p))
            for k in state_keys:
                opt.state[p][k].copy_(cast(opt.state[p][k]))
        pos.append(p.detach().numpy().copy())
        for k in state_keys:
            states[k].append(opt.state[p][k].numpy().copy())
    return np.array(pos), {k: np.array(v) for k, v in states.items()}


def _engine_race(surface, starts, spec, dtype, remedy="none"):
    traj = run_trajectories(surface, [spec], starts, STEPS, record="full", precision=Precision(dtype, remedy))
    pos = np.moveaxis(traj.positions[0], 0, 1)  # (T+1, M, 2)
    return traj, pos, {k: np.moveaxis(v, 0, 1) for k, v in traj.states[0].items()}


@pytest.mark.parametrize("surface_name", list(STARTS))
@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_engine_equals_fused_torch_in_low_precision(dtype, run, surface_name):
    surface, starts = _surface(surface_name), STARTS[surface_name]
    spec, cls, kwargs, keys = RUNS[run]
    traj, pos, states = _engine_race(surface, starts, spec, dtype)
    want_pos, want_states = _torch_race(surface, starts, cls, kwargs, dtype, keys, fused=True, forced=(pos, states))
    assert traj.positions.shape == (1, 3, STEPS + 1, 2) and traj.positions.dtype == np.float64
    assert not traj.diverged.any()
    # torch's float32 arithmetic (lr, μ, β₁, β₂ rounded to float32) and the float64 here can put a
    # stored value on the two sides of a rounding midpoint: rarely, one ulp apart.
    for what, got, want in [("θ", pos[1:], want_pos[1:])] + [(k, states[k], want_states[k]) for k in keys]:
        assert got.shape == want.shape == (STEPS, 3, 2) and got.dtype == want.dtype == np.float64
        off = got != want
        assert np.all(np.abs(got - want) <= ulp(want, dtype)), f"{dtype} {run} {surface_name} {what}"
        assert off.mean() <= 0.01, f"{dtype} {run} {surface_name} {what}: {off.sum()} values differ"
    # Run freely, torch's race equals the engine's for 30 steps (afterwards a one-ulp difference may
    # grow on Rosenbrock's curved valley).
    free_pos, _ = _torch_race(surface, starts, cls, kwargs, dtype, keys, fused=True)
    assert_same(pos[:31], free_pos[:31], rtol=0, err_msg=f"{dtype} {run} {surface_name}")
    # Every value the engine stored is one of the dtype's.
    assert_same(pos, round_to(pos, dtype), rtol=0)


@pytest.mark.parametrize("surface_name", list(STARTS))
@pytest.mark.parametrize("run", list(RUNS))
def test_engine_equals_torch_rounded_to_float32(run, surface_name):
    surface, starts = _surface(surface_name), STARTS[surface_name]
    spec, cls, kwargs, keys = RUNS[run]
    traj, pos, states = _engine_race(surface, starts, spec, "float32")
    want_pos, want_states = _torch_race_cast(surface, starts, cls, kwargs, "float32", keys, (pos, states))
    # torch's float64 kernels (fused multiply-adds) and these differ in the last float64 bits, which
    # rarely moves a float32 rounding: within one ulp, equal in at least 99 % of the values.
    for what, got, want in [("θ", pos[1:], want_pos[1:])] + [(k, states[k], want_states[k]) for k in keys]:
        assert got.shape == want.shape == (STEPS, 3, 2) and got.dtype == want.dtype == np.float64
        assert np.all(np.abs(got - want) <= ulp(want, "float32")), f"float32 {run} {surface_name} {what}"
        assert (got != want).mean() <= 0.01, f"float32 {run} {surface_name} {what}"


@pytest.mark.parametrize("surface_name", list(STARTS))
def test_engine_equals_torch_float32_sgd_with_exact_products(surface_name):
    surface, starts = _surface(surface_name), STARTS[surface_name]
    lr = 2.0**-10  # lr · g is exact in float32, so torch's float32 ops round once, as here
    _, pos, _ = _engine_race(surface, starts, RunSpec("SGD", {"lr": lr}), "float32")
    want, _ = _torch_race(surface, starts, "SGD", {"lr": lr, "foreach": False}, "float32", (), fused=False)
    assert_same(pos, want, rtol=0)


# -- float64 stays what it was; lost updates; the remedies ------------------------------------


def test_float64_is_the_engine_as_before():
    surface = _surface("Rosenbrock")
    specs = [RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9}), RunSpec("Adam", {"lr": 1e-2})]
    plain = run_trajectories(surface, specs, STARTS["Rosenbrock"][:1], 300, record="full")
    for precision in ("float64", Precision("float64", "kahan"), [None, Precision("float64", "stochastic")]):
        again = run_trajectories(surface, specs, STARTS["Rosenbrock"][:1], 300, record="full", precision=precision)
        assert again.precision is None and plain.precision is None
        assert_same(again.positions, plain.positions, rtol=0)
        assert_same(again.grads, plain.grads, rtol=0)
        for a, b in zip(again.states, plain.states):
            for k in b:
                assert_same(a[k], b[k], rtol=0)


def _stall_race(steps=300):
    """SGD on the quadratic bowl from (1.5, 1): each update (1e-3 · θ) is far below half a bfloat16 ulp."""
    surface = _surface("Quadratic bowl")
    spec = RunSpec("SGD", {"lr": 1e-3})
    precisions = [Precision("bfloat16"), Precision("bfloat16", "kahan"), Precision("bfloat16", "master"),
                  Precision("bfloat16", "stochastic", seed=3), Precision("float32")]
    traj = run_trajectories(surface, [spec] * len(precisions), np.array([[1.5, 1.0]]), steps, record="full",
                            precision=precisions)
    return traj


def test_plain_bfloat16_stalls_and_the_record_says_so():
    traj = _stall_race()
    lost, moved = traj.precision["lost"], traj.precision["moved"]
    assert lost.shape == moved.shape == (5, 1, 300, 2) and lost.dtype == np.bool_
    assert traj.precision["dtype"] == ["bfloat16"] * 4 + ["float32"]
    assert traj.precision["remedy"] == ["none", "kahan", "master", "stochastic", "none"]
    # Plain bfloat16: every update rounded away, the run never leaves its start.
    assert moved[0].all() and lost[0].all()
    assert_same(traj.precision["lost_total"], lost.sum(axis=2), rtol=0)
    assert_same(traj.positions[0, 0], np.broadcast_to([1.5, 1.0], (301, 2)), rtol=0)
    # float32 moves at every step; the exact run's distance to the minimum shrinks by 0.999 a step.
    assert not lost[4].any()
    want = np.array([1.5, 1.0]) * 0.999**300
    np.testing.assert_allclose(traj.positions[4, 0, -1], want, rtol=1e-5)


def test_kahan_bfloat16_tracks_float32():
    # Bound: at every step, Kahan's bfloat16 parameters are within one bfloat16 ulp of the float32
    # run's (the buffer holds what rounding dropped; the stored value is the sum rounded to nearest,
    # and the small differences in the gradient shrink as the bowl contracts; measured: 0.51 ulp).
    # Plain bfloat16 ends 0.39 away: about 50 ulps.
    traj = _stall_race()
    kahan, fp32, plain = traj.positions[1, 0], traj.positions[4, 0], traj.positions[0, 0]
    assert kahan.shape == fp32.shape == (301, 2)
    gap = np.abs(kahan - fp32) / ulp(fp32, "bfloat16")
    assert gap.max() <= 1.0, gap.max()
    assert np.abs(plain[-1] - fp32[-1]).max() > 40 * ulp(fp32[-1], "bfloat16").max()
    # The float32 master weights track float32 too (their gradient is taken at a bfloat16 copy).
    master = traj.positions[2, 0]
    assert (np.abs(master - fp32) / ulp(fp32, "bfloat16")).max() <= 1.0


def test_stochastic_rounding_race_is_unbiased():
    # SGD on the bowl is linear and its bfloat16 gradient (θ itself) is exact, so with unbiased
    # rounding E[θ_t] = 0.999^t θ_0 exactly. Each rounding adds a zero-mean error of variance at most
    # ulp²/4 (ulp ≤ 2^-7 on this path), damped by 0.999 a step: after T steps the standard deviation
    # is at most ulp/2 · sqrt(Σ_k 0.999^2k). The mean of n runs (starts) is allowed 5 of its standard
    # deviations; rounding to nearest (the stall) is 50 ulps off.
    n, T = 200, 300
    surface = _surface("Quadratic bowl")
    traj = run_trajectories(surface, [RunSpec("SGD", {"lr": 1e-3})], np.tile([[1.5, 1.0]], (n, 1)), T,
                            record="path", precision=Precision("bfloat16", "stochastic", seed=11))
    final = traj.positions[0, :, -1]
    assert final.shape == (n, 2) and final.dtype == np.float64
    assert np.unique(final[:, 0]).size > 5  # the runs met different roundings
    sd_run = 2.0**-7 / 2 * math.sqrt(sum(0.999 ** (2 * k) for k in range(T)))
    want = np.array([1.5, 1.0]) * 0.999**T
    assert np.all(np.abs(final.mean(axis=0) - want) <= 5 * sd_run / math.sqrt(n)), final.mean(axis=0) - want


def test_kahan_add_keeps_what_rounding_drops():
    # 1 + 1000 additions of 1e-3 in bfloat16: plain sums stay at 1; Kahan's reach 2 within an ulp.
    p, c = np.ones((2, 3)), np.zeros((2, 3))
    plain = np.ones((2, 3))
    for _ in range(1000):
        p, c = kahan_add(p, c, 1e-3, "bfloat16")
        plain = round_to(plain + 1e-3, "bfloat16")
    assert p.shape == c.shape == (2, 3) and p.dtype == c.dtype == np.float64
    assert_same(plain, np.ones((2, 3)), rtol=0)
    assert np.all(np.abs(p + c - 2.0) <= 2.0**-7)
    assert_same(p, round_to(p, "bfloat16"), rtol=0)
    assert_same(c, round_to(c, "bfloat16"), rtol=0)


def test_bad_precisions_are_refused():
    surface = _surface("Quadratic bowl")
    spec = RunSpec("SGD", {"lr": 0.1})
    with pytest.raises(ValueError, match="unknown precision"):
        run_trajectories(surface, [spec], [[1.0, 1.0]], 10, precision="float8")
    with pytest.raises(ValueError, match="unknown remedy"):
        Precision("bfloat16", "magic")
    with pytest.raises(ValueError, match="Lookahead"):
        run_trajectories(surface, [RunSpec("SGD", {"lr": 0.1}, lookahead=(5, 0.5))], [[1.0, 1.0]], 10,
                         precision="bfloat16")


def test_rounding_counts_against_the_request_budget():
    # The engine's model prices the array loop; rounding adds HOOK_STEP_S per rounded run and step. Twelve
    # bfloat16 runs of 5000 steps would take more than 3 s: refused before running, with the reason.
    from optim_core.precision import HOOK_STEP_S

    surface = _surface("Rosenbrock")
    assert 12 * 5000 * HOOK_STEP_S > 3.0
    with pytest.raises(ValueError, match="low-precision runs"):
        run_trajectories(surface, [RunSpec("SGD", {"lr": 1e-3})] * 12, [[-1.2, 1.0]], 5000, record="summary",
                         precision="bfloat16")
    # The Playground's largest race (six runs of 5000 steps) fits.
    traj = run_trajectories(surface, [RunSpec("SGD", {"lr": 1e-3})] * 6, [[-1.2, 1.0]], 5000, record="summary",
                            precision="bfloat16")
    assert traj.precision["lost"] is None  # no path kept: totals only
    lost = traj.precision["lost_total"]
    assert lost.shape == (6, 1, 2) and lost.dtype == np.int64 and np.all(lost <= 5000)
