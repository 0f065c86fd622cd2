"""Fuzzing optim_core: every registry optimizer, schedule and surface over its whole declared range
and past it, with extreme parameters and non-finite gradients.

The properties:

- an optimizer's constructor refuses exactly the hyperparameters its declaration (or a documented
  relation) refuses, with a ValueError; ``step()`` then never raises, whatever the parameters
  (0-d, vectors, matrices, float32/float64, 1e300, subnormals) and gradients (inf, NaN);
- the trajectory engine never raises on valid requests, and a run is either finite at every
  recorded step or reported as diverged (step and reason) and cut (NaN) from that step on;
- a schedule's curve is finite and non-negative with one lr per step, or a ValueError that says
  what is wrong, and every value its declaration refuses is refused;
- a surface is finite inside its bound box across its parameters' slider ranges; anywhere else
  (extreme points, extreme parameters) it keeps its shapes and dtypes and reports a non-finite
  value through ``diverged``; parameters its declaration refuses raise a ValueError.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import assume, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from optim_core import registry  # noqa: E402
from optim_core.engine import RunSpec, run_trajectories  # noqa: E402
from optim_core.optimizer import HyperparameterError, Parameter  # noqa: E402
from optim_core.optimizers.lookahead import Lookahead  # noqa: E402
from optim_core.stochastic import StochasticGradient  # noqa: E402

from ._support import (  # noqa: E402
    EXTREMES,
    any_values,
    arrays,
    check_trajectories,
    examples,
    finite_values,
    hyper_dicts,
    interval,
    invalid_names,
    is_valid,
    refused_relation,
)

OPTIMIZERS = list(registry.optimizers())
SCHEDULES = list(registry.schedules())
SURFACES = list(registry.surfaces())

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in NumPy is expected here

SHAPES = st.sampled_from([(), (1,), (3,), (4, 2), (1, 2), (2, 9000)])  # (2, 9000): the sliced (chunked) path
DTYPES = st.sampled_from([np.float64, np.float32])


def _message_ok(exc: BaseException) -> None:
    text = str(exc)
    assert text.strip() and "Traceback" not in text, f"{type(exc).__name__} without a clear message: {text!r}"


# -- optimizers ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", OPTIMIZERS)
@examples(ci=40, long=600)
@given(data=st.data())
def test_optimizer_refuses_exactly_the_invalid_and_steps_anything(name, data):
    info = registry.get_optimizer(name)
    hp = data.draw(hyper_dicts(info.hypers, invalid=data.draw(st.integers(0, 3), "bad?") == 0), "hypers")
    if hp.get("lr", 0) is None and info.hyper("lr").default is not None:
        hp["lr"] = info.hyper("lr").default  # the constructor's lr=None means its default, as torch's signature
    bad = invalid_names(info.hypers, hp)
    relation = refused_relation(name, hp)
    dtype = data.draw(DTYPES, "dtype")
    shapes = [data.draw(SHAPES, f"shape{i}") for i in range(2)]
    params = [Parameter(data.draw(arrays(dtype, s, finite_values()), f"param{i}")) for i, s in enumerate(shapes)]
    groups = data.draw(st.sampled_from(["one", "two"]), "groups")
    keywords = info.cls.keywords(hp)
    try:
        if groups == "one":
            opt = info.cls(params, **keywords)
        else:
            opt = info.cls([{"params": [params[0]]}, {"params": [params[1]], **keywords}], **info.cls.keywords())
    except ValueError as exc:
        _message_ok(exc)
        assert isinstance(exc, HyperparameterError), f"{type(exc).__name__}: {exc}"
        assert bad or relation, f"{name} refused valid hyperparameters {hp}: {exc}"
        return
    assert not bad, f"{name} accepted invalid {bad}: {hp}"
    assert relation is None, f"{name} accepted {hp} ({relation})"
    stepper = opt
    if data.draw(st.booleans(), "lookahead"):
        stepper = Lookahead(opt, k=data.draw(st.integers(1, 3), "k"), alpha=data.draw(st.sampled_from([0.0, 0.5, 1.0])))
    for t in range(data.draw(st.integers(1, 3), "steps")):
        for i, p in enumerate(params):
            p.grad = (None if data.draw(st.integers(0, 5), f"nograd{t}{i}") == 0
                      else data.draw(arrays(p.data.dtype, p.shape, any_values()), f"grad{t}{i}"))
        stepper.step()
        if name == "Sophia" and data.draw(st.booleans(), f"hessian{t}"):
            opt.update_hessian([data.draw(arrays(p.data.dtype, p.shape, any_values()), "h") for p in params])
        for p, shape in zip(params, shapes):
            assert p.data.shape == shape and p.data.dtype == dtype
    opt.state_dict()  # still readable


@pytest.mark.parametrize("name", OPTIMIZERS)
@examples(ci=10, long=300)
@given(data=st.data())
def test_optimizer_finite_in_finite_out(name, data):
    """Hyperparameters across their sliders, moderate parameters and gradients: finite after a few steps."""
    info = registry.get_optimizer(name)
    hp = data.draw(hyper_dicts(info.hypers, extreme=False), "hypers")
    assume(refused_relation(name, hp) is None)
    shape = data.draw(SHAPES, "shape")
    moderate = st.floats(-1e3, 1e3)
    p = Parameter(data.draw(arrays(np.float64, shape, moderate), "param"))
    opt = info.cls([p], **info.cls.keywords(hp))
    for t in range(3):
        p.grad = data.draw(arrays(np.float64, shape, moderate), f"grad{t}")
        opt.step()
    assert p.data.shape == shape and p.data.dtype == np.float64
    assert np.all(np.isfinite(p.data)), f"{name} {hp}: {p.data}"


# -- the trajectory engine -----------------------------------------------------------------

START_VALUES = st.one_of(st.sampled_from(EXTREMES), st.floats(-5.0, 5.0), st.floats(-1e6, 1e6))


@st.composite
def surfaces(draw):
    name = draw(st.sampled_from(SURFACES))
    info = registry.get_surface(name)
    params = draw(hyper_dicts(info.params, extreme=draw(st.booleans())))
    try:
        return info.make(**params)
    except ValueError:
        assume(False)


@st.composite
def run_specs(draw, with_schedule: bool = True):
    name = draw(st.sampled_from(OPTIMIZERS))
    info = registry.get_optimizer(name)
    hp = draw(hyper_dicts(info.hypers, fixed={"maximize": False}))
    assume(refused_relation(name, hp) is None)
    schedule = None
    if with_schedule and draw(st.integers(0, 3)) == 0:
        sname = draw(st.sampled_from(SCHEDULES))
        sinfo = registry.get_schedule(sname)
        schedule = (sname, draw(hyper_dicts(sinfo.params, extreme=False)))
    clip_norm = draw(st.sampled_from([None, None, None, 1e-300, 0.5, 1e300]))
    clip_value = draw(st.sampled_from([None, None, None, TINY_CLIP, 1.0]))
    lookahead = draw(st.sampled_from([None, None, None, (1, 0.0), (2, 0.5), (5, 1.0)]))
    return RunSpec(name, hp, schedule=schedule, clip_norm=clip_norm, clip_value=clip_value, lookahead=lookahead)


TINY_CLIP = 5e-324


@examples(ci=200, long=3000)
@given(surface=surfaces(), data=st.data())
def test_engine_reports_every_non_finite_run_as_diverged(surface, data):
    specs = data.draw(st.lists(run_specs(), min_size=1, max_size=3), "specs")
    n_starts = data.draw(st.sampled_from([1, 1, 2, 3, 24]), "n_starts")
    starts = data.draw(arrays(np.float64, (n_starts, 2), START_VALUES), "starts")
    steps = data.draw(st.integers(1, 40), "steps")
    record = data.draw(st.sampled_from(["full", "full", "path", "summary", "final"]), "record")
    dtype = data.draw(st.sampled_from([np.float64, np.float64, np.float32]), "dtype")
    noise = data.draw(st.sampled_from([None, None, 0.0, 0.1, 1e300]), "noise")
    oracle = None if noise is None else StochasticGradient(surface, noise_scale=noise, seed=1,
                                                            batch_size=data.draw(st.sampled_from([None, 4])))
    # A schedule whose parameters its own curve refuses makes the request a ValueError; any other
    # request must run.
    refused = None
    if dtype == np.float32 and np.abs(starts).max() > np.finfo(np.float32).max:
        refused = "a start float32 cannot hold"  # documented refusal
    for s in specs:
        if s.schedule is not None:
            lr = s.hypers.get("lr")
            if lr is None:  # Adafactor's relative step: no lr to schedule (documented refusal)
                refused = "a schedule without an lr"
                continue
            try:
                registry.get_schedule(s.schedule[0]).curve(steps, lr, **s.schedule[1])
            except ValueError as exc:
                refused = exc
    try:
        tr = run_trajectories(surface, specs, starts, steps, record=record, dtype=dtype, oracle=oracle)
    except ValueError as exc:
        _message_ok(exc)
        assert refused is not None, f"a valid request was refused: {exc}"
        return
    check_trajectories(tr, len(specs), n_starts, steps, record)


@pytest.mark.parametrize("name", OPTIMIZERS)
@examples(ci=6, long=100)
@given(data=st.data())
def test_engine_refuses_invalid_hyperparameters(name, data):
    info = registry.get_optimizer(name)
    hp = data.draw(hyper_dicts(info.hypers, invalid=True, fixed={"maximize": False}))
    surface = registry.get_surface("Quadratic bowl").make()
    with pytest.raises(ValueError) as err:
        run_trajectories(surface, [RunSpec(name, hp)], [(1.0, 1.0)], 5)
    _message_ok(err.value)


# -- schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEDULES)
@examples(ci=30, long=800)
@given(data=st.data())
def test_schedule_curve_is_finite_or_refused(name, data):
    info = registry.get_schedule(name)
    hp = data.draw(hyper_dicts(info.params, invalid=data.draw(st.integers(0, 3), "bad?") == 0), "params")
    bad = invalid_names(info.params, hp)
    if name == "CyclicLR":
        # Documented, as torch: gamma is checked only where it is used (exp_range), the step sizes
        # may be fractions (a number of steps per half cycle, not an index), and step_size_down=None
        # means step_size_up (a symmetric cycle).
        fractional = [k for k in ("step_size_up", "step_size_down")
                      if isinstance(hp[k], float) and math.isfinite(hp[k])
                      and (hp[k] > 0 if k == "step_size_up" else hp[k] >= 0)]
        if hp["step_size_down"] is None:
            fractional.append("step_size_down")
        bad = [b for b in bad if not (b == "gamma" and hp.get("mode") != "exp_range") and b not in fractional]
    n = data.draw(st.one_of(st.integers(1, 600), st.sampled_from([1, 2, 5000])), "n_steps")
    base_lr = data.draw(st.one_of(st.sampled_from([0.0, 1e-300, TINY_CLIP, 1.0, 10.0, 1e300]),
                                  st.floats(1e-6, 10.0)), "base_lr")
    if data.draw(st.integers(0, 9), "bad base?") == 0:
        base_lr = data.draw(st.sampled_from([-1.0, -TINY_CLIP, math.nan, math.inf, "0.1", None]), "bad base_lr")
        bad = bad + ["base_lr"]
    try:
        out = info.curve(n, base_lr, **hp)
    except ValueError as exc:
        _message_ok(exc)
        return
    assert not bad, f"{name} accepted invalid {bad}: {hp}, base_lr={base_lr!r}"
    lr = np.asarray(out["lr"])
    assert lr.shape == (n,) and lr.dtype == np.float64
    assert np.all(np.isfinite(lr)), f"{name} {hp} base_lr={base_lr}: lr {lr[~np.isfinite(lr)][:3]}"
    # torch's numbers, rounding included: a decay down to 0 (or to eta_min from below) may end a
    # rounding error below 0; anything more negative is a negative lr.
    scale = max(float(base_lr), float(np.abs(lr).max()))
    assert lr.min() >= -1e-9 * scale, f"{name} {hp}: a negative lr {lr.min()}"
    if "momentum" in out:
        mom = np.asarray(out["momentum"])
        assert mom.shape == (n,) and np.all(np.isfinite(mom))


# -- surfaces ------------------------------------------------------------------------------


def _number_or_text(v):
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    return v


def _box_points(surface, n_inside: int, data) -> np.ndarray:
    b = surface.bound
    inside = st.floats(-b, b)
    return data.draw(arrays(np.float64, (n_inside, 2), inside), "inside")


@pytest.mark.parametrize("name", SURFACES)
@examples(ci=20, long=400)
@given(data=st.data())
def test_surface_finite_in_its_box_across_its_sliders(name, data):
    info = registry.get_surface(name)
    params = data.draw(hyper_dicts(info.params, extreme=False), "params")
    surface = info.make(**params)
    b = surface.bound
    assert math.isfinite(b) and b > 0
    xy = _box_points(surface, 16, data)
    f, g, h = surface.value(xy), surface.grad(xy), surface.hessian(xy)
    assert f.shape == (16,) and g.shape == (16, 2) and h.shape == (16, 2, 2)
    assert f.dtype == g.dtype == h.dtype == np.float64
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(g)) and np.all(np.isfinite(h)), (params, xy)


@pytest.mark.parametrize("name", SURFACES)
@examples(ci=25, long=500)
@given(data=st.data())
def test_surface_anywhere_keeps_shapes_and_reports_non_finite(name, data):
    info = registry.get_surface(name)
    hp = data.draw(hyper_dicts(info.params, invalid=bool(info.params) and data.draw(st.integers(0, 3)) == 0), "params")
    # Documented: numeric text (a URL's "2.5") is read as the number.
    bad = invalid_names(info.params, {k: _number_or_text(v) for k, v in hp.items()})
    try:
        surface = info.make(**hp)
    except ValueError as exc:
        _message_ok(exc)
        assert bad, f"{name} refused valid parameters {hp}: {exc}"
        return
    assert not bad, f"{name} accepted invalid {bad}: {hp}"
    b = surface.bound
    assert math.isfinite(b) and b > 0, f"{name} {hp}: bound {b}"
    assert np.all(np.isfinite(np.asarray(surface.window, dtype=float))), f"{name} {hp}: window {surface.window}"
    for x, y in surface.starts:
        assert math.isfinite(x) and math.isfinite(y)
    dtype = data.draw(DTYPES, "dtype")
    shape = data.draw(st.sampled_from([(2,), (5, 2), (2, 3, 2)]), "shape")
    xy = data.draw(arrays(dtype, shape, any_values()), "xy")
    f, g, h = surface.value(xy), surface.grad(xy), surface.hessian(xy)
    lead = shape[:-1]
    assert np.shape(f) == lead and g.shape == shape and h.shape == shape + (2,)
    assert np.result_type(f) == g.dtype == h.dtype == dtype
    f2, g2 = surface.value_and_grad(xy)
    np.testing.assert_array_equal(f2, f)
    np.testing.assert_array_equal(g2, g)
    diverged = surface.diverged(xy, f)
    assert np.shape(diverged) == lead
    assert np.all(diverged | np.isfinite(f)), "a non-finite value that diverged() does not report"
    # Inside the box with finite coordinates a point is not reported unless its value is not finite.
    inside = np.all(np.abs(xy) <= b, axis=-1)
    assert np.all(diverged[inside] == ~np.isfinite(np.asarray(f)[inside]))
