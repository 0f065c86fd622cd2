"""The Schedules page through streamlit.testing.v1.AppTest (no browser).

Charts are read back from the page (plotly's base64 arrays decoded) and compared with
the core computed independently: the pure curves, the engine, the LR range test, and the
"copy as PyTorch" code executed with torch.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import optim_core
from app.playground.figures import decode_array
from app.playground.race_view import decode_path
from app.schedules import logic as L
from app.ui.controls import fmt, snap
from optim_core import registry
from optim_core.engine import RunSpec, run_trajectories
from optim_core.schedules import chained_lr, plateau_lr, sequential_lr
from tests.layout_tree import contains, position, side_by_side

MAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app", "main.py")
PAGE = "views/schedules.py"
NAMES = list(registry.schedules())
TAB_COMPOSE, TAB_RUN, TAB_TEST = "Warm-up + decay", "Apply to a run", "LR range test"
LR, N = 0.1, 1000  # the page's defaults
SURFACE, OPTIMIZER = "Himmelblau", "RMSprop"


def torch_or_skip():
    return pytest.importorskip("torch")


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGE).run()
    ok(at)
    return at


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def run(at: AppTest) -> AppTest:
    at.run()
    ok(at)
    return at


def open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["sc_tab"] = tab
    return run(at)


def chart(at: AppTest, key: str) -> dict:
    found = [c for c in at.get("plotly_chart") if c.proto.id.endswith("-" + key)]
    assert len(found) == 1, [c.proto.id for c in at.get("plotly_chart")]
    return json.loads(found[0].proto.spec)


def race_view(at: AppTest, key: str) -> dict:
    """The payload of the browser-side race view mounted under ``key``."""
    (el,) = [e for e in at.get("bidi_component") if e.proto.id.endswith(f"-{key}")]
    return json.loads(el.proto.json)


def traces(fig: dict) -> dict[str, dict]:
    return {t.get("name", ""): t for t in fig["data"]}


def ys(trace: dict) -> np.ndarray:
    return decode_array(trace["y"]).astype(np.float64)


def xs(trace: dict) -> np.ndarray:
    return decode_array(trace["x"]).astype(np.float64)


def exec_code(code: str) -> dict:
    namespace: dict = {}
    exec(compile(code, "<copied from the page>", "exec"), namespace)  # noqa: S102
    return namespace


# -- compare --------------------------------------------------------------------------------------
def test_default_page_draws_the_course_comparison_with_formulas_and_code():
    at = open_page()
    fig = chart(at, "sc_chart")
    tr = traces(fig)
    for name in ["StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "WarmupCosine"]:
        info = registry.get_schedule(name)
        np.testing.assert_array_equal(ys(tr[name]), info.curve(N, LR, **info.defaults())["lr"])
    assert len(at.latex) == 5 and len(at.code) == 5
    assert not at.error
    assert any("When practitioners use it" in m.value for m in at.markdown)
    assert fig["layout"]["yaxis"]["type"] == "linear"
    # A class must tell the curves apart: no two share a colour and a dash.
    styles = [(tr[n]["line"]["color"], tr[n]["line"].get("dash", "solid"))
              for n in ["StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "WarmupCosine"]]
    assert len(set(styles)) == 5


def test_every_compared_curve_has_its_own_style():
    names = list(registry.schedules())[:10]
    at = open_page({"sc_pick": names})
    tr = traces(chart(at, "sc_chart"))
    styles = {(tr[n]["line"]["color"], tr[n]["line"].get("dash", "solid")) for n in names if n in tr}
    assert len(styles) == len([n for n in names if n in tr]) >= 8


def test_every_registry_schedule_is_drawn_with_its_pure_curve_and_its_code_gives_the_same_curve():
    torch_or_skip()
    at = open_page()
    at.multiselect(key="sc_pick").set_value(NAMES)
    run(at)
    assert not at.error
    tr = traces(chart(at, "sc_chart"))
    assert len(at.code) == len(NAMES)
    for name, code in zip(NAMES, at.code):
        info = registry.get_schedule(name)
        curve = info.curve(N, LR, **info.defaults())
        drawn = ys(tr[name])
        np.testing.assert_array_equal(drawn, curve["lr"], err_msg=name)
        np.testing.assert_array_equal(xs(tr[name]), np.arange(N))
        if info.cycles_momentum:
            np.testing.assert_array_equal(ys(tr[f"{name} · momentum / β₁"]), curve["momentum"])
        # The snippet builds the chosen optimizer (RMSprop) and the same scheduler.
        assert f"torch.optim.{OPTIMIZER}(model.parameters(), lr=0.1)" in code.value, name
        ns = exec_code(code.value)
        np.testing.assert_allclose(ns["lrs"], drawn, rtol=1e-9, atol=1e-15, err_msg=name)
        if info.cycles_momentum:
            np.testing.assert_allclose(ns["momenta"], curve["momentum"], rtol=1e-9, err_msg=name)
    plateau = registry.get_schedule("ReduceLROnPlateau")
    cuts = plateau.curve(N, LR, **plateau.defaults())["reductions"]
    assert len(cuts) and xs(tr["ReduceLROnPlateau cut the lr"]).tolist() == cuts.tolist()


def test_controls_change_the_curve_the_code_and_lengths_follow_the_steps():
    torch_or_skip()
    at = open_page()
    at.multiselect(key="sc_pick").set_value(["CosineAnnealingLR", "MultiStepLR", "SequentialLR", "OneCycleLR"])
    run(at)
    at.select_slider(key="sc_steps").set_value(500)
    at.selectbox(key="sc_p_MultiStepLR_milestones").set_value("250, 500, 750")
    at.select_slider(key="sc_p_MultiStepLR_gamma").set_value(0.5)
    at.toggle(key="sc_p_OneCycleLR_three_phase").set_value(True)
    at.toggle(key="sc_logy").set_value(True)
    run(at)
    fig = chart(at, "sc_chart")
    tr = traces(fig)
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert at.number_input(key="sc_p_CosineAnnealingLR_T_max").value == 500  # followed the steps
    assert at.number_input(key="sc_p_SequentialLR_T_max").value == 400  # the steps after the warm-up
    expect = {
        "CosineAnnealingLR": optim_core.cosine_annealing_lr(500, LR, T_max=500)["lr"],
        "MultiStepLR": optim_core.multistep_lr(500, LR, milestones=[250, 500, 750], gamma=0.5)["lr"],
        "SequentialLR": sequential_lr(500, LR, [("LinearLR", {"start_factor": 0.01, "total_iters": 100}),
                                                ("CosineAnnealingLR", {"T_max": 400})], [100])["lr"],
        "OneCycleLR": optim_core.one_cycle_lr(500, LR, total_steps=500, three_phase=True)["lr"],
    }
    for name, code in zip(["CosineAnnealingLR", "MultiStepLR", "SequentialLR", "OneCycleLR"], at.code):
        np.testing.assert_allclose(ys(tr[name]), expect[name], rtol=1e-12, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(exec_code(code.value)["lrs"], expect[name], rtol=1e-9, atol=1e-15, err_msg=name)
    assert "milestones=[250, 500, 750]" in at.code[1].value
    assert any("never happen" in c.value for c in at.caption)  # milestone 750 lies past step 500


def test_read_off_step_marks_every_curve():
    at = open_page()
    at.slider(key="sc_mark").set_value(300)
    run(at)
    tr = traces(chart(at, "sc_chart"))
    assert xs(tr["step 300"]).tolist() == [300] * 5
    assert ys(tr["step 300"])[0] == registry.get_schedule("StepLR").curve(N, LR, **registry.get_schedule("StepLR")
                                                                           .defaults())["lr"][300]


def test_bad_parameters_give_an_error_with_a_reason_not_a_traceback():
    at = open_page()
    at.multiselect(key="sc_pick").set_value(["OneCycleLR", "StepLR"])
    at.select_slider(key="sc_steps").set_value(10)
    at.select_slider(key="sc_p_OneCycleLR_pct_start").set_value(0.1)  # a warm-up of one step: torch divides by zero
    run(at)
    (err,) = at.error
    assert "OneCycleLR" in err.value and "too small" in err.value
    assert "StepLR" in traces(chart(at, "sc_chart"))  # the other schedule is still drawn


def test_urls_with_garbage_do_not_break_the_page():
    at = open_page({"sc_steps": "abc", "sc_pick": ["Nope", "StepLR"], "sc_lr": "-1", "sc_tab": "nonsense",
                    "sc_p_StepLR_step_size": "zzz", "sc_surface": "Atlantis", "sc_opt": "Magic"})
    assert "StepLR" in traces(chart(at, "sc_chart"))
    at = open_page({"sc_steps": "500", "sc_pick": ["ExponentialLR"], "sc_lr": "0.02"})
    tr = traces(chart(at, "sc_chart"))
    np.testing.assert_array_equal(ys(tr["ExponentialLR"]), optim_core.exponential_lr(500, 0.02, gamma=0.995)["lr"])


# -- warm-up + decay -------------------------------------------------------------------------------
COMPOSITIONS = [
    ("SequentialLR", "LinearLR", "CosineAnnealingLR", {"T_max": 900}),
    ("SequentialLR", "ConstantLR", "MultiStepLR", {"milestones": [300, 600]}),
    ("SequentialLR", "LinearLR", "LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 900}),
    ("ChainedScheduler", "LinearLR", "ExponentialLR", {"gamma": 0.995}),
    ("ChainedScheduler", "LinearLR", "CosineAnnealingLR", {"T_max": 1000}),
    ("ChainedScheduler", "ConstantLR", "StepLR", {"step_size": 300}),
]


def test_compositions_draw_the_composed_curve_and_their_code_gives_it():
    torch_or_skip()
    at = open_tab(open_page(), TAB_COMPOSE)
    for combinator, warm, decay, decay_kw in COMPOSITIONS:
        at.segmented_control(key="sc_cmb").set_value(combinator)
        at.selectbox(key="sc_cw").set_value(warm)
        at.selectbox(key="sc_cd").set_value(decay)
        run(at)
        warm_kw = {"start_factor": 0.01, "total_iters": 100} if warm == "LinearLR" else {"total_iters": 100}
        parts = [(warm, warm_kw), (decay, decay_kw)]
        expect = (sequential_lr(N, LR, parts, [100]) if combinator == "SequentialLR" else chained_lr(N, LR, parts))
        fig = chart(at, "sc_cmp_chart")
        drawn = ys(fig["data"][0])
        np.testing.assert_allclose(drawn, expect["lr"], rtol=1e-12, atol=1e-15, err_msg=str(parts))
        (code,) = at.code
        assert f"lr_scheduler.{combinator}(" in code.value
        np.testing.assert_allclose(exec_code(code.value)["lrs"], drawn, rtol=1e-9, atol=1e-15, err_msg=str(parts))
        milestone_lines = [s for s in fig["layout"].get("shapes", []) if s.get("x0") == 100]
        assert bool(milestone_lines) == (combinator == "SequentialLR")
        assert not at.error


def test_composition_controls_and_a_warning_for_restarts_in_a_chain():
    at = open_tab(open_page(), TAB_COMPOSE)
    at.number_input(key="sc_cw_LinearLR_total_iters").set_value(250)
    run(at)
    expect = sequential_lr(N, LR, [("LinearLR", {"start_factor": 0.01, "total_iters": 250}),
                                   ("CosineAnnealingLR", {"T_max": 750})], [250])["lr"]
    np.testing.assert_allclose(ys(chart(at, "sc_cmp_chart")["data"][0]), expect, rtol=1e-12)
    assert any("T_max = 750" in c.value for c in at.caption)
    at.segmented_control(key="sc_cmb").set_value("ChainedScheduler")
    at.selectbox(key="sc_cd").set_value("CosineAnnealingWarmRestarts")
    run(at)
    (warning,) = at.warning
    assert "overwrites" in warning.value


# -- apply to a run --------------------------------------------------------------------------------
def engine_run(surface_name, optimizer, lr, schedule, params, steps=N):
    surface = registry.get_surface(surface_name).make()
    specs = [RunSpec(optimizer, {"lr": lr}, schedule=(schedule, params)), RunSpec(optimizer, {"lr": lr})]
    start = np.array([surface.starts[0]], dtype=np.float64)
    return run_trajectories(surface, specs, start, steps, record="full")


def test_apply_to_a_run_and_the_scrubber_moves_every_marker_together():
    at = open_tab(open_page(), TAB_RUN)
    at.selectbox(key="sc_run_sched").set_value("CosineAnnealingLR")
    run(at)
    ref = engine_run(SURFACE, OPTIMIZER, LR, "CosineAnnealingLR", {"T_max": N, "eta_min": 0.0})
    cosine = optim_core.cosine_annealing_lr(N, LR, T_max=N)["lr"]
    seen = {}
    for s in (100, 700):
        at.slider(key="sc_scrub").set_value(s)
        run(at)
        race = race_view(at, "sc_run_race")
        assert race["step"] == s and race["show"] == s and race["mark"] and not race["clickable"]
        paths = [decode_path(r["path"]) for r in race["runs"]]
        assert [p.shape for p in paths] == [(N + 1, 2)] * 2 and paths[0].dtype == np.float32
        np.testing.assert_allclose(np.array([p[s] for p in paths]), ref.positions[:, 0, s], rtol=1e-6, atol=1e-6)
        mark = {"x": [p[s][0] for p in paths], "y": [p[s][1] for p in paths]}
        lr_fig = traces(chart(at, "sc_run_lr"))
        np.testing.assert_array_equal(ys(lr_fig[f"{OPTIMIZER} + CosineAnnealingLR"]), cosine)
        np.testing.assert_array_equal(ys(lr_fig[f"{OPTIMIZER}, constant η = 0.1"]), np.full(N, LR))
        assert xs(lr_fig[f"step {s}"]).tolist() == [s, s]
        assert ys(lr_fig[f"step {s}"]).tolist() == [cosine[s], LR]
        loss = chart(at, "sc_run_loss")
        assert any(sh.get("x0") == s for sh in loss["layout"]["shapes"])
        np.testing.assert_allclose(ys(loss["data"][0]), ref.losses[0, 0], rtol=1e-5, atol=1e-12)
        seen[s] = (mark["x"], mark["y"])
        assert [m.value for m in at.metric][:2] == [str(s), fmt(float(f"{cosine[s]:.4g}"))]
    assert seen[100] != seen[700]
    # The schedule helps here: the constant lr keeps rattling, the cosine settles.
    assert ref.final_losses[0, 0] < 1e-6 < ref.final_losses[1, 0]


def test_reduce_on_plateau_reacts_to_the_runs_own_loss_and_its_cuts_are_marked():
    at = open_page({"sc_pick": ["ReduceLROnPlateau", "StepLR"], "sc_surface": "Ravine", "sc_opt": "Adam"})
    at = open_tab(at, TAB_RUN)
    assert at.selectbox(key="sc_run_sched").value == "ReduceLROnPlateau"
    params = registry.get_schedule("ReduceLROnPlateau").defaults()
    ref = engine_run("Ravine", "Adam", LR, "ReduceLROnPlateau", params)
    loss = ref.losses[0, 0]
    metric_params = {k: v for k, v in params.items()}
    expect = plateau_lr(loss[: N - 1], LR, **metric_params)
    lr_fig = traces(chart(at, "sc_run_lr"))
    drawn = ys(lr_fig["Adam + ReduceLROnPlateau"])
    np.testing.assert_array_equal(drawn, expect["lr"])  # the lr the run used = plateau on its real loss
    cuts = expect["reductions"]
    assert len(cuts) >= 2
    assert xs(lr_fig["ReduceLROnPlateau cut the lr"]).tolist() == cuts.tolist()
    loss_fig = traces(chart(at, "sc_run_loss"))
    assert xs(loss_fig["ReduceLROnPlateau cut the lr"]).tolist() == cuts.tolist()
    (info,) = [i for i in at.info if "ReduceLROnPlateau watched" in i.value]
    assert f"{len(cuts)} time(s)" in info.value
    assert not [b for b in at.button if b.key == "sc_to_pg"]  # the Playground has no metric to feed it


def test_a_run_that_diverges_says_so():
    at = open_page({"sc_pick": ["StepLR"], "sc_surface": "Rosenbrock", "sc_opt": "SGD"})
    at = open_tab(at, TAB_RUN)
    assert any("diverged" in w.value for w in at.warning)


def test_open_in_the_playground_sets_its_documented_keys():
    at = open_tab(open_page({"sc_steps": "300"}), TAB_RUN)
    at.selectbox(key="sc_run_sched").set_value("OneCycleLR")
    run(at)
    at.button(key="sc_to_pg").click()
    run(at)
    assert at.session_state["pg_surface"] == SURFACE
    assert at.session_state["pg_r0_opt"] == OPTIMIZER and at.session_state["pg_r0_sched"] == "OneCycleLR"
    assert at.session_state["pg_steps"] == 300 and at.session_state["pg_nruns"] == 1
    assert math.isclose(at.session_state["pg_r0_lr"], LR)
    # The Playground is the page now showing (its sidebar opens with the gallery of lessons).
    assert any("Gallery" in h.value for h in at.header)


# -- the LR range test -----------------------------------------------------------------------------
def reference_range_test(surface_name, optimizer):
    surface = registry.get_surface(surface_name).make()
    p = optim_core.Parameter(np.array(surface.starts[0], dtype=np.float64))
    opt = registry.get_optimizer(optimizer).cls([p], lr=1e-7)
    fmin = surface.global_min_value

    def closure():
        v, g = surface.value_and_grad(p.data)
        p.grad = np.array(g)
        return float(v) - fmin

    return optim_core.lr_range_test(opt, closure, start_lr=1e-7, end_lr=10.0, num_steps=100)


def test_range_test_on_the_surface_and_use_this_lr():
    at = open_tab(open_page(), TAB_TEST)
    ref = reference_range_test(SURFACE, OPTIMIZER)
    fig = chart(at, "sc_rt_chart")
    assert fig["layout"]["xaxis"]["type"] == "log"
    tr = traces(fig)
    np.testing.assert_allclose(xs(tr["loss at each step"]), ref.lrs, rtol=1e-12)
    np.testing.assert_allclose(ys(tr["smoothed loss"]), ref.smoothed, rtol=1e-12)
    star = next(t for name, t in tr.items() if name.startswith("suggested η"))
    assert xs(star).tolist() == [ref.suggested_lr]
    snapped = snap(ref.suggested_lr, L.LR_HYPER)
    at.button(key="sc_rt_use").click()
    run(at)
    assert at.session_state["sc_lr"] == snapped != LR
    assert at.select_slider(key="sc_lr").value == snapped
    assert any(fmt(snapped) in s.value for s in at.success)
    # The run now starts from the new base lr.
    open_tab(at, TAB_RUN)
    lr_fig = chart(at, "sc_run_lr")
    assert ys(lr_fig["data"][0])[0] == snapped


def test_range_test_refuses_a_surface_without_a_bottom():
    at = open_tab(open_page({"sc_surface": "Saddle"}), TAB_TEST)
    (err,) = at.error
    assert "no bottom" in err.value
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("-sc_rt_chart")]


def test_range_test_on_the_mlp():
    torch_or_skip()
    at = open_tab(open_page({"sc_opt": "SGD"}), TAB_TEST)
    at.segmented_control(key="sc_rt_target").set_value("MLP")
    at.slider(key="sc_rt_n").set_value(60)
    run(at)
    tr = traces(chart(at, "sc_rt_chart"))
    lrs = xs(tr["loss at each step"])
    assert len(lrs) >= 3 and math.isclose(lrs[0], 1e-7)
    losses = ys(tr["loss at each step"])
    assert math.isclose(losses[0], losses[1], rel_tol=1e-3)  # at 1e-7 the MLP barely moves
    assert any(name.startswith("suggested η") for name in tr)
    assert at.button(key="sc_rt_use")


def test_range_test_on_the_mlp_without_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("OPTEX_DISABLE_TORCH", "1")
    at = open_tab(open_page(), TAB_TEST)
    at.segmented_control(key="sc_rt_target").set_value("MLP")
    run(at)
    assert any("pip install" in i.value for i in at.info)
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("-sc_rt_chart")]
    at.segmented_control(key="sc_rt_target").set_value("loss surface")
    run(at)
    assert chart(at, "sc_rt_chart")


# -- the helpers the page calls ---------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["SGD", "Adam", "NAdam", "Adagrad", "Lion"])
def test_pytorch_code_builds_the_optimizer_and_cycles_what_it_can(optimizer):
    torch_or_skip()
    for name in ("OneCycleLR", "CyclicLR", "WarmupCosine"):
        info = registry.get_schedule(name)
        params = info.defaults()
        code = L.pytorch_code(name, params, 0.05, 300, optimizer)
        eff, note = L.effective_params(name, params, optimizer)
        curve = L.schedule_curve(name, 300, 0.05, eff)
        ns = exec_code(code)
        np.testing.assert_allclose(ns["lrs"], curve.lr, rtol=1e-9, atol=1e-15)
        if registry.get_optimizer(optimizer).torch_twin:
            assert f"torch.optim.{optimizer}(" in code
        else:
            assert f"torch.optim has no {optimizer}" in code
        if curve.momentum is not None:
            np.testing.assert_allclose(ns["momenta"], curve.momentum, rtol=1e-9)
        assert bool(note) == (info.cycles_momentum and optimizer == "Adagrad")


OPTIMIZERS = list(registry.optimizers())


def _check_snippet(code: str, lr: np.ndarray, momentum: np.ndarray | None, torch, what: str) -> None:
    compile(code, f"<{what}>", "exec")  # valid Python whether or not torch is installed
    if torch is None:
        return
    ns = exec_code(code)
    np.testing.assert_allclose(ns["lrs"], lr, rtol=1e-9, atol=1e-15, err_msg=what)
    if momentum is not None:
        np.testing.assert_allclose(ns["momenta"], momentum, rtol=1e-9, err_msg=what)


@pytest.mark.parametrize("name", NAMES)
def test_every_schedule_with_every_optimizer_is_valid_python_and_gives_its_curve(name):
    # Generated for the chosen optimizer in the first place: the schedule's own builder, given the
    # optimizer, writes what the page shows; run with torch (when installed) it gives the drawn curve.
    torch = _torch_or_none()
    info = registry.get_schedule(name)
    n, lr = 150, 0.05
    for optimizer in OPTIMIZERS:
        params, _ = L.effective_params(name, info.defaults(), optimizer)
        code = L.pytorch_code(name, info.defaults(), lr, n, optimizer)
        assert code == info.pytorch(base_lr=lr, n_steps=n, optimizer=optimizer, **params)
        twin = registry.get_optimizer(optimizer).torch_twin
        assert (f"optimizer = torch.optim.{optimizer}(model.parameters(), lr=0.05)" in code) == twin, optimizer
        assert (f"# torch.optim has no {optimizer}:" in code) == (not twin), optimizer
        curve = L.schedule_curve(name, n, lr, params)
        _check_snippet(code, curve.lr, curve.momentum if params.get("cycle_momentum") else None, torch,
                       f"{name} with {optimizer}")


@pytest.mark.parametrize("combinator", L.COMBINATORS)
def test_every_composition_with_every_optimizer_is_valid_python_and_gives_its_curve(combinator):
    torch = _torch_or_none()
    run_with = {"SGD", "Adam", "Adagrad", "Lion"}  # momentum, β₁, neither, a stand-in: each path once
    for warm in L.WARMUPS:
        for decay in L.DECAYS:
            comp = L.Composition.make(combinator, warm, {}, decay, {}, 200)
            lr = comp.curve(0.05).lr
            for optimizer in OPTIMIZERS:
                code = comp.pytorch(0.05, optimizer)
                _check_snippet(code, lr, None, torch if optimizer in run_with else None,
                               f"{comp.label()} with {optimizer}")


def test_the_snippet_builds_the_optimizer_with_its_hyperparameters():
    code = L.pytorch_code("OneCycleLR", registry.get_schedule("OneCycleLR").defaults(), 0.05, 300, "Adam",
                          {"beta2": 0.98, "weight_decay": 0.1, "eps": 1e-8})
    assert "optimizer = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=0.1, betas=[0.9, 0.98])\n" in code
    assert '    momenta.append(optimizer.param_groups[0]["betas"][0])\n' in code
    code = L.pytorch_code("StepLR", {"step_size": 30, "gamma": 0.5}, 0.1, 100, "Lion", {"beta1": 0.8})
    assert code == (
        "import torch\n\n"
        "model = torch.nn.Linear(2, 1)\n"
        "# torch.optim has no Lion: SGD stands in below (the schedule's numbers do not depend on the optimizer).\n"
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)\n"
        "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.5)\n"
        "\n"
        "lrs = []\n"
        "for step in range(100):\n"
        '    lrs.append(optimizer.param_groups[0]["lr"])\n'
        "    optimizer.step()  # after loss.backward() in a real training loop\n"
        "    scheduler.step()\n"
    )
    code = L.pytorch_code("WarmupCosine", registry.get_schedule("WarmupCosine").defaults(), 0.05, 300, "Sophia")
    assert ("# torch.optim has no Sophia: AdamW stands in below (the schedule's numbers do not depend on the "
            "optimizer).\noptimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)\n") in code
    torch = _torch_or_none()
    if torch is not None:
        exec_code(code)


def test_the_page_patches_no_generated_text():
    # The code is generated for the chosen optimizer by the builders, not rewritten afterwards:
    # neither the page nor its logic imports re or calls a string's replace / a pattern's sub.
    import ast

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for path in ("app/schedules/logic.py", "app/views/schedules.py", "optim_core/schedules/_base.py"):
        with open(os.path.join(root, path), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert "re" not in [a.name for a in node.names], path
            if isinstance(node, ast.ImportFrom):
                assert node.module != "re", path
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in ("sub", "subn", "replace"), (path, node.lineno)


def _torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


def test_the_steps_a_race_offers_are_declared_once():
    # app.ui.controls declares them for the Playground and this page, so a hand-off keeps the length.
    from app.playground import scene as S
    from app.ui.controls import STEP_OPTIONS

    assert tuple(S.STEP_OPTIONS) == STEP_OPTIONS and L.DEFAULT_STEPS in STEP_OPTIONS
    at = open_page()
    assert [int(o) for o in at.select_slider(key="sc_steps").options] == list(STEP_OPTIONS)


def test_pausing_the_runs_map_moves_the_step_slider():
    at = open_tab(open_page(), TAB_RUN)
    at.session_state["sc_run_race"] = {"step": 250}  # what the browser's race view sends on pause
    run(at)
    assert at.slider(key="sc_scrub").value == 250
    assert race_view(at, "sc_run_race")["step"] == 250
    assert [m.value for m in at.metric][0] == "250"


# -- layout: the chart first; presenter mode (?presenter=1) on one 1280x720 screen -------------------------
PRESENTER = {"presenter": "1"}


def test_the_chart_comes_before_the_schedules_parameters():
    at = open_page()
    chart_at = position(at.main, "sc_chart")
    # The read-off slider above the chart, the five parameter boxes, the formulas and the code after it.
    assert position(at.main, "sc_mark") < chart_at
    for name in ["StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "WarmupCosine"]:
        assert chart_at < position(at.main, label=name), name
    assert chart_at < position(at.main, kind="latex")
    assert contains(at.sidebar, "sc_pick") and not contains(at.main, "sc_pick")


def test_presenter_mode_puts_each_tabs_picture_beside_its_controls():
    at = open_page(PRESENTER)
    # The settings leave the (closed) sidebar for a menu in the page.
    assert not contains(at.sidebar, "sc_pick") and contains(at.main, "sc_pick")
    # Compare: the chart with the read-off step and the lr there beside it, no taller than the screen
    # under a title and a row of tabs; the same curves as without presenter mode.
    assert side_by_side(at.main, dict(key="sc_chart"), dict(key="sc_mark"))
    assert side_by_side(at.main, dict(key="sc_chart"), dict(kind="dataframe"))
    fig = chart(at, "sc_chart")
    assert fig["layout"]["height"] <= 720 - 180
    normal = chart(open_page(), "sc_chart")
    for name in ["StepLR", "OneCycleLR"]:
        np.testing.assert_array_equal(ys(traces(fig)[name]), ys(traces(normal)[name]))
    for name in ["StepLR", "WarmupCosine"]:
        assert position(at.main, "sc_chart") < position(at.main, label=name)
    at.slider(key="sc_mark").set_value(300)
    run(at)
    assert xs(traces(chart(at, "sc_chart"))["step 300"]).tolist() == [300] * 5
    # Warm-up + decay: the composed curve with its controls beside it.
    open_tab(at, TAB_COMPOSE)
    for key in ("sc_cmb", "sc_cw", "sc_cd", "sc_cw_LinearLR_total_iters"):
        assert side_by_side(at.main, dict(key="sc_cmp_chart"), dict(key=key)), key
    assert chart(at, "sc_cmp_chart")["layout"]["height"] <= 720 - 180
    # Apply to a run: the map (its Play button and step counter are in it) with the step and the numbers.
    open_tab(at, TAB_RUN)
    for key in ("sc_scrub", "sc_run_sched"):
        assert side_by_side(at.main, dict(key="sc_run_race"), dict(key=key)), key
    assert side_by_side(at.main, dict(key="sc_run_race"), dict(kind="metric"))
    assert {"step", "η in force", "loss"} <= {m.label for m in at.metric}
    at.slider(key="sc_scrub").set_value(200)
    run(at)
    assert race_view(at, "sc_run_race")["step"] == 200
    assert next(m.value for m in at.metric if m.label == "step") == "200"
    # LR range test: the chart with its controls and the suggestion beside it.
    open_tab(at, TAB_TEST)
    for key in ("sc_rt_target", "sc_rt_lo", "sc_rt_hi", "sc_rt_n", "sc_rt_use"):
        assert side_by_side(at.main, dict(key="sc_rt_chart"), dict(key=key)), key
    assert chart(at, "sc_rt_chart")["layout"]["height"] <= 720 - 180
    assert not at.error


def test_presenter_mode_keeps_the_settings_working():
    at = open_page({**PRESENTER, "sc_pick": ["ExponentialLR"], "sc_steps": "500"})
    np.testing.assert_array_equal(ys(traces(chart(at, "sc_chart"))["ExponentialLR"]),
                                  optim_core.exponential_lr(500, LR, gamma=0.995)["lr"])
    at.select_slider(key="sc_steps").set_value(1000)
    at.toggle(key="sc_logy").set_value(True)
    run(at)
    fig = chart(at, "sc_chart")
    assert fig["layout"]["yaxis"]["type"] == "log" and len(ys(traces(fig)["ExponentialLR"])) == 1000
    at.multiselect(key="sc_pick").set_value([])
    run(at)
    assert any("settings" in i.value for i in at.info)
