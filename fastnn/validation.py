"""Input checks done once, at the API boundary, with messages that say what to do."""
from __future__ import annotations

import numbers
import os

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
    X = _to_float(X, dtype, name)
    if finite and not all_finite(X):
        raise nonfinite_error(X, name)
    return X


def _to_float(A, dtype, name):
    """np.ascontiguousarray(A, dtype), refusing finite values the cast would turn into ±inf
    (float64 data beyond float32's range), which would otherwise be reported as NaN/inf."""
    with np.errstate(over="raise"):
        try:
            return np.ascontiguousarray(A, dtype=dtype)
        except FloatingPointError:
            pass
    info = np.finfo(dtype)
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(A) & (np.abs(A) > info.max)
    where = np.argwhere(bad)[0]
    at = f" (first at row {where[0]}, column {where[1]}: {A[tuple(where)]:g})" if where.size == 2 else \
        f" (first at index {tuple(int(i) for i in where)}: {A[tuple(where)]:g})"
    raise ValueError(f"{name} holds finite values out of {np.dtype(dtype).name} range (|x| > {info.max:.3g})"
                     f"{at}; scale the data, or use a float64 model (dtype=np.float64)")


def check_targets(y, n_samples, n_outputs, task, dtype=np.float32, name="y"):
    """Targets as (Y matrix of n_outputs columns, integer labels or an empty array).

    ``task`` is "multiclass" (softmax / one-hot), "binary" (one sigmoid unit: labels 0/1),
    "multilabel-or-classes" (several sigmoid units: labels or 0/1 matrix) or "regression".
    ``name`` is how messages call y (e.g. "validation y").
    """
    if y is None:
        raise TypeError(f"{name} is required: integer class labels of shape (n_samples,) or targets "
                        "of shape (n_samples, n_outputs)")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (got dtype {y.dtype}); encode string labels first, "
                        "e.g. with sklearn.preprocessing.LabelEncoder")
    if y.ndim == 0:
        raise ValueError(f"{name} must be an array with one label or target per sample ({n_samples}), "
                         f"got the scalar {y.item()!r}")
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but {name} has {y.shape[0]}; they must match")
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
            raise ValueError(f"{name} has {Y.shape[1]} target columns but the model has {n_outputs} outputs")
        Y = _to_float(Y, dtype, name)
        if not np.isfinite(Y).all():
            raise ValueError(f"{name} contains NaN or inf; remove those samples (or impute the targets)")
        return Y, empty
    if y.ndim == 2 and y.shape[1] == n_outputs and n_outputs > 1:
        Y = np.ascontiguousarray(y, dtype=dtype)
        if not np.isfinite(Y).all() or Y.min() < 0 or Y.max() > 1:
            raise ValueError(f"{name}: one-hot / probability targets must lie in [0, 1]")
        labels = np.argmax(Y, axis=1).astype(np.int64) if task == "multiclass" else empty
        return Y, labels
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be integer labels of shape ({n_samples},) or one-hot targets of shape "
                         f"({n_samples}, {n_outputs}); got shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise ValueError(f"{name}: class labels must be whole numbers (got non-integer or NaN values); "
                             "for regression use output='linear' with loss='mse'")
    labels = y.astype(np.int64)
    n_classes = 2 if task == "binary" else n_outputs
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"{name}: labels must be in 0..{n_classes - 1} for a model with {n_outputs} outputs; "
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


