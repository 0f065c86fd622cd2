"""The race as an animation for slides: frames drawn with Pillow, written as a GIF or an MP4.

What a frame shows is what the Playground's race view (``app/playground/static/race.js``) draws,
laid out for a projected 16:9 slide: the title; the landscape with its axes and color bar; each
run's trail up to the frame's step (over a light halo), its head gliding between steps, the start
ring and the known minima's stars; a diverged run's dashed escape and its × where it left the map;
on the right the step counter "step s / T", a progress bar and the legend (run colors, shapes and
labels). Each run's head is drawn in its shape (the payload's ``shape``, as the browser draws it), and
every color comes from the payload's ``style``: the theme it was built for.

The input is the race view's payload (:func:`app.playground.race_view.race_payload`, with the
landscape as a :class:`~app.playground.figures.Landscape`, its payload or its PNG data URI), or
``(scene, res, surface, land)`` as the Playground has them.

Antialiasing: everything is drawn at twice the size and reduced with a Lanczos filter. The static
picture (landscape, axes, color bar, legend, stars, rings) is drawn once; a frame redraws only the
map (its trails grow incrementally in two persistent layers, halo and color) and the counter.

Timing (``seconds``, the whole clip): 0.5 s on step 0, the race, 1 s on the last step; the heads
glide between steps, so a short race moves as smoothly as a long one. Defaults: a GIF of 7 s at
25 fps (a frame every 40 ms, one global 255-color palette, unchanged pixels transparent, looping
forever); an MP4 of 7 s at 30 fps (H.264 ``yuv420p``, CRF 20, BT.709, ``+faststart``).

Where: :func:`gif_in_child` and :func:`mp4_in_child` (what the export menu's jobs call) read the
payload and the landscape's picture on the calling thread, in its theme, then draw and encode in a
render process (:func:`app.exports.jobs.in_process`), away from the server's GIL.
"""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from app.playground.figures import nice_ticks
from app.ui.theme import FONT_SIZE, TITLE_SIZE
from app import budget

__all__ = ["DEFAULT_SIZE", "GIF_FPS", "MP4_FPS", "DEFAULT_SECONDS", "MAX_SECONDS", "ExportTooSlow", "Layout",
           "prepare", "frame_layout", "timeline", "render_frames", "render_frame", "write_gif", "write_mp4", "mp4_size",
           "gif_in_child", "mp4_in_child"]

DEFAULT_SIZE = (1280, 720)
GIF_FPS = 25  # 40 ms a frame: GIF durations are whole hundredths of a second
MP4_FPS = 30
DEFAULT_SECONDS = 7.0  # the whole clip, holds included
START_HOLD = 0.5  # seconds on step 0 before the race starts
END_HOLD = 1.0  # seconds on the last step (a looping GIF pauses there)
MAX_SECONDS = budget.ANIMATION_MAX_SECONDS  # the longest clip written
MAX_PIXELS = budget.ANIMATION_MAX_PIXELS
SS = 2  # supersampling factor
MP4_CRF = 20

Progress = Callable[[float], Any]


class ExportTooSlow(TimeoutError):
    """Rendering or encoding took longer than the ``time_limit`` it was given."""


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def _color3(color: str) -> tuple[int, int, int]:
    """A CSS color of the theme as (r, g, b); an alpha, if any, is dropped (see :func:`_alpha`)."""
    c = str(color).strip()
    if c.lower().startswith("rgb"):
        parts = [p.strip() for p in c[c.index("(") + 1: c.rindex(")")].split(",")]
        return tuple(int(round(float(p))) for p in parts[:3])  # type: ignore[return-value]
    return ImageColor.getcolor(c, "RGB")  # type: ignore[return-value]


def _alpha(color: str) -> float:
    c = str(color).strip()
    if c.lower().startswith("rgb"):
        parts = c[c.index("(") + 1: c.rindex(")")].split(",")
        return float(parts[3]) if len(parts) > 3 else 1.0
    return 1.0


def _landscape_png(landscape) -> str | None:
    """The landscape's PNG data URI from a Landscape, its payload or the URI itself."""
    if landscape is None:
        return None
    if isinstance(landscape, str):
        return landscape
    if isinstance(landscape, dict):
        return landscape.get("png")
    image = getattr(landscape, "image", None)  # a Landscape: the current theme's picture
    return image() if callable(image) else getattr(landscape, "png", None)


def _decode_image(uri: str | None) -> Image.Image | None:
    if not uri:
        return None
    data = base64.b64decode(uri.split(",", 1)[1] if uri.startswith("data:") else uri)
    return Image.open(io.BytesIO(data)).convert("RGB")


def prepare(source, landscape=None) -> tuple[dict[str, Any], str | None]:
    """``(payload, landscape PNG data URI)`` from a race payload (and its landscape) or from
    ``(scene, res, surface, land)``."""
    if isinstance(source, dict):
        if source.get("kind") != "race":
            raise ValueError("expected the race view's payload (kind 'race')")
        return source, _landscape_png(landscape)
    scene, res, surface, land = source
    from app.playground import panels

    T = int(res.traj.steps)
    return panels.race_view(scene, res, surface, land, T, T), _landscape_png(land if landscape is None else landscape)


