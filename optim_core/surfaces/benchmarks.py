"""Classic optimization benchmarks with curved valleys: Rosenbrock, Beale, McCormick, Goldstein-Price.

Definitions and windows follow the standard benchmark tables (e.g. Wikipedia's "Test
functions for optimization"; Jamil & Yang 2013, "A literature survey of benchmark
functions for global optimization problems"). Gradients and Hessians are hand-derived.
"""

from __future__ import annotations

import math

import numpy as np

from optim_core.entries import Hyper, SurfaceInfo
from optim_core.surfaces.base import Surface

__all__ = ["Rosenbrock", "Beale", "McCormick", "GoldsteinPrice"]


class Rosenbrock(Surface):
    r"""Rosenbrock's banana: :math:`(a - x)^2 + b (y - x^2)^2`, minimum 0 at :math:`(a, a^2)`."""

    name = "Rosenbrock"
    log_levels = True
    tags = ("non-convex", "ravine", "valley", "classic-benchmark")
    note = ("A curved, flat-bottomed valley: finding the valley is easy, following its bend to "
            "(a, a²) is slow; GD's step is capped by the steep walls (curvature ~ 2b).")

    def __init__(self, a: float = 1.0, b: float = 100.0):
        self.a, self.b = float(a), float(b)
        a = self.a
        self.title = f"Rosenbrock (a = {a:g}, b = {self.b:g})"
        self.window = ((min(-2.0, a - 1.0), max(2.0, a + 1.0)), (min(-1.0, a * a - 1.0), max(3.0, a * a + 1.0)))
        self.minima = np.array([[a, a * a]])
        self.global_min_value = 0.0
        # Rosenbrock's own start (1960), above the valley's far arm, across the valley.
        self.starts = [(-1.2, 1.0), (-1.5, 2.5), (0.0, 2.5), (1.8, -0.5)]

    def _f(self, x, y):
        u = self.a - x
        w = y - x * x
        return u * u + (self.b * w) * w

    def _fg(self, x, y):
        u = self.a - x
        w = y - x * x
        bw = self.b * w
        return u * u + bw * w, -2.0 * (u + 2.0 * x * bw), 2.0 * bw

    def _h(self, x, y):
        b = self.b
        return 2.0 + b * (12.0 * x * x - 4.0 * y), -4.0 * b * x, 2.0 * b


class Beale(Surface):
    """Beale: (1.5 - x + xy)² + (2.25 - x + xy²)² + (2.625 - x + xy³)², minimum 0 at (3, 0.5)."""

    name = "Beale"
    title = "Beale"
    window = ((-4.5, 4.5), (-4.5, 4.5))
    minima = np.array([[3.0, 0.5]])
    global_min_value = 0.0
    starts = [(1.0, 1.5), (-2.0, 2.0), (3.5, 3.5), (-3.5, -1.0)]
    log_levels = True
    tags = ("non-convex", "valley", "plateau", "classic-benchmark")
    note = ("Sharp ridges near the corners and a wide flat valley along y ≈ 1 towards (3, 0.5): "
            "step sizes that are safe on the ridges crawl on the flats.")

    @staticmethod
    def _terms(x, y):
        y2 = y * y
        y3 = y2 * y
        t1 = 1.5 - x + x * y
        t2 = 2.25 - x + x * y2
        t3 = 2.625 - x + x * y3
        return y2, y3, t1, t2, t3

    def _f(self, x, y):
        _, _, t1, t2, t3 = self._terms(x, y)
        return t1 * t1 + t2 * t2 + t3 * t3

    def _fg(self, x, y):
        y2, y3, t1, t2, t3 = self._terms(x, y)
        f = t1 * t1 + t2 * t2 + t3 * t3
        gx = 2.0 * (t1 * (y - 1.0) + t2 * (y2 - 1.0) + t3 * (y3 - 1.0))
        gy = 2.0 * x * (t1 + 2.0 * y * t2 + 3.0 * y2 * t3)
        return f, gx, gy

    def _h(self, x, y):
        y2, y3, t1, t2, t3 = self._terms(x, y)
        a1, a2, a3 = y - 1.0, y2 - 1.0, y3 - 1.0          # d t_i / dx
        b1, b2, b3 = x, 2.0 * x * y, 3.0 * x * y2          # d t_i / dy
        hxx = 2.0 * (a1 * a1 + a2 * a2 + a3 * a3)
        hxy = 2.0 * (a1 * b1 + a2 * b2 + a3 * b3 + t1 + 2.0 * y * t2 + 3.0 * y2 * t3)
        hyy = 2.0 * (b1 * b1 + b2 * b2 + b3 * b3 + 2.0 * x * t2 + 6.0 * x * y * t3)
        return hxx, hxy, hyy


_TWO_PI_3 = 2.0 * math.pi / 3.0


