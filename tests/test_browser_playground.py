"""A real browser plays the Playground's race: drawn and animated client-side, nothing fetched from outside.

Runs the app on a free localhost port (app.devserver) and drives Debian's Chromium with
Playwright at 1280x720, the projector most lecture halls have. Screenshots go to /tmp/shots/
for a human to look at. Skipped (with the reason) when Chromium or Playwright is missing,
except in CI (``CI=true``), where that fails.
"""

from __future__ import annotations

import os
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from app.ui import theme
from tests.browser import SHOTS, require

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = require()

MAP = "canvas[data-role=map]"


class Page:
    """One tab on the Playground, with every request and page error it saw."""

    def __init__(self, browser, url: str, query: str = "", size=(1280, 720)):
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url + query)
        self.ready()

    def ready(self, renders: int = 1) -> None:
        self.page.wait_for_selector(MAP, timeout=90_000)
        self.page.wait_for_function(f"() => window.__oeRace && window.__oeRace.renders >= {renders} "
                                    "&& window.__oeRace.drawn && window.__oeRace.drawn.landscape", timeout=60_000)
        self.idle()

    def idle(self) -> None:
        """Wait until Streamlit has finished its run (no 'Running' status widget)."""
        self.page.wait_for_function(
            "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
        time.sleep(0.4)

    def stats(self) -> dict:
        return self.page.evaluate("() => JSON.parse(JSON.stringify(window.__oeRace))")

    def shot(self, name: str, clip_map: bool = False) -> np.ndarray:
        from PIL import Image

        path = os.path.join(SHOTS, name)
        if clip_map:
            self.page.locator(MAP).screenshot(path=path)
        else:
            self.page.screenshot(path=path)
        return np.asarray(Image.open(path).convert("RGB")).astype(float)

    def query(self) -> dict:
        return {k: v[0] for k, v in parse_qs(urlparse(self.page.url).query).items()}

    def click_at(self, x: float, y: float) -> None:
        """Click the map at data point (x, y)."""
        a = self.stats()["area"]
        x0, x1, y0, y1 = a["window"]
        box = self.page.locator(MAP).bounding_box()
        px = box["x"] + a["x"] + (x - x0) / (x1 - x0) * a["w"]
        py = box["y"] + a["y"] + (y1 - y) / (y1 - y0) * a["h"]
        self.page.mouse.click(px, py)

    def close(self) -> None:
        self.page.close()


def _landscape_fraction(img: np.ndarray) -> float:
    """Share of pixels that are neither white nor a saturated run color: the landscape."""
    white = (img > 245).all(axis=-1)
    spread = img.max(axis=-1) - img.min(axis=-1)
    light = img.mean(axis=-1) > 120
    return float((~white & light & (spread < 90)).mean())


def test_the_race_plays_in_the_browser_and_nothing_leaves_the_server(server, browser):
    p = Page(browser, server)
    s = p.stats()
    assert s["step"] == 500 and not s["playing"]  # it opens on the whole race
    assert p.page.locator("[data-role=step]").inner_text() == "step 500 / 500"
    assert s["drawn"]["heads"] == 6 and s["drawn"]["landscape"]
    assert _landscape_fraction(p.shot("race_1280x720_map.png", clip_map=True)) > 0.5
    p.shot("race_1280x720.png")
    # The step counter and Play are on the first screen at 1280x720.
    for role in ("play", "step"):
        box = p.page.locator(f"[data-role={role}]").bounding_box()
        assert box and box["y"] + box["height"] <= 720, (role, box)

    p.page.click("[data-role=play]")
    time.sleep(1.0)
    a = p.stats()
    time.sleep(1.0)
    b = p.stats()
    assert a["playing"] and b["playing"] and 0 < a["step"] < b["step"] < 500
    frames_per_s = b["frames"] - a["frames"]
    assert frames_per_s >= 10, frames_per_s  # drawn in the browser: no server round trip per frame
    p.shot("race_playing.png", clip_map=True)
    p.page.click("[data-role=play]")  # pause
    time.sleep(0.3)
    paused = p.stats()["step"]
    time.sleep(0.6)
    assert p.stats()["step"] == paused and not p.stats()["playing"]
    # The paused step came back to Python: the inspector, the loss cursor and the URL follow it.
    p.page.wait_for_function(f"() => window.location.search.includes('pg_step={paused}')", timeout=30_000)
    p.idle()
    assert f"All runs at step {paused}" in p.page.inner_text("body")

    # No request went anywhere but this server; no script error on the page.
    host = urlparse(server).netloc
    outside = [u for u in p.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).netloc != host]
    assert outside == []
    assert p.errors == []
    p.close()


