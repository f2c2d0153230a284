"""Section C end to end at tiny settings: every experiment runs, writes its figures and its
metrics JSON (validated against the documented schema), and the report links them."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fastnn.cli import main
from fastnn.experiments import metrics_schema

from test_report import local_links_missing

from conftest import read_manifest

TINY = ["--n-train", "300", "--iterations", "5", "--set", "n_test=200", "--no-progress", "-q"]
EXPECTED_RUNS = {"C1": 8, "C2": 5, "C3": 10, "C4": 2, "C5": 2, "C6": 3, "C7": 4, "C8": 1, "C9": 2, "C10": 4}
EXPERIMENT_FIGURES = {
    "C1": ["loss_curves", "loss_curves_coarse", "final_train_accuracy", "final_test_accuracy"],
    "C2": ["loss_curves", "final_train_accuracy", "final_test_accuracy", "sigmoid_shapes"],
    "C3": ["loss_curves", "final_train_accuracy"],
    "C4": ["layer_statistics", "loss_curves"],
    "C5": ["loss_curves", "tanh_shapes"],
    "C6": ["loss_curves", "final_test_accuracy"],
    "C7": ["loss_curves", "dead_units"],
    "C9": ["loss_curves", "final_train_accuracy"],
    "C10": ["loss_curves", "final_test_accuracy"],
}


_manifest = read_manifest


def assert_real_image(path, min_size=(200, 150)):
    from PIL import Image

    from fastnn.viz import image_is_blank

    path = Path(path)
    assert path.exists() and path.stat().st_size > 2000, path
    with Image.open(path) as im:
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1], (path, im.size)
        frames = getattr(im, "n_frames", 1)
    assert not image_is_blank(path), path
    return frames


@pytest.fixture(scope="module")
def group_c(tmp_path_factory):
    """`fastnn run C --jobs 2` at tiny settings (per-run dashboards are tested below)."""
    out = tmp_path_factory.mktemp("results-c")
    code = main(["run", "C", "--out", str(out), "--jobs", "2", "--set", 'dashboards="none"', *TINY])
    return out, code


def test_group_runs_every_experiment(group_c):
    out, code = group_c
    assert code == 0
    sections = _manifest(out)["sections"]
    assert set(EXPECTED_RUNS) <= set(sections)
    for exp_id, n in EXPECTED_RUNS.items():
        sec = sections[exp_id]
        assert sec["status"] == "ok", (exp_id, sec["error"])
        assert len(sec["runs"]) == n, exp_id
        assert sec["run_time"] > 0 and sec["params"]["jobs"] == 2
        assert any("lr·Σ" in note for note in sec["notes"]), exp_id
        for name in EXPERIMENT_FIGURES.get(exp_id, []):
            assert any(f["path"] == f"{exp_id}/{name}.png" for f in sec["figures"]), (exp_id, name)
            assert_real_image(out / exp_id / f"{name}.png")


def test_runs_are_listed_in_variant_order(group_c):
    out, _ = group_c
    sections = _manifest(out)["sections"]
    assert [r["name"] for r in sections["C1"]["runs"]] == \
        ["lr=1e-06", "lr=5e-06", "lr=1e-05", "lr=2e-05", "lr=3e-05", "lr=0.0001", "lr=0.001", "lr=0.1"]
    assert [r["name"] for r in sections["C2"]["runs"]] == ["k=0.1", "k=0.5", "k=1", "k=2", "k=10"]


def test_every_run_json_follows_the_schema(group_c):
    out, _ = group_c
    for exp_id in EXPECTED_RUNS:
        files = sorted((out / exp_id / "runs").glob("*.json"))
        assert len(files) == EXPECTED_RUNS[exp_id]
        for f in files:
            rec = json.loads(f.read_text(encoding="utf-8"))
            assert metrics_schema.validate(rec) == [], f
            m = rec["metrics"]
            for key in metrics_schema.MNIST_METRICS:
                assert key in m, (f, key)
            assert 0 <= m["train_accuracy"] <= 1 and 0 <= m["test_accuracy"] <= 1
            assert rec["dataset"] == {"name": "mnist-5k", "n_train": 300, "n_test": 200}
            assert rec["experiment"] == exp_id and rec["engine"]
            steps = m["steps"]
            assert len(rec["curves"]["loss"]) == steps and len(rec["curves"]["accuracy"]) == steps
            assert len(rec["curves"]["update_magnitude"]) == steps  # every iteration, one value per layer
            assert all(len(row) == 3 for row in rec["curves"]["update_magnitude"])
            assert 1 <= len(rec["layers"]["record_steps"]) <= steps  # full layer records every few iterations
            assert len(rec["layers"]["update_magnitude"][0]) == 3
            assert rec["params"]["bias"] is False and rec["params"]["reduction"] == "sum"


def test_base_setting_and_variants(group_c):
    out, _ = group_c
    def params(exp_id, run):
        return json.loads((out / exp_id / "runs" / f"{run}.json").read_text())["params"]
    base = params("C1", "lr=1e-05")
    assert (base["activation"], base["output"], base["loss"], base["init"], base["lr"]) == \
        ("sigmoid", "sigmoid", "mse", "uniform", 1e-5)
    assert base["hidden"] == [256, 128] and base["schedule"] == "constant"
    assert params("C2", "k=10")["k"] == 10
    assert params("C6", "softmax_+_CE")["output"] == "softmax"
    assert params("C7", "relu6")["init"] == "lecun"
    cos = params("C10", "cosine_3_cycles")["schedule"]
    assert cos == ["cosine", {"lr_min": 0.0, "cycles": 3}]
    c9 = _manifest(out)["sections"]["C9"]["runs"]
    assert all(r["metrics"]["steps"] == 5 for r in c9)


def test_identical_runs_are_trained_once(group_c):
    out, _ = group_c
    def record(exp_id, run):
        return json.loads((out / exp_id / "runs" / f"{run}.json").read_text())
    first = record("C1", "lr=1e-05")
    for exp_id, run in [("C2", "k=1"), ("C3", "uniform_-1_1"), ("C4", "bad_uniform_-1_1"), ("C6", "sigmoid_+_MSE")]:
        again = record(exp_id, run)
        assert again["extra"]["reused_from"] == "C1/lr=1e-05", (exp_id, run)
        assert again["metrics"] == first["metrics"] and again["curves"] == first["curves"]
        assert again["figures"] == [] or all(f.startswith(f"{exp_id}/") for f in again["figures"])
    assert "reused_from" not in first["extra"]
    assert not list(out.glob(".fastnn-cache-*"))  # the scratch folder is removed


def test_report_links_resolve(group_c):
    out, _ = group_c
    missing, parser = local_links_missing(out / "index.html")
    assert missing == []
    hrefs = set(parser.links)
    for exp_id in EXPECTED_RUNS:
        assert f"#sec-{exp_id}" in hrefs
        assert any(h.startswith(f"{exp_id}/runs/") and h.endswith(".json") for h in hrefs)
    from fastnn.experiments.runner import _UMASK

    for f in [out / "index.html", out / "report.json", out / "C1" / "loss_curves.png",
              next((out / "C1" / "runs").glob("*.json"))]:
        assert f.stat().st_mode & 0o444 == 0o444 & ~_UMASK, f  # readable like any file (not mkstemp's 0600)
    text = "".join(parser.text)
    for head in ("dataset", "machine", "fastnn", "backend", "Final metrics", "train accuracy", "test accuracy"):
        assert head in text


def test_rerunning_one_experiment_keeps_the_others(group_c, tmp_path):
    out, _ = group_c
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = _manifest(copy)["sections"]
    assert main(["run", "C8", "--out", str(copy), "--set", 'dashboards="none"', *TINY]) == 0
    after = _manifest(copy)["sections"]
    assert set(after) == set(before)
    assert after["C1"] == before["C1"]
    assert after["C8"]["started"] >= before["C8"]["started"] and after["C8"]["finished"] != before["C8"]["finished"]
    missing, _ = local_links_missing(copy / "index.html")
    assert missing == []


def test_dashboards_for_every_run_and_the_best(tmp_path):
    """dashboards='all': overview + layers for every run; confusion matrix, t-SNE and GIF for
    the best run (C5) and for every run of C8."""
    out = tmp_path / "res"
    assert main(["run", "C5", "C8", "--out", str(out), "--jobs", "2", "--set", "tsne_samples=60", *TINY]) == 0
    sections = _manifest(out)["sections"]
    for exp_id in ("C5", "C8"):
        for r in sections[exp_id]["runs"]:
            kinds = {Path(f).name.rsplit(".", 2)[-2] for f in r["figures"]}
            assert {"overview", "layers"} <= kinds, (exp_id, r["name"], kinds)
            for f in r["figures"]:
                assert_real_image(out / f)
            rec = json.loads((out / r["json"]).read_text())
            assert rec["figures"] == r["figures"]
    best = [r for r in sections["C5"]["runs"] if len(r["figures"]) == 5]
    assert len(best) == 1
    c8 = sections["C8"]["runs"][0]["figures"]
    gif = [f for f in c8 if f.endswith(".gif")]
    assert len(gif) == 1 and assert_real_image(out / gif[0]) == 5  # one frame per recorded iteration
    featured = [f for f in sections["C8"]["figures"] if f.get("featured")]
    assert len(featured) == 5
    missing, _ = local_links_missing(out / "index.html")
    assert missing == []


def test_divergence_stops_with_its_message(tmp_path):
    out = tmp_path / "res"
    assert main(["run", "C7", "--out", str(out), "--set", "lr=100", "--set", 'dashboards="none"',
                 "--set", 'variants={"relu + softmax CE": {"activation": "relu", "output": "softmax", '
                 '"loss": "cross_entropy"}}', *TINY]) == 0
    run = _manifest(out)["sections"]["C7"]["runs"][0]
    assert run["stopped"] == "diverged" and "NaN in activations — lower the learning rate" in run["message"]
    rec = json.loads((out / run["json"]).read_text())
    assert rec["stopped"] == "diverged" and rec["metrics"]["steps"] < 5
    assert metrics_schema.validate(rec) == []
    html_text = (out / "index.html").read_text()
    assert "NaN in activations — lower the learning rate" in html_text


def test_parallel_runs_equal_serial_runs(tmp_path):
    """--jobs 2 gives bit-for-bit the serial results (same seeds, same threads per run)."""
    common = ["--threads", "1", "--set", 'dashboards="none"', *TINY]
    a, b = tmp_path / "serial", tmp_path / "parallel"
    assert main(["run", "C10", "--out", str(a), "--jobs", "1", *common]) == 0
    assert main(["run", "C10", "--out", str(b), "--jobs", "2", *common]) == 0
    files = sorted((a / "C10" / "runs").glob("*.json"))
    assert len(files) == 4
    for f in files:
        ra, rb = json.loads(f.read_text()), json.loads((b / "C10" / "runs" / f.name).read_text())
        assert ra["metrics"] == rb["metrics"]
        assert ra["curves"] == rb["curves"]
        assert ra["layers"] == rb["layers"]
        assert np.isfinite(ra["metrics"]["final_loss"])
