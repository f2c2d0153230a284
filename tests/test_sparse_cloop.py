"""The C whole loop's sparse first layer (kernels/small_net_impl.h: sparse_dense_t,
sparse_weight_grad_t): the same trajectory as the dense C loop, taken by density."""
import numpy as np
import pytest

import fastnn
from fastnn import config
from fastnn.backends import available_backends

pytestmark = pytest.mark.skipif("cython" not in available_backends(), reason="needs the Cython backend")

N_IN, N_HIDDEN, N_OUT, N_ROWS = 90, 24, 5, 150
TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _data(density, dtype, seed=0):
    """Image-like rows: a fraction ``density`` of nonzeros, values in (0.05, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.05, 1.0, (N_ROWS, N_IN))
    X[rng.random((N_ROWS, N_IN)) >= density] = 0.0
    return X.astype(dtype), rng.integers(0, N_OUT, N_ROWS)


def _fit(X, y, sparse, monkeypatch, bias=True, lr=0.1, **options):
    """30 steps of the C loop with the sparse first layer forced on or off: (model, history)."""
    with monkeypatch.context() as m:
        m.setattr(config, "SPARSE_CLOOP_MAX_DENSITY", 1.0 if sparse else -1.0)
        model = fastnn.DeepMLP([N_IN, N_HIDDEN, N_OUT], seed=0, dtype=X.dtype, backend="cython", bias=bias)
        history = model.fit(X, y, progress=False, engine="cloop", iterations=30, lr=lr, **options)
    return model, history


def _same_trajectory(X, y, monkeypatch, **options):
    sparse, h_sparse = _fit(X, y, True, monkeypatch, **options)
    dense, h_dense = _fit(X, y, False, monkeypatch, **options)
    assert (h_sparse.params["engine"], h_dense.params["engine"]) == ("cython-loop+sparse", "cython-loop")
    tol = TOL[X.dtype.type]
    assert len(h_sparse.step_loss) == len(h_dense.step_loss) == 30
    np.testing.assert_allclose(h_sparse.step_loss, h_dense.step_loss, **tol)
    np.testing.assert_allclose(sparse.params, dense.params, **tol)
    assert not np.array_equal(dense.params, fastnn.DeepMLP([N_IN, N_HIDDEN, N_OUT], seed=0, dtype=X.dtype).params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("density", [0.0, 0.5, 0.81, 1.0])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [1, 16, 64, None])  # 64: the third batch of 150 rows has 22
def test_sparse_first_layer_follows_the_dense_trajectory(dtype, density, optimizer, batch_size, monkeypatch):
    X, y = _data(density, dtype)
    lr = dict(lr=0.01) if optimizer == "adam" else {}
    _same_trajectory(X, y, monkeypatch, optimizer=optimizer, batch_size=batch_size, **lr)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [16, None])
def test_without_bias_and_with_weight_decay(dtype, batch_size, monkeypatch):
    X, y = _data(0.3, dtype)
    _same_trajectory(X, y, monkeypatch, bias=False, batch_size=batch_size)
    _same_trajectory(X, y, monkeypatch, batch_size=batch_size, weight_decay=0.01)  # plain SGD, not fused


def _engines(X, y, batch, monkeypatch):
    """A sparse and a dense C-loop engine (plain SGD, fused) on copies of one model's parameters."""
    from fastnn import engines
    from fastnn.train.optim import SGD

    model = fastnn.DeepMLP([N_IN, N_HIDDEN, N_OUT], seed=0, dtype=X.dtype, backend="cython")
    Y = np.eye(N_OUT, dtype=X.dtype)[y]
    out = []
    for limit in (1.0, -1.0):
        monkeypatch.setattr(config, "SPARSE_CLOOP_MAX_DENSITY", limit)
        out.append(engines.CLoopEngine(model.net, model.parameters.copy(), SGD(), X, Y, y, batch, True))
    assert out[0].sparse and not out[1].sparse and out[0]._fuse_sgd
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_read_after_fused_steps(dtype, monkeypatch):
    X, y = _data(0.2, dtype)
    sparse, dense = _engines(X, y, 16, monkeypatch)
    order = np.random.default_rng(1).permutation(N_ROWS).astype(np.int64)
    lrs = np.full(7, 0.2)
    for eng in (sparse, dense):
        assert eng.run(order, lrs)[0] == 7
    tol = TOL[dtype]
    np.testing.assert_allclose(sparse.theta, dense.theta, **tol)
    # grad of the last step (rows order[96:112]): the fused first-layer block recomputed on reading
    np.testing.assert_allclose(sparse.grad, dense.grad, **tol)
    assert np.abs(sparse.grad[:N_IN * N_HIDDEN]).max() > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("density", [0.0, 0.19, 1.0])
