"""Mixed precision for Live Training: autocast, loss scaling, and what float16 does to small gradients.

Four precisions, one per race (every run of it; :class:`~app.training.backend.Race`'s ``precision``):

=================  ============================================================================
``float32``        today's training: everything in float32.
``bfloat16``       ``torch.autocast("cpu", dtype=torch.bfloat16)`` around the forward pass: the
                   linear layers compute in bfloat16 (8 exponent bits, as float32: no underflow
                   to speak of, 8 bits of mantissa), the loss in float32 (autocast's list).
``float16_scaled`` autocast to float16 (5 exponent bits: the smallest positive number is 2⁻²⁴ ≈
                   6·10⁻⁸) with dynamic loss scaling: the loss is multiplied by ``S`` before the
                   backward pass so small gradients stay representable, the float32 gradients
                   are divided by ``S`` before the step, a step whose gradients overflowed is
                   skipped and ``S`` halved, and ``S`` doubles after 2,000 good steps.
``float16``        autocast to float16 without scaling: gradients below 2⁻²⁴ become exactly 0.
=================  ============================================================================

The weights, the gradients the optimizer reads and its state stay float32 in every case (the
"master weights" of mixed precision); the evaluations on the whole sets run in float32.

Loss scaling: a torch.optim run uses ``torch.amp.GradScaler("cpu")`` itself (it works on CPU in
torch 2.13). An optim_core run's gradients are NumPy views (:class:`~app.training.backend.ParameterAdapter`),
which GradScaler cannot unscale, so :class:`LossScaler` does what GradScaler does, with its defaults
and its float32 arithmetic: unscale by multiplying by the float32 ``1/S``, find non-finite entries,
skip, back off, grow (the tests compare the two on the same gradients). :data:`ZERO` in each step's
record is the fraction of gradient entries the backward pass left exactly zero, measured before
unscaling: the underflow.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

__all__ = ["PRECISIONS", "DEFAULT_PRECISION", "Precision", "precision_problem", "LossScaler", "RunAmp",
           "COLUMNS", "amp_figure", "script_patch"]


@dataclass(frozen=True)
class Precision:
    """One precision a race can train in."""

    name: str
    label: str
    autocast: str | None  # torch dtype name autocast computes in, or None: no autocast
    scaled: bool  # dynamic loss scaling
    help: str


PRECISIONS: dict[str, Precision] = {p.name: p for p in (
    Precision("float32", "float32", None, False, "Everything in float32."),
    Precision("bfloat16", "bfloat16 autocast", "bfloat16", False,
              "The forward pass in bfloat16 (float32's range, 8 bits of mantissa); no scaling needed."),
    Precision("float16_scaled", "float16 + loss scaling", "float16", True,
              "The forward pass in float16; the loss multiplied by a scale before backward, the gradients "
              "divided by it before the step; a step whose gradients overflow is skipped and the scale halved."),
    Precision("float16", "float16, no scaling", "float16", False,
              "The forward pass in float16 without scaling: gradients below 6·10⁻⁸ underflow to exactly 0."),
)}
DEFAULT_PRECISION = "float32"
# One row per optimizer step: the step, the loss scale (NaN unscaled), 1 if the step was skipped, and the
# fraction of gradient entries that are exactly zero after the backward pass.
COLUMNS = ("step", "scale", "skipped", "zero")
ZERO = "zero"


def precision_problem(name, dtype: str = "float32") -> str | None:
    """Why ``name`` cannot train a race in ``dtype`` (None: it can)."""
    if not isinstance(name, str) or name not in PRECISIONS:
        return f"precision must be one of {list(PRECISIONS)}, got {name!r}"
    if name != "float32" and dtype != "float32":
        return (f"{PRECISIONS[name].label} needs a float32 race (autocast leaves float64 alone), "
                f"this race is {dtype}")
    return None


class LossScaler:
    """``torch.amp.GradScaler``'s dynamic loss scaling for NumPy gradients, with its defaults.

    ``scale`` is a float32 number. :meth:`unscale` multiplies the gradients by the float32 ``1/scale``
    in place and says whether any entry was inf or NaN; :meth:`update` then backs off (``scale *=
    backoff_factor``, tracker reset) after an overflow, else counts a good step and, after
    ``growth_interval`` of them in a row, grows the scale (if the product is finite) and resets the count:
    ``torch._amp_update_scale_``'s rule.
    """

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        self.scale = np.float32(init_scale)
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = int(growth_interval)
        self.growth_tracker = 0

    def scale_loss(self, loss):
        return loss * float(self.scale)

    def unscale(self, grad: np.ndarray) -> bool:
        """Divide ``grad`` (float32, in place) by the scale; True if any entry is not finite."""
        found_inf = not bool(np.isfinite(grad).all())
        inv = np.float32(np.float64(1.0) / np.float64(self.scale))  # GradScaler: scale.double().reciprocal().float()
        np.multiply(grad, inv, out=grad)
        return found_inf

    def update(self, found_inf: bool) -> None:
        if found_inf:
            self.scale = np.float32(self.scale * np.float32(self.backoff_factor))
            self.growth_tracker = 0
            return
        successful = self.growth_tracker + 1
        if successful == self.growth_interval:
            grown = np.float32(self.scale * np.float32(self.growth_factor))
            if np.isfinite(grown):
                self.scale = grown
            successful = 0
        self.growth_tracker = successful

    def state_dict(self) -> dict:
        """GradScaler's ``state_dict`` keys and values."""
        return {"scale": float(self.scale), "growth_factor": self.growth_factor,
                "backoff_factor": self.backoff_factor, "growth_interval": self.growth_interval,
                "_growth_tracker": int(self.growth_tracker)}

    def load_state_dict(self, state: dict) -> None:
        self.scale = np.float32(state["scale"])
        self.growth_factor = float(state["growth_factor"])
        self.backoff_factor = float(state["backoff_factor"])
        self.growth_interval = int(state["growth_interval"])
        self.growth_tracker = int(state["_growth_tracker"])


