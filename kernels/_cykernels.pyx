"""Cython backend: BLAS GEMMs (scipy.linalg.cython_blas) fused with OpenMP epilogues.

Every kernel has a ``cdef ... noexcept nogil`` core over raw memoryviews and is
exposed through a thin ``def`` taking C-contiguous memoryviews (the Python layer in
``fastnn/backends/cython_backend.py`` has checked shapes once). Element-wise maths
is done in double precision and stored in the array's dtype. Contract: see
``fastnn/backends/numpy_backend.py``. Compiler directives are set in setup.py.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, tanh, log, log1p, fabs, sqrt
from libc.stdlib cimport calloc, free, malloc
from libc.stdint cimport int32_t, int64_t
from scipy.linalg.cython_blas cimport sgemm, dgemm

cdef extern from "epilogue.h":
    void fastnn_activate_rows_f(float *a, const float *b, long rows, long m, int act, float k, float alpha) nogil
    void fastnn_activate_rows_d(double *a, const double *b, long rows, long m, int act, double k, double alpha) nogil
    void fastnn_derivative_rows_f(float *d, const float *t, const float *a, long rows, long m,
                                  int act, float k, float alpha) nogil
    void fastnn_derivative_rows_d(double *d, const double *t, const double *a, long rows, long m,
                                  int act, double k, double alpha) nogil
    void fastnn_sgd_f(float *P, const float *G, long n, float lr, float wd) nogil
    void fastnn_sgd_d(double *P, const double *G, long n, double lr, double wd) nogil
    void fastnn_momentum_f(float *P, const float *G, float *V, long n, float lr, float mu, float wd) nogil
    void fastnn_momentum_d(double *P, const double *G, double *V, long n, double lr, double mu, double wd) nogil
    void fastnn_adam_f(float *P, const float *G, float *M, float *V, long n, float lr, float b1, float b2,
                       float eps, float c1, float c2, float wd) nogil
    void fastnn_adam_d(double *P, const double *G, double *M, double *V, long n, double lr, double b1, double b2,
                       double eps, double c1, double c2, double wd) nogil

cdef extern from "rowwise.h":
    int fastnn_all_finite_f(const float *a, long n) nogil
    int fastnn_all_finite_d(const double *a, long n) nogil
    void fastnn_softmax_rows_f(float *a, long rows, long m) nogil
    void fastnn_softmax_rows_d(double *a, long rows, long m) nogil

cdef extern from "small_net.h":
    long FNN_R_VALUES(long rows, long fo)
    long FNN_SLOT_VALUES(long rows, long n)
    long FNN_PACK_BYTES(long span)
    ctypedef void (*fnn_sgemm_t)(char *, char *, int *, int *, int *, float *, float *, int *, float *, int *,
                                 float *, float *, int *) noexcept nogil
    ctypedef void (*fnn_dgemm_t)(char *, char *, int *, int *, int *, double *, double *, int *, double *, int *,
                                 double *, double *, int *) noexcept nogil
    ctypedef struct fnn_layers_t:  # the fields are documented in small_net.h / small_net_impl.h
        const int64_t *layout
        long L
        const int *acts
        const double *ks
        const double *alphas
        int loss
    ctypedef struct fastnn_params_t_f:
        float *theta
        float *grad
        float *m1
        float *m2
        long size
        int opt
        double mu, b1, b2, eps
        float wd
    ctypedef struct fastnn_params_t_d:
        double *theta
        double *grad
        double *m1
        double *m2
        long size
        int opt
        double mu, b1, b2, eps
        double wd
    ctypedef struct fastnn_data_t_f:
        const float *XT
        const float *YT
        const int64_t *labels
        long n_labels
        const float *X
        const float *Y
        const int64_t *order
        long n_order, batch, n_cols, n_out
    ctypedef struct fastnn_data_t_d:
        const double *XT
        const double *YT
        const int64_t *labels
        long n_labels
        const double *X
        const double *Y
        const int64_t *order
        long n_order, batch, n_cols, n_out
    ctypedef struct fastnn_buffers_t_f:
        float *XbT
        float *YbT
        int64_t *lb
        float *work
        float *scratch
    ctypedef struct fastnn_buffers_t_d:
        double *XbT
        double *YbT
        int64_t *lb
        double *work
        double *scratch
    ctypedef struct fastnn_options_t_f:
        int mean_reduction
        fnn_sgemm_t gemm
        long blas_min_weights
        int fuse_sgd
    ctypedef struct fastnn_options_t_d:
        int mean_reduction
        fnn_dgemm_t gemm
        long blas_min_weights
        int fuse_sgd
    ctypedef struct fastnn_sparse_t_f:
        const int64_t *ptr
        const int32_t *idx
        const float *val
        const int64_t *tptr
        const int32_t *tidx
        const float *tval
        int64_t *bptr
        int32_t *bidx
        float *bval
        int64_t *cptr
        int32_t *cidx
        float *cval
        int64_t *cur
        float *pk
        long span
        int threads
        float *R
        void *team
        int columns_posted
    ctypedef struct fastnn_sparse_t_d:
        const int64_t *ptr
        const int32_t *idx
        const double *val
        const int64_t *tptr
        const int32_t *tidx
        const double *tval
        int64_t *bptr
        int32_t *bidx
        double *bval
        int64_t *cptr
        int32_t *cidx
        double *cval
        int64_t *cur
        double *pk
        long span
        int threads
        double *R
        void *team
        int columns_posted
    ctypedef struct fastnn_net_t_f:
        fnn_layers_t net
        fastnn_params_t_f params
        fastnn_data_t_f data
        fastnn_buffers_t_f buf
        fastnn_options_t_f opts
        fastnn_sparse_t_f sparse
    ctypedef struct fastnn_net_t_d:
        fnn_layers_t net
        fastnn_params_t_d params
        fastnn_data_t_d data
        fastnn_buffers_t_d buf
        fastnn_options_t_d opts
        fastnn_sparse_t_d sparse
    long fastnn_train_f(const fastnn_net_t_f *run, const double *lrs, long steps, double t0, double *losses,
                        int64_t *correct) nogil
    long fastnn_train_d(const fastnn_net_t_d *run, const double *lrs, long steps, double t0, double *losses,
                        int64_t *correct) nogil
    void fastnn_fused_gradient_f(const fastnn_net_t_f *run, long s) nogil
    void fastnn_fused_gradient_d(const fastnn_net_t_d *run, long s) nogil

ctypedef fastnn_net_t_f *net_f_p
ctypedef fastnn_net_t_d *net_d_p
ctypedef fused net_p:  # a training run of either element type
    net_f_p
    net_d_p


cdef extern from "codes.h":  # the codes and layout columns of fastnn/codes.py
    enum:
        LINEAR "FNN_ACT_LINEAR"
        SIGMOID "FNN_ACT_SIGMOID"
        TANH "FNN_ACT_TANH"
        RELU "FNN_ACT_RELU"
        RELU6 "FNN_ACT_RELU6"
        LEAKY_RELU "FNN_ACT_LEAKY_RELU"
        OPT_MOMENTUM "FNN_OPT_MOMENTUM"
        OPT_ADAM "FNN_OPT_ADAM"
        COL_FAN_IN "FNN_COL_FAN_IN"
        COL_FAN_OUT "FNN_COL_FAN_OUT"
        COL_W_OFF "FNN_COL_W_OFF"
        COL_B_OFF "FNN_COL_B_OFF"
        COL_A_OFF "FNN_COL_A_OFF"
        COL_D_OFF "FNN_COL_D_OFF"
        LAYOUT_COLS "FNN_LAYOUT_COLS"

cdef enum BlasTrans:
    NoTrans = 110  # 'n'
    Trans = 116    # 't'

# Element-wise loops go parallel only above this many elements (a parallel region
# costs microseconds; tiny layers are faster serially).
cdef Py_ssize_t PARALLEL_MIN = 16384
# Optimiser steps are a streaming pass (a few flops per value): threads pay off only on large vectors.
cdef Py_ssize_t UPDATE_PARALLEL_MIN = 1 << 20
cdef int _n_threads = 1


def set_num_threads(int n):
    """Number of OpenMP threads used by the element-wise epilogues."""
    global _n_threads
    _n_threads = max(1, n)


def get_num_threads():
    return _n_threads


cdef inline int _require(bint ok, str what) except -1:
    if not ok:
        raise ValueError(f"shape mismatch: {what}")
    return 0


# ---------------------------------------------------------------- BLAS
cdef void _gemm(BlasTrans ta, BlasTrans tb, int m, int n, int k, floating alpha,
                const floating *A, int lda, const floating *B, int ldb,
                floating beta, floating *C, int ldc) noexcept nogil:
    """Row-major C := alpha·op(A)·op(B) + beta·C, C is m×n.

    BLAS is column-major: a row-major matrix is its transpose in column-major, so
    we compute Cᵀ = op(B)ᵀ·op(A)ᵀ by swapping the operands (as scikit-learn does).
    """
    cdef char ta_ = ta
    cdef char tb_ = tb
    if floating is float:
        sgemm(&tb_, &ta_, &n, &m, &k, &alpha, <float *> B, &ldb, <float *> A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb_, &ta_, &n, &m, &k, &alpha, <double *> B, &ldb, <double *> A, &lda,
              &beta, C, &ldc)


# ---------------------------------------------------------------- kernels
cdef inline void _activate_rows(floating *a, const floating *b, Py_ssize_t rows, Py_ssize_t m,
                                int act, double k, double alpha) noexcept nogil:
    """rows×m block: a := f(a + b) (vectorised C epilogue)"""
    if floating is float:
        fastnn_activate_rows_f(a, b, rows, m, act, <float> k, <float> alpha)
    else:
        fastnn_activate_rows_d(a, b, rows, m, act, k, alpha)


cdef inline void _derivative_rows(floating *d, const floating *t, const floating *a, Py_ssize_t rows,
                                  Py_ssize_t m, int act, double k, double alpha) noexcept nogil:
    """rows×m block: d := t ⊙ f'(a) (vectorised C epilogue; d may alias t or a)"""
    if floating is float:
        fastnn_derivative_rows_f(d, t, a, rows, m, act, <float> k, <float> alpha)
    else:
        fastnn_derivative_rows_d(d, t, a, rows, m, act, k, alpha)


