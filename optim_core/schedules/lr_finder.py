r"""The LR range test (Smith 2017, "Cyclical Learning Rates"; fast.ai's lr finder).

Train for a short while with an lr growing exponentially from ``start_lr`` to
``end_lr``, record the loss at every step and smooth it (an exponential moving
average, bias-corrected as Adam's moments are). The loss first barely moves, then falls,
then blows up once the lr is too large. A good lr is where the smoothed loss falls
fastest against :math:`\log \eta`; the test stops early once the smoothed loss exceeds
``diverge_threshold`` times its best. Afterwards the parameters and the optimizer's
state are put back as they were, so the test costs nothing but time.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from optim_core.schedules._base import check_int, check_real

__all__ = ["LRRangeTestResult", "lr_range_test"]


@dataclass
class LRRangeTestResult:
    """What :func:`lr_range_test` saw.

    ``lrs[i]`` is the lr of step ``i``, ``losses[i]`` the loss the closure returned at
    that step (before its update), ``smoothed[i]`` the bias-corrected EMA of the losses.
    ``stop_step`` is the step at which divergence stopped the test (None if it ran to the
    end); ``suggested_lr`` is ``lrs[suggested_index]``, the steepest negative slope of
    ``smoothed`` against ``log(lrs)`` (None with fewer than 3 usable points).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped_early: bool
    stop_step: int | None
    suggested_lr: float | None
    suggested_index: int | None


def _params_of(optimizer) -> list:
    seen, out = set(), []
    for group in optimizer.param_groups:
        for p in group["params"]:
            if id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def lr_range_test(
    optimizer: Any,
    closure: Callable[[], float],
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    smooth: float = 0.98,
    diverge_threshold: float = 4.0,
    params: Iterable | None = None,
) -> LRRangeTestResult:
    """Run the LR range test with ``optimizer`` and restore everything afterwards.

    ``closure()`` computes the loss at the current parameters, sets every parameter's
    ``.grad`` and returns the loss (as for ``optimizer.step(closure)``). Step ``i`` uses
    ``lr_i = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))`` in every param
    group. ``params`` are the parameters whose values are saved and restored (default:
    all of the optimizer's); the optimizer's ``state_dict()`` is restored as well.
    The divergence rule assumes a positive loss (as a training loss is).
    """
    start_lr = check_real("lr_range_test", "start_lr", start_lr, low=0.0, low_open=True)
    end_lr = check_real("lr_range_test", "end_lr", end_lr, low=start_lr, low_open=True,
                        why=" (it must exceed start_lr)")
    num_steps = check_int("lr_range_test", "num_steps", num_steps, low=2)
    smooth = check_real("lr_range_test", "smooth", smooth, low=0.0, high=1.0, high_open=True,
                        why=" (the EMA's decay)")
    diverge_threshold = check_real("lr_range_test", "diverge_threshold", diverge_threshold, low=1.0,
                                   low_open=True, why=" (a multiple of the best smoothed loss)")
    params = _params_of(optimizer) if params is None else list(params)
    saved_data = [np.array(p.data, copy=True) for p in params]
    saved_grads = [None if p.grad is None else np.array(p.grad, copy=True) for p in params]
    saved_state = copy.deepcopy(optimizer.state_dict())

    schedule = start_lr * (end_lr / start_lr) ** (np.arange(num_steps) / (num_steps - 1))
    lrs, losses, smoothed = [], [], []
    stop_step = None
    try:
        avg, best = 0.0, math.inf
        for i, lr in enumerate(schedule.tolist()):
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad()
            loss = float(optimizer.step(closure))
            avg = smooth * avg + (1 - smooth) * loss
            s = avg / (1 - smooth ** (i + 1))
            lrs.append(lr)
            losses.append(loss)
            smoothed.append(s)
            if not math.isfinite(s) or (i > 0 and s > diverge_threshold * best):
                stop_step = i
                break
            best = min(best, s)
    finally:
        for p, data, grad in zip(params, saved_data, saved_grads):
            if p.data.shape == data.shape:
                p.data[...] = data
            else:
                p.data = data
            p.grad = grad
        optimizer.load_state_dict(saved_state)

    lrs_a, losses_a, smoothed_a = np.array(lrs), np.array(losses), np.array(smoothed)
    # The diverging point is the symptom, not a candidate.
    usable = len(lrs) - (1 if stop_step is not None else 0)
    idx = None
    if usable >= 3:
        slope = np.gradient(smoothed_a[:usable], np.log(lrs_a[:usable]))
        finite = np.isfinite(slope)
        if finite.any():
            idx = int(np.argmin(np.where(finite, slope, np.inf)))
    return LRRangeTestResult(
        lrs=lrs_a,
        losses=losses_a,
        smoothed=smoothed_a,
        stopped_early=stop_step is not None,
        stop_step=stop_step,
        suggested_lr=None if idx is None else float(lrs_a[idx]),
        suggested_index=idx,
    )
