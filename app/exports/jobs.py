"""Long exports off the page's thread: a small job runner with limits, progress, time bounds and cleanup.

A page submits a heavy export (a GIF, an MP4, a still, a script) with :func:`submit` and gets a
:class:`Job` back at once; it polls the job (``st.fragment(run_every=0.5)`` with
``st.progress(job.progress)``) and offers ``job.result`` once ``job.state == "done"``. The
export function is called as ``fn(*args, progress=cb)`` and reports with
``cb(fraction, message="")``; the callback is also where a job is stopped: it raises
:class:`JobStopped` once the job was cancelled or has run past its time bound.

Limits, so that one class exporting at once cannot starve the server:

- **per session**: ``per_session`` heavy jobs queued or running (1 by default); another submit
  from that session is refused with a message (a Job in state ``"refused"``);
- **global**: ``workers`` threads (2, one per core here) run jobs; up to ``max_queued``
  more wait their turn (state ``"queued"``), beyond that submits are refused;
- **time**: each job has a bound (``time_limit`` seconds); past it the job stops at its next
  progress report, in state ``"timed out"`` with a message;
- **memory**: a finished job is kept ``keep_seconds`` (5 minutes) for its download, at most
  ``max_kept`` of them and ``max_kept_bytes`` of results (oldest dropped first).

Threads, and render processes for the animations: a job runs on a worker thread, which keeps
its state, progress, time bound and cancellation. A still is rendered by Chromium (kaleido), out
of this process already, and the small exports are quick. The GIF and MP4 are not: an MP4 at
1920 x 1080 is ~12 s of CPU in Pillow (Lanczos reductions and pastes of the supersampled map,
frame after frame; the Python between those calls is a few percent), next to ffmpeg's encoder.
:func:`in_process` runs them in a child process instead: started with ``spawn`` (a server
running threads must never fork) the first time one is needed, then reused (one per worker
thread at most; the first pays about a second of imports). The child gets small picklable
inputs (the race view's payload: lists and numbers; the landscape as a PNG data URI: ~60 kB)
and sends back progress reports, the file's bytes or the error's message; the server process
spends ~0.01 s of CPU on an MP4. The worker thread relays progress to the job and, when the job
is cancelled or runs past its time bound, tells the child to stop at its next progress report
(and kills it if it has not stopped ``CHILD_GRACE`` seconds later); a child that dies fails the
job with a message.

Being out of the server's GIL was not enough on two cores: the server process stays near one
core busy with 30 students, and a render beside it, even niced, slowed it enough that their p95
doubled (``python -m loadtest run --users 30 --heavy export``: 2.3-2.4x with the render in a
thread or in a child at full speed). So the child also paces itself: it sleeps as long as it
worked since its last progress report (``CHILD_DUTY`` 0.5), and an MP4 at 1920 x 1080 takes
~30 s instead of ~16 s (students' p95 1.33x; the polling of the job alone, with a render that
only sleeps: 1.36x). The worker threads and the render processes lower their OS priority
(``nice`` 10, per thread on Linux), and an ffmpeg started from them inherits it. (``SCHED_IDLE``, CPU
only when the server leaves a core idle, measured no better, and on a machine busy for minutes it
would starve a teacher's render until its time bound.)

Pure Python: nothing here imports streamlit.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import wait as _wait_any
from dataclasses import dataclass, field
from typing import Any, Callable
from app import budget

__all__ = ["Job", "JobStopped", "ChildFailed", "JobRunner", "RUNNER", "submit", "get", "jobs_of", "cancel", "forget",
           "in_process", "stop_children"]

QUEUED, RUNNING, DONE, FAILED, CANCELLED, TIMED_OUT, REFUSED = (
    "queued", "running", "done", "failed", "cancelled", "timed out", "refused")
FINISHED = frozenset({DONE, FAILED, CANCELLED, TIMED_OUT, REFUSED})
WORKER_NICE = 10
CHILD_GRACE = 3.0  # seconds a render process has to stop when told before it is killed
CHILD_DUTY = 0.5  # the share of its time a render process computes: it sleeps the rest (see the module docs)


class JobStopped(BaseException):
    """Raised by the progress callback in a job that was cancelled or ran past its time bound.

    A ``BaseException`` (like ``KeyboardInterrupt``), so that an export's own
    ``except Exception`` does not swallow it.
    """


@dataclass(eq=False)
class Job:
    """One export: what it is, how far it got, and its result or error. Read it from any thread."""

    id: str
    session_id: str
    kind: str
    time_limit: float
    state: str = QUEUED
    progress: float = 0.0  # 0..1
    message: str = ""  # what the export said it is doing, or why it stopped
    result: Any = None
    error: str | None = None
    submitted: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _stop_reason: str = field(default="", repr=False)

    @property
    def done(self) -> bool:
        """Finished one way or another (done, failed, cancelled, timed out or refused)."""
        return self.state in FINISHED

    @property
    def ok(self) -> bool:
        return self.state == DONE

    @property
    def refused(self) -> bool:
        return self.state == REFUSED

    @property
    def elapsed(self) -> float:
        """Seconds it has run (0 while queued)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def cancel(self) -> None:
        """Ask the job to stop (at its next progress report); a queued job never starts."""
        if not self.done:
            self._stop_reason = self._stop_reason or CANCELLED
            self._stop.set()

    def _report(self, fraction: float, message: str = "") -> None:
        """The progress callback handed to the export function."""
        if self._stop.is_set():
            raise JobStopped(self._stop_reason or CANCELLED)
        if self.started is not None and time.monotonic() - self.started > self.time_limit:
            self._stop_reason = TIMED_OUT
            self._stop.set()
            raise JobStopped(TIMED_OUT)
        try:
            f = float(fraction)
        except (TypeError, ValueError):
            f = self.progress
        if f == f:  # not NaN
            self.progress = min(max(f, self.progress, 0.0), 1.0)  # never backwards
        if message:
            self.message = str(message)

    def _size(self) -> int:
        r = self.result
        if isinstance(r, (bytes, bytearray, memoryview, str)):
            return len(r)
        if isinstance(r, (tuple, list)):
            return sum(len(x) for x in r if isinstance(x, (bytes, bytearray, str)))
        return 0


