"""Figures of a convolutional :class:`fastnn.Sequential` (EXPERIMENTS.md E3):

    cnn_filters(model)              the first conv layer's filters as images (one per output channel)
    cnn_feature_maps(model, x)      one sample's maps after every conv and pooling layer
    cnn_layer_stats(history)        per-layer statistics over training: mean ± σ bands (and min/max)
                                    of weights, biases, pre-activations, activations, pooled outputs
"""
from __future__ import annotations

import numpy as np

from ._common import most_square, new_figure

_QUANTITIES = ("weights", "biases", "preact", "act", "pooled")
_NAMES = {"weights": "weights", "biases": "biases", "preact": "pre-activations z", "act": "activations f(z)",
          "pooled": "pooled outputs"}


def _first_conv(model):
    for layer, P in zip(model.layers, model.layer_params):
        if layer.kind == "conv":
            return layer, P
    raise ValueError("the model has no Conv2D layer")


def cnn_filters(model, title=None):
    """The first Conv2D layer's filters (out_ch × in_ch kernels), each scaled symmetrically
    around 0 (red positive, blue negative); its bias in the title of each."""
    layer, P = _first_conv(model)
    W, b = P["W"], P["b"]
    F, C = W.shape[:2]
    rows, cols = most_square(F)
    rows, cols = min(rows, cols), max(rows, cols)
    fig = new_figure(figsize=(1.6 * cols * C + 0.6, 1.8 * rows + 0.6))
    axes = fig.subplots(rows, cols * C, squeeze=False)
    m = float(np.abs(W).max()) or 1.0
    for f in range(F):
        for c in range(C):
            ax = axes[f // cols, (f % cols) * C + c]
            im = ax.imshow(W[f, c], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
            ax.set_title(f"{f}" + (f".{c}" if C > 1 else "") + f"  b={b[f]:+.2f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(title or f"{layer.name}: {layer.describe()} — {F} filters")
    return fig


def cnn_feature_maps(model, x, max_channels=10, title=None):
    """One sample x (C, H, W or flat): the input, then each conv / pooling layer's maps (one row
    per layer, up to ``max_channels`` channels)."""
    maps = [(name, A) for (name, A), layer in zip(model.feature_maps(x), model.layers)
            if layer.kind in ("conv", "pool", "activation") and A.ndim == 3]
    x_img = model._one_sample(x)[0]
    ncols = max(min(max_channels, max(A.shape[0] for _, A in maps)), x_img.shape[0]) if maps else x_img.shape[0]
    fig = new_figure(figsize=(1.4 * ncols + 1.2, 1.5 * (len(maps) + 1) + 0.5))
    axes = fig.subplots(len(maps) + 1, ncols, squeeze=False)
    rows = [("input", x_img)] + maps
    for r, (name, A) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= A.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(A[c], cmap="gray" if r == 0 else "viridis", interpolation="nearest")
            if c == 0:
                ax.set_ylabel(f"{name}\n{A.shape[1]}×{A.shape[2]}", fontsize=8)
            if r == 1 or (r == 0 and c == 0):
                ax.set_title(f"ch {c}", fontsize=8)
    fig.suptitle(title or "feature maps of one sample after each convolution and pooling layer")
    return fig


def cnn_layer_stats(history, quantities=_QUANTITIES, title=None):
    """Mean ± σ (band) and min/max (dotted) of each layer's tensors over training, one panel
    per quantity, one colour per layer. Needs a History trained with record="layers"."""
    from ..layer_stats import series

    s = series(history)
    if not s:
        raise ValueError("this History has no per-layer statistics; train with record='layers'")
    present = [q for q in quantities if any(tag.endswith("/" + q) for tag in s)]
    fig = new_figure(figsize=(5.2 * min(3, len(present)), 3.6 * -(-len(present) // 3) + 0.4))
    axes = fig.subplots(-(-len(present) // 3), min(3, len(present)), squeeze=False).ravel()
    layers = list(dict.fromkeys(tag.split("/")[0] for tag in s))
    colors = {name: f"C{i}" for i, name in enumerate(layers)}
    for ax, q in zip(axes, present):
        for tag, d in s.items():
            name, quantity = tag.split("/", 1)
            if quantity != q:
                continue
            x, mean, sd = d["steps"] + 1, d["mean"], d["std"]
            col = colors[name]
            ax.fill_between(x, mean - sd, mean + sd, color=col, alpha=0.2)
            ax.plot(x, mean, color=col, lw=1.6, label=name)
            ax.plot(x, d["min"], color=col, lw=0.7, ls=":")
            ax.plot(x, d["max"], color=col, lw=0.7, ls=":")
        ax.set_title(f"{_NAMES.get(q, q)}: mean ± σ (min, max dotted)", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[len(present):]:
        ax.axis("off")
    fig.suptitle(title or "per-layer statistics over training")
    return fig
