"""The debugging panel's numbers (app.training.diagnostics), each recomputed here from the model with torch."""

from __future__ import annotations

import numpy as np
import pytest

from app.training import diagnostics as D
from app.training.datasets import make_dataset, train_test_split
from tests.asserts import assert_same

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")

from app.training import backend as T  # noqa: E402

SPEC = T.ModelSpec(2, 8, "relu")  # layers 1, 2, 3 (the head)


@pytest.fixture(scope="module")
def data():
    X, y = make_dataset("moons", n=100, noise=0.2, seed=5)
    return train_test_split(X, y, test_fraction=0.2, seed=5)


def _layers(model):
    """[(W, b)] of each Linear layer, as float64 arrays."""
    ps = [p.detach().numpy().astype(np.float64).copy() for p in model.parameters()]
    return list(zip(ps[::2], ps[1::2]))


def test_per_layer_gradient_norms_and_update_ratios(data):
    # Clipped hard, so the optimizer sees other gradients than the raw ones the panel shows.
    race = T.Race(*data, [T.TrainingRunConfig("SGD", {"lr": 0.3, "momentum": 0.9}, clip_norm=0.05)], model=SPEC,
                  dtype="float64")
    run = race.runs[0]
    X, y = torch.from_numpy(race.X_train), torch.from_numpy(race.y_train)
    grads, ratios = [], []
    for _ in range(12):
        before = _layers(run.model)
        ref = T.build_mlp(SPEC, dtype="float64")
        with torch.no_grad():
            for t, v in zip(ref.parameters(), [a for wb in before for a in wb]):
                t.copy_(torch.from_numpy(v))
        torch.nn.functional.cross_entropy(ref(X), y).backward()
        g = [p.grad.numpy() for p in ref.parameters()]
        grads.append([np.sqrt(np.sum(gw ** 2) + np.sum(gb ** 2)) for gw, gb in zip(g[::2], g[1::2])])
        race.train(1)
        after = _layers(run.model)
        ratios.append([np.log10(np.sqrt(np.sum((w1 - w0) ** 2) + np.sum((b1 - b0) ** 2))
                                / np.sqrt(np.sum(w1 ** 2) + np.sum(b1 ** 2)))
                       for (w0, b0), (w1, b1) in zip(before, after)])
    m = run.monitor
    assert_same(m.steps, np.arange(1, 13, dtype=np.float32), rtol=0)
    assert_same(m.grad_norms, np.array(grads, dtype=np.float32), rtol=2e-6)
    assert_same(m.update_ratios, np.array(ratios, dtype=np.float32), rtol=2e-6)
    # Raw, not clipped: the total of the layers' norms is the history's grad_norm, over the clip.
    assert_same(np.sqrt((m.grad_norms.astype(np.float64) ** 2).sum(axis=1)), run.history["grad_norm"], rtol=1e-6)
    assert (run.history["grad_norm"] > 0.05).all()


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dead_units_on_the_training_set(data, activation):
    spec = T.ModelSpec(2, 8, activation)
    race = T.Race(*data, [T.TrainingRunConfig("Adam", {"lr": 0.01})], model=spec, dtype="float64")
    run = race.runs[0]
    with torch.no_grad():  # switch three units of layer 1 and one of layer 2 off (saturated, for tanh)
        run.model[0].bias[:3] = -50.0
        run.model[2].bias[5] = -50.0
    counted = run.monitor.n_dead
    for _ in range(D.DEAD_EVERY):  # counted at every DEAD_EVERY-th evaluation (the first at step 0)
        run.evaluate(race._eval_data)
    assert run.monitor.n_dead == counted + 1
    X = race.X_train.astype(np.float64)
    (W1, b1), (W2, b2), _ = _layers(run.model)
    z1 = X @ W1.T + b1
    h1 = np.maximum(z1, 0) if activation == "relu" else np.tanh(z1)
    z2 = h1 @ W2.T + b2
    if activation == "relu":
        expected = [(z <= 0).all(axis=0).mean() for z in (z1, z2)]
    else:
        expected = [(np.abs(z) > 3).all(axis=0).mean() for z in (z1, z2)]
    m = run.monitor
    assert m.dead_word == ("dead" if activation == "relu" else "saturated")
    assert_same(m.dead[-1], np.array(expected, dtype=np.float32), rtol=0)
    assert m.dead[-1][0] >= 3 / 8 and m.dead[-1][1] >= 1 / 8
    assert "layer 1: " in D.describe(run)["dead"]


