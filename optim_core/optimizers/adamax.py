"""Adamax: Adam with the second moment replaced by an exponentially weighted infinity norm."""

from __future__ import annotations

from optim_core.optimizer import Optimizer, elementwise_bytes, l2_grad, maximum_, zeros_like
from optim_core.optimizers import _hypers as H
from optim_core.entries import OptimizerInfo


def adamax_init(param, **_):
    return {"exp_avg": zeros_like(param), "exp_inf": zeros_like(param)}


def adamax_update(param, grad, state, step, *, lr, beta1, beta2, eps, weight_decay=0.0):
    r"""One Adamax step, in place, exactly as torch.optim.Adamax.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
        u_t = \max(\beta_2 u_{t-1},\ |g_t| + \epsilon),\qquad
        \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\, \frac{m_t}{u_t}

    ``g_t`` includes coupled weight decay ``λθ``. Unlike the paper, torch adds ``ε``
    inside the max, so ``u_t`` stays positive (for ``ε > 0``) even where ``g`` has always been 0.
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    g = l2_grad(grad, param, weight_decay)
    m, u = state["exp_avg"], state["exp_inf"]
    m += (1 - beta1) * (g - m)
    u *= beta2
    abs_g = abs(g)
    abs_g += eps
    u = maximum_(u, abs_g)
    state["exp_avg"], state["exp_inf"] = m, u
    param -= lr / (1 - beta1**step) * m / u
    return param


class Adamax(Optimizer):
    """torch.optim.Adamax: ``Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    maximize=False)``."""


INFO = OptimizerInfo(
    name="Adamax",
    cls=Adamax,
    update=adamax_update,
    init_state=adamax_init,
    hypers=(
        H.lr(2e-3),
        H.beta1(0.9),
        H.beta2(0.999, label="β₂ (decay of the max)"),
        H.eps(1e-8),
        H.weight_decay(0.0),
        H.MAXIMIZE,
    ),
    latex=(
        r"g_t = \nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}\\"
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t\\"
        r"u_t = \max\left(\beta_2\, u_{t-1},\ |g_t| + \epsilon\right)\\"
        r"\theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\, \frac{m_t}{u_t}"
    ),
    state_bytes=elementwise_bytes(2),
    state_note="Two buffers the size of the parameters (m and the running max u): 8 bytes per float32 parameter.",
    paper="Kingma & Ba 2015, 'Adam: A Method for Stochastic Optimization', section 7.1, arXiv:1412.6980",
    summary="Adam's ∞-norm variant: the step is bounded by η/(1-β₁ᵗ) and a single huge gradient is forgotten "
            "at rate β₂ instead of dominating an average. Sometimes preferred for embeddings and sparse updates.",
    family="adaptive",
    runs_on_floats=True,
    torch_twin=True,
)
