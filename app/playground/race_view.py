"""What the browser-side race view receives: compact, JSON-ready payloads (no streamlit here).

The race is drawn and animated in the browser (:mod:`app.playground.race_component`, the
JavaScript in ``static/race.js``). Python sends each run's path once, as float32 bytes in
base64 (8 bytes a step: the payload grows with runs x steps, never with steps squared),
cut at the run's last finite point; the landscape image travels in a payload of its own
that stays byte-identical while the surface does, so Streamlit's message cache answers it
from the browser on every later rerun.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any, Sequence

import numpy as np

from app.playground.figures import Landscape, exit_point, last_valid, loss_scale
from app.ui import theme

__all__ = ["VERSION", "race_payload", "landscape_payload", "landscape_id", "decode_path", "decode_values", "escape_exit",
           "view_step", "scene_id", "style"]

VERSION = 1
EQUAL_ASPECT = (0.4, 2.5)  # window aspect ratios drawn with equal axis scales


def style(kind: str | None = None) -> dict[str, str]:
    """The colors of theme ``kind`` (default: the current one) the view draws with: race.js on the
    canvas, race.css through the CSS variables ``--oe-<name>`` the script sets from them."""
    p = theme.palette(kind)
    return {"ink": p.ink, "paper": p.paper, "text": p.text, "axis": p.axis_line, "edge": p.marker_edge,
            "halo": p.halo, "empty": p.no_landscape, "accent": p.accent, "control": p.control_line,
            "readout": p.readout_background, "scale": p.scale_line, "cursor": p.cursor_grey, "grid": p.grid_line,
            "hint": p.hint_text}


def _b64_f32(a: np.ndarray) -> str:
    with np.errstate(over="ignore"):
        return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def decode_path(s: str) -> np.ndarray:
    """The inverse of a run's ``path`` field: an ``(n, 2)`` float32 array (for tests and exports)."""
    return np.frombuffer(base64.b64decode(s), dtype="<f4").reshape(-1, 2)


def decode_values(s: str) -> np.ndarray:
    """The inverse of a run's ``loss`` field: an ``(n,)`` float32 array."""
    return np.frombuffer(base64.b64decode(s), dtype="<f4")


def landscape_id(land: Landscape) -> str:
    """A short name of the landscape's image in the current theme, the key the browser keeps it under."""
    return hashlib.sha1(land.image().encode("ascii")).hexdigest()[:16]


def landscape_payload(land: Landscape) -> dict[str, Any]:
    """The landscape image in the current theme: sent once per surface (and theme)."""
    return {"kind": "landscape", "v": VERSION, "id": landscape_id(land), "png": land.image()}


def _scale(land: Landscape) -> dict[str, Any]:
    """The color bar: one color per band, and ticks as (fraction of the bar, label)."""
    colors = [c for _, c in land.colorscale()[::2]]
    vals, texts = land.ticks()
    span = land.hi - land.lo
    ticks = [[(v - land.lo) / span, t] for v, t in zip(vals, texts) if span > 0 and land.lo <= v <= land.hi]
    return {"title": land.scale_title, "colors": colors, "ticks": ticks}


def escape_exit(path: np.ndarray, escape: np.ndarray | None, window) -> np.ndarray | None:
    """Where a diverged run leaves the window: along its path, else along the escape from its last
    finite point (the point it jumped to, possibly infinite: only its direction counts); else its
    last finite point (no direction known)."""
    last = last_valid(path)
    if last < 0:
        return None
    p = path[: last + 1]
    esc = None if escape is None else np.asarray(escape, dtype=np.float64)
    if esc is not None and not np.isnan(esc).any():
        # An infinite coordinate keeps its sign: a far point in the same direction.
        far = np.nan_to_num(esc, posinf=1e300, neginf=-1e300)
        d = far - p[-1]
        norm = float(np.max(np.abs(d)))
        if norm > 0 and math.isfinite(norm):
            (x0, x1), (y0, y1) = window
            reach = 4.0 * max(x1 - x0, y1 - y0, 1e-12)
            step = d / norm * min(reach, float(np.hypot(*d)) if np.isfinite(d).all() else reach)
            p = np.vstack([p, p[-1] + step])
    return exit_point(p, window)


