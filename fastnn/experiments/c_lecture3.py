"""Section C of EXPERIMENTS.md: the "lecture 3" network study (784-256-128-10).

Base setting: no biases, sigmoid everywhere (also the output), MSE Σ(L3 − T)²/N, full-batch
gradient descent on all training images with summed gradients (lr·Σ, ``reduction="sum"``),
lr = 1e-5, weights U[-1, 1], 200 iterations; every iteration records loss, accuracy and the
update magnitude of each layer; a NaN stops the run with its message. Each experiment
changes one thing; every run writes its metrics JSON (train and test accuracy) and its
overview and layers dashboards; the best run of each experiment also gets its confusion
matrix, t-SNE map and layers animation.
"""
from __future__ import annotations

import numpy as np

from ._common import (BASIC_FIGURES, EXTRA_FIGURES, LECTURE3_BASE, best_index, draw_figure, figure_path,
                      train_mnist)
from .registry import experiment

REFERENCE_N = 60000
# the base setting, as data in every experiment's defaults (all overridable); lr_scale="auto"
# gives reference-matched step sizes (see lr_scale below), a number multiplies every rate by it
BASE = dict(LECTURE3_BASE, iterations=200, dashboards="all", tsne_samples=500, gif_frames=40, lr_scale="auto")
DASHBOARDS = ("all", "best", "none")


# ---------------------------------------------------------------------------- step sizes
def resolve_lr_scale(value, n, reduction="sum", reference_n=REFERENCE_N) -> float:
    """The factor every learning rate of a C run is multiplied by.

    With lr·Σ (reduction="sum") a step on N images is N/reference_n as long as the course's
    on reference_n, so ``"auto"`` (the default) returns reference_n / N: each step then moves
    the weights as far as the course's did. With reduction="mean" the step does not depend on
    N and "auto" is 1. A positive number is used as given (``--set lr_scale=1``: the raw rates)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return float(reference_n) / int(n) if reduction == "sum" else 1.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"lr_scale must be 'auto' or a positive number (1 = the spec's raw rates), got {value!r}")
    return float(value)


def lr_scale(ctx) -> float:
    """resolve_lr_scale for this experiment's parameters and training-set size (cached on ctx)."""
    if getattr(ctx, "_lr_scale", None) is None:
        n = len(ctx.load_data()[0])
        ctx._lr_scale = resolve_lr_scale(ctx.params.get("lr_scale", "auto"), n, ctx.params.get("reduction", "sum"))
        ctx.meta["lr_scale"] = {"factor": ctx._lr_scale, "n_train": n, "reference_n": REFERENCE_N,
                                "mode": "auto" if str(ctx.params.get("lr_scale", "auto")).lower() == "auto"
                                else "given"}
    return ctx._lr_scale


# ---------------------------------------------------------------------------- helpers
def _kwargs(ctx, name, config, figures):
    p = ctx.params
    return dict(name=name, config=config, dataset=p["dataset"], n_train=p.get("n_train"), n_test=p.get("n_test"),
                seed=p["seed"], backend=p["backend"], iterations=p["iterations"], out_dir=str(ctx.out_dir / "runs"),
                figures=tuple(figures), class_names=ctx.class_names,
                cache_dir=None if ctx.cache_dir is None else str(ctx.cache_dir), origin=f"{ctx.id}/{name}",
                refresh=getattr(ctx, "refresh", None))


def _base_config(ctx, **changes):
    """The base setting from ctx.params (so --set init=he etc. apply) with ``changes``."""
    cfg = {k: ctx.params[k] for k in LECTURE3_BASE if k in ctx.params}
    cfg.update(changes)
    return cfg


def _draw_safely(**kwargs):
    """draw_figure that reports instead of raising (e.g. t-SNE of a diverged run)."""
    try:
        return draw_figure(**kwargs), None
    except (ValueError, FloatingPointError) as exc:
        return None, f"{kwargs['kind']}: {exc}"


