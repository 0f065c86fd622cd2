"""Adagrad, RMSprop, Adadelta, NAdam, RAdam and Adamax against torch.optim, in float64.

Every configuration runs 60 steps in two parameter groups and compares parameters and
state with torch at every step; the kernels are also checked batched (one row per
trajectory, hyperparameters as (B, 1) arrays) against each row run alone.
"""

import re

import numpy as np
import pytest

import optim_core
from optim_core.optimizer import CHUNK_BYTES
from tests.reference import _grad_fn, compare_with_torch, torch

# torch keeps some scalar state in its default dtype: compare in float64 throughout.
pytestmark = pytest.mark.usefixtures("float64_torch")

NAMES = ["Adagrad", "RMSprop", "Adadelta", "NAdam", "RAdam", "Adamax"]

# (name, keyword arguments, what the second parameter group overrides besides lr)
CASES = [
    ("Adagrad", dict(), {}),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05), {"lr_decay": 0.2}),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, weight_decay=0.05), {}),
    ("Adagrad", dict(lr=0.05, eps=1e-3, maximize=True), {"weight_decay": 0.1}),
    ("RMSprop", dict(), {}),
    ("RMSprop", dict(lr=0.01, momentum=0.9), {"momentum": 0.5}),
    ("RMSprop", dict(lr=0.01, centered=True), {"alpha": 0.9}),
    ("RMSprop", dict(lr=0.005, alpha=0.9, momentum=0.8, centered=True, weight_decay=0.1), {}),
    ("RMSprop", dict(lr=0.01, alpha=0.3, eps=1e-4, maximize=True, momentum=0.5), {}),
    ("Adadelta", dict(), {}),
    ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-3), {"rho": 0.95}),
    ("Adadelta", dict(weight_decay=0.1), {}),
    ("Adadelta", dict(lr=2.0, maximize=True), {"eps": 1e-4}),
    ("NAdam", dict(), {}),
    ("NAdam", dict(lr=0.05, betas=(0.8, 0.99), momentum_decay=0.02), {"momentum_decay": 0.0}),
    ("NAdam", dict(lr=0.02, weight_decay=0.1), {}),
    ("NAdam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True), {"weight_decay": 0.3}),
    ("NAdam", dict(lr=0.01, betas=(0.3, 0.9), eps=1e-5, maximize=True), {}),
    ("RAdam", dict(), {}),
    ("RAdam", dict(lr=0.05, betas=(0.8, 0.9)), {"betas": (0.9, 0.99)}),
    ("RAdam", dict(lr=0.02, weight_decay=0.1), {}),
    ("RAdam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True), {"weight_decay": 0.3}),
    ("RAdam", dict(lr=0.01, betas=(0.3, 0.6), maximize=True), {}),
    ("Adamax", dict(), {}),
    ("Adamax", dict(lr=0.05, betas=(0.8, 0.99)), {"betas": (0.9, 0.5)}),
    ("Adamax", dict(lr=0.02, weight_decay=0.1, eps=1e-3), {}),
    ("Adamax", dict(lr=0.01, betas=(0.3, 0.999), maximize=True), {}),
]
STATE_KEYS = ("sum", "square_avg", "momentum_buffer", "grad_avg", "acc_delta", "exp_avg", "exp_avg_sq",
              "mu_product", "exp_inf")
DEFAULT_LR = {"Adagrad": 1e-2, "RMSprop": 1e-2, "Adadelta": 1.0, "NAdam": 2e-3, "RAdam": 1e-3, "Adamax": 2e-3}


def _pair(name, **kwargs):
    return (lambda g: getattr(optim_core, name)(g, **kwargs)), (lambda g: getattr(torch.optim, name)(g, **kwargs))


@pytest.mark.parametrize("name,kwargs,second", CASES, ids=lambda c: str(c))
def test_matches_torch(name, kwargs, second):
    ours, theirs = _pair(name, **kwargs)
    compare_with_torch(
        ours,
        theirs,
        steps=60,
        second_group={"lr": kwargs.get("lr", DEFAULT_LR[name]) * 0.5, **second},
        state_keys=STATE_KEYS,
    )


@pytest.mark.parametrize("name", NAMES)
def test_lr_changed_mid_run_is_read(name):
    def quarter(step, ours, theirs):
        if step == 20:
            for g in list(ours.param_groups) + list(theirs.param_groups):
                g["lr"] *= 0.25

    ours, theirs = _pair(name, lr=0.05)
    compare_with_torch(ours, theirs, steps=40, before_step=quarter, state_keys=STATE_KEYS)


@pytest.mark.parametrize("name", NAMES)
def test_large_tensor_matches_torch(name):
    # Many float64 slices of CHUNK_BYTES: the elementwise kernels run slice by slice, and NAdam,
    # whose scalar mu_product must advance once per step, must not.
    rng = np.random.default_rng(5)
    x0 = rng.normal(size=(CHUNK_BYTES // 4) * 2 + 17)
    p, t = optim_core.Parameter(x0), torch.tensor(x0, requires_grad=True)
    ours = getattr(optim_core, name)([p], lr=0.01, weight_decay=0.01)
    ref = getattr(torch.optim, name)([t], lr=0.01, weight_decay=0.01)
    for _ in range(4):
        g = rng.normal(size=x0.shape)
        p.grad, t.grad = g, torch.from_numpy(g.copy())
        ours.step()
        ref.step()
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-9, atol=1e-12)


# -- batched == each row alone ---------------------------------------------------------

# Per optimizer: the shared flags, then one dict of float hyperparameters per row.
SWEEPS = {
    "Adagrad": (
        {"maximize": False},
        [dict(lr=0.1, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10),
         dict(lr=0.3, lr_decay=0.05, weight_decay=0.0, initial_accumulator_value=0.5, eps=1e-10),
         dict(lr=0.05, lr_decay=0.0, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-3),
         dict(lr=0.2, lr_decay=0.5, weight_decay=0.02, initial_accumulator_value=0.0, eps=1e-6)],
    ),
    "RMSprop": (
        {"centered": True, "maximize": False},
        [dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0),
         dict(lr=0.02, alpha=0.9, eps=1e-8, weight_decay=0.0, momentum=0.9),
         dict(lr=0.005, alpha=0.5, eps=1e-4, weight_decay=0.1, momentum=0.5),
         dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0)],
    ),
    "Adadelta": (
        {"maximize": True},
        [dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0),
         dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.0),
         dict(lr=2.0, rho=0.99, eps=1e-6, weight_decay=0.1),
         dict(lr=1.0, rho=0.0, eps=1e-4, weight_decay=0.0)],
    ),
    "NAdam": (
        {"decoupled_weight_decay": True, "maximize": False},
        [dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, momentum_decay=4e-3),
         dict(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-8, weight_decay=0.1, momentum_decay=0.0),
         dict(lr=0.02, beta1=0.3, beta2=0.9, eps=1e-5, weight_decay=0.0, momentum_decay=0.05),
         dict(lr=0.01, beta1=0.0, beta2=0.5, eps=1e-8, weight_decay=0.3, momentum_decay=4e-3)],
    ),
    "RAdam": (
        {"decoupled_weight_decay": False, "maximize": False},
        # beta2 = 0.6 and 0.5 never rectify (rho_inf = 4 and 3): the switch differs per row.
        [dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
         dict(lr=0.05, beta1=0.8, beta2=0.9, eps=1e-8, weight_decay=0.1),
         dict(lr=0.02, beta1=0.5, beta2=0.6, eps=1e-5, weight_decay=0.0),
         dict(lr=0.01, beta1=0.9, beta2=0.5, eps=1e-8, weight_decay=0.0)],
    ),
    "Adamax": (
        {"maximize": False},
        [dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0),
         dict(lr=0.05, beta1=0.8, beta2=0.5, eps=1e-8, weight_decay=0.1),
         dict(lr=0.02, beta1=0.3, beta2=0.9, eps=1e-3, weight_decay=0.0),
         dict(lr=0.01, beta1=0.0, beta2=0.0, eps=1e-8, weight_decay=0.0)],
    ),
}


