"""The ways a training step is executed, behind one interface.

* ``CLoopEngine``: the whole training loop in C (Cython backend, ``kernels/small_net_impl.h``):
  one call runs a chunk of steps, BLAS for all but tiny layers, plain SGD fused into the
  weight-gradient GEMM. ``auto`` uses it for every step up to ``CLOOP_MAX_WORK`` multiply-adds
  (tiny nets, mini-batches, per-sample SGD, moderate full batches).
* ``LoopEngine``: the same loop compiled by Numba (``backends.numba_loop``), for
  ``backend="numba"`` (and "auto" when the Cython extension is missing).
* ``KernelEngine``: a Python loop calling one backend's kernels (numpy, numba or cython)
  per layer, in blocks of rows. Used for large full-batch steps, where the GEMMs dominate and
  row blocks keep the epilogues in cache and the memory small, and for ``backend="numpy"``.

Both work on the same flat buffers (``theta``, ``grad``, optimiser moments ``m1``/``m2``,
and a ``work`` vector holding each layer's activations A_l and deltas D_l), so the
statistics code reads them the same way whichever engine ran the step.
"""
from __future__ import annotations

import numpy as np

from . import activations as act_mod


FAN_IN, FAN_OUT, W_OFF, B_OFF, A_OFF, D_OFF = range(6)
MSE, SOFTMAX_CE, SIGMOID_BCE = 0, 1, 2
OPTIMIZERS = {"sgd": 0, "momentum": 1, "adam": 2}

# Numba backend (forced, or "auto" without the Cython one): full-batch steps with more
# multiply-adds than this run through the kernel engine (parallel epilogues); smaller ones and all
# mini-batches through the Numba loop.
LOOP_MAX_WORK = 20_000_000
# Steps (full batch or mini-batch) with at most this many multiply-adds run in the C loop
# (BLAS for the products of all but tiny layers, see CLOOP_BLAS_MIN_WEIGHTS); larger ones in the
# kernel engine (row blocks, parallel epilogues, less memory). Measured per step (plain SGD,
# float32, 2 threads, shuffled batches), in µs:  multiply-adds   C loop   Numba loop   Cython kernels
#   2-3-2 tanh, full batch N=200 (W3)                2.4e3       1.1         16           49
#   2-16-16-2 tanh, batch 32                         1.0e4       3.6         22           53
#   2-16-16-2 tanh, full batch N=1000                3.2e5        42        545          169
#   20-20-20-20-2 relu, batch 1                      1.2e3       1.7        9.8           62
#   20-20-20-20-2 relu, batch 32                     4.0e4       5.1         25           74
#   20-20-20-20-2 relu, full batch N=10000           1.2e7      1677       3882         2427
#   100-100-10 sigmoid, batch 1                      1.1e4       3.2         39           42
#   784-300-10 sigmoid, batch 1 (W4)                 2.4e5        40        129          150
#   784-300-10 sigmoid, batch 64 (W2)                1.5e7       448        753          704
#   784-300-10 sigmoid, batch 1024                   2.4e8      5076      14093         6112
#   784-300-10 sigmoid, full batch N=4000            9.5e8     18489      25778        20355
#   784-300-10 sigmoid, full batch N=10000           2.4e9     52574      70942        52272
#   784-256-128-10 sigmoid, full batch N=20000       4.7e9    102817     145990       106785
# The C loop is fastest up to ≈ 2e9 multiply-adds per step and on a par beyond; the limit at 1e9
# leaves the big full-batch steps (W1: 1.4e10) to the kernel engine, whose row blocks need far
# less memory: the C loop holds every layer's activations and deltas for all rows of a step, so
# it also stops at CLOOP_MAX_UNITS rows × units (2·8e6 values: 64 MB in float32; thin nets on many
# rows, e.g. 2-16-16-2 on 1e6 rows, would otherwise take 0.5 GB in float64).
CLOOP_MAX_WORK = 1_000_000_000
CLOOP_MAX_UNITS = 8_000_000
# In the C loop, the products of layers with at least this many weights (fan_in·fan_out) go to
# BLAS, those of smaller layers to hand loops (−1: never BLAS; measurements in small_net_impl.h).
CLOOP_BLAS_MIN_WEIGHTS = 32
# Plain SGD without weight decay: the C loop updates BLAS layers' weights inside their gradient's
# GEMM (W −= lr·X·Dᵀ, BLAS beta = 1) instead of a separate pass over θ and grad (W2: −60 µs/step).
CLOOP_FUSE_SGD = True
# Kernel-engine steps over more than 2·ROW_BLOCK rows run block by block (see KernelEngine).
ROW_BLOCK = 2048


