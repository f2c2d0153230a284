"""Bad input gives a clear error naming the problem; model files round-trip and corrupt ones are refused."""
import os

import numpy as np
import pytest

import fastnn


@pytest.fixture
def model():
    return fastnn.DeepMLP([4, 5, 3], activation="tanh", seed=0)


@pytest.fixture
def data(rng):
    return rng.standard_normal((20, 4)), rng.integers(0, 3, 20)


@pytest.mark.parametrize("X,match", [
    (np.ones(4), "must be 2-D"),
    (np.ones((20, 4, 1)), "must be 2-D"),
    (np.ones((20, 5)), "has 5 features but the model expects 4"),
    (np.ones((0, 4)), "empty"),
    (np.array([["a"] * 4] * 20), "must hold numbers"),
])
def test_bad_X(model, data, X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(X, data[1][:len(X)] if X.ndim else data[1], iterations=1, progress=False)


def test_nan_in_X(model, data):
    X = data[0].copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf .*row 3, column 2"):
        model.fit(X, data[1], iterations=1, progress=False)
    with pytest.raises(ValueError, match="NaN or inf"):
        model.predict(X)


@pytest.mark.parametrize("y,match", [
    (np.full(20, 3), r"labels must be in 0\.\.2"),
    (np.full(20, -1), r"labels must be in 0\.\.2"),
    (np.full(20, 0.5), "whole numbers"),
    (np.zeros(19, int), "X has 20 samples but y has 19"),
    (np.array(["a"] * 20), "must hold numbers"),
])
def test_bad_labels(model, data, y, match):
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(data[0], y, iterations=1, progress=False)


@pytest.mark.parametrize("kwargs,match", [
    (dict(lr=0), "learning rate lr must be positive"),
    (dict(lr=-1.0), "must be positive"),
    (dict(batch_size=0), "batch_size must be positive"),
    (dict(batch_size=2.5), "batch_size must be an integer"),
    (dict(reduction="avg"), "reduction must be"),
    (dict(optimizer="rmsprop"), "unknown optimizer"),
    (dict(schedule="warm"), "unknown schedule"),
    (dict(epochs=1, iterations=1), "either epochs or iterations"),
])
def test_bad_fit_options(model, data, kwargs, match):
    kwargs.setdefault("iterations", 1) if "epochs" not in kwargs else None
    with pytest.raises((ValueError, TypeError), match=match):
        model.fit(*data, progress=False, **kwargs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(activation="swish"), "unknown activation 'swish'"),
    (dict(loss="hinge"), "unknown loss"),
    (dict(init="orthogonal"), "unknown init"),
    (dict(backend="cuda"), "unknown backend 'cuda'"),
    (dict(output="softmax", loss="mse"), "trained with loss='cross_entropy'"),
    (dict(k=0), "steepness k must be a positive"),
    (dict(dtype=np.int32), "float32 or float64"),
])
def test_bad_model_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fastnn.DeepMLP([4, 5, 3], **kwargs)


def test_bad_layer_dims():
    for dims in ([4], [4, 0, 3], "784-10", [4, 2.5, 3]):
        with pytest.raises(ValueError, match="layer_dims"):
            fastnn.DeepMLP(dims)


def test_non_contiguous_and_integer_inputs_work(model, data):
    X, y = data
    Xf = np.asfortranarray(X)
    Xs = np.hstack([X, X])[:, ::2]  # strided view
    model.fit(X, y, iterations=2, progress=False)
    p = model.predict_proba(X)
    np.testing.assert_allclose(model.predict_proba(Xf), p, rtol=1e-6)
    assert model.predict_proba(np.ascontiguousarray(Xs)).shape == p.shape
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)
    model.fit(X.astype(int), y, iterations=1, progress=False)


def test_save_load_roundtrip(model, data, tmp_path):
    model.fit(*data, iterations=3, progress=False)
    path = model.save(tmp_path / "m")
    assert path.endswith(".npz") and not [f for f in os.listdir(tmp_path) if f.startswith(".fastnn-")]
    loaded = fastnn.load_model(path)
    np.testing.assert_array_equal(loaded.params, model.params)
    np.testing.assert_array_equal(loaded.predict_proba(data[0]), model.predict_proba(data[0]))
    assert loaded.layer_dims == model.layer_dims and loaded.activations == model.activations


def test_corrupt_model_files(model, tmp_path):
    good = model.save(tmp_path / "good.npz")
    raw = open(good, "rb").read()
    cases = {
        "truncated.npz": raw[: len(raw) // 2],
        "garbage.npz": b"this is not a zip file at all",
        "empty.npz": b"",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(fastnn.ModelFileError, match="corrupt|not a fastnn"):
            fastnn.load_model(tmp_path / name)
    np.savez(tmp_path / "foreign.npz", a=np.ones(3))
    with pytest.raises(fastnn.ModelFileError, match="not a fastnn model"):
        fastnn.load_model(tmp_path / "foreign.npz")
    import json

    cfg = json.loads(str(np.load(good)["config"]))
    cfg["version"] = 99
    np.savez(tmp_path / "future.npz", config=np.array(json.dumps(cfg)), params=model.params)
    with pytest.raises(fastnn.ModelFileError, match="version 99"):
        fastnn.load_model(tmp_path / "future.npz")
    cfg["version"] = 1
    np.savez(tmp_path / "short.npz", config=np.array(json.dumps(cfg)), params=model.params[:-1])
    with pytest.raises(fastnn.ModelFileError, match="corrupt"):
        fastnn.load_model(tmp_path / "short.npz")
    with pytest.raises(FileNotFoundError):
        fastnn.load_model(tmp_path / "missing.npz")


def test_failed_save_leaves_no_partial_file(model, tmp_path, monkeypatch):
    target = tmp_path / "m.npz"
    model.save(target)
    before = target.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        model.save(target)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_parallel_forward_matches_the_layer_by_layer_pass(output, dtype, monkeypatch):
    """Large inputs run block-parallel (one thread per block, single-threaded BLAS); the
    outputs equal the unblocked pass, for every block including a partial last one."""
    from fastnn import config

    monkeypatch.setattr(config, "FORWARD_BLOCK", 16)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((203, 12)).astype(dtype)
    model = fastnn.DeepMLP([12, 9, 7, 3], activation=["tanh", "relu"], output=output, dtype=dtype,
                           backend="cython", seed=1)
    whole = model.forward(X, return_all=True)[-1]  # the layer-by-layer path
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.forward(X), whole, **tol)
    if output == "sigmoid":
        logits = model.forward(X, return_all=True, logits=True)[-1]
        np.testing.assert_allclose(model.forward(X, logits=True), logits, **tol)
    X[190, 4] = np.inf  # in the last full block of the second thread
    with pytest.raises(ValueError, match=r"NaN or inf \(first at row 190, column 4\)"):
        model.predict(X)
    X[190] = np.finfo(dtype).max  # finite, but X·W overflows
    np.abs(model.weights[0], out=model.weights[0])
    model.weights[0][...] += 0.5
    with pytest.raises(ValueError, match="overflows to inf"):
        model.predict(X)
