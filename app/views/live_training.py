"""Live Training: a tiny MLP trained live, several optimizers racing from the same start.

The page only lays out widgets and pictures; the training lives in :mod:`app.training`
(torch, imported only here and only when this page runs) and the data in
:mod:`app.training.datasets`. Per-user state (the race, running or paused) is in
``st.session_state``; the live part is a fragment that reruns every few tenths of a
second while running and not at all while paused.

Each redraw trains for a bounded time (:func:`train_budget`, checking between chunks whether
Pause was pressed) and sends the browser only what is new (:mod:`app.training.live_view`):
the pictures are drawn there, not re-sent as figures.
"""

from __future__ import annotations

import threading
import time

import streamlit as st

from app import budget
from app.exports import live_figures as LF
from app.schedules.logic import schedule_problem
from app.training import backend as T
from app.training import amp as AMP
from app.training import checkpoint as CK
from app.training import diagnostics, live_view, recipes
from app.training import groups as G
from app.training import net_landscape as NL
from app.training import sharpness as SH
from app.training.datasets import (
    DATASET_LABELS,
    DATASETS,
    DEFAULT_DATASET,
    DEFAULT_POINTS,
    make_dataset,
    train_test_split,
)
from app.training.share import SHARE
from app.ui import presenter, screen
from app.ui.controls import FULL_BATCH, HIDDEN_HYPERS, NO_SCHEDULE, batch_size_of, fmt, schedule_choices
from app.ui.exports import Export, export_menu, still_exports
from app.ui.theme import run_color, swatch
from app.ui.widgets import Remembered, hyper_widget
from optim_core import registry

# The browser draws only what is new, so several redraws a second are cheap; each trains for a
# bounded time (train_budget), so a short interval never queues up work.
REDRAW_OPTIONS = [0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0]
DEFAULT_REDRAW = 0.15
# CPU seconds per redraw for training and pictures together: half the redraw interval, at most
# MAX_REDRAW_S; the pictures (a grid per run) take their share first (train_budget).
MAX_REDRAW_S = budget.REDRAW_TRAIN_S
CLIP_NORMS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
MAX_STEPS = budget.LIVE_MAX_STEPS  # a safety stop for a demo left running
EVAL_EVERY = 5
BATCH_OPTIONS = [FULL_BATCH, 256, 128, 64, 32, 16, 8, 4, 2, 1]
FULL_BATCH_LABEL = "full batch"
# Starting points that train visibly within seconds (the registry's defaults are torch's,
# e.g. SGD's lr=1e-3, which is slow on this problem). Used only if the optimizer exists.
LIVE_DEFAULTS = {
    "SGD": {"lr": 0.1, "momentum": 0.9},
    "Adam": {"lr": 0.01},
    "AdamW": {"lr": 0.01, "weight_decay": 0.1},
    "RMSprop": {"lr": 0.005},
    "Adagrad": {"lr": 0.1},
    "NAdam": {"lr": 0.01},
    "RAdam": {"lr": 0.01},
    "Adamax": {"lr": 0.02},
    "Lion": {"lr": 0.002},
    "LAMB": {"lr": 0.01},
    "LARS": {"lr": 0.5},
    "Sophia": {"lr": 0.005},
    "Adam8bit": {"lr": 0.01},
}
# The optimizers of runs 1, 2, ... when first drawn: one per run the page offers.
DEFAULT_RUNS = ("Adam", "SGD", "AdamW", "RMSprop")
MAX_RUNS = len(DEFAULT_RUNS)
DEFAULT_MODEL = T.ModelSpec()


def train_budget(redraw_s: float, draw_s: float = 0.0) -> float:
    """CPU seconds of training per redraw: half the interval (at most MAX_REDRAW_S), less what drawing took
    last time (``draw_s``: more with more runs and larger networks), but never under a quarter of it."""
    redraw_budget = min(MAX_REDRAW_S, 0.5 * redraw_s)
    return max(0.25 * redraw_budget, redraw_budget - draw_s)


# The value widgets drawn in this script run, not bound to the URL: kept while another page runs.
KEPT = Remembered("_lt_saved")
# How this page draws a registry hyperparameter (app.ui.widgets.hyper_widget): unbound, and a float
# whose default is None (Adafactor's lr, β₁) gets a "set β₁" toggle; off means None.
CONTROLS = dict(remember=KEPT, set_toggle=True)