class Buffers:
    """Flat work buffers for a model and a number of rows per step."""

    def __init__(self, model, rows: int, feature_major: bool = False, share_deltas: bool = False,
                 scratch: int = 0):
        """share_deltas: hidden layers' deltas overwrite their activations (the backward pass
        no longer needs A_l once D_l exists), halving the memory of large full-batch steps."""
        self.rows = rows
        self.feature_major = feature_major
        L = len(model.layer_dims) - 1
        self.layout = model._layout.copy()
        off = 0
        for l in range(L):
            fo = int(self.layout[l, FAN_OUT])
            self.layout[l, A_OFF] = off
            off += rows * fo
            if share_deltas and l < L - 1:
                self.layout[l, D_OFF] = self.layout[l, A_OFF]
            else:
                self.layout[l, D_OFF] = off
                off += rows * fo
        self.work = np.zeros(off + scratch, dtype=model.dtype)

    def _block(self, l, which, rows):
        rows = self.rows if rows is None else rows
        fo = int(self.layout[l, FAN_OUT])
        o = int(self.layout[l, which])
        block = self.work[o:o + rows * fo]
        return block.reshape(fo, rows).T if self.feature_major else block.reshape(rows, fo)

    def A(self, l, rows=None):
        """Activations of layer l as (rows, units) (a transposed view for feature-major buffers)."""
        return self._block(l, A_OFF, rows)

    def D(self, l, rows=None):
        """Deltas dL/dz of layer l as (rows, units)."""
        return self._block(l, D_OFF, rows)


class _EngineBase:
    feature_major = False
    def __init__(self, model, X, Y, labels, batch, optimizer, opt_params, weight_decay, mean_reduction,
                 share_deltas=False, buffer_rows=None):
        self.model = model
        self.X, self.Y, self.labels = X, Y, labels
        self.batch = batch
        self.full_batch = batch >= X.shape[0]
        self.buffers = Buffers(model, batch if buffer_rows is None else buffer_rows, feature_major=self.feature_major,
                               share_deltas=share_deltas and not self.feature_major,
                               scratch=2 * batch if self.feature_major else 0)
        self.theta = model._theta
        self.grad = np.zeros_like(self.theta)
        self.opt = OPTIMIZERS[optimizer]
        self.opt_params = opt_params
        self.m1, self.m2 = model._optimizer_state(optimizer)
        self.wd = float(weight_decay)
        self.mean_reduction = mean_reduction
        self.loss_kind = model._loss_kind
        self.acts = np.array([a.code for a in model.activations], dtype=np.int64)
        self.ks = np.array([a.k for a in model.activations], dtype=np.float64)
        self.alphas = np.array([a.alpha for a in model.activations], dtype=np.float64)
        self.last_rows = batch

    @property
    def t(self):
        return self.model._opt_t

    def _advance_t(self, n):
        self.model._opt_t += n


class LoopEngine(_EngineBase):
    """Chunks of steps in one compiled call (Numba, serial, cached)."""

    name = "numba-loop"
    feature_major = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if type(self) is LoopEngine:
            from .backends import numba_loop

            self._nl = numba_loop
        if self.full_batch:
            self.XT = np.ascontiguousarray(self.X.T)
        else:
            n_cols, n_out = self.X.shape[1], self.Y.shape[1]
            self.Xb = np.zeros(self.batch * n_cols, dtype=self.X.dtype)
            self.Yb = np.zeros(self.batch * n_out, dtype=self.Y.dtype)
            self.lb = np.zeros(self.batch, dtype=np.int64)

    def run(self, order, lrs):
        """Run len(lrs) steps; batches come from ``order`` (sample indices, already positioned
        at this chunk's first batch). Returns (steps done, summed losses, correct counts, rows)."""
        n = lrs.size
        losses = np.zeros(n)
        correct = np.zeros(n, dtype=np.int64)
        mu, b1, b2, eps = self.opt_params
        if self.full_batch:
            done = self._nl.train_full_batch(
                self.theta, self.grad, self.m1, self.m2, self.buffers.layout, self.XT, self.Y, self.labels,
                self.acts, self.ks, self.alphas, self.loss_kind, 1.0 / self.X.shape[0] if self.mean_reduction else 1.0,
                self.wd, self.opt, lrs, mu, b1, b2, eps, self.t, self.buffers.work, losses, correct)
            rows = np.full(n, self.X.shape[0])
        else:
            done = self._nl.train_minibatch(
                self.theta, self.grad, self.m1, self.m2, self.buffers.layout, self.X, self.Y, self.labels,
                order, self.batch, self.acts, self.ks, self.alphas, self.loss_kind, self.mean_reduction,
                self.wd, self.opt, lrs, mu, b1, b2, eps, self.t, self.buffers.work, self.Xb, self.Yb, self.lb,
                losses, correct)
            starts = np.arange(n) * self.batch
            rows = np.minimum(self.batch, order.size - starts)
        self.last_rows = int(rows[max(done - 1, 0)]) if done else int(rows[0])
        if done < n:  # the failing step's loss is kept so the caller can report it
            self.last_rows = int(rows[done])
        self._advance_t(done)
        return int(done), losses, correct, rows


