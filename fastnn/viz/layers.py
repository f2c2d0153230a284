"""The "layers" dashboard (EXPERIMENTS.md C8): what every layer's units, weights and
updates look like at one recorded step, and a GIF of it over training.

Layout, for a network with L layers (3 rows × (L + 1) columns):

    row 1  mean activation of each unit of layer 1..L as an image  | activation histograms
    row 2  W_l averaged over its output units (one pixel per input)  | accuracy curve
    row 3  ΔW_l averaged the same way, titled with the magnitude     | update magnitude per layer (log)

A vector of n values is drawn as the most square rows × cols image of n (784 → 28×28,
256 → 16×16, 128 → 16×8); the output layer, whose units are the classes, as an n × 1
column.
"""
from __future__ import annotations

import os

import numpy as np

from .._atomic import atomic_path
from ._common import (DIVERGED_COLOR, as_grid, class_colors, close_figure, image_aspect, is_diverged,
                      new_figure, step_to_x, unit_grid, x_axis)
from .curves import _integer_x, _percent_axis, log_scale_if_positive

_NO_SNAPSHOTS = ("this History has no layer snapshots; train with record='layers' "
                 "(e.g. model.fit(X, y, ..., record='layers', record_every=10))")


def _cmap(name):
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad="0.88")


def _limits(img, symmetric):
    finite = img[np.isfinite(img)]
    if not finite.size:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    if symmetric:
        m = float(np.abs(finite).max())
        m = m if m > 0 else 1e-12
        return -m, m
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = max(1e-6, 1e-3 * abs(hi))
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _fmt(v):
    return "nan" if v is None or not np.isfinite(v) else f"{v:.3g}"


