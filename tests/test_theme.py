"""One chart theme for every page, light and dark, readable from the back of a lecture hall.

The palettes (app/ui/theme.py) are checked against the WCAG contrast formula, written out here
(not taken from the code under test). Then every figure builder of the app, listed by hand below,
is built under ``theme.using("light")`` and ``theme.using("dark")``: its paper is the theme's, no
font in it is under 18 px, no line under 3 px, and its runs differ in dash pattern or marker shape.
The browser-side views' payloads (race view, Live Training) carry the theme they were built for,
and exports made on another thread keep the theme of the page their menu was built on.
"""

from __future__ import annotations

import re
import threading
from dataclasses import fields
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from app.ui import theme
from optim_core import registry

KINDS = ("light", "dark")
HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
RGBA = re.compile(r"^rgba?\((\d+),(\d+),(\d+)(,(0|1|0?\.\d+))?\)$")


# ---------------------------------------------------------------------------------------
# WCAG 2.x contrast, from the definition
# ---------------------------------------------------------------------------------------
def rgb(color: str) -> tuple[float, float, float]:
    color = color.replace(" ", "")
    if HEX.match(color):
        return tuple(int(color[k:k + 2], 16) / 255 for k in (1, 3, 5))
    m = RGBA.match(color)
    assert m, f"not a color: {color!r}"
    return tuple(int(m.group(k)) / 255 for k in (1, 2, 3))


def luminance(color: str) -> float:
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb(color)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula_on_known_pairs():
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)
    assert contrast("#0072B2", "#FFFFFF") == pytest.approx(5.19, abs=0.02)


# ---------------------------------------------------------------------------------------
# The palettes
# ---------------------------------------------------------------------------------------
def palette_colors(p) -> dict[str, str]:
    return {f.name: getattr(p, f.name) for f in fields(p) if isinstance(getattr(p, f.name), str)
            and f.name not in ("kind", "plotly_base", "sequential_scale")}


def test_both_palettes_define_the_same_names_each_with_a_value():
    assert theme.THEMES == KINDS and set(theme.PALETTES) == set(KINDS)
    light, dark = ({f.name: getattr(theme.PALETTES[k], f.name) for f in fields(theme.PALETTES[k])} for k in KINDS)
    assert isinstance(light, dict) and set(light) == set(dark) and len(light) > 30
    for name in light:
        a, b = light[name], dark[name]
        assert type(a) is type(b), name
        assert a not in (None, "", ()), name
        if isinstance(a, tuple):
            assert len(a) == len(b), name
    assert theme.LIGHT.kind == "light" and theme.DARK.kind == "dark"
    for kind in KINDS:
        for name, color in palette_colors(theme.PALETTES[kind]).items():
            rgb(color)  # every color parses
    # background-dependent colors do change with the paper
    changed = [n for n in palette_colors(theme.LIGHT) if getattr(theme.LIGHT, n) != getattr(theme.DARK, n)]
    assert len(changed) >= 25, changed


def test_dark_paper_is_streamlits_dark_background():
    # Streamlit 1.67 draws its dark theme on #171614 (measured: .stApp is rgb(23, 22, 20)); older versions
    # on #0E1117. Charts sit on it without a visible seam.
    streamlit_dark = "#171614"
    assert contrast(theme.DARK.paper, streamlit_dark) < 1.05 and theme.DARK.plot == theme.DARK.paper
    assert contrast(theme.DARK.paper, "#0E1117") < 1.1
    assert luminance(theme.LIGHT.paper) > 0.9


def test_module_names_are_the_light_theme_for_code_that_draws_on_light_paper():
    assert theme.PAPER == theme.LIGHT.paper and theme.TEXT == theme.LIGHT.text
    assert theme.CONTROL_LINE == theme.LIGHT.control_line and theme.RUN_COLORS == theme.LIGHT.runs
    assert theme.run_color(0) == theme.LIGHT.runs[0] and theme.run_color(9) == theme.LIGHT.runs[1]


def test_sizes_read_from_the_back_of_the_hall():
    assert theme.FONT_SIZE >= 18 and theme.TITLE_SIZE >= 22 and theme.LINE_WIDTH >= 3
    assert theme.sizes() == {"font": theme.FONT_SIZE, "title": theme.TITLE_SIZE, "line": theme.LINE_WIDTH,
                             "marker": theme.MARKER_SIZE}


