"""The Playground's scene: what is raced, on what, from where, and the facts its controls offer.

A :class:`Scene` is a frozen (hashable) description of one race: the surface (a registry
name with parameters, or a custom formula), up to :data:`MAX_RUNS` runs (optimizer,
hyperparameters, optional schedule, clipping, Lookahead, own start or mini-batch), the
shared start point, the number of steps and the gradient noise. Values at their registry
default are left out, so equal races compare (and cache) equal.

The rest of the feature builds on it: :mod:`.presets` (the gallery), :mod:`.state` (the
widget and URL state, both ways), :mod:`.race` (running a scene), :mod:`.theory` and
:mod:`.analyses` (what the page explains and sweeps). Nothing here imports streamlit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from app.ui.controls import FULL_BATCH, HIDDEN_HYPERS, STEP_OPTIONS, fmt, past_warmup, snap
from app.ui.theme import run_color
from optim_core import registry

__all__ = [
    "CUSTOM",
    "MAX_RUNS",
    "STEP_OPTIONS",
    "NOISE_OPTIONS",
    "BATCH_OPTIONS",
    "CLIP_MODES",
    "CLIP_AT_OPTIONS",
    "DEFAULT_CUSTOM_WINDOW",
    "RunConfig",
    "Scene",
    "SceneError",
    "make_surface",
    "default_start",
    "scene_start",
    "shown_hypers",
    "run_label",
    "unique_labels",
    "available_schedules",
    "schedule_param_default",
]

CUSTOM = "Custom formula…"
MAX_RUNS = 6  # runs raced at once (the engine's own limit, LIMITS.max_runs, is checked too)
# Noise and batch sizes offered by the page's select sliders (steps: the app's STEP_OPTIONS).
NOISE_OPTIONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0)
BATCH_OPTIONS = (FULL_BATCH, 1, 2, 4, 8, 16, 32, 64)  # FULL_BATCH (0): the exact gradient
CLIP_MODES = ("off", "norm", "value")
CLIP_AT_OPTIONS = (0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)  # the "clip at" slider's values
DEFAULT_CUSTOM_WINDOW = ((-3.0, 3.0), (-3.0, 3.0))
# The precisions and remedies offered (optim_core.precision), with the words the page uses.
PRECISIONS = ("float64", "float32", "bfloat16", "float16")
REMEDY_LABELS = {"none": "no remedy", "master": "fp32 master", "stochastic": "stochastic rounding",
                 "kahan": "Kahan"}


def shown_hypers(optimizer: str) -> list:
    """The hyperparameters the Playground offers for ``optimizer``, in registry order."""
    return [h for h in registry.get_optimizer(optimizer).hypers if h.name not in HIDDEN_HYPERS]


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
    batch: int = FULL_BATCH  # FULL_BATCH (0): the scene's batch size
    color: str = ""
    remedy: str = "none"  # for lost low-precision updates (optim_core.precision.REMEDIES); none in float64

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

    @staticmethod
    def of(optimizer: str, **settings) -> "RunConfig":
        """:meth:`make` with hyperparameters and run settings as keywords alike (how presets and
        lessons write runs): ``RunConfig.of("SGD", lr=0.07, momentum=0.7, schedule=...)``."""
        extra = {k: settings.pop(k) for k in ("schedule", "schedule_params", "clip_norm", "clip_value", "lookahead",
                                              "start", "batch", "remedy") if k in settings}
        return RunConfig.make(optimizer, settings, **extra)

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
    batch_size: int = FULL_BATCH  # FULL_BATCH (0): the exact gradient
    seed: int = 0
    precision: str = "float64"  # how parameters and optimizer state are stored (optim_core.precision.DTYPES)

    @staticmethod
    def make(surface: str, runs: Sequence[RunConfig], surface_params=None, **kw) -> "Scene":
        runs = tuple(r if r.color else replace(r, color=run_color(i)) for i, r in enumerate(runs))
        if kw.get("precision", "float64") == "float64":  # nothing is rounded: no remedy to apply
            runs = tuple(r if r.remedy == "none" else replace(r, remedy="none") for r in runs)
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

    @property
    def surface_id(self) -> tuple:
        """What the surface depends on (the formula and window only for a custom one)."""
        return (self.surface, self.surface_params, self.formula if self.is_custom else "",
                self.window if self.is_custom else None)


# ---------------------------------------------------------------------------------------
# Surfaces
# ---------------------------------------------------------------------------------------


class SceneError(ValueError):
    """A request the page refuses, with a message for the user."""


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
    return _make_surface(*scene.surface_id)


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
    if run.remedy != "none":
        parts.append(REMEDY_LABELS.get(run.remedy, run.remedy))
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
# Schedules and defaults
# ---------------------------------------------------------------------------------------


def available_schedules() -> dict:
    """The registry's schedules; empty while the schedules package cannot be loaded."""
    try:
        return registry.schedules()
    except Exception:  # the schedules package may be mid-edit; runs without schedules still work
        return {}


def schedule_param_default(h, steps: int, info=None) -> Any:
    """A schedule parameter's default; length parameters default to the number of steps raced.

    The length parameters are those declared with a length role (``run_length`` or
    ``phase_length``, :data:`optim_core.registry.LENGTH_ROLES`). A warm-up schedule's
    ``total_steps`` (``info``'s, when given) lies past its default warm-up, so that the
    decay has a step of its own (WarmupPolynomial refuses less).
    """
    if h.role in registry.LENGTH_ROLES and h.kind == "int":
        n = past_warmup(info, steps) if h.role == "run_length" and info is not None else int(steps)
        return snap(n, h)
    return h.default


def _non_default(optimizer: str, hypers: Mapping[str, Any]) -> dict[str, Any]:
    """Only the hyperparameters that differ from the registry: equal scenes compare equal."""
    out = {}
    for h in shown_hypers(optimizer):
        v = hypers.get(h.name, h.default)
        if v != h.default:
            out[h.name] = v
    return out
