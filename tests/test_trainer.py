"""The shared trainer: divergence rolls back to usable parameters on every engine and optimiser,
an exploding finite loss counts as divergence, engines can be forced, the optimiser state is an
object of its own, and fit's options are checked once (FitConfig)."""
import inspect

import numpy as np
import pytest

import fastnn
from fastnn.train import FitConfig, make_optimizer
from fastnn.train.optim import SGD, Adam, Momentum

from conftest import BACKENDS

ENGINES = [("numpy", "kernels")] + [(b, e) for b, e in [("cython", "cloop"), ("cython", "kernels"), ("numba", "loop"),
                                                         ("numba", "kernels")] if b in BACKENDS]


@pytest.mark.parametrize("backend,engine", ENGINES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [None, 8])
def test_divergence_leaves_a_model_that_predicts_finite_outputs(backend, engine, optimizer, batch_size, moons):
    """lr = 1e37 blows up within a few steps: the model is rolled back to the parameters of the
    last finite loss, so predict_proba is finite and sums to 1 on the training data."""
    if backend == "numba" and engine == "kernels" and batch_size:
        pytest.skip("the numba backend trains mini-batches in its compiled loop")
    X, y = moons[0][:64], moons[1][:64]
    model = fastnn.DeepMLP([2, 8, 2], activation="tanh", backend=backend, seed=0)
    with pytest.raises(fastnn.TrainingDiverged, match="lower the learning rate") as info:
        model.fit(X, y, epochs=5, batch_size=batch_size, lr=1e37, optimizer=optimizer, progress=False,
                  engine=engine)
    P = model.predict_proba(X)
    assert np.all(np.isfinite(P)) and np.allclose(P.sum(axis=1), 1, atol=1e-5)
    assert np.all(np.isfinite(model.params))
    h = info.value.history
    assert h.stopped == "diverged" and len(h.step_loss) == h.steps and np.all(np.isfinite(h.step_loss))


@pytest.mark.parametrize("backend,engine", ENGINES)
def test_mse_regression_at_a_huge_rate_keeps_finite_predictions(backend, engine, moons):
    X = moons[0][:50]
    y = X[:, :1] * 3.0
    model = fastnn.DeepMLP([2, 6, 1], activation="tanh", output="linear", loss="mse", dtype=np.float64,
                           backend=backend, seed=1)
    with pytest.raises(fastnn.TrainingDiverged):
        model.fit(X, y, iterations=200, lr=1e6, progress=False, engine=engine)
    assert np.all(np.isfinite(model.predict(X)))


def test_exploding_finite_loss_counts_as_divergence(moons):
    """Softmax CE at lr = 1e30 stays finite (1.1 → 1e29) but explodes: divergence, rolled back to the
    parameters whose loss it was; divergence_factor=None turns the test off."""
    X, y = moons[0][:100], moons[1][:100]
    model = fastnn.DeepMLP([2, 8, 2], activation="relu", dtype=np.float64, seed=0)
    with pytest.raises(fastnn.TrainingDiverged, match="exploded") as info:
        model.fit(X, y, iterations=50, lr=1e30, progress=False)
    h = info.value.history
    assert max(h.step_loss) <= 1e6 * max(h.step_loss[0], 1e-3)
    loss_now = model.evaluate(X, y)[0]
    assert np.isfinite(loss_now) and np.all(np.isfinite(model.predict_proba(X)))
    free = fastnn.DeepMLP([2, 8, 2], activation="relu", dtype=np.float64, seed=0)
    h2 = free.fit(X, y, iterations=5, lr=1e30, progress=False, divergence_factor=None, on_divergence="stop")
    assert max(h2.step_loss) > 1e6 * h2.step_loss[0]


def test_rollback_replays_exactly_the_steps_before_the_bad_one(moons):
    """The rolled-back model equals a fresh run stopped just before the step that diverged."""
    X, y = moons[0][:100], moons[1][:100]
    kwargs = dict(activation="relu", output="linear", loss="mse", seed=0, dtype=np.float64)
    Y = np.eye(2)[y] * 1e3
    model = fastnn.DeepMLP([2, 8, 2], **kwargs)
    h = model.fit(X, Y, iterations=500, lr=10.0, reduction="sum", progress=False, on_divergence="stop",
                  divergence_factor=None)
    assert h.stopped == "diverged" and h.steps >= 1
    ref = fastnn.DeepMLP([2, 8, 2], **kwargs)
    ref.fit(X, Y, iterations=h.steps, lr=10.0, reduction="sum", progress=False, divergence_factor=None)
    np.testing.assert_array_equal(model.params, ref.params)


@pytest.mark.parametrize("engine", ["kernels", "cloop", "loop"])
def test_engine_can_be_forced(engine, moons):
    needs = {"cloop": "cython", "loop": "numba", "kernels": "numpy"}[engine]
    if needs not in BACKENDS:
        pytest.skip(f"{needs} backend missing")
    X, y = moons[0][:100], moons[1][:100]
    model = fastnn.DeepMLP([2, 5, 2], seed=0, dtype=np.float64)
    h = model.fit(X, y, iterations=3, progress=False, engine=engine)
    assert h.params["engine"].endswith({"kernels": "kernels", "cloop": "cython-loop", "loop": "numba-loop"}[engine])
    with pytest.raises(ValueError, match="engine"):
        model.fit(X, y, iterations=1, progress=False, engine="gpu")


def test_forced_loop_engine_on_a_mismatched_backend_is_refused(moons):
    X, y = moons[0][:50], moons[1][:50]
    model = fastnn.DeepMLP([2, 5, 2], seed=0, backend="numpy")
    with pytest.raises(ValueError, match="backend"):
        model.fit(X, y, iterations=1, progress=False, engine="cloop")


