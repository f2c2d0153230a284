"""The CNN kernels (conv2d, max-pool, dropout, 4-D activation_grad) in every backend and dtype,
against the NumPy reference, a loop-by-loop convolution, and central differences."""
import numpy as np
import pytest

from fastnn import activations as act_mod
from fastnn.backends import get_backend

from conftest import BACKENDS, COMPILED

DTYPES = [np.float32, np.float64]
REF = get_backend("numpy")
# per-dtype tolerances for sums of up to a few hundred products
TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-11, atol=1e-11)}

# (n, C, H, W, F, k, stride, padding, activation): non-square images, 1 and 3 channels, kernels 3
# and 5, stride 1 and 2, padding 0 and 1, batch 1 and 7; F > C·k·k in one case (filter blocks)
CASES = [
    (7, 3, 9, 11, 4, 3, 1, 0, (act_mod.RELU, 1.0)),
    (1, 1, 8, 13, 6, 5, 2, 1, (act_mod.TANH, 0.7)),
    (7, 1, 12, 10, 10, 5, 1, 0, (act_mod.SIGMOID, 1.3)),
    (1, 3, 10, 7, 5, 3, 2, 0, (act_mod.LINEAR, 1.0)),
    (7, 3, 6, 9, 2, 5, 1, 1, (act_mod.LEAKY_RELU, 1.0)),
    (3, 1, 7, 7, 12, 3, 2, 1, (act_mod.RELU6, 1.0)),
]
IDS = ["n{}-C{}-{}x{}-F{}-k{}-s{}-p{}".format(*c[:8]) for c in CASES]


@pytest.fixture(scope="module", autouse=True)
def warm_numba():
    """Compile the numba kernels once for both dtypes, so each test times only itself."""
    if "numba" in BACKENDS:
        be = get_backend("numba")
        for dtype in DTYPES:
            _run_conv(be, CASES[0], dtype, np.random.default_rng(0))
            _run_pool(be, np.ones((1, 1, 2, 2), dtype), 2)
            be.dropout_apply(np.ones((1, 2), dtype), np.ones((1, 2), np.uint8), 2.0)


def _conv_data(case, dtype, rng):
    n, C, H, W, F, k, s, p, _ = case
    Ho, Wo = REF.conv2d_out_shape(H, W, k, k, s, p)
    X = rng.standard_normal((n, C, H, W)).astype(dtype)
    Wt = (rng.standard_normal((F, C, k, k)) * 0.5).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    D = rng.standard_normal((n, F, Ho, Wo)).astype(dtype)
    return X, Wt, b, D


def _run_conv(be, case, dtype, rng, with_bias=True, with_dx=True, accumulate=False):
    """forward output, dW, db, dX of one backend on the case's data (outputs start as NaN: every value is written)"""
    n, C, H, W, F, k, s, p, (act, kk) = case
    X, Wt, b, D = _conv_data(case, dtype, rng)
    ws = be.conv2d_workspace(n, C, H, W, k, k, s, p, dtype)
    A = np.full(D.shape, np.nan, dtype)
    be.conv2d_forward(X, Wt, b if with_bias else None, A, act, kk, 0.1, s, p, ws)
    dW = np.full(Wt.shape, 0.5 if accumulate else np.nan, dtype)
    db = np.full(F, 0.25 if accumulate else np.nan, dtype) if with_bias else None
    dX = np.full(X.shape, np.nan, dtype) if with_dx else None
    be.conv2d_backward(X, Wt, D, dW, db, dX, s, p, ws, accumulate=accumulate)
    return A, dW, db, dX


def _close(got, want, dtype):
    for g, w in zip(got, want):
        if w is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, w, **TOL[dtype])


