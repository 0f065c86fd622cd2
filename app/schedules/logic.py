"""What the Schedules page computes: controls → schedule parameters, warm-up + decay compositions,
the "copy as PyTorch" code, a schedule driving a run on a loss surface, and the LR range test.

Nothing here imports streamlit, and torch only inside :func:`mlp_range_test`. The page
(``app/views/schedules.py``) lays out widgets and calls these functions; every refusal is
a :class:`ScheduleError` whose message the page shows with ``st.error``.

Lengths that mean "the whole run" (the parameters declared with the role ``run_length``:
CosineAnnealingLR's ``T_max``, PolynomialLR's ``total_iters``, the warm-up schedules'
``total_steps``, SequentialLR's ``T_max`` after its warm-up) follow the page's number of
steps, so the default curves span the run.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from app.playground import scene as S
from app.training.datasets import DEFAULT_DATASET, DEFAULT_POINTS
from app.ui.controls import fmt, past_warmup, snap
from optim_core import registry
from optim_core.registry import Hyper
from optim_core.schedules import chained_lr, composition_snippet, lr_range_test, sequential_lr

__all__ = [
    "ScheduleError",
    "DEFAULT_STEPS",
    "DEFAULT_LR",
    "LR_HYPER",
    "choice_value",
    "length_values",
    "param_default",
    "schedule_params",
    "Curve",
    "schedule_curve",
    "schedule_problem",
    "schedule_latex",
    "momentum_key",
    "run_labels",
    "effective_params",
    "pytorch_code",
    "WARMUPS",
    "DECAYS",
    "COMBINATORS",
    "Composition",
    "composition_parts_default",
    "decay_length_param",
    "RunResult",
    "run_hypers",
    "run_schedule",
    "playground_scene",
    "surface_range_test",
    "mlp_range_test",
    "range_test_start",
    "RT_START_LR",
    "RT_END_LR",
    "RT_STEPS",
    "MLP_TEST_POINTS",
]


class ScheduleError(ValueError):
    """A request the page refuses, with a message for the user."""


DEFAULT_STEPS = 1000
DEFAULT_LR = 0.1
# The base lr's slider: 1-1.5-2-2.5-3-4-5-6-7-8 per decade from 1e-5 to 10.
LR_HYPER = Hyper("lr", DEFAULT_LR, low=1e-5, high=10.0, log=True, label="base lr η₀",
                 help="The lr every schedule starts from (OneCycleLR: its peak; CyclicLR: its floor). "
                      "The LR range test can set it.")


# ---------------------------------------------------------------------------------------
# Controls
# ---------------------------------------------------------------------------------------


def choice_value(h: Hyper, label: Any) -> Any:
    """The choice whose label is ``label`` (a value that is already a choice is kept)."""
    if label in h.choices:
        return label
    for c in h.choices:
        if fmt(c) == str(label):
            return c
    raise ScheduleError(f"{h.display}: {label!r} is not one of {', '.join(fmt(c) for c in h.choices)}")


def length_values(name: str, n_steps: int, params: Mapping[str, Any] | None = None) -> dict[str, int]:
    """The parameters of ``name`` that follow the number of steps, at ``n_steps``: its ``run_length``."""
    info = registry.get_schedule(name)
    h = info.with_role("run_length")
    if h is None:
        return {}
    params = {**info.defaults(), **dict(params or {})}
    n = past_warmup(info, n_steps, params)  # WarmupCosine/-Polynomial: total_steps counts the warm-up
    if "warmup_iters" in info.defaults():  # SequentialLR: T_max counts the steps after the warm-up
        n = max(1, n - int(params["warmup_iters"]))
    return {h.name: snap(n, h)}


def param_default(name: str, h: Hyper, n_steps: int) -> Any:
    """A widget's default: the registry's, or the run's length for a length parameter."""
    lengths = length_values(name, n_steps)
    if h.name in lengths:
        return lengths[h.name]
    return h.default


