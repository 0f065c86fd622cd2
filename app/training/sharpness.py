"""The sharpness of a Live Training run: the top eigenvalue of its training-loss Hessian, tracked as it trains.

**Sharpness** is λ_max(H), H = ∇²L(θ) the Hessian of the full-batch training loss (the mean cross-entropy
over the whole training set) at the run's current weights θ. On a quadratic, gradient descent with
lr η is stable iff ``η·λ_max < 2``; Cohen et al. (ICLR 2021, "Gradient descent on neural networks typically
occurs at the edge of stability") observed that full-batch GD raises λ_max ("progressive sharpening")
until it reaches ``2/η``, where it hovers while the loss keeps falling, non-monotonically ("the edge of
stability"). Each run's own rule comes from :func:`optim_core.sharpness.stability_threshold`
(``2/η`` for plain GD, ``2(1+μ)/η`` for heavy-ball momentum μ, ``2(1+μ)/((1+2μ)η)`` for Nesterov's), and
the line drawn is the λ_max at which a step turns unstable: ``threshold/η`` less any L2 weight decay,
which adds its coefficient to every curvature the step sees.

**Preconditioned sharpness** (Adam and AdamW; Cohen et al. 2022, "Adaptive gradient methods at the edge
of stability", arXiv:2207.14484). Adam's step ``θ ← θ - η·m̂/(√v̂ + ε)`` with ``m̂ = m/(1-β₁ᵗ)`` is
``θ ← θ - η·P⁻¹m`` for the diagonal preconditioner

    P = (1 - β₁ᵗ) · diag(√v̂ + ε),   v̂ = v/(1 - β₂ᵗ)

and the momentum ``m ← β₁m + (1-β₁)g`` an average, which is heavy ball with lr ``η(1-β₁)``. With P
frozen, on a quadratic the step is stable iff ``λ_max(P⁻¹H) < (2 + 2β₁)/((1 - β₁)η)`` (38/η for
β₁ = 0.9), the threshold at which the paper finds λ_max(P⁻¹H) equilibrating. What is computed here:
P from the optimizer's state after the run's last step (``exp_avg_sq``, or ``max_exp_avg_sq`` with
amsgrad; its ``step`` t; its ε, β₁, β₂), and λ_max(P⁻¹H) as the top eigenvalue of the symmetric
``P^{-1/2} H P^{-1/2}`` (similar to P⁻¹H: the same eigenvalues). AdamW's decoupled weight decay is not
part of H. Other adaptive methods get the plain sharpness only.

**How.** H is never formed: Lanczos iteration (:func:`lanczos_top`) on Hessian-vector products
``Hv = ∇(∇L(θ)·v)`` by double backward (:class:`FlatLoss`), in float64
whatever the run's dtype, on the whole training set (the MLP is tiny). Each measurement starts from
the previous top eigenvector, so a few products suffice while θ moves little. Its cost is bounded
by :data:`app.budget.SHARPNESS_MAX_ITERS` products and the cadence ``every`` (every k optimizer steps,
:data:`app.budget.SHARPNESS_EVERY`).

**When.** A :class:`Tracker` is one of a race's step hooks (``Race.step_hooks``): it measures a run after
every ``every``-th step while it is on (the page turns it on while its Sharpness panel is open), so the
cost falls inside the training budget of each redraw. It keeps, per run, rows of (step, lr,
λ_max, the line λ_max is held against, λ_max(P⁻¹H), its line).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from app import budget

__all__ = [
    "COLUMNS",
    "PRECONDITIONED",
    "EVERY_OPTIONS",
    "EOS_PRESET",
    "FlatLoss",
    "lanczos_top",
    "adam_preconditioner",
    "Threshold",
    "threshold_of",
    "Tracker",
    "tracker",
    "switch",
    "figure",
    "summary",
    "run_labels",
    "panel",
]

COLUMNS = ("step", "lr", "sharpness", "limit", "pre_sharpness", "pre_limit")
# The optimizers whose preconditioner P is read from their state (Cohen et al. 2022's Adam form).
PRECONDITIONED = ("Adam", "AdamW")

EVERY_OPTIONS = (budget.SHARPNESS_MIN_EVERY, 10, 20, 50, 100, 200)  # the panel's cadences, in steps

# Full-batch gradient descent at the edge of stability on this page's data: the Sharpness panel's
# "Edge-of-stability lesson" button puts these on the page's controls. On noisy two moons (not separable, so
# the loss cannot fall to 0 and flatten everything) plain GD with η = 0.3 sharpens from λ_max ≈ 1.9 to
# 2/η ≈ 6.7 by step ~550 and then stays within a few % of it for thousands of steps while the loss keeps
# falling; with η = 0.2 the rise is slower and reaches 2/η = 10 at about step 4,000
# (tests/test_sharpness.py checks both on this preset).
EOS_PRESET: dict[str, Any] = {
    "dataset": "moons", "noise": 0.4, "points": 512, "seed": 0,
    "hidden_layers": 2, "width": 32, "activation": "tanh", "batch": None,  # None: full batch
    "steps": 5000,  # pause there (full batch: one step per epoch)
    "runs": (("SGD", {"lr": 0.3, "momentum": 0.0}), ("SGD", {"lr": 0.2, "momentum": 0.0})),
    "every": 20,
}


# -- the loss as a function of one flat weight vector ------------------------------------------------
class FlatLoss:
    """The mean cross-entropy of an MLP of ``spec`` on ``(X, y)``, as a function of a flat weight vector.

    The flat layout is the model's ``parameters()`` order (``W1, b1, W2, b2, ...``, each row-major), the
    same as :class:`app.training.backend.ParameterAdapter`'s ``flat``. The network is a float64 copy of
    the page's (``build_mlp``: the same layers and activation) whose weights are passed in with
    ``torch.func.functional_call``, so the functions here compose with ``grad``, ``jvp`` and ``vmap``.
    """

    def __init__(self, spec, X: np.ndarray, y: np.ndarray):
        from app.training.backend import build_mlp, import_torch

        torch = import_torch()
        self.torch = torch
        self.spec = spec
        self.model = build_mlp(spec, dtype="float64")
        named = list(self.model.named_parameters())
        self.names = [n for n, _ in named]
        self.shapes = [tuple(t.shape) for _, t in named]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.n = int(sum(self.sizes))
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64))
        self.y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))

    def params(self, theta) -> dict:
        """``theta`` (shape ``(n,)``) as the model's named parameters (views, no copy)."""
        out, at = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes):
            out[name] = theta[at: at + size].view(shape)
            at += size
        return out

    def logits(self, theta, X=None):
        return self.torch.func.functional_call(self.model, self.params(theta), (self.X if X is None else X,))

    def loss(self, theta):
        """L(θ): a 0-d tensor."""
        return self.torch.nn.functional.cross_entropy(self.logits(theta), self.y)

    def hvp(self, theta, v):
        """H(θ)·v (see :meth:`hessian_operator`)."""
        return self.hessian_operator(theta)(v)

    def hessian_operator(self, theta) -> Callable:
        """``v ↦ H(θ)·v`` by double backward, ``∇(∇L(θ)·v)``, on one graph of ∇L(θ) built here: each product
        is then one backward pass (about 0.6 ms for the page's default network on 410 points; a
        forward-over-reverse ``torch.func.jvp(grad(L))`` takes about 3 ms at this size)."""
        torch = self.torch
        t = theta.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(self.loss(t), t, create_graph=True)

        def product(v):
            (hv,) = torch.autograd.grad(g, t, grad_outputs=v, retain_graph=True)
            return hv

        return product

    def theta_of(self, run) -> "Any":
        """A run's current weights as a float64 tensor of shape ``(n,)`` (a copy)."""
        return self.torch.from_numpy(np.asarray(run.adapter.flat, dtype=np.float64).copy())


