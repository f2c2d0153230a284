"""Experiments A1–A3, B1–B6 and D1–D6 end to end on tiny settings.

``FakeContext`` implements the documented Context interface (fastnn/experiments/registry.py)
in a few lines — serial ``map``, files under tmp_path — so these tests check the experiment
functions themselves; ``test_*_through_runner`` run them through the real runner when it
is available.
"""
import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from fastnn import viz
from fastnn.experiments import REGISTRY, load_all, metrics_schema

load_all()


class FakeContext:
    def __init__(self, exp_id, out_dir, data=None, **overrides):
        exp = REGISTRY[exp_id]
        self.id = exp_id
        self.params = {"seed": 0, "backend": "auto", "dataset": "mnist-5k", "jobs": 1}
        self.params.update(exp.defaults)
        self.params.update(overrides)
        self.out_dir = Path(out_dir) / exp_id
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._data = data
        self.figures, self.files, self.runs, self.notes, self.logs = {}, {}, {}, [], []

    def load_data(self):
        return self._data

    def map(self, fn, kwargs_list):
        return [fn(**kw) for kw in kwargs_list]

    def save_figure(self, fig, name):
        path = self.out_dir / f"{name}.png"
        viz.save_figure(fig, path)
        assert not viz.image_is_blank(path), f"figure {name} is blank"
        self.figures[name] = path
        return path

    def save_file(self, path, name):
        assert Path(path).exists()
        self.files[name] = Path(path)

    def add_run(self, name, metrics, history=None, params=None):
        assert name not in self.runs, f"run {name!r} recorded twice"
        record = {"metrics": metrics, "params": params,
                  "history": history.as_dict() if history is not None else None}
        # the documented run-record format, strict JSON
        full = metrics_schema.make_run_record(self.id, name, metrics, history=history, params=params,
                                              seed=self.params["seed"])
        metrics_schema.check(full)
        (self.out_dir / "runs").mkdir(exist_ok=True)
        (self.out_dir / "runs" / f"{len(self.runs)}.json").write_text(json.dumps(full, allow_nan=False))
        self.runs[name] = record

    def note(self, text):
        assert isinstance(text, str) and text
        self.notes.append(text)

    def log(self, text):
        self.logs.append(text)

    # the report's summary: references beside fastnn's numbers, verdicts, a headline
    meta = None

    def _meta(self):
        if self.meta is None:
            self.meta = {}
        return self.meta

    def reference(self, what, ours, reference, data_note=""):
        self._meta().setdefault("references", []).append((what, ours, reference, data_note))

    def verdict(self, claim, holds, evidence=""):
        assert holds in (True, False, None)
        self._meta().setdefault("verdicts", []).append((claim, holds, evidence))

    def headline(self, text):
        self._meta()["headline"] = text

    def data_note(self, course="full MNIST, 60,000 training images"):
        return f"fastnn: {self.params['dataset']}; the course: {course}"


def run(exp_id, tmp_path, data=None, **overrides):
    ctx = FakeContext(exp_id, tmp_path, data=data, **overrides)
    REGISTRY[exp_id].func(ctx)
    assert ctx.figures, f"{exp_id} saved no figure"
    assert ctx.runs and ctx.notes
    for path in ctx.figures.values():
        assert path.stat().st_size > 1000
    return ctx


def finite_metrics(ctx):
    for name, rec in ctx.runs.items():
        for k, v in rec["metrics"].items():
            assert isinstance(v, (int, float)) and math.isfinite(v), (name, k, v)


# --------------------------------------------------------------------------- A

def test_registered():
    groups = {g: sorted(e for e, x in REGISTRY.items() if x.group == g) for g in "ABD"}
    assert groups["A"] == ["A1", "A2", "A3"]
    assert groups["B"] == [f"B{i}" for i in range(1, 7)]
    assert groups["D"] == [f"D{i}" for i in range(1, 7)]
    assert all(REGISTRY[e].data == "none" for e in groups["A"])
    assert all(REGISTRY[e].data == "mnist" for e in groups["B"])
    assert all(REGISTRY[e].data == "toy" for e in groups["D"])


def test_a1(tmp_path):
    ctx = run("A1", tmp_path)
    assert ctx.runs["f"]["metrics"]["f"] == 25.0
    assert ctx.runs["f"]["metrics"]["df/dw1"] == 20.0
    assert any("square" in n and "d(x²)/dx = 2x" in n for n in ctx.notes)
    assert any("a^x" in n or "2^x" in n for n in ctx.notes)
    assert set(ctx.figures) == {"a1_graph", "a1_tables"}
    assert "d(x²)/dx = 2x" in (ctx.out_dir / "a1_tables.txt").read_text(encoding="utf-8")


