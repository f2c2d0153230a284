"""Plain-NumPy baselines for W1–W6, written the way the course notebooks wrote them.

Expressions with temporaries, ``1/(1+np.exp(-x))``, ``a*(1-a)``, ``X.T @ delta`` and
``W -= lr*dW``: this is the code fastnn has to beat, so it is deliberately *not*
optimised. The ``gemm_floor_*`` functions are the opposite: only the matrix products a
step needs, into preallocated arrays — the practical limit for dense training.

Call pattern: ``w1_step(**workloads.make_w1())``; inputs are never modified.
"""
from __future__ import annotations

import numpy as np

from .workloads import Trained

NAME = "numpy"
AVAILABLE = True


def available():
    """NumPy is always there."""
    return True


def prepare(data):
    """Native arrays for this implementation: NumPy's are already native."""
    return data


# ---------------------------------------------------------------- building blocks

def sigmoid(x):
    """σ(x) = 1 / (1 + e^−x)"""
    return 1 / (1 + np.exp(-x))


def softmax(z):
    """Row-wise softmax, shifted by the row maximum."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def relu(x):
    """max(x, 0)"""
    return np.maximum(x, 0)


# activation name -> (f(z), f'(z) written from a = f(z))
ACTIVATIONS = {
    "sigmoid": (sigmoid, lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a ** 2),
    "relu": (relu, lambda a: a > 0),
}


def cross_entropy(p, y):
    """Mean of −log p[i, y[i]]."""
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def _copy(arrays):
    return None if arrays is None else [a.copy() for a in arrays]


# ---------------------------------------------------------------- W1

def w1_step(X, Y, weights, lr):
    """W1: one full-batch step, 784-256-128-10, sigmoid everywhere, MSE, no bias, lr·Σ.

    Returns the loss Σ(L3 − T)²/N of the forward pass and the updated weights.
    """
    W1, W2, W3 = _copy(weights)
    with np.errstate(over="ignore"):
        L1 = sigmoid(X @ W1)
        L2 = sigmoid(L1 @ W2)
        L3 = sigmoid(L2 @ W3)
    loss = np.sum((L3 - Y) ** 2) / len(X)
    d3 = 2 * (L3 - Y) * L3 * (1 - L3)
    d2 = (d3 @ W3.T) * L2 * (1 - L2)
    d1 = (d2 @ W2.T) * L1 * (1 - L1)
    W3 -= lr * (L2.T @ d3)
    W2 -= lr * (L1.T @ d2)
    W1 -= lr * (X.T @ d1)
    return Trained(float(loss), [W1, W2, W3], None)


def gemm_floor_w1_buffers(X, weights):
    """Preallocated (and touched) output arrays for :func:`gemm_floor_w1`."""
    n = len(X)
    shapes = dict(Z1=(n, weights[0].shape[1]), Z2=(n, weights[1].shape[1]),
                  Z3=(n, weights[2].shape[1]), D2=(n, weights[1].shape[1]),
                  D1=(n, weights[0].shape[1]))
    bufs = {k: np.ones(s, dtype=X.dtype) for k, s in shapes.items()}
    bufs.update({f"G{i + 1}": np.ones_like(W) for i, W in enumerate(weights)})
    return bufs


def gemm_floor_w1(X, weights, out=None):
    """Exactly the 8 matrix products of a W1 step: 3 forward, 2 delta, 3 weight-gradient."""
    W1, W2, W3 = weights
    b = gemm_floor_w1_buffers(X, weights) if out is None else out
    np.matmul(X, W1, out=b["Z1"])
    np.matmul(b["Z1"], W2, out=b["Z2"])
    np.matmul(b["Z2"], W3, out=b["Z3"])
    np.matmul(b["Z3"], W3.T, out=b["D2"])          # d3 @ W3ᵀ (Z3 stands in for d3)
    np.matmul(b["D2"], W2.T, out=b["D1"])          # d2 @ W2ᵀ
    np.matmul(b["Z2"].T, b["Z3"], out=b["G3"])     # L2ᵀ @ d3
    np.matmul(b["Z1"].T, b["D2"], out=b["G2"])     # L1ᵀ @ d2
    np.matmul(X.T, b["D1"], out=b["G1"])           # Xᵀ @ d1
    return b


# ---------------------------------------------------------------- W2 and W4

def w2_epoch(X, y, Y, weights, biases, order, lr, batch_size):
    """W2: one epoch of mini-batch SGD, 784-300-10, sigmoid + softmax-CE, mean reduction.

    Returns the mean per-sample loss met during the epoch and the final parameters.
    """
    W1, W2 = _copy(weights)
    b1, b2 = _copy(biases)
    total = 0.0
    with np.errstate(over="ignore"):
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = X[idx], Y[idx]
            m = len(idx)
            a1 = sigmoid(xb @ W1 + b1)
            p = softmax(a1 @ W2 + b2)
            total += cross_entropy(p, y[idx]) * m
            d2 = (p - yb) / m                       # softmax + CE: delta = P − Y
            d1 = (d2 @ W2.T) * a1 * (1 - a1)
            W2 -= lr * (a1.T @ d2)
            b2 -= lr * d2.sum(axis=0)
            W1 -= lr * (xb.T @ d1)
            b1 -= lr * d1.sum(axis=0)
    return Trained(total / len(order), [W1, W2], [b1, b2])


def w4_epoch(X, y, Y, weights, biases, order, lr):
    """W4: per-sample SGD (batch 1) over ``order``, 784-300-10, sigmoid + softmax-CE."""
    W1, W2 = _copy(weights)
    b1, b2 = _copy(biases)
    total = 0.0
    with np.errstate(over="ignore"):
        for i in order:
            x, t = X[i:i + 1], Y[i:i + 1]
            a1 = sigmoid(x @ W1 + b1)
            p = softmax(a1 @ W2 + b2)
            total += float(-np.log(p[0, y[i]]))
            d2 = p - t                              # softmax + CE: delta = P − Y
            d1 = (d2 @ W2.T) * a1 * (1 - a1)
            W2 -= lr * (a1.T @ d2)
            b2 -= lr * d2[0]
            W1 -= lr * (x.T @ d1)
            b1 -= lr * d1[0]
    return Trained(total / len(order), [W1, W2], [b1, b2])


# ---------------------------------------------------------------- W3 and W6

def train_full_batch(X, y, Y, weights, biases, activation, lr, steps):
    """Full-batch gradient descent of an n-h-k net (f hidden, softmax-CE, mean reduction).

    Returns the final mean cross-entropy and parameters.
    """
    f, df = ACTIVATIONS[activation]
    W1, W2 = _copy(weights)
    b1, b2 = _copy(biases)
    n = len(X)
    with np.errstate(over="ignore"):
        for _ in range(steps):
            a1 = f(X @ W1 + b1)
            p = softmax(a1 @ W2 + b2)
            d2 = (p - Y) / n                        # softmax + CE: delta = P − Y
            d1 = (d2 @ W2.T) * df(a1)
            W2 -= lr * (a1.T @ d2)
            b2 -= lr * d2.sum(axis=0)
            W1 -= lr * (X.T @ d1)
            b1 -= lr * d1.sum(axis=0)
        p = softmax(f(X @ W1 + b1) @ W2 + b2)
    return Trained(cross_entropy(p, y), [W1, W2], [b1, b2])


def w3_train(X, y, Y, weights, biases, activation, lr, steps):
    """W3: 2-3-2 tanh net on moons, ``steps`` full-batch steps."""
    return train_full_batch(X, y, Y, weights, biases, activation, lr, steps)


def w6_sweep(X, y, Y, configs, lr, steps):
    """W6: every (activation, width) config of the D2 × D1 grid, one after the other."""
    return [train_full_batch(X, y, Y, c["weights"], c["biases"], c["activation"], lr, steps)
            for c in configs]


# ---------------------------------------------------------------- W5

def w5_forward(X, weights, biases):
    """W5: class probabilities of a sigmoid-hidden, softmax-output MLP."""
    if biases is None:
        biases = [0] * len(weights)
    a = X
    with np.errstate(over="ignore"):
        for W, b in zip(weights[:-1], biases[:-1]):
            a = sigmoid(a @ W + b)
    return softmax(a @ weights[-1] + biases[-1])


def gemm_floor_w5_buffers(X, weights):
    """Preallocated (and touched) output arrays for :func:`gemm_floor_w5`."""
    return [np.ones((len(X), W.shape[1]), dtype=X.dtype) for W in weights]


def gemm_floor_w5(X, weights, out=None):
    """Exactly the 3 forward matrix products of W5."""
    out = gemm_floor_w5_buffers(X, weights) if out is None else out
    a = X
    for W, z in zip(weights, out):
        a = np.matmul(a, W, out=z)
    return out
