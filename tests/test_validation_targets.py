"""check_targets: integer labels given to a classifier-shaped MSE network with a non-sigmoid
(e.g. tanh) output say how to one-hot them; real regression targets are unchanged."""
import numpy as np
import pytest

import fastnn
from fastnn.validation import check_targets


def test_tanh_output_with_integer_labels_says_how_to_one_hot():
    X = np.random.default_rng(0).random((20, 4))
    y = np.arange(20) % 3
    model = fastnn.DeepMLP([4, 5, 3], output="tanh", loss="mse", seed=0)
    with pytest.raises(ValueError, match=r"one-hot the labels, y_onehot = np.eye\(3\)\[y\]") as err:
        model.fit(X, y, iterations=2, progress=False)
    assert "output='softmax'" in str(err.value) and "(20, 3)" in str(err.value)
    history = model.fit(X, 2 * np.eye(3)[y] - 1, iterations=2, progress=False)  # what the message says works
    assert np.isfinite(history.loss[-1])


def test_regression_targets_keep_their_messages():
    Y, labels = check_targets(np.linspace(0, 1, 6), 6, 1, "regression")
    assert Y.shape == (6, 1) and labels.size == 0
    with pytest.raises(ValueError, match="y has 1 target columns but the model has 2 outputs"):
        check_targets(np.linspace(0, 1, 6), 6, 2, "regression")  # real values: not labels
    with pytest.raises(ValueError, match="y has 1 target columns but the model has 2 outputs"):
        check_targets(np.array([0, 1, 5, 1, 0, 1]), 6, 2, "regression")  # 5 is not a class of 2 outputs
