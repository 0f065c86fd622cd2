"""The browser-side race's payloads (app.playground.race_view): compact, exact, and a divergence drawn.

The inputs are written out here, not taken from the code under test: paths by hand, and
races from the engine compared with hand-computed first steps.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.playground import race_view as V
from app.playground.figures import landscape
from optim_core import registry
from optim_core.engine import RunSpec, run_trajectories

WINDOW = ((-2.0, 2.0), (-1.0, 3.0))


def payload(P, **kw):
    K = P.shape[0]
    args = dict(window=WINDOW, landscape=None, starts=P[:, 0], minima=np.array([[1.0, 1.0]]), title="t", step=1,
                show_step=P.shape[1] - 1)
    args.update(kw)
    return V.race_payload(P, [f"run {k}" for k in range(K)], ["#E69F00", "#56B4E9"], **args)


def test_paths_travel_as_float32_and_come_back_exactly():
    P = np.array([[[0.0, 0.0], [0.5, 0.25], [1.0 / 3.0, 0.1]],
                  [[0.0, 0.0], [-0.5, 1.5], [-1.0, 2.0]]])
    out = payload(P)
    json.dumps(out)  # JSON-ready as it is
    for k in range(2):
        got = V.decode_path(out["runs"][k]["path"])
        assert got.shape == (3, 2) and got.dtype == np.float32
        assert np.array_equal(got, P[k].astype(np.float32))
    assert out["steps"] == 2 and out["show"] == 2 and out["window"] == [-2.0, 2.0, -1.0, 3.0]
    assert out["minima"] == [[1.0, 1.0]] and out["starts"] == [[0.0, 0.0]]  # one start ring for both runs
    assert out["equal"]  # a square window is drawn at equal scales


def test_size_grows_with_runs_times_steps():
    def size(K, T):
        rng = np.random.default_rng(0)
        return len(json.dumps(payload(rng.normal(size=(K, T + 1, 2)))))

    small, long_, wide = size(2, 500), size(2, 5000), size(6, 5000)
    # ~10.7 bytes a step per run (8 bytes of float32 in base64); no term in steps squared.
    assert 9.5 * 2 * 4500 < long_ - small < 11.5 * 2 * 4500
    assert 9.5 * 4 * 5001 < wide - long_ < 11.5 * 4 * 5001
    assert wide < 2_000_000 / 5


def test_a_run_cut_by_divergence_sends_its_finite_part_and_where_it_left():
    P = np.array([[[0.0, 0.0], [1.0, 0.5], [np.nan, np.nan], [np.nan, np.nan]]])
    out = V.race_payload(P, ["r"], ["#000000"], window=WINDOW, landscape=None, starts=None, minima=None, title="",
                         step=1, show_step=3, diverged_step=np.array([2]), reasons=["left the region"],
                         escapes=np.array([[9.0, 0.5]]))
    (run,) = out["runs"]
    assert run["last"] == 1 and run["div"] == 2 and run["why"] == "left the region"
    assert V.decode_path(run["path"]).shape == (2, 2)
    assert run["exit"] == [2.0, 0.5]  # heading right along y = 0.5, it crosses x = 2


@pytest.mark.parametrize("others", [[], [RunSpec("Adam", {"lr": 0.1}), RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9})]],
                         ids=["alone", "with-others"])  # the engine's float loop, then its array loop
def test_a_run_that_diverges_at_step_1_still_shows_where_it_went(others):
    # SGD with lr = 1 on Rosenbrock from (-1.2, 1): the first step jumps to θ - ∇f(θ) = (-1.2 - (-215.6), 1 - (-88))
    # = (214.4, 89), far outside; the path keeps only its start, so the escape is the only record of the direction.
    surface = registry.get_surface("Rosenbrock").make()
    tr = run_trajectories(surface, [RunSpec("SGD", {"lr": 1.0}), *others], np.array([[-1.2, 1.0]]), 10)
    assert tr.diverged_step[0, 0] == 1
    assert tr.escapes.shape == (1 + len(others), 1, 2) and tr.escapes.dtype == np.float64
    assert np.isnan(tr.escapes[1:]).all()
    assert np.allclose(tr.escapes[0, 0], [214.4, 89.0])
    ex = V.escape_exit(tr.positions[0, 0], tr.escapes[0, 0], surface.window)
    (x0, x1), (y0, y1) = surface.window
    # From (-1.2, 1) along (215.6, 88): it reaches x = 2 (after 3.2 in x) before y = 3 (after 2 in y),
    # so it leaves through the right edge at y = 1 + 88 * 3.2 / 215.6.
    assert ex[0] == pytest.approx(x1) and ex[1] == pytest.approx(1.0 + 88.0 * 3.2 / 215.6)
    assert y0 <= ex[1] <= y1


def test_an_infinite_escape_keeps_its_direction_and_a_nan_one_stays_put():
    path = np.array([[0.0, 0.0], [np.nan, np.nan]])
    assert np.allclose(V.escape_exit(path, np.array([np.inf, 0.0]), WINDOW), [2.0, 0.0])
    assert np.allclose(V.escape_exit(path, np.array([-np.inf, -np.inf]), WINDOW), [-1.0, -1.0])
    assert np.allclose(V.escape_exit(path, np.array([np.nan, 1.0]), WINDOW), [0.0, 0.0])
    assert np.allclose(V.escape_exit(path, None, WINDOW), [0.0, 0.0])


def test_runs_that_do_not_diverge_have_no_escape():
    surface = registry.get_surface("Rosenbrock").make()
    tr = run_trajectories(surface, [RunSpec("SGD", {"lr": 1e-3}), RunSpec("Adam", {"lr": 0.1})],
                          np.array([[-1.2, 1.0]]), 20)
    assert tr.escapes.shape == (2, 1, 2) and np.isnan(tr.escapes).all()


def test_the_landscape_is_its_own_payload_named_by_its_image():
    surface = registry.get_surface("Himmelblau").make()
    land = landscape(surface, n=64)
    a, b = V.landscape_payload(land), V.landscape_payload(landscape(surface, n=64))
    assert a == b and a["png"] == land.png  # the same bytes each time: Streamlit's message cache can answer it
    assert V.landscape_payload(landscape(surface, n=80))["id"] != a["id"]
    out = payload(np.zeros((1, 3, 2)), landscape=land)
    assert out["land"] == a["id"]
    scale = out["scale"]
    assert len(scale["colors"]) == land.bands and all(0 <= f <= 1 for f, _ in scale["ticks"])


@pytest.mark.parametrize("step, steps, default, expected", [(1, 500, 1, 500), (40, 500, 1, 40), (900, 500, 1, 500)])
def test_the_map_opens_on_the_whole_race_unless_a_step_is_inspected(step, steps, default, expected):
    assert V.view_step(step, steps, default) == expected


def test_the_loss_chart_travels_with_the_race():
    P = np.zeros((1, 4, 2))
    L = np.array([[3.0, 2.0, 1.0, 0.75]])
    kw = dict(window=WINDOW, landscape=None, starts=None, minima=None, title="", step=1, show_step=3, losses=L)
    log = V.race_payload(P, ["r"], ["#000000"], log=True, fmin=0.75, **kw)
    assert log["loss"]["log"] and log["loss"]["ylabel"] == "loss − min (log scale)"
    got = V.decode_values(log["runs"][0]["loss"])
    assert got.shape == (4,) and got.dtype == np.float32
    # Above the minimum 0.75; at the minimum itself, 1e-16 (a log axis has no 0).
    assert np.array_equal(got, np.array([2.25, 1.25, 0.25, 1e-16], dtype=np.float32))
    lin = V.race_payload(P, ["r"], ["#000000"], log=False, fmin=0.75, **kw)
    assert not lin["loss"]["log"] and lin["loss"]["ylabel"] == "loss"
    assert np.array_equal(V.decode_values(lin["runs"][0]["loss"]), L[0].astype(np.float32))
    assert V.race_payload(P, ["r"], ["#000000"], **{**kw, "losses": None})["loss"] is None
