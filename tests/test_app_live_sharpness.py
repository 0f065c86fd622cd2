"""Live Training's Sharpness and Landscape panels through AppTest: closed they compute nothing; opened they
show numbers and a chart; the edge-of-stability lesson button sets the page's controls."""

from __future__ import annotations

import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from app.training import backend as T

MAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app", "main.py")
PAGE = "views/live_training.py"

pytestmark = pytest.mark.skipif(not T.torch_available(), reason="torch not installed")


def open_page(**state) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=90)
    at.run()
    at.switch_page(PAGE)
    at.session_state["lt_spr"] = 10
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at) -> dict[str, dict]:
    return {el.proto.id: json.loads(el.proto.spec) for el in at.get("plotly_chart")}


def chart(at, key: str) -> dict | None:
    for id_, spec in charts(at).items():
        if key in id_:
            return spec
    return None


def test_closed_panels_compute_nothing():
    from app.training import net_landscape as NL
    from app.training import sharpness as S

    at = open_page()
    at.button(key="lt_step").click().run()
    assert not at.exception, at.exception
    race = at.session_state["_lt_race"]
    assert S.tracker(race, create=False) is None  # never opened: no tracker, no measurement
    assert NL.trail(race, create=False) is not None  # the paths are recorded from step 0 (cheap)
    assert chart(at, "lt_sharp_chart") is None and chart(at, "lt_land_chart") is None


def test_open_both_panels_numbers_and_pictures():
    at = open_page(lt_sharp_box=True, lt_land_box=True)
    race = at.session_state["_lt_race"]
    lines = [m.value for m in at.markdown if "λ_max = **" in m.value]
    assert len(lines) == len(race.runs) and all("step 0" in s for s in lines)
    at.button(key="lt_step").click().run()
    assert not at.exception, at.exception
    assert race.step == 10
    lines = [m.value for m in at.markdown if "λ_max = **" in m.value]
    assert len(lines) == 2 and all("step 10" in s for s in lines)
    assert any("λ_max(P⁻¹H) = **" in s for s in lines)  # run 1 is Adam: its preconditioned sharpness
    spec = chart(at, "lt_sharp_chart")
    # Adam: λ_max (no line: its rule is for P⁻¹H), λ_max(P⁻¹H) and its line; SGD: λ_max and its line.
    assert spec is not None and len(spec["data"]) == 1 + 2 + 2
    land = chart(at, "lt_land_chart")
    assert land is not None and land["layout"]["images"][0]["source"].startswith("data:image/png")
    assert land["layout"]["sliders"][0]["steps"][-1]["label"] == "10"
    caption = [c.value for c in at.caption if c.value.startswith("The training loss on the plane")]
    assert caption and "step 10" in caption[0]
    # Random directions, through run 2.
    at.radio(key="lt_land_kind").set_value("random").run()
    at.selectbox(key="lt_land_run").set_value(1).run()
    assert not at.exception, at.exception
    caption = [c.value for c in at.caption if c.value.startswith("The training loss on the plane")]
    assert "run 2's weights" in caption[0] and "random directions" in caption[0]
    # Closing the sharpness panel stops the measurements.
    at.session_state["lt_sharp_box"] = False
    at.run()
    at.button(key="lt_step").click().run()
    from app.training import sharpness as S

    trk = S.tracker(race, create=False)
    assert not trk.on and trk.rows(0)["step"][-1] == 10


def test_the_edge_of_stability_lesson_sets_the_controls():
    from app.training import sharpness as S

    # Settings the lesson must undo: momentum on run 2, layer-wise lrs on run 1.
    at = open_page(lt_sharp_box=True, lt_run1_SGD_momentum=0.9, lt_run0_groups="layerwise")
    at.button(key="lt_sharp_preset").click().run()
    assert not at.exception, at.exception
    p = S.EOS_PRESET
    ss = at.session_state
    assert (ss["lt_dataset"], ss["lt_noise"], ss["lt_n"], ss["lt_stop_epochs"]) == (
        p["dataset"], p["noise"], p["points"], p["steps"])
    race = ss["_lt_race"]
    assert race.full_batch and race.step == 0
    assert [(r.config.optimizer, r.config.hypers["lr"], r.config.hypers["momentum"]) for r in race.runs] == [
        ("SGD", 0.3, 0.0), ("SGD", 0.2, 0.0)]
    assert [r.config.groups for r in race.runs] == [None, None]  # one lr per run: the 2/η line is its limit
    lines = [m.value for m in at.markdown if "λ_max = **" in m.value]
    assert "limit 2/η = 6.667" in lines[0] and "limit 2/η = 10" in lines[1]