cdef inline Py_ssize_t _n_chunks(Py_ssize_t n, Py_ssize_t m) noexcept nogil:
    """How many row chunks to spread over the threads (1 for small blocks)."""
    if n * m <= PARALLEL_MIN or _n_threads <= 1:
        return 1
    return min(n, 4 * _n_threads)


cdef void _bias_activate(floating[:, ::1] A, const floating[::1] b, bint has_bias,
                         int act, double k, double alpha) noexcept nogil:
    """A := f(A + b)"""
    cdef Py_ssize_t c, lo, hi, n = A.shape[0], m = A.shape[1], nc = _n_chunks(n, m)
    cdef const floating *bp = &b[0] if has_bias else NULL
    for c in prange(nc, schedule="static", num_threads=_n_threads, use_threads_if=nc > 1):
        lo = c * n // nc
        hi = (c + 1) * n // nc
        if hi > lo:
            _activate_rows(&A[lo, 0], bp, hi - lo, m, act, k, alpha)


cdef void _times_derivative(floating[:, ::1] D, const floating[:, ::1] A,
                            int act, double k, double alpha) noexcept nogil:
    """D := D ⊙ f'(A)"""
    cdef Py_ssize_t c, lo, hi, n = D.shape[0], m = D.shape[1], nc = _n_chunks(n, m)
    if act == LINEAR:
        return
    for c in prange(nc, schedule="static", num_threads=_n_threads, use_threads_if=nc > 1):
        lo = c * n // nc
        hi = (c + 1) * n // nc
        if hi > lo:
            _derivative_rows(&D[lo, 0], &D[lo, 0], &A[lo, 0], hi - lo, m, act, k, alpha)


