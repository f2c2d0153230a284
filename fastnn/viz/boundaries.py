"""Decision boundaries on 2-D toy data (EXPERIMENTS.md D): the predicted class as a filled
contour over a fine grid spanning the data, the data points on top."""
from __future__ import annotations

import numpy as np

from ._common import check_classifier, class_colors, labels_of, n_classes, new_figure


def _grid(X, resolution, padding):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision boundaries are drawn for 2-D inputs; X has shape {X.shape}")
    if int(resolution) < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    lo, hi = X.min(axis=0) - padding, X.max(axis=0) + padding
    gx = np.linspace(lo[0], hi[0], int(resolution))
    gy = np.linspace(lo[1], hi[1], int(resolution))
    xx, yy = np.meshgrid(gx, gy)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def _draw(ax, model, X, y, grid, title, k):
    from matplotlib.colors import ListedColormap

    check_classifier(model, "decision_boundary")
    xx, yy, pts = grid
    zz = np.asarray(model.predict(pts)).reshape(xx.shape)
    colors = class_colors(k)
    ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colors), alpha=0.3,
                antialiased=True)
    if k > 1:
        ax.contour(xx, yy, zz, levels=np.arange(k - 1) + 0.5, colors="0.25", linewidths=0.8)
    X = np.asarray(X, dtype=np.float64)
    point_colors = [colors[int(c)] for c in y]
    ax.scatter(X[:, 0], X[:, 1], c=point_colors, s=14, edgecolor="0.15", linewidth=0.4, zorder=3)
    acc = float(np.mean(np.asarray(model.predict(X)).ravel() == y))
    ax.text(0.98, 0.03, f"acc {acc:.1%}", transform=ax.transAxes, ha="right", va="bottom", fontsize="small",
            bbox=dict(boxstyle="round,pad=0.25", fc="white", ec="0.7", alpha=0.85), zorder=4)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title if title is not None else model.describe(), fontsize="medium")
    return acc


def decision_boundary(model, X, y, ax=None, title=None, resolution=200, padding=0.5):
    """Filled contour of the predicted class over a ``resolution``² grid spanning the data
    (± ``padding``), with the points on top and the accuracy in a corner. Draws into
    ``ax`` when given; returns the Figure."""
    y = labels_of(y)
    k = n_classes(model, y)
    if ax is None:
        fig = new_figure(figsize=(5, 4.4))
        ax = fig.add_subplot(1, 1, 1)
    _draw(ax, model, X, y, _grid(X, resolution, padding), title, k)
    return ax.figure


def decision_boundary_grid(panels, X, y, ncols=3, suptitle=None, resolution=200, padding=0.5):
    """One decision-boundary subplot per ``(model, title)`` in ``panels``, ``ncols`` per row,
    all over the same grid."""
    panels = list(panels)
    if not panels:
        raise ValueError("decision_boundary_grid needs at least one (model, title) panel")
    y = labels_of(y)
    grid = _grid(X, resolution, padding)
    ncols = max(1, min(int(ncols), len(panels)))
    nrows = -(-len(panels) // ncols)
    fig = new_figure(figsize=(4.2 * ncols, 3.9 * nrows + (0.4 if suptitle else 0)))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.axis("off")
    for ax, (model, title) in zip(axes, panels):
        _draw(ax, model, X, y, grid, title, n_classes(model, y))
    if suptitle:
        fig.suptitle(suptitle)
    return fig
