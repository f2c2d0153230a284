"""The metrics JSON written for every run: its documented keys and a validator.

Each run of an experiment writes ``<out>/<experiment>/runs/<run>.json``, one object:

    key              type             meaning
    schema           str              "fastnn.run/1"
    experiment       str              experiment id, e.g. "C1"
    run              str              run (variant) name, e.g. "lr=1e-05"
    created          str              ISO-8601 time the record was written
    fastnn_version   str              fastnn.__version__
    dataset          object           {"name": str|null, "n_train": int|null, "n_test": int|null}
    seed             int|null         seed of the run
    backend          str              backend requested ("auto", "numpy", "numba", "cython")
    engine           str|null         engine that trained (History.params["engine"]), null without History
    params           object           the run's parameters (model and fit settings), JSON values
    metrics          object           final scalar metrics, numbers or null (NaN/inf → null); MNIST runs
                                      have final_loss, train_accuracy, test_accuracy, test_loss,
                                      peak_train_accuracy, steps, dead_units
    wall_time        number|null      seconds spent training (History.wall_time)
    stopped          str|null         why training ended early: "diverged", "interrupted", … or null
    message          str              the History's message (e.g. "training diverged at step 37: NaN in
                                      activations — lower the learning rate …"), "" when none
    curves           object           lists per iteration/epoch: loss, accuracy, step_loss, lr,
                                      val_loss, val_accuracy, val_epochs (each a list, maybe empty), and
                                      update_magnitude: one list per iteration with mean |ΔW_l| of each
                                      layer (lr included) — empty when the experiment does not track it
    layers           object           per-layer statistics: record_steps (list of int) and, for each of
                                      act_mean, act_std, weight_mean, weight_std, update_mean, update_std,
                                      update_magnitude, dead_units, a list (one per record) of lists (one
                                      value per layer); update_magnitude = mean |ΔW_l| of that step
                                      (lr included); empty lists when not recorded
    figures          list of str      this run's figures, paths relative to the report folder
    extra            object           anything else the experiment wants to keep (may be {})

Non-finite floats are stored as null so that the files are strict JSON.
``validate(record)`` returns the list of problems (empty when valid); ``check(record)`` raises.
"""
from __future__ import annotations

import datetime as _dt
import math
import numbers

import numpy as np

SCHEMA_ID = "fastnn.run/1"

LAYER_STATS = ("act_mean", "act_std", "weight_mean", "weight_std", "update_mean", "update_std",
               "update_magnitude", "dead_units")
CURVES = ("loss", "accuracy", "step_loss", "lr", "val_loss", "val_accuracy", "val_epochs")
CURVE_TABLES = ("update_magnitude",)  # per iteration, one value per layer
#: the metrics every MNIST-format training run records (other experiments may record fewer)
MNIST_METRICS = ("final_loss", "train_accuracy", "test_accuracy", "test_loss", "peak_train_accuracy", "steps",
                 "dead_units")

_NUM = "number|null"
RUN_SCHEMA = {
    "schema": ("str", f'format id, "{SCHEMA_ID}"'),
    "experiment": ("str", 'experiment id, e.g. "C1"'),
    "run": ("str", 'run (variant) name, e.g. "lr=1e-05"'),
    "created": ("str", "ISO-8601 time the record was written"),
    "fastnn_version": ("str", "fastnn.__version__"),
    "dataset": ("object", '{"name": str|null, "n_train": int|null, "n_test": int|null}'),
    "seed": ("int|null", "seed of the run"),
    "backend": ("str", "backend requested"),
    "engine": ("str|null", 'engine that trained (History.params["engine"])'),
    "params": ("object", "the run's parameters (model and fit settings)"),
    "metrics": ("object", "final scalar metrics: name → number or null"),
    "wall_time": (_NUM, "seconds spent training"),
    "stopped": ("str|null", 'why training ended early ("diverged", "interrupted", …)'),
    "message": ("str", "the History's message, '' when none"),
    "curves": ("object", "per-iteration/epoch lists: " + ", ".join(CURVES + CURVE_TABLES)),
    "layers": ("object", "record_steps and per-layer statistics: " + ", ".join(LAYER_STATS)),
    "figures": ("list", "figures of this run, relative to the report folder"),
    "extra": ("object", "experiment-specific extras"),
}
DATASET_KEYS = {"name": "str|null", "n_train": "int|null", "n_test": "int|null"}


