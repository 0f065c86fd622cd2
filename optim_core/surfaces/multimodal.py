"""Surfaces with several minima: Himmelblau, the camels, Styblinski-Tang, Rastrigin, Ackley,
and the course's ripple bowl.

Standard definitions and windows (Wikipedia, "Test functions for optimization"; Jamil &
Yang 2013). Tabulated minima are given to a few digits in the literature; they are
polished here with Newton's method on the exact gradient, so tests can demand grad = 0.
"""

from __future__ import annotations

import math

import numpy as np

from optim_core.entries import Hyper, SurfaceInfo
from optim_core.surfaces.base import Surface

__all__ = ["Himmelblau", "ThreeHumpCamel", "SixHumpCamel", "StyblinskiTang", "Rastrigin", "Ackley", "RippleBowl"]

_PI = math.pi
_TWO_PI = 2.0 * math.pi


class Himmelblau(Surface):
    """Himmelblau: (x² + y - 11)² + (x + y² - 7)², four global minima of value 0."""

    name = "Himmelblau"
    title = "Himmelblau"
    window = ((-5.0, 5.0), (-5.0, 5.0))
    global_min_value = 0.0
    starts = [(-0.5, -0.5), (0.5, 0.0), (-1.0, 0.5), (0.0, -1.5)]
    log_levels = True
    tags = ("non-convex", "multimodal", "classic-benchmark")
    note = ("Four equally good minima: which one a run reaches depends on the start, the optimizer "
            "and the step size; starting near the central maximum makes them scatter.")

    def __init__(self):
        self.minima = self._polish([[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]])
        self.saddles = self._polish([[0.086677, 2.884254], [-3.073026, -0.081353], [3.385154, 0.073852],
                                     [-0.127961, -1.953715]])
        self.maxima = self._polish([[-0.270845, -0.923039]])

    def _f(self, x, y):
        u = x * x + y - 11.0
        v = x + y * y - 7.0
        return u * u + v * v

    def _fg(self, x, y):
        u = x * x + y - 11.0
        v = x + y * y - 7.0
        return u * u + v * v, 4.0 * x * u + 2.0 * v, 2.0 * u + 4.0 * y * v

    def _h(self, x, y):
        u = x * x + y - 11.0
        v = x + y * y - 7.0
        return 4.0 * u + 8.0 * x * x + 2.0, 4.0 * (x + y), 4.0 * v + 8.0 * y * y + 2.0


class ThreeHumpCamel(Surface):
    """Three-hump camel: 2x² - 1.05x⁴ + x⁶/6 + xy + y², global minimum 0 at the origin.

    Critical points lie on y = -x/2 where x⁴ - 4.2x² + 3.5 = 0: the outer roots are the two
    local minima (f ≈ 0.2986), the inner ones saddles.
    """

    name = "Three-hump camel"
    title = "Three-hump camel"
    window = ((-2.5, 2.5), (-2.0, 2.0))
    global_min_value = 0.0
    starts = [(2.2, -0.3), (-1.0, 1.8), (2.0, 1.5), (-2.3, -1.5)]
    log_levels = True
    tags = ("non-convex", "multimodal", "classic-benchmark")
    note = ("One global basin between two shallow side basins: plain GD started on a hump settles "
            "in the nearer side minimum (f ≈ 0.30); momentum can carry a run over into the middle.")

    def __init__(self):
        disc = math.sqrt(4.2 ** 2 - 14.0)
        xm = math.sqrt((4.2 + disc) / 2.0)
        xs = math.sqrt((4.2 - disc) / 2.0)
        self.minima = np.array([[0.0, 0.0], [xm, -xm / 2.0], [-xm, xm / 2.0]])
        self.saddles = np.array([[xs, -xs / 2.0], [-xs, xs / 2.0]])

    def _fg(self, x, y):
        x2 = x * x
        x4 = x2 * x2
        f = x2 * (2.0 - 1.05 * x2 + x4 / 6.0) + x * y + y * y
        return f, x * (4.0 - 4.2 * x2 + x4) + y, x + 2.0 * y

    def _h(self, x, y):
        x2 = x * x
        return 4.0 - 12.6 * x2 + 5.0 * x2 * x2, 1.0, 2.0


