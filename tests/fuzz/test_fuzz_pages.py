"""Fuzzing the four pages through Streamlit's AppTest: hostile URL query strings, and random walks
of interactions.

URLs: for each page, a query string of the page's real parameter names (every widget bound to
the URL, the Playground's per-run and per-surface keys, the Schedules page's per-schedule keys,
presenter mode) and junk names, holding random values: registry names, numbers at and past every
edge (1e300, nan, inf, "1e309"...), text, attempts at code and markup, repeated keys.

Walks: from the page, a random widget of what is drawn is set to a random valid or edge value
(every option of a choice, a slider's ends, a number input's bounds or 1e300 where it has none,
formulas and hostile text) or clicked, and the app reruns; ``WALK`` interactions per page (60 in
the ci profile, 300 in the long one). A button may lead to another page: the walk goes on there.

Neither may make an exception escape to the page (``at.exception``) or hold the script past
``TIMEOUT_S``; a clear message (``st.error``, ``st.warning``) is allowed. A failing walk names its
seed and the interactions so far; ``FUZZ_SEED=<seed> python -m pytest tests/fuzz -k walk`` replays it.
"""

from __future__ import annotations

import ast
import math
import os
import random
import re
from dataclasses import dataclass, field

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import Phase, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from app.playground import state as U  # noqa: E402
from app.playground.scene import CUSTOM, MAX_RUNS  # noqa: E402
from app.ui import presenter  # noqa: E402
from optim_core import registry  # noqa: E402

from ._support import LONG, budget, examples  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAIN = os.path.join(ROOT, "app", "main.py")
PAGES = {"playground": "views/playground.py", "schedules": "views/schedules.py",
         "live-training": "views/live_training.py", "memory": "views/memory.py"}
TIMEOUT_S = 60  # a script run longer than this holds the server: a failure
WALK = budget(60, 300)
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]

pytestmark = pytest.mark.filterwarnings("ignore")


def _source_keys(page: str, prefix: str) -> set[str]:
    with open(os.path.join(ROOT, "app", PAGES[page])) as f:
        return set(re.findall(r'key="(' + re.escape(prefix) + r'[a-z0-9_]+)"', f.read()))


def _playground_names() -> list[str]:
    names = set(U.default_state()) | _source_keys("playground", "pg_") | {U.LESSON_PARAM}
    for i in range(MAX_RUNS + 1):
        for row in U.RUN_ROWS:
            if hasattr(row, "keys"):
                names.update(row.keys(U.run_key(i, "")))
        for info in registry.optimizers().values():
            names.update(U.run_key(i, h.name) for h in info.hypers)
        for info in registry.schedules().values():
            names.update(U.schedule_key(i, h.name) for h in info.params)
    for info in registry.surfaces().values():
        names.update(U.surface_param_key(h.name) for h in info.params)
    return sorted(names)


def _schedules_names() -> list[str]:
    names = _source_keys("schedules", "sc_") | {"sc_tab", "sc_pick", "sc_steps", "sc_logy", "sc_surface", "sc_opt"}
    for name, info in registry.schedules().items():
        names.update(f"sc_p_{name}_{h.name}" for h in info.params)
    return sorted(names)


GLOBAL_NAMES = [presenter.PARAM, presenter.THEME_PARAM]
PARAM_NAMES = {
    "playground": _playground_names() + GLOBAL_NAMES,
    "schedules": _schedules_names() + GLOBAL_NAMES,
    # Live Training and Memory bind no widget to the URL: their keys are tried as junk.
    "live-training": sorted(_source_keys("live-training", "lt_")) + ["lt_run0_opt", "lt_n_runs"] + GLOBAL_NAMES,
    "memory": ["mem_preset", "mem_count", "mem_unit", "mem_dtype", "mem_side", "mem_optimizers"] + GLOBAL_NAMES,
}

NAMES_OF_THINGS = [*registry.optimizers(), *registry.schedules(), *registry.surfaces(), CUSTOM, "none", "None",
                   "full", "as above", "norm", "value", "off", "true", "false", "True", "1", "0", "-1", "dark",
                   "light", "#FF0000", "#zzzzzz", "2D map", "3D surface", "Compare", "LR range test", "thousand",
                   "billion", "float16", "stacked", "grouped"]
