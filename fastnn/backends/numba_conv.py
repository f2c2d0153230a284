"""Numba CNN kernels: im2col GEMMs on scipy's BLAS, everything around them in ``prange`` loops.

A convolution runs over chunks of samples (``_conv_plan``): a parallel im2col into the
workspace, one BLAS GEMM per chunk (``numba_backend._matmul``), and one parallel pass that
adds the bias, applies the activation and writes the result in NCHW order. The backward
gathers the delta into filter-major order, takes dW (and the column gradient) from BLAS and
scatters the columns back into dX in parallel over samples (each sample owns its slice of
dX: no races). Max-pool runs over (sample, channel) planes. Contract: ``numpy_conv``.
"""
import numpy as np
from numba import njit, prange

from . import _conv_plan as plan
from ._numba_elementwise import FASTMATH, activate
from .numpy_conv import (check_backward, check_dropout, check_forward, check_pool, check_unpool,  # noqa: F401
                         conv2d_out_shape)


@njit(parallel=True, fastmath=FASTMATH)
def _im2col(X, s0, cols, kh, kw, stride, pad, Ho, Wo):
    """cols[(c,p,q), s·P + i·Wo + j] := X̃[s0 + s, c, i·stride + p, j·stride + q] (0 in the padding)"""
    C, H, W = X.shape[1], X.shape[2], X.shape[3]
    P = Ho * Wo
    g = cols.shape[1] // P
    for s in prange(g):
        for c in range(C):
            for p in range(kh):
                for q in range(kw):
                    r = (c * kh + p) * kw + q
                    for i in range(Ho):
                        h = i * stride + p - pad
                        base = s * P + i * Wo
                        if h < 0 or h >= H:
                            for j in range(Wo):
                                cols[r, base + j] = 0
                            continue
                        for j in range(Wo):
                            w = j * stride + q - pad
                            cols[r, base + j] = X[s0 + s, c, h, w] if 0 <= w < W else 0


@njit(parallel=True, fastmath=FASTMATH)
def _col2im(cols, dX, s0, kh, kw, stride, pad, Ho, Wo):
    """dX[s0 + s] := Σ of the column gradient over every window position that read each pixel"""
    C, H, W = dX.shape[1], dX.shape[2], dX.shape[3]
    P = Ho * Wo
    g = cols.shape[1] // P
    for s in prange(g):
        dX[s0 + s] = 0
        for c in range(C):
            for p in range(kh):
                for q in range(kw):
                    r = (c * kh + p) * kw + q
                    for i in range(Ho):
                        h = i * stride + p - pad
                        if h < 0 or h >= H:
                            continue
                        base = s * P + i * Wo
                        for j in range(Wo):
                            w = j * stride + q - pad
                            if 0 <= w < W:
                                dX[s0 + s, c, h, w] += cols[r, base + j]


@njit(parallel=True, fastmath=FASTMATH)
def _bias_activate_scatter(Zt, b, has_bias, A3, s0, f0, act, k, alpha):
    """A3[s0 + s, f0 + f, :] := f(Zt[f, s·P:(s+1)·P] + b[f0 + f])"""
    fb, P = Zt.shape[0], A3.shape[2]
    g = Zt.shape[1] // P
    for s in prange(g):
        for f in range(fb):
            bias = b[f0 + f] if has_bias else 0.0
            for p in range(P):
                A3[s0 + s, f0 + f, p] = activate(Zt[f, s * P + p] + bias, act, k, alpha)


@njit(parallel=True, fastmath=FASTMATH)
def _gather(D3, s0, f0, Zt):
    """Zt[f, s·P + p] := D3[s0 + s, f0 + f, p]"""
    fb, P = Zt.shape[0], D3.shape[2]
    g = Zt.shape[1] // P
    for s in prange(g):
        for f in range(fb):
            for p in range(P):
                Zt[f, s * P + p] = D3[s0 + s, f0 + f, p]


@njit(fastmath=FASTMATH)
def _row_sums(Zt, out, f0, add):
    """out[f0 + f] := Σ_j Zt[f, j] (+ out[f0 + f] if add)"""
    for f in range(Zt.shape[0]):
        s = 0.0
        for j in range(Zt.shape[1]):
            s += Zt[f, j]
        out[f0 + f] = s + (out[f0 + f] if add else 0.0)


def _matmul(L, R, C, alpha=1.0, beta=0.0):
    """C := alpha·L·R + beta·C on scipy's BLAS (numba_backend's GEMM; imported here at call time
    because numba_backend re-exports this module)"""
    from .numba_backend import _matmul as gemm

    gemm(L, R, C, alpha, beta)


def _blocks(n, g, F, K):
    """(s0, samples, f0, filters) of every chunk × filter block"""
    fb = min(F, K)
    for s0 in range(0, n, g):
        yield s0, min(g, n - s0), [(f0, min(fb, F - f0)) for f0 in range(0, F, fb)]


def _views(ws, K, P, g, gc, fbc):
    """cols (K, gc·P) and Zt (fbc, gc·P): contiguous views at the workspace's two regions"""
    return ws[:K * gc * P].reshape(K, gc * P), ws[K * g * P:K * g * P + fbc * gc * P].reshape(fbc, gc * P)


def conv2d_workspace(n, C, H, W, kh, kw, stride, padding, dtype):
    """Flat scratch for the im2col columns and the filter-major products of one chunk of samples"""
    return plan.workspace(n, C, H, W, kh, kw, stride, padding, dtype)


