"""The race as an animation (app.exports.animation): GIF and MP4 files, and what a frame shows."""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile

import numpy as np
import pytest
from PIL import Image, ImageColor, ImageSequence

from app.exports import animation as A
from app.playground import figures, panels, presets, race
from app.playground import race_view as V
from app.playground import scene as S


def _source(scene):
    res = race.compute(scene)
    surface = S.make_surface(res.scene)
    return scene, res, surface, figures.landscape(surface)


@pytest.fixture(scope="module")
def default_src():
    return _source(presets.DEFAULT_SCENE)


@pytest.fixture(scope="module")
def diverge_src():
    return _source(presets.PRESETS["diverge"].scene)


def _rgb(c):
    return np.array(ImageColor.getrgb(c)[:3], dtype=float)


def _distinct(positions):
    return [p for i, p in enumerate(positions) if i == 0 or p != positions[i - 1]]


def test_timeline_holds_then_plays_evenly():
    pos = A.timeline(500, 25, 7.0)
    assert len(pos) == 175 and pos[0] == 0 and pos[-1] == 500
    assert all(b >= a for a, b in zip(pos, pos[1:]))
    assert pos.count(0.0) >= 12 and pos.count(500.0) >= 25  # 0.5 s at the start, 1 s at the end
    with pytest.raises(ValueError):
        A.timeline(500, 25, A.MAX_SECONDS + 1)
    with pytest.raises(ValueError):
        A.timeline(500, 0, 5)


def test_gif_file_frames_and_durations(default_src):
    seen = []
    data = A.write_gif(default_src, seconds=2.0, progress=seen.append)
    assert data[:6] == b"GIF89a"
    assert seen[-1] == 1.0 and all(b > a for a, b in zip(seen, seen[1:]))
    im = Image.open(io.BytesIO(data))
    T = int(default_src[1].traj.steps)
    expected = _distinct(A.timeline(T, A.GIF_FPS, 2.0))
    assert im.size == (1280, 720)
    assert im.n_frames == len(expected)
    assert im.info.get("loop") == 0  # forever
    durations = [f.info["duration"] for f in ImageSequence.Iterator(im)]
    assert sum(durations) == 2000
    assert max(durations[1:-1]) <= 40  # >= 25 frames a second while the race plays
    assert durations[0] >= 480 and durations[-1] >= 1000  # the holds
    # The last frame, composed, is the race's last step in the run colors.
    last = np.asarray(im.convert("RGB"), dtype=float)
    for run in panels.race_view(*default_src, T, T)["runs"]:
        assert (np.abs(last - _rgb(run["color"])).max(axis=-1) < 3).sum() > 200, run["label"]


def test_mp4_decodes_h264_yuv420p_with_every_frame(default_src):
    import imageio_ffmpeg

    seen = []
    data = A.write_mp4(default_src, seconds=2.0, progress=seen.append)
    assert data[4:8] == b"ftyp"
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart: the index first
    assert seen[-1] == 1.0 and all(b > a for a, b in zip(seen, seen[1:]))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "race.mp4")
        with open(path, "wb") as f:
            f.write(data)
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        frames = [np.frombuffer(fr, dtype=np.uint8).reshape(720, 1280, 3) for fr in reader]
    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    assert "bt709" in meta["pix_fmt"]
    assert meta["size"] == (1280, 720) and meta["fps"] == 30
    assert len(frames) == 60
    diff = lambda a, b: np.abs(a.astype(float) - b).mean()
    assert diff(frames[20], frames[40]) > 0.2  # it moves
    assert diff(frames[-1], frames[-2]) < 0.1  # the hold at the end (H.264 still refines it a little)


def test_mp4_frames_are_whole_macroblocks():
    assert A.mp4_size((1280, 720)) == (1280, 720)
    assert A.mp4_size((1920, 1080)) == (1920, 1080)


def test_a_frame_shows_the_landscape_heads_and_the_diverged_cross(diverge_src):
    scene, res, surface, land = diverge_src
    T = int(res.traj.steps)
    payload = panels.race_view(scene, res, surface, land, T, T)
    L = A.frame_layout(payload)
    ax, ay, aw, ah = L.area
    png = Image.open(io.BytesIO(base64.b64decode(land.png.split(",", 1)[1]))).convert("RGB")
    expected = np.asarray(png.resize((aw, ah), Image.LANCZOS), dtype=float)

    # Step 0: the landscape everywhere but under the start ring, the heads and the minimum's star.
    f0 = np.asarray(A.render_frame(diverge_src, step=0), dtype=float)
    area = f0[ay: ay + ah, ax: ax + aw]
    same = np.abs(area - expected).max(axis=-1) <= 8
    assert same.mean() > 0.97

    # Step 3: each head, in its run's color, where its path is.
    step = 3
    f3 = np.asarray(A.render_frame(diverge_src, step=step), dtype=float)
    heads = []
    for run in payload["runs"]:
        x, y = V.decode_path(run["path"])[min(step, run["last"])]
        heads.append((L.to_px(float(x), float(y)), run["color"]))
    for i, ((px, py), color) in enumerate(heads):
        later = [h for h in heads[i + 1:] if math.dist(h[0], (px, py)) < 24]  # a later head covers it
        if later:
            continue
        pixel = f3[int(round(py)), int(round(px))]
        assert np.abs(pixel - _rgb(color)).max() <= 12, (color, pixel)

    # The end: the diverged run's × where it left the map, in its color; no head for it.
    fT = np.asarray(A.render_frame(diverge_src), dtype=float)
    gone = [r for r in payload["runs"] if r["div"] >= 0]
    assert gone, "the 'diverge' preset has a run that diverges"
    for run in gone:
        ex, ey = L.to_px(*run["exit"])
        ex, ey = min(max(ex, ax), ax + aw), min(max(ey, ay), ay + ah)
        patch = fT[int(ey) - 3: int(ey) + 4, int(ex) - 3: int(ex) + 4]
        assert (np.abs(patch - _rgb(run["color"])).max(axis=-1) <= 12).sum() >= 5
        # the arms of the ×: along both diagonals, at 8 px from its centre
        u = L.u
        for dx, dy in ((8, 8), (-8, 8), (8, -8), (-8, -8)):
            x, y = int(round(ex + dx * u)), int(round(ey + dy * u))
            if ax <= x < ax + aw and ay <= y < ay + ah:
                assert np.abs(fT[y, x] - _rgb(run["color"])).max() <= 20
    # The step counter's panel is burned in: the end frame differs from step 0 there.
    px, py, pw, _ = L.panel
    assert not np.array_equal(f0[py: py + 60, px: px + pw], fT[py: py + 60, px: px + pw])


def test_payload_and_scene_give_the_same_frame(default_src):
    scene, res, surface, land = default_src
    payload = panels.race_view(scene, res, surface, land, 0, 0)
    a = A.render_frame(default_src, step=123)
    b = A.render_frame(payload, V.landscape_payload(land), step=123)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_render_frames_counts_sizes_and_progress(default_src):
    seen = []
    frames = list(A.render_frames(default_src, size=(1920, 1080), fps=10, seconds=2.0, progress=seen.append))
    assert len(frames) == 20 and all(f.size == (1920, 1080) and f.mode == "RGB" for f in frames)
    assert seen[-1] == 1.0


def test_bounds(default_src):
    with pytest.raises(A.ExportTooSlow):
        A.write_gif(default_src, seconds=2.0, time_limit=1e-6)
    with pytest.raises(ValueError):
        A.write_mp4(default_src, seconds=A.MAX_SECONDS + 1)
    with pytest.raises(ValueError):
        list(A.render_frames(default_src, size=(100, 100)))