NUMBER_TEXT = ["0", "-0", "1", "0.5", "1e300", "-1e300", "1e309", "-1e309", "nan", "NaN", "inf", "-inf",
               "Infinity", "5e-324", "1e-300", "2147483648", "9" * 400, "1e6", "5000", "5001", "0x10", "1_000",
               "1,5", " 2 ", "3.", ".5", "1e", "--1", "+1"]
HOSTILE_TEXT = ["__import__('os').system('touch /tmp/fuzz_pwned')", "x**2 + y**2", "9**9**9", "x.__class__",
                "<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%00", "\x00", "\u202e",
                "{{7*7}}", "${7*7}", "a" * 5000, "sin(" * 60 + "x" + ")" * 60, "", " ", "[]", "{}", "null"]
VALUES = st.one_of(
    st.sampled_from(NAMES_OF_THINGS), st.sampled_from(NUMBER_TEXT), st.sampled_from(HOSTILE_TEXT),
    st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**6, 10**6).map(str),
    st.text(max_size=30),
)
FORMULAS = ["x**2 + y**2", "(x - 1)**2 + 10*(y - x**2)**2", "sin(x)*cos(y)", "abs(x) + abs(y)", "log(x)", "1/x",
            "x**y", "exp(x*y)", "sqrt(x) + y", "max(x, y)**2", "x", "0", "9**9**9", "x.__class__", "import os"]
JUNK_NAMES = st.one_of(st.sampled_from(["", "a", "pg_", "pg_r99_lr", "pg_r-1_opt", "pg_sp_zz", "sc_p_Nope_x",
                                        "__proto__", "constructor", "embed", "embed_options", "page"]),
                       st.text(min_size=1, max_size=20))


def page_test(page: str, query: dict | None = None) -> AppTest:
    """The app opened on ``page`` with URL ``query`` (a first run on the default page, as AppTest needs)."""
    at = AppTest.from_file(MAIN, default_timeout=TIMEOUT_S)
    if page == "playground":
        at.query_params.update(query or {})
        at.run()
    else:
        at.run()
        check(at, f"opening {page}")
        at.query_params.clear()
        at.query_params.update(query or {})
        at.switch_page(PAGES[page]).run()
    return at


# A number the page prints as Python's inf or nan ("inf GB"): the input should have been bounded. (The
# debugging panel's "NaN/Inf detector" names the concept, not a number: a slash beside it is not a number.)
NON_FINITE_TEXT = re.compile(r"(?<![\w'\"/])-?(inf|nan|NaN)(?![\w'\"/])")
TEXT_ELEMENTS = ("markdown", "caption", "success", "info", "warning", "error", "text", "title", "header",
                 "subheader", "metric")


def shown_text(at: AppTest) -> list[str]:
    out = []
    for kind in TEXT_ELEMENTS:
        for el in at.get(kind):
            value = getattr(el, "value", None)
            if isinstance(value, str):
                out.append(value)
    return out


def check(at: AppTest, what: str) -> None:
    """No exception on the page (a message is allowed), and no number printed as inf or nan."""
    if at.exception:
        details = "\n".join(f"{e.value}\n{''.join(e.stack_trace)}" for e in at.exception)
        pytest.fail(f"{what}: an exception reached the page:\n{details}", pytrace=False)
    bad = [t for t in shown_text(at) if NON_FINITE_TEXT.search(t)]
    if bad:
        pytest.fail(f"{what}: the page prints a number as inf or nan: {bad[0][:300]!r}", pytrace=False)


