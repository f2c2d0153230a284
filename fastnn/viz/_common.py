"""Shared pieces of the dashboards: figures without pyplot, atomic saving, unit shapes,
curve helpers and the blank-image check used by the tests."""
from __future__ import annotations

import math
import os

from .._atomic import atomic_path
import sys
import textwrap

import numpy as np

DIVERGED_COLOR = "#d62728"


def new_figure(figsize=(6.4, 4.8), layout="constrained", **kwargs):
    """A ``matplotlib.figure.Figure`` with an Agg canvas: no pyplot, no global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout, **kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path, dpi=100, close=True, **savefig_kwargs):
    """Write ``fig`` to ``path`` atomically (a temporary file in the same folder, then
    ``os.replace``), so a reader never sees a half-written image; then close it.

    The format follows the suffix (PNG when there is none). Returns ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1].lower()
    fmt = suffix[1:] if suffix else "png"
    with atomic_path(path, suffix=suffix or ".png") as tmp:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, dpi=dpi, format=fmt, **savefig_kwargs)
    return path


def close_figure(fig):
    """Release a figure: unregister it from pyplot if pyplot manages it."""
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)


def most_square(n) -> tuple:
    """The factorisation ``rows × cols = n`` with rows ≥ cols and cols as large as possible.

    >>> most_square(784), most_square(256), most_square(128), most_square(10), most_square(7)
    ((28, 28), (16, 16), (16, 8), (5, 2), (7, 1))
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"most_square needs a positive integer, got {n}")
    cols = math.isqrt(n)
    while n % cols:
        cols -= 1
    return n // cols, cols


def unit_grid(n, column=False):
    """(rows, cols, pad) used to draw a vector of n values as an image.

    ``column=True`` (an output layer, whose units are classes) draws an n × 1 column.
    Otherwise the most square factorisation; when that is degenerate (a prime n > 16
    would become a thin n × 1 strip) the vector is instead laid out row by row in a
    near-square grid and the ``pad`` trailing cells stay empty.
    """
    if column:
        return n, 1, 0
    rows, cols = most_square(n)
    if n > 16 and rows > 4 * cols:
        cols = math.isqrt(n)
        rows = -(-n // cols)
        return rows, cols, rows * cols - n
    return rows, cols, 0


def as_grid(values, grid):
    """Lay ``values`` out as a (rows, cols) image, NaN in padding cells."""
    rows, cols, pad = grid
    v = np.asarray(values, dtype=np.float64).ravel()
    if pad:
        v = np.concatenate([v, np.full(pad, np.nan)])
    return v.reshape(rows, cols)


def image_aspect(rows, cols, max_ratio=4.0):
    """imshow ``aspect`` that keeps square pixels unless the image would be more than
    ``max_ratio`` times taller than wide (then the pixels are widened)."""
    return min(1.0, max_ratio * cols / rows)


def image_shape(n_features):
    """(rows, cols) if a feature vector of this length looks like a (near-square) image, else None."""
    if n_features < 16:
        return None
    rows, cols = most_square(n_features)
    return (rows, cols) if rows <= 2 * cols else None


def x_axis(history, n):
    """x values (1-based) and axis label for a per-iteration (full batch) or per-epoch curve."""
    return np.arange(1, n + 1), ("iteration" if is_full_batch(history, n) else "epoch")


def is_full_batch(history, n=None):
    """True when the curves have one entry per optimiser step (full-batch training)."""
    n = len(history.loss) if n is None else n
    return n > 0 and n == getattr(history, "steps", -1)


def step_to_x(history, step):
    """Position of optimiser step ``step`` (0-based, as in ``record_steps``) on the x axis
    of the loss/accuracy curves (iterations, or fractional epochs)."""
    n, steps = len(history.loss), getattr(history, "steps", 0)
    if not steps or is_full_batch(history, n):
        return step + 1
    return (step + 1) * n / steps


def finite_part(values):
    """(values as floats, index of the first non-finite entry or None)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(v))
    return v, (int(bad[0]) if bad.size else None)


def is_diverged(history):
    if history is None:
        return False
    if getattr(history, "stopped", None) == "diverged":
        return True
    return bool(np.any(~np.isfinite(np.asarray(history.loss, dtype=np.float64))))


def wrap(text, width=70):
    return "\n".join(textwrap.wrap(str(text), width)) if text else ""


def class_label(class_names, c):
    if class_names is None:
        return str(c)
    try:
        return str(class_names[c])
    except (IndexError, KeyError, TypeError):
        return str(c)


def class_colors(n):
    """n distinct colours: tab10 for up to 10 classes, tab20 then a continuous map beyond."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["turbo"](i / max(n - 1, 1)) for i in range(n)]


def n_classes(model, y=None):
    """Number of classes the model distinguishes (2 for one sigmoid unit)."""
    n_out = int(model.layer_dims[-1])
    k = 2 if n_out == 1 else n_out
    if y is not None and len(y):
        k = max(k, int(np.max(y)) + 1)
    return k


def labels_of(y):
    """Integer labels from labels or one-hot targets (None stays None)."""
    if y is None:
        return None
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return np.argmax(y, axis=1)
    return y.ravel().astype(np.int64)


def check_classifier(model, what):
    if getattr(model, "task", "multiclass") == "regression":
        raise TypeError(f"{what} needs a classifier; this model has a regression output ({model.describe()})")


def figure_pixels(fig_or_path):
    """RGB pixels (H, W, 3) uint8 of a Figure (rendered with Agg), a PNG/GIF path, a PIL
    image or an array."""
    from matplotlib.figure import Figure

    if isinstance(fig_or_path, Figure):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = fig_or_path.canvas
        if not isinstance(canvas, FigureCanvasAgg):
            canvas = FigureCanvasAgg(fig_or_path)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()
    if isinstance(fig_or_path, np.ndarray):
        a = fig_or_path
        return a[..., :3] if a.ndim == 3 else a
    from PIL import Image

    if isinstance(fig_or_path, Image.Image):
        return np.asarray(fig_or_path.convert("RGB"))
    with Image.open(os.fspath(fig_or_path)) as im:
        return np.asarray(im.convert("RGB"))


def image_is_blank(fig_or_path, threshold=1.0) -> bool:
    """True when the image has (almost) nothing drawn: grey-level variance below
    ``threshold`` (on a 0–255 scale). Accepts a Figure, a file path, a PIL image or
    an array (e.g. a crop of :func:`figure_pixels`)."""
    px = np.asarray(figure_pixels(fig_or_path), dtype=np.float64)
    grey = px.mean(axis=-1) if px.ndim == 3 else px
    return bool(grey.size == 0 or grey.var() < threshold)


def axes_pixels(fig, ax, pixels=None):
    """The pixels of one axes of a drawn figure (for per-panel blank checks)."""
    if pixels is None:
        pixels = figure_pixels(fig)
    h = pixels.shape[0]
    bb = ax.get_window_extent()
    x0, x1 = int(max(bb.x0, 0)), int(min(bb.x1, pixels.shape[1]))
    y0, y1 = int(max(h - bb.y1, 0)), int(min(h - bb.y0, h))
    return pixels[y0:y1, x0:x1]
