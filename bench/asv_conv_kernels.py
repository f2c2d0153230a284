"""asv micro-benchmarks of the CNN kernels: backend × dtype × the course's two convolutions
(conv 5×5 1→10 on 28×28 and conv 5×5 10→20 on 12×12, ReLU, max-pool 2), batch 64 (a training
step) and 1000 (inference chunk), with the im2col GEMM floor (np.matmul on preallocated arrays)
as the "numpy-gemm" backend."""
import numpy as np

from fastnn import activations as act
from fastnn.backends import get_backend

BACKENDS = ["numpy", "numba", "cython", "numpy-gemm"]
DTYPES = ["float32", "float64"]
LAYERS = {"conv1": (1, 28, 10), "conv2": (10, 12, 20)}  # C, H (= W), F; kernel 5, stride 1, padding 0
K = 5


class ConvKernels:
    params = [BACKENDS, DTYPES, list(LAYERS), [64, 1000]]
    param_names = ["backend", "dtype", "layer", "batch"]
    timeout = 120

    def setup(self, backend, dtype, layer, batch):
        if backend == "numpy" and batch > 64:
            raise NotImplementedError("the reference is too slow for the large batch")
        C, H, F = LAYERS[layer]
        Ho = H - K + 1
        t = np.dtype(dtype)
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((batch, C, H, H)).astype(t)
        self.Wt = (rng.standard_normal((F, C, K, K)) * 0.1).astype(t)
        self.b = np.zeros(F, t)
        self.A = np.empty((batch, F, Ho, Ho), t)
        self.D = rng.standard_normal(self.A.shape).astype(t)
        self.dW, self.db, self.dX = np.empty_like(self.Wt), np.empty_like(self.b), np.empty_like(self.X)
        if backend == "numpy-gemm":  # the im2col products only: what any im2col kernel must at least spend
            self.be = None
            self.cols = rng.standard_normal((C * K * K, batch * Ho * Ho)).astype(t)
            self.Wm = self.Wt.reshape(F, -1)
            self.Z = np.empty((F, batch * Ho * Ho), t)
            self.dWm = np.empty_like(self.Wm)
            return
        try:
            self.be = get_backend(backend)
        except ImportError:
            raise NotImplementedError(f"backend {backend} unavailable")
        self.ws = self.be.conv2d_workspace(batch, C, H, H, K, K, 1, 0, t)
        self.time_conv2d_forward(backend, dtype, layer, batch)  # warm the JIT
        self.time_conv2d_backward(backend, dtype, layer, batch)

    def time_conv2d_forward(self, backend, dtype, layer, batch):
        if self.be is None:
            np.matmul(self.Wm, self.cols, out=self.Z)
        else:
            self.be.conv2d_forward(self.X, self.Wt, self.b, self.A, act.RELU, 1.0, 0.01, 1, 0, self.ws)

    def time_conv2d_backward(self, backend, dtype, layer, batch):
        if self.be is None:  # dW = D·colsᵀ and the column gradient Wᵀ·D
            np.matmul(self.Z, self.cols.T, out=self.dWm)
            np.matmul(self.Wm.T, self.Z, out=self.cols)
        else:
            self.be.conv2d_backward(self.X, self.Wt, self.D, self.dW, self.db, self.dX, 1, 0, self.ws)

    def peakmem_conv2d_forward(self, backend, dtype, layer, batch):
        self.time_conv2d_forward(backend, dtype, layer, batch)


class PoolKernels:
    """max-pool 2 forward + backward and dropout on the conv layers' outputs"""
    params = [BACKENDS[:3], DTYPES, list(LAYERS), [64, 1000]]
    param_names = ["backend", "dtype", "layer", "batch"]

    def setup(self, backend, dtype, layer, batch):
        try:
            self.be = get_backend(backend)
        except ImportError:
            raise NotImplementedError(f"backend {backend} unavailable")
        C, H, F = LAYERS[layer]
        Ho = H - K + 1
        t = np.dtype(dtype)
        rng = np.random.default_rng(0)
        self.A = rng.standard_normal((batch, F, Ho, Ho)).astype(t)
        self.dA = np.empty_like(self.A)
        self.Y = np.empty((batch, F, Ho // 2, Ho // 2), t)
        self.idx = np.empty(self.Y.shape, np.int32)
        self.mask = (rng.random(self.A.shape) < 0.5).astype(np.uint8)
        self.time_maxpool2d(backend, dtype, layer, batch)  # warm the JIT
        self.time_dropout(backend, dtype, layer, batch)

    def time_maxpool2d(self, backend, dtype, layer, batch):
        self.be.maxpool2d_forward(self.A, self.Y, self.idx, 2)
        self.be.maxpool2d_backward(self.Y, self.idx, self.dA)

    def time_dropout(self, backend, dtype, layer, batch):
        self.be.dropout_apply(self.dA, self.mask, 1.0)
