"""Guided lessons: short sequences of Playground scenes, each with a "predict, then reveal" question.

A :class:`Lesson` is a titled sequence of 3-6 :class:`LessonStep` s. Every step holds a scene,
a few sentences to read before pressing play, a multiple-choice question, the index of the right
answer and the explanation shown after the race. Each step also lists :class:`Claim` s: statements
about the scene's numbers that its text and answer rely on (who diverges, who arrives first, whose
noise ball is smaller...). :func:`check` tests one claim against a computed race, so the tests can
prove every lesson tells the truth about the engine it runs on. Nothing here imports streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.playground.scene import CUSTOM, RunConfig, Scene

__all__ = ["Claim", "CLAIM_KINDS", "LessonStep", "Lesson", "LESSONS", "LESSON_BY_KEY", "check"]


# ---------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------

# kind -> what it states (run k is ``run``; "other" is ``than``).
CLAIM_KINDS: dict[str, str] = {
    "diverges": "run k leaves the surface's region (or its loss stops being finite)",
    "diverges_at_most": "run k diverges at or before step `step`",
    "stable": "run k never diverges",
    "converges": "run k reaches loss ≤ min + threshold (within `within` steps when given)",
    "stalls": "run k neither diverges nor reaches the threshold",
    "first": "run k reaches the threshold, strictly before every other run",
    "faster": "run k reaches the threshold, strictly before run `than` (or `than` never does)",
    "closer": "run k ends nearer the minimum (or `point`) than run `than`; with `tail`, on average "
              "over the last `tail` positions",
    "near": "runs k and `than` end within `value` of each other",
    "tracks": "runs k and `than` stay within `value` of each other at every step",
    "final_loss_below": "run k's final loss is finite and below `value`",
    "step_size": "the largest coordinate of run k's update at step `step` (0: the first) is `value` (±2%)",
    "sign_steps": "every coordinate of every update of run k has size `value` exactly (±1e-9)",
    "steps_at_most": "no coordinate of any update of run k is larger than `value`",
    "relative_step": "for the first `step` steps, ‖update‖ / ‖θ‖ of run k is `value` (±1e-6)",
    "reverses_more": "run k's update along axis `axis` changes direction more often than run `than`'s",
}


@dataclass(frozen=True)
class Claim:
    """A machine-checkable statement about a lesson step's race (see :data:`CLAIM_KINDS`)."""

    kind: str
    run: int = 0
    than: int | None = None
    within: int | None = None
    step: int | None = None
    value: float | None = None
    tail: int | None = None
    point: tuple[float, float] | None = None
    axis: int = 1

    def __post_init__(self):
        if self.kind not in CLAIM_KINDS:
            raise ValueError(f"unknown claim kind {self.kind!r}")

    def describe(self) -> str:
        parts = [self.kind, f"run {self.run}"]
        for name in ("than", "within", "step", "value", "tail", "point"):
            v = getattr(self, name)
            if v is not None:
                parts.append(f"{name} {v:g}" if isinstance(v, float) else f"{name} {v}")
        return " ".join(parts)


def _distances(traj, k: int, claim: Claim) -> float:
    if claim.tail:
        pos = traj.positions[k, 0, -claim.tail:]
        target = np.asarray(claim.point, dtype=float) if claim.point is not None else traj.minima
        if claim.point is not None:
            d = np.linalg.norm(pos - target, axis=-1)
        else:
            d = np.linalg.norm(pos[:, None, :] - target[None], axis=-1).min(axis=-1)
        return float(np.mean(d))
    if claim.point is not None:
        return float(np.linalg.norm(traj.final_positions[k, 0] - np.asarray(claim.point, dtype=float)))
    return float(traj.distance_to_minimum[k, 0])


def _updates(traj, k: int) -> np.ndarray:
    u = traj.updates[k, 0]
    return u[np.all(np.isfinite(u), axis=-1)]


def _reversals(traj, k: int, axis: int) -> int:
    u = _updates(traj, k)[:, axis]
    s = np.sign(u)
    return int(np.sum(s[1:] * s[:-1] < 0))


