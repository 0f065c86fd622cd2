"""Text that reads the same on any machine, with nothing fetched (issue 14).

Debian's Chromium without a colour-emoji font draws every emoji as an empty box, and an icon
font (Material symbols) or an emoji favicon is fetched from the internet. So no label, header,
button, toast or note in ``app/`` carries a colour emoji, and every non-ASCII character written
in its sources is one DejaVu Sans (the font such a browser falls back to) has a glyph for. A
value that must keep an emoji (an old tab label that links shared earlier still carry) is
written as an escape, ``"\\U0001f5fa"``, so it is not a character of the source.

And KaTeX, which draws st.latex in display mode, warns for every line break outside an
environment ([newLineInDisplayMode]) and ignores it: every formula the app shows goes through
:func:`app.playground.theory.display_latex`, which sets such formulas in ``gathered``.
"""

from __future__ import annotations

import ast
import os
import unicodedata

import pytest

from app.playground import inspector as I
from app.playground import presets as P
from app.playground import race as R
from app.playground import theory
from app.schedules import logic as L
from optim_core import registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "app")
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# Blocks of colour emoji (and what turns a character into one).
EMOJI_RANGES = (
    (0x1F000, 0x1FAFF),  # mahjong .. symbols and pictographs extended-A (flags, faces, objects)
    (0x2600, 0x27BF),    # miscellaneous symbols, dingbats
    (0x2B00, 0x2BFF),    # arrows and stars with emoji forms (⭐, ⭕, ⬛)
    (0x231A, 0x231B), (0x23E9, 0x23F3), (0x23F8, 0x23FA),  # ⌚ ⌛ ⏩..⏳ ⏸..⏺
    (0xFE00, 0xFE0F),    # variation selectors (U+FE0F: "draw the emoji")
    (0x200D, 0x200D),    # zero-width joiner (emoji sequences)
    (0xE0020, 0xE007F),  # tags (flag sequences)
)
# Dingbats kept deliberately: text-presentation characters that DejaVu Sans draws.
KEPT_DINGBATS = {"✕", "❚"}

# Files in app/ whose emoji other engineers are removing (not editable here): the strings are
# still listed by the test's message if they grow. Empty this once they are clean.
ELSEWHERE: set[str] = set()  # files allowed to keep colour emoji: none


def _sources():
    for base, dirs, files in os.walk(APP):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in sorted(files):
            if f.endswith((".py", ".js", ".css")):
                path = os.path.join(base, f)
                yield os.path.relpath(path, APP), path


def _is_emoji(ch: str) -> bool:
    return ch not in KEPT_DINGBATS and any(lo <= ord(ch) <= hi for lo, hi in EMOJI_RANGES)


def _non_ascii() -> dict[str, list[str]]:
    """Each non-ASCII character written in app/'s sources: where (file:line)."""
    found: dict[str, list[str]] = {}
    for rel, path in _sources():
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                for ch in line:
                    if ord(ch) > 127:
                        found.setdefault(ch, []).append(f"{rel}:{n}")
    return found


def test_no_colour_emoji_in_the_app():
    bad = {ch: [w for w in where if w.split(":")[0] not in ELSEWHERE]
           for ch, where in _non_ascii().items() if _is_emoji(ch)}
    bad = {ch: where for ch, where in bad.items() if where}
    assert not bad, "colour emoji (an empty box without an emoji font):\n" + "\n".join(
        f"  U+{ord(ch):04X} {unicodedata.name(ch, '?')} {ch!r}: {', '.join(where[:6])}"
        for ch, where in bad.items())


def test_the_files_left_to_others_are_still_the_only_exceptions():
    """The exceptions name real files (and none of the files this issue cleaned)."""
    for rel in ELSEWHERE:
        assert os.path.exists(os.path.join(APP, rel)), rel
    assert not ELSEWHERE & {os.path.join("views", f) for f in os.listdir(os.path.join(APP, "views"))}


@pytest.fixture(scope="module")
def dejavu():
    if not os.path.exists(DEJAVU):
        if os.environ.get("CI"):
            pytest.fail(f"{DEJAVU} is missing (apt-get install -y fonts-dejavu-core)")
        pytest.skip(f"{DEJAVU} is missing (apt-get install -y fonts-dejavu-core)")
    from PIL import ImageFont

    font = ImageFont.truetype(DEJAVU, 32)
    notdef = font.getmask("\U0010FFFD")  # a private-use code point: the font's missing-glyph box
    box = (notdef.size, bytes(notdef))

    def has(ch: str) -> bool:
        if unicodedata.category(ch) in ("Zs", "Cf"):  # spaces and format characters draw nothing
            return True
        mask = font.getmask(ch)
        return (mask.size, bytes(mask)) != box

    return has


