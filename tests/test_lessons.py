"""The guided lessons (app/playground/lessons.py): their shape, and every claim against the engine."""

from __future__ import annotations

import functools
import time
from dataclasses import replace

import numpy as np
import pytest

from app.playground import state as U
from app.playground import tailor
from app.playground.lessons import CLAIM_KINDS, LESSON_BY_KEY, LESSONS, Claim, Lesson, check
from app.playground.race import compute
from app.playground.scene import Scene
from optim_core.engine import LIMITS

STEPS = [(lesson, i, step) for lesson in LESSONS for i, step in enumerate(lesson.steps)]
STEP_IDS = [f"{lesson.key}-{i + 1}" for lesson, i, _ in STEPS]
CLAIMS = [(lesson.key, i, step, c) for lesson, i, step in STEPS for c in step.claims]
CLAIM_IDS = [f"{key}-{i + 1}-{c.kind}-r{c.run}" + (f"-vs{c.than}" if c.than is not None else "")
             for key, i, _, c in CLAIMS]

# Kinds that back an answer about who wins, diverges, survives or ends where.
OUTCOME_KINDS = {"diverges", "diverges_at_most", "stable", "converges", "stalls", "first", "faster", "closer",
                 "near", "tracks", "final_loss_below", "step_size", "sign_steps", "steps_at_most",
                 "relative_step"}


@functools.lru_cache(maxsize=None)
def _result(scene: Scene):
    return compute(scene)


def test_lessons_shape():
    assert len(LESSONS) >= 7
    keys = [lesson.key for lesson in LESSONS]
    assert len(set(keys)) == len(keys)
    assert LESSON_BY_KEY == {lesson.key: lesson for lesson in LESSONS}
    for lesson in LESSONS:
        assert isinstance(lesson, Lesson) and lesson.title and lesson.summary
        assert 3 <= len(lesson.steps) <= 6, lesson.key
        assert len({s.title for s in lesson.steps}) == len(lesson.steps), lesson.key


@pytest.mark.parametrize("lesson,i,step", STEPS, ids=STEP_IDS)
def test_step_question(lesson, i, step):
    assert step.title and step.text and step.question.endswith("?") and step.reveal
    assert 2 <= len(step.choices) <= 4 and len(set(step.choices)) == len(step.choices)
    assert 0 <= step.answer < len(step.choices)
    assert all(isinstance(v, str) and v for v in step.visible)
    # Every question here asks who wins, diverges, survives or where runs end: its answer must be
    # backed by at least one claim of that kind about the scene.
    assert any(c.kind in OUTCOME_KINDS for c in step.claims), "the answer is not backed by a claim"
    for c in step.claims:
        n = len(step.scene.runs)
        assert 0 <= c.run < n and (c.than is None or 0 <= c.than < n)


@pytest.mark.parametrize("lesson,i,step", STEPS, ids=STEP_IDS)
def test_scene_computes_quickly(lesson, i, step):
    scene = step.scene
    assert scene.steps <= 500 and len(scene.runs) <= LIMITS.max_runs
    t = time.perf_counter()
    res = compute(scene)
    assert res.ok, res.errors
    assert not res.refused
    assert time.perf_counter() - t < 2.0


@functools.lru_cache(maxsize=None)
def _shown(scene: Scene) -> Scene:
    """The scene as the Playground's widgets show it (the race a student sees)."""
    return U.canonical(scene)


@pytest.mark.parametrize("key,i,step,claim", CLAIMS, ids=CLAIM_IDS)
def test_claim_holds(key, i, step, claim):
    """Each claim holds for the race the Playground runs when the step opens (its widgets' values)."""
    msg = check(claim, _result(_shown(step.scene)))
    assert msg is None, f"{key} step {i + 1}: {claim.describe()}: {msg}"


@pytest.mark.parametrize("lesson,i,step", STEPS, ids=STEP_IDS)
def test_playground_shows_the_lessons_scene(lesson, i, step):
    """Opening the step sets every widget to the lesson's values: nothing is snapped onto a slider's
    options (an η of 0.19 shown as 0.2 would race another scene than the text describes)."""
    shown = _shown(step.scene)
    assert [r.hyper_dict() for r in shown.runs] == [r.hyper_dict() for r in step.scene.runs]
    assert (shown.steps, shown.surface, shown.surface_params) == (step.scene.steps, step.scene.surface,
                                                                  step.scene.surface_params)
    a, b = _result(step.scene).traj.positions, _result(shown).traj.positions
    assert a.shape == b.shape and a.dtype == b.dtype == np.float64
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("lesson,i,step", STEPS, ids=STEP_IDS)
def test_step_shows_known_controls(lesson, i, step):
    """A step names controls the Playground has (app/playground/tailor.py), each at most once."""
    known = tailor.choices(step.scene)
    assert step.visible and len(set(step.visible)) == len(step.visible)
    assert set(step.visible) <= set(known), set(step.visible) - set(known)


def test_claim_kinds_are_covered():
    used = {c.kind for _, _, _, c in CLAIMS}
    assert used <= set(CLAIM_KINDS)
    assert {"diverges", "converges", "first", "closer", "diverges_at_most", "final_loss_below"} <= used


def test_unknown_kind_refused():
    with pytest.raises(ValueError):
        Claim("wins")


# A hand-made race whose outcome is known: on the bowl (L = 1), η = 0.5 converges, η = 2.5 diverges.
HAND = Scene.make("Quadratic bowl", ())


def _hand():
    from app.playground.lessons import _run

    return compute(replace(HAND, runs=(_run("SGD", lr=0.5), _run("SGD", lr=2.5)), start=(1.5, 1.0), steps=30))


@pytest.mark.parametrize("claim", [
    Claim("diverges", 0), Claim("stable", 1), Claim("converges", 1), Claim("converges", 0, within=1),
    Claim("first", 1), Claim("faster", 1, than=0), Claim("closer", 1, than=0), Claim("stalls", 0),
    Claim("diverges_at_most", 1, step=1), Claim("diverges_at_most", 0, step=30),
    Claim("final_loss_below", 1, value=1.0), Claim("final_loss_below", 0, value=0.0),
    Claim("step_size", 0, value=0.5), Claim("sign_steps", 0, value=0.75), Claim("steps_at_most", 0, value=0.1),
    Claim("relative_step", 0, step=3, value=0.4), Claim("near", 0, than=1, value=1.0),
    Claim("tracks", 0, than=1, value=1.0), Claim("reverses_more", 0, than=1, axis=0),
    Claim("first", 5),
], ids=lambda c: c.describe())
def test_false_claims_fail(claim):
    msg = check(claim, _hand())
    assert isinstance(msg, str) and msg


def test_true_claims_on_hand_made_race():
    res = _hand()
    for claim in (Claim("converges", 0), Claim("diverges", 1), Claim("first", 0), Claim("closer", 0, than=1),
                  Claim("final_loss_below", 0, value=1e-6), Claim("step_size", 0, value=0.75),
                  Claim("relative_step", 0, step=3, value=0.5), Claim("reverses_more", 1, than=0, axis=0)):
        assert check(claim, res) is None, claim.describe()


def test_refused_scene_fails_every_claim():
    res = compute(replace(HAND, runs=()))
    assert not res.ok
    assert check(Claim("converges", 0), res)
