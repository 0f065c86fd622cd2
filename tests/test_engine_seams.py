"""The engine's seams: one oracle per run, and the two steppers behind one interface.

A request whose runs have different gradient oracles (one mini-batch size per run, say) is
stepped in one call, each oracle once per step on its own rows. Every record of every run
must equal, bit for bit, what a request of that oracle's runs alone gives: these tests make
both requests and compare each record exactly, after its shape and dtype.
"""

import numpy as np
import pytest

from optim_core import _engine_floats, engine, registry
from optim_core.engine import RunSpec, run_trajectories
from optim_core.stochastic import StochasticGradient

PER_STEP = ("positions", "losses", "grads", "raw_grads", "updates", "lrs")
PER_RUN = ("starts", "final_positions", "final_losses", "diverged_step", "diverged_reason", "steps_to_threshold",
           "path_length")


def _exact(actual, expected, what):
    """Equal, number for number (NaN where NaN), with the same shape and dtype."""
    if expected is None:
        assert actual is None, f"{what}: expected None"
        return
    assert isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray), what
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if actual.dtype == object:
        assert actual.tolist() == expected.tolist(), what
    else:
        assert np.array_equal(actual, expected, equal_nan=actual.dtype.kind == "f"), what


def _assert_run_equal(mixed, k, alone, j, what):
    """Run k of ``mixed`` equals run j of ``alone``, record by record."""
    for name in PER_STEP + PER_RUN:
        a, b = getattr(mixed, name), getattr(alone, name)
        _exact(None if a is None else a[k], None if b is None else b[j], f"{what}: {name}")
    assert sorted(mixed.states[k]) == sorted(alone.states[j]), f"{what}: state keys"
    for key in alone.states[j]:
        _exact(mixed.states[k][key], alone.states[j][key], f"{what}: state {key}")
    assert mixed.specs[k] is alone.specs[j]
    assert mixed.steps == alone.steps and mixed.threshold == alone.threshold
    _exact(mixed.minima, alone.minima, f"{what}: minima")


def _each_oracle_alone(surface, specs, starts, steps, oracles, **kwargs):
    """One request per distinct oracle (by identity); for each run, its (request, index) there."""
    starts = np.asarray(starts, dtype=np.float64)
    distinct = []
    for o in oracles:
        if not any(o is d for d in distinct):
            distinct.append(o)
    where = [None] * len(specs)
    for o in distinct:
        idx = [k for k, ok in enumerate(oracles) if ok is o]
        sub = starts[idx] if starts.ndim == 3 else starts
        tr = run_trajectories(surface, [specs[k] for k in idx], sub, steps, oracle=o, **kwargs)
        for j, k in enumerate(idx):
            where[k] = (tr, j)
    return where


def _check_mixed_equals_alone(surface, specs, starts, steps, oracles, **kwargs):
    mixed = run_trajectories(surface, specs, starts, steps, oracle=oracles, **kwargs)
    for k, (alone, j) in enumerate(_each_oracle_alone(surface, specs, starts, steps, oracles, **kwargs)):
        _assert_run_equal(mixed, k, alone, j, f"run {k} ({specs[k].display_label()})")
    return mixed


def test_the_playgrounds_race_with_one_batch_size_per_run():
    # What app.playground.scene.compute asks: six runs, one start each, a mini-batch size per run
    # (None: the full batch, the exact gradient), everything recorded.
    surface = registry.get_surface("Rosenbrock").make()
    b4, b8, b16 = (StochasticGradient(surface, batch_size=b, seed=7) for b in (4, 8, 16))
    specs = [RunSpec(n, label=n) for n in ("SGD", "Adam", "RMSprop", "Adagrad", "Lion", "NAdam")]
    oracles = [None, b4, b8, None, b4, b16]
    starts = np.array([[[-1.2, 1.0]]] * 6)
    mixed = _check_mixed_equals_alone(surface, specs, starts, 300, oracles, record="full")
    assert mixed.positions.shape == (6, 1, 301, 2)
    # Also with the start shared by all runs, given once.
    _check_mixed_equals_alone(surface, specs, [[-1.2, 1.0]], 300, oracles, record="full")


