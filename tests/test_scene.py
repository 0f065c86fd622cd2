"""The Playground's scene model: presets really show their lessons, state round trips, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.playground import analyses as A
from app.playground import inspector as I
from app.playground import presets as P
from app.playground import race as R
from app.playground import scene as S
from app.playground import state as U
from app.ui.controls import fmt, hyper_options, snap
from optim_core import registry
from optim_core.engine import LIMITS


@pytest.fixture(scope="module")
def results():
    return {p.key: R.compute(p.scene) for p in P.GALLERY}


def test_gallery_has_every_lesson_of_the_brief():
    keys = {p.key for p in P.GALLERY}
    assert {"ravine", "diverge", "rosenbrock", "saddle", "rastrigin", "lion", "adamw", "noise", "nesterov"} <= keys
    for p in P.GALLERY:
        assert p.title and len(p.note) > 120, p.key
        assert 1 <= len(p.scene.runs) <= S.MAX_RUNS
        assert p.scene.surface in registry.surfaces()


@pytest.mark.parametrize("preset", P.GALLERY, ids=lambda p: p.key)
def test_every_preset_computes_and_survives_the_widgets(preset, results):
    res = results[preset.key]
    assert res.ok and not res.errors, res.errors
    # Widgets hold exactly the preset's values (every hyperparameter is on its slider's grid).
    assert U.canonical(preset.scene) == preset.scene


def test_default_scene_is_six_optimizers_on_rosenbrock():
    sc = P.DEFAULT_SCENE
    assert sc.surface == "Rosenbrock" and len(sc.runs) == 6 and sc.steps == 500
    assert len({r.optimizer for r in sc.runs}) >= 5


def test_race_preset_momentum_beats_plain_sgd(results):
    tr = results["race"].traj
    assert not tr.diverged.any()
    assert tr.final_losses[1, 0] < tr.final_losses[0, 0] / 100  # SGD + momentum vs plain SGD


def test_ravine_sgd_zigzags_and_momentum_is_faster(results):
    res = results["ravine"]
    tr = res.traj
    y = tr.positions[0, 0, :20, 1]
    # The steep coordinate of plain SGD changes sign at every step: a zig-zag of period 2.
    assert np.all(np.sign(y[1:]) != np.sign(y[:-1]))
    sgd, mom = tr.steps_to_threshold[:, 0]
    assert mom > 0 and (sgd < 0 or mom <= sgd / 2), (sgd, mom)
    # Both lrs are stable: the bound explains why this is the largest sensible step.
    assert res.stability["gd_max_lr"] == pytest.approx(2 / 25)


def test_diverge_preset_diverges_and_says_why(results):
    res = results["diverge"]
    tr = res.traj
    assert tr.diverged_step[0, 0] < 0 and tr.steps_to_threshold[0, 0] > 0  # 0.15 < 2/L converges
    assert tr.diverged_step[1, 0] < 0 and tr.steps_to_threshold[1, 0] < 0  # 0.2 = 2/L bounces for ever
    assert tr.diverged_step[2, 0] > 0  # 0.25 > 2/L diverges
    assert len(res.notes) == 1
    note = res.notes[0]
    assert note.startswith("SGD (η = 0.25) diverged at step")
    assert "2/L" in note and "0.2" in note and "L = 10" in note


def test_rosenbrock_adam_beats_sgd(results):
    tr = results["rosenbrock"].traj
    sgd, adam = tr.final_losses[:, 0]
    assert adam < sgd / 10


def test_saddle_adam_and_momentum_escape_first(results):
    tr = results["saddle"].traj
    y = np.abs(tr.positions[:, 0, :, 1])

    def escape(k):
        hit = np.flatnonzero(np.nan_to_num(y[k], nan=np.inf) > 1.0)
        return int(hit[0]) if hit.size else 10**9

    sgd, mom, adam = (escape(k) for k in range(3))
    assert adam < mom < sgd, (sgd, mom, adam)
    # Leaving an unbounded surface is not reported as a failure.
    for note in results["saddle"].notes:
        assert "no bottom" in note


def test_rastrigin_traps_everyone_but_momentum_goes_further(results):
    tr = results["rastrigin"].traj
    sgd, mom, adam = tr.final_losses[:, 0]
    assert sgd > 15 and adam > 15  # stuck in the first dimple
    assert 1.0 < mom < sgd  # rolled over some ridges, still trapped
    surface = results["rastrigin"].surface
    g = surface.grad(tr.final_positions[0, 0])
    assert np.linalg.norm(g) < 1e-3  # a genuine local minimum, not a slow crawl


def test_lion_takes_sign_steps(results):
    tr = results["lion"].traj
    upd = tr.updates[0, 0, :40]
    assert np.allclose(np.abs(upd[np.abs(upd) > 0]), 0.05, rtol=1e-9)
    adam_step = np.abs(tr.updates[1, 0, -20:])
    assert adam_step.max() < 0.05  # Adam's steps shrink near the minimum


def test_adam_and_adamw_settle_at_different_points(results):
    tr = results["adamw"].traj
    adam_l2, adamw, plain = tr.final_positions[:, 0]
    assert np.linalg.norm(adam_l2 - adamw) > 0.5
    assert np.linalg.norm(plain - np.array([1.0, 3.0])) < 1e-2  # no decay: Booth's minimum
    assert np.linalg.norm(adamw) < np.linalg.norm(plain)  # decay pulls towards the origin
    # Adam's L2 pull is divided away by the adaptive denominator: it stays near the minimum, AdamW does not.
    assert np.linalg.norm(adamw - plain) > 2 * np.linalg.norm(adam_l2 - plain)


def test_noise_ball_shrinks_with_batch_size(results):
    tr = results["noise"].traj
    d = np.linalg.norm(tr.positions[:, 0, 150:], axis=-1).mean(axis=1)
    assert d[1] < d[0] / 3, d


def test_nesterov_settles_before_heavy_ball(results):
    tr = results["nesterov"].traj
    heavy, nesterov = tr.steps_to_threshold[:, 0]
    assert 0 < nesterov < heavy


# ---------------------------------------------------------------------------------------
# State, labels, validation
# ---------------------------------------------------------------------------------------


def test_state_round_trip_and_missing_keys_take_the_default_scene():
    assert U.scene_from_state({}) == U.canonical(P.DEFAULT_SCENE)
    state = U.state_from_scene(P.PRESETS["diverge"].scene)
    assert state["pg_surface"] == "Ravine" and state["pg_sp_kappa"] == 10.0
    assert state["pg_r2_lr"] == 0.25 and state["pg_nruns"] == 3
    assert U.scene_from_state(state) == P.PRESETS["diverge"].scene


def test_switching_optimizer_uses_that_optimizers_defaults():
    state = {"pg_r0_opt": "Adam"}
    sc = U.scene_from_state(state)
    assert sc.runs[0].optimizer == "Adam"
    assert sc.runs[0].hyper_dict()["lr"] == registry.get_optimizer("Adam").hyper("lr").default


def test_hyper_options_are_sorted_bounded_and_contain_the_default():
    for info in registry.optimizers().values():
        for h in S.shown_hypers(info.name):
            if h.kind != "float":
                continue
            opts = [o for o in hyper_options(h) if o is not None]
            assert opts == sorted(opts) and len(set(opts)) == len(opts)
            if h.low is not None:
                assert opts[0] >= h.low - 1e-12 and opts[-1] <= h.high + 1e-12
            if h.default is not None:
                assert snap(h.default, h) == pytest.approx(h.default)
            for o in opts:
                assert snap(o, h) == o
            assert len({fmt(o) for o in opts}) == len(opts)  # the URL/format labels are unique


def test_labels_are_unique_and_readable():
    runs = [S.RunConfig.make("SGD", {"lr": 0.1}), S.RunConfig.make("SGD", {"lr": 0.1}),
            S.RunConfig.make("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True})]
    labels = S.unique_labels(runs)
    assert labels[0] != labels[1] and len(set(labels)) == 3
    assert labels[2] == "SGD (η = 0.1, μ = 0.9, Nesterov)"


def test_validation_against_limits_gives_messages_not_exceptions():
    run = S.RunConfig.make("SGD", {"lr": 0.1})
    too_many = S.Scene.make("Quadratic bowl", [run] * 7)
    assert any("At most" in e for e in R.compute(too_many).errors)
    too_long = S.Scene.make("Quadratic bowl", [run], steps=LIMITS.max_steps + 1)
    assert any("Steps must be" in e for e in R.compute(too_long).errors)
    bad_lr = S.Scene.make("Quadratic bowl", [S.RunConfig.make("SGD", {"lr": -1.0})])
    assert any("learning rate" in e for e in R.compute(bad_lr).errors)
    bad_start = S.Scene.make("Quadratic bowl", [run], start=(math.nan, 0.0))
    assert any("start point" in e for e in R.compute(bad_start).errors)
    far = S.Scene.make("Quadratic bowl", [run], start=(1e300, 0.0))
    assert any("outside the region" in e for e in R.compute(far).errors)
    unknown = S.Scene.make("No such surface", [run])
    assert any("Unknown surface" in e for e in R.compute(unknown).errors)
    bad_clip = S.Scene.make("Quadratic bowl", [S.RunConfig.make("SGD", {"lr": 0.1}, clip_norm=-1.0)])
    assert any("clip" in e for e in R.compute(bad_clip).errors)


@pytest.mark.parametrize("formula", ["__import__('os')", "9**9**9", "x +", "open('/etc/passwd')", "", "x" * 5000,
                                     "().__class__", "lambda: 1"])
def test_hostile_formulas_are_refused_with_a_message(formula):
    sc = S.Scene.make(S.CUSTOM, [S.RunConfig.make("SGD", {"lr": 0.1})], formula=formula)
    res = R.compute(sc)
    assert not res.ok and res.errors
    assert "refused" in res.errors[0] or "formula" in res.errors[0].lower()


def test_custom_formula_races():
    sc = S.Scene.make(S.CUSTOM, [S.RunConfig.make("SGD", {"lr": 0.05})], formula="x**2 + 5*y**2", start=(2.0, 1.0),
                      window=((-3.0, 3.0), (-3.0, 3.0)), steps=100)
    res = R.compute(sc)
    assert res.ok, res.errors
    assert res.traj.final_losses[0, 0] < 1e-3


def test_schedules_clipping_lookahead_and_own_starts_run():
    runs = [
        S.RunConfig.make("SGD", {"lr": 0.1}, schedule="CosineAnnealingLR", schedule_params={"T_max": 50}),
        S.RunConfig.make("Adam", {"lr": 0.1}, clip_norm=0.5),
        S.RunConfig.make("SGD", {"lr": 0.1, "momentum": 0.9}, lookahead=(5, 0.5), start=(1.0, -1.0)),
    ]
    res = R.compute(S.Scene.make("Quadratic bowl", runs, steps=50))
    assert res.ok, res.errors
    tr = res.traj
    assert tr.lrs[0, 0, 0] == pytest.approx(0.1) and tr.lrs[0, 0, -1] < 0.01
    assert np.all(np.linalg.norm(tr.grads[1, 0], axis=-1) <= 0.5 + 1e-6)
    assert np.allclose(tr.positions[2, 0, 0], [1.0, -1.0])


def test_every_registered_optimizer_races_with_its_defaults():
    for name in registry.optimizers():
        sc = S.Scene.make("Quadratic bowl", [S.RunConfig.make(name)], steps=30)
        res = R.compute(sc)
        assert res.ok, (name, res.errors)


def test_inspector_rules_reproduce_the_engine(results):
    for key in ("race", "ravine", "nesterov", "lion", "adamw"):
        tr = results[key].traj
        for k in range(len(tr.specs)):
            for s in (1, 2, 7, tr.steps):
                v = I.inspect_step(tr, k, s)
                if v.diverged:
                    continue
                assert v.matches in (True, None), (key, k, s)
                if tr.specs[k].optimizer in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Lion"):
                    assert not v.generic and v.matches, (key, k, s)


def test_inspector_falls_back_to_the_registry_formula():
    res = R.compute(S.Scene.make("Quadratic bowl", [S.RunConfig.make("Adadelta")], steps=10))
    v = I.inspect_step(res.traj, 0, 3)
    assert v.generic and v.latex == [registry.get_optimizer("Adadelta").latex]
    names = [r["quantity"] for r in v.rows()]
    assert any("mean square" in n for n in names)


def test_inspector_on_a_diverged_run_says_so(results):
    tr = results["diverge"].traj
    v = I.inspect_step(tr, 2, tr.steps)
    assert v.diverged and "diverged" in v.notes[0]


def test_sensitivity_sweeps_use_slider_values():
    for info in registry.optimizers().values():
        for h in S.shown_hypers(info.name):
            if h.kind != "float" or h.low is None:
                continue
            vals = A.sweep_values(h, h.default, 21)
            opts = set(hyper_options(h))
            assert 2 <= len(vals) <= 21 and np.all(np.diff(vals) > 0)
            assert all(float(v) in opts for v in vals), (info.name, h.name)
    lr = registry.get_optimizer("SGD").hyper("lr")
    vals = A.sweep_values(lr, 0.07, 21)
    assert vals[0] >= 0.07 / 100 - 1e-12 and vals[-1] <= 2.0
