"""fastnn.sklearn: scikit-learn's estimator checks, model selection, pickling, incremental
training, early stopping, dtypes, labels, and the scikit-learn snippet of docs/ecosystem.md."""
import inspect
import os
import pickle
import pickletools
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastnn
from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor, expected_failed_checks

DOCS = Path(__file__).resolve().parent.parent / "docs" / "ecosystem.md"

# The default estimators must pass every check; the other configurations exercise early
# stopping, deeper tanh networks, momentum SGD, float32, summed gradients and warm starts
# (the last one has two documented expected failures, see expected_failed_checks).
CHECKED = [
    FastMLPClassifier(),
    FastMLPRegressor(),
    FastMLPClassifier(hidden_layer_sizes=(16, 8), activation="tanh", early_stopping=True, solver="momentum",
                      learning_rate_init=0.01),
    FastMLPRegressor(hidden_layer_sizes=(32,), dtype="float32", batch_size=16, reduction="sum",
                     learning_rate_init=1e-4, warm_start=True),
]

_kwargs = {}
_params = inspect.signature(parametrize_with_checks).parameters
if "expected_failed_checks" in _params:  # scikit-learn >= 1.6 (older ones read the _xfail_checks tag)
    _kwargs["expected_failed_checks"] = expected_failed_checks
if "xfail_strict" in _params:  # an expected failure that passes is an error: the list stays exact
    _kwargs["xfail_strict"] = True


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(CHECKED, **_kwargs)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failed_checks_are_none_by_default():
    assert expected_failed_checks(FastMLPClassifier()) == {}
    assert expected_failed_checks(FastMLPRegressor()) == {}
    odd = expected_failed_checks(FastMLPRegressor(dtype="float32", warm_start=True))
    assert set(odd) == {"check_regressor_multioutput", "check_supervised_y_2d"}
    assert all(len(reason) > 40 for reason in odd.values())
    assert FastMLPClassifier(warm_start=True)._more_tags()["_xfail_checks"] == \
        expected_failed_checks(FastMLPClassifier(warm_start=True))


# ---------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=3, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(n_samples=200, n_features=6, n_targets=2, noise=0.1, random_state=0)
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


SMALL = dict(hidden_layer_sizes=(16,), random_state=0, batch_size=32)


def fit_quiet(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


# ---------------------------------------------------------------------- model selection
def test_pipeline_grid_search_n_jobs_and_cross_val_score(clf_data):
    X, y = clf_data
    pipe = make_pipeline(StandardScaler(), FastMLPClassifier(max_iter=40, **SMALL))
    grid = GridSearchCV(pipe, {"fastmlpclassifier__hidden_layer_sizes": [(8,), (16, 8)],
                               "fastmlpclassifier__alpha": [1e-4, 1.0]}, cv=3, n_jobs=2,
                        error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(X, y)
        scores = cross_val_score(grid.best_estimator_, X, y, cv=3)
    assert len(grid.cv_results_["mean_test_score"]) == 4
    assert grid.best_score_ > 0.7
    assert grid.score(X, y) > 0.75
    assert scores.shape == (3,) and scores.mean() > 0.7
    best = grid.best_estimator_[-1]
    assert isinstance(best.model_, fastnn.DeepMLP) and best.n_iter_ >= 1


def test_regressor_cross_val_score_r2(reg_data):
    X, y = reg_data
    scores = cross_val_score(FastMLPRegressor(max_iter=300, learning_rate_init=0.01, **SMALL), X, y, cv=3)
    assert scores.mean() > 0.9


# ---------------------------------------------------------------------- pickle
def test_pickle_round_trip_predicts_identically(clf_data, tmp_path):
    X, y = clf_data
    clf = fit_quiet(FastMLPClassifier(max_iter=20, **SMALL), X, y)
    blob = pickle.dumps(clf)
    # the estimator pickles as numpy arrays and plain objects: no compiled kernel inside
    strings = [arg for _, arg, _ in pickletools.genops(blob) if isinstance(arg, str)]
    assert "fastnn.models" in strings  # sanity: module names are visible this way
    assert not [s for s in strings if s.startswith(("numba", "fastnn._cykernels", "fastnn.backends"))]
    back = pickle.loads(blob)
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert np.array_equal(back.predict(X), clf.predict(X))
    assert back.get_params() == clf.get_params()
    # training goes on identically after unpickling (optimiser state and shuffling stream included)
    fit_quiet(back.set_params(warm_start=True, max_iter=3), X, y)
    fit_quiet(clf.set_params(warm_start=True, max_iter=3), X, y)
    assert np.array_equal(back.model_.params, clf.model_.params)

    # in a fresh interpreter (kernels are bound there, not unpickled)
    path = tmp_path / "clf.pkl"
    path.write_bytes(blob)
    np.save(tmp_path / "X.npy", X)
    code = ("import pickle, sys, numpy as np; est = pickle.load(open(sys.argv[1], 'rb')); "
            "np.save(sys.argv[3], est.predict_proba(np.load(sys.argv[2])))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "X.npy"), str(tmp_path / "P.npy")],
                   check=True, env=env, timeout=120)
    # the child runs BLAS on one thread: sums in another order, so equal to float round-off only
    np.testing.assert_allclose(np.load(tmp_path / "P.npy"), pickle.loads(blob).predict_proba(X),
                               rtol=1e-5, atol=1e-6)


def test_pickle_regressor(reg_data):
    X, y = reg_data
    reg = fit_quiet(FastMLPRegressor(max_iter=5, **SMALL), X, y[:, 0])
    back = pickle.loads(pickle.dumps(reg))
    assert back.predict(X).shape == (X.shape[0],)
    assert np.array_equal(back.predict(X), reg.predict(X))


# ---------------------------------------------------------------------- incremental training
def test_partial_fit_matches_fit(clf_data):
    X, y = clf_data
    kw = dict(SMALL, n_iter_no_change=10_000)
    full = fit_quiet(FastMLPClassifier(max_iter=5, **kw), X, y)
    inc = FastMLPClassifier(**kw)
    for i in range(5):
        assert inc.partial_fit(X, y, classes=np.unique(y) if i == 0 else None) is inc
        assert inc.n_iter_ == i + 1
    assert np.array_equal(inc.model_.params, full.model_.params)
    np.testing.assert_allclose(inc.loss_curve_, full.loss_curve_, rtol=1e-12)
    assert inc.t_ == full.t_ == 5 * 10


def test_partial_fit_classes_and_errors(clf_data):
    X, y = clf_data
    labels = np.array(["cat", "dog", "emu", "fox"])
    clf = FastMLPClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, labels[y])
    clf.partial_fit(X[:50], labels[y[:50]], classes=labels)  # a class not seen yet is fine
    assert list(clf.classes_) == list(labels) and clf.predict_proba(X).shape == (300, 4)
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:5], ["cat", "cow", "dog", "cat", "cat"])
    with pytest.raises(ValueError, match="not the same as the classes"):
        clf.partial_fit(X[:5], labels[y[:5]], classes=["cat", "dog"])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :3], labels[y])


