"""Lion, LAMB, LARS, Adafactor, Sophia, Adam8bit and Lookahead.

The step-by-step comparisons with the libraries they follow (timm, lion-pytorch,
transformers, torch, sophia_opt, pytorch_optimizer) are in test_modern_references.py.
Here: hand-derived first steps and properties of every optimizer, and generic tables
checking that the engine's batched kernels equal the classes row by row, that a
state_dict round trip changes nothing, and that invalid hyperparameters are refused.
"""

import math

import numpy as np
import pytest

import optim_core
from optim_core import HyperparameterError, Parameter, apply_update, registry
from optim_core.optimizers import adam8bit as A8
from optim_core.optimizers import sophia as S
from optim_core.optimizers.lookahead import Lookahead, lookahead_sync
from tests.asserts import assert_same
from tests.reference import SHAPES, _grad_fn, initial_values, torch

# torch keeps some scalar state in its default dtype: compare in float64 throughout.
pytestmark = pytest.mark.usefixtures("float64_torch")

MODERN = ["Lion", "LAMB", "LARS", "Adafactor", "Sophia", "Adam8bit"]


def _class_kwargs(info, kernel_hypers):
    """Kernel hyperparameters (``beta1``, ``eps1``...) under the class's keywords (``betas``, ``eps``)."""
    hp = {**info.defaults(), **kernel_hypers}
    for packed, parts in info.cls.packed.items():
        if all(p in hp for p in parts):
            hp[packed] = tuple(hp.pop(p) for p in parts)
    return hp


def _noises(rng, shapes):
    return [np.asarray(0.3 * rng.normal(size=s)) for s in shapes]


# --- Lion -----------------------------------------------------------------------------


def test_lion_first_step_by_hand():
    # m0 = 0, so c1 = (1-β1) g and every coordinate moves by exactly lr against sign(g):
    # θ = [1, -2, 0.5], g = [0.3, -4, 0] -> θ(1 - 0.1·0.5) = [0.95, -1.9, 0.475], then
    # - 0.1·sign(g) = [0.85, -1.8, 0.475]; m1 = (1-β2) g = 0.01·g.
    p = Parameter([1.0, -2.0, 0.5])
    opt = optim_core.Lion([p], lr=0.1, weight_decay=0.5)
    p.grad = np.array([0.3, -4.0, 0.0])
    opt.step()
    assert_same(p.data, np.array([0.85, -1.8, 0.475]), rtol=1e-14)
    assert_same(opt.state[p]["exp_avg"], np.array([0.003, -0.04, 0.0]), rtol=1e-14)


# --- LAMB -----------------------------------------------------------------------------


def test_lamb_first_step_by_hand():
    # θ = [3, 4] (‖θ‖ = 5), g = [1, -2]. At t = 1, m̂ = g and v̂ = g², so (ε ≈ 0)
    # u = g/|g| = [1, -1], ‖u‖ = √2, and θ1 = θ - lr·(5/√2)·[1, -1]; lr = 0.1:
    # 0.5/√2 = 0.35355339..., θ1 = [2.64644661, 4.35355339].
    p = Parameter([3.0, 4.0])
    opt = optim_core.LAMB([p], lr=0.1, eps=1e-12)
    p.grad = np.array([1.0, -2.0])
    opt.step()
    assert_same(p.data, np.array([3 - 0.5 / math.sqrt(2), 4 + 0.5 / math.sqrt(2)]), rtol=1e-11)
    # With weight decay 0.1: u = [1, -1] + 0.1·[3, 4] = [1.3, -0.6], ‖u‖ = √2.05,
    # θ1 = θ - 0.1·(5/√2.05)·[1.3, -0.6].
    q = Parameter([3.0, 4.0])
    opt = optim_core.LAMB([q], lr=0.1, eps=1e-12, weight_decay=0.1)
    q.grad = np.array([1.0, -2.0])
    opt.step()
    r = 0.1 * 5 / math.sqrt(2.05)
    assert_same(q.data, np.array([3 - r * 1.3, 4 + r * 0.6]), rtol=1e-11)


# --- LARS -----------------------------------------------------------------------------


def test_lars_equal_relative_step_per_layer():
    # Two layers whose weights and gradients differ by many orders of magnitude: LARS
    # moves both by the same fraction lr·c of their norm; plain SGD does not.
    rng = np.random.default_rng(0)
    small = Parameter(1e-3 * rng.normal(size=(8, 4)))
    large = Parameter(10.0 * rng.normal(size=(16,)))
    before = [small.data.copy(), large.data.copy()]
    opt = optim_core.LARS([small, large], lr=2.0, trust_coefficient=0.01, eps=1e-14)
    small.grad = 1e2 * rng.normal(size=(8, 4))
    large.grad = 1e-4 * rng.normal(size=(16,))
    opt.step()
    rel = [np.linalg.norm(p.data - b) / np.linalg.norm(b) for p, b in zip((small, large), before)]
    np.testing.assert_allclose(rel, [2.0 * 0.01] * 2, rtol=1e-6)
    sgd_rel = [np.linalg.norm(g) / np.linalg.norm(b) for g, b in zip((small.grad, large.grad), before)]
    assert max(sgd_rel) / min(sgd_rel) > 1e6


