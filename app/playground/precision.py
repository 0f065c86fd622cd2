"""The Playground's precision panel: which updates were rounded away, the remedies, and the words.

A scene's ``precision`` stores every run's parameters and optimizer state in float64 (as always),
float32, bfloat16 or float16, and each run may take a remedy (``RunConfig.remedy``); the engine
rounds them (:mod:`optim_core.precision`) and records, per step and coordinate, which updates
did not change the stored value. This module turns that record into the page's readout, a chart,
the explanation and the "race the remedies" scene. Nothing here imports streamlit; the page draws
the controls and calls these (:func:`draw_control`, :func:`draw_remedy`, :func:`draw_panel` take
the page's ``st`` and helpers).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import plotly.graph_objects as go

from app.playground.scene import PRECISIONS, REMEDY_LABELS, Scene
from app.ui import theme
from app.ui.controls import fmt
from optim_core.precision import DTYPES

__all__ = ["EXPLANATION", "RunLoss", "losses", "readout_text", "lost_chart", "remedy_scene",
           "draw_control", "draw_remedy", "draw_panel"]

REMEDY_HELP = ("How this run keeps updates smaller than half an ulp. master: parameters and state in float32, "
               "the gradient taken at a low-precision copy; stochastic: round up or down at random, right on "
               "average; kahan: a low-precision buffer carries what rounding dropped into the next step.")

EXPLANATION = (
    "**Why low precision stalls.** A number stored in bfloat16 keeps 8 significant bits, float16 11 and float32 "
    "24; next to θ the representable values are one *ulp* apart (for bfloat16 at θ = 1, 2⁻⁷ ≈ 0.0078). An update "
    "is stored by rounding θ + Δθ to the nearest representable value, so an update smaller than **half an ulp** "
    "is rounded away and θ + Δθ = θ: with lr · gradient below that, the run stops although the gradient is not "
    "zero. **Remedies.** *fp32 master weights* keep the parameters and the optimizer state in float32 and use a "
    "low-precision copy only for the gradient (mixed-precision training). *Stochastic rounding* rounds up with "
    "probability equal to how far θ + Δθ lies towards the upper neighbour, so each step is right on average. "
    "*Kahan summation* keeps a second low-precision buffer holding what each rounding dropped and adds it back "
    "next step, so small updates add up until they make a whole ulp."
)


@dataclass(frozen=True)
class RunLoss:
    """One run's record: its storage and remedy, and the updates each coordinate had rounded away."""

    label: str
    precision: str
    remedy: str
    steps: int
    moved: tuple[int, int]  # steps in which θ₁, θ₂ had a nonzero update in exact arithmetic
    lost: tuple[int, int]  # ... and the stored value did not change
    lost_per_step: np.ndarray  # (T,) coordinates rounded away at each step: 0, 1 or 2
    # Per coordinate: the step after which its stored value never changes again although its updates are
    # not zero, and that value (None: it moves to the end, or its updates stop).
    frozen: tuple[tuple[int, float] | None, tuple[int, float] | None]

    @property
    def all_lost(self) -> int:
        return int(sum(self.lost))


def losses(res) -> list[RunLoss]:
    """The race's lost updates, one entry per run (empty when every run is float64)."""
    tr = getattr(res, "traj", None)
    record = getattr(tr, "precision", None)
    if record is None:
        return []
    out = []
    for k, label in enumerate(res.labels):
        lost, moved = record["lost"][k, 0], record["moved"][k, 0]  # (T, 2): the race has one start per run
        end = tr.diverged_step[k, 0] if tr.diverged_step[k, 0] >= 0 else tr.steps
        lost, moved = lost[:end], moved[:end]
        path = tr.positions[k, 0, : end + 1]
        frozen = []
        for i in (0, 1):
            changed = np.flatnonzero(path[1:, i] != path[:-1, i])
            last = int(changed[-1]) + 1 if changed.size else 0
            stuck = last < end and lost[last:, i].all() and lost[last:, i].size >= 10
            frozen.append((last, float(path[last, i])) if stuck else None)
        out.append(RunLoss(label, record["dtype"][k], record["remedy"][k], int(end),
                           (int(moved[:, 0].sum()), int(moved[:, 1].sum())),
                           (int(lost[:, 0].sum()), int(lost[:, 1].sum())), lost.sum(axis=1), tuple(frozen)))
    return out