def _nice_this_thread() -> None:
    """Lower this worker thread's priority (Linux: per thread); best effort elsewhere."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICE)
    except (AttributeError, OSError, PermissionError):
        pass


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, ChildFailed):  # already says what the child raised
        return text or "The render process failed."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class JobRunner:
    """A bounded pool of export threads with per-session and global limits (see the module docs)."""

    def __init__(self, workers: int = 2, per_session: int = 1, max_queued: int = 8, time_limit: float = 120.0,
                 keep_seconds: float = 300.0, max_kept: int = 64, max_kept_bytes: int = 256 * 2**20,
                 nice: bool = True):
        if workers < 1 or per_session < 1 or max_queued < 0:
            raise ValueError("workers and per_session must be at least 1, max_queued at least 0")
        self.workers, self.per_session, self.max_queued = int(workers), int(per_session), int(max_queued)
        self.time_limit, self.keep_seconds = float(time_limit), float(keep_seconds)
        self.max_kept, self.max_kept_bytes = int(max_kept), int(max_kept_bytes)
        self._nice = nice
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._pool: ThreadPoolExecutor | None = None

    # -- submitting -----------------------------------------------------------------------

    def submit(self, session_id: str, kind: str, fn: Callable[..., Any], *args: Any,
               time_bound: float | None = None, **kwargs: Any) -> Job:
        """Run ``fn(*args, **kwargs, progress=cb)`` on a worker; returns at once.

        ``time_bound``: this job's limit in seconds (the runner's ``time_limit`` by default);
        named so that an export's own ``time_limit`` keyword passes through ``kwargs``.

        The Job is in state ``"refused"`` (``job.error`` says why) when this session already has
        its heavy jobs queued or running, or when the server's queue is full.
        """
        limit = self.time_limit if time_bound is None else float(time_bound)
        with self._lock:
            self._cleanup_locked()
            job = Job(id=f"job-{next(self._ids)}", session_id=str(session_id), kind=str(kind), time_limit=limit)
            mine = [j for j in self._jobs.values() if j.session_id == job.session_id and not j.done]
            if len(mine) >= self.per_session:
                busy = mine[0]
                what = f"{busy.kind}, {busy.progress:.0%}" if busy.state == RUNNING else f"{busy.kind}, waiting"
                return self._refuse(job, f"An export is already running for you ({what}): wait for it to finish "
                                         "or cancel it before starting another.")
            active = [j for j in self._jobs.values() if not j.done]
            if len(active) >= self.workers + self.max_queued:
                return self._refuse(job, f"The server is busy with {len(active)} exports: try again in a minute.")
            ahead = len(active) - self.workers
            if ahead >= 0:
                job.message = f"waiting for a free worker ({ahead + 1} ahead)"
            self._jobs[job.id] = job
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="export",
                                                initializer=_nice_this_thread if self._nice else None)
            self._pool.submit(self._run, job, fn, args, kwargs)
        return job

    @staticmethod
    def _refuse(job: Job, message: str) -> Job:
        job.state, job.error, job.message = REFUSED, message, message
        job.finished = time.monotonic()
        return job

    def _run(self, job: Job, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        if job._stop.is_set():  # cancelled while queued
            self._finish(job, CANCELLED, error="Cancelled before it started.")
            return
        job.started = time.monotonic()
        job.state, job.message = RUNNING, ""
        try:
            result = fn(*args, progress=job._report, **kwargs)
        except JobStopped as stop:
            if str(stop) == TIMED_OUT or job._stop_reason == TIMED_OUT:
                self._finish(job, TIMED_OUT, error=f"Stopped after {job.time_limit:g} s, the limit for one export: "
                                                   "try fewer steps or a smaller size.")
            else:
                self._finish(job, CANCELLED, error="Cancelled.")
        except TimeoutError as exc:  # an export's own time limit (animation.ExportTooSlow), or a still's
            self._finish(job, TIMED_OUT, error=str(exc) or "The export took too long.")
        except BaseException as exc:  # noqa: BLE001 - the worker reports every failure on the job
            self._finish(job, FAILED, error=_describe(exc))
        else:
            job.result = result
            job.progress = 1.0
            self._finish(job, DONE)

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        with self._lock:
            job.error = error
            if error:
                job.message = error
            job.finished = time.monotonic()
            job.state = state  # last: a poller that sees a finished state sees the rest too
            self._cleanup_locked()

    # -- reading --------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        """The job, or None once it was cleaned up (or never existed)."""
        with self._lock:
            self._cleanup_locked()
            return self._jobs.get(job_id)

    def jobs_of(self, session_id: str) -> list[Job]:
        """This session's jobs still kept, oldest first."""
        with self._lock:
            self._cleanup_locked()
            return [j for j in self._jobs.values() if j.session_id == str(session_id)]

    def cancel(self, job_id: str) -> bool:
        job = self.get(job_id)
        if job is None or job.done:
            return False
        job.cancel()
        return True

    def forget(self, session_id: str) -> None:
        """A session ended: cancel its jobs and drop them (their results are nobody's)."""
        with self._lock:
            for jid, job in list(self._jobs.items()):
                if job.session_id == str(session_id):
                    job.cancel()
                    if job.done:
                        del self._jobs[jid]

    def active(self) -> int:
        with self._lock:
            return sum(not j.done for j in self._jobs.values())

    def shutdown(self, wait: bool = True) -> None:
        """Cancel every job and stop the workers (tests; the server just exits)."""
        with self._lock:
            for job in self._jobs.values():
                job.cancel()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=False)

    # -- cleanup --------------------------------------------------------------------------

    def _cleanup_locked(self) -> None:
        now = time.monotonic()
        for jid, job in list(self._jobs.items()):
            if job.done and job.finished is not None and now - job.finished > self.keep_seconds:
                del self._jobs[jid]
            elif not job.done and job.started is not None and now - job.started > job.time_limit + 30:
                # An export that stopped reporting: ask it to stop; its slot stays taken until it does.
                job._stop_reason = TIMED_OUT
                job._stop.set()
        finished = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.finished or 0.0)
        total = sum(j._size() for j in finished)
        while finished and (len(finished) > self.max_kept or total > self.max_kept_bytes):
            old = finished.pop(0)
            total -= old._size()
            del self._jobs[old.id]


