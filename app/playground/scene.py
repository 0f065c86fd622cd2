"""The Playground's scene: what is raced, on what, from where; its widget state; its presets.

A :class:`Scene` is a frozen (hashable) description of one race: the surface (a registry
name with parameters, or a custom formula), up to six runs (optimizer, hyperparameters,
optional schedule, clipping, Lookahead, own start or mini-batch), the shared start point,
the number of steps and the gradient noise. It maps both ways to the page's widget keys
(:func:`state_from_scene` / :func:`scene_from_state`), so a preset or a URL sets the
widgets through ``st.session_state``; :func:`compute` runs it on the engine and words what
happened (who diverged, and why, with the stability bound where theory gives one).

Nothing here imports streamlit: the page caches :func:`compute` on the frozen scene.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from app.ui.controls import fmt, hyper_options, snap
from app.ui.theme import run_color
from optim_core import registry
from optim_core.engine import LIMITS, RunSpec, Trajectories, run_trajectories
from optim_core.optimizer import check_hyper

__all__ = [
    "CUSTOM",
    "MAX_RUNS",
    "RunConfig",
    "Scene",
    "Result",
    "Preset",
    "GALLERY",
    "DEFAULT_SCENE",
    "make_surface",
    "compute",
    "shown_hypers",
    "scene_from_state",
    "state_from_scene",
    "run_keys",
    "run_label",
    "default_run",
    "available_schedules",
]

CUSTOM = "Custom formula…"
MAX_RUNS = 6
# Steps, noise and batch sizes offered by the page's select sliders.
STEP_OPTIONS = (10, 20, 30, 50, 80, 100, 120, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000)
NOISE_OPTIONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0)
BATCH_OPTIONS = (0, 1, 2, 4, 8, 16, 32, 64)  # 0: the full batch (exact gradient)
CLIP_MODES = ("off", "norm", "value")
# Hyperparameters the Playground never shows: maximize makes no sense on a loss surface.
_HIDDEN = frozenset({"maximize"})


def sweep_values(h, current: Any, n: int) -> np.ndarray:
    """About ``n`` slider values of ``h`` for a sensitivity map, so a clicked cell is a slider value.

    Log-scaled hyperparameters span two decades either side of ``current``; linear ones
    their whole range (without the tiny values near 0 meant for weight decay), where
    the decay rates' 0.9, 0.99, 0.999 are kept.
    """
    opts = [o for o in hyper_options(h) if o is not None]
    if h.log:
        cur = float(current) if current else float(h.default or opts[len(opts) // 2])
        opts = [o for o in opts if cur / 100 * (1 - 1e-9) <= o <= cur * 100 * (1 + 1e-9)]
    else:
        lo, hi = float(opts[0]), float(opts[-1])
        opts = [o for o in opts if o == lo or o - lo >= (hi - lo) / 25]
    if len(opts) > n:
        idx = np.unique(np.round(np.linspace(0, len(opts) - 1, n)).astype(int))
        opts = [opts[i] for i in idx]
    return np.array(opts, dtype=np.float64)


def shown_hypers(optimizer: str) -> list:
    """The hyperparameters the Playground offers for ``optimizer``, in registry order."""
    return [h for h in registry.get_optimizer(optimizer).hypers if h.name not in _HIDDEN]


# ---------------------------------------------------------------------------------------
# The scene
# ---------------------------------------------------------------------------------------


def _items(mapping: Mapping[str, Any] | Sequence | None) -> tuple:
    if not mapping:
        return ()
    if isinstance(mapping, Mapping):
        mapping = mapping.items()
    return tuple(sorted((str(k), v) for k, v in mapping))


@dataclass(frozen=True)
class RunConfig:
    """One racer: an optimizer with its settings. Mappings are stored as sorted item tuples."""

    optimizer: str
    hypers: tuple = ()
    schedule: str | None = None
    schedule_params: tuple = ()
    clip_norm: float | None = None
    clip_value: float | None = None
    lookahead: tuple[int, float] | None = None
    start: tuple[float, float] | None = None  # None: the scene's start
    batch: int = 0  # 0: the scene's batch size
    color: str = ""

    @staticmethod
    def make(optimizer: str, hypers: Mapping[str, Any] | None = None, **kw) -> "RunConfig":
        kw["schedule_params"] = _items(kw.get("schedule_params"))
        if kw.get("start") is not None:
            kw["start"] = (float(kw["start"][0]), float(kw["start"][1]))
        if optimizer in registry.optimizers():
            # Values at the registry default are left out, so equal races compare (and cache) equal.
            shown = {h.name for h in shown_hypers(optimizer)}
            hypers = {**{k: v for k, v in (hypers or {}).items() if k not in shown},
                      **_non_default(optimizer, hypers or {})}
        return RunConfig(optimizer, _items(hypers), **kw)

    def hyper_dict(self) -> dict[str, Any]:
        """Every shown hyperparameter: registry defaults overridden by this run's values."""
        out = {h.name: h.default for h in shown_hypers(self.optimizer)}
        out.update(dict(self.hypers))
        return out