class RunAmp:
    """A run's precision: the autocast around its forward pass, its loss scaler, and a record per step.

    Used by :meth:`~app.training.backend.Run.train_step` in this order: :meth:`autocast` and
    :meth:`backward` per micro-batch, :meth:`unscale` once the gradients are summed (before clipping and
    the divergence check: it returns True when the step must be skipped), :meth:`step` instead of
    ``optimizer.step()``.
    """

    def __init__(self, precision: str, optimizer, backend: str):
        from app.training.backend import _Rows, import_torch

        if precision not in PRECISIONS:
            raise ValueError(precision_problem(precision))
        self.mode = PRECISIONS[precision]
        self._torch = import_torch()
        self._dtype = None if self.mode.autocast is None else getattr(self._torch, self.mode.autocast)
        self.backend = backend
        self.optimizer = optimizer
        self.grad_scaler = None
        self.scaler = None
        if self.mode.scaled:
            if backend == "torch":
                self.grad_scaler = self._torch.amp.GradScaler("cpu")
            else:
                self.scaler = LossScaler()
        self.rows = _Rows(*COLUMNS)
        self._skip = False

    @property
    def name(self) -> str:
        return self.mode.name

    def autocast(self):
        if self._dtype is None:
            return contextlib.nullcontext()
        return self._torch.autocast("cpu", dtype=self._dtype)

    def backward(self, loss) -> None:
        if self.grad_scaler is not None:
            loss = self.grad_scaler.scale(loss)
        elif self.scaler is not None:
            loss = self.scaler.scale_loss(loss)
        loss.backward()

    @property
    def scale(self) -> float:
        if self.grad_scaler is not None:
            return float(self.grad_scaler.get_scale())
        if self.scaler is not None:
            return float(self.scaler.scale)
        return float("nan")

    def unscale(self, flat_grad: np.ndarray) -> bool:
        """Record the fraction of exact zeros, unscale in place; True: an overflow, skip this step."""
        n = flat_grad.size
        self._zero = (n - int(np.count_nonzero(flat_grad))) / n if n else 0.0
        self._scale = self.scale
        skip = False
        if self.grad_scaler is not None:
            skip = not bool(np.isfinite(flat_grad).all())  # what GradScaler's unscale_ finds, on the same grads
            self.grad_scaler.unscale_(self.optimizer)
        elif self.scaler is not None:
            skip = self.scaler.unscale(flat_grad)
        self._skip = skip
        return skip

    def step(self, step: int) -> None:
        """The optimizer's step ``step`` (0-based; skipped after an overflow), the scale's update, and the step's
        record (numbered ``step + 1``, the run's step count after it, as its history)."""
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            if not self._skip:
                self.optimizer.step()
            if self.scaler is not None:
                self.scaler.update(self._skip)
        self.rows.append(step + 1, self._scale, float(self._skip), self._zero)

    def scaler_state(self) -> dict | None:
        if self.grad_scaler is not None:
            return {k: (float(v) if k == "scale" else v) for k, v in self.grad_scaler.state_dict().items()}
        if self.scaler is not None:
            return self.scaler.state_dict()
        return None

    def load_scaler_state(self, state: dict) -> None:
        if self.grad_scaler is not None:
            self.grad_scaler.load_state_dict(dict(state))
        elif self.scaler is not None:
            self.scaler.load_state_dict(state)

    @property
    def history(self) -> dict[str, np.ndarray]:
        return self.rows.columns()

    @property
    def skipped(self) -> int:
        return int(self.history["skipped"].sum())


