"""Kernels with ``runs_on_floats``: one coordinate as Python floats equals a float64 array, bit for bit.

The trajectory engine's fast path for tiny problems calls the same update functions on
Python floats, one coordinate at a time. These tests run every such kernel on a (3, 2)
float64 array and, independently, on each of its 6 coordinates as floats, and require
identical params and state buffers (``==``, and the same sign of zero) along the way.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from optim_core import registry

EXPECTED_ON_FLOATS = {"SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam", "RAdam", "Adamax", "Lion"}

# Several configurations per optimizer; test_configs_cover_every_flag checks that each
# bool hyperparameter is both on and off, and each float knob non-default, somewhere.
CONFIGS = {
    "SGD": [
        {"lr": 0.05},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
        {"lr": 0.02, "momentum": 0.5, "dampening": 0.3, "weight_decay": 0.01},
    ],
    "Adagrad": [
        {},
        {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.3},
        {"eps": 1e-3, "initial_accumulator_value": 1e-12},
    ],
    "RMSprop": [
        {},
        {"centered": True},
        {"momentum": 0.9, "weight_decay": 0.05},
        {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "alpha": 0.9, "eps": 1e-4},
    ],
    "Adadelta": [
        {},
        {"lr": 0.5, "rho": 0.5, "weight_decay": 0.1, "eps": 1e-3},
    ],
    "Adam": [
        {"lr": 0.01},
        {"lr": 0.01, "amsgrad": True},
        {"lr": 0.01, "weight_decay": 0.1, "beta1": 0.5, "beta2": 0.9},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True, "eps": 1e-3},
    ],
    "AdamW": [
        {"lr": 0.01},
        {"lr": 0.01, "amsgrad": True, "weight_decay": 0.3},
        {"lr": 0.01, "weight_decay": 0.0, "beta1": 0.0, "beta2": 0.5, "eps": 1e-2},
    ],
    "NAdam": [
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1, "beta1": 0.8, "beta2": 0.95},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "momentum_decay": 0.05, "eps": 1e-4},
    ],
    "RAdam": [
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.1, "beta2": 0.9},
        {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "beta1": 0.0, "eps": 1e-3},
    ],
    "Adamax": [
        {},
        {"lr": 0.05, "weight_decay": 0.1, "beta1": 0.5, "beta2": 0.9, "eps": 1e-3},
    ],
    "Lion": [
        {"lr": 0.01},
        {"lr": 0.01, "weight_decay": 0.5},
        {"lr": 0.01, "beta1": 0.0, "beta2": 0.5},
    ],
}
CASES = [(name, hp) for name, configs in CONFIGS.items() for hp in configs]
CASE_IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in hp.items()) or 'defaults'}" for name, hp in CASES]
# Plain SGD keeps no state, so it cannot forget any.
STATEFUL_IDS, STATEFUL_CASES = zip(*[(i, c) for i, c in zip(CASE_IDS, CASES) if c != ("SGD", {"lr": 0.05})])

SHAPE = (3, 2)
STEPS = 240
CHECKPOINTS = {1, 2, 3, 10, 60, STEPS}


def _hypers(name, overrides):
    info = registry.get_optimizer(name)
    hp = {**info.defaults(), **overrides}
    hp.pop("maximize")  # apply_update's business, not the kernel's
    return info, hp


def _noise(kind, seed=0):
    """Gradient noise per step: scales from 1e-8 to 1e3 across coordinates and steps, a few exact zeros
    (one coordinate always 0), and for ``"extreme"`` overflow, subnormals, -0.0, inf and a late NaN."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(STEPS,) + SHAPE) * 10.0 ** rng.uniform(-8, 3, size=(STEPS,) + SHAPE)
    noise[rng.random(noise.shape) < 0.05] = 0.0
    noise[:, 1, 0] = 0.0
    noise[::7, 2, 1] = 0.0
    if kind == "extreme":
        noise[4, 0, 0] = 1e200  # g² overflows to inf
        noise[5, 0, 1] = 5e-324  # the smallest subnormal
        noise[6:9, 0, 1] = -0.0
        noise[20, 2, 0] = -np.inf
        noise[150, 1, 1] = np.nan
    return noise