def sweep(ctx, variants, *, extras="best", desc=None):
    """Train ``variants`` (list of (name, config)), record each run as it finishes and draw
    the dashboards: overview + layers for every run (params["dashboards"] == "all"), and
    confusion matrix + t-SNE + layers GIF for the best run (``extras="best"``), every run
    ("all") or none. Returns the results of train_mnist, in order."""
    dash = ctx.params.get("dashboards", "all")
    if dash not in DASHBOARDS:
        raise ValueError(f"dashboards must be one of {', '.join(DASHBOARDS)}, got {dash!r}")
    basic = BASIC_FIGURES if dash == "all" else ()

    def on_result(i, r):
        m, h = r["metrics"], r["history"]
        extra = {"figure_time": r["figure_time"]}
        if r.get("reused_from"):
            extra["reused_from"] = r["reused_from"]
        if r.get("resumed"):
            extra["resumed"] = True
        ctx.add_run(r["name"], m, history=h, params=r["config"], figures=r["figures"], extra=extra,
                    curves={"update_magnitude": r.get("update_magnitude") or []}, model=r["model"])
        acc = lambda v: "—" if v is None else f"{v:.2%}"  # noqa: E731
        msg = f" — {h.message}" if h.stopped else ""
        if r.get("resumed"):
            msg += " (finished by an earlier invocation: not trained again; --force retrains)"
        if r.get("reused_from"):
            msg += f" (same run as {r['reused_from']}: not trained again)"
            ctx.note(f"{r['name']}: the same run as {r['reused_from']} (identical settings, data, seed and "
                     f"threads), trained once and reused.")
        ctx.log(f"{r['name']}: train {acc(m['train_accuracy'])}, test {acc(m['test_accuracy'])}, "
                f"loss {m['final_loss'] if m['final_loss'] is None else round(m['final_loss'], 5)} "
                f"({r['wall_time']:.1f} s, {h.params.get('engine')}){msg}")

    scale = lr_scale(ctx)
    variants = [(n, dict(c, lr_scale=scale)) for n, c in variants]
    results = ctx.map(train_mnist, [_kwargs(ctx, n, c, basic) for n, c in variants], on_result=on_result,
                      desc=desc or f"{ctx.id} runs")
    ctx.order_runs([n for n, _ in variants])
    if dash == "none" or extras == "none" or not results:
        return results
    targets = list(range(len(results))) if extras == "all" else [best_index(results)]
    kinds = list(EXTRA_FIGURES) + ([] if dash == "all" else list(BASIC_FIGURES))
    p = ctx.params
    tasks = []
    for i in targets:
        r = results[i]
        for kind in kinds:
            tasks.append(dict(kind=kind, model=r["model"], history=r["history"], dataset=p["dataset"],
                              n_train=p.get("n_train"), n_test=p.get("n_test"),
                              path=str(figure_path(ctx.out_dir / "runs", r["name"], kind)), seed=p["seed"],
                              class_names=ctx.class_names, tsne_samples=p.get("tsne_samples", 500),
                              gif_frames=p.get("gif_frames", 40)))
    drawn = ctx.map(_draw_safely, tasks, desc=f"{ctx.id} dashboards")
    captions = {"overview": "overview", "layers": "layers panel", "confusion": "confusion matrix (test split)",
                "tsne": "t-SNE of the last hidden layer (test split)", "animation": "layers panel over training (GIF)"}
    for i in targets:
        name = results[i]["name"]
        new = []
        for kind in BASIC_FIGURES:  # the run's own dashboards join the main figures
            for f in results[i]["figures"]:
                if f.endswith(f".{kind}.png"):
                    ctx.save_file(f, caption=captions[kind], run=name, featured=True)
        for task, (path, err) in zip(tasks, drawn):
            if task["history"] is not results[i]["history"]:
                continue
            if path is None:
                ctx.note(f"{name}: no {err}")
                continue
            ctx.save_file(path, caption=captions[task["kind"]], run=name, featured=True)
            new.append(path)
        ctx.attach_figures(name, new)
    return results


def _histories(results, names=None):
    return {r["name"]: r["history"] for r in results if names is None or r["name"] in names}


def _curves_and_bars(ctx, results, title, curves_name="loss_curves", metrics=("loss", "accuracy")):
    from .. import viz

    ctx.save_figure(viz.compare_curves(_histories(results), metrics=metrics, title=title), curves_name,
                    caption=f"{title}: training curves")
    ctx.save_figure(viz.accuracy_bars({r["name"]: r["metrics"]["train_accuracy"] for r in results},
                                      title=f"{title}: final training accuracy", chance=0.1),
                    "final_train_accuracy", caption="final training accuracy")
    ctx.save_figure(viz.accuracy_bars({r["name"]: r["metrics"]["test_accuracy"] for r in results},
                                      title=f"{title}: test accuracy", chance=0.1),
                    "final_test_accuracy", caption="test accuracy (test split)")


def _pct(v):
    return "—" if v is None or not np.isfinite(v) else f"{v:.1%}"


# ---------------------------------------------------------------------------- verdicts
def _metric(results, name, key="train_accuracy"):
    """A finite metric of the run called ``name`` (None when absent, NaN or the run is missing)."""
    for r in results:
        if r["name"] == name:
            v = r["metrics"].get(key)
            return None if v is None or not np.isfinite(v) else float(v)
    return None


