"""Group D — decision boundaries on toy data (EXPERIMENTS.md D1–D6).

Every network: z1 = X·W1 + b1, a1 = f(z1), …, softmax output, mean cross-entropy,
optional L2 penalty (``weight_decay``), full-batch gradient descent from N(0, 1)/√fan_in
weights ("lecun", as in the classic make_moons tutorial). Each experiment trains its
variants through ``ctx.map`` (so ``--jobs`` runs them in parallel) and draws one
decision-boundary panel per variant, titled with its setting and accuracy, plus the
loss curves.

The data: scikit-learn's make_moons (200 points, noise 0.2) or make_blobs (4 classes,
400 points) through :func:`fastnn.datasets.load`, standardised; accuracy is reported on
the training points (drawn) and on an independent test draw of the same size.
"""
from __future__ import annotations

import functools

import numpy as np

from .. import activations as act_mod
from .. import viz
from ..datasets import load
from ..history import History
from ..models import DeepMLP
from .registry import experiment

ACTIVATIONS = ("tanh", "sigmoid", "relu")
_COMMON = dict(group="D", data="toy", iterations=10000, lr=1.0, weight_decay=0.0, init="lecun", n_samples=None,
               noise=0.2, data_seed=0, resolution=200, dtype="float64")


def toy_data(dataset="moons", n_samples=None, noise=0.2, data_seed=0):
    """(X, y, X_test, y_test) of the moons or blobs set (``n_samples=None``: the dataset's
    default, 200 moons / 400 blobs); the test set is an independent draw of the same size."""
    kw = {"seed": int(data_seed)}
    if n_samples is not None:
        kw["n_samples"] = int(n_samples)
    if dataset == "moons":
        kw["noise"] = float(noise)
    elif dataset != "blobs":
        raise ValueError(f"group D uses the toy sets 'moons' and 'blobs', not {dataset!r}")
    (X, y), (Xt, yt) = load(dataset, ("train", "test"), dtype=np.float64, **kw)
    return X, y, Xt, yt


