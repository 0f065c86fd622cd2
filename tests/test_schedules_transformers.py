"""WarmupCosine and WarmupPolynomial against Hugging Face transformers' schedules, step by step.

transformers' ``get_cosine_schedule_with_warmup``, ``get_cosine_with_min_lr_schedule_with_warmup``
and ``get_polynomial_decay_schedule_with_warmup`` return torch LambdaLRs. One drives a torch
optimizer, ours an optim_core optimizer with the same param groups (and default lr); after
every step each group's lr, ``get_last_lr()`` and ``last_epoch`` must agree at rtol 1e-12,
and the parameters at the end. The pure curves must equal transformers' lrs too. Runs go
past ``num_training_steps``, where transformers' cosine goes on and its polynomial holds
``lr_end``. Names: ``warmup_steps`` = ``num_warmup_steps``, ``total_steps`` =
``num_training_steps``, ``min_lr_ratio`` = ``min_lr_rate``, ``end_lr`` = ``lr_end``.
"""

from __future__ import annotations

import numpy as np
import pytest

import optim_core
from tests.asserts import assert_same, reference
from tests.test_schedules import drive

torch = reference("torch")
transformers = reference("transformers")
hf = transformers.optimization

# Exact in practice (the same float operations in the same order); the atol covers a
# last-bit difference of a platform's vectorized cosine near the cosine's zeros of the lr.
RTOL, ATOL = 1e-12, 1e-17


def _run(ours, theirs, steps, opt="SGD", lrs=(0.1, 0.05), default_lr=None, shape=(3,)):
    return drive(lambda o, mod: ours(o), steps, opt, torch_factory=lambda o, mod: theirs(o), lrs=lrs,
                 default_lr=default_lr, shape=shape, rtol=RTOL, atol=ATOL)


# -- cosine ---------------------------------------------------------------------------------------
# (warmup_steps, total_steps, min_lr_rate (None: get_cosine_schedule_with_warmup), num_cycles, steps, optimizer)
COSINE = [
    (0, 300, None, 0.5, 300, "SGD"),  # no warm-up
    (30, 250, None, 0.5, 300, "Adam"),  # past total_steps the cosine climbs back
    (50, 300, None, 1.0, 300, "SGD"),  # a whole wave: back at the peak at the end
    (20, 200, None, 0.3, 250, "SGD"),
    (5, 60, None, -0.75, 90, "SGD"),  # a negative number of cycles: the cosine is even
    (10, 150, 0.1, 0.5, 200, "Adam"),  # get_cosine_with_min_lr_schedule_with_warmup
    (0, 100, 0.25, 2.0, 150, "SGD"),
    (100, 100, None, 0.5, 130, "SGD"),  # warm-up as long as the run: past it the lr jumps peak/floor
    (1, 2, 0.5, 0.5, 10, "Adam"),
]


def _hf_cosine(w, T, rate, cycles):
    if rate is None:
        return lambda o: hf.get_cosine_schedule_with_warmup(o, w, T, num_cycles=cycles)
    return lambda o: hf.get_cosine_with_min_lr_schedule_with_warmup(o, w, T, num_cycles=cycles, min_lr_rate=rate)


@pytest.mark.parametrize("w,T,rate,cycles,steps,opt", COSINE, ids=[str(c[:4]) for c in COSINE])
def test_warmup_cosine_equals_transformers(w, T, rate, cycles, steps, opt):
    ratio = 0.0 if rate is None else rate
    rec = _run(lambda o: optim_core.WarmupCosine(o, w, T, min_lr_ratio=ratio, num_cycles=cycles),
               _hf_cosine(w, T, rate, cycles), steps, opt)
    for g, base in enumerate((0.1, 0.05)):
        curve = optim_core.warmup_cosine(steps + 1, base, w, T, min_lr_ratio=ratio, num_cycles=cycles)
        assert_same(curve["lr"], rec["lr"][:, g], rtol=RTOL, atol=ATOL, err_msg=f"pure curve, group {g}")


