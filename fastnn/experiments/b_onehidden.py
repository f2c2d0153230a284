"""Group B — the vectorised one-hidden-layer network on MNIST, 784-300-10 (EXPERIMENTS.md B1–B6).

Every B network: sigmoid hidden layer, softmax output, cross-entropy, biases, N(0, 1)
initial weights, pixels / 255 (the loaders already give [0, 1]).

Reduction. The course's learning rates (0.01–0.03 with batches of 64) belong to
*summed* gradients: B1 adds 64 per-sample gradients and applies the sum, and its "true
mini-batch" counterpart B2 is the same update computed as one tensor step. So every B
experiment uses ``reduction="sum"`` by default (lr·Σ over the batch; with the mean,
lr 0.03 would be a 64× smaller step and reach ~64% instead of ~90% in B6's 10 epochs).
``reduction="mean"`` is an option of every experiment.

Speed is part of every result: each run reports optimiser steps per second and samples
per second (metrics, figure titles and notes).
"""
from __future__ import annotations

import functools
import time

import numpy as np

from .. import viz
from ..callbacks import LambdaCallback
from ..history import History
from ..models import DeepMLP
from .registry import experiment

B_LAYERS = [784, 300, 10]  # the input width follows the data (64 for --dataset digits)
_COMMON = dict(group="B", data="mnist", batch_size=64, reduction="sum", init="normal", dtype="float32")


def make_model(seed, init="normal", dtype="float32", backend="auto", n_in=B_LAYERS[0]):
    """The B network n_in-300-10 (784-300-10 for MNIST): sigmoid hidden, softmax +
    cross-entropy, biases."""
    return DeepMLP([int(n_in)] + B_LAYERS[1:], activation="sigmoid", output="softmax", loss="cross_entropy", bias=True,
                   init=init, dtype=np.dtype(dtype), backend=backend, seed=seed)


@functools.lru_cache(maxsize=None)
def warm_up(dtype="float32", backend="auto", batch_size=64):
    """Load/compile the training loop once per process (a two-step fit on random data), so
    the first timed run's steps/s does not include it."""
    rng = np.random.default_rng(0)
    X = rng.random((2 * batch_size, B_LAYERS[0]), dtype=np.float64).astype(dtype)
    y = rng.integers(0, B_LAYERS[-1], 2 * batch_size)
    make_model(0, "normal", dtype, backend).fit(X, y, iterations=2, lr=0.01, batch_size=batch_size,
                                                reduction="sum", progress=False)


def speed(history, n_rows=None):
    """(optimiser steps per second, samples per second) of a finished run."""
    wall = max(float(history.wall_time), 1e-12)
    steps = history.steps / wall
    samples = (history.epochs * n_rows / wall) if n_rows and history.epochs else float("nan")
    return steps, samples


def dead_units(model, X, tol=1e-6):
    """Hidden units that are dead for every input of X: activation ~0, or saturated so that
    σ'(z) = a(1 − a) ~0 (no gradient passes)."""
    A = model.forward(X, return_all=True)[0]
    return int(np.sum((np.abs(A).max(axis=0) <= tol) | ((A * (1 - A)).max(axis=0) <= tol)))


def _summary(model, history, X, y, Xv, yv):
    """The report's metrics of a finished run (plain floats, picklable)."""
    steps_s, samples_s = speed(history, len(X))
    test_loss, test_acc = model.evaluate(Xv, yv)
    m = {"final_loss": float(history.final_loss), "train_accuracy": float(model.score(X, y)),
         "test_accuracy": float(test_acc), "test_loss": float(test_loss)}
    if history.accuracy:  # per-epoch training accuracy (not recorded by B1's Python loop)
        m["peak_train_accuracy"] = float(max(history.accuracy))
    m.update(steps=int(history.steps), dead_units=dead_units(model, X), steps_per_s=steps_s,
             samples_per_s=samples_s)
    return m


