"""asv micro-benchmarks: each kernel of the hot-path set, fastnn backends versus the NumPy
expression, float32 and float64, on a 4096 × 256 layer (fed by 512 inputs)."""
import numpy as np

from fastnn import activations as act
from fastnn.backends import get_backend

BACKENDS = ["numpy", "numba", "cython"]
DTYPES = ["float32", "float64"]
N, D, M = 4096, 512, 256


class Kernels:
    params = [BACKENDS, DTYPES]
    param_names = ["backend", "dtype"]

    def setup(self, backend, dtype):
        try:
            self.be = get_backend(backend)
        except ImportError:
            raise NotImplementedError(f"backend {backend} unavailable")
        rng = np.random.default_rng(0)
        t = np.dtype(dtype)
        self.X = rng.random((N, D), dtype=np.float64).astype(t)
        self.W = (rng.standard_normal((D, M)) * 0.05).astype(t)
        self.b = np.zeros(M, t)
        self.A = np.empty((N, M), t)
        self.D = rng.standard_normal((N, M)).astype(t)
        self.Wn = (rng.standard_normal((M, 10)) * 0.05).astype(t)
        self.Dn = rng.standard_normal((N, 10)).astype(t)
        self.Z = rng.standard_normal((N, 10)).astype(t)
        self.Y = np.eye(10, dtype=t)[rng.integers(0, 10, N)]
        self.out = np.empty((N, 10), t)
        self.dW = np.empty((D, M), t)
        self.db = np.empty(M, t)
        self.P = rng.standard_normal(D * M).astype(t)
        self.G = rng.standard_normal(D * M).astype(t)
        self.M1 = np.zeros(D * M, t)
        self.M2 = np.zeros(D * M, t)
        self.be.dense_forward(self.X, self.W, self.b, self.A, act.SIGMOID, 1.0, 0.01)  # warm JIT
        self.be.delta_backward(self.Dn, self.Wn, self.A, self.D, act.SIGMOID, 1.0, 0.01)
        self.be.softmax_cross_entropy(self.Z.copy(), self.Y, self.out, 1.0)
        self.be.weight_grad(self.X, self.D, self.dW, self.db, 1.0)
        self.be.sgd_update(self.P, self.G, 1e-9, 0.0)
        self.be.adam_update(self.P, self.G, self.M1, self.M2, 1e-9, 0.9, 0.999, 1e-8, 1, 0.0)

    def time_dense_forward_sigmoid(self, backend, dtype):
        self.be.dense_forward(self.X, self.W, self.b, self.A, act.SIGMOID, 1.0, 0.01)

    def time_dense_forward_relu(self, backend, dtype):
        self.be.dense_forward(self.X, self.W, self.b, self.A, act.RELU, 1.0, 0.01)

    def time_delta_backward(self, backend, dtype):
        self.be.delta_backward(self.Dn, self.Wn, self.A, self.D, act.SIGMOID, 1.0, 0.01)

    def time_softmax_cross_entropy(self, backend, dtype):
        self.be.softmax_cross_entropy(self.Z.copy(), self.Y, self.out, 1.0)

    def time_mse(self, backend, dtype):
        self.be.mse(self.Z, self.Y, self.out, act.SIGMOID, 1.0, 0.01, 1.0)

    def time_weight_grad(self, backend, dtype):
        self.be.weight_grad(self.X, self.D, self.dW, self.db, 1.0)

    def time_sgd_update(self, backend, dtype):
        self.be.sgd_update(self.P, self.G, 1e-9, 1e-4)

    def time_adam_update(self, backend, dtype):
        self.be.adam_update(self.P, self.G, self.M1, self.M2, 1e-9, 0.9, 0.999, 1e-8, 5, 1e-4)