def check(claim: Claim, result: Any) -> str | None:
    """None when ``claim`` holds for the computed race ``result`` (:func:`~app.playground.race.compute`),
    else a sentence saying why it does not."""
    if not getattr(result, "ok", False):
        return f"the scene did not compute: {'; '.join(result.errors)}"
    tr = result.traj
    n = tr.final_losses.shape[0]
    k, o = claim.run, claim.than
    if not 0 <= k < n or (o is not None and not 0 <= o < n):
        return f"run index out of range (the race has {n} runs)"
    name = lambda i: result.labels[i] if i < len(result.labels) else f"run {i}"  # noqa: E731
    div = [int(tr.diverged_step[i, 0]) for i in range(n)]
    stt = [int(tr.steps_to_threshold[i, 0]) for i in range(n)]
    kind = claim.kind
    if kind == "diverges":
        return None if div[k] >= 0 else f"{name(k)} did not diverge"
    if kind == "diverges_at_most":
        if div[k] < 0:
            return f"{name(k)} did not diverge"
        return None if div[k] <= claim.step else f"{name(k)} diverged at step {div[k]}, after step {claim.step}"
    if kind == "stable":
        return None if div[k] < 0 else f"{name(k)} diverged at step {div[k]}"
    if kind == "converges":
        if stt[k] < 0:
            return f"{name(k)} never reached the threshold"
        if claim.within is not None and stt[k] > claim.within:
            return f"{name(k)} reached the threshold at step {stt[k]}, after {claim.within}"
        return None
    if kind == "stalls":
        if div[k] >= 0:
            return f"{name(k)} diverged at step {div[k]}"
        return None if stt[k] < 0 else f"{name(k)} reached the threshold at step {stt[k]}"
    if kind in ("first", "faster"):
        if stt[k] < 0:
            return f"{name(k)} never reached the threshold"
        others = [i for i in range(n) if i != k] if kind == "first" else [o]
        for i in others:
            if 0 <= stt[i] <= stt[k]:
                return f"{name(i)} reached the threshold at step {stt[i]}, {name(k)} at step {stt[k]}"
        return None
    if kind == "closer":
        a, b = _distances(tr, k, claim), _distances(tr, o, claim)
        return None if a < b else f"{name(k)} is at distance {a:.4g}, {name(o)} at {b:.4g}"
    if kind == "near":
        d = float(np.linalg.norm(tr.final_positions[k, 0] - tr.final_positions[o, 0]))
        return None if d <= claim.value else f"{name(k)} and {name(o)} end {d:.4g} apart (> {claim.value:g})"
    if kind == "tracks":
        d = np.linalg.norm(tr.positions[k, 0] - tr.positions[o, 0], axis=-1)
        worst = float(np.max(d)) if np.all(np.isfinite(d)) else math.inf
        return None if worst <= claim.value else f"{name(k)} and {name(o)} get {worst:.4g} apart (> {claim.value:g})"
    if kind == "final_loss_below":
        f = float(tr.final_losses[k, 0])
        return None if math.isfinite(f) and f < claim.value else f"{name(k)} ends at loss {f:.4g} (not below {claim.value:g})"
    if kind == "step_size":
        t = claim.step or 0
        s = float(np.max(np.abs(tr.updates[k, 0, t])))
        ok = math.isfinite(s) and abs(s - claim.value) <= 0.02 * abs(claim.value)
        return None if ok else f"{name(k)}'s step {t + 1} moves a coordinate by {s:.4g}, not {claim.value:g}"
    if kind == "sign_steps":
        u = np.abs(_updates(tr, k))
        bad = np.abs(u - claim.value) > 1e-9 * claim.value
        return None if len(u) and not bad.any() else f"{name(k)} has {int(bad.sum())} coordinate steps not of size {claim.value:g}"
    if kind == "steps_at_most":
        u = float(np.max(np.abs(_updates(tr, k))))
        return None if u <= claim.value * (1 + 1e-9) else f"{name(k)} moves a coordinate by {u:.4g} (> {claim.value:g})"
    if kind == "relative_step":
        t = claim.step or 1
        u = np.linalg.norm(tr.updates[k, 0, :t], axis=-1)
        p = np.linalg.norm(tr.positions[k, 0, :t], axis=-1)
        r = u / p
        ok = np.all(np.isfinite(r)) and np.all(np.abs(r - claim.value) <= 1e-6 * claim.value)
        return None if ok else f"{name(k)}'s ‖update‖/‖θ‖ over its first {t} steps: {np.round(r, 6).tolist()}"
    if kind == "reverses_more":
        a, b = _reversals(tr, k, claim.axis), _reversals(tr, o, claim.axis)
        return None if a > b else f"{name(k)} reverses {a} times along axis {claim.axis}, {name(o)} {b} times"
    raise ValueError(f"unknown claim kind {kind!r}")  # unreachable: Claim checks its kind


