"""Seeded stochastic gradients: reproducible, exact when noiseless, with the variance the
theory predicts, and the same for a run alone as inside a batch."""

import itertools

import numpy as np
import pytest

from optim_core.stochastic import StochasticGradient
from optim_core.surfaces import Ackley, Himmelblau, Rosenbrock

rng = np.random.default_rng(0)
XY = rng.uniform(-1.5, 1.5, (40, 2))


def test_same_seed_same_result_different_seed_or_step_differs():
    a = StochasticGradient(Rosenbrock(), noise_scale=0.5, batch_size=8, seed=11)
    b = StochasticGradient(Rosenbrock(), noise_scale=0.5, batch_size=8, seed=11)
    c = StochasticGradient(Rosenbrock(), noise_scale=0.5, batch_size=8, seed=12)
    va, ga = a(XY, 3)
    vb, gb = b(XY, 3)
    assert np.array_equal(va, vb) and np.array_equal(ga, gb)
    assert np.array_equal(ga, a(XY, 3)[1])          # replaying a step gives the same draws
    assert not np.any(ga == c(XY, 3)[1])
    assert not np.any(ga == a(XY, 4)[1])
    assert not np.array_equal(a.offsets, c.offsets)


@pytest.mark.parametrize("kwargs", [{}, {"batch_size": None}, {"batch_size": 64}, {"batch_size": 64, "n_samples": 64},
                                    {"noise_scale": 0.0, "batch_size": 10, "spread": 0.0}])
def test_no_noise_and_full_batch_give_the_exact_gradient(kwargs):
    s = Rosenbrock()
    sg = StochasticGradient(s, **kwargs)
    assert sg.exact
    v, g = sg(XY, 5)
    v0, g0 = s.value_and_grad(XY)
    assert np.array_equal(v, v0) and np.array_equal(g, g0)
    assert np.all(sg.gradient_variance() == 0)


def test_offsets_sum_to_exactly_zero_with_the_requested_spread():
    for n, spread in [(2, 1.0), (7, 0.3), (64, 1.0), (1000, 25.0)]:
        sg = StochasticGradient(Rosenbrock(), batch_size=1, n_samples=n, spread=spread, seed=n)
        assert sg.offsets.shape == (n, 2)
        assert np.all(sg.offsets.sum(axis=0) == 0.0)
        if n > 2:
            np.testing.assert_allclose(np.sqrt(sg.offset_variance), spread, rtol=1e-6)
    # The full batch of a mini-batch model is the true loss: every offset taken once.
    sg = StochasticGradient(Rosenbrock(), batch_size=63, n_samples=64, seed=1)
    assert np.all(sg.offsets.sum(axis=0) == 0)


def _noise(sg, point, steps, rows):
    """Gradient noise at one point over many rows and steps: (rows*steps, 2)."""
    xy = np.broadcast_to(point, (rows, 2))
    g0 = sg.surface.grad(np.asarray(point))
    return np.concatenate([sg(xy, t)[1] - g0 for t in range(steps)])


@pytest.mark.parametrize("b", [1, 4, 16, 32, 48, 63])
def test_minibatch_variance_follows_sampling_without_replacement(b):
    n = 64
    sg = StochasticGradient(Rosenbrock(), batch_size=b, n_samples=n, seed=5, spread=2.0)
    noise = _noise(sg, [0.3, -0.2], steps=4, rows=5000)     # 20000 draws
    predicted = (1 / b) * (1 - b / n) * sg.offset_variance
    np.testing.assert_allclose(sg.gradient_variance(), predicted)
    m = len(noise)
    # Standard error of a variance estimate is about sqrt(2/m) relative (0.01 here); allow 5 of them.
    np.testing.assert_allclose(noise.var(axis=0), predicted, rtol=0.05)
    assert np.all(np.abs(noise.mean(axis=0)) < 5 * np.sqrt(predicted / m))


def test_variance_falls_as_the_batch_grows():
    variances = []
    for b in (1, 2, 8, 32, 60):
        sg = StochasticGradient(Himmelblau(), batch_size=b, n_samples=64, seed=2)
        variances.append(_noise(sg, [1.0, 1.0], steps=2, rows=4000).var(axis=0).mean())
    assert all(v1 > v2 for v1, v2 in zip(variances, variances[1:]))


def test_additive_gaussian_noise():
    sg = StochasticGradient(Ackley(), noise_scale=0.7, seed=9)
    noise = _noise(sg, [0.5, 0.5], steps=4, rows=5000)
    np.testing.assert_allclose(noise.var(axis=0), 0.49, rtol=0.05)
    assert np.all(np.abs(noise.mean(axis=0)) < 5 * 0.7 / np.sqrt(len(noise)))
    assert abs(np.corrcoef(noise.T)[0, 1]) < 0.05                  # the two coordinates are independent
    z = noise[:, 0] / 0.7
    assert abs(np.mean(z**4) - 3.0) < 0.2                         # Gaussian kurtosis
    # Gradient noise only: the value is the true one.
    v, _ = sg(XY, 1)
    assert np.array_equal(v, Ackley().value(XY))


def test_combined_variances_add():
    sg = StochasticGradient(Rosenbrock(), noise_scale=0.5, batch_size=8, n_samples=32, seed=4)
    noise = _noise(sg, [0.0, 0.0], steps=4, rows=5000)
    np.testing.assert_allclose(noise.var(axis=0), sg.gradient_variance(), rtol=0.05)
    np.testing.assert_allclose(sg.gradient_variance(), 0.25 + (1 / 8) * (1 - 8 / 32) * sg.offset_variance)


