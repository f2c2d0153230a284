"""One switch for every thread pool fastnn touches: BLAS (via threadpoolctl),
Numba's parallel loops and the Cython/OpenMP epilogues, so they never oversubscribe."""
from __future__ import annotations

import os

_state = {"n": None, "limiter": None}


def default_num_threads() -> int:
    """OMP_NUM_THREADS when set (joblib/loky workers get their share through it), else all
    cores this process may use (respects CPU affinity)."""
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return os.cpu_count() or 1


def set_num_threads(n: int | None = None) -> int:
    """Use ``n`` threads for BLAS, Numba and OpenMP alike (``None``: all cores). Returns n."""
    if n is None:
        n = default_num_threads()
    if not isinstance(n, (int,)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"number of threads must be a positive integer, got {n!r}")
    # load every BLAS fastnn uses (numpy's, and scipy's which the Cython kernels and Numba's
    # np.dot call) before limiting, so that none of them is missed
    import scipy.linalg.cython_blas  # noqa: F401
    from threadpoolctl import threadpool_limits

    _state["limiter"] = threadpool_limits(limits=n)
    _state["n"] = n
    try:
        import numba

        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    except ImportError:  # pragma: no cover
        pass
    try:
        from . import _cykernels

        _cykernels.set_num_threads(n)
    except ImportError:  # pragma: no cover - extension not built
        pass
    return n


def get_num_threads() -> int:
    """The thread count last set by :func:`set_num_threads` (all cores by default)."""
    return _state["n"] if _state["n"] is not None else default_num_threads()


def ensure_configured() -> None:
    """Apply the default thread setting once, lazily (not at import time)."""
    if _state["n"] is None:
        set_num_threads(None)