@pytest.mark.parametrize("kind", KINDS)
def test_text_reads_on_the_paper(kind):
    p = theme.PALETTES[kind]
    for name in ("text", "soft_text", "hint_text", "cursor_grey", "guide_grey"):  # the last two label lines too
        assert contrast(getattr(p, name), p.paper) >= 4.5, (kind, name, contrast(getattr(p, name), p.paper))
    assert contrast(p.note_text, p.note_background) >= 4.5
    assert contrast(p.paper, p.accent) >= 4.5  # Play: the paper's color on the accent
    assert contrast(p.mark_red, p.paper) >= 4.5  # "diverged" is written in it
    for name in ("axis_line", "ink", "bound_line", "accent"):
        assert contrast(getattr(p, name), p.paper) >= 3.0, (kind, name)


@pytest.mark.parametrize("kind", KINDS)
def test_run_colors_stand_out_from_the_paper_but_a_documented_exception(kind):
    p = theme.PALETTES[kind]
    exceptions = theme.RUN_EXCEPTIONS[kind]
    assert len(p.runs) == 8 and len(set(c.upper() for c in p.runs)) == 8
    low = {i for i, c in enumerate(p.runs) if contrast(c, p.paper) < 3.0}
    assert low == set(exceptions), (kind, {i: round(contrast(p.runs[i], p.paper), 2) for i in low})
    assert len(exceptions) <= 1
    for i, why in exceptions.items():
        assert isinstance(why, str) and len(why) > 20  # documented
        # paired with a shape and a dash no other run has
        others = [j for j in range(len(p.runs)) if j != i]
        assert theme.run_symbol(i) not in {theme.run_symbol(j) for j in others}
        assert theme.run_dash(i) not in {theme.run_dash(j) for j in others}
    if kind == "dark":  # black would vanish: a light tone stands in
        assert luminance(p.runs[7]) > 0.5


def test_okabe_ito_hues_in_both_themes():
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}
    assert okabe_ito <= {c.upper() for c in theme.DARK.runs}
    assert {"#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"} <= set(theme.LIGHT.runs)


def test_runs_have_distinct_shapes_and_dashes():
    n = len(theme.RUN_COLORS)
    symbols = [theme.run_symbol(i) for i in range(n)]
    dashes = [theme.run_dash(i) for i in range(n)]
    assert all(isinstance(s, str) and s for s in symbols) and len(set(symbols)) == n
    assert len(set(dashes)) == n and dashes[0] == "solid"
    assert not {"star", "x", "x-open"} & set(symbols)  # the minima's star and the diverged ✕ keep their meaning
    px = [theme.run_dash_px(i) for i in range(n)]
    assert px[0] == [] and all(isinstance(v, float) and v > 0 for p in px[1:] for v in p)
    assert len({tuple(p) for p in px}) == n
    pairs = {(theme.run_dash_3d(i), theme.run_symbol_3d(i)) for i in range(n)}
    assert len(pairs) == n
    go.Scatter3d(line=dict(dash=theme.run_dash_3d(5)), marker=dict(symbol=theme.run_symbol_3d(7)))  # valid in 3D
    for i in range(n):
        go.Scatter(line=dict(dash=theme.run_dash(i)), marker=dict(symbol=theme.run_symbol(i) + "-open"))


def test_tone_draws_a_run_in_each_theme_and_leaves_other_colors():
    for i in range(8):
        assert theme.tone(theme.run_color(i), "dark") == theme.DARK.runs[i]
        assert theme.tone(theme.DARK.runs[i], "light") == theme.LIGHT.runs[i]
        assert theme.tone(theme.run_color(i).lower(), "light") == theme.LIGHT.runs[i]
    assert theme.tone("#123456", "dark") == "#123456"
    assert theme.tone("#000000", "dark") != "#000000"
    with theme.using("dark"):
        assert theme.swatch(theme.run_color(7)).count(theme.DARK.runs[7]) == 1


# ---------------------------------------------------------------------------------------
# Which theme: the provider, a thread's override
# ---------------------------------------------------------------------------------------
@pytest.fixture
def provider():
    before = theme._provider
    box = {"kind": None}
    theme.set_provider(lambda: box["kind"])
    yield box
    theme._provider = before