def _run_batched(info, x0, noise, flags, rows):
    params = x0.copy()
    hypers = {**flags, **{k: np.array([[r[k]] for r in rows]) for k in rows[0]}}
    state = info.init_state(params, **hypers)
    for step, n in enumerate(noise, start=1):
        optim_core.apply_update(info, params, _grad_fn(params, n), state, step, hypers, batch_ndim=1)
    return params, state


def _run_single(info, x0, noise, flags, row):
    params = x0.copy()
    hypers = {**flags, **row}
    state = info.init_state(params, **hypers)
    for step, n in enumerate(noise, start=1):
        optim_core.apply_update(info, params, _grad_fn(params, n), state, step, hypers)
    return params, state


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_each_row_alone(name):
    # Not bitwise: NumPy's vectorised power (beta**t, 0.96**(t psi)) may differ from
    # Python's by an ulp, and a (B, 1) momentum takes RMSprop's buffer path even where it is 0.
    info = optim_core.registry.get_optimizer(name)
    flags, rows = SWEEPS[name]
    rng = np.random.default_rng(11)
    x0 = rng.normal(size=(len(rows), 2)) * 2.0
    noise = 0.3 * rng.normal(size=(60, len(rows), 2))
    batched, batched_state = _run_batched(info, x0, noise, flags, rows)
    for i, row in enumerate(rows):
        alone, alone_state = _run_single(info, x0[i], noise[:, i], flags, row)
        np.testing.assert_allclose(batched[i], alone, rtol=1e-12, atol=1e-15, err_msg=f"row {i}")
        for key, value in alone_state.items():
            np.testing.assert_allclose(np.broadcast_to(batched_state[key], batched.shape)[i],
                                       np.broadcast_to(value, alone.shape), rtol=1e-12, atol=1e-15,
                                       err_msg=f"state {key!r} of row {i}")


