"""Memory that comes back: one housekeeping thread per server process frees what ended sessions left.

Started once per process by ``app/main.py`` (:func:`start` is idempotent; a second call, a rerun or
a re-import of this module finds the running thread by its name). Every :data:`INTERVAL` seconds it:

1. **Looks at the sessions**, on Streamlit's event loop (the only thread that may read the session
   manager): how many are active (a connected websocket), and which ended since the last look.
2. **Ends expired sessions properly.** Streamlit 1.67 keeps a session whose websocket closed in a
   TTL cache for ``server.disconnectedSessionTTL`` seconds (``MemorySessionStorage``). Past the TTL
   the entry is only *hidden*: the cache removes it at its next write (the next disconnect), and
   then without ``AppSession.shutdown()``. After a class leaves nothing writes, so every student's
   session (Live Training's torch models and history, finished exports, the figures of its last
   run) stays in memory for good, and the media files of its last run (a rendered MP4 offered for
   download) are never released. The housekeeper removes each expired session from the storage and
   shuts it down, as ``Runtime.close_session`` does for a session it is told to close. It never
   touches a session before its TTL: a sleeping laptop that comes back in time resumes as before.
3. **Drops the export jobs** of sessions that ended (:func:`app.exports.jobs.forget`: their results
   are nobody's; the runner keeps finished jobs 5 minutes anyway).
4. **Returns freed memory to the OS** when sessions have ended (fewer active than at the last look,
   or some ended): ``gc.collect()`` (a session's objects are held in reference cycles), then glibc's
   ``malloc_trim(0)``, which gives the free pages of every malloc arena back to the kernel (glibc
   otherwise keeps them for reuse, which is why RSS stayed up after a class left). At most once
   every :data:`MIN_GAP` seconds: the gc holds the GIL (both took 10-300 ms here, more with more
   sessions).
   On other platforms (macOS, musl) the trim is a no-op; steps 1-3 run everywhere.

:func:`start` also caps glibc's malloc arenas at :data:`ARENAS` (2), as ``MALLOC_ARENA_MAX=2`` in the
environment would (which, when set, wins): glibc gives each new thread an arena of its own, up to 8
per core, and Streamlit starts a script thread per session (and ends it when the session is idle);
each arena keeps its own free memory and fragments on its own. ``python -m loadtest memory`` measures the difference (docs/hosting.md).

``OPTIMIZER_EXPLORER_HOUSEKEEPING=0`` in the server's environment turns it off (for comparisons:
``python -m loadtest memory --env OPTIMIZER_EXPLORER_HOUSEKEEPING=0``). What it did is logged at
INFO by Streamlit's logger ("housekeeping: ...").

Step 1 and 2 read Streamlit 1.67's runtime beyond its public API (``Runtime._session_mgr``, the
manager's ``_session_storage``, the runtime's event loop); a Streamlit without them makes
:class:`RuntimeSessions` return None, and the housekeeper then does nothing.
tests/test_housekeeping.py checks it against a real server.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import gc
import logging
import os
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["INTERVAL", "MIN_GAP", "ENV", "THREAD_NAME", "ARENAS", "Look", "Housekeeper", "RuntimeSessions",
           "malloc_trim", "limit_arenas", "glibc", "rss_bytes", "start", "stop", "running"]

INTERVAL = 5.0  # seconds between two looks at the sessions
MIN_GAP = 30.0  # seconds between two gc.collect() + malloc_trim(0)
ENV = "OPTIMIZER_EXPLORER_HOUSEKEEPING"  # "0" / "off" / "false" / "no": no thread
THREAD_NAME = "optimizer-explorer-housekeeping"

_start_lock = threading.Lock()


def _logger() -> logging.Logger:
    try:
        from streamlit.logger import get_logger  # its handler writes to the server's log

        return get_logger(__name__)
    except ImportError:  # pragma: no cover - the app always has streamlit
        return logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------
# glibc
# ---------------------------------------------------------------------------------------

def glibc() -> str | None:
    """glibc's version (``"2.36"``) on Linux with glibc, else None (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"; musl has no such name
    except (ValueError, OSError, AttributeError):
        return None
    if not text or not text.startswith("glibc"):
        return None
    return text.split()[-1]


