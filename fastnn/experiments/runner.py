"""Running experiments: the ``Context`` every experiment function receives, parallel
variants through joblib, and the loop behind ``fastnn run`` (progress, timings, a failing
experiment reported while the others go on, Ctrl-C keeping every finished run).

    >>> from fastnn.experiments.runner import run_experiments
    >>> summary = run_experiments(["C1"], out="results", quick=True)     # doctest: +SKIP
    >>> summary.exit_code, summary.index                                  # doctest: +SKIP

Layout of the output folder ``out``::

    index.html, report.json                  the report and its manifest (see report.py, manifest.py)
    <ID>/*.png, *.gif                        experiment-level figures
    <ID>/runs/<run>.json                     one metrics JSON per run (metrics_schema.py)
    <ID>/runs/<run>.<figure>.png             per-run dashboards
    .fastnn-runs/<key>.pkl                   every finished training run (section C), keyed by its
                                             settings: a rerun (e.g. after Ctrl-C) does not train it
                                             again unless force=True (``--force``); delete to free space
    .report.lock                             taken while report.json is updated

When the folder holds a good previous result, an experiment writes into a staging folder
that replaces ``<ID>/`` only when it finished: a rerun that fails keeps the previous figures.
Otherwise it writes into ``<ID>/`` directly (finished runs appear there as they finish).
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
import logging
import os
import platform
import re
import shutil
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics_schema, report
from .registry import select

log = logging.getLogger("fastnn.experiments")

DEFAULT_DATASET = "mnist-5k"
MNIST_DATASETS = ("mnist-5k", "mnist", "fashion-mnist", "digits")
DEFAULT_OUT = "results"
RUN_CACHE = ".fastnn-runs"
#: parameters every experiment takes besides its defaults (MNIST-format ones also take DATA_KEYS)
GENERIC_KEYS = ("seed", "backend", "threads")
DATA_KEYS = ("dataset", "n_train", "n_test")
#: upper bounds of counts a user can set (a typo such as 10**15 is refused, not a MemoryError)
MAX_COUNTS = {"iterations": 10 ** 6, "relu_iterations": 10 ** 6, "epochs": 10 ** 5, "n_train": 10 ** 8,
              "n_test": 10 ** 8}
#: what --quick sets (an explicit --iterations wins)
QUICK = {"n_train": 500, "iterations": 10, "epochs": 1}
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class ExperimentSetupError(ValueError):
    """A problem with the options (dataset, output folder, backend…): reported without a traceback."""


# ---------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=4)
def _load_cached(dataset, n_train, n_test):
    from ..datasets import load

    (X, y), (Xt, yt) = load(dataset, ("train", "test"))
    X, y = _subset(X, y, n_train)
    Xt, yt = _subset(Xt, yt, n_test)
    return X, y, Xt, yt


def _subset(X, y, n):
    """The first ``n`` of a fixed (seed 0) permutation, kept in the original order."""
    if n is None or n >= len(X):
        return X, y
    idx = np.sort(np.random.default_rng(0).permutation(len(X))[:int(n)])
    return np.ascontiguousarray(X[idx]), np.ascontiguousarray(y[idx])


def load_data(dataset=DEFAULT_DATASET, n_train=None, n_test=None):
    """(X_train, y_train, X_test, y_test) of an MNIST-format dataset, the training set
    capped at ``n_train`` samples and the test set at ``n_test`` (a fixed random subset).
    Cached per process: treat the arrays as read-only."""
    return _load_cached(dataset, None if n_train is None else int(n_train), None if n_test is None else int(n_test))


def class_names(dataset):
    """Class names of a dataset (None for digit sets, whose labels are their names)."""
    from ..datasets import list_datasets

    info = list_datasets().get(dataset)
    if info is None or list(info.classes) == [str(i) for i in range(len(info.classes))]:
        return None
    return list(info.classes)


# ---------------------------------------------------------------------------- workers
def n_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def _worker_call(fn, kwargs, threads, index):
    """Run one variant in a joblib worker: its own thread budget, Ctrl-C left to the parent."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # pragma: no cover - not the main thread of the worker
        pass
    _set_threads(threads)
    return index, fn(**kwargs)


def _dask_client():
    """The dask.distributed Client of an active ``joblib.parallel_config(backend="dask")``."""
    from ..sweep import _active_dask_client

    return _active_dask_client(None, None)


