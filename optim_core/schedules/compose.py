"""Composing schedules: SequentialLR (one after another) and ChainedScheduler (all at every step).

The pure helpers take the parts as ``(name, params)`` pairs, with the torch keywords
of the named schedule (``("LinearLR", {"start_factor": 0.1, "total_iters": 100})``),
and return the composed curve in one call, with torch's semantics:

* :func:`sequential_lr`: part ``k`` runs from milestone ``k-1`` as if it had just been
  created (torch restarts it at its own step 0, from its closed form), so each segment
  is that part's own curve, restarted; the exception is MultiplicativeLR, which keeps
  multiplying the lr the previous part left.
* :func:`chained_lr`: at every step each part updates the lr the previous one left, in
  order. Every torch update is affine in the current lr, ``lr <- a (lr - c) + d``: a
  factor for the multiplicative schedules (``c = d = 0``), a value for the absolute ones
  (``a = 0``: LambdaLR, CosineAnnealingWarmRestarts, the warm-ups), an affine step for
  CosineAnnealingLR. Products of factors are one ``np.multiply.accumulate``; with an
  absolute part the lr at each step no longer depends on the previous one. Only a
  chain holding CosineAnnealingLR with ``eta_min != 0`` (or run past ``T_max``) with
  other parts needs the step-by-step recursion (a plain loop, ~1 µs per step).

OneCycleLR and CyclicLR rewrite the group's lr and ``initial_lr`` when torch constructs
them, so their composition depends on construction order; they, ReduceLROnPlateau and
nested compositions are refused by the pure helpers (the classes accept what torch does).
"""

from __future__ import annotations

import copy
from bisect import bisect_right
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from optim_core.entries import Hyper, ScheduleInfo
from optim_core.schedules import cosine, decay, lambdas, warmup
from optim_core.schedules._base import LRScheduler, check_int, check_steps, fmt, kwargs_text, ratio_curve, torch_snippet

__all__ = ["SequentialLR", "ChainedScheduler", "sequential_lr", "chained_lr"]


# -- parts ----------------------------------------------------------------------------------
def _lambda_of(name: str, params: Mapping[str, Any]) -> tuple[Callable, bool]:
    """The callable of a LambdaLR / MultiplicativeLR part: ``lr_lambda`` or the registry's ``gamma`` form."""
    if "lr_lambda" in params:
        return params["lr_lambda"], bool(params.get("vectorized", False))
    gamma = float(params.get("gamma", 0.995))
    if name == "LambdaLR":
        return (lambda t: gamma**t), True
    return (lambda t: np.full(np.shape(t), gamma)), True


def _curve(name: str, n: int, base_lr: float, params: Mapping[str, Any]) -> np.ndarray:
    """The part's standalone curve (its own schedule from its step 0)."""
    if name in decay.RATIOS:
        return ratio_curve(base_lr, decay.ratios(name, n, **params))
    if name == "LambdaLR":
        fn, vec = _lambda_of(name, params)
        return lambdas.lambda_lr(n, base_lr, fn, vectorized=vec)["lr"]
    if name == "MultiplicativeLR":
        fn, vec = _lambda_of(name, params)
        return lambdas.multiplicative_lr(n, base_lr, fn, vectorized=vec)["lr"]
    return _ABSOLUTE[name](n, base_lr, **params)["lr"]


def _maps(name: str, n: int, base_lr: float, params: Mapping[str, Any]):
    """The part's torch update at steps ``0..n-1`` as ``(a, c, d, absolute)``: ``lr <- a (lr - c) + d``."""
    zeros = np.zeros(n)
    if name in decay.RATIOS:
        return decay.ratios(name, n, **params), zeros, zeros, False
    if name == "MultiplicativeLR":
        fn, vec = _lambda_of(name, params)
        return lambdas.multiplicative_ratios(n, fn, vectorized=vec), zeros, zeros, False
    if name == "CosineAnnealingLR":
        return (*cosine.cosine_maps(n, base_lr, **params), False)
    return zeros, zeros, _curve(name, n, base_lr, params), True


_ABSOLUTE = {
    "CosineAnnealingLR": cosine.cosine_annealing_lr,
    "CosineAnnealingWarmRestarts": cosine.cosine_annealing_warm_restarts,
    "WarmupCosine": warmup.warmup_cosine,
    "WarmupPolynomial": warmup.warmup_polynomial,
}
_SUPPORTED = (*decay.RATIOS, "LambdaLR", "MultiplicativeLR", *_ABSOLUTE)