@st.composite
def queries(draw, page: str):
    real = draw(st.lists(st.sampled_from(PARAM_NAMES[page]), max_size=8, unique=True))
    junk = draw(st.lists(JUNK_NAMES, max_size=2, unique=True))
    query = {}
    for name in real + junk:
        if draw(st.integers(0, 9)) == 0:  # a repeated key: ?k=a&k=b
            query[name] = draw(st.lists(VALUES, min_size=2, max_size=3))
        else:
            query[name] = draw(VALUES)
    if page == "playground" and draw(st.booleans()):
        query.update(draw(coherent_scene()))
    if page == "schedules" and draw(st.booleans()):
        picked = draw(st.lists(st.sampled_from(list(registry.schedules())), min_size=1, max_size=4, unique=True))
        query["sc_pick"] = picked
        for name in picked:
            for h in registry.get_schedule(name).params:
                if draw(st.integers(0, 2)) == 0:
                    query[f"sc_p_{name}_{h.name}"] = draw(EDGE_VALUES)
    return query


# Values a widget could hold, and past its edges, as URL text.
EDGE_VALUES = st.one_of(st.sampled_from(NUMBER_TEXT), st.floats(-1e3, 1e3).map(repr), st.sampled_from(["true", "false"]),
                        VALUES)


@st.composite
def coherent_scene(draw):
    """A Playground URL that hangs together (a surface with its parameters, runs with their optimizer's
    hyperparameters and a schedule with its parameters), with edge values: what reaches the core."""
    q = {}
    surface = draw(st.sampled_from([CUSTOM, *registry.surfaces()]))
    q["pg_surface"] = surface
    if surface == CUSTOM:
        q["pg_formula"] = draw(st.one_of(st.sampled_from(FORMULAS + HOSTILE_TEXT), st.text(max_size=40)))
        for k in ("xmin", "xmax", "ymin", "ymax"):
            if draw(st.booleans()):
                q["pg_" + k] = draw(EDGE_VALUES)
    else:
        for h in registry.get_surface(surface).params:
            if draw(st.integers(0, 2)):
                q[U.surface_param_key(h.name)] = draw(EDGE_VALUES)
    runs = draw(st.integers(1, MAX_RUNS))
    q["pg_nruns"] = str(runs)
    for i in draw(st.lists(st.integers(0, runs - 1), max_size=2, unique=True)):
        opt = draw(st.sampled_from(list(registry.optimizers())))
        q[U.run_key(i, "opt")] = opt
        for h in registry.get_optimizer(opt).hypers:
            if draw(st.integers(0, 2)) == 0:
                q[U.run_key(i, h.name)] = draw(EDGE_VALUES)
        if draw(st.booleans()):
            sched = draw(st.sampled_from(list(registry.schedules())))
            q[U.run_key(i, "sched")] = sched
            for h in registry.get_schedule(sched).params:
                if draw(st.integers(0, 2)) == 0:
                    q[U.schedule_key(i, h.name)] = draw(EDGE_VALUES)
        for k in ("clip", "clipv", "la", "lak", "laa", "own", "x0", "y0", "batch"):
            if draw(st.integers(0, 4)) == 0:
                q[U.run_key(i, k)] = draw(st.one_of(st.sampled_from(["norm", "value", "true"]), EDGE_VALUES))
    for k in ("steps", "noise", "batch", "seed", "x0", "y0"):
        if draw(st.integers(0, 3)) == 0:
            q["pg_" + k] = draw(EDGE_VALUES)
    return q


@pytest.mark.parametrize("page", list(PAGES))
# Each try is an app run (~0.5 s): a failing query is reported as found, not shrunk.
@examples(ci=15, long=150, phases=NO_SHRINK)
@given(data=st.data())
def test_any_query_string_opens_the_page_without_a_traceback(page, data):
    query = data.draw(queries(page), "query")
    if os.path.exists("/tmp/fuzz_pwned"):
        os.remove("/tmp/fuzz_pwned")
    at = page_test(page, query)
    check(at, f"/{'' if page == 'playground' else page}?{query}")
    assert not os.path.exists("/tmp/fuzz_pwned")