def test_lars_steps_by_hand():
    # θ = [3, 4] (‖θ‖ = 5), g = [0, 2] (‖g‖ = 2), c = 0.001, lr = 1, μ = 0.9:
    # r1 = 0.001·5/2 = 0.0025, b1 = r1·g = [0, 0.005], θ1 = [3, 3.995].
    p = Parameter([3.0, 4.0])
    opt = optim_core.LARS([p], lr=1.0, momentum=0.9, trust_coefficient=0.001, eps=1e-12)
    p.grad = np.array([0.0, 2.0])
    opt.step()
    assert_same(p.data, np.array([3.0, 3.995]), rtol=1e-11)
    # Step 2, same g: r2 = 0.001·‖[3, 3.995]‖/2, b2 = 0.9·[0, 0.005] + r2·[0, 2].
    r2 = 0.001 * math.hypot(3.0, 3.995) / 2
    opt.step()
    assert_same(p.data, np.array([3.0, 3.995 - (0.0045 + 2 * r2)]), rtol=1e-11)
    # With weight decay λ = 0.1 the denominator gains λ‖θ‖ and the direction λθ:
    # r = 0.001·5/(2 + 0.5) = 0.002, step = 0.002·([0, 2] + [0.3, 0.4]) = [0.0006, 0.0048].
    q = Parameter([3.0, 4.0])
    opt = optim_core.LARS([q], lr=1.0, momentum=0.0, weight_decay=0.1, eps=1e-12)
    q.grad = np.array([0.0, 2.0])
    opt.step()
    assert_same(q.data, np.array([3 - 0.0006, 4 - 0.0048]), rtol=1e-11)
    assert opt.state[q]["momentum_buffer"] is None


def test_lars_zero_weights_take_plain_step():
    p = Parameter(np.zeros(3))
    opt = optim_core.LARS([p], lr=0.5, momentum=0.0)
    p.grad = np.array([1.0, -2.0, 0.5])
    opt.step()
    assert_same(p.data, -0.5 * np.array([1.0, -2.0, 0.5]), rtol=1e-15)


# --- Adafactor -------------------------------------------------------------------------


def test_adafactor_state_is_n_plus_m():
    n, m = 64, 48
    p = Parameter(np.random.default_rng(0).normal(size=(n, m)))
    opt = optim_core.Adafactor([p])
    p.grad = np.ones((n, m))
    opt.step()
    arrays = [v for v in opt.state[p].values() if isinstance(v, np.ndarray)]
    assert sum(a.size for a in arrays) == n + m
    info = registry.get_optimizer("Adafactor")
    assert info.state_bytes((n, m), 8) == 8 * (n + m)
    # A stack of matrices keeps one row and one column statistic per matrix; a vector is unfactored.
    q, v = Parameter(np.ones((3, n, m))), Parameter(np.ones(n))
    opt = optim_core.Adafactor([q, v], beta1=None)
    q.grad, v.grad = np.ones((3, n, m)), np.ones(n)
    opt.step()
    assert sum(a.size for a in opt.state[q].values() if isinstance(a, np.ndarray)) == 3 * (n + m)
    assert sum(a.size for a in opt.state[v].values() if isinstance(a, np.ndarray)) == n
    assert info.state_bytes_per_param(4) < 0.01  # 4096 x 4096: 2·4096 numbers for 16.7M weights


def test_adafactor_first_steps_by_hand():
    # Vector θ = [3, 4], g = [1, -2]. At t = 1, β̂₂ = 1 - 1^-0.8 = 0, so v = g² (+1e-30)
    # and U = g/|g| = [1, -1]; RMS(U) = 1 (no clipping). The relative step is
    # min(1e-2, 1/√1) = 1e-2, scaled by RMS(θ) = √12.5: α = 0.01·3.5355339 = 0.035355339.
    p = Parameter([3.0, 4.0])
    opt = optim_core.Adafactor([p])
    p.grad = np.array([1.0, -2.0])
    opt.step()
    a = 0.01 * math.sqrt(12.5)
    assert_same(p.data, np.array([3 - a, 4 + a]), rtol=1e-13)
    # clip_threshold 0.5: RMS(U)/0.5 = 2, so the step halves.
    q = Parameter([3.0, 4.0])
    opt = optim_core.Adafactor([q], clip_threshold=0.5)
    q.grad = np.array([1.0, -2.0])
    opt.step()
    assert_same(q.data, np.array([3 - a / 2, 4 + a / 2]), rtol=1e-13)

    # Matrix θ = ones(2, 2) (RMS 1, α = 0.01), g = [[1, 2], [3, 4]], g² = [[1, 4], [9, 16]]:
    # row means R = [2.5, 12.5], column means C = [5, 10], V = R Cᵀ / mean(R) = R Cᵀ / 7.5
    # = [[5/3, 10/3], [25/3, 50/3]]; U² = g²/V = [[0.6, 1.2], [1.08, 0.96]], RMS(U) = √0.96 < 1.
    w = Parameter(np.ones((2, 2)))
    opt = optim_core.Adafactor([w])
    w.grad = np.array([[1.0, 2.0], [3.0, 4.0]])
    opt.step()
    u = np.sqrt([[0.6, 1.2], [1.08, 0.96]])
    assert_same(w.data, 1 - 0.01 * u, rtol=1e-13)
    assert_same(opt.state[w]["exp_avg_sq_row"], np.array([2.5, 12.5]), rtol=1e-13)
    assert_same(opt.state[w]["exp_avg_sq_col"], np.array([5.0, 10.0]), rtol=1e-13)


