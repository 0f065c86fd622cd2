"""How long the Playground takes from new inputs to a finished, serialized race figure.

``python -m app.playground.bench`` prints the median over a few repeats for the default
scene (six optimizers x 500 steps on Rosenbrock): the engine run, the figure with its
animation frames, and the serialization Streamlit performs (``Figure.to_dict()`` then
``plotly.io.to_json``), plus the payload size. The landscape PNG is cached per surface by
the page, so it is timed separately. Goal: under 100 ms from inputs to payload.
"""

from __future__ import annotations

import statistics
import time

__all__ = ["bench_playground"]


def bench_playground(repeats: int = 5) -> dict:
    """Median timings (ms) and payload size (bytes) of one Playground update for the default scene."""
    import plotly.io as pio

    from app.playground import figures as F
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
    n_frames = 0
    for _ in range(max(1, int(repeats))):
        t0 = time.perf_counter()
        res = compute(scene)
        t1 = time.perf_counter()
        tr = res.traj
        fig = F.race_figure(tr.positions[:, 0], res.labels, window=surface.window, background=land,
                            colors=[r.color for r in scene.runs], starts=tr.starts[:, 0], minima=surface.minima,
                            title=surface.title, inspect_step=1)
        t2 = time.perf_counter()
        spec = pio.to_json(fig.to_dict(), validate=False)  # what st.plotly_chart sends
        t3 = time.perf_counter()
        engine.append((t1 - t0) * 1e3)
        figure.append((t2 - t1) * 1e3)
        serialize.append((t3 - t2) * 1e3)
        total.append((t3 - t0) * 1e3)
        payload = len(spec.encode("utf-8"))
        n_frames = len(F.frames_of(fig))
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
        "frames": n_frames,
        "goal_ms": 100.0,
    }


if __name__ == "__main__":
    out = bench_playground()
    print(f"Playground update, {out['scene']}:")
    print(f"  engine     {out['engine_ms']:7.1f} ms")
    print(f"  figure     {out['figure_ms']:7.1f} ms  ({out['frames']} frames)")
    print(f"  serialize  {out['serialize_ms']:7.1f} ms")
    print(f"  total      {out['total_ms']:7.1f} ms median, {out['total_best_ms']:.1f} ms best (goal < {out['goal_ms']:.0f} ms)")
    print(f"  payload    {out['payload_bytes'] / 1e6:7.2f} MB (landscape PNG {out['png_bytes'] / 1e3:.0f} kB, "
          f"rendered once per surface in {out['landscape_png_ms']:.0f} ms)")