def run_controls(i: int, names: list[str]) -> T.TrainingRunConfig:
    """The controls of run ``i`` → a TrainingRunConfig: optimizer, backend and hyperparameters (from the
    registry entry), then its training tricks (schedule, clipping, accumulation)."""
    default_opt = DEFAULT_RUNS[i] if DEFAULT_RUNS[i] in names else names[i % len(names)]
    st.markdown(f"{swatch(run_color(i), '1.6em')} **Run {i + 1}**", unsafe_allow_html=True)
    recipes.picker(i, lambda name: {**registry.get_optimizer(name).defaults(), **LIVE_DEFAULTS.get(name, {})})
    opt = st.selectbox("Optimizer", names, key=KEPT.seed(f"lt_run{i}_opt", default_opt), label_visibility="collapsed")
    info = registry.get_optimizer(opt)
    if T.torch_backend_available(opt):
        backend = st.radio("Stepped by", list(T.BACKENDS), key=KEPT.seed(f"lt_run{i}_backend", T.DEFAULT_BACKEND),
                           format_func=T.BACKENDS.get, horizontal=True)
    else:
        backend = T.DEFAULT_BACKEND
        st.caption(f"Stepped by optim_core (torch.optim has no {opt} with these hyperparameters).")
    starts = {**info.defaults(), **LIVE_DEFAULTS.get(opt, {})}
    shown = [h for h in info.hypers if h.name not in HIDDEN_HYPERS]
    hypers = {}
    for h in shown:
        if h.name == "lr":
            hypers[h.name] = hyper_widget(h, f"lt_run{i}_{opt}_{h.name}", starts[h.name], **CONTROLS)
    rest = [h for h in shown if h.name != "lr"]
    if rest:
        with st.expander("Hyperparameters"):
            for h in rest:
                hypers[h.name] = hyper_widget(h, f"lt_run{i}_{opt}_{h.name}", starts[h.name], **CONTROLS)
    cfg = T.TrainingRunConfig(opt, hypers, backend=backend)
    with st.expander("Schedule, clipping, accumulation"):
        sched = st.selectbox("LR schedule", schedule_choices(), key=KEPT.seed(f"lt_run{i}_sched", NO_SCHEDULE),
                             help="Sets the lr before each step from the schedule's curve, starting at the lr above.")
        if sched != NO_SCHEDULE:
            sinfo = registry.get_schedule(sched)
            cfg.schedule = sched
            cfg.schedule_steps = int(st.number_input(
                "Schedule length (steps)", *SCHEDULE_STEPS_RANGE, step=100,
                key=KEPT.seed(f"lt_run{i}_sched_steps", T.SCHEDULE_STEPS),
                help="The curve is computed for this many steps; after them the last lr is kept."))
            cfg.schedule_params = {h.name: hyper_widget(h, f"lt_run{i}_sched_{sched}_{h.name}", h.default, **CONTROLS)
                                   for h in sinfo.params}
            problem = schedule_problem(sched, cfg.schedule_params, cfg.schedule_steps)
            if problem:  # beside the controls (a typed formula's mistake)
                st.error(problem)
        if st.toggle("Clip the gradient norm", key=KEPT.seed(f"lt_run{i}_clip_on", False)):
            cfg.clip_norm = float(st.select_slider("max norm", CLIP_NORMS, format_func=fmt,
                                                   key=KEPT.seed(f"lt_run{i}_clip", 1.0)))
        cfg.accumulate = int(st.slider(
            "Accumulate micro-batches", *ACCUMULATE_RANGE, key=KEPT.seed(f"lt_run{i}_accum", 1),
            help="Sum the gradients of k mini-batches (each loss divided by k) before one step: the step of a "
                 "k× larger batch, with the memory of one."))
    with st.expander("Parameter groups"):
        cfg.groups = G.controls(i, hypers, layers + 1, KEPT.seed)
    return cfg


# -- state -------------------------------------------------------------------------------------------
@st.cache_data(max_entries=32, show_spinner=False)
def _data(name: str, n: int, noise: float, seed: int):
    X, y = make_dataset(name, n=n, noise=noise, seed=seed)
    return train_test_split(X, y, test_fraction=0.2, seed=seed)


def _on_start():
    st.session_state["_lt_running"] = True
    st.session_state.pop("_lt_pending", None)


def _on_pause():
    st.session_state["_lt_running"] = False
    st.session_state.pop("_lt_pending", None)


def _on_step():
    st.session_state["_lt_running"] = False
    st.session_state["_lt_pending"] = int(st.session_state.get("lt_spr", 1))


