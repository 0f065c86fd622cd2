"""Stills for slides: any of the app's Plotly figures as PNG, SVG or PDF, through kaleido v1.

:func:`still` renders a figure in the app's look (:func:`app.ui.theme.base_layout`, with a
title) at a fixed size. Kaleido v1 drives a headless Chromium (Debian's ``/usr/bin/chromium``
is found by itself; ``BROWSER_PATH`` overrides). Starting it costs ~4 s, so one browser is
kept warm for the process and every still after the first takes ~0.3 s.

Why not ``kaleido.start_sync_server()``: its server runs each call through one shared pair of
queues, so two threads calling at once can receive each other's images, and when Chromium
fails to start (or dies) its thread ends while callers wait on the queue for ever (measured:
``BROWSER_PATH=/nonexistent`` hangs the first call). Here the warm browser lives in an event
loop on a daemon thread of our own; callers submit with ``run_coroutine_threadsafe`` and wait
with a timeout, kaleido's tab queue serializes the renders, a failed start raises to the
caller (and the next call tries again), and a browser that died is started again.

:func:`browser_missing` says, in one line, what to install when no Chromium is found: the
page shows it beside the export control instead of failing. :func:`race_still_figure` is the
race map as a static picture (the animated :func:`app.playground.figures.race_figure` at its
last step, without frames, slider or buttons). Nothing here imports streamlit.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import importlib.util
import os
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable

from app.ui.theme import FONT_SIZE, TITLE_SIZE, base_layout

__all__ = [
    "FORMATS",
    "MIME",
    "BrowserMissing",
    "browser_missing",
    "static_figure",
    "race_still_figure",
    "still",
    "warm_up",
    "stop",
]

FORMATS = ("png", "svg", "pdf")
MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
SMALL_STILL = 400  # CSS pixels high: a still below this keeps its legend under the plot, not the figure
START_TIMEOUT = 60.0  # seconds for Chromium to start (cold: ~4 s here)
RENDER_TIMEOUT = 60.0  # seconds for one still (warm: ~0.3 s)
INSTALL_HINT = ("No Chromium found for image export: install it (apt-get install -y chromium) "
                "or set BROWSER_PATH to a Chrome or Chromium executable.")


class BrowserMissing(RuntimeError):
    """No Chromium to render with; the message says what to install."""


# ---------------------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------------------


def _find_browser() -> str | None:
    """The Chromium kaleido would start (choreographer's own search, ``BROWSER_PATH`` first)."""
    try:
        from choreographer.browsers.chromium import Chromium
    except ImportError:  # kaleido (and its choreographer) not installed
        return None
    try:
        return Chromium.find_browser(skip_local=False)
    except Exception:  # a best-effort search: a broken PATH entry is "not found", not a crash
        return None


def browser_missing() -> str | None:
    """None when stills can be rendered; else one line saying what to install (never raises)."""
    if importlib.util.find_spec("kaleido") is None:
        return "Image export needs kaleido: pip install kaleido==1.5.0 (and apt-get install -y chromium)."
    try:
        path = _find_browser()
    except Exception:
        path = None
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        override = os.environ.get("BROWSER_PATH")
        if override:
            return (f"No browser at BROWSER_PATH={override!r}: point it at a Chrome or Chromium executable, "
                    "or unset it and apt-get install -y chromium.")
        return INSTALL_HINT
    return None


class _WarmBrowser:
    """One kaleido (one Chromium, one tab) kept open on an event loop of its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kaleido: Any = None

    def _alive(self) -> bool:
        return self._kaleido is not None and self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Open the browser unless it is open (the ~4 s a first still costs); thread-safe."""
        with self._lock:
            if self._alive():
                return
            self._shutdown_locked()
            message = browser_missing()
            if message:
                raise BrowserMissing(message)
            import kaleido

            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="kaleido-warm", daemon=True)
            thread.start()

            async def open_browser():
                # mathjax=False: kaleido would fetch MathJax from a CDN (the app's labels are Unicode).
                k = kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT, mathjax=False)
                await k.open()
                return k

            try:
                k = asyncio.run_coroutine_threadsafe(open_browser(), loop).result(START_TIMEOUT)
            except BaseException:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(5)
                raise
            self._loop, self._thread, self._kaleido = loop, thread, k

    def render(self, fig: dict, opts: dict) -> bytes:
        self.start()
        loop, k = self._loop, self._kaleido
        future = asyncio.run_coroutine_threadsafe(k.calc_fig(fig, opts=opts), loop)
        try:
            return future.result(RENDER_TIMEOUT + 5)
        except FutureTimeout:
            future.cancel()
            self.stop()  # a browser that does not answer is started afresh next time
            raise TimeoutError(f"The still took more than {RENDER_TIMEOUT:.0f} s; the image browser was restarted.")
        except Exception as exc:
            from kaleido.errors import BrowserClosedError, BrowserFailedError

            if isinstance(exc, (BrowserClosedError, BrowserFailedError)):
                self.stop()
            raise

    def _shutdown_locked(self) -> None:
        loop, thread, k = self._loop, self._thread, self._kaleido
        self._loop = self._thread = self._kaleido = None
        if loop is None:
            return
        if k is not None and thread is not None and thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(k.close(), loop).result(10)
            except Exception:  # closing a browser that crashed: nothing left to close
                pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)

    def stop(self) -> None:
        with self._lock:
            self._shutdown_locked()


