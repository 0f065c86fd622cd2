"""The Playground page through Streamlit's AppTest: every optimizer, surface and preset, no tracebacks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.playground import figures as F
from app.playground import presets as P
from app.playground import race as R
from app.playground import race_view as V
from app.playground import scene as S
from app.playground import state as U
from optim_core import registry

from tests.apptest import clean, fresh


def charts(at: AppTest) -> dict[str, dict]:
    """The page's Plotly figures by title."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[spec.get("layout", {}).get("title", {}).get("text", str(len(out)))] = spec
    return out


def views(at: AppTest) -> list[dict]:
    """The payloads of the browser-side race view (app.playground.race_view) on the page."""
    return [json.loads(el.proto.json) for el in at.get("bidi_component")]


def race(at: AppTest) -> dict:
    (payload,) = [v for v in views(at) if v["kind"] == "race"]
    return payload


def trails(payload: dict) -> list[np.ndarray]:
    """Each run's path as the browser receives it (float32, cut after its last finite point)."""
    return [V.decode_path(r["path"]) for r in payload["runs"]]


def run_names(payload: dict) -> list[str]:
    return [r["label"] for r in payload["runs"]]


@pytest.fixture(scope="module")
def at() -> AppTest:
    return fresh()


def test_page_opens_on_a_ready_to_play_preset(at):
    clean(at)
    assert any("Six optimizers on Rosenbrock" in i.value for i in at.info)
    spec = race(at)
    assert len(run_names(spec)) == 6
    # It opens on the whole race; the landscape travels once, in its own payload, under the id the race names.
    assert spec["steps"] == 500 and spec["show"] == 500 and spec["step"] == 1 and not spec["mark"]
    (land,) = [v for v in views(at) if v["kind"] == "landscape"]
    assert land["id"] == spec["land"] and land["png"].startswith("data:image/png;base64,")
    assert spec["scale"]["colors"] and spec["scale"]["ticks"]


def test_figure_trajectories_equal_the_engine(at):
    res = R.compute(P.DEFAULT_SCENE)
    got = trails(race(at))
    assert len(got) == len(res.labels)
    for k, path in enumerate(got):
        expected = res.traj.positions[k, 0].astype(np.float32)
        assert path.shape == expected.shape and path.dtype == expected.dtype, k
        assert np.array_equal(path, expected), k
    # The loss chart too (drawn by the same view): loss − f* on a log axis, Rosenbrock's f* being 0.
    spec = race(at)
    assert spec["loss"]["log"] and spec["loss"]["ylabel"] == "loss (log scale)"
    y0 = V.decode_values(spec["runs"][0]["loss"])
    expected = res.traj.losses[0, 0].astype(np.float32)
    assert y0.shape == expected.shape and y0.dtype == expected.dtype
    assert np.array_equal(y0, expected)
    assert not charts(at)  # no Plotly chart on the Playground's first screen


def test_every_optimizer_can_race():
    at = fresh({"pg_nruns": "1"})
    clean(at)
    for name in registry.optimizers():
        at.selectbox(key="pg_r0_opt").set_value(name).run()
        clean(at)
        names = run_names(race(at))
        assert len(names) == 1 and names[0].startswith(name), (name, names)
        # Its hyperparameter controls come from the registry.
        for h in S.shown_hypers(name):
            assert f"pg_r0_{h.name}" in at.session_state, (name, h.name)


def test_switching_optimizer_resets_to_its_defaults():
    at = fresh({"pg_nruns": "1"})
    at.select_slider(key="pg_r0_lr").set_value(0.5).run()
    at.selectbox(key="pg_r0_opt").set_value("Adam").run()
    clean(at)
    assert at.session_state["pg_r0_lr"] == registry.get_optimizer("Adam").hyper("lr").default


