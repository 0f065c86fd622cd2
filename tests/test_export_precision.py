"""Every Playground export of a low-precision race says how its numbers were stored.

* The PyTorch script (:func:`app.exports.torch_script.torch_script`) of a float32, bfloat16 or
  float16 scene, run in a fresh Python, redraws the app's race: SGD, SGD with momentum and Adam
  with no remedy, fp32 master weights, Kahan summation and stochastic rounding; the other
  torch.optim optimizers and the references too. Compared with ``compute(scene)``'s paths step by
  step, free-running: within one ulp of the type the run stores its parameter in (float32 for
  master weights) at every step, as the engine-vs-torch tests of tests/test_precision.py allow, and
  equal in at least 90 % of the values. Why not bit for bit: a step's exact value often lies exactly
  halfway between two low-precision numbers (8-bit numbers mixed by 0.9 and 0.1), and torch's
  float64 kernels (``exp_avg.lerp_(g, 1 - β₁)``) and the engine's (``β₁ m + (1 - β₁) g``) land on
  either side of the midpoint; the paths are then one ulp apart for a few steps. Measured: 57 of the
  58 runs here equal at every step; AdamW with Kahan in bfloat16 one ulp apart at 9 of its 122
  values. The updates the script counts as rounded away equal the engine's record, but at such
  steps. And the paths are not the float64 race's (a script that ignored the precision would fail).
* Stochastic rounding also on its own terms: the script's rounded SGD on the bowl is unbiased
  (E[θ_T] = 0.999^T θ_0, worked out by hand), where rounding to nearest stalls.
* The header says the precision and the remedies, and says plainly which runs are reproduced only
  approximately (Adam8bit); so does the export menu, next to the item. Lookahead is refused in low
  precision, as the app refuses it.
* CSV and JSON carry the precision, each run's remedy and the rounded-away updates, equal to the
  engine's record; the offline page, the animations and the stills carry the precision in their title.
"""

from __future__ import annotations

import csv
import io
import json
import math
import runpy

import ml_dtypes
import numpy as np
import pytest

from app.exports import data
from app.exports.torch_script import precision_notes, torch_script
from app.playground.race import compute
from app.playground.scene import RunConfig, Scene
from optim_core.precision import ulp
from tests.test_export_torch_script import _needs, run_scripts

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")

STEPS = 200
SGD = {"lr": 1e-3}
MOMENTUM = {"lr": 1e-3, "momentum": 0.9}
ADAM = {"lr": 1e-2}
OPTIMIZERS = [("SGD", SGD), ("SGD", MOMENTUM), ("Adam", ADAM)]


def _scene(runs, precision, surface="Rosenbrock", **kw) -> Scene:
    return Scene.make(surface, runs, steps=kw.pop("steps", STEPS), precision=precision, **kw)


def _remedy_scenes(precision: str) -> dict[str, Scene]:
    """SGD, SGD momentum and Adam with every remedy, in two scenes of six runs (the Playground's most)."""
    runs = {m: [RunConfig.make(name, hp, remedy=m) for name, hp in OPTIMIZERS] for m in
            ("none", "master", "kahan", "stochastic")}
    return {f"{precision}_plain": _scene(runs["none"] + runs["master"], precision, start=(-1.2, 1.0)),
            f"{precision}_kahan": _scene(runs["kahan"] + runs["stochastic"], precision, start=(-0.5, 1.2))}


def _store(precision: str, remedy: str) -> str:
    """The type a run keeps its parameter in: fp32 master weights are float32."""
    return "float32" if remedy == "master" and precision in ("bfloat16", "float16") else precision


