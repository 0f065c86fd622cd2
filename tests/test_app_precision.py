"""The Playground's precision control through AppTest: choosing bfloat16 shows the lost updates, a
link with the precision reproduces the scene, and a link without it is the float64 race as before."""

from __future__ import annotations

import json
import re

import numpy as np
from streamlit.testing.v1 import AppTest

from app.playground import race_view as V
from app.playground import state as U
from app.playground.precision import remedy_scene
from app.playground.presets import DEFAULT_SCENE

from tests.apptest import clean, fresh

# SGD with a small lr on the ravine (f = (θ₁² + 10 θ₂²)/2) from (−2.5, 0.8): in bfloat16 each θ₁
# update (0.002 · 2.5 = 0.005) is below half an ulp at 2.5 (2⁻⁷ = 0.0078), so θ₁ never moves.
STALL = {"pg_surface": "Ravine", "pg_x0": "-2.5", "pg_y0": "0.8", "pg_steps": "500", "pg_nruns": "1",
         "pg_r0_opt": "SGD", "pg_r0_lr": "0.002"}


def race_paths(at: AppTest) -> list[np.ndarray]:
    (payload,) = [p for p in (json.loads(el.proto.json) for el in at.get("bidi_component")) if p["kind"] == "race"]
    return [V.decode_path(r["path"]) for r in payload["runs"]]


def scene_of(at: AppTest):
    return U.scene_from_state({k: at.session_state[k] for k in at.session_state if k.startswith("pg_")})


def readouts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "updates" in m.value and "of" in m.value]


def test_choosing_bfloat16_shows_the_lost_updates():
    at = fresh(STALL)
    clean(at)
    assert not readouts(at)  # float64: no panel
    at.selectbox(key="pg_prec").set_value("bfloat16").run()
    clean(at)
    (line,) = readouts(at)
    counts = re.findall(r"\*\*(\d+) of (\d+)\*\*", line)
    assert counts[0] == ("500", "500"), line  # every θ₁ update rounded away
    assert "θ₁ is stuck at -2.5 from step 0 on" in line, line
    assert any("half an ulp" in m.value for m in at.markdown)
    (path,) = race_paths(at)
    assert path.shape[1] == 2 and np.all(path[:, 0] == np.float32(-2.5))  # θ₁ never left its start
    # The remedy control appears for the run; the remedies button races run 1 four ways.
    assert at.selectbox(key=U.run_key(0, "rem")).value == "none"
    at.button(key="pg_prec_remedies").click().run()
    clean(at)
    assert [at.selectbox(key=U.run_key(i, "rem")).value for i in range(4)] == ["none", "master", "kahan",
                                                                              "stochastic"]
    lines = readouts(at)
    assert len(lines) == 4
    paths = race_paths(at)
    assert len(paths) == 4 and np.all(paths[0][:, 0] == np.float32(-2.5))
    assert all(p[-1, 0] > -1.0 for p in paths[1:])  # the remedies slide down the ravine's floor


def test_a_link_with_the_precision_reproduces_the_scene():
    scene = remedy_scene(U.scene_from_state({**STALL, "pg_prec": "float16"}))
    link = U.url_params(U.state_from_scene(scene))
    assert link["pg_prec"] == "float16" and link[U.run_key(1, "rem")] == "master"
    at = fresh(link)
    clean(at)
    assert scene_of(at) == U.canonical(scene)
    assert len(readouts(at)) == 4


def test_a_link_without_the_precision_is_float64():
    at = fresh({})
    clean(at)
    assert at.selectbox(key="pg_prec").value == "float64"
    assert scene_of(at) == U.canonical(DEFAULT_SCENE)
    assert not readouts(at)
    # A precision no widget offers is dropped: float64.
    at = fresh({**STALL, "pg_prec": "float8"})
    clean(at)
    assert at.selectbox(key="pg_prec").value == "float64"
