"""What the fuzz tests share: the profile's budgets, an independent reading of the registry's
declared intervals, and strategies for hyperparameters, arrays and extreme numbers.

Validity is judged here from the registry's *declarations* (``Hyper.valid``, ``kind``,
``choices``), parsed by this module's own code, never by the checks under test
(``optim_core.optimizer.check_hyper``, ``entries.valid_interval``): a check that wrongly
accepts or refuses a value then fails the test.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from contextlib import contextmanager
from typing import Any

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

PROFILE = os.environ.get("FUZZ", "ci").strip().lower() or "ci"
LONG = PROFILE == "long"


def examples(ci: int, long: int, **more):
    """``@settings`` with ``ci`` examples in the ci profile, ``long`` in the long one (and ``more``)."""
    return settings(max_examples=long if LONG else ci, **more)


def budget(ci, long):
    return long if LONG else ci


# -- numbers ------------------------------------------------------------------------------

TINY = 5e-324  # the smallest subnormal
HUGE = 1.7976931348623157e308  # the largest float
# Finite values that break naive arithmetic: overflow on squaring (1e300, 1e155), underflow
# (1e-300, subnormals), signed zeros, and ordinary ones.
EXTREMES = (0.0, -0.0, 1.0, -1.0, 1e300, -1e300, 1e155, -1e155, 1e-300, -1e-300, TINY, -TINY, HUGE, -HUGE,
            1e10, -1e10, 0.5, 3.0)
NON_FINITE = (math.inf, -math.inf, math.nan)


def finite_values():
    """Extreme finite numbers, ordinary ones, and any finite float."""
    return st.one_of(st.sampled_from(EXTREMES), st.floats(-10.0, 10.0), st.floats(allow_nan=False, allow_infinity=False))


def any_values():
    """As :func:`finite_values`, and inf, -inf and NaN."""
    return st.one_of(finite_values(), st.sampled_from(NON_FINITE))


def arrays(dtype, shape, elements):
    """An array of ``shape`` whose entries come from ``elements`` (cast to ``dtype``; float32
    overflows to ±inf, which is what a float32 parameter would hold)."""
    return hnp.arrays(np.float64, shape, elements=elements, fill=elements).map(lambda a: _cast(a, dtype))


def _cast(a: np.ndarray, dtype) -> np.ndarray:
    with np.errstate(over="ignore"):
        return a.astype(dtype)


# -- the registry's declarations, read independently ----------------------------------------

_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,]+?)\s*,\s*([^,]+?)\s*([\])])\s*$")


def interval(spec: str) -> tuple[float, float, bool, bool]:
    """``"[0, 1)"`` → ``(0.0, 1.0, True, False)``; the empty string: any finite number."""
    if not spec:
        return -math.inf, math.inf, False, False
    m = _INTERVAL.match(spec)
    assert m, f"unreadable interval {spec!r}"
    return float(m.group(2)), float(m.group(3)), m.group(1) == "[", m.group(4) == "]"


def _inside(v: float, spec: str) -> bool:
    lo, hi, lc, hc = interval(spec)
    return (v >= lo if lc else v > lo) and (v <= hi if hc else v < hi)


def is_valid(h, v: Any) -> bool:
    """Whether ``v`` is a value the declaration of ``h`` allows."""
    if h.kind == "bool":
        return isinstance(v, (bool, np.bool_))
    if h.kind == "choice":
        return not isinstance(v, bool) and v in h.choices
    if v is None:
        return h.default is None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if not math.isfinite(v):
        return False
    if h.kind == "int" and v != int(v):
        return False
    return _inside(float(v), h.valid)


def _slider(h):
    """Values across the slider's range ``[low, high]`` (log-spaced where the slider is)."""
    lo, hi = h.low, h.high
    if lo is None or hi is None:
        return st.nothing()
    if h.kind == "int":
        return st.integers(int(math.ceil(lo)), int(math.floor(hi)))
    if h.log and lo > 0:
        return st.floats(math.log(lo), math.log(hi)).map(lambda u: min(max(math.exp(u), lo), hi))
    return st.floats(lo, hi)


def _edges(h) -> list:
    """The declared ends (or the nearest float inside an open end), 0, tiny and huge values, the default."""
    lo, hi, lc, hc = interval(h.valid)
    out: list = [h.default, h.low, h.high, 0, 0.0, TINY, 1e-300, 1e-10, 1.0, 1e10, 1e300, HUGE, -1.0, -1e300]
    for end, inward in ((lo, math.inf), (hi, -math.inf)):
        if math.isfinite(end):
            out += [end, float(np.nextafter(end, inward))]
    if h.kind == "int":
        out = [int(v) for v in out if isinstance(v, (int, float)) and math.isfinite(v) and abs(v) < 1e12
               and v == int(v)] + [10**6, 10**9]
    return [v for v in out if v is not None and is_valid(h, v)] + ([None] if h.default is None else [])


def valid_values(h, extreme: bool = True):
    """Values the declaration allows: across the slider, and (``extreme``) its edges and beyond."""
    if h.kind == "bool":
        return st.booleans()
    if h.kind == "choice":
        return st.sampled_from(h.choices)
    if not extreme:
        return _slider(h) if h.low is not None else st.just(h.default)
    edges = _edges(h)
    return st.one_of(_slider(h), st.sampled_from(edges)) if edges else _slider(h)


