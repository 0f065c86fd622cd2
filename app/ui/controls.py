"""The values a control offers, snapping a value onto them, and writing numbers: shared by every page.

A hyperparameter's slider offers "nice" values: 1-1.5-2-...-8 per decade on a log scale
(lr, ε), a round step plus the decay rates' 0.9/0.99/0.999 on a linear one. Presets,
URLs and sensitivity-map clicks snap onto the same values (:func:`snap`), so whatever sets
a widget lands on a value the widget can show. :func:`fmt` writes those values (slider labels,
URL values, captions) and the numbers in figure labels. Pure: no streamlit import.

The option lists and encodings more than one page offers are declared here too: the numbers
of steps (:data:`STEP_OPTIONS`), the full batch (:data:`FULL_BATCH`), the hyperparameters no
page shows (:data:`HIDDEN_HYPERS`) and the schedules a run can follow (:func:`schedule_choices`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = [
    "fmt",
    "hyper_options",
    "hyper_span",
    "snap",
    "STEP_OPTIONS",
    "FULL_BATCH",
    "batch_size_of",
    "HIDDEN_HYPERS",
    "NO_SCHEDULE",
    "schedule_choices",
    "past_warmup",
]

# The numbers of steps a race offers (Playground, Schedules): one list, so a run handed from
# one page to the other keeps its length.
STEP_OPTIONS: tuple[int, ...] = (10, 20, 30, 50, 80, 100, 120, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000,
                                 3000, 5000)
# A batch-size control's value for the full batch (the exact gradient); every other value is a size.
FULL_BATCH = 0
# Hyperparameters no page shows: every page minimizes a loss, so ``maximize`` makes no sense there.
HIDDEN_HYPERS = frozenset({"maximize"})
# A run's schedule choice for "no schedule" (a constant lr).
NO_SCHEDULE = "none"

_LR_MANTISSAS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
_NEAR_ONE = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999)
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def fmt(v: Any, digits: int | None = None, *, power: bool = False) -> str:
    """A value as a teacher would write it: 0.001, 0.3, 1e-05, 2000; None → "auto", a bool → on/off,
    text as it is, a tuple or list as its items joined by ", " (MultiStepLR's milestones → "300, 600").

    The labels of select sliders are these strings, and so are their values in a URL: what
    ``fmt`` writes for an option must not change, or links shared before stop working.

    ``digits``: rounded to that many significant digits first (a computed lr, not a slider's value).
    ``power``: an axis tick: only 10⁻³ ≤ |v| < 10⁴ in digits, else m·10ⁿ ("10⁻⁵", "2.5·10⁶").
    """
    if v is None:
        return "auto"
    if isinstance(v, (bool, np.bool_)):
        return "on" if v else "off"
    if isinstance(v, str):
        return v
    if isinstance(v, (tuple, list)):
        return ", ".join(fmt(x, digits, power=power) for x in v)
    v = float(v)
    if not math.isfinite(v):
        return f"{v:g}"
    if power and v != 0 and not 1e-3 <= abs(v) < 1e4:
        e = math.floor(math.log10(abs(v)))
        m = v / 10.0**e
        sup = str(e).translate(_SUPERSCRIPT)
        return f"10{sup}" if abs(m - 1) < 1e-9 else f"{m:.2g}·10{sup}"
    if digits is not None:
        v = float(f"{v:.{int(digits)}g}")
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
def hyper_options(h, exact_default: bool = False) -> tuple:
    """The values a select-slider for ``h`` offers (sorted; the default always included).

    Log-scaled hyperparameters (lr, ε) get 1-1.5-2-2.5-3-4-5-6-7-8 per decade over
    ``[low, high]``; linear ones a nice step plus the values near 1 that decay rates
    need (0.9, 0.99, 0.999) and small values near 0 (weight decay 1e-4 .. 5e-2).
    A default of None is offered first ("auto"). The default is rounded to 10 digits
    like the other values; ``exact_default`` offers it exactly instead (ConstantLR's
    factor 1/3, so the Schedules page's default curve is the registry's).
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
    d = h.default
    if isinstance(d, (int, float)) and not isinstance(d, bool):
        rounded = _round(float(d))
        if exact_default and isinstance(d, float) and rounded != d:
            vals.discard(rounded)
            vals.add(d)
        else:
            vals.add(rounded)
    out = sorted(vals)
    return tuple([None] + out) if d is None else tuple(out)


def hyper_span(h, default: Any = None) -> tuple[int, int]:
    """The bounds of an int hyperparameter's slider: ``[low, high]``, 0 for a missing low and, for a missing
    high, 10 or twice ``default`` (the value the page starts it at), whichever is larger."""
    lo = int(h.low) if h.low is not None else 0
    start = default if isinstance(default, (int, float)) and not isinstance(default, bool) else 0
    hi = int(h.high) if h.high is not None else int(max(10, 2 * start))
    return lo, hi


def snap(value: Any, options: Any, *, log: bool = False, exact_default: bool = False) -> Any:
    """The option a control shows for ``value``: the nearest of ``options`` (by ratio with
    ``log``, where ``value`` is positive); None when ``value`` is no number (garbage from a URL).

    ``options`` is one of
      - a sequence of values (a select slider's): an option equal to ``value`` is itself;
      - a ``range(lo, hi + 1)`` (an int slider's): ``value`` rounded and clamped into it;
      - a registry ``Hyper``: its slider's values (:func:`hyper_options`, by ratio if it is
        log-scaled); an int's value rounded into ``[low, high]``, a bool's, a choice's or a text's kept.
    """
    if hasattr(options, "kind"):  # a registry Hyper
        h = options
        if h.kind in ("bool", "choice", "text") or value is None:
            return value
        if h.kind == "int":
            lo = int(h.low) if h.low is not None else -math.inf
            hi = int(h.high) if h.high is not None else math.inf
            v = _number(value)
            return None if v is None else int(min(max(round(v), lo), hi))
        options, log = hyper_options(h, exact_default), h.log
    if isinstance(options, range) and options.step == 1:  # an int slider's values
        v = _number(value)
        return None if v is None or not options else int(min(max(round(v), options[0]), options[-1]))
    options = list(options)
    if value in options:
        return options[options.index(value)]
    v = _number(value)
    if v is None:
        return None
    candidates = [o for o in options if o is not None]

    def distance(o):
        o = float(o)
        if log and v > 0:
            return abs(math.log(o) - math.log(v)) if o > 0 else math.inf
        return abs(o - v)

    return min(candidates, key=distance) if candidates else None


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (a string from a URL may hold anything)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def batch_size_of(value: Any) -> int | None:
    """A batch-size control's value as a batch size: None for :data:`FULL_BATCH`."""
    return None if value == FULL_BATCH else int(value)


def schedule_choices(schedules: Any = None) -> list[str]:
    """A run's schedule choices: :data:`NO_SCHEDULE`, then every schedule that sets the lr from the
    step alone (not ReduceLROnPlateau, which needs a metric). ``schedules``: name → registry entry
    (default: the registry's)."""
    if schedules is None:
        from optim_core import registry

        schedules = registry.schedules()
    return [NO_SCHEDULE, *(name for name, info in schedules.items() if not info.needs_metric)]


def past_warmup(info: Any, n_steps: int, params: Any = None) -> int:
    """``n_steps`` as a warm-up schedule's ``total_steps``: past its ``warmup_steps`` (``params``'
    or the entry's default), since the decay needs a step of its own (WarmupPolynomial refuses
    less). Other schedules: ``n_steps``."""
    defaults = info.defaults()
    if "warmup_steps" not in defaults:
        return int(n_steps)
    return max(int(n_steps), int({**defaults, **dict(params or {})}["warmup_steps"]) + 1)
