"""``python -m loadtest memory``: the server's memory with N sessions open, and after they leave.

One app server process (started here, the flags of :mod:`app.devserver`, unless ``--url`` names a
running one; then ``--server-pid`` says which process to read). For each step N of ``--steps``
(default ``0,10,30,60``), in that one process:

1. N simulated browser tabs (:class:`loadtest.protocol.Session`, Streamlit's websocket protocol)
   each open the Playground with a seed of their own and do a few things a student does: a new seed,
   a neighbouring learning rate, pausing the race at a step (the race component's state), and every
   fourth one the convergence map tab and back. Every ``--live-every``-th session (default 3) then
   goes to Live Training, sets a seed of its own, presses Start, lets the fragment timer train for
   ``--train`` seconds and presses Pause: torch models and their history in the session state.
   Step 0 is one tab that opens the Playground: the server's idle memory after the first page load.
2. With all N connected, after ``--settle`` seconds: the server's RSS (the process and its children,
   psutil), and from ``/_stcore/metrics`` the active sessions and the bytes Streamlit counts in its
   caches and in session state.
3. Every tab closes its websocket. The server keeps each session for ``server.disconnectedSessionTTL``
   (``--ttl``, passed to the server started here; default: the server's own, 120 s), then may drop
   it. After ``--wait`` seconds (default: the TTL + 40 s) the RSS again: "after leaving".

The peak RSS of each step is sampled every 0.5 s. The steps run one after another in the same
process, so a row's "after leaving" includes whatever the earlier, smaller classes left behind.

    python -m loadtest memory                           # 0, 10, 30, 60 sessions, server defaults
    python -m loadtest memory --ttl 30 --steps 0,10,30,60 --json /tmp/mem.json
    python -m loadtest memory --env MALLOC_ARENA_MAX=2  # an environment variable for the server
    python -m loadtest memory --env OPTIMIZER_EXPLORER_HOUSEKEEPING=0   # without app/housekeeping.py

It prints a table: sessions, RSS with them open (and its anonymous part, ``RssAnon``: the heaps, without
the pages of mapped libraries, which are shared and cached, not the server's to give back), peak, the
same two after they left, and the bytes ``/_stcore/metrics`` counts in ``st.cache_data``.
The sessions' requests are counted; a failed one is reported (the table still says what it measured).
Only loopback: the server is started on 127.0.0.1, and ``--url`` is refused unless it is a loopback
address.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode, urlsplit

__all__ = ["main", "measure", "StepResult", "student", "parse_metrics", "format_table"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MB = 2**20
CONV_TAB, THEORY_TAB = "Convergence map", "Theory"


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m loadtest memory",
                                description="The app server's RSS with 0, 10, 30, 60 simulated sessions open, and "
                                            "after they leave (past server.disconnectedSessionTTL).")
    p.add_argument("--steps", default="0,10,30,60", help="session counts, one step each (default 0,10,30,60)")
    p.add_argument("--ttl", type=int, default=None,
                   help="server.disconnectedSessionTTL for the server started here (default: its own, 120 s)")
    p.add_argument("--wait", type=float, default=None,
                   help="seconds from the last tab closing to the after-leaving reading (default: TTL + 40)")
    p.add_argument("--settle", type=float, default=5.0, help="seconds between the last action and the reading")
    p.add_argument("--live-every", type=int, default=3,
                   help="every k-th session also trains on Live Training (0: none; default 3)")
    p.add_argument("--train", type=float, default=3.0, help="seconds a Live Training session trains (default 3)")
    p.add_argument("--workers", type=int, default=4, help="sessions doing their actions at once (default 4)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds one rerun may take")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="an environment variable for the server started here (repeatable)")
    p.add_argument("--server-args", default="", help="more flags for the server started here")
    p.add_argument("--url", default=None, help="a running app on this machine instead (needs --server-pid)")
    p.add_argument("--server-pid", type=int, default=None, help="with --url: the server's process id")
    p.add_argument("--json", dest="json_path", default=None, help="write every number here")
    p.add_argument("--quiet", action="store_true", help="no progress lines, only the table")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------
# One simulated student
# ---------------------------------------------------------------------------------------

@dataclass
class Tally:
    requests: int = 0
    failures: list[str] = field(default_factory=list)

    def check(self, req) -> bool:
        self.requests += 1
        problem = req.error or (f"script exception: {req.exceptions[0]}" if req.exceptions else None)
        if problem:
            self.failures.append(f"{req.what}: {problem}"[:300])
        return problem is None


def student(url: str, n: int, *, live: bool, train_s: float = 3.0, timeout: float = 120.0,
            tally: Tally | None = None):
    """Tab ``n``: open the Playground, a few changes there, Live Training if ``live``. Returns the open
    :class:`loadtest.protocol.Session` (the caller closes it)."""
    from loadtest.protocol import ProtocolError, Session

    tally = tally if tally is not None else Tally()
    s = Session(url, cache=True, timeout=timeout, name=f"mem-{n}")
    s.connect()
    seed = 7_000_000 + n * 1000
    try:
        if not tally.check(s.open("", urlencode({"pg_noise": "0.1", "pg_seed": seed}), what="open /")):
            return s
        tally.check(s.set("pg_seed", seed + 1, what="slider: seed"))
        w = s.widget("pg_r0_lr")
        cur = (s.value("pg_r0_lr") or w.initial or [w.options[0]])[0]
        i = w.options.index(cur) if cur in w.options else len(w.options) // 2
        tally.check(s.set("pg_r0_lr", w.options[max(0, i - 1 - n % 3)], what="slider: learning rate"))
        tally.check(s.set_component_state("pg_map", "step", 1 + (37 * n) % 400, what="race: pause"))
        if n % 4 == 0:
            tally.check(s.set("pg_tab", CONV_TAB, what="tab: convergence map"))
            tally.check(s.set("pg_tab", THEORY_TAB, what="tab: theory"))
        if live:
            tally.check(s.switch_page("live-training", what="page: Live Training"))
            tally.check(s.set("lt_seed", 1 + n % 9999, what="Live: seed"))
            tally.check(s.click("lt_start", what="Live: Start"))
            s.idle(train_s)  # the fragment timer reruns the live view meanwhile
            tally.check(s.click("lt_pause", what="Live: Pause"))
            s.auto_done.clear()
    except (ProtocolError, ValueError) as exc:
        tally.failures.append(f"tab {n}: {exc}"[:300])
    return s


# ---------------------------------------------------------------------------------------
# The server's numbers
# ---------------------------------------------------------------------------------------

_METRIC = re.compile(r'^(\w+)(?:\{([^}]*)\})?\s+([0-9.eE+-]+)$')


def parse_metrics(text: str) -> dict:
    """From ``/_stcore/metrics`` (OpenMetrics text): active sessions, and cache bytes by cache type."""
    out: dict = {"active_sessions": None, "cache_bytes": {}}
    for line in text.splitlines():
        m = _METRIC.match(line.strip())
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        if name == "active_sessions":
            out["active_sessions"] = int(value)
        elif name == "cache_memory_bytes":
            kind = re.search(r'cache_type="([^"]*)"', labels)
            key = kind.group(1) if kind else "?"
            out["cache_bytes"][key] = out["cache_bytes"].get(key, 0) + int(value)
    return out


def _metrics(url: str) -> dict:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/_stcore/metrics", timeout=10) as r:
            return parse_metrics(r.read().decode("utf-8", "replace"))
    except OSError as exc:
        return {"error": str(exc)}


def _loopback(url: str) -> bool:
    host = urlsplit(url if "://" in url else "http://" + url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


@dataclass
class StepResult:
    sessions: int
    live: int
    rss_open: int | None = None
    peak: int | None = None
    rss_left: int | None = None
    anon_open: int | None = None  # RssAnon: the heap and other private memory (RSS less mapped files)
    anon_left: int | None = None
    waited: float = 0.0
    seconds_to_open: float = 0.0
    metrics_open: dict = field(default_factory=dict)
    metrics_left: dict = field(default_factory=dict)
    requests: int = 0
    failures: list[str] = field(default_factory=list)
    left_curve: list[tuple[float, int]] = field(default_factory=list)  # (s after leaving, RSS)


def measure(url: str, pid: int, steps, *, live_every: int = 3, train_s: float = 3.0, workers: int = 4,
            settle: float = 5.0, wait: float = 160.0, timeout: float = 120.0, say=print,
            results: list | None = None) -> list[StepResult]:
    """Run the steps against ``url`` (server process ``pid``); one :class:`StepResult` each, appended to
    ``results`` (a new list by default) as each step ends, so an interrupted run keeps what it measured."""
    from loadtest.run import Sampler

    results = [] if results is None else results
    numbers = iter(range(1, 10**6))
    for n in steps:
        opened = max(1, n)  # step 0: one tab loads the Playground (the idle server after its first page)
        lives = [k for k in range(opened) if n and live_every and k % live_every == live_every - 1]
        res = StepResult(sessions=n, live=len(lives))
        tally = Tally()
        sampler = Sampler(pid)
        sampler.start()
        t0 = time.monotonic()
        sessions = []
        ids = [next(numbers) for _ in range(opened)]
        with cf.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(student, url, ids[k], live=k in lives, train_s=train_s, timeout=timeout,
                                   tally=tally) for k in range(opened)]
            for f in futures:
                try:
                    sessions.append(f.result())
                except Exception as exc:  # noqa: BLE001 - a tab that could not even connect
                    tally.failures.append(f"connect: {type(exc).__name__}: {exc}"[:300])
        res.seconds_to_open = time.monotonic() - t0
        time.sleep(settle)
        res.rss_open, res.anon_open = sampler.now(), anon_bytes(pid)
        res.metrics_open = _metrics(url)
        say(f"  {n:>3} sessions ({res.live} on Live Training) open: RSS {_mb(res.rss_open)} MB, anon "
            f"{_mb(res.anon_open)} MB "
            f"[{res.seconds_to_open:.0f} s to open; {len(tally.failures)} failed of {tally.requests} requests]")
        for s in sessions:
            s.close()
        t_left = time.monotonic()
        # Read the RSS every 10 s while waiting: how fast (and whether) it comes down.
        while True:
            elapsed = time.monotonic() - t_left
            if elapsed >= wait:
                break
            time.sleep(min(10.0, wait - elapsed))
            rss = sampler.now()
            if rss is not None:
                res.left_curve.append((round(time.monotonic() - t_left, 1), rss))
        res.waited = time.monotonic() - t_left
        res.rss_left, res.anon_left = sampler.now(), anon_bytes(pid)
        res.metrics_left = _metrics(url)
        stats = sampler.stop()
        res.peak = stats.get("peak_rss")
        res.requests, res.failures = tally.requests, tally.failures
        say(f"  {n:>3} sessions left {res.waited:.0f} s ago: RSS {_mb(res.rss_left)} MB, anon {_mb(res.anon_left)} MB "
            f"(peak RSS {_mb(res.peak)} MB)")
        results.append(res)
    return results


def anon_bytes(pid: int) -> int | None:
    """``RssAnon`` of ``pid`` and its children (``/proc/<pid>/status``, Linux): resident memory that is not
    a mapped file, i.e. the heaps. RSS also counts the pages of shared libraries in use (torch's are
    ~100 MB), which are the page cache's, shared and never "returned"."""
    try:
        import psutil

        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except Exception:  # noqa: BLE001 - no psutil, or the process is gone
        return None
    total = 0
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return total or None