def test_a_nan_in_the_weights_is_found_in_the_forward_pass_of_its_layer(data):
    race = T.Race(*data, [T.TrainingRunConfig("Adam", {"lr": 0.01})], model=SPEC)
    run = race.runs[0]
    race.train(3)
    with torch.no_grad():
        run.model[2].weight[1, 1] = float("nan")  # layer 2
    race.train(1)
    nf = run.monitor.nonfinite
    assert run.diverged and nf == D.NonFinite(4, "forward", 2, "nan")
    assert "forward pass of step 4: layer 2's output became nan" in nf.text()


def test_an_update_that_makes_weights_non_finite_is_named(data):
    race = T.Race(*data, [T.TrainingRunConfig("SGD", {"lr": 0.1})], model=SPEC)
    run = race.runs[0]
    race.train(2)
    m = run.monitor
    m.before_step(run)
    run.adapter.params[4].data[0, 0] = np.inf  # as if step 3's update overflowed layer 3's weights
    run.step += 1
    m.after_step(run)
    assert m.nonfinite == D.NonFinite(3, "weights", 3, "inf")
    assert "weights of layer 3 became inf in the update of step 3" in m.nonfinite.text()


def test_a_non_finite_gradient_names_its_layer(data):
    race = T.Race(*data, [T.TrainingRunConfig("Adam", {"lr": 0.01})], model=SPEC)
    run = race.runs[0]
    run.model[4].weight.register_hook(lambda g: g * float("inf"))  # only the head's weight gradient
    race.train(1)
    assert run.diverged
    nf = run.monitor.nonfinite
    assert (nf.step, nf.where, nf.layer) == (1, "gradients", 3) and nf.value in ("inf", "-inf", "nan")


def test_too_high_a_learning_rate_fires_the_detector_and_the_checklist():
    X, y = make_dataset("moons", n=512, noise=0.15, seed=0)
    data = train_test_split(X, y, test_fraction=0.2, seed=0)
    race = T.Race(*data, [T.TrainingRunConfig("SGD", {"lr": 2.0, "momentum": 0.99})], model=T.ModelSpec(4, 32, "relu"))
    race.train(200)
    run = race.runs[0]
    assert run.diverged and run.monitor.nonfinite is not None
    assert run.monitor.nonfinite.step == run.step + 1  # the step that could not be taken
    findings = D.checklist(run)
    assert findings[0].item == "Loss exploding" and findings[0].alarm
    assert "Lower the learning rate" in findings[0].hint


def test_a_tiny_learning_rate_reads_as_slow_convergence(data):
    race = T.Race(*data, [T.TrainingRunConfig("SGD", {"lr": 1e-5})], model=SPEC, eval_every=5)
    race.train(60)
    items = [f.item for f in D.checklist(race.runs[0])]
    assert "Slow convergence" in items and "Loss not decreasing" in items
    assert "Loss exploding" not in items


def test_the_panel_draws_a_bounded_number_of_points(data):
    race = T.Race(*data, [T.TrainingRunConfig("Adam", {"lr": 0.01}), T.TrainingRunConfig("SGD", {"lr": 0.1})],
                  model=SPEC)
    race.train(D.MAX_PANEL_POINTS * 3)
    fig = D.panel_figure(race)
    lines = [t for t in fig.data]
    assert len(lines) == 2 * 2 * 3  # runs x (norm, ratio) x layers
    for t in lines:
        assert len(t.x) <= D.MAX_PANEL_POINTS and t.x[-1] == race.step
        assert np.asarray(t.y).dtype == np.float32
    assert D.thin(10, 300).tolist() == list(range(10))
