"""The report never loses results: damaged report.json, failed reruns, concurrent updaters,
bad --set keys and absurd counts; resumed runs; reference-matched step sizes; verdicts."""
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from fastnn.cli import main
from fastnn.experiments import manifest, registry, report
from fastnn.experiments.c_lecture3 import REFERENCE_N, resolve_lr_scale

from conftest import read_manifest

TINY = ["--n-train", "300", "--iterations", "3", "--set", "n_test=200", "--set", 'dashboards="none"',
        "--no-progress", "-q"]




_manifest = read_manifest


def _figure_run(ctx):
    from fastnn import viz

    fig = viz.new_figure(figsize=(3, 2))
    fig.subplots().plot([0, 1], [float(ctx.params["lr"]), 1.0])
    ctx.save_figure(fig, "curve")
    ctx.add_run("only", {"lr": float(ctx.params["lr"])})
    if ctx.params["lr"] > 1:
        raise RuntimeError("bad lr in the rerun")


# ---------------------------------------------------------------------------- damaged report.json
@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong-shape"])
def test_damaged_manifest_is_rebuilt_from_the_runs(tmp_path, fake, damage, capsys):
    fake("Z1", _figure_run, lr=0.5)
    fake("Z2", _figure_run, lr=0.25)
    out = tmp_path / "res"
    assert main(["run", "Z1", "Z2", "--out", str(out), "--no-progress", "-q"]) == 0
    text = (out / "report.json").read_text()
    bad = {"truncate": text[: len(text) // 2], "garbage": "\x00\x01", "wrong-shape": "[1, 2]"}[damage]
    (out / "report.json").write_text(bad)
    assert main(["report", "--out", str(out)]) == 0
    sections = _manifest(out)["sections"]
    assert set(sections) == {"Z1", "Z2"}  # nothing lost
    assert sections["Z1"]["status"] == "recovered" and sections["Z1"]["runs"][0]["metrics"] == {"lr": 0.5}
    assert any(f["path"] == "Z1/curve.png" for f in sections["Z1"]["figures"])
    kept = list(out.glob("report.json.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text() == bad
    html_text = (out / "index.html").read_text()
    assert "rebuilt from the runs" in html_text and 'id="sec-Z2"' in html_text
    assert "rebuilt" in capsys.readouterr().err
    # a run after the damage keeps the recovered sections too
    (out / "report.json").write_text(bad)
    assert main(["run", "Z2", "--out", str(out), "--no-progress", "-q"]) == 0
    sections = _manifest(out)["sections"]
    assert set(sections) == {"Z1", "Z2"} and sections["Z2"]["status"] == "ok"


def test_damaged_manifest_that_cannot_be_set_aside_is_refused(tmp_path, monkeypatch):
    (tmp_path / "report.json").write_text("{trunc")

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(manifest.os, "replace", refuse)
    with pytest.raises(manifest.ManifestError, match="move it away yourself"):
        report.update(tmp_path, [])
    assert (tmp_path / "report.json").read_text() == "{trunc"


# ---------------------------------------------------------------------------- failed reruns
def test_failed_rerun_keeps_the_previous_results(tmp_path, fake):
    fake("Z3", _figure_run, lr=0.5)
    out = tmp_path / "res"
    assert main(["run", "Z3", "--out", str(out), "--no-progress", "-q"]) == 0
    before = _manifest(out)["sections"]["Z3"]
    png = (out / "Z3" / "curve.png").read_bytes()
    assert main(["run", "Z3", "--out", str(out), "--set", "lr=5", "--no-progress", "-q"]) == 1
    after = _manifest(out)["sections"]["Z3"]
    assert after["status"] == "ok" and after["runs"] == before["runs"] and after["started"] == before["started"]
    assert after["rerun"]["status"] == "failed" and "bad lr in the rerun" in after["rerun"]["error"]
    assert (out / "Z3" / "curve.png").read_bytes() == png
    assert json.loads((out / "Z3" / "runs" / "only.json").read_text())["metrics"] == {"lr": 0.5}
    assert "A rerun started" in (out / "index.html").read_text()
    assert not list(out.glob(".fastnn-staging-*")) and not list(out.glob(".fastnn-old-*"))
    # a good rerun replaces them
    assert main(["run", "Z3", "--out", str(out), "--set", "lr=0.75", "--no-progress", "-q"]) == 0
    after = _manifest(out)["sections"]["Z3"]
    assert "rerun" not in after and after["runs"][0]["metrics"] == {"lr": 0.75}


def test_bad_value_is_refused_before_anything_is_touched(tmp_path, fake, capsys):
    fake("Z4", _figure_run, lr=0.5)
    out = tmp_path / "res"
    assert main(["run", "Z4", "--out", str(out), "--no-progress", "-q"]) == 0
    capsys.readouterr()
    assert main(["run", "Z4", "--out", str(out), "--set", "lr=abc", "--no-progress", "-q"]) == 2
    assert "takes a number for lr" in capsys.readouterr().err
    assert (out / "Z4" / "curve.png").exists() and _manifest(out)["sections"]["Z4"]["status"] == "ok"


# ---------------------------------------------------------------------------- --set and counts
def test_unknown_and_empty_set_keys_are_rejected_with_the_keys(tmp_path, capsys):
    assert main(["run", "C1", "--out", str(tmp_path), "--set", "itertions=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'itertions'" in err and "iterations" in err and "lrs" in err and "lr_scale" in err
    assert main(["run", "C1", "--out", str(tmp_path), "--set", "=5"]) == 2
    err = capsys.readouterr().err
    assert "no parameter name" in err and "C1 takes:" in err and "coarse_lrs" in err
    assert not (tmp_path / "report.json").exists()


@pytest.mark.parametrize("args, text", [
    (["--iterations", str(10 ** 15)], "is more than fastnn runs"),
    (["--set", f"iterations={10 ** 15}"], "is more than fastnn runs"),
    (["--set", "iterations=2.5"], "positive whole number"),
    (["--set", "n_train=-4"], "positive whole number"),
])
def test_absurd_counts_are_refused(tmp_path, capsys, args, text):
    assert main(["run", "C1", "--out", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert text in err and "Traceback" not in err and "MemoryError" not in err


# ---------------------------------------------------------------------------- concurrent updates
def _updater(out, prefix, n):
    for i in range(n):
        report.update(out, [{"id": f"{prefix}{i}", "title": "t", "group": prefix[0], "status": "ok", "runs": []}])


def test_two_processes_updating_one_folder_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_updater, args=(str(tmp_path), p, 25)) for p in ("X", "Y")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    sections = _manifest(tmp_path)["sections"]
    assert len(sections) == 50 and {f"X{i}" for i in range(25)} | {f"Y{i}" for i in range(25)} == set(sections)
    assert 'id="sec-X24"' in (tmp_path / "index.html").read_text()


# ---------------------------------------------------------------------------- resume and step sizes
def test_resume_does_not_train_finished_runs_again(tmp_path):
    out = tmp_path / "res"
    assert main(["run", "C6", "--out", str(out), *TINY]) == 0
    assert list((out / ".fastnn-runs").glob("*.pkl"))
    first = {r["name"]: r for r in _manifest(out)["sections"]["C6"]["runs"]}
    assert main(["run", "C6", "--out", str(out), *TINY]) == 0
    again = _manifest(out)["sections"]["C6"]
    for r in again["runs"]:
        rec = json.loads((out / r["json"]).read_text())
        assert rec["extra"].get("resumed") is True
        assert r["metrics"] == first[r["name"]]["metrics"]
        assert rec["wall_time"] == first[r["name"]]["wall_time"]  # the cached run, not a new one
    assert main(["run", "C6", "--out", str(out), "--force", *TINY]) == 0
    for r in _manifest(out)["sections"]["C6"]["runs"]:
        assert "resumed" not in json.loads((out / r["json"]).read_text())["extra"]


def test_lr_scale_resolution():
    assert resolve_lr_scale("auto", 4000) == 15.0 and resolve_lr_scale(None, REFERENCE_N) == 1.0
    assert resolve_lr_scale("auto", 4000, reduction="mean") == 1.0
    assert resolve_lr_scale(1, 4000) == 1.0 and resolve_lr_scale(2.5, 4000) == 2.5
    for bad in (0, -1, "fast", True, float("nan")):
        with pytest.raises(ValueError, match="lr_scale must be 'auto' or a positive number"):
            resolve_lr_scale(bad, 4000)


def test_reference_matched_steps_are_applied_and_stated(tmp_path):
    out = tmp_path / "res"
    assert main(["run", "C6", "--out", str(out), "--set", 'variants={"sigmoid + BCE": {"loss": "bce"}}', *TINY]) == 0
    sec = _manifest(out)["sections"]["C6"]
    rec = json.loads((out / sec["runs"][0]["json"]).read_text())
    assert rec["params"]["lr"] == 1e-5 and rec["params"]["lr_scale"] == 200.0  # 60000 / 300
    from fastnn.history import History  # noqa: F401 - the applied rate is in the curves
    assert rec["curves"]["lr"][0] == pytest.approx(2e-3)
    assert sec["meta"]["lr_scale"] == {"factor": 200.0, "n_train": 300, "reference_n": 60000, "mode": "auto"}
    assert any("60000/300 = 200" in n for n in sec["notes"])
    html_text = (out / "index.html").read_text()
    assert "step sizes" in html_text and "60000/300 = 200" in html_text and "lr_scale=1" in html_text
    raw = tmp_path / "raw"
    assert main(["run", "C6", "--out", str(raw), "--set", "lr_scale=1",
                 "--set", 'variants={"sigmoid + BCE": {"loss": "bce"}}', *TINY]) == 0
    rec = json.loads((raw / "C6" / "runs" / "sigmoid_+_BCE.json").read_text())
    assert rec["params"]["lr_scale"] == 1.0 and rec["curves"]["lr"][0] == pytest.approx(1e-5)
    assert any("raw rates" in n for n in _manifest(raw)["sections"]["C6"]["notes"])


def test_verdicts_references_and_summary(tmp_path):
    out = tmp_path / "res"
    assert main(["run", "C5", "C6", "--out", str(out), *TINY]) == 0
    sections = _manifest(out)["sections"]
    c6 = sections["C6"]["meta"]
    ref = c6["references"][0]
    assert ref["reference"] == 0.899 and 0 <= ref["ours"] <= 1 and "300 training images" in ref["data"]
    assert "full MNIST, 60,000" in ref["data"]
    runs = {r["name"]: r["metrics"]["train_accuracy"] for r in sections["C6"]["runs"]}
    v = c6["verdicts"][0]
    assert v["claim"].startswith("sigmoid + BCE beats sigmoid + MSE")
    assert v["holds"] == (runs["sigmoid + BCE"] > runs["sigmoid + MSE"])  # computed from the runs
    c5 = sections["C5"]["meta"]
    assert sorted(r["reference"] for r in c5["references"]) == [0.244, 0.845]
    assert c5["headline"].startswith("best: ")
    html_text = (out / "index.html").read_text()
    summary = html_text[html_text.index("<h2>Summary</h2>"):html_text.index("Contents")]
    assert 'href="#sec-C5"' in summary and 'href="#sec-C6"' in summary and "89.9%" in summary
    assert ("yes" if v["holds"] else "no") in summary
    assert f"Data of the comparisons: {ref['data']}" in summary.replace("&#x27;", "'")  # named once, under the table
    assert summary.count("Data of the comparisons") == 1
    assert "fastnn beside the course" in html_text and "Verdicts" in html_text


def test_a1_node_table_is_an_html_table(tmp_path):
    out = tmp_path / "res"
    assert main(["run", "A1", "--out", str(out), "--no-progress", "-q"]) == 0
    html_text = (out / "index.html").read_text()
    assert '<table class="notetable"><tr><th>#</th><th>node</th><th>op</th>' in html_text
    assert "<td>w1*x1</td>" in html_text and "<td>d(x²)/dx = 2x</td>" in html_text


def test_report_shows_each_runs_diagnostics(tmp_path):
    out = tmp_path / "res"
    assert main(["run", "C7", "--out", str(out), "--set", "lr=100", "--set", 'dashboards="none"',
                 "--set", 'variants={"relu": {"activation": "relu"}}', "--n-train", "300", "--iterations", "3",
                 "--set", "n_test=200", "--no-progress", "-q"]) == 0
    run = _manifest(out)["sections"]["C7"]["runs"][0]
    kinds = {f["kind"] for f in run["diagnostics"]}
    assert {"collapsed", "dead_units"} <= kinds, kinds  # lr 100 × 200: every ReLU dies, one class left
    rec = json.loads((out / run["json"]).read_text())
    assert rec["extra"]["diagnostics"] == run["diagnostics"]
    assert "Diagnostics of every run" in (out / "index.html").read_text()


def test_console_interrupt_then_resume_subprocess(tmp_path):
    """`python -m fastnn.cli run C6` twice: the second invocation trains nothing."""
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "fastnn.cli", "run", "C6", "--out", str(out), *TINY]
    assert subprocess.run(cmd, capture_output=True, timeout=300).returncode == 0
    res = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=300)  # without -q: the log lines
    assert res.returncode == 0 and res.stderr.count("finished by an earlier invocation") == 3


def test_missing_manifest_is_rebuilt_by_fastnn_report(tmp_path, fake, capsys):
    fake("Z5", _figure_run, lr=0.5)
    out = tmp_path / "res"
    assert main(["run", "Z5", "--out", str(out), "--no-progress", "-q"]) == 0
    (out / "report.json").unlink()
    assert main(["report", "--out", str(out)]) == 0
    assert "was missing: rebuilt 1 section(s)" in capsys.readouterr().err
    assert _manifest(out)["sections"]["Z5"]["runs"][0]["metrics"] == {"lr": 0.5}


def _interrupted_rerun(ctx):
    ctx.add_run("only", {"lr": float(ctx.params["lr"])})
    if ctx.params["lr"] > 1:
        raise KeyboardInterrupt


def test_interrupted_rerun_keeps_the_previous_results(tmp_path, fake):
    fake("Z6", _interrupted_rerun, lr=0.5)
    out = tmp_path / "res"
    assert main(["run", "Z6", "--out", str(out), "--no-progress", "-q"]) == 0
    assert main(["run", "Z6", "--out", str(out), "--set", "lr=5", "--no-progress", "-q"]) == 130
    sec = _manifest(out)["sections"]["Z6"]
    assert sec["status"] == "ok" and sec["runs"][0]["metrics"] == {"lr": 0.5}
    assert sec["rerun"]["status"] == "interrupted" and sec["rerun"]["runs_finished"] == 1
    assert "was interrupted" in (out / "index.html").read_text()


def test_a_key_taken_by_one_of_the_selected_experiments_is_accepted(tmp_path):
    from fastnn.experiments import select
    from fastnn.experiments.runner import ExperimentSetupError, check_overrides

    check_overrides(select(["C1", "C2"]), {"ks": [1.0], "lrs": [1e-5]})
    with pytest.raises(ExperimentSetupError, match="unknown parameter 'ks' for C1"):
        check_overrides(select(["C1"]), {"ks": [1.0]})
