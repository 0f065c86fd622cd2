"""Step-by-step comparison of an optim_core optimizer with a torch reference.

Both sides start from the same float64 tensors in two parameter groups (a scalar, a
vector and a matrix, the second group with its own lr) and receive, at every step, the
gradient of the same non-quadratic function of their *own* current parameters plus a
fixed noise sequence, so any divergence compounds instead of hiding.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import optim_core
from tests.asserts import assert_same, reference

torch = reference("torch")


@contextlib.contextmanager
def torch_float64():
    """torch's default dtype set to float64 for a block, then restored.

    Needed because torch keeps some scalar state (NAdam's ``mu_product``, ``step``) in the
    default dtype; setting it for the whole session would leak into other tests.
    """
    saved = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)

SHAPES = [(), (5,), (3, 4)]


def _grad_fn(x: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return 0.8 * x + np.sin(3.0 * x) + 0.5 * x**3 / (1.0 + x**2) + noise


def initial_values(seed: int = 0, shapes=SHAPES) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in shapes]


def compare_with_torch(
    ours_factory,
    torch_factory,
    steps: int = 40,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    seed: int = 0,
    shapes=SHAPES,
    second_group: dict | None = None,
    state_keys: tuple[str, ...] = (),
    before_step=None,
):
    """Run both for ``steps`` steps and assert every parameter (and named state) agrees at every step.

    ``ours_factory(groups)`` / ``torch_factory(groups)`` build the optimizers from lists of
    group dicts; the groups are split half/half and the second gets ``second_group``.
    ``before_step(step, ours, theirs)`` may change hyperparameters mid-run.
    """
    with torch_float64():
        return _compare(ours_factory, torch_factory, steps, rtol, atol, seed, shapes, second_group, state_keys, before_step)


def _compare(ours_factory, torch_factory, steps, rtol, atol, seed, shapes, second_group, state_keys, before_step):
    values = initial_values(seed, shapes)
    ours = [optim_core.Parameter(v) for v in values]
    theirs = [torch.tensor(v, requires_grad=True) for v in values]
    split = max(1, len(values) // 2)
    extra = second_group if second_group is not None else {"lr": None}
    extra = {k: v for k, v in extra.items() if v is not None}

    def groups(ps):
        return [{"params": ps[:split]}, {"params": ps[split:], **extra}] if len(ps) > 1 else [{"params": ps}]

    opt = ours_factory(groups(ours))
    ref = torch_factory(groups(theirs))
    for i, (p, v) in enumerate(zip(ours, values)):
        assert_same(p.data, v, rtol=0, err_msg=f"param {i} as constructed")
    rng = np.random.default_rng(seed + 1)
    for step in range(1, steps + 1):
        if before_step is not None:
            before_step(step, opt, ref)
        # The noise takes the shape of the initial values, never of our parameters, and
        # each side's gradient is computed from its own current parameter.
        for p, t, v in zip(ours, theirs, values):
            noise = np.array(0.3 * rng.normal(size=v.shape))
            p.grad = _grad_fn(p.data, noise)
            t.grad = torch.from_numpy(np.asarray(_grad_fn(t.detach().numpy(), noise)))
        opt.step()
        ref.step()
        for i, (p, t) in enumerate(zip(ours, theirs)):
            assert_same(p.data, t, rtol=rtol, atol=atol, err_msg=f"param {i} differs at step {step}")
            for key in state_keys:
                mine, their = opt.state[p].get(key), ref.state[t].get(key)
                if their is None:
                    assert mine is None, f"state {key!r} of param {i}: torch keeps none, we keep {mine!r}"
                    continue
                if isinstance(mine, float) and their.ndim == 0:
                    mine = np.array(mine)  # scalar bookkeeping (NAdam's mu_product) is a float here, a 0-d tensor there
                assert_same(mine, their, rtol=rtol, atol=atol, err_msg=f"state {key!r} of param {i} differs at step {step}")
    return opt, ref, ours, theirs