def test_the_exact_lane_keeps_what_the_float_path_records():
    # Alone, the two exact SGD runs go on floats, where the run without momentum has no
    # momentum buffer (on arrays, in a group with momentum 0.9, it would have one): the
    # mixed request must record the same.
    surface = registry.get_surface("Rosenbrock").make()
    noisy = StochasticGradient(surface, noise_scale=0.2, seed=4)
    specs = [RunSpec("SGD", {"lr": 1e-3}), RunSpec("Adam", {"lr": 0.05}), RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9})]
    mixed = _check_mixed_equals_alone(surface, specs, [[-1.2, 1.0]], 200, [None, noisy, None], record="full")
    assert np.isnan(mixed.states[0]["momentum_buffer"]).all()


@pytest.mark.parametrize("record", ["full", "path", "summary", "final"])
def test_mixed_oracles_with_every_extra_and_many_starts(record):
    # Groups of one algorithm across lanes (SGD with three oracles), per-run starts, a sweep,
    # clipping, Lookahead, schedules (one reacting to the run's own noisy loss), a run that
    # diverges, and a mixed-momentum SGD group in the exact lane.
    surface = registry.get_surface("Himmelblau").make()
    noisy = StochasticGradient(surface, noise_scale=0.5, seed=3)
    batch = StochasticGradient(surface, batch_size=2, n_samples=8, noise_scale=0.1, seed=11)
    specs = [
        RunSpec("SGD", {"lr": np.array([1e-3, 1e-2])}, label="sgd exact"),
        RunSpec("SGD", {"lr": np.array([1e-3, 5e-3]), "momentum": 0.9}, clip_norm=5.0, label="sgd noisy"),
        RunSpec("Adam", {"lr": np.array([0.05, 0.1])}, schedule=("ReduceLROnPlateau", {"patience": 3}), label="plateau"),
        RunSpec("SGD", {"lr": np.array([2e-3, 0.3])}, lookahead=(4, 0.5), label="sgd batch, one diverges"),
        RunSpec("Adam", {"lr": np.array([0.02, 0.05])}, clip_value=2.0, schedule=("OneCycleLR", {}), label="adam"),
        RunSpec("SGD", {"lr": np.array([1e-3, 2e-3]), "momentum": np.array([0.0, 0.9])}, label="sgd exact 2"),
    ]
    oracles = [None, noisy, batch, batch, noisy, None]
    starts = np.random.default_rng(5).uniform(-4, 4, (6, 3, 2))
    mixed = _check_mixed_equals_alone(surface, specs, starts, 120, oracles, record=record)
    assert mixed.diverged[3].any() and not mixed.diverged[3].all()


def test_mixed_oracles_in_float32():
    surface = registry.get_surface("Rosenbrock").make()
    noisy = StochasticGradient(surface, noise_scale=0.2, seed=1)
    specs = [RunSpec("Adam", {"lr": 0.02}), RunSpec("RMSprop", {"lr": 1e-3}), RunSpec("Adam", {"lr": 0.05})]
    starts = np.random.default_rng(2).uniform(-1.5, 1.5, (10, 2))
    for record in ("path", "final"):
        _check_mixed_equals_alone(surface, specs, starts, 80, [noisy, None, noisy], record=record, dtype=np.float32)


def test_one_oracle_per_run_equals_one_oracle_for_all():
    surface = registry.get_surface("Rosenbrock").make()
    noisy = StochasticGradient(surface, noise_scale=0.3, seed=2)
    specs = [RunSpec("SGD", {"lr": 1e-3}), RunSpec("Adam"), RunSpec("SGD", {"lr": 2e-3, "momentum": 0.5})]
    starts = np.array([[-1.2, 1.0], [0.5, 2.0]])
    for shared, per_run in ((None, [None] * 3), (noisy, [noisy] * 3), (noisy, (noisy, noisy, noisy))):
        a = run_trajectories(surface, specs, starts, 60, oracle=shared)
        b = run_trajectories(surface, specs, starts, 60, oracle=per_run)
        for k in range(len(specs)):
            _assert_run_equal(b, k, a, k, f"run {k}")


