"""Group A — backprop by hand with the scalar autodiff engine (EXPERIMENTS.md A1–A3).

The worked examples live in :mod:`fastnn.scalar_examples`; these experiments run them,
save their figures, print their tables into the report and, for A2, check the scalar
gradients against the vectorised engine and against central differences.
"""
from __future__ import annotations

import numpy as np

from ..scalar_examples import (
    A2_B1, A2_B2, A2_INPUT, A2_TARGET, A2_W1, A2_W2, network_forward, run_a1, run_a2, run_a3,
)
from .registry import experiment


def _save_text(ctx, text, filename):
    """Write ``text`` to ``<out_dir>/<filename>`` (the plain-text copy of a table)."""
    path = ctx.out_dir / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def text_figure(blocks, fontsize=9.0):
    """A figure showing preformatted text blocks ``[(title, text), …]`` in a monospace font,
    one below the other (tables readable wherever the report shows images)."""
    from .. import viz

    lines = sum(len(text.splitlines()) + 2 for _, text in blocks)
    width = max([len(line) for _, text in blocks for line in text.splitlines()]
                + [1.1 * len(title) for title, _ in blocks])
    char_w, line_h = 0.64 * fontsize / 72, 1.45 * fontsize / 72  # inches
    fig = viz.new_figure(figsize=(max(4.0, width * char_w + 0.4), lines * line_h + 0.3), layout=None)
    y = 1.0 - 0.15 / fig.get_figheight()
    for title, text in blocks:
        fig.text(0.02, y, title, fontsize=fontsize + 1, fontweight="bold", va="top", ha="left")
        y -= 1.6 * line_h / fig.get_figheight()
        fig.text(0.02, y, text, family="monospace", fontsize=fontsize, va="top", ha="left", linespacing=1.3)
        y -= (len(text.splitlines()) + 0.6) * line_h / fig.get_figheight()
    return fig


# ------------------------------------------------------------------------------ A1

@experiment("A1", title="Computational graph of f(w, x) = (w0 + w1·x1 + w2·x2)²",
            question="What does each node of a small expression graph hold after forward and backward?",
            varies="nothing: one worked example (plus g(x) = ln(2^x + e^x) + tanh(x)·σ(x) for the other nodes)",
            group="A", data="none")
def a1_graph(ctx):
    data, fig = run_a1(make_figure=True)
    ctx.save_figure(fig, "a1_graph")
    p = data["point"]
    ctx.note(f"f(w, x) = (w0 + w1·x1 + w2·x2)² at w0={p['w0']:g}, w1={p['w1']:g}, x1={p['x1']:g}, "
             f"w2={p['w2']:g}, x2={p['x2']:g}: f = {data['f']:g}. Every node's value and df/dnode:")
    ctx.note(data["table_text"])
    ctx.note(f"g(x) = ln(2^x + e^x) + tanh(x)·σ(x) at x = {data['g_point']['x']:g} exercises the a^x, exp, "
             f"log, tanh and sigmoid nodes: g = {data['g']:.6g}, dg/dx = {data['g_grad']:.6g}")
    ctx.note(data["g_table_text"])
    _save_text(ctx, data["table_text"] + "\n\n" + data["g_table_text"], "a1_tables.txt")
    tables = [("A1  f = (w0 + w1·x1 + w2·x2)²: value and df/dnode of every node", data["table_text"]),
              ("A1  g = ln(2^x + e^x) + tanh(x)·σ(x): value and dg/dnode", data["g_table_text"])]
    ctx.save_figure(text_figure(tables), "a1_tables")
    metrics = {"f": data["f"]}
    metrics.update({f"df/d{k}": v for k, v in data["grads"].items()})
    ctx.add_run("f", metrics, params=dict(p))
    ctx.add_run("g", {"g": data["g"], "dg/dx": data["g_grad"]}, params=dict(data["g_point"]))
    ctx.headline(f"f = {data['f']:g}; " + ", ".join(f"df/d{k} = {v:g}" for k, v in data["grads"].items()
                                                      if k.startswith("w")))
    ctx.log(data["table_text"])


# ------------------------------------------------------------------------------ A2

