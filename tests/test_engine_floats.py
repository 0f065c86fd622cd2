"""The engine's float path (a few trajectories, stepped in Python floats) equals its array path.

Both paths fill the same records; these tests run each request twice, once with the float
path allowed and once with it switched off, and require every recorded number to be equal
(not close): the kernels and the surfaces' expressions are the same functions on both.
"""

import numpy as np
import pytest

import optim_core
from optim_core import _engine_floats, registry
from optim_core.engine import RunSpec, run_trajectories
from optim_core.stochastic import StochasticGradient
from optim_core.surfaces.custom import CustomSurface

FLOAT_OPTIMIZERS = [name for name, info in registry.optimizers().items() if info.runs_on_floats]

# Configurations that switch every branch of the converted kernels on at least once.
FLAGS = {
    "SGD": [{"lr": 1e-3}, {"lr": 1e-3, "momentum": 0.9}, {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
            {"lr": 5e-4, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1}],
    "Adam": [{}, {"lr": 0.05, "amsgrad": True, "weight_decay": 0.01},
             {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}],
    "AdamW": [{"lr": 0.02}, {"lr": 0.02, "amsgrad": True}],
    "RMSprop": [{}, {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 0.01}],
    "Adagrad": [{}, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.5, "weight_decay": 0.05}],
    "Adadelta": [{}, {"lr": 0.5, "rho": 0.8, "weight_decay": 0.01}],
    "NAdam": [{}, {"lr": 0.01, "weight_decay": 0.05, "decoupled_weight_decay": True}],
    "RAdam": [{}, {"lr": 0.01, "weight_decay": 0.05}],
    "Adamax": [{}, {"lr": 0.01, "weight_decay": 0.05}],
    "Lion": [{}, {"lr": 3e-4, "weight_decay": 0.1}],
}


def _both(monkeypatch, *args, **kwargs):
    """The same request on the float path and on the array path."""
    calls = []
    real = _engine_floats.step_on_floats
    monkeypatch.setattr(_engine_floats, "step_on_floats", lambda *a, **k: calls.append(1) or real(*a, **k))
    on_floats = run_trajectories(*args, **kwargs)
    assert calls, "the float path was not taken"
    monkeypatch.setattr(_engine_floats, "FLOAT_PATH_MAX_ROWS", 0)
    on_arrays = run_trajectories(*args, **kwargs)
    assert len(calls) == 1, "the float path was taken though switched off"
    monkeypatch.undo()
    return on_floats, on_arrays


def _assert_same(a, b, skip_states=()):
    for field in ("positions", "losses", "grads", "raw_grads", "updates", "lrs", "final_positions",
                  "final_losses", "diverged_step", "steps_to_threshold", "path_length"):
        x, y = getattr(a, field), getattr(b, field)
        if x is None or y is None:
            assert x is None and y is None, field
            continue
        np.testing.assert_array_equal(x, y, err_msg=field)
    assert a.diverged_reason.tolist() == b.diverged_reason.tolist()
    assert [sorted(s) for s in a.states] == [sorted(s) for s in b.states]
    for sa, sb in zip(a.states, b.states):
        for key in set(sa) - set(skip_states):
            np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


def test_every_converted_kernel_is_covered():
    assert set(FLOAT_OPTIMIZERS) == set(FLAGS)


@pytest.mark.parametrize("name", FLOAT_OPTIMIZERS)
@pytest.mark.parametrize("surface_name", ["Rosenbrock", "Himmelblau", "Ackley"])
def test_float_path_equals_array_path(monkeypatch, name, surface_name):
    surface = registry.get_surface(surface_name).make()
    start = np.asarray(surface.starts[0], dtype=np.float64)
    for hp in FLAGS[name]:
        a, b = _both(monkeypatch, surface, [RunSpec(name, hp)], start, 300, record="full")
        _assert_same(a, b)
        assert a.states[0] or (name == "SGD" and not hp.get("momentum"))
    # All configurations in one request: one group whose hyperparameters differ per row.
    specs = [RunSpec(name, hp, label=str(i)) for i, hp in enumerate(FLAGS[name])]
    a, b = _both(monkeypatch, surface, specs, start, 300, record="full")
    # In a group whose momentum is an array, a momentum-0 row still gets a buffer (equal to
    # its gradient, never used); on floats, as in a run of its own, it has none.
    _assert_same(a, b, skip_states=("momentum_buffer",) if name == "SGD" else ())


