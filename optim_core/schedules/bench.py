"""How long the pure curves take: ten schedules of 10,000 steps each, best of several repeats."""

from __future__ import annotations

import time

__all__ = ["bench_schedules"]


def _cases(n: int):
    from optim_core.schedules import (
        cosine_annealing_lr,
        cosine_annealing_warm_restarts,
        cyclic_lr,
        exponential_lr,
        linear_lr,
        multistep_lr,
        one_cycle_lr,
        polynomial_lr,
        step_lr,
        warmup_cosine,
    )

    return [
        ("StepLR", lambda: step_lr(n, 0.1, step_size=n // 10, gamma=0.5)),
        ("MultiStepLR", lambda: multistep_lr(n, 0.1, milestones=[n // 3, 2 * n // 3], gamma=0.1)),
        ("ExponentialLR", lambda: exponential_lr(n, 0.1, gamma=0.999)),
        ("LinearLR", lambda: linear_lr(n, 0.1, start_factor=0.01, total_iters=n // 10)),
        ("PolynomialLR", lambda: polynomial_lr(n, 0.1, total_iters=n, power=2.0)),
        ("CosineAnnealingLR", lambda: cosine_annealing_lr(n, 0.1, T_max=n // 4, eta_min=1e-3)),
        ("CosineAnnealingWarmRestarts", lambda: cosine_annealing_warm_restarts(n, 0.1, T_0=n // 20, T_mult=2)),
        ("OneCycleLR", lambda: one_cycle_lr(n, 0.1, total_steps=n, three_phase=True)),
        ("CyclicLR", lambda: cyclic_lr(n, 0.01, 0.1, step_size_up=n // 20, mode="triangular2")),
        ("WarmupCosine", lambda: warmup_cosine(n, 0.1, warmup_steps=n // 10, total_steps=n, min_lr_ratio=0.1)),
    ]


def bench_schedules(n_steps: int = 10_000, repeats: int = 7) -> dict:
    """Seconds to compute 10 schedule curves of ``n_steps`` steps (lr and momentum), best of ``repeats``.

    Returns ``{"seconds": total, "schedules": [names], "per_schedule": {name: seconds}, "n_steps": n}``.
    """
    cases = _cases(n_steps)
    for _, fn in cases:  # warm up imports and caches
        fn()
    best_total = float("inf")
    per = {name: float("inf") for name, _ in cases}
    for _ in range(repeats):
        t0 = time.perf_counter()
        for name, fn in cases:
            s = time.perf_counter()
            fn()
            per[name] = min(per[name], time.perf_counter() - s)
        best_total = min(best_total, time.perf_counter() - t0)
    return {"seconds": best_total, "schedules": [name for name, _ in cases], "per_schedule": per,
            "n_steps": n_steps}