def test_adafactor_batched_matrices_are_independent():
    # A (B, n, m) batch with batch_ndim=1: every norm, RMS and factor stays inside its problem.
    info = registry.get_optimizer("Adafactor")
    rng = np.random.default_rng(4)
    x0 = rng.normal(size=(3, 4, 5)) * np.array([1e-2, 1.0, 30.0])[:, None, None]
    x = x0.copy()
    hp = {**info.defaults(), "weight_decay": np.array([0.0, 0.1, 0.01])[:, None, None]}
    state = info.init_state(x, **hp, batch_ndim=1)
    singles = [Parameter(x0[i]) for i in range(3)]
    opts = [optim_core.Adafactor([singles[i]], weight_decay=float(hp["weight_decay"][i, 0, 0])) for i in range(3)]
    for t in range(1, 21):
        noise = 0.3 * rng.normal(size=x.shape)
        apply_update(info, x, _grad_fn(x, noise), state, t, hp, batch_ndim=1)
        for i, (p, o) in enumerate(zip(singles, opts)):
            p.grad = _grad_fn(p.data, noise[i])
            o.step()
    for i in range(3):
        assert_same(x[i], singles[i].data, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["Adafactor", "Adam8bit"])
def test_state_layout_follows_batch_ndim(name):
    # init_state knows no batch_ndim: the first step re-lays the state for the engine's
    # (B, 2) batch of vectors; a later mismatch is an error, not a silent reset.
    info = registry.get_optimizer(name)
    x = np.ones((3, 2))
    hp = info.defaults()
    state = info.init_state(x, **hp)
    apply_update(info, x, np.ones((3, 2)), state, 1, hp, batch_ndim=1)
    if name == "Adafactor":
        assert state["exp_avg_sq"].shape == (3, 2) and "exp_avg_sq_row" not in state
    else:
        assert state["exp_avg_absmax"].shape == (3, 1)
    with pytest.raises(ValueError):
        apply_update(info, x, np.ones((3, 2)), state, 2, hp, batch_ndim=0)


# --- Sophia ---------------------------------------------------------------------------


def test_sophia_step_by_hand():
    # θ = [1, -2, 0.5], g = [0.5, 0.1, -2]; betas (0.9, 0.5), so one update_hessian with
    # ĥ = [2, 20, 0] gives h = 0.5·ĥ = [1, 10, 0]. lr 0.1, ρ 0.5, λ 0.1:
    # θ(1 - 0.01) = [0.99, -1.98, 0.495]; m = 0.1·g = [0.05, 0.01, -0.2]; ρh = [0.5, 5, 0];
    # |m|/max(ρh, ε) = [0.1, 0.002, 2e14 -> clipped to 1]; θ1 = θ - 0.1·sign(m)·ratio
    # = [0.99 - 0.01, -1.98 - 0.0002, 0.495 + 0.1] = [0.98, -1.9802, 0.595].
    p = Parameter([1.0, -2.0, 0.5])
    opt = optim_core.Sophia([p], lr=0.1, betas=(0.9, 0.5), rho=0.5, weight_decay=0.1)
    opt.update_hessian([np.array([2.0, 20.0, 0.0])])
    assert p not in opt.state  # no gradient yet: left alone, as step() would
    p.grad = np.array([0.5, 0.1, -2.0])
    opt.update_hessian([np.array([2.0, 20.0, 0.0])])
    assert_same(opt.state[p]["hessian"], np.array([1.0, 10.0, 0.0]), rtol=1e-15)
    opt.step()
    assert_same(p.data, np.array([0.98, -1.9802, 0.595]), rtol=1e-13)
    # The reference's Gauss-Newton-Bartlett path: ĥ = batch_size·g⊙g from p.grad.
    p.grad = np.array([1.0, -0.5, 0.0])
    opt.update_hessian(batch_size=4)
    assert_same(opt.state[p]["hessian"], 0.5 * np.array([1.0, 10.0, 0.0]) + 0.5 * 4 * p.grad**2, rtol=1e-15)


