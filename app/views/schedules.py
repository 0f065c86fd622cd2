"""Schedules: learning-rate schedules side by side, composed, driving a run, and the LR range test.

The page lays out widgets and calls :mod:`app.schedules.logic` (parameters, compositions,
torch code, runs, range tests) and :mod:`app.schedules.figures` / :mod:`app.playground.figures`
(pure figure builders). Every value widget has an ``sc_`` key bound to the URL; buttons
and charts set other widgets only through ``st.session_state`` before they are drawn.
"""

from __future__ import annotations

from typing import NamedTuple

import streamlit as st

from app.playground import figures as F
from app.playground import handoff
from app.playground import race_component as RC
from app.playground.theory import display_latex
from app.schedules import figures as SF
from app.schedules import logic as L
from app.ui import presenter, screen
from app.ui.controls import STEP_OPTIONS, fmt, snap
from app.ui.copy_link import keep_history
from app.ui.theme import RUN_COLORS, run_color
from app.ui.exports import export_menu, slug, still_exports
from app.ui.widgets import Q, adopt_legacy, adopt_url, fit_choice, fit_stored, hyper_widget
from optim_core import registry

ss = st.session_state
# How this page draws a registry parameter (app.ui.widgets.hyper_widget): choices as their labels
# ("300, 600"), long int ranges as number inputs, a float's default exactly (ConstantLR's 1/3), so
# that the default curves are the registry's.
CONTROLS = dict(labels=True, number_above=500, exact_default=True)
PENDING = "_sc_pending"  # widget values to apply at the top of the next run (buttons)
NOTICE = "_sc_notice"  # a message to show once after a button did something
PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
DEFAULT_PICK = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR", "WarmupCosine"]
DEFAULT_SURFACE, DEFAULT_OPTIMIZER = "Himmelblau", "RMSprop"
RT_START = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
RT_END = (0.01, 0.1, 1.0, 10.0, 100.0)
TABS = ["Compare", "Warm-up + decay", "Apply to a run", "LR range test"]
# The tabs were labelled with colour emoji (drawn as empty boxes without an emoji font): a link
# shared then still opens its tab. Written as escapes: no emoji is in the source
# (tests/test_offline_text.py).
LEGACY_TABS = {f"{icon}{vs} {name}": name
               for icon, name in zip(("\U0001f4c8", "\U0001f9e9", "\U0001f3c3", "\U0001f50e"), TABS)
               for vs in ("\ufe0f", "")}
# Presenter mode (?presenter=1): each tab's picture with its controls and numbers beside it on one
# 1280x720 screen, the settings in a menu by the title (the sidebar starts closed).
PRESENTER = presenter.on()
# A chosen projector theme mounts its switch above the page, moving the page down a little.
SHIFT = screen.THEME_SWITCH if st.session_state.get(presenter.THEME) else 0
SETTINGS_WHERE = "settings (beside the title)" if PRESENTER else "sidebar"


# ---------------------------------------------------------------------------------------
# Cached work (pure functions of hashable arguments; nothing per-user is shared)
# ---------------------------------------------------------------------------------------


@st.cache_data(max_entries=32, show_spinner="Running the optimizer…")
def _run(surface: str, optimizer: str, lr: float, name: str, params: tuple, steps: int, const: bool) -> L.RunResult:
    return L.run_schedule(surface, optimizer, lr, name, dict(params), steps, compare_constant=const)


@st.cache_data(max_entries=32, show_spinner=False)
def _landscape(surface: str) -> F.Landscape:
    return F.landscape(registry.get_surface(surface).make())


@st.cache_data(max_entries=32, show_spinner="Running the LR range test…")
def _surface_test(surface: str, optimizer: str, lo: float, hi: float, n: int):
    return L.surface_range_test(surface, optimizer, lo, hi, n)


@st.cache_data(max_entries=16, show_spinner="Running the LR range test on the MLP…")
def _mlp_test(optimizer: str, dataset: str, lo: float, hi: float, n: int):
    return L.mlp_range_test(optimizer, dataset, lo, hi, n)


# ---------------------------------------------------------------------------------------
# State plumbing and widgets built from the registry
# ---------------------------------------------------------------------------------------


def _apply_pending() -> None:
    pending = ss.pop(PENDING, None)
    if pending:
        ss.update(pending)


