"""Cython CNN kernels: thin wrappers over the compiled ``fastnn._cyconv`` extension.

The extension runs each thread over its own range of samples with per-sample im2col products
(kernels/conv.h) and fused bias + activation; see kernels/_cyconv.pyx. The wrappers translate
``None`` arguments, pass the thread count set by ``fastnn.set_num_threads`` and view 4-D
arrays flat where the kernel is element-wise. Contract: ``numpy_conv``.
"""
import numpy as np

from .. import _cykernels as _ck
from .. import _cyconv as _cc
from . import _conv_plan as plan
from .numpy_conv import check_dropout, conv2d_out_shape  # noqa: F401

_EMPTY = {np.dtype(np.float32): np.zeros((1, 1, 1, 1), np.float32),
          np.dtype(np.float64): np.zeros((1, 1, 1, 1), np.float64)}


def conv2d_workspace(n, C, H, W, kh, kw, stride, padding, dtype):
    """One slot per thread (at most n): im2col buffers and the thread's partial gradients"""
    Ho, Wo = conv2d_out_shape(H, W, kh, kw, stride, padding)
    return plan.workspace(n, _cc.slot_size(C, kh, kw, Ho, Wo), dtype)


def conv2d_forward(X, Wt, b, A, act, k, alpha, stride, padding, ws):
    """A := f(conv(X, Wt) + b)"""
    has_bias = b is not None
    _cc.conv2d_forward(X, Wt, b if has_bias else _EMPTY[A.dtype].reshape(1), has_bias, A, act, k, alpha,
                       stride, padding, ws, _ck.get_num_threads())


def conv2d_backward(X, Wt, D, dW, db, dX, stride, padding, ws, accumulate=False):
    """dW := Σ D·window(X); db := Σ D; dX := col2im(Wtᵀ·D) (dW, db added to with accumulate)"""
    has_bias, has_dx = db is not None, dX is not None
    empty = _EMPTY[dW.dtype]
    _cc.conv2d_backward(X, Wt, D, dW, db if has_bias else empty.reshape(1), has_bias, dX if has_dx else empty,
                        has_dx, stride, padding, ws, _ck.get_num_threads(), accumulate)


def maxpool2d_forward(X, Y, idx, size):
    """Y := max over size×size windows; idx := r·W + c of the (first) max in its plane"""
    _cc.maxpool2d_forward(X, Y, idx, size, _ck.get_num_threads())


def maxpool2d_backward(dY, idx, dX):
    """dX := 0; dX[plane][idx] += dY"""
    _cc.maxpool2d_backward(dY, idx, dX, _ck.get_num_threads())


def dropout_apply(A, mask, scale):
    """A := A ⊙ mask · scale"""
    check_dropout(A, mask)
    _cc.dropout_apply(A.reshape(-1), mask.reshape(-1), scale, _ck.get_num_threads())