# ---------------------------------------------------------------------------------------------
# fonts and small helpers
# ---------------------------------------------------------------------------------------------
_FONT_DIRS = ("", "/usr/share/fonts/truetype/dejavu/", "/usr/share/fonts/dejavu/", "/usr/share/fonts/TTF/",
              "/usr/share/fonts/truetype/liberation/", "/usr/share/fonts/liberation/")
_FONT_NAMES = {False: ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf"),
               True: ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf")}


@lru_cache(maxsize=64)
def _font(size: int, bold: bool = False):
    """A TrueType font (DejaVu Sans, as the app's figures; else Liberation Sans), else Pillow's own
    scalable default."""
    size = max(6, int(round(size)))
    for name in _FONT_NAMES[bold]:
        for folder in _FONT_DIRS:
            try:
                return ImageFont.truetype(folder + name, size)
            except OSError:
                continue
    return ImageFont.load_default(size=size)


def _fmt(v: float) -> str:
    from app.ui.controls import fmt

    return fmt(v, 3, power=True)


def _text_width(font, text: str) -> float:
    return font.getlength(text)


def _fit(font, text: str, width: float) -> str:
    """``text``, cut with an ellipsis to fit ``width``."""
    if _text_width(font, text) <= width:
        return text
    while text and _text_width(font, text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(font, text: str, width: float) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        cand = f"{line} {word}".strip()
        if line and _text_width(font, cand) > width:
            lines.append(line)
            line = word
        else:
            line = cand
    return lines + ([line] if line else [])


def _disc(draw, x, y, r, fill):
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _stroke(draw, pts, color, width):
    """A polyline with round joins and caps."""
    if len(pts) >= 2:
        draw.line(pts, fill=color, width=max(1, int(round(width))), joint="curve")
    for x, y in (pts[0], pts[-1]):
        _disc(draw, x, y, width / 2, color)


def _ring(draw, x, y, r, color, width):
    """A circle of radius ``r`` stroked ``width`` wide (centred on the radius, as a canvas stroke)."""
    R = r + width / 2
    draw.ellipse((x - R, y - R, x + R, y + R), outline=color, width=max(1, int(round(width))))


def _shape_points(shape: str, x: float, y: float, r: float) -> list[tuple[float, float]] | None:
    """The polygon of a run's marker shape (app.ui.theme.RUN_SYMBOLS, as chartkit.js's shapePath draws
    them) about (x, y), about ``r`` from the centre; None for a circle."""
    def poly(n, rot, rr, dy=0.0):
        return [(x + rr * math.cos(rot + 2 * math.pi * i / n), y + dy + rr * math.sin(rot + 2 * math.pi * i / n))
                for i in range(n)]

    if shape == "square":
        s = r * 0.89
        return [(x - s, y - s), (x + s, y - s), (x + s, y + s), (x - s, y + s)]
    if shape == "diamond":
        return poly(4, -math.pi / 2, r * 1.25)
    if shape == "triangle-up":
        return poly(3, -math.pi / 2, r * 1.35, r * 0.15)
    if shape == "triangle-down":
        return poly(3, math.pi / 2, r * 1.35, -r * 0.15)
    if shape == "pentagon":
        return poly(5, -math.pi / 2, r * 1.1)
    if shape == "hexagon":
        return poly(6, 0.0, r * 1.08)
    if shape == "cross":
        a, b = r * 0.42, r * 1.15
        pts = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]
        return [(x + px, y + py) for px, py in pts]
    return None


def _shape(draw, shape: str, x: float, y: float, r: float, fill, edge=None, width: float = 0.0):
    """A filled run shape, with a rim ``width`` wide in ``edge`` around it."""
    for rr, color in (((r + width, edge),) if edge is not None and width > 0 else ()) + ((r, fill),):
        pts = _shape_points(shape, x, y, rr)
        if pts is None:
            draw.ellipse((x - rr, y - rr, x + rr, y + rr), fill=color)
        else:
            draw.polygon(pts, fill=color)


def _star_points(x, y, r):
    pts = []
    for i in range(10):
        rad = r * 0.45 if i % 2 else r
        t = -math.pi / 2 + i * math.pi / 5
        pts.append((x + rad * math.cos(t), y + rad * math.sin(t)))
    return pts


def _cross(draw, x, y, r, color, edge, u):
    for w, col in ((8 * u, edge), (4.5 * u, color)):
        _stroke(draw, [(x - r, y - r), (x + r, y + r)], col, w)
        _stroke(draw, [(x + r, y - r), (x - r, y + r)], col, w)


def _dashes(p, q, on, off):
    """The dashes of a dashed segment from ``p`` to ``q``."""
    (x0, y0), (x1, y1) = p, q
    n = math.hypot(x1 - x0, y1 - y0)
    if not n > 0:
        return []
    ux, uy = (x1 - x0) / n, (y1 - y0) / n
    out, t = [], 0.0
    while t < n:
        e = min(t + on, n)
        out.append(((x0 + ux * t, y0 + uy * t), (x0 + ux * e, y0 + uy * e)))
        t = e + off
    return out


def _clip_segment(a, b, lo, hi):
    """Segment a-b clipped to the square [lo, hi]² (Liang-Barsky), or None."""
    t0, t1 = 0.0, 1.0
    d = (b[0] - a[0], b[1] - a[1])
    for k in range(2):
        for p, q in ((-d[k], a[k] - lo), (d[k], hi - a[k])):
            if p == 0:
                if q < 0:
                    return None
                continue
            r = q / p
            if p < 0:
                t0 = max(t0, r)
            else:
                t1 = min(t1, r)
            if t0 > t1:
                return None
    return (a[0] + t0 * d[0], a[1] + t0 * d[1]), (a[0] + t1 * d[0], a[1] + t1 * d[1])


def _polylines(pts: np.ndarray, bound: float) -> list[list[tuple[float, float]]]:
    """A polyline as pieces whose coordinates stay within ±``bound`` (a diverging run's last points
    can be astronomically far: Pillow draws with integers)."""
    if len(pts) == 0:
        return []
    if np.all(np.abs(pts) <= bound):
        return [[(float(x), float(y)) for x, y in pts]]
    pieces, cur = [], []
    for i in range(len(pts) - 1):
        seg = _clip_segment(tuple(pts[i]), tuple(pts[i + 1]), -bound, bound)
        if seg is None:
            if cur:
                pieces.append(cur)
            cur = []
            continue
        a, b = seg
        if cur and cur[-1] == a:
            cur.append(b)
        else:
            if cur:
                pieces.append(cur)
            cur = [a, b]
    if cur:
        pieces.append(cur)
    if not pieces and np.all(np.abs(pts[-1]) <= bound):
        pieces = [[(float(pts[-1][0]), float(pts[-1][1]))]]
    return pieces


# ---------------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where things are on a frame of ``size`` (pixels, at 1x)."""

    size: tuple[int, int]
    u: float  # the unit: 1 at 1280 x 720, 1.5 at 1920 x 1080
    area: tuple[int, int, int, int]  # the map: x, y, width, height
    window: tuple[float, float, float, float]
    pad: int  # the redrawn region: the map and this much around it
    panel: tuple[int, int, int, int]  # the counter, progress bar and legend: x, y, width, height

    def to_px(self, x, y) -> tuple[float, float]:
        """Data coordinates -> frame pixels."""
        ax, ay, aw, ah = self.area
        x0, x1, y0, y1 = self.window
        return ax + (x - x0) * aw / (x1 - x0), ay + ah - (y - y0) * ah / (y1 - y0)


def frame_layout(payload: dict, size: tuple[int, int] = DEFAULT_SIZE) -> Layout:
    """Where a frame of ``size`` puts the map, the panel, and each data point (:meth:`Layout.to_px`)."""
    return _layout(payload, (int(size[0]), int(size[1])))


def _layout(payload: dict, size: tuple[int, int]) -> Layout:
    W, H = size
    u = min(W / 1280, H / 720)
    x0, x1, y0, y1 = (float(v) for v in payload["window"])
    left, top, bottom, right = round(88 * u), round(76 * u), round(64 * u), round(36 * u)
    scale_w = round(132 * u) if payload.get("scale") else round(24 * u)
    panel_min = round(400 * u)
    bh = H - top - bottom
    bw = max(round(160 * u), W - left - scale_w - panel_min - right)
    if payload.get("equal", True) and x1 > x0 and y1 > y0:
        s = min(bw / (x1 - x0), bh / (y1 - y0))
        aw, ah = max(2, round((x1 - x0) * s)), max(2, round((y1 - y0) * s))
    else:
        aw, ah = min(bw, round(bh * 4 / 3)), bh
    ax, ay = left, top + (bh - ah) // 2
    px = ax + aw + scale_w
    panel = (px, top, W - right - px, bh)
    return Layout((W, H), u, (ax, ay, aw, ah), (x0, x1, y0, y1), round(24 * u), panel)


# ---------------------------------------------------------------------------------------------
# the picture
# ---------------------------------------------------------------------------------------------
class _Static:
    """What every frame shares: the static picture at 2x and 1x, the runs in pixels."""

    def __init__(self, payload: dict, land_png: str | None, size: tuple[int, int]):
        W, H = int(size[0]), int(size[1])
        if W < 320 or H < 180 or W * H > MAX_PIXELS:
            raise ValueError(f"frame size {W}x{H} outside 320x180 .. 3840x2160")
        self.payload = payload
        self.L = L = _layout(payload, (W, H))
        st = payload["style"]
        self.c = {k: _color3(v) for k, v in st.items()}
        self.halo_alpha = _alpha(st["halo"])
        self.T = int(payload["steps"])
        u = L.u
        ax, ay, aw, ah = L.area
        x0, x1, y0, y1 = L.window
        sx, sy = SS * aw / (x1 - x0), SS * ah / (y1 - y0)
        self.to_area = lambda xy: np.column_stack(((xy[:, 0] - x0) * sx, SS * ah - (xy[:, 1] - y0) * sy))
        self.runs = []
        from app.playground.race_view import decode_path

        for r in payload["runs"]:
            xy = decode_path(r["path"]).astype(np.float64) if r.get("path") else np.zeros((0, 2))
            with np.errstate(all="ignore"):
                xy = np.nan_to_num(xy, nan=0.0, posinf=1e30, neginf=-1e30)
                pts = self.to_area(xy) if len(xy) else xy
            ex = r.get("exit")
            exit_px = None if ex is None or r.get("div", -1) < 0 else tuple(self.to_area(np.array([ex], float))[0])
            self.runs.append({"label": r["label"], "color": _color3(r["color"]), "pts": pts, "last": int(r["last"]),
                              "div": int(r.get("div", -1)), "exit": exit_px, "shape": str(r.get("shape", "circle"))})
        self.bound = 8.0 * SS * max(W, H)
        self.image = _decode_image(land_png)
        self.big = self._draw_static()
        self.small = self.big.resize((W, H), Image.LANCZOS)
        # The region a frame redraws, at 1x and 2x: the map and a margin for the × at its border.
        p = L.pad
        self.region = (ax - p, ay - p, aw + 2 * p, ah + 2 * p)
        rx, ry, rw, rh = self.region
        self.base = self.big.crop((SS * rx, SS * ry, SS * (rx + rw), SS * (ry + rh)))
        self.strips = [(b, self.base.crop(b)) for b in (
            (0, 0, SS * rw, SS * p), (0, SS * (p + ah), SS * rw, SS * rh),
            (0, SS * p, SS * p, SS * (p + ah)), (SS * (p + aw), SS * p, SS * rw, SS * (p + ah)))]
        size = 38 * u  # smaller for a counter too wide for the panel
        while size > 12 and _text_width(_font(size, True), f"step {self.T} / {self.T}") > L.panel[2]:
            size -= 2
        self.counter_font = _font(size, True)

    # -- the static picture, at 2x ------------------------------------------------------------
    def _draw_static(self) -> Image.Image:
        L, c, d = self.L, self.c, self.payload
        W, H = L.size
        k = SS
        u = L.u * k
        img = Image.new("RGB", (W * k, H * k), c["paper"])
        draw = ImageDraw.Draw(img)
        ax, ay, aw, ah = (v * k for v in L.area)
        # The map: the landscape, and the stars and rings under the trails (clipped to the map).
        area = (self.image.resize((aw, ah), Image.LANCZOS) if self.image is not None
                else Image.new("RGB", (aw, ah), c["empty"]))
        adraw = ImageDraw.Draw(area, "RGBA")
        for x, y in self.to_area(np.asarray(d.get("minima") or np.zeros((0, 2)), float).reshape(-1, 2)):
            adraw.polygon(_star_points(x, y, 14 * u), fill=c["paper"], outline=c["ink"], width=max(1, round(2 * u)))
        for x, y in self.to_area(np.asarray(d.get("starts") or np.zeros((0, 2)), float).reshape(-1, 2)):
            _ring(adraw, x, y, 11 * u, c["halo"] + (round(255 * self.halo_alpha),), 5 * u)
            _ring(adraw, x, y, 11 * u, c["ink"], 3 * u)
        img.paste(area, (ax, ay))
        draw.rectangle((ax, ay, ax + aw - 1, ay + ah - 1), outline=c["axis"], width=max(1, round(1.5 * u)))
        # Ticks and axis labels.
        x0, x1, y0, y1 = L.window
        tick_font, label_font = _font(FONT_SIZE * u), _font(TITLE_SIZE * u)
        nx, ny = max(3, round(aw / (130 * u))), max(3, round(ah / (100 * u)))
        for v in nice_ticks(x0, x1, nx):
            px = ax + (v - x0) / (x1 - x0) * aw
            if ax - 1 <= px <= ax + aw + 1:
                draw.line((px, ay + ah, px, ay + ah + 7 * u), fill=c["text"], width=max(1, round(1.5 * u)))
                draw.text((px, ay + ah + 10 * u), _fmt(v), font=tick_font, fill=c["text"], anchor="mt")
        for v in nice_ticks(y0, y1, ny):
            py = ay + ah - (v - y0) / (y1 - y0) * ah
            if ay - 1 <= py <= ay + ah + 1:
                draw.line((ax - 7 * u, py, ax, py), fill=c["text"], width=max(1, round(1.5 * u)))
                draw.text((ax - 10 * u, py), _fmt(v), font=tick_font, fill=c["text"], anchor="rm")
        labels = d.get("labels") or {"x": "x", "y": "y"}
        draw.text((ax + aw / 2, H * k - 6 * u), labels["x"], font=label_font, fill=c["text"], anchor="md")
        ylab = Image.new("RGBA", (round(80 * u), round(40 * u)), c["paper"] + (0,))
        ImageDraw.Draw(ylab).text((ylab.width / 2, ylab.height / 2), labels["y"], font=label_font,
                                  fill=c["text"], anchor="mm")
        ylab = ylab.rotate(90, expand=True)
        img.paste(ylab, (round(ax - 62 * u - ylab.width / 2), round(ay + ah / 2 - ylab.height / 2)), ylab)
        # The title, cut to the frame.
        title_font = _font(30 * u, True)
        draw.text((ax, 22 * u), _fit(title_font, d.get("title", ""), W * k - ax - 36 * u), font=title_font,
                  fill=c["text"], anchor="lt")
        if d.get("scale"):
            self._draw_scale(draw, d["scale"], ax + aw, ay, ah, u)
        self._draw_legend(img, draw, u)
        return img

    def _draw_scale(self, draw, s, right, ay, ah, u):
        c = self.c
        x, w = right + 26 * u, 20 * u
        h = min(ah * 0.6, 340 * u)
        y = ay + ah - h
        n = len(s["colors"])
        for i, col in enumerate(s["colors"]):
            draw.rectangle((x, y + h - (i + 1) * h / n, x + w, y + h - i * h / n), fill=_color3(col))
        draw.rectangle((x, y, x + w, y + h), outline=c["scale"], width=max(1, round(1.5 * u)))
        font = _font(FONT_SIZE * u)
        for f, t in s["ticks"]:
            py = y + h - f * h
            draw.line((x + w, py, x + w + 5 * u, py), fill=c["text"], width=max(1, round(1.5 * u)))
            draw.text((x + w + 8 * u, py), t, font=font, fill=c["text"], anchor="lm")
        draw.text((x - 2 * u, y - 10 * u), s["title"], font=font, fill=c["text"], anchor="ld")

    def _draw_legend(self, img, draw, u):
        c, L = self.c, self.L
        k = SS
        px, py, pw, ph = (v * k for v in L.panel)
        font, small = _font(TITLE_SIZE * u), _font(FONT_SIZE * u)
        y = py + 104 * u  # under the counter and the progress bar
        sw = 40 * u  # the swatch's width
        tx = px + sw + 14 * u
        room = px + pw - tx
        line_h = 36 * u
        diverged = False
        for r in self.runs:
            cy = y + line_h / 2
            _stroke(draw, [(px + 2 * u, cy), (px + sw - 2 * u, cy)], r["color"], 6 * u)
            _shape(draw, r["shape"], px + sw / 2, cy, 8 * u, r["color"], c["edge"], 2.5 * u)
            draw.text((tx, cy), _fit(font, r["label"], room), font=font, fill=c["text"], anchor="lm")
            y += line_h
            if r["div"] >= 0:
                diverged = True
                draw.text((tx, y - 4 * u), f"diverged at step {r['div']}", font=small, fill=c["text"], anchor="lt")
                y += 24 * u
        y += 8 * u
        cy = y + line_h / 2
        _ring(draw, px + sw / 2, cy, 8 * u, c["ink"], 3 * u)
        draw.text((tx, cy), "start", font=font, fill=c["text"], anchor="lm")
        y += line_h
        if self.payload.get("minima"):
            cy = y + line_h / 2
            draw.polygon(_star_points(px + sw / 2, cy, 13 * u), fill=c["paper"], outline=c["ink"],
                         width=max(1, round(2 * u)))
            draw.text((tx, cy), "known minimum", font=font, fill=c["text"], anchor="lm")
            y += line_h
        if diverged:
            y += 12 * u
            cy = y + line_h / 2
            _cross(draw, px + sw / 2, cy, 9 * u, c["text"], c["edge"], u * 0.8)
            for i, line in enumerate(_wrap(small, "where a diverged run left the map; the dashed line shows "
                                                  "where it was heading", room)):
                draw.text((tx, cy + i * 24 * u), line, font=small, fill=c["text"], anchor="lm")


class _Frames:
    """Frames in order: the trails grow in persistent layers (a halo mask; colors and their mask)."""

    def __init__(self, static: _Static):
        self.s = s = static
        ax, ay, aw, ah = s.L.area
        n = (SS * aw, SS * ah)
        self.halo = Image.new("L", n, 0)
        self.trail = Image.new("RGB", n, s.c["paper"])
        self.mask = Image.new("L", n, 0)
        self.dh, self.dt, self.dm = ImageDraw.Draw(self.halo), ImageDraw.Draw(self.trail), ImageDraw.Draw(self.mask)
        self.drawn = [0] * len(s.runs)
        self.escaped = [False] * len(s.runs)
        u = s.L.u * SS
        self.w_trail, self.w_halo, self.r_head, self.w_edge, self.r_cross = 4 * u, 8 * u, 9 * u, 3 * u, 12 * u
        self.halo_level = int(round(255 * s.halo_alpha))
        self.last_pos = -1.0
        # What a frame changes in the static picture: the map's region and the counter.
        W, H = s.L.size
        rx, ry, rw, rh = s.region
        px, py, pw, _ = s.L.panel
        e = 4
        self.dirty = [(max(0, rx + e), max(0, ry + e), min(W, rx + rw - e), min(H, ry + rh - e)),
                      (px, py, min(W, px + pw + 1), min(H, py + round(62 * s.L.u) + max(4, round(10 * s.L.u)) + 1))]

    def _grow(self, step: int):
        s = self.s
        for k, r in enumerate(s.runs):
            upto = min(step, r["last"])
            if upto > self.drawn[k]:
                for piece in _polylines(r["pts"][self.drawn[k]: upto + 1], s.bound):
                    _stroke(self.dh, piece, self.halo_level, self.w_halo)
                    _stroke(self.dt, piece, r["color"], self.w_trail)
                    _stroke(self.dm, piece, 255, self.w_trail)
                self.drawn[k] = upto
            if r["div"] >= 0 and step >= r["div"] and not self.escaped[k] and r["exit"] is not None and r["last"] >= 0:
                self.escaped[k] = True
                last = tuple(r["pts"][r["last"]])
                seg = _clip_segment(last, r["exit"], -s.bound, s.bound)
                if seg is not None:
                    u = s.L.u * SS
                    for a, b in _dashes(*seg, 9 * u, 7 * u):
                        for dr, col in ((self.dt, r["color"]), (self.dm, 255)):
                            dr.line((a, b), fill=col, width=max(1, round(3.5 * u)))

    def frame(self, pos: float) -> Image.Image:
        """The frame at animation position ``pos`` (fractional steps); positions must not decrease."""
        s, L = self.s, self.s.L
        T = s.T
        pos = min(max(float(pos), 0.0), float(T))
        if pos < self.last_pos:
            raise ValueError("frames are drawn in order")
        self.last_pos = pos
        step = int(math.floor(pos + 1e-9))
        f = pos - step
        self._grow(step)
        ax, ay, aw, ah = L.area
        p = L.pad
        off = (SS * p, SS * p)
        big = s.base.copy()
        big.paste(s.c["halo"], (off[0], off[1], off[0] + SS * aw, off[1] + SS * ah), self.halo)
        big.paste(self.trail, off, self.mask)
        draw = ImageDraw.Draw(big, "RGBA")
        ox, oy = off
        heads, crosses = [], []
        halo = s.c["halo"] + (self.halo_level,)
        for k, r in enumerate(s.runs):
            upto = min(step, r["last"])
            if upto < 0:
                continue
            hx, hy = r["pts"][upto]
            glide = f > 0 and upto == step and step + 1 <= r["last"]
            if glide:
                nx, ny = r["pts"][step + 1]
                gx, gy = hx + f * (nx - hx), hy + f * (ny - hy)
                seg = _clip_segment((hx, hy), (gx, gy), -s.bound, s.bound)
                if seg is not None:
                    (a0, a1), (b0, b1) = seg
                    piece = [(a0 + ox, a1 + oy), (b0 + ox, b1 + oy)]
                    draw.line(piece, fill=halo, width=round(self.w_halo))
                    _stroke(draw, piece, r["color"], self.w_trail)
                hx, hy = gx, gy
            gone = r["div"] >= 0 and step >= r["div"]
            if gone and r["exit"] is not None:
                ex, ey = r["exit"]
                crosses.append((min(max(ex, 0), SS * aw) + ox, min(max(ey, 0), SS * ah) + oy, r["color"]))
            elif abs(hx) < s.bound and abs(hy) < s.bound:
                heads.append((hx + ox, hy + oy, r["color"], r["shape"]))
        for x, y, col, shape in heads:
            _shape(draw, shape, x, y, self.r_head, col, s.c["edge"], self.w_edge)
        for box, strip in s.strips:  # heads and glides stay inside the map, as in the browser
            big.paste(strip, box[:2])
        for x, y, col in crosses:
            _cross(draw, x, y, self.r_cross, col, s.c["edge"], L.u * SS)
        rx, ry, rw, rh = s.region
        small = big.resize((rw, rh), Image.LANCZOS)
        e = 4  # the Lanczos filter's reach past the region's edge: keep the static picture there
        out = s.small.copy()
        out.paste(small.crop((e, e, rw - e, rh - e)), (rx + e, ry + e))
        self._counter(out, step)
        return out

    def _counter(self, img: Image.Image, step: int):
        s, L = self.s, self.s.L
        u = L.u
        px, py, pw, _ = L.panel
        draw = ImageDraw.Draw(img)
        draw.text((px, py), f"step {step} / {s.T}", font=s.counter_font, fill=s.c["text"], anchor="lt")
        by, bh = py + round(62 * u), max(4, round(10 * u))
        draw.rectangle((px, by, px + pw, by + bh), fill=s.c["grid"])
        if s.T > 0 and step > 0:
            draw.rectangle((px, by, px + round(pw * step / s.T), by + bh), fill=s.c["accent"])


# ---------------------------------------------------------------------------------------------
# timing and frames
# ---------------------------------------------------------------------------------------------
def _check_seconds(seconds: float | None) -> float:
    seconds = DEFAULT_SECONDS if seconds is None else float(seconds)
    if not 1.0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"an animation lasts 1 to {MAX_SECONDS:g} s, not {seconds:g}")
    return seconds


