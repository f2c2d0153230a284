import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest

import fastnn
from fastnn.backends import available_backends

BACKENDS = available_backends()
COMPILED = [b for b in BACKENDS if b != "numpy"]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}


def pytest_report_header(config):
    return f"fastnn backends available: {', '.join(BACKENDS)}; threads: {fastnn.get_num_threads()}"


@pytest.fixture(scope="session", autouse=True)
def _fastnn_threads():
    fastnn.set_num_threads(2)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def moons():
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=1000, noise=0.1, random_state=0)
    return X.astype(np.float64), y


@pytest.fixture
def fake():
    """Register throw-away experiments (group Z) for the duration of a test."""
    from fastnn.experiments import registry

    added = []

    def register(exp_id, func, **defaults):
        registry.experiment(exp_id, title=f"fake {exp_id}", question="does it work?", varies="nothing", data="none",
                            **defaults)(func)
        added.append(exp_id)

    yield register
    for exp_id in added:
        registry.REGISTRY.pop(exp_id, None)


def read_manifest(out):
    """The report.json of an output folder."""
    import json
    from pathlib import Path

    return json.loads((Path(out) / "report.json").read_text(encoding="utf-8"))
