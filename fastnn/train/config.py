"""FitConfig: every option of ``fit``, written once and validated once.

``Model.fit(X, y, **options)`` builds a FitConfig from its keyword arguments (its signature
shown by ``help`` is generated from these fields), and the trainer reads nothing else.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields

import numpy as np

from .. import config as tunables
from ..engines.select import ENGINES
from .optim import Optimizer, make_optimizer
from .schedules import learning_rates


def _positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return int(value)


def _positive_real(value, name, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)  # (a float64 beyond float32's range is fine here: it is a hyper-parameter)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'} and finite, got {value!r}")
    return value


def _bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


@dataclass
class FitConfig:
    """Options of ``fit``. ``batch_size=None`` is full-batch gradient descent (one step per
    iteration), an int gives mini-batches (1 = per-sample SGD). ``reduction="sum"`` sums
    gradients over the batch (the classic notebooks' lr·Σ), ``"mean"`` averages them. Give
    ``iterations`` (optimiser steps) or ``epochs`` (passes over X; default 10). ``optimizer``:
    "sgd", "momentum" (classic heavy-ball, ``momentum``), "adam" (``betas``, ``eps``);
    ``weight_decay`` is an L2 penalty on the weights. ``schedule``: "constant",
    ("cosine", {"lr_min":…, "cycles":…}), ("step", {"step_size":…, "gamma":…}) or f(step, total).
    ``record="layers"`` keeps per-layer statistics every ``record_every`` steps. ``engine``
    forces how steps run ("cloop", "loop", "kernels"; default "auto", see fastnn.engines).
    Divergence — a NaN/inf loss, or a step loss above ``divergence_factor`` × the first one —
    rolls the model back to the last parameters whose loss was finite and raises
    :class:`~fastnn.train.trainer.TrainingDiverged` (or warns and stops with
    ``on_divergence="stop"``); ``divergence_factor=None`` turns the growth test off."""

    epochs: int | None = None
    iterations: int | None = None
    lr: float = 0.01
    batch_size: int | None = None
    reduction: str = "mean"
    optimizer: str = "sgd"
    momentum: float = 0.9
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    schedule: object = "constant"
    validation_data: tuple | None = None
    validation_every: int | None = None
    callbacks: list = field(default_factory=list)
    shuffle: bool = True
    seed: int | None = None
    record: str | None = None
    record_every: int = 10
    progress: bool = True
    on_divergence: str = "raise"
    engine: str = "auto"
    divergence_factor: float | None = tunables.DIVERGENCE_FACTOR

    def __post_init__(self):
        if self.epochs is not None and self.iterations is not None:
            raise ValueError("give either epochs or iterations, not both")
        self.epochs = _positive_int(self.epochs, "epochs", allow_none=True)
        self.iterations = _positive_int(self.iterations, "iterations", allow_none=True)
        self.lr = _positive_real(self.lr, "learning rate lr")
        self.batch_size = _positive_int(self.batch_size, "batch_size", allow_none=True)
        self.reduction = _choice(self.reduction, "reduction", ("sum", "mean"))
        self.weight_decay = _positive_real(self.weight_decay, "weight_decay", allow_zero=True)
        self.validation_every = _positive_int(self.validation_every, "validation_every", allow_none=True)
        self.shuffle = _bool(self.shuffle, "shuffle")
        self.progress = _bool(self.progress, "progress")
        self.record = None if self.record is None else _choice(self.record, "record", ("layers",))
        self.record_every = _positive_int(self.record_every, "record_every")
        self.on_divergence = _choice(self.on_divergence, "on_divergence", ("raise", "stop"))
        self.engine = _choice(self.engine, "engine", ENGINES)
        if self.divergence_factor is not None:
            self.divergence_factor = _positive_real(self.divergence_factor, "divergence_factor")
            if self.divergence_factor <= 1:
                raise ValueError(f"divergence_factor must be > 1 (or None to turn the test off), "
                                 f"got {self.divergence_factor!r}")
        if not (self.seed is None or isinstance(self.seed, (np.random.Generator, np.random.SeedSequence))):
            if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) or self.seed < 0:
                raise ValueError(f"seed must be None, a non-negative integer or a numpy Generator, got {self.seed!r}")
        if self.callbacks is None or isinstance(self.callbacks, (str, bytes)) or not hasattr(self.callbacks, "__iter__"):
            raise TypeError(f"callbacks must be a list of fastnn.Callback objects (use [] for none), "
                            f"got {self.callbacks!r}")
        self.callbacks = list(self.callbacks)
        for i, cb in enumerate(self.callbacks):
            if isinstance(cb, type):
                raise TypeError(f"callbacks[{i}] is the class {cb.__name__}, not an instance: pass {cb.__name__}(...)")
            if not any(callable(getattr(cb, hook, None)) for hook in HOOKS):
                raise TypeError(f"callbacks[{i}] ({type(cb).__name__}) has none of the hooks {', '.join(HOOKS)}; "
                                "subclass fastnn.Callback")
        if self.validation_data is not None:
            vd = self.validation_data
            if isinstance(vd, (str, bytes)) or not hasattr(vd, "__len__") or len(vd) != 2:
                raise ValueError("validation_data must be a pair (X_val, y_val)")
        learning_rates(self.schedule, self.lr, 1)  # unknown names and malformed options fail here, by name
        self.optimizer_obj = make_optimizer(self.optimizer, momentum=self.momentum, betas=self.betas, eps=self.eps,
                                            weight_decay=self.weight_decay)
        if isinstance(self.optimizer, Optimizer):
            self.optimizer = self.optimizer.name

    def params_summary(self, batch_size, engine_name, steps) -> dict:
        """What History.params records about the run."""
        schedule = self.schedule if isinstance(self.schedule, str) else repr(self.schedule)
        return dict(lr=self.lr, batch_size=batch_size, reduction=self.reduction, optimizer=self.optimizer,
                    schedule=schedule, weight_decay=self.weight_decay, engine=engine_name, steps=steps)


HOOKS = ("on_train_begin", "on_epoch_end", "on_step_end", "on_train_end")
FIT_OPTIONS = tuple(f.name for f in fields(FitConfig))
