"""DenseNet: what an engine needs to know to run a fully connected network.

The layer sizes, each layer's activation (the output layer's already made linear when the
loss applies softmax/σ itself), the loss, and the layout table that locates every layer's
W and b inside θ. Built by the model from its user-facing options; engines only read it.
"""
from __future__ import annotations

import numpy as np

from .. import codes


class DenseNet:
    def __init__(self, layer_dims, activations, loss_code: int, bias: bool, dtype):
        self.layer_dims = tuple(int(d) for d in layer_dims)
        self.activations = tuple(activations)  # fastnn.activations.Activation per layer
        self.loss_code = int(loss_code)
        self.bias = bool(bias)
        self.dtype = np.dtype(dtype)
        self.n_layers = len(self.layer_dims) - 1
        self.acts = np.array([a.code for a in self.activations], dtype=np.int64)
        self.ks = np.array([a.k for a in self.activations], dtype=np.float64)
        self.alphas = np.array([a.alpha for a in self.activations], dtype=np.float64)

    def param_specs(self):
        """(name, shape, is_weight) of every parameter array, layer by layer: W0, b0, W1, …"""
        specs = []
        for l, (fi, fo) in enumerate(zip(self.layer_dims[:-1], self.layer_dims[1:])):
            specs.append((f"W{l}", (fi, fo), True))
            if self.bias:
                specs.append((f"b{l}", (fo,), False))
        return specs

    def layout(self, params) -> np.ndarray:
        """The (layers, codes.LAYOUT_COLS) int64 table the compiled kernels read: fan-in, fan-out,
        offsets of W and b in θ (−1: no bias); the A/D columns are filled by engines.Buffers."""
        table = np.zeros((self.n_layers, codes.LAYOUT_COLS), dtype=np.int64)
        for l in range(self.n_layers):
            table[l, codes.COL_FAN_IN] = self.layer_dims[l]
            table[l, codes.COL_FAN_OUT] = self.layer_dims[l + 1]
            table[l, codes.COL_W_OFF] = params.offset(f"W{l}")
            table[l, codes.COL_B_OFF] = params.offset(f"b{l}")
        return table

    def kernel_act(self, l: int) -> int:
        """Activation code the kernels apply in layer l during training (see codes.kernel_activation)."""
        return codes.kernel_activation(l, self.n_layers, int(self.acts[l]), self.loss_code)

    def multiply_adds(self, rows: int) -> int:
        """Multiply-adds of the forward pass over ``rows`` rows (the engine crossovers' unit)."""
        return rows * sum(a * b for a, b in zip(self.layer_dims[:-1], self.layer_dims[1:]))
