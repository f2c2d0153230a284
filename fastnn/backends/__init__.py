"""Kernel dispatch: the "numpy" reference, "numba" and "cython" backends.

``get_backend(name)`` returns a module implementing the kernel contract described in
``numpy_backend``. A model's ``backend="auto"`` is resolved by ``fastnn.engines.select``:
the fastest backend that imports (cython, numba, numpy) for its kernels, and per training
step the engine that runs it (C whole loop, Numba whole loop, or row-blocked kernels).
"""
from __future__ import annotations

import importlib

BACKENDS = ("numpy", "numba", "cython")
_MODULES = {"numpy": "numpy_backend", "numba": "numba_backend", "cython": "cython_backend"}
_cache: dict = {}
_errors: dict = {}


def get_backend(name: str):
    """The kernel module of backend ``name`` (raises a clear error if unavailable)."""
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose 'auto' or one of {', '.join(BACKENDS)}")
    if name in _errors:  # a failed import is not retried: every probe after the first is a lookup
        raise ImportError(_errors[name])
    if name not in _cache:
        try:
            _cache[name] = importlib.import_module(f".{_MODULES[name]}", __name__)
        except ImportError as exc:
            hint = ("the compiled extension is missing: reinstall with `pip install .` "
                    "(a C compiler is needed when building from source)") if name == "cython" else \
                   "install numba (`pip install numba`)"
            _errors[name] = f"fastnn backend {name!r} is not available ({exc}); {hint}"
            raise ImportError(_errors[name]) from exc
    return _cache[name]


def backend_modules() -> dict:
    """{name: kernel module} of the backends that import on this machine, fastest first
    (cython, numba, numpy): the one probe every caller uses."""
    out = {}
    for name in ("cython", "numba", "numpy"):
        try:
            out[name] = get_backend(name)
        except ImportError:
            pass
    return out


def available_backends() -> list:
    """Names of the backends that import on this machine (in BACKENDS order)."""
    found = backend_modules()
    return [name for name in BACKENDS if name in found]


def validate_name(name: str) -> str:
    if not isinstance(name, str) or (name != "auto" and name not in _MODULES):
        raise ValueError(f"unknown backend {name!r}; choose 'auto' or one of {', '.join(BACKENDS)}")
    return name
