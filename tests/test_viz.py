"""fastnn.viz: every dashboard draws a real, non-blank figure, headless, without pyplot.

Tiny networks trained for a few steps keep this fast; the figures are rendered with Agg
and their pixels inspected (image size, per-panel variance, GIF frame count).
"""
import os
import warnings

import numpy as np
import pytest

import fastnn
from fastnn import viz
from fastnn.datasets import load
from fastnn.history import History
from fastnn.viz._common import unit_grid

DPI = 50


@pytest.fixture(scope="module")
def mnist():
    X, y = load("mnist-5k")
    return X[:300], y[:300]


@pytest.fixture(scope="module")
def trained(mnist):
    """784-16-8-10 sigmoid/softmax, 20 full-batch steps, layer records every 4 steps."""
    X, y = mnist
    model = fastnn.DeepMLP([784, 16, 8, 10], activation="sigmoid", init="he", seed=0)
    history = model.fit(X, y, iterations=20, lr=0.5, record="layers", record_every=4, progress=False)
    return model, history


@pytest.fixture(scope="module")
def diverged(mnist):
    X, y = mnist
    model = fastnn.DeepMLP([784, 16, 8, 10], activation="relu", init="he", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = model.fit(X, y, iterations=20, lr=1e3, reduction="sum", record="layers", record_every=1,
                            progress=False, on_divergence="stop")
    assert history.stopped == "diverged"
    return model, history


@pytest.fixture(scope="module")
def moons_model():
    X, y = load("moons")
    model = fastnn.DeepMLP([2, 6, 2], activation="tanh", seed=0)
    history = model.fit(X, y, iterations=60, lr=0.5, record="layers", record_every=20, progress=False)
    return model, history, X, y


def _pixels(fig):
    fig.set_dpi(DPI)  # small renders keep the suite fast
    return viz.figure_pixels(fig)


def _inner(fig, ax, px, margin=3):
    """The pixels inside an axes' frame (spines and ticks cut off)."""
    crop = viz.axes_pixels(fig, ax, px)
    return crop[margin:-margin, margin:-margin]


def _assert_panels_drawn(fig, axes=None):
    px = _pixels(fig)
    for ax in axes if axes is not None else fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        assert not viz.image_is_blank(_inner(fig, ax, px)), f"panel {ax.get_title()!r} is blank"


def _save(fig, tmp_path, name, dpi=DPI):
    w, h = fig.get_size_inches()
    path = viz.save_figure(fig, tmp_path / name, dpi=dpi)
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "PNG"
        assert abs(im.size[0] - round(w * dpi)) <= 1 and abs(im.size[1] - round(h * dpi)) <= 1
    assert not viz.image_is_blank(path)
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")] == []  # atomic: no leftovers
    return path


# ---------------------------------------------------------------------- helpers
@pytest.mark.parametrize("n, shape", [(784, (28, 28)), (256, (16, 16)), (128, (16, 8)), (300, (20, 15)),
                                      (10, (5, 2)), (16, (4, 4)), (7, (7, 1)), (1, (1, 1)), (2, (2, 1))])
def test_most_square(n, shape):
    assert viz.most_square(n) == shape
    r, c = viz.most_square(n)
    assert r * c == n and r >= c


def test_most_square_rejects_nonpositive():
    with pytest.raises(ValueError):
        viz.most_square(0)


def test_unit_grid_output_column_and_prime_padding():
    assert unit_grid(10, column=True) == (10, 1, 0)  # output layer: one row per class
    assert unit_grid(128) == (16, 8, 0)
    rows, cols, pad = unit_grid(257)  # prime: near-square grid, not a 257 x 1 strip
    assert rows * cols - pad == 257 and rows <= 2 * cols and pad > 0


def test_image_is_blank():
    fig = viz.new_figure(figsize=(2, 2))
    assert viz.image_is_blank(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1])
    assert not viz.image_is_blank(fig)
    assert viz.image_is_blank(np.full((10, 10, 3), 200, np.uint8))