def engine_gradients(x, w1, b1, w2, b2, target, backend="auto"):
    """Loss and gradients of the 2-H-K network from the vectorised engine (float64).

    A ``DeepMLP([2, H, K], sigmoid hidden, softmax + cross-entropy)`` given the same
    weights (``W`` has shape (fan_in, fan_out), so ``w1[i][j]`` maps input i to hidden j
    as in the scalar network); returns ``(loss, {"w1", "b1", "w2", "b2"})`` as arrays.
    """
    from ..models import DeepMLP

    w1, w2 = np.asarray(w1, dtype=np.float64), np.asarray(w2, dtype=np.float64)
    model = DeepMLP([w1.shape[0], w1.shape[1], w2.shape[1]], activation="sigmoid", output="softmax",
                    loss="cross_entropy", dtype=np.float64, backend=backend)
    model.set_params([w1, w2], [np.asarray(b1, dtype=np.float64), np.asarray(b2, dtype=np.float64)])
    loss, dW, db = model.loss_and_gradients(np.asarray([x], dtype=np.float64), np.asarray([target]),
                                            reduction="sum")
    return loss, {"w1": dW[0], "b1": db[0], "w2": dW[1], "b2": db[1]}


def finite_difference_gradients(x, w1, b1, w2, b2, target, h=1e-6):
    """Central differences (L(p + h) − L(p − h)) / 2h of the scalar network's loss, for
    every parameter; returns ``{"w1", "b1", "w2", "b2"}`` as arrays."""
    params = {"w1": np.array(w1, dtype=np.float64), "b1": np.array(b1, dtype=np.float64),
              "w2": np.array(w2, dtype=np.float64), "b2": np.array(b2, dtype=np.float64)}

    def loss_at(p):
        return network_forward(list(x), p["w1"].tolist(), p["b1"].tolist(), p["w2"].tolist(),
                               p["b2"].tolist(), target)[0].data

    grads = {}
    for name, arr in params.items():
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + h
            hi = loss_at(params)
            arr[idx] = old - h
            lo = loss_at(params)
            arr[idx] = old
            g[idx] = (hi - lo) / (2 * h)
        grads[name] = g
    return grads


def _max_diff(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(np.asarray(a[k], dtype=np.float64) - np.asarray(b[k], dtype=np.float64))))
               for k in ("w1", "b1", "w2", "b2"))


def a2_check(x, w1, b1, w2, b2, target):
    """Scalar backprop vs engine vs central differences at one point: a dict of the
    scalar loss and gradients and the largest absolute differences."""
    data, _ = run_a2(make_figure=False, x=x, w1=w1, b1=b1, w2=w2, b2=b2, target=target)
    e_loss, e_grads = engine_gradients(x, w1, b1, w2, b2, target)
    fd = finite_difference_gradients(x, w1, b1, w2, b2, target)
    return {"data": data, "loss": data["loss"], "engine_loss": e_loss, "engine_grads": e_grads, "fd_grads": fd,
            "max_diff_engine": max(_max_diff(data["grads"], e_grads), abs(e_loss - data["loss"])),
            "max_diff_fd": _max_diff(data["grads"], fd)}


def comparison_table(chk) -> str:
    """Every gradient of one point side by side: scalar engine, vectorised engine, central
    differences."""
    data = chk["data"]
    rows = [("loss", data["loss"], chk["engine_loss"], float("nan"))]
    for name in ("w1", "b1", "w2", "b2"):
        scalar = np.asarray(data["grads"][name], dtype=np.float64)
        for idx in np.ndindex(scalar.shape):
            label = name + "".join(f"[{i}]" for i in idx)
            rows.append((label, scalar[idx], chk["engine_grads"][name][idx], chk["fd_grads"][name][idx]))
    head = f"{'':10s}{'scalar engine':>22s}  {'vectorised engine':>22s}  {'central difference':>19s}"
    lines = [head, "-" * len(head)]
    for label, a, b, c in rows:
        fd = "" if np.isnan(c) else f"{c:19.10g}"
        lines.append(f"{label:10s}{a:22.15g}  {b:22.15g}  {fd:>19s}")
    return "\n".join(lines)


@experiment("A2", title="Scalar backprop of a 2-3-2 network",
            question="Do gradients computed node by node in pure Python agree with the vectorised engine "
                     "and with finite differences?",
            varies="the point: the stated one (x=[1,-1], target 0) and n_random random points",
            group="A", data="none", n_random=3)