def dense_forward(const floating[:, ::1] X, const floating[:, ::1] W, const floating[::1] b,
                  bint has_bias, floating[:, ::1] A, int act, double k, double alpha, bint check=False):
    """A := f(X·W + b); with check, returns whether X·W is all finite (NaN/inf anywhere in a
    row of X makes that whole row of X·W NaN/inf, so this also checks X, at a third of the cost)"""
    cdef int n = X.shape[0], d = X.shape[1], m = W.shape[1]
    cdef int finite = 1
    _require(W.shape[0] == d and A.shape[0] == n and A.shape[1] == m and n > 0 and d > 0 and m > 0,
             "dense_forward needs X (n, d), W (d, m), A (n, m)")
    _require(not has_bias or b.shape[0] == m, "dense_forward needs b of length m")
    with nogil:
        _gemm(NoTrans, NoTrans, n, m, d, <floating> 1.0, &X[0, 0], d, &W[0, 0], m,
              <floating> 0.0, &A[0, 0], m)
        if check:
            if floating is float:
                finite = fastnn_all_finite_f(&A[0, 0], <long> n * m)
            else:
                finite = fastnn_all_finite_d(&A[0, 0], <long> n * m)
        _bias_activate(A, b, has_bias, act, k, alpha)
    return finite != 0 if check else None


def activation_grad(floating[:, ::1] D, const floating[:, ::1] A, int act, double k, double alpha):
    """D := D ⊙ f'(A)"""
    _require(D.shape[0] == A.shape[0] and D.shape[1] == A.shape[1], "activation_grad needs D and A of one shape")
    with nogil:
        _times_derivative(D, A, act, k, alpha)


# In-place deltas go through a buffer of about a quarter of the rows: few BLAS calls (each
# wakes the BLAS threads) for a quarter of the memory of a separate delta array.
cdef Py_ssize_t DELTA_MIN_BLOCK_ROWS = 2048


