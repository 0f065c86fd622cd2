"""app/training/net_landscape.py: the loss on a plane through a network's weights, and the runs' paths on it.

References: the loss from the page's own torch.nn network with its weights set to θ* + a·d₁ + b·d₂ (not the
batched functional code under test), filter normalisation written out per layer and neuron, PCA from numpy's
eigendecomposition of the covariance (not an SVD), projections checked by reconstruction.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.training import backend as T
from app.training.datasets import make_dataset, train_test_split

pytestmark = pytest.mark.skipif(not T.torch_available(), reason="torch not installed")

SPEC = T.ModelSpec(2, 5, "tanh")


def _race(configs=None, spec=SPEC, n=80):
    X, y = make_dataset("moons", n=n, noise=0.3, seed=2)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.25, seed=2)
    configs = configs or [T.TrainingRunConfig("SGD", {"lr": 0.5}), T.TrainingRunConfig("Adam", {"lr": 0.05})]
    return T.Race(Xtr, ytr, Xte, yte, configs, model=spec, seed=4, dtype="float64")


def module_loss(spec, X, y, theta: np.ndarray) -> float:
    """The cross-entropy of build_mlp's network with its parameters overwritten by ``theta``, one tensor at a time."""
    import torch

    model = T.build_mlp(spec, dtype="float64")
    at = 0
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(theta[at: at + p.numel()].reshape(tuple(p.shape))))
            at += p.numel()
        assert at == len(theta)
        logits = model(torch.from_numpy(np.asarray(X, dtype=np.float64)))
        return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(np.asarray(y, dtype=np.int64))))


def test_plane_losses_equal_direct_forward_passes():
    from app.training import net_landscape as NL
    from app.training.sharpness import FlatLoss

    race = _race()
    race.train(20)
    centre = np.asarray(race.runs[0].adapter.flat, dtype=np.float64)
    rng = np.random.default_rng(0)
    D = rng.standard_normal((2, len(centre)))
    a = np.linspace(-0.7, 0.5, 5)
    b = np.linspace(-0.3, 0.9, 4)
    Z = NL.plane_losses(FlatLoss(race.spec, race.X_train, race.y_train), centre, D, a, b)
    assert Z.shape == (4, 5) and Z.dtype == np.float64
    for j, bj in enumerate(b):
        for i, ai in enumerate(a):
            want = module_loss(race.spec, race.X_train, race.y_train, centre + ai * D[0] + bj * D[1])
            assert Z[j, i] == pytest.approx(want, rel=1e-12)


def test_filter_normalisation_per_neuron_equals_the_hand_formula():
    """Each neuron's block (its row of W and its bias) of d is g_B · ‖θ_B‖ / ‖g_B‖ for the Gaussian draw g."""
    from app.training import net_landscape as NL

    theta = np.concatenate([v.ravel() for v in T.init_values(SPEC, 5)])
    theta[:3] = 0.0  # the first neuron's incoming weights...
    theta[2 * 5] = 0.0  # ... and its bias: an all-zero block gets a zero direction
    d = NL.filter_normalized(theta, SPEC.sizes, np.random.default_rng(11))
    g = np.random.default_rng(11).standard_normal(theta.shape)
    assert d.shape == theta.shape and d.dtype == np.float64
    want = np.empty_like(g)
    at = 0
    for fan_in, fan_out in zip(SPEC.sizes[:-1], SPEC.sizes[1:]):
        W = slice(at, at + fan_in * fan_out)
        bias = slice(at + fan_in * fan_out, at + fan_in * fan_out + fan_out)
        gW, tW = g[W].reshape(fan_out, fan_in), theta[W].reshape(fan_out, fan_in)
        gb, tb = g[bias], theta[bias]
        outW, outb = np.empty_like(gW), np.empty_like(gb)
        for j in range(fan_out):
            norm_t = np.sqrt(np.sum(tW[j] ** 2) + tb[j] ** 2)
            norm_g = np.sqrt(np.sum(gW[j] ** 2) + gb[j] ** 2)
            outW[j], outb[j] = gW[j] * norm_t / norm_g, gb[j] * norm_t / norm_g
        want[W], want[bias] = outW.ravel(), outb
        at = bias.stop
    assert at == len(theta)
    np.testing.assert_allclose(d, want, rtol=1e-13, atol=0)
    assert not np.any(d[[0, 1, 10]])


def test_pca_directions_are_orthonormal_and_span_a_planar_trajectory():
    """A trajectory lying in a 2D plane through θ*: the PCA directions are orthonormal, span that plane (the
    covariance's top eigenvectors, from numpy's eigh), and projecting then rebuilding gives every point back."""
    from app.training import net_landscape as NL

    rng = np.random.default_rng(3)
    n, m = 40, 30
    centre = rng.standard_normal(n)
    U, _ = np.linalg.qr(rng.standard_normal((n, 2)))
    t = np.linspace(0, 1, m)
    coords = np.stack([3 * (1 - t) ** 2, np.sin(4 * t)], axis=1)
    points = centre + coords @ U.T
    D, frac = NL.pca_directions(points, centre)
    assert D.shape == (2, n) and D.dtype == np.float64 and frac.shape == (2,)
    np.testing.assert_allclose(D @ D.T, np.eye(2), atol=1e-12)
    C = np.cov((points - centre).T)
    w, V = np.linalg.eigh(C)
    top = V[:, ::-1][:, :2]
    np.testing.assert_allclose(np.abs(np.sum(D * top.T, axis=1)), 1.0, atol=1e-9)  # the same axes (up to sign)
    np.testing.assert_allclose(frac, w[::-1][:2] / w.sum(), rtol=1e-9)
    ab = NL.project(points, centre, D)
    assert ab.shape == (m, 2) and ab.dtype == np.float64
    np.testing.assert_allclose(centre + ab @ D, points, atol=1e-10)
    np.testing.assert_allclose(ab, (points - centre) @ D.T, atol=1e-12)  # orthonormal: dot products


