"""Numba CNN kernels: per-thread sample ranges, per-sample im2col products in compiled loops.

Each thread takes a contiguous range of samples and one workspace slot (``_conv_plan``):
per sample an im2col into its slot, then the product with the filters written straight into
the sample's NCHW output (bias first, activation while the row is in cache); the backward
accumulates the thread's weight and bias gradients in its slot and writes the sample's input
gradient through col2im. The products are plain loops that LLVM vectorises, not BLAS calls:
scipy's OpenBLAS uses its own thread pool, and calling it from every Numba thread made the two
pools fight for the cores (the first, chunked BLAS version of this module ran 10-40× slower
with 2 threads than with 1 on the shared 2-core machine). The Cython backend is the fast
path for CNNs (about 3× faster per step); this one keeps the same design in pure Numba.
Contract: ``numpy_conv``.
"""
import numba
from numba import njit, prange

from . import _conv_plan as plan
from ._numba_elementwise import FASTMATH, activate
from .numpy_conv import (check_backward, check_dropout, check_forward, check_pool, check_unpool,  # noqa: F401
                         conv2d_out_shape)


@njit(fastmath=FASTMATH, inline="always")
def _im2col(X, s, cols, kh, kw, stride, pad, Ho, Wo):
    """cols[(c,p,q), i·Wo + j] := X̃[s, c, i·stride + p, j·stride + q] (0 in the padding)"""
    C, H, W = X.shape[1], X.shape[2], X.shape[3]
    if stride == 1 and pad == 0:  # every window inside the image: plain row copies
        for c in range(C):
            for p in range(kh):
                for q in range(kw):
                    r = (c * kh + p) * kw + q
                    for i in range(Ho):
                        src, dst = X[s, c, i + p], cols[r]
                        for j in range(Wo):
                            dst[i * Wo + j] = src[j + q]
        return
    for c in range(C):
        for p in range(kh):
            for q in range(kw):
                r = (c * kh + p) * kw + q
                for i in range(Ho):
                    h = i * stride + p - pad
                    for j in range(Wo):
                        w = j * stride + q - pad
                        inside = 0 <= h < H and 0 <= w < W
                        cols[r, i * Wo + j] = X[s, c, h, w] if inside else 0


@njit(fastmath=FASTMATH, inline="always")
def _col2im(cols, dX, s, kh, kw, stride, pad, Ho, Wo):
    """dX[s] := Σ of the column gradient over every window position that read each pixel"""
    C, H, W = dX.shape[1], dX.shape[2], dX.shape[3]
    dX[s] = 0
    if stride == 1 and pad == 0:
        for c in range(C):
            for p in range(kh):
                for q in range(kw):
                    r = (c * kh + p) * kw + q
                    for i in range(Ho):
                        src, dst = cols[r], dX[s, c, i + p]
                        for j in range(Wo):
                            dst[j + q] += src[i * Wo + j]
        return
    for c in range(C):
        for p in range(kh):
            for q in range(kw):
                r = (c * kh + p) * kw + q
                for i in range(Ho):
                    h = i * stride + p - pad
                    if 0 <= h < H:
                        for j in range(Wo):
                            w = j * stride + q - pad
                            if 0 <= w < W:
                                dX[s, c, h, w] += cols[r, i * Wo + j]


@njit(fastmath=FASTMATH, inline="always")
def _product(L, R, out, b, has_bias):
    """out := L·R (+ b per row of out): rows in blocks of four, so each load of R feeds four updates"""
    M, K = L.shape
    N = R.shape[1]
    for i0 in range(0, M, 4):
        m = min(4, M - i0)
        for i in range(i0, i0 + m):
            bias = b[i] if has_bias else 0.0
            for j in range(N):
                out[i, j] = bias
        if m == 4:
            o0, o1, o2, o3 = out[i0], out[i0 + 1], out[i0 + 2], out[i0 + 3]
            for r in range(K):
                w0, w1, w2, w3 = L[i0, r], L[i0 + 1, r], L[i0 + 2, r], L[i0 + 3, r]
                c = R[r]
                for j in range(N):
                    v = c[j]
                    o0[j] += w0 * v
                    o1[j] += w1 * v
                    o2[j] += w2 * v
                    o3[j] += w3 * v
        else:
            for i in range(i0, i0 + m):
                o = out[i]
                for r in range(K):
                    w = L[i, r]
                    c = R[r]
                    for j in range(N):
                        o[j] += w * c[j]