def schedule_params(name: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Widget values (choices as labels) → the schedule's keyword arguments, checked for type."""
    info = registry.get_schedule(name)
    out: dict[str, Any] = {}
    for h in info.params:
        v = values.get(h.name, h.default)
        if h.kind == "text":  # checked by the schedule itself (a formula: by its parser)
            if not isinstance(v, str):
                raise ScheduleError(f"{name}: {h.display} must be text, got {v!r}")
            out[h.name] = v
            continue
        try:
            if h.kind == "choice":
                v = choice_value(h, v)
            elif h.kind == "bool":
                v = bool(v)
            elif h.kind == "int":
                v = int(round(float(v)))
            elif v is not None:
                v = float(v)
        except (TypeError, ValueError):
            raise ScheduleError(f"{name}: {h.display} must be a number, got {v!r}") from None
        out[h.name] = v
    return out


# ---------------------------------------------------------------------------------------
# Curves
# ---------------------------------------------------------------------------------------


@dataclass
class Curve:
    """One schedule's curve: ``lr[t]`` is the lr in force at step t (``momentum`` when cycled)."""

    name: str
    lr: np.ndarray
    momentum: np.ndarray | None = None
    reductions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    params: dict = field(default_factory=dict)


def schedule_curve(name: str, n_steps: int, base_lr: float, params: Mapping[str, Any]) -> Curve:
    """The registry's pure curve; a bad combination of parameters becomes a :class:`ScheduleError`."""
    info = registry.get_schedule(name)
    try:
        out = info.curve(int(n_steps), float(base_lr), **dict(params))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ScheduleError(f"{name}: {exc}") from None
    lr = np.asarray(out["lr"], dtype=np.float64)
    if not np.all(np.isfinite(lr)):
        raise ScheduleError(f"{name}: these parameters give a learning rate that is not a finite number")
    mom = out.get("momentum")
    red = out.get("reductions")
    return Curve(name, lr, None if mom is None else np.asarray(mom, dtype=np.float64),
                 np.zeros(0, dtype=np.int64) if red is None else np.asarray(red, dtype=np.int64), dict(params))


def schedule_problem(name: str, values: Mapping[str, Any], n_steps: int) -> str:
    """Why ``name`` with these widget values cannot set the lr of an ``n_steps``-step run, or ``""``:
    what a page shows beside the schedule's controls (a formula refused, a NaN at some step...).
    The base lr does not change whether a curve is refused, so it is not asked for."""
    try:
        schedule_curve(name, n_steps, 1.0, schedule_params(name, values))
    except ScheduleError as exc:
        return str(exc)
    return ""


def schedule_latex(name: str, params: Mapping[str, Any]) -> str:
    """The schedule's formula in LaTeX, written out for these parameters where its class can
    (FormulaLR's typed formula: ``latex_for``), else the registry's."""
    info = registry.get_schedule(name)
    written = getattr(info.cls, "latex_for", None)
    if written is not None:
        try:
            return written(**dict(params))
        except (ValueError, TypeError):
            pass
    return info.latex


def momentum_key(optimizer: str) -> str | None:
    """The optimizer's hyperparameter a cycling schedule moves (its ``cycled_momentum``): ``momentum``, ``beta1`` or none."""
    h = registry.get_optimizer(optimizer).with_role("cycled_momentum")
    return None if h is None else h.name


def effective_params(name: str, params: Mapping[str, Any], optimizer: str) -> tuple[dict[str, Any], str]:
    """``params`` as they can apply to ``optimizer``, and a note when something had to change.

    OneCycleLR and CyclicLR cycle momentum (or Adam's β₁); an optimizer with neither
    cannot be cycled (torch raises), so ``cycle_momentum`` is turned off for it.
    """
    params = dict(params)
    info = registry.get_schedule(name)
    if info.cycles_momentum and params.get("cycle_momentum") and momentum_key(optimizer) is None:
        params["cycle_momentum"] = False
        return params, (f"{optimizer} has neither momentum nor β₁, so {name} cannot cycle it: "
                        "“cycle momentum” is off for it.")
    return params, ""


# ---------------------------------------------------------------------------------------
# Copy as PyTorch
# ---------------------------------------------------------------------------------------

def pytorch_code(name: str, params: Mapping[str, Any], base_lr: float, n_steps: int, optimizer: str = "SGD",
                 hypers: Mapping[str, Any] | None = None) -> str:
    """A runnable script that builds ``optimizer`` and the schedule and records ``lrs`` (and ``momenta``).

    Run with torch it gives exactly the curve :func:`schedule_curve` draws. torch.optim's twin of
    ``optimizer`` is built with ``hypers``; an optimizer torch.optim lacks gets a stand-in (the
    schedule's own builder, :attr:`optim_core.registry.ScheduleInfo.pytorch`, says which).
    """
    info = registry.get_schedule(name)
    params, _ = effective_params(name, params, optimizer)
    return info.pytorch(base_lr=float(base_lr), n_steps=int(n_steps), optimizer=optimizer, hypers=hypers or {},
                        **params)


# ---------------------------------------------------------------------------------------
# Warm-up + decay
# ---------------------------------------------------------------------------------------

WARMUPS = ("LinearLR", "ConstantLR")
DECAYS = ("CosineAnnealingLR", "ExponentialLR", "StepLR", "MultiStepLR", "PolynomialLR", "LinearLR",
          "CosineAnnealingWarmRestarts")
COMBINATORS = ("SequentialLR", "ChainedScheduler")
# Registry defaults describe each class alone; as a decay, LinearLR goes down, not up.
_DECAY_DEFAULTS = {"LinearLR": {"start_factor": 1.0, "end_factor": 0.0}}


def decay_length_param(name: str) -> str | None:
    """The decay's length parameter (its ``run_length`` or ``phase_length``), or None.

    It is not a control: it is the steps left after the warm-up (SequentialLR) or the
    whole run (ChainedScheduler).
    """
    h = registry.get_schedule(name).length_param()
    return None if h is None else h.name


def _warmup_length(name: str) -> str:
    """The warm-up's length parameter (its ``phase_length``)."""
    return registry.get_schedule(name).with_role("phase_length").name


def composition_parts_default(role: str, name: str) -> dict[str, Any]:
    """Default torch keywords of a warm-up or decay part (the registry's, adapted to the role)."""
    info = registry.get_schedule(name)
    d = info.defaults()
    if role == "decay":
        d.update(_DECAY_DEFAULTS.get(name, {}))
    return d


def decay_controls(name: str) -> list[Hyper]:
    """The decay's parameters shown as controls (its length is derived, not chosen)."""
    skip = decay_length_param(name)
    return [h for h in registry.get_schedule(name).params if h.name != skip]


@dataclass(frozen=True)
class Composition:
    """A warm-up then a decay, composed by torch's SequentialLR or ChainedScheduler."""

    combinator: str
    warmup: str
    warmup_params: tuple
    decay: str
    decay_params: tuple
    n_steps: int

    @staticmethod
    def make(combinator: str, warmup: str, warmup_params: Mapping[str, Any], decay: str,
             decay_params: Mapping[str, Any], n_steps: int) -> "Composition":
        if combinator not in COMBINATORS:
            raise ScheduleError(f"combinator must be one of {', '.join(COMBINATORS)}, got {combinator!r}")
        if warmup not in WARMUPS:
            raise ScheduleError(f"the warm-up must be one of {', '.join(WARMUPS)}, got {warmup!r}")
        if decay not in DECAYS:
            raise ScheduleError(f"the decay must be one of {', '.join(DECAYS)}, got {decay!r}")
        wp = {**composition_parts_default("warmup", warmup), **schedule_params(warmup, dict(warmup_params))}
        dp = {**composition_parts_default("decay", decay), **dict(decay_params)}
        dp = schedule_params(decay, dp)
        return Composition(combinator, warmup, tuple(sorted(wp.items())), decay, tuple(sorted(dp.items())),
                           int(n_steps))

    @property
    def warmup_steps(self) -> int:
        return int(dict(self.warmup_params)[_warmup_length(self.warmup)])

    @property
    def decay_length(self) -> int:
        """The steps the decay spans: after the warm-up (SequentialLR) or the whole run (ChainedScheduler)."""
        if self.combinator == "SequentialLR":
            return max(1, self.n_steps - self.warmup_steps)
        return max(1, self.n_steps)

    def parts(self) -> list[tuple[str, dict[str, Any]]]:
        """``[(warm-up, torch kwargs), (decay, torch kwargs)]`` as torch's classes take them."""
        wp = dict(self.warmup_params)
        dp = dict(self.decay_params)
        length = decay_length_param(self.decay)
        if length:
            dp[length] = self.decay_length
        if self.decay == "MultiStepLR":
            dp["milestones"] = list(dp["milestones"])
        return [(self.warmup, wp), (self.decay, dp)]

    @property
    def milestones(self) -> list[int]:
        return [self.warmup_steps] if self.combinator == "SequentialLR" else []

    def label(self) -> str:
        sign = " → " if self.combinator == "SequentialLR" else " × "
        return f"{self.warmup}{sign}{self.decay}"

    def curve(self, base_lr: float) -> Curve:
        parts = self.parts()
        try:
            if self.combinator == "SequentialLR":
                lr = sequential_lr(self.n_steps, float(base_lr), parts, self.milestones)["lr"]
            else:
                lr = chained_lr(self.n_steps, float(base_lr), parts)["lr"]
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise ScheduleError(f"{self.combinator}: {exc}") from None
        return Curve(self.label(), np.asarray(lr, dtype=np.float64))

    def part_curves(self, base_lr: float) -> list[Curve]:
        """Each part alone, as it would run by itself (the decay from its milestone for SequentialLR)."""
        out = []
        for k, (name, kw) in enumerate(self.parts()):
            start = self.warmup_steps if (k == 1 and self.combinator == "SequentialLR") else 0
            n = max(self.n_steps - start, 0)
            try:
                lr = sequential_lr(n, float(base_lr), [(name, kw)], [])["lr"]
            except (ValueError, TypeError, ArithmeticError) as exc:
                raise ScheduleError(f"{name}: {exc}") from None
            full = np.full(self.n_steps, np.nan)
            full[start:] = lr
            out.append(Curve(f"{name} alone", full))
        return out

    def latex(self) -> str:
        if self.combinator == "SequentialLR":
            return (r"\eta_t = \begin{cases} \text{" + self.warmup + r"}(t) & t < W \\ \text{" + self.decay
                    + r"}(t - W) & t \ge W \end{cases}, \qquad W = " + str(self.warmup_steps))
        return (r"\eta_t = \eta_0 \; f_{\text{" + self.warmup + r"}}(t) \; f_{\text{" + self.decay + r"}}(t)"
                r"\qquad \text{(both step at every step, in order)}")

    def warning(self) -> str:
        """Why this composition may not do what it seems to, or ``""``."""
        if self.combinator == "ChainedScheduler" and self.decay == "CosineAnnealingWarmRestarts":
            return ("CosineAnnealingWarmRestarts sets the lr from its own base at every step, so in a "
                    "ChainedScheduler it overwrites what the warm-up did: the warm-up vanishes. "
                    "Use SequentialLR to put a warm-up before restarts.")
        if self.combinator == "SequentialLR" and self.warmup_steps >= self.n_steps:
            return (f"The warm-up ({self.warmup_steps} steps) is as long as the run ({self.n_steps} steps): "
                    "the decay never starts.")
        return ""

    def pytorch(self, base_lr: float, optimizer: str = "SGD", hypers: Mapping[str, Any] | None = None) -> str:
        """The composition as a runnable torch script that builds ``optimizer`` (as :func:`pytorch_code`)."""
        return composition_snippet(self.combinator, self.parts(), self.milestones, base_lr=float(base_lr),
                                   n_steps=self.n_steps, optimizer=optimizer, hypers=hypers or {})


# ---------------------------------------------------------------------------------------
# A schedule driving a run on a loss surface
# ---------------------------------------------------------------------------------------


def run_hypers(optimizer: str, base_lr: float) -> dict[str, Any]:
    """The run's hyperparameters: registry defaults, the page's lr (Adafactor: its relative step off)."""
    names = {h.name for h in registry.get_optimizer(optimizer).hypers}
    hp: dict[str, Any] = {"lr": float(base_lr)}
    if "relative_step" in names:
        hp["relative_step"] = False  # a manual lr (and so a schedule) needs it off
    return hp


@dataclass
class RunResult:
    """A scheduled run (and, optionally, the same optimizer at a constant lr) on one surface."""

    traj: Any  # optim_core.engine.Trajectories
    labels: list[str]
    lrs: np.ndarray  # (K, T): the lr each run used at each step
    momentum: np.ndarray | None  # (T,) the scheduled run's cycled momentum / β₁, if any
    reductions: np.ndarray  # steps at which ReduceLROnPlateau cut the scheduled run's lr
    notes: list[str] = field(default_factory=list)


def run_labels(optimizer: str, schedule: str, base_lr: float, compare_constant: bool = True) -> list[str]:
    """The names of :func:`run_schedule`'s runs: the scheduled one, then the one at a constant lr."""
    return [f"{optimizer} + {schedule}"] + ([f"{optimizer}, constant η = {fmt(base_lr)}"] if compare_constant else [])


def run_schedule(surface_name: str, optimizer: str, base_lr: float, schedule: str, params: Mapping[str, Any],
                 steps: int, compare_constant: bool = True) -> RunResult:
    """Run ``optimizer`` on a registered surface with ``schedule`` setting its lr (from the surface's first start).

    ReduceLROnPlateau reacts to the run's own loss. With ``compare_constant`` a second run
    keeps the base lr throughout, from the same start.
    """
    from optim_core.engine import LIMITS, RunSpec, run_trajectories

    try:
        surface = registry.get_surface(surface_name).make()
    except KeyError as exc:
        raise ScheduleError(str(exc).strip("'\"")) from None
    if not 1 <= int(steps) <= LIMITS.max_steps:
        raise ScheduleError(f"a run takes between 1 and {LIMITS.max_steps} steps, got {steps}")
    params, note = effective_params(schedule, params, optimizer)
    hp = run_hypers(optimizer, base_lr)
    labels = run_labels(optimizer, schedule, base_lr, compare_constant)
    specs = [RunSpec(optimizer, hp, schedule=(schedule, params), label=labels[0])]
    if compare_constant:
        specs.append(RunSpec(optimizer, hp, label=labels[1]))
    start = np.asarray(S.default_start(surface), dtype=np.float64)[None, :]
    try:
        traj = run_trajectories(surface, specs, start, int(steps), record="full")
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ScheduleError(f"The run was refused: {exc}") from None
    lrs = np.asarray(traj.lrs[:, 0], dtype=np.float64)
    mom = None
    info = registry.get_schedule(schedule)
    key = momentum_key(optimizer)
    if info.cycles_momentum and params.get("cycle_momentum") and key is not None:
        mom = schedule_curve(schedule, int(steps), base_lr, params).momentum
    red = np.flatnonzero(np.diff(lrs[0]) < 0) + 1 if info.needs_metric else np.zeros(0, dtype=np.int64)
    ds0 = int(traj.diverged_step[0, 0])
    if ds0 >= 0:  # after a divergence the loss is NaN, never "better": those cuts mean nothing
        red = red[red < ds0]
    notes = [note] if note else []
    for k, spec in enumerate(specs):
        ds = int(traj.diverged_step[k, 0])
        if ds >= 0:
            notes.append(f"{spec.label} diverged at step {ds}: {traj.diverged_reason[k, 0]}. "
                         "Lower the base lr (the LR range test suggests one).")
    return RunResult(traj, [s.label for s in specs], lrs, mom, red.astype(np.int64), notes)


def playground_scene(surface_name: str, optimizer: str, base_lr: float, schedule: str, params: Mapping[str, Any],
                     steps: int) -> S.Scene:
    """This run as a Playground scene (to open with :func:`app.playground.handoff.queue_scene`)."""
    info = registry.get_schedule(schedule)
    if info.needs_metric:
        raise ScheduleError(f"The Playground's runs cannot use {schedule}: it needs a metric to react to.")
    params, _ = effective_params(schedule, params, optimizer)
    hp = {k: v for k, v in run_hypers(optimizer, base_lr).items()}
    run = S.RunConfig.make(optimizer, hp, schedule=schedule, schedule_params=params)
    return S.Scene.make(surface_name, (run,), steps=int(steps))


# ---------------------------------------------------------------------------------------
# The LR range test
# ---------------------------------------------------------------------------------------


# The range test's defaults are lr_range_test's own: the lr grows from RT_START_LR to RT_END_LR over RT_STEPS steps.
_RT_DEFAULTS = inspect.signature(lr_range_test).parameters
RT_START_LR: float = _RT_DEFAULTS["start_lr"].default
RT_END_LR: float = _RT_DEFAULTS["end_lr"].default
RT_STEPS: int = _RT_DEFAULTS["num_steps"].default
# The MLP test's data: Live Training's default dataset size, full batch.
MLP_TEST_POINTS = DEFAULT_POINTS


def _optimizer_for_test(optimizer: str, params: list, start_lr: float):
    info = registry.get_optimizer(optimizer)
    hp = run_hypers(optimizer, start_lr)
    try:
        return info.cls(params, **hp)
    except (ValueError, TypeError) as exc:
        raise ScheduleError(f"{optimizer} could not be built: {exc}") from None


def _range_test(opt, closure, start_lr, end_lr, num_steps):
    try:
        return lr_range_test(opt, closure, start_lr=float(start_lr), end_lr=float(end_lr), num_steps=int(num_steps))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ScheduleError(f"The LR range test was refused: {exc}") from None


def range_test_start(surface) -> tuple[float, float]:
    return S.default_start(surface)


def surface_range_test(surface_name: str, optimizer: str, start_lr: float = RT_START_LR, end_lr: float = RT_END_LR,
                       num_steps: int = RT_STEPS):
    """The LR range test with ``optimizer`` on a registered surface, from its first start point.

    The loss is ``f − f*`` (the surface's minimum value), so it is positive as the test's
    divergence rule assumes; a surface with no bottom is refused.
    """
    import optim_core

    try:
        surface = registry.get_surface(surface_name).make()
    except KeyError as exc:
        raise ScheduleError(str(exc).strip("'\"")) from None
    fmin = float(getattr(surface, "global_min_value", 0.0))
    if not math.isfinite(fmin):
        raise ScheduleError(f"{surface_name} has no bottom (its loss goes to −∞), so there is no loss to watch "
                            "blow up: choose a surface with a minimum.")
    p = optim_core.Parameter(np.asarray(range_test_start(surface), dtype=np.float64))
    opt = _optimizer_for_test(optimizer, [p], start_lr)

    def closure():
        value, grad = surface.value_and_grad(p.data)
        p.grad = np.array(grad, dtype=np.float64)
        return float(value) - fmin

    return _range_test(opt, closure, start_lr, end_lr, num_steps)


def mlp_range_test(optimizer: str, dataset: str = DEFAULT_DATASET, start_lr: float = RT_START_LR,
                   end_lr: float = RT_END_LR, num_steps: int = RT_STEPS, seed: int = 0):
    """The LR range test with ``optimizer`` on Live Training's default MLP (full-batch cross-entropy on
    :data:`MLP_TEST_POINTS` points).

    Needs torch (check :func:`app.training.backend.torch_available` first). The model is built by
    :func:`app.training.backend.build_mlp` in float64; its weights are optim_core Parameters and
    the closure copies them into the model, backpropagates and copies the gradients back.
    """
    from app.training import backend as training, datasets

    torch = training.import_torch()
    spec = training.ModelSpec()
    try:
        X, y = datasets.make_dataset(dataset, n=MLP_TEST_POINTS, seed=seed)
    except KeyError as exc:
        raise ScheduleError(str(exc).strip("'\"")) from None
    model = training.build_mlp(spec, seed=seed, dtype="float64")
    tensors = list(model.parameters())
    import optim_core

    params = [optim_core.Parameter(t.detach().numpy().copy()) for t in tensors]
    Xt = torch.from_numpy(np.asarray(X, dtype=np.float64))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    opt = _optimizer_for_test(optimizer, params, start_lr)

    def closure():
        with torch.no_grad():
            for t, p in zip(tensors, params):
                t.copy_(torch.from_numpy(p.data))
        model.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(Xt), yt)
        loss.backward()
        for t, p in zip(tensors, params):
            p.grad = t.grad.detach().numpy().copy()
        return float(loss.item())

    return _range_test(opt, closure, start_lr, end_lr, num_steps)
