"""Parameters and optimiser objects with the interface of the seam (coord SEAM.md), for the
Sequential model until fastnn.models.parameters / fastnn.train.optim land on main.
Temporary: replaced by imports of the real ones when they do."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

Segment = namedtuple("Segment", "name offset size shape is_weight")
OPTIMIZERS = ("sgd", "momentum", "adam")


class Parameters:
    """The flat θ and its named views: Parameters([(name, shape, is_weight), …], dtype)."""

    def __init__(self, specs, dtype):
        self.dtype = np.dtype(dtype)
        self.segments = []
        off = 0
        for name, shape, is_weight in specs:
            size = int(np.prod(shape))
            self.segments.append(Segment(name, off, size, tuple(shape), bool(is_weight)))
            off += size
        self.size = off
        self.theta = np.zeros(off, dtype=self.dtype)
        self._by_name = {s.name: s for s in self.segments}

    def view(self, flat, name):
        s = self._by_name[name]
        return flat[s.offset:s.offset + s.size].reshape(s.shape)

    def __getitem__(self, name):
        return self.view(self.theta, name)

    def copy(self):
        new = Parameters([(s.name, s.shape, s.is_weight) for s in self.segments], self.dtype)
        new.theta[...] = self.theta
        return new


class Optimizer:
    """sgd | momentum | adam over the segments of a Parameters (L2 on weights only)."""

    def __init__(self, name, momentum=0.9, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
        self.name = name
        self.momentum, self.betas, self.eps, self.weight_decay = float(momentum), tuple(betas), float(eps), \
            float(weight_decay)
        self.t = 0
        self.m1 = self.m2 = None

    def bind(self, n_params, dtype):
        if self.m1 is None or self.m1.size != n_params or self.m1.dtype != dtype:
            self.m1 = np.zeros(n_params, dtype) if self.name != "sgd" else None
            self.m2 = np.zeros(n_params, dtype) if self.name == "adam" else None
            self.t = 0
        return self

    def update(self, backend, params, grad, lr):
        self.t += 1
        b1, b2 = self.betas
        segments = params.segments
        if self.weight_decay == 0.0:  # every segment alike: one pass over θ
            segments = [Segment("all", 0, params.size, (params.size,), False)]
        for s in segments:
            sl = slice(s.offset, s.offset + s.size)
            wd = self.weight_decay if s.is_weight else 0.0
            P, G = params.theta[sl], grad[sl]
            if self.name == "sgd":
                backend.sgd_update(P, G, lr, wd)
            elif self.name == "momentum":
                backend.momentum_update(P, G, self.m1[sl], lr, self.momentum, wd)
            else:
                backend.adam_update(P, G, self.m1[sl], self.m2[sl], lr, b1, b2, self.eps, self.t, wd)


def make_optimizer(name, **hyper):
    return Optimizer(name, **hyper)