# -- Lanczos ---------------------------------------------------------------------------------------
def lanczos_top(matvec: Callable[[np.ndarray], np.ndarray], n: int, *, v0: np.ndarray | None = None,
                iters: int = 20, tol: float = 1e-4, seed: int = 0) -> tuple[float, np.ndarray, int]:
    """The algebraically largest eigenvalue of the symmetric operator ``matvec`` on ``R^n`` and its unit
    eigenvector, by Lanczos iteration with full reorthogonalization: ``(λ, v, products used)``.

    Starts from ``v0`` (a previous eigenvector: a warm start) or a seeded Gaussian vector. After ``k``
    products the largest Ritz value θ of the ``k × k`` tridiagonal matrix T has the residual
    ``‖A y - θ y‖ = β_k |s_k|`` (``s`` the Ritz vector in T's basis); it stops once that is at most
    ``tol·|θ|``, or after ``min(iters, n)`` products. float64 throughout.
    """
    n = int(n)
    iters = max(1, min(int(iters), n))
    if v0 is None or not np.all(np.isfinite(v0)) or not np.any(v0):
        v0 = np.random.default_rng(seed).standard_normal(n)
    q = np.asarray(v0, dtype=np.float64) / np.linalg.norm(v0)
    Q = np.empty((iters + 1, n))
    Q[0] = q
    alpha, beta = [], []
    top, vec = math.nan, q
    for k in range(iters):
        w = np.asarray(matvec(Q[k]), dtype=np.float64)
        if not np.all(np.isfinite(w)):
            return math.nan, q, k + 1
        a = float(Q[k] @ w)
        alpha.append(a)
        # Full reorthogonalization (twice is enough): the basis stays orthonormal to rounding.
        for _ in range(2):
            w = w - Q[: k + 1].T @ (Q[: k + 1] @ w)
        b = float(np.linalg.norm(w))
        T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
        vals, vecs = np.linalg.eigh(T)
        top, s = float(vals[-1]), vecs[:, -1]
        vec = Q[: k + 1].T @ s
        if b * abs(s[-1]) <= tol * max(abs(top), 1e-30) or b <= 1e-14 * max(abs(top), 1.0) or k + 1 == iters:
            return top, vec / np.linalg.norm(vec), k + 1
        beta.append(b)
        Q[k + 1] = w / b
    return top, vec / np.linalg.norm(vec), iters


