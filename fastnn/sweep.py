"""Sweeps: run one training function over many settings, in parallel through joblib.

    >>> from fastnn.sweep import grid, sweep
    >>> def train(activation, init, seed=0): ...          # a module-level function
    >>> results = sweep(train, grid(activation=["tanh", "relu"], init=["he", "xavier"]), jobs=2)

``jobs > 1`` uses joblib's process pool (loky); ``backend="dask"`` (with ``scheduler=ADDRESS``)
or an active ``joblib.parallel_config(backend="dask")`` runs the same call on a dask.distributed
cluster (``backend="ray"`` on ray). Each worker gets ``cores // jobs`` threads for BLAS,
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


def _active_dask_client(backend, scheduler):
    """The dask.distributed Client to use: asked for explicitly, or joblib's active dask backend."""
    if backend == "dask" or scheduler is not None:
        from distributed import Client, default_client

        if scheduler is not None:
            return Client(scheduler)
        try:
            return default_client()
        except ValueError:
            return Client(processes=True)
    try:
        from joblib.parallel import get_active_backend

        active, _ = get_active_backend()
    except Exception:  # pragma: no cover - very old joblib
        return None
    return getattr(active, "client", None) if type(active).__name__ == "DaskDistributedBackend" else None


def _dask_sweep(client, fn, variants, threads, progress, desc):
    """Submit every variant as a dask future; a dead worker raises instead of hanging."""
    from tqdm.auto import tqdm

    futures = client.map(_run_one, [fn] * len(variants), variants, [threads] * len(variants), pure=False)
    try:
        results = []
        for fut in tqdm(futures, desc=desc, disable=not progress, leave=False):
            results.append(fut.result())
        return results
    except Exception as exc:
        if "KilledWorker" in type(exc).__name__:
            raise RuntimeError(f"a sweep worker died while running ({type(exc).__name__}: {exc}); the sweep "
                               "stopped — check the workers' memory limits, or run with jobs=1 to see the "
                               "error") from exc
        raise
    finally:
        client.cancel([f for f in futures if not f.done()])


def sweep(fn, variants, jobs: int = 1, threads: int | None = None, progress: bool = True, desc: str = "sweep",
          backend: str | None = None, scheduler: str | None = None):
    """[fn(**v) for v in variants], run by ``jobs`` joblib workers (1: in this process).

    ``backend="dask"`` (optionally with ``scheduler="tcp://host:8786"``), or an active
    ``joblib.parallel_config(backend="dask")``, runs the variants as dask.distributed futures;
    ``backend="ray"`` uses joblib's ray backend. A worker that dies fails the sweep with a
    RuntimeError (dask retries the task on another worker first, as configured)."""
    variants = list(variants)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    if not callable(fn):
        raise TypeError("fn must be a callable taking the variant's settings as keyword arguments")
    from tqdm.auto import tqdm

    client = _active_dask_client(backend, scheduler) if (jobs > 1 or backend or scheduler) else None
    if client is not None:
        return _dask_sweep(client, fn, variants, threads or 1, progress, desc)
    if jobs == 1 or len(variants) <= 1:
        return [fn(**v) for v in tqdm(variants, desc=desc, disable=not progress, leave=False)]
    import joblib

    if threads is None:
        threads = max(1, default_num_threads() // jobs)
    if backend == "ray":
        from ray.util.joblib import register_ray

        register_ray()
        with joblib.parallel_config(backend="ray"):
            return list(joblib.Parallel(n_jobs=jobs)(joblib.delayed(_run_one)(fn, v, threads) for v in variants))
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