def timeline(steps: int, fps: float, seconds: float | None = None) -> list[float]:
    """The animation's position (fractional steps) at each frame: ``round(seconds * fps)`` frames,
    0.5 s on step 0, then the race at an even pace, then 1 s on the last step."""
    seconds = _check_seconds(seconds)
    if not 1 <= fps <= 60:
        raise ValueError(f"fps must be in 1 .. 60, not {fps}")
    n = max(3, int(round(seconds * fps)))
    n0 = int(round(START_HOLD * fps))
    n1 = int(round(END_HOLD * fps))
    play = max(2, n - n0 - n1)
    n0 = max(0, min(n0, n - play))
    n1 = n - n0 - play
    T = max(0, int(steps))
    return [0.0] * n0 + [T * i / (play - 1) for i in range(play)] + [float(T)] * n1


class _Clock:
    def __init__(self, progress: Progress | None, time_limit: float | None):
        self.progress, self.limit, self.t0, self.last = progress, time_limit, time.perf_counter(), -1.0

    def report(self, frac: float, force: bool = False):
        if self.limit is not None and time.perf_counter() - self.t0 > self.limit:
            raise ExportTooSlow(f"the export took longer than its {self.limit:g} s")
        frac = min(max(frac, 0.0), 1.0)
        if self.progress is not None and (force or frac >= self.last + 0.01 or frac == 1.0) and frac > self.last:
            self.last = frac
            self.progress(frac)


