"""Pure figure builders: valid figures, full-resolution trails, small payloads, honest scales."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from PIL import Image

from app.playground import figures as F
from app.playground import presets as P
from app.playground import race as R
from app.playground import scene as S
from optim_core import registry


def _decode_png(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


@pytest.fixture(scope="module")
def default_race():
    res = R.compute(P.DEFAULT_SCENE)
    surface = S.make_surface(P.DEFAULT_SCENE)
    land = F.landscape(surface)
    tr = res.traj
    fig = F.race_figure(tr.positions[:, 0], res.labels, window=surface.window, background=land,
                        starts=tr.starts[:, 0], minima=surface.minima, title=surface.title, inspect_step=3)
    return res, surface, land, fig


def _dynamic_indices(fig_dict) -> list[int]:
    return fig_dict["frames"][0]["traces"]


def test_landscape_is_a_light_banded_png_with_a_log_scale_for_rosenbrock():
    surface = registry.get_surface("Rosenbrock").make()
    land = F.landscape(surface, n=300)
    img = _decode_png(land.png)
    assert img.shape[1] == 300 and img.shape[0] == land.height
    assert land.log and land.scale_title == "loss"
    assert img.mean() > 180  # light, so saturated run colors pop
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= F.N_BANDS  # banded levels (plus darker iso-lines)
    vals, text = land.ticks()
    assert text[0].startswith("10") or text[0] in ("1", "0.1", "0.01", "0.001")
    assert all(land.lo <= v <= land.hi for v in vals)
    # Lowest values at the minimum (1, 1): the image's pixel there is the lowest band's color.
    (x0, x1), (y0, y1) = land.window
    j = int((1 - x0) / (x1 - x0) * (land.width - 1))
    i = int((y1 - 1) / (y1 - y0) * (land.height - 1))
    low = np.array(F._cmap(np.array(0.5 / F.N_BANDS)))
    assert np.abs(img[i, j].astype(float) - low).max() < 3 or np.abs(img[i, j] / F._ISO_DARKEN - low).max() < 4


def test_linear_scale_for_the_bowl():
    surface = registry.get_surface("Quadratic bowl").make()
    land = F.landscape(surface, n=200)
    assert not land.log
    img = _decode_png(land.png).astype(float)
    assert img[land.height // 2, 100].sum() != img[0, 0].sum()  # banded, not flat


def _bands_of(img: np.ndarray, bands: int) -> np.ndarray:
    """Each pixel's band, by the nearest of the band colours and their darkened iso-line shades."""
    palette = np.array([F._cmap(np.array((b + 0.5) / bands)) for b in range(bands)], dtype=float)
    candidates = np.concatenate([palette, palette * F._ISO_DARKEN])
    dist = ((img[:, :, None, :].astype(float) - candidates[None, None]) ** 2).sum(-1)
    return dist.argmin(-1) % bands


@pytest.mark.parametrize("formula,rises", [("x + 2*y", "up and right"), ("-x - 2*y", "down and left")])
def test_the_image_is_neither_flipped_nor_mirrored(formula, rises):
    # A plane, on an off-centre window: every column must rise towards the top of the
    # picture (row 0 is the largest θ₂) and every row towards the right, or the reverse for
    # the negated plane. A vertical flip or a horizontal mirror breaks one of the two.
    from optim_core import CustomSurface

    surface = CustomSurface(formula, window=((-2.0, 2.0), (-1.0, 3.0)))
    land = F.landscape(surface, n=120, log=False)
    band = _bands_of(_decode_png(land.png), land.bands)
    sign = 1 if rises == "up and right" else -1
    up = sign * (band[:-1, :] - band[1:, :])  # row i above row i+1
    right = sign * (band[:, 1:] - band[:, :-1])
    assert up.min() >= 0 and right.min() >= 0
    assert sign * (band[0, -1] - band[-1, 0]) == land.bands - 1  # the two far corners span every band


