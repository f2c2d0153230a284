"""NumPy reference of the sparse first-layer kernels, through scipy.sparse (contract:
``fastnn.sparse``): X is rebuilt as a ``scipy.sparse.csr_matrix`` over the same arrays."""
import numpy as np
import scipy.sparse as sp

from .. import activations as act_mod


def _matrix(indptr, indices, values, n_cols):
    """The rows as a scipy CSR matrix (offsets made relative to the block's first row)."""
    lo, hi = int(indptr[0]), int(indptr[-1])
    return sp.csr_matrix((values[lo:hi], indices[lo:hi], indptr - lo), shape=(indptr.size - 1, n_cols))


def sparse_dense_forward(indptr, indices, values, W, b, A, act, k, alpha, check=False):
    """A := f(X·W + b), X in sparse rows (check: return whether X·W is all finite)"""
    z = np.asarray(_matrix(indptr, indices, values, W.shape[0]) @ W)
    finite = bool(np.isfinite(z).all()) if check else None
    if b is not None:
        z += b
    A[...] = act_mod.forward(z, act, k, alpha)
    return finite


def sparse_weight_grad(indptr, indices, values, D, dW, db, scale, accumulate=False, xt=None):
    """dW := scale·XᵀD; db := scale·Σ_rows D (added to dW, db if accumulate), X in sparse rows
    (xt: the parts of Xᵀ, else scipy transposes the rows)"""
    XT = _matrix(*xt, D.shape[0]) if xt is not None else _matrix(indptr, indices, values, dW.shape[0]).T
    dW[...] = scale * np.asarray(XT @ D) + (dW if accumulate else 0)
    if db is not None:
        db[...] = scale * D.sum(axis=0) + (db if accumulate else 0)