def test_sophia_step_is_clipped_to_lr_per_coordinate():
    rng = np.random.default_rng(0)
    lr, wd = 0.05, 0.1
    p = Parameter(rng.normal(size=200))
    opt = optim_core.Sophia([p], lr=lr, weight_decay=wd, rho=0.04, hessian_interval=3)
    clipped = unclipped = 0
    for t in range(60):
        before = p.data.copy()
        p.grad = 10.0 ** rng.uniform(-4, 2, size=200) * rng.choice([-1, 1], size=200)
        opt.step()
        move = np.abs(p.data - before * (1 - lr * wd))
        assert np.all(move <= lr * (1 + 1e-12))
        clipped += np.sum(np.isclose(move, lr, rtol=1e-12))
        unclipped += np.sum(move < lr * 0.99)
        if opt.hessian_due():
            opt.update_hessian([10.0 ** rng.uniform(-3, 3, size=200)])
    assert clipped > 0 and unclipped > 0  # both regimes were exercised


def test_sophia_hessian_cadence():
    # The class: after steps k, 2k, ... hessian_due() is true and the EMA changes then only.
    p = Parameter(np.ones(3))
    opt = optim_core.Sophia([p], lr=0.01, hessian_interval=3)
    changed = []
    for t in range(1, 11):
        p.grad = np.array([1.0, -1.0, 0.5])
        opt.step()
        h = opt.state[p]["hessian"].copy()
        if opt.hessian_due():
            opt.update_hessian([np.full(3, float(t))])
        changed.append(not np.array_equal(h, opt.state[p]["hessian"]))
    assert [t for t, c in zip(range(1, 11), changed) if c] == [3, 6, 9]
    # h = 0.99·(0.99·(0.01·3) + 0.01·6) + 0.01·9
    assert_same(opt.state[p]["hessian"], np.full(3, 0.99 * (0.99 * 0.03 + 0.06) + 0.09), rtol=1e-14)

    # The engine: refresh_hessian after every step, each row at its own interval.
    state = {"hessian": np.zeros((3, 2))}
    k = np.array([[1], [2], [4]])
    calls = []

    def estimate():
        calls.append(1)
        return np.ones((3, 2))

    counts = np.zeros(3, int)
    for t in range(1, 9):
        before = state["hessian"].copy()
        S.refresh_hessian(state, estimate, t, beta2=0.5, hessian_interval=k)
        counts += np.any(state["hessian"] != before, axis=1)
    assert counts.tolist() == [8, 4, 2]
    assert len(calls) == 8  # some row was due at every step (k = 1)
    assert_same(state["hessian"][:, 0], np.array([1 - 0.5**8, 1 - 0.5**4, 1 - 0.5**2]), rtol=1e-15)
    assert not S.refresh_hessian(state, estimate, 3, beta2=0.5, hessian_interval=2)
    assert len(calls) == 8  # not due: the estimate was not computed


# --- Adam8bit --------------------------------------------------------------------------


def test_codebooks():
    for code, signed in ((A8.SIGNED_CODE, True), (A8.UNSIGNED_CODE, False)):
        assert code.shape == (256,) and code.dtype == np.float32
        assert np.all(np.diff(code) > 0)
        assert 0.0 in code and code[-1] == 1.0
        assert (code[0] < -0.99) if signed else (code[0] == 0.0)
        # dense near zero: 7 decades, the smallest non-zero magnitude below 1e-6
        assert np.min(np.abs(code[code != 0])) < 1e-6


def _spacing_bound(code, scaled):
    # The gap between the two codes around each normalised value (outside the code's range: the end gap).
    i = np.clip(np.searchsorted(code, scaled), 1, code.size - 1)
    return code[i].astype(float) - code[i - 1]


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("block_size", [64, 256])
def test_quantize_roundtrip_error_within_code_spacing(signed, block_size):
    rng = np.random.default_rng(3)
    x = 10.0 ** rng.uniform(-9, 1, size=(1000,))
    if signed:
        x *= rng.choice([-1.0, 1.0], size=x.shape)
    code = A8.SIGNED_CODE if signed else A8.UNSIGNED_CODE
    codes, absmax = A8.quantize_blockwise(x, code, block_size)
    assert codes.dtype == np.uint8 and codes.shape == x.shape
    assert absmax.dtype == np.float32 and absmax.shape == (math.ceil(1000 / block_size),)
    back = A8.dequantize_blockwise(codes, absmax, code, block_size)
    scale = np.repeat(absmax.astype(float), block_size)[: x.size]
    err = np.abs(back - x)
    scaled = x / scale
    gap = _spacing_bound(code, scaled) * scale
    # bitsandbytes' CPU rule: the value is first rounded to a point of a 65536-point grid of
    # [-1, 1] (at most 1/65535 away), then to that point's nearest code (half a gap, 1e-4
    # of slack for the float32 scale and for -1, just outside the signed code's range).
    assert np.all(err <= (0.5 * gap * (1 + 1e-4) + 2 / 65535 * scale))
    # A positive value is never stored as negative; a negative one stays negative unless it
    # is within the grid's rounding of 0 (|x|/absmax <= 2^-25), where it becomes a small
    # positive code as in bitsandbytes.
    assert np.all(back[x > 0] > 0)
    assert np.all(back[(x < 0) & (np.abs(scaled) > 2.0**-25)] < 0)
    # Within the (B, 2) layout of the engine each row is its own block.
    y = x[:20].reshape(10, 2)
    codes, absmax = A8.quantize_blockwise(y, code, block_size, batch_ndim=1)
    assert absmax.shape == (10, 1)
    np.testing.assert_allclose(absmax[:, 0], np.abs(y).max(axis=1).astype(np.float32))


