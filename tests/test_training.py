"""Training: a step by hand, identical trajectories across backends/engines, learning, control flow."""
import numpy as np
import pytest

import fastnn
from fastnn import config, engines
from fastnn.callbacks import Callback

from conftest import BACKENDS


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_one_sgd_step_by_hand():
    """784-256-128-10-style net in miniature: sigmoid everywhere, MSE, no bias, lr·Σ."""
    X = np.array([[0.5, -1.0], [1.5, 0.25], [-0.5, 0.75]])
    y = np.array([0, 1, 1])
    T = np.eye(2)[y]
    W1 = np.array([[0.1, -0.2], [0.3, 0.4]])
    W2 = np.array([[0.5, -0.6], [-0.7, 0.8]])
    lr = 0.1
    # by hand: loss Σ(a2 − t)², δ2 = 2(a2 − t)·a2(1 − a2), δ1 = δ2·W2ᵀ·a1(1 − a1)
    a1 = _sigmoid(X @ W1)
    a2 = _sigmoid(a1 @ W2)
    d2 = 2 * (a2 - T) * a2 * (1 - a2)
    d1 = (d2 @ W2.T) * a1 * (1 - a1)
    W1_new, W2_new = W1 - lr * X.T @ d1, W2 - lr * a1.T @ d2
    for backend in BACKENDS:
        model = fastnn.DeepMLP([2, 2, 2], activation="sigmoid", output="sigmoid", loss="mse", bias=False,
                               dtype=np.float64, backend=backend)
        model.set_params([W1, W2])
        h = model.fit(X, y, iterations=1, lr=lr, reduction="sum", progress=False)
        np.testing.assert_allclose(model.weights[0], W1_new, rtol=1e-13)
        np.testing.assert_allclose(model.weights[1], W2_new, rtol=1e-13)
        assert h.loss[0] == pytest.approx(np.sum((a2 - T) ** 2) / 3, rel=1e-13)


def _engines_params():
    out = [("numpy", None), ("cython", "kernels"), ("cython", "loop"), ("numba", "kernels"), ("numba", "loop")]
    return [p for p in out if p[0] in BACKENDS]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_same_trajectory_on_every_backend(optimizer, batch_size, moons, monkeypatch):
    X, y = moons[0][:100], moons[1][:100]
    results = {}
    for backend, engine in _engines_params():
        force = "kernels" if engine == "kernels" else "auto"  # small nets: auto runs the whole loops
        if backend == "numba" and engine == "kernels" and batch_size is not None:
            continue  # the numba backend always uses its compiled loop for mini-batches
        model = fastnn.DeepMLP([2, 6, 5, 2], activation=["tanh", "relu"], k=[1.3, 1.0], init="he",
                               dtype=np.float64, backend=backend, seed=7)
        h = model.fit(X, y, iterations=50, lr=0.05, batch_size=batch_size, optimizer=optimizer,
                      weight_decay=1e-3, seed=3, progress=False, engine=force)
        assert h.steps == 50
        results[f"{backend}-{engine}"] = (model.params.copy(), np.array(h.step_loss))
    ref_theta, ref_loss = results.pop("numpy-None")
    assert len(results) >= 1
    for name, (theta, loss) in results.items():
        np.testing.assert_allclose(theta, ref_theta, rtol=1e-10, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-10, err_msg=name)


def test_learns_moons(moons):
    X, y = moons
    model = fastnn.DeepMLP([2, 16, 16, 2], activation="tanh", init="xavier", seed=0)
    model.fit(X[:800], y[:800], epochs=300, lr=0.1, batch_size=32, optimizer="momentum", progress=False)
    assert model.score(X[800:], y[800:]) >= 0.97


@pytest.mark.parametrize("backend", BACKENDS)
def test_seeded_runs_are_reproducible_bit_for_bit(backend, moons):
    X, y = moons[0][:200], moons[1][:200]
    thetas = []
    for _ in range(2):
        model = fastnn.DeepMLP([2, 8, 2], activation="tanh", seed=5, backend=backend)
        model.fit(X, y, epochs=3, batch_size=20, lr=0.1, seed=11, progress=False)
        thetas.append(model.params.copy())
    assert np.array_equal(thetas[0], thetas[1])


def test_history_and_validation(moons):
    X, y = moons
    model = fastnn.MLP(2, 8, 2, activation="tanh", seed=0)
    h = model.fit(X[:600], y[:600], epochs=4, batch_size=100, lr=0.2, validation_data=(X[600:], y[600:]),
                  progress=False)
    assert len(h.loss) == len(h.accuracy) == len(h.val_loss) == len(h.val_accuracy) == 4
    assert len(h.step_loss) == len(h.lr) == 24 and h.steps == 24 and h.epochs == 4
    assert h.loss[-1] < h.loss[0]
    assert 0 <= h.val_accuracy[-1] <= 1
    assert h.as_dict()["steps"] == 24


