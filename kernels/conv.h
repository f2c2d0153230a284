/* Per-sample convolution kernels of the Cython backend (kernels/_cyconv.pyx drives them over
 * OpenMP threads, one workspace slot per thread). Everything a sample needs stays in that slot
 * (a few hundred KB: L2), so a training step never streams a whole-batch im2col buffer.
 *
 *   fnn_gemm_T(M, N, K, A, lda, B, ldb, C, ldc, bias, add)
 *        row-major C(M×N) := [bias per row] + [C if add] + A(M×K)·B(K×N)
 *        register-blocked 4 rows × 4 vectors of columns, vectorised along N (GCC vector
 *        extensions, one clone per instruction set as in epilogue.h); scalar columns at the tail.
 *   fnn_im2col_T(x, C, H, W, kh, kw, s, p, Ho, Wo, cols)        cols (K×P)  := patches of one sample
 *   fnn_im2row_T(x, C, H, W, kh, kw, s, p, Ho, Wo, rows, ldr)   rows (P×ldr) := the same, transposed,
 *        K = C·kh·kw values per row, zero-padded to ldr
 *   fnn_col2im_T(cols, C, H, W, kh, kw, s, p, Ho, Wo, dx)       dx := Σ of cols over the windows
 *        that read each pixel (dx zeroed first)
 *   fnn_maxpool_plane_T(x, W, size, Ho, Wo, y, idx)   y := max of each size×size window of one plane,
 *        idx := r·W + c of its first max in row-major order (the first NaN, if any: NaN propagates)
 * with K = C·kh·kw, P = Ho·Wo, cols[(c·kh + i)·kw + j][oh·Wo + ow] = x̃[c][oh·s + i][ow·s + j], x̃ the
 * input zero-padded by p. T is f (float) or d (double).
 */
#ifndef FASTNN_CONV_H
#define FASTNN_CONV_H
#include <string.h>
#include "epilogue.h"

#if defined(__GNUC__)
#define FNN_HAVE_VEC 1
typedef float fnn_vf __attribute__((vector_size(64)));
typedef double fnn_vd __attribute__((vector_size(64)));
#else
#error "kernels/conv.h needs the vector extensions of GCC or clang"
#endif

/* unaligned vector load/store (macros, so that each clone inlines them with its own instructions) */
#define FNN_LD(VT, p) __extension__({ VT v_; memcpy(&v_, (p), sizeof(VT)); v_; })
#define FNN_ST(VT, p, v) do { VT w_ = (v); memcpy((p), &w_, sizeof(VT)); } while (0)

