"""The Playground and Live Training as a class sees them: ``python -m app.bench --browser``.

Why in the browser: ``python -m app.bench`` stops at a serialized figure on the server. What a
teacher waits for also includes the transfer over Streamlit's websocket, the browser decoding
the messages, the page laying them out and the compositor painting them, and on two cores those
costs, not the engine, set how fast the page answers. So this benchmark serves the app
(:func:`app.devserver.serve`), drives Debian's headless Chromium (:func:`app.devserver.launch`)
through Playwright's sync API at 1280x720, and measures:

1. **Websocket bytes on open** (Playground at ``/`` and at ``/?pg_steps=5000``, 6 runs each): the
   payload bytes of every frame the browser receives on ``/_stcore/stream`` (Playwright's
   ``framereceived``; the server negotiates no permessage-deflate, so payload bytes are wire
   bytes), from navigation until the race has painted, Streamlit's script is not running and no
   frame has arrived for 1.5 s. Also the bytes the browser sent, the HTTP responses' bytes
   (headers and bodies, as ``Request.sizes()`` reports them; a fresh browser context, so nothing
   is cached) and every request to a host other than 127.0.0.1 (there must be none).
2. **Slider -> painted latency**: the sidebar's ``seed`` number input is raised by one with
   ArrowUp, each time to a value this page has never held (Streamlit's browser-side message
   cache would answer a repeated value from memory and flatter the number). At the default
   gradient noise σ = 0 the seed changes nothing, so σ is first set to 0.1 once, untimed. t0 is
   ``performance.now()`` in a capture-phase ``keydown`` listener; the sample is the first entry
   of the race view's ``window.__oeRace.paints`` after t0, minus t0 (page clock). Without that
   instrumentation (the Plotly race) the sample ends at the first DevTools screencast frame
   after Streamlit's script state returned to ``notRunning`` (the page clock is mapped to the
   frames' wall-clock timestamps through ``performance.timeOrigin``). Each sample waits for the
   rerun to finish before the next; 15 samples (``--quick``: 7), fewer if a scene's samples take
   longer than a minute in all (the report says so).
3. **Painted frames per second while playing**: the race is replayed from step 0 and the
   DevTools screencast (JPEG, quality 30, every frame acknowledged) counts compositor frames
   whose picture changed over 4 s; the race is replayed again if it ends inside the window. Also
   the race view's own animation frames per second (``__oeRace.frames``, or Plotly's
   ``plotly_animatingframe`` events for the old race).
4. **Live Training redraws per second** with 2 and with 4 runs, each in a fresh page: Start, 6 s
   from the first redraw on, Pause. Redraws/s and training steps/s on screen are the increase of
   ``window.__oeLive``'s ``redraws`` and ``step`` over the window;
   without it, redraws are the fragment reruns that finished (``script_finished`` messages on the
   websocket, decoded with Streamlit's own protobuf classes) and the step is the highest
   "step N" the page shows.

Every number is printed next to its target and the baseline measured before this work. A
measurement that fails prints its reason and the others go on; ``--json PATH`` writes the numbers.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import urlsplit

from app.devserver import chromium_path, launch, serve

__all__ = ["Target", "TARGETS", "BASELINES", "payload_bytes", "percentile", "median", "summarize",
           "foreign_host", "StreamCounter", "fmt_bytes", "format_report", "run"]

VIEWPORT = {"width": 1280, "height": 720}
LOCAL_HOST = "127.0.0.1"
STREAM_PATH = "/_stcore/stream"
OPEN_QUIET_S = 1.5  # "idle": this long without a websocket frame
SAMPLE_QUIET_S = 0.3  # between latency samples
PLAY_S = 4.0  # the window counting painted frames while the race plays
LIVE_S = 6.0  # the window counting Live Training's redraws
NOISE_FOR_SEED = "0.1"  # the gradient noise σ at which a new seed is a new race
SCENES = (("default", "", "default scene (`/`)"),
          ("6x5000", "?pg_steps=5000", "6 runs x 5,000 steps (`/?pg_steps=5000`)"))
LIVE_RUNS = (2, 4)
LOG_PATH = os.path.join(tempfile.gettempdir(), "optimizer-explorer-browser-bench.log")


# ---------------------------------------------------------------------------------------
# Targets, baselines and the pure helpers (tests/test_browser_bench.py)
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """A bound a number must meet: at most ``limit`` (bytes, ms) or at least ``limit`` (rates)."""

    limit: float
    at_least: bool
    unit: str  # "B", "ms", "fps", "/s"

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.limit if self.at_least else value <= self.limit

    def __str__(self) -> str:
        return ("≥ " if self.at_least else "≤ ") + fmt_value(self.limit, self.unit)


TARGETS = {
    "open_bytes": {"default": Target(300e3, False, "B"), "6x5000": Target(2e6, False, "B")},
    "latency_ms": {"default": Target(150, False, "ms"), "6x5000": Target(400, False, "ms")},
    "fps": Target(24, True, "fps"),
    "live_redraws": {2: Target(5, True, "/s"), 4: Target(3, True, "/s")},
    "live_steps": Target(300, True, "/s"),
}
BASELINES = {
    "open_bytes": {"default": "2.7 MB", "6x5000": "29 MB"},
    "latency_ms": "~1,500 ms",
    "fps": "~14 fps",
    "live_redraws": "0.5–1.5 /s",
}


def payload_bytes(payload: bytes | str) -> int:
    """Bytes of one websocket payload: Playwright gives binary frames as bytes, text frames as str."""
    return len(payload) if isinstance(payload, (bytes, bytearray)) else len(payload.encode("utf-8"))


def percentile(values, q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between order statistics (numpy's default)."""
    xs = sorted(float(v) for v in values)
    if not xs:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q} is outside [0, 100]")
    import numpy as np

    return float(np.percentile(xs, q))  # linear between order statistics