def test_divergence_stops_with_a_clear_error(moons):
    X, y = moons[0][:100], moons[1][:100]
    model = fastnn.DeepMLP([2, 8, 2], activation="relu", output="linear", loss="mse", seed=0,
                           dtype=np.float64)
    Y = np.eye(2)[y] * 1e3
    with pytest.raises(fastnn.TrainingDiverged, match="NaN in activations — lower the learning rate") as info:
        model.fit(X, Y, iterations=500, lr=10.0, reduction="sum", progress=False)
    h = info.value.history
    assert h.stopped == "diverged" and 0 < h.steps < 500
    assert np.all(np.isfinite(model.params))
    model2 = fastnn.DeepMLP([2, 8, 2], activation="relu", output="linear", loss="mse", seed=0, dtype=np.float64)
    with pytest.warns(RuntimeWarning, match="diverged"):
        h2 = model2.fit(X, Y, iterations=500, lr=10.0, reduction="sum", progress=False, on_divergence="stop")
    assert h2.stopped == "diverged" and h2.steps == h.steps


def test_early_stopping_restores_best(moons):
    X, y = moons
    model = fastnn.MLP(2, 4, 2, activation="tanh", seed=0)
    stopper = fastnn.EarlyStopping(monitor="val_loss", patience=2, min_delta=1e9)
    h = model.fit(X[:500], y[:500], epochs=50, batch_size=50, lr=0.1, validation_data=(X[500:], y[500:]),
                  callbacks=[stopper], progress=False)
    assert h.stopped == "early_stopping" and h.epochs == 3


def test_interrupt_keeps_model_and_history(moons):
    X, y = moons[0][:100], moons[1][:100]

    class StopAt(Callback):
        def on_step_end(self, trainer, step, logs):
            if step == 4:
                raise KeyboardInterrupt

    ref = fastnn.DeepMLP([2, 5, 2], activation="tanh", seed=2, dtype=np.float64)
    ref.fit(X, y, iterations=5, lr=0.1, progress=False)
    model = fastnn.DeepMLP([2, 5, 2], activation="tanh", seed=2, dtype=np.float64)
    with pytest.raises(fastnn.TrainingInterrupted) as info:
        model.fit(X, y, iterations=100, lr=0.1, callbacks=[StopAt()], progress=False)
    h = info.value.history
    assert h.stopped == "interrupted" and h.steps == 5 and len(h.loss) == 5
    np.testing.assert_array_equal(model.params, ref.params)
    assert model.history_ is h


def test_record_layers(moons):
    X, y = moons[0][:200], moons[1][:200]
    model = fastnn.DeepMLP([2, 9, 6, 2], activation="relu", init="he", seed=0)
    h = model.fit(X, y, iterations=30, lr=0.1, record="layers", record_every=10, progress=False)
    assert h.record_steps == [0, 10, 20]
    layers = h.layers
    assert layers["act_mean"].shape == (3, 3)
    assert np.all(layers["update_magnitude"] > 0)
    assert len(h.snapshots[0]["weight_unit_mean"][0]) == 2 and len(h.snapshots[0]["act_unit_mean"][1]) == 6
    # dead units: a ReLU layer with very negative biases is dead for every input
    dead = fastnn.DeepMLP([2, 9, 2], activation="relu", seed=0)
    dead.biases[0][:4] = -100
    hd = dead.fit(X, y, iterations=2, lr=0.01, record="layers", record_every=1, progress=False)
    assert hd.layers["dead_units"][0][0] >= 4


def test_schedules():
    from fastnn.schedules import learning_rates

    lrs = learning_rates(("cosine", {"lr_min": 0.1, "cycles": 2}), 1.0, 100)
    assert lrs[0] == pytest.approx(1.0) and lrs[50] == pytest.approx(1.0)
    assert lrs[25] == pytest.approx(0.55) and lrs.min() >= 0.1
    assert learning_rates(("step", {"step_size": 10, "gamma": 0.5}), 1.0, 30)[25] == 0.25
    with pytest.raises(ValueError, match="unknown schedule"):
        learning_rates("nope", 1.0, 10)


def test_sum_and_mean_reduction_relate_by_n(moons):
    X, y = moons[0][:64], moons[1][:64]
    a = fastnn.MLP(2, 4, 2, seed=1, dtype=np.float64)
    b = fastnn.MLP(2, 4, 2, seed=1, dtype=np.float64)
    a.fit(X, y, iterations=3, lr=0.01, reduction="sum", progress=False)
    b.fit(X, y, iterations=3, lr=0.01 * 64, reduction="mean", progress=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)


