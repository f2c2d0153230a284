"""What every engine shares: the Engine protocol and the flat work buffers.

An engine executes training steps of one network (a ``DenseNet``) on fixed training data. It
is built from (network, parameters, optimiser, data) and never touches the model:

    run(order, lrs) -> (done, losses, correct, rows)   len(lrs) steps; stops before applying a
                                                        step whose loss is not finite
    gradient()      -> (summed loss, grad)              the loss and gradient on the whole data,
                                                        without changing θ or the optimiser
    grad, last_rows, buffers                            the last step's gradient and activations

The trainer (fastnn.train.trainer) drives ``run``; ``DeepMLP.loss_and_gradients`` calls
``gradient`` on whichever engine is asked for.
"""
from __future__ import annotations

import numpy as np

from .. import codes


class Buffers:
    """Flat work buffer holding each layer's activations A_l and deltas D_l for ``rows`` rows."""

    def __init__(self, net, params, rows: int, feature_major: bool = False, share_deltas: bool = False,
                 scratch: int = 0):
        """share_deltas: hidden layers' deltas overwrite their activations (the backward pass
        no longer needs A_l once D_l exists), halving the memory of large full-batch steps."""
        self.rows = rows
        self.feature_major = feature_major
        self.layout = net.layout(params)
        off = 0
        for l in range(net.n_layers):
            fo = int(self.layout[l, codes.COL_FAN_OUT])
            self.layout[l, codes.COL_A_OFF] = off
            off += rows * fo
            if share_deltas and l < net.n_layers - 1:
                self.layout[l, codes.COL_D_OFF] = self.layout[l, codes.COL_A_OFF]
            else:
                self.layout[l, codes.COL_D_OFF] = off
                off += rows * fo
        self.work = np.zeros(off + scratch, dtype=params.dtype)

    def _block(self, l, column, rows):
        rows = self.rows if rows is None else rows
        fo = int(self.layout[l, codes.COL_FAN_OUT])
        o = int(self.layout[l, column])
        block = self.work[o:o + rows * fo]
        return block.reshape(fo, rows).T if self.feature_major else block.reshape(rows, fo)

    def A(self, l, rows=None):
        """Activations of layer l as (rows, units) (a transposed view for feature-major buffers)."""
        return self._block(l, codes.COL_A_OFF, rows)

    def D(self, l, rows=None):
        """Deltas dL/dz of layer l as (rows, units)."""
        return self._block(l, codes.COL_D_OFF, rows)


class Engine:
    """The shared state of every engine (see the module docstring for the protocol)."""

    name = "engine"
    feature_major = False

    def __init__(self, net, params, optimizer, X, Y, labels, batch, mean_reduction,
                 share_deltas=False, buffer_rows=None):
        self.net, self.params, self.opt = net, params, optimizer
        self.X, self.Y, self.labels = X, Y, labels
        self.batch = batch
        self.full_batch = batch >= X.shape[0]
        self.buffers = Buffers(net, params, batch if buffer_rows is None else buffer_rows,
                               feature_major=self.feature_major,
                               share_deltas=share_deltas and not self.feature_major,
                               scratch=2 * batch if self.feature_major else 0)
        self.theta = params.theta
        self.grad = np.zeros_like(self.theta)
        optimizer.bind(params.size, params.dtype)
        self.mean_reduction = mean_reduction
        self.last_rows = batch

    def run(self, order, lrs):  # pragma: no cover - the protocol
        raise NotImplementedError

    def gradient(self):
        """(summed loss, gradient) on all of X at the current θ; θ and the optimiser unchanged.

        The whole-loop engines run one step with a learning rate of 0 on a full batch of plain
        SGD (θ − 0·g = θ exactly), so every engine is checked by the same gradient tests."""
        if not self.full_batch or self.opt.name != "sgd":
            raise ValueError("gradient() needs an engine built on the whole data with plain SGD")
        done, losses, _, _ = self.run(np.arange(self.X.shape[0]), np.zeros(1))
        return float(losses[0]), self.grad

    def record_layers(self, history, step, theta_before):
        """Per-layer statistics of the step just taken (``fit(record="layers")``)."""
        from ..train.recording import record_dense_layers

        record_dense_layers(history, self, step, theta_before)
