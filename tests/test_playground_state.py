"""The Playground's modules behind its page: the widget-state table, lessons, scoreboard, theory, cache keys."""

from __future__ import annotations

import ast
import math
import os

import pytest

from app.playground import handoff, tailor
from app.playground import panels as P
from app.playground import presets
from app.playground import race as R
from app.playground import scene as S
from app.playground import state as U
from app.playground import theory
from app.playground.cache import cache_key
from optim_core import registry
from optim_core.analysis import quadratic_stability

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _scenes() -> list[S.Scene]:
    run = S.RunConfig.make
    return [p.scene for p in presets.GALLERY] + [
        S.Scene.make("Quadratic bowl", [
            run("SGD", {"lr": 0.1}, schedule="CosineAnnealingLR", schedule_params={"T_max": 50}),
            run("Adam", {"lr": 0.1}, clip_norm=0.5),
            run("SGD", {"lr": 0.1, "momentum": 0.9}, lookahead=(7, 0.3), start=(1.0, -1.0)),
            run("RMSprop", {"lr": 0.02}, clip_value=0.1, batch=4, color="#ABCDEF"),
        ], steps=150, noise=0.2, batch_size=16, seed=9),
        S.Scene.make(S.CUSTOM, [run("Adam")], formula="x*y + x**2", window=((-1.0, 2.0), (-2.0, 2.0)), start=(0.5, 0.5)),
        S.Scene.make("Rotated ravine", [run("Lion", {"lr": 0.02})], {"kappa": 50.0, "angle": 30.0}, start=(1.0, 1.0)),
    ]


# ---- the table ------------------------------------------------------------------------------
def test_every_widget_default_is_the_default_scenes_value():
    state = dict(U.default_state())
    for key, value in state.items():
        assert U.default(key, {}) == value, key
    assert U.scene_from_state({}) == U.canonical(presets.DEFAULT_SCENE)


def test_defaults_follow_the_field_they_depend_on():
    adam = registry.get_optimizer("Adam")
    assert U.default("pg_r0_lr", {}) == 0.002  # the default scene's run 0
    assert U.default("pg_r0_lr", {"pg_r0_opt": "Adam"}) == adam.hyper("lr").default
    assert U.default("pg_r2_lr", {}) == 0.1 and U.default("pg_r2_eps", {}) == adam.hyper("eps").default
    # A schedule's length follows the number of steps raced.
    assert U.default("pg_r1_s_T_max", {"pg_r1_sched": "CosineAnnealingLR", "pg_steps": 150}) == 150
    # A surface parameter: the default scene's on its surface, the registry's elsewhere.
    assert U.default("pg_sp_kappa", {"pg_surface": "Ravine"}) == 10.0
    # The start widget shows the default scene's start whatever the surface (no widget can show
    # "the surface's suggested start"); a run's own start starts from the scene's.
    assert (U.default("pg_x0", {"pg_surface": "Beale"}), U.default("pg_y0", {})) == (-1.2, 1.0)
    assert U.default("pg_r3_x0", {"pg_x0": 0.5, "pg_y0": 2.0}) == 0.5
    assert U.default("pg_formula", {"pg_surface": S.CUSTOM}) == ""
    assert U.default("pg_xmax", {}) == S.DEFAULT_CUSTOM_WINDOW[0][1]


@pytest.mark.parametrize("scene", _scenes(), ids=lambda s: s.surface)
def test_a_link_without_the_values_at_their_default_opens_the_same_scene(scene):
    """A bound widget at its default is left out of the URL; opening the URL draws it at its default."""
    state = U.state_from_scene(scene)
    link = {k: v for k, v in state.items() if v != U.default(k, state)}
    opened = {k: link[k] if k in link else U.default(k, link) for k in state}
    assert U.scene_from_state(opened) == U.canonical(scene)


def test_written_state_reads_back_and_keys_are_the_tables():
    for scene in _scenes():
        state = U.state_from_scene(scene)
        assert U.scene_from_state(state) == U.canonical(scene)
        assert all(k.startswith(U.K) for k in state)
    state = U.state_from_scene(_scenes()[-3])
    assert state[U.run_key(0, "sched")] == "CosineAnnealingLR" and state[U.schedule_key(0, "T_max")] == 50
    assert state[U.run_key(2, "lak")] == 7 and state[U.run_key(3, "clip")] == "value"
    assert U.surface_param_key("kappa") == "pg_sp_kappa"


