"""Live Training's exports (app/exports/live_figures.py): Plotly figures of a race for stills, and its curves as CSV.

The figures and the CSV are checked without a browser; the stills need Chromium
(``apt-get install -y chromium``) and are skipped without it, as in test_export_stills.py.
"""

from __future__ import annotations

import csv
import io
import struct

import numpy as np
import plotly.graph_objects as go
import pytest

from app.training import backend as T
from app.training.datasets import make_dataset, train_test_split
from app.ui.theme import CLASS_COLORS, CLASS_SCALE, DECISION_BOUNDARY, run_color

pytestmark = pytest.mark.skipif(not T.torch_available(), reason="the Live Training backend needs the torch extra")

STEPS = 12
EVAL_EVERY = 5


def make_race(runs=None, steps=STEPS, **kwargs):
    X, y = make_dataset("moons", n=128, noise=0.1, seed=0)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.25, seed=0)
    runs = runs or [T.TrainingRunConfig("Adam", {"lr": 0.01}),
                    T.TrainingRunConfig("SGD", {"lr": 0.1, "momentum": 0.9}, clip_norm=0.5)]
    race = T.Race(Xtr, ytr, Xte, yte, runs, seed=0, eval_every=EVAL_EVERY, **kwargs)
    with np.errstate(all="ignore"):
        race.train(steps)
    return race


@pytest.fixture(scope="module")
def race():
    return make_race()


@pytest.fixture(scope="module")
def LF():
    from app.exports import live_figures

    return live_figures


def title_text(fig: go.Figure) -> str:
    return fig.layout.title.text or ""


def of_type(fig, kind):
    return [t for t in fig.data if isinstance(t, kind)]


# ---------------------------------------------------------------------------------------
# Decision boundaries
# ---------------------------------------------------------------------------------------


def test_boundary_figure_has_a_map_a_boundary_and_the_points_per_run(race, LF):
    fig = LF.boundary_figure(race)
    assert f"after {STEPS} steps" in title_text(fig) and race.spec.sizes_text in title_text(fig)
    heatmaps, contours = of_type(fig, go.Heatmap), of_type(fig, go.Contour)
    assert len(heatmaps) == len(contours) == len(race.runs) == 2
    for i, (run, hm, ct) in enumerate(zip(race.runs, heatmaps, contours)):
        axes = ("x" if i == 0 else f"x{i + 1}", "y" if i == 0 else f"y{i + 1}")
        assert (hm.xaxis, hm.yaxis) == (ct.xaxis, ct.yaxis) == axes
        # The probability map, on the theme's scale, from 0 to 1; the same numbers as the race's grid.
        assert [list(s) for s in hm.colorscale] == [list(s) for s in CLASS_SCALE]
        assert (hm.zmin, hm.zmax) == (0.0, 1.0)
        g = race.decision_grid(run, LF.GRID)
        np.testing.assert_allclose(np.asarray(hm.z), g["prob"], rtol=1e-6)
        # The boundary: the one level P = 1/2, drawn as a line in the theme's color.
        assert ct.contours.start == ct.contours.end == 0.5 and ct.contours.coloring == "none"
        assert ct.line.color == DECISION_BOUNDARY
        # Each map's title names the run, its test accuracy and its step.
        title = fig.layout["xaxis" + axes[0][1:]].title.text
        assert run.config.title() in title and f"test accuracy {run.last('test_acc'):.0%}" in title
        assert f"step {run.step}" in title and run_color(i) in title
        # The training and test points of both classes, in the classes' colors.
        points = [t for t in of_type(fig, go.Scatter) if (t.xaxis, t.yaxis) == axes]
        assert len(points) == 4
        assert sum(len(t.x) for t in points) == len(race.y_train) + len(race.y_test)
        assert {t.marker.color for t in points} == set(CLASS_COLORS)
        assert sorted(t.name for t in points) == ["class 0, test", "class 0, training",
                                                  "class 1, test", "class 1, training"]
    # One legend entry per kind of mark (the boundary and the four kinds of points), not per run.
    named = [t.name for t in fig.data if t.showlegend is not False]
    assert sorted(named) == sorted(["decision boundary (P = ½)", "class 0, training", "class 0, test",
                                    "class 1, training", "class 1, test"])
    assert sum(bool(t.showscale) for t in heatmaps) == 1  # one color bar, titled
    assert "P(class 1)" in heatmaps[0].colorbar.title.text