def stage():
    """Where a tab draws its picture, the picture's controls and numbers, and the rest: in presenter mode
    the picture and a narrow column beside it (one 1280x720 screen), else the controls above the picture;
    the rest (parameters, formulas, code) after both."""
    if PRESENTER:
        pic, side = st.columns(screen.split(screen.CHART_WIDTH), gap="medium")
    else:
        side, pic = st.container(), st.container()
    return pic, side, st.container()


def grid(box):
    """Containers in ``box`` for a list of parameters, one after another: in presenter mode two a row (the
    narrow column beside the chart keeps them on the first screen), else one under the other."""
    while True:
        if PRESENTER:
            yield from box.columns(2)
        else:
            yield box


def chart_height(default: int | None = None) -> int | None:
    """A tab's chart height: in presenter mode what fits the first screen beside its controls."""
    return screen.room(screen.TOP, SHIFT) if PRESENTER else default


def pkey(name: str, param: str) -> str:
    return f"sc_p_{name}_{param}"


def schedule_controls(name: str, n_steps: int, columns: int = 3) -> dict:
    """Draw ``name``'s parameters in a grid of columns, but its typed ones (:func:`typed_controls`);
    return their values (choices as labels)."""
    info = registry.get_schedule(name)
    cols = st.columns(columns)
    values = {}
    for i, h in enumerate(h for h in info.params if h.kind != "text"):
        key = pkey(name, h.name)
        with cols[i % columns]:
            hyper_widget(h, key, L.param_default(name, h, n_steps), **CONTROLS)
        values[h.name] = ss.get(key)
    return values


def typed_controls(name: str, n_steps: int) -> bool:
    """Draw ``name``'s typed parameters (FormulaLR's formula) full width, and under them what is wrong
    with the schedule, if anything; return whether ``name`` has any."""
    typed = [h for h in registry.get_schedule(name).params if h.kind == "text"]
    for h in typed:
        hyper_widget(h, pkey(name, h.name), L.param_default(name, h, n_steps), label=f"{name}: {h.display}",
                     **CONTROLS)
    if typed:
        info = registry.get_schedule(name)
        values = {h.name: ss.get(pkey(name, h.name), L.param_default(name, h, n_steps)) for h in info.params}
        problem = L.schedule_problem(name, values, n_steps)
        if problem:
            st.error(problem)
    return bool(typed)


def _follow_steps() -> None:
    """A new number of steps: the lengths that mean "the whole run" follow it."""
    n = int(ss.get("sc_steps", L.DEFAULT_STEPS))
    for name in registry.schedules():
        info = registry.get_schedule(name)
        current = {h.name: ss[pkey(name, h.name)] for h in info.params if pkey(name, h.name) in ss}
        try:
            current = L.schedule_params(name, current)
        except L.ScheduleError:
            current = {}
        for param, value in L.length_values(name, n, current).items():
            ss[pkey(name, param)] = value


def _curve_for(name: str, n: int, lr: float, optimizer: str):
    """The schedule's parameters from its widgets and its curve, or an error message."""
    info = registry.get_schedule(name)
    for h in info.params:
        if h.kind == "text":  # a link opened on another tab: its widget (on Compare) is not drawn
            adopt_url(pkey(name, h.name))
    values = {h.name: ss.get(pkey(name, h.name), L.param_default(name, h, n)) for h in info.params}
    try:
        params = L.schedule_params(name, values)
        eff, note = L.effective_params(name, params, optimizer)
        return params, L.schedule_curve(name, n, lr, eff), note, None
    except L.ScheduleError as exc:
        return None, None, "", str(exc)


# ---------------------------------------------------------------------------------------
# The four tabs
# ---------------------------------------------------------------------------------------


