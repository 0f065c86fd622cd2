"""The interface every 2D loss surface offers to the trajectory engine and the app.

A surface is a function f(x, y) with its exact gradient and Hessian, vectorized over any
leading shape: ``xy`` has shape ``(..., 2)``, ``value`` returns ``(...)``, ``grad``
``(..., 2)`` and ``hessian`` ``(..., 2, 2)``, all float64 (float32 if ``xy`` is float32:
convergence maps run in float32, as torch trains by default). Subclasses write the
mathematics once, on the coordinate arrays ``x`` and ``y``:

- ``_fg(x, y) -> (f, f_x, f_y)``: value and gradient together, sharing subexpressions
  (the engine calls ``value_and_grad`` once per step on an ``(N, 2)`` array of all runs,
  and, for a race of a few runs, ``_fg`` itself on each point's two Python floats: write
  it with operators and NumPy functions that take scalars too);
- ``_h(x, y) -> (f_xx, f_xy, f_yy)``: the Hessian entries;
- ``_f(x, y)``, optionally, when the value alone is cheaper than ``_fg``; it must evaluate
  the same expression in the same order, so that ``value`` equals ``value_and_grad``'s
  value bit for bit.

Any of the returned pieces may be a Python float where it is constant. Everything is
elementwise, so a point evaluated alone gives exactly its row of a batch; batches of more
than 8192 points are evaluated in blocks of that size (see ``_fill``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Surface"]

_EMPTY = np.zeros((0, 2))


def _points(xy) -> np.ndarray:
    xy = np.asarray(xy)
    if xy.dtype != np.float32:
        xy = xy.astype(np.float64, copy=False)
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise ValueError(f"expected points of shape (..., 2), got shape {xy.shape}")
    return xy


def outside_bound(xy, bound: float):
    """Boolean ``(...)``: ``|x|`` or ``|y|`` exceeds ``bound``, or a coordinate is NaN.

    The one divergence rule of positions, for :meth:`Surface.diverged` and the engine.
    A box rather than a disc: two comparisons per coordinate, no square root, and a NaN
    fails them.
    """
    with np.errstate(invalid="ignore"):
        return ~(np.max(np.abs(np.asarray(xy)), axis=-1) <= bound)


class Surface:
    """A 2D loss surface.

    Attributes (class defaults, set per instance where they depend on parameters):

    ``name``
        The registry name (``optim_core.registry.get_surface(name)``).
    ``title``
        Display name, with the parameters where there are any.
    ``window``
        ``((xmin, xmax), (ymin, ymax))``: a view that shows the interesting part.
    ``minima``
        ``(k, 2)`` array of known minima, the global one first (then famous local ones).
    ``global_min_value``
        f at the global minimum (``-inf`` for surfaces unbounded below).
    ``saddles``, ``maxima``
        ``(k, 2)`` arrays of known saddle points and local maxima (often empty).
    ``starts``
        Suggested start points ``(x, y)``; the first one is the default and makes the
        surface's lesson visible.
    ``note``
        One line: what the surface teaches.
    ``log_levels``
        Whether a contour plot needs log-scaled levels (the values span decades).
    ``bound``
        A half-width: a run has diverged once ``|x|`` or ``|y|`` exceeds ``bound`` or its
        value is not finite (see :meth:`diverged`, the one rule the engine applies too).
        Defaults to ten times the window's extent.
    ``tags``
        Keywords such as ``"convex"``, ``"saddle"``, ``"multimodal"``, ``"ravine"``.
    """

    name: str = "surface"
    title: str = ""
    window: tuple[tuple[float, float], tuple[float, float]] = ((-2.0, 2.0), (-2.0, 2.0))
    minima: np.ndarray = _EMPTY
    global_min_value: float = math.nan
    saddles: np.ndarray = _EMPTY
    maxima: np.ndarray = _EMPTY
    starts: list[tuple[float, float]] = [(1.0, 1.0)]
    note: str = ""
    log_levels: bool = False
    tags: tuple[str, ...] = ()
    _bound: float | None = None

    # -- what subclasses implement -------------------------------------------------
    def _fg(self, x, y):
        raise NotImplementedError

    def _h(self, x, y):
        raise NotImplementedError

    def _f(self, x, y):
        return self._fg(x, y)[0]

    # -- the public, vectorized interface ------------------------------------------
    def value(self, xy):
        """f at ``xy`` of shape ``(..., 2)``; returns shape ``(...)``."""
        xy = _points(xy)
        f = np.empty(xy.shape[:-1], dtype=xy.dtype)
        _fill(lambda x, y: (self._f(x, y),), xy, ((f, ()),))
        return f if f.ndim else f[()]

    def grad(self, xy):
        """The gradient, same shape as ``xy``."""
        return self.value_and_grad(xy)[1]

    def value_and_grad(self, xy):
        """``(value(xy), grad(xy))`` computed together (the engine's hot path)."""
        xy = _points(xy)
        f = np.empty(xy.shape[:-1], dtype=xy.dtype)
        g = np.empty(xy.shape, dtype=xy.dtype)
        _fill(self._fg, xy, ((f, ()), (g, (0,)), (g, (1,))))
        return (f if f.ndim else f[()]), g

    def hessian(self, xy):
        """The Hessian, shape ``(..., 2, 2)`` (symmetric)."""
        xy = _points(xy)
        h = np.empty(xy.shape + (2,), dtype=xy.dtype)
        _fill(self._h, xy, ((h, (0, 0)), (h, (0, 1)), (h, (1, 1))))
        h[..., 1, 0] = h[..., 0, 1]
        return h

    def __call__(self, xy):
        return self.value(xy)

    # -- helpers for the app and the engine ----------------------------------------
    @property
    def bound(self) -> float:
        if self._bound is not None:
            return self._bound
        (x0, x1), (y0, y1) = self.window
        return 10.0 * max(abs(x0), abs(x1), abs(y0), abs(y1), x1 - x0, y1 - y0)

    @bound.setter
    def bound(self, value: float) -> None:
        self._bound = float(value)

    def diverged(self, xy, value=None):
        """Boolean ``(...)``: the point lies outside the box ``|x|, |y| <= bound`` or is not
        finite, or (when given) its value is not finite.

        The trajectory engine stops a run by the same rule (:func:`outside_bound`).
        """
        out = outside_bound(xy, self.bound)
        if value is not None:
            out |= ~np.isfinite(value)
        return out

    def grid(self, n=200, window=None):
        """``X, Y, Z`` over the window (or ``window``), for contour and surface plots.

        ``n`` is the number of points per axis, or ``(nx, ny)``. ``X`` and ``Y`` come from
        ``np.meshgrid`` (shape ``(ny, nx)``), so ``Z[i, j] = f(X[i, j], Y[i, j])``.
        """
        nx, ny = (n, n) if np.ndim(n) == 0 else n
        (x0, x1), (y0, y1) = window or self.window
        X, Y = np.meshgrid(np.linspace(x0, x1, int(nx)), np.linspace(y0, y1, int(ny)))
        Z = self.value(np.stack((X, Y), axis=-1))
        return X, Y, Z

    @property
    def default_start(self) -> tuple[float, float]:
        return tuple(self.starts[0])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.title or self.name!r}>"

    # -- for subclasses: refine approximate literature points to machine precision ---
    def _polish(self, points, steps: int = 30, check: float = 1e-3) -> np.ndarray:
        """Newton's method on the gradient, from tabulated (rounded) critical points.

        Literature tables give minima to 4-6 digits; a few Newton steps with the exact
        Hessian make them stationary to rounding. ``check`` guards against Newton
        wandering to another critical point.
        """
        p0 = np.array(points, dtype=np.float64).reshape(-1, 2)
        p = p0.copy()
        for _ in range(steps):
            g = self.grad(p)
            step = np.linalg.solve(self.hessian(p), g[..., None])[..., 0]
            p -= step
            if np.all(np.abs(step) <= 1e-15 * (1.0 + np.abs(p))):
                break
        if not np.all(np.abs(p - p0) <= check):
            raise AssertionError(f"{type(self).__name__}: Newton moved {p0.tolist()} to {p.tolist()}")
        return p


# Rows per block for large batches: temporaries of 64 kB stay in cache and below malloc's
# mmap threshold (one 40000-row call in one piece spends most of its time in page faults).
_CHUNK = 8192


def _fill(fn, xy, targets):
    """Write the pieces of ``fn(x, y)`` into ``targets``: piece k goes to
    ``array[..., *index]`` for the k-th ``(array, index)``; large batches go block by block."""
    n = xy.size // 2
    with np.errstate(all="ignore"):
        if n <= _CHUNK:
            for (arr, idx), piece in zip(targets, fn(xy[..., 0], xy[..., 1])):
                arr[(Ellipsis, *idx)] = piece
            return
        flat = xy.reshape(n, 2)
        lead = xy.ndim - 1
        views = [(arr.reshape((n,) + arr.shape[lead:]), idx) for arr, idx in targets]
        for i in range(0, n, _CHUNK):
            block = flat[i:i + _CHUNK]
            rows = slice(i, i + _CHUNK)
            for (arr, idx), piece in zip(views, fn(block[:, 0], block[:, 1])):
                arr[(rows, *idx)] = piece
