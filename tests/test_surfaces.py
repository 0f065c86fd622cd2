"""Every registered surface: exact derivatives, known minima, shapes and presentation data.

The tables come from the registry, so a new surface is tested by registering it. Each
parametrized surface is also tested at the ends of its parameter ranges.
"""

import math
import warnings

import numpy as np
import pytest

from optim_core.registry import get_surface, surfaces
from optim_core.surfaces import Ackley, Booth, Matyas, QuadraticBowl, Ravine, RotatedRavine, Surface

EXPECTED = {
    "Quadratic bowl", "Ravine", "Rotated ravine", "Booth", "Matyas", "Saddle", "Monkey saddle",
    "Plateau cliff", "Rosenbrock", "Beale", "McCormick", "Goldstein-Price", "Himmelblau",
    "Three-hump camel", "Six-hump camel", "Styblinski-Tang", "Rastrigin", "Ackley", "Ripple bowl",
}


def _cases():
    cases = []
    for name, info in surfaces().items():
        cases.append(pytest.param(name, {}, id=name))
        for h in info.params:
            for v in (h.low, h.high):
                if v is not None and v != h.default:
                    cases.append(pytest.param(name, {h.name: v}, id=f"{name}-{h.name}={v:g}"))
    return cases


CASES = _cases()


def make(name, params):
    return get_surface(name).make(**params)


def window_points(s, n=64, seed=0):
    (x0, x1), (y0, y1) = s.window
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])


def fd_grad(s, p, h):
    e = np.eye(2)
    return np.stack([(s.value(p + h * e[k]) - s.value(p - h * e[k])) / (2 * h) for k in range(2)], axis=-1)


def fd_hess(s, p, h):
    e = np.eye(2)
    # column k: d(grad)/d(coordinate k)
    return np.stack([(s.grad(p + h * e[k]) - s.grad(p - h * e[k])) / (2 * h) for k in range(2)], axis=-1)


def test_registry_has_every_surface():
    assert set(surfaces()) == EXPECTED
    for name, info in surfaces().items():
        assert info.name == name and info.note and info.tags
        assert all(h.default is not None for h in info.params)


def test_exports():
    import optim_core
    import optim_core.surfaces as pkg

    for name in pkg.__all__:
        assert getattr(optim_core, name) is getattr(pkg, name)


@pytest.mark.parametrize("name,params", CASES)
def test_presentation_attributes(name, params):
    s = make(name, params)
    assert isinstance(s, Surface)
    assert s.name == name
    assert isinstance(s.title, str) and s.title
    assert isinstance(s.note, str) and s.note and "\n" not in s.note
    assert isinstance(s.log_levels, bool)
    (x0, x1), (y0, y1) = s.window
    assert x0 < x1 and y0 < y1 and all(math.isfinite(v) for v in (x0, x1, y0, y1))
    assert s.starts and all(len(p) == 2 for p in s.starts)
    for p in s.starts:
        assert x0 <= p[0] <= x1 and y0 <= p[1] <= y1, p
        assert np.isfinite(s.value(p))
    assert s.default_start == tuple(s.starts[0])
    assert s.bound >= max(abs(x0), abs(x1), abs(y0), abs(y1))
    assert s.minima.ndim == 2 and s.minima.shape[1] == 2
    for m in s.minima:
        assert x0 <= m[0] <= x1 and y0 <= m[1] <= y1, m
    if len(s.minima) == 0:
        assert s.global_min_value == -math.inf  # only the saddles have no minimum


@pytest.mark.parametrize("name,params", CASES)
def test_gradient_matches_finite_differences(name, params):
    s = make(name, params)
    p = window_points(s)
    f, g = s.value_and_grad(p)
    gfd = fd_grad(s, p, 1e-6)
    tol = 1e-7 * (1.0 + np.abs(f) + np.abs(g).max(axis=-1))
    assert np.all(np.abs(g - gfd) <= tol[:, None]), np.abs(g - gfd).max()


@pytest.mark.parametrize("name,params", CASES)
def test_hessian_matches_finite_differences(name, params):
    s = make(name, params)
    p = window_points(s, seed=1)
    H = s.hessian(p)
    Hfd = fd_hess(s, p, 1e-6)
    g = s.grad(p)
    tol = 1e-7 * (1.0 + np.abs(g).max(axis=-1) + np.abs(H).max(axis=(-1, -2)))
    assert np.all(np.abs(H - Hfd) <= tol[:, None, None]), np.abs(H - Hfd).max()
    assert np.array_equal(H, np.swapaxes(H, -1, -2))


@pytest.mark.parametrize("name,params", CASES)
def test_value_and_grad_is_value_and_grad(name, params):
    s = make(name, params)
    p = window_points(s, seed=2)
    f, g = s.value_and_grad(p)
    assert np.array_equal(f, s.value(p))
    assert np.array_equal(g, s.grad(p))


