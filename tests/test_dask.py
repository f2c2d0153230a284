"""Sweeps on a real cluster engine: dask.distributed through joblib, on 127.0.0.1."""
import os

import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="dask.distributed is an optional extra: pip install .[dask]")

from fastnn.sweep import grid, sweep  # noqa: E402


def _train(activation, width, seed=0):
    import fastnn
    from fastnn.datasets import load

    X, y = load("moons", n_samples=100, seed=1)
    model = fastnn.DeepMLP([2, width, 2], activation=activation, seed=seed)
    h = model.fit(X, y, iterations=300, lr=0.5, progress=False)
    return {"loss": h.loss[-1], "params": model.params.copy()}


def _die_on_three(width):
    if width == 3:
        os._exit(1)  # the worker process dies mid-sweep
    return width


@pytest.fixture(scope="module")
def cluster():
    import dask
    from distributed import Client, LocalCluster

    # a task whose worker dies is not retried forever: fail after the first death
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as lc, Client(lc) as client:
        yield client


def test_dask_sweep_equals_local(cluster):
    import joblib

    variants = grid(activation=["tanh", "relu"], width=[2, 5])
    local = sweep(_train, variants, jobs=1, progress=False)
    with joblib.parallel_config(backend="dask"):
        remote = sweep(_train, variants, jobs=2, progress=False)
    assert len(remote) == len(local)
    for a, b in zip(local, remote):
        assert a["loss"] == b["loss"]
        np.testing.assert_array_equal(a["params"], b["params"])


def test_a_dying_worker_fails_clearly(cluster):
    import joblib

    with joblib.parallel_config(backend="dask"), pytest.raises(RuntimeError, match="worker died"):
        sweep(_die_on_three, [dict(width=w) for w in (1, 2, 3, 4)], jobs=2, progress=False)


def test_cli_sweep_on_a_dask_cluster_matches_local(cluster, tmp_path):
    """`fastnn run D2 --jobs 2 --parallel-backend dask --scheduler ADDRESS` gives the local results."""
    import json

    from fastnn.cli import main

    address = cluster.scheduler.address
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main(["run", "D2", "--quick", "--no-progress", "--out", str(local)]) == 0
    assert main(["run", "D2", "--quick", "--no-progress", "--out", str(remote), "--jobs", "2",
                 "--parallel-backend", "dask", "--scheduler", address]) == 0

    def accuracies(out):
        runs = json.loads((out / "report.json").read_text())["sections"]["D2"]["runs"]
        timing = ("steps_per_s", "wall_time")
        return [(r["name"], {k: v for k, v in r["metrics"].items() if k not in timing}) for r in runs]

    assert accuracies(local) == accuracies(remote)
