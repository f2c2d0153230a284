"""Cython backend: thin wrappers over the compiled ``fastnn._cykernels`` extension.

The extension calls BLAS (sgemm/dgemm) through ``scipy.linalg.cython_blas`` and runs
the epilogues in OpenMP ``prange`` loops. The wrappers only translate ``None`` biases;
shapes, dtypes and contiguity were checked by the caller. Contract: ``numpy_backend``.
"""
import numpy as np

from .. import _cykernels as _ck
from .cython_conv import (conv2d_backward, conv2d_forward, conv2d_out_shape, conv2d_workspace,  # noqa: F401
                          dropout_apply, maxpool2d_backward, maxpool2d_forward)

NAME = "cython"
RELEASES_GIL = True  # every kernel runs without the GIL: callers may run them from several threads
kernels = _ck  # the raw extension (e.g. its compiled small-network loop, SmallNet.run)

_NO_BIAS = {np.dtype(np.float32): np.zeros(1, np.float32), np.dtype(np.float64): np.zeros(1, np.float64)}


def dense_forward(X, W, b, A, act, k, alpha, check=False):
    """A := f(X·W + b) (check: return whether X·W is all finite)"""
    has_bias = b is not None
    return _ck.dense_forward(X, W, b if has_bias else _NO_BIAS[A.dtype], has_bias, A, act, k, alpha, check)


def weight_grad(X, D, dW, db, scale, accumulate=False):
    """dW := scale·XᵀD; db := scale·Σ_rows D (added to dW, db if accumulate)"""
    has_bias = db is not None
    _ck.weight_grad(X, D, dW, db if has_bias else _NO_BIAS[dW.dtype], has_bias, scale, accumulate)


def adam_update(P, G, M, V, lr, b1, b2, eps, t, wd):
    _ck.adam_update(P, G, M, V, lr, b1, b2, eps, float(t), wd)


def activation_grad(D, A, act, k, alpha):
    """D := D ⊙ f'(A) (any C-contiguous shape: seen as rows of the first axis)"""
    _ck.activation_grad(D.reshape(D.shape[0], -1), A.reshape(A.shape[0], -1), act, k, alpha)


delta_backward = _ck.delta_backward
softmax = _ck.softmax
softmax_cross_entropy = _ck.softmax_cross_entropy
sigmoid_bce = _ck.sigmoid_bce
mse = _ck.mse
sgd_update = _ck.sgd_update
momentum_update = _ck.momentum_update

from .cython_sparse import sparse_dense_forward, sparse_weight_grad  # noqa: E402,F401 (first layer on sparse rows)
