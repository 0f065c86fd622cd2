"""Playground: animated optimizer races on 2D loss surfaces, every hyperparameter a slider.

The page only lays out widgets and calls :mod:`app.playground.scene` (what is raced, presets,
validation, messages), :mod:`app.playground.figures` (pure figure builders) and :mod:`app.playground.inspector`.
Every control is bound to the URL (``bind="query-params"``), so a link reproduces the
scene; presets, clicks and other pages queue widget values through :mod:`app.playground.handoff`,
applied at the top of the next run, before any widget is drawn.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import streamlit as st

from app.playground import figures as F
from app.playground import handoff
from app.playground import inspector as I
from app.playground import scene as S
from app.ui.controls import fmt, snap
from app.ui.theme import run_color
from app.ui.widgets import Q, fit_choice, fit_stored, hyper_widget
from optim_core import registry
from optim_core.engine import LIMITS

ss = st.session_state
SEEN = "_pg_seen"  # selections already applied, so one click is applied once


# ---------------------------------------------------------------------------------------
# Cached work (keyed on the frozen scene's repr; nothing mutable is shared between users)
# ---------------------------------------------------------------------------------------


@st.cache_data(max_entries=48, show_spinner=False)
def _compute(key: str, _scene: S.Scene) -> S.Result:
    res = S.compute(_scene)
    return replace(res, surface=None)  # surfaces may hold compiled formulas: rebuilt from the scene instead


@st.cache_data(max_entries=48, show_spinner=False)
def _landscape(key: str, _surface) -> F.Landscape:
    return F.landscape(_surface)


@st.cache_data(max_entries=16, show_spinner="Running the optimizer from every start point…")
def _convergence_map(key: str, _surface, _spec, n: int, steps: int):
    from optim_core.analysis import convergence_map

    return convergence_map(_surface, _spec, n=n, steps=steps)


@st.cache_data(max_entries=16, show_spinner="Sweeping two hyperparameters…")
def _sensitivity_map(key: str, _surface, optimizer, xp, xs, yp, ys, start, steps, base, run_options):
    from optim_core.analysis import sensitivity_map

    return sensitivity_map(_surface, optimizer, xp, xs, yp, ys, start, steps=steps, base_hypers=base, **run_options)


@st.cache_data(max_entries=16, show_spinner=False)
def _stability_sweep(key: str, _surface, lrs, beta: float, start, steps: int):
    from optim_core.engine import RunSpec, run_trajectories

    specs = [RunSpec("SGD", {"lr": lrs}), RunSpec("SGD", {"lr": lrs, "momentum": beta})]
    tr = run_trajectories(_surface, specs, np.asarray(start, dtype=np.float64)[None, :], steps, record="summary")
    return tr.final_losses, tr.diverged


# ---------------------------------------------------------------------------------------
# State plumbing
# ---------------------------------------------------------------------------------------


def _load_preset(key: str) -> None:
    handoff.queue_scene(ss, S.PRESETS[key].scene, lesson=key)


def _reset_run_hypers(i: int) -> None:
    """A new optimizer starts from its own defaults (an lr right for SGD is wrong for Adam).

    The keys are set, not deleted: a deleted bound widget would be seeded again from the URL."""
    opt = ss.get(f"pg_r{i}_opt")
    if opt not in registry.optimizers():
        return
    for h in S.shown_hypers(opt):
        ss[f"pg_r{i}_{h.name}"] = snap(S.run_hyper_default(i, opt, h), h)


def _on_surface_change() -> None:
    """A new surface starts from its own suggested start point."""
    try:
        scene = S.scene_from_state({k: v for k, v in ss.items() if k not in ("pg_x0", "pg_y0")})
        surface = S.make_surface(scene)
        ss["pg_x0"], ss["pg_y0"] = S.default_start(surface)
    except (S.SceneError, ValueError, TypeError):
        pass


def runs_editor() -> None:
    """The runs: how many, and one expander per run with every hyperparameter from the registry."""
    c1, c2 = st.columns(2)
    c1.number_input("runs", min_value=1, max_value=S.MAX_RUNS, value=int(DEFAULT["pg_nruns"]), step=1, key="pg_nruns",
                    bind=Q)
    c2.radio("view", ["2D map", "3D surface"], index=0, key="pg_view", bind=Q)
    n_runs = int(min(max(int(ss.get("pg_nruns", DEFAULT["pg_nruns"])), 1), S.MAX_RUNS))
    for i in range(n_runs):
        keys = S.run_keys(i)
        base = S.default_run(i)
        fit_choice(keys["opt"], OPTIMIZERS)
        opt_now = ss.get(keys["opt"], base.optimizer)
        with st.expander(f"Run {i + 1} · {opt_now}", expanded=False, key=f"pg_r{i}_box"):
            st.color_picker("color", value=run_color(i), key=keys["color"], bind=Q,
                            help="The run's color in every chart (defaults tell runs apart for color-blind viewers).")
            opt = st.selectbox("optimizer", OPTIMIZERS, index=OPTIMIZERS.index(base.optimizer), key=keys["opt"],
                               bind=Q, on_change=_reset_run_hypers, args=(i,))
            for h in S.shown_hypers(opt):
                hyper_widget(h, f"pg_r{i}_{h.name}", S.run_hyper_default(i, opt, h))
            sched_names = ["none"] + [n for n, si in SCHEDULES.items() if not si.needs_metric]
            fit_choice(keys["sched"], sched_names)
            sched = st.selectbox("lr schedule", sched_names, key=keys["sched"], bind=Q,
                                 help="The schedule's curve replaces the constant lr; its base lr is η above.")
            if sched != "none":
                for h in SCHEDULES[sched].params:
                    hyper_widget(h, S.schedule_key(i, h.name),
                                 S.schedule_param_default(h, int(ss.get("pg_steps", DEFAULT["pg_steps"])),
                                                          SCHEDULES[sched]))
                st.caption(SCHEDULES[sched].summary)
            clip = st.segmented_control("gradient clipping", list(S.CLIP_MODES), default="off", required=True,
                                        key=keys["clip"], bind=Q)
            if clip in ("norm", "value"):
                options = (0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)
                fit_stored(keys["clipv"], options)
                st.select_slider("clip at", options=options, value=1.0, format_func=fmt, key=keys["clipv"],
                                 bind=Q, help="norm: rescale g so ‖g‖ ≤ c; value: clip each gᵢ to [−c, c].")
            if st.toggle("Lookahead", value=False, key=keys["la"], bind=Q,
                         help="Every k steps, pull the weights back towards slow weights by α (Zhang et al. 2019)."):
                st.slider("k (sync every k steps)", 1, 20, 5, key=keys["lak"], bind=Q)
                st.slider("α (slow-weight step)", 0.0, 1.0, 0.5, step=0.05, key=keys["laa"], bind=Q)
            fit_stored(keys["batch"], S.BATCH_OPTIONS)
            st.select_slider("own mini-batch size", options=S.BATCH_OPTIONS, value=0,
                             format_func=lambda b: "as above" if b == 0 else str(b), key=keys["batch"], bind=Q)
            if st.toggle("own start point", value=False, key=keys["own"], bind=Q):
                c1, c2 = st.columns(2)
                c1.number_input("θ₁", value=float(ss.get("pg_x0", 0.0)), step=0.1, format="%.3f", key=keys["x0"],
                                bind=Q)
                c2.number_input("θ₂", value=float(ss.get("pg_y0", 0.0)), step=0.1, format="%.3f", key=keys["y0"],
                                bind=Q)


# ---------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------

if "_pg_init" not in ss:
    ss["_pg_init"] = True
    ss.setdefault(handoff.LESSON, S.GALLERY[0].key)
handoff.apply_queued(ss)

DEFAULT = S.state_from_scene(S.DEFAULT_SCENE)
SURFACES = list(registry.surfaces())
OPTIMIZERS = list(registry.optimizers())
SCHEDULES = S.available_schedules()

# ---- sidebar: gallery, surface, start, steps, noise -----------------------------------
with st.sidebar:
    st.header("🎓 Gallery")
    st.caption("One click loads a lesson; then press ▶ under the map.")
    for p in S.GALLERY:
        st.button(f"{p.icon} {p.title}", key=f"pg_preset_{p.key}", on_click=_load_preset, args=(p.key,),
                  width="stretch")

    st.header("⛰️ Surface")
    surface_choices = SURFACES + [S.CUSTOM]
    fit_choice("pg_surface", surface_choices)
    surface_name = st.selectbox("loss surface", surface_choices, index=surface_choices.index(DEFAULT["pg_surface"]),
                                key="pg_surface", bind=Q, on_change=_on_surface_change)
    if surface_name == S.CUSTOM:
        st.text_input("f(x, y) =", value="", key="pg_formula", bind=Q, placeholder="e.g. x**2 + 10*y**2 + sin(3*x)",
                      help="Use x and y, + - * / **, parentheses, numbers and functions such as sin, cos, exp, log, "
                           "sqrt, abs, tanh.")
        c1, c2 = st.columns(2)
        (wx0, wx1), (wy0, wy1) = S.DEFAULT_CUSTOM_WINDOW
        c1.number_input("x from", value=wx0, step=0.5, key="pg_xmin", bind=Q)
        c2.number_input("x to", value=wx1, step=0.5, key="pg_xmax", bind=Q)
        c1.number_input("y from", value=wy0, step=0.5, key="pg_ymin", bind=Q)
        c2.number_input("y to", value=wy1, step=0.5, key="pg_ymax", bind=Q)
    else:
        info = registry.get_surface(surface_name)
        base_params = dict(S.DEFAULT_SCENE.surface_params) if surface_name == S.DEFAULT_SCENE.surface else {}
        for h in info.params:
            hyper_widget(h, S.surface_param_key(h.name), base_params.get(h.name, h.default))
        if info.note:
            st.caption(info.note)

    st.header("📍 Start and steps")
    st.caption("Click anywhere on the map to start there, or type a point.")
    c1, c2 = st.columns(2)
    c1.number_input("start θ₁", value=float(DEFAULT["pg_x0"]), step=0.1, format="%.3f", key="pg_x0", bind=Q)
    c2.number_input("start θ₂", value=float(DEFAULT["pg_y0"]), step=0.1, format="%.3f", key="pg_y0", bind=Q)
    fit_stored("pg_steps", S.STEP_OPTIONS)
    st.select_slider("steps", options=S.STEP_OPTIONS, value=DEFAULT["pg_steps"], key="pg_steps", bind=Q)

    st.header("🎲 Noise")
    fit_stored("pg_noise", S.NOISE_OPTIONS)
    st.select_slider("gradient noise σ", options=S.NOISE_OPTIONS, value=DEFAULT["pg_noise"], format_func=fmt,
                     key="pg_noise", bind=Q, help="Standard deviation of Gaussian noise added to every gradient.")
    fit_stored("pg_batch", S.BATCH_OPTIONS)
    st.select_slider("mini-batch size", options=S.BATCH_OPTIONS, value=DEFAULT["pg_batch"],
                     format_func=lambda b: "full" if b == 0 else str(b), key="pg_batch", bind=Q,
                     help="The loss is the mean of 64 samples; a mini-batch of B of them gives a noisy gradient "
                          "whose variance shrinks like 1/B. 'full' is the exact gradient.")
    st.number_input("seed", min_value=0, max_value=2**31 - 1, value=int(DEFAULT["pg_seed"]), step=1, key="pg_seed",
                    bind=Q, help="Every run meets the same noise at the same step: a fair race.")

# ---- the race: lesson, map and runs side by side -------------------------------------------
left, side = st.columns([3, 1], gap="small")
with side:
    runs_editor()
    lesson = st.empty()
view = ss.get("pg_view", "2D map")

# ---- compute ---------------------------------------------------------------------------
try:
    scene = S.scene_from_state(ss)
except (ValueError, TypeError, KeyError) as exc:
    st.error(f"These settings could not be read: {exc}. Load a preset from the gallery to start again.")
    st.stop()


preset_key = ss.get(handoff.LESSON)
if preset_key in S.PRESETS and S.canonical(S.PRESETS[preset_key].scene) == scene:
    p = S.PRESETS[preset_key]
    lesson.info(f"**{p.icon} {p.title}.** {p.note}")
else:
    lesson.caption("Your own race: load a lesson from the gallery to start again.")

res = _compute(repr(scene), scene)
for msg in res.errors:
    st.error(msg)
if not res.ok:
    st.stop()
for msg in res.warnings:
    st.info(msg)
for msg in res.notes:
    st.warning("💥 " + msg)

surface = S.make_surface(scene)
tr = res.traj
labels = res.labels
colors = [r.color or run_color(i) for i, r in enumerate(scene.runs)]
T = int(tr.steps)
title = getattr(surface, "title", "") or getattr(surface, "name", "")

fit_stored("pg_step", range(1, T + 1))
inspect_default = 1

right_a, right_b = st.columns([1, 1], gap="medium")
with left:
    if view == "3D surface":
        fig3 = F.surface3d_figure(surface, tr.positions[:, 0], labels, colors=colors,
                                  title=f"{title}: paths after {T} steps")
        st.plotly_chart(fig3, key="pg_3d", theme=None, config={"displaylogo": False})
    else:
        land = _landscape(repr((scene.surface, scene.surface_params, scene.formula, scene.window)), surface)
        race = F.race_figure(
            tr.positions[:, 0], labels, window=surface.window, background=land, colors=colors,
            starts=tr.starts[:, 0], minima=getattr(surface, "minima", None), title=f"{title} · {T} steps")
        # No inspector mark on the map: moving the inspector then leaves the (large) race figure unchanged,
        # so Streamlit does not resend it and a playing animation is not interrupted.
        ev = st.plotly_chart(race, key="pg_race", on_select="rerun", selection_mode="points", theme=None,
                             config={"displaylogo": False, "scrollZoom": False})
        points = ev["selection"]["points"] if ev else []
        if points:
            # The selection outlives reruns: apply each clicked point once, so a start typed later wins.
            sig = ("race", repr([(p.get("x"), p.get("y")) for p in points[:1]]))
            if ss.get(SEEN) != sig:
                ss[SEEN] = sig
                x, y = float(points[0]["x"]), float(points[0]["y"])
                handoff.queue_values(ss, {"pg_x0": round(x, 2), "pg_y0": round(y, 2)})
                st.rerun()
        st.caption("▶ plays the race from step 0; drag the step slider to scrub. Click the map to start there.")

with right_a:
    log_loss = st.toggle("log-scale loss", value=True, key="pg_log", bind=Q)
    fmin = getattr(surface, "global_min_value", None)
    fmin = None if fmin is None or not math.isfinite(fmin) else float(fmin)
    st.plotly_chart(
        F.loss_figure(tr.losses[:, 0], labels, colors=colors, log=log_loss, fmin=fmin,
                      inspect_step=ss.get("pg_step", inspect_default), diverged_step=tr.diverged_step[:, 0]),
        key="pg_loss", theme=None, config={"displaylogo": False})
with right_b:
    st.markdown("**Scoreboard**")
    rows = []
    dist = tr.distance_to_minimum
    for k, lab in enumerate(labels):
        ds = int(tr.diverged_step[k, 0])
        thr = int(tr.steps_to_threshold[k, 0])
        d = dist[k, 0]
        rows.append({
            "run": lab,
            "diverged": "—" if ds < 0 else f"💥 step {ds}: {tr.diverged_reason[k, 0]}",
            "final loss": "—" if ds >= 0 else f"{tr.final_losses[k, 0]:.4g}",
            "steps to loss ≤ min + 10⁻³": "never" if thr < 0 else str(thr),
            "distance to minimum": "—" if ds >= 0 or not math.isfinite(d) else f"{d:.3g}",
        })
    st.dataframe(rows, hide_index=True, width="stretch")

# ---- step inspector ---------------------------------------------------------------------
st.subheader("🔍 Step inspector")
c1, c2 = st.columns([3, 2])
step = c1.slider("inspect step", 1, T, inspect_default, key="pg_step", bind=Q,
                 help="Step s takes each run from θₛ₋₁ to θₛ; the map and the loss chart mark it.")
run_names = [f"{k + 1}: {lab}" for k, lab in enumerate(labels)]
fit_stored("pg_insp", range(len(labels)))
k_insp = c2.selectbox("run", list(range(len(labels))), format_func=lambda k: run_names[k], key="pg_insp", bind=Q)
view_k = I.inspect_step(tr, int(k_insp), int(step), label=labels[int(k_insp)])
if view_k.diverged:
    st.warning(view_k.notes[0])
else:
    for note in view_k.notes:
        st.caption(note)
    if view_k.generic:
        st.caption(f"{view_k.optimizer}'s update rule (the numbers are in the table):")
    for line in view_k.latex:
        st.latex(line)
    st.dataframe(view_k.rows(), hide_index=True, width="stretch",
                 column_config={"θ₁": st.column_config.NumberColumn(format="%.5g"),
                                "θ₂": st.column_config.NumberColumn(format="%.5g")})
summary = []
for k, lab in enumerate(labels):
    v = I.inspect_step(tr, k, int(step), label=lab)
    summary.append({"run": lab, "θ₁": float(v.position_after[0]), "θ₂": float(v.position_after[1]),
                    "‖g‖": float(np.hypot(*v.grad)), "η in force": v.lr,
                    "effective step θ₁": float(v.effective_lr[0]), "effective step θ₂": float(v.effective_lr[1])})
with st.expander(f"All runs at step {step}"):
    st.dataframe(summary, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.4g") for c in summary[0] if c != "run"})

# ---- analyses ---------------------------------------------------------------------------
has_stability = getattr(surface, "lipschitz", None) is not None
tab_names = ["📖 Theory", "🗺️ Convergence map", "🎛️ Sensitivity map"] + (["📐 Stability"] if has_stability else [])
tabs = st.tabs(tab_names, on_change="rerun", key="pg_tab", bind=Q)


def _analysis_run() -> int:
    names = [f"{k + 1}: {lab}" for k, lab in enumerate(labels)]
    fit_stored("pg_an_run", range(len(labels)))
    return int(st.selectbox("run to analyse", list(range(len(labels))), format_func=lambda k: names[k],
                            key="pg_an_run", bind=Q))


with tabs[0]:
    if tabs[0].open is not False:
        seen = []
        for run in scene.runs:
            if run.optimizer in seen:
                continue
            seen.append(run.optimizer)
            info = registry.get_optimizer(run.optimizer)
            run_hp = {kk: v for kk, v in run.hyper_dict().items() if v is not None}
            st.markdown(f"### {info.name}")
            st.latex(info.latex)
            c1, c2 = st.columns(2)
            c1.markdown(f"**When practitioners use it.** {info.summary}")
            try:
                per_param = info.state_bytes_per_param(4, **run_hp)
            except (TypeError, ValueError):
                per_param = info.state_bytes_per_param(4)
            c2.markdown(f"**Memory.** {info.state_note} (≈ {fmt(per_param)} bytes of state per float32 parameter.)")
            c2.markdown(f"**Paper.** {info.paper}")
        scheds = sorted({r.schedule for r in scene.runs if r.schedule})
        for name in scheds:
            if name in SCHEDULES:
                st.markdown(f"### Schedule: {name}")
                st.latex(SCHEDULES[name].latex)
                st.caption(SCHEDULES[name].summary)

with tabs[1]:
    if tabs[1].open:
        st.caption("The chosen run repeated from every point of a grid over the map (no noise): how many steps "
                   "it needs to reach the loss threshold, and which minimum it ends in.")
        k = _analysis_run()
        n = st.select_slider("grid", options=(20, 40, 60, 80, 100), value=40, format_func=lambda v: f"{v} × {v}",
                             key="pg_conv_n", bind=Q)
        steps_c = int(min(T, 1000))
        if n * n * steps_c > LIMITS.max_rows_x_steps:
            st.error(f"{n}×{n} starts × {steps_c} steps is more than one request may compute.")
        else:
            spec = tr.specs[k]
            try:
                cmap = _convergence_map(repr((scene.surface, scene.surface_params, scene.formula, scene.window, spec,
                                              n, steps_c)), surface, spec, n, steps_c)
            except (ImportError, ValueError) as exc:
                st.error(f"The convergence map could not be computed: {exc}")
            else:
                c1, c2 = st.columns(2)
                minima = getattr(surface, "minima", None)
                c1.plotly_chart(F.convergence_map_figure(cmap, kind="steps", minima=minima,
                                                         title=f"Steps to converge: {labels[k]}"),
                                key="pg_conv_steps", theme=None)
                if minima is not None and len(minima) > 1:
                    c2.plotly_chart(F.convergence_map_figure(cmap, kind="basin", minima=minima,
                                                             title="Which minimum each start reaches"),
                                    key="pg_conv_basin", theme=None)
                else:
                    c2.markdown("This surface has a single known minimum, so every start that converges ends "
                                "there; the map on the left shows how long each one takes.")
                st.caption("Grey: never reached the threshold. Dark red: diverged.")

with tabs[2]:
    if tabs[2].open:
        st.caption("Final loss of the chosen run over a grid of two of its hyperparameters, from the same start "
                   "(no noise). Click a cell to race that configuration.")
        k = _analysis_run()
        run = scene.runs[k]
        floats = [h for h in S.shown_hypers(run.optimizer) if h.kind == "float" and h.low is not None]
        names = [h.name for h in floats]
        if len(floats) < 2:
            st.info(f"{run.optimizer} has fewer than two numeric hyperparameters to sweep.")
        else:
            labels_h = {h.name: h.display for h in floats}
            preferred = [h.name for h in floats if h.role == "cycled_momentum"] + ["alpha", "rho", "beta2"]
            second = next((n for n in preferred if n in names and n != "lr"), names[1])
            c1, c2, c3 = st.columns(3)
            for key in ("pg_sens_x", "pg_sens_y"):
                fit_choice(key, names)
            xp = c1.selectbox("x axis", names, index=names.index("lr") if "lr" in names else 0,
                              format_func=labels_h.get, key="pg_sens_x", bind=Q)
            yp = c2.selectbox("y axis", names, index=names.index(second), format_func=labels_h.get, key="pg_sens_y",
                              bind=Q)
            ng = c3.select_slider("grid", options=(9, 15, 21, 31), value=21, key="pg_sens_n", bind=Q)
            if xp == yp:
                st.warning("Choose two different hyperparameters.")
            else:
                hp = run.hyper_dict()

                def axis(name):
                    h = next(h for h in floats if h.name == name)
                    return S.sweep_values(h, hp.get(name), ng)

                xs, ys = axis(xp), axis(yp)
                base = {kk: v for kk, v in hp.items() if kk not in (xp, yp)}
                start = np.array(run.start or S.scene_start(scene, surface))
                opts = {"schedule": tr.specs[k].schedule, "clip_norm": run.clip_norm, "clip_value": run.clip_value,
                        "lookahead": run.lookahead}
                try:
                    smap = _sensitivity_map(repr((scene.surface, scene.surface_params, scene.formula, scene.window,
                                                  run, xp, yp, ng, tuple(start), T)),
                                            surface, run.optimizer, xp, xs, yp, ys, start, T, base, opts)
                except (ImportError, ValueError) as exc:
                    st.error(f"The sensitivity map could not be computed: {exc}")
                else:
                    cur = (float(hp.get(xp) or 0), float(hp.get(yp) or 0))
                    ev2 = st.plotly_chart(
                        F.sensitivity_map_figure(smap, x_label=labels_h[xp], y_label=labels_h[yp], current=cur,
                                                 title=f"{run.optimizer}: final loss after {T} steps"),
                        key="pg_sens", on_select="rerun", selection_mode="points", theme=None)
                    pts = ev2["selection"]["points"] if ev2 else []
                    pts = [p for p in pts if p.get("customdata") is not None]
                    if pts:
                        sig = ("sens", xp, yp, repr(pts[0].get("customdata")))
                        if ss.get(SEEN) != sig:
                            ss[SEEN] = sig
                            xv, yv = (float(v) for v in pts[0]["customdata"][:2])
                            hx = next(h for h in floats if h.name == xp)
                            hy = next(h for h in floats if h.name == yp)
                            handoff.queue_values(ss, {f"pg_r{k}_{xp}": snap(xv, hx), f"pg_r{k}_{yp}": snap(yv, hy)})
                            st.rerun()
                    st.caption("Dark red ✕: diverged. The framed cell is the run's current setting; click another "
                               "cell to race it.")

if has_stability:
    with tabs[3]:
        if tabs[3].open:
            L = float(surface.lipschitz)
            mu = float(getattr(surface, "strong_convexity", L))
            betas = [float(dict(r.hypers).get("momentum", 0.0)) for r in scene.runs if r.optimizer == "SGD"]
            beta = max([b for b in betas if b > 0], default=0.9)
            try:
                from optim_core.analysis import quadratic_stability

                theory = quadratic_stability(L, mu, beta)
            except (ImportError, ValueError) as exc:
                st.error(f"The stability theory could not be computed: {exc}")
                st.stop()
            st.markdown(
                f"On a quadratic with curvatures μ = {fmt(mu)} … L = {fmt(L)} (κ = {fmt(round(L / mu, 4))}), "
                f"gradient descent converges only for **η < 2/L = {fmt(round(2 / L, 5))}** and heavy-ball "
                f"momentum β = {fmt(beta)} for **η < 2(1+β)/L = {fmt(round(2 * (1 + beta) / L, 5))}**. "
                f"The fastest plain step is η = 2/(L+μ) = {fmt(round(theory['gd_optimal_lr'], 5))}; Polyak's best "
                f"momentum is β = {fmt(round(theory['optimal_momentum'], 4))} with "
                f"η = {fmt(round(theory['optimal_momentum_lr'], 5))}.")
            st.latex(r"\text{GD: } e_{t+1} = (1-\eta\lambda)\,e_t \;\Rightarrow\; |1-\eta L|<1 \iff \eta<\tfrac{2}{L}"
                     r"\qquad \text{heavy ball: } \eta < \tfrac{2(1+\beta)}{L}")
            lrs = np.geomspace(2 / L / 30, 2 * (1 + beta) / L * 2.5, 41)
            start = np.array(S.scene_start(scene, surface))
            steps_s = int(min(T, 500))
            fl, dv = _stability_sweep(repr((scene.surface, scene.surface_params, beta, tuple(start), steps_s)),
                                      surface, lrs, beta, start, steps_s)
            fig_s = F.stability_figure(
                lrs, {"gradient descent": fl[0], f"heavy ball β = {fmt(beta)}": fl[1]},
                {"gradient descent": dv[0], f"heavy ball β = {fmt(beta)}": dv[1]},
                bounds={"2/L": 2 / L, "2(1+β)/L": 2 * (1 + beta) / L},
                colors={"gradient descent": run_color(0), f"heavy ball β = {fmt(beta)}": run_color(1)},
                title=f"Final loss after {steps_s} steps against η — the dashed lines are the theory's limits")
            st.plotly_chart(fig_s, key="pg_stab", theme=None)