def test_rmsprop_sweep_over_momentum_with_zero_rows_moves_them_plainly():
    # A (B, 1) momentum array always takes the buffer path; a 0 row must still take plain steps.
    info = optim_core.registry.get_optimizer("RMSprop")
    x0 = np.array([[1.0, -2.0], [1.0, -2.0]])
    start = x0[0].copy()
    g = np.array([[0.5, 0.25], [0.5, 0.25]])
    hypers = dict(lr=0.1, alpha=0.9, eps=1e-8, weight_decay=0.0, momentum=np.array([[0.0], [0.9]]), centered=False)
    state = info.init_state(x0, **hypers)
    for step in (1, 2, 3):
        optim_core.apply_update(info, x0, g, state, step, hypers, batch_ndim=1)
    p = start
    single = {**hypers, "momentum": 0.0}
    s = info.init_state(p, **single)
    for step in (1, 2, 3):
        optim_core.apply_update(info, p, g[0], s, step, single)
    assert "momentum_buffer" not in s
    np.testing.assert_allclose(x0[0], p, rtol=1e-15)
    assert not np.allclose(x0[1], p)


# -- state_dict ---------------------------------------------------------------------------

ROUND_TRIP = {
    "Adagrad": dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop": dict(lr=0.01, momentum=0.9, centered=True),
    "Adadelta": dict(rho=0.8),
    "NAdam": dict(lr=0.02, weight_decay=0.05, decoupled_weight_decay=True),
    "RAdam": dict(lr=0.02),
    "Adamax": dict(lr=0.02),
}


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_is_bitwise(name):
    cls = getattr(optim_core, name)
    rng = np.random.default_rng(2)
    x0 = [rng.normal(size=s) for s in [(), (3,), (2, 3)]]
    noise = 0.3 * rng.normal(size=(40, 10))

    def run(opt, params, steps):
        for step in steps:
            for p in params:
                p.grad = _grad_fn(p.data, noise[step, : p.data.size].reshape(p.data.shape))
            opt.step()

    def groups(params):
        return [{"params": params[:1]}, {"params": params[1:], "lr": ROUND_TRIP[name].get("lr", 1.0) * 0.5}]

    straight = [optim_core.Parameter(x) for x in x0]
    run(cls(groups(straight), **ROUND_TRIP[name]), straight, range(40))

    first = [optim_core.Parameter(x) for x in x0]
    opt = cls(groups(first), **ROUND_TRIP[name])
    run(opt, first, range(20))
    saved = opt.state_dict()
    resumed = [optim_core.Parameter(p.data) for p in first]
    run(opt, first, range(20, 25))  # the saved copy must not follow the live optimizer

    # Built with default hyperparameters: loading must restore the groups' values too.
    fresh = cls([{"params": resumed[:1]}, {"params": resumed[1:]}])
    fresh.load_state_dict(saved)
    run(fresh, resumed, range(20, 40))
    for a, b in zip(straight, resumed):
        assert np.array_equal(a.data, b.data)
    assert fresh.param_groups[1]["lr"] == groups(resumed)[1]["lr"]


# -- validation ---------------------------------------------------------------------------

