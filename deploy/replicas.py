"""N app replicas on loopback behind HAProxy, with cookie stickiness, on one machine.

    python -m deploy.replicas --replicas 2 [--port 8500] [--bind 127.0.0.1] [-- STREAMLIT FLAGS]

starts N ``streamlit run app/main.py`` servers on 127.0.0.1 (ports ``--replica-port``,
``--replica-port + 1``, ...; by default the ports after ``--port``), headless, all with one
``server.cookieSecret`` (``--cookie-secret-file``, else ``$STREAMLIT_SERVER_COOKIE_SECRET``, else
a new random one), waits until each answers ``/_stcore/health``, writes an HAProxy config from
``deploy/haproxy.cfg.in`` (round robin, cookie ``SERVERID`` stickiness, websockets, health
checks, timeouts, the upload route's size and rate bounds: each explained there), starts HAProxy
in the foreground, checks that every replica answers through it, and prints the one URL to open
(and to point the load test at).
Ctrl-C, SIGTERM or SIGHUP stops HAProxy, then the replicas; nothing is left running. Flags after
``--`` go to every replica (e.g. ``-- --server.disconnectedSessionTTL 300``).

``--port 0`` / ``--replica-port 0`` take free ports (the tests use them). HAProxy comes from
Debian (``apt-get install -y haproxy``); ``--haproxy PATH`` names another binary. Logs (each
replica's, HAProxy's) and the generated config go to ``--log-dir`` (default: a new directory
under /tmp, printed at start).

The cookie secret reaches the replicas through their environment, not their command line:
``/proc/<pid>/cmdline`` is readable by every local user, ``/proc/<pid>/environ`` only by the owner.

:class:`Cluster` is the same thing as a context manager, for scripts and tests.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from app.budget import CHECKPOINT_MAX_BYTES

__all__ = ["ROOT", "TEMPLATE", "SERVER_FLAGS", "UPLOAD_MAX_MB", "UPLOAD_MAX_BODY", "UPLOADS_PER_MINUTE", "Cluster",
           "Replica", "find_haproxy", "render_config", "replica_command", "main"]

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("haproxy.cfg.in")
HAPROXY_HINT = "HAProxy is not installed: apt-get install -y haproxy (Debian), or pass --haproxy PATH"

# Uploads: Live Training resumes a race from a checkpoint file of at most app.budget.CHECKPOINT_MAX_BYTES,
# PUT as multipart/form-data. Streamlit 1.67 counts server.maxUploadSize in whole MiB and refuses (413)
# a request whose declared Content-Length, multipart framing included, exceeds it, before reading the body.
# So the replicas run with the fewest MiB that hold the largest checkpoint plus its framing (a boundary,
# the part's headers, the file name twice: well under 64 KiB), and HAProxy and the Ingress refuse a
# larger body with the same number. The Dockerfile and deploy/kubernetes.yaml state it (a test compares).
MIB = 1024 * 1024
MULTIPART_FRAMING = 64 * 1024
UPLOAD_MAX_MB = math.ceil((CHECKPOINT_MAX_BYTES + MULTIPART_FRAMING) / MIB)
UPLOAD_MAX_BODY = UPLOAD_MAX_MB * MIB  # bytes: the largest Content-Length a proxy forwards to the upload route
# Upload PUTs HAProxy lets through from one client address in any minute; past it: 429.
UPLOADS_PER_MINUTE = 10

# What every replica runs with (the Dockerfile and deploy/kubernetes.yaml pass the same; a test
# compares them). Headless: no browser is opened, and Streamlit refuses its filesystem-writing
# "install skills" request (behind a proxy on loopback every client looks local, so headless is
# the gate that holds). serverAddress: a headless server otherwise asks an outside service for
# its address at start (a 2 s wait offline). XSRF protection on in every replica alike (a
# replica with it off would accept what another refuses). The agent API off (Streamlit's
# default, stated). maxUploadSize: the checkpoint bound above (the upload endpoint keeps what is PUT
# there in memory until the session ends; HAProxy bounds size and rate too).
SERVER_FLAGS = (
    "--server.headless", "true",
    "--browser.serverAddress", "127.0.0.1",
    "--browser.gatherUsageStats", "false",
    "--server.fileWatcherType", "none",
    "--server.runOnSave", "false",
    "--server.enableXsrfProtection", "true",
    "--server.enableAgentApi", "false",
    "--server.maxUploadSize", str(UPLOAD_MAX_MB),
    "--client.toolbarMode", "minimal",
    "--global.disableWidgetStateDuplicationWarning", "true",
)
START_TIMEOUT = 90.0  # seconds for every replica to answer /_stcore/health (2 cores, N imports at once)


def find_haproxy() -> str | None:
    """The haproxy binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
                                            if os.access(p, os.X_OK)), None)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def render_config(front_bind: str, servers: Sequence[tuple[str, int]], template: Path = TEMPLATE) -> str:
    """The HAProxy config: ``front_bind`` (``host:port``), one server line per ``(name, port)``, and the
    upload bounds (:data:`UPLOAD_MAX_BODY`, :data:`UPLOADS_PER_MINUTE`)."""
    lines = [f"    server {name} 127.0.0.1:{port} cookie {name}" for name, port in servers]
    text = template.read_text(encoding="utf-8")
    markers = {"@FRONT_BIND@": front_bind, "@SERVERS@": "\n".join(lines),
               "@UPLOAD_MAX_BODY@": str(UPLOAD_MAX_BODY), "@UPLOADS_PER_MINUTE@": str(UPLOADS_PER_MINUTE)}
    for marker, value in markers.items():
        if marker not in text:
            raise ValueError(f"{template} has no {marker} marker")
        text = text.replace(marker, value)
    return text