def test_warmup_cosine_defaults_and_absolute_min_lr_equal_transformers():
    # Our defaults are transformers' (num_cycles=0.5, no floor); its min_lr is min_lr_rate * default lr.
    _run(lambda o: optim_core.WarmupCosine(o, 40, 200), lambda o: hf.get_cosine_schedule_with_warmup(o, 40, 200),
         240, shape=())
    _run(lambda o: optim_core.WarmupCosine(o, 40, 200, min_lr_ratio=0.004 / 0.2),
         lambda o: hf.get_cosine_with_min_lr_schedule_with_warmup(o, 40, 200, min_lr=0.004), 240, default_lr=0.2)


def test_warmup_cosine_at_and_after_the_last_step():
    w, T = 30, 250
    rec = _run(lambda o: optim_core.WarmupCosine(o, w, T), _hf_cosine(w, T, None, 0.5), 2 * T - w)
    assert rec["lr"][0, 0] == 0.0 and rec["lr"][w, 0] == 0.1  # warm-up from 0, the peak at warmup_steps
    assert rec["lr"][T, 0] == 0.0  # the floor exactly at total_steps
    assert rec["lr"][T + 100, 0] > 0.0 and rec["lr"][2 * T - w, 0] == pytest.approx(0.1)  # then back up


# -- polynomial -----------------------------------------------------------------------------------
# (warmup_steps, total_steps, lr_end, power, steps, optimizer, group lrs, optimizer's default lr)
POLYNOMIAL = [
    (30, 250, 1e-3, 2.0, 300, "SGD", (0.1,), 0.1),  # past total_steps: lr_end
    (20, 280, 0.01, 0.5, 300, "Adam", (0.1,), 0.1),
    (10, 150, 0.0, 1.0, 200, "SGD", (0.1,), 0.1),  # BERT's linear decay to 0
    (1, 100, 0.02, 0.0, 150, "SGD", (0.1,), 0.1),  # power 0: the peak until total_steps, then lr_end
    (0, 120, 0.01, 1.5, 150, "SGD", (0.1, 0.05), 0.1),  # no warm-up; a second group at half the default lr
    (25, 200, 0.004, 3.0, 260, "Adam", (0.1, 0.05), 0.2),  # the default lr is neither group's
    (0, 1, 0.05, 1.0, 5, "SGD", (0.1, 0.3), 0.1),
]


@pytest.mark.parametrize("w,T,lr_end,power,steps,opt,lrs,default_lr", POLYNOMIAL,
                         ids=[str(c[:4]) for c in POLYNOMIAL])
def test_warmup_polynomial_equals_transformers(w, T, lr_end, power, steps, opt, lrs, default_lr):
    rec = _run(lambda o: optim_core.WarmupPolynomial(o, w, T, power=power, end_lr=lr_end),
               lambda o: hf.get_polynomial_decay_schedule_with_warmup(o, w, T, lr_end=lr_end, power=power),
               steps, opt, lrs=lrs, default_lr=default_lr)
    for g, base in enumerate(lrs):
        curve = optim_core.warmup_polynomial(steps + 1, base, w, T, power=power, end_lr=lr_end, lr_init=default_lr)
        assert_same(curve["lr"], rec["lr"][:, g], rtol=RTOL, atol=ATOL, err_msg=f"pure curve, group {g}")
    # Each group ends at lr_end scaled by its lr over the default lr (transformers' lr_end / lr_init).
    assert_same(rec["lr"][-1], np.asarray(lrs, dtype=np.float64) * (lr_end / default_lr), rtol=1e-15)


def test_warmup_polynomial_defaults_equal_transformers():
    # lr_end=1e-7 and power=1.0 by default, as transformers; on 0-d parameters.
    _run(lambda o: optim_core.WarmupPolynomial(o, 10, 100),
         lambda o: hf.get_polynomial_decay_schedule_with_warmup(o, 10, 100), 120, lrs=(0.1,), default_lr=0.1,
         shape=())


# -- what transformers accepts and we refuse, and where both raise ---------------------------------------
def _groups(mod_is_torch, lr=0.1):
    if mod_is_torch:
        return torch.optim.SGD([torch.zeros(2, dtype=torch.float64, requires_grad=True)], lr=lr)
    return optim_core.SGD([optim_core.Parameter(np.zeros(2))], lr=lr)


