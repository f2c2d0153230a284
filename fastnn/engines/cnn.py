"""Training steps of a :class:`fastnn.Sequential` network over a backend's layer kernels.

``NetBuffers`` holds, for steps of up to ``n`` rows, the input batch, every layer's output A_i
and output gradient dA_i (views for Flatten) and each layer's state (conv workspaces, pooling
indices, dropout masks) — allocated once per fit, reused by every step. ``CNNEngine`` follows
the engine protocol of the trainer: ``run(order, lrs)``, ``gradient(X, Y)``, ``grad``,
``last_rows``, ``record_layers(history, step, theta_before)``.
"""
from __future__ import annotations

import numpy as np

from .. import _threads, layer_stats

# BLAS threads for the steps of a layer stack. Its BLAS products are the dense layers' (the conv
# kernels parallelise over samples on their own): (64×320)·(320×50) and smaller in the course
# CNN, where a 2-thread BLAS team costs more than the product. Measured per call, 64×320→50,
# float32, Cython kernels, on the shared 2-core machine: dense_forward 23 µs with 1 BLAS thread,
# 23,000 µs with 2 (weight_grad 24 / 10,500 µs; delta_backward 20 / 230 µs).
BLAS_THREADS = 1


def blas_limited():
    """A context in which BLAS runs with BLAS_THREADS threads (OpenMP kernels keep theirs)."""
    _threads.ensure_configured()
    return _threads._blas_controller().limit(limits=BLAS_THREADS, user_api="blas")


class NetBuffers:
    """Preallocated activations, gradients and layer state of a network for up to n rows."""

    def __init__(self, net, be, n, backward=True):
        self.n = n
        dt = net.dtype
        self.X = np.zeros((n,) + net.input_shape, dtype=dt)
        self.A, self.dA, self.state = [], [], []
        prev_A, prev_dA = self.X, None
        seen_params = False
        for layer in net.layers:
            shape = (n,) + layer.out_shape
            seen_params = seen_params or layer.trainable
            need_grad = backward and seen_params
            if layer.view:
                A = prev_A.reshape(shape)
                dA = prev_dA.reshape(shape) if (need_grad and prev_dA is not None) else (
                    np.zeros(shape, dt) if need_grad else None)
            else:
                A = np.zeros(shape, dtype=dt)
                dA = np.zeros(shape, dtype=dt) if need_grad else None
            self.A.append(A)
            self.dA.append(dA)
            self.state.append(layer.allocate(be, n, dt))
            prev_A, prev_dA = A, dA
        self.Y = np.zeros((n, net.n_outputs), dtype=dt) if backward else None
        self.pred = np.zeros(n, dtype=np.int64)
        self.labels = np.zeros(n, dtype=np.int64)
        self.hits = np.zeros(n, dtype=np.bool_)

    def rows(self, r):
        """(X, [A_i], [dA_i]) views of the first r rows."""
        if r == self.n:
            return self.X, self.A, self.dA
        return (self.X[:r], [a[:r] for a in self.A], [None if d is None else d[:r] for d in self.dA])


def forward(net, be, bufs, r, train=False, rng=None):
    """Every layer's output for the first r rows of bufs.X; returns the output layer's A."""
    X, As, _ = bufs.rows(r)
    inp = X
    for i, layer in enumerate(net.layers):
        layer.forward(be, inp, As[i], net.layer_params[i], bufs.state[i], train, rng)
        inp = As[i]
    return As[-1]


def backward(net, be, bufs, r, grads):
    """Backward pass from dA of the output layer (already set) down to the first layer with
    parameters; writes the parameter gradients into ``grads`` (per-layer dicts of views)."""
    X, As, dAs = bufs.rows(r)
    for i in range(len(net.layers) - 1, -1, -1):
        if dAs[i] is None:
            break
        layer = net.layers[i]
        inp = X if i == 0 else As[i - 1]
        dX = None if i == 0 else dAs[i - 1]
        layer.backward(be, inp, As[i], dAs[i], dX, net.layer_params[i], grads[i], bufs.state[i])


