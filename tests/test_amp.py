"""Mixed precision in Live Training (app/training/amp.py) against torch: autocast, GradScaler, underflow."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")

from app.exports.live_script import live_script  # noqa: E402
from app.training import amp as A  # noqa: E402
from app.training import backend as T  # noqa: E402
from app.training.datasets import make_dataset, train_test_split  # noqa: E402

SPEC = T.ModelSpec(2, 16, "tanh")


@pytest.fixture(scope="module")
def data():
    X, y = make_dataset("moons", n=256, noise=0.15, seed=3)
    return train_test_split(X, y, test_fraction=0.2, seed=3)


# ---------------------------------------------------------------------------------------
# LossScaler = GradScaler
# ---------------------------------------------------------------------------------------


def test_loss_scaler_follows_the_documented_rule_by_hand():
    """GradScaler's documented semantics, written out: start at 2^16; an overflow halves the scale and skips
    the step; growth_interval good steps in a row double it."""
    s = A.LossScaler(growth_interval=3)
    assert s.scale.dtype == np.float32 and s.scale == 65536.0
    events = [False, False, True, False, False, False, False, True, True, False]
    expected = [65536, 65536, 32768, 32768, 32768, 65536, 65536, 32768, 16384, 16384]
    trackers = [1, 2, 0, 1, 2, 0, 1, 0, 0, 1]
    for inf, scale, tracker in zip(events, expected, trackers):
        s.update(inf)
        assert float(s.scale) == scale and s.growth_tracker == tracker


def test_loss_scaler_equals_grad_scaler_on_the_same_gradients():
    """The same gradients (some with inf / NaN) through torch.amp.GradScaler("cpu") and LossScaler: the same
    unscaled gradients bit for bit, the same skips, scales and growth counts at every step."""
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,)]
    w = [torch.zeros(s, dtype=torch.float32, requires_grad=True) for s in shapes]
    opt = torch.optim.Adam(w, lr=1e-3)  # its step count says whether GradScaler let a step through
    ref = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=4)
    mine = A.LossScaler(init_scale=2.0**10, growth_interval=4)
    taken = 0
    for step in range(40):
        grads = [(rng.standard_normal(s) * 10.0 ** rng.integers(-9, 4)).astype(np.float32) for s in shapes]
        if step % 7 == 3:
            grads[0][1, 2] = np.inf
        if step % 11 == 5:
            grads[1][0] = np.nan
        for p, g in zip(w, grads):
            p.grad = torch.from_numpy(g.copy())
        flat = np.concatenate([g.ravel() for g in grads])
        one = torch.tensor(1.5)
        assert ref.scale(one).item() == mine.scale_loss(one).item() == 1.5 * float(mine.scale)
        ref.unscale_(opt)
        found = mine.unscale(flat)
        got = np.concatenate([p.grad.numpy().ravel() for p in w])
        assert got.dtype == flat.dtype == np.float32 and got.shape == flat.shape
        np.testing.assert_array_equal(flat, got)
        ref.step(opt)
        ref.update()
        mine.update(found)
        taken += not found
        assert float(opt.state[w[0]].get("step", 0)) == taken, step
        assert ref.get_scale() == float(mine.scale)
        assert ref.state_dict()["_growth_tracker"] == mine.growth_tracker
    assert ref.state_dict() == mine.state_dict()


# ---------------------------------------------------------------------------------------
# The app's runs = hand-written torch loops
# ---------------------------------------------------------------------------------------


def _hand_loop(data, precision, steps, batch_size, lr=0.01, opt="Adam", seed=0):
    """A plain torch training loop with autocast / GradScaler, on the race's batches; per step the loss, the
    weights, the fraction of zero gradient entries before unscaling, and the scale."""
    X_train, y_train = torch.from_numpy(data[0].astype(np.float32)), torch.from_numpy(data[1].astype(np.int64))
    n = len(y_train)
    model = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 2))
    with torch.no_grad():
        for t, v in zip(model.parameters(), T.init_values(SPEC, seed)):
            t.copy_(torch.from_numpy(v))
    params = list(model.parameters())
    optimizer = (torch.optim.Adam(params, lr=lr) if opt == "Adam"
                 else torch.optim.SGD(params, lr=lr, momentum=0.9))
    mode = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float16_scaled": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cpu", enabled=precision == "float16_scaled")
    per_epoch = math.ceil(n / batch_size)
    out = []
    for t in range(steps):
        epoch, i = divmod(t, per_epoch)
        idx = (np.arange(n) if batch_size >= n  # full batch: the points in order, as the race takes them
               else np.random.default_rng([seed, epoch]).permutation(n)[i * batch_size:(i + 1) * batch_size])
        xb, yb = X_train[torch.from_numpy(idx)], y_train[torch.from_numpy(idx)]
        for p in params:
            p.grad = torch.zeros_like(p)
        with torch.autocast("cpu", dtype=mode, enabled=mode is not None):
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
        scale = scaler.get_scale() if scaler.is_enabled() else math.nan
        scaler.scale(loss).backward()
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        zero = float((flat == 0).double().mean())
        scaler.step(optimizer)
        scaler.update()
        out.append((loss.item(), torch.cat([p.detach().reshape(-1) for p in params]).numpy().copy(), zero, scale))
    return out


@pytest.mark.parametrize("precision", ["bfloat16", "float16_scaled", "float16"])
def test_torch_backend_run_equals_a_hand_written_autocast_loop(data, precision):
    steps, batch = 30, 64
    race = T.Race(*data, [T.TrainingRunConfig("Adam", {"lr": 0.01}, backend="torch")], model=SPEC,
                  batch_size=batch, precision=precision)
    ref = _hand_loop(data, precision, steps, batch)
    run = race.runs[0]
    assert run.amp.name == precision and (run.amp.grad_scaler is not None) == (precision == "float16_scaled")
    for t, (loss, weights, zero, scale) in enumerate(ref):
        race.train(1)
        assert run.history["loss"].shape == (t + 1,)
        assert run.history["loss"][-1] == loss, t  # bit for bit: the same torch ops
        assert run.adapter.flat.dtype == weights.dtype == np.float32 and run.adapter.flat.shape == weights.shape
        np.testing.assert_array_equal(run.adapter.flat, weights)
        h = run.amp.history
        assert h["step"][-1] == t + 1 and h["zero"][-1] == zero
        assert (math.isnan(h["scale"][-1]) and math.isnan(scale)) or h["scale"][-1] == scale


@pytest.mark.parametrize("precision", ["bfloat16", "float16_scaled"])
def test_optim_core_backend_run_follows_the_hand_written_loop(data, precision):
    """optim_core's SGD with momentum under the same autocast (and LossScaler): the torch loop's numbers up to
    float32 rounding of the two kernels."""
    steps, batch = 30, 64
    race = T.Race(*data, [T.TrainingRunConfig("SGD", {"lr": 0.05, "momentum": 0.9}, backend="optim_core")],
                  model=SPEC, batch_size=batch, precision=precision)
    ref = _hand_loop(data, precision, steps, batch, lr=0.05, opt="SGD")
    race.train(steps)
    run = race.runs[0]
    assert (run.amp.scaler is not None) == (precision == "float16_scaled")
    losses = np.array([r[0] for r in ref])
    assert run.history["loss"].shape == losses.shape and run.history["loss"].dtype == losses.dtype == np.float64
    np.testing.assert_allclose(run.history["loss"], losses, rtol=2e-3)
    assert run.adapter.flat.shape == ref[-1][1].shape and run.adapter.flat.dtype == ref[-1][1].dtype
    np.testing.assert_allclose(run.adapter.flat, ref[-1][1], rtol=2e-2, atol=2e-3)
    if precision == "float16_scaled":
        np.testing.assert_array_equal(run.amp.history["scale"], [r[3] for r in ref])


def test_bfloat16_changes_the_numbers_and_float32_does_not(data):
    """Autocast is really on: bfloat16's losses differ from float32's; a float32 race's equal the old path's."""
    cfg = [T.TrainingRunConfig("Adam", {"lr": 0.01}, backend="torch")]
    a = T.Race(*data, cfg, model=SPEC, precision="float32")
    b = T.Race(*data, cfg, model=SPEC, precision="bfloat16")
    a.train(5)
    b.train(5)
    assert not np.array_equal(a.runs[0].history["loss"], b.runs[0].history["loss"])
    ref = _hand_loop(data, "float32", 5, len(data[1]))
    want = np.array([r[0] for r in ref])
    got = a.runs[0].history["loss"]
    assert got.shape == want.shape == (5,) and got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------------
# Underflow and skipped steps
# ---------------------------------------------------------------------------------------


def test_float16_without_scaling_underflows_and_scaling_prevents_it(data):
    """Trained to a small loss, float16 gradients below 2^-24 become exactly 0 without scaling; with the loss
    scaled by 2^16 none do, and float32 / bfloat16 keep every entry."""
    cfg = T.TrainingRunConfig("Adam", {"lr": 0.05}, backend="optim_core")
    order = ["float32", "bfloat16", "float16_scaled", "float16"]
    race = T.Race(*data, [cfg] * 4, model=SPEC, precision=order)
    race.train(400)
    zero = {r.amp.name: r.amp.history["zero"] for r in race.runs}
    assert all(z.shape == (400,) for z in zero.values())
    assert zero["float16"][-1] > 0.05  # measured: 11% of the entries
    assert zero["float16"][0] == 0  # at the start the gradients are large enough
    assert zero["float32"].max() == 0 and zero["bfloat16"].max() == 0 and zero["float16_scaled"].max() == 0


@pytest.mark.parametrize("backend", ["torch", "optim_core"])
def test_an_overflow_skips_the_step_and_halves_the_scale(data, backend):
    """A scale so large that the float16 backward overflows: the step is skipped (weights unchanged, the
    optimizer's state untouched), the scale halves each time until the gradients fit, then training goes on."""
    race = T.Race(*data, [T.TrainingRunConfig("Adam", {"lr": 0.01}, backend=backend)], model=SPEC,
                  precision="float16_scaled")
    run = race.runs[0]
    state = {**run.amp.scaler_state(), "scale": 2.0**40}
    run.amp.load_scaler_state(state)
    w0 = run.adapter.flat.copy()
    race.train(40)
    h = run.amp.history
    skipped = h["skipped"] > 0
    k = int(skipped.sum())
    assert k >= 10 and skipped[:k].all() and not skipped[k:].any()  # skips first, then none
    np.testing.assert_array_equal(h["scale"][:k + 1], 2.0 ** (40 - np.arange(k + 1)))
    assert np.isnan(run.history["grad_norm"][:k]).all() and np.isfinite(run.history["grad_norm"][k:]).all()
    assert run.step == 40 and not run.diverged
    assert not np.array_equal(run.adapter.flat, w0)
    # The optimizer took only the 40 - k real steps.
    st = run.optimizer.state_dict()["state"][0]["step"]
    assert float(st) == 40 - k


def test_precision_is_refused_where_it_means_nothing(data):
    with pytest.raises(ValueError, match="float32 race"):
        T.Race(*data, [T.TrainingRunConfig("Adam", {})], model=SPEC, dtype="float64", precision="bfloat16")
    with pytest.raises(ValueError, match="precision must be one of"):
        T.Race(*data, [T.TrainingRunConfig("Adam", {})], model=SPEC, precision="float8")
    with pytest.raises(ValueError, match="one precision per run"):
        T.Race(*data, [T.TrainingRunConfig("Adam", {})], model=SPEC, precision=["float32", "float16"])


# ---------------------------------------------------------------------------------------
# The generated script: the same autocast and GradScaler, the same numbers
# ---------------------------------------------------------------------------------------


def _run_script(text, tmp_path, steps):
    script = tmp_path / "live.py"
    script.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "live.py", "--steps", str(steps), "--out", "curves.npz"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(tmp_path / "curves.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("precision", ["bfloat16", "float16_scaled"])
def test_the_script_reproduces_a_mixed_precision_race(data, tmp_path, precision):
    steps = 40
    race = T.Race(*data, [T.TrainingRunConfig("Adam", {"lr": 0.01}, backend="torch"),
                          T.TrainingRunConfig("SGD", {"lr": 0.1, "momentum": 0.9}, backend="torch")],
                  model=SPEC, batch_size=32, precision=precision)
    race.train(steps)
    text = live_script(race)
    assert 'torch.autocast("cpu"' in text and 'torch.amp.GradScaler("cpu"' in text
    assert f"'precision': '{precision}'" in text
    out = _run_script(text, tmp_path, steps)
    for r, run in enumerate(race.runs):
        assert out["loss"][r].shape == run.history["loss"].shape == (steps,)
        np.testing.assert_array_equal(out["loss"][r], run.history["loss"])  # the same torch ops, bit for bit
        for col in ("zero", "scale"):
            assert out[col][r].shape == run.amp.history[col].shape == (steps,)
            np.testing.assert_array_equal(out[col][r], run.amp.history[col])


def test_a_float32_script_has_no_mixed_precision_code(data):
    race = T.Race(*data, [T.TrainingRunConfig("Adam", {"lr": 0.01}, backend="torch")], model=SPEC)
    text = live_script(race, steps=3)
    assert "autocast" not in text and "GradScaler" not in text
