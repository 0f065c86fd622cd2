"""Saddle points: the ordinary saddle x² - y² and the degenerate monkey saddle x³ - 3xy².

Both are unbounded below (``global_min_value = -inf``, no minima): a run that escapes the
saddle keeps descending until it leaves the ``bound`` box, which is the honest ending.
"""

from __future__ import annotations

import math

import numpy as np

from optim_core.entries import SurfaceInfo
from optim_core.surfaces.base import Surface

__all__ = ["Saddle", "MonkeySaddle"]


class Saddle(Surface):
    """f = x² - y²: curvature +2 along x, -2 along y, a saddle at the origin."""

    name = "Saddle"
    title = "Saddle  x² − y²"
    window = ((-2.0, 2.0), (-2.0, 2.0))
    global_min_value = -math.inf
    saddles = np.zeros((1, 2))
    # Just off the attracting x axis: GD slides in towards the saddle, lingers, then escapes
    # at a rate (1 + 2η) per step; exactly on the axis, gradient descent never leaves.
    starts = [(-1.8, 0.01), (-1.8, 0.0), (1.5, 1.0)]
    tags = ("saddle", "unbounded")
    note = ("A saddle point: zero gradient but a downhill direction. Started near the x axis, GD "
            "slows to a crawl next to the saddle before escaping along y; exactly on the axis it "
            "never escapes unless noise or momentum pushes it off.")

    def _f(self, x, y):
        return x * x - y * y

    def _fg(self, x, y):
        return x * x - y * y, 2.0 * x, -2.0 * y

    def _h(self, x, y):
        return 2.0, 0.0, -2.0


class MonkeySaddle(Surface):
    """f = x³ - 3xy² (= r³ cos 3φ): three valleys, a saddle with zero Hessian at the origin."""

    name = "Monkey saddle"
    title = "Monkey saddle  x³ − 3xy²"
    window = ((-2.0, 2.0), (-2.0, 2.0))
    global_min_value = -math.inf
    saddles = np.zeros((1, 2))
    starts = [(1.5, 0.05), (1.5, 0.0), (-1.0, 1.2)]
    tags = ("saddle", "degenerate", "unbounded")
    note = ("A degenerate saddle: gradient and curvature both vanish at the origin, so there is no "
            "negative curvature to push GD away; it creeps in at a rate like 1/t and escapes into one of "
            "three valleys only slowly.")

    def _f(self, x, y):
        return x * (x * x - 3.0 * (y * y))

    def _fg(self, x, y):
        x2 = x * x
        y2 = y * y
        return x * (x2 - 3.0 * y2), 3.0 * (x2 - y2), -6.0 * x * y

    def _h(self, x, y):
        return 6.0 * x, -6.0 * y, -6.0 * x


INFOS = [
    SurfaceInfo("Saddle", Saddle, (), Saddle.note, Saddle.tags),
    SurfaceInfo("Monkey saddle", MonkeySaddle, (), MonkeySaddle.note, MonkeySaddle.tags),
]
