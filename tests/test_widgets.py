"""The widget-and-state layer (app.ui.widgets) in small scripts through AppTest, and the Playground's
hand-off (app.playground.handoff) on a plain dict. The pages' own tests exercise them in place."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app.playground import handoff
from app.playground import presets as P
from app.playground import scene as S
from app.playground import state as U
from app.ui.controls import fmt, hyper_options
from optim_core.registry import Hyper


def _bound_script():
    import streamlit as st

    from app.ui.widgets import hyper_widget
    from optim_core.registry import Hyper

    kw = st.session_state.get("kw", {})
    out = {
        "b": hyper_widget(Hyper("nesterov", True, kind="bool", help="look ahead"), "b", True, **kw),
        "c": hyper_widget(Hyper("ms", (3, 4), kind="choice", choices=((1, 2), (3, 4))), "c", (3, 4), **kw),
        "i": hyper_widget(Hyper("k", 5, kind="int", low=1, high=20, label="k steps"), "i", 5, **kw),
        "n": hyper_widget(Hyper("T", 100, kind="int", low=1, high=5000), "n", 100, **kw),
        "f": hyper_widget(Hyper("lr", 0.1, low=1e-5, high=10.0, log=True), "f", 0.0123, **kw),
        "a": hyper_widget(Hyper("lr0", None, low=1e-4, high=1.0, log=True), "a", None, **kw),
    }
    st.session_state["out"] = out


def run_bound(**state) -> AppTest:
    at = AppTest.from_function(_bound_script, default_timeout=30)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def test_bound_widgets_take_their_kind_label_help_default_and_url_key():
    at = run_bound()
    assert at.toggle(key="b").value is True and at.toggle(key="b").help == "look ahead"
    assert at.selectbox(key="c").options == ["(1, 2)", "(3, 4)"] and at.selectbox(key="c").value == (3, 4)
    assert at.slider(key="i").label == "k steps" and at.slider(key="i").value == 5
    assert at.slider(key="n").max == 5000  # no number_above: a slider whatever the range
    f = at.select_slider(key="f")
    lr = Hyper("lr", 0.1, low=1e-5, high=10.0, log=True)
    assert f.value == 0.015 and f.options == [fmt(o) for o in hyper_options(lr)]  # 0.0123, snapped by ratio
    assert at.select_slider(key="a").value is None and at.select_slider(key="a").options[0] == "auto"
    bound = {el.proto.query_param_key for kind in ("toggle", "selectbox", "slider", "select_slider")
             for el in at.get(kind)}
    assert bound == set("bcinfa")  # every widget is bound to the URL under its key


def test_labels_and_number_inputs_for_the_schedules_page():
    at = run_bound(kw={"labels": True, "number_above": 500})
    c = at.selectbox(key="c")
    assert c.options == ["1, 2", "3, 4"] and c.value == "3, 4"  # the value is the label
    assert at.number_input(key="n").value == 100 and at.number_input(key="n").max == 5000
    assert at.session_state["out"]["n"] == 100 and at.session_state["out"]["c"] == "3, 4"


def test_stored_values_are_fitted_before_the_widgets_are_drawn():
    at = run_bound(i=99, f=0.0123, c=(1, 2), n="garbage")
    assert at.slider(key="i").value == 20  # clamped into the slider's range
    assert at.slider(key="n").value == 100  # garbage dropped: the default
    assert at.select_slider(key="f").value == 0.015
    assert at.selectbox(key="c").value == (1, 2)
    at = run_bound(c=(5, 6), kw={"labels": True})
    assert at.selectbox(key="c").value == "3, 4"  # an unknown choice is dropped: the default
    at = run_bound(c=(1, 2), kw={"labels": True})
    assert at.selectbox(key="c").value == "1, 2"  # a choice stored as a value becomes its label


def _remembered_script():
    import streamlit as st

    from app.ui.widgets import Remembered, hyper_widget
    from optim_core.registry import Hyper

    kept = Remembered("_saved")
    kept.restore()
    if st.session_state.get("page", "here") == "here":
        beta1 = Hyper("beta1", None, low=0.0, high=0.999)
        st.session_state["out"] = {
            "beta1": hyper_widget(beta1, "beta1", None, remember=kept, set_toggle=True),
            "k": hyper_widget(Hyper("k", 5, kind="int", low=1, high=20), "k", 5, remember=kept),
        }
        kept.save()


def test_remembered_widgets_are_seeded_unbound_and_survive_another_page():
    at = AppTest.from_function(_remembered_script, default_timeout=30)
    at.run()
    assert at.toggle(key="beta1_on").label == "set beta1" and at.toggle(key="beta1_on").value is False
    assert at.session_state["out"] == {"beta1": None, "k": 5}  # off: None
    assert not at.toggle(key="beta1_on").proto.query_param_key  # not in the URL
    at.toggle(key="beta1_on").set_value(True).run()
    assert at.select_slider(key="beta1").value == 0.9  # a slider appears at a middle value
    at.slider(key="k").set_value(7).run()
    at.session_state["page"] = "elsewhere"
    at.run()  # the widgets are not drawn: Streamlit forgets them
    at.session_state["page"] = "here"
    at.run()
    assert at.session_state["out"] == {"beta1": 0.9, "k": 7}


# -- the Playground's hand-off -----------------------------------------------------------------
def test_a_queued_scene_opens_as_the_users_own_race():
    run = S.RunConfig.make("RMSprop", {"lr": 0.05}, schedule="OneCycleLR", schedule_params={})
    scene = S.Scene.make("Himmelblau", (run,), steps=300)
    state: dict = {"pg_x0": 9.0}
    handoff.queue_scene(state, scene)
    assert state["pg_x0"] == 9.0  # nothing applied before the Playground runs
    handoff.apply_queued(state)
    assert state[handoff.LESSON] is None and state["pg_r0_sched"] == "OneCycleLR"
    assert U.scene_from_state(state) == U.canonical(scene)
    handoff.apply_queued(state)  # applied once
    assert U.scene_from_state(state) == U.canonical(scene)


def test_queued_values_merge_and_a_lesson_is_named():
    state: dict = {}
    handoff.queue_values(state, {"pg_x0": 1.0})
    handoff.queue_values(state, {"pg_y0": 2.0})
    preset = P.GALLERY[1]
    handoff.queue_scene(state, preset.scene, lesson=preset.key)
    handoff.apply_queued(state)
    assert state[handoff.LESSON] == preset.key
    assert U.scene_from_state(state) == U.canonical(preset.scene)


# -- the pages are Streamlit calls over their feature packages -------------------------------------
def test_no_page_computes_or_draws_figures_itself():
    import ast
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    views = os.path.join(root, "app", "views")
    for name in sorted(os.listdir(views)):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(views, name), encoding="utf-8").read())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m.startswith(("numpy", "math", "plotly", "optim_core.engine", "optim_core.analysis"))
                       for m in modules), (name, modules)
