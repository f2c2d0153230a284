"""The kernel engine's sparse first layer: taken on sparse data by "auto", equal to the dense path."""
import numpy as np
import pytest

import fastnn
from fastnn import config
from fastnn.backends import available_backends

pytestmark = pytest.mark.skipif("cython" not in available_backends(), reason="needs the Cython backend")


def _images(rng, n, dtype, density=0.2):
    """MNIST-like rows: mostly exact zeros, values in (0, 1]."""
    X = rng.uniform(0.05, 1.0, (n, 784))
    X[rng.random((n, 784)) >= density] = 0.0
    return X.astype(dtype), rng.integers(0, 10, n)


def _fit(X, y, sparse, monkeypatch, backend="auto", **options):
    """A fit with the sparse first layer allowed at any density (sparse=True) or never."""
    with monkeypatch.context() as m:
        for limit in config.SPARSE_KERNEL_LIMITS:
            m.setattr(config, limit, 1.0 if sparse else 0.0)
        model = fastnn.DeepMLP([784, 40, 10], seed=0, backend=backend, dtype=X.dtype)
        history = model.fit(X, y, progress=False, lr=0.05, **options)
    return model, history.params["engine"]


TOL = {np.float32: dict(rtol=1e-4, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_takes_the_sparse_path_on_image_like_data(dtype, rng, monkeypatch):
    # a full batch beyond the C loop, in row blocks spread over the worker threads
    monkeypatch.setattr(config, "CLOOP_MAX_WORK", 0)
    monkeypatch.setattr(config, "ROW_BLOCK", 128)
    X, y = _images(rng, 700, dtype)
    model = fastnn.DeepMLP([784, 40, 10], seed=0, dtype=dtype)  # the measured crossovers: 20 % is sparse
    engine = model.fit(X, y, iterations=3, lr=0.05, progress=False).params["engine"]
    assert engine == "cython-kernels+sparse"
    dense, engine_dense = _fit(X, y, False, monkeypatch, iterations=3)
    assert engine_dense == "cython-kernels"
    np.testing.assert_allclose(model.params, dense.params, **TOL[dtype])
    # the gradient the engine reports (full batch, Xᵀ of each block kept) equals the dense one
    loss_s, dW_s, _ = model.loss_and_gradients(X, y, reduction="sum")
    with monkeypatch.context() as m:
        for limit in config.SPARSE_KERNEL_LIMITS:
            m.setattr(config, limit, 0.0)
        loss_d, dW_d, _ = model.loss_and_gradients(X, y, reduction="sum")
    assert loss_s == pytest.approx(loss_d, rel=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(dW_s[0], dW_d[0], rtol=TOL[dtype]["rtol"], atol=1e-4 if dtype == np.float32 else 1e-10)


def test_dense_data_stays_dense(rng, monkeypatch):
    monkeypatch.setattr(config, "CLOOP_MAX_WORK", 0)
    X = rng.uniform(0.05, 1.0, (300, 784)).astype(np.float32)
    model = fastnn.DeepMLP([784, 40, 10], seed=0)
    assert model.fit(X, rng.integers(0, 10, 300), iterations=1, progress=False).params["engine"] == "cython-kernels"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mini_batches_on_sparse_rows_equal_dense(dtype, rng, monkeypatch):
    X, y = _images(rng, 333, dtype, density=0.5)  # a short last batch
    sparse, engine = _fit(X, y, True, monkeypatch, engine="kernels", epochs=2, batch_size=64, optimizer="momentum")
    dense, engine_dense = _fit(X, y, False, monkeypatch, engine="kernels", epochs=2, batch_size=64,
                               optimizer="momentum")
    assert (engine, engine_dense) == ("cython-kernels+sparse", "cython-kernels")
    np.testing.assert_allclose(sparse.params, dense.params, **TOL[dtype])


def test_backends_whose_sparse_kernels_lose_stay_dense(rng, monkeypatch):
    X, y = _images(rng, 200, np.float64)
    _, engine = _fit(X, y, True, monkeypatch, backend="numpy", iterations=1)
    assert engine == "numpy-kernels"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("forward_block", [64, 100_000])  # row blocks over the threads, or one pass
def test_predict_on_sparse_rows_equals_dense(dtype, forward_block, rng, monkeypatch):
    monkeypatch.setattr(config, "FORWARD_BLOCK", forward_block)
    X, y = _images(rng, 300, dtype)
    model = fastnn.DeepMLP([784, 40, 10], seed=0, dtype=dtype)
    calls = []
    from fastnn.backends import cython_backend

    original = cython_backend.sparse_dense_forward
    monkeypatch.setattr(cython_backend, "sparse_dense_forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    sparse = model.predict_proba(X)
    assert calls, "the first layer did not take the sparse path"
    with monkeypatch.context() as m:
        for limit in config.SPARSE_KERNEL_LIMITS:
            m.setattr(config, limit, 0.0)
        n_calls = len(calls)
        dense = model.predict_proba(X)
        assert len(calls) == n_calls
    np.testing.assert_allclose(sparse, dense, **TOL[dtype])
    X[7, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(X)
