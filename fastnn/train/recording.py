"""Per-layer statistics of a dense network's step, for ``record="layers"`` (the dashboards)."""
from __future__ import annotations

import numpy as np

from .. import config
from ..diagnostics import saturated_units
from .history import LayerSnapshot


def record_dense_layers(history, engine, step, theta_before):
    """Add to ``history`` the statistics and per-unit images of the step just taken by ``engine``
    (activations and deltas from its buffers, updates as θ − θ_before)."""
    params, buf, rows = engine.params, engine.buffers, engine.last_rows
    stats = {k: [] for k in ("act_mean", "act_std", "weight_mean", "weight_std", "update_mean",
                             "update_std", "update_magnitude", "dead_units")}
    snap = LayerSnapshot(step=int(step), act_unit_mean=[], weight_unit_mean=[], update_unit_mean=[], act_hist=[],
                         update_magnitude=[], accuracy=history.accuracy[-1] if history.accuracy else None)
    for l in range(engine.net.n_layers):
        A, D = buf.A(l, rows), buf.D(l, rows)
        W = params[f"W{l}"]
        dW = W - params.view(theta_before, f"W{l}")
        stats["act_mean"].append(float(A.mean()))
        stats["act_std"].append(float(A.std()))
        stats["weight_mean"].append(float(W.mean()))
        stats["weight_std"].append(float(W.std()))
        stats["update_mean"].append(float(dW.mean()))
        stats["update_std"].append(float(dW.std()))
        mag = float(np.abs(dW).mean())
        stats["update_magnitude"].append(mag)
        dead = (np.abs(A).max(axis=0) <= config.DEAD_TOL) | (np.abs(D).max(axis=0) <= config.DEAD_TOL)
        stats["dead_units"].append(int(dead.sum()))
        snap.act_unit_mean.append(A.mean(axis=0).astype(np.float32))
        snap.weight_unit_mean.append(W.mean(axis=1).astype(np.float32))
        snap.update_unit_mean.append(dW.mean(axis=1).astype(np.float32))
        snap.act_hist.append(np.histogram(A, bins=40))
        snap.saturated_units.append(saturated_units(A, engine.net.activations[l]))
        snap.update_magnitude.append(mag)
    history.add_layer_record(step, stats, snap)
