"""Playground: animated optimizer races on 2D loss surfaces, every hyperparameter a slider.

The page lays out widgets and draws what :mod:`app.playground` computes: every widget's key
and default come from :mod:`~app.playground.state` (one table between the widgets and the
scene), the race and the analyses from :mod:`~app.playground.cache`, the figures and tables
from :mod:`~app.playground.panels`, the words from :mod:`~app.playground.theory`, the step
inspector from :mod:`~app.playground.inspector`. Every control is bound to the URL
(``bind="query-params"``), so a link reproduces the scene; presets, clicks and other pages
queue widget values through :mod:`~app.playground.handoff`, applied at the top of the next
run, before any widget is drawn.
"""

from __future__ import annotations

from contextlib import contextmanager

import streamlit as st

from app.playground import analyses as A
from app.playground import cache as C
from app.playground import exports as PX
from app.playground import handoff, presets, theory
from app.playground import inspector as I
from app.playground import panels as P
from app.playground import precision as PR
from app.playground import race_component as RC
from app.playground import sharpness_view as SV
from app.playground import scene as S
from app.playground import state as U
from app.playground import tailor as TL
from app.playground.lessons import LESSON_BY_KEY, LESSONS
from app.schedules.logic import schedule_problem
from app.ui.controls import FULL_BATCH, fmt, schedule_choices
from app.ui import presenter
from app.ui.exports import export_menu, slug, still_exports
from app.ui.theme import swatch
from app.ui.widgets import Q, adopt_legacy, adopt_url, drop_bad_numbers, fit_choice, fit_stored, hyper_widget, writes
from optim_core import formula, registry

ss = st.session_state
SEEN = "_pg_seen"  # selections already applied, so one click is applied once
PLOT = {"displaylogo": False}


_DEFAULTS: dict = {}  # this run's widget defaults, for the state they were computed from


def default(key: str):
    """Widget ``key``'s default, given the widgets drawn before it (:func:`app.playground.state.default`).
    Every default of the scene is computed in one pass and kept while the values they depend on stay as they
    were (a run draws about a hundred widgets; each alone re-read the whole table). Within a run those values
    change only when a widget is drawn for the first time (a key that was absent) or when a widget helper
    fits a stored value (:func:`app.ui.widgets.writes`): only then are they read again."""
    memo = _DEFAULTS
    if not (memo and memo["writes"] == writes() and not any(k in ss for k in memo["absent"])):
        inputs = U.defaults_inputs(ss)
        sig = U.defaults_signature(ss, inputs)
        if memo.get("sig") != sig:
            memo["sig"], memo["all"] = sig, U.all_defaults(ss)
        memo["absent"] = [k for k in inputs if k not in ss]
        memo["writes"] = writes()
    found = memo["all"].get(key, memo)
    return found if found is not memo else U.default(key, ss)


def _load_preset(key: str) -> None:
    handoff.queue_values(ss, {U.GUIDE: None, U.TAILOR: TL.EVERYTHING})
    handoff.queue_scene(ss, presets.PRESETS[key].scene, lesson=key)


def _reset_run_hypers(i: int) -> None:
    """A new optimizer starts from its own defaults. The keys are set, not deleted: a deleted
    bound widget would be seeded again from the URL."""
    ss.update(U.hyper_defaults(i, ss))


def _on_surface_change() -> None:
    """A new surface starts from its own suggested start point."""
    ss.update(U.suggested_start(ss))


# ---- what a lesson link or a guided lesson shows (app/playground/tailor.py) ----------------
HIDDEN_KEY = "pg_hidden_controls"  # the container holding the controls a lesson hides (never displayed)
HIDE_STYLE = f"<style>.st-key-{HIDDEN_KEY} {{ display: none; }}</style>"
_boxes: dict[str, object] = {}


def tailoring() -> TL.Tailoring:
    """The controls shown: a guided lesson's step names them; else a lesson link's; else all."""
    g = ss.get(U.GUIDE)
    if isinstance(g, TL.Guide) and g.lesson in LESSON_BY_KEY:
        return TL.Tailoring(LESSON_BY_KEY[g.lesson].steps[g.step].visible)
    t = ss.get(U.TAILOR)
    return t if isinstance(t, TL.Tailoring) else TL.EVERYTHING


@contextmanager
def control(name: str):
    """Draw control ``name`` where the tailoring puts it; yields whether it is fixed (shown,
    disabled). A hidden control is still drawn, in a container that is never displayed, so it keeps
    the link's value."""
    mode = tailoring().mode(name)
    if mode == "hidden":
        with _boxes["hidden"]:
            yield True
    else:
        yield mode == "fixed"