def _run(results, name):
    return next((r for r in results if r["name"] == name), None)


def data_note(ctx) -> str:
    """How this experiment's data differs from the course's (full MNIST, 60,000 images)."""
    n = len(ctx.load_data()[0])
    ds = ctx.params.get("dataset")
    scale = lr_scale(ctx)
    steps = f", steps ×{scale:.4g} (reference-matched)" if scale != 1.0 else ""
    if ds == "mnist" and n == REFERENCE_N:
        return f"the course's data: full MNIST, {n:,} training images{steps}"
    return f"fastnn: {ds}, {n:,} training images{steps}; the course: full MNIST, {REFERENCE_N:,}"


def _beats(ctx, results, a, b, margin, a_label=None, b_label=None, course=""):
    """Verdict "a beats b by … points" (train accuracy), true when the lead is ≥ margin."""
    a_label, b_label = a_label or a, b_label or b
    va, vb = _metric(results, a), _metric(results, b)
    if va is None or vb is None:
        ctx.verdict(f"{a_label} beats {b_label}", None, "a run has no finite accuracy (diverged?)")
        return
    d = 100 * (va - vb)
    claim = f"{a_label} beats {b_label} by {d:.0f} points" if d >= 0.5 else f"{a_label} beats {b_label}"
    need = f"; a verdict of yes needs ≥ {100 * margin:.0f}" if margin else ""
    ctx.verdict(claim, va - vb >= margin and va > vb,
                f"train accuracy {va:.1%} vs {vb:.1%} ({d:+.1f} points{need}){course}")


def _reaches(ctx, results, name, reference, label, tolerance=0.03):
    """Reference row and verdict "name reaches the course's reference (within tolerance)"."""
    v = _metric(results, name)
    ctx.reference(f"{label}: train accuracy", v, reference, data_note(ctx))
    if v is None:
        ctx.verdict(f"{label} reaches the course's {reference:.1%}", None, "the run has no finite accuracy")
        return
    ctx.verdict(f"{label} reaches the course's {reference:.1%} (within {100 * tolerance:.0f} points or above)",
                v >= reference - tolerance, f"train accuracy {v:.1%} (test {_pct(_metric(results, name, 'test_accuracy'))})"
                f" vs {reference:.1%}")


def _collapses(ctx, results, name, label):
    """Verdict "name collapses to one class or diverges"."""
    r = _run(results, name)
    if r is None:
        return
    share = r["metrics"].get("top_class_share")
    diverged = r["history"].stopped == "diverged"
    evidence = "diverged: " + r["history"].message if diverged else \
        f"predicts its most common class for {_pct(share)} of the test images"
    ctx.verdict(f"{label} collapses to one class (or diverges)", diverged or (share is not None and share >= 0.9),
                evidence)


def _headline(ctx, results):
    if not results:
        return
    b = results[best_index(results)]
    ctx.headline(f"best: {b['name']} — train {_pct(b['metrics']['train_accuracy'])}, "
                 f"test {_pct(b['metrics']['test_accuracy'])}")


def _findings(ctx, results):
    """Notes every C experiment gets: the best run, diverged and collapsed runs, and what
    lr·Σ means for this dataset size; the summary headline."""
    if not results:
        return
    _headline(ctx, results)
    b = results[best_index(results)]
    ctx.note(f"Best run: {b['name']} — train {_pct(b['metrics']['train_accuracy'])}, "
             f"test {_pct(b['metrics']['test_accuracy'])} after {b['metrics']['steps']} iterations.")
    for r in results:
        h = r["history"]
        if h.stopped:
            ctx.note(f"{r['name']}: {h.message}")
        share = r["metrics"].get("top_class_share")
        if share is not None and share >= 0.9 and not h.stopped:
            ctx.note(f"{r['name']}: collapsed — predicts one class for {share:.0%} of the test images.")
    seen = {}
    for r in results:  # different settings that end in exactly the same place say something
        if r.get("reused_from") or r["history"].stopped:
            continue
        key = (tuple(r["history"].loss), r["metrics"]["train_accuracy"])
        if key in seen:
            ctx.note(f"{r['name']} trained exactly like {seen[key]} (identical loss curve and accuracy): the "
                     f"setting that differs never came into play.")
        else:
            seen[key] = r["name"]
    _scale_note(ctx)


