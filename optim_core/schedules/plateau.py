"""ReduceLROnPlateau: cut the lr when a monitored metric stops improving.

Three forms with one rule: the torch-shaped class; :func:`plateau_lr`, a pure function
of a whole metric sequence; and :func:`plateau_init` / :func:`plateau_step`, which step
``B`` independent runs at once on arrays (for the trajectory engine).

The rule (torch's): a metric is *better* than the best so far if it beats it by the
threshold (``rel``: by a fraction ``threshold`` of it; ``abs``: by ``threshold``).
After more than ``patience`` steps without improvement the lr becomes
``max(lr * factor, min_lr)`` (unless that changes it by no more than ``eps``), and the
next ``cooldown`` steps do not count as bad.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from optim_core.entries import Hyper, ScheduleInfo
from optim_core.schedules._base import (
    EPOCH_DEPRECATION_WARNING,
    ArgumentTypeError,
    LRScheduler,
    check_int,
    check_optimizer,
    check_declared,
    check_steps,
    kwargs_text,
    torch_snippet,
)

__all__ = ["ReduceLROnPlateau", "plateau_lr", "plateau_init", "plateau_step"]

_OWNER = "ReduceLROnPlateau"


def _check_mode(mode):
    # torch builds its message as 'mode ' + mode: one that is not a string is a TypeError there.
    if not isinstance(mode, str):
        raise ArgumentTypeError(f"{_OWNER}: mode must be a string, got {type(mode).__name__}")
    if mode not in ("min", "max"):
        raise ValueError(f"mode {mode!r} is unknown! ({_OWNER}: mode must be 'min' or 'max')")


def _check_threshold_mode(threshold_mode):
    if not isinstance(threshold_mode, str):
        raise ArgumentTypeError(f"{_OWNER}: threshold_mode must be a string, got {type(threshold_mode).__name__}")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f"threshold mode {threshold_mode!r} is unknown! ({_OWNER}: threshold_mode must be 'rel' or 'abs')")


def _plateau_params(mode, factor, patience, threshold, threshold_mode, cooldown, eps):
    # torch's order: factor, then mode, then threshold_mode.
    if isinstance(factor, (int, float)) and factor >= 1.0:
        raise ValueError(f"Factor should be < 1.0. ({_OWNER}: factor multiplies the lr at each reduction, got {factor})")
    _check_mode(mode)
    _check_threshold_mode(threshold_mode)
    return {
        "mode": mode,
        "factor": check_declared(_OWNER, "factor", factor,
                                 why=" (the lr is multiplied by it at each reduction; torch turns a negative one "
                                 "into min_lr)"),
        "patience": check_declared(_OWNER, "patience", patience,
                                   why=" (steps without improvement tolerated; torch reduces at every step below 0)"),
        "threshold": check_declared(_OWNER, "threshold", threshold,
                                     why=" (the improvement that counts; below 0 a worse metric counts as better)"),
        "threshold_mode": threshold_mode,
        "cooldown": check_declared(_OWNER, "cooldown", cooldown,
                                   why=" (steps ignored after a reduction; torch reads a negative one as 0)"),
        "eps": check_declared(_OWNER, "eps", eps,
                              why=" (smaller lr changes are skipped; below 0 a 'reduction' may raise the lr)"),
    }


def _check_min_lr(min_lr):
    values = min_lr if isinstance(min_lr, (list, tuple)) else [min_lr]
    for v in values:
        check_declared(_OWNER, "min_lr", v, why=" (the lr is never reduced below it; torch reads a "
                                                      "negative one as 0)")


def _is_better(a, best, mode, threshold, threshold_mode):
    """Scalar or array: whether ``a`` improves on ``best`` (torch's comparison, same arithmetic)."""
    if mode == "min":
        return a < best * (1.0 - threshold) if threshold_mode == "rel" else a < best - threshold
    return a > best * (threshold + 1.0) if threshold_mode == "rel" else a > best + threshold


def _worst(mode):
    return math.inf if mode == "min" else -math.inf


def plateau_lr(metrics: Sequence[float], base_lr: float, mode="min", factor=0.1, patience=10, threshold=1e-4,
               threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8) -> dict[str, np.ndarray]:
    """The lr of one run fed ``metrics`` one per step.

    Returns ``{"lr": array(len(metrics) + 1), "reductions": int array}``: ``lr[i]`` is the
    lr after ``i`` calls of ``step(metric)`` (``lr[0] = base_lr``; ``lr[i]`` is in force
    for step ``i``, whose metric ``metrics[i]`` decides ``lr[i + 1]``), and
    ``reductions`` are the indices ``i`` with ``lr[i] < lr[i - 1]``.
    """
    p = _plateau_params(mode, factor, patience, threshold, threshold_mode, cooldown, eps)
    _check_min_lr(min_lr)
    m = [float(v) for v in np.asarray(metrics, dtype=np.float64).reshape(-1)]
    mode, factor, patience, threshold = p["mode"], p["factor"], p["patience"], p["threshold"]
    threshold_mode, cooldown, eps = p["threshold_mode"], p["cooldown"], p["eps"]
    min_lr = float(min_lr)
    lr = float(base_lr)
    out = [lr]
    reductions = []
    best, bad, cool = _worst(mode), 0, 0
    for i, current in enumerate(m):
        if _is_better(current, best, mode, threshold, threshold_mode):
            best, bad = current, 0
        else:
            bad += 1
        if cool > 0:
            cool -= 1
            bad = 0
        if bad > patience:
            new = max(lr * factor, min_lr)
            if lr - new > eps:
                lr = new
                reductions.append(i + 1)
            cool, bad = cooldown, 0
        out.append(lr)
    return {"lr": np.array(out), "reductions": np.array(reductions, dtype=np.int64)}


def plateau_init(B: int, base_lr: Any, mode: str = "min") -> dict[str, Any]:
    """State for ``B`` independent runs: ``lr``, ``best``, ``num_bad_epochs``, ``cooldown_counter`` arrays."""
    B = check_int(_OWNER, "B", B, low=0)
    _check_mode(mode)
    return {
        "lr": np.broadcast_to(np.asarray(base_lr, dtype=np.float64), (B,)).copy(),
        "best": np.full(B, _worst(mode)),
        "num_bad_epochs": np.zeros(B, dtype=np.int64),
        "cooldown_counter": np.zeros(B, dtype=np.int64),
        "reduced": np.zeros(B, dtype=bool),
        "last_epoch": 0,
        "mode": mode,
    }


def plateau_step(state: dict[str, Any], metrics: Any, *, mode: str | None = None, factor=0.1, patience=10,
                 threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8) -> np.ndarray:
    """One ``step(metric)`` of every run: ``metrics`` has shape ``(B,)``; returns the new ``lr`` (B,).

    Updates ``state`` in place (``state["reduced"]`` marks the runs cut at this step).
    The numeric parameters may be arrays of shape ``(B,)`` (a sweep); ``mode`` defaults to
    the one given to :func:`plateau_init`. Row ``b`` equals a ReduceLROnPlateau fed ``metrics[:, b]``.
    """
    mode = state["mode"] if mode is None else mode
    if mode != state["mode"]:
        raise ValueError(f"{_OWNER}: mode {mode!r} differs from the state's {state['mode']!r} (set at plateau_init)")
    _check_threshold_mode(threshold_mode)
    if np.any(np.asarray(factor) >= 1.0):
        raise ValueError(f"Factor should be < 1.0. ({_OWNER}: factor multiplies the lr at each reduction)")
    current = np.asarray(metrics, dtype=np.float64)
    lr, best = state["lr"], state["best"]
    bad, cool = state["num_bad_epochs"], state["cooldown_counter"]
    better = _is_better(current, best, mode, threshold, threshold_mode)
    best[...] = np.where(better, current, best)
    bad[...] = np.where(better, 0, bad + 1)
    in_cooldown = cool > 0
    cool[...] = np.where(in_cooldown, cool - 1, cool)
    bad[in_cooldown] = 0
    reduce = bad > patience
    new = np.maximum(lr * factor, min_lr)
    apply = reduce & (lr - new > eps)
    lr[...] = np.where(apply, new, lr)
    cool[...] = np.where(reduce, cooldown, cool)
    bad[reduce] = 0
    state["reduced"] = apply
    state["last_epoch"] += 1
    return lr


class ReduceLROnPlateau(LRScheduler):
    """torch's ``ReduceLROnPlateau(optimizer, mode='min', factor=0.1, patience=10, threshold=1e-4,
    threshold_mode='rel', cooldown=0, min_lr=0, eps=1e-8)``; call ``step(metric)``.

    ``min_lr`` is one number or a list with one per param group. Unlike the other
    schedulers it sets no ``initial_lr`` and takes no initial step (as torch). ``factor=0``
    and ``min_lr`` above the lr are accepted, as torch.

    Refused (torch accepts): a negative ``factor`` (torch sets the lr to ``min_lr``), a
    negative ``patience`` (torch reduces at every step), ``cooldown`` (read as 0 by torch),
    ``threshold`` (a worse metric counts as better), ``min_lr`` or ``eps`` (a 'reduction'
    may then raise the lr), and non-integer ``patience`` / ``cooldown``.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        p = _plateau_params(mode, factor, patience, threshold, threshold_mode, cooldown, eps)
        check_optimizer(optimizer)
        self.optimizer = optimizer
        self.factor = p["factor"]
        _check_min_lr(min_lr)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, got {len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience, self.cooldown, self.eps = p["patience"], p["cooldown"], p["eps"]
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.mode, self.threshold, self.threshold_mode = mode, p["threshold"], threshold_mode
        self.mode_worse = _worst(mode)
        self._reset()

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, a, best):
        return _is_better(a, best, self.mode, self.threshold, self.threshold_mode)

    def step(self, metrics, epoch=None):
        current = float(metrics)
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the optimizer ({len(groups)}) differs from when "
                    f"ReduceLROnPlateau was initialized ({len(self.min_lrs)}); set min_lrs to match."
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for i, group in enumerate(groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr


# -- registry -----------------------------------------------------------------------------
# The demo metric when none is given: a loss that falls, then flattens with a small ripple,
# so the plateau logic has something to see. The torch snippet uses the same expression.
DEMO_METRIC = "1.0 / (1.0 + 0.01 * step) + 0.02 * math.sin(0.3 * step)"


def demo_metric(n: int) -> np.ndarray:
    step = np.arange(n, dtype=np.float64)
    return 1.0 / (1.0 + 0.01 * step) + 0.02 * np.sin(0.3 * step)


def _plateau_curve(n_steps, base_lr, metrics=None, **params):
    n_steps = check_steps(n_steps)
    m = demo_metric(max(n_steps - 1, 0)) if metrics is None else np.asarray(metrics, dtype=np.float64)[: max(n_steps - 1, 0)]
    out = plateau_lr(m, base_lr, **params)
    lr = out["lr"][:n_steps]
    if len(lr) < n_steps:  # fewer metrics than steps: the lr stays where the last one left it
        lr = np.concatenate((lr, np.full(n_steps - len(lr), lr[-1])))
    return {"lr": lr, "reductions": out["reductions"][out["reductions"] < n_steps]}


def _plateau_pytorch(base_lr=0.1, n_steps=1000, optimizer=None, hypers=None, **params):
    line = f"scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, {kwargs_text(params)})"
    return torch_snippet(line, base_lr=base_lr, n_steps=n_steps, optimizer=optimizer, hypers=hypers,
                         metric=DEMO_METRIC)


INFOS = [
    ScheduleInfo(
        name="ReduceLROnPlateau",
        curve=_plateau_curve,
        params=(
            Hyper("mode", "min", kind="choice", choices=("min", "max"), label="mode",
                  help="min for a loss, max for an accuracy."),
            Hyper("factor", 0.5, low=0.05, high=0.95, label="factor",
                  help="The lr is multiplied by it at each reduction.", valid="[0, 1)"),
            Hyper("patience", 10, kind="int", low=0, high=100, label="patience",
                  help="Steps without improvement tolerated before a reduction.", valid="[0, inf)"),
            Hyper("threshold", 1e-4, low=1e-6, high=0.1, log=True, label="threshold",
                  help="The improvement that counts as one.", valid="[0, inf)"),
            Hyper("threshold_mode", "rel", kind="choice", choices=("rel", "abs"), label="threshold mode",
                  help="rel: beat best·(1∓threshold); abs: beat best∓threshold."),
            Hyper("cooldown", 0, kind="int", low=0, high=100, label="cooldown",
                  help="Steps after a reduction during which bad steps are not counted.", valid="[0, inf)"),
            Hyper("min_lr", 0.0, low=0.0, high=0.01, label="min lr",
                  help="Floor of the lr.", valid="[0, inf)"),
            Hyper("eps", 1e-8, low=1e-12, high=1e-4, log=True, label="ε",
                  help="Reductions smaller than this are skipped.", valid="[0, inf)"),
        ),
        latex=r"\eta \leftarrow \max(\eta \cdot f,\ \eta_{min}) \quad \text{after more than } P"
              r" \text{ steps with } m_t \not< m_{best}(1 - \theta)",
        summary="Data-driven decay: cut the lr when the validation loss stalls; robust when the training "
                "length is unknown. The curve is driven by a demo metric unless one is given.",
        pytorch=_plateau_pytorch,
        cls=ReduceLROnPlateau,
        needs_metric=True,
    ),
]
