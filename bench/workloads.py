"""Shared data, initial weights and settings for the benchmark workloads W1–W6.

Every implementation (plain NumPy, PyTorch, JAX, fastnn) starts from the arrays these
builders return, so that their results can be compared number for number.

Each ``make_wK`` returns a dict whose keys are exactly the arguments of the matching
``wK_*`` function of every implementation module::

    data = make_w3()
    loss, weights, biases = numpy_impl.w3_train(**data)

Conventions (shared by all implementations):

- Weights are ``(fan_in, fan_out)`` arrays (``Z = X·W + b``), biases ``(fan_out,)``.
- Data: X uniform in [0, 1], integer labels ``y`` in 0..9 (int64) and their one-hot
  ``Y`` in the data dtype; moons from ``make_moons(200, noise=0.2, random_state=0)``.
- MSE (W1) is ``Σ (A − T)²`` and its gradient carries the factor 2 (as fastnn's
  ``mse`` kernel does): output delta ``2(A − T)·A(1 − A)``.
- Training functions never modify their inputs; they return a :class:`Trained`.
"""
from __future__ import annotations

import functools
import os
from typing import NamedTuple

import numpy as np

SEED = 0
THREADS = os.cpu_count() or 1          # "all cores of the machine" (2 on the bench boxes)

# W1: the lecture-3 network, one full-batch step, lr·Σ (reduction="sum").
W1_LAYERS = (784, 256, 128, 10)
W1_N = 60_000
W1_LR = 1e-5
W1_INIT = "uniform"                    # U[-1, 1], the course's default

# W2: one epoch of mini-batch SGD, softmax + cross-entropy, mean reduction.
W2_LAYERS = (784, 300, 10)
W2_N = 60_000
W2_BATCH = 64
W2_LR = 0.1
W2_INIT = "lecun"                      # N(0, 1)·√(1/fan_in), biases 0

# W3: tiny tanh net on moons, full batch, mean reduction.
W3_LAYERS = (2, 3, 2)
W3_N = 200
W3_STEPS = 20_000
W3_LR = 0.5
W3_INIT = "lecun"

# W4: per-sample SGD (batch 1), one pass.
W4_LAYERS = (784, 300, 10)
W4_N = 10_000
W4_LR = 0.01
W4_INIT = "lecun"

# W5: inference of a 784-256-128-10 classifier (sigmoid hidden, softmax out).
W5_LAYERS = (784, 256, 128, 10)
W5_N = 10_000
W5_BIAS = True
W5_INIT = "lecun"

# W6: the D2 × D1 sweep on moons: 2-w-2 nets, widths × activations, run serially.
W6_WIDTHS = (1, 2, 3, 4, 5, 6)
W6_ACTIVATIONS = ("tanh", "sigmoid", "relu")
W6_STEPS = 20_000
W6_LR = 0.5
W6_INIT = "lecun"


# W1r / W2r: W1 and W2 on real images, which are mostly exact zeros (fastnn.datasets): "mnist" is
# the 5,000 digits of mnist-5k tiled to N rows (81 % zeros), "fashion" the Fashion-MNIST training
# images (50 % zeros).
REAL_SETS = ("mnist", "fashion")


class Trained(NamedTuple):
    """What a training function returns: a loss and the final parameters (NumPy)."""

    loss: float
    weights: list
    biases: list | None


# ---------------------------------------------------------------- data and weights

def mnist_like(n, n_features=784, n_classes=10, dtype=np.float32, seed=SEED):
    """Synthetic MNIST-shaped data: X ~ U[0, 1] of shape (n, n_features), y in 0..n_classes-1."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features), dtype=np.float64).astype(dtype)
    y = rng.integers(0, n_classes, size=n, dtype=np.int64)
    return X, y


def real_images(which, n, dtype=np.float32):
    """(X, y): n real 28×28 images in [0, 1] (float ``dtype``) and their labels, see REAL_SETS."""
    from fastnn.datasets import load

    if which == "mnist":
        X, y = load("mnist-5k", "all", dtype=dtype)
        reps = -(-n // len(X))
        X, y = np.tile(X, (reps, 1)), np.tile(y, reps)
    elif which == "fashion":
        X, y = load("fashion-mnist", "train", dtype=dtype)
        if n > len(X):
            raise ValueError(f"Fashion-MNIST has {len(X)} training images, not {n}")
    else:
        raise ValueError(f"unknown image set {which!r}; choose one of {', '.join(REAL_SETS)}")
    return np.ascontiguousarray(X[:n]), y[:n].astype(np.int64)


def zero_fraction(X):
    """Fraction of exact zeros in X."""
    return 1.0 - np.count_nonzero(X) / X.size


def moons(n=200, dtype=np.float32):
    """The toy moons of section D: make_moons(n, noise=0.2, random_state=0)."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n, noise=0.2, random_state=0)
    return np.ascontiguousarray(X, dtype=dtype), y.astype(np.int64)