@dataclass(frozen=True)
class Scene:
    """One race: a surface, the runs, the start and the noise. Frozen, so it keys caches."""

    surface: str
    runs: tuple[RunConfig, ...]
    surface_params: tuple = ()
    formula: str = ""
    window: tuple[tuple[float, float], tuple[float, float]] | None = None  # custom formula only
    start: tuple[float, float] | None = None  # None: the surface's suggested start
    steps: int = 200
    noise: float = 0.0
    batch_size: int = 0  # 0: full batch
    seed: int = 0

    @staticmethod
    def make(surface: str, runs: Sequence[RunConfig], surface_params=None, **kw) -> "Scene":
        runs = tuple(r if r.color else replace(r, color=run_color(i)) for i, r in enumerate(runs))
        if kw.get("start") is not None:
            kw["start"] = (float(kw["start"][0]), float(kw["start"][1]))
        info = registry.surfaces().get(surface)
        params = dict(surface_params or {})
        if info is not None:
            defaults = info.defaults()
            params = {k: v for k, v in params.items() if k not in defaults or v != defaults[k]}
        return Scene(surface, runs, _items(params), **kw)

    @property
    def is_custom(self) -> bool:
        return self.surface == CUSTOM

    @property
    def stochastic(self) -> bool:
        return self.noise > 0 or self.batch_size > 0 or any(r.batch > 0 for r in self.runs)


# ---------------------------------------------------------------------------------------
# Surfaces
# ---------------------------------------------------------------------------------------


class SceneError(ValueError):
    """A request the page refuses, with a message for the user."""


DEFAULT_CUSTOM_WINDOW = ((-3.0, 3.0), (-3.0, 3.0))


@functools.lru_cache(maxsize=64)
def _make_surface(name: str, params: tuple, formula: str, window) -> Any:
    if name == CUSTOM:
        try:
            from optim_core.formula import FormulaError
            from optim_core.surfaces import CustomSurface
        except ImportError as exc:  # the formula module is not installed yet
            raise SceneError(f"Custom formulas are not available: {exc}") from None
        try:
            return CustomSurface(formula, window=window or DEFAULT_CUSTOM_WINDOW)
        except FormulaError as exc:
            raise SceneError(f"The formula was refused: {exc}") from None
        except (ValueError, TypeError, ArithmeticError, RecursionError, MemoryError) as exc:
            raise SceneError(f"The formula was refused: {exc}") from None
    try:
        info = registry.get_surface(name)
    except KeyError:
        known = ", ".join(registry.surfaces())
        raise SceneError(f"Unknown surface {name!r}. Known surfaces: {known}.") from None
    try:
        return info.make(**dict(params))
    except (ValueError, TypeError) as exc:
        raise SceneError(f"{name}: {exc}") from None


def make_surface(scene: Scene):
    """The scene's surface object (shared and cached: surfaces are immutable)."""
    return _make_surface(scene.surface, scene.surface_params, scene.formula if scene.is_custom else "",
                         scene.window if scene.is_custom else None)


def default_start(surface) -> tuple[float, float]:
    starts = getattr(surface, "starts", None)
    if starts is not None and len(starts):
        x, y = starts[0]
        return float(x), float(y)
    (x0, x1), (y0, y1) = surface.window
    return float(x0 + 0.8 * (x1 - x0)), float(y0 + 0.8 * (y1 - y0))


def scene_start(scene: Scene, surface) -> tuple[float, float]:
    return scene.start if scene.start is not None else default_start(surface)


# ---------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------


def _symbol(h) -> str:
    label = h.display
    last = label.split()[-1] if label.split() else label
    return last if len(last) <= 3 and not last.isascii() else label