def _scale_note(ctx):
    """What lr·Σ and the step-size factor mean for this dataset size."""
    n = len(ctx.load_data()[0])
    scale = lr_scale(ctx)
    if ctx.params.get("reduction", "sum") != "sum" or (n == REFERENCE_N and scale == 1.0):
        return
    if scale == 1.0:
        ctx.note(f"lr·Σ: gradients are summed over the N = {n} training images (reduction='sum'), as in the "
                 f"original notebooks, and the learning rates are the spec's raw rates (lr_scale=1), chosen for "
                 f"N = {REFERENCE_N}. The summed gradient is ≈ {n / REFERENCE_N:.1%} of the course's, so each step "
                 f"moves the weights that much less: expect lower accuracies than the reference numbers. The "
                 f"default (lr_scale='auto') multiplies the rates by {REFERENCE_N}/N to match the course's steps.")
    elif ctx.meta.get("lr_scale", {}).get("mode") == "auto":
        ctx.note(f"lr·Σ with reference-matched step sizes: gradients are summed over the N = {n} training images "
                 f"(reduction='sum') as in the original notebooks, whose rates were chosen for N = {REFERENCE_N}. "
                 f"Every learning rate (the names show the spec's rates) is multiplied by {REFERENCE_N}/{n} = "
                 f"{scale:.4g}, so each step moves the weights as far as the course's did. "
                 f"--set lr_scale=1 gives the raw rates.")
    else:
        ctx.note(f"lr·Σ: gradients are summed over the N = {n} training images; every learning rate is multiplied "
                 f"by lr_scale = {scale:.4g} as given (reference-matched would be {REFERENCE_N / n:.4g}).")


def _new_figure(figsize):
    from ..viz import new_figure

    return new_figure(figsize=figsize)


def layer_stats_figure(results):
    """Per layer, over training: mean ± σ of activations, weights and updates, the update
    magnitude (log scale) and the dead units — one column per run."""
    rows = [("activations (mean ± σ)", "act_mean", "act_std", False),
            ("weights (mean ± σ)", "weight_mean", "weight_std", False),
            ("updates ΔW (mean ± σ)", "update_mean", "update_std", False),
            ("update magnitude mean|ΔW|", "update_magnitude", None, True),
            ("dead units", "dead_units", None, False)]
    fig = _new_figure((5.2 * len(results), 2.3 * len(rows) + 0.6))
    axes = fig.subplots(len(rows), len(results), squeeze=False)
    for j, r in enumerate(results):
        h = r["history"]
        stats = h.layers
        steps = np.asarray(h.record_steps) + 1  # iterations counted from 1, as in the curves
        for i, (label, key, sd_key, log) in enumerate(rows):
            ax = axes[i, j]
            arr = np.asarray(stats[key], dtype=np.float64)
            x = steps
            if key == "update_magnitude" and r.get("update_magnitude"):  # tracked at every iteration
                arr = np.asarray(r["update_magnitude"], dtype=np.float64)
                x = np.arange(1, len(arr) + 1)
            if arr.size == 0:
                ax.text(0.5, 0.5, "nothing recorded", ha="center", va="center", transform=ax.transAxes)
                continue
            for l in range(arr.shape[1]):
                ax.plot(x, arr[:, l], color=f"C{l}", lw=1.4, label=f"layer {l + 1}")
                if sd_key:
                    sd = np.asarray(stats[sd_key], dtype=np.float64)[:, l]
                    ax.fill_between(steps, arr[:, l] - sd, arr[:, l] + sd, color=f"C{l}", alpha=0.15, lw=0)
            if log and np.all(arr[np.isfinite(arr)] > 0):
                ax.set_yscale("log")
            ax.set_title(f"{r['name']} — {label}" if i == 0 else label, fontsize="medium")
            ax.grid(True, alpha=0.3)
            if i == len(rows) - 1:
                ax.set_xlabel("iteration")
            if i == 0 and j == 0:
                ax.legend(fontsize="small")
    return fig


def dead_units_figure(results):
    """Dead units of each hidden layer over training, one line per run."""
    n_hidden = max((np.asarray(r["history"].layers["dead_units"]).shape[1] - 1 for r in results
                    if np.size(r["history"].layers["dead_units"])), default=1)
    fig = _new_figure((5.0 * max(n_hidden, 1), 4.2))
    axes = fig.subplots(1, max(n_hidden, 1), squeeze=False)[0]
    for l, ax in enumerate(axes):
        for i, r in enumerate(results):
            dead = np.asarray(r["history"].layers["dead_units"])
            if dead.size:
                ax.plot(np.asarray(r["history"].record_steps) + 1, dead[:, l], color=f"C{i}", lw=1.5, label=r["name"])
        width = r["model"].layer_dims[l + 1]
        ax.set_title(f"hidden layer {l + 1} ({width} units): dead units")
        ax.set_xlabel("iteration")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return fig


