"""The debugging panel's numbers: per-layer gradient norms and update sizes, dead units, where a NaN began.

A :class:`Monitor` rides on each :class:`~app.training.backend.Run` (``run.monitor``) and records, per
optimizer step and per layer (a Linear layer's weight matrix and bias together):

- ``‖∇W‖``, the layer's gradient norm (before clipping, as the run's total ``grad_norm``);
- ``log10(‖ΔW‖ / ‖W‖)``, the size of the step's update relative to the weights it moves. The usual
  rule of thumb (Stanford CS231n's notes, "Ratio of weights:updates"; Karpathy's makemore lectures
  plot the same ratio on a log10 scale against a guide at -3) is that it sits around 10⁻³: much lower
  and the layer barely learns (lr too small), much higher and it is being thrown around (lr too
  large). :data:`HEALTHY` is the band the panel shades around it.

Cheap by construction: the weights live in one flat buffer (:class:`~app.training.backend.ParameterAdapter`)
in which each layer is one contiguous slice, so a step costs one copy of that buffer and three
``np.add.reduceat`` over it, a few microseconds for these networks. Rows are float32, 4·(1 + 2L) bytes
per step for L layers.

At every :data:`DEAD_EVERY`-th evaluation (on the whole training set) it also counts the **dead units**:
hidden units whose activation has (almost) no gradient on *every* training point, so no training
example can move them again: a ReLU unit whose input is ≤ 0 everywhere; for a smooth activation, a unit
saturated everywhere (its derivative under 1% of its largest: tanh beyond ±3, sigmoid beyond ±6, GELU
below -3). And when a run stops on a non-finite loss or gradient, it finds where the first non-finite
value appeared: in the weights (after which update), the forward activations (which layer) or the
gradients (which layer), and :func:`checklist` ties each symptom to the course's debugging checklist
(loss not decreasing, exploding, train and test diverging, slow convergence) with a hint.

No streamlit here; :func:`panel_figure` builds the panel's Plotly figure (pure, like the other figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from app import budget
from app.training.groups import layer_of

__all__ = ["HEALTHY", "GUIDE", "DEAD_RULES", "DEAD_EVERY", "MAX_PANEL_POINTS", "CHECKLIST", "NonFinite", "Finding",
           "Monitor", "checklist", "thin", "panel_figure", "describe", "panel"]

GUIDE = -3.0  # log10 of the usual update-to-weight ratio, 1e-3
HEALTHY = (-4.0, -2.0)  # the band shaded around it: within a factor of 10
# Where an activation passes (almost) no gradient: its derivative under 1% of its largest.
DEAD_RULES = {
    "relu": ("dead", lambda z: z <= 0),
    "gelu": ("dead", lambda z: z < -3.0),
    "tanh": ("saturated", lambda z: np.abs(z) > 3.0),
    "sigmoid": ("saturated", lambda z: np.abs(z) > 6.0),
}
# Dead units are counted at every DEAD_EVERY-th evaluation (one more forward pass over the training set,
# about 0.1 ms: every 4th keeps it near 5 µs a step).
DEAD_EVERY = 4
MAX_PANEL_POINTS = budget.DEBUG_PANEL_POINTS  # points per curve the panel draws at most (evenly spread)


@dataclass(frozen=True)
class NonFinite:
    """Where the first non-finite value of a run was found."""

    step: int  # the step being taken (the update of step ``step`` made weights non-finite; or its forward/backward)
    where: str  # "weights", "forward", "gradients" or "gradient norm"
    layer: int  # 1-based layer (0: none in particular)
    value: str  # "nan", "inf", "-inf" or an explanation

    def text(self) -> str:
        if self.where == "weights":
            return (f"the weights of layer {self.layer} became {self.value} in the update of step {self.step}; "
                    f"the forward pass of step {self.step + 1} then failed")
        if self.where == "forward":
            return f"the forward pass of step {self.step}: layer {self.layer}'s output became {self.value}"
        if self.where == "gradients":
            return f"the backward pass of step {self.step}: layer {self.layer}'s gradient became {self.value}"
        return f"step {self.step}: {self.value}"


@dataclass(frozen=True)
class Finding:
    """A symptom, the item of the course's checklist it belongs to, what was seen and what to try."""

    item: str
    seen: str
    hint: str
    alarm: bool = True