def run_label(run: RunConfig) -> str:
    """``SGD (η = 0.1, μ = 0.9)``: the lr always, other hyperparameters when not at default."""
    hp = run.hyper_dict()
    parts = []
    for h in shown_hypers(run.optimizer):
        v = hp.get(h.name)
        if h.name == "lr":
            parts.append(f"η = {fmt(v)}")
        elif h.kind == "bool":
            if v and v != h.default:
                parts.append(_symbol(h))
        elif v != h.default:
            parts.append(f"{_symbol(h)} = {fmt(v)}")
    if run.schedule:
        parts.append(run.schedule)
    if run.clip_norm is not None:
        parts.append(f"clip ‖g‖ ≤ {fmt(run.clip_norm)}")
    if run.clip_value is not None:
        parts.append(f"clip |gᵢ| ≤ {fmt(run.clip_value)}")
    if run.lookahead is not None:
        parts.append(f"Lookahead k = {run.lookahead[0]}")
    if run.batch:
        parts.append(f"batch {run.batch}")
    return f"{run.optimizer} ({', '.join(parts)})" if parts else run.optimizer


def unique_labels(runs: Sequence[RunConfig]) -> list[str]:
    labels = [run_label(r) for r in runs]
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if labels.count(lab) == 1 else f"{lab} #{seen[lab]}")
    return out


# ---------------------------------------------------------------------------------------
# Compute
# ---------------------------------------------------------------------------------------


@dataclass
class Result:
    """What the page shows: the trajectories and the words around them."""

    scene: Scene
    surface: Any = None
    traj: Trajectories | None = None
    labels: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # diverged runs, stability
    stability: dict | None = None

    @property
    def ok(self) -> bool:
        return self.traj is not None and not self.errors


def validate(scene: Scene) -> list[str]:
    """Reasons the scene cannot be computed (empty when it can), checked against LIMITS."""
    errors = []
    n = len(scene.runs)
    if n == 0:
        errors.append("Add at least one run.")
    if n > min(MAX_RUNS, LIMITS.max_runs):
        errors.append(f"At most {min(MAX_RUNS, LIMITS.max_runs)} runs can race at once (asked for {n}).")
    steps = scene.steps
    if not isinstance(steps, (int, np.integer)) or not 1 <= steps <= LIMITS.max_steps:
        errors.append(f"Steps must be a whole number between 1 and {LIMITS.max_steps:,} (asked for {steps}).")
    elif n * steps > LIMITS.max_rows_x_steps:
        errors.append(f"{n} runs × {steps} steps is more than one request may compute.")
    elif not LIMITS.full_record_fits(n, steps):
        errors.append("Too many steps to record for the step inspector: use fewer steps.")
    starts = [scene.start] + [r.start for r in scene.runs]
    if any(s is not None and not all(math.isfinite(float(c)) for c in s) for s in starts):
        errors.append("The start point must be two finite numbers.")
    if not (math.isfinite(scene.noise) and 0 <= scene.noise <= 1e3):
        errors.append(f"Gradient noise must be between 0 and 1000 (got {scene.noise}).")
    if scene.batch_size < 0 or any(r.batch < 0 for r in scene.runs):
        errors.append("Batch sizes must be positive (0 means the full batch).")
    known = registry.optimizers()
    schedules = available_schedules()
    for i, run in enumerate(scene.runs):
        who = f"Run {i + 1} ({run.optimizer})"
        if run.optimizer not in known:
            errors.append(f"Run {i + 1}: unknown optimizer {run.optimizer!r}.")
            continue
        info = known[run.optimizer]
        names = {h.name for h in info.hypers}
        for name, value in run.hypers:
            if name not in names:
                errors.append(f"{who}: no hyperparameter {name!r}.")
                continue
            try:
                check_hyper(info.hyper(name), value)
            except ValueError as exc:
                errors.append(f"{who}: {exc}.")
        if run.schedule is not None and run.schedule not in schedules:
            errors.append(f"{who}: unknown schedule {run.schedule!r}.")
        for what, v in (("clip norm", run.clip_norm), ("clip value", run.clip_value)):
            if v is not None and not (math.isfinite(v) and v > 0):
                errors.append(f"{who}: the {what} must be a positive number (got {v}).")
        if run.lookahead is not None:
            k, alpha = run.lookahead
            if int(k) < 1 or not 0 <= float(alpha) <= 1:
                errors.append(f"{who}: Lookahead needs k ≥ 1 and 0 ≤ α ≤ 1.")
    return errors


def available_schedules() -> dict:
    """The registry's schedules; empty while the schedules package cannot be loaded."""
    try:
        return registry.schedules()
    except Exception:  # the schedules package may be mid-edit; runs without schedules still work
        return {}


