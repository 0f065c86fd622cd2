"""SGD, Adam and AdamW against torch.optim, step by step in float64."""

import numpy as np
import pytest

import optim_core
from tests.reference import compare_with_torch, torch

# torch keeps some scalar state in its default dtype: compare in float64 throughout.
pytestmark = pytest.mark.usefixtures("float64_torch")

CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.02, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.03, maximize=True, amsgrad=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.02, betas=(0.5, 0.9), weight_decay=0.3, amsgrad=True)),
]
STATE_KEYS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


@pytest.mark.parametrize("name,kwargs", CASES, ids=lambda c: str(c))
def test_matches_torch(name, kwargs):
    compare_with_torch(
        lambda g: getattr(optim_core, name)(g, **kwargs),
        lambda g: getattr(torch.optim, name)(g, **kwargs),
        steps=60,
        second_group={"lr": kwargs.get("lr", 1e-3) * 0.5},
        state_keys=STATE_KEYS,
    )


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_lr_changed_mid_run_is_read(name):
    def halve(step, ours, theirs):
        if step == 20:
            for g in list(ours.param_groups) + list(theirs.param_groups):
                g["lr"] *= 0.25

    kwargs = {"lr": 0.05, **({"momentum": 0.9} if name == "SGD" else {})}
    compare_with_torch(
        lambda g: getattr(optim_core, name)(g, **kwargs),
        lambda g: getattr(torch.optim, name)(g, **kwargs),
        steps=40,
        before_step=halve,
    )


def test_float32_large_tensor_takes_chunked_path_and_matches_torch():
    # Three float32 slices of CHUNK_BYTES and more, so the slice-by-slice path runs; compare in float32.
    rng = np.random.default_rng(3)
    n = (optim_core.optimizer.CHUNK_BYTES // 4) * 3 + 17
    x0 = rng.normal(size=n).astype(np.float32)
    p = optim_core.Parameter(x0)
    t = torch.tensor(x0, requires_grad=True)
    ours = optim_core.Adam([p], lr=0.01, weight_decay=0.01)
    ref = torch.optim.Adam([t], lr=0.01, weight_decay=0.01, foreach=False)
    for _ in range(5):
        g = rng.normal(size=n).astype(np.float32)
        p.grad, t.grad = g, torch.from_numpy(g.copy())
        ours.step()
        ref.step()
    assert p.data.dtype == np.float32
    np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-5, atol=1e-6)
