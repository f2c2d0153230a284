/* Element-wise epilogues of the Cython backend, in C so that GCC vectorises them (with
 * glibc's libmvec for exp/tanh, see simd_math.h), compiled for several instruction sets
 * (target_clones: x86-64-v4 = AVX-512, v3 = AVX2+FMA, baseline) and picked at load time by the
 * CPU's *features* (not its model name: "arch=skylake-avx512" clones are never chosen on
 * virtual CPUs that report a generic model, which silently ran the SSE2 clone). On a block of `rows`
 * contiguous rows of m values:
 *
 *   fastnn_activate_rows_T(a, b, rows, m, act, k, alpha)      a := f(a + b)  (b may be NULL)
 *   fastnn_derivative_rows_T(d, t, a, rows, m, act, k, alpha) d := t ⊙ f'(a) (d may alias t or a)
 *
 * and the optimiser steps on n contiguous parameters (g = G + wd·P):
 *
 *   fastnn_sgd_T(P, G, n, lr, wd)                     P −= lr·g
 *   fastnn_momentum_T(P, G, V, n, lr, mu, wd)         V := mu·V − lr·g; P += V
 *   fastnn_adam_T(P, G, M, V, n, lr, b1, b2, eps, c1, c2, wd)
 *        M := b1·M + (1−b1)·g; V := b2·V + (1−b2)·g²; P −= lr·(M/c1) / (√(V/c2) + eps)
 *
 * T is f (float, computed in float) or d (double). Activation codes match activations.py.
 */
#ifndef FASTNN_EPILOGUE_H
#define FASTNN_EPILOGUE_H
#include "simd_math.h"

#if defined(FASTNN_LIBMVEC)
#if __GNUC__ >= 12
#define FASTNN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FASTNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#else
#define FASTNN_CLONES
#endif

#include "codes.h"  /* FNN_ACT_*: the activation codes */

/* The loops are written inside the cloned functions themselves (not in an inlined helper),
 * so each clone is vectorised for its own instruction set. */
#define FASTNN_DEFINE_EPILOGUE(SUFFIX, T, EXP, TANH)                                              \
FASTNN_CLONES static void fastnn_activate_rows_##SUFFIX(T *a, const T *b, long rows, long m,      \
                                                        int act, T k, T alpha) {                  \
    for (long i = 0; i < rows; i++, a += m) {                                                     \
        long j;                                                                                   \
        if (b) { for (j = 0; j < m; j++) a[j] += b[j]; }                                          \
        switch (act) {                                                                            \
        case FNN_ACT_SIGMOID: for (j = 0; j < m; j++) a[j] = (T)1 / ((T)1 + EXP(-k * a[j])); break;    \
        case FNN_ACT_TANH:    for (j = 0; j < m; j++) a[j] = TANH(k * a[j]); break;                    \
        case FNN_ACT_RELU:    for (j = 0; j < m; j++) a[j] = a[j] > 0 ? a[j] : (T)0; break;             \
        case FNN_ACT_RELU6:   for (j = 0; j < m; j++) a[j] = a[j] < 0 ? (T)0 : (a[j] > 6 ? (T)6 : a[j]); break; \
        case FNN_ACT_LEAKY_RELU: for (j = 0; j < m; j++) a[j] = a[j] > 0 ? a[j] : alpha * a[j]; break; \
        default: break;                                                                           \
        }                                                                                         \
    }                                                                                             \
}                                                                                                 \
FASTNN_CLONES static void fastnn_derivative_rows_##SUFFIX(T *d, const T *t, const T *a, long rows,\
                                                          long m, int act, T k, T alpha) {        \
    long n = rows * m, j;                                                                         \
    switch (act) {                                                                                \
    case FNN_ACT_SIGMOID: for (j = 0; j < n; j++) d[j] = t[j] * (k * a[j] * ((T)1 - a[j])); break;     \
    case FNN_ACT_TANH:    for (j = 0; j < n; j++) d[j] = t[j] * (k * ((T)1 - a[j] * a[j])); break;     \
    case FNN_ACT_RELU:    for (j = 0; j < n; j++) d[j] = a[j] > 0 ? t[j] : (T)0; break;                 \
    case FNN_ACT_RELU6:   for (j = 0; j < n; j++) d[j] = (a[j] > 0 && a[j] < 6) ? t[j] : (T)0; break;   \
    case FNN_ACT_LEAKY_RELU: for (j = 0; j < n; j++) d[j] = a[j] > 0 ? t[j] : alpha * t[j]; break;      \
    default: for (j = 0; j < n; j++) d[j] = t[j]; break;                                          \
    }                                                                                             \
}

#define FASTNN_DEFINE_UPDATES(SUFFIX, T, SQRT)                                                    \
FASTNN_CLONES static void fastnn_sgd_##SUFFIX(T *restrict P, const T *restrict G, long n, T lr, T wd) { \
    for (long i = 0; i < n; i++) P[i] -= lr * (G[i] + wd * P[i]);                                 \
}                                                                                                 \
FASTNN_CLONES static void fastnn_momentum_##SUFFIX(T *restrict P, const T *restrict G, T *restrict V, \
                                                   long n, T lr, T mu, T wd) {                    \
    for (long i = 0; i < n; i++) {                                                                \
        const T v = mu * V[i] - lr * (G[i] + wd * P[i]);                                          \
        V[i] = v;                                                                                 \
        P[i] += v;                                                                                \
    }                                                                                             \
}                                                                                                 \
FASTNN_CLONES static void fastnn_adam_##SUFFIX(T *restrict P, const T *restrict G, T *restrict M, \
                                               T *restrict V, long n, T lr, T b1, T b2, T eps,    \
                                               T c1, T c2, T wd) {                                \
    for (long i = 0; i < n; i++) {                                                                \
        const T g = G[i] + wd * P[i];                                                             \
        const T m = b1 * M[i] + ((T)1 - b1) * g;                                                  \
        const T v = b2 * V[i] + ((T)1 - b2) * g * g;                                              \
        M[i] = m;                                                                                 \
        V[i] = v;                                                                                 \
        P[i] -= lr * (m / c1) / (SQRT(v / c2) + eps);                                             \
    }                                                                                             \
}

FASTNN_DEFINE_EPILOGUE(f, float, expf, tanhf)
FASTNN_DEFINE_EPILOGUE(d, double, exp, tanh)
FASTNN_DEFINE_UPDATES(f, float, sqrtf)
FASTNN_DEFINE_UPDATES(d, double, sqrt)

#endif
