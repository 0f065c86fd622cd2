"""LARS: SGD with momentum whose step is scaled per layer by ||θ|| / ||∇||."""

from __future__ import annotations

import math

import numpy as np

from optim_core.optimizer import Optimizer, nonzero
from optim_core.optimizers import _hypers as H
from optim_core.optimizers.lamb import norm_per_problem, trust_ratio
from optim_core.entries import Hyper, OptimizerInfo


def lars_init(param, *, momentum=0.9, **_):
    return {"momentum_buffer": np.zeros_like(param) if nonzero(momentum) else None}


def lars_update(param, grad, state, step, *, lr, momentum=0.9, weight_decay=0.0, trust_coefficient=0.001, eps=1e-8,
                batch_ndim=0):
    r"""One LARS step, in place, as in You et al. (2017): exactly timm's ``Lars`` with
    ``always_adapt=True, trust_clip=False``, no dampening and no Nesterov momentum.

    .. math::
        r_t = c\,\frac{\lVert\theta_{t-1}\rVert}{\lVert g_t\rVert + \lambda\lVert\theta_{t-1}\rVert + \epsilon},\qquad
        b_t = \mu b_{t-1} + r_t\,(g_t + \lambda\theta_{t-1}),\qquad
        \theta_t = \theta_{t-1} - \eta\, b_t

    The local rate ``r_t`` is 1 where ``θ`` or ``g`` is zero. The norms are per tensor
    (per problem: over the axes after ``batch_ndim``). Without weight decay the first
    step of every tensor has length ``η c ‖θ‖``, whatever its gradient's size. (timm's
    default ``always_adapt=False`` skips the trust ratio in groups without weight decay,
    and its default momentum is 0; ``trust_coefficient`` is its ``trust_coeff``.)
    """
    p_norm = norm_per_problem(param, batch_ndim)
    g_norm = norm_per_problem(grad, batch_ndim)
    decay = nonzero(weight_decay)
    denom = g_norm + weight_decay * p_norm + eps if decay else g_norm + eps
    direction = grad + weight_decay * param if decay else grad
    direction = trust_ratio(trust_coefficient * p_norm, denom, p_norm, g_norm) * direction
    if nonzero(momentum):
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = np.zeros_like(param)
        buf *= momentum
        buf += direction
        direction = buf
    param -= lr * direction


def _lars_bytes(shape, itemsize, momentum=0.9, **_):
    return itemsize * math.prod(shape) if nonzero(momentum) else 0


class LARS(Optimizer):
    """LARS: ``LARS(params, lr=1.0, momentum=0.9, weight_decay=0, trust_coefficient=0.001,
    eps=1e-8, maximize=False)``.

    Step for step timm's ``Lars(params, lr, momentum, weight_decay=weight_decay,
    trust_coeff=trust_coefficient, eps=eps, always_adapt=True)`` (its ``dampening=0``,
    ``nesterov=False``, ``trust_clip=False``): the trust ratio scales every tensor's step,
    with or without weight decay. The global lr is large (1-30 in ImageNet recipes)
    because the trust coefficient already makes each step ``lr · c · ‖θ‖`` long.
    """


INFO = OptimizerInfo(
    name="LARS",
    cls=LARS,
    update=lars_update,
    init_state=lars_init,
    hypers=(
        H.lr(1.0, low=1e-3, high=100.0),
        H.momentum(0.9),
        H.weight_decay(0.0, high=0.1),
        Hyper("trust_coefficient", 0.001, low=1e-4, high=1.0, log=True, label="trust coefficient c",
              help="Fraction of the layer's norm that one step (at lr 1) may move it.", valid="(0, inf)"),
        H.eps(1e-8),
        H.MAXIMIZE,
    ),
    latex=(
        r"r_t = c\,\frac{\lVert\theta_{t-1}\rVert}{\lVert g_t\rVert + \lambda\lVert\theta_{t-1}\rVert + \epsilon}"
        r"\quad(1 \text{ if a norm is } 0)\\"
        r"b_t = \mu\, b_{t-1} + r_t\,(g_t + \lambda\theta_{t-1})\\"
        r"\theta_t = \theta_{t-1} - \eta\, b_t"
    ),
    state_bytes=_lars_bytes,
    state_note="One momentum buffer the size of the parameters (nothing with momentum 0); two norms per tensor.",
    paper="You, Gitman & Ginsburg 2017, 'Large Batch Training of Convolutional Networks', arXiv:1708.03888",
    summary="SGD with momentum and a per-layer step proportional to the layer's norm. Lets ResNet-50 train on "
            "ImageNet with batches of 8K-32K (with warmup); used for large-batch CNN and self-supervised "
            "(SimCLR, BYOL) training. LAMB is the same idea on top of Adam.",
    family="modern",
    elementwise=False,
)