class SixHumpCamel(Surface):
    """Six-hump camel: (4 - 2.1x² + x⁴/3)x² + xy + (4y² - 4)y², two global minima of -1.0316."""

    name = "Six-hump camel"
    title = "Six-hump camel"
    window = ((-2.0, 2.0), (-1.2, 1.2))
    global_min_value = -1.0316284534898774
    starts = [(-1.9, 0.2), (1.2, 1.1), (0.0, 0.0), (-1.0, -1.1)]
    tags = ("non-convex", "multimodal", "classic-benchmark")
    note = ("Six minima: two global ones near the centre (f ≈ -1.03), two shallow ones at the sides "
            "(f ≈ -0.22) and two higher ones (f ≈ 2.10); where a run ends depends on the start.")

    def __init__(self):
        self.minima = self._polish([[0.0898, -0.7126], [-0.0898, 0.7126], [-1.7036, 0.7961], [1.7036, -0.7961],
                                    [-1.6071, -0.5687], [1.6071, 0.5687]])

    def _fg(self, x, y):
        x2 = x * x
        y2 = y * y
        f = x2 * (4.0 - 2.1 * x2 + x2 * x2 / 3.0) + x * y + y2 * (4.0 * y2 - 4.0)
        gx = x * (8.0 - 8.4 * x2 + 2.0 * x2 * x2) + y
        gy = x + y * (16.0 * y2 - 8.0)
        return f, gx, gy

    def _h(self, x, y):
        x2 = x * x
        return 8.0 - 25.2 * x2 + 10.0 * x2 * x2, 1.0, 48.0 * y * y - 8.0


def _styblinski_root(x: float) -> float:
    """A root of 2x³ - 16x + 2.5 (the 1D Styblinski-Tang derivative), by Newton."""
    for _ in range(50):
        step = (2.0 * x ** 3 - 16.0 * x + 2.5) / (6.0 * x * x - 16.0)
        x -= step
        if abs(step) < 1e-16:
            break
    return x


class StyblinskiTang(Surface):
    """Styblinski-Tang in 2D: ½ Σ (x_i⁴ - 16x_i² + 5x_i), minimum -78.332 at (-2.9035, -2.9035).

    Separable: along each axis there is a deep minimum at -2.9035, a shallower one at
    2.7468 and a maximum at 0.1567 between them, so there are four minima in all.
    """

    name = "Styblinski-Tang"
    title = "Styblinski-Tang"
    window = ((-5.0, 5.0), (-5.0, 5.0))
    global_min_value = -78.33233140754282
    starts = [(4.5, 4.0), (0.5, 0.5), (-4.5, 4.5), (0.0, -4.5)]
    tags = ("non-convex", "multimodal", "separable", "classic-benchmark")
    note = ("Four basins, one per corner: GD falls into the nearest, and the global minimum sits in "
            "the opposite corner from the default start.")

    def __init__(self):
        lo, hi, mid = _styblinski_root(-2.9), _styblinski_root(2.75), _styblinski_root(0.16)
        self.minima = np.array([[lo, lo], [hi, lo], [lo, hi], [hi, hi]])
        self.saddles = np.array([[mid, lo], [lo, mid], [mid, hi], [hi, mid]])
        self.maxima = np.array([[mid, mid]])

    def _fg(self, x, y):
        x2 = x * x
        y2 = y * y
        f = 0.5 * (x2 * (x2 - 16.0) + y2 * (y2 - 16.0) + 5.0 * (x + y))
        return f, x * (2.0 * x2 - 16.0) + 2.5, y * (2.0 * y2 - 16.0) + 2.5

    def _h(self, x, y):
        return 6.0 * x * x - 16.0, 0.0, 6.0 * y * y - 16.0