def test_the_default_scene_takes_the_float_path_and_matches(monkeypatch):
    surface = registry.get_surface("Rosenbrock").make()
    specs = [RunSpec(n) for n in ("SGD", "Adam", "RMSprop", "Adagrad", "Lion", "NAdam")]
    a, b = _both(monkeypatch, surface, specs, surface.starts[0], 500, record="full")
    _assert_same(a, b)
    a, b = _both(monkeypatch, surface, specs, surface.starts[0], 500, record="path")
    _assert_same(a, b)


def test_groups_with_per_row_hyperparameters_and_sweeps(monkeypatch):
    surface = registry.get_surface("Six-hump camel").make()
    starts = np.array([[1.5, 0.5]])
    specs = [RunSpec("SGD", {"lr": 0.01, "momentum": np.array([0.0, 0.9])}),
             RunSpec("SGD", {"lr": np.array([0.02, 0.005]), "momentum": 0.5}),
             RunSpec("Adam", {"lr": np.array([0.05, 0.1]), "beta1": np.array([0.8, 0.95])})]
    a, b = _both(monkeypatch, surface, specs, starts, 200, record="full")
    _assert_same(a, b, skip_states=("momentum_buffer",))  # see test_float_path_equals_array_path
    np.testing.assert_array_equal(a.states[1]["momentum_buffer"], b.states[1]["momentum_buffer"])


@pytest.mark.parametrize("schedule", [("CosineAnnealingLR", {"T_max": 250}), ("OneCycleLR", {}),
                                      ("StepLR", {"step_size": 30}),
                                      ("WarmupCosine", {"warmup_steps": 25, "total_steps": 250})])
def test_schedules_on_the_float_path(monkeypatch, schedule):
    surface = registry.get_surface("Rosenbrock").make()
    specs = [RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9}, schedule=schedule),
             RunSpec("Adam", {"lr": 0.05}, schedule=schedule), RunSpec("RMSprop", {"lr": 1e-3})]
    a, b = _both(monkeypatch, surface, specs, surface.starts[0], 250, record="full")
    _assert_same(a, b)


def test_divergence_is_the_same_on_both_paths(monkeypatch):
    surface = registry.get_surface("Quadratic bowl").make()
    specs = [RunSpec("SGD", {"lr": 10.0}), RunSpec("Adam", {"lr": 0.1}), RunSpec("Adagrad", {"lr": 0.5})]
    a, b = _both(monkeypatch, surface, specs, [1.0, 1.0], 200, record="full")
    _assert_same(a, b)
    assert a.diverged_step[0, 0] > 0 and "left the region" in a.diverged_reason[0, 0]
    assert not a.diverged[1:].any()
    # A loss that overflows inside a generous bound: the other kind of divergence.
    surface.bound = 1e300
    a, b = _both(monkeypatch, surface, specs, [1.0, 1.0], 200, record="full")
    _assert_same(a, b)
    assert set(a.diverged_reason[0].tolist()) <= {"the loss became infinite or NaN", "the position became infinite or NaN"}
    assert a.diverged_step[0, 0] > 0


def test_float_path_equals_the_torch_shaped_class():
    surface = registry.get_surface("Rosenbrock").make()
    start = np.array(surface.starts[0])
    for name in FLOAT_OPTIMIZERS:
        hp = FLAGS[name][-1]
        tr = run_trajectories(surface, [RunSpec(name, hp)], start, 100)
        info = registry.get_optimizer(name)
        p = optim_core.Parameter(start.copy())
        opt = info.cls([p], **info.cls.keywords(hp))
        last = tr.diverged_step[0, 0] - 1 if tr.diverged[0, 0] else 100
        assert last >= 2
        for t in range(last):
            p.grad = surface.grad(p.data)
            opt.step()
            np.testing.assert_array_equal(tr.positions[0, 0, t + 1], p.data, err_msg=f"{name} step {t + 1}")


