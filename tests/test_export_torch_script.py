"""The Playground's "PyTorch script" export: the script, run on its own, redraws the app's race.

Every scene below is written as literal values; its script (:func:`app.exports.torch_script.
torch_script`) is run in a fresh Python (``python scene.py --out paths.npz`` in a temporary
directory) and the paths it saves are compared with the app's own, ``compute(scene).traj.
positions[:, 0]``, in float64 with rtol 1e-9 (shape and dtype first, NaN where a run has
diverged). The script gets its gradients from torch's autograd on its own surface code, its
optimizers from torch.optim or the reference libraries, its noise from its own NumPy copy of
the app's draws: nothing it computes comes from the app.

A Python start costs ~1.5 s (torch's import), so scenes race six runs each, and the per-surface
and per-schedule scripts run one after another in one Python (``runpy``, each as ``__main__``
with its own ``sys.argv``).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from app.exports.torch_script import torch_script
from app.playground.race import compute
from app.playground.scene import CUSTOM, RunConfig, Scene
from optim_core import registry
from tests.asserts import assert_same

pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")

RTOL = 1e-9
# What a script may import: the standard library it uses, numpy, torch and the references.
ALLOWED_IMPORTS = {"argparse", "math", "numpy", "torch", "importlib", "os", "sys", "types", "lion_pytorch",
                   "sophia_opt", "transformers", "bitsandbytes", "pytorch_optimizer", "matplotlib"}


def _needs(*modules: str) -> None:
    """Skip (fail in CI) unless every reference module is installed, without importing it here."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        hint = f"{', '.join(missing)} not installed (pip install -e '.[test]')"
        if os.environ.get("CI") == "true":  # pragma: no cover - only a broken CI install gets here
            pytest.fail(hint, pytrace=False)
        pytest.skip(hint)


def _imports(text: str) -> set[str]:
    tree = ast.parse(text)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            out.add((node.module or "").split(".")[0])
    return out


def _write(scene: Scene, path) -> str:
    text = torch_script(scene, filename=path.name)
    assert _imports(text) <= ALLOWED_IMPORTS, _imports(text) - ALLOWED_IMPORTS
    path.write_text(text, encoding="utf-8")
    return text


def _app_paths(scene: Scene) -> np.ndarray:
    res = compute(scene)
    assert res.ok, res.errors
    assert not res.refused
    return res.traj.positions[:, 0]


def _check(scene: Scene, saved, rtol: float = RTOL, atol: float = 0.0, what: str = "") -> None:
    want = _app_paths(scene)
    got = saved["paths"]
    assert got.shape == (len(scene.runs), scene.steps + 1, 2)
    for k in range(len(scene.runs)):
        assert_same(got[k], want[k], rtol=rtol, atol=atol, err_msg=f"{what} run {k + 1} ({scene.runs[k].optimizer})")
    # The same runs diverged at the same steps.
    app = compute(scene).traj
    assert saved["diverged_at"].tolist() == app.diverged_step[:, 0].tolist()