def readout_text(r: RunLoss) -> str:
    """One run's line: "412 of 500 θ₁ updates ... rounded away", and where a coordinate got stuck."""
    verb = {"kahan": "held back in the Kahan buffer (carried over, not lost)",
            "stochastic": "rounded back to the same value (right on average)"}.get(r.remedy, "rounded away")
    where = "float32 master weights" if r.remedy == "master" and DTYPES[r.precision].itemsize < 4 else r.precision
    text = (f"**{r.lost[0]} of {r.moved[0]}** θ₁ updates and **{r.lost[1]} of {r.moved[1]}** θ₂ updates {verb} "
            f"({where}).")
    if r.remedy != "kahan":
        for i, frozen in enumerate(r.frozen):
            if frozen is not None:
                text += (f" θ{'₁₂'[i]} is stuck at {fmt(frozen[1])} from step {frozen[0]} on, though its gradient "
                         "is not zero.")
    return text


def lost_chart(items: list[RunLoss], colors: list[str]) -> go.Figure:
    """Updates rounded away so far, per run (both coordinates counted), against the step."""
    fig = go.Figure()
    for i, (r, color) in enumerate(zip(items, colors)):
        y = np.cumsum(r.lost_per_step)
        fig.add_trace(go.Scatter(x=np.arange(1, y.size + 1), y=y, mode="lines", name=f"{i + 1}: {r.label}",
                                 line=dict(color=theme.tone(color), width=theme.LINE_WIDTH, dash=theme.run_dash(i)),
                                 hovertemplate="step %{x}: %{y} rounded away<extra></extra>"))
    fig.update_layout(**theme.base_layout(
        height=400, title=dict(text="Updates that left θ unchanged, so far"),
        xaxis=dict(title=dict(text="step")), yaxis=dict(title=dict(text="count"), rangemode="tozero"),
        legend=theme.legend_below()))
    return fig


def remedy_scene(scene: Scene) -> Scene:
    """The scene's first run raced four times, side by side: no remedy, fp32 master weights, Kahan and
    stochastic rounding, in the scene's low precision (bfloat16 if it is float64)."""
    precision = scene.precision if scene.precision != "float64" else "bfloat16"
    first = scene.runs[0]
    runs = [replace(first, remedy=m, color="") for m in ("none", "master", "kahan", "stochastic")]
    return Scene.make(scene.surface, runs, dict(scene.surface_params), formula=scene.formula, window=scene.window,
                      start=scene.start, steps=scene.steps, noise=scene.noise, batch_size=scene.batch_size,
                      seed=scene.seed, precision=precision)


# -- what the page draws (``st`` and the page's helpers are passed in) --------------------------


def draw_control(st, default: Callable[[str], Any], fixed: bool, fit_choice, Q) -> str:
    """The scene's "Precision" select box (``pg_prec``, bound to the URL). No ``format_func``: a bound
    select box writes its label into the URL, and the links spell the names (:mod:`.state`)."""
    fit_choice("pg_prec", list(PRECISIONS))
    options = list(PRECISIONS)
    return st.selectbox("precision of parameters and state", options, index=options.index(default("pg_prec")),
                        key="pg_prec", bind=Q, disabled=fixed,
                        help="How every run stores its parameters and optimizer state: float64 53 significant "
                             "bits (as always), float32 24, bfloat16 8, float16 11. Updates smaller than half an "
                             "ulp are rounded away; each run may take a remedy.")


def draw_remedy(st, key: str, default: Any, fixed: bool, fit_choice, Q) -> None:
    """A run's remedy (``pg_r<i>_rem``), drawn only while the scene is not float64."""
    options = list(REMEDY_LABELS)
    fit_choice(key, options)
    st.selectbox("low-precision remedy", options, index=options.index(default), key=key, bind=Q, disabled=fixed,
                 help=REMEDY_HELP)


def draw_panel(st, scene: Scene, res, queue_scene: Callable[[Scene], None]) -> None:
    """The readout under the race: per run, the updates rounded away; the chart; the explanation; and
    a button that races the first run with every remedy (queued, then the whole page reruns: the panel
    may be drawn inside a fragment). Nothing in float64."""
    items = losses(res)
    if not items:
        return
    st.markdown(f"**Precision: {scene.precision}.** Updates rounded away, per run:")
    for i, r in enumerate(items):
        st.markdown(f"{theme.swatch(scene.runs[i].color or theme.run_color(i))} **{i + 1}: {r.label}** — "
                    f"{readout_text(r)}", unsafe_allow_html=True)
    st.plotly_chart(lost_chart(items, [run.color or theme.run_color(i) for i, run in enumerate(scene.runs)]),
                    key="pg_prec_chart", theme=None, config={"displaylogo": False})
    st.markdown(EXPLANATION)
    remedies = remedy_scene(scene)
    if remedies.runs != scene.runs:
        if st.button(f"Race run 1 with every remedy ({scene.runs[0].optimizer}: none, fp32 master, Kahan, "
                     "stochastic rounding)", key="pg_prec_remedies"):
            queue_scene(remedies)
            st.rerun(scope="app")