# ---------------------------------------------------------------------------------------
# The figure
# ---------------------------------------------------------------------------------------


def amp_figure(race, title: str | None = None):
    """Two panels against the step: the fraction of gradient entries that are exactly zero (per run), and the
    loss scale (per scaled run, log axis) with its skipped steps marked."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from app.ui.theme import LINE_WIDTH, MARKER_SIZE, TITLE_SIZE, base_layout, legend_below, palette, run_tone

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12,
                        subplot_titles=("gradient entries exactly 0", "loss scale S (× marks a skipped step)"))
    scaled_any = False
    for i, run in enumerate(race.runs):
        h = run.amp.history
        color = run_tone(i)
        name = run.config.label or f"{run.config.title()} · {run.amp.mode.label}"
        step, zero = _thin(h["step"]), _thin(h["zero"])
        fig.add_trace(go.Scatter(x=step, y=100 * zero, mode="lines", name=name, legendgroup=str(i),
                                 line=dict(color=color, width=LINE_WIDTH),
                                 hovertemplate="step %{x}: %{y:.2f}% zeros<extra></extra>"), 1, 1)
        if run.amp.mode.scaled:
            scaled_any = True
            fig.add_trace(go.Scatter(x=step, y=_thin(h["scale"]), mode="lines", name=name, legendgroup=str(i),
                                     showlegend=False, line=dict(color=color, width=LINE_WIDTH, shape="hv"),
                                     hovertemplate="step %{x}: S = %{y:.0f}<extra></extra>"), 1, 2)
            sk = h["skipped"] > 0
            if sk.any():
                fig.add_trace(go.Scatter(x=h["step"][sk][:500], y=h["scale"][sk][:500], mode="markers",
                                         name="skipped step", legendgroup=str(i), showlegend=False,
                                         marker=dict(symbol="x", size=MARKER_SIZE, color=palette().mark_red),
                                         hovertemplate="step %{x} skipped (overflow)<extra></extra>"), 1, 2)
    if not scaled_any:
        fig.add_annotation(text="no run of this race scales its loss", xref="x2 domain", yref="y2 domain",
                           x=0.5, y=0.5, showarrow=False)
    fig.update_xaxes(title_text="step", rangemode="tozero")
    fig.update_yaxes(title_text="% of entries", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2, exponentformat="power")
    layout = base_layout(legend=legend_below(), margin=dict(l=70, r=20, t=90 if title else 50, b=60))
    if title:
        layout["title"] = dict(text=title, font=dict(size=TITLE_SIZE), x=0.01, xanchor="left")
    fig.update_layout(**layout)
    return fig


def _thin(a: np.ndarray, most: int = 2000) -> np.ndarray:
    if len(a) <= most:
        return a
    return a[np.unique(np.linspace(0, len(a) - 1, most).astype(int))]


# ---------------------------------------------------------------------------------------
# The generated script (app.exports.live_script): the same autocast and GradScaler
# ---------------------------------------------------------------------------------------

# (what the script's Trainer says in float32, what it says with a precision): each must be found once.
_PATCHES = (
    ("        self.step = 0\n        self.diverged = \"\"\n",
     "        self.step = 0\n        self.diverged = \"\"\n"
     "        # Mixed precision: autocast's dtype for the forward pass (None: float32) and the loss scaler\n"
     "        # (a disabled GradScaler passes the loss and the step through unchanged).\n"
     "        precision = run.get(\"precision\", \"float32\")\n"
     "        self.autocast = AUTOCAST[precision]\n"
     "        self.scaler = torch.amp.GradScaler(\"cpu\", enabled=precision == \"float16_scaled\")\n"
     "        self.zero = []  # per step: the fraction of gradient entries exactly 0 (before unscaling)\n"
     "        self.scales = []  # per step: the loss scale used (NaN: none)\n"),
    ("            loss = torch.nn.functional.cross_entropy(self.model(xb), yb)\n"
     "            (loss / k if k > 1 else loss).backward()\n",
     "            with torch.autocast(\"cpu\", dtype=self.autocast, enabled=self.autocast is not None):\n"
     "                loss = torch.nn.functional.cross_entropy(self.model(xb), yb)\n"
     "            self.scaler.scale(loss / k if k > 1 else loss).backward()\n"),
    ("        loss_value = total / k\n        gn = grad_norm(self.params)\n"
     "        if not (math.isfinite(loss_value) and math.isfinite(gn)):\n",
     "        loss_value = total / k\n"
     "        flat = torch.cat([p.grad.reshape(-1) for p in self.params])\n"
     "        self.zero.append(float((flat == 0).double().mean()))\n"
     "        self.scales.append(self.scaler.get_scale() if self.scaler.is_enabled() else math.nan)\n"
     "        skipped = self.scaler.is_enabled() and not bool(torch.isfinite(flat).all())\n"
     "        self.scaler.unscale_(self.optimizer)  # the true gradients, before clipping\n"
     "        gn = grad_norm(self.params)\n"
     "        if skipped:  # an overflow: GradScaler skips the step and halves its scale\n"
     "            lr = self.optimizer.param_groups[0].get(\"lr\")\n"
     "            self.scaler.step(self.optimizer)\n"
     "            self.scaler.update()\n"
     "            self.step += 1\n"
     "            if self.scheduler is not None and self.step < run[\"schedule_steps\"]:\n"
     "                self.scheduler.step()\n"
     "            return loss_value, math.nan if lr is None else float(lr), math.nan, math.nan\n"
     "        if not (math.isfinite(loss_value) and math.isfinite(gn)):\n"),
    ("        self.optimizer.step()\n        self.step += 1\n",
     "        self.scaler.step(self.optimizer)\n        self.scaler.update()\n        self.step += 1\n"),
    ("    np.savez(args.out, labels=np.array([run[\"label\"] for run in RUNS]), **curves,\n",
     "    zero = np.full((R, steps), np.nan)\n"
     "    scale = np.full((R, steps), np.nan)\n"
     "    for r, tr in enumerate(trainers):\n"
     "        zero[r, :len(tr.zero)] = tr.zero\n"
     "        scale[r, :len(tr.scales)] = tr.scales\n"
     "    np.savez(args.out, labels=np.array([run[\"label\"] for run in RUNS]), **curves, zero=zero, scale=scale,\n"),
)

SCRIPT_TABLE = ('# Mixed precision: the dtype torch.autocast computes the forward pass in, per precision.\n'
                'AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16_scaled": torch.float16, '
                '"float16": torch.float16}\n')


def script_patch(text: str) -> str:
    """The generated script's training loop with autocast and GradScaler (the app's precision), from its
    float32 text. Raises ValueError if the script's text is not the one these patches were written for."""
    for old, new in _PATCHES:
        if text.count(old) != 1:
            raise ValueError("the script template changed: mixed precision cannot be added to it")
        text = text.replace(old, new)
    marker = "\n\ndef decode("
    if text.count(marker) != 1:
        raise ValueError("the script template changed: mixed precision cannot be added to it")
    return text.replace(marker, "\n\n" + SCRIPT_TABLE + marker, 1)