def render_frames(source, landscape=None, *, size: tuple[int, int] = DEFAULT_SIZE, fps: float = MP4_FPS,
                  seconds: float | None = None, progress: Progress | None = None,
                  time_limit: float | None = None) -> Iterator[Image.Image]:
    """The animation's frames (RGB ``PIL.Image``s of ``size``), ``round(seconds * fps)`` of them.

    ``source``: the race view's payload (with ``landscape``: a Landscape, its payload or its data URI)
    or ``(scene, res, surface, land)``. ``progress(fraction)`` is called as frames are drawn (up to
    1.0); ``time_limit``: seconds, past which :class:`ExportTooSlow` is raised. A frame repeated
    (the holds) is the same object."""
    payload, png = prepare(source, landscape)
    static = _Static(payload, png, size)
    positions = timeline(static.T, fps, seconds)
    clock = _Clock(progress, time_limit)
    frames = _Frames(static)
    prev_pos, img = None, None
    for i, pos in enumerate(positions):
        if pos != prev_pos:
            img = frames.frame(pos)
            prev_pos = pos
        clock.report((i + 1) / len(positions))
        yield img


def render_frame(source, landscape=None, *, step: int | None = None, size: tuple[int, int] = DEFAULT_SIZE) -> Image.Image:
    """One still frame: the race at ``step`` (default: the end)."""
    payload, png = prepare(source, landscape)
    static = _Static(payload, png, size)
    return _Frames(static).frame(static.T if step is None else step)