def runs_editor() -> None:
    """The runs: how many, and one expander per run with every hyperparameter from the registry (in a
    lesson, each run's shown controls under its name)."""
    tailored = tailoring().tailored
    c1, c2 = st.columns(2) if not tailored else (st.container(), st.container())
    with c1, control("runs") as fixed:
        st.number_input("runs", min_value=1, max_value=S.MAX_RUNS, value=default("pg_nruns"), step=1, key="pg_nruns",
                        bind=Q, disabled=fixed)
    with c2, control("view") as fixed:
        st.radio("view", ["2D map", "3D surface"], index=0, key="pg_view", bind=Q, disabled=fixed)
    sched_names = schedule_choices(SCHEDULES)
    run_length = None  # the steps a schedule's curve is checked for: read once, when a run has a schedule
    for i in range(U.value("pg_nruns", ss)):
        def key(name: str, i=i) -> str:
            return U.run_key(i, name)

        adopt_url(key("opt"))  # the header above the select box names the linked optimizer
        fit_choice(key("opt"), OPTIMIZERS)
        title = f"Run {i + 1} · {ss.get(key('opt'), default(key('opt')))}"
        if tailored:
            box = st.container()
            box.markdown(f"{swatch(ss.get(key('color'), default(key('color'))))} **{title}**",
                         unsafe_allow_html=True)
        else:
            box = st.expander(title, expanded=False, key=f"pg_r{i}_box")
        with box:
            with control("color") as fixed:
                st.color_picker("color", value=default(key("color")), key=key("color"), bind=Q, disabled=fixed,
                                help="The run's color in every chart (defaults tell runs apart for color-blind "
                                     "viewers).")
            with control("optimizer") as fixed:
                opt = st.selectbox("optimizer", OPTIMIZERS, index=OPTIMIZERS.index(default(key("opt"))),
                                   key=key("opt"), bind=Q, on_change=_reset_run_hypers, args=(i,), disabled=fixed)
            for h in S.shown_hypers(opt):
                with control(h.name) as fixed:
                    hyper_widget(h, key(h.name), default(key(h.name)), disabled=fixed)
            with control("schedule") as fixed:
                fit_choice(key("sched"), sched_names)
                sched = st.selectbox("lr schedule", sched_names, index=sched_names.index(default(key("sched"))),
                                     key=key("sched"), bind=Q, disabled=fixed,
                                     help="The schedule's curve replaces the constant lr; its base lr is η above.")
                if sched in SCHEDULES:
                    for h in SCHEDULES[sched].params:
                        hyper_widget(h, U.schedule_key(i, h.name), default(U.schedule_key(i, h.name)),
                                     disabled=fixed)
                    if run_length is None:
                        run_length = U.value("pg_steps", ss)
                    problem = schedule_problem(sched, {h.name: ss[U.schedule_key(i, h.name)] for h in
                                                       SCHEDULES[sched].params if U.schedule_key(i, h.name) in ss},
                                               run_length)
                    if problem:  # beside the controls (a typed formula's mistake); the run is not raced
                        st.error(problem)
                    st.caption(SCHEDULES[sched].summary)
            with control("clip") as fixed:
                clip = st.segmented_control("gradient clipping", list(S.CLIP_MODES), default=default(key("clip")),
                                            required=True, key=key("clip"), bind=Q, disabled=fixed)
                if clip in ("norm", "value"):
                    fit_stored(key("clipv"), S.CLIP_AT_OPTIONS)
                    st.select_slider("clip at", options=S.CLIP_AT_OPTIONS, value=default(key("clipv")),
                                     format_func=fmt, key=key("clipv"), bind=Q, disabled=fixed,
                                     help="norm: rescale g so ‖g‖ ≤ c; value: clip each gᵢ to [−c, c].")
            with control("lookahead") as fixed:
                if st.toggle("Lookahead", value=default(key("la")), key=key("la"), bind=Q, disabled=fixed,
                             help="Every k steps, pull the weights back towards slow weights by α (Zhang et al. "
                                  "2019)."):
                    st.slider("k (sync every k steps)", 1, 20, default(key("lak")), key=key("lak"), bind=Q,
                              disabled=fixed)
                    st.slider("α (slow-weight step)", 0.0, 1.0, default(key("laa")), step=0.05, key=key("laa"),
                              bind=Q, disabled=fixed)
            with control("batch") as fixed:
                fit_stored(key("batch"), S.BATCH_OPTIONS)
                st.select_slider("own mini-batch size", options=S.BATCH_OPTIONS, value=default(key("batch")),
                                 format_func=lambda b: "as above" if b == FULL_BATCH else str(b), key=key("batch"),
                                 bind=Q, disabled=fixed)
            if ss.get("pg_prec", "float64") in S.PRECISIONS[1:]:  # drawn by the sidebar, before the runs
                with control("remedy") as fixed:
                    PR.draw_remedy(st, key("rem"), default(key("rem")), fixed, fit_choice, Q)
            with control("start") as fixed:
                if st.toggle("own start point", value=default(key("own")), key=key("own"), bind=Q, disabled=fixed):
                    c1, c2 = st.columns(2)
                    c1.number_input("θ₁", value=default(key("x0")), step=0.1, format="%.3f", key=key("x0"), bind=Q,
                                    disabled=fixed)
                    c2.number_input("θ₂", value=default(key("y0")), step=0.1, format="%.3f", key=key("y0"), bind=Q,
                                    disabled=fixed)


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