def _check(scene: Scene, saved, what: str) -> None:
    res = compute(scene)
    assert res.ok and not res.refused, res.errors
    tr = res.traj
    want = tr.positions[:, 0]
    got = saved["paths"]
    assert got.shape == want.shape == (len(scene.runs), scene.steps + 1, 2)
    assert got.dtype == want.dtype == np.float64
    assert saved["diverged_at"].tolist() == tr.diverged_step[:, 0].tolist(), what
    for k, run in enumerate(scene.runs):
        label = f"{what} run {k + 1} ({res.labels[k]})"
        end = scene.steps + 1 if tr.diverged_step[k, 0] < 0 else int(tr.diverged_step[k, 0])
        g, w = got[k, :end], want[k, :end]
        assert np.all(np.abs(g - w) <= ulp(w, _store(scene.precision, run.remedy))), label
        off = g != w
        assert off.mean() <= 0.1, f"{label}: {off.sum()} values differ"
        if tr.diverged_step[k, 0] < 0:  # the updates rounded away (a diverged run: the engine counts on)
            # The same counts, except at the steps where a tie put the paths one ulp apart.
            miss = np.abs(saved["lost"][k] - tr.precision["lost_total"][k, 0])
            assert miss.shape == (2,) and np.all(miss <= off.sum(axis=0)), label
    # Rounding did something: the float64 race of the same runs is elsewhere.
    exact = compute(Scene.make(scene.surface, scene.runs, steps=scene.steps, start=scene.start)).traj.positions[:, 0]
    assert exact.shape == want.shape
    assert not any(np.array_equal(exact[k], got[k], equal_nan=True) for k in range(len(scene.runs))), what


@pytest.mark.parametrize("precision", ["bfloat16", "float16", "float32"])
def test_scripts_of_sgd_momentum_and_adam_with_every_remedy_match_the_app(precision, tmp_path):
    scenes = _remedy_scenes(precision)
    saved = run_scripts(scenes, tmp_path)
    for name, scene in scenes.items():
        _check(scene, saved[name], name)
    if precision == "bfloat16":
        # The remedies matter here: plain SGD and the momentum run lose updates in bfloat16, Kahan keeps them.
        lost = saved["bfloat16_plain"]["lost"]
        assert lost.shape == (6, 2) and lost.dtype == np.int64
        assert lost[0].sum() > 0 and lost[3:].sum() == 0  # fp32 master weights: nothing rounded away


def test_the_other_optimizers_match_the_app_in_low_precision(tmp_path):
    _needs("lion_pytorch", "timm", "transformers", "sophia_opt")
    torch_runs = [RunConfig.make(n, hp) for n, hp in (
        ("RMSprop", {"lr": 0.01, "momentum": 0.3}), ("Adagrad", {"lr": 0.3}), ("Adadelta", {"lr": 2.0}),
        ("NAdam", {"lr": 0.05}), ("RAdam", {"lr": 0.05}), ("Adamax", {"lr": 0.05}))]
    references = [RunConfig.make(n, hp, remedy=m) for n, hp, m in (
        ("Lion", {"lr": 0.01}, "kahan"), ("LAMB", {"lr": 0.05}, "none"), ("LARS", {"lr": 5.0}, "master"),
        ("Adafactor", {"lr": 0.05, "relative_step": False, "beta1": 0.9}, "none"),
        ("Sophia", {"lr": 0.05, "hessian_interval": 3}, "none"), ("AdamW", {"lr": 0.05, "weight_decay": 0.1}, "kahan"))]
    scenes = {"torch_fp16": _scene(torch_runs, "float16", "Three-hump camel", steps=60),
              "refs_bf16": _scene(references, "bfloat16", steps=60)}
    saved = run_scripts(scenes, tmp_path)
    for name, scene in scenes.items():
        _check(scene, saved[name], name)


def test_noise_schedules_and_clipping_in_low_precision(tmp_path):
    # The gradient is rounded after the noise and before clipping, as the engine's oracle is wrapped.
    runs = [RunConfig.make("SGD", {"lr": 0.01, "momentum": 0.5}, clip_norm=1.0, remedy="kahan"),
            RunConfig.make("Adam", {"lr": 0.05}, clip_value=0.3, remedy="master"),
            RunConfig.make("SGD", {"lr": 0.002, "momentum": 0.5}, schedule="StepLR",
                           schedule_params={"step_size": 10, "gamma": 0.5}),
            RunConfig.make("RMSprop", {"lr": 0.01}, batch=8, remedy="stochastic")]
    scenes = {"noisy_bf16": Scene.make("Himmelblau", runs, steps=50, noise=0.5, seed=7, precision="bfloat16")}
    saved = run_scripts(scenes, tmp_path)
    _check(scenes["noisy_bf16"], saved["noisy_bf16"], "noisy_bf16")