INVALID = [
    ("Adagrad", dict(lr=-0.1)),
    ("Adagrad", dict(lr_decay=-1.0)),
    ("Adagrad", dict(weight_decay=-0.5)),
    ("Adagrad", dict(initial_accumulator_value=-0.1)),
    ("Adagrad", dict(eps=-1e-10)),
    ("RMSprop", dict(lr=-1.0)),
    ("RMSprop", dict(alpha=-0.5)),
    ("RMSprop", dict(eps=-1.0)),
    ("RMSprop", dict(momentum=-0.9)),
    ("RMSprop", dict(weight_decay=-1e-3)),
    ("Adadelta", dict(lr=-1.0)),
    ("Adadelta", dict(rho=1.5)),
    ("Adadelta", dict(rho=-0.1)),
    ("Adadelta", dict(eps=-1e-6)),
    ("Adadelta", dict(weight_decay=-1.0)),
    ("NAdam", dict(lr=-1.0)),
    ("NAdam", dict(betas=(1.0, 0.999))),
    ("NAdam", dict(betas=(0.9, -0.1))),
    ("NAdam", dict(eps=-1e-8)),
    ("NAdam", dict(weight_decay=-0.1)),
    ("NAdam", dict(momentum_decay=-4e-3)),
    ("RAdam", dict(lr=-1.0)),
    ("RAdam", dict(betas=(-0.1, 0.999))),
    ("RAdam", dict(betas=(0.9, 1.0))),
    ("RAdam", dict(eps=-1.0)),
    ("RAdam", dict(weight_decay=-0.1)),
    ("Adamax", dict(lr=-2e-3)),
    ("Adamax", dict(betas=(1.5, 0.999))),
    ("Adamax", dict(betas=(0.9, 1.0))),
    ("Adamax", dict(eps=-1e-8)),
    ("Adamax", dict(weight_decay=-1.0)),
]
# Edge values torch accepts; ours must too (all but eps = 0, see below).
ACCEPTED = [
    ("Adagrad", dict(lr=0.0, lr_decay=0.0, initial_accumulator_value=0.0)),
    ("RMSprop", dict(alpha=0.0, momentum=0.0)),
    ("RMSprop", dict(alpha=1.5, momentum=1.5)),
    ("Adadelta", dict(rho=1.0)),
    ("Adadelta", dict(rho=0.0)),
    ("NAdam", dict(betas=(0.0, 0.0), momentum_decay=0.0)),
    ("RAdam", dict(betas=(0.0, 0.0))),
    ("Adamax", dict(betas=(0.0, 0.0))),
]


@pytest.mark.parametrize("name,kwargs", INVALID, ids=lambda c: str(c))
def test_invalid_hyperparameter_raises_torch_message(name, kwargs):
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match="^" + re.escape(str(theirs.value)) + "$"):
        getattr(optim_core, name)([optim_core.Parameter(np.zeros(2))], **kwargs)


@pytest.mark.parametrize("name,kwargs", ACCEPTED, ids=lambda c: str(c))
def test_edge_values_torch_accepts_are_accepted(name, kwargs):
    getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    getattr(optim_core, name)([optim_core.Parameter(np.zeros(2))], **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_eps_zero_is_rejected_although_torch_accepts_it(name):
    # The project's one eps rule (optimizers/_hypers.py): eps > 0, so no denominator can be 0.
    getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], eps=0.0)
    with pytest.raises(ValueError, match="^Invalid epsilon value: 0.0$"):
        getattr(optim_core, name)([optim_core.Parameter(np.zeros(2))], eps=0.0)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_keyword_is_a_type_error_as_in_torch(name):
    with pytest.raises(TypeError):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], nesterov=True)
    with pytest.raises(TypeError):
        getattr(optim_core, name)([optim_core.Parameter(np.zeros(2))], nesterov=True)


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_torchs(name):
    import inspect

    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    ours = getattr(optim_core, name)([optim_core.Parameter(np.zeros(2))]).defaults
    for key, value in ours.items():
        assert theirs[key].default == value, key


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_is_complete(name):
    info = optim_core.registry.get_optimizer(name)
    assert info.family == "adaptive"
    assert info.latex and info.state_note and info.summary
    assert re.search(r"\b(19|20)\d\d\b", info.paper)
    assert info.state_bytes_per_param(4) >= 4
    for h in info.hypers:
        if h.kind == "float":
            assert h.low is not None and h.high is not None and h.low <= h.default <= h.high, h.name
