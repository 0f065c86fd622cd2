"""What every registered optimizer promises, generated from the registry (one table for all)."""

import inspect

import numpy as np
import pytest

import optim_core
from optim_core import registry
from optim_core.optimizer import check_hyper
from tests.asserts import assert_same, reference

INFOS = list(registry.optimizers().values())
# Where torch.optim has a class of the same name but our entry deliberately follows another reference.
TORCH_API_DIFFERS = {
    "Adafactor": "follows the paper and transformers' Adafactor (relative step, update clipping, optional beta1)",
}
IDS = [i.name for i in INFOS]


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return [optim_core.Parameter(rng.normal(size=s)) for s in [(), (4,), (3, 5)]]


def _set_grads(params, seed):
    rng = np.random.default_rng(seed)
    for p in params:
        p.grad = np.asarray(0.5 * p.data + rng.normal(size=p.data.shape))


def _feed_hessian(opt, params):
    if getattr(opt.info, "needs_hessian", False) and hasattr(opt, "update_hessian"):
        opt.update_hessian([np.full(p.data.shape, 0.5) for p in params])


def _run(opt, params, steps, seed0=0):
    for t in range(steps):
        _set_grads(params, seed0 + t)
        _feed_hessian(opt, params)
        opt.step()


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_registry_entry_is_complete(info):
    assert info.latex and info.paper and info.summary and info.state_note
    assert info.family in ("classic", "adaptive", "modern")
    assert issubclass(info.cls, optim_core.Optimizer) and info.cls.info is info
    assert getattr(optim_core, info.name) is info.cls
    for h in info.hypers:
        assert h.label and h.help, f"{h.name} needs a label and a help text"
        if h.kind in ("float", "int") and h.default is not None:
            assert h.low is not None and h.high is not None and h.low < h.high
            assert h.low <= h.default <= h.high, f"{h.name}'s default lies outside its slider"
            check_hyper(h, h.default)
            if h.log:
                assert h.low > 0
    assert info.state_bytes((64, 32), 4, **info.defaults()) >= 0
    assert inspect.signature(info.update).parameters  # a real function


# The optimizers whose class, keywords and defaults are torch.optim's, written out here
# rather than read from the registry. torch.optim also has an Adafactor, with another
# algorithm and API; ours follows the paper and transformers' (see TORCH_API_DIFFERS).
TORCH_OPTIM = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam", "RAdam", "Adamax"]


def test_the_torch_table_is_every_shared_name():
    torch = reference("torch")
    shared = {i.name for i in INFOS if hasattr(torch.optim, i.name)}
    assert shared == set(TORCH_OPTIM) | set(TORCH_API_DIFFERS)


@pytest.mark.parametrize("name", TORCH_OPTIM)
def test_defaults_and_keywords_match_torch(name):
    torch = reference("torch")
    sig = inspect.signature(getattr(torch.optim, name).__init__).parameters
    ours = registry.get_optimizer(name).cls._public_defaults()
    for key, value in ours.items():
        assert key in sig, f"{key} is not a torch keyword"
        assert sig[key].default == value, f"{key}: torch default {sig[key].default}, ours {value}"


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_invalid_hyperparameters_raise_value_error(info):
    p = _params()
    with pytest.raises(ValueError, match="unknown keyword"):
        info.cls(p, not_a_hyperparameter=1.0)
    if info.hyper("lr").default is not None:
        with pytest.raises(ValueError, match="Invalid learning rate"):
            info.cls(p, lr=-0.1)
    names = {h.name for h in info.hypers}
    if "beta1" in names:
        bad_beta = {"betas": (1.0, 0.99)} if "betas" in info.cls._public_defaults() else {"beta1": 1.0}
        with pytest.raises(ValueError, match="Invalid beta parameter at index 0"):
            info.cls(p, **bad_beta)
    if "weight_decay" in names:
        with pytest.raises(ValueError, match="Invalid weight_decay value"):
            info.cls(p, weight_decay=-1.0)
    if "eps" in names and info.hyper("eps").kind == "float":
        with pytest.raises(ValueError, match="Invalid epsilon value"):
            info.cls(p, eps=0.0)
    with pytest.raises(ValueError):
        info.cls([])


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_params_without_grad_are_skipped_and_zero_grad_clears(info):
    params = _params()
    opt = info.cls(params)
    before = [p.data.copy() for p in params]
    _set_grads(params, 0)
    params[1].grad = None
    _feed_hessian(opt, params)
    opt.step()
    np.testing.assert_array_equal(params[1].data, before[1])
    assert params[1] not in opt.state
    assert not np.array_equal(params[2].data, before[2])
    opt.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_state_dict_round_trip_resumes_exactly(info):
    a, b = _params(1), _params(1)
    opt_a = info.cls([{"params": a[:1]}, {"params": a[1:], "weight_decay": 0.0}] if "weight_decay" in info.defaults() else a)
    _run(opt_a, a, 15)
    saved = opt_a.state_dict()
    # A fresh optimizer over fresh parameters with the same values, loaded from the checkpoint.
    for pa, pb in zip(a, b):
        pb.data[...] = pa.data
    opt_b = info.cls([{"params": b[:1]}, {"params": b[1:], "weight_decay": 0.0}] if "weight_decay" in info.defaults() else b)
    opt_b.load_state_dict(saved)
    _run(opt_a, a, 15, seed0=100)
    _run(opt_b, b, 15, seed0=100)
    for pa, pb in zip(a, b):
        assert_same(pb.data, pa.data, rtol=0)


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_non_finite_gradient_is_not_turned_into_a_finite_step(info):
    params = _params()
    opt = info.cls(params)
    _set_grads(params, 0)
    params[1].grad = params[1].grad.copy()
    params[1].grad[0] = np.nan
    _feed_hessian(opt, params)
    opt.step()
    assert not np.all(np.isfinite(params[1].data))


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_add_param_group_and_duplicate_parameters(info):
    params = _params()
    opt = info.cls(params[:2])
    opt.add_param_group({"params": [params[2]]})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["params"] == [params[2]]
    for key, value in opt.defaults.items():
        assert opt.param_groups[1][key] == value
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [params[0]]})