def _dead_notes(ctx, results):
    for r in results:
        dead = np.asarray(r["history"].layers["dead_units"])
        if dead.size:
            dims = r["model"].layer_dims[1:-1]
            parts = ", ".join(f"layer {l + 1}: {int(dead[-1, l])}/{w}" for l, w in enumerate(dims))
            ctx.note(f"{r['name']}: dead units at the end — {parts}.")


# ---------------------------------------------------------------------------- C1 – C10
@experiment("C1", title="Learning rate",
            question="How does the learning rate change learning? Too small learns slowly; too large plateaus "
                     "or collapses to predicting one class.",
            varies="lr ∈ 1e-5 × {0.1, 0.5, 1, 2, 10} and a coarse grid {3e-5, 2e-5, 1e-5, 1e-3, 1e-1}",
            **BASE, lrs=[1e-6, 5e-6, 1e-5, 2e-5, 1e-4], coarse_lrs=[3e-5, 2e-5, 1e-5, 1e-3, 1e-1])
def c1_learning_rate(ctx):
    from .. import viz

    fine = [float(v) for v in ctx.params["lrs"]]
    coarse = [float(v) for v in ctx.params["coarse_lrs"]]
    lrs = sorted(set(fine) | set(coarse))
    name = lambda lr: f"lr={lr:g}"  # noqa: E731
    results = sweep(ctx, [(name(lr), _base_config(ctx, lr=lr)) for lr in lrs])
    by_name = {r["name"]: r for r in results}
    ctx.save_figure(viz.compare_curves({name(lr): by_name[name(lr)]["history"] for lr in fine},
                                       title="C1: lr = 1e-5 × {0.1, 0.5, 1, 2, 10}"), "loss_curves",
                    caption="loss and accuracy, lr = 1e-5 × {0.1, 0.5, 1, 2, 10}")
    ctx.save_figure(viz.compare_curves({name(lr): by_name[name(lr)]["history"] for lr in coarse},
                                       title="C1: coarse grid"), "loss_curves_coarse",
                    caption="loss and accuracy, coarse grid")
    ctx.save_figure(viz.accuracy_bars({name(lr): by_name[name(lr)]["metrics"]["train_accuracy"] for lr in lrs},
                                      title="C1: final training accuracy", chance=0.1), "final_train_accuracy",
                    caption="final training accuracy of every learning rate")
    ctx.save_figure(viz.accuracy_bars({name(lr): by_name[name(lr)]["metrics"]["test_accuracy"] for lr in lrs},
                                      title="C1: test accuracy", chance=0.1), "final_test_accuracy",
                    caption="test accuracy of every learning rate")
    base = float(ctx.params.get("lr", 1e-5))
    if base in lrs and min(lrs) < base:
        ctx.verdict(f"too small a rate learns slowly: lr {min(lrs):g} trails lr {base:g}",
                    None if _metric(results, name(min(lrs))) is None or _metric(results, name(base)) is None
                    else _metric(results, name(min(lrs))) < _metric(results, name(base)),
                    f"train accuracy {_pct(_metric(results, name(min(lrs))))} vs {_pct(_metric(results, name(base)))}")
    _collapses(ctx, results, name(max(lrs)), f"too large a rate (lr {max(lrs):g})")
    _findings(ctx, results)


@experiment("C2", title="Sigmoid steepness k",
            question="What does the steepness k of σ(kx) = 1/(1+e^(−kx)) do? The derivative carries the factor k: "
                     "large k saturates (stays at chance), small k collapses to one class.",
            varies="k ∈ {0.1, 0.5, 1, 2, 10} (hidden and output layers) at lr 1e-5",
            **BASE, ks=[0.1, 0.5, 1.0, 2.0, 10.0])
def c2_steepness(ctx):
    from .. import viz

    results = sweep(ctx, [(f"k={k:g}", _base_config(ctx, k=float(k))) for k in ctx.params["ks"]])
    _curves_and_bars(ctx, results, "C2: sigmoid steepness k")
    ctx.save_figure(viz.activation_shapes("sigmoid", ks=(1, 5)), "sigmoid_shapes",
                    caption="σ(kx) and its derivative for k = 1 and k = 5")
    ks = [float(k) for k in ctx.params["ks"]]
    big, small = f"k={max(ks):g}", f"k={min(ks):g}"
    v = _metric(results, big)
    ctx.verdict(f"large k ({max(ks):g}) saturates and stays near chance (train accuracy < 20%)",
                None if v is None else v < 0.2, f"train accuracy {_pct(v)}")
    _collapses(ctx, results, small, f"small k ({min(ks):g})")
    _findings(ctx, results)


