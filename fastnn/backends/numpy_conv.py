"""The reference CNN kernels, written plainly in NumPy (im2col through ``sliding_window_view``).

Contract shared by every backend (arrays NCHW, C-contiguous, preallocated by the caller;
activation codes of ``fastnn.activations``; ``act, k, alpha`` as in ``dense_forward``):

    conv2d_out_shape(H, W, kh, kw, stride, padding) -> (Ho, Wo)
    conv2d_workspace(n, C, H, W, kh, kw, stride, padding, dtype) -> ws
        scratch for conv2d_forward/backward on batches of *at most* n samples (the compiled backends
        take any batch: their workspace holds one slot per thread); it holds no state between
        calls, so one workspace may serve several layers of the same geometry, but not two calls
        running at the same time.
    conv2d_forward(X, Wt, b, A, act, k, alpha, stride, padding, ws)
        X (n,C,H,W), Wt (F,C,kh,kw), b (F,) or None, A (n,F,Ho,Wo) := f(conv(X, Wt) + b)
    conv2d_backward(X, Wt, D, dW, db, dX, stride, padding, ws, accumulate=False)
        D = ∂L/∂Z (n,F,Ho,Wo); dW := Σ_n,ho,wo D·window(X) (or += with accumulate), db := Σ D
        (or None), dX := the full correlation of D with Wt (or None: the first layer skips it)
    maxpool2d_forward(X, Y, idx, size)
        Y (n,C,H//size,W//size) := window max; idx (int32, Y's shape) := flat offset r·W + c of the
        max in its (H,W) plane (first max wins; a NaN counts as the max); trailing rows/cols dropped
    maxpool2d_backward(dY, idx, dX)                   dX := 0; dX[plane][idx] += dY
    dropout_apply(A, mask, scale)                     A := A ⊙ mask · scale (mask uint8 0/1)

``conv(X, Wt)[n,f,i,j] = Σ_c,p,q X̃[n, c, i·s + p, j·s + q] Wt[f,c,p,q]`` where X̃ is X zero-padded by
``padding`` on every side (a cross-correlation, as in PyTorch). ``activation_grad`` (numpy_backend)
is element-wise and serves 4-D deltas as well.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import activations as act_mod


def conv2d_out_shape(H, W, kh, kw, stride, padding):
    """(Ho, Wo) = (⌊(H + 2p − kh)/s⌋ + 1, ⌊(W + 2p − kw)/s⌋ + 1)"""
    if stride < 1 or padding < 0 or kh < 1 or kw < 1:
        raise ValueError(f"conv2d needs stride ≥ 1, padding ≥ 0 and a kernel ≥ 1, got stride={stride}, "
                         f"padding={padding}, kernel=({kh}, {kw})")
    Ho = (H + 2 * padding - kh) // stride + 1
    Wo = (W + 2 * padding - kw) // stride + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"conv2d kernel ({kh}, {kw}) does not fit the padded {H}×{W} input "
                         f"(padding={padding}): use a smaller kernel or more padding")
    return Ho, Wo


def conv2d_workspace(n, C, H, W, kh, kw, stride, padding, dtype):
    """The zero-padded input (n, C, H + 2p, W + 2p), reused as the padded input gradient"""
    conv2d_out_shape(H, W, kh, kw, stride, padding)
    return np.zeros((n, C, H + 2 * padding, W + 2 * padding), dtype=dtype)


def _padded(ws, n, shape):
    """ws's first n samples viewed as a padded (n, C, Hp, Wp) array (refuses a workspace too small)."""
    if ws.size < n * int(np.prod(shape)):
        raise ValueError(f"ws is too small for a batch of {n} samples: allocate it with "
                         f"conv2d_workspace for the largest batch")
    return ws.reshape(-1)[: n * int(np.prod(shape))].reshape((n,) + tuple(shape))


