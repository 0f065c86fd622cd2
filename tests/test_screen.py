"""app.ui.screen: presenter mode's arithmetic of one 1280x720 screen, against heights measured in Chromium.

The measured numbers below were read off the browser (tests/test_presenter_browser.py writes them to
/tmp/shots/presenter_boxes.txt); if race.js or live_view.js change their sizes, these fail first and
say which constant of app/ui/screen.py to measure again.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.ui import screen as S

HIMMELBLAU = ((-5.0, 5.0), (-5.0, 5.0))
RUNS = ["RMSprop + StepLR", "RMSprop, constant η = 0.1"]


def test_split_gives_the_picture_its_width_and_the_rest_to_the_controls():
    assert S.split(700) == [700.0, 1120 - 32 - 700.0]
    # The controls keep a usable column however wide a picture asks to be.
    picture, controls = S.split(5000)
    assert controls >= 250 and picture + controls == 1120 - 32


def test_room_is_what_is_left_under_a_top():
    assert S.room(200) == 720 - 200 - S.MARGIN
    assert S.room(200, shift=16) == S.room(200) - 16


def test_the_race_view_height_matches_chromium():
    # Measured at 1280x720: the view 429 px wide on Himmelblau with two runs was 537 px tall (map 346, the
    # play bar on two lines 71, a three-line legend 106, their margins), under the landscape's empty element
    # and its 16 px gap.
    assert S.race_view_height(429, HIMMELBLAU, labels=RUNS) == pytest.approx(16 + 537, abs=6)
    # A narrower view has a smaller map; a map never shrinks under 240 px.
    assert S.race_view_height(440, HIMMELBLAU, labels=RUNS) < S.race_view_height(560, HIMMELBLAU, labels=RUNS)
    assert S.race_view_height(320, HIMMELBLAU, labels=[]) >= 240


def test_the_widest_race_view_that_fits_is_found():
    w = S.race_view_width(HIMMELBLAU, 600, labels=RUNS)
    assert S.race_view_height(w, HIMMELBLAU, labels=RUNS) <= 600 < S.race_view_height(w + 8, HIMMELBLAU, labels=RUNS)
    # Nothing fits: the least tall.
    w = S.race_view_width(HIMMELBLAU, 100, labels=RUNS)
    assert all(S.race_view_height(w, HIMMELBLAU, labels=RUNS) <= S.race_view_height(x, HIMMELBLAU, labels=RUNS)
               for x in range(320, 800, 20))


def test_legend_lines_wrap_like_a_flex_row():
    items = [(10, "x" * 10)] * 3  # 10 + 88 = 98 px each, 16 px apart
    assert S.legend_lines(items, 1000) == 1
    assert S.legend_lines(items, 98 * 2 + 16) == 2
    assert S.legend_lines(items, 100) == 3


def test_the_live_view_height_matches_chromium():
    # Measured: 775 px wide, two runs on the moons (aspect 0.565): legend 29 + 8, maps 275, classes 6 + 29 + 14,
    # curves 290: the curves' bottom 650 px under the view's top.
    assert S.live_view_height(775, 2, 0.5653) == pytest.approx(650, abs=4)


def test_the_live_view_fits_when_it_can_else_keeps_its_maps_large():
    moons = S.live_view_width(2, 0.565, 650)
    assert S.live_view_height(moons, 2, 0.565) <= 650
    assert S.live_view_width(4, 0.565, 650) >= moons  # four lower maps side by side
    # Square data: two maps as tall as wide cannot leave room for the curves at any width. The view then
    # keeps its legends and titles on one line (750 px and up) and takes the least tall of those widths.
    square = S.live_view_width(2, 1.0, 650)
    assert square >= 750 and S.live_view_height(square, 2, 1.0) > 650
    assert all(S.live_view_height(square, 2, 1.0) <= S.live_view_height(w, 2, 1.0) for w in range(752, 829, 4))


def test_extent_aspect():
    a = np.array([[0.0, 0.0], [4.0, 1.0]])
    b = np.array([[2.0, 2.0]])
    assert S.extent_aspect(a, b) == pytest.approx(2.0 / 4.0)
    assert S.extent_aspect(np.zeros((3, 2))) == 1.0
