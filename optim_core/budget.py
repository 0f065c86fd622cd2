"""What one request may ask of the engine, and what it costs in CPU seconds.

:class:`Limits` holds every bound the engine enforces (runs, starts, steps, recorded values) and
a cost model, so that a request is refused *before* it runs when it would take longer than
:attr:`Limits.max_seconds` of CPU. The model is the engine's: each step pays a fixed cost plus
the surface's cost per trajectory, and a surface's cost is its number of nodes (a custom
formula's derived nodes, :attr:`optim_core.formula.Formula.node_count`; a built-in surface
counts as :attr:`Limits.builtin_nodes`)::

    seconds ~= steps x (step_s + nodes x node_step_s + rows x (row_s + nodes x node_row_s))

The constants were measured on the reference machine (2 cores, CPython 3.11, NumPy, one
request at a time; ``python -m optim_core.budget`` measures them again and prints the model's
error). A 1,249-node formula costs 206 us a step for one trajectory and 0.51 us per trajectory
and step over 10,000 starts; the slowest built-in surface (Ackley) 20 us and 74 ns. The app
(:mod:`app.budget`) adds what the engine does not see: the MLP, exports and the Memory page.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits", "LIMITS", "surface_nodes"]


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the engine (the engine and the app check requests against these)."""

    max_runs: int = 12
    max_starts: int = 200 * 200
    max_steps: int = 5000
    max_rows_x_steps: int = 40_000 * 500
    max_recorded_values: int = 20_000_000
    # CPU seconds one request (a race, a convergence or sensitivity map, a sweep) may take.
    max_seconds: float = 3.0
    # The cost model (see the module's doc), in seconds.
    step_s: float = 14e-6  # per step: the loop and the kernels, whatever the surface
    node_step_s: float = 1.6e-7  # per surface node and step (NumPy's call overhead)
    row_s: float = 10e-9  # per trajectory and step: the kernels' arithmetic
    node_row_s: float = 4.0e-10  # per surface node, trajectory and step
    builtin_nodes: int = 160  # what a built-in surface counts as (Ackley, the slowest, measures ~150)

    def full_record_fits(self, n_rows: int, steps: int) -> bool:
        """Whether recording every step of ``n_rows`` trajectories stays within bounds.

        A full record keeps about 12 numbers per row and step: position, loss, gradient
        before and after clipping, update, lr and a few optimizer-state values.
        """
        return n_rows * (steps + 1) * 12 <= self.max_recorded_values

    def seconds(self, nodes: int, rows: int, steps: int) -> float:
        """The model's CPU seconds for ``rows`` trajectories of ``steps`` steps on a surface of ``nodes``."""
        nodes, rows, steps = max(int(nodes), 1), max(int(rows), 0), max(int(steps), 0)
        per_step = self.step_s + nodes * self.node_step_s + rows * (self.row_s + nodes * self.node_row_s)
        return steps * per_step

    def fits(self, nodes: int, rows: int, steps: int) -> bool:
        return self.seconds(nodes, rows, steps) <= self.max_seconds

    def largest_grid(self, nodes: int, steps: int, grids) -> int | None:
        """The largest ``n`` of ``grids`` whose ``n x n`` starts of ``steps`` steps fit (None: none does)."""
        fitting = [int(n) for n in grids if n * n <= self.max_starts and self.fits(nodes, n * n, steps)]
        return max(fitting) if fitting else None

    def refusal(self, nodes: int, rows: int, steps: int) -> str | None:
        """Why a request of this size is refused (None when it fits), in words for the page."""
        s = self.seconds(nodes, rows, steps)
        if s <= self.max_seconds:
            return None
        return (f"{rows:,} trajectories x {steps:,} steps on this surface would take about {s:.1f} s of CPU, "
                f"more than the {self.max_seconds:g} s one request may use")


LIMITS = Limits()


def surface_nodes(surface, limits: Limits = LIMITS) -> int:
    """What a surface costs in the model: a custom formula's derived nodes, else :attr:`Limits.builtin_nodes`."""
    formula = getattr(surface, "formula", None)
    n = getattr(formula, "node_count", None)
    return int(n) if isinstance(n, int) and n > 0 else limits.builtin_nodes


def _measure() -> None:  # pragma: no cover - a benchmark, run by hand
    """Time the engine against the model on the surfaces that bound it; print both."""
    import time

    import numpy as np

    from optim_core import registry
    from optim_core.engine import RunSpec, run_trajectories
    from optim_core.surfaces import CustomSurface

    def nest(k: int, f: str, c: int) -> str:
        s = "x"
        for i in range(k):
            s = f"{f}({'x' if i % 2 else 'y'}*{s}+{c})"
        return s

    surfaces = {name: registry.get_surface(name).make() for name in ("Rosenbrock", "Rastrigin", "Ackley")}
    surfaces["formula (364 characters)"] = CustomSurface(nest(19, "tanh", 1) + "*" + nest(19, "cos", 2))
    spec = RunSpec("SGD", {"lr": 1e-4})
    print(f"{'surface':26} {'nodes':>6} {'rows':>6} {'steps':>6} {'CPU s':>7} {'model s':>8}")
    for name, surface in surfaces.items():
        nodes = surface_nodes(surface)
        for rows, steps in ((1, 5000), (6, 5000), (10_000, 500)):
            starts = np.random.default_rng(0).uniform(-1, 1, (rows, 2))
            t = time.process_time()
            run_trajectories(surface, [spec], starts, steps, record="final")
            cpu = time.process_time() - t
            print(f"{name:26} {nodes:6d} {rows:6d} {steps:6d} {cpu:7.3f} {LIMITS.seconds(nodes, rows, steps):8.3f}")


if __name__ == "__main__":  # pragma: no cover
    _measure()
