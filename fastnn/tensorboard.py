"""Log fastnn training to TensorBoard.

    from fastnn.tensorboard import TensorBoardCallback

    tb = TensorBoardCallback("runs/mnist", histograms_every=5)
    model.fit(X, y, epochs=20, lr=0.1, batch_size=64, validation_data=(Xv, yv), callbacks=[tb])
    tb.close()
    # then: tensorboard --logdir runs

What is written (``global_step`` is the epoch, counted on across several ``fit`` calls):

* scalars ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` (those the run has) and ``lr``
  every ``every`` epochs;
* with ``step_scalars=True`` also ``step/loss`` and ``step/lr`` every ``every`` optimiser
  steps (the epoch scalars then come every epoch), and the layer statistics and histograms
  below are counted in steps too (this makes the compiled training loop return to Python
  after every step: slower);
* per layer ``l`` (0 = the first weight matrix), for ``weights``, ``biases``, ``preact``
  (pre-activations z = A_{l-1}·W_l + b_l), ``act`` (activations A_l; softmax/sigmoid
  probabilities at the output) and ``grad_weights`` (the gradient of the last step):
  scalars ``layer{l}/{kind}/min|max|mean|std`` when ``layer_stats`` is on, and histograms
  ``layer{l}/{kind}`` every ``histograms_every`` epochs (or steps).

Pre-activations and activations are computed at the current weights on a fixed *probe*
set: ``probe`` rows of the training data drawn once per ``fit`` (or an array you pass), so
successive histograms describe the same inputs.

Events are flushed at the end of every ``fit`` and by ``close()`` (or leaving a ``with``
block). The writer is tensorboardX's ``SummaryWriter`` (``pip install tensorboardX``), imported when
the callback is created; any object with the same ``add_scalar``/``add_histogram``/``flush``/
``close`` methods (e.g. ``torch.utils.tensorboard.SummaryWriter``) can be passed as ``writer``.
"""
from __future__ import annotations

import itertools
import numbers
import os

import numpy as np

from .callbacks import Callback

__all__ = ["TensorBoardCallback"]

_STATS = ("min", "max", "mean", "std")
_WRITERS = itertools.count()


def _positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return int(value)


