"""8-bit Adam: both moments stored as one byte each, with block-wise dynamic quantization.

bitsandbytes' ``Adam8bit`` as its CPU backend computes it (``bitsandbytes`` 0.50,
``backends/cpu/ops.py``: ``_optimizer_update_8bit_blockwise_cpu`` with the native
``quantize_cpu``): each moment is cut into blocks of ``block_size`` values (bitsandbytes:
always 256); a block keeps its largest magnitude (``absmax``, float32) and every value as
the index (uint8) of an entry of a 256-value codebook of ``value / absmax``. The codebook
is "dynamic": like a float with a 7-decade exponent, dense near 0 and sparse near 1. The
first moment uses the signed codebook, the second (never negative) the unsigned one, which
spends the sign bit on precision. Each step dequantizes, takes an ordinary Adam step at
full precision and quantizes the new moments again.

Quantizing is not an exact nearest-code search: as bitsandbytes on the CPU, ``value / absmax``
(float32) is first rounded to one of 65536 evenly spaced points ``-1 + 2i/65535`` and that
point's nearest code (a 65536-entry table) is taken. The result is the nearest code except
within 1/65535 of a midpoint between two codes, and near 0: there is no point at 0, the two
nearest are ``±1/65535``, so a value below about 1.5e-5 of its block's scale is stored as
a code of about 2e-5 (signed: ``±2.125e-5``, of the value's sign except within 3e-8 of 0,
zero included, which become positive; unsigned: ``1.5625e-5``). The 7 signed codes of
magnitude below 1e-5 (0 included) and 10 of the unsigned ones are never produced; an
all-zero block alone gets index 0 (and scale 0). bitsandbytes' CUDA kernel differs here
(exact nearest code, and it keeps the first moment's sign), and in the order of weight
decay and the step (see :func:`adam8bit_update`).

Why the CPU rule: it is what ``bitsandbytes.optim.Adam8bit`` computes on a machine like the
classroom's, so every code can be checked against it bit for bit; and it never stores a
non-zero second moment as 0. With the exact nearest code, a ``v`` below about 1.5e-5 of
its block's scale becomes 0, and the next step divides ``m`` by ``ε`` alone: tried on the
reference tests' gradients (five decades of scale within a block) over 40 steps, that left
parameters up to 8.7 away from bitsandbytes' CPU kernel's (which stay within one float32
ulp of ours).

The pure helpers :func:`quantize_blockwise` / :func:`dequantize_blockwise` and the
codebooks :data:`SIGNED_CODE` / :data:`UNSIGNED_CODE` are public for the tests and the app.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optim_core.optimizer import Optimizer, Parameter, apply_update, nonzero
from optim_core.optimizers import _hypers as H
from optim_core.entries import Hyper, OptimizerInfo

BLOCK_SIZES = (64, 128, 256, 512, 1024, 2048, 4096)
_F32 = np.float32


def _linspace_float32(start: float, end: float, steps: int) -> np.ndarray:
    """``torch.linspace(start, end, steps, dtype=torch.float32)`` as torch computes it on the CPU.

    The step ``(end - start) / (steps - 1)`` in float32; the first half counts up from
    ``start``, the second down from ``end``, each value ``start + step·i`` with a single
    rounding (torch's kernel is a fused multiply-add on any CPU with FMA). In float64 that
    sum is exact (a 24-bit step times an index below 2^8 plus a float32 close in size), so
    rounding it once to float32 is the fused result.
    """
    start32, end32 = _F32(start), _F32(end)
    step = np.float64((end32 - start32) / _F32(steps - 1))
    i = np.arange(steps, dtype=np.float64)
    up = step * i + np.float64(start32)
    down = np.float64(end32) - step * (steps - 1 - i)
    return np.where(np.arange(steps) < steps // 2, up, down).astype(_F32)


def dynamic_codebook(signed: bool) -> np.ndarray:
    """The 256 sorted float32 values of ``bitsandbytes.functional.create_dynamic_map(signed)``.

    Decade ``10^(i-6)`` for ``i = 0..6`` gets ``2^i`` values (signed: and their negatives)
    or ``2^(i+1)`` (unsigned: the sign bit buys precision instead): the midpoints of
    ``linspace(0.1, 1, n + 1)`` times ``10^(i-6)``; plus 0 and 1. The most negative signed
    value is about -0.993, not -1. Computed in float32 step by step as bitsandbytes does
    (torch's float32 linspace, midpoints, then the float32 product with the decade's
    scale), so every entry is bit-identical to bitsandbytes'.
    """
    values = [np.array([0.0, 1.0], dtype=_F32)]
    for i in range(7):
        n = 2**i if signed else 2 ** (i + 1)
        edges = _linspace_float32(0.1, 1.0, n + 1)
        means = (edges[:-1] + edges[1:]) / _F32(2)
        scaled = _F32(10.0 ** (i - 6)) * means
        values += [scaled, -scaled] if signed else [scaled]
    code = np.sort(np.concatenate(values))
    assert code.shape == (256,) and code.dtype == _F32
    return code


SIGNED_CODE = dynamic_codebook(signed=True)
UNSIGNED_CODE = dynamic_codebook(signed=False)

# bitsandbytes' CPU quantizer rounds value/absmax to one of LUT_SIZE evenly spaced points of
# [-1, 1] and looks up the point's code in a table built once per codebook.
LUT_SIZE = 65536


def quantization_table(code: np.ndarray) -> np.ndarray:
    """bitsandbytes' ``build_quantize_lut``: the code index (uint8) of each of the 65536 points.

    Point ``i`` is ``-1 + 2i/65535`` (float32); its entry is the number of midpoints
    ``(code[j] + code[j+1]) / 2`` (float32) strictly below it, i.e. its nearest code with
    a tie going to the lower one.
    """
    code = np.asarray(code, dtype=_F32)
    midpoints = _F32(0.5) * (code[:-1] + code[1:])
    points = _F32(-1) + (_F32(2) * np.arange(LUT_SIZE, dtype=_F32)) / _F32(LUT_SIZE - 1)
    return np.searchsorted(midpoints, points, side="left").astype(np.uint8)


_TABLES = {id(c): quantization_table(c) for c in (SIGNED_CODE, UNSIGNED_CODE)}


def _table(code: np.ndarray) -> np.ndarray:
    return _TABLES[id(code)] if id(code) in _TABLES else quantization_table(code)


def _blocks(x: np.ndarray, batch_ndim: int, block_size: int):
    """``x`` as ``lead + (n_blocks, size)`` (zero-padded), its per-problem size and the padding.

    Blocks never span the first ``batch_ndim`` axes, so independent problems never share
    a scale; a problem smaller than ``block_size`` is one block.
    """
    lead = x.shape[:batch_ndim]
    n = math.prod(x.shape[batch_ndim:])
    size = max(1, min(block_size, n))
    n_blocks = -(-n // size)
    pad = n_blocks * size - n
    flat = x.reshape(lead + (n,))
    if pad:
        flat = np.concatenate([flat, np.zeros(lead + (pad,), x.dtype)], axis=-1)
    return flat.reshape(lead + (n_blocks, size)), n, pad


def _unblock(blocks: np.ndarray, shape, n: int, pad: int) -> np.ndarray:
    flat = blocks.reshape(blocks.shape[:-2] + (-1,))
    return (flat[..., :n] if pad else flat).reshape(shape)


def absmax_shape(shape, batch_ndim: int = 0, block_size: int = 256) -> tuple[int, ...]:
    n = math.prod(shape[batch_ndim:])
    return tuple(shape[:batch_ndim]) + (-(-n // max(1, min(block_size, n))),)


def quantize_blockwise(x, code: np.ndarray = SIGNED_CODE, block_size: int = 256, batch_ndim: int = 0):
    """``(codes, absmax)``: uint8 indices into ``code`` (shape of ``x``) and float32 scales per block.

    bitsandbytes' CPU ``quantize_blockwise``, in float32 (``x`` is rounded to float32
    first, as bitsandbytes keeps its moments): ``absmax`` is the block's largest ``|x|``
    (NaNs ignored), ``x · (1/absmax)`` is clamped to ``[-1, 1]``, mapped to the point
    ``⌊(x/absmax + 1)/2 · 65535 + 1/2⌋`` of :func:`quantization_table` and replaced by
    that point's code. A block of zeros gets ``absmax = 0`` and code index 0.
    """
    x = np.asarray(x, dtype=_F32)
    blocks, n, pad = _blocks(x, batch_ndim, block_size)
    absmax = np.fmax.reduce(np.abs(blocks), axis=-1, initial=_F32(0))
    empty = absmax == 0
    point = blocks * (_F32(1) / (absmax + empty))[..., None]  # an empty block divides by 1
    # bitsandbytes clamps x/absmax to [-1, 1] first. Here |x·(1/absmax)| <= 1 + 2^-23, and
    # for such values the float32 arithmetic below lands in [0, 65535.5] all the same.
    point += _F32(1)
    point *= _F32(0.5)
    point *= _F32(LUT_SIZE - 1)
    point += _F32(0.5)
    with np.errstate(invalid="ignore"):  # NaN (a NaN moment, or inf·0): garbage in, as in bitsandbytes
        idx = _table(code)[point.astype(np.uint16)]
    if empty.any():
        idx[empty] = 0
    return _unblock(idx, x.shape, n, pad), absmax


def dequantize_blockwise(codes, absmax, code: np.ndarray = SIGNED_CODE, block_size: int = 256, batch_ndim: int = 0,
                         dtype=np.float64) -> np.ndarray:
    """The values ``code[codes] · absmax`` of :func:`quantize_blockwise`'s output, as ``dtype``.

    The product is float32, as bitsandbytes computes it; converting it to ``dtype`` is exact.
    """
    codes = np.asarray(codes)
    blocks, n, pad = _blocks(codes, batch_ndim, block_size)
    values = np.asarray(code, dtype=_F32)[blocks] * np.asarray(absmax, dtype=_F32)[..., None]
    return _unblock(values, codes.shape, n, pad).astype(dtype, copy=False)


def adam8bit_init(param, *, block_size=256, batch_ndim=0, **_):
    """bitsandbytes' initial state: every code index 0 and every scale 0 (so both moments are 0)."""
    shape = absmax_shape(np.shape(param), batch_ndim, block_size)
    return {
        "exp_avg_codes": np.zeros(np.shape(param), dtype=np.uint8),
        "exp_avg_absmax": np.zeros(shape, dtype=np.float32),
        "exp_avg_sq_codes": np.zeros(np.shape(param), dtype=np.uint8),
        "exp_avg_sq_absmax": np.zeros(shape, dtype=np.float32),
    }