# ---------------------------------------------------------------------------------------
# Lessons
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LessonStep:
    """One scene of a lesson, with the question asked before it plays and the answer after."""

    title: str
    text: str
    scene: Scene
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    reveal: str
    claims: tuple[Claim, ...]
    visible: tuple[str, ...] = ()  # the controls this step shows ("steps", "lr", "momentum", ...)


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    summary: str
    steps: tuple[LessonStep, ...]


_run = RunConfig.of


_RAVINE_START = (-2.5, 0.8)
_QUARTIC = "(x^4 + y^4)/4 + (x^2 + y^2)/2"
# Adafactor's default (relative) step: 1% of the parameters' RMS at the first step.
_ADAFACTOR_FIRST = 0.01 * math.sqrt((_RAVINE_START[0] ** 2 + _RAVINE_START[1] ** 2) / 2)

S = LessonStep  # local shorthand

_GD = Lesson(
    "gd-lr", "Gradient descent and the learning rate",
    "On a quadratic, the steepest curvature L decides everything: steps below 2/L shrink the error, "
    "steps above it make every bounce larger than the last.",
    (
        S("Four learning rates in a round bowl",
          "The bowl f = (x² + y²)/2 curves the same way in every direction, with curvature L = 1. One gradient "
          "step multiplies the distance to the minimum by (1 − η·L). Four runs start together; only η differs, "
          "up to η = 2, the largest the slider offers.",
          Scene.make("Quadratic bowl", (_run("SGD", lr=0.5), _run("SGD", lr=1.0), _run("SGD", lr=1.5),
                                        _run("SGD", lr=2.0)), start=(1.5, 1.0), steps=30),
          "What does the run with η = 2 do?",
          ("It arrives first", "It diverges", "It jumps between two points forever", "It stops halfway"),
          2,
          "The factor |1 − η| is 0.5 for η = 0.5 and for η = 1.5 (the second overshoots and lands on the other "
          "side, but just as close), 0 for η = 1 (one step lands on the minimum) and exactly 1 for η = 2: each "
          "step lands on the mirror image of the last point, as far from the minimum as before. That is the "
          "limit, η = 2/L; the next scene goes past it.",
          (Claim("stable", 0), Claim("stable", 1), Claim("stable", 2), Claim("stable", 3),
           Claim("converges", 1, within=1), Claim("converges", 0), Claim("converges", 2), Claim("stalls", 3)),
          ("steps", "lr")),
        S("The limit in a ravine: 2/L",
          "Now the valley is ten times steeper across (L = 10) than along (μ = 1). The steep direction sets the "
          "limit: 2/L = 0.2. Three runs sit under it, on it and over it.",
          Scene.make("Ravine", (_run("SGD", lr=0.15), _run("SGD", lr=0.2), _run("SGD", lr=0.25)),
                     {"kappa": 10.0}, start=_RAVINE_START, steps=100),
          "Which run leaves the window?",
          ("η = 0.15", "η = 0.2", "η = 0.25", "None of them"),
          2,
          "Across the valley the factor is |1 − 10η|: 0.5 for η = 0.15, exactly 1 for η = 0.2 (it slides along "
          "the floor while bouncing from wall to wall with no loss of height, so it never arrives) and 1.5 for "
          "η = 0.25. A factor above 1 compounds: each bounce is half again as wide as the last, and the run "
          "leaves within a few steps.",
          (Claim("converges", 0), Claim("stalls", 1), Claim("stable", 1), Claim("diverges_at_most", 2, step=20)),
          ("steps", "lr")),
        S("Bigger is not faster",
          "Staying under the limit is not the whole story: the flat direction shrinks by (1 − η·μ) per step and "
          "the steep one by |1 − η·L|. The slower of the two sets the pace. Here the valley is six times "
          "steeper across (L = 6, μ = 1): the limit is 2/6 ≈ 0.33.",
          Scene.make("Ravine", (_run("SGD", lr=0.1), _run("SGD", lr=0.25), _run("SGD", lr=0.3)),
                     {"kappa": 6.0}, start=_RAVINE_START, steps=100),
          "Which run reaches the minimum first?",
          ("η = 0.1, the careful one", "η = 0.25", "η = 0.3, the largest"),
          1,
          "The slowest factors are 0.9 for η = 0.1 (crawling along the floor), 0.75 for η = 0.25 (the floor is "
          "the slow part: |1 − 1.5| = 0.5 across) and 0.8 for η = 0.3 (now the walls are: |1 − 1.8| = 0.8). The "
          "best constant step balances both, η = 2/(L + μ) = 2/7 ≈ 0.29, and even then the factor is "
          "(κ − 1)/(κ + 1): ill-conditioning costs speed.",
          (Claim("first", 1), Claim("faster", 2, than=0)),
          ("steps", "lr")),
    ),
)