def test_adam8bit_state_bytes_per_param():
    p = Parameter(np.zeros((64, 64), dtype=np.float32))
    opt = optim_core.Adam8bit([p])
    p.grad = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    opt.step()
    nbytes = sum(v.nbytes for v in opt.state[p].values() if isinstance(v, np.ndarray))
    assert nbytes / p.data.size <= 2.1
    info = registry.get_optimizer("Adam8bit")
    assert info.state_bytes((64, 64), 4) == nbytes
    assert info.state_bytes_per_param(4) <= 2.1
    assert p.data.dtype == np.float32


def _mlp_problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(512, 16))
    teacher = np.tanh(X @ rng.normal(size=(16, 32))) @ rng.normal(size=(32, 5))
    y = np.argmax(teacher + 0.5 * rng.normal(size=teacher.shape), axis=1)
    params = [0.3 * rng.normal(size=(16, 64)), np.zeros(64), 0.3 * rng.normal(size=(64, 5)), np.zeros(5)]

    def grads(ws, idx):
        W1, b1, W2, b2 = ws
        xb, yb = X[idx], y[idx]
        h = np.tanh(xb @ W1 + b1)
        logits = h @ W2 + b2
        prob = np.exp(logits - logits.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        dlogits = prob
        dlogits[np.arange(len(yb)), yb] -= 1
        dlogits /= len(yb)
        dpre = (dlogits @ W2.T) * (1 - h**2)
        return [xb.T @ dpre, dpre.sum(0), h.T @ dlogits, dlogits.sum(0)]

    def loss(ws):
        W1, b1, W2, b2 = ws
        logits = np.tanh(X @ W1 + b1) @ W2 + b2
        logits -= logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(len(y)), y]))

    return params, grads, loss, rng


def test_adam8bit_tracks_adam_on_an_mlp():
    # A 16-64-5 tanh MLP (1413 weights, 6 blocks) on a teacher's labels, mini-batches of 64,
    # Adam's default lr; both sides compute the same float64 gradients of their own weights.
    init, grads, loss, rng = _mlp_problem()
    ours = [Parameter(v) for v in init]
    theirs = [torch.tensor(v, requires_grad=True) for v in init]
    opt = optim_core.Adam8bit(ours, lr=1e-3)
    ref = torch.optim.Adam(theirs, lr=1e-3)
    for _ in range(100):
        idx = rng.choice(512, size=64, replace=False)
        for p, g in zip(ours, grads([p.data for p in ours], idx)):
            p.grad = g
        for t, g in zip(theirs, grads([t.detach().numpy() for t in theirs], idx)):
            t.grad = torch.tensor(g)
        opt.step()
        ref.step()
    a = np.concatenate([p.data.ravel() for p in ours])
    b = np.concatenate([t.detach().numpy().ravel() for t in theirs])
    start = np.concatenate([v.ravel() for v in init])
    # Measured after 100 steps: ‖θ8 - θ‖/‖θ‖ = 5.0e-3, 2.5e-2 of the distance Adam travelled
    # (lr 1e-2: 1.6e-2 and 3.1e-2), and the loss 1.1795 against Adam's 1.1748 (from 3.246).
    # Rounding m to the dynamic code costs up to ~7% of a value at a tenth of its block's
    # maximum; it acts as a small extra noise, so the paths drift apart slowly.
    assert np.linalg.norm(a - b) / np.linalg.norm(b) < 1e-2
    assert np.linalg.norm(a - b) / np.linalg.norm(b - start) < 5e-2
    l8, la, l0 = loss([p.data for p in ours]), loss([t.detach().numpy() for t in theirs]), loss(init)
    assert la < 0.5 * l0 and abs(l8 - la) < 1e-2 * (l0 - la)
    # The stored moments' rounding error is reported, and bounded by the code spacing.
    err = opt.quantization_error(ours[0])
    m = opt.dequantized_state(ours[0])["exp_avg"]
    assert 0 < err["exp_avg"]["mean"] <= err["exp_avg"]["max"] <= np.abs(m).max() * 0.02
    assert 0 <= err["exp_avg_sq"]["mean"] <= err["exp_avg_sq"]["max"]