def _on_reset():
    st.session_state["_lt_running"] = False
    st.session_state.pop("_lt_pending", None)
    st.session_state.pop("_lt_race", None)
    st.session_state.pop("_lt_sig", None)


def _on_eos_preset():
    """The Sharpness panel's lesson (app.training.sharpness.EOS_PRESET) put on the controls (its button then reruns
    the whole page: a new race, paused)."""
    ss, p = st.session_state, SH.EOS_PRESET
    ss.update(lt_dataset=p["dataset"], lt_noise=p["noise"], lt_n=p["points"], lt_seed=p["seed"],
              lt_layers=p["hidden_layers"], lt_width=p["width"], lt_act=p["activation"],
              lt_batch=FULL_BATCH if p["batch"] is None else p["batch"], lt_precision=AMP.DEFAULT_PRECISION,
              lt_stop_epochs=p["steps"], lt_n_runs=len(p["runs"]), lt_sharp_every=p["every"])
    for i, (opt, hypers) in enumerate(p["runs"]):
        info = registry.get_optimizer(opt)
        ss.update({f"lt_run{i}_opt": opt, f"lt_run{i}_backend": T.DEFAULT_BACKEND, f"lt_run{i}_sched": NO_SCHEDULE,
                   f"lt_run{i}_clip_on": False, f"lt_run{i}_accum": 1, **G.one_group_values(i)})
        ss.update({f"lt_run{i}_{opt}_{h.name}": hypers.get(h.name, h.default) for h in info.hypers
                   if h.name not in HIDDEN_HYPERS})
    _on_pause()  # the page's next run makes the new race (its settings changed)


# -- checkpoints (app/training/checkpoint.py) --------------------------------------------------------
# The option lists and ranges the widgets are drawn with; checkpoint_controls() reads the same ones.
N_POINTS = [64, 128, 256, 512, 1024, 2048]
STEPS_PER_REDRAW = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
NOISE_RANGE = (0.0, 0.5)
SEED_RANGE = (0, 10_000)
STOP_EPOCHS_RANGE = (0, 100_000)
SCHEDULE_STEPS_RANGE = (10, 100_000)
ACCUMULATE_RANGE = (1, 8)
RUN_COUNTS = list(range(1, MAX_RUNS + 1))


def checkpoint_controls() -> dict:
    """Every control a checkpoint file may set → what its widget can show (CK.page_values): the sidebar's, and
    each run's up to MAX_RUNS with every control a choice brings up (each optimizer's and each schedule's
    hyperparameters, the clip, the parameter groups). Buttons, the uploader and menus are not among them."""
    S = CK.Span
    known = {"lt_dataset": list(DATASETS), "lt_noise": S(*NOISE_RANGE), "lt_n": N_POINTS, "lt_seed": S(*SEED_RANGE),
             "lt_layers": S(0, T.MAX_HIDDEN_LAYERS), "lt_width": S(*T.WIDTH_RANGE), "lt_act": list(T.ACTIVATIONS),
             "lt_batch": BATCH_OPTIONS, "lt_precision": list(AMP.PRECISIONS), "lt_spr": STEPS_PER_REDRAW,
             "lt_redraw": REDRAW_OPTIONS, "lt_stop_epochs": S(*STOP_EPOCHS_RANGE),
             "lt_n_runs": [*RUN_COUNTS, None], "lt_debug": bool}  # (a segmented control can be left empty)
    for i in range(MAX_RUNS):
        p = f"lt_run{i}"
        known.update({f"{p}_opt": list(registry.optimizers()), f"{p}_backend": list(T.BACKENDS),
                      f"{p}_sched": schedule_choices(), f"{p}_sched_steps": S(*SCHEDULE_STEPS_RANGE),
                      f"{p}_clip_on": bool, f"{p}_clip": CLIP_NORMS, f"{p}_accum": S(*ACCUMULATE_RANGE), **G.offers(i)})
        for opt, info in registry.optimizers().items():
            known.update(CK.hyper_controls(f"{p}_{opt}", [h for h in info.hypers if h.name not in HIDDEN_HYPERS],
                                           {**info.defaults(), **LIVE_DEFAULTS.get(opt, {})}))
        for sched in schedule_choices()[1:]:
            known.update(CK.hyper_controls(f"{p}_sched_{sched}", registry.get_schedule(sched).params, {}))
    return known