def one_hot(y, n_classes, dtype=np.float32):
    """Y[i, y[i]] = 1, zeros elsewhere."""
    Y = np.zeros((len(y), n_classes), dtype=dtype)
    Y[np.arange(len(y)), y] = 1
    return Y


def init_weights(layers, init="lecun", bias=True, dtype=np.float32, seed=SEED):
    """Seeded weights (fan_in, fan_out) per layer and zero biases (or None when bias=False).

    init: "uniform" = U[-1, 1]; "lecun" = N(0, 1)·√(1/fan_in); "he" = N(0, 1)·√(2/fan_in).
    """
    rng = np.random.default_rng(seed)
    weights = []
    for fan_in, fan_out in zip(layers[:-1], layers[1:]):
        if init == "uniform":
            W = rng.uniform(-1.0, 1.0, size=(fan_in, fan_out))
        elif init == "lecun":
            W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(1.0 / fan_in)
        elif init == "he":
            W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        else:
            raise ValueError(f"unknown init {init!r}; choose uniform, lecun or he")
        weights.append(W.astype(dtype))
    biases = [np.zeros(n, dtype=dtype) for n in layers[1:]] if bias else None
    return weights, biases


def shuffle_order(n, seed=SEED):
    """The sample order of one shuffled epoch (int64), the same for every implementation."""
    return np.random.default_rng(seed + 1).permutation(n).astype(np.int64)


def batches(order, batch_size):
    """Split an epoch's order into index arrays of batch_size (the last may be shorter)."""
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


# ---------------------------------------------------------------- the workloads

def make_w1(dtype=np.float32, n=W1_N, seed=SEED):
    """W1: X (n, 784), one-hot targets Y, no-bias U[-1,1] weights of 784-256-128-10, lr."""
    X, y = mnist_like(n, W1_LAYERS[0], W1_LAYERS[-1], dtype, seed)
    weights, _ = init_weights(W1_LAYERS, W1_INIT, bias=False, dtype=dtype, seed=seed)
    return dict(X=X, Y=one_hot(y, W1_LAYERS[-1], dtype), weights=weights, lr=W1_LR)


def make_w2(dtype=np.float32, n=W2_N, seed=SEED):
    """W2: X (n, 784), y, Y, 784-300-10 weights with biases, one epoch's order, lr, batch."""
    X, y = mnist_like(n, W2_LAYERS[0], W2_LAYERS[-1], dtype, seed)
    weights, biases = init_weights(W2_LAYERS, W2_INIT, dtype=dtype, seed=seed)
    return dict(X=X, y=y, Y=one_hot(y, W2_LAYERS[-1], dtype), weights=weights,
                biases=biases, order=shuffle_order(n, seed), lr=W2_LR, batch_size=W2_BATCH)


def make_w3(dtype=np.float32, steps=W3_STEPS, seed=SEED):
    """W3: moons (200, 2), y, Y, 2-3-2 weights with biases, tanh, lr, steps."""
    X, y = moons(W3_N, dtype)
    weights, biases = init_weights(W3_LAYERS, W3_INIT, dtype=dtype, seed=seed)
    return dict(X=X, y=y, Y=one_hot(y, 2, dtype), weights=weights, biases=biases,
                activation="tanh", lr=W3_LR, steps=steps)


def make_w4(dtype=np.float32, n=W4_N, seed=SEED):
    """W4: X (n, 784), y, Y, 784-300-10 weights with biases, the sample order, lr."""
    X, y = mnist_like(n, W4_LAYERS[0], W4_LAYERS[-1], dtype, seed)
    weights, biases = init_weights(W4_LAYERS, W4_INIT, dtype=dtype, seed=seed)
    return dict(X=X, y=y, Y=one_hot(y, W4_LAYERS[-1], dtype), weights=weights,
                biases=biases, order=shuffle_order(n, seed), lr=W4_LR)