def test_adam8bit_first_step_is_adams():
    # At t = 1 the moments start at exactly 0, so the step is Adam's: θ - lr·g/(|g| + ε).
    p = Parameter([1.0, -2.0, 3.0])
    opt = optim_core.Adam8bit([p], lr=0.1, eps=1e-12)
    p.grad = np.array([0.5, 4.0, -1e-3])
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, -2.1, 3.1], rtol=1e-9)
    # The stored m = 0.1·g = [0.05, 0.4, -1e-4]: its largest entry is the block scale and
    # code 1.0, exact (the signed code ends at -0.993, so a negative maximum would lose
    # 0.7%). 0.05/0.4 = 0.125 lies in the top decade, 64 codes 0.1 + 0.0140625(k + 1/2):
    # nearest 0.12109375, stored 0.0484375. -1e-4/0.4 = -2.5e-4 lies in the decade of 8
    # codes 1e-3·(0.1 + 0.1125(k + 1/2)): nearest -2.6875e-4, stored -1.075e-4.
    m = opt.dequantized_state(p)["exp_avg"]
    assert opt.state[p]["exp_avg_absmax"][0] == np.float32(0.4)
    np.testing.assert_allclose(m, [0.0484375, 0.4, -1.075e-4], rtol=1e-6)


# --- Lookahead ------------------------------------------------------------------------


def test_lookahead_syncs_every_k_steps():
    k, alpha = 4, 0.3
    values = initial_values(2)
    wrapped = [Parameter(v) for v in values]
    plain = [Parameter(v) for v in values]
    la = Lookahead(optim_core.Adam(wrapped, lr=0.05), k=k, alpha=alpha)
    base = optim_core.Adam(plain, lr=0.05)
    rng = np.random.default_rng(0)
    for t in range(1, k + 1):
        noises = _noises(rng, [v.shape for v in values])
        for p, q, n in zip(wrapped, plain, noises):
            p.grad, q.grad = _grad_fn(p.data, n), _grad_fn(q.data, n)
        la.step()
        base.step()
        for p, q, v in zip(wrapped, plain, values):
            if t < k:  # fast weights run exactly as the base optimizer; slow ones wait
                assert_same(p.data, q.data, rtol=0)
                assert_same(la.state[p]["slow_param"], v, rtol=0)
    for p, q, v in zip(wrapped, plain, values):
        assert_same(p.data, la.state[p]["slow_param"], rtol=0)
        assert_same(p.data, np.asarray(v + alpha * (q.data - v)), rtol=1e-14)
    # After the sync the fast weights move again from the slow ones.
    for p in wrapped:
        p.grad = np.ones_like(p.data)
    la.step()
    assert not np.array_equal(wrapped[1].data, la.state[wrapped[1]]["slow_param"])


def test_lookahead_sync_on_a_batch():
    rng = np.random.default_rng(0)
    fast, slow = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    alpha = np.array([0.0, 0.5, 0.8, 1.0])[:, None]
    expected = slow + alpha * (fast - slow)
    lookahead_sync(fast, slow, alpha)
    assert_same(slow, expected, rtol=1e-15)
    assert_same(fast, slow, rtol=0)


def test_lookahead_api():
    p = Parameter([1.0, 2.0])
    la = Lookahead(optim_core.SGD([p], lr=0.1), k=2)
    assert la.param_groups is la.base_optimizer.param_groups
    la.param_groups[0]["lr"] = 0.5  # what a scheduler does
    p.grad = np.array([1.0, 1.0])
    loss = la.step(closure=lambda: 3.0)
    assert loss == 3.0
    assert_same(p.data, np.array([0.5, 1.5]), rtol=1e-15)
    la.zero_grad()
    assert p.grad is None
    with pytest.raises(ValueError):
        Lookahead(optim_core.SGD([p]), k=0)
    with pytest.raises(ValueError):
        Lookahead(optim_core.SGD([p]), alpha=1.5)


# --- Generic: batched kernels == the classes, state_dict round trips, validation ------------