@pytest.mark.parametrize("name,params", CASES)
def test_known_critical_points(name, params):
    s = make(name, params)
    X, Y, Z = s.grid(301)
    scale = 1.0 + np.abs(Z).max()
    if len(s.minima):
        assert np.abs(s.grad(s.minima)).max() <= 1e-9 * scale
        values = s.value(s.minima)
        assert values[0] == pytest.approx(s.global_min_value, rel=1e-10, abs=1e-12)
        assert np.all(values >= s.global_min_value - 1e-12)
        # Each listed minimum is a minimum (positive semi-definite Hessian) ...
        eig = np.linalg.eigvalsh(s.hessian(s.minima))
        assert np.all(eig >= -1e-9 * scale)
        # ... and no point of the window is lower than the global one.
        assert Z.min() >= s.global_min_value - 1e-12
    for pts, sign in ((s.saddles, "saddle"), (s.maxima, "max")):
        if len(pts):
            assert np.abs(s.grad(pts)).max() <= 1e-9 * scale
            eig = np.linalg.eigvalsh(s.hessian(pts))
            if sign == "saddle":
                assert np.all(eig[:, 0] <= 1e-12) and np.all(eig[:, 0] < eig[:, 1] + 1e-12)
            else:
                assert np.all(eig < 0)


@pytest.mark.parametrize("name,params", CASES)
def test_shapes_and_batching(name, params):
    s = make(name, params)
    p = window_points(s, n=24, seed=3)
    f, g = s.value_and_grad(p)
    H = s.hessian(p)
    assert f.shape == (24,) and g.shape == (24, 2) and H.shape == (24, 2, 2)
    assert f.dtype == g.dtype == H.dtype == np.float64
    # A single point (2,) gives scalar-shaped results equal to its row in the batch.
    f0, g0 = s.value_and_grad(p[5])
    assert np.shape(f0) == () and g0.shape == (2,) and s.hessian(p[5]).shape == (2, 2)
    assert f0 == f[5] and np.array_equal(g0, g[5]) and np.array_equal(s.hessian(p[5]), H[5])
    # Any leading shape: (A, B, 2), and batches of any size give the same rows.
    q = p.reshape(4, 6, 2)
    fq, gq = s.value_and_grad(q)
    assert fq.shape == (4, 6) and gq.shape == (4, 6, 2) and s.hessian(q).shape == (4, 6, 2, 2)
    assert np.array_equal(fq.reshape(-1), f) and np.array_equal(gq.reshape(-1, 2), g)
    assert np.array_equal(s.value_and_grad(p[:7])[1], g[:7])
    assert s.value(p.tolist()).shape == (24,)
    with pytest.raises(ValueError):
        s.value(np.zeros((3, 3)))


@pytest.mark.parametrize("name,params", CASES)
def test_float32_points_stay_float32_and_agree_with_float64(name, params):
    # Convergence maps run in float32: a surface must neither upcast (twice the memory
    # traffic) nor lose more than float32 rounding.
    s = make(name, params)
    p = window_points(s, n=40, seed=5)
    f64, g64 = s.value_and_grad(p)
    f32, g32 = s.value_and_grad(p.astype(np.float32))
    assert f32.dtype == g32.dtype == s.value(p.astype(np.float32)).dtype == np.float32
    # The points themselves were rounded to float32: compare at f's own scale.
    f_scale = np.max(np.abs(f64)) + 1.0
    g_scale = np.max(np.abs(g64)) + 1.0
    assert np.max(np.abs(f32 - f64)) <= 1e-4 * f_scale
    assert np.max(np.abs(g32 - g64)) <= 1e-3 * g_scale


@pytest.mark.parametrize("name,params", CASES)
def test_no_warnings_far_away_or_nan(name, params):
    s = make(name, params)
    p = np.array([[1e200, -1e200], [np.nan, 0.0], [np.inf, 1.0], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f, g = s.value_and_grad(p)
        s.hessian(p)
        s.value(p)
    assert np.isnan(f[1])
    d = s.diverged(p, f)
    assert d[0] and d[1] and d[2] and not d[3]


@pytest.mark.parametrize("name,params", CASES[:3])
def test_grid(name, params):
    s = make(name, params)
    X, Y, Z = s.grid((30, 20))
    assert X.shape == Y.shape == Z.shape == (20, 30)
    (x0, x1), (y0, y1) = s.window
    assert X[0, 0] == x0 and X[0, -1] == x1 and Y[0, 0] == y0 and Y[-1, 0] == y1
    assert np.array_equal(Z, s.value(np.stack([X, Y], axis=-1)))


# -- quadratics: stability theory ------------------------------------------------------------

@pytest.mark.parametrize("kappa", [1.0, 10.0, 123.0, 1000.0])
@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, -70.0])
def test_ravine_curvature(kappa, angle):
    s = Ravine(kappa, angle) if angle == 0 else RotatedRavine(kappa, angle)
    eig = np.linalg.eigvalsh(s.hessian(np.array([0.3, -1.2])))
    assert s.strong_convexity == pytest.approx(eig[0], rel=1e-12) == 1.0
    assert s.lipschitz == pytest.approx(eig[1], rel=1e-12) == pytest.approx(kappa)
    assert s.condition_number == pytest.approx(kappa)
    assert s.max_stable_lr == pytest.approx(2.0 / kappa)
    # The flat axis points along the angle.
    u = np.array([math.cos(math.radians(angle)), math.sin(math.radians(angle))])
    np.testing.assert_allclose(s.hessian(u) @ u, u, atol=1e-12)


