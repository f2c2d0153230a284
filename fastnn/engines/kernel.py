"""KernelEngine: one step at a time from Python, calling a backend's fused kernels per layer.

With ``row_block`` a step runs over blocks of that many rows: forward, loss and backward of one
block while its activations are still in cache, each block's weight gradient added into
``grad`` (BLAS beta = 1), then one update. The GEMMs keep their efficiency (K = row_block ≥
1024) and the epilogues run on cached data; the work buffers shrink from N rows to row_block
rows. On a backend whose kernels release the GIL the blocks are spread over worker threads,
each with single-threaded BLAS and its own buffers and gradient (summed at the end): no
hand-over of the cores between BLAS and OpenMP teams around every GEMM. Layer recording needs
every row's activations, so ``fit`` blocks only when it does not record.

When X is mostly zeros (image data) and the backend's sparse kernels win at its density (the
crossovers in ``fastnn.config``), the first layer skips the zeros: X in sparse rows is built once
per engine (``fastnn.sparse``), each full-batch row block keeps its transposed form for the weight
gradient, and mini-batches are row ranges of the sparse rows of each chunk's shuffled order.

``forward_rows`` is the inference pass shared with ``DeepMLP.forward``.
"""
from __future__ import annotations

import numpy as np

from .. import _threads, codes
from ..sparse import csr_rows, first_layer_rows
from .base import Buffers, Engine


def forward_rows(be, net, params, X, outs, output_act, check=False, sparse=None):
    """outs[l] := activations of layer l for the rows of X (preallocated, C-contiguous); the
    output layer applies ``output_act`` (a code). With ``check``, returns whether the first
    layer's X·W was all finite (and stops early when it was not). ``sparse``: the same rows as a
    ``fastnn.sparse.CSR``, which the first layer reads instead of X (X may then be None)."""
    inp = X
    for l in range(net.n_layers):
        act = output_act if l == net.n_layers - 1 else int(net.acts[l])
        W, b = params[f"W{l}"], params.get(params.theta, f"b{l}")
        if l == 0 and sparse is not None:
            ok = be.sparse_dense_forward(*sparse.parts, W, b, outs[l], act, net.ks[l], net.alphas[l], check=check)
        else:
            ok = be.dense_forward(inp, W, b, outs[l], act, net.ks[l], net.alphas[l], check=check and l == 0)
        if check and l == 0 and not ok:
            return False
        inp = outs[l]
    return True