# ---- compare ---------------------------------------------------------------------------
def compare_tab(picked: list[str], n_steps: int, base_lr: float, log_y: bool, optimizer: str) -> None:
    """The schedules side by side: the curves first, read off at a step, then each schedule's
    parameters, formula and PyTorch code."""
    if not picked:
        st.info(f"Pick one or more schedules in the {SETTINGS_WHERE}.")
        return
    pic, side, after = stage()
    # A typed parameter is the one changed most: above the chart (beside it in presenter mode), with
    # what is wrong with it under it (the chart then leaves that schedule out and says nothing more).
    typed_box = mark_box = side
    if not PRESENTER and any(h.kind == "text" for name in picked for h in registry.get_schedule(name).params):
        typed_box, mark_box = side.columns([3, 2], gap="medium")
    with typed_box:
        typed = {name for name in picked if typed_controls(name, n_steps)}
    # The parameters are drawn first (under the chart, which reads their values).
    with after:
        st.markdown("**Each schedule's parameters**")
        for name in picked:
            with st.expander(name, expanded=len(picked) == 1, key=f"sc_box_{name}"):
                schedule_controls(name, n_steps)
        formulas = st.container()
    curves, results = [], []
    for name in picked:
        params, curve, note, err = _curve_for(name, n_steps, base_lr, optimizer)
        if err:
            if name not in typed:
                pic.error(str(err))
            continue
        results.append((name, params, curve, note))
        # Colours by place in the comparison, not in the registry: 17 schedules share 8
        # colours, and the default five included two pairs of twins. Past 8, dashes.
        k = len(curves)
        curves.append(SF.LRCurve(name, curve.lr, curve.momentum, tuple(curve.reductions), color=run_color(k),
                                 dash="solid" if k < len(RUN_COLORS) else "dash"))
    fit_stored("sc_mark", range(n_steps))
    mark = mark_box.slider("read off step", 0, n_steps - 1, n_steps // 2, key="sc_mark", bind=Q,
                       help="Marks this step on every curve; the table lists the lr there.")
    if curves:
        cycling = [c.label for c in curves if c.momentum is not None]
        fig = SF.lr_figure(curves, log_y=log_y, marker_step=mark, height=chart_height(),
                           title=f"Learning rate over {n_steps} steps (base lr {fmt(base_lr)})")
        pic.plotly_chart(fig, key="sc_chart", theme=None, config=PLOT_CONFIG)
        numbers = side if PRESENTER else pic
        rows = [{"schedule": c.label, f"η at step {mark}": float(c.lr[mark]),
                 "momentum / β₁": None if c.momentum is None else float(c.momentum[mark])} for c in curves]
        numbers.dataframe(rows, hide_index=True, width="stretch",
                          column_config={f"η at step {mark}": st.column_config.NumberColumn(format="%.4g"),
                                         "momentum / β₁": st.column_config.NumberColumn(format="%.4g")})
        with side if PRESENTER else pic:
            export_menu("sc_chart_export", still_exports(lambda: fig, "lr-schedules"))
        if cycling:
            (after if PRESENTER else pic).caption(
                f"Lower panel: {', '.join(cycling)} move momentum (SGD, RMSprop) or β₁ (Adam) "
                "opposite to the lr: low momentum while the lr is high.")
    with formulas:
        for name, params, curve, note in results:
            info = registry.get_schedule(name)
            st.markdown(f"### {name}")
            st.latex(display_latex(L.schedule_latex(name, params)))
            st.markdown(f"**When practitioners use it.** {info.summary}")
            if note:
                st.info(note)
            if name == "MultiStepLR" and max(params["milestones"]) >= n_steps:
                st.caption(f"Milestones at or past step {n_steps} never happen in this run.")
            if name == "CyclicLR" and params["max_lr"] <= base_lr:
                st.caption("max lr is below the base lr: the cycle runs upside down.")
            if info.needs_metric:
                st.caption(f"Drawn here for a demo metric ({len(curve.reductions)} cuts, ▼). "
                           "“Apply to a run” shows it reacting to a real loss.")
            with st.expander(f"Copy {name} as PyTorch ({optimizer})"):
                st.code(L.pytorch_code(name, params, base_lr, n_steps, optimizer), language="python")


