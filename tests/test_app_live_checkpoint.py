"""The Live Training page's checkpoint and mixed-precision panels through AppTest (no browser)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.training import backend as T
from tests.test_app_live import click, needs_torch, race
from tests.test_app_live import open_page as open_live_page

pytestmark = needs_torch


def open_page(query: dict | None = None, **state):
    """Live Training with its Checkpoint and Mixed precision panels open (closed, they compute nothing)."""
    return open_live_page(query, lt_ckpt_box=True, lt_amp_box=True, **state)


def _expander(at, start: str):
    (exp,) = [e for e in at.expander if e.label.startswith(start)]
    return exp


def _upload(at, blob: bytes, name: str = "race.safetensors"):
    at.file_uploader(key="lt_ckpt_file").set_value((name, blob, "application/octet-stream")).run()
    assert not at.exception, at.exception


def test_save_then_load_in_a_new_session_continues_the_race():
    """Mini-batches, bfloat16, a schedule: saved at step 10 in one session, loaded in another, stepped 5 more:
    the same losses and weights, bit for bit, as a race trained 15 steps straight."""
    from app.training import checkpoint as CK

    at = open_page(lt_batch=32, lt_precision="bfloat16", lt_run0_sched="CosineAnnealingLR")
    click(at, "lt_step")
    click(at, "lt_step")
    r = race(at)
    assert r.step == 10 and r.precision == "bfloat16" and r.batch_size == 32
    assert r.runs[0].config.schedule == "CosineAnnealingLR"
    blob = CK.save(r, page=dict(at.session_state["_lt_saved"]))  # what the page's Save button sends

    other = open_page()  # a fresh session with the page's defaults
    assert race(other).step == 0 and race(other).precision == "float32"
    _upload(other, blob)
    loaded = race(other)
    assert loaded.step == 10 and loaded.precision == "bfloat16" and loaded.batch_size == 32
    assert other.session_state["lt_precision"] == "bfloat16" and other.session_state["lt_batch"] == 32
    assert any("step 10" in s.value and "Start" in s.value for s in other.success)
    click(other, "lt_step")  # 5 more
    assert race(other) is loaded and loaded.step == 15

    straight = T.Race(r.X_train, r.y_train, r.X_test, r.y_test, [run.config for run in r.runs], model=r.spec,
                      batch_size=r.batch_size, seed=r.seed, eval_every=r.eval_every, precision="bfloat16")
    straight.train(15)
    for a, b in zip(loaded.runs, straight.runs):
        assert a.history["loss"].shape == b.history["loss"].shape == (15,)
        np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
        np.testing.assert_array_equal(a.adapter.flat, b.adapter.flat)


def test_a_bad_upload_says_why_and_keeps_the_race():
    at = open_page()
    click(at, "lt_step")
    before = race(at)
    _upload(at, b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\": 1}" + b"\0" * 10, "bad.safetensors")
    assert race(at) is before and before.step == 5
    assert [e.value for e in at.error] and all("Not loaded" in e.value for e in at.error)
    assert "not an Optimizer Explorer" in at.error[0].value


def test_optimizer_state_table_and_the_memory_page_agree():
    at = open_page()
    click(at, "lt_step")
    exp = _expander(at, "Checkpoint")
    (table,) = exp.dataframe
    df = table.value
    # Run 1 is Adam: exp_avg and exp_avg_sq for each of the six tensors, and a step each
    assert set(df["state"]) == {"step", "exp_avg", "exp_avg_sq"} and len(df) == 18
    n = T.ModelSpec().n_params
    assert df[df["state"] != "step"]["bytes"].sum() == 2 * 4 * n
    text = " ".join(m.value for m in exp.markdown)
    assert f"{2 * 4 * n:,} bytes" in text and "the same number" in text


def test_the_resume_check_draws_the_two_curves_over_each_other():
    at = open_page()
    click(at, "lt_step")
    at.button(key="lt_ckpt_demo").click().run()
    assert not at.exception, at.exception
    figs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    (fig,) = [f for f in figs if "Resumed equals never stopped" in f["layout"]["title"]["text"]]
    assert "bit for bit" in fig["layout"]["title"]["text"]


def test_precision_choice_and_the_four_precisions_side_by_side():
    at = open_page(lt_precision="float16_scaled")
    r = race(at)
    assert r.precision == "float16_scaled" and all(run.amp.mode.scaled for run in r.runs)
    click(at, "lt_step")
    exp = _expander(at, "Mixed precision")
    assert "float16 + loss scaling" in exp.label
    text = " ".join(m.value for m in exp.markdown)
    assert "loss scale **65,536**" in text and "skipped steps **0**" in text
    at.button(key="lt_amp_compare").click().run()
    assert not at.exception, at.exception
    figs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    cmp = [f for f in figs if "in each precision" in f["layout"]["title"]["text"]]
    assert len(cmp) == 1
    names = {t["name"] for t in cmp[0]["data"] if t.get("showlegend", True) is not False}
    assert any("float16, no scaling" in n for n in names) and any("loss scaling" in n for n in names)


def test_a_file_setting_a_button_is_refused():
    """A forged file whose page settings name a button (which takes no value) is refused with a sentence."""
    from tests.test_checkpoint import _rewrite, _set
    from app.training import checkpoint as CK

    at = open_page()
    blob = CK.save(race(at), page=dict(at.session_state["_lt_saved"]))
    forged = _rewrite(blob, header=lambda h: _set(h, ["page", "d", "lt_step"], True))
    _upload(at, forged, "forged.safetensors")
    assert any("this page does not have ('lt_step')" in e.value for e in at.error)
    assert race(at).step == 0


# -- forged page settings: refused with a sentence, and never a raise when the controls are drawn -------------
# Each case sets some of the page's controls to what a forged file says. Run 4's controls (lt_run3_...) are not
# drawn while 2 runs show; after the upload the test switches to 4 runs and brings up each conditional control
# (layer-wise groups, clipping, a schedule), so a value that slipped through would be drawn.
FORGED = {
    # (a) run 4's keys while 2 runs show, a value out of range
    "run 4 decay out of range": ({"lt_run3_groups": "layerwise", "lt_run3_decay": 5.0}, "lt_run3_decay = 5.0"),
    "run 4 accumulation out of range": ({"lt_run3_accum": 99}, "lt_run3_accum = 99"),
    "run 4 int hyper out of range": ({"lt_run3_opt": "Sophia", "lt_run3_Sophia_hessian_interval": 1000},
                                     "lt_run3_Sophia_hessian_interval = 1000"),
    "run 4 schedule length out of range": ({"lt_run3_sched": "StepLR", "lt_run3_sched_steps": 5},
                                           "lt_run3_sched_steps = 5"),
    # (b) a select value not among the options
    "run 4 clip not offered": ({"lt_run3_clip_on": True, "lt_run3_clip": 0.33}, "lt_run3_clip = 0.33"),
    "run 4 lr not offered": ({"lt_run3_Adam_lr": 0.0123}, "lt_run3_Adam_lr = 0.0123"),
    "run 4 groups mode unknown": ({"lt_run3_groups": "deep"}, "lt_run3_groups = deep"),
    "activation unknown": ({"lt_act": "swish"}, "lt_act = swish"),
    "milestones not offered": ({"lt_run3_sched": "MultiStepLR", "lt_run3_sched_MultiStepLR_milestones": [1, 2]},
                               "lt_run3_sched_MultiStepLR_milestones"),
    # (c) a wrong type
    "run 4 groups mode None": ({"lt_run3_groups": None}, "lt_run3_groups = None"),
    "run 4 toggle given an int": ({"lt_run3_nowd_bias": 3}, "lt_run3_nowd_bias = 3"),
    "run 4 accumulation a float": ({"lt_run3_accum": 2.0}, "lt_run3_accum = 2.0"),
    "run 4 lr a bool": ({"lt_run3_Adam_lr": True}, "lt_run3_Adam_lr = True"),
    "seed as text": ({"lt_seed": "0"}, "lt_seed = 0"),
    # (d) an unknown key
    "a fifth run": ({"lt_run4_opt": "Adam"}, "this page does not have ('lt_run4_opt')"),
    "another panel's control": ({"lt_sharp_every": 10}, "this page does not have ('lt_sharp_every')"),
    "no such control": ({"lt_evil": 1}, "this page does not have ('lt_evil')"),
    "a hyperparameter the optimizer lacks": ({"lt_run3_Adam_rho": 0.9}, "this page does not have ('lt_run3_Adam_rho')"),
}


def _page_file(at, **changes) -> bytes:
    """The page's race saved as its Save button does, with ``changes`` written over its page settings."""
    from app.training import checkpoint as CK
    from tests.test_checkpoint import _rewrite

    blob = CK.save(race(at), page=dict(at.session_state["_lt_saved"]))
    enc = lambda v: {"u": [enc(x) for x in v]} if isinstance(v, tuple) else v  # noqa: E731 (the format's tuple)
    return _rewrite(blob, header=lambda h: h["page"]["d"].update({k: enc(v) for k, v in changes.items()}))


