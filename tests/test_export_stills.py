"""Stills (app/exports/stills.py): PNG, SVG and PDF of the app's figures through kaleido and Chromium.

The rendering tests need Chromium (``apt-get install -y chromium``): without it they are
skipped with the message the page would show (a failure in CI). The missing-browser path is
tested without a browser.
"""

from __future__ import annotations

import struct
import time
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest

from app.exports import stills
from app.playground import figures as F
from app.playground import panels
from app.playground.presets import DEFAULT_SCENE
from app.playground.race import compute

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def browser():
    message = stills.browser_missing()
    if message:
        pytest.skip(message)
    yield
    stills.stop()


@pytest.fixture(scope="module")
def race():
    res = compute(DEFAULT_SCENE)
    assert res.ok, res.errors
    return res


def test_png_signature_and_pixel_size(browser, race):
    fig = panels.loss_chart(DEFAULT_SCENE, race, race.surface, log=True, step=DEFAULT_SCENE.steps)
    data = stills.still(fig, "png", width=640, height=360)
    assert png_size(data) == (640 * 2, 360 * 2)
    data = stills.still(fig, "png", width=500, height=300, scale=1)
    assert png_size(data) == (500, 300)


def test_stills_from_several_threads_get_their_own_image(browser, race):
    """The page's thread and the export workers may ask at once: each caller gets its own picture."""
    from concurrent.futures import ThreadPoolExecutor

    fig = panels.loss_chart(DEFAULT_SCENE, race, race.surface, log=True, step=DEFAULT_SCENE.steps)
    sizes = [(320 + 16 * i, 200 + 8 * i) for i in range(6)]
    with ThreadPoolExecutor(3) as pool:
        out = list(pool.map(lambda wh: stills.still(fig, "png", width=wh[0], height=wh[1], scale=1), sizes))
    assert [png_size(d) for d in out] == sizes


def test_a_still_as_a_job(browser, race):
    from app.exports.jobs import JobRunner

    runner = JobRunner()
    try:
        fig = stills.race_still_figure(DEFAULT_SCENE, race)
        job = runner.submit("s", "png", stills.still, fig, "png", 640, 360)
        deadline = time.monotonic() + 60
        while not job.done and time.monotonic() < deadline:
            time.sleep(0.02)
        assert job.ok, job.error
        assert job.progress == 1.0 and png_size(job.result) == (1280, 720)
    finally:
        runner.shutdown()


def test_race_still_is_static_with_whole_paths(browser, race):
    d = stills.race_still_figure(DEFAULT_SCENE, race)
    assert "frames" not in d
    assert not d["layout"].get("sliders") and not d["layout"].get("updatemenus")
    assert d["layout"]["title"]["text"]
    # Every run's trail is drawn to its last step (the figure opens on the last frame).
    trails = [t for t in d["data"] if t.get("mode") == "lines"]
    assert len(trails) == len(DEFAULT_SCENE.runs)
    for t in trails:
        assert len(F.decode_array(t["x"])) == DEFAULT_SCENE.steps + 1
    data = stills.still(d, "png", width=800, height=450)
    assert png_size(data) == (1600, 900)


def test_svg_parses_and_carries_the_title(browser, race):
    fig = panels.loss_chart(DEFAULT_SCENE, race, race.surface, log=True, step=DEFAULT_SCENE.steps)
    data = stills.still(fig, "svg")
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    assert b"<svg" in data[:400]
    assert "Loss at each step" in data.decode("utf-8")


def test_title_added_when_missing(browser):
    fig = go.Figure(go.Scatter(x=np.arange(5.0), y=np.arange(5.0) ** 2, name="t²"))
    fig.update_layout(xaxis_title="step", yaxis_title="loss")
    with pytest.raises(ValueError, match="title"):
        stills.still(fig, "svg")
    data = stills.still(fig, "svg", title="Squares for the slide").decode("utf-8")
    assert "Squares for the slide" in data
    # The figure keeps its own title over the argument, and the figure passed is not modified.
    fig.update_layout(title="Own title")
    data = stills.still(fig, "svg", title="ignored").decode("utf-8")
    assert "Own title" in data and "ignored" not in data
    assert fig.layout.width is None


def test_pdf(browser, race):
    data = stills.still(stills.race_still_figure(DEFAULT_SCENE, race), "pdf")
    assert data.startswith(b"%PDF")


def test_other_app_figures_render(browser, race):
    """The 3D surface, the schedule curves (with the momentum panel) and a convergence-style heat map
    go through the same path."""
    from app.schedules import figures as SF

    fig3d = panels.surface_3d(DEFAULT_SCENE, race, race.surface)
    assert png_size(stills.still(fig3d, "png", width=400, height=300)) == (800, 600)
    t = np.arange(200)
    curves = [SF.LRCurve("StepLR", 0.1 * 0.5 ** (t // 50)),
              SF.LRCurve("OneCycleLR", 0.05 * (1 + np.cos(np.pi * t / 200)),
                         momentum=0.95 - 0.1 * np.sin(np.pi * t / 200))]
    fig = SF.lr_figure(curves, marker_step=120, milestones=(50, 100))
    svg = stills.still(fig, "svg").decode("utf-8")
    assert "Learning rate at each step" in svg and "StepLR" in svg
    assert stills.still(fig, "pdf").startswith(b"%PDF")


def test_unknown_format_refused():
    with pytest.raises(ValueError, match="format"):
        stills.still(go.Figure(), "gif", title="x")


def test_missing_browser_gives_the_message_and_never_raises(monkeypatch):
    monkeypatch.setattr(stills, "_find_browser", lambda: None)
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    message = stills.browser_missing()
    assert message and "apt-get install -y chromium" in message and "BROWSER_PATH" in message
    assert "\n" not in message
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chrome")
    monkeypatch.setattr(stills, "_find_browser", lambda: "/nonexistent/chrome")
    message = stills.browser_missing()
    assert message and "/nonexistent/chrome" in message


def test_missing_browser_still_raises_its_message_without_hanging(monkeypatch):
    """A still asked for anyway fails at once with the same message (kaleido's own sync server
    would wait for ever on a browser that never started)."""
    stills.stop()
    monkeypatch.setattr(stills, "_find_browser", lambda: None)
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    with pytest.raises(stills.BrowserMissing, match="apt-get install -y chromium"):
        stills.still(go.Figure(), "png", title="x")
    assert stills.warm_up() == stills.INSTALL_HINT
