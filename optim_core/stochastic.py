r"""Seeded stochastic gradients on a 2D surface, for the trajectory engine.

:class:`StochasticGradient` wraps a surface and returns ``(value, grad)`` as a noisy
optimizer would see them, in one vectorized call per step for all runs:

(a) **Gradient noise**: :math:`g = \nabla f(\theta) + \sigma\,\xi`, :math:`\xi \sim N(0, I_2)`
    (``noise_scale`` = σ); the returned value is the true f.
(b) **Mini-batches**: the surface is the mean of ``n_samples`` sub-losses
    :math:`f_i(\theta) = f(\theta) + c_i^\top\theta`, with fixed seeded offsets
    :math:`c_i \in \mathbb{R}^2` that sum to exactly zero (so the full batch is exactly f).
    Each step draws ``batch_size`` = b of them without replacement and returns the batch
    loss :math:`f(\theta) + \bar c_B^\top\theta` and its gradient
    :math:`\nabla f(\theta) + \bar c_B`. The noise :math:`\bar c_B` has mean 0 and, per
    coordinate k, variance :math:`\tfrac1b\left(1 - \tfrac bn\right) S_k^2` with
    :math:`S_k^2 = \sum_i c_{ik}^2/(n-1)` (= ``spread``² up to rounding): it shrinks as the
    batch grows and vanishes for the full batch.

Both can be combined; ``batch_size=None`` (or n) means full batch.

**Randomness contract.** The draws of one run at one step are a function of
``(seed, step, row)`` only, where ``row`` is the run's index: by default the flat position
of the point in ``xy`` (row ``i`` of an ``(N, 2)`` array), or the ``rows`` argument when
given. So the same seed and step give the same result, every run gets independent draws,
and a run evaluated alone with ``rows=i`` gets exactly (bit for bit) what it gets as row
``i`` of a batch, provided the surface evaluates elementwise (all built-in ones do). The
draws come from a counter-based generator (SplitMix64 hashing of seed, step, row and draw
index), so no generator state is carried between calls and any step can be replayed. It is
statistically sound for simulation, not cryptographic.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["StochasticGradient"]

_M64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15   # golden-ratio increment of SplitMix64
_GAMMA2 = 0xD1B54A32D192ED03  # a second odd constant, for draw indices
_SALT_NOISE = 0x6A09E667F3BCC909
_SALT_BATCH = 0xBB67AE8584CAA73B
_SALT_OFFSETS = 0x3C6EF372FE94F82B
_TWO53 = 2.0 ** -53


def _mix_int(z: int) -> int:
    """SplitMix64's finalizer on a Python int (exact, no NumPy overflow warnings)."""
    z &= _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _gaussian_pairs(keys: np.ndarray) -> np.ndarray:
    """Two independent standard normals per key (Box-Muller), shape ``keys.shape + (2,)``."""
    a = _mix(keys + np.uint64(_GAMMA2))
    b = _mix(keys + np.uint64((2 * _GAMMA2) & _M64))
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) * _TWO53  # (0, 1]
    u2 = (b >> np.uint64(11)).astype(np.float64) * _TWO53           # [0, 1)
    r = np.sqrt(-2.0 * np.log(u1))
    t = (2.0 * math.pi) * u2
    out = np.empty(keys.shape + (2,))
    out[..., 0] = r * np.cos(t)
    out[..., 1] = r * np.sin(t)
    return out


