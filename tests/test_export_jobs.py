"""The export job runner (app/exports/jobs.py): limits per session and overall, progress, errors,
time bounds, cleanup, and a race computed on the page's thread while a heavy export runs."""

from __future__ import annotations

import io
import os
import statistics
import threading
import time

import numpy as np
import pytest

from app.exports import jobs as J


def wait(job: J.Job, timeout: float = 10.0) -> J.Job:
    end = time.monotonic() + timeout
    while not job.done:
        assert time.monotonic() < end, f"job {job.kind} still {job.state} after {timeout} s"
        time.sleep(0.01)
    return job


@pytest.fixture
def runner():
    r = J.JobRunner(workers=2, per_session=1, max_queued=2, time_limit=10.0, keep_seconds=60.0)
    yield r
    r.shutdown()


def blocker(release: threading.Event, progress):
    """Runs until released, reporting (so it can be stopped)."""
    while not release.wait(0.01):
        progress(0.5)
    return b"done"


def counting(n: int, progress):
    for i in range(n):
        progress(i / n, f"frame {i + 1} of {n}")
        time.sleep(0.002)
    return b"x" * n


def test_progress_reaches_one_and_result_is_kept(runner):
    seen = []

    def export(n, progress):
        for i in range(n):
            progress(i / n)
            seen.append(i)
        return "result"

    job = wait(runner.submit("s1", "gif", export, 20))
    assert job.state == "done" and job.ok and job.progress == 1.0 and job.result == "result" and job.error is None
    assert seen == list(range(20))
    assert runner.get(job.id) is job and runner.jobs_of("s1") == [job]


def test_progress_never_goes_backwards_and_stays_in_0_1(runner):
    values = []
    release, submitted = threading.Event(), threading.Event()
    holder = {}

    def export(progress):
        submitted.wait(5)
        for f in (0.2, 0.1, 1.7, -3, float("nan")):
            progress(f)
            values.append(holder["job"].progress)
        release.wait(5)
        return 1

    job = holder["job"] = runner.submit("s1", "mp4", export)
    submitted.set()
    time.sleep(0.2)
    assert values == [0.2, 0.2, 1.0, 1.0, 1.0]
    release.set()
    wait(job)


def test_one_heavy_job_per_session(runner):
    release = threading.Event()
    first = runner.submit("alice", "gif", blocker, release)
    second = runner.submit("alice", "mp4", counting, 3)
    assert second.refused and second.done and not second.ok
    assert "already running" in second.error and "gif" in second.error
    assert runner.get(second.id) is None  # a refusal is not kept
    other = wait(runner.submit("bob", "mp4", counting, 3))  # another session is not held up
    assert other.ok
    release.set()
    assert wait(first).ok
    assert wait(runner.submit("alice", "mp4", counting, 3)).ok  # the slot is free again


def test_global_limit_runs_two_queues_the_rest_and_refuses_beyond(runner):
    release = threading.Event()
    running = [runner.submit(f"s{i}", "gif", blocker, release) for i in range(2)]
    time.sleep(0.1)
    assert [j.state for j in running] == ["running", "running"]
    queued = [runner.submit(f"q{i}", "gif", counting, 3) for i in range(2)]
    assert [j.state for j in queued] == ["queued", "queued"] and "waiting" in queued[1].message
    busy = runner.submit("late", "gif", counting, 3)
    assert busy.refused and "busy" in busy.error
    assert runner.active() == 4
    time.sleep(0.1)
    assert [j.state for j in queued] == ["queued", "queued"]  # no third worker
    release.set()
    for j in running + queued:
        assert wait(j).ok


def test_errors_are_captured(runner):
    def broken(progress):
        progress(0.3)
        raise RuntimeError("ffmpeg exited with status 1")

    job = wait(runner.submit("s1", "mp4", broken))
    assert job.state == "failed" and job.error == "RuntimeError: ffmpeg exited with status 1"
    assert job.result is None and job.progress == pytest.approx(0.3)
    assert wait(runner.submit("s1", "mp4", counting, 2)).ok  # a failed job frees its slot


def test_time_bound_stops_a_job(runner):
    swallowed = []

    def slow(progress):
        while True:
            try:
                progress(0.1)
            except Exception:  # an export's own handler must not swallow the stop
                swallowed.append(1)
            time.sleep(0.01)

    t0 = time.monotonic()
    job = wait(runner.submit("s1", "gif", slow, time_bound=0.3), timeout=5)
    assert job.state == "timed out" and "0.3 s" in job.error
    assert 0.3 <= time.monotonic() - t0 < 2.0 and not swallowed

    def too_slow(progress):
        raise TimeoutError("Rendering took longer than 5 s.")  # an export's own limit (ExportTooSlow)

    job = wait(runner.submit("s1", "gif", too_slow))
    assert job.state == "timed out" and job.error == "Rendering took longer than 5 s."


