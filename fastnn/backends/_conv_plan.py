"""Workspace layout shared by the compiled convolution kernels (numba, cython).

Both split the batch into one contiguous range of samples per thread. Each thread owns a
*slot* of the workspace, sized for one sample: the im2col columns (K × P, K = C·kh·kw,
P = Ho·Wo), the column gradient, and the thread's partial weight and bias gradients,
reduced in a fixed order at the end. The workspace holds one slot per thread (at most n),
so it serves every batch size and nothing is allocated per call. The contract's
``conv2d_workspace`` does not know F: the partial gradients have room for
``filter_cap = max(P, 256)`` filters, and the kernels refuse wider layers with a clear error.
"""
import numpy as np

from .._threads import default_num_threads

MIN_FILTER_CAP = 256  # kernels/_cyconv.pyx uses the same cap


def filter_cap(P):
    """Most filters a slot's partial-gradient regions hold"""
    return max(P, MIN_FILTER_CAP)


def slot(C, kh, kw, Ho, Wo):
    """(K, P, values per slot, filter cap) of the numba layout: cols, dcols (K·P each), dWp (Fc·K), dbp (Fc)"""
    K, P = C * kh * kw, Ho * Wo
    fc = filter_cap(P)
    return K, P, 2 * K * P + fc * K + fc, fc


def workspace(n, slot_values, dtype):
    """Flat zeros holding one slot per thread (at most n)"""
    if n < 1:
        raise ValueError(f"conv2d_workspace needs n ≥ 1 samples, got {n}")
    return np.zeros(max(1, min(n, default_num_threads())) * slot_values, dtype=dtype)


def slots(ws, dtype, slot_values):
    """Slots that ``ws`` holds (refuses a workspace of the wrong dtype or too small for one slot)"""
    if ws.dtype != dtype or ws.ndim != 1 or not ws.flags.c_contiguous:
        raise ValueError(f"ws must be a flat C-contiguous {np.dtype(dtype).name} array from conv2d_workspace, "
                         f"got {ws.dtype} with shape {ws.shape}")
    if ws.size < slot_values:
        raise ValueError(f"ws holds {ws.size} values, one thread needs {slot_values}: allocate it with "
                         f"conv2d_workspace for this layer's input shape, kernel, stride and padding")
    return ws.size // slot_values