# ---------------------------------------------------------------------------------------------
# GIF
# ---------------------------------------------------------------------------------------------
def _palette(static: _Static, colors: int) -> Image.Image:
    """One palette for every frame: the exact colors of the theme, the runs and the landscape's bands
    (a median cut weighs colors by their area, and would shift a thin trail's color), then a median
    cut of the first and the last frame for the blends at the edges."""
    exact: list[tuple[int, int, int]] = []
    for col in [*static.c.values(), *(r["color"] for r in static.runs)]:
        if col not in exact:
            exact.append(col)
    if static.image is not None:
        found = static.image.getcolors(maxcolors=4096) or []
        for _, col in sorted(found, reverse=True)[:64]:
            if col not in exact:
                exact.append(col)
    exact = exact[: colors - 16]
    first = _Frames(static).frame(0)
    last = _Frames(static).frame(static.T)
    W, H = static.L.size
    both = Image.new("RGB", (W, 2 * H))
    both.paste(first, (0, 0))
    both.paste(last, (0, H))
    rest = both.quantize(colors - len(exact), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    flat_rest = rest.getpalette()[: 3 * (colors - len(exact))]
    ref = np.array(exact, dtype=np.int64)
    extra = [tuple(flat_rest[i: i + 3]) for i in range(0, len(flat_rest), 3)]
    # Pillow maps a pixel through a coarse cache: a near twin of an exact color could take its place.
    extra = [col for col in extra if np.abs(ref - np.array(col)).max(axis=1).min() > 6]
    return [v for col in exact + extra for v in col][: 3 * colors]


class _Quantizer:
    """RGB pixels -> indices of the nearest palette color, exactly (Pillow's own mapping caches one
    answer per 4 x 4 x 4 block of colors: the paper's white could come out a light grey), through a
    lookup table filled as colors turn up."""

    WEIGHTS = np.array([2, 4, 3], dtype=np.int64)  # red, green, blue: a cheap perceptual distance

    def __init__(self, flat: Sequence[int]):
        self.pal = np.asarray(flat, dtype=np.int64).reshape(-1, 3)
        if len(self.pal) > 255:
            raise ValueError("at most 255 colors (255 marks a color not looked up yet)")
        self.lut = np.full(1 << 24, 255, dtype=np.uint8)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        key = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
        idx = self.lut[key]
        miss = idx == 255
        if miss.any():
            keys = np.unique(key[miss])
            cols = np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=-1).astype(np.int64)
            for i in range(0, len(keys), 2048):
                d = (((cols[i: i + 2048, None, :] - self.pal[None]) ** 2) * self.WEIGHTS).sum(-1)
                self.lut[keys[i: i + 2048]] = np.argmin(d, axis=1).astype(np.uint8)
            idx = self.lut[key]
        return idx


