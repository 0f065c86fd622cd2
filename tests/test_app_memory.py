"""The Memory page through streamlit.testing.v1.AppTest (no browser)."""

from __future__ import annotations

import base64
import json
import os

import numpy as np
from streamlit.testing.v1 import AppTest

from optim_core import registry
from tests.layout_tree import contains, position, side_by_side

MAIN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "app", "main.py")
PAGE = "views/memory.py"


def open_page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def values(trace: dict, axis: str) -> list:
    v = trace[axis]
    if isinstance(v, dict) and "bdata" in v:  # plotly >= 6 encodes arrays as typed base64
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def figure(at) -> dict:
    (chart,) = at.get("plotly_chart")
    return json.loads(chart.proto.spec)


def test_default_answers_the_course_question():
    at = open_page()
    (sentence,) = at.success
    assert "10B float32 parameters with Adam: 40 GB of parameters + 80 GB of optimizer state" in sentence.value
    fig = figure(at)
    assert [t["name"] for t in fig["data"]] == ["parameters", "gradients", "optimizer state"]
    labels = values(fig["data"][0], "y")
    assert set(registry.optimizers()) <= set(labels)  # every optimizer by default
    state = dict(zip(labels, values(fig["data"][2], "x")))
    assert state["Adam"] == 80 and state["SGD"] == 0
    assert state[next(label for label in labels if label.startswith("SGD (momentum"))] == 40
    assert fig["layout"]["barmode"] == "stack"


def test_presets_dtype_and_custom_counts():
    at = open_page()
    at.selectbox(key="mem_preset").select("GPT-3 (175B)").run()
    assert at.number_input(key="mem_count").value == 175 and at.selectbox(key="mem_unit").value == "billion"
    assert at.success[0].value.startswith("**175B float32 parameters with Adam: 700 GB")
    at.selectbox(key="mem_dtype").select("bfloat16").run()
    assert "350 GB of parameters" in at.success[0].value
    at.number_input(key="mem_count").set_value(1.5).run()
    assert at.selectbox(key="mem_preset").value == "Custom"
    assert at.success[0].value.startswith("**1.5B bfloat16")
    assert not at.exception


def test_selection_grouped_bars_and_empty_cases():
    at = open_page()
    at.multiselect(key="mem_optimizers").set_value(["Adam", "Adam8bit"]).run()
    at.toggle(key="mem_variants").set_value(False).run()
    at.radio(key="mem_barmode").set_value("grouped").run()
    fig = figure(at)
    assert values(fig["data"][0], "y") == ["Adam", "Adam8bit"]
    assert fig["layout"]["barmode"] == "group"
    state = values(fig["data"][2], "x")
    assert state[1] < state[0] / 3.5  # 8-bit moments: about a quarter of Adam's state
    at.multiselect(key="mem_optimizers").set_value([]).run()
    assert at.info and not at.get("plotly_chart")
    at.multiselect(key="mem_optimizers").set_value(["SGD"]).run()
    at.number_input(key="mem_count").set_value(0.0).run()
    assert at.warning and not at.exception


def test_values_survive_a_visit_to_another_page():
    at = open_page()
    at.selectbox(key="mem_preset").select("BERT-base (110M)").run()
    at.switch_page("views/playground.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.selectbox(key="mem_preset").value == "BERT-base (110M)"
    assert at.success[0].value.startswith("**110M float32")


def test_memory_page_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({MAIN!r}, default_timeout=60)\n"
        "at.run()\n"
        f"at.switch_page({PAGE!r}).run()\n"
        "assert not at.exception, at.exception\n"
        "assert 'torch' not in sys.modules, 'the Memory page imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- presenter mode (?presenter=1): one 1280x720 screen ------------------------------------------------
def test_presenter_mode_puts_the_model_and_the_answer_beside_a_chart_that_fits_the_screen():
    normal = figure(open_page())
    at = open_page({"presenter": "1"})
    assert not at.exception, at.exception
    # The chart, with the model's size, its dtype and the answer in a column beside it (the sidebar is closed).
    for key in ("mem_preset", "mem_count", "mem_unit", "mem_dtype"):
        assert side_by_side(at.main, dict(key="mem_chart"), dict(key=key)), key
    assert side_by_side(at.main, dict(key="mem_chart"), dict(kind="success"))
    (sentence,) = at.success
    assert "10B float32 parameters with Adam: 40 GB of parameters + 80 GB of optimizer state" in sentence.value
    fig = figure(at)
    # Every bar (21 rows by default) on the first screen: under a one-line title, within 720 px,
    # however tall the chart is in the normal layout; every optimizer still named on its axis.
    assert values(fig["data"][0], "y") == values(normal["data"][0], "y") and len(values(fig["data"][0], "y")) > 15
    assert normal["layout"]["height"] > 720
    assert fig["layout"]["height"] <= 720 - 140
    assert fig["layout"]["yaxis"].get("dtick") == 1
    # The choice of optimizers, the assumptions and the table come after the chart.
    chart = position(at.main, "mem_chart")
    assert chart < position(at.main, "mem_optimizers") < position(at.main, kind="dataframe")
    assert chart < position(at.main, label="Assumptions")
    # The same controls change the same chart.
    at.selectbox(key="mem_dtype").select("bfloat16").run()
    assert "20 GB of parameters" in at.success[0].value and not at.exception


def test_normal_layout_keeps_the_controls_above_the_chart():
    at = open_page()
    assert not side_by_side(at.main, dict(key="mem_chart"), dict(key="mem_preset"))
    assert position(at.main, "mem_preset") < position(at.main, "mem_chart")
    assert not contains(at.sidebar, "mem_preset")
