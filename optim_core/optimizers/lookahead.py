"""Lookahead: k steps of any optimizer, then one step back towards slow weights.

A wrapper, not a registry entry: ``Lookahead(Adam(params), k=5, alpha=0.5)``. The
trajectory engine, which has no optimizer objects, calls :func:`lookahead_sync` on its
arrays every ``k`` steps instead.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np

from optim_core.optimizer import HyperparameterError, Optimizer, Parameter

__all__ = ["Lookahead", "lookahead_sync"]


def lookahead_sync(fast: np.ndarray, slow: np.ndarray, alpha) -> None:
    r"""Lookahead's synchronisation, in place: ``slow += α (fast - slow)``, then ``fast = slow``.

    .. math::
        \phi_{t} = \phi_{t-k} + \alpha(\theta_{t} - \phi_{t-k}),\qquad \theta_{t} \leftarrow \phi_{t}

    ``alpha`` may be an array broadcasting to the weights, e.g. ``(B, 1)`` for a sweep.
    """
    slow += alpha * (fast - slow)
    fast[...] = slow


class Lookahead:
    """``Lookahead(base_optimizer, k=5, alpha=0.5)``: wraps any optim_core optimizer.

    The base optimizer takes every step (the "fast" weights are the parameters); the
    wrapper keeps a copy of the weights from before the first step (the "slow" weights,
    ``state[p]["slow_param"]``) and every ``k`` steps moves them by ``alpha`` towards the
    fast weights and resets the parameters to them. The base optimizer's own state
    (momenta) carries on across the reset, as in the paper's default.

    ``param_groups`` and ``defaults`` are the base optimizer's (a scheduler on the
    wrapper changes the base lr); ``state`` holds the slow weights;
    ``state_dict()`` holds both.

    Step for step ``pytorch_optimizer.Lookahead(base, k, alpha)`` with its default
    ``pullback_momentum="none"`` (syncs after steps k, 2k, ...; torch_optimizer's version
    also syncs after step 1). Edge cases where the two part: the slow copy is taken at
    the first step a parameter has a gradient (there: when the wrapper is built, so
    weights loaded in between are missed); a parameter whose gradient is ``None`` at a
    sync is still synced here once it has a slow copy (there: skipped); the cadence
    counts the wrapper's steps (there: per group, so a group added later has its own);
    ``alpha=1`` is allowed (a sync that only copies the fast weights); the "reset" and
    "pullback" momentum options are not offered.
    """

    def __init__(self, base_optimizer: Optimizer, k: int = 5, alpha: float = 0.5):
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise HyperparameterError(f"Invalid lookahead steps: {k}")
        if not 0.0 <= alpha <= 1.0:
            raise HyperparameterError(f"Invalid slow update rate: {alpha}")
        self.base_optimizer = base_optimizer
        self.k = int(k)
        self.alpha = float(alpha)
        self.state: dict[Parameter, dict] = {}
        self.step_count = 0

    @property
    def param_groups(self) -> list[dict]:
        return self.base_optimizer.param_groups

    @property
    def defaults(self) -> dict:
        return self.base_optimizer.defaults

    def add_param_group(self, param_group: dict) -> None:
        self.base_optimizer.add_param_group(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base_optimizer.zero_grad(set_to_none)

    def _params(self) -> list[Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    def step(self, closure=None):
        """One fast step of the base optimizer; every ``k``-th also synchronises."""
        # The closure runs first so that the slow copy is taken before anything moves.
        loss = closure() if closure is not None else None
        for p in self._params():
            if p.grad is not None and p not in self.state:
                self.state[p] = {"slow_param": p.data.copy()}
        self.base_optimizer.step()
        self.step_count += 1
        if self.step_count % self.k == 0:
            for p, st in self.state.items():
                lookahead_sync(p.data, st["slow_param"], self.alpha)
        return loss

    def state_dict(self) -> dict:
        """The base optimizer's ``state`` and ``param_groups``, plus ``slow_state`` and ``lookahead``."""
        sd = self.base_optimizer.state_dict()
        index: dict[int, int] = {}
        for p in self._params():
            index.setdefault(id(p), len(index))
        slow = {index[id(p)]: copy.deepcopy(st) for p, st in self.state.items()}
        return {**sd, "slow_state": slow, "lookahead": {"k": self.k, "alpha": self.alpha, "step": self.step_count}}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        self.base_optimizer.load_state_dict({"state": state_dict["state"], "param_groups": state_dict["param_groups"]})
        params = self._params()
        self.state = {}
        for idx, st in state_dict["slow_state"].items():
            p = params[idx]
            entry = copy.deepcopy(st)
            entry["slow_param"] = np.asarray(entry["slow_param"], dtype=p.data.dtype, order="C")
            self.state[p] = entry
        la = state_dict["lookahead"]
        self.k, self.alpha, self.step_count = int(la["k"]), float(la["alpha"]), int(la["step"])

    def __repr__(self) -> str:
        return f"Lookahead(k={self.k}, alpha={self.alpha}, base={self.base_optimizer!r})"