def _kind(a: np.ndarray) -> str:
    bad = a[~np.isfinite(a)]
    if bad.size == 0:
        return "finite"
    return "nan" if np.isnan(bad).any() else ("inf" if (bad > 0).any() else "-inf")


class Monitor:
    """Per-layer records of one run (see the module docstring); the run calls its hooks."""

    def __init__(self, run):
        a = run.adapter
        layers = layer_of(a.names)
        self.n_layers = max(layers) + 1
        sizes = [t.numel() for t in a.tensors]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.intp)
        # Each layer's tensors are consecutive in model.parameters(), so each layer is one slice of the buffer.
        self.starts = np.array([offsets[layers.index(k)] for k in range(self.n_layers)], dtype=np.intp)
        self.ends = np.array(list(self.starts[1:]) + [offsets[-1]], dtype=np.intp)
        self._prev = np.empty_like(a.flat)
        self._gsq = np.zeros(self.n_layers)
        L = self.n_layers
        self._rows = np.empty((256, 1 + 2 * L), dtype=np.float32)  # step, ‖∇‖ per layer, log10 ratio per layer
        self.n = 0
        self.hidden = list(range(L - 1))
        self._dead = np.empty((64, L), dtype=np.float32)  # step, fraction per hidden layer
        self.n_dead = 0
        self._evals_seen = 0
        self.dead_word, self._dead_rule = DEAD_RULES.get(_activation_name(run.model), ("dead", lambda z: z <= 0))
        self.nonfinite: NonFinite | None = None

    # -- hooks (called by Run) -----------------------------------------------------------
    def before_step(self, run) -> None:
        """After backward, before clipping and the update: the raw per-layer gradients; the weights kept."""
        a = run.adapter
        g = a.flat_grad.astype(np.float64)
        self._gsq = np.add.reduceat(g * g, self.starts)
        np.copyto(self._prev, a.flat)

    def after_step(self, run) -> None:
        """After the update: per-layer ‖ΔW‖ / ‖W‖, and whether the update made a weight non-finite."""
        a = run.adapter
        w = a.flat.astype(np.float64)
        d = w - self._prev
        wsq = np.add.reduceat(w * w, self.starts)
        dsq = np.add.reduceat(d * d, self.starts)
        with np.errstate(all="ignore"):
            ratio = np.log10(np.sqrt(dsq) / np.sqrt(wsq))
        if self.n == len(self._rows):
            self._rows = np.concatenate([self._rows, np.empty_like(self._rows)])
        row = self._rows[self.n]
        row[0] = run.step
        row[1:1 + self.n_layers] = np.sqrt(self._gsq)
        row[1 + self.n_layers:] = ratio
        self.n += 1
        if self.nonfinite is None and not np.isfinite(wsq).all():
            for k in range(self.n_layers):
                kind = _kind(a.flat[self.starts[k]:self.ends[k]])
                if kind != "finite":
                    self.nonfinite = NonFinite(run.step, "weights", k + 1, kind)
                    break

    def diverged(self, run, micro_batches) -> None:
        """The run stopped on a non-finite loss or gradient norm: find the first layer where it began."""
        if self.nonfinite is not None:
            return
        torch = _torch()
        a = run.adapter
        step = run.step + 1
        with torch.no_grad():
            h = micro_batches[0][0]
            k = 0
            for module in run.model:
                h = module(h)
                if isinstance(module, torch.nn.Linear):
                    k += 1
                kind = _kind(h.numpy())
                if kind != "finite":
                    self.nonfinite = NonFinite(step, "forward", k, kind)
                    return
        for k in range(self.n_layers - 1, -1, -1):  # backprop reaches the last layer first
            kind = _kind(a.flat_grad[self.starts[k]:self.ends[k]])
            if kind != "finite":
                self.nonfinite = NonFinite(step, "gradients", k + 1, kind)
                return
        g = a.flat_grad.astype(np.float64)
        norms = np.sqrt(np.add.reduceat(g * g, self.starts))
        k = int(np.argmax(norms))
        self.nonfinite = NonFinite(step, "gradient norm", k + 1,
                                   f"every gradient is finite, but their squares overflow {a.flat_grad.dtype} when "
                                   f"summed for the gradient norm: layer {k + 1}'s gradient norm is {norms[k]:.2g}")

    def evaluated(self, run, X) -> None:
        """At an evaluation: the fraction of each hidden layer's units that are dead on the training set ``X``."""
        self._evals_seen += 1
        if not self.hidden or (self._evals_seen - 1) % DEAD_EVERY:
            return
        torch = _torch()
        rule = self._dead_rule
        if self.n_dead == len(self._dead):
            self._dead = np.concatenate([self._dead, np.empty_like(self._dead)])
        row = self._dead[self.n_dead]
        row[:] = np.nan
        row[0] = run.step
        with torch.no_grad():
            h = X
            k = 0
            for module in run.model:
                h = module(h)
                if isinstance(module, torch.nn.Linear):
                    if k < len(self.hidden):
                        z = h.numpy()
                        row[1 + k] = float(rule(z).all(axis=0).mean()) if np.isfinite(z).all() else np.nan
                    k += 1
        self.n_dead += 1

    # -- views -----------------------------------------------------------------------------
    @property
    def steps(self) -> np.ndarray:
        return self._rows[: self.n, 0]

    @property
    def grad_norms(self) -> np.ndarray:
        """``(steps, layers)``: each layer's gradient norm."""
        return self._rows[: self.n, 1:1 + self.n_layers]

    @property
    def update_ratios(self) -> np.ndarray:
        """``(steps, layers)``: log10(‖ΔW‖ / ‖W‖) of each layer's update."""
        return self._rows[: self.n, 1 + self.n_layers:]

    @property
    def dead(self) -> np.ndarray:
        """``(evaluations, hidden layers)``: each hidden layer's fraction of dead (or saturated) units."""
        return self._dead[: self.n_dead, 1:1 + len(self.hidden)]

    @property
    def dead_steps(self) -> np.ndarray:
        return self._dead[: self.n_dead, 0]