# ---- warm-up + decay --------------------------------------------------------------------
def compose_tab(n_steps: int, base_lr: float, log_y: bool, optimizer: str) -> None:
    """A warm-up and a decay composed by SequentialLR or ChainedScheduler."""
    intro = ("Warm up over the first steps, then decay. SequentialLR hands over at a milestone; "
             "ChainedScheduler steps both at every step and their factors multiply.")
    if not PRESENTER:
        st.caption(intro)
    pic, side, after = stage()
    if PRESENTER:
        after.caption(intro)
        c1 = c2 = c3 = side
    else:
        c1, c2, c3 = side.columns(3)
    combinator = c1.segmented_control("compose with", list(L.COMBINATORS), default="SequentialLR",
                                      required=True, key="sc_cmb", bind=Q) or "SequentialLR"
    fit_choice("sc_cw", L.WARMUPS)
    warm = c2.selectbox("warm-up", list(L.WARMUPS), key="sc_cw", bind=Q)
    w_defaults = L.composition_parts_default("warmup", warm)
    for h, box in zip(registry.get_schedule(warm).params, grid(c2)):
        with box:
            hyper_widget(h, f"sc_cw_{warm}_{h.name}", w_defaults[h.name], **CONTROLS)
    fit_choice("sc_cd", L.DECAYS)
    decay = c3.selectbox("decay", list(L.DECAYS), key="sc_cd", bind=Q)
    d_defaults = L.composition_parts_default("decay", decay)
    for h, box in zip(L.decay_controls(decay), grid(c3)):
        with box:
            hyper_widget(h, f"sc_cd_{decay}_{h.name}", d_defaults[h.name], **CONTROLS)
    w_values = {h.name: ss.get(f"sc_cw_{warm}_{h.name}") for h in registry.get_schedule(warm).params}
    d_values = {h.name: ss.get(f"sc_cd_{decay}_{h.name}") for h in L.decay_controls(decay)}
    try:
        comp = L.Composition.make(combinator, warm, w_values, decay, d_values, n_steps)
        composed = comp.curve(base_lr)
        parts = comp.part_curves(base_lr)
    except L.ScheduleError as exc:
        pic.error(str(exc))
        return
    derived = [f"{k} = {v}" for k, v in comp.parts()[1][1].items() if k == L.decay_length_param(decay)]
    if derived:
        where = "the steps after the warm-up" if combinator == "SequentialLR" else "the whole run"
        c3.caption(f"{', '.join(derived)} ({where}).")
    warn = comp.warning()
    if warn:
        (side if PRESENTER else pic).warning(warn)
    curves = [SF.LRCurve(f"{combinator}: {comp.label()}", composed.lr, color=run_color(5), width=4)]
    curves += [SF.LRCurve(p.name, p.lr, color=run_color(k), dash=("dash", "dot")[k], width=2)
               for k, p in enumerate(parts)]
    fig = SF.lr_figure(curves, log_y=log_y, milestones=comp.milestones, title=f"{combinator}: {comp.label()}",
                       height=chart_height())
    pic.plotly_chart(fig, key="sc_cmp_chart", theme=None, config=PLOT_CONFIG)
    with side if PRESENTER else pic:
        export_menu("sc_cmp_export", still_exports(lambda: fig, slug(f"{combinator}-{comp.label()}")))
    with after:
        st.latex(display_latex(comp.latex()))
        with st.expander(f"Copy as PyTorch ({optimizer})", expanded=True):
            st.code(comp.pytorch(base_lr, optimizer), language="python")


