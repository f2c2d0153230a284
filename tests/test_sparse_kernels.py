"""The sparse first-layer kernels (fastnn.sparse) against the dense kernels, every backend and dtype."""
import numpy as np
import pytest

from fastnn import activations as act_mod
from fastnn.backends import get_backend
from fastnn.sparse import CSR, csr_rows, to_csr, zero_fraction

from conftest import BACKENDS, COMPILED

DTYPES = [np.float32, np.float64]
DENSITIES = [0.0, 0.5, 0.19, 1.0]  # 100 %, 50 %, 81 % and 0 % zeros
# (rows, features, units): odd sizes; the second spans several unit chunks of the C kernel with a
# partial last one (B read in place: under 64 rows per thread); the third has enough rows and
# features per thread for the C kernel to pack B into tiles (several per pass); the last two have
# outputs too large for one pass (kernels/sparse.h FASTNN_SPMM_BLOCK_BYTES): the forward's (2600
# rows) and a short batch's weight gradient's (2100 features) go in blocks of rows, B's chunks
# repacked per block
SHAPES = [(37, 53, 19), (101, 111, 70), (613, 530, 45), (2600, 60, 90), (40, 2100, 90)]
REF = get_backend("numpy")


def _sparse_data(rng, dtype, shape, density):
    n, d, m = shape
    X = rng.uniform(0.1, 1.0, (n, d))
    X[rng.random((n, d)) >= density] = 0.0
    if density > 0:
        X[[0, n // 2]] = 0.0  # empty rows among full ones
    return (X.astype(dtype), rng.standard_normal((d, m)).astype(dtype), rng.standard_normal(m).astype(dtype),
            rng.standard_normal((n, m)).astype(dtype))


# float round-off of sums of up to 150 products of magnitude ~1, added in another order than BLAS
# (longer sums: the bound grows with the square root of their length)
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _close(a, b, dtype, terms=150):
    grow = max(1.0, (terms / 150) ** 0.5)
    np.testing.assert_allclose(a, b, **{k: v * grow for k, v in TOL[dtype].items()})


def test_to_csr_round_trip_and_rows(rng):
    X = rng.random((9, 7))
    X[X < 0.5] = 0
    X[4] = 0
    csr = to_csr(X)
    assert csr.indptr.dtype == np.int64 and csr.indices.dtype == np.int32 and csr.values.dtype == X.dtype
    np.testing.assert_array_equal(csr.toarray(), X)
    assert csr.nnz == np.count_nonzero(X) and csr.density == pytest.approx(1 - zero_fraction(X))
    order = rng.permutation(9)
    np.testing.assert_array_equal(csr_rows(csr, order).toarray(), X[order])
    np.testing.assert_array_equal(csr_rows(csr, order).block(2, 6).toarray(), X[order[2:6]])
    np.testing.assert_array_equal(csr.block(3, 8).transpose().toarray(), X[3:8].T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [15, 16, 33, 784])
def test_to_csr_keeps_every_nonzero_in_order(dtype, width, rng):
    """The fill compresses rows sixteen floats at a time (AVX-512) with a scalar tail: NaN and ±inf
    are kept, −0.0 is a zero, and rows end wherever the vectors do."""
    X = rng.random((40, width)).astype(dtype)
    X[X < 0.5] = 0
    X[1], X[2, ::3], X[3, -1] = 0, -0.0, np.nan
    X[5, 0], X[6, width // 2] = np.inf, -np.inf
    csr = to_csr(X)
    np.testing.assert_array_equal(csr.toarray(), np.where(X == 0, 0, X))
    assert csr.nnz == np.count_nonzero(X)
    for i in (3, 5, 6, 39):
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        np.testing.assert_array_equal(csr.indices[lo:hi], np.flatnonzero(X[i]))


def test_to_csr_and_csr_rows_reject_bad_input():
    with pytest.raises(ValueError, match="2-D float array"):
        to_csr(np.ones(5))
    with pytest.raises(ValueError, match="2-D float array"):
        to_csr(np.ones((2, 2), dtype=np.int64))
    csr = to_csr(np.eye(3))
    with pytest.raises(ValueError, match="row indices in 0..2"):
        csr_rows(csr, [0, 3])
    with pytest.raises(ValueError, match="outside the 3 rows"):
        csr.block(2, 4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sparse_forward_equals_dense(backend, dtype, density, shape, rng):
    be = get_backend(backend)
    X, W, b, _ = _sparse_data(rng, dtype, shape, density)
    csr = to_csr(X)
    for act, bias in [(act_mod.SIGMOID, b), (act_mod.LEAKY_RELU, None)]:
        A_ref = np.empty((X.shape[0], W.shape[1]), dtype)
        REF.dense_forward(X, W, bias, A_ref, act, 1.5, 0.1)
        A = np.full_like(A_ref, np.nan)
        assert be.sparse_dense_forward(*csr.parts, W, bias, A, act, 1.5, 0.1, check=True) is True
        _close(A, A_ref, dtype, X.shape[1])
    # a block of rows (offsets not starting at 0), no check
    lo, hi = 3, X.shape[0] - 2
    A = np.full((hi - lo, W.shape[1]), np.nan, dtype)
    assert be.sparse_dense_forward(*csr.block(lo, hi).parts, W, b, A, act_mod.LINEAR, 1.0, 0.0) is None
    _close(A, X[lo:hi] @ W + b, dtype, X.shape[1])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sparse_weight_grad_equals_dense(backend, dtype, density, shape, rng):
    be = get_backend(backend)
    X, W, _, D = _sparse_data(rng, dtype, shape, density)
    csr = to_csr(X)
    dW_ref, db_ref = np.empty_like(W), np.empty(W.shape[1], dtype)
    REF.weight_grad(X, D, dW_ref, db_ref, 0.25)
    dW, db = np.full_like(W, np.nan), np.full_like(db_ref, np.nan)
    be.sparse_weight_grad(*csr.parts, D, dW, db, 0.25)
    _close(dW, dW_ref, dtype, X.shape[0])
    _close(db, db_ref, dtype, X.shape[0])
    # accumulate over two row blocks (the second with its transposed form given), without bias
    cut = X.shape[0] // 3
    first, second = csr.block(0, cut), csr.block(cut, X.shape[0])
    dW2 = np.full_like(W, np.nan)
    be.sparse_weight_grad(*first.parts, D[:cut], dW2, None, 0.25)
    be.sparse_weight_grad(*second.parts, D[cut:], dW2, None, 0.25, accumulate=True, xt=second.transpose().parts)
    _close(dW2, dW_ref, dtype, X.shape[0])
    be.sparse_weight_grad(*second.parts, D[cut:], dW2, db, 0.25, accumulate=True)
    _close(dW2, dW_ref + 0.25 * X[cut:].T @ D[cut:], dtype, X.shape[0])
    _close(db, db_ref + 0.25 * D[cut:].sum(axis=0), dtype, X.shape[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_forward_check_sees_non_finite_inputs(backend, rng):
    be = get_backend(backend)
    X, W, b, _ = _sparse_data(rng, np.float32, SHAPES[0], 0.5)
    X[5, 7] = np.nan
    A = np.empty((X.shape[0], W.shape[1]), np.float32)
    assert be.sparse_dense_forward(*to_csr(X).parts, W, b, A, act_mod.SIGMOID, 1.0, 0.0, check=True) is False


@pytest.mark.parametrize("backend", COMPILED)
def test_compiled_kernels_refuse_bad_sparse_rows(backend, rng):
    be = get_backend(backend)
    X, W, b, D = _sparse_data(rng, np.float64, SHAPES[0], 0.5)
    csr = to_csr(X)
    A = np.empty((X.shape[0], W.shape[1]))
    bad = CSR(csr.indptr, csr.indices.copy(), csr.values, csr.n_cols)
    bad.indices[3] = X.shape[1]  # a column past W
    with pytest.raises(ValueError, match="column index outside"):
        be.sparse_dense_forward(*bad.parts, W, b, A, act_mod.SIGMOID, 1.0, 0.0)
    with pytest.raises(ValueError, match="column index outside"):
        be.sparse_weight_grad(*bad.parts, D, np.empty_like(W), None, 1.0)
    shuffled = csr.indptr[::-1].copy()
    with pytest.raises(ValueError, match="offsets out of order"):
        be.sparse_dense_forward(shuffled, csr.indices, csr.values, W, b, A, act_mod.SIGMOID, 1.0, 0.0)
    with pytest.raises(ValueError, match="shape mismatch"):
        be.sparse_weight_grad(*csr.parts, D[1:], np.empty_like(W), None, 1.0)
