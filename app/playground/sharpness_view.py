"""Sharpness on the Playground: η·λₘₐₓ of the exact Hessian at the inspected step, and along a run's
path in the Stability tab, where the path leaves and re-enters the stable region.

On a quadratic, gradient descent is stable while η·λₘₐₓ < 2; Cohen et al. (ICLR 2021) saw full-batch
GD drive λₘₐₓ up until η·λₘₐₓ hovers at 2, the "edge of stability". Here, on any surface, step s of
a run is read at the point it started from, θ_{s-1}, with the lr in force at that step (a schedule's),
and compared with the threshold of the run's optimizer (:func:`optim_core.sharpness.stability_threshold`):
2 for GD, 2(1+β) for heavy ball, 2(1+β)/(1+2β) for Nesterov. For Adam, AdamW, RMSprop and Adagrad the
rule is read on the preconditioned Hessian P⁻¹H, P the diagonal their step divides by (from the state
the race recorded); other optimizers are measured against GD's 2 as a yardstick, and the text says so.

The numbers, the words and the figure are pure functions; :func:`inspector_panel` and
:func:`stability_panel` draw them with Streamlit (imported inside them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from app.playground.inspector import num
from app.ui.controls import fmt
from app.ui.theme import FONT_SIZE, LINE_WIDTH, MARKER_SIZE, TITLE_SIZE, base_layout, legend_below, palette, tone
from optim_core import registry
from optim_core.sharpness import (
    StabilityThreshold,
    preconditioned_top_eigenvalue,
    region_changes,
    stability_threshold,
    step_sharpness,
    top_eigenvalue,
)

__all__ = [
    "RunSharpness",
    "StepSharpness",
    "run_sharpness",
    "all_runs",
    "at_step",
    "rule_text",
    "crossing_text",
    "summary_rows",
    "sharpness_figure",
    "inspector_lines",
    "inspector_panel",
    "stability_panel",
    "MAX_MARKS",
]

PLAIN, PRECONDITIONED = "η·λₘₐₓ", "η·λₘₐₓ(P⁻¹H)"
MAX_MARKS = 12  # crossings of each kind marked on the chart; the legend and the text count them all
OFF_CHART = 4.0  # the chart's y axis stops at this many thresholds (a diverging run's λₘₐₓ explodes)


# ---------------------------------------------------------------------------------------
# The numbers
# ---------------------------------------------------------------------------------------


def _hypers(spec) -> dict[str, Any]:
    try:
        return spec.resolved_hypers()
    except Exception:
        return dict(spec.hypers)


def _momentum_curve(spec, hp, steps: int) -> np.ndarray | None:
    """The momentum (or β₁) in force at each step when the run's schedule cycles it (OneCycleLR,
    CyclicLR), as the engine drives it; None when it is constant."""
    if spec.schedule is None:
        return None
    sched = registry.get_schedule(spec.schedule[0])
    role = spec.info.with_role("cycled_momentum")
    if not sched.cycles_momentum or role is None or hp.get("lr") is None:
        return None
    try:
        mom = sched.curve(steps, float(hp["lr"]), **dict(spec.schedule[1])).get("momentum")
    except (TypeError, ValueError):
        return None
    return None if mom is None else np.asarray(mom, dtype=np.float64)[:steps]


def _rules(spec, hp, steps: int) -> tuple[StabilityThreshold, np.ndarray | None]:
    """The run's rule at its first step, and the momentum per step when a schedule cycles it."""
    mom = _momentum_curve(spec, hp, steps)
    if mom is None:
        return stability_threshold(spec.optimizer, hp), None
    key = spec.info.with_role("cycled_momentum").name
    return stability_threshold(spec.optimizer, {**hp, key: float(mom[0])}), mom


def _thresholds(spec, hp, mom: np.ndarray | None, steps: int, pre: bool) -> np.ndarray:
    """The threshold at each step (it moves with a cycled momentum)."""
    def one(h):
        r = stability_threshold(spec.optimizer, h)
        return r.preconditioned if pre else r.threshold

    if mom is None:
        return np.full(steps, one(hp))
    key = spec.info.with_role("cycled_momentum").name
    values, index = np.unique(mom, return_inverse=True)
    return np.array([one({**hp, key: float(v)}) for v in values])[index]