class CLoopEngine(LoopEngine):
    """The same compiled whole loop, written in C (Cython backend, kernels/small_net_impl.h):
    vectorised over samples with SIMD exp/tanh, BLAS for all but tiny layers, no JIT warm-up.

    With plain SGD and no weight decay the C loop updates the weights of BLAS layers inside their
    gradient's GEMM (no separate pass over θ and grad); ``grad`` then recomputes those blocks for
    the last step when it is read."""

    name = "cython-loop"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .backends import get_backend

        self._ck = get_backend("cython").kernels
        self.acts32 = self.acts.astype(np.int32)
        if self.full_batch:
            self.YT = np.ascontiguousarray(self.Y.T)
            self.Xb = self.Yb = np.zeros(1, dtype=self.X.dtype)
            self.lb = np.zeros(1, dtype=np.int64)
        else:
            self.XT = self.YT = np.zeros((1, 1), dtype=self.X.dtype)
        self._no_order = np.zeros(0, dtype=np.int64)
        self._fuse_sgd = CLOOP_FUSE_SGD and self.opt == OPTIMIZERS["sgd"] and self.wd == 0.0
        self._stale = None  # (order, step) of a last step whose fused weight gradients are not in grad

    @property
    def grad(self):
        """The gradient of the last step (its fused weight blocks recomputed on first read)."""
        if self._stale is not None:
            order, step = self._stale
            self._stale = None
            self._ck.small_net_gradient(self.theta, self._grad, self.buffers.layout, self.XT, self.X, order,
                                        self.batch, self.Xb, self.buffers.work, step, CLOOP_BLAS_MIN_WEIGHTS)
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value
        self._stale = None

    def run(self, order, lrs):
        n = lrs.size
        losses = np.zeros(n)
        correct = np.zeros(n, dtype=np.int64)
        mu, b1, b2, eps = self.opt_params
        lrs = np.ascontiguousarray(lrs, dtype=np.float64)
        if self.full_batch:
            order_arg, rows = self._no_order, np.full(n, self.X.shape[0])
        else:
            order_arg = np.ascontiguousarray(order, dtype=np.int64)
            rows = np.minimum(self.batch, order_arg.size - np.arange(n) * self.batch)
        done = self._ck.train_small(
            self.theta, self._grad, self.m1, self.m2, self.buffers.layout, self.XT, self.YT, self.labels,
            self.X, self.Y, order_arg, self.batch, self.Xb, self.Yb, self.lb, self.acts32, self.ks, self.alphas,
            self.loss_kind, self.mean_reduction, self.wd, self.opt, lrs, mu, b1, b2, eps, float(self.t),
            self.buffers.work, losses, correct, CLOOP_BLAS_MIN_WEIGHTS, self._fuse_sgd)
        # a step with a non-finite loss is not fused (grad is complete); otherwise the last one was
        self._stale = (order_arg, done - 1) if self._fuse_sgd and done == n else None
        self.last_rows = int(rows[min(done, n - 1)])
        self._advance_t(done)
        return int(done), losses, correct, rows