_MOMENTUM = Lesson(
    "momentum", "Momentum and Nesterov",
    "Momentum adds a fraction μ of the last step to the next one: the zig-zag across a ravine cancels out, "
    "speed builds along its floor, and the stable range of η widens.",
    (
        S("Damping the zig-zag",
          "In a ravine with κ = 25 the walls force a small η, and plain gradient descent bounces from wall to wall "
          "while creeping along the floor. The second run uses the same η with momentum μ = 0.7.",
          Scene.make("Ravine", (_run("SGD", lr=0.07), _run("SGD", lr=0.07, momentum=0.7)),
                     {"kappa": 25.0}, start=_RAVINE_START, steps=120),
          "Which run reaches the minimum first?",
          ("Plain gradient descent", "Momentum", "They tie: momentum cannot beat the 2/L limit"),
          1,
          "Plain descent reverses its step across the valley at every step (1 − 0.07·25 = −0.75). With momentum, "
          "successive cross-valley steps point in opposite directions and largely cancel, while steps along the "
          "floor point the same way and add up. It arrives in well under half the steps.",
          (Claim("first", 1), Claim("reverses_more", 0, than=1, axis=1)),
          ("steps", "lr", "momentum")),
        S("More momentum, more speed?",
          "A third run pushes momentum to μ = 0.9, the usual default in deep learning.",
          Scene.make("Ravine", (_run("SGD", lr=0.07), _run("SGD", lr=0.07, momentum=0.7),
                                _run("SGD", lr=0.07, momentum=0.9)),
                     {"kappa": 25.0}, start=_RAVINE_START, steps=150),
          "Which run arrives first now?",
          ("μ = 0.9: more momentum is always faster", "μ = 0.7", "Plain gradient descent"),
          1,
          "Too much momentum under-damps the motion: the run overshoots the minimum and circles it, shrinking only "
          "by about √μ per step. Here μ = 0.9 is even slower than no momentum at all. For a quadratic, Polyak's "
          "tuning is μ = ((√κ − 1)/(√κ + 1))², about 0.44 for κ = 25, with its own best η.",
          (Claim("first", 1), Claim("faster", 0, than=2)),
          ("steps", "lr", "momentum")),
        S("Momentum widens the stable range",
          "With momentum μ the limit for a quadratic becomes η < 2(1 + μ)/L. Here L = 10 and η = 0.3, above the "
          "plain limit 0.2.",
          Scene.make("Ravine", (_run("SGD", lr=0.3, momentum=0.9), _run("SGD", lr=0.3)),
                     {"kappa": 10.0}, start=_RAVINE_START, steps=150),
          "Which run survives?",
          ("Both", "Only the one with momentum μ = 0.9", "Only plain gradient descent", "Neither"),
          1,
          "Plain descent at η = 0.3 multiplies the cross-valley error by |1 − 3| = 2 per step and is gone within "
          "ten steps. With μ = 0.9 the limit is 2·1.9/10 = 0.38, so 0.3 is inside it and the run converges.",
          (Claim("converges", 0), Claim("diverges_at_most", 1, step=10)),
          ("steps", "lr", "momentum")),
        S("Nesterov looks ahead",
          "Nesterov's momentum evaluates the gradient where the momentum is about to carry the point, so it starts "
          "braking before it hits the wall. Heavy ball and Nesterov race with η = 0.05, μ = 0.9; a third Nesterov "
          "run uses η = 0.07.",
          Scene.make("Ravine", (_run("SGD", lr=0.05, momentum=0.9), _run("SGD", lr=0.05, momentum=0.9, nesterov=True),
                                _run("SGD", lr=0.07, momentum=0.9, nesterov=True)),
                     {"kappa": 25.0}, start=_RAVINE_START, steps=150),
          "At η = 0.05, which reaches the minimum first?",
          ("Heavy ball", "Nesterov", "They are the same method"),
          1,
          "Nesterov damps the oscillation and arrives in about half the steps. The price is a narrower stable "
          "range: its effective step on a steep direction is larger, and at η = 0.07 (fine for heavy ball in the "
          "previous step) the Nesterov run diverges.",
          (Claim("first", 1), Claim("stable", 0), Claim("diverges", 2)),
          ("steps", "lr", "momentum", "nesterov")),
    ),
)

