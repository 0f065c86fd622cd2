"""The LR range test on a problem whose best lr is known: f(x) = 0.5 L |x|^2 with gradient descent.

GD multiplies x by (1 - lr L) each step, so the loss falls fastest near lr = 1/L and
grows for lr > 2/L. The test's suggestion (steepest fall of the smoothed loss against
log lr) comes earlier than 1/L: with the lr growing ~20% a step, most of the descent
happens while the lr is still a fraction of 1/L, and by lr = 1/L the loss is already tiny.
Measured: suggested_lr = 0.26/L for every L; we assert it lies in [1/(10 L), 1/L].
"""

from __future__ import annotations

import numpy as np
import pytest

import optim_core


def quadratic(L, x0=(3.0, -2.0), momentum=0.0):
    p = optim_core.Parameter(np.array(x0))
    opt = optim_core.SGD([p], lr=0.1, momentum=momentum)

    def closure():
        p.grad = L * p.data
        return 0.5 * L * float(p.data @ p.data)

    return p, opt, closure


@pytest.mark.parametrize("L", [0.01, 1.0, 10.0, 250.0])
def test_suggestion_is_near_one_over_L_and_divergence_stops_early(L):
    p, opt, closure = quadratic(L)
    r = optim_core.lr_range_test(opt, closure, start_lr=1e-6 / L, end_lr=100 / L, num_steps=100)
    assert 1 / (10 * L) <= r.suggested_lr <= 1 / L
    assert r.suggested_lr == r.lrs[r.suggested_index]
    # Divergence (lr > 2/L) stops the test before end_lr, and the losses show why.
    assert r.stopped_early and r.stop_step == len(r.lrs) - 1 < 99
    assert 2 / L < r.lrs[-1] < 100 / L
    assert r.smoothed[-1] > 4 * r.smoothed[:-1].min()
    assert r.losses[-1] > r.losses[0]
    np.testing.assert_allclose(r.lrs, 1e-6 / L * (1e8) ** (np.arange(len(r.lrs)) / 99), rtol=1e-12)


def test_no_divergence_runs_to_the_end():
    p, opt, closure = quadratic(1.0)
    r = optim_core.lr_range_test(opt, closure, start_lr=1e-4, end_lr=1.5, num_steps=60)
    assert not r.stopped_early and r.stop_step is None
    assert len(r.lrs) == len(r.losses) == len(r.smoothed) == 60
    assert np.isclose(r.lrs[-1], 1.5) and np.isclose(r.lrs[0], 1e-4)


def test_smoothed_loss_is_the_bias_corrected_ema():
    p, opt, closure = quadratic(1.0)
    r = optim_core.lr_range_test(opt, closure, start_lr=1e-3, end_lr=1.0, num_steps=30, smooth=0.9)
    avg, expect = 0.0, []
    for i, loss in enumerate(r.losses):
        avg = 0.9 * avg + 0.1 * loss
        expect.append(avg / (1 - 0.9 ** (i + 1)))
    np.testing.assert_allclose(r.smoothed, expect, rtol=1e-12)
    assert np.isclose(r.smoothed[0], r.losses[0], rtol=1e-15)


def test_parameters_and_optimizer_state_are_restored():
    p, opt, closure = quadratic(1.0, momentum=0.9)
    for _ in range(5):  # build some momentum first
        opt.zero_grad()
        opt.step(closure)
    before_x = p.data.copy()
    before_grad = p.grad.copy()
    before_state = opt.state_dict()
    data_id = id(p.data)
    r = optim_core.lr_range_test(opt, closure, num_steps=80)
    assert r.stopped_early
    np.testing.assert_array_equal(p.data, before_x)
    np.testing.assert_array_equal(p.grad, before_grad)
    assert id(p.data) == data_id  # restored in place
    after = opt.state_dict()
    assert after["param_groups"] == before_state["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["momentum_buffer"], before_state["state"][0]["momentum_buffer"])
    assert after["state"][0]["step"] == before_state["state"][0]["step"]
    # Training continues exactly as if the test had not run.
    p2, opt2, closure2 = quadratic(1.0, momentum=0.9)
    for _ in range(5):
        opt2.zero_grad()
        opt2.step(closure2)
    for _ in range(10):
        opt.zero_grad()
        opt.step(closure)
        opt2.zero_grad()
        opt2.step(closure2)
    np.testing.assert_array_equal(p.data, p2.data)


def test_restores_even_when_the_closure_fails():
    p, opt, _ = quadratic(1.0)
    calls = []

    def closure():
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("data loader died")
        p.grad = p.data.copy()
        return float(p.data @ p.data)

    with pytest.raises(RuntimeError):
        optim_core.lr_range_test(opt, closure)
    np.testing.assert_array_equal(p.data, [3.0, -2.0])
    assert opt.param_groups[0]["lr"] == 0.1 and opt.state_dict()["state"] == {}


def test_works_with_adam_and_nan_losses_stop_it():
    p = optim_core.Parameter(np.array([1.0, 1.0]))
    opt = optim_core.Adam([p], lr=1e-3)

    def closure():
        p.grad = 2 * p.data
        loss = float(p.data @ p.data)
        return loss if abs(p.data).max() < 2 else float("nan")

    r = optim_core.lr_range_test(opt, closure, start_lr=1e-5, end_lr=100.0, num_steps=100, diverge_threshold=1e9)
    assert r.stopped_early and not np.isfinite(r.losses[-1])
    assert r.suggested_lr is not None and 1e-5 <= r.suggested_lr <= 100.0
    np.testing.assert_array_equal(p.data, [1.0, 1.0])


@pytest.mark.parametrize("kw,match", [
    (dict(start_lr=0.0), "start_lr"),
    (dict(start_lr=1.0, end_lr=0.5), "end_lr"),
    (dict(num_steps=1), "num_steps"),
    (dict(smooth=1.0), "smooth"),
    (dict(diverge_threshold=1.0), "diverge_threshold"),
])
def test_bad_arguments(kw, match):
    p, opt, closure = quadratic(1.0)
    with pytest.raises(ValueError, match=match):
        optim_core.lr_range_test(opt, closure, **kw)