def train_b(X, y, Xv, yv, *, seed=0, shuffle_seed=None, lr=0.03, epochs=10, batch_size=64, reduction="sum",
            init="normal", dtype="float32", backend="auto", validate=False, end_of_epoch_train_loss=False):
    """One mini-batch training run of the B network (module level, so ``ctx.map`` can run it
    in a worker). ``seed`` draws the initial weights, ``shuffle_seed`` (default ``seed``)
    the order of the samples. Returns ``{"history", "metrics"}`` (picklable); with
    ``end_of_epoch_train_loss`` also ``"train_loss_end"``: the loss on the whole training
    set after each epoch, starting with the untrained network."""
    warm_up(dtype, backend, batch_size)
    model = make_model(seed, init, dtype, backend, n_in=X.shape[1])
    callbacks, end_losses = [], []
    if end_of_epoch_train_loss:
        end_losses.append(model.evaluate(X, y)[0])
        val_start = model.evaluate(Xv, yv)[0]
        callbacks.append(LambdaCallback(on_epoch_end=lambda run, epoch, logs: end_losses.append(
            run.model.evaluate(X, y)[0])))
    history = model.fit(X, y, epochs=epochs, lr=lr, batch_size=batch_size, reduction=reduction,
                        validation_data=(Xv, yv) if validate else None, callbacks=callbacks,
                        seed=seed if shuffle_seed is None else shuffle_seed, progress=False,
                        on_divergence="stop")
    out = {"history": history, "metrics": _summary(model, history, X, y, Xv, yv)}
    if end_of_epoch_train_loss:
        out["train_loss_end"] = [float(v) for v in end_losses]
        out["val_loss_start"] = float(val_start)
    model.history_ = None
    return out


def _net(X):
    return "-".join(str(d) for d in [X.shape[1]] + B_LAYERS[1:])


def _fit_kwargs(ctx):
    p = ctx.params
    return dict(lr=float(p["lr"]), epochs=int(p["epochs"]), batch_size=int(p["batch_size"]),
                reduction=p["reduction"], init=p["init"], dtype=p["dtype"], backend=p.get("backend", "auto"))


def _speed_text(m):
    return f"{m['steps_per_s']:,.0f} steps/s ({m['samples_per_s']:,.0f} samples/s)"


def _reduction_note(ctx):
    red, batch = ctx.params.get("reduction", "sum"), ctx.params.get("batch_size", 64)
    if red == "sum":
        return (f"Gradients are summed over each batch of {batch} (reduction='sum', the course's lr·Σ), so lr is "
                f"the step per sample-gradient; --set reduction=mean gives the modern averaged update.")
    return "Gradients are averaged over each batch (reduction='mean')."


# ------------------------------------------------------------------------------ B1

def per_sample_accumulation(X, y, *, seed=0, lr=0.01, epochs=15, batch_size=64, init="normal",
                            dtype="float64", backend="auto", log=None):
    """B1: for each sample, its own gradient (``loss_and_gradients`` on one row, summed
    reduction); the gradients are added up and applied every ``batch_size`` samples.

    The samples are visited in the order ``fit(seed=seed)`` would use (one
    ``default_rng(seed).permutation`` per epoch), so the run takes the same steps as the
    engine's mini-batch training with ``reduction="sum"``. Returns a :class:`History`
    (loss = mean per-sample loss over each epoch, measured before that sample's batch
    was applied — what ``fit`` reports) and the model.
    """
    model = make_model(seed, init, dtype, backend, n_in=X.shape[1])
    rng = np.random.default_rng(seed)
    N = X.shape[0]
    weights, biases = model.weights, model.biases  # views into the parameter vector
    acc_W = [np.zeros_like(W) for W in weights]
    acc_b = [np.zeros_like(b) for b in biases]
    history = History()
    history.params = dict(lr=lr, batch_size=batch_size, reduction="sum", optimizer="sgd",
                          engine="per-sample loss_and_gradients + Python accumulation")
    t0 = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(N)
        total = 0.0
        for start in range(0, N, batch_size):
            for i in order[start:start + batch_size]:
                loss, dW, db = model.loss_and_gradients(X[i:i + 1], y[i:i + 1], reduction="sum")
                total += loss
                for a, g in zip(acc_W, dW):
                    a += g
                for a, g in zip(acc_b, db):
                    a += g
            for W, b, aW, ab in zip(weights, biases, acc_W, acc_b):
                W -= lr * aW
                b -= lr * ab
                aW[...] = 0
                ab[...] = 0
            history.steps += 1
        history.loss.append(total / N)
        history.epochs = epoch + 1
        if log is not None:
            log(f"epoch {epoch + 1}/{epochs}: loss {history.loss[-1]:.4f} "
                f"({time.perf_counter() - t0:.1f} s)")
    history.wall_time = time.perf_counter() - t0
    history.params["steps"] = history.steps
    return history, model


