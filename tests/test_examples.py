"""The scripts in examples/ run (in --quick mode) and write what they say they write, and
examples/study.ipynb executes top to bottom (with FASTNN_QUICK=1)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.viz import image_is_blank

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))
TIMEOUT = 300  # seconds per script: generous, for a busy machine; each takes a few CPU seconds


def _env(**extra):
    # One thread each: the quick runs are tiny, and spinning thread pools only burn CPU on a
    # busy machine (pytest-xdist workers, other jobs).
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("FASTNN_QUICK", None)
    env.update(extra)
    return env


def run_example(name, tmp_path, *args, check=True):
    """Run examples/<name> --quick --out <tmp>/out from a fresh directory; returns (proc, out dir)."""
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), "--quick", "--out", str(out), *args],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    if check:
        assert proc.returncode == 0, f"{name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc, out


def assert_pngs(out, *names):
    for name in names:
        path = out / name
        assert path.is_file(), f"{name} was not written; {out} has {sorted(p.name for p in out.iterdir())}"
        assert not image_is_blank(path), f"{name} is blank"


def test_every_example_is_short_and_has_quick_and_out():
    assert {"train_mnist_mlp.py", "minibatch_mnist.py", "moons_decision_boundary.py", "compare_activations.py",
            "custom_init_and_schedule.py", "sklearn_pipeline.py", "tensorboard_logging.py"} <= set(SCRIPTS)
    for name in SCRIPTS:
        text = (EXAMPLES / name).read_text()
        assert len(text.splitlines()) <= 65, f"{name} should stay a short example"
        assert '"--quick"' in text and '"--out"' in text and 'default="examples_output"' in text, name


def test_train_mnist_mlp(tmp_path):
    proc, out = run_example("train_mnist_mlp.py", tmp_path)
    assert re.search(r"train accuracy 0\.\d+, test accuracy 0\.\d+", proc.stdout)
    assert re.search(r"iterations in [\d.]+ s", proc.stdout) and "total" in proc.stdout
    assert "diagnostics: " in proc.stdout  # fastnn.diagnose findings (or "no problem found")
    assert_pngs(out, "mnist_overview.png", "mnist_layers.png", "mnist_confusion.png", "mnist_tsne.png")
    from PIL import Image

    with Image.open(out / "mnist_layers.gif") as gif:
        assert gif.n_frames >= 2


def test_minibatch_mnist(tmp_path):
    proc, out = run_example("minibatch_mnist.py", tmp_path)
    assert re.search(r"steps/s", proc.stdout) and "val loss" in proc.stdout
    assert_pngs(out, "minibatch_curves.png")


def test_moons_decision_boundary(tmp_path):
    proc, out = run_example("moons_decision_boundary.py", tmp_path)
    acc = float(re.search(r"train accuracy ([\d.]+)", proc.stdout).group(1))
    assert acc > 0.8, proc.stdout  # even the quick run separates the moons
    assert_pngs(out, "moons_boundary.png")


def test_compare_activations_in_parallel(tmp_path):
    # --jobs 2 sends the script's module-level train() to joblib worker processes
    proc, out = run_example("compare_activations.py", tmp_path, "--jobs", "2")
    assert len(re.findall(r"test acc", proc.stdout)) == 9
    assert_pngs(out, "activations_curves.png", "activations_accuracy.png")


def test_custom_init_and_schedule(tmp_path):
    proc, out = run_example("custom_init_and_schedule.py", tmp_path)
    assert "momentum" in proc.stdout and "adam" in proc.stdout and "reloaded predictions" in proc.stdout
    assert_pngs(out, "schedule_curves.png")
    model = fastnn.load_model(out / "mnist_mlp.npz")  # the saved file is a usable model
    assert model.predict(np.zeros((2, 784), dtype=np.float32)).shape == (2,)


def test_sklearn_pipeline(tmp_path):
    proc, out = run_example("sklearn_pipeline.py", tmp_path)
    assert "best:" in proc.stdout
    result = json.loads((out / "sklearn_search.json").read_text())
    assert set(result) == {"best_params", "cv_accuracy", "test_accuracy"}
    assert 0.0 <= result["test_accuracy"] <= 1.0


def test_tensorboard_logging(tmp_path):
    pytest.importorskip("tensorboardX", reason="tensorboardX is an optional extra")
    proc, out = run_example("tensorboard_logging.py", tmp_path)
    assert f"tensorboard --logdir {out / 'runs'}" in proc.stdout
    for run in ("relu", "tanh"):
        events = list((out / "runs" / run).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0, run


def test_tensorboard_logging_without_tensorboardx_says_how_to_install(tmp_path):
    script = EXAMPLES / "tensorboard_logging.py"
    code = ("import runpy, sys; sys.modules['tensorboardX'] = None; "  # makes the import fail
            f"sys.argv = [{str(script)!r}, '--quick']; runpy.run_path({str(script)!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode != 0
    assert "pip install tensorboardX" in proc.stderr
    assert not (tmp_path / "examples_output").exists()


def test_notebook_is_committed_without_outputs():
    nb = json.loads((EXAMPLES / "study.ipynb").read_text())
    assert nb["nbformat"] == 4
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)
    assert "FASTNN_QUICK" in "".join(code[0]["source"])


def test_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat")
    nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient")
    pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel")
    for key, value in _env(FASTNN_QUICK="1").items():  # the kernel inherits this environment
        monkeypatch.setenv(key, value)
    nb = nbformat.read(EXAMPLES / "study.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                      resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "quick=True" in text
    assert "NaN in activations — lower the learning rate" in text  # the bad-learning-rate cell
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # sample grid, overview, layers, confusion, curves, bars