def _torch():
    from app.training.backend import import_torch

    return import_torch()


def _activation_name(model) -> str:
    for module in model:
        name = type(module).__name__.lower()
        if name in DEAD_RULES:
            return name
    return ""


def _recent(a: np.ndarray, frac: float = 0.2, least: int = 5) -> np.ndarray:
    n = len(a)
    return a[max(0, n - max(least, int(n * frac))):]


# -- the checklist -----------------------------------------------------------------------------------
CHECKLIST = ("Loss exploding", "Loss not decreasing", "Training vs test diverging", "Slow convergence")


def checklist(run) -> list[Finding]:
    """What ``run``'s records show, item by item of the course's debugging checklist (empty: nothing to report)."""
    m: Monitor | None = getattr(run, "monitor", None)
    out: list[Finding] = []
    if m is None:
        return out
    if m.nonfinite is not None:
        out.append(Finding(CHECKLIST[0], f"The run stopped on a non-finite value at step {m.nonfinite.step} "
                           "(the detector above says where it began).",
                           "Lower the learning rate (try 10× lower) or clip the gradient norm; then check the "
                           "data and the loss for log(0) or a division by 0."))
    elif m.n >= 10:
        high = np.nanmax(_recent(m.update_ratios), axis=0)
        worst = int(np.nanargmax(high)) if np.isfinite(high).any() else -1
        if worst >= 0 and high[worst] > HEALTHY[1] + 1:
            out.append(Finding(CHECKLIST[0], f"Layer {worst + 1}'s updates reach 10^{high[worst]:.1f} of its "
                               "weights per step (the usual is about 10⁻³).",
                               "Steps this large make the loss jump or explode: lower the learning rate or clip "
                               "the gradients.", alarm=False))
    ev = run.evals
    if len(ev["step"]) >= 4 and m.nonfinite is None:
        tr, te = ev["train_loss"], ev["test_loss"]
        if run.step >= 50 and tr[-1] > 0.98 * tr[0]:
            tiny = [k + 1 for k in range(m.n_layers) if m.n and np.nanmax(_recent(m.grad_norms[:, k])) < 1e-6]
            seen = f"The training loss went from {tr[0]:.3g} to {tr[-1]:.3g} in {run.step:,} steps."
            if tiny:
                seen += f" No gradient reaches layer{'s' if len(tiny) > 1 else ''} {', '.join(map(str, tiny))}."
            out.append(Finding(CHECKLIST[1], seen, "Check the learning rate (the Schedules page's LR range test), "
                               "that gradients flow to every layer (left), and try plain SGD to isolate the issue."))
        best = int(np.argmin(te))
        if best < len(te) - 2 and te[-1] > 1.1 * te[best] and tr[-1] < tr[best]:
            out.append(Finding(CHECKLIST[2], f"The test loss rose from {te[best]:.3g} (step {int(ev['step'][best]):,}) "
                               f"to {te[-1]:.3g} while the training loss kept falling.",
                               "Overfitting: more weight decay (AdamW), a smaller network, or more points."))
    if m.n >= 20 and m.nonfinite is None:
        med = np.nanmedian(_recent(m.update_ratios), axis=0)
        slow = [k + 1 for k in range(m.n_layers) if np.isfinite(med[k]) and med[k] < HEALTHY[0]]
        if slow:
            out.append(Finding(CHECKLIST[3], f"Layer{'s' if len(slow) > 1 else ''} {', '.join(map(str, slow))} "
                               f"move{'' if len(slow) > 1 else 's'} by less than 10⁻⁴ of "
                               f"{'their' if len(slow) > 1 else 'its'} weights per step.",
                               "Raise the learning rate (or that group's), add a warm-up, or switch to Adam.",
                               alarm=False))
    if m.n_dead and m.dead.size:
        last = m.dead[-1]
        bad = [(k + 1, f) for k, f in enumerate(last) if np.isfinite(f) and f >= 0.5]
        if bad:
            word = m.dead_word
            out.append(Finding(CHECKLIST[1], "; ".join(f"{f:.0%} of layer {k}'s units are {word}" for k, f in bad)
                               + " on every training point.",
                               f"A {word} unit gets no gradient from any example: lower the learning rate, or "
                               "choose another activation (GELU, tanh) or initialization.", alarm=False))
    return out