@pytest.mark.parametrize("surface", [QuadraticBowl(), Ravine(25.0), RotatedRavine(25.0, 45.0), Booth(), Matyas()])
def test_gd_stability_limit_is_2_over_L(surface):
    def gd(lr, steps=400):
        p = np.array(surface.starts[0], dtype=float)
        for _ in range(steps):
            p = p - lr * surface.grad(p)
        return np.abs(p - surface.minima[0]).max()

    assert gd(0.95 * surface.max_stable_lr) < 1e-3
    assert gd(1.05 * surface.max_stable_lr) > 1e3
    assert surface.gd_contraction(surface.best_lr) == pytest.approx(
        (surface.condition_number - 1) / (surface.condition_number + 1))


def test_booth_and_matyas_are_their_textbook_formulas():
    p = window_points(Booth(), n=20)
    x, y = p[:, 0], p[:, 1]
    np.testing.assert_allclose(Booth().value_and_grad(p)[0], (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2, rtol=1e-12)
    np.testing.assert_allclose(Matyas().value_and_grad(p)[0], 0.26 * (x * x + y * y) - 0.48 * x * y,
                               rtol=1e-12, atol=1e-12)
    assert Booth().eigenvalues.tolist() == pytest.approx([2.0, 18.0])
    assert Matyas().eigenvalues.tolist() == pytest.approx([0.04, 1.0])


# -- special points ----------------------------------------------------------------------------

def test_ackley_origin_is_clean():
    s = Ackley()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f, g = s.value_and_grad(np.zeros(2))
        H = s.hessian(np.zeros(2))
        tiny = s.grad(np.array([[1e-300, 0.0], [0.0, -5e-324], [1e-8, 1e-8]]))
    assert f == 0.0 and np.array_equal(g, [0.0, 0.0])
    assert np.all(np.isfinite(H)) and np.all(np.isfinite(tiny))
    # Next to the tip the cone's gradient has length 2*sqrt(2)*exp(-0.2 r), whatever the direction.
    assert np.linalg.norm(tiny[2]) == pytest.approx(2 * math.sqrt(2), rel=1e-6)


def test_famous_minima_are_listed():
    assert len(get_surface("Himmelblau").make().minima) == 4
    assert len(get_surface("Six-hump camel").make().minima) == 6
    assert len(get_surface("Three-hump camel").make().minima) == 3
    assert len(get_surface("Goldstein-Price").make().minima) == 4
    np.testing.assert_allclose(get_surface("Beale").make().minima[0], [3.0, 0.5])
    np.testing.assert_allclose(get_surface("Rosenbrock").make(a=1.5).minima[0], [1.5, 2.25])
    np.testing.assert_allclose(get_surface("Styblinski-Tang").make().minima[0], [-2.903534] * 2, atol=1e-6)
    gp = get_surface("Goldstein-Price").make()
    np.testing.assert_allclose(gp.value(gp.minima), [3.0, 30.0, 84.0, 840.0], rtol=1e-9)


# -- the lessons the notes promise ---------------------------------------------------------------

def _descend(s, start, lr, steps, beta=0.0):
    p, v = np.array(start, dtype=float), np.zeros(2)
    for _ in range(steps):
        v = beta * v + s.grad(p)
        p = p - lr * v
        if s.diverged(p):
            return None
    return p


def test_lesson_saddle():
    s = get_surface("Saddle").make()
    assert _descend(s, s.starts[0], 0.05, 200) is None           # escapes (and descends forever)
    np.testing.assert_allclose(_descend(s, s.starts[1], 0.05, 400), [0, 0], atol=1e-8)  # on the axis: stuck


def test_lesson_plateau():
    s = get_surface("Plateau cliff").make()
    p = _descend(s, s.starts[0], 1.0, 300)                       # GD barely moves on the plateau
    assert np.abs(p - s.starts[0]).max() < 0.05
    # Adam-like sign steps cross it and settle in the well.
    p = np.array(s.starts[0], dtype=float)
    for t in range(400):
        p -= 0.02 * np.sign(s.grad(p))
    assert np.abs(p - s.minima[0]).max() < 0.05


def test_lesson_local_minima():
    camel = get_surface("Three-hump camel").make()
    end = _descend(camel, camel.starts[0], 0.02, 2000)
    np.testing.assert_allclose(end, camel.minima[1], atol=1e-4)   # GD: the side basin
    end = _descend(camel, camel.starts[0], 0.02, 2000, beta=0.9)
    np.testing.assert_allclose(end, camel.minima[0], atol=1e-4)   # momentum: the global one
    ripple = get_surface("Ripple bowl").make()
    np.testing.assert_allclose(_descend(ripple, ripple.starts[0], 0.1, 2000), ripple.minima[1], atol=1e-4)
    np.testing.assert_allclose(_descend(ripple, ripple.starts[0], 0.1, 2000, beta=0.9), [0, 0], atol=1e-4)
