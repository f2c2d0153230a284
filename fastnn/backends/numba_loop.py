"""Compiled whole-loop training (Numba, serial, cached): one Python call runs many steps.

For small networks and mini-batches the cost of a step is Python dispatch, not
arithmetic. Here the whole loop — forward, loss, backward, optimiser — is one
``@njit`` function over a *flat* parameter vector, so thousands of steps run
without returning to Python. Products of tiny matrices are written as loops (BLAS
call overhead would dominate); larger ones go to BLAS through ``np.dot``.

Activations are kept *feature-major* (units × samples) so that every inner loop runs
over contiguous samples and vectorises; the shared row kernels see them through a
transposed view.

Flat layouts (built by ``fastnn.engines.Buffers``; columns named in ``fastnn.codes``):
  theta/grad : all parameters; layer l's W (fan_in×fan_out, row-major) at layout[l, W_OFF],
               its bias at layout[l, B_OFF] (−1: no bias)
  work       : per layer an activation block A_lᵀ and a delta block D_lᵀ, each fan_out×rows,
               at layout[l, A_OFF] and layout[l, D_OFF]
Loss kinds (fastnn.codes): MSE on f(z), softmax + cross-entropy, sigmoid + binary CE
(for kinds 1 and 2 the output layer is computed linear and the loss applies softmax/σ).
"""
import numpy as np
from numba import njit

from ._numba_elementwise import (FASTMATH, LINEAR, activate, adam_step, derivative, momentum_step,
                                 mse_row, sgd_step, sigmoid_bce_row, softmax_cross_entropy_row)

from ..codes import COL_A_OFF as A_OFF
from ..codes import COL_B_OFF as B_OFF
from ..codes import COL_D_OFF as D_OFF
from ..codes import COL_FAN_IN as FAN_IN
from ..codes import COL_FAN_OUT as FAN_OUT
from ..codes import COL_W_OFF as W_OFF
from ..codes import LOSS_MSE as MSE
from ..codes import LOSS_SIGMOID_BCE as SIGMOID_BCE
from ..codes import LOSS_SOFTMAX_CE as SOFTMAX_CE
from ..codes import OPT_MOMENTUM as MOMENTUM
from ..codes import OPT_SGD as SGD
from ..config import NUMBA_LOOP_BLAS_MIN_WORK as BLAS_MIN_WORK  # multiply-adds above which a product goes to BLAS


@njit(cache=True, inline="always")
def _view(buf, off, rows, cols):
    """A rows×cols row-major view of buf starting at off"""
    return buf[off:off + rows * cols].reshape((rows, cols))


@njit(cache=True, fastmath=FASTMATH)
def _dense_forward_t(W, b, has_bias, Xin, Z, act, k, alpha):
    """Zᵀ := f(Wᵀ·Xinᵀ + b), everything feature-major (features × samples)"""
    fi, fo = W.shape
    n = Xin.shape[1]
    if fi * fo * n >= BLAS_MIN_WORK:
        np.dot(W.T, Xin, Z)
        for j in range(fo):
            bj = b[j] if has_bias else 0.0
            for i in range(n):
                Z[j, i] = activate(Z[j, i] + bj, act, k, alpha)
        return
    for j in range(fo):
        bj = b[j] if has_bias else 0.0
        for i in range(n):
            Z[j, i] = bj
        for p in range(fi):
            w = W[p, j]
            for i in range(n):
                Z[j, i] += w * Xin[p, i]
        for i in range(n):
            Z[j, i] = activate(Z[j, i], act, k, alpha)


@njit(cache=True, fastmath=FASTMATH)
def _weight_grad_t(Xin, D, dW, db, has_bias, W, wd):
    """dW := Xinᵀ·D + wd·W; db := Σ_samples D (feature-major Xin, D)"""
    fi, fo = dW.shape
    n = Xin.shape[1]
    if fi * fo * n >= BLAS_MIN_WORK:
        np.dot(Xin, D.T, dW)
    else:
        for p in range(fi):
            for j in range(fo):
                s = 0.0
                for i in range(n):
                    s += Xin[p, i] * D[j, i]
                dW[p, j] = s
    if wd != 0.0:
        for p in range(fi):
            for j in range(fo):
                dW[p, j] += wd * W[p, j]
    if has_bias:
        for j in range(fo):
            s = 0.0
            for i in range(n):
                s += D[j, i]
            db[j] = s


