"""The Live Training figures, as pure functions of a race."""

import numpy as np
import pytest

from app.training import backend as T
from app.training import figures as TF
from app.training.datasets import make_dataset, train_test_split
from app.ui.theme import FONT_SIZE

pytestmark = pytest.mark.skipif(not T.torch_available(), reason="the Live Training backend needs the torch extra")


@pytest.fixture(scope="module")
def race():
    X, y = make_dataset("moons", n=128, noise=0.1, seed=0)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.25, seed=0)
    runs = [T.TrainingRunConfig("Adam", {"lr": 0.01}), T.TrainingRunConfig("SGD", {"lr": 0.1}, clip_norm=0.5)]
    r = T.Race(Xtr, ytr, Xte, yte, runs, seed=0)
    r.train(30)
    return r


def test_boundary_figure_has_a_probability_map_per_run(race):
    fig = TF.boundary_figure(race)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 2
    for h, run in zip(heat, race.runs):
        z = np.asarray(h.z)
        assert z.min() >= 0 and z.max() <= 1
        np.testing.assert_allclose(z, race.decision_grid(run, TF.GRID)["prob"], rtol=1e-6)
    assert fig.layout.font.size == FONT_SIZE


def test_curves_and_diagnostics_show_every_run(race):
    curves = TF.curves_figure(race)
    assert len(curves.data) == 4 * len(race.runs)  # train and test, loss and accuracy
    diag = TF.diagnostics_figure(race)
    clipped = [t for t in diag.data if t.name and "after clipping" in t.name]
    assert len(clipped) == 1  # only the clipped run has a dotted after-clipping line
    h = race.runs[1].history
    assert np.all(np.asarray(clipped[0].y) <= 0.5 + 1e-6)
    assert np.asarray(clipped[0].y).size == len(h["step"])
