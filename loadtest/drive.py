"""Locust as a library, headless: the simulated students (and the heavy session) against one URL.

``python -m loadtest.drive --host URL --users N --duration S --json OUT`` (:mod:`loadtest.run` starts
it in a process of its own: importing Locust monkey-patches the process for gevent, which the
runner, the server and Playwright must not be). It spawns :class:`loadtest.locustfile.StudentUser`
users at ``--spawn-rate``, lets them run ``--duration`` seconds from the start, stops them, prints
Locust's own tables (requests, percentiles, errors) and writes the results as JSON: exact
percentiles of every student request (from the raw samples Locust's ``request`` event carries),
per request name, the fragment timer's reruns, the isolation checks, the protocol counters and,
with ``--heavy``, the students' latencies before and while the heavy session runs (it starts
halfway between the end of the ramp-up and the end of the run).
"""

from __future__ import annotations

from locust import events  # first: Locust monkey-patches the process for gevent as it is imported

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.log import setup_logging  # noqa: E402
from locust.stats import print_error_report, print_percentile_stats, print_stats  # noqa: E402

from loadtest import locustfile as LF  # noqa: E402
from loadtest.stats import by_name, summarize  # noqa: E402

__all__ = ["main", "results"]


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m loadtest.drive", description=__doc__.splitlines()[0])
    p.add_argument("--host", required=True, help="the app's base URL, e.g. http://127.0.0.1:8501/")
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--duration", type=float, default=60.0, help="seconds from the first spawn to the stop")
    p.add_argument("--spawn-rate", type=float, default=None, help="users started per second (default: users/10, "
                                                                  "at least 1)")
    p.add_argument("--heavy", nargs="?", const="map", default=None, choices=("map", "export"),
                   help="one more session running the heaviest job: the largest convergence map (default) or the "
                        "1920x1080 MP4 export")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds a rerun may take before it fails")
    p.add_argument("--no-cache", action="store_true", help="announce no cached messages (the server sends all)")
    p.add_argument("--mix", default=None, help="action weights, e.g. move_slider=8,play=4,convergence_map=2,"
                                               "live_training=2 (the default); 0 leaves one out")
    p.add_argument("--no-tour", action="store_true", help="pick every action by weight from the start")
    p.add_argument("--json", dest="json_path", default=None, help="write the results here")
    p.add_argument("--quiet", action="store_true", help="do not print Locust's tables")
    return p.parse_args(argv)


def parse_mix(text: str | None) -> dict[str, float] | None:
    """``"move_slider=8,play=4"`` -> the weights (every action not named keeps its default)."""
    if not text:
        return None
    weights = dict(LF.StudentUser.WEIGHTS)
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in weights:
            raise SystemExit(f"--mix: unknown action {name.strip()!r} (one of {', '.join(weights)})")
        weights[name.strip()] = float(value)
    if not any(w > 0 for w in weights.values()):
        raise SystemExit("--mix: every action has weight 0")
    return weights


def results(samples: list[dict], *, meta: dict, heavy_window: tuple[float, float, float] | None) -> dict:
    """The results document from the raw samples (``{"t", "type", "name", "ms", "ok", "user", "error"}``)."""
    student = [s for s in samples if s["type"] == "ST" and s["user"] == "student"]
    ok = [s["ms"] for s in student if s["ok"]]
    errors = [s for s in samples if not s["ok"] and s["type"] != "CHECK"]
    out = {
        "meta": meta,
        "students": summarize(ok, len(student) - len(ok)),
        "errors": len(errors),
        "error_examples": dict(collections.Counter(f"{s['name']}: {s['error']}"[:240] for s in errors).most_common(10)),
        "by_name": by_name(student),
        "auto": summarize([s["ms"] for s in samples if s["type"] == "AUTO" and s["ok"]]),
        "isolation": {"checks": LF.REGISTRY.checks, "by_kind": dict(LF.REGISTRY.by_kind), "stale": LF.REGISTRY.stale,
                      "violations": len(LF.REGISTRY.violations),
                      "examples": LF.REGISTRY.violations[:10]},
    }
    if heavy_window is not None:
        start, go, end = heavy_window
        before = [s for s in student if start <= s["t"] < go]
        during = [s for s in student if go <= s["t"] <= end]
        b = summarize([s["ms"] for s in before if s["ok"]], sum(not s["ok"] for s in before))
        d = summarize([s["ms"] for s in during if s["ok"]], sum(not s["ok"] for s in during))
        kind = meta.get("heavy") or "map"
        jobs = [s for s in samples if s["type"] == "HEAVY" and s["name"] == f"heavy: {LF.HEAVY_KINDS[kind]}"]
        out["heavy"] = {"kind": kind, "job": LF.HEAVY_KINDS[kind], "before": b, "during": d,
                        "ratio": d["p95"] / b["p95"] if b["p95"] and d["p95"] is not None else None,
                        "jobs": summarize([s["ms"] for s in jobs if s["ok"]], sum(not s["ok"] for s in jobs)),
                        "window_s": [round(go - start, 1), round(end - go, 1)]}
    return out