def _dask_results(client, fn, kwargs_list, threads):
    """Yield (index, result) as the variants finish on the dask cluster; a worker that dies
    raises a RuntimeError (after dask's own retries) instead of hanging or dropping a run."""
    from distributed import as_completed

    n = len(kwargs_list)
    futures = client.map(_worker_call, [fn] * n, kwargs_list, [threads] * n, list(range(n)), pure=False)
    try:
        for fut in as_completed(futures):
            yield fut.result()
    except Exception as exc:
        if "KilledWorker" in type(exc).__name__:
            raise RuntimeError(f"a dask worker died while running a variant ({exc}); finished runs are kept "
                               "in the report — check the workers' memory limits or rerun with --jobs 1") from exc
        raise
    finally:
        client.cancel([f for f in futures if not f.done()])


def _set_threads(n):
    """fastnn.set_num_threads(n) after importing every backend: threadpoolctl only limits
    the BLAS libraries already loaded, and the Cython kernels load SciPy's OpenBLAS lazily."""
    import fastnn
    from ..backends import available_backends

    available_backends()
    prev = fastnn.get_num_threads()
    fastnn.set_num_threads(int(n))
    return prev


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def make_readable(path):
    """Give a file written through mkstemp (mode 0600) the permissions a normally created
    file would have, so that the report's files can be served or shared."""
    try:
        mode = os.stat(path).st_mode & 0o777
        os.chmod(path, mode | (0o444 & ~_UMASK))
    except OSError:
        pass


def slug(name) -> str:
    """A file-name-safe version of a run or figure name."""
    s = re.sub(r"[^A-Za-z0-9_.=+-]+", "_", str(name)).strip("._")
    return s[:120] or "run"