@pytest.mark.parametrize("info", [i for i in INFOS if i.hyper("lr").default is not None], ids=lambda i: i.name)
def test_group_lr_is_read_at_every_step(info):
    params = _params()
    opt = info.cls(params)
    _run(opt, params, 3)
    for g in opt.param_groups:
        g["lr"] = 0.0
    if info.name in ("SGD",):  # momentum-free SGD with lr 0 must not move at all
        before = [p.data.copy() for p in params]
        _run(opt, params, 2)
        for p, b in zip(params, before):
            np.testing.assert_array_equal(p.data, b)
    # For all: a different lr in force changes the result of the next step.
    x, y = _params(5), _params(5)
    ox, oy = info.cls(x, lr=info.hyper("lr").default), info.cls(y, lr=info.hyper("lr").default)
    _run(ox, x, 3)
    _run(oy, y, 3)
    for g in oy.param_groups:
        g["lr"] = info.hyper("lr").default * 3
    _run(ox, x, 1, seed0=50)
    _run(oy, y, 1, seed0=50)
    assert not np.array_equal(x[2].data, y[2].data)


# -- scalar parameters and the bytes of state ------------------------------------------------

SCALAR_GRADS = [6.0, -2.5, 0.75, 3.0, -1.0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_a_0d_parameter_stays_0d(info, dtype):
    # torch takes 0-d parameters (a temperature, a scale); so must every optimizer here,
    # through steps, a state_dict round trip and gradient clipping.
    p = optim_core.Parameter(np.array(3.0, dtype=dtype))
    assert p.data.shape == () and p.data.dtype == dtype and isinstance(p.data, np.ndarray)
    opt = info.cls([p])
    for g in SCALAR_GRADS[:3]:
        p.grad = np.array(g, dtype=dtype)
        _feed_hessian(opt, [p])
        opt.step()
    opt.load_state_dict(opt.state_dict())
    for g in SCALAR_GRADS[3:]:
        p.grad = np.array(g, dtype=dtype)
        optim_core.clip_grad_norm_([p], 2.0)
        optim_core.clip_grad_value_([p], 1.5)
        assert p.grad.shape == () and p.grad.dtype == dtype
        opt.step()
    assert isinstance(p.data, np.ndarray) and p.data.shape == () and p.data.dtype == dtype
    assert np.isfinite(p.data) and p.data != 3.0
    for key, value in opt.state[p].items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not key.endswith("absmax"):
            # Every elementwise buffer is 0-d, as torch's zeros_like(p) is; Adam8bit's
            # per-block scales are (1,) for one block, as bitsandbytes keeps them.
            assert value.shape == () and value.dtype == dtype, f"{key}: {value.shape} {value.dtype}"


@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_lookahead_keeps_a_0d_parameter_0d(info):
    p = optim_core.Parameter(np.array(-1.5))
    opt = optim_core.Lookahead(info.cls([p]), k=2)
    for g in SCALAR_GRADS:
        p.grad = np.array(g)
        _feed_hessian(opt.base_optimizer, [p])
        opt.step()
    opt.load_state_dict(opt.state_dict())
    assert p.data.shape == () and opt.state[p]["slow_param"].shape == ()


def _configs(info):
    """The defaults, each flag flipped, and momentum on where there is one."""
    names = {h.name for h in info.hypers}
    extra = {"momentum": 0.9} if "momentum" in names else {}
    configs = [{}]
    if extra:
        configs.append(extra)
    for h in info.hypers:
        if h.kind == "bool" and h.name != "maximize":
            # Adafactor without its relative step needs an lr of its own.
            configs.append({h.name: not h.default, **extra, **({"lr": 1e-2} if h.name == "relative_step" else {})})
    if "beta1" in names and info.hyper("beta1").default is None:
        configs.append({"beta1": 0.9})  # Adafactor's optional first moment
    return configs


STATE_SHAPES = [(), (5,), (3, 4), (2, 3, 4), (600,)]  # (600,): three Adam8bit blocks, one padded


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("info", INFOS, ids=IDS)
def test_state_bytes_are_the_real_bytes(info, dtype):
    # What the Memory page multiplies out must be what the optimizer really keeps.
    for config in _configs(info):
        kwargs = info.cls.keywords(config)
        for shape in STATE_SHAPES:
            p = optim_core.Parameter(np.ones(shape, dtype=dtype))
            opt = info.cls([p], **kwargs)
            for seed in range(2):
                _set_grads([p], seed)
                _feed_hessian(opt, [p])
                opt.step()
            real = sum(v.nbytes for v in opt.state[p].values() if isinstance(v, np.ndarray))
            claimed = info.state_bytes(shape, np.dtype(dtype).itemsize, **{**info.defaults(), **config})
            assert claimed == real, f"{config} on {shape}: state_bytes says {claimed}, the state holds {real}"
