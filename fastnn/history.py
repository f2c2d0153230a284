"""Moved to :mod:`fastnn.train.history`; this name keeps old imports working."""
from .train.history import LAYER_STATS, History, LayerSnapshot  # noqa: F401