# -- Adam's preconditioner -------------------------------------------------------------------------
def _state_of(optimizer, param, tensor) -> dict | None:
    """An optimizer's state for one parameter, under whichever key its backend uses (optim_core's
    Parameter, or torch.optim's tensor)."""
    state = getattr(optimizer, "state", {})
    for key in (param, tensor):
        try:
            s = state.get(key) if hasattr(state, "get") else None
        except TypeError:
            s = None
        if s:
            return s
    return None


def _number(v) -> float:
    return float(v.item() if hasattr(v, "item") else v)


def adam_preconditioner(run) -> np.ndarray | None:
    """The diagonal of Cohen et al.'s ``P = (1-β₁ᵗ)(√v̂ + ε)`` for an Adam or AdamW ``run`` after its last
    step, flat (float64, shape ``(n,)``), or None (another optimizer, or no step taken yet)."""
    if run.config.optimizer not in PRECONDITIONED:
        return None
    group = run.optimizer.param_groups[0]
    beta1, beta2 = (float(b) for b in group["betas"])
    eps = float(group["eps"])
    amsgrad = bool(group.get("amsgrad", False))
    parts = []
    for p, t in zip(run.adapter.params, run.adapter.tensors):
        s = _state_of(run.optimizer, p, t)
        if s is None or "exp_avg_sq" not in s:
            return None
        v = s["max_exp_avg_sq"] if amsgrad and "max_exp_avg_sq" in s else s["exp_avg_sq"]
        v = np.asarray(v.detach().numpy() if hasattr(v, "detach") else v, dtype=np.float64).ravel()
        step = _number(s["step"])
        if step < 1:
            return None
        parts.append((1.0 - beta1 ** step) * (np.sqrt(v / (1.0 - beta2 ** step)) + eps))
    return np.concatenate(parts)


# -- which line a run is held against --------------------------------------------------------------
@dataclass(frozen=True)
class Threshold:
    """A run's stability rule as drawn: λ_max against ``factor/η - shift`` (``label`` says which rule),
    and, for Adam-like runs, λ_max(P⁻¹H) against ``pre_factor/η``."""

    factor: float
    shift: float
    label: str
    applies: bool = True  # False: the optimizer has no rule of this form; 2/η is drawn for scale
    pre_factor: float = math.nan
    pre_label: str = ""

    def limit(self, lr: float) -> float:
        return self.factor / lr - self.shift if lr and lr > 0 else math.nan

    def pre_limit(self, lr: float) -> float:
        return self.pre_factor / lr if lr and lr > 0 and math.isfinite(self.pre_factor) else math.nan


