"""Cython kernels of a first layer that skips zero inputs (see kernels/sparse.h).

X comes as compressed sparse rows (``fastnn.sparse.CSR``: int64 ``indptr`` with absolute
offsets, int32 ``indices``, ``values`` of the layer's dtype), so a block of rows is a slice of
``indptr``. The products run in C (vectorised over the layer's units, AVX-512/AVX2 clones), the
bias and activation through the dense kernels' epilogue (epilogue.h). Every kernel checks the
sparse structure (offsets in order, column indices below d) before touching memory. Threads:
``n_threads`` OpenMP threads (the Python wrapper passes the count fastnn uses).
"""
from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdint cimport int32_t, int64_t, uint32_t
from libc.stdlib cimport free, malloc

cdef extern from "sparse.h":
    void fastnn_spmm_f(const int64_t *ptr, const int32_t *idx, const float *val, long n_outer, long n_inner,
                       const float *B, long ldb, long m, float *C, long ldc, float scale, int accumulate, int64_t *cur,
                       float *pk) nogil
    void fastnn_spmm_d(const int64_t *ptr, const int32_t *idx, const double *val, long n_outer, long n_inner,
                       const double *B, long ldb, long m, double *C, long ldc, double scale, int accumulate, int64_t *cur,
                       double *pk) nogil
    void fastnn_csr_to_csc_f(const int64_t *indptr, const int32_t *indices, const float *values, long rows, long d,
                             int64_t *colptr, int32_t *rowidx, float *colval, int64_t *next) nogil
    void fastnn_csr_to_csc_d(const int64_t *indptr, const int32_t *indices, const double *values, long rows, long d,
                             int64_t *colptr, int32_t *rowidx, double *colval, int64_t *next) nogil
    void fastnn_activate_rows_f(float *a, const float *b, long rows, long m, int act, float k, float alpha) nogil
    void fastnn_activate_rows_d(double *a, const double *b, long rows, long m, int act, double k, double alpha) nogil

cdef extern from "rowwise.h":
    int fastnn_all_finite_f(const float *a, long n) nogil
    int fastnn_all_finite_d(const double *a, long n) nogil

# A product goes parallel only above this many multiply-adds (a parallel region costs microseconds).
cdef Py_ssize_t PARALLEL_MIN = 65536
cdef extern from "sparse.h":
    int FASTNN_SPMM_CHUNK_BYTES
    int FASTNN_COMPRESS_SLACK
    long fastnn_compress_row_f(const float *x, long n, int32_t *idx, float *val) nogil
    long fastnn_compress_row_d(const double *x, long n, int32_t *idx, double *val) nogil


cdef int _check_csr(const int64_t[::1] indptr, const int32_t[::1] indices, Py_ssize_t n_values,
                    Py_ssize_t d, str who) except -1:
    """Raise unless indptr is a non-decreasing run of offsets into indices/values and every
    column index of the rows is in [0, d)."""
    cdef Py_ssize_t i, rows = indptr.shape[0] - 1
    cdef int64_t p
    cdef int bad = rows < 0
    if not bad:
        with nogil:
            bad = indptr[0] < 0 or indptr[rows] > indices.shape[0] or indptr[rows] > n_values
            for i in range(rows):
                bad = bad | (indptr[i + 1] < indptr[i])
            if not bad:  # branch-free, so that it vectorises: negative indices wrap to large ones
                for p in range(indptr[0], indptr[rows]):
                    bad = bad | (<uint32_t> indices[p] >= <uint32_t> d)
    if bad:
        raise ValueError(f"{who}: invalid sparse rows (offsets out of order or past the values, or a column "
                         f"index outside 0..{d - 1}); build them with fastnn.sparse.to_csr")
    return 0


