"""Gradient clipping against torch.nn.utils, and the per-trajectory pure helpers."""

import numpy as np
import pytest

import optim_core
from optim_core.clip import clip_by_norm, clip_by_value, clip_grad_norm_, clip_grad_value_
from tests.asserts import assert_same
from tests.reference import torch

# torch keeps some scalar state in its default dtype: compare in float64 throughout.
pytestmark = pytest.mark.usefixtures("float64_torch")

SHAPES = [(), (5,), (3, 4), (2, 1, 3)]


def _pairs(seed=0, scale=1.0, shapes=SHAPES, without_grad=(1,)):
    """Ours and torch's parameters with equal gradients; those at ``without_grad`` have none."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, shape in enumerate(shapes):
        data = rng.normal(size=shape)
        p, t = optim_core.Parameter(data), torch.tensor(data, requires_grad=True)
        if i not in without_grad:
            g = scale * rng.normal(size=shape)
            p.grad, t.grad = np.asarray(g), torch.tensor(g)
        ours.append(p)
        theirs.append(t)
    return ours, theirs


def _assert_grads_equal(ours, theirs, rtol=1e-12):
    for p, t in zip(ours, theirs):
        if t.grad is None:
            assert p.grad is None
        else:
            assert_same(p.grad, t.grad, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, 0.5, 0.0, float("inf"), "inf", -np.inf])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = _pairs(scale=2.0)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    their_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, np.floating)
    np.testing.assert_allclose(total, their_total.item(), rtol=1e-12)
    _assert_grads_equal(ours, theirs)


def test_norm_below_max_leaves_gradients_bitwise_unchanged():
    ours, _ = _pairs(scale=1e-3)
    before = [None if p.grad is None else p.grad.copy() for p in ours]
    total = clip_grad_norm_(ours, max_norm=10.0)
    assert total < 10.0
    for p, b in zip(ours, before):
        assert (p.grad is None and b is None) or np.array_equal(p.grad, b)


def test_clipped_norm_is_max_norm():
    ours, _ = _pairs(scale=50.0)
    clip_grad_norm_(ours, max_norm=1.0)
    after = clip_grad_norm_(ours, max_norm=np.inf)
    np.testing.assert_allclose(after, 1.0, rtol=1e-5)  # max_norm / (norm + 1e-6) * norm


def test_gradients_are_clipped_in_place():
    (p, *_), _ = _pairs()
    g = p.grad
    clip_grad_norm_([p], 1e-3)
    assert p.grad is g


def test_single_parameter_generator_and_float32():
    ours, theirs = _pairs(seed=3, scale=4.0)
    np.testing.assert_allclose(clip_grad_norm_(ours[2], 0.5), torch.nn.utils.clip_grad_norm_(theirs[2], 0.5).item(),
                               rtol=1e-12)
    _assert_grads_equal(ours, theirs)
    np.testing.assert_allclose(clip_grad_norm_((p for p in ours), 0.1),
                               torch.nn.utils.clip_grad_norm_((t for t in theirs), 0.1).item(), rtol=1e-12)
    _assert_grads_equal(ours, theirs)

    rng = np.random.default_rng(4)
    g = (3 * rng.normal(size=(7, 3))).astype(np.float32)
    p = optim_core.Parameter(np.zeros((7, 3), np.float32))
    t = torch.zeros((7, 3), dtype=torch.float32, requires_grad=True)
    p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    total = clip_grad_norm_(p, 1.0)
    their_total = torch.nn.utils.clip_grad_norm_(t, 1.0)
    assert total.dtype == np.float32 and p.grad.dtype == np.float32
    np.testing.assert_allclose(total, their_total.item(), rtol=1e-6)
    assert_same(p.grad, t.grad, rtol=1e-6)


def test_no_gradients_gives_zero_norm():
    ours, theirs = _pairs(without_grad=(0, 1, 2, 3))
    assert clip_grad_norm_(ours, 1.0) == torch.nn.utils.clip_grad_norm_(theirs, 1.0).item() == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((p for p in []), 1.0)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_error_if_nonfinite(bad):
    ours, theirs = _pairs()
    ours[0].grad = np.asarray(bad)
    theirs[0].grad = torch.tensor(bad)
    with pytest.raises(RuntimeError) as their_error:
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as our_error:
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert str(our_error.value) == str(their_error.value)
    # Without the flag both scale by the non-finite norm.
    clip_grad_norm_(ours, 1.0)
    torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    for p, t in zip(ours, theirs):
        if t.grad is not None:
            assert_same(p.grad, t.grad, rtol=0)


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 1.0, 100.0])
def test_clip_grad_value_matches_torch(clip_value):
    ours, theirs = _pairs(seed=1, scale=2.0)
    assert clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    _assert_grads_equal(ours, theirs, rtol=0)
    clip_grad_value_(ours[0], 0.01)
    torch.nn.utils.clip_grad_value_(theirs[0], 0.01)
    _assert_grads_equal(ours, theirs, rtol=0)


# -- pure helpers for (B, 2) batches -----------------------------------------------------


def _batch(seed=0):
    return np.random.default_rng(seed).normal(size=(6, 2)) * np.array([[0.1], [1.0], [5.0], [0.0], [20.0], [0.7]])


@pytest.mark.parametrize("norm_type", [2.0, np.inf, 1.0])
def test_clip_by_norm_batched_equals_each_row_alone(norm_type):
    g = _batch()
    max_norm = np.array([[1.0], [0.5], [2.0], [1.0], [1.0], [10.0]])
    before = g.copy()
    clipped, norms = clip_by_norm(g, max_norm, norm_type=norm_type)
    assert np.array_equal(g, before), "clip_by_norm must not modify its input"
    assert clipped.shape == g.shape and norms.shape == (6,)
    for i in range(len(g)):
        row, row_norm = clip_by_norm(g[i], float(max_norm[i, 0]), batch_ndim=0, norm_type=norm_type)
        np.testing.assert_array_equal(clipped[i], row)
        np.testing.assert_array_equal(norms[i], row_norm)
        # ...and each row as torch would clip that trajectory's gradient.
        t = torch.zeros(2, requires_grad=True)
        t.grad = torch.tensor(g[i])
        their_norm = torch.nn.utils.clip_grad_norm_(t, float(max_norm[i, 0]), norm_type=norm_type)
        np.testing.assert_allclose(row_norm, their_norm.item(), rtol=1e-12)
        np.testing.assert_allclose(row, t.grad.numpy(), rtol=1e-12, atol=1e-300)


def test_huge_gradient_in_one_row_does_not_touch_the_others():
    g = _batch(1)
    clipped, norms = clip_by_norm(g, 1.0)
    g_huge = g.copy()
    g_huge[2] = [1e12, -1e12]
    clipped_huge, norms_huge = clip_by_norm(g_huge, 1.0)
    others = [0, 1, 3, 4, 5]
    np.testing.assert_array_equal(clipped_huge[others], clipped[others])
    np.testing.assert_array_equal(norms_huge[others], norms[others])
    np.testing.assert_allclose(np.linalg.norm(clipped_huge[2]), 1.0, rtol=1e-6)


def test_clip_by_norm_keeps_small_rows_and_handles_more_batch_axes():
    g = np.random.default_rng(2).normal(size=(3, 4, 2))
    clipped, norms = clip_by_norm(g, 1e9, batch_ndim=2)
    assert np.array_equal(clipped, g) and norms.shape == (3, 4)
    np.testing.assert_allclose(norms, np.linalg.norm(g, axis=-1), rtol=1e-14)
    whole, whole_norm = clip_by_norm(g, 1.0, batch_ndim=0)
    assert np.ndim(whole_norm) == 0
    np.testing.assert_allclose(np.linalg.norm(whole), 1.0, rtol=1e-5)


def test_clip_by_value():
    g = _batch(3)
    clip = np.array([[0.5], [1.0], [2.0], [0.5], [3.0], [0.1]])
    out = clip_by_value(g, clip)
    assert out is not g
    np.testing.assert_array_equal(out, np.minimum(np.maximum(g, -clip), clip))
    np.testing.assert_array_equal(clip_by_value(g, 1.0), np.clip(g, -1.0, 1.0))
