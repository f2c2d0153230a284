"""Worked examples A1-A3 for the scalar autodiff engine :mod:`fastnn.scalar`.

Each ``run_a*`` function is deterministic (seeded), does no file IO and returns
``(data, fig)``: ``data`` is a dict of plain Python data (floats, ints, strings,
lists, dicts; JSON-serialisable) and ``fig`` a ``matplotlib.figure.Figure`` (not
registered with pyplot), or None with ``make_figure=False``.

A1  f(w, x) = (w0 + w1·x1 + w2·x2)² at w0=-3, w1=2, x1=-2, w2=-2, x2=-1, built from
    scalar nodes (mul, add, square), plus g(x) = ln(2^x + e^x) + tanh(x)·σ(x) at
    x = 0.5 for the a^x, exp, log, tanh and sigmoid nodes: forward, backward, the
    trace tables and the graph drawings.
A2  One backward pass through a tiny network in pure Python (no NumPy):
    2 inputs -> 3 sigmoid hidden units -> 2 softmax outputs, cross-entropy loss.
A3  Per-sample SGD of that network on a seeded, z-scored 2-D two-class data set.
"""
from __future__ import annotations

import math
import random
from typing import List, Optional, Sequence, Tuple

from .scalar import Value, draw_graph, format_trace, trace_table

__all__ = [
    "run_a1",
    "run_a2",
    "run_a3",
    "EXAMPLES",
    "network_forward",
    "softmax_cross_entropy",
]

# ---------------------------------------------------------------------------- A1

A1_POINT = {"w0": -3.0, "w1": 2.0, "x1": -2.0, "w2": -2.0, "x2": -1.0}
A1_G_POINT = {"x": 0.5, "a": 2.0}


def _a1_graphs():
    v = {k: Value(x, label=k) for k, x in A1_POINT.items()}
    p1 = v["w1"] * v["x1"]
    p1.label = "w1*x1"
    p2 = v["w2"] * v["x2"]
    p2.label = "w2*x2"
    s1 = v["w0"] + p1
    s1.label = "w0+w1*x1"
    s = s1 + p2
    s.label = "s"
    f = s.square()
    f.label = "f"

    x = Value(A1_G_POINT["x"], label="x")
    ax_ = A1_G_POINT["a"] ** x  # a^x node (constant base)
    ax_.label = "2^x"
    ex = x.exp()
    ex.label = "e^x"
    u = ax_ + ex
    u.label = "u"
    lu = u.log()
    lu.label = "ln u"
    th = x.tanh()
    th.label = "tanh x"
    sg = x.sigmoid()
    sg.label = "σ(x)"
    ts = th * sg
    ts.label = "tanh·σ"
    g = lu + ts
    g.label = "g"
    return v, f, x, g


def run_a1(make_figure: bool = True) -> Tuple[dict, Optional[object]]:
    """A1: forward and backward through f = (w0 + w1 x1 + w2 x2)² and g(x) = ln(2^x + e^x) + tanh(x)σ(x).

    ``data``: ``f``, ``grads`` (df/d leaf), ``table`` (:func:`trace_table` rows of
    every node of f: value and df/dnode, local derivatives and rule),
    ``table_text``; the same ``g``, ``g_grad`` (dg/dx), ``g_table``,
    ``g_table_text`` for the second expression; ``rules`` used.
    """
    v, f, x, g = _a1_graphs()
    f.backward()
    g.backward()
    rows_f, rows_g = trace_table(f), trace_table(g)
    data = {
        "point": dict(A1_POINT),
        "f": f.data,
        "grads": {k: n.grad for k, n in v.items()},
        "table": rows_f,
        "table_text": format_trace(f, grad_header="df/dnode"),
        "g_point": dict(A1_G_POINT),
        "g": g.data,
        "g_grad": x.grad,
        "g_table": rows_g,
        "g_table_text": format_trace(g, grad_header="dg/dnode"),
        "rules": {r["op"]: r["rule"] for r in rows_f + rows_g if r["rule"]},
    }
    fig = None
    if make_figure:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(13.0, 9.0))
        gs = fig.add_gridspec(2, 1, height_ratios=[5, 6])
        draw_graph(f, ax=fig.add_subplot(gs[0]), title="A1  f = (w0 + w1·x1 + w2·x2)²   (grad = df/dnode)")
        draw_graph(g, ax=fig.add_subplot(gs[1]), title="A1  g = ln(2^x + e^x) + tanh(x)·σ(x)   (grad = dg/dnode)")
        fig.tight_layout()
    return data, fig