def test_regressor_partial_fit(reg_data):
    X, y = reg_data
    reg = FastMLPRegressor(**SMALL)
    for _ in range(3):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 3 and reg.predict(X).shape == y.shape
    with pytest.raises(ValueError, match="targets"):
        reg.partial_fit(X, y[:, 0:1].repeat(3, axis=1))


def test_warm_start_continues(clf_data):
    X, y = clf_data
    kw = dict(SMALL, n_iter_no_change=10_000)
    once = fit_quiet(FastMLPClassifier(max_iter=6, **kw), X, y)
    twice = FastMLPClassifier(max_iter=3, warm_start=True, **kw)
    fit_quiet(twice, X, y)
    first = twice.model_
    fit_quiet(twice, X, y)
    assert twice.model_ is first and twice.n_iter_ == 6 and len(twice.loss_curve_) == 6
    assert np.array_equal(twice.model_.params, once.model_.params)
    # without warm_start, fit starts over
    cold = FastMLPClassifier(max_iter=3, **kw)
    fit_quiet(cold, X, y)
    fit_quiet(cold, X, y)
    assert cold.n_iter_ == 3
    with pytest.raises(ValueError, match="warm_start can only be used where y has the same classes"):
        twice.fit(X[y < 2], y[y < 2])


# ---------------------------------------------------------------------- stopping
def test_early_stopping(clf_data):
    X, y = clf_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # it converges: no warning
        clf = FastMLPClassifier(early_stopping=True, n_iter_no_change=5, max_iter=500, learning_rate_init=0.01,
                                **SMALL).fit(X, y)
    assert clf.n_iter_ < 500
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_)
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.7
    assert int(np.argmax(clf.validation_scores_)) < clf.n_iter_ - 5
    # the best weights are restored: on the same held-out split the returned model scores the best score
    _, Xv, _, Tv = clf._split(X, np.searchsorted(clf.classes_, y))
    assert np.mean(clf.predict(Xv) == clf.classes_[Tv]) == clf.best_validation_score_


def test_stopping_on_training_loss_and_convergence_warning(clf_data):
    X, y = clf_data
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\) reached"):
        clf = FastMLPClassifier(max_iter=3, **SMALL).fit(X, y)
    assert clf.n_iter_ == 3 and clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = FastMLPClassifier(max_iter=1000, tol=0.5, n_iter_no_change=2, **SMALL).fit(X, y)
    assert clf.n_iter_ == 4  # epoch 1 sets the best loss; 3 = n_iter_no_change + 1 epochs without a 0.5 gain


