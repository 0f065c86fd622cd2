"""η·λₘₐₓ on the Playground through AppTest: the step inspector's value on a quadratic equals the hand
value, the Stability tab says where a path leaves the stable region, and every surface draws both.

Hand values: the Ravine's Hessian has eigenvalues 1 and κ (its docstring's definition, f = (u² + κv²)/2),
so λₘₐₓ = κ everywhere; LinearLR's lr at step s is η(f₀ + (1 − f₀)·min(s − 1, n)/n).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.playground import figures as F
from app.playground import scene as S
from optim_core import registry

from tests.apptest import clean, fresh


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown]


def latex(at: AppTest) -> list[str]:
    """The page's formulas, without the $$ … $$ that st.latex wraps them in."""
    return [m.value.strip().removeprefix("$$").removesuffix("$$").strip() for m in at.latex]


def sharpness_chart(at: AppTest) -> dict:
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    found = [s for s in specs if "at each step" in s["layout"]["title"]["text"]]
    assert len(found) == 1, [s["layout"].get("title") for s in specs]
    return found[0]


def inspector_value(at: AppTest) -> float:
    """The η·λₘₐₓ the inspector's sentence states."""
    (line,) = [t for t in texts(at) if t.startswith("**Step ")]
    return float(re.search(r"η·λₘₐₓ = ([-0-9.e]+)", line).group(1))


RAVINE = {"pg_surface": "Ravine", "pg_sp_kappa": "25", "pg_nruns": "2", "pg_r0_lr": "0.07", "pg_r1_lr": "0.07",
          "pg_r1_momentum": "0.7", "pg_steps": "50"}


def test_inspector_shows_eta_lambda_max_of_gd_on_a_quadratic():
    at = fresh(RAVINE)
    at.slider(key="pg_step").set_value(7).run()
    clean(at)
    # λₘₐₓ = κ = 25 at every point; η = 0.07: 0.07 · 25 = 1.75 < 2.
    assert inspector_value(at) == pytest.approx(1.75, abs=5e-4)
    (line,) = [t for t in texts(at) if t.startswith("**Step ")]
    assert line.startswith("**Step 7: η·λₘₐₓ = 1.75 < 2, stable.**") and "Gradient descent's rule" in line
    lines = latex(at)
    i = next(i for i, x in enumerate(lines) if x.startswith(r"H(\theta_{6})"))
    assert lines[i].endswith(r"\lambda_{\max} = 25") and lines[i + 1].endswith(r"0.07\cdot25 = 1.75 < 2"), lines
    # Run 2 is heavy ball, β = 0.7: the same 1.75, against 2(1 + 0.7) = 3.4.
    at.selectbox(key="pg_insp").set_value(1).run()
    clean(at)
    (line,) = [t for t in texts(at) if t.startswith("**Step ")]
    assert line.startswith("**Step 7: η·λₘₐₓ = 1.75 < 3.4, stable.**") and "Heavy-ball momentum's rule" in line
    # The table of all runs has the column, for both runs.
    table = next(df.value for df in at.dataframe if "η·λₘₐₓ" in df.value.columns)
    assert table["η·λₘₐₓ"].to_numpy() == pytest.approx([1.75, 1.75], rel=1e-12)


def test_inspector_names_the_unstable_side_and_the_adaptive_rule():
    at = fresh({**RAVINE, "pg_r0_lr": "0.1", "pg_r1_opt": "Adam"})
    clean(at)
    (line,) = [t for t in texts(at) if t.startswith("**Step ")]
    assert line.startswith("**Step 1: η·λₘₐₓ = 2.5 ≥ 2, at or past the edge: unstable.**")  # 0.1 · 25
    at.selectbox(key="pg_insp").set_value(1).run()
    clean(at)
    (line,) = [t for t in texts(at) if t.startswith("**Step ")]
    assert "η·λₘₐₓ(P⁻¹H)" in line and "2(1+β₁)/(1−β₁) = 38" in line


