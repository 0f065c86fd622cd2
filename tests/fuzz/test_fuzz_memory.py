"""Fuzzing the memory calculator (app.memory.model): any number of parameters, matrix side, dtype and
optimizer gives a finite answer in bytes or a ValueError whose message is the one the page shows
(``count_problem`` / ``side_problem``); no text the model writes holds "inf" or "nan".

Reported: "The Memory page takes 1e300 billion parameters and prints 'inf GB'": 1e300 × 10⁹ is
inf in float64. The count is bounded (``MAX_PARAMS``) and a larger one refused with a message.
"""

from __future__ import annotations

import math
import re

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from app.memory import model as M  # noqa: E402
from optim_core import registry  # noqa: E402

from ._support import EXTREMES, examples  # noqa: E402

NON_FINITE_TEXT = re.compile(r"(?<![\w'])-?(inf|nan)(?![\w'])")
UNITS = (1.0, 1e3, 1e6, 1e9)  # the page multiplies its count by thousand, million or billion

COUNTS = st.one_of(
    st.floats(0, 1e16), st.sampled_from([*EXTREMES, math.inf, -math.inf, math.nan, M.MAX_PARAMS,
                                         math.nextafter(M.MAX_PARAMS, math.inf), 1e300 * 1e9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.tuples(st.floats(0, 1e300), st.sampled_from(UNITS)).map(lambda t: t[0] * t[1]),
)
SIDES = st.one_of(st.integers(1, 100_000), st.sampled_from([0, -1, 1, M.MAX_SIDE, M.MAX_SIDE + 1, 10**12, 2.5,
                                                            math.nan, math.inf, 4096.0]))


@examples(ci=200, long=20000)
@given(COUNTS, SIDES, st.sampled_from(list(M.DTYPES)), st.sampled_from(list(registry.optimizers())))
def test_memory_rows_are_finite_or_refused_with_the_pages_message(n, side, dtype, optimizer):
    problem = M.count_problem(n) or M.side_problem(side)
    expected_ok = isinstance(n, float) and math.isfinite(n) and 0 <= n <= M.MAX_PARAMS
    assert (problem is None) == (expected_ok and isinstance(side, (int, float)) and math.isfinite(side)
                                 and 1 <= side <= M.MAX_SIDE and side == int(side)), (n, side, problem)
    if problem is not None:
        assert not NON_FINITE_TEXT.search(problem), problem
        with pytest.raises(ValueError) as err:
            M.memory_row(n, dtype, optimizer, side=side)
        assert str(err.value) == problem
        with pytest.raises(ValueError):
            M.course_sentence(n, dtype, optimizer, side=side)
        return
    row = M.memory_row(n, dtype, optimizer, side=side)
    for key in ("params_bytes", "grads_bytes", "state_bytes", "total_bytes", "total_gb", "state_bytes_per_param"):
        assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] >= 0, (key, row[key])
    text = M.course_sentence(n, dtype, optimizer, side=side)
    assert text and not NON_FINITE_TEXT.search(text), text


@pytest.mark.parametrize("n", [1e300 * 1e9, 1e300, 1e16, M.MAX_PARAMS * 1.0000001, math.inf])
def test_the_reported_case_is_refused_with_a_message(n):
    problem = M.count_problem(n)
    assert problem and "10¹⁵" in problem and "inf" not in problem
    with pytest.raises(ValueError, match="At most 10¹⁵"):
        M.course_sentence(n)


@pytest.mark.parametrize("n", [0.0, 1.0, 10e9, 175e9, M.MAX_PARAMS])
def test_counts_up_to_the_bound_are_answered(n):
    assert M.count_problem(n) is None
    text = M.course_sentence(n)
    assert "GB" in text or "kB" in text or "MB" in text
    assert not NON_FINITE_TEXT.search(text)