def check_number(value, name, low=None, high=None, integer=False, low_open=False, high_open=False):
    """A real (or integer) number, finite, within [low, high] (ends open on request); a
    TypeError for non-numbers (strings, None, bools), a ValueError naming ``name`` otherwise."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "(-inf, " if low is None else f"{'(' if low_open else '['}{low}, "
        hi = "inf)" if high is None else f"{high}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {lo}{hi}, got {value!r}")
    return value


def check_bool(value, name) -> bool:
    """True/False (also NumPy bools and the integers 0/1); strings such as "no" are refused,
    since ``bool("no")`` is True."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral) and value in (0, 1):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def check_seed(seed, name="seed"):
    """None, a non-negative integer, or a NumPy Generator / SeedSequence / BitGenerator."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence, np.random.BitGenerator)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, a non-negative integer or a numpy Generator, got {seed!r}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer (or None), got {seed!r}")
    return int(seed)


def check_dtype(dtype, name="dtype") -> np.dtype:
    """np.float32 or np.float64 (given as a type, a dtype or a name); None is refused rather
    than silently meaning float64."""
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{name} must be float32 or float64 (np.float32, np.float64 or their names), "
                        f"got {dtype!r}")
    return dt


def check_layer_dims(layer_dims, name="layer_dims") -> list:
    """A list of at least two positive integers (inputs, …, outputs)."""
    try:
        dims = None if isinstance(layer_dims, (str, bytes, dict)) else list(layer_dims)
    except TypeError:
        dims = None
    if dims is None or len(dims) < 2 or not all(isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_))
                                                 and d > 0 for d in dims):
        raise ValueError(f"{name} must be a list of at least two positive integers "
                         f"(inputs, ..., outputs), got {layer_dims!r}")
    return [int(d) for d in dims]


def check_arrays(arrays, shapes, name, dtype) -> list:
    """Arrays for a list of parameters, e.g. the ``weights`` of set_params: one per entry of
    ``shapes`` (a shape, or None where the model has no such parameter and only None is
    accepted), each real, of that shape (1-D entries may come as any shape of that size) and
    finite within ``dtype``'s range. Returns them converted to ``dtype``."""
    if arrays is None or isinstance(arrays, (str, bytes)) or not hasattr(arrays, "__len__"):
        raise TypeError(f"{name} must be a list of arrays, one per layer, got {type(arrays).__name__}")
    if len(arrays) != len(shapes):
        raise ValueError(f"{name} has {len(arrays)} entries but the model has {len(shapes)} layers")
    out = []
    for l, (A, shape) in enumerate(zip(arrays, shapes)):
        label = f"{name}[{l}]"
        if shape is None:
            if A is not None:
                raise ValueError(f"{label}: layer {l} has no bias (the model was built with bias=False); "
                                 f"pass None for it, or biases=None")
            out.append(None)
            continue
        if A is None:
            raise TypeError(f"{label} (layer {l}) is None; expected an array of shape {shape}")
        A = np.asarray(A)
        if A.dtype.kind not in "biuf":
            raise TypeError(f"{label} (layer {l}) must hold real numbers, got dtype {A.dtype}")
        if len(shape) == 1 and A.size == shape[0]:
            A = A.reshape(shape)
        if A.shape != tuple(shape):
            raise ValueError(f"{label} (layer {l}) has shape {A.shape}, expected {tuple(shape)}")
        A = _to_float(A, dtype, label)
        if not np.isfinite(A).all():
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(A))[0])
            raise ValueError(f"{label} (layer {l}) contains NaN or inf (first at index {where}); "
                             "parameters must be finite")
        out.append(A)
    return out


def check_hyper(k, alpha, output_k=None):
    """Types of the activation settings: k (a number or one per hidden layer), alpha and
    output_k numbers (their ranges are checked where the activations are resolved, except
    output_k's, checked here so that its error names it)."""
    for kk in (k if isinstance(k, (list, tuple)) else [k]):
        check_number(kk, "k (steepness)")
    check_number(alpha, "alpha (leaky_relu slope)")
    if output_k is not None:
        check_number(output_k, "output_k", low=0, low_open=True)


def check_choice(value, name, choices):
    """One of ``choices`` (strings), by name."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_path(value, name, allow_none=False):
    """A str / os.PathLike naming a file or folder (None too if allowed), as a str."""
    if value is None and allow_none:
        return None
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike){' or None' if allow_none else ''}, "
                        f"got {type(value).__name__}: {value!r}")
    return os.fspath(value)
