"""The modern optimizers step by step against the libraries they follow, in float64.

Both sides start from the same values (a 0-d scalar, a vector, a matrix, and where it
matters a 3-d tensor) in two parameter groups, the second with its own lr and more, and at
every step each side gets the gradient of the same non-quadratic function of its *own*
current parameters plus a shared noise. The noise shapes come from the list of initial
shapes and the reference's gradients are computed with torch from its own tensors, so
nothing the reference sees is derived from our results. Parameters (and the state the two
have in common) are compared with :func:`tests.asserts.assert_same` after every step.

References (loaded by :mod:`tests.modern_references`): timm's ``Lars`` and ``Lamb``,
lion-pytorch, transformers' ``Adafactor`` and ``torch.optim.Adafactor``,
``sophia_opt.SophiaG`` and ``pytorch_optimizer.Lookahead``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import optim_core
from optim_core import Parameter
from optim_core.optimizers.lookahead import Lookahead
from tests import modern_references as R
from tests.asserts import assert_same, reference

torch = reference("torch")

# torch keeps some scalar state (a step count) in its default dtype: float64 throughout.
pytestmark = pytest.mark.usefixtures("float64_torch")

SHAPES = [(), (5,), (3, 4)]
RTOL = 1e-9


def initial_values(shapes, seed=0, zero=()):
    rng = np.random.default_rng(seed)
    values = [np.asarray(rng.normal(size=s), dtype=np.float64) for s in shapes]
    for i in zero:  # an all-zero tensor: the trust ratios fall back to 1, RMS scaling to eps2
        values[i] = np.zeros(shapes[i])
    return values


def grad_ours(x, noise):
    return np.asarray(0.8 * x + np.sin(3.0 * x) + 0.5 * x**3 / (1.0 + x * x) + noise)


def grad_ref(t, noise):
    t = t.detach()
    return 0.8 * t + torch.sin(3.0 * t) + 0.5 * t**3 / (1.0 + t * t) + torch.from_numpy(noise)


def run_pair(make_ours, make_ref, *, shapes=SHAPES, split=1, steps=30, seed=0, zero=(), states=(),
             step_ours=None, step_ref=None, after_step=None, rtol=RTOL, atol=0.0, check_until=None):
    """Run ours and the reference side by side; return ``(opt, ref, ours, theirs)``.

    ``make_ours(first, second)`` / ``make_ref(first, second)`` build the optimizers from
    the parameters of the two groups (``split`` of them in the first). ``states`` lists
    ``(our_key, ref_key, factor)``: the state entry the reference has must exist on our
    side and equal ``factor`` times it. ``after_step(step, opt, ref, ours, theirs, rng)``
    runs after both stepped (Sophia's Hessian refresh). Only the first ``check_until``
    steps are compared when given.
    """
    values = initial_values(shapes, seed, zero)
    ours = [Parameter(v) for v in values]
    theirs = [torch.tensor(v, requires_grad=True) for v in values]
    opt = make_ours(ours[:split], ours[split:])
    ref = make_ref(theirs[:split], theirs[split:])
    rng = np.random.default_rng(seed + 1)
    for step in range(1, steps + 1):
        noises = [np.asarray(0.3 * rng.normal(size=s)) for s in shapes]
        for p, n in zip(ours, noises):
            p.grad = grad_ours(p.data, n)
        for t, n in zip(theirs, noises):
            t.grad = grad_ref(t, n)
        (step_ours or (lambda o: o.step()))(opt)
        (step_ref or (lambda r: r.step()))(ref)
        if after_step is not None:
            after_step(step, opt, ref, ours, theirs, rng)
        if check_until is None or step <= check_until:
            check(opt, ref, ours, theirs, shapes, states, f"step {step}", rtol, atol)
    return opt, ref, ours, theirs


def check(opt, ref, ours, theirs, shapes, states, when, rtol=RTOL, atol=0.0):
    for i, (p, t, shape) in enumerate(zip(ours, theirs, shapes)):
        assert_same(p.data, t, rtol=rtol, atol=atol, err_msg=f"param {i} {shape}, {when}")
        for mine, their, factor in states:
            expected = ref.state[t].get(their)
            if expected is None:
                assert opt.state[p].get(mine) is None, f"{mine!r} of param {i}: the reference has none"
                continue
            assert_same(opt.state[p][mine], expected * factor, rtol=rtol, atol=atol,
                        err_msg=f"state {mine!r} of param {i} {shape}, {when}")


def two_groups(first, second, extra):
    return [{"params": first}, {"params": second, **extra}]


# --- LARS: timm.optim.Lars(always_adapt=True, trust_clip=False) ---------------------------

TIMM_LARS_NAMES = {"trust_coefficient": "trust_coeff"}

LARS_CASES = [
    (dict(lr=1.0, momentum=0.9), dict(lr=3.0, momentum=0.5)),
    (dict(lr=5.0, momentum=0.0, trust_coefficient=0.01), dict(lr=2.0, trust_coefficient=0.05)),
    (dict(lr=2.0, momentum=0.9, weight_decay=1e-2, eps=1e-3), dict(lr=0.5, weight_decay=0.1, momentum=0.99)),
    (dict(lr=0.5, momentum=0.8, weight_decay=5e-4, trust_coefficient=0.02, eps=1e-12), dict(lr=4.0, eps=0.5)),
]


def _timm_lars_kwargs(kwargs):
    return {TIMM_LARS_NAMES.get(k, k): v for k, v in kwargs.items()}


@pytest.mark.parametrize("foreach", [False, None, True], ids=lambda f: f"foreach={f}")
@pytest.mark.parametrize("zero", [(), (1,)], ids=["random", "zero-vector"])
@pytest.mark.parametrize("first,second", LARS_CASES, ids=str)
def test_lars_matches_timm(first, second, zero, foreach):
    Lars = R.timm_lars()
    run_pair(
        lambda a, b: optim_core.LARS(two_groups(a, b, second), **first),
        # timm's defaults differ (momentum 0): every hyperparameter is passed. dampening 0 and
        # no Nesterov are what ours does; always_adapt applies the trust ratio without decay too.
        lambda a, b: Lars(two_groups(a, b, _timm_lars_kwargs(second)), **{"momentum": 0.9, **_timm_lars_kwargs(first)},
                          dampening=0.0, nesterov=False, always_adapt=True, trust_clip=False, foreach=foreach),
        shapes=SHAPES + [(2, 3, 4)],
        zero=zero,
        states=[("momentum_buffer", "momentum_buffer", 1.0)],
    )


# --- LAMB: timm.optim.Lamb as optax.lamb ------------------------------------------------


@pytest.mark.parametrize("foreach", [False, True], ids=lambda f: f"foreach={f}")
@pytest.mark.parametrize("zero", [(), (1,)], ids=["random", "zero-vector"])
@pytest.mark.parametrize("first,second", [
    (dict(lr=1e-2), dict(lr=3e-2)),
    (dict(lr=5e-2, betas=(0.8, 0.99), eps=1e-4, weight_decay=0.1), dict(lr=1e-2, betas=(0.5, 0.9), weight_decay=0.0)),
], ids=str)
def test_lamb_matches_timm(first, second, zero, foreach):
    # timm's Lamb without its global gradient clipping (max_grad_norm=None), with the trust
    # ratio on every tensor (always_adapt) and L2 decay added to the update is optax.lamb.
    Lamb = R.timm_lamb()
    run_pair(
        lambda a, b: optim_core.LAMB(two_groups(a, b, second), **first),
        lambda a, b: Lamb(two_groups(a, b, second), **{"weight_decay": 0.0, **first}, max_grad_norm=None,
                          always_adapt=True, trust_clip=False, bias_correction=True, grad_averaging=True,
                          decoupled_decay=False, foreach=foreach),
        shapes=SHAPES + [(2, 3, 4)],
        zero=zero,
        states=[("exp_avg", "exp_avg", 1.0), ("exp_avg_sq", "exp_avg_sq", 1.0)],
    )


# --- Lion: lion-pytorch ---------------------------------------------------------------------


@pytest.mark.parametrize("first,second", [
    (dict(lr=1e-2), dict(lr=5e-3)),
    (dict(lr=3e-3, betas=(0.8, 0.95), weight_decay=0.1), dict(lr=1e-2, betas=(0.95, 0.9), weight_decay=0.5)),
    (dict(lr=1e-2, betas=(0.0, 0.5), weight_decay=1.0), dict(lr=2e-2, weight_decay=0.0)),
], ids=str)
def test_lion_matches_lion_pytorch(first, second):
    Lion = R.lion_pytorch()
    run_pair(
        lambda a, b: optim_core.Lion(two_groups(a, b, second), **first),
        lambda a, b: Lion(two_groups(a, b, second), **first),
        steps=60,
        states=[("exp_avg", "exp_avg", 1.0)],
    )


# --- Adafactor: transformers.Adafactor ----------------------------------------------------

ADAFACTOR_SHAPES = [(), (5,), (3, 4), (2, 3, 4), (1, 6), (6, 1)]
ADAFACTOR_STATES = [(k, k, 1.0) for k in ("exp_avg", "exp_avg_sq", "exp_avg_sq_row", "exp_avg_sq_col")]

ADAFACTOR_CASES = [
    # relative step (the default), scaled by the parameters' RMS
    (dict(), dict(decay_rate=-0.5, eps=(1e-20, 1e-2))),
    (dict(warmup_init=True), dict(weight_decay=0.05, clip_threshold=0.5, scale_parameter=False)),
    (dict(scale_parameter=False), dict(beta1=0.9, decay_rate=-1.0)),
    (dict(beta1=0.9, weight_decay=0.01), dict(beta1=0.5, weight_decay=0.0, scale_parameter=False)),
    # an external lr
    (dict(lr=1e-2, relative_step=False, scale_parameter=False, beta1=0.9, weight_decay=0.05),
     dict(lr=3e-2, beta1=0.0, weight_decay=0.0)),
    (dict(lr=3e-2, relative_step=False, clip_threshold=0.5, decay_rate=-0.5, eps=(1e-20, 1e-2)),
     dict(lr=0.1, clip_threshold=2.0, decay_rate=0.0, eps=(0.0, 1e-3))),
    # one group with the relative step, the other with an lr
    (dict(clip_threshold=0.8), dict(lr=5e-3, relative_step=False, scale_parameter=False, beta1=0.8)),
]


@pytest.mark.parametrize("first,second", ADAFACTOR_CASES, ids=str)
def test_adafactor_matches_transformers(first, second):
    Adafactor = R.transformers_adafactor()
    run_pair(
        lambda a, b: optim_core.Adafactor(two_groups(a, b, second), **first),
        lambda a, b: Adafactor(two_groups(a, b, second), **first),
        shapes=ADAFACTOR_SHAPES,
        split=3,
        zero=(4,),
        states=ADAFACTOR_STATES,
    )


# --- Adafactor: torch.optim.Adafactor ------------------------------------------------------
#
# torch's algorithm is transformers' with the relative step and parameter scaling always on,
# lr as the cap of the relative step (min(lr, 1/√t) rather than min(1e-2, 1/√t)), no first
# moment, eps1 as a floor under V̂ (squared) and mean(R) instead of an addend to g², and
# weight decay θ(1 - lr·λ) instead of θ(1 - α_t·λ). So ours reproduces it with
# beta1=None, weight_decay=0, and either the relative step (torch's lr=1e-2) or lr=ℓ with
# relative_step=False and scale_parameter=True for as long as 1/√t ≥ ℓ.


def _torch_adafactor_kwargs(ours):
    kw = {"lr": ours.get("lr") or 1e-2}
    names = {"eps": "eps", "clip_threshold": "d", "decay_rate": "beta2_decay", "maximize": "maximize"}
    kw.update({names[k]: v for k, v in ours.items() if k in names})
    return kw


TORCH_ADAFACTOR_CASES = [
    (dict(), dict(decay_rate=-0.5)),
    (dict(eps=(0.0, 1e-2), clip_threshold=2.0, decay_rate=-0.5), dict(eps=(0.0, 1e-1), clip_threshold=1.0)),
    (dict(maximize=True), dict(clip_threshold=1.5, decay_rate=-1.0)),
]


@pytest.mark.parametrize("foreach", [False, True], ids=lambda f: f"foreach={f}")
@pytest.mark.parametrize("first,second", TORCH_ADAFACTOR_CASES, ids=str)
def test_adafactor_matches_torch_where_they_agree(first, second, foreach):
    Adafactor = R.torch_adafactor()
    run_pair(
        lambda a, b: optim_core.Adafactor(two_groups(a, b, second), **first),
        lambda a, b: Adafactor(two_groups(a, b, _torch_adafactor_kwargs(second)), **_torch_adafactor_kwargs(first),
                               foreach=foreach),
        shapes=ADAFACTOR_SHAPES,
        split=3,
        zero=(4,),
    )


def test_adafactor_external_lr_matches_torch_while_the_relative_step_is_larger():
    # torch's step size is min(lr, 1/√t)·max(ε₂, RMS(θ)); ours with relative_step=False is
    # lr·max(ε₂, RMS(θ)): the same while 1/√t ≥ lr, i.e. for t ≤ 1/lr², 25 steps at lr 0.2
    # (the first group) and 6 at lr 0.4 (the second), after which torch's steps shrink.
    Adafactor = R.torch_adafactor()
    opt, ref, ours, theirs = run_pair(
        lambda a, b: optim_core.Adafactor(two_groups(a, b, dict(lr=0.4)), lr=0.2, relative_step=False),
        lambda a, b: Adafactor(two_groups(a, b, dict(lr=0.4)), lr=0.2),
        shapes=[(5,), (3, 4)],
        steps=7,
        check_until=6,
    )
    assert_same(ours[0].data, theirs[0], rtol=RTOL, err_msg="lr 0.2, step 7 ≤ 25")
    assert not np.allclose(ours[1].data, theirs[1].detach().numpy(), rtol=1e-6), "lr 0.4, step 7 > 6.25"


def test_adafactor_weight_decay_differs_from_torch_as_documented():
    # One step from θ0 with decay λ: torch gives θ0(1 - ℓλ) - αÛ, ours θ0(1 - αλ) - αÛ with
    # α = ℓ·max(ε₂, RMS(θ0)), so torch's = ours + λ(α - ℓ)θ0.
    Adafactor = R.torch_adafactor()
    lr, wd = 0.05, 0.3
    theta0 = initial_values([(3, 4)], seed=3)[0]
    noise = np.asarray(0.3 * np.random.default_rng(4).normal(size=(3, 4)))
    p, t = Parameter(theta0), torch.tensor(theta0, requires_grad=True)
    opt = optim_core.Adafactor([p], lr=lr, relative_step=False, weight_decay=wd)
    ref = Adafactor([t], lr=lr, weight_decay=wd)
    p.grad, t.grad = grad_ours(p.data, noise), grad_ref(t, noise)
    opt.step()
    ref.step()
    alpha = lr * max(1e-3, math.sqrt(np.mean(theta0**2)))
    assert_same(p.data + wd * (alpha - lr) * theta0, t, rtol=RTOL)
    assert not np.allclose(p.data, t.detach().numpy(), rtol=1e-6)


# --- Sophia: sophia_opt.SophiaG ---------------------------------------------------------------


def hessian_grad_ours(x, noise):
    # Stands in for the gradient of the loss on labels sampled from the model.
    return np.asarray(np.cos(x) + noise)


def hessian_grad_ref(t, noise):
    return torch.cos(t.detach()) + torch.from_numpy(noise)


SOPHIA_CASES = [
    # (ours first group, second group, k, bs); betas[1] is the Hessian EMA's decay
    (dict(lr=2e-2, betas=(0.965, 0.99), rho=0.04, weight_decay=0.1),
     dict(lr=1e-2, betas=(0.9, 0.95), rho=0.1, weight_decay=0.0), 4, 8),
    (dict(lr=5e-2, betas=(0.9, 0.5), rho=1.0, weight_decay=0.0),
     dict(lr=0.1, rho=0.5, weight_decay=0.2), 1, 1),
    (dict(lr=1e-2, betas=(0.0, 0.9), rho=0.01, weight_decay=0.1, maximize=True),
     dict(lr=3e-2, betas=(0.5, 0.999), rho=0.03), 10, 64),
]


@pytest.mark.parametrize("first,second,k,bs", SOPHIA_CASES, ids=str)
def test_sophia_matches_sophiag(first, second, k, bs):
    # The reference training loop: step(bs=bs) every iteration, and after iterations k-1,
    # 2k-1, ... (counted from 0) a backward pass on sampled labels and update_hessian().
    SophiaG = R.sophia_g()
    shapes = SHAPES + [(2, 3, 4)]

    def refresh(step, opt, ref, ours, theirs, rng):
        due = (step - 1) % k == k - 1
        assert opt.hessian_due() == due
        if not due:
            return
        noises = [np.asarray(0.3 * rng.normal(size=s)) for s in shapes]
        for p, n in zip(ours, noises):
            p.grad = hessian_grad_ours(p.data, n)
        for t, n in zip(theirs, noises):
            t.grad = hessian_grad_ref(t, n)
        opt.update_hessian(batch_size=bs)  # ours folds bs into the estimate ...
        ref.update_hessian()

    run_pair(
        lambda a, b: optim_core.Sophia(two_groups(a, b, second), **first, hessian_interval=k),
        lambda a, b: SophiaG(two_groups(a, b, second), **first),
        shapes=shapes,
        steps=40,
        step_ref=lambda ref: ref.step(bs=bs),  # ... the reference multiplies it in at every step
        after_step=refresh,
        states=[("exp_avg", "exp_avg", 1.0), ("hessian", "hessian", float(bs))],
    )


# --- Lookahead: pytorch_optimizer.Lookahead -----------------------------------------------------

LOOKAHEAD_BASES = {
    "Adam": (lambda ps, g2: optim_core.Adam(two_groups(*ps, g2), lr=0.05),
             lambda ps, g2: torch.optim.Adam(two_groups(*ps, g2), lr=0.05),
             dict(lr=0.02, betas=(0.8, 0.99))),
    "SGD-momentum": (lambda ps, g2: optim_core.SGD(two_groups(*ps, g2), lr=0.05, momentum=0.9),
                     lambda ps, g2: torch.optim.SGD(two_groups(*ps, g2), lr=0.05, momentum=0.9),
                     dict(lr=0.1, momentum=0.5, nesterov=True)),
}


@pytest.mark.parametrize("k,alpha", [(1, 0.5), (3, 0.2), (5, 0.8), (4, 0.0)], ids=str)
@pytest.mark.parametrize("base", sorted(LOOKAHEAD_BASES))
def test_lookahead_matches_pytorch_optimizer(base, k, alpha):
    # pytorch_optimizer's default pullback_momentum="none" keeps the base optimizer's state
    # across a sync, as ours does; both sync after steps k, 2k, ... (torch_optimizer's
    # Lookahead syncs after step 1 as well).
    PyLookahead = R.pytorch_optimizer_lookahead()
    make_ours, make_ref, g2 = LOOKAHEAD_BASES[base]
    opt, ref, ours, theirs = run_pair(
        lambda a, b: Lookahead(make_ours((a, b), g2), k=k, alpha=alpha),
        lambda a, b: PyLookahead(make_ref((a, b), g2), k=k, alpha=alpha),
        steps=20,
        states=[("slow_param", "slow_params", 1.0)],
    )
    assert ref.pullback_momentum == "none"


@pytest.mark.parametrize("base", sorted(LOOKAHEAD_BASES))
def test_lookahead_state_dict_round_trip_continues_with_the_reference(base):
    # Ours is saved after 7 steps (mid-cycle, k = 3) and loaded into a new wrapper over new
    # parameters; the reference runs on uninterrupted, and the two stay together.
    PyLookahead = R.pytorch_optimizer_lookahead()
    make_ours, make_ref, g2 = LOOKAHEAD_BASES[base]
    k, alpha = 3, 0.4
    values = initial_values(SHAPES, seed=2)
    ours = [Parameter(v) for v in values]
    theirs = [torch.tensor(v, requires_grad=True) for v in values]
    opt = Lookahead(make_ours((ours[:1], ours[1:]), g2), k=k, alpha=alpha)
    ref = PyLookahead(make_ref((theirs[:1], theirs[1:]), g2), k=k, alpha=alpha)
    rng = np.random.default_rng(3)
    for step in range(1, 21):
        noises = [np.asarray(0.3 * rng.normal(size=s)) for s in SHAPES]
        for p, n in zip(ours, noises):
            p.grad = grad_ours(p.data, n)
        for t, n in zip(theirs, noises):
            t.grad = grad_ref(t, n)
        opt.step()
        ref.step()
        if step == 7:
            saved = opt.state_dict()
            ours = [Parameter(p.data) for p in ours]
            opt = Lookahead(make_ours((ours[:1], ours[1:]), {**g2, "lr": 1.0}), k=1, alpha=1.0)
            opt.load_state_dict(saved)  # restores k, alpha, the step count and the group's lr
        check(opt, ref, ours, theirs, SHAPES, [("slow_param", "slow_params", 1.0)], f"step {step}")
