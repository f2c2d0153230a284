"""Numba backend: ``@njit(parallel=True)`` loops fused around BLAS GEMMs.

The GEMMs go to scipy's BLAS (the one the Cython kernels and Numba's own ``np.dot`` use:
alternating two OpenBLAS copies leaves one's threads spinning while the other's work, which
made big steps 3-4× slower) through :func:`_matmul`; everything around them
(bias, activation, derivative, loss, reductions, optimiser steps) is one parallel
pass over preallocated buffers. Parallel kernels are *not* cached on disk (the
thread count may change between processes, see STYLE.md); they compile lazily on
first use, once per process and dtype. Contract: see ``numpy_backend``.
"""
import numpy as np
from numba import njit, prange
from scipy.linalg.blas import get_blas_funcs

from ._numba_elementwise import (FASTMATH, adam_step, bias_activate_row, mse_row, momentum_step,
                                 product_derivative_row,
                                 sgd_step, sigmoid_bce_row, softmax_cross_entropy_row, softmax_row,
                                 times_derivative_row)
from .numba_conv import (conv2d_backward, conv2d_forward, conv2d_out_shape, conv2d_workspace,  # noqa: F401
                         dropout_apply, maxpool2d_backward, maxpool2d_forward)

NAME = "numba"


@njit(parallel=True, fastmath=FASTMATH)
def _bias_activate(A, b, has_bias, act, k, alpha):
    """A := f(A + b)"""
    for i in prange(A.shape[0]):
        bias_activate_row(A, b, has_bias, i, act, k, alpha)


@njit(parallel=True, fastmath=FASTMATH)
def _times_derivative(D, A, act, k, alpha):
    """D := D ⊙ f'(A)"""
    for i in prange(D.shape[0]):
        times_derivative_row(D, A, i, act, k, alpha)


@njit(parallel=True, fastmath=FASTMATH)
def _product_derivative(T, A, D, act, k, alpha):
    """D := T ⊙ f'(A) (D may be A)"""
    for i in prange(D.shape[0]):
        product_derivative_row(T, A, D, i, act, k, alpha)


@njit(parallel=True, fastmath=FASTMATH)
def _softmax_rows(A):
    """A := softmax(A) row-wise"""
    for i in prange(A.shape[0]):
        softmax_row(A, i)


@njit(parallel=True, fastmath=FASTMATH)
def _softmax_cross_entropy(A, Y, D, scale):
    """P := softmax(Z); D := scale·(P − Y); loss = Σ Y·(logsumexp(Z) − Z)"""
    loss = 0.0
    for i in prange(A.shape[0]):
        loss += softmax_cross_entropy_row(A, Y, D, i, scale)
    return loss


@njit(parallel=True, fastmath=FASTMATH)
def _sigmoid_bce(A, Y, D, k, scale):
    """P := σ(kZ); D := scale·k(P − Y); loss = Σ softplus(kZ) − Y·kZ"""
    loss = 0.0
    for i in prange(A.shape[0]):
        loss += sigmoid_bce_row(A, Y, D, i, k, scale)
    return loss


@njit(parallel=True, fastmath=FASTMATH)
def _mse(A, Y, D, act, k, alpha, scale):
    """D := scale·2(A − Y)·f'(A); loss = Σ (A − Y)²"""
    loss = 0.0
    for i in prange(A.shape[0]):
        loss += mse_row(A, Y, D, i, act, k, alpha, scale)
    return loss


@njit(parallel=True, fastmath=FASTMATH)
def _column_sums(D, out, scale, accumulate):
    """out := scale·Σ_rows D (+ out if accumulate); per-thread partial sums over row blocks, then combined"""
    n, m = D.shape
    n_blocks = min(n, 64)
    partial = np.zeros((n_blocks, m), dtype=np.float64)
    for blk in prange(n_blocks):
        lo = blk * n // n_blocks
        hi = (blk + 1) * n // n_blocks
        for i in range(lo, hi):
            for j in range(m):
                partial[blk, j] += D[i, j]
    for j in range(m):
        s = 0.0
        for blk in range(n_blocks):
            s += partial[blk, j]
        out[j] = scale * s + (out[j] if accumulate else 0.0)


@njit(parallel=True, fastmath=FASTMATH)
def _sgd(P, G, lr, wd):
    """P += Δ, Δ = −lr·(G + wd·P)"""
    for i in prange(P.size):
        P[i] += sgd_step(P[i], G[i], lr, wd)


@njit(parallel=True, fastmath=FASTMATH)
def _momentum(P, G, V, lr, mu, wd):
    """V := mu·V − lr·(G + wd·P); P += V"""
    for i in prange(P.size):
        v = momentum_step(P[i], G[i], V[i], lr, mu, wd)
        V[i] = v
        P[i] += v


@njit(parallel=True, fastmath=FASTMATH)
def _adam(P, G, M, V, lr, b1, b2, eps, c1, c2, wd):
    """bias-corrected Adam step in place"""
    for i in prange(P.size):
        m, v, step = adam_step(P[i], G[i], M[i], V[i], lr, b1, b2, eps, c1, c2, wd)
        M[i] = m
        V[i] = v
        P[i] += step