def test_verbose_prints_epochs(clf_data, capsys):
    X, y = clf_data
    fit_quiet(FastMLPClassifier(max_iter=2, verbose=True, **SMALL), X, y)
    out = capsys.readouterr().out
    assert re.search(r"Iteration 1, loss = \d+\.\d{8}\nIteration 2, loss = ", out)


# ---------------------------------------------------------------------- dtypes and labels
@pytest.mark.parametrize("X_dtype, model_dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                                  (np.int64, np.float32), (np.float16, np.float32)])
def test_model_dtype_follows_input(clf_data, X_dtype, model_dtype):
    X, y = clf_data
    Xc = (X * 3).astype(X_dtype)
    clf = fit_quiet(FastMLPClassifier(max_iter=2, **SMALL), Xc, y)
    assert clf.model_.dtype == model_dtype
    assert clf.predict_proba(Xc).dtype == model_dtype
    assert clf.predict_proba(X).dtype == model_dtype  # other input dtypes are converted
    reg = fit_quiet(FastMLPRegressor(max_iter=2, **SMALL), Xc, y.astype(float))
    assert reg.model_.dtype == model_dtype and reg.predict(Xc).dtype == model_dtype


def test_dtype_parameter_forces_precision(clf_data):
    X, y = clf_data
    clf = fit_quiet(FastMLPClassifier(max_iter=2, dtype="float32", **SMALL), X, y)
    assert clf.model_.dtype == np.float32 and clf.predict_proba(X).dtype == np.float32
    clf = fit_quiet(FastMLPClassifier(max_iter=2, dtype=np.float64, **SMALL), X.astype(np.float32), y)
    assert clf.model_.dtype == np.float64
    with pytest.raises(ValueError, match="dtype must be"):
        FastMLPClassifier(dtype="int32").fit(X, y)


def test_float32_input_is_not_upcast(clf_data):
    X, y = clf_data
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    clf = fit_quiet(FastMLPClassifier(max_iter=3, **SMALL), X32, y)
    P = clf.predict_proba(X32)
    assert P.dtype == np.float32
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
    assert np.array_equal(P, clf.model_.predict_proba(X32))


def test_string_labels_binary_and_multiclass(clf_data):
    X, y = clf_data
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    clf = fit_quiet(FastMLPClassifier(max_iter=100, **SMALL), X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.model_.layer_dims[-1] == 3 and clf.out_activation_ == "softmax"
    pred = clf.predict(X)
    assert set(pred) <= set(clf.classes_) and np.mean(pred == names) > 0.8
    assert np.array_equal(pred, clf.classes_[np.argmax(clf.predict_proba(X), axis=1)])

    binary = np.where(y == 0, "no", "yes")
    clf = fit_quiet(FastMLPClassifier(max_iter=100, **SMALL), X, binary)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.model_.layer_dims[-1] == 1 and clf.out_activation_ == "sigmoid"  # one sigmoid unit
    P = clf.predict_proba(X)
    assert P.shape == (300, 2) and np.allclose(P.sum(axis=1), 1)
    assert np.mean(clf.predict(X) == binary) > 0.85
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P))

    # labels that are neither 0..n-1 nor sorted
    odd = np.array([7, -3, 42])[y]
    clf = fit_quiet(FastMLPClassifier(max_iter=20, **SMALL), X, odd)
    assert list(clf.classes_) == [-3, 7, 42] and set(clf.predict(X)) <= {-3, 7, 42}


def test_classifier_target_errors(clf_data):
    X, y = clf_data
    with pytest.raises(ValueError, match="Unknown label type"):
        FastMLPClassifier().fit(X, y + 0.5)
    with pytest.raises(ValueError, match="1 class"):
        FastMLPClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="1d array"):
        FastMLPClassifier().fit(X, np.eye(3)[y])


def test_regression_1d_and_2d_targets(reg_data):
    X, y = reg_data
    r1 = fit_quiet(FastMLPRegressor(max_iter=200, learning_rate_init=0.01, **SMALL), X, y[:, 0])
    assert r1.predict(X).shape == (200,) and r1.n_outputs_ == 1 and r1.score(X, y[:, 0]) > 0.9
    r2 = fit_quiet(FastMLPRegressor(max_iter=200, learning_rate_init=0.01, **SMALL), X, y)
    assert r2.predict(X).shape == (200, 2) and r2.n_outputs_ == 2 and r2.score(X, y) > 0.9
    col = fit_quiet(FastMLPRegressor(max_iter=2, **SMALL), X, y[:, :1])
    assert col.predict(X).shape == (200, 1)
    es = fit_quiet(FastMLPRegressor(max_iter=300, early_stopping=True, learning_rate_init=0.01, **SMALL), X, y)
    assert es.best_validation_score_ > 0.9  # validation R²