def _on_upload():
    """A checkpoint chosen in the uploader: checked, restored into a race, its settings put on the controls;
    the race becomes the page's once the controls show exactly its settings (adopt_loaded)."""
    ss = st.session_state
    f = ss.get("lt_ckpt_file")
    if f is None:
        return
    try:
        ck = CK.read(f.getvalue())
        values = CK.page_values(ck, checkpoint_controls())
        missing = [k for k in ("lt_dataset", "lt_noise", "lt_n", "lt_seed", "lt_batch", "lt_precision")
                   if k not in values]
        if missing:
            raise CK.CheckpointError(f"the file does not say which data it trained on ({', '.join(missing)})")
        race = CK.restore(ck, *_data(values["lt_dataset"], values["lt_n"], values["lt_noise"], values["lt_seed"]))
    except (ValueError, TypeError, KeyError) as exc:  # CheckpointError is a ValueError
        ss["_lt_ckpt_msg"] = ("error", f"Not loaded: {exc}", None)
        return
    for key, value in values.items():
        try:
            ss[key] = value
        except Exception:  # a control that takes no value (Streamlit's own exception): the file is not ours
            ss["_lt_ckpt_msg"] = ("error", f"Not loaded: the file sets {key}, which is not a setting.", None)
            return
    ss["_lt_running"] = False
    ss.pop("_lt_pending", None)
    expected = race_signature(values["lt_dataset"], values["lt_noise"], values["lt_n"], values["lt_seed"], ck.spec,
                              batch_size_of(values["lt_batch"]), ck.precision, ck.configs)
    ss["_lt_loaded"] = (race, expected, f.name)


def adopt_loaded(signature: str) -> None:
    """The race an upload restored becomes the page's race, if the controls now show its settings."""
    ss = st.session_state
    loaded = ss.pop("_lt_loaded", None)
    if loaded is None:
        return
    race, expected, name = loaded
    if expected == signature:
        ss["_lt_race"], ss["_lt_sig"] = race, signature
        ss.pop("_lt_error", None)
        ss["_lt_ckpt_msg"] = ("ok", f"Loaded {name}: {len(race.runs)} run{'s' if len(race.runs) > 1 else ''} at "
                                    f"step {race.step:,}. Press Start to continue.", race.uid)
    else:
        ss["_lt_ckpt_msg"] = ("error", f"Not loaded: {name}'s settings cannot all be shown by this page's controls "
                                       "(a value they do not offer), so its race would not match them.", None)


# -- the page ------------------------------------------------------------------------------------------
TITLE = "Live training"
INTRO = ("A small neural network learns to separate two classes of points. Every run starts from the same "
         "initial weights and sees the same mini-batches in the same order, so the only difference is the optimizer.")
# Presenter mode (?presenter=1): the live view and, beside it, the title, the buttons and the settings, on one
# 1280x720 screen (the sidebar starts closed); the runs' controls and the explanations follow.
PRESENTER = presenter.on()
# At step 0 the accuracy is the untrained network's guess, which can be anything (even well under 50%).
UNTRAINED = " (untrained: its starting guess)"
# The widgets that shape the live view (the data and the number of runs), with their first values: presenter
# mode sizes the view from them before they are drawn.
FIRST = {"lt_dataset": DEFAULT_DATASET, "lt_noise": 0.15, "lt_n": DEFAULT_POINTS, "lt_seed": 0, "lt_n_runs": 2}


