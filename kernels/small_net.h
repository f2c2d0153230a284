/* The compiled whole-loop for small networks (Cython backend), for float and double.
 * See small_net_impl.h; the activation epilogues and optimiser steps come from epilogue.h. */
#ifndef FASTNN_SMALL_NET_H
#define FASTNN_SMALL_NET_H
#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include "epilogue.h"
#include "sparse.h"  /* fastnn_spmm_*, fastnn_csr_to_csc_*: the sparse first layer */
#include "spin_team.h"  /* fnn_team_*: spinning helpers of its products */
#ifdef _OPENMP
#include <omp.h>
#endif

/* A sparse product is split over threads when it has at least this many multiply-adds (stored
 * entries × units): an OpenMP team costs a few µs a region, a 16-row batch of 784→300 at 19 %
 * nonzeros about 700 000 multiply-adds. */
#define FNN_SPARSE_PAR_MIN 262144
/* The sparse first layer's buffers, sized here once (fastnn.sparse.loop_buffers allocates them
 * through fastnn._cykernels, SmallNet checks them):
 *   FNN_R_STRIDE(fo)          row stride (values) of the row-major scratch R for fo units: a whole
 *                             number of 64-byte lines for float and double
 *   FNN_R_VALUES(rows, fo)    R's length: its rows, and 16 values for aligning its start to 64 bytes
 *   FNN_SLOT_VALUES(rows, n)  one slot of a mini-batch's compressed rows (two slots: the next batch
 *                             is compressed while one is in use), or its columns: every value of its
 *                             rows and the compression's slack
 *   FNN_PACK_BYTES(span)      one thread's packing space of the products (spmm's pk) */
#define FNN_R_STRIDE(fo) (((fo) + 15) / 16 * 16)
#define FNN_R_VALUES(rows, fo) ((rows) * FNN_R_STRIDE(fo) + 16)
#define FNN_SLOT_VALUES(rows, n) ((rows) * (n) + FASTNN_COMPRESS_SLACK)
#define FNN_PACK_BYTES(span) ((span) * FASTNN_SPMM_CHUNK_BYTES)

/* First outer row of part t of nt of the n sparse rows at ptr, splitting their stored entries
 * evenly: the smallest r with ptr[r] − ptr[0] ≥ t·nnz/nt */
static inline long fnn_sparse_split(const int64_t *ptr, long n, int t, int nt) {
    const int64_t goal = ptr[0] + (ptr[n] - ptr[0]) * t / nt;
    long lo = 0, hi = n;
    while (lo < hi) {
        const long mid = lo + (hi - lo) / 2;
        if (ptr[mid] < goal) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* Fortran BLAS ?gemm (scipy.linalg.cython_blas): C := alpha·op(A)·op(B) + beta·C, column-major */
typedef void (*fnn_sgemm_t)(char *transa, char *transb, int *m, int *n, int *k, float *alpha, float *a,
                            int *lda, float *b, int *ldb, float *beta, float *c, int *ldc);
typedef void (*fnn_dgemm_t)(char *transa, char *transb, int *m, int *n, int *k, double *alpha, double *a,
                            int *lda, double *b, int *ldb, double *beta, double *c, int *ldc);

#define FNN_LANES 16

/* acc[0] := Σ of the 16 lane partial sums acc[0..16), pairwise (8 + 8, 4 + 4, ...: unrolled so
 * that GCC adds in vector registers) */
#define FNN_FOLD_LANES(acc)                                                                       \
    do {                                                                                          \
        for (int l_ = 0; l_ < 8; l_++) (acc)[l_] += (acc)[l_ + 8];                                \
        for (int l_ = 0; l_ < 4; l_++) (acc)[l_] += (acc)[l_ + 4];                                \
        for (int l_ = 0; l_ < 2; l_++) (acc)[l_] += (acc)[l_ + 2];                                \
        (acc)[0] += (acc)[1];                                                                     \
    } while (0)

/* Function body: return Σ_{i<n} EXPR (EXPR uses i) in AT, as FNN_LANES partial sums. GCC
 * vectorises it without -ffast-math (the lanes fix the order of the additions); OpenMP's `simd
 * reduction` would combine its lanes one by one through memory, which costs more than the sum
 * itself on rows of a few hundred samples. */
#define FNN_REDUCE(AT, n, EXPR)                                                                   \
    do {                                                                                          \
        AT acc_[FNN_LANES] = {0};                                                                 \
        long i0_ = 0;                                                                             \
        for (; i0_ + FNN_LANES <= (n); i0_ += FNN_LANES)                                          \
            for (long i = i0_; i < i0_ + FNN_LANES; i++) acc_[i - i0_] += (EXPR);                 \
        for (long i = i0_; i < (n); i++) acc_[i - i0_] += (EXPR);                                 \
        FNN_FOLD_LANES(acc_);                                                                     \
        return acc_[0];                                                                           \
    } while (0)

#include "codes.h"  /* FNN_LOSS_*, FNN_OPT_*, layout columns */

/* The network of a training run (the same for both element types) */
typedef struct {
    const int64_t *layout;  /* L rows of FNN_LAYOUT_COLS int64: fan_in, fan_out, w_off, b_off (−1: no bias), a_off, d_off */
    long L;                 /* number of dense layers */
    const int *acts;        /* per layer: activation code FNN_ACT_* (the output layer's is linear under CE/BCE) */
    const double *ks;       /* per layer: activation slope k, f(k·z) */
    const double *alphas;   /* per layer: leaky-ReLU slope α for z < 0 */
    int loss;               /* loss code FNN_LOSS_* */
} fnn_layers_t;

#define T float
#define FNN_GEMM fnn_sgemm_t
#define FNN_NAME(x) fastnn_##x##_f
#define FNN_EXP expf
#define FNN_LOG logf
#define FNN_LOG1P log1pf
#define FNN_ABS fabsf
#define FNN_SPMM fastnn_spmm_f
#define FNN_CSC fastnn_csr_to_csc_f
#define FNN_COMPRESS fastnn_compress_row_f
#include "small_net_impl.h"
#undef T
#undef FNN_GEMM
#undef FNN_NAME
#undef FNN_EXP
#undef FNN_LOG
#undef FNN_LOG1P
#undef FNN_ABS
#undef FNN_SPMM
#undef FNN_CSC
#undef FNN_COMPRESS

#define T double
#define FNN_GEMM fnn_dgemm_t
#define FNN_NAME(x) fastnn_##x##_d
#define FNN_EXP exp
#define FNN_LOG log
#define FNN_LOG1P log1p
#define FNN_ABS fabs
#define FNN_SPMM fastnn_spmm_d
#define FNN_CSC fastnn_csr_to_csc_d
#define FNN_COMPRESS fastnn_compress_row_d
#include "small_net_impl.h"
#undef T
#undef FNN_GEMM
#undef FNN_NAME
#undef FNN_EXP
#undef FNN_LOG
#undef FNN_LOG1P
#undef FNN_ABS
#undef FNN_SPMM
#undef FNN_CSC
#undef FNN_COMPRESS

#endif