# ---------------------------------------------------------------------------- the Context
class Context:
    """What an experiment function receives (see the docstring of ``registry``).

    Documented there: ``params``, ``out_dir``, ``load_data()``, ``map(fn, kwargs_list)``,
    ``save_figure(fig, name)``, ``save_file(path, name)``, ``add_run(name, metrics, history,
    params)``, ``note(text)``, ``log(text)``. Added here: ``id``, ``root``, ``quick``,
    ``seed``, ``jobs``, ``class_names``, ``rel(path)``, ``map(..., on_result=…, desc=…)``,
    ``save_figure(..., caption=, run=, featured=, dpi=)``, ``add_run(..., figures=, extra=,
    dataset=, wall_time=, curves=)``, ``attach_figures(name, paths)``, ``order_runs(names)``, ``runs`` (rows
    recorded so far),
    ``cache_dir`` (the folder of finished runs, or None), ``refresh`` (--force token or None),
    ``meta`` (dict stored in the section: "headline", "references", "verdicts", see report.py),
    ``reference(...)`` and ``verdict(...)`` (fill ``meta``).
    """

    def __init__(self, exp, params, root, progress=True):
        """``params`` may hold "threads": threads per run (default cores // workers)."""
        self.experiment = exp
        self.id = exp.id
        self.params = params
        self.root = Path(root)
        self.out_dir = self.root / exp.id
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "runs").mkdir(exist_ok=True)
        self.progress = progress
        self.cache_dir = None  # finished training runs by settings: identical runs are trained once
        self.refresh = None  # with --force: an invocation token; cached runs of other invocations are retrained
        self.figures, self.runs, self.notes, self.log_lines = [], [], [], []
        self.meta = {}  # section-level data for the report: references, verdicts, headline, lr_scale
        self._run_files = set()

    # -- options
    @property
    def quick(self) -> bool:
        return bool(self.params.get("quick"))

    @property
    def seed(self):
        return self.params.get("seed")

    @property
    def jobs(self) -> int:
        return int(self.params.get("jobs") or 1)

    def threads_for(self, workers) -> int:
        """Threads each run gets when ``workers`` run at once (params["threads"] if set)."""
        return int(self.params.get("threads") or max(1, n_cores() // max(1, workers)))

    @property
    def class_names(self):
        return class_names(self.params.get("dataset"))

    def rel(self, path) -> str:
        """``path`` relative to the report folder (for links)."""
        return Path(os.path.relpath(Path(path).resolve(), self.root.resolve())).as_posix()

    # -- data
    def load_data(self):
        """(X_train, y_train, X_test, y_test) of params["dataset"], capped by params["n_train"]
        (and params["n_test"])."""
        return load_data(self.params["dataset"], self.params.get("n_train"), self.params.get("n_test"))

    @property
    def data_info(self) -> dict:
        X, _, Xt, _ = self.load_data()
        return {"name": self.params.get("dataset"), "n_train": len(X), "n_test": len(Xt)}

    # -- parallel variants
    def map(self, fn, kwargs_list, on_result=None, desc=None):
        """``[fn(**kw) for kw in kwargs_list]``, in parallel through joblib (loky) when
        jobs > 1 (n_workers = min(jobs, len(kwargs_list)), each limited to cores // n_workers
        threads, or params["threads"]). ``on_result(i, result)`` is called in this process as
        each run finishes (so finished runs are recorded even if a later one is interrupted).
        Results come back in order. For the same seeds the results are bit-for-bit those of a
        serial run with the same number of threads per run (BLAS sums in a different order
        with a different thread count: float32 round-off, ~1e-7 relative)."""
        from tqdm.auto import tqdm

        kwargs_list = list(kwargs_list)
        n = len(kwargs_list)
        results = [None] * n
        workers = min(self.jobs, n)
        bar = tqdm(total=n, desc=desc or f"{self.id} runs", unit="run", leave=False, disable=not self.progress
                   or n < 2, file=sys.stderr)
        t0 = time.perf_counter()
        try:
            threads = self.threads_for(workers)
            if workers <= 1:
                prev = _set_threads(threads)
                try:
                    for i, kw in enumerate(kwargs_list):
                        results[i] = fn(**kw)
                        if on_result is not None:
                            on_result(i, results[i])
                        bar.update(1)
                finally:
                    _set_threads(prev)
            elif _dask_client() is not None:  # --parallel-backend dask: dask.distributed futures
                for i, res in _dask_results(_dask_client(), fn, kwargs_list, threads):
                    results[i] = res
                    if on_result is not None:
                        on_result(i, res)
                    bar.update(1)
            else:
                from joblib import Parallel, delayed

                parallel = Parallel(n_jobs=workers, backend="loky", return_as="generator_unordered")
                for i, res in parallel(delayed(_worker_call)(fn, kw, threads, i) for i, kw in enumerate(kwargs_list)):
                    results[i] = res
                    if on_result is not None:
                        on_result(i, res)
                    bar.update(1)
        finally:
            bar.close()
        if n > 1:
            how = "serial" if workers <= 1 else f"{workers} workers"
            self.log(f"{n} runs in {time.perf_counter() - t0:.1f} s ({how}, {self.threads_for(workers)} thread(s) each)")
        return results

    # -- outputs
    def _register(self, path, caption, run, featured=False):
        make_readable(path)
        entry = {"path": self.rel(path), "caption": caption or Path(path).stem, "run": run, "featured": bool(featured)}
        self.figures = [f for f in self.figures if f["path"] != entry["path"]] + [entry]
        return entry

    def save_figure(self, fig, name, caption=None, run=None, featured=False, dpi=100):
        """Write ``fig`` as ``<out_dir>/<name>.png`` atomically and list it in the report
        (under the run ``run`` when given; ``featured`` shows it among the main figures).
        Returns the path."""
        name = str(name)
        if not Path(name).suffix:
            name += ".png"
        path = self.out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        save_figure_atomic(fig, path, dpi=dpi)
        self._register(path, caption, run, featured)
        return path

    def save_file(self, path, name=None, caption=None, run=None, featured=False):
        """List an existing file (e.g. a GIF) in the report; a file outside the output
        folder is copied into ``out_dir`` (as ``name``). Returns its path."""
        path = Path(path)
        try:
            path.resolve().relative_to(self.root.resolve())
        except ValueError:
            dest = self.out_dir / (name or path.name)
            shutil.copyfile(path, dest)
            path = dest
        self._register(path, caption or (name and Path(name).stem), run, featured)
        return path

    def add_run(self, name, metrics, history=None, params=None, figures=(), extra=None, dataset=None,
                wall_time=None, curves=None, model=None):
        """Record one run: write ``<out_dir>/runs/<name>.json`` (validated against
        metrics_schema) and add a row to the experiment's metrics table. ``figures`` (paths)
        are this run's figures, listed with it. With a ``history`` the run is diagnosed
        (fastnn.diagnose, using ``model`` when given): the findings go to extra["diagnostics"]
        and under the run in the report. Returns the JSON path."""
        findings = _diagnose_run(name, history, model, metrics, curves)
        if findings is not None:
            extra = dict(extra or {}, diagnostics=findings)
        base = slug(name)
        fname, i = base, 1
        while fname in self._run_files:
            i += 1
            fname = f"{base}-{i}"
        self._run_files.add(fname)
        path = self.out_dir / "runs" / f"{fname}.json"
        rel_figs = []
        for f in figures or ():
            self._register(f, Path(f).stem.split(".")[-1], str(name))
            rel_figs.append(self.rel(f))
        if dataset is None:
            dataset = {"name": self.params.get("dataset"), "n_train": None, "n_test": None}
            if self.experiment.data == "mnist":
                try:
                    dataset = self.data_info
                except Exception:  # noqa: BLE001 - the dataset is optional metadata here
                    pass
        record = metrics_schema.make_run_record(
            self.id, name, metrics, history=history, params=params, dataset=dataset, seed=self.params.get("seed"),
            backend=self.params.get("backend", "auto"), figures=rel_figs, extra=extra, wall_time=wall_time,
            curves=curves)
        metrics_schema.check(record)
        with _ctrl_c_deferred():  # a run's JSON file and its row in the section exist together or not at all
            report.write_atomic(path, json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False))
            self.runs.append({"name": str(name), "json": self.rel(path), "metrics": record["metrics"],
                              "stopped": record["stopped"], "message": record["message"],
                              "wall_time": record["wall_time"], "engine": record["engine"], "figures": rel_figs,
                              "diagnostics": findings or []})
        return path

    def order_runs(self, names):
        """Put the rows of ``names`` in that order (parallel runs are recorded as they finish)."""
        rank = {str(n): i for i, n in enumerate(names)}
        self.runs.sort(key=lambda row: rank.get(row["name"], -1))

    def attach_figures(self, name, paths):
        """Add figures drawn after ``add_run(name, …)`` to that run's row and JSON."""
        paths = [self.rel(p) for p in paths]
        for row in self.runs:
            if row["name"] == str(name) and paths:
                row["figures"] = row["figures"] + [p for p in paths if p not in row["figures"]]
                path = self.root / row["json"]
                record = json.loads(path.read_text(encoding="utf-8"))
                record["figures"] = row["figures"]
                report.write_atomic(path, json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False))

    def note(self, text):
        """A line of findings shown in the report section."""
        self.notes.append(str(text))

    def reference(self, what, ours, reference, data_note=""):
        """A figure of the course shown beside fastnn's: ``what`` (e.g. "sigmoid + BCE, train
        accuracy after 200 iterations"), ``ours`` and ``reference`` (numbers: fractions are
        shown as %, or text), ``data_note`` the data-set difference (e.g. "mnist-5k, 4,000 images;
        the course: full MNIST, 60,000")."""
        self.meta.setdefault("references", []).append(
            {"what": str(what), "ours": metrics_schema.jsonable(ours), "reference": metrics_schema.jsonable(reference),
             "data": str(data_note)})

    def verdict(self, claim, holds, evidence=""):
        """The experiment's finding as a one-line verdict computed from the runs: ``claim``
        ("He beats U[-1, 1] by ≥ 20 points"), ``holds`` (True/False, None when it cannot be
        decided, e.g. a run diverged) and ``evidence`` (the numbers behind it)."""
        self.meta.setdefault("verdicts", []).append(
            {"claim": str(claim), "holds": None if holds is None else bool(holds), "evidence": str(evidence)})

    def data_note(self, course="full MNIST, 60,000 training images") -> str:
        """How this experiment's data differs from the course's, for ``reference(..., data_note=)``."""
        info = self.data_info
        return f"fastnn: {info['name']}, {info['n_train']:,} training images; the course: {course}"

    def headline(self, text):
        """The one-line result shown for this experiment in the report's summary table."""
        self.meta["headline"] = str(text)

    def log(self, text):
        """A progress message (logged with the experiment id, kept in the section's log)."""
        line = f"{self.id}: {text}"
        self.log_lines.append(f"{_dt.datetime.now():%H:%M:%S} {text}")
        log.info(line)