_BROWSER = _WarmBrowser()
atexit.register(_BROWSER.stop)


def warm_up() -> str | None:
    """Start the warm browser now (e.g. in the background when the page opens).

    Returns None when it is ready, else the message to show (a missing browser, a failed start).
    """
    try:
        _BROWSER.start()
    except BrowserMissing as exc:
        return str(exc)
    except Exception as exc:
        return f"The image browser did not start: {exc}"
    return None


def stop() -> None:
    """Close the warm browser (it opens again on the next still)."""
    _BROWSER.stop()


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


def _title_text(layout: dict) -> str:
    title = layout.get("title")
    if isinstance(title, str):
        return title
    if isinstance(title, dict):
        return str(title.get("text") or "")
    return ""


def static_figure(fig: Any, *, title: str = "", width: int | None = None, height: int | None = None) -> dict:
    """``fig`` as a plain figure dict for a still: no frames, slider or buttons, the app's look, a title.

    ``fig`` is a ``go.Figure`` (an :class:`~app.playground.figures.AnimatedFigure` included) or
    a figure dict; it is not modified. The figure keeps its own title; ``title`` is used when it
    has none, and a figure with neither is refused (a slide needs to say what it shows).
    """
    d = fig.to_dict() if hasattr(fig, "to_dict") else copy.deepcopy(dict(fig))
    d.pop("frames", None)
    layout = d.setdefault("layout", {})
    animated = bool(layout.pop("sliders", None)) | bool(layout.pop("updatemenus", None))
    look = base_layout()
    for key, value in look.items():
        layout.setdefault(key, copy.deepcopy(value))
    if not _title_text(layout):
        if not title:
            raise ValueError("A still needs a title: the figure has none and no title was given.")
        layout["title"] = dict(text=title, font=dict(size=TITLE_SIZE), x=0.01, xanchor="left")
    margin = layout.setdefault("margin", {})
    if animated:
        margin["b"] = look["margin"]["b"]  # the room the slider and buttons took
    margin["t"] = max(int(margin.get("t", 0) or 0), look["margin"]["t"] + 10)
    layout.pop("uirevision", None)
    legend = layout.get("legend")
    if height and int(height) < SMALL_STILL and isinstance(legend, dict) and legend.get("yref") == "container":
        # Plotly reserves a legend's room under the figure's bottom margin whatever the room left for the
        # plot; on a small still the plot would have none (plotly.js: "axis scaling" error). Under the plot
        # instead, where a crowded legend may cover the axis title but the still is made.
        layout["legend"] = {**legend, "yref": "paper", "y": -0.25, "yanchor": "top"}
    if width:
        layout["width"] = int(width)
    if height:
        layout["height"] = int(height)
    if width or height:
        layout["autosize"] = False
    return d


def race_still_figure(scene, res, surface=None, *, title: str = "", landscape=None) -> dict:
    """The race map as a still: whole paths at the last step over the landscape, start, minima, ✕.

    ``res`` is :func:`app.playground.race.compute`'s result for ``scene``. The title defaults to
    the one the page shows (the surface and the number of steps).
    """
    from app.playground import figures as F
    from app.playground.panels import run_colors

    surface = surface if surface is not None else res.surface
    tr = res.traj
    if tr is None:
        raise ValueError("The race was not computed: " + "; ".join(res.errors or ["no trajectories"]))
    if landscape is None:
        landscape = F.landscape(surface, surface.window)
    name = getattr(surface, "title", "") or getattr(surface, "name", "") or scene.surface
    fig = F.race_figure(
        tr.positions[:, 0], res.labels, window=surface.window, background=landscape, colors=run_colors(scene),
        starts=tr.starts[:, 0], minima=getattr(surface, "minima", None),
        title=title or f"{name} · {int(tr.steps)} steps", click_grid=False)
    d = static_figure(fig)
    d["layout"]["legend"]["font"] = dict(size=FONT_SIZE)
    return d


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


def still(fig: Any, fmt: str = "png", width: int = 1280, height: int = 720, scale: float | None = None, *,
          title: str = "", progress: Callable[[float], Any] | None = None) -> bytes:
    """``fig`` rendered as ``fmt`` ("png", "svg" or "pdf") at ``width`` x ``height`` CSS pixels.

    A PNG is ``scale`` times that in pixels (2 by default: sharp on a projector); SVG and PDF
    are vector (scale 1). See :func:`static_figure` for ``title``. Raises
    :class:`BrowserMissing` when no Chromium is found (:func:`browser_missing` gives the same
    message without raising), ``TimeoutError`` when the browser does not answer. ``progress``
    (e.g. an :mod:`app.exports.jobs` callback) hears 0.1 once the figure is ready, 1.0 at the end.
    """
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise ValueError(f"Unknown still format {fmt!r}: one of {', '.join(FORMATS)}.")
    if scale is None:
        scale = 2 if fmt == "png" else 1
    if not (width > 0 and height > 0 and scale > 0):
        raise ValueError("Width, height and scale must be positive.")
    d = static_figure(fig, title=title, width=width, height=height)
    if progress is not None:
        progress(0.1)
    out = _BROWSER.render(d, dict(format=fmt, width=int(width), height=int(height), scale=scale))
    if progress is not None:
        progress(1.0)
    return out