def test_boundary_maps_keep_the_data_aspect_and_are_arranged_to_be_large(LF):
    # Equal scales: each y axis is anchored to its x axis.
    race = make_race(runs=[T.TrainingRunConfig("Adam", {"lr": 0.01})] * 4, steps=1)
    fig = LF.boundary_figure(race)
    for k in ("", "2", "3", "4"):
        assert fig.layout["yaxis" + k].scaleanchor == "x" + k and fig.layout["yaxis" + k].scaleratio == 1
    # At 16:9 square maps are largest side by side, wide ones (moons) two by two from three runs on.
    assert LF._arrangement(1, 1.0) == (1, 1)
    assert LF._arrangement(4, 1.0) == (1, 4)
    assert LF._arrangement(2, 0.5) == (1, 2)
    assert LF._arrangement(3, 0.5) == LF._arrangement(4, 0.5) == (2, 2)


def test_an_untrained_map_without_a_boundary_draws_none():
    """A map that is on one side of P = 1/2 everywhere has no line to draw (and no empty contour)."""
    from app.exports import live_figures as LF

    class Flat:
        def __init__(self, race):
            self._race = race

        def __getattr__(self, name):
            return getattr(self._race, name)

        def decision_grid(self, run, n):
            g = self._race.decision_grid(run, n)
            return {**g, "prob": np.full_like(g["prob"], 0.2)}

    fig = LF.boundary_figure(Flat(make_race(steps=0)))
    assert len(of_type(fig, go.Heatmap)) == 2 and not of_type(fig, go.Contour)


# ---------------------------------------------------------------------------------------
# Curves and diagnostics
# ---------------------------------------------------------------------------------------


def test_curves_figure_loss_log_and_accuracy_per_run(race, LF):
    fig = LF.curves_figure(race)
    assert "Loss and accuracy" in title_text(fig)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type != "log"
    assert fig.layout.xaxis.title.text == fig.layout.xaxis2.title.text == "step"
    assert fig.layout.yaxis.title.text and fig.layout.yaxis2.title.text
    panel_titles = [a.text for a in fig.layout.annotations]
    assert any("Loss" in t for t in panel_titles) and any("Accuracy" in t for t in panel_titles)
    traces = of_type(fig, go.Scatter)
    assert len(traces) == 4 * len(race.runs)  # train and test, loss and accuracy
    for i, run in enumerate(race.runs):
        mine = [t for t in traces if t.legendgroup == str(i)]
        assert {t.line.color for t in mine} == {run_color(i)}
        assert [t.name for t in mine if t.showlegend] == [run.config.title()]  # one legend entry per run
        e = run.evals
        np.testing.assert_array_equal(mine[0].x, e["step"])  # 0, 5, 10
        np.testing.assert_array_equal(mine[0].y, e["train_loss"])
        np.testing.assert_array_equal(mine[1].y, e["test_loss"])
        np.testing.assert_array_equal(mine[3].y, e["test_acc"])
        assert mine[1].line.dash == "dash"


def test_diagnostics_figure_grad_norm_clipped_lr_weight_norm(race, LF):
    fig = LF.diagnostics_figure(race)
    assert "Gradient norm" in title_text(fig)
    assert fig.layout.yaxis.type == "log"
    for k in ("", "2", "3"):
        assert fig.layout["xaxis" + k].title.text == "step"
    traces = of_type(fig, go.Scatter)
    # Three panels per run, and the clipped run (SGD) its gradient norm after clipping too.
    assert len(traces) == 3 * len(race.runs) + 1
    clipped = [t for t in traces if t.line.dash == "dot"]
    assert len(clipped) == 1 and clipped[0].line.color == run_color(1)
    np.testing.assert_array_equal(clipped[0].y, race.runs[1].history["grad_norm_clipped"])
    assert np.all(np.asarray(clipped[0].y) <= 0.5 + 1e-6)