@njit(parallel=True, fastmath=FASTMATH)
def _forward(X, W2, b, has_bias, A3, act, k, alpha, kh, kw, stride, pad, Ho, Wo, ws, slot, nt):
    """A3[s] := f(W2·im2col(X[s]) + b), each thread over its own range of samples"""
    n, (F, K), P = X.shape[0], W2.shape, Ho * Wo
    for t in prange(nt):
        cols = ws[t * slot:t * slot + K * P].reshape((K, P))
        for s in range(t * n // nt, (t + 1) * n // nt):
            _im2col(X, s, cols, kh, kw, stride, pad, Ho, Wo)
            _product(W2, cols, A3[s], b, has_bias)
            for f in range(F):
                row = A3[s, f]
                for j in range(P):
                    row[j] = activate(row[j], act, k, alpha)


@njit(parallel=True, fastmath=FASTMATH)
def _backward(X, W2, D3, dW2, db, has_bias, dX, has_dx, kh, kw, stride, pad, Ho, Wo, ws, slot, nt, accumulate):
    """per thread: dWp += D3[s]·im2col(X[s])ᵀ, dbp += Σ D3[s], dX[s] := col2im(W2ᵀ·D3[s]); then dW := Σ dWp"""
    n, (F, K), P = X.shape[0], W2.shape, Ho * Wo
    for t in prange(nt):
        base = t * slot
        cols = ws[base:base + K * P].reshape((K, P))
        dcols = ws[base + K * P:base + 2 * K * P].reshape((K, P))
        dWp = ws[base + 2 * K * P:base + 2 * K * P + F * K].reshape((F, K))
        dbp = ws[base + 2 * K * P + F * K:base + 2 * K * P + F * K + F]
        dWp[:] = 0
        dbp[:] = 0
        for s in range(t * n // nt, (t + 1) * n // nt):
            _im2col(X, s, cols, kh, kw, stride, pad, Ho, Wo)
            for f in range(F):
                d = D3[s, f]
                for r0 in range(0, K - 3, 4):  # four dot products share each load of d
                    c0, c1, c2, c3 = cols[r0], cols[r0 + 1], cols[r0 + 2], cols[r0 + 3]
                    a0 = a1 = a2 = a3 = 0.0
                    for j in range(P):
                        v = d[j]
                        a0 += v * c0[j]
                        a1 += v * c1[j]
                        a2 += v * c2[j]
                        a3 += v * c3[j]
                    dWp[f, r0] += a0
                    dWp[f, r0 + 1] += a1
                    dWp[f, r0 + 2] += a2
                    dWp[f, r0 + 3] += a3
                for r in range(K - K % 4, K):
                    acc = 0.0
                    for j in range(P):
                        acc += d[j] * cols[r, j]
                    dWp[f, r] += acc
                if has_bias:
                    acc = 0.0
                    for j in range(P):
                        acc += d[j]
                    dbp[f] += acc
            if has_dx:
                _product(W2.T, D3[s], dcols, dbp, False)
                _col2im(dcols, dX, s, kh, kw, stride, pad, Ho, Wo)
    for f in range(F):  # the threads' partial sums, in a fixed order
        for r in range(K):
            acc = dW2[f, r] if accumulate else 0.0
            for t in range(nt):
                acc += ws[t * slot + 2 * K * P + f * K + r]
            dW2[f, r] = acc
        if has_bias:
            acc = db[f] if accumulate else 0.0
            for t in range(nt):
                acc += ws[t * slot + 2 * K * P + F * K + f]
            db[f] = acc


def _plan(X, Wt, Ho, Wo, ws):
    """(K, P, slot, threads): one workspace slot per thread, at most n threads"""
    C, kh, kw = X.shape[1], Wt.shape[2], Wt.shape[3]
    K, P, slot, f_cap = plan.slot(C, kh, kw, Ho, Wo)
    if Wt.shape[0] > f_cap:
        raise ValueError(f"the compiled conv2d kernels take at most {f_cap} filters for this shape, got {Wt.shape[0]}")
    slots = plan.slots(ws, X.dtype, slot)
    return K, P, slot, max(1, min(slots, numba.get_num_threads(), X.shape[0]))


def conv2d_workspace(n, C, H, W, kh, kw, stride, padding, dtype):
    """One slot per thread (at most n): im2col columns, their gradient and the thread's partial gradients"""
    Ho, Wo = conv2d_out_shape(H, W, kh, kw, stride, padding)
    return plan.workspace(n, plan.slot(C, kh, kw, Ho, Wo)[2], dtype)


def conv2d_forward(X, Wt, b, A, act, k, alpha, stride, padding, ws):
    """A := f(conv(X, Wt) + b)"""
    n, C, H, W, F, kh, kw, Ho, Wo = check_forward(X, Wt, b, A, stride, padding)
    K, P, slot, nt = _plan(X, Wt, Ho, Wo, ws)
    has_bias = b is not None
    _forward(X, Wt.reshape(F, K), b if has_bias else ws[:1], has_bias, A.reshape(n, F, P), act, k, alpha,
             kh, kw, stride, padding, Ho, Wo, ws, slot, nt)


def conv2d_backward(X, Wt, D, dW, db, dX, stride, padding, ws, accumulate=False):
    """dW := Σ D·window(X); db := Σ D; dX := col2im(Wtᵀ·D) (dW, db added to with accumulate)"""
    n, C, H, W, F, kh, kw, Ho, Wo = check_backward(X, Wt, D, dW, db, dX, stride, padding)
    K, P, slot, nt = _plan(X, Wt, Ho, Wo, ws)
    has_bias, has_dx = db is not None, dX is not None
    _backward(X, Wt.reshape(F, K), D.reshape(n, F, P), dW.reshape(F, K), db if has_bias else ws[:1], has_bias,
              dX if has_dx else X, has_dx,  # X stands in for a missing dX: never written
              kh, kw, stride, padding, Ho, Wo, ws, slot, nt, accumulate)


@njit(fastmath=FASTMATH, inline="always")
def _take(best, at, v, offset):
    """(v, offset) if v beats best (or is the first NaN) else (best, at); bitwise, so selects and no branches"""
    take = (v > best) | ((v != v) & (best == best))
    return (v if take else best), (offset if take else at)


@njit(parallel=True, fastmath=FASTMATH)
def _maxpool(X3, Y3, I3, size, W):
    """Y3[pl, i, j] := max of the size×size window (the first max; the first NaN if any); I3 := its r·W + c"""
    if size == 2:  # the common case, unrolled: 3 branch-free selects per window
        for pl in prange(X3.shape[0]):
            for i in range(Y3.shape[1]):
                x0, x1 = X3[pl, 2 * i], X3[pl, 2 * i + 1]
                for j in range(Y3.shape[2]):
                    best, at = _take(x0[2 * j], 0, x0[2 * j + 1], 1)
                    best, at = _take(best, at, x1[2 * j], W)
                    best, at = _take(best, at, x1[2 * j + 1], W + 1)
                    Y3[pl, i, j] = best
                    I3[pl, i, j] = 2 * i * W + 2 * j + at
        return
    for pl in prange(X3.shape[0]):
        for i in range(Y3.shape[1]):
            for j in range(Y3.shape[2]):
                r0, c0 = i * size, j * size
                best, at = X3[pl, r0, c0], r0 * W + c0
                for r in range(r0, r0 + size):
                    for c in range(c0, c0 + size):
                        best, at = _take(best, at, X3[pl, r, c], r * W + c)
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