class _ctrl_c_deferred:
    """A block that Ctrl-C does not cut in two: while it runs, SIGINT is only noted (Python runs
    signal handlers in the main thread, whichever thread the signal hit); the previous handler
    gets it — usually as KeyboardInterrupt — right after the block."""

    def __enter__(self):
        self.old, self.hit = None, False
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum, frame):
        self.hit = True

    def __exit__(self, *exc):
        if self.old is None:
            return False
        signal.signal(signal.SIGINT, self.old)
        if self.hit and exc[0] is None:
            if callable(self.old):
                self.old(signal.SIGINT, None)
            elif self.old == signal.SIG_DFL:
                raise KeyboardInterrupt
        return False


def _diagnose_run(name, history, model, metrics, curves):
    """fastnn.diagnose of a run as JSON-ready dicts (None without a History)."""
    if history is None or not hasattr(history, "loss"):
        return None
    from ..diagnostics import diagnose

    try:
        found = diagnose(history, model, updates=(curves or {}).get("update_magnitude") or None,
                         top_class_share=(metrics or {}).get("top_class_share"))
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not cost the run its record
        log.warning("%s: no diagnostics (%s: %s)", name, type(exc).__name__, exc)
        return None
    return [f.as_dict() for f in found]


def save_figure_atomic(fig, path, dpi=100):
    """Write a matplotlib Figure to ``path`` via a temporary file and os.replace."""
    from ..viz import save_figure

    return save_figure(fig, path, dpi=dpi)