def _draw_four_runs(at):
    """4 runs, each conditional control of run 4 brought up in turn; nothing may raise."""
    at.session_state["lt_n_runs"] = 4
    at.run()
    assert not at.exception, at.exception
    for key, value in (("lt_run3_groups", "layerwise"), ("lt_run3_groups", "head"), ("lt_run3_clip_on", True),
                       ("lt_run3_sched", "StepLR"), ("lt_run3_sched", "MultiStepLR"), ("lt_run3_opt", "Sophia")):
        at.session_state[key] = value
        at.run()
        assert not at.exception, (key, value, at.exception)


@pytest.mark.parametrize("case", list(FORGED))
def test_a_forged_page_setting_is_refused_and_every_control_still_draws(case):
    changes, message = FORGED[case]
    at = open_page()
    click(at, "lt_step")
    before = race(at)
    _upload(at, _page_file(at, **changes), "forged.safetensors")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Not loaded: ") and message in errors[0], errors
    assert errors[0].count(". ") == 0  # one sentence
    assert race(at) is before and before.step == 5
    assert not any(at.session_state[k] == v for k, v in changes.items() if k in at.session_state
                   and type(at.session_state[k]) is type(v)), "a refused file's setting reached the controls"
    _draw_four_runs(at)


def test_every_control_the_page_saves_loads_back():
    """4 runs, each with the controls its choices bring up (a typed formula, MultiStepLR's tuple of milestones,
    Adafactor's "set lr" toggle, 8-bit Adam's block size, layer-wise and backbone groups, clipping), 4 hidden
    layers: the page's own file is accepted whole and restores the race in a fresh session."""
    at = open_page(lt_n_runs=4, lt_layers=4, lt_run0_opt="AdamW", lt_run0_sched="FormulaLR", lt_run0_clip_on=True,
                   lt_run0_groups="layerwise", lt_run0_nowd_bias=True, lt_run1_sched="MultiStepLR",
                   lt_run1_groups="head", lt_run2_opt="Adafactor", lt_run2_Adafactor_relative_step=False,
                   lt_run3_opt="Adam8bit",
                   lt_run3_sched="OneCycleLR", lt_debug=True)
    at.toggle(key="lt_run2_Adafactor_lr_on").set_value(True).run()
    at.session_state["lt_run1_sched_MultiStepLR_milestones"] = (500, 750)
    at.run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    saved = dict(at.session_state["_lt_saved"])
    assert saved["lt_run1_sched_MultiStepLR_milestones"] == (500, 750) and saved["lt_run2_Adafactor_lr_on"] is True
    assert {"lt_run0_sched_FormulaLR_formula", "lt_run0_decay", "lt_run1_backbone", "lt_run3_Adam8bit_block_size",
            "lt_run3_sched_OneCycleLR_anneal_strategy", "lt_run0_clip", "lt_debug"} <= set(saved)
    click(at, "lt_step")
    blob = _page_file(at)

    other = open_page()
    _upload(other, blob)
    assert [s.value for s in other.success] and not other.error, [e.value for e in other.error]
    loaded = race(other)
    assert loaded.step == 5 and [r.config.optimizer for r in loaded.runs] == ["AdamW", "SGD", "Adafactor", "Adam8bit"]
    assert other.session_state["lt_run1_sched_MultiStepLR_milestones"] == (500, 750)