def settings() -> dict:
    """The problem and the training loop, shared by every run (the sidebar, or presenter mode's menu)."""
    st.header("Data")
    dataset = st.selectbox("Dataset", list(DATASETS), format_func=DATASET_LABELS.get,
                           key=KEPT.seed("lt_dataset", FIRST["lt_dataset"]))
    noise = st.slider("Noise", *NOISE_RANGE, step=0.01, key=KEPT.seed("lt_noise", FIRST["lt_noise"]))
    n_points = st.select_slider("Points (80% train, 20% test)", N_POINTS,
                                key=KEPT.seed("lt_n", FIRST["lt_n"]))
    seed = int(st.number_input("Seed (data, initial weights, batch order)", *SEED_RANGE, step=1,
                               key=KEPT.seed("lt_seed", FIRST["lt_seed"])))
    st.header("Model")
    layers = st.slider("Hidden layers", 0, T.MAX_HIDDEN_LAYERS,
                       key=KEPT.seed("lt_layers", DEFAULT_MODEL.hidden_layers))
    width = st.slider("Width", T.WIDTH_RANGE[0], T.WIDTH_RANGE[1], key=KEPT.seed("lt_width", DEFAULT_MODEL.width),
                      disabled=layers == 0)
    activation = st.selectbox("Activation", list(T.ACTIVATIONS), format_func=T.ACTIVATIONS.get,
                              key=KEPT.seed("lt_act", DEFAULT_MODEL.activation), disabled=layers == 0)
    st.header("Training")
    batch = st.select_slider("Batch size", BATCH_OPTIONS, key=KEPT.seed("lt_batch", FULL_BATCH),
                             format_func=lambda b: FULL_BATCH_LABEL if b == FULL_BATCH else str(b))
    precision = st.selectbox("Precision", list(AMP.PRECISIONS), format_func=lambda p: AMP.PRECISIONS[p].label,
                             key=KEPT.seed("lt_precision", AMP.DEFAULT_PRECISION),
                             help="Every run's forward pass in float32, or autocast to bfloat16 or float16 (with or "
                                  "without loss scaling); the weights and the optimizer stay float32. See *Mixed "
                                  "precision* under the view.")
    st.header("Live")
    spr = int(st.select_slider("Steps per redraw, at most (and per Step)",
                               STEPS_PER_REDRAW, key=KEPT.seed("lt_spr", 100)))
    redraw = float(st.select_slider(
        "Redraw every (seconds)", REDRAW_OPTIONS, key=KEPT.seed("lt_redraw", DEFAULT_REDRAW),
        help="Each redraw computes for at most about half of this time (training, then the pictures) and sends "
             "the browser only what is new: fewer steps than asked are taken if the computer is slower."))
    stop_epochs = float(st.number_input("Pause after (epochs, 0 = never)", *STOP_EPOCHS_RANGE, step=10,
                                        key=KEPT.seed("lt_stop_epochs", 0)))
    return dict(dataset=dataset, noise=noise, n_points=n_points, seed=seed, layers=layers, width=width,
                activation=activation, batch=batch, spr=spr, redraw=redraw, stop_epochs=stop_epochs,
                precision=precision)


def presenter_view_width() -> float:
    """Presenter mode: the widest live view whose maps and curves fit the first screen, for the data and the
    number of runs this script run will have (their widgets' values, read before the widgets are drawn)."""
    ss = st.session_state
    now = {k: ss.get(k, v) for k, v in FIRST.items()}
    try:
        X_train, _, X_test, _ = _data(now["lt_dataset"], int(now["lt_n"]), float(now["lt_noise"]),
                                      int(now["lt_seed"]))
        aspect = screen.extent_aspect(X_train, X_test)
    except (ValueError, TypeError, KeyError):  # settings that cannot train: the page says so below
        aspect = 1.0
    shift = screen.THEME_SWITCH if ss.get(presenter.THEME) else 0  # a chosen theme's switch, above the page
    return screen.live_view_width(int(now["lt_n_runs"] or 1), aspect, screen.room(screen.LIVE_TOP, shift))


if not T.torch_available():
    st.title(TITLE)
    st.warning(T.INSTALL_HINT)
    st.caption("Every other page of Optimizer Explorer works without PyTorch.")
    st.stop()

KEPT.restore()
st.session_state.setdefault("_lt_running", False)
# A click while the fragment trains starts a new script run before the old one reaches its next
# st.* call, so two threads of this session can hold the race at once: one trains or draws at a time.
st.session_state.setdefault("_lt_lock", threading.Lock())
# Counts this session's whole-page runs: a fragment run that sees it change was overtaken by a click and
# stops training at its next chunk, so the click's run gets the lock within a chunk.
st.session_state["_lt_gen"] = st.session_state.get("_lt_gen", 0) + 1

if PRESENTER:
    # The view on the left, as wide as fits the screen's height; the title, the buttons and the settings
    # (the sidebar's, in a menu) on the right.
    live_area, side = st.columns(screen.split(presenter_view_width()), gap="medium")
    side.title(TITLE, anchor=False)  # (an anchor's link icon would wrap onto a line of its own)
    row1, row2 = side.columns(2), side.columns(2)
    buttons = [row1[0], row1[1], row2[0], row2[1]]
    status = side.container()
    menus = side.columns(2)
    with menus[0].popover("Settings", width="stretch", help="Data, model, training and redraw settings."):
        cfg = settings()
    export_box = menus[1]
    runs_box = side.container()
    st.caption(INTRO)