class KernelEngine(Engine):
    def __init__(self, backend, net, params, optimizer, X, Y, labels, batch, mean_reduction,
                 share_deltas=False, row_block=None):
        rows = min(batch, X.shape[0])
        self.row_block = rows if (row_block is None or rows <= 2 * row_block) else int(row_block)
        blocked = self.row_block < rows
        super().__init__(net, params, optimizer, X, Y, labels, batch, mean_reduction,
                         share_deltas=share_deltas and not blocked, buffer_rows=self.row_block)
        self.be = backend
        self.name = f"{backend.NAME}-kernels"
        L = net.n_layers
        self.W = [params[f"W{l}"] for l in range(L)]
        self.b = [params.get(params.theta, f"b{l}") for l in range(L)]
        self.acts = [net.kernel_act(l) for l in range(L)]
        # the first layer on X's sparse rows, when that wins at X's density (fastnn.config)
        self.sparse = first_layer_rows(backend, X, self.row_block)
        self._transposed = {}  # (lo, hi) -> Xᵀ of a full-batch row block, built on first use
        if not self.full_batch:
            if self.sparse is None:
                self.Xb = np.zeros((self.batch, self.X.shape[1]), dtype=self.X.dtype)
            self.Yb = np.zeros((self.batch, self.Y.shape[1]), dtype=self.Y.dtype)
        if self.sparse is not None:
            self.name += "+sparse"
        n_blocks = -(-rows // self.row_block)
        self.threads = min(_threads.get_num_threads(), n_blocks) if (
            blocked and getattr(backend, "RELEASES_GIL", False)) else 1
        self._workers = [self._worker(self.buffers, self.grad)]
        self._worker_grads = []
        for _ in range(1, self.threads):
            grad = np.zeros_like(self.grad)
            self._worker_grads.append(grad)
            self._workers.append(self._worker(Buffers(net, params, self.row_block), grad))

    def _worker(self, buffers, grad):
        """(buffers, [dW_l], [db_l]) of one worker: its gradient seen per layer."""
        L, p = self.net.n_layers, self.params
        return buffers, [p.view(grad, f"W{l}") for l in range(L)], [p.get(grad, f"b{l}") for l in range(L)]

    def _sparse_block(self, Xs, lo, hi):
        """(rows lo..hi−1 of the sparse rows Xs, their Xᵀ parts or None); a full-batch step's
        blocks keep their Xᵀ (X does not change), a mini-batch's are transposed in the kernel."""
        block = Xs.block(lo, hi)
        if Xs is not self.sparse:
            return block, None
        xt = self._transposed.get((lo, hi))
        if xt is None:
            xt = self._transposed[(lo, hi)] = block.transpose().parts
        return block, xt

    def _block(self, Xb, Yb, rows, scale, accumulate, worker=0, Xs=None):
        """Forward, loss and backward of one block of rows; adds its gradient into the worker's
        gradient (or overwrites it for its first block). Returns the block's summed loss.
        ``Xs``: (the block's sparse rows, their Xᵀ parts or None) for a first layer that skips
        zeros (Xb is then not read)."""
        be, net, L = self.be, self.net, self.net.n_layers
        buf, dWs, dbs = self._workers[worker]
        forward_rows(be, net, self.params, Xb, [buf.A(l, rows) for l in range(L)], self.acts[L - 1],
                     sparse=None if Xs is None else Xs[0])
        A_out, D_out = buf.A(L - 1, rows), buf.D(L - 1, rows)
        if net.loss_code == codes.LOSS_SOFTMAX_CE:
            loss = be.softmax_cross_entropy(A_out, Yb, D_out, scale)
        elif net.loss_code == codes.LOSS_SIGMOID_BCE:
            loss = be.sigmoid_bce(A_out, Yb, D_out, net.ks[L - 1], scale)
        else:
            loss = be.mse(A_out, Yb, D_out, int(net.acts[L - 1]), net.ks[L - 1], net.alphas[L - 1], scale)
        if not np.isfinite(loss):
            return loss
        for l in range(L - 1, -1, -1):
            if l == 0 and Xs is not None:
                be.sparse_weight_grad(*Xs[0].parts, buf.D(0, rows), dWs[0], dbs[0], 1.0, accumulate, xt=Xs[1])
            else:
                be.weight_grad(Xb if l == 0 else buf.A(l - 1, rows), buf.D(l, rows), dWs[l], dbs[l], 1.0, accumulate)
            if l > 0:
                be.delta_backward(buf.D(l, rows), self.W[l], buf.A(l - 1, rows), buf.D(l - 1, rows),
                                  int(net.acts[l - 1]), net.ks[l - 1], net.alphas[l - 1])
        return loss

    def _step(self, Xb, Yb, rows, lr, labels=None, update=True, Xs=None):
        """One optimiser step on rows of (Xb, Yb) (or Xs, the same rows in sparse form), block by
        block. Returns (summed loss, correct predictions before the update); the update is
        skipped when the loss is not finite (or not asked for: then only the loss and grad are
        computed)."""
        scale = 1.0 / rows if self.mean_reduction else 1.0
        loss, correct = self._run_blocks(Xb, Yb, rows, scale, labels, Xs)
        if np.isfinite(loss) and update:
            self.opt.update(self.be, self.params, self.grad, lr)
        return loss, correct

    def _run_blocks(self, Xb, Yb, rows, scale, labels, Xs=None):
        """Every block of one step, spread over the worker threads (in this thread when there is
        one); a worker stops at its first non-finite block. Returns (summed loss, correct)."""
        losses = [0.0] * self.threads
        corrects = [0] * self.threads
        started = [False] * self.threads

        def work(w, lo, hi):
            if not np.isfinite(losses[w]):
                return
            losses[w] += self._block(None if Xb is None else Xb[lo:hi], Yb[lo:hi], hi - lo, scale, started[w],
                                     worker=w, Xs=None if Xs is None else self._sparse_block(Xs, lo, hi))
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
        A_out = self._workers[worker][0].A(self.net.n_layers - 1, rows)
        pred = (A_out[:, 0] > 0.5).astype(np.int64) if A_out.shape[1] == 1 else A_out.argmax(axis=1)
        return int(np.count_nonzero(pred == labels))

    def gradient(self):
        """(summed loss, gradient) on all of X, without an update."""
        loss, _ = self._step(self.X, self.Y, self.X.shape[0], 0.0, update=False, Xs=self.sparse)
        return loss, self.grad

    def run(self, order, lrs):
        n = lrs.size
        losses = np.zeros(n)
        correct = np.zeros(n, dtype=np.int64)
        rows_used = np.zeros(n, dtype=np.int64)
        done = 0
        Xs = self.sparse
        if Xs is not None and not self.full_batch:  # this chunk's batches: row ranges of one gather
            Xs = csr_rows(self.sparse, order[:n * self.batch])
        for s in range(n):
            if self.full_batch:
                Xb, Yb, lb, rows, Xs_step = self.X, self.Y, self.labels, self.X.shape[0], Xs
            else:
                idx = order[s * self.batch:(s + 1) * self.batch]
                rows = idx.size
                Yb = self.Yb[:rows]
                if Xs is None:
                    Xb, Xs_step = self.Xb[:rows], None
                    np.take(self.X, idx, axis=0, out=Xb)
                else:
                    Xb, Xs_step = None, Xs.block(s * self.batch, s * self.batch + rows)
                np.take(self.Y, idx, axis=0, out=Yb)
                lb = self.labels[idx] if self.labels.size else self.labels
            rows_used[s] = rows
            self.last_rows = min(rows, self.row_block)
            losses[s], correct[s] = self._step(Xb, Yb, rows, float(lrs[s]), lb, Xs=Xs_step)
            if not np.isfinite(losses[s]):
                break
            done += 1
        return done, losses, correct, rows_used
