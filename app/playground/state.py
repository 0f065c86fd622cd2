"""The Playground's widget state and its scene, both ways, from one table.

Every control of the page is bound to the URL (its key is the query parameter), and presets,
clicks and other pages set the same keys (:mod:`.handoff`). The scene is spelled the way the
widgets hold it in a *view*: a flat dict with a clip mode and a clip value instead of
``clip_norm``/``clip_value``, a Lookahead toggle with its k and α, an own-start toggle with
its point, and per-parameter groups (the surface's, the optimizer's, the schedule's) as dicts
of the values set. :func:`_scene_view`/:func:`_run_view` and :func:`_scene_of`/:func:`_run_of`
turn scenes and runs into views and back; the table maps a view to widget keys:

    row = (widget key, view field, read: a widget's or a URL's value → the field,
           write: the field → what the widget shows, default)

:data:`SCENE_ROWS` are keyed ``pg_<key>``, :data:`RUN_ROWS` ``pg_r<i>_<key>`` for run ``i``; a
:class:`Group` row stands for one widget per parameter (``pg_sp_<name>``, ``pg_r<i>_<name>``,
``pg_r<i>_s_<name>``). :func:`scene_from_state` reads every row, :func:`state_from_scene` writes
every row, :func:`default` gives the page each widget's default.

Defaults live in one place, the default scene (:data:`app.playground.presets.DEFAULT_SCENE`):
a key the state does not hold takes the default scene's value (run ``i``'s: its run ``i``),
except that a row declared ``after`` another field (a surface parameter after the surface, a
hyperparameter after the optimizer, a schedule parameter after the schedule, the start after
the surface) takes its own default (``own``) once that field differs from the default scene's.
The page draws each widget with :func:`default`, so the value a widget starts from and the
value a URL without its key gives are one value (a URL leaves out values at their default).

:func:`url_params` says what the URL must hold for a state: every widget the page draws for it
whose value differs from the default it is drawn with, spelled as Streamlit spells it, and the
lesson shown (:data:`LESSON_PARAM`). The page writes it (:mod:`.handoff`, :mod:`.links`): Streamlit
itself writes a value set from code only for a widget drawn in the run before.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from app.playground import tailor as T
from app.playground.presets import DEFAULT_SCENE, GALLERY, lesson
from app.playground.scene import (
    BATCH_OPTIONS,
    CLIP_AT_OPTIONS,
    CLIP_MODES,
    CUSTOM,
    DEFAULT_CUSTOM_WINDOW,
    MAX_RUNS,
    NOISE_OPTIONS,
    PRECISIONS,
    REMEDY_LABELS,
    STEP_OPTIONS,
    RunConfig,
    Scene,
    SceneError,
    _non_default,
    available_schedules,
    default_start,
    make_surface,
    schedule_param_default,
    shown_hypers,
)
from app.ui.controls import FULL_BATCH, NO_SCHEDULE, fmt, hyper_options, schedule_choices, snap
from app.ui.theme import run_color
from optim_core import registry

__all__ = [
    "SCENE_ROWS",
    "RUN_ROWS",
    "scene_from_state",
    "state_from_scene",
    "canonical",
    "default_state",
    "default",
    "value",
    "run_key",
    "schedule_key",
    "surface_param_key",
    "hyper_defaults",
    "suggested_start",
    "start_state",
    "LESSON",
    "LESSON_PARAM",
    "url_params",
    "is_scene_key",
    "SCENE_KEY_PATTERN",
    "same_scene_url",
    "lesson_from_url",
]

K = "pg_"  # every Playground widget key starts with it
LOOKAHEAD_OFF = (5, 0.5)  # the k and α the Lookahead sliders show while Lookahead is off
CLIP_OFF_AT = 1.0  # the value the "clip at" slider shows while clipping is off


# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------


def _same(v: Any) -> Any:
    return v


@dataclass(frozen=True)
class Row:
    """One widget (or, for the start, the pair of widgets θ₁, θ₂) and the view field it holds."""

    key: str | tuple[str, str]  # after "pg_" (scene) or "pg_r<i>_" (run); a pair is read only when both are set
    field: str
    read: Callable[[Any], Any] = _same  # a widget's or URL's value → the field (ValueError/TypeError: refused)
    write: Callable[[Any], Any] = _same  # the field → the widget's value, snapped onto what it offers
    after: str | None = None  # the field this one's default depends on
    own: Any = None  # the default once ``after`` differs from the default scene's
    when: Callable[[dict], bool] | None = None  # read only if this holds of the view so far (else stale)
    lenient: bool = False  # a value that cannot be read gives the default instead of an error

    def keys(self, prefix: str) -> tuple[str, ...]:
        return tuple(prefix + k for k in ((self.key,) if isinstance(self.key, str) else self.key))

    def default(self, view: dict, base: dict) -> Any:
        if self.field in base and (self.after is None or view[self.after] == base[self.after]):
            return base[self.field]
        return self.own

    def get(self, state: Mapping[str, Any], prefix: str, default: Any, lenient: bool) -> Any:
        values = [state.get(k) for k in self.keys(prefix)]
        if any(v is None for v in values):
            return default
        try:
            return self.read(values[0] if len(values) == 1 else tuple(values))
        except (ValueError, TypeError):
            if lenient or self.lenient:
                return default
            raise

    def put(self, prefix: str, value: Any) -> dict[str, Any]:
        keys = self.keys(prefix)
        written = self.write(value)
        return dict(zip(keys, written)) if len(keys) > 1 else {keys[0]: written}


@dataclass(frozen=True)
class Group:
    """One widget per parameter: ``prefix + name`` holds ``view[field][name]``.

    Read as stored (the widget has already put it on its slider; a URL's text is kept for
    validation to judge), written snapped onto the parameter's slider. The parameters are
    those of the view's ``after`` entry (surface, optimizer or schedule); a parameter's default
    is the default scene's value while ``after`` is the default scene's, else ``own``.
    """

    prefix: str
    field: str
    after: str
    params: Callable[[dict, dict], Sequence]  # (view so far, scene view) → registry Hyper entries
    own: Callable[[Any, dict, dict], Any]  # (Hyper, view, scene view) → its own default

    def default(self, h, view: dict, base: dict, scene: dict) -> Any:
        own = self.own(h, view, scene)
        return base[self.field].get(h.name, own) if view[self.after] == base[self.after] else own


def _custom(view: dict) -> bool:
    return view["surface"] == CUSTOM


def _surface_params(view: dict, scene: dict) -> Sequence:
    info = None if _custom(view) else registry.surfaces().get(view["surface"])
    return info.params if info is not None else ()


def _point(v) -> tuple[float, float]:
    return float(v[0]), float(v[1])


def _precision(v) -> str:
    if v not in PRECISIONS:
        raise ValueError(f"unknown precision {v!r}")
    return str(v)


def _remedy(v) -> str:
    if v not in REMEDY_LABELS:
        raise ValueError(f"unknown remedy {v!r}")
    return str(v)


def _run_count(v) -> int:
    return max(1, min(MAX_RUNS, int(v)))


def _snapped(options: Sequence) -> Callable[[Any], Any]:
    return lambda v: snap(v, options)


(_WX0, _WX1), (_WY0, _WY1) = DEFAULT_CUSTOM_WINDOW

SCENE_ROWS: tuple[Row | Group, ...] = (
    Row("surface", "surface", read=str),
    Row("formula", "formula", read=str, after="surface", own="", when=_custom),
    Row("xmin", "xmin", read=float, write=float, after="surface", own=_WX0, when=_custom),
    Row("xmax", "xmax", read=float, write=float, after="surface", own=_WX1, when=_custom),
    Row("ymin", "ymin", read=float, write=float, after="surface", own=_WY0, when=_custom),
    Row("ymax", "ymax", read=float, write=float, after="surface", own=_WY1, when=_custom),
    Group("sp_", "surface_params", after="surface", params=_surface_params, own=lambda h, view, scene: h.default),
    # None: the surface's suggested start (shown as the default scene's start: no widget can show "suggested").
    Row(("x0", "y0"), "start", read=_point, write=_point, after="surface", own=None),
    Row("steps", "steps", read=int, write=_snapped(STEP_OPTIONS)),
    Row("noise", "noise", read=float, write=_snapped(NOISE_OPTIONS)),
    Row("batch", "batch_size", read=int, write=_snapped(BATCH_OPTIONS)),
    Row("seed", "seed", read=int, write=int),
    Row("prec", "precision", read=_precision, lenient=True),
    Row("nruns", "runs", read=_run_count, write=int),
)


def _optimizer(v) -> str:
    name = str(v)
    if name not in registry.optimizers():
        raise ValueError(f"unknown optimizer {name!r}")
    return name


def _schedule(v) -> str | None:
    return None if v == NO_SCHEDULE else str(v)


def _schedule_params(view: dict, scene: dict) -> Sequence:
    info = available_schedules().get(view["schedule"]) if view["schedule"] else None
    return info.params if info is not None else ()


def _schedule_param_own(h, view: dict, scene: dict) -> Any:
    return schedule_param_default(h, scene["steps"], available_schedules()[view["schedule"]])


def _color(v) -> str:
    """A ``#rrggbb`` color (as ``#RRGGBB``); anything else is refused."""
    text = str(v)
    if len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in text[1:]):
        return text.upper()
    raise ValueError(f"not a color: {text!r}")


