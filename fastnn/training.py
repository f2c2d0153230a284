"""Moved to :mod:`fastnn.train.trainer`; this name keeps old imports working."""
from .train.trainer import Trainer, TrainingDiverged, TrainingInterrupted, fit  # noqa: F401
