"""Training curves: one run's loss and accuracy, several runs overlaid, final accuracies
as bars, and the shapes of the activation functions."""
from __future__ import annotations

import numpy as np

from ._common import DIVERGED_COLOR, finite_part, is_diverged, new_figure, wrap, x_axis

_TEXT_BOX = dict(boxstyle="round,pad=0.4", fc="#fff0f0", ec=DIVERGED_COLOR, lw=0.8)


def _percent_axis(ax, axis="y"):
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))


def _integer_x(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _no_data(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _series(history, metric):
    """(x, values, x label) of one recorded metric of a History."""
    values = list(getattr(history, metric, []) or [])
    if metric.startswith("val_"):
        x = np.asarray(history.val_epochs[:len(values)], dtype=np.float64)
        return x, values, x_axis(history, len(history.loss))[1]
    if metric in ("step_loss", "lr"):
        return np.arange(1, len(values) + 1), values, "optimiser step"
    x, label = x_axis(history, len(values))
    return x, values, label


def _draw_series(ax, x, values, color=None, label=None, diverged=False, **kwargs):
    """Plot the finite prefix of a curve; mark where a diverged run ended. Returns the line."""
    v, bad = finite_part(values)
    end = len(v) if bad is None else bad
    (line,) = ax.plot(x[:end], v[:end], color=color, label=label, **kwargs)
    if (diverged or bad is not None) and end > 0:
        ax.plot([x[end - 1]], [v[end - 1]], marker="X", ms=9, color=DIVERGED_COLOR, mec="white", mew=0.8,
                zorder=5, linestyle="none")
    return line


def _log_if_positive(ax, lines):
    data = [np.asarray(ln.get_ydata(), dtype=np.float64).ravel() for ln in lines]
    log_scale_if_positive(ax, np.concatenate(data) if data else np.zeros(0))


def log_scale_if_positive(ax, data, ignore_nonpositive=False):
    """Log y scale when every finite value is positive (or, with ``ignore_nonpositive``,
    when some are); plain-number tick labels when the data span less than two decades
    (where "2×10⁰"-style labels would be all there is)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    data = np.asarray(data, dtype=np.float64).ravel()
    data = data[np.isfinite(data)]
    if ignore_nonpositive:
        data = data[data > 0]
    if not data.size or np.any(data <= 0):
        return
    ax.set_yscale("log")
    if np.log10(data.max() / data.min()) < 2:
        plain = FuncFormatter(lambda v, _: f"{v:.3g}")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())


def plot_loss(ax, history, log=True, title="loss", show_message=True):
    """Loss per iteration/epoch (validation loss too when recorded) on ``ax``."""
    diverged = is_diverged(history)
    x, v, xlabel = _series(history, "loss")
    if not len(v):
        _no_data(ax, "no loss recorded")
        return ax
    lines = [_draw_series(ax, x, v, color="C0", label="train", diverged=diverged)]
    if history.val_loss:
        xv, vv, _ = _series(history, "val_loss")
        lines.append(_draw_series(ax, xv, vv, color="C1", label="validation", marker="o", ms=3))
        ax.legend(fontsize="small")
    if log:
        _log_if_positive(ax, lines)
    ax.set_xlabel(xlabel)
    _integer_x(ax)
    ax.set_ylabel("loss")
    finite = np.asarray(v, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    ax.set_title(f"{title}: {finite[-1]:.4g}" if title and finite.size else title)
    ax.grid(True, which="major", alpha=0.3)
    if diverged and show_message:
        ax.text(0.03, 0.04, wrap(history.message or "diverged", 42), transform=ax.transAxes, fontsize="x-small",
                va="bottom", ha="left", color=DIVERGED_COLOR, bbox=_TEXT_BOX)
    return ax


def plot_accuracy(ax, history, target=0.9, title="accuracy"):
    """Accuracy per iteration/epoch with a dotted line at ``target`` (90%)."""
    x, v, xlabel = _series(history, "accuracy")
    if not len(v):
        _no_data(ax, "no accuracy recorded")
        ax.set_title(title)
        return ax
    _draw_series(ax, x, v, color="C2", label="train", diverged=is_diverged(history))
    if history.val_accuracy:
        xv, vv, _ = _series(history, "val_accuracy")
        _draw_series(ax, xv, vv, color="C1", label="validation", marker="o", ms=3)
        ax.legend(fontsize="small", loc="lower right")
    if target is not None:
        ax.axhline(target, color="0.3", linestyle=":", lw=1.2)
        ax.text(0.01, target, f" {target:.0%}", transform=ax.get_yaxis_transform(), va="bottom", ha="left",
                fontsize="x-small", color="0.3")
    ax.set_ylim(0, 1.02)
    _percent_axis(ax)
    ax.set_xlabel(xlabel)
    _integer_x(ax)
    ax.set_ylabel("accuracy")
    last = np.asarray(v, dtype=np.float64)
    last = last[np.isfinite(last)]
    ax.set_title(f"{title}: {last[-1]:.1%}" if last.size else title)
    ax.grid(True, alpha=0.3)
    return ax


def compare_curves(histories, metrics=("loss", "accuracy"), title=None, log_loss=True):
    """Overlay several runs, one subplot per metric (side by side).

    ``histories`` maps a label to a :class:`~fastnn.history.History`. Any list attribute
    of History works as a metric ("loss", "accuracy", "val_loss", "val_accuracy",
    "step_loss", "lr"). Losses are on a log scale (``log_loss``); a diverged run's curve
    stops at its last finite value, marked with a red ✕, and its label says "diverged".
    """
    histories = dict(histories)
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("compare_curves needs at least one metric")
    n = len(histories)
    fig = new_figure(figsize=(5.2 * len(metrics), 4.3 + 0.22 * ((n + 3) // 4)))
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    colors = _run_colors(n)
    handles = {}
    for ax, metric in zip(axes, metrics):
        lines, xlabel = [], None
        for (label, h), color in zip(histories.items(), colors):
            x, v, xlabel = _series(h, metric)
            if not len(v):
                continue
            diverged = is_diverged(h)
            text = f"{label} (diverged)" if diverged else str(label)
            line = _draw_series(ax, x, v, color=color, label=text, diverged=diverged, lw=1.4)
            lines.append(line)
            handles.setdefault(text, line)
        if not lines:
            _no_data(ax, f"no {metric} recorded")
        elif "accuracy" in metric:
            ax.set_ylim(0, 1.02)
            _percent_axis(ax)
            ax.axhline(0.9, color="0.3", linestyle=":", lw=1)
        elif "loss" in metric and log_loss:
            _log_if_positive(ax, lines)
        ax.set_title(metric.replace("_", " "))
        if xlabel:
            ax.set_xlabel(xlabel)
            _integer_x(ax)
        ax.grid(True, alpha=0.3)
    if handles:
        fig.legend(list(handles.values()), list(handles.keys()), loc="outside lower center",
                   ncols=min(len(handles), 4), fontsize="small", frameon=False)
    if title:
        fig.suptitle(title)
    return fig


def _run_colors(n):
    from matplotlib import colormaps

    if n <= 10:
        return [f"C{i}" for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]


def accuracy_bars(results, title=None, chance=None):
    """Final accuracy of each run as a bar (``results``: label → accuracy in [0, 1], or a
    History). NaN/None, or a diverged History, is drawn as a hatched "diverged" bar.
    If any value exceeds 1 the values are read as percentages. ``chance`` draws a
    dotted line (e.g. 0.1 for ten classes)."""
    labels, values, diverged = [], [], []
    for label, v in dict(results).items():
        div = False
        if hasattr(v, "final_accuracy"):
            div = is_diverged(v)
            v = v.final_accuracy
        v = np.nan if v is None else float(v)
        labels.append(str(label))
        values.append(v)
        diverged.append(div or not np.isfinite(v))
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size and finite.max() > 1.0:
        values = values / 100.0
    n = len(labels)
    width = max(4.5, 0.75 * n + 2.0)
    # about 11 characters of tick label fit in an inch; the bars share ~80% of the width
    rotate = n > 6 or max((len(str(s)) for s in labels), default=0) > 11 * 0.8 * width / max(n, 1)
    fig = new_figure(figsize=(width, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    xs = np.arange(n)
    stub = 0.04
    for i in range(n):
        v = values[i]
        if not np.isfinite(v):
            ax.bar(xs[i], stub, color="#fde0e0", edgecolor=DIVERGED_COLOR, hatch="///", lw=1)
            ax.text(xs[i], stub + 0.01, "diverged", ha="center", va="bottom", rotation=90, fontsize="small",
                    color=DIVERGED_COLOR)
            continue
        color = "#f4a3a3" if diverged[i] else "C0"
        ax.bar(xs[i], v, color=color, edgecolor="0.2", lw=0.6)
        ax.text(xs[i], v + 0.01, f"{v:.1%}" + ("\n(diverged)" if diverged[i] else ""), ha="center",
                va="bottom", fontsize="small")
    if chance is not None:
        ax.axhline(chance, color="0.3", linestyle=":", lw=1.2, label=f"chance {chance:.0%}")
        ax.legend(fontsize="small", loc="upper right")
    ax.set_xticks(xs, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.set_xlim(-0.6, n - 0.4)
    ax.set_ylim(0, 1.12)
    _percent_axis(ax)
    ax.set_ylabel("final accuracy")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(title or "final accuracy")
    return fig


_SYMBOL = {"sigmoid": "σ", "tanh": "tanh", "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu",
           "linear": "id"}


def activation_shapes(kind="sigmoid", ks=(1, 5), x_range=(-6, 6)):
    """f(kx) and its derivative d/dx f(kx) = k·f'(kx) for each steepness k (any hidden
    activation of :mod:`fastnn.activations`; k only matters for sigmoid and tanh)."""
    from .. import activations as act_mod

    if np.isscalar(ks):
        ks = (ks,)
    x = np.linspace(float(x_range[0]), float(x_range[1]), 601)
    fig = new_figure(figsize=(10, 4))
    ax_f, ax_d = fig.subplots(1, 2)
    name = act_mod.resolve(kind).name
    sym = _SYMBOL.get(name, name)
    for i, k in enumerate(ks):
        a = act_mod.resolve(kind, float(k))
        y = act_mod.forward(x, a.code, a.k, a.alpha)  # f(kx): the registry applies k
        d = act_mod.derivative(y, a.code, a.k, a.alpha)
        ax_f.plot(x, y, color=f"C{i}", label=f"k = {k:g}")
        ax_d.plot(x, d, color=f"C{i}", label=f"k = {k:g}")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.grid(True, alpha=0.3)
        ax.set_xlabel("x")
        ax.legend(fontsize="small")
    ax_f.set_title(f"{sym}(kx)")
    ax_d.set_title(f"d/dx {sym}(kx)")
    return fig