RUN_ROWS: tuple[Row | Group, ...] = (
    Row("opt", "optimizer", read=_optimizer, lenient=True),
    Group("", "hypers", after="optimizer", params=lambda view, scene: shown_hypers(view["optimizer"]),
          own=lambda h, view, scene: h.default),
    Row("sched", "schedule", read=_schedule, write=lambda v: v or NO_SCHEDULE),
    Group("s_", "schedule_params", after="schedule", params=_schedule_params, own=_schedule_param_own),
    Row("clip", "clip"),  # "off", "norm" or "value" (anything else: off)
    Row("clipv", "clip_at", read=float, write=float),
    Row("la", "lookahead", read=bool),
    Row("lak", "lookahead_k", read=int, write=int, when=lambda view: view["lookahead"]),
    Row("laa", "lookahead_alpha", read=float, write=float, when=lambda view: view["lookahead"]),
    Row("batch", "batch", read=int, write=_snapped(BATCH_OPTIONS)),
    Row("own", "own_start", read=bool),
    Row("x0", "x0", read=float, write=float, when=lambda view: view["own_start"]),
    Row("y0", "y0", read=float, write=float, when=lambda view: view["own_start"]),
    Row("color", "color", read=_color, lenient=True),
    Row("rem", "remedy", read=_remedy, lenient=True),
)