class _Spy:
    """An oracle that notes every call: (step, number of points, rows)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __call__(self, xy, step, rows):
        self.calls.append((step, xy.shape, sorted(np.asarray(rows).tolist())))
        return self.inner(xy, step, rows)


def test_each_oracle_is_called_once_per_step_on_its_runs_rows():
    surface = registry.get_surface("Rosenbrock").make()
    a = _Spy(StochasticGradient(surface, noise_scale=0.1, seed=1))
    b = _Spy(StochasticGradient(surface, batch_size=4, seed=1))
    specs = [RunSpec("SGD", {"lr": 1e-3}), RunSpec("Adam"), RunSpec("SGD", {"lr": 2e-3}), RunSpec("Lion")]
    starts = np.random.default_rng(0).uniform(-1, 1, (3, 2))  # three starts: rows 0, 1, 2 of each run
    run_trajectories(surface, specs, starts, 10, oracle=[a, b, a, None])
    # Runs 0 and 2 meet oracle a: 2 runs x 3 starts, each row given its start's index.
    assert a.calls == [(t, (6, 2), [0, 0, 1, 1, 2, 2]) for t in range(11)]
    assert b.calls == [(t, (3, 2), [0, 1, 2]) for t in range(11)]


def test_the_exact_lane_may_still_go_on_floats(monkeypatch):
    # Judged on the exact lane alone, as a request of its runs alone would be.
    surface = registry.get_surface("Rosenbrock").make()
    noisy = StochasticGradient(surface, noise_scale=0.1, seed=1)
    specs = [RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9}), RunSpec("Adam", {"lr": 0.05}), RunSpec("Lion")]
    lanes = []
    real = _engine_floats.step_on_floats
    monkeypatch.setattr(_engine_floats, "step_on_floats", lambda race, ls, rec: lanes.append(ls) or real(race, ls, rec))
    run_trajectories(surface, specs, [[-1.2, 1.0]], 50, oracle=[None, noisy, None])
    assert len(lanes) == 1 and len(lanes[0]) == 1
    assert [s for g in lanes[0][0].groups for s in g.spec_index] == [0, 2]


def test_oracles_are_checked():
    surface = registry.get_surface("Rosenbrock").make()
    specs = [RunSpec("SGD"), RunSpec("Adam")]
    noisy = StochasticGradient(surface, noise_scale=0.1)
    with pytest.raises(ValueError, match="1 oracles for 2 runs"):
        run_trajectories(surface, specs, [[0.0, 0.0]], 5, oracle=[noisy])
    with pytest.raises(ValueError, match="callable or None"):
        run_trajectories(surface, specs, [[0.0, 0.0]], 5, oracle=[noisy, 0.1])
    with pytest.raises(ValueError, match="oracle must be"):
        run_trajectories(surface, specs, [[0.0, 0.0]], 5, oracle="noise")


@pytest.mark.parametrize("record", ["full", "path"])
def test_both_steppers_fill_the_same_records_from_the_same_setup(record):
    # The seam itself: one setup, then each stepper on its own copy, then the same records
    # phase. Every record must be equal (test_engine_floats covers every kernel this way).
    surface = registry.get_surface("Rosenbrock").make()
    specs = [RunSpec("SGD", {"lr": 1e-3, "momentum": 0.9}), RunSpec("Adam", {"lr": 0.05}),
             RunSpec("Adam", {"lr": 0.02}, schedule=("StepLR", {"step_size": 20}))]
    out = []
    for stepper in (engine._step_on_arrays, _engine_floats.step_on_floats):
        race = engine._setup(surface, specs, [[-1.2, 1.0]], 100, None, record, None, None, engine.LIMITS, np.float64)
        assert len(race.lanes) == 1 and _engine_floats.fits_floats(race, race.lanes[0])
        records = engine._Records.allocate(race)
        with np.errstate(all="ignore"):
            stepper(race, race.lanes, records)
        out.append(records.trajectories(race))
    for k in range(len(specs)):
        _assert_run_equal(out[1], k, out[0], k, f"run {k}")
