"""Callbacks: objects whose hooks the training loop calls.

``on_step_end`` hooks force the compiled loop to return to Python every step, so
only define it when needed; ``on_epoch_end`` runs once per epoch (per iteration in
full-batch training). A hook may set ``trainer.stop = True`` to end training.
"""
from __future__ import annotations

import numpy as np

from ..validation import check_bool, check_number


class Callback:
    def on_train_begin(self, trainer):
        pass

    def on_epoch_end(self, trainer, epoch: int, logs: dict):
        pass

    def on_step_end(self, trainer, step: int, logs: dict):
        pass

    def on_train_end(self, trainer):
        pass


def defines(callback, hook: str) -> bool:
    """True if the callback overrides ``hook`` (so the loop must stop for it)."""
    if hook in getattr(callback, "__dict__", {}):
        return True
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs;
    optionally restore the best weights seen."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True):
        if not isinstance(monitor, str) or monitor not in ("val_loss", "val_accuracy", "loss", "accuracy"):
            raise ValueError(f"EarlyStopping cannot monitor {monitor!r}; use val_loss, val_accuracy, loss or accuracy")
        self.monitor = monitor
        self.patience = int(check_number(patience, "EarlyStopping patience (epochs)", low=0, integer=True))
        self.min_delta = check_number(min_delta, "EarlyStopping min_delta", low=0)
        self.restore_best = check_bool(restore_best, "EarlyStopping restore_best")
        self.mode = -1.0 if "accuracy" in monitor else 1.0  # minimise loss, maximise accuracy

    def on_train_begin(self, trainer):
        self.best, self.wait, self.best_theta, self.best_epoch = np.inf, 0, None, -1

    def on_epoch_end(self, trainer, epoch, logs):
        value = logs.get(self.monitor)
        if value is None:
            return
        score = self.mode * value
        if score < self.best - self.min_delta:
            self.best, self.wait, self.best_epoch = score, 0, epoch
            if self.restore_best:
                self.best_theta = trainer.theta.copy()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop = True
                trainer.history.stopped = "early_stopping"
                trainer.history.message = (f"early stopping: {self.monitor} did not improve for "
                                           f"{self.patience} epochs (best at epoch {self.best_epoch})")

    def on_train_end(self, trainer):
        if self.restore_best and self.best_theta is not None and trainer.history.stopped == "early_stopping":
            trainer.theta[:] = self.best_theta


class LambdaCallback(Callback):
    """Wrap plain functions: ``LambdaCallback(on_epoch_end=lambda trainer, epoch, logs: ...)``."""

    def __init__(self, on_epoch_end=None, on_step_end=None):
        for name, hook in (("on_epoch_end", on_epoch_end), ("on_step_end", on_step_end)):
            if hook is not None and not callable(hook):
                raise TypeError(f"LambdaCallback {name} must be a function f(trainer, step_or_epoch, logs) "
                                f"or None, got {hook!r}")
        if on_epoch_end is not None:
            self.on_epoch_end = on_epoch_end
        if on_step_end is not None:
            self.on_step_end = on_step_end
