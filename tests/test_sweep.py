import numpy as np
import pytest

from fastnn.sweep import grid, sweep


def _train(activation, width, seed=0):
    import fastnn
    from fastnn.datasets import load

    X, y = load("moons", n_samples=100, seed=1)
    model = fastnn.DeepMLP([2, width, 2], activation=activation, seed=seed)
    h = model.fit(X, y, iterations=200, lr=0.5, progress=False)
    return {"activation": activation, "width": width, "loss": h.loss[-1], "params": model.params.copy()}


def test_grid():
    assert grid(a=[1, 2], b="xy" and ["x"]) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(TypeError, match="list of values"):
        grid(a=3)


def test_parallel_sweep_equals_serial():
    variants = grid(activation=["tanh", "relu"], width=[2, 4])
    serial = sweep(_train, variants, jobs=1, progress=False)
    parallel = sweep(_train, variants, jobs=2, progress=False)
    assert [r["activation"] for r in parallel] == ["tanh", "tanh", "relu", "relu"]
    for a, b in zip(serial, parallel):
        assert a["loss"] == b["loss"]
        np.testing.assert_array_equal(a["params"], b["params"])


def test_bad_jobs():
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        sweep(_train, [], jobs=0)
