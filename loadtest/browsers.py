"""Real Chromium sessions beside the simulated ones: what the browser's user sees under the load.

Each session is a thread with its own Playwright and Debian's Chromium (``/usr/bin/chromium``
through :func:`app.devserver.launch`; never ``playwright install``). It opens the Playground, waits
for the race to be painted, then measures slider -> painted latency until its time is up, exactly as
the browser benchmark does (:func:`app.browser_bench.measure_latency`: the sidebar's seed raised by
one with ArrowUp at gradient noise 0.1, from the keydown to the race view's first paint after it).
"""

from __future__ import annotations

import threading
import time

__all__ = ["start", "one_session"]


def one_session(base_url: str, index: int, deadline: float, out: list) -> None:
    """One Chromium session until ``deadline`` (``time.monotonic()``); appends its numbers to ``out``."""
    try:
        from playwright.sync_api import sync_playwright

        from app import browser_bench as BB
        from app.devserver import chromium_path, launch
        from loadtest.stats import percentile

        if chromium_path() is None:
            raise RuntimeError("Debian's Chromium is not installed at /usr/bin/chromium")
        with sync_playwright() as pw:
            browser = launch(pw)
            try:
                context = browser.new_context(viewport=BB.VIEWPORT)
                page = context.new_page()
                stream = BB.StreamCounter()
                stream.attach(page)
                t0 = time.monotonic()
                page.goto(base_url)
                page.wait_for_function(BB.RACE_PAINTED_JS, timeout=180_000, polling=100)
                BB.wait_idle(page, stream, BB.SAMPLE_QUIET_S, timeout=180)
                open_s = time.monotonic() - t0
                screencast = BB.Screencast(page)
                screencast.start()
                race = BB.RaceView(page)
                budget = max(5.0, deadline - time.monotonic())
                res = BB.measure_latency(page, stream, screencast, race, samples=1_000_000, budget_s=budget)
                screencast.stop()
                ms = res["samples_ms"]
                out.append({"index": index, "n": len(ms), "median": res["median"], "p95": percentile(ms, 95),
                            "max": res["max"], "samples_ms": ms, "open_s": open_s, "method": res["method"],
                            "bytes_per_change": res["bytes_per_change"]})
            finally:
                browser.close()
    except Exception as exc:  # noqa: BLE001 - reported in the table; the load test goes on
        out.append({"index": index, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:300]})


def start(base_url: str, n: int, seconds: float) -> tuple[list[threading.Thread], list]:
    """``n`` sessions for about ``seconds``: their threads (join them) and the list their numbers land in."""
    out: list = []
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=one_session, args=(base_url, i + 1, deadline, out), name=f"chromium-{i + 1}",
                                daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return threads, out