def median(values) -> float:
    return percentile(values, 50)


def summarize(samples) -> dict:
    """Median, min, max and count of latency samples (ms)."""
    xs = list(samples)
    return {"median": median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def foreign_host(url: str) -> str | None:
    """The host of a network URL that is not the local server (None for 127.0.0.1, data:, blob:, ...)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return None
    return None if parts.hostname == LOCAL_HOST else (parts.hostname or url)


def _finished_status(payload: bytes | str) -> str | None:
    """The status name if ``payload`` is a ``script_finished`` ForwardMsg, else None. Only small binary
    messages are decoded: a script_finished message is a few bytes, a delta is usually far larger."""
    if not isinstance(payload, (bytes, bytearray)) or len(payload) > 1024:
        return None
    from google.protobuf.message import DecodeError
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg()
    try:
        msg.ParseFromString(bytes(payload))
    except DecodeError:
        return None
    if msg.WhichOneof("type") != "script_finished":
        return None
    return ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)


class StreamCounter:
    """Bytes and frames over Streamlit's websocket (``/_stcore/stream``) of one page, and the script runs
    it reports finished (by status: ``FINISHED_SUCCESSFULLY``, ``FINISHED_FRAGMENT_RUN_SUCCESSFULLY``, ...)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.received = self.sent = self.frames = 0
        self.last_frame = clock()
        self.finished: collections.Counter = collections.Counter()

    def attach(self, page) -> None:
        page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws) -> None:
        if urlsplit(ws.url).path == STREAM_PATH:
            ws.on("framereceived", self.on_received)
            ws.on("framesent", self.on_sent)

    def on_received(self, payload: bytes | str) -> None:
        self.received += payload_bytes(payload)
        self.frames += 1
        self.last_frame = self.clock()
        status = _finished_status(payload)
        if status is not None:
            self.finished[status] += 1

    def on_sent(self, payload: bytes | str) -> None:
        self.sent += payload_bytes(payload)

    @property
    def runs(self) -> int:
        """Script runs (whole or fragment) the server reported finished."""
        return sum(self.finished.values())

    @property
    def fragment_runs(self) -> int:
        return self.finished["FINISHED_FRAGMENT_RUN_SUCCESSFULLY"]

    def quiet_for(self) -> float:
        return self.clock() - self.last_frame


def fmt_bytes(n: float) -> str:
    """Decimal units, as the targets are given: 54 B, 300 kB, 2.80 MB."""
    if n < 1e3:
        return f"{n:.0f} B"
    if n < 1e6:
        return f"{n / 1e3:.3g} kB" if n < 1e5 else f"{n / 1e3:.0f} kB"
    return f"{n / 1e6:.3g} MB" if n < 1e8 else f"{n / 1e6:.0f} MB"


def fmt_value(value: float, unit: str) -> str:
    if unit == "B":
        return fmt_bytes(value)
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "fps":
        return f"{value:.3g} fps" if value < 100 else f"{value:,.0f} fps"
    return f"{value:.3g} /s" if value < 1000 else f"{value:,.0f} /s"