def test_figures_bypass_pyplot(trained, mnist, tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = viz.overview(*trained, *mnist)
    assert type(fig).__module__ == "matplotlib.figure" and plt.get_fignums() == before
    viz.save_figure(fig, tmp_path / "sub" / "o.png")  # creates the folder
    assert (tmp_path / "sub" / "o.png").exists()


# ---------------------------------------------------------------------- overview
def test_overview_mnist(trained, mnist, tmp_path):
    model, history = trained
    X, y = mnist
    fig = viz.overview(model, history, X, y, sample_index=3)
    ax_img, ax_loss, ax_acc = fig.axes
    assert ax_img.images[0].get_array().shape == (28, 28)
    assert "predicted" in ax_img.get_title() and f"true {y[3]}" in ax_img.get_title()
    assert ax_loss.get_yscale() == "log"
    assert any(np.allclose(ln.get_ydata(), 0.9) for ln in ax_acc.lines)  # dotted 90% line
    _assert_panels_drawn(fig)
    _save(fig, tmp_path, "overview.png")


def test_overview_non_image_without_accuracy(moons_model):
    model, _, X, y = moons_model
    h = History()
    h.loss = [0.7, 0.5, 0.3]
    h.steps = 3
    fig = viz.overview(model, h, X, y)
    assert fig.axes[0].collections  # 2-D inputs: a scatter, not an image
    assert not fig.axes[0].images
    assert "no accuracy" in " ".join(t.get_text() for t in fig.axes[2].texts)
    _assert_panels_drawn(fig)


def test_overview_diverged(diverged, mnist):
    model, history = diverged
    fig = viz.overview(model, history, *mnist)
    assert "diverged" in fig.get_suptitle()
    _assert_panels_drawn(fig)


def test_overview_nan_loss_draws_finite_part(trained, mnist):
    model, _ = trained
    h = History()
    h.loss = [2.3, 1.5, 1.0, float("nan"), float("nan")]
    h.accuracy = [0.1, 0.3, 0.5, float("nan"), float("nan")]
    h.steps, h.stopped, h.message = 5, "diverged", "NaN in activations — lower the learning rate"
    fig = viz.overview(model, h, *mnist)
    loss_line = fig.axes[1].lines[0]
    assert len(loss_line.get_ydata()) == 3 and np.isfinite(loss_line.get_ydata()).all()
    assert "lower the learning rate" in fig.get_suptitle()
    _assert_panels_drawn(fig)


# ---------------------------------------------------------------------- layers panel
def test_layers_panel(trained, tmp_path):
    model, history = trained
    fig = viz.layers_panel(model, history)
    assert len(fig.axes) == 12 + 9  # 3 x 4 panels + a colour bar per image
    panels = fig.axes[:12]
    shapes = [ax.images[0].get_array().shape for ax in panels if ax.images]
    assert shapes == [(4, 4), (4, 2), (10, 1),  # activations: 16, 8 units; output column
                      (28, 28), (4, 4), (4, 2),  # W averaged over units: fan_in pixels
                      (28, 28), (4, 4), (4, 2)]  # updates, the same
    assert "μ=" in panels[0].get_title() and "σ=" in panels[0].get_title()
    assert "update magnitude" in panels[8].get_title()
    assert panels[11].get_yscale() == "log"
    _assert_panels_drawn(fig, panels)
    _save(fig, tmp_path, "layers.png")


def test_layers_panel_first_snapshot_and_depth(trained, moons_model):
    model, history = trained
    fig = viz.layers_panel(model, history, index=0)
    assert f"step {history.snapshots[0]['step'] + 1}" in fig.get_suptitle()
    model2, history2, _, _ = moons_model  # two layers: 3 x 3
    fig2 = viz.layers_panel(model2, history2)
    assert len([ax for ax in fig2.axes if ax.get_label() != "<colorbar>"]) == 9
    _assert_panels_drawn(fig2, fig2.axes[:9])


def test_layers_panel_needs_snapshots(mnist):
    model = fastnn.DeepMLP([784, 8, 10], seed=0)
    history = model.fit(*mnist, iterations=2, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="record='layers'"):
        viz.layers_panel(model, history)
    with pytest.raises(ValueError, match="record='layers'"):
        viz.layers_animation(model, history, "unused.gif")


def test_layers_panel_diverged(diverged):
    fig = viz.layers_panel(*diverged)
    assert "diverged" in fig.get_suptitle()
    _assert_panels_drawn(fig, fig.axes[:12])


def test_layers_animation(trained, tmp_path):
    from PIL import Image

    model, history = trained
    assert len(history.snapshots) == 5
    path = viz.layers_animation(model, history, tmp_path / "layers.gif", fps=5, dpi=30)
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")] == []
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 5
        frames = []
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB")))
    assert not any(viz.image_is_blank(f) for f in frames)
    assert not np.array_equal(frames[0], frames[-1])


def test_animation_frame_choice():
    from fastnn.viz.layers import _frame_indices

    assert _frame_indices(5, 60) == [0, 1, 2, 3, 4]
    assert _frame_indices(200, 60)[0] == 0 and _frame_indices(200, 60)[-1] == 199
    assert len(_frame_indices(200, 60)) == 60 and len(_frame_indices(5, 3)) == 3


def test_layers_animation_frames_match_static_panel(trained):
    """Blitted frames show the same snapshot content as a fully drawn panel."""
    model, history = trained
    panel = viz.LayersPanel(model, history, dpi=30, stable_axes=True)
    panel.update(0)
    panel.render()
    panel.update(-1)
    blitted = np.asarray(panel.render())[..., :3].copy()
    panel.fig.canvas.draw()  # full redraw of the same state
    full = np.asarray(panel.fig.canvas.buffer_rgba())[..., :3]
    assert np.mean(np.any(blitted != full, axis=-1)) < 0.002


# ---------------------------------------------------------------------- evaluation
def test_confusion_matrix(trained, mnist, tmp_path):
    model, _ = trained
    X, y = mnist
    fig = viz.confusion_matrix(model, X, y)
    ax = fig.axes[0]
    acc = model.score(X, y)
    assert f"{acc:.2%}" in ax.get_title()
    cm = np.asarray(ax.images[0].get_array())
    assert cm.shape == (10, 10)
    predicted = np.bincount(model.predict(X), minlength=10) > 0
    np.testing.assert_allclose(cm.sum(axis=0)[predicted], 1.0, rtol=1e-6)  # columns normalised
    _save(fig, tmp_path, "confusion.png")


def test_tsne(trained, mnist, tmp_path):
    model, _ = trained
    X, y = mnist
    fig = viz.tsne(model, X, y, n_samples=100, seed=0)
    ax = fig.axes[0]
    n_points = sum(len(c.get_offsets()) for c in ax.collections)
    assert n_points == 100
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(c) for c in np.unique(y))
    assert "8 units" in ax.get_title()  # the last hidden layer
    _save(fig, tmp_path, "tsne.png")


