"""The export job runner (app/exports/jobs.py): limits per session and overall, progress, errors,
time bounds, cleanup, and a race computed on the page's thread while a heavy export runs."""

from __future__ import annotations

import io
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