def test_projection_on_non_orthogonal_directions_is_least_squares():
    from app.training import net_landscape as NL

    rng = np.random.default_rng(8)
    n = 25
    centre, D = rng.standard_normal(n), rng.standard_normal((2, n))
    D[1] += 0.6 * D[0]  # far from orthogonal
    pts = centre + rng.standard_normal((7, n))
    ab = NL.project(pts, centre, D)
    residual = pts - centre - ab @ D
    np.testing.assert_allclose(residual @ D.T, 0.0, atol=1e-10)  # the normal equations
    exact = centre + np.array([[0.3, -1.2]]) @ D
    np.testing.assert_allclose(NL.project(exact, centre, D), [[0.3, -1.2]], atol=1e-12)


def test_trail_keeps_snapshots_at_a_doubling_stride_within_its_capacity():
    from app.training import net_landscape as NL

    race = _race()
    trl = NL.Trail(race, snapshots=8)
    race.step_hooks.append(trl)
    weights_at = {}
    for _ in range(21):
        weights_at[race.step] = [np.array(r.adapter.flat) for r in race.runs]
        race.train(1)
    weights_at[race.step] = [np.array(r.adapter.flat) for r in race.runs]
    assert trl.capacity == 8 and trl.stride == 4
    assert trl.steps[0] == [0, 4, 8, 12, 16, 20] and trl.steps[1] == trl.steps[0]
    for i in range(2):
        steps, W = trl.path(i)
        assert W.dtype == np.float64 and W.shape == (7, race.runs[i].adapter.flat.size)
        np.testing.assert_array_equal(steps, [0, 4, 8, 12, 16, 20, 21])  # the current weights last
        for s, w in zip(steps, W):
            np.testing.assert_allclose(w, weights_at[int(s)][i], rtol=1e-6)  # float32 snapshots


def test_grid_shrinks_to_the_budget():
    from app import budget
    from app.training import net_landscape as NL

    assert NL.grid_size(100, 100) == budget.NET_LANDSCAPE_GRID
    g = NL.grid_size(1638, 12_802)  # the largest network on the most points
    assert g % 2 == 1 and 9 <= g < budget.NET_LANDSCAPE_GRID
    assert g * g * 1638 * 12_802 <= budget.NET_LANDSCAPE_MAX_WORK


@pytest.mark.parametrize("kind", ["pca", "random"])
def test_slice_centre_paths_and_figure(kind):
    from app.training import net_landscape as NL

    race = _race()
    trl = NL.trail(race)
    race.train(30)
    sl = NL.compute_slice(race, trl, kind=kind, centre_run=1, seed=3)
    G = len(sl.a)
    assert sl.Z.shape == (G, G) and sl.Z.dtype == np.float64 and G % 2 == 1
    assert sl.paths.shape == (2, len(sl.steps), 2) and sl.paths.dtype == np.float64
    assert sl.steps[0] == 0 and sl.steps[-1] == 30
    np.testing.assert_allclose(sl.paths[1, -1], 0.0, atol=1e-9)  # the centre run ends at θ*
    np.testing.assert_allclose(sl.paths[0, 0], sl.paths[1, 0], atol=1e-9)  # one start for all
    theta = np.asarray(race.runs[1].adapter.flat, dtype=np.float64)
    assert sl.centre_loss == pytest.approx(module_loss(race.spec, race.X_train, race.y_train, theta), rel=1e-12)
    if kind == "random":
        assert sl.a[G // 2] == pytest.approx(0.0, abs=1e-12) and sl.b[G // 2] == pytest.approx(0.0, abs=1e-12)
        assert sl.Z[G // 2, G // 2] == pytest.approx(sl.centre_loss, rel=1e-12)
    else:
        assert sl.explained[0] >= sl.explained[1] > 0
    fig = NL.slice_figure(sl, ["SGD", "Adam"])
    labels = [s["label"] for s in fig.layout.sliders[0].steps]
    assert labels[0] == "0" and labels[-1] == "30"
    assert fig.layout.xaxis.title.text.startswith("a") and fig.layout.images[0].source.startswith("data:image/png")
    assert NL.caption(sl).count("step 30") == 1
    # The same settings at the same step come from the cache; another step is computed again.
    state: dict = {}
    s1 = NL.cached_slice(state, race, kind=kind, centre_run=1, seed=3)
    assert NL.cached_slice(state, race, kind=kind, centre_run=1, seed=3) is s1
    race.train(1)
    assert NL.cached_slice(state, race, kind=kind, centre_run=1, seed=3) is not s1


def test_a_plane_that_cannot_be_drawn_says_why():
    from app.training import net_landscape as NL

    race = _race()
    with pytest.raises(ValueError, match="not moved"):
        NL.compute_slice(race, NL.trail(race), kind="pca")
    with pytest.raises(ValueError, match="directions"):
        NL.compute_slice(race, NL.trail(race), kind="hessian")