class Rastrigin(Surface):
    """Rastrigin: 2A + Σ (x_i² - A cos 2πx_i), minimum 0 at the origin, a local minimum near
    every integer point."""

    name = "Rastrigin"
    window = ((-5.12, 5.12), (-5.12, 5.12))
    minima = np.zeros((1, 2))
    global_min_value = 0.0
    starts = [(3.2, 4.1), (-2.2, 1.1), (0.6, -0.4), (-4.8, -4.4)]
    tags = ("non-convex", "multimodal", "classic-benchmark")
    note = ("An egg-crate on a bowl: about a hundred local minima, so GD stops in the nearest dimple; "
            "a large step, momentum or gradient noise is needed to hop towards the centre.")

    def __init__(self, A: float = 10.0):
        self.A = float(A)
        self.title = f"Rastrigin (A = {self.A:g})"

    def _fg(self, x, y):
        tx = _TWO_PI * x
        ty = _TWO_PI * y
        A = self.A
        f = 2.0 * A + x * x + y * y - A * (np.cos(tx) + np.cos(ty))
        k = _TWO_PI * A
        return f, 2.0 * x + k * np.sin(tx), 2.0 * y + k * np.sin(ty)

    def _h(self, x, y):
        k = 4.0 * _PI * _PI * self.A
        return 2.0 + k * np.cos(_TWO_PI * x), 0.0, 2.0 + k * np.cos(_TWO_PI * y)


class Ackley(Surface):
    r"""Ackley: :math:`-20 e^{-0.2\sqrt{(x^2+y^2)/2}} - e^{(\cos 2\pi x + \cos 2\pi y)/2} + e + 20`.

    The first term is a cone, not differentiable at its tip: at the exact origin the gradient
    takes the cone's symmetric subgradient 0 and the Hessian leaves out its (infinite) curvature,
    so both stay finite (no 0/0, no NaN).
    """

    name = "Ackley"
    title = "Ackley"
    window = ((-5.0, 5.0), (-5.0, 5.0))
    minima = np.zeros((1, 2))
    global_min_value = 0.0
    starts = [(3.3, 2.6), (-1.6, 4.2), (0.8, 0.6), (-4.4, -3.7)]
    tags = ("non-convex", "multimodal", "classic-benchmark")
    note = ("A nearly flat, bumpy outer region around a sharp funnel: GD gets caught in a bump, and the "
            "funnel's cone tip at the minimum has no gradient limit (it flips sign across the tip).")

    @staticmethod
    def _parts(x, y):
        r = np.sqrt(0.5 * (x * x + y * y))
        inv = 1.0 / np.where(r > 0.0, r, np.inf)     # 1/r, and 0 at the tip
        e1 = np.exp(-0.2 * r)
        sx = np.sin(_TWO_PI * x)
        sy = np.sin(_TWO_PI * y)
        cx = np.cos(_TWO_PI * x)
        cy = np.cos(_TWO_PI * y)
        E = np.exp(0.5 * (cx + cy))
        return inv, e1, sx, sy, cx, cy, E

    def _f(self, x, y):
        r = np.sqrt(0.5 * (x * x + y * y))
        E = np.exp(0.5 * (np.cos(_TWO_PI * x) + np.cos(_TWO_PI * y)))
        return (math.e - E) - 20.0 * np.expm1(-0.2 * r)

    def _fg(self, x, y):
        r = np.sqrt(0.5 * (x * x + y * y))
        m1 = np.expm1(-0.2 * r)                       # e1 - 1: keeps f(0) = 0 exactly
        tx = _TWO_PI * x
        ty = _TWO_PI * y
        E = np.exp(0.5 * (np.cos(tx) + np.cos(ty)))
        k = 2.0 * (m1 + 1.0) / np.where(r > 0.0, r, np.inf)  # cone: d/dx = 2 e1 x / r, 0 at the tip
        pE = _PI * E
        return (math.e - E) - 20.0 * m1, k * x + pE * np.sin(tx), k * y + pE * np.sin(ty)

    def _h(self, x, y):
        inv, e1, sx, sy, cx, cy, E = self._parts(x, y)
        k = 2.0 * e1 * inv                       # cone gradient factor
        # The cone's curvature -k'(r)/(2r) · x² written as c · (x/r)²: x/r stays below √2, so near
        # the tip (r ~ 1e-105) nothing overflows although 1/r³ would.
        c = e1 * (0.2 + inv)
        ux = x * inv
        uy = y * inv
        p2E = _PI * _PI * E
        hxx = k - c * ux * ux + p2E * (2.0 * cx - sx * sx)
        hyy = k - c * uy * uy + p2E * (2.0 * cy - sy * sy)
        hxy = -c * ux * uy - p2E * sx * sy
        return hxx, hxy, hyy