# -- work in a render process ------------------------------------------------------------------


class ChildFailed(RuntimeError):
    """What the render process raised (its type and message, as text), or that it died."""


_SPAWN = multiprocessing.get_context("spawn")


def _child_main(conn) -> None:
    """A render process: runs the tasks sent over ``conn`` one at a time, until the pipe closes.

    A task is ``(fn, args, kwargs)``; the answers are ``("progress", fraction, message)`` while it
    runs, then one of ``("done", result)``, ``("error", type name, message, is a TimeoutError)``
    or ``("stopped",)``. The parent sends ``"stop"`` to stop a task: it is read at the task's next
    progress report (a ``"stop"`` that arrives after the task ended is dropped here).
    """
    try:
        os.setpriority(os.PRIO_PROCESS, 0, WORKER_NICE)
    except (AttributeError, OSError):
        pass

    since = [time.monotonic()]

    def report(fraction: float, message: str = "") -> None:
        if conn.poll() and conn.recv() == "stop":
            raise JobStopped(CANCELLED)
        conn.send(("progress", float(fraction), str(message)))
        if 0 < CHILD_DUTY < 1:  # pace: as long asleep as the work since the last report took, at 0.5
            time.sleep((time.monotonic() - since[0]) * (1 - CHILD_DUTY) / CHILD_DUTY)
        since[0] = time.monotonic()

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or exited
            return
        if not isinstance(task, tuple):  # a late "stop"
            continue
        fn, args, kwargs = task
        since[0] = time.monotonic()
        try:
            result = fn(*args, progress=report, **kwargs)
            conn.send(("done", result))
        except JobStopped:
            conn.send(("stopped",))
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent as text
            conn.send(("error", type(exc).__name__, str(exc), isinstance(exc, TimeoutError)))


