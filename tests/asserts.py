"""Comparisons that check what a value *is* before what it equals.

``np.testing.assert_allclose`` broadcasts: a parameter that silently became shape ``(1,)``
compares equal to a reference of shape ``()``, and a float32 result passes for a float64
one. Every comparison with a reference goes through :func:`assert_same`, which asserts
the type of container, the shape and the dtype first.
"""

from __future__ import annotations

import os

import numpy as np
import pytest


def as_numpy(x):
    """A torch tensor as a NumPy array (detached, on the CPU); anything else as it is."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    return x


def assert_same(actual, expected, *, rtol: float = 1e-9, atol: float = 0.0, err_msg: str = "") -> None:
    """``actual`` equals ``expected`` within ``rtol``/``atol``, with the same shape and dtype.

    Both must be arrays (NumPy, or torch tensors, compared through :func:`as_numpy`): a
    Python or NumPy scalar where an array is expected is a different thing, and fails.
    """
    a, e = as_numpy(actual), as_numpy(expected)
    where = f" ({err_msg})" if err_msg else ""
    assert isinstance(a, np.ndarray), f"expected an array, got {type(a).__name__}{where}"
    assert isinstance(e, np.ndarray), f"the reference is a {type(e).__name__}, not an array{where}"
    assert a.shape == e.shape, f"shape {a.shape} differs from the reference's {e.shape}{where}"
    assert a.dtype == e.dtype, f"dtype {a.dtype} differs from the reference's {e.dtype}{where}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=err_msg, strict=True)


def reference(module: str, reason: str = ""):
    """Import a reference library for a test module.

    Locally a missing reference skips the module with the install hint; in CI
    (``CI=true``), where the test extra is always installed, it fails instead, so a
    broken install can never turn a comparison into a silent skip.
    """
    hint = reason or f"{module} is not installed (pip install -e '.[test]')"
    if os.environ.get("CI") == "true":
        try:
            return __import__(module, fromlist=["_"])
        except ImportError as exc:  # pragma: no cover - only a broken CI install gets here
            pytest.fail(f"{hint}: {exc}", pytrace=False)
    return pytest.importorskip(module, reason=hint)