def test_optimiser_state_carries_over_between_fits_of_the_same_kind(moons):
    """Two fits of 10 Adam steps equal one fit of 20 (full batch: no shuffling in between)."""
    X, y = moons[0][:100], moons[1][:100]
    a = fastnn.DeepMLP([2, 6, 2], seed=3, dtype=np.float64)
    a.fit(X, y, iterations=10, lr=0.05, optimizer="adam", progress=False)
    assert isinstance(a.optimizer_, Adam) and a.optimizer_.t == 10
    a.fit(X, y, iterations=10, lr=0.05, optimizer="adam", progress=False)
    b = fastnn.DeepMLP([2, 6, 2], seed=3, dtype=np.float64)
    b.fit(X, y, iterations=20, lr=0.05, optimizer="adam", progress=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)
    a.fit(X, y, iterations=1, lr=0.05, optimizer="momentum", progress=False)
    assert isinstance(a.optimizer_, Momentum) and a.optimizer_.t == 1


def test_adam_step_by_hand():
    """One Adam step on a 1-parameter-per-layer net equals the update rule worked out by hand."""
    X = np.array([[1.0], [2.0]])
    Y = np.array([[0.5], [1.0]])
    model = fastnn.DeepMLP([1, 1], output="linear", loss="mse", bias=False, dtype=np.float64, backend="numpy")
    model.set_params([np.array([[0.3]])])
    model.fit(X, Y, iterations=1, lr=0.1, optimizer="adam", betas=(0.9, 0.99), eps=1e-8, reduction="mean",
              progress=False)
    g = np.mean(2 * (X[:, 0] * 0.3 - Y[:, 0]) * X[:, 0])  # d/dw mean (w·x − y)²
    m, v = 0.1 * g, 0.01 * g * g
    w = 0.3 - 0.1 * (m / 0.1) / (np.sqrt(v / 0.01) + 1e-8)
    assert model.weights[0][0, 0] == pytest.approx(w, rel=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    (dict(momentum=-0.1), r"momentum must be in \[0, 1\)"),
    (dict(momentum=1.0), r"momentum must be in \[0, 1\)"),
    (dict(momentum=float("nan")), "momentum must be finite"),
    (dict(momentum="0.9"), "momentum must be a real number"),
])
def test_momentum_is_validated_once(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Momentum(**kwargs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(betas=(1.0, 0.999)), r"beta1\) must be in \[0, 1\)"),
    (dict(betas=(0.9, -0.1)), r"beta2\) must be in \[0, 1\)"),
    (dict(betas=(0.9,)), "betas must be a pair"),
    (dict(betas="ab"), "betas must be a pair"),
    (dict(eps=0), "eps must be > 0"),
    (dict(eps=-1e-8), "eps must be > 0"),
    (dict(weight_decay=-1), "weight_decay must be"),
])
def test_adam_is_validated_once(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Adam(**kwargs)


def test_make_optimizer():
    assert isinstance(make_optimizer("sgd"), SGD)
    assert make_optimizer("momentum", momentum=0.5).momentum == 0.5
    assert make_optimizer("adam", betas=(0.8, 0.9)).betas == (0.8, 0.9)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("rmsprop")


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(validation_every=0), ValueError, "validation_every"),
    (dict(validation_every="1"), TypeError, "validation_every"),
    (dict(callbacks=None), TypeError, "callbacks"),
    (dict(callbacks=[object()]), TypeError, "callbacks"),
    (dict(schedule=("cosine",)), ValueError, "schedule"),
    (dict(schedule=("cosine", {"cycle": 2})), ValueError, "schedule"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(shuffle="no"), TypeError, "shuffle"),
    (dict(progress="yes"), TypeError, "progress"),
    (dict(divergence_factor=0.5), ValueError, "divergence_factor"),
    (dict(record="all"), ValueError, "record"),
    (dict(on_divergence="ignore"), ValueError, "on_divergence"),
])
def test_fit_options_are_checked_by_name(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        FitConfig(**kwargs)


def test_fit_signature_is_generated_from_fitconfig():
    params = inspect.signature(fastnn.DeepMLP.fit).parameters
    assert list(params)[:3] == ["self", "X", "y"]
    assert params["lr"].default == 0.01 and params["engine"].default == "auto"
    assert set(params) - {"self", "X", "y"} == set(inspect.signature(FitConfig).parameters)


def test_validation_data_errors_name_the_validation_set(moons):
    X, y = moons[0][:40], moons[1][:40]
    model = fastnn.DeepMLP([2, 4, 2], seed=0)
    with pytest.raises(ValueError, match="validation X has 3 features"):
        model.fit(X, y, iterations=1, progress=False, validation_data=(np.zeros((5, 3)), y[:5]))
    with pytest.raises(ValueError, match="validation"):
        model.fit(X, y, iterations=1, progress=False, validation_data=(X[:5], y[:4]))
    with pytest.raises(TypeError, match="scalar"):
        model.fit(X, np.int64(1), iterations=1, progress=False)


def test_loss_and_gradients_leaves_the_optimiser_alone(moons):
    X, y = moons[0][:60], moons[1][:60]
    model = fastnn.DeepMLP([2, 5, 2], seed=0, dtype=np.float64)
    model.fit(X, y, iterations=3, optimizer="adam", lr=0.01, progress=False)
    state = (model.optimizer_.t, model.optimizer_.m1.copy(), model.optimizer_.m2.copy(), model.params.copy())
    model.loss_and_gradients(X, y)
    assert model.optimizer_.t == state[0]
    assert np.array_equal(model.optimizer_.m1, state[1]) and np.array_equal(model.optimizer_.m2, state[2])
    assert np.array_equal(model.params, state[3])