class StochasticGradient:
    """Noisy ``(value, grad)`` of ``surface``: ``sg(xy, step, rows=None)``.

    Args:
        surface: anything with ``value_and_grad(xy)`` on ``(..., 2)`` arrays.
        noise_scale: σ of additive Gaussian gradient noise (0: none).
        batch_size: sub-losses per mini-batch, 1..n_samples; None or n_samples: full batch.
        n_samples: number n of sub-losses f_i (the "dataset size"), at least 2.
        seed: integer seed; the offsets and every draw are determined by it.
        spread: standard deviation of the offsets c_i (each coordinate).

    Example::

        sg = StochasticGradient(Rosenbrock(), batch_size=8, seed=1)
        value, grad = sg(xy, step)          # xy: (N, 2), one row per run
    """

    def __init__(self, surface, noise_scale: float = 0.0, batch_size: int | None = None,
                 n_samples: int = 64, seed: int = 0, spread: float = 1.0):
        noise_scale, spread = float(noise_scale), float(spread)
        if not (math.isfinite(noise_scale) and noise_scale >= 0):
            raise ValueError(f"noise_scale must be a finite number >= 0, got {noise_scale}")
        if not (math.isfinite(spread) and spread >= 0):
            raise ValueError(f"spread must be a finite number >= 0, got {spread}")
        n_samples = int(n_samples)
        if n_samples < 2:
            raise ValueError(f"n_samples must be at least 2, got {n_samples}")
        if batch_size is not None:
            batch_size = int(batch_size)
            if not 1 <= batch_size <= n_samples:
                raise ValueError(f"batch_size must be in [1, n_samples={n_samples}], got {batch_size}")
            if batch_size == n_samples:
                batch_size = None
        self.surface = surface
        self.noise_scale = noise_scale
        self.batch_size = batch_size
        self.n_samples = n_samples
        self.seed = int(seed)
        self.spread = spread
        self._seed_key = _mix_int(_mix_int(self.seed) + _GAMMA)
        self.offsets = self._make_offsets()

    def _make_offsets(self) -> np.ndarray:
        """n offsets with exactly zero sum and standard deviation ``spread`` (to ~1e-7).

        They are multiples of a power of two (2**-24 of the spread's binade), so every sum
        of them is exact in float64: the centring is exact and a batch mean does not depend
        on the order of summation.
        """
        n = self.n_samples
        if self.spread == 0.0:
            return np.zeros((n, 2))
        keys = np.uint64(_mix_int(self._seed_key ^ _SALT_OFFSETS)) + np.arange(n, dtype=np.uint64) * np.uint64(_GAMMA)
        with np.errstate(over="ignore"):
            z = _gaussian_pairs(_mix(keys))
        z -= z.mean(axis=0)
        z *= self.spread / z.std(axis=0, ddof=1)
        quantum = 2.0 ** (math.floor(math.log2(self.spread)) - 24)
        q = np.rint(z / quantum).astype(np.int64)
        # Make each column sum to exactly zero: remove the integer mean, then spread the remainder.
        q -= q.sum(axis=0) // n
        for k in range(2):
            r = int(q[:, k].sum())  # 0 <= r < n
            if r:
                q[np.argsort(q[:, k])[-r:], k] -= 1
        return q.astype(np.float64) * quantum

    @property
    def additive_noise_only(self) -> bool:
        """True when the result is the exact value and the exact gradient plus ``noise_scale`` times
        :meth:`noise_block`'s pairs (no mini-batch offsets): what the engine's float path can add."""
        return self.batch_size is None or self.spread == 0.0

    # -- theory --------------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """True when the result is the surface's exact value and gradient."""
        return self.noise_scale == 0.0 and (self.batch_size is None or self.spread == 0.0)

    @property
    def offset_variance(self) -> np.ndarray:
        """S_k² = Σ_i c_ik² / (n - 1), per coordinate."""
        return (self.offsets ** 2).sum(axis=0) / (self.n_samples - 1)

    def gradient_variance(self) -> np.ndarray:
        """Predicted variance of each gradient coordinate's noise:
        σ² + (1/b)(1 - b/n) S_k² (the second term only with mini-batches)."""
        var = np.full(2, self.noise_scale ** 2)
        if self.batch_size is not None:
            b, n = self.batch_size, self.n_samples
            var += (1.0 / b) * (1.0 - b / n) * self.offset_variance
        return var

    # -- the hot path ------------------------------------------------------------------
    def _row_keys(self, step: int, salt: int, rows: np.ndarray) -> np.ndarray:
        base = _mix_int(_mix_int(self._seed_key ^ salt) + (int(step) & _M64) * _GAMMA2)
        return _mix(np.uint64(base) + rows * np.uint64(_GAMMA))

    def __call__(self, xy, step: int, rows=None):
        """``(value, grad)`` at ``xy`` (shape ``(..., 2)``) for step ``step``.

        ``rows``: integer run indices, shape ``xy.shape[:-1]`` (default: the flat positions
        0, 1, 2, ... of the points). A run's draws depend only on (seed, step, its row).
        """
        xy = np.asarray(xy, dtype=np.float64)
        value, grad = self.surface.value_and_grad(xy)
        if self.exact:
            return value, grad
        shape = xy.shape[:-1]
        if rows is None:
            rows = np.arange(math.prod(shape), dtype=np.uint64).reshape(shape)
        else:
            rows = np.broadcast_to(np.asarray(rows).astype(np.int64), shape).astype(np.uint64)
        flat_rows = rows.reshape(-1)
        with np.errstate(over="ignore"):
            grad = np.array(grad, dtype=np.float64, copy=True)
            if self.batch_size is not None and self.spread > 0.0:
                cbar = self._batch_means(step, flat_rows).reshape(shape + (2,))
                value = value + (cbar[..., 0] * xy[..., 0] + cbar[..., 1] * xy[..., 1])
                grad += cbar
            if self.noise_scale > 0.0:
                grad += self.noise_scale * self._noise(int(step), flat_rows).reshape(shape + (2,))
        return value, grad

    # A race asks for the noise of a few rows one step at a time, where NumPy's fixed cost per call
    # dominates (~60 us a step for six rows). The draws depend only on (seed, step, row), so the
    # noise of the next steps is drawn in one block per row set and served from it: the same
    # numbers, several times faster. Blocks hold at most _NOISE_BLOCK_VALUES pairs.
    _NOISE_BLOCK_VALUES = 1 << 16
    _NOISE_BLOCKS_KEPT = 8

    def _noise(self, step: int, rows: np.ndarray) -> np.ndarray:
        """Standard normal pairs of ``rows`` at ``step``, shape ``(len(rows), 2)``."""
        n = len(rows)
        span = min(512, self._NOISE_BLOCK_VALUES // max(n, 1))
        if span <= 1:
            return _gaussian_pairs(self._row_keys(step, _SALT_NOISE, rows))
        blocks = self.__dict__.setdefault("_noise_blocks", {})
        key = rows.tobytes()
        hit = blocks.get(key)
        if hit is None or not hit[0] <= step < hit[0] + len(hit[1]):
            hit = (step, self.noise_block(step, span, rows))
            if len(blocks) >= self._NOISE_BLOCKS_KEPT:
                blocks.pop(next(iter(blocks)))
            blocks[key] = hit
        return hit[1][step - hit[0]]

    def noise_block(self, first_step: int, n_steps: int, rows: np.ndarray) -> np.ndarray:
        """The standard normal pairs of ``rows`` at steps ``first_step .. first_step + n_steps - 1``,
        shape ``(n_steps, len(rows), 2)``: what the steps would draw one at a time, in one call."""
        head = np.uint64(_mix_int(self._seed_key ^ _SALT_NOISE))
        steps = np.arange(first_step, first_step + n_steps, dtype=np.uint64)
        with np.errstate(over="ignore"):
            base = _mix(head + steps * np.uint64(_GAMMA2))
            keys = _mix(base[:, None] + np.asarray(rows, dtype=np.uint64)[None, :] * np.uint64(_GAMMA))
        return _gaussian_pairs(keys)

    def _batch_means(self, step: int, rows: np.ndarray) -> np.ndarray:
        """Mean offset of each row's mini-batch, shape ``(len(rows), 2)``.

        A uniformly random b-subset per row: the b smallest of n hashed keys. The offsets
        are dyadic, so the sum is exact and independent of the order of the indices. Rows
        go in blocks of 2048 so the (rows, n) key arrays stay small.
        """
        b, n = self.batch_size, self.n_samples
        base = self._row_keys(step, _SALT_BATCH, rows)
        draw = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(_GAMMA2)
        total = np.empty((len(rows), 2))
        for i in range(0, len(rows), 2048):
            keys = _mix(base[i:i + 2048, None] + draw)
            if 2 * b <= n:
                idx = np.argpartition(keys, b - 1, axis=1)[:, :b]
                total[i:i + 2048] = self.offsets[idx].sum(axis=1)
            else:  # fewer to leave out than to take: the batch sum is minus the left-out sum
                idx = np.argpartition(keys, b - 1, axis=1)[:, b:]
                total[i:i + 2048] = -self.offsets[idx].sum(axis=1)
        return total / b

    def __repr__(self):
        return (f"StochasticGradient({self.surface!r}, noise_scale={self.noise_scale:g}, "
                f"batch_size={self.batch_size}, n_samples={self.n_samples}, seed={self.seed}, "
                f"spread={self.spread:g})")