# ---------------------------------------------------------------------- network

A2_INPUT = [1.0, -1.0]
A2_W1 = [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]]  # w1[i][j]: input i -> hidden j
A2_B1 = [0.0, 0.0, 0.0]
A2_W2 = [[1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]]  # w2[j][k]: hidden j -> output k
A2_B2 = [0.0, 0.0]
A2_TARGET = 0


def softmax_cross_entropy(logits: Sequence[Value], target: int,
                          label: bool = False) -> Tuple[Value, List[Value]]:
    """Stable softmax + cross-entropy from scalar exp/log nodes.

    The max logit m is subtracted as a constant (it cancels mathematically, so it
    needs no gradient): loss = ln Σ_k exp(z_k - m) - (z_target - m).
    Returns ``(loss, probabilities)``; the probabilities are nodes too.
    """
    m = max(z.data for z in logits)
    shifted = [z - m for z in logits]
    exps = [s.exp() for s in shifted]
    total = exps[0]
    for e in exps[1:]:
        total = total + e
    log_total = total.log()
    loss = log_total - shifted[target]
    probs = [e / total for e in exps]
    if label:
        for k, (s, e, p) in enumerate(zip(shifted, exps, probs)):
            s.label, s.children[1].label = f"z2[{k}]-m", f"-m[{k}]"
            e.label, p.label = f"exp[{k}]", f"p[{k}]"
        total.label, log_total.label, loss.label = "sum exp", "ln sum exp", "loss"
        loss.children[1].label = f"-(z2[{target}]-m)"
    return loss, probs


def network_forward(x: Sequence, w1, b1, w2, b2, target: int, label: bool = False):
    """2 -> H sigmoid -> K softmax network on scalar nodes; returns (loss, probs, hidden, logits).

    ``x`` may hold numbers or Values; ``w1[i][j]``, ``b1[j]``, ``w2[j][k]``, ``b2[k]``
    are Values (or numbers for a forward-only pass).
    """
    n_in, n_hid, n_out = len(w1), len(b1), len(b2)
    hidden = []
    for j in range(n_hid):
        z = b1[j] if isinstance(b1[j], Value) else Value(b1[j])
        for i in range(n_in):
            z = z + x[i] * w1[i][j]
        a = z.sigmoid()
        if label:
            z.label, a.label = f"z1[{j}]", f"h[{j}]"
        hidden.append(a)
    logits = []
    for k in range(n_out):
        z = b2[k] if isinstance(b2[k], Value) else Value(b2[k])
        for j in range(n_hid):
            z = z + hidden[j] * w2[j][k]
        if label:
            z.label = f"z2[{k}]"
        logits.append(z)
    loss, probs = softmax_cross_entropy(logits, target, label=label)
    return loss, probs, hidden, logits


def _param_values(name: str, array) -> list:
    if isinstance(array[0], list):
        return [[Value(w, label=f"{name}[{i}][{j}]") for j, w in enumerate(row)] for i, row in enumerate(array)]
    return [Value(w, label=f"{name}[{i}]") for i, w in enumerate(array)]


def _flat(params) -> List[Tuple[str, Value]]:
    out = []
    if isinstance(params[0], list):
        for row in params:
            out.extend((p.label, p) for p in row)
    else:
        out.extend((p.label, p) for p in params)
    return out


def _grads(params):
    if isinstance(params[0], list):
        return [[p.grad for p in row] for row in params]
    return [p.grad for p in params]


