"""Presenter mode in a real browser at 1280x720: every page's main picture, its controls and its numbers on
the first screen, the sidebar closed, and ``&theme=dark`` turning the page dark within one reload.

Runs ``streamlit run app/main.py`` (the ``server`` fixture, :func:`app.devserver.serve`) and drives
Debian's Chromium (the ``browser`` fixture) at the projector size of most lecture halls. Each page is
opened with ``?presenter=1`` in a fresh browser context (its own storage: the theme a page chose is
kept there), left to settle (Streamlit idle, the picture drawn, no box moving any more), and the
bounding boxes of what a class must see are measured against the viewport (0, 0)-(1280, 720). The
boxes go to /tmp/shots/presenter_boxes.txt; screenshots of every page, light and dark, to
/tmp/shots/presenter-<page>-<theme>.png for a human to look at as a class would.

Skipped (with the reason) when Chromium or Playwright is missing, except in CI (``CI=true``), where
that fails; Live Training's case is skipped without the torch extra.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import pytest

from tests.browser import SHOTS, require

pytestmark = [pytest.mark.browser, pytest.mark.slow]

sync_api = require()

W, H = 1280, 720
BOXES = os.path.join(SHOTS, "presenter_boxes.txt")
MAIN = "[data-testid=stMain]"


@dataclass
class Case:
    """A page in presenter mode: its path and query, and what must be on the first screen (name -> CSS
    selector; Playwright's CSS reaches into the custom components' open shadow roots)."""

    name: str
    path: str
    must_see: dict[str, str]
    query: str = ""
    ready: str = "() => true"  # a JavaScript condition for "the picture is drawn"
    needs_torch: bool = False
    then: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # an action, then more to see


RACE_DRAWN = ("() => window.__oeRace && window.__oeRace.renders >= 1 && window.__oeRace.drawn "
              "&& window.__oeRace.drawn.landscape")
PLOTLY_DRAWN = f"() => document.querySelector('{MAIN} .js-plotly-plot .main-svg') !== null"
LIVE_DRAWN = "() => window.__oeLive && window.__oeLive.redraws >= 1"

CASES = [
    Case("playground", "", {
        "race map": "canvas[data-role=map]",
        "Play": "[data-role=play]",
        "step counter": "[data-role=step]",
        # The key numbers: each run's loss at the step shown, in its legend entry (the scoreboard follows).
        "first run's loss": "[data-role=legend] [data-role=value] >> nth=0",
        "last run's loss": "[data-role=legend] [data-role=value] >> nth=-1",
    }, ready=RACE_DRAWN),
    Case("guided lesson", "", {
        "race map": "canvas[data-role=map]",
        "Play": "[data-role=play]",
        "step counter": "[data-role=step]",
        "the question": f"{MAIN} [data-testid=stRadio] >> nth=0",
        "Next": ".st-key-pg_guide_next",
    }, query="&pg_guide=momentum&pg_gstep=2", ready=RACE_DRAWN),
    Case("schedules", "schedules", {
        "lr chart": f"{MAIN} .js-plotly-plot >> nth=0",
        "read-off step slider": f"{MAIN} [data-testid=stSlider] >> nth=0",
        "lr at that step (table)": f"{MAIN} [data-testid=stDataFrame] >> nth=0",
        "settings menu": f"{MAIN} [data-testid=stPopover] >> nth=0",
    }, ready=PLOTLY_DRAWN),
    Case("schedules-run", "schedules", {
        "race map": "canvas[data-role=map]",
        "Play": "[data-role=play]",
        "step counter": "[data-role=step]",
        "step slider": f"{MAIN} [data-testid=stSlider] >> nth=0",
        "numbers (step, lr, loss)": f"{MAIN} [data-testid=stMetric] >> nth=2",
    }, query="&sc_tab=Apply+to+a+run", ready=RACE_DRAWN),
    Case("live-training", "live-training", {
        "decision boundaries (step and accuracy in their titles)": "canvas.oel-maps",
        "step-0 explanation": ".oel-note",
        "Start": f"{MAIN} button:has-text('Start')",
        "Pause": f"{MAIN} button:has-text('Pause')",
        "Step": f"{MAIN} button:has-text('Step')",
        "settings menu": f"{MAIN} [data-testid=stPopover] >> nth=0",
    }, ready=LIVE_DRAWN, needs_torch=True, then=[("step", {
        "decision boundaries (step and accuracy in their titles)": "canvas.oel-maps",
        "loss and accuracy curves": "canvas.oel-curves",
        "Start": f"{MAIN} button:has-text('Start')",
    })]),
    Case("memory", "memory", {
        "memory chart": f"{MAIN} .js-plotly-plot >> nth=0",
        "model": f"{MAIN} [data-testid=stSelectbox] >> nth=0",
        "parameters": f"{MAIN} [data-testid=stNumberInput] >> nth=0",
        "dtype": f"{MAIN} [data-testid=stSelectbox] >> nth=2",
        "the answer in GB": f"{MAIN} [data-testid=stAlert] >> nth=0",
    }, ready=PLOTLY_DRAWN),
]


def _torch() -> bool:
    from app.training import backend as T

    return T.torch_available()


class Tab:
    """One page in its own browser context at 1280x720; counts its loads (the theme's reload is one)."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": W, "height": H})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.loads = 0
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("load", lambda _: setattr(self, "loads", self.loads + 1))
        self.page.goto(url)

    def idle(self) -> None:
        """Streamlit has finished its run (no 'Running' status widget)."""
        self.page.wait_for_timeout(400)
        self.page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')",
                                    timeout=90_000)

    def boxes(self, must_see: dict[str, str]) -> dict[str, dict | None]:
        out = {}
        for what, sel in must_see.items():
            loc = self.page.locator(sel)
            out[what] = loc.first.bounding_box() if loc.count() else None
        return out

    def settle(self, ready: str, must_see: dict[str, str], timeout: float = 90.0) -> dict[str, dict | None]:
        """Wait for the picture and for the boxes to stop moving (fonts, a canvas sizing itself); the boxes."""
        self.page.wait_for_selector(MAIN, timeout=90_000)
        self.idle()
        self.page.wait_for_function(ready, timeout=90_000)
        deadline = time.time() + timeout
        last = None
        while True:
            self.idle()
            now = self.boxes(must_see)
            if now == last and all(now.values()):
                return now
            if time.time() > deadline:
                return now
            last = now
            self.page.wait_for_timeout(700)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=os.path.join(SHOTS, name))

    def close(self) -> None:
        self.context.close()