# -- the panel's figure ----------------------------------------------------------------------------
def thin(n: int, most: int = MAX_PANEL_POINTS) -> np.ndarray:
    """Indices of at most ``most`` evenly spread rows of ``n`` (the last included)."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).astype(int))


def _layer_colors(n: int) -> list[str]:
    """Early layers light, the head dark: depth reads as shade (one hue, so it is not taken for a run)."""
    from plotly.colors import sample_colorscale

    from app.ui.theme import palette

    scale = palette().sequential_scale  # the theme's, as the maps' steps-to-converge
    return sample_colorscale(scale, [0.85 - 0.85 * k / max(n - 1, 1) for k in range(n)]) if n > 1 else \
        sample_colorscale(scale, [0.3])


def panel_figure(race, height: int = 520):
    """Per run (columns): each layer's gradient norm (top, log scale) and log10(‖ΔW‖/‖W‖) (bottom, the
    healthy band around 10⁻³ shaded), at most :data:`MAX_PANEL_POINTS` points per curve, as float32."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from app.ui.theme import LINE_WIDTH, base_layout, legend_below, palette

    p = palette()
    n = len(race.runs)
    fig = make_subplots(rows=2, cols=n, shared_xaxes=True, vertical_spacing=0.1, horizontal_spacing=0.1,
                        subplot_titles=[r.config.label or f"{r.config.optimizer} · {r.config.backend}"
                                        for r in race.runs] + ["" for _ in race.runs])
    L = max(r.monitor.n_layers for r in race.runs if r.monitor is not None)
    colors = _layer_colors(L)
    for i, run in enumerate(race.runs, start=1):
        m = run.monitor
        if m is None:
            continue
        idx = thin(m.n)
        x = m.steps[idx]
        for k in range(m.n_layers):
            name = f"layer {k + 1}" + (" (head)" if k == m.n_layers - 1 else "")
            common = dict(x=x, mode="lines", name=name, legendgroup=name, line=dict(color=colors[k], width=LINE_WIDTH))
            fig.add_trace(go.Scatter(y=m.grad_norms[idx, k], showlegend=i == 1, **common), row=1, col=i)
            fig.add_trace(go.Scatter(y=m.update_ratios[idx, k], showlegend=False, **common), row=2, col=i)
        fig.add_hrect(y0=HEALTHY[0], y1=HEALTHY[1], row=2, col=i, fillcolor=p.guide_grey, opacity=0.15, line_width=0)
        fig.add_hline(y=GUIDE, row=2, col=i, line=dict(color=p.guide_grey, width=2, dash="dash"))
        fig.update_yaxes(type="log", exponentformat="power", row=1, col=i)
        fig.update_xaxes(title_text="step", row=2, col=i)
        if m.nonfinite is not None:
            fig.add_vline(x=m.nonfinite.step, row="all", col=i, line=dict(color=p.mark_red, width=LINE_WIDTH))
    fig.update_yaxes(title_text="‖∇‖ per layer", row=1, col=1)
    fig.update_yaxes(title_text="log₁₀ ‖ΔW‖/‖W‖", row=2, col=1)
    fig.update_annotations(font_size=18)
    fig.update_layout(**base_layout(height=height, legend=legend_below(), margin=dict(l=60, r=20, t=40, b=40)))
    for trace in fig.data:  # float32 on the wire: half the bytes, and no more precision than the records
        trace.y = np.asarray(trace.y, dtype=np.float32)
        trace.x = np.asarray(trace.x, dtype=np.float32)
    return fig