class _Child:
    """One render process and the parent's end of its pipe."""

    def __init__(self) -> None:
        self.conn, theirs = _SPAWN.Pipe(duplex=True)
        self.proc = _SPAWN.Process(target=_child_main, args=(theirs,), name="export-render", daemon=True)
        self.proc.start()
        theirs.close()

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.join(5)
        finally:
            self.conn.close()


_children_lock = threading.Lock()
_idle: list[_Child] = []


def _take() -> _Child:
    with _children_lock:
        while _idle:
            child = _idle.pop()
            if child.proc.is_alive():
                return child
            child.kill()
    return _Child()


def _give_back(child: _Child) -> None:
    with _children_lock:
        if child.proc.is_alive() and len(_idle) < budget.EXPORT_WORKERS:
            _idle.append(child)
            return
    child.kill()


def stop_children() -> None:
    """End the idle render processes (tests; at exit, daemonic children end with the server)."""
    with _children_lock:
        idle, _idle[:] = list(_idle), []
    for child in idle:
        child.kill()


def _answer(child: _Child, timeout: float):
    """The child's next message; None when none came within ``timeout``; raises ChildFailed if it died."""
    ready = _wait_any([child.conn, child.proc.sentinel], timeout)
    if not ready:
        return None
    if child.conn in ready:
        try:
            return child.conn.recv()
        except (EOFError, OSError):
            pass
    child.proc.join(1)
    raise ChildFailed(f"The render process ended unexpectedly (exit code {child.proc.exitcode}): "
                      "try again, or a smaller size.")


def _stop(child: _Child) -> bool:
    """Tell the child to stop its task; True once it has (it can be reused), False if it had to be killed."""
    try:
        child.conn.send("stop")
        end = time.monotonic() + CHILD_GRACE
        while time.monotonic() < end:
            msg = _answer(child, max(0.0, end - time.monotonic()))
            if msg is not None and msg[0] != "progress":
                return True
    except (ChildFailed, OSError):
        pass
    return False


def in_process(fn: Callable[..., Any], *args: Any, progress: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    """``fn(*args, progress=cb, **kwargs)`` in a render process; returns its result here.

    ``fn`` (a module-level function), its arguments and its result must pickle. The child's
    progress reports are relayed to ``progress`` (a job's callback), which is also called every
    0.2 s while the child is quiet: when it raises :class:`JobStopped` (cancelled, or past the
    time bound) the child is told to stop, and killed if it does not within ``CHILD_GRACE`` s.
    An exception in the child comes back as :class:`ChildFailed` (a ``TimeoutError`` as a
    ``TimeoutError``), a child that dies as :class:`ChildFailed`. A script that calls this must
    guard its main code (``if __name__ == "__main__":``): ``spawn`` imports the main module in
    the child (``python -m streamlit`` and ``python -m pytest`` are skipped, being ``__main__``s).
    """
    child = _take()
    reusable, last = False, 0.0
    try:
        child.conn.send((fn, args, kwargs))
        while True:
            try:
                msg = _answer(child, 0.2)
                if msg is None:
                    if progress is not None:
                        progress(last)  # raises JobStopped once the job is cancelled or over time
                    continue
                if msg[0] == "progress":
                    last = msg[1]
                    if progress is not None:
                        progress(msg[1], msg[2])
                    continue
            except JobStopped:
                reusable = _stop(child)
                raise
            reusable = True
            if msg[0] == "done":
                return msg[1]
            if msg[0] == "stopped":
                raise JobStopped(CANCELLED)
            _, name, text, timeout = msg
            if timeout:
                raise TimeoutError(text)
            raise ChildFailed(f"{name}: {text}" if text else name)
    finally:
        if reusable:
            _give_back(child)
        else:
            child.kill()


RUNNER = JobRunner(workers=budget.EXPORT_WORKERS, per_session=budget.EXPORT_JOBS_PER_SESSION,
                   max_queued=budget.EXPORT_QUEUE, time_limit=budget.EXPORT_SECONDS)


def submit(session_id: str, kind: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Job:
    """:meth:`JobRunner.submit` on the process's runner."""
    return RUNNER.submit(session_id, kind, fn, *args, **kwargs)


def get(job_id: str) -> Job | None:
    return RUNNER.get(job_id)


def jobs_of(session_id: str) -> list[Job]:
    return RUNNER.jobs_of(session_id)


def cancel(job_id: str) -> bool:
    return RUNNER.cancel(job_id)


def forget(session_id: str) -> None:
    RUNNER.forget(session_id)