def a2_tiny_network(ctx):
    data, fig = run_a2(make_figure=True)
    ctx.save_figure(fig, "a2_graph")
    ctx.note("2 inputs → 3 sigmoid hidden units → 2 softmax outputs, cross-entropy; loss and every gradient "
             "from the scalar engine (pure Python lists):")
    ctx.note(data["table_text"])
    _save_text(ctx, data["table_text"] + "\n\nEvery node:\n" + data["trace_text"], "a2_gradients.txt")
    ctx.save_figure(text_figure([("A2  2-3-2 network (sigmoid hidden, softmax + cross-entropy): loss and every "
                                  "gradient", data["table_text"])]), "a2_gradients")

    rng = np.random.default_rng(int(ctx.params.get("seed", 0)))
    points = [("stated point", dict(x=A2_INPUT, w1=A2_W1, b1=A2_B1, w2=A2_W2, b2=A2_B2, target=A2_TARGET))]
    for i in range(int(ctx.params.get("n_random", 3))):
        points.append((f"random point {i + 1}", dict(
            x=rng.normal(size=2).tolist(), w1=rng.normal(size=(2, 3)).tolist(), b1=rng.normal(size=3).tolist(),
            w2=rng.normal(size=(3, 2)).tolist(), b2=rng.normal(size=2).tolist(), target=int(rng.integers(2)))))
    worst_engine = worst_fd = 0.0
    tables = []
    for name, p in points:
        chk = a2_check(**p)
        if len(tables) < 2:
            tables.append((f"A2  {name}: x = [{', '.join(f'{v:.4g}' for v in p['x'])}], target {p['target']} — "
                           f"dL/dparameter in three ways", comparison_table(chk)))
        worst_engine = max(worst_engine, chk["max_diff_engine"])
        worst_fd = max(worst_fd, chk["max_diff_fd"])
        ctx.add_run(name, {"loss": chk["loss"], "max |scalar − engine|": chk["max_diff_engine"],
                           "max |scalar − central diff|": chk["max_diff_fd"]},
                    params={k: v for k, v in p.items()})
    ctx.save_figure(text_figure(tables, fontsize=8.5), "a2_engine_check")
    ctx.note(f"At the stated point the two outputs get equal logits (w2's columns are equal), so p = [0.5, 0.5], "
             f"L = ln 2 and every dL/dw1, dL/db1 is exactly 0; the random points check non-zero gradients too. "
             f"Largest |scalar − vectorised engine (float64, reduction='sum')| over {len(points)} points: "
             f"{worst_engine:.2e}; largest |scalar − central difference (h = 1e-6)|: {worst_fd:.2e}.")
    ctx.headline(f"scalar backprop = vectorised engine to {worst_engine:.0e}, = central differences to {worst_fd:.0e} "
                 f"({len(points)} points)")
    ctx.verdict("the scalar network's gradients equal the engine's (≤ 1e-12)", worst_engine <= 1e-12,
                f"largest difference {worst_engine:.2e}")


# ------------------------------------------------------------------------------ A3

@experiment("A3", title="Per-sample SGD with the scalar network",
            question="Can the pure-Python scalar network learn a 2-D two-class problem one sample at a time?",
            varies="nothing by default (toy_data='blobs' or 'moons', lr, epochs as options)",
            group="A", data="none", n_samples=100, epochs=25, lr=0.01, toy_data="blobs")
def a3_per_sample_sgd(ctx):
    from ..history import History

    p = ctx.params
    dataset = p.get("toy_data", "blobs")  # not ctx.params["dataset"]: that names the MNIST-format set
    data, fig = run_a3(n_samples=int(p["n_samples"]), epochs=int(p["epochs"]), lr=float(p["lr"]),
                       seed=int(p.get("seed", 0)), dataset=dataset, make_figure=True)
    ctx.save_figure(fig, "a3_loss")
    history = History()
    history.loss = list(data["epoch_loss"])
    history.epochs = len(history.loss)
    history.steps = data["n_samples"] * data["epochs"]
    history.params = {"lr": data["lr"], "batch_size": 1, "reduction": "sum", "optimizer": "sgd",
                      "steps": history.steps}
    ctx.add_run(f"{dataset} lr={data['lr']:g}",
                {"first epoch loss": data["epoch_loss"][0], "final epoch loss": data["epoch_loss"][-1],
                 "train accuracy": data["train_accuracy"]},
                history=history,
                params={k: data[k] for k in ("n_samples", "epochs", "lr", "seed", "n_hidden", "dataset")})
    ctx.note(f"{data['n_samples']} z-scored 2-D points ({dataset}), 2-{data['n_hidden']}-2 network, N(0,1) weights, "
             f"one randomly drawn sample per step, lr {data['lr']:g}: average loss {data['epoch_loss'][0]:.3f} in "
             f"epoch 1 → {data['epoch_loss'][-1]:.3f} in epoch {data['epochs']}, training accuracy "
             f"{data['train_accuracy']:.0%}.")
    ctx.headline(f"loss {data['epoch_loss'][0]:.3f} → {data['epoch_loss'][-1]:.3f} in {data['epochs']} epochs, "
                 f"train accuracy {data['train_accuracy']:.0%}")