def test_loss_and_gradients_on_the_c_loop_equal_the_kernels(dtype, density, monkeypatch):
    X, y = _data(density, dtype)
    X = X[:N_IN - 7]  # fewer rows than columns: Xᵀ's row indices stay below the rows, not the columns
    y = y[:N_IN - 7]
    model = fastnn.DeepMLP([N_IN, N_HIDDEN, N_OUT], seed=0, dtype=dtype, backend="cython")
    monkeypatch.setattr(config, "SPARSE_CLOOP_MAX_DENSITY", 1.0)
    for limit in config.SPARSE_KERNEL_LIMITS:
        monkeypatch.setattr(config, limit, -1.0)
    loss_c, dW_c, db_c = model.loss_and_gradients(X, y, reduction="sum", engine="cloop")
    loss_k, dW_k, db_k = model.loss_and_gradients(X, y, reduction="sum", engine="kernels")
    tol = TOL[dtype]
    assert loss_c == pytest.approx(loss_k, rel=tol["rtol"])
    for a, b in zip(dW_c + db_c, dW_k + db_k):
        np.testing.assert_allclose(a, b, **tol)


def test_dense_data_keeps_the_dense_loop_bit_for_bit(monkeypatch):
    X, y = _data(1.0, np.float64)
    model = fastnn.DeepMLP([N_IN, N_HIDDEN, N_OUT], seed=0, dtype=np.float64, backend="cython")
    h = model.fit(X, y, progress=False, engine="cloop", iterations=5, batch_size=16)
    assert h.params["engine"] == "cython-loop"  # at the measured crossover, dense rows stay dense
    with monkeypatch.context() as m:
        m.setattr(config, "SPARSE_CLOOP_MAX_DENSITY", -1.0)
        again = fastnn.DeepMLP([N_IN, N_HIDDEN, N_OUT], seed=0, dtype=np.float64, backend="cython")
        again.fit(X, y, progress=False, engine="cloop", iterations=5, batch_size=16)
    assert np.array_equal(model.params, again.params)


def _small_net(e, sp):
    """A SmallNet of engine e's run with the sparse first layer's arrays sp."""
    from fastnn.backends import get_backend

    return get_backend("cython").kernels.SmallNet(
        (e.layout, e.net.acts.astype(np.int32), e.net.ks, e.net.alphas, e.net.loss_code),
        (e.theta, e._grad, e.opt.m1, e.opt.m2, e.opt.kind, *e.opt.hyper, e.opt.weight_decay),
        (e.X, e.Y, e.labels, e.XT, e.YT, e.batch), (e.Xb, e.Yb, e.lb, e.buffers.work),
        True, config.CLOOP_BLAS_MIN_WEIGHTS, False, sp)