def make_w5(dtype=np.float32, n=W5_N, bias=W5_BIAS, seed=SEED):
    """W5: X (n, 784) and the weights (and small random biases) of 784-256-128-10."""
    X, _ = mnist_like(n, W5_LAYERS[0], W5_LAYERS[-1], dtype, seed)
    weights, biases = init_weights(W5_LAYERS, W5_INIT, bias=bias, dtype=dtype, seed=seed)
    if biases is not None:
        rng = np.random.default_rng(seed + 2)
        biases = [(0.1 * rng.standard_normal(b.shape)).astype(dtype) for b in biases]
    return dict(X=X, weights=weights, biases=biases)


def make_w6(dtype=np.float32, steps=W6_STEPS, seed=SEED,
            widths=W6_WIDTHS, activations=W6_ACTIVATIONS):
    """W6: moons plus one config (activation, weights, biases) per width × activation.

    All activations of one width start from the same weights (a fair D1 comparison).
    """
    X, y = moons(W3_N, dtype)
    configs = []
    for width in widths:
        weights, biases = init_weights((2, width, 2), W6_INIT, dtype=dtype, seed=seed + width)
        for activation in activations:
            configs.append(dict(activation=activation, weights=weights, biases=biases))
    return dict(X=X, y=y, Y=one_hot(y, 2, dtype), configs=configs, lr=W6_LR, steps=steps)


def make_w1r(which="mnist", dtype=np.float32, n=W1_N, seed=SEED):
    """W1r: W1 (784-256-128-10, MSE, no bias, lr·Σ) on n real images of ``which`` (REAL_SETS)."""
    X, y = real_images(which, n, dtype)
    weights, _ = init_weights(W1_LAYERS, W1_INIT, bias=False, dtype=dtype, seed=seed)
    return dict(X=X, Y=one_hot(y, W1_LAYERS[-1], dtype), weights=weights, lr=W1_LR)


def make_w2r(which="mnist", dtype=np.float32, n=W2_N, seed=SEED):
    """W2r: W2 (784-300-10, batch 64, softmax-CE, one epoch) on n real images of ``which``."""
    X, y = real_images(which, n, dtype)
    weights, biases = init_weights(W2_LAYERS, W2_INIT, dtype=dtype, seed=seed)
    return dict(X=X, y=y, Y=one_hot(y, W2_LAYERS[-1], dtype), weights=weights,
                biases=biases, order=shuffle_order(n, seed), lr=W2_LR, batch_size=W2_BATCH)


MAKERS = {"w1": make_w1, "w2": make_w2, "w3": make_w3, "w4": make_w4, "w5": make_w5,
          "w6": make_w6}
_DEFAULT_SIZE = {"w1": ("n", W1_N), "w2": ("n", W2_N), "w3": ("steps", W3_STEPS),
                 "w4": ("n", W4_N), "w5": ("n", W5_N), "w6": ("steps", W6_STEPS),
                 "w8": ("n", 60_000), "w9": ("n", 10_000)}  # the CNN workloads: bench/cnn_workloads.py
for _which in REAL_SETS:
    MAKERS[f"w1r-{_which}"] = functools.partial(make_w1r, _which)
    MAKERS[f"w2r-{_which}"] = functools.partial(make_w2r, _which)
    _DEFAULT_SIZE[f"w1r-{_which}"] = ("n", W1_N)
    _DEFAULT_SIZE[f"w2r-{_which}"] = ("n", W2_N)


def make(name, dtype=np.float32, scale=1.0, seed=SEED):
    """Build workload ``name`` ("w1".."w6", "w1r-mnist", "w2r-fashion", ...) with its size (N or steps) multiplied by scale.

    ``make("w2", scale=0.01)`` is a smoke-sized W2 (600 samples).
    """
    key, full = _DEFAULT_SIZE[name]
    size = max(1, int(round(full * scale)))
    if name in ("w8", "w9"):
        from . import cnn_workloads

        return getattr(cnn_workloads, f"make_{name}")(dtype=dtype, seed=seed, **{key: size})
    return MAKERS[name](dtype=dtype, seed=seed, **{key: size})
