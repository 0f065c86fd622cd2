"""Adafactor: a factored (row x column) second moment, relative steps and update clipping."""

from __future__ import annotations

import math

import numpy as np

from optim_core.optimizer import HyperparameterError, Optimizer, nonzero
from optim_core.optimizers import _hypers as H
from optim_core.entries import Hyper, OptimizerInfo

_SECOND_MOMENT_KEYS = ("exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col")


def _second_moment(param, factored: bool) -> dict:
    if factored:
        # Row means over the last axis, column means over the one before it.
        return {"exp_avg_sq_row": np.zeros(param.shape[:-1], param.dtype),
                "exp_avg_sq_col": np.zeros(param.shape[:-2] + param.shape[-1:], param.dtype)}
    return {"exp_avg_sq": np.zeros_like(param)}


def adafactor_init(param, *, beta1=None, batch_ndim=0, **_):
    """State for one tensor (``batch_ndim=0``) or a batch of problems.

    A tensor with at least two dimensions after the batch axes gets a factored second
    moment; the kernel rebuilds this layout on its first step if it was built for
    another ``batch_ndim`` (the engine's ``(B, 2)`` batch is a batch of vectors).
    """
    state = _second_moment(param, np.ndim(param) - batch_ndim >= 2)
    if beta1 is not None:
        state["exp_avg"] = np.zeros_like(param)
    return state


def _ensure_layout(param, state, step, factored, beta1):
    wanted = ("exp_avg_sq_row", "exp_avg_sq_col") if factored else ("exp_avg_sq",)
    if not all(k in state for k in wanted):
        if step > 1:
            raise ValueError("Adafactor state was built for a different batch_ndim than this step's")
        for k in _SECOND_MOMENT_KEYS:
            state.pop(k, None)
        state.update(_second_moment(param, factored))
    if beta1 is not None and state.get("exp_avg") is None:
        state["exp_avg"] = np.zeros_like(param)


def _drop_last_axis(x, ndim):
    # A hyperparameter array shaped like the parameter, e.g. (B, 1, 1), broadcast
    # against the (B, n) row or (B, m) column statistics.
    return x[..., 0] if np.ndim(x) == ndim and ndim > 0 else x


def adafactor_update(param, grad, state, step, *, lr=None, eps1=1e-30, eps2=1e-3, clip_threshold=1.0,
                     decay_rate=-0.8, beta1=None, weight_decay=0.0, scale_parameter=True, relative_step=True,
                     warmup_init=False, batch_ndim=0):
    r"""One Adafactor step, in place, as transformers' ``Adafactor`` (Shazeer & Stern 2018).

    .. math::
        \hat\beta_{2,t} = 1 - t^{c},\qquad
        R_t = \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t})\,\mathrm{mean}_{\text{cols}}(g_t^2+\epsilon_1),\quad
        C_t = \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t})\,\mathrm{mean}_{\text{rows}}(g_t^2+\epsilon_1)\\
        \hat V_t = \frac{R_t C_t^\top}{\mathrm{mean}(R_t)},\qquad
        U_t = \frac{g_t}{\sqrt{\hat V_t}},\qquad
        \hat U_t = \frac{U_t}{\max(1, \mathrm{RMS}(U_t)/d)}\\
        \alpha_t = \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\,\min(10^{-2}, 1/\sqrt t),\qquad
        \theta_t = \theta_{t-1}(1 - \lambda\alpha_t) - \alpha_t \hat U_t

    Vectors (and scalars) keep an unfactored ``V_t``. ``lr`` replaces the relative step
    ``min(10^{-2}, 1/√t)`` when ``relative_step`` is off (``warmup_init`` uses
    ``min(10^{-6} t, 1/√t)``); ``scale_parameter`` multiplies it by ``max(ε₂, RMS(θ))``.
    With ``beta1`` an EMA of the scaled, clipped update is kept and applied instead.
    RMS and the row/column means never mix the first ``batch_ndim`` (independent) axes.
    """
    factored = param.ndim - batch_ndim >= 2
    _ensure_layout(param, state, step, factored, beta1)
    axes = tuple(range(batch_ndim, param.ndim))
    if relative_step:
        rel = min(1e-6 * step if warmup_init else 1e-2, 1.0 / math.sqrt(step))
    else:
        rel = lr
    if scale_parameter:
        alpha = rel * np.maximum(eps2, np.sqrt(np.mean(param * param, axis=axes, keepdims=True)))
    else:
        alpha = rel
    beta2t = 1.0 - float(step) ** np.asarray(decay_rate, dtype=float)
    sq = grad * grad
    sq += eps1
    if factored:
        row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
        b = _drop_last_axis(beta2t, param.ndim)
        row *= b
        row += (1 - b) * sq.mean(axis=-1)
        col *= b
        col += (1 - b) * sq.mean(axis=-2)
        r_factor = 1.0 / np.sqrt(row / row.mean(axis=-1, keepdims=True))
        update = r_factor[..., :, None] * (1.0 / np.sqrt(col))[..., None, :] * grad
    else:
        v = state["exp_avg_sq"]
        v *= beta2t
        v += (1 - beta2t) * sq
        update = grad / np.sqrt(v)
    rms = np.sqrt(np.mean(update * update, axis=axes, keepdims=True))
    update /= np.maximum(rms / clip_threshold, 1.0)
    update *= alpha
    if beta1 is not None:
        m = state["exp_avg"]
        m *= beta1
        m += (1 - beta1) * update
        update = m
    if nonzero(weight_decay):
        param += (-weight_decay * alpha) * param
    param -= update