_SURFACE_PARAMS, _HYPERS, _SCHEDULE_PARAMS = (
    next(r for r in rows if isinstance(r, Group) and r.field == field)
    for rows, field in ((SCENE_ROWS, "surface_params"), (RUN_ROWS, "hypers"), (RUN_ROWS, "schedule_params")))


def run_key(i: int, key: str) -> str:
    """Run ``i``'s widget key for ``key`` (a :data:`RUN_ROWS` key or a hyperparameter's name)."""
    return f"{K}r{i}_{key}"


def schedule_key(i: int, param: str) -> str:
    return run_key(i, _SCHEDULE_PARAMS.prefix + param)


def surface_param_key(name: str) -> str:
    return K + _SURFACE_PARAMS.prefix + name


# ---------------------------------------------------------------------------------------
# Views: a scene as the widgets spell it
# ---------------------------------------------------------------------------------------


def _scene_view(scene: Scene) -> dict[str, Any]:
    surface = None
    try:
        surface = make_surface(scene)
    except SceneError:
        pass
    start = scene.start if scene.start is not None else (default_start(surface) if surface is not None else (0.0, 0.0))
    view = {"surface": scene.surface, "surface_params": dict(scene.surface_params), "start": start,
            "steps": scene.steps, "noise": scene.noise, "batch_size": scene.batch_size, "seed": scene.seed,
            "runs": len(scene.runs), "precision": scene.precision}
    if scene.is_custom:
        (x0, x1), (y0, y1) = scene.window or DEFAULT_CUSTOM_WINDOW
        view.update(formula=scene.formula, xmin=x0, xmax=x1, ymin=y0, ymax=y1)
    return view