C3_INITS = {
    "uniform[-1,1]": "uniform",
    "uniform[-0.5,0.5]": ["uniform", 0.5],
    "N(0,1)/3": ["normal", 1 / 3],
    "N(0,1)·√(1/fan_in)": "lecun",
    "He N(0,1)·√(2/fan_in)": "he",
    "Glorot": "xavier",
    "N(0,0.1)": ["normal", 0.1],
    "N(0,0.5)": ["normal", 0.5],
    "N(0,1)": ["normal", 1.0],
    "Poisson(1)/4": ["poisson", 1, 0.25],
}


@experiment("C3", title="Initialisation",
            question="How much does the initial weight distribution matter? (Reference: scaled normal and He "
                     "beat uniform by a wide margin.)",
            varies="init: U[-1,1], U[-0.5,0.5], N(0,1)/3, N(0,1)·√(1/fan_in), He, Glorot, N(0,σ) σ∈{0.1,0.5,1}, "
                   "Poisson(1)/4",
            **BASE, inits=C3_INITS)
def c3_initialisation(ctx):
    results = sweep(ctx, [(name, _base_config(ctx, init=init)) for name, init in ctx.params["inits"].items()])
    _curves_and_bars(ctx, results, "C3: initialisation")
    names = {v if isinstance(v, str) else tuple(v): k for k, v in ctx.params["inits"].items()}
    base = names.get("uniform")
    for init, label in (("he", "He"), ("lecun", "N(0,1)·√(1/fan_in)")):
        if base and init in names:
            _beats(ctx, results, names[init], base, 0.10, label, "U[−1, 1]",
                   course="; the course: scaled normal and He beat uniform by a wide margin")
    _findings(ctx, results)


@experiment("C4", title="Activations and gradients per layer",
            question="What happens inside each layer during training — mean and σ of activations, weights and "
                     "updates, and dead units — with a good and a bad initialisation?",
            varies="init: bad U[-1,1] vs good He N(0,1)·√(2/fan_in)",
            **BASE, inits={"bad: uniform[-1,1]": "uniform", "good: He": "he"})
def c4_layer_statistics(ctx):
    results = sweep(ctx, [(name, _base_config(ctx, init=init)) for name, init in ctx.params["inits"].items()],
                    extras="all")
    ctx.save_figure(layer_stats_figure(results), "layer_statistics",
                    caption="per-layer statistics over training (one column per initialisation)")
    _curves_and_bars(ctx, results, "C4: good vs bad initialisation")
    _dead_notes(ctx, results)
    ctx.note("A unit counts as dead when its activation, or its gradient, is ~0 (≤ 1e-6) for every training input.")
    if len(results) == 2:
        bad, good = results[0]["name"], results[1]["name"]
        _beats(ctx, results, good, bad, 0.0)
        dead = [r["metrics"].get("dead_units") for r in results]
        ctx.verdict(f"{good} leaves no more dead units than {bad}",
                    None if None in dead else dead[1] <= dead[0], f"dead hidden units {dead[1]} vs {dead[0]}")
    _findings(ctx, results)


@experiment("C5", title="tanh with steepness k",
            question="tanh(kx) instead of σ (derivative k·(1 − tanh²)): how do the initialisation and the "
                     "learning rate interact? (Reference: 84.5% vs 24.4% by init.)",
            varies="U[-1,1] at lr 1e-6 vs N(0,1)/√fan_in at lr 1e-5 (tanh hidden layers, sigmoid output, MSE)",
            **BASE, tanh_k=1.0,
            variants={"tanh, U[-1,1], lr 1e-6": {"init": "uniform", "lr": 1e-6},
                      "tanh, N(0,1)/√fan_in, lr 1e-5": {"init": "lecun", "lr": 1e-5}})
def c5_tanh(ctx):
    from .. import viz

    k = float(ctx.params["tanh_k"])
    variants = [(name, _base_config(ctx, activation="tanh", k=k, output_k=float(ctx.params["k"]), **change))
                for name, change in ctx.params["variants"].items()]
    results = sweep(ctx, variants)
    _curves_and_bars(ctx, results, "C5: tanh")
    ctx.save_figure(viz.activation_shapes("tanh", ks=(1, 5)), "tanh_shapes",
                    caption="tanh(kx) and its derivative for k = 1 and k = 5")
    ctx.note("The hidden layers use tanh(kx); the output stays a sigmoid so that the MSE targets (one-hot 0/1) "
             "are reachable and the outputs read as class scores.")
    names = list(ctx.params["variants"])
    if len(names) == 2:
        course = {"uniform": 0.244, "lecun": 0.845}
        for nm in names:
            init = ctx.params["variants"][nm].get("init")
            if init in course:
                ctx.reference(f"{nm}: train accuracy", _metric(results, nm), course[init], data_note(ctx))
        _beats(ctx, results, names[1], names[0], 0.30, course="; the course: 84.5% vs 24.4%, 60 points")
    _findings(ctx, results)


