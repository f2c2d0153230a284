"""Numba sparse first-layer kernels (contract: ``fastnn.sparse``): rows in parallel for the
forward product, shares of the columns (split by nonzeros) in parallel for the weight gradient,
which first turns the block into sparse columns so each gradient row is written once."""
import numpy as np
from numba import get_num_threads, njit, prange

from . import numba_backend as _nb  # its column sum gives the bias gradient (read at call time)
from ._numba_elementwise import FASTMATH, bias_activate_row


@njit(cache=True)
def _csr_ok(indptr, indices, n_values, d):
    """indptr non-decreasing offsets into indices/values, every column index of the rows in [0, d)"""
    rows = indptr.shape[0] - 1
    if rows < 0 or indptr[0] < 0 or indptr[rows] > indices.shape[0] or indptr[rows] > n_values:
        return False
    for i in range(rows):
        if indptr[i + 1] < indptr[i]:
            return False
    for p in range(indptr[0], indptr[rows]):
        if indices[p] < 0 or indices[p] >= d:
            return False
    return True


def _check(indptr, indices, values, d, who):
    if not _csr_ok(indptr, indices, values.shape[0], d):
        raise ValueError(f"{who}: invalid sparse rows (offsets out of order or past the values, or a column "
                         f"index outside 0..{d - 1}); build them with fastnn.sparse.to_csr")


@njit(parallel=True, fastmath=FASTMATH)
def _forward(indptr, indices, values, W, b, has_bias, A, act, k, alpha):
    """A := f(X·W + b): per row, an AXPY of W's row over the units for each nonzero"""
    m = W.shape[1]
    for i in prange(A.shape[0]):
        for j in range(m):
            A[i, j] = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            v = values[p]
            c = indices[p]
            for j in range(m):
                A[i, j] += v * W[c, j]
        bias_activate_row(A, b, has_bias, i, act, k, alpha)


@njit(cache=True)
def _to_columns(indptr, indices, values, d):
    """(colptr, rows, vals): the block in sparse columns, rows numbered from 0"""
    rows = indptr.shape[0] - 1
    colptr = np.zeros(d + 1, dtype=np.int64)
    for p in range(indptr[0], indptr[rows]):
        colptr[indices[p] + 1] += 1
    for c in range(d):
        colptr[c + 1] += colptr[c]
    nxt = colptr[:-1].copy()
    nnz = colptr[d]
    rowidx = np.empty(nnz, dtype=np.int32)
    colval = np.empty(nnz, dtype=values.dtype)
    for i in range(rows):
        for p in range(indptr[i], indptr[i + 1]):
            q = nxt[indices[p]]
            nxt[indices[p]] = q + 1
            rowidx[q] = i
            colval[q] = values[p]
    return colptr, rowidx, colval


@njit(parallel=True, fastmath=FASTMATH)
def _grad_columns(colptr, rowidx, colval, D, dW, scale, accumulate, n_chunks):
    """dW_c := scale·Σ_i x_ic·D_i (+ dW_c if accumulate); chunk t takes an equal share of nonzeros"""
    d, m = dW.shape
    nnz = colptr[d]
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    bounds[0] = 0
    c = 0
    for t in range(1, n_chunks):
        target = t * (nnz + d) // n_chunks
        while c < d and colptr[c] + c < target:
            c += 1
        bounds[t] = c
    bounds[n_chunks] = d
    for t in prange(n_chunks):
        for c in range(bounds[t], bounds[t + 1]):
            if not accumulate:
                for j in range(m):
                    dW[c, j] = 0.0
            for p in range(colptr[c], colptr[c + 1]):
                v = scale * colval[p]
                r = rowidx[p]
                for j in range(m):
                    dW[c, j] += v * D[r, j]


def sparse_dense_forward(indptr, indices, values, W, b, A, act, k, alpha, check=False):
    """A := f(X·W + b), X in sparse rows (check: return whether X·W is all finite)"""
    has_bias = b is not None
    if A.shape != (indptr.shape[0] - 1, W.shape[1]) or (has_bias and b.shape != (W.shape[1],)):
        raise ValueError(f"shape mismatch: {indptr.shape[0] - 1} sparse rows · W {W.shape} into A {A.shape}")
    _check(indptr, indices, values, W.shape[0], "sparse_dense_forward")
    if not check:  # product, bias and activation in one pass per row
        _forward(indptr, indices, values, W, b if has_bias else W[0], has_bias, A, act, k, alpha)
        return None
    _forward(indptr, indices, values, W, W[0], False, A, 0, 1.0, 0.0)  # X·W only, then the check
    finite = bool(np.isfinite(A).all())
    _nb._bias_activate(A, b if has_bias else W[0], has_bias, act, k, alpha)
    return finite


def sparse_weight_grad(indptr, indices, values, D, dW, db, scale, accumulate=False, xt=None):
    """dW := scale·XᵀD; db := scale·Σ_rows D (added to dW, db if accumulate), X in sparse rows
    (xt: the parts of Xᵀ, else built here)"""
    if D.shape != (indptr.shape[0] - 1, dW.shape[1]):
        raise ValueError(f"shape mismatch: {indptr.shape[0] - 1} sparse rows and D {D.shape} for dW {dW.shape}")
    _check(indptr, indices, values, dW.shape[0], "sparse_weight_grad")
    if xt is None:
        colptr, rowidx, colval = _to_columns(indptr, indices, values, dW.shape[0])
    else:
        colptr, rowidx, colval = xt
        if colptr.shape[0] != dW.shape[0] + 1 or colptr[0] != 0 or colptr[-1] != indptr[-1] - indptr[0]:
            raise ValueError("sparse_weight_grad: the transposed block (xt) does not match the rows; "
                             "build it with CSR.transpose() of the same block")
        _check(colptr, rowidx, colval, max(D.shape[0], 1), "sparse_weight_grad (transposed block)")
    _grad_columns(colptr, rowidx, colval, D, dW, scale, accumulate, max(1, min(get_num_threads(), dW.shape[0])))
    if db is not None:
        if db.shape != (D.shape[1],):
            raise ValueError(f"shape mismatch: bias gradient {db.shape} for {D.shape[1]} units")
        _nb._column_sums(D, db, scale, accumulate)
