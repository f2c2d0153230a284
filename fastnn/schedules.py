"""Moved to :mod:`fastnn.train.schedules`; this name keeps old imports working."""
from .train.schedules import SCHEDULES, constant, cosine, learning_rates, step  # noqa: F401
