"""Whole-loop engines: one compiled call runs a chunk of training steps.

* ``CLoopEngine``: the loop in C (Cython backend, ``kernels/small_net_impl.h``): vectorised
  over samples with SIMD exp/tanh, BLAS for all but tiny layers, no JIT warm-up.
* ``LoopEngine``: the same loop compiled by Numba (``backends.numba_loop``).

Both keep activations feature-major (units × samples) in ``buffers`` and read the update rule,
its hyper-parameters, moments and step count from the optimiser object.
"""
from __future__ import annotations

import contextlib

import numpy as np

from .. import config
from .._threads import blas_on_one_thread, get_num_threads, usable_cores
from ..codes import COL_FAN_IN, COL_FAN_OUT
from ..sparse import loop_buffers, loop_first_layer
from .base import Engine


class LoopEngine(Engine):
    """Chunks of steps in one compiled call (Numba, serial, cached)."""

    name = "numba-loop"
    feature_major = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.layout = self.buffers.layout
        if self.full_batch:
            self.XT = np.ascontiguousarray(self.X.T)
        else:
            n_cols, n_out = self.X.shape[1], self.Y.shape[1]
            self.Xb = np.zeros(self.batch * n_cols, dtype=self.X.dtype)
            self.Yb = np.zeros(self.batch * n_out, dtype=self.Y.dtype)
            self.lb = np.zeros(self.batch, dtype=np.int64)

    def _rows(self, order, n):
        """Rows of each of the n steps of a chunk."""
        if self.full_batch:
            return np.full(n, self.X.shape[0])
        return np.minimum(self.batch, order.size - np.arange(n) * self.batch)

    def _finish(self, done, n, rows):
        # the failing step's rows are kept so that the caller can report its loss per row
        self.last_rows = int(rows[min(done, n - 1)]) if done < n else int(rows[max(done - 1, 0)])
        self.opt.t += done

    def run(self, order, lrs):
        """Run len(lrs) steps; batches come from ``order`` (sample indices, already positioned
        at this chunk's first batch). Returns (steps done, summed losses, correct counts, rows)."""
        from ..backends import numba_loop

        n = lrs.size
        losses = np.zeros(n)
        correct = np.zeros(n, dtype=np.int64)
        mu, b1, b2, eps = self.opt.hyper
        net, opt = self.net, self.opt
        if self.full_batch:
            done = numba_loop.train_full_batch(
                self.theta, self.grad, opt.m1, opt.m2, self.layout, self.XT, self.Y, self.labels,
                net.acts, net.ks, net.alphas, net.loss_code, 1.0 / self.X.shape[0] if self.mean_reduction else 1.0,
                opt.weight_decay, opt.kind, lrs, mu, b1, b2, eps, opt.t, self.buffers.work, losses, correct)
        else:
            done = numba_loop.train_minibatch(
                self.theta, self.grad, opt.m1, opt.m2, self.layout, self.X, self.Y, self.labels,
                order, self.batch, net.acts, net.ks, net.alphas, net.loss_code, self.mean_reduction,
                opt.weight_decay, opt.kind, lrs, mu, b1, b2, eps, opt.t, self.buffers.work, self.Xb, self.Yb,
                self.lb, losses, correct)
        rows = self._rows(order, n)
        self._finish(done, n, rows)
        return int(done), losses, correct, rows


class CLoopEngine(LoopEngine):
    """The same compiled whole loop, written in C.

    With plain SGD and no weight decay the C loop updates the weights of BLAS layers inside their
    gradient's GEMM (no separate pass over θ and grad); ``grad`` then recomputes those blocks for
    the last step when it is read. On sparse inputs (at most config.SPARSE_CLOOP_MAX_DENSITY
    nonzeros; ``sparse`` True) the first layer skips X's zeros: a full batch reads X in sparse rows
    built once here (``csr``), mini-batches compress their rows of X at each step."""

    name = "cython-loop"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ..backends import get_backend

        net, opt, dtype = self.net, self.opt, self.X.dtype
        if self.full_batch:
            self.YT = np.ascontiguousarray(self.Y.T)
            self.Xb = self.Yb = np.zeros(1, dtype=dtype)
            self.lb = np.zeros(1, dtype=np.int64)
        else:
            self.XT = self.YT = np.zeros((1, 1), dtype=dtype)
        self._fuse_sgd = config.CLOOP_FUSE_SGD and opt.name == "sgd" and opt.weight_decay == 0.0
        self._stale = None  # (order, step) of a last step whose fused weight gradients are not in grad
        self.sparse, self.csr = loop_first_layer(self.X, self.full_batch)
        if self.sparse:
            self.name += "+sparse"
        rows = self.X.shape[0] if self.full_batch else self.batch
        threads = get_num_threads() if config.SPARSE_CLOOP_THREADS is None else \
            min(get_num_threads(), config.SPARSE_CLOOP_THREADS)
        threads = min(threads, usable_cores())  # spinning helpers beyond the cores would wait on each other
        weights = self.layout[:, COL_FAN_IN] * self.layout[:, COL_FAN_OUT]
        if weights[0] < weights[1:].sum():  # the other layers' products need BLAS's threads more
            threads = 1
        sparse_arrays = None if not self.sparse else \
            loop_buffers(self.csr, self.X.shape[1], dtype, rows, int(self.layout[0, COL_FAN_OUT]), threads)
        # the sparse products' spinning helpers take the other cores while a run lasts: BLAS (the
        # other layers' products) then runs on one thread (its idle threads spin too, on the same cores)
        self._own_threads = self.sparse and threads > 1
        # the C loop's description of this run (kernels/_cykernels.pyx: SmallNet), built once: the
        # engine's arrays are updated in place, never replaced
        self._net = get_backend("cython").kernels.SmallNet(
            (self.layout, net.acts.astype(np.int32), net.ks, net.alphas, net.loss_code),
            (self.theta, self._grad, opt.m1, opt.m2, opt.kind, *opt.hyper, opt.weight_decay),
            (self.X, self.Y, self.labels, self.XT, self.YT, self.batch),
            (self.Xb, self.Yb, self.lb, self.buffers.work),
            self.mean_reduction, config.CLOOP_BLAS_MIN_WEIGHTS, self._fuse_sgd, sparse_arrays)

    @property
    def grad(self):
        """The gradient of the last step (its fused weight blocks recomputed on first read)."""
        if self._stale is not None:
            order, step = self._stale
            self._stale = None
            self._net.gradient(step, order)
        return self._grad

    @grad.setter
    def grad(self, value):
        if hasattr(self, "_net"):  # the C run writes into the array it was built with
            np.copyto(self._grad, value)
        else:
            self._grad = value
        self._stale = None

    def run(self, order, lrs):
        n = lrs.size
        losses = np.zeros(n)
        correct = np.zeros(n, dtype=np.int64)
        lrs = np.ascontiguousarray(lrs, dtype=np.float64)
        order_arg = None if self.full_batch else np.ascontiguousarray(order, dtype=np.int64)
        with blas_on_one_thread() if self._own_threads else contextlib.nullcontext():
            done = self._net.run(lrs, float(self.opt.t), losses, correct, order_arg)
        # a step with a non-finite loss is not fused (grad is complete); otherwise the last one was
        self._stale = (order_arg, done - 1) if self._fuse_sgd and done == n else None
        rows = self._rows(order_arg, n)
        self._finish(done, n, rows)
        return int(done), losses, correct, rows