class LayersPanel:
    """The layers panel as a reusable figure: build once, then ``update(index)`` to show
    another snapshot (only image data, titles and line data change — fast for GIFs)."""

    def __init__(self, model, history, figsize=None, dpi=None, stable_axes=None):
        from matplotlib.ticker import MaxNLocator

        snaps = getattr(history, "snapshots", None)
        if not snaps:
            raise ValueError(_NO_SNAPSHOTS)
        self.model, self.history, self.snaps = model, history, snaps
        self.stats = history.layers
        self.L = L = len(snaps[0]["act_unit_mean"])
        ncols = L + 1
        self.fig = fig = new_figure(figsize=figsize or (3.1 * ncols + 0.4, 9.6), dpi=dpi)
        self.axes = axes = fig.subplots(3, ncols, squeeze=False)
        self.colorbars = []
        self._background = None
        widths = [len(v) for v in snaps[0]["act_unit_mean"]]
        fan_ins = [len(v) for v in snaps[0]["weight_unit_mean"]]
        self.grids = {}
        for l in range(L):
            self.grids[0, l] = unit_grid(widths[l], column=(l == L - 1))
            self.grids[1, l] = self.grids[2, l] = unit_grid(fan_ins[l])
        row_images = []
        for row, cmap in ((0, "viridis"), (1, "RdBu_r"), (2, "RdBu_r")):
            ims = []
            for l in range(L):
                ax = axes[row, l]
                rows, cols, _ = self.grids[row, l]
                im = ax.imshow(np.zeros((rows, cols)), cmap=_cmap(cmap), interpolation="nearest",
                               aspect=image_aspect(rows, cols))
                ax.set_xticks([])
                if row == 0 and l == L - 1 and rows <= 30:
                    ax.set_yticks(range(rows), [str(i) for i in range(rows)], fontsize=6)
                    ax.tick_params(axis="y", length=0, pad=1)
                else:
                    ax.set_yticks([])
                cb = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02, aspect=25)
                cb.ax.tick_params(labelsize=6)
                cb.locator = MaxNLocator(5)
                cb.formatter.set_powerlimits((-2, 3))
                cb.ax.yaxis.get_offset_text().set_fontsize(6)
                self.colorbars.append(cb)
                ims.append(im)
            row_images.append(ims)
        self.images = row_images
        self._build_curves(stable_axes)
        self.index = None

    # ---------------------------------------------------------------- curves column
    def _build_curves(self, stable_axes):
        h, L, axes = self.history, self.L, self.axes
        colors = class_colors(L) if L > 10 else [f"C{l}" for l in range(L)]
        self.colors = colors
        # activation histograms (fraction of values per bin, one step line per layer)
        ax = axes[0, L]
        self.hist_artists = []
        for l in range(L):
            counts, edges = self.snaps[0]["act_hist"][l]
            art = ax.stairs(np.zeros(len(counts)), np.asarray(edges, dtype=np.float64), color=colors[l],
                            lw=1.3, label=f"layer {l + 1}")
            self.hist_artists.append(art)
        ax.set_xlabel("activation")
        ax.set_ylabel("fraction of values")
        ax.set_title("activation histogram")
        ax.legend(fontsize="x-small", loc="upper center")
        ax.grid(True, alpha=0.3)
        self.hist_limits = self._hist_limits(range(len(self.snaps))) if stable_axes else None

        # accuracy: the full curve faintly, the part up to the snapshot solid
        ax = axes[1, L]
        acc = np.asarray(h.accuracy, dtype=np.float64)
        self.acc_x, xlabel = x_axis(h, len(acc))
        self.acc = acc
        if acc.size:
            ax.plot(self.acc_x, acc, color="C2", alpha=0.25, lw=1)
            (self.acc_line,) = ax.plot([], [], color="C2", lw=1.6)
            (self.acc_dot,) = ax.plot([], [], "o", color="C2", ms=5)
            ax.axhline(0.9, color="0.3", linestyle=":", lw=1.2)
            ax.set_ylim(0, 1.02)
            ax.set_xlim(0, max(self.acc_x[-1], 1) * 1.02)
            _percent_axis(ax)
            ax.set_xlabel(xlabel)
            _integer_x(ax)
            ax.grid(True, alpha=0.3)
        else:
            self.acc_line = self.acc_dot = None
            ax.text(0.5, 0.5, "no accuracy recorded", ha="center", va="center", transform=ax.transAxes,
                    color="0.4")
            ax.set_xticks([])
            ax.set_yticks([])
        self.acc_title = ax.set_title("accuracy")

        # update magnitude of each layer over the recorded steps, log scale
        ax = axes[2, L]
        mags = np.asarray(self.stats["update_magnitude"], dtype=np.float64)
        mags = np.where(mags > 0, mags, np.nan)
        self.mags = mags
        self.mag_x = np.array([step_to_x(h, s) for s in h.record_steps], dtype=np.float64)
        self.mag_lines, self.mag_dots = [], []
        for l in range(L):
            ax.plot(self.mag_x, mags[:, l], color=colors[l], alpha=0.25, lw=1)
            (ln,) = ax.plot([], [], color=colors[l], lw=1.5, label=f"layer {l + 1}")
            (dot,) = ax.plot([], [], "o", color=colors[l], ms=4)
            self.mag_lines.append(ln)
            self.mag_dots.append(dot)
        log_scale_if_positive(ax, mags, ignore_nonpositive=True)
        _integer_x(ax)
        ax.set_xlabel(x_axis(h, len(h.loss))[1])
        ax.set_title("update magnitude (lr·mean|ΔW|)", fontsize="medium")
        ax.legend(fontsize="x-small")
        ax.grid(True, which="major", alpha=0.3)
        self.suptitle = self.fig.suptitle("")

    def _hist_limits(self, indices):
        lo, hi, top = np.inf, -np.inf, 0.0
        for i in indices:
            for counts, edges in self.snaps[i]["act_hist"]:
                edges = np.asarray(edges, dtype=np.float64)
                counts = np.asarray(counts, dtype=np.float64)
                if np.isfinite(edges).all() and counts.sum() > 0:
                    lo, hi = min(lo, edges[0]), max(hi, edges[-1])
                    top = max(top, counts.max() / counts.sum())
        if not np.isfinite(lo):
            return None
        pad = 0.02 * (hi - lo) if hi > lo else 0.5
        return (lo - pad, hi + pad), (0, max(top, 1e-3) * 1.12)

    # ---------------------------------------------------------------- one snapshot
    def update(self, index=-1):
        n = len(self.snaps)
        if not -n <= index < n:
            raise IndexError(f"snapshot index {index} out of range for {n} snapshots")
        i = index % n
        snap, st, L, h = self.snaps[i], self.stats, self.L, self.history
        for l in range(L):
            n_units, fan_in = len(snap["act_unit_mean"][l]), len(snap["weight_unit_mean"][l])
            rows, cols, _ = self.grids[0, l]
            self._show(0, l, snap["act_unit_mean"][l], symmetric=False,
                       title=f"layer {l + 1} activation ({n_units} → {rows}×{cols})\n"
                             f"μ={_fmt(st['act_mean'][i, l])}  σ={_fmt(st['act_std'][i, l])}")
            rows, cols, _ = self.grids[1, l]
            self._show(1, l, snap["weight_unit_mean"][l], symmetric=True,
                       title=f"W{l + 1} mean over units ({fan_in} → {rows}×{cols})\n"
                             f"μ={_fmt(st['weight_mean'][i, l])}  σ={_fmt(st['weight_std'][i, l])}")
            mag = snap["update_magnitude"][l]
            self._show(2, l, snap["update_unit_mean"][l], symmetric=True,
                       title=f"ΔW{l + 1} mean over units\nupdate magnitude {mag:.2e}")
        # histograms
        ax = self.axes[0, L]
        for art, (counts, edges) in zip(self.hist_artists, snap["act_hist"]):
            counts = np.asarray(counts, dtype=np.float64)
            total = counts.sum()
            art.set_data(counts / total if total > 0 else counts, np.asarray(edges, dtype=np.float64))
        lims = self.hist_limits or self._hist_limits([i])
        if lims:
            ax.set_xlim(*lims[0])
            ax.set_ylim(*lims[1])
        # curves up to this step
        step = snap["step"]
        x_now = step_to_x(h, step)
        if self.acc_line is not None:
            keep = self.acc_x <= x_now + 1e-9
            self.acc_line.set_data(self.acc_x[keep], self.acc[keep])
            if keep.any():
                self.acc_dot.set_data(self.acc_x[keep][-1:], self.acc[keep][-1:])
                a = self.acc[keep][-1]
                self.acc_title.set_text(f"accuracy: {a:.1%}" if np.isfinite(a) else "accuracy")
        for l in range(L):
            self.mag_lines[l].set_data(self.mag_x[:i + 1], self.mags[:i + 1, l])
            self.mag_dots[l].set_data(self.mag_x[i:i + 1], self.mags[i:i + 1, l])
        acc = snap.get("accuracy")
        parts = [self.model.describe()] if self.model is not None and hasattr(self.model, "describe") else []
        parts.append(f"step {step + 1}" + (f" of {h.steps}" if getattr(h, "steps", 0) else ""))
        if acc is not None and np.isfinite(acc):
            parts.append(f"accuracy {acc:.1%}")
        if is_diverged(h) and i == n - 1:
            parts.append("run diverged after this")
        self.suptitle.set_text("   ·   ".join(parts))
        self.suptitle.set_color(DIVERGED_COLOR if is_diverged(h) and i == n - 1 else "black")
        self.index = i
        return self.fig

    # ---------------------------------------------------------------- fast frames
    def _dynamic_artists(self):
        arts = [self.suptitle]
        for ims in self.images:
            for im in ims:
                arts += [im, *im.axes.spines.values(), im.axes.title]  # the frame goes over the image
        arts += [cb.ax for cb in self.colorbars]
        arts += list(self.hist_artists) + list(self.mag_lines) + list(self.mag_dots)
        if self.acc_line is not None:
            arts += [self.acc_line, self.acc_dot]
        arts.append(self.acc_title)
        return arts

    def render(self):
        """Draw the current snapshot with Agg and return its RGBA buffer.

        The first call draws everything, freezes the layout and keeps a background without
        the parts that change between snapshots (images, their titles and colour bars,
        the moving curves); later calls restore that background and redraw only those
        parts (blitting), several times faster than a full draw. Axis limits of the curve
        column must not change between calls (``stable_axes=True``).
        """
        from matplotlib.text import Text

        fig = self.fig
        canvas = fig.canvas
        if self._background is None:
            engine = fig.get_layout_engine()
            if engine is not None:  # lay out once (measures text, renders nothing), then freeze
                engine.execute(fig)
                fig.set_layout_engine("none")
            dynamic = self._dynamic_artists()
            # a draw re-places axes titles, and places hidden ones wrongly: keep where they are
            placed = [(a, a.get_position()) for a in dynamic if isinstance(a, Text)]
            for a in dynamic:
                a.set_visible(False)
            canvas.draw()
            self._background = canvas.copy_from_bbox(fig.bbox)
            for a in dynamic:
                a.set_visible(True)
            for a, xy in placed:
                a.set_position(xy)
        canvas.restore_region(self._background)
        for a in self._dynamic_artists():
            fig.draw_artist(a)
        return canvas.buffer_rgba()

    def _show(self, row, l, values, symmetric, title):
        im = self.images[row][l]
        img = as_grid(values, self.grids[row, l])
        im.set_data(img)
        im.set_clim(*_limits(img, symmetric))
        self.axes[row, l].set_title(title, fontsize=8)