def _grad(noise_t, param):
    # The gradient feeds back on the param (a quadratic bowl plus noise), so any drift compounds.
    return noise_t + 0.5 * param


def _start():
    return np.random.default_rng(1).normal(size=SHAPE)


def _assert_same(array_value, float_values, what):
    """Array value and per-coordinate floats equal, with the same sign of every zero."""
    assert all(v is not None for v in float_values), what + " is None on the float path"
    got = np.array(float_values, dtype=np.float64).reshape(SHAPE)
    want = np.broadcast_to(np.asarray(array_value, dtype=np.float64), SHAPE)
    np.testing.assert_array_equal(got, want, err_msg=what)
    zero = want == 0
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]), err_msg=what + " (sign of zero)")


def _run_both(name, overrides, kind="typical", float_update=None):
    """Run the array path and the float path side by side; compare at CHECKPOINTS.

    ``float_update`` replaces the kernel on the float path only (to check the checker).
    """
    info, hp = _hypers(name, overrides)
    float_update = float_update or info.update
    noise = _noise(kind)
    P = _start()
    S = info.init_state(P, **hp)
    coords = [(i, j) for i in range(SHAPE[0]) for j in range(SHAPE[1])]
    ps = [float(P[c]) for c in coords]
    ss = [info.init_state(p, **hp) for p in ps]
    for t in range(1, STEPS + 1):
        with np.errstate(all="ignore"):
            G = _grad(noise[t - 1], P)
            returned = info.update(P, G, S, t, **hp)
        assert returned is P
        for k, c in enumerate(coords):
            g = _grad(float(noise[t - 1][c]), ps[k])
            ps[k] = float_update(ps[k], g, ss[k], t, **hp)
        if t in CHECKPOINTS:
            for k in range(len(coords)):
                assert type(ps[k]) is float, f"float path returned {type(ps[k]).__name__} at step {t}"
                assert ss[k].keys() == S.keys()
                for key, value in ss[k].items():
                    assert value is None or type(value) is float, f"state[{key!r}] is {type(value).__name__}"
            _assert_same(P, ps, f"{name} param at step {t}")
            for key, value in S.items():
                if value is None:
                    assert all(s[key] is None for s in ss), key
                else:
                    _assert_same(value, [s[key] for s in ss], f"{name} state[{key!r}] at step {t}")


def test_runs_on_floats_is_set_exactly_for_the_converted_kernels():
    on = {name for name, info in registry.optimizers().items() if info.runs_on_floats}
    assert on == EXPECTED_ON_FLOATS
    assert set(CONFIGS) == on, "every kernel that runs on floats needs configurations here"
    for name, info in registry.optimizers().items():
        if name not in EXPECTED_ON_FLOATS:
            assert info.runs_on_floats is False


@pytest.mark.parametrize("name", sorted(EXPECTED_ON_FLOATS))
def test_configs_cover_every_flag(name):
    info = registry.get_optimizer(name)
    configs = [{**info.defaults(), **c} for c in CONFIGS[name]]
    for h in info.hypers:
        if h.name == "maximize":
            continue
        seen = {c[h.name] for c in configs}
        if h.kind == "bool":
            assert seen == {False, True}, f"{name}: {h.name} must be tried on and off"
        elif h.name != "lr":
            assert len(seen) > 1, f"{name}: {h.name} is never changed from its default"


@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("kind", ["typical", "extreme"])
def test_floats_equal_float64_array_bit_for_bit(name, hp, kind):
    _run_both(name, hp, kind)


@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
def test_init_state_on_a_float_gives_floats(name, hp):
    info, hyp = _hypers(name, hp)
    state = info.init_state(0.25, **hyp)
    array_state = info.init_state(np.full(SHAPE, 0.25), **hyp)
    assert state.keys() == array_state.keys()
    for key, value in state.items():
        assert value is None or type(value) is float, key
        if value is not None:
            _assert_same(array_state[key], [value] * 6, key)