# ---------------------------------------------------------------------------- the runner
@dataclass
class RunSummary:
    exit_code: int
    index: Path
    sections: list = field(default_factory=list)
    interrupted: bool = False
    wall_time: float = 0.0

    @property
    def failed(self):
        return [s["id"] for s in self.sections if s.get("status") == "failed"]


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.node()} — {cpu}, {n_cores()} cores, {platform.system()} {platform.release()}"


def make_header(dataset, backend, jobs, command=None) -> dict:
    import fastnn
    from ..backends import available_backends

    return {
        "dataset": dataset,
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_description(),
        "fastnn_version": fastnn.__version__,
        "backend": f"{backend} (available: {', '.join(available_backends())}); jobs={jobs}",
        "python": platform.python_version(),
        "command": command,
    }


def check_dataset(dataset, experiments):
    """Raise ExperimentSetupError for a dataset that is unknown or not MNIST-format while
    an MNIST experiment is selected."""
    from ..datasets import list_datasets

    if dataset is None:
        return
    known = list(list_datasets())
    if dataset not in known:
        raise ExperimentSetupError(f"unknown dataset {dataset!r}; the MNIST-format datasets are "
                                   f"{', '.join(MNIST_DATASETS)} (all datasets: {', '.join(known)})")
    if dataset not in MNIST_DATASETS and any(e.data == "mnist" for e in experiments):
        raise ExperimentSetupError(f"dataset {dataset!r} is not an MNIST-format image set; --dataset takes one of "
                                   f"{', '.join(MNIST_DATASETS)}")


def check_backend(backend):
    from ..backends import BACKENDS, available_backends

    if backend in (None, "auto"):
        return
    if backend not in BACKENDS:
        raise ExperimentSetupError(f"unknown backend {backend!r}; choose auto or one of {', '.join(BACKENDS)}")
    if backend not in available_backends():
        raise ExperimentSetupError(f"backend {backend!r} is not available here (available: "
                                   f"{', '.join(available_backends())})")


