"""Which engine runs a model's training steps, and which backends this machine has.

``auto`` (the default) picks by the work of one step (multiply-adds, rows × units) against the
crossovers measured in ``fastnn.config``; ``fit(..., engine=...)`` forces one:
"cloop" (C whole loop, Cython backend), "loop" (Numba whole loop), "kernels" (the model
backend's kernels from Python, row-blocked).
"""
from __future__ import annotations

from .. import config

from ..backends import backend_modules as available_backend_modules
from ..backends import get_backend

ENGINES = ("auto", "cloop", "loop", "kernels")


def kernel_backend(backend_name: str):
    """The kernel module a model with ``backend=backend_name`` uses outside the whole loops."""
    if backend_name != "auto":
        return get_backend(backend_name)
    available = available_backend_modules()
    if not available:  # pragma: no cover - numpy always imports
        raise ImportError("no fastnn backend could be imported")
    return next(iter(available.values()))


def choose_engine(backend_name: str, rows: int, full_batch: bool, layer_dims, engine: str = "auto") -> tuple:
    """(engine kind, backend module or None) for a forced or "auto" backend and engine.

    kinds: "cloop" (C whole loop, Cython backend), "loop" (Numba whole loop), "kernels".
    "auto" uses the C loop whenever the Cython backend is there (thresholds in fastnn.config);
    the Numba loop only without it, or when backend="numba" is forced."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine != "auto":
        return _forced(engine, backend_name)
    work = rows * sum(a * b for a, b in zip(layer_dims[:-1], layer_dims[1:]))
    in_cloop = work <= config.CLOOP_MAX_WORK and rows * sum(layer_dims[1:]) <= config.CLOOP_MAX_UNITS
    small = (not full_batch) or work <= config.LOOP_MAX_WORK
    if backend_name == "numpy":
        return "kernels", get_backend("numpy")
    if backend_name == "cython":
        return ("cloop", None) if in_cloop else ("kernels", get_backend("cython"))
    if backend_name == "numba":
        return ("loop", None) if small else ("kernels", get_backend("numba"))
    available = available_backend_modules()
    if "cython" in available:
        return ("cloop", None) if in_cloop else ("kernels", available["cython"])
    if small and "numba" in available:
        return "loop", None
    for name in ("numba", "numpy"):
        if name in available:
            return "kernels", available[name]
    raise ImportError("no fastnn backend could be imported")  # pragma: no cover


def _forced(engine, backend_name):
    if engine == "kernels":
        return "kernels", kernel_backend(backend_name)
    needs = {"cloop": "cython", "loop": "numba"}[engine]
    if backend_name not in ("auto", needs):
        raise ValueError(f"engine={engine!r} runs on the {needs} backend, but the model has backend={backend_name!r}; "
                         f"use backend={needs!r} or 'auto', or engine='kernels'")
    get_backend(needs)  # a clear ImportError when it is missing
    return engine, None