#define FNN_DEFINE_CONV(SUF, T, VT, VL)                                                          \
FASTNN_CLONES static void fnn_gemm_##SUF(long M, long N, long K, const T *A, long lda,            \
                                         const T *B, long ldb, T *C, long ldc,                    \
                                         const T *bias, int add) {                                \
    long i = 0;                                                                                   \
    for (; i + 4 <= M; i += 4) {                                                                  \
        long j = 0;                                                                               \
        for (; j + 4 * VL <= N; j += 4 * VL) {                                                    \
            VT c[4][4];                                                                           \
            for (int r = 0; r < 4; r++)                                                           \
                for (int v = 0; v < 4; v++) {                                                     \
                    c[r][v] = (VT){0} + (bias ? bias[i + r] : (T)0);                              \
                    if (add) c[r][v] += FNN_LD(VT, C + (i + r) * ldc + j + v * VL);             \
                }                                                                                 \
            for (long k = 0; k < K; k++) {                                                        \
                const T *b = B + k * ldb + j;                                                     \
                VT b0 = FNN_LD(VT, b), b1 = FNN_LD(VT, b + VL);                               \
                VT b2 = FNN_LD(VT, b + 2 * VL), b3 = FNN_LD(VT, b + 3 * VL);                  \
                for (int r = 0; r < 4; r++) {                                                     \
                    const T a = A[(i + r) * lda + k];                                             \
                    c[r][0] += a * b0; c[r][1] += a * b1; c[r][2] += a * b2; c[r][3] += a * b3;   \
                }                                                                                 \
            }                                                                                     \
            for (int r = 0; r < 4; r++)                                                           \
                for (int v = 0; v < 4; v++) FNN_ST(VT, C + (i + r) * ldc + j + v * VL, c[r][v]); \
        }                                                                                         \
        for (; j + VL <= N; j += VL) {                                                            \
            VT c[4];                                                                              \
            for (int r = 0; r < 4; r++) {                                                         \
                c[r] = (VT){0} + (bias ? bias[i + r] : (T)0);                                     \
                if (add) c[r] += FNN_LD(VT, C + (i + r) * ldc + j);                             \
            }                                                                                     \
            for (long k = 0; k < K; k++) {                                                        \
                VT b0 = FNN_LD(VT, B + k * ldb + j);                                            \
                for (int r = 0; r < 4; r++) c[r] += A[(i + r) * lda + k] * b0;                    \
            }                                                                                     \
            for (int r = 0; r < 4; r++) FNN_ST(VT, C + (i + r) * ldc + j, c[r]);                \
        }                                                                                         \
        for (; j < N; j++)                                                                        \
            for (int r = 0; r < 4; r++) {                                                         \
                T s = (bias ? bias[i + r] : (T)0) + (add ? C[(i + r) * ldc + j] : (T)0);          \
                for (long k = 0; k < K; k++) s += A[(i + r) * lda + k] * B[k * ldb + j];          \
                C[(i + r) * ldc + j] = s;                                                         \
            }                                                                                     \
    }                                                                                             \
    for (; i < M; i++) {                                                                          \
        long j = 0;                                                                               \
        for (; j + VL <= N; j += VL) {                                                            \
            VT c0 = (VT){0} + (bias ? bias[i] : (T)0);                                            \
            if (add) c0 += FNN_LD(VT, C + i * ldc + j);                                         \
            for (long k = 0; k < K; k++) c0 += A[i * lda + k] * FNN_LD(VT, B + k * ldb + j);    \
            FNN_ST(VT, C + i * ldc + j, c0);                                                    \
        }                                                                                         \
        for (; j < N; j++) {                                                                      \
            T s = (bias ? bias[i] : (T)0) + (add ? C[i * ldc + j] : (T)0);                        \
            for (long k = 0; k < K; k++) s += A[i * lda + k] * B[k * ldb + j];                    \
            C[i * ldc + j] = s;                                                                   \
        }                                                                                         \
    }                                                                                             \
}                                                                                                 \
                                                                                                  \
static void fnn_im2col_##SUF(const T *x, long C, long H, long W, long kh, long kw, long s,        \
                             long p, long Ho, long Wo, T *cols) {                                 \
    const long P = Ho * Wo;                                                                       \
    for (long c = 0; c < C; c++)                                                                  \
        for (long i = 0; i < kh; i++)                                                             \
            for (long j = 0; j < kw; j++) {                                                       \
                T *row = cols + ((c * kh + i) * kw + j) * P;                                      \
                /* output columns whose input column ow·s + j − p lies inside [0, W) */           \
                long lo = j >= p ? 0 : (p - j + s - 1) / s;                                       \
                long hi = (W - 1 + p - j) < 0 ? 0 : (W - 1 + p - j) / s + 1;                      \
                if (hi > Wo) hi = Wo;                                                             \
                if (lo > hi) lo = hi;                                                             \
                for (long oh = 0; oh < Ho; oh++, row += Wo) {                                     \
                    const long h = oh * s + i - p;                                                \
                    if (h < 0 || h >= H) { memset(row, 0, Wo * sizeof(T)); continue; }            \
                    const T *xr = x + (c * H + h) * W;  /* input column of ow: ow·s + j − p */    \
                    for (long ow = 0; ow < lo; ow++) row[ow] = 0;                                 \
                    if (s == 1) memcpy(row + lo, xr + lo + j - p, (hi - lo) * sizeof(T));         \
                    else for (long ow = lo; ow < hi; ow++) row[ow] = xr[ow * s + j - p];          \
                    for (long ow = hi; ow < Wo; ow++) row[ow] = 0;                                \
                }                                                                                 \
            }                                                                                     \
}                                                                                                 \
                                                                                                  \