B = 4
BATCH_CASES = [
    ("Lion", {}, dict(lr=[1e-3, 1e-2, 5e-2, 0.1], beta1=[0.9, 0.5, 0.0, 0.95], beta2=[0.99, 0.9, 0.999, 0.5],
                      weight_decay=[0.0, 0.1, 0.5, 0.0])),
    ("LAMB", {}, dict(lr=[1e-3, 1e-2, 5e-2, 0.1], beta1=[0.9, 0.5, 0.0, 0.95], beta2=[0.999, 0.9, 0.99, 0.5],
                      eps=[1e-6, 1e-8, 1e-3, 1e-6], weight_decay=[0.0, 0.1, 0.01, 0.0])),
    ("LARS", {}, dict(lr=[0.5, 1.0, 5.0, 10.0], momentum=[0.9, 0.0, 0.5, 0.99], weight_decay=[0.0, 1e-3, 1e-2, 0.0],
                      trust_coefficient=[1e-3, 1e-2, 0.1, 1e-3], eps=[1e-8, 1e-8, 1e-3, 0.1])),
    ("Adafactor", {}, dict(decay_rate=[-0.8, -0.5, -1.0, -0.8], clip_threshold=[1.0, 0.5, 2.0, 1.0],
                           eps2=[1e-3, 1e-2, 1e-3, 1.0], weight_decay=[0.0, 0.1, 0.0, 0.01])),
    ("Adafactor", {"relative_step": False, "scale_parameter": False},
     dict(lr=[1e-3, 1e-2, 0.1, 0.05], beta1=[0.9, 0.0, 0.5, 0.99], decay_rate=[-0.8, -0.5, -1.0, -0.8])),
    ("Adafactor", {"warmup_init": True}, dict(eps1=[1e-30, 1e-10, 1e-20, 1e-30])),
    ("Sophia", {}, dict(lr=[1e-3, 1e-2, 5e-2, 0.1], beta1=[0.965, 0.5, 0.0, 0.9], beta2=[0.99, 0.5, 0.9, 0.0],
                        rho=[0.04, 1.0, 0.001, 10.0], weight_decay=[0.1, 0.0, 0.5, 0.1], hessian_interval=[1, 2, 3, 5])),
    ("Adam8bit", {}, dict(lr=[1e-3, 1e-2, 5e-2, 0.1], beta1=[0.9, 0.5, 0.0, 0.95], beta2=[0.999, 0.9, 0.99, 0.5],
                          eps=[1e-8, 1e-6, 1e-3, 1e-8], weight_decay=[0.0, 0.1, 0.01, 0.0])),
    ("Adam8bit", {"block_size": 64, "maximize": True}, dict(lr=[1e-3, 1e-2, 5e-2, 0.1])),
]


def _hessian_estimate(x):
    return 0.5 + x * x


@pytest.mark.parametrize("name,fixed,sweep", BATCH_CASES, ids=lambda c: str(c))
def test_batched_kernel_equals_class_per_row(name, fixed, sweep):
    info = registry.get_optimizer(name)
    rng = np.random.default_rng(7)
    x0 = rng.normal(size=(B, 2)) * np.array([[0.1], [1.0], [3.0], [0.0]])  # the last row starts at 0
    x = x0.copy()
    hp = {**info.defaults(), **fixed, **{k: np.array(v)[:, None] for k, v in sweep.items()}}
    state = info.init_state(x, **hp)
    singles = [Parameter(x0[i]) for i in range(B)]
    opts = [info.cls([singles[i]], **_class_kwargs(info, {**fixed, **{k: v[i] for k, v in sweep.items()}}))
            for i in range(B)]
    for t in range(1, 31):
        noise = 0.3 * rng.normal(size=x.shape)
        apply_update(info, x, _grad_fn(x, noise), state, t, hp, batch_ndim=1)
        if info.needs_hessian:
            S.refresh_hessian(state, lambda: _hessian_estimate(x), t, beta2=hp["beta2"],
                              hessian_interval=hp["hessian_interval"])
        for i, (p, opt) in enumerate(zip(singles, opts)):
            p.grad = _grad_fn(p.data, noise[i])
            opt.step()
            if info.needs_hessian and opt.hessian_due():
                opt.update_hessian([_hessian_estimate(p.data)])
        for i, p in enumerate(singles):
            assert_same(x[i], p.data, rtol=1e-12, atol=1e-15, err_msg=f"row {i}, step {t}")


def test_lookahead_batched_equals_wrapper_per_row():
    # The engine's form: the Adam kernel on (B, 2) and lookahead_sync every k steps.
    info = registry.get_optimizer("Adam")
    k, alphas = 3, np.array([0.5, 0.2, 1.0, 0.8])
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(B, 2))
    x, slow = x0.copy(), x0.copy()
    hp = {**info.defaults(), "lr": 0.05}
    state = info.init_state(x, **hp)
    singles = [Parameter(x0[i]) for i in range(B)]
    opts = [Lookahead(optim_core.Adam([p], lr=0.05), k=k, alpha=float(a)) for p, a in zip(singles, alphas)]
    for t in range(1, 17):
        noise = 0.3 * rng.normal(size=x.shape)
        apply_update(info, x, _grad_fn(x, noise), state, t, hp, batch_ndim=1)
        if t % k == 0:
            lookahead_sync(x, slow, alphas[:, None])
        for i, (p, opt) in enumerate(zip(singles, opts)):
            p.grad = _grad_fn(p.data, noise[i])
            opt.step()
    for i, p in enumerate(singles):
        assert_same(x[i], p.data, rtol=1e-13)