def test_default_state_is_built_once_and_read_only():
    assert U.default_state() is U.default_state()
    with pytest.raises(TypeError):
        U.default_state()["pg_steps"] = 10  # type: ignore[index]


def test_hyper_defaults_and_suggested_start():
    assert U.hyper_defaults(0, {"pg_r0_opt": "Adam"})["pg_r0_lr"] == registry.get_optimizer("Adam").hyper("lr").default
    assert U.hyper_defaults(0, {"pg_r0_opt": "Nope"}) == {}
    start = registry.get_surface("Beale").make().starts[0]
    assert U.suggested_start({"pg_surface": "Beale", "pg_x0": 9.0, "pg_y0": 9.0}) == {"pg_x0": start[0],
                                                                                      "pg_y0": start[1]}
    assert U.suggested_start({"pg_surface": "Beale", "pg_steps": "x"}) == {}
    assert U.start_state(0.123, -1.0) == {"pg_x0": 0.12, "pg_y0": -1.0}
    assert U.value("pg_nruns", {"pg_nruns": 99}) == S.MAX_RUNS and U.value("pg_nruns", {"pg_nruns": "x"}) == 6


# ---- the URL ------------------------------------------------------------------------------------
def test_a_lessons_url_holds_every_value_that_shapes_it_and_its_name():
    assert U.url_params({}) == {} and U.url_params(dict(U.default_state())) == {}
    ravine = {**U.state_from_scene(presets.PRESETS["ravine"].scene), U.LESSON: "ravine"}
    assert U.url_params(ravine) == {
        "pg_surface": "Ravine", "pg_sp_kappa": "25", "pg_x0": "-2.5", "pg_y0": "0.8", "pg_steps": "120",
        "pg_nruns": "2", "pg_r0_lr": "0.07", "pg_r1_lr": "0.07", "pg_r1_momentum": "0.7", "pg_lesson": "ravine"}
    # The first lesson is what a link without a name shows; a lesson whose scene was changed is not named.
    assert U.url_params({U.LESSON: "race"}) == {}
    assert U.LESSON_PARAM not in U.url_params({**ravine, "pg_steps": 200})
    assert U.url_params({**ravine, U.LESSON: None}) == {k: v for k, v in U.url_params(ravine).items()
                                                        if k != U.LESSON_PARAM}


def test_a_value_is_in_the_url_when_it_differs_from_the_default_it_is_drawn_with():
    # κ at the registry's default on another surface than the default scene's is left out; the
    # Ravine lesson's κ = 25 is in, however it was set (Streamlit left it out after the lesson).
    assert U.url_params({"pg_surface": "Ravine", "pg_sp_kappa": 10.0}) == {"pg_surface": "Ravine"}
    assert U.url_params({"pg_surface": "Ravine", "pg_sp_kappa": 25.0})["pg_sp_kappa"] == "25"
    # Widgets the page does not draw are not in it: "clip at" while clipping is off, Lookahead's k
    # while it is off, a run past the count, another surface's parameter, another optimizer's.
    hidden = {"pg_nruns": 2, "pg_r0_clipv": 0.5, "pg_r0_lak": 9, "pg_r3_lr": 0.5, "pg_sp_kappa": 50.0,
              "pg_r0_beta1": 0.5, "pg_r1_own": False, "pg_r1_x0": 3.0}
    assert U.url_params(hidden) == {"pg_nruns": "2"}
    # Values moved onto what each widget offers, spelled as Streamlit writes them into the URL.
    shown = {"pg_surface": "Nope", "pg_x0": 2, "pg_steps": 123, "pg_noise": 0.07, "pg_batch": 0, "pg_r0_clip": "value",
             "pg_r0_clipv": 0.2, "pg_r0_la": True, "pg_r0_lak": 7, "pg_r0_laa": 1.0, "pg_r0_batch": 0,
             "pg_r1_opt": "Adam", "pg_r1_amsgrad": True, "pg_r2_color": "#123456"}
    assert U.url_params(shown) == {
        "pg_x0": "2.0", "pg_steps": "120", "pg_noise": "0.05", "pg_r0_clip": "value", "pg_r0_clipv": "0.3",
        "pg_r0_la": "true", "pg_r0_lak": "7", "pg_r0_laa": "1", "pg_r1_opt": "Adam", "pg_r1_amsgrad": "true",
        "pg_r2_color": "#123456"}