def test_minibatch_value_is_the_batch_loss():
    s = Rosenbrock()
    sg = StochasticGradient(s, batch_size=5, n_samples=20, seed=3)
    v, g = sg(XY, 2)
    c = g - s.grad(XY)                                              # the batch mean offset
    np.testing.assert_allclose(v, s.value(XY) + (c * XY).sum(axis=1), rtol=1e-12, atol=1e-12)
    # c is the mean of 5 of the 20 offsets: 20 choose 5 possibilities, so check one row exactly.
    sums = {tuple(np.round(sg.offsets[list(idx)].mean(axis=0), 12))
            for idx in itertools.combinations(range(20), 5)}
    assert tuple(np.round(c[0], 12)) in sums


@pytest.mark.parametrize("kwargs", [{"noise_scale": 0.3}, {"batch_size": 3}, {"noise_scale": 0.1, "batch_size": 50}])
def test_batched_equals_single_rows(kwargs):
    s = Himmelblau()
    sg = StochasticGradient(s, seed=21, **kwargs)
    v, g = sg(XY, 7)
    for i in (0, 1, 13, 39):
        vi, gi = sg(XY[i], 7, rows=i)
        assert vi == v[i] and np.array_equal(gi, g[i])
    # Default rows are the positions: a shorter batch gives the same first rows.
    v5, g5 = sg(XY[:5], 7)
    assert np.array_equal(v5, v[:5]) and np.array_equal(g5, g[:5])
    # Any leading shape, with the rows flattened in order.
    v2, g2 = sg(XY.reshape(4, 10, 2), 7)
    assert np.array_equal(v2.reshape(-1), v) and np.array_equal(g2.reshape(-1, 2), g)
    # Explicit rows: runs sharing a row index (one start, several optimizers) meet the same draws.
    same = np.broadcast_to(XY[3], (6, 2))
    _, gs = sg(same, 7, rows=np.full(6, 3))
    assert np.all(gs == g[3])
    # Single point without rows is row 0.
    assert np.array_equal(sg(XY[0], 7)[1], g[0])


def test_rows_are_independent():
    sg = StochasticGradient(Rosenbrock(), noise_scale=1.0, seed=0)
    xy = np.zeros((2000, 2))
    n1 = sg(xy, 0)[1][:, 0]
    n2 = sg(xy, 1)[1][:, 0]
    assert abs(np.corrcoef(n1[:-1], n1[1:])[0, 1]) < 0.1      # neighbouring rows
    assert abs(np.corrcoef(n1, n2)[0, 1]) < 0.1                # consecutive steps


def test_argument_checks():
    s = Rosenbrock()
    for bad in [{"noise_scale": -1}, {"noise_scale": float("nan")}, {"batch_size": 0}, {"batch_size": 65},
                {"n_samples": 1}, {"spread": -0.5}]:
        with pytest.raises(ValueError):
            StochasticGradient(s, **bad)
    assert StochasticGradient(s, batch_size=64).batch_size is None
    assert "StochasticGradient" in repr(StochasticGradient(s, noise_scale=0.1))


def test_large_batches_are_one_call():
    sg = StochasticGradient(Rosenbrock(), noise_scale=0.2, batch_size=16, seed=1)
    xy = rng.normal(size=(40_000, 2))
    v, g = sg(xy, 123)
    assert v.shape == (40_000,) and g.shape == (40_000, 2) and np.all(np.isfinite(g))
    for i in (0, 2047, 2048, 30_001):                                # rows in different blocks
        vi, gi = sg(xy[i], 123, rows=i)
        assert vi == v[i] and np.array_equal(gi, g[i])


@pytest.mark.parametrize("rows", [np.arange(1), np.arange(6), np.array([5, 0, 3]), np.arange(300)])
def test_noise_drawn_in_blocks_is_the_noise_of_each_step(rows):
    """A race takes its noise from blocks of steps (fewer NumPy calls); each step's draw must be the
    one that step makes alone: SplitMix64 keys of (seed, step, row), then Box-Muller."""
    from optim_core import stochastic as S

    sg = S.StochasticGradient(Rosenbrock(), noise_scale=0.5, seed=7)
    rows = rows.astype(np.uint64)
    block = sg.noise_block(3, 40, rows)
    assert block.shape == (40, len(rows), 2) and block.dtype == np.float64
    for t in (3, 4, 20, 42):
        alone = S._gaussian_pairs(sg._row_keys(t, S._SALT_NOISE, rows))
        assert np.array_equal(block[t - 3], alone), t
    # Through the gradient, in any order of steps and with other row sets in between.
    xy = np.zeros((len(rows), 2))
    exact = Rosenbrock().value_and_grad(xy)[1]
    for t in (0, 1, 600, 2, 511, 512, 1):
        fresh = S.StochasticGradient(Rosenbrock(), noise_scale=0.5, seed=7)
        got = sg(xy, t, rows=rows.astype(np.int64))[1]
        sg(np.zeros((2, 2)), t, rows=np.array([9, 4]))
        want = exact + 0.5 * S._gaussian_pairs(fresh._row_keys(t, S._SALT_NOISE, rows))
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.array_equal(got, want), t