def test_stochastic_rounding_in_the_script_is_unbiased(tmp_path):
    # SGD on the bowl is linear and its bfloat16 gradient (θ itself) exact, so with unbiased rounding
    # E[θ_T] = 0.999^T θ_0. Each rounding adds a zero-mean error of variance at most ulp²/4 (ulp <= 2^-7
    # on this path), damped by 0.999 a step: a run's standard deviation is at most ulp/2 sqrt(Σ 0.999^2k).
    # Six runs (six random streams): their mean within 5 of its standard deviations. Rounding to
    # nearest never leaves the start: 0.39 away, over 15 of them.
    T, n = 300, 6
    scene = Scene.make("Quadratic bowl", [RunConfig.make("SGD", {"lr": 1e-3}, remedy="stochastic")] * n, steps=T,
                       start=(1.5, 1.0), seed=5, precision="bfloat16")
    saved = run_scripts({"sr": scene}, tmp_path)["sr"]
    final = saved["paths"][:, -1]
    assert final.shape == (n, 2) and final.dtype == np.float64
    assert np.unique(final[:, 0]).size > 1  # the streams differ
    sd = 2.0**-7 / 2 * math.sqrt(sum(0.999 ** (2 * k) for k in range(T)))
    want = np.array([1.5, 1.0]) * 0.999**T
    assert np.all(np.abs(final.mean(axis=0) - want) <= 5 * sd / math.sqrt(n)), final.mean(axis=0) - want
    _check(scene, saved, "sr")  # and they are the app's own roundings


@pytest.mark.parametrize("precision", ["bfloat16", "float16", "float32"])
def test_the_scripts_rounding_is_correct_where_torchs_cast_rounds_twice(precision, tmp_path, float64_torch):
    # The script's round_to against ml_dtypes' casts from float64 (one correct rounding), an independent
    # reference; values just past a rounding midpoint are where a cast through float32 goes wrong.
    path = tmp_path / "rounding.py"
    path.write_text(torch_script(_scene([RunConfig.make("SGD", SGD)], precision, steps=5)), encoding="utf-8")
    script = runpy.run_path(str(path), run_name="not_main")  # sets torch's default dtype (the fixture restores it)
    dtype = {"bfloat16": ml_dtypes.bfloat16, "float16": np.float16, "float32": np.float32}[precision]
    bits = {"bfloat16": 8, "float16": 11, "float32": 24}[precision]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(4000) * 10.0 ** rng.integers(-6, 5, 4000)
    mid = 1.0 + 2.0**-bits  # halfway between 1 and the next value up
    x = np.concatenate([x, [mid, mid + 2.0**-40, -(mid + 2.0**-40), 3 * mid, 1e-42, 7e4, 1e39, np.inf, np.nan]])
    got = script["round_to"](torch.from_numpy(x), getattr(torch, precision)).numpy()
    with np.errstate(over="ignore"):
        want = x.astype(dtype).astype(np.float64)
    assert got.shape == want.shape == x.shape and got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    if precision != "float32":  # torch's own cast differs at a value just past a midpoint
        past = torch.tensor([mid + 2.0**-40])
        assert past.to(getattr(torch, precision)).double().item() == 1.0 != got[-8]


# ---------------------------------------------------------------------------------------
# What the script and the menu say
# ---------------------------------------------------------------------------------------


def _header(text: str) -> str:
    return text.split('"""')[1]