# ---- apply to a run ---------------------------------------------------------------------
def run_tab(picked: list[str], n_steps: int, base_lr: float, log_y: bool, surface_name: str,
            optimizer: str) -> None:
    """The chosen schedule drives a run on the surface; one slider scrubs all three figures. In presenter
    mode the map (its Play button and step counter under it) and the numbers at the step share the first
    screen; the lr and loss curves follow."""
    if not picked:
        st.info(f"Pick a schedule in the {SETTINGS_WHERE} first.")
        return
    surface = registry.get_surface(surface_name).make()
    if PRESENTER:
        # The map as wide as fits the screen's height (it is about as tall as wide), the rest beside it.
        # Its legend names the runs: those the choosers below will ask for (their values, before they are drawn).
        planned = ss.get("sc_run_sched") if ss.get("sc_run_sched") in picked else picked[0]
        labels = L.run_labels(optimizer, planned, base_lr, bool(ss.get("sc_run_const", True)))
        width = screen.race_view_width(surface.window, screen.room(screen.TOP, SHIFT), labels=labels,
                                       minima=getattr(surface, "minima", None) is not None
                                       and len(surface.minima) > 0)
        left, side = st.columns(screen.split(width), gap="medium")
        c1 = c2 = side
    else:
        c1, c2 = st.columns([2, 1])
        side = st.container()
        left = right = None
    # Presenter mode: under the map and its numbers, the caption, the export and the Playground button (the
    # map's play bar may reach under the column beside it when the map is narrow), then the lr and loss curves.
    after = st.container()
    notes = after.container()
    run_name = c1.selectbox("schedule driving the run", picked, key="sc_run_sched", bind=Q,
                            help="Its parameters are the ones set on the Compare tab.")
    const = c2.toggle("also run at a constant lr", value=True, key="sc_run_const", bind=Q)
    params, _, _, err = _curve_for(run_name, n_steps, base_lr, optimizer)
    if err:
        side.error(str(err))
        return
    try:
        res = _run(surface_name, optimizer, base_lr, run_name, tuple(sorted(params.items())), n_steps, const)
    except L.ScheduleError as exc:
        side.error(str(exc))
        return
    for msg in res.notes:
        side.warning(msg)
    tr = res.traj
    T = int(tr.steps)
    # The map was paused or scrubbed (its state "step"): the slider, the metrics and the curves follow.
    sent = (ss.get("sc_run_race") or {}).get("step")
    if sent is not None and sent != ss.get("_sc_run_race_step"):
        ss["_sc_run_race_step"] = sent
        ss["sc_scrub"] = int(sent)
    fit_stored("sc_scrub", range(T + 1))
    s = int(side.slider("step", 0, T, T // 2, key="sc_scrub", bind=Q,
                        help="Moves the marker on the trajectory, the lr curve and the loss curve together. "
                             "η at step t moves θₜ to θₜ₊₁."))
    j = min(s, T - 1)
    m = side.columns(2) * 2 if PRESENTER else side.columns(4)
    m[0].metric("step", s)
    m[1].metric("η in force", fmt(res.lrs[0, j], 4))
    m[2].metric("loss", SF.loss_text(float(tr.losses[0, 0, s])))
    if res.momentum is not None:
        m[3].metric("momentum / β₁", f"{res.momentum[j]:.3f}")
    if not PRESENTER:
        left, right = st.columns([3, 2], gap="medium")
    else:
        right = after.columns(2, gap="medium")
    with left:
        land = _landscape(surface_name)
        RC.show_landscape(land, key="sc_run_land")
        RC.show_race(SF.run_race_view(tr, res.labels, surface, land, s), key="sc_run_race")
    (notes if PRESENTER else left).caption(
        f"{surface_name}, {T} steps. ◇ marks step t on each path (the step slider); "
        "Play replays the whole run in your browser, and pausing or scrubbing it moves the slider.")
    lr_box, loss_box = right if PRESENTER else (right, right)
    lr_curves = [SF.LRCurve(res.labels[0], res.lrs[0], res.momentum, tuple(res.reductions))]
    if len(res.labels) > 1:
        lr_curves.append(SF.LRCurve(res.labels[1], res.lrs[1], dash="dash"))
    lr_fig = SF.lr_figure(lr_curves, log_y=log_y, marker_step=j, height=400 if res.momentum is None else 480,
                          title="Learning rate of each step")
    lr_box.plotly_chart(lr_fig, key="sc_run_lr", theme=None, config=PLOT_CONFIG)
    loss_fig = SF.run_loss_figure(tr, res.labels, surface, s, res.reductions)
    loss_box.plotly_chart(loss_fig, key="sc_run_loss", theme=None, config=PLOT_CONFIG)
    with notes if PRESENTER else right:
        export_menu("sc_run_export", still_exports(lambda: lr_fig, slug(f"lr-{run_name}"), what="lr curve")
                    + still_exports(lambda: loss_fig, slug(f"loss-{run_name}-{surface_name}"), what="loss curve"))
    tail = notes if PRESENTER else st.container()
    if registry.get_schedule(run_name).needs_metric:
        cuts = ", ".join(str(int(r)) for r in res.reductions[:12]) + ("…" if len(res.reductions) > 12 else "")
        tail.info(
            f"ReduceLROnPlateau watched this run's loss and cut the lr {len(res.reductions)} time(s)"
            + (f", at steps {cuts} (▼ on both curves)." if len(res.reductions) else
               ": the loss kept improving by more than the threshold. Lower the patience or raise the "
               "threshold to see it react."))
    else:
        with tail:
            # One history entry for the switch: Back returns to this page as it was (app/ui/copy_link.py).
            keep_history(key="sc_to_pg_history")
            if st.button("Open this run in the Playground", key="sc_to_pg",
                         help="Sets the Playground's surface, optimizer, lr, schedule and steps to these."):
                try:
                    scene = L.playground_scene(surface_name, optimizer, base_lr, run_name, params, n_steps)
                    handoff.queue_scene(ss, scene)
                except (L.ScheduleError, ValueError, KeyError) as exc:
                    st.error(str(exc))
                else:
                    # The Playground's URL is the scene's from the start (a link to it), not this page's.
                    st.switch_page(handoff.PAGE, query_params=handoff.link(scene))