@pytest.mark.parametrize("name,hp", CASES, ids=CASE_IDS)
def test_array_path_stays_in_place(name, hp):
    info, hyp = _hypers(name, hp)
    P = _start()
    S = info.init_state(P, **hyp)
    for t in (1, 2):  # SGD creates its momentum buffer at step 1
        buffers = {k: v for k, v in S.items() if isinstance(v, np.ndarray)}
        assert info.update(P, _grad(0.1, P), S, t, **hyp) is P
        for key, buf in buffers.items():
            assert S[key] is buf, f"state[{key!r}] was replaced instead of updated in place"


def _forgetting(update, key):
    """``update`` that drops its new value of ``state[key]``: a kernel missing a write-back."""

    def forgetful(param, grad, state, step, **hp):
        old = state.get(key)
        new_param = update(param, grad, state, step, **hp)
        state[key] = old
        return new_param

    return forgetful


@pytest.mark.parametrize("name,hp", STATEFUL_CASES, ids=STATEFUL_IDS)
def test_a_missing_write_back_is_caught(name, hp):
    info, hyp = _hypers(name, hp)
    state = info.init_state(0.5, **hyp)
    info.update(0.5, 0.1, state, 1, **hyp)
    keys = [k for k, v in state.items() if v is not None]  # SGD's buffer exists with momentum only
    assert keys
    for key in keys:
        with pytest.raises(AssertionError):
            _run_both(name, hp, float_update=_forgetting(info.update, key))


# -- bound_kernel: the engine's way of calling a kernel many times with the same hyperparameters --

@pytest.mark.parametrize("name", sorted(registry.optimizers()))
def test_bound_kernel_steps_exactly_like_apply_update(name):
    from optim_core.optimizer import apply_update, bound_kernel

    info = registry.get_optimizer(name)
    hp = {k: v for k, v in info.defaults().items() if k != "maximize"}
    if "lr" in hp and hp["lr"] is not None:
        hp["lr"] = 0.01
    rng = np.random.default_rng(3)
    p1 = rng.standard_normal((4, 2))
    p2 = p1.copy()
    s1, s2 = info.init_state(p1, **hp), info.init_state(p2, **hp)
    kernel = bound_kernel(info, hp, batch_ndim=1)
    for step in range(1, 30):
        g = rng.standard_normal((4, 2))
        apply_update(info, p1, g, s1, step, hp, batch_ndim=1)
        kernel(p2, g, s2, step)
        np.testing.assert_array_equal(p1, p2)


def test_bound_kernel_binds_defaults_only_where_that_is_exact():
    import functools

    from optim_core.optimizer import bound_kernel

    def keyword_only(p, g, state, step, *, lr, scale=1.0):
        return p - lr * scale * g

    def positional(p, g, state, step, lr=1.0, **rest):
        return p - lr * g

    def info(update):
        return SimpleNamespace(update=update, elementwise=True)

    fast = bound_kernel(info(keyword_only), {"lr": 0.5, "scale": 2.0})
    assert fast(1.0, 1.0, {}, 1) == 0.0 and keyword_only.__kwdefaults__ == {"scale": 1.0}
    # lr is not keyword-only here, so a default would never be used: a partial instead.
    slow = bound_kernel(info(positional), {"lr": 0.25, "other": 3})
    assert isinstance(slow, functools.partial) and slow(1.0, 1.0, {}, 1) == 0.75
    adamw = registry.get_optimizer("AdamW")
    bound = bound_kernel(adamw, {k: v for k, v in adamw.defaults().items() if k != "maximize"})
    assert bound.__kwdefaults__["decoupled_weight_decay"] is True  # AdamW's own keyword survives
    with pytest.raises(ValueError, match="maximize"):
        bound_kernel(adamw, {**adamw.defaults(), "maximize": True})