def test_the_header_says_the_precision_and_the_remedies():
    runs = [RunConfig.make("SGD", SGD, remedy=m) for m in ("none", "master", "kahan", "stochastic")]
    head = _header(torch_script(_scene(runs, "bfloat16", seed=4)))
    flat = " ".join(head.split())
    assert "in bfloat16" in head.splitlines()[0]
    assert "stored in bfloat16" in flat and "8 significant bits" in flat
    assert "run 2 fp32 master weights, run 3 Kahan summation, run 4 stochastic rounding" in flat
    assert "default_rng([4, run index])" in flat
    assert "NOT REPRODUCED EXACTLY" not in flat
    # float64: the header as before, nothing about storage.
    plain = _header(torch_script(Scene.make("Rosenbrock", runs[:1], steps=20)))
    assert "in float64" in plain and "Precision" not in plain and "Storage" not in plain


def test_adam8bit_is_said_to_be_approximate_in_the_header_and_the_menu():
    from app.playground import figures as F
    from app.playground.exports import race_exports

    scene = _scene([RunConfig.make("SGD", SGD), RunConfig.make("Adam8bit", {"lr": 0.01})], "float16", steps=20)
    assert set(precision_notes(scene)) == {1}
    assert precision_notes(Scene.make("Rosenbrock", scene.runs, steps=20)) == {}
    flat = " ".join(_header(torch_script(scene)).split())
    assert "NOT REPRODUCED EXACTLY: run 2 (Adam8bit): bitsandbytes computes in float32" in flat
    res = compute(scene)
    items = {e.file_name.rsplit(".", 1)[1]: e for e in
             race_exports(scene, res, res.surface, F.landscape(res.surface), log=True)}
    item = items["py"]
    assert item.unavailable is None and item.file_name == "rosenbrock-2-runs-20-steps-float16.py"
    assert item.label == "PyTorch script (float16; only approximately: run 2)"
    assert "float16" in item.help and "Adam8bit" in item.help and "float32" in item.help
    exact = _scene([RunConfig.make("SGD", SGD)], "bfloat16", steps=20)
    res = compute(exact)
    items = {e.file_name.rsplit(".", 1)[1]: e for e in
             race_exports(exact, res, res.surface, F.landscape(res.surface), log=True)}
    assert items["py"].label == "PyTorch script (bfloat16)"


def test_lookahead_is_refused_in_low_precision_as_the_app_refuses_it():
    scene = _scene([RunConfig.make("SGD", SGD), RunConfig.make("SGD", SGD, lookahead=(5, 0.5))], "bfloat16", steps=20)
    assert not compute(scene).ok  # the app refuses the race
    with pytest.raises(ValueError) as err:
        torch_script(scene)
    assert "Run 2" in str(err.value) and "Lookahead" in str(err.value) and "bfloat16" in str(err.value)


# ---------------------------------------------------------------------------------------
# CSV, JSON, the offline page
# ---------------------------------------------------------------------------------------

DATA_SCENE = _scene([RunConfig.make("SGD", SGD), RunConfig.make("SGD", SGD, remedy="kahan"),
                     RunConfig.make("Adam", ADAM, remedy="master")], "bfloat16", "Quadratic bowl", steps=40,
                    start=(1.5, 1.0))


@pytest.fixture(scope="module")
def data_res():
    res = compute(DATA_SCENE)
    assert res.ok, res.errors
    return res


def test_csv_carries_precision_remedy_and_rounded_away_updates(data_res):
    rows = list(csv.DictReader(io.StringIO(data.race_csv(DATA_SCENE, data_res).decode("utf-8"))))
    T = DATA_SCENE.steps
    assert len(rows) == 3 * (T + 1)
    lost = data_res.traj.precision["lost"]
    assert lost.shape == (3, 1, T, 2) and lost.dtype == np.bool_
    assert lost[0].all() and lost[2].sum() == 0  # plain bfloat16 SGD on the bowl stalls; fp32 master does not
    for k, remedy in enumerate(("none", "kahan", "master")):
        run = [r for r in rows if int(r["run"]) == k]
        assert {r["precision"] for r in run} == {"bfloat16"} and {r["remedy"] for r in run} == {remedy}
        for i in (0, 1):
            cells = [r[f"lost{i + 1}"] for r in run]
            assert cells[T] == ""  # no step after the last row
            assert [int(c) for c in cells[:T]] == lost[k, 0, :, i].astype(int).tolist()
    # float64: the columns say so; no lost columns (nothing is rounded).
    plain = Scene.make("Quadratic bowl", DATA_SCENE.runs, steps=5)
    rows = list(csv.DictReader(io.StringIO(data.race_csv(plain, compute(plain)).decode("utf-8"))))
    assert {r["precision"] for r in rows} == {"float64"} and {r["remedy"] for r in rows} == {"none"}
    assert "lost1" not in rows[0]