def invalid_values(h):
    """Values the declaration refuses (None where the default is not None, NaN, inf, the wrong
    side of an end, a fraction for an int, text, a number for a bool or a choice)."""
    if h.kind == "bool":
        return st.sampled_from([None, 0, 1, "true", 0.5])
    if h.kind == "choice":
        return st.sampled_from(["", "bogus", None, -1, 1e300])
    lo, hi, lc, hc = interval(h.valid)
    cands: list = [math.nan, math.inf, -math.inf, "abc", "1", [1.0, math.nan]]
    if h.default is not None:
        cands.append(None)
    if math.isfinite(lo):
        cands += [lo if not lc else float(np.nextafter(lo, -math.inf)), lo - 1.0, -1e300]
    if math.isfinite(hi):
        cands += [hi if not hc else float(np.nextafter(hi, math.inf)), hi + 1.0, 1e300]
    if h.kind == "int":
        cands += [2.5, 1e-3 + (h.low or 0)]
    return st.sampled_from([v for v in cands if not (isinstance(v, (int, float)) and is_valid(h, v))])


@st.composite
def hyper_dicts(draw, hypers, *, invalid: bool = False, extreme: bool = True, fixed: dict | None = None):
    """A value per hyperparameter; with ``invalid``, one of them (drawn) is refused by its declaration."""
    out = {h.name: draw(valid_values(h, extreme)) for h in hypers}
    out.update(fixed or {})
    if invalid:
        free = [h for h in hypers if h.name not in (fixed or {})]
        h = draw(st.sampled_from(free))
        out[h.name] = draw(invalid_values(h))
    return out


def refused_relation(name: str, hp: dict) -> str | None:
    """The relation between hyperparameters torch refuses, by the optimizers' documentation
    (SGD's Nesterov; Adafactor's lr and relative step), or None."""
    if name == "SGD" and hp.get("nesterov") is True:
        numbers = all(isinstance(hp[k], (int, float)) for k in ("momentum", "dampening"))
        if numbers and not (hp["momentum"] > 0 and hp["dampening"] == 0):
            return "Nesterov needs momentum > 0 and dampening 0"
    if name == "Adafactor":
        rel = hp.get("relative_step")
        if (hp.get("lr") is not None) == (rel is True):
            return "Adafactor: a manual lr and relative_step exclude each other (and one is needed)"
        if hp.get("warmup_init") is True and rel is not True:
            return "Adafactor: warmup_init needs relative_step"
    return None


def invalid_names(hypers, hp: dict) -> list[str]:
    return [h.name for h in hypers if h.name in hp and not is_valid(h, hp[h.name])]


# -- the engine's records ----------------------------------------------------------------


def check_trajectories(tr, n_runs: int, n_starts: int, steps: int, record: str) -> None:
    """Shapes and dtypes, then: every run is finite throughout, or diverged with a reason and cut there."""
    assert tr.final_positions.shape == (n_runs, n_starts, 2) and tr.final_positions.dtype == np.float64
    assert tr.final_losses.shape == (n_runs, n_starts) and tr.final_losses.dtype == np.float64
    assert tr.diverged_step.shape == (n_runs, n_starts) and tr.diverged_step.dtype.kind == "i"
    assert tr.diverged_reason.shape == (n_runs, n_starts)
    keep_path = record in ("full", "path")
    if keep_path:
        assert tr.positions.shape == (n_runs, n_starts, steps + 1, 2) and tr.positions.dtype == np.float64
        assert tr.losses.shape == (n_runs, n_starts, steps + 1)
    for k in range(n_runs):
        for m in range(n_starts):
            d = int(tr.diverged_step[k, m])
            where = f"run {k} ({tr.specs[k].optimizer}), start {m}: {tr.starts[k, m].tolist()}"
            if d < 0:
                assert tr.diverged_reason[k, m] == "", where
                assert np.all(np.isfinite(tr.final_positions[k, m])), f"{where}: not finite, not reported"
                assert math.isfinite(tr.final_losses[k, m]), f"{where}: final loss {tr.final_losses[k, m]} not reported"
                if keep_path:
                    assert np.all(np.isfinite(tr.positions[k, m])), f"{where}: a non-finite position, not reported"
                    assert np.all(np.isfinite(tr.losses[k, m])), f"{where}: a non-finite loss, not reported"
            else:
                assert 0 <= d <= steps, where
                reason = tr.diverged_reason[k, m]
                assert isinstance(reason, str) and reason, f"{where}: diverged without a reason"
                assert math.isnan(tr.final_losses[k, m]), where
                if keep_path:
                    assert np.all(np.isfinite(tr.positions[k, m, :d])), f"{where}: non-finite before step {d}"
                    assert np.all(np.isfinite(tr.losses[k, m, :d])), f"{where}: non-finite loss before step {d}"
                    assert np.all(np.isnan(tr.positions[k, m, d:])), f"{where}: not cut at step {d}"


# -- nothing executes, nothing hangs -------------------------------------------------------

_WATCHING: list[list[str]] = []
# Audit events that mean Python code was compiled or run from a string, or a process or a
# shell was started: none may happen while user input is parsed or evaluated.
_FORBIDDEN = ("compile", "exec", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
              "os.fork", "ctypes.dlopen", "builtins.input")


def _audit(event: str, args) -> None:
    if _WATCHING and event in _FORBIDDEN:
        _WATCHING[-1].append(f"{event}{args!r}"[:200])


sys.addaudithook(_audit)  # a hook cannot be removed; it records only inside watch()


@contextmanager
def watch():
    """Collect the forbidden audit events (Python compiled or run, a process started) inside the block."""
    seen: list[str] = []
    _WATCHING.append(seen)
    try:
        yield seen
    finally:
        _WATCHING.pop()


@contextmanager
def timed():
    """``with timed() as t: ...`` then ``t[0]`` is the block's wall time in seconds."""
    out = [math.nan]
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out[0] = time.perf_counter() - t0
