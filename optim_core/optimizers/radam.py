"""RAdam: Adam that takes plain momentum steps until its variance estimate can be trusted."""

from __future__ import annotations

import numpy as np

from optim_core.optimizer import Optimizer, apply_weight_decay, elementwise_bytes, sqrt, zeros_like
from optim_core.optimizers import _hypers as H
from optim_core.optimizers.adam import update_moments
from optim_core.entries import OptimizerInfo


def radam_init(param, **_):
    return {"exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}


def radam_update(param, grad, state, step, *, lr, beta1, beta2, eps, weight_decay=0.0,
                 decoupled_weight_decay=False):
    r"""One RAdam step, in place, exactly as torch.optim.RAdam.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\qquad
        \hat m_t = m_t / (1-\beta_1^t)\\
        \rho_\infty = \frac{2}{1-\beta_2} - 1,\qquad
        \rho_t = \rho_\infty - \frac{2t\beta_2^t}{1-\beta_2^t},\qquad
        r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}\\
        \theta_t = \theta_{t-1} - \eta\,\hat m_t \cdot
                   \begin{cases} r_t \sqrt{1-\beta_2^t} / (\sqrt{v_t} + \epsilon) & \rho_t > 5\\
                                 1 & \text{otherwise}\end{cases}

    Weight decay is L2 (added to ``g``) or, decoupled, ``θ ← θ(1 - ηλ)`` first.
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    param, g = apply_weight_decay(param, grad, lr, weight_decay, decoupled_weight_decay)
    m, v = update_moments(state["exp_avg"], state["exp_avg_sq"], g, beta1, beta2)
    state["exp_avg"], state["exp_avg_sq"] = m, v
    bias1 = 1 - beta1**step
    bias2 = 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias2
    update = m / bias1 * lr
    if isinstance(rho_t, float):
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            update *= bias2**0.5 / (sqrt(v) + eps)
            update *= rect
        param -= update
        return param
    # A sweep over beta2: each trajectory switches to the rectified step at its own t.
    # Rows still below the switch get a harmless r = 1 (rho = 6 in both places), not the
    # square root of a negative number or a division by zero at rho_inf = 2 or 4.
    on = rho_t > 5.0
    rho_t = np.where(on, rho_t, 6.0)
    rho_inf = np.where(on, rho_inf, 6.0)
    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    param -= np.where(on, update * (bias2**0.5 / (np.sqrt(v) + eps)) * rect, update)
    return param


class RAdam(Optimizer):
    """torch.optim.RAdam: ``RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    decoupled_weight_decay=False, maximize=False)``."""


INFO = OptimizerInfo(
    name="RAdam",
    cls=RAdam,
    update=radam_update,
    init_state=radam_init,
    hypers=(
        *H.adam_family(1e-3),
        H.DECOUPLED,
        H.MAXIMIZE,
    ),
    latex=(
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2\\"
        r"\rho_\infty = \frac{2}{1-\beta_2} - 1,\quad \rho_t = \rho_\infty - \frac{2t\,\beta_2^t}{1-\beta_2^t}\\"
        r"r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\,\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\,\rho_t}}\\"
        r"\theta_t = \theta_{t-1} - \eta\, \frac{m_t}{1-\beta_1^t}\cdot\begin{cases} r_t\, "
        r"\dfrac{\sqrt{1-\beta_2^t}}{\sqrt{v_t} + \epsilon} & \rho_t > 5\\ 1 & \text{otherwise}\end{cases}"
    ),
    state_bytes=elementwise_bytes(2),
    state_note="Same as Adam: m and v, 8 bytes per float32 parameter.",
    paper="Liu et al. 2020, 'On the Variance of the Adaptive Learning Rate and Beyond', ICLR 2020, "
          "arXiv:1908.03265",
    summary="Adam with a built-in warm-up: SGD-with-momentum steps for the first few iterations (5 with "
            "β₂ = 0.999), then Adam steps scaled by the rectifier r_t. Used where Adam needs a warm-up.",
    family="adaptive",
    runs_on_floats=True,
    torch_twin=True,
)