# The page owns its URL (app/playground/links.py): a link just opened, or Back/Forward, is the scene;
# otherwise queued values are applied and the whole scene is written into the URL in one step.
from app.playground import links  # noqa: E402

# The analysis tabs were labelled with colour emoji (drawn as empty boxes without an emoji font):
# a link shared then still opens its tab. The old labels are written as escapes, so that no emoji
# is in the source (tests/test_offline_text.py).
TAB_THEORY, TAB_CONV, TAB_SENS, TAB_STAB = "Theory", "Convergence map", "Sensitivity map", "Stability"
LEGACY_TABS = {f"{icon}{vs} {name}": name
               for icon, name in (("\U0001f4d6", TAB_THEORY), ("\U0001f5fa", TAB_CONV), ("\U0001f39b", TAB_SENS),
                                  ("\U0001f4d0", TAB_STAB))
               for vs in ("\ufe0f", "")}
adopt_legacy("pg_tab", LEGACY_TABS)
# A link's number that a number input cannot hold (?pg_seed=inf, a start of 1e400) is dropped before the
# widgets read the URL: that widget starts from its default.
drop_bad_numbers({"pg_seed": (int, 0, 2**31 - 1), "pg_nruns": (int, 1, S.MAX_RUNS),
                  **{k: (float, None, None) for k in ("pg_x0", "pg_y0", "pg_xmin", "pg_xmax", "pg_ymin", "pg_ymax")},
                  **{U.run_key(i, c): (float, None, None) for i in range(S.MAX_RUNS) for c in ("x0", "y0")}})
links.own_url(ss)

SURFACES = list(registry.surfaces())
OPTIMIZERS = list(registry.optimizers())
SCHEDULES = S.available_schedules()

# ---- sidebar: gallery, surface, start, steps, noise -----------------------------------
def _open_guide(key: str, i: int = 0, fresh: bool = True) -> None:
    """Show step ``i`` of guided lesson ``key`` (its scene, its controls); a fresh start forgets the
    answers revealed before."""
    lesson_ = LESSON_BY_KEY[key]
    if fresh:
        for k in [k for k in ss if k.startswith(f"_pg_reveal_{key}_")]:
            del ss[k]
    handoff.queue_values(ss, {U.GUIDE: TL.Guide(key, i), U.TAILOR: TL.EVERYTHING, U.LESSON: None})
    handoff.queue_scene(ss, lesson_.steps[i].scene)


def _leave_lesson() -> None:
    # The step inspector comes back: from step 1 (Streamlit would restore the value it held before the
    # lesson hid it, possibly past this race's end).
    ss.pop("pg_step", None)
    handoff.queue_values(ss, {U.GUIDE: None, U.TAILOR: TL.EVERYTHING})


def _tailor(show, fix) -> None:
    handoff.queue_values(ss, {U.GUIDE: None, U.TAILOR: TL.Tailoring(tuple(show), tuple(f for f in fix if f in show))})


