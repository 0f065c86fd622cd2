"""How fast the Live Training backend steps: ``python -m app.training.bench``.

The setup the page is sized for: a 2-32-32-2 tanh MLP on 512 two-moons points, full
batch, one torch thread, evaluated on 128 test points every 10 steps (as the page does).
Each optimizer trains alone through :class:`app.training.backend.Race`, so the number includes
everything a live step costs (forward, backward, the gradient and weight norms, the
history), not only the optimizer's update. The goal is >= 1,000 steps/s per optimizer.
"""

from __future__ import annotations

import time

from app.training.backend import ModelSpec
from app.training.datasets import DEFAULT_DATASET, DEFAULT_NOISE, DEFAULT_POINTS

SPEC = ModelSpec()  # the page's default network
N_TRAIN, N_TEST = DEFAULT_POINTS, 128
SETUP = (f"{SPEC.sizes_text} {SPEC.activation} MLP, {N_TRAIN} training points, full batch, 1 torch thread, "
         "registry default hyperparameters")
GOAL_STEPS_PER_S = 1000


def _steps_per_s(make_race, warmup: int, seconds: float, repeats: int) -> float:
    race = make_race()
    race.train(warmup)
    run = race.runs[0]
    best = float("nan")
    for _ in range(repeats):
        start_step, t0 = run.step, time.perf_counter()
        while time.perf_counter() - t0 < seconds and not run.diverged:
            race.train(50)
        elapsed = time.perf_counter() - t0
        if elapsed > 0 and run.step > start_step:
            rate = (run.step - start_step) / elapsed
            best = rate if not best >= rate else best
    return best


def bench_training(seconds: float = 0.25, warmup: int = 50, repeats: int = 3) -> dict[str, float]:
    """Training steps per second, keyed ``"<Optimizer>"`` (optim_core via the adapter) and
    ``"torch.optim <Optimizer>"`` (Adam and SGD): every registry optimizer is measured.

    Each number is the best of ``repeats`` windows of ``seconds``: on a shared machine the
    best window is the one least disturbed by other processes."""
    from optim_core import registry

    from app.training.backend import Race, TrainingRunConfig, torch_available
    from app.training.datasets import make_dataset

    if not torch_available():
        raise RuntimeError("bench_training needs torch: pip install -e '.[torch]'")
    X, y = make_dataset(DEFAULT_DATASET, n=N_TRAIN + N_TEST, noise=DEFAULT_NOISE, seed=0)
    Xtr, ytr, Xte, yte = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
    contestants = [(name, TrainingRunConfig(name)) for name in registry.optimizers()]
    contestants += [(f"torch.optim {name}", TrainingRunConfig(name, backend="torch")) for name in ("Adam", "SGD")]
    results = {}
    for label, cfg in contestants:
        results[label] = _steps_per_s(
            lambda cfg=cfg: Race(Xtr, ytr, Xte, yte, [cfg], model=SPEC, batch_size=None, seed=0),
            warmup,
            seconds,
            repeats,
        )
    return results


def main() -> None:
    results = bench_training()
    print(SETUP)
    width = max(map(len, results))
    print(f"{'optimizer':<{width}}  steps/s")
    for label, rate in results.items():
        flag = "" if rate >= GOAL_STEPS_PER_S else f"  (below the {GOAL_STEPS_PER_S:,}/s goal)"
        print(f"{label:<{width}}  {rate:7,.0f}{flag}")


if __name__ == "__main__":
    main()