else:
    st.title(TITLE)
    st.caption(INTRO)
    # Sidebar: the problem and the training loop, shared by every run.
    with st.sidebar:
        cfg = settings()
    # The live view comes first so the boundaries are on screen when a class watches; the run
    # settings it depends on are declared below it and drawn under it.
    live_area = st.container()
    *buttons, status, export_box = live_area.columns([1, 1, 1, 1, 3, 1])
    runs_box = st.container()
dataset, noise, n_points, seed = cfg["dataset"], cfg["noise"], cfg["n_points"], cfg["seed"]
layers, width, activation, batch = cfg["layers"], cfg["width"], cfg["activation"], cfg["batch"]
spr, redraw, stop_epochs = cfg["spr"], cfg["redraw"], cfg["stop_epochs"]
precision = cfg["precision"]

names = list(registry.optimizers())
n_runs = int(runs_box.segmented_control("Runs", RUN_COUNTS,
                                        key=KEPT.seed("lt_n_runs", FIRST["lt_n_runs"]),
                                        help="How many optimizers race (each run's controls are under the view).")
             or 1)
configs = []
for i, col in enumerate(st.columns(n_runs)):
    with col, st.container(border=True):
        configs.append(run_controls(i, names))

buttons[0].button("▶ Start", key="lt_start", on_click=_on_start, type="primary", width="stretch")
buttons[1].button("❚❚ Pause", key="lt_pause", on_click=_on_pause, width="stretch")
buttons[2].button("Step", key="lt_step", on_click=_on_step, width="stretch")
buttons[3].button("Reset", key="lt_reset", on_click=_on_reset, width="stretch")

KEPT.save()

spec = T.ModelSpec(layers, width if layers else T.WIDTH_RANGE[0], activation)
batch_size = batch_size_of(batch)


def race_signature(dataset, noise, n_points, seed, spec, batch_size, precision, configs) -> str:
    """What a race is made of: a change of it starts a new race."""
    return repr((dataset, noise, n_points, seed, spec, batch_size, precision,
                 [(c.optimizer, c.backend, sorted(c.hypers.items()), c.accumulate, c.clip_norm, c.schedule,
                   sorted(c.schedule_params.items()), c.schedule_steps, c.groups) for c in configs]))


signature = race_signature(dataset, noise, n_points, seed, spec, batch_size, precision, configs)
adopt_loaded(signature)
if st.session_state.get("_lt_sig") != signature:
    had_race = st.session_state.pop("_lt_race", None) is not None
    st.session_state["_lt_sig"] = signature
    try:
        race = T.Race(*_data(dataset, n_points, noise, seed), configs, model=spec, batch_size=batch_size,
                      seed=seed, eval_every=EVAL_EVERY, precision=precision)
    except (ValueError, TypeError, KeyError) as exc:
        st.session_state["_lt_running"] = False
        st.session_state["_lt_error"] = str(exc).strip("'\"")
    else:
        st.session_state["_lt_race"] = race
        NL.trail(race)  # every run's weights from step 0, for the Landscape panel's paths
        st.session_state.pop("_lt_error", None)
        if had_race:
            st.toast("Settings changed: every run restarted from step 0.")

if "_lt_error" in st.session_state:
    live_area.error(f"These settings cannot train: {st.session_state['_lt_error']}")
    st.stop()

status.markdown(
    f"**{spec.describe()}** · {FULL_BATCH_LABEL if batch_size is None else f'batches of {batch_size}'}"
    + (" · running" if st.session_state["_lt_running"] else " · paused")
)


def _held(make):
    """``make`` run under the page's lock (a download runs on another thread): no step lands while it reads."""
    lock = st.session_state["_lt_lock"]

    def held():
        got = lock.acquire(timeout=30)
        try:
            return make()
        finally:
            if got:
                lock.release()

    return held


def live_exports(race: T.Race) -> list[Export]:
    """Stills of the boundaries, the curves and the diagnostics, the curves as CSV (and a script, if offered)."""
    out = (still_exports(_held(lambda: LF.boundary_figure(race)), "decision-boundaries", what="Decision boundaries")
           + still_exports(_held(lambda: LF.curves_figure(race)), "loss-and-accuracy", what="Loss and accuracy")
           + still_exports(_held(lambda: LF.diagnostics_figure(race)), "gradient-lr-weight-norm", what="Diagnostics")
           + [Export("Curves: CSV", "live-training-curves.csv", "text/csv", _held(lambda: LF.curves_csv(race)),
                     help="Every run's records, one row per step: batch loss, lr, gradient norms, weight norm, "
                          "and at each evaluation the training and test loss and accuracy.")])
    return out + _script_exports(race)


