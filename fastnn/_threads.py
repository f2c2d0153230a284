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


def _blas_controller():
    if _state.get("controller") is None:
        from threadpoolctl import ThreadpoolController

        _state["controller"] = ThreadpoolController()
    return _state["controller"]


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
    with _blas_controller().limit(limits=1, user_api="blas"):
        _cykernels.set_num_threads(1)
        try:
            futures = [_executor(threads).submit(worker, w) for w in range(threads)]
            for f in futures:
                f.result()
        finally:
            _cykernels.set_num_threads(omp)