def _run_view(run: RunConfig, i: int, start: tuple[float, float]) -> dict[str, Any]:
    """Run ``i`` as its widgets show it; ``start`` is the scene's (its θ₁, θ₂ while it has no own start)."""
    if run.clip_norm is not None:
        clip, at = "norm", run.clip_norm
    elif run.clip_value is not None:
        clip, at = "value", run.clip_value
    else:
        clip, at = "off", CLIP_OFF_AT
    k, alpha = run.lookahead or LOOKAHEAD_OFF
    x0, y0 = run.start or start
    return {"optimizer": run.optimizer, "hypers": dict(run.hypers), "schedule": run.schedule,
            "schedule_params": dict(run.schedule_params), "clip": clip, "clip_at": at,
            "lookahead": run.lookahead is not None, "lookahead_k": k, "lookahead_alpha": alpha, "batch": run.batch,
            "own_start": run.start is not None, "x0": x0, "y0": y0, "color": run.color or run_color(i),
            "remedy": run.remedy}


def _scene_of(view: dict[str, Any], runs: Sequence[RunConfig]) -> Scene:
    window = ((view["xmin"], view["xmax"]), (view["ymin"], view["ymax"])) if _custom(view) else None
    return Scene.make(view["surface"], runs, view["surface_params"], formula=view.get("formula", ""), window=window,
                      start=view["start"], steps=view["steps"], noise=view["noise"], batch_size=view["batch_size"],
                      seed=view["seed"], precision=view["precision"])


def _run_of(view: dict[str, Any]) -> RunConfig:
    opt, clip, at = view["optimizer"], view["clip"], view["clip_at"]
    return RunConfig.make(
        opt, _non_default(opt, view["hypers"]), schedule=view["schedule"], schedule_params=view["schedule_params"],
        clip_norm=at if clip == "norm" else None, clip_value=at if clip == "value" else None,
        lookahead=(view["lookahead_k"], view["lookahead_alpha"]) if view["lookahead"] else None,
        start=(view["x0"], view["y0"]) if view["own_start"] else None, batch=view["batch"], color=view["color"],
        remedy=view["remedy"])


def default_run(i: int) -> RunConfig:
    """Run ``i`` of the default scene (an Adam run past its last one): what a new run starts from."""
    return DEFAULT_SCENE.runs[i] if i < len(DEFAULT_SCENE.runs) else RunConfig("Adam", color=run_color(i))


@functools.cache
def _default_scene_view() -> Mapping[str, Any]:
    return MappingProxyType(_scene_view(DEFAULT_SCENE))


def _default_run_view(i: int, scene: Mapping[str, Any]) -> dict[str, Any]:
    return _run_view(default_run(i), i, scene["start"] or (0.0, 0.0))


# ---------------------------------------------------------------------------------------
# Walking the table
# ---------------------------------------------------------------------------------------


def _read(rows, state: Mapping[str, Any], prefix: str, base: Mapping[str, Any], scene: Mapping[str, Any] | None,
          lenient: bool, defaults: dict | None = None) -> dict[str, Any]:
    """The view ``state`` holds for ``rows``; with ``defaults``, every widget's default is put there too."""
    view: dict[str, Any] = {}
    for row in rows:
        if isinstance(row, Group):
            values = {}
            for h in row.params(view, scene or view):
                key = prefix + row.prefix + h.name
                d = row.default(h, view, base, scene or view)
                if defaults is not None:
                    defaults[key] = snap(d, h)
                v = state.get(key)
                values[h.name] = d if v is None else v
            view[row.field] = values
            continue
        d = row.default(view, base)
        if defaults is not None:
            defaults.update(row.put(prefix, base[row.field] if d is None and row.after else d))
        if row.when is None or row.when(view):
            view[row.field] = row.get(state, prefix, d, lenient)
    return view


