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
from libc.stdint cimport int64_t
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
    ctypedef void (*fnn_sgemm_t)(char *, char *, int *, int *, int *, float *, float *, int *, float *, int *,
                                 float *, float *, int *) noexcept nogil
    ctypedef void (*fnn_dgemm_t)(char *, char *, int *, int *, int *, double *, double *, int *, double *, int *,
                                 double *, double *, int *) noexcept nogil
    long fastnn_train_f(float *theta, float *grad, float *m1, float *m2, long size, const int64_t *layout, long L,
                        const float *XT, const float *YT, const int64_t *labels, long n_labels,
                        const float *X, const float *Y, const int64_t *order, long n_order, long batch,
                        float *XbT, float *YbT, int64_t *lb, long n_cols, long n_out,
                        const int *acts, const double *ks, const double *alphas, int kind,
                        int mean_reduction, float wd, int opt, const double *lrs, long steps,
                        double mu, double b1, double b2, double eps, double t0,
                        float *work, float *scratch, double *losses, int64_t *correct,
                        fnn_sgemm_t gemm, long blas_min_weights, int fuse_sgd) nogil
    long fastnn_train_d(double *theta, double *grad, double *m1, double *m2, long size, const int64_t *layout, long L,
                        const double *XT, const double *YT, const int64_t *labels, long n_labels,
                        const double *X, const double *Y, const int64_t *order, long n_order, long batch,
                        double *XbT, double *YbT, int64_t *lb, long n_cols, long n_out,
                        const int *acts, const double *ks, const double *alphas, int kind,
                        int mean_reduction, double wd, int opt, const double *lrs, long steps,
                        double mu, double b1, double b2, double eps, double t0,
                        double *work, double *scratch, double *losses, int64_t *correct,
                        fnn_dgemm_t gemm, long blas_min_weights, int fuse_sgd) nogil
    void fastnn_fused_gradient_f(float *theta, float *grad, const int64_t *layout, long L, const float *XT,
                                 const float *X, const int64_t *order, long n_order, long batch, float *XbT,
                                 long n_cols, long s, float *work, fnn_sgemm_t gemm, long blas_min_weights) nogil
    void fastnn_fused_gradient_d(double *theta, double *grad, const int64_t *layout, long L, const double *XT,
                                 const double *X, const int64_t *order, long n_order, long batch, double *XbT,
                                 long n_cols, long s, double *work, fnn_dgemm_t gemm, long blas_min_weights) nogil


cdef extern from "codes.h":  # the activation codes of fastnn/codes.py
    enum:
        LINEAR "FNN_ACT_LINEAR"
        SIGMOID "FNN_ACT_SIGMOID"
        TANH "FNN_ACT_TANH"
        RELU "FNN_ACT_RELU"
        RELU6 "FNN_ACT_RELU6"
        LEAKY_RELU "FNN_ACT_LEAKY_RELU"
        OPT_MOMENTUM "FNN_OPT_MOMENTUM"
        OPT_ADAM "FNN_OPT_ADAM"

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
cdef long _check_small_net(const floating[::1] theta, const floating[::1] grad, const int64_t[:, ::1] layout,
                           const floating[:, ::1] XT, const floating[:, ::1] X, const int64_t[::1] order,
                           long batch, const floating[::1] XbT, const floating[::1] work, str who) except -1:
    """The checks shared by train_small and small_net_gradient; returns the rows per step."""
    cdef long L = layout.shape[0], size = theta.shape[0], n_cols = X.shape[1], n_order = order.shape[0]
    cdef long n = XT.shape[1] if n_order == 0 else batch
    cdef long needed = 2 * n, l
    _require(L > 0 and layout.shape[1] == 6 and grad.shape[0] == size, f"{who}: layout or grad do not match theta")
    for l in range(L):
        _require(layout[l, 2] + layout[l, 0] * layout[l, 1] <= size and layout[l, 3] + layout[l, 1] <= size
                 and layout[l, 4] + layout[l, 1] * n <= work.shape[0]
                 and layout[l, 5] + layout[l, 1] * n <= work.shape[0]
                 and (l == 0 or layout[l, 0] == layout[l - 1, 1]), f"{who}: inconsistent layout")
        needed = max(needed, layout[l, 5] + layout[l, 1] * n + 2 * n)
    _require(work.shape[0] >= needed, f"{who}: work buffer too small")
    _require(layout[0, 0] == n_cols, f"{who}: X does not match the layers")
    if n_order == 0:
        _require(XT.shape[0] == n_cols, f"{who}: XT must be a feature-major copy of X")
    else:
        _require(batch > 0 and XbT.shape[0] >= batch * n_cols, f"{who}: batch buffers too small")
        for l in range(n_order):
            _require(0 <= order[l] < X.shape[0], f"{who}: order index out of range")
    return n


