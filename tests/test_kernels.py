"""Every kernel of the hot-path set, in every backend and dtype, against the NumPy reference."""
import numpy as np
import pytest

from fastnn import activations as act_mod
from fastnn.backends import get_backend

from conftest import BACKENDS, COMPILED, TOL

DTYPES = [np.float32, np.float64]
ACTS = [(act_mod.LINEAR, 1.0), (act_mod.SIGMOID, 1.0), (act_mod.SIGMOID, 2.5), (act_mod.TANH, 1.0),
        (act_mod.TANH, 0.5), (act_mod.RELU, 1.0), (act_mod.RELU6, 1.0), (act_mod.LEAKY_RELU, 1.0)]
REF = get_backend("numpy")


def _data(rng, dtype, n=37, d=11, m=6, spread=3.0):
    X = (rng.standard_normal((n, d)) * spread).astype(dtype)
    W = rng.standard_normal((d, m)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    return X, W, b


def _close(a, b, dtype):
    np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act,k", ACTS)
@pytest.mark.parametrize("with_bias", [True, False])
def test_dense_forward(backend, dtype, act, k, with_bias, rng):
    be = get_backend(backend)
    X, W, b = _data(rng, dtype)
    b = b if with_bias else None
    A_ref = np.empty((X.shape[0], W.shape[1]), dtype)
    A = np.full_like(A_ref, np.nan)
    REF.dense_forward(X, W, b, A_ref, act, k, 0.1)
    be.dense_forward(X, W, b, A, act, k, 0.1)
    _close(A, A_ref, dtype)
    # relu6 must actually clip in this test
    if act == act_mod.RELU6:
        assert A_ref.max() == 6.0


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act,k", ACTS)
def test_activation_grad_and_delta_backward(backend, dtype, act, k, rng):
    be = get_backend(backend)
    X, W, b = _data(rng, dtype)
    A = np.empty((X.shape[0], W.shape[1]), dtype)
    REF.dense_forward(X, W, b, A, act, k, 0.1)
    D0 = rng.standard_normal(A.shape).astype(dtype)
    D_ref, D = D0.copy(), D0.copy()
    REF.activation_grad(D_ref, A, act, k, 0.1)
    be.activation_grad(D, A, act, k, 0.1)
    _close(D, D_ref, dtype)
    Wn = rng.standard_normal((W.shape[1], 3)).astype(dtype)
    Dn = rng.standard_normal((X.shape[0], 3)).astype(dtype)
    out_ref, out = np.empty_like(A), np.full_like(A, np.nan)
    REF.delta_backward(Dn, Wn, A, out_ref, act, k, 0.1)
    be.delta_backward(Dn, Wn, A, out, act, k, 0.1)
    _close(out, out_ref, dtype)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 1 / 37])
def test_loss_kernels(backend, dtype, scale, rng):
    be = get_backend(backend)
    n, m = 37, 6
    Z = (rng.standard_normal((n, m)) * 30).astype(dtype)  # large logits: needs log-sum-exp
    labels = rng.integers(0, m, n)
    Y = np.eye(m, dtype=dtype)[labels]
    for name, args in [("softmax_cross_entropy", (scale,)), ("sigmoid_bce", (1.7, scale))]:
        A_ref, A = Z.copy(), Z.copy()
        D_ref, D = np.empty_like(Z), np.full_like(Z, np.nan)
        loss_ref = getattr(REF, name)(A_ref, Y, D_ref, *args)
        loss = getattr(be, name)(A, Y, D, *args)
        assert np.isfinite(loss_ref)
        np.testing.assert_allclose(loss, loss_ref, rtol=TOL[dtype]["rtol"] * 10)
        _close(A, A_ref, dtype)
        _close(D, D_ref, dtype)
    for act, k in ACTS:
        A = np.empty_like(Z)
        REF.dense_forward(Z, np.eye(m, dtype=dtype), None, A, act, k, 0.1)
        D_ref, D = np.empty_like(Z), np.full_like(Z, np.nan)
        loss_ref = REF.mse(A, Y, D_ref, act, k, 0.1, scale)
        loss = be.mse(A, Y, D, act, k, 0.1, scale)
        np.testing.assert_allclose(loss, loss_ref, rtol=TOL[dtype]["rtol"] * 10)
        _close(D, D_ref, dtype)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax(backend, dtype, rng):
    Z = (rng.standard_normal((9, 5)) * 50).astype(dtype)
    A_ref, A = Z.copy(), Z.copy()
    REF.softmax(A_ref)
    get_backend(backend).softmax(A)
    _close(A, A_ref, dtype)
    np.testing.assert_allclose(A.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 0.125])
