"""fastnn: a compact, fast and transparent neural-network engine for CPUs.

    >>> import fastnn
    >>> model = fastnn.DeepMLP([784, 256, 128, 10], activation="sigmoid", init="he", seed=0)
    >>> history = model.fit(X, y, epochs=5, lr=0.1, batch_size=64)      # doctest: +SKIP
"""
import os as _os

# OpenMP threads of the Cython epilogues must not spin between parallel regions and steal
# the cores BLAS needs right after (set before the extension, and libgomp, are loaded).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._threads import get_num_threads, set_num_threads
from .backends import available_backends
from .io import ModelFileError, load_model
from .models import MLP, DeepMLP
from .train import Callback, EarlyStopping, History, LambdaCallback, TrainingDiverged, TrainingInterrupted
from .diagnostics import Finding, diagnose

__version__ = "0.1.0"

__all__ = [
    "DeepMLP", "MLP", "History", "Callback", "EarlyStopping", "LambdaCallback", "TrainingDiverged",
    "TrainingInterrupted", "ModelFileError", "load_model", "set_num_threads", "get_num_threads",
    "available_backends", "__version__",
]