def scene_id(scene) -> str:
    """A short name of a scene: the browser keeps playing across a rerun that redraws the same one."""
    return hashlib.sha1(repr(scene).encode()).hexdigest()[:16]


def view_step(step: int, steps: int, default: int) -> int:
    """The step the map opens on: the inspected one once it was moved from its default; else the end
    (whole paths at once)."""
    return int(steps) if int(step) == int(default) else int(min(max(step, 0), steps))


def race_payload(
    positions: np.ndarray,
    labels: Sequence[str],
    colors: Sequence[str],
    *,
    window,
    landscape: Landscape | None,
    starts: np.ndarray | None,
    minima: np.ndarray | None,
    title: str,
    step: int,
    show_step: int,
    mark: bool = True,
    clickable: bool = True,
    diverged_step: np.ndarray | None = None,
    reasons: Sequence[str] | None = None,
    escapes: np.ndarray | None = None,
    losses: np.ndarray | None = None,
    log: bool = True,
    fmin: float | None = None,
    scene_id: str = "",
) -> dict[str, Any]:
    """Everything the race view draws, for ``positions`` ``(K, T+1, 2)`` (NaN after a divergence).

    ``step`` is the inspected step (marked on the map when ``mark``), ``show_step`` the step the map
    opens on;
    ``scene_id`` names the scene, so the browser can keep playing across a rerun of the same one;
    ``clickable``: a click on the map sets the start (where the page offers it). With ``losses``
    ``(K, T+1)`` the view also draws the loss against the step, its cursor on the shown step (on a
    log axis above ``fmin`` when ``log``: :func:`app.playground.figures.loss_scale`).

    Built for the current theme (:func:`app.ui.theme.current`): its colors (``style``), each run's
    color in the theme's tone, and each run's head shape and loss-curve dash (run ``k`` of the list).
    """
    P = np.asarray(positions, dtype=np.float64)
    K, T1, _ = P.shape
    (x0, x1), (y0, y1) = window
    aspect = (y1 - y0) / (x1 - x0) if x1 > x0 else 1.0
    Y, use_log, ylabel = (None, False, "") if losses is None else loss_scale(losses, log, fmin)
    runs = []
    for k in range(K):
        last = last_valid(P[k])
        ds = int(diverged_step[k]) if diverged_step is not None else -1
        run: dict[str, Any] = {
            "label": str(labels[k]),
            "color": theme.tone(str(colors[k % len(colors)])),
            "shape": theme.run_symbol(k),
            "dash": theme.run_dash_px(k),
            "path": _b64_f32(P[k, : last + 1]) if last >= 0 else "",
            "last": last,
            "div": ds,
        }
        if Y is not None:
            run["loss"] = _b64_f32(Y[k, : last + 1]) if last >= 0 else ""
        if ds >= 0:
            ex = escape_exit(P[k], None if escapes is None else escapes[k], window)
            run["exit"] = None if ex is None else [float(ex[0]), float(ex[1])]
            run["why"] = str(reasons[k]) if reasons is not None else ""
        runs.append(run)
    pts = lambda a: [] if a is None else np.unique(np.asarray(a, dtype=np.float64).reshape(-1, 2), axis=0).tolist()
    return {
        "kind": "race",
        "v": VERSION,
        "scene": scene_id,
        "title": title,
        "window": [float(x0), float(x1), float(y0), float(y1)],
        "equal": bool(EQUAL_ASPECT[0] <= aspect <= EQUAL_ASPECT[1]),
        "steps": int(T1 - 1),
        "step": int(step),
        "show": int(show_step),
        "mark": bool(mark),
        "clickable": bool(clickable),
        "land": None if landscape is None else landscape_id(landscape),
        "scale": None if landscape is None else _scale(landscape),
        "runs": runs,
        "starts": pts(starts),
        "minima": pts(minima),
        "style": style(),
        "sizes": theme.sizes(),
        "labels": {"x": "θ₁", "y": "θ₂"},
        "loss": None if Y is None else {"log": bool(use_log), "title": "Loss at each step", "ylabel": ylabel},
    }