def test_scrubbing_moves_the_inspector_and_the_inspector_moves_the_map(server, browser):
    p = Page(browser, server)
    scrub = p.page.locator("[data-role=scrub]")
    scrub.evaluate("(e) => { e.value = '123'; e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); }")
    assert p.stats()["step"] == 123
    p.page.wait_for_function("() => window.location.search.includes('pg_step=123')", timeout=30_000)
    p.idle()
    assert "All runs at step 123" in p.page.inner_text("body")
    assert p.stats()["drawn"]["marks"] == 0  # the mark sits under the heads at the shown step
    # Keyboard on the inspector slider: the map jumps there and marks it.
    p.page.get_by_role("slider", name="inspect step").focus()
    p.page.keyboard.press("ArrowRight")
    p.page.wait_for_function("() => window.__oeRace.step === 124", timeout=30_000)
    p.close()


def test_a_link_opens_on_its_inspected_step(server, browser):
    p = Page(browser, server, "?pg_step=40")
    s = p.stats()
    assert s["step"] == 40 and p.page.locator("[data-role=step]").inner_text() == "step 40 / 500"
    p.close()


def test_a_click_on_the_map_starts_every_run_there(server, browser):
    p = Page(browser, server)
    renders = p.stats()["renders"]
    p.click_at(1.0, 2.0)
    p.page.wait_for_function(f"() => window.__oeRace.renders > {renders}", timeout=60_000)
    p.idle()
    q = p.query()
    assert abs(float(q["pg_x0"]) - 1.0) < 0.05 and abs(float(q["pg_y0"]) - 2.0) < 0.05
    assert abs(float(p.page.get_by_role("spinbutton", name="start θ₁").input_value()) - 1.0) < 0.05
    p.shot("race_after_click.png", clip_map=True)
    p.close()


def test_a_run_diverging_at_step_1_is_drawn_leaving_the_map(server, browser):
    # SGD with η = 0.5 on Rosenbrock from (-1.2, 1): θ₁ = -1.2 + 0.5 * 215.6 ≈ 106.6, past the region |θ| <= 40
    # at the first step, so the path keeps only its start.
    p = Page(browser, server, "?pg_nruns=1&pg_r0_lr=0.5&pg_steps=20")
    s = p.stats()
    assert s["drawn"]["crosses"] == 1 and s["drawn"]["heads"] == 0
    assert "diverged at step 1" in p.page.locator("[data-role=legend]").inner_text()
    img = p.shot("race_diverged_step1.png", clip_map=True)
    # The dashed escape is drawn in the run's color (Okabe-Ito orange, the light theme's tone) inside the map.
    tone = theme.run_tone(0, "light")
    rgb = np.array([int(tone[k:k + 2], 16) for k in (1, 3, 5)])
    orange = (np.abs(img - rgb).sum(axis=-1) < 60).sum()
    assert orange > 100, orange
    p.close()


def test_a_click_on_the_sensitivity_map_races_that_cell(server, browser):
    p = Page(browser, server)
    p.page.get_by_role("button", name="SGD zig-zags in a ravine").click()
    p.idle()
    p.page.get_by_role("tab", name="Sensitivity map").click()
    p.idle()
    plot = p.page.locator(".js-plotly-plot").last
    plot.wait_for(timeout=60_000)
    plot.scroll_into_view_if_needed()
    before = p.query()
    box = p.page.locator(".js-plotly-plot .nsewdrag").last.bounding_box()
    p.page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.3)
    p.page.wait_for_function("() => !document.body.innerText.includes('Traceback')", timeout=10_000)
    time.sleep(1.0)
    p.idle()
    text = p.page.inner_text("body")
    assert "TypeError" not in text and "Traceback" not in text
    after = p.query()
    assert (after.get("pg_r0_lr"), after.get("pg_r0_momentum")) != (before.get("pg_r0_lr"), before.get("pg_r0_momentum"))
    p.close()


def test_the_race_at_1920x1080(server, browser):
    p = Page(browser, server, size=(1920, 1080))
    img = p.shot("race_1920x1080_map.png", clip_map=True)
    assert img.shape[1] >= 900  # the map uses the wider screen
    p.shot("race_1920x1080.png")
    p.close()