# What the fuzzing found (and what the issue reported), kept as fixed cases so that every ci run checks them.
KNOWN_QUERIES = [
    ("playground", {"pg_seed": "inf"}),  # an int number input bound to the URL: int(float("inf"))
    ("playground", {"pg_nruns": "1e309"}),
    ("playground", {"pg_x0": "5e-324"}),  # the step inspector's LaTeX: 10.0 ** -324 == 0
    ("playground", {"pg_steps": "30", "pg_step": "1e9"}),
    ("playground", {"pg_surface": "Plateau cliff", "pg_sp_height": "30", "pg_sp_sharpness": "0.5"}),  # was an AssertionError
    ("playground", {"pg_surface": "Plateau cliff", "pg_sp_height": "1e300", "pg_sp_sharpness": "5e-324"}),
    ("playground", {"pg_surface": "Rosenbrock", "pg_sp_a": "1e300", "pg_sp_b": "nan"}),
    ("playground", {"pg_surface": "Ackley", "pg_x0": "1e-105", "pg_y0": "1e-105", "pg_r0_opt": "Sophia"}),
    ("playground", {"pg_surface": CUSTOM, "pg_formula": HOSTILE_TEXT[0]}),
    ("playground", {"pg_surface": CUSTOM, "pg_formula": "9**9**9", "pg_xmin": "1e309", "pg_xmax": "-1e309"}),
    ("playground", {"pg_r0_opt": "Adafactor", "pg_r0_sched": "OneCycleLR"}),
    ("playground", {"pg_r0_opt": "SGD", "pg_r0_lr": "1", "pg_r0_sched": "CyclicLR", "pg_r0_s_mode": "exp_range",
                    "pg_r0_s_gamma": "1e10"}),
    ("schedules", {"sc_pick": ["StepLR"], "sc_p_StepLR_step_size": "1e309"}),
    ("schedules", {"sc_pick": ["MultiplicativeLR", "CyclicLR"], "sc_p_MultiplicativeLR_gamma": "1e10",
                   "sc_p_CyclicLR_mode": "exp_range", "sc_p_CyclicLR_gamma": "1e10", "sc_steps": "5000"}),
    ("schedules", {"sc_pick": ["MultiStepLR"], "sc_p_MultiStepLR_milestones": ["", "x"]}),
    ("memory", {"mem_count": "1e300", "mem_unit": "billion"}),
]


@pytest.mark.parametrize("page,query", KNOWN_QUERIES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(KNOWN_QUERIES)])
def test_known_hostile_queries(page, query):
    check(page_test(page, query), f"/{'' if page == 'playground' else page}?{query}")


# -- random walks ------------------------------------------------------------------------------

NUMBER_EDGES = [0.0, -0.0, 1.0, -1.0, 1e300, -1e300, 1e-300, 5e-324, 1e10, -1e10, 0.1, 2.5]


def _send(widget, fill) -> None:
    """Make ``widget`` send exactly what ``fill`` writes into its WidgetState (the labels the browser
    sends for select sliders, radios, segmented controls and multiselects), as the frontend would."""
    ws = WidgetState()
    ws.id = widget.id
    fill(ws)
    cls = type(widget)
    if not getattr(cls, "_fuzz_raw", False):
        cls = type("Raw" + cls.__name__, (cls,), {"_fuzz_raw": True, "_widget_state": property(lambda s: s._raw_ws)})
    widget._raw_ws = ws
    widget.__class__ = cls


def _label(options, rng):
    return options[rng.randrange(len(options))]


def _number(lo, hi, rng, is_int: bool):
    cands = [v for v in NUMBER_EDGES if (lo is None or v >= lo) and (hi is None or v <= hi)]
    if lo is not None:
        cands.append(lo)
    if hi is not None:
        cands.append(hi)
    if lo is not None and hi is not None and math.isfinite(hi - lo):
        cands.append(lo + (hi - lo) * rng.random())
    v = rng.choice(cands)
    if is_int:
        v = int(max(min(round(v), 2**53), -(2**53)))
        if lo is not None and v < lo:
            v = int(math.ceil(lo))
        if hi is not None and v > hi:
            v = int(math.floor(hi))
    return v


