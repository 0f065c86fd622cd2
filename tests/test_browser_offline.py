"""The offline page plays in Chromium from file:// with the network cut: play, the counter, scrub.

Screenshot: /tmp/shots/offline.png.
"""

from __future__ import annotations

import os

import pytest

from tests.browser import SHOTS, require

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = require()


@pytest.fixture(scope="module")
def page_file(tmp_path_factory):
    from app.exports import offline
    from app.playground import figures, panels, presets, race
    from app.playground import race_view as V
    from app.playground import scene as S

    sc = presets.DEFAULT_SCENE
    res = race.compute(sc)
    surface = S.make_surface(res.scene)
    land = figures.landscape(surface)
    payload = panels.race_view(sc, res, surface, land, 0, 0)
    path = tmp_path_factory.mktemp("offline") / "race.html"
    path.write_text(offline.offline_html(payload, V.landscape_payload(land), "Rosenbrock: six optimizers"),
                    encoding="utf-8")
    return path, payload


def test_plays_from_a_file_with_no_network(browser, page_file):
    path, payload = page_file
    T = payload["steps"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked, errors = [], []

    def route(r):
        url = r.request.url
        if url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    context.route("**/*", route)
    context.set_offline(True)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("#oe-race[data-ready='1'] canvas[data-role=map]", timeout=20_000)
        page.wait_for_function("() => window.__oeRace && window.__oeRace.drawn && window.__oeRace.drawn.landscape",
                               timeout=20_000)
        counter = page.locator("[data-role=step]")
        assert counter.inner_text() == f"step {T} / {T}"  # opens on the whole race
        stats = page.evaluate("() => JSON.parse(JSON.stringify(window.__oeRace))")
        assert stats["drawn"]["heads"] == len(payload["runs"])
        legend = page.locator("[data-role=legend]").inner_text()
        for run in payload["runs"]:
            assert run["label"] in legend

        page.locator("[data-role=play]").click()  # at the end: replays from step 0
        page.wait_for_function("() => window.__oeRace.playing && window.__oeRace.step > 0", timeout=10_000)
        first = page.evaluate("() => window.__oeRace.step")
        text1 = counter.inner_text()
        page.wait_for_function(f"() => window.__oeRace.step > {first} + 5", timeout=10_000)
        assert counter.inner_text() != text1
        page.locator("[data-role=play]").click()  # pause
        page.wait_for_function("() => !window.__oeRace.playing", timeout=5_000)

        page.locator("[data-role=scrub]").fill("123")
        page.wait_for_function("() => window.__oeRace.step === 123", timeout=5_000)
        assert counter.inner_text() == f"step 123 / {T}"
        assert page.evaluate("() => window.__oeRace.playing") is False

        # A click on the map does not try to set a start (no Python behind this page).
        page.locator("canvas[data-role=map]").click(position={"x": 300, "y": 300})
        page.locator("[data-role=scrub]").fill("250")
        page.wait_for_function("() => window.__oeRace.step === 250", timeout=5_000)
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, "offline.png"), full_page=True)
        assert blocked == [], blocked
        assert errors == [], errors
    finally:
        context.close()