ROUND_TRIP = [
    ("Lion", dict(lr=1e-2, weight_decay=0.1)),
    ("LAMB", dict(lr=1e-2, weight_decay=0.01)),
    ("LARS", dict(lr=1.0, weight_decay=1e-3)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=1e-2, relative_step=False, beta1=0.9)),
    ("Sophia", dict(lr=1e-2, hessian_interval=3)),
    ("Adam8bit", dict(lr=1e-2, block_size=64)),
    ("Lookahead", dict(k=3, alpha=0.5)),
]


def _make(name, params, kwargs):
    if name == "Lookahead":
        return Lookahead(optim_core.Adam(params, lr=1e-2), **kwargs)
    return getattr(optim_core, name)(params, **kwargs)


def _train(opt, params, steps, start):
    for t in range(start, start + steps):
        rng = np.random.default_rng(100 + t)
        for p in params:
            p.grad = _grad_fn(p.data, np.asarray(0.3 * rng.normal(size=p.shape)))
        opt.step()
        if getattr(opt, "info", None) is not None and opt.info.needs_hessian and opt.hessian_due():
            opt.update_hessian([_hessian_estimate(p.data) for p in params])


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP, ids=lambda c: str(c))
def test_state_dict_round_trip(name, kwargs):
    shapes = SHAPES + [(130,)]  # (130,) spans three 64-value blocks in Adam8bit
    values = initial_values(5, shapes)
    straight = [Parameter(v) for v in values]
    opt = _make(name, [{"params": straight[:2]}, {"params": straight[2:]}], kwargs)
    _train(opt, straight, 40, 0)

    first = [Parameter(v) for v in values]
    opt1 = _make(name, [{"params": first[:2]}, {"params": first[2:]}], kwargs)
    _train(opt1, first, 20, 0)
    saved = opt1.state_dict()
    resumed = [Parameter(p.data) for p in first]
    opt2 = _make(name, [{"params": resumed[:2]}, {"params": resumed[2:]}], kwargs)
    opt2.load_state_dict(saved)
    _train(opt2, resumed, 20, 20)
    for a, b in zip(straight, resumed):
        assert_same(a.data, b.data, rtol=0)


INVALID = [
    ("Lion", dict(lr=-1.0)),
    ("Lion", dict(betas=(1.0, 0.99))),
    ("LAMB", dict(eps=0.0)),
    ("LAMB", dict(weight_decay=-0.1)),
    ("LARS", dict(trust_coefficient=0.0)),
    ("LARS", dict(momentum=-0.5)),
    ("Adafactor", dict(lr=1e-3)),  # a manual lr needs relative_step=False
    ("Adafactor", dict(relative_step=False)),  # ... and relative_step=False needs an lr
    ("Adafactor", dict(lr=1e-3, relative_step=False, warmup_init=True)),
    ("Adafactor", dict(decay_rate=0.5)),
    ("Adafactor", dict(eps=(1e-30,))),
    ("Adafactor", dict(beta1=1.0)),
    ("Sophia", dict(rho=-1.0)),
    ("Sophia", dict(hessian_interval=0)),
    ("Sophia", dict(hessian_interval=2.5)),
    ("Adam8bit", dict(block_size=100)),
    ("Adam8bit", dict(betas=(0.9, 1.0))),
]


@pytest.mark.parametrize("name,kwargs", INVALID, ids=lambda c: str(c))
def test_invalid_hyperparameters_raise(name, kwargs):
    with pytest.raises(ValueError):
        getattr(optim_core, name)([Parameter([1.0])], **kwargs)
    with pytest.raises(HyperparameterError):
        getattr(optim_core, name)([Parameter([1.0])], **kwargs)


@pytest.mark.parametrize("name", MODERN)
def test_registry_entry(name):
    info = registry.get_optimizer(name)
    assert info.family == "modern" and info.cls.__name__ == name and info.cls.__doc__
    assert "arXiv:" in info.paper and info.summary and info.state_note and info.latex
    assert info.elementwise == (name in ("Lion", "Sophia"))
    assert info.needs_hessian == (name == "Sophia")
    for h in info.hypers:
        if h.kind in ("float", "int"):
            assert h.low is not None and h.high is not None and h.low < h.high
    info.cls([Parameter([1.0])])  # every default is valid


@pytest.mark.parametrize("name", MODERN)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scalar_and_float32_parameters(name, dtype):
    ps = [Parameter(np.array(0.7, dtype=dtype)), Parameter(np.ones((3, 5), dtype=dtype))]
    opt = getattr(optim_core, name)(ps)
    for _ in range(5):
        for p in ps:
            p.grad = (p.data + 0.5).astype(dtype)
        opt.step()
        if name == "Sophia":
            opt.update_hessian([np.ones_like(p.data) for p in ps])
    for p in ps:
        assert p.data.dtype == dtype and np.all(np.isfinite(p.data))
        assert np.all(p.data < (0.7 if p.data.ndim == 0 else 1.0))  # every optimizer descended
