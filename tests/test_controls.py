"""The shared values of registry-driven controls, and snapping stored values onto them."""

import math

from app.ui.controls import hyper_options, nearest_option, snap
from optim_core import registry


def test_nearest_option_linear_and_log():
    options = [0.001, 0.01, 0.1, 1.0]
    assert nearest_option(0.01, options) == 0.01
    assert nearest_option(0.02, options, log=True) == 0.01  # log-nearer to 0.01 than to 0.1
    assert nearest_option(0.04, options, log=True) == 0.1
    assert nearest_option(0.04, options) == 0.01 and nearest_option(0.07, options) == 0.1
    assert nearest_option("0.9", options) == 1.0  # a URL gives strings
    for garbage in ("abc", None, "nan", float("inf")):
        assert nearest_option(garbage, options) is None


def test_every_registry_float_offers_its_default_and_snaps_onto_its_options():
    for info in registry.optimizers().values():
        for h in info.hypers:
            if h.kind != "float" or h.default is None:
                continue
            options = hyper_options(h)
            assert h.default in options or math.isclose(snap(h, h.default), h.default, rel_tol=1e-9)
            assert snap(h, h.high + 10 * (h.high - h.low)) == max(o for o in options if o is not None)