def describe(run) -> dict[str, Any]:
    """The panel's text for one run: its dead units (last evaluation) and its NaN detector."""
    m = run.monitor
    dead = ("—" if m is None or not m.n_dead or not m.dead.size else
            ", ".join(f"layer {k + 1}: {f:.0%}" if math.isfinite(f) else f"layer {k + 1}: –"
                      for k, f in enumerate(m.dead[-1])))
    return {"dead": dead, "dead_word": "dead" if m is None else m.dead_word,
            "nonfinite": None if m is None or m.nonfinite is None else m.nonfinite.text()}


# -- the page's panel (streamlit, imported when drawn) ----------------------------------------------------
def panel(race, lock) -> None:
    """The debugging panel of ``race``: the per-layer figure, then per run its NaN/Inf detector, its dead
    units and what the checklist finds. Reads the race under the page's ``lock`` (no step lands meanwhile)."""
    import streamlit as st

    from app.ui.theme import run_color, swatch

    with lock:
        fig = panel_figure(race)
        texts = [(run.config.title(), describe(run), checklist(run)) for run in race.runs]
    st.caption("Per layer (a Linear layer's weights and bias together; light: near the input, dark: the head). "
               "Top: gradient norm ‖∇‖ before clipping. Bottom: each update's size relative to the weights, "
               "log₁₀(‖ΔW‖/‖W‖); the dashed line is the usual ≈10⁻³ (−3; Stanford CS231n's notes), the band a "
               "factor of 10 either side. A red line marks where a run's first NaN/Inf appeared.")
    st.plotly_chart(fig, theme=None, key="lt_debug_chart")
    for i, (col, (title, d, findings)) in enumerate(zip(st.columns(len(race.runs)), texts)):
        col.markdown(f"{swatch(run_color(i))} **{title}**", unsafe_allow_html=True)
        if d["nonfinite"]:
            col.error(f"**NaN/Inf detector:** {d['nonfinite']}.")
        else:
            col.caption("NaN/Inf detector: every loss, gradient and weight finite so far.")
        col.caption(f"Hidden units {d['dead_word']} on every training point: {d['dead']}.")
        for f in findings:
            (col.warning if f.alarm else col.info)(f"**{f.item}.** {f.seen} *{f.hint}*")
