"""Scalar building blocks shared by the Numba kernels and the compiled training loops.

Each is a tiny ``@njit`` function that LLVM inlines into its callers, so the maths of
an activation or an optimiser step is written exactly once for every Numba kernel.
"""
import math

from numba import njit

# Fast-math flags, defined once. Never 'nnan'/'ninf': NaN and inf must stay visible
# so that divergence is detected.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

from ..codes import ACT_LEAKY_RELU as LEAKY_RELU
from ..codes import ACT_LINEAR as LINEAR
from ..codes import ACT_RELU as RELU
from ..codes import ACT_RELU6 as RELU6
from ..codes import ACT_SIGMOID as SIGMOID
from ..codes import ACT_TANH as TANH


@njit(fastmath=FASTMATH, cache=True, inline="always")
def activate(z, act, k, alpha):
    """a = f(z)"""
    if act == SIGMOID:
        return 1.0 / (1.0 + math.exp(-k * z))
    if act == TANH:
        return math.tanh(k * z)
    if act == RELU:
        return z if z > 0.0 else 0.0
    if act == RELU6:
        return 0.0 if z < 0.0 else (6.0 if z > 6.0 else z)
    if act == LEAKY_RELU:
        return z if z > 0.0 else alpha * z
    return z


@njit(fastmath=FASTMATH, cache=True, inline="always")
def derivative(a, act, k, alpha):
    """f'(z) from the output a = f(z)"""
    if act == SIGMOID:
        return k * a * (1.0 - a)
    if act == TANH:
        return k * (1.0 - a * a)
    if act == RELU:
        return 1.0 if a > 0.0 else 0.0
    if act == RELU6:
        return 1.0 if (a > 0.0 and a < 6.0) else 0.0
    if act == LEAKY_RELU:
        return 1.0 if a > 0.0 else alpha
    return 1.0


@njit(fastmath=FASTMATH, cache=True, inline="always")
def sgd_step(p, g, lr, wd):
    """Δ = −lr·(g + wd·p)"""
    return -lr * (g + wd * p)


@njit(fastmath=FASTMATH, cache=True, inline="always")
def momentum_step(p, g, v, lr, mu, wd):
    """v := mu·v − lr·(g + wd·p); Δ = v"""
    return mu * v - lr * (g + wd * p)


@njit(fastmath=FASTMATH, cache=True, inline="always")
def adam_step(p, g, m, v, lr, b1, b2, eps, c1, c2, wd):
    """(m, v, Δ) with m := b1 m + (1−b1) g, v := b2 v + (1−b2) g², Δ = −lr (m/c1)/(√(v/c2) + eps)"""
    g = g + wd * p
    m = b1 * m + (1.0 - b1) * g
    v = b2 * v + (1.0 - b2) * g * g
    return m, v, -lr * (m / c1) / (math.sqrt(v / c2) + eps)


# ------------------------------------------------------------------ row kernels
# One row of each fused epilogue. The parallel kernels (numba_backend) call these
# inside ``prange``; the serial compiled training loops (numba_loop) call them in
# plain ``range`` — so the maths exists once.

@njit(fastmath=FASTMATH, cache=True, inline="always")
def bias_activate_row(A, b, has_bias, i, act, k, alpha):
    """A[i] := f(A[i] + b)"""
    for j in range(A.shape[1]):
        z = A[i, j] + b[j] if has_bias else A[i, j]
        A[i, j] = activate(z, act, k, alpha)


@njit(fastmath=FASTMATH, cache=True, inline="always")
def times_derivative_row(D, A, i, act, k, alpha):
    """D[i] := D[i] ⊙ f'(A[i])"""
    for j in range(D.shape[1]):
        D[i, j] *= derivative(A[i, j], act, k, alpha)


@njit(fastmath=FASTMATH, cache=True, inline="always")
def product_derivative_row(T, A, D, i, act, k, alpha):
    """D[i] := T[i] ⊙ f'(A[i]) (D may be A: each element is read before it is written)"""
    for j in range(D.shape[1]):
        D[i, j] = T[i, j] * derivative(A[i, j], act, k, alpha)


@njit(fastmath=FASTMATH, cache=True, inline="always")
def softmax_row(A, i):
    """A[i] := softmax(A[i])"""
    m = A.shape[1]
    mx = A[i, 0]
    for j in range(1, m):
        mx = max(mx, A[i, j])
    s = 0.0
    for j in range(m):
        e = math.exp(A[i, j] - mx)
        A[i, j] = e
        s += e
    inv = 1.0 / s
    for j in range(m):
        A[i, j] *= inv


@njit(fastmath=FASTMATH, cache=True, inline="always")
def softmax_cross_entropy_row(A, Y, D, i, scale):
    """P[i] := softmax(Z[i]); D[i] := scale·(P[i] − Y[i]); returns Σ_j Y·(logsumexp − Z)"""
    m = A.shape[1]
    mx = A[i, 0]
    for j in range(1, m):
        mx = max(mx, A[i, j])
    s = 0.0
    for j in range(m):
        e = math.exp(A[i, j] - mx)
        D[i, j] = e  # D holds exp(z − max) until normalised below
        s += e
    lse = math.log(s)
    inv = 1.0 / s
    row = 0.0
    for j in range(m):
        row += Y[i, j] * (lse - (A[i, j] - mx))
        p = D[i, j] * inv
        A[i, j] = p
        D[i, j] = scale * (p - Y[i, j])
    return row


@njit(fastmath=FASTMATH, cache=True, inline="always")
def sigmoid_bce_row(A, Y, D, i, k, scale):
    """P[i] := σ(kZ[i]); D[i] := scale·k(P − Y); returns Σ_j softplus(kZ) − Y·kZ"""
    row = 0.0
    for j in range(A.shape[1]):
        kz = k * A[i, j]
        row += max(kz, 0.0) + math.log1p(math.exp(-abs(kz))) - Y[i, j] * kz
        p = 1.0 / (1.0 + math.exp(-kz))
        A[i, j] = p
        D[i, j] = scale * k * (p - Y[i, j])
    return row


@njit(fastmath=FASTMATH, cache=True, inline="always")
def mse_row(A, Y, D, i, act, k, alpha, scale):
    """D[i] := scale·2(A − Y)·f'(A); returns Σ_j (A − Y)²"""
    row = 0.0
    for j in range(A.shape[1]):
        diff = A[i, j] - Y[i, j]
        row += diff * diff
        D[i, j] = scale * 2.0 * diff * derivative(A[i, j], act, k, alpha)
    return row