def test_the_glyph_check_tells_drawn_from_missing(dejavu):
    assert all(dejavu(ch) for ch in "θημ≤→·×▶◇✕❚‖₁⁻")
    assert not any(dejavu(ch) for ch in ("\U0001f3d4", "\u2705", "\U0001f4d6"))


def test_every_non_ascii_character_is_in_dejavu_sans(dejavu):
    missing = {ch: where for ch, where in _non_ascii().items()
               if not _is_emoji(ch) and not dejavu(ch)}
    assert not missing, "not in DejaVu Sans:\n" + "\n".join(
        f"  U+{ord(ch):04X} {unicodedata.name(ch, '?')} {ch!r}: {', '.join(where[:6])}"
        for ch, where in missing.items())


def _calls(tree, attr: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr:
            yield node


def test_no_page_or_navigation_icon_is_fetched():
    """No icon= on st.Page / st.toast / buttons, no page_icon: an emoji, a Material icon (a web font)
    and an emoji favicon (from a CDN) all need what an offline machine lacks."""
    found = []
    for rel, path in _sources():
        if not rel.endswith(".py"):
            continue
        with open(path, encoding="utf-8") as fh:
            src = fh.read()
        assert ":material/" not in src, rel
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg in ("icon", "page_icon") and not (isinstance(kw.value, ast.Constant)
                                                                and kw.value.value is None):
                        found.append(f"{rel}:{node.lineno} {kw.arg}=")
    assert not found, found


# ---- LaTeX --------------------------------------------------------------------------------------
def test_top_level_newlines_counts_only_breaks_outside_environments():
    tl = theory.top_level_newlines
    assert tl(r"a \\ b") == 1 and tl(r"a \newline b") == 1
    assert tl(r"\begin{cases} a & b \\ c & d \end{cases}") == 0
    assert tl(r"x \\ \begin{cases} a \\ b \end{cases} \\ y") == 2
    assert tl(r"\{ \} \, \; a") == 0
    shown = theory.display_latex(r"a \\ b")
    assert shown.startswith(r"\begin{gathered}") and tl(shown) == 0
    assert theory.display_latex(r"\frac{a}{b}") == r"\frac{a}{b}"


def _shown_formulas():
    """Every formula the pages pass to st.latex: the registry's optimizers and schedules (theory
    cards, the Schedules page, the inspector's fallback), the inspector's filled-in rules, the
    stability bound and the compositions."""
    out = {f"optimizer {n}": i.latex for n, i in registry.optimizers().items()}
    out |= {f"schedule {n}": i.latex for n, i in registry.schedules().items()}
    out["stability"] = theory.STABILITY_LATEX
    for key in ("race", "adamw"):  # every optimizer the inspector writes its own rule for
        tr = R.compute(P.PRESETS[key].scene).traj
        for k in range(len(tr.specs)):
            for j, line in enumerate(I.inspect_step(tr, k, 3).latex):
                out[f"inspector {key} run {k} line {j}"] = line
    for comb in L.COMBINATORS:
        for warm in L.WARMUPS:
            for decay in L.DECAYS:
                try:
                    comp = L.Composition.make(comb, warm, {}, decay, {}, 300)
                except L.ScheduleError:
                    continue
                out[f"composition {comb} {warm} {decay}"] = comp.latex()
    return out


def test_every_formula_shown_has_no_line_break_outside_an_environment():
    formulas = _shown_formulas()
    assert any(theory.top_level_newlines(s) for s in formulas.values())  # the registry's, one rule a line
    bad = [name for name, s in formulas.items() if theory.top_level_newlines(theory.display_latex(s))]
    assert not bad, bad


def test_every_st_latex_call_goes_through_display_latex():
    found = 0
    for rel, path in _sources():
        if not rel.endswith(".py"):
            continue
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        for call in _calls(tree, "latex"):
            if not (isinstance(call.func.value, ast.Name) and call.func.value.id == "st"):
                continue
            found += 1
            (arg,) = call.args
            assert isinstance(arg, ast.Call) and getattr(arg.func, "attr", getattr(arg.func, "id", None)) \
                == "display_latex", f"{rel}:{call.lineno}"
    assert found >= 5