def _hf_lrs(make, steps):
    opt = _groups(True)
    s = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        s.step()
        out.append(opt.param_groups[0]["lr"])
    return np.asarray(out, dtype=np.float64)


def test_lr_end_not_below_the_default_lr_is_refused_by_both():
    with pytest.raises(ValueError, match=r"lr_end \(0.1\) must be smaller than initial lr \(0.1\)"):
        hf.get_polynomial_decay_schedule_with_warmup(_groups(True), 10, 100, lr_end=0.1)
    with pytest.raises(ValueError, match=r"lr_end \(0.1\) must be smaller than initial lr \(0.1\)"):
        optim_core.WarmupPolynomial(_groups(False), 10, 100, end_lr=0.1)
    with pytest.raises(ValueError, match="must be smaller than initial lr"):
        optim_core.warmup_polynomial(50, 0.1, 10, 100, end_lr=0.2)


@pytest.mark.parametrize("w,T,power,fails_at", [(10, 10, 1.0, 10), (0, 0, 1.0, 0), (5, 20, -1.0, 20)])
def test_polynomial_without_decay_steps_or_with_a_negative_power_divides_by_zero_in_both(w, T, power, fails_at):
    # transformers: ZeroDivisionError at step warmup_steps (total == warmup; 0: its constructor)
    # or at total_steps (power < 0); ours: a DividesByZeroError (a ZeroDivisionError and a
    # ValueError) at construction.
    def make(o):
        return hf.get_polynomial_decay_schedule_with_warmup(o, w, T, power=power)

    if fails_at:
        assert len(_hf_lrs(make, fails_at - 1)) == fails_at  # fine until then
    with pytest.raises(ZeroDivisionError):
        _hf_lrs(make, fails_at)
    with pytest.raises(ZeroDivisionError) as ours:
        optim_core.WarmupPolynomial(_groups(False), w, T, power=power)
    assert isinstance(ours.value, ValueError)
    with pytest.raises(ZeroDivisionError):
        optim_core.warmup_polynomial(5, 0.1, w, T, power=power)


def test_refused_warmup_longer_than_the_run():
    # transformers: after the warm-up its cosine jumps between peak and floor at every step,
    # its polynomial drops to lr_end at once; ours refuses total_steps < warmup_steps.
    lrs = _hf_lrs(lambda o: hf.get_cosine_schedule_with_warmup(o, 20, 10), 24)
    assert_same(lrs[20:], np.array([0.1, 0.0, 0.1, 0.0, 0.1]), rtol=1e-15, atol=1e-17)
    lrs = _hf_lrs(lambda o: hf.get_polynomial_decay_schedule_with_warmup(o, 20, 10, lr_end=0.001), 22)
    assert_same(lrs[19:], np.array([0.1 * 19 / 20, 0.001, 0.001, 0.001]), rtol=1e-12)
    for make in (lambda o: optim_core.WarmupCosine(o, 20, 10), lambda o: optim_core.WarmupPolynomial(o, 20, 10)):
        with pytest.raises(ValueError, match=r"total_steps \(10\) must be >= warmup_steps \(20\)"):
            make(_groups(False))


def test_refused_floors_outside_0_1_and_a_negative_lr_end():
    # transformers: min_lr_rate 1.5 decays *up* to 1.5 x the peak; lr_end < 0 ends on a negative lr.
    lrs = _hf_lrs(lambda o: hf.get_cosine_with_min_lr_schedule_with_warmup(o, 0, 10, min_lr_rate=1.5), 10)
    assert lrs[-1] == pytest.approx(0.15)
    lrs = _hf_lrs(lambda o: hf.get_polynomial_decay_schedule_with_warmup(o, 0, 10, lr_end=-0.01), 10)
    assert lrs[-1] == pytest.approx(-0.01)
    with pytest.raises(ValueError, match=r"min_lr_ratio must lie in \[0, 1\]"):
        optim_core.WarmupCosine(_groups(False), 0, 10, min_lr_ratio=1.5)
    with pytest.raises(ValueError, match=r"end_lr must lie in \[0, inf\)"):
        optim_core.WarmupPolynomial(_groups(False), 0, 10, end_lr=-0.01)