def _part(spec) -> tuple[str, dict]:
    if isinstance(spec, str):
        name, params = spec, {}
    else:
        try:
            name, params = spec
        except (TypeError, ValueError):
            raise TypeError(f"a part is a schedule name or a (name, params) pair, got {spec!r}") from None
    if name not in _SUPPORTED:
        raise ValueError(
            f"cannot compose {name!r} in a pure curve: supported parts are {', '.join(_SUPPORTED)} "
            "(OneCycleLR and CyclicLR overwrite the lr and initial_lr when constructed, ReduceLROnPlateau needs "
            "a metric)"
        )
    return name, dict(params or {})


def _check_milestones(owner: str, milestones: Sequence[int], n_parts: int) -> list[int]:
    if len(milestones) != n_parts - 1:
        raise ValueError(
            "Sequential Schedulers expects number of schedulers provided to be one more than the number of "
            f"milestone points, but got number of schedulers {n_parts} and the number of milestones to be equal "
            f"to {len(milestones)}"
        )
    ms = [check_int(owner, "milestones[i]", m) for m in milestones]
    # torch bisects the list: a repeated milestone skips the schedulers between (none of them
    # ever runs), a milestone <= 0 starts the next one at construction; both are accepted.
    # A decreasing list is refused: torch's bisect on it gives an order no one wrote.
    if any(b < a for a, b in zip(ms, ms[1:])):
        raise ValueError(f"{owner}: milestones must be non-decreasing steps, got {list(milestones)}")
    return ms


# -- pure helpers ---------------------------------------------------------------------------
def sequential_lr(n: int, base_lr: float, parts: Sequence, milestones: Sequence[int]) -> dict[str, np.ndarray]:
    """The lr of torch's ``SequentialLR(optimizer, [parts...], milestones)`` for steps ``0..n-1``.

    ``parts``: ``(name, params)`` pairs (torch keywords; LambdaLR / MultiplicativeLR take
    ``lr_lambda`` (+ ``vectorized``) or the registry's ``gamma``).
    """
    n = check_steps(n)
    specs = [_part(p) for p in parts]
    if not specs:
        raise ValueError("SequentialLR expects at least one scheduler, but got no scheduler.")
    ms = _check_milestones("SequentialLR", milestones, len(specs))
    base_lr = float(base_lr)
    # Part k runs on steps [ms[k-1], ms[k]); a milestone <= 0 is step 0 (torch's bisect).
    bounds = [0, *(max(0, m) for m in ms), max(n, ms[-1] if ms else 0)]
    lr = np.empty(n)
    prev = base_lr
    for k, (name, params) in enumerate(specs):
        lo, hi = min(bounds[k], n), min(bounds[k + 1], n)
        length = hi - lo  # 0 for a part that never runs (its arguments are still checked)
        # The part running at step 0 takes its initial step (MultiplicativeLR keeps the lr);
        # a later one starts at its milestone from its step 0 (MultiplicativeLR multiplies).
        if name == "MultiplicativeLR" and lo > 0:
            fn, vec = _lambda_of(name, params)
            seg = ratio_curve(prev, lambdas.multiplicative_ratios(length, fn, vectorized=vec, milestone=True))
        else:
            seg = _curve(name, length, base_lr, params)
        if length:
            lr[lo:hi] = seg
            prev = seg[-1]
    return {"lr": lr}


def chained_lr(n: int, base_lr: float, parts: Sequence) -> dict[str, np.ndarray]:
    """The lr of torch's ``ChainedScheduler([parts...])`` for steps ``0..n-1``: every part steps, in order."""
    n = check_steps(n)
    specs = [_part(p) for p in parts]
    if not specs:
        raise ValueError("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.")
    base_lr = float(base_lr)
    maps = [_maps(name, n, base_lr, params) for name, params in specs]
    absolute = [i for i, m in enumerate(maps) if m[3]]
    if absolute:
        # An absolute part sets the lr at every step, so no step depends on the previous one.
        lr = maps[absolute[-1]][2].copy()
        for a, c, d, _ in maps[absolute[-1] + 1:]:
            lr = a * (lr - c) + d
        return {"lr": lr}
    if all(not c.any() and not d.any() for _, c, d, _ in maps):
        factor = np.ones(n)
        for a, _, _, _ in maps:
            factor = factor * a
        return {"lr": ratio_curve(base_lr, factor)}
    lists = [(a.tolist(), c.tolist(), d.tolist()) for a, c, d, _ in maps]
    out = np.empty(n)
    lr = base_lr
    for t in range(n):
        for a, c, d in lists:
            lr = a[t] * (lr - c[t]) + d[t]
        out[t] = lr
    return {"lr": out}