def test_set_num_threads():
    n = fastnn.set_num_threads(1)
    assert n == 1 and fastnn.get_num_threads() == 1
    from threadpoolctl import threadpool_info

    assert all(info["num_threads"] == 1 for info in threadpool_info() if info["user_api"] == "blas")
    fastnn.set_num_threads(2)
    with pytest.raises(ValueError):
        fastnn.set_num_threads(0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("batch_size", [None, 140])
def test_row_blocked_steps_match_whole_batch_steps(backend, optimizer, batch_size, moons, monkeypatch):
    """Large steps run block by block (gradients accumulated with BLAS beta = 1; on the Cython
    backend the blocks are spread over two worker threads with their own gradients): the
    trajectory, the accuracy history and loss_and_gradients are those of whole-batch steps.
    Batches of 140 end with a batch of 20 rows, one block: the second worker stays idle."""
    if backend == "numba" and batch_size:
        pytest.skip("the numba backend trains mini-batches in its compiled loop")
    X, y = moons[0][:300], moons[1][:300]  # 300 rows: blocks of 32 leave a partial last block
    runs = {}
    for block in (32, 10**9):
        monkeypatch.setattr(config, "ROW_BLOCK", block)
        model = fastnn.DeepMLP([2, 6, 5, 2], activation=["tanh", "sigmoid"], init="he", dtype=np.float64,
                               backend=backend, seed=7)
        grads = model.loss_and_gradients(X, y)
        h = model.fit(X, y, iterations=20, lr=0.1, optimizer=optimizer, weight_decay=1e-3,
                      batch_size=batch_size, shuffle=False, progress=False, engine="kernels")
        assert h.params["engine"].endswith("kernels")
        runs[block] = (model.params.copy(), h.loss, h.accuracy, grads)
    (theta_b, loss_b, acc_b, g_b), (theta, loss, acc, g) = runs[32], runs[10**9]
    np.testing.assert_allclose(theta_b, theta, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss_b, loss, rtol=1e-10)
    assert acc_b == acc
    assert g_b[0] == pytest.approx(g[0], rel=1e-12)
    for a, b in zip(g_b[1] + g_b[2], g[1] + g[2]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_row_blocked_step_stops_on_a_non_finite_block(moons, monkeypatch):
    """A NaN loss in any block stops the step before the update (divergence handling unchanged)."""
    monkeypatch.setattr(config, "ROW_BLOCK", 32)
    X, y = moons[0][:300], moons[1][:300]
    model = fastnn.DeepMLP([2, 6, 2], activation="relu", dtype=np.float64, backend="numpy", seed=0)
    h = model.fit(X, y, iterations=50, lr=1e6, on_divergence="stop", progress=False, engine="kernels")
    assert h.stopped == "diverged"
    assert np.all(np.isfinite(model.params))


def _wide_data(n=100, d=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)
    return X, np.minimum(y, classes - 1)


@pytest.mark.skipif("cython" not in BACKENDS, reason="the C loop is part of the Cython backend")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_size", [None, 24])  # 100 rows: a last batch of 4
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("blas_min_weights", [0, 32])  # every layer through BLAS / only the two wide ones
@pytest.mark.parametrize("optimizer,weight_decay", [("sgd", 0.0), ("momentum", 1e-3)])  # SGD: fused update
def test_c_loop_blas_products_follow_the_reference(dtype, batch_size, bias, blas_min_weights, optimizer,
                                                   weight_decay, monkeypatch):
    """The C loop's BLAS products (sgemm/dgemm through scipy; a mini-batch's first layer reads its
    rows sample-major; plain SGD steps inside the weight-gradient GEMM) give the 50-step trajectory
    of the NumPy reference and of the hand loops."""
    X, y = _wide_data()
    runs = {}
    for name, backend, min_weights in [("reference", "numpy", -1), ("blas", "cython", blas_min_weights),
                                       ("hand loops", "cython", -1)]:
        monkeypatch.setattr(config, "CLOOP_BLAS_MIN_WEIGHTS", min_weights)
        model = fastnn.DeepMLP([5, 12, 7, 3], activation=["tanh", "relu"], bias=bias, init="he", dtype=dtype,
                               backend=backend, seed=3)
        h = model.fit(X, y, iterations=50, lr=0.05, batch_size=batch_size, optimizer=optimizer,
                      weight_decay=weight_decay, seed=1, progress=False)
        assert h.params["engine"] == ("numpy-kernels" if backend == "numpy" else "cython-loop")
        runs[name] = (model.params.copy(), np.array(h.step_loss), h.accuracy)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    ref_theta, ref_loss, ref_acc = runs.pop("reference")
    for name, (theta, loss, acc) in runs.items():
        np.testing.assert_allclose(theta, ref_theta, err_msg=name, **tol)
        np.testing.assert_allclose(loss, ref_loss, err_msg=name, **tol)
        if dtype == np.float64:
            assert acc == ref_acc, name


@pytest.mark.skipif("cython" not in BACKENDS, reason="the C loop is part of the Cython backend")
@pytest.mark.parametrize("output,loss", [("softmax", "cross_entropy"), ("sigmoid", "bce"), ("sigmoid", "mse"),
                                         ("linear", "mse")])
def test_c_loop_losses_and_accuracy_follow_the_reference(output, loss, moons):
    """Every loss of the C loop (log-sum-exp once per sample, lane-wise sums) and its vectorised
    correct count, against the NumPy reference; one output unit counts a > 0.5 as class 1."""
    X, y = moons[0][:200], moons[1][:200]
    for n_out in (2, 1) if loss == "bce" else (2,):
        target = np.eye(2)[y] if output == "linear" else y  # linear: regression, no correct count
        runs = []
        for backend in ("numpy", "cython"):
            model = fastnn.DeepMLP([2, 5, n_out], activation="tanh", output=output, loss=loss, dtype=np.float64,
                                   backend=backend, seed=2)
            h = model.fit(X, target, iterations=30, lr=0.2, progress=False)
            runs.append((model.params.copy(), h.loss, h.accuracy, h.params["engine"]))
        (ref_theta, ref_loss, ref_acc, _), (theta, loss_c, acc, engine) = runs
        assert engine == "cython-loop"
        np.testing.assert_allclose(theta, ref_theta, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(loss_c, ref_loss, rtol=1e-10)
        assert acc == ref_acc


def test_auto_engine_choice():
    """auto: the C loop for every step up to CLOOP_MAX_WORK multiply-adds and CLOOP_MAX_UNITS rows ×
    units (per-sample SGD and mini-batches of wide layers included), the kernel engine beyond;
    forced backends keep theirs."""
    if "cython" not in BACKENDS:
        pytest.skip("the C loop is part of the Cython backend")
    w2, w1 = [784, 300, 10], [784, 256, 128, 10]
    assert engines.choose_engine("auto", 64, False, w2)[0] == "cloop"         # W2
    assert engines.choose_engine("auto", 1, False, w2)[0] == "cloop"          # W4
    assert engines.choose_engine("auto", 200, True, [2, 3, 2])[0] == "cloop"  # W3
    assert engines.choose_engine("auto", 4000, True, w2)[0] == "cloop"
    kind, backend = engines.choose_engine("auto", 60000, True, w1)            # W1
    assert kind == "kernels" and backend.NAME == "cython"
    assert engines.choose_engine("auto", 10**6, True, [2, 16, 16, 2])[0] == "kernels"  # memory of A, D
    assert engines.choose_engine("cython", 64, False, w2)[0] == "cloop"
    if "numba" in BACKENDS:
        assert engines.choose_engine("numba", 64, False, w2)[0] == "loop"
    assert engines.choose_engine("numpy", 64, False, w2)[0] == "kernels"


@pytest.mark.skipif("cython" not in BACKENDS, reason="the C loop is part of the Cython backend")
@pytest.mark.parametrize("batch_size", [None, 24, 32])  # 32: batches of consecutive rows, read in place
def test_c_loop_fused_sgd_keeps_grad_and_is_split_independent(batch_size):
    """With the SGD step fused into the weight-gradient GEMM, trainer.grad still is the last step's
    gradient (recomputed on read), and the trajectory does not depend on how the steps are split
    into compiled calls (one call per step here, as step callbacks force, against large chunks)."""
    X, y = _wide_data()

    class Grads(Callback):
        def __init__(self):
            self.grads = []

        def on_step_end(self, trainer, step, logs):
            self.grads.append(trainer.grad.copy())

    runs = {}
    for backend, hook in [("numpy", True), ("cython", True), ("cython", False)]:
        model = fastnn.DeepMLP([5, 12, 7, 3], activation="sigmoid", init="he", dtype=np.float64,
                               backend=backend, seed=4)
        cb = Grads()
        h = model.fit(X, y, iterations=30, lr=0.1, batch_size=batch_size, shuffle=batch_size != 32, seed=2,
                      callbacks=[cb] if hook else [], progress=False)
        runs[backend, hook] = (model.params.copy(), np.array(h.step_loss), cb.grads)
    (ref, ref_loss, ref_grads), (hooked, hooked_loss, grads), (free, free_loss, _) = runs.values()
    assert np.array_equal(hooked, free) and np.array_equal(hooked_loss, free_loss)
    np.testing.assert_allclose(hooked, ref, rtol=1e-10, atol=1e-12)
    assert len(grads) == len(ref_grads) == 30
    for g, g_ref in zip(grads, ref_grads):
        np.testing.assert_allclose(g, g_ref, rtol=1e-9, atol=1e-12)
