"""The benchmark workloads W1–W6 with fastnn, same interface as numpy_impl/torch_impl/jax_impl.

Every function takes the arrays built by ``bench.workloads`` plus ``backend`` ("auto",
"numpy", "numba", "cython") and returns a :class:`~bench.workloads.Trained`.
"""
from __future__ import annotations

import contextlib

import numpy as np

import fastnn
from fastnn import config

from .workloads import Trained

W1_STEPS = 3  # full-batch steps per W1 call: fit's one-off setup (input checks, buffers) is amortised

# Pseudo-backends for the workloads on real images (W1r, W2r): "dense" is "auto" with the sparse
# first layer switched off (fastnn's dense path); "sparse" runs the kernel engine, whose first layer
# skips the zeros of X at the measured densities, also for mini-batches ("auto" runs those in the
# C loop, whose first layer skips them below config.SPARSE_CLOOP_MAX_DENSITY). Values: (model
# backend, fit engine, sparse first layer allowed).
VARIANTS = {"dense": ("auto", "auto", False), "sparse": ("auto", "kernels", True)}


@contextlib.contextmanager
def _variant(backend):
    """(model backend, fit engine) of ``backend``, with the sparse first layer off for "dense"."""
    model_backend, engine, sparse = VARIANTS.get(backend, (backend, "auto", True))
    saved = {name: getattr(config, name) for name in config.SPARSE_LIMITS}
    if not sparse:
        for name in config.SPARSE_LIMITS:
            setattr(config, name, 0.0)
    try:
        yield model_backend, engine
    finally:
        for name, value in saved.items():
            setattr(config, name, value)


def available():
    return True


def prepare(data):
    """Native arrays for fastnn: the mini-batch workloads (W2, W4) get their epoch's sample order
    applied here, once, outside the timing (as torch/jax convert to tensors there): the epoch then
    runs over the rows in order, which is the same sequence of batches."""
    if "order" not in data:
        return data
    order = data["order"]
    return dict(data, X=np.ascontiguousarray(data["X"][order]), y=data["y"][order],
                Y=np.ascontiguousarray(data["Y"][order]), order=np.arange(order.size, dtype=order.dtype))


def _model(weights, biases, activation, output, loss, backend, dtype):
    dims = [weights[0].shape[0]] + [W.shape[1] for W in weights]
    backend = VARIANTS.get(backend, (backend,))[0]  # the pseudo-backends build an "auto" model
    model = fastnn.DeepMLP(dims, activation=activation, output=output, loss=loss, bias=biases is not None,
                           dtype=dtype, backend=backend, seed=0)
    return model.set_params(weights, biases)


def _trained(model, loss):
    return Trained(float(loss), [W.copy() for W in model.weights],
                   None if not model.bias else [b.copy() for b in model.biases])


def w1_steps(X, Y, weights, lr, backend="auto", steps=W1_STEPS):
    """W1 × steps: full-batch 784-256-128-10, sigmoid everywhere, MSE, no bias, lr·Σ."""
    with _variant(backend) as (backend, engine):
        model = _model(weights, None, "sigmoid", "sigmoid", "mse", backend, X.dtype)
        h = model.fit(X, Y, iterations=steps, lr=lr, reduction="sum", progress=False, engine=engine)
    return _trained(model, h.loss[0])


def _epoch(X, y, weights, biases, order, lr, batch_size, backend):
    if not np.array_equal(order, np.arange(order.size)):  # unprepared data: apply the order here
        X, y = X[order], y[order]
    with _variant(backend) as (backend, engine):
        model = _model(weights, biases, "sigmoid", "softmax", "cross_entropy", backend, X.dtype)
        h = model.fit(X, y, epochs=1, lr=lr, batch_size=batch_size, shuffle=False, progress=False,
                      engine=engine)
    return _trained(model, h.loss[0])


def w2_epoch(X, y, Y, weights, biases, order, lr, batch_size, backend="auto"):
    """W2: one epoch of mini-batch SGD, 784-300-10, sigmoid + softmax-CE, mean reduction."""
    return _epoch(X, y, weights, biases, order, lr, batch_size, backend)


def w4_epoch(X, y, Y, weights, biases, order, lr, backend="auto"):
    """W4: per-sample SGD (batch 1), 784-300-10, sigmoid + softmax-CE."""
    return _epoch(X, y, weights, biases, order, lr, 1, backend)


def train_full_batch(X, y, Y, weights, biases, activation, lr, steps, backend="auto"):
    model = _model(weights, biases, activation, "softmax", "cross_entropy", backend, X.dtype)
    model.fit(X, y, iterations=steps, lr=lr, progress=False)
    return _trained(model, model.evaluate(X, y)[0])


def w3_train(X, y, Y, weights, biases, activation, lr, steps, backend="auto"):
    """W3: 2-3-2 tanh net on moons, ``steps`` full-batch steps (one compiled call)."""
    return train_full_batch(X, y, Y, weights, biases, activation, lr, steps, backend)


def _sweep_one(X, y, Y, weights, biases, activation, lr, steps, backend):
    return train_full_batch(X, y, Y, weights, biases, activation, lr, steps, backend)


def w6_sweep(X, y, Y, configs, lr, steps, backend="auto", jobs=None):
    """W6: the D2 × D1 grid, spread over all cores with fastnn.sweep."""
    import sys

    from fastnn.sweep import sweep

    # the worker processes get this module's functions by value: under asv (or any runner that
    # imports `bench` from a path the workers do not have) they could not import them by name
    try:
        import cloudpickle  # what joblib's loky workers pickle with, when installed
    except ImportError:  # pragma: no cover - plain pickle: workers import `bench` by name
        pass
    else:
        for module in (sys.modules[__name__], sys.modules[Trained.__module__]):
            cloudpickle.register_pickle_by_value(module)
    jobs = jobs or fastnn.get_num_threads()
    variants = [dict(X=X, y=y, Y=Y, weights=c["weights"], biases=c["biases"], activation=c["activation"],
                     lr=lr, steps=steps, backend=backend) for c in configs]
    return sweep(_sweep_one, variants, jobs=jobs, progress=False)


def w5_model(weights, biases, backend="auto", dtype=np.float32):
    return _model(weights, biases, "sigmoid", "softmax", "cross_entropy", backend, dtype)


def w5_forward(X, weights, biases, backend="auto", model=None):
    """W5: class probabilities of a sigmoid-hidden, softmax-output MLP."""
    model = model or w5_model(weights, biases, backend, X.dtype)
    return model.predict_proba(X)
