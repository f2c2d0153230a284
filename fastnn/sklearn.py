"""scikit-learn estimators backed by fastnn: :class:`FastMLPClassifier` and :class:`FastMLPRegressor`.

They follow the scikit-learn estimator contract (``get_params``/``set_params``/``clone``,
``fit`` returning ``self``, fitted attributes ending in ``_``), so they work in
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` and pass scikit-learn's own
``check_estimator`` suite. Parameter names follow :class:`sklearn.neural_network.MLPClassifier`
where the two agree, so a parameter grid written for one mostly works for the other::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from fastnn.sklearn import FastMLPClassifier

    clf = make_pipeline(StandardScaler(), FastMLPClassifier(hidden_layer_sizes=(64,), random_state=0))
    clf.fit(X_train, y_train).score(X_test, y_test)

Differences from scikit-learn's MLP, on purpose:

* ``solver`` is "adam" (default), "sgd" (plain SGD) or "momentum" (heavy-ball SGD with
  ``momentum``); there is no L-BFGS.
* The model's dtype follows the input: float64 ``X`` trains a float64 network, any other
  input (float32, ints, …) a float32 one; ``dtype=`` forces either. Outputs have that dtype.
* ``loss_curve_`` holds the data loss per epoch (without the L2 term).
* ``activation`` also takes fastnn's names (``sigmoid``, ``linear``, ``relu6``,
  ``leaky_relu``) and a list with one name per hidden layer; ``k`` is the steepness of
  sigmoid/tanh, ``init`` the weight initialiser.

The fitted network is ``model_`` (a :class:`fastnn.DeepMLP`): use it for everything fastnn
offers (``forward(X, return_all=True)``, ``save``, callbacks such as TensorBoard, …).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from .callbacks import Callback
from .models import DeepMLP
from .training import TrainingDiverged, TrainingInterrupted
from .validation import check_number, check_X

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None

__all__ = ["FastMLPClassifier", "FastMLPRegressor", "expected_failed_checks"]

_ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "sigmoid": "sigmoid",
                "identity": "linear", "linear": "linear", "relu6": "relu6", "leaky_relu": "leaky_relu"}
_RELU_FAMILY = {"relu", "relu6", "leaky_relu"}
_SOLVERS = ("adam", "sgd", "momentum")


def expected_failed_checks(estimator) -> dict:
    """{check name: reason} of the scikit-learn estimator checks that cannot pass for
    ``estimator`` *as configured*. With the default parameters there are none; some
    non-default settings change behaviour a check relies on. Pass this function as
    ``parametrize_with_checks(..., expected_failed_checks=expected_failed_checks)``
    (scikit-learn >= 1.6; older versions read the same dict from the ``_xfail_checks`` tag)."""
    failing = {}
    if getattr(estimator, "warm_start", False) is True:
        failing["check_supervised_y_2d"] = (
            "warm_start=True: the check fits twice and expects the second fit to start over, but with "
            "warm_start the second fit continues from the first one's weights, so predictions differ")
    dtype = getattr(estimator, "dtype", None)
    try:
        forced32 = dtype is not None and np.dtype(dtype) == np.float32
    except TypeError:
        forced32 = False
    if forced32 and isinstance(estimator, RegressorMixin):
        failing["check_regressor_multioutput"] = (
            "dtype='float32' forces a float32 network, so predictions are float32; the check requires "
            "float64 predictions (the default dtype=None gives float64 for float64 X)")
    return failing


def _validate_data(estimator, X, y, reset, **kwargs):
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, y, reset=reset, **kwargs)
    return estimator._validate_data(X, y, reset=reset, **kwargs)  # pragma: no cover


def _validate_X(estimator, X):
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, reset=False, dtype="numeric")
    return estimator._validate_data(X, reset=False, dtype="numeric")  # pragma: no cover


class _EpochMonitor(Callback):
    """Per-epoch bookkeeping of a fit: loss curve, verbose output, sklearn's stopping rule."""

    def __init__(self, est, X_val=None, y_val=None, stopping=True):
        self.est, self.X_val, self.y_val, self.stopping = est, X_val, y_val, stopping
        self.best_theta = None
        self.converged = False
        self.interrupted = False

    def on_epoch_end(self, trainer, epoch, logs):
        est = self.est
        loss = float(logs["loss"])
        est.loss_curve_.append(loss)
        est.loss_ = loss
        it = len(est.loss_curve_)
        if est.verbose:
            print(f"Iteration {it}, loss = {loss:.8f}")
        if self.X_val is not None:
            score = est._validation_score(trainer.model, self.X_val, self.y_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:.6f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_theta = trainer.theta.copy()
        else:
            if loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, loss)
        if self.stopping and est._no_improvement_count > est.n_iter_no_change:
            self.converged = True
            trainer.stop = True
            if est.verbose:
                what = "Validation score" if self.X_val is not None else "Training loss"
                print(f"{what} did not improve more than tol={est.tol} for {est.n_iter_no_change} "
                      "consecutive epochs. Stopping.")


