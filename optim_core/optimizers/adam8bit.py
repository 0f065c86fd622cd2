"""8-bit Adam: both moments stored as one byte each, with block-wise dynamic quantization.

As bitsandbytes' ``Adam8bit``: each moment is cut into blocks of ``block_size`` values;
a block keeps its largest magnitude (``absmax``, float32) and every value as the index
(uint8) of the nearest entry of a 256-value codebook of ``value / absmax``. The codebook
is "dynamic": like a float with a 7-decade exponent, dense near 0 and sparse near 1, so
small moments are not all flushed to zero. Each step dequantizes, takes an ordinary Adam
step at full precision and quantizes the new moments again.

The pure helpers :func:`quantize_blockwise` / :func:`dequantize_blockwise` and the
codebooks :data:`SIGNED_CODE` / :data:`UNSIGNED_CODE` are public for the tests and the app.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optim_core.optimizer import Optimizer, Parameter, apply_update, nonzero
from optim_core.optimizers import _hypers as H
from optim_core.registry import Hyper, OptimizerInfo

BLOCK_SIZES = (64, 128, 256, 512, 1024, 2048, 4096)


def dynamic_codebook(signed: bool) -> np.ndarray:
    """The 256 sorted float32 values of bitsandbytes' dynamic map, in ``[-1, 1]`` or ``[0, 1]``.

    Decade ``10^(i-6)`` for ``i = 0..6`` gets ``2^i`` evenly spaced values (signed: and
    their negatives) or ``2^(i+1)`` (unsigned: the sign bit buys precision instead);
    plus 0 and 1. The most negative signed value is about -0.993, not -1.
    """
    values = [0.0, 1.0]
    for i in range(7):
        n = 2**i if signed else 2 ** (i + 1)
        edges = np.linspace(0.1, 1.0, n + 1)
        means = (edges[:-1] + edges[1:]) / 2 * 10.0 ** (i - 6)
        values += list(means) + (list(-means) if signed else [])
    code = np.sort(np.array(values, dtype=np.float32))
    assert code.size == 256
    return code


SIGNED_CODE = dynamic_codebook(signed=True)
UNSIGNED_CODE = dynamic_codebook(signed=False)
_SIGNED_ZERO = int(np.flatnonzero(SIGNED_CODE == 0)[0])
# Nearest-code lookup: the number of midpoints below a value is its nearest code's index.
_MIDPOINTS = {id(c): (c[1:].astype(np.float64) + c[:-1]) / 2 for c in (SIGNED_CODE, UNSIGNED_CODE)}
_AS_FLOAT64 = {id(c): c.astype(np.float64) for c in (SIGNED_CODE, UNSIGNED_CODE)}


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

    Each value becomes the code nearest to ``x / absmax`` of its block. With a signed
    code a negative value never becomes ``+0`` (bitsandbytes keeps the sign of the
    momentum the same way): it takes the smallest negative code instead.
    """
    x = np.asarray(x)
    blocks, n, pad = _blocks(x, batch_ndim, block_size)
    absmax = np.abs(blocks).max(axis=-1).astype(np.float32)
    scaled = blocks / np.where(absmax > 0, absmax, np.float32(1))[..., None]
    idx = np.searchsorted(_MIDPOINTS[id(code)] if id(code) in _MIDPOINTS else (code[1:] + code[:-1]) / 2, scaled)
    if code[0] < 0:
        idx -= (scaled < 0) & (code[idx] >= 0)
    return _unblock(idx.astype(np.uint8), x.shape, n, pad), absmax


def dequantize_blockwise(codes, absmax, code: np.ndarray = SIGNED_CODE, block_size: int = 256, batch_ndim: int = 0,
                         dtype=np.float64) -> np.ndarray:
    """The values ``code[codes] * absmax`` of :func:`quantize_blockwise`'s output, as ``dtype``."""
    codes = np.asarray(codes)
    blocks, n, pad = _blocks(codes, batch_ndim, block_size)
    table = _AS_FLOAT64[id(code)] if id(code) in _AS_FLOAT64 else np.asarray(code, dtype=np.float64)
    values = table[blocks] * np.asarray(absmax, dtype=np.float64)[..., None]
    return _unblock(values, codes.shape, n, pad).astype(dtype, copy=False)


def adam8bit_init(param, *, block_size=256, batch_ndim=0, **_):
    shape = absmax_shape(np.shape(param), batch_ndim, block_size)
    return {
        "exp_avg_codes": np.full(np.shape(param), _SIGNED_ZERO, dtype=np.uint8),
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
        \theta_t = \Big(\theta_{t-1} - \frac{\eta}{1-\beta_1^t}
                   \frac{m_t}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}\Big)(1-\eta\lambda),\qquad
        \bar m_t = Q(m_t),\ \bar v_t = Q(v_t)

    The step itself uses the fresh ``m_t, v_t``; only what is kept for the next step is
    rounded. Weight decay is decoupled and applied after the step, as bitsandbytes does.
    Blocks (and their scales) stay within each of the first ``batch_ndim`` problems.
    ``error_out``, if a dict, receives the max and mean absolute rounding error of each
    stored moment at this step.
    """
    if state["exp_avg_absmax"].shape != absmax_shape(param.shape, batch_ndim, block_size):
        if step > 1:
            raise ValueError("Adam8bit state was built for another block_size or batch_ndim than this step's")
        state.update(adam8bit_init(param, block_size=block_size, batch_ndim=batch_ndim))
    args = (block_size, batch_ndim)
    m = dequantize_blockwise(state["exp_avg_codes"], state["exp_avg_absmax"], SIGNED_CODE, *args, dtype=param.dtype)
    v = dequantize_blockwise(state["exp_avg_sq_codes"], state["exp_avg_sq_absmax"], UNSIGNED_CODE, *args,
                             dtype=param.dtype)
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * (grad * grad)
    denom = np.sqrt(v)
    denom /= np.sqrt(1 - beta2**step)
    denom += eps
    param -= (lr / (1 - beta1**step)) * m / denom
    if nonzero(weight_decay):
        param *= 1 - lr * weight_decay
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
    Unlike bitsandbytes, small tensors are quantized too (it keeps tensors under 4096
    values in 32 bits) and the arithmetic is in the parameter's dtype.
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
        r"m_t = \beta_1\, Q^{-1}(\bar m_{t-1}) + (1-\beta_1)\, g_t,\quad "
        r"v_t = \beta_2\, Q^{-1}(\bar v_{t-1}) + (1-\beta_2)\, g_t^2\\"
        r"\theta_t = \theta_{t-1} - \eta\, \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}\\"
        r"\bar m_t = Q(m_t),\quad \bar v_t = Q(v_t)\qquad"
        r"Q(x)_i = \operatorname{argmin}_{c \in \text{code}} \big|c - x_i / \max_{j \in \text{block}(i)} |x_j|\big|"
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