# ---------------------------------------------------------------- input checks (shared by every backend)
def check_forward(X, Wt, b, A, stride, padding):
    """(n, C, H, W, F, kh, kw, Ho, Wo) of a valid conv2d_forward call, else a ValueError"""
    return _check_conv(X, Wt, b, A, stride, padding, "A")


def check_backward(X, Wt, D, dW, db, dX, stride, padding):
    """(n, C, H, W, F, kh, kw, Ho, Wo) of a valid conv2d_backward call, else a ValueError"""
    dims = _check_conv(X, Wt, db, D, stride, padding, "D")
    if dW.shape != Wt.shape or dW.dtype != Wt.dtype or (dX is not None and (dX.shape != X.shape or dX.dtype != X.dtype)):
        raise ValueError(f"shape mismatch: dW {dW.shape} must match Wt {Wt.shape} and dX "
                         f"{None if dX is None else dX.shape} must match X {X.shape} (same dtype)")
    return dims


def _check_conv(X, Wt, b, out, stride, padding, what):
    if X.ndim != 4 or Wt.ndim != 4 or out.ndim != 4:
        raise ValueError(f"conv2d needs 4-D X (n, C, H, W), Wt (F, C, kh, kw) and {what}, got "
                         f"{X.shape}, {Wt.shape}, {out.shape}")
    n, C, H, W = X.shape
    F, C2, kh, kw = Wt.shape
    Ho, Wo = conv2d_out_shape(H, W, kh, kw, stride, padding)
    if C2 != C or out.shape != (n, F, Ho, Wo):
        raise ValueError(f"shape mismatch: X {X.shape}, Wt {Wt.shape} give ({n}, {F}, {Ho}, {Wo}), "
                         f"{what} is {out.shape}")
    if b is not None and b.shape != (F,):
        raise ValueError(f"shape mismatch: bias (or its gradient) {b.shape} for {F} filters")
    if not (X.dtype == Wt.dtype == out.dtype) or (b is not None and b.dtype != X.dtype):
        raise ValueError(f"conv2d needs one dtype for every array, got X {X.dtype}, Wt {Wt.dtype}, {what} {out.dtype}")
    return n, C, H, W, F, kh, kw, Ho, Wo