class _BaseFastMLP(BaseEstimator):
    """Shared parameters and training loop of the fastnn estimators (not for direct use)."""

    _task = None  # "classifier" | "regressor"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, max_iter=200, shuffle=True, random_state=None,
                 tol=1e-4, verbose=False, warm_start=False, momentum=0.9, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, k=1.0,
                 init="auto", reduction="mean", dtype=None, backend="auto"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.k = k
        self.init = init
        self.reduction = reduction
        self.dtype = dtype
        self.backend = backend

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    def _more_tags(self):  # scikit-learn < 1.6 reads this instead of __sklearn_tags__
        return {"allow_nan": False, "_xfail_checks": expected_failed_checks(self)}

    def __sklearn_is_fitted__(self):
        return hasattr(self, "model_")

    # ------------------------------------------------------------------ parameters
    def _hidden_sizes(self):
        h = self.hidden_layer_sizes
        if isinstance(h, numbers.Integral) and not isinstance(h, bool):
            h = (h,)
        try:
            h = list(h)
        except TypeError:
            raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints, got {h!r}") from None
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in h):
            raise ValueError(f"hidden_layer_sizes must hold positive integers, got {self.hidden_layer_sizes!r}")
        return [int(n) for n in h]

    def _activations(self, n_hidden):
        acts = self.activation
        names = acts if isinstance(acts, (list, tuple)) else [acts] * n_hidden
        if isinstance(acts, (list, tuple)) and len(acts) != n_hidden:
            raise ValueError(f"activation has {len(acts)} entries but hidden_layer_sizes has {n_hidden} layers")
        out = []
        for a in names:
            key = a.lower() if isinstance(a, str) else a
            if key not in _ACTIVATIONS:
                raise ValueError(f"activation {a!r} is not supported; choose one of "
                                 f"{', '.join(sorted(_ACTIVATIONS))} (or a list, one per hidden layer)")
            out.append(_ACTIVATIONS[key])
        return out

    def _check_params(self):
        if self.solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(map(repr, _SOLVERS))}, got {self.solver!r} "
                             "(fastnn has no L-BFGS)")
        check_number(self.alpha, "alpha", low=0)
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            check_number(self.batch_size, "batch_size ('auto' or an int)", low=1, integer=True)
        check_number(self.learning_rate_init, "learning_rate_init", low=0, low_open=True)
        check_number(self.max_iter, "max_iter", low=1, integer=True)
        check_number(self.tol, "tol", low=0)
        check_number(self.momentum, "momentum", low=0, high=1)
        check_number(self.beta_1, "beta_1", low=0, high=1, high_open=True)
        check_number(self.beta_2, "beta_2", low=0, high=1, high_open=True)
        check_number(self.epsilon, "epsilon", low=0, low_open=True)
        check_number(self.validation_fraction, "validation_fraction", low=0, high=1, low_open=True,
                      high_open=True)
        check_number(self.n_iter_no_change, "n_iter_no_change", low=1, integer=True)
        if isinstance(self.k, (list, tuple)):
            for kk in self.k:
                check_number(kk, "k", low=0, low_open=True)
        else:
            check_number(self.k, "k", low=0, low_open=True)
        if self.reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {self.reduction!r}")
        for name in ("shuffle", "warm_start", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not isinstance(self.verbose, (bool, np.bool_)):
            check_number(self.verbose, "verbose (a bool or a non-negative int)", low=0, integer=True)
        try:
            check_random_state(self.random_state)
        except (TypeError, ValueError):
            raise ValueError(f"random_state must be None, an int in [0, 2**32 - 1] or a numpy RandomState, "
                             f"got {self.random_state!r}") from None
        if self.dtype is not None:
            try:
                dt = np.dtype(self.dtype)
            except TypeError:
                dt = None
            if dt not in (np.float32, np.float64):
                raise ValueError(f"dtype must be None (follow X), 'float32' or 'float64', got {self.dtype!r}")

    def _model_dtype(self, X):
        if self.dtype is not None:
            return np.dtype(self.dtype)
        return np.dtype(np.float64) if X.dtype == np.float64 else np.dtype(np.float32)

    def _batch(self, n):
        return min(200, n) if isinstance(self.batch_size, str) else min(int(self.batch_size), n)

    def _build_model(self, n_in, n_out, dtype, seed):
        hidden = self._hidden_sizes()
        acts = self._activations(len(hidden))
        init = self.init
        if isinstance(init, str) and init == "auto":
            init = "he" if acts and all(a in _RELU_FAMILY for a in acts) else "xavier"
        output, loss = self._output(n_out)
        return DeepMLP([n_in, *hidden, n_out], activation=acts if acts else "linear", output=output, loss=loss,
                       k=self.k, init=init, dtype=dtype, backend=self.backend, seed=seed)

    # ------------------------------------------------------------------ training
    def _train(self, X, T, Xv=None, Tv=None, epochs=1, stopping=True):
        """Run ``epochs`` epochs (fewer if the stopping rule fires) on (X, T); T holds encoded
        targets (class indices or real values). Returns the monitor."""
        self._no_improvement_count = 0
        monitor = _EpochMonitor(self, Xv, Tv, stopping=stopping)
        batch = self._batch(X.shape[0])
        wd = self.alpha / batch if self.reduction == "mean" else self.alpha
        try:
            hist = self.model_.fit(
                X, T, epochs=epochs, lr=self.learning_rate_init, batch_size=batch, reduction=self.reduction,
                optimizer=self.solver, momentum=self.momentum, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                weight_decay=wd, shuffle=bool(self.shuffle), seed=self._rng, callbacks=[monitor], progress=False)
        except TrainingDiverged as exc:  # the model keeps its last finite weights; count what was done
            self.n_iter_ += exc.history.epochs
            self.t_ += exc.history.steps
            raise
        except TrainingInterrupted as exc:  # Ctrl-C: keep the steps done, like scikit-learn's MLP
            self.n_iter_ += exc.history.epochs
            self.t_ += exc.history.steps
            monitor.interrupted = True
            warnings.warn("Training interrupted by user.", UserWarning, stacklevel=5)
            return monitor
        self.n_iter_ += hist.epochs
        self.t_ += hist.steps
        return monitor

    def _fit(self, X, y, incremental, classes=None):
        self._check_params()
        fitted = hasattr(self, "model_")
        first = not fitted or (not incremental and not self.warm_start)
        if first and fitted:  # starting over: a fit that fails leaves the estimator unfitted, not stale
            del self.model_
        X, y = _validate_data(self, X, y, reset=first, dtype="numeric", **self._y_check_params())
        if first:
            dtype = self._model_dtype(X)
        else:
            dtype = self.model_.dtype
        X = check_X(X, dtype=dtype)  # float64 values beyond a float32 network's range are refused by name
        T, n_out = self._encode_targets(y, first, incremental, classes)
        if first:
            rs = check_random_state(self.random_state)
            seeds = rs.randint(np.iinfo(np.int32).max, size=3)
            self.model_ = self._build_model(X.shape[1], n_out, dtype, int(seeds[0]))
            self._rng = np.random.default_rng(int(seeds[1]))
            self._split_seed = int(seeds[2])
            self.n_iter_ = 0
            self.t_ = 0
            self.loss_curve_ = []
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.n_layers_ = len(self.model_.layer_dims)
            self.n_outputs_ = n_out
            self.out_activation_ = self.model_.output
        early = self.early_stopping and not incremental
        if self.best_loss_ is None and not early:  # continuing after an early-stopped fit
            self.best_loss_ = np.inf
        try:
            self._fit_epochs(X, T, incremental)
        except Exception:
            if first:
                del self.model_
            raise
        return self

    def _fit_epochs(self, X, T, incremental):
        early = self.early_stopping and not incremental
        if incremental:
            self._train(X, T, epochs=1, stopping=False)
            return
        Xv = Tv = None
        if early:
            X, Xv, T, Tv = self._split(X, T)
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        monitor = self._train(X, T, Xv, Tv, epochs=int(self.max_iter), stopping=True)
        if early and monitor.best_theta is not None:
            self.model_.params[:] = monitor.best_theta
        if not (monitor.converged or monitor.interrupted):
            warnings.warn(f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=4)

    def _split(self, X, T):
        """Hold out validation_fraction of (X, T) for early stopping: stratified for
        classifiers when every class can have a validation sample, else a plain random split."""
        n = X.shape[0]
        n_val = int(np.ceil(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(f"early_stopping=True needs enough samples to hold out validation_fraction="
                             f"{self.validation_fraction} of them; got {n} samples")
        stratify = None
        if self._task == "classifier":
            counts = np.bincount(T)
            counts = counts[counts > 0]
            if counts.min() >= 2 and counts.size <= n_val and counts.size <= n - n_val:
                stratify = T
        return train_test_split(X, T, test_size=n_val, random_state=self._split_seed, stratify=stratify)

    def fit(self, X, y):
        """Train on (X, y) for up to ``max_iter`` epochs; returns ``self``. With
        ``warm_start=True`` a fitted estimator continues from its current weights."""
        return self._fit(X, y, incremental=False)

    # ------------------------------------------------------------------ inspection
    @property
    def coefs_(self):
        """Weight matrices (n_in, n_out) of each layer (views into ``model_``)."""
        check_is_fitted(self)
        return self.model_.weights

    @property
    def intercepts_(self):
        """Bias vectors of each layer (views into ``model_``)."""
        check_is_fitted(self)
        return self.model_.biases

    def _forward(self, X):
        check_is_fitted(self)
        X = _validate_X(self, X)
        return self.model_.forward(X)


class FastMLPClassifier(ClassifierMixin, _BaseFastMLP):
    """Multi-layer perceptron classifier trained by fastnn's compiled loop.

    Binary problems use one sigmoid output unit and binary cross-entropy, multiclass ones a
    softmax output with cross-entropy. Labels may be of any type (ints, strings, …); they
    are stored sorted in ``classes_``.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        Units of each hidden layer; ``()`` gives a linear (logistic-regression) model.
    activation : str or list of str, default="relu"
        "relu", "tanh", "logistic"/"sigmoid", "identity"/"linear", "relu6", "leaky_relu",
        or one name per hidden layer.
    solver : {"adam", "sgd", "momentum"}, default="adam"
        "sgd" is plain SGD, "momentum" is SGD with heavy-ball ``momentum``.
    alpha : float, default=1e-4
        L2 penalty, with scikit-learn's MLP meaning: the batch objective is the mean loss +
        alpha / (2·batch) · Σ‖W‖² (biases are not penalised). fastnn receives it as
        ``weight_decay = alpha / batch`` (``reduction="mean"``) or ``alpha`` ("sum").
    batch_size : int or "auto", default="auto"
        Mini-batch size; "auto" is ``min(200, n_samples)``. Larger values are clipped to n_samples
        (then every epoch is one full-batch step).
    learning_rate_init : float, default=1e-3
    max_iter : int, default=200
        Maximum number of epochs (each sample seen once per epoch).
    shuffle : bool, default=True
        Shuffle the samples at every epoch.
    random_state : int, RandomState or None
        Seeds the initial weights, the shuffling and the early-stopping split.
    tol, n_iter_no_change : stopping rule, as in scikit-learn: training stops when the
        training loss (or with ``early_stopping`` the validation accuracy) has not improved
        by ``tol`` for ``n_iter_no_change`` consecutive epochs. Reaching ``max_iter`` first
        raises a :class:`~sklearn.exceptions.ConvergenceWarning`.
    verbose : bool
        Print the loss after every epoch.

    A fit that raises (bad input, :class:`fastnn.TrainingDiverged` when the loss becomes NaN —
    lower ``learning_rate_init``) leaves a fresh estimator unfitted; Ctrl-C during ``fit`` keeps
    the epochs done and warns "Training interrupted by user.", like scikit-learn's MLP.
    warm_start : bool
        ``fit`` continues from the current weights, optimiser state and shuffling stream instead
        of starting over (two warm fits of 3 epochs equal one fit of 6 when no stopping rule fires).
    momentum, beta_1, beta_2, epsilon : optimiser settings ("momentum" / "adam").
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data and stop when its
        accuracy stops improving; the best weights are restored.
    validation_fraction : float, default=0.1
    k : float or list, default=1.0
        Steepness of sigmoid/tanh hidden units (σ(kx), tanh(kx)).
    init : str, tuple or callable, default="auto"
        fastnn initialiser; "auto" is "he" for ReLU-family networks and "xavier" otherwise.
    reduction : {"mean", "sum"}, default="mean"
        Average or sum the gradients over a batch.
    dtype : None, "float32" or "float64", default=None
        Network precision; None follows X (float64 X → float64, anything else → float32).
    backend : {"auto", "numba", "cython", "numpy"}, default="auto"

    Attributes
    ----------
    model_ : fastnn.DeepMLP — the trained network.
    classes_ : ndarray — class labels.
    n_features_in_, feature_names_in_ : input description (the latter for DataFrames with string columns).
    n_iter_ : int — epochs run (accumulated over warm starts and ``partial_fit`` calls).
    t_ : int — optimiser steps taken.
    loss_, loss_curve_ : last and per-epoch training loss.
    best_loss_ : float or None — best training loss (None with early stopping).
    validation_scores_, best_validation_score_ : validation accuracy per epoch and its best
        value (None without early stopping).
    coefs_, intercepts_ : per-layer weights and biases (views into ``model_``).
    n_layers_, n_outputs_, out_activation_ : network shape and output activation.
    """

    _task = "classifier"

    def _y_check_params(self):
        return {"multi_output": False}

    def _output(self, n_out):
        return ("sigmoid", "bce") if n_out == 1 else ("softmax", "cross_entropy")

    def _encode_targets(self, y, first, incremental, classes):
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"{type(self).__name__} supports binary and multiclass targets, got {kind} "
                             "targets")
        if first:
            if incremental:
                if classes is None:
                    raise ValueError("classes must be passed on the first call to partial_fit "
                                     "(all the labels that can occur, e.g. classes=np.unique(y_all))")
                check_classification_targets(np.asarray(classes))
                self.classes_ = np.unique(np.asarray(classes))
            else:
                self.classes_ = np.unique(y)
            if self.classes_.size < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes to train, but y has only "
                                 f"1 class: {self.classes_[0]!r}")
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes={np.unique(np.asarray(classes))!r} is not the same as the classes of "
                             f"the first call to partial_fit, {self.classes_!r}")
        present = np.unique(y)
        unknown = np.setdiff1d(present, self.classes_)
        if unknown.size:
            if not incremental:
                raise ValueError(f"warm_start can only be used where y has the same classes as in the previous "
                                 f"call to fit. Previously got {self.classes_!r}, y has {present!r}")
            raise ValueError(f"y contains labels {unknown!r} that are not in classes_ {self.classes_!r}")
        if not first and not incremental and not np.array_equal(present, self.classes_):
            raise ValueError(f"warm_start can only be used where y has the same classes as in the previous "
                             f"call to fit. Previously got {self.classes_!r}, y has {present!r}")
        T = np.searchsorted(self.classes_, y).astype(np.int64)
        n_out = 1 if self.classes_.size == 2 else self.classes_.size
        return T, n_out

    def _validation_score(self, model, X, T):
        return float(np.mean(np.argmax(model.predict_proba(X), axis=1) == T))

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y) from the current weights (the first call builds the network
        and needs ``classes``, every label that can occur). ``early_stopping`` and the stopping
        rule do not apply and no ConvergenceWarning is given, as in scikit-learn. Returns ``self``."""
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), in the order of ``classes_``."""
        P = self._forward(X)
        if P.shape[1] == 1:
            P = np.hstack([1 - P, P])
        return P

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        P = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(P, out=P)

    def predict(self, X):
        """The most probable class of each sample."""
        P = self.predict_proba(X)
        return self.classes_[np.argmax(P, axis=1)]