def test_using_comes_before_the_provider_and_stays_in_its_thread(provider):
    provider["kind"] = "dark"
    assert theme.current() == "dark"
    provider["kind"] = "nonsense"
    assert theme.current() == "light"
    seen = {}
    with theme.using("dark"):
        assert theme.current() == "dark" and theme.palette().paper == theme.DARK.paper
        with theme.using("light"):
            assert theme.current() == "light"
        assert theme.current() == "dark"
        t = threading.Thread(target=lambda: seen.setdefault("other", theme.current()))
        t.start()
        t.join()
    assert seen["other"] == "light"  # another thread is not in this thread's block
    assert theme.current() == "light"
    with pytest.raises(ValueError):
        with theme.using("sepia"):
            pass


# ---------------------------------------------------------------------------------------
# Every figure builder, in both themes
# ---------------------------------------------------------------------------------------
def fonts(node, path="") -> list[tuple[str, float]]:
    """Every (path, size) of a font in a figure's dict (fonts, tick fonts, title fonts, hover labels)."""
    out = []
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key.endswith("font") and isinstance(value, dict) and value.get("size") is not None:
                sizes = value["size"] if isinstance(value["size"], (list, tuple)) else [value["size"]]
                out += [(where, float(s)) for s in sizes]
            out += fonts(value, where)
    elif isinstance(node, (list, tuple)):
        for k, value in enumerate(node):
            out += fonts(value, f"{path}[{k}]")
    return out


def line_widths(d: dict) -> list[tuple[str, float]]:
    """Every drawn line's width: traces' lines (not markers' rims; a surface's iso-lines are its
    texture, as the landscape image's are) and layout shapes."""
    out = []
    for k, tr in enumerate(d.get("data", [])):
        mode = tr.get("mode", "lines" if tr.get("type") in ("contour",) else "")
        if tr.get("type") in ("scatter", "scatter3d", "scattergl") and "lines" not in str(mode):
            continue
        if tr.get("type") in ("scatter", "scatter3d", "scattergl", "contour") and tr.get("line", {}).get("width"):
            out.append((f"data[{k}] {tr.get('name')}", float(tr["line"]["width"])))
    for k, sh in enumerate(d.get("layout", {}).get("shapes", [])):
        out.append((f"shapes[{k}]", float(sh.get("line", {}).get("width", 2))))  # plotly's default is 2
    return out


def as_dict(fig) -> dict:
    if isinstance(fig, go.Figure):
        return fig.to_dict()
    assert isinstance(fig, dict) and "layout" in fig
    return fig


def check_look(fig, kind: str) -> dict:
    """The theme's paper, 18 px and more for every font, 3 px and more for every line."""
    d = as_dict(fig)
    p = theme.PALETTES[kind]
    layout = d["layout"]
    assert layout.get("paper_bgcolor") == p.paper, (kind, layout.get("paper_bgcolor"))
    assert layout.get("plot_bgcolor") == p.plot
    assert layout["font"]["size"] >= 18 and layout["font"]["color"] == p.text
    found = fonts({k: v for k, v in d.items() if k != "frames"})
    assert found, "no font sizes at all"
    small = [(w, s) for w, s in found if s < 18]
    assert not small, small
    thin = [(w, s) for w, s in line_widths(d) if s < 3]
    assert not thin, thin
    return d


def looks(d: dict, names) -> list[tuple]:
    """(dash, symbol, pattern) of the first trace named each of ``names`` (legend entries)."""
    out = []
    for name in names:
        tr = next(t for t in d["data"] if t.get("name") == name)
        marker = tr.get("marker", {})
        out.append((tr.get("line", {}).get("dash", "solid"), str(marker.get("symbol", "")),
                    marker.get("pattern", {}).get("shape", "")))
    return out


def distinct(d: dict, names) -> None:
    found = looks(d, names)
    assert len(set(found)) == len(found), found


@pytest.fixture(scope="module")
def surface():
    return registry.get_surface("Rosenbrock").make()


@pytest.fixture(scope="module")
def land(surface):
    from app.playground import figures as F

    return F.landscape(surface, n=80)


LABELS = [f"run {k}" for k in range(8)]