def _spec(run: RunConfig, label: str) -> RunSpec:
    hypers = {k: v for k, v in run.hypers}
    schedule = (run.schedule, dict(run.schedule_params)) if run.schedule else None
    return RunSpec(run.optimizer, hypers, schedule=schedule, clip_norm=run.clip_norm, clip_value=run.clip_value,
                   lookahead=run.lookahead, label=label)


def _oracle(surface, scene: Scene, batch: int):
    if scene.noise <= 0 and batch <= 0:
        return None
    from optim_core.stochastic import StochasticGradient

    return StochasticGradient(surface, noise_scale=float(scene.noise), batch_size=(int(batch) or None),
                              seed=int(scene.seed))


def compute(scene: Scene) -> Result:
    """Run the scene on the engine; every refusal becomes a message, never an exception."""
    res = Result(scene)
    res.errors = validate(scene)
    if res.errors:
        return res
    try:
        surface = res.surface = make_surface(scene)
    except SceneError as exc:
        res.errors.append(str(exc))
        return res
    res.labels = unique_labels(scene.runs)
    start = scene_start(scene, surface)
    bound = float(getattr(surface, "bound", math.inf))
    for s in [start] + [r.start for r in scene.runs if r.start is not None]:
        if max(abs(s[0]), abs(s[1])) > bound:
            res.errors.append(f"The start point ({fmt(s[0])}, {fmt(s[1])}) is outside the region where this surface "
                              f"is raced (|θ₁|, |θ₂| ≤ {fmt(bound)}): type a start inside it in the sidebar.")
            return res
    own = any(r.start is not None for r in scene.runs)
    starts = np.array([[r.start if r.start is not None else start] for r in scene.runs], dtype=np.float64)
    specs = [_spec(r, lab) for r, lab in zip(scene.runs, res.labels)]
    # Runs with their own mini-batch size meet a different gradient oracle: one oracle per
    # size, shared by the runs of that size (the engine calls each once per step).
    batches = [r.batch or scene.batch_size for r in scene.runs]
    try:
        by_batch = {b: _oracle(surface, scene, b) for b in sorted(set(batches))}
        traj = run_trajectories(surface, specs, starts if own else starts[0], scene.steps,
                                oracle=[by_batch[b] for b in batches], record="full")
    except ImportError as exc:
        res.errors.append(f"Gradient noise is not available yet ({exc}); set the noise to 0.")
        return res
    except (ValueError, ArithmeticError) as exc:
        res.errors.append(f"The engine refused this race: {exc}")
        return res
    res.traj = traj
    res.stability = stability_info(surface, scene)
    res.notes = divergence_notes(scene, surface, traj, res.labels, res.stability)
    if scene.stochastic and getattr(surface, "global_min_value", 0) == -math.inf:
        res.warnings.append("This surface has no bottom: noise only decides how fast runs leave.")
    return res


def stability_info(surface, scene: Scene) -> dict | None:
    """For quadratic surfaces: L, μ and the largest stable lr of GD and of each run's heavy ball."""
    L = getattr(surface, "lipschitz", None)
    if L is None:
        return None
    mu = getattr(surface, "strong_convexity", None)
    out = {"L": float(L), "mu": None if mu is None else float(mu), "gd_max_lr": 2.0 / float(L)}
    betas = sorted({float(dict(r.hypers).get("momentum", 0.0)) for r in scene.runs if r.optimizer == "SGD"} - {0.0})
    out["heavy_ball"] = {b: 2.0 * (1.0 + b) / float(L) for b in betas}
    if mu:
        sl, sm = math.sqrt(L), math.sqrt(mu)
        out["optimal_momentum"] = ((sl - sm) / (sl + sm)) ** 2
        out["optimal_lr"] = 4.0 / (sl + sm) ** 2
    return out


def _local_curvature(surface, xy) -> float | None:
    try:
        h = np.asarray(surface.hessian(np.asarray(xy, dtype=np.float64)), dtype=np.float64)
        ev = np.linalg.eigvalsh(h)
    except Exception:  # custom formulas may lack a Hessian
        return None
    top = float(np.max(np.abs(ev)))
    return top if math.isfinite(top) and top > 0 else None


