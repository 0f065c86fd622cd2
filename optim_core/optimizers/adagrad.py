"""Adagrad: a per-coordinate step size from the sum of all squared gradients so far."""

from __future__ import annotations

from optim_core.optimizer import Optimizer, elementwise_bytes, l2_grad, sqrt, zeros_like
from optim_core.optimizers import _hypers as H
from optim_core.entries import Hyper, OptimizerInfo


def adagrad_init(param, *, initial_accumulator_value=0.0, **_):
    total = zeros_like(param)
    # A sweep gives one starting value per trajectory, shaped (B, 1).
    total += initial_accumulator_value
    return {"sum": total}


def adagrad_update(param, grad, state, step, *, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                   eps=1e-10):
    r"""One Adagrad step, in place, exactly as torch.optim.Adagrad.

    .. math::
        g_t = \nabla f(\theta_{t-1}) + \lambda\theta_{t-1},\qquad
        \tilde\eta_t = \frac{\eta}{1 + (t-1)\,\delta},\qquad
        s_t = s_{t-1} + g_t^2,\qquad
        \theta_t = \theta_{t-1} - \tilde\eta_t\,\frac{g_t}{\sqrt{s_t} + \epsilon}

    ``initial_accumulator_value`` only matters to :func:`adagrad_init` (``s_0``).
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    g = l2_grad(grad, param, weight_decay)
    clr = lr / (1 + (step - 1) * lr_decay)
    total = state["sum"]
    total += g * g
    state["sum"] = total
    std = sqrt(total)
    std += eps
    param -= clr * g / std
    return param


class Adagrad(Optimizer):
    """torch.optim.Adagrad: ``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0,
    initial_accumulator_value=0, eps=1e-10, maximize=False)``."""


INFO = OptimizerInfo(
    name="Adagrad",
    cls=Adagrad,
    update=adagrad_update,
    init_state=adagrad_init,
    hypers=(
        H.lr(1e-2, low=1e-4, high=2.0),
        Hyper("lr_decay", 0.0, low=0.0, high=0.1, label="lr decay δ",
              help="Divides the learning rate by 1 + (t-1)δ at step t.", valid="[0, inf)"),
        H.weight_decay(0.0),
        Hyper("initial_accumulator_value", 0.0, low=0.0, high=1.0, label="initial accumulator s₀",
              help="Starting value of the sum of squared gradients; damps the first, largest steps.",
              valid="[0, inf)"),
        H.eps(1e-10, low=1e-12, high=1e-1),
        H.MAXIMIZE,
    ),
    latex=(
        r"g_t = \nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}\\"
        r"\tilde\eta_t = \frac{\eta}{1 + (t-1)\,\delta}\\"
        r"s_t = s_{t-1} + g_t^2\\"
        r"\theta_t = \theta_{t-1} - \tilde\eta_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}"
    ),
    state_bytes=elementwise_bytes(1),
    state_note="One buffer the size of the parameters (the running sum of squared gradients).",
    paper="Duchi, Hazan & Singer 2011, 'Adaptive Subgradient Methods for Online Learning and Stochastic "
          "Optimization', JMLR 12:2121-2159 (no arXiv version)",
    summary="Large steps for rarely-updated coordinates, small ones for frequent ones: still used for sparse "
            "features (embeddings, linear models). The ever-growing sum makes the step decay to zero on long runs.",
    family="adaptive",
    runs_on_floats=True,
    torch_twin=True,
)