def _adafactor_bytes(shape, itemsize, beta1=None, **_):
    n = math.prod(shape)
    if len(shape) >= 2:
        second = math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1]
    else:
        second = n
    return itemsize * (second + (n if beta1 is not None else 0))


class Adafactor(Optimizer):
    """transformers.Adafactor: ``Adafactor(params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0,
    decay_rate=-0.8, beta1=None, weight_decay=0.0, scale_parameter=True, relative_step=True,
    warmup_init=False, maximize=False)``.

    ``lr=None`` with ``relative_step=True`` (the default) computes the step size from the
    step count; for an external lr or schedule pass ``lr`` with ``relative_step=False``
    (and usually ``scale_parameter=False``). ``eps`` is stored as ``eps1``/``eps2`` in the
    registry and unpacked like ``betas``. Every configuration matches
    ``transformers.optimization.Adafactor`` step for step (tested in float64; it upcasts
    only float16 and bfloat16 parameters); ``maximize`` is ours.

    ``torch.optim.Adafactor(lr, beta2_decay, eps, d, weight_decay)`` is a different
    parametrisation of the same algorithm, and differs in four ways:

    * its step size is always relative and scaled, ``min(lr, 1/√t)·max(ε₂, RMS(θ))``:
      torch's ``lr`` is the cap of the relative step, which is fixed at 1e-2 here. So
      ``lr=None`` (relative_step, scale_parameter) reproduces torch's ``lr=1e-2``; for
      another torch ``lr`` the closest is ``lr=ℓ, relative_step=False`` (scaled), equal
      only while ``1/√t ≥ ℓ`` (``t ≤ 1/ℓ²``); ``scale_parameter=False`` has no equivalent;
    * its weight decay is ``θ(1 - lr·λ)``, here ``θ(1 - α_t λ)`` with the scaled step size
      ``α_t``: the two agree only with ``weight_decay=0``;
    * it keeps no first moment (``beta1=None`` only) and requires ``d ≥ 1``;
    * ``ε₁`` is a floor (``V̂ ≥ ε₁²``, ``mean(R) ≥ ε₁``; default the dtype's machine
      epsilon) rather than an addend to ``g²``; they differ only where ``g²`` is near
      ``ε₁``, and not at all with ``eps1 = 0`` on both sides.

    With ``beta1=None, weight_decay=0`` and ``clip_threshold``, ``decay_rate``, ``eps``
    mapped to ``d``, ``beta2_decay``, ``eps`` the two agree to rounding (tested in float64).
    """

    packed = {"eps": ("eps1", "eps2")}

    @classmethod
    def check_relations(cls, hp):
        if hp["lr"] is not None and hp["relative_step"]:
            raise HyperparameterError("Cannot combine manual `lr` and `relative_step=True` options")
        if hp["lr"] is None and not hp["relative_step"]:
            raise HyperparameterError("`relative_step=False` requires a manual `lr`")
        if hp["warmup_init"] and not hp["relative_step"]:
            raise HyperparameterError("`warmup_init=True` requires `relative_step=True`")


