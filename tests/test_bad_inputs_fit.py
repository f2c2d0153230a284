"""Bad inputs to ``fit`` and divergence, called exactly as a user would (``model.fit(...)``).

These cover the trainer's side of issue 15: rollback to the last finite parameters, an exploding
finite loss treated as divergence, fit's optimiser settings and arguments checked by name.
"""
import re

import numpy as np
import pytest

import fastnn
from fastnn.backends import available_backends

BACKENDS = available_backends()


def _data(n=40, d=4, k=3):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def _model(**kw):
    kw = {"activation": "tanh", "seed": 0, **kw}
    return fastnn.DeepMLP(kw.pop("layer_dims", [4, 8, 3]), **kw)


# --------------------------------------------------------------------------- divergence
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("batch_size", [None, 8])
def test_divergence_leaves_finite_predictions(backend, optimizer, batch_size):
    """lr=1e37 diverges; the model is rolled back to the last step whose loss was finite, so it
    still predicts finite probabilities (and not class 0 everywhere from NaN)."""
    X, y = _data()
    model = _model(backend=backend)
    with pytest.raises(fastnn.TrainingDiverged):
        model.fit(X, y, epochs=5, batch_size=batch_size, lr=1e37, optimizer=optimizer, progress=False)
    assert np.isfinite(model.params).all()
    P = model.predict_proba(X)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("batch_size", [None, 8])
def test_divergence_with_stop_keeps_finite_weights(batch_size):
    X, y = _data()
    model = _model()
    hist = model.fit(X, y, epochs=5, batch_size=batch_size, lr=1e37, optimizer="momentum", progress=False,
                     on_divergence="stop")
    assert hist.stopped and np.isfinite(model.predict_proba(X)).all()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mse_explosion_is_divergence_and_predictions_stay_finite(optimizer):
    """An MSE model at lr=1e6 used to keep weights ~3.7e33 and predict inf."""
    X, _ = _data()
    y = X @ np.array([1.0, -2.0, 0.5, 3.0])
    model = fastnn.DeepMLP([4, 8, 1], activation="tanh", output="linear", seed=0)
    with pytest.raises(fastnn.TrainingDiverged):
        model.fit(X, y, epochs=20, batch_size=8, lr=1e6, optimizer=optimizer, progress=False)
    assert np.isfinite(model.predict(X)).all()


@pytest.mark.parametrize("lr,optimizer", [(1e30, "sgd"), (1e6, "adam"), (1e30, "momentum")])
def test_exploding_finite_loss_is_divergence(lr, optimizer):
    """A loss growing from ~1 to ~1e29 while staying finite is divergence (on by default)."""
    X, y = _data()
    model = _model(output="softmax")
    with pytest.raises(fastnn.TrainingDiverged, match="diverged"):
        model.fit(X, y, iterations=30, lr=lr, optimizer=optimizer, progress=False)
    assert np.isfinite(model.predict_proba(X)).all()


def test_sklearn_classifier_huge_learning_rate_is_divergence():
    from fastnn.sklearn import FastMLPClassifier

    X, y = _data()
    with pytest.raises(fastnn.TrainingDiverged):
        FastMLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=1e8, max_iter=20, random_state=0).fit(X, y)


def test_callback_writing_nan_at_last_step_is_rolled_back():
    X, y = _data()
    model = _model()

    def poison(trainer, epoch, logs):
        if epoch == 2:
            trainer.theta[:] = np.nan

    with pytest.raises(fastnn.TrainingDiverged):
        model.fit(X, y, epochs=3, lr=0.1, batch_size=8, progress=False,
                  callbacks=[fastnn.LambdaCallback(on_epoch_end=poison)])
    assert np.isfinite(model.params).all()


