"""RMSprop: divide by a running RMS of the gradient, optionally centred and with momentum."""

from __future__ import annotations

import math

import numpy as np

from optim_core.optimizer import Optimizer, l2_grad, sqrt, sqrt_, zeros_like
from optim_core.optimizers import _hypers as H
from optim_core.entries import Hyper, OptimizerInfo


def _uses_momentum(momentum) -> bool:
    # A sweep (an array) always takes the buffer path: where μ = 0 it gives b_t = g_t / d_t,
    # the plain step, so rows without momentum move as they would alone (to the last ulp).
    return isinstance(momentum, np.ndarray) or momentum > 0


def rmsprop_init(param, *, momentum=0.0, centered=False, **_):
    state = {"square_avg": zeros_like(param)}
    if _uses_momentum(momentum):
        state["momentum_buffer"] = zeros_like(param)
    if centered:
        state["grad_avg"] = zeros_like(param)
    return state


def rmsprop_update(param, grad, state, step, *, lr, alpha, eps, weight_decay=0.0, momentum=0.0, centered=False):
    r"""One RMSprop step, in place, exactly as torch.optim.RMSprop.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g_t^2,\qquad
        \bar g_t = \alpha \bar g_{t-1} + (1-\alpha) g_t \;(\text{centred only})\\
        d_t = \sqrt{v_t - \bar g_t^2} + \epsilon \;\text{ or }\; \sqrt{v_t} + \epsilon,\qquad
        b_t = \mu b_{t-1} + g_t / d_t,\qquad
        \theta_t = \theta_{t-1} - \eta\, b_t \;(\text{or } \eta\, g_t / d_t \text{ when } \mu = 0)

    ``g_t`` includes coupled weight decay ``λθ``.
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    g = l2_grad(grad, param, weight_decay)
    square_avg = state["square_avg"]
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    state["square_avg"] = square_avg
    if centered:
        grad_avg = state["grad_avg"]
        grad_avg += (1 - alpha) * (g - grad_avg)
        state["grad_avg"] = grad_avg
        avg = sqrt_(square_avg - grad_avg * grad_avg)
    else:
        avg = sqrt(square_avg)
    avg += eps
    if _uses_momentum(momentum):
        buf = state.get("momentum_buffer")
        if buf is None:
            # momentum raised above 0 after the first step (torch raises a KeyError here).
            buf = zeros_like(param)
        buf *= momentum
        buf += g / avg
        state["momentum_buffer"] = buf
        param -= lr * buf
    else:
        param -= lr * g / avg
    return param


def _rmsprop_bytes(shape, itemsize, momentum=0.0, centered=False, **_):
    n_buffers = 1 + bool(np.any(np.asarray(momentum) > 0)) + bool(centered)
    return n_buffers * itemsize * math.prod(shape)


class RMSprop(Optimizer):
    """torch.optim.RMSprop: ``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, maximize=False)``."""


INFO = OptimizerInfo(
    name="RMSprop",
    cls=RMSprop,
    update=rmsprop_update,
    init_state=rmsprop_init,
    hypers=(
        H.lr(1e-2),
        # torch only requires alpha >= 0; values above 1 are accepted (and diverge).
        Hyper("alpha", 0.99, low=0.5, high=0.9999, label="smoothing α",
              help="Decay of the running mean of squared gradients.", valid="[0, inf)"),
        H.eps(1e-8),
        H.weight_decay(0.0),
        H.momentum(0.0),
        H.flag("centered", False, "centred",
               "Divide by the running variance of the gradient (subtract the squared running mean) instead of "
               "its raw second moment."),
        H.MAXIMIZE,
    ),
    latex=(
        r"g_t = \nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}\\"
        r"v_t = \alpha\, v_{t-1} + (1-\alpha)\, g_t^2\\"
        r"\bar g_t = \alpha\, \bar g_{t-1} + (1-\alpha)\, g_t \quad\text{(centred)}\\"
        r"d_t = \begin{cases} \sqrt{v_t - \bar g_t^2} + \epsilon & \text{centred}\\ \sqrt{v_t} + \epsilon & "
        r"\text{otherwise}\end{cases}\\"
        r"b_t = \mu\, b_{t-1} + g_t / d_t\\"
        r"\theta_t = \theta_{t-1} - \eta\, b_t"
    ),
    state_bytes=_rmsprop_bytes,
    state_note="One buffer the size of the parameters (v); one more with momentum (b) and one more when "
               "centred (ḡ): up to 12 bytes per float32 parameter.",
    paper="Hinton, Srivastava & Swersky 2012, 'Neural Networks for Machine Learning', lecture 6e (Coursera; "
          "unpublished, no arXiv); centred form: Graves 2013, 'Generating Sequences With Recurrent Neural "
          "Networks', arXiv:1308.0850",
    summary="Adagrad with a forgetting running average, so the step does not decay to zero. A standard choice "
            "for RNNs and deep reinforcement learning (DQN, A3C); TF's default for several vision models.",
    family="adaptive",
    runs_on_floats=True,
    torch_twin=True,
)