def test_race_figure_is_valid_plotly(default_race):
    _, _, _, fig = default_race
    d = fig.to_dict()
    go.Figure(d)  # full validation of data, layout and frames
    assert "frames" in d and d["layout"]["template"]["layout"]
    assert any(b["label"] == "▶ Play" for b in d["layout"]["updatemenus"][0]["buttons"])
    labels = [b["label"] for b in d["layout"]["updatemenus"][0]["buttons"]]
    assert "❚❚ Pause" in labels and "⏸" not in "".join(labels)
    assert len({b["args"][1]["frame"]["duration"] for b in d["layout"]["updatemenus"][0]["buttons"]
                if b["args"][0] is None or isinstance(b["args"][0], list)}) >= 3  # speed control
    assert d["layout"]["images"][0]["layer"] == "below"
    assert not any(t.get("type") == "contour" for t in d["data"])


def test_frames_update_only_trajectory_traces_and_are_bounded(default_race):
    res, _, _, fig = default_race
    d = fig.to_dict()
    K = len(res.labels)
    dyn = _dynamic_indices(d)
    assert len(dyn) == K + 2
    assert len(d["frames"]) <= 120
    for frame in d["frames"]:
        assert frame["traces"] == dyn
        for tr in frame["data"]:
            assert set(tr) <= {"type", "x", "y", "marker", "text", "textfont"}
            for key in ("x", "y"):
                v = tr[key]
                assert v == [] or v["dtype"] == "f4"
    static = [t for i, t in enumerate(d["data"]) if i not in dyn]
    assert any(t.get("name") == F.CLICK_GRID_NAME for t in static)
    assert sum(1 for t in static if t.get("marker", {}).get("showscale")) == 1  # the loss color bar