def test_tsne_needs_hidden_layer(mnist):
    model = fastnn.DeepMLP([784, 10], seed=0)
    with pytest.raises(ValueError, match="hidden layer"):
        viz.tsne(model, *mnist, n_samples=50)


# ---------------------------------------------------------------------- several runs
def test_compare_curves_and_bars(trained, diverged, tmp_path):
    runs = {"lr 0.5": trained[1], "lr 1000": diverged[1]}
    fig = viz.compare_curves(runs, title="learning rate")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["lr 0.5", "lr 1000 (diverged)"]
    assert fig.axes[0].get_yscale() == "log"
    _assert_panels_drawn(fig)
    _save(fig, tmp_path, "compare.png")

    fig = viz.accuracy_bars({"a": 0.62, "b": 0.91, "c": float("nan"), "d": None}, chance=0.1)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("diverged") == 2 and "91.0%" in texts
    _save(fig, tmp_path, "bars.png")


@pytest.mark.parametrize("kind, peak", [("sigmoid", 0.25), ("tanh", 1.0)])
def test_activation_shapes(kind, peak, tmp_path):
    fig = viz.activation_shapes(kind, ks=(1, 5))
    ax_f, ax_d = fig.axes
    d1, d5 = [ln.get_ydata() for ln in ax_d.lines[:2]]
    assert d1.max() == pytest.approx(peak, rel=1e-3) and d5.max() == pytest.approx(5 * peak, rel=1e-3)
    _save(fig, tmp_path, f"{kind}.png")


# ---------------------------------------------------------------------- toy data
def test_decision_boundary(moons_model, tmp_path):
    model, _, X, y = moons_model
    fig = viz.decision_boundary(model, X, y, resolution=80)
    _assert_panels_drawn(fig)
    _save(fig, tmp_path, "boundary.png")
    other = viz.new_figure()
    ax = other.add_subplot(1, 1, 1)
    assert viz.decision_boundary(model, X, y, ax=ax, title="given axes", resolution=40) is other
    assert ax.get_title() == "given axes"
    with pytest.raises(ValueError, match="2-D"):
        viz.decision_boundary(model, np.zeros((5, 3)), np.zeros(5, int))


def test_decision_boundary_grid(moons_model, tmp_path):
    model, _, X, y = moons_model
    small = fastnn.DeepMLP([2, 2, 2], activation="relu", seed=1)
    small.fit(X, y, iterations=20, lr=0.5, progress=False)
    panels = [(model, "tanh 6"), (small, "relu 2"), (model, "again"), (small, "and again")]
    fig = viz.decision_boundary_grid(panels, X, y, ncols=3, suptitle="moons", resolution=60)
    visible = [ax for ax in fig.axes if ax.axison]
    assert len(fig.axes) == 6 and [ax.get_title() for ax in visible] == [t for _, t in panels]
    _assert_panels_drawn(fig, visible)
    _save(fig, tmp_path, "grid.png")


def test_sample_grid(mnist):
    fig = viz.sample_grid(*mnist, n=16)
    assert sum(1 for ax in fig.axes if ax.images) == 16
    assert not viz.image_is_blank(fig)
    with pytest.raises(ValueError, match="image"):
        viz.sample_grid(np.zeros((10, 2)), np.zeros(10, int))