class TensorBoardCallback(Callback):
    """A fastnn callback writing TensorBoard event files to ``logdir``.

    Parameters
    ----------
    logdir : str or path
        Directory of this run's event files (e.g. ``"runs/exp1"``; view with
        ``tensorboard --logdir runs``).
    every : int, default=1
        Write the scalars every ``every`` epochs (steps with ``step_scalars=True``).
    histograms_every : int or None, default=None
        Write histograms every that many epochs (steps); None writes none.
    layer_stats : bool or int, default=True
        Write min/max/mean/std of each layer's tensors: True at the scalar cadence,
        an int for its own cadence, False for none.
    step_scalars : bool, default=False
        Log per optimiser step instead of per epoch (see the module docstring).
    probe : int, array or None, default=256
        Rows for the activation statistics: a number of training rows drawn once per fit, or
        an array of inputs (n, n_features); None leaves activations and pre-activations out.
    writer : SummaryWriter-like, optional
        Use this writer instead of creating a tensorboardX one (then ``logdir`` may be None).
    """

    def __init__(self, logdir, every=1, histograms_every=None, layer_stats=True, step_scalars=False,
                 probe=256, writer=None):
        self.every = _positive_int(every, "every")
        self.histograms_every = _positive_int(histograms_every, "histograms_every", allow_none=True)
        if isinstance(layer_stats, bool):
            self.stats_every = self.every if layer_stats else None
        else:
            self.stats_every = _positive_int(layer_stats, "layer_stats (True, False or a positive integer)")
        self.step_scalars = bool(step_scalars)
        if probe is not None and not (isinstance(probe, numbers.Integral) and not isinstance(probe, bool)):
            probe = np.asarray(probe)
            if probe.ndim != 2 or probe.shape[0] == 0:
                raise ValueError(f"probe must be a number of rows or a 2-D array of inputs, got shape {probe.shape}")
        elif probe is not None and probe < 1:
            raise ValueError(f"probe must be a positive number of rows, an array or None, got {probe!r}")
        self.probe = probe
        self._writer_cls = None
        if writer is None:
            if logdir is None:
                raise ValueError("give a logdir (or a writer)")
            try:  # imported now so a missing package shows at once; the writer is made at training
                from tensorboardX import SummaryWriter
            except ImportError as exc:
                raise ImportError("TensorBoardCallback needs the tensorboardX package: pip install tensorboardX "
                                  "(or pass writer=, e.g. torch.utils.tensorboard.SummaryWriter(logdir))") from exc
            self._writer_cls = SummaryWriter
        self.logdir = None if logdir is None else str(logdir)
        self.writer = writer
        self._epoch = 0  # epochs and steps logged by earlier fit calls
        self._step = 0
        self._probe_X = None
        if self.step_scalars:  # only then: an on_step_end hook stops the compiled loop every step
            self.on_step_end = self._on_step_end

    # ------------------------------------------------------------------ writer
    def _get_writer(self):
        if self.writer is None:
            if self._writer_cls is None:
                raise RuntimeError("the writer given to TensorBoardCallback was closed; give the callback a new one")
            # tensorboardX names event files by the second: a unique suffix keeps two writers
            # opened in the same second (a close() then another fit) from overwriting each other
            self.writer = self._writer_cls(self.logdir, filename_suffix=f".{os.getpid()}.{next(_WRITERS)}")
        return self.writer

    def flush(self):
        if self.writer is not None:
            self.writer.flush()

    def close(self):
        """Flush and close the event file (a later fit opens a new one in the same logdir)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, trainer):
        self._get_writer()
        self._base_epoch, self._base_step = self._epoch, self._step
        model = trainer.model
        self._probe_X = None
        if isinstance(self.probe, np.ndarray):
            if self.probe.shape[1] != model.layer_dims[0]:
                raise ValueError(f"probe has {self.probe.shape[1]} features but the model expects "
                                 f"{model.layer_dims[0]}")
            self._probe_X = np.ascontiguousarray(self.probe, dtype=model.dtype)
        elif self.probe is not None:
            X = trainer.engine.X
            n = min(int(self.probe), X.shape[0])
            rows = np.sort(np.random.default_rng(0).choice(X.shape[0], size=n, replace=False))
            self._probe_X = X[rows]

    def on_epoch_end(self, trainer, epoch, logs):
        g = self._base_epoch + int(epoch)
        self._epoch = g
        w = self.writer
        if self.step_scalars or g % self.every == 0:
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                value = logs.get(key)
                if value is not None and np.isfinite(value):
                    w.add_scalar(key, float(value), g)
            if trainer.history.lr:
                w.add_scalar("lr", float(trainer.history.lr[-1]), g)
        if not self.step_scalars:
            self._layers(trainer, g)

    def _on_step_end(self, trainer, step, logs):
        s = self._base_step + int(step) + 1
        self._step = s
        if s % self.every == 0:
            self.writer.add_scalar("step/loss", float(logs["loss"]), s)
            self.writer.add_scalar("step/lr", float(logs["lr"]), s)
        self._layers(trainer, s)

    def on_train_end(self, trainer):
        self._step = self._base_step + int(trainer.history.steps)
        if self.writer is not None:
            self.writer.flush()

    # ------------------------------------------------------------------ layers
    def _layers(self, trainer, g):
        stats = self.stats_every is not None and g % self.stats_every == 0
        hists = self.histograms_every is not None and g % self.histograms_every == 0
        if not (stats or hists):
            return
        w = self.writer
        for tag, values in self._tensors(trainer):
            values = np.asarray(values).ravel()
            if stats and values.size:
                w.add_scalar(f"{tag}/min", float(values.min()), g)
                w.add_scalar(f"{tag}/max", float(values.max()), g)
                w.add_scalar(f"{tag}/mean", float(values.mean(dtype=np.float64)), g)
                w.add_scalar(f"{tag}/std", float(values.std(dtype=np.float64)), g)
            if hists:
                finite = values[np.isfinite(values)]
                if finite.size:
                    w.add_histogram(tag, finite, g)

    def _tensors(self, trainer):
        """(tag, array) of every tensor logged for each layer."""
        model = trainer.model
        L = len(model.layer_dims) - 1
        grad = getattr(trainer.engine, "grad", None)
        acts = zs = None
        if self._probe_X is not None:
            acts = model.forward(self._probe_X, return_all=True)
            zs = []
            inp = self._probe_X
            for l in range(L):
                z = inp @ model.weights[l]
                if model.biases[l] is not None:
                    z += model.biases[l]
                zs.append(z)
                inp = acts[l]
        for l in range(L):
            yield f"layer{l}/weights", model.weights[l]
            if model.biases[l] is not None:
                yield f"layer{l}/biases", model.biases[l]
            if zs is not None:
                yield f"layer{l}/preact", zs[l]
                yield f"layer{l}/act", acts[l]
            if grad is not None and grad.shape == model.params.shape:
                yield f"layer{l}/grad_weights", model.parameters.view(grad, f"W{l}")
