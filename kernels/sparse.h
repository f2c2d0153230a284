/* First-layer kernels that skip zero inputs (fastnn._cysparse), in C so that GCC vectorises the
 * loops over a layer's units, compiled per instruction set like epilogue.h (FASTNN_CLONES).
 *
 * X is given in compressed sparse rows: row i holds the values values[p] of columns indices[p]
 * for p in indptr[i] .. indptr[i+1]−1 (offsets absolute: a block of rows passes indptr + lo).
 * W is d×m row-major, so the m weights of one input feature are contiguous:
 *
 *   fastnn_csr_matmul_T(indptr, indices, values, rows, W, m, A)   A := X·W   (rows×m)
 *        for each nonzero x_ic: A_i += x_ic·W_c — an AXPY over the m units, four nonzeros per
 *        pass over A_i (four W rows loaded per load/store of A_i)
 *   fastnn_csr_to_csc_T(indptr, indices, values, rows, d, colptr, rowidx, colval, next)
 *        the same block in compressed sparse columns (rows numbered from 0, increasing within a
 *        column; colptr has d+1 offsets from 0; next: d scratch offsets)
 *   fastnn_csc_grad_T(colptr, rowidx, colval, c0, c1, D, m, dW, scale, accumulate)
 *        dW_c := scale·Σ_i x_ic·D_i (+ dW_c if accumulate) for the columns c0 ≤ c < c1: each
 *        gradient row is written once, gathering four rows of D per pass (no scatter of stores)
 *
 * T is f (float) or d (double). Indices are int32 (d < 2³¹), offsets int64.
 */
#ifndef FASTNN_SPARSE_H
#define FASTNN_SPARSE_H
#include <stdint.h>
#include "epilogue.h"

static void fastnn_csr_to_csc_counts(const int64_t *indptr, const int32_t *indices, long rows, long d,
                                     int64_t *colptr) {
    for (long c = 0; c <= d; c++) colptr[c] = 0;
    for (int64_t p = indptr[0]; p < indptr[rows]; p++) colptr[indices[p] + 1]++;
    for (long c = 0; c < d; c++) colptr[c + 1] += colptr[c];
}

#define FASTNN_DEFINE_SPARSE(SUFFIX, T)                                                            \
FASTNN_CLONES static void fastnn_csr_matmul_##SUFFIX(const int64_t *restrict indptr,              \
        const int32_t *restrict indices, const T *restrict values, long rows,                     \
        const T *restrict W, long m, T *restrict A) {                                             \
    for (long i = 0; i < rows; i++, A += m) {                                                     \
        int64_t p = indptr[i];                                                                    \
        const int64_t end = indptr[i + 1];                                                        \
        long j;                                                                                   \
        for (j = 0; j < m; j++) A[j] = 0;                                                         \
        for (; p + 4 <= end; p += 4) {                                                            \
            const T v0 = values[p], v1 = values[p + 1], v2 = values[p + 2], v3 = values[p + 3];   \
            const T *w0 = W + (long)indices[p] * m, *w1 = W + (long)indices[p + 1] * m;           \
            const T *w2 = W + (long)indices[p + 2] * m, *w3 = W + (long)indices[p + 3] * m;       \
            for (j = 0; j < m; j++) A[j] += v0 * w0[j] + v1 * w1[j] + v2 * w2[j] + v3 * w3[j];    \
        }                                                                                         \
        for (; p < end; p++) {                                                                    \
            const T v = values[p], *w = W + (long)indices[p] * m;                                 \
            for (j = 0; j < m; j++) A[j] += v * w[j];                                             \
        }                                                                                         \
    }                                                                                             \
}                                                                                                 \
static void fastnn_csr_to_csc_##SUFFIX(const int64_t *indptr, const int32_t *indices,             \
        const T *values, long rows, long d, int64_t *colptr, int32_t *rowidx, T *colval,          \
        int64_t *next) {                                                                          \
    fastnn_csr_to_csc_counts(indptr, indices, rows, d, colptr);                                   \
    for (long c = 0; c < d; c++) next[c] = colptr[c];                                             \
    for (long i = 0; i < rows; i++) {                                                             \
        for (int64_t p = indptr[i]; p < indptr[i + 1]; p++) {                                     \
            const int64_t q = next[indices[p]]++;                                                 \
            rowidx[q] = (int32_t)i;                                                               \
            colval[q] = values[p];                                                                \
        }                                                                                         \
    }                                                                                             \
}                                                                                                 \
FASTNN_CLONES static void fastnn_csc_grad_##SUFFIX(const int64_t *restrict colptr,                \
        const int32_t *restrict rowidx, const T *restrict colval, long c0, long c1,               \
        const T *restrict D, long m, T *restrict dW, T scale, int accumulate) {                   \
    for (long c = c0; c < c1; c++) {                                                              \
        T *restrict g = dW + c * m;                                                               \
        int64_t p = colptr[c];                                                                    \
        const int64_t end = colptr[c + 1];                                                        \
        long j;                                                                                   \
        if (!accumulate) { for (j = 0; j < m; j++) g[j] = 0; }                                    \
        for (; p + 4 <= end; p += 4) {                                                            \
            const T v0 = scale * colval[p], v1 = scale * colval[p + 1];                           \
            const T v2 = scale * colval[p + 2], v3 = scale * colval[p + 3];                       \
            const T *d0 = D + (long)rowidx[p] * m, *d1 = D + (long)rowidx[p + 1] * m;             \
            const T *d2 = D + (long)rowidx[p + 2] * m, *d3 = D + (long)rowidx[p + 3] * m;         \
            for (j = 0; j < m; j++) g[j] += v0 * d0[j] + v1 * d1[j] + v2 * d2[j] + v3 * d3[j];    \
        }                                                                                         \
        for (; p < end; p++) {                                                                    \
            const T v = scale * colval[p], *r = D + (long)rowidx[p] * m;                                  \
            for (j = 0; j < m; j++) g[j] += v * r[j];                                             \
        }                                                                                         \
    }                                                                                             \
}

FASTNN_DEFINE_SPARSE(f, float)
FASTNN_DEFINE_SPARSE(d, double)

#endif
