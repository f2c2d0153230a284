"""Small helpers used by every experiment: one-hot encoding, stratified
train/validation split, seeded shuffling.

Integer seeds drive NumPy's legacy ``RandomState``, whose stream NumPy keeps
frozen across versions, so a split or a shuffle made with ``seed=0`` is the
same on every machine and every NumPy release. A ``numpy.random.Generator``
or ``RandomState`` may be passed instead of an int.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from ..validation import check_bool, check_number

__all__ = ["one_hot", "train_val_split", "shuffle", "as_random_state"]

SeedLike = Union[int, np.integer, np.random.Generator, np.random.RandomState]


def as_random_state(seed: SeedLike) -> Union[np.random.Generator, np.random.RandomState]:
    """An int seed -> a frozen-stream ``RandomState``; generators pass through."""
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, a numpy Generator or a RandomState, not {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, not {seed}")
    return np.random.RandomState(int(seed))


def _check_labels(y, name: str = "y") -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integer class labels, "
                         f"got shape {y.shape}")
    if y.dtype.kind in "iu":
        return y
    if y.dtype.kind == "f" and y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    if y.dtype.kind == "f" and not y.size:
        return y.astype(np.int64)
    raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}"
                     + (" with non-integer values" if y.dtype.kind == "f" else ""))


def one_hot(y, n_classes: Optional[int] = None, dtype=np.float32) -> np.ndarray:
    """Encode integer labels ``0 .. n_classes-1`` as one-hot rows.

    Parameters
    ----------
    y : array-like of shape (n,)
        Integer class labels (floats holding whole numbers are accepted).
    n_classes : int, optional
        Number of columns; default ``max(y) + 1``. Pass it explicitly when a
        batch may miss the highest classes.
    dtype : numpy dtype
        Dtype of the result (default float32).

    Returns
    -------
    ndarray of shape (n, n_classes)

    Raises
    ------
    ValueError
        For non-integer labels, negative labels, or labels ``>= n_classes``.
    """
    y = _check_labels(y)
    if n_classes is None:
        if y.size == 0:
            raise ValueError("cannot infer n_classes from empty labels; pass n_classes")
        n_classes = int(y.max()) + 1
    if isinstance(n_classes, (bool, np.bool_)) or not isinstance(n_classes, (int, np.integer)):
        raise TypeError(f"n_classes must be an int, got {n_classes!r}")
    n_classes = int(n_classes)
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    if y.size:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0:
            raise ValueError(f"labels must be >= 0, found {lo}")
        if hi >= n_classes:
            raise ValueError(f"label {hi} is out of range for n_classes={n_classes} "
                             f"(labels must be in 0..{n_classes - 1})")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy dtype such as np.float32, got {dtype!r}") from None
    out = np.zeros((y.size, n_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out


def shuffle(X, y=None, seed: SeedLike = 0):
    """Shuffle the rows of ``X`` (and ``y`` the same way) with a seeded permutation.

    Returns shuffled copies: ``(X, y)``, or only ``X`` when ``y`` is None.
    """
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError(f"X must be an array of samples (rows), got {X!r}")
    perm = as_random_state(seed).permutation(len(X))
    if y is None:
        return X[perm]
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"X and y have different lengths: {len(X)} and {len(y)}")
    return X[perm], y[perm]


def _split_indices(y: np.ndarray, val_fraction: float, rng, stratify: bool
                   ) -> Tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)``; each class gives ``round(val_fraction * n_c)`` to val."""
    n = len(y)
    if stratify:
        classes, inverse = np.unique(y, return_inverse=True)
        parts = []
        for k in range(len(classes)):
            idx = np.flatnonzero(inverse == k)
            idx = idx[rng.permutation(idx.size)]
            n_val = int(np.floor(val_fraction * idx.size + 0.5))
            if idx.size >= 2:  # keep at least one sample of the class on each side
                n_val = min(max(n_val, 1 if val_fraction > 0 else 0), idx.size - 1)
            parts.append(idx[:n_val])
        val = np.concatenate(parts) if parts else np.empty(0, dtype=np.intp)
    else:
        n_val = int(np.floor(val_fraction * n + 0.5))
        val = rng.permutation(n)[:n_val]
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    train = np.flatnonzero(mask)
    return train[rng.permutation(train.size)], val[rng.permutation(val.size)]


def train_val_split(X, y, val_fraction: float = 0.1, seed: SeedLike = 0, stratify: bool = True):
    """Split ``X, y`` into training and validation parts, seeded and stratified.

    With ``stratify=True`` every class contributes ``round(val_fraction * n_c)``
    of its ``n_c`` samples to validation (at least one, and never all, when it
    has two or more), so class proportions are kept. Both parts come back in a
    seeded random order.

    Returns
    -------
    X_train, X_val, y_train, y_val
        In scikit-learn's ``train_test_split`` order.
    """
    check_number(val_fraction, "val_fraction", low=0, high=1, high_open=True)
    stratify = check_bool(stratify, "stratify")
    X = np.asarray(X)
    y = np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y have different lengths: {len(X)} and {len(y)}")
    if stratify:
        if y.ndim != 1:
            raise ValueError("stratify=True needs 1-D class labels; pass integer labels "
                             "(not one-hot) or stratify=False")
        _check_labels(y)
    train, val = _split_indices(y, float(val_fraction), as_random_state(seed), stratify)
    return X[train], X[val], y[train], y[val]