# ---------------------------------------------------------------------------------------
# The page's part (Streamlit, imported when drawn)
# ---------------------------------------------------------------------------------------

COMPARE_ORDER = ("float32", "bfloat16", "float16_scaled", "float16")
COMPARE_SECONDS = 1.5  # CPU seconds the comparison trains for, at most (app/budget.py's per-request scale)
COMPARE_STEPS = 2000


def comparison_race(race, run: int = 0):
    """A new race of ``race``'s run ``run`` four times, once per precision (same data, start and batches)."""
    from app.training import backend as T

    cfg = race.runs[run].config
    configs = [T.TrainingRunConfig(**{**cfg.__dict__, "label": f"{cfg.optimizer} · {PRECISIONS[p].label}"})
               for p in COMPARE_ORDER]
    return T.Race(race.X_train, race.y_train, race.X_test, race.y_test, configs, model=race.spec,
                  batch_size=race.batch_size, seed=race.seed, dtype=race.dtype, eval_every=race.eval_every,
                  precision=list(COMPARE_ORDER))


def panel(race, *, held, key: str = "lt_amp") -> None:
    """The race's precision records (zeros, scale, skipped steps) and a side-by-side of the four precisions."""
    import streamlit as st

    ss = st.session_state
    modes = {run.amp.name for run in race.runs}
    label = ", ".join(PRECISIONS[m].label for m in modes)
    cols = st.columns(len(race.runs))
    for i, (col, run) in enumerate(zip(cols, race.runs)):
        h = run.amp.history
        zero = f"{100 * h['zero'][-1]:.2f}%" if len(h["zero"]) else "–"
        text = f"Run {i + 1}: gradient entries exactly 0 at the last step **{zero}**"
        if run.amp.mode.scaled:
            text += f" · loss scale **{run.amp.scale:,.0f}** · skipped steps **{run.amp.skipped:,}**"
        col.markdown(text)
    if race.step and modes != {"float32"}:  # (in float32 there is no scale, and no entry underflows)
        st.plotly_chart(held(lambda: amp_figure(race, title=f"{label}: step {race.step:,}"))(), theme=None,
                        key=f"{key}_fig")
    elif modes == {"float32"}:
        st.caption("This race trains in float32: choose another precision under *Training* in the sidebar, or "
                   "compare the four here.")
    if race.dtype != "float32":
        return
    st.markdown("**The four precisions side by side** (run 1's optimizer, same start and batches)")
    got = ss.get(f"_{key}_cmp")
    going = bool(got and got[0] == race.uid)
    if st.button(f"{'Continue' if going else 'Train'} run 1 in each precision ({COMPARE_SECONDS:g} s more, up to "
                 f"{COMPARE_STEPS:,} steps a click)", key=f"{key}_compare",
                 help="Underflow grows as the loss gets small: click again to train further."):
        def make():
            cmp = got[1] if going else comparison_race(race)
            cmp.train_within(COMPARE_STEPS, COMPARE_SECONDS, wall_factor=2.0)
            return cmp

        try:
            ss[f"_{key}_cmp"] = got = (race.uid, held(make)())
        except (ValueError, TypeError) as exc:
            st.error(f"These runs cannot be compared: {exc}")
    if got and got[0] == race.uid:
        cmp = got[1]
        st.plotly_chart(amp_figure(cmp, title=f"{cmp.runs[0].config.optimizer}, {cmp.step:,} steps in each "
                                              "precision"), theme=None, key=f"{key}_cmp_fig")
        losses = " · ".join(f"{PRECISIONS[r.amp.name].label}: {r.history['loss'][-1]:.3g}" for r in cmp.runs
                            if len(r.history["loss"]))
        flat = [PRECISIONS[r.amp.name].label for r in cmp.runs if not r.amp.history["zero"].any()]
        st.caption((f"At 0% throughout (their lines lie under each other): {', '.join(flat)}. " if flat else "")
                   + f"Last training loss: {losses}. Without scaling, float16 rounds the smallest gradients to 0 "
                   "(below 2⁻²⁴ ≈ 6·10⁻⁸); scaled by S first, they stay representable.")