def test_reference_forward_matches_a_loop_by_loop_convolution():
    """The reference itself, against the definition written as loops (padding done by np.pad)."""
    rng = np.random.default_rng(1)
    for case in CASES:
        n, C, H, W, F, k, s, p, _ = case
        X, Wt, b, _ = _conv_data(case, np.float64, rng)
        Ho, Wo = REF.conv2d_out_shape(H, W, k, k, s, p)
        Xp = np.pad(X, ((0, 0), (0, 0), (p, p), (p, p)))
        Z = np.empty((n, F, Ho, Wo))
        for i in range(Ho):
            for j in range(Wo):
                Z[:, :, i, j] = np.einsum("ncpq,fcpq->nf", Xp[:, :, i * s:i * s + k, j * s:j * s + k], Wt) + b
        A = np.empty_like(Z)
        REF.conv2d_forward(X, Wt, b, A, act_mod.LINEAR, 1.0, 0.1, s, p, REF.conv2d_workspace(n, C, H, W, k, k, s, p,
                                                                                            np.float64))
        np.testing.assert_allclose(A, Z, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv2d_matches_reference(backend, dtype, case):
    want = _run_conv(REF, case, dtype, np.random.default_rng(2))
    _close(_run_conv(get_backend(backend), case, dtype, np.random.default_rng(2)), want, dtype)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_without_bias_or_input_gradient_and_accumulating(backend, dtype):
    be = get_backend(backend)
    for case in (CASES[1], CASES[4]):
        for opts in (dict(with_bias=False, with_dx=False), dict(accumulate=True)):
            want = _run_conv(REF, case, dtype, np.random.default_rng(3), **opts)
            _close(_run_conv(be, case, dtype, np.random.default_rng(3), **opts), want, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_workspace_serves_smaller_batches_and_the_compiled_ones_any_batch(backend):
    """ws is scratch only: reused across calls and layers of one geometry, for up to n samples
    (the compiled backends split any batch over their per-thread slots)."""
    be, rng = get_backend(backend), np.random.default_rng(4)
    X = rng.standard_normal((9, 2, 8, 8))
    Wt = rng.standard_normal((3, 2, 3, 3))
    ws = be.conv2d_workspace(9, 2, 8, 8, 3, 3, 1, 0, np.float64)
    A9 = np.empty((9, 3, 6, 6))
    be.conv2d_forward(X, Wt, None, A9, act_mod.LINEAR, 1.0, 0.1, 1, 0, ws)
    A4 = np.empty((4, 3, 6, 6))
    be.conv2d_forward(X[2:6].copy(), Wt, None, A4, act_mod.LINEAR, 1.0, 0.1, 1, 0, ws)
    np.testing.assert_allclose(A4, A9[2:6], rtol=1e-12)
    small = be.conv2d_workspace(1, 2, 8, 8, 3, 3, 1, 0, np.float64)
    if backend == "numpy":
        with pytest.raises(ValueError, match="ws"):
            be.conv2d_forward(X, Wt, None, A9, act_mod.LINEAR, 1.0, 0.1, 1, 0, small)
    else:
        A = np.empty_like(A9)
        be.conv2d_forward(X, Wt, None, A, act_mod.LINEAR, 1.0, 0.1, 1, 0, small)
        np.testing.assert_allclose(A, A9, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_refuses_bad_shapes(backend):
    be = get_backend(backend)
    X, Wt = np.ones((2, 3, 8, 8)), np.ones((4, 3, 3, 3))
    ws = be.conv2d_workspace(2, 3, 8, 8, 3, 3, 1, 0, np.float64)
    with pytest.raises(ValueError):  # A of the wrong shape
        be.conv2d_forward(X, Wt, None, np.ones((2, 4, 5, 6)), act_mod.RELU, 1.0, 0.1, 1, 0, ws)
    with pytest.raises(ValueError):  # channels disagree
        be.conv2d_forward(X, np.ones((4, 2, 3, 3)), None, np.ones((2, 4, 6, 6)), act_mod.RELU, 1.0, 0.1, 1, 0, ws)
    with pytest.raises(ValueError):  # bias of the wrong length
        be.conv2d_forward(X, Wt, np.ones(3), np.ones((2, 4, 6, 6)), act_mod.RELU, 1.0, 0.1, 1, 0, ws)
    with pytest.raises(ValueError):  # workspace of another layer
        be.conv2d_forward(X, Wt, None, np.ones((2, 4, 6, 6)), act_mod.RELU, 1.0, 0.1, 1, 0, ws.reshape(-1)[:10])
    with pytest.raises(ValueError):  # dW of the wrong shape
        be.conv2d_backward(X, Wt, np.ones((2, 4, 6, 6)), np.ones((4, 3, 2, 2)), None, None, 1, 0, ws)
    with pytest.raises(ValueError, match="kernel"):
        be.conv2d_out_shape(4, 4, 5, 5, 1, 0)
    assert be.conv2d_out_shape(28, 28, 5, 5, 1, 0) == (24, 24)
    assert be.conv2d_out_shape(9, 11, 3, 3, 2, 1) == (5, 6)


def _run_pool(be, X, size):
    n, C, H, W = X.shape
    Y = np.full((n, C, H // size, W // size), np.nan, X.dtype)
    idx = np.full(Y.shape, -1, np.int32)
    be.maxpool2d_forward(X, Y, idx, size)
    dY = np.arange(1, Y.size + 1, dtype=X.dtype).reshape(Y.shape)
    dX = np.full_like(X, np.nan)
    be.maxpool2d_backward(dY, idx, dX)
    return Y, idx, dX


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", [((7, 3, 9, 11), 2), ((1, 1, 8, 7), 3), ((3, 2, 24, 24), 2)])
def test_maxpool_matches_reference_and_definition(backend, dtype, shape, size):
    rng = np.random.default_rng(5)
    X = rng.standard_normal(shape).astype(dtype)
    X[0, 0, :size, :size] = 1.5  # a tie: the first (row-major) position wins
    Y, idx, dX = _run_pool(get_backend(backend), X, size)
    Y_ref, idx_ref, dX_ref = _run_pool(REF, X, size)
    np.testing.assert_array_equal(Y, Y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    np.testing.assert_array_equal(dX, dX_ref)
    n, C, H, W = shape
    Ho, Wo = H // size, W // size
    windows = X[:, :, :Ho * size, :Wo * size].reshape(n, C, Ho, size, Wo, size)
    np.testing.assert_array_equal(Y, windows.max(axis=(3, 5)))
    assert idx[0, 0, 0, 0] == 0
    assert np.all(X.reshape(n, C, -1)[np.arange(n)[:, None, None], np.arange(C)[None, :, None],
                                      idx.reshape(n, C, -1)].reshape(Y.shape) == Y)
    assert np.all(dX[:, :, Ho * size:, :] == 0) and np.all(dX[:, :, :, Wo * size:] == 0)  # dropped rows/cols


@pytest.mark.parametrize("backend", BACKENDS)
def test_maxpool_backward_refuses_offsets_outside_the_plane(backend):
    be = get_backend(backend)
    idx = np.zeros((1, 1, 2, 2), np.int32)
    idx[0, 0, 1, 1] = 16
    with pytest.raises(ValueError, match="idx"):
        be.maxpool2d_backward(np.ones((1, 1, 2, 2)), idx, np.ones((1, 1, 4, 4)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_propagates(backend, dtype):
    """A NaN in the input shows up where it should (never silently fixed or dropped)."""
    be, rng = get_backend(backend), np.random.default_rng(6)
    case = CASES[0]
    X, Wt, b, D = _conv_data(case, dtype, rng)
    X[2, 1, 4, 5] = np.nan
    n, C, H, W, F, k, s, p, (act, kk) = case
    ws = be.conv2d_workspace(n, C, H, W, k, k, s, p, dtype)
    A = np.empty(D.shape, dtype)
    with np.errstate(invalid="ignore"):
        be.conv2d_forward(X, Wt, b, A, act_mod.TANH, 1.0, 0.1, s, p, ws)
    bad = np.isnan(A)
    assert bad[2, :, 2:5, 3:6].all() and bad.sum() == F * 9  # every output whose window holds the NaN
    dW, db, dX = np.empty_like(Wt), np.empty_like(b), np.empty_like(X)
    with np.errstate(invalid="ignore"):
        be.conv2d_backward(X, Wt, D, dW, db, dX, s, p, ws)
    assert np.isnan(dW).any() and not np.isnan(db).any() and not np.isnan(dX).any()
    X = rng.standard_normal((2, 2, 6, 20)).astype(dtype)  # 10 outputs a row: the vector and the scalar paths
    X[1, 0, 3, 2] = X[1, 0, 2, 17] = np.nan
    X[1, 0, 2, 3] = np.nan  # a second NaN in the first one's window: the first (row-major) wins
    Y, idx, _ = _run_pool(be, X, 2)
    assert np.isnan(Y[1, 0, 1, 1]) and idx[1, 0, 1, 1] == 2 * 20 + 3 and np.isnan(Y).sum() == 2
    assert np.isnan(Y[1, 0, 1, 8]) and idx[1, 0, 1, 8] == 2 * 20 + 17
    A = np.full((3, 4), np.nan, dtype)
    be.dropout_apply(A, np.array([[1, 0, 1, 0]] * 3, np.uint8), 2.0)
    assert np.isnan(A[:, 0]).all()


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_and_4d_activation_grad_match_reference(backend, dtype):
    be, rng = get_backend(backend), np.random.default_rng(7)
    for shape in [(5, 7), (3, 4, 5, 6), (200, 10, 12, 12)]:  # 2-D, 4-D, and large enough for threads
        A0 = rng.standard_normal(shape).astype(dtype)
        mask = (rng.random(shape) < 0.5).astype(np.uint8)
        A, A_ref = A0.copy(), A0.copy()
        be.dropout_apply(A, mask, 1 / (1 - 0.5))
        REF.dropout_apply(A_ref, mask, 1 / (1 - 0.5))
        np.testing.assert_array_equal(A, A_ref)
        assert np.all(A[mask == 0] == 0) and np.allclose(A[mask == 1], 2 * A0[mask == 1])
        out = np.tanh(A0)
        for act, kk in [(act_mod.TANH, 1.0), (act_mod.RELU, 1.0), (act_mod.SIGMOID, 2.0)]:
            D, D_ref = A0.copy(), A0.copy()
            be.activation_grad(D, out, act, kk, 0.1)
            REF.activation_grad(D_ref, out, act, kk, 0.1)
            np.testing.assert_allclose(D, D_ref, **TOL[dtype])


def _small_cnn_loss(be, X, Wt, b, G, s, p, ws, grads=False):
    """L = Σ G ⊙ maxpool₂(tanh(conv(X, Wt) + b)); with grads, also (dL/dX, dL/dWt, dL/db) via the kernels"""
    n, F = X.shape[0], Wt.shape[0]
    Ho, Wo = be.conv2d_out_shape(X.shape[2], X.shape[3], Wt.shape[2], Wt.shape[3], s, p)
    A = np.empty((n, F, Ho, Wo))
    be.conv2d_forward(X, Wt, b, A, act_mod.TANH, 1.0, 0.1, s, p, ws)
    Y = np.empty(G.shape)
    idx = np.empty(G.shape, np.int32)
    be.maxpool2d_forward(A, Y, idx, 2)
    loss = float(np.sum(G * Y))
    if not grads:
        return loss
    D = np.empty_like(A)
    be.maxpool2d_backward(G, idx, D)
    be.activation_grad(D, A, act_mod.TANH, 1.0, 0.1)
    dX, dW, db = np.empty_like(X), np.empty_like(Wt), np.empty_like(b)
    be.conv2d_backward(X, Wt, D, dW, db, dX, s, p, ws)
    return loss, dX, dW, db


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("s,p", [(1, 0), (2, 1)])
def test_gradients_match_central_differences(backend, s, p):
    """conv2d → tanh → max-pool through a scalar loss, float64: every input, weight and bias."""
    be, rng = get_backend(backend), np.random.default_rng(8)
    X = rng.standard_normal((2, 2, 7, 9))
    Wt = rng.standard_normal((3, 2, 3, 3)) * 0.5
    b = rng.standard_normal(3) * 0.1
    Ho, Wo = be.conv2d_out_shape(7, 9, 3, 3, s, p)
    G = rng.standard_normal((2, 3, Ho // 2, Wo // 2))
    ws = be.conv2d_workspace(2, 2, 7, 9, 3, 3, s, p, np.float64)
    _, dX, dW, db = _small_cnn_loss(be, X, Wt, b, G, s, p, ws, grads=True)
    eps = 1e-6
    for arr, grad in [(X, dX), (Wt, dW), (b, db)]:
        num = np.empty_like(arr)
        for i in np.ndindex(arr.shape):
            old = arr[i]
            arr[i] = old + eps
            up = _small_cnn_loss(be, X, Wt, b, G, s, p, ws)
            arr[i] = old - eps
            down = _small_cnn_loss(be, X, Wt, b, G, s, p, ws)
            arr[i] = old
            num[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)
