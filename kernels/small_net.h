/* The compiled whole-loop for small networks (Cython backend), for float and double.
 * See small_net_impl.h; the activation epilogues and optimiser steps come from epilogue.h. */
#ifndef FASTNN_SMALL_NET_H
#define FASTNN_SMALL_NET_H
#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include "epilogue.h"

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

#define T float
#define FNN_GEMM fnn_sgemm_t
#define FNN_NAME(x) fastnn_##x##_f
#define FNN_EXP expf
#define FNN_LOG logf
#define FNN_LOG1P log1pf
#define FNN_ABS fabsf
#include "small_net_impl.h"
#undef T
#undef FNN_GEMM
#undef FNN_NAME
#undef FNN_EXP
#undef FNN_LOG
#undef FNN_LOG1P
#undef FNN_ABS

#define T double
#define FNN_GEMM fnn_dgemm_t
#define FNN_NAME(x) fastnn_##x##_d
#define FNN_EXP exp
#define FNN_LOG log
#define FNN_LOG1P log1p
#define FNN_ABS fabs
#include "small_net_impl.h"
#undef T
#undef FNN_GEMM
#undef FNN_NAME
#undef FNN_EXP
#undef FNN_LOG
#undef FNN_LOG1P
#undef FNN_ABS

#endif