def paths(K=8, T=40, seed=0):
    rng = np.random.default_rng(seed)
    P = np.cumsum(rng.normal(scale=0.05, size=(K, T + 1, 2)), axis=1) + np.array([-1.2, 1.0])
    P[K - 1, T // 2:] = np.nan  # one diverged run
    return P


def playground_figures(surface, land):
    from app.playground import figures as F

    P = paths()
    losses = np.abs(np.sin(np.arange(8 * 41).reshape(8, 41))) + 0.1
    cmap = SimpleNamespace(xs=np.linspace(-2, 2, 6), ys=np.linspace(-1, 3, 5),
                           diverged=np.eye(5, 6, dtype=bool), basin=np.tile(np.arange(6) % 2, (5, 1)),
                           steps_to_converge=np.arange(30).reshape(5, 6) - 3)
    smap = SimpleNamespace(x_values=np.geomspace(1e-3, 1, 6), y_values=np.linspace(0, 0.9, 5),
                           final_loss=np.linspace(0.1, 2, 30).reshape(5, 6), diverged=np.eye(5, 6, dtype=bool),
                           threshold=0.0)
    lrs = np.geomspace(1e-3, 1, 12)
    return {
        "race_figure": (F.race_figure(P, LABELS, window=surface.window, background=land, starts=P[:, 0],
                                      minima=surface.minima, title="race", inspect_step=3), LABELS),
        "surface3d_figure": (F.surface3d_figure(surface, P, LABELS, n=30, title="3D"), LABELS),
        "loss_figure": (F.loss_figure(losses, LABELS, inspect_step=5, diverged_step=[-1] * 7 + [20]), LABELS),
        "convergence_map_figure steps": (F.convergence_map_figure(cmap, kind="steps", minima=[[1, 1]],
                                                                  title="steps"), []),
        "convergence_map_figure basin": (F.convergence_map_figure(cmap, kind="basin", minima=[[1, 1], [-1, 1]],
                                                                  title="basins"), []),
        "sensitivity_map_figure": (F.sensitivity_map_figure(smap, x_label="η", y_label="β", title="s",
                                                            current=(0.01, 0.45)), []),
        "stability_figure": (F.stability_figure(lrs, {"GD": np.linspace(1, 0, 12), "HB": np.linspace(2, 0, 12)},
                                                {"GD": lrs > 0.5, "HB": lrs > 0.3}, bounds={"2/L": 0.5, "2(1+β)/L": 0.9},
                                                title="stability"), ["GD", "HB"]),
    }


def schedule_figures(surface):
    from app.schedules import figures as SF

    steps = np.arange(100)
    curves = [SF.LRCurve(f"curve {k}", 0.1 * (1 + np.cos(np.pi * steps / 100 + k)) / 2 + 1e-3,
                         momentum=0.9 - 0.05 * np.sin(steps / 10 + k) if k < 2 else None,
                         reductions=(30, 60) if k == 0 else (), width=2 if k == 2 else 3.0) for k in range(8)]
    traj = SimpleNamespace(losses=np.abs(np.sin(np.arange(2 * 41).reshape(2, 41, 1))) + 0.1,
                           diverged_step=np.array([[-1], [30]]), steps=40)
    lrs = np.geomspace(1e-5, 1, 50)
    return {
        "lr_figure": (SF.lr_figure(curves, log_y=True, marker_step=40, milestones=[50], title="lr"),
                      [c.label for c in curves]),
        "lr_figure single panel": (SF.lr_figure([SF.LRCurve("a", steps * 1e-3), SF.LRCurve("b", steps * 2e-3)],
                                                marker_step=10, title="lr"), ["a", "b"]),
        "range_test_figure": (SF.range_test_figure(lrs, np.linspace(2, 1, 50), np.linspace(2, 1, 50),
                                                   suggested_lr=1e-2, suggested_index=30, stop_step=49,
                                                   current_lr=0.1), []),
        "run_loss_figure": (SF.run_loss_figure(traj, ["scheduled", "constant"], surface, 10, [5, 20]),
                            ["scheduled", "constant"]),
    }


def memory_figures():
    from app.memory.figures import PARTS, memory_figure

    rows = [{"optimizer": name, "params_gb": 1.0, "grads_gb": 1.0, "state_gb": s}
            for name, s in (("SGD", 0.0), ("Adam", 2.0), ("Adafactor", 0.1))]
    return {"memory_figure": (memory_figure(rows), [name for _, name in PARTS]),
            "memory_figure grouped": (memory_figure(rows, stacked=False), [name for _, name in PARTS])}


@pytest.mark.parametrize("kind", KINDS)
def test_every_figure_builder_draws_in_the_theme(kind, surface, land):
    with theme.using(kind):
        figs = {**playground_figures(surface, land), **schedule_figures(surface), **memory_figures()}
    assert len(figs) == 13
    for name, (fig, runs) in figs.items():
        assert isinstance(fig, go.Figure), name
        d = check_look(fig, kind)
        if runs:
            distinct(d, runs)
    # the run colors are the theme's tones (the race's runs, the loss chart's)
    race = as_dict(figs["race_figure"][0])
    keys = [t for t in race["data"] if t.get("name") in LABELS and t.get("showlegend", True)]
    assert [t["line"]["color"] for t in keys] == list(theme.PALETTES[kind].runs)
    loss = as_dict(figs["loss_figure"][0])
    assert [t["line"]["color"] for t in loss["data"] if t.get("name") in LABELS] == list(theme.PALETTES[kind].runs)
    # the landscape in the figure is the theme's picture
    assert race["layout"]["images"][0]["source"] == land.image(kind)


@pytest.mark.parametrize("kind", KINDS)
def test_export_stills_draw_in_the_theme(kind, land):
    from app.exports import stills
    from app.playground import presets
    from app.playground.race import compute

    res = compute(presets.DEFAULT_SCENE)
    with theme.using(kind):
        still = stills.race_still_figure(presets.DEFAULT_SCENE, res, landscape=land)
        loss = stills.static_figure(go.Figure(layout=theme.base_layout()), title="a still")
    assert isinstance(still, dict) and "frames" not in still and "sliders" not in still["layout"]
    d = check_look(still, kind)
    distinct(d, res.labels)
    check_look(loss, kind)
    assert loss["layout"]["title"]["font"]["size"] >= 22


torch_only = pytest.mark.skipif(not __import__("app.training.backend", fromlist=["x"]).torch_available(),
                                reason="the Live Training backend needs the torch extra")


@pytest.fixture(scope="module")
def live_race():
    from app.training import backend as T
    from app.training.datasets import make_dataset, train_test_split

    X, y = make_dataset("moons", n=96, noise=0.1, seed=0)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.25, seed=0)
    runs = [T.TrainingRunConfig(name, {"lr": 0.01}, clip_norm=0.5 if name == "SGD" else None)
            for name in ("Adam", "SGD", "AdamW", "RMSprop")]
    race = T.Race(Xtr, ytr, Xte, yte, runs, seed=0, eval_every=5)
    with np.errstate(all="ignore"):
        race.train(12)
    return race


