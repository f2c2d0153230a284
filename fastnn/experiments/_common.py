"""Shared pieces of the MNIST-format experiments: one training run (a module-level function,
so joblib workers can run it), the dashboards of a run, and sweep bookkeeping.

A run's ``config`` is plain data (JSON-ready)::

    hidden=[256, 128], activation="sigmoid", output="sigmoid", loss="mse", k=1.0,
    bias=False, init="uniform" | ["uniform", 0.5] | ["normal", 0.1] | ["poisson", 1, 0.25] | "lecun" | …,
    lr=1e-5, iterations=200, reduction="sum", schedule="constant" | ["cosine", {"cycles": 3, "lr_min": 0}],
    batch_size=None, record_every=None (→ every iteration up to 200 records)
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
import warnings
from pathlib import Path

import numpy as np

from ..callbacks import Callback
from .runner import load_data, slug

#: the lecture-3 base setting (EXPERIMENTS.md section C)
LECTURE3_BASE = dict(hidden=[256, 128], activation="sigmoid", output="sigmoid", loss="mse", k=1.0, bias=False,
                     init="uniform", lr=1e-5, reduction="sum", schedule="constant", batch_size=None)
#: the figures a run can have: drawn by the training worker or afterwards by draw_figure
BASIC_FIGURES = ("overview", "layers")
EXTRA_FIGURES = ("confusion", "tsne", "animation")
RECORDS_MAX = 40  # full layer records (snapshots, histograms) per run; the GIF shows up to 40 frames


def _init_spec(init):
    """JSON form of an initialiser (lists) → what DeepMLP takes (tuples)."""
    if isinstance(init, list):
        return tuple(init)
    return init


def _schedule_spec(schedule, lr_scale=1.0):
    """JSON form of a schedule → what fit takes; an absolute lr_min is scaled like lr."""
    if isinstance(schedule, (list, tuple)) and len(schedule) == 2:
        opts = dict(schedule[1])
        if "lr_min" in opts:
            opts["lr_min"] = float(opts["lr_min"]) * lr_scale
        return (schedule[0], opts)
    return schedule


def effective_lr(cfg) -> float:
    """The learning rate a run trains with: the nominal ``lr`` times ``lr_scale`` (the
    reference-matched step factor of section C, 1 when absent)."""
    return float(cfg["lr"]) * float(cfg.get("lr_scale", 1.0))


def build_model(config, n_in, n_out, seed=0, backend="auto"):
    from .. import DeepMLP

    return DeepMLP([int(n_in), *[int(h) for h in config["hidden"]], int(n_out)], activation=config["activation"],
                   output=config["output"], loss=config["loss"], k=config.get("k", 1.0),
                   output_k=config.get("output_k"), bias=config.get("bias", False), init=_init_spec(config["init"]),
                   alpha=config.get("alpha", 0.01), backend=backend, seed=seed)


def full_config(config, iterations):
    cfg = dict(LECTURE3_BASE)
    cfg.update(config)
    cfg.setdefault("iterations", iterations)
    if cfg.get("iterations") is None:
        cfg["iterations"] = iterations
    return cfg


def figure_path(out_dir, name, kind):
    return Path(out_dir) / f"{slug(name)}.{kind}.{'gif' if kind == 'animation' else 'png'}"


def draw_figure(kind, model, history, *, dataset, n_train=None, n_test=None, path, seed=0, class_names=None,
                tsne_samples=500, gif_frames=40):
    """Draw one dashboard of a trained run into ``path`` (module-level: runs in workers).
    overview/layers use the training data; confusion and t-SNE the test split."""
    from .. import viz

    X, y, Xt, yt = load_data(dataset, n_train, n_test)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "animation":
        return str(viz.layers_animation(model, history, path, fps=4, max_frames=int(gif_frames)))
    if kind == "overview":
        fig = viz.overview(model, history, X, y, seed=seed, class_names=class_names)
    elif kind == "layers":
        fig = viz.layers_panel(model, history)
    elif kind == "confusion":
        fig = viz.confusion_matrix(model, Xt, yt, class_names=class_names)
    elif kind == "tsne":
        fig = viz.tsne(model, Xt, yt, n_samples=min(int(tsne_samples), len(Xt)), seed=seed, class_names=class_names)
    else:
        raise ValueError(f"unknown figure kind {kind!r}")
    viz.save_figure(fig, path, dpi=90)
    return str(path)


def _cache_file(cache_dir, cfg, dataset, n_train, n_test, seed, backend):
    """Where an identical run (same settings, data, seed, backend and thread count) is kept."""
    from .. import get_num_threads, __version__

    blob = json.dumps([cfg, dataset, n_train, n_test, seed, backend, get_num_threads(), __version__], sort_keys=True,
                      default=repr)
    return Path(cache_dir) / f"{hashlib.sha1(blob.encode()).hexdigest()}.pkl"


def _read_cached(path, refresh):
    """(model, history, metrics, magnitudes, origin) of a cached run, or None when there is
    none, it is unreadable, or ``refresh`` is set and it was written by another invocation."""
    if path is None or not path.exists():
        return None
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh)
    except Exception:  # noqa: BLE001 - a damaged cache entry is retrained and rewritten
        return None
    if not isinstance(entry, dict) or (refresh is not None and entry.get("token") != refresh):
        return None
    return entry["model"], entry["history"], entry["metrics"], entry["magnitudes"], entry["origin"]


def train_mnist(name, config, *, dataset, n_train=None, n_test=None, seed=0, backend="auto", iterations=200,
                out_dir=None, figures=BASIC_FIGURES, class_names=None, cache_dir=None, origin=None, refresh=None):
    """Train one variant on an MNIST-format dataset and evaluate it; draw ``figures``
    (kinds of draw_figure) into ``out_dir``. Returns a dict: name, config, metrics,
    history, model, figures (paths), wall_time, figure_time, reused_from, resumed.

    With ``cache_dir`` (the output folder's ``.fastnn-runs``) a run whose settings, data,
    seed, backend and thread count equal an earlier one's is not trained again — training is
    deterministic, so this only saves time: the base setting recurs in C1, C2, C3, C4 and C6,
    and a rerun after an interruption continues where it stopped. ``origin`` names this run
    ("C1/lr=1e-05"); a cached run of another origin is reported as ``reused_from``, one of the
    same origin as ``resumed``. ``refresh`` (an invocation token, from --force) retrains runs
    cached by other invocations."""
    X, y, Xt, yt = load_data(dataset, n_train, n_test)
    cfg = full_config(config, iterations)
    cached = _cache_file(cache_dir, cfg, dataset, n_train, n_test, seed, backend) if cache_dir else None
    reused_from, resumed = None, False
    entry = _read_cached(cached, refresh)
    if entry is not None:
        model, history, metrics, magnitudes, first = entry
        if first == (origin or name):
            resumed = True
        else:
            reused_from = first
    else:
        model, history, metrics, magnitudes = _train(cfg, X, y, Xt, yt, seed, backend)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump({"model": model, "history": history, "metrics": metrics, "magnitudes": magnitudes,
                             "origin": origin or name, "token": refresh}, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cached)
    paths = []
    t0 = time.perf_counter()
    if out_dir is not None:
        for kind in figures:
            try:
                paths.append(draw_figure(kind, model, history, dataset=dataset, n_train=n_train, n_test=n_test,
                                         path=figure_path(out_dir, name, kind), seed=seed, class_names=class_names))
            except ValueError as exc:  # e.g. nothing recorded because training diverged at step 0
                warnings.warn(f"{name}: no {kind} figure ({exc})", RuntimeWarning, stacklevel=2)
    return {"name": name, "config": cfg, "metrics": metrics, "history": history, "model": model, "figures": paths,
            "wall_time": history.wall_time, "figure_time": time.perf_counter() - t0, "reused_from": reused_from,
            "resumed": resumed, "update_magnitude": magnitudes}


def _train(cfg, X, y, Xt, yt, seed, backend):
    n_out = int(max(y.max(), yt.max())) + 1
    model = build_model(cfg, X.shape[1], n_out, seed=seed, backend=backend)
    steps = int(cfg["iterations"])
    record_every = cfg.get("record_every") or max(1, -(-steps // RECORDS_MAX))
    magnitude = UpdateMagnitude()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a divergence is kept in history.message
        history = model.fit(X, y, iterations=steps, lr=effective_lr(cfg), batch_size=cfg.get("batch_size"),
                            reduction=cfg["reduction"],
                            schedule=_schedule_spec(cfg["schedule"], float(cfg.get("lr_scale", 1.0))), record="layers",
                            record_every=int(record_every), progress=False, on_divergence="stop",
                            callbacks=[magnitude])
        metrics = evaluate(model, history, X, y, Xt, yt)
    return model, history, metrics, magnitude.rows


class UpdateMagnitude(Callback):
    """Callback: mean |ΔW_l| (lr included) of every layer at every iteration.

    The full per-layer record (record="layers": statistics, histograms and unit images)
    costs ~70% of a 784-256-128-10 step on 4000 images when taken every iteration, so it
    is taken every few iterations (RECORDS_MAX per run) while this cheap one runs every
    iteration, as the spec asks for the update magnitude."""

    def on_train_begin(self, trainer):
        self.rows = []
        self._prev = [W.copy() for W in trainer.model.weights]

    def on_epoch_end(self, trainer, epoch, logs):  # full batch: once per iteration
        rows = []
        for W, prev in zip(trainer.model.weights, self._prev):
            rows.append(float(np.abs(W - prev).mean()))
            np.copyto(prev, W)
        self.rows.append(rows)

    def on_train_end(self, trainer):
        self._prev = None


def evaluate(model, history, X, y, Xt, yt) -> dict:
    """The final metrics of a trained run (see metrics_schema.MNIST_METRICS)."""
    with np.errstate(all="ignore"):
        train_acc = model.score(X, y)
        test_loss, test_acc = model.evaluate(Xt, yt)
        pred = np.asarray(model.predict(Xt))
    share = float(np.bincount(pred, minlength=10).max() / len(pred)) if len(pred) else None
    finite_loss = [v for v in history.loss if np.isfinite(v)]
    dead = history.layers["dead_units"]
    return {
        "final_loss": float(history.loss[-1]) if history.loss else None,
        "train_accuracy": float(train_acc),
        "test_accuracy": float(test_acc),
        "test_loss": float(test_loss),
        "peak_train_accuracy": float(max(history.accuracy)) if history.accuracy else None,
        "min_loss": float(min(finite_loss)) if finite_loss else None,
        "steps": int(history.steps),
        "dead_units": int(np.asarray(dead)[-1, :-1].sum()) if np.size(dead) else None,
        "top_class_share": share,
    }


def best_index(results, key="test_accuracy"):
    """Index of the result with the highest finite ``key`` metric (0 when none is finite)."""
    best, best_v = 0, -np.inf
    for i, r in enumerate(results):
        v = r["metrics"].get(key)
        if v is not None and np.isfinite(v) and v > best_v:
            best, best_v = i, v
    return best
