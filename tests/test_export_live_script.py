"""Live Training's "PyTorch script" export: the script, run on its own, retrains the app's race.

Each race below is built from literal settings and trained with the app's backend
(:class:`app.training.backend.Race`); its script (:func:`app.exports.live_script.live_script`) is
run in a fresh Python (``python live.py --steps N --out curves.npz`` in a temporary directory)
and the per-step curves it saves are compared with the race's recorded history: in float64 with
rtol 1e-9 (shape and dtype first), NaN where the app stopped a diverged run. The script's data,
initial weights and batch order are embedded; its optimizers, schedules and clipping are torch's
or the reference libraries': nothing it computes comes from the app.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from app.training.datasets import make_dataset, train_test_split
from tests.asserts import assert_same, reference

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")

from app.exports.live_script import live_script  # noqa: E402
from app.training import backend as T  # noqa: E402

RTOL = 1e-9
STEPS = 40
ALLOWED_IMPORTS = {"argparse", "base64", "math", "numpy", "torch", "importlib", "os", "sys", "types",
                   "lion_pytorch", "transformers", "bitsandbytes"}


@pytest.fixture(scope="module")
def moons():
    X, y = make_dataset("moons", n=128, noise=0.2, seed=4)
    return train_test_split(X, y, test_fraction=0.2, seed=4)  # 102 training points, 26 test


def _configs():
    return [
        T.TrainingRunConfig("Adam", {"lr": 0.01}, schedule="StepLR", schedule_params={"step_size": 10, "gamma": 0.5},
                            schedule_steps=25),  # the curve ends at step 24: its last lr holds after it
        T.TrainingRunConfig("SGD", {"lr": 0.1, "momentum": 0.9}, backend="torch", clip_norm=1.0, accumulate=2),
    ]


def _race(data, runs, dtype="float64", batch_size=32, model=T.ModelSpec(2, 8, "tanh"), seed=4, steps=STEPS):
    race = T.Race(*data, runs, model=model, batch_size=batch_size, seed=seed, dtype=dtype, eval_every=5)
    race.train(steps)
    return race


def _run_script(text, tmp_path, steps):
    script = tmp_path / "live.py"
    script.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the app on its path
    proc = subprocess.run([sys.executable, "live.py", "--steps", str(steps), "--out", "curves.npz"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(tmp_path / "curves.npz") as f:
        return {k: f[k] for k in f.files}, proc.stdout


def _imports(text):
    mods = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mods.add(node.module.split(".")[0])
    return mods


def _assert_reproduces(race, out, steps, rtol=RTOL):
    assert out["loss"].shape == (len(race.runs), steps)
    assert list(out["labels"]) == [run.config.title() for run in race.runs]
    for i, run in enumerate(race.runs):
        h, name = run.history, run.config.title()
        done = len(h["loss"])
        for key in ("loss", "lr", "grad_norm", "grad_norm_clipped"):
            expected = np.full(steps, np.nan)
            expected[:done] = h[key]
            assert_same(out[key][i], expected, rtol=rtol, err_msg=f"{name}: {key}")
        e = run.evals
        n_evals = len(e["step"])
        assert_same(out["eval_step"][:n_evals], e["step"].astype(np.int64), rtol=0, err_msg=name)
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert_same(out[key][i][:n_evals], np.asarray(e[key]), rtol=rtol, err_msg=f"{name}: {key}")
            assert np.isnan(out[key][i][n_evals:]).all()  # after a divergence
        assert int(out["diverged_at"][i]) == (run.step if run.diverged else -1), name


def test_the_script_retrains_the_race_with_the_same_losses(moons, tmp_path, float64_torch):
    race = _race(moons, _configs())
    text = live_script(race)  # N defaults to the race's step
    assert "STEPS = 40\n" in text
    assert _imports(text) <= ALLOWED_IMPORTS
    assert "optim_core" not in _imports(text) and "app" not in _imports(text)
    assert "torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)" in text
    assert "torch.optim.SGD(params, lr=0.1, momentum=0.9" in text
    out, stdout = _run_script(text, tmp_path, STEPS)
    _assert_reproduces(race, out, STEPS)
    assert race.runs[0].history["lr"][-1] == 0.01 * 0.5 ** 2  # the held lr: 25 steps of StepLR, then hold
    assert "Adam · optim_core (NumPy)" in stdout and "saved the training curves of 2 runs (40 steps)" in stdout


def test_steps_past_the_embedded_batches_are_drawn_as_the_app_draws_them(moons, tmp_path, float64_torch):
    # Exported at step 3: only the first 2 epochs' permutations are embedded (6 micro-batches of 4 an
    # epoch); the script draws epochs 2-19 with NumPy's generator, checked against the embedded ones.
    # And a run that diverges at its second step (a finite loss, an infinite gradient norm: ReLU does
    # not saturate as tanh does): NaN from there on, as the app stops it.
    runs = [*_configs(), T.TrainingRunConfig("SGD", {"lr": 1e100})]
    race = _race(moons, runs, model=T.ModelSpec(2, 8, "relu"))
    assert race.runs[2].diverged and race.runs[2].step < 3
    text = live_script(race, steps=3)
    assert "STEPS = 3\n" in text and "(20, 102)" not in text and "'<u2', (2, 102)" in text
    out, stdout = _run_script(text, tmp_path, STEPS)
    _assert_reproduces(race, out, STEPS)
    assert f"stopped at step {race.runs[2].step}" in stdout


def test_reference_optimizers_schedules_and_full_batch(tmp_path, float64_torch):
    reference("lion_pytorch")
    # timm is loaded by the script from its files (its __init__ imports torchvision): only look it up.
    if importlib.util.find_spec("timm") is None:
        reference("timm")  # skips with the install hint (fails in CI)
    X, y = make_dataset("circles", n=96, noise=0.1, seed=2)
    data = train_test_split(X, y, test_fraction=0.2, seed=2)
    runs = [
        T.TrainingRunConfig("Lion", {"lr": 0.002}),
        T.TrainingRunConfig("LAMB", {"lr": 0.01}, accumulate=3),
        T.TrainingRunConfig("NAdam", {"lr": 0.01}, backend="torch", clip_norm=0.5),
        T.TrainingRunConfig("SGD", {"lr": 0.1, "momentum": 0.9}, schedule="OneCycleLR", schedule_steps=20),
        T.TrainingRunConfig("RMSprop", {"lr": 0.005}, schedule=lambda n, lr: lr * 0.9 ** np.minimum(np.arange(n), 8),
                            schedule_steps=50),
    ]
    race = _race(data, runs, batch_size=None, model=T.ModelSpec(1, 6, "gelu"), seed=2, steps=30)
    text = live_script(race)
    assert "# pip install lion-pytorch" in text and "# pip install timm" in text
    assert "Needs: pip install numpy torch lion-pytorch timm" in text
    assert "PERMUTATIONS = decode" in text and "Full batch" in text
    out, _ = _run_script(text, tmp_path, 30)
    _assert_reproduces(race, out, 30)


def test_a_float32_race_agrees_to_float32_rounding(moons, tmp_path):
    # optim_core's Adam (NumPy kernels) against torch.optim's in the script, and the app's NumPy clipping
    # against torch's: the same arithmetic summed in other orders, about one float32 ulp a step,
    # compounding over 40 steps (the backend's own float32 comparison with torch.optim uses 1e-5 too).
    race = _race(moons, _configs(), dtype="float32")
    text = live_script(race)
    assert "set_default_dtype" not in text
    out, _ = _run_script(text, tmp_path, STEPS)
    for i, run in enumerate(race.runs):
        assert_same(out["loss"][i], np.asarray(run.history["loss"]), rtol=1e-5, err_msg=run.config.title())
        assert_same(out["lr"][i], np.asarray(run.history["lr"]), rtol=0, err_msg=run.config.title())


@pytest.mark.parametrize("cfg,dtype,match", [
    (T.TrainingRunConfig("Sophia", {"lr": 0.005}), "float64", r"Run 2 \(Sophia · optim_core \(NumPy\)\): .*Gauss"),
    (T.TrainingRunConfig("Adam8bit", {"lr": 0.01}), "float64", r"Run 2 \(Adam8bit .*computes in float32"),
    (T.TrainingRunConfig("SGD", {"lr": 0.1, "maximize": True}), "float64", r"Run 2 \(SGD .*maximize"),
    (T.TrainingRunConfig("Adam", {"lr": 0.01}, schedule="ReduceLROnPlateau"), "float32",
     r"Run 2 \(Adam .*ReduceLROnPlateau needs a metric"),
    (T.TrainingRunConfig("Adafactor", {"lr": 0.01, "relative_step": False}, schedule="StepLR"), "float32",
     r"Run 2 \(Adafactor .*schedule \(StepLR\)"),
])
def test_what_cannot_be_reproduced_exactly_is_refused_naming_the_run(moons, cfg, dtype, match):
    race = _race(moons, [T.TrainingRunConfig("Adam", {"lr": 0.01}), cfg], dtype=dtype, steps=0)
    with pytest.raises(ValueError, match=match):
        live_script(race)


def test_the_number_of_steps_must_be_a_whole_number(moons):
    race = _race(moons, _configs(), steps=0)
    assert "STEPS = 0\n" in live_script(race)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="steps must be a whole number"):
            live_script(race, steps=bad)
