"""Hypothesis profiles for the fuzz tests, chosen by the environment variable ``FUZZ``.

``ci`` (the default, what ``python -m pytest`` and ``.ci/run`` run): a short, deterministic pass
(``derandomize=True``: the same examples on every run and machine, no example database), about a
minute for the whole of ``tests/fuzz`` on two cores.

``long`` (``FUZZ=long python -m pytest tests/fuzz``): many more examples, random ones (a new
seed each run, the failures kept in ``.hypothesis/`` and tried first next time), and random walks
of 300 interactions per page. A failing walk prints its seed; ``FUZZ_SEED=<seed>`` replays it.

Each test sets its own number of examples for both profiles (:func:`examples`); the profile
sets everything else.
"""

from __future__ import annotations

import os

import pytest

PROFILE = os.environ.get("FUZZ", "ci").strip().lower() or "ci"
if PROFILE not in ("ci", "long"):
    raise pytest.UsageError(f"FUZZ must be 'ci' or 'long', not {PROFILE!r}")

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # each test module skips with importorskip (a failure under CI=true)
    settings = None

if settings is not None:
    _slow = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
             HealthCheck.large_base_example]
    settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                              suppress_health_check=_slow)
    settings.register_profile("long", derandomize=False, deadline=None, print_blob=True,
                              suppress_health_check=_slow)
    settings.load_profile(PROFILE)

