"""Live Training's parameter groups, recipes and debugging panel, through streamlit.testing's AppTest."""

from __future__ import annotations

import json

import pytest

from app.training import recipes as R
from app.training.groups import GroupSpec
from tests.test_app_live import click, needs_torch, open_page, race


def _debug_charts(at):
    return [el for el in at.get("plotly_chart") if "lt_debug_chart" in el.proto.id]


def _table(at, first_column="layer"):
    """The rows (as text) of the one table whose first column is ``first_column``."""
    (df,) = [d.value for d in at.dataframe if list(d.value.columns)[:1] == [first_column]]
    return df.to_dict("records")


@needs_torch
def test_layerwise_groups_show_their_table_and_reach_the_optimizer():
    at = open_page(lt_n_runs=1)
    assert race(at).runs[0].config.groups is None
    at.selectbox(key="lt_run0_groups").select("layerwise").run()
    at.toggle(key="lt_run0_nowd_bias").set_value(True).run()
    at.select_slider(key="lt_run0_decay").set_value(0.5).run()
    assert not at.exception, at.exception
    run = race(at).runs[0]
    assert run.config.groups == GroupSpec("layerwise", 0.5, 0.1, True)
    lr = run.base_lr  # Adam's page lr, 0.01; the default network has 3 layers
    assert [g["lr"] for g in run.optimizer.param_groups] == [lr * 0.25] * 2 + [lr * 0.5] * 2 + [lr] * 2
    assert [g["weight_decay"] for g in run.optimizer.param_groups][1::2] == [0.0] * 3
    table = _table(at)  # one row per layer; the optimizer's 6 groups in the caption under it
    assert table == [{"layer": "1", "lr": "0.0025 (×0.25)", "weight decay (W / b)": "0 / 0"},
                     {"layer": "2", "lr": "0.005 (×0.5)", "weight decay (W / b)": "0 / 0"},
                     {"layer": "3 (head)", "lr": "0.01", "weight decay (W / b)": "0 / 0"}]  # Adam's weight decay: 0
    assert any(c.value.startswith("The optimizer's param_groups: 6 (one for each layer's weights and one for its "
                                  "bias). Weights and biases are separate groups") for c in at.caption)
    click(at, "lt_step")
    assert race(at).runs[0].step == 5


@needs_torch
@pytest.mark.parametrize("key", list(R.RECIPES))
def test_a_recipe_sets_the_runs_controls_in_one_click(key):
    at = open_page()
    recipe = R.RECIPES[key]
    click(at, f"lt_run1_recipe_{key}")
    cfg = race(at).runs[1].config
    assert cfg.optimizer == recipe.optimizer
    for name, value in recipe.hypers.items():
        assert cfg.hypers[name] == value, name
    assert cfg.schedule == recipe.schedule and cfg.clip_norm == recipe.clip_norm and cfg.accumulate == 1
    if recipe.schedule:
        assert cfg.schedule_steps == R.SCHEDULE_STEPS
        for name, value in recipe.schedule_params.items():
            assert cfg.schedule_params[name] == value, name
    assert race(at).runs[0].config.optimizer == "Adam"  # the other run is left alone
    assert any(recipe.why in c.value for c in at.caption)
    # The controls hold the recipe (the page remembers them as it remembers every control) ...
    assert at.session_state["lt_run1_opt"] == recipe.optimizer
    # ... until one is changed: the recipe's sentence then goes, the change stays.
    at.select_slider(key=f"lt_run1_{recipe.optimizer}_lr").set_value(0.001).run()
    assert race(at).runs[1].config.hypers["lr"] == 0.001
    assert not any(recipe.why in c.value for c in at.caption)


@needs_torch
def test_a_recipe_overrides_what_was_set_before():
    at = open_page(lt_n_runs=1)
    at.toggle(key="lt_run0_clip_on").set_value(True).run()
    at.slider(key="lt_run0_accum").set_value(4).run()
    click(at, "lt_run0_recipe_gan")
    cfg = race(at).runs[0].config
    assert (cfg.optimizer, cfg.hypers["beta1"], cfg.clip_norm, cfg.accumulate) == ("Adam", 0.5, None, 1)


@needs_torch
def test_the_debugging_panel_names_the_first_nan():
    at = open_page(lt_n_runs=2, lt_layers=4, lt_act="relu", lt_n=512)
    at.selectbox(key="lt_run1_opt").select("SGD").run()
    at.select_slider(key="lt_run1_SGD_lr").set_value(2.0).run()
    at.session_state["lt_spr"] = 100
    at.toggle(key="lt_debug").set_value(True).run()
    at.select_slider(key="lt_run1_SGD_momentum").set_value(0.99).run()
    at.button(key="lt_step").click().run()  # (click() would refuse the detector's error box)
    assert not at.exception, at.exception
    r = race(at)
    for _ in range(30):  # what the timer does while a Step's steps are left (a busy machine takes fewer a redraw)
        if r.runs[1].diverged:
            break
        at.run()
    assert r.runs[1].diverged and r.runs[1].monitor.nonfinite is not None
    (chart,) = _debug_charts(at)
    fig = json.loads(chart.proto.spec)
    assert len(fig["data"]) == 2 * 2 * 5  # runs x (gradient norm, update ratio) x layers
    errors = [e.value for e in at.error]
    assert any(e.startswith("**NaN/Inf detector:**") and r.runs[1].monitor.nonfinite.text() in e for e in errors)
    assert any("Loss exploding" in w.value for w in at.warning)
    assert any("every loss, gradient and weight finite so far" in c.value for c in at.caption)  # run 1
    # Off, nothing of it is drawn.
    at.toggle(key="lt_debug").set_value(False).run()
    assert not _debug_charts(at)

