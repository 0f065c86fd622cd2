"""Adam, and AdamW (Adam with decoupled weight decay)."""

from __future__ import annotations

import functools
import math

from optim_core.optimizer import Optimizer, apply_weight_decay, maximum_, sqrt, zeros_like
from optim_core.optimizers import _hypers as H
from optim_core.entries import OptimizerInfo


def adam_init(param, *, amsgrad=False, **_):
    state = {"exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}
    if amsgrad:
        state["max_exp_avg_sq"] = zeros_like(param)
    return state


def update_moments(m, v, g, beta1, beta2):
    """Adam's two running means, in place: ``m ← m + (1-β₁)(g - m)`` (torch's lerp), ``v ← β₂v + (1-β₂)g²``.

    Returns ``(m, v)``: the same arrays, or the new values when they are floats.
    """
    m += (1 - beta1) * (g - m)
    v *= beta2
    v += (1 - beta2) * (g * g)
    return m, v


def adam_update(param, grad, state, step, *, lr, beta1, beta2, eps, weight_decay=0.0, amsgrad=False,
                decoupled_weight_decay=False):
    r"""One Adam step, in place, exactly as torch.optim.Adam / AdamW.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2\\
        \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,
                   \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    Weight decay is L2 (added to ``g``) or, decoupled, ``θ ← θ(1 - ηλ)`` first (AdamW).
    AMSGrad divides by the running maximum of ``v_t`` instead.
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    param, g = apply_weight_decay(param, grad, lr, weight_decay, decoupled_weight_decay)
    m, v = update_moments(state["exp_avg"], state["exp_avg_sq"], g, beta1, beta2)
    state["exp_avg"], state["exp_avg_sq"] = m, v
    bias1 = 1 - beta1**step
    bias2_sqrt = (1 - beta2**step) ** 0.5  # a Python float stays one (np.sqrt would box it)
    if amsgrad:
        v = state["max_exp_avg_sq"] = maximum_(state["max_exp_avg_sq"], v)
    denom = sqrt(v)
    denom /= bias2_sqrt
    denom += eps
    param -= (lr / bias1) * m / denom
    return param


def _adam_bytes(shape, itemsize, amsgrad=False, **_):
    return (3 if amsgrad else 2) * itemsize * math.prod(shape)


class Adam(Optimizer):
    """torch.optim.Adam: ``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    amsgrad=False, maximize=False, decoupled_weight_decay=False)``."""


class AdamW(Optimizer):
    """torch.optim.AdamW: Adam with decoupled weight decay, ``weight_decay=1e-2`` by default."""


def _adam_hypers(weight_decay: float, *extra):
    return (
        *H.adam_family(1e-3, weight_decay),
        H.flag("amsgrad", False, "AMSGrad", "Divide by the largest second moment seen so far (never shrink the denominator)."),
        *extra,
        H.MAXIMIZE,
    )


_ADAM_LATEX = (
    r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t\\"
    r"v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2\\"
    r"\hat m_t = \frac{m_t}{1-\beta_1^t},\quad \hat v_t = \frac{v_t}{1-\beta_2^t}\\"
)

INFOS = [
    OptimizerInfo(
        name="Adam",
        cls=Adam,
        update=adam_update,
        init_state=adam_init,
        hypers=_adam_hypers(0.0, H.DECOUPLED),
        latex=r"g_t = \nabla f(\theta_{t-1}) + \lambda\theta_{t-1}\\" + _ADAM_LATEX
        + r"\theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}",
        state_bytes=_adam_bytes,
        state_note="Two buffers the size of the parameters (m and v): 8 bytes per float32 parameter.",
        paper="Kingma & Ba 2015, 'Adam: A Method for Stochastic Optimization', arXiv:1412.6980",
        summary="The default adaptive method: momentum plus a per-coordinate step size from the gradient's "
                "running RMS. Robust to the lr; use AdamW instead when you want weight decay.",
        runs_on_floats=True,
        torch_twin=True,
    ),
    OptimizerInfo(
        name="AdamW",
        cls=AdamW,
        update=functools.partial(adam_update, decoupled_weight_decay=True),
        init_state=adam_init,
        hypers=_adam_hypers(1e-2),
        latex=r"\theta_{t-1} \leftarrow \theta_{t-1}(1-\eta\lambda)\\" + _ADAM_LATEX
        + r"\theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}",
        state_bytes=_adam_bytes,
        state_note="Same as Adam: m and v, 8 bytes per float32 parameter.",
        paper="Loshchilov & Hutter 2019, 'Decoupled Weight Decay Regularization', arXiv:1711.05101",
        summary="Adam whose weight decay shrinks the weights directly instead of passing through the adaptive "
                "denominator; the default for transformers (BERT, GPT, ViT).",
        runs_on_floats=True,
        torch_twin=True,
    ),
]