# -- classes ----------------------------------------------------------------------------------
def _check_children(owner: str, optimizer, schedulers) -> None:
    from optim_core.schedules.plateau import ReduceLROnPlateau

    for idx, s in enumerate(schedulers):
        if not hasattr(s, "optimizer"):
            raise TypeError(f"{owner} at index {idx} should have `optimizer` as its attribute.")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be "
                f"specified when calling `step`, but got one at index {idx} in the given schedulers sequence."
            )
        if s.optimizer is not optimizer:
            raise ValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but got scheduler "
                f"{type(s).__name__} at index {idx} has {s.optimizer}, which is different from "
                f"{type(optimizer).__name__}."
            )


class _Composite(LRScheduler):
    def state_dict(self):
        state = copy.deepcopy({k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_schedulers")})
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        children = state.pop("_schedulers")
        super().load_state_dict(state)
        for s, child in zip(self._schedulers, children):
            s.load_state_dict(child)


class SequentialLR(_Composite):
    """torch's ``SequentialLR(optimizer, schedulers, milestones, last_epoch=-1)``.

    ``schedulers[k]`` drives the lr from ``milestones[k-1]`` on, restarted at its own step 0.
    Milestones may repeat (the schedulers between never run) or be <= 0 (the next scheduler
    runs from the start), as torch.

    Refused (torch accepts): decreasing milestones (torch's bisect on an unsorted list gives
    an order no one wrote, e.g. ``[5, 3]`` runs as ``[3, 3]``).
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        if len(schedulers) < 1:
            raise ValueError("SequentialLR expects at least one scheduler, but got no scheduler.")
        _check_children("SequentialLR", optimizer, schedulers)
        self._schedulers = list(schedulers)
        self._milestones = _check_milestones("SequentialLR", milestones, len(schedulers))
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        self.recursive_undo()
        idx = bisect_right(self._milestones, 0)
        self._schedulers[idx]._initial_step()
        self._last_lr = self._schedulers[idx].get_last_lr()

    def recursive_undo(self, sched=None) -> None:
        """Take back the initial step each child took when it was created."""
        scheds = self if sched is None else sched
        if hasattr(scheds, "_schedulers"):
            for s in scheds._schedulers:
                self.recursive_undo(s)
        elif hasattr(scheds, "last_epoch"):
            scheds.last_epoch -= 1

    def step(self):
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_Composite):
    """torch's ``ChainedScheduler(schedulers, optimizer=None)``: each ``step()`` steps every scheduler, in order."""

    def __init__(self, schedulers, optimizer=None):
        if len(schedulers) < 1:
            raise ValueError("ChainedScheduler expects at least one scheduler to be chained, but got no scheduler.")
        optimizer = optimizer or schedulers[0].optimizer
        _check_children("ChainedScheduler", optimizer, schedulers)
        self._schedulers = list(schedulers)
        self.optimizer = optimizer
        self._last_lr = [group["lr"] for group in self._schedulers[-1].optimizer.param_groups]

    def step(self):
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = [group["lr"] for group in self._schedulers[-1].optimizer.param_groups]


# -- registry: one warm-up + decay example of each ------------------------------------------
def _warmup_hypers():
    return (
        Hyper("warmup_iters", 100, kind="int", low=1, high=5000, label="warm-up steps",
              help="LinearLR warm-up length (the milestone).", valid="[1, inf)"),
        Hyper("start_factor", 0.01, low=0.001, high=1.0, log=True, label="start factor",
              help="Fraction of the lr at step 0.", valid="(0, 1]"),
    )


def _sequential_parts(warmup_iters=100, start_factor=0.01, T_max=900, eta_min=0.0):
    return [("LinearLR", {"start_factor": start_factor, "end_factor": 1.0, "total_iters": warmup_iters}),
            ("CosineAnnealingLR", {"T_max": T_max, "eta_min": eta_min})], [warmup_iters]


def _sequential_curve(n_steps, base_lr, **params):
    parts, milestones = _sequential_parts(**params)
    return sequential_lr(n_steps, base_lr, parts, milestones)


# -- torch snippets -------------------------------------------------------------------------
def composition_snippet(combinator: str, parts: Sequence[tuple[str, Mapping[str, Any]]],
                        milestones: Sequence[int] = (), **snippet) -> str:
    """A runnable script of a warm-up and a decay, ``parts = [(name, torch keywords), (name, torch
    keywords)]``, composed by ``combinator`` (SequentialLR, at ``milestones``, or ChainedScheduler);
    ``snippet``: :func:`~optim_core.schedules._base.torch_snippet`'s keywords (``base_lr``,
    ``n_steps``, ``optimizer``, ``hypers``)."""
    (wname, wkw), (dname, dkw) = parts
    lines = (f"warmup = torch.optim.lr_scheduler.{wname}(optimizer, {kwargs_text(wkw)})\n"
             f"decay = torch.optim.lr_scheduler.{dname}(optimizer, {kwargs_text(dkw)})\n")
    if combinator == "SequentialLR":
        lines += ("scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, schedulers=[warmup, decay], "
                  f"milestones={fmt(list(milestones))})")
    elif combinator == "ChainedScheduler":
        lines += "scheduler = torch.optim.lr_scheduler.ChainedScheduler([warmup, decay], optimizer=optimizer)"
    else:
        raise ValueError(f"combinator must be SequentialLR or ChainedScheduler, got {combinator!r}")
    return torch_snippet(lines, **snippet)


def _sequential_pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, **params):
    parts, milestones = _sequential_parts(**params)
    return composition_snippet("SequentialLR", parts, milestones, base_lr=base_lr, n_steps=n_steps,
                               optimizer=optimizer, hypers=hypers)


def _chained_parts(warmup_iters=100, start_factor=0.01, gamma=0.995):
    return [("LinearLR", {"start_factor": start_factor, "end_factor": 1.0, "total_iters": warmup_iters}),
            ("ExponentialLR", {"gamma": gamma})]


def _chained_curve(n_steps, base_lr, **params):
    return chained_lr(n_steps, base_lr, _chained_parts(**params))


def _chained_pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, **params):
    return composition_snippet("ChainedScheduler", _chained_parts(**params), base_lr=base_lr, n_steps=n_steps,
                               optimizer=optimizer, hypers=hypers)