def adam8bit_update(param, grad, state, step, *, lr, beta1, beta2, eps, weight_decay=0.0, block_size=256,
                    batch_ndim=0, error_out: dict | None = None):
    r"""One 8-bit Adam step, in place: dequantize, Adam at full precision, quantize.

    .. math::
        m_t = \beta_1 Q^{-1}(\bar m_{t-1}) + (1-\beta_1) g_t,\quad
        v_t = \beta_2 Q^{-1}(\bar v_{t-1}) + (1-\beta_2) g_t^2\\
        \theta_t = \theta_{t-1}(1-\eta\lambda) - \frac{\eta}{1-\beta_1^t}\,
                   \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon},\qquad
        \bar m_t = Q(m_t),\ \bar v_t = Q(v_t)

    bitsandbytes' CPU kernel operation by operation (with each scalar rounded to the
    parameter's dtype as torch does): ``m·β1 + (1-β1)·g``, ``v·β2 + ((1-β2)·g)·g``,
    ``denom = sqrt(v) / sqrt(1-β2^t) + ε``, decoupled weight decay ``θ·(1-ηλ)`` *before*
    the step, then ``θ + (-η/(1-β1^t))·m / denom``. The step uses the fresh ``m_t, v_t``;
    only what is kept for the next step is rounded (:func:`quantize_blockwise`).
    bitsandbytes always computes in float32; here the arithmetic is in the parameter's
    dtype (the quantized moments are float32 values either way). Its CUDA kernel takes the
    same step written ``m/(sqrt(v) + ε·sqrt(1-β2^t))·sqrt(1-β2^t)/(1-β1^t)`` and decays
    the weights after it.
    Blocks (and their scales) stay within each of the first ``batch_ndim`` problems.
    ``error_out``, if a dict, receives the max and mean absolute rounding error of each
    stored moment at this step.
    """
    if state["exp_avg_absmax"].shape != absmax_shape(param.shape, batch_ndim, block_size):
        if step > 1:
            raise ValueError("Adam8bit state was built for another block_size or batch_ndim than this step's")
        state.update(adam8bit_init(param, block_size=block_size, batch_ndim=batch_ndim))
    dtype = param.dtype
    args = (block_size, batch_ndim)

    def scalar(value):  # a hyperparameter (number or sweep array) as the arithmetic's dtype
        return np.asarray(value, dtype=dtype)

    m = dequantize_blockwise(state["exp_avg_codes"], state["exp_avg_absmax"], SIGNED_CODE, *args, dtype=dtype)
    v = dequantize_blockwise(state["exp_avg_sq_codes"], state["exp_avg_sq_absmax"], UNSIGNED_CODE, *args,
                             dtype=dtype)
    m *= scalar(beta1)
    m += scalar(1 - beta1) * grad
    v *= scalar(beta2)
    v += (scalar(1 - beta2) * grad) * grad
    correction1 = 1 - beta1**step
    correction2 = np.sqrt(1 - beta2**step)
    denom = np.sqrt(v)
    denom /= scalar(correction2)
    denom += scalar(eps)
    if nonzero(weight_decay):
        param *= scalar(1 - lr * weight_decay)
    param += (scalar(-lr / correction1) * m) / denom
    for key, value, code in (("exp_avg", m, SIGNED_CODE), ("exp_avg_sq", v, UNSIGNED_CODE)):
        codes, absmax = quantize_blockwise(value, code, *args)
        state[key + "_codes"][...] = codes
        state[key + "_absmax"][...] = absmax
        if error_out is not None:
            err = np.abs(dequantize_blockwise(codes, absmax, code, *args) - value)
            error_out[key] = {"max": float(err.max(initial=0.0)), "mean": float(err.mean()) if err.size else 0.0}