def lesson_link_builder(scene_now) -> None:
    """The teacher's "lesson link": the controls students see, those fixed, and the link itself."""
    box = st.expander("Lesson link: choose what students see", key="pg_ll_box", on_change="rerun")
    if box.open is False:  # closed: nothing to compute (the link walks the whole scene)
        return
    with box:
        st.caption("Students opening the link get this scene with only the controls chosen here; the others "
                   "keep this scene's values.")
        options = TL.choices(scene_now)
        for k in ("_pg_ll_show", "_pg_ll_fix"):
            fit_choice(k, list(options))
        show = st.multiselect("students see", list(options), default=["steps", "lr"], format_func=options.get,
                              key="_pg_ll_show")
        fit_choice("_pg_ll_fix", show)
        fix = st.multiselect("of these, fixed (seen, not changeable)", show, format_func=options.get,
                             key="_pg_ll_fix")
        st.code(links.lesson_link(ss, TL.Tailoring(tuple(show), tuple(fix))), language=None, wrap_lines=True)
        st.button("Open it here", key="pg_ll_open", on_click=_tailor, args=(tuple(show), tuple(fix)),
                  help="Shows the page as students will see it; 'All controls' comes back.")


def sidebar(scene_now=None) -> None:
    """The gallery and the scene's shared settings: surface, start, steps, noise. In a lesson, only
    the controls it shows, in the side column (the sidebar is for the teacher)."""
    tailored = tailoring().tailored
    with (_boxes["controls"] if tailored else st.sidebar):
        if tailoring().shows("gallery"):
            st.header("Gallery")
            st.caption("One click loads a race; then press Play under the map.")
            for p in presets.GALLERY:
                st.button(p.title, key=f"pg_preset_{p.key}", on_click=_load_preset, args=(p.key,),
                          width="stretch")
            st.header("Guided lessons")
            st.caption("Three to six scenes each: predict, play, then reveal. PgDn / PgUp step through.")
            for les in LESSONS:
                st.button(les.title, key=f"pg_guide_{les.key}", on_click=_open_guide, args=(les.key,),
                          width="stretch", help=les.summary)
        links.copy_link()
        if not tailored:
            lesson_link_builder(scene_now)

        if not tailored:
            st.header("Surface")
        with control("surface") as fixed:
            surface_choices = SURFACES + [S.CUSTOM]
            fit_choice("pg_surface", surface_choices)
            surface_name = st.selectbox("loss surface", surface_choices,
                                        index=surface_choices.index(default("pg_surface")), key="pg_surface", bind=Q,
                                        on_change=_on_surface_change, disabled=fixed)
            if surface_name == S.CUSTOM:
                st.text_input("f(x, y) =", value=default("pg_formula"), key="pg_formula", bind=Q, disabled=fixed,
                          max_chars=formula.MAX_LENGTH,
                              placeholder="e.g. x**2 + 10*y**2 + sin(3*x)",
                              help="Use x and y, + - * / **, parentheses, numbers and functions such as sin, cos, "
                                   "exp, log, sqrt, abs, tanh.")
                c1, c2 = st.columns(2)
                c1.number_input("x from", value=default("pg_xmin"), step=0.5, key="pg_xmin", bind=Q, disabled=fixed)
                c2.number_input("x to", value=default("pg_xmax"), step=0.5, key="pg_xmax", bind=Q, disabled=fixed)
                c1.number_input("y from", value=default("pg_ymin"), step=0.5, key="pg_ymin", bind=Q, disabled=fixed)
                c2.number_input("y to", value=default("pg_ymax"), step=0.5, key="pg_ymax", bind=Q, disabled=fixed)
            else:
                info = registry.get_surface(surface_name)
                for h in info.params:
                    hyper_widget(h, U.surface_param_key(h.name), default(U.surface_param_key(h.name)),
                                 disabled=fixed)
                if info.note:
                    st.caption(info.note)

        if not tailored:
            st.header("Start and steps")
        with control("start") as fixed:
            if not tailored:
                st.caption("Click anywhere on the map to start there, or type a point.")
            c1, c2 = st.columns(2)
            c1.number_input("start θ₁", value=default("pg_x0"), step=0.1, format="%.3f", key="pg_x0", bind=Q,
                            disabled=fixed)
            c2.number_input("start θ₂", value=default("pg_y0"), step=0.1, format="%.3f", key="pg_y0", bind=Q,
                            disabled=fixed)
        with control("steps") as fixed:
            fit_stored("pg_steps", S.STEP_OPTIONS)
            st.select_slider("steps", options=S.STEP_OPTIONS, value=default("pg_steps"), key="pg_steps", bind=Q,
                             disabled=fixed)

        if not tailored:
            st.header("Noise")
        with control("noise") as fixed:
            fit_stored("pg_noise", S.NOISE_OPTIONS)
            st.select_slider("gradient noise σ", options=S.NOISE_OPTIONS, value=default("pg_noise"), format_func=fmt,
                             key="pg_noise", bind=Q, disabled=fixed,
                             help="Standard deviation of Gaussian noise added to every gradient.")
        with control("batch") as fixed:
            fit_stored("pg_batch", S.BATCH_OPTIONS)
            st.select_slider("mini-batch size", options=S.BATCH_OPTIONS, value=default("pg_batch"),
                             format_func=lambda b: "full" if b == FULL_BATCH else str(b), key="pg_batch", bind=Q,
                             disabled=fixed,
                             help="The loss is the mean of 64 samples; a mini-batch of B of them gives a noisy "
                                  "gradient whose variance shrinks like 1/B. 'full' is the exact gradient.")
        with control("seed") as fixed:
            st.number_input("seed", min_value=0, max_value=2**31 - 1, value=default("pg_seed"), step=1,
                            key="pg_seed", bind=Q, disabled=fixed,
                            help="Every run meets the same noise at the same step: a fair race.")
        with control("precision") as fixed:
            PR.draw_control(st, default, fixed, fit_choice, Q)


