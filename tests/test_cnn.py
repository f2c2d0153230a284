"""Sequential / layers / course_cnn: shapes, gradients, optimiser, backends, dropout, save/load,
learning, per-layer statistics (small shapes, few steps)."""
import numpy as np
import pytest

import fastnn
from fastnn.backends import get_backend
from fastnn.layers import (Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, ShapeError, Sigmoid, Tanh)


def _conv_backends():
    out = []
    for name in ("numpy", "numba", "cython"):
        try:
            be = get_backend(name)
        except ImportError:
            continue
        if hasattr(be, "conv2d_forward"):
            out.append(name)
    return out


def small_net(act="relu", dtype=np.float64, backend="numpy", seed=0, dropout=None, padding=0):
    layers = [Conv2D(1, 3, 3, padding=padding), ReLU() if act == "relu" else Tanh(1.5), MaxPool2D(2),
              Conv2D(3, 4, (2, 3), activation=act), Flatten()]
    H, W = 9 + 2 * padding, 8 + 2 * padding
    h, w = (H - 2) // 2 - 1, (W - 2) // 2 - 2
    layers += [Dense(4 * h * w, 5, activation="tanh" if act == "tanh" else "relu")]
    if dropout is not None:
        layers.append(Dropout(dropout))
    layers.append(Dense(5, 3))
    return fastnn.Sequential(layers, input_shape=(1, 9, 8), dtype=dtype, backend=backend, seed=seed,
                             init="xavier")


def _data(n=6, seed=1, shape=(1, 9, 8), classes=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n,) + shape), rng.integers(0, classes, n)


# ------------------------------------------------------------------ structure and shapes
def test_course_cnn_structure():
    net = fastnn.models.course_cnn(seed=0)
    assert [l.out_shape for l in net.layers] == [(10, 24, 24), (10, 12, 12), (20, 8, 8), (20, 4, 4), (320,), (50,),
                                                (50,), (10,)]
    assert net.n_params == 10 * 25 + 10 + 20 * 10 * 25 + 20 + 320 * 50 + 50 + 50 * 10 + 10
    assert net.layers[0].act.name == "relu" and fastnn.models.course_cnn("tanh").layers[0].act.name == "tanh"


def test_shape_errors_name_the_layer():
    with pytest.raises(ShapeError, match=r"Dense\(320, 50\) gets 500 inputs from the layer before it"):
        fastnn.Sequential([Conv2D(1, 20, 5), MaxPool2D(4), Flatten(), Dense(320, 50), Dense(50, 10)],
                          input_shape=(1, 24, 24))
    with pytest.raises(ShapeError, match=r"Conv2D\(3, 4, 3\) expects 3 input channels but gets 1"):
        fastnn.Sequential([Conv2D(3, 4, 3), Flatten(), Dense(4 * 26 * 26, 2)], input_shape=(1, 28, 28))
    with pytest.raises(ShapeError, match="put a Flatten"):
        fastnn.Sequential([Conv2D(1, 2, 3), Dense(2, 2)], input_shape=(1, 5, 5))
    with pytest.raises(ShapeError, match="must give one score per class"):
        fastnn.Sequential([Conv2D(1, 2, 3)], input_shape=(1, 5, 5))
    with pytest.raises(ShapeError, match="kernel"):
        fastnn.Sequential([Conv2D(1, 2, 7), Flatten(), Dense(2, 2)], input_shape=(1, 5, 5))
    with pytest.raises(ValueError, match="input_shape"):
        fastnn.Sequential([Flatten(), Dense(4, 2)], input_shape=(2, 2))
    with pytest.raises(ValueError, match="Dropout"):
        Dropout(1.0)
    net = fastnn.models.course_cnn()
    with pytest.raises(ValueError, match="input_shape"):
        net.predict(np.zeros((2, 1, 27, 28)))
    with pytest.raises(ValueError, match="784"):
        net.predict(np.zeros((2, 780)))


