"""Guided lessons and lesson links in a real browser (Chromium at 1280x720, presenter mode).

Every lesson opens from its link on its first scene with the race held at step 0 (predict first), plays
when Play is pressed, answers the presenter's clicker (PgDn / PgUp) and the browser's Back; a lesson
link hides what it hides, fixes what it fixes, and survives a reload. Screenshots of every lesson's
first scene go to /tmp/shots/lesson-<key>.png.
"""

from __future__ import annotations

import os
import re

import pytest

from app.playground.lessons import LESSONS
from tests.browser import SHOTS

W, H = 1280, 720
# The race view drew its data (its elements live in a shadow root: Playwright's locators reach them).
RACE = "() => window.__oeRace && window.__oeRace.renders >= 1 && window.__oeRace.drawn"


def _step(page) -> tuple[int, int]:
    text = page.locator("[data-role=step]").first.text_content()
    m = re.search(r"(\d+)\s*/\s*(\d+)", text or "")
    assert m, text
    return int(m.group(1)), int(m.group(2))


def _idle(page) -> None:
    page.wait_for_timeout(400)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=90_000)


def _open(browser, url: str):
    context = browser.new_context(viewport={"width": W, "height": H})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function(RACE, timeout=90_000)
    _idle(page)
    return context, page, errors


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.key for lesson in LESSONS])
def test_a_lesson_plays_from_its_link(server, browser, lesson):
    context, page, errors = _open(browser, f"{server}?presenter=1&pg_guide={lesson.key}&pg_gstep=1")
    try:
        page.get_by_text(lesson.steps[0].question[:30]).first.wait_for(timeout=30_000)
        page.get_by_text(lesson.steps[0].title).first.wait_for(timeout=30_000)
        page.screenshot(path=os.path.join(SHOTS, f"lesson-{lesson.key}.png"))
        step, total = _step(page)
        assert (step, total) == (0, lesson.steps[0].scene.steps)  # held at the start: predict first
        page.locator("[data-role=play]").first.click()
        for _ in range(60):
            page.wait_for_timeout(250)
            if _step(page)[0] > 0:
                break
        assert _step(page)[0] > 0, "Play did not move the race"
        assert not errors, errors
    finally:
        context.close()


def test_the_clicker_and_back_step_through_a_lesson(server, browser):
    context, page, errors = _open(browser, f"{server}?presenter=1&pg_guide=gd-lr&pg_gstep=1")
    try:
        page.locator(".st-key-pg_guide_next button").wait_for(timeout=30_000)
        page.mouse.click(1260, 700)  # focus the page (an empty corner), not the map
        page.keyboard.press("PageDown")
        page.wait_for_function("() => location.search.includes('pg_gstep=2')", timeout=30_000)
        page.wait_for_function(RACE, timeout=90_000)
        _idle(page)
        assert page.get_by_text(LESSONS[0].steps[1].title).count() >= 1
        page.go_back()
        page.wait_for_function("() => location.search.includes('pg_gstep=1')", timeout=30_000)
        _idle(page)
        page.wait_for_function(
            f"() => document.body.innerText.includes({LESSONS[0].steps[0].title!r})", timeout=30_000)
        page.keyboard.press("PageDown")
        page.wait_for_function("() => location.search.includes('pg_gstep=2')", timeout=30_000)
        _idle(page)
        page.keyboard.press("PageUp")
        page.wait_for_function("() => location.search.includes('pg_gstep=1')", timeout=30_000)
        assert not errors, errors
    finally:
        context.close()


def test_a_lesson_link_hides_and_fixes_and_survives_a_reload(server, browser):
    url = f"{server}?pg_lesson=ravine&pg_show=steps,lr&pg_fix=steps"
    context, page, errors = _open(browser, url)
    try:
        for attempt in range(2):  # as opened, then after a reload
            steps = page.get_by_role("slider", name="steps")
            assert steps.count() == 1 and steps.first.is_visible()
            assert steps.first.get_attribute("aria-disabled") == "true" or steps.first.is_disabled()
            lrs = page.locator("[data-testid=stSlider]").filter(has_text="learning rate")
            assert lrs.count() >= 1 and lrs.first.is_visible()
            # Hidden: drawn, holding the link's values, never displayed.
            surface = page.locator(".st-key-pg_hidden_controls")
            assert surface.count() == 1 and not surface.first.is_visible()
            assert page.get_by_text("loss surface", exact=True).filter(visible=True).count() == 0
            assert "pg_show=steps%2Clr" in page.url or "pg_show=steps,lr" in page.url
            if attempt == 0:
                page.reload()
                page.wait_for_function(RACE, timeout=90_000)
                _idle(page)
        assert not errors, errors
    finally:
        context.close()