def csr_forward(const int64_t[::1] indptr, const int32_t[::1] indices, const floating[::1] values,
                const floating[:, ::1] W, const floating[::1] b, bint has_bias, floating[:, ::1] A,
                int act, double k, double alpha, bint check, int n_threads):
    """A := f(X·W + b), X in sparse rows; with check, returns whether X·W is all finite"""
    cdef Py_ssize_t rows = indptr.shape[0] - 1, d = W.shape[0], m = W.shape[1]
    cdef Py_ssize_t c, lo, hi, nc = 1
    cdef int bad = 0
    if rows < 0 or A.shape[0] != rows or A.shape[1] != m or m == 0 or (has_bias and b.shape[0] != m):
        raise ValueError("shape mismatch: sparse_dense_forward needs indptr of rows+1 offsets, W (d, m), "
                         "b (m,) and A (rows, m)")
    _check_csr(indptr, indices, values.shape[0], d, "sparse_dense_forward")
    if rows == 0:
        return True if check else None
    if n_threads > 1 and (indptr[rows] - indptr[0]) * m > PARALLEL_MIN:
        nc = min(rows, n_threads)  # one share of rows per thread: each packs W once
    cdef const floating *bp = &b[0] if has_bias else NULL
    cdef const floating *vp = &values[0] if values.shape[0] > 0 else NULL
    cdef const int32_t *ip = &indices[0] if indices.shape[0] > 0 else NULL
    cdef Py_ssize_t pack = d * FASTNN_SPMM_CHUNK_BYTES // sizeof(floating)
    cdef int64_t *cur = <int64_t *> malloc(rows * sizeof(int64_t))
    cdef floating *pk = <floating *> malloc(nc * pack * sizeof(floating))
    if cur == NULL or pk == NULL:
        free(cur); free(pk)
        raise MemoryError("sparse_dense_forward: cannot allocate its scratch")
    with nogil:
        for c in prange(nc, schedule="static", num_threads=n_threads, use_threads_if=nc > 1):
            lo = c * rows // nc
            hi = (c + 1) * rows // nc
            if hi > lo:
                if floating is float:
                    fastnn_spmm_f(&indptr[lo], ip, vp, hi - lo, d, &W[0, 0], m, m, &A[lo, 0], m, 1, 0, cur + lo, pk + c * pack)
                    if check:
                        bad += 1 - fastnn_all_finite_f(&A[lo, 0], (hi - lo) * m)
                    fastnn_activate_rows_f(&A[lo, 0], bp, hi - lo, m, act, <float> k, <float> alpha)
                else:
                    fastnn_spmm_d(&indptr[lo], ip, vp, hi - lo, d, &W[0, 0], m, m, &A[lo, 0], m, 1, 0, cur + lo, pk + c * pack)
                    if check:
                        bad += 1 - fastnn_all_finite_d(&A[lo, 0], (hi - lo) * m)
                    fastnn_activate_rows_d(&A[lo, 0], bp, hi - lo, m, act, k, alpha)
    free(cur); free(pk)
    return bad == 0 if check else None


