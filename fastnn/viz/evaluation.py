"""What the trained model does with the data: its confusion matrix and a t-SNE map of its
last hidden layer (EXPERIMENTS.md C8/C9)."""
from __future__ import annotations

import numpy as np

from ._common import check_classifier, class_colors, class_label, labels_of, n_classes, new_figure


def confusion_matrix(model, X, y, class_names=None, normalize="pred"):
    """The confusion matrix of ``model`` on (X, y), drawn with scikit-learn's
    ConfusionMatrixDisplay. ``normalize="pred"`` (default) normalises the columns: each
    predicted class sums to 1 (``"true"`` rows, ``"all"``, or None for counts). The
    overall accuracy is in the title."""
    from sklearn.metrics import ConfusionMatrixDisplay

    check_classifier(model, "confusion_matrix")
    y = labels_of(y)
    pred = np.asarray(model.predict(X)).ravel().astype(np.int64)
    k = n_classes(model, y)
    labels = np.arange(k)
    names = [class_label(class_names, c) for c in labels]
    size = max(4.5, 0.55 * k + 2.2)
    fig = new_figure(figsize=(size + 0.9, size))
    ax = fig.add_subplot(1, 1, 1)
    fmt = "d" if normalize is None else (".2f" if k <= 12 else ".1f")
    ConfusionMatrixDisplay.from_predictions(y, pred, labels=labels, display_labels=names, normalize=normalize,
                                            ax=ax, cmap="Blues", colorbar=True, values_format=fmt,
                                            text_kw={"fontsize": 8 if k > 10 else 9})
    acc = float(np.mean(pred == y)) if len(y) else float("nan")
    what = {"pred": "columns normalised", "true": "rows normalised", "all": "normalised over all",
            None: "counts"}.get(normalize, str(normalize))
    head = model.describe() if hasattr(model, "describe") else ""
    ax.set_title(f"{head}\naccuracy {acc:.2%} on {len(y)} samples ({what})", fontsize="medium")
    return fig


def _stratified_sample(y, n, seed):
    """Indices of n samples drawn without replacement, class proportions kept (seeded)."""
    m = len(y)
    if n >= m:
        return np.arange(m)
    from sklearn.model_selection import train_test_split

    try:
        idx, _ = train_test_split(np.arange(m), train_size=n, stratify=y, random_state=seed)
    except ValueError:  # a class too rare to stratify: plain random sample
        idx = np.random.default_rng(seed).choice(m, n, replace=False)
    return np.sort(idx)


def tsne(model, X, y, n_samples=500, seed=0, perplexity=30, class_names=None):
    """t-SNE (scikit-learn) of the LAST HIDDEN layer's activations for ``n_samples``
    stratified, seeded samples: one colour per class and each class's label written at
    its cluster's median."""
    from sklearn.manifold import TSNE

    if len(model.layer_dims) < 3:
        raise ValueError(f"tsne maps the last hidden layer, and {model.describe()} has no hidden layer")
    y = labels_of(y)
    X = np.asarray(X)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    idx = _stratified_sample(y, int(n_samples), seed)
    if len(idx) < 5:
        raise ValueError(f"tsne needs at least 5 samples, got {len(idx)}")
    H = np.asarray(model.forward(X[idx], return_all=True)[-2], dtype=np.float64)
    if not np.isfinite(H).all():
        raise ValueError("the last hidden layer's activations contain NaN/inf (did training diverge?)")
    labels = y[idx]
    perp = float(min(perplexity, max(1.0, (len(idx) - 1) / 3.0)))
    emb = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed).fit_transform(H)

    fig = new_figure(figsize=(7.2, 6.4))
    ax = fig.add_subplot(1, 1, 1)
    classes = np.unique(labels)
    colors = class_colors(int(classes.max()) + 1)
    for c in classes:
        sel = labels == c
        ax.scatter(emb[sel, 0], emb[sel, 1], s=12, color=colors[int(c)], alpha=0.75, lw=0,
                   label=class_label(class_names, int(c)))
    from matplotlib import patheffects

    for c in classes:
        mx, my = np.median(emb[labels == c], axis=0)
        ax.text(mx, my, class_label(class_names, int(c)), ha="center", va="center", fontsize=15, fontweight="bold",
                color=colors[int(c)], path_effects=[patheffects.withStroke(linewidth=3.5, foreground="white")])
    ax.set_xticks([])
    ax.set_yticks([])
    width = model.layer_dims[-2]
    head = model.describe() if hasattr(model, "describe") else ""
    ax.set_title(f"t-SNE of hidden layer {len(model.layer_dims) - 2} ({width} units), {len(idx)} samples\n{head}",
                 fontsize="medium")
    return fig