# ---------------------------------------------------------------------- parameters
def test_parameters_and_fitted_attributes(clf_data):
    X, y = clf_data
    clf = FastMLPClassifier(hidden_layer_sizes=(8, 4), activation=["tanh", "logistic"], k=2.0, init="xavier",
                            solver="sgd", learning_rate_init=0.05, max_iter=2)
    assert not hasattr(clf, "model_")
    with pytest.raises(NotFittedError):
        clf.predict(X)
    fit_quiet(clf, X, y)
    m = clf.model_
    assert m.layer_dims == [8, 8, 4, 3] and [a.name for a in m.activations[:-1]] == ["tanh", "sigmoid"]
    assert m.activations[0].k == 2.0 and m.init == "xavier"
    assert [w.shape for w in clf.coefs_] == [(8, 8), (8, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (4,), (3,)]
    assert clf.n_layers_ == 4 and clf.n_features_in_ == 8 and clf.t_ == 2 * 2  # batch 200: 2 steps/epoch
    assert clone(clf).get_params() == clf.get_params()
    assert fit_quiet(FastMLPClassifier(hidden_layer_sizes=(), max_iter=2), X, y).model_.layer_dims == [8, 3]
    assert fit_quiet(FastMLPClassifier(hidden_layer_sizes=5, max_iter=1), X, y).model_.layer_dims == [8, 5, 3]
    assert fit_quiet(FastMLPClassifier(max_iter=1), X, y).model_.init == "he"  # "auto" for relu


def test_alpha_is_an_l2_penalty(clf_data):
    X, y = clf_data
    norms = [np.sum(fit_quiet(FastMLPClassifier(alpha=a, max_iter=30, **SMALL), X, y).coefs_[0] ** 2)
             for a in (0.0, 20.0)]
    assert norms[1] < 0.5 * norms[0]


@pytest.mark.parametrize("params, error, match", [
    (dict(solver="lbfgs"), ValueError, "no L-BFGS"),
    (dict(activation="softsign"), ValueError, "activation 'softsign' is not supported"),
    (dict(activation=["relu"], hidden_layer_sizes=(4, 4)), ValueError, "1 entries"),
    (dict(hidden_layer_sizes=(4, 0)), ValueError, "positive integers"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(batch_size="big"), TypeError, "batch_size"),
    (dict(learning_rate_init=0), ValueError, "learning_rate_init"),
    (dict(max_iter=2.5), TypeError, "max_iter"),
    (dict(alpha=-1), ValueError, "alpha"),
    (dict(validation_fraction=1.0), ValueError, "validation_fraction"),
    (dict(reduction="max"), ValueError, "reduction"),
    (dict(momentum=1.5), ValueError, "momentum"),
    (dict(backend="gpu"), ValueError, "backend"),
])
def test_invalid_parameters_fail_in_fit_with_clear_errors(clf_data, params, error, match):
    X, y = clf_data
    est = FastMLPClassifier(**params)  # construction never validates (scikit-learn contract)
    with pytest.raises(error, match=match):
        est.fit(X, y)


def test_training_divergence_is_reported(reg_data):
    X, y = reg_data
    reg = FastMLPRegressor(solver="sgd", learning_rate_init=1e6, max_iter=50, **SMALL)
    with pytest.raises(fastnn.TrainingDiverged, match="lower the learning rate"):
        reg.fit(X, y * 1e3)
    assert not hasattr(reg, "model_")  # a failed fresh fit leaves no half-fitted estimator
    with pytest.raises(NotFittedError):
        reg.predict(X)
    fit_quiet(reg.set_params(learning_rate_init=1e-3, max_iter=2), X, y)  # and a good fit works after it
    assert reg.n_iter_ == 2


def test_ctrl_c_keeps_the_epochs_done(clf_data, monkeypatch):
    X, y = clf_data
    original = fastnn.sklearn._EpochMonitor.on_epoch_end

    def interrupt_at_epoch_3(self, trainer, epoch, logs):
        original(self, trainer, epoch, logs)
        if epoch == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(fastnn.sklearn._EpochMonitor, "on_epoch_end", interrupt_at_epoch_3)
    clf = FastMLPClassifier(max_iter=50, **SMALL)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        assert clf.fit(X, y) is clf
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3 and clf.predict(X).shape == (300,)


# ---------------------------------------------------------------------- docs
def python_blocks(text):
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_docs_sklearn_snippet_runs(tmp_path, monkeypatch, capsys):
    blocks = [b for b in python_blocks(DOCS.read_text()) if "fastnn.sklearn" in b]
    assert blocks, "docs/ecosystem.md has no scikit-learn example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            exec(compile(block, str(DOCS), "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "5-fold CV accuracy:" in out