def test_every_surface_can_be_chosen():
    at = fresh({"pg_nruns": "2"})
    for name in registry.surfaces():
        at.selectbox(key="pg_surface").set_value(name).run()
        clean(at)
        spec = race(at)
        surface = registry.get_surface(name).make()
        assert spec["land"] in {v["id"] for v in views(at) if v["kind"] == "landscape"}, name
        assert spec["window"] == [float(v) for pair in surface.window for v in pair], name
        start = tuple(surface.starts[0])
        assert at.session_state["pg_x0"] == pytest.approx(start[0]) and at.session_state["pg_y0"] == pytest.approx(start[1])
        assert np.allclose(trails(spec)[0][0], start, atol=1e-5), name


def test_moving_sliders_changes_the_race():
    at = fresh({"pg_nruns": "2"})
    at.select_slider(key="pg_steps").set_value(100).run()
    clean(at)
    assert len(trails(race(at))[0]) == 101
    at.select_slider(key="pg_r0_lr").set_value(0.0005).run()
    clean(at)
    assert run_names(race(at))[0] == "SGD (η = 0.0005)"
    at.select_slider(key="pg_r1_momentum").set_value(0.5).run()
    clean(at)
    assert "μ = 0.5" in run_names(race(at))[1]
    at.select_slider(key="pg_noise").set_value(0.1).run()
    at.select_slider(key="pg_batch").set_value(8).run()
    at.number_input(key="pg_seed").set_value(3).run()
    clean(at)
    spec = race(at)
    at.number_input(key="pg_seed").set_value(4).run()
    assert not np.array_equal(trails(race(at))[0], trails(spec)[0])  # a new seed, new noise
    at.number_input(key="pg_x0").set_value(0.5).run()
    clean(at)
    assert np.allclose(trails(race(at))[0][0], [0.5, at.session_state["pg_y0"]], atol=1e-6)
    at.toggle(key="pg_log").set_value(False).run()
    assert not race(at)["loss"]["log"]
    at.slider(key="pg_step").set_value(40).run()
    clean(at)


def test_run_options_schedule_clip_lookahead_own_start():
    at = fresh({"pg_nruns": "1"})
    at.selectbox(key="pg_r0_sched").set_value("CosineAnnealingLR").run()
    clean(at)
    assert "CosineAnnealingLR" in run_names(race(at))[0]
    at.session_state["pg_r0_clip"] = "norm"
    at.run()
    at.toggle(key="pg_r0_la").set_value(True).run()
    at.toggle(key="pg_r0_own").set_value(True).run()
    at.number_input(key="pg_r0_x0").set_value(0.0).run()
    clean(at)
    name = run_names(race(at))[0]
    assert "clip" in name and "Lookahead" in name
    assert trails(race(at))[0][0][0] == pytest.approx(0.0)


@pytest.mark.parametrize("preset", P.GALLERY, ids=lambda p: p.key)
def test_every_preset_loads(preset):
    at = fresh()
    at.button(key=f"pg_preset_{preset.key}").click().run()
    clean(at)
    assert any(preset.title in i.value for i in at.info)
    assert U.scene_from_state({k: at.session_state[k] for k in U.state_from_scene(preset.scene)}) == preset.scene
    names = run_names(race(at))
    assert names == S.unique_labels(preset.scene.runs)


def test_diverging_preset_says_where_and_why():
    at = fresh()
    at.button(key="pg_preset_diverge").click().run()
    clean(at)
    msgs = [w.value for w in at.warning]
    assert any("diverged at step" in m and "2/L" in m for m in msgs), msgs
    spec = race(at)
    gone = [r for r in spec["runs"] if r["div"] >= 0]
    assert len(gone) == 1 and gone[0]["exit"] is not None and gone[0]["why"]
    x0, x1, y0, y1 = spec["window"]
    ex, ey = gone[0]["exit"]
    assert x0 <= ex <= x1 and y0 <= ey <= y1  # the × is drawn on the map, where the run left it


@pytest.mark.parametrize("formula", ["__import__('os')", "9**9**9", "x +* y", "exec('1')"])
def test_hostile_formula_is_refused_without_a_traceback(formula):
    at = fresh()
    at.selectbox(key="pg_surface").set_value(S.CUSTOM).run()
    at.text_input(key="pg_formula").set_value(formula).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.error and any("refused" in e.value for e in at.error)


