"""The live view's assets (app.training.live_view) and the time-bounded training of a redraw
(Race.train_within): what the browser test cannot pin down step by step."""

import re
import time

import pytest

from app.training import backend as T
from app.training import live_view
from app.training.datasets import make_dataset, train_test_split

needs_torch = pytest.mark.skipif(not T.torch_available(), reason="the Live Training backend needs the torch extra")


def test_assets_ship_in_the_package_and_fetch_nothing():
    # in the package's static/, which pyproject's package-data ships for every package
    assert live_view._ASSETS.name == "static" and live_view._ASSETS.parent.name == "training"
    assert (live_view._ASSETS / "live_view.js").is_file() and (live_view._ASSETS / "live_view.css").is_file()
    js, css = live_view.JS, live_view.CSS
    assert "export default function" in js and "window.__oeLive" in js
    assert "redraws" in js and "setTriggerValue" in js and '"resync"' in js
    for text in (js, css):
        assert not re.search(r"https?://|@import|url\(|fetch\(|XMLHttpRequest|import\s*\(|WebSocket", text)
    # whole-line comments and indentation are stripped (the module travels with every redraw), code is kept
    assert not any(line.startswith("//") or line != line.strip() for line in js.splitlines())
    assert len(js) < len((live_view._ASSETS / "live_view.js").read_text(encoding="utf-8"))
    assert "/*" not in css and ".oel" in css


def test_the_view_draws_only_with_the_theme_colors_its_payload_carries():
    from dataclasses import astuple

    from app.training.figures import style
    from app.ui import theme

    js, css = live_view.JS, live_view.CSS
    for kind in theme.THEMES:
        # every color the view uses is named in its style, which takes each from the theme's palette
        s = style(kind)
        assert isinstance(s, dict) and all(isinstance(v, str) for v in s.values())
        assert set(s.values()) <= {v for v in astuple(theme.PALETTES[kind]) if isinstance(v, str)}
    assert style("dark")["text"] == theme.DARK.text and style("light")["text"] == theme.LIGHT.text
    assert style("dark")["alarm"] == theme.DARK.mark_red != theme.LIGHT.mark_red
    used_css = set(re.findall(r"var\(--oe-([\w-]+)\)", css))
    used_js = set(re.findall(r"\bS\.(\w+)", js)) | set(re.findall(r"this\.style\.(\w+)", js))
    assert used_css and used_js and used_css | used_js <= set(style()), (used_css | used_js) - set(style())
    # the CSS variables are set on the view's root from the payload's style; sizes come with it
    assert "setProperty(`--oe-${k}`" in js and "data.style" in js and "data.sizes" in js
    # no text smaller than the theme's font: CSS font sizes, and no font of its own in the script
    assert all(int(px) >= theme.FONT_SIZE for px in re.findall(r"font-size:\s*(\d+)px", css))
    assert not re.search(r"[\"'`]\s*(\d+ )?\d+px ", js), "a font size named in the script"


def make_race(runs=2, **kw):
    X, y = make_dataset("moons", n=kw.pop("n", 256), noise=0.1, seed=0)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.2, seed=0)
    cfgs = [T.TrainingRunConfig(name, {"lr": 0.01}) for name in ("Adam", "SGD", "AdamW", "RMSprop")[:runs]]
    return T.Race(Xtr, ytr, Xte, yte, cfgs, seed=0, eval_every=5, **kw)


@needs_torch
def test_train_within_reaches_the_step_count_when_there_is_time():
    r = make_race()
    assert r.train_within(40, budget_s=10.0) == 40 and r.step == 40
    assert r.step_seconds > 0


@needs_torch
def test_train_within_advances_at_least_one_step_and_stops_at_the_budget():
    r = make_race()
    assert r.train_within(1000, budget_s=0.0) == 1 and r.step == 1
    r.train_within(20, budget_s=10.0)  # a measured step time
    c0 = time.thread_time()
    done = r.train_within(1_000_000, budget_s=0.05)
    spent = time.thread_time() - c0
    assert 1 <= done < 1_000_000
    assert spent <= 0.05 + 4 * r.step_seconds + 0.01  # the budget, plus at most about one chunk's misestimate


@needs_torch
def test_train_within_asks_keep_going_between_short_chunks():
    r = make_race(model=T.ModelSpec(4, 64, "tanh"))
    asked = []

    def keep_going():
        asked.append(time.thread_time())
        return len(asked) < 4

    assert r.train_within(100, budget_s=10.0, keep_going=lambda: False) == 0 and r.step == 0
    done = r.train_within(1_000_000, budget_s=10.0, keep_going=keep_going)
    assert len(asked) == 4 and 3 <= done < 1_000_000  # stopped at the 4th look, after 3 chunks
    gaps = [b - a for a, b in zip(asked[1:], asked[2:])]  # chunks sized from the measured step time
    assert max(gaps) <= T.CHUNK_SECONDS + 2 * r.step_seconds + 0.01


@needs_torch
def test_train_within_stops_when_every_run_diverged():
    r = make_race(runs=1)
    r.runs[0].diverged = "stopped"
    assert r.train_within(10, budget_s=1.0) == 0
