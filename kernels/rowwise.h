/* Row-wise kernels of the Cython backend, in C so that GCC vectorises them (SIMD clones and
 * libmvec exp as in epilogue.h):
 *
 *   fastnn_all_finite_T(a, n)          1 if none of the n values is NaN or ±inf, else 0
 *   fastnn_softmax_rows_T(a, rows, m)  each row of m values := exp(a − max) / Σ exp(a − max)
 *
 * all_finite tests the exponent bits (all ones = NaN/inf) with integer ORs, which vectorise
 * without -ffast-math. softmax exponentiates the whole block as one flat loop, so rows of
 * few classes (m = 10) still fill the vector registers.
 */
#ifndef FASTNN_ROWWISE_H
#define FASTNN_ROWWISE_H
#include <stdint.h>
#include <string.h>
#include "epilogue.h"

#define FASTNN_DEFINE_ROWWISE(SUFFIX, T, UINT, EXP_MASK, EXP)                                      \
FASTNN_CLONES static int fastnn_all_finite_##SUFFIX(const T *a, long n) {                          \
    UINT bad = 0;                                                                                 \
    for (long i = 0; i < n; i++) {                                                                \
        UINT u;                                                                                   \
        memcpy(&u, a + i, sizeof u);                                                              \
        bad |= (UINT)((u & EXP_MASK) == EXP_MASK);                                                \
    }                                                                                             \
    return bad == 0;                                                                              \
}                                                                                                 \
FASTNN_CLONES static void fastnn_softmax_rows_##SUFFIX(T *a, long rows, long m) {                  \
    for (long i = 0; i < rows; i++) {                                                             \
        T *r = a + i * m, mx = r[0];                                                              \
        for (long j = 1; j < m; j++) mx = r[j] > mx ? r[j] : mx;                                  \
        for (long j = 0; j < m; j++) r[j] -= mx;                                                  \
    }                                                                                             \
    for (long j = 0; j < rows * m; j++) a[j] = EXP(a[j]);                                         \
    for (long i = 0; i < rows; i++) {                                                             \
        T *r = a + i * m, s = 0;                                                                  \
        for (long j = 0; j < m; j++) s += r[j];                                                   \
        const T inv = (T)1 / s;                                                                   \
        for (long j = 0; j < m; j++) r[j] *= inv;                                                 \
    }                                                                                             \
}

FASTNN_DEFINE_ROWWISE(f, float, uint32_t, 0x7f800000u, expf)
FASTNN_DEFINE_ROWWISE(d, double, uint64_t, 0x7ff0000000000000ull, exp)

#endif
