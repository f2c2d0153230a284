"""A2 replayed in two engines: the scalar autodiff network (pure Python, node by node) and
the vectorised DeepMLP (float64, every backend) must give the same loss and gradients
(to 1e-12), and both must agree with central differences — at the stated point (where
dL/dw1 and dL/db1 are exactly 0) and at random points where every gradient is non-zero."""
import math
import os

import numpy as np
import pytest

from fastnn import DeepMLP
from fastnn.backends import available_backends
from fastnn.scalar_examples import A2_B1, A2_B2, A2_INPUT, A2_TARGET, A2_W1, A2_W2, network_forward, run_a2

NAMES = ("w1", "b1", "w2", "b2")
STATED = dict(x=A2_INPUT, w1=A2_W1, b1=A2_B1, w2=A2_W2, b2=A2_B2, target=A2_TARGET)


def random_point(seed, hidden=3, n_out=2):
    rng = np.random.default_rng(seed)
    return dict(x=rng.normal(size=2).tolist(), w1=rng.normal(size=(2, hidden)).tolist(),
                b1=rng.normal(size=hidden).tolist(), w2=rng.normal(size=(hidden, n_out)).tolist(),
                b2=rng.normal(size=n_out).tolist(), target=int(rng.integers(n_out)))


# The numba kernel backend JIT-compiles for ~8 s per process (parallel=True kernels are not
# cached); its gradients are checked against central differences in test_gradients.py, so the
# replay here runs it only when RUN_SLOW is set.
BACKENDS = [b for b in available_backends() if b != "numba" or os.environ.get("RUN_SLOW")]

POINTS = [pytest.param(STATED, id="stated")] + [pytest.param(random_point(s), id=f"random{s}") for s in range(4)]


def engine(point, backend):
    """Loss and gradients of the same network in the vectorised engine."""
    w1, w2 = np.array(point["w1"]), np.array(point["w2"])
    model = DeepMLP([2, w1.shape[1], w2.shape[1]], activation="sigmoid", output="softmax", loss="cross_entropy",
                    dtype=np.float64, backend=backend)
    model.set_params([w1, w2], [np.array(point["b1"]), np.array(point["b2"])])
    loss, dW, db = model.loss_and_gradients(np.array([point["x"]]), np.array([point["target"]]), reduction="sum")
    return loss, {"w1": dW[0], "b1": db[0], "w2": dW[1], "b2": db[1]}


def scalar_loss(point):
    """The scalar network's loss (plain floats in, float out)."""
    return network_forward(list(point["x"]), point["w1"], point["b1"], point["w2"], point["b2"],
                           point["target"])[0].data


def central_differences(point, h=1e-6):
    grads = {}
    for name in NAMES:
        arr = np.array(point[name], dtype=np.float64)
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            hi, lo = arr.copy(), arr.copy()
            hi[idx] += h
            lo[idx] -= h
            g[idx] = (scalar_loss(dict(point, **{name: hi.tolist()}))
                      - scalar_loss(dict(point, **{name: lo.tolist()}))) / (2 * h)
        grads[name] = g
    return grads


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("point", POINTS)
def test_scalar_matches_engine(point, backend):
    data, _ = run_a2(make_figure=False, **point)
    loss, grads = engine(point, backend)
    assert loss == pytest.approx(data["loss"], rel=1e-12, abs=1e-12)
    for name in NAMES:
        np.testing.assert_allclose(np.array(data["grads"][name]), grads[name], rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name} ({backend})")


@pytest.mark.parametrize("point", POINTS)
def test_scalar_matches_central_differences(point):
    data, _ = run_a2(make_figure=False, **point)
    fd = central_differences(point)
    for name in NAMES:
        np.testing.assert_allclose(np.array(data["grads"][name]), fd[name], rtol=1e-6, atol=1e-8, err_msg=name)


def test_stated_point_values():
    """x = [1, -1] makes z1 = 2 for every hidden unit; w2's equal columns give equal logits."""
    data, _ = run_a2(make_figure=False)
    assert data["loss"] == pytest.approx(math.log(2), abs=1e-15)
    h = 1 / (1 + math.exp(-2))
    assert data["hidden"] == pytest.approx([h] * 3, abs=1e-15)
    assert data["grads"]["b2"] == pytest.approx([-0.5, 0.5], abs=1e-15)
    np.testing.assert_allclose(data["grads"]["w2"], [[-h / 2, h / 2]] * 3, rtol=0, atol=1e-15)
    assert np.all(np.array(data["grads"]["w1"]) == 0) and np.all(np.array(data["grads"]["b1"]) == 0)


@pytest.mark.parametrize("point", POINTS[1:])
def test_random_points_have_nonzero_gradients(point):
    data, _ = run_a2(make_figure=False, **point)
    for name in NAMES:
        assert np.all(np.abs(np.array(data["grads"][name])) > 1e-6), name


def test_wider_network_matches_engine():
    """The same replay for a 2-5-3 network (three softmax classes)."""
    point = random_point(11, hidden=5, n_out=3)
    data, _ = run_a2(make_figure=False, **point)
    loss, grads = engine(point, "auto")
    assert loss == pytest.approx(data["loss"], rel=1e-12)
    for name in NAMES:
        np.testing.assert_allclose(np.array(data["grads"][name]), grads[name], rtol=1e-12, atol=1e-12)