@pytest.mark.parametrize("n", [5, 300])
def test_weight_grad(backend, dtype, scale, n, rng):
    be = get_backend(backend)
    X = rng.standard_normal((n, 7)).astype(dtype)
    D = rng.standard_normal((n, 4)).astype(dtype)
    dW_ref, db_ref = np.empty((7, 4), dtype), np.empty(4, dtype)
    dW, db = np.full_like(dW_ref, np.nan), np.full_like(db_ref, np.nan)
    REF.weight_grad(X, D, dW_ref, db_ref, scale)
    be.weight_grad(X, D, dW, db, scale)
    tol = dict(rtol=TOL[dtype]["rtol"] * 20, atol=TOL[dtype]["atol"] * 50)
    np.testing.assert_allclose(dW, dW_ref, **tol)
    np.testing.assert_allclose(db, db_ref, **tol)
    dW2 = np.full_like(dW_ref, np.nan)
    be.weight_grad(X, D, dW2, None, scale)  # no bias
    np.testing.assert_allclose(dW2, dW_ref, **tol)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_grad_accumulates_over_row_blocks(backend, dtype, rng):
    """Row-blocked full-batch steps add each block's XᵀD into one gradient (BLAS beta = 1)."""
    be = get_backend(backend)
    X = rng.standard_normal((301, 7)).astype(dtype)
    D = rng.standard_normal((301, 4)).astype(dtype)
    dW_ref, db_ref = np.empty((7, 4), dtype), np.empty(4, dtype)
    REF.weight_grad(X, D, dW_ref, db_ref, 0.5)
    dW, db = np.empty_like(dW_ref), np.empty_like(db_ref)
    for lo in range(0, 301, 100):
        be.weight_grad(X[lo:lo + 100], D[lo:lo + 100], dW, db, 0.5, accumulate=lo > 0)
    tol = dict(rtol=TOL[dtype]["rtol"] * 20, atol=TOL[dtype]["atol"] * 50)
    np.testing.assert_allclose(dW, dW_ref, **tol)
    np.testing.assert_allclose(db, db_ref, **tol)
    with pytest.raises(ValueError):
        be.weight_grad(X, D[:10], dW, db, 1.0, accumulate=True)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [13, 40000])  # serial and parallel paths