@experiment("C6", title="Cross-entropy vs MSE",
            question="Does the loss matter? (a) sigmoid outputs with binary cross-entropy (output delta L3 − T), "
                     "(b) softmax with categorical cross-entropy, against MSE. (Reference: sigmoid + CE 89.9% at 200 "
                     "iterations.)",
            varies="output/loss: sigmoid + MSE, sigmoid + BCE, softmax + CE",
            **BASE, variants={"sigmoid + MSE": {"output": "sigmoid", "loss": "mse"},
                              "sigmoid + BCE": {"output": "sigmoid", "loss": "bce"},
                              "softmax + CE": {"output": "softmax", "loss": "cross_entropy"}})
def c6_cross_entropy(ctx):
    results = sweep(ctx, [(name, _base_config(ctx, **change)) for name, change in ctx.params["variants"].items()])
    _curves_and_bars(ctx, results, "C6: loss functions")
    ctx.note("For sigmoid + BCE and softmax + CE the output delta is L3 − T (the canonical pairs); for MSE it is "
             "2(L3 − T)·σ'(z), which vanishes where the output saturates.")
    if _run(results, "sigmoid + BCE") is not None:
        ctx.reference("sigmoid + BCE: train accuracy after 200 iterations", _metric(results, "sigmoid + BCE"), 0.899,
                      data_note(ctx))
        if _run(results, "sigmoid + MSE") is not None:
            _beats(ctx, results, "sigmoid + BCE", "sigmoid + MSE", 0.0)
            if _run(results, "softmax + CE") is not None:
                _beats(ctx, results, "softmax + CE", "sigmoid + MSE", 0.0)
    _findings(ctx, results)


@experiment("C7", title="ReLU family",
            question="ReLU, ReLU6 and leaky ReLU (α = 0.01) with N(0,1)/√fan_in init: how do they learn, how many "
                     "units die, and what does cross-entropy add? (Reference: ReLU 95.3% at 200 iterations.)",
            varies="hidden activation relu / relu6 / leaky_relu (sigmoid output, MSE) and relu + softmax CE",
            **dict(BASE, init="lecun"),
            variants={"relu": {"activation": "relu"}, "relu6": {"activation": "relu6"},
                      "leaky_relu (α=0.01)": {"activation": "leaky_relu", "alpha": 0.01},
                      "relu + softmax CE": {"activation": "relu", "output": "softmax", "loss": "cross_entropy"}})
def c7_relu(ctx):
    results = sweep(ctx, [(name, _base_config(ctx, **change)) for name, change in ctx.params["variants"].items()])
    _curves_and_bars(ctx, results, "C7: ReLU family")
    ctx.save_figure(dead_units_figure(results), "dead_units", caption="dead units per hidden layer over training")
    _dead_notes(ctx, results)
    ctx.note("The hidden layers are ReLU-like; the first three keep the base setting's sigmoid output and MSE, "
             "'relu + softmax CE' uses a softmax output with cross-entropy.")
    relus = [r for r in results if r["config"]["activation"] == "relu"]
    if relus:
        best = relus[best_index(relus, "train_accuracy")]
        _reaches(ctx, results, best["name"], 0.953, f"ReLU ({best['name']})", tolerance=0.05)
    dead = {r["config"]["activation"]: r["metrics"].get("dead_units") for r in results
            if r["config"]["output"] == "sigmoid"}
    if dead.get("relu") is not None and dead.get("leaky_relu") is not None:
        ctx.verdict("leaky ReLU leaves no more dead units than ReLU", dead["leaky_relu"] <= dead["relu"],
                    f"dead hidden units: leaky_relu {dead['leaky_relu']}, relu {dead['relu']}")
    _findings(ctx, results)


@experiment("C8", title="Training dashboards",
            question="What does a training run look like from the inside? The overview, the 3×4 layers panel, the "
                     "confusion matrix, a t-SNE map of the last hidden layer and an animation of the layers panel.",
            varies="nothing: one run of the base setting with He initialisation, every dashboard",
            **dict(BASE, init="he"))
