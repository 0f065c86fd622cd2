"""The CPU budget of one request (optim_core/budget.py): refused before any work, reduced with a message.

The numbers in these tests are the issue's: a custom formula of a few hundred characters (1,249
derived nodes) raced from a 100 x 100 grid for 2,000 steps took ~10 s of CPU on the reference
machine; a request may take 3 s.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.playground import analyses as A
from optim_core import registry
from optim_core.budget import LIMITS, Limits, surface_nodes
from optim_core.engine import RunSpec, run_trajectories
from optim_core.surfaces import CustomSurface

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app", "main.py")


def _nest(k: int, f: str, c: int) -> str:
    s = "x"
    for i in range(k):
        s = f"{f}({'x' if i % 2 else 'y'}*{s}+{c})"
    return s


HEAVY = _nest(19, "tanh", 1) + "*" + _nest(19, "cos", 2)  # 364 characters


def test_the_heavy_formula_is_the_issues():
    surface = CustomSurface(HEAVY)
    assert len(HEAVY) == 364 and surface_nodes(surface) == 1249
    assert surface_nodes(registry.get_surface("Rosenbrock").make()) == LIMITS.builtin_nodes


def test_the_model_grows_with_every_factor():
    base = LIMITS.seconds(100, 10, 100)
    assert isinstance(base, float) and base > 0
    assert LIMITS.seconds(200, 10, 100) > base and LIMITS.seconds(100, 20, 100) > base
    assert LIMITS.seconds(100, 10, 200) == pytest.approx(2 * base)


def test_the_issues_map_is_over_budget_and_an_ordinary_one_is_not():
    assert LIMITS.seconds(1249, 100 * 100, 2000) > LIMITS.max_seconds  # measured ~10 s
    assert LIMITS.fits(1249, 6, 5000)  # the same formula raced by six runs: ~1 s
    assert LIMITS.fits(LIMITS.builtin_nodes, 100 * 100, 1000)  # a built-in surface's largest map


class _Counting:
    """A surface that counts its evaluations, with a formula as costly as the heavy one."""

    def __init__(self):
        self.inner = CustomSurface(HEAVY)
        self.formula = self.inner.formula
        self.calls = 0
        self.window, self.bound = self.inner.window, self.inner.bound

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def value_and_grad(self, xy):
        self.calls += 1
        return self.inner.value_and_grad(xy)


def test_the_engine_refuses_before_computing():
    surface = _Counting()
    starts = np.zeros((100 * 100, 2))
    with pytest.raises(ValueError, match=r"about \d+\.\d s of CPU, more than the 3 s"):
        run_trajectories(surface, [RunSpec("SGD", {"lr": 1e-3})], starts, 2000, record="final")
    assert surface.calls == 0


def test_a_custom_budget_is_honoured():
    strict = Limits(max_seconds=0.001)
    with pytest.raises(ValueError, match="more than the 0.001 s"):
        run_trajectories(CustomSurface("x**2 + y**2"), [RunSpec("SGD", {"lr": 0.1})], np.zeros((1, 2)), 500,
                         limits=strict)


def test_a_map_is_reduced_to_the_largest_grid_that_fits():
    heavy = CustomSurface(HEAVY)
    n, note = A.affordable(heavy, 100, 1000, A.CONVERGENCE_GRIDS)
    assert n is not None and n < 100 and n in A.CONVERGENCE_GRIDS
    assert LIMITS.fits(1249, n * n, 1000) and not LIMITS.fits(1249, 100 * 100, 1000)
    assert f"reduced to {n} per side" in note and "s of CPU" in note
    n, note = A.affordable(registry.get_surface("Rosenbrock").make(), 100, 1000, A.CONVERGENCE_GRIDS)
    assert (n, note) == (100, "")


def test_a_map_no_grid_can_afford_is_refused_with_a_reason():
    tight = CustomSurface(HEAVY)
    n, note = A.affordable(tight, 40, 5000, (40,))
    assert LIMITS.seconds(1249, 1600, 5000) > LIMITS.max_seconds
    assert n is None and note.endswith("use fewer steps or a simpler surface.")


def test_the_page_reduces_a_heavy_map_and_says_so():
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in {"pg_surface": "Custom formula…", "pg_formula": HEAVY, "pg_steps": "1000", "pg_nruns": "1",
                 }.items():
        at.query_params[k] = v
    at.run()
    at.session_state["pg_tab"] = "Convergence map"
    at.session_state["pg_conv_n"] = 100
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    notes = [i.value for i in at.info]
    assert any("so the grid was reduced to" in v for v in notes), notes
    assert not at.error, [e.value for e in at.error]


def test_the_apps_bounds_are_read_from_one_place():
    """The modules that enforce a bound read it from app/budget.py (changing it there changes it everywhere)."""
    from app import budget
    from app.exports import animation, jobs
    from app.playground import analyses, theory
    from app.training import share

    assert budget.ENGINE is LIMITS
    assert (jobs.RUNNER.time_limit, jobs.RUNNER.per_session, jobs.RUNNER.workers, jobs.RUNNER.max_queued) == (
        budget.EXPORT_SECONDS, budget.EXPORT_JOBS_PER_SESSION, budget.EXPORT_WORKERS, budget.EXPORT_QUEUE)
    assert (animation.MAX_SECONDS, animation.MAX_PIXELS) == (budget.ANIMATION_MAX_SECONDS, budget.ANIMATION_MAX_PIXELS)
    assert analyses.CONVERGENCE_MAX_STEPS == budget.CONVERGENCE_MAX_STEPS
    assert theory.STABILITY_MAX_STEPS == budget.STABILITY_MAX_STEPS
    assert share.SHARE.fraction == budget.TRAINING_SHARE
    table = budget.rows()
    assert len(table) >= 8 and all(isinstance(c, str) and c for row in table for c in row)