def _gif_durations(counts: Sequence[int], fps: float) -> list[int]:
    """Milliseconds per frame, in whole hundredths (GIF's unit) without drift."""
    out, t = [], 0
    for n in counts:
        a, b = round(t * 100 / fps), round((t + n) * 100 / fps)
        out.append(max(1, b - a) * 10)
        t += n
    return out


def write_gif(source, landscape=None, *, size: tuple[int, int] = DEFAULT_SIZE, fps: float = GIF_FPS,
              seconds: float | None = None, progress: Progress | None = None,
              time_limit: float | None = None, colors: int = 255) -> bytes:
    """The race as an animated GIF (looping forever): ``seconds`` (default 7) at ``fps`` (default 25:
    40 ms a frame), one global palette of ``colors`` (<= 255: one index is left for transparency,
    which Pillow gives the pixels a frame leaves unchanged), no dithering. About 1-3 MB at 1280 x 720."""
    payload, png = prepare(source, landscape)
    static = _Static(payload, png, size)
    positions = timeline(static.T, fps, seconds)
    clock = _Clock(progress, time_limit)
    flat = _palette(static, max(2, min(int(colors), 255)))
    quantize = _Quantizer(flat)
    base = quantize(np.asarray(static.small))
    frames = _Frames(static)
    images, counts = [], []
    W, H = static.L.size
    for i, pos in enumerate(positions):
        if i and pos == positions[i - 1]:
            counts[-1] += 1
        else:
            img = frames.frame(pos)
            idx = base.copy()
            for x0, y0, x1, y1 in frames.dirty:  # only what a frame redraws
                idx[y0:y1, x0:x1] = quantize(np.asarray(img.crop((x0, y0, x1, y1))))
            im = Image.frombytes("P", (W, H), idx.tobytes())
            im.putpalette(flat)
            images.append(im)
            counts.append(1)
        clock.report(0.9 * (i + 1) / len(positions))
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=_gif_durations(counts, fps),
                   loop=0, optimize=True, disposal=1)
    clock.report(1.0, force=True)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# MP4
