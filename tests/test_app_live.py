"""The Live Training page through streamlit.testing.v1.AppTest (no browser)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.training import backend as T
from app.training import figures as TF
from app.training import live_view
from app.ui.controls import FULL_BATCH, NO_SCHEDULE, schedule_choices
from optim_core import registry
from tests.layout_tree import contains, find, position, side_by_side

MAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app", "main.py")
PAGE = "views/live_training.py"


def open_page(query: dict | None = None, **state) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGE)
    at.session_state["lt_spr"] = 5  # a few steps per click keeps the tests fast
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def view(at) -> dict:
    """The payload the live view (the page's one custom component) was last given."""
    (el,) = at.get("bidi_component")
    assert el.proto.component_name == live_view.NAME and live_view.KEY in el.proto.id
    return json.loads(el.proto.json)


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
    assert not at.get("plotly_chart")  # drawn in the browser, not sent as figures
    first = view(at)
    r = race(at)
    assert r.step == 0
    # At step 0: the whole race (points, a boundary grid per run) and the explanation, no curves yet.
    assert first["full"] and first["race"] == r.uid and first["step"] == 0 and "Step 0" in first["note"]
    static = first["static"]
    assert [x["title"] for x in static["runs"]] == [run.config.title() for run in r.runs]
    assert len(first["runs"]) == 2  # two runs by default
    for sent, run in zip(first["runs"], r.runs):
        grid = TF.decode_grid(sent["grid"], static["grid"])
        assert grid.dtype == np.uint8 and grid.shape == (TF.GRID, TF.GRID)
        np.testing.assert_array_equal(grid, r.logit_grid(run, TF.GRID))
        assert sent["hist"]["n"] == 0 and sent["evals"]["n"] == 1  # the evaluation at step 0
    # The defaults are declared once: the page's network is ModelSpec()'s, its batch the shared "full batch".
    assert r.spec == T.ModelSpec() and r.full_batch and at.session_state["lt_batch"] == FULL_BATCH
    assert [run.config.optimizer for run in r.runs] == ["Adam", "SGD"]
    assert any("full batch" in m.value for m in at.markdown)
    click(at, "lt_step")
    assert race(at) is r and r.step == 5
    assert all(run.step == 5 for run in r.runs)
    assert not at.session_state["_lt_running"]
    # Then only the new rows: the five steps, and the evaluation at step 5, appended to what was sent.
    after = view(at)
    assert not after["full"] and "static" not in after and after["race"] == r.uid and after["step"] == 5
    assert after["seq"] > first["seq"] and after["note"] == ""
    for sent, run in zip(after["runs"], r.runs):
        assert sent["hist"]["base"] == 0 and sent["evals"]["base"] == 1
        rows = TF.decode_rows(sent["hist"], TF.HIST_COLUMNS)
        np.testing.assert_array_equal(rows[:, 0], [1, 2, 3, 4, 5])
        np.testing.assert_allclose(rows[:, 1], run.history["grad_norm"].astype(np.float32))
        np.testing.assert_allclose(TF.decode_rows(sent["evals"], TF.EVAL_COLUMNS)[:, 4],
                                   run.evals["test_acc"][1:].astype(np.float32))
        assert sent["step"] == 5 and sent["test_acc"] == pytest.approx(run.last("test_acc"))


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
    # The after-clipping norm is drawn (dotted) for the clipped run only, from the rows sent.
    at.session_state[live_view.SYNC_KEY] = TF.resend_all(at.session_state[live_view.SYNC_KEY])  # as a resync
    at.run()
    full = view(at)
    assert full["full"] and [x["clip"] for x in full["static"]["runs"]] == [True, False]
    clipped = TF.decode_rows(full["runs"][0]["hist"], TF.HIST_COLUMNS)[:, TF.HIST_COLUMNS.index("grad_norm_clipped")]
    assert len(clipped) == 5 and clipped.max() <= 0.1 + 1e-6


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
    assert not at.get("bidi_component")


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
    assert not at.get("bidi_component")
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


@needs_torch
def test_the_view_is_appended_to_and_resent_for_a_new_race():
    at = open_page()
    click(at, "lt_start")
    r = race(at)
    for _ in range(TF.REPEAT + 2):
        at.run()  # what the timer does
    sent = view(at)
    assert not sent["full"] and sent["step"] == r.step == 5 * (TF.REPEAT + 3)
    # The rows of this redraw's 5 steps, and those of the REPEAT redraws before (in case they were lost).
    new_rows = 5 * (TF.REPEAT + 1)
    assert [x["hist"]["base"] for x in sent["runs"]] == [r.step - new_rows] * 2
    assert [x["hist"]["n"] for x in sent["runs"]] == [new_rows] * 2
    click(at, "lt_pause")
    assert not at.session_state["_lt_ticking"]
    # A new race (a setting changed) is sent in full, from step 0.
    at.selectbox(key="lt_dataset").select("circles").run()
    new = view(at)
    assert race(at) is not r and new["full"] and new["race"] == race(at).uid != r.uid and new["step"] == 0
    assert new["seq"] > sent["seq"]
    # A browser whose copy does not match asks for a full resend (trigger "resync"), and its callback,
    # live_view.forget, marks the record so: the next payload is full, its seq counting on.
    at.session_state[live_view.SYNC_KEY] = TF.resend_all(at.session_state[live_view.SYNC_KEY])
    at.run()
    again = view(at)
    assert again["full"] and again["race"] == new["race"] and again["seq"] == new["seq"] + 1


@needs_torch
def test_a_slow_step_is_spread_over_redraws_and_pause_stops_it():
    """Each redraw trains for a bounded time: 1,000 steps of a heavy race are not one long request."""
    at = open_page(lt_n=2048, lt_layers=4, lt_width=64, lt_run0_accum=8, lt_run1_accum=8, lt_redraw=0.1)
    r = race(at)
    at.session_state["lt_spr"] = 1000
    click(at, "lt_step")
    first = r.step
    assert 1 <= first < 1000
    assert at.session_state["_lt_pending"] == 1000 - first and at.session_state["_lt_ticking"]
    at.run()  # the timer: the Step goes on
    assert r.step > first
    click(at, "lt_pause")
    stopped = r.step
    assert not at.session_state["_lt_ticking"] and not at.session_state.get("_lt_pending")
    at.run()
    assert r.step == stopped



@pytest.fixture
def media(monkeypatch):
    """The media file manager of each AppTest run (AppTest makes one per run and drops it after): a download
    button's file is built from it, as the server does when the button is clicked."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.testing.v1 import app_test

    made = []

    class Recorded(MediaFileManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Recorded)
    return made


def download(at, media, label: str) -> bytes:
    """What a click on the download button ``label`` gives: its deferred callable run, as the server does."""
    (button,) = [b for b in at.get("download_button") if b.proto.label == label]
    assert button.proto.deferred_file_id, label  # built when clicked, not on every run
    mgr = media[-1]
    url = mgr.execute_deferred(button.proto.deferred_file_id)
    return mgr._storage.get_file(url.rsplit("/", 1)[-1]).content


@needs_torch
def test_the_export_menu_offers_stills_curves_and_the_race_csv(media):
    import csv
    import io

    at = open_page()
    click(at, "lt_step")
    r = race(at)
    labels = [b.proto.label for b in at.get("download_button")]
    (menu,) = [p for p in at.get("popover")
               if any(str(getattr(c, "key", "")).startswith("lt_export_") for c in p.children.values())]
    assert menu.proto.popover.label == "Export"
    stills_missing = any("Chromium" in c.value for c in at.caption)
    for what in ("Decision boundaries", "Loss and accuracy", "Diagnostics"):
        for fmt in ("PNG (2x, 2560x1440)", "SVG", "PDF"):
            # A still is offered, or the menu says what to install instead (no Chromium here).
            assert f"{what}: {fmt}" in labels or stills_missing
    assert "Curves: CSV" in labels
    rows = list(csv.DictReader(io.StringIO(download(at, media, "Curves: CSV").decode("utf-8"))))
    assert len(rows) == 2 * (r.step + 1) == 12 and rows[-1]["step"] == "5" and rows[-1]["test_acc"]
    assert float(rows[-1]["test_acc"]) == r.runs[1].last("test_acc")
    # Built at the click, from the race as it is then: one Step more, five more rows per run.
    click(at, "lt_step")
    assert len(download(at, media, "Curves: CSV").decode("utf-8").splitlines()) == 1 + 2 * 11


@needs_torch
def test_no_export_menu_without_a_race():
    at = open_page(lt_n_runs=1, lt_run0_opt="SGD")
    at.select_slider(key="lt_run0_SGD_momentum").set_value(0.0).run()
    at.toggle(key="lt_run0_SGD_nesterov").set_value(True).run()  # settings that cannot train: no race
    assert any("Nesterov" in e.value for e in at.error)
    assert not at.get("download_button")


@needs_torch
def test_the_export_menu_stills_render(media):
    from app.exports import stills

    if stills.browser_missing():
        pytest.skip(stills.browser_missing())
    at = open_page(lt_n_runs=1)
    click(at, "lt_step")
    png = download(at, media, "Decision boundaries: PNG (2x, 2560x1440)")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") == 2560
    assert download(at, media, "Loss and accuracy: SVG").lstrip().startswith(b"<svg")


@needs_torch
def test_the_export_menu_offers_the_race_as_a_pytorch_script(media):
    pytest.importorskip("app.exports.live_script")
    at = open_page()
    click(at, "lt_step")
    script = download(at, media, "PyTorch script").decode("utf-8")
    assert "import torch" in script and "STEPS = 5" in script
    # A race the script cannot reproduce says why instead of offering a file that would fail.
    at.selectbox(key="lt_run1_opt").select("Sophia").run()
    assert "PyTorch script" not in [b.proto.label for b in at.get("download_button")]
    assert any("PyTorch script" in c.value and "Sophia" in c.value for c in at.caption)


# -- layout; presenter mode (?presenter=1): one 1280x720 screen ------------------------------------------
def numbers(at) -> list[str]:
    """The runs' lines of numbers (step, epoch, test accuracy, test loss)."""
    return [m.value for m in at.markdown if "test accuracy" in m.value]


def view_share(at) -> float:
    """The share of the page's width the live view's column gets (presenter mode)."""
    path = find(at.main, live_view.KEY)
    column = next(node for node in reversed(path) if getattr(node, "type", None) == "column")
    row = path[path.index(column) - 1]
    weights = [c.weight for c in row.children.values()]
    return column.weight / sum(weights)


@needs_torch
def test_normal_layout_numbers_above_the_view_settings_in_the_sidebar():
    at = open_page()
    view_at = position(at.main, live_view.KEY)
    assert position(at.main, "lt_start") < view_at
    assert contains(at.sidebar, "lt_dataset") and not contains(at.main, "lt_dataset")
    # Step 0 says what its accuracy is: the untrained network's guess.
    assert len(numbers(at)) == 2 and all("step **0**" in n and "untrained" in n for n in numbers(at))
    click(at, "lt_step")
    assert not any("untrained" in n for n in numbers(at))


@needs_torch
def test_presenter_mode_puts_the_buttons_and_settings_beside_the_view():
    at = open_page({"presenter": "1"})
    assert not at.exception
    for key in ("lt_start", "lt_pause", "lt_step", "lt_reset"):
        assert side_by_side(at.main, dict(key=live_view.KEY), dict(key=key)), key
    assert side_by_side(at.main, dict(key=live_view.KEY), dict(kind="title"))
    # The settings leave the (closed) sidebar for a menu beside the view.
    assert not contains(at.sidebar, "lt_dataset") and contains(at.main, "lt_dataset")
    assert side_by_side(at.main, dict(key=live_view.KEY), dict(key="lt_dataset"))
    # The runs' numbers under the view (each map's title shows its step and accuracy), the runs' controls after.
    assert position(at.main, live_view.KEY) < position(at.main, "lt_run0_opt")
    assert len(numbers(at)) == 2
    click(at, "lt_step")
    assert race(at).step == 5 and all("step **5**" in n for n in numbers(at))
    click(at, "lt_start")
    assert at.session_state["_lt_running"]
    click(at, "lt_pause")
    assert not at.session_state["_lt_running"]


@needs_torch
def test_presenter_mode_sizes_the_view_for_the_data_and_the_runs():
    # The maps are drawn at the data's aspect ratio: the view's column takes most of the width, as much as
    # leaves the curves on the screen under the wide moons' maps, more for four runs' lower maps.
    moons = view_share(open_page({"presenter": "1"}, lt_dataset="moons"))
    four = view_share(open_page({"presenter": "1"}, lt_dataset="moons", lt_n_runs=4))
    assert 0.6 < moons < four < 0.8, (moons, four)
    # Square data (circles) cannot fit maps and curves at any width: the view is not squeezed for them.
    circles = view_share(open_page({"presenter": "1"}, lt_dataset="circles"))
    assert circles >= moons, (circles, moons)