class KernelEngine(_EngineBase):
    """One step at a time from Python, calling a backend's fused kernels per layer.

    With ``row_block`` a step runs over blocks of that many rows: forward, loss and
    backward of one block while its activations are still in cache, each block's weight
    gradient added into ``grad`` (BLAS beta = 1), then one update. The GEMMs keep their
    efficiency (K = row_block ≥ 1024) and the epilogues run on cached data; the work
    buffers shrink from N rows to row_block rows. Layer recording needs every row's
    activations, so ``fit`` blocks only when it does not record.
    """

    def __init__(self, backend, *args, share_deltas=False, row_block=None, **kwargs):
        model, X, batch = args[0], args[1], args[4]
        rows = min(batch, X.shape[0])
        self.row_block = rows if (row_block is None or rows <= 2 * row_block) else int(row_block)
        blocked = self.row_block < rows
        super().__init__(*args, share_deltas=share_deltas and not blocked, buffer_rows=self.row_block, **kwargs)
        self.be = backend
        self.name = f"{backend.NAME}-kernels"
        L = len(model.layer_dims) - 1
        self.W = [model.weights[l] for l in range(L)]
        self.b = [model.biases[l] for l in range(L)]
        self.dW = [model._param_view(self.grad, l, "W") for l in range(L)]
        self.db = [model._param_view(self.grad, l, "b") for l in range(L)]
        self.segments = model._segments()  # (offset, size, is_weight)
        if not self.full_batch:
            self.Xb = np.zeros((self.batch, self.X.shape[1]), dtype=self.X.dtype)
            self.Yb = np.zeros((self.batch, self.Y.shape[1]), dtype=self.Y.dtype)
        # block-parallel steps: each worker thread takes whole blocks with single-threaded BLAS
        # and kernels (no hand-over of the cores between BLAS and OpenMP teams around every
        # GEMM), into its own buffers and gradient; the gradients are summed at the end
        from . import _threads

        n_blocks = -(-rows // self.row_block)
        self.threads = min(_threads.get_num_threads(), n_blocks) if (
            blocked and getattr(backend, "RELEASES_GIL", False)) else 1
        self._workers = [(self.buffers, self.dW, self.db)]
        self._worker_grads = []
        for _ in range(1, self.threads):
            grad = np.zeros_like(self.grad)
            self._worker_grads.append(grad)
            self._workers.append((Buffers(model, self.row_block), [model._param_view(grad, l, "W") for l in range(L)],
                                  [model._param_view(grad, l, "b") for l in range(L)]))

    def _block(self, Xb, Yb, rows, scale, accumulate, worker=0):
        """Forward, loss and backward of one block of rows; adds its gradient into the worker's
        gradient (or overwrites it for its first block). Returns the block's summed loss."""
        be, L = self.be, len(self.W)
        buf, dWs, dbs = self._workers[worker]
        out_linear = self.loss_kind != MSE
        for l in range(L):
            Xin = Xb if l == 0 else buf.A(l - 1, rows)
            act = act_mod.LINEAR if (out_linear and l == L - 1) else int(self.acts[l])
            be.dense_forward(Xin, self.W[l], self.b[l], buf.A(l, rows), act, self.ks[l], self.alphas[l])
        A_out, D_out = buf.A(L - 1, rows), buf.D(L - 1, rows)
        if self.loss_kind == SOFTMAX_CE:
            loss = be.softmax_cross_entropy(A_out, Yb, D_out, scale)
        elif self.loss_kind == SIGMOID_BCE:
            loss = be.sigmoid_bce(A_out, Yb, D_out, self.ks[L - 1], scale)
        else:
            loss = be.mse(A_out, Yb, D_out, int(self.acts[L - 1]), self.ks[L - 1], self.alphas[L - 1], scale)
        if not np.isfinite(loss):
            return loss
        for l in range(L - 1, -1, -1):
            Xin = Xb if l == 0 else buf.A(l - 1, rows)
            be.weight_grad(Xin, buf.D(l, rows), dWs[l], dbs[l], 1.0, accumulate)
            if l > 0:
                be.delta_backward(buf.D(l, rows), self.W[l], buf.A(l - 1, rows), buf.D(l - 1, rows),
                                  int(self.acts[l - 1]), self.ks[l - 1], self.alphas[l - 1])
        return loss

    def _update(self, lr, t):
        be = self.be
        mu, b1, b2, eps = self.opt_params
        for off, size, is_weight in self.segments:
            sl = slice(off, off + size)
            wd = self.wd if is_weight else 0.0
            if self.opt == 0:
                be.sgd_update(self.theta[sl], self.grad[sl], lr, wd)
            elif self.opt == 1:
                be.momentum_update(self.theta[sl], self.grad[sl], self.m1[sl], lr, mu, wd)
            else:
                be.adam_update(self.theta[sl], self.grad[sl], self.m1[sl], self.m2[sl], lr, b1, b2, eps, t, wd)

    def _step(self, Xb, Yb, rows, lr, t, labels=None, update=True):
        """One optimiser step on rows of (Xb, Yb), block by block. Returns (summed loss,
        correct predictions before the update); the update is skipped when the loss is not
        finite (or not asked for: then only the loss and grad are computed)."""
        scale = 1.0 / rows if self.mean_reduction else 1.0
        loss, correct = self._run_blocks(Xb, Yb, rows, scale, labels)
        if np.isfinite(loss) and update:
            self._update(lr, t)
        return loss, correct

    def _run_blocks(self, Xb, Yb, rows, scale, labels):
        """Every block of one step, spread over the worker threads (in this thread when there is
        one); a worker stops at its first non-finite block. Returns (summed loss, correct)."""
        from . import _threads

        losses = [0.0] * self.threads
        corrects = [0] * self.threads
        started = [False] * self.threads

        def work(w, lo, hi):
            if not np.isfinite(losses[w]):
                return
            losses[w] += self._block(Xb[lo:hi], Yb[lo:hi], hi - lo, scale, started[w], worker=w)
            started[w] = True
            if labels is not None:
                corrects[w] += self._correct(hi - lo, labels[lo:hi], worker=w)

        _threads.run_row_blocks(work, rows, self.row_block, self.threads)
        for grad, took_blocks in zip(self._worker_grads, started[1:]):  # a short last batch may
            if took_blocks:                                              # leave a worker idle
                self.grad += grad
        return float(sum(losses)), int(sum(corrects))

    def _correct(self, rows, labels, worker=0):
        if labels.size == 0:
            return 0
        A_out = self._workers[worker][0].A(len(self.W) - 1, rows)
        pred = (A_out[:, 0] > 0.5).astype(np.int64) if A_out.shape[1] == 1 else A_out.argmax(axis=1)
        return int(np.count_nonzero(pred == labels))

    def run(self, order, lrs):
        n = lrs.size
        losses = np.zeros(n)
        correct = np.zeros(n, dtype=np.int64)
        rows_used = np.zeros(n, dtype=np.int64)
        done = 0
        for s in range(n):
            if self.full_batch:
                Xb, Yb, lb, rows = self.X, self.Y, self.labels, self.X.shape[0]
            else:
                idx = order[s * self.batch:(s + 1) * self.batch]
                rows = idx.size
                Xb, Yb = self.Xb[:rows], self.Yb[:rows]
                np.take(self.X, idx, axis=0, out=Xb)
                np.take(self.Y, idx, axis=0, out=Yb)
                lb = self.labels[idx] if self.labels.size else self.labels
            rows_used[s] = rows
            self.last_rows = min(rows, self.row_block)
            losses[s], correct[s] = self._step(Xb, Yb, rows, float(lrs[s]), self.t + 1, lb)
            if not np.isfinite(losses[s]):
                break
            self._advance_t(1)
            done += 1
        return done, losses, correct, rows_used


def choose_engine(backend_name: str, rows: int, full_batch: bool, layer_dims) -> tuple:
    """(engine kind, backend module or None) for a forced or "auto" backend.

    kinds: "cloop" (C whole loop, Cython backend), "loop" (Numba whole loop), "kernels".
    "auto" uses the C loop whenever the Cython backend is there (thresholds measured above);
    the Numba loop only without it, or when backend="numba" is forced."""
    from .backends import get_backend

    work = rows * sum(a * b for a, b in zip(layer_dims[:-1], layer_dims[1:]))
    in_cloop = work <= CLOOP_MAX_WORK and rows * sum(layer_dims[1:]) <= CLOOP_MAX_UNITS
    small = (not full_batch) or work <= LOOP_MAX_WORK
    if backend_name == "numpy":
        return "kernels", get_backend("numpy")
    if backend_name == "cython":
        return ("cloop", None) if in_cloop else ("kernels", get_backend("cython"))
    if backend_name == "numba":
        return ("loop", None) if small else ("kernels", get_backend("numba"))
    available = {}
    for name in ("cython", "numba", "numpy"):
        try:
            available[name] = get_backend(name)
        except ImportError:
            pass
    if "cython" in available:
        return ("cloop", None) if in_cloop else ("kernels", available["cython"])
    if small and "numba" in available:
        return "loop", None
    for name in ("numba", "numpy"):
        if name in available:
            return "kernels", available[name]
    raise ImportError("no fastnn backend could be imported")  # pragma: no cover
