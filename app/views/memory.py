"""Memory: the bytes that training a model keeps, per optimizer (parameters, gradients, state)."""

from __future__ import annotations

import streamlit as st

from app.memory import model as M
from app.memory.figures import memory_figure
from app.ui import presenter, screen
from app.ui.widgets import Remembered, fit_choice
from optim_core import registry

UNITS = {"thousand": 1e3, "million": 1e6, "billion": 1e9}
CUSTOM = "Custom"


def _split(n: float) -> tuple[float, str]:
    for unit in ("billion", "million", "thousand"):
        if n >= UNITS[unit]:
            return round(n / UNITS[unit], 6), unit
    return round(n / 1e3, 6), "thousand"


def _apply_preset() -> None:
    preset = M.PRESETS.get(st.session_state["mem_preset"])
    if preset is None:
        return
    st.session_state["mem_count"], st.session_state["mem_unit"] = _split(preset.n_params)
    st.session_state["mem_side"] = preset.side
    st.session_state["mem_dtype"] = preset.dtype


def _to_custom() -> None:
    st.session_state["mem_preset"] = CUSTOM


def _table(rows: list[dict]) -> dict[str, list]:
    return {
        "optimizer": [r["optimizer"] for r in rows],
        "family": [r["family"] for r in rows],
        "state bytes / parameter": [r["state_bytes_per_param"] for r in rows],
        "parameters (GB)": [r["params_gb"] for r in rows],
        "gradients (GB)": [r["grads_gb"] for r in rows],
        "optimizer state (GB)": [r["state_gb"] for r in rows],
        "total (GB)": [r["total_gb"] for r in rows],
        "what the state is": [r["state_note"] for r in rows],
    }


TITLE = "How much memory does the optimizer need?"
INTRO = ("Training keeps the parameters, one gradient per parameter, and the optimizer's state. "
         f"GB here are decimal: 1 GB = 10⁹ bytes (1 GiB = {M.GIB / M.GB:.3f} GB).")
# Presenter mode (?presenter=1): the chart with the model's size and the answer beside it on one 1280x720
# screen; the choice of optimizers, the assumptions and the table follow.
PRESENTER = presenter.on()
# A chosen projector theme mounts its switch above the page, moving the page down a little.
SHIFT = screen.THEME_SWITCH if st.session_state.get(presenter.THEME) else 0

st.title(TITLE)
if not PRESENTER:
    st.caption(INTRO)

# The widgets are not bound to the URL: their values are kept while another page runs.
KEPT = Remembered("_mem_saved")
KEPT.restore()
if "mem_preset" not in st.session_state:
    st.session_state["mem_preset"] = M.DEFAULT_PRESET
    _apply_preset()
all_names = list(registry.optimizers())
_default = M.PRESETS[M.DEFAULT_PRESET]
_count, _unit = _split(_default.n_params)
for _k, _v in (("mem_preset", M.DEFAULT_PRESET), ("mem_count", _count), ("mem_unit", _unit),
               ("mem_side", _default.side), ("mem_dtype", _default.dtype), ("mem_optimizers", all_names),
               ("mem_variants", True), ("mem_barmode", "stacked")):
    KEPT.seed(_k, _v)
fit_choice("mem_optimizers", all_names)

if PRESENTER:
    chart_box, side = st.columns(screen.split(screen.CHART_WIDTH), gap="medium")
    c1 = side.container()
    c2, c3 = side.columns([3, 2])
    c4, answer = side.container(), side.container()
    o1 = o2 = st.container()
    st.caption(INTRO)
else:
    c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
    o1, o2 = st.columns([5, 2])
c1.selectbox("Model", [*M.PRESETS, CUSTOM], key="mem_preset", on_change=_apply_preset,
             help="Familiar model sizes; editing the number switches to Custom.")
c2.number_input("Parameters", min_value=0.0, step=1.0, format="%g", key="mem_count", on_change=_to_custom)
c3.selectbox("×", list(UNITS), key="mem_unit", on_change=_to_custom)
c4.selectbox("dtype", list(M.DTYPES), key="mem_dtype",
             help=f"Parameters, gradients and state all in this type ({M.dtype_sizes_text()}).")

chosen = o1.multiselect("Optimizers", all_names, key="mem_optimizers")
with o2:
    show_variants = st.toggle("Memory-changing settings too", key="mem_variants",
                              help="Add rows such as SGD with momentum or Adam with AMSGrad.")
    stacked = st.radio("Bars", ["stacked", "grouped"], horizontal=True, key="mem_barmode") == "stacked"

with st.expander("Assumptions"):
    st.number_input("Typical matrix side (about the hidden size)", min_value=1, max_value=100_000, step=64,
                    key="mem_side", on_change=_to_custom)
    st.markdown(
        "Each optimizer's state is computed for one tensor shape. The model is taken as square "
        "*side × side* matrices, which only matters for **Adafactor** (it keeps *n + m* numbers per "
        "*n × m* matrix) and **Adam8bit** (one scale per block). Activations and mixed-precision "
        "master weights are not counted."
    )

KEPT.save()

n_params = float(st.session_state["mem_count"]) * UNITS[st.session_state["mem_unit"]]
dtype = st.session_state["mem_dtype"]
matrix_side = int(st.session_state["mem_side"])
preset = M.PRESETS.get(st.session_state["mem_preset"])
if PRESENTER:
    notes = answer
    chart_area = chart_box
else:
    notes = chart_area = st.container()
if preset is not None and preset.note:
    notes.caption(preset.note)

too_many = M.count_problem(n_params)  # (the model's bound: app.budget.MEMORY_MAX_PARAMS)
if n_params <= 0:
    notes.warning("Enter a number of parameters above zero.")
elif too_many:
    c2.error(too_many)
elif not chosen:
    notes.info("Pick at least one optimizer to compare.")
else:
    headline = "Adam" if "Adam" in all_names else chosen[0]
    notes.success("**" + M.course_sentence(n_params, dtype, headline, matrix_side) + "**")
    rows = M.memory_table(n_params, dtype, chosen, matrix_side, show_variants)
    fig = memory_figure(rows, stacked)
    if PRESENTER:  # every bar on the first screen, however many (the chart's own height grows with them),
        fig.update_layout(height=screen.room(screen.MEMORY_TOP, SHIFT))  # and every optimizer named, however close
        fig.update_yaxes(dtick=1)
    chart_area.plotly_chart(fig, key="mem_chart", width="stretch", theme=None)
    st.dataframe(
        _table(rows),
        hide_index=True,
        width="stretch",
        column_config={
            col: st.column_config.NumberColumn(col, format="%.4g")
            for col in ("state bytes / parameter", "parameters (GB)", "gradients (GB)", "optimizer state (GB)", "total (GB)")
        },
        key="mem_table",
    )
