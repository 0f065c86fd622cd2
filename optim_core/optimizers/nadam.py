"""NAdam: Adam with Nesterov momentum (Dozat's schedule of the momentum coefficient)."""

from __future__ import annotations

from optim_core.optimizer import Optimizer, apply_weight_decay, elementwise_bytes, sqrt_, zeros_like
from optim_core.optimizers import _hypers as H
from optim_core.optimizers.adam import update_moments
from optim_core.entries import Hyper, OptimizerInfo


def nadam_init(param, **_):
    # torch keeps the running product of the momentum coefficients as one scalar per
    # parameter; a sweep over beta1 or momentum_decay turns it into a (B, 1) array.
    return {"mu_product": 1.0, "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}


def nadam_update(param, grad, state, step, *, lr, beta1, beta2, eps, weight_decay=0.0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, batch_ndim=0):
    r"""One NAdam step, in place, exactly as torch.optim.NAdam.

    .. math::
        \mu_t = \beta_1\bigl(1 - \tfrac12\, 0.96^{t\psi}\bigr),\qquad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2\\
        \theta_t = \theta_{t-1} - \eta\Bigl(\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i}\, g_t
                   + \frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i}\, m_t\Bigr)
                   \Big/ \Bigl(\sqrt{v_t/(1-\beta_2^t)} + \epsilon\Bigr)

    Weight decay is L2 (added to ``g``) or, decoupled, ``θ ← θ(1 - ηλ)`` first.
    ``batch_ndim`` is accepted and unused: the update is elementwise but for
    ``mu_product``, which is why the kernel is never run slice by slice.
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    param, g = apply_weight_decay(param, grad, lr, weight_decay, decoupled_weight_decay)
    bias2 = 1 - beta2**step
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    # Rebound, not multiplied in place: the product is a float until a sweep broadcasts it.
    mu_product = state["mu_product"] = state["mu_product"] * mu
    m, v = update_moments(state["exp_avg"], state["exp_avg_sq"], g, beta1, beta2)
    state["exp_avg"], state["exp_avg_sq"] = m, v
    denom = sqrt_(v / bias2)
    denom += eps
    param -= lr * (1.0 - mu) / (1.0 - mu_product) * g / denom
    param -= lr * mu_next / (1.0 - mu_product * mu_next) * m / denom
    return param


class NAdam(Optimizer):
    """torch.optim.NAdam: ``NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False)``."""


INFO = OptimizerInfo(
    name="NAdam",
    cls=NAdam,
    update=nadam_update,
    init_state=nadam_init,
    hypers=(
        *H.adam_family(2e-3),
        Hyper("momentum_decay", 4e-3, low=0.0, high=0.1, label="momentum decay ψ",
              help="How fast the momentum coefficient μ_t warms up from β₁/2 towards β₁.", valid="[0, inf)"),
        H.DECOUPLED,
        H.MAXIMIZE,
    ),
    latex=(
        r"g_t = \nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}\\"
        r"\mu_t = \beta_1\left(1 - \tfrac{1}{2}\, 0.96^{t\psi}\right)\\"
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2\\"
        r"\hat m_t = \frac{\mu_{t+1}\, m_t}{1 - \prod_{i=1}^{t+1}\mu_i}"
        r" + \frac{(1-\mu_t)\, g_t}{1 - \prod_{i=1}^{t}\mu_i},\quad \hat v_t = \frac{v_t}{1-\beta_2^t}\\"
        r"\theta_t = \theta_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}"
    ),
    state_bytes=elementwise_bytes(2),
    state_note="Same as Adam: m and v, 8 bytes per float32 parameter. The running product of the momentum "
               "coefficients is one number per tensor, kept like the step count and not counted.",
    paper="Dozat 2016, 'Incorporating Nesterov Momentum into Adam', ICLR 2016 workshop (no arXiv version); "
          "decoupled weight decay: Loshchilov & Hutter 2019, arXiv:1711.05101",
    summary="Adam whose momentum looks one step ahead (Nesterov), often a little faster early on. A drop-in "
            "Adam alternative (Keras ships it); rarely the default for large models.",
    family="adaptive",
    # mu_product must advance once per step, so the kernel sees whole tensors.
    elementwise=False,
    runs_on_floats=True,
    torch_twin=True,
)