@experiment("B1", title="Per-sample gradients accumulated every 64 samples",
            question="What does it cost to build a mini-batch update from per-sample gradients in Python, "
                     "and is it the same update as a true mini-batch step?",
            varies="nothing; per-sample accumulation is compared with the engine's mini-batch on the same "
                   "samples in the same order",
            lr=0.01, epochs=5, n_train=None, **dict(_COMMON, dtype="float64"))
def b1_per_sample(ctx):
    p = ctx.params
    X, y, Xv, yv = ctx.load_data()
    kw = dict(seed=int(p.get("seed", 0)), lr=float(p["lr"]), epochs=int(p["epochs"]),
              batch_size=int(p["batch_size"]), init=p["init"], dtype=p["dtype"], backend=p.get("backend", "auto"))
    ctx.log(f"per-sample gradients on {len(X)} images × {kw['epochs']} epochs (Python loop)")
    h_ps, model_ps = per_sample_accumulation(X, y, log=ctx.log, **kw)
    m_ps = _summary(model_ps, h_ps, X, y, Xv, yv)
    steps_ps, samples_ps, acc_v = m_ps["steps_per_s"], m_ps["samples_per_s"], m_ps["test_accuracy"]
    ctx.add_run("per-sample accumulation", m_ps, history=h_ps, params=kw)

    # the same updates as one tensor step per batch (summed reduction, same order)
    res = train_b(X, y, Xv, yv, seed=kw["seed"], lr=kw["lr"], epochs=kw["epochs"], batch_size=kw["batch_size"],
                  reduction="sum", init=kw["init"], dtype=kw["dtype"], backend=kw["backend"])
    h_mb, m_mb = res["history"], res["metrics"]
    ctx.add_run("engine mini-batch (same updates)", m_mb, history=h_mb, params=dict(kw, reduction="sum"))
    gap = float(np.max(np.abs(np.asarray(h_ps.loss) - np.asarray(h_mb.loss))))
    ratio = m_mb["steps_per_s"] / max(steps_ps, 1e-12)

    from matplotlib.ticker import MaxNLocator

    fig = viz.new_figure(figsize=(11, 4.6))
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
    epochs = np.arange(1, len(h_ps.loss) + 1)
    ax1.plot(epochs, h_ps.loss, "o-", color="C0", lw=3, ms=8, alpha=0.5, label="per-sample accumulation")
    ax1.plot(epochs, h_mb.loss, "x--", color="C1", ms=8, label="engine mini-batch step")
    ax1.set_yscale("log")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("mean training loss over the epoch")
    ax1.set_title(f"same updates: largest difference {gap:.1e}")
    ax1.grid(True, alpha=0.3)
    ax1.legend(fontsize="small")
    names = ["per-sample\naccumulation", "engine\nmini-batch"]
    batch = kw["batch_size"]
    rates = [steps_ps, m_mb["steps_per_s"]]
    ax2.bar(names, rates, color=["C0", "C1"])
    for i, r in enumerate(rates):
        ax2.text(i, r, f"{r:,.1f}", ha="center", va="bottom")
    ax2.set_ylim(0, 1.12 * max(rates))
    ax2.set_ylabel(f"optimiser steps per second ({batch} samples each)")
    ax2.set_title(f"speed: {ratio:,.0f}× faster as one tensor step")
    ax2.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"B1  {_net(X)}, per-sample gradients summed over {batch} samples, lr {kw['lr']:g}, {kw['dtype']}, "
                 f"{len(X)} images: test accuracy {acc_v:.1%}")
    ctx.save_figure(fig, "b1_loss")
    ctx.note(f"Per-sample gradients (one loss_and_gradients call per image) accumulated over {batch} samples and "
             f"applied as one update: {_speed_text(m_ps)}, test accuracy {acc_v:.1%} after {kw['epochs']} epochs. "
             f"The engine's true mini-batch step (batch {batch}, reduction='sum', same initial weights and sample "
             f"order) takes the same updates at {_speed_text(m_mb)} — {ratio:,.0f}× faster; largest difference "
             f"between the two per-epoch loss curves: {gap:.2e}.")
    if kw["epochs"] != 15:
        ctx.note(f"{kw['epochs']} epochs instead of the spec's 15 (the default, to keep B1 near a minute): the Python "
                 f"per-sample loop runs at ~{samples_ps:,.0f} samples/s, so 15 epochs of these {len(X)} images "
                 f"take ≈ {15 * len(X) / max(samples_ps, 1e-9):.0f} s here; `fastnn run B1 --set epochs=15` (with "
                 f"--n-train to cap full MNIST) reproduces the spec exactly.")
    ctx.note("float64, so that the two paths can be compared closely. " + _reduction_note(ctx))