def divergence_notes(scene: Scene, surface, traj: Trajectories, labels: list[str], stab: dict | None) -> list[str]:
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
                L = stab["L"]
                bound, name = (2.0 * (1 + mom) / L, f"2(1+μ)/L = 2·{fmt(1 + mom)}/{fmt(L)} = {fmt(round(2 * (1 + mom) / L, 4))}") \
                    if mom else (2.0 / L, f"2/L = 2/{fmt(L)} = {fmt(round(2 / L, 4))}")
                why = "heavy-ball momentum is" if mom else "gradient descent is"
                text += (f" Why: the steepest curvature of this quadratic is L = {fmt(L)}, and {why} stable only for "
                         f"η < {name}; this run used η = {fmt(lr)}"
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
# Widget state <-> scene
# ---------------------------------------------------------------------------------------

K = "pg_"


def run_keys(i: int, optimizer: str | None = None) -> dict[str, str]:
    """Widget keys of run ``i`` (0-based); with ``optimizer``, one per shown hyperparameter too."""
    p = f"{K}r{i}_"
    keys = {"opt": p + "opt", "sched": p + "sched", "clip": p + "clip", "clipv": p + "clipv", "la": p + "la",
            "lak": p + "lak", "laa": p + "laa", "batch": p + "batch", "own": p + "own", "x0": p + "x0",
            "y0": p + "y0", "color": p + "color"}
    if optimizer is not None:
        for h in shown_hypers(optimizer):
            keys["h_" + h.name] = p + h.name
    return keys


def schedule_key(i: int, param: str) -> str:
    return f"{K}r{i}_s_{param}"


def schedule_param_default(h, steps: int, info=None) -> Any:
    """A schedule parameter's default; length parameters default to the number of steps raced.

    The length parameters are those declared with a length role (``run_length`` or
    ``phase_length``, :data:`optim_core.registry.LENGTH_ROLES`). A warm-up schedule's
    ``total_steps`` (``info``'s, when given) lies past its default warm-up, so that the
    decay has a step of its own (WarmupPolynomial refuses less).
    """
    if h.role in registry.LENGTH_ROLES and h.kind == "int":
        n = int(steps)
        if h.role == "run_length" and info is not None and "warmup_steps" in info.defaults():
            n = max(n, int(info.defaults()["warmup_steps"]) + 1)
        return snap(n, h)
    return h.default


def surface_param_key(name: str) -> str:
    return f"{K}sp_{name}"


def default_run(i: int) -> RunConfig:
    """Run ``i`` of the default scene (an Adam run past its last one): what a new run starts from."""
    return DEFAULT_SCENE.runs[i] if i < len(DEFAULT_SCENE.runs) else RunConfig("Adam", color=run_color(i))


def run_hyper_default(i: int, optimizer: str, h) -> Any:
    """The widget default of run ``i``'s hyperparameter ``h``: the default scene's value if that
    run uses the same optimizer there, else the registry default."""
    base = default_run(i)
    if base.optimizer == optimizer:
        return base.hyper_dict().get(h.name, h.default)
    return h.default


def state_from_scene(scene: Scene) -> dict[str, Any]:
    """Every widget value the page needs to show ``scene`` (hyperparameters snapped to sliders)."""
    surface = None
    try:
        surface = make_surface(scene)
    except SceneError:
        pass
    st: dict[str, Any] = {K + "surface": scene.surface, K + "steps": snap(scene.steps, STEP_OPTIONS),
                          K + "noise": snap(scene.noise, NOISE_OPTIONS),
                          K + "batch": snap(scene.batch_size, BATCH_OPTIONS),
                          K + "seed": int(scene.seed), K + "nruns": len(scene.runs)}
    if scene.is_custom:
        st[K + "formula"] = scene.formula
        (x0, x1), (y0, y1) = scene.window or DEFAULT_CUSTOM_WINDOW
        st.update({K + "xmin": float(x0), K + "xmax": float(x1), K + "ymin": float(y0), K + "ymax": float(y1)})
    else:
        info = registry.surfaces().get(scene.surface)
        if info is not None:
            values = {**info.defaults(), **dict(scene.surface_params)}
            for h in info.params:
                st[surface_param_key(h.name)] = snap(values[h.name], h)
    start = scene.start if scene.start is not None else (default_start(surface) if surface is not None else (0.0, 0.0))
    st[K + "x0"], st[K + "y0"] = float(start[0]), float(start[1])
    schedules = available_schedules()
    for i, run in enumerate(scene.runs):
        keys = run_keys(i, run.optimizer)
        st[keys["opt"]] = run.optimizer
        hp = run.hyper_dict()
        for h in shown_hypers(run.optimizer):
            st[keys["h_" + h.name]] = snap(hp[h.name], h)
        st[keys["sched"]] = run.schedule or "none"
        if run.schedule and run.schedule in schedules:
            sp = {h.name: schedule_param_default(h, scene.steps, schedules[run.schedule])
                  for h in schedules[run.schedule].params}
            sp.update(dict(run.schedule_params))
            for h in schedules[run.schedule].params:
                st[schedule_key(i, h.name)] = snap(sp[h.name], h)
        if run.clip_norm is not None:
            st[keys["clip"]], st[keys["clipv"]] = "norm", float(run.clip_norm)
        elif run.clip_value is not None:
            st[keys["clip"]], st[keys["clipv"]] = "value", float(run.clip_value)
        else:
            st[keys["clip"]], st[keys["clipv"]] = "off", 1.0
        st[keys["la"]] = run.lookahead is not None
        k, alpha = run.lookahead or (5, 0.5)
        st[keys["lak"]], st[keys["laa"]] = int(k), float(alpha)
        st[keys["batch"]] = snap(run.batch, BATCH_OPTIONS)
        st[keys["own"]] = run.start is not None
        rs = run.start or start
        st[keys["x0"]], st[keys["y0"]] = float(rs[0]), float(rs[1])
        st[keys["color"]] = run.color or run_color(i)
    return st


def _color(value: Any, fallback: str) -> str:
    """A ``#rrggbb`` color from a widget or a URL; anything else falls back to the run's default."""
    text = str(value)
    if len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in text[1:]):
        return text.upper()
    return fallback


