"""CNN kernels of the Cython backend: per-sample im2col products in OpenMP threads.

The batch is split into one contiguous range of samples per thread; each thread owns a slot
of the workspace (layout below) and runs, sample by sample, an im2col into its slot and a
register-blocked product (kernels/conv.h) straight into the sample's NCHW output, the bias
folded into the product and the activation applied while the block is in cache
(epilogue.h). The backward accumulates each thread's weight and bias gradients in its slot
(reduced in a fixed order at the end) and writes each sample's input gradient through col2im
(samples are disjoint: no races). Nothing is allocated per call. Contract:
``fastnn/backends/numpy_conv.py``; shapes are checked here once, before the nogil region.

Workspace slot (K = C·kh·kw, P = Ho·Wo, Kp = K + 1 rounded up to 16, Fc = max(P, 256) filters):
    cols   max(K·P, P·Kp)   im2col columns (forward, K×P) or rows (backward, P×Kp, column K all ones)
    dcols  K·P              the column gradient Wtᵀ·D of one sample
    dWp    Fc·Kp            this thread's weight gradient (F×Kp; its column K is the bias gradient)
    WT     K·Fc             Wtᵀ (K×F)
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset
from libc.stdint cimport int32_t, uint8_t

cdef extern from "conv.h":
    void fnn_gemm_f(long M, long N, long K, const float *A, long lda, const float *B, long ldb,
                    float *C, long ldc, const float *bias, int add) nogil
    void fnn_gemm_d(long M, long N, long K, const double *A, long lda, const double *B, long ldb,
                    double *C, long ldc, const double *bias, int add) nogil
    void fnn_im2col_f(const float *x, long C, long H, long W, long kh, long kw, long s, long p,
                      long Ho, long Wo, float *cols) nogil
    void fnn_im2col_d(const double *x, long C, long H, long W, long kh, long kw, long s, long p,
                      long Ho, long Wo, double *cols) nogil
    void fnn_im2row_f(const float *x, long C, long H, long W, long kh, long kw, long s, long p,
                      long Ho, long Wo, float *rows, long ldr) nogil
    void fnn_im2row_d(const double *x, long C, long H, long W, long kh, long kw, long s, long p,
                      long Ho, long Wo, double *rows, long ldr) nogil
    void fnn_col2im_f(const float *cols, long C, long H, long W, long kh, long kw, long s, long p,
                      long Ho, long Wo, float *dx) nogil
    void fnn_col2im_d(const double *cols, long C, long H, long W, long kh, long kw, long s, long p,
                      long Ho, long Wo, double *dx) nogil
    void fnn_maxpool_plane_f(const float *x, long W, long size, long Ho, long Wo, float *y, int32_t *idx) nogil
    void fnn_maxpool_plane_d(const double *x, long W, long size, long Ho, long Wo, double *y, int32_t *idx) nogil
    void fastnn_activate_rows_f(float *a, const float *b, long rows, long m, int act, float k, float alpha) nogil
    void fastnn_activate_rows_d(double *a, const double *b, long rows, long m, int act, double k,
                                double alpha) nogil

# Element-wise kernels (max-pool, its scatter, dropout) go parallel only above this many input
# values: below, waking the threads costs more than they save (measured at batch 64 of the course's
# CNN, 2 threads: the vectorised max-pool of 64×10×24×24 took 0.064 ms threaded, 0.040 ms serial).
cdef Py_ssize_t PARALLEL_MIN = 1 << 20
cdef long K_ALIGN = 16
cdef long MIN_FILTER_CAP = 256


cdef inline int _require(bint ok, str what) except -1:
    if not ok:
        raise ValueError(what)
    return 0


# ---------------------------------------------------------------- workspace geometry
cdef struct Geometry:
    long K, P, Kp, Fc, cols, dcols, dWp, WT, slot


cdef Geometry _geometry(long C, long kh, long kw, long Ho, long Wo) noexcept:
    """Offsets of the regions of one workspace slot (see the module docstring)"""
    cdef Geometry g
    g.K = C * kh * kw
    g.P = Ho * Wo
    g.Kp = (g.K + K_ALIGN) // K_ALIGN * K_ALIGN
    g.Fc = max(g.P, MIN_FILTER_CAP)
    g.cols = 0
    g.dcols = max(g.K * g.P, g.P * g.Kp)
    g.dWp = g.dcols + g.K * g.P
    g.WT = g.dWp + g.Fc * g.Kp
    g.slot = g.WT + g.K * g.Fc
    return g


def slot_size(long C, long kh, long kw, long Ho, long Wo):
    """Values in one thread's workspace slot"""
    return _geometry(C, kh, kw, Ho, Wo).slot