INFOS = [
    ScheduleInfo(
        name="SequentialLR",
        curve=_sequential_curve,
        params=(
            *_warmup_hypers(),
            Hyper("T_max", 900, kind="int", low=1, high=20000, label="T_max",
                  help="Length of the cosine decay after the warm-up.", valid="[1, inf)", role="run_length"),
            Hyper("eta_min", 0.0, low=0.0, high=0.1, label="η_min", help="Floor of the cosine.", valid="[0, inf)"),
        ),
        latex=r"\eta_t = \begin{cases} \text{LinearLR}(t) & t < W \\ \text{CosineAnnealingLR}(t - W) & t \ge W"
              r"\end{cases}",
        summary="Schedules one after another at milestones; shown as the common recipe LinearLR warm-up, then "
                "CosineAnnealingLR (sequential_lr composes any parts).",
        pytorch=_sequential_pytorch,
        cls=SequentialLR,
    ),
    ScheduleInfo(
        name="ChainedScheduler",
        curve=_chained_curve,
        params=(
            *_warmup_hypers(),
            Hyper("gamma", 0.995, low=0.9, high=1.0, label="γ", help="ExponentialLR's per-step factor.",
                  valid="[0, inf)"),
        ),
        latex=r"\eta_t = \eta_0 \prod_k f_k(t) \quad \text{(here LinearLR} \times \text{ExponentialLR)}",
        summary="Several schedules stepped together, their factors multiplying; shown as LinearLR warm-up times "
                "ExponentialLR decay (chained_lr composes any parts).",
        pytorch=_chained_pytorch,
        cls=ChainedScheduler,
    ),
]