def _thin(history, points):
    """A copy of a full-batch History keeping about ``points`` entries of loss/accuracy
    (every k-th iteration, ending with the last): small enough for the run JSON."""
    n = len(history.loss)
    every = max(1, n // points)
    idx = np.unique(np.r_[np.arange(every - 1, n, every), n - 1]) if n else np.zeros(0, dtype=int)
    thin = History()
    thin.loss = [float(history.loss[i]) for i in idx]
    thin.accuracy = [float(history.accuracy[i]) for i in idx] if history.accuracy else []
    thin.steps, thin.epochs, thin.wall_time = history.steps, history.epochs, history.wall_time
    thin.stopped, thin.message = history.stopped, history.message
    thin.params = dict(history.params, curve_every=every)
    return thin, (idx + 1).tolist()


@functools.lru_cache(maxsize=None)
def warm_up(dtype="float64", backend="auto"):
    """Load/compile the small-network training loop once per process, so that the first
    timed network's steps/s does not include it."""
    X = np.random.default_rng(0).normal(size=(8, 2)).astype(dtype)
    DeepMLP([2, 3, 2], activation="tanh", init="lecun", dtype=np.dtype(dtype), backend=backend, seed=0).fit(
        X, np.arange(8) % 2, iterations=2, lr=0.1, progress=False)


def dead_units_per_layer(model, X, tol=1e-6):
    """Per hidden layer, the units that pass nothing for every input of X: activation ~0
    or derivative f'(z) ~0 (a dead ReLU, a saturated sigmoid/tanh)."""
    out = []
    for A, act in zip(model.forward(X, return_all=True)[:-1], model.activations[:-1]):
        deriv = act_mod.derivative(A, act.code, act.k, act.alpha)
        dead = (np.abs(A).max(axis=0) <= tol) | (np.abs(deriv).max(axis=0) <= tol)
        out.append(int(dead.sum()))
    return out


def train_variant(*, hidden, activation, dataset="moons", n_samples=None, noise=0.2, data_seed=0, iterations=10000,
                  lr=1.0, weight_decay=0.0, init="lecun", seed=0, dtype="float64", backend="auto",
                  curve_points=200):
    """Train one D network (module level, so ``ctx.map`` can run it in a worker).

    Returns a picklable dict: ``model`` (the trained DeepMLP, without its History),
    ``history`` (thinned to ~``curve_points`` iterations), ``iterations`` (the iteration of
    each kept entry) and ``metrics``.
    """
    warm_up(dtype, backend)
    X, y, Xt, yt = toy_data(dataset, n_samples, noise, data_seed)
    n_classes = int(max(y.max(), yt.max())) + 1
    model = DeepMLP([2, *[int(h) for h in hidden], n_classes], activation=activation, output="softmax",
                    loss="cross_entropy", init=init, dtype=np.dtype(dtype), backend=backend, seed=seed)
    history = model.fit(X, y, iterations=int(iterations), lr=float(lr), weight_decay=float(weight_decay),
                        reduction="mean", progress=False, on_divergence="stop")
    model.history_ = None
    thin, iterations = _thin(history, curve_points)
    test_loss, test_acc = model.evaluate(Xt, yt)
    metrics = {"train_accuracy": model.score(X, y), "test_accuracy": test_acc,
               "final_loss": float(history.final_loss), "test_loss": test_loss, "steps": int(history.steps),
               "steps_per_s": history.steps / max(history.wall_time, 1e-12)}
    dead = dead_units_per_layer(model, X)
    metrics["dead_units"] = sum(dead)
    return {"model": model, "history": thin, "iterations": iterations, "metrics": metrics, "dead_per_layer": dead}


# ------------------------------------------------------------------------------ shared driver

def _settings(ctx):
    p = ctx.params
    return dict(iterations=int(p["iterations"]), lr=float(p["lr"]), weight_decay=float(p["weight_decay"]),
                init=p["init"], n_samples=p.get("n_samples"), noise=float(p["noise"]), data_seed=int(p["data_seed"]),
                seed=int(p.get("seed") or 0), dtype=p["dtype"], backend=p.get("backend") or "auto")


def _setting_text(kw):
    l2 = f", L2 {kw['weight_decay']:g}" if kw["weight_decay"] else ""
    return f"{kw['iterations']} full-batch steps, lr {kw['lr']:g}, mean CE{l2}, init {kw['init']}"


def _loss_figure(panels, title):
    """Training loss against iteration for each variant (log scale)."""
    fig = viz.new_figure(figsize=(7.5, 4.6))
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, res) in enumerate(panels):
        ax.plot(res["iterations"], res["history"].loss, color=f"C{i % 10}", lw=1.4, label=label)
    losses = np.concatenate([np.asarray(r["history"].loss, dtype=np.float64) for _, r in panels])
    if losses.size and np.all(losses[np.isfinite(losses)] > 0):
        ax.set_yscale("log")
    ax.set_xlabel("iteration (full-batch step)")
    ax.set_ylabel("mean cross-entropy (train)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(title)
    return fig


def run_sweep(ctx, dataset, figures):
    """Train every variant of every figure in one ``ctx.map``, record the runs and save a
    decision-boundary grid and a loss figure per entry of ``figures``.

    ``figures``: list of ``(figure name, title, [(run name, panel label, hidden, activation)])``.
    Returns ``{run name: result}``.
    """
    kw = _settings(ctx)
    variants = [v for _, _, vs in figures for v in vs]
    ctx.log(f"{len(variants)} networks × {kw['iterations']} steps on {dataset}")
    # the most expensive networks first, so parallel workers finish together; results back in order
    order = sorted(range(len(variants)), key=lambda i: -_cost(variants[i][2], variants[i][3]))
    done = ctx.map(train_variant, [dict(kw, dataset=dataset, hidden=list(variants[i][2]), activation=variants[i][3])
                                   for i in order])
    results = [None] * len(variants)
    for i, res in zip(order, done):
        results[i] = res
    by_name = {}
    for (name, _label, hidden, act), res in zip(variants, results):
        by_name[name] = res
        ctx.add_run(name, res["metrics"], history=res["history"],
                    params=dict(kw, dataset=dataset, layers=res["model"].layer_dims, activation=act,
                                curve_every=res["history"].params.get("curve_every")))
    X, y, _, _ = toy_data(dataset, kw["n_samples"], kw["noise"], kw["data_seed"])
    for fig_name, title, vs in figures:
        panels = [(by_name[name], label) for name, label, _, _ in vs]
        ncols = {1: 1, 2: 2, 4: 2}.get(len(panels), 3)
        grid = viz.decision_boundary_grid(
            [(r["model"], f"{label}\ntest {r['metrics']['test_accuracy']:.1%}") for r, label in panels], X, y,
            ncols=ncols, resolution=int(ctx.params.get("resolution", 200)),
            suptitle=f"{title}\n{_setting_text(kw)}")
        ctx.save_figure(grid, fig_name)
        ctx.save_figure(_loss_figure([(f"{label} ({r['metrics']['steps_per_s']:,.0f} steps/s)", r)
                                      for r, label in panels],
                                     f"{title} — training loss"), fig_name + "_loss")
        ctx.note(f"{title.split('  ', 1)[-1]}: " + "; ".join(
            f"{label} → train {r['metrics']['train_accuracy']:.1%}, test {r['metrics']['test_accuracy']:.1%}"
            for r, label in panels) + f" ({_setting_text(kw)}).")
    stuck = [f"{name} (dead units per hidden layer: {r['dead_per_layer']})"
             for (name, _l, _h, _a), r in zip(variants, results)
             if r["metrics"]["final_loss"] > 0.9 * np.log(r["model"].layer_dims[-1])]
    if stuck:
        ctx.note("Did not learn (loss still ≈ ln K: one class everywhere): " + "; ".join(stuck) + ". A layer whose "
                 "units are all dead (zero output or zero derivative for every input) passes no signal forward "
                 "and no gradient back.")
    total = sum(r["history"].wall_time for r in results)
    ctx.note(f"Training time of the {len(results)} networks: {total:.2f} s in all "
             f"({sum(r['metrics']['steps'] for r in results) / max(total, 1e-12):,.0f} steps/s on average).")
    return by_name


def _cost(hidden, activation):
    """Rough relative cost of a training step: multiply-adds plus activation evaluations."""
    dims = [2, *hidden, 4]
    macs = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    return 3 * macs + (4 if activation in ("tanh", "sigmoid") else 1) * sum(hidden)


def _depth_label(n_layers, width):
    return f"{n_layers} hidden layer{'s' if n_layers > 1 else ''} of {width}"


# ------------------------------------------------------------------------------ D1–D6

@experiment("D1", title="Moons, one hidden layer of 3: tanh vs sigmoid vs ReLU",
            question="How does the hidden activation shape the decision boundary of a tiny network?",
            varies="activation ∈ {tanh, sigmoid, relu}", **_COMMON)
def d1_activations(ctx):
    variants = [(a, f"{a}, 1 hidden layer of 3", [3], a) for a in ACTIVATIONS]
    run_sweep(ctx, "moons", [("d1_boundaries", "D1  moons, one hidden layer of 3 units", variants)])


@experiment("D2", title="Moons, tanh, hidden width 1–6",
            question="How many hidden units does the moons problem need?",
            varies="hidden width ∈ {1, 2, 3, 4, 5, 6}", widths=[1, 2, 3, 4, 5, 6], **_COMMON)
def d2_width(ctx):
    variants = [(f"width {w}", f"tanh, {w} hidden unit{'s' if w > 1 else ''}", [w], "tanh")
                for w in (int(w) for w in ctx.params["widths"])]
    run_sweep(ctx, "moons", [("d2_boundaries", "D2  moons, tanh, one hidden layer: width", variants)])


@experiment("D3", title="Moons, tanh, 1–4 hidden layers of width 3",
            question="What does depth add when every layer has only 3 units?",
            varies="number of hidden layers ∈ {1, 2, 3, 4}", depths=[1, 2, 3, 4], **_COMMON)
def d3_depth(ctx):
    variants = [(f"depth {d}", f"tanh, {_depth_label(d, 3)}", [3] * d, "tanh")
                for d in (int(d) for d in ctx.params["depths"])]
    run_sweep(ctx, "moons", [("d3_boundaries", "D3  moons, tanh, hidden layers of 3 units: depth", variants)])


@experiment("D4", title="Moons, tanh, 4 hidden layers of width 3, 5, 10, 20",
            question="What happens when a deep network also gets wide (capacity vs overfitting)?",
            varies="width of the 4 hidden layers ∈ {3, 5, 10, 20}", widths=[3, 5, 10, 20], **_COMMON)
def d4_deep_width(ctx):
    variants = [(f"width {w}", f"tanh, {_depth_label(4, w)}", [w] * 4, "tanh")
                for w in (int(w) for w in ctx.params["widths"])]
    run_sweep(ctx, "moons", [("d4_boundaries", "D4  moons, tanh, 4 hidden layers: width", variants)])


@experiment("D5", title="Moons, 4 hidden layers of 3: tanh vs sigmoid vs ReLU",
            question="Which activations still train when the network is deep and narrow?",
            varies="activation ∈ {tanh, sigmoid, relu}", **_COMMON)
def d5_deep_activations(ctx):
    variants = [(a, f"{a}, {_depth_label(4, 3)}", [3] * 4, a) for a in ACTIVATIONS]
    run_sweep(ctx, "moons", [("d5_boundaries", "D5  moons, 4 hidden layers of 3 units: activation", variants)])


@experiment("D6", title="Blobs (4 classes): depth, width and activation",
            question="How do depth, width and activation change the boundaries between four classes?",
            varies="depth 1–4 (width 4, tanh); width 3–20 (2 hidden layers, tanh); tanh/sigmoid/relu "
                   "(2 hidden layers of 4)",
            depths=[1, 2, 3, 4], widths=[3, 5, 10, 20], **_COMMON)
def d6_blobs(ctx):
    depth = [(f"depth {d}", f"tanh, {_depth_label(d, 4)}", [4] * d, "tanh")
             for d in (int(d) for d in ctx.params["depths"])]
    width = [(f"width {w}", f"tanh, {_depth_label(2, w)}", [w] * 2, "tanh")
             for w in (int(w) for w in ctx.params["widths"])]
    acts = [(a, f"{a}, {_depth_label(2, 4)}", [4, 4], a) for a in ACTIVATIONS]
    run_sweep(ctx, "blobs", [("d6_depth", "D6  blobs (4 classes), tanh, hidden layers of 4: depth", depth),
                             ("d6_width", "D6  blobs (4 classes), tanh, 2 hidden layers: width", width),
                             ("d6_activation", "D6  blobs (4 classes), 2 hidden layers of 4: activation", acts)])
