"""The Live Training backend: adapter ≡ torch.optim, fair races, clipping, accumulation, pause/resume."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from app.training import backend as T
from app.training.datasets import make_dataset, train_test_split
from optim_core import registry
from tests.asserts import assert_same

torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def data():
    X, y = make_dataset("moons", n=320, noise=0.2, seed=0)
    return train_test_split(X, y, test_fraction=0.2, seed=0)  # 256 train, 64 test


@pytest.fixture
def float64_default():
    # torch keeps scalar state such as NAdam's mu_product in the default dtype; float64
    # makes torch's arithmetic as precise as ours, so the comparison can be tight.
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def race(data, *runs, **kw):
    return T.Race(*data, list(runs), **kw)


def assert_same_history(a, b):
    for mine, other in ((a.history, b.history), (a.evals, b.evals)):
        assert mine.keys() == other.keys()
        for k in mine:
            np.testing.assert_array_equal(mine[k], other[k])


TORCH_TWINS = [name for name in registry.optimizers() if T.torch_optimizer_class(name) is not None]


def test_importing_the_backend_does_not_import_torch():
    code = "import sys, app.training.backend, app.training.datasets, app.memory.model; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_torch_twins_include_adam_and_sgd():
    assert {"Adam", "SGD"} <= set(TORCH_TWINS)


def test_the_registry_declares_the_torch_twins_the_installed_torch_has():
    # torch_twin is declared once, in the registry; torch.optim must have each twin, with our keywords
    # (which the backend checks too), and have no other class of the same name and keywords.
    import inspect

    torch = T.import_torch()
    for name, info in registry.optimizers().items():
        cls = getattr(torch.optim, name, None)
        same = (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)
                and set(info.cls.keywords()) <= set(inspect.signature(cls.__init__).parameters))
        assert info.torch_twin == same, name
        assert (T.torch_optimizer_class(name) is cls) if same else T.torch_optimizer_class(name) is None


def test_torch_available_honours_the_env_var_and_a_missing_module(monkeypatch):
    assert T.torch_available()
    monkeypatch.setenv(T.DISABLE_ENV, "1")
    assert not T.torch_available()
    assert not T.torch_backend_available("Adam")
    monkeypatch.delenv(T.DISABLE_ENV)
    monkeypatch.setitem(sys.modules, "torch", None)  # what `import torch` sees when it is not installed
    assert not T.torch_available()


def test_adapter_shares_memory_both_ways():
    model = T.build_mlp(T.ModelSpec(1, 4, "relu"), seed=3)
    adapter = T.ParameterAdapter(model)
    first, p = adapter.tensors[0], adapter.params[0]
    np.testing.assert_array_equal(p.data, first.detach().numpy())
    p.data -= 1.0  # an optim_core kernel updates in place...
    np.testing.assert_array_equal(first.detach().numpy(), p.data)  # ...and torch sees it
    x = torch.randn(8, 2)
    adapter.zero_grad()
    torch.nn.functional.cross_entropy(model(x), torch.zeros(8, dtype=torch.long)).backward()
    adapter.sync_grads()
    assert first.grad.data_ptr() == adapter._grad_ptrs[0]  # backward accumulated into the shared buffer
    np.testing.assert_array_equal(p.grad, first.grad.numpy())
    assert adapter.grad_norm() > 0


def test_adapter_copies_a_gradient_torch_did_not_write_in_place():
    model = T.build_mlp(T.ModelSpec(1, 4, "relu"), seed=0)
    adapter = T.ParameterAdapter(model)
    t, p = adapter.tensors[1], adapter.params[1]
    t.grad = torch.full_like(t, 2.0)  # e.g. a hook or a torch version that replaced .grad
    adapter.tensors[0].grad = None
    adapter.params[2].grad = None  # as optim_core's zero_grad(set_to_none=True) would
    adapter.sync_grads()
    assert adapter.params[2].grad is not None and np.shares_memory(adapter.params[2].grad, adapter.flat_grad)
    np.testing.assert_array_equal(p.grad, 2.0)
    np.testing.assert_array_equal(adapter.params[0].grad, 0.0)
    assert t.grad.data_ptr() == adapter._grad_ptrs[1]  # the shared buffer is back in place


def test_same_seed_gives_same_network():
    spec = T.ModelSpec(2, 8, "tanh")
    a, b, c = (T.build_mlp(spec, seed=s) for s in (1, 1, 2))
    for x, y, z in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(x, y)
        assert not torch.equal(x, z)


@pytest.mark.parametrize("name", TORCH_TWINS)
def test_adapter_equals_torch_optim_float64(name, data, float64_default):
    hp = {} if name == "Adadelta" else {"lr": 0.01}
    if "momentum" in registry.get_optimizer(name).defaults():
        hp["momentum"] = 0.9
    r = race(data, T.TrainingRunConfig(name, hp), T.TrainingRunConfig(name, hp, backend="torch"), dtype="float64",
             batch_size=64)
    r.train(50)
    ours, theirs = r.runs
    assert_same(ours.adapter.flat, theirs.adapter.flat, rtol=1e-9, atol=1e-12)
    assert_same(np.asarray(ours.history["loss"]), np.asarray(theirs.history["loss"]), rtol=1e-9)
    assert ours.adapter.flat.dtype == np.float64


@pytest.mark.parametrize("name,hp", [("Adam", {"lr": 0.01}), ("SGD", {"lr": 0.1, "momentum": 0.9})])
def test_adapter_equals_torch_optim_float32(name, hp, data):
    r = race(data, T.TrainingRunConfig(name, hp), T.TrainingRunConfig(name, hp, backend="torch"), batch_size=64)
    r.train(50)
    ours, theirs = r.runs
    assert ours.adapter.flat.dtype == np.float32
    assert_same(ours.adapter.flat, theirs.adapter.flat, rtol=1e-5, atol=1e-5)
    assert_same(np.asarray(ours.evals["test_loss"]), np.asarray(theirs.evals["test_loss"]), rtol=1e-5)


def test_same_seed_same_run(data):
    cfg = T.TrainingRunConfig("Adam", {"lr": 0.02})
    a, b = race(data, cfg, batch_size=32, seed=5), race(data, cfg, batch_size=32, seed=5)
    a.train(30)
    b.train(30)
    assert_same_history(a.runs[0], b.runs[0])
    np.testing.assert_array_equal(a.runs[0].adapter.flat, b.runs[0].adapter.flat)
    c = race(data, cfg, batch_size=32, seed=6)
    c.train(30)
    assert not np.array_equal(c.runs[0].history["loss"], a.runs[0].history["loss"])


def test_race_shares_the_initialization_and_the_batches(data):
    r = race(
        data,
        T.TrainingRunConfig("SGD", {"lr": 0.1}),
        T.TrainingRunConfig("Adam", {"lr": 0.01}, backend="torch"),
        T.TrainingRunConfig("Lion", {"lr": 1e-3}, accumulate=2),
        batch_size=48,
        record_batches=True,
    )
    initial = [run.state_dict() for run in r.runs]
    for other in initial[1:]:
        assert other.keys() == initial[0].keys()
        for k in initial[0]:
            assert torch.equal(initial[0][k], other[k])
    r.train(12)  # more than two epochs of 256 points in batches of 48 for the accumulating run
    sgd, adam, lion = (run.batch_log for run in r.runs)
    assert len(sgd) == 12 and len(lion) == 24
    for a, b in zip(sgd, adam):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(sgd, lion):  # the accumulating run reads the same stream, k at a time
        np.testing.assert_array_equal(a, b)
    epoch0 = np.concatenate(sgd[: r.batches_per_epoch])
    assert sorted(epoch0.tolist()) == list(range(len(data[1])))  # one epoch covers each point once
    assert not np.array_equal(sgd[0], sgd[r.batches_per_epoch])  # and the next epoch is reshuffled


def test_clipping_records_the_norm_before_and_after(data):
    r = race(data, T.TrainingRunConfig("SGD", {"lr": 0.5}, clip_norm=0.05), T.TrainingRunConfig("SGD", {"lr": 0.5}),
             batch_size=16)
    r.train(40)
    clipped, free = (run.history_arrays() for run in r.runs)
    assert np.all(clipped["grad_norm_clipped"] <= 0.05 + 1e-6)
    assert np.any(clipped["grad_norm"] > 0.05)
    big = clipped["grad_norm"] > 0.05
    np.testing.assert_allclose(clipped["grad_norm_clipped"][big], 0.05, rtol=1e-4)
    np.testing.assert_array_equal(free["grad_norm_clipped"], free["grad_norm"])


@pytest.mark.parametrize("backend", ["optim_core", "torch"])
def test_accumulating_k_micro_batches_equals_one_k_times_larger_batch(data, backend, float64_default):
    k, b = 4, 16  # 256 training points: 4 epochs in 16 steps, batch boundaries aligned
    acc = race(data, T.TrainingRunConfig("SGD", {"lr": 0.2}, backend=backend, accumulate=k), batch_size=b,
               dtype="float64")
    big = race(data, T.TrainingRunConfig("SGD", {"lr": 0.2}, backend=backend), batch_size=k * b, dtype="float64")
    acc.train(16)
    big.train(16)
    np.testing.assert_allclose(acc.runs[0].adapter.flat, big.runs[0].adapter.flat, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(acc.runs[0].history["loss"], big.runs[0].history["loss"], rtol=1e-10)


def test_pause_and_resume_continue_the_same_run(data):
    cfgs = [T.TrainingRunConfig("Adam", {"lr": 0.01}),
            T.TrainingRunConfig("SGD", {"lr": 0.1, "momentum": 0.9}, backend="torch")]
    a, b = race(data, *cfgs, batch_size=40), race(data, *cfgs, batch_size=40)
    a.train(10)
    a.train(10)
    b.train(20)
    for ra, rb in zip(a.runs, b.runs):
        assert ra.step == rb.step == 20
        assert_same_history(ra, rb)
        np.testing.assert_array_equal(ra.adapter.flat, rb.adapter.flat)


def test_history_and_evaluation_schedule(data):
    r = race(data, T.TrainingRunConfig("Adam", {"lr": 0.02}), eval_every=5)
    r.train(23)
    r.train(300)  # past the first growth of the history's storage
    run = r.runs[0]
    h = run.history_arrays()
    assert h["step"].tolist() == list(range(1, 324))
    assert run.evals["step"].tolist() == list(range(0, 324, 5))
    assert run.last("test_acc") == run.evals["test_acc"][-1] and run.last("loss") == h["loss"][-1]
    assert set(run.history) == {"step", "loss", "lr", "grad_norm", "grad_norm_clipped", "weight_norm"}
    assert np.all((h["eval_test_acc"] >= 0) & (h["eval_test_acc"] <= 1))
    np.testing.assert_allclose(h["lr"], 0.02)
    assert run.evals["train_loss"][-1] < run.evals["train_loss"][0]


@pytest.mark.parametrize("name", list(registry.optimizers()))
def test_every_registry_optimizer_steps_the_mlp(name, data):
    r = race(data, T.TrainingRunConfig(name), batch_size=64)
    before = r.runs[0].adapter.flat.copy()
    r.train(25)
    run = r.runs[0]
    assert not run.diverged, run.diverged
    assert run.step == 25
    assert np.all(np.isfinite(run.adapter.flat))
    assert not np.array_equal(before, run.adapter.flat)
    assert np.all(np.isfinite(run.history["loss"]))


def test_decoupled_weight_decay_shrinks_the_weights(data):
    r = race(data, T.TrainingRunConfig("AdamW", {"lr": 0.01, "weight_decay": 0.0}),
             T.TrainingRunConfig("AdamW", {"lr": 0.01, "weight_decay": 0.5}), batch_size=64)
    r.train(150)
    free, decayed = (run.history["weight_norm"][-1] for run in r.runs)
    assert decayed < free


def test_schedule_sets_the_lr_every_step_for_both_backends(data):
    # StepLR(step_size=15, gamma=0.5) from lr 0.05 over 40 steps, written out: 0.05 for steps
    # 0-14, 0.025 for 15-29, 0.0125 for 30-39; after schedule_steps the last lr is kept.
    expected = np.array([0.05] * 15 + [0.025] * 15 + [0.0125] * 10 + [0.0125] * 10)
    cfgs = [T.TrainingRunConfig("SGD", {"lr": 0.05}, backend=be, schedule="StepLR",
                        schedule_params={"step_size": 15, "gamma": 0.5}, schedule_steps=40) for be in T.BACKENDS]
    r = race(data, *cfgs)
    r.train(50)
    for run in r.runs:
        assert_same(np.asarray(run.history["lr"], dtype=np.float64), expected, rtol=1e-15)
    np.testing.assert_allclose(r.runs[0].adapter.flat, r.runs[1].adapter.flat, rtol=1e-5, atol=1e-6)


def test_a_callable_schedule_and_momentum_cycling(data):
    r = race(data, T.TrainingRunConfig("SGD", {"lr": 0.1}, schedule=lambda n, lr: lr * np.linspace(1, 0, n),
                                       schedule_steps=11))
    r.train(12)
    np.testing.assert_allclose(r.runs[0].history["lr"], [0.1 * (1 - i / 10) for i in range(11)] + [0.0], atol=1e-12)
    if "OneCycleLR" in registry.schedules():
        r = race(data, T.TrainingRunConfig("Adam", {"lr": 0.01}, schedule="OneCycleLR", schedule_steps=20))
        r.train(5)
        assert r.runs[0].optimizer.param_groups[0]["betas"][0] != 0.9  # β₁ follows the cycled momentum


def test_divergence_stops_the_run_not_the_race(data):
    r = race(data, T.TrainingRunConfig("SGD", {"lr": 10.0, "momentum": 0.999}),
             T.TrainingRunConfig("Adam", {"lr": 0.01}), batch_size=8, model=T.ModelSpec(4, 64, "relu"))
    with np.errstate(all="ignore"):
        r.train(100)
    bad, good = r.runs
    assert "Lower the learning rate" in bad.diverged
    assert bad.step < 100 and len(bad.history["loss"]) == bad.step
    assert good.step == 100 and not good.diverged
    with np.errstate(all="ignore"):
        r.decision_grid(bad, n=10)  # drawing a diverged run must not raise


def test_decision_grid_covers_the_data(data):
    r = race(data, T.TrainingRunConfig("Adam", {"lr": 0.05}))
    r.train(100)
    g = r.decision_grid(0, n=50)
    assert g["prob"].shape == (50, 50)
    assert np.all((g["prob"] >= 0) & (g["prob"] <= 1))
    X = np.concatenate([data[0], data[2]])
    assert g["x"][0] < X[:, 0].min() and g["x"][-1] > X[:, 0].max()
    assert g["y"][0] < X[:, 1].min() and g["y"][-1] > X[:, 1].max()
    # The grid agrees with the model's accuracy: the sign of prob - 0.5 near training points.
    assert r.runs[0].evals["train_acc"][-1] > 0.8


@pytest.mark.parametrize(
    "cfg,match",
    [
        (T.TrainingRunConfig("Lion", backend="torch"), "torch.optim has no Lion"),
        (T.TrainingRunConfig("Adam", {"nonsense": 1.0}), "no hyperparameter"),
        (T.TrainingRunConfig("Adam", {"lr": -1.0}), "Invalid learning rate"),
        (T.TrainingRunConfig("Adam", accumulate=0), "at least 1"),
        (T.TrainingRunConfig("Adam", clip_norm=0.0), "clipping norm"),
        (T.TrainingRunConfig("Adam", backend="jax"), "backend"),
    ],
)
def test_invalid_configurations_raise_value_errors_with_a_reason(cfg, match, data):
    with pytest.raises(ValueError, match=match):
        race(data, cfg)


def test_model_spec_validation():
    with pytest.raises(ValueError):
        T.ModelSpec(hidden_layers=5)
    with pytest.raises(ValueError):
        T.ModelSpec(width=1)
    with pytest.raises(ValueError):
        T.ModelSpec(activation="swish")
    assert T.ModelSpec(2, 32).n_params == 2 * 32 + 32 + 32 * 32 + 32 + 32 * 2 + 2
    assert T.ModelSpec(0, 8).sizes == [2, 2]


def test_bench_training_measures_every_optimizer():
    from app.training import bench as bench_training

    res = bench_training.bench_training(seconds=0.02, warmup=2, repeats=1)
    assert set(registry.optimizers()) <= set(res)
    assert {"torch.optim Adam", "torch.optim SGD"} <= set(res)
    assert all(v > 0 for v in res.values())