_ADAPTIVE_RUNS = (_run("SGD", lr=0.07), _run("Adagrad", lr=0.5), _run("RMSprop", lr=0.05), _run("Adam", lr=0.1))

_ADAPTIVE = Lesson(
    "adaptive", "Adaptive methods: Adagrad, RMSprop, Adam",
    "Adaptive methods divide each coordinate's step by a running size of its gradients, so steep and flat "
    "coordinates move at similar speeds; they help most when the steep directions line up with the axes.",
    (
        S("Per-coordinate scaling in an axis-aligned ravine",
          "Adagrad divides by the root of the sum of all past squared gradients, RMSprop by a moving average of "
          "them, and Adam also smooths the gradient itself (β₁ = 0.9) and corrects both averages for starting at "
          "zero. The ravine (κ = 25) runs along the x axis.",
          Scene.make("Ravine", _ADAPTIVE_RUNS, {"kappa": 25.0}, start=_RAVINE_START, steps=200),
          "Which run reaches the minimum first?",
          ("SGD", "Adagrad", "RMSprop", "Adam"),
          2,
          "RMSprop and Adagrad both flatten the ravine, arriving ahead of SGD; RMSprop is first. Adam, slowed by "
          "its momentum's overshoot at this η, comes last here: an adaptive method still needs its own "
          "learning rate.",
          (Claim("first", 2), Claim("faster", 1, than=0)),
          ("steps", "lr")),
        S("Turn the ravine by 45°",
          "The same runs, on the same valley turned by 45°. Its Hessian is no longer diagonal: each coordinate now "
          "mixes the steep and the flat direction.",
          Scene.make("Rotated ravine", _ADAPTIVE_RUNS, {"kappa": 25.0}, steps=200),
          "Who arrives first now?",
          ("SGD", "Adagrad", "RMSprop", "Adam"),
          0,
          "Plain gradient descent does not care about the axes: its numbers are those of the first scene. The "
          "adaptive methods scale x and y, but the steep direction is the diagonal, so the scaling no longer fits "
          "the valley and all three fall behind SGD.",
          (Claim("first", 0),),
          ("steps", "lr")),
        S("Bias correction: Adam's first step",
          "Adam's averages start at zero, so early on they are too small; dividing by (1 − βᵗ) undoes that. "
          "RMSprop has no such correction. Watch the very first step of Adam (η = 0.1) and of RMSprop (η = 0.05, "
          "α = 0.99).",
          Scene.make("Ravine", (_run("Adam", lr=0.1), _run("RMSprop", lr=0.05)), {"kappa": 25.0},
                     start=_RAVINE_START, steps=20),
          "How far does Adam's first step move each coordinate?",
          ("η·|g|, like SGD", "About η = 0.1, whatever the gradient", "About 10·η"),
          1,
          "After correction Adam's first step is η·g/|g|: exactly η per coordinate, in the gradient's sign. "
          "RMSprop's uncorrected average is only (1 − α)·g² after one step, so its first step is "
          "η/√(1 − α) = 10η = 0.5 per coordinate: without the correction, the first steps are too big.",
          (Claim("step_size", 0, step=0, value=0.1), Claim("step_size", 1, step=0, value=0.5)),
          ("steps", "lr")),
    ),
)

