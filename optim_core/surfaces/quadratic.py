r"""Quadratic surfaces: the bowl, the ravine (axis-aligned and rotated), Booth and Matyas.

Every one is :math:`f(\theta) = \tfrac12 (\theta-\theta^*)^\top A (\theta-\theta^*) + f^*`
with a constant symmetric positive-definite Hessian :math:`A`, so the stability theory of
gradient descent is exact here: with eigenvalues :math:`\mu = \lambda_{min}` and
:math:`L = \lambda_{max}`, GD converges iff :math:`0 < \eta < 2/L`; the best constant step
:math:`\eta = 2/(L+\mu)` contracts the error by :math:`(\kappa-1)/(\kappa+1)` per step,
:math:`\kappa = L/\mu`; heavy-ball momentum with :math:`\eta = 4/(\sqrt L+\sqrt\mu)^2`,
:math:`\beta = ((\sqrt\kappa-1)/(\sqrt\kappa+1))^2` contracts by
:math:`(\sqrt\kappa-1)/(\sqrt\kappa+1)` (Polyak 1964).
"""

from __future__ import annotations

import math

import numpy as np

from optim_core.entries import Hyper, SurfaceInfo
from optim_core.surfaces.base import Surface

__all__ = ["Quadratic", "QuadraticBowl", "Ravine", "RotatedRavine", "Booth", "Matyas"]


class Quadratic(Surface):
    """:math:`\\tfrac12 (\\theta-c)^\\top A (\\theta-c) + f^*` for a symmetric positive-definite A."""

    tags = ("convex", "quadratic")

    def __init__(self, A, center=(0.0, 0.0), min_value=0.0):
        A = np.array(A, dtype=np.float64)
        if A.shape != (2, 2) or not np.allclose(A, A.T):
            raise ValueError("A must be a symmetric 2x2 matrix")
        self.A = A
        self.center = np.array(center, dtype=np.float64)
        self._a, self._b, self._c = float(A[0, 0]), float(A[0, 1]), float(A[1, 1])
        self._cx, self._cy = float(self.center[0]), float(self.center[1])
        self.min_value = float(min_value)
        evals, evecs = np.linalg.eigh(A)
        self.eigenvalues = evals  # ascending: (mu, L)
        self.eigenvectors = evecs  # columns
        self.minima = self.center[None, :].copy()
        self.global_min_value = self.min_value

    # -- stability theory ------------------------------------------------------------
    @property
    def lipschitz(self) -> float:
        """L, the largest Hessian eigenvalue (the gradient's Lipschitz constant)."""
        return float(self.eigenvalues[-1])

    @property
    def strong_convexity(self) -> float:
        """mu, the smallest Hessian eigenvalue."""
        return float(self.eigenvalues[0])

    @property
    def condition_number(self) -> float:
        return self.lipschitz / self.strong_convexity

    def stability(self, beta: float | None = None) -> dict[str, float]:
        """The stability theory of this quadratic (:func:`optim_core.analysis.quadratic_stability`)."""
        from optim_core.analysis import quadratic_stability  # the analysis runs the engine, which knows surfaces

        return quadratic_stability(self.lipschitz, self.strong_convexity, beta)

    @property
    def max_stable_lr(self) -> float:
        """Gradient descent diverges for any learning rate above 2/L."""
        return self.stability()["gd_max_lr"]

    @property
    def best_lr(self) -> float:
        """The constant GD step 2/(L+mu) with the fastest worst-case contraction."""
        return self.stability()["gd_optimal_lr"]

    def gd_contraction(self, lr) -> float:
        """Per-step error contraction of GD with ``lr``: max |1 - lr*lambda| (>= 1 diverges)."""
        r = np.max(np.abs(1.0 - np.asarray(lr, dtype=float)[..., None] * self.eigenvalues), axis=-1)
        return float(r) if np.ndim(r) == 0 else r

    # -- the function ----------------------------------------------------------------
    def _fg(self, x, y):
        dx = x - self._cx
        dy = y - self._cy
        gx = self._a * dx + self._b * dy
        gy = self._b * dx + self._c * dy
        return 0.5 * (dx * gx + dy * gy) + self.min_value, gx, gy

    def _h(self, x, y):
        return self._a, self._b, self._c


class QuadraticBowl(Quadratic):
    name = "Quadratic bowl"
    title = "Quadratic bowl"
    window = ((-2.0, 2.0), (-2.0, 2.0))
    starts = [(1.5, 1.0), (-1.8, 1.6), (0.3, -1.7)]
    note = ("The easy case: f = (x² + y²)/2, every direction equally curved (κ = 1). "
            "GD with η = 1 lands on the minimum in one step and diverges for η > 2.")

    def __init__(self):
        super().__init__(np.eye(2))