@njit(cache=True, fastmath=FASTMATH)
def _delta_backward_t(W, D, Aprev, Dprev, act, k, alpha):
    """Dprevᵀ := (W·Dᵀ) ⊙ f'(Aprevᵀ), feature-major"""
    fi, fo = W.shape
    n = D.shape[1]
    if fi * fo * n >= BLAS_MIN_WORK:
        np.dot(W, D, Dprev)
    else:
        for p in range(fi):
            for i in range(n):
                Dprev[p, i] = 0.0
            for j in range(fo):
                w = W[p, j]
                for i in range(n):
                    Dprev[p, i] += w * D[j, i]
    for p in range(fi):
        for i in range(n):
            Dprev[p, i] *= derivative(Aprev[p, i], act, k, alpha)


@njit(cache=True, fastmath=FASTMATH)
def forward(theta, layout, XT, acts, ks, alphas, out_linear, work, rows):
    """A_lᵀ := f_l(W_lᵀ·A_{l−1}ᵀ + b_l) for every layer (output left linear if out_linear)"""
    L = layout.shape[0]
    for l in range(L):
        fi, fo = layout[l, FAN_IN], layout[l, FAN_OUT]
        Xin = XT if l == 0 else _view(work, layout[l - 1, A_OFF], fi, rows)
        W = _view(theta, layout[l, W_OFF], fi, fo)
        Z = _view(work, layout[l, A_OFF], fo, rows)
        act = LINEAR if (out_linear and l == L - 1) else acts[l]
        bo = layout[l, B_OFF]
        has_bias = bo >= 0
        b = theta[bo:bo + fo] if has_bias else theta[0:1]
        _dense_forward_t(W, b, has_bias, Xin, Z, act, ks[l], alphas[l])


@njit(cache=True, fastmath=FASTMATH)
def loss_and_grad(theta, grad, layout, XT, Y, acts, ks, alphas, loss_kind, scale, wd, work, rows):
    """Forward, loss and the full gradient into grad (L2 wd·W added to weight gradients).
    XT and the work blocks are feature-major; Y is samples × outputs. Returns the summed loss."""
    L = layout.shape[0]
    forward(theta, layout, XT, acts, ks, alphas, loss_kind != MSE, work, rows)
    lo = L - 1
    fo = layout[lo, FAN_OUT]
    A = _view(work, layout[lo, A_OFF], fo, rows).T  # the row kernels index [sample, unit]
    D = _view(work, layout[lo, D_OFF], fo, rows).T
    loss = 0.0
    for i in range(rows):
        if loss_kind == SOFTMAX_CE:
            loss += softmax_cross_entropy_row(A, Y, D, i, scale)
        elif loss_kind == SIGMOID_BCE:
            loss += sigmoid_bce_row(A, Y, D, i, ks[lo], scale)
        else:
            loss += mse_row(A, Y, D, i, acts[lo], ks[lo], alphas[lo], scale)
    for l in range(L - 1, -1, -1):
        fi, fo = layout[l, FAN_IN], layout[l, FAN_OUT]
        Xin = XT if l == 0 else _view(work, layout[l - 1, A_OFF], fi, rows)
        D = _view(work, layout[l, D_OFF], fo, rows)
        W = _view(theta, layout[l, W_OFF], fi, fo)
        dW = _view(grad, layout[l, W_OFF], fi, fo)
        bo = layout[l, B_OFF]
        has_bias = bo >= 0
        db = grad[bo:bo + fo] if has_bias else grad[0:1]
        _weight_grad_t(Xin, D, dW, db, has_bias, W, wd)
        if l > 0:
            Dprev = _view(work, layout[l - 1, D_OFF], fi, rows)
            Aprev = _view(work, layout[l - 1, A_OFF], fi, rows)
            _delta_backward_t(W, D, Aprev, Dprev, acts[l - 1], ks[l - 1], alphas[l - 1])
    return loss


