"""A surface from a formula the user types (see :mod:`optim_core.formula`).

Not registered: the app builds it directly, ``CustomSurface("x**2 + 10*sin(y)")``.
"""

from __future__ import annotations

import math

import numpy as np

from optim_core.formula import Formula, parse_formula
from optim_core.surfaces.base import Surface

__all__ = ["CustomSurface"]

_MAX_COORD = 1e6


def _check_window(window):
    try:
        (x0, x1), (y0, y1) = ((float(a), float(b)) for a, b in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be ((xmin, xmax), (ymin, ymax)), got {window!r}") from None
    for lo, hi in ((x0, x1), (y0, y1)):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi and max(abs(lo), abs(hi)) <= _MAX_COORD):
            raise ValueError(f"window limits must be finite, increasing and within ±{_MAX_COORD:g}, got {window!r}")
    return (x0, x1), (y0, y1)


class CustomSurface(Surface):
    """``CustomSurface(formula_text, window=((-3, 3), (-3, 3)), starts=None)``.

    ``formula_text`` may also be an already parsed :class:`~optim_core.formula.Formula`.
    A bad formula raises :class:`~optim_core.formula.FormulaError` (a ``ValueError``).
    There are no known minima (``minima`` is empty, ``global_min_value`` NaN);
    :meth:`estimate_minimum` searches a grid over the window. Without ``starts``, the first
    point of a few fixed candidates (towards the window's corners) where f is finite is used.
    """

    name = "Custom formula"
    tags = ("custom",)

    def __init__(self, formula_text, window=((-3.0, 3.0), (-3.0, 3.0)), starts=None):
        self.formula = formula_text if isinstance(formula_text, Formula) else parse_formula(formula_text)
        self.window = _check_window(window)
        self.title = self.formula.text
        self.latex = self.formula.latex
        self.note = f"Your formula: f(x, y) = {self.formula.text}"
        self.minima = np.zeros((0, 2))
        self.global_min_value = math.nan
        (x0, x1), (y0, y1) = self.window
        X, Y, Z = self.grid(41)
        finite = np.isfinite(Z)
        if starts is None:
            w, h = x1 - x0, y1 - y0
            candidates = [(x0 + 0.85 * w, y0 + 0.8 * h), (x0 + 0.15 * w, y0 + 0.8 * h),
                          (x0 + 0.2 * w, y0 + 0.15 * h), (x0 + 0.8 * w, y0 + 0.2 * h)]
            starts = [p for p in candidates if np.isfinite(self.value(p))]
            if not starts and finite.any():  # f is finite only somewhere else: start there
                i = np.flatnonzero(finite.ravel())[0]
                starts = [(float(X.ravel()[i]), float(Y.ravel()[i]))]
            starts = starts or candidates[:1]
        self.starts = [(float(p[0]), float(p[1])) for p in starts]
        for p in self.starts:
            if not all(math.isfinite(c) for c in p):
                raise ValueError(f"start points must be finite, got {p}")
        # Log-scaled contours when most of the window sits near the bottom of a wide range:
        # above the minimum, the maximum is more than 20 times the lower quartile.
        z = Z[finite]
        if z.size:
            z = z - z.min()
            q = np.percentile(z, 25)
            self.log_levels = bool(q > 0 and z.max() > 20.0 * q)
        self._estimate = None

    def _fg(self, x, y):  # unused: the public methods go straight to the formula
        raise NotImplementedError

    def value(self, xy):
        return self.formula.value(xy)

    def value_and_grad(self, xy):
        return self.formula.value_and_grad(xy)

    def hessian(self, xy):
        return self.formula.hessian(xy)

    def estimate_minimum(self, n: int = 201):
        """``(point, value)`` of the smallest finite value on an n x n grid over the window
        (``(None, nan)`` if f is nowhere finite there). A rough guide for metrics, not a proof."""
        if self._estimate is None or self._estimate[0] != n:
            X, Y, Z = self.grid(n)
            Z = np.where(np.isfinite(Z), Z, np.inf)
            i = int(np.argmin(Z))
            found = math.isfinite(Z.flat[i])
            point = (float(X.flat[i]), float(Y.flat[i])) if found else None
            self._estimate = (n, point, float(Z.flat[i]) if found else math.nan)
        return self._estimate[1], self._estimate[2]