def layers_panel(model, history, index=-1):
    """The 3 × (L + 1) "layers" panel for ``history.snapshots[index]`` (see module doc).

    Raises ValueError when the History has no snapshots (train with ``record='layers'``).
    """
    return LayersPanel(model, history).update(index)


def _frame_indices(n, max_frames):
    if max_frames is None or n <= max_frames:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, max(int(max_frames), 2)).round().astype(int).tolist()))


def layers_animation(model, history, path, fps=4, max_frames=60, dpi=72):
    """Write a GIF of the layers panel over the recorded snapshots (at most ``max_frames``,
    evenly spaced, always including the first and the last) to ``path`` atomically.
    One figure is built and only its data updated per frame. Returns ``path``."""
    from PIL import Image

    if not getattr(history, "snapshots", None):
        raise ValueError(_NO_SNAPSHOTS)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    indices = _frame_indices(len(history.snapshots), max_frames)
    panel = LayersPanel(model, history, dpi=dpi, stable_axes=True)
    fig = panel.fig
    frames = []
    for i in indices:
        panel.update(i)
        rgba = panel.render()
        rgb = Image.frombuffer("RGBA", fig.canvas.get_width_height(), rgba).convert("RGB")
        frames.append(rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))
    close_figure(fig)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with atomic_path(path, suffix=".gif") as tmp:
        duration = [int(round(1000 / fps))] * len(frames)
        duration[-1] = max(duration[-1], 1500)  # linger on the final state
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0,
                       optimize=False, disposal=1)
    return path