def test_refuses_inconsistent_sparse_arrays(monkeypatch):
    from fastnn.sparse import loop_buffers, to_csr

    X, y = _data(0.3, np.float64)
    batched, _ = _engines(X, y, 16, monkeypatch)
    full, _ = _engines(X, y, N_ROWS, monkeypatch)
    good_batch = loop_buffers(None, N_IN, X.dtype, 16, N_HIDDEN)
    good_full = loop_buffers(to_csr(X), N_IN, X.dtype, N_ROWS, N_HIDDEN)
    _small_net(batched, good_batch)
    _small_net(full, good_full)
    # a mini-batch's room: every value of its rows (6: one offset short; 7: fewer entries than rows × n_cols)
    bad_batch = [(6, good_batch[6][:-1]), (7, good_batch[7][:-1]), (14, good_batch[14][:-1]),
                 (2, good_batch[2].astype(np.float32))]
    bad_index, bad_row = good_full[1].copy(), good_full[4].copy()
    bad_index[3], bad_row[5] = N_IN, N_ROWS
    bad_full = [(1, bad_index), (4, bad_row), (0, good_full[0][:-1]), (3, good_full[3][:-1]), (14, good_full[14][:-1]),
                (2, good_full[2].astype(np.float32))]
    for eng, good, bad_cases in ((batched, good_batch, bad_batch), (full, good_full, bad_full)):
        for i, bad in bad_cases:
            with pytest.raises((ValueError, TypeError)):
                _small_net(eng, good[:i] + (bad,) + good[i + 1:])
        with pytest.raises(ValueError, match="15 arrays"):
            _small_net(eng, good[:5])


def test_mini_batches_build_no_sparse_copy_of_x(monkeypatch):
    """Mini-batches compress their rows of the dense X at each step; only a full batch pays for X in
    sparse rows (and Xᵀ)."""
    from fastnn import sparse as sparse_mod

    X, y = _data(0.3, np.float32)
    built = []
    real = sparse_mod.to_csr
    monkeypatch.setattr(sparse_mod, "to_csr", lambda A: built.append(A.shape) or real(A))
    batched, _ = _engines(X, y, 16, monkeypatch)
    assert batched.sparse and batched.csr is None and built == []
    full, _ = _engines(X, y, N_ROWS, monkeypatch)
    assert full.sparse and full.csr is not None and built == [X.shape]


# Shapes whose sparse products are split over threads (stored entries × units ≥ FNN_SPARSE_PAR_MIN in
# kernels/small_net.h): the forward of a 64-row batch by units, of a 256-row batch and the weight
# gradient by rows, through the run's spinning helpers (kernels/spin_team.h); the gradient read after
# fused steps recomputes the first layer's block through an OpenMP team.
WIDE_IN, WIDE_HIDDEN, WIDE_ROWS = 300, 200, 640


