/* Element-wise epilogues of the Cython backend, in C so that GCC vectorises them (with
 * glibc's libmvec for exp/tanh, see simd_math.h), compiled for several instruction sets
 * (target_clones: AVX-512, AVX2, baseline) and picked at load time. On a block of `rows`
 * contiguous rows of m values:
 *
 *   fastnn_activate_rows_T(a, b, rows, m, act, k, alpha)      a := f(a + b)  (b may be NULL)
 *   fastnn_derivative_rows_T(d, t, a, rows, m, act, k, alpha) d := t ⊙ f'(a) (d may alias t or a)
 *
 * T is f (float, computed in float) or d (double). Activation codes match activations.py.
 */
#ifndef FASTNN_EPILOGUE_H
#define FASTNN_EPILOGUE_H
#include "simd_math.h"

#if defined(FASTNN_LIBMVEC)
#define FASTNN_CLONES __attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
#else
#define FASTNN_CLONES
#endif

enum { FN_LINEAR = 0, FN_SIGMOID = 1, FN_TANH = 2, FN_RELU = 3, FN_RELU6 = 4, FN_LEAKY_RELU = 5 };

/* The loops are written inside the cloned functions themselves (not in an inlined helper),
 * so each clone is vectorised for its own instruction set. */
#define FASTNN_DEFINE_EPILOGUE(SUFFIX, T, EXP, TANH)                                              \
FASTNN_CLONES static void fastnn_activate_rows_##SUFFIX(T *a, const T *b, long rows, long m,      \
                                                        int act, T k, T alpha) {                  \
    for (long i = 0; i < rows; i++, a += m) {                                                     \
        long j;                                                                                   \
        if (b) { for (j = 0; j < m; j++) a[j] += b[j]; }                                          \
        switch (act) {                                                                            \
        case FN_SIGMOID: for (j = 0; j < m; j++) a[j] = (T)1 / ((T)1 + EXP(-k * a[j])); break;    \
        case FN_TANH:    for (j = 0; j < m; j++) a[j] = TANH(k * a[j]); break;                    \
        case FN_RELU:    for (j = 0; j < m; j++) a[j] = a[j] > 0 ? a[j] : (T)0; break;             \
        case FN_RELU6:   for (j = 0; j < m; j++) a[j] = a[j] < 0 ? (T)0 : (a[j] > 6 ? (T)6 : a[j]); break; \
        case FN_LEAKY_RELU: for (j = 0; j < m; j++) a[j] = a[j] > 0 ? a[j] : alpha * a[j]; break; \
        default: break;                                                                           \
        }                                                                                         \
    }                                                                                             \
}                                                                                                 \
FASTNN_CLONES static void fastnn_derivative_rows_##SUFFIX(T *d, const T *t, const T *a, long rows,\
                                                          long m, int act, T k, T alpha) {        \
    long n = rows * m, j;                                                                         \
    switch (act) {                                                                                \
    case FN_SIGMOID: for (j = 0; j < n; j++) d[j] = t[j] * (k * a[j] * ((T)1 - a[j])); break;     \
    case FN_TANH:    for (j = 0; j < n; j++) d[j] = t[j] * (k * ((T)1 - a[j] * a[j])); break;     \
    case FN_RELU:    for (j = 0; j < n; j++) d[j] = a[j] > 0 ? t[j] : (T)0; break;                 \
    case FN_RELU6:   for (j = 0; j < n; j++) d[j] = (a[j] > 0 && a[j] < 6) ? t[j] : (T)0; break;   \
    case FN_LEAKY_RELU: for (j = 0; j < n; j++) d[j] = a[j] > 0 ? t[j] : alpha * t[j]; break;      \
    default: for (j = 0; j < n; j++) d[j] = t[j]; break;                                          \
    }                                                                                             \
}

FASTNN_DEFINE_EPILOGUE(f, float, expf, tanhf)
FASTNN_DEFINE_EPILOGUE(d, double, exp, tanh)

#endif