# ---------------------------------------------------------------------------------------------
def mp4_size(size: tuple[int, int]) -> tuple[int, int]:
    """An MP4's frame size: ``size`` rounded up to even numbers (yuv420p halves the chroma), so that
    nothing is rescaled: 1280 x 720 and 1920 x 1080 stay as they are (H.264 codes 1080 rows as
    68 macroblocks and crops, as every 1080p video does)."""
    return tuple(-(-int(v) // 2) * 2 for v in size)  # type: ignore[return-value]


def write_mp4(source, landscape=None, *, size: tuple[int, int] = DEFAULT_SIZE, fps: float = MP4_FPS,
              seconds: float | None = None, progress: Progress | None = None,
              time_limit: float | None = None, crf: int = MP4_CRF) -> bytes:
    """The race as an MP4 (H.264, yuv420p, BT.709, CRF ``crf``, the index up front for streaming):
    ``seconds`` (default 7) at ``fps`` (default 30), frames of :func:`mp4_size` ``(size)``, drawn by
    this process while imageio-ffmpeg's ffmpeg encodes them in another."""
    import imageio_ffmpeg

    W, H = mp4_size(size)
    clock = _Clock(progress, time_limit)
    frames = render_frames(source, landscape, size=(W, H), fps=fps, seconds=seconds,
                           progress=lambda f: clock.report(0.97 * f))
    with tempfile.TemporaryDirectory(prefix="oe-mp4-") as tmp:
        path = os.path.join(tmp, "race.mp4")
        writer = imageio_ffmpeg.write_frames(
            path, (W, H), pix_fmt_in="rgb24", pix_fmt_out="yuv420p", fps=fps, quality=None, codec="libx264",
            macro_block_size=2, ffmpeg_log_level="error",
            output_params=["-crf", str(int(crf)), "-preset", "medium", "-tune", "animation",
                           "-vf", "scale=out_color_matrix=bt709:out_range=tv,setparams=colorspace=bt709:"
                                  "color_primaries=bt709:color_trc=bt709:range=tv",
                           "-movflags", "+faststart"])
        writer.send(None)
        try:
            prev, data = None, b""
            for img in frames:
                if img is not prev:
                    data, prev = img.tobytes(), img
                writer.send(data)
        finally:
            writer.close()
        with open(path, "rb") as f:
            out = f.read()
    clock.report(1.0, force=True)
    return out


# ---------------------------------------------------------------------------------------------
# in a render process
# ---------------------------------------------------------------------------------------------
def _in_child(write: Callable[..., bytes], source, landscape, progress: Progress | None, kwargs: dict) -> bytes:
    from app.exports import jobs

    payload, png = prepare(source, landscape)  # here: the Landscape's picture in this thread's theme
    return jobs.in_process(write, payload, png, progress=progress, **kwargs)


def gif_in_child(source, landscape=None, *, progress: Progress | None = None, **kwargs: Any) -> bytes:
    """:func:`write_gif` drawn and encoded in a render process (same arguments and result)."""
    return _in_child(write_gif, source, landscape, progress, kwargs)


def mp4_in_child(source, landscape=None, *, progress: Progress | None = None, **kwargs: Any) -> bytes:
    """:func:`write_mp4` drawn and encoded in a render process (same arguments and result)."""
    return _in_child(write_mp4, source, landscape, progress, kwargs)
