"""Guided lessons and lesson links on the Playground, through Streamlit's AppTest.

Every lesson is opened from the sidebar and walked to its end with Next, and back with Back: each
scene's URL, its controls (only those the step names are shown, the rest kept in a container that is
never displayed), the prediction and its reveal. A lesson link shows, fixes and hides what it says.
"""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block

from app.playground import handoff
from app.playground import state as U
from app.playground.lessons import LESSONS
from app.playground.scene import shown_hypers
from app.ui.controls import fmt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "app", "main.py")
HIDDEN = "pg_hidden_controls"  # the key of the page's never-displayed container

# Which widgets a control name stands for (written out here, not read from the page's code).
SCENE_WIDGETS = {"steps": ["pg_steps"], "noise": ["pg_noise"], "batch": ["pg_batch"], "seed": ["pg_seed"],
                 "surface": ["pg_surface"], "start": ["pg_x0", "pg_y0"], "runs": ["pg_nruns"], "view": ["pg_view"]}
RUN_WIDGETS = {"optimizer": ["opt"], "schedule": ["sched"], "clip": ["clip"], "lookahead": ["la"], "batch": ["batch"],
               "color": ["color"]}


def fresh(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    clean(at)
    return at


def clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def widgets(at: AppTest) -> dict[str, tuple[object, bool]]:
    """Every keyed element on the main area and the sidebar: key -> (element, displayed)."""
    out: dict[str, tuple[object, bool]] = {}

    def walk(node, hidden: bool) -> None:
        if isinstance(node, Block):
            hidden = hidden or HIDDEN in str(node.proto)
            for child in node.children.values():
                walk(child, hidden)
        elif getattr(node, "key", None):
            out[node.key] = (node, not hidden)

    for root in at._tree.children.values():
        walk(root, False)
    return out


def shown_scene_widgets(at: AppTest) -> set[str]:
    """The scene's widgets a student sees (Playground widget keys that shape the scene, displayed)."""
    return {k for k, (_, shown) in widgets(at).items() if shown and U.is_scene_key(k) and k.startswith("pg_")
            and not k.endswith("_box")}


def expected_widgets(step) -> set[str]:
    """The widgets the step's control names stand for, for its scene's runs."""
    keys: set[str] = set()
    for name in step.visible:
        keys.update(SCENE_WIDGETS.get(name, []))
        for i, run in enumerate(step.scene.runs):
            keys.update(f"pg_r{i}_{w}" for w in RUN_WIDGETS.get(name, []))
            if name in {h.name for h in shown_hypers(run.optimizer)}:
                keys.add(f"pg_r{i}_{name}")
    return keys


def allowed(step, key: str) -> bool:
    """A displayed widget the step may show besides :func:`expected_widgets`: a shown schedule's parameters."""
    return "schedule" in step.visible and key.startswith("pg_r") and "_s_" in key


def url_differs(url: dict, scene) -> list[str]:
    """The URL's scene parameters that do not open ``scene``: missing, or holding another value than the
    scene's widget holds (a parameter spelling out a widget's default value is harmless: Streamlit
    writes one when an optimizer changes under a run's hyperparameter)."""
    want = handoff.link(scene)
    state = U.state_from_scene(scene)
    norm = lambda v: U._comparable(v)  # noqa: E731 ("1" and "1.0" are the same value)
    out = [k for k, v in want.items() if norm(url.get(k, "")) != norm(v)]
    for k, v in url.items():
        if k in want or not U.is_scene_key(k) or k.startswith(("pg_guide", "pg_gstep", "pg_show", "pg_fix")):
            continue
        held = state.get(k)
        if held is None or norm(v) != norm(fmt(held) if isinstance(held, float) else held):
            out.append(k)
    return out


def check_scene(at: AppTest, lesson, i: int) -> None:
    step = lesson.steps[i]
    clean(at)
    url = {k: at.query_params[k] for k in at.query_params}
    assert url.get("pg_guide") == [lesson.key] or url.get("pg_guide") == lesson.key
    assert not url_differs(url, step.scene), f"{lesson.key} scene {i + 1}: the URL is not the step's scene"
    assert str(url["pg_gstep"]).strip("[]'") == str(i + 1)
    shown = shown_scene_widgets(at)
    expected = expected_widgets(step)
    assert expected <= shown, f"{lesson.key} scene {i + 1}: not shown: {sorted(expected - shown)}"
    extra = {k for k in shown - expected if not allowed(step, k)}
    assert not extra, f"{lesson.key} scene {i + 1}: shown though the step does not name them: {sorted(extra)}"
    # What the page races is the lesson's scene, as its widgets show it.
    assert U.scene_from_state({k: at.session_state[k] for k in U.state_from_scene(step.scene)}) \
        == U.canonical(step.scene)
    # The gallery and the analyses are not part of a lesson.
    keys = widgets(at)
    assert not any(k.startswith("pg_preset_") for k in keys) and "pg_tab" not in keys


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.key for lesson in LESSONS])
def test_a_guided_lesson_plays_through(lesson):
    at = fresh()
    at.sidebar.button(key=f"pg_guide_{lesson.key}").click().run()
    n = len(lesson.steps)
    for i, step in enumerate(lesson.steps):
        check_scene(at, lesson, i)
        guess_key = f"_pg_guess_{lesson.key}_{i}"
        # Predict first: Reveal waits for a prediction.
        assert at.button(key="pg_guide_reveal").disabled
        wrong = (step.answer + 1) % len(step.choices) if i % 2 else step.answer
        at.radio(key=guess_key).set_value(wrong).run()
        assert not at.button(key="pg_guide_reveal").disabled
        at.button(key="pg_guide_reveal").click().run()
        clean(at)
        said = [m.value for m in (at.success if wrong == step.answer else at.warning)]
        assert any(step.choices[step.answer] in m and step.reveal[:40] in m for m in said), said
        assert at.radio(key=guess_key).disabled  # the prediction stays as it was made
        assert at.button(key="pg_guide_back").disabled == (i == 0)
        assert at.button(key="pg_guide_next").disabled == (i == n - 1)
        if i < n - 1:
            at.button(key="pg_guide_next").click().run()
    for i in range(n - 2, -1, -1):
        at.button(key="pg_guide_back").click().run()
        check_scene(at, lesson, i)
    at.button(key="pg_guide_leave").click().run()
    clean(at)
    assert "pg_guide" not in at.query_params
    assert any(k.startswith("pg_preset_") for k in widgets(at))