def _write(rows, view: Mapping[str, Any], prefix: str, scene: Mapping[str, Any], state: dict[str, Any]) -> None:
    for row in rows:
        if isinstance(row, Group):
            values = view.get(row.field, {})
            for h in row.params(view, scene):
                state[prefix + row.prefix + h.name] = snap(values.get(h.name, row.own(h, view, scene)), h)
        elif row.field in view:
            state.update(row.put(prefix, view[row.field]))


def scene_from_state(state: Mapping[str, Any]) -> Scene:
    """The scene the widgets describe; a key the state lacks takes its default (see the module's doc).

    A value that cannot be read raises ValueError or TypeError (the page says so), except an
    unknown optimizer or a color that is not ``#rrggbb``, which take the run's default.
    """
    scene = _read(SCENE_ROWS, state, K, _default_scene_view(), None, lenient=False)
    runs = [_run_of(_read(RUN_ROWS, state, run_key(i, ""), _default_run_view(i, scene), scene, lenient=False))
            for i in range(scene["runs"])]
    return _scene_of(scene, runs)


def state_from_scene(scene: Scene) -> dict[str, Any]:
    """Every widget value the page needs to show ``scene`` (snapped onto what each widget offers)."""
    view = _scene_view(scene)
    state: dict[str, Any] = {}
    _write(SCENE_ROWS, view, K, view, state)
    for i, run in enumerate(scene.runs):
        _write(RUN_ROWS, _run_view(run, i, view["start"]), run_key(i, ""), view, state)
    return state


def canonical(scene: Scene) -> Scene:
    """The scene as the widgets would show it (what ``scene_from_state(state_from_scene(s))`` gives)."""
    return scene_from_state(state_from_scene(scene))


@functools.cache
def default_state() -> Mapping[str, Any]:
    """The widgets of the default scene (built once, read-only)."""
    return MappingProxyType(state_from_scene(DEFAULT_SCENE))


# ---------------------------------------------------------------------------------------
# What the page asks
# ---------------------------------------------------------------------------------------


def _run_index(key: str) -> int | None:
    """``i`` for a key of run ``i`` (``pg_r<i>_…``), else None."""
    m = re.fullmatch(re.escape(K) + r"r(\d+)_.+", key)
    return int(m.group(1)) if m else None


def default(key: str, state: Mapping[str, Any]) -> Any:
    """The value widget ``key`` shows when the state holds none, given the other widgets' values
    (a hyperparameter's depends on the run's optimizer: draw the optimizer's widget first)."""
    defaults: dict[str, Any] = {}
    scene = _read(SCENE_ROWS, state, K, _default_scene_view(), None, lenient=True, defaults=defaults)
    i = _run_index(key)
    if i is not None and key not in defaults:
        _read(RUN_ROWS, state, run_key(i, ""), _default_run_view(i, scene), scene, lenient=True, defaults=defaults)
    return defaults[key]


_SCENE_WIDGET_KEYS: tuple = ()  # filled below, once SCENE_ROWS exists


def all_defaults(state: Mapping[str, Any]) -> dict[str, Any]:
    """Every widget's default for ``state`` in one pass: :func:`default` for each key of the scene and of
    each of its runs (a key not listed, e.g. a run past the run count: ask :func:`default`)."""
    defaults: dict[str, Any] = {}
    scene = _read(SCENE_ROWS, state, K, _default_scene_view(), None, lenient=True, defaults=defaults)
    for i in range(scene["runs"]):
        _read(RUN_ROWS, state, run_key(i, ""), _default_run_view(i, scene), scene, lenient=True, defaults=defaults)
    return defaults


def url_params_signature(state: Mapping[str, Any]) -> tuple:
    """Everything :func:`url_params` reads (every ``pg_`` value, the lesson, the guided lesson, the lesson
    link's tailoring): equal signatures, equal URLs. One walk over the session (about half a millisecond)."""
    values = sorted((k, repr(v)) for k, v in state.items() if isinstance(k, str) and k.startswith(K))
    return (tuple(values), repr(state.get(LESSON)), repr(state.get(GUIDE)), repr(state.get(TAILOR)))


