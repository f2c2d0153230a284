"""The reference backend: every kernel of the hot-path set written plainly in NumPy.

Contract shared by all backends (the Python layer has validated shapes, dtypes and
C-contiguity before any of these is called; outputs are preallocated buffers):

    dense_forward(X, W, b, A, act, k, alpha, check=False)
                                                      A := f(X·W + b)           (b may be None)
                                                      check: returns whether X·W is all finite
                                                      (a NaN/inf in a row of X spoils that row)
    activation_grad(D, A, act, k, alpha)              D := D ⊙ f'(A)            (in place)
    delta_backward(Dn, Wn, A, D, act, k, alpha)       D := (Dn·Wnᵀ) ⊙ f'(A)     (D may be A itself)
    softmax(A)                                        A := softmax(A) row-wise  (in place)
    softmax_cross_entropy(A, Y, D, scale) -> loss     A: logits in, probabilities out;
                                                      D := scale·(P − Y); loss = Σ −Y log P
    sigmoid_bce(A, Y, D, k, scale) -> loss            A: logits z in, σ(kz) out; D := scale·k(σ − Y)
    mse(A, Y, D, act, k, alpha, scale) -> loss        A = f(z) already; D := scale·2(A − Y) f'(A)
    weight_grad(X, D, dW, db, scale, accumulate=False)
                                                      dW := scale·XᵀD; db := scale·Σ_rows D
                                                      (accumulate: added to dW, db — row blocks)
    sgd_update(P, G, lr, wd)                          P -= lr (G + wd P)
    momentum_update(P, G, V, lr, mu, wd)              V := mu V − lr (G + wd P); P += V
    adam_update(P, G, M, V, lr, b1, b2, eps, t, wd)   (bias-corrected Adam, L2 in G)

Losses are returned as the *sum* over all samples (the caller divides by N to report
a mean); ``scale`` is 1 for reduction="sum" and 1/N for reduction="mean". The output
delta is ``P − Y`` only for the canonical pairs (softmax + cross-entropy, sigmoid +
binary cross-entropy); MSE carries the activation derivative explicitly.
Optimiser parameters P, G, M, V are 1-D views of the contiguous parameter arrays.
"""
import numpy as np

from .. import activations as act_mod
from .numpy_conv import (conv2d_backward, conv2d_forward, conv2d_out_shape, conv2d_workspace,  # noqa: F401
                         dropout_apply, maxpool2d_backward, maxpool2d_forward)

NAME = "numpy"


def dense_forward(X, W, b, A, act, k, alpha, check=False):
    """A := f(X·W + b) (check: return whether X·W is all finite)"""
    z = X @ W
    finite = bool(np.isfinite(z).all()) if check else None
    if b is not None:
        z += b
    A[...] = act_mod.forward(z, act, k, alpha)
    return finite


def activation_grad(D, A, act, k, alpha):
    """D := D ⊙ f'(A)"""
    D *= act_mod.derivative(A, act, k, alpha)


def delta_backward(Dn, Wn, A, D, act, k, alpha):
    """D := (Dn·Wnᵀ) ⊙ f'(A)"""
    D[...] = (Dn @ Wn.T) * act_mod.derivative(A, act, k, alpha)


def softmax(A):
    """A := exp(A − max) / Σ exp(A − max), row-wise"""
    A -= A.max(axis=1, keepdims=True)
    np.exp(A, out=A)
    A /= A.sum(axis=1, keepdims=True)


def softmax_cross_entropy(A, Y, D, scale):
    """P := softmax(Z); D := scale·(P − Y); loss = Σ Y·(logsumexp(Z) − Z)"""
    z = A - A.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = float(np.sum(Y * (lse - z)))
    A[...] = np.exp(z - lse)
    D[...] = scale * (A - Y)
    return loss


def sigmoid_bce(A, Y, D, k, scale):
    """P := σ(kZ); D := scale·k(P − Y); loss = Σ softplus(kZ) − Y·kZ"""
    kz = k * A
    loss = float(np.sum(np.maximum(kz, 0) + np.log1p(np.exp(-np.abs(kz))) - Y * kz))
    A[...] = act_mod.forward(A, act_mod.SIGMOID, k)
    D[...] = scale * k * (A - Y)
    return loss


def mse(A, Y, D, act, k, alpha, scale):
    """D := scale·2(A − Y)·f'(A); loss = Σ (A − Y)²"""
    diff = A - Y
    D[...] = scale * 2 * diff * act_mod.derivative(A, act, k, alpha)
    return float(np.sum(diff * diff))


def weight_grad(X, D, dW, db, scale, accumulate=False):
    """dW := scale·XᵀD; db := scale·Σ_rows D (added to dW, db if accumulate)"""
    dW[...] = scale * (X.T @ D) + (dW if accumulate else 0)
    if db is not None:
        db[...] = scale * D.sum(axis=0) + (db if accumulate else 0)


def sgd_update(P, G, lr, wd):
    """P := P − lr·(G + wd·P)"""
    P -= lr * (G + wd * P)


def momentum_update(P, G, V, lr, mu, wd):
    """V := mu·V − lr·(G + wd·P); P := P + V"""
    V *= mu
    V -= lr * (G + wd * P)
    P += V


def adam_update(P, G, M, V, lr, b1, b2, eps, t, wd):
    """M := b1 M + (1−b1) g; V := b2 V + (1−b2) g²; P -= lr·M̂/(√V̂ + eps), g = G + wd·P"""
    g = G + wd * P
    M *= b1
    M += (1 - b1) * g
    V *= b2
    V += (1 - b2) * g * g
    m_hat = M / (1 - b1 ** t)
    v_hat = V / (1 - b2 ** t)
    step = lr * m_hat / (np.sqrt(v_hat) + eps)
    P -= step.astype(P.dtype, copy=False)

from .numpy_sparse import sparse_dense_forward, sparse_weight_grad  # noqa: E402,F401 (first layer on sparse rows)