def train_small(floating[::1] theta, floating[::1] grad, floating[::1] m1, floating[::1] m2,
                const int64_t[:, ::1] layout, const floating[:, ::1] XT, const floating[:, ::1] YT,
                const int64_t[::1] labels, const floating[:, ::1] X, const floating[:, ::1] Y,
                const int64_t[::1] order, long batch, floating[::1] XbT, floating[::1] YbT, int64_t[::1] lb,
                const int[::1] acts, const double[::1] ks, const double[::1] alphas, int kind,
                bint mean_reduction, double wd, int opt, const double[::1] lrs, double mu, double b1,
                double b2, double eps, double t0, floating[::1] work, double[::1] losses,
                int64_t[::1] correct, long blas_min_weights=-1, bint fuse_sgd=False):
    """Run len(lrs) training steps of a small network in C (see kernels/small_net_impl.h).

    Full batch when ``order`` is empty (XT/YT: the whole set, feature-major); otherwise
    mini-batches of ``batch`` rows of X/Y taken through ``order``. ``work`` holds the layers'
    A/D blocks for ``batch`` samples plus 2·batch scratch values. A layer's products go to BLAS
    (sgemm/dgemm) when it has fan_in·fan_out ≥ ``blas_min_weights`` weights (−1: never). With
    ``fuse_sgd`` (used for plain SGD without weight decay) those layers' weights take their SGD step
    inside the gradient's GEMM and their blocks of ``grad`` are left stale: small_net_gradient
    recomputes them for the last step. Returns the steps done."""
    cdef long L = layout.shape[0], steps = lrs.shape[0], size = theta.shape[0], done
    cdef long n_cols = X.shape[1], n_out = Y.shape[1], n_order = order.shape[0]
    cdef long n = _check_small_net(theta, grad, layout, XT, X, order, batch, XbT, work, "train_small")
    _require(acts.shape[0] == L and ks.shape[0] == L and alphas.shape[0] == L,
             "train_small: layout/acts/ks/alphas must describe the same layers")
    _require(losses.shape[0] >= steps and correct.shape[0] >= steps, "train_small: losses/correct too short")
    _require(layout[L - 1, 1] == n_out, "train_small: Y does not match the layers")
    if n_order == 0:
        _require(YT.shape[0] == n_out and YT.shape[1] == n, "train_small: YT must be a feature-major copy of Y")
        _require(labels.shape[0] == 0 or labels.shape[0] == n, "train_small: one label per sample")
    else:
        _require(YbT.shape[0] >= batch * n_out and lb.shape[0] >= batch and steps * batch <= n_order + batch - 1,
                 "train_small: batch buffers too small or too many steps for the order")
    if (opt == OPT_MOMENTUM and m1.shape[0] < size) or (opt == OPT_ADAM and (m1.shape[0] < size or m2.shape[0] < size)):
        raise ValueError("train_small: optimiser state too short")
    cdef const int64_t *order_p = &order[0] if n_order > 0 else NULL
    cdef const int64_t *labels_p = &labels[0] if labels.shape[0] > 0 else NULL
    with nogil:
        if floating is float:
            done = fastnn_train_f(&theta[0], &grad[0], &m1[0], &m2[0], size, &layout[0, 0], L, &XT[0, 0], &YT[0, 0],
                                  labels_p, labels.shape[0], &X[0, 0], &Y[0, 0], order_p, n_order, batch,
                                  &XbT[0], &YbT[0], &lb[0], n_cols, n_out, &acts[0], &ks[0], &alphas[0], kind,
                                  mean_reduction, <float> wd, opt, &lrs[0], steps, mu, b1, b2, eps, t0,
                                  &work[0], &work[work.shape[0] - 2 * n], &losses[0], &correct[0],
                                  <fnn_sgemm_t> sgemm if blas_min_weights >= 0 else NULL, blas_min_weights, fuse_sgd)
        else:
            done = fastnn_train_d(&theta[0], &grad[0], &m1[0], &m2[0], size, &layout[0, 0], L, &XT[0, 0], &YT[0, 0],
                                  labels_p, labels.shape[0], &X[0, 0], &Y[0, 0], order_p, n_order, batch,
                                  &XbT[0], &YbT[0], &lb[0], n_cols, n_out, &acts[0], &ks[0], &alphas[0], kind,
                                  mean_reduction, wd, opt, &lrs[0], steps, mu, b1, b2, eps, t0,
                                  &work[0], &work[work.shape[0] - 2 * n], &losses[0], &correct[0],
                                  <fnn_dgemm_t> dgemm if blas_min_weights >= 0 else NULL, blas_min_weights, fuse_sgd)
    return done


def small_net_gradient(floating[::1] theta, floating[::1] grad, const int64_t[:, ::1] layout,
                       const floating[:, ::1] XT, const floating[:, ::1] X, const int64_t[::1] order, long batch,
                       floating[::1] XbT, floating[::1] work, long step, long blas_min_weights):
    """grad's weight blocks of the BLAS layers (fan_in·fan_out ≥ blas_min_weights) for step ``step``
    of the last train_small call with the same buffers, which fused their SGD step: that step's
    activations and deltas are still in ``work`` (and its gathered rows in ``XbT``)."""
    cdef long n_order = order.shape[0]
    _check_small_net(theta, grad, layout, XT, X, order, batch, XbT, work, "small_net_gradient")
    _require(step >= 0 and (n_order == 0 or step * batch < n_order), "small_net_gradient: no such step")
    if blas_min_weights < 0:
        return
    cdef const int64_t *order_p = &order[0] if n_order > 0 else NULL
    with nogil:
        if floating is float:
            fastnn_fused_gradient_f(&theta[0], &grad[0], &layout[0, 0], layout.shape[0], &XT[0, 0], &X[0, 0],
                                    order_p, n_order, batch, &XbT[0], X.shape[1], step, &work[0], sgemm,
                                    blas_min_weights)
        else:
            fastnn_fused_gradient_d(&theta[0], &grad[0], &layout[0, 0], layout.shape[0], &XT[0, 0], &X[0, 0],
                                    order_p, n_order, batch, &XbT[0], X.shape[1], step, &work[0], dgemm,
                                    blas_min_weights)