def _adam8bit_bytes(shape, itemsize, block_size=256, **_):
    n = math.prod(shape)
    return 2 * n + 2 * 4 * -(-n // max(1, min(block_size, n)))


class Adam8bit(Optimizer):
    """bitsandbytes.optim.Adam8bit: ``Adam8bit(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0, block_size=256, maximize=False)``.

    ``quantization_error(p)`` reports the rounding error of the moments stored at the
    last step; ``dequantized_state(p)`` gives the moments as the next step will see them.
    The codebooks, the quantization and the order of operations are bitsandbytes' CPU
    kernel's (see the module docstring). Unlike bitsandbytes, small tensors are quantized
    too (it keeps tensors under 4096 values in 32 bits unless ``min_8bit_size=0``), the
    block size can be changed (bitsandbytes: always 256) and the arithmetic is in the
    parameter's dtype (bitsandbytes: float32).
    """

    def __init__(self, params, lr: Any = None, **hyperparams: Any):
        self._errors: dict[Parameter, dict] = {}
        super().__init__(params, lr, **hyperparams)

    def _update_one(self, p, grad, state, hp):
        errors = self._errors.setdefault(p, {})
        apply_update(self.info, p.data, grad, state, state["step"], {**hp, "error_out": errors})

    def _block_size(self, p) -> int:
        return next(g["block_size"] for g in self.param_groups if any(q is p for q in g["params"]))

    def quantization_error(self, p: Parameter) -> dict[str, dict[str, float]]:
        """``{"exp_avg": {"max": ..., "mean": ...}, "exp_avg_sq": {...}}`` at ``p``'s last step."""
        if p not in self._errors:
            raise KeyError(f"{p!r} has not been stepped yet")
        return {k: dict(v) for k, v in self._errors[p].items()}

    def dequantized_state(self, p: Parameter) -> dict[str, np.ndarray]:
        """The stored moments ``{"exp_avg": m, "exp_avg_sq": v}`` as full-precision arrays."""
        state, bs = self.state[p], self._block_size(p)
        return {
            "exp_avg": dequantize_blockwise(state["exp_avg_codes"], state["exp_avg_absmax"], SIGNED_CODE, bs),
            "exp_avg_sq": dequantize_blockwise(state["exp_avg_sq_codes"], state["exp_avg_sq_absmax"], UNSIGNED_CODE, bs),
        }


INFO = OptimizerInfo(
    name="Adam8bit",
    cls=Adam8bit,
    update=adam8bit_update,
    init_state=adam8bit_init,
    hypers=(
        *H.adam_family(1e-3),
        Hyper("block_size", 256, kind="choice", choices=BLOCK_SIZES, label="block size",
              help="Values sharing one float32 scale: smaller blocks, less rounding error, more scales."),
        H.MAXIMIZE,
    ),
    latex=(
        r"\theta_{t-1} \leftarrow \theta_{t-1}(1-\eta\lambda)\\"
        r"m_t = \beta_1\, Q^{-1}(\bar m_{t-1}) + (1-\beta_1)\, g_t,\quad "
        r"v_t = \beta_2\, Q^{-1}(\bar v_{t-1}) + (1-\beta_2)\, g_t^2\\"
        r"\theta_t = \theta_{t-1} - \eta\, \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}\\"
        r"\bar m_t = Q(m_t),\quad \bar v_t = Q(v_t)\\"
        r"Q(x)_i = \operatorname{nearest}_{c \in \text{code}}\Big(\tfrac{2}{65535}"
        r"\big\lfloor \tfrac{65535}{2}\big(\tfrac{x_i}{s_b} + 1\big) + \tfrac12 \big\rfloor - 1\Big),\ "
        r"s_b = \max_{j \in \text{block}(i)} |x_j|"
    ),
    state_bytes=_adam8bit_bytes,
    state_note="One byte for m and one for v per parameter, plus two float32 scales per block: "
               "2 + 8/256 ≈ 2.03 bytes per parameter instead of Adam's 8.",
    paper="Dettmers, Lewis, Shleifer & Zettlemoyer 2022, '8-bit Optimizers via Block-wise Quantization', "
          "arXiv:2110.02861",
    summary="Adam with its two moments stored in 8 bits: a quarter of Adam's optimizer memory for practically "
            "the same training curve. The usual choice for fine-tuning large language models on one GPU "
            "(often with LoRA or QLoRA).",
    family="modern",
    elementwise=False,
)