# ---- the race: lesson, map and runs side by side -------------------------------------------
def revealed(g: TL.Guide) -> bool:
    return f"_pg_reveal_{g.lesson}_{g.step}" in ss


def _reveal(g: TL.Guide) -> None:
    ss[f"_pg_reveal_{g.lesson}_{g.step}"] = ss.get(f"_pg_guess_{g.lesson}_{g.step}")


def guide_panel(g: TL.Guide, scene_now) -> None:
    """The guided lesson's scene: its words, the question to answer before playing, the answer once
    revealed, and Back / Next (PgUp / PgDn, what a presenter's clicker sends)."""
    les = LESSON_BY_KEY[g.lesson]
    step_ = les.steps[g.step]
    n = len(les.steps)
    st.markdown(f"**{les.title}** · scene {g.step + 1} of {n}")
    st.markdown(f"#### {step_.title}")
    st.markdown(step_.text)
    done = revealed(g)
    guess = st.radio(f"**Predict, then press Play.** {step_.question}", list(range(len(step_.choices))),
                     format_func=lambda j: step_.choices[j], index=None, key=f"_pg_guess_{g.lesson}_{g.step}",
                     disabled=done)
    if done:
        said = ss[f"_pg_reveal_{g.lesson}_{g.step}"]
        right = said == step_.answer
        (st.success if right else st.warning)(
            f"**{'Right' if right else 'Not quite'}: {step_.choices[step_.answer]}.** {step_.reveal}")
    else:
        st.button("Reveal the answer", key="pg_guide_reveal", disabled=guess is None, on_click=_reveal, args=(g,),
                  help="Choose a prediction first; play the race, then reveal.")
    if U.canonical(step_.scene) != scene_now:
        st.caption("You changed this scene's settings.")
        st.button("Back to the lesson's scene", key="pg_guide_reset", type="tertiary", on_click=_open_guide,
                  args=(g.lesson, g.step, False))
    c1, c2 = st.columns(2)
    c1.button("Back", key="pg_guide_back", shortcut="PageUp", disabled=g.step == 0, on_click=_open_guide,
              args=(g.lesson, max(g.step - 1, 0), False), width="stretch")
    c2.button("Next", key="pg_guide_next", shortcut="PageDown", disabled=g.step == n - 1, on_click=_open_guide,
              args=(g.lesson, min(g.step + 1, n - 1), False), width="stretch", type="primary")
    if g.step == n - 1 and done:
        st.caption("The end of this lesson: leave it to pick another.")
    st.button("Leave the lesson", key="pg_guide_leave", type="tertiary", on_click=_leave_lesson)


GUIDE = ss.get(U.GUIDE) if isinstance(ss.get(U.GUIDE), TL.Guide) and ss[U.GUIDE].lesson in LESSON_BY_KEY else None
left, side = st.columns([3, 1], gap="small")
with side:
    guide_box = st.container()
    export_box = st.container()
    _boxes["controls"] = st.container()  # a lesson's scene controls (the sidebar's otherwise)
    editor_box = st.container()
    refused_box = st.container()
    lesson = st.empty()
    _boxes["hidden"] = st.container(key=HIDDEN_KEY)
st.html(HIDE_STYLE)
# The widgets hold the scene once they exist. On a first load (or Back) their values are still only
# in the URL, which a widget reads when it is drawn: draw them first. Afterwards the race goes first,
# so the browser gets and paints the new picture before the hundred-odd controls arrive.
_controls_pending = [True]


def draw_controls() -> None:
    """The sidebar and the run controls, once per run."""
    if _controls_pending:
        _controls_pending.clear()
        sidebar(globals().get("scene"))
        with editor_box:
            runs_editor()