def replica_command(port: int, extra: Sequence[str] = ()) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"), *SERVER_FLAGS,
            "--server.address", "127.0.0.1", "--server.port", str(port), *extra]


def _child_setup() -> None:
    """In the child, before exec: its own process group (a Ctrl-C in the terminal reaches this
    script only, which then stops HAProxy first and the replicas after it), and SIGTERM if this
    script dies, even by SIGKILL (Linux), so that no replica or HAProxy outlives it."""
    os.setpgid(0, 0)
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _libc():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "prctl") else None
    except (OSError, AttributeError):
        return None


_LIBC = _libc() if sys.platform.startswith("linux") else None  # loaded here, not in the forked child


def _get(host: str, port: int, path: str, headers: dict | None = None, timeout: float = 3.0):
    """``(status, headers, body)`` of a GET, or None when nothing answers."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    except OSError:
        return None
    finally:
        conn.close()


@dataclass
class Replica:
    name: str  # r1..rN: its HAProxy server name and SERVERID cookie value
    port: int
    log: Path
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


class Cluster:
    """N replicas behind HAProxy; ``with Cluster(2) as c: c.url``. Stops everything on exit."""

    def __init__(self, replicas: int = 2, port: int = 8500, bind: str = "127.0.0.1", replica_port: int | None = None,
                 cookie_secret: str | None = None, log_dir: str | os.PathLike | None = None,
                 extra_args: Sequence[str] = (), haproxy: str | None = None, start_timeout: float = START_TIMEOUT):
        if replicas < 1:
            raise ValueError("at least one replica")
        self.n, self.bind, self.extra = int(replicas), bind, list(extra_args)
        self.port = free_port(bind) if port == 0 else int(port)
        if replica_port == 0:
            ports = []
            while len(ports) < self.n:
                p = free_port()
                if p != self.port and p not in ports:
                    ports.append(p)
        else:
            first = self.port + 1 if replica_port is None else int(replica_port)
            ports = list(range(first, first + self.n))
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="optimizer-explorer-replicas-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.replicas = [Replica(f"r{i + 1}", p, self.log_dir / f"replica-r{i + 1}.log") for i, p in enumerate(ports)]
        self.cookie_secret = cookie_secret or secrets.token_urlsafe(32)
        self.haproxy = haproxy or find_haproxy()
        self.start_timeout = start_timeout
        self.config_path = self.log_dir / "haproxy.cfg"
        self.haproxy_log = self.log_dir / "haproxy.log"
        self.haproxy_proc: subprocess.Popen | None = None
        self._logs: list = []

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.bind in ("0.0.0.0", "", "::") else self.bind
        return f"http://{host}:{self.port}/"

    def __enter__(self) -> "Cluster":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- starting ----------------------------------------------------------------------
    def _spawn(self, cmd: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
        f = open(log, "wb")
        self._logs.append(f)
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                preexec_fn=_child_setup)

    def start(self) -> None:
        if self.haproxy is None:
            raise RuntimeError(HAPROXY_HINT)
        env = {**os.environ, "STREAMLIT_SERVER_COOKIE_SECRET": self.cookie_secret}
        for r in self.replicas:
            r.proc = self._spawn(replica_command(r.port, self.extra), r.log, env)
        deadline = time.monotonic() + self.start_timeout
        for r in self.replicas:
            self._wait(lambda r=r: (_get("127.0.0.1", r.port, "/_stcore/health") or (0, 0, b""))[2] == b"ok",
                       deadline, f"replica {r.name} (port {r.port}) did not become healthy; see {r.log}", r.proc)

        front = f"{self.bind}:{self.port}" if ":" not in self.bind else f"[{self.bind}]:{self.port}"
        self.config_path.write_text(render_config(front, [(r.name, r.port) for r in self.replicas]), encoding="utf-8")
        check = subprocess.run([self.haproxy, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused {self.config_path}:\n{check.stdout}{check.stderr}")
        self.haproxy_proc = self._spawn([self.haproxy, "-db", "-f", str(self.config_path)], self.haproxy_log)
        host = self.url.split("//")[1].split(":")[0]
        deadline = time.monotonic() + 15
        for r in self.replicas:  # each replica answers through the proxy when its cookie names it
            self._wait(lambda r=r: self._through_front(host, r.name), deadline,
                       f"replica {r.name} does not answer through HAProxy; see {self.haproxy_log}", self.haproxy_proc)

    def _through_front(self, host: str, name: str) -> bool:
        got = _get(host, self.port, "/_stcore/health", {"Cookie": f"SERVERID={name}"})
        return got is not None and got[0] == 200 and got[1].get("X-Replica") == name

    def _wait(self, ok, deadline: float, what: str, proc: subprocess.Popen | None) -> None:
        while not ok():
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{what} (exited with {proc.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(what)
            time.sleep(0.25)

    # -- running and stopping --------------------------------------------------------------
    def dead(self) -> list[str]:
        """Names of the processes that have exited (``haproxy`` or a replica's)."""
        out = []
        if self.haproxy_proc is not None and self.haproxy_proc.poll() is not None:
            out.append("haproxy")
        out += [r.name for r in self.replicas if r.proc is not None and r.proc.poll() is not None]
        return out

    def pids(self) -> list[int]:
        return [p.pid for p in [self.haproxy_proc, *(r.proc for r in self.replicas)] if p is not None]

    @staticmethod
    def _stop(procs: list[subprocess.Popen], grace: float) -> None:
        for p in procs:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.terminate()
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                p.wait(5)

    def stop(self) -> None:
        """HAProxy first (no new requests), then the replicas (SIGTERM; SIGKILL after 15 s)."""
        if self.haproxy_proc is not None:
            self._stop([self.haproxy_proc], 5)
        self._stop([r.proc for r in self.replicas if r.proc is not None], 15)
        for f in self._logs:
            f.close()
        self._logs.clear()

    def summary(self) -> str:
        lines = [f"Optimizer Explorer: {self.n} replica{'s' if self.n > 1 else ''} behind HAProxy "
                 f"(cookie stickiness, websockets; logs and haproxy.cfg in {self.log_dir})"]
        for r in self.replicas:
            lines.append(f"  replica {r.name}: {r.url} (pid {r.proc.pid if r.proc else '-'}, log {r.log.name})")
        lines.append(f"  haproxy: pid {self.haproxy_proc.pid if self.haproxy_proc else '-'}, log {self.haproxy_log.name}")
        lines.append("")
        lines.append(f"Open:      {self.url}")
        lines.append(f"Load test: python -m loadtest run --users 30 --duration 60 --url {self.url}")
        lines.append("Ctrl-C stops HAProxy and every replica.")
        return "\n".join(lines)


class _Stop(Exception):
    pass


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise_stop(signum, frame) -> None:
    """The first Ctrl-C / SIGTERM / SIGHUP stops everything; more of them while stopping are ignored
    (they would cut the stopping short and leave processes behind)."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_in:
        i = args_in.index("--")
        args_in, extra = args_in[:i], args_in[i + 1:]
    ap = argparse.ArgumentParser(prog="python -m deploy.replicas", description=__doc__.split("\n\n")[0],
                                 epilog="Flags after -- go to every replica's `streamlit run`.")
    ap.add_argument("--replicas", "-n", type=int, default=2, help="app processes to start (default 2)")
    ap.add_argument("--port", type=int, default=8500, help="HAProxy's port, the one to open (0: a free one)")
    ap.add_argument("--bind", default="127.0.0.1",
                    help="HAProxy's address (default 127.0.0.1; 0.0.0.0 to serve a classroom network)")
    ap.add_argument("--replica-port", type=int, default=None,
                    help="first replica port, the next ones follow (default --port + 1; 0: free ports)")
    ap.add_argument("--cookie-secret-file", help="a file holding server.cookieSecret (default: "
                    "$STREAMLIT_SERVER_COOKIE_SECRET, else a new random one)")
    ap.add_argument("--log-dir", help="logs and the generated haproxy.cfg (default: a new directory in /tmp)")
    ap.add_argument("--haproxy", help="the haproxy binary (default: found on PATH or in /usr/sbin)")
    args = ap.parse_args(args_in)
    if args.replicas < 1:
        ap.error("--replicas must be at least 1")

    secret = None
    if args.cookie_secret_file:
        secret = Path(args.cookie_secret_file).read_text(encoding="utf-8").strip()
    secret = secret or os.environ.get("STREAMLIT_SERVER_COOKIE_SECRET") or None

    for sig in _STOP_SIGNALS:
        signal.signal(sig, _raise_stop)
    cluster = Cluster(args.replicas, args.port, args.bind, args.replica_port, secret, args.log_dir, extra,
                      args.haproxy)
    if cluster.haproxy is None:
        print(HAPROXY_HINT, file=sys.stderr)
        return 2
    print(f"Starting {cluster.n} replica(s) on ports {', '.join(str(r.port) for r in cluster.replicas)}, "
          f"HAProxy on {args.bind}:{cluster.port} ...", flush=True)
    code = 0
    try:
        with cluster:
            print(cluster.summary(), flush=True)
            reported: set[str] = set()
            while True:
                time.sleep(1)
                gone = [d for d in cluster.dead() if d not in reported]
                if "haproxy" in gone:
                    print(f"HAProxy exited; stopping (see {cluster.haproxy_log})", file=sys.stderr, flush=True)
                    code = 1
                    break
                for name in gone:
                    print(f"replica {name} exited; HAProxy sends its clients to the others "
                          f"(see {cluster.log_dir / f'replica-{name}.log'})", file=sys.stderr, flush=True)
                reported.update(gone)
                if len(reported) == cluster.n:
                    print("every replica exited; stopping", file=sys.stderr, flush=True)
                    code = 1
                    break
    except _Stop:
        pass
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    print("stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
