"""One switch for every thread pool fastnn touches: BLAS (via threadpoolctl),
Numba's parallel loops and the Cython/OpenMP epilogues, so they never oversubscribe."""
from __future__ import annotations

import numbers
import os

import numpy as np

_state = {"n": None, "limiter": None}


def default_num_threads() -> int:
    """OMP_NUM_THREADS when set (joblib/loky workers get their share through it), else all
    cores this process may use (respects CPU affinity)."""
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cores()


def usable_cores() -> int:
    """The cores this process may run on (respects CPU affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return os.cpu_count() or 1


def max_threads() -> int:
    """The largest count :func:`set_num_threads` accepts: 4 per core of this machine, and at
    least 64. More threads than that only oversubscribe the cores, and absurd counts make
    libgomp fail to create its team, which ends the interpreter instead of raising."""
    return max(64, 4 * (os.cpu_count() or 1))


def _probe(n: int) -> None:
    """Start n − 1 threads that live at the same time, so that an OS limit (threads, memory for
    their stacks) surfaces here as a Python exception, before libgomp or BLAS are asked for a
    team of n (libgomp exits the process when it cannot create one)."""
    if n <= _state.get("probed", 1):
        return
    import threading

    release = threading.Event()
    started = []
    try:
        for _ in range(n - 1):
            t = threading.Thread(target=release.wait, daemon=True)
            t.start()
            started.append(t)
    except RuntimeError as exc:
        raise RuntimeError(f"cannot use {n} threads: only {len(started) + 1} could be started ({exc}); the "
                           "system's limit on threads or memory is reached. Call "
                           f"fastnn.set_num_threads({max(1, len(started) // 2)}) or fewer.") from None
    finally:
        release.set()
        for t in started:
            t.join()
    _state["probed"] = n


def set_num_threads(n: int | None = None) -> int:
    """Use ``n`` threads for BLAS, Numba and OpenMP alike (``None``: all cores, at most
    :func:`max_threads`). Returns n. Raises ValueError above :func:`max_threads`, RuntimeError
    when the system cannot start that many threads."""
    if n is None:
        n = min(default_num_threads(), max_threads())
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
        raise TypeError(f"number of threads must be a positive integer, got {n!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"number of threads must be a positive integer, got {n!r}")
    if n > max_threads():
        raise ValueError(f"number of threads {n} is above fastnn's cap of {max_threads()} (4 per core on this "
                         f"{os.cpu_count()}-core machine, at least 64): more only oversubscribes the cores. "
                         "Use set_num_threads(None) for one per core.")
    _probe(n)
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


def _blas_controller():
    if _state.get("controller") is None:
        from threadpoolctl import ThreadpoolController

        _state["controller"] = ThreadpoolController()
    return _state["controller"]


def blas_on_one_thread():
    """A context in which BLAS runs single-threaded: for code that spreads its own work over the
    cores (BLAS's idle threads spin and would take a core from it)."""
    return _blas_controller().limit(limits=1, user_api="blas")


def _executor(threads):
    ex = _state.get("executor")
    if ex is None or ex._max_workers != threads:
        from concurrent.futures import ThreadPoolExecutor

        if ex is not None:
            ex.shutdown(wait=False)
        ex = _state["executor"] = ThreadPoolExecutor(threads, thread_name_prefix="fastnn-rows")
    return ex


def run_row_blocks(work, n_rows: int, block: int, threads: int | None = None) -> None:
    """Call ``work(worker, lo, hi)`` for every block of ``block`` rows of ``n_rows``, spread
    over ``threads`` Python threads (worker = 0..threads−1; worker w takes blocks w, w+threads, …).

    Each worker runs *single-threaded* BLAS and kernels on its own blocks, so the cores are
    never handed from a GEMM's thread team to an epilogue's (and back) — the hand-over, not
    the arithmetic, is what costs around small GEMMs. ``work`` must release the GIL in its
    heavy calls (the Cython kernels and np.matmul do). BLAS and the OpenMP kernels get their
    thread counts back afterwards."""
    threads = get_num_threads() if threads is None else threads
    starts = list(range(0, n_rows, block))
    if threads <= 1 or len(starts) < 2:
        for lo in starts:
            work(0, lo, min(lo + block, n_rows))
        return
    threads = min(threads, len(starts))

    def worker(w):
        for lo in starts[w::threads]:
            work(w, lo, min(lo + block, n_rows))

    from . import _cykernels

    omp = _cykernels.get_num_threads()
    with blas_on_one_thread():
        _cykernels.set_num_threads(1)
        try:
            try:
                futures = [_executor(threads).submit(worker, w) for w in range(threads)]
            except RuntimeError as exc:  # "can't start new thread": the pool is unusable now
                _state.pop("executor").shutdown(wait=True)
                raise RuntimeError(f"cannot start the {threads} worker threads of a row-block run ({exc}); "
                                   "the system's limit on threads or memory is reached: call "
                                   "fastnn.set_num_threads with a smaller count") from None
            for f in futures:
                f.result()
        finally:
            _cykernels.set_num_threads(omp)
