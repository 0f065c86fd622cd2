"""Parameter groups of a Live Training run (app.training.groups) against torch.optim.

The references are written by hand here: torch.optim optimizers given literal parameter groups (lists of
the model's tensors with literal lrs and weight decays) and torch's own lr schedulers, stepped on the same
full batch in float64. A run of :class:`app.training.backend.Race` with the same groups, stepped by
optim_core and by torch.optim, must follow them step by step.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.training import groups as G
from app.training.datasets import make_dataset, train_test_split
from tests.asserts import assert_same

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")

from app.training import backend as T  # noqa: E402

STEPS = 30
SPEC = T.ModelSpec(2, 6, "tanh")  # layers 1, 2, 3 (the head): W1 b1 W2 b2 W3 b3


@pytest.fixture(scope="module")
def data():
    X, y = make_dataset("moons", n=80, noise=0.2, seed=3)
    return train_test_split(X, y, test_fraction=0.25, seed=3)


# -- the plan, by hand ------------------------------------------------------------------------------------
def test_names_and_layers_match_the_model():
    for layers in range(T.MAX_HIDDEN_LAYERS + 1):
        model = T.build_mlp(T.ModelSpec(layers, 4, "relu"))
        names = [n for n, _ in model.named_parameters()]
        assert G.mlp_names(layers + 1) == names
        assert G.layer_of(names) == [k for k in range(layers + 1) for _ in (0, 1)]


def test_layerwise_head_and_bias_plans():
    names = G.mlp_names(3)
    lw = G.plan(names, G.GroupSpec("layerwise", decay=0.5))
    assert [(g.name, g.tensors, g.lr_scale, g.decays) for g in lw] == [
        ("layer 1", ("0.weight", "0.bias"), 0.25, True),
        ("layer 2", ("2.weight", "2.bias"), 0.5, True),
        ("layer 3 (head)", ("4.weight", "4.bias"), 1.0, True)]
    head = G.plan(names, G.GroupSpec("head", backbone=0.1, no_decay_bias=True))
    assert [(g.name, g.indices, g.lr_scale, g.decays) for g in head] == [
        ("backbone weights", (0, 2), 0.1, True), ("backbone biases", (1, 3), 0.1, False),
        ("head weights", (4,), 1.0, True), ("head biases", (5,), 1.0, False)]
    bias = G.plan(names, G.GroupSpec(no_decay_bias=True))
    assert [(g.name, g.indices, g.decays) for g in bias] == [("all layers weights", (0, 2, 4), True),
                                                             ("all layers biases", (1, 3, 5), False)]
    # A network of one layer (logistic regression) is all head: no empty backbone group.
    assert [g.name for g in G.plan(G.mlp_names(1), G.GroupSpec("head"))] == ["head"]
    assert G.param_groups([1, 2], G.mlp_names(1), G.GroupSpec(), {"lr": 0.1}) == [1, 2]  # trivial: as given


def test_the_table_shows_one_row_per_layer():
    names = G.mlp_names(3)
    rows = G.table(names, G.GroupSpec("layerwise", decay=0.5, no_decay_bias=True), {"lr": 0.01, "weight_decay": 0.1})
    assert rows == [{"layer": "1", "lr": "0.0025 (×0.25)", "weight decay (W / b)": "0.1 / 0"},
                    {"layer": "2", "lr": "0.005 (×0.5)", "weight decay (W / b)": "0.1 / 0"},
                    {"layer": "3 (head)", "lr": "0.01", "weight decay (W / b)": "0.1 / 0"}]
    # 4 hidden layers: 5 rows, where the optimizer has 10 groups (each layer's weights, then its bias)
    five = G.mlp_names(5)
    spec = G.GroupSpec("layerwise", decay=0.5, no_decay_bias=True)
    assert len(G.table(five, spec, {"lr": 0.01, "weight_decay": 0.1})) == 5 and len(G.plan(five, spec)) == 10
    assert G.caption(five, spec) == ("The optimizer's param_groups: 10 (one for each layer's weights and one for "
                                     "its bias). Weights and biases are separate groups: a group has one weight "
                                     "decay, and the biases' is 0.")
    assert G.caption(five, G.GroupSpec("layerwise")) == "The optimizer's param_groups: 5 (one per layer)."
    head = G.GroupSpec("head", backbone=0.1)
    assert [r["lr"] for r in G.table(names, head, {"lr": 0.01})] == ["0.001 (×0.1)", "0.001 (×0.1)", "0.01"]
    assert [r["weight decay (W / b)"] for r in G.table(names, head, {"lr": 0.01})] == ["— / —"] * 3  # no decay
    assert G.caption(names, head) == "The optimizer's param_groups: 2 (backbone, head)."
    assert G.table(names, G.GroupSpec(no_decay_bias=True), {"lr": None, "weight_decay": 0.01})[0] == {
        "layer": "1", "lr": "auto", "weight decay (W / b)": "0.01 / 0"}


@pytest.mark.parametrize("bad", [dict(mode="deep"), dict(decay=0.0), dict(decay=1.5), dict(backbone=-1)])
def test_bad_specs_are_refused_with_a_message(bad):
    with pytest.raises(ValueError, match="parameter groups"):
        G.GroupSpec(**bad)


def test_what_cannot_be_grouped_is_refused(data):
    with pytest.raises(ValueError, match="no learning rate to scale"):
        T.Race(*data, [T.TrainingRunConfig("Adafactor", {}, groups=G.GroupSpec("layerwise"))], model=SPEC)


# -- against torch, step by step ----------------------------------------------------------------------------
def _reference_groups(p, case):
    """The groups of ``case``, written out by hand over the tensors ``p`` = [W1, b1, W2, b2, W3, b3]."""
    W1, b1, W2, b2, W3, b3 = p
    if case == "layerwise":  # decay 0.5, no weight decay on biases; lr 0.01
        return [{"params": [W1], "lr": 0.0025}, {"params": [b1], "lr": 0.0025, "weight_decay": 0.0},
                {"params": [W2], "lr": 0.005}, {"params": [b2], "lr": 0.005, "weight_decay": 0.0},
                {"params": [W3], "lr": 0.01}, {"params": [b3], "lr": 0.01, "weight_decay": 0.0}]
    if case == "head":  # backbone x 0.1; lr 0.1
        return [{"params": [W1, b1, W2, b2], "lr": 0.1 * 0.1}, {"params": [W3, b3], "lr": 0.1}]
    raise AssertionError(case)


CASES = [
    # (optimizer, hypers, group spec, reference case, schedule, its torch form)
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}, G.GroupSpec("layerwise", 0.5, no_decay_bias=True), "layerwise",
     None, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, G.GroupSpec("head", backbone=0.1), "head",
     # eta_min is absolute: each group's lr goes from its own initial lr to 0.001, so the groups' lrs are
     # not in a fixed ratio (a single curve scaled per group would get this wrong).
     ("CosineAnnealingLR", {"T_max": 20, "eta_min": 0.001}),
     lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20, eta_min=0.001)),
    ("Adam", {"lr": 0.01, "weight_decay": 0.01}, G.GroupSpec("layerwise", 0.5, no_decay_bias=True), "layerwise",
     ("OneCycleLR", {}),
     lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                                     total_steps=100)),
]


@pytest.mark.parametrize("backend", ["optim_core", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] + "-" + c[3] for c in CASES])
def test_groups_follow_torch_step_by_step(data, float64_torch, case, backend):
    name, hypers, spec, ref_case, schedule, torch_schedule = case
    cfg = T.TrainingRunConfig(name, hypers, backend=backend, groups=spec)
    if schedule:
        cfg.schedule, cfg.schedule_params = schedule
        cfg.schedule_steps = 100
    race = T.Race(*data, [cfg], model=SPEC, dtype="float64")
    run = race.runs[0]

    model = T.build_mlp(SPEC, seed=0, dtype="float64")
    params = list(model.parameters())
    kw = {k: v for k, v in hypers.items()}
    opt = getattr(torch.optim, name)(_reference_groups(params, ref_case), **kw)
    sched = torch_schedule(opt) if torch_schedule else None
    X, y = torch.from_numpy(race.X_train), torch.from_numpy(race.y_train)
    assert len(run.optimizer.param_groups) == len(opt.param_groups)
    for step in range(1, STEPS + 1):
        lrs = [g["lr"] for g in opt.param_groups]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
        if sched is not None:
            sched.step()
        race.train(1)
        assert run.step == step and not run.diverged
        assert_same(np.array([g["lr"] for g in run.optimizer.param_groups]), np.array(lrs), rtol=1e-12,
                    err_msg=f"lrs at step {step}")
        for (n, mine), ref in zip(run.model.named_parameters(), params):
            assert_same(mine.detach().numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-15,
                        err_msg=f"{n} at step {step}")
    # The history's lr is the run's own (the head's).
    assert run.history["lr"][-1] == pytest.approx(lrs[-1], rel=1e-12)


# -- the generated script -----------------------------------------------------------------------------------
def test_the_script_builds_the_same_groups_and_reproduces_the_losses(data, float64_torch, tmp_path):
    import os
    import subprocess
    import sys

    from app.exports.live_script import live_script

    runs = [T.TrainingRunConfig(name, hypers, backend=backend, groups=spec, schedule=sched[0] if sched else None,
                                schedule_params=sched[1] if sched else {}, schedule_steps=100)
            for (name, hypers, spec, _, sched, _), backend in zip(CASES, ["optim_core", "torch", "optim_core"])]
    race = T.Race(*data, runs, model=SPEC, dtype="float64", batch_size=16, seed=3, eval_every=5)
    race.train(STEPS)
    text = live_script(race)
    # The groups, literally: the same tensors and numbers as the app's.
    assert "{'params': [params[0]], 'lr': 0.0025},  # layer 1 weights: 0.weight" in text
    assert "{'params': [params[1]], 'lr': 0.0025, 'weight_decay': 0.0},  # layer 1 biases: 0.bias" in text
    assert "{'params': [params[0], params[1], params[2], params[3]], 'lr': 0.010000000000000002},  # backbone" in text
    assert "max_lr=[g['lr'] for g in optimizer.param_groups]" in text
    script = tmp_path / "live.py"
    script.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "live.py", "--out", "curves.npz"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(tmp_path / "curves.npz") as f:
        out = {k: f[k] for k in f.files}
    assert out["loss"].shape == (3, STEPS)
    for i, run in enumerate(race.runs):
        for key in ("loss", "lr", "grad_norm"):
            assert_same(out[key][i], run.history[key], rtol=1e-9, err_msg=f"run {i + 1}: {key}")
        assert_same(out["test_loss"][i], run.evals["test_loss"], rtol=1e-9, err_msg=f"run {i + 1}: test loss")


def test_a_schedule_the_script_cannot_give_per_group_is_refused(data):
    from app.exports.live_script import live_script

    cfg = T.TrainingRunConfig("Adam", {"lr": 0.01}, groups=G.GroupSpec("layerwise"), schedule="WarmupPolynomial",
                              schedule_params={"end_lr": 0.001})
    race = T.Race(*data, [cfg], model=SPEC)
    with pytest.raises(ValueError, match="Run 1 .*only end_lr = 0 is exported"):
        live_script(race, steps=0)
