"""Time and size of every export: ``python -m app.exports.bench``.

For the default scene (the gallery's first lesson: 6 runs x 500 steps) and for the same runs
over 2,000 steps: stills of the race map (PNG the first time, when the browser starts, and
after; SVG; PDF) and of the loss chart, the data (CSV, JSON), the GIF and MP4
(:mod:`app.exports.animation`), the offline page (:mod:`app.exports.offline`) and the PyTorch
script (:mod:`app.exports.torch_script`). Each number is one export as a user
asks for it: the figure or payload built from the computed race, then rendered and encoded.
Last, a race computed on the page's thread while a GIF is written by the job runner
(:mod:`app.exports.jobs`). The targets are printed next to the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Any, Callable

TARGETS = {
    "PNG, later": "<= 2 s",
    "GIF": "<= 10 s (default scene)",
    "MP4": "<= 10 s (default scene)",
    "offline HTML": "<= 500 kB",
}


def _size(n: int) -> str:
    if n >= 2**20:
        return f"{n / 2**20:.2f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} kB"
    return f"{n} B"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _nbytes(out: Any) -> int:
    if isinstance(out, str):
        return len(out.encode("utf-8"))
    return len(out)


def bench_scene(name: str, scene, rows: list[tuple]) -> None:
    from app.exports import data, stills
    from app.playground import figures as F
    from app.playground import panels
    from app.playground.race import compute

    t_compute, res = _timed(lambda: compute(scene))
    assert res.ok, res.errors
    surface = res.surface
    land = F.landscape(surface, surface.window)
    K, T = len(scene.runs), int(scene.steps)
    rows.append((name, f"race computed ({K} runs x {T} steps)", t_compute, None, ""))

    def add(what: str, fn: Callable[[], Any], repeat: int = 1):
        times, out = [], None
        for _ in range(repeat):
            dt, out = _timed(fn)
            times.append(dt)
        rows.append((name, what, statistics.median(times), _nbytes(out), TARGETS.get(what, "")))

    missing = stills.browser_missing()
    if missing:
        rows.append((name, "stills", None, None, missing))
    else:
        stills.stop()  # a cold start for each scene: what the first still of a process costs
        race_png = lambda: stills.still(stills.race_still_figure(scene, res, surface, landscape=land), "png")
        add("PNG, first (browser starts)", race_png)
        add("PNG, later", race_png, repeat=3)
        add("SVG", lambda: stills.still(stills.race_still_figure(scene, res, surface, landscape=land), "svg"), 3)
        add("PDF", lambda: stills.still(stills.race_still_figure(scene, res, surface, landscape=land), "pdf"), 3)
        loss = lambda: stills.still(panels.loss_chart(scene, res, surface, log=True, step=T), "png")
        add("PNG of the loss chart", loss, repeat=3)
    add("CSV", lambda: data.race_csv(scene, res), repeat=3)
    add("JSON", lambda: data.race_json(scene, res), repeat=3)

    from app.exports import animation, offline, torch_script
    from app.playground import race_view as V

    payload = panels.race_view(scene, res, surface, land, T, T)
    title = f"{getattr(surface, 'title', '') or scene.surface} · {T} steps"
    add("GIF", lambda: animation.write_gif(payload, land))
    add("MP4", lambda: animation.write_mp4(payload, land))
    add("offline HTML", lambda: offline.offline_html(payload, V.landscape_payload(land), title).encode("utf-8"))
    add("PyTorch script", lambda: torch_script.torch_script(scene))


def bench_jobs(rows: list[tuple]) -> None:
    """The page's race computed while the job runner writes a GIF of the default scene."""
    from app.exports import jobs
    from app.playground import figures as F
    from app.playground.presets import DEFAULT_SCENE
    from app.playground.race import compute

    from app.exports.animation import write_gif

    res = compute(DEFAULT_SCENE)
    land = F.landscape(res.surface, res.surface.window)

    def timed(n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            compute(DEFAULT_SCENE)
            out.append(time.perf_counter() - t)
        return out

    timed(3)
    solo = statistics.median(timed(20))
    runner = jobs.JobRunner()
    t0 = time.perf_counter()
    job = runner.submit("bench", "gif", write_gif, (DEFAULT_SCENE, res, res.surface, land))
    busy: list[float] = []
    while not job.done:
        busy += timed(1)
        time.sleep(0.05)  # a page's reruns come in bursts, not back to back
    gif_time = time.perf_counter() - t0
    runner.shutdown()
    loaded = statistics.median(busy) if busy else float("nan")
    rows.append(("jobs", "race compute alone (median)", solo, None, ""))
    rows.append(("jobs", f"race compute during a GIF job (median of {len(busy)}, max {max(busy or [0]) * 1e3:.0f} ms)",
                 loaded, None, f"{loaded / solo:.2f}x alone; test bound < 5x"))
    rows.append(("jobs", f"GIF job while the page computes ({job.state})", gif_time, None, ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.exports.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the default scene only")
    args = parser.parse_args(argv)
    from app.exports import stills
    from app.playground.presets import DEFAULT_SCENE

    rows: list[tuple] = []
    scenes = [("default (6 x 500)", DEFAULT_SCENE)]
    if not args.quick:
        scenes.append(("6 x 2,000 steps", dataclasses.replace(DEFAULT_SCENE, steps=2000)))
    for name, scene in scenes:
        bench_scene(name, scene, rows)
    if not args.quick:
        bench_jobs(rows)
    stills.stop()
    print("| scene | export | time | size | target / note |")
    print("|---|---|---|---|---|")
    for scene, what, secs, size, note in rows:
        t = "" if secs is None else (f"{secs * 1e3:.1f} ms" if secs < 1 else f"{secs:.2f} s")
        s = "" if size is None else _size(size)
        print(f"| {scene} | {what} | {t} | {s} | {note} |")


if __name__ == "__main__":
    main()