def run_a2(make_figure: bool = True, x: Sequence[float] = A2_INPUT, w1=A2_W1, b1=A2_B1,
           w2=A2_W2, b2=A2_B2, target: int = A2_TARGET) -> Tuple[dict, Optional[object]]:
    """A2: one forward + backward pass of the tiny 2-3-2 network, all scalar nodes.

    ``data``: ``loss``, ``probs``, ``hidden``, ``logits``, ``grads`` (``w1``, ``b1``,
    ``w2``, ``b2`` as nested lists shaped like the parameters, and ``x``),
    ``table`` (rows: parameter, value, dL/dparameter), ``table_text`` and
    ``trace_text`` (every node). The figure is the computational graph.
    """
    xs = [Value(v, label=f"x[{i}]") for i, v in enumerate(x)]
    P = {"w1": _param_values("w1", w1), "b1": _param_values("b1", b1),
         "w2": _param_values("w2", w2), "b2": _param_values("b2", b2)}
    loss, probs, hidden, logits = network_forward(xs, P["w1"], P["b1"], P["w2"], P["b2"], target, label=True)
    loss.backward()
    rows = []
    for name in ("w1", "b1", "w2", "b2"):
        for lab, p in _flat(P[name]):
            rows.append({"param": lab, "value": p.data, "grad": p.grad})
    for p in xs:
        rows.append({"param": p.label, "value": p.data, "grad": p.grad})
    width = max(len(r["param"]) for r in rows)
    lines = [f"{'param':<{width}}  {'value':>8}  {'dL/dparam':>22}",
             f"{'-' * width}  {'-' * 8}  {'-' * 22}"]
    lines += [f"{r['param']:<{width}}  {r['value']:>8.4g}  {r['grad']:>22.15g}" for r in rows]
    summary = [
        f"input x = {list(x)}, target class = {target}",
        "hidden h = sigmoid(z1) = [" + ", ".join(f"{h.data:.6g}" for h in hidden) + "]",
        "logits z2 = [" + ", ".join(f"{z.data:.6g}" for z in logits) + "]",
        "softmax p = [" + ", ".join(f"{p.data:.6g}" for p in probs) + "]",
        f"loss L = -ln p[{target}] = {loss.data:.15g}",
        "",
    ]
    data = {
        "x": list(x),
        "target": target,
        "loss": loss.data,
        "probs": [p.data for p in probs],
        "hidden": [h.data for h in hidden],
        "logits": [z.data for z in logits],
        "grads": dict({name: _grads(P[name]) for name in P}, x=[p.grad for p in xs]),
        "table": rows,
        "table_text": "\n".join(summary + lines),
        "trace_text": format_trace(loss, grad_header="dL/dnode"),
    }
    fig = None
    if make_figure:
        fig = draw_graph(loss, title="A2  tiny network 2-3-2: sigmoid hidden, softmax + cross-entropy (grad = dL/dnode)",
                         fontsize=7.0, leaves_near_users=True)
        fig.tight_layout()
    return data, fig


# ---------------------------------------------------------------------------- A3

def _make_dataset(n_samples: int, seed: int, dataset: str):
    rng = random.Random(seed)
    if dataset == "blobs":
        centers = [(-1.0, -0.5), (1.0, 0.5)]
        X, y = [], []
        for i in range(n_samples):
            c = i % 2
            X.append([rng.gauss(centers[c][0], 0.8), rng.gauss(centers[c][1], 0.8)])
            y.append(c)
        order = list(range(n_samples))
        rng.shuffle(order)
        X, y = [X[i] for i in order], [y[i] for i in order]
    elif dataset == "moons":
        from sklearn.datasets import make_moons  # lazy: optional dependency here

        Xa, ya = make_moons(n_samples=n_samples, noise=0.1, random_state=seed)
        X, y = Xa.tolist(), [int(t) for t in ya]
    else:
        raise ValueError(f"unknown dataset {dataset!r} (use 'blobs' or 'moons')")
    # z-score each feature (population standard deviation)
    for f in range(2):
        col = [r[f] for r in X]
        mu = sum(col) / len(col)
        sd = math.sqrt(sum((c - mu) ** 2 for c in col) / len(col)) or 1.0
        for r in X:
            r[f] = (r[f] - mu) / sd
    return X, y


def _predict_proba(x, w1, b1, w2, b2) -> List[float]:
    """Plain-float forward pass (no graph) of the 2-H-K network: softmax probabilities."""
    h = []
    for j in range(len(b1)):
        z = b1[j] + sum(x[i] * w1[i][j] for i in range(len(w1)))
        h.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
    logits = [b2[k] + sum(h[j] * w2[j][k] for j in range(len(h))) for k in range(len(b2))]
    m = max(logits)
    e = [math.exp(z - m) for z in logits]
    s = sum(e)
    return [v / s for v in e]


