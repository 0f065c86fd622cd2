"""What the Live Training view draws, as pure functions of a race (no streamlit, no plotly).

The pictures are drawn in the browser (:mod:`app.training.live_view`): per run a decision
boundary (a ``GRID × GRID`` grid of the logit difference, one byte a cell, turned into
P(class 1) and colored there: :meth:`Race.logit_grid`) over the data points, the loss and
accuracy curves, and the diagnostics (gradient norm before and after clipping, learning rate,
weight norm). Curves are *appended*: a payload carries only the rows sent in the last few
payloads and the new ones, as recorded per session in a :class:`LiveSync`. Every payload also
carries :func:`style`, the current theme's colors the view draws with, and the theme's sizes (a few
hundred bytes), so that the browser has them whichever payload reaches it first. Each run has its
theme tone and its marker shape (drawn along its curves, beside its map's title and in its legend
key) in the full payload; dashes keep their meaning there (training solid, test dashed).

Rows and strides. A run's ``history`` has one row per optimizer step (row ``r`` is step
``r + 1``), its ``evals`` one row per evaluation. The browser keeps, of each such series,
rows ``0, s, 2s, ...`` for a stride ``s`` that is the smallest power of two keeping at most
:data:`MAX_KEEP` of them (:func:`stride_for`); when the stride doubles both sides drop the
same rows (:func:`kept_after`), so the browser's arrays stay bounded and need no resend.

Every payload names its race (``race``: :attr:`Race.uid`) and, per series, its ``stride``
and ``base``: the index, at that stride, of its first row. The browser skips the rows it
already holds and appends the rest; the rows of a race never change, so any overlap is
harmless. Streamlit drops a run's output that has not reached the browser when the next run
starts at once, so each payload repeats what the last :data:`REPEAT` payloads carried. A
browser whose copy still has a gap (another race, a page reload or remount, more payloads
lost in a row) asks for a full resend; a new race is always sent in full.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from app.training.backend import LOGIT_CLIP, LOGIT_SCALE
from app.ui import theme

__all__ = [
    "VERSION",
    "GRID",
    "MAX_KEEP",
    "HIST_COLUMNS",
    "EVAL_COLUMNS",
    "TITLES",
    "START_NOTE",
    "style",
    "REPEAT",
    "SeriesSync",
    "Sent",
    "LiveSync",
    "resend_all",
    "stride_for",
    "kept_after",
    "live_payload",
    "decode_rows",
    "decode_grid",
]

VERSION = 1
GRID = 64  # decision-boundary grid points per side (interpolated, colored and outlined at P = 1/2 in the browser)
MAX_KEEP = 4096  # rows of a series the browser keeps at most (between MAX_KEEP / 2 and MAX_KEEP once thinned)
REPEAT = 2  # each payload also carries what the last REPEAT payloads brought, in case they were lost
HIST_COLUMNS = ("step", "grad_norm", "grad_norm_clipped", "lr", "weight_norm")
EVAL_COLUMNS = ("step", "train_loss", "train_acc", "test_loss", "test_acc")
TITLES = {
    "loss": "Loss (solid: train, dashed: test)",
    "acc": "Accuracy (solid: train, dashed: test)",
    "grad_norm": "Gradient norm ‖∇L‖ (dotted: clipped)",
    "lr": "Learning rate η",
    "weight_norm": "Weight norm ‖θ‖",
    "step": "step",
}
START_NOTE = (
    "Step 0: nothing trained yet. Each map shows its network's guess before training (the same for every "
    "run: same initial weights), under the training points (filled) and test points (rings); its test "
    "accuracy is that of a random guess, often under 50%. Press ▶ Start "
    "or Step: the loss, accuracy, gradient norm, learning rate and weight norm are drawn here as the runs train."
)



def style(kind: str | None = None) -> dict[str, str]:
    """The colors of theme ``kind`` (default: the current one) the view draws with: live_view.js reads
    them on the canvas (``style.<name>``), live_view.css through the CSS variables ``--oe-<name>`` the
    script sets from them."""
    p = theme.palette(kind)
    return {
        "paper": p.paper,
        "text": p.text,
        "soft": p.soft_text,
        "hint": p.hint_text,
        "axis": p.axis_line,
        "grid": p.grid_line,
        "edge": p.marker_edge,
        "alarm": p.mark_red,
        "veil": p.diverged_veil,
        "boundary": p.decision_boundary,
        "note_line": p.note_line,
        "note_fill": p.note_background,
        "note_text": p.note_text,
    }


def _b64(a: np.ndarray, dtype: str) -> str:
    with np.errstate(over="ignore", invalid="ignore"):
        return base64.b64encode(np.ascontiguousarray(a, dtype=dtype).tobytes()).decode("ascii")


def decode_rows(block: dict, columns=HIST_COLUMNS) -> np.ndarray:
    """A series block of a payload (``{"stride", "base", "n", "data"}``) as an ``(n, len(columns))``
    float32 array (for tests and exports)."""
    return np.frombuffer(base64.b64decode(block["data"]), dtype="<f4").reshape(int(block["n"]), len(columns))


def decode_grid(s: str, n: int = GRID) -> np.ndarray:
    """A run's ``grid`` field as the ``(n, n)`` uint8 levels of :meth:`Race.logit_grid`."""
    return np.frombuffer(base64.b64decode(s), dtype=np.uint8).reshape(n, n)


