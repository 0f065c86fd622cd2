"""``python -m loadtest run``: one app server, the simulated students, the server's memory and CPU, a report.

1. Starts ``streamlit run app/main.py`` (one process, the flags of :mod:`app.devserver`) on a free
   port, unless ``--url`` names a running server (then ``--server-pid`` lets it be sampled).
2. Runs :mod:`loadtest.drive` (Locust, headless) in a process of its own for ``--duration`` seconds
   with ``--users`` students (and, with ``--heavy``, the heavy session from the middle of the run).
3. Meanwhile samples, every 0.5 s with psutil, the server process and its children (RSS summed, CPU
   as a share of one core from the change of their CPU times) and the Locust process's CPU; with
   ``--browsers N``, N real Chromium sessions measure slider -> painted latency
   (:mod:`loadtest.browsers`).
4. Prints the report (:func:`loadtest.stats.format_report`); ``--json PATH`` writes every number.

The exit status is 1 when a request failed or an isolation check found a violation (or the load
test could not run), else 0; the latency targets are printed, not enforced.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from loadtest.stats import format_report

__all__ = ["main", "run", "Sampler", "start_server"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m loadtest run",
                                description="Load-test Optimizer Explorer with simulated students (Streamlit's "
                                            "websocket protocol, Locust) and report latency, errors, the server's "
                                            "memory and CPU, and isolation violations.")
    p.add_argument("--users", type=int, default=30, help="simulated students (default 30)")
    p.add_argument("--duration", type=float, default=120.0, help="seconds of load, from the first spawn (default 120)")
    p.add_argument("--spawn-rate", type=float, default=None, help="students started per second (default users/10)")
    p.add_argument("--url", default=None, help="a running app to test (default: start one server process)")
    p.add_argument("--server-pid", type=int, default=None, help="with --url: the server's pid, to sample it")
    p.add_argument("--server-args", default="", help="extra flags for the server started here, e.g. "
                                                      "\"--server.maxCacheDataSize 100\"")
    p.add_argument("--heavy", nargs="?", const="map", default=None, choices=("map", "export"),
                   help="add one session running the heaviest job from the middle of the run, and report the "
                        "others' p95 before and during it: 'map' (default: the 100x100 convergence map at 1000 "
                        "steps, recomputed) or 'export' (the 1920x1080 MP4, rendered again and again)")
    p.add_argument("--browsers", type=int, default=0, help="real Chromium sessions alongside (Playwright, "
                                                           "/usr/bin/chromium)")
    p.add_argument("--mix", default=None, help="the students' action weights, e.g. \"move_slider=8,play=4,"
                                               "convergence_map=2,live_training=2\" (the default); 0 leaves one out")
    p.add_argument("--no-tour", action="store_true", help="students pick actions by weight from the start (by "
                                                          "default each first does every action once; --heavy "
                                                          "implies this)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a rerun may take before it fails")
    p.add_argument("--no-cache", action="store_true", help="the simulated browsers announce no cached messages")
    p.add_argument("--json", dest="json_path", default=None, help="write the results (every number) here")
    p.add_argument("--quiet", action="store_true", help="print only the report (not Locust's tables)")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------------------
# The server and the samples
# ---------------------------------------------------------------------------------------

def _healthy(url: str) -> bool:
    try:
        return urllib.request.urlopen(url.rstrip("/") + "/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


def start_server(log_path: str, extra_args=(), timeout: float = 90.0,
                 env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``streamlit run app/main.py`` on a free port (:mod:`app.devserver`'s flags, ``env`` added to the
    environment); (process, base URL)."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from app.devserver import SERVER_ARGS, free_port

    port = free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", os.path.join(ROOT, "app", "main.py"),
                             *SERVER_ARGS, "--server.port", str(port), *extra_args],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"the app server did not start (see {log_path})")
        time.sleep(0.3)
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    """:func:`app.devserver.stop`: SIGTERM, then SIGKILL after 15 s."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from app.devserver import stop

    stop(proc)