def c8_dashboards(ctx):
    results = sweep(ctx, [(f"sigmoid MSE, {ctx.params['init']} init", _base_config(ctx))], extras="all")
    ctx.note("Every run of section C has its overview and layers panel (see each experiment's run table); "
             "the best run of each experiment also has a confusion matrix, a t-SNE map and a GIF.")
    _findings(ctx, results)


@experiment("C9", title="Putting it together",
            question="How far does the best combination go? (Reference: sigmoid, k = 1, lr 2e-5, He init, "
                     "cross-entropy, 2000 iterations → 97.62% training accuracy; ReLU + N(0,1)/√fan_in → 95.3% "
                     "in 200 iterations.)",
            varies="two recipes: sigmoid + He + softmax CE at lr 2e-5 for 2000 iterations; ReLU + N(0,1)/√fan_in + "
                   "softmax CE for 200 iterations",
            **dict(BASE, iterations=2000), relu_iterations=200, relu_lr=1e-5)
def c9_best(ctx):
    p = ctx.params
    relu_its = min(int(p["relu_iterations"]), int(p["iterations"]))
    variants = [
        (f"sigmoid k=1, He, softmax CE, lr 2e-5, {p['iterations']} it",
         _base_config(ctx, activation="sigmoid", k=1.0, init="he", output="softmax", loss="cross_entropy", lr=2e-5,
                      iterations=int(p["iterations"]))),
        (f"relu, N(0,1)/√fan_in, softmax CE, {relu_its} it",
         _base_config(ctx, activation="relu", k=1.0, init="lecun", output="softmax", loss="cross_entropy",
                      lr=float(p["relu_lr"]), iterations=relu_its)),
    ]
    results = sweep(ctx, variants, extras="all")
    _curves_and_bars(ctx, results, "C9: the best recipes")
    _reaches(ctx, results, variants[0][0], 0.9762, f"sigmoid + He + CE, {p['iterations']} iterations")
    _reaches(ctx, results, variants[1][0], 0.953, f"ReLU + CE, {relu_its} iterations", tolerance=0.05)
    _findings(ctx, results)


@experiment("C10", title="Cosine learning rate with restarts",
            question="Does a cosine schedule lr_t = lr_min + ½(lr_max − lr_min)(1 + cos(π·t/(T/cycles))), with "
                     "restarts when cycles > 1, beat a constant rate?",
            varies="schedule: constant lr vs cosine (lr_max = lr) with 1 and with 3 cycles, and a constant rate with "
                   "the cosine's mean, (lr + lr_min)/2 (He init)",
            **dict(BASE, init="he", lr=2e-5), lr_min=0.0, cycles=[1, 3])
def c10_cosine(ctx):
    p = ctx.params
    lr, lr_min = float(p["lr"]), float(p["lr_min"])
    variants = [(f"constant lr={lr:g}", _base_config(ctx, schedule="constant"))]
    for c in p["cycles"]:
        variants.append((f"cosine, {c} cycle{'s' if c > 1 else ''}",
                         _base_config(ctx, schedule=["cosine", {"lr_min": lr_min, "cycles": int(c)}])))
    mean_lr = (lr + lr_min) / 2
    variants.append((f"constant lr={mean_lr:g} (the cosine's mean)", _base_config(ctx, lr=mean_lr, schedule="constant")))
    results = sweep(ctx, variants)
    _curves_and_bars(ctx, results, "C10: learning-rate schedules", metrics=("loss", "accuracy", "lr"))
    for r in results:
        ctx.note(f"{r['name']}: Σ lr_t over the run (rates as applied) = {float(np.sum(r['history'].lr)):.4g}, final train accuracy "
                 f"{_pct(r['metrics']['train_accuracy'])}.")
    mean_run, cos1 = variants[-1][0], variants[1][0] if len(variants) > 2 else None
    if cos1 is not None:
        a, b = _metric(results, cos1), _metric(results, mean_run)
        same = None if a is None or b is None else abs(a - b) <= 0.02
        ctx.verdict("the cosine schedule ends where a constant rate at its mean does (within 2 points)", same,
                    f"train accuracy {_pct(a)} ({cos1}) vs {_pct(b)} ({mean_run})")
        if same:
            ctx.note("While the steps are small, full-batch gradient descent follows the gradient flow and where it "
                     "ends depends mostly on Σ lr_t, not on how the rate is spread over the iterations: the cosine "
                     "runs end where the constant run at their mean rate does.")
        elif same is False:
            ctx.note("Here the steps are large enough that the path matters, not only Σ lr_t: the cosine runs spend "
                     "their first iterations near lr_max, and end elsewhere than the constant run at their mean rate "
                     "(compare the loss curves: a run that starts too fast can settle on a plateau).")
    _findings(ctx, results)