class FastMLPRegressor(RegressorMixin, _BaseFastMLP):
    """Multi-layer perceptron regressor (linear output, mean squared error) trained by fastnn.

    ``y`` may be 1-D (one target; ``predict`` returns shape (n_samples,)) or 2-D (one column
    per target; ``predict`` returns (n_samples, n_targets)). The parameters and attributes
    are those of :class:`FastMLPClassifier` (``alpha``, ``solver``, ``early_stopping`` with
    the validation R², ``dtype`` following X, …) without ``classes_``. Targets are not
    rescaled: standardise large-valued targets (e.g. with
    :class:`~sklearn.compose.TransformedTargetRegressor`).
    """

    _task = "regressor"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {**super()._more_tags(), "multioutput": True}

    def _y_check_params(self):
        return {"multi_output": True, "y_numeric": True}

    def _output(self, n_out):
        return "linear", "mse"

    def _encode_targets(self, y, first, incremental, classes):
        if classes is not None:
            raise TypeError("classes is only for classifiers")
        y = np.asarray(y)
        if y.ndim > 2:
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        n_out = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self._y_ndim = y.ndim
        elif n_out != self.n_outputs_:
            raise ValueError(f"y has {n_out} targets but the fitted model has {self.n_outputs_}")
        return y.reshape(y.shape[0], n_out), n_out

    def _validation_score(self, model, X, T):
        P = model.forward(X).astype(np.float64)
        T = T.astype(np.float64)
        ss_res = ((T - P) ** 2).sum(axis=0)
        ss_tot = ((T - T.mean(axis=0)) ** 2).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
        return float(np.mean(r2))

    def partial_fit(self, X, y):
        """One epoch over (X, y) from the current weights (the first call builds the network)."""
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """Predicted targets: (n_samples,) for a 1-D training y, else (n_samples, n_targets)."""
        P = self._forward(X)
        return P[:, 0] if self._y_ndim == 1 else P
