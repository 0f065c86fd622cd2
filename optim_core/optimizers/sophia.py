"""SophiaG: momentum divided by a diagonal Hessian EMA, clipped coordinate-wise.

Sophia needs curvature that the gradient alone does not give: every ``k`` steps the
caller computes a diagonal Hessian estimate ``ĥ`` and the optimizer folds it into its
EMA ``h ← β₂ h + (1 - β₂) ĥ``. Two ways to hand it over:

* the class, :meth:`Sophia.update_hessian` (``estimates`` per parameter, or the
  Gauss-Newton-Bartlett estimate ``batch_size · g⊙g`` from ``p.grad`` as the reference
  code does); :meth:`Sophia.hessian_due` tells the loop when;
* the trajectory engine, :func:`refresh_hessian` on the kernel's state dict, after
  every step (it only touches the rows whose step is a multiple of ``hessian_interval``).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from optim_core.optimizer import Optimizer, Parameter, elementwise_bytes, nonzero
from optim_core.optimizers import _hypers as H
from optim_core.entries import Hyper, OptimizerInfo


def sophia_init(param, **_):
    return {"exp_avg": np.zeros_like(param), "hessian": np.zeros_like(param)}


def sophia_update(param, grad, state, step, *, lr, beta1, rho, weight_decay=0.0, eps=1e-15, beta2=None,
                  hessian_interval=None):
    r"""One SophiaG parameter step, in place (the Hessian EMA ``state["hessian"]`` is only read).

    .. math::
        \theta \leftarrow \theta(1-\eta\lambda),\qquad
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
        \theta_t = \theta - \eta\,\operatorname{clip}\!\Big(\frac{m_t}{\max(\rho h_t, \epsilon)}, -1, 1\Big)

    So no coordinate moves by more than ``η`` (plus the decay), and where the curvature
    is unknown (``h = 0``, before the first estimate) the step is ``η·sign(m)``.

    Two deliberate differences from the reference code (``sophia_opt.SophiaG``), which
    divides by ``ρ·bs·h + 1e-15``: its ``bs`` (batch size, passed to every ``step``) is
    folded into the estimate instead (:func:`refresh_hessian` /
    :meth:`Sophia.update_hessian`), so ``ρ`` here is the paper's ρ; and the floor is
    ``max(ρh, ε)``, the paper's form, instead of ``+ 1e-15``. For the non-negative
    Gauss-Newton-Bartlett estimates SophiaG uses the two agree to rounding (within 1e-10
    relative in the float64 comparison); a negative estimate, which exact or Hutchinson
    curvature can give, would make the reference's ratio negative and unclipped (a step
    *up* the gradient, of any length), where ``max`` gives the clipped sign step.
    ``beta2`` and ``hessian_interval`` belong to the Hessian refresh and are ignored here.
    """
    m, h = state["exp_avg"], state["hessian"]
    if nonzero(weight_decay):
        param *= 1 - lr * weight_decay
    m *= beta1
    m += (1 - beta1) * grad
    # Not in place: for a 0-d parameter these are NumPy scalars, which have no buffer.
    ratio = np.minimum(np.abs(m) / np.maximum(rho * h, eps), 1.0)
    param -= lr * (np.sign(m) * ratio)


def hessian_due(step, hessian_interval) -> Any:
    """Whether the Hessian EMA is refreshed after step ``step`` (1-based): every ``k``-th step.

    The reference loop refreshes after iterations ``k-1, 2k-1, ...`` counted from 0, i.e.
    after steps ``k, 2k, ...``. Broadcasts: an array ``hessian_interval`` gives an array.
    """
    return np.asarray(step) % np.asarray(hessian_interval) == 0


def refresh_hessian(state: dict, estimate, step: int, *, beta2, hessian_interval=1) -> bool:
    r"""Fold a diagonal Hessian estimate into ``state["hessian"]`` if step ``step`` is due.

    ``h ← β₂ h + (1-β₂) ĥ`` on the entries whose ``hessian_due(step, hessian_interval)``
    holds; ``beta2`` and ``hessian_interval`` may be ``(B, 1)`` arrays (a sweep).
    ``estimate`` is an array broadcasting to the parameter, or a function of no argument
    returning one, called only when some row is due. It must be in Hessian units: the
    diagonal itself, Hutchinson's ``u⊙(Hu)``, or Gauss-Newton-Bartlett's ``B·ĝ⊙ĝ`` for
    a mini-batch of ``B`` with labels sampled from the model. Negative entries act like
    zero curvature (the step becomes ``η·sign(m)``). Returns whether anything changed.

    The engine calls it right after each ``apply_update(info, x, g, state, step, ...)``,
    with the estimate at the *new* ``x``, as the reference training loop does. (The
    kernel only reads ``state["hessian"]``: writing the exact diagonal there before
    every step instead is the idealised variant with fresh, exact curvature.)
    """
    due = hessian_due(step, hessian_interval)
    if not np.any(due):
        return False
    est = estimate() if callable(estimate) else estimate
    h = state["hessian"]
    new = h * beta2 + (1 - beta2) * np.asarray(est)
    if np.all(due):
        h[...] = new
    else:
        np.copyto(h, new, where=np.broadcast_to(due, h.shape))
    return True


class Sophia(Optimizer):
    """SophiaG: ``Sophia(params, lr=1e-4, betas=(0.965, 0.99), rho=0.04, weight_decay=1e-1, eps=1e-15,
    hessian_interval=10, maximize=False)``.

    ``step()`` uses the current Hessian EMA ``state[p]["hessian"]`` (zero at first: a
    clipped sign step). The training loop supplies curvature every ``hessian_interval``
    steps, as in the reference code::

        opt.step()
        if opt.hessian_due():                 # after steps k, 2k, ...
            opt.update_hessian(estimates)     # or: set p.grad to the gradient of the loss on
                                              # labels sampled from the model, then
                                              # opt.update_hessian(batch_size=B)

    ``betas[1]`` is the decay of the Hessian EMA, not of a second moment.
    """

    def update_hessian(self, estimates: Mapping[Parameter, Any] | Sequence[Any] | None = None, *,
                       batch_size: float = 1) -> None:
        r"""``h ← β₂ h + (1-β₂) ĥ`` for every parameter given an estimate ``ĥ``.

        ``estimates`` is a mapping ``{param: array}``, or a sequence aligned with the
        parameters in ``param_groups`` order (``None`` entries skipped), in Hessian units.
        As in ``step()``, a parameter with no gradient and no state yet is left alone.
        Without it, each parameter with a gradient uses ``batch_size · p.grad²`` — the
        Gauss-Newton-Bartlett estimate when ``p.grad`` is the mean gradient over
        ``batch_size`` examples of the loss on labels sampled from the model (the
        reference multiplies its ``bs`` in at the step instead; the result is the same:
        ``update_hessian(batch_size=B)`` here pairs with ``step(bs=B)`` there, whose
        default is ``bs=5120``).
        """
        params = [p for group in self.param_groups for p in group["params"]]
        if estimates is None:
            pairs = [(p, batch_size * p.grad * p.grad) for p in params if p.grad is not None]
        elif isinstance(estimates, Mapping):
            pairs = list(estimates.items())
        else:
            estimates = list(estimates)
            if len(estimates) != len(params):
                raise ValueError(f"got {len(estimates)} Hessian estimates for {len(params)} parameters")
            pairs = [(p, e) for p, e in zip(params, estimates) if e is not None]
        beta2_of = {id(p): group["betas"][1] for group in self.param_groups for p in group["params"]}
        for p, est in pairs:
            if id(p) not in beta2_of:
                raise ValueError(f"{p!r} is not optimized by this optimizer")
            if p.grad is None and p not in self.state:
                continue  # as step(): a parameter that never had a gradient gets no state
            est = np.asarray(est, dtype=p.data.dtype)
            if est.shape != p.data.shape:
                raise ValueError(f"Hessian estimate of shape {est.shape} for a parameter of shape {p.data.shape}")
            state = self.state.get(p)
            if not state:
                group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
                state = self.state[p] = {"step": 0}
                state.update(self.info.init_state(p.data, **self._kernel_hypers(group)))
            refresh_hessian(state, est, 1, beta2=beta2_of[id(p)], hessian_interval=1)

    def hessian_due(self) -> bool:
        """Whether the last ``step()`` was a multiple of its group's ``hessian_interval``."""
        for group in self.param_groups:
            for p in group["params"]:
                step = self.state.get(p, {}).get("step", 0)
                if step and hessian_due(step, group["hessian_interval"]):
                    return True
        return False