def threshold_of(run) -> Threshold:
    """The rule of ``run``'s optimizer and hyperparameters (:func:`optim_core.sharpness.stability_threshold`)."""
    from optim_core.sharpness import stability_threshold

    name = run.config.optimizer
    group = run.optimizer.param_groups[0]
    hypers = {**{h.name: h.default for h in run.info.hypers}, **run.config.hypers}
    if "betas" in group:  # the state's values win over the page's (a schedule may drive β₁)
        hypers["beta1"], hypers["beta2"] = (float(b) for b in group["betas"])
    rule = stability_threshold(name, hypers)
    f = rule.threshold
    if rule.kind == "gd":
        label = "2/η"
    elif rule.kind == "heavy_ball":
        label = "2(1+μ)/((1−τ)η)" if rule.dampening else "2(1+μ)/η"
    elif rule.kind == "nesterov":
        label = "2(1+μ)/((1+2μ)η)"
    else:
        label = "2/η"
    if rule.shift:
        label += " − λ_wd"
    if name in PRECONDITIONED:
        pre = rule.preconditioned
        return Threshold(f, rule.shift, label, rule.applies, pre, f"(2+2β₁)/((1−β₁)η) = {pre:.3g}/η")
    return Threshold(f, rule.shift, label, rule.applies)


# -- the tracker -----------------------------------------------------------------------------------
class _Series:
    """One run's measurements: rows of :data:`COLUMNS` (float64), growing."""

    def __init__(self):
        self.data = np.empty((64, len(COLUMNS)))
        self.n = 0
        self.v = None  # the last top eigenvector (warm start)
        self.v_pre = None

    def append(self, row: Sequence[float]) -> None:
        if self.n == len(self.data):
            self.data = np.concatenate([self.data, np.empty_like(self.data)])
        self.data[self.n] = row
        self.n += 1

    def columns(self) -> dict[str, np.ndarray]:
        return {c: self.data[: self.n, j].copy() for j, c in enumerate(COLUMNS)}


class Tracker:
    """A race's sharpness measurements, per run: a step hook (``race.step_hooks``) that measures every
    ``every`` steps while :attr:`on`, and :meth:`measure` for the step a run is at now.

    Rows per run are kept at most :data:`app.budget.SHARPNESS_MAX_ROWS`; past that every other row is
    dropped and the cadence doubles (the curve keeps its whole span at half the density).
    """

    def __init__(self, race, every: int = budget.SHARPNESS_EVERY, iters: int = budget.SHARPNESS_MAX_ITERS):
        self.race = race
        self._floor = 1  # the cadence the row limit has forced (doubles with each thinning)
        self.every = max(1, int(every))
        self.iters = max(1, min(int(iters), budget.SHARPNESS_MAX_ITERS))
        self.on = False
        self.loss = FlatLoss(race.spec, race.X_train, race.y_train)
        self.series = [_Series() for _ in race.runs]
        self.seconds = 0.0  # CPU seconds spent measuring, all runs
        self.products = 0  # Hessian-vector products taken, all runs

    def set_every(self, k: int) -> None:
        """Measure every ``k`` steps from now on (at least :data:`app.budget.SHARPNESS_MIN_EVERY`, and at least
        the cadence the row limit has doubled to)."""
        self.every = max(int(k), budget.SHARPNESS_MIN_EVERY, self._floor)

    # the step hook
    def __call__(self, run) -> None:
        if self.on and run.step % self.every == 0:
            self.measure(run)

    def measure(self, run) -> None:
        """Measure ``run`` at its current weights (once per step: a step already measured is skipped)."""
        import time

        i = self.race.runs.index(run)
        ser = self.series[i]
        if ser.n and ser.data[ser.n - 1, 0] == run.step:
            return
        t0 = time.thread_time()
        torch = self.loss.torch
        theta = self.loss.theta_of(run)
        if not torch.isfinite(theta).all():
            return
        rule = threshold_of(run)
        lr = float(run.optimizer.param_groups[0].get("lr") or math.nan)

        H = self.loss.hessian_operator(theta)

        def hv(v: np.ndarray) -> np.ndarray:
            return H(torch.from_numpy(v)).numpy()

        lam, ser.v, k = lanczos_top(hv, self.loss.n, v0=ser.v, iters=self.iters, seed=i)
        self.products += k
        pre = math.nan
        P = adam_preconditioner(run)
        if P is not None:
            d = 1.0 / np.sqrt(P)
            pre, ser.v_pre, k = lanczos_top(lambda v: d * hv(d * v), self.loss.n, v0=ser.v_pre, iters=self.iters,
                                            seed=i)
            self.products += k
        ser.append((run.step, lr, lam, rule.limit(lr), pre, rule.pre_limit(lr)))
        if ser.n > budget.SHARPNESS_MAX_ROWS:
            keep = np.arange(0, ser.n, 2)
            ser.data[: len(keep)] = ser.data[keep]
            ser.n = len(keep)
            self._floor = self.every = 2 * self.every
        self.seconds += time.thread_time() - t0

    def measure_all(self) -> None:
        """Measure every run that can be at the step it is at (the first look when the panel opens)."""
        for run in self.race.runs:
            if not run.diverged:
                self.measure(run)

    def rows(self, i: int) -> dict[str, np.ndarray]:
        return self.series[i].columns()


