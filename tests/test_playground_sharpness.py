"""optim_core.sharpness: λ_max of the exact Hessian along paths, η·λ_max per step, the rules' thresholds
and the crossings of the stable region.

Every expected value is written here by hand: the Hessians of a quadratic and of Rosenbrock's
function from their second derivatives, λ_max of a 2x2 matrix from its trace and determinant
(never eigvalsh, never the surface's own ``hessian``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from optim_core.engine import RunSpec, run_trajectories
from optim_core.sharpness import (
    crossing_steps,
    preconditioned_top_eigenvalue,
    region_changes,
    sharpness_along,
    stability_threshold,
    step_sharpness,
    top_eigenvalue,
)
from optim_core.surfaces import Quadratic, Rosenbrock


def lam_max_2x2(p, q, r):
    """The larger eigenvalue of [[p, q], [q, r]]: mean of the diagonal plus the radius."""
    p, q, r = (np.asarray(v, dtype=np.float64) for v in (p, q, r))
    return 0.5 * (p + r) + np.sqrt(0.25 * (p - r) ** 2 + q * q)


def rosenbrock_hessian(x, y, a=1.0, b=100.0):
    """f = (a - x)² + b(y - x²)²: f_xx = 2 - 4b(y - x²) + 8bx², f_xy = -4bx, f_yy = 2b."""
    del a  # the second derivatives do not depend on a
    return 2.0 - 4.0 * b * (y - x * x) + 8.0 * b * x * x, -4.0 * b * x, np.full_like(x, 2.0 * b)


A = np.array([[3.0, 1.0], [1.0, 2.0]])
# λ_max of A by hand: (3 + 2)/2 + sqrt(((3 - 2)/2)² + 1²) = 2.5 + sqrt(1.25).
LAM_A = 2.5 + math.sqrt(1.25)


def check(got, expected, rtol=1e-12):
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)


def test_top_eigenvalue_of_a_batch_with_a_nan_row():
    rng = np.random.default_rng(0)
    p, q, r = rng.normal(size=(3, 4, 5, 6)) * 10
    h = np.stack([np.stack([p, q], -1), np.stack([q, r], -1)], -2)  # (4, 5, 6, 2, 2)
    h[1, 2, 3] = [[np.nan, 0.0], [0.0, 1.0]]
    expected = lam_max_2x2(p, q, r)
    expected[1, 2, 3] = np.nan
    got = top_eigenvalue(h)
    assert got.shape == (4, 5, 6) and got.dtype == np.float64
    assert np.isnan(got[1, 2, 3])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # A single matrix gives a 0-d array; float32 stays float32.
    one = top_eigenvalue(A)
    assert one.shape == () and one.dtype == np.float64 and one == pytest.approx(LAM_A, rel=1e-14)
    f32 = top_eigenvalue(A.astype(np.float32))
    assert f32.dtype == np.float32 and f32 == pytest.approx(LAM_A, rel=1e-6)
    with pytest.raises(ValueError):
        top_eigenvalue(np.zeros((3, 2)))


def test_quadratic_sharpness_is_its_top_curvature_everywhere():
    surface = Quadratic(A, center=(0.5, -1.0))
    pts = np.random.default_rng(1).uniform(-3, 3, size=(3, 2, 5, 2))
    check(sharpness_along(surface, pts), np.full((3, 2, 5), LAM_A))
    # Its Hessian is the same constant everywhere, but a diverged (NaN) point has none.
    pts[2, 1, 2] = np.nan
    expected = np.full((3, 2, 5), LAM_A)
    expected[2, 1, 2] = np.nan
    check(sharpness_along(surface, pts), expected)
    # Step s reads θ_{s-1}: step 3 of that run has no value, its steps 1, 2 and 4 have 0.1·λ_max.
    expected = np.full((3, 2, 4), 0.1 * LAM_A)
    expected[2, 1, 2] = np.nan
    check(step_sharpness(surface, pts, np.full((3, 2, 4), 0.1)), expected)


def test_rosenbrock_sharpness_against_hand_written_second_derivatives():
    surface = Rosenbrock()
    pts = np.random.default_rng(2).uniform(-2, 2, size=(4, 7, 2))
    pts[0, 0] = (1.0, 1.0)  # the minimum: [[802, -400], [-400, 200]]
    expected = lam_max_2x2(*rosenbrock_hessian(pts[..., 0], pts[..., 1]))
    check(sharpness_along(surface, pts), expected, rtol=1e-11)
    assert sharpness_along(surface, pts)[0, 0] == pytest.approx(501 + math.sqrt(301**2 + 400**2), rel=1e-13)
    # A diverged point (NaN) gives NaN, the others are untouched.
    pts[1, 3] = np.nan
    got = sharpness_along(surface, pts)
    assert np.isnan(got[1, 3]) and np.isfinite(np.delete(got.ravel(), 1 * 7 + 3)).all()


def test_step_sharpness_uses_each_steps_point_before_and_its_lr():
    surface = Rosenbrock()
    rng = np.random.default_rng(3)
    K, M, T = 2, 3, 6
    pos = rng.uniform(-1.5, 1.5, size=(K, M, T + 1, 2))
    lrs = rng.uniform(1e-4, 1e-3, size=(K, M, T))
    lam = lam_max_2x2(*rosenbrock_hessian(pos[..., :-1, 0], pos[..., :-1, 1]))
    check(step_sharpness(surface, pos, lrs), lrs * lam, rtol=1e-11)
    wd = np.array([0.0, 0.5]).reshape(K, 1, 1)
    check(step_sharpness(surface, pos, lrs, shift=wd), lrs * (lam + wd), rtol=1e-11)
    # With a diagonal preconditioner P per step: λ_max of P⁻¹H from its trace and determinant.
    d = rng.uniform(0.5, 2.0, size=(K, M, T, 2))
    p, q, r = rosenbrock_hessian(pos[..., :-1, 0], pos[..., :-1, 1])
    tr_, det = p / d[..., 0] + r / d[..., 1], (p * r - q * q) / (d[..., 0] * d[..., 1])
    check(step_sharpness(surface, pos, lrs, preconditioner=d), lrs * (0.5 * tr_ + np.sqrt(0.25 * tr_ * tr_ - det)),
          rtol=1e-10)
    with pytest.raises(ValueError):
        step_sharpness(surface, pos, lrs[..., :-1])
    with pytest.raises(ValueError):
        step_sharpness(surface, pos, lrs, preconditioner=d[..., :1, :])


def test_step_sharpness_along_an_engine_run_with_a_schedule():
    """The lr in force changes per step (StepLR halves it every 5 steps): η_s · λ_max(H(θ_{s-1}))."""
    surface = Rosenbrock()
    specs = [RunSpec("SGD", {"lr": 1e-3}, schedule=("StepLR", {"step_size": 5, "gamma": 0.5})),
             RunSpec("SGD", {"lr": 3e-3, "momentum": 0.9})]
    tr = run_trajectories(surface, specs, np.array([[-1.2, 1.0]]), 20)
    assert tr.lrs.shape == (2, 1, 20) and tr.lrs[0, 0, 5] == pytest.approx(5e-4)
    pos = tr.positions
    lam = lam_max_2x2(*rosenbrock_hessian(pos[..., :-1, 0], pos[..., :-1, 1]))
    expected = tr.lrs * lam
    check(step_sharpness(surface, pos, tr.lrs), expected, rtol=1e-11)


def test_preconditioned_top_eigenvalue_by_trace_and_determinant():
    rng = np.random.default_rng(4)
    p, q, r = rng.normal(size=(3, 5)) * 4
    d = rng.uniform(0.1, 3.0, size=(5, 2))
    h = np.stack([np.stack([p, q], -1), np.stack([q, r], -1)], -2)
    # P⁻¹H = [[p/d1, q/d1], [q/d2, r/d2]]: trace t, determinant (pr - q²)/(d1 d2).
    t = p / d[:, 0] + r / d[:, 1]
    det = (p * r - q * q) / (d[:, 0] * d[:, 1])
    expected = 0.5 * t + np.sqrt(0.25 * t * t - det)
    check(preconditioned_top_eigenvalue(h, d), expected, rtol=1e-10)
    bad = d.copy()
    bad[2, 1] = 0.0
    assert np.isnan(preconditioned_top_eigenvalue(h, bad)[2])


@pytest.mark.parametrize("optimizer, hypers, kind, threshold, shift, pre", [
    ("SGD", {"lr": 0.1}, "gd", 2.0, 0.0, math.nan),
    ("SGD", {"momentum": 0.9}, "heavy_ball", 2 * 1.9, 0.0, math.nan),
    ("SGD", {"momentum": 0.5, "dampening": 0.5}, "heavy_ball", 2 * 1.5 / 0.5, 0.0, math.nan),
    ("SGD", {"momentum": 0.9, "nesterov": True}, "nesterov", 2 * 1.9 / 2.8, 0.0, math.nan),
    ("SGD", {"weight_decay": 0.01}, "gd", 2.0, 0.01, math.nan),
    ("Adam", {"beta1": 0.9}, "preconditioned", 2.0, 0.0, 2 * 1.9 / 0.1),
    ("AdamW", {}, "preconditioned", 2.0, 0.0, 38.0),
    ("RMSprop", {}, "preconditioned", 2.0, 0.0, 2.0),
    ("RMSprop", {"momentum": 0.5}, "preconditioned", 2.0, 0.0, 3.0),
    ("Adagrad", {}, "preconditioned", 2.0, 0.0, 2.0),
    ("Lion", {}, "none", 2.0, 0.0, math.nan),
])
def test_stability_thresholds(optimizer, hypers, kind, threshold, shift, pre):
    rule = stability_threshold(optimizer, hypers)
    assert rule.kind == kind
    assert rule.applies == (kind in ("gd", "heavy_ball", "nesterov"))
    assert rule.threshold == pytest.approx(threshold, rel=1e-14)
    assert rule.shift == shift
    assert (math.isnan(rule.preconditioned) and math.isnan(pre)) or rule.preconditioned == pytest.approx(pre, rel=1e-12)


def test_heavy_ball_threshold_is_where_the_iteration_matrix_reaches_spectral_radius_one():
    """On one eigen-direction (λ = 1, a = ηλ): b' = βb + e, e' = e - a b'. Its spectral radius crosses 1 at the rule."""
    beta = 0.7
    a_star = stability_threshold("SGD", {"momentum": beta}).threshold

    def radius(a):
        return max(abs(np.linalg.eigvals(np.array([[1 - a, -a * beta], [1.0, beta]]))))

    assert radius(a_star * 0.99) < 1 < radius(a_star * 1.01)


