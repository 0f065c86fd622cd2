"""The shared values of registry-driven controls, snapping values onto them, and writing numbers."""

import math

import numpy as np
import pytest

from app.ui.controls import fmt, hyper_options, snap
from optim_core import registry
from optim_core.registry import Hyper


def _all_hypers():
    for info in registry.optimizers().values():
        yield from info.hypers
    for info in registry.surfaces().values():
        yield from info.params
    for info in registry.schedules().values():
        yield from info.params


# -- snap --------------------------------------------------------------------------------------------
def test_snap_onto_a_list_linear_and_log():
    options = [0.001, 0.01, 0.1, 1.0]
    assert snap(0.01, options) == 0.01
    assert snap(0.02, options, log=True) == 0.01  # log-nearer to 0.01 than to 0.1
    assert snap(0.04, options, log=True) == 0.1
    assert snap(0.04, options) == 0.01 and snap(0.07, options) == 0.1
    assert snap("0.9", options) == 1.0  # a URL gives strings
    for garbage in ("abc", None, "nan", float("inf"), [1]):
        assert snap(garbage, options) is None
    assert snap(5, (0, 1, 2, 4, 8)) == 4 and snap(7, (0, 1, 2, 4, 8)) == 8
    assert snap(1, [0.5, 1.0]) == 1.0 and isinstance(snap(1, [0.5, 1.0]), float)  # the option itself
    assert snap(0.05, [0.0, 1e-4, 0.1], log=True) == 0.1  # by ratio, 0 is infinitely far
    assert snap(-0.5, [0.0, 1.0], log=True) == 0.0  # no ratio to a negative value: by distance


def test_snap_onto_an_int_slider_range_clamps_and_rounds():
    assert snap(5, range(1, 11)) == 5
    assert snap(0, range(1, 11)) == 1 and snap(99, range(1, 11)) == 10
    assert snap(3.6, range(1, 11)) == 4 and type(snap(3.0, range(1, 11))) is int
    assert snap("7", range(1, 11)) == 7
    assert snap("abc", range(1, 11)) is None and snap(5, range(0)) is None


def test_snap_onto_a_hyper():
    lr = Hyper("lr", 0.1, low=1e-5, high=10.0, log=True)
    assert snap(0.0123, lr) == 0.015  # by ratio: 0.0123 is nearer 0.015 than 0.01
    assert snap(1e9, lr) == 10.0 and snap(1e-9, lr) == 1e-5
    steps = Hyper("T_max", 100, kind="int", low=1, high=5000)
    assert snap(7.4, steps) == 7 and snap(0, steps) == 1 and snap(10**6, steps) == 5000
    assert snap(True, Hyper("nesterov", False, kind="bool")) is True
    milestones = Hyper("milestones", (1, 2), kind="choice", choices=((1, 2), (3, 4)))
    assert snap((3, 4), milestones) == (3, 4)
    assert snap(None, lr) is None
    for info in registry.optimizers().values():
        for h in info.hypers:
            if h.kind != "float" or h.default is None:
                continue
            options = hyper_options(h)
            assert h.default in options or math.isclose(snap(h.default, h), h.default, rel_tol=1e-9)
            assert snap(h.high + 10 * (h.high - h.low), h) == max(o for o in options if o is not None)


def test_exact_default_offers_the_registry_default_itself():
    factor = next(h for h in registry.get_schedule("ConstantLR").params if h.name == "factor")
    assert factor.default == 1 / 3
    rounded, exact = hyper_options(factor), hyper_options(factor, exact_default=True)
    assert 1 / 3 not in rounded and 0.3333333333 in rounded
    assert 1 / 3 in exact and 0.3333333333 not in exact and len(exact) == len(rounded)
    assert snap(1 / 3, factor, exact_default=True) == 1 / 3
    assert snap(1 / 3, factor) == 0.3333333333
    for h in _all_hypers():  # elsewhere both are the same
        if h.kind == "float" and h is not factor:
            assert hyper_options(h) == hyper_options(h, exact_default=True), h.name


# -- fmt ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, text", [
    (None, "auto"), (True, "on"), (np.bool_(False), "off"), ("cos", "cos"), (0, "0"), (0.0, "0"),
    (2000, "2000"), (999999.0, "999999"), (0.001, "0.001"), (0.3, "0.3"), (1e-5, "1e-05"),
    (0.00015, "0.00015"), (1 / 3, "0.333333"), (123456.7, "1.23e+05"), (1e6, "1e+06"), (-2.5, "-2.5"),
    (np.float32(0.1), "0.1"), (np.int64(256), "256"), ((300, 600), "300, 600"), ([0.5, 1e-5], "0.5, 1e-05"),
    (float("nan"), "nan"), (float("inf"), "inf"),
])
def test_fmt_writes_values_as_a_teacher_would(value, text):
    assert fmt(value) == text


def test_fmt_digits_rounds_first():
    assert fmt(0.123456, 3) == "0.123" and fmt(0.123456, 4) == "0.1235"
    assert fmt(0.0123456, 4) == fmt(float(f"{0.0123456:.4g}")) == "0.01235"
    assert fmt(1.23456e-7, 3) == "1.23e-07" and fmt(2.99999, 3) == "3"
    for v in np.geomspace(1e-9, 1e7, 200):
        assert fmt(v, 4) == fmt(float(f"{v:.4g}"))


def test_fmt_power_writes_axis_ticks_with_superscripts():
    assert [fmt(10.0**e, 4, power=True) for e in range(-5, 7)] == [
        "10⁻⁵", "10⁻⁴", "0.001", "0.01", "0.1", "1", "10", "100", "1000", "10⁴", "10⁵", "10⁶"]
    assert fmt(2.5e6, 4, power=True) == "2.5·10⁶" and fmt(-5e4, 4, power=True) == "-5·10⁴"
    assert fmt(0, 4, power=True) == "0" and fmt(1234.5, 4, power=True) == "1234"


def test_option_labels_are_unique_so_urls_name_one_option():
    for h in _all_hypers():
        if h.kind == "float":
            for exact in (False, True):
                opts = hyper_options(h, exact)
                assert len({fmt(o) for o in opts}) == len(opts), h.name
        if h.kind == "choice":
            assert len({fmt(c) for c in h.choices}) == len(h.choices), h.name