def test_fuzz_forged_page_settings_never_raise():
    """Hypothesis: run 4's controls (and a few of the sidebar's) set by a forged file to values from the widgets'
    options and from outside them; after the upload 4 runs are drawn with every conditional control up. The file
    is loaded or refused with one sentence; nothing raises."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from app.training import groups as G
    from optim_core import registry

    at = open_page()
    keys = ["lt_run3_groups", "lt_run3_decay", "lt_run3_backbone", "lt_run3_nowd_bias", "lt_run3_clip_on",
            "lt_run3_clip", "lt_run3_accum", "lt_run3_sched_steps", "lt_run3_Adam_lr", "lt_run3_Adam_amsgrad",
            "lt_run3_Sophia_hessian_interval", "lt_run3_Adam8bit_block_size", "lt_spr", "lt_redraw", "lt_width",
            "lt_n_runs", "lt_run5_opt"]
    values = st.one_of(st.sampled_from([*G.MODES, *G.DECAYS, *G.BACKBONE_MULTS, 0.01, 1.0, 1, 2, 8, 10, 64, 256,
                                        True, False, None, "Adam"]),
                       st.integers(-10, 10**6), st.floats(allow_nan=True), st.text(max_size=8))
    scene = st.fixed_dictionaries({"lt_run3_opt": st.sampled_from(["Adam", "Sophia", "Adam8bit"]),
                                   "lt_run3_sched": st.sampled_from(["none", "StepLR"])})
    assert {"Adam", "Sophia", "Adam8bit"} <= set(registry.optimizers())

    @settings(max_examples=12, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(scene, st.dictionaries(st.sampled_from(keys), values, min_size=1, max_size=4))
    def check(base, forged):
        at.session_state["lt_n_runs"] = 2  # run 4's controls not drawn (they keep what the last example left)
        at.run()
        at.file_uploader(key="lt_ckpt_file").set_value(("f.safetensors", _page_file(at, **base, **forged),
                                                        "application/octet-stream")).run()
        assert not at.exception, at.exception
        said = [e.value for e in at.error] + [s.value for s in at.success]
        assert len(said) == 1 and (said[0].startswith("Not loaded: ") or said[0].startswith("Loaded ")), said
        _draw_four_runs(at)

    check()


def test_closed_panels_draw_and_compute_nothing():
    """Closed, the Checkpoint and Mixed precision expanders build no table, uploader or chart (a whole-page rerun
    of Live Training pays for them only while a teacher has them open)."""
    at = open_live_page()
    click(at, "lt_step")
    assert [e.label for e in at.expander if e.label.startswith(("Checkpoint", "Mixed precision"))] == [
        "Checkpoint: save, resume, and what the optimizer state holds", "Mixed precision: float32"]
    assert not [u for u in at.get("file_uploader") if u.key == "lt_ckpt_file"]
    assert not _expander(at, "Checkpoint").dataframe
    at.session_state["lt_ckpt_box"] = True
    at.run()
    assert [u for u in at.get("file_uploader") if u.key == "lt_ckpt_file"] and _expander(at, "Checkpoint").dataframe