_NO_BIAS = {np.dtype(np.float32): np.zeros(1, np.float32), np.dtype(np.float64): np.zeros(1, np.float64)}


def _same(*arrays):
    """Kernels index every array by the first one's shape: refuse mismatches (no out-of-bounds)."""
    shape = arrays[0].shape
    for a in arrays[1:]:
        if a.shape != shape:
            raise ValueError(f"shape mismatch: {a.shape} vs {shape}")


def _f2py_operand(M):
    """(F-contiguous array, transpose flag) for one operand of scipy's Fortran gemm"""
    return (M, 0) if M.flags.f_contiguous else (M.T, 1)


def _matmul(L, R, C, alpha=1.0, beta=0.0):
    """C := alpha·L·R + beta·C in place, C row-major (C-contiguous): scipy's gemm computes the
    column-major Cᵀ = Rᵀ·Lᵀ; L and R may be C- or F-contiguous (transposed views, no copies)."""
    if L.shape[1] != R.shape[0] or C.shape != (L.shape[0], R.shape[1]) or not C.flags.c_contiguous:
        raise ValueError(f"shape mismatch: {L.shape} · {R.shape} into {C.shape}")
    a, trans_a = _f2py_operand(R.T)
    b, trans_b = _f2py_operand(L.T)
    gemm = get_blas_funcs("gemm", dtype=C.dtype)
    out = gemm(alpha, a, b, beta=beta, c=C.T, trans_a=trans_a, trans_b=trans_b, overwrite_c=1)
    if not np.shares_memory(out, C):  # pragma: no cover - scipy copied: keep the contract anyway
        C[...] = out.T


def dense_forward(X, W, b, A, act, k, alpha, check=False):
    """A := f(X·W + b) (check: return whether X·W is all finite)"""
    _matmul(X, W, A)
    finite = bool(np.isfinite(A).all()) if check else None
    has_bias = b is not None
    if has_bias and b.shape != (A.shape[1],):
        raise ValueError(f"shape mismatch: bias {b.shape} for {A.shape[1]} units")
    _bias_activate(A, b if has_bias else _NO_BIAS[A.dtype], has_bias, act, k, alpha)
    return finite


def activation_grad(D, A, act, k, alpha):
    """D := D ⊙ f'(A) (any C-contiguous shape: seen as rows of the first axis)"""
    _same(D, A)
    _times_derivative(D.reshape(D.shape[0], -1), A.reshape(A.shape[0], -1), act, k, alpha)


DELTA_MIN_BLOCK_ROWS = 2048  # in-place deltas: a buffer of about a quarter of the rows


def delta_backward(Dn, Wn, A, D, act, k, alpha):
    """D := (Dn·Wnᵀ) ⊙ f'(A); D may be A itself (then computed in row blocks)"""
    _same(D, A)
    if not np.shares_memory(D, A):
        _matmul(Dn, Wn.T, D)
        _times_derivative(D, A, act, k, alpha)
        return
    n = D.shape[0]
    block = min(max(DELTA_MIN_BLOCK_ROWS, -(-n // 4)), n)
    tmp = np.empty((block, D.shape[1]), dtype=D.dtype)
    for r0 in range(0, n, block):
        rb = min(block, n - r0)
        _matmul(Dn[r0:r0 + rb], Wn.T, tmp[:rb])
        _product_derivative(tmp[:rb], A[r0:r0 + rb], D[r0:r0 + rb], act, k, alpha)


def softmax(A):
    """A := softmax(A) row-wise"""
    _softmax_rows(A)


def softmax_cross_entropy(A, Y, D, scale):
    _same(A, Y, D)
    return float(_softmax_cross_entropy(A, Y, D, scale))


def sigmoid_bce(A, Y, D, k, scale):
    _same(A, Y, D)
    return float(_sigmoid_bce(A, Y, D, k, scale))


def mse(A, Y, D, act, k, alpha, scale):
    _same(A, Y, D)
    return float(_mse(A, Y, D, act, k, alpha, scale))


def weight_grad(X, D, dW, db, scale, accumulate=False):
    """dW := scale·XᵀD; db := scale·Σ_rows D (added to dW, db if accumulate)"""
    _matmul(X.T, D, dW, scale, 1.0 if accumulate else 0.0)  # checks the shapes
    if db is not None:
        if db.shape != (D.shape[1],):
            raise ValueError(f"shape mismatch: bias gradient {db.shape} for {D.shape[1]} units")
        _column_sums(D, db, scale, accumulate)


def sgd_update(P, G, lr, wd):
    _same(P, G)
    _sgd(P, G, lr, wd)


def momentum_update(P, G, V, lr, mu, wd):
    _same(P, G, V)
    _momentum(P, G, V, lr, mu, wd)


def adam_update(P, G, M, V, lr, b1, b2, eps, t, wd):
    _same(P, G, M, V)
    _adam(P, G, M, V, lr, b1, b2, eps, 1.0 - b1 ** t, 1.0 - b2 ** t, wd)

from .numba_sparse import sparse_dense_forward, sparse_weight_grad  # noqa: E402,F401 (first layer on sparse rows)