def _preconditioner(traj, k: int, hp, optimizer: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(P, lr factor)`` per step for the adaptive methods whose diagonal P the race recorded: P of
    shape (T, 2) (what step s divides the gradient by), and the factor the optimizer puts on the lr
    (Adagrad's decay). None for every other optimizer."""
    states = traj.states[k] if k < len(traj.states) else {}
    T = int(traj.steps)
    s = np.arange(1, T + 1, dtype=np.float64)
    eps = float(hp.get("eps") or 0.0)
    with np.errstate(all="ignore"):
        if optimizer in ("Adam", "AdamW"):
            v = states.get("max_exp_avg_sq" if hp.get("amsgrad") else "exp_avg_sq")
            if v is None:
                return None
            bc2 = 1.0 - float(hp["beta2"]) ** s
            return np.sqrt(v[0] / bc2[:, None]) + eps, np.ones(T)
        if optimizer == "RMSprop":
            v = states.get("square_avg")
            if v is None:
                return None
            v = v[0]
            if hp.get("centered"):
                g = states.get("grad_avg")
                if g is None:
                    return None
                v = v - g[0] ** 2
            return np.sqrt(v) + eps, np.ones(T)
        if optimizer == "Adagrad":
            acc = states.get("sum")
            if acc is None:
                return None
            return np.sqrt(acc[0]) + eps, 1.0 / (1.0 + (s - 1.0) * float(hp.get("lr_decay") or 0.0))
    return None


@dataclass(frozen=True)
class RunSharpness:
    """One run's stability quantity at each step s = 1..T (index s-1), against its threshold."""

    k: int
    label: str
    optimizer: str
    rule: StabilityThreshold  # at step 1 (a cycled momentum moves it: see ``threshold``)
    quantity: str  # PLAIN or PRECONDITIONED: what ``values`` is
    values: np.ndarray  # (T,)
    threshold: np.ndarray  # (T,)
    plain: np.ndarray  # (T,) η·λₘₐₓ of the Hessian itself (= values for GD and momentum)
    changes: np.ndarray  # (T,) int8: +1 leaves the stable region at that step, -1 comes back
    momentum: np.ndarray | None  # the cycled momentum per step, if a schedule cycles it
    lrs: np.ndarray  # (T,) the lr in force at each step
    diverged_at: int = -1  # the step at which the run diverged (-1: it did not)

    @property
    def leaves(self) -> np.ndarray:
        return np.flatnonzero(self.changes > 0) + 1

    @property
    def enters(self) -> np.ndarray:
        return np.flatnonzero(self.changes < 0) + 1

    @property
    def yardstick(self) -> bool:
        """Whether the threshold is GD's 2, drawn for comparison only (no rule of the run's own)."""
        return self.quantity == PLAIN and not self.rule.applies

    @property
    def unstable(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return self.values >= self.threshold


def run_sharpness(traj, surface, k: int, label: str, plain: np.ndarray | None = None) -> RunSharpness:
    """Run ``k`` (first start) of ``traj`` on ``surface``; ``plain`` is its η·λₘₐₓ if already computed."""
    spec = traj.specs[k]
    hp = _hypers(spec)
    T = int(traj.steps)
    rule, mom = _rules(spec, hp, T)
    pos, lrs = traj.positions[k, 0], traj.lrs[k, 0]
    if plain is None:
        plain = step_sharpness(surface, pos, lrs, shift=rule.shift)
    values, quantity = plain, PLAIN
    pre = _preconditioner(traj, k, hp, spec.optimizer) if rule.kind == "preconditioned" else None
    if pre is not None:
        p, factor = pre
        values, quantity = step_sharpness(surface, pos, lrs * factor, preconditioner=p), PRECONDITIONED
    threshold = _thresholds(spec, hp, mom, T, quantity == PRECONDITIONED)
    return RunSharpness(k, label, spec.optimizer, rule, quantity, values, threshold, plain,
                        region_changes(values, threshold), mom, np.asarray(lrs, dtype=np.float64),
                        int(traj.diverged_step[k, 0]))


def all_runs(traj, surface, labels: Sequence[str]) -> list[RunSharpness]:
    """Every run, the Hessians of all runs' steps evaluated in one call."""
    K = len(labels)
    shifts = np.array([stability_threshold(traj.specs[k].optimizer, _hypers(traj.specs[k])).shift
                       for k in range(K)])[:, None]
    plain = step_sharpness(surface, traj.positions[:K, 0], traj.lrs[:K, 0], shift=shifts)
    return [run_sharpness(traj, surface, k, labels[k], plain[k]) for k in range(K)]


@dataclass(frozen=True)
class StepSharpness:
    """One run at one step s: the Hessian at θ_{s-1}, its λₘₐₓ, the lr in force, the product."""

    step: int
    point: np.ndarray
    hessian: np.ndarray  # (2, 2), weight decay's shift included
    lam: float
    lr: float
    value: float  # η·λₘₐₓ
    threshold: float
    rule: StabilityThreshold
    pre_value: float | None = None  # η·λₘₐₓ(P⁻¹H), for an adaptive method
    pre_threshold: float | None = None

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)

    @property
    def stable(self) -> bool:
        v, t = (self.pre_value, self.pre_threshold) if self.pre_value is not None else (self.value, self.threshold)
        return bool(v < t)


def at_step(traj, surface, k: int, step: int) -> StepSharpness:
    """Run ``k`` at ``step`` (clamped to 1..T), read at θ_{s-1} with the lr of step s."""
    T = int(traj.steps)
    s = int(min(max(int(step), 1), T))
    spec = traj.specs[k]
    hp = _hypers(spec)
    rule, mom = _rules(spec, hp, T)
    if mom is not None:
        key = spec.info.with_role("cycled_momentum").name
        rule = stability_threshold(spec.optimizer, {**hp, key: float(mom[s - 1])})
    point = np.asarray(traj.positions[k, 0, s - 1], dtype=np.float64)
    lr = float(traj.lrs[k, 0, s - 1])
    with np.errstate(all="ignore"):
        h = np.asarray(surface.hessian(point), dtype=np.float64).reshape(2, 2) + rule.shift * np.eye(2)
    lam = float(top_eigenvalue(h))
    out = StepSharpness(s, point, h, lam, lr, lr * lam, rule.threshold, rule)
    pre = _preconditioner(traj, k, hp, spec.optimizer) if rule.kind == "preconditioned" else None
    if pre is not None:
        p, factor = pre
        pv = float(preconditioned_top_eigenvalue(h, p[s - 1])) * lr * float(factor[s - 1])
        out = StepSharpness(s, point, h, lam, lr, lr * lam, rule.threshold, rule, pv, rule.preconditioned)
    return out


# ---------------------------------------------------------------------------------------
# The words
# ---------------------------------------------------------------------------------------


def _n(v: float, digits: int = 4) -> str:
    return fmt(v, digits) if math.isfinite(v) else ("∞" if v > 0 else "—")


def rule_text(optimizer: str, rule: StabilityThreshold, cycled: np.ndarray | None = None) -> str:
    """Which rule applies to ``optimizer`` and why, in one or two sentences (markdown)."""
    wd = (f" Weight decay λ = {fmt(rule.shift)} adds λ to every curvature the step sees, so λₘₐₓ here is that "
          "of H + λI." if rule.shift else "")
    moving = ""
    if cycled is not None and cycled.size:
        moving = (f" The schedule cycles β between {_n(float(np.min(cycled)), 3)} and {_n(float(np.max(cycled)), 3)}, "
                  "so the threshold moves with it.")
    b = fmt(rule.beta, 4) + (" at step 1" if moving else "")
    if rule.kind == "gd":
        return f"**Gradient descent's rule:** stable while η·λₘₐₓ < 2.{wd}"
    if rule.kind == "heavy_ball":
        damp = f"/(1−τ), τ = {fmt(rule.dampening)}" if rule.dampening else ""
        return (f"**Heavy-ball momentum's rule** (β = {b}): stable while η·λₘₐₓ < 2(1+β){damp} = "
                f"{_n(rule.threshold)}.{wd}{moving}")
    if rule.kind == "nesterov":
        return (f"**Nesterov momentum's rule** (β = {b}): stable while η·λₘₐₓ < 2(1+β)/(1+2β) = "
                f"{_n(rule.threshold)}.{wd}{moving}")
    if rule.kind == "preconditioned":
        if optimizer in ("RMSprop", "Adagrad"):
            store = "√v + ε" if optimizer == "RMSprop" else "√s + ε"
            form = "2(1+μ)" if rule.beta else "2"
            return (f"**{optimizer} preconditions the gradient**, so the rule is for P⁻¹H with P = diag({store}): "
                    f"stable while η·λₘₐₓ(P⁻¹H) < {form}{'' if form == '2' else ' = ' + _n(rule.preconditioned)}. "
                    "The 2 of plain gradient descent does not bound it.")
        return (f"**{optimizer} preconditions the gradient**, so the rule is for P⁻¹H with P = diag(√v̂ + ε) and its "
                f"momentum an average (β₁ = {b}): stable while η·λₘₐₓ(P⁻¹H) < 2(1+β₁)/(1−β₁) = "
                f"{_n(rule.preconditioned)}, once the bias corrections have faded (Cohen et al. 2022: adaptive "
                f"methods hover at this edge). The 2 of plain gradient descent does not bound it.{moving}")
    return (f"**No rule of this form for {optimizer}:** the 2 (and 2(1+β) for momentum) is for gradient descent; "
            f"{optimizer}'s step is not η times a (preconditioned) gradient, so η·λₘₐₓ against 2 is shown only as a "
            "yardstick.")


def _sub(n: int) -> str:
    return str(int(n)).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def crossing_text(r: RunSharpness, max_listed: int = 4) -> str:
    """Where run ``r`` leaves and re-enters the stable region, in order, in a sentence (markdown)."""
    q = r.quantity
    finite = np.isfinite(r.values)
    if not finite.any():
        return f"**{r.label}**: no step with a finite {q} (the Hessian is not defined along this path)."
    top = int(np.argmax(np.where(finite, r.values, -np.inf)))
    peak = f"its largest {q} is {_n(float(r.values[top]))}, at step {top + 1}"
    limit = "2" if r.yardstick else _n(float(r.threshold[0]))
    if r.yardstick:
        inside, outside, up, down = "below 2", "at or above 2", "goes above 2", "drops below 2"
        note = f" The 2 is gradient descent's limit: for {r.optimizer}, a yardstick only."
    else:
        inside, outside, up, down = "in the stable region", "outside the stable region", \
            "**leaves it**", "**re-enters it**"
        note = ""
    unstable = r.unstable
    v1 = float(r.values[0])
    first = (f"**{r.label}** starts {outside if unstable[0] else inside} ({q} = {_n(v1)} "
             f"{'≥' if unstable[0] else '<'} {limit} at step 1)")
    events = sorted([(int(s), up) for s in r.leaves] + [(int(s), down) for s in r.enters])
    if not events:
        rest = "and never comes back" if unstable[0] else "and stays there at every step"
        if r.diverged_at >= 0:
            rest += f" until it diverges at step {r.diverged_at}"
        return f"{first} {rest}; {peak}.{note}"
    said = [f"{what} at step {s}" for s, what in events[:max_listed]]
    more = ""
    rest = events[max_listed:]
    if rest:
        span = rest[-1][0] - rest[0][0] + 1
        hover = len(rest) >= 8 and len(rest) > 0.25 * span  # crossing every few steps: it hovers at the edge
        more = (f", then crosses the threshold {'back and forth ' if hover else ''}{len(rest)} more "
                f"time{'s' if len(rest) > 1 else ''}, up to step {rest[-1][0]}")
        lr = r.lrs[np.isfinite(r.lrs)]
        if hover and r.quantity == PLAIN and not r.yardstick and lr.size and np.all(lr == lr[0]) and lr[0] > 0:
            more += (f" (the edge of stability: λₘₐₓ hovers near {limit}/η = "
                     f"{_n(float(r.threshold[0]) / float(lr[0]), 4)})")
        elif hover:
            more += " (hovering at the edge)"
    last = int(np.flatnonzero(finite)[-1])
    end = (f"it diverges at step {r.diverged_at}" if r.diverged_at >= 0 else
           f"it ends {outside if unstable[last] else inside}")
    return f"{first}, " + ", ".join(said) + more + f"; {end}; {peak}.{note}"


def summary_rows(runs: Sequence[RunSharpness]) -> list[dict[str, Any]]:
    """One table row per run: its rule's quantity and threshold, its largest value, the steps spent at
    or above the threshold, the first step leaving and the first re-entering."""
    rows = []
    for r in runs:
        finite = np.isfinite(r.values)
        peak = float(np.max(r.values[finite])) if finite.any() else math.nan
        rows.append({
            "run": r.label,
            "quantity": r.quantity,
            "threshold": ("2 (yardstick)" if r.yardstick else _n(float(r.threshold[0]))) +
                         (" (cycles)" if r.momentum is not None else ""),
            "largest": _n(peak),
            "steps ≥ threshold": int(np.sum(r.unstable)),
            "first leaves": str(int(r.leaves[0])) if r.leaves.size else "—",
            "first re-enters": str(int(r.enters[0])) if r.enters.size else "—",
        })
    return rows


# ---------------------------------------------------------------------------------------
# The figure
# ---------------------------------------------------------------------------------------


def sharpness_figure(r: RunSharpness, color: str, *, inspect_step: int | None = None, height: int = 380) -> go.Figure:
    """``r``'s quantity against step, the threshold dashed over a shaded unstable region, ▲ where the
    path leaves the stable region and ▼ where it comes back; the inspected step as a cursor."""
    p = palette()
    c = tone(color)
    T = r.values.size
    thr = r.threshold
    t_hi = float(np.nanmax(thr)) if np.isfinite(thr).any() else 2.0
    t_hi = t_hi if math.isfinite(t_hi) else 2.0
    finite = r.values[np.isfinite(r.values)]
    lo = min(0.0, float(finite.min()) if finite.size else 0.0)
    lo = max(lo, -t_hi)
    hi = max(1.3 * t_hi, float(finite.max()) * 1.08 if finite.size else 0.0)
    clipped = hi > OFF_CHART * t_hi
    hi = min(hi, OFF_CHART * t_hi)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x0=1, dx=1, y=np.clip(r.values, lo, hi), mode="lines", name=f"{r.quantity}",
                             line=dict(color=c, width=LINE_WIDTH),
                             customdata=r.values,
                             hovertemplate=f"step %{{x}}: {r.quantity} = %{{customdata:.4g}}<extra></extra>"))
    # The threshold over the curve: a path hovering at the edge is a band the line must show through.
    constant = bool(np.all(thr == thr[0]))
    name = "GD's limit 2 (yardstick)" if r.yardstick else f"threshold {_n(float(thr[0]))}"
    if constant and math.isfinite(float(thr[0])):
        fig.add_shape(type="rect", xref="paper", x0=0, x1=1, yref="y", y0=float(thr[0]), y1=hi,
                      fillcolor=p.mark_red, opacity=0.08, line=dict(width=0), layer="below")
        fig.add_trace(go.Scatter(x=[1, T], y=[float(thr[0])] * 2, mode="lines", name=name,
                                 line=dict(color=p.bound_line, width=LINE_WIDTH, dash="dash"), hoverinfo="skip"))
    else:
        fig.add_trace(go.Scatter(x0=1, dx=1, y=thr, mode="lines", name="threshold (moves with β)",
                                 line=dict(color=p.bound_line, width=LINE_WIDTH, dash="dash"),
                                 hovertemplate="step %{x}: threshold %{y:.4g}<extra></extra>"))
    # The marks sit on the threshold line, where the curve crosses it; a path hovering at the edge crosses it
    # every step, so only the first few are marked (the legend and the sentence count them all).
    for steps, symbol, mcolor, what in ((r.leaves, "triangle-up", p.mark_red, "leaves the stable region"),
                                        (r.enters, "triangle-down", p.accent, "re-enters the stable region")):
        if not steps.size:
            continue
        shown = steps[:MAX_MARKS]
        label = f"{what} ({steps.size}×)" if steps.size > 1 else what
        fig.add_trace(go.Scatter(x=shown, y=np.clip(thr[shown - 1], lo, hi), mode="markers", name=label,
                                 marker=dict(symbol=symbol, size=MARKER_SIZE + 4, color=mcolor,
                                             line=dict(color=p.marker_edge, width=1.5)),
                                 customdata=r.values[shown - 1],
                                 hovertemplate=f"step %{{x}}: {what} ({r.quantity} = %{{customdata:.4g}})"
                                               "<extra></extra>"))
    seen = np.flatnonzero(np.isfinite(r.values))
    if r.diverged_at >= 0 and seen.size:  # ✕ where the curve stops, as the loss chart marks a divergence
        j = int(seen[-1])
        fig.add_trace(go.Scatter(x=[j + 1], y=[float(np.clip(r.values[j], lo, hi))], mode="text", text=["✕"],
                                 name=f"diverged at step {r.diverged_at}", showlegend=False,
                                 textfont=dict(size=26, color=p.mark_red),
                                 hovertemplate=f"diverged at step {r.diverged_at}<extra></extra>"))
    if r.leaves.size:
        s0 = int(r.leaves[0])
        y0 = float(np.clip(thr[s0 - 1], lo, hi))
        high = (y0 - lo) > 0.6 * (hi - lo)  # the line near the top: the label goes under it
        fig.add_annotation(x=s0, y=y0, text=f"leaves at step {s0}", showarrow=True, arrowcolor=p.mark_red,
                           arrowwidth=2, ax=70 if s0 < 0.6 * T else -70, ay=44 if high else -44,
                           font=dict(size=FONT_SIZE, color=p.mark_red), bgcolor=p.label_background)
    if inspect_step is not None and 1 <= int(inspect_step) <= T:
        fig.add_vline(x=int(inspect_step), line=dict(color=p.cursor_grey, width=2, dash="dot"))
    title = f"{r.quantity} at each step: {r.label}"
    fig.update_layout(**base_layout(
        height=height, title=dict(text=title, font=dict(size=TITLE_SIZE)),
        xaxis=dict(title=dict(text="step" + (" (values above the chart are cut)" if clipped else "")),
                   range=[0.5, T + 0.5]),
        yaxis=dict(title=dict(text=r.quantity), range=[lo, hi]),
        legend=legend_below(), margin=dict(l=75, r=20, t=50, b=60)))
    return fig