static void fnn_im2row_##SUF(const T *x, long C, long H, long W, long kh, long kw, long s,        \
                             long p, long Ho, long Wo, T *rows, long ldr) {                       \
    const long K = C * kh * kw;                                                                   \
    for (long oh = 0; oh < Ho; oh++)                                                              \
        for (long ow = 0; ow < Wo; ow++) {                                                        \
            T *row = rows + (oh * Wo + ow) * ldr;                                                 \
            for (long c = 0; c < C; c++)                                                          \
                for (long i = 0; i < kh; i++) {                                                   \
                    const long h = oh * s + i - p;                                                \
                    T *dst = row + (c * kh + i) * kw;                                             \
                    if (h < 0 || h >= H) { memset(dst, 0, kw * sizeof(T)); continue; }            \
                    const T *xr = x + (c * H + h) * W;                                            \
                    for (long j = 0; j < kw; j++) {                                               \
                        const long w = ow * s + j - p;                                            \
                        dst[j] = (w >= 0 && w < W) ? xr[w] : (T)0;                                \
                    }                                                                             \
                }                                                                                 \
            for (long q = K; q < ldr; q++) row[q] = 0;                                            \
        }                                                                                         \
}                                                                                                 \
                                                                                                  \
static void fnn_col2im_##SUF(const T *cols, long C, long H, long W, long kh, long kw, long s,     \
                             long p, long Ho, long Wo, T *dx) {                                   \
    const long P = Ho * Wo;                                                                       \
    memset(dx, 0, C * H * W * sizeof(T));                                                         \
    for (long c = 0; c < C; c++)                                                                  \
        for (long i = 0; i < kh; i++)                                                             \
            for (long j = 0; j < kw; j++) {                                                       \
                const T *row = cols + ((c * kh + i) * kw + j) * P;                                \
                long lo = j >= p ? 0 : (p - j + s - 1) / s;                                       \
                long hi = (W - 1 + p - j) < 0 ? 0 : (W - 1 + p - j) / s + 1;                      \
                if (hi > Wo) hi = Wo;                                                             \
                for (long oh = 0; oh < Ho; oh++, row += Wo) {                                     \
                    const long h = oh * s + i - p;                                                \
                    if (h < 0 || h >= H) continue;                                                \
                    T *xr = dx + (c * H + h) * W;                                                 \
                    for (long ow = lo; ow < hi; ow++) xr[ow * s + j - p] += row[ow];              \
                }                                                                                 \
            }                                                                                     \
}

#define FNN_DEFINE_POOL(SUF, T)                                                                   \
FASTNN_CLONES static void fnn_maxpool_plane_##SUF(const T *x, long W, long size, long Ho, long Wo,\
                                                  T *y, int *idx) {                               \
    for (long i = 0; i < Ho; i++, y += Wo, idx += Wo) {                                           \
        const long r0 = i * size;                                                                 \
        for (long j = 0; j < Wo; j++) { y[j] = x[r0 * W + j * size]; idx[j] = (int)(r0 * W + j * size); } \
        for (long r = r0; r < r0 + size; r++)                                                     \
            for (long c = 0; c < size; c++) {                                                     \
                if (r == r0 && c == 0) continue;                                                  \
                const T *xr = x + r * W + c;                                                      \
                const int base = (int)(r * W + c);                                                \
                for (long j = 0; j < Wo; j++) {                                                   \
                    const T v = xr[j * size], b = y[j];                                           \
                    const int take = (v > b) | ((v != v) & (b == b));                             \
                    y[j] = take ? v : b;                                                          \
                    idx[j] = take ? base + (int)(j * size) : idx[j];                              \
                }                                                                                 \
            }                                                                                     \
    }                                                                                             \
}

FNN_DEFINE_CONV(f, float, fnn_vf, 16)
FNN_DEFINE_CONV(d, double, fnn_vd, 8)
FNN_DEFINE_POOL(f, float)
FNN_DEFINE_POOL(d, double)

#endif
