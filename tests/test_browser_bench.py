"""The browser benchmark's pure parts (app.browser_bench): no browser, no server.

The websocket byte counter (bytes and str payloads, Streamlit's script_finished messages), the
percentile helpers, the host check and the markdown report for fixed results.
"""

from __future__ import annotations

import numpy as np
import pytest

from app import browser_bench as B


def test_payload_bytes_counts_bytes_not_characters():
    assert B.payload_bytes(b"\x00\x01\x02") == 3
    assert B.payload_bytes(bytearray(5)) == 5
    assert B.payload_bytes("ab") == 2
    assert B.payload_bytes("σ→") == 5  # a text frame goes over the wire as UTF-8: 2 + 3 bytes
    assert B.payload_bytes("") == 0


def _forward_msg(**fields) -> bytes:
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg(**fields)
    return msg.SerializeToString()


def test_stream_counter_adds_bytes_and_str_frames_and_keeps_sent_apart():
    now = [100.0]
    c = B.StreamCounter(clock=lambda: now[0])
    c.on_received(b"\x08" * 10)
    now[0] = 101.0
    c.on_received("σ" * 3)
    c.on_sent(b"abcd")
    c.on_sent("é")
    assert (c.received, c.frames, c.sent) == (16, 2, 6)
    now[0] = 103.5
    assert c.quiet_for() == pytest.approx(2.5)  # since the last frame received, not the last sent


def test_stream_counter_counts_finished_script_runs_by_status():
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    c = B.StreamCounter()
    fragment = _forward_msg(script_finished=ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY)
    whole = _forward_msg(script_finished=ForwardMsg.FINISHED_SUCCESSFULLY)
    for payload in (fragment, fragment, whole):
        c.on_received(payload)
    # Neither a delta, nor a text frame, nor bytes that are no ForwardMsg count as a finished run.
    c.on_received(_forward_msg(delta={"fragment_id": "x"}))
    c.on_received("0\x03")
    c.on_received(b"\xff\xff\xff")
    assert c.fragment_runs == 2
    assert c.runs == 3
    assert c.finished == {"FINISHED_FRAGMENT_RUN_SUCCESSFULLY": 2, "FINISHED_SUCCESSFULLY": 1}
    assert c.frames == 6
    assert c.received == 3 * len(fragment) + len(_forward_msg(delta={"fragment_id": "x"})) + 2 + 3


def test_percentile_and_median_match_numpy_linear_interpolation():
    values = [12.0, 3.0, 7.5, 250.0, 41.0, 8.0, 9.0]
    for q in (0, 10, 25, 50, 75, 90, 100):
        assert B.percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert B.median([3, 1, 2]) == 2
    assert B.median([4, 1, 3, 2]) == 2.5
    assert B.percentile([10, 20, 30, 40, 50], 90) == pytest.approx(46.0)
    assert B.median([7]) == 7
    with pytest.raises(ValueError):
        B.median([])
    with pytest.raises(ValueError):
        B.percentile([1, 2], 101)


def test_summarize_latency_samples():
    assert B.summarize([220.0, 180.0, 900.0, 200.0]) == {"median": 210.0, "min": 180.0, "max": 900.0, "n": 4}


def test_foreign_host_names_every_network_host_but_the_local_server():
    assert B.foreign_host("http://127.0.0.1:8501/static/js/index.js") is None
    assert B.foreign_host("ws://127.0.0.1:8501/_stcore/stream") is None
    assert B.foreign_host("data:image/png;base64,AAAA") is None
    assert B.foreign_host("blob:http://127.0.0.1:8501/1234") is None
    assert B.foreign_host("https://fonts.googleapis.com/css2?family=Source+Sans") == "fonts.googleapis.com"
    assert B.foreign_host("http://localhost:8501/") == "localhost"  # another name is another host
    assert B.foreign_host("wss://example.org/stream") == "example.org"


def test_targets_and_units():
    assert B.TARGETS["open_bytes"]["default"].met(300_000) is True
    assert B.TARGETS["open_bytes"]["default"].met(300_001) is False
    assert B.TARGETS["fps"].met(23.9) is False and B.TARGETS["fps"].met(24) is True
    assert B.TARGETS["fps"].met(None) is None
    assert str(B.TARGETS["open_bytes"]["default"]) == "≤ 300 kB"
    assert str(B.TARGETS["open_bytes"]["6x5000"]) == "≤ 2 MB"
    assert str(B.TARGETS["latency_ms"]["6x5000"]) == "≤ 400 ms"
    assert str(B.TARGETS["live_redraws"][2]) == "≥ 5 /s"
    assert [B.fmt_bytes(n) for n in (54, 999, 12_345, 201_734, 2_797_827, 29_912_345, 123_456_789)] == \
        ["54 B", "999 B", "12.3 kB", "202 kB", "2.8 MB", "29.9 MB", "123 MB"]


