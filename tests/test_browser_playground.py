"""A real browser plays the Playground's race: the landscape stays drawn and the heads move.

Runs ``streamlit run app/main.py`` on a free localhost port and drives Debian's Chromium
with Playwright. Screenshots go to /tmp/shots/ for a human to look at. Skipped (with the
reason) when Chromium or Playwright is missing, except in CI (``CI=true``), where that fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from tests.asserts import reference

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = "/tmp/shots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]

if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
    _WHY = "Debian's Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":  # CI installs it: a missing browser is a broken run, not a skip
        pytest.fail(_WHY, pytrace=False)
    pytest.skip(_WHY, allow_module_level=True)
sync_api = reference("playwright.sync_api", "playwright (Python) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    log = open(os.path.join(SHOTS if os.path.isdir(SHOTS) else "/tmp", "streamlit-playground.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", os.path.join(ROOT, "app", "main.py"),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                pytest.fail("streamlit did not start (see the log in /tmp/shots)")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.fixture(scope="module")
def page(server):
    os.makedirs(SHOTS, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 1000})
        pg.goto(server)
        pg.wait_for_selector(".js-plotly-plot .imagelayer image", state="attached", timeout=90_000)
        time.sleep(2.0)
        yield pg
        browser.close()


RACE = "document.querySelector('.js-plotly-plot')"


def _plot_area(page):
    """The race's plot area (axes rectangle) in page pixels."""
    box = page.evaluate(f"""() => {{
        const r = {RACE}.querySelector('.nsewdrag').getBoundingClientRect();
        return [r.x, r.y, r.width, r.height];
    }}""")
    return {"x": box[0], "y": box[1], "width": box[2], "height": box[3]}


def _shot(page, name: str) -> np.ndarray:
    from PIL import Image

    path = os.path.join(SHOTS, name)
    page.screenshot(path=path, clip=_plot_area(page))
    return np.asarray(Image.open(path).convert("RGB")).astype(float)


def _landscape_fraction(img: np.ndarray) -> float:
    """Share of plot-area pixels that are neither white nor a saturated run color: the landscape."""
    white = (img > 245).all(axis=-1)
    spread = img.max(axis=-1) - img.min(axis=-1)
    light = img.mean(axis=-1) > 120
    return float((~white & light & (spread < 90)).mean())


def _heads(page) -> list:
    return page.evaluate(f"""() => {{
        const gd = {RACE};
        // _fullData holds the decoded arrays (gd.data keeps the typed-array specs as sent).
        const t = gd._fullData.find(d => d.name === 'current position');
        return [Array.from(t.x), Array.from(t.y)];
    }}""")


def test_play_keeps_the_landscape_and_moves_the_heads(page):
    before = _shot(page, "playground_before_play.png")
    page.screenshot(path=os.path.join(SHOTS, "playground_page.png"))
    frac_before = _landscape_fraction(before)
    assert frac_before > 0.6, frac_before  # the PNG landscape fills the plot area
    # Count animation frames as the browser draws them.
    page.evaluate(f"""() => {{
        const gd = {RACE};
        window.__frames = [];
        gd.on('plotly_animatingframe', e => window.__frames.push([performance.now(), e.name]));
    }}""")
    page.locator(".updatemenu-button", has_text="▶ Play").first.click()
    time.sleep(0.8)
    heads_a = _heads(page)
    during = _shot(page, "playground_playing_1.png")
    time.sleep(1.5)
    heads_b = _heads(page)
    during2 = _shot(page, "playground_playing_2.png")
    # The landscape is still there while playing (plotly.js drops contour traces here; an image stays).
    assert _landscape_fraction(during) > 0.8 * frac_before
    assert _landscape_fraction(during2) > 0.8 * frac_before
    assert page.evaluate(f"() => {RACE}.querySelectorAll('.imagelayer image').length") == 1
    # The heads moved between the two moments, and the pictures differ.
    assert heads_a != heads_b
    assert np.abs(during - during2).mean() > 0.05
    frames = page.evaluate("() => window.__frames")
    assert len(frames) >= 5
    span = (frames[-1][0] - frames[0][0]) / 1000
    fps = (len(frames) - 1) / span if span > 0 else float("inf")
    with open(os.path.join(SHOTS, "playground_fps.txt"), "w") as f:
        f.write(f"{len(frames)} frames in {span:.2f} s: {fps:.1f} frames/s\n")
    assert fps > 5


def test_pause_stops_and_slider_scrubs(page):
    page.locator(".updatemenu-button", has_text="Pause").first.click()
    time.sleep(0.5)
    a = _heads(page)
    time.sleep(0.7)
    assert _heads(page) == a  # paused
    page.locator(".updatemenu-button", has_text="Replay").first.click()
    time.sleep(6.0)
    _shot(page, "playground_after_replay.png")
    label = page.evaluate(f"() => {RACE}.querySelector('.slider-container .slider-label').textContent")
    assert label.startswith("step ")


def test_diverging_preset_in_the_browser(page):
    page.get_by_role("button", name="Too large a learning rate diverges").click()
    page.wait_for_function("() => document.body.innerText.includes('diverged at step')", timeout=60_000)
    time.sleep(2.0)
    page.screenshot(path=os.path.join(SHOTS, "playground_diverge_page.png"))
    img = _shot(page, "playground_diverge_map.png")
    assert _landscape_fraction(img) > 0.5
    crosses = page.evaluate(f"""() => {{
        const t = {RACE}._fullData.find(d => d.name === 'diverged');
        return t.x.length;
    }}""")
    assert crosses == 1


def test_click_on_the_map_sets_the_start(page):
    page.get_by_role("button", name="Six optimizers on Rosenbrock").click()
    page.wait_for_function("() => document.body.innerText.includes('Six optimizers on Rosenbrock.')", timeout=60_000)
    time.sleep(2.0)
    area = _plot_area(page)
    # Rosenbrock's window is θ₁ in [-2, 2], θ₂ in [-1, 3]: aim at about (1.0, 2.0).
    x = area["x"] + area["width"] * 0.75
    y = area["y"] + area["height"] * 0.25
    page.mouse.click(x, y)
    page.wait_for_function(
        "() => { const s = " + RACE + "._fullData.find(d => d.name === 'start');"
        " return s && Math.abs(s.x[0] - 1.0) < 0.2 && Math.abs(s.y[0] - 2.0) < 0.2; }", timeout=60_000)
    time.sleep(1.0)
    _shot(page, "playground_after_click.png")
    value = page.get_by_label("start θ₁").input_value()
    assert abs(float(value) - 1.0) < 0.2
