"""The "overview" dashboard (EXPERIMENTS.md C8) — one training sample with the model's
prediction, the loss curve and the accuracy curve — and a grid of input images."""
from __future__ import annotations

import numpy as np

from ._common import (DIVERGED_COLOR, class_colors, class_label, image_shape, is_diverged, labels_of, most_square,
                      new_figure, wrap)
from .curves import plot_accuracy, plot_loss

_GOOD, _BAD = "#1a7f37", DIVERGED_COLOR


def _prediction(model, x):
    """(predicted class, its probability) of one sample, or (value, None) for regression."""
    if getattr(model, "task", "multiclass") == "regression":
        out = np.asarray(model.predict(x[None, :])).ravel()
        return (float(out[0]) if out.size == 1 else out), None
    p = np.asarray(model.predict_proba(x[None, :]), dtype=np.float64)[0]
    if not np.isfinite(p).all():
        return int(np.asarray(model.predict(x[None, :])).ravel()[0]), float("nan")
    c = int(np.argmax(p))
    return c, float(p[c])


def _sample_title(model, x, label, class_names):
    pred, conf = _prediction(model, x)
    if conf is None:  # regression
        text = f"prediction {np.round(pred, 3)}"
        return text + ("" if label is None else f"\ntarget {label}"), "black"
    text = f"predicted {class_label(class_names, pred)} ({conf:.1%})"
    if label is None:
        return text, "black"
    ok = int(label) == pred
    return f"{text}\ntrue {class_label(class_names, int(label))}", (_GOOD if ok else _BAD)


def _draw_points(ax, X, y, index, class_names, max_points=2000, seed=0):
    """Non-image inputs: the data as a scatter (2 features directly, more through PCA,
    1 feature against its label), the chosen sample as a star."""
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(seed)
    keep = np.arange(len(X)) if len(X) <= max_points else np.sort(rng.choice(len(X), max_points, replace=False))
    if X.shape[1] == 2:
        P, xlabel, ylabel = X, "x₁", "x₂"
    elif X.shape[1] == 1:
        jitter = rng.uniform(-0.25, 0.25, len(X))
        P = np.column_stack([X[:, 0], (y if y is not None else np.zeros(len(X))) + jitter])
        xlabel, ylabel = "x", "label"
    else:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(X[keep])
        P = pca.transform(X)
        xlabel, ylabel = "PC 1", "PC 2"
    if y is not None:
        classes = np.unique(y)
        colors = class_colors(int(classes.max()) + 1)
        for c in classes:
            sel = keep[y[keep] == c]
            ax.scatter(P[sel, 0], P[sel, 1], s=8, color=colors[int(c)], alpha=0.5, lw=0,
                       label=class_label(class_names, int(c)))
        if len(classes) <= 10:
            ax.legend(fontsize="x-small", markerscale=1.5, loc="best")
    else:
        ax.scatter(P[keep, 0], P[keep, 1], s=8, color="0.5", alpha=0.5, lw=0)
    ax.scatter(P[index, 0], P[index, 1], marker="*", s=260, color="gold", edgecolor="black", lw=1, zorder=5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def overview(model, history, X, y=None, sample_index=None, seed=0, class_names=None):
    """One figure: a training sample (drawn as its most-square image, e.g. 28×28, or as a
    point of the data for non-image inputs) titled with the predicted class, its
    confidence and the true label; the loss curve (log scale); the accuracy curve with a
    dotted line at 90%. Copes with histories without accuracy and with diverged runs
    (the finite part is drawn and the History's message shown)."""
    X = np.asarray(X)
    if X.ndim != 2 or not len(X):
        raise ValueError(f"X must be a non-empty 2-D array (n_samples, n_features), got shape {X.shape}")
    y = labels_of(y)
    if sample_index is None:
        sample_index = int(np.random.default_rng(seed).integers(len(X)))
    if not -len(X) <= sample_index < len(X):
        raise IndexError(f"sample_index {sample_index} out of range for {len(X)} samples")
    sample_index %= len(X)
    x = X[sample_index]
    label = None if y is None else y[sample_index]

    shape = image_shape(X.shape[1])
    fig = new_figure(figsize=(13.5, 4.4))
    ax_img, ax_loss, ax_acc = fig.subplots(1, 3, width_ratios=[0.8 if shape else 1.0, 1, 1])
    title, color = _sample_title(model, x, label, class_names)
    if shape:
        ax_img.imshow(np.asarray(x, dtype=np.float64).reshape(shape), cmap="gray_r", interpolation="nearest")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_xlabel(f"sample {sample_index} ({shape[0]}×{shape[1]})", fontsize="small")
    else:
        _draw_points(ax_img, X, y, sample_index, class_names, seed=seed)
    ax_img.set_title(title, color=color)

    if history is not None:
        plot_loss(ax_loss, history, show_message=False)  # the message goes under the figure title
        plot_accuracy(ax_acc, history)
    else:
        for ax, what in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.text(0.5, 0.5, "no History given", ha="center", va="center", transform=ax.transAxes, color="0.4")
            ax.set_title(what)
            ax.set_xticks([])
            ax.set_yticks([])
    head = model.describe() if hasattr(model, "describe") else type(model).__name__
    if history is not None and is_diverged(history):
        fig.suptitle(f"{head} — diverged\n{wrap(history.message or '', 150)}".rstrip(), color=DIVERGED_COLOR)
    else:
        fig.suptitle(head)
    return fig


def sample_grid(X, y=None, n=25, seed=0, class_names=None):
    """A grid of ``n`` randomly chosen (seeded) input images, titled with their labels."""
    X = np.asarray(X)
    shape = image_shape(X.shape[1]) if X.ndim == 2 else None
    if shape is None:
        raise ValueError(f"sample_grid draws image inputs; {X.shape[1] if X.ndim == 2 else X.shape} features do "
                         "not form a (near-square) image")
    y = labels_of(y)
    n = min(int(n), len(X))
    idx = np.sort(np.random.default_rng(seed).choice(len(X), n, replace=False))
    rows, cols = most_square(n)
    if rows > 2 * cols:  # e.g. a prime n: use a near-square grid with empty cells
        cols = int(np.ceil(np.sqrt(n)))
        rows = -(-n // cols)
    fig = new_figure(figsize=(1.3 * cols + 0.3, 1.45 * rows + 0.3))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, idx):
        ax.imshow(np.asarray(X[i], dtype=np.float64).reshape(shape), cmap="gray_r", interpolation="nearest")
        if y is not None:
            ax.set_title(class_label(class_names, int(y[i])), fontsize="small")
    return fig