@torch_only
@pytest.mark.parametrize("kind", KINDS)
def test_live_training_export_figures_draw_in_the_theme(kind, live_race):
    from app.exports import live_figures as LF

    with theme.using(kind):
        figs = [LF.boundary_figure(live_race, grid=30), LF.curves_figure(live_race), LF.diagnostics_figure(live_race)]
    names = [r.config.title() for r in live_race.runs]
    for k, fig in enumerate(figs):
        assert isinstance(fig, go.Figure)
        d = check_look(fig, kind)
        if k:
            distinct(d, names)
    p = theme.PALETTES[kind]
    heat = [t for t in figs[0].data if isinstance(t, go.Heatmap)]
    assert [list(s) for s in heat[0].colorscale] == [list(s) for s in p.class_scale]
    assert {t.marker.color for t in figs[0].data if isinstance(t, go.Scatter)} == set(p.class_colors)


# ---------------------------------------------------------------------------------------
# The browser-side views' payloads
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_the_race_view_payload_carries_the_theme(kind, land):
    from app.playground import race_view as V

    P = paths()
    with theme.using(kind):
        out = V.race_payload(P, LABELS, [theme.run_color(k) for k in range(8)], window=((-2, 2), (-1, 3)),
                             landscape=land, starts=P[:, 0], minima=None, title="t", step=3, show_step=40,
                             losses=np.ones((8, 41)))
        lp = V.landscape_payload(land)
    p = theme.PALETTES[kind]
    assert isinstance(out["style"], dict)
    assert out["style"]["paper"] == p.paper and out["style"]["text"] == p.text and out["style"]["ink"] == p.ink
    assert out["style"]["halo"] == p.halo and out["style"]["edge"] == p.marker_edge
    assert [r["color"] for r in out["runs"]] == list(p.runs)
    assert len({r["shape"] for r in out["runs"]}) == 8 and len({tuple(r["dash"]) for r in out["runs"]}) == 8
    assert out["sizes"]["font"] >= 18 and out["sizes"]["title"] >= 22 and out["sizes"]["line"] >= 3
    # the landscape: the theme's picture, under an id of its own, named by the race
    assert lp["png"] == land.image(kind) and out["land"] == lp["id"]
    assert out["scale"]["colors"][0] == land.colorscale(kind)[0][1]