# --------------------------------------------------------------------------- arguments
BAD_FIT = [
    # (kwargs, exception, regex the message must contain)
    (dict(optimizer="momentum", momentum=-5), ValueError, "momentum"),
    (dict(optimizer="momentum", momentum=1.5), ValueError, "momentum"),
    (dict(optimizer="momentum", momentum=np.nan), ValueError, "momentum"),
    (dict(optimizer="momentum", momentum="0.9"), TypeError, "momentum"),
    (dict(optimizer="momentum", momentum=None), TypeError, "momentum"),
    (dict(optimizer="adam", betas=(1.0, 0.999)), ValueError, "betas"),
    (dict(optimizer="adam", betas=(0.9, 1.0)), ValueError, "betas"),
    (dict(optimizer="adam", betas=(0.9,)), (TypeError, ValueError), "betas"),
    (dict(optimizer="adam", betas=(0.9, 0.999, 0.5)), (TypeError, ValueError), "betas"),
    (dict(optimizer="adam", betas=(-0.1, 0.999)), ValueError, "betas"),
    (dict(optimizer="adam", betas=(0.9, np.nan)), ValueError, "betas"),
    (dict(optimizer="adam", betas="0.9"), (TypeError, ValueError), "betas"),
    (dict(optimizer="adam", betas=0.9), (TypeError, ValueError), "betas"),
    (dict(optimizer="adam", eps=0), ValueError, "eps"),
    (dict(optimizer="adam", eps=-1), ValueError, "eps"),
    (dict(optimizer="adam", eps=np.nan), ValueError, "eps"),
    (dict(optimizer="adam", eps="1e-8"), TypeError, "eps"),
    (dict(validation_every=0), ValueError, "validation_every"),
    (dict(validation_every=-2), ValueError, "validation_every"),
    (dict(validation_every="1"), TypeError, "validation_every"),
    (dict(validation_every=1.5), TypeError, "validation_every"),
    (dict(validation_every=True), TypeError, "validation_every"),
    (dict(callbacks=None), TypeError, "callbacks"),
    (dict(callbacks=[object()]), TypeError, "callbacks"),
    (dict(callbacks=[5]), TypeError, "callbacks"),
    (dict(callbacks="early"), TypeError, "callbacks"),
    (dict(callbacks=[fastnn.EarlyStopping]), TypeError, "callbacks"),
    (dict(callbacks=fastnn.EarlyStopping()), TypeError, "callbacks"),
    (dict(schedule=("cosine",)), (TypeError, ValueError), "schedule"),
    (dict(schedule=("cosine", 5)), (TypeError, ValueError), "schedule"),
    (dict(schedule=("step", {"bogus": 1})), (TypeError, ValueError), "schedule|bogus"),
    (dict(schedule=("cosine", {"lr_min": -1})), ValueError, "schedule|lr_min"),
    (dict(schedule=5), (TypeError, ValueError), "schedule"),
    (dict(schedule=()), (TypeError, ValueError), "schedule"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed="1"), (TypeError, ValueError), "seed"),
    (dict(seed=1.5), (TypeError, ValueError), "seed"),
    (dict(shuffle="no"), TypeError, "shuffle"),
    (dict(progress="no"), TypeError, "progress"),
    (dict(record_every=0), ValueError, "record_every"),
    (dict(weight_decay=-1), ValueError, "weight_decay"),
    (dict(weight_decay="0.1"), TypeError, "weight_decay"),
]


@pytest.mark.parametrize("kwargs,exc,match", BAD_FIT,
                         ids=[re.sub(r" at 0x[0-9a-f]+", "", ",".join(f"{k}={v!r}" for k, v in kw.items()))[:50]
                              for kw, _, _ in BAD_FIT])  # no addresses: xdist workers must agree
def test_bad_fit_argument_is_named(kwargs, exc, match):
    X, y = _data()
    model = _model()
    before = model.params.copy()
    kwargs = {"progress": False, **kwargs}
    with pytest.raises(exc, match=match):
        model.fit(X, y, iterations=2, **kwargs)
    np.testing.assert_array_equal(model.params, before)  # a refused fit does not train


def _validation(kind):
    X, y = _data()
    Xv, yv = _data(10)
    return {
        "wrong_width": (np.ones((10, 5)), yv),
        "wrong_length": (Xv, yv[:7]),
        "x_only": Xv,
        "triple": (Xv, yv, yv),
        "y_none": (Xv, None),
        "nan": (np.where(np.arange(40).reshape(10, 4) == 5, np.nan, Xv), yv),
        "labels_out_of_range": (Xv, np.full(10, 7)),
    }[kind]


@pytest.mark.parametrize("kind", ["wrong_width", "wrong_length", "x_only", "triple", "y_none", "nan",
                                  "labels_out_of_range"])
def test_bad_validation_data_says_validation(kind):
    X, y = _data()
    with pytest.raises((TypeError, ValueError), match="validation"):
        _model().fit(X, y, iterations=2, progress=False, validation_data=_validation(kind))


@pytest.mark.parametrize("y,exc", [
    (np.int64(1), (TypeError, ValueError)),
    (5, (TypeError, ValueError)),
    (np.array([0, 1, "2"] * 13 + [0], dtype=object), (TypeError, ValueError)),
    ([0, 1, "a"] * 13 + [0], (TypeError, ValueError)),
    (np.array([0, 1, 2.5] * 13 + [0]), ValueError),
])
def test_bad_fit_targets_name_y(y, exc):
    X, _ = _data()
    with pytest.raises(exc, match=r"\by\b"):
        _model().fit(X, y, iterations=2, progress=False)
