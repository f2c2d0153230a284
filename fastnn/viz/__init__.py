"""Dashboards for any trained model and its History, as matplotlib Figures.

Every function returns a ``matplotlib.figure.Figure`` created without pyplot (no global
state; works headless), which :func:`save_figure` writes atomically:

    >>> from fastnn import viz
    >>> fig = viz.overview(model, history, X, y)                       # doctest: +SKIP
    >>> viz.save_figure(viz.layers_panel(model, history), "layers.png")   # doctest: +SKIP
    >>> viz.layers_animation(model, history, "layers.gif")             # doctest: +SKIP

overview, layers_panel, layers_animation   training dashboards (EXPERIMENTS.md C8)
confusion_matrix, tsne                     what the trained network does with the data
compare_curves, accuracy_bars              several runs side by side (sweeps)
activation_shapes                          σ(kx) / tanh(kx) and their derivatives
decision_boundary(_grid)                   2-D toy problems (EXPERIMENTS.md D)
sample_grid                                a grid of input images
cnn_filters, cnn_feature_maps, cnn_layer_stats   a CNN's filters, feature maps, per-layer statistics

Layer panels need a History trained with ``record="layers"``.
"""
from ._common import axes_pixels, figure_pixels, image_is_blank, most_square, new_figure, save_figure
from .cnn import cnn_feature_maps, cnn_filters, cnn_layer_stats
from .boundaries import decision_boundary, decision_boundary_grid
from .curves import accuracy_bars, activation_shapes, compare_curves, plot_accuracy, plot_loss
from .evaluation import confusion_matrix, tsne
from .layers import LayersPanel, layers_animation, layers_panel
from .overview import overview, sample_grid

__all__ = [
    "overview", "layers_panel", "layers_animation", "LayersPanel", "confusion_matrix", "tsne",
    "compare_curves", "accuracy_bars", "activation_shapes", "decision_boundary", "decision_boundary_grid",
    "sample_grid", "plot_loss", "plot_accuracy", "save_figure", "new_figure", "most_square",
    "image_is_blank", "figure_pixels", "axes_pixels", "cnn_filters", "cnn_feature_maps", "cnn_layer_stats",
]
