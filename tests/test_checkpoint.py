"""Checkpoints of a Live Training race (app/training/checkpoint.py): resumed equals never stopped, bit for bit;
the file is safetensors and everything in it is checked; the optimizer state's bytes equal the Memory page's."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[torch]')")
import safetensors.numpy as stn  # noqa: E402

from app.training import backend as T  # noqa: E402
from app.training import checkpoint as C  # noqa: E402
from app.training.datasets import make_dataset, train_test_split  # noqa: E402

SPEC = T.ModelSpec(2, 8, "tanh")


@pytest.fixture(scope="module")
def data():
    X, y = make_dataset("moons", n=200, noise=0.2, seed=5)
    return train_test_split(X, y, test_fraction=0.2, seed=5)


def _configs(backend):
    """SGD with momentum and Adam, with schedules (one cycling the momentum too) and accumulation."""
    return [T.TrainingRunConfig("SGD", {"lr": 0.1, "momentum": 0.9}, backend=backend, schedule="CosineAnnealingLR",
                                schedule_steps=60),
            T.TrainingRunConfig("Adam", {"lr": 0.01}, backend=backend, schedule="OneCycleLR", schedule_steps=60,
                                accumulate=2)]


def _race(data, configs, **kw):
    return T.Race(*data, configs, model=SPEC, batch_size=16, seed=4, eval_every=5, **kw)


def _same_run(a: T.Run, b: T.Run):
    for key in ("history", "evals"):
        x, y = getattr(a, key), getattr(b, key)
        assert x.keys() == y.keys()
        for col in x:
            assert x[col].shape == y[col].shape and x[col].dtype == y[col].dtype
            np.testing.assert_array_equal(x[col], y[col])
    assert a.adapter.flat.dtype == b.adapter.flat.dtype == np.float32
    np.testing.assert_array_equal(a.adapter.flat, b.adapter.flat)
    sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].keys() == sb[k].keys()
        for key in sa[k]:
            va, vb = sa[k][key], sb[k][key]
            if isinstance(va, torch.Tensor):
                assert va.dtype == vb.dtype and va.shape == vb.shape and torch.equal(va, vb)
            elif isinstance(va, np.ndarray):
                assert va.dtype == vb.dtype and va.shape == vb.shape
                np.testing.assert_array_equal(va, vb)
            else:
                assert type(va) is type(vb) and va == vb
    amp_a, amp_b = a.amp.history, b.amp.history
    for col in amp_a:
        np.testing.assert_array_equal(amp_a[col], amp_b[col])
    assert a.step == b.step


@pytest.mark.parametrize("precision", ["float32", "float16_scaled"])
@pytest.mark.parametrize("backend", ["torch", "optim_core"])
def test_resumed_equals_never_stopped(data, backend, precision):
    """N steps, save, load into a fresh race, M more = N + M steps straight: every loss, evaluation, weight and
    optimizer-state entry equal bit for bit (mini-batches of 16, so the batch order matters; schedules, so the
    schedule's position matters)."""
    n, m = 23, 31  # 23 steps of 16 points: in the middle of the 3rd epoch (160 training points)
    first = _race(data, _configs(backend), precision=precision)
    first.train(n)
    blob = C.save(first, page={"lt_dataset": "moons"})
    resumed = C.restore(C.read(blob), *data)
    assert [r.step for r in resumed.runs] == [n, n]
    resumed.train(m)
    straight = _race(data, _configs(backend), precision=precision)
    straight.train(n + m)
    for a, b in zip(resumed.runs, straight.runs):
        _same_run(a, b)
    # and the race that was saved, trained on, agrees too (saving changed nothing)
    first.train(m)
    for a, b in zip(first.runs, straight.runs):
        _same_run(a, b)


def test_resume_keeps_sophias_random_labels(data):
    """Sophia samples labels from its own generator every k steps: its state is in the file."""
    cfg = [T.TrainingRunConfig("Sophia", {"lr": 0.005, "hessian_interval": 3}, backend="optim_core")]
    first = _race(data, cfg)
    first.train(10)
    resumed = C.restore(C.read(C.save(first)), *data)
    resumed.train(11)
    straight = _race(data, cfg)
    straight.train(21)
    _same_run(resumed.runs[0], straight.runs[0])


def test_resume_demo_says_identical(data):
    race = _race(data, _configs("optim_core"))
    demo = C.resume_demo(race, 12, 9)
    assert demo["identical"] and demo["loss_diff"] == 0 and demo["weight_diff"] == 0
    assert demo["resumed"].step == demo["straight"].step == 21
    fig = C.resume_figure(demo)
    assert "bit for bit" in fig.layout.title.text
    # one thick "never stopped" line and one set of resumed dots per run
    assert [t.mode for t in fig.data] == ["lines", "markers"] * 2
    assert min(fig.data[1].x) == 13  # the resumed dots start right after the save


# ---------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------


def test_the_file_is_safetensors_with_the_optimizer_state_by_name(data):
    race = _race(data, [T.TrainingRunConfig("Adam", {"lr": 0.01}, backend="torch")])
    race.train(3)
    blob = C.save(race)
    tensors = stn.load(blob)  # a plain safetensors reader opens it
    (n,) = struct.unpack("<Q", blob[:8])
    meta = json.loads(blob[8:8 + n])["__metadata__"]
    header = json.loads(meta["optex"])
    assert header["format"] == C.FORMAT and header["race"]["seed"] == 4
    # Adam's state: exp_avg and exp_avg_sq per parameter, float32 of its shape, and its step (torch: a 0-d tensor)
    names = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    shapes = [(8, 2), (8,), (8, 8), (8,), (2, 8), (2,)]
    for k, (name, shape) in enumerate(zip(names, shapes)):
        assert tensors[f"run0.weights.{name}"].shape == shape
        for key in ("exp_avg", "exp_avg_sq"):
            t = tensors[f"run0.optim.{k}.{key}"]
            assert t.dtype == np.float32 and t.shape == shape
        assert tensors[f"run0.optim.{k}.step"].shape == () and float(tensors[f"run0.optim.{k}.step"]) == 3.0
    assert tensors["run0.history"].shape == (3, 6) and tensors["run0.evals"].shape == (1, 5)
    assert b"pickle" not in blob and not blob.startswith(b"\x80")  # no pickle protocol header


def _rewrite(blob, tensors=None, header=None):
    """The checkpoint with its tensors and/or header changed (what a forged file could hold)."""
    ts = stn.load(blob)
    (n,) = struct.unpack("<Q", blob[:8])
    h = json.loads(json.loads(blob[8:8 + n])["__metadata__"]["optex"])
    if tensors:
        tensors(ts)
    if header:
        header(h)
    return stn.save(ts, metadata={"optex": json.dumps(h)})


@pytest.fixture(scope="module")
def saved(data):
    race = _race(data, [T.TrainingRunConfig("Adam", {"lr": 0.01}, backend="optim_core"),
                        T.TrainingRunConfig("SGD", {"lr": 0.1, "momentum": 0.9}, backend="torch")])
    race.train(7)
    return C.save(race, page={"lt_seed": 4})


def _set(d, path, value):
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


BAD_FILES = {
    "empty": (lambda b: b"", "too short"),
    "random bytes": (lambda b: bytes(range(256)) * 4, "header"),
    "truncated": (lambda b: b[:-100], "tensors cannot be read"),
    "header cut": (lambda b: b[:200], "header length"),
    "too large": (lambda b: b + b"\0" * C.MAX_BYTES, "at most"),
    "not ours": (lambda b: stn.save({"x": np.zeros(3)}), "not an Optimizer Explorer"),
    "weights shape": (lambda b: _rewrite(b, tensors=lambda t: t.__setitem__("run0.weights.0.weight",
                                                                            np.zeros((8, 3), np.float32))),
                      "must be float32 (8, 2)"),
    "weights dtype": (lambda b: _rewrite(b, tensors=lambda t: t.__setitem__(
        "run0.weights.0.bias", t["run0.weights.0.bias"].astype(np.float64))), "must be float32"),
    "weights nan": (lambda b: _rewrite(b, tensors=lambda t: t["run1.weights.2.bias"].__setitem__(0, np.nan)),
                    "infinite or NaN"),
    "missing weights": (lambda b: _rewrite(b, tensors=lambda t: t.pop("run0.weights.4.weight")), "missing"),
    "extra tensor": (lambda b: _rewrite(b, tensors=lambda t: t.__setitem__("evil", np.zeros(2))),
                     "does not write"),
    "state shape": (lambda b: _rewrite(b, tensors=lambda t: t.__setitem__("run0.optim.0.exp_avg",
                                                                          np.zeros((2, 8), np.float32))),
                    "exp_avg must be a float32 array of shape (8, 2)"),
    "state nan": (lambda b: _rewrite(b, tensors=lambda t: t["run1.optim.1.momentum_buffer"].__setitem__(0, np.inf)),
                  "infinite or NaN"),
    "history rows": (lambda b: _rewrite(b, tensors=lambda t: t.__setitem__("run0.history", t["run0.history"][:5])),
                     "5 rows for 7 steps"),
    "unknown optimizer": (lambda b: _rewrite(b, header=lambda h: _set(h, ["runs", 0, "config", "optimizer"],
                                                                      "Evil")), "unknown optimizer"),
    "unknown key": (lambda b: _rewrite(b, header=lambda h: _set(h, ["runs", 0, "config", "code"], "x")),
                    "unknown or missing settings"),
    "bad lr": (lambda b: _rewrite(b, header=lambda h: _set(h, ["runs", 0, "config", "hypers", "d", "lr"], -1.0)),
               "cannot train"),
    "step too large": (lambda b: _rewrite(b, header=lambda h: _set(h, ["runs", 0, "step"], 10**9)), "step must be"),
    "width": (lambda b: _rewrite(b, header=lambda h: _set(h, ["race", "spec", "d", "width"], 10**6)),
              "model cannot be built"),
    "batch order": (lambda b: _rewrite(b, tensors=lambda t: t.__setitem__(
        "data.perm.0", t["data.perm.0"][::-1].copy())), "shuffles epoch 0 differently"),
    "other data": (lambda b: _rewrite(b, header=lambda h: _set(h, ["race", "data_sha256"], "0" * 64)),
                   "data differ"),
    "hyper changed": (lambda b: _rewrite(b, header=lambda h: _set(
        h, ["runs", 1, "optimizer", "param_groups", 0, "d", "momentum"], 0.5)), "momentum is 0.5 in the file"),
    "precision": (lambda b: _rewrite(b, header=lambda h: _set(h, ["race", "precision"], "float8")),
                  "precision must be one of"),
    "version": (lambda b: _rewrite(b, header=lambda h: _set(h, ["version"], 99)), "version"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_gets_a_sentence_not_a_traceback(data, saved, case):
    make, message = BAD_FILES[case]
    blob = make(saved)
    with pytest.raises(C.CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        C.restore(C.read(blob), *data)


def test_the_good_file_loads(data, saved):
    race = C.restore(C.read(saved), *data)
    assert race.step == 7 and C.read(saved).page == {"lt_seed": 4}


def _page(values: dict):
    """A checkpoint whose page settings are ``values`` (written as the format writes them: a tuple as
    {"u": [...]}), read back through :func:`C.read`."""
    def enc(v):
        return {"u": [enc(x) for x in v]} if isinstance(v, tuple) else v

    return C.read(_rewrite(_SAVED[0], header=lambda h: h.__setitem__("page", {"d": {k: enc(v) for k, v in
                                                                                    values.items()}})))


_SAVED: list = []  # the module's saved file, for helpers outside fixtures (filled by the autouse fixture)


@pytest.fixture(autouse=True, scope="module")
def _keep_saved(saved):
    _SAVED[:] = [saved]


# A page's controls as the page declares them (app/views/live_training.py's checkpoint_controls): a select box,
# a float slider, an int number input, a toggle, a text input, a choice of tuples (MultiStepLR's milestones).
CONTROLS = {"lt_act": ["relu", "tanh"], "lt_noise": C.Span(0.0, 0.5), "lt_seed": C.Span(0, 10_000),
            "lt_run3_clip_on": bool, "lt_run3_sched_FormulaLR_formula": str,
            "lt_run3_sched_MultiStepLR_milestones": ((300, 600), (500, 750)), "lt_n_runs": [1, 2, 3, 4, None]}


@pytest.mark.parametrize("values", [
    {"lt_act": "tanh", "lt_noise": 0.5, "lt_seed": 0, "lt_run3_clip_on": False, "lt_n_runs": None},
    {"lt_seed": 10_000, "lt_noise": 0.0, "lt_run3_sched_FormulaLR_formula": "x" * C.MAX_TEXT},
    {"lt_run3_sched_MultiStepLR_milestones": (500, 750)},
    {},
])
def test_page_values_a_widget_can_show_are_kept(values):
    assert C.page_values(_page(values), CONTROLS) == values


@pytest.mark.parametrize("values, message", [
    ({"lt_evil": 1}, "this page does not have ('lt_evil')"),
    ({"__class__": 1}, "this page does not have ('__class__')"),
    ({"lt_act": "swish"}, "does not offer (lt_act = swish)"),
    ({"lt_noise": 0.51}, "does not offer (lt_noise = 0.51)"),
    ({"lt_noise": -1e-9}, "does not offer (lt_noise = -1e-09)"),
    ({"lt_seed": 10_001}, "does not offer (lt_seed = 10001)"),
    ({"lt_seed": 4.0}, "does not offer (lt_seed = 4.0)"),  # a float for an int widget
    ({"lt_seed": True}, "does not offer (lt_seed = True)"),  # a bool is no int here
    ({"lt_seed": "4"}, "does not offer (lt_seed = 4)"),
    ({"lt_noise": 0}, "does not offer (lt_noise = 0)"),  # an int for a float slider
    ({"lt_run3_clip_on": 1}, "does not offer (lt_run3_clip_on = 1)"),
    ({"lt_run3_clip_on": None}, "does not offer (lt_run3_clip_on = None)"),
    ({"lt_run3_sched_FormulaLR_formula": 3}, "does not offer (lt_run3_sched_FormulaLR_formula = 3)"),
    ({"lt_run3_sched_MultiStepLR_milestones": (500.0, 750)}, "(lt_run3_sched_MultiStepLR_milestones = (500.0, 750))"),
    ({"lt_run3_sched_MultiStepLR_milestones": [500, 750]}, "(lt_run3_sched_MultiStepLR_milestones = [500, 750])"),
    ({"lt_run3_sched_MultiStepLR_milestones": (1, 2)}, "(lt_run3_sched_MultiStepLR_milestones = (1, 2))"),
    ({"lt_n_runs": 5}, "does not offer (lt_n_runs = 5)"),
    ({"lt_act": {"d": {}}}, "does not offer (lt_act = {}"),
    ({"lt_act": "tanh", "lt_evil": 2}, "this page does not have ('lt_evil')"),  # one bad key refuses the whole file
])
def test_page_values_no_widget_can_show_refuse_the_file(values, message):
    with pytest.raises(C.CheckpointError, match=re.escape(message)):
        C.page_values(_page(values), CONTROLS)


def test_a_number_out_of_json_range_is_refused(saved):
    # JSON's NaN and Infinity (Python writes and reads them) for a float slider
    for bad in (float("nan"), float("inf")):
        with pytest.raises(C.CheckpointError, match="lt_noise"):
            C.page_values(_page({"lt_noise": bad}), CONTROLS)


def test_hyper_offers_what_its_widget_draws():
    """Each kind of registry hyperparameter, against the registry's own declarations."""
    from optim_core import registry

    from app.ui.controls import hyper_options

    def hyper(entry, name):
        return next(h for h in getattr(entry, "hypers", None) or entry.params if h.name == name)

    adam, sophia = registry.get_optimizer("Adam"), registry.get_optimizer("Sophia")
    lr = hyper(adam, "lr")
    assert C.hyper_offers(lr, 0.01) == hyper_options(lr) and 0.01 in hyper_options(lr)
    assert C.hyper_offers(hyper(adam, "amsgrad"), False) is bool
    assert C.hyper_offers(hyper(sophia, "hessian_interval"), 10) == C.Span(1, 100)  # declared 1..100
    assert C.hyper_offers(hyper(registry.get_optimizer("Adam8bit"), "block_size"), 256) == (
        64, 128, 256, 512, 1024, 2048, 4096)
    assert C.hyper_offers(hyper(registry.get_schedule("FormulaLR"), "formula"), None) is str
    # Adafactor's lr starts at None: a "set lr" toggle, then a slider that offers no "auto"
    ada_lr = hyper(registry.get_optimizer("Adafactor"), "lr")
    assert hyper_options(ada_lr)[0] is None and C.hyper_offers(ada_lr, None) == hyper_options(ada_lr)[1:]
    keys = C.hyper_controls("lt_run3_Adafactor", [ada_lr], {})
    assert keys == {"lt_run3_Adafactor_lr": hyper_options(ada_lr)[1:], "lt_run3_Adafactor_lr_on": bool}
    # started at a number (a page's own start), the slider offers "auto" too and there is no toggle
    assert C.hyper_controls("p", [ada_lr], {"lr": 0.01}) == {"p_lr": hyper_options(ada_lr)}


# -- fuzz: any page-value dict is either refused with a sentence or holds only values a widget can show ----------
# Each key of CONTROLS with values its widget shows and values it does not, written here from the widget's
# declaration (not from the checker): the file must be refused exactly when it holds one of the latter.
_SHOWN = {"lt_act": ["relu", "tanh"], "lt_noise": [0.0, 0.15, 0.5, 0.25], "lt_seed": [0, 4, 10_000],
          "lt_run3_clip_on": [True, False], "lt_run3_sched_FormulaLR_formula": ["", "0.5*(1 + cos(pi*t/T))"],
          "lt_run3_sched_MultiStepLR_milestones": [(300, 600), (500, 750)], "lt_n_runs": [1, 4, None]}
_NOT_SHOWN = {"lt_act": ["swish", "", 1, None, True], "lt_noise": [0.500001, -0.01, 1, float("nan"), float("inf"), "0.1"],
              "lt_seed": [-1, 10_001, 4.0, True, None, 10**30], "lt_run3_clip_on": [0, 1, "True", None, 1.0],
              "lt_run3_sched_FormulaLR_formula": [1, None, "x" * (C.MAX_TEXT + 1), True],
              "lt_run3_sched_MultiStepLR_milestones": [(300,), (300.0, 600), [300, 600], (300, 600, 900), "300, 600"],
              "lt_n_runs": [0, 5, 2.0, False, "2"]}
_UNKNOWN = ["lt_evil", "lt_run4_opt", "lt_start", "lt_ckpt_file", "", "lt_run3_decay", "LT_ACT"]


def test_fuzz_page_values():
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    assert set(_SHOWN) == set(_NOT_SHOWN) == set(CONTROLS)
    entry = st.one_of(
        st.sampled_from(sorted(_SHOWN)).flatmap(lambda k: st.tuples(st.just(k), st.sampled_from(_SHOWN[k]),
                                                                    st.just(True))),
        st.sampled_from(sorted(_NOT_SHOWN)).flatmap(lambda k: st.tuples(st.just(k), st.sampled_from(_NOT_SHOWN[k]),
                                                                        st.just(False))),
        st.tuples(st.one_of(st.sampled_from(_UNKNOWN), st.text(max_size=20)),
                  st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                  st.just(False)).filter(lambda e: e[0] not in CONTROLS))

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(entry, max_size=6, unique_by=lambda e: e[0]))
    def check(entries):
        values = {k: v for k, v, _ in entries}
        good = all(ok for _, _, ok in entries)
        try:
            got = C.page_values(_page(values), CONTROLS)
        except C.CheckpointError as exc:
            assert not good, (values, exc)
            assert str(exc) and "\n" not in str(exc)
        else:
            assert good, values
            assert got.keys() == values.keys()
            for k, v in values.items():  # kept as written, type included (NaN is never among these)
                assert type(got[k]) is type(v) and got[k] == v

    check()


# ---------------------------------------------------------------------------------------
# What the state holds = the Memory page
# ---------------------------------------------------------------------------------------

# The 2-8-8-2 MLP: 2·8 + 8 + 8·8 + 8 + 8·2 + 2 = 114 parameters, counted by hand.
N_PARAMS = 114


@pytest.mark.parametrize("backend", ["torch", "optim_core"])
@pytest.mark.parametrize("name, hypers, buffers", [
    ("Adam", {"lr": 0.01}, 2),  # exp_avg, exp_avg_sq
    ("SGD", {"lr": 0.1, "momentum": 0.9}, 1),  # momentum_buffer
    ("SGD", {"lr": 0.1}, 0),  # none
    ("RMSprop", {"lr": 0.01}, 1),  # square_avg
    ("Adagrad", {"lr": 0.1}, 1),  # sum
])
def test_state_bytes_equal_the_memory_page(data, backend, name, hypers, buffers):
    assert SPEC.n_params == N_PARAMS
    race = _race(data, [T.TrainingRunConfig(name, hypers, backend=backend)])
    race.train(2)
    check = C.memory_check(race, 0)
    assert check["buffers"] == buffers * 4 * N_PARAMS  # float32: 4 bytes an entry
    assert check["memory_page"] == buffers * 4 * N_PARAMS and check["agree"]
    rows = check["rows"]
    empty = (backend, name, buffers) == ("torch", "SGD", 0)  # torch's plain SGD keeps no state at all
    assert {r["parameter"] for r in rows} == (set() if empty else
                                              {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"})
    # a step count per parameter besides the buffers: torch a float32 tensor (none for its SGD), optim_core an int
    steps = [r for r in rows if r["state"] == "step"]
    assert len(steps) == (0 if (backend, name) == ("torch", "SGD") else 6)
    assert all(r["bytes"] == (4 if backend == "torch" else 8) for r in steps)
    assert check["other"] == sum(r["bytes"] for r in steps)
    assert check["total"] == check["buffers"] + check["other"]