# ---------------------------------------------------------------------------------------
# Drawn on the page
# ---------------------------------------------------------------------------------------


def _matrix(h: np.ndarray) -> str:
    return (rf"\begin{{pmatrix}}{num(h[0, 0])} & {num(h[0, 1])}\\{num(h[1, 0])} & {num(h[1, 1])}\end{{pmatrix}}")


def inspector_lines(traj, surface, k: int, step: int) -> tuple[list[str], str]:
    """What the inspector shows for run ``k`` at ``step``: LaTeX lines with the numbers (none when they
    are not finite) and a sentence with the verdict and the rule (markdown)."""
    v = at_step(traj, surface, k, step)
    s = v.step
    optimizer = traj.specs[k].optimizer
    if not np.all(np.isfinite(v.point)):
        return [], ""  # the run had diverged before this step: the inspector says so
    if not (math.isfinite(v.lam) and math.isfinite(v.lr)):
        return [], (f"**η·λₘₐₓ at step {s}:** the exact Hessian is not finite at θ_{s - 1} = "
                      f"({_n(float(v.point[0]))}, {_n(float(v.point[1]))}): no sharpness to read.")
    plain = rf"\eta\,\lambda_{{\max}} = {num(v.lr)}\cdot{num(v.lam)} = {num(v.value)}"
    if v.pre_value is not None:
        cmp = "<" if v.stable else r"\ge"
        plain += (rf",\quad \eta\,\lambda_{{\max}}(P^{{-1}}H) = {num(v.pre_value)} {cmp} "
                  rf"{num(float(v.pre_threshold))}")
    elif v.rule.applies:
        plain += " < " if v.stable else r" \ge "
        plain += num(v.threshold)
    latex = [rf"H(\theta_{{{s - 1}}}) = {_matrix(v.hessian)},\quad \lambda_{{\max}} = {num(v.lam)}", plain]
    where = (f"The exact Hessian at θ{_sub(s - 1)}, where step {s} was taken; η = {_n(v.lr)}, the lr in force "
             "at that step. ")
    if v.pre_value is not None:
        verdict = "stable" if v.stable else "past the edge: unstable"
        head = (f"**Step {s}: η·λₘₐₓ(P⁻¹H) = {_n(v.pre_value)} {'<' if v.stable else '≥'} "
                f"{_n(float(v.pre_threshold))}, {verdict}** (η·λₘₐₓ of H itself = {_n(v.value)}). ")
    elif v.rule.applies:
        verdict = "stable" if v.stable else "at or past the edge: unstable"
        head = f"**Step {s}: η·λₘₐₓ = {_n(v.value)} {'<' if v.stable else '≥'} {_n(v.threshold)}, {verdict}.** "
    else:
        head = f"**Step {s}: η·λₘₐₓ = {_n(v.value)}** ({'below' if v.stable else 'at or above'} GD's 2). "
    return latex, head + where + rule_text(optimizer, v.rule)