# -- thinning ------------------------------------------------------------------------------------
def stride_for(n_rows: int, keep: int = MAX_KEEP) -> int:
    """The smallest power of two ``s`` for which rows ``0, s, 2s, ... < n_rows`` number at most ``keep``."""
    s = 1
    while (n_rows + s - 1) // s > keep:
        s *= 2
    return s


def kept_after(next_row: int, stride: int, new_stride: int) -> int:
    """The next row to send once a browser holding rows ``0, stride, ..., next_row - stride`` keeps only
    the multiples of ``new_stride`` (a multiple of ``stride``): it then holds ``result / new_stride`` rows."""
    if next_row <= 0:
        return 0
    last = next_row - stride
    return (last // new_stride + 1) * new_stride


@dataclass
class SeriesSync:
    """Of one series (a run's history or evals): rows ``0, stride, ..., next_row - stride`` were sent."""

    stride: int = 1
    next_row: int = 0


@dataclass
class Sent:
    """What one payload had brought the browser up to: per run, its series and the step of its grid."""

    hist: list[SeriesSync]
    evals: list[SeriesSync]
    grid_steps: list[int]

    @classmethod
    def nothing(cls, n_runs: int) -> "Sent":
        return cls([SeriesSync() for _ in range(n_runs)], [SeriesSync() for _ in range(n_runs)], [-1] * n_runs)


@dataclass
class LiveSync:
    """What one browser view holds of a race, as far as Python knows: kept per session, next to the race.

    ``sent`` lists what the last few payloads had brought the browser up to, oldest first. A payload
    carries everything new since the oldest of them, so the browser still holds a continuous copy
    when up to :data:`REPEAT` payloads in a row never reach it (Streamlit drops a run's unsent
    output when the next run starts at once); rows it already holds it skips. ``grids`` caches the
    last grid computed per run (base64) with the step it shows, so a run that did not move is not
    recomputed, and a resend needs no recomputation. ``seq`` counts payloads per session, across races.
    """

    race: str
    seq: int = 0
    sent: list[Sent] = field(default_factory=list)
    grid_steps: list[int] = field(default_factory=list)
    grids: list[str] = field(default_factory=list)
    theme: str = ""  # the theme the browser's copy was drawn for: another one is sent in full


def _series(columns: dict[str, np.ndarray], names, since: SeriesSync, keep: int) -> tuple[dict, SeriesSync]:
    """The rows of one series sent after ``since``, at the series' current stride; and where they end."""
    n_rows = len(columns[names[0]])
    stride = max(stride_for(n_rows, keep), since.stride)
    next_row = kept_after(since.next_row, since.stride, stride) if stride != since.stride else since.next_row
    rows = np.arange(next_row, n_rows, stride)
    block = np.empty((len(rows), len(names)), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for j, name in enumerate(names):
            block[:, j] = columns[name][rows]
    out = {"stride": stride, "base": next_row // stride, "n": len(rows), "data": _b64(block, "<f4")}
    return out, SeriesSync(stride, next_row + len(rows) * stride)


def _static(race, grid: int) -> dict[str, Any]:
    """What does not change during a race: the frame, the points, the runs' names and colors, the titles."""
    x0, x1, y0, y1 = race.bounds()
    p = theme.palette()
    return {
        "bounds": [float(x0), float(x1), float(y0), float(y1)],
        "grid": grid,
        "logit_clip": LOGIT_CLIP,
        "logit_scale": LOGIT_SCALE,
        "train": {"x": _b64(race.X_train, "<f4"), "y": _b64(race.y_train, "u1")},
        "test": {"x": _b64(race.X_test, "<f4"), "y": _b64(race.y_test, "u1")},
        "class_colors": list(p.class_colors),
        "class_scale": [[float(at), c] for at, c in p.class_scale],
        "runs": [{"title": r.config.title(), "short": r.config.label or f"{r.config.optimizer} · {r.config.backend}",
                  "color": theme.run_tone(i), "shape": theme.run_symbol(i),
                  "clip": r.config.clip_norm is not None} for i, r in enumerate(race.runs)],
        "hist_columns": list(HIST_COLUMNS),
        "eval_columns": list(EVAL_COLUMNS),
        "titles": TITLES,
    }


def live_payload(race, sync: LiveSync | None, *, grid: int = GRID, keep: int = MAX_KEEP, repeat: int = REPEAT,
                 full: bool = False) -> tuple[dict[str, Any], LiveSync]:
    """The payload for a browser that holds what ``sync`` says, and the sync once it was sent.

    In full (``static`` included, every row from 0, every grid) when ``sync`` is None or names another
    race (a new race, or :func:`resend_all`), or ``full`` is asked. Else the rows and grids that are new
    since ``repeat`` payloads before the last one (0: since the last one only).
    """
    n = len(race.runs)
    seq = 0 if sync is None else sync.seq + 1
    kind = theme.current()
    full = (full or sync is None or sync.race != race.uid or len(sync.grids) != n or not sync.sent
            or sync.theme != kind)
    if full:
        since = Sent.nothing(n)
        grid_steps, grids = [-1] * n, [""] * n
        window = []
    else:
        since = sync.sent[0]
        grid_steps, grids = list(sync.grid_steps), list(sync.grids)
        window = list(sync.sent)
    now = Sent.nothing(n)
    runs = []
    for i, run in enumerate(race.runs):
        if grid_steps[i] != run.step or not grids[i]:
            grids[i] = _b64(race.logit_grid(run, grid, LOGIT_CLIP, LOGIT_SCALE), "u1")
            grid_steps[i] = run.step
        now.grid_steps[i] = grid_steps[i]
        hist, now.hist[i] = _series(run.history, HIST_COLUMNS, since.hist[i], keep)
        evals, now.evals[i] = _series(run.evals, EVAL_COLUMNS, since.evals[i], keep)
        runs.append({
            "step": run.step,
            "test_acc": _finite(run.last("test_acc")),
            "test_loss": _finite(run.last("test_loss")),
            "diverged": bool(run.diverged),
            "grid_step": grid_steps[i],
            "grid": grids[i] if since.grid_steps[i] != grid_steps[i] else None,
            "hist": hist,
            "evals": evals,
        })
    payload = {"v": VERSION, "race": race.uid, "seq": seq, "full": full, "step": race.step,
               "note": START_NOTE if race.step == 0 else "", "style": style(), "sizes": theme.sizes(), "runs": runs}
    if full:
        payload["static"] = _static(race, grid)
    window = (window + [now])[-(repeat + 1):]
    return payload, LiveSync(race.uid, seq, window, grid_steps, grids, theme=kind)


def resend_all(sync: LiveSync | None) -> LiveSync | None:
    """``sync`` such that the next payload is sent in full (its ``seq`` still counts on)."""
    return None if sync is None else replace(sync, race="")


def _finite(v: float) -> float | None:
    """JSON has no NaN: None instead."""
    return float(v) if np.isfinite(v) else None
