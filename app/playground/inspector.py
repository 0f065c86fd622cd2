"""The step inspector: what each run saw and did at one step, with its update rule filled in.

Step ``s`` (1 ≤ s ≤ T) takes a run from θ_{s-1} to θ_s. From :class:`Trajectories` we read
the gradient the optimizer saw (after noise and clipping), the lr in force, the state
after the step (momentum, first and second moments: whatever the optimizer keeps) and the
state before it, and write the optimizer's update rule in LaTeX with those numbers.
SGD (with momentum / Nesterov), Adam, AdamW, RMSprop, Adagrad and Lion get their rule
written out step by step, and the rule's result is checked against the engine's next
position; every other optimizer shows its registry formula and a table of the numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from app.ui.controls import fmt
from optim_core import registry

__all__ = ["StepView", "inspect_step", "step_summary", "vec", "num"]

# Names of state entries as a student reads them.
STATE_NAMES = {
    "momentum_buffer": "momentum buffer b",
    "exp_avg": "first moment m",
    "exp_avg_sq": "second moment v",
    "max_exp_avg_sq": "max second moment v̂ₘₐₓ",
    "square_avg": "mean square v",
    "grad_avg": "mean gradient ḡ",
    "sum": "sum of squares s",
    "acc_delta": "mean square update u",
    "exp_inf": "infinity norm u",
}


def num(v: float, digits: int = 4) -> str:
    """A number for LaTeX: 0.1234, -3.2\\times10^{-5}."""
    v = float(v)
    if not math.isfinite(v):
        return r"\text{NaN}" if math.isnan(v) else (r"\infty" if v > 0 else r"-\infty")
    if v == 0:
        return "0"
    a = abs(v)
    if 1e-3 <= a < 1e5:
        s = f"{v:.{digits}g}"
        return s
    # Python's own exponent notation: exact for subnormal numbers too (10.0**-324 is 0).
    mant, exp = f"{v:.{max(digits - 1, 1) - 1}e}".split("e")
    m = float(mant)
    return rf"{m:g}\times10^{{{int(exp)}}}"


def vec(v) -> str:
    a, b = (float(x) for x in np.asarray(v, dtype=np.float64).reshape(2))
    return rf"\begin{{pmatrix}}{num(a)}\\{num(b)}\end{{pmatrix}}"


def _sgn(v) -> str:
    return vec(np.sign(np.asarray(v, dtype=np.float64)))


@dataclass
class StepView:
    """One run at one step: the numbers and the filled-in rule."""

    label: str
    optimizer: str
    step: int
    position_before: np.ndarray
    position_after: np.ndarray
    grad: np.ndarray  # what the optimizer saw (after noise and clipping)
    raw_grad: np.ndarray
    lr: float
    update: np.ndarray
    effective_lr: np.ndarray  # -update / grad per coordinate
    state_before: dict[str, np.ndarray] = field(default_factory=dict)
    state_after: dict[str, np.ndarray] = field(default_factory=dict)
    latex: list[str] = field(default_factory=list)  # one equation per line, numbers filled in
    generic: bool = False
    predicted: np.ndarray | None = None  # θ_s from the filled-in rule (None for the generic view)
    notes: list[str] = field(default_factory=list)
    diverged: bool = False

    def rows(self) -> list[dict[str, Any]]:
        """The numbers as table rows: quantity, θ₁ component, θ₂ component."""
        out = [
            ("position θₛ₋₁", self.position_before),
            ("gradient g (as the optimizer saw it)", self.grad),
        ]
        if not np.allclose(self.raw_grad, self.grad, equal_nan=True):
            out.append(("gradient before clipping", self.raw_grad))
        for key, v in self.state_after.items():
            out.append((STATE_NAMES.get(key, key) + " after the step", v))
        out += [
            ("update θₛ − θₛ₋₁", self.update),
            ("effective step size −Δθ / g", self.effective_lr),
            ("position θₛ", self.position_after),
        ]
        return [{"quantity": name, "θ₁": float(v[0]), "θ₂": float(v[1])} for name, v in out]

    @property
    def matches(self) -> bool | None:
        """Whether the filled-in rule reproduces the engine's θ_s (None when not checked)."""
        if self.predicted is None:
            return None
        return bool(np.allclose(self.predicted, self.position_after, rtol=1e-6, atol=1e-9))


def _hypers(spec) -> dict[str, Any]:
    try:
        return spec.resolved_hypers()
    except Exception:
        return dict(spec.hypers)


def _state_at(states: Mapping[str, np.ndarray], m: int, t: int) -> dict[str, np.ndarray]:
    """State after step t+1 (index t into the recorded (M, T, 2) arrays)."""
    return {k: np.asarray(v[m, t], dtype=np.float64) for k, v in states.items() if np.all(np.isfinite(v[m, t]))}