def inspector_panel(traj, surface, k: int, step: int) -> None:
    """The step inspector's sharpness lines (Streamlit)."""
    import streamlit as st

    try:
        latex, text = inspector_lines(traj, surface, k, step)
    except (ValueError, NotImplementedError, FloatingPointError) as exc:
        st.caption(f"η·λₘₐₓ could not be computed here: {exc}")
        return
    from app.playground.theory import display_latex

    for line in latex:
        st.latex(display_latex(line))
    if text:
        st.markdown(text)


def stability_panel(traj, surface, labels: Sequence[str], colors: Sequence[str], k: int, step: int | None,
                    quadratic: bool = True) -> None:
    """The Stability tab's section on the race itself: run ``k``'s chart and sentence, every run's row, the
    inspected ``step`` as the chart's cursor (Streamlit). Off a ``quadratic`` it is the whole tab."""
    import streamlit as st

    if not quadratic:
        st.markdown("This surface is not a quadratic: there is no single curvature L and no single limit 2/L. "
                    "The curvature changes along the path, so the question is asked at every step.")
    st.markdown("#### Along this race: η·λₘₐₓ at each step")
    st.caption("Step s is read where it starts, θₛ₋₁: the top eigenvalue λₘₐₓ of the surface's exact Hessian there, "
               "times the lr in force at that step (a schedule's). Gradient descent is stable while η·λₘₐₓ < 2; "
               "Cohen et al. (ICLR 2021) found that full-batch gradient descent on neural networks drives λₘₐₓ up "
               "until η·λₘₐₓ hovers at 2, the edge of stability.")
    try:
        runs = all_runs(traj, surface, labels)
    except (ValueError, NotImplementedError, FloatingPointError) as exc:
        st.error(f"η·λₘₐₓ could not be computed on this surface: {exc}")
        return
    r = runs[k]
    st.markdown(rule_text(r.optimizer, r.rule, r.momentum))
    st.plotly_chart(sharpness_figure(r, colors[k], inspect_step=None if step is None else int(step)), key="pg_sharp",
                    theme=None,
                    config={"displaylogo": False})
    st.markdown(crossing_text(r))
    st.dataframe(summary_rows(runs), hide_index=True, width="stretch")
