"""Parameters: one flat vector θ owning every weight and bias, with named per-layer views.

Engines, optimisers, statistics and save/load all work on ``theta`` (and on gradients and
optimiser moments of the same layout, through ``view``); the model reads its layers through
``params["W0"]``-style views, so there is one copy of every parameter.
"""
from __future__ import annotations

from math import prod
from typing import NamedTuple

import numpy as np


class Segment(NamedTuple):
    """One parameter array inside θ."""

    name: str
    offset: int
    size: int
    shape: tuple
    is_weight: bool  # weight decay (L2) applies to weights only, never to biases


class Parameters:
    """Flat storage for the parameter arrays described by ``specs``: (name, shape, is_weight)."""

    def __init__(self, specs, dtype):
        self.dtype = np.dtype(dtype)
        self.segments = []
        self._by_name = {}
        offset = 0
        for name, shape, is_weight in specs:
            shape = tuple(int(s) for s in shape)
            seg = Segment(name, offset, prod(shape), shape, bool(is_weight))
            if name in self._by_name:
                raise ValueError(f"parameter {name!r} is declared twice")
            self.segments.append(seg)
            self._by_name[name] = seg
            offset += seg.size
        self.size = offset
        self.theta = np.zeros(offset, dtype=self.dtype)

    def __contains__(self, name):
        return name in self._by_name

    def __getitem__(self, name):
        """The parameter ``name`` as a writable view of θ with its shape."""
        return self.view(self.theta, name)

    def segment(self, name) -> Segment:
        return self._by_name[name]

    def offset(self, name) -> int:
        """Offset of ``name`` in θ, or −1 when the model has no such parameter (e.g. no bias)."""
        seg = self._by_name.get(name)
        return -1 if seg is None else seg.offset

    def view(self, flat, name):
        """The slice of ``flat`` (θ's layout: a gradient, a moment …) that holds ``name``, shaped."""
        seg = self._by_name[name]
        return flat[seg.offset:seg.offset + seg.size].reshape(seg.shape)

    def get(self, flat, name):
        """Like ``view``, but None when the parameter does not exist (a layer without bias)."""
        return self.view(flat, name) if name in self._by_name else None

    def all_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.theta)))

    def copy(self) -> "Parameters":
        new = Parameters.__new__(Parameters)
        new.__dict__.update(self.__dict__)
        new.theta = self.theta.copy()
        return new

    def __repr__(self):
        return f"Parameters({len(self.segments)} arrays, {self.size} values, {self.dtype.name})"