# ------------------------------------------------------------------------------ B2

@experiment("B2", title="True mini-batch training (batch 64)",
            question="How far does tensor mini-batch training of 784-300-10 get in 50 epochs, and how fast?",
            varies="nothing (lr 0.02, batch 64, 50 epochs)", lr=0.02, epochs=50, **_COMMON)
def b2_minibatch(ctx):
    X, y, Xv, yv = ctx.load_data()
    kw = _fit_kwargs(ctx)
    res = train_b(X, y, Xv, yv, seed=int(ctx.params.get("seed", 0)), validate=True, **kw)
    h, m = res["history"], res["metrics"]
    ctx.add_run(f"lr={kw['lr']:g} batch={kw['batch_size']}", m, history=h, params=kw)
    fig = viz.new_figure(figsize=(11, 4.3))
    ax1, ax2 = fig.subplots(1, 2)
    viz.plot_loss(ax1, h, title="loss per epoch")
    viz.plot_accuracy(ax2, h, title="accuracy")
    fig.suptitle(f"B2  {_net(X)} mini-batch {kw['batch_size']}, lr {kw['lr']:g} ({kw['reduction']}), "
                 f"{kw['epochs']} epochs: test {m['test_accuracy']:.1%}\n{_speed_text(m)}")
    ctx.save_figure(fig, "b2_curves")
    ctx.note(f"{kw['epochs']} epochs, {m['steps']} steps in {h.wall_time:.1f} s: {_speed_text(m)}; "
             f"train accuracy {m['train_accuracy']:.1%}, test accuracy {m['test_accuracy']:.1%}. "
             + _reduction_note(ctx))


# ------------------------------------------------------------------------------ B3

@experiment("B3", title="Training vs validation loss",
            question="Does the validation loss follow the training loss over the first epochs?",
            varies="nothing (lr 0.02, batch 64, 5 epochs)", lr=0.02, epochs=5, **_COMMON)
