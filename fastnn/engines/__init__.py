"""The ways a training step is executed, behind one protocol (``base.Engine``).

* ``loops.CLoopEngine``: the whole training loop in C (Cython backend): tiny nets, mini-batches,
  per-sample SGD and moderate full batches (up to ``config.CLOOP_MAX_WORK`` multiply-adds a step).
* ``loops.LoopEngine``: the same loop compiled by Numba, for ``backend="numba"`` (and "auto" when
  the Cython extension is missing).
* ``kernel.KernelEngine``: a Python loop calling one backend's kernels per layer, in row blocks:
  large full-batch steps, where the GEMMs dominate, and ``backend="numpy"``.
* ``select.choose_engine``: which of the three runs a step ("auto" or forced with ``engine=``).

All three work on the same flat buffers (θ, its gradient, the optimiser's moments, and a work
vector of each layer's activations A_l and deltas D_l), so statistics read them alike.
"""
from .base import Buffers, Engine
from .kernel import KernelEngine, forward_rows
from .loops import CLoopEngine, LoopEngine
from .select import ENGINES, available_backend_modules, choose_engine, kernel_backend

ENGINE_CLASSES = {"cloop": CLoopEngine, "loop": LoopEngine}

__all__ = ["Buffers", "Engine", "KernelEngine", "LoopEngine", "CLoopEngine", "choose_engine", "kernel_backend",
           "available_backend_modules", "forward_rows", "ENGINES", "ENGINE_CLASSES"]