def csr_weight_grad(const int64_t[::1] indptr, const int32_t[::1] indices, const floating[::1] values,
                    const floating[:, ::1] D, floating[:, ::1] dW, double scale, bint accumulate, int n_threads,
                    const int64_t[::1] xt_indptr=None, const int32_t[::1] xt_indices=None,
                    const floating[::1] xt_values=None):
    """dW := scale·XᵀD (+ dW if accumulate), X in sparse rows. Xᵀ (the block in sparse columns) is
    built here unless given (xt_*: Xᵀ in sparse rows, offsets from 0, row numbers from 0, e.g.
    fastnn.sparse.CSR.transpose() once per fit); each thread then writes the gradient rows of its
    share of the columns (split by nonzeros)"""
    cdef Py_ssize_t rows = indptr.shape[0] - 1, d = dW.shape[0], m = dW.shape[1]
    cdef Py_ssize_t t, c, nc = 1
    cdef int64_t nnz, target
    cdef bint given = xt_indptr is not None
    if rows < 0 or D.shape[0] != rows or D.shape[1] != m or m == 0 or d == 0:
        raise ValueError("shape mismatch: sparse_weight_grad needs indptr of rows+1 offsets, D (rows, m), dW (d, m)")
    _check_csr(indptr, indices, values.shape[0], d, "sparse_weight_grad")
    nnz = indptr[rows] - indptr[0] if rows > 0 else 0
    if given:
        if xt_indices is None or xt_values is None or xt_indptr.shape[0] != d + 1 or xt_indptr[0] != 0 \
                or xt_indptr[d] != nnz:
            raise ValueError("sparse_weight_grad: the transposed block (xt) does not match the rows; "
                             "build it with CSR.transpose() of the same block")
        _check_csr(xt_indptr, xt_indices, xt_values.shape[0], max(rows, 1), "sparse_weight_grad (transposed block)")
    if n_threads > 1 and nnz * m > PARALLEL_MIN:
        nc = min(d, n_threads)
    cdef int64_t *colptr = <int64_t *> malloc((3 * d + 1) * sizeof(int64_t))  # + next, cursors
    cdef int32_t *rowidx = <int32_t *> malloc((0 if given else nnz + 1) * sizeof(int32_t) + 1)
    cdef floating *colval = <floating *> malloc((0 if given else nnz + 1) * sizeof(floating) + 1)
    cdef Py_ssize_t *bounds = <Py_ssize_t *> malloc((nc + 1) * sizeof(Py_ssize_t))
    cdef Py_ssize_t pack = max(rows, 1) * FASTNN_SPMM_CHUNK_BYTES // sizeof(floating)
    cdef floating *pk = <floating *> malloc(nc * pack * sizeof(floating))
    if colptr == NULL or rowidx == NULL or colval == NULL or bounds == NULL or pk == NULL:
        free(colptr); free(rowidx); free(colval); free(bounds); free(pk)
        raise MemoryError("sparse_weight_grad: cannot allocate the column form of the block")
    cdef const floating *vp = &values[0] if values.shape[0] > 0 else NULL
    cdef const int32_t *ip = &indices[0] if indices.shape[0] > 0 else NULL
    cdef const floating *Dp = &D[0, 0] if rows > 0 else NULL
    cdef const int64_t *cp = colptr
    cdef const int32_t *rp = rowidx
    cdef const floating *cv = colval
    if given:
        cp = &xt_indptr[0]
        rp = &xt_indices[0] if xt_indices.shape[0] > 0 else NULL
        cv = &xt_values[0] if xt_values.shape[0] > 0 else NULL
    with nogil:
        if not given:
            if rows > 0:
                if floating is float:
                    fastnn_csr_to_csc_f(&indptr[0], ip, vp, rows, d, colptr, rowidx, colval, colptr + d + 1)
                else:
                    fastnn_csr_to_csc_d(&indptr[0], ip, vp, rows, d, colptr, rowidx, colval, colptr + d + 1)
            else:
                for c in range(d + 1):
                    colptr[c] = 0
        # thread t takes columns bounds[t]..bounds[t+1]−1: equal shares of nonzeros + one per column
        bounds[0] = 0
        c = 0
        for t in range(1, nc):
            target = t * (nnz + d) // nc
            while c < d and cp[c] + c < target:
                c = c + 1
            bounds[t] = c
        bounds[nc] = d
        for t in prange(nc, schedule="static", num_threads=n_threads, use_threads_if=nc > 1):
            if floating is float:
                fastnn_spmm_f(cp + bounds[t], rp, cv, bounds[t + 1] - bounds[t], rows, Dp, m, m,
                              &dW[bounds[t], 0], m, <float> scale, accumulate, colptr + 2 * d + 1 + bounds[t],
                              pk + t * pack)
            else:
                fastnn_spmm_d(cp + bounds[t], rp, cv, bounds[t + 1] - bounds[t], rows, Dp, m, m,
                              &dW[bounds[t], 0], m, scale, accumulate, colptr + 2 * d + 1 + bounds[t],
                              pk + t * pack)
    free(colptr); free(rowidx); free(colval); free(bounds); free(pk)


def csr_counts(const floating[:, ::1] X, int64_t[::1] indptr, int n_threads):
    """indptr[0] := 0, indptr[i+1] := number of nonzeros in rows 0..i of X (NaN counts as nonzero)"""
    cdef Py_ssize_t i, j, n = X.shape[0], d = X.shape[1]
    cdef int64_t c
    if indptr.shape[0] != n + 1:
        raise ValueError("shape mismatch: csr_counts needs indptr of X.shape[0] + 1 offsets")
    with nogil:
        indptr[0] = 0
        for i in prange(n, schedule="static", num_threads=n_threads, use_threads_if=n * d > PARALLEL_MIN):
            c = 0
            for j in range(d):
                c = c + (X[i, j] != 0)
            indptr[i + 1] = c
        for i in range(n):
            indptr[i + 1] += indptr[i]


