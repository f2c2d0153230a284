"""Per-layer statistics of a Sequential network (EXPERIMENTS.md E3).

For every layer: ``weights`` and ``biases`` (Conv2D, Dense), ``preact`` (z = X ⊛ W + b or
X·W + b, recomputed with the weights the step used), ``act`` (the layer's output: f(z); the
softmax probabilities at the output), ``pooled`` (MaxPool2D outputs). Each tensor is summarised
as min, max, mean, σ and a histogram. ``record`` keeps them in the History every
``record_every`` steps: ``history.snapshots[i]["tensors"][tag]`` with tag "<layer>/<quantity>",
plus the MLP-compatible ``history.layers`` rows (act/weight/update mean and σ, update magnitude,
dead units) over the layers with parameters. ``series(history)`` turns them into arrays.
"""
from __future__ import annotations

import numpy as np

HIST_BINS = 30
QUANTITIES = ("weights", "biases", "preact", "act", "pooled")


def summary(values, bins=HIST_BINS) -> dict:
    """min, max, mean, σ (float64 accumulation) and a histogram of the finite values."""
    v = np.asarray(values).ravel()
    finite = v[np.isfinite(v)] if not np.isfinite(v).all() else v
    if not finite.size:
        nan = float("nan")
        return {"min": nan, "max": nan, "mean": nan, "std": nan, "hist": (np.zeros(bins, np.int64),
                                                                          np.linspace(-1, 1, bins + 1))}
    counts, edges = np.histogram(finite, bins=bins)
    return {"min": float(finite.min()), "max": float(finite.max()), "mean": float(finite.mean(dtype=np.float64)),
            "std": float(finite.std(dtype=np.float64)), "hist": (counts, edges)}


def tensors(net, be, X, As, params_views, states, grads=None):
    """(tag, array) of every per-layer tensor for inputs X whose layer outputs are As (from a
    forward pass with the weights ``params_views``); pre-activations are recomputed."""
    inp = X
    for i, layer in enumerate(net.layers):
        P = net.layer_params[i]
        if layer.trainable:
            yield f"{layer.name}/weights", P["W"]
            yield f"{layer.name}/biases", P["b"]
            Z = np.empty_like(As[i])
            layer.forward_preact(be, inp, Z, params_views[i], states[i])
            yield f"{layer.name}/preact", Z
            yield f"{layer.name}/act", As[i]
            if grads is not None:
                yield f"{layer.name}/grad_weights", grads[i]["W"]
        elif layer.kind == "pool":
            yield f"{layer.name}/pooled", As[i]
        elif layer.kind == "activation":
            yield f"{layer.name}/act", As[i]
        inp = As[i]


def _states(net, be, rows):
    """Layer states (conv workspaces) for recomputing pre-activations of ``rows`` samples."""
    return [layer.allocate(be, rows, net.dtype) if layer.trainable else None for layer in net.layers]


def probe_tensors(net, X, grad=None):
    """(tag, array) of every per-layer tensor for inputs X (inference: dropout off) at the
    current weights — what the TensorBoard callback logs."""
    from .engines.cnn import NetBuffers, forward

    grads = net._layer_views(net.parameters, grad) if grad is not None and grad.shape == net.params.shape else None
    if X is None:  # parameters only
        for i, layer in enumerate(net.layers):
            if layer.trainable:
                yield f"{layer.name}/weights", net.layer_params[i]["W"]
                yield f"{layer.name}/biases", net.layer_params[i]["b"]
                if grads is not None:
                    yield f"{layer.name}/grad_weights", grads[i]["W"]
        return
    be = net._kernels()
    X = net._check_X(X)
    bufs = NetBuffers(net, be, X.shape[0], backward=False)
    bufs.X[...] = X
    forward(net, be, bufs, X.shape[0])
    be.softmax(bufs.A[-1])
    yield from tensors(net, be, bufs.X, bufs.A, net.layer_params, _states(net, be, X.shape[0]), grads)


def record(engine, history, step, theta_before):
    """Statistics of the step just taken by ``engine`` (its batch's activations, the weights
    before the update for the pre-activations) into ``history``."""
    net, be, r = engine.net, engine.be, engine.last_rows
    X, As, _ = engine.buffers.rows(r)
    before = net._layer_views(net.parameters, theta_before)
    states = _states(net, be, r)
    snap = {"step": int(step), "accuracy": history.accuracy[-1] if history.accuracy else None, "tensors": {}}
    for tag, values in tensors(net, be, X, As, before, states):
        snap["tensors"][tag] = summary(values)
    row = {k: [] for k in ("act_mean", "act_std", "weight_mean", "weight_std", "update_mean", "update_std",
                           "update_magnitude", "dead_units")}
    for i, layer in enumerate(net.layers):
        if not layer.trainable:
            continue
        W, A = net.layer_params[i]["W"], As[i]
        dW = W - before[i]["W"]
        row["act_mean"].append(float(A.mean(dtype=np.float64)))
        row["act_std"].append(float(A.std(dtype=np.float64)))
        row["weight_mean"].append(float(W.mean(dtype=np.float64)))
        row["weight_std"].append(float(W.std(dtype=np.float64)))
        row["update_mean"].append(float(dW.mean(dtype=np.float64)))
        row["update_std"].append(float(dW.std(dtype=np.float64)))
        row["update_magnitude"].append(float(np.abs(dW).mean(dtype=np.float64)))
        # a unit (channel of a conv layer) is dead when it is ~0 for every sample and position
        per_unit = np.abs(A).max(axis=tuple(a for a in range(A.ndim) if a != 1))
        row["dead_units"].append(int(np.count_nonzero(per_unit <= 1e-6)))
    history.add_layer_record(step, row, snap)


def series(history) -> dict:
    """{tag: {"steps": array, "min"|"max"|"mean"|"std": array}} from a History's snapshots."""
    out = {}
    snaps = [s for s in getattr(history, "snapshots", []) if isinstance(s, dict) and "tensors" in s]
    for s in snaps:
        for tag, st in s["tensors"].items():
            d = out.setdefault(tag, {"steps": [], "min": [], "max": [], "mean": [], "std": []})
            d["steps"].append(s["step"])
            for k in ("min", "max", "mean", "std"):
                d[k].append(st[k])
    return {tag: {k: np.asarray(v) for k, v in d.items()} for tag, d in out.items()}