# ---- LR range test ----------------------------------------------------------------------
def range_test_tab(base_lr: float, surface_name: str, optimizer: str) -> None:
    """The LR range test on the surface or the MLP, and “Use this lr”."""
    intro = ("Train briefly while the lr grows exponentially; the loss first barely moves, then falls, then "
             "blows up. The suggestion is where the smoothed loss falls fastest against log η "
             "(Smith 2017). Parameters and optimizer state are restored afterwards.")
    if not PRESENTER:
        st.caption(intro)
    pic, side, after = stage()
    if PRESENTER:
        after.caption(intro)
        c1 = c2 = c3 = c4 = side
    else:
        c1, c2, c3, c4 = side.columns(4)
    target = c1.segmented_control("test on", ["loss surface", "MLP"], default="loss surface", required=True,
                                  key="sc_rt_target", bind=Q) or "loss surface"
    fit_stored("sc_rt_lo", RT_START, log=True)
    lo = c2.select_slider("start lr", options=RT_START, value=L.RT_START_LR, format_func=fmt, key="sc_rt_lo", bind=Q)
    fit_stored("sc_rt_hi", RT_END, log=True)
    hi = c3.select_slider("end lr", options=RT_END, value=L.RT_END_LR, format_func=fmt, key="sc_rt_hi", bind=Q)
    fit_stored("sc_rt_n", range(20, 301))
    n_test = c4.slider("steps", 20, 300, L.RT_STEPS, step=10, key="sc_rt_n", bind=Q)
    result, where, loss_label = None, "", "loss"
    if target == "MLP":
        from app.training import backend as training

        if not training.torch_available():
            pic.info("The MLP test needs PyTorch, an optional extra: `pip install -e \".[torch]\"`, then "
                     "restart the app. The loss-surface test works without it.")
        else:
            from app.training.datasets import DATASET_LABELS, DATASETS

            names = list(DATASETS)
            fit_choice("sc_rt_data", names)
            spec = training.ModelSpec()
            data = side.selectbox("dataset", names, format_func=lambda k: DATASET_LABELS.get(k, k),
                                  key="sc_rt_data", bind=Q,
                                  help=f"{L.MLP_TEST_POINTS} points, full batch; the {spec.sizes_text} "
                                       f"{training.ACTIVATIONS[spec.activation]} MLP of Live Training.")
            try:
                result = _mlp_test(optimizer, data, float(lo), float(hi), int(n_test))
            except L.ScheduleError as exc:
                pic.error(str(exc))
            where, loss_label = f"{optimizer} on the MLP ({DATASET_LABELS.get(data, data)})", "cross-entropy"
    else:
        try:
            result = _surface_test(surface_name, optimizer, float(lo), float(hi), int(n_test))
        except L.ScheduleError as exc:
            pic.error(str(exc))
        where, loss_label = f"{optimizer} on {surface_name}", "loss − min"
    if result is None:
        return
    rt_fig = SF.range_test_figure(result.lrs, result.losses, result.smoothed, suggested_lr=result.suggested_lr,
                                  suggested_index=result.suggested_index, stop_step=result.stop_step,
                                  current_lr=base_lr, loss_label=loss_label, title=f"LR range test: {where}",
                                  height=chart_height(470))
    pic.plotly_chart(rt_fig, key="sc_rt_chart", theme=None, config=PLOT_CONFIG)
    # Presenter mode: the suggestion first in the column beside the chart, then the rest.
    notes = side.container() if PRESENTER else pic
    extra = side.container() if PRESENTER else pic
    with extra:
        export_menu("sc_rt_export", still_exports(lambda: rt_fig, slug(f"lr-range-test-{where}")))
    if result.stopped_early:
        extra.caption(f"Stopped at η = {fmt(result.lrs[-1], 3)}: the smoothed loss exceeded 4× its best.")
    if result.suggested_lr is None:
        notes.warning("Too few steps before the loss blew up to suggest an lr: lower the start lr or the end lr.")
        return
    snapped = snap(result.suggested_lr, L.LR_HYPER)
    c1, c2 = (notes, notes) if PRESENTER else notes.columns([2, 1])
    c1.markdown(f"**Suggested lr ≈ {fmt(result.suggested_lr, 3)}** (steepest descent of "
                f"the smoothed loss). The base lr slider would take {fmt(snapped)}.")
    if c2.button("Use this lr", key="sc_rt_use", type="primary",
                 help=f"Sets the page's base lr ({SETTINGS_WHERE}) to the suggestion."):
        ss[PENDING] = {"sc_lr": snapped}
        ss[NOTICE] = (f"Base lr set to {fmt(snapped)}, the range test's suggestion for {where}. "
                      "“Apply to a run” now uses it.")
        st.rerun()


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

