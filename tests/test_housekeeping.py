"""app/housekeeping.py: one thread per process; after sessions end, gc + malloc_trim (rate-limited);
expired sessions shut down; nothing off glibc. The last test runs a real server: five sessions open
the Playground and leave, and its log shows them ended, shut down past the TTL, and a trim."""

from __future__ import annotations

import os
import threading
import time

import pytest

from app import housekeeping as H



def test_only_each_sessions_newest_uploads_are_kept():
    """Streamlit keeps every PUT file until its DELETE or the session's end: the housekeeper keeps each
    session's newest two (the page's uploader shows one) and says how many bytes it dropped."""
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.uploaded_file_manager import UploadedFileRec

    mgr = MemoryUploadedFileManager("/_stcore/upload_file")
    for i, size in enumerate((100, 200, 300, 400)):
        mgr.add_file("a", UploadedFileRec(f"a{i}", f"a{i}.safetensors", "application/octet-stream", b"x" * size))
    mgr.add_file("b", UploadedFileRec("b0", "b0.safetensors", "application/octet-stream", b"y" * 50))
    assert H.cap_uploads(mgr, keep=2) == 100 + 200
    assert list(mgr.file_storage["a"]) == ["a2", "a3"] and list(mgr.file_storage["b"]) == ["b0"]
    assert [f.file_id for f in mgr.get_files("a", ["a0", "a1", "a2", "a3"])] == ["a2", "a3"]
    assert H.cap_uploads(mgr, keep=2) == 0  # nothing left to drop

    # A tick drops them before it looks, and a collection becomes due.
    k = H.Housekeeper(lambda: H.Look(1), uploads=lambda: H.cap_uploads(mgr, keep=1), trim=lambda: None,
                      collect=lambda: None, forget=None)
    assert k.tick() and list(mgr.file_storage["a"]) == ["a3"]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _keeper(looks, **kw):
    """A Housekeeper fed ``looks`` (Look or None, one per tick), recording its calls."""
    calls = {"collect": 0, "trim": 0, "forget": []}
    seq = iter(looks)
    clock = kw.pop("clock", Clock())

    def collect():
        calls["collect"] += 1

    def trim():
        calls["trim"] += 1
        return True

    k = H.Housekeeper(lambda: next(seq), trim=trim, collect=collect, forget=calls["forget"].append, clock=clock,
                      interval=kw.pop("interval", 5.0), min_gap=kw.pop("min_gap", 30.0), **kw)
    return k, calls, clock


@pytest.fixture(autouse=True)
def _no_thread_left():
    H.stop()
    yield
    H.stop()
    assert H.running() is None