cdef long _slots(long ws_size, Geometry g, long F, long n, int n_threads) except -1:
    """Threads to use: one per slot that ws holds, at most n_threads and n"""
    _require(ws_size >= g.slot, f"ws holds {ws_size} values but one thread needs {g.slot}: allocate it with "
                                "conv2d_workspace for this layer's input shape, kernel, stride and padding")
    _require(F <= g.Fc, f"the compiled conv2d kernels take at most {g.Fc} filters for this shape, got {F}")
    return max(1, min(ws_size // g.slot, n_threads, n))


# ---------------------------------------------------------------- typed dispatch
cdef inline void _gemm(long M, long N, long K, const floating *A, long lda, const floating *B, long ldb,
                       floating *C, long ldc, const floating *bias, int add) noexcept nogil:
    if floating is float:
        fnn_gemm_f(M, N, K, A, lda, B, ldb, C, ldc, bias, add)
    else:
        fnn_gemm_d(M, N, K, A, lda, B, ldb, C, ldc, bias, add)


cdef inline void _activate(floating *a, long rows, long m, int act, double k, double alpha) noexcept nogil:
    if floating is float:
        fastnn_activate_rows_f(a, NULL, rows, m, act, <float> k, <float> alpha)
    else:
        fastnn_activate_rows_d(a, NULL, rows, m, act, k, alpha)


cdef inline void _im2col(const floating *x, long C, long H, long W, long kh, long kw, long s, long p,
                         long Ho, long Wo, floating *cols) noexcept nogil:
    if floating is float:
        fnn_im2col_f(x, C, H, W, kh, kw, s, p, Ho, Wo, cols)
    else:
        fnn_im2col_d(x, C, H, W, kh, kw, s, p, Ho, Wo, cols)


cdef inline void _im2row(const floating *x, long C, long H, long W, long kh, long kw, long s, long p,
                         long Ho, long Wo, floating *rows, long ldr) noexcept nogil:
    if floating is float:
        fnn_im2row_f(x, C, H, W, kh, kw, s, p, Ho, Wo, rows, ldr)
    else:
        fnn_im2row_d(x, C, H, W, kh, kw, s, p, Ho, Wo, rows, ldr)


cdef inline void _col2im(const floating *cols, long C, long H, long W, long kh, long kw, long s, long p,
                         long Ho, long Wo, floating *dx) noexcept nogil:
    if floating is float:
        fnn_col2im_f(cols, C, H, W, kh, kw, s, p, Ho, Wo, dx)
    else:
        fnn_col2im_d(cols, C, H, W, kh, kw, s, p, Ho, Wo, dx)


# ---------------------------------------------------------------- convolution
cdef int _check_conv(const floating[:, :, :, ::1] X, const floating[:, :, :, ::1] Wt, const floating[::1] b,
                     bint has_bias, const floating[:, :, :, ::1] Z, long stride, long padding, str what) except -1:
    cdef long n = X.shape[0], H = X.shape[2], W = X.shape[3], F = Wt.shape[0], kh = Wt.shape[2], kw = Wt.shape[3]
    _require(stride >= 1 and padding >= 0, f"conv2d needs stride ≥ 1 and padding ≥ 0, got {stride}, {padding}")
    _require(H + 2 * padding >= kh and W + 2 * padding >= kw, "conv2d kernel larger than the padded input")
    _require(Wt.shape[1] == X.shape[1] and Z.shape[0] == n and Z.shape[1] == F
             and Z.shape[2] == (H + 2 * padding - kh) // stride + 1
             and Z.shape[3] == (W + 2 * padding - kw) // stride + 1,
             f"shape mismatch: X {tuple(X.shape)[:4]}, Wt {tuple(Wt.shape)[:4]} and {what} {tuple(Z.shape)[:4]}")
    _require(not has_bias or b.shape[0] == F, f"shape mismatch: bias of {b.shape[0]} values for {F} filters")
    return 0


def conv2d_forward(const floating[:, :, :, ::1] X, const floating[:, :, :, ::1] Wt, const floating[::1] b,
                   bint has_bias, floating[:, :, :, ::1] A, int act, double k, double alpha,
                   long stride, long padding, floating[::1] ws, int n_threads):
    """A := f(conv(X, Wt) + b)"""
    _check_conv(X, Wt, b, has_bias, A, stride, padding, "A")
    cdef long n = X.shape[0], C = X.shape[1], H = X.shape[2], W = X.shape[3]
    cdef long F = Wt.shape[0], kh = Wt.shape[2], kw = Wt.shape[3], Ho = A.shape[2], Wo = A.shape[3]
    cdef Geometry g = _geometry(C, kh, kw, Ho, Wo)
    cdef long nt = _slots(ws.shape[0], g, F, n, n_threads)
    cdef long t, s, lo, hi
    cdef floating *cols
    cdef const floating *bias = &b[0] if has_bias else NULL
    with nogil:
        for t in prange(nt, schedule="static", num_threads=nt, use_threads_if=nt > 1):
            lo = t * n // nt
            hi = (t + 1) * n // nt
            cols = &ws[t * g.slot + g.cols]
            for s in range(lo, hi):
                _im2col(&X[s, 0, 0, 0], C, H, W, kh, kw, stride, padding, Ho, Wo, cols)
                _gemm(F, g.P, g.K, &Wt[0, 0, 0, 0], g.K, cols, g.P, &A[s, 0, 0, 0], g.P, bias, 0)
                _activate(&A[s, 0, 0, 0], F, g.P, act, k, alpha)


def conv2d_backward(const floating[:, :, :, ::1] X, const floating[:, :, :, ::1] Wt,
                    const floating[:, :, :, ::1] D, floating[:, :, :, ::1] dW, floating[::1] db, bint has_bias,
                    floating[:, :, :, ::1] dX, bint has_dx, long stride, long padding, floating[::1] ws,
                    int n_threads, bint accumulate):
    """dW := Σ D·window(X); db := Σ D; dX := col2im(Wtᵀ·D) (dW, db added to with accumulate)"""
    _check_conv(X, Wt, db, has_bias, D, stride, padding, "D")
    _require(dW.shape[0] == Wt.shape[0] and dW.shape[1] == Wt.shape[1] and dW.shape[2] == Wt.shape[2]
             and dW.shape[3] == Wt.shape[3], "shape mismatch: dW must have Wt's shape")
    _require(not has_dx or (dX.shape[0] == X.shape[0] and dX.shape[1] == X.shape[1] and dX.shape[2] == X.shape[2]
                            and dX.shape[3] == X.shape[3]), "shape mismatch: dX must have X's shape")
    cdef long n = X.shape[0], C = X.shape[1], H = X.shape[2], W = X.shape[3]
    cdef long F = Wt.shape[0], kh = Wt.shape[2], kw = Wt.shape[3], Ho = D.shape[2], Wo = D.shape[3]
    cdef Geometry g = _geometry(C, kh, kw, Ho, Wo)
    cdef long nt = _slots(ws.shape[0], g, F, n, n_threads)
    cdef long t, s, lo, hi, f, q
    cdef floating *slot
    cdef const floating *d
    cdef const floating *w = &Wt[0, 0, 0, 0]
    cdef floating *dw = &dW[0, 0, 0, 0]
    cdef floating acc
    with nogil:
        for t in prange(nt, schedule="static", num_threads=nt, use_threads_if=nt > 1):
            lo = t * n // nt
            hi = (t + 1) * n // nt
            slot = &ws[t * g.slot]
            memset(slot + g.dWp, 0, F * g.Kp * sizeof(floating))
            if has_dx:
                for f in range(F):
                    for q in range(g.K):
                        slot[g.WT + q * F + f] = w[f * g.K + q]
            for s in range(lo, hi):
                d = &D[s, 0, 0, 0]
                _im2row(&X[s, 0, 0, 0], C, H, W, kh, kw, stride, padding, Ho, Wo, slot + g.cols, g.Kp)
                _gemm(F, g.Kp, g.P, d, g.P, slot + g.cols, g.Kp, slot + g.dWp, g.Kp, NULL, 1)  # and db
                if has_dx:
                    _gemm(g.K, g.P, F, slot + g.WT, F, d, g.P, slot + g.dcols, g.P, NULL, 0)
                    _col2im(slot + g.dcols, C, H, W, kh, kw, stride, padding, Ho, Wo, &dX[s, 0, 0, 0])
        # the threads' partial sums, in a fixed order
        for f in range(F):
            for q in range(g.K):
                acc = dw[f * g.K + q] if accumulate else 0
                for t in range(nt):
                    acc = acc + ws[t * g.slot + g.dWp + f * g.Kp + q]
                dw[f * g.K + q] = acc
            if has_bias:
                acc = db[f] if accumulate else 0
                for t in range(nt):
                    acc = acc + ws[t * g.slot + g.dWp + f * g.Kp + g.K]
                db[f] = acc


# ---------------------------------------------------------------- max-pool and dropout
def maxpool2d_forward(const floating[:, :, :, ::1] X, floating[:, :, :, ::1] Y, int32_t[:, :, :, ::1] idx,
                      long size, int n_threads):
    """Y := max over size×size windows; idx := r·W + c of the first max (the first NaN if any)"""
    cdef long n = X.shape[0], C = X.shape[1], H = X.shape[2], W = X.shape[3]
    _require(size >= 1, f"max-pool size must be ≥ 1, got {size}")
    cdef long Ho = H // size, Wo = W // size
    _require(Y.shape[0] == n and Y.shape[1] == C and Y.shape[2] == Ho and Y.shape[3] == Wo
             and idx.shape[0] == n and idx.shape[1] == C and idx.shape[2] == Ho and idx.shape[3] == Wo,
             f"shape mismatch: max-pool {size} of {tuple(X.shape)[:4]} needs Y and idx of shape {(n, C, Ho, Wo)}")
    cdef long planes = n * C, pl
    cdef int nt = max(1, n_threads)
    with nogil:
        for pl in prange(planes, schedule="static", num_threads=nt, use_threads_if=nt > 1 and planes * H * W > PARALLEL_MIN):
            if floating is float:
                fnn_maxpool_plane_f(&X[0, 0, 0, 0] + pl * H * W, W, size, Ho, Wo, &Y[0, 0, 0, 0] + pl * Ho * Wo,
                                    &idx[0, 0, 0, 0] + pl * Ho * Wo)
            else:
                fnn_maxpool_plane_d(&X[0, 0, 0, 0] + pl * H * W, W, size, Ho, Wo, &Y[0, 0, 0, 0] + pl * Ho * Wo,
                                    &idx[0, 0, 0, 0] + pl * Ho * Wo)


def maxpool2d_backward(const floating[:, :, :, ::1] dY, const int32_t[:, :, :, ::1] idx, floating[:, :, :, ::1] dX,
                       int n_threads):
    """dX := 0; dX[plane][idx] += dY (offsets outside the plane are refused)"""
    cdef long n = dX.shape[0], C = dX.shape[1], HW = dX.shape[2] * dX.shape[3]
    cdef long m = dY.shape[2] * dY.shape[3], planes = n * C, pl, j, at, bad = 0
    _require(dY.shape[0] == n and dY.shape[1] == C and idx.shape[0] == n and idx.shape[1] == C
             and idx.shape[2] == dY.shape[2] and idx.shape[3] == dY.shape[3],
             "shape mismatch: dY and idx must have one shape, with dX's (n, C)")
    cdef floating *dx
    cdef int nt = max(1, n_threads)
    with nogil:
        for pl in prange(planes, schedule="static", num_threads=nt,
                         use_threads_if=nt > 1 and planes * HW > PARALLEL_MIN):
            dx = &dX[0, 0, 0, 0] + pl * HW
            memset(dx, 0, HW * sizeof(floating))
            for j in range(m):
                at = (&idx[0, 0, 0, 0])[pl * m + j]
                if 0 <= at < HW:
                    dx[at] += (&dY[0, 0, 0, 0])[pl * m + j]
                else:
                    bad += 1
    _require(bad == 0, f"idx holds {bad} offsets outside the {dX.shape[2]}×{dX.shape[3]} planes of dX")


def dropout_apply(floating[::1] A, const uint8_t[::1] mask, double scale, int n_threads):
    """A := A ⊙ mask · scale (flat views)"""
    _require(A.shape[0] == mask.shape[0], "dropout mask must have A's shape")
    cdef Py_ssize_t i, size = A.shape[0]
    cdef floating sc = <floating> scale
    cdef int nt = max(1, n_threads)
    with nogil:
        for i in prange(size, schedule="static", num_threads=nt, use_threads_if=nt > 1 and size > PARALLEL_MIN):
            A[i] = A[i] * (mask[i] * sc)