_RUN_PARENTS = ("opt", "sched", "clip", "la", "own")  # a run's widgets whose values decide other defaults


def defaults_inputs(state: Mapping[str, Any]) -> list[str]:
    """The keys every widget default depends on: the scene's own widgets, the surface's parameters and
    each shown run's optimizer, schedule, clipping, Lookahead and own-start switches (a hyperparameter's
    value decides no other default; a run past the run count has no default in :func:`all_defaults`)."""
    keys = list(_SCENE_WIDGET_KEYS)
    info = registry.surfaces().get(state.get(K + "surface"))
    if info is not None:
        keys += [surface_param_key(h.name) for h in info.params]
    try:
        n = int(state.get(K + "nruns"))
    except (TypeError, ValueError, OverflowError):
        n = MAX_RUNS
    for i in range(min(n, MAX_RUNS) if n >= 1 else MAX_RUNS):
        keys += [run_key(i, name) for name in _RUN_PARENTS]
    return keys


def defaults_signature(state: Mapping[str, Any], keys: Sequence[str] | None = None) -> tuple:
    """The values of :func:`defaults_inputs`: equal signatures, equal :func:`all_defaults`; a few dozen
    lookups, not a walk over the whole session."""
    return tuple(repr(state.get(k)) for k in (defaults_inputs(state) if keys is None else keys))


_SCENE_WIDGET_KEYS = tuple(k for r in SCENE_ROWS if isinstance(r, Row) for k in r.keys(K))


def value(key: str, state: Mapping[str, Any]) -> Any:
    """What the scene-level widget ``key`` holds, read as the scene reads it (unreadable: its default)."""
    row = next(r for r in SCENE_ROWS if isinstance(r, Row) and r.keys(K) == (key,))
    return _read(SCENE_ROWS, state, K, _default_scene_view(), None, lenient=True)[row.field]


def hyper_defaults(i: int, state: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``i``'s hyperparameter widgets at their defaults for the optimizer it now has (a new
    optimizer starts from its own defaults: an lr right for SGD is wrong for Adam)."""
    opt = state.get(run_key(i, "opt"))
    if opt not in registry.optimizers():
        return {}
    return {run_key(i, h.name): default(run_key(i, h.name), state) for h in shown_hypers(opt)}


def _start_keys() -> tuple[str, str]:
    return next(r for r in SCENE_ROWS if r.field == "start").keys(K)


def start_state(x: float, y: float) -> dict[str, Any]:
    """The start widgets at (x, y), rounded to two decimals (a click on the map)."""
    return dict(zip(_start_keys(), (round(float(x), 2), round(float(y), 2))))


def suggested_start(state: Mapping[str, Any]) -> dict[str, Any]:
    """The start widgets at the suggested start of the surface the state now has (nothing if it
    cannot be made)."""
    x0, y0 = _start_keys()
    try:
        surface = make_surface(scene_from_state({k: v for k, v in state.items() if k not in (x0, y0)}))
    except (SceneError, ValueError, TypeError):
        return {}
    return dict(zip((x0, y0), default_start(surface)))


# ---------------------------------------------------------------------------------------
# The URL: what a link must hold so that opening it shows the same scene
# ---------------------------------------------------------------------------------------

LESSON = "_pg_preset"  # session key: the gallery lesson shown (None: the user's own race)
LESSON_PARAM = K + "lesson"  # its URL parameter: a link names the lesson it shows
# Session keys of a lesson link's tailoring (app.playground.tailor.Tailoring: the controls shown and
# fixed) and of the guided lesson followed (tailor.Guide, or None). Their URL parameters are
# tailor.PARAMS: they shape what a link opens, so they count as scene keys.
TAILOR = "_pg_tailor"
GUIDE = "_pg_guide"
# The URL parameters that shape the scene (or name its lesson): the table's keys, a surface
# parameter's, a run's. The page's view settings (3D view, inspected step, tab...) do not. A regular
# expression, so that the browser (app/ui/copy_link.py) tells them apart too.
SCENE_KEY_PATTERN = "^(?:{})$".format("|".join(
    [re.escape(LESSON_PARAM)] + [re.escape(k) for k in T.PARAMS] + sorted(re.escape(k) for r in SCENE_ROWS if isinstance(r, Row) for k in r.keys(K))
    + [re.escape(K + _SURFACE_PARAMS.prefix) + r".+", re.escape(K) + r"r\d+_.+"]))
_SCENE_KEY = re.compile(SCENE_KEY_PATTERN)


def is_scene_key(key: str) -> bool:
    """Whether URL parameter ``key`` shapes the scene or names its lesson (:data:`SCENE_KEY_PATTERN`)."""
    return bool(_SCENE_KEY.match(key))


def _number_text(v: Any) -> str:
    """A slider's number as Streamlit writes it into the URL (5.0 → "5", 0.25 → "0.25")."""
    f = float(v)
    return str(int(f)) if f.is_integer() else str(f)