def _script_exports(race: T.Race) -> list[Export]:
    """A runnable PyTorch script of the race (app.exports.live_script), or why it cannot be made; none when
    that module is not there (the page works without it)."""
    try:
        from app.exports.live_script import live_script
    except ImportError:
        return []
    ss = st.session_state
    checked = ss.get("_lt_script_check")
    if checked is None or checked[0] != race.uid:  # what it refuses depends on the runs only: ask once per race
        try:
            live_script(race, steps=0)
            why = None
        except ValueError as exc:  # what it cannot reproduce exactly, named by run
            why = f"not for this race: {exc}"
        except Exception as exc:  # the page goes on without it
            why = f"could not be prepared: {exc}"
        ss["_lt_script_check"] = checked = (race.uid, why)
    return [Export("PyTorch script", "live_training.py", "text/x-python",
                   _held(lambda: live_script(race).encode("utf-8")), unavailable=checked[1],
                   help="A standalone script (NumPy and torch) that trains the same network on the same data, from "
                        "the same initial weights on the same batches, with each run's optimizer, up to this step. "
                        "`python live_training.py --checkpoint-at N` also saves each run at step N with "
                        "torch.save, resumes it from the file and checks the numbers equal never stopping.")]


if "_lt_race" in st.session_state:  # outside the live fragment: drawn by whole-page runs only
    with export_box:
        export_menu("lt_export", live_exports(st.session_state["_lt_race"]))


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return getattr(ctx, "session_id", "") or "local"


def live_panel() -> None:
    race: T.Race = st.session_state.get("_lt_race")
    if race is None:
        return
    with st.session_state["_lt_lock"]:
        _train_and_draw(race)


def _train_and_draw(race: T.Race) -> None:
    ss = st.session_state
    stop_at = race.stop_step(stop_epochs, MAX_STEPS)
    running = bool(ss.get("_lt_running"))
    pending = int(ss.get("_lt_pending", 0))
    todo = max(0, min(spr if running else pending, stop_at - race.step))
    budget = train_budget(redraw, ss.get("_lt_draw_s", 0.0))
    if todo:  # the server's training share, split between the sessions training now (app/training/share.py)
        budget = SHARE.budget(_session_id(), budget, redraw)
    else:
        SHARE.leave(_session_id())
    gen = ss.get("_lt_gen")

    def keep_going() -> bool:  # a click (Pause, Reset, any widget) since this run began stops it
        return ss.get("_lt_gen") == gen and bool(ss.get("_lt_running")) == running

    done = race.train_within(todo, budget, keep_going) if todo else 0
    if not keep_going():
        return  # overtaken by a click: its own run draws (this one stops at its next st.* call anyway)
    if not running:  # a Step's steps left (none once the race cannot go on)
        ss["_lt_pending"] = pending = max(0, pending - done) if race.active and race.step < stop_at else 0
    # A full rerun re-declares the fragment with or without its timer.
    if running and (race.step >= stop_at or not race.active):
        ss["_lt_running"] = False
        st.rerun(scope="app")  # the race is over: stop the timer
    if not running and ss.get("_lt_ticking") != bool(pending):
        ss["_lt_step_slow"] = bool(pending)
        st.rerun(scope="app")  # a Step's steps are done (stop the timer) or need more redraws (start it)

    # Each run's numbers above the view; in presenter mode under it (each map's title shows its run's step
    # and test accuracy, and the first screen is kept for the maps and the curves).
    view = st.container()
    numbers = st.container()
    if not PRESENTER:
        view, numbers = numbers, view
    cols = numbers.columns(len(race.runs))
    for i, (col, run) in enumerate(zip(cols, race.runs)):
        col.markdown(
            f"{swatch(run_color(i))} step **{run.step:,}** · epoch "
            f"{run.step * run.accumulate / race.batches_per_epoch:,.1f} · test accuracy "
            f"**{run.last('test_acc'):.0%}**{UNTRAINED if run.step == 0 else ''} · "
            f"test loss {run.last('test_loss'):.3g}",
            unsafe_allow_html=True,
        )
        if run.diverged:
            col.warning(f"{run.config.title()} {run.diverged}")
    if race.step >= stop_at:
        where = "settings" if PRESENTER else "sidebar"
        numbers.info(f"Paused at step {race.step:,} (the limit set in the {where}). Reset to start again.")
    draw0 = time.thread_time()
    with view:
        live_view.show(race)
    ss["_lt_draw_s"] = time.thread_time() - draw0  # the pictures' share of the next redraw's budget