@pytest.fixture
def two_threads():
    from fastnn import _threads

    before = _threads.get_num_threads()
    fastnn.set_num_threads(2)
    yield
    fastnn.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [64, 256, None])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_threaded_sparse_products_follow_the_dense_trajectory(dtype, batch_size, optimizer, two_threads,
                                                              monkeypatch):
    rng = np.random.default_rng(3)
    X = rng.uniform(0.05, 1.0, (WIDE_ROWS, WIDE_IN))
    X[rng.random(X.shape) >= 0.5] = 0.0
    X, y = X.astype(dtype), rng.integers(0, N_OUT, WIDE_ROWS)
    lr = 0.01 if optimizer == "adam" else 0.1
    runs = {}
    for name, limit, threads in (("dense", -1.0, None), ("sparse-1", 1.0, 1), ("sparse-2", 1.0, None)):
        with monkeypatch.context() as m:
            m.setattr(config, "SPARSE_CLOOP_MAX_DENSITY", limit)
            m.setattr(config, "SPARSE_CLOOP_THREADS", threads)
            model = fastnn.DeepMLP([WIDE_IN, WIDE_HIDDEN, N_OUT], seed=0, dtype=dtype, backend="cython")
            h = model.fit(X, y, progress=False, engine="cloop", iterations=12, lr=lr, batch_size=batch_size,
                          optimizer=optimizer)
        runs[name] = (np.array(h.step_loss), model.params.copy(), h.params["engine"])
    assert runs["sparse-2"][2] == runs["sparse-1"][2] == "cython-loop+sparse" and runs["dense"][2] == "cython-loop"
    tol = TOL[dtype]
    for name in ("sparse-1", "sparse-2"):
        assert len(runs[name][0]) == 12
        np.testing.assert_allclose(runs[name][0], runs["dense"][0], **tol)
        np.testing.assert_allclose(runs[name][1], runs["dense"][1], **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threaded_gradient_read_after_fused_steps(dtype, two_threads, monkeypatch):
    from fastnn import engines
    from fastnn.train.optim import SGD

    rng = np.random.default_rng(4)
    X = rng.uniform(0.05, 1.0, (WIDE_ROWS, WIDE_IN))
    X[rng.random(X.shape) >= 0.4] = 0.0
    X, y = X.astype(dtype), rng.integers(0, N_OUT, WIDE_ROWS)
    model = fastnn.DeepMLP([WIDE_IN, WIDE_HIDDEN, N_OUT], seed=0, dtype=dtype, backend="cython")
    Y = np.eye(N_OUT, dtype=dtype)[y]
    engs = []
    for limit in (1.0, -1.0):
        monkeypatch.setattr(config, "SPARSE_CLOOP_MAX_DENSITY", limit)
        engs.append(engines.CLoopEngine(model.net, model.parameters.copy(), SGD(), X, Y, y, 64, True))
    sparse, dense = engs
    assert sparse._own_threads and not dense._own_threads
    order = rng.permutation(WIDE_ROWS).astype(np.int64)
    lrs = np.full(9, 0.2)
    for eng in engs:
        assert eng.run(order, lrs)[0] == 9
    tol = TOL[dtype]
    np.testing.assert_allclose(sparse.theta, dense.theta, **tol)
    np.testing.assert_allclose(sparse.grad, dense.grad, **tol)
    assert np.abs(sparse.grad[:WIDE_IN * WIDE_HIDDEN]).max() > 0


def test_threads_stay_with_blas_when_later_layers_dominate(two_threads, monkeypatch):
    """The sparse products take the cores (and BLAS one thread) only when the first layer carries
    most of the weights."""
    from fastnn import engines
    from fastnn.train.optim import SGD

    monkeypatch.setattr(config, "SPARSE_CLOOP_MAX_DENSITY", 1.0)
    X, y = _data(0.3, np.float32)
    for dims, own in (([N_IN, 64, N_OUT], True), ([N_IN, 16, 200, N_OUT], False)):
        model = fastnn.DeepMLP(dims, seed=0, dtype=np.float32, backend="cython")
        Y = np.eye(N_OUT, dtype=np.float32)[y]
        eng = engines.CLoopEngine(model.net, model.parameters, SGD(), X, Y, y, 16, True)
        assert eng.sparse and eng._own_threads == own


def test_no_more_spinning_threads_than_cores(monkeypatch):
    """fastnn.set_num_threads above the cores gives the sparse products no more helpers than cores
    (spinning threads on a shared core wait on each other)."""
    from fastnn import _threads, engines
    from fastnn.train.optim import SGD

    import fastnn.engines.loops as loops

    monkeypatch.setattr(config, "SPARSE_CLOOP_MAX_DENSITY", 1.0)
    monkeypatch.setattr(loops, "usable_cores", lambda: 1)
    before = _threads.get_num_threads()
    fastnn.set_num_threads(2)
    try:
        X, y = _data(0.3, np.float32)
        model = fastnn.DeepMLP([N_IN, 64, N_OUT], seed=0, dtype=np.float32, backend="cython")
        eng = engines.CLoopEngine(model.net, model.parameters, SGD(), X, np.eye(N_OUT, dtype=np.float32)[y], y, 16, True)
        assert eng.sparse and not eng._own_threads
    finally:
        fastnn.set_num_threads(before)