_ADAMW = Lesson(
    "adamw", "Adam vs AdamW: weight decay",
    "Weight decay pulls the weights towards zero. Adam adds the pull to the gradient (L2), where the adaptive "
    "scaling reshapes it; AdamW subtracts ηλθ from the weights directly (decoupled).",
    (
        S("Same λ, different regularizer",
          "On Booth (minimum at (1, 3)) three Adam-family runs share η = 0.1: Adam with an L2 penalty λ = 0.5, "
          "AdamW with decoupled decay λ = 0.5, and Adam with no decay.",
          Scene.make("Booth", (_run("Adam", lr=0.1, weight_decay=0.5), _run("AdamW", lr=0.1, weight_decay=0.5),
                               _run("Adam", lr=0.1)), start=(-8.0, 8.0), steps=300),
          "Which run ends closest to the origin (0, 0)?",
          ("Adam with L2", "AdamW", "Adam without decay"),
          1,
          "The run without decay reaches the minimum itself. Adam's L2 term joins the gradient, so it ends at the "
          "minimum of f + λ‖θ‖²/2, only slightly pulled in. AdamW's pull acts on the weights at the same rate for "
          "every coordinate, and ends nearer the origin, farther from Booth's minimum.",
          (Claim("closer", 1, than=0, point=(0.0, 0.0)), Claim("closer", 0, than=1), Claim("closer", 2, than=0),
           Claim("converges", 2)),
          ("steps", "lr", "weight_decay")),
        S("L2 in Adam is L2 in SGD",
          "Plain SGD with an L2 penalty λ = 0.5 joins the race. Gradient descent on f + λ‖θ‖²/2 ends where that "
          "sum is smallest.",
          Scene.make("Booth", (_run("Adam", lr=0.1, weight_decay=0.5), _run("SGD", lr=0.02, weight_decay=0.5),
                               _run("AdamW", lr=0.1, weight_decay=0.5)), start=(-8.0, 8.0), steps=300),
          "Where do Adam with L2 and SGD with L2 end?",
          ("At the same point", "Adam ends closer to the origin", "SGD ends closer to the origin"),
          0,
          "Both stop where the gradient of f + λ‖θ‖²/2 vanishes: the same point (they differ only on the way). "
          "AdamW has no such penalized loss: it stops where its normalized step balances the decay, elsewhere.",
          (Claim("near", 0, than=1, value=0.01), Claim("closer", 2, than=1, point=(0.0, 0.0))),
          ("steps", "lr", "weight_decay")),
        S("AdamW without decay",
          "AdamW with λ = 0 races Adam with the same η.",
          Scene.make("Booth", (_run("AdamW", lr=0.1, weight_decay=0.0), _run("Adam", lr=0.1)),
                     start=(-8.0, 8.0), steps=300),
          "How do the two paths compare?",
          ("They coincide", "AdamW is faster", "AdamW ends nearer the origin"),
          0,
          "Decoupled decay is the only difference between the two, so with λ = 0 the paths are identical. "
          "AdamW's default λ is 0.01, not 0: that alone can make a 'switch to AdamW' change results.",
          (Claim("tracks", 0, than=1, value=1e-12),),
          ("steps", "lr", "weight_decay")),
    ),
)

_SCHEDULES = Lesson(
    "schedules", "Schedules and warm-up",
    "A schedule changes η during the run: decay it to settle into the minimum once the noise or the "
    "fixed step size dominates; warm it up when the start is steeper than the end.",
    (
        S("Decay settles a noisy run",
          "The gradient is noisy (σ = 0.5). A constant η = 0.15 keeps jittering; StepLR divides η by 10 every 50 "
          "steps; CosineAnnealingLR lowers it smoothly to 0 over the 200 steps.",
          Scene.make("Ravine", (_run("SGD", lr=0.15),
                                _run("SGD", lr=0.15, schedule="StepLR", schedule_params={"step_size": 50, "gamma": 0.1}),
                                _run("SGD", lr=0.15, schedule="CosineAnnealingLR", schedule_params={"T_max": 200})),
                     {"kappa": 10.0}, start=_RAVINE_START, steps=200, noise=0.5, seed=1),
          "Over the last 30 steps, which run stays farthest from the minimum?",
          ("Constant η", "StepLR", "Cosine"),
          0,
          "The spread of a noisy run grows with η: each step adds η times the noise. Both schedules end with a "
          "tiny η, so their last steps barely move, and they sit much closer than the constant run.",
          (Claim("closer", 1, than=0, tail=30), Claim("closer", 2, than=0, tail=30)),
          ("steps", "lr", "schedule", "noise")),
        S("Lion needs a schedule",
          "Lion moves every coordinate by exactly η. Near the minimum it cannot take a smaller step, unless the "
          "schedule shrinks η.",
          Scene.make("Ravine", (_run("Lion", lr=0.1),
                                _run("Lion", lr=0.1, schedule="CosineAnnealingLR", schedule_params={"T_max": 150})),
                     {"kappa": 10.0}, start=_RAVINE_START, steps=150),
          "Which run gets within the threshold of the minimum (loss ≤ 0.001)?",
          ("Both", "Only the constant one", "Only the cosine one"),
          2,
          "With a constant η the run rattles around the minimum at amplitude η = 0.1, with loss about "
          "η²/2 = 0.005, and never gets closer. The cosine run's steps shrink with η and it settles.",
          (Claim("stalls", 0), Claim("converges", 1)),
          ("steps", "lr", "schedule")),
        S("Warm-up rescues a large η",
          "On f = (x⁴ + y⁴)/4 + (x² + y²)/2 the curvature is 3x² + 1: about 20 where the runs start, 1 at the "
          "bottom. η = 0.3 is safe at the bottom (2/1) but far over 2/20 at the start. The second run warms up "
          "linearly from 2% of η over 40 steps.",
          Scene.make(CUSTOM, (_run("SGD", lr=0.3),
                              _run("SGD", lr=0.3, schedule="LinearLR",
                                   schedule_params={"start_factor": 0.02, "total_iters": 40})),
                     formula=_QUARTIC, window=((-3.0, 3.0), (-3.0, 3.0)), start=(2.5, 2.0), steps=150),
          "What happens to the two runs?",
          ("Both diverge: η = 0.3 is too large", "Only the run without warm-up diverges",
           "Both converge: the bottom is flat"),
          1,
          "The constant run's first step overshoots far up the other wall, where the curvature is even larger, "
          "and it is gone within a few steps. The warm-up run takes small steps while the surface is steep, "
          "reaches the gentle bottom, and only then uses the full η.",
          (Claim("diverges_at_most", 0, step=10), Claim("stable", 1), Claim("final_loss_below", 1, value=1e-9)),
          ("steps", "lr", "schedule")),
    ),
)

