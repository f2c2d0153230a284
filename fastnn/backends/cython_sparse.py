"""Cython sparse first-layer kernels: thin wrappers over ``fastnn._cysparse`` (contract:
``fastnn.sparse``). The OpenMP thread count is the one fastnn set for the dense kernels; the
bias gradient is the dense kernels' column sum."""
from .. import _cykernels as _ck
from .. import _cysparse as _cs


def sparse_dense_forward(indptr, indices, values, W, b, A, act, k, alpha, check=False):
    """A := f(X·W + b), X in sparse rows (check: return whether X·W is all finite)"""
    has_bias = b is not None  # without a bias, W[0] stands in for the unused b argument
    return _cs.csr_forward(indptr, indices, values, W, b if has_bias else W[0], has_bias, A,
                           act, k, alpha, check, _ck.get_num_threads())


def sparse_weight_grad(indptr, indices, values, D, dW, db, scale, accumulate=False, xt=None):
    """dW := scale·XᵀD; db := scale·Σ_rows D (added to dW, db if accumulate), X in sparse rows
    (xt: the parts of Xᵀ, else built here)"""
    _cs.csr_weight_grad(indptr, indices, values, D, dW, scale, accumulate, _ck.get_num_threads(),
                        *(xt if xt is not None else ()))
    if db is not None:
        _ck.column_sums(D, db, scale, accumulate)