# A warm-up into instability: Ravine κ = 10 (λₘₐₓ = 10), η = 0.25, LinearLR from 0.3η over 10 steps. Step s
# runs at 0.25·(0.3 + 0.07·(s − 1)) until s = 11, so η·λₘₐₓ = 2.5·(0.3 + 0.07(s − 1)): 1.975 at step 8, 2.15 at
# step 9. The path leaves the stable region at step 9 and never comes back (2.5 from step 11 on): it diverges.
# (A start factor of 0.25 would make step 3's η·λₘₐₓ exactly 1: a Newton step that zeroes the steep coordinate,
# which then stays 0 however unstable the step; no divergence to see.)
WARMUP = {"pg_surface": "Ravine", "pg_nruns": "1", "pg_r0_lr": "0.25", "pg_r0_sched": "LinearLR",
          "pg_r0_s_start_factor": "0.3", "pg_r0_s_total_iters": "10", "pg_steps": "200", "pg_tab": "Stability"}


def test_stability_tab_marks_where_a_warmup_leaves_the_stable_region():
    at = fresh(WARMUP)
    clean(at)
    said = [t for t in texts(at) if t.startswith("**SGD")]
    assert len(said) == 1, texts(at)
    assert "starts in the stable region" in said[0] and "**leaves it** at step 9" in said[0], said[0]
    assert "re-enters" not in said[0] and "it diverges at step" in said[0]
    spec = sharpness_chart(at)
    traces = {t.get("name"): t for t in spec["data"]}
    leaves = traces["leaves the stable region"]
    assert F.decode_array(leaves["x"]).tolist() == [9]
    assert "re-enters the stable region" not in traces
    threshold = traces["threshold 2"]
    assert F.decode_array(threshold["y"]).tolist() == [2.0, 2.0]
    curve = F.decode_array(traces["η·λₘₐₓ"]["y"])
    assert curve.dtype == np.float64 and curve.shape[0] == 200
    hand = 2.5 * (0.3 + 0.07 * np.arange(8))  # steps 1..8
    np.testing.assert_allclose(curve[:8], hand, rtol=1e-12)
    assert curve[8] == pytest.approx(2.15, rel=1e-12)
    # The table of every run agrees.
    table = next(df.value for df in at.dataframe if "first leaves" in df.value.columns)
    assert table["first leaves"].tolist() == ["9"] and table["first re-enters"].tolist() == ["—"]


def test_stability_tab_on_the_default_race_lists_every_run():
    at = fresh({"pg_tab": "Stability"})
    clean(at)
    table = next(df.value for df in at.dataframe if "first leaves" in df.value.columns)
    assert len(table) == 6
    assert dict(zip(table["run"], table["quantity"]))["Adam (η = 0.1)"] == "η·λₘₐₓ(P⁻¹H)"
    at.selectbox(key="pg_an_run").set_value(5).run()  # Lion: measured against GD's 2 as a yardstick
    clean(at)
    assert any("No rule of this form for Lion" in t for t in texts(at))
    assert "GD's limit 2 (yardstick)" in {t.get("name") for t in sharpness_chart(at)["data"]}


SURFACES = list(registry.surfaces())


@pytest.mark.parametrize("surface", SURFACES + ["custom: x**2 + 3*y**2", "custom: abs(x) + sin(3*y)*x"])
def test_every_surface_shows_eta_lambda_max_without_an_exception(surface):
    if surface.startswith("custom: "):
        query = {"pg_surface": S.CUSTOM, "pg_formula": surface[len("custom: "):]}
    else:
        query = {"pg_surface": surface}
    at = fresh({**query, "pg_nruns": "2", "pg_r1_opt": "Adam", "pg_steps": "100", "pg_tab": "Stability"})
    clean(at)
    assert any(t.startswith("**Step 1:") and "η·λₘₐₓ" in t for t in texts(at)), texts(at)
    spec = sharpness_chart(at)
    assert spec["layout"]["yaxis"]["title"]["text"] in ("η·λₘₐₓ", "η·λₘₐₓ(P⁻¹H)")
    table = next(df.value for df in at.dataframe if "first leaves" in df.value.columns)
    assert len(table) == 2
