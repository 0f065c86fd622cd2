"""A real browser's address bar and history on the Playground: links reproduce scenes exactly.

Runs the app on a free localhost port (app.devserver) and drives Debian's Chromium with
Playwright at 1280x720. Checks the URL Streamlit's frontend actually shows against the page's
own statement of it (app.playground.state.url_params, through handoff.link), the widget values
in the sidebar and the lesson on the page, never the race figure (its map is only clicked).
Skipped (with the reason) when Chromium or Playwright is missing, except in CI (``CI=true``),
where that fails.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from app.playground import handoff
from app.playground import presets as P
from app.playground import state as U
from tests.browser import require

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = require()

SIDEBAR = "[data-testid=stSidebar]"


class Tab:
    """One browser tab (its own context, so its own clipboard permission and history)."""

    def __init__(self, browser, base: str, query: dict | None = None, clipboard: bool = True) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": 1280, "height": 720})
        if clipboard:
            self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base.rstrip("/"))
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.goto(query or {})

    def goto(self, query: dict, path: str = "") -> None:
        self.page.goto(self.base + path + ("?" + urlencode(query) if query else ""))
        self.page.wait_for_selector("text=Gallery" if not path else "[data-testid=stMain]", timeout=90_000)
        self.idle()

    def idle(self) -> None:
        """Wait until Streamlit has finished its run (no 'Running' status widget)."""
        self.page.wait_for_timeout(400)
        self.page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')",
                                    timeout=60_000)
        self.page.wait_for_timeout(600)

    def close(self) -> None:
        self.context.close()

    @property
    def url(self) -> str:
        """The address bar (read from the page: Playwright's ``page.url`` lags behind ``pushState``)."""
        return self.page.evaluate("() => window.location.href")

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlparse(self.url).query, keep_blank_values=True).items()}

    @property
    def path(self) -> str:
        return urlparse(self.url).path

    def history(self) -> int:
        return self.page.evaluate("history.length")

    def lesson(self, preset) -> None:
        self.page.locator(SIDEBAR).get_by_role("button", name=preset.title).click()
        self.wait_url(handoff.link(preset.scene, preset.key))

    def wait_url(self, query: dict) -> None:
        """Wait until the address bar holds ``query`` and the run is over."""
        target = dict(query)
        deadline = time.time() + 60
        while self.query != target:
            if time.time() > deadline:
                raise AssertionError(f"the URL stayed {self.query}, expected {target}")
            self.page.wait_for_timeout(200)
        self.idle()

    def back(self) -> None:
        self.page.go_back()
        self.idle()

    def forward(self) -> None:
        self.page.go_forward()
        self.idle()

    def slider(self, label: str) -> str:
        """A sidebar slider's value as it shows it."""
        s = self.page.locator(f"{SIDEBAR} [data-testid=stSlider]").filter(has_text=label)
        return s.locator("[data-testid=stSliderThumbValue]").inner_text()

    def number(self, label: str) -> float:
        box = self.page.locator(f"{SIDEBAR} [data-testid=stNumberInput]").filter(has_text=label)
        return float(box.locator("input").input_value())

    def surface(self) -> str:
        box = self.page.locator(f"{SIDEBAR} [data-testid=stSelectbox]").filter(has_text="loss surface")
        return box.locator("input").input_value()

    def shown_lesson(self) -> str | None:
        """The title of the lesson the page shows, if any."""
        alerts = self.page.locator("[data-testid=stMain] [data-testid=stAlert]").all_inner_texts()
        found = [p.title for p in P.GALLERY for a in alerts if f"{p.title}." in a]
        return found[0] if found else None

    def expect_scene(self, preset) -> None:
        """The sidebar shows ``preset``'s surface, κ (on the Ravine) and steps; its lesson is shown."""
        scene = preset.scene
        assert self.surface() == scene.surface
        assert self.slider("steps") == str(scene.steps)
        if scene.surface == "Ravine":
            assert self.slider("condition number") == f"{U.state_from_scene(scene)['pg_sp_kappa']:g}"
        assert (self.number("start θ₁"), self.number("start θ₂")) == pytest.approx(scene.start)
        assert self.shown_lesson() == preset.title