def test_start_runs_one_thread_however_often_it_is_called(monkeypatch):
    monkeypatch.delenv(H.ENV, raising=False)
    ticks = threading.Event()

    def look():
        ticks.set()
        return H.Look(active=0)

    first = H.start(look=look, trim=lambda: False, interval=0.02)
    assert first is not None
    others = [H.start(look=look, trim=lambda: False, interval=0.02) for _ in range(3)]
    barrier = []
    threads = [threading.Thread(target=lambda: barrier.append(H.start(look=look, interval=0.02))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(o is first for o in others + barrier)
    assert sum(t.name == H.THREAD_NAME for t in threading.enumerate()) == 1
    assert H.running().daemon
    assert ticks.wait(5), "the thread never looked at the sessions"
    H.stop()
    assert H.running() is None


def test_start_does_nothing_when_turned_off_or_outside_a_streamlit_server(monkeypatch):
    monkeypatch.setenv(H.ENV, "0")
    assert H.start(look=lambda: H.Look(active=0)) is None
    assert H.running() is None
    monkeypatch.setenv(H.ENV, "1")
    # No runtime in this process (plain pytest): nothing to watch, no thread.
    assert H.start() is None
    assert H.running() is None
    # AppTest's stand-in runtime (a MagicMock with the Runtime spec) is no server either.
    from unittest import mock

    from streamlit.runtime import Runtime

    monkeypatch.setattr(Runtime, "_instance", mock.MagicMock(spec=Runtime))
    assert Runtime.exists()
    assert H.start() is None and H.running() is None
    assert H.RuntimeSessions()() is None


def test_trims_once_sessions_end_and_not_more_often_than_min_gap():
    L = H.Look
    k, calls, clock = _keeper([L(0), L(3), L(10), L(10), L(7), L(4), L(4), L(4), L(0, ended=["a", "b"], reaped=2)])
    assert not k.tick() and not k.tick() and not k.tick()  # 0 -> 3 -> 10 sessions: arriving, nothing to give back
    assert not k.tick()  # 10 -> 10
    assert calls["trim"] == calls["collect"] == 0
    assert k.tick()  # 10 -> 7: sessions left
    assert calls == {"collect": 1, "trim": 1, "forget": []}
    clock.t += 5
    assert not k.tick()  # 7 -> 4, but 5 s after the last trim: later
    clock.t += 10
    assert not k.tick()  # still within the gap
    assert calls["trim"] == 1 and k.due
    clock.t += 20  # 35 s after the first trim
    assert k.tick()  # the pending one
    assert calls["trim"] == 2 and not k.due
    clock.t += 60
    assert k.tick()  # two sessions ended past their TTL and were shut down: trim again, drop their exports
    assert calls["trim"] == 3 and calls["collect"] == 3
    assert calls["forget"] == ["a", "b"]
    assert (k.ended, k.reaped, k.trims) == (2, 2, 3)


def test_no_runtime_no_work():
    k, calls, _ = _keeper([None, None, H.Look(2), None, H.Look(1)])
    assert not any(k.tick() for _ in range(4))
    assert calls["trim"] == 0
    assert k.tick()  # 2 -> 1 (the Nones in between are not "0 sessions")
    assert calls["trim"] == 1


def test_trim_is_a_no_op_off_glibc(monkeypatch):
    H._malloc_trim_fn.cache_clear()
    loaded = []
    monkeypatch.setattr(H.ctypes, "CDLL", lambda *a, **k: loaded.append(a) or pytest.fail("libc loaded off glibc"))
    try:
        for platform in ("darwin", "win32"):
            monkeypatch.setattr(H.sys, "platform", platform)
            H._malloc_trim_fn.cache_clear()
            assert H.glibc() is None
            assert H.malloc_trim() is False
        # Linux with musl: no CS_GNU_LIBC_VERSION.
        monkeypatch.setattr(H.sys, "platform", "linux")

        def no_such_name(name):
            raise ValueError("unrecognized configuration name")
        monkeypatch.setattr(H.os, "confstr", no_such_name)
        H._malloc_trim_fn.cache_clear()
        assert H.glibc() is None and H.malloc_trim() is False
        # The housekeeper still collects and looks after sessions; the trim just does nothing.
        collected = []
        k = H.Housekeeper(iter([H.Look(3), H.Look(0, ended=["x"])]).__next__, collect=lambda: collected.append(1),
                          forget=None)
        k.tick()
        assert k.tick() and collected == [1]
        assert loaded == []
    finally:
        H._malloc_trim_fn.cache_clear()


@pytest.mark.skipif(H.glibc() is None, reason="glibc's malloc_trim")
def test_malloc_trim_gives_freed_heap_back_on_glibc():
    # Many small blocks freed: glibc keeps their pages in the heap until a trim.
    H._malloc_trim_fn.cache_clear()
    blocks = [bytearray(4000) for _ in range(50_000)]  # ~200 MB below the mmap threshold
    keep = blocks[-1]
    del blocks
    before = H.rss_bytes()
    H.malloc_trim()
    after = H.rss_bytes()
    assert keep is not None
    assert before - after > 50 * 2**20, (before, after)


def test_runtime_sessions_returns_none_without_a_runtime():
    assert H.RuntimeSessions()() is None


class _Storage:
    def __init__(self):
        self.deleted = []

    def delete(self, sid):
        self.deleted.append(sid)
        raise KeyError(sid)  # what Streamlit's TTLCache says for an expired entry


class _Session:
    def __init__(self, sid):
        self.id = sid
        self.shutdowns = 0

    def shutdown(self):
        self.shutdowns += 1
        self._state = type("S", (), {"name": "SHUTDOWN_REQUESTED"})()


class _Info:
    def __init__(self, s):
        self.session = s


class _Manager:
    def __init__(self):
        self.active, self.stored = {}, {}
        self._session_storage = _Storage()

    def list_sessions(self):
        return [_Info(s) for s in [*self.active.values(), *self.stored.values()]]

    def num_active_sessions(self):
        return len(self.active)


def test_runtime_sessions_shuts_down_sessions_the_storage_hides_after_their_ttl():
    mgr = _Manager()
    rt = type("RT", (), {"_session_mgr": mgr})()
    a, b, c = _Session("a"), _Session("b"), _Session("c")
    mgr.active = {"a": a, "b": b, "c": c}
    rs = H.RuntimeSessions()
    assert rs.look(rt) == H.Look(active=3)
    mgr.active = {"c": c}
    mgr.stored = {"a": a, "b": b}  # disconnected, within the TTL: kept, untouched
    assert rs.look(rt) == H.Look(active=1)
    assert a.shutdowns == b.shutdowns == 0
    mgr.stored = {"b": b}  # a expired: hidden, but still held (and never shut down by Streamlit)
    got = rs.look(rt)
    assert got.ended == ["a"] and got.reaped == 1 and got.active == 1
    assert a.shutdowns == 1 and mgr._session_storage.deleted == ["a"]
    mgr.stored = {}
    mgr.active = {"b": b, "c": c}  # b came back in time (resumed): not ended
    assert rs.look(rt) == H.Look(active=2)
    assert b.shutdowns == 0


# ---- a real server -------------------------------------------------------------------------------------

def test_a_real_server_trims_after_sessions_leave_and_shuts_expired_ones_down(tmp_path):
    pytest.importorskip("websocket", reason="websocket-client comes with locust (the test extra)")
    if H.glibc() is None:
        pytest.skip("the trim is logged on glibc only")
    from app import devserver
    from loadtest.protocol import Session

    log = tmp_path / "server.log"
    ttl = 6
    with devserver.serve(extra_args=["--server.disconnectedSessionTTL", str(ttl), "--logger.level", "info"],
                         log_path=str(log)) as url:
        sessions = []
        for n in range(5):
            s = Session(url, timeout=120, name=f"hk-{n}")
            s.connect()
            sessions.append(s)
            req = s.open("", f"pg_seed={9000 + n}")
            assert req.error is None and not req.exceptions, (req.error, req.exceptions)
        time.sleep(2 * H.INTERVAL + 1)  # the housekeeper looks every INTERVAL s: it has seen them
        for s in sessions:
            s.close()
        deadline = time.monotonic() + ttl + 3 * H.INTERVAL + 15
        text = ""
        while time.monotonic() < deadline:
            text = log.read_text()
            if "housekeeping: gc.collect() + malloc_trim(0)" in text and "5 of them expired and shut down" in text:
                break
            time.sleep(1)
    assert "housekeeping: gc.collect() + malloc_trim(0)" in text, text[-3000:]
    # Past the TTL, the five sessions the storage only hid were ended here, properly.
    assert "housekeeping: 5 sessions ended (5 of them expired and shut down here), 0 active" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


def test_arena_cap_on_glibc_only_and_never_over_the_environment(monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert H.limit_arenas() is False  # glibc read the environment at start: leave it
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setattr(H.sys, "platform", "darwin")
    assert H.limit_arenas() is False
    monkeypatch.undo()
    if H.glibc() is not None:  # in a process of its own: it changes that process's malloc
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
        out = subprocess.run([sys.executable, "-c", "from app.housekeeping import limit_arenas; print(limit_arenas())"],
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "True", out.stderr


def test_memory_report_reads_the_metrics_and_prints_the_table():
    from loadtest import memory as M

    text = """# TYPE cache_memory_bytes gauge
cache_memory_bytes{cache_type="st_cache_data",cache="app.playground.cache._race"} 2097152
cache_memory_bytes{cache_type="st_cache_data",cache="app.playground.cache._landscape"} 1048576
cache_memory_bytes{cache_type="st_session_state",cache=""} 134
# TYPE active_sessions gauge
active_sessions 7
"""
    got = M.parse_metrics(text)
    assert got == {"active_sessions": 7, "cache_bytes": {"st_cache_data": 3 * 2**20, "st_session_state": 134}}
    r = M.StepResult(sessions=10, live=3, rss_open=450 * 2**20, anon_open=300 * 2**20, peak=455 * 2**20,
                     rss_left=400 * 2**20, anon_left=250 * 2**20, waited=100, metrics_open=got)
    table = M.format_table([r])
    row = table.splitlines()[-1].split()
    assert row[:7] == ["10", "3", "450", "300", "455", "400", "250"] and row[-2:] == ["3.0", "0"]
    assert M._loopback("http://127.0.0.1:8501/") and M._loopback("localhost:1") and not M._loopback("http://10.0.0.1/")