def stop() -> None:
    """End the run here, with the controls on the page (so the settings can be mended)."""
    draw_controls()
    st.stop()


if not ("pg_surface" in ss and U.run_key(0, "opt") in ss):
    draw_controls()
view = ss.get("pg_view", "2D map")

# ---- compute ---------------------------------------------------------------------------
try:
    scene = U.scene_from_state(ss)
except (ValueError, TypeError, KeyError) as exc:
    st.error(f"These settings could not be read: {exc}. Load a preset from the gallery to start again.")
    stop()

shown = presets.lesson(ss.get(handoff.LESSON), scene)
if GUIDE is not None or tailoring().tailored:
    pass  # the lesson's own panel says what this is
elif shown is not None:
    lesson.info(f"**{shown.title}.** {shown.note}")
else:
    lesson.caption("Your own race: load a lesson from the gallery to start again.")

res = C.race(scene)
for msg in res.errors:
    st.error(msg)
if not res.ok:
    stop()
for i, msg in res.refused.items():
    refused_box.error(f"Run {i + 1} ({scene.runs[i].optimizer}) is not raced: {msg}. The other runs are.")
scene = res.scene  # the runs that race
surface = S.make_surface(scene)
tr = res.traj
labels = res.labels
T = int(tr.steps)
INSPECT_DEFAULT = 1
drop_bad_numbers({"pg_step": (int, 1, T)})  # a step past this race's end (a link, an older, longer race)
adopt_url("pg_step", int)  # the map and the loss chart's cursor are drawn above the step slider
fit_stored("pg_step", range(1, T + 1))
run_names = [f"{k + 1}: {lab}" for k, lab in enumerate(labels)]


def _map_events() -> None:
    """What the map sent since the last run: the step it was paused or scrubbed to (the inspector and
    the loss chart's cursor follow it) and a click (every run starts there: a whole-page run). Each
    is applied once: the step is the map's lasting state, and a test may leave a click in place."""
    sent = ss.get("pg_map") or {}
    if not isinstance(sent, dict):
        return
    s = handoff.map_step(sent.get("step"))
    if s is not None and s != ss.get("_pg_map_step"):
        ss["_pg_map_step"] = s
        ss["pg_step"] = int(min(max(s, 1), T))
    p = sent.get("click")
    if p != ss.get("_pg_map_click"):
        ss["_pg_map_click"] = p
        point = handoff.map_point(p)
        if point is not None:
            handoff.queue_values(ss, U.start_state(*point))
            st.rerun(scope="app")


