"""The race as one standalone HTML file: it plays in any browser with no network and no server.

The page carries the Playground's own race view (``app/playground/static/race.js``, with the
shared helpers ``app/ui/static/chartkit.js`` in front of it, as :func:`app.ui.components.module_js`
sends it, and ``race.css``), the race's payload and the landscape's PNG as a data URI, all inline.
A small host does what Streamlit does in the app: it decodes the landscape into the page-wide map
the view reads (``globalThis.__oeLandscapes``, as ``landscape.js`` does), then calls the view with
``{data, parentElement, setStateValue, setTriggerValue}`` (the last two do nothing here). Play,
pause, replay, speed, scrub, the step counter, the legend (click to hide a run) and the loss chart
work as in the app; a click on the map does nothing (``clickable`` is off in the copy).

About 100-150 kB for the Playground's default scene (6 runs x 500 steps).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from app.ui import components, theme

__all__ = ["offline_html", "offline_payload"]

RACE_JS = Path(__file__).resolve().parents[1] / "playground" / "static" / "race.js"
RACE_CSS = RACE_JS.with_name("race.css")
_DEFAULT_EXPORT = re.compile(r"^export default function\s*\(", re.M)

# The host: the landscape first (decoded, so the first frame has it), then the view.
_HOST = """
const __oeData = JSON.parse(document.getElementById("oe-race-data").textContent);
const __oeLand = JSON.parse(document.getElementById("oe-landscape-data").textContent);
const __oeRoot = document.getElementById("oe-race");
const __oeNoop = () => {};
async function __oeStart() {
  if (__oeLand && __oeLand.png && !LANDS.has(__oeLand.id)) {
    const img = new Image();
    img.src = __oeLand.png;
    try { await img.decode(); LANDS.set(__oeLand.id, img); } catch (e) { console.error("landscape", e); }
    for (const view of [...WAITING]) view.landscapeArrived(__oeLand.id);
  }
  __oeMountRace({ data: __oeData, parentElement: __oeRoot, setStateValue: __oeNoop, setTriggerValue: __oeNoop });
  __oeRoot.setAttribute("data-ready", "1");
}
__oeStart();
"""


def offline_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The race payload as the offline copy shows it: no click-to-start (there is no Python to
    answer), no inspected-step mark."""
    if not isinstance(payload, dict) or payload.get("kind") != "race":
        raise ValueError("expected the race view's payload (kind 'race')")
    return {**payload, "clickable": False, "mark": False}


def _json_in_script(obj: Any) -> str:
    """JSON safe inside a <script> element (no "</", no "<!--")."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace(
        "<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _module() -> str:
    js = components.module_js(RACE_JS)
    js, n = _DEFAULT_EXPORT.subn("function __oeMountRace(", js)
    if n != 1:
        raise RuntimeError("race.js must have exactly one `export default function (...)`")
    js = js + "\n" + components.compact_js(_HOST)
    if "</script" in js.lower():
        raise RuntimeError("the inlined module must not contain '</script'")
    return js


def _page_css() -> str:
    """The page's look in the current theme (the race view itself takes its colors from its payload)."""
    p = theme.palette()
    return components.compact_css(RACE_CSS.read_text(encoding="utf-8")) + (
        f"html{{background:{p.paper};color:{p.text};color-scheme:{p.kind}}}"
        f"body{{margin:0;font-family:{theme.FONT_FAMILY};font-size:{theme.FONT_SIZE}px}}"
        "main{max-width:1100px;margin:0 auto;padding:16px 24px 24px}"
        f"h1{{font-size:{theme.TITLE_SIZE + 6}px;margin:4px 0 12px;font-weight:600}}"
        f".oe-offline-foot{{font-size:{theme.FONT_SIZE}px;color:{p.hint_text};margin-top:18px}}"
    )


def offline_html(payload: dict[str, Any], landscape_payload: dict[str, Any] | None, title: str) -> str:
    """One HTML file that plays the race offline: ``payload`` from
    :func:`app.playground.race_view.race_payload` (or ``app.playground.panels.race_view``),
    ``landscape_payload`` from :func:`app.playground.race_view.landscape_payload` (None: no image),
    ``title`` the page's heading."""
    data = offline_payload(payload)
    land = None
    if landscape_payload is not None:
        if landscape_payload.get("kind") != "landscape" or not str(landscape_payload.get("png", "")).startswith(
                "data:image/png;base64,"):
            raise ValueError("expected the landscape payload, its PNG as a data URI")
        land = {"id": landscape_payload["id"], "png": landscape_payload["png"]}
        if data.get("land") not in (None, land["id"]):
            raise ValueError("the landscape is not the one the race payload names")
    t = html.escape(str(title))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="Optimizer Explorer">\n'
        f"<title>{t}</title>\n<style>\n{_page_css()}\n</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{t}</h1>\n"
        '<div id="oe-race"></div>\n'
        '<p class="oe-offline-foot">Saved from Optimizer Explorer. This page plays offline: '
        "space plays and pauses, the arrow keys step, a click on a legend entry hides its run.</p>\n"
        "</main>\n"
        f'<script type="application/json" id="oe-race-data">{_json_in_script(data)}</script>\n'
        f'<script type="application/json" id="oe-landscape-data">{_json_in_script(land)}</script>\n'
        f'<script type="module">\n{_module()}\n</script>\n'
        "</body>\n</html>\n"
    )
