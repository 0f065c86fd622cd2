"""A local Streamlit server and a headless Chromium, for the browser tests and the browser benchmark.

``serve()`` starts ``streamlit run app/main.py`` on a free localhost port with the settings a
class would see (no usage stats, no Deploy button, no file watcher), waits for
``/_stcore/health`` and stops the server afterwards. ``launch(playwright)`` opens Debian's
Chromium (``/usr/bin/chromium``; never ``playwright install``) with the flags that keep it
from reaching the internet on its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Iterator, Sequence

__all__ = ["CHROMIUM", "LAUNCH_ARGS", "ROOT", "free_port", "serve", "stop", "launch", "chromium_path"]

CHROMIUM = "/usr/bin/chromium"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
               "--disable-extensions"]
SERVER_ARGS = ["--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
               # A headless server otherwise asks an outside service for its address (a 2 s wait offline).
               "--browser.serverAddress", "127.0.0.1"]


def chromium_path() -> str | None:
    """Debian's Chromium, if installed."""
    import shutil

    if os.path.exists(CHROMIUM):
        return CHROMIUM
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it has not exited within 15 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def serve(extra_args: Sequence[str] = (), log_path: str | None = None, timeout: float = 60.0) -> Iterator[str]:
    """Run the app on a free port; yields its base URL (``http://127.0.0.1:PORT/``)."""
    port = free_port()
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", os.path.join(ROOT, "app", "main.py"), *SERVER_ARGS,
         "--server.port", str(port), *extra_args],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"streamlit did not start{f' (see {log_path})' if log_path else ''}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)
        if log_path:
            log.close()


def launch(playwright, **kwargs):
    """Debian's Chromium through Playwright (headless, no background networking)."""
    return playwright.chromium.launch(executable_path=chromium_path() or CHROMIUM, args=LAUNCH_ARGS, **kwargs)