def test_crossings_of_a_hand_built_sequence():
    #            step: 1    2    3    4    5    6    7    8       9    10
    q = np.array([1.0, 1.5, 2.0, 2.5, 1.9, 1.0, 2.0, np.nan, 3.0, 1.0])
    ch = region_changes(q, 2.0)
    assert ch.shape == q.shape and ch.dtype == np.int8
    # Steps 7 → 8 and 8 → 9 are no crossings (the NaN); 9 → 10 comes back.
    assert ch.tolist() == [0, 0, 1, 0, -1, 0, 1, 0, 0, -1]
    leaves, enters = crossing_steps(q, 2.0)
    assert leaves.dtype == np.int64 and enters.dtype == np.int64
    assert leaves.tolist() == [3, 7] and enters.tolist() == [5, 10]
    # Starting unstable is no crossing; coming back is.
    leaves, enters = crossing_steps(np.array([3.0, 2.5, 1.0, 1.0]), 2.0)
    assert leaves.tolist() == [] and enters.tolist() == [3]


def test_crossings_batched_with_a_threshold_per_run():
    q = np.array([[1.0, 3.0, 1.0, 3.0],
                  [1.0, 3.0, 1.0, 3.0]])
    thr = np.array([[2.0], [3.5]])  # run 1's heavy ball would be 2(1+β) = 3.5 for β = 0.75
    ch = region_changes(q, thr)
    assert ch.shape == (2, 4) and ch.dtype == np.int8
    assert ch.tolist() == [[0, 1, -1, 1], [0, 0, 0, 0]]
    assert region_changes(np.array([5.0]), 2.0).tolist() == [0]
    with pytest.raises(ValueError):
        crossing_steps(q, 2.0)
