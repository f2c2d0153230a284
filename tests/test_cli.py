"""The ``fastnn`` command line: list, run, errors, failures, Ctrl-C."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastnn.cli import main
from fastnn.experiments import registry

from conftest import read_manifest

TINY = ["--n-train", "300", "--iterations", "3", "--set", "n_test=200", "--set", 'dashboards="none"',
        "--no-progress"]




_manifest = read_manifest


def test_list_describes_every_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for i in range(1, 11):
        assert f"C{i} " in out
    for text in ("Learning rate", "Initialisation", "Cosine learning rate", "varies:", "defaults:", "lrs=",
                 "iterations=200", "iterations=2000"):
        assert text in out
    assert main(["list", "C9"]) == 0
    assert "C1 " not in capsys.readouterr().out.split("C9")[0]


def test_console_script_is_installed():
    if shutil.which("fastnn") is None:
        pytest.skip("the fastnn console script is not on PATH (use python -m fastnn.cli)")
    res = subprocess.run(["fastnn", "list", "C1"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "Learning rate" in res.stdout


def test_single_run(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", "C6", "--out", str(out), *TINY]) == 0
    sec = _manifest(out)["sections"]["C6"]
    assert sec["status"] == "ok" and len(sec["runs"]) == 3
    assert sec["params"]["iterations"] == 3 and sec["params"]["n_train"] == 300
    assert (out / "index.html").exists() and (out / "C6" / "loss_curves.png").exists()
    for r in sec["runs"]:
        assert (out / r["json"]).exists()
    assert "C6 done in" in capsys.readouterr().err


def test_unknown_experiment(capsys):
    assert main(["run", "C99", "--out", "/nonexistent/never-created"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'C99'" in err and "C1, C2" in err and "C10" in err and "Traceback" not in err
    assert not Path("/nonexistent/never-created").exists()


def test_unknown_dataset(tmp_path, capsys):
    assert main(["run", "C1", "--dataset", "cifar", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'cifar'" in err and "mnist-5k" in err and "fashion-mnist" in err
    assert "Traceback" not in err
    assert main(["run", "C1", "--dataset", "moons", "--out", str(tmp_path)]) == 2
    assert "not an MNIST-format" in capsys.readouterr().err


def test_output_directory_not_writable(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["run", "C1", "--out", str(blocker / "results"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "Traceback" not in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_output_directory(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["run", "C1", "--out", str(ro), *TINY]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o700)


def test_bad_options(tmp_path, capsys):
    assert main(["run", "C1", "--out", str(tmp_path), "--jobs", "0"]) == 2
    assert main(["run", "C1", "--out", str(tmp_path), "--backend", "fortran"]) == 2
    assert main(["run", "C1", "--out", str(tmp_path), "--set", "novalue"]) == 2
    assert main(["run"]) == 2  # argparse: NAME is required
    assert "Traceback" not in capsys.readouterr().err


def _ok(ctx):
    ctx.note("fine")
    ctx.add_run("only run", {"loss": 0.5})


def _boom(ctx):
    ctx.add_run("before the error", {"loss": 1.0})
    raise RuntimeError("kaboom in the experiment")


def test_failing_experiment_is_reported_and_the_others_continue(tmp_path, fake, capsys):
    fake("Z1", _boom)
    fake("Z2", _ok)
    out = tmp_path / "res"
    assert main(["run", "Z1", "Z2", "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "kaboom in the experiment" in err and "Z1" in err and "failed" in err
    sections = _manifest(out)["sections"]
    assert sections["Z1"]["status"] == "failed" and "RuntimeError: kaboom" in sections["Z1"]["error"]
    assert sections["Z1"]["runs"][0]["name"] == "before the error"
    assert sections["Z2"]["status"] == "ok"
    html_text = (out / "index.html").read_text()
    assert "RuntimeError: kaboom in the experiment" in html_text and "Traceback" in html_text


def _interrupt(ctx):
    ctx.add_run("finished first", {"loss": 0.25})
    raise KeyboardInterrupt


def test_ctrl_c_keeps_finished_work(tmp_path, fake):
    fake("Z2", _ok)
    fake("Z3", _interrupt)
    fake("Z4", _ok)
    out = tmp_path / "res"
    assert main(["run", "Z2", "Z3", "Z4", "--out", str(out), "--no-progress"]) == 130
    sections = _manifest(out)["sections"]
    assert sections["Z2"]["status"] == "ok"
    assert sections["Z3"]["status"] == "interrupted"
    assert [r["name"] for r in sections["Z3"]["runs"]] == ["finished first"]
    assert (out / sections["Z3"]["runs"][0]["json"]).exists()
    assert "Z4" not in sections  # not started
    assert "interrupted" in (out / "index.html").read_text()


def _parallel(ctx):
    results = ctx.map(dict, [{"i": i, "threads": None} for i in range(4)],
                      on_result=lambda i, r: ctx.add_run(f"run {i}", {"i": float(r["i"])}))
    assert [r["i"] for r in results] == [0, 1, 2, 3]
    ctx.note(f"jobs={ctx.jobs}")


def test_several_names_with_jobs(tmp_path, fake):
    fake("Z5", _parallel)
    fake("Z6", _ok)
    out = tmp_path / "res"
    assert main(["run", "Z5", "z6", "--out", str(out), "--jobs", "2", "--no-progress", "-q"]) == 0
    sections = _manifest(out)["sections"]
    assert sorted(r["name"] for r in sections["Z5"]["runs"]) == [f"run {i}" for i in range(4)]
    assert sections["Z5"]["notes"] == ["jobs=2"] and sections["Z5"]["params"]["jobs"] == 2
    assert main(["run", "Z", "--out", str(out), "--no-progress", "-q"]) == 0  # a group


def test_report_command_rebuilds_the_page(tmp_path, fake, capsys):
    fake("Z6", _ok)
    out = tmp_path / "res"
    assert main(["report", "--out", str(out)]) == 2  # nothing there yet
    assert main(["run", "Z6", "--out", str(out), "--no-progress", "-q"]) == 0
    (out / "index.html").unlink()
    assert main(["report", "--out", str(out)]) == 0
    assert "Z6" in (out / "index.html").read_text()


def test_sigint_stops_cleanly_and_keeps_finished_runs(tmp_path):
    """A real Ctrl-C (SIGINT) while a sweep runs in joblib workers."""
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "fastnn.cli", "run", "C1", "C2", "--out", str(out), "--jobs", "2",
           "--n-train", "300", "--iterations", "60", "--set", "n_test=100", "--set", 'dashboards="none"',
           "--no-progress"]
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    runs = out / "C1" / "runs"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if runs.is_dir() and any(p.suffix == ".json" for p in runs.iterdir()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    sections = _manifest(out)["sections"]
    assert sections["C1"]["status"] == "interrupted" and "C2" not in sections
    assert 1 <= len(sections["C1"]["runs"]) < 8
    for r in sections["C1"]["runs"]:
        assert (out / r["json"]).exists()
    assert (out / "index.html").exists()
    assert "Traceback" not in err


def test_quick_and_overrides_set_the_parameters():
    from fastnn.experiments import REGISTRY, all_experiments
    from fastnn.experiments.runner import experiment_params

    all_experiments()
    p = experiment_params(REGISTRY["C9"], quick=True)
    assert (p["iterations"], p["n_train"], p["dataset"], p["seed"], p["backend"], p["jobs"]) == \
        (10, 500, "mnist-5k", 0, "auto", 1)
    p = experiment_params(REGISTRY["C9"], quick=True, iterations=7, dataset="digits", seed=3, jobs=2, threads=1,
                          overrides={"lr": 1.0})
    assert (p["iterations"], p["dataset"], p["seed"], p["jobs"], p["threads"], p["lr"]) == (7, "digits", 3, 2, 1, 1.0)
    assert experiment_params(REGISTRY["C1"])["iterations"] == 200
