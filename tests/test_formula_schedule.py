"""FormulaLR: a schedule typed as a formula of the step t and the run length T.

Every expected value is written here independently, as a Python function with ``math`` (never
the formula parser): the curve and the class against ``torch.optim.lr_scheduler.LambdaLR``
driven by that function, step by step in float64 (one and two param groups); hostile text is
refused fast with a message; the "copy as PyTorch" code and the Playground's PyTorch script run
in a fresh Python with torch and give the curve; the Schedules page draws a typed formula and
says what is wrong with a bad one; a run on the Playground follows it, from a link too.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import optim_core
from app.playground import race_view as V
from app.playground import scene as S
from app.playground import state as U
from optim_core import registry
from optim_core.formula import FormulaError
from optim_core.schedules.formula import FormulaLR, formula_lr
from tests.asserts import assert_same, reference

torch = reference("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN = os.path.join(ROOT, "app", "main.py")
INFO = registry.get_schedule("FormulaLR")

# (typed formula, the same function written by hand); T is the run length.
FORMULAS = [
    ("0.5*(1+cos(pi*t/T))", lambda t, T: 0.5 * (1 + math.cos(math.pi * t / T))),
    ("min(1, t/100) * 0.99**t", lambda t, T: min(1, t / 100) * 0.99**t),
    ("1/sqrt(max(t, 1))", lambda t, T: 1 / math.sqrt(max(t, 1))),
    ("(1 - t/T)^2 + 0.01", lambda t, T: (1 - t / T) ** 2 + 0.01),
    ("exp(-3*t/T) + 0.1*sigmoid(t - 50)", lambda t, T: math.exp(-3 * t / T) + 0.1 / (1 + math.exp(-(t - 50)))),
    ("abs(sin(2*pi*t/50)) * e^(-t/T)", lambda t, T: abs(math.sin(2 * math.pi * t / 50)) * math.e ** (-t / T)),
    ("softplus(t/40 - 2) / ln(2 + t)", lambda t, T: math.log1p(math.exp(t / 40 - 2)) / math.log(2 + t)),
    ("2.5e-1 + tanh(T/(t + 1))", lambda t, T: 0.25 + math.tanh(T / (t + 1))),
]
IDS = [f for f, _ in FORMULAS]


def torch_lrs(fn, base_lrs, n):
    """The lr of every param group at steps 0..n-1 under torch's LambdaLR with ``fn``."""
    params = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)) for _ in base_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs)])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, fn)
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return np.asarray(out, dtype=np.float64)


# -- the core against torch --------------------------------------------------------------------------
@pytest.mark.parametrize("formula,fn", FORMULAS, ids=IDS)
@pytest.mark.parametrize("base_lr", [0.1, 3e-4])
def test_curve_equals_torch_lambdalr(formula, fn, base_lr):
    n, T = 300, 250  # past T too: the formula goes on
    want = torch_lrs(lambda t: fn(t, T), [base_lr], n)[:, 0]
    got = formula_lr(n, base_lr, formula=formula, T=T)["lr"]
    # atol: sin(2πk) is ~1e-16 instead of 0, rounded differently by NumPy and math.
    assert_same(got, want, rtol=1e-12, atol=1e-15 * base_lr)
    # The registry's curve is the same function (checked for finiteness on the way).
    assert_same(INFO.curve(n, base_lr, formula=formula, T=T)["lr"], want, rtol=1e-12, atol=1e-15 * base_lr)


@pytest.mark.parametrize("formula,fn", FORMULAS, ids=IDS)
def test_the_class_steps_two_param_groups_as_torch(formula, fn):
    n, T, base = 120, 100, [0.1, 0.003]
    want = torch_lrs(lambda t: fn(t, T), base, n)
    p1, p2 = optim_core.Parameter(np.zeros(())), optim_core.Parameter(np.zeros((2, 3)))
    opt = optim_core.SGD([{"params": [p1], "lr": base[0]}, {"params": [p2], "lr": base[1]}], lr=base[0])
    sched = FormulaLR(opt, formula, T=T)
    got = []
    for _ in range(n):
        got.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == got[-1]
        p1.grad, p2.grad = np.ones(()), np.ones((2, 3))
        opt.step()
        sched.step()
    assert_same(np.asarray(got, dtype=np.float64), want, rtol=1e-12, atol=1e-15 * base[0])
    # Its state holds the formula's text and T (as torch keeps a callable object's attributes), and a
    # new scheduler loaded from it continues where this one is.
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"formula": formula, "T": T}] * 2 and state["last_epoch"] == n
    again = FormulaLR(opt, "1", T=1, last_epoch=n - 1)
    again.load_state_dict(state)
    again.step()
    assert again.get_last_lr() == pytest.approx([b * fn(n + 1, T) for b in base], rel=1e-12)