def _off_screen(boxes: dict[str, dict | None]) -> list[str]:
    bad = []
    for what, b in boxes.items():
        if not b or b["width"] <= 0 or b["height"] <= 0:
            bad.append(f"{what}: not drawn ({b})")
        elif b["x"] < 0 or b["y"] < 0 or b["x"] + b["width"] > W + 0.5 or b["y"] + b["height"] > H + 0.5:
            bad.append(f"{what}: x {b['x']:.0f}..{b['x'] + b['width']:.0f}, y {b['y']:.0f}..{b['y'] + b['height']:.0f}")
    return bad


def _record(case: str, theme: str, boxes: dict[str, dict | None]) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    with open(BOXES, "a") as f:
        for what, b in boxes.items():
            text = "missing" if not b else (f"x {b['x']:.0f}..{b['x'] + b['width']:.0f}, "
                                           f"y {b['y']:.0f}..{b['y'] + b['height']:.0f}")
            f.write(f"{case} ({theme}) {what}: {text}\n")


def _sidebar_collapsed(page) -> bool:
    """The sidebar is closed: marked so, and nothing of it inside the viewport."""
    return page.evaluate("""() => {
        const s = document.querySelector('[data-testid=stSidebar]');
        if (!s) return true;
        const r = s.getBoundingClientRect();
        const marked = s.getAttribute('data-collapsed') === 'true' || s.getAttribute('aria-expanded') === 'false';
        return marked && (r.right <= 1 || r.width <= 1);
    }""")


def _background(page) -> list[float]:
    """The app's computed background as [r, g, b]."""
    return page.evaluate("""() => {
        const m = getComputedStyle(document.querySelector('.stApp')).backgroundColor.match(/[\\d.]+/g);
        return m.slice(0, 3).map(Number);
    }""")


def _luminance(rgb) -> float:
    r, g, b = rgb
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def _step_once(tab: Tab) -> None:
    """Live Training: one Step click, then wait until the view shows the new step and its curves."""
    tab.page.locator(f"{MAIN} button:has-text('Step')").first.click()
    tab.page.wait_for_function("() => window.__oeLive.step > 0", timeout=60_000)


ACTIONS = {"step": _step_once}


@pytest.fixture(scope="module", autouse=True)
def fresh_record():
    if os.path.exists(BOXES):
        os.remove(BOXES)
    yield


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_first_screen_holds_the_picture_its_controls_and_numbers(server, browser, case):
    if case.needs_torch and not _torch():
        pytest.skip("Live Training needs the torch extra")
    tab = Tab(browser, f"{server}{case.path}?presenter=1{case.query}")
    try:
        boxes = tab.settle(case.ready, case.must_see)
        _record(case.name, "light", boxes)
        tab.shot(f"presenter-{case.name}-light.png")
        assert _sidebar_collapsed(tab.page), "the sidebar is open"
        assert _luminance(_background(tab.page)) > 0.5
        problems = _off_screen(boxes)
        for action, more in case.then:
            ACTIONS[action](tab)
            after = tab.settle(case.ready, more)
            _record(f"{case.name} after {action}", "light", after)
            tab.shot(f"presenter-{case.name}-after-{action}-light.png")
            problems += [f"after {action}: {p}" for p in _off_screen(after)]
        assert not problems, f"{case.name} at 1280x720, outside the first screen: " + "; ".join(problems)
        assert not tab.errors, tab.errors
    finally:
        tab.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_dark_theme_within_one_reload(server, browser, case):
    if case.needs_torch and not _torch():
        pytest.skip("Live Training needs the torch extra")
    tab = Tab(browser, f"{server}{case.path}?presenter=1&theme=dark{case.query}")
    try:
        tab.page.wait_for_selector(MAIN, timeout=90_000)
        tab.page.wait_for_function(
            """() => { const a = document.querySelector('.stApp'); if (!a) return false;
                       const m = getComputedStyle(a).backgroundColor.match(/[\\d.]+/g);
                       return m && (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255 < 0.5; }""",
            timeout=30_000)
        boxes = tab.settle(case.ready, case.must_see)
        _record(case.name, "dark", boxes)
        tab.shot(f"presenter-{case.name}-dark.png")
        assert _luminance(_background(tab.page)) < 0.5, (
            f"the app's background is rgb{tuple(_background(tab.page))} once the page settled: the dark theme "
            "did not stay")
        assert tab.loads <= 2, f"{tab.loads} page loads: more than one reload"  # the first load and one reload
        assert _sidebar_collapsed(tab.page), "the sidebar is open"
        problems = _off_screen(boxes)
        assert not problems, f"{case.name} at 1280x720 (dark), outside the first screen: " + "; ".join(problems)
        assert not tab.errors, tab.errors
    finally:
        tab.close()