def test_flat_and_3d_inputs_give_the_same_outputs():
    net = small_net()
    X, _ = _data()
    P = net.predict_proba(X)
    np.testing.assert_array_equal(P, net.predict_proba(X.reshape(len(X), -1)))
    np.testing.assert_array_equal(P, net.predict_proba(X[:, 0]))
    np.testing.assert_allclose(P.sum(axis=1), 1.0)


def test_activation_layers_are_fused():
    net = small_net()
    assert [l.kind for l in net.layers][:2] == ["conv", "pool"] and net.layers[0].act.name == "relu"
    s = fastnn.Sequential([Flatten(), Sigmoid(2.0), Dense(4, 2)], input_shape=(1, 2, 2), backend="numpy")
    assert s.layers[1].kind == "activation"  # nothing to fuse into: a layer of its own


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("act", ["relu", "tanh"])
@pytest.mark.parametrize("padding", [0, 1])
def test_gradient_matches_central_differences(act, padding):
    net = small_net(act, padding=padding)
    X, y = _data()
    loss, grad = net.gradient(X, y)
    theta = net.params
    rng = np.random.default_rng(2)
    idx = np.concatenate([rng.choice(theta.size, 60, replace=False),
                          [s.offset for s in net.parameters.segments]])  # every segment sampled
    for i in idx:
        assert grad[i] == pytest.approx(_central_difference(net, X, y, i), rel=1e-5, abs=1e-7), (act, i)
    assert loss == pytest.approx(net.evaluate(X, y)[0] * len(X))


def test_dense_only_gradient_with_standalone_activation():
    net = fastnn.Sequential([Flatten(), Dense(6, 4), Dropout(0.3), Tanh(0.7), Dense(4, 3)], input_shape=(1, 2, 3),
                            dtype=np.float64, backend="numpy", seed=3)
    assert net.layers[3].kind == "activation"  # after a dropout: not fused
    X, y = _data(5, shape=(1, 2, 3))
    _, grad = net.gradient(X, y)
    for i in range(net.params.size):
        assert grad[i] == pytest.approx(_central_difference(net, X, y, i), rel=1e-5, abs=1e-8)


def _central_difference(net, X, y, i, h=1e-6):
    """d(summed loss)/dθ_i by central differences (θ restored afterwards)."""
    theta = net.params
    old = theta[i]
    theta[i] = old + h
    up = net.gradient(X, y)[0]
    theta[i] = old - h
    down = net.gradient(X, y)[0]
    theta[i] = old
    return (up - down) / (2 * h)


# ------------------------------------------------------------------ optimiser
def test_one_adam_step_by_hand():
    net = small_net()
    X, y = _data()
    theta0 = net.params.copy()
    _, g = net.gradient(X, y)
    g = g / len(X)  # reduction="mean"
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    m = (1 - b1) * g
    v = (1 - b2) * g * g
    expected = theta0 - lr * (m / (1 - b1)) / (np.sqrt(v / (1 - b2)) + eps)
    net.fit(X, y, iterations=1, lr=lr, batch_size=len(X), optimizer="adam", betas=(b1, b2), eps=eps,
            shuffle=False, progress=False)
    np.testing.assert_allclose(net.params, expected, rtol=1e-10, atol=1e-12)
    assert net.optimizer_.t == 1


