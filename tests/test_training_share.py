"""Live Training's fair share of the server (app/training/share.py)."""

from __future__ import annotations

import pytest

from app.training.share import TrainingShare


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_a_session_alone_keeps_its_budget():
    share = TrainingShare(fraction=0.5, clock=Clock())
    got = share.budget("a", 0.075, 0.15)
    assert isinstance(got, float) and got == pytest.approx(0.075)


def test_sessions_training_together_split_the_share():
    clock = Clock()
    share = TrainingShare(fraction=0.5, window_s=2.0, floor_s=0.01, clock=clock)
    for s in "abc":
        share.budget(s, 0.075, 0.15)
    # Three sessions: 0.5 of a core over a 0.15 s redraw is 0.075 s, a third each.
    assert share.budget("a", 0.075, 0.15) == pytest.approx(0.025)
    assert share.active() == 3
    # Thirty: each would get 2.5 ms; the floor keeps every run moving.
    for i in range(27):
        share.budget(f"s{i}", 0.075, 0.15)
    assert share.budget("a", 0.075, 0.15) == pytest.approx(0.01)


def test_above_the_floor_all_sessions_together_train_for_the_fraction():
    share = TrainingShare(fraction=0.5, floor_s=0.0, clock=Clock())
    for s in "abcd":
        share.budget(s, 0.075, 0.15)
    total = sum(share.budget(s, 0.075, 0.15) for s in "abcd")
    assert total == pytest.approx(0.5 * 0.15)  # half a core, whatever the number of sessions


def test_a_session_that_stops_or_goes_quiet_gives_its_part_back():
    clock = Clock()
    share = TrainingShare(fraction=0.5, window_s=2.0, floor_s=0.0, clock=clock)
    share.budget("a", 1.0, 0.2)
    share.budget("b", 1.0, 0.2)
    assert share.budget("a", 1.0, 0.2) == pytest.approx(0.05)
    share.leave("b")
    assert share.budget("a", 1.0, 0.2) == pytest.approx(0.1)
    share.budget("b", 1.0, 0.2)
    clock.t += 2.5  # b has not asked for longer than the window
    assert share.budget("a", 1.0, 0.2) == pytest.approx(0.1)
    assert share.active() == 1
