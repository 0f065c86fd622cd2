"""What the Playground explains: the stability theory of a quadratic, why a run diverged, and the
Theory tab's cards for the optimizers and schedules raced.

The mathematics lives once, in :func:`optim_core.analysis.quadratic_stability` (2/L for
gradient descent, 2(1+β)/L for heavy-ball momentum, Polyak's optimal momentum); this module
puts it in words for a scene. Nothing here imports streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from app.playground.scene import Scene, scene_start
from app.ui.controls import fmt
from optim_core import registry
from optim_core.analysis import quadratic_stability
from app import budget

__all__ = [
    "has_theory",
    "stability",
    "divergence_notes",
    "STABILITY_LATEX",
    "StabilityLesson",
    "stability_lesson",
    "OptimizerCard",
    "ScheduleCard",
    "optimizer_cards",
    "schedule_cards",
    "display_latex",
    "top_level_newlines",
]


def has_theory(surface) -> bool:
    """Whether the theory applies: a quadratic surface, whose curvatures μ … L are known."""
    return getattr(surface, "lipschitz", None) is not None


def stability(surface, beta: float | None = None) -> dict[str, float] | None:
    """:func:`~optim_core.analysis.quadratic_stability` for ``surface`` (None off quadratics):
    L, μ, the largest stable lr of GD (``gd_max_lr``) and, given ``beta``, of heavy ball."""
    return surface.stability(beta) if has_theory(surface) else None


def _local_curvature(surface, xy) -> float | None:
    try:
        h = np.asarray(surface.hessian(np.asarray(xy, dtype=np.float64)), dtype=np.float64)
        ev = np.linalg.eigvalsh(h)
    except Exception:  # custom formulas may lack a Hessian
        return None
    top = float(np.max(np.abs(ev)))
    return top if math.isfinite(top) and top > 0 else None


def _sgd_bound(stab: Mapping[str, float], momentum: float) -> tuple[float, str, str]:
    """The largest stable lr of SGD with ``momentum`` on the quadratic of ``stab``, how it is
    written, and who it bounds."""
    L = stab["L"]
    if momentum:
        bound = quadratic_stability(L, stab["mu"], momentum)["heavy_ball_max_lr"]
        return bound, f"2(1+μ)/L = 2·{fmt(1 + momentum)}/{fmt(L)} = {fmt(round(bound, 4))}", "heavy-ball momentum is"
    bound = stab["gd_max_lr"]
    return bound, f"2/L = 2/{fmt(L)} = {fmt(round(bound, 4))}", "gradient descent is"


def divergence_notes(scene: Scene, surface, traj, labels: list[str], stab: Mapping[str, float] | None) -> list[str]:
    """One sentence per diverged run, saying where and why, with the stability bound when known."""
    notes = []
    unbounded = getattr(surface, "global_min_value", 0.0) == -math.inf
    for k, run in enumerate(scene.runs):
        step = int(traj.diverged_step[k, 0])
        if step < 0:
            continue
        reason = str(traj.diverged_reason[k, 0]) or "it left the region"
        if unbounded:
            notes.append(f"{labels[k]} left the picture at step {step}: {reason}. This surface has no bottom, "
                         "so running off downhill is the expected ending, not a failure.")
            continue
        text = f"{labels[k]} diverged at step {step}: {reason}."
        hp = run.hyper_dict()
        lr = hp.get("lr")
        if run.optimizer == "SGD" and isinstance(lr, (int, float)):
            mom = float(hp.get("momentum") or 0.0)
            if stab is not None:
                bound, name, why = _sgd_bound(stab, mom)
                text += (f" Why: the steepest curvature of this quadratic is L = {fmt(stab['L'])}, and {why} stable "
                         f"only for η < {name}; this run used η = {fmt(lr)}"
                         + (", above the bound." if lr >= bound else "."))
            else:
                start = run.start or scene_start(scene, surface)
                Lloc = _local_curvature(surface, start)
                if Lloc:
                    text += (f" Why: near the start the steepest curvature is about {fmt(round(Lloc, 3))}, so plain "
                             f"gradient descent needs η below roughly 2/{fmt(round(Lloc, 3))} ≈ "
                             f"{fmt(round(2 / Lloc, 4))} there; this run used η = {fmt(lr)}.")
        elif isinstance(lr, (int, float)):
            text += (f" {run.optimizer} moves each coordinate by about η per step whatever the gradient's size, "
                     f"so η = {fmt(lr)} is too large a stride for this landscape: lower η.")
        notes.append(text)
    return notes


# ---------------------------------------------------------------------------------------
# The Stability tab
# ---------------------------------------------------------------------------------------

STABILITY_LATEX = (r"\text{GD: } e_{t+1} = (1-\eta\lambda)\,e_t \;\Rightarrow\; |1-\eta L|<1 \iff \eta<\tfrac{2}{L}"
                   r"\qquad \text{heavy ball: } \eta < \tfrac{2(1+\beta)}{L}")
STABILITY_MAX_STEPS = budget.STABILITY_MAX_STEPS  # the sweep's runs are at most this long


@dataclass(frozen=True)
class StabilityLesson:
    """Gradient descent and heavy ball against η on the scene's quadratic: the theory, in words,
    and the sweep that checks it (the lrs, from the scene's start)."""

    theory: Mapping[str, float]  # quadratic_stability(L, μ, β)
    text: str  # markdown
    lrs: np.ndarray
    start: tuple[float, float]
    steps: int

    @property
    def beta(self) -> float:
        return self.theory["beta"]

    @property
    def series(self) -> tuple[str, str]:
        """The sweep's two runs, as the figure names them."""
        return "gradient descent", f"heavy ball β = {fmt(self.beta)}"

    @property
    def bounds(self) -> dict[str, float]:
        return {"2/L": self.theory["gd_max_lr"], "2(1+β)/L": self.theory["heavy_ball_max_lr"]}


def stability_lesson(scene: Scene, surface, steps: int) -> StabilityLesson:
    """The lesson for ``scene`` on its quadratic ``surface``, the sweep at most ``steps`` long.

    β is the largest momentum among the scene's SGD runs (0.9 if none has one). Raises
    ValueError when the curvatures are not those of a positive-definite quadratic.
    """
    betas = [float(dict(r.hypers).get("momentum", 0.0)) for r in scene.runs if r.optimizer == "SGD"]
    beta = max([b for b in betas if b > 0], default=0.9)
    th = stability(surface, beta)
    if th is None:
        raise ValueError(f"{scene.surface} is not a quadratic: no stability theory")
    L, mu = th["L"], th["mu"]
    text = (f"On a quadratic with curvatures μ = {fmt(mu)} … L = {fmt(L)} (κ = {fmt(round(th['kappa'], 4))}), "
            f"gradient descent converges only for **η < 2/L = {fmt(round(th['gd_max_lr'], 5))}** and heavy-ball "
            f"momentum β = {fmt(beta)} for **η < 2(1+β)/L = {fmt(round(th['heavy_ball_max_lr'], 5))}**. "
            f"The fastest plain step is η = 2/(L+μ) = {fmt(round(th['gd_optimal_lr'], 5))}; Polyak's best "
            f"momentum is β = {fmt(round(th['optimal_momentum'], 4))} with "
            f"η = {fmt(round(th['optimal_momentum_lr'], 5))}.")
    lrs = np.geomspace(th["gd_max_lr"] / 30, th["heavy_ball_max_lr"] * 2.5, 41)
    return StabilityLesson(th, text, lrs, tuple(scene_start(scene, surface)), int(min(steps, STABILITY_MAX_STEPS)))


# ---------------------------------------------------------------------------------------
# The Theory tab
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerCard:
    name: str
    latex: str
    use: str  # when practitioners use it
    memory: str
    paper: str


@dataclass(frozen=True)
class ScheduleCard:
    name: str
    latex: str
    summary: str


def optimizer_cards(scene: Scene) -> list[OptimizerCard]:
    """One card per optimizer raced, in the order of the runs; memory with the first run's settings."""
    cards: dict[str, OptimizerCard] = {}
    for run in scene.runs:
        if run.optimizer in cards:
            continue
        info = registry.get_optimizer(run.optimizer)
        hp: dict[str, Any] = {k: v for k, v in run.hyper_dict().items() if v is not None}
        try:
            per_param = info.state_bytes_per_param(4, **hp)
        except (TypeError, ValueError):
            per_param = info.state_bytes_per_param(4)
        cards[run.optimizer] = OptimizerCard(
            info.name, info.latex, info.summary,
            f"{info.state_note} (≈ {fmt(per_param)} bytes of state per float32 parameter.)", info.paper)
    return list(cards.values())


def schedule_cards(scene: Scene, schedules: Mapping[str, Any]) -> list[ScheduleCard]:
    """One card per schedule raced (by name) that ``schedules`` knows."""
    names = sorted({r.schedule for r in scene.runs if r.schedule})
    return [ScheduleCard(n, schedules[n].latex, schedules[n].summary) for n in names if n in schedules]


# ---------------------------------------------------------------------------------------
# LaTeX as st.latex shows it
# ---------------------------------------------------------------------------------------


def top_level_newlines(latex: str) -> int:
    r"""How many line breaks (``\``, ``
ewline``) ``latex`` has outside every environment:
    KaTeX, which st.latex draws in display mode, ignores them there and warns
    ([newLineInDisplayMode])."""
    depth = count = i = 0
    n = len(latex)
    while i < n:
        if latex[i] != "\\":
            i += 1
            continue
        if latex.startswith("\\\\", i):
            count += depth == 0
            i += 2
            continue
        j = i + 1
        while j < n and latex[j].isalpha():
            j += 1
        name = latex[i + 1:j] if j > i + 1 else latex[i + 1:i + 2]
        if name == "begin":
            depth += 1
        elif name == "end":
            depth = max(0, depth - 1)
        elif name == "newline":
            count += depth == 0
        i = max(j, i + 2)
    return count


def display_latex(latex: str) -> str:
    r"""``latex`` for st.latex: formulas written one equation per line (``\\`` between them, as
    the registry writes them) are set in a ``gathered`` environment, where the breaks do break
    the line; anything else is returned unchanged."""
    if not top_level_newlines(latex):
        return latex
    return "\\begin{gathered}" + latex + "\\end{gathered}"
