"""Activation registry: one name -> one integer code shared by every backend.

Each activation keeps its forward and its derivative side by side (so they cannot
drift apart). Derivatives are written in terms of the activation's *output* a,
which is what the backward pass keeps:

    linear      a = z                      f'(z) = 1
    sigmoid     a = 1 / (1 + exp(-k z))    f'(z) = k a (1 - a)
    tanh        a = tanh(k z)              f'(z) = k (1 - a^2)
    relu        a = max(z, 0)              f'(z) = [a > 0]
    relu6       a = min(max(z, 0), 6)      f'(z) = [0 < a < 6]
    leaky_relu  a = z if z > 0 else alpha z     f'(z) = 1 if a > 0 else alpha   (alpha > 0)

"softmax" is only available as an output and is fused with the cross-entropy loss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .codes import ACT_LEAKY_RELU as LEAKY_RELU
from .codes import ACT_LINEAR as LINEAR
from .codes import ACT_RELU as RELU
from .codes import ACT_RELU6 as RELU6
from .codes import ACT_SIGMOID as SIGMOID
from .codes import ACT_TANH as TANH

CODES = {
    "linear": LINEAR,
    "identity": LINEAR,
    "sigmoid": SIGMOID,
    "logistic": SIGMOID,
    "tanh": TANH,
    "relu": RELU,
    "relu6": RELU6,
    "leaky_relu": LEAKY_RELU,
}
NAMES = {LINEAR: "linear", SIGMOID: "sigmoid", TANH: "tanh", RELU: "relu",
         RELU6: "relu6", LEAKY_RELU: "leaky_relu"}
HIDDEN_ACTIVATIONS = tuple(NAMES.values())
OUTPUTS = HIDDEN_ACTIVATIONS + ("softmax",)


@dataclass(frozen=True)
class Activation:
    """A resolved activation: its code plus the steepness k and the leak alpha."""

    name: str
    k: float = 1.0
    alpha: float = 0.01

    @property
    def code(self) -> int:
        return CODES[self.name]


def resolve(name, k: float = 1.0, alpha: float = 0.01, allow_softmax: bool = False) -> Activation:
    """Turn a user's activation name into an :class:`Activation`, with a clear error."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str):
        raise TypeError(f"activation must be a name such as 'sigmoid', got {type(name).__name__}")
    key = name.lower().replace("-", "_")
    if key == "softmax" and allow_softmax:
        return Activation("softmax", k, alpha)
    if key not in CODES:
        valid = OUTPUTS if allow_softmax else HIDDEN_ACTIVATIONS
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(valid)}")
    if not np.isfinite(k) or k <= 0:
        raise ValueError(f"steepness k must be a positive finite number, got {k!r}")
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"leaky_relu alpha must be a positive finite number, got {alpha!r}")
    return Activation(NAMES[CODES[key]], float(k), float(alpha))


def forward(z, code: int, k: float = 1.0, alpha: float = 0.01):
    """a = f(z) in plain NumPy (the reference used by the numpy backend and the tests)."""
    if code == LINEAR:
        return z.copy()
    if code == SIGMOID:
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-k * z))
    if code == TANH:
        return np.tanh(k * z)
    if code == RELU:
        return np.maximum(z, 0)
    if code == RELU6:
        return np.minimum(np.maximum(z, 0), 6)
    if code == LEAKY_RELU:
        return np.where(z > 0, z, alpha * z)
    raise ValueError(f"unknown activation code {code}")


def derivative(a, code: int, k: float = 1.0, alpha: float = 0.01):
    """f'(z) written from the output a = f(z) (plain NumPy reference)."""
    if code == LINEAR:
        return np.ones_like(a)
    if code == SIGMOID:
        return k * a * (1 - a)
    if code == TANH:
        return k * (1 - a * a)
    if code == RELU:
        return (a > 0).astype(a.dtype)
    if code == RELU6:
        return ((a > 0) & (a < 6)).astype(a.dtype)
    if code == LEAKY_RELU:
        return np.where(a > 0, 1, alpha).astype(a.dtype)
    raise ValueError(f"unknown activation code {code}")
