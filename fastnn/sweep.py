"""Sweeps: run one training function over many settings, in parallel through joblib.

    >>> from fastnn.sweep import grid, sweep
    >>> def train(activation, init, seed=0): ...          # a module-level function
    >>> results = sweep(train, grid(activation=["tanh", "relu"], init=["he", "xavier"]), jobs=2)

``jobs > 1`` uses joblib's process pool (loky); inside ``joblib.parallel_config(backend="dask")``
(or "ray") the same call runs on a cluster. Each worker gets ``cores // jobs`` threads for BLAS,
Numba and OpenMP, so parallel runs do not oversubscribe the machine. Results come back in the
order of ``variants`` and are identical to a serial run for the same seeds.
"""
from __future__ import annotations

import itertools

from ._threads import default_num_threads


def grid(**axes) -> list:
    """All combinations of the given values: grid(a=[1, 2], b=["x"]) → [{a:1, b:x}, {a:2, b:x}]."""
    names = list(axes)
    for name, values in axes.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"grid axis {name!r} must be a list of values, got {values!r}")
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(axes[n]) for n in names))]


def _run_one(fn, kwargs, threads):
    from . import set_num_threads

    if threads is not None:
        set_num_threads(threads)
    return fn(**kwargs)


def sweep(fn, variants, jobs: int = 1, threads: int | None = None, progress: bool = True, desc: str = "sweep"):
    """[fn(**v) for v in variants], run by ``jobs`` joblib workers (1: in this process)."""
    variants = list(variants)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    if not callable(fn):
        raise TypeError("fn must be a callable taking the variant's settings as keyword arguments")
    from tqdm.auto import tqdm

    if jobs == 1 or len(variants) <= 1:
        return [fn(**v) for v in tqdm(variants, desc=desc, disable=not progress, leave=False)]
    import joblib

    if threads is None:
        threads = max(1, default_num_threads() // jobs)
    tasks = (joblib.delayed(_run_one)(fn, v, threads) for v in variants)
    try:
        runner = joblib.Parallel(n_jobs=jobs, return_as="generator")
        results = list(tqdm(runner(tasks), total=len(variants), desc=desc, disable=not progress, leave=False))
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if "Terminated" in name or "BrokenProcessPool" in name or "KilledWorker" in name:
            raise RuntimeError(f"a sweep worker died while running ({name}: {exc}); no partial results were "
                               "kept — check memory limits or run with jobs=1 to see the error") from exc
        raise
    if len(results) != len(variants):  # pragma: no cover - joblib guarantees this
        raise RuntimeError(f"sweep returned {len(results)} results for {len(variants)} variants")
    return results