def test_cancel_running_and_queued(runner):
    release = threading.Event()
    a = runner.submit("a", "gif", blocker, release)
    b = runner.submit("b", "gif", blocker, release)
    c = runner.submit("c", "gif", counting, 3)  # queued behind a and b
    assert runner.cancel(c.id)
    assert runner.cancel(a.id)
    assert wait(a).state == "cancelled"
    assert wait(c).state == "cancelled" and "before it started" in c.error
    release.set()
    assert wait(b).ok
    assert not runner.cancel(b.id)


def test_finished_jobs_are_cleaned_up():
    r = J.JobRunner(workers=1, per_session=5, keep_seconds=0.2, max_kept=3, max_kept_bytes=10_000)
    try:
        done = [wait(r.submit("s", "gif", counting, 10)) for _ in range(5)]
        kept = r.jobs_of("s")
        assert kept == done[-3:]  # at most max_kept, the oldest dropped first
        big = [wait(r.submit("s", "mp4", lambda progress: b"y" * 6_000)) for _ in range(2)]
        assert big[0] not in r.jobs_of("s") and big[1] in r.jobs_of("s")  # bytes bound
        time.sleep(0.3)
        assert r.jobs_of("s") == [] and r.get(big[1].id) is None  # kept only keep_seconds
    finally:
        r.shutdown()


def test_forget_a_session(runner):
    release = threading.Event()
    a = runner.submit("gone", "gif", blocker, release)
    done = wait(runner.submit("stays", "gif", counting, 2))
    runner.forget("gone")
    assert wait(a).state == "cancelled"
    runner.forget("gone")
    assert runner.jobs_of("gone") == [] and runner.jobs_of("stays") == [done]
    release.set()


# -- a heavy export next to the page ---------------------------------------------------------


def render_frames(seconds: float, progress):
    """A stand-in for a GIF export: NumPy frames drawn on with Pillow and encoded, for ``seconds``."""
    from PIL import Image, ImageDraw

    x = np.linspace(-2, 2, 480)
    X, Y = np.meshgrid(x, x[:360])
    end = time.monotonic() + seconds
    frames = 0
    while time.monotonic() < end:
        Z = np.log1p((1 - X) ** 2 + 100 * (Y - X**2 + 0.01 * frames) ** 2)
        rgb = (np.stack([Z, Z * 0.7, 1 - Z / Z.max()], axis=-1) * (255 / Z.max())).astype(np.uint8)
        img = Image.fromarray(rgb)
        d = ImageDraw.Draw(img)
        pts = [(float(i), 180 + 100 * np.sin(i / 30 + frames)) for i in range(0, 480, 4)]
        d.line(pts, fill=(0, 0, 0), width=3)
        img.quantize(64).save(io.BytesIO(), format="GIF")
        frames += 1
        progress(min((time.monotonic() - end + seconds) / seconds, 0.99))
    return frames