def _float_or_none(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _toggle_text(v: Any) -> str:
    if isinstance(v, str):
        v = v.strip().lower() == "true"
    return "true" if v else "false"


def _in(options: Sequence) -> Callable[[Any], Any]:
    """fit_choice: a stored choice the widget does not offer is dropped (the widget shows its default)."""
    return lambda v: v if v in options else None


def _onto(options: Sequence, log: bool = False) -> Callable[[Any], Any]:
    """fit_stored onto a select slider's options (None: dropped)."""
    return lambda v: v if v in options else snap(v, options, log=log)


def _onto_range(lo: int, hi: int) -> Callable[[Any], Any]:
    """fit_stored onto an int slider's ``range(lo, hi + 1)``."""
    r = range(lo, hi + 1)
    return lambda v: v if type(v) is int and v in r else snap(v, r)


class _Page:
    """Walks the Playground's bound scene widgets as the page draws them, in its order, with the value
    each one shows (a stored value moved onto what the widget offers, else its default) and how
    Streamlit writes that value into the URL (a select slider's label, a toggle's true/false...)."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = state
        self.shown: dict[str, Any] = {}  # the widgets drawn so far, as they show
        self.url: dict[str, str] = {}  # those not at their default, as the URL spells them

    def widget(self, key: str, spell: Callable[[Any], str], fit: Callable[[Any], Any] | None = None,
               drawn: Callable[[Any], Any] = _same) -> Any:
        d = drawn(default(key, self.shown))
        v = self.state.get(key)
        try:
            if v is not None and fit is not None:
                v = fit(v)
            text = None if v is None else spell(v)
        except (TypeError, ValueError):  # a value no widget could hold: it shows its default
            v = text = None
        if v is None:
            v = d
        self.shown[key] = v
        if text is not None and text != spell(d):
            self.url[key] = text
        return v

    def hyper(self, h, key: str) -> Any:
        """:func:`app.ui.widgets.hyper_widget` bound to the URL."""
        if h.kind == "bool":
            return self.widget(key, _toggle_text, drawn=bool)
        if h.kind == "text":
            return self.widget(key, str)
        if h.kind == "choice":
            options = list(h.choices)
            if not options:
                return None
            return self.widget(key, str, _in(options), drawn=lambda d: d if d in options else options[0])
        if h.kind == "int":
            lo = int(h.low) if h.low is not None else 0
            d = default(key, self.shown)
            hi = int(h.high) if h.high is not None else int(max(10, 2 * d))
            return self.widget(key, lambda v: str(int(v)), _onto_range(lo, hi),
                               drawn=lambda d: snap(d, range(lo, hi + 1)))
        options = hyper_options(h)
        return self.widget(key, fmt, _onto(options, h.log), drawn=lambda d: snap(d, options, log=h.log))


def _walk(state: Mapping[str, Any]) -> _Page:
    page = _Page(state)
    w = page.widget
    surfaces = list(registry.surfaces()) + [CUSTOM]
    surface = w(K + "surface", str, _in(surfaces))
    if surface == CUSTOM:
        w(K + "formula", str)
        for k in ("xmin", "xmax", "ymin", "ymax"):
            w(K + k, str, _float_or_none)
    else:
        for h in registry.get_surface(surface).params:
            page.hyper(h, surface_param_key(h.name))
    w(K + "x0", str, _float_or_none)
    w(K + "y0", str, _float_or_none)
    w(K + "steps", str, _onto(STEP_OPTIONS))
    w(K + "noise", fmt, _onto(NOISE_OPTIONS))
    w(K + "batch", lambda b: "full" if b == FULL_BATCH else str(b), _onto(BATCH_OPTIONS))
    w(K + "seed", lambda v: str(int(v)))
    precision = w(K + "prec", str, _in(PRECISIONS))
    runs = _run_count(w(K + "nruns", lambda v: str(int(v))))
    optimizers = list(registry.optimizers())
    schedules = available_schedules()
    schedule_names = schedule_choices(schedules)
    for i in range(runs):
        def key(name: str) -> str:
            return run_key(i, name)

        w(key("color"), str)
        if precision != "float64":
            w(key("rem"), str, _in(tuple(REMEDY_LABELS)))
        opt = w(key("opt"), str, _in(optimizers))
        for h in shown_hypers(opt):
            page.hyper(h, key(h.name))
        sched = w(key("sched"), str, _in(schedule_names))
        if sched in schedules:
            for h in schedules[sched].params:
                page.hyper(h, schedule_key(i, h.name))
        if w(key("clip"), str, _in(CLIP_MODES)) in ("norm", "value"):
            w(key("clipv"), fmt, _onto(CLIP_AT_OPTIONS))
        if _toggle_text(w(key("la"), _toggle_text, drawn=bool)) == "true":
            w(key("lak"), lambda v: str(int(v)))
            w(key("laa"), _number_text)
        w(key("batch"), lambda b: "as above" if b == FULL_BATCH else str(b), _onto(BATCH_OPTIONS))
        if _toggle_text(w(key("own"), _toggle_text, drawn=bool)) == "true":
            w(key("x0"), str, _float_or_none)
            w(key("y0"), str, _float_or_none)
    return page


def lesson_from_url(url: Mapping[str, Any]) -> str:
    """The lesson a link names (``pg_lesson``), else the first lesson's (the default scene's)."""
    key = url.get(LESSON_PARAM)
    if isinstance(key, (list, tuple)):
        key = key[-1] if key else None
    return key if isinstance(key, str) and key in {p.key for p in GALLERY} else GALLERY[0].key


def url_params(state: Mapping[str, Any]) -> dict[str, str]:
    """What the URL must hold for the scene in ``state`` (Playground widget values, and the lesson
    under :data:`LESSON`), spelled as Streamlit spells each widget's value in the URL.

    A widget the page draws for this state is in it when the value it shows differs from the
    default it is drawn with (the default a link without that key opens with), whoever set it: a
    preset, a click, another page. The lesson shown is in it (``pg_lesson``) unless it is the first
    lesson, which a link without it opens with.
    """
    page = _walk(state)
    out = dict(page.url)
    key = state.get(LESSON)
    if key != GALLERY[0].key and isinstance(key, str):
        try:
            shown = lesson(key, scene_from_state(page.shown))
        except (ValueError, TypeError, KeyError):
            shown = None
        if shown is not None:
            out[LESSON_PARAM] = key
    guide = state.get(GUIDE)
    if isinstance(guide, T.Guide):
        out.update(guide.params())
    tailoring = state.get(TAILOR)
    if isinstance(tailoring, T.Tailoring):
        out.update(tailoring.params())
    return out


def _comparable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        v = v[-1] if v else ""
    text = str(v).strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return float(text)
    except ValueError:
        return text


def same_scene_url(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two URLs' query parameters open the same scene: their scene keys hold the same values,
    however spelled ("1" and "1.0", "True" and "true")."""
    ka = {k: _comparable(v) for k, v in a.items() if is_scene_key(k)}
    kb = {k: _comparable(v) for k, v in b.items() if is_scene_key(k)}
    return ka == kb