def loss_and_gradient(net, be, bufs, r, grads, scale, train=False, rng=None):
    """Summed softmax cross-entropy of the first r rows of (bufs.X, bufs.Y) and, when it is
    finite, the gradient (of scale × the summed loss). The output A becomes probabilities."""
    out = forward(net, be, bufs, r, train, rng)
    loss = be.softmax_cross_entropy(out, bufs.Y[:r], bufs.dA[-1][:r], scale)
    if np.isfinite(loss):
        backward(net, be, bufs, r, grads)
    return loss


class CNNEngine:
    """Mini-batch steps of a Sequential network on fixed training data (one Python call per
    layer kernel; the kernels carry the work).

    Dropout masks of the step that takes the optimiser from t to t + 1 come from a generator
    seeded with (dropout_seed, t), so replaying steps from a checkpoint (the trainer's rollback)
    draws the same masks."""

    def __init__(self, net, params, optimizer, X, Y, labels, batch, mean_reduction, dropout_seed=None):
        self.net, self.params, self.opt = net, params, optimizer
        optimizer.bind(params.size, params.dtype)
        self.be = net._kernels()
        self.name = f"{self.be.NAME}-layers"
        self.X, self.Y, self.labels = X, Y, labels
        self.batch = min(int(batch), X.shape[0])
        self.full_batch = self.batch >= X.shape[0]
        self.mean_reduction = bool(mean_reduction)
        self.theta = params.theta
        if dropout_seed is None:
            dropout_seed = int(np.random.SeedSequence().entropy % (1 << 63))
        self.dropout_seed = int(dropout_seed)
        self.buffers = NetBuffers(net, self.be, self.batch)
        self.grad = np.zeros_like(params.theta)
        self.grads = net._layer_views(params, self.grad)
        self.last_rows = self.batch

    def _load(self, idx):
        r = idx.size
        b = self.buffers
        np.take(self.X, idx, axis=0, out=b.X[:r])
        np.take(self.Y, idx, axis=0, out=b.Y[:r])
        return r

    def _correct(self, r, idx):
        b = self.buffers
        if not self.labels.size:
            return 0
        np.argmax(b.A[-1][:r], axis=1, out=b.pred[:r])
        np.take(self.labels, idx, out=b.labels[:r])
        np.equal(b.pred[:r], b.labels[:r], out=b.hits[:r])
        return int(np.count_nonzero(b.hits[:r]))

    def run(self, order, lrs):
        """len(lrs) steps on batches order[s·batch:(s+1)·batch] (all of order each step in full-batch
        training); stops at the first non-finite
        loss (that step is not applied). Returns (done, losses, correct, rows)."""
        with blas_limited():
            return self._run(order, lrs)

    def _run(self, order, lrs):
        n = len(lrs)
        losses = np.zeros(n)
        correct = np.zeros(n, dtype=np.int64)
        rows = np.zeros(n, dtype=np.int64)
        done = 0
        for s in range(n):
            start = 0 if self.full_batch else s * self.batch  # full batch: every step takes all rows
            idx = order[start:start + self.batch]
            r = self._load(idx)
            rows[s] = r
            self.last_rows = r
            scale = 1.0 / r if self.mean_reduction else 1.0
            rng = np.random.default_rng([self.dropout_seed, self.opt.t])
            losses[s] = loss_and_gradient(self.net, self.be, self.buffers, r, self.grads, scale, True, rng)
            if not np.isfinite(losses[s]):
                break
            correct[s] = self._correct(r, idx)
            self.opt.update(self.be, self.params, self.grad, float(lrs[s]))
            done += 1
        return done, losses, correct, rows

    def gradient(self):
        """(summed loss, flat gradient of the summed loss) on the whole training data, dropout
        off, without changing θ or the optimiser."""
        n = self.X.shape[0]
        bufs = NetBuffers(self.net, self.be, n)
        bufs.X[...] = self.X
        bufs.Y[...] = self.Y
        with blas_limited():
            loss = loss_and_gradient(self.net, self.be, bufs, n, self.grads, 1.0)
        return loss, self.grad

    def record_layers(self, history, step, theta_before):
        """Per-layer statistics of the step just taken (its batch, the weights before it)."""
        layer_stats.record(self, history, step, theta_before)