INFO = OptimizerInfo(
    name="Adafactor",
    cls=Adafactor,
    update=adafactor_update,
    init_state=adafactor_init,
    hypers=(
        Hyper("lr", None, low=1e-4, high=1.0, log=True, label="learning rate η",
              help="External step size; None uses the relative step min(1e-2, 1/√t) (needs relative_step).",
              valid="[0, inf)"),
        Hyper("eps1", 1e-30, low=1e-40, high=1e-10, log=True, label="ε₁",
              help="Added to the squared gradient before averaging.", valid="[0, inf)"),
        Hyper("eps2", 1e-3, low=1e-5, high=1e-1, log=True, label="ε₂",
              help="Smallest parameter RMS used to scale the step (so zero-initialised weights still move).",
              valid="[0, inf)"),
        Hyper("clip_threshold", 1.0, low=0.1, high=10.0, log=True, label="clip threshold d",
              help="Largest RMS of the normalised update before it is scaled down.", valid="(0, inf)"),
        Hyper("decay_rate", -0.8, low=-1.0, high=-0.3, label="decay rate c",
              help="β₂ at step t is 1 - t^c: short memory at first, growing with t.", valid="(-inf, 0]"),
        Hyper("beta1", None, low=0.0, high=0.999, label="β₁",
              help="Momentum on the update; None keeps no first moment (the memory-saving default).",
              valid="[0, 1)", role="cycled_momentum"),
        H.weight_decay(0.0),
        H.flag("scale_parameter", True, "scale by parameter RMS",
               "Multiply the step size by max(ε₂, RMS(θ)): steps relative to the weights' scale."),
        H.flag("relative_step", True, "relative step",
               "Use the step size min(1e-2, 1/√t) instead of an external lr."),
        H.flag("warmup_init", False, "warm-up init",
               "Relative step min(1e-6·t, 1/√t): a linear warm-up (requires relative_step)."),
        H.MAXIMIZE,
    ),
    latex=(
        r"\hat\beta_{2,t} = 1 - t^{c}\\"
        r"R_t = \hat\beta_{2,t} R_{t-1} + (1-\hat\beta_{2,t})\,(g_t^2+\epsilon_1)\,\mathbf 1_m,\quad "
        r"C_t = \hat\beta_{2,t} C_{t-1} + (1-\hat\beta_{2,t})\,\mathbf 1_n^\top (g_t^2+\epsilon_1)\\"
        r"\hat V_t = R_t C_t / (\mathbf 1_n^\top R_t),\qquad U_t = g_t / \sqrt{\hat V_t}\\"
        r"\hat U_t = U_t / \max\!\big(1, \mathrm{RMS}(U_t)/d\big)\\"
        r"\alpha_t = \max\!\big(\epsilon_2, \mathrm{RMS}(\theta_{t-1})\big)\,\min\!\big(10^{-2}, 1/\sqrt{t}\big)\\"
        r"\theta_t = \theta_{t-1} - \alpha_t \hat U_t"
    ),
    state_bytes=_adafactor_bytes,
    state_note="For an n×m matrix only n + m numbers (row and column means of g²) instead of Adam's 2nm; vectors "
               "keep a full v. β₁ adds one full-size buffer.",
    paper="Shazeer & Stern 2018, 'Adafactor: Adaptive Learning Rates with Sublinear Memory Cost', arXiv:1804.04235",
    summary="Adam-like steps with a second moment stored as row and column averages, O(n+m) memory per matrix, "
            "and usually no momentum. Built for huge models (T5, PaLM were trained with it); its relative step "
            "and update clipping make it work without an lr search.",
    family="modern",
    elementwise=False,
)