def interact(at: AppTest, rng: random.Random) -> str | None:
    """Set one random widget of the page to a random valid or edge value; returns what was done."""
    kinds = [("slider", at.slider), ("select_slider", at.select_slider), ("selectbox", at.selectbox),
             ("number_input", at.number_input), ("toggle", at.toggle), ("checkbox", at.checkbox),
             ("button", at.button), ("radio", at.radio), ("text_input", at.text_input),
             ("segmented_control", at.get("button_group")), ("multiselect", at.multiselect),
             ("color_picker", at.color_picker)]
    widgets = [(kind, w) for kind, ws in kinds for w in ws if not getattr(w.proto, "disabled", False)]
    tabs = [t for t in at.tabs]
    if not widgets:
        return None
    if tabs and rng.random() < 0.05:  # a tab bound to the URL, by its label (or a label it does not have)
        key = rng.choice([k for k in ("pg_tab", "sc_tab") if k in at.session_state] or [None])
        if key is not None:
            label = rng.choice([t.label for t in tabs] + ["no such tab"])
            at.session_state[key] = label
            return f"tab {key} = {label!r}"
    kind, w = rng.choice(widgets)
    name = w.key or getattr(w, "label", "?")
    if kind == "slider":
        lo, hi = w.min, w.max
        is_int = isinstance(w.value, int) or (isinstance(w.value, (list, tuple)) and isinstance(w.value[0], int))
        if isinstance(w.value, (list, tuple)):
            a, b = sorted((_number(lo, hi, rng, is_int), _number(lo, hi, rng, is_int)))
            w.set_range(a, b)
            value = (a, b)
        else:
            value = _number(lo, hi, rng, is_int)
            w.set_value(value)
    elif kind in ("select_slider",):
        value = _label(w.options, rng)
        if isinstance(w.value, (list, tuple)):
            other = _label(w.options, rng)
            pair = sorted([value, other], key=w.options.index)
            _send(w, lambda ws: ws.string_array_value.data.extend(pair))
            value = pair
        else:
            _send(w, lambda ws: ws.string_array_value.data.append(value))
    elif kind in ("selectbox", "radio"):
        value = _label(w.options, rng)
        _send(w, lambda ws: setattr(ws, "string_value", value))
    elif kind == "segmented_control":
        value = [_label(w.options, rng)] if w.options and rng.random() < 0.9 else []
        _send(w, lambda ws: ws.string_array_value.data.extend(value))
    elif kind == "multiselect":
        value = rng.sample(list(w.options), rng.randint(0, len(w.options))) if w.options else []
        _send(w, lambda ws: ws.string_array_value.data.extend(value))
    elif kind == "number_input":
        lo = w.proto.min if w.proto.has_min else None
        hi = w.proto.max if w.proto.has_max else None
        is_int = w.proto.data_type == w.proto.INT
        value = _number(lo, hi, rng, is_int)
        w.set_value(value)
    elif kind in ("toggle", "checkbox"):
        value = not w.value
        w.set_value(value)
    elif kind == "button":
        value = "click"
        w.click()
    elif kind == "text_input":
        value = rng.choice(FORMULAS + HOSTILE_TEXT[:12] + [str(rng.random())])
        if w.proto.max_chars:
            value = value[: w.proto.max_chars]
        w.set_value(value)
    elif kind == "color_picker":
        value = "#%06X" % rng.randrange(1 << 24)
        w.set_value(value)
    else:  # pragma: no cover
        raise AssertionError(kind)
    return f"{kind} {name!r} = {value!r}"


@dataclass
class Walk:
    page: str
    seed: int
    done: list[str] = field(default_factory=list)

    def replay_hint(self) -> str:
        return (f"seed {self.seed} (replay: FUZZ_SEED={self.seed} FUZZ={'long' if LONG else 'ci'} python -m pytest "
                f"tests/fuzz/test_fuzz_pages.py -k 'walk and {self.page}')")


def walk_seed(page: str) -> int:
    if os.environ.get("FUZZ_SEED"):
        return int(os.environ["FUZZ_SEED"])
    if LONG:
        return random.SystemRandom().randrange(2**32)
    return 1000 + list(PAGES).index(page)  # ci: the same walk every run