_NOISE = Lesson(
    "noise", "Noise and batch size",
    "With stochastic gradients SGD does not stop at the minimum: it jitters in a noise ball whose size grows "
    "with η and with the gradient's variance, which mini-batches shrink.",
    (
        S("Batch 1 vs batch 32",
          "The bowl is the average of 64 sample losses. Each step draws a mini-batch (seeded, so the race is "
          "repeatable) and follows its gradient. Same η = 0.1; batches of 1 and of 32 samples.",
          Scene.make("Quadratic bowl", (_run("SGD", lr=0.1, batch=1), _run("SGD", lr=0.1, batch=32)),
                     start=(1.5, 1.0), steps=300),
          "Over the second half of the run, which stays closer to the minimum?",
          ("Batch 1", "Batch 32", "Neither: both reach the minimum exactly"),
          1,
          "Averaging B samples divides the gradient noise's variance by about B (a little more here, since 32 "
          "of 64 samples are drawn without replacement), so batch 32's ball is several times smaller.",
          (Claim("closer", 1, than=0, tail=150),),
          ("steps", "lr", "batch")),
        S("A smaller η shrinks the ball too",
          "Batch 1 again, at η = 0.1 and η = 0.02.",
          Scene.make("Quadratic bowl", (_run("SGD", lr=0.1, batch=1), _run("SGD", lr=0.02, batch=1)),
                     start=(1.5, 1.0), steps=300),
          "Which settles closer, over the second half?",
          ("η = 0.1", "η = 0.02"),
          1,
          "Each step adds η times the noise and the bowl pulls back by a factor (1 − η): the spread settles "
          "where the two balance, with a variance about proportional to η. That is why decaying η (or growing "
          "the batch) late in training helps.",
          (Claim("closer", 1, than=0, tail=150),),
          ("steps", "lr", "batch")),
        S("Momentum does not average noise away for free",
          "Now the gradient has Gaussian noise σ = 0.5. SGD, SGD with μ = 0.9 and Adam, all with η = 0.1.",
          Scene.make("Quadratic bowl", (_run("SGD", lr=0.1), _run("SGD", lr=0.1, momentum=0.9),
                                        _run("Adam", lr=0.1)),
                     start=(1.5, 1.0), steps=300, noise=0.5, seed=3),
          "Over the second half, does momentum stay closer to the minimum than plain SGD?",
          ("Yes: momentum averages the noise", "No: with the same η it jitters more"),
          1,
          "Momentum averages the noise but also multiplies the effective step by 1/(1 − μ) = 10, and the "
          "larger effective step wins: its ball is wider. To use momentum in noise, lower η accordingly.",
          (Claim("closer", 0, than=1, tail=150),),
          ("steps", "lr", "momentum", "noise")),
    ),
)