def test_a_race_still_computes_while_a_heavy_export_runs(runner):
    from app.playground.presets import DEFAULT_SCENE
    from app.playground.race import compute

    def timed(n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            assert compute(DEFAULT_SCENE).ok
            out.append(time.perf_counter() - t)
        return out

    timed(3)  # warm
    solo = statistics.median(timed(15))
    job = runner.submit("teacher", "gif", render_frames, 2.0)
    time.sleep(0.1)
    busy = []
    while job.state == "running":
        busy += timed(1)
    wait(job)
    assert job.ok and job.result > 5 and len(busy) >= 5
    loaded = statistics.median(busy)
    print(f"\nrace compute: solo {solo * 1e3:.1f} ms, next to a heavy export {loaded * 1e3:.1f} ms "
          f"(median of {len(busy)}; max {max(busy) * 1e3:.1f} ms; {loaded / solo:.2f}x); "
          f"the export drew {job.result} frames in 2 s")
    assert loaded < 5 * solo


# -- animations in a render process (jobs.in_process) -----------------------------------------
# The functions a child runs are module-level: the child imports this module to find them.


def child_pid(progress):
    progress(0.5, "in the child")
    return os.getpid()


def child_counting(n: int, progress):
    for i in range(n):
        progress((i + 1) / n, f"frame {i + 1} of {n}")
        time.sleep(0.01)
    return os.getpid()


def child_forever(progress):
    while True:
        progress(0.25, "drawing")
        time.sleep(0.01)


def child_silent(progress):
    time.sleep(60)  # never reports: only a kill stops it


def child_raises(progress):
    progress(0.4)
    raise ValueError("frame size 0 x 0")


def child_too_slow(progress):
    raise TimeoutError("the export took longer than its 5 s")


def child_dies(progress):
    progress(0.2)
    os._exit(3)


@pytest.fixture(scope="module", autouse=True)
def _children():
    yield
    J.stop_children()


def test_in_process_runs_in_a_reused_child_and_relays_progress(runner):
    seen = []
    pid = J.in_process(child_pid, progress=lambda f, m="": seen.append((f, m)))
    assert isinstance(pid, int) and pid != os.getpid()
    assert [s for s in seen if s[1]] == [(0.5, "in the child")]  # and, while it is quiet, the last fraction
    job = runner.submit("s1", "gif", J.in_process, child_counting, 20)
    fractions = []
    while not job.done:
        fractions.append(job.progress)
        time.sleep(0.005)
    assert wait(job).ok and job.result == pid  # the same child, started once
    assert job.message == "frame 20 of 20" and 0 < len(set(fractions) - {0.0, 1.0})
    assert fractions == sorted(fractions)


def test_cancel_and_time_bound_stop_the_child(runner):
    job = runner.submit("s1", "gif", J.in_process, child_forever)
    while job.progress < 0.25:
        time.sleep(0.01)
    t0 = time.monotonic()
    runner.cancel(job.id)
    assert wait(job, timeout=5).state == "cancelled" and time.monotonic() - t0 < 1.0
    job = wait(runner.submit("s1", "gif", J.in_process, child_forever, time_bound=0.5), timeout=5)
    assert job.state == "timed out" and "0.5 s" in job.error
    first = J.in_process(child_pid)
    assert J.in_process(child_pid) == first  # a child that stopped when told is reused


def test_a_child_that_does_not_stop_is_killed(runner, monkeypatch):
    monkeypatch.setattr(J, "CHILD_GRACE", 0.3)
    before = J.in_process(child_pid)
    job = runner.submit("s1", "mp4", J.in_process, child_silent)
    time.sleep(0.3)
    t0 = time.monotonic()
    runner.cancel(job.id)
    assert wait(job, timeout=5).state == "cancelled" and time.monotonic() - t0 < 2.0
    after = J.in_process(child_pid)
    assert after != before and after != os.getpid()  # the silent one was killed; a new child started


def test_errors_and_deaths_in_the_child_fail_the_job_with_a_message(runner):
    job = wait(runner.submit("s1", "gif", J.in_process, child_raises))
    assert job.state == "failed" and job.error == "ValueError: frame size 0 x 0"
    assert job.progress == pytest.approx(0.4)
    job = wait(runner.submit("s1", "gif", J.in_process, child_too_slow))
    assert job.state == "timed out" and job.error == "the export took longer than its 5 s"
    job = wait(runner.submit("s1", "mp4", J.in_process, child_dies), timeout=10)
    assert job.state == "failed" and "ended unexpectedly (exit code 3)" in job.error
    assert isinstance(J.in_process(child_pid), int)  # the next task gets a new child


def test_an_animation_job_renders_the_same_file_in_a_child():
    from app.exports import animation as A
    from app.playground import figures, presets, race

    res = race.compute(presets.DEFAULT_SCENE)
    land = figures.landscape(res.surface)
    src = (presets.DEFAULT_SCENE, res, res.surface, land)
    kw = dict(size=(320, 180), seconds=1.0, fps=10)
    runner = J.JobRunner(workers=1, time_limit=60.0)
    try:
        job = wait(runner.submit("s1", "GIF", A.gif_in_child, src, **kw), timeout=60)
    finally:
        runner.shutdown()
    assert job.ok and job.progress == 1.0
    assert isinstance(job.result, bytes) and job.result == A.write_gif(src, **kw)


def child_busy(n: int, progress):
    for i in range(n):
        end = time.perf_counter() + 0.02
        while time.perf_counter() < end:  # work, not sleep: the pace is measured on it
            pass
        progress((i + 1) / n)
    return n


def test_the_child_paces_itself():
    J.in_process(child_pid)  # a child already started: its imports are not timed
    t0 = time.perf_counter()
    assert J.in_process(child_busy, 10) == 10
    took = time.perf_counter() - t0
    assert J.CHILD_DUTY == 0.5 and 0.35 < took < 3.0  # 0.2 s of work, as long asleep