@njit(cache=True, fastmath=FASTMATH)
def apply_update(theta, grad, m1, m2, opt, lr, mu, b1, b2, eps, t):
    """θ += Δ for the whole flat vector (optimiser opt); returns nothing"""
    if opt == SGD:
        for i in range(theta.size):
            theta[i] += sgd_step(theta[i], grad[i], lr, 0.0)
    elif opt == MOMENTUM:
        for i in range(theta.size):
            v = momentum_step(theta[i], grad[i], m1[i], lr, mu, 0.0)
            m1[i] = v
            theta[i] += v
    else:
        c1 = 1.0 - b1 ** t
        c2 = 1.0 - b2 ** t
        for i in range(theta.size):
            m, v, step = adam_step(theta[i], grad[i], m1[i], m2[i], lr, b1, b2, eps, c1, c2, 0.0)
            m1[i] = m
            m2[i] = v
            theta[i] += step


@njit(cache=True)
def count_correct(work, layout, labels, rows):
    """Number of rows whose predicted class (argmax; one output unit: a > 0.5) equals the label"""
    lo = layout.shape[0] - 1
    fo = layout[lo, FAN_OUT]
    A = _view(work, layout[lo, A_OFF], fo, rows).T
    correct = 0
    if fo == 1:
        for i in range(rows):
            if (1 if A[i, 0] > 0.5 else 0) == labels[i]:
                correct += 1
        return correct
    for i in range(rows):
        best = 0
        for j in range(1, fo):
            if A[i, j] > A[i, best]:
                best = j
        if best == labels[i]:
            correct += 1
    return correct


@njit(cache=True, fastmath=FASTMATH)
def train_full_batch(theta, grad, m1, m2, layout, XT, Y, labels, acts, ks, alphas, loss_kind,
                     scale, wd, opt, lrs, mu, b1, b2, eps, t0, work, losses, correct):
    """Run len(lrs) full-batch steps. losses[s], correct[s] get each step's summed loss and
    correct count (measured before that step's update). Returns the number of steps done;
    stops early (without updating) at the first non-finite loss."""
    rows = XT.shape[1]
    for s in range(lrs.size):
        loss = loss_and_grad(theta, grad, layout, XT, Y, acts, ks, alphas, loss_kind, scale, wd, work, rows)
        losses[s] = loss
        if labels.size > 0:
            correct[s] = count_correct(work, layout, labels, rows)
        if not np.isfinite(loss):
            return s
        apply_update(theta, grad, m1, m2, opt, lrs[s], mu, b1, b2, eps, t0 + s + 1)
    return lrs.size


@njit(cache=True, fastmath=FASTMATH)
def train_minibatch(theta, grad, m1, m2, layout, X, Y, labels, order, batch, acts, ks, alphas,
                    loss_kind, mean_reduction, wd, opt, lrs, mu, b1, b2, eps, t0, work, Xb, Yb, lb,
                    losses, correct):
    """Run len(lrs) mini-batch steps over the samples in ``order`` (batch rows each, the last
    batch may be smaller), gathering each batch into the flat buffers Xb/Yb and lb. Per-step summed loss and correct
    counts go to losses/correct. Returns the steps done (early stop on a non-finite loss)."""
    n = order.size
    n_cols, n_out = X.shape[1], Y.shape[1]
    for s in range(lrs.size):
        start = s * batch
        rows = min(batch, n - start)
        xb = _view(Xb, 0, n_cols, rows)  # feature-major batch
        yb = _view(Yb, 0, rows, n_out)
        for r in range(rows):
            src = order[start + r]
            for c in range(n_cols):
                xb[c, r] = X[src, c]
            for c in range(n_out):
                yb[r, c] = Y[src, c]
            if labels.size > 0:
                lb[r] = labels[src]
        scale = 1.0 / rows if mean_reduction else 1.0
        loss = loss_and_grad(theta, grad, layout, xb, yb, acts, ks, alphas, loss_kind, scale, wd, work, rows)
        losses[s] = loss
        if labels.size > 0:
            correct[s] = count_correct(work, layout, lb[:rows], rows)
        if not np.isfinite(loss):
            return s
        apply_update(theta, grad, m1, m2, opt, lrs[s], mu, b1, b2, eps, t0 + s + 1)
    return lrs.size