def tracker(race, create: bool = True) -> Tracker | None:
    """The :class:`Tracker` among ``race.step_hooks`` (a new one, hooked in, when there is none and
    ``create``)."""
    return race.hook(Tracker, create)


# -- the chart -------------------------------------------------------------------------------------
def figure(trk: Tracker, labels: Sequence[str], height: int = 460):
    """λ_max per run against the step (solid, the run's colour and marker), and the line it is held
    against (dotted, the same colour: ``2/η`` for plain GD); a second panel for λ_max(P⁻¹H) of Adam-like
    runs against ``(2+2β₁)/((1-β₁)η)`` when the race has one. For the current theme."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from app.ui import theme

    rows = [trk.rows(i) for i in range(len(trk.series))]
    pre = [i for i, r in enumerate(rows) if np.isfinite(r["pre_sharpness"]).any()]
    n_panels = 2 if pre else 1
    titles = ["Sharpness λ_max(H); dotted: the stability limit (2/η for GD)"]
    if pre:
        titles.append("Adam: preconditioned λ_max(P⁻¹H); dotted: (2+2β₁)/((1−β₁)η)")
    fig = make_subplots(rows=n_panels, cols=1, shared_xaxes=True, vertical_spacing=0.16, subplot_titles=titles)
    p = theme.palette()
    drawn: dict[int, list[np.ndarray]] = {1: [], 2: []}
    for i, r in enumerate(rows):
        c = theme.run_tone(i)
        name = str(labels[i])
        x = r["step"]
        applies = threshold_of(trk.race.runs[i]).applies  # else no rule for λ_max(H): no line (Adam: see below)
        panels = [(1, "sharpness", "limit" if applies else None, "λ_max")]
        if i in pre:
            panels.append((2, "pre_sharpness", "pre_limit", "λ_max(P⁻¹H)"))
        for row, col, lim, what in panels:
            drawn[row] += [r[col]] + ([r[lim]] if lim else [])
            fig.add_trace(go.Scatter(
                x=x, y=r[col], mode="lines+markers", name=name, legendgroup=f"r{i}", showlegend=row == 1,
                line=dict(color=c, width=theme.LINE_WIDTH),
                marker=dict(symbol=theme.run_symbol(i), size=theme.MARKER_SIZE - 4, color=c, maxdisplayed=12,
                            line=dict(color=p.marker_edge, width=1)),
                hovertemplate=f"{name}<br>step %{{x:,}}: {what} = %{{y:.4g}}<extra></extra>"), row=row, col=1)
            if lim is None:
                continue
            fig.add_trace(go.Scatter(
                x=x, y=r[lim], mode="lines", name=f"{name}: limit", legendgroup=f"r{i}", showlegend=False,
                line=dict(color=c, width=theme.LINE_WIDTH, dash="dot"),
                hovertemplate=f"{name}<br>step %{{x:,}}: limit %{{y:.4g}}<extra></extra>"), row=row, col=1)
    fig.update_layout(**theme.base_layout(height=height if n_panels == 1 else int(height * 1.6),
                                          legend=theme.legend_below(), margin=dict(l=75, r=20, t=50, b=60)))
    for ann in fig.layout.annotations:  # the subplot titles, in the theme's text size
        ann.font = dict(size=theme.FONT_SIZE, color=p.text)
    fig.update_xaxes(title_text="step", row=n_panels, col=1, rangemode="tozero")
    for row in range(1, n_panels + 1):
        # Linear while the values sit within a factor of 30 (the lesson's rise to 2/η reads best so); a log
        # axis when they span decades (Adam's λ_max(P⁻¹H) falls from hundreds; a line far above the curve).
        v = np.concatenate(drawn[row]) if drawn[row] else np.zeros(0)
        v = v[np.isfinite(v) & (v > 0)]
        log = v.size > 0 and v.max() / v.min() > 30
        fig.update_yaxes(type="log" if log else "linear", rangemode="normal" if log else "tozero",
                         exponentformat="power", row=row, col=1)
    return fig


def summary(trk: Tracker, labels: Sequence[str]) -> list[str]:
    """One line per run: its latest λ_max (and λ_max(P⁻¹H)) against its line, as a fraction of it."""
    out = []
    for i, lab in enumerate(labels):
        r = trk.rows(i)
        if not len(r["step"]):
            out.append(f"**{lab}**: not measured yet")
            continue
        j = len(r["step"]) - 1
        lam, lim = r["sharpness"][j], r["limit"][j]
        rule = threshold_of(trk.race.runs[i])
        text = f"**{lab}** at step {int(r['step'][j]):,}: λ_max = **{lam:.4g}**"
        if np.isfinite(lim) and lim > 0 and rule.applies:
            text += f", limit {rule.label} = {lim:.4g} (**{lam / lim:.0%}** of it)"
        elif np.isfinite(lim) and lim > 0:
            text += f" (2/η = {lim:.4g}: gradient descent's limit, for scale)"
        pl, pm = r["pre_sharpness"][j], r["pre_limit"][j]
        if np.isfinite(pl):
            text += f"; λ_max(P⁻¹H) = **{pl:.4g}**, limit {pm:.4g} (**{pl / pm:.0%}**)"
        out.append(text)
    return out


# -- the panel (Streamlit) -------------------------------------------------------------------------
def run_labels(race) -> list[str]:
    """Short names for the charts' legends: ``"1: SGD, η = 0.3"`` (``· torch.optim`` when stepped by torch.optim),
    so two runs of one optimizer are told apart by their lr."""
    out = []
    for i, run in enumerate(race.runs):
        lr = run.optimizer.param_groups[0].get("lr")
        name = run.config.label or run.config.optimizer
        text = f"{i + 1}: {name}" + (f", η = {float(lr):g}" if lr is not None else "")
        out.append(text + (" · torch.optim" if run.config.backend == "torch" else ""))
    return out


def switch(race, on: bool) -> None:
    """Measure while the panel is open (``on``), nothing while it is closed: the page calls this on each of
    its runs. The tracker is made the first time the panel opens."""
    if race is None:
        return
    trk = tracker(race, create=on)
    if trk is not None:
        trk.on = bool(on)


CAPTION = (
    "The top eigenvalue of the Hessian of the full training loss at each run's weights (Lanczos on Hessian-vector "
    "products, float64, the whole training set), every k steps while this panel is open. A quadratic with "
    "curvature λ is descended stably by gradient descent only while λ < 2/η: full-batch GD raises λ_max until it "
    "reaches 2/η and then hovers there while the loss keeps falling, unevenly (Cohen et al., ICLR 2021: the edge "
    "of stability). With momentum μ the limit is 2(1+μ)/η. For Adam the rule holds for the preconditioned "
    "λ_max(P⁻¹H), P = (1−β₁ᵗ)·diag(√v̂ + ε) from its state, at (2+2β₁)/((1−β₁)η) (Cohen et al. 2022). "
    "Measuring slows training: each measurement costs a few backward passes."
)


def panel(race, lock, *, on_preset: Callable[[], None] | None = None) -> None:
    """The Sharpness panel of ``race`` (inside its expander, in a fragment of its own): the cadence, the
    lesson's preset, each run's latest numbers and the chart. Reads the race under the page's ``lock``."""
    import streamlit as st

    from app.ui.theme import run_color, swatch

    trk = tracker(race)
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    if st.session_state.get("lt_sharp_every") not in EVERY_OPTIONS:  # first given through the state (the
        st.session_state["lt_sharp_every"] = budget.SHARPNESS_EVERY  # preset sets it the same way), never value=
    every = left.select_slider("Measure every (steps)", EVERY_OPTIONS, key="lt_sharp_every",
                               help=f"At most {budget.SHARPNESS_MAX_ITERS} Hessian-vector products per measurement "
                                    "(usually 3 to 8: each starts from the last top eigenvector).")
    if on_preset is not None and right.button(
            "Edge-of-stability lesson", key="lt_sharp_preset", on_click=on_preset, width="stretch",
            help="Full-batch gradient descent (no momentum) at η = 0.3 and η = 0.2 on noisy two moons: "
                 "press Start and watch λ_max climb to 2/η and stay there."):
        st.rerun(scope="app")  # the page's controls changed: a new race
    with lock:
        labels = run_labels(race)
        trk.set_every(int(every))
        trk.measure_all()
        lines = summary(trk, labels)
        fig = figure(trk, labels)
    for i, line in enumerate(lines):
        st.markdown(f"{swatch(run_color(i))} {line}", unsafe_allow_html=True)
    st.plotly_chart(fig, theme=None, key="lt_sharp_chart", config={"displaylogo": False})
    st.caption(CAPTION)