@st.fragment
def race_area() -> None:
    """The map, the loss chart, the scoreboard and the step inspector: pausing or scrubbing the map,
    or moving the inspector, reruns only this."""
    _map_events()
    step = int(ss.get("pg_step", INSPECT_DEFAULT))
    adopt_url("pg_log", lambda v: ("false", "true").index(v.lower()) == 1)  # the loss chart comes first
    log_loss = bool(ss.get("pg_log", True))
    if view == "3D surface":
        st.plotly_chart(P.surface_3d(scene, res, surface), key="pg_3d", theme=None, config=PLOT)
    else:
        land = C.landscape(scene, surface)
        RC.show_landscape(land, key="pg_land")
        payload = P.race_view(scene, res, surface, land, step, INSPECT_DEFAULT, log=log_loss)
        if GUIDE is not None and not revealed(GUIDE):
            payload = {**payload, "hold": True, "show": 0}  # predict first: the race opens on its start
        if presenter.on():
            payload = {**payload, "fit": True}  # the map, its play bar and legend on one screen
        RC.show_race(payload, key="pg_map", state=ss)
        st.caption("Play runs the race in your browser, the loss chart's cursor with it; pausing or dragging the "
                   "step bar sets the inspected step. Click the map to start every run there.")
    for msg in res.warnings:
        st.info(msg)
    for msg in res.notes:
        st.warning(msg)

    st.toggle("log-scale loss", value=True, key="pg_log", bind=Q)
    if view == "3D surface":
        st.plotly_chart(P.loss_chart(scene, res, surface, log_loss, step), key="pg_loss", theme=None, config=PLOT)
    st.markdown("**Scoreboard**")
    st.dataframe(P.scoreboard(tr), hide_index=True, width="stretch",
                 column_config={c: st.column_config.Column(help=h) for c, h in P.SCOREBOARD_HELP.items()})
    PR.draw_panel(st, scene, res, lambda s: handoff.queue_scene(ss, s))  # low precision: lost updates, remedies

    # ---- step inspector -----------------------------------------------------------------
    if not tailoring().shows("inspector"):
        return
    st.subheader("Step inspector")
    c1, c2 = st.columns([3, 2])
    step = c1.slider("inspect step", 1, T, INSPECT_DEFAULT, key="pg_step", bind=Q,
                     help="Step s takes each run from θₛ₋₁ to θₛ; the map marks it with ◇ and the loss chart with a "
                          "line. Pausing or scrubbing the map moves it.")
    fit_stored("pg_insp", range(len(labels)))
    k_insp = c2.selectbox("run", list(range(len(labels))), format_func=lambda k: run_names[k], key="pg_insp", bind=Q)
    view_k = I.inspect_step(tr, int(k_insp), int(step), label=labels[int(k_insp)])
    if view_k.diverged:
        st.warning(view_k.notes[0])
        SV.inspector_panel(tr, surface, int(k_insp), int(step))  # why, when the step it diverged at was finite
    else:
        for note in view_k.notes:
            st.caption(note)
        if view_k.generic:
            st.caption(f"{view_k.optimizer}'s update rule (the numbers are in the table):")
        for line in view_k.latex:
            st.latex(theory.display_latex(line))
        SV.inspector_panel(tr, surface, int(k_insp), int(step))  # η·λ_max at this step
        st.dataframe(view_k.rows(), hide_index=True, width="stretch",
                     column_config={"θ₁": st.column_config.NumberColumn(format="%.5g"),
                                    "θ₂": st.column_config.NumberColumn(format="%.5g")})
    summary = I.step_summary(tr, labels, int(step), surface)
    with st.expander(f"All runs at step {step}"):
        st.dataframe(summary, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4g") for c in summary[0] if c != "run"})


with left:
    race_area()
with guide_box:
    if GUIDE is not None:
        guide_panel(GUIDE, scene)
    elif tailoring().tailored:
        st.caption("A lesson link: only the controls this lesson needs are shown.")
        st.button("All controls", key="pg_untailor", type="tertiary", on_click=_leave_lesson)
with export_box:
    if not tailoring().shows("exports"):
        pass
    elif view != "3D surface":
        export_menu("pg_export", PX.race_exports(scene, res, surface, C.landscape(scene, surface),
                                                 bool(ss.get("pg_log", True))),
                    label="Export: stills, GIF, MP4, page, data, script")
    else:
        export_menu("pg_export_3d", still_exports(lambda: P.surface_3d(scene, res, surface),
                                                  slug(f"{scene.surface}-3d"), what="3D surface"))
draw_controls()

# ---- analyses ---------------------------------------------------------------------------
if not tailoring().shows("analyses"):
    st.stop()
has_stability = theory.has_theory(surface)
tab_names = [TAB_THEORY, TAB_CONV, TAB_SENS, TAB_STAB]  # off quadratics: η·λ_max along the path only
tabs = st.tabs(tab_names, on_change="rerun", key="pg_tab", bind=Q)


def _analysis_run() -> int:
    fit_stored("pg_an_run", range(len(labels)))
    return int(st.selectbox("run to analyse", list(range(len(labels))), format_func=lambda k: run_names[k],
                            key="pg_an_run", bind=Q))


with tabs[0]:
    if tabs[0].open is not False:
        for card in theory.optimizer_cards(scene):
            st.markdown(f"### {card.name}")
            st.latex(theory.display_latex(card.latex))
            c1, c2 = st.columns(2)
            c1.markdown(f"**When practitioners use it.** {card.use}")
            c2.markdown(f"**Memory.** {card.memory}")
            c2.markdown(f"**Paper.** {card.paper}")
        for card in theory.schedule_cards(scene, SCHEDULES):
            st.markdown(f"### Schedule: {card.name}")
            st.latex(theory.display_latex(card.latex))
            st.caption(card.summary)

with tabs[1]:
    if tabs[1].open:
        st.caption("The chosen run repeated from every point of a grid over the map (no noise): how many steps "
                   "it needs to reach the loss threshold, and which minimum it ends in.")
        k = _analysis_run()
        n = st.select_slider("grid", options=A.CONVERGENCE_GRIDS, value=40, format_func=lambda v: f"{v} × {v}",
                             key="pg_conv_n", bind=Q)
        steps_c = A.convergence_steps(T)
        n, budget_note = A.affordable(surface, n, steps_c, A.CONVERGENCE_GRIDS)
        if budget_note:
            (st.error if n is None else st.info)(budget_note)
        if n is not None:
            try:
                cmap = C.convergence_map(scene, surface, tr.specs[k], n, steps_c)
            except (ImportError, ValueError) as exc:
                st.error(f"The convergence map could not be computed: {exc}")
            else:
                c1, c2 = st.columns(2)
                steps_fig, basin_fig = P.convergence_charts(cmap, surface, labels[k])
                c1.plotly_chart(steps_fig, key="pg_conv_steps", theme=None)
                if basin_fig is not None:
                    c2.plotly_chart(basin_fig, key="pg_conv_basin", theme=None)
                else:
                    c2.markdown(P.basin_note(surface))
                st.caption("Grey: never reached the threshold. Dark red: diverged.")
                export_menu("pg_conv_export", still_exports(lambda: steps_fig, slug(f"convergence-{labels[k]}"),
                                                            what="Steps to converge")
                            + ([] if basin_fig is None else
                               still_exports(lambda: basin_fig, slug(f"basins-{labels[k]}"), what="Basins")))

with tabs[2]:
    if tabs[2].open:
        st.caption("Final loss of the chosen run over a grid of two of its hyperparameters, from the same start "
                   "(no noise). Click a cell to race that configuration.")
        k = _analysis_run()
        run = scene.runs[k]
        floats = A.sweepable(run.optimizer)
        names = [h.name for h in floats]
        if len(floats) < 2:
            st.info(f"{run.optimizer} has fewer than two numeric hyperparameters to sweep.")
        else:
            display = {h.name: h.display for h in floats}
            x_default, y_default = A.default_axes(names, floats)
            c1, c2, c3 = st.columns(3)
            for key in ("pg_sens_x", "pg_sens_y"):
                fit_choice(key, names)
            xp = c1.selectbox("x axis", names, index=names.index(x_default), format_func=display.get, key="pg_sens_x",
                              bind=Q)
            yp = c2.selectbox("y axis", names, index=names.index(y_default), format_func=display.get, key="pg_sens_y",
                              bind=Q)
            ng = c3.select_slider("grid", options=A.SENSITIVITY_GRIDS, value=21, key="pg_sens_n", bind=Q)
            ng, budget_note = A.affordable(surface, ng, T, A.SENSITIVITY_GRIDS)
            if budget_note:
                (st.error if ng is None else st.info)(budget_note)
            if xp == yp:
                st.warning("Choose two different hyperparameters.")
            elif ng is not None:
                sens = A.sensitivity(scene, surface, tr, k, xp, yp, ng)
                try:
                    smap = C.sensitivity_map(scene, surface, sens)
                except (ImportError, ValueError) as exc:
                    st.error(f"The sensitivity map could not be computed: {exc}")
                else:
                    sens_fig = P.sensitivity_chart(smap, sens)
                    ev2 = st.plotly_chart(sens_fig, key="pg_sens", on_select="rerun", selection_mode="points",
                                          theme=None)
                    export_menu("pg_sens_export", still_exports(lambda: sens_fig,
                                                                slug(f"sensitivity-{run.optimizer}-{xp}-{yp}")))
                    pts = ev2["selection"]["points"] if ev2 else []
                    values = A.clicked(sens, pts[0]) if pts else None
                    if values:
                        # The selection outlives reruns: apply each clicked cell once.
                        sig = ("sens", xp, yp, repr(sorted(values.items())))
                        if ss.get(SEEN) != sig:
                            ss[SEEN] = sig
                            handoff.queue_values(ss, values)
                            st.rerun()
                    st.caption("Dark red ✕: diverged. The framed cell is the run's current setting; click another "
                               "cell to race it.")

if has_stability:
    with tabs[3]:
        if tabs[3].open:
            try:
                stab = theory.stability_lesson(scene, surface, T)
            except (ImportError, ValueError) as exc:
                st.error(f"The stability theory could not be computed: {exc}")
                st.stop()
            st.markdown(stab.text)
            st.latex(theory.display_latex(theory.STABILITY_LATEX))
            final_losses, diverged = C.stability_sweep(scene, surface, stab)
            stab_fig = P.stability_chart(stab, final_losses, diverged)
            st.plotly_chart(stab_fig, key="pg_stab", theme=None)
            export_menu("pg_stab_export", still_exports(lambda: stab_fig, slug(f"stability-{scene.surface}")))
with tabs[3]:
    if tabs[3].open:
        SV.stability_panel(tr, surface, labels, P.run_colors(scene), _analysis_run(), ss.get("pg_step"), has_stability)