@pytest.mark.parametrize("scene", _scenes(), ids=lambda s: s.surface)
def test_a_scenes_url_names_only_what_differs_from_the_defaults(scene):
    state = U.state_from_scene(scene)
    url = U.url_params(state)
    assert all(U.is_scene_key(k) for k in url)
    assert all(url[k] != str(U.default(k, state)) for k in url)
    assert handoff.link(scene) == url


def test_scene_keys_and_same_scene_urls():
    assert all(U.is_scene_key(k) for k in ("pg_surface", "pg_sp_kappa", "pg_x0", "pg_r0_lr", "pg_r5_s_T_max",
                                           "pg_lesson", "pg_nruns", "pg_formula"))
    assert not any(U.is_scene_key(k) for k in ("pg_view", "pg_step", "pg_tab", "pg_insp", "pg_log", "pg_sens_x",
                                               "pg_an_run", "sc_steps", "pg_rx"))
    assert U.same_scene_url({"pg_x0": "1", "pg_r0_la": "True", "pg_view": "3D surface"},
                            {"pg_x0": "1.0", "pg_r0_la": "true", "pg_step": "4"})
    assert not U.same_scene_url({"pg_x0": "1"}, {"pg_x0": "1", "pg_y0": "2"})
    assert not U.same_scene_url({"pg_lesson": "ravine"}, {})


def test_the_page_writes_the_whole_query_only_when_the_url_is_not_the_scene():
    state = {**U.state_from_scene(presets.PRESETS["saddle"].scene), U.LESSON: "saddle"}
    url = {"pg_view": "3D surface", "pg_surface": "Ravine", "pg_step": "40"}
    update = handoff.url_update(state, url)
    assert update == {**U.url_params(state), "pg_view": "3D surface", "pg_step": "40"}
    assert list(update)[:2] == ["pg_surface", "pg_x0"]
    assert handoff.url_update(state, update) is None
    assert handoff.url_update(state, {**update, "pg_x0": "-1.80"}) is None  # spelled otherwise, the same scene


def test_opening_a_link_reads_its_lesson_and_back_drops_the_scene_values():
    state = {"pg_surface": "Ravine", "pg_r3_lr": 0.5, "pg_r0_box": True, "pg_view": "3D surface", "other": 1}
    handoff.open_link(state, {"pg_lesson": "saddle"})
    assert state[U.LESSON] == "saddle" and state["pg_surface"] == "Ravine"  # a new session: nothing to drop
    handoff.open_link(state, {"pg_surface": "Beale"}, back=True)
    assert state == {U.LESSON: presets.GALLERY[0].key, U.GUIDE: None, U.TAILOR: tailor.Tailoring(None, ()),
                     "pg_r0_box": True, "pg_view": "3D surface", "other": 1}
    assert U.lesson_from_url({"pg_lesson": ["x", "noise"]}) == "noise"
    assert U.lesson_from_url({"pg_lesson": "nope"}) == U.lesson_from_url({}) == presets.GALLERY[0].key


def test_applying_the_queue_says_whether_anything_was():
    state: dict = {}
    assert handoff.apply_queued(state) is False
    handoff.queue_values(state, {"pg_x0": 1.0})
    assert handoff.apply_queued(state) is True and state == {"pg_x0": 1.0}


# ---- lessons ----------------------------------------------------------------------------------
def test_the_lesson_is_found_while_its_scene_is_unchanged():
    for p in presets.GALLERY:
        assert U.canonical(p.scene) == p.scene  # so comparing with the widgets' scene is enough
        assert presets.lesson(p.key, U.scene_from_state(U.state_from_scene(p.scene))) is p
    changed = U.scene_from_state({**U.state_from_scene(presets.PRESETS["ravine"].scene), "pg_steps": 200})
    assert presets.lesson("ravine", changed) is None
    assert presets.lesson(None, presets.DEFAULT_SCENE) is None