@pytest.mark.parametrize("noise", [dict(noise_scale=0.1, seed=1), dict(noise_scale=2.0, seed=7),
                                   dict(noise_scale=0.0, seed=3), dict(noise_scale=0.1, batch_size=64, seed=2)])
def test_additive_noise_on_the_float_path(monkeypatch, noise):
    # Gaussian gradient noise is drawn ahead for every step and added on floats: the same numbers as
    # the array loop, for several runs meeting the same noise, and one that diverges.
    surface = registry.get_surface("Rosenbrock").make()
    specs = [RunSpec("Adam", {"lr": 0.05}), RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9}), RunSpec("Lion", {"lr": 0.01}),
             RunSpec("SGD", {"lr": 0.02, "momentum": 0.5})]
    sg = StochasticGradient(surface, **noise)
    a, b = _both(monkeypatch, surface, specs, [[-1.2, 1.0]], 300, oracle=sg)
    _assert_same(a, b)
    assert a.diverged[3, 0] and not a.diverged[:3].any()
    assert a.positions.shape == (4, 1, 301, 2) and a.positions.dtype == np.float64
    # It is noisy where it should be: the recorded gradient is not the exact one.
    exact = surface.value_and_grad(a.positions[0, 0, :-1])[1]
    assert np.array_equal(a.grads[0, 0], exact) == (noise["noise_scale"] == 0.0)


@pytest.mark.parametrize("case", ["minibatch noise", "clip_norm", "clip_value", "lookahead", "plateau", "summary", "float32",
                                  "formula", "lamb", "many rows"])
def test_what_the_float_path_leaves_to_arrays(monkeypatch, case):
    surface = registry.get_surface("Rosenbrock").make()
    spec, kwargs, starts = RunSpec("Adam", {"lr": 0.01}), {}, [[-1.2, 1.0]]
    if case == "minibatch noise":
        kwargs["oracle"] = StochasticGradient(surface, noise_scale=0.1, batch_size=8, seed=1)
    elif case == "clip_norm":
        spec = RunSpec("Adam", {"lr": 0.01}, clip_norm=1.0)
    elif case == "clip_value":
        spec = RunSpec("Adam", {"lr": 0.01}, clip_value=1.0)
    elif case == "lookahead":
        spec = RunSpec("Adam", {"lr": 0.01}, lookahead=(5, 0.5))
    elif case == "plateau":
        spec = RunSpec("Adam", {"lr": 0.01}, schedule=("ReduceLROnPlateau", {}))
    elif case == "summary":
        kwargs["record"] = "summary"
    elif case == "float32":
        kwargs["dtype"] = np.float32
    elif case == "formula":
        surface = CustomSurface("x**2 + 10*y**2")
    elif case == "lamb":
        spec = RunSpec("LAMB", {"lr": 0.01})
    elif case == "many rows":
        starts = np.random.default_rng(0).uniform(-1, 1, (_engine_floats.FLOAT_PATH_MAX_ROWS + 1, 2))
    monkeypatch.setattr(_engine_floats, "step_on_floats", lambda *a, **k: pytest.fail("took the float path"))
    run_trajectories(surface, [spec], starts, 20, **kwargs)


@pytest.mark.parametrize("surface_name", sorted(registry.surfaces()))
def test_every_surface_on_the_float_path(monkeypatch, surface_name):
    # Each surface's _fg runs on Python floats here (some return NumPy scalars or 0-d
    # arrays from np.where): the records must still equal the array path's.
    surface = registry.get_surface(surface_name).make()
    specs = [RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9}), RunSpec("Adam", {"lr": 0.05})]
    starts = np.asarray(surface.starts[:2], dtype=np.float64)
    a, b = _both(monkeypatch, surface, specs, starts, 120, record="full")
    _assert_same(a, b)
