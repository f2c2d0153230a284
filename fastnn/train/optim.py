"""Optimisers, in order of increasing complexity: SGD, momentum, Adam.

Each is a small state object — its kind, its hyper-parameters (validated once, here), its
moments and the number of steps taken — that the model keeps between ``fit`` calls and the
engines receive. One update is ``opt.update(backend, params, grad, lr)``: the backend's fused
kernel over every parameter array, with L2 weight decay on the weights only. The compiled
whole-loop engines run the same update rules in C or Numba, reading ``kind``, ``hyper``, ``t``
and the moments from this object.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import codes


def _real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _in_unit_interval(value, name):
    value = _real(value, name)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


class Optimizer:
    """The shared base: weight decay, step count, moments sized to θ by ``bind``."""

    kind = codes.OPT_SGD
    name = "sgd"
    n_moments = 0

    def __init__(self, weight_decay=0.0):
        self.weight_decay = _real(weight_decay, "weight_decay")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be ≥ 0, got {weight_decay!r}")
        self.t = 0
        self.m1 = self.m2 = None

    @property
    def hyper(self) -> tuple:
        """(momentum, beta1, beta2, eps) as the compiled loops take them (unused ones neutral)."""
        return (0.0, 0.9, 0.999, 1e-8)

    def bind(self, size: int, dtype) -> "Optimizer":
        """Allocate the moments for a θ of ``size`` values (kept if they already fit)."""
        for attr, needed in (("m1", self.n_moments >= 1), ("m2", self.n_moments >= 2)):
            cur = getattr(self, attr)
            want = size if needed else 1  # the compiled loops take a (dummy) array either way
            if cur is None or cur.size != want or cur.dtype != np.dtype(dtype):
                setattr(self, attr, np.zeros(want, dtype=dtype))
                self.t = 0 if needed else self.t
        return self

    def continue_from(self, previous: "Optimizer | None") -> "Optimizer":
        """Take over the moments and step count of the optimiser of an earlier ``fit`` when it is
        of the same kind (hyper-parameters may change between fits); otherwise start fresh."""
        if previous is not None and previous.kind == self.kind:
            self.t, self.m1, self.m2 = previous.t, previous.m1, previous.m2
        return self

    def update(self, backend, params, grad, lr: float) -> None:
        """One in-place step θ := step(θ, grad) over every parameter array (t advances first)."""
        self.t += 1
        for seg in params.segments:
            sl = slice(seg.offset, seg.offset + seg.size)
            self._update(backend, params.theta[sl], grad[sl], sl, lr, self.weight_decay if seg.is_weight else 0.0)

    def _update(self, be, P, G, sl, lr, wd):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(weight_decay={self.weight_decay:g}, t={self.t})"


class SGD(Optimizer):
    """θ := θ − lr·(g + wd·θ)"""

    kind, name = codes.OPT_SGD, "sgd"

    def _update(self, be, P, G, sl, lr, wd):
        be.sgd_update(P, G, lr, wd)


class Momentum(Optimizer):
    """Classic (heavy-ball) momentum: v := μ·v − lr·(g + wd·θ); θ := θ + v.

    The learning rate sits inside the velocity; for a constant lr this is the same trajectory
    as PyTorch's ``SGD(momentum=μ)`` (v := μ·v + g; θ := θ − lr·v)."""

    kind, name, n_moments = codes.OPT_MOMENTUM, "momentum", 1

    def __init__(self, momentum=0.9, weight_decay=0.0):
        super().__init__(weight_decay)
        self.momentum = _in_unit_interval(momentum, "momentum")

    @property
    def hyper(self):
        return (self.momentum, 0.9, 0.999, 1e-8)

    def _update(self, be, P, G, sl, lr, wd):
        be.momentum_update(P, G, self.m1[sl], lr, self.momentum, wd)


class Adam(Optimizer):
    """m := β1·m + (1−β1)·g; v := β2·v + (1−β2)·g²; θ := θ − lr·m̂/(√v̂ + eps) with the bias
    corrections m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ) and g = grad + wd·θ (L2, not AdamW)."""

    kind, name, n_moments = codes.OPT_ADAM, "adam", 2

    def __init__(self, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(weight_decay)
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), each in [0, 1), got {betas!r}")
        self.betas = (_in_unit_interval(betas[0], "betas[0] (beta1)"), _in_unit_interval(betas[1], "betas[1] (beta2)"))
        self.eps = _real(eps, "eps")
        if self.eps <= 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")

    @property
    def hyper(self):
        return (0.0, self.betas[0], self.betas[1], self.eps)

    def _update(self, be, P, G, sl, lr, wd):
        be.adam_update(P, G, self.m1[sl], self.m2[sl], lr, self.betas[0], self.betas[1], self.eps, self.t, wd)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name, *, momentum=0.9, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0) -> Optimizer:
    """The optimiser called ``name`` with its hyper-parameters (the others are ignored)."""
    if isinstance(name, Optimizer):
        return name
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if name == "sgd":
        return SGD(weight_decay=weight_decay)
    if name == "momentum":
        return Momentum(momentum=momentum, weight_decay=weight_decay)
    return Adam(betas=betas, eps=eps, weight_decay=weight_decay)