def test_custom_formula_races():
    at = fresh({"pg_nruns": "1"})
    at.selectbox(key="pg_surface").set_value(S.CUSTOM).run()
    at.text_input(key="pg_formula").set_value("x**2 + 3*y**2").run()
    clean(at)
    assert len(trails(race(at))) == 1


def test_click_on_the_map_moves_the_start():
    at = fresh({"pg_nruns": "1"})
    # What the browser's race view sends on a click (its trigger "click"), as the next run sees it.
    at.session_state["pg_map"] = {"click": {"x": 0.5, "y": -0.25}}
    at.run()
    clean(at)
    assert at.session_state["pg_x0"] == 0.5 and at.session_state["pg_y0"] == -0.25
    assert np.allclose(trails(race(at))[0][0], [0.5, -0.25])
    # A start typed afterwards wins over the (still stored) click.
    at.number_input(key="pg_x0").set_value(1.0).run()
    clean(at)
    assert at.session_state["pg_x0"] == 1.0
    assert np.allclose(trails(race(at))[0][0], [1.0, -0.25])


def test_pausing_the_map_moves_the_inspector_the_loss_cursor_and_the_mark():
    at = fresh({"pg_nruns": "2"})
    assert not race(at)["mark"]
    at.session_state["pg_map"] = {"step": 37}  # the map was paused at step 37
    at.run()
    clean(at)
    assert at.slider(key="pg_step").value == 37
    spec = race(at)
    assert spec["step"] == 37 and spec["mark"]
    assert any("step 37" in e.label for e in at.get("expander"))
    # And the other way: moving the inspector sends the map there.
    at.slider(key="pg_step").set_value(12).run()
    assert race(at)["step"] == 12 and race(at)["show"] == 12


def test_url_reproduces_a_scene():
    at = fresh({"pg_surface": "Beale", "pg_nruns": "2", "pg_r1_opt": "Adam", "pg_steps": "100"})
    clean(at)
    assert at.session_state["pg_surface"] == "Beale"
    names = run_names(race(at))
    assert len(names) == 2 and names[1].startswith("Adam")
    assert len(trails(race(at))[0]) == 101


def test_three_d_view():
    at = fresh()
    at.radio(key="pg_view").set_value("3D surface").run()
    clean(at)
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    assert any(t.get("type") == "surface" for s in specs for t in s["data"])


@pytest.mark.parametrize("tab", ["Convergence map", "Sensitivity map", "Stability"])
def test_analysis_tabs(tab):
    at = fresh()
    at.button(key="pg_preset_ravine").click().run()
    at.session_state["pg_tab"] = tab
    if tab == "Convergence map":
        at.session_state["pg_conv_n"] = 20
    if tab == "Sensitivity map":
        at.session_state["pg_sens_n"] = 9
    at.run()
    clean(at)
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    types = {t.get("type") for s in specs for t in s["data"]}
    if tab == "Stability":
        shapes = [sh for s in specs for sh in s["layout"].get("shapes", [])]
        assert any(abs(sh.get("x0", 0) - 2 / 25) < 1e-9 for sh in shapes)  # the 2/L line
    else:
        assert "heatmap" in types


def test_sensitivity_click_loads_the_configuration():
    at = fresh()
    at.button(key="pg_preset_ravine").click().run()
    at.session_state["pg_tab"] = "Sensitivity map"
    at.session_state["pg_sens_n"] = 9
    at.run()
    # What the hover of the cell in column 2, row 3 says (the figure's cells carry their values).
    spec = next(s for s in charts(at).values() if any(t.get("name") == "cells" for t in s["data"]))
    cells = next(t for t in spec["data"] if t.get("name") == "cells")
    lr, momentum = F.decode_array(cells["customdata"])[29]
    assert (F.decode_array(cells["x"])[29], F.decode_array(cells["y"])[29]) == (2, 3)
    at.session_state["pg_sens"] = {
        # As the browser sends it: the cell's column and row, and customdata as plotly.js encodes a typed
        # array (indexing it raised "unhashable type: 'slice'" and showed a traceback).
        "selection": {"points": [{"x": 2, "y": 3, "curve_number": 2, "point_number": 29, "point_index": 29,
                                  "customdata": {"0": 0.02, "1": 0.5}}],
                      "point_indices": [29], "box": [], "lasso": []}}
    at.run()
    clean(at)
    assert at.session_state["pg_r0_lr"] == pytest.approx(lr) and at.session_state["pg_r0_momentum"] == pytest.approx(momentum)
    assert (at.session_state["pg_r0_lr"], at.session_state["pg_r0_momentum"]) != (0.002, 0.0)  # moved from the preset