def _initial_state(info, hp: Mapping[str, Any]) -> dict[str, np.ndarray]:
    try:
        st = info.init_state(np.zeros(2), **hp)
    except Exception:
        return {}
    return {k: np.asarray(v, dtype=np.float64) for k, v in st.items() if isinstance(v, np.ndarray) and v.shape == (2,)}


def inspect_step(traj, k: int, step: int, m: int = 0, label: str | None = None) -> StepView:
    """The view of run ``k`` (start ``m``) at ``step`` (clamped to 1..T)."""
    T = int(traj.steps)
    s = int(min(max(int(step), 1), T))
    spec = traj.specs[k]
    info = registry.get_optimizer(spec.optimizer)
    hp = _hypers(spec)
    t = s - 1
    before = np.asarray(traj.positions[k, m, t], dtype=np.float64)
    after = np.asarray(traj.positions[k, m, s], dtype=np.float64)
    g = np.asarray(traj.grads[k, m, t], dtype=np.float64)
    raw = np.asarray(traj.raw_grads[k, m, t], dtype=np.float64)
    upd = np.asarray(traj.updates[k, m, t], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = np.where(np.abs(g) > 1e-300, -upd / g, np.nan)
    lr = float(traj.lrs[k, m, t])
    states = traj.states[k] if k < len(traj.states) else {}
    st_after = _state_at(states, m, t)
    st_before = _state_at(states, m, t - 1) if t >= 1 else _initial_state(info, hp)
    if "momentum" in hp and not np.any(np.asarray(hp["momentum"]) != 0):
        # Runs grouped with a momentum run share its buffer array, unused when their momentum is 0.
        st_after.pop("momentum_buffer", None)
        st_before.pop("momentum_buffer", None)
    view = StepView(label or spec.display_label(), spec.optimizer, s, before, after, g, raw, lr, upd, eff,
                    st_before, st_after)
    if not (np.all(np.isfinite(before)) and np.all(np.isfinite(after))):
        view.diverged = True
        view.notes.append(f"This run had diverged by step {s}: there is nothing left to inspect.")
        view.latex = [info.latex]
        view.generic = True
        return view
    if spec.lookahead is not None and s % int(spec.lookahead[0]) == 0:
        view.notes.append("Lookahead synchronised at this step: after the optimizer's step the weights were pulled "
                          f"back towards the slow weights (α = {fmt(spec.lookahead[1])}), so θₛ differs from the rule's result.")
    if not np.allclose(raw, g, equal_nan=True):
        view.notes.append("The gradient was clipped before the optimizer saw it.")
    if spec.schedule is not None:
        view.notes.append(f"The learning rate comes from the schedule ({spec.schedule[0]}): η = {lr:.4g} at this step.")
    writer = _WRITERS.get(spec.optimizer)
    if writer is not None:
        try:
            view.latex, view.predicted = writer(view, hp)
        except _Unsupported:
            writer = None
    if writer is None:
        view.generic = True
        view.latex = [info.latex]
    return view


def step_summary(traj, labels, step: int, surface=None) -> list[dict[str, Any]]:
    """Every run at ``step``: where it is, the gradient's size, the lr in force and the effective step;
    given the ``surface``, η·λ_max too (:mod:`app.playground.sharpness_view`)."""
    rows = []
    for k, lab in enumerate(labels):
        v = inspect_step(traj, k, step, label=lab)
        rows.append({"run": lab, "θ₁": float(v.position_after[0]), "θ₂": float(v.position_after[1]),
                     "‖g‖": float(np.hypot(*v.grad)), "η in force": v.lr,
                     "effective step θ₁": float(v.effective_lr[0]), "effective step θ₂": float(v.effective_lr[1])})
        if surface is not None:
            from app.playground.sharpness_view import at_step

            rows[-1]["η·λₘₐₓ"] = at_step(traj, surface, k, step).value
    return rows


class _Unsupported(Exception):
    """The hand-written rule does not cover these settings: fall back to the generic view."""


def _weight_decay_grad(view: StepView, wd: float) -> tuple[np.ndarray, list[str]]:
    if not wd:
        return view.grad, [rf"g_{{{view.step}}} = \nabla f(\theta_{{{view.step - 1}}}) = {vec(view.grad)}"]
    g = view.grad + wd * view.position_before
    return g, [rf"g_{{{view.step}}} = \nabla f + \lambda\theta_{{{view.step - 1}}} = {vec(view.grad)} + {num(wd)}"
               rf"\cdot{vec(view.position_before)} = {vec(g)}"]


def _sgd(view: StepView, hp) -> tuple[list[str], np.ndarray]:
    s, eta = view.step, view.lr
    mu, tau, wd = float(hp.get("momentum", 0.0)), float(hp.get("dampening", 0.0)), float(hp.get("weight_decay", 0.0))
    g, lines = _weight_decay_grad(view, wd)
    th = view.position_before
    if mu == 0:
        new = th - eta * g
        lines.append(rf"\theta_{{{s}}} = \theta_{{{s - 1}}} - \eta\, g_{{{s}}} = {vec(th)} - {num(eta)}\cdot{vec(g)}"
                     rf" = {vec(new)}")
        return lines, new
    b_prev = view.state_before.get("momentum_buffer")
    if b_prev is None or s == 1:
        b = g.copy()
        lines.append(rf"b_{{1}} = g_{{1}} = {vec(b)}")
    else:
        b = mu * b_prev + (1 - tau) * g
        damp = "" if tau == 0 else rf"(1-{num(tau)})\,"
        lines.append(rf"b_{{{s}}} = \mu\, b_{{{s - 1}}} + {damp}g_{{{s}}} = {num(mu)}\cdot{vec(b_prev)} + "
                     rf"{damp}{vec(g)} = {vec(b)}")
    if hp.get("nesterov"):
        d = g + mu * b
        new = th - eta * d
        lines.append(rf"\theta_{{{s}}} = \theta_{{{s - 1}}} - \eta\,(g_{{{s}}} + \mu b_{{{s}}}) = {vec(th)} - "
                     rf"{num(eta)}\cdot{vec(d)} = {vec(new)}")
    else:
        new = th - eta * b
        lines.append(rf"\theta_{{{s}}} = \theta_{{{s - 1}}} - \eta\, b_{{{s}}} = {vec(th)} - {num(eta)}\cdot{vec(b)}"
                     rf" = {vec(new)}")
    return lines, new


def _adam(view: StepView, hp, decoupled: bool | None = None) -> tuple[list[str], np.ndarray]:
    s, eta = view.step, view.lr
    b1, b2, eps = float(hp["beta1"]), float(hp["beta2"]), float(hp["eps"])
    wd = float(hp.get("weight_decay", 0.0))
    decoupled = bool(hp.get("decoupled_weight_decay", False)) if decoupled is None else decoupled
    th = view.position_before
    lines = []
    if decoupled:
        g = view.grad
        lines.append(rf"g_{{{s}}} = \nabla f(\theta_{{{s - 1}}}) = {vec(g)}")
        if wd:
            th = th * (1 - eta * wd)
            lines.append(rf"\theta_{{{s - 1}}} \leftarrow \theta_{{{s - 1}}}(1-\eta\lambda) = "
                         rf"{vec(view.position_before)}\cdot(1-{num(eta)}\cdot{num(wd)}) = {vec(th)}")
    else:
        g, wl = _weight_decay_grad(view, wd)
        lines += wl
    m0 = view.state_before.get("exp_avg", np.zeros(2))
    v0 = view.state_before.get("exp_avg_sq", np.zeros(2))
    m = b1 * m0 + (1 - b1) * g
    v = b2 * v0 + (1 - b2) * g * g
    lines.append(rf"m_{{{s}}} = \beta_1 m_{{{s - 1}}} + (1-\beta_1)\,g_{{{s}}} = {num(b1)}\cdot{vec(m0)} + "
                 rf"{num(1 - b1)}\cdot{vec(g)} = {vec(m)}")
    lines.append(rf"v_{{{s}}} = \beta_2 v_{{{s - 1}}} + (1-\beta_2)\,g_{{{s}}}^2 = {num(b2)}\cdot{vec(v0)} + "
                 rf"{num(1 - b2)}\cdot{vec(g * g)} = {vec(v)}")
    if hp.get("amsgrad"):
        vmax0 = view.state_before.get("max_exp_avg_sq", np.zeros(2))
        v = np.maximum(vmax0, v)
        lines.append(rf"v^{{\max}}_{{{s}}} = \max(v^{{\max}}_{{{s - 1}}}, v_{{{s}}}) = {vec(v)}")
    bc1, bc2 = 1 - b1**s, 1 - b2**s
    mh, vh = m / bc1, v / bc2
    lines.append(rf"\hat m_{{{s}}} = \frac{{m_{{{s}}}}}{{1-\beta_1^{{{s}}}}} = {vec(mh)},\quad "
                 rf"\hat v_{{{s}}} = \frac{{v_{{{s}}}}}{{1-\beta_2^{{{s}}}}} = {vec(vh)}")
    step = mh / (np.sqrt(vh) + eps)
    new = th - eta * step
    lines.append(rf"\theta_{{{s}}} = \theta_{{{s - 1}}} - \eta\,\frac{{\hat m_{{{s}}}}}{{\sqrt{{\hat v_{{{s}}}}}+\epsilon}}"
                 rf" = {vec(th)} - {num(eta)}\cdot{vec(step)} = {vec(new)}")
    return lines, new


def _rmsprop(view: StepView, hp) -> tuple[list[str], np.ndarray]:
    if hp.get("centered") or float(hp.get("momentum", 0.0)) != 0:
        raise _Unsupported
    s, eta = view.step, view.lr
    alpha, eps = float(hp["alpha"]), float(hp["eps"])
    g, lines = _weight_decay_grad(view, float(hp.get("weight_decay", 0.0)))
    v0 = view.state_before.get("square_avg", np.zeros(2))
    v = alpha * v0 + (1 - alpha) * g * g
    lines.append(rf"v_{{{s}}} = \alpha v_{{{s - 1}}} + (1-\alpha)\,g_{{{s}}}^2 = {num(alpha)}\cdot{vec(v0)} + "
                 rf"{num(1 - alpha)}\cdot{vec(g * g)} = {vec(v)}")
    step = g / (np.sqrt(v) + eps)
    new = view.position_before - eta * step
    lines.append(rf"\theta_{{{s}}} = \theta_{{{s - 1}}} - \eta\,\frac{{g_{{{s}}}}}{{\sqrt{{v_{{{s}}}}}+\epsilon}} = "
                 rf"{vec(view.position_before)} - {num(eta)}\cdot{vec(step)} = {vec(new)}")
    return lines, new


def _adagrad(view: StepView, hp) -> tuple[list[str], np.ndarray]:
    s, eta = view.step, view.lr
    eps, decay = float(hp["eps"]), float(hp.get("lr_decay", 0.0))
    g, lines = _weight_decay_grad(view, float(hp.get("weight_decay", 0.0)))
    s0 = view.state_before.get("sum", np.full(2, float(hp.get("initial_accumulator_value", 0.0))))
    acc = s0 + g * g
    lines.append(rf"s_{{{s}}} = s_{{{s - 1}}} + g_{{{s}}}^2 = {vec(s0)} + {vec(g * g)} = {vec(acc)}")
    clr = eta / (1 + (s - 1) * decay)
    if decay:
        lines.append(rf"\tilde\eta_{{{s}}} = \frac{{\eta}}{{1 + ({s}-1)\,\delta}} = {num(clr)}")
    step = g / (np.sqrt(acc) + eps)
    new = view.position_before - clr * step
    eta_sym = r"\tilde\eta" if decay else r"\eta"
    lines.append(rf"\theta_{{{s}}} = \theta_{{{s - 1}}} - {eta_sym}\,\frac{{g_{{{s}}}}}{{\sqrt{{s_{{{s}}}}}+\epsilon}} = "
                 rf"{vec(view.position_before)} - {num(clr)}\cdot{vec(step)} = {vec(new)}")
    return lines, new


def _lion(view: StepView, hp) -> tuple[list[str], np.ndarray]:
    s, eta = view.step, view.lr
    b1, b2, wd = float(hp["beta1"]), float(hp["beta2"]), float(hp.get("weight_decay", 0.0))
    g = view.grad
    th = view.position_before
    lines = [rf"g_{{{s}}} = \nabla f(\theta_{{{s - 1}}}) = {vec(g)}"]
    if wd:
        th = th * (1 - eta * wd)
        lines.append(rf"\theta_{{{s - 1}}} \leftarrow \theta_{{{s - 1}}}(1-\eta\lambda) = {vec(th)}")
    m0 = view.state_before.get("exp_avg", np.zeros(2))
    c = b1 * m0 + (1 - b1) * g
    lines.append(rf"c_{{{s}}} = \beta_1 m_{{{s - 1}}} + (1-\beta_1)\,g_{{{s}}} = {num(b1)}\cdot{vec(m0)} + "
                 rf"{num(1 - b1)}\cdot{vec(g)} = {vec(c)}")
    new = th - eta * np.sign(c)
    lines.append(rf"\theta_{{{s}}} = \theta_{{{s - 1}}} - \eta\,\operatorname{{sign}}(c_{{{s}}}) = {vec(th)} - "
                 rf"{num(eta)}\cdot{_sgn(c)} = {vec(new)}")
    m = b2 * m0 + (1 - b2) * g
    lines.append(rf"m_{{{s}}} = \beta_2 m_{{{s - 1}}} + (1-\beta_2)\,g_{{{s}}} = {vec(m)}")
    return lines, new


_WRITERS = {
    "SGD": _sgd,
    "Adam": _adam,
    "AdamW": lambda view, hp: _adam(view, hp, decoupled=True),
    "RMSprop": _rmsprop,
    "Adagrad": _adagrad,
    "Lion": _lion,
}