def test_a2(tmp_path):
    ctx = run("A2", tmp_path, n_random=2)
    assert len(ctx.runs) == 3
    stated = ctx.runs["stated point"]["metrics"]
    assert stated["loss"] == pytest.approx(math.log(2), abs=1e-15)
    for rec in ctx.runs.values():
        assert rec["metrics"]["max |scalar − engine|"] < 1e-12
        assert rec["metrics"]["max |scalar − central diff|"] < 1e-7
    assert any("dL/dparam" in n for n in ctx.notes)


def test_a3(tmp_path):
    ctx = run("A3", tmp_path, n_samples=30, epochs=3)
    (rec,) = ctx.runs.values()
    assert len(rec["history"]["loss"]) == 3
    finite_metrics(ctx)


# --------------------------------------------------------------------------- B

@pytest.fixture(scope="module")
def mnist_tiny():
    from fastnn.datasets import load

    X, y = load("mnist-5k")
    Xv, yv = load("mnist-5k", "test")
    return X[:256], y[:256], Xv[:100], yv[:100]


def test_b1_same_updates_as_minibatch(tmp_path, mnist_tiny):
    ctx = run("B1", tmp_path, data=mnist_tiny, epochs=2)
    ps, mb = ctx.runs["per-sample accumulation"], ctx.runs["engine mini-batch (same updates)"]
    assert ps["metrics"]["steps"] == mb["metrics"]["steps"] == 2 * 4
    # per-sample gradients summed over 64 samples = one summed mini-batch step, same order
    np.testing.assert_allclose(ps["history"]["loss"], mb["history"]["loss"], rtol=1e-9)
    assert ps["metrics"]["steps_per_s"] > 0 and mb["metrics"]["steps_per_s"] > ps["metrics"]["steps_per_s"]
    finite_metrics(ctx)


@pytest.mark.parametrize("exp_id, overrides", [
    ("B2", dict(epochs=2, reduction="mean")),
    ("B3", dict(epochs=2)),
    ("B4", dict(epochs=2, seeds=[0, 1])),
    ("B5", dict(epochs=2, lrs=[0.003, 0.03])),
    ("B6", dict(epochs=2)),
])
def test_b(tmp_path, mnist_tiny, exp_id, overrides):
    ctx = run(exp_id, tmp_path, data=mnist_tiny, **overrides)
    finite_metrics(ctx)
    for rec in ctx.runs.values():
        assert rec["metrics"]["steps_per_s"] > 0
        assert 0 <= rec["metrics"]["test_accuracy"] <= 1
        assert len(rec["history"]["loss"]) == 2
    assert any("steps/s" in n for n in ctx.notes)
    assert all(rec["params"]["reduction"] == overrides.get("reduction", "sum") for rec in ctx.runs.values())
    if exp_id == "B6":
        assert ctx.runs["lr=0.03 batch=64"]["metrics"]["test_accuracy"] > 0.3


# --------------------------------------------------------------------------- D

TINY_D = dict(iterations=300, n_samples=60, resolution=40)


@pytest.mark.parametrize("exp_id", [f"D{i}" for i in range(1, 7)])
def test_d(tmp_path, exp_id):
    ctx = run(exp_id, tmp_path, **TINY_D)
    finite_metrics(ctx)
    expected = {"D1": 3, "D2": 6, "D3": 4, "D4": 4, "D5": 3, "D6": 11}[exp_id]
    assert len(ctx.runs) == expected
    for rec in ctx.runs.values():
        assert 0 <= rec["metrics"]["train_accuracy"] <= 1
        assert len(rec["history"]["loss"]) > 1
    if exp_id == "D6":
        assert len(ctx.figures) == 6


def test_d_variant_result_pickles():
    from fastnn.experiments.d_boundaries import train_variant

    res = train_variant(hidden=[3], activation="tanh", dataset="moons", n_samples=60, iterations=50, lr=0.5, seed=0)
    back = pickle.loads(pickle.dumps(res))
    assert back["metrics"]["train_accuracy"] == res["metrics"]["train_accuracy"]
    assert len(pickle.dumps(res)) < 200_000
    np.testing.assert_array_equal(back["model"].params, res["model"].params)


def test_d_weight_decay_shrinks_weights():
    from fastnn.experiments.d_boundaries import train_variant

    kw = dict(hidden=[3], activation="tanh", dataset="moons", n_samples=60, iterations=300, lr=0.5, seed=0)
    plain, decayed = train_variant(**kw), train_variant(weight_decay=0.1, **kw)
    assert decayed["history"].params["weight_decay"] == 0.1
    norm = lambda res: sum(float(np.sum(W ** 2)) for W in res["model"].weights)  # noqa: E731
    assert norm(decayed) < norm(plain)