class Ravine(Quadratic):
    r""":math:`f = \tfrac12 (u^2 + \kappa v^2)` in axes ``(u, v)`` rotated by ``angle`` degrees.

    The flat axis u points along ``(cos angle, sin angle)``; the Hessian's eigenvalues are
    mu = 1 and L = kappa, so the window stays the same while kappa only steepens the walls.
    """

    name = "Ravine"
    tags = ("convex", "quadratic", "ravine", "ill-conditioned")
    note = ("An ill-conditioned valley: the steep walls cap the stable step at 2/κ while progress "
            "along the flat floor needs many such steps, so plain GD zig-zags; momentum and "
            "per-coordinate scaling help (the latter only when the valley is axis-aligned).")
    window = ((-3.0, 3.0), (-3.0, 3.0))

    def __init__(self, kappa: float = 10.0, angle: float = 0.0):
        kappa, angle = float(kappa), float(angle)
        if not kappa >= 1.0 or not math.isfinite(kappa):
            raise ValueError(f"kappa must be a finite number >= 1, got {kappa}")
        t = math.radians(angle)
        c, s = math.cos(t), math.sin(t)
        R = np.array([[c, -s], [s, c]])
        super().__init__(R @ np.diag([1.0, kappa]) @ R.T)
        # Exact eigen-data (eigh would round them).
        self.eigenvalues = np.array([1.0, kappa])
        self.eigenvectors = R
        self.kappa, self.angle = kappa, angle
        self.title = f"Ravine (κ = {kappa:g})" if angle == 0 else f"Rotated ravine (κ = {kappa:g}, {angle:g}°)"
        self.log_levels = kappa >= 30.0
        # Far along the flat floor, a little up the steep wall; then nearly on the floor; then on the wall.
        self.starts = [tuple(R @ uv) for uv in ((-2.5, 0.8), (-2.5, 0.05), (0.4, 2.2))]


class RotatedRavine(Ravine):
    name = "Rotated ravine"

    def __init__(self, kappa: float = 10.0, angle: float = 45.0):
        super().__init__(kappa, angle)


class Booth(Quadratic):
    """Booth: (x + 2y - 7)² + (2x + y - 5)², minimum 0 at (1, 3)."""

    name = "Booth"
    title = "Booth"
    window = ((-10.0, 10.0), (-10.0, 10.0))
    starts = [(-8.0, 8.0), (8.0, -6.0), (-8.0, -8.0)]
    log_levels = True
    tags = ("convex", "quadratic", "classic-benchmark")
    note = ("A benchmark that is secretly a tilted ravine: Hessian [[10, 8], [8, 10]] with "
            "eigenvalues 2 and 18 (κ = 9) along the diagonals.")

    def __init__(self):
        super().__init__([[10.0, 8.0], [8.0, 10.0]], center=(1.0, 3.0))


class Matyas(Quadratic):
    """Matyas: 0.26(x² + y²) - 0.48xy, minimum 0 at the origin."""

    name = "Matyas"
    title = "Matyas"
    window = ((-10.0, 10.0), (-10.0, 10.0))
    starts = [(8.0, 6.0), (-6.0, 9.0), (9.0, -9.0)]
    log_levels = True
    tags = ("convex", "quadratic", "ravine", "classic-benchmark")
    note = ("A nearly flat diagonal valley: eigenvalues 0.04 along x = y and 1 across it (κ = 25), "
            "so GD reaches the valley floor fast, then crawls along it.")

    def __init__(self):
        super().__init__([[0.52, -0.48], [-0.48, 0.52]])


_KAPPA = Hyper("kappa", 10.0, low=1.0, high=1000.0, log=True, label="condition number κ",
               help="Ratio of the steepest to the flattest curvature (L/μ).", valid="[1, inf)")

INFOS = [
    SurfaceInfo("Quadratic bowl", QuadraticBowl, (), QuadraticBowl.note, ("convex", "quadratic")),
    SurfaceInfo("Ravine", Ravine, (_KAPPA,), Ravine.note, Ravine.tags),
    SurfaceInfo(
        "Rotated ravine", RotatedRavine,
        (_KAPPA, Hyper("angle", 45.0, low=-90.0, high=90.0, label="angle (degrees)",
                       help="Direction of the valley floor; at 0° it is the x axis.", valid="[-90, 90]")),
        "The same ravine turned away from the axes: per-coordinate methods (Adagrad, RMSprop, Adam) "
        "lose their advantage because the curvature is no longer diagonal.",
        ("convex", "quadratic", "ravine", "ill-conditioned", "rotated"),
    ),
    SurfaceInfo("Booth", Booth, (), Booth.note, Booth.tags),
    SurfaceInfo("Matyas", Matyas, (), Matyas.note, Matyas.tags),
]