# ---- scoreboard -------------------------------------------------------------------------------
def _hand_built_scoreboard(tr, labels):
    """The page's scoreboard as it was built by hand before Trajectories.metrics()."""
    rows = []
    dist = tr.distance_to_minimum
    for k, lab in enumerate(labels):
        ds = int(tr.diverged_step[k, 0])
        thr = int(tr.steps_to_threshold[k, 0])
        d = dist[k, 0]
        rows.append({
            "run": lab,
            "diverged": "—" if ds < 0 else f"step {ds}: {tr.diverged_reason[k, 0]}",
            "final loss": "—" if ds >= 0 else f"{tr.final_losses[k, 0]:.4g}",
            "steps to within 10⁻³": "never" if thr < 0 else str(thr),
            "distance to minimum": "—" if ds >= 0 or not math.isfinite(d) else f"{d:.3g}",
        })
    return rows


@pytest.mark.parametrize("key", ["race", "diverge", "saddle", "noise", "rastrigin"])
def test_scoreboard_from_metrics_equals_the_hand_built_one(key):
    res = R.compute(presets.PRESETS[key].scene)
    assert P.scoreboard(res.traj) == _hand_built_scoreboard(res.traj, res.labels)


# ---- theory -----------------------------------------------------------------------------------
def test_stability_words_quote_the_one_theory():
    res = R.compute(presets.PRESETS["diverge"].scene)
    surface = S.make_surface(res.scene)
    th = quadratic_stability(surface.lipschitz, surface.strong_convexity)
    assert res.stability == th
    assert f"{th['gd_max_lr']:g}" in res.notes[0]
    lesson = theory.stability_lesson(res.scene, surface, 80)
    assert lesson.beta == 0.9 and lesson.steps == 80
    assert lesson.bounds == {"2/L": th["gd_max_lr"], "2(1+β)/L": quadratic_stability(10, 1, 0.9)["heavy_ball_max_lr"]}
    assert lesson.lrs[0] == pytest.approx(th["gd_max_lr"] / 30) and len(lesson.lrs) == 41
    rosen = presets.DEFAULT_SCENE
    assert not theory.has_theory(S.make_surface(rosen)) and theory.stability(S.make_surface(rosen)) is None
    with pytest.raises(ValueError):
        theory.stability_lesson(rosen, S.make_surface(rosen), 100)


def test_theory_cards_one_per_optimizer_and_known_schedule():
    scene = _scenes()[-3]
    cards = theory.optimizer_cards(scene)
    assert [c.name for c in cards] == ["SGD", "Adam", "RMSprop"]
    assert all("bytes of state per float32 parameter" in c.memory for c in cards)
    assert [c.name for c in theory.schedule_cards(scene, S.available_schedules())] == ["CosineAnnealingLR"]
    assert theory.schedule_cards(scene, {}) == []


# ---- cache keys -------------------------------------------------------------------------------
def test_one_cache_key_for_every_cached_result():
    a = presets.PRESETS["ravine"].scene
    assert cache_key(a, a) == cache_key(U.canonical(a), U.canonical(a))
    assert cache_key(a) == cache_key(presets.PRESETS["nesterov"].scene)  # the same Ravine surface
    assert cache_key(a) != cache_key(presets.PRESETS["diverge"].scene)  # another κ
    custom = _scenes()[-2]
    other = S.Scene.make(S.CUSTOM, custom.runs, formula="x*y", window=custom.window)
    assert cache_key(custom) != cache_key(other)
    assert cache_key(a, 40, 100) != cache_key(a, 20, 100)


# ---- the page ---------------------------------------------------------------------------------
def test_the_page_draws_and_computes_nothing_itself():
    tree = ast.parse(open(os.path.join(ROOT, "app", "views", "playground.py"), encoding="utf-8").read())
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m.startswith(("numpy", "math", "plotly", "optim_core.engine", "optim_core.analysis"))
                   for m in modules), modules
    assert "app.playground.figures" not in modules