TITLE = "Learning-rate schedules"
INTRO = ("A schedule sets the learning rate of every step. Large steps early make fast progress; small steps "
         "late let the optimizer settle into a minimum instead of rattling around it.")


class Settings(NamedTuple):
    picked: list[str]
    n_steps: int
    base_lr: float
    log_y: bool
    surface_name: str
    optimizer: str


def settings() -> Settings:
    """The page's settings, shared by the tabs (in the sidebar, or the "Settings" menu in presenter mode)."""
    st.header("Schedules")
    fit_choice("sc_pick", NAMES)
    picked = st.multiselect("schedules to compare", NAMES, default=DEFAULT_PICK, key="sc_pick", bind=Q,
                            help="Every schedule of torch.optim.lr_scheduler, plus the transformer warm-ups "
                                 "and FormulaLR, your own formula of the step.")
    fit_stored("sc_steps", STEP_OPTIONS, log=True)
    n_steps = int(st.select_slider("steps", options=STEP_OPTIONS, value=L.DEFAULT_STEPS, key="sc_steps", bind=Q,
                                   on_change=_follow_steps,
                                   help="Lengths that mean “the whole run” (T_max, total steps) follow this."))
    base_lr = float(hyper_widget(L.LR_HYPER, "sc_lr", L.DEFAULT_LR, **CONTROLS))
    log_y = st.toggle("log-scale lr axis", value=False, key="sc_logy", bind=Q,
                      help="Geometric decays become straight lines; zeros are not drawn.")
    st.header("Run and range test")
    fit_choice("sc_surface", SURFACES)
    surface_name = st.selectbox("loss surface", SURFACES, index=SURFACES.index(DEFAULT_SURFACE), key="sc_surface",
                                bind=Q)
    fit_choice("sc_opt", OPTIMIZERS)
    optimizer = st.selectbox("optimizer", OPTIMIZERS, index=OPTIMIZERS.index(DEFAULT_OPTIMIZER), key="sc_opt",
                             bind=Q, help="Used by the run, the LR range test and the PyTorch code.")
    return Settings(picked, n_steps, base_lr, log_y, surface_name, optimizer)


_apply_pending()
adopt_legacy("sc_tab", LEGACY_TABS)
NAMES = list(registry.schedules())
SURFACES = list(registry.surfaces())
OPTIMIZERS = list(registry.optimizers())

if PRESENTER:
    # The sidebar is closed: the settings open from a menu beside the title; the introduction waits below.
    head, menu = st.columns([3, 1], vertical_alignment="bottom")
    head.title(TITLE, anchor=False)  # (an anchor's link icon would wrap onto a line of its own)
    with menu.popover("Settings", width="stretch", help="Schedules, steps, base lr, surface and optimizer."):
        chosen = settings()
else:
    with st.sidebar:
        chosen = settings()
    st.title(TITLE)
    st.caption(INTRO)
notice = ss.pop(NOTICE, None)
if notice:
    st.success(notice)

tabs = st.tabs(TABS, on_change="rerun", key="sc_tab", bind=Q)

with tabs[0]:
    if tabs[0].open is not False:
        compare_tab(chosen.picked, chosen.n_steps, chosen.base_lr, chosen.log_y, chosen.optimizer)
with tabs[1]:
    if tabs[1].open:
        compose_tab(chosen.n_steps, chosen.base_lr, chosen.log_y, chosen.optimizer)
with tabs[2]:
    if tabs[2].open:
        run_tab(chosen.picked, chosen.n_steps, chosen.base_lr, chosen.log_y, chosen.surface_name, chosen.optimizer)
with tabs[3]:
    if tabs[3].open:
        range_test_tab(chosen.base_lr, chosen.surface_name, chosen.optimizer)

if PRESENTER:
    st.caption(INTRO)
