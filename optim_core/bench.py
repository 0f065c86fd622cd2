"""The core's benchmark: ``python -m optim_core.bench [--quick]``.

Every figure is a ratio measured in the same run, so it travels between machines:
large-tensor steps against the memory-bandwidth bound and against torch.optim, batched
2D trajectories against the same work done with torch.optim, and the analyses' costs.
torch is optional here: without it the torch columns say so.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from optim_core import Parameter, registry
from optim_core.analysis import convergence_map
from optim_core.engine import RunSpec, run_trajectories

# The 10 configurations raced in the batched benchmark; all exist in torch.optim too.
TORCH_TEN = [
    ("SGD", {"lr": 1e-3}),
    ("SGD", {"lr": 1e-3, "momentum": 0.9}),
    ("Adam", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2}),
    ("RMSprop", {"lr": 1e-3}),
    ("Adagrad", {"lr": 1e-1}),
    ("Adadelta", {"lr": 1.0}),
    ("NAdam", {"lr": 1e-2}),
    ("RAdam", {"lr": 1e-2}),
    ("Adamax", {"lr": 1e-2}),
]
DEFAULT_SCENE = ["SGD", "Adam", "RMSprop", "Adagrad", "Lion", "NAdam"]


def best_of(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best wall time of ``repeat`` rounds of ``number`` calls, per call, in seconds."""
    fn()  # warm caches, allocate state
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _torch():
    try:
        import torch  # noqa: PLC0415  (optional, for the comparison columns only)
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def bandwidth_bytes_per_second(n: int) -> float:
    """Achievable memory bandwidth: the best of a copy (2 array passes), ``c = a + b`` (3) and
    an in-place ``a += b`` (3) on float32 arrays, each the best of many runs (the figure is
    a ceiling: a noisy low estimate would flatter the ratios)."""
    a = np.ones(n, np.float32)
    b = np.ones(n, np.float32)
    c = np.empty(n, np.float32)
    rates = [
        2 * 4 * n / best_of(lambda: np.copyto(c, a), repeat=15),
        3 * 4 * n / best_of(lambda: np.add(a, b, out=c), repeat=15),
        3 * 4 * n / best_of(lambda: np.add(a, b, out=a), repeat=15),
    ]
    return max(rates)


def bench_large(n: int, repeat: int) -> list[dict]:
    """Per-step time on ``n`` float32 parameters: core vs bandwidth bound vs torch."""
    bw = bandwidth_bytes_per_second(n)
    rng = np.random.default_rng(0)
    grad = rng.standard_normal(n, dtype=np.float32)
    rows = []
    torch = _torch()
    for name, kwargs, passes in (("Adam", {"lr": 1e-3}, 7), ("SGD", {"lr": 1e-3, "momentum": 0.9}, 5)):
        p = Parameter(rng.standard_normal(n, dtype=np.float32))
        p.grad = grad
        opt = registry.get_optimizer(name).cls([p], **kwargs)
        ours = best_of(opt.step, repeat=repeat)
        bound = passes * 4 * n / bw
        row = {"what": f"{name}{' momentum' if 'momentum' in kwargs else ''} step, {n:.0e} float32",
               "core_ms": ours * 1e3, "bound_ms": bound * 1e3, "x_bound": ours / bound}
        if torch is not None:
            for variant in ("foreach", "fused"):
                t = torch.from_numpy(p.data.copy())
                t.grad = torch.from_numpy(grad)
                flags = {variant: True}
                if name == "SGD" and variant == "fused":
                    flags = {"fused": True}
                try:
                    ref = getattr(torch.optim, name)([t], **kwargs, **flags)
                    row[f"torch_{variant}_ms"] = best_of(ref.step, repeat=repeat) * 1e3
                except (RuntimeError, ValueError) as exc:  # a variant this torch build lacks
                    row[f"torch_{variant}_ms"] = float("nan")
                    row[f"torch_{variant}_note"] = str(exc)[:60]
        rows.append(row)
    return rows


def _surface(name: str):
    return registry.get_surface(name).make()


def _torch_rosenbrock_loop(torch, configs, starts, steps, a=1.0, b=100.0) -> float:
    """The same trajectories with torch.optim, one optimizer per trajectory, autograd gradients."""
    t0 = time.perf_counter()
    for name, kwargs in configs:
        for start in starts:
            p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
            opt = getattr(torch.optim, name)([p], **kwargs)
            for _ in range(steps):
                opt.zero_grad()
                x, y = p[0], p[1]
                loss = (a - x) ** 2 + b * (y - x * x) ** 2
                loss.backward()
                opt.step()
    return time.perf_counter() - t0


