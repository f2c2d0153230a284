"""Moved to :mod:`fastnn.train.callbacks`; this name keeps old imports working."""
from .train.callbacks import Callback, EarlyStopping, LambdaCallback, defines  # noqa: F401