def _mb(v) -> str:
    return "–" if v is None else f"{v / MB:.0f}"


def format_table(results: list[StepResult], meta: dict | None = None) -> str:
    lines = []
    if meta:
        lines.append("Server: " + ", ".join(f"{k}={v}" for k, v in meta.items() if v not in (None, "", [], {})))
    head = (f"{'sessions':>8} {'live':>4} {'RSS MB':>7} {'anon MB':>7} {'peak MB':>7} {'after-leave RSS MB':>18} "
            f"{'after-leave anon MB':>19} {'waited s':>8} {'cache_data MB':>13} {'failed':>6}")
    lines += [head, "-" * len(head)]
    for r in results:
        cb = r.metrics_open.get("cache_bytes", {})
        lines.append(f"{r.sessions:>8} {r.live:>4} {_mb(r.rss_open):>7} {_mb(r.anon_open):>7} {_mb(r.peak):>7} "
                     f"{_mb(r.rss_left):>18} {_mb(r.anon_left):>19} {r.waited:>8.0f} "
                     f"{cb.get('st_cache_data', 0) / MB:>13.1f} {len(r.failures):>6}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------

def _start(log_path: str, extra_args, env: dict) -> tuple[subprocess.Popen, str]:
    """The app on a free loopback port with :mod:`app.devserver`'s flags and ``env`` added."""
    from loadtest.run import start_server

    return start_server(log_path, extra_args, env=env)


def main(argv=None) -> int:
    from loadtest.run import _terminated, stop_server

    args = _parse(argv)
    signal.signal(signal.SIGTERM, _terminated)  # stop the server on the way out
    steps = [int(x) for x in args.steps.split(",") if x.strip()]
    env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            print(f"--env takes NAME=VALUE, not {item!r}", file=sys.stderr)
            return 2
        env[name] = value
    if args.url and not args.server_pid:
        print("--url needs --server-pid (the process whose memory is read)", file=sys.stderr)
        return 2
    if args.url and not _loopback(args.url):
        print("--url must be a server on this machine (a loopback address)", file=sys.stderr)
        return 2
    ttl = args.ttl if args.ttl is not None else 120
    wait = args.wait if args.wait is not None else ttl + 40.0
    say = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    workdir = tempfile.mkdtemp(prefix="loadtest-memory-")
    log_path = os.path.join(workdir, "server.log")
    extra = shlex.split(args.server_args)
    if args.ttl is not None:
        extra += ["--server.disconnectedSessionTTL", str(args.ttl)]
    proc = None
    meta = {"ttl": ttl if args.url is None else None, "wait_s": wait, "env": env, "server_args": " ".join(extra),
            "live_every": args.live_every, "cpus": os.cpu_count(),
            "loadavg_start": round(os.getloadavg()[0], 2)}
    results: list[StepResult] = []
    error = None
    try:
        if args.url:
            url, pid = args.url, args.server_pid
        else:
            proc, url = _start(log_path, extra, env)
            pid = proc.pid
            say(f"server pid {pid} at {url} (log {log_path})")
        measure(url, pid, steps, live_every=args.live_every, train_s=args.train, workers=args.workers,
                settle=args.settle, wait=wait, timeout=args.timeout, say=say, results=results)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - say what went wrong, print what was measured
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if proc is not None:
            stop_server(proc)
    meta["loadavg_end"] = round(os.getloadavg()[0], 2)
    print(format_table(results, meta), end="")
    failures = [f for r in results for f in r.failures]
    if failures:
        print(f"{len(failures)} failed requests, e.g.: " + "; ".join(failures[:3]))
    if error:
        print(f"error: {error} (server log: {log_path})")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump({"meta": meta, "error": error, "steps": [asdict(r) for r in results]}, f, indent=2)
        print(f"Numbers written to {args.json_path}")
    return 1 if error or failures else 0


if __name__ == "__main__":
    sys.exit(main())