@functools.cache
def _malloc_trim_fn() -> Callable[[int], int] | None:
    if glibc() is None:
        return None
    try:
        fn = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


def malloc_trim() -> bool:
    """``malloc_trim(0)``: give the free memory of every malloc arena back to the OS. True if glibc
    released some; False when it released none, or off glibc (where it does nothing)."""
    fn = _malloc_trim_fn()
    if fn is None:
        return False
    return bool(fn(0))  # a CDLL call releases the GIL meanwhile


M_ARENA_MAX = -8  # glibc's malloc.h
ARENAS = 2  # malloc arenas for the server, unless MALLOC_ARENA_MAX says otherwise


def limit_arenas(n: int = ARENAS) -> bool:
    """``mallopt(M_ARENA_MAX, n)``, what ``MALLOC_ARENA_MAX=n`` in the environment does, from inside:
    glibc gives each thread that contends for the heap an arena of its own (up to 8 per core), and
    each arena keeps its own freed memory. Arenas made before the call stay. Not done when the
    environment already sets ``MALLOC_ARENA_MAX`` (glibc read it at start), nor off glibc. True if set."""
    if glibc() is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, int(n)))


def rss_bytes() -> int | None:
    """This process's resident set size (Linux ``/proc/self/statm``), else None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------------------------------
# What the housekeeper sees
# ---------------------------------------------------------------------------------------

@dataclass
class Look:
    """One look at the sessions: how many are active, which ended since the last look, and how many
    of those were expired sessions shut down here."""

    active: int
    ended: list[str] = field(default_factory=list)
    reaped: int = 0


class RuntimeSessions:
    """The running Streamlit runtime's sessions (Streamlit 1.67), looked at on its event loop.

    Calling it returns a :class:`Look`, or None when there is no runtime (tests, ``AppTest``) or it
    is stopping. It remembers every session it has seen (by a weak reference: it keeps none alive);
    one that is no longer listed, neither active nor stored for reconnection, has ended. If such a
    session still exists, it is an expired entry the storage has not dropped yet: it is removed from
    the storage and shut down (see the module's doc).
    """

    def __init__(self, timeout: float = 10.0):
        self.timeout = timeout
        self._known: dict[str, weakref.ref] = {}

    def __call__(self) -> Look | None:
        rt = _server_runtime()
        if rt is None:
            return None
        try:
            loop = rt._get_async_objs().eventloop
        except (AttributeError, RuntimeError) as exc:  # not started, or another Streamlit
            _logger().debug("housekeeping: no event loop to look from (%s)", exc)
            return None
        if loop.is_closed():
            return None
        done: concurrent.futures.Future = concurrent.futures.Future()

        def on_loop() -> None:
            try:
                done.set_result(self.look(rt))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                done.set_exception(exc)

        try:
            loop.call_soon_threadsafe(on_loop)
        except RuntimeError:  # the loop closed meanwhile: the server is stopping
            return None
        try:
            return done.result(self.timeout)
        except concurrent.futures.TimeoutError:  # a busy or stopped loop: look again next time
            _logger().debug("housekeeping: the event loop did not answer within %g s", self.timeout)
            return None

    def look(self, rt: Any) -> Look:
        """The look itself; runs on the runtime's event loop."""
        mgr = getattr(rt, "_session_mgr", None)
        if mgr is None:
            return Look(active=0)
        current = {info.session.id: info.session for info in mgr.list_sessions()}
        active = mgr.num_active_sessions()
        storage = getattr(mgr, "_session_storage", None)
        ended: list[str] = []
        reaped = 0
        for sid, ref in list(self._known.items()):
            if sid in current:
                continue
            del self._known[sid]
            ended.append(sid)
            session = ref()
            if session is None:  # already gone
                continue
            if storage is not None:
                try:
                    storage.delete(sid)  # an expired entry is removed, with a KeyError ("a miss")
                except KeyError:
                    pass
            if not _shut_down(session):
                session.shutdown()  # media files, caches, the session's script event loop
                reaped += 1
        for sid, session in current.items():
            if sid not in self._known:
                self._known[sid] = weakref.ref(session)
        return Look(active=active, ended=ended, reaped=reaped)


def _server_runtime() -> Any | None:
    """The Streamlit server's runtime in this process, or None (none, or ``AppTest``'s stand-in: a mock)."""
    try:
        from streamlit.runtime import Runtime
    except ImportError:  # pragma: no cover
        return None
    if not Runtime.exists():
        return None
    rt = Runtime.instance()
    return rt if issubclass(type(rt), Runtime) else None


def cap_uploads(manager: Any, keep: int) -> int:
    """Drop all but each session's ``keep`` newest uploaded files from Streamlit's in-memory upload store
    (``MemoryUploadedFileManager``: it keeps a file until its DELETE or the session's end, and its upload
    route takes any file id, so a client speaking HTTP could keep as many as it sends). The page's one
    uploader shows the newest. Returns the bytes dropped."""
    storage = getattr(manager, "file_storage", None)
    lock = getattr(manager, "_lock", None)
    if not isinstance(storage, dict) or lock is None:
        return 0
    with lock:  # files are added from the server's thread while we look
        extra = [(sid, fid, len(rec.data)) for sid, files in storage.items()
                 for fid, rec in list(files.items())[:max(0, len(files) - keep)]]  # dicts keep the upload order
    for sid, fid, _ in extra:
        manager.remove_file(sid, fid)
    return sum(n for _, _, n in extra)


def _cap_server_uploads() -> int:
    from app.budget import UPLOADS_KEPT_PER_SESSION

    rt = _server_runtime()
    manager = getattr(rt, "_uploaded_file_mgr", None) if rt is not None else None
    return 0 if manager is None else cap_uploads(manager, UPLOADS_KEPT_PER_SESSION)


def _shut_down(session: Any) -> bool:
    state = getattr(session, "_state", None)
    return getattr(state, "name", "") == "SHUTDOWN_REQUESTED"


def _forget_jobs(session_id: str) -> None:
    from app.exports import jobs

    jobs.forget(session_id)


# ---------------------------------------------------------------------------------------
# The housekeeper
# ---------------------------------------------------------------------------------------

class Housekeeper:
    """Looks at the sessions every ``interval`` s; after sessions end, ``collect()`` then ``trim()``,
    at most once every ``min_gap`` s (see the module's doc). Everything it calls can be swapped (tests)."""

    def __init__(self, look: Callable[[], Look | None] | None = None, *, trim: Callable[[], Any] = malloc_trim,
                 collect: Callable[[], Any] = gc.collect, forget: Callable[[str], None] | None = _forget_jobs,
                 uploads: Callable[[], int] | None = _cap_server_uploads,
                 interval: float = INTERVAL, min_gap: float = MIN_GAP, clock: Callable[[], float] = time.monotonic,
                 log: logging.Logger | None = None):
        self.look = look if look is not None else RuntimeSessions()
        self.trim, self.collect, self.forget, self.uploads = trim, collect, forget, uploads
        self.interval, self.min_gap, self.clock = float(interval), float(min_gap), clock
        self.log = log or _logger()
        self.stop_event = threading.Event()
        self.last_active: int | None = None
        self.last_trim: float | None = None
        self.due = False  # sessions ended since the last trim
        self.looks = self.trims = self.ended = self.reaped = 0
        self.freed = 0  # RSS bytes given back by the trims, as far as /proc says

    def tick(self) -> bool:
        """One look; True if it collected and trimmed."""
        if self.uploads is not None:
            try:
                dropped = self.uploads()
            except Exception:  # noqa: BLE001 - Streamlit's internals may move; the rest still runs
                dropped = 0
                self.log.debug("housekeeping: could not cap the uploads", exc_info=True)
            if dropped:
                self.due = True
                self.log.info("housekeeping: dropped %.1f MB of uploads no uploader shows", dropped / 2**20)
        look = self.look()
        if look is None:
            return False
        self.looks += 1
        if look.ended or (self.last_active is not None and look.active < self.last_active):
            self.due = True
        self.last_active = look.active
        if look.ended:
            self.ended += len(look.ended)
            self.reaped += look.reaped
            self.log.info("housekeeping: %d sessions ended (%d of them expired and shut down here), %d active",
                          len(look.ended), look.reaped, look.active)
            if self.forget is not None:
                for sid in look.ended:
                    try:
                        self.forget(sid)
                    except Exception:  # noqa: BLE001 - exports are a nicety here
                        self.log.debug("housekeeping: could not drop the jobs of %s", sid, exc_info=True)
        if not self.due:
            return False
        now = self.clock()
        if self.last_trim is not None and now - self.last_trim < self.min_gap:
            return False
        self.due = False
        self.last_trim = now
        before = rss_bytes()
        t0 = time.perf_counter()
        self.collect()
        self.trim()
        ms = (time.perf_counter() - t0) * 1e3
        after = rss_bytes()
        self.trims += 1
        if before is not None and after is not None:
            self.freed += max(0, before - after)
        self.log.info("housekeeping: gc.collect() + malloc_trim(0)%s in %.0f ms: RSS %s -> %s MB",
                      "" if glibc() else " (a no-op off glibc)", ms, _mb(before), _mb(after))
        return True

    def run(self) -> None:
        """Tick every ``interval`` s until :meth:`halt`; a failing look is logged, not fatal."""
        while not self.stop_event.wait(self.interval):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the thread must outlive a bad look
                self.log.warning("housekeeping: a look at the sessions failed", exc_info=True)

    def halt(self) -> None:
        self.stop_event.set()


def _mb(v: int | None) -> str:
    return "?" if v is None else f"{v / 2**20:.0f}"


# ---------------------------------------------------------------------------------------
# Once per process
# ---------------------------------------------------------------------------------------

def running() -> threading.Thread | None:
    """The housekeeping thread of this process, if one is alive."""
    for t in threading.enumerate():
        if t.name == THREAD_NAME and t.is_alive():
            return t
    return None


def start(**kwargs: Any) -> Housekeeper | None:
    """Start the housekeeping thread unless it runs already (idempotent; safe from every rerun).

    Returns the process's :class:`Housekeeper`, or None when :data:`ENV` turns it off, or when no
    Streamlit runtime runs in this process and no ``look`` was given (``AppTest``, plain imports).
    ``kwargs`` go to :class:`Housekeeper` (``look``, ``trim``, ``interval``, ``min_gap``, ...).
    """
    if os.environ.get(ENV, "1").strip().lower() in ("0", "off", "false", "no"):
        return None
    t = running()
    if t is not None:
        return getattr(t, "housekeeper", None)
    if kwargs.get("look") is None and _server_runtime() is None:  # AppTest, a plain import: nothing to watch
        return None
    with _start_lock:
        t = running()
        if t is not None:
            return getattr(t, "housekeeper", None)
        arenas = limit_arenas() if kwargs.get("look") is None else False  # a real server, not a test
        if kwargs.get("look") is None:
            # What is alive now (Streamlit, NumPy, the app's modules) lives as long as the process: leave it
            # out of every later collection, so a collection costs what the sessions hold, not the libraries.
            gc.freeze()
        keeper = Housekeeper(**kwargs)
        t = threading.Thread(target=keeper.run, name=THREAD_NAME, daemon=True)
        t.housekeeper = keeper  # type: ignore[attr-defined] - found again by running()
        t.start()
    keeper.log.debug("housekeeping: started (every %g s, trims at most every %g s, glibc %s%s)",
                     keeper.interval, keeper.min_gap, glibc(), f", at most {ARENAS} malloc arenas" if arenas else "")
    return keeper


def stop(timeout: float = 5.0) -> None:
    """Stop the process's housekeeping thread (tests; a server just exits)."""
    t = running()
    if t is None:
        return
    keeper = getattr(t, "housekeeper", None)
    if keeper is not None:
        keeper.halt()
    t.join(timeout)