@pytest.mark.parametrize("page", list(PAGES))
def test_random_walk(page):
    walk = Walk(page, walk_seed(page))
    rng = random.Random(walk.seed)
    print(f"\nwalk on {page}: {walk.replay_hint()}")
    at = page_test(page)
    check(at, f"opening {page}")
    for i in range(WALK):
        try:
            what = interact(at, rng)
            if what is None:
                break
            walk.done.append(what)
            at.run()
        except Exception as exc:  # noqa: BLE001 - a timeout or a failure of AppTest itself: report with the walk
            pytest.fail(f"walk on {page}, {walk.replay_hint()}, interaction {i + 1}: {type(exc).__name__}: {exc}\n"
                        + "\n".join(walk.done), pytrace=False)
        check(at, f"walk on {page}, {walk.replay_hint()}, after interaction {i + 1}:\n" + "\n".join(walk.done))
    kinds = sorted({d.split(" ", 1)[0] for d in walk.done})
    print(f"{len(walk.done)} interactions on {page} ({', '.join(kinds)}); ended on {at.get('title')[0].value if at.get('title') else page}")
    assert len(walk.done) == WALK


# -- replaying a walk by widget key ----------------------------------------------------------

_ACTION = re.compile(r"^(\w+) (.+?) = (.+)$")


def apply_action(at: AppTest, line: str) -> bool:
    """Do one logged interaction (``interact``'s line, e.g. ``slider 'pg_step' = 346``) by widget key;
    False when the page does not show that widget."""
    if line.startswith("tab "):
        key, label = re.match(r"tab (\w+) = (.+)$", line).groups()
        at.session_state[key] = ast.literal_eval(label)
        return True
    kind, key, value = _ACTION.match(line).groups()
    key = ast.literal_eval(key)
    value = None if kind == "button" else ast.literal_eval(value)
    by_kind = {"slider": at.slider, "select_slider": at.select_slider, "selectbox": at.selectbox,
               "number_input": at.number_input, "toggle": at.toggle, "checkbox": at.checkbox, "button": at.button,
               "radio": at.radio, "text_input": at.text_input, "segmented_control": at.get("button_group"),
               "multiselect": at.multiselect, "color_picker": at.color_picker}
    found = [w for w in by_kind[kind] if (w.key or getattr(w, "label", "?")) == key]
    if not found:
        return False
    w = found[0]
    if kind == "button":
        w.click()
    elif kind == "select_slider":
        labels = list(value) if isinstance(value, list) else [value]
        _send(w, lambda ws: ws.string_array_value.data.extend(labels))
    elif kind in ("segmented_control", "multiselect"):
        _send(w, lambda ws: ws.string_array_value.data.extend(value))
    elif kind in ("selectbox", "radio"):
        _send(w, lambda ws: setattr(ws, "string_value", value))
    elif kind == "slider" and isinstance(value, tuple):
        w.set_range(*value)
    else:
        w.set_value(value)
    return True


# Interaction sequences the walks found (shrunk by hand to what still fails), and the reported case.
KNOWN_WALKS = [
    ("memory", ["number_input 'mem_count' = 1e+300"]),  # "1e300 billion parameters" printed "inf GB"
    ("playground", ["number_input 'pg_y0' = 5e-324"]),
    ("playground", ["slider 'pg_step' = 346", "button 'pg_preset_diverge' = 'click'", "button 'pg_guide_gd-lr' = 'click'",
                    "button 'pg_guide_leave' = 'click'"]),
    ("schedules", ["select_slider 'sc_steps' = '120'", "toggle 'sc_logy' = True", "slider 'sc_mark' = 0",
                   "select_slider 'sc_steps' = '10'"]),
]


@pytest.mark.parametrize("page,actions", KNOWN_WALKS, ids=[f"{p}-{i}" for i, (p, _) in enumerate(KNOWN_WALKS)])
def test_known_interaction_sequences(page, actions):
    at = page_test(page)
    check(at, f"opening {page}")
    for i, line in enumerate(actions):
        assert apply_action(at, line), f"{page}: no widget for {line!r}"
        at.run()
        check(at, f"{page}, after " + " -> ".join(actions[: i + 1]))
