"""Live Training's fair share of the server: every session that trains gets an equal part of a fixed
slice of the CPU, so a lecture hall training at once cannot starve the students who drag sliders.

One server process runs Python on about one core (the GIL). Live Training redraws every few tenths of
a second and trains for a bounded time per redraw (``app.views.live_training.train_budget``); alone,
a session trains for up to half of each interval. With many sessions training, that half each would
add up to several cores' worth of demand on one. :class:`TrainingShare` caps the sum: training, all
sessions together, may use :attr:`TrainingShare.fraction` of one core; each session active in the
last :attr:`TrainingShare.window_s` seconds gets an equal part of it, never less than
:attr:`TrainingShare.floor_s` per redraw (so every run still moves). A session alone keeps its whole
budget. Nothing here imports streamlit; the page passes its session id.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from app.budget import TRAINING_SHARE

__all__ = ["TrainingShare", "SHARE"]


@dataclass
class TrainingShare:
    fraction: float = TRAINING_SHARE  # of one core, for every session's training together
    window_s: float = 2.0  # a session that asked within this many seconds is training
    floor_s: float = 0.01  # the least a redraw trains for, however many sessions train
    clock: callable = time.monotonic
    _seen: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def active(self) -> int:
        """How many sessions trained within the window."""
        now = self.clock()
        with self._lock:
            return sum(1 for t in self._seen.values() if now - t <= self.window_s)

    def budget(self, session: str, wanted_s: float, redraw_s: float) -> float:
        """The seconds ``session`` may train in this redraw: what it wants, or its equal part of the share
        when several sessions train (each redraw of ``redraw_s`` seconds)."""
        now = self.clock()
        with self._lock:
            self._seen[session] = now
            for key in [k for k, t in self._seen.items() if now - t > self.window_s]:
                del self._seen[key]
            n = len(self._seen)
        fair = self.fraction * float(redraw_s) / max(n, 1)
        return float(min(wanted_s, max(self.floor_s, fair)))

    def leave(self, session: str) -> None:
        """The session stopped training (Pause, Reset): its part goes to the others at once."""
        with self._lock:
            self._seen.pop(session, None)


SHARE = TrainingShare()
