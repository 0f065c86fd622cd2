"""Stochastic gradient descent, with heavy-ball or Nesterov momentum."""

from __future__ import annotations

import math

import numpy as np

from optim_core.optimizer import HyperparameterError, Optimizer, clone, l2_grad, nonzero
from optim_core.optimizers import _hypers as H
from optim_core.entries import Hyper, OptimizerInfo


def sgd_init(param, *, momentum=0.0, **_):
    # torch keeps no buffer until the first step with momentum; it then clones the gradient.
    return {"momentum_buffer": None}


def sgd_update(param, grad, state, step, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    r"""One SGD step, in place, exactly as torch.optim.SGD.

    .. math::
        g_t = \nabla f(\theta_{t-1}) + \lambda\theta_{t-1},\qquad
        b_t = \mu b_{t-1} + (1-\tau) g_t \;(b_1 = g_1),\qquad
        \theta_t = \theta_{t-1} - \eta\,(g_t + \mu b_t \text{ if Nesterov else } b_t)

    ``momentum`` may be an array (a sweep); rows whose momentum is 0 take plain steps.
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    g = l2_grad(grad, param, weight_decay)
    if nonzero(momentum):
        buf = state["momentum_buffer"]
        if buf is None:
            buf = clone(g, like=param)
        else:
            buf *= momentum
            buf += g if not nonzero(dampening) else (1 - dampening) * g
        state["momentum_buffer"] = buf
        direction = g + momentum * buf if nesterov else buf
        # A sweep row with momentum 0 must step along g, as torch does. Without dampening
        # its buffer is 0*b + g = g exactly already; with dampening it is (1-τ)g, so pick g.
        if nonzero(dampening) and not isinstance(momentum, (int, float)) and not np.all(momentum):
            direction = np.where(np.asarray(momentum) != 0, direction, g)
    else:
        direction = g
    param -= lr * direction
    return param


def _sgd_bytes(shape, itemsize, momentum=0.0, **_):
    return itemsize * math.prod(shape) if nonzero(momentum) else 0


class SGD(Optimizer):
    """torch.optim.SGD: ``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
    nesterov=False, maximize=False)``."""

    @classmethod
    def check_relations(cls, hp):
        if hp["nesterov"] and (np.any(np.asarray(hp["momentum"]) <= 0) or np.any(np.asarray(hp["dampening"]) != 0)):
            raise HyperparameterError("Nesterov momentum requires a momentum and zero dampening")


INFO = OptimizerInfo(
    name="SGD",
    cls=SGD,
    update=sgd_update,
    init_state=sgd_init,
    hypers=(
        H.lr(1e-3, low=1e-5, high=2.0),
        H.momentum(0.0),
        Hyper("dampening", 0.0, low=0.0, high=0.99, label="dampening τ",
              help="Fraction of each new gradient left out of the momentum buffer.", valid="[0, 1]"),
        H.weight_decay(0.0),
        H.flag("nesterov", False, "Nesterov", "Evaluate the momentum step's look-ahead gradient (Sutskever form)."),
        H.MAXIMIZE,
    ),
    latex=(
        r"g_t = \nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}\\"
        r"b_t = \mu\, b_{t-1} + (1-\tau)\, g_t\\"
        r"\theta_t = \theta_{t-1} - \eta\,\begin{cases} g_t + \mu b_t & \text{Nesterov}\\ b_t & \text{otherwise}\end{cases}"
    ),
    state_bytes=_sgd_bytes,
    state_note="Nothing without momentum; one buffer the size of the parameters with it.",
    paper="Robbins & Monro 1951; Polyak 1964 (heavy ball); Sutskever et al. 2013, 'On the importance of "
          "initialization and momentum in deep learning' (Nesterov form)",
    summary="The baseline. With momentum 0.9 (often Nesterov) and a step schedule it still trains most "
            "vision models (ResNets) as well as anything; plain SGD zig-zags across ravines.",
    family="classic",
    runs_on_floats=True,
    torch_twin=True,
)
