"""The generated Live Training script teaches checkpoint and resume in plain PyTorch.

A race (SGD with momentum and a cosine schedule, Adam with OneCycleLR, each on optim_core's and on
torch.optim's backend, mini-batches of 32) is trained by the app; its script
(:func:`app.exports.live_script.live_script`) is run in a fresh Python with ``--checkpoint-at N``. The
script saves every run at step N with ``torch.save``, resumes it in new objects with
``torch.load(weights_only=True)`` and reports whether the resumed losses equal its uninterrupted ones bit
for bit. The tests check that report, the bits themselves (the ``resumed_loss`` the script saves), that
both equal the app's race (as tests/test_export_live_script.py does: bit for bit where the app stepped
torch itself, to float32 rounding where optim_core's NumPy kernels summed in another order), and that
the checkpoint holds the app's own state at step N (the loss scaler's, the data order's). And that the
check can fail: a script that forgets the optimizer's state says so and exits with an error.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from app.training.datasets import make_dataset, train_test_split
from tests.asserts import assert_same, reference

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")

from app.exports.live_script import live_script  # noqa: E402
from app.training import backend as T  # noqa: E402
from app.training import groups as G  # noqa: E402

STEPS = 30
AT = 13  # mid-epoch (4 batches an epoch: epoch 3, batch 1) and mid-schedule
FLOAT32_RTOL = 1e-5  # optim_core's float32 kernels against torch.optim's (see test_export_live_script)


@pytest.fixture(scope="module")
def moons():
    X, y = make_dataset("moons", n=128, noise=0.2, seed=4)
    return train_test_split(X, y, test_fraction=0.2, seed=4)  # 102 training points, 26 test


def _configs():
    runs = []
    for backend in ("optim_core", "torch"):
        runs += [
            T.TrainingRunConfig("SGD", {"lr": 0.1, "momentum": 0.9}, backend=backend, schedule="CosineAnnealingLR",
                                schedule_steps=STEPS),
            T.TrainingRunConfig("Adam", {"lr": 0.01}, backend=backend, schedule="OneCycleLR", schedule_steps=STEPS),
        ]
    return runs


def _race_with_state_at(data, precision):
    """The app's race trained STEPS steps, and each run's state when it had taken AT of them."""
    race = T.Race(*data, _configs(), model=T.ModelSpec(2, 8, "tanh"), batch_size=32, seed=4, dtype="float32",
                  eval_every=5, precision=precision)
    race.train(AT)
    at = [{"weights": {k: v.detach().clone() for k, v in run.model.state_dict().items()},
           "scaler": run.amp.scaler_state()} for run in race.runs]
    race.train(STEPS - AT)
    return race, at


def _run_script(text, cwd, *args):
    (cwd / "live.py").write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of the app on its path
    return subprocess.run([sys.executable, "live.py", "--out", "curves.npz", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=env)


def _curves(cwd):
    with np.load(cwd / "curves.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("precision", ["float32", "float16_scaled"])
def test_the_script_checkpoints_and_resumes_to_the_same_bits_and_the_apps_losses(moons, tmp_path, precision):
    race, at = _race_with_state_at(moons, precision)
    text = live_script(race)
    for call in ("model.state_dict()", "optimizer.state_dict()", "scheduler.state_dict()", "torch.save(",
                 "torch.load(path, weights_only=True)", "def save_checkpoint(", "def load_checkpoint("):
        assert call in text, call
    assert ("trainer.scaler.state_dict()" in text) == (precision == "float16_scaled")

    proc = _run_script(text, tmp_path, "--checkpoint-at", str(AT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    labels = [run.config.title() for run in race.runs]
    for label in labels:
        assert re.search(rf"\n  {re.escape(label)} +{STEPS - AT} losses equal the uninterrupted run's, bit for bit\n",
                         proc.stdout), label
    assert "Checkpoint and resume gave the same numbers as never stopping." in proc.stdout

    out = _curves(tmp_path)
    R = len(race.runs)
    assert out["loss"].shape == out["resumed_loss"].shape == (R, STEPS)
    assert out["loss"].dtype == out["resumed_loss"].dtype == np.float64
    assert np.isnan(out["resumed_loss"][:, :AT]).all() and np.isfinite(out["loss"]).all()
    # Bit for bit: the resumed losses are the uninterrupted ones, not merely close.
    np.testing.assert_array_equal(out["resumed_loss"][:, AT:].view(np.int64), out["loss"][:, AT:].view(np.int64))

    for r, run in enumerate(race.runs):
        app = np.asarray(run.history["loss"])
        for key in ("loss", "resumed_loss"):
            got = out[key][r] if key == "loss" else out[key][r][AT:]
            expected = app if key == "loss" else app[AT:]
            if run.config.backend == "torch":  # the same torch operations as the app's: the same bits
                np.testing.assert_array_equal(got, expected, err_msg=f"{labels[r]}: {key}")
            else:
                assert_same(got, expected, rtol=FLOAT32_RTOL, err_msg=f"{labels[r]}: {key}")

    # The files are plain torch.save dictionaries, with the app's state at step AT.
    per_epoch = race.batches_per_epoch
    epoch, batch = divmod(AT, per_epoch)
    for r, run in enumerate(race.runs):
        ck = torch.load(tmp_path / f"checkpoint_run{r + 1}.pt", weights_only=True)
        expected_keys = {"model", "optimizer", "scheduler", "step", "diverged", "data"}
        assert set(ck) == expected_keys | ({"scaler"} if precision == "float16_scaled" else set())
        assert ck["step"] == AT and ck["diverged"] == ""
        assert ck["scheduler"]["last_epoch"] == AT
        assert set(ck["optimizer"]["state"]) == set(range(len(at[r]["weights"])))
        wanted = {"momentum_buffer"} if run.config.optimizer == "SGD" else {"exp_avg", "exp_avg_sq", "step"}
        assert set(ck["optimizer"]["state"][0]) == wanted
        assert list(ck["model"]) == list(at[r]["weights"])
        for name, w in at[r]["weights"].items():
            assert ck["model"][name].shape == w.shape and ck["model"][name].dtype == w.dtype == torch.float32
            if run.config.backend == "torch":
                assert torch.equal(ck["model"][name], w), (labels[r], name)
            else:
                assert_same(ck["model"][name], w, rtol=FLOAT32_RTOL, atol=1e-7, err_msg=f"{labels[r]}: {name}")
        if precision == "float16_scaled":
            assert ck["scaler"]["_growth_tracker"] == at[r]["scaler"]["_growth_tracker"] == AT  # no overflow
            assert ck["scaler"]["scale"] == at[r]["scaler"]["scale"] == 2.0 ** 16
        assert (ck["data"]["seed"], ck["data"]["epoch"], ck["data"]["batch"]) == (race.seed, epoch, batch)
        perm = ck["data"]["permutation"]
        assert perm.shape == (len(race.y_train),) and perm.dtype == torch.int64
        app_perm = np.concatenate([race.batch_indices(epoch * per_epoch + b) for b in range(per_epoch)])
        np.testing.assert_array_equal(perm.numpy(), app_perm)


def test_every_optimizer_the_script_builds_is_checkpointed_by_its_state_dict(tmp_path, float64_torch):
    # The runs whose optimizer torch.optim lacks use the reference packages' classes, torch.optim.Optimizer
    # subclasses: their state_dict() is the whole state too. With parameter groups and a per-group OneCycleLR,
    # a schedule function (its lr curve, indexed by the step), clipping, accumulation and a run that diverged
    # before the checkpoint (it stays stopped). In float64, against the app's losses at rtol 1e-9.
    reference("lion_pytorch")
    reference("transformers")
    if importlib.util.find_spec("timm") is None:  # (the script loads timm's files; its __init__ needs torchvision)
        reference("timm")
    X, y = make_dataset("circles", n=96, noise=0.1, seed=2)
    data = train_test_split(X, y, test_fraction=0.2, seed=2)
    runs = [
        T.TrainingRunConfig("Lion", {"lr": 0.002}),
        T.TrainingRunConfig("LAMB", {"lr": 0.01}, accumulate=3),
        T.TrainingRunConfig("Adafactor", {"lr": 0.01, "relative_step": False}),
        T.TrainingRunConfig("NAdam", {"lr": 0.01}, backend="torch", clip_norm=0.5),
        T.TrainingRunConfig("RMSprop", {"lr": 0.005}, schedule=lambda n, lr: lr * 0.9 ** np.minimum(np.arange(n), 8),
                            schedule_steps=50),
        T.TrainingRunConfig("Adam", {"lr": 0.01, "weight_decay": 0.01}, groups=G.GroupSpec("layerwise", 0.5),
                            schedule="OneCycleLR", schedule_steps=20),
        T.TrainingRunConfig("SGD", {"lr": 1e100}),
    ]
    race = T.Race(*data, runs, model=T.ModelSpec(1, 6, "relu"), batch_size=16, seed=2, dtype="float64", eval_every=5)
    race.train(20)
    assert race.runs[-1].diverged and race.runs[-1].step < 7
    text = live_script(race)
    assert "Lion(params" in text and "Lamb(params" in text and "Adafactor(params" in text and "'lr_curve'" in text
    proc = _run_script(text, tmp_path, "--checkpoint-at", "7")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Checkpoint and resume gave the same numbers as never stopping." in proc.stdout
    out = _curves(tmp_path)
    assert out["resumed_loss"].shape == (len(runs), 20) and out["resumed_loss"].dtype == np.float64
    np.testing.assert_array_equal(out["resumed_loss"][:, 7:].view(np.int64), out["loss"][:, 7:].view(np.int64))
    for r, run in enumerate(race.runs):
        expected = np.full(20, np.nan)
        expected[:len(run.history["loss"])] = run.history["loss"]
        assert_same(out["resumed_loss"][r][7:], expected[7:], rtol=1e-9, err_msg=run.config.title())
    ck = torch.load(tmp_path / "checkpoint_run6.pt", weights_only=True)
    groups = race.runs[5].optimizer.param_groups  # layerwise: one group per layer, each lr half the next's
    assert len(groups) == len(ck["optimizer"]["param_groups"]) == len(ck["scheduler"]["base_lrs"]) == 2
    assert ck["scheduler"]["last_epoch"] == 7
    first, last = (g["lr"] for g in ck["optimizer"]["param_groups"])
    assert last == pytest.approx(race.runs[5].history["lr"][7], rel=1e-12)  # the lr the app stepped with at step 7
    assert first / last == pytest.approx(0.5, rel=1e-9)  # OneCycleLR from each group's own lr
    ck = torch.load(tmp_path / "checkpoint_run7.pt", weights_only=True)
    assert ck["step"] == race.runs[-1].step and ck["diverged"].startswith(f"stopped at step {race.runs[-1].step}")


def test_a_checkpoint_without_the_optimizer_state_is_caught(moons, tmp_path):
    # The comparison can fail: a load_checkpoint that forgets the optimizer (fresh momentum buffers and
    # moments, and the lr the new scheduler started at) goes on with other numbers, and the script says so.
    race, _ = _race_with_state_at(moons, "float32")
    text = live_script(race)
    line = '    trainer.optimizer.load_state_dict(checkpoint["optimizer"])'
    assert text.count(line) == 1
    forgetful = text.replace(line, "    pass")
    proc = _run_script(forgetful, tmp_path, "--checkpoint-at", str(AT))
    assert proc.returncode != 0 and "the resumed runs did not reproduce the uninterrupted ones" in proc.stderr
    assert "Resuming changed the numbers" in proc.stdout
    assert proc.stdout.count(f"{STEPS - AT} losses differ (by up to") == len(race.runs)
    out = _curves(tmp_path)
    assert not np.array_equal(out["resumed_loss"][:, AT:], out["loss"][:, AT:])


def test_checkpoint_at_must_be_a_step_the_runs_go_past(moons, tmp_path):
    race = T.Race(*moons, _configs()[:1], model=T.ModelSpec(2, 8, "tanh"), batch_size=32, seed=4)
    text = live_script(race, steps=5)
    assert "CHECKPOINT_AT = None" in text
    proc = _run_script(text, tmp_path, "--checkpoint-at", "5")
    assert proc.returncode == 2 and "--checkpoint-at must be a step from 0 to 4" in proc.stderr
    proc = _run_script(text, tmp_path, "--checkpoint-at", "0")  # saved before the first step: resumes from scratch
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "5 losses equal the uninterrupted run's, bit for bit" in proc.stdout
    proc = _run_script(text, tmp_path)  # without it: no checkpoint, as before
    assert proc.returncode == 0 and "resumed" not in proc.stdout
    assert "resumed_loss" not in _curves(tmp_path)
