"""Small 2D classification datasets for the Live Training page (NumPy only, seeded).

Every generator is a pure function of its arguments: the same ``seed`` gives the same
points. Each returns ``(X, y)`` with ``X`` float32 of shape ``(n, 2)`` and ``y`` int64 of
shape ``(n,)`` holding 0 or 1, the two classes as balanced as ``n`` allows and the rows
shuffled (so a split or a mini-batch never sees one class only). The points lie roughly
in ``[-2, 2]²`` so one picture frame suits them all.

``noise`` is the standard deviation of the Gaussian jitter added to every point (for the
blobs, the clusters' own spread as well).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

DEFAULT_POINTS = 512  # points per dataset unless asked otherwise (Live Training's default, the MLP range test's)
DEFAULT_NOISE = 0.1

__all__ = [
    "DATASETS",
    "DATASET_LABELS",
    "DEFAULT_DATASET",
    "DEFAULT_POINTS",
    "DEFAULT_NOISE",
    "make_dataset",
    "two_moons",
    "circles",
    "spirals",
    "xor",
    "blobs",
    "train_test_split",
]


def _counts(n: int) -> tuple[int, int]:
    if n < 2:
        raise ValueError(f"a dataset needs at least 2 points (one per class), got n={n}")
    return n // 2, n - n // 2


def _finish(rng: np.random.Generator, X: np.ndarray, y: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    X = X + noise * rng.standard_normal(X.shape)
    order = rng.permutation(len(y))
    return np.ascontiguousarray(X[order], dtype=np.float32), np.ascontiguousarray(y[order], dtype=np.int64)


def _labels(n0: int, n1: int) -> np.ndarray:
    return np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])


def two_moons(n: int = DEFAULT_POINTS, noise: float = DEFAULT_NOISE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles (as scikit-learn's ``make_moons``), centred on the origin."""
    rng = np.random.default_rng(seed)
    n0, n1 = _counts(n)
    t0 = rng.uniform(0.0, np.pi, n0)
    t1 = rng.uniform(0.0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower]) - np.array([0.5, 0.25])
    return _finish(rng, X * 1.2, _labels(n0, n1), noise)


def circles(
    n: int = DEFAULT_POINTS, noise: float = DEFAULT_NOISE, seed: int = 0, factor: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """A ring (class 0) around a smaller ring of radius ``factor`` (class 1): not linearly separable."""
    rng = np.random.default_rng(seed)
    n0, n1 = _counts(n)
    t0 = rng.uniform(0.0, 2 * np.pi, n0)
    t1 = rng.uniform(0.0, 2 * np.pi, n1)
    outer = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    inner = factor * np.stack([np.cos(t1), np.sin(t1)], axis=1)
    return _finish(rng, 1.5 * np.concatenate([outer, inner]), _labels(n0, n1), noise)


def spirals(
    n: int = DEFAULT_POINTS, noise: float = DEFAULT_NOISE, seed: int = 0, turns: float = 1.5
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved spiral arms of ``turns`` revolutions: the hardest of the set."""
    rng = np.random.default_rng(seed)
    n0, n1 = _counts(n)
    arms = []
    for k, m in enumerate((n0, n1)):
        r = np.sqrt(rng.uniform(0.0, 1.0, m)) * 1.8 + 0.05  # sqrt: even density along the arm
        theta = r / 1.85 * turns * 2 * np.pi + k * np.pi
        arms.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
    return _finish(rng, np.concatenate(arms), _labels(n0, n1), noise)


def xor(n: int = DEFAULT_POINTS, noise: float = DEFAULT_NOISE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points in the four quadrants, class 1 where x·y < 0: the classic XOR problem."""
    rng = np.random.default_rng(seed)
    n0, n1 = _counts(n)
    pts = []
    for sign, m in ((1.0, n0), (-1.0, n1)):
        a = rng.uniform(0.1, 1.8, m) * rng.choice([-1.0, 1.0], m)
        b = rng.uniform(0.1, 1.8, m) * np.sign(a) * sign
        pts.append(np.stack([a, b], axis=1))
    return _finish(rng, np.concatenate(pts), _labels(n0, n1), noise)


def blobs(
    n: int = DEFAULT_POINTS, noise: float = DEFAULT_NOISE, seed: int = 0, spread: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian clusters of standard deviation ``spread`` (plus ``noise``): nearly linear."""
    rng = np.random.default_rng(seed)
    n0, n1 = _counts(n)
    centers = np.array([[-0.8, -0.6], [0.8, 0.6]])
    X = np.concatenate([centers[0] + spread * rng.standard_normal((n0, 2)),
                        centers[1] + spread * rng.standard_normal((n1, 2))])
    return _finish(rng, X, _labels(n0, n1), noise)


# Every dataset, once: its name (the key pages and URLs use), its generator and its label.
_TABLE: tuple[tuple[str, Callable[..., tuple[np.ndarray, np.ndarray]], str], ...] = (
    ("moons", two_moons, "Two moons"),
    ("circles", circles, "Circles"),
    ("spirals", spirals, "Spirals"),
    ("xor", xor, "XOR"),
    ("blobs", blobs, "Gaussian blobs"),
)
DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {name: fn for name, fn, _ in _TABLE}
DATASET_LABELS: dict[str, str] = {name: label for name, _, label in _TABLE}
DEFAULT_DATASET = "moons"


def make_dataset(
    name: str, n: int = DEFAULT_POINTS, noise: float = DEFAULT_NOISE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The dataset ``name`` (a key of :data:`DATASETS`) with ``n`` points."""
    try:
        fn = DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None
    return fn(n=int(n), noise=float(noise), seed=int(seed))


def train_test_split(
    X: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random split: ``(X_train, y_train, X_test, y_test)``.

    At least one point goes to each side, so a tiny dataset still has a test set.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n = len(y)
    if n < 2:
        raise ValueError("need at least 2 points to split")
    n_test = min(max(int(round(n * test_fraction)), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]
