"""What one request may cost: every bound the app puts on a user's request, in one place.

A classroom is many users on one server process (about one core of Python). Every value a user sends
(a widget, a URL, a forged websocket message: they reach the same code) meets one of these bounds
before any work starts, and a value past one is clamped or refused with a message beside the thing it
concerns. The engine's part (runs, starts, steps, and a CPU-seconds model that refuses a race or map
before it runs) is :mod:`optim_core.budget`, re-exported here as :data:`ENGINE`; the formula parser's
limits are :mod:`optim_core.formula`'s. The rest is the app's, defined here and read by the modules
that enforce it. ``python -m app.budget`` prints the table with the worst case of each, in seconds of
CPU measured on the reference machine (2 cores).
"""

from __future__ import annotations

from optim_core import formula as _formula
from optim_core.budget import LIMITS as ENGINE

__all__ = ["ENGINE", "CONVERGENCE_MAX_STEPS", "STABILITY_MAX_STEPS", "REDRAW_TRAIN_S", "TRAINING_SHARE",
           "LIVE_MAX_STEPS", "EXPORT_SECONDS", "EXPORT_WORKERS", "EXPORT_JOBS_PER_SESSION", "EXPORT_QUEUE",
           "ANIMATION_MAX_SECONDS", "ANIMATION_MAX_PIXELS", "MEMORY_MAX_PARAMS", "rows"]

# ---- Playground --------------------------------------------------------------------------------
# A race, a convergence map, a sensitivity map, a stability sweep: each one engine request, refused
# (the race) or shrunk to the largest grid that fits (the maps) past ENGINE.max_seconds of CPU.
CONVERGENCE_MAX_STEPS = 1000  # each start of a convergence map runs at most this long
STABILITY_MAX_STEPS = 500  # the stability sweep's runs are at most this long

# ---- Live Training -----------------------------------------------------------------------------
REDRAW_TRAIN_S = 0.12  # CPU seconds of training (and drawing) per redraw, at most: half the interval below it
TRAINING_SHARE = 0.5  # of one core: every session's training together (app/training/share.py)
LIVE_MAX_STEPS = 200_000  # a safety stop for a demo left running

# ---- Exports (app/exports/jobs.py: background threads, never the page's) ---------------------------
EXPORT_SECONDS = 120.0  # wall seconds one export may run before it is stopped
EXPORT_WORKERS = 2  # export threads for the whole server (one per core)
EXPORT_JOBS_PER_SESSION = 1  # a session's exports run one at a time
EXPORT_QUEUE = 8  # exports waiting for a thread, server-wide; past it a new one is refused with a message
ANIMATION_MAX_SECONDS = 60.0  # the longest GIF / MP4
ANIMATION_MAX_PIXELS = 3840 * 2160  # the largest frame

# ---- Memory page --------------------------------------------------------------------------------
MEMORY_MAX_PARAMS = 1e15  # the largest model it answers for (a float past it soon overflows to "inf GB")


def _nest(k: int, f: str, c: int) -> str:
    s = "x"
    for i in range(k):
        s = f"{f}({'x' if i % 2 else 'y'}*{s}+{c})"
    return s


def rows() -> list[tuple[str, str, str]]:
    """(what, its bound, its worst case in CPU seconds by the engine's model or by construction)."""
    heavy = _nest(19, "tanh", 1) + "*" + _nest(19, "cos", 2)  # a 364-character formula: 1,249 nodes
    nodes = _formula.parse_formula(heavy).node_count
    e = ENGINE
    return [
        ("formula", f"{_formula.MAX_LENGTH} characters, {_formula.MAX_NODES} nodes, depth {_formula.MAX_DEPTH}, "
                    f"{_formula.MAX_DERIVED_NODES:,} derived nodes", "parsing: milliseconds"),
        ("race", f"{e.max_runs} runs (6 on the page) x {e.max_steps:,} steps; <= {e.max_seconds:g} s by the model",
         f"6 runs x 5,000 steps on a {nodes:,}-node formula: {e.seconds(nodes, 6, 5000):.2f} s"),
        ("convergence map", f"100 x 100 starts x {CONVERGENCE_MAX_STEPS:,} steps, grid shrunk to fit "
                            f"{e.max_seconds:g} s", f"worst admitted: {e.max_seconds:g} s"),
        ("sensitivity map", f"31 x 31 values x {e.max_steps:,} steps, grid shrunk to fit {e.max_seconds:g} s",
         f"worst admitted: {e.max_seconds:g} s"),
        ("stability sweep", f"2 x 60 learning rates x {STABILITY_MAX_STEPS} steps",
         f"{e.seconds(e.builtin_nodes, 120, STABILITY_MAX_STEPS):.2f} s"),
        ("Live Training redraw", f"{REDRAW_TRAIN_S:g} s of training per redraw; all sessions' training "
                                 f"<= {TRAINING_SHARE:g} core", f"{REDRAW_TRAIN_S:g} s"),
        ("export", f"{EXPORT_SECONDS:g} s each, {EXPORT_JOBS_PER_SESSION} per session, {EXPORT_WORKERS} threads, "
                   f"{EXPORT_QUEUE} queued; animations <= {ANIMATION_MAX_SECONDS:g} s of "
                   f"<= {ANIMATION_MAX_PIXELS:,} pixels", f"{EXPORT_SECONDS:g} s wall, off the page's thread"),
        ("Memory page", f"<= {MEMORY_MAX_PARAMS:.0e} parameters", "microseconds"),
    ]


if __name__ == "__main__":  # pragma: no cover
    for what, bound, worst in rows():
        print(f"{what:22} {bound}\n{'':22} worst case: {worst}")
