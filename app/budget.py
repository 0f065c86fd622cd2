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
           "LIVE_MAX_STEPS", "DEBUG_PANEL_REDRAW_S", "DEBUG_PANEL_POINTS", "CHECKPOINT_MAX_BYTES", "UPLOADS_KEPT_PER_SESSION", "EXPORT_SECONDS", "EXPORT_WORKERS", "EXPORT_JOBS_PER_SESSION", "EXPORT_QUEUE",
           "ANIMATION_MAX_SECONDS", "ANIMATION_MAX_PIXELS", "MEMORY_MAX_PARAMS", "rows",
           "SHARPNESS_EVERY", "SHARPNESS_MIN_EVERY", "SHARPNESS_MAX_ITERS", "SHARPNESS_MAX_ROWS",
           "SHARPNESS_PANEL_REDRAW_S", "NET_LANDSCAPE_GRID", "NET_LANDSCAPE_MAX_WORK", "NET_TRAIL_SNAPSHOTS",
           "NET_TRAIL_MAX_FLOATS"]

# ---- Playground --------------------------------------------------------------------------------
# A race, a convergence map, a sensitivity map, a stability sweep: each one engine request, refused
# (the race) or shrunk to the largest grid that fits (the maps) past ENGINE.max_seconds of CPU.
CONVERGENCE_MAX_STEPS = 1000  # each start of a convergence map runs at most this long
STABILITY_MAX_STEPS = 500  # the stability sweep's runs are at most this long

# ---- Live Training -----------------------------------------------------------------------------
REDRAW_TRAIN_S = 0.12  # CPU seconds of training (and drawing) per redraw, at most: half the interval below it
TRAINING_SHARE = 0.5  # of one core: every session's training together (app/training/share.py)
LIVE_MAX_STEPS = 200_000  # a safety stop for a demo left running
# The debugging panel (app/training/diagnostics.py): its per-layer norms are a few µs per step, inside the
# training time above; its figure is redrawn at most this often while training, with at most this many
# points per curve (bytes per redraw bounded, whatever the step).
DEBUG_PANEL_REDRAW_S = 1.0
DEBUG_PANEL_POINTS = 300
# A saved race (app/training/checkpoint.py) read back from an upload: at most this many bytes, checked before
# parsing (a 4-run race keeps ~50 bytes a step and run: about 60,000 steps fit).
CHECKPOINT_MAX_BYTES = 16_000_000
# Streamlit keeps an uploaded file in memory until its DELETE or the session's end, and its upload route takes
# any file id: app/housekeeping.py keeps only each session's newest few (the uploader shows one).
UPLOADS_KEPT_PER_SESSION = 2
# Sharpness (app/training/sharpness.py), only while its panel is open. A measurement (~3 ms a run for the
# default network: Lanczos, ~1 backward pass a product) runs inside the training time above, so a redraw costs
# no more; training slows instead (~35% at every 20 steps).
SHARPNESS_EVERY = 20  # measure each run every k optimizer steps (the panel offers SHARPNESS_MIN_EVERY-200)
SHARPNESS_MIN_EVERY = 5
SHARPNESS_MAX_ITERS = 20  # Hessian-vector products per eigenvalue at most (warm-started Lanczos: ~3-8)
SHARPNESS_MAX_ROWS = 2000  # measurements kept per run; past it every other is dropped and k doubles
SHARPNESS_PANEL_REDRAW_S = 1.0  # its chart (a fragment of its own) is redrawn at most this often
# The network's own landscape (app/training/net_landscape.py), computed on request in the page's thread:
NET_LANDSCAPE_GRID = 41  # loss evaluations per side of the plane, at most
NET_LANDSCAPE_MAX_WORK = 4e9  # grid points x training points x parameters: the grid shrinks to fit (~1 s)
NET_TRAIL_SNAPSHOTS = 128  # weight snapshots kept per run for the paths (every other dropped when full)
NET_TRAIL_MAX_FLOATS = 1_000_000  # all runs' snapshots together (4 MB of float32): fewer per run if larger

# ---- Exports (app/exports/jobs.py: background threads, never the page's) ---------------------------
EXPORT_SECONDS = 120.0  # wall seconds one export may run before it is stopped
EXPORT_WORKERS = 2  # export threads for the whole server (one per core); as many render processes at most
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
        ("sharpness", f"while its panel is open: every >= {SHARPNESS_MIN_EVERY} steps, <= {SHARPNESS_MAX_ITERS} "
                      f"Hessian-vector products, {SHARPNESS_MAX_ROWS:,} rows a run", "inside the redraw's training time"),
        ("network landscape", f"<= {NET_LANDSCAPE_GRID}² grid, grid x points x parameters <= "
                              f"{NET_LANDSCAPE_MAX_WORK:.0e} (grid shrunk to fit); paths: {NET_TRAIL_SNAPSHOTS} "
                              f"snapshots a run, {NET_TRAIL_MAX_FLOATS:,} floats a race", "about 1 s"),
        ("checkpoint upload", f"<= {CHECKPOINT_MAX_BYTES / 1e6:g} MB, checked before parsing; resuming rebuilds "
                              "the race (no training); a session's newest {UPLOADS_KEPT_PER_SESSION} uploads kept",
         "milliseconds"),
        ("export", f"{EXPORT_SECONDS:g} s each, {EXPORT_JOBS_PER_SESSION} per session, {EXPORT_WORKERS} threads, "
                   f"{EXPORT_QUEUE} queued; animations <= {ANIMATION_MAX_SECONDS:g} s of "
                   f"<= {ANIMATION_MAX_PIXELS:,} pixels (drawn in a render process)",
         f"{EXPORT_SECONDS:g} s wall, off the page's thread"),
        ("Memory page", f"<= {MEMORY_MAX_PARAMS:.0e} parameters", "microseconds"),
    ]


if __name__ == "__main__":  # pragma: no cover
    for what, bound, worst in rows():
        print(f"{what:22} {bound}\n{'':22} worst case: {worst}")
