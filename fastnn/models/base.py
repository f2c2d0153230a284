"""Model: what every fastnn model shares — fit through the shared trainer, predictions, scores,
save/load. A model class supplies its network (``describe``, ``forward``, ``parameters``) and
the three hooks the trainer calls: ``_training_data``, ``_validation_data``, ``_make_engine``.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..train.config import FitConfig
from ..train.trainer import fit as _train


class Model:
    """Base class; see :class:`fastnn.DeepMLP` for a complete model."""

    #: defaults of fit options that differ for this kind of model (e.g. record_every)
    fit_defaults: dict = {}

    def fit(self, X, y, **options):
        """Train in place and return a :class:`~fastnn.History`; the options are those of
        :class:`~fastnn.train.FitConfig` (listed in this method's signature)."""
        config = FitConfig(**{**self.fit_defaults, **options})
        return _train(self, X, y, config)

    @property
    def params(self):
        """All parameters as one flat vector θ (a view; ``parameters`` names its pieces)."""
        return self.parameters.theta

    @property
    def n_params(self):
        return self.parameters.size

    # ------------------------------------------------------------------ predictions
    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes); for one sigmoid unit, [1 − p, p]."""
        if self.task == "regression":
            raise TypeError("predict_proba is for classifiers; this model has a linear output (regression)")
        P = self.forward(X)
        if self.task == "binary":
            return np.hstack([1 - P, P])
        return P

    def predict(self, X):
        """Class labels (argmax of the outputs), or the outputs for regression models."""
        out = self.forward(X)
        if self.task == "regression":
            return out[:, 0] if out.shape[1] == 1 else out
        if self.task == "binary":
            return (out[:, 0] > 0.5).astype(np.int64)
        return np.argmax(out, axis=1)

    def evaluate(self, X, y):
        """(mean loss, accuracy) on (X, y) without changing the model (accuracy NaN for regression)."""
        loss, _, _ = self.loss_and_gradients(X, y, reduction="mean", gradients=False)
        acc = self.score(X, y) if self.task != "regression" else float("nan")
        return loss, acc

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the model to ``path`` (a versioned .npz, no pickle), atomically."""
        from ..io import save_model

        return save_model(self, path)

    @classmethod
    def load(cls, path, backend="auto"):
        from ..io import load_model

        return load_model(path, backend=backend)


def _fit_signature():
    """Model.fit's signature, generated from FitConfig's fields so it is written once."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("X", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("y", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for p in inspect.signature(FitConfig).parameters.values():
        params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))
    return inspect.Signature(params)


Model.fit.__signature__ = _fit_signature()