def bench_trajectories(quick: bool) -> list[dict]:
    rows = []
    torch = _torch()
    rosen = _surface("Rosenbrock")
    start = np.asarray(rosen.starts[0], dtype=np.float64)

    # The Playground's default scene: 6 different optimizers, 1 start, 500 steps, all recorded.
    scene = [RunSpec(n) for n in DEFAULT_SCENE if n in registry.optimizers()]
    # Best of many: a 10 ms figure on a shared machine is easily doubled by a neighbour.
    t_scene = best_of(lambda: run_trajectories(rosen, scene, start[None, :], 500, record="full"), repeat=21)
    row = {"what": f"default scene: {len(scene)} optimizers x 1 start x 500 steps, everything recorded",
           "core_ms": t_scene * 1e3, "target_ms": 10.0}
    if torch is not None:
        torch_cfg = [(n, {}) for n in DEFAULT_SCENE if hasattr(torch.optim, n)]
        t_ref = _torch_rosenbrock_loop(torch, torch_cfg, [start], 500)
        per_traj_torch = t_ref / (len(torch_cfg) * 500)
        row["torch_ms_same_work"] = per_traj_torch * len(scene) * 500 * 1e3
        row["x_cheaper_than_torch"] = row["torch_ms_same_work"] / row["core_ms"]
    rows.append(row)

    # 10 optimizers x 100 starts x 500 steps.
    rng = np.random.default_rng(0)
    (x0, x1), (y0, y1) = rosen.window
    starts = np.stack([rng.uniform(x0, x1, 100), rng.uniform(y0, y1, 100)], axis=-1)
    specs = [RunSpec(n, hp) for n, hp in TORCH_TEN]
    t_big = best_of(lambda: run_trajectories(rosen, specs, starts, 500, record="path"), repeat=7)
    traj_steps = len(specs) * len(starts) * 500
    row = {"what": "10 optimizers x 100 starts x 500 steps (positions and losses recorded)",
           "core_ms": t_big * 1e3, "target_ms": 60.0, "core_ns_per_trajectory_step": t_big / traj_steps * 1e9}
    if torch is not None:
        sample = starts[: (1 if quick else 3)]
        t_ref = _torch_rosenbrock_loop(torch, TORCH_TEN, sample, 500)
        per = t_ref / (len(TORCH_TEN) * len(sample) * 500)
        row["torch_ns_per_trajectory_step"] = per * 1e9
        row["x_cheaper_than_torch"] = per / (t_big / traj_steps)
        row["torch_note"] = f"torch.optim loop timed on {len(sample)} of the 100 starts, per trajectory-step"
    rows.append(row)

    # A 200 x 200 convergence map, 300 Adam steps.
    t_map = best_of(lambda: convergence_map(rosen, RunSpec("Adam", {"lr": 0.05}), n=200, steps=300), repeat=3)
    row = {"what": "convergence map: 200 x 200 starts x 300 Adam steps", "core_ms": t_map * 1e3, "target_ms": 150.0}
    if torch is not None:
        t_ref = _torch_rosenbrock_loop(torch, [("Adam", {"lr": 0.05})], starts[:2], 300)
        row["torch_ms_same_work"] = t_ref / 2 * 40000 * 1e3
        row["x_cheaper_than_torch"] = row["torch_ms_same_work"] / row["core_ms"]
        row["torch_note"] = "torch extrapolated from 2 of the 40,000 starts"
    rows.append(row)
    return rows


def bench_schedule_curves() -> list[dict]:
    try:
        from optim_core.schedules.bench import bench_schedules
    except ImportError:
        return []
    out = bench_schedules()
    return [{"what": f"{len(out['schedules'])} schedules x 10,000 steps as curves", "core_ms": out["seconds"] * 1e3}]


def _print(rows: list[dict]) -> None:
    for row in rows:
        what = row.pop("what")
        parts = []
        for k, v in row.items():
            parts.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}")
        print(f"- {what}\n    " + "  ".join(parts))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller tensors and fewer repeats (a smoke run)")
    args = parser.parse_args(argv)
    n = 1_000_000 if args.quick else 10_000_000
    print("# optim_core benchmark (best of several runs; ratios measured in this run)")
    print("\n## Large tensors: one optimizer step")
    _print(bench_large(n, repeat=3 if args.quick else 10))
    print("\n## Batched 2D trajectories (Rosenbrock)")
    _print(bench_trajectories(args.quick))
    print("\n## Schedules")
    _print(bench_schedule_curves())


if __name__ == "__main__":
    main()
