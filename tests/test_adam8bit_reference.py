"""Adam8bit against bitsandbytes, the library it follows.

Four levels, each against bitsandbytes' own code and never against ours:

* the codebooks: bit-identical to the maps bitsandbytes' 8-bit Adam keeps
  (``create_dynamic_map``, signed for the first moment, unsigned for the second);
* quantizing and dequantizing: bit-identical codes, scales and values to bitsandbytes'
  CPU ``quantize_blockwise`` / ``dequantize_blockwise`` ops;
* the update kernel, step by step: a transcription in torch of bitsandbytes' CPU 8-bit
  blockwise Adam (``bitsandbytes/backends/cpu/ops.py``,
  ``_optimizer_update_8bit_blockwise_cpu``), quantizing with bitsandbytes' own ops, in
  float32 and in float64 against our two dtypes: every code, scale and parameter equal
  at every step;
* ``bitsandbytes.optim.Adam8bit`` itself on float32 parameters: every code equal, scales
  and parameters within a few ulps.

The gradients are a fixed seeded sequence, not a function of the parameters:
bitsandbytes' parameters differ from ours in their last bits (see the last test), and
gradients computed from them would hand the moments different inputs. Now and then such
a moment lies within one float32 ulp of the border between two codes, and the runs then
keep moments a code apart: a variant of the comparison with bitsandbytes below, with
gradients of the parameters, saw that for 2 of the 2.4 million codes stored in 24 runs
(8 seeds, 3 configs), after which the parameters differed by up to 1e-4. With the same
gradients on both sides the codes can be compared exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import optim_core
from optim_core import Parameter, apply_update, registry
from optim_core.optimizers import adam8bit as A8
from tests.asserts import assert_same, reference

torch = reference("torch")
bnb = reference("bitsandbytes")

BLOCK = 256  # bitsandbytes' 8-bit blockwise optimizers always use 256 (init_state and the CPU op)
SHAPES = [(), (5,), (3, 4), (600,)]  # (600,): blocks of 256, 256 and a padded 88
STEPS = 40
# Our state keys and bitsandbytes': codes and scales of m (state1) and of v (state2).
STATE_KEYS = {"exp_avg_codes": "state1", "exp_avg_absmax": "absmax1",
              "exp_avg_sq_codes": "state2", "exp_avg_sq_absmax": "absmax2"}
CONFIGS = [
    {},
    {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
    {"lr": 5e-2, "betas": (0.0, 0.5), "eps": 1e-3, "weight_decay": 0.01},
]


def bnb_map(signed: bool):
    return bnb.functional.create_dynamic_map(signed=signed)


def initial_values(seed: int, shapes=SHAPES) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in shapes]


def gradient_sequence(seed: int, shapes=SHAPES, steps: int = STEPS) -> list[list[np.ndarray]]:
    """``steps`` lists of float64 gradients, one per shape.

    Each coordinate has its own scale over five decades, so a block's moments spread over
    the codebook's decades; coordinate 1 of the second tensor is always 0 (a moment that
    is exactly 0 is stored as a code of about 2e-5 of its block's scale, never as 0), and
    the middle block of the (600,) tensor is all 0 for the first three steps (a block
    whose scale is 0, stored as index 0).
    """
    rng = np.random.default_rng(seed)
    scales = [10.0 ** rng.uniform(-4, 1, size=s) for s in shapes]
    sequence = []
    for t in range(steps):
        grads = [np.asarray(scale * rng.normal(size=np.shape(scale))) for scale in scales]
        for g in grads:
            if g.shape == (5,):
                g[1] = 0.0
            if g.shape == (600,) and t < 3:
                g[BLOCK:2 * BLOCK] = 0.0
        sequence.append(grads)
    return sequence


def two_groups(params, config):
    """The first half with ``config``, the second with half its lr and its own weight decay."""
    lr = config.get("lr", 1e-3)
    wd = config.get("weight_decay", 0.0)
    half = len(params) // 2
    return [{"params": params[:half]}, {"params": params[half:], "lr": lr / 2, "weight_decay": 2 * wd}]


def group_hypers(config, index):
    """The plain hyperparameters of group ``index`` of :func:`two_groups`."""
    beta1, beta2 = config.get("betas", (0.9, 0.999))
    lr, wd = config.get("lr", 1e-3), config.get("weight_decay", 0.0)
    if index:
        lr, wd = lr / 2, 2 * wd
    return {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": config.get("eps", 1e-8), "weight_decay": wd}


# --- bitsandbytes' CPU 8-bit blockwise Adam, transcribed ---------------------------------


class BnbCpuAdam8bit:
    """``_optimizer_update_8bit_blockwise_cpu`` for ``optimizer_name="adam"``, tensor by tensor.

    The state is bitsandbytes' (``Optimizer2State.init_state``): uint8 ``state1`` /
    ``state2`` of the parameter's shape, all 0, and float32 ``absmax1`` / ``absmax2`` of
    ``ceil(numel / 256)`` zeros; the maps are ``create_dynamic_map(signed=True)`` for
    ``state1`` and ``(signed=False)`` for ``state2``. Quantizing and dequantizing call
    bitsandbytes' own CPU ops on float32, as its kernel does; the arithmetic is in the
    parameter's dtype (bitsandbytes: always float32), operation by operation as
    bitsandbytes writes it, with every operation correctly rounded. That takes two
    changes of spelling: ``state1.mul_(β1).add_(g, alpha=1-β1)`` and
    ``state2.mul_(β2).addcmul_(g, g, value=1-β2)`` are written with a separate multiply,
    since torch evaluates them with a fused multiply-add on AVX2/AVX-512 CPUs (one rounding
    fewer: a last-bit difference in about a tenth of the values), and the square root is
    :func:`sqrt`. What the two cost is measured against bitsandbytes itself in
    :func:`test_matches_bitsandbytes_adam8bit`.
    """

    def __init__(self, params: list, groups: list[dict]):
        self.params, self.groups = params, groups
        self.qmap1, self.qmap2 = bnb_map(True), bnb_map(False)
        self.state = {}
        for p in params:
            blocks = -(-p.numel() // BLOCK)
            self.state[id(p)] = {
                "step": 0,
                "state1": torch.zeros(p.shape, dtype=torch.uint8),
                "state2": torch.zeros(p.shape, dtype=torch.uint8),
                "absmax1": torch.zeros((blocks,), dtype=torch.float32),
                "absmax2": torch.zeros((blocks,), dtype=torch.float32),
            }

    def step(self, grads: list) -> None:
        for p, g, hp in zip(self.params, grads, self.groups):
            st = self.state[id(p)]
            st["step"] += 1
            self._update(p, g, st, st["step"], **hp)

    def _update(self, p, g, st, step, *, lr, beta1, beta2, eps, weight_decay):
        ops = torch.ops.bitsandbytes
        m = ops.dequantize_blockwise(st["state1"], st["absmax1"], self.qmap1, BLOCK, torch.float32).to(p.dtype)
        v = ops.dequantize_blockwise(st["state2"], st["absmax2"], self.qmap2, BLOCK, torch.float32).to(p.dtype)
        m.mul_(beta1).add_(g * (1.0 - beta1))
        v.mul_(beta2).add_(g * (1.0 - beta2) * g)
        correction1 = 1.0 - beta1**step
        correction2 = math.sqrt(1.0 - beta2**step)
        denom = (sqrt(v) / correction2).add_(eps)
        if weight_decay > 0.0:
            p.mul_(1.0 - lr * weight_decay)
        p.addcdiv_(m, denom, value=-lr / correction1)
        st["state1"], st["absmax1"] = ops.quantize_blockwise(m.float(), self.qmap1, BLOCK)
        st["state2"], st["absmax2"] = ops.quantize_blockwise(v.float(), self.qmap2, BLOCK)


def sqrt(x):
    """``x.sqrt()`` correctly rounded, as IEEE 754 defines it (and NumPy computes it).

    torch's CPU ``sqrt`` is not: on this machine (AVX-512) 17% of float32 and 1% of
    float64 results differ from the correctly rounded square root in their last bit.
    """
    return torch.from_numpy(np.asarray(np.sqrt(x.numpy())))


def assert_state_equal(ours: dict, theirs: dict, where: str) -> None:
    for key, their_key in STATE_KEYS.items():
        assert_same(ours[key], theirs[their_key], rtol=0, err_msg=f"{key} {where}")


# --- the codebooks --------------------------------------------------------------------------


def test_codebooks_are_bitsandbytes_maps():
    # The maps bitsandbytes' 8-bit Adam stores for each parameter (qmap1 for m, qmap2 for
    # v: name2qmap["dynamic"] and ["udynamic"]) -- bit for bit, entry by entry.
    p = torch.nn.Parameter(torch.zeros(3))
    opt = bnb.optim.Adam8bit([p], min_8bit_size=0)
    p.grad = torch.ones(3)
    opt.step()
    for ours, key, signed in ((A8.SIGNED_CODE, "qmap1", True), (A8.UNSIGNED_CODE, "qmap2", False)):
        theirs = opt.state[p][key].numpy()
        assert ours.shape == theirs.shape == (256,) and ours.dtype == theirs.dtype == np.float32
        assert np.array_equal(ours, theirs), f"{np.count_nonzero(ours != theirs)} entries differ from {key}"
        assert np.array_equal(ours, bnb_map(signed).numpy())
        assert np.array_equal(A8.dynamic_codebook(signed), theirs)


# --- quantize / dequantize --------------------------------------------------------------------


def _quantize_inputs(rng, signed: bool):
    """Float32 vectors over 11 decades, with zeros, all-zero blocks, single values, a dense sweep."""
    cases = []
    for n in (1, 2, 255, 256, 257, 600, 1000):
        x = rng.normal(size=n) * 10.0 ** rng.uniform(-9, 2, size=n)
        x[rng.random(n) < 0.1] = 0.0
        cases.append(x)
    x = rng.normal(size=700)
    x[BLOCK:2 * BLOCK] = 0.0  # an all-zero middle block
    cases.append(x)
    # Blocks of scale 1 sweeping [-1, 1] (or [0, 1]): about two values in every cell of
    # bitsandbytes' 65536-point table, then the float32 values at and next to each border
    # between two cells (where (x + 1)/2·65535 + 1/2 crosses an integer).
    cases.append(_scale_one_blocks(np.linspace(-1.0, 1.0, 255 * 600)))
    borders = ((2.0 * np.arange(1, 65536) - 1) / 65535 - 1).astype(np.float32)
    near = np.concatenate([np.nextafter(borders, np.float32(-2)), borders, np.nextafter(borders, np.float32(2))])
    cases.append(_scale_one_blocks(near[np.abs(near) <= 1]))
    cases = [c.astype(np.float32) for c in cases]
    return cases if signed else [np.abs(c) for c in cases]


def _scale_one_blocks(values: np.ndarray) -> np.ndarray:
    """``values`` in blocks of 256 that each start with 1.0, so that every block's scale is 1."""
    chunks = np.array_split(values, -(-values.size // (BLOCK - 1)))
    return np.concatenate([np.r_[1.0, chunk] for chunk in chunks])


@pytest.mark.parametrize("signed", [True, False])
def test_quantize_blockwise_is_bitsandbytes(signed):
    rng = np.random.default_rng(11)
    ours_code = A8.SIGNED_CODE if signed else A8.UNSIGNED_CODE
    their_code = bnb_map(signed)
    for i, x in enumerate(_quantize_inputs(rng, signed)):
        codes, absmax = A8.quantize_blockwise(x, ours_code, BLOCK)
        their_codes, their_absmax = torch.ops.bitsandbytes.quantize_blockwise(torch.from_numpy(x), their_code, BLOCK)
        assert_same(codes, their_codes, rtol=0, err_msg=f"codes of case {i}")
        assert_same(absmax, their_absmax, rtol=0, err_msg=f"absmax of case {i}")
        values = A8.dequantize_blockwise(codes, absmax, ours_code, BLOCK, dtype=np.float32)
        theirs = torch.ops.bitsandbytes.dequantize_blockwise(their_codes, their_absmax, their_code, BLOCK,
                                                             torch.float32)
        assert_same(values, theirs, rtol=0, err_msg=f"dequantized case {i}")
        # The float64 result is the same float32 products, exactly.
        assert_same(A8.dequantize_blockwise(codes, absmax, ours_code, BLOCK), theirs.double(), rtol=0)


def test_quantize_blockwise_rows_are_separate_problems():
    # With batch_ndim=1 every row is quantized as bitsandbytes quantizes that row alone.
    rng = np.random.default_rng(12)
    x = (rng.normal(size=(3, 300)) * 10.0 ** rng.uniform(-6, 1, size=(3, 1))).astype(np.float32)
    codes, absmax = A8.quantize_blockwise(x, A8.SIGNED_CODE, BLOCK, batch_ndim=1)
    assert absmax.shape == (3, 2)
    for i in range(3):
        their_codes, their_absmax = torch.ops.bitsandbytes.quantize_blockwise(torch.from_numpy(x[i]), bnb_map(True),
                                                                              BLOCK)
        assert_same(codes[i], their_codes, rtol=0, err_msg=f"row {i}")
        assert_same(absmax[i], their_absmax, rtol=0, err_msg=f"row {i}")


# --- the kernel, step by step against the transcription ---------------------------------------

# Every operation of the transcription is correctly rounded (IEEE 754), as NumPy's are, so
# with the same order of operations the parameters must agree to the last bit, in both
# dtypes: measured equal over the three configs, both seeds and both groups.


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c) if c else "defaults")
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_kernel_matches_transcription_step_by_step(dtype, config, seed):
    values = [v.astype(dtype) for v in initial_values(seed)]
    ours = [Parameter(v) for v in values]
    theirs = [torch.from_numpy(v.copy()) for v in values]
    opt = optim_core.Adam8bit(two_groups(ours, config), **config)
    half = len(values) // 2
    ref = BnbCpuAdam8bit(theirs, [group_hypers(config, int(i >= half)) for i in range(len(values))])
    for step, grads in enumerate(gradient_sequence(seed + 100), start=1):
        for p, g in zip(ours, grads):
            p.grad = g.astype(dtype)
        ref.step([torch.from_numpy(g.astype(dtype)) for g in grads])
        opt.step()
        for i, (p, t) in enumerate(zip(ours, theirs)):
            where = f"param {i} {p.shape}, step {step}"
            assert_state_equal(opt.state[p], ref.state[id(t)], where)
            assert_same(p.data, t, rtol=0, err_msg=where)


