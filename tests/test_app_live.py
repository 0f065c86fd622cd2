"""The Live Training page through streamlit.testing.v1.AppTest (no browser)."""

from __future__ import annotations

import json
import os
import sys

import pytest
from streamlit.testing.v1 import AppTest

from app.training import backend as T
from app.ui.controls import FULL_BATCH, NO_SCHEDULE, schedule_choices
from optim_core import registry

MAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app", "main.py")
PAGE = "views/live_training.py"


def open_page(**state) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    at.switch_page(PAGE)
    at.session_state["lt_spr"] = 5  # a few steps per click keeps the tests fast
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def charts(at) -> dict[str, dict]:
    """The page's Plotly figures by widget key (the key is part of the element id)."""
    out = {}
    for el in at.get("plotly_chart"):
        key = next((k for k in ("lt_fig_boundary", "lt_fig_curves", "lt_fig_diag") if k in el.proto.id), el.proto.id)
        out[key] = json.loads(el.proto.spec)
    return out


def race(at) -> T.Race:
    return at.session_state["_lt_race"]


def click(at, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


needs_torch = pytest.mark.skipif(not T.torch_available(), reason="torch not installed")


@needs_torch
def test_page_draws_the_race_and_steps():
    at = open_page()
    figs = charts(at)
    assert set(figs) == {"lt_fig_boundary", "lt_fig_curves", "lt_fig_diag"}
    types = [t["type"] for t in figs["lt_fig_boundary"]["data"]]
    assert types.count("heatmap") == 2  # one decision boundary per run (two runs by default)
    r = race(at)
    assert r.step == 0
    # The defaults are declared once: the page's network is ModelSpec()'s, its batch the shared "full batch".
    assert r.spec == T.ModelSpec() and r.full_batch and at.session_state["lt_batch"] == FULL_BATCH
    assert [run.config.optimizer for run in r.runs] == ["Adam", "SGD"]
    assert any("full batch" in m.value for m in at.markdown)
    click(at, "lt_step")
    assert race(at) is r and r.step == 5
    assert all(run.step == 5 for run in r.runs)
    assert not at.session_state["_lt_running"]


@needs_torch
def test_start_pause_resume_keeps_the_run():
    at = open_page()
    r = race(at)
    click(at, "lt_start")
    assert at.session_state["_lt_running"] and r.step == 5
    at.run()  # what the timer does: one more fragment run
    assert r.step == 10
    click(at, "lt_pause")
    assert not at.session_state["_lt_running"] and r.step == 10
    at.run()
    assert r.step == 10  # paused: nothing trains
    click(at, "lt_start")
    assert race(at) is r and r.step == 15
    click(at, "lt_reset")
    assert race(at) is not r and race(at).step == 0


@needs_torch
@pytest.mark.parametrize("family", sorted({info.family for info in registry.optimizers().values()}))
def test_each_optimizer_family_trains(family):
    name = next(n for n, info in registry.optimizers().items() if info.family == family)
    at = open_page(lt_n_runs=1)
    at.selectbox(key="lt_run0_opt").select(name).run()
    assert not at.exception
    click(at, "lt_step")
    run = race(at).runs[0]
    assert run.config.optimizer == name and run.step == 5 and not run.diverged


@needs_torch
def test_backends_agree_and_the_lr_slider_is_logarithmic():
    at = open_page(lt_run1_opt="Adam", lt_run1_backend="torch")
    lr = at.select_slider(key="lt_run0_Adam_lr")
    assert 1e-3 in lr.options or "0.001" in lr.options
    at.select_slider(key="lt_run0_Adam_lr").set_value(0.02).run()
    at.select_slider(key="lt_run1_Adam_lr").set_value(0.02).run()
    click(at, "lt_step")
    ours, theirs = race(at).runs
    assert ours.config.backend == "optim_core" and theirs.config.backend == "torch"
    assert ours.history["loss"].tolist() == pytest.approx(theirs.history["loss"].tolist(), rel=1e-5)


@needs_torch
def test_clipping_accumulation_and_schedule_are_per_run():
    state = dict(lt_run0_clip_on=True, lt_run0_clip=0.1, lt_run0_accum=2, lt_batch=64)
    sched = [n for n, s in registry.schedules().items() if not s.needs_metric]
    if sched:
        state["lt_run0_sched"] = sched[0]
    at = open_page(**state)
    assert not at.error, [e.value for e in at.error]
    click(at, "lt_step")
    tricked, plain = race(at).runs
    assert tricked.config.clip_norm == 0.1 and tricked.accumulate == 2
    assert race(at).batch_size == 64 and not race(at).full_batch
    assert at.selectbox(key="lt_run0_sched").options == schedule_choices() and schedule_choices()[0] == NO_SCHEDULE
    assert "ReduceLROnPlateau" not in schedule_choices()
    assert max(tricked.history["grad_norm_clipped"]) <= 0.1 + 1e-6
    assert tricked.config.schedule == (sched[0] if sched else None)
    assert plain.config.clip_norm is None and plain.accumulate == 1 and plain.config.schedule is None
    diag = charts(at)["lt_fig_diag"]
    assert any(t.get("line", {}).get("dash") == "dot" for t in diag["data"])  # the after-clipping norm


@needs_torch
def test_every_schedule_and_choice_parameter_can_be_set():
    """Every schedule a run can use draws its parameters, choices such as MultiStepLR's milestones too."""
    sched = [n for n, s in registry.schedules().items() if not s.needs_metric]
    at = open_page(lt_n_runs=1, lt_run0_opt="Adam8bit")
    assert at.selectbox(key="lt_run0_Adam8bit_block_size").value == 256
    for name in sched:
        at.selectbox(key="lt_run0_sched").select(name).run()
        assert not at.exception, (name, at.exception)
        assert race(at).runs[0].config.schedule == name
    at.selectbox(key="lt_run0_sched").select("MultiStepLR").run()
    at.selectbox(key="lt_run0_sched_MultiStepLR_milestones").select((500, 750)).run()
    assert race(at).runs[0].config.schedule_params["milestones"] == (500, 750)


@needs_torch
def test_changing_a_setting_restarts_the_race():
    at = open_page()
    click(at, "lt_step")
    old = race(at)
    at.selectbox(key="lt_dataset").select("circles").run()
    assert not at.exception
    assert race(at) is not old and race(at).step == 0


@needs_torch
def test_invalid_hyperparameters_show_an_error_not_a_traceback():
    at = open_page(lt_n_runs=1, lt_run0_opt="SGD")
    at.select_slider(key="lt_run0_SGD_momentum").set_value(0.0).run()
    at.toggle(key="lt_run0_SGD_nesterov").set_value(True).run()
    assert not at.exception
    assert any("Nesterov" in e.value for e in at.error)
    assert not at.get("plotly_chart")


@needs_torch
def test_settings_survive_a_visit_to_another_page():
    at = open_page()
    at.slider(key="lt_noise").set_value(0.3).run()
    click(at, "lt_step")
    r = race(at)
    at.switch_page("views/memory.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.slider(key="lt_noise").value == 0.3
    assert race(at) is r and r.step == 5


def test_without_torch_the_page_explains_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert any('pip install -e ".[torch]"' in w.value for w in at.warning)
    assert not at.get("plotly_chart")
    at.switch_page("views/memory.py").run()  # the rest of the app still works
    assert not at.exception and at.get("plotly_chart")


def test_env_var_disables_torch(monkeypatch):
    monkeypatch.setenv(T.DISABLE_ENV, "1")
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert any("torch==2.13.0" in w.value for w in at.warning)


@needs_torch
def test_pause_after_epochs_stops_the_timer():
    at = open_page(lt_stop_epochs=10)  # full batch: 10 epochs = 10 steps
    click(at, "lt_start")
    at.run()
    at.run()
    r = race(at)
    assert r.step == 10 and not at.session_state["_lt_running"]
    assert any("Paused at step 10" in i.value for i in at.info)
    click(at, "lt_start")
    assert r.step == 10  # nothing more until Reset or a higher limit