def _met(target: Target, value: float | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[target.met(value)]


def _problem(entry: dict | None) -> str | None:
    """Why a measurement has no numbers (None if it has them)."""
    if entry is None:
        return "not measured"
    return f"failed: {entry['error']}" if "error" in entry else None


def _table(columns: list[tuple[str, str]], rows: list[dict]) -> list[str]:
    """Markdown table lines; ``columns`` are (title, alignment rule such as ``--:``), a row maps titles to
    cells (a missing cell is empty)."""
    lines = ["| " + " | ".join(title for title, _ in columns) + " |",
             "|" + "|".join(rule for _, rule in columns) + "|"]
    return lines + ["| " + " | ".join(str(row.get(title, "")) for title, _ in columns) + " |" for row in rows]


def format_report(results: dict) -> str:
    """The markdown report of :func:`run`'s results: each number beside its target and the baseline."""
    meta = results.get("meta", {})
    out = ["# Browser benchmark: Optimizer Explorer in headless Chromium", "",
           f"Chromium {meta.get('chromium', '?')}, viewport {VIEWPORT['width']}x{VIEWPORT['height']}, server on "
           f"{LOCAL_HOST}{', quick run' if meta.get('quick') else ''}"
           + (f"; took {meta['seconds']:.0f} s." if "seconds" in meta else ".")]
    if "error" in results:
        out += ["", f"**The benchmark could not run: {results['error']}**"]

    rows = []
    for key, _, label in SCENES:
        e, target = results.get("open", {}).get(key), TARGETS["open_bytes"][key]
        row = {"scene": label, "target": target, "met": "–", "baseline": BASELINES["open_bytes"][key]}
        why = _problem(e)
        if why:
            row["received"] = why
        else:
            row.update({"received": fmt_bytes(e["received"]), "met": _met(target, e["received"]),
                        "sent": fmt_bytes(e["sent"]), "HTTP responses": fmt_bytes(e["http"]),
                        "frames": f"{e['frames']:,}", "last frame at": f"{e['seconds']:.1f} s"})
        rows.append(row)
    hosts = results.get("foreign_hosts")
    out += ["", f"## 1. Websocket bytes on open (navigation → race painted, then {OPEN_QUIET_S:g} s without a frame)",
            ""]
    out += _table([("scene", "---"), ("received", "--:"), ("target", "--:"), ("met", ":-:"), ("baseline", "--:"),
                   ("sent", "--:"), ("HTTP responses", "--:"), ("frames", "--:"), ("last frame at", "--:")], rows)
    out += ["", "Requests to hosts other than 127.0.0.1: "
            + ("not checked." if hosts is None else ", ".join(f"**{h}**" for h in hosts) if hosts else "none.")]

    rows = []
    for key, _, label in SCENES:
        e, target = results.get("latency", {}).get(key), TARGETS["latency_ms"][key]
        row = {"scene": label, "target": target, "met": "–", "baseline": BASELINES["latency_ms"]}
        why = _problem(e)
        if why:
            row["median"] = why
        else:
            row.update({"median": fmt_value(e["median"], "ms"), "min": fmt_value(e["min"], "ms"),
                        "max": fmt_value(e["max"], "ms"), "n": e["n"], "met": _met(target, e["median"]),
                        "received per change": fmt_bytes(e["bytes_per_change"]), "method": e["method"]})
        rows.append(row)
    out += ["", "## 2. Slider → painted latency", "",
            f"The sidebar's `seed` raised by one (ArrowUp), each time to a value the session never held, after "
            f"setting gradient noise σ to {NOISE_FOR_SEED} once, untimed (at σ = 0 a new seed is the same race).", ""]
    out += _table([("scene", "---"), ("median", "--:"), ("min", "--:"), ("max", "--:"), ("n", "--:"),
                   ("target", "--:"), ("met", ":-:"), ("baseline", "--:"), ("received per change", "--:"),
                   ("method", "---")], rows)

    rows = []
    target = TARGETS["fps"]
    for key, _, label in SCENES:
        e = results.get("fps", {}).get(key)
        row = {"scene": label, "target": target, "met": "–", "baseline": BASELINES["fps"]}
        why = _problem(e)
        if why:
            row["painted fps"] = why
        else:
            row.update({"painted fps": f"{e['fps']:.3g}", "met": _met(target, e["fps"]),
                        "race's own frames/s": f"{e['race_fps']:.3g} ({e['race_fps_source']})",
                        "replays": e["replays"], "window": f"{e['seconds']:.1f} s"})
        rows.append(row)
    out += ["", f"## 3. Painted frames per second while playing ({PLAY_S:g} s of DevTools screencast frames that "
                "changed)", ""]
    out += _table([("scene", "---"), ("painted fps", "--:"), ("target", "--:"), ("met", ":-:"), ("baseline", "--:"),
                   ("race's own frames/s", "--:"), ("replays", "--:"), ("window", "--:")], rows)

    rows = []
    steps_target = TARGETS["live_steps"]
    for runs in LIVE_RUNS:
        e, target = results.get("live", {}).get(str(runs)), TARGETS["live_redraws"][runs]
        row = {"runs": runs, "target": target, "met": "–", "steps target": steps_target, "steps met": "–",
               "baseline": BASELINES["live_redraws"]}
        why = _problem(e)
        if why:
            row["redraws/s"] = why
        else:
            steps = e["steps_per_s"]
            row.update({"redraws/s": fmt_value(e["redraws_per_s"], "/s"), "met": _met(target, e["redraws_per_s"]),
                        "steps/s on screen": "–" if steps is None else fmt_value(steps, "/s"),
                        "steps met": _met(steps_target, steps), "window": f"{e['seconds']:.1f} s",
                        "method": e["method"]})
        rows.append(row)
    out += ["", f"## 4. Live Training (Start, {LIVE_S:g} s from the first redraw, Pause)", ""]
    out += _table([("runs", "--:"), ("redraws/s", "--:"), ("target", "--:"), ("met", ":-:"), ("baseline", "--:"),
                   ("steps/s on screen", "--:"), ("steps target", "--:"), ("steps met", ":-:"), ("window", "--:"),
                   ("method", "---")], rows)

    e = results.get("under_export")
    if e is not None:
        out += ["", f"## 5. Slider → painted while another session renders an {EXPORT_KIND}", ""]
        why = _problem(e)
        if why:
            out += [f"Not measured: {why}"]
        else:
            target = TARGETS["latency_ms"]["default"]
            out += _table([("median", "--:"), ("min", "--:"), ("max", "--:"), ("n", "--:"), ("quiet target", "--:"),
                           ("met", ":-:"), ("export took", "--:")],
                          [{"median": fmt_value(e["median"], "ms"), "min": fmt_value(e["min"], "ms"),
                            "max": fmt_value(e["max"], "ms"), "n": e["n"], "quiet target": target,
                            "met": _met(target, e["median"]), "export took": f"{e['export_seconds']:.1f} s"}])
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------------------

# Installed once a page is open: t0 of an armed key press (capture phase, before Streamlit sees it)
# and every moment Streamlit's script state returns to notRunning, both on the page clock.
PAGE_PROBES_JS = """() => {
    if (window.__bb) return;
    const bb = window.__bb = {armed: false, t0: null, idle: []};
    document.addEventListener('keydown', () => {
        if (bb.armed) { bb.armed = false; bb.t0 = performance.now(); }
    }, true);
    const app = document.querySelector('[data-testid=stApp]');
    new MutationObserver(() => {
        if (app.getAttribute('data-test-script-state') === 'notRunning') bb.idle.push(performance.now());
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
SCRIPT_STATE_JS = "() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state')"
# The new race view (custom component) or, until it lands, the Plotly race with its landscape image.
RACE_PAINTED_JS = """() => (window.__oeRace && window.__oeRace.renders > 0)
    || !!document.querySelector('.js-plotly-plot .imagelayer image')"""
# Live Training at one moment: [page clock, redraws, highest step drawn]; without __oeLive, redraws are
# counted on the websocket (null here) and the step is the highest "step N · epoch" text.
LIVE_OE_JS = "() => [performance.now(), window.__oeLive.redraws, window.__oeLive.step]"
LIVE_TEXT_JS = r"""() => {
    const steps = [...document.body.innerText.matchAll(/step ([\d,]+) · epoch/g)].map(m => +m[1].replace(/,/g, ''));
    return [performance.now(), null, steps.length ? Math.max(...steps) : null];
}"""


def _wait_until(page, predicate: Callable[[], bool], timeout: float, what: str, poll_ms: int = 50) -> None:
    """Let Playwright dispatch events (websocket frames, screencast frames) until ``predicate()`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        page.wait_for_timeout(poll_ms)


def wait_idle(page, stream: StreamCounter, quiet: float, timeout: float = 120.0) -> None:
    """Until Streamlit's script is not running and the websocket has been quiet for ``quiet`` seconds."""
    _wait_until(page, lambda: stream.quiet_for() >= quiet and page.evaluate(SCRIPT_STATE_JS) == "notRunning",
                timeout, "idle page (script not running, websocket quiet)", poll_ms=100)


class HttpLog:
    """HTTP responses of one browser context, and every request to another host (into ``foreign``)."""

    def __init__(self, context, foreign: set):
        self.foreign = foreign
        self.finished = []
        context.on("request", lambda req: self.check(req.url))
        context.on("requestfinished", lambda req: self.finished.append(req))
        # A websocket's handshake is no "request" event: check its URL too (pages opened from now on).
        context.on("page", lambda page: page.on("websocket", lambda ws: self.check(ws.url)))

    def check(self, url: str) -> None:
        host = foreign_host(url)
        if host:
            self.foreign.add(host)

    def response_bytes(self) -> int:
        total = 0
        for req in self.finished:
            sizes = req.sizes()
            total += max(sizes["responseHeadersSize"], 0) + max(sizes["responseBodySize"], 0)
        return total


class Screencast:
    """The page's DevTools screencast: the wall-clock time (s) of every frame whose picture changed."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.times: list[float] = []
        self._last_digest = None
        self.cdp.on("Page.screencastFrame", self._on_frame)

    def start(self) -> None:
        self.cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 30, "everyNthFrame": 1})

    def stop(self) -> None:
        self.cdp.send("Page.stopScreencast")

    def _on_frame(self, frame: dict) -> None:
        self.cdp.send("Page.screencastFrameAck", {"sessionId": frame["sessionId"]})
        digest = hashlib.blake2b(frame["data"].encode("ascii"), digest_size=16).digest()
        if digest != self._last_digest:
            self._last_digest = digest
            self.times.append(frame.get("metadata", {}).get("timestamp") or time.time())

    def count_between(self, start: float, end: float) -> int:
        return sum(start <= t <= end for t in self.times)

    def first_after(self, t: float) -> float | None:
        return next((s for s in self.times if s > t), None)


class RaceView:
    """The Playground's race in a page: the custom component (``div.oe-race``, ``window.__oeRace``) or,
    as a fallback until it lands, the Plotly race (its updatemenu buttons and animation events)."""

    # Before a replay of the Plotly race: count its animation frames (Streamlit may have replaced the
    # chart's element on a rerun, so hook the one on the page now) and mark it playing until it ends.
    ARM_PLOTLY_JS = """() => {
        const s = (window.__bbPlot ||= {frames: 0, playing: false});
        const gd = document.querySelector('.js-plotly-plot');
        if (!gd.__bbHooked) {
            gd.__bbHooked = true;
            gd.on('plotly_animatingframe', () => { s.frames += 1; s.playing = true; });
            gd.on('plotly_animated', () => { s.playing = false; });
        }
        s.playing = true;
    }"""

    def __init__(self, page):
        self.page = page
        self.instrumented = bool(page.evaluate("() => !!window.__oeRace"))

    def _button(self, role: str, plotly_label: str):
        if self.instrumented:
            return self.page.locator(f"div.oe-race [data-role={role}]").first
        return self.page.locator(".updatemenu-button", has_text=plotly_label).first

    def frames(self) -> int:
        return int(self.page.evaluate("() => (window.__oeRace || window.__bbPlot).frames"))

    def playing(self) -> bool:
        return bool(self.page.evaluate("() => (window.__oeRace || window.__bbPlot).playing"))

    def replay(self) -> None:
        """Play from step 0."""
        if not self.instrumented:
            self.page.evaluate(self.ARM_PLOTLY_JS)
        self._button("replay", "Replay").click()
        if self.instrumented:
            self.page.wait_for_timeout(200)
            if not self.playing():
                self._button("play", "Play").click()

    def pause(self) -> None:
        if self.playing():
            self._button("play", "Pause").click()

    @property
    def frames_source(self) -> str:
        return "__oeRace.frames" if self.instrumented else "Plotly animation frames"


def measure_open(page, stream: StreamCounter, http: HttpLog, url: str) -> dict:
    """Bytes from navigation until the race has painted and the page is idle; ``seconds``: the last frame."""
    t0 = time.monotonic()
    page.goto(url)
    page.wait_for_function(RACE_PAINTED_JS, timeout=180_000, polling=100)
    wait_idle(page, stream, OPEN_QUIET_S, timeout=180)
    return {"received": stream.received, "sent": stream.sent, "frames": stream.frames,
            "http": http.response_bytes(), "seconds": stream.last_frame - t0}


def _set_noise_for_seed(page, stream: StreamCounter) -> None:
    """Gradient noise σ 0 → 0.1 (one untimed rerun): at σ = 0 a new seed is the same race."""
    noise = page.locator("section[data-testid=stSidebar] input[type=range][aria-label='gradient noise σ']")
    runs = stream.runs
    for _ in range(8):
        if noise.get_attribute("aria-valuetext") == NOISE_FOR_SEED:
            break
        noise.press("ArrowRight")
    if noise.get_attribute("aria-valuetext") != NOISE_FOR_SEED:
        raise RuntimeError(f"could not set gradient noise σ to {NOISE_FOR_SEED}")
    _wait_until(page, lambda: stream.runs > runs, 180, "rerun after the noise change")
    wait_idle(page, stream, SAMPLE_QUIET_S)


def _latency_sample(page, stream: StreamCounter, screencast: Screencast, race: RaceView, seed) -> tuple[float, int]:
    """One seed +1: (ms from the key press to the paint, websocket bytes received)."""
    received, runs = stream.received, stream.runs
    page.evaluate("() => { window.__bb.armed = true; window.__bb.t0 = null; }")
    seed.press("ArrowUp")
    if race.instrumented:
        page.wait_for_function("() => window.__bb.t0 !== null && window.__oeRace.paints.some(t => t > window.__bb.t0)",
                               timeout=120_000, polling=50)
        ms = page.evaluate("() => window.__oeRace.paints.find(t => t > window.__bb.t0) - window.__bb.t0")
    _wait_until(page, lambda: stream.runs > runs, 180, "finished rerun after the seed change")
    wait_idle(page, stream, SAMPLE_QUIET_S)
    if not race.instrumented:
        origin, t0, idle = page.evaluate(
            "() => [performance.timeOrigin, window.__bb.t0, window.__bb.idle.find(t => t > window.__bb.t0)]")
        if t0 is None or idle is None:
            raise RuntimeError("the page recorded no key press or no return to notRunning")
        _wait_until(page, lambda: screencast.first_after((origin + idle) / 1e3) is not None, 5,
                    "screencast frame after the app became idle")
        ms = screencast.first_after((origin + idle) / 1e3) * 1e3 - (origin + t0)
    return float(ms), stream.received - received


def measure_latency(page, stream: StreamCounter, screencast: Screencast, race: RaceView, samples: int,
                    budget_s: float) -> dict:
    """Up to ``samples`` seed changes (fewer if they take longer than ``budget_s``): median, min, max in ms."""
    page.evaluate(PAGE_PROBES_JS)
    _set_noise_for_seed(page, stream)
    seed = page.locator("section[data-testid=stSidebar] input[aria-label=seed]")
    seed.focus()
    ms, received = [], []
    start = time.monotonic()
    while len(ms) < samples and time.monotonic() - start < budget_s:
        m, b = _latency_sample(page, stream, screencast, race, seed)
        ms.append(m)
        received.append(b)
    method = ("first `__oeRace.paints` entry after the keydown" if race.instrumented else
              "fallback (race view has no instrumentation): first screencast frame after Streamlit went idle")
    result = {**summarize(ms), "samples_ms": ms, "bytes_per_change": median(received), "method": method,
              "control": f"seed +1 (ArrowUp) at gradient noise σ = {NOISE_FOR_SEED}"}
    if len(ms) < samples:
        result["method"] += f"; stopped at {len(ms)} of {samples} samples (time budget {budget_s:.0f} s)"
    return result


def measure_playing(page, race: RaceView, screencast: Screencast, seconds: float) -> dict:
    """Replay, then changed screencast frames and the race's own frames per second over ``seconds``."""
    race.replay()
    page.wait_for_timeout(300)
    replays = 0
    frames0, start = race.frames(), time.time()
    while time.time() - start < seconds:
        page.wait_for_timeout(200)
        if not race.playing():  # the race ended inside the window: play it again
            race.replay()
            replays += 1
    end, frames1 = time.time(), race.frames()
    race.pause()
    page.wait_for_timeout(300)  # frames painted before `end` still on their way
    span = end - start
    return {"fps": screencast.count_between(start, end) / span, "race_fps": (frames1 - frames0) / span,
            "race_fps_source": race.frames_source, "replays": replays, "seconds": span}


@contextlib.contextmanager
def _fresh_page(browser, foreign: set) -> Iterator[tuple[object, StreamCounter, HttpLog]]:
    """A page in a new browser context (empty cache), its websocket counter and HTTP log."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        http = HttpLog(context, foreign)
        page = context.new_page()
        stream = StreamCounter()
        stream.attach(page)
        yield page, stream, http
    finally:
        context.close()


def measure_playground(browser, url: str, samples: int, latency_budget_s: float, play_seconds: float,
                       foreign: set) -> dict:
    """Open, slider latency and playing fps of one scene, in one fresh page."""
    out = {}
    with _fresh_page(browser, foreign) as (page, stream, http):
        out["open"] = _attempt(lambda: measure_open(page, stream, http, url))
        if "error" in out["open"]:
            out["latency"] = out["fps"] = {"error": "the page did not open"}
            return out
        screencast = Screencast(page)
        screencast.start()
        race = RaceView(page)
        out["latency"] = _attempt(lambda: measure_latency(page, stream, screencast, race, samples, latency_budget_s))
        if "error" in out["latency"]:
            # The page may still be mid-rerun; measure the animation on a settled page.
            _attempt(lambda: wait_idle(page, stream, SAMPLE_QUIET_S))
            race = RaceView(page)
        out["fps"] = _attempt(lambda: measure_playing(page, race, screencast, play_seconds))
        screencast.stop()
    return out


EXPORT_KIND = "MP4 1920x1080"  # the heaviest export: rendered by one session while another drags a slider
EXPORT_MENU = "Export: stills, GIF, MP4, page, data, script"


def measure_under_export(browser, url: str, samples: int, budget_s: float, foreign: set) -> dict:
    """Slider -> painted in one session while another session renders an MP4 (app.exports.jobs: one
    worker thread at low priority, ffmpeg in its own process): the classroom case of a teacher
    exporting while students drag sliders. Samples are counted only while the export is running."""
    with _fresh_page(browser, foreign) as (busy, busy_stream, busy_http), \
            _fresh_page(browser, foreign) as (page, stream, http):
        measure_open(busy, busy_stream, busy_http, url)
        measure_open(page, stream, http, url)
        screencast = Screencast(page)
        screencast.start()
        race = RaceView(page)
        page.evaluate(PAGE_PROBES_JS)
        _set_noise_for_seed(page, stream)
        seed = page.locator("section[data-testid=stSidebar] input[aria-label=seed]")
        busy.get_by_role("button", name=EXPORT_MENU).click()
        started = time.monotonic()
        busy.get_by_role("button", name=f"Render {EXPORT_KIND}").click()
        busy.get_by_text(f"Rendering {EXPORT_KIND}").first.wait_for(timeout=60_000)
        done = busy.get_by_role("button", name=f"Download {EXPORT_KIND}")
        seed.focus()
        ms = []
        while len(ms) < samples and time.monotonic() - started < budget_s and not done.is_visible():
            m, _ = _latency_sample(page, stream, screencast, race, seed)
            if not done.is_visible():
                ms.append(m)
        done.wait_for(timeout=180_000)
        export_s = time.monotonic() - started
        screencast.stop()
    if not ms:
        raise RuntimeError(f"the {EXPORT_KIND} finished before a sample was taken ({export_s:.1f} s)")
    return {**summarize(ms), "samples_ms": ms, "export": EXPORT_KIND, "export_seconds": export_s}


def _live_snapshot(page, stream: StreamCounter, instrumented: bool) -> tuple[float, int, int | None]:
    """(page clock in s, redraws so far, highest step drawn) at one moment."""
    now, redraws, step = page.evaluate(LIVE_OE_JS if instrumented else LIVE_TEXT_JS)
    return now / 1e3, int(stream.fragment_runs if redraws is None else redraws), step


def measure_live(browser, base: str, runs: int, seconds: float, foreign: set) -> dict:
    """Live Training with ``runs`` runs in a fresh page (``__oeLive.step`` is the highest step the page
    ever drew, so each race gets its own page): Start, ``seconds`` from the first redraw on, Pause."""
    with _fresh_page(browser, foreign) as (page, stream, _):
        page.goto(base + "live-training")
        start = page.get_by_role("button", name=re.compile(r"\bStart\b"))
        try:
            start.wait_for(timeout=120_000)
        except Exception:
            torch_missing = "torch" in page.evaluate("() => document.body.innerText").lower()
            raise RuntimeError("PyTorch is not installed" if torch_missing else "no Start button") from None
        wait_idle(page, stream, SAMPLE_QUIET_S)
        choice = page.get_by_role("radiogroup", name="Runs").get_by_role("radio", name=str(runs), exact=True)
        if choice.get_attribute("aria-checked") != "true":
            before = stream.runs
            choice.click()
            _wait_until(page, lambda: stream.runs > before, 120, f"rerun after choosing {runs} runs")
            wait_idle(page, stream, SAMPLE_QUIET_S)
        # The view's script may load only when it first draws: look for __oeLive after the first redraw.
        redraws = page.evaluate("() => window.__oeLive ? window.__oeLive.redraws : 0")
        fragments = stream.fragment_runs
        start.click()
        _wait_until(page, lambda: stream.fragment_runs > fragments or page.evaluate(
            "r => !!window.__oeLive && window.__oeLive.redraws > r", redraws), 120, "first live redraw after Start")
        instrumented = bool(page.evaluate("() => !!window.__oeLive"))
        t0, r0, s0 = _live_snapshot(page, stream, instrumented)
        page.wait_for_timeout(seconds * 1000)
        t1, r1, s1 = _live_snapshot(page, stream, instrumented)
        page.get_by_role("button", name=re.compile(r"\bPause\b")).click()
        wait_idle(page, stream, SAMPLE_QUIET_S)
    span = t1 - t0
    method = ("`__oeLive` redraws and step" if instrumented else
              "fallback (no `__oeLive`): fragment reruns finished (websocket `script_finished`) and the highest "
              "'step N' shown")
    return {"redraws_per_s": (r1 - r0) / span,
            "steps_per_s": None if s0 is None or s1 is None else (s1 - s0) / span,
            "seconds": span, "method": method}


def _attempt(fn: Callable[[], dict | None]) -> dict:
    """``fn()``, or ``{"error": reason}`` if it raised: one failed measurement does not stop the others."""
    try:
        return fn() or {}
    except Exception as exc:  # noqa: BLE001 - reported in the table, the benchmark goes on
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return {"error": f"{type(exc).__name__}: {reason}"[:300]}


def _missing_tool() -> str | None:
    """Why the benchmark cannot run here, if it cannot."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright (Python) is not installed: pip install -e \".[test]\""
    if chromium_path() is None:
        return "Debian's Chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)"
    return None


def measure_all(results: dict, samples: int, latency_budget_s: float, play_s: float, live_s: float) -> None:
    """Serve the app, open Chromium and fill ``results`` measurement by measurement."""
    from playwright.sync_api import sync_playwright

    foreign: set = set()
    with serve(log_path=LOG_PATH) as base, sync_playwright() as pw:
        browser = launch(pw)
        results["meta"]["chromium"] = browser.version
        try:
            for key, query, _ in SCENES:
                scene = measure_playground(browser, base + query, samples, latency_budget_s, play_s, foreign)
                for part, value in scene.items():
                    results[part][key] = value
            for runs in LIVE_RUNS:
                results["live"][str(runs)] = _attempt(lambda runs=runs: measure_live(browser, base, runs, live_s,
                                                                                     foreign))
            results["under_export"] = _attempt(lambda: measure_under_export(browser, base, samples, latency_budget_s,
                                                                            foreign))
        finally:
            browser.close()
    results["foreign_hosts"] = sorted(foreign)


def run(quick: bool = False, json_path: str | None = None) -> dict:
    """Measure, print the report, write the numbers to ``json_path`` if given; returns them."""
    samples, budget_s = (7, 45.0) if quick else (15, 60.0)
    results: dict = {"meta": {"quick": quick, "samples": samples}, "open": {}, "latency": {}, "fps": {}, "live": {}}
    start = time.monotonic()
    why = _missing_tool()
    if why:
        results["error"] = why
    else:
        try:
            measure_all(results, samples, budget_s, PLAY_S, LIVE_S)
        except Exception as exc:  # noqa: BLE001 - the server or the browser did not start: say so in the report
            results["error"] = f"{type(exc).__name__}: {exc} (server log: {LOG_PATH})"
    results["meta"]["seconds"] = time.monotonic() - start
    print(format_report(results), end="")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nNumbers written to {json_path}")
    sys.stdout.flush()
    return results