def prepare_out_dir(out) -> Path:
    """Create ``out`` and check that it is writable (ExperimentSetupError otherwise)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".fastnn-write-test-{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ExperimentSetupError(f"output directory {str(out)!r} is not writable: "
                                   f"{exc.strerror or exc}; choose another with --out") from None
    return out


def experiment_params(exp, *, dataset=None, iterations=None, backend=None, seed=None, jobs=1, quick=False,
                      overrides=None, threads=None) -> dict:
    """The experiment's defaults overridden by the user's options."""
    params = dict(exp.defaults)
    if exp.data == "mnist":
        params["dataset"] = dataset or params.get("dataset") or DEFAULT_DATASET
    else:
        params.setdefault("dataset", None)
    params["seed"] = seed if seed is not None else params.get("seed", 0)
    params["backend"] = backend or params.get("backend") or "auto"
    params["jobs"] = int(jobs)
    if threads is not None:
        params["threads"] = int(threads)
    params["quick"] = bool(quick)
    if quick:
        if exp.data == "mnist":
            params["n_train"] = min(int(params.get("n_train") or QUICK["n_train"]), QUICK["n_train"])
        for key in ("iterations", "epochs"):
            if key in params:
                params[key] = min(int(params[key]), QUICK[key])
    if iterations is not None and "iterations" in params:
        params["iterations"] = int(iterations)
    for key, value in (overrides or {}).items():
        params[key] = value
    return params


def accepted_keys(exp) -> list:
    """The parameters ``--set`` may give ``exp``: its defaults and the generic ones."""
    keys = set(exp.defaults) | set(GENERIC_KEYS)
    if exp.data == "mnist":
        keys |= set(DATA_KEYS)
    return sorted(keys)


def _check_count(key, value, where):
    limit = MAX_COUNTS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or int(value) != value \
            or value < 1:
        raise ExperimentSetupError(f"{where}{key} must be a positive whole number, got {value!r}")
    if value > limit:
        raise ExperimentSetupError(f"{where}{key} = {value:,.0f} is more than fastnn runs ({limit:,}); "
                                   f"{key} counts training steps/images, so such a value is almost certainly a typo")


def check_overrides(experiments, overrides, iterations=None):
    """Reject ``--set`` keys that none of ``experiments`` takes (typos), empty keys, values of the
    wrong kind for a numeric default, and absurd counts (ExperimentSetupError naming the keys
    the experiments take)."""
    if iterations is not None:
        _check_count("iterations", iterations, "--")
    for key, value in (overrides or {}).items():
        takers = [e for e in experiments if key in accepted_keys(e)]
        if not takers:
            keys = sorted(set().union(*(accepted_keys(e) for e in experiments)))
            ids = ", ".join(e.id for e in experiments)
            what = "an empty parameter name" if not str(key).strip() else f"unknown parameter {key!r}"
            raise ExperimentSetupError(f"--set {key}=…: {what} for {ids}; "
                                       f"{'it takes' if len(experiments) == 1 else 'they take'}: {', '.join(keys)}")
        if key in MAX_COUNTS and value is not None:
            _check_count(key, value, "--set ")
        for e in takers:
            default = e.defaults.get(key)
            numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
            if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ExperimentSetupError(f"--set {key}={value!r}: {e.id} takes a number for {key} "
                                           f"(default {default!r})")


def _clear_outputs(out_dir: Path):
    """Remove the files a previous (not good) run of this experiment wrote."""
    if not out_dir.exists():
        return
    for folder in (out_dir, out_dir / "runs"):
        if folder.is_dir():
            for p in folder.iterdir():
                if p.is_file() and p.suffix.lower() in (".png", ".gif", ".json", ".svg", ".txt", ".npz"):
                    p.unlink()


GOOD = ("ok", "recovered")


def _swap_in(staging: Path, dest: Path):
    """Replace ``dest`` (an experiment's folder) by ``staging`` (its new outputs)."""
    old = None
    if dest.exists():
        old = dest.with_name(f".fastnn-old-{dest.name}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    if staging.exists():
        os.replace(staging, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class _InterruptFlag:
    """SIGINT handler that remembers the interrupt (so an error raised while joblib tears
    down its workers is still seen as Ctrl-C) and raises KeyboardInterrupt."""

    def __init__(self):
        self.set = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)

            def handler(signum, frame):
                self.set = True
                raise KeyboardInterrupt

            signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
        return False


def run_experiments(names, *, out=DEFAULT_OUT, dataset=None, iterations=None, backend=None, seed=None, jobs=1,
                    quick=False, overrides=None, progress=True, command=None, threads=None,
                    force=False) -> RunSummary:
    """Run the experiments named by ``names`` ("C1", "C", "all", …) and update the report.

    Raises ValueError for unknown names and ExperimentSetupError for bad options; an
    experiment that raises is recorded (status "failed", traceback in its section) and the
    others go on; a failed or interrupted rerun keeps the previous good section and files.
    Ctrl-C stops after recording what finished (exit code 130). Finished training runs are
    kept in ``out/.fastnn-runs`` and not trained again by a later invocation unless ``force``."""
    from tqdm.auto import tqdm

    experiments = select(names)
    check_overrides(experiments, overrides, iterations)
    check_dataset(dataset, experiments)
    check_backend(backend)
    if int(jobs) == -1:
        jobs = n_cores()
    if int(jobs) < 1:
        raise ExperimentSetupError(f"--jobs must be a positive integer (or -1 for all cores), got {jobs}")
    if threads is not None and int(threads) < 1:
        raise ExperimentSetupError(f"--threads must be a positive integer, got {threads}")
    out = prepare_out_dir(out)
    header = make_header(dataset or DEFAULT_DATASET, backend or "auto", jobs, command)
    engines = set()
    cache_dir = out / RUN_CACHE
    staging_root = out / f".fastnn-staging-{os.getpid()}"
    refresh = f"{os.getpid()}-{time.time_ns()}" if force else None
    done_sections = []
    exit_code = EXIT_OK
    interrupted = False
    t_all = time.perf_counter()
    log.info("running %s into %s (dataset %s, jobs %d%s)", ", ".join(e.id for e in experiments), out,
             dataset or DEFAULT_DATASET, jobs, ", quick" if quick else "")
    bar = tqdm(experiments, desc="experiments", unit="exp", disable=not progress, file=sys.stderr)
    with _InterruptFlag() as flag:
        try:
            for exp in bar:
                bar.set_postfix_str(exp.id)
                params = experiment_params(exp, dataset=dataset, iterations=iterations, backend=backend, seed=seed,
                                           jobs=jobs, quick=quick, overrides=overrides, threads=threads)
                previous = report.load_manifest(out)["sections"].get(exp.id)
                protect = bool(previous) and previous.get("status") in GOOD and (out / exp.id).is_dir()
                if not protect:
                    _clear_outputs(out / exp.id)
                ctx = Context(exp, params, staging_root if protect else out, progress=progress)
                ctx.cache_dir = cache_dir
                ctx.refresh = refresh
                started = _dt.datetime.now().astimezone().isoformat(timespec="milliseconds")
                status, error = "ok", ""
                t0 = time.perf_counter()
                log.info("%s — %s: started", exp.id, exp.title)
                try:
                    exp.func(ctx)
                except KeyboardInterrupt:
                    status, interrupted = "interrupted", True
                    error = "interrupted by the user (Ctrl-C); the runs that finished are kept"
                except Exception:  # noqa: BLE001 - reported in the section, the others go on
                    if flag.set:
                        status, interrupted = "interrupted", True
                        error = "interrupted by the user (Ctrl-C); the runs that finished are kept"
                    else:
                        status, error = "failed", traceback.format_exc()
                        exit_code = EXIT_FAILED
                        log.error("%s failed:\n%s", exp.id, error.rstrip())
                run_time = time.perf_counter() - t0
                engines.update(r["engine"] for r in ctx.runs if r.get("engine"))
                header["engines"] = ", ".join(sorted(engines))
                section = {
                    "id": exp.id, "title": exp.title, "question": exp.question, "varies": exp.varies,
                    "group": exp.group, "status": status, "error": error, "started": started,
                    "finished": _dt.datetime.now().astimezone().isoformat(timespec="milliseconds"),
                    "run_time": run_time, "params": metrics_schema.jsonable(params), "header": header,
                    "notes": ctx.notes, "figures": ctx.figures, "runs": ctx.runs, "log": ctx.log_lines,
                    "meta": metrics_schema.jsonable(ctx.meta),
                }
                done_sections.append(section)
                if status != "ok" and protect:
                    # keep the previous good results; say that the rerun did not finish
                    shutil.rmtree(ctx.out_dir, ignore_errors=True)
                    kept = dict(previous)
                    kept["rerun"] = {"status": status, "error": error, "started": started,
                                     "finished": section["finished"], "runs_finished": len(ctx.runs)}
                    report.update(out, [kept], header)
                    log.warning("%s: the rerun %s; the previous results (%s) are kept", exp.id,
                                "failed" if status == "failed" else "was interrupted", previous.get("started"))
                else:
                    if protect:
                        _swap_in(ctx.out_dir, out / exp.id)
                    report.update(out, [section], header)
                log.info("%s %s in %.1f s (%d runs, %d figures)", exp.id,
                         {"ok": "done", "failed": "FAILED", "interrupted": "interrupted"}[status], run_time,
                         len(ctx.runs), len(ctx.figures))
                if interrupted:
                    break
        except KeyboardInterrupt:  # between experiments or while writing the report
            interrupted = True
        finally:
            bar.close()
            shutil.rmtree(staging_root, ignore_errors=True)
    index = out / report.INDEX
    if not index.exists():
        report.update(out, [], header)
    total = time.perf_counter() - t_all
    if interrupted:
        exit_code = EXIT_INTERRUPTED
        log.warning("interrupted: %d experiment(s) recorded; report: %s", len(done_sections), index)
    else:
        log.info("all done in %.1f s; report: %s", total, index)
    return RunSummary(exit_code, index, done_sections, interrupted, total)