def test_next_and_back_answer_the_presenters_clicker():
    at = fresh({"pg_guide": "gd-lr", "pg_gstep": "2"})
    assert at.button(key="pg_guide_next").proto.shortcut.lower() == "pagedown"
    assert at.button(key="pg_guide_back").proto.shortcut.lower() == "pageup"


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.key for lesson in LESSONS])
def test_every_lesson_opens_from_a_hand_written_link(lesson):
    last = len(lesson.steps) - 1
    at = fresh({"pg_guide": lesson.key, "pg_gstep": str(last + 1)})
    check_scene(at, lesson, last)


def test_a_lesson_opens_its_race_on_the_start_until_revealed():
    """The map waits at step 0 for the prediction (payload ``hold``), then shows the whole race."""
    import json

    at = fresh({"pg_guide": "momentum", "pg_gstep": "1"})
    race = [json.loads(el.proto.json) for el in at.get("bidi_component")]
    (race,) = [p for p in race if p.get("kind") == "race"]
    assert race["hold"] is True and race["show"] == 0
    at.radio(key="_pg_guess_momentum_0").set_value(0).run()
    at.button(key="pg_guide_reveal").click().run()
    race = [json.loads(el.proto.json) for el in at.get("bidi_component")]
    (race,) = [p for p in race if p.get("kind") == "race"]
    assert "hold" not in race and race["show"] == race["steps"]


def test_changing_a_lessons_scene_offers_the_way_back():
    at = fresh({"pg_guide": "gd-lr", "pg_gstep": "1"})
    assert "pg_guide_reset" not in widgets(at)
    at.select_slider(key="pg_r0_lr").set_value(0.8).run()
    clean(at)
    assert "pg_guide_reset" in widgets(at)
    at.button(key="pg_guide_reset").click().run()
    check_scene(at, LESSONS[0], 0)


def test_a_lesson_link_shows_fixes_and_hides_what_it_says():
    at = fresh()
    at.sidebar.button(key="pg_preset_ravine").click().run()
    assert "_pg_ll_show" not in widgets(at)  # the builder computes nothing while it is closed
    at.session_state["pg_ll_box"] = True  # open it
    at.run()
    at.sidebar.multiselect(key="_pg_ll_show").set_value(["steps", "lr", "momentum"]).run()
    at.sidebar.multiselect(key="_pg_ll_fix").set_value(["steps"]).run()
    link = [c.value for c in at.sidebar.code]
    assert any("pg_show=steps%2Clr%2Cmomentum" in v and "pg_fix=steps" in v for v in link), link
    query = [v for v in link if "pg_show=" in v][0].split("?", 1)[1]

    from urllib.parse import parse_qsl

    student = fresh(dict(parse_qsl(query)))
    keys = widgets(student)
    shown = shown_scene_widgets(student)
    assert "pg_steps" in shown and keys["pg_steps"][0].disabled  # fixed: seen, not changeable
    lrs = {k for k in shown if k.endswith("_lr")}
    assert lrs and all(not keys[k][0].disabled for k in lrs)
    assert all(k.endswith(("_lr", "_momentum")) or k == "pg_steps" for k in shown), shown
    assert not keys["pg_surface"][1] and not keys["pg_x0"][1]  # hidden, yet holding the link's values
    assert not any(k.startswith("pg_preset_") for k in keys) and "pg_tab" not in keys
    assert "pg_step" not in keys  # the step inspector is not part of this link
    # The student's page races the teacher's scene.
    teacher = U.scene_from_state({k: at.session_state[k] for k in at.session_state if k.startswith("pg_")})
    pupil = U.scene_from_state({k: student.session_state[k] for k in student.session_state if k.startswith("pg_")})
    assert pupil == teacher
    # A changed lr stays a lesson link; "All controls" brings the whole page back.
    student.select_slider(key=sorted(lrs)[0]).set_value(0.01).run()
    clean(student)
    assert "pg_show" in student.query_params
    student.button(key="pg_untailor").click().run()
    clean(student)
    assert "pg_show" not in student.query_params
    assert not widgets(student)["pg_steps"][0].disabled and widgets(student)["pg_surface"][1]