def test_every_schedule_can_drive_a_run():
    at = fresh({"pg_nruns": "1", "pg_steps": "100"})
    for name, info in registry.schedules().items():
        if info.needs_metric:
            continue
        at.selectbox(key="pg_r0_sched").set_value(name).run()
        clean(at)
        assert name in run_names(race(at))[0]


@pytest.mark.parametrize("query", [
    {"pg_x0": "1e300", "pg_y0": "-1e300"},
    {"pg_steps": "999999", "pg_nruns": "99", "pg_r0_lr": "-5"},
    {"pg_surface": "Nope", "pg_r0_opt": "Nope", "pg_noise": "abc"},
    {"pg_surface": "Ravine", "pg_sp_kappa": "1e9", "pg_r0_lr": "2"},
])
def test_hostile_urls_never_show_a_traceback(query):
    at = fresh(query)
    assert not at.exception, [e.message for e in at.exception]


def test_each_run_has_its_own_color_and_the_url_carries_it():
    at = fresh()
    at.color_picker(key="pg_r1_color").set_value("#123456").run()
    clean(at)
    assert race(at)["runs"][1]["color"].upper() == "#123456"
    # A shared link sets it too, and garbage in the URL falls back to the run's default color.
    linked = fresh({"pg_r1_color": "#ABCDEF"})
    clean(linked)
    assert linked.session_state["pg_r1_color"].upper() == "#ABCDEF"
    assert race(linked)["runs"][1]["color"].upper() == "#ABCDEF"
    assert U.scene_from_state({"pg_r1_color": "javascript:alert(1)"}).runs[1].color == S.run_color(1)


def test_a_refused_combination_is_explained_and_the_other_runs_race():
    # Nesterov needs momentum (torch's rule): run 1 is SGD without momentum. It used to replace
    # the whole page with the engine's error; now it is left out, said why, and five runs race.
    at = fresh({"pg_r0_opt": "SGD", "pg_r0_nesterov": "true"})
    assert not at.exception, [e.message for e in at.exception]
    (err,) = at.error
    assert err.value.startswith("Run 1 (SGD) is not raced") and "Nesterov momentum requires a momentum" in err.value
    names = run_names(race(at))
    assert len(names) == 5 and not any(n.startswith("SGD (η = 0.002") for n in names)
    assert "Lion (η = 0.005)" in names


def test_a_race_whose_runs_are_all_refused_says_so_for_each():
    at = fresh({"pg_nruns": "1", "pg_r0_opt": "SGD", "pg_r0_nesterov": "true"})
    assert not at.exception
    assert [e.value for e in at.error] == ["Run 1 (SGD): Nesterov momentum requires a momentum and zero dampening."]
    assert not [v for v in views(at) if v["kind"] == "race"]


def test_a_link_names_its_runs_and_places_the_loss_cursor_on_first_load():
    # The run's header is drawn above its optimizer box and the loss chart above the step
    # slider: on a first load from a link they read the URL, not the defaults.
    at = fresh({"pg_r0_opt": "Lion", "pg_step": "40"})
    assert not at.exception
    assert [e.label for e in at.get("expander") if e.label.startswith("Run 1")] == ["Run 1 · Lion"]
    spec = race(at)
    assert (spec["step"], spec["show"], spec["mark"]) == (40, 40, True)  # the map and the loss cursor at 40
    assert at.slider(key="pg_step").value == 40