_MODERN = Lesson(
    "modern", "Modern optimizers and their trade-offs",
    "Recent optimizers change what is stored and how the step is sized: signs instead of magnitudes, steps "
    "relative to the weights, factored or quantized statistics, clipped curvature steps.",
    (
        S("Lion: only the sign",
          "Lion mixes the momentum with the new gradient and keeps only the sign of the result: every coordinate "
          "moves by exactly η. It stores one moment instead of Adam's two.",
          Scene.make("Ravine", (_run("Adam", lr=0.05), _run("Lion", lr=0.05)), {"kappa": 10.0},
                     start=_RAVINE_START, steps=200),
          "How large is each of Lion's steps along one coordinate?",
          ("It shrinks as the gradient shrinks", "Exactly η = 0.05, every step", "It depends on the curvature"),
          1,
          "A sign has no size: every step moves each coordinate by ±η, in steep and flat regions alike. It "
          "saves memory and crosses plateaus fast, but near the minimum it keeps stepping by η (hence schedules, "
          "and Lion's smaller recommended η, often 3-10x below Adam's).",
          (Claim("sign_steps", 1, value=0.05), Claim("steps_at_most", 0, value=0.05 * 1.01)),
          ("steps", "lr")),
        S("LAMB and LARS: trust ratios",
          "LAMB takes Adam's direction and rescales it per tensor so that ‖Δθ‖ = η·‖θ‖: each layer moves by the "
          "same fraction of its size, which keeps very large batches stable. LARS does the same to SGD with "
          "momentum, with a trust coefficient.",
          Scene.make("Ravine", (_run("LAMB", lr=0.02), _run("LARS", lr=1.0, trust_coefficient=0.02),
                                _run("SGD", lr=0.05, momentum=0.9)),
                     {"kappa": 10.0}, start=_RAVINE_START, steps=200),
          "For LAMB with η = 0.02, what is ‖Δθ‖/‖θ‖ at each step?",
          ("0.02", "It depends on the gradient's size", "0.02·√2"),
          0,
          "The trust ratio ‖θ‖/‖u‖ cancels the size of Adam's update u, so every step is 2% of the current "
          "weights' norm. The trade: steps shrink with θ, so near a minimum at the origin LAMB slows down, and "
          "here it has not arrived after 200 steps while LARS and SGD have.",
          (Claim("relative_step", 0, step=10, value=0.02), Claim("stalls", 0), Claim("converges", 1),
           Claim("converges", 2)),
          ("steps", "lr")),
        S("Sophia: a clipped Newton-like step",
          "Sophia divides the smoothed gradient by a running estimate of the curvature (the Hessian's diagonal) "
          "and clips each coordinate of the ratio to ±1 before multiplying by η. SGD runs at η = 0.25, above the "
          "2/L = 0.2 limit; Sophia at η = 0.1, the largest its slider offers.",
          Scene.make("Ravine", (_run("SGD", lr=0.25), _run("Sophia", lr=0.1, weight_decay=0.0)),
                     {"kappa": 10.0}, start=_RAVINE_START, steps=150),
          "What happens to the two runs?",
          ("Both diverge", "SGD diverges; Sophia never moves a coordinate more than η", "Both converge"),
          1,
          "Dividing by the curvature makes the steep and the flat direction alike, and the clip bounds every "
          "step by η however small the curvature estimate is. The trade: a Hessian estimate every few steps, "
          "one more state tensor, and with a large η the clipped steps rattle around the minimum.",
          (Claim("diverges", 0), Claim("stable", 1), Claim("steps_at_most", 1, value=0.1)),
          ("steps", "lr")),
        S("Saving memory: Adafactor and 8-bit Adam",
          "Adam stores two numbers per weight. Adafactor keeps, for a matrix, only the row and column sums of "
          "the squared gradients, and by default sizes its step relative to the weights (1% of their RMS at "
          "first). 8-bit Adam stores m and v as one-byte codes with a scale per block.",
          Scene.make("Ravine", (_run("Adam", lr=0.05), _run("Adam8bit", lr=0.05), _run("Adafactor")),
                     {"kappa": 10.0}, start=_RAVINE_START, steps=200),
          "How far does 8-bit Adam's path stray from Adam's?",
          ("Never more than about one step (η = 0.05)", "It drifts far away", "The paths are identical"),
          0,
          "The quantization rounds the stored moments, so the paths differ, but only by about one step. "
          "Adafactor's first step is 1% of the weights' RMS, about 0.019 here; its relative steps stay small "
          "and it is still on its way after 200 steps. On a 2D point its statistics cannot be factored: the "
          "saving appears only on matrices.",
          (Claim("tracks", 1, than=0, value=0.06), Claim("step_size", 2, step=0, value=_ADAFACTOR_FIRST),
           Claim("stalls", 2), Claim("converges", 0), Claim("converges", 1)),
          ("steps", "lr")),
    ),
)

LESSONS: tuple[Lesson, ...] = (_GD, _MOMENTUM, _ADAPTIVE, _ADAMW, _SCHEDULES, _NOISE, _MODERN)
LESSON_BY_KEY: dict[str, Lesson] = {lesson.key: lesson for lesson in LESSONS}

del S