def test_a_step_that_reaches_a_bad_multiplier_is_refused_with_the_step():
    p = optim_core.Parameter(np.zeros(2))
    opt = optim_core.SGD([p], lr=0.1)
    sched = FormulaLR(opt, "sqrt(3 - t)", T=10)
    for _ in range(3):
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match=r"at step t = 4 .*NaN"):
        sched.step()
    with pytest.raises(FormulaError, match="unknown name 'step'"):
        FormulaLR(opt, "0.9**step")
    with pytest.raises(ValueError, match="T must be a positive integer"):
        FormulaLR(opt, "1", T=0)


# -- refusals: fast, with a message ---------------------------------------------------------------
HOSTILE = [
    ("__import__('os').system('echo hi')", "not allowed"),
    ("t.__class__", ""),
    ("lambda: 1", "keyword"),
    ("open('/etc/passwd').read()", "unknown function 'open'"),
    ("x + 1", "the variables are t and T"),
    ("cos(pi*t/T", "never closed"),
    ("t" + "+t" * 300, "too long"),
    ("+".join(["t"] * 240), "too large"),
    ("(" * 60 + "t" + ")" * 60, "nesting too deep"),
    ("9**9**9", "too large"),
    ("1e300*1e300", "overflows"),
    ("1/0", "division by zero"),
    ("0.5 × t", "use '*'"),
    ("π*t", "write pi"),
    ("", "empty formula"),
    ("log(t)", "at step t = 0 (T = 1000) the formula gives -inf"),
    ("1 - t/500", "at step t = 501 (T = 1000) the formula gives -0.002"),
    ("sqrt(5 - t)", "at step t = 6 (T = 1000) the formula gives NaN"),
    ("exp(exp(exp(t)))", "at step t = 2 (T = 1000) the formula gives inf"),
    ("t**t**t", "at step t = 5"),
    ("1/abs(t - T/2)", "at step t = 500 (T = 1000) the formula gives inf"),
]