def csr_fill(const floating[:, ::1] X, const int64_t[::1] indptr, int32_t[::1] indices, floating[::1] values,
             int n_threads):
    """indices, values := the columns and values of X's nonzeros, row by row (indptr from csr_counts).
    Each row is compressed into a per-thread buffer (fastnn_compress_row, the C loop's: branch-free,
    with AVX-512 where there is one; at 50 % zeros a branch per value is mispredicted half the time),
    then copied into place."""
    cdef Py_ssize_t i, q, t, n = X.shape[0], d = X.shape[1]
    cdef int64_t p, cnt
    cdef int32_t *bi
    cdef floating *bv
    cdef int nt = n_threads if n * d > PARALLEL_MIN else 1
    cdef Py_ssize_t room = d + FASTNN_COMPRESS_SLACK
    if indptr.shape[0] != n + 1 or indices.shape[0] < indptr[n] or values.shape[0] < indptr[n]:
        raise ValueError("shape mismatch: csr_fill needs the offsets of csr_counts and room for every nonzero")
    cdef int32_t *all_bi = <int32_t *> malloc(nt * room * sizeof(int32_t))
    cdef floating *all_bv = <floating *> malloc(nt * room * sizeof(floating))
    if all_bi == NULL or all_bv == NULL:
        free(all_bi); free(all_bv)
        raise MemoryError("csr_fill: cannot allocate its row buffers")
    with nogil:
        for i in prange(n, schedule="static", num_threads=nt, use_threads_if=nt > 1):
            t = threadid()
            bi = all_bi + t * room
            bv = all_bv + t * room
            if floating is float:
                cnt = fastnn_compress_row_f(&X[i, 0], d, bi, bv)
            else:
                cnt = fastnn_compress_row_d(&X[i, 0], d, bi, bv)
            p = indptr[i]
            cnt = min(cnt, indptr[i + 1] - p)
            for q in range(cnt):
                indices[p + q] = bi[q]
                values[p + q] = bv[q]
    free(all_bi); free(all_bv)


def csr_transpose(const int64_t[::1] indptr, const int32_t[::1] indices, const floating[::1] values,
                  Py_ssize_t d, int64_t[::1] colptr, int32_t[::1] rowidx, floating[::1] colval):
    """colptr, rowidx, colval := Xᵀ in sparse rows (X: rows of indptr with column indices < d; rows
    numbered from the block's first, increasing within a column)"""
    cdef Py_ssize_t rows = indptr.shape[0] - 1
    cdef int64_t nnz
    _check_csr(indptr, indices, values.shape[0], d, "csr_transpose")
    nnz = indptr[rows] - indptr[0] if rows > 0 else 0
    if colptr.shape[0] != d + 1 or rowidx.shape[0] != nnz or colval.shape[0] != nnz:
        raise ValueError("shape mismatch: csr_transpose needs colptr of d + 1 offsets, rowidx and colval of nnz")
    cdef int64_t *nxt = <int64_t *> malloc((d + 1) * sizeof(int64_t))
    if nxt == NULL:
        raise MemoryError("csr_transpose: cannot allocate its column cursors")
    cdef const floating *vp = &values[0] if values.shape[0] > 0 else NULL
    cdef const int32_t *ip = &indices[0] if indices.shape[0] > 0 else NULL
    cdef int32_t *rp = &rowidx[0] if nnz > 0 else NULL
    cdef floating *cp = &colval[0] if nnz > 0 else NULL
    with nogil:
        if rows > 0:
            if floating is float:
                fastnn_csr_to_csc_f(&indptr[0], ip, vp, rows, d, &colptr[0], rp, cp, nxt)
            else:
                fastnn_csr_to_csc_d(&indptr[0], ip, vp, rows, d, &colptr[0], rp, cp, nxt)
        else:
            colptr[:] = 0
    free(nxt)
