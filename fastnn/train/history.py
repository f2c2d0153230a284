"""What training returns: curves per epoch/iteration and, when asked, per-layer statistics."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LAYER_STATS = ("act_mean", "act_std", "weight_mean", "weight_std", "update_mean", "update_std",
               "update_magnitude", "dead_units")


@dataclass
class LayerSnapshot:
    """Per-unit images of one recorded step, drawn by the layers panel: for every layer the
    mean activation of each unit, the mean incoming weight and update of each unit, the
    histogram (counts, edges) of its activations and its mean |update|."""

    step: int
    act_unit_mean: list
    weight_unit_mean: list
    update_unit_mean: list
    act_hist: list
    update_magnitude: list
    accuracy: float | None = None
    saturated_units: list = field(default_factory=list)  # per layer: units saturated on ≥ 99% of the rows

    def __getitem__(self, key):  # the string keys of earlier versions keep working
        return getattr(self, key)

    def get(self, key, default=None):
        return getattr(self, key, default)


class History:
    """Training curves.

    ``loss``/``accuracy`` have one entry per epoch (mini-batch) or per iteration (full batch,
    where an iteration is an epoch); ``step_loss`` and ``lr`` one per optimiser step;
    ``val_loss``/``val_accuracy`` one per entry of ``val_epochs``. With ``record="layers"``,
    ``layers[name]`` is an array (n_records, n_layers) for each of LAYER_STATS, taken at the
    steps in ``record_steps``, and ``snapshots`` holds the per-unit images the dashboards draw.
    ``stopped`` says why training ended early ("diverged", "interrupted", "early_stopping").
    """

    def __init__(self):
        self.loss, self.accuracy = [], []
        self.val_loss, self.val_accuracy, self.val_epochs = [], [], []
        self.step_loss, self.lr = [], []
        self.record_steps, self.snapshots = [], []
        self._layer_rows = []
        self.steps = 0
        self.epochs = 0
        self.wall_time = 0.0
        self.stopped = None
        self.message = ""
        self.params = {}

    @property
    def layers(self) -> dict:
        if not self._layer_rows:
            return {name: np.zeros((0, 0)) for name in LAYER_STATS}
        return {name: np.array([row[name] for row in self._layer_rows]) for name in LAYER_STATS}

    def add_layer_record(self, step, stats: dict, snapshot: dict):
        self.record_steps.append(int(step))
        self._layer_rows.append(stats)
        self.snapshots.append(snapshot)

    @property
    def final_loss(self):
        return self.loss[-1] if self.loss else float("nan")

    @property
    def final_accuracy(self):
        return self.accuracy[-1] if self.accuracy else float("nan")

    def as_dict(self) -> dict:
        """A JSON-ready summary (lists of floats; snapshots left out)."""
        layers = self.layers
        return {
            "loss": [float(v) for v in self.loss],
            "accuracy": [float(v) for v in self.accuracy],
            "val_loss": [float(v) for v in self.val_loss],
            "val_accuracy": [float(v) for v in self.val_accuracy],
            "val_epochs": [int(v) for v in self.val_epochs],
            "steps": int(self.steps),
            "epochs": int(self.epochs),
            "wall_time": float(self.wall_time),
            "stopped": self.stopped,
            "message": self.message,
            "record_steps": list(self.record_steps),
            "layers": {k: np.asarray(v).tolist() for k, v in layers.items()},
        }

    def __repr__(self):
        acc = f", accuracy={self.final_accuracy:.4f}" if self.accuracy else ""
        stop = f", stopped={self.stopped!r}" if self.stopped else ""
        return f"History(steps={self.steps}, loss={self.final_loss:.6g}{acc}{stop})"