def test_long_curves_are_thinned_for_the_still(LF, monkeypatch):
    monkeypatch.setattr(LF, "MAX_POINTS", 7)
    race = make_race(steps=40)
    for fig in (LF.curves_figure(race), LF.diagnostics_figure(race)):
        for t in of_type(fig, go.Scatter):
            assert 2 <= len(t.x) <= 7 and t.x[-1] == 40


# ---------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------


def read_csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_curves_csv_one_row_per_run_per_step(race, LF):
    rows = read_csv(LF.curves_csv(race))
    assert list(rows[0]) == list(LF.CSV_COLUMNS)
    assert len(rows) == sum(run.step + 1 for run in race.runs) == 2 * (STEPS + 1)
    for i, run in enumerate(race.runs):
        mine = [r for r in rows if r["run"] == str(i + 1)]
        assert [int(r["step"]) for r in mine] == list(range(STEPS + 1))
        assert {r["label"] for r in mine} == {run.config.title()}
        assert {r["optimizer"] for r in mine} == {run.config.optimizer}
        h, e = run.history, run.evals
        # Per step (from step 1): the numbers the race recorded, exactly.
        assert mine[0]["batch_loss"] == mine[0]["grad_norm"] == ""
        for key, col in (("batch_loss", "loss"), ("lr", "lr"), ("grad_norm", "grad_norm"),
                         ("grad_norm_clipped", "grad_norm_clipped"), ("weight_norm", "weight_norm")):
            np.testing.assert_array_equal([float(r[key]) for r in mine[1:]], h[col])
        # At each evaluation (steps 0, 5, 10): training and test loss and accuracy; empty elsewhere.
        evaluated = [r for r in mine if r["test_acc"]]
        assert [int(r["step"]) for r in evaluated] == [0, 5, 10] == e["step"].tolist()
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            np.testing.assert_array_equal([float(r[key]) for r in evaluated], e[key])
        assert all(r["test_loss"] == "" for r in mine if int(r["step"]) % EVAL_EVERY)
        assert float(mine[-1]["epoch"]) == pytest.approx(STEPS / race.batches_per_epoch)
    clipped = [float(r["grad_norm_clipped"]) for r in rows if r["run"] == "2" and r["grad_norm_clipped"]]
    assert max(clipped) <= 0.5 + 1e-6


def test_curves_csv_of_a_diverged_run_stops_at_its_step(LF):
    race = make_race(runs=[T.TrainingRunConfig("Adam", {"lr": 0.01}),
                           T.TrainingRunConfig("SGD", {"lr": 10.0, "momentum": 0.999})],
                     steps=100, batch_size=8, model=T.ModelSpec(4, 64, "relu"))
    slow, wild = race.runs
    assert wild.diverged and wild.step < slow.step
    rows = read_csv(LF.curves_csv(race))
    assert len(rows) == slow.step + 1 + wild.step + 1
    # The figures still build, and say which run diverged.
    fig = LF.boundary_figure(race)
    assert "diverged" in fig.layout.xaxis2.title.text and "diverged" not in fig.layout.xaxis.title.text


# ---------------------------------------------------------------------------------------
# Stills (need Chromium)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    from app.exports import stills

    message = stills.browser_missing()
    if message:
        pytest.skip(message)
    yield stills


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_stills_render_at_twice_the_size(browser, race, LF):
    stills = browser
    assert png_size(stills.still(LF.boundary_figure(race), "png")) == (2560, 1440)
    assert png_size(stills.still(LF.curves_figure(race), "png", width=640, height=360)) == (1280, 720)
    svg = stills.still(LF.diagnostics_figure(race), "svg")
    assert svg.lstrip().startswith(b"<svg") and b"Gradient norm" in svg
    assert stills.still(LF.curves_figure(race), "pdf").startswith(b"%PDF")
