"""Lion: the sign of an interpolated momentum, with decoupled weight decay."""

from __future__ import annotations

from optim_core.optimizer import Optimizer, elementwise_bytes, nonzero, sign, zeros_like
from optim_core.optimizers import _hypers as H
from optim_core.entries import Hyper, OptimizerInfo


def lion_init(param, **_):
    return {"exp_avg": zeros_like(param)}


def lion_update(param, grad, state, step, *, lr, beta1, beta2, weight_decay=0.0):
    r"""One Lion step, in place, exactly as lion-pytorch's ``Lion``.

    .. math::
        \theta \leftarrow \theta(1-\eta\lambda),\qquad
        \theta_t = \theta - \eta\,\operatorname{sign}(\beta_1 m_{t-1} + (1-\beta_1) g_t),\qquad
        m_t = \beta_2 m_{t-1} + (1-\beta_2) g_t

    Two betas because the step looks at a *different* average (β₁, short) than the one
    it keeps (β₂, long). Every coordinate moves by exactly ``lr`` (or 0), so the step
    is as large as SGD's with a unit gradient: Lion wants a 3-10x smaller lr than Adam.
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    m = state["exp_avg"]
    if nonzero(weight_decay):
        param *= 1 - lr * weight_decay
    param -= lr * sign(m * beta1 + (1 - beta1) * grad)
    m *= beta2
    m += (1 - beta2) * grad
    state["exp_avg"] = m
    return param


class Lion(Optimizer):
    """lion_pytorch.Lion: ``Lion(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0, maximize=False)``.

    ``weight_decay`` is decoupled and multiplied by the lr (``θ ← θ(1 - lr·wd)``), so with
    Lion's small lr it must be 3-10x larger than AdamW's for the same pull.
    """


INFO = OptimizerInfo(
    name="Lion",
    cls=Lion,
    update=lion_update,
    init_state=lion_init,
    hypers=(
        H.lr(1e-4, low=1e-6, high=1e-1),
        Hyper("beta1", 0.9, low=0.0, high=0.999, label="β₁ (step)",
              help="Weight of the old momentum in the direction whose sign is taken this step.", valid="[0, 1)",
              role="cycled_momentum"),
        Hyper("beta2", 0.99, low=0.5, high=0.9999, label="β₂ (memory)",
              help="Decay of the momentum that is kept between steps (longer memory than β₁).", valid="[0, 1)"),
        H.weight_decay(0.0, high=2.0),
        H.MAXIMIZE,
    ),
    latex=(
        r"\theta_{t-1} \leftarrow \theta_{t-1}(1-\eta\lambda)\\"
        r"c_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t\\"
        r"\theta_t = \theta_{t-1} - \eta\,\operatorname{sign}(c_t)\\"
        r"m_t = \beta_2 m_{t-1} + (1-\beta_2)\, g_t"
    ),
    state_bytes=elementwise_bytes(1),
    state_note="One momentum buffer the size of the parameters: 4 bytes per float32 parameter, half of Adam.",
    paper="Chen et al. 2023, 'Symbolic Discovery of Optimization Algorithms', arXiv:2302.06675",
    summary="Found by program search: a sign update of an interpolated momentum. Half of Adam's memory and no "
            "square roots; competitive with AdamW on vision transformers and language models when given a "
            "3-10x smaller lr and a correspondingly larger weight decay.",
    family="modern",
    runs_on_floats=True,
)
