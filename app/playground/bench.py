"""How long the Playground's server takes from new inputs to the race view's serialized payload.

``python -m app.playground.bench`` prints the median over a few repeats for the default
scene (six optimizers x 500 steps on Rosenbrock): the engine run, the browser-side race's
payload (:mod:`app.playground.race_view`) and its JSON serialization (what Streamlit sends),
plus the payload size. The landscape PNG is cached per surface by the page and sent in a
payload of its own, so it is timed and sized separately. Server-side only: what a user feels
is measured in the browser (``python -m app.bench --browser``). Goal: under 100 ms.
"""

from __future__ import annotations

import statistics
import time

__all__ = ["bench_playground"]


def bench_playground(repeats: int = 5) -> dict:
    """Median timings (ms) and payload size (bytes) of one Playground update for the default scene."""
    import json

    from app.playground import figures as F
    from app.playground import panels as P
    from app.playground import scene as S
    from app.playground.presets import DEFAULT_SCENE
    from app.playground.race import compute

    scene = DEFAULT_SCENE
    surface = S.make_surface(scene)
    t0 = time.perf_counter()
    land = F.landscape(surface)
    landscape_ms = (time.perf_counter() - t0) * 1e3

    engine, figure, serialize, total = [], [], [], []
    payload = 0
    for _ in range(max(1, int(repeats))):
        t0 = time.perf_counter()
        res = compute(scene)
        t1 = time.perf_counter()
        data = P.race_view(scene, res, surface, land, 1, 1)
        t2 = time.perf_counter()
        spec = json.dumps(data)  # what the component sends
        t3 = time.perf_counter()
        engine.append((t1 - t0) * 1e3)
        figure.append((t2 - t1) * 1e3)
        serialize.append((t3 - t2) * 1e3)
        total.append((t3 - t0) * 1e3)
        payload = len(spec.encode("utf-8"))
    return {
        "scene": f"{len(scene.runs)} runs x {scene.steps} steps on {scene.surface}",
        "engine_ms": statistics.median(engine),
        "figure_ms": statistics.median(figure),
        "serialize_ms": statistics.median(serialize),
        "total_ms": statistics.median(total),
        "total_best_ms": min(total),
        "landscape_png_ms": landscape_ms,
        "payload_bytes": payload,
        "png_bytes": len(land.png),
        "goal_ms": 100.0,
    }


if __name__ == "__main__":
    out = bench_playground()
    print(f"Playground update, {out['scene']}:")
    print(f"  engine     {out['engine_ms']:7.1f} ms")
    print(f"  payload    {out['figure_ms']:7.1f} ms")
    print(f"  serialize  {out['serialize_ms']:7.1f} ms")
    print(f"  total      {out['total_ms']:7.1f} ms median, {out['total_best_ms']:.1f} ms best (goal < {out['goal_ms']:.0f} ms)")
    print(f"  size       {out['payload_bytes'] / 1e3:7.1f} kB (landscape PNG {out['png_bytes'] / 1e3:.0f} kB, "
          f"rendered once per surface in {out['landscape_png_ms']:.0f} ms)")