def _get(state: Mapping[str, Any], key: str, default: Any) -> Any:
    v = state.get(key, default)
    return default if v is None and default is not None else v


def scene_from_state(state: Mapping[str, Any]) -> Scene:
    """The scene the widgets describe; a missing key takes the default scene's value."""
    d = DEFAULT_SCENE
    surface_name = str(_get(state, K + "surface", d.surface))
    params: dict[str, Any] = {}
    formula, window = "", None
    if surface_name == CUSTOM:
        formula = str(_get(state, K + "formula", ""))
        (x0, x1), (y0, y1) = DEFAULT_CUSTOM_WINDOW
        window = ((float(_get(state, K + "xmin", x0)), float(_get(state, K + "xmax", x1))),
                  (float(_get(state, K + "ymin", y0)), float(_get(state, K + "ymax", y1))))
    else:
        info = registry.surfaces().get(surface_name)
        base = dict(d.surface_params) if surface_name == d.surface else {}
        if info is not None:
            for h in info.params:
                params[h.name] = _get(state, surface_param_key(h.name), base.get(h.name, h.default))
    start = d.start if surface_name == d.surface else None
    if state.get(K + "x0") is not None and state.get(K + "y0") is not None:
        start = (float(state[K + "x0"]), float(state[K + "y0"]))
    n = int(_get(state, K + "nruns", len(d.runs)))
    n = max(1, min(MAX_RUNS, n))
    schedules = available_schedules()
    runs = []
    for i in range(n):
        base = default_run(i)
        keys = run_keys(i)
        opt = str(_get(state, keys["opt"], base.optimizer))
        if opt not in registry.optimizers():
            opt = base.optimizer
        hypers = {}
        for h in shown_hypers(opt):
            hypers[h.name] = _get(state, f"{K}r{i}_{h.name}", run_hyper_default(i, opt, h))
        sched = _get(state, keys["sched"], base.schedule or "none")
        sched = None if sched in (None, "none") else str(sched)
        sparams = {}
        if sched and sched in schedules:
            base_sp = dict(base.schedule_params) if base.schedule == sched else {}
            n_steps = int(_get(state, K + "steps", d.steps))
            for h in schedules[sched].params:
                sparams[h.name] = _get(state, schedule_key(i, h.name),
                                       base_sp.get(h.name, schedule_param_default(h, n_steps, schedules[sched])))
        clip = _get(state, keys["clip"], "norm" if base.clip_norm else ("value" if base.clip_value else "off"))
        clipv = float(_get(state, keys["clipv"], base.clip_norm or base.clip_value or 1.0))
        la = bool(_get(state, keys["la"], base.lookahead is not None))
        la_k, la_a = base.lookahead or (5, 0.5)
        lookahead = (int(_get(state, keys["lak"], la_k)), float(_get(state, keys["laa"], la_a))) if la else None
        own = bool(_get(state, keys["own"], base.start is not None))
        rstart = None
        if own:
            bx, by = base.start or start or (0.0, 0.0)
            rstart = (float(_get(state, keys["x0"], bx)), float(_get(state, keys["y0"], by)))
        runs.append(RunConfig.make(
            opt, _non_default(opt, hypers), schedule=sched, schedule_params=sparams,
            clip_norm=clipv if clip == "norm" else None, clip_value=clipv if clip == "value" else None,
            lookahead=lookahead, start=rstart, batch=int(_get(state, keys["batch"], base.batch)),
            color=_color(_get(state, keys["color"], run_color(i)), run_color(i))))
    return Scene.make(
        surface_name, runs, params, formula=formula, window=window, start=start,
        steps=int(_get(state, K + "steps", d.steps)), noise=float(_get(state, K + "noise", d.noise)),
        batch_size=int(_get(state, K + "batch", d.batch_size)), seed=int(_get(state, K + "seed", d.seed)))