def test_sgd_with_weight_decay_spares_biases():
    net = small_net()
    X, y = _data()
    theta0 = net.params.copy()
    _, g = net.gradient(X, y)
    net.fit(X, y, iterations=1, lr=0.1, batch_size=len(X), reduction="sum", weight_decay=0.5, shuffle=False,
            progress=False)
    wd = np.concatenate([np.full(s.size, 0.5 if s.is_weight else 0.0) for s in net.parameters.segments])
    np.testing.assert_allclose(net.params, theta0 - 0.1 * (g + wd * theta0), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ backends
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backends_agree_on_a_few_steps(dtype):
    # every backend in float64; float32 without numba (its JIT compiles each dtype: ~20 s)
    names = [n for n in _conv_backends() if dtype == np.float64 or n != "numba"]
    X, y = _data(20, shape=(1, 9, 8))
    results = {}
    for name in names:
        net = small_net(dtype=dtype, backend=name, dropout=0.5)
        net.fit(X, y, iterations=4, lr=0.01, batch_size=8, optimizer="adam", seed=5, progress=False)
        results[name] = (net.params.copy(), net.predict_proba(X))
    ref_theta, ref_P = results["numpy"]
    tol = 2e-4 if dtype == np.float32 else 1e-9
    for name, (theta, P) in results.items():
        np.testing.assert_allclose(theta, ref_theta, rtol=tol, atol=tol, err_msg=name)
        np.testing.assert_allclose(P, ref_P, rtol=tol, atol=tol, err_msg=name)


# ------------------------------------------------------------------ dropout
def test_dropout_is_seeded_and_off_outside_fit():
    X, y = _data(16)
    runs = []
    for seed in (7, 7, 8):
        net = small_net(dropout=0.5)
        net.fit(X, y, iterations=3, lr=0.05, batch_size=8, seed=seed, progress=False)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    net = small_net(dropout=0.5)
    same = small_net(dropout=None)  # same seed, same layers with parameters: same weights
    np.testing.assert_array_equal(net.params, same.params)
    np.testing.assert_array_equal(net.predict_proba(X), same.predict_proba(X))
    np.testing.assert_array_equal(net.predict_proba(X), net.predict_proba(X))
    # inside fit the masks are on: the gradient step differs from the network without dropout
    net.fit(X, y, iterations=1, lr=0.05, batch_size=16, seed=1, progress=False)
    same.fit(X, y, iterations=1, lr=0.05, batch_size=16, seed=1, progress=False)
    assert not np.array_equal(net.params, same.params)


def test_dropout_mask_scale():
    be = get_backend("numpy")
    d = Dropout(0.25)
    d.build((1000,))
    state = d.allocate(be, 4, np.float64)
    X = np.ones((4, 1000))
    A = np.empty_like(X)
    d.forward(be, X, A, {}, state, train=True, rng=np.random.default_rng(0))
    kept = A != 0
    assert abs(kept.mean() - 0.75) < 0.03
    np.testing.assert_allclose(A[kept], 1 / 0.75)
    d.forward(be, X, A, {}, state, train=False)
    np.testing.assert_array_equal(A, X)


# ------------------------------------------------------------------ persistence
def test_save_load_round_trip_is_bit_exact(tmp_path):
    net = small_net(dtype=np.float32, dropout=0.5)
    X, y = _data(10)
    net.fit(X, y, iterations=3, lr=0.01, batch_size=4, optimizer="adam", progress=False)
    path = net.save(tmp_path / "cnn")
    loaded = fastnn.load_model(path, backend="numpy")
    assert isinstance(loaded, fastnn.Sequential)
    assert loaded.describe() == net.describe() and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    data = np.load(path, allow_pickle=False)  # no pickle needed to read it
    assert "sequential" in str(data["config"])


# ------------------------------------------------------------------ training
def _bars(n, seed):
    """8×8 images: class 0 a bright vertical bar, class 1 a horizontal bar, at random places, plus noise."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 0.2, size=(n, 1, 8, 8))
    y = rng.integers(0, 2, n)
    pos = rng.integers(1, 7, n)
    for i in range(n):
        if y[i]:
            X[i, 0, pos[i], :] += 1
        else:
            X[i, 0, :, pos[i]] += 1
    return X.astype(np.float32), y


def test_learns_a_tiny_image_task():
    X, y = _bars(400, 0)
    Xt, yt = _bars(200, 1)
    net = fastnn.Sequential([Conv2D(1, 4, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(36, 2)],
                            input_shape=(1, 8, 8), seed=0)
    before = net.score(Xt, yt)
    h = net.fit(X, y, epochs=5, lr=0.01, batch_size=16, optimizer="adam", validation_data=(Xt, yt), progress=False)
    assert h.val_accuracy[-1] >= 0.95 > before
    assert h.loss[-1] < h.loss[0] and len(h.loss) == 5 and h.steps == 5 * 25


def test_divergence_stops_with_the_last_finite_weights():
    X, y = _data(8)
    net = small_net()
    X[0, 0, 0, 0] = 1e300  # the forward pass overflows → loss inf
    h = net.fit(X, y, iterations=2, lr=0.1, batch_size=8, progress=False, on_divergence="stop")
    assert h.stopped == "diverged" and np.isfinite(net.params).all()
    with pytest.raises(fastnn.TrainingDiverged):
        net.fit(X, y, iterations=2, lr=0.1, batch_size=8, progress=False)


# ------------------------------------------------------------------ statistics
def test_record_layers_keeps_statistics_of_every_layer():
    from fastnn.layer_stats import series

    X, y = _data(24)
    net = small_net(dropout=0.5)
    h = net.fit(X, y, iterations=9, lr=0.01, batch_size=8, record="layers", record_every=4, progress=False)
    assert h.record_steps == [0, 4, 8]
    tags = set(h.snapshots[0]["tensors"])
    for name in ("conv1", "conv2", "dense1", "dense2"):
        assert {f"{name}/{q}" for q in ("weights", "biases", "preact", "act")} <= tags
    assert {"pool1/pooled"} <= tags
    st = h.snapshots[0]["tensors"]["conv1/preact"]
    assert st["min"] <= st["mean"] <= st["max"] and st["std"] > 0 and st["hist"][0].sum() == 8 * 3 * 7 * 6
    relu = h.snapshots[0]["tensors"]["conv1/act"]
    assert relu["min"] >= 0 and relu["max"] == pytest.approx(max(st["max"], 0))
    s = series(h)
    assert list(s["dense2/weights"]["steps"]) == [0, 4, 8]
    assert h.layers["weight_mean"].shape == (3, 4)


# ------------------------------------------------------------------ TensorBoard, figures, experiments
def test_tensorboard_writes_every_layer_and_quantity(tmp_path):
    from test_tensorboard import read_events

    from fastnn.tensorboard import TensorBoardCallback

    X, y = _data(24)
    net = small_net(dropout=0.5)
    with TensorBoardCallback(tmp_path / "run", every=2, histograms_every=2, layer_stats=2, step_scalars=True,
                             probe=10) as tb:
        net.fit(X, y, iterations=6, lr=0.01, batch_size=8, callbacks=[tb], progress=False)
    scalars, hists = read_events(tmp_path / "run")
    for name in ("conv1", "conv2", "dense1", "dense2"):
        for q in ("weights", "biases", "preact", "act", "grad_weights"):
            assert [s for s, _ in hists[f"{name}/{q}"]] == [2, 4, 6], (name, q)
            for stat in ("min", "max", "mean", "std"):
                assert len(scalars[f"{name}/{q}/{stat}"]) == 3
    assert [s for s, _ in hists["pool1/pooled"]] == [2, 4, 6]
    # the last histogram of conv1's weights is the final weights
    W = net.layer_params[0]["W"]
    assert scalars["conv1/weights/max"][-1][1] == pytest.approx(float(W.max()), rel=1e-6)
    assert hists["conv1/weights"][-1][1].num == W.size
    assert scalars["pool1/pooled/min"][-1][1] >= 0  # max-pooled ReLU outputs


def test_cnn_figures(tmp_path):
    from fastnn import viz

    X, y = _data(16)
    net = small_net()
    h = net.fit(X, y, iterations=4, lr=0.01, batch_size=8, record="layers", record_every=1, progress=False)
    for fig in (viz.cnn_filters(net), viz.cnn_feature_maps(net, X[0]), viz.cnn_layer_stats(h)):
        assert not viz.image_is_blank(fig)
    maps = net.feature_maps(X[0].ravel())
    assert [name for name, _ in maps][:3] == ["conv1", "pool1", "conv2"] and maps[0][1].shape == (3, 7, 6)
    with pytest.raises(ValueError, match="record='layers'"):
        viz.cnn_layer_stats(net.fit(X, y, iterations=1, progress=False))


def test_group_e_runs_and_writes_its_outputs(tmp_path):
    from test_tensorboard import read_events

    from fastnn.experiments.runner import run_experiments

    summary = run_experiments(["E"], out=tmp_path, quick=True, overrides={"n_train": 128, "n_test": 64},
                              progress=False)
    assert summary.failed == [] and [s["id"] for s in summary.sections] == ["E1", "E2", "E3"]
    for exp, fig in (("E1", "e1_adam_vs_sgd"), ("E2", "e2_relu_vs_tanh"), ("E3", "e3_layer_stats"),
                     ("E3", "e3_filters"), ("E3", "e3_feature_maps")):
        assert (tmp_path / exp / f"{fig}.png").stat().st_size > 1000
    e1, e2, e3 = summary.sections
    assert [r["name"] for r in e1["runs"]] == ["Adam + ReLU", "SGD + ReLU"]
    assert e1["runs"][0]["metrics"]["reference_accuracy"] == 0.974
    assert e2["runs"][1]["metrics"]["reference_accuracy"] == 0.985
    assert any("same run as E1" in n for n in e2["notes"])  # SGD + ReLU trained once
    assert any("tensorboard --logdir" in n for n in e3["notes"])
    _, hists = read_events(tmp_path / "E3" / "tensorboard" / "adam_relu")
    assert {"conv1/weights", "conv2/preact", "pool2/pooled", "dense1/act"} <= set(hists)


def test_train_cnn_example(tmp_path):
    from test_examples import assert_pngs, run_example

    proc, out = run_example("train_cnn.py", tmp_path)
    assert "test accuracy" in proc.stdout and "total 21840 parameters" in proc.stdout
    assert_pngs(out, "cnn_filters.png", "cnn_feature_maps.png")
    assert (out / "course_cnn.npz").is_file()


def test_one_hot_targets_train_like_labels_and_the_model_pickles():
    import pickle

    X, y = _data(12)
    a, b = small_net(), small_net()
    a.fit(X, y, iterations=2, lr=0.05, batch_size=4, seed=0, progress=False)
    b.fit(X, np.eye(3)[y], iterations=2, lr=0.05, batch_size=4, seed=0, progress=False)
    np.testing.assert_array_equal(a.params, b.params)
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.predict_proba(X), a.predict_proba(X))
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        a.fit(X, y + 3, iterations=1, progress=False)


def test_bench_w8_w9_smoke_and_peers_agree(monkeypatch):
    """bench/cnn_workloads at a tiny size: the fastnn callables and the GEMM floor run, and W9's
    probabilities equal PyTorch's / JAX's for the same parameters (when installed)."""
    import sys
    from pathlib import Path

    # the checkout goes at the *end* of sys.path and only for this test: at its front it would make
    # processes spawned later (the dask workers of test_dask) import the uncompiled source tree
    monkeypatch.setattr(sys, "path", sys.path + [str(Path(__file__).resolve().parent.parent)])
    from bench import cnn_workloads, workloads

    w8, w9 = workloads.make("w8", scale=0.002), workloads.make("w9", scale=0.005)
    assert w8["X"].shape == (120, 1, 28, 28) and w9["X"].shape == (50, 1, 28, 28)
    fn, _ = cnn_workloads.callable_for("fastnn-auto", "w8", w8)
    assert np.isfinite(fn())
    cnn_workloads.floor("w8", w8)()
    P = cnn_workloads.callable_for("fastnn-auto", "w9", w9)[0]()
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
    for peer in ("torch", "jax"):
        try:
            Q = cnn_workloads.callable_for(peer, "w9", w9)[0]()
        except ImportError:
            continue
        np.testing.assert_allclose(P, Q, rtol=1e-4, atol=1e-5, err_msg=peer)
