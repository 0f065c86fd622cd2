"""Adadelta: RMSprop whose step size is the running RMS of past updates, so it needs no lr."""

from __future__ import annotations

from optim_core.optimizer import Optimizer, elementwise_bytes, l2_grad, sqrt_, zeros_like
from optim_core.optimizers import _hypers as H
from optim_core.entries import Hyper, OptimizerInfo


def adadelta_init(param, **_):
    return {"square_avg": zeros_like(param), "acc_delta": zeros_like(param)}


def adadelta_update(param, grad, state, step, *, lr, rho, eps, weight_decay=0.0):
    r"""One Adadelta step, in place, exactly as torch.optim.Adadelta.

    .. math::
        v_t = \rho v_{t-1} + (1-\rho) g_t^2,\qquad
        \Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t,\qquad
        u_t = \rho u_{t-1} + (1-\rho) \Delta_t^2,\qquad
        \theta_t = \theta_{t-1} - \eta\, \Delta_t

    ``g_t`` includes coupled weight decay ``λθ``; ``η`` (1 by default) only rescales ``Δ``.
    Also runs on one coordinate as Python floats and returns the new param (``runs_on_floats``).
    """
    g = l2_grad(grad, param, weight_decay)
    square_avg, acc_delta = state["square_avg"], state["acc_delta"]
    square_avg *= rho
    square_avg += (1 - rho) * g * g
    std = sqrt_(square_avg + eps)
    delta = sqrt_(acc_delta + eps)
    delta /= std
    delta *= g
    acc_delta *= rho
    acc_delta += (1 - rho) * delta * delta
    state["square_avg"], state["acc_delta"] = square_avg, acc_delta
    param -= lr * delta
    return param


class Adadelta(Optimizer):
    """torch.optim.Adadelta: ``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False)``."""


INFO = OptimizerInfo(
    name="Adadelta",
    cls=Adadelta,
    update=adadelta_update,
    init_state=adadelta_init,
    hypers=(
        H.lr(1.0, low=1e-3, high=10.0),
        Hyper("rho", 0.9, low=0.5, high=0.999, label="decay ρ",
              help="Decay of the running means of squared gradients and squared updates.", valid="[0, 1]"),
        # eps sets the size of the very first steps (√ε / √(v + ε)), so it is a real knob here.
        H.eps(1e-6, low=1e-10, high=1e-1),
        H.weight_decay(0.0),
        H.MAXIMIZE,
    ),
    latex=(
        r"g_t = \nabla_\theta f(\theta_{t-1}) + \lambda\theta_{t-1}\\"
        r"v_t = \rho\, v_{t-1} + (1-\rho)\, g_t^2\\"
        r"\Delta_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t\\"
        r"u_t = \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2\\"
        r"\theta_t = \theta_{t-1} - \eta\, \Delta_t"
    ),
    state_bytes=elementwise_bytes(2),
    state_note="Two buffers the size of the parameters (running means of g² and of Δ²): 8 bytes per float32 "
               "parameter.",
    paper="Zeiler 2012, 'ADADELTA: An Adaptive Learning Rate Method', arXiv:1212.5701",
    summary="Designed to remove the learning rate (units of Δ match θ). Rarely chosen today; its early steps "
            "are tiny (about √ε), so it starts slowly on the surfaces here.",
    family="adaptive",
    runs_on_floats=True,
    torch_twin=True,
)
