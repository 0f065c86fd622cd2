"""Gradient clipping: torch.nn.utils' two in-place functions, and pure ones for trajectory batches."""

from __future__ import annotations

import types
import warnings
from typing import Any, Iterable

import numpy as np

from optim_core.optimizer import Parameter

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_by_norm", "clip_by_value"]


def _vector_norm(x: np.ndarray, norm_type: float, axis=None, keepdims: bool = False):
    """``torch.linalg.vector_norm``: the p-norm of ``x`` seen as a vector (over ``axis``)."""
    if norm_type == 2.0:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    a = np.abs(x)
    if norm_type == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims, initial=0.0)
    if norm_type == -np.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    if norm_type == 0.0:
        return np.sum(a != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
    if norm_type == 1.0:
        return np.sum(a, axis=axis, keepdims=keepdims)
    return np.sum(a**norm_type, axis=axis, keepdims=keepdims) ** (1.0 / norm_type)


def _grads(parameters: Parameter | Iterable[Parameter]) -> list[Parameter]:
    """The parameters that have a gradient, as a list (a generator is read once)."""
    if isinstance(parameters, Parameter):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    with_grad = []
    for p in parameters:
        if p.grad is None:
            continue
        if not (isinstance(p.grad, np.ndarray) and p.grad.dtype.kind == "f"):
            # Clipping is in place, so the gradient must be a float array we own.
            p.grad = np.array(p.grad, dtype=p.data.dtype)
        with_grad.append(p)
    return with_grad


def clip_grad_norm_(
    parameters: Parameter | Iterable[Parameter],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Any = None,
):
    r"""Scale all gradients together so that their joint ``norm_type``-norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: the total norm is the norm of the per-tensor
    norms, every gradient is multiplied in place by
    :math:`\min\bigl(\frac{\text{max\_norm}}{\lVert g\rVert + 10^{-6}}, 1\bigr)`, and the
    total norm before clipping is returned (a NumPy float). ``foreach`` is accepted
    for torch's signature and ignored.
    """
    params = _grads(parameters)
    norm_type = float(norm_type)
    if not params:
        return np.float64(0.0)
    grads = [p.grad for p in params]
    dtype = np.result_type(*grads)
    norms = np.array([_vector_norm(g, norm_type) for g in grads], dtype=dtype)
    total_norm = _vector_norm(norms, norm_type)[()]
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot "
            "be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    # Always multiplied, as torch does: by exactly 1.0 when the norm is already small enough.
    clip_coef = np.minimum(float(max_norm) / (total_norm + 1e-6), 1.0)
    # An infinite norm turns infinite entries into NaN (inf * 0); torch does so silently.
    with np.errstate(invalid="ignore"):
        for g in grads:
            g *= clip_coef
    return total_norm


def clip_grad_value_(parameters: Parameter | Iterable[Parameter], clip_value: float, foreach: Any = None) -> None:
    """Clamp every gradient in place to ``[-clip_value, clip_value]``, as ``torch.nn.utils.clip_grad_value_``."""
    clip_value = float(clip_value)
    for p in _grads(parameters):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)


def clip_by_norm(grad: np.ndarray, max_norm, batch_ndim: int = 1, norm_type: float = 2.0):
    r"""Pure :func:`clip_grad_norm_` for a batch of independent problems; returns ``(clipped, norm)``.

    The norm is taken over the axes after the first ``batch_ndim`` only, so each
    trajectory of a ``(B, 2)`` batch is clipped by its own norm. ``max_norm`` is a scalar
    or an array broadcasting against ``grad.shape[:batch_ndim] + (1, ...)`` (a sweep
    gives ``(B, 1)``). ``norm`` has shape ``grad.shape[:batch_ndim]``.
    """
    axes = tuple(range(batch_ndim, grad.ndim))
    norm = _vector_norm(grad, norm_type, axis=axes, keepdims=True)
    clip_coef = np.minimum(max_norm / (norm + 1e-6), 1.0)
    return grad * clip_coef, norm.reshape(grad.shape[:batch_ndim])


def clip_by_value(grad: np.ndarray, clip_value) -> np.ndarray:
    """Pure :func:`clip_grad_value_`: ``grad`` clamped to ``[-clip_value, clip_value]`` (a new array)."""
    return np.clip(grad, -clip_value, clip_value)