def main(argv=None) -> int:
    args = _parse(argv)
    setup_logging("WARNING" if args.quiet else "INFO")
    spawn_rate = args.spawn_rate or max(1.0, args.users / 10)
    # With --heavy the run is compared with itself (before/during): both halves in the steady mix, no tour.
    LF.CONFIG.update(timeout=args.timeout, cache=not args.no_cache, tour=not (args.no_tour or args.heavy),
                     weights=parse_mix(args.mix))
    classes = [LF.StudentUser]
    go = None
    if args.heavy:
        go = Event()
        LF.CONFIG["heavy_go"] = go
        LF.CONFIG["heavy_kind"] = args.heavy
        LF.HeavyUser.abstract = False
        classes.append(LF.HeavyUser)
    env = Environment(user_classes=classes, events=events, host=args.host.rstrip("/") + "/", stop_timeout=5)
    samples: list[dict] = []

    def on_request(request_type, name, response_time, response_length, exception=None, context=None, **_):
        samples.append({"t": time.time(), "type": request_type, "name": name, "ms": float(response_time or 0),
                        "bytes": int(response_length or 0), "ok": exception is None,
                        "user": (context or {}).get("user", "student"),
                        "error": None if exception is None else str(exception)})

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    t0 = time.time()
    runner.start(args.users + (1 if args.heavy else 0), spawn_rate=spawn_rate)
    ramp = args.users / spawn_rate
    window = None
    if go is not None:
        start = t0 + ramp
        t_go = start + max(0.0, args.duration - ramp) / 2
        window = [start, t_go, t0 + args.duration]
        gevent.spawn_later(t_go - time.time(), go.set)
    gevent.sleep(max(0.0, args.duration - (time.time() - t0)))
    runner.quit()
    runner.greenlet.join(timeout=30)
    seconds = time.time() - t0

    sessions = LF.SESSIONS
    protocol = {"sessions": len(sessions), "bytes_received": sum(s.bytes_received for s in sessions),
                "messages_received": sum(s.messages_received for s in sessions),
                "bytes_sent": sum(s.bytes_sent for s in sessions),
                "cache_hits": sum(s.cache.hits for s in sessions if s.cache is not None),
                "timer_reruns_sent": sum(s.auto_sent for s in sessions),
                "widgets_playground": LF.REGISTRY.widgets_playground,
                "widget_kinds": sorted(LF.REGISTRY.widget_kinds)}
    meta = {"users": args.users, "duration": args.duration, "spawn_rate": spawn_rate, "heavy": args.heavy,
            "mix": LF.CONFIG["weights"] or LF.StudentUser.WEIGHTS, "tour": LF.CONFIG["tour"],
            "url": args.host, "cache": not args.no_cache, "seconds": round(seconds, 1), "started": t0}
    res = results(samples, meta=meta, heavy_window=tuple(window) if window else None)
    res["protocol"] = protocol
    total = env.stats.total
    res["locust"] = {"requests": total.num_requests, "failures": total.num_failures,
                     "p50": total.get_response_time_percentile(0.5), "p95": total.get_response_time_percentile(0.95),
                     "p99": total.get_response_time_percentile(0.99)}
    if not args.quiet:
        print_stats(env.stats)
        print_percentile_stats(env.stats)
        print_error_report(env.stats)
        sys.stdout.flush()
    if args.json_path:
        with open(args.json_path, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