def conv2d_forward(X, Wt, b, A, act, k, alpha, stride, padding, ws):
    """A := f(conv(X, Wt) + b)"""
    n, C, H, W, F, kh, kw, Ho, Wo = check_forward(X, Wt, b, A, stride, padding)
    K, P, _, _, per_sample = plan.geometry(C, H, W, kh, kw, stride, padding)
    g = plan.chunk_size(ws, X.dtype, per_sample)
    W2, A3 = Wt.reshape(F, K), A.reshape(n, F, P)
    has_bias = b is not None
    b = b if has_bias else ws[:1]  # never read
    for s0, gc, fblocks in _blocks(n, g, F, K):
        cols = _views(ws, K, P, g, gc, 0)[0]
        _im2col(X, s0, cols, kh, kw, stride, padding, Ho, Wo)
        for f0, fbc in fblocks:
            Zt = _views(ws, K, P, g, gc, fbc)[1]
            _matmul(W2[f0:f0 + fbc], cols, Zt)
            _bias_activate_scatter(Zt, b, has_bias, A3, s0, f0, act, k, alpha)


def conv2d_backward(X, Wt, D, dW, db, dX, stride, padding, ws, accumulate=False):
    """dW := Σ D·window(X); db := Σ D; dX := col2im(Wtᵀ·D) (dW, db added to with accumulate)"""
    n, C, H, W, F, kh, kw, Ho, Wo = check_backward(X, Wt, D, dW, db, dX, stride, padding)
    K, P, _, _, per_sample = plan.geometry(C, H, W, kh, kw, stride, padding)
    g = plan.chunk_size(ws, X.dtype, per_sample)
    W2, dW2, D3 = Wt.reshape(F, K), dW.reshape(F, K), D.reshape(n, F, P)
    for s0, gc, fblocks in _blocks(n, g, F, K):
        add = accumulate or s0 > 0
        cols = _views(ws, K, P, g, gc, 0)[0]
        _im2col(X, s0, cols, kh, kw, stride, padding, Ho, Wo)
        for f0, fbc in fblocks:
            Zt = _views(ws, K, P, g, gc, fbc)[1]
            _gather(D3, s0, f0, Zt)
            _matmul(Zt, cols.T, dW2[f0:f0 + fbc], 1.0, 1.0 if add else 0.0)
            if db is not None:
                _row_sums(Zt, db, f0, add)
        if dX is None:
            continue
        for m, (f0, fbc) in enumerate(fblocks):  # the columns are no longer needed: cols := Wtᵀ·D
            Zt = _views(ws, K, P, g, gc, fbc)[1]
            if len(fblocks) > 1:
                _gather(D3, s0, f0, Zt)
            _matmul(W2[f0:f0 + fbc].T, Zt, cols, 1.0, 1.0 if m > 0 else 0.0)
        _col2im(cols, dX, s0, kh, kw, stride, padding, Ho, Wo)


@njit(parallel=True, fastmath=FASTMATH)
def _maxpool(X3, Y3, I3, size, W):
    """Y3[pl, i, j] := max of the size×size window (the first max; the first NaN if any); I3 := its r·W + c"""
    for pl in prange(X3.shape[0]):
        for i in range(Y3.shape[1]):
            for j in range(Y3.shape[2]):
                r0, c0 = i * size, j * size
                best, at = X3[pl, r0, c0], r0 * W + c0
                for r in range(r0, r0 + size):
                    for c in range(c0, c0 + size):
                        v = X3[pl, r, c]
                        if v > best or (np.isnan(v) and not np.isnan(best)):
                            best, at = v, r * W + c
                Y3[pl, i, j] = best
                I3[pl, i, j] = at


@njit(parallel=True, fastmath=FASTMATH)
def _unpool(dY2, I2, dX2):
    """dX2 := 0; dX2[pl, I2[pl, m]] += dY2[pl, m]; returns the number of offsets outside the plane (skipped)"""
    bad = 0
    for pl in prange(dX2.shape[0]):
        dX2[pl] = 0
        for m in range(I2.shape[1]):
            at = I2[pl, m]
            if 0 <= at < dX2.shape[1]:
                dX2[pl, at] += dY2[pl, m]
            else:
                bad += 1
    return bad


@njit(parallel=True, fastmath=FASTMATH)
def _dropout(a, mask, scale):
    """a := a ⊙ mask · scale (flat)"""
    for i in prange(a.size):
        a[i] *= mask[i] * scale


def maxpool2d_forward(X, Y, idx, size):
    """Y := max over size×size windows; idx := r·W + c of the (first) max in its plane"""
    n, C, Ho, Wo = check_pool(X, Y, idx, size)
    H, W = X.shape[2], X.shape[3]
    _maxpool(X.reshape(n * C, H, W), Y.reshape(n * C, Ho, Wo), idx.reshape(n * C, Ho, Wo), size, W)


def maxpool2d_backward(dY, idx, dX):
    """dX := 0; dX[plane][idx] += dY"""
    planes, plane = check_unpool(dY, idx, dX)
    if _unpool(dY.reshape(planes, -1), idx.reshape(planes, -1), dX.reshape(planes, plane)):
        raise ValueError(f"idx holds offsets outside the {dX.shape[2]}×{dX.shape[3]} planes of dX")


def dropout_apply(A, mask, scale):
    """A := A ⊙ mask · scale"""
    check_dropout(A, mask)
    _dropout(A.reshape(-1), mask.reshape(-1), A.dtype.type(scale))
