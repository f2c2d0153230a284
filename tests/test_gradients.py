"""Central-difference gradient checks (float64) for every activation × output/loss × bias."""
import numpy as np
import pytest

import fastnn

from conftest import BACKENDS

HIDDEN = [("sigmoid", 1.0), ("sigmoid", 2.0), ("tanh", 1.0), ("tanh", 0.7), ("relu", 1.0), ("relu6", 1.0),
          ("leaky_relu", 1.0), ("linear", 1.0)]
HEADS = [("softmax", "cross_entropy"), ("sigmoid", "bce"), ("sigmoid", "mse"), ("linear", "mse"),
         ("tanh", "mse")]


def _numeric_grad(model, X, y, h=1e-6):
    theta = model.params
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        old = theta[i]
        theta[i] = old + h
        up = model.evaluate(X, y)[0]
        theta[i] = old - h
        down = model.evaluate(X, y)[0]
        theta[i] = old
        grad[i] = (up - down) / (2 * h) * X.shape[0]  # gradient of the summed loss
    return grad


def _analytic(model, X, y, engine="kernels"):
    _, dWs, dbs = model.loss_and_gradients(X, y, reduction="sum", engine=engine)
    flat = np.zeros_like(model.params)
    for l, (dW, db) in enumerate(zip(dWs, dbs)):
        model.parameters.view(flat, f"W{l}")[...] = dW
        if db is not None:
            model.parameters.view(flat, f"b{l}")[...] = db
    return flat


# every engine computes gradients through the same protocol (Engine.gradient)
ENGINES = [("numpy", "kernels")] + [(b, e) for b, e in [("cython", "kernels"), ("cython", "cloop"),
                                                         ("numba", "kernels"), ("numba", "loop")] if b in BACKENDS]


def _problem(rng, output, n=6):
    X = rng.standard_normal((n, 3))
    if output == "linear" or output == "tanh":
        y = rng.uniform(-0.8, 0.8, (n, 2)) if output == "tanh" else rng.standard_normal((n, 2))
    else:
        y = rng.integers(0, 2, n)
    return X, y


@pytest.mark.parametrize("act,k", HIDDEN)
@pytest.mark.parametrize("output,loss", HEADS)
@pytest.mark.parametrize("bias", [True, False])
def test_gradient_matches_central_differences(act, k, output, loss, bias, rng):
    _check_central_differences(act, k, output, loss, bias, rng, "numpy", "kernels")


@pytest.mark.parametrize("backend,engine", ENGINES[1:])
@pytest.mark.parametrize("act,k", [("sigmoid", 2.0), ("tanh", 0.7), ("relu", 1.0), ("leaky_relu", 1.0)])
@pytest.mark.parametrize("output,loss", HEADS)
def test_every_engine_matches_central_differences(backend, engine, act, k, output, loss, rng):
    """The whole-loop engines (C, Numba) and the compiled kernel engines pass the same check."""
    _check_central_differences(act, k, output, loss, True, rng, backend, engine)


def _check_central_differences(act, k, output, loss, bias, rng, backend, engine):
    X, y = _problem(rng, output)
    model = fastnn.DeepMLP([3, 4, 3, 2], activation=act, k=k, output=output, loss=loss, bias=bias,
                           init="xavier", dtype=np.float64, backend=backend, seed=1, output_k=1.3)
    if bias:  # non-zero biases so their effect is tested too
        for b in model.biases:
            b[...] = rng.standard_normal(b.shape) * 0.3
    if act in ("relu", "relu6", "leaky_relu"):  # keep pre-activations away from the kink
        model.weights[0][...] *= 2
    analytic = _analytic(model, X, y, engine)
    numeric = _numeric_grad(model, X, y)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@pytest.mark.parametrize("output,loss", HEADS[:3])
def test_compiled_backends_give_the_reference_gradient(backend, output, loss, rng):
    X, y = _problem(rng, output, n=9)
    kwargs = dict(activation=["tanh", "sigmoid"], k=[0.8, 1.5], output=output, loss=loss, init="he",
                  dtype=np.float64, seed=3)
    ref = fastnn.DeepMLP([3, 5, 4, 2], backend="numpy", **kwargs)
    other = fastnn.DeepMLP([3, 5, 4, 2], backend=backend, **kwargs)
    l1, dW1, db1 = ref.loss_and_gradients(X, y)
    l2, dW2, db2 = other.loss_and_gradients(X, y)
    assert l1 == pytest.approx(l2, rel=1e-12)
    for a, b in zip(dW1 + db1, dW2 + db2):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)