def run_script(scene: Scene, tmp_path, name: str = "scene"):
    """Write the scene's script, run it as ``python scene.py --out paths.npz``; the saved arrays and stdout."""
    _write(scene, tmp_path / f"{name}.py")
    proc = subprocess.run([sys.executable, f"{name}.py", "--out", f"{name}.npz"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return np.load(tmp_path / f"{name}.npz"), proc.stdout


def run_scripts(scenes: dict[str, Scene], tmp_path) -> dict:
    """Run several scripts one after another in one fresh Python, each as ``__main__``."""
    for name, scene in scenes.items():
        _write(scene, tmp_path / f"{name}.py")
    driver = textwrap.dedent(f"""
        import runpy, sys
        for name in {list(scenes)!r}:
            sys.argv = [name + ".py", "--out", name + ".npz"]
            runpy.run_path(name + ".py", run_name="__main__")
    """)
    proc = subprocess.run([sys.executable, "-c", driver], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {name: np.load(tmp_path / f"{name}.npz") for name in scenes}


# ---------------------------------------------------------------------------------------
# Surfaces: every registered one at its defaults (and with parameters), and custom formulas
# ---------------------------------------------------------------------------------------

# Three runs that move differently: plain-ish SGD, Adam (divides by the gradient's size) and
# RMSprop with momentum. Small steps: 40.
SURFACE_RUNS = [
    RunConfig.make("SGD", {"lr": 0.01, "momentum": 0.5}),
    RunConfig.make("Adam", {"lr": 0.05}),
    RunConfig.make("RMSprop", {"lr": 0.01, "momentum": 0.3}),
]
SURFACE_PARAMS = {"Ravine": {"kappa": 30.0}, "Rotated ravine": {"kappa": 20.0, "angle": 30.0},
                  "Plateau cliff": {"height": 3.0, "sharpness": 20.0}, "Rosenbrock": {"a": 0.5, "b": 50.0},
                  "Rastrigin": {"A": 5.0}}
# Every function of the parser, ties of max/min, abs at 0, powers with a variable exponent.
FORMULAS = [
    "x^2/3 + 10*sin(y) + abs(x*y) - max(x, y) + min(x, 2) + softplus(x - y) + sigmoid(y)",
    "sqrt(x*x + 1) + exp(-y^2)*tanh(x) + atan(y) + (1 + x^2)^0.3 + 2^y + cosh(x/4) - sinh(y/5)",
    "ln(2 + x^2) + sign(x)*0.1 + tan(x/10) + x^y/10 + 1/(1 + y^2) + (x - 1)^3/7 + abs(y)",
]


def _surface_scenes() -> dict[str, Scene]:
    scenes = {}
    for i, name in enumerate(registry.surfaces()):
        scenes[f"surface_{i}"] = Scene.make(name, SURFACE_RUNS, steps=40)
        if name in SURFACE_PARAMS:
            scenes[f"surface_{i}_params"] = Scene.make(name, SURFACE_RUNS, SURFACE_PARAMS[name], steps=40)
    for i, text in enumerate(FORMULAS):
        scenes[f"formula_{i}"] = Scene.make(CUSTOM, SURFACE_RUNS, formula=text, window=((0.5, 3.0), (0.5, 3.0)),
                                            start=(2.5, 2.0), steps=40)
    # Ackley's cone tip: the subgradient 0, not NaN; the ripple then keeps the run at the origin.
    scenes["ackley_tip"] = Scene.make("Ackley", [RunConfig.make("SGD", {"lr": 0.01})], start=(0.0, 0.0), steps=5)
    # A plateau so far left that exp(k(c - x)) overflows (the app's s = 0, gradient 0).
    scenes["cliff_far"] = Scene.make("Plateau cliff", [RunConfig.make("Adam", {"lr": 0.1})],
                                     {"sharpness": 30.0}, start=(-35.0, 1.0), steps=5)
    return scenes


# ---------------------------------------------------------------------------------------
# Schedules: every registered one, with the parameters the Playground would give it
# ---------------------------------------------------------------------------------------

ONE_CYCLE = dict(pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
                 div_factor=25.0, final_div_factor=1e4, three_phase=False)
SCHEDULES = {
    "StepLR": dict(step_size=10, gamma=0.5),
    "MultiStepLR": dict(milestones=(10, 25), gamma=0.5),
    "ExponentialLR": dict(gamma=0.95),
    "ConstantLR": dict(factor=0.5, total_iters=10),
    "LinearLR": dict(start_factor=0.1, end_factor=1.0, total_iters=10),
    "PolynomialLR": dict(total_iters=40, power=2.0),
    "LambdaLR": dict(gamma=0.9),
    "MultiplicativeLR": dict(gamma=0.9),
    "CosineAnnealingLR": dict(T_max=40, eta_min=0.001),
    "CosineAnnealingWarmRestarts": dict(T_0=10, T_mult=2, eta_min=0.0),
    "OneCycleLR": dict(ONE_CYCLE, anneal_strategy="linear", three_phase=True),
    "CyclicLR": dict(max_lr=0.004, step_size_up=10, step_size_down=5, mode="triangular2", gamma=0.999,
                     cycle_momentum=True, base_momentum=0.8, max_momentum=0.9),
    "WarmupCosine": dict(warmup_steps=5, total_steps=40, min_lr_ratio=0.1, num_cycles=0.5),
    "WarmupPolynomial": dict(warmup_steps=5, total_steps=40, power=1.5, end_lr=1e-4),
    "ReduceLROnPlateau": dict(mode="min", factor=0.5, patience=2, threshold=1e-2, threshold_mode="rel", cooldown=1,
                              min_lr=0.0, eps=1e-8),
    "SequentialLR": dict(warmup_iters=5, start_factor=0.01, T_max=35, eta_min=0.0),
    "ChainedScheduler": dict(warmup_iters=5, start_factor=0.01, gamma=0.99),
    "FormulaLR": dict(formula="min(1, t/10) * 0.95**t", T=40),
}


def _schedule_scenes() -> dict[str, Scene]:
    assert set(SCHEDULES) == set(registry.schedules()), "a new schedule: add it to SCHEDULES"
    names = list(SCHEDULES)
    scenes = {}
    for j in range(0, len(names), 6):
        # SGD with momentum, so the cycling schedules move it (and the others keep it).
        runs = [RunConfig.make("SGD", {"lr": 0.002, "momentum": 0.5}, schedule=n, schedule_params=SCHEDULES[n])
                for n in names[j:j + 6]]
        scenes[f"schedules_{j // 6}"] = Scene.make("Rosenbrock", runs, steps=40)
    return scenes


def _divergence_scenes() -> dict[str, Scene]:
    return {
        # Leaves the box |x|, |y| <= 40 within a few steps.
        "leaves": Scene.make("Rosenbrock", [RunConfig.make("SGD", {"lr": 0.05, "momentum": 0.9}),
                                            RunConfig.make("Adam", {"lr": 0.05})], steps=30),
        # log(x) of a negative x: the loss is NaN and the run stops there.
        "nan_loss": Scene.make(CUSTOM, [RunConfig.make("SGD", {"lr": 0.9}), RunConfig.make("SGD", {"lr": 0.1})],
                               formula="log(x) + (x - 1)^2 + y^2", window=((0.1, 3.0), (-1.0, 1.0)), start=(2.5, 0.5),
                               steps=30),
    }


def test_every_surface_schedule_and_divergence_matches_the_app(tmp_path):
    scenes = {**_surface_scenes(), **_schedule_scenes(), **_divergence_scenes()}
    saved = run_scripts(scenes, tmp_path)
    for name, scene in scenes.items():
        _check(scene, saved[name], what=f"{name} ({scene.surface})")
    # The divergence scenes did diverge, both ways.
    assert (saved["leaves"]["diverged_at"] > 0).any()
    app = compute(scenes["nan_loss"]).traj
    assert "infinite or NaN" in app.diverged_reason[0, 0]
    assert saved["nan_loss"]["diverged_at"][0] == app.diverged_step[0, 0] > 0


# ---------------------------------------------------------------------------------------
# torch.optim: every optimizer, each with a non-default hyperparameter
# ---------------------------------------------------------------------------------------

def test_torch_optim_runs_match_the_app(tmp_path):
    runs = [
        RunConfig.make("SGD", {"lr": 0.001, "momentum": 0.9, "nesterov": True, "dampening": 0.0}),
        RunConfig.make("Adam", {"lr": 0.05, "amsgrad": True, "beta2": 0.99}),
        RunConfig.make("AdamW", {"lr": 0.05, "weight_decay": 0.1}),
        RunConfig.make("RMSprop", {"lr": 0.01, "centered": True, "alpha": 0.9}),
        RunConfig.make("Adagrad", {"lr": 0.3, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
        RunConfig.make("Adadelta", {"lr": 2.0, "rho": 0.8}),
    ]
    scene = Scene.make("Rosenbrock", runs, steps=60)
    saved, out = run_script(scene, tmp_path)
    _check(scene, saved)
    assert out.splitlines()[0].split()[:4] == ["run", "x", "y", "loss"]
    assert len([ln for ln in out.splitlines() if ln.startswith(("SGD", "Adam", "RMSprop", "Adagrad", "Adadelta"))]) == 6


def test_the_other_torch_optim_runs_match_the_app(tmp_path):
    runs = [
        RunConfig.make("NAdam", {"lr": 0.05, "momentum_decay": 0.01}),
        RunConfig.make("RAdam", {"lr": 0.05, "decoupled_weight_decay": True, "weight_decay": 0.1}),
        RunConfig.make("Adamax", {"lr": 0.05, "beta1": 0.8}),
        RunConfig.make("NAdam", {"lr": 0.02, "decoupled_weight_decay": True, "weight_decay": 0.05}),
        RunConfig.make("Adam", {"lr": 0.05, "decoupled_weight_decay": True, "weight_decay": 0.2}),
        RunConfig.make("SGD", {"lr": 0.001, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.01}),
    ]
    scene = Scene.make("Beale", runs, steps=60)
    saved, _ = run_script(scene, tmp_path)
    _check(scene, saved)


# ---------------------------------------------------------------------------------------
# Noise, mini-batches, clipping, Lookahead, own starts
# ---------------------------------------------------------------------------------------

NOISY_RUNS = [
    RunConfig.make("SGD", {"lr": 0.01, "momentum": 0.5}, clip_norm=1.0),
    RunConfig.make("Adam", {"lr": 0.05}, clip_value=0.3),
    RunConfig.make("Adam", {"lr": 0.05}, clip_value=2.0, clip_norm=0.5),
    RunConfig.make("SGD", {"lr": 0.005, "momentum": 0.9}, lookahead=(3, 0.4)),
    RunConfig.make("RMSprop", {"lr": 0.01}, batch=48),
    RunConfig.make("Adamax", {"lr": 0.05}, start=(1.0, 2.0), batch=64),
]


def test_gradient_noise_with_the_full_batch_clipping_and_lookahead(tmp_path):
    scene = Scene.make("Himmelblau", NOISY_RUNS, steps=50, noise=0.5, seed=7)
    saved, _ = run_script(scene, tmp_path)
    _check(scene, saved)
    # The noise moved the runs: without it the paths differ.
    quiet = _app_paths(Scene.make("Himmelblau", NOISY_RUNS[:4], steps=50))
    assert not np.allclose(saved["paths"][:4], quiet, rtol=1e-3)


def test_mini_batches_with_and_without_noise(tmp_path):
    scene = Scene.make("Himmelblau", NOISY_RUNS, steps=50, noise=0.0, batch_size=4, seed=3)
    saved, _ = run_script(scene, tmp_path, "minibatch")
    _check(scene, saved)
    noisy = Scene.make("Three-hump camel", NOISY_RUNS, steps=50, noise=0.2, batch_size=16, seed=11)
    saved, _ = run_script(noisy, tmp_path, "minibatch_noise")
    _check(noisy, saved)


# ---------------------------------------------------------------------------------------
# The modern optimizers, against the references the tests already use
# ---------------------------------------------------------------------------------------

def test_modern_optimizers_match_the_app(tmp_path):
    _needs("lion_pytorch", "timm", "transformers", "sophia_opt", "pytorch_optimizer")
    runs = [
        RunConfig.make("Lion", {"lr": 0.01, "weight_decay": 0.1}, lookahead=(2, 0.5)),
        RunConfig.make("LAMB", {"lr": 0.05, "beta1": 0.8}),
        RunConfig.make("LARS", {"lr": 5.0, "trust_coefficient": 0.01}, schedule="OneCycleLR",
                       schedule_params=ONE_CYCLE),
        RunConfig.make("Adafactor", {"lr": 0.05, "relative_step": False, "beta1": 0.9}),
        RunConfig.make("Adafactor", {}),
        RunConfig.make("Sophia", {"lr": 0.05, "hessian_interval": 3, "weight_decay": 0.0}),
    ]
    scene = Scene.make("Rosenbrock", runs, steps=40)
    saved, _ = run_script(scene, tmp_path)
    _check(scene, saved)


def test_adam8bit_matches_the_app_to_float32_precision(tmp_path):
    # bitsandbytes' CPU kernel computes in float32 (the README's table): the paths agree to
    # float32's precision, compounding over the steps, not to float64's.
    _needs("bitsandbytes")
    scene = Scene.make("Rosenbrock", [RunConfig.make("Adam8bit", {"lr": 0.01}),
                                      RunConfig.make("Adam8bit", {"lr": 0.02, "beta1": 0.8, "weight_decay": 0.01})],
                       steps=40)
    saved, _ = run_script(scene, tmp_path)
    _check(scene, saved, rtol=1e-5)


# ---------------------------------------------------------------------------------------
# What the script leaves out, and says so
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("run,words", [
    (RunConfig.make("Adafactor", {"lr": 0.05, "relative_step": False}, schedule="CosineAnnealingLR",
                    schedule_params=dict(T_max=20, eta_min=0.0)), "Adafactor"),
    (RunConfig.make("Sophia", {"eps": 1e-10}), "1e-15"),
    (RunConfig.make("Sophia", {}, lookahead=(5, 0.5)), "Lookahead"),
    (RunConfig.make("Adam8bit", {"block_size": 64}), "256"),
    (RunConfig.make("Adam", {"lr": 0.05}, schedule="NoSuchLR"), "NoSuchLR"),
    (RunConfig.make("Adam", {"lr": 0.05}, schedule="StepLR", schedule_params=dict(gamma=0.5)), "StepLR"),
    (RunConfig.make("SGD", {"lr": 0.05, "nesterov": True}), "SGD"),
    (RunConfig.make("NoSuchOpt", {}), "NoSuchOpt"),
], ids=["adafactor-schedule", "sophia-eps", "sophia-lookahead", "adam8bit-block", "unknown-schedule",
        "schedule-missing-params", "nesterov-without-momentum", "unknown-optimizer"])
def test_refusals_name_the_run(run, words):
    scene = Scene.make("Quadratic bowl", [RunConfig.make("SGD", {"lr": 0.1}), run], steps=20)
    with pytest.raises(ValueError) as err:
        torch_script(scene)
    message = str(err.value)
    assert "Run 2" in message and words in message, message


def test_a_refused_formula_and_a_start_outside_the_region_are_refused():
    with pytest.raises(ValueError, match="formula"):
        torch_script(Scene.make(CUSTOM, [RunConfig.make("SGD", {"lr": 0.1})], formula="x +* y", steps=20))
    with pytest.raises(ValueError, match="outside"):
        torch_script(Scene.make("Quadratic bowl", [RunConfig.make("SGD", {"lr": 0.1})], start=(1e3, 0.0), steps=20))


def test_the_script_imports_neither_the_app_nor_the_core_and_evaluates_no_text():
    scene = Scene.make(CUSTOM, [RunConfig.make("Adam", {"lr": 0.1})], formula=FORMULAS[0], steps=20, noise=0.1)
    text = torch_script(scene)
    assert _imports(text) <= ALLOWED_IMPORTS
    assert "optim_core" not in text and "import app" not in text and "from app" not in text
    assert "eval(" not in text and "exec(" not in text