@pytest.mark.parametrize("text,words", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_or_bad_formulas_are_refused_fast_with_a_message(text, words):
    start = time.perf_counter()
    with pytest.raises(ValueError) as err:
        INFO.curve(1000, 0.1, formula=text, T=1000)
    assert time.perf_counter() - start < 0.1
    assert words in str(err.value) and len(str(err.value)) > 15


@pytest.mark.parametrize("value", [3.5, None, ["t"], b"t", {"t": 1}])
def test_a_formula_that_is_not_text_is_refused(value):
    with pytest.raises(ValueError, match="must be text"):
        INFO.curve(10, 0.1, formula=value, T=10)


# -- "copy as PyTorch" ---------------------------------------------------------------------------------
def test_the_exported_lambdalr_code_runs_and_gives_the_curve():
    n, T, base_lr = 400, 300, 0.05
    codes = {f: INFO.pytorch(base_lr=base_lr, n_steps=n, formula=f, T=T) for f, _ in FORMULAS}
    for f, code in codes.items():
        assert "torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)" in code
        assert f"def lr_lambda(step, T={T}):" in code
    # One fresh Python with torch runs every snippet and prints its lrs.
    driver = ("import json, sys\nout = {}\nfor name, code in json.loads(sys.stdin.read()).items():\n"
              "    ns = {}\n    exec(compile(code, name, 'exec'), ns)\n    out[name] = ns['lrs']\n"
              "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", driver], input=json.dumps(codes), capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    for f, fn in FORMULAS:
        want = np.array([base_lr * fn(t, T) for t in range(n)], dtype=np.float64)
        assert_same(np.asarray(got[f], dtype=np.float64), want, rtol=1e-12, atol=1e-15 * base_lr, err_msg=f)


def test_the_exported_code_holds_no_typed_text_only_the_parsed_formula():
    code = INFO.pytorch(base_lr=0.1, n_steps=10, formula="  min( 1 ,t / 10)*0.9 ^ t  ", T=10)
    assert "return float(np.minimum(1, t/10)*0.9**t)" in code
    assert '"""f(t) = min(1, t/10)*0.9**t, the multiplier' in code
    with pytest.raises(FormulaError):
        INFO.pytorch(base_lr=0.1, n_steps=10, formula="__import__('os')", T=10)


def sgd_path(surface, start, lrs):
    """Plain gradient descent with the lr of each step given (written here, not the engine's)."""
    theta = np.array(start, dtype=np.float64)
    path = [theta.copy()]
    for lr in lrs:
        theta = theta - lr * np.asarray(surface.grad(theta), dtype=np.float64)
        path.append(theta.copy())
    return np.array(path)


SURFACE, STEPS, LR = "Himmelblau", 150, 0.01
TYPED = "min(1, t/20) * 0.98^t"


def typed(t, T):
    return min(1, t / 20) * 0.98**t


def reference_path():
    surface = registry.get_surface(SURFACE).make()
    return sgd_path(surface, surface.starts[0], [LR * typed(t, STEPS) for t in range(STEPS)])


def formula_scene():
    run = S.RunConfig.make("SGD", {"lr": LR}, schedule="FormulaLR", schedule_params={"formula": TYPED, "T": STEPS})
    return S.Scene.make(SURFACE, [run], steps=STEPS)


def test_the_playgrounds_pytorch_script_follows_the_formula(tmp_path):
    from app.exports.torch_script import torch_script

    (tmp_path / "scene.py").write_text(torch_script(formula_scene(), filename="scene.py"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "scene.py", "--out", "paths.npz"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_same(np.load(tmp_path / "paths.npz")["paths"][0], reference_path(), rtol=1e-9, atol=1e-12)


# -- the app ---------------------------------------------------------------------------------------------
def open_app(query: dict, page: str | None = None) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_traces(at: AppTest, key: str) -> dict:
    from app.playground.figures import decode_array

    (el,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith("-" + key)]
    return {t.get("name", ""): decode_array(t["y"]).astype(np.float64) for t in json.loads(el.proto.spec)["data"]
            if "y" in t}


def test_schedules_page_draws_a_typed_formula_beside_the_built_ins_and_explains_a_bad_one():
    at = open_app({"sc_pick": ["CosineAnnealingLR", "FormulaLR"], "sc_steps": "500"}, "views/schedules.py")
    box = at.text_input(key="sc_p_FormulaLR_formula")
    box.input("min(1, t/50) * (1 - t/T)^2").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    drawn = chart_traces(at, "sc_chart")
    want = np.array([0.1 * min(1, t / 50) * (1 - t / 500) ** 2 for t in range(500)])  # T followed the steps
    assert_same(drawn["FormulaLR"], want, rtol=1e-12, atol=1e-300)
    assert_same(drawn["CosineAnnealingLR"], np.array([0.05 * (1 + math.cos(math.pi * t / 500)) for t in range(500)]),
                rtol=1e-12, atol=1e-15)
    assert any(r"\min\left(1, \frac{t}{50}\right)" in m.value for m in at.latex)  # the typed formula, set
    (code,) = [c.value for c in at.code if "LambdaLR" in c.value]
    assert "np.minimum(1, t/50)*(1 - t/T)**2" in code and "def lr_lambda(step, T=500):" in code

    at.text_input(key="sc_p_FormulaLR_formula").input("min(1, t/50) * (1 - t/T").run()
    assert not at.exception
    (err,) = at.error
    assert "FormulaLR" in err.value and "never closed" in err.value
    drawn = chart_traces(at, "sc_chart")
    assert "FormulaLR" not in drawn and "CosineAnnealingLR" in drawn  # the others are still drawn

    at.text_input(key="sc_p_FormulaLR_formula").input("1 - t/250").run()
    (err,) = at.error
    assert "at step t = 251 (T = 500)" in err.value and "below 0" in err.value


def test_a_hostile_formula_in_a_link_gives_a_message_not_a_traceback():
    at = open_app({"sc_pick": "FormulaLR", "sc_p_FormulaLR_formula": "__import__('os').system('echo pwned')"},
                  "views/schedules.py")
    (err,) = at.error
    assert "names starting with '_' are not allowed" in err.value
    assert at.text_input(key="sc_p_FormulaLR_formula").value.startswith("__import__")


def test_the_formula_reaches_a_playground_run_and_its_link_reopens_it():
    # From the Schedules page: "Open this run in the Playground".
    at = open_app({"sc_pick": "FormulaLR", "sc_steps": str(STEPS), "sc_surface": SURFACE, "sc_opt": "SGD",
                   "sc_lr": str(LR), "sc_p_FormulaLR_formula": TYPED, "sc_tab": "Apply to a run"}, "views/schedules.py")
    assert not at.error, [e.value for e in at.error]
    at.button(key="sc_to_pg").click().run()
    assert not at.exception
    assert at.session_state["pg_r0_sched"] == "FormulaLR" and at.session_state["pg_r0_s_formula"] == TYPED
    assert at.session_state["pg_r0_s_T"] == STEPS

    # The scene's link carries the formula; opening it races the same schedule.
    link = U.url_params(U.state_from_scene(formula_scene()))
    assert link["pg_r0_s_formula"] == TYPED and link["pg_r0_sched"] == "FormulaLR"
    pg = open_app(link)
    assert not pg.error, [e.value for e in pg.error]
    assert pg.text_input(key="pg_r0_s_formula").value == TYPED
    payloads = [json.loads(el.proto.json) for el in pg.get("bidi_component")]
    (race,) = [p for p in payloads if p["kind"] == "race"]
    (run,) = race["runs"]
    assert "FormulaLR" in run["label"]
    path = V.decode_path(run["path"])
    assert path.shape == (STEPS + 1, 2) and path.dtype == np.float32
    np.testing.assert_allclose(path, reference_path().astype(np.float32), rtol=1e-5, atol=1e-5)

    # A bad formula typed there: the message beside the box, the run not raced, no traceback.
    pg.text_input(key="pg_r0_s_formula").input("0.9**step").run()
    assert not pg.exception
    assert any("unknown name 'step'" in e.value for e in pg.error)
