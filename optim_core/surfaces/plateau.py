r"""A plateau that ends in a cliff, above a bowl (designed for this app).

.. math::
    s(x) = \sigma\big(k (x - c)\big), \qquad
    G(x, y) = \exp\!\Big(-\frac{a}{2H}\big((x - x_0)^2 + y^2\big)\Big), \qquad
    f(x, y) = H\,\big(1 - s\,G\big)

with the logistic :math:`\sigma`, the cliff line x = c = 0 and a Gaussian well G centred at
:math:`(x_0, 0) = (2, 0)`. Left of the cliff s is exponentially small, so f is flat at
height H in both directions: the gradient is below :math:`H k\,e^{-k|x-c|}` (with the
defaults about 2e-5 at (-2, 0) and 2e-8 at (-3, 0)), and it always points down the cliff.
Across x = c the loss drops by almost H within about 4/k, with a slope of about
:math:`H k/4 \cdot G`; beyond lies the well, a bowl of curvature a near its centre
(:math:`f \approx \tfrac a2((x-x_0)^2 + y^2)`) that flattens out to H far away. With
:math:`\alpha = a/H`, :math:`d = x - x_0`, :math:`s' = k s (1-s)`, :math:`s'' = k s'(1-2s)`:

.. math::
    f_x = -H G (s' - \alpha d\, s),\quad f_y = a\, s\, G\, y,\quad
    f_{xx} = -H G\big(s'' - 2\alpha d\, s' + s(\alpha^2 d^2 - \alpha)\big),\quad
    f_{xy} = a G y (s' - \alpha d\, s),\quad f_{yy} = a\, s\, G (1 - \alpha y^2).

Lesson: on the plateau plain GD barely moves while Adam-type methods, which divide by the
gradient's size, move at their step size; at the cliff the gradient grows by five orders of
magnitude, so a step size tuned for the plateau throws GD far past the well (the case for
gradient clipping and warm-up).
"""

from __future__ import annotations

import math

import numpy as np

from optim_core.entries import Hyper, SurfaceInfo
from optim_core.surfaces.base import Surface

__all__ = ["PlateauCliff"]


class PlateauCliff(Surface):
    name = "Plateau cliff"
    window = ((-4.0, 4.0), (-2.5, 2.5))
    starts = [(-2.0, 1.0), (-1.0, -1.0), (-3.5, -2.0), (3.5, 2.0)]
    tags = ("non-convex", "plateau", "cliff")
    note = ("A flat plateau (gradient 1e-5 and less) that ends in a steep cliff above a bowl: GD crawls on "
            "the plateau, adaptive methods cross it, and the cliff's sudden gradient kicks large steps "
            "far past the minimum.")

    center = 0.0     # c: the cliff line x = c
    bowl_x = 2.0     # x0: the well's centre
    curvature = 1.0  # a: the well's curvature at its centre

    def __init__(self, height: float = 4.0, sharpness: float = 6.0):
        self.height, self.sharpness = float(height), float(sharpness)
        if not (self.height > 0 and self.sharpness > 0):
            raise ValueError("height and sharpness must be positive")
        self.title = f"Plateau cliff (H = {self.height:g}, k = {self.sharpness:g})"
        self.minima = np.array([[self._minimum_x(), 0.0]])  # a soft cliff shifts it right of x0
        self.global_min_value = float(self.value(self.minima[0]))

    def _minimum_x(self) -> float:
        """x of the one minimum, on the line y = 0, found by bisection (never fails).

        On y = 0, minimizing f is maximizing log s + log G = log σ(k(x - c)) - α (x - x0)² / 2, a
        strictly concave function (a sum of two), so the minimum is the one root of its
        derivative g(x) = k (1 - s) - α (x - x0): g(x0) > 0 and g(x0 + k/α) = -k s < 0. (Newton
        from x0 could wander off to infinity for a soft cliff under a high plateau.) Bisection
        runs until the bracket is two adjacent floats; f_x = -H G s g, so f_x vanishes there to
        rounding.
        """
        k, alpha = self.sharpness, self.curvature / self.height

        def g(x: float) -> float:
            z = k * (self.center - x)
            one_minus_s = 1.0 / (1.0 + math.exp(-z)) if z > -700.0 else 0.0  # 1 - σ(-z) = σ(z)
            return k * one_minus_s - alpha * (x - self.bowl_x)

        lo, hi = self.bowl_x, self.bowl_x + k / alpha
        if not math.isfinite(hi):
            hi = np.finfo(float).max
        for _ in range(2200):  # enough to walk from 1e308 down to adjacent floats
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if g(mid) > 0.0:
                lo = mid
            else:
                hi = mid
        return lo if abs(g(lo)) <= abs(g(hi)) else hi

    def _parts(self, x, y):
        k, H = self.sharpness, self.height
        alpha = self.curvature / H
        s = 1.0 / (1.0 + np.exp(k * (self.center - x)))  # exp may overflow to inf far left: s = 0
        d = x - self.bowl_x
        G = np.exp(-0.5 * alpha * (d * d + y * y))
        return k, H, alpha, s, d, G

    def _f(self, x, y):
        k, H, alpha, s, d, G = self._parts(x, y)
        return H - H * (s * G)

    def _fg(self, x, y):
        k, H, alpha, s, d, G = self._parts(x, y)
        sG = s * G
        s1G = k * (1.0 - s) * sG                       # s' G
        return H - H * sG, H * (alpha * d * sG - s1G), self.curvature * sG * y

    def _h(self, x, y):
        k, H, alpha, s, d, G = self._parts(x, y)
        a = self.curvature
        s1 = k * s * (1.0 - s)
        s2 = k * s1 * (1.0 - 2.0 * s)
        ad = alpha * d
        hxx = -H * G * (s2 - 2.0 * ad * s1 + s * (ad * ad - alpha))
        hxy = a * G * y * (s1 - ad * s)
        hyy = a * s * G * (1.0 - alpha * y * y)
        return hxx, hxy, hyy


INFOS = [
    SurfaceInfo(
        "Plateau cliff", PlateauCliff,
        (Hyper("height", 4.0, low=0.5, high=20.0, label="plateau height H",
               help="How far the loss drops at the cliff.", valid="[0.001, 1e6]"),
         Hyper("sharpness", 6.0, low=2.0, high=30.0, log=True, label="cliff sharpness k",
               help="The cliff is about 4/k wide; its slope is about H·k/4.", valid="(0, inf)")),
        PlateauCliff.note, PlateauCliff.tags,
    ),
]
