"""The Schedules page's pure figure builders: the numbers drawn are the numbers given, markers sit
where they should, fonts are the theme's and labels are Unicode (Streamlit renders no LaTeX in Plotly)."""

from __future__ import annotations

import json
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from app.playground import figures as F
from app.schedules import figures as SF
from app.ui.theme import FONT_SIZE, TITLE_SIZE

N = 200
T = np.arange(N)
STEP = 0.1 * 0.5 ** (T // 50)
COSINE = 0.05 * (1 + np.cos(np.pi * T / N))
MOM = 0.95 - 0.1 * np.sin(np.pi * T / N)


def by_name(fig: go.Figure) -> dict[str, go.Scatter]:
    return {tr.name: tr for tr in fig.data}


def texts(fig: go.Figure) -> list[str]:
    """Every piece of text a viewer reads: titles, axis titles, trace names, annotations."""
    d = json.loads(fig.to_json())
    out = [tr.get("name", "") for tr in d["data"]]
    lay = d["layout"]
    out.append((lay.get("title") or {}).get("text", ""))
    for k, v in lay.items():
        if k.startswith(("xaxis", "yaxis")):
            out.append(((v.get("title") or {}).get("text")) or "")
    out += [a.get("text", "") for a in lay.get("annotations", [])]
    return [t for t in out if t]


def test_lr_curves_are_drawn_exactly_with_step_on_x():
    fig = SF.lr_figure([SF.LRCurve("StepLR", STEP), SF.LRCurve("cosine", COSINE)])
    tr = by_name(fig)
    np.testing.assert_array_equal(np.asarray(tr["StepLR"].y), STEP)
    np.testing.assert_array_equal(np.asarray(tr["cosine"].y), COSINE)
    np.testing.assert_array_equal(np.asarray(tr["cosine"].x), T)
    assert np.asarray(tr["StepLR"].y).dtype == np.float64  # sent as f8: no rounding on the way
    assert fig.layout.yaxis.type == "linear" and fig.layout.yaxis.title.text == SF.LR_LABEL
    assert fig.layout.xaxis.title.text == "step"
    assert tr["StepLR"].line.color != tr["cosine"].line.color


def test_log_y_and_no_second_panel_without_momentum():
    fig = SF.lr_figure([SF.LRCurve("StepLR", STEP)], log_y=True)
    assert fig.layout.yaxis.type == "log"
    assert "(log)" in fig.layout.yaxis.title.text
    assert "yaxis2" not in fig.layout.to_plotly_json()  # no momentum panel


def test_momentum_curves_get_a_second_panel_sharing_the_step_axis():
    fig = SF.lr_figure([SF.LRCurve("OneCycleLR", COSINE, momentum=MOM), SF.LRCurve("StepLR", STEP)], log_y=True)
    tr = by_name(fig)
    mom = tr[f"OneCycleLR · {SF.MOMENTUM_LABEL}"]
    np.testing.assert_array_equal(np.asarray(mom.y), MOM)
    assert mom.yaxis == "y2" and tr["OneCycleLR"].yaxis == "y"
    assert mom.showlegend is False and mom.legendgroup == tr["OneCycleLR"].legendgroup
    assert fig.layout.yaxis2.title.text == SF.MOMENTUM_LABEL
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type != "log"
    assert fig.layout.xaxis.matches == "x2" or fig.layout.xaxis2.matches == "x"


def test_marker_at_a_step_sits_on_every_curve_and_on_the_momentum():
    short = STEP[:80]
    fig = SF.lr_figure([SF.LRCurve("a", COSINE, momentum=MOM), SF.LRCurve("short", short)], marker_step=120)
    tr = by_name(fig)
    mark = tr["step 120"]
    np.testing.assert_array_equal(np.asarray(mark.x), [120, 79])  # a shorter curve: its last step
    np.testing.assert_array_equal(np.asarray(mark.y), [COSINE[120], short[79]])
    mm = tr[f"step 120 · {SF.MOMENTUM_LABEL}"]
    assert np.asarray(mm.y).tolist() == [MOM[120]] and mm.yaxis == "y2"
    lines = [s for s in fig.layout.shapes if s.type == "line" and s.x0 == 120]
    assert lines, "a dashed vertical line marks the step"


def test_marker_skips_undefined_points():
    part = np.full(N, np.nan)
    part[100:] = 0.05
    fig = SF.lr_figure([SF.LRCurve("decay alone", part), SF.LRCurve("all", STEP)], marker_step=30)
    mark = by_name(fig)["step 30"]
    assert np.asarray(mark.x).tolist() == [30] and np.asarray(mark.y).tolist() == [STEP[30]]


def test_reductions_are_marked_on_their_curve_once_in_the_legend():
    lr = np.r_[np.full(60, 0.1), np.full(60, 0.05), np.full(80, 0.025)]
    fig = SF.lr_figure([SF.LRCurve("plateau", lr, reductions=(60, 120, 999)),
                        SF.LRCurve("plateau 2", lr, reductions=(60,))])
    marks = [tr for tr in fig.data if tr.name == "ReduceLROnPlateau cut the lr"]
    assert len(marks) == 2 and [m.showlegend for m in marks] == [True, False]
    assert np.asarray(marks[0].x).tolist() == [60, 120]  # out-of-range steps dropped
    np.testing.assert_array_equal(np.asarray(marks[0].y), [0.05, 0.025])
    assert marks[0].marker.symbol == "triangle-down"


def test_milestones_are_dotted_lines():
    fig = SF.lr_figure([SF.LRCurve("seq", STEP)], milestones=[50])
    assert any(s.x0 == 50 and s.line.dash == "dot" for s in fig.layout.shapes)
    assert any("milestone 50" in (a.text or "") for a in fig.layout.annotations)


def test_theme_fonts_and_unicode_labels():
    figs = [
        SF.lr_figure([SF.LRCurve("OneCycleLR", COSINE, momentum=MOM)], marker_step=10, milestones=[5]),
        SF.lr_figure([SF.LRCurve("StepLR", STEP)], marker_step=10),
        SF.range_test_figure(np.geomspace(1e-5, 1, 50), np.linspace(2, 1, 50), np.linspace(2, 1, 50),
                             suggested_lr=1e-2, suggested_index=30, stop_step=49, current_lr=0.1),
    ]
    for fig in figs:
        assert fig.layout.font.size == FONT_SIZE
        assert fig.layout.legend.font.size == FONT_SIZE
        assert fig.layout.title.font.size == TITLE_SIZE
        for a in fig.layout.annotations:
            assert a.font.size is None or a.font.size >= FONT_SIZE - 2
        for t in texts(fig):
            assert "$" not in t and "\\" not in t, t
    assert "η" in figs[0].layout.yaxis.title.text and "β₁" in figs[0].layout.yaxis2.title.text


# -- the LR range test ------------------------------------------------------------------------
LRS = np.geomspace(1e-6, 10, 60)
LOSS = 1 + 1 / (1 + np.exp(-4 * (np.log10(LRS) + 2))) * -0.9 + np.where(LRS > 1, (LRS - 1) ** 2, 0)


def test_range_test_plot_loss_against_lr_on_a_log_axis():
    smooth = LOSS * 0.9
    fig = SF.range_test_figure(LRS, LOSS, smooth, suggested_lr=float(LRS[25]), suggested_index=25)
    tr = by_name(fig)
    assert fig.layout.xaxis.type == "log"
    np.testing.assert_array_equal(np.asarray(tr["loss at each step"].x), LRS)
    np.testing.assert_array_equal(np.asarray(tr["loss at each step"].y), LOSS)
    np.testing.assert_array_equal(np.asarray(tr["smoothed loss"].y), smooth)
    star = next(t for t in fig.data if t.name.startswith("suggested η"))
    assert np.asarray(star.x).tolist() == [LRS[25]] and np.asarray(star.y).tolist() == [smooth[25]]
    assert star.marker.symbol == "star"
    # Shapes on a log axis take data units: the line is at the lr itself.
    assert any(math.isclose(s.x0, LRS[25]) and s.yref == "paper" for s in fig.layout.shapes)


def test_range_test_marks_the_stop_and_the_base_lr_and_chooses_log_y():
    fig = SF.range_test_figure(LRS, LOSS * 1e3 ** np.linspace(0, 1, 60), LOSS, stop_step=59, current_lr=0.1,
                               suggested_lr=None, suggested_index=None)
    tr = by_name(fig)
    stop = tr["diverged: test stopped"]
    assert np.asarray(stop.x).tolist() == [LRS[59]]
    assert not any(t.name.startswith("suggested") for t in fig.data)
    assert any(math.isclose(s.x0, 0.1) for s in fig.layout.shapes)
    base = [a for a in fig.layout.annotations if "base lr" in a.text]
    assert base and math.isclose(base[0].x, -1.0)  # annotations on a log axis take log10 units
    assert fig.layout.yaxis.type == "log"  # losses spanning over 100x
    flat = SF.range_test_figure(LRS, np.linspace(2.0, 0.5, 60), np.linspace(2.0, 0.5, 60))
    assert flat.layout.yaxis.type == "linear"


def test_range_test_with_a_single_point_or_nan_does_not_fail():
    fig = SF.range_test_figure(np.array([1e-3]), np.array([np.nan]), np.array([np.nan]), stop_step=0)
    assert len(fig.data) == 2  # the stop mark needs a finite point


# -- marks on another page's loss figure ------------------------------------------------------
def test_mark_reductions_on_the_loss_figure_at_the_plotted_values():
    losses = np.abs(np.sin(np.arange(2 * 101).reshape(2, 101))) + 0.1
    fig = F.loss_figure(losses, ["scheduled", "constant"], log=False)
    y0 = np.asarray(fig.data[0].y, dtype=np.float64)
    n = len(fig.data)
    SF.mark_reductions(fig, [10, 50, 500])
    assert len(fig.data) == n + 1
    mark = fig.data[-1]
    assert np.asarray(mark.x).tolist() == [10, 50]
    np.testing.assert_allclose(np.asarray(mark.y), y0[[10, 50]])
    assert SF.mark_reductions(fig, []) is fig and len(fig.data) == n + 1


@pytest.mark.parametrize("steps", [[], [1000]])
def test_mark_reductions_without_visible_steps_adds_nothing(steps):
    fig = F.loss_figure(np.ones((1, 11)), ["a"], log=False)
    n = len(fig.data)
    SF.mark_reductions(fig, steps)
    assert len(fig.data) == n


def test_colors_are_named_only_in_the_theme():
    import os
    import re

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    literal = re.compile(r"#[0-9a-fA-F]{3}\b|#[0-9a-fA-F]{6}\b|rgba?\("
                         r"|[\"'](white|black|grey|gray|red|blue|Viridis)[\"']")
    found = []
    for folder, _, files in os.walk(os.path.join(root, "app")):
        for name in files:
            path = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
            # The components' JavaScript and CSS too: they take the theme's colors from their payload.
            if not name.endswith((".py", ".js", ".css")) or path == "app/ui/theme.py":
                continue
            comment = "#" if name.endswith(".py") else "//"
            with open(os.path.join(root, path), encoding="utf-8") as f:
                for i, line in enumerate(f, 1):
                    code = line.split(f"  {comment} ", 1)[0]  # not a trailing comment
                    if code.lstrip().startswith((comment, "/*", "*")):
                        continue
                    if literal.search(code):
                        found.append(f"{path}:{i}: {line.strip()}")
    assert not found, "\n".join(found)