def check_pool(X, Y, idx, size):
    """Y's shape (n, C, H//size, W//size) of a valid maxpool2d_forward call, else a ValueError"""
    if X.ndim != 4:
        raise ValueError(f"max-pool needs 4-D X (n, C, H, W), got {X.shape}")
    n, C, H, W = X.shape
    if size < 1:
        raise ValueError(f"max-pool size must be ≥ 1, got {size}")
    shape = (n, C, H // size, W // size)
    if Y.shape != shape or idx.shape != shape:
        raise ValueError(f"shape mismatch: max-pool {size} of {X.shape} gives {shape}; Y is {Y.shape}, "
                         f"idx is {idx.shape}")
    if idx.dtype != np.int32 or Y.dtype != X.dtype:
        raise ValueError(f"idx must be int32 and Y of X's dtype {X.dtype}, got {idx.dtype} and {Y.dtype}")
    return shape


def check_unpool(dY, idx, dX):
    """(n·C, H·W) of a valid maxpool2d_backward call, else a ValueError (offsets are checked by the kernels)"""
    if dX.ndim != 4 or dY.shape != idx.shape or dY.shape[:2] != dX.shape[:2] or dY.ndim != 4 \
            or idx.dtype != np.int32 or dY.dtype != dX.dtype:
        raise ValueError(f"shape mismatch: dY {dY.shape} and int32 idx {idx.shape} {idx.dtype} must have one "
                         f"shape, with dX {dX.shape}'s (n, C) and dtype")
    n, C, H, W = dX.shape
    return n * C, H * W


def check_dropout(A, mask):
    if mask.shape != A.shape or mask.dtype != np.uint8:
        raise ValueError(f"dropout mask must be uint8 of A's shape {A.shape}, got {mask.dtype} {mask.shape}")


# ---------------------------------------------------------------- kernels
def _windows(X, kh, kw, stride, padding, ws):
    """(n, C, Ho, Wo, kh, kw) view of the padded input's receptive fields"""
    n, C, H, W = X.shape
    Xp = _padded(ws, n, (C, H + 2 * padding, W + 2 * padding))
    Xp[...] = 0
    Xp[:, :, padding:padding + H, padding:padding + W] = X
    win = sliding_window_view(Xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    Ho, Wo = conv2d_out_shape(H, W, kh, kw, stride, padding)
    return win[:, :, :Ho, :Wo]


def conv2d_forward(X, Wt, b, A, act, k, alpha, stride, padding, ws):
    """A := f(conv(X, Wt) + b)"""
    kh, kw = check_forward(X, Wt, b, A, stride, padding)[5:7]
    win = _windows(X, kh, kw, stride, padding, ws)
    z = np.einsum("nchwpq,fcpq->nfhw", win, Wt, optimize=True)
    if b is not None:
        z += b[None, :, None, None]
    A[...] = act_mod.forward(z, act, k, alpha)


def conv2d_backward(X, Wt, D, dW, db, dX, stride, padding, ws, accumulate=False):
    """dW := Σ D·window(X); db := Σ D; dX := Σ_f,p,q D·Wt scattered back (each += with accumulate for dW, db)"""
    n, C, H, W, F, kh, kw, Ho, Wo = check_backward(X, Wt, D, dW, db, dX, stride, padding)
    win = _windows(X, kh, kw, stride, padding, ws)
    grad = np.einsum("nchwpq,nfhw->fcpq", win, D, optimize=True)
    dW[...] = grad + (dW if accumulate else 0)
    if db is not None:
        db[...] = D.sum(axis=(0, 2, 3)) + (db if accumulate else 0)
    if dX is None:
        return
    dXp = _padded(ws, n, (C, H + 2 * padding, W + 2 * padding))  # the padded input is no longer needed
    dXp[...] = 0
    for p in range(kh):
        for q in range(kw):
            dXp[:, :, p:p + stride * Ho:stride, q:q + stride * Wo:stride] += np.einsum(
                "nfhw,fc->nchw", D, Wt[:, :, p, q])
    dX[...] = dXp[:, :, padding:padding + H, padding:padding + W]




def maxpool2d_forward(X, Y, idx, size):
    """Y := max over size×size windows; idx := r·W + c of the (first) max in its plane"""
    n, C, Ho, Wo = check_pool(X, Y, idx, size)
    W = X.shape[3]
    blocks = X[:, :, :Ho * size, :Wo * size].reshape(n, C, Ho, size, Wo, size)
    flat = blocks.transpose(0, 1, 2, 4, 3, 5).reshape(n, C, Ho, Wo, size * size)
    a = flat.argmax(axis=-1)  # the first max; the first NaN if any (NaN propagates)
    Y[...] = np.take_along_axis(flat, a[..., None], axis=-1)[..., 0]
    rows = np.arange(Ho)[:, None] * size + a // size
    cols = np.arange(Wo)[None, :] * size + a % size
    idx[...] = rows * W + cols


def maxpool2d_backward(dY, idx, dX):
    """dX := 0; dX[plane][idx] += dY"""
    planes_n, plane = check_unpool(dY, idx, dX)
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        raise ValueError(f"idx holds offsets outside the {dX.shape[2]}×{dX.shape[3]} planes of dX")
    planes = dX.reshape(planes_n, plane)
    planes[...] = 0
    np.add.at(planes, (np.arange(planes_n)[:, None], idx.reshape(planes_n, -1)), dY.reshape(planes_n, -1))


def dropout_apply(A, mask, scale):
    """A := A ⊙ mask · scale"""
    check_dropout(A, mask)
    A *= (mask * scale).astype(A.dtype)