def test_a_lesson_link_and_a_guided_lesson_live_in_the_url():
    """The controls a lesson link shows and fixes, and the guided lesson's step, go into the URL with
    the scene and come back from it (a reload, Back, a link sent to students)."""
    scene = presets.PRESETS["saddle"].scene
    state = {**U.state_from_scene(scene), U.TAILOR: tailor.Tailoring(("steps", "lr", "momentum"), ("steps",))}
    url = U.url_params(state)
    assert url["pg_show"] == "steps,lr,momentum" and url["pg_fix"] == "steps"
    assert all(U.is_scene_key(k) for k in ("pg_show", "pg_fix", "pg_guide", "pg_gstep"))
    opened: dict = {}
    handoff.open_link(opened, url)
    assert opened[U.TAILOR] == tailor.Tailoring(("steps", "lr", "momentum"), ("steps",))
    assert opened[U.GUIDE] is None
    assert opened[U.TAILOR].mode("lr") == "edit" and opened[U.TAILOR].mode("steps") == "fixed"
    assert opened[U.TAILOR].mode("surface") == "hidden" and opened[U.TAILOR].mode("gallery") == "hidden"

    guided = {**U.state_from_scene(scene), U.GUIDE: tailor.Guide("momentum", 2)}
    url = U.url_params(guided)
    assert (url["pg_guide"], url["pg_gstep"]) == ("momentum", "3") and "pg_show" not in url
    opened = {}
    handoff.open_link(opened, url)
    assert opened[U.GUIDE] == tailor.Guide("momentum", 2) and not opened[U.TAILOR].tailored
    # A changed step is another scene: a new browser history entry (app/ui/copy_link.py).
    assert not U.same_scene_url(url, {**url, "pg_gstep": "2"})


@pytest.mark.parametrize("url,guide", [
    ({"pg_guide": "momentum", "pg_gstep": "99"}, ("momentum", 3)),  # moved onto the lesson's last step
    ({"pg_guide": "momentum", "pg_gstep": "-4"}, ("momentum", 0)),
    ({"pg_guide": "momentum", "pg_gstep": "two"}, ("momentum", 0)),
    ({"pg_guide": "momentum"}, ("momentum", 0)),
    ({"pg_guide": "no-such-lesson", "pg_gstep": "1"}, None),
    ({"pg_gstep": "2"}, None),
])
def test_a_guided_lesson_link_is_read_leniently(url, guide):
    from app.playground.lessons import LESSON_BY_KEY

    got = tailor.guide_from_url(url, LESSON_BY_KEY)
    assert (None if got is None else (got.lesson, got.step)) == guide


def test_a_lesson_link_keeps_only_known_controls():
    t = tailor.from_url({"pg_show": "lr,,lr, exec(1),steps", "pg_fix": "steps,surface"})
    assert t == tailor.Tailoring(("lr", "steps"), ("steps",))  # surface is not shown, so it is not fixed
    assert tailor.from_url({"pg_fix": "lr"}) == tailor.EVERYTHING  # pg_fix alone tailors nothing
    assert tailor.from_url({"pg_show": ""}).mode("lr") == "hidden"  # an empty list shows no control


@pytest.mark.parametrize("sent,step", [(12, 12), (3.0, 3), ("12", None), (None, None), (True, None),
                                        (float("nan"), None), (float("inf"), None), ([1], None)])
def test_the_maps_step_is_read_only_from_a_number(sent, step):
    assert handoff.map_step(sent) == step


@pytest.mark.parametrize("sent,point", [({"x": 1, "y": -2.5}, (1.0, -2.5)), ({"x": "1", "y": 2}, None),
                                         ({"x": 1e308, "y": 0}, None), ({"x": float("nan"), "y": 0}, None),
                                         ({"x": 1}, None), ([1, 2], None), (None, None)])
def test_a_click_is_read_only_from_two_numbers_within_reach(sent, point):
    assert handoff.map_point(sent) == point


@pytest.mark.parametrize("preset", list(presets.PRESETS))
def test_all_defaults_in_one_pass_are_each_widgets_default(preset):
    """The page computes every default in one pass (all_defaults); each equals the widget's own default."""
    state = U.state_from_scene(presets.PRESETS[preset].scene)
    every = U.all_defaults(state)
    assert isinstance(every, dict) and len(every) > 10
    for key in every:
        assert every[key] == U.default(key, state), key


def test_the_defaults_signature_follows_what_defaults_depend_on():
    state = dict(U.state_from_scene(presets.PRESETS["ravine"].scene))
    sig = U.defaults_signature(state)
    assert U.defaults_signature({**state, "pg_r0_lr": 0.5}) == sig  # a hyperparameter decides no default
    assert U.defaults_signature({**state, "pg_r0_opt": "Adam"}) != sig
    assert U.defaults_signature({**state, "pg_surface": "Beale"}) != sig
    assert U.defaults_signature({**state, "pg_sp_kappa": 50.0}) != sig