INFO = OptimizerInfo(
    name="Sophia",
    cls=Sophia,
    update=sophia_update,
    init_state=sophia_init,
    hypers=(
        H.lr(1e-4, low=1e-6, high=1e-1),
        H.beta1(0.965),
        Hyper("beta2", 0.99, low=0.5, high=0.9999, label="β₂ (Hessian)",
              help="Decay of the running average of the diagonal Hessian estimates.", valid="[0, 1)"),
        Hyper("rho", 0.04, low=1e-3, high=10.0, log=True, label="ρ",
              help="Scales the curvature: the step is m / (ρh), clipped to ±1 per coordinate. Larger ρ, "
                   "smaller Newton-like steps and fewer clipped coordinates.", valid="[0, inf)"),
        H.weight_decay(0.1),
        Hyper("eps", 1e-15, low=1e-20, high=1e-6, log=True, label="ε",
              help="Floor of ρh, so a zero curvature estimate gives the clipped sign step.", valid="(0, inf)"),
        Hyper("hessian_interval", 10, kind="int", low=1, high=100, label="Hessian interval k",
              help="Steps between two refreshes of the diagonal Hessian estimate.", valid="[1, inf)"),
        H.MAXIMIZE,
    ),
    latex=(
        r"m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t\\"
        r"h_t = \beta_2 h_{t-k} + (1-\beta_2)\, \hat h_t \quad \text{every } k \text{ steps}\\"
        r"\theta_{t-1} \leftarrow \theta_{t-1}(1-\eta\lambda)\\"
        r"\theta_t = \theta_{t-1} - \eta\,\operatorname{clip}\!\left(\frac{m_t}{\max(\rho\, h_t,\ \epsilon)},\,-1,\,1\right)"
    ),
    state_bytes=elementwise_bytes(2),
    state_note="Momentum m and the Hessian EMA h, each the size of the parameters: 8 bytes per float32 parameter, "
               "as Adam.",
    paper="Liu, Li, Hall, Liang & Ma 2023, 'Sophia: A Scalable Stochastic Second-order Optimizer for Language "
          "Model Pre-training', arXiv:2305.14342",
    summary="A Newton-like step m/h with a cheap diagonal Hessian estimate refreshed every ~10 steps, clipped "
            "per coordinate so that bad curvature cannot blow it up. Reported to reach GPT-2's loss in about "
            "half the steps of AdamW; the estimate costs an extra backward pass every k steps.",
    family="modern",
    needs_hessian=True,
)