class McCormick(Surface):
    """McCormick: sin(x + y) + (x - y)² - 1.5x + 2.5y + 1 on [-1.5, 4] x [-3, 4].

    Its critical points lie on the line x - y = 1 where cos(x + y) = -1/2: minima where
    x + y = -2π/3 + 2πk, saddles where x + y = 2π/3 + 2πk. The window holds the global
    minimum (k = 0), one local minimum (k = 1) and the saddle between them.
    """

    name = "McCormick"
    title = "McCormick"
    window = ((-1.5, 4.0), (-3.0, 4.0))
    minima = np.array([[(1.0 - _TWO_PI_3) / 2.0, (-1.0 - _TWO_PI_3) / 2.0],
                       [(1.0 + 2.0 * _TWO_PI_3) / 2.0, (-1.0 + 2.0 * _TWO_PI_3) / 2.0]])
    saddles = np.array([[(1.0 + _TWO_PI_3) / 2.0, (-1.0 + _TWO_PI_3) / 2.0]])
    global_min_value = -math.sqrt(3.0) / 2.0 - math.pi / 3.0  # -1.9132229549...
    starts = [(2.0, 3.5), (3.5, -1.0), (-1.0, 3.5), (0.5, -2.5)]
    tags = ("non-convex", "multimodal", "classic-benchmark")
    note = ("A tilted valley with a sine ripple along it: a local minimum (f ≈ 1.23) sits up the "
            "valley from the global one (f ≈ -1.91), separated by a saddle.")

    def _f(self, x, y):
        d = x - y
        return np.sin(x + y) + d * d - 1.5 * x + 2.5 * y + 1.0

    def _fg(self, x, y):
        s = x + y
        d = x - y
        c = np.cos(s)
        d2 = 2.0 * d
        return np.sin(s) + d * d - 1.5 * x + 2.5 * y + 1.0, c + d2 - 1.5, c - d2 + 2.5

    def _h(self, x, y):
        s = np.sin(x + y)
        return 2.0 - s, -2.0 - s, 2.0 - s


class GoldsteinPrice(Surface):
    r"""Goldstein-Price: :math:`A(x, y)\,B(x, y)` on [-2, 2]², minimum 3 at (0, -1).

    :math:`A = 1 + (x+y+1)^2 P`, :math:`P = 19 - 14x + 3x^2 - 14y + 6xy + 3y^2`;
    :math:`B = 30 + (2x-3y)^2 Q`, :math:`Q = 18 - 32x + 12x^2 + 48y - 36xy + 27y^2`.
    """

    name = "Goldstein-Price"
    title = "Goldstein-Price"
    window = ((-2.0, 2.0), (-2.0, 2.0))
    global_min_value = 3.0
    # From (1.5, 1.5), GD with a safe step (1e-5) stops in the f = 840 basin; momentum 0.9 reaches (0, -1).
    starts = [(1.5, 1.5), (0.5, 0.5), (-1.5, -1.5), (1.0, -1.5)]
    log_levels = True
    tags = ("non-convex", "multimodal", "classic-benchmark")
    note = ("Values from 3 to a million: a narrow global basin at (0, -1) and local minima "
            "(30, 84, 840) on a landscape whose gradients vary over five orders of magnitude.")

    def __init__(self):
        # Known minima (global first), polished from their tabulated values.
        self.minima = self._polish([[0.0, -1.0], [-0.6, -0.4], [1.8, 0.2], [1.2, 0.8]])

    @staticmethod
    def _parts(x, y):
        a = x + y + 1.0
        b = 2.0 * x - 3.0 * y
        P = 19.0 - 14.0 * x + 3.0 * x * x - 14.0 * y + 6.0 * x * y + 3.0 * y * y
        Q = 18.0 - 32.0 * x + 12.0 * x * x + 48.0 * y - 36.0 * x * y + 27.0 * y * y
        a2 = a * a
        b2 = b * b
        A = 1.0 + a2 * P
        B = 30.0 + b2 * Q
        return a, b, P, Q, a2, b2, A, B

    def _f(self, x, y):
        parts = self._parts(x, y)
        return parts[6] * parts[7]

    def _fg(self, x, y):
        a, b, P, Q, a2, b2, A, B = self._parts(x, y)
        Pd = 6.0 * (x + y) - 14.0                  # P_x = P_y
        Qx = 24.0 * x - 36.0 * y - 32.0
        Qy = 54.0 * y - 36.0 * x + 48.0
        Ad = 2.0 * a * P + a2 * Pd                 # A_x = A_y
        bQ = b * Q
        Bx = 4.0 * bQ + b2 * Qx
        By = b2 * Qy - 6.0 * bQ
        return A * B, Ad * B + A * Bx, Ad * B + A * By

    def _h(self, x, y):
        a, b, P, Q, a2, b2, A, B = self._parts(x, y)
        Pd = 6.0 * (x + y) - 14.0
        Qx = 24.0 * x - 36.0 * y - 32.0
        Qy = 54.0 * y - 36.0 * x + 48.0
        Ad = 2.0 * a * P + a2 * Pd
        A2 = 2.0 * P + 4.0 * a * Pd + 6.0 * a2     # A_xx = A_xy = A_yy
        Bx = 4.0 * b * Q + b2 * Qx
        By = b2 * Qy - 6.0 * b * Q
        Bxx = 8.0 * Q + 8.0 * b * Qx + 24.0 * b2
        Bxy = -12.0 * Q + 4.0 * b * Qy - 6.0 * b * Qx - 36.0 * b2
        Byy = 18.0 * Q - 12.0 * b * Qy + 54.0 * b2
        hxx = A2 * B + 2.0 * Ad * Bx + A * Bxx
        hxy = A2 * B + Ad * (Bx + By) + A * Bxy
        hyy = A2 * B + 2.0 * Ad * By + A * Byy
        return hxx, hxy, hyy


INFOS = [
    SurfaceInfo(
        "Rosenbrock", Rosenbrock,
        (Hyper("a", 1.0, low=-1.5, high=2.0, label="a", help="The minimum sits at (a, a²).", valid="[-1000, 1000]"),
         Hyper("b", 100.0, low=1.0, high=1000.0, log=True, label="b",
               help="Steepness of the valley walls; the valley gets narrower as b grows.", valid="(0, inf)")),
        Rosenbrock.note, Rosenbrock.tags,
    ),
    SurfaceInfo("Beale", Beale, (), Beale.note, Beale.tags),
    SurfaceInfo("McCormick", McCormick, (), McCormick.note, McCormick.tags),
    SurfaceInfo("Goldstein-Price", GoldsteinPrice, (), GoldsteinPrice.note, GoldsteinPrice.tags),
]
