"""Geometry and workspace layout shared by the compiled convolution kernels (numba, cython).

Both run a convolution over *chunks* of at most ``g`` samples as one im2col GEMM each
(K = C·kh·kw, P = Ho·Wo):

    forward   cols (K, g·P) := im2col(X chunk);  Zt (F, g·P) := Wt(F, K)·cols;  A := f(Zt by sample + b)
    backward  cols := im2col(X chunk);  Zt := D chunk (F, g·P);  dW += Zt·colsᵀ;  db += Σ Zt;
              cols := Wtᵀ·Zt (the column gradient);  dX chunk := col2im(cols)

The workspace is one flat array holding cols then Zt for a full chunk; ``g`` is whatever
fits, so one workspace serves every batch size (larger batches take several chunks). The
contract's ``conv2d_workspace`` does not know F, so Zt has room for K filter rows: layers with
more filters than K = C·kh·kw run the filter rows in blocks of K (the course's layers, and most
beyond the first, have F ≤ K and take one block).
"""
import numpy as np

from .numpy_conv import conv2d_out_shape

CHUNK = 64  # samples per GEMM: big enough for BLAS to run near its peak, small enough to stay in cache


def geometry(C, H, W, kh, kw, stride, padding):
    """(K, P, Ho, Wo, workspace values per sample: cols and Zt, K·P each)"""
    Ho, Wo = conv2d_out_shape(H, W, kh, kw, stride, padding)
    K, P = C * kh * kw, Ho * Wo
    return K, P, Ho, Wo, 2 * K * P


def workspace(n, C, H, W, kh, kw, stride, padding, dtype):
    """Flat scratch of min(n, CHUNK) samples' cols and Zt blocks"""
    if n < 1:
        raise ValueError(f"conv2d_workspace needs n ≥ 1 samples, got {n}")
    per_sample = geometry(C, H, W, kh, kw, stride, padding)[4]
    return np.empty(min(n, CHUNK) * per_sample, dtype=dtype)


def chunk_size(ws, dtype, per_sample):
    """Samples per chunk that ``ws`` can hold (refuses a workspace that does not fit one sample)."""
    if ws.dtype != dtype or ws.ndim != 1 or not ws.flags.c_contiguous:
        raise ValueError(f"ws must be a flat C-contiguous {np.dtype(dtype).name} array from conv2d_workspace, "
                         f"got {ws.dtype} with shape {ws.shape}")
    g = ws.size // per_sample
    if g < 1:
        raise ValueError(f"ws holds {ws.size} values, one sample needs {per_sample}: allocate it with "
                         f"conv2d_workspace for this layer")
    return g