def test_batched_kernel_matches_transcription_per_row():
    # The engine's form: one call on (3, 300) with per-row hyperparameters and
    # batch_ndim=1; each row (two blocks, the second padded) is bitsandbytes' update of
    # that row alone.
    info = registry.get_optimizer("Adam8bit")
    rng = np.random.default_rng(5)
    x0 = rng.normal(size=(3, 300))
    hypers = [dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
              dict(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
              dict(lr=5e-2, beta1=0.0, beta2=0.5, eps=1e-3, weight_decay=0.01)]
    hp = {**info.defaults(), **{k: np.array([h[k] for h in hypers])[:, None] for k in hypers[0]}}
    x = x0.copy()
    state = info.init_state(x, **hp)
    rows = [torch.from_numpy(x0[i].copy()) for i in range(3)]
    ref = BnbCpuAdam8bit(rows, hypers)
    scale = 10.0 ** rng.uniform(-4, 1, size=x0.shape)
    for step in range(1, STEPS + 1):
        g = scale * rng.normal(size=x0.shape)
        apply_update(info, x, g, state, step, hp, batch_ndim=1)
        ref.step([torch.from_numpy(g[i].copy()) for i in range(3)])
        for i, t in enumerate(rows):
            st = ref.state[id(t)]
            where = f"row {i}, step {step}"
            assert_same(state["exp_avg_codes"][i], st["state1"], rtol=0, err_msg=where)
            assert_same(state["exp_avg_sq_codes"][i], st["state2"], rtol=0, err_msg=where)
            assert_same(state["exp_avg_absmax"][i], st["absmax1"], rtol=0, err_msg=where)
            assert_same(state["exp_avg_sq_absmax"][i], st["absmax2"], rtol=0, err_msg=where)
            # Our bias corrections come from NumPy's power on the (3, 1) arrays of betas,
            # which differs from Python's ``**`` in the last bit now and then (0.99**3,
            # 0.999**7, ...); that moves θ by at most an ulp. Measured: 2.2e-16, with |θ|
            # below 8 (initial values up to 3.3, lr·40 ≤ 2); tolerance: one ulp in [4, 8).
            assert_same(x[i], t, rtol=0, atol=8.9e-16, err_msg=where)


# --- bitsandbytes.optim.Adam8bit ----------------------------------------------------------------

# bitsandbytes itself computes m·β1 + (1-β1)·g and v·β2 + (1-β2)·g·g with fused
# multiply-adds, so its moments differ from ours in their last bit now and then, and its
# square roots are not correctly rounded, so its steps do too (see BnbCpuAdam8bit).
# Measured over the three configs and both seeds (float32, 40 steps): every code equal;
# the scales within 2.8e-6 relative (those of m with β1 = 0.9, none at all with β1 = 0:
# a last-bit difference in β1·m or (1-β1)·g is a larger relative one of their sum when
# they nearly cancel, as for the one-value blocks of the 0-d parameter, and it returns
# through the dequantized moment at the next step); the parameters within 2.4e-7 (one
# ulp at |θ| in [2, 4); |θ| reaches 3.92). Tolerances: 4e-6 for the scales, two ulps at
# |θ| in [2, 4) for the parameters.
BNB_SCALE_RTOL = 4e-6
BNB_PARAM_ATOL = 4.8e-7


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c) if c else "defaults")
def test_matches_bitsandbytes_adam8bit(config, seed):
    values = [v.astype(np.float32) for v in initial_values(seed)]
    ours = [Parameter(v) for v in values]
    theirs = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    opt = optim_core.Adam8bit(two_groups(ours, config), **config)
    # min_8bit_size=0: by default bitsandbytes keeps tensors under 4096 values in float32.
    ref = bnb.optim.Adam8bit(two_groups(theirs, config), min_8bit_size=0, **config)
    for step, grads in enumerate(gradient_sequence(seed + 100), start=1):
        for p, t, g in zip(ours, theirs, grads):
            p.grad = g.astype(np.float32)
            t.grad = torch.from_numpy(g.astype(np.float32))
        opt.step()
        ref.step()
        for i, (p, t) in enumerate(zip(ours, theirs)):
            where = f"param {i} {p.shape}, step {step}"
            mine, their = opt.state[p], ref.state[t]
            if step == 1:
                # The same state: uint8 codes of the parameter's shape, a float32 scale per
                # block of 256 (one for a 0-d parameter), for each moment.
                for key, their_key in STATE_KEYS.items():
                    assert mine[key].dtype == their[their_key].numpy().dtype, f"{key} {where}"
                    assert mine[key].shape == tuple(their[their_key].shape), f"{key} {where}"
                assert mine["exp_avg_codes"].shape == p.shape and mine["exp_avg_codes"].dtype == np.uint8
                assert mine["exp_avg_absmax"].shape == (math.ceil(max(p.data.size, 1) / BLOCK),)
                assert mine["exp_avg_absmax"].dtype == np.float32
            assert their["step"] == step
            for key in ("exp_avg_codes", "exp_avg_sq_codes"):
                assert_same(mine[key], their[STATE_KEYS[key]], rtol=0, err_msg=f"{key} {where}")
            for key in ("exp_avg_absmax", "exp_avg_sq_absmax"):
                assert_same(mine[key], their[STATE_KEYS[key]], rtol=BNB_SCALE_RTOL, err_msg=f"{key} {where}")
            assert_same(p.data, t, rtol=0, atol=BNB_PARAM_ATOL, err_msg=where)