def _ripple_slopes(s):
    """g(s) = sin(s)/(s+1) + s/10 and its first two derivatives, for s = x² + y²."""
    q = 1.0 / (s + 1.0)
    sn = np.sin(s)
    cs = np.cos(s)
    g = sn * q + 0.1 * s
    g1 = q * (cs - q * sn) + 0.1
    g2 = q * (2.0 * q * (q * sn - cs) - sn)
    return g, g1, g2


class RippleBowl(Surface):
    """The course's example: sin(x² + y²)/(x² + y² + 1) + 0.1(x² + y²).

    Radially symmetric: the global minimum 0 at the origin is ringed by a circle of local
    minima at r ≈ 2.0 (f ≈ 0.25) behind a ridge; ``minima`` lists the origin and the point of
    that ring on the diagonal towards the default start (2.5, 2.5).
    """

    name = "Ripple bowl"
    title = "Ripple bowl  sin(r²)/(r²+1) + r²/10"
    window = ((-3.0, 3.0), (-3.0, 3.0))
    global_min_value = 0.0
    starts = [(2.5, 2.5), (-1.2, 1.6), (0.5, -2.9)]
    tags = ("non-convex", "multimodal", "ring")
    note = ("The course's loss-surface example: a bowl with circular ripples. From (2.5, 2.5) plain GD "
            "stops in the ring of local minima at r ≈ 2; momentum can roll over the ridge to the centre.")

    def __init__(self):
        s = 4.0
        for _ in range(50):  # Newton on g'(s) = 0 for the ring of minima
            _, g1, g2 = _ripple_slopes(s)
            step = g1 / g2
            s -= step
            if abs(step) < 1e-16:
                break
        r = math.sqrt(s / 2.0)
        self.ring_radius = math.sqrt(s)
        self.minima = np.array([[0.0, 0.0], [r, r]])

    def _fg(self, x, y):
        s = x * x + y * y
        q = 1.0 / (s + 1.0)
        sn = np.sin(s)
        d = 2.0 * (q * (np.cos(s) - q * sn) + 0.1)   # 2 g'(s)
        return sn * q + 0.1 * s, d * x, d * y

    def _h(self, x, y):
        _, g1, g2 = _ripple_slopes(x * x + y * y)
        c = 4.0 * g2
        return 2.0 * g1 + c * x * x, c * x * y, 2.0 * g1 + c * y * y


INFOS = [
    SurfaceInfo("Himmelblau", Himmelblau, (), Himmelblau.note, Himmelblau.tags),
    SurfaceInfo("Three-hump camel", ThreeHumpCamel, (), ThreeHumpCamel.note, ThreeHumpCamel.tags),
    SurfaceInfo("Six-hump camel", SixHumpCamel, (), SixHumpCamel.note, SixHumpCamel.tags),
    SurfaceInfo("Styblinski-Tang", StyblinskiTang, (), StyblinskiTang.note, StyblinskiTang.tags),
    SurfaceInfo(
        "Rastrigin", Rastrigin,
        (Hyper("A", 10.0, low=0.0, high=20.0, label="ripple amplitude A",
               help="Height of the cosine egg-crate; A = 0 leaves the plain bowl x² + y².", valid="[0, inf)"),),
        Rastrigin.note, Rastrigin.tags,
    ),
    SurfaceInfo("Ackley", Ackley, (), Ackley.note, Ackley.tags),
    SurfaceInfo("Ripple bowl", RippleBowl, (), RippleBowl.note, RippleBowl.tags),
]