# ---------------------------------------------------------------------------- JSON conversion
def jsonable(value):
    """``value`` as plain JSON: numpy scalars/arrays → Python numbers/lists, NaN/inf → None,
    tuples → lists, other objects → their repr."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if callable(value):
        return getattr(value, "__name__", repr(value))
    return repr(value)


def _empty_layers():
    out = {"record_steps": []}
    out.update({k: [] for k in LAYER_STATS})
    return out


def history_parts(history):
    """(curves, layers, engine, wall_time, stopped, message) of a History (or None)."""
    if history is None:
        return {k: [] for k in CURVES + CURVE_TABLES}, _empty_layers(), None, None, None, ""
    curves = {k: jsonable(list(getattr(history, k, []) or [])) for k in CURVES}
    curves.update({k: [] for k in CURVE_TABLES})
    layers = {"record_steps": [int(s) for s in getattr(history, "record_steps", [])]}
    stats = history.layers if layers["record_steps"] else {}
    for k in LAYER_STATS:
        arr = np.asarray(stats.get(k, []))
        layers[k] = jsonable(arr) if arr.size else []
    params = getattr(history, "params", {}) or {}
    return (curves, layers, params.get("engine"), jsonable(getattr(history, "wall_time", None)),
            getattr(history, "stopped", None), str(getattr(history, "message", "") or ""))


def make_run_record(experiment, run, metrics, *, history=None, params=None, dataset=None, seed=None,
                    backend="auto", figures=(), extra=None, wall_time=None, curves=None):
    """Build a record of the documented shape (see the module docstring); ``curves`` adds
    or replaces per-iteration curves (e.g. update_magnitude)."""
    from .. import __version__

    h_curves, layers, engine, h_wall, stopped, message = history_parts(history)
    curves = dict(h_curves, **(curves or {}))
    ds = {"name": None, "n_train": None, "n_test": None}
    ds.update(dataset or {})
    return jsonable({
        "schema": SCHEMA_ID,
        "experiment": str(experiment),
        "run": str(run),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "fastnn_version": __version__,
        "dataset": ds,
        "seed": seed,
        "backend": str(backend),
        "engine": engine,
        "params": dict(params or {}),
        "metrics": dict(metrics or {}),
        "wall_time": h_wall if wall_time is None else wall_time,
        "stopped": stopped,
        "message": message,
        "curves": curves,
        "layers": layers,
        "figures": [str(f) for f in figures],
        "extra": dict(extra or {}),
    })


# ---------------------------------------------------------------------------- validation
def _type_ok(value, spec):
    for t in spec.split("|"):
        if t == "null" and value is None:
            return True
        if t == "str" and isinstance(value, str):
            return True
        if t == "int" and isinstance(value, int) and not isinstance(value, bool):
            return True
        if t == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value is None or math.isfinite(value)
        if t == "object" and isinstance(value, dict):
            return True
        if t == "list" and isinstance(value, list):
            return True
    return False


def _is_number_or_null(v):
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))


def validate(record) -> list:
    """Problems with a run record (empty list: valid)."""
    if not isinstance(record, dict):
        return [f"a run record must be a JSON object, got {type(record).__name__}"]
    errors = []
    for key, (spec, _doc) in RUN_SCHEMA.items():
        if key not in record:
            errors.append(f"missing key {key!r}")
        elif not _type_ok(record[key], spec):
            errors.append(f"{key!r} should be {spec}, got {type(record[key]).__name__}")
    unknown = sorted(set(record) - set(RUN_SCHEMA))
    if unknown:
        errors.append(f"undocumented keys: {', '.join(unknown)}")
    if errors:
        return errors
    if record["schema"] != SCHEMA_ID:
        errors.append(f"schema is {record['schema']!r}, expected {SCHEMA_ID!r}")
    for key, spec in DATASET_KEYS.items():
        if key not in record["dataset"]:
            errors.append(f"dataset lacks {key!r}")
        elif not _type_ok(record["dataset"][key], spec):
            errors.append(f"dataset.{key} should be {spec}")
    for name, v in record["metrics"].items():
        if not _is_number_or_null(v):
            errors.append(f"metrics.{name} should be a number or null, got {v!r}")
    for name in CURVES:
        vals = record["curves"].get(name)
        if not isinstance(vals, list):
            errors.append(f"curves.{name} should be a list")
        elif not all(_is_number_or_null(v) for v in vals):
            errors.append(f"curves.{name} holds a non-number")
    for name in CURVE_TABLES:
        rows = record["curves"].get(name)
        if not isinstance(rows, list) or not all(isinstance(r, list) and all(_is_number_or_null(v) for v in r)
                                                 for r in rows):
            errors.append(f"curves.{name} should be a list of lists of numbers")
    unknown_curves = sorted(set(record["curves"]) - set(CURVES) - set(CURVE_TABLES))
    if unknown_curves:
        errors.append(f"undocumented curves: {', '.join(unknown_curves)}")
    layers = record["layers"]
    steps = layers.get("record_steps")
    if not isinstance(steps, list) or not all(isinstance(s, int) for s in steps):
        errors.append("layers.record_steps should be a list of int")
        steps = []
    for name in LAYER_STATS:
        rows = layers.get(name)
        if not isinstance(rows, list):
            errors.append(f"layers.{name} should be a list")
            continue
        if len(rows) != len(steps):
            errors.append(f"layers.{name} has {len(rows)} rows for {len(steps)} record steps")
        for row in rows:
            if not isinstance(row, list) or not all(_is_number_or_null(v) for v in row):
                errors.append(f"layers.{name} rows should be lists of numbers")
                break
    if not all(isinstance(f, str) for f in record["figures"]):
        errors.append("figures should be a list of paths")
    return errors


def check(record):
    """Raise ValueError listing the problems when ``record`` does not follow the schema."""
    errors = validate(record)
    if errors:
        raise ValueError("invalid run record: " + "; ".join(errors))
    return record


def describe() -> str:
    """The documented keys as text (for ``fastnn list --schema`` and the docs)."""
    lines = [f"{k:15s} {spec:12s} {doc}" for k, (spec, doc) in RUN_SCHEMA.items()]
    return "\n".join(lines)