def b3_train_vs_validation(ctx):
    X, y, Xv, yv = ctx.load_data()
    kw = _fit_kwargs(ctx)
    res = train_b(X, y, Xv, yv, seed=int(ctx.params.get("seed", 0)), validate=True, end_of_epoch_train_loss=True,
                  **kw)
    h, m, end = res["history"], res["metrics"], res["train_loss_end"]
    ctx.add_run(f"lr={kw['lr']:g} batch={kw['batch_size']}", dict(m, **{"final_val_loss": h.val_loss[-1]}),
                history=h, params=kw)
    fig = viz.new_figure(figsize=(7.5, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    epochs = np.arange(1, len(h.loss) + 1)
    ax.plot(epochs, h.loss, "o-", label="train (mean over the epoch's batches)")
    ax.plot(np.arange(len(end)), end, "s--", label="train (whole set, end of epoch)")
    ax.plot([0] + list(h.val_epochs), [res["val_loss_start"]] + list(h.val_loss), "^-",
            label="validation (test split, end of epoch)")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"B3  train vs validation loss — val acc {m['test_accuracy']:.1%}, {m['steps_per_s']:,.0f} steps/s")
    ctx.save_figure(fig, "b3_train_vs_val")
    rows = "; ".join(f"epoch {e}: train {t:.3f} / val {v:.3f}" for e, t, v in zip(h.val_epochs, end[1:], h.val_loss))
    ctx.note(f"Loss on the whole training set vs the validation (test) split after each epoch — {rows}. "
             f"The running training loss (mean over the epoch's batches) lags behind because it is measured "
             f"while the weights still change. Speed {_speed_text(m)} (includes the per-epoch evaluations). "
             + _reduction_note(ctx))


# ------------------------------------------------------------------------------ B4

@experiment("B4", title="Sensitivity to initialisation",
            question="How much do the loss curves differ between random N(0,1) initialisations?",
            varies="the seed of the initial weights (the sample order stays fixed)",
            lr=0.03, epochs=10, seeds=[0, 1, 2, 3, 4], **_COMMON)
def b4_seeds(ctx):
    X, y, Xv, yv = ctx.load_data()
    kw = _fit_kwargs(ctx)
    seeds = [int(s) for s in ctx.params["seeds"]]
    shuffle_seed = int(ctx.params.get("seed", 0))
    results = ctx.map(train_b, [dict(X=X, y=y, Xv=Xv, yv=yv, seed=s, shuffle_seed=shuffle_seed, validate=True,
                                     **kw) for s in seeds])
    for s, r in zip(seeds, results):
        ctx.add_run(f"seed={s}", r["metrics"], history=r["history"], params=dict(kw, seed=s))
    loss = np.array([r["history"].loss for r in results], dtype=np.float64)
    val_acc = np.array([r["history"].val_accuracy for r in results], dtype=np.float64)
    test_acc = np.array([r["metrics"]["test_accuracy"] for r in results])
    rate = float(np.mean([r["metrics"]["steps_per_s"] for r in results]))
    epochs = np.arange(1, loss.shape[1] + 1)

    fig = viz.new_figure(figsize=(11, 4.4))
    ax1, ax2 = fig.subplots(1, 2)
    for ax, data, name in ((ax1, loss, "training loss"), (ax2, val_acc, "validation accuracy")):
        ax.fill_between(epochs, data.min(axis=0), data.max(axis=0), color="C0", alpha=0.25, label="min–max")
        for row in data:
            ax.plot(epochs, row, color="C0", lw=0.6, alpha=0.6)
        ax.plot(epochs, data.mean(axis=0), color="C3", lw=2, label=f"mean of {len(seeds)} seeds")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    ax1.set_yscale("log")
    fig.suptitle(f"B4  {len(seeds)} N(0,1) initialisations, lr {kw['lr']:g}: test accuracy "
                 f"{test_acc.mean():.1%} ± {test_acc.std():.1%} — {rate:,.0f} steps/s per run")
    ctx.save_figure(fig, "b4_seed_band")
    ctx.note(f"Seeds {seeds}: final training loss {loss[:, -1].min():.3f}–{loss[:, -1].max():.3f}, test accuracy "
             f"{test_acc.min():.1%}–{test_acc.max():.1%} (mean {test_acc.mean():.1%}); {rate:,.0f} steps/s per "
             f"run. Only the initial weights change between runs; the sample order is the same. "
             + _reduction_note(ctx))


# ------------------------------------------------------------------------------ B5

@experiment("B5", title="Learning rates",
            question="How does the learning rate change the loss curve of 784-300-10?",
            varies="lr ∈ {0.0001, 0.003, 0.01, 0.03}", lrs=[0.0001, 0.003, 0.01, 0.03], epochs=10, **_COMMON)
def b5_learning_rates(ctx):
    X, y, Xv, yv = ctx.load_data()
    p = ctx.params
    lrs = [float(v) for v in p["lrs"]]
    kw = dict(epochs=int(p["epochs"]), batch_size=int(p["batch_size"]), reduction=p["reduction"], init=p["init"],
              dtype=p["dtype"], backend=p.get("backend", "auto"))
    seed = int(p.get("seed", 0))
    results = ctx.map(train_b, [dict(X=X, y=y, Xv=Xv, yv=yv, seed=seed, lr=lr, **kw) for lr in lrs])
    histories = {}
    for lr, r in zip(lrs, results):
        m = r["metrics"]
        ctx.add_run(f"lr={lr:g}", m, history=r["history"], params=dict(kw, lr=lr))
        histories[f"lr={lr:g}: test {m['test_accuracy']:.1%}, {m['steps_per_s']:,.0f} steps/s"] = r["history"]
    fig = viz.compare_curves(histories, metrics=("loss", "accuracy"),
                             title=f"B5  learning rates, batch {kw['batch_size']} ({kw['reduction']}), "
                                   f"{kw['epochs']} epochs")
    ctx.save_figure(fig, "b5_learning_rates")
    best = max(zip(lrs, results), key=lambda t: t[1]["metrics"]["test_accuracy"])
    rate = float(np.mean([r["metrics"]["steps_per_s"] for r in results]))
    ctx.note("Final test accuracy: " + ", ".join(f"lr {lr:g} → {r['metrics']['test_accuracy']:.1%}"
                                                 for lr, r in zip(lrs, results))
             + f"; best lr {best[0]:g}. Speed {rate:,.0f} steps/s per run (mean). " + _reduction_note(ctx))


# ------------------------------------------------------------------------------ B6
B6_REFERENCE = 0.91  # the course's validation accuracy on full MNIST

@experiment("B6", title="Final model: lr 0.03, batch 64, 10 epochs",
            question="What validation accuracy does the tuned 784-300-10 network reach, and how fast? "
                     "(reference: 91% on full MNIST)",
            varies="nothing", lr=0.03, epochs=10, **_COMMON)
def b6_final(ctx):
    X, y, Xv, yv = ctx.load_data()
    kw = _fit_kwargs(ctx)
    warm_up(kw["dtype"], kw["backend"], kw["batch_size"])
    model = make_model(int(ctx.params.get("seed", 0)), kw["init"], kw["dtype"], kw["backend"], n_in=X.shape[1])
    h = model.fit(X, y, epochs=kw["epochs"], lr=kw["lr"], batch_size=kw["batch_size"], reduction=kw["reduction"],
                  seed=int(ctx.params.get("seed", 0)), progress=False, on_divergence="stop")
    m = _summary(model, h, X, y, Xv, yv)
    ctx.add_run(f"lr={kw['lr']:g} batch={kw['batch_size']}", m, history=h, params=kw)
    fig = viz.new_figure(figsize=(11, 4.6))
    ax1, ax2 = fig.subplots(1, 2)
    viz.plot_loss(ax1, h, title="training loss per epoch")
    viz.plot_accuracy(ax2, h, title="training accuracy")
    fig.suptitle(f"B6  {_net(X)}, lr {kw['lr']:g}, batch {kw['batch_size']}, {kw['epochs']} epochs: validation "
                 f"accuracy {m['test_accuracy']:.1%} (reference 91% on full MNIST)\n"
                 f"{len(X)} training images, {_speed_text(m)}")
    ctx.save_figure(fig, "b6_curves")
    ctx.save_figure(viz.confusion_matrix(model, Xv, yv), "b6_confusion")
    ctx.headline(f"validation accuracy {m['test_accuracy']:.1%} after {kw['epochs']} epochs ({_speed_text(m)})")
    ctx.reference(f"validation accuracy after {kw['epochs']} epochs", m["test_accuracy"], B6_REFERENCE,
                  ctx.data_note())
    ctx.verdict(f"reaches the course's {B6_REFERENCE:.0%} (within 3 points or above)",
                m["test_accuracy"] >= B6_REFERENCE - 0.03 if np.isfinite(m["test_accuracy"]) else None,
                f"{m['test_accuracy']:.1%} on {len(Xv)} test images")
    ctx.note(f"Validation (test split, {len(Xv)} images) accuracy {m['test_accuracy']:.1%} after {kw['epochs']} "
             f"epochs on {len(X)} training images (the 91% reference is full MNIST, 60,000 images); "
             f"{m['steps']} steps in {h.wall_time:.1f} s = {_speed_text(m)}. " + _reduction_note(ctx))