def delta_backward(const floating[:, ::1] Dn, const floating[:, ::1] Wn, const floating[:, ::1] A,
                   floating[:, ::1] D, int act, double k, double alpha):
    """D := (Dn·Wnᵀ) ⊙ f'(A); D may be A itself (computed in row blocks through a small buffer)"""
    cdef int n = Dn.shape[0], o = Dn.shape[1], h = Wn.shape[0]
    cdef int r0, rb, block
    cdef Py_ssize_t c, lo, hi, nc
    cdef floating *tmp
    _require(Wn.shape[1] == o and A.shape[0] == n and A.shape[1] == h and D.shape[0] == n and D.shape[1] == h
             and n > 0 and o > 0 and h > 0, "delta_backward needs Dn (n, o), Wn (h, o), A and D (n, h)")
    if <const void *> &D[0, 0] != <const void *> &A[0, 0]:
        with nogil:
            _gemm(NoTrans, Trans, n, h, o, <floating> 1.0, &Dn[0, 0], o, &Wn[0, 0], o,
                  <floating> 0.0, &D[0, 0], h)
            _times_derivative(D, A, act, k, alpha)
        return
    block = <int> min(max(DELTA_MIN_BLOCK_ROWS, (n + 3) // 4), n)
    tmp = <floating *> malloc(block * h * sizeof(floating))
    if tmp == NULL:
        raise MemoryError("delta_backward: cannot allocate its row buffer")
    r0 = 0
    with nogil:
        while r0 < n:
            rb = min(block, n - r0)
            _gemm(NoTrans, Trans, rb, h, o, <floating> 1.0, &Dn[r0, 0], o, &Wn[0, 0], o,
                  <floating> 0.0, tmp, h)
            nc = _n_chunks(rb, h)
            for c in prange(nc, schedule="static", num_threads=_n_threads, use_threads_if=nc > 1):
                lo = c * rb // nc
                hi = (c + 1) * rb // nc
                if hi > lo:
                    _derivative_rows(&D[r0 + lo, 0], tmp + lo * h, &A[r0 + lo, 0], hi - lo, h, act, k, alpha)
            r0 = r0 + rb
    free(tmp)


cdef int _same3(const floating[:, ::1] A, const floating[:, ::1] Y, const floating[:, ::1] D) except -1:
    return _require(A.shape[0] == Y.shape[0] == D.shape[0] and A.shape[1] == Y.shape[1] == D.shape[1]
                    and A.shape[1] > 0, "loss kernels need A, Y and D of one shape")


def softmax(floating[:, ::1] A):
    """A := softmax(A) row-wise"""
    cdef Py_ssize_t c, lo, hi, n = A.shape[0], m = A.shape[1], nc = _n_chunks(n, m)
    _require(m > 0, "softmax needs at least one column")
    with nogil:
        for c in prange(nc, schedule="static", num_threads=_n_threads, use_threads_if=nc > 1):
            lo = c * n // nc
            hi = (c + 1) * n // nc
            if hi > lo:
                if floating is float:
                    fastnn_softmax_rows_f(&A[lo, 0], hi - lo, m)
                else:
                    fastnn_softmax_rows_d(&A[lo, 0], hi - lo, m)


def all_finite(const floating[:, ::1] A):
    """True when A holds no NaN or ±inf (one vectorised pass over the exponent bits)"""
    cdef Py_ssize_t c, lo, hi, n = A.shape[0], m = A.shape[1], nc = _n_chunks(n, m)
    cdef int bad = 0
    if n == 0 or m == 0:
        return True
    with nogil:
        for c in prange(nc, schedule="static", num_threads=_n_threads, use_threads_if=nc > 1):
            lo = c * n // nc
            hi = (c + 1) * n // nc
            if hi > lo:
                if floating is float:
                    bad += 1 - fastnn_all_finite_f(&A[lo, 0], (hi - lo) * m)
                else:
                    bad += 1 - fastnn_all_finite_d(&A[lo, 0], (hi - lo) * m)
    return bad == 0


def softmax_cross_entropy(floating[:, ::1] A, const floating[:, ::1] Y, floating[:, ::1] D, double scale):
    """P := softmax(Z); D := scale·(P − Y); loss = Σ Y·(logsumexp(Z) − Z)"""
    cdef Py_ssize_t i, j, n = A.shape[0], m = A.shape[1]
    cdef double mx, s, lse, z, p, row, loss = 0.0
    _same3(A, Y, D)
    with nogil:
        for i in prange(n, schedule="static", num_threads=_n_threads, use_threads_if=n * m > PARALLEL_MIN):
            mx = A[i, 0]
            for j in range(1, m):
                if A[i, j] > mx:
                    mx = A[i, j]
            s = 0.0
            for j in range(m):
                s = s + exp(A[i, j] - mx)
            lse = log(s)
            row = 0.0
            for j in range(m):
                z = A[i, j] - mx
                p = exp(z - lse)
                row = row + Y[i, j] * (lse - z)
                A[i, j] = <floating> p
                D[i, j] = <floating> (scale * (p - Y[i, j]))
            loss += row
    return loss


def sigmoid_bce(floating[:, ::1] A, const floating[:, ::1] Y, floating[:, ::1] D, double k, double scale):
    """P := σ(kZ); D := scale·k(P − Y); loss = Σ softplus(kZ) − Y·kZ"""
    cdef Py_ssize_t i, j, n = A.shape[0], m = A.shape[1]
    cdef double kz, p, row, loss = 0.0
    _same3(A, Y, D)
    with nogil:
        for i in prange(n, schedule="static", num_threads=_n_threads, use_threads_if=n * m > PARALLEL_MIN):
            row = 0.0
            for j in range(m):
                kz = k * A[i, j]
                row = row + (kz if kz > 0.0 else 0.0) + log1p(exp(-fabs(kz))) - Y[i, j] * kz
                p = 1.0 / (1.0 + exp(-kz))
                A[i, j] = <floating> p
                D[i, j] = <floating> (scale * k * (p - Y[i, j]))
            loss += row
    return loss


def mse(const floating[:, ::1] A, const floating[:, ::1] Y, floating[:, ::1] D,
        int act, double k, double alpha, double scale):
    """D := scale·2(A − Y)·f'(A); loss = Σ (A − Y)²"""
    cdef Py_ssize_t i, j, n = A.shape[0], m = A.shape[1]
    cdef double diff, row, loss = 0.0
    _same3(A, Y, D)
    with nogil:
        for i in prange(n, schedule="static", num_threads=_n_threads, use_threads_if=n * m > PARALLEL_MIN):
            row = 0.0
            for j in range(m):
                diff = A[i, j] - Y[i, j]
                row = row + diff * diff
                D[i, j] = <floating> (scale * 2.0 * diff)
            loss += row
        _times_derivative(D, A, act, k, alpha)  # D := D ⊙ f'(A)
    return loss


cdef inline Py_ssize_t _column_blocks(Py_ssize_t n) noexcept nogil:
    """Row blocks of the bias-gradient sums (one partial sum per block and column)."""
    return min(n, 64)


cdef void _column_sums(const floating[:, ::1] D, floating[::1] out, double scale, bint accumulate,
                       double *partial) noexcept nogil:
    """out := scale·Σ_rows D (+ out if accumulate); per-block partial sums in double (``partial``:
    zeroed, _column_blocks(n)·m values), then combined"""
    cdef Py_ssize_t n = D.shape[0], m = D.shape[1], blk, i, j, lo, hi
    cdef Py_ssize_t n_blocks = _column_blocks(n)
    cdef double s
    for blk in prange(n_blocks, schedule="static", num_threads=_n_threads, use_threads_if=n * m > PARALLEL_MIN):
        lo = blk * n // n_blocks
        hi = (blk + 1) * n // n_blocks
        for i in range(lo, hi):
            for j in range(m):
                partial[blk * m + j] += D[i, j]
    for j in range(m):
        s = 0.0
        for blk in range(n_blocks):
            s = s + partial[blk * m + j]
        out[j] = <floating> (scale * s + (out[j] if accumulate else 0.0))


def column_sums(const floating[:, ::1] D, floating[::1] out, double scale, bint accumulate=False):
    """out := scale·Σ_rows D (+ out if accumulate)"""
    cdef Py_ssize_t m = D.shape[1]
    cdef double *partial
    _require(out.shape[0] == m, "column_sums needs out of length D.shape[1]")
    if D.shape[0] == 0:
        if not accumulate:
            out[:] = 0
        return
    partial = <double *> calloc(_column_blocks(D.shape[0]) * m, sizeof(double))
    if partial == NULL:
        raise MemoryError(f"column_sums: cannot allocate {_column_blocks(D.shape[0]) * m} partial sums")
    with nogil:
        _column_sums(D, out, scale, accumulate, partial)
    free(partial)


def weight_grad(const floating[:, ::1] X, const floating[:, ::1] D, floating[:, ::1] dW,
                floating[::1] db, bint has_bias, double scale, bint accumulate=False):
    """dW := scale·XᵀD (+ dW if accumulate); db := scale·Σ_rows D (+ db if accumulate)"""
    cdef int n = X.shape[0], d = X.shape[1], m = D.shape[1]
    cdef double *partial = NULL
    _require(D.shape[0] == n and dW.shape[0] == d and dW.shape[1] == m and n > 0 and d > 0 and m > 0,
             "weight_grad needs X (n, d), D (n, m), dW (d, m)")
    _require(not has_bias or db.shape[0] == m, "weight_grad needs db of length m")
    if has_bias:
        partial = <double *> calloc(_column_blocks(n) * m, sizeof(double))
        if partial == NULL:
            raise MemoryError(f"weight_grad: cannot allocate {_column_blocks(n) * m} partial sums for the bias gradient")
    try:
        with nogil:
            _gemm(Trans, NoTrans, d, m, n, <floating> scale, &X[0, 0], d, &D[0, 0], m,
                  <floating> (1.0 if accumulate else 0.0), &dW[0, 0], m)
            if has_bias:
                _column_sums(D, db, scale, accumulate, partial)
    finally:
        free(partial)


cdef inline Py_ssize_t _n_update_chunks(Py_ssize_t n) noexcept nogil:
    """Threads for an optimiser step over n parameters (1 below UPDATE_PARALLEL_MIN)."""
    return _n_threads if (n > UPDATE_PARALLEL_MIN and _n_threads > 1) else 1


def sgd_update(floating[::1] P, const floating[::1] G, double lr, double wd):
    """P := P − lr·(G + wd·P)"""
    cdef Py_ssize_t c, lo, hi, n = P.shape[0], nc = _n_update_chunks(n)
    _require(G.shape[0] == n, "sgd_update needs P and G of one length")
    with nogil:
        for c in prange(nc, schedule="static", num_threads=_n_threads, use_threads_if=nc > 1):
            lo = c * n // nc
            hi = (c + 1) * n // nc
            if floating is float:
                fastnn_sgd_f(&P[lo], &G[lo], hi - lo, <float> lr, <float> wd)
            else:
                fastnn_sgd_d(&P[lo], &G[lo], hi - lo, lr, wd)


def momentum_update(floating[::1] P, const floating[::1] G, floating[::1] V,
                    double lr, double mu, double wd):
    """V := mu·V − lr·(G + wd·P); P += V"""
    cdef Py_ssize_t c, lo, hi, n = P.shape[0], nc = _n_update_chunks(n)
    _require(G.shape[0] == n and V.shape[0] == n, "momentum_update needs P, G, V of one length")
    with nogil:
        for c in prange(nc, schedule="static", num_threads=_n_threads, use_threads_if=nc > 1):
            lo = c * n // nc
            hi = (c + 1) * n // nc
            if floating is float:
                fastnn_momentum_f(&P[lo], &G[lo], &V[lo], hi - lo, <float> lr, <float> mu, <float> wd)
            else:
                fastnn_momentum_d(&P[lo], &G[lo], &V[lo], hi - lo, lr, mu, wd)


def adam_update(floating[::1] P, const floating[::1] G, floating[::1] M, floating[::1] V,
                double lr, double b1, double b2, double eps, double t, double wd):
    """M := b1 M + (1−b1) g; V := b2 V + (1−b2) g²; P -= lr·M̂/(√V̂ + eps), g = G + wd·P"""
    cdef Py_ssize_t c, lo, hi, n = P.shape[0], nc = _n_update_chunks(n)
    cdef double c1 = 1.0 - b1 ** t, c2 = 1.0 - b2 ** t
    _require(G.shape[0] == n and M.shape[0] == n and V.shape[0] == n, "adam_update needs P, G, M, V of one length")
    with nogil:
        for c in prange(nc, schedule="static", num_threads=_n_threads, use_threads_if=nc > 1):
            lo = c * n // nc
            hi = (c + 1) * n // nc
            if floating is float:
                fastnn_adam_f(&P[lo], &G[lo], &M[lo], &V[lo], hi - lo, <float> lr, <float> b1, <float> b2,
                              <float> eps, <float> c1, <float> c2, <float> wd)
            else:
                fastnn_adam_d(&P[lo], &G[lo], &M[lo], &V[lo], hi - lo, lr, b1, b2, eps, c1, c2, wd)


# ---------------------------------------------------------------- compiled small-network loop
cdef int _fill_run(net_p run, floating[::1] theta, tuple network, tuple parameters, tuple data, tuple buffers,
                   bint full_batch, bint mean_reduction, long blas_min_weights, bint fuse_sgd) except -1:
    """Check the arrays of a SmallNet (see its docstring for the tuples) and point the C description of
    the run (kernels/small_net_impl.h: FNN_NAME(net_t)) at them."""
    layout_, acts_, ks_, alphas_, loss = network
    _, grad_, m1_, m2_, opt, mu, b1, b2, eps, wd = parameters
    X_, Y_, labels_, XT_, YT_, _ = data
    XbT_, YbT_, lb_, work_ = buffers
    cdef const int64_t[:, ::1] layout = layout_
    cdef const int[::1] acts = acts_
    cdef const double[::1] ks = ks_, alphas = alphas_
    cdef floating[::1] grad = grad_, m1 = m1_, m2 = m2_, XbT = XbT_, YbT = YbT_, work = work_
    cdef const floating[:, ::1] X = X_, Y = Y_, XT = XT_, YT = YT_
    cdef const int64_t[::1] labels = labels_
    cdef int64_t[::1] lb = lb_
    cdef long L = layout.shape[0], size = theta.shape[0], n_cols = X.shape[1], n_out = Y.shape[1], l
    cdef long n = X.shape[0] if full_batch else data[5]  # rows per step
    cdef long needed = 2 * n
    _require(min(size, m1.shape[0], m2.shape[0], XT.shape[0], YT.shape[0], XbT.shape[0], YbT.shape[0], lb.shape[0],
                 X.shape[0], work.shape[0]) > 0, "SmallNet: empty array (pass 1-element dummies for unused buffers)")
    _require(L > 0 and layout.shape[1] == LAYOUT_COLS and grad.shape[0] == size, "SmallNet: layout or grad do not match theta")
    for l in range(L):
        _require(layout[l, COL_W_OFF] + layout[l, COL_FAN_IN] * layout[l, COL_FAN_OUT] <= size
                 and layout[l, COL_B_OFF] + layout[l, COL_FAN_OUT] <= size
                 and layout[l, COL_A_OFF] + layout[l, COL_FAN_OUT] * n <= work.shape[0]
                 and layout[l, COL_D_OFF] + layout[l, COL_FAN_OUT] * n <= work.shape[0]
                 and (l == 0 or layout[l, COL_FAN_IN] == layout[l - 1, COL_FAN_OUT]), "SmallNet: inconsistent layout")
        needed = max(needed, layout[l, COL_D_OFF] + layout[l, COL_FAN_OUT] * n + 2 * n)
    _require(work.shape[0] >= needed, "SmallNet: work buffer too small")
    _require(acts.shape[0] == L and ks.shape[0] == L and alphas.shape[0] == L,
             "SmallNet: layout/acts/ks/alphas must describe the same layers")
    _require(layout[0, COL_FAN_IN] == n_cols, "SmallNet: X does not match the layers")
    _require(layout[L - 1, COL_FAN_OUT] == n_out, "SmallNet: Y does not match the layers")
    _require(labels.shape[0] == 0 or labels.shape[0] == X.shape[0], "SmallNet: one label per sample")
    if full_batch:
        _require(XT.shape[0] == n_cols and XT.shape[1] == n, "SmallNet: XT must be a feature-major copy of X")
        _require(YT.shape[0] == n_out and YT.shape[1] == n, "SmallNet: YT must be a feature-major copy of Y")
    else:
        _require(Y.shape[0] == X.shape[0], "SmallNet: X and Y must have one row per sample")
        _require(n > 0 and XbT.shape[0] >= n * n_cols and YbT.shape[0] >= n * n_out and lb.shape[0] >= n,
                 "SmallNet: batch buffers too small")
    if (opt == OPT_MOMENTUM and m1.shape[0] < size) or (opt == OPT_ADAM and (m1.shape[0] < size or m2.shape[0] < size)):
        raise ValueError("SmallNet: optimiser state too short")
    if (net_p is net_f_p and floating is float) or (net_p is net_d_p and floating is double):
        run.net.layout, run.net.L, run.net.acts, run.net.ks, run.net.alphas = &layout[0, 0], L, &acts[0], &ks[0], &alphas[0]
        run.net.loss = loss
        run.params.theta, run.params.grad, run.params.m1, run.params.m2 = &theta[0], &grad[0], &m1[0], &m2[0]
        run.params.size, run.params.opt, run.params.wd = size, opt, <floating> wd
        run.params.mu, run.params.b1, run.params.b2, run.params.eps = mu, b1, b2, eps
        run.data.XT, run.data.YT, run.data.X, run.data.Y = &XT[0, 0], &YT[0, 0], &X[0, 0], &Y[0, 0]
        run.data.labels, run.data.n_labels = &labels[0] if labels.shape[0] > 0 else NULL, labels.shape[0]
        run.data.order, run.data.n_order = NULL, 0  # set by each call
        run.data.batch, run.data.n_cols, run.data.n_out = n, n_cols, n_out
        run.buf.XbT, run.buf.YbT, run.buf.lb = &XbT[0], &YbT[0], &lb[0]
        run.buf.work, run.buf.scratch = &work[0], &work[work.shape[0] - 2 * n]
        run.opts.mean_reduction, run.opts.blas_min_weights, run.opts.fuse_sgd = mean_reduction, blas_min_weights, fuse_sgd
        run.sparse.R = NULL  # dense first layer unless _fill_sparse
        run.sparse.ptr = NULL
        run.sparse.team = NULL
        run.sparse.columns_posted = 0
        if floating is float:
            run.opts.gemm = <fnn_sgemm_t> sgemm if blas_min_weights >= 0 else NULL
        else:
            run.opts.gemm = <fnn_dgemm_t> dgemm if blas_min_weights >= 0 else NULL
    else:
        raise TypeError("SmallNet: the run and theta differ in element type")


cdef int _fill_sparse(net_p run, const floating[::1] values, tuple sparse, long n_rows, long rows, long n_cols,
                      long fan_out, bint full_batch) except -1:
    """Check the sparse first layer's arrays (``sparse``: see SmallNet) and point run.sparse at them:
    a full batch's X and Xᵀ in sparse rows, or a mini-batch's buffers (its rows are compressed from
    the dense X at each step). rows: rows per step; fan_out: the first layer's units."""
    indptr_, indices_, _, tptr_, tidx_, tval_, bptr_, bidx_, bval_, cptr_, cidx_, cval_, cur_, pk_, R_ = sparse
    cdef const int64_t[::1] indptr = indptr_, tptr = tptr_
    cdef const int32_t[::1] indices = indices_, tidx = tidx_
    cdef const floating[::1] tval = tval_
    cdef int64_t[::1] bptr = bptr_, cptr = cptr_, cur = cur_
    cdef int32_t[::1] bidx = bidx_, cidx = cidx_
    cdef floating[::1] bval = bval_, cval = cval_, pk = pk_, R = R_
    cdef long i, span = max(rows, n_cols), shortest = 0
    cdef int64_t nnz
    cdef int32_t lo = 0, hi = 0
    if full_batch:
        _require(indptr.shape[0] == n_rows + 1 and indptr[0] == 0, "SmallNet: sparse indptr must have n_rows + 1 offsets from 0")
        for i in range(n_rows):
            shortest = min(shortest, indptr[i + 1] - indptr[i])
        _require(shortest >= 0, "SmallNet: sparse indptr must not decrease")
        nnz = indptr[n_rows]
        _require(indices.shape[0] >= nnz and values.shape[0] >= nnz, "SmallNet: sparse indices/values shorter than indptr says")
        for i in range(nnz):
            lo, hi = min(lo, indices[i]), max(hi, indices[i])
        _require(lo >= 0 and hi < n_cols, "SmallNet: sparse column index out of range")
        _require(tptr.shape[0] == n_cols + 1 and tptr[0] == 0 and tptr[n_cols] == nnz and tidx.shape[0] >= nnz
                 and tval.shape[0] >= nnz, "SmallNet: the transposed sparse rows do not match X")
        lo, hi = 0, 0
        for i in range(nnz):
            lo, hi = min(lo, tidx[i]), max(hi, tidx[i])
        _require(lo >= 0 and hi < n_rows, "SmallNet: transposed sparse row index out of range")
    else:
        _require(bptr.shape[0] >= 2 * (rows + 1) and min(bidx.shape[0], bval.shape[0]) >= 2 * FNN_SLOT_VALUES(rows, n_cols)
                 and cptr.shape[0] > n_cols and min(cidx.shape[0], cval.shape[0]) >= FNN_SLOT_VALUES(rows, n_cols),
                 "SmallNet: sparse batch buffers too small")
    _require(cur.shape[0] >= span and pk.shape[0] * sizeof(floating) >= FNN_PACK_BYTES(span)
             and R.shape[0] >= FNN_R_VALUES(rows, fan_out),
             "SmallNet: sparse work buffers too small")
    if (net_p is net_f_p and floating is float) or (net_p is net_d_p and floating is double):
        if full_batch:
            run.sparse.ptr, run.sparse.idx, run.sparse.val = &indptr[0], &indices[0], &values[0]
            run.sparse.tptr, run.sparse.tidx, run.sparse.tval = &tptr[0], &tidx[0], &tval[0]
        else:
            run.sparse.ptr, run.sparse.idx, run.sparse.val = NULL, NULL, NULL
            run.sparse.tptr, run.sparse.tidx, run.sparse.tval = NULL, NULL, NULL
        run.sparse.bptr, run.sparse.bidx, run.sparse.bval = &bptr[0], &bidx[0], &bval[0]
        run.sparse.cptr, run.sparse.cidx, run.sparse.cval = &cptr[0], &cidx[0], &cval[0]
        run.sparse.cur, run.sparse.pk, run.sparse.R = &cur[0], &pk[0], &R[0]
        run.sparse.span = span
        run.sparse.team = NULL
        run.sparse.columns_posted = 0
        run.sparse.threads = min(cur.shape[0] // span, pk.shape[0] * sizeof(floating) // FNN_PACK_BYTES(span))
    else:
        raise TypeError("SmallNet: the sparse values and theta differ in element type")


def sparse_buffer_sizes(long rows, long n_cols, long fan_out):
    """(one slot of a mini-batch's compressed rows or of its columns, in values; one thread's
    packing space, in bytes, for max(rows, n_cols); the scratch R, in values): the sizes the sparse
    first layer's buffers need for steps of ``rows`` rows (kernels/small_net.h), which
    fastnn.sparse.loop_buffers allocates."""
    return FNN_SLOT_VALUES(rows, n_cols), FNN_PACK_BYTES(max(rows, n_cols)), FNN_R_VALUES(rows, fan_out)


cdef class SmallNet:
    """One small network's training run through the compiled loop (kernels/small_net_impl.h),
    described once (its arrays checked and referenced here), then run chunk by chunk.

    SmallNet(network, parameters, data, buffers, mean_reduction, blas_min_weights=-1, fuse_sgd=False):
      network    (layout int64 (L, LAYOUT_COLS), acts int32 (L,), ks (L,), alphas (L,), loss code)
      parameters (theta, grad, m1, m2, optimiser code, momentum, beta1, beta2, eps, weight decay);
                 θ, grad and the moments are updated in place (moments: 1-element dummies when unused)
      data       (X, Y, labels, XT, YT, batch): row-major X (n × n_cols) and Y (n × n_out), int64
                 labels (n, or empty: no correct counts); full batch when batch ≥ n, with XT/YT the
                 feature-major copies of X/Y (else 1×1 dummies)
      buffers    (XbT, YbT, lb, work): a mini-batch's inputs, targets and labels (1-element dummies in
                 full batch); work: the layers' A/D blocks at the layout's a_off/d_off for ``batch``
                 rows, then 2·batch scratch values
    A layer's products go to BLAS (sgemm/dgemm) when it has fan_in·fan_out ≥ ``blas_min_weights``
    weights (−1: never). With ``fuse_sgd`` (plain SGD without weight decay) those layers' weights take
    their SGD step inside the gradient's GEMM and their blocks of grad are left stale: ``gradient``
    recomputes them for the last step.

    ``sparse`` (or None: dense): the first layer from X in sparse rows, skipping its zeros (forward
    X·W1 and weight gradient Xᵀ·D1 through kernels/sparse.h; fused like a BLAS layer) — the tuple
    fastnn.sparse.loop_buffers builds: a full batch's X and Xᵀ in sparse rows (indptr, indices,
    values each), or room for a batch's rows and columns (mini-batches: compressed from the dense X
    at each step), then spmm cursors, packing space and the row-major scratch R."""

    cdef fastnn_net_t_f run_f
    cdef fastnn_net_t_d run_d
    cdef bint single
    cdef readonly bint full_batch
    cdef readonly long batch  # rows per step
    cdef long n_rows
    cdef tuple arrays  # every array the C run points into, kept alive
    cdef int sparse_room  # threads the sparse first layer's buffers have room for (0: dense)
    cdef public int sparse_threads  # at most this many threads for the sparse first layer's products

    def __init__(self, tuple network, tuple parameters, tuple data, tuple buffers, bint mean_reduction,
                 long blas_min_weights=-1, bint fuse_sgd=False, tuple sparse=None):
        cdef float[::1] theta_f
        cdef double[::1] theta_d
        cdef const float[::1] values_f
        cdef const double[::1] values_d
        theta = parameters[0]
        self.n_rows = data[0].shape[0]
        self.full_batch = data[5] >= self.n_rows
        self.arrays = (network, parameters, data, buffers, sparse)
        fmt = memoryview(theta).format
        self.single = fmt == "f"
        cdef long fan_out = network[0][0, COL_FAN_OUT]
        if sparse is not None and len(sparse) != 15:
            raise ValueError("SmallNet: sparse must be the 15 arrays of fastnn.sparse.loop_buffers")
        if fmt == "f":
            theta_f = theta
            _fill_run(&self.run_f, theta_f, network, parameters, data, buffers, self.full_batch, mean_reduction,
                      blas_min_weights, fuse_sgd)
            self.batch = self.run_f.data.batch
            if sparse is not None:
                values_f = sparse[2]
                _fill_sparse(&self.run_f, values_f, sparse, self.n_rows, self.batch, self.run_f.data.n_cols, fan_out,
                             self.full_batch)
        elif fmt == "d":
            theta_d = theta
            _fill_run(&self.run_d, theta_d, network, parameters, data, buffers, self.full_batch, mean_reduction,
                      blas_min_weights, fuse_sgd)
            self.batch = self.run_d.data.batch
            if sparse is not None:
                values_d = sparse[2]
                _fill_sparse(&self.run_d, values_d, sparse, self.n_rows, self.batch, self.run_d.data.n_cols, fan_out,
                             self.full_batch)
        else:
            raise ValueError(f"SmallNet: theta must be float32 or float64, got format {fmt!r}")
        self.sparse_room = 0 if sparse is None else (self.run_f.sparse.threads if fmt == "f" else self.run_d.sparse.threads)
        self.sparse_threads = self.sparse_room

    cdef long _set_order(self, const int64_t[::1] order, str who) except -1:
        """Point the run at this call's order (mini-batches only); returns its length."""
        cdef long n_order = 0 if order is None else order.shape[0], i
        cdef const int64_t *p = NULL
        if self.full_batch:
            _require(n_order == 0, f"{who}: a full-batch run takes no order")
        else:
            _require(n_order > 0, f"{who}: mini-batches need the order of the rows")
            for i in range(n_order):
                if order[i] < 0 or order[i] >= self.n_rows:
                    raise ValueError(f"{who}: order index out of range")
            p = &order[0]
        self.run_f.data.order, self.run_f.data.n_order = p, n_order
        self.run_d.data.order, self.run_d.data.n_order = p, n_order
        return n_order

    def run(self, const double[::1] lrs not None, double t0, double[::1] losses not None,
            int64_t[::1] correct not None, const int64_t[::1] order=None):
        """Run len(lrs) steps, step s at learning rate lrs[s] (t0: the optimiser's step count before);
        mini-batches are order[s·batch:(s+1)·batch]. losses[s] := summed loss of step s, correct[s] :=
        its correct predictions (before the update). Returns the steps done: stops before applying a
        step whose loss is not finite."""
        cdef long steps = lrs.shape[0], done = 0
        _require(losses.shape[0] >= steps and correct.shape[0] >= steps, "SmallNet.run: losses/correct too short")
        cdef long n_order = self._set_order(order, "SmallNet.run")
        _require(self.full_batch or steps * self.batch <= n_order + self.batch - 1,
                 "SmallNet.run: more steps than mini-batches in the order")
        if steps == 0:
            return 0
        cdef int threads = max(1, min(_n_threads, self.sparse_threads, self.sparse_room))
        self.run_f.sparse.threads = self.run_d.sparse.threads = threads
        with nogil:
            if self.single:
                done = fastnn_train_f(&self.run_f, &lrs[0], steps, t0, &losses[0], &correct[0])
            else:
                done = fastnn_train_d(&self.run_d, &lrs[0], steps, t0, &losses[0], &correct[0])
        return done

    def gradient(self, long step, const int64_t[::1] order=None):
        """grad's weight blocks of the BLAS layers for step ``step`` of the last ``run`` (same order),
        which fused their SGD step: that step's activations and deltas are still in work (and its
        gathered rows in XbT)."""
        cdef long n_order = self._set_order(order, "SmallNet.gradient")
        _require(step >= 0 and (self.full_batch or step * self.batch < n_order), "SmallNet.gradient: no such step")
        cdef int threads = max(1, min(_n_threads, self.sparse_threads, self.sparse_room))
        self.run_f.sparse.threads = self.run_d.sparse.threads = threads
        with nogil:
            if self.single:
                fastnn_fused_gradient_f(&self.run_f, step)
            else:
                fastnn_fused_gradient_d(&self.run_d, step)