def test_a_lessons_url_and_a_clicks_are_the_pages_own(server, browser):
    ravine = P.PRESETS["ravine"]
    tab = Tab(browser, server)
    entries = tab.history()
    tab.lesson(ravine)
    # What Streamlit shows is the page's statement of the link (url_params), κ = 25 included, in one entry.
    assert tab.query == handoff.link(ravine.scene, "ravine") and tab.query["pg_sp_kappa"] == "25"
    assert tab.history() == entries + 1
    tab.expect_scene(ravine)
    opened = Tab(browser, server, tab.query)  # a new tab with only that link
    opened.expect_scene(ravine)
    assert opened.query == tab.query
    opened.close()

    # A click on the race map (any point) starts every run there: one entry, the start in the link.
    box = tab.page.locator("canvas[data-role=map]").bounding_box()
    tab.page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    deadline = time.time() + 60
    while "pg_lesson" in tab.query and time.time() < deadline:
        tab.page.wait_for_timeout(200)
    tab.idle()
    x0, y0 = tab.number("start θ₁"), tab.number("start θ₂")
    assert (x0, y0) != pytest.approx(ravine.scene.start)
    assert (float(tab.query["pg_x0"]), float(tab.query["pg_y0"])) == (x0, y0)
    assert "pg_lesson" not in tab.query and tab.shown_lesson() is None  # no longer the lesson's scene
    assert tab.history() == entries + 2
    opened = Tab(browser, server, tab.query)
    assert (opened.number("start θ₁"), opened.number("start θ₂")) == (x0, y0)
    assert opened.slider("condition number") == "25" and opened.query == tab.query
    opened.close()
    assert not tab.errors, tab.errors
    tab.close()


def test_back_and_forward_restore_whole_scenes(server, browser):
    ravine, diverge = P.PRESETS["ravine"], P.PRESETS["diverge"]
    tab = Tab(browser, server)
    start = tab.history()
    tab.lesson(ravine)
    tab.lesson(diverge)
    # A change of one widget is an entry of its own: the steps slider, one notch to the right.
    tab.page.locator(f"{SIDEBAR} [data-testid=stSlider]").filter(has_text="steps").get_by_role("slider").focus()
    tab.page.keyboard.press("ArrowRight")
    tab.wait_url({k: v for k, v in {**handoff.link(diverge.scene), "pg_steps": "100"}.items()})
    assert tab.history() == start + 3

    tab.back()
    assert tab.query == handoff.link(diverge.scene, "diverge")
    tab.expect_scene(diverge)
    tab.back()
    assert tab.query == handoff.link(ravine.scene, "ravine")
    tab.expect_scene(ravine)
    tab.forward()
    tab.expect_scene(diverge)

    # Another page, then Back: the scene left, not the page as it opens.
    tab.page.locator(SIDEBAR).get_by_role("link", name="Schedules").click()
    deadline = time.time() + 60
    while tab.path.rstrip("/") != "/schedules" and time.time() < deadline:
        tab.page.wait_for_timeout(200)
    tab.idle()
    assert tab.query == {}
    tab.back()
    assert tab.query == handoff.link(diverge.scene, "diverge")
    tab.expect_scene(diverge)
    # Ravine, Diverge, Schedules (it replaced the forward entry of the steps change): the switch made
    # one entry, not one more for the parameters it dropped on the way.
    assert tab.history() == start + 3
    assert not tab.errors, tab.errors
    tab.close()


def test_open_this_run_in_the_playground_shows_the_scene_in_the_url(server, browser):
    from app.schedules import logic as L

    tab = Tab(browser, server)
    tab.goto({"sc_steps": "300"}, path="schedules")
    tab.page.get_by_role("tab", name="Apply to a run").click()
    tab.idle()
    schedules = tab.url
    entries = tab.history()
    tab.page.get_by_role("button", name="Open this run in the Playground").click()
    scene = U.canonical(L.playground_scene("Himmelblau", "RMSprop", 0.1, "StepLR", {}, 300))
    tab.wait_url(handoff.link(scene))
    assert tab.path == "/" and tab.surface() == "Himmelblau" and tab.slider("steps") == "300"
    assert tab.history() == entries + 1
    tab.back()  # back to the Schedules page as it was
    assert tab.url == schedules
    assert not tab.errors, tab.errors
    tab.close()


def test_copy_link_copies_the_address(server, browser):
    tab = Tab(browser, server)
    tab.lesson(P.PRESETS["saddle"])
    tab.page.get_by_test_id("oe-copy-link").click()
    sync_api.expect(tab.page.get_by_test_id("oe-copy-status")).to_have_text("Link copied.")
    assert tab.page.evaluate("navigator.clipboard.readText()") == tab.url
    assert tab.page.get_by_test_id("oe-copy-fallback").is_hidden()
    tab.close()

    # No clipboard API (plain http on a LAN address): the link is shown, selected, to copy by hand.
    tab = Tab(browser, server, {"pg_surface": "Beale"}, clipboard=False)
    tab.page.evaluate("() => Object.defineProperty(navigator, 'clipboard', {value: undefined})")
    tab.page.get_by_test_id("oe-copy-link").click()
    box = tab.page.get_by_test_id("oe-copy-url")
    sync_api.expect(box).to_be_visible()
    assert box.input_value() == tab.url and "pg_surface=Beale" in tab.url
    assert tab.page.evaluate("() => { const i = document.activeElement.shadowRoot ? "
                             "document.activeElement.shadowRoot.activeElement : document.activeElement; "
                             "return i.value.substring(i.selectionStart, i.selectionEnd); }") == tab.url
    tab.close()
