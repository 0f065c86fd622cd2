"""The Playground's gallery: one-click lessons, each a scene with a note on what to watch.

The first lesson's scene is the default scene: the page opens on it, and every widget's
default is its value there (:mod:`.state`).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.playground.scene import RunConfig, Scene

__all__ = ["Preset", "GALLERY", "PRESETS", "DEFAULT_SCENE", "lesson"]


@dataclass(frozen=True)
class Preset:
    """A gallery lesson: a scene and the note that says what to watch in it."""

    key: str
    title: str
    icon: str  # unused: no emoji (an empty box without a colour-emoji font); kept so the fields stay as they were
    note: str
    scene: Scene  # canonical: exactly what the widgets hold once it is loaded (tests/test_scene.py)


_run = RunConfig.of


GALLERY: tuple[Preset, ...] = (
    Preset(
        "race", "Six optimizers on Rosenbrock", "",
        "Rosenbrock's banana valley is easy to fall into and slow to follow: the walls are steep (curvature "
        "about 2b = 200) while the floor bends gently to the minimum at (1, 1). Plain SGD must keep its step "
        "below the walls' limit and crawls; momentum builds speed along the floor; Adam, RMSprop and Adagrad "
        "rescale each coordinate and march along it; Lion takes fixed-size sign steps. Press ▶ and watch who "
        "gets closest to the star: in 500 steps none of them reaches it (the scoreboard says never), and "
        "momentum ends nearest.",
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
        "ravine", "SGD zig-zags in a ravine; momentum fixes it", "",
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
        "diverge", "Too large a learning rate diverges", "",
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
        "rosenbrock", "Adam vs SGD on Rosenbrock", "",
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
        "saddle", "Escaping a saddle point", "",
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
        "rastrigin", "Rastrigin's local minima trap", "",
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
        "lion", "Lion's sign steps", "",
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
        "adamw", "Adam vs AdamW under weight decay", "",
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
        "noise", "SGD's noise ball shrinks with batch size", "",
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
        "nesterov", "Nesterov vs heavy ball", "",
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


def lesson(key: str | None, scene: Scene) -> Preset | None:
    """The gallery lesson ``key`` if ``scene`` is still its scene (None once the user changed anything)."""
    preset = PRESETS.get(key) if isinstance(key, str) else None
    return preset if preset is not None and preset.scene == scene else None