def _non_default(optimizer: str, hypers: Mapping[str, Any]) -> dict[str, Any]:
    """Only the hyperparameters that differ from the registry: equal scenes compare equal."""
    out = {}
    for h in shown_hypers(optimizer):
        v = hypers.get(h.name, h.default)
        if v != h.default:
            out[h.name] = v
    return out


def canonical(scene: Scene) -> Scene:
    """The scene as the widgets would show it (what ``scene_from_state(state_from_scene(s))`` gives)."""
    return scene_from_state(state_from_scene(scene))


# ---------------------------------------------------------------------------------------
# The gallery
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    icon: str
    note: str
    scene: Scene


def _run(optimizer: str, **hypers) -> RunConfig:
    extra = {k: hypers.pop(k) for k in ("schedule", "schedule_params", "clip_norm", "clip_value", "lookahead",
                                         "start", "batch") if k in hypers}
    return RunConfig.make(optimizer, hypers, **extra)


GALLERY: tuple[Preset, ...] = (
    Preset(
        "race", "Six optimizers on Rosenbrock", "🏁",
        "Rosenbrock's banana valley is easy to fall into and slow to follow: the walls are steep (curvature "
        "about 2b = 200) while the floor bends gently to the minimum at (1, 1). Plain SGD must keep its step "
        "below the walls' limit and crawls; momentum builds speed along the floor; Adam, RMSprop and Adagrad "
        "rescale each coordinate and march along it; Lion takes fixed-size sign steps. Press ▶ and watch who "
        "reaches the star first.",
        Scene.make("Rosenbrock", (
            _run("SGD", lr=0.002),
            _run("SGD", lr=0.001, momentum=0.9),
            _run("Adam", lr=0.1),
            _run("RMSprop", lr=0.01),
            _run("Adagrad", lr=1.0),
            _run("Lion", lr=0.005),
        ), start=(-1.2, 1.0), steps=500),
    ),
    Preset(
        "ravine", "SGD zig-zags in a ravine; momentum fixes it", "〰️",
        "In a narrow valley (condition number κ = 25) the steep walls limit the learning rate to η < 2/L, "
        "but a step that size barely moves along the flat floor. Plain gradient descent bounces from wall to "
        "wall, a zig-zag of period 2, and creeps forward. Heavy-ball momentum averages the bouncing away "
        "(the wall-to-wall components cancel) and accumulates speed along the floor: same η, far fewer steps.",
        Scene.make("Ravine", (
            _run("SGD", lr=0.07),
            _run("SGD", lr=0.07, momentum=0.7),
        ), {"kappa": 25.0}, start=(-2.5, 0.8), steps=120),
    ),
    Preset(
        "diverge", "Too large a learning rate diverges", "💥",
        "On a quadratic the largest curvature L sets a hard limit: gradient descent converges only if "
        "η < 2/L. Here L = 10, so the limit is 0.2. η = 0.15 zig-zags but converges; η = 0.2 sits exactly on "
        "the edge and bounces between the walls for ever; η = 0.25 overshoots a little more at every bounce and "
        "flies off, and the app says when, and why. Try 0.1 (no zig-zag at all: why?).",
        Scene.make("Ravine", (
            _run("SGD", lr=0.15),
            _run("SGD", lr=0.2),
            _run("SGD", lr=0.25),
        ), {"kappa": 10.0}, start=(-2.5, 0.8), steps=80),
    ),
    Preset(
        "rosenbrock", "Adam vs SGD on Rosenbrock", "🍌",
        "SGD's step along the valley floor is proportional to the gradient there, which is tiny: it reaches "
        "the valley at once and then crawls. Adam divides each coordinate's step by the running RMS of its "
        "gradient, so a small but consistent gradient still gives a step of about η: it follows the bend. "
        "Its momentum also makes it overshoot and curl around the minimum at the end.",
        Scene.make("Rosenbrock", (
            _run("SGD", lr=0.002),
            _run("Adam", lr=0.1),
        ), start=(-1.2, 1.0), steps=500),
    ),
    Preset(
        "saddle", "Escaping a saddle point", "🐎",
        "At a saddle the gradient vanishes but one direction still goes down. Started a hair off the ridge, "
        "plain gradient descent slides towards the saddle and lingers there: the escaping component grows by "
        "only (1 + 2η) per step. Momentum compounds that growth; Adam normalises the tiny escaping gradient "
        "to a full step of about η and leaves at once.",
        Scene.make("Saddle", (
            _run("SGD", lr=0.02),
            _run("SGD", lr=0.02, momentum=0.9),
            _run("Adam", lr=0.05),
        ), start=(-1.8, 0.01), steps=100),
    ),
    Preset(
        "rastrigin", "Rastrigin's local minima trap", "🕳️",
        "Rastrigin's egg box has a local minimum in every cell and the global one at the origin. Gradient "
        "descent and Adam, started near the top edge, stop in the first dimple they meet. Heavy momentum "
        "(μ = 0.95) rolls over ridge after ridge and ends one dimple short of the bottom: nobody finds the "
        "global minimum. That is what non-convex means. Click other start points and try other momenta.",
        Scene.make("Rastrigin", (
            _run("SGD", lr=0.002),
            _run("SGD", lr=0.002, momentum=0.95),
            _run("Adam", lr=0.1),
        ), start=(-1.4, 4.5), steps=400),
    ),
    Preset(
        "lion", "Lion's sign steps", "🦁",
        "Lion moves every coordinate by exactly ±η: it keeps only the sign of an interpolated momentum. "
        "Its path is made of 45° diagonals of the same length, whatever the gradient's size, so it "
        "crosses flat regions as fast as steep ones, then rattles around the minimum at amplitude η "
        "unless the learning rate is scheduled down. Compare Adam, whose steps shrink near the minimum.",
        Scene.make("Ravine", (
            _run("Lion", lr=0.05),
            _run("Adam", lr=0.05),
        ), {"kappa": 10.0}, start=(-2.5, 0.8), steps=150),
    ),
    Preset(
        "adamw", "Adam vs AdamW under weight decay", "⚖️",
        "Weight decay pulls every weight towards 0. Adam adds that pull to the gradient (L2), where the "
        "adaptive denominator divides it away wherever gradients are large: with λ = 0.5 it ends barely off "
        "the unregularised minimum (the green run, no decay). AdamW applies the pull to the weights directly "
        "(decoupled), the same for every coordinate, and settles much closer to the origin. Same λ, a "
        "different regulariser: that is why transformers are trained with AdamW.",
        Scene.make("Booth", (
            _run("Adam", lr=0.1, weight_decay=0.5),
            _run("AdamW", lr=0.1, weight_decay=0.5),
            _run("Adam", lr=0.1),
        ), start=(-8.0, 8.0), steps=400),
    ),
    Preset(
        "noise", "SGD's noise ball shrinks with batch size", "🎯",
        "With a noisy gradient SGD does not converge to the minimum: it keeps jittering in a 'noise ball' "
        "whose size grows with η and with the gradient's noise. Averaging a mini-batch of B samples divides "
        "the noise's variance by about B, so the ball shrinks: compare batch 1 with batch 32, same η "
        "(the 'dataset' has 64 samples).",
        Scene.make("Quadratic bowl", (
            _run("SGD", lr=0.1, batch=1),
            _run("SGD", lr=0.1, batch=32),
        ), start=(1.5, 1.0), steps=300),
    ),
    Preset(
        "nesterov", "Nesterov vs heavy ball", "🔭",
        "Both add momentum, but Nesterov takes the gradient at the point the momentum is about to carry "
        "it to: it sees the wall coming and brakes earlier. With the same η and μ in a ravine, heavy ball "
        "overshoots and oscillates longer; Nesterov damps the oscillation and settles sooner.",
        Scene.make("Ravine", (
            _run("SGD", lr=0.05, momentum=0.9),
            _run("SGD", lr=0.05, momentum=0.9, nesterov=True),
        ), {"kappa": 25.0}, start=(-2.5, 0.8), steps=150),
    ),
)

PRESETS: dict[str, Preset] = {p.key: p for p in GALLERY}
DEFAULT_SCENE: Scene = GALLERY[0].scene