def test_every_frame_trail_holds_every_step_up_to_its_own(default_race):
    res, _, _, fig = default_race
    tr = res.traj
    d = fig.to_dict()
    for frame in d["frames"][:: max(1, len(d["frames"]) // 15)]:
        s = int(frame["name"])
        for k in range(len(res.labels)):
            x = F.decode_array(frame["data"][k]["x"])
            y = F.decode_array(frame["data"][k]["y"])
            expected = tr.positions[k, 0, : s + 1].astype(np.float32)
            assert np.array_equal(x, expected[:, 0]) and np.array_equal(y, expected[:, 1])


def test_period_two_zigzag_survives_frame_subsampling():
    surface = registry.get_surface("Ravine").make(kappa=25.0)
    sc = S.Scene.make("Ravine", [S.RunConfig.make("SGD", {"lr": 0.079})], {"kappa": 25.0}, start=(-2.5, 0.8),
                      steps=1000)
    tr = R.compute(sc).traj
    fig = F.race_figure(tr.positions[:, 0], ["SGD"], window=surface.window, max_frames=100)
    frames = F.frames_of(fig)
    assert len(frames) == 100  # one frame per ~10 steps ...
    mid = frames[len(frames) // 2]
    y = F.decode_array(mid["data"][0]["y"])
    assert len(y) == int(mid["name"]) + 1  # ... but the trail keeps every step
    assert np.all(np.sign(y[1:200]) != np.sign(y[:199]))  # the zig-zag of period 2 is all there


def test_frame_steps():
    assert list(F.frame_steps(10, 150)) == list(range(11))
    fs = F.frame_steps(5000, 150)
    assert fs[0] == 0 and fs[-1] == 5000 and len(fs) <= 150 and np.all(np.diff(fs) > 0)


def test_payload_is_small_and_fast_enough_to_send(default_race):
    _, _, land, fig = default_race
    spec = pio.to_json(fig.to_dict(), validate=False)
    assert len(spec) < 3.5e6  # 6 runs x 500 steps, 120 frames: about 2.7 MB
    d = json.loads(spec)
    assert d["layout"]["images"][0]["source"] == land.png
    assert "image/png" not in json.dumps(d["frames"])  # the landscape is sent once, not per frame
    assert len(land.png) < 150_000


def test_diverged_run_gets_a_cross_where_it_left_and_no_head():
    res = R.compute(P.PRESETS["diverge"].scene)
    tr = res.traj
    surface = S.make_surface(P.PRESETS["diverge"].scene)
    fig = F.race_figure(tr.positions[:, 0], res.labels, window=surface.window)
    d = fig.to_dict()
    dyn = _dynamic_indices(d)
    heads, crosses = d["data"][dyn[-2]], d["data"][dyn[-1]]
    assert len(F.decode_array(heads["x"])) == 2  # the diverged run has no head at the end
    cx, cy = F.decode_array(crosses["x"]), F.decode_array(crosses["y"])
    assert len(cx) == 1 and crosses["text"] == ["✕"]
    (x0, x1), (y0, y1) = surface.window
    on_edge = min(abs(cx[0] - x0), abs(cx[0] - x1), abs(cy[0] - y0), abs(cy[0] - y1))
    assert on_edge < 1e-4  # on the window's boundary, where the run left the picture
    first = F.frames_of(fig)[0]
    assert first["data"][-1]["x"] == []  # no cross before it diverged


def test_exit_point_inside_and_crossing():
    window = ((-1.0, 1.0), (-1.0, 1.0))
    path = np.array([[0.0, 0.0], [0.5, 0.0], [2.0, 0.0], [np.nan, np.nan]])
    assert np.allclose(F.exit_point(path, window), [1.0, 0.0])
    assert np.allclose(F.exit_point(path[:2], window), [0.5, 0.0])


def test_click_grid_is_invisible_and_covers_the_window(default_race):
    _, surface, _, fig = default_race
    grid = next(t for t in fig.to_dict()["data"] if t.get("name") == F.CLICK_GRID_NAME)
    x, y = F.decode_array(grid["x"]), F.decode_array(grid["y"])
    (x0, x1), (y0, y1) = surface.window
    assert x.min() == pytest.approx(x0) and x.max() == pytest.approx(x1)
    assert y.min() == pytest.approx(y0) and y.max() == pytest.approx(y1)
    assert grid["marker"]["opacity"] == 0


def test_loss_figure_log_scale_and_inspect_marker():
    res = R.compute(P.PRESETS["ravine"].scene)
    tr = res.traj
    fig = F.loss_figure(tr.losses[:, 0], res.labels, log=True, fmin=0.0, inspect_step=10)
    go.Figure(fig.to_dict())
    assert fig.layout.yaxis.type == "log"
    assert any(s.x0 == 10 for s in fig.layout.shapes)
    lin = F.loss_figure(tr.losses[:, 0], res.labels, log=False)
    assert lin.layout.yaxis.type == "linear"
    unb = F.loss_figure(np.array([[0.0, -1.0, -4.0]]), ["a"], log=True, fmin=float("-inf"))
    assert unb.layout.yaxis.type == "linear"  # no log of an unbounded loss


def test_surface3d_figure_lifts_paths():
    res = R.compute(P.DEFAULT_SCENE)
    surface = S.make_surface(P.DEFAULT_SCENE)
    fig = F.surface3d_figure(surface, res.traj.positions[:, 0], res.labels, n=40)
    go.Figure(fig.to_dict())
    assert fig.data[0].type == "surface"
    assert sum(t.type == "scatter3d" for t in fig.data) >= len(res.labels)
    assert "log" in fig.layout.scene.zaxis.title.text


def test_analysis_figures():
    from optim_core.analysis import convergence_map, sensitivity_map
    from optim_core.engine import RunSpec

    surface = registry.get_surface("Himmelblau").make()
    cmap = convergence_map(surface, RunSpec("SGD", {"lr": 0.01}), n=12, steps=100)
    for kind in ("steps", "basin"):
        go.Figure(F.convergence_map_figure(cmap, kind=kind, minima=surface.minima, title="t").to_dict())
    smap = sensitivity_map(surface, "SGD", "lr", np.geomspace(1e-3, 0.1, 7), "momentum", np.linspace(0, 0.95, 5),
                           start=(1.0, 1.0), steps=100)
    fig = F.sensitivity_map_figure(smap, x_label="η", y_label="μ", current=(0.01, 0.5), title="t")
    go.Figure(fig.to_dict())
    cells = next(t for t in fig.data if t.name == "cells")
    assert len(cells.customdata) == 7 * 5
    lrs = np.geomspace(0.01, 1.0, 9)
    fig = F.stability_figure(lrs, {"GD": np.linspace(1, 2, 9)}, {"GD": lrs > 0.2}, bounds={"2/L": 0.2})
    go.Figure(fig.to_dict())
    assert fig.layout.xaxis.type == "log" and any(s.x0 == 0.2 for s in fig.layout.shapes)


def test_animated_figure_survives_pickling(default_race):
    import pickle

    _, _, _, fig = default_race
    again = pickle.loads(pickle.dumps(fig))
    assert isinstance(again, F.AnimatedFigure)
    a, b = fig.to_dict(), again.to_dict()
    same = json.dumps(a["frames"]) == json.dumps(b["frames"]) and len(a["data"]) == len(b["data"])
    assert same and a["layout"]["images"] == b["layout"]["images"]


def test_3d_surface_draws_a_narrow_valley_whole():
    # Rosenbrock's valley is narrower than a grid cell away from the origin: sampled at the
    # grid points alone, some rows miss it by three decades and the floor shows as a comb.
    from optim_core import registry

    s = registry.get_surface("Rosenbrock").make()
    n = 140
    (x0, x1), (y0, y1) = s.window
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    rows = (Y[:, 0] >= 0.5) & (Y[:, 0] <= 3.0)
    floor = np.minimum((1 - np.sqrt(Y[rows, 0])) ** 2, (1 + np.sqrt(Y[rows, 0])) ** 2)  # the valley y = x^2

    def overshoot(Z):
        return float(np.max(np.log10(Z[rows].min(axis=1)) - np.log10(floor)))

    plain = s.value(np.stack((X, Y), axis=-1))
    drawn = F._cell_minimum(s, X, Y, (x1 - x0) / (n - 1), (y1 - y0) / (n - 1))
    assert overshoot(plain) > 1.0  # the comb this guards against
    assert overshoot(drawn) < 0.25
    assert np.all(drawn <= plain)  # paths lifted with the exact loss stay above the surface
    fig = F.surface3d_figure(s, np.array([[[-1.2, 1.0], [0.0, 0.0]]]), ["run"], n=n)
    z = np.asarray(fig.data[0].z, dtype=np.float64)
    assert z.shape == (n, n) and np.all(np.isfinite(z))


def test_figures_serialize_with_orjson():
    # The app names orjson as plotly's JSON engine (pyproject declares it for this): a missing
    # orjson is an error, not a silent 2.4x slower page.
    import plotly.io as pio

    assert pio.json.config.default_engine == "orjson"
    fig = go.Figure(go.Scatter(x=np.arange(3.0), y=np.arange(3.0)))
    assert json.loads(pio.to_json(fig, validate=False))["data"][0]["type"] == "scatter"


# ---- issue 14: words true of the surface, a scoreboard that fits, a 3D view that is not cut ------
def test_the_convergence_tab_note_is_true_of_the_surface():
    from app.playground import panels as PN

    rastrigin = S.make_surface(P.PRESETS["rastrigin"].scene)
    assert len(rastrigin.minima) == 1  # only the global minimum is known: no basin map
    note = PN.basin_note(rastrigin)
    assert "single" not in note and "every start" not in note
    assert "global minimum" in note and "local minima" in note
    for name, info in registry.surfaces().items():
        surface = info.make()
        minima = getattr(surface, "minima", None)
        if minima is not None and len(minima) > 1:
            continue  # a basin map is drawn instead
        note = PN.basin_note(surface)
        if "multimodal" in surface.tags or "saddle" in surface.tags:
            assert "single" not in note, name
        if minima is None or len(minima) == 0:
            assert "no known minimum" in note, name


def test_the_scoreboard_header_is_short_and_explained():
    from app.playground import panels as PN

    res = R.compute(P.PRESETS["diverge"].scene)
    rows = PN.scoreboard(res.traj)
    assert all(len(c) <= 22 for c in rows[0])  # fits its column at 1280x720
    assert PN.THRESHOLD_COLUMN in rows[0] and "min + 10⁻³" in PN.SCOREBOARD_HELP[PN.THRESHOLD_COLUMN]
    assert set(PN.SCOREBOARD_HELP) <= set(rows[0])
    diverged = [r["diverged"] for r in rows if r["diverged"] != "—"]
    assert diverged and all(d.startswith("step ") for d in diverged)


def test_surface3d_figure_leaves_room_for_the_z_title_and_the_legend():
    res = R.compute(P.DEFAULT_SCENE)
    surface = S.make_surface(P.DEFAULT_SCENE)
    fig = F.surface3d_figure(surface, res.traj.positions[:, 0], res.labels, n=20, title="t")
    m = fig.layout.margin
    assert m.l >= 20 and m.r >= 20  # the z axis's title ("log₁₀ loss") is drawn inside the figure
    assert m.b >= 60 and fig.layout.legend.y < 0  # the legend sits in the bottom margin, not clipped
    assert fig.layout.legend.yanchor == "top"
