"""Training, shared by every model: the trainer and its configuration, optimisers, schedules,
callbacks and the History it returns.

    config.py     FitConfig — the options of fit, validated once
    trainer.py    Trainer — chunks of steps, history, validation, callbacks, rollback, Ctrl-C
    optim.py      SGD, Momentum, Adam — optimiser state objects
    schedules.py  learning-rate schedules
    callbacks.py  Callback, EarlyStopping, LambdaCallback
    history.py    History, LayerSnapshot
    recording.py  per-layer statistics for record="layers"
"""
from .callbacks import Callback, EarlyStopping, LambdaCallback
from .config import FIT_OPTIONS, FitConfig
from .history import History, LayerSnapshot
from .optim import SGD, Adam, Momentum, Optimizer, make_optimizer
from .trainer import Trainer, TrainingDiverged, TrainingInterrupted, fit

__all__ = ["Callback", "EarlyStopping", "LambdaCallback", "FitConfig", "FIT_OPTIONS", "History", "LayerSnapshot",
           "SGD", "Momentum", "Adam", "Optimizer", "make_optimizer", "Trainer", "TrainingDiverged",
           "TrainingInterrupted", "fit"]
