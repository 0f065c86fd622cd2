"""The gallery's words are true of the engine's numbers (issue 14)."""

from __future__ import annotations

import numpy as np

from app.playground import presets as P
from app.playground import race as R


def test_the_flagship_lesson_says_what_the_race_does():
    """Six optimizers on Rosenbrock: none reaches the minimum within the scene's steps (the
    scoreboard says never for each), so the lesson asks who gets closest, and names momentum,
    which ends nearest."""
    lesson = P.PRESETS["race"]
    assert lesson is P.GALLERY[0] and lesson.scene.steps == 500
    tr = R.compute(lesson.scene).traj
    metrics = tr.metrics()
    assert len(metrics) == 6 and all(m["steps_to_threshold"] < 0 and m["diverged_at"] < 0 for m in metrics)
    assert "first" not in lesson.note and "gets closest" in lesson.note
    assert "in 500 steps none of them reaches it" in lesson.note and "never" in lesson.note
    nearest = int(np.argmin([m["distance_to_min"] for m in metrics]))
    run = lesson.scene.runs[nearest]
    assert run.optimizer == "SGD" and run.hyper_dict().get("momentum") == 0.9
    assert "momentum ends nearest" in lesson.note


def test_no_lesson_carries_an_icon():
    assert all(p.icon == "" for p in P.GALLERY)
