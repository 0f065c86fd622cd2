"""The values a registry-driven control offers, shared by every page.

A hyperparameter's slider offers "nice" values: 1-1.5-2-...-8 per decade on a log scale
(lr, ε), a round step plus the decay rates' 0.9/0.99/0.999 on a linear one. Presets,
URLs and sensitivity-map clicks snap onto the same values, so whatever sets a widget
lands on a value the widget can show. Pure: no streamlit import.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = ["fmt", "hyper_options", "snap", "nearest_option"]

_LR_MANTISSAS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
_NEAR_ONE = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999)


def fmt(v: Any) -> str:
    """A number as a teacher would write it: 0.001, 0.3, 1e-05, 2000."""
    if v is None:
        return "auto"
    if isinstance(v, (bool, np.bool_)):
        return "on" if v else "off"
    if isinstance(v, str):
        return v
    v = float(v)
    if v == 0:
        return "0"
    if v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    if 1e-4 <= abs(v) < 1e5:
        return f"{v:.6g}"
    return f"{v:.3g}"


def _round(v: float) -> float:
    return float(f"{v:.10g}")


# ---------------------------------------------------------------------------------------
# Hyperparameter controls: the values a slider offers, and snapping a value onto them.
# ---------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def hyper_options(h) -> tuple:
    """The values a select-slider for ``h`` offers (sorted; the default always included).

    Log-scaled hyperparameters (lr, ε) get 1-1.5-2-2.5-3-4-5-6-7-8 per decade over
    ``[low, high]``; linear ones a nice step plus the values near 1 that decay rates
    need (0.9, 0.99, 0.999) and small values near 0 (weight decay 1e-4 .. 5e-2).
    """
    lo = h.low if h.low is not None else 0.0
    hi = h.high if h.high is not None else 1.0
    vals: set[float] = set()
    if h.log and lo > 0:
        for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
            for m in _LR_MANTISSAS:
                v = _round(m * 10.0**e)
                if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                    vals.add(v)
    else:
        span = hi - lo
        raw = span / 20 if span > 0 else 1.0
        mag = 10.0 ** math.floor(math.log10(raw))
        step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
        n = int(math.floor(span / step + 1e-9))
        vals.update(_round(lo + i * step) for i in range(n + 1))
        vals.add(_round(hi))
        vals.update(v for v in _NEAR_ONE if lo <= v <= hi)
        if lo == 0:
            for e in range(-4, 0):
                for m in (1.0, 2.0, 5.0):
                    v = _round(m * 10.0**e)
                    if v < step:
                        vals.add(v)
    if isinstance(h.default, (int, float)) and not isinstance(h.default, bool):
        vals.add(_round(float(h.default)))
    out = sorted(vals)
    return tuple([None] + out) if h.default is None else tuple(out)


def snap(h, value: Any) -> Any:
    """``value`` moved onto the nearest of :func:`hyper_options` (log distance for log sliders)."""
    if h.kind in ("bool", "choice") or value is None:
        return value
    if h.kind == "int":
        return int(round(float(value)))
    opts = [o for o in hyper_options(h) if o is not None]
    v = float(value)
    if h.log and v > 0:
        return min(opts, key=lambda o: abs(math.log(o) - math.log(v)) if o > 0 else math.inf)
    return min(opts, key=lambda o: abs(o - v))


def nearest_option(value: Any, options, log: bool = False) -> Any:
    """``value`` moved onto the nearest of ``options`` (on a log scale with ``log`` where both
    are positive); None when ``value`` is not a number (e.g. garbage from a URL)."""
    if value in options:
        return value
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    candidates = [o for o in options if o is not None]

    def distance(o):
        if log and v > 0 and float(o) > 0:
            return abs(math.log(float(o)) - math.log(v))
        return abs(float(o) - v)

    return min(candidates, key=distance)