def test_the_landscape_has_a_light_and_a_dark_picture(land):
    import base64
    import io

    from PIL import Image

    def mean(uri):
        img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB")
        a = np.asarray(img, dtype=float)
        assert a.shape == (land.height, land.width, 3)
        return a.mean()

    assert land.png != land.png_dark and land.image("light") == land.png and land.image("dark") == land.png_dark
    assert mean(land.png) > 180 and mean(land.png_dark) < 80
    assert land.colorscale("light") != land.colorscale("dark")


@torch_only
@pytest.mark.parametrize("kind", KINDS)
def test_the_live_view_payload_carries_the_theme(kind, live_race):
    from app.training import figures as TF

    with theme.using(kind):
        payload, sync = TF.live_payload(live_race, None)
    p = theme.PALETTES[kind]
    assert payload["style"]["text"] == p.text and payload["style"]["paper"] == p.paper
    assert payload["style"]["veil"] == p.diverged_veil and payload["sizes"]["font"] >= 18
    s = payload["static"]
    assert [r["color"] for r in s["runs"]] == list(p.runs[:4]) and len({r["shape"] for r in s["runs"]}) == 4
    assert s["class_colors"] == list(p.class_colors)
    # a browser that holds the other theme's picture is sent everything again
    other = "light" if kind == "dark" else "dark"
    with theme.using(other):
        again, _ = TF.live_payload(live_race, sync)
    assert again["full"] and again["style"]["text"] == theme.PALETTES[other].text


# ---------------------------------------------------------------------------------------
# Exports: made on another thread, in the theme of the page that built the menu
# ---------------------------------------------------------------------------------------
def in_thread(fn, *args, **kwargs):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", fn(*args, **kwargs)))
    t.start()
    t.join(60)
    return box["out"]


def test_still_exports_keep_the_theme_their_menu_was_built_in(monkeypatch):
    from app.exports import stills
    from app.ui import exports as UX

    seen = []
    monkeypatch.setattr(stills, "browser_missing", lambda: None)
    monkeypatch.setattr(stills, "still", lambda fig, fmt, **kw: seen.append(
        (theme.current(), stills.static_figure(fig, title="x")["layout"]["paper_bgcolor"])) or b"ok")
    with theme.using("dark"):
        items = UX.still_exports(lambda: go.Figure(layout=theme.base_layout()), "f", title="t")
    assert len(items) == 3
    assert in_thread(items[0].make) == b"ok"
    assert seen == [("dark", theme.DARK.paper)]
    # and a progress argument passes through a themed function
    job = UX.themed(lambda progress=None: (theme.current(), progress), "dark")
    assert in_thread(job, progress=0.5) == ("dark", 0.5)


def test_the_playground_exports_keep_the_theme(land):
    from app.playground import exports as PX
    from app.playground import presets
    from app.playground.race import compute
    from app.playground.scene import make_surface

    scene = presets.DEFAULT_SCENE
    res = compute(scene)
    surface = make_surface(scene)
    with theme.using("dark"):
        items = PX.race_exports(scene, res, surface, land, log=True)
    page = next(e for e in items if e.file_name.endswith(".html"))
    html = in_thread(page.make).decode("utf-8")
    assert f"background:{theme.DARK.paper}" in html and land.png_dark in html and land.png not in html
    assert theme.DARK.runs[0] in html


def test_every_page_draws_its_plotly_charts_in_the_apps_theme():
    """No page lets Streamlit restyle a figure (theme="streamlit" is Streamlit's default): every
    st.plotly_chart call passes theme=None, so the app's one chart theme holds on every page."""
    import ast
    import pathlib

    views = pathlib.Path(__file__).resolve().parent.parent / "app" / "views"
    calls = 0
    for path in sorted(views.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "plotly_chart":
                calls += 1
                kw = {k.arg: k.value for k in node.keywords}
                assert "theme" in kw and isinstance(kw["theme"], ast.Constant) and kw["theme"].value is None, \
                    f"{path.name}:{node.lineno}"
    assert calls >= 5
