"""The race's data (app/exports/data.py): CSV and JSON hold exactly the trajectories' numbers."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from app.exports import data
from app.playground.race import compute
from app.playground.scene import RunConfig, Scene

STEPS = 30
# Heavy ball past its limit 2(1 + β)/L = 0.3 on a κ = 10 ravine diverges (at step 4); Adam converges;
# a clipped SGD shows the gradient before and after clipping; a schedule makes the lr vary.
SCENE = Scene.make(
    "Ravine",
    (
        RunConfig.make("SGD", {"lr": 0.5, "momentum": 0.5}),
        RunConfig.make("Adam", {"lr": 0.1}),
        RunConfig.make("SGD", {"lr": 0.05}, clip_norm=1.0),
        RunConfig.make("SGD", {"lr": 0.08}, schedule="StepLR", schedule_params={"step_size": 10, "gamma": 0.5}),
    ),
    {"kappa": 10.0},
    start=(-2.5, 0.8),
    steps=STEPS,
)


@pytest.fixture(scope="module")
def res():
    r = compute(SCENE)
    assert r.ok, r.errors
    assert r.traj.diverged_step[0, 0] > 0 and (r.traj.diverged_step[1:, 0] < 0).all()
    return r


@pytest.fixture(scope="module")
def rows(res):
    text = data.race_csv(SCENE, res).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def col(rows, k: int, name: str) -> np.ndarray:
    """Column ``name`` of run k as float64, empty cells as NaN."""
    return np.array([float(r[name]) if r[name] != "" else np.nan for r in rows if int(r["run"]) == k],
                    dtype=np.float64)


def same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)  # equal, NaN where NaN: shortest repr reads back exactly


def test_columns_and_row_count(res, rows):
    tr = res.traj
    K, T = len(SCENE.runs), STEPS
    assert len(rows) == K * (T + 1)
    header = list(rows[0].keys())
    for name in ("run", "label", "step", "theta1", "theta2", "loss", "g1", "g2", "raw_g1", "raw_g2",
                 "delta1", "delta2", "lr", "diverged"):
        assert name in header
    for states in tr.states:
        for key in states:
            assert f"{key}_1" in header and f"{key}_2" in header
    assert "exp_avg_sq_1" in header and "momentum_buffer_2" in header
    assert [r["label"] for r in rows[:: T + 1]] == res.labels
    assert [int(r["step"]) for r in rows[: T + 1]] == list(range(T + 1))


def test_values_equal_the_trajectories(res, rows):
    tr = res.traj
    T = STEPS
    assert tr.positions.shape == (4, 1, T + 1, 2) and tr.grads.shape == (4, 1, T, 2)
    assert tr.updates.shape == (4, 1, T, 2) and tr.lrs.shape == (4, 1, T)
    for k in range(4):
        same(col(rows, k, "theta1"), tr.positions[k, 0, :, 0])
        same(col(rows, k, "theta2"), tr.positions[k, 0, :, 1])
        same(col(rows, k, "loss"), tr.losses[k, 0])
        # Per-step columns: T values, then the empty last row.
        for name, arr in (("g1", tr.grads[k, 0, :, 0]), ("g2", tr.grads[k, 0, :, 1]),
                          ("raw_g1", tr.raw_grads[k, 0, :, 0]), ("raw_g2", tr.raw_grads[k, 0, :, 1]),
                          ("delta1", tr.updates[k, 0, :, 0]), ("delta2", tr.updates[k, 0, :, 1])):
            c = col(rows, k, name)
            same(c[:T], arr)
            assert math.isnan(c[T])
        if k > 0:  # the lr, unchanged where the run did not diverge
            same(col(rows, k, "lr")[:T], np.broadcast_to(tr.lrs[k, 0], (T,)).astype(np.float64))
            for key, v in tr.states[k].items():
                same(col(rows, k, f"{key}_1")[:T], v[0, :, 0])
                same(col(rows, k, f"{key}_2")[:T], v[0, :, 1])
    # Clipping shows: the clipped run's gradient is shorter than its raw gradient at the start.
    g, raw = tr.grads[2, 0, 0], tr.raw_grads[2, 0, 0]
    assert np.linalg.norm(g) == pytest.approx(1.0) and np.linalg.norm(raw) > 1.0
    # The schedule shows: StepLR halves the lr at step 10.
    lr = col(rows, 3, "lr")
    assert lr[0] == 0.08 and lr[10] == 0.04


def test_divergence_leaves_cells_empty(res, rows):
    tr = res.traj
    ds = int(tr.diverged_step[0, 0])
    run0 = [r for r in rows if r["run"] == "0"]
    assert [int(r["diverged"]) for r in run0] == [0] * ds + [1] * (STEPS + 1 - ds)
    assert run0[ds - 1]["theta1"] != "" and run0[ds]["theta1"] == "" and run0[ds]["loss"] == ""
    # The step that left the region (from row ds - 1) is no step of the path: every step column is empty.
    for r in run0[ds - 1:]:
        for name in ("g1", "raw_g2", "delta1", "lr", "momentum_buffer_1", "momentum_buffer_2"):
            assert r[name] == "", (r["step"], name)
    assert all(r["diverged"] == "0" for r in rows if r["run"] != "0")
    # Columns of a state another optimizer keeps are empty for this run.
    assert all(r["exp_avg_1"] == "" for r in run0)


def test_json_round_trips_with_settings(res):
    raw = data.race_json(SCENE, res)
    raw.decode("ascii")  # ASCII-safe: θ, η are escaped
    doc = json.loads(raw)
    assert doc["app"]["version"] and doc["app"]["name"] == "Optimizer Explorer"
    sc = doc["scene"]
    for field in ("surface", "runs", "surface_params", "formula", "window", "start", "steps", "noise",
                  "batch_size", "seed"):
        assert field in sc
    # {}: κ = 10 is the surface's default, left out of the scene (the surface's params spell it out)
    assert sc["surface"] == "Ravine" and sc["surface_params"] == dict(SCENE.surface_params)
    assert sc["start"] == [-2.5, 0.8] and sc["steps"] == STEPS
    for run_doc, run in zip(sc["runs"], SCENE.runs):
        assert set(run_doc) == {"optimizer", "hypers", "schedule", "schedule_params", "clip_norm", "clip_value",
                                "lookahead", "start", "batch", "color", "remedy"}
        assert run_doc["hypers"] == dict(run.hypers)
    assert sc["runs"][2]["clip_norm"] == 1.0
    assert sc["runs"][3]["schedule"] == "StepLR" and sc["runs"][3]["schedule_params"]["gamma"] == 0.5
    assert doc["surface"]["name"] == "Ravine" and doc["surface"]["params"]["kappa"] == 10.0
    assert doc["surface"]["title"]

    tr = res.traj
    assert len(doc["runs"]) == 4
    for k, run in enumerate(doc["runs"]):
        assert run["label"] == res.labels[k]
        theta = np.array(run["theta"], dtype=np.float64)  # None -> NaN
        assert theta.shape == (STEPS + 1, 2)
        same(theta, tr.positions[k, 0])
        same(np.array(run["loss"], dtype=np.float64), tr.losses[k, 0])
        for name, arr in (("grad", tr.grads), ("raw_grad", tr.raw_grads), ("update", tr.updates)):
            a = np.array(run[name], dtype=np.float64)
            assert a.shape == (STEPS, 2)
            same(a, arr[k, 0])
        assert np.array(run["lr"], dtype=np.float64).shape == (STEPS,)
        assert set(run["state"]) == set(tr.states[k])
        assert run["hypers"]["lr"] == dict(SCENE.runs[k].hypers)["lr"]
    assert doc["runs"][1]["hypers"]["beta2"] == 0.999  # the registry defaults are spelled out


def test_json_nulls_after_divergence(res):
    doc = json.loads(data.race_json(SCENE, res))
    ds = int(res.traj.diverged_step[0, 0])
    run = doc["runs"][0]
    assert run["diverged_step"] == ds and run["diverged_reason"]
    assert run["theta"][ds - 1][0] is not None
    assert all(p == [None, None] for p in run["theta"][ds:])
    assert all(x is None for x in run["loss"][ds:])
    assert all(x is None for x in run["lr"][ds - 1:])
    assert all(v == [None, None] for v in run["state"]["momentum_buffer"][ds - 1:])
    assert run["final_loss"] is None
    assert run["escape"] is not None and all(isinstance(c, float) for c in run["escape"])
    assert "NaN" not in json.dumps(doc)


def test_refuses_a_race_that_was_not_computed():
    bad = compute(Scene.make("Ravine", (), {"kappa": 10.0}))
    with pytest.raises(ValueError, match="not computed"):
        data.race_csv(bad.scene, bad)
