"""Input checks done once, at the API boundary, with messages that say what to do."""
from __future__ import annotations

import numbers

import numpy as np


def all_finite(A, block_rows=4096) -> bool:
    """np.isfinite(A).all() without a full-size temporary: one vectorised pass in the Cython
    extension for C-contiguous float arrays, else NumPy in row blocks."""
    if A.ndim == 2 and A.dtype in (np.float32, np.float64) and A.flags.c_contiguous:
        try:
            from ._cykernels import all_finite as _compiled
        except ImportError:  # pragma: no cover - extension not built
            pass
        else:
            return bool(_compiled(A))
    for start in range(0, A.shape[0], block_rows):
        if not np.isfinite(A[start:start + block_rows]).all():
            return False
    return True


def nonfinite_error(X, name="X") -> ValueError:
    """The error for an input holding NaN or inf, naming the first bad entry."""
    bad = np.argwhere(~np.isfinite(X))[0]
    return ValueError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]}); "
                      "clean or impute the data first")


def check_X(X, n_features=None, dtype=np.float32, name="X", finite=True) -> np.ndarray:
    """A C-contiguous 2-D array of ``dtype`` with finite values (copied only if needed).
    ``finite=False`` skips the NaN/inf scan for callers that check block by block."""
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{name} must be a 2-D array of numbers, got {type(X).__name__}")
    try:
        X = np.asarray(X)
    except Exception as exc:  # ragged lists etc.
        raise ValueError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (got dtype {X.dtype}); convert it with "
                        f"np.asarray({name}, dtype=float)")
    if X.ndim != 2:
        hint = " (a single sample? use X.reshape(1, -1))" if X.ndim == 1 else \
            " (images? flatten them with X.reshape(len(X), -1))" if X.ndim > 2 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}{hint}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); it needs at least one sample and one feature")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features but the model expects {n_features} "
                         f"(its first layer has {n_features} inputs)")
    X = np.ascontiguousarray(X, dtype=dtype)
    if finite and not all_finite(X):
        raise nonfinite_error(X, name)
    return X


def check_targets(y, n_samples, n_outputs, task, dtype=np.float32):
    """Targets as (Y matrix of n_outputs columns, integer labels or an empty array).

    ``task`` is "multiclass" (softmax / one-hot), "binary" (one sigmoid unit: labels 0/1),
    "multilabel-or-classes" (several sigmoid units: labels or 0/1 matrix) or "regression".
    """
    if y is None:
        raise TypeError("y is required: integer class labels of shape (n_samples,) or targets "
                        "of shape (n_samples, n_outputs)")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"y must hold numbers (got dtype {y.dtype}); encode string labels first, "
                        "e.g. with sklearn.preprocessing.LabelEncoder")
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}; they must match")
    empty = np.empty(0, dtype=np.int64)
    if task == "regression":
        Y = y.reshape(n_samples, -1)
        if Y.shape[1] == 1 and n_outputs > 1 and y.dtype.kind in "biuf" and np.isfinite(Y).all() \
                and np.all(Y == np.round(Y)) and Y.min() >= 0 and Y.max() < n_outputs:
            # integer class labels given to a bounded/linear-output MSE network shaped like a classifier
            raise ValueError(
                f"y looks like integer class labels (0..{int(Y.max())}) but this model has {n_outputs} outputs "
                f"trained with MSE on a non-sigmoid output, so it takes targets of shape ({n_samples}, "
                f"{n_outputs}): one-hot the labels, y_onehot = np.eye({n_outputs})[y] (as the course did with "
                f"tanh outputs), or train a classifier on the labels with output='sigmoid' (MSE/BCE) or "
                f"output='softmax' with loss='cross_entropy'")
        if Y.shape[1] != n_outputs:
            raise ValueError(f"y has {Y.shape[1]} target columns but the model has {n_outputs} outputs")
        Y = np.ascontiguousarray(Y, dtype=dtype)
        if not np.isfinite(Y).all():
            raise ValueError("y contains NaN or inf; remove those samples before training")
        return Y, empty
    if y.ndim == 2 and y.shape[1] == n_outputs and n_outputs > 1:
        Y = np.ascontiguousarray(y, dtype=dtype)
        if not np.isfinite(Y).all() or Y.min() < 0 or Y.max() > 1:
            raise ValueError("one-hot / probability targets must lie in [0, 1]")
        labels = np.argmax(Y, axis=1).astype(np.int64) if task == "multiclass" else empty
        return Y, labels
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be integer labels of shape ({n_samples},) or one-hot targets of shape "
                         f"({n_samples}, {n_outputs}); got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise ValueError("class labels must be whole numbers (got non-integer or NaN values); "
                             "for regression use output='linear' with loss='mse'")
    labels = y.astype(np.int64)
    n_classes = 2 if task == "binary" else n_outputs
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"labels must be in 0..{n_classes - 1} for a model with {n_outputs} outputs; "
                         f"got values from {labels.min()} to {labels.max()}")
    if task == "binary":
        return np.ascontiguousarray(labels.reshape(-1, 1), dtype=dtype), labels
    Y = np.zeros((n_samples, n_outputs), dtype=dtype)
    Y[np.arange(n_samples), labels] = 1
    return Y, labels


def check_positive(value, name, integer=False, allow_zero=False):
    ok_type = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, ok_type):
        kind = "an integer" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, got {value!r}")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {value!r}")
    return value