RESULTS = {
    "meta": {"quick": True, "chromium": "156.0", "seconds": 61.2},
    "open": {"default": {"received": 201_734, "sent": 54, "frames": 188, "http": 9_785_167, "seconds": 1.42},
             "6x5000": {"received": 2_797_827, "sent": 69, "frames": 190, "http": 9_785_167, "seconds": 1.9}},
    "latency": {"default": {"median": 226.1, "min": 166.9, "max": 363.1, "n": 7, "bytes_per_change": 154_000,
                            "method": "first `__oeRace.paints` entry after the keydown"},
                "6x5000": {"error": "TimeoutError: no finished rerun after the seed change within 180 s"}},
    "fps": {"default": {"fps": 50.9, "race_fps": 53.6, "race_fps_source": "__oeRace.frames", "replays": 1,
                        "seconds": 3.0}},
    "live": {"2": {"redraws_per_s": 6.4, "steps_per_s": None, "seconds": 4.0, "method": "`__oeLive`"},
             "4": {"redraws_per_s": 2.5, "steps_per_s": 512.0, "seconds": 4.1, "method": "`__oeLive`"}},
    "foreign_hosts": [],
}


def _row(report: str, start: str) -> list[str]:
    lines = [line for line in report.splitlines() if line.startswith(f"| {start} |")]
    assert len(lines) == 1, (start, lines)
    return [cell.strip() for cell in lines[0].strip("|").split("|")]


def _section(report: str, title: str) -> str:
    """The report from the heading starting with ``title`` to the next heading."""
    rest = report.split(f"## {title}", 1)[1]
    return rest.split("\n## ", 1)[0]


def test_report_puts_each_number_beside_its_target_and_baseline():
    report = B.format_report(RESULTS)
    opening = _section(report, "1.")
    assert _row(opening, "default scene (`/`)") == [
        "default scene (`/`)", "202 kB", "≤ 300 kB", "yes", "2.7 MB", "54 B", "9.79 MB", "188", "1.4 s"]
    assert _row(opening, "6 runs x 5,000 steps (`/?pg_steps=5000`)")[1:5] == ["2.8 MB", "≤ 2 MB", "**no**", "29 MB"]
    assert "Requests to hosts other than 127.0.0.1: none." in opening
    latency = _section(report, "2.")
    assert _row(latency, "default scene (`/`)")[:9] == [
        "default scene (`/`)", "226 ms", "167 ms", "363 ms", "7", "≤ 150 ms", "**no**", "~1,500 ms", "154 kB"]
    failed = _row(latency, "6 runs x 5,000 steps (`/?pg_steps=5000`)")
    assert failed[1] == "failed: TimeoutError: no finished rerun after the seed change within 180 s"
    assert failed[5:8] == ["≤ 400 ms", "–", "~1,500 ms"]  # the target is still shown, nothing is "met"
    fps = _section(report, "3.")
    assert _row(fps, "default scene (`/`)") == [
        "default scene (`/`)", "50.9", "≥ 24 fps", "yes", "~14 fps", "53.6 (__oeRace.frames)", "1", "3.0 s"]
    assert _row(fps, "6 runs x 5,000 steps (`/?pg_steps=5000`)")[1] == "not measured"
    live = _section(report, "4.")
    assert _row(live, "2")[:9] == ["2", "6.4 /s", "≥ 5 /s", "yes", "0.5–1.5 /s", "–", "≥ 300 /s", "–",
                                   "4.0 s"]
    assert _row(live, "4")[:9] == ["4", "2.5 /s", "≥ 3 /s", "**no**", "0.5–1.5 /s", "512 /s", "≥ 300 /s", "yes",
                                   "4.1 s"]
    assert "quick run; took 61 s." in report


def test_report_names_foreign_hosts_and_a_benchmark_that_could_not_run():
    report = B.format_report({**RESULTS, "foreign_hosts": ["fonts.gstatic.com", "example.org"]})
    assert "Requests to hosts other than 127.0.0.1: **fonts.gstatic.com**, **example.org**" in report
    broken = B.format_report({"meta": {}, "error": "RuntimeError: streamlit did not start"})
    assert "**The benchmark could not run: RuntimeError: streamlit did not start**" in broken
    assert "Requests to hosts other than 127.0.0.1: not checked." in broken
    assert _row(_section(broken, "1."), "default scene (`/`)")[1] == "not measured"


def test_the_report_shows_the_slider_while_another_session_exports():
    e = {"median": 143.5, "min": 110.5, "max": 293.2, "n": 7, "export": "MP4 1920x1080", "export_seconds": 15.1}
    text = B.format_report({"meta": {}, "under_export": e})
    assert "## 5. Slider → painted while another session renders an MP4 1920x1080" in text
    assert "| 144 ms | 110 ms | 293 ms | 7 | ≤ 150 ms | yes | 15.1 s |" in text
    failed = B.format_report({"meta": {}, "under_export": {"error": "RuntimeError: the export finished first"}})
    assert "Not measured: failed: RuntimeError: the export finished first" in failed
