"""LAMB: Adam's direction rescaled per tensor by the trust ratio ||θ|| / ||update||."""

from __future__ import annotations

import numpy as np

from optim_core.optimizer import Optimizer, elementwise_bytes, nonzero
from optim_core.optimizers import _hypers as H
from optim_core.entries import OptimizerInfo


def norm_per_problem(x: np.ndarray, batch_ndim: int = 0) -> np.ndarray:
    """L2 norm over all axes after the first ``batch_ndim`` (kept, size 1, so it broadcasts back)."""
    x = np.asarray(x)
    return np.sqrt(np.sum(x * x, axis=tuple(range(batch_ndim, x.ndim)), keepdims=True))


def trust_ratio(numerator, denominator, param_norm, other_norm) -> np.ndarray:
    """``numerator / denominator``, but 1 wherever ``param_norm`` or ``other_norm`` is 0.

    A zero parameter (a bias at init) or a zero update has no scale to be relative to;
    optax and timm fall back to the plain step there.
    """
    ok = (param_norm > 0) & (other_norm > 0)
    return np.divide(numerator, denominator, out=np.ones(np.broadcast(numerator, denominator).shape), where=ok)


def lamb_init(param, **_):
    return {"exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}


def lamb_update(param, grad, state, step, *, lr, beta1, beta2, eps, weight_decay=0.0, batch_ndim=0):
    r"""One LAMB step, in place, as ``optax.lamb`` (and timm's ``Lamb`` with
    ``max_grad_norm=None, always_adapt=True``, which is the same algorithm).

    optax chains ``scale_by_adam`` → ``add_decayed_weights`` → ``scale_by_trust_ratio``
    → ``scale_by_learning_rate``:

    .. math::
        u_t = \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\theta_{t-1},\qquad
        \theta_t = \theta_{t-1} - \eta\,\frac{\lVert\theta_{t-1}\rVert}{\lVert u_t\rVert}\,u_t

    The norms are per tensor (per problem: over the axes after ``batch_ndim``), and the
    ratio is 1 where either norm is 0. Each tensor therefore moves by ``η‖θ‖``: a step
    relative to its own scale, whatever its gradient's scale.
    """
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * (grad * grad)
    u = m / (1 - beta1**step)
    u /= np.sqrt(v / (1 - beta2**step)) + eps
    if nonzero(weight_decay):
        u += weight_decay * param
    p_norm = norm_per_problem(param, batch_ndim)
    u_norm = norm_per_problem(u, batch_ndim)
    param -= (lr * trust_ratio(p_norm, u_norm, p_norm, u_norm)) * u


class LAMB(Optimizer):
    """optax.lamb as a torch-style class: ``LAMB(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6,
    weight_decay=0, maximize=False)``.

    Bias-corrected Adam direction plus decoupled decay ``λθ``, rescaled per tensor so
    that each tensor's step is ``lr·‖θ‖``.
    """


INFO = OptimizerInfo(
    name="LAMB",
    cls=LAMB,
    update=lamb_update,
    init_state=lamb_init,
    hypers=(
        H.lr(1e-3, low=1e-5, high=1.0),
        H.beta1(0.9),
        H.beta2(0.999),
        H.eps(1e-6),
        H.weight_decay(0.0),
        H.MAXIMIZE,
    ),
    latex=(
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2\\"
        r"u_t = \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon} + \lambda\theta_{t-1}\\"
        r"\theta_t = \theta_{t-1} - \eta\,\frac{\lVert\theta_{t-1}\rVert}{\lVert u_t\rVert}\, u_t"
        r"\quad(\text{ratio } 1 \text{ if a norm is } 0)"
    ),
    state_bytes=elementwise_bytes(2),
    state_note="Adam's m and v (8 bytes per float32 parameter); the trust ratio needs only two norms per tensor.",
    paper="You et al. 2020, 'Large Batch Optimization for Deep Learning: Training BERT in 76 minutes', "
          "arXiv:1904.00962",
    summary="Adam with a per-layer trust ratio, so every layer moves by the same fraction of its norm. Made for "
            "very large batches (BERT pre-training with 32K-64K sequences) where AdamW with a scaled-up lr "
            "diverges; at ordinary batch sizes it brings little over AdamW.",
    family="modern",
    elementwise=False,
)
