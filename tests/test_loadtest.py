"""The protocol-level load test (loadtest/): its pure parts, and a short run against a real server.

The pure parts need no server: percentiles, the browser's message cache (references substituted,
messages aged out by script runs), widgets read from Streamlit's own protos with the wire types and
first values the browser uses, and the isolation registry. The short run starts the app (one
server process) through ``python -m loadtest run`` with a few simulated students for 20 s, in a
process of its own (Locust monkey-patches the process it is imported in for gevent), and checks
the results: no failed request, no isolation violation, latencies recorded, the Playground's
widgets parsed, every kind of action taken.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys

import pytest

pytest.importorskip("websocket", reason="websocket-client comes with locust (the test extra)")

from loadtest import protocol as P  # noqa: E402
from loadtest.isolation import Registry  # noqa: E402
from loadtest.stats import by_name, format_report, percentile, summarize  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- pure parts -----------------------------------------------------------------------------------

def test_percentile_interpolates_like_numpy():
    np = pytest.importorskip("numpy")
    xs = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 12.5, 50, 95, 99, 100):
        assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))
    assert percentile([], 50) is None
    s = summarize([1.0, 2.0, 3.0], failures=2)
    assert (s["n"], s["failures"], s["p50"], s["max"]) == (3, 2, 2.0, 3.0)
    names = by_name([{"name": "a", "ms": 10, "ok": True}, {"name": "a", "ms": 0, "ok": False},
                     {"name": "b", "ms": 4, "ok": True}])
    assert names["a"]["n"] == 1 and names["a"]["failures"] == 1 and names["b"]["p50"] == 4


def _element_msg(hash_: str, text: str, path=(0, 1), cacheable=True, fragment=""):
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    m = ForwardMsg(hash=hash_)
    m.metadata.cacheable = cacheable
    m.metadata.delta_path.extend(path)
    m.delta.fragment_id = fragment
    m.delta.new_element.markdown.body = text
    return m


def _ref_msg(hash_: str, path=(0, 7)):
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    m = ForwardMsg(ref_hash=hash_)
    m.metadata.delta_path.extend(path)
    return m


def test_message_cache_substitutes_references_and_ages_messages_out_like_the_browser():
    cache = P.MessageCache()
    big = _element_msg("h1", "a large element")
    assert cache.process(big, big.SerializeToString()) is big
    small = _element_msg("h2", "not cacheable", cacheable=False)
    cache.process(small, small.SerializeToString())
    assert cache.hashes() == ["h1"]  # only what the server marked cacheable

    got = cache.process(_ref_msg("h1", path=(0, 7)), b"")
    assert got.delta.new_element.markdown.body == "a large element"
    assert list(got.metadata.delta_path) == [0, 7]  # this use's place on the page, from the reference
    assert cache.hits == 1
    with pytest.raises(P.ProtocolError, match="miss"):
        cache.process(_ref_msg("nope"), b"")

    # Kept while used within max_age runs, dropped after more runs without a use.
    for _ in range(2):
        cache.increment_run_count(2, [])
    assert "h1" in cache.messages
    cache.increment_run_count(2, [])
    assert "h1" not in cache.messages

    # A fragment run ages only that fragment's messages.
    frag = _element_msg("h3", "in a fragment", fragment="f1")
    cache.process(frag, frag.SerializeToString())
    whole = _element_msg("h4", "outside", fragment="")
    cache.process(whole, whole.SerializeToString())
    for _ in range(5):
        cache.increment_run_count(2, ["f2"])
    assert {"h3", "h4"} <= set(cache.messages)
    for _ in range(3):
        cache.increment_run_count(2, ["f1"])
    assert "h3" not in cache.messages and "h4" in cache.messages


def test_widgets_are_read_from_their_protos_with_the_browsers_wire_types():
    from streamlit.proto.Element_pb2 import Element
    from streamlit.proto.NumberInput_pb2 import NumberInput
    from streamlit.proto.Slider_pb2 import Slider

    el = Element()
    s = el.slider
    s.id, s.label, s.type, s.data_type = "$$ID-abc-pg_noise", "gradient noise σ", Slider.Type.SELECT_SLIDER, Slider.INT
    s.options.extend(["0", "0.1", "0.2"])
    s.default.append(1)
    s.min, s.max = 0, 2
    w = P.widget_from_element(el)
    assert (w.kind, w.key, w.value_type, w.initial) == ("select_slider", "pg_noise", "string_array_value", ["0.1"])
    assert P._wire(w, "0.2") == ["0.2"] and P._wire(w, 0) == ["0"]
    with pytest.raises(ValueError):
        P._wire(w, "0.7")
    s.set_value = True
    s.raw_value.append("0.2")  # the server set the value: the browser takes it
    assert P.widget_from_element(el).initial == ["0.2"]

    el = Element()
    n = el.number_input
    n.id, n.label, n.data_type, n.default = "$$ID-def-pg_seed", "seed", NumberInput.INT, 0
    w = P.widget_from_element(el)
    assert (w.kind, w.value_type, w.initial) == ("number_input", "int_value", 0)
    n.value = 7  # a present value wins over the default (the frontend's `value ?? default`)
    assert P.widget_from_element(el).initial == 7

    el = Element()
    sl = el.slider
    sl.id, sl.label, sl.data_type, sl.min, sl.max = "$$ID-s-pg_step", "inspect step", Slider.INT, 1, 500
    sl.default.append(1)
    w = P.widget_from_element(el)
    assert (w.kind, w.value_type, w.initial) == ("slider", "double_array_value", [1.0])
    with pytest.raises(ValueError):
        P._wire(w, 501)

    el = Element()
    el.selectbox.id, el.selectbox.label, el.selectbox.default = "$$ID-x-pg_surface", "loss surface", 1
    el.selectbox.options.extend(["Sphere", "Rosenbrock"])
    assert P.widget_from_element(el).initial == "Rosenbrock"
    el = Element()
    el.checkbox.id, el.checkbox.label, el.checkbox.type = "$$ID-t-pg_log", "log-scale loss", 1
    el.checkbox.default = True
    w = P.widget_from_element(el)
    assert (w.kind, w.value_type, w.initial) == ("toggle", "bool_value", True)
    el = Element()
    el.markdown.body = "text"
    assert P.widget_from_element(el) is None

    # A custom component's trigger goes to Streamlit's aggregator id.
    assert P.trigger_id("$$ID-abc-pg_map").endswith("$$ID-abc-pg_map__events")
    assert P.user_key("$$ID-0123-pg_r0_lr") == "pg_r0_lr" and P.user_key("plain") is None


def test_registry_reports_state_shown_to_another_session():
    seen = []
    r = Registry(on_violation=seen.append)
    assert r.scene("scene-a", "student-1", 1_000_001)
    assert r.scene("scene-a", "student-1", 1_000_002)  # its own scene again (a late answer, or its cache): fine
    assert not r.scene("scene-a", "student-2", 2_000_001)  # another session shown student 1's race
    assert r.live_race("pid-1", "student-1") and not r.live_race("pid-1", "student-2")
    assert r.training_data("d1", "student-1", 21) and r.training_data("d1", "student-9", 21)  # same seed, same data
    assert r.training_data("d1", "student-1", 22, own={0, 21, 22})  # its own earlier seed's data, late
    assert not r.training_data("d1", "student-2", 41, own={0, 41})
    assert r.url_seed("1000002", "student-1", 1_000_002, {1_000_001, 1_000_002})
    assert r.url_seed("1000001", "student-1", 1_000_002, {1_000_001, 1_000_002}) and r.stale == 1
    assert not r.url_seed("2000001", "student-1", 1_000_002, {1_000_001, 1_000_002})
    assert r.checks == 12 and len(r.violations) == 4 == len(seen)
    assert "student-2" in seen[0] and "student-1" in seen[0]
    assert r.by_kind == {"race scene": 3, "live race": 2, "training data": 4, "URL seed": 3}


def test_report_names_every_target():
    res = {"meta": {"users": 30, "duration": 120, "url": "http://x/", "own_server": True},
           "students": summarize([100.0, 200.0, 1500.0]), "errors": 0, "by_name": {},
           "isolation": {"checks": 10, "violations": 0},
           "server": {"peak_rss": 5e8, "cpu_mean": 80.0, "cpu_peak": 190.0, "base_rss": 1e8, "end_rss": 4e8},
           "heavy": {"job": "map", "before": summarize([100.0]), "during": summarize([250.0]), "ratio": 2.5,
                     "jobs": summarize([400.0])}}
    text = format_report(res)
    rows = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in text.splitlines()
            if line.startswith("| ") and line.count("|") == 4}
    assert rows["p95 <= 1 s (the target at 30 sessions)"] == "NO"  # p95 1,370 ms
    assert rows["others' p95 with the heavy job <= 2x"] == "NO"  # 2.5x
    assert rows["0 errors"] == rows["0 isolation violations"] == "yes"
    assert "500 MB" in text and "2.50x" in text


# ---- a short run against the app ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is in the test extra")
def test_short_load_run_has_no_errors_and_no_isolation_violations(tmp_path):
    out = tmp_path / "loadtest.json"
    cmd = [sys.executable, "-m", "loadtest", "run", "--users", "6", "--duration", "20", "--spawn-rate", "3",
           "--timeout", "30", "--quiet", "--json", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        report, _ = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        report, _ = proc.communicate(timeout=30)
        pytest.fail(f"the load test did not finish in 150 s:\n{report}")
    assert out.exists(), report
    res = json.loads(out.read_text())
    assert "error" not in res, report
    assert res["errors"] == 0, report
    assert res["isolation"]["violations"] == 0, report
    assert res["isolation"]["checks"] >= 20, report

    s = res["students"]
    assert s["n"] >= 15 and s["failures"] == 0, report
    assert 0 < s["p50"] <= s["p95"] <= s["p99"] <= s["max"], report
    names = res["by_name"]
    assert names["open /"]["n"] == 6, report  # every student opened the Playground
    # Each kind of action happened (each student starts its tour at a different one).
    for prefix in ("slider: ", "play: pause", "tab: convergence map", "Live: Start"):
        assert any(n.startswith(prefix) for n in names), (prefix, report)
    assert res["auto"]["n"] > 0, report  # Live Training's fragment timer was driven by the client

    proto = res["protocol"]
    assert proto["widgets_playground"] >= 50, report
    assert {"select_slider", "number_input", "selectbox", "toggle", "component", "tabs"} <= set(proto["widget_kinds"])
    assert proto["cache_hits"] > 0, report  # the landscape image came from the client's message cache

    server = res["server"]
    assert server["peak_rss"] > server["base_rss"] > 0 and server["cpu_peak"] > 0, report
    assert "Targets" in report and "isolation violations" in report
