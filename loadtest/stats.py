"""Numbers of a load test: exact percentiles of raw samples, per-name summaries, the printed table.

Pure functions (no Locust, no server): :mod:`loadtest.drive` reduces its samples with them, and
:mod:`loadtest.run` prints the report with :func:`format_report`.
"""

from __future__ import annotations

from typing import Iterable, Sequence

__all__ = ["percentile", "summarize", "by_name", "fmt_ms", "fmt_bytes", "format_report", "TARGETS"]

# The targets for one server process on the 2-core machine.
TARGETS = {
    "p95_ms_30": 1000.0,  # 30 sessions at a human pace: p95 <= 1 s and 0 errors
    "heavy_ratio": 2.0,  # a session running the heaviest job raises the others' p95 by at most 2x
}


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linear between order statistics (numpy's default); None if empty."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q} is outside [0, 100]")
    import numpy as np

    return float(np.percentile(xs, q))  # linear between order statistics


def summarize(ms: Sequence[float], failures: int = 0) -> dict:
    """Count, p50/p95/p99/max (ms) of successful samples, and the failures beside them."""
    return {"n": len(ms), "failures": failures, "p50": percentile(ms, 50), "p95": percentile(ms, 95),
            "p99": percentile(ms, 99), "max": max(ms) if ms else None}


def by_name(samples: Iterable[dict]) -> dict[str, dict]:
    """Samples (``{"name", "ms", "ok"}``) summarised per request name."""
    groups: dict[str, tuple[list, list]] = {}
    for s in samples:
        ok, bad = groups.setdefault(s["name"], ([], []))
        (ok if s["ok"] else bad).append(s["ms"])
    return {name: summarize(ok, len(bad)) for name, (ok, bad) in sorted(groups.items())}


def fmt_ms(v: float | None) -> str:
    return "–" if v is None else f"{v:,.0f}"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "–"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def _table(columns: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    line = lambda cells: "| " + " | ".join(c.rjust(w) if i else c.ljust(w)  # noqa: E731
                                          for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    return [line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows]


def _met(ok: bool | None) -> str:
    return {True: "yes", False: "NO", None: "–"}[ok]


def format_report(res: dict) -> str:
    """The load test's report: the headline table, targets, per-request table, phases, browsers."""
    meta = res.get("meta", {})
    out = [f"# Load test: {meta.get('users', '?')} simulated students for {meta.get('duration', '?')} s "
           f"against {meta.get('url', '?')}"
           + (" (server started by the runner, one process)" if meta.get("own_server") else ""), ""]
    if meta.get("mix"):
        mix = ", ".join(f"{k} {v:g}" for k, v in meta["mix"].items())
        out += [f"Actions by weight: {mix}" + ("; each student first takes each once." if meta.get("tour") else ".")
                + f" Spawn rate {meta.get('spawn_rate', '?')}/s.", ""]
    if meta.get("note"):
        out += [meta["note"], ""]
    if res.get("error"):
        out += [f"**The load test could not run: {res['error']}**", ""]
    if meta.get("logs"):
        out += [f"Logs (the server's, and Locust's with --quiet) kept in {meta['logs']}.", ""]
    s = res.get("students") or {}
    server = res.get("server") or {}
    gen = res.get("generator") or {}
    cols = ["users", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "peak RSS", "CPU mean %",
            "CPU peak %", "isolation violations"]
    row = [str(meta.get("users", "?")), str(s.get("n", 0) + s.get("failures", 0)), fmt_ms(s.get("p50")),
           fmt_ms(s.get("p95")), fmt_ms(s.get("p99")), fmt_ms(s.get("max")), str(res.get("errors", "?")),
           fmt_bytes(server.get("peak_rss")), _pct(server.get("cpu_mean")), _pct(server.get("cpu_peak")),
           str(res.get("isolation", {}).get("violations", "?"))]
    out += _table(cols, [row])
    out += ["", "Latency: input (rerun_script sent) -> the rerun's script_finished received, every student "
            "request (page opens, sliders, pauses, tabs, page switches, Start/Pause). Server CPU: % of one core "
            "(2 cores = 200 %), sampled every 0.5 s with psutil on the server process and its children."]
    if gen:
        out += [f"Load generator (Locust, one process): CPU mean {_pct(gen.get('cpu_mean'))} %, peak "
                f"{_pct(gen.get('cpu_peak'))} % of one core."]
    if meta.get("loadavg"):
        before, after = meta["loadavg"]
        out += [f"Machine: {meta.get('cpus', '?')} CPUs; 1-minute load average {before:g} before the run, {after:g} at "
                f"its end (more than the server and Locust means other work shared the machine)."]
    if server.get("base_rss") is not None:
        out += [f"Server RSS: {fmt_bytes(server['base_rss'])} before the load, peak {fmt_bytes(server['peak_rss'])}, "
                f"{fmt_bytes(server.get('end_rss'))} at the end."]

    targets = []
    users = meta.get("users") or 0
    p95 = s.get("p95")
    if users and users <= 30:
        targets.append(("p95 <= 1 s (the target at 30 sessions)", fmt_ms(p95) + " ms",
                        None if p95 is None else p95 <= TARGETS["p95_ms_30"]))
    targets.append(("0 errors", str(res.get("errors", "?")), res.get("errors") == 0))
    targets.append(("0 isolation violations", str(res.get("isolation", {}).get("violations", "?")),
                    res.get("isolation", {}).get("violations") == 0))
    heavy = res.get("heavy")
    if heavy:
        ratio = heavy.get("ratio")
        targets.append(("others' p95 with the heavy job <= 2x", "–" if ratio is None else f"{ratio:.2f}x",
                        None if ratio is None else ratio <= TARGETS["heavy_ratio"]))
    out += ["", "## Targets", ""] + _table(["target", "measured", "met"], [[t, v, _met(m)] for t, v, m in targets])

    names = res.get("by_name") or {}
    if names:
        rows = [[name, str(v["n"]), fmt_ms(v["p50"]), fmt_ms(v["p95"]), fmt_ms(v["p99"]), fmt_ms(v["max"]),
                 str(v["failures"])] for name, v in names.items()]
        out += ["", "## Per request", ""] + _table(["request", "n", "p50 ms", "p95 ms", "p99 ms", "max ms",
                                                     "failures"], rows)
    auto = res.get("auto")
    if auto and auto.get("n"):
        out += ["", f"Fragment timer reruns (Live Training while running, `run_every`; not user input, not in the "
                    f"headline): {auto['n']} finished, p50 {fmt_ms(auto['p50'])} ms, p95 {fmt_ms(auto['p95'])} ms."]
    if heavy:
        a, b = heavy.get("before") or {}, heavy.get("during") or {}
        out += ["", "## The heavy session", "",
                f"One more session runs the heaviest job ({heavy.get('job', '?')}) again and again, from the middle "
                f"of the run on. The students' requests before it started and while it ran:", ""]
        out += _table(["phase", "n", "p50 ms", "p95 ms", "p99 ms", "errors"],
                      [["before", str(a.get("n", 0)), fmt_ms(a.get("p50")), fmt_ms(a.get("p95")), fmt_ms(a.get("p99")),
                        str(a.get("failures", 0))],
                       ["during", str(b.get("n", 0)), fmt_ms(b.get("p50")), fmt_ms(b.get("p95")), fmt_ms(b.get("p99")),
                        str(b.get("failures", 0))]])
        jobs = heavy.get("jobs") or {}
        ratio = "–" if heavy.get("ratio") is None else f"{heavy['ratio']:.2f}x"
        out += ["", f"p95 ratio during/before: {ratio}; "
                    f"heavy jobs finished: {jobs.get('n', 0)} (median {fmt_ms(jobs.get('p50'))} ms each)."]
    iso = res.get("isolation") or {}
    kinds = ", ".join(f"{k} {v}" for k, v in sorted((iso.get("by_kind") or {}).items()))
    out += ["", f"Isolation: {iso.get('checks', 0)} checks ({kinds or 'none'}): a race scene at another session "
                f"than the one it was made for, training data or a URL for a seed the session never used, a live race "
                f"at two sessions, a seed change without a race, a pause the inspector does not follow; "
                f"{iso.get('violations', 0)} violations"
                + (f" ({iso['stale']} URLs named the session's own earlier seed: late answers)" if iso.get("stale")
                   else "") + "."]
    for v in (iso.get("examples") or [])[:5]:
        out += [f"- {v}"]
    errs = res.get("error_examples") or {}
    if errs:
        out += ["", "Errors:"] + [f"- {n}x {msg}" for msg, n in list(errs.items())[:8]]
    proto = res.get("protocol") or {}
    if proto:
        out += ["", f"Protocol: {fmt_bytes(proto.get('bytes_received'))} received in "
                    f"{proto.get('messages_received', 0):,} ForwardMsgs, {proto.get('cache_hits', 0):,} answered from "
                    f"the client's message cache; widgets parsed on the Playground: {proto.get('widgets_playground', 0)} "
                    f"({', '.join(proto.get('widget_kinds', []))})."]
    br = res.get("browsers")
    if br:
        out += ["", "## Real Chromium sessions alongside", "",
                "Slider -> painted: the sidebar's seed raised by one (ArrowUp) at gradient noise 0.1, from the "
                "keydown to the race view's first paint after it (app/browser_bench.py's measurement)."]
        rows = []
        for b in br:
            if "error" in b:
                rows.append([str(b.get("index", "?")), "–", "–", "–", "–", b["error"][:60]])
            else:
                rows.append([str(b["index"]), str(b["n"]), fmt_ms(b["median"]), fmt_ms(b.get("p95")), fmt_ms(b["max"]),
                             f"opened in {b.get('open_s', 0):.1f} s"])
        out += [""] + _table(["browser", "n", "median ms", "p95 ms", "max ms", "note"], rows)
    return "\n".join(out) + "\n"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.0f}"