def _ticking() -> bool:
    """Whether the fragment reruns by itself: while running, and while a Step's steps are left that do
    not fit in one redraw's training time (estimated from the race's step time, else learned by trying)."""
    ss = st.session_state
    if ss["_lt_running"]:
        return True
    pending = ss.get("_lt_pending", 0)
    if not pending:
        ss.pop("_lt_step_slow", None)
        return False
    race = ss.get("_lt_race")
    budget = train_budget(redraw, ss.get("_lt_draw_s", 0.0))
    fits = race is not None and pending * race.step_seconds <= 0.8 * budget
    return bool(ss.get("_lt_step_slow") or not fits)


st.session_state["_lt_ticking"] = _ticking()

with live_area:
    st.fragment(run_every=redraw if st.session_state["_lt_ticking"] else None)(live_panel)()


def sharpness_panel() -> None:
    if "_lt_race" in st.session_state:
        SH.panel(st.session_state["_lt_race"], st.session_state["_lt_lock"], on_preset=_on_eos_preset)


# app/training/sharpness.py and net_landscape.py: each computes only while its expander is open; the sharpness
# chart is a fragment of its own, redrawn at most every SHARPNESS_PANEL_REDRAW_S while training.
sharp_box = st.expander("Sharpness: training at the edge of stability", key="lt_sharp_box", on_change="rerun")
SH.switch(st.session_state.get("_lt_race"), bool(sharp_box.open))
if sharp_box.open:
    with sharp_box:
        st.fragment(run_every=budget.SHARPNESS_PANEL_REDRAW_S if st.session_state["_lt_ticking"] else None)(
            sharpness_panel)()
land_box = st.expander("Landscape: the network's own loss surface, with every run's path", key="lt_land_box",
                       on_change="rerun")
if land_box.open and "_lt_race" in st.session_state:
    with land_box:
        NL.panel(st.session_state["_lt_race"], st.session_state["_lt_lock"])

if "_lt_race" in st.session_state:  # app/training/checkpoint.py and amp.py draw these, only while open (as above)
    ckpt_box = st.expander("Checkpoint: save, resume, and what the optimizer state holds", key="lt_ckpt_box",
                           on_change="rerun")
    if ckpt_box.open:
        with ckpt_box:
            CK.panel(st.session_state["_lt_race"], held=_held, page=dict(st.session_state.get(KEPT.store, {})),
                     on_upload=_on_upload)
    amp_box = st.expander(f"Mixed precision: {AMP.PRECISIONS[precision].label}", key="lt_amp_box",
                          on_change="rerun")
    if amp_box.open:
        with amp_box:
            AMP.panel(st.session_state["_lt_race"], held=_held)


def debug_panel() -> None:
    if "_lt_race" in st.session_state:
        diagnostics.panel(st.session_state["_lt_race"], st.session_state["_lt_lock"])


# Its own fragment, redrawn about once a second while training (app.budget), not at the live view's rate.
if st.toggle("Debugging panel", key=KEPT.seed("lt_debug", False),
             help="Per-layer gradient norms and update sizes, dead units, where a NaN began, and what the "
                  "course's debugging checklist says about them."):
    st.fragment(run_every=budget.DEBUG_PANEL_REDRAW_S if st.session_state["_lt_ticking"] else None)(debug_panel)()
KEPT.save()

with st.expander("What to look for"):
    st.markdown(
        "- **Same start, same batches.** Runs differ only by their optimizer, so their curves can be compared "
        "step by step.\n"
        "- **optim_core = torch.optim.** Choose the same optimizer twice, one per backend: the curves lie on "
        "top of each other (here in float32 to about 10⁻⁵; the tests check 10⁻⁹ in float64).\n"
        "- **Adam + weight decay vs AdamW.** Adam adds λθ to the gradient, which its denominator then rescales; "
        "AdamW shrinks θ directly. Watch the weight norm.\n"
        "- **Clipping** (under a run's *Schedule, clipping, accumulation*) caps the dotted gradient norm at "
        "the max norm; the solid line is the norm before.\n"
        "- **Accumulation** of k mini-batches takes the step of one k× larger batch: with a small batch size, "
        "give one run k = 4 and watch its loss curve calm down (each of its steps reads 4 batches)."
    )