def run_a3(n_samples: int = 100, epochs: int = 25, lr: float = 0.01, seed: int = 0,
           n_hidden: int = 3, dataset: str = "blobs",
           make_figure: bool = True) -> Tuple[dict, Optional[object]]:
    """A3: per-sample SGD of the scalar 2-H-2 network (sigmoid hidden, softmax + CE).

    Data: ``dataset='blobs'`` (two seeded Gaussian blobs, default) or ``'moons'``
    (sklearn's make_moons, imported lazily), z-scored. Weights ~ N(0, 1), biases 0.
    Each epoch makes ``n_samples`` steps, each on one sample drawn at random (with
    replacement); the epoch's loss is the mean of the per-step losses (before the step).

    ``data``: ``epoch_loss`` (list, one per epoch), ``train_accuracy``, ``params``
    (final w1, b1, w2, b2), ``X``, ``y`` and the settings. The figure plots the
    average loss per epoch and the data with the learned decision regions.
    """
    rng = random.Random(seed)
    X, y = _make_dataset(n_samples, seed, dataset)
    n_out = 2
    w1 = [[Value(rng.gauss(0.0, 1.0), label=f"w1[{i}][{j}]") for j in range(n_hidden)] for i in range(2)]
    b1 = [Value(0.0, label=f"b1[{j}]") for j in range(n_hidden)]
    w2 = [[Value(rng.gauss(0.0, 1.0), label=f"w2[{j}][{k}]") for k in range(n_out)] for j in range(n_hidden)]
    b2 = [Value(0.0, label=f"b2[{k}]") for k in range(n_out)]
    params = [p for row in w1 for p in row] + b1 + [p for row in w2 for p in row] + b2

    epoch_loss = []
    for _ in range(epochs):
        total = 0.0
        for _ in range(n_samples):
            i = rng.randrange(n_samples)
            loss, _, _, _ = network_forward(X[i], w1, b1, w2, b2, y[i])
            loss.backward()  # zeroes the graph's gradients (parameters included) first
            for p in params:
                p.data -= lr * p.grad
            total += loss.data
        epoch_loss.append(total / n_samples)

    fw1 = [[p.data for p in row] for row in w1]
    fb1 = [p.data for p in b1]
    fw2 = [[p.data for p in row] for row in w2]
    fb2 = [p.data for p in b2]
    pred = [max(range(n_out), key=lambda k, p=_predict_proba(x, fw1, fb1, fw2, fb2): p[k]) for x in X]
    acc = sum(int(a == b) for a, b in zip(pred, y)) / n_samples
    data = {
        "n_samples": n_samples, "epochs": epochs, "lr": lr, "seed": seed,
        "n_hidden": n_hidden, "dataset": dataset,
        "epoch_loss": epoch_loss,
        "train_accuracy": acc,
        "params": {"w1": fw1, "b1": fb1, "w2": fw2, "b2": fb2},
        "X": X, "y": y,
    }
    fig = None
    if make_figure:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10.0, 4.0))
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        ax1.plot(range(1, epochs + 1), epoch_loss, marker="o", ms=3)
        ax1.set_xlabel("epoch")
        ax1.set_ylabel("average cross-entropy loss")
        ax1.set_title(f"A3  per-sample SGD, lr={lr:g}")
        ax1.grid(alpha=0.3)
        xs = [r[0] for r in X]
        ys = [r[1] for r in X]
        lo_x, hi_x = min(xs) - 0.5, max(xs) + 0.5
        lo_y, hi_y = min(ys) - 0.5, max(ys) + 0.5
        n = 60
        gx = [lo_x + (hi_x - lo_x) * i / (n - 1) for i in range(n)]
        gy = [lo_y + (hi_y - lo_y) * i / (n - 1) for i in range(n)]
        gz = [[_predict_proba((a, b), fw1, fb1, fw2, fb2)[1] for a in gx] for b in gy]
        ax2.contourf(gx, gy, gz, levels=[0.0, 0.5, 1.0], colors=["#cfe3ff", "#ffd9cc"], alpha=0.8)
        ax2.scatter(xs, ys, c=["#1f5fbf" if t == 0 else "#d9480f" for t in y], s=14, edgecolors="k", linewidths=0.3)
        ax2.set_xlabel("x1 (z-scored)")
        ax2.set_ylabel("x2 (z-scored)")
        ax2.set_title(f"decision regions (train accuracy {acc:.0%})")
        fig.tight_layout()
    return data, fig


EXAMPLES = {"A1": run_a1, "A2": run_a2, "A3": run_a3}
