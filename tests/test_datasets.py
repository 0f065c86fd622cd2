"""The seeded 2D datasets of the Live Training page."""

from __future__ import annotations

import numpy as np
import pytest

from app.training.datasets import (
    DATASET_LABELS,
    DATASETS,
    DEFAULT_DATASET,
    DEFAULT_NOISE,
    DEFAULT_POINTS,
    make_dataset,
    train_test_split,
)


@pytest.mark.parametrize("name", list(DATASETS))
def test_shapes_dtypes_and_balance(name):
    X, y = make_dataset(name, n=301, noise=0.1, seed=0)
    assert X.shape == (301, 2) and X.dtype == np.float32
    assert y.shape == (301,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert abs(int(y.sum()) - 150) <= 1
    assert np.all(np.isfinite(X))
    assert np.all(np.abs(X) < 4)  # one frame fits every dataset
    assert name in DATASET_LABELS


@pytest.mark.parametrize("name", list(DATASETS))
def test_seeded(name):
    a = make_dataset(name, n=64, noise=0.2, seed=3)
    b = make_dataset(name, n=64, noise=0.2, seed=3)
    c = make_dataset(name, n=64, noise=0.2, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", list(DATASETS))
def test_noise_moves_points(name):
    clean, _ = make_dataset(name, n=200, noise=0.0, seed=1)
    noisy, _ = make_dataset(name, n=200, noise=0.5, seed=1)
    assert np.std(noisy - clean) > 0.2


def test_rows_are_shuffled():
    _, y = make_dataset("moons", n=100, seed=0)
    assert 0 < y[:50].sum() < 50


def test_geometry_without_noise():
    X, y = make_dataset("circles", n=200, noise=0.0, seed=0)
    r = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(r[y == 0], 1.5, rtol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.75, rtol=1e-6)
    X, y = make_dataset("xor", n=200, noise=0.0, seed=0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))


def test_split_is_seeded_disjoint_and_complete():
    X, y = make_dataset("spirals", n=100, seed=0)
    Xtr, ytr, Xte, yte = train_test_split(X, y, test_fraction=0.25, seed=1)
    assert len(Xtr) == 75 and len(Xte) == 25
    both = np.concatenate([Xtr, Xte])
    assert sorted(map(tuple, both.tolist())) == sorted(map(tuple, X.tolist()))
    again = train_test_split(X, y, test_fraction=0.25, seed=1)
    np.testing.assert_array_equal(again[2], Xte)
    other = train_test_split(X, y, test_fraction=0.25, seed=2)
    assert not np.array_equal(other[2], Xte)
    assert len(train_test_split(X[:3], y[:3], 0.01)[2]) == 1  # always at least one test point


def test_errors():
    with pytest.raises(KeyError, match="unknown dataset"):
        make_dataset("swiss roll")
    with pytest.raises(ValueError):
        make_dataset("moons", n=1)
    with pytest.raises(ValueError):
        make_dataset("moons", noise=-1)
    X, y = make_dataset("moons", n=10)
    with pytest.raises(ValueError):
        train_test_split(X, y, test_fraction=1.0)


def test_one_table_names_generates_and_labels_every_dataset():
    assert list(DATASETS) == list(DATASET_LABELS) == ["moons", "circles", "spirals", "xor", "blobs"]
    assert DEFAULT_DATASET in DATASETS
    X, y = make_dataset(DEFAULT_DATASET)
    assert len(y) == DEFAULT_POINTS == 512
    for name, fn in DATASETS.items():  # the generators' defaults are make_dataset's
        a, b = fn(), make_dataset(name, n=DEFAULT_POINTS, noise=DEFAULT_NOISE, seed=0)
        np.testing.assert_array_equal(a[0], b[0])
