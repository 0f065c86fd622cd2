"""The offline page (app.exports.offline): one HTML file, nothing fetched, the app's own race view inside."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from app.exports import offline
from app.playground import figures, panels, presets, race
from app.playground import race_view as V
from app.playground import scene as S


@pytest.fixture(scope="module")
def default_race():
    sc = presets.DEFAULT_SCENE
    res = race.compute(sc)
    surface = S.make_surface(res.scene)
    land = figures.landscape(surface)
    return panels.race_view(sc, res, surface, land, 0, 0), V.landscape_payload(land)


@pytest.fixture(scope="module")
def page(default_race):
    payload, land = default_race
    return offline.offline_html(payload, land, "Rosenbrock: six optimizers")


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse(text: str) -> Tags:
    t = Tags()
    t.feed(text)
    return t


def test_nothing_would_be_fetched(page):
    t = parse(page)
    for tag, attrs in t.tags:
        assert "src" not in attrs, (tag, attrs)  # no <script src>, <img src>, <iframe src>
        assert not (tag == "link" and "href" in attrs), attrs
        for v in attrs.values():
            assert not re.match(r"\s*(https?:)?//", v or ""), (tag, attrs)
    assert not re.search(r"https?://", page)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", page)
    assert "import(" not in page and not re.search(r"^\s*import\s", page, re.M)
    assert not re.search(r"\bfetch\(|XMLHttpRequest|WebSocket", page)


def test_one_module_with_the_race_view_and_the_data(page, default_race):
    payload, land = default_race
    t = parse(page)
    kinds = [a.get("type") for tag, a in t.tags if tag == "script"]
    assert kinds == ["application/json", "application/json", "module"]
    data, landscape, module = t.scripts
    copy = json.loads(data)
    assert copy["clickable"] is False and payload["clickable"] is True  # the app's payload untouched
    assert copy["mark"] is False
    assert copy["runs"] == payload["runs"] and copy["steps"] == payload["steps"]
    assert json.loads(landscape) == {"id": land["id"], "png": land["png"]}
    assert copy["land"] == land["id"]
    assert "class RaceView" in module and "function niceTicks" in module  # race.js after chartkit.js
    assert module.index("function niceTicks") < module.index("class RaceView")
    assert "export default" not in module and "__oeMountRace({" in module
    assert "__oeLandscapes" in module
    assert ".oe-race" in page and ".oe-bar" in page  # race.css


def test_size_of_the_default_scene(page):
    n = len(page.encode("utf-8"))
    print(f"offline page, default scene: {n / 1e3:.0f} kB")
    assert 40_000 < n < 400_000


def test_title_is_escaped_and_json_cannot_close_its_script(default_race):
    payload, land = default_race
    evil = dict(payload, title="</script><script>alert(1)</script>",
                runs=[dict(payload["runs"][0], label="a</script>b<!--")] + payload["runs"][1:])
    text = offline.offline_html(evil, land, "<b>Race & co</b>")
    assert text.count("</script>") == 3
    assert "<title>&lt;b&gt;Race &amp; co&lt;/b&gt;</title>" in text
    data = json.loads(parse(text).scripts[0])
    assert data["title"] == evil["title"] and data["runs"][0]["label"] == "a</script>b<!--"


def test_without_a_landscape_and_refusals(default_race):
    payload, land = default_race
    text = offline.offline_html(dict(payload, land=None, scale=None), None, "no image")
    assert json.loads(parse(text).scripts[1]) is None
    with pytest.raises(ValueError):
        offline.offline_html(land, land, "x")  # not a race payload
    with pytest.raises(ValueError):
        offline.offline_html(payload, dict(land, id="another"), "x")
    with pytest.raises(ValueError):
        offline.offline_html(payload, dict(land, png="https://example.org/x.png"), "x")