class Sampler(threading.Thread):
    """RSS (summed) and CPU (% of one core) of a process and its children, every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.5, children: bool = True):
        super().__init__(daemon=True, name=f"sampler-{pid}")
        import psutil

        self.psutil = psutil
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.children = children
        self.samples: list[tuple[float, int, float]] = []  # (time, rss bytes, cpu % of one core)
        self._halt = threading.Event()
        self._cpu: dict[int, float] = {}

    def _procs(self):
        procs = [self.proc]
        if self.children:
            try:
                procs += self.proc.children(recursive=True)
            except self.psutil.Error:
                pass
        return procs

    def _measure(self) -> tuple[int, float]:
        rss, cpu = 0, 0.0
        seen = {}
        for p in self._procs():
            try:
                with p.oneshot():
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    seen[p.pid] = t.user + t.system
            except self.psutil.Error:
                continue
        for pid, total in seen.items():
            cpu += total - self._cpu.get(pid, total)
        self._cpu = seen
        return rss, cpu

    def run(self) -> None:
        last = time.monotonic()
        self._measure()
        while not self._halt.wait(self.interval):
            now = time.monotonic()
            rss, cpu_s = self._measure()
            self.samples.append((now, rss, 100.0 * cpu_s / max(now - last, 1e-6)))
            last = now

    def stop(self) -> dict:
        self._halt.set()
        self.join(5)
        if not self.samples:
            return {}
        rss = [s[1] for s in self.samples]
        cpu = [s[2] for s in self.samples]
        return {"peak_rss": max(rss), "end_rss": rss[-1], "cpu_mean": sum(cpu) / len(cpu), "cpu_peak": max(cpu),
                "samples": len(self.samples)}

    def now(self) -> int | None:
        try:
            return sum(p.memory_info().rss for p in self._procs())
        except self.psutil.Error:
            return None


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------

def run(args) -> dict:
    """Everything but the printing: returns the results document."""
    workdir = tempfile.mkdtemp(prefix="loadtest-")
    server_log = os.path.join(workdir, "server.log")
    driver_json = os.path.join(workdir, "drive.json")
    proc = None
    url = args.url
    res: dict = {}
    load_before = os.getloadavg()
    try:
        if url is None:
            proc, url = start_server(server_log, shlex.split(args.server_args))
            server_pid = proc.pid
        else:
            server_pid = args.server_pid
        server = Sampler(server_pid) if server_pid else None
        base_rss = server.now() if server else None
        if server:
            server.start()
        cmd = [sys.executable, "-m", "loadtest.drive", "--host", url, "--users", str(args.users),
               "--duration", str(args.duration), "--timeout", str(args.timeout), "--json", driver_json]
        if args.spawn_rate:
            cmd += ["--spawn-rate", str(args.spawn_rate)]
        if args.heavy:
            cmd += ["--heavy", args.heavy]
        if args.no_cache:
            cmd += ["--no-cache"]
        if args.mix:
            cmd += ["--mix", args.mix]
        if args.no_tour:
            cmd += ["--no-tour"]
        if args.quiet:
            cmd += ["--quiet"]
        driver_out = None if not args.quiet else open(os.path.join(workdir, "drive.log"), "w")
        driver = subprocess.Popen(cmd, cwd=ROOT, stdout=driver_out, stderr=subprocess.STDOUT if driver_out else None)
        try:
            generator = Sampler(driver.pid, children=False)
            generator.start()
            threads, browsers = ([], [])
            if args.browsers:
                from loadtest import browsers as B

                threads, browsers = B.start(url, args.browsers, max(10.0, args.duration - 5))
            rc = driver.wait(args.duration + 180)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait(10)
        gen = generator.stop()
        for t in threads:
            t.join(timeout=max(30.0, args.duration))
        srv = server.stop() if server else {}
        if rc != 0 or not os.path.exists(driver_json):
            raise RuntimeError(f"the Locust driver failed (exit status {rc})")
        with open(driver_json) as f:
            res = json.load(f)
        res["server"] = {**srv, "base_rss": base_rss, "pid": server_pid} if server else {}
        res["generator"] = gen
        if args.browsers:
            res["browsers"] = sorted(browsers, key=lambda b: b.get("index", 0))
            res["errors"] = res.get("errors", 0) + sum("error" in b for b in browsers)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - the report says what went wrong
        res["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if proc is not None:
            stop_server(proc)
    keep = bool(res.get("error") or res.get("errors"))  # the server's log and Locust's output, to look into
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    meta = res.setdefault("meta", {})
    meta.update({"users": args.users, "duration": args.duration, "url": url, "own_server": args.url is None,
                 "logs": workdir if keep else None, "cpus": os.cpu_count(),
                 "loadavg": [round(load_before[0], 2), round(os.getloadavg()[0], 2)]})
    return res


def _terminated(signum, frame):  # noqa: ARG001 - a signal handler's signature
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    args = _parse(argv)
    signal.signal(signal.SIGTERM, _terminated)  # stop the server and the driver on the way out
    res = run(args)
    print(format_report(res), end="")
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(res, f, indent=2)
        print(f"\nNumbers written to {args.json_path}")
    sys.stdout.flush()
    bad = res.get("error") or res.get("errors", 1) or res.get("isolation", {}).get("violations", 1)
    return 1 if bad else 0