def test_json_carries_precision_remedy_and_rounded_away_updates(data_res):
    doc = json.loads(data.race_json(DATA_SCENE, data_res))
    rec = data_res.traj.precision
    assert doc["precision"] == "bfloat16" and doc["scene"]["precision"] == "bfloat16"
    assert [r["remedy"] for r in doc["scene"]["runs"]] == ["none", "kahan", "master"]
    for k, run in enumerate(doc["runs"]):
        assert run["precision"] == "bfloat16" and run["remedy"] == ("none", "kahan", "master")[k]
        assert np.array(run["lost"]).shape == (DATA_SCENE.steps, 2)
        assert run["lost"] == rec["lost"][k, 0].astype(int).tolist()
        assert run["lost_total"] == rec["lost_total"][k, 0].tolist()
        assert run["moved_total"] == rec["moved_total"][k, 0].tolist()
    assert doc["runs"][0]["lost_total"] == [DATA_SCENE.steps] * 2
    plain = Scene.make("Quadratic bowl", DATA_SCENE.runs, steps=5)
    doc = json.loads(data.race_json(plain, compute(plain)))
    assert doc["precision"] == "float64" and "lost" not in doc["runs"][0]
    assert [(r["precision"], r["remedy"]) for r in doc["runs"]] == [("float64", "none")] * 3


def test_a_diverged_low_precision_run_has_no_lost_cells_after_it():
    scene = _scene([RunConfig.make("SGD", {"lr": 0.05, "momentum": 0.9}), RunConfig.make("SGD", SGD)], "float16",
                   steps=30)
    res = compute(scene)
    ds = int(res.traj.diverged_step[0, 0])
    assert ds > 0 and res.traj.diverged_step[1, 0] < 0
    rows = [r for r in csv.DictReader(io.StringIO(data.race_csv(scene, res).decode("utf-8"))) if r["run"] == "0"]
    assert all(r["lost1"] == "" and r["lost2"] == "" for r in rows[ds - 1:])
    assert all(r["lost1"] in ("0", "1") for r in rows[:ds - 1])
    run = json.loads(data.race_json(scene, res))["runs"][0]
    assert run["lost"][ds - 1:] == [[None, None]] * (scene.steps - ds + 1)
    want = res.traj.precision["lost"][0, 0, :ds - 1].sum(axis=0)
    assert run["lost_total"] == want.tolist()


def test_the_offline_page_stills_and_animations_name_the_precision(data_res):
    from app.playground import figures as F
    from app.playground.exports import race_exports

    surface = data_res.surface
    items = {e.label: e for e in race_exports(DATA_SCENE, data_res, surface, F.landscape(surface), log=True)}
    page = items["Offline page (HTML)"].make().decode("utf-8")
    title = f"{surface.title} · {DATA_SCENE.steps} steps · bfloat16"
    assert f"<title>{title}</title>" in page and f"<h1>{title}</h1>" in page
    payload = json.loads(page.split('id="oe-race-data">', 1)[1].split("</script>", 1)[0])
    assert payload["title"] == title
    assert ["Kahan" in run["label"] for run in payload["runs"]] == [False, True, False]  # the legend's remedies
    assert "fp32 master" in payload["runs"][2]["label"]
    # float64: the title as before.
    plain = Scene.make("Quadratic bowl", DATA_SCENE.runs, steps=5)
    res = compute(plain)
    items = {e.label: e for e in race_exports(plain, res, res.surface, F.landscape(res.surface), log=True)}
    assert "<title>" + f"{surface.title} · 5 steps</title>" in items["Offline page (HTML)"].make().decode("utf-8")