def test_optimizer_updates(backend, dtype, size, rng):
    be = get_backend(backend)
    P0 = rng.standard_normal(size).astype(dtype)
    G = rng.standard_normal(size).astype(dtype)
    M0 = rng.standard_normal(size).astype(dtype) * 0.1
    V0 = np.abs(rng.standard_normal(size)).astype(dtype) * 0.1
    tol = dict(rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)
    cases = [
        ("sgd_update", lambda P, M, V: (P, G, 0.1, 0.01)),
        ("momentum_update", lambda P, M, V: (P, G, M, 0.1, 0.9, 0.01)),
        ("adam_update", lambda P, M, V: (P, G, M, V, 0.01, 0.9, 0.999, 1e-8, 3, 0.01)),
    ]
    for name, make_args in cases:
        P_ref, M_ref, V_ref = P0.copy(), M0.copy(), V0.copy()
        P, M, V = P0.copy(), M0.copy(), V0.copy()
        getattr(REF, name)(*make_args(P_ref, M_ref, V_ref))
        getattr(be, name)(*make_args(P, M, V))
        assert not np.array_equal(P, P0), f"{name} left the parameters unchanged"
        np.testing.assert_allclose(P, P_ref, **tol)
        np.testing.assert_allclose(M, M_ref, **tol)
        np.testing.assert_allclose(V, V_ref, **tol)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_refuse_mismatched_shapes(backend):
    """Kernels never read out of bounds: wrong shapes raise instead of crashing."""
    be = get_backend(backend)
    X = np.ones((4, 3))
    with pytest.raises(ValueError):
        be.dense_forward(X, np.ones((5, 2)), None, np.ones((4, 2)), 1, 1.0, 0.1)
    with pytest.raises(ValueError):
        be.softmax_cross_entropy(np.ones((4, 3)), np.ones((3, 3)), np.ones((4, 3)), 1.0)
    with pytest.raises(ValueError):
        be.weight_grad(X, np.ones((5, 2)), np.ones((3, 2)), None, 1.0)
    with pytest.raises(ValueError):
        be.sgd_update(np.ones(5), np.ones(4), 0.1, 0.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_delta_backward_in_place_over_the_activations(backend, dtype, rng):
    """Large full-batch steps write each hidden delta over its activations (row blocks)."""
    be = get_backend(backend)
    n, h, o = 9000, 9, 4  # several row blocks
    A = rng.uniform(0.05, 0.95, (n, h)).astype(dtype)
    Wn = rng.standard_normal((h, o)).astype(dtype)
    Dn = rng.standard_normal((n, o)).astype(dtype)
    expected = np.empty_like(A)
    REF.delta_backward(Dn, Wn, A, expected, act_mod.SIGMOID, 1.5, 0.1)
    be.delta_backward(Dn, Wn, A, A, act_mod.SIGMOID, 1.5, 0.1)
    np.testing.assert_allclose(A, expected, rtol=TOL[dtype]["rtol"] * 10, atol=TOL[dtype]["atol"] * 10)


def test_every_backend_is_available():
    """A missing compiled extension must fail the suite, not silently skip the Cython tests."""
    import os

    if os.environ.get("FASTNN_ALLOW_MISSING_BACKENDS"):
        pytest.skip("FASTNN_ALLOW_MISSING_BACKENDS is set")
    assert BACKENDS == ["numpy", "numba", "cython"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_kernel_finds_any_nan_or_inf(dtype, bad):
    """The vectorised exponent-bit scan behind input validation, serial and parallel sizes."""
    from fastnn import _cykernels as ck
    from fastnn.validation import all_finite

    for shape in [(3, 5), (400, 100)]:
        A = np.ones(shape, dtype)
        A[0, 0] = np.finfo(dtype).max  # large but finite
        A[1, 1] = np.finfo(dtype).tiny / 4  # subnormal: finite
        assert ck.all_finite(A) and all_finite(A)
        for pos in [(0, 0), (shape[0] - 1, shape[1] - 1), (shape[0] // 2, 2)]:
            B = A.copy()
            B[pos] = bad
            assert not ck.all_finite(B) and not all_finite(B)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_forward_check_reports_non_finite_products(backend, dtype, rng):
    """check=True returns whether X·W is all finite: a NaN or inf anywhere in X spoils its row."""
    be = get_backend(backend)
    X = rng.standard_normal((40, 6)).astype(dtype)
    W = rng.standard_normal((6, 5)).astype(dtype)
    A = np.empty((40, 5), dtype)
    assert be.dense_forward(X, W, None, A, 1, 1.0, 0.0) is None
    assert be.dense_forward(X, W, np.zeros(5, dtype), A, 1, 1.0, 0.0, check=True) is True
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[37, 2] = bad
        with np.errstate(invalid="ignore"):
            assert be.dense_forward(Xb, W, None, A, 1, 1.0, 0.0, check=True) is False


@pytest.mark.skipif("cython" not in BACKENDS, reason="the C loop is part of the Cython backend")
def test_train_small_refuses_inconsistent_buffers():
    """The C training loop checks its buffers before running (with or without BLAS products)."""
    import fastnn
    from fastnn import engines

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 6)), rng.integers(0, 3, 50)
    model = fastnn.DeepMLP([6, 8, 3], dtype=np.float64, backend="cython", seed=0)
    from fastnn.train.optim import SGD

    eng = engines.CLoopEngine(model.net, model.parameters, SGD(), X, np.eye(3)[y], y, 16, True)
    order = np.arange(50, dtype=np.int64)

    def run(**change):
        args = dict(theta=eng.theta, grad=eng.grad, m1=eng.opt.m1, m2=eng.opt.m2, layout=eng.buffers.layout, XT=eng.XT,
                     YT=eng.YT, labels=eng.labels, X=eng.X, Y=eng.Y, order=order, batch=16, XbT=eng.Xb, YbT=eng.Yb,
                     lb=eng.lb, acts=eng.acts32, ks=eng.net.ks, alphas=eng.net.alphas, kind=eng.net.loss_code,
                     mean_reduction=True, wd=0.0, opt=0, lrs=np.full(4, 0.1), mu=0.9, b1=0.9, b2=0.999, eps=1e-8,
                     t0=0.0, work=eng.buffers.work, losses=np.zeros(4), correct=np.zeros(4, np.int64),
                     blas_min_weights=0)
        args.update(change)
        return eng._ck.train_small(*args.values())

    assert run() == 4  # 50 rows in batches of 16: the 4th batch has 2 rows
    for bad in [dict(work=eng.buffers.work[:-1]), dict(XbT=eng.Xb[:-1]), dict(lrs=np.full(5, 0.1)),
                dict(order=np.array([0, 50] + [1] * 48, dtype=np.int64)), dict(grad=eng.grad[:-1]),
                dict(acts=eng.acts32[:1])]:
        with pytest.raises(ValueError):
            run(**bad)
