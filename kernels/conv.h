/* Per-sample convolution kernels of the Cython backend (kernels/_cyconv.pyx drives them over
 * OpenMP threads, one workspace slot per thread). Everything a sample needs stays in that slot
 * (a few hundred KB: L2), so a training step never streams a whole-batch im2col buffer.
 *
 *   fnn_gemm_T(M, N, K, A, lda, B, ldb, C, ldc, bias, add)
 *        row-major C(M×N) := [bias per row] + [C if add] + A(M×K)·B(K×N)
 *        register-blocked in 5 (or 4) rows × 4, 2 or 1 vectors of columns, vectorised along N
 *        (GCC/clang vector extensions, one clone per instruction set as in epilogue.h); scalar
 *        columns at the tail. Measured single-threaded on the course's per-sample products
 *        (AVX-512 clone, Zen 5): 230-280 GFLOP/s, against 80-120 for scipy's OpenBLAS (its
 *        Haswell kernels) on the same products batched into one GEMM.
 *   fnn_im2col_T(x, C, H, W, kh, kw, s, p, Ho, Wo, cols)        cols (K×P)  := patches of one sample
 *   fnn_im2row_T(x, C, H, W, kh, kw, s, p, Ho, Wo, rows, ldr)   rows (P×ldr) := the same, transposed:
 *        K = C·kh·kw values per row, then a 1 (ldr > K), then zeros up to ldr
 *   fnn_col2im_T(cols, C, H, W, kh, kw, s, p, Ho, Wo, dx)       dx := Σ of cols over the windows
 *        that read each pixel (dx zeroed first)
 *   fnn_maxpool_plane_T(x, W, size, Ho, Wo, y, idx)   y := max of each size×size window of one plane,
 *        idx := r·W + c of its first max in row-major order (the first NaN, if any: NaN propagates)
 * with K = C·kh·kw, P = Ho·Wo, cols[(c·kh + i)·kw + j][oh·Wo + ow] = x̃[c][oh·s + i][ow·s + j], x̃ the
 * input zero-padded by p. T is f (float) or d (double).
 */
#ifndef FASTNN_CONV_H
#define FASTNN_CONV_H
#include <stdint.h>
#include <string.h>
#include "epilogue.h"

#if defined(_MSC_VER) && !defined(__clang__)
#define restrict __restrict
#endif

#if defined(__GNUC__) && !defined(FNN_NO_VECTOR_EXT)
/* 64-byte vectors of the GCC/clang vector extensions (one AVX-512 register, two AVX2 ones) */
typedef float fnn_vf __attribute__((vector_size(64)));
typedef double fnn_vd __attribute__((vector_size(64)));
#define FNN_VL_F 16
#define FNN_VL_D 8
/* unaligned vector load/store (macros, so that each clone inlines them with its own instructions) */
#define FNN_LD(VT, p) __extension__({ VT v_; memcpy(&v_, (p), sizeof(VT)); v_; })
#define FNN_ST(VT, p, v) do { VT w_ = (v); memcpy((p), &w_, sizeof(VT)); } while (0)
#else
/* other compilers (or -DFNN_NO_VECTOR_EXT): the same code on one-lane "vectors", left to the
 * compiler's own vectoriser */
typedef float fnn_vf;
typedef double fnn_vd;
#define FNN_VL_F 1
#define FNN_VL_D 1
#define FNN_LD(VT, p) (*(p))
#define FNN_ST(VT, p, v) (*(p) = (v))
#endif

/* C[i:i+MR, j:j+NV·VL] := [bias] + [C if add] + A[i:i+MR, :]·B[:, j:j+NV·VL]: MR×NV vector accumulators
 * in registers, one broadcast of A per row and k, NV loads of B per k */
#define FNN_BLOCK(T, VT, VL, MR, NV)                                                              \
    do {                                                                                          \
        VT c_[MR][NV];                                                                            \
        for (int r = 0; r < MR; r++)                                                              \
            for (int v = 0; v < NV; v++) {                                                        \
                c_[r][v] = (VT){0} + (bias ? bias[i + r] : (T)0);                                 \
                if (add) c_[r][v] += FNN_LD(VT, C + (i + r) * ldc + j + v * VL);                  \
            }                                                                                     \
        for (long k = 0; k < K; k++) {                                                            \
            VT b_[NV];                                                                            \
            for (int v = 0; v < NV; v++) b_[v] = FNN_LD(VT, B + k * ldb + j + v * VL);            \
            for (int r = 0; r < MR; r++) {                                                        \
                const T a_ = A[(i + r) * lda + k];                                                \
                for (int v = 0; v < NV; v++) c_[r][v] += a_ * b_[v];                              \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < MR; r++)                                                              \
            for (int v = 0; v < NV; v++) FNN_ST(VT, C + (i + r) * ldc + j + v * VL, c_[r][v]);   \
    } while (0)

/* rows i..i+MR−1 of C: column blocks of 4, 2, 1 vectors, then single columns */
#define FNN_ROWS(T, VT, VL, MR)                                                                   \
    do {                                                                                          \
        long j = 0;                                                                               \
        for (; j + 4 * VL <= N; j += 4 * VL) FNN_BLOCK(T, VT, VL, MR, 4);                         \
        for (; j + 2 * VL <= N; j += 2 * VL) FNN_BLOCK(T, VT, VL, MR, 2);                         \
        for (; j + VL <= N; j += VL) FNN_BLOCK(T, VT, VL, MR, 1);                                 \
        for (; j < N; j++)                                                                        \
            for (int r = 0; r < MR; r++) {                                                        \
                T s_ = (bias ? bias[i + r] : (T)0) + (add ? C[(i + r) * ldc + j] : (T)0);         \
                for (long k = 0; k < K; k++) s_ += A[(i + r) * lda + k] * B[k * ldb + j];         \
                C[(i + r) * ldc + j] = s_;                                                        \
            }                                                                                     \
    } while (0)

#define FNN_DEFINE_CONV(SUF, T, VT, VL)                                                          \
FASTNN_CLONES static void fnn_gemm_##SUF(long M, long N, long K, const T *A, long lda,            \
                                         const T *B, long ldb, T *C, long ldc,                    \
                                         const T *bias, int add) {                                \
    const long pref = M % 5 == 0 ? 5 : 4;  /* row blocks: 5 when they divide M (10, 20 filters) */ \
    for (long i = 0; i < M;) {                                                                    \
        const long mr = M - i > 4 ? pref : M - i;                                                 \
        switch (mr) {                                                                             \
        case 5: FNN_ROWS(T, VT, VL, 5); break;                                                    \
        case 4: FNN_ROWS(T, VT, VL, 4); break;                                                    \
        case 3: FNN_ROWS(T, VT, VL, 3); break;                                                    \
        case 2: FNN_ROWS(T, VT, VL, 2); break;                                                    \
        default: FNN_ROWS(T, VT, VL, 1); break;                                                   \
        }                                                                                         \
        i += mr;                                                                                  \
    }                                                                                             \
}                                                                                                 \
                                                                                                  \
FASTNN_CLONES static void fnn_im2col_##SUF(const T *x, long C, long H, long W, long kh, long kw, long s,        \
                             long p, long Ho, long Wo, T *cols) {                                 \
    const long P = Ho * Wo;                                                                       \
    if (s == 1 && p == 0) {  /* no padding, unit stride: each row of cols is Ho runs of Wo inputs */ \
        for (long c = 0; c < C; c++)                                                              \
            for (long i = 0; i < kh; i++)                                                         \
                for (long j = 0; j < kw; j++) {                                                   \
                    T *restrict row = cols + ((c * kh + i) * kw + j) * P;                         \
                    const T *restrict xr = x + (c * H + i) * W + j;                               \
                    for (long oh = 0; oh < Ho; oh++, row += Wo, xr += W)                          \
                        for (long ow = 0; ow < Wo; ow++) row[ow] = xr[ow];                        \
                }                                                                                 \
        return;                                                                                   \
    }                                                                                             \
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
                    for (long ow = lo; ow < hi; ow++) row[ow] = xr[ow * s + j - p];               \
                    for (long ow = hi; ow < Wo; ow++) row[ow] = 0;                                \
                }                                                                                 \
            }                                                                                     \
}                                                                                                 \
                                                                                                  \
FASTNN_CLONES static void fnn_im2row_##SUF(const T *x, long C, long H, long W, long kh, long kw, long s,        \
                             long p, long Ho, long Wo, T *rows, long ldr) {                       \
    const long K = C * kh * kw;                                                                   \
    if (s == 1 && p == 0) {  /* no padding, unit stride: each row is C·kh runs of kw inputs */    \
        for (long oh = 0; oh < Ho; oh++)                                                          \
            for (long ow = 0; ow < Wo; ow++) {                                                    \
                T *restrict dst = rows + (oh * Wo + ow) * ldr;                                    \
                for (long c = 0; c < C; c++)                                                      \
                    for (long i = 0; i < kh; i++, dst += kw) {                                    \
                        const T *restrict xr = x + (c * H + oh + i) * W + ow;                     \
                        switch (kw) {  /* constant sizes: a move or two, not a call */            \
                        case 3: memcpy(dst, xr, 3 * sizeof(T)); break;                            \
                        case 5: memcpy(dst, xr, 5 * sizeof(T)); break;                            \
                        default: for (long j = 0; j < kw; j++) dst[j] = xr[j];                    \
                        }                                                                         \
                    }                                                                             \
                *dst++ = 1;                                                                       \
                for (long q = K + 1; q < ldr; q++) *dst++ = 0;                                    \
            }                                                                                     \
        return;                                                                                   \
    }                                                                                             \
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
            row[K] = 1;  /* the product's column K is then Σ_p D: the bias gradient */            \
            for (long q = K + 1; q < ldr; q++) row[q] = 0;                                        \
        }                                                                                         \
}                                                                                                 \
                                                                                                  \
FASTNN_CLONES static void fnn_col2im_##SUF(const T *cols, long C, long H, long W, long kh, long kw, long s,     \
                             long p, long Ho, long Wo, T *dx) {                                   \
    const long P = Ho * Wo;                                                                       \
    memset(dx, 0, C * H * W * sizeof(T));                                                         \
    if (s == 1 && p == 0) {                                                                       \
        for (long c = 0; c < C; c++)                                                              \
            for (long i = 0; i < kh; i++)                                                         \
                for (long j = 0; j < kw; j++) {                                                   \
                    const T *restrict row = cols + ((c * kh + i) * kw + j) * P;                   \
                    T *restrict xr = dx + (c * H + i) * W + j;                                    \
                    for (long oh = 0; oh < Ho; oh++, row += Wo, xr += W)                          \
                        for (long ow = 0; ow < Wo; ow++) xr[ow] += row[ow];                       \
                }                                                                                 \
        return;                                                                                   \
    }                                                                                             \
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

/* one candidate v at offset OFF of a 2×2 window: take it when v > best, or v is the first NaN;
 * the selects are bit masks (UT: the unsigned integer of T's width), so no branch is mispredicted */
#define FNN_POOL_STEP(T, UT, V, OFF)                                                                     \
    do {                                                                                          \
        const T v_ = (V);                                                                         \
        const int take_ = (v_ > b) | ((v_ != v_) & (b == b));                                     \
        memcpy(&vb, &v_, sizeof(T));                                                              \
        m = (UT)0 - (UT)take_;                                                                    \
        bb = (vb & m) | (bb & ~m);                                                                \
        memcpy(&b, &bb, sizeof(T));                                                               \
        at = (at & ~(-take_)) | ((OFF) & (-take_));                                               \
    } while (0)

/* 2×2 windows, N outputs at a time (GCC): the two input rows' even and odd columns are split out
 * of 2N consecutive values by shuffles, and the same branch-free selects run lane-wise */
#if defined(__GNUC__) && !defined(__clang__) && !defined(FNN_NO_VECTOR_EXT)
typedef float fnn_v8f __attribute__((vector_size(32)));
typedef int fnn_v8i __attribute__((vector_size(32)));
typedef float fnn_v4f __attribute__((vector_size(16)));
typedef int fnn_v4i __attribute__((vector_size(16)));
typedef double fnn_v4d __attribute__((vector_size(32)));
typedef long long fnn_v4l __attribute__((vector_size(32)));
#define FNN_POOL2_VSTEP(VT, VI, V, OFF)                                                           \
    do {                                                                                          \
        const VT v_ = (V);                                                                        \
        const VI take_ = (v_ > best_) | ((v_ != v_) & (best_ == best_));                          \
        best_ = (VT)(((VI)v_ & take_) | ((VI)best_ & ~take_));                                    \
        at_ = (at_ & ~take_) | (((VI){0} + (__typeof__(at_[0]))(OFF)) & take_);                             \
    } while (0)
#define FNN_POOL2_VEC(T, VT, VI, VIDX, N, EVEN, ODD)                                              \
    for (; j + N <= Wo; j += N) {                                                                 \
        const VI even_ = EVEN, odd_ = ODD;                                                        \
        const VT a0_ = FNN_LD(VT, x0 + 2 * j), a1_ = FNN_LD(VT, x0 + 2 * j + N);                  \
        const VT b0_ = FNN_LD(VT, x1 + 2 * j), b1_ = FNN_LD(VT, x1 + 2 * j + N);                  \
        VT best_ = __builtin_shuffle(a0_, a1_, even_);                                            \
        VI at_ = (VI){0};                                                                         \
        FNN_POOL2_VSTEP(VT, VI, __builtin_shuffle(a0_, a1_, odd_), 1);                            \
        FNN_POOL2_VSTEP(VT, VI, __builtin_shuffle(b0_, b1_, even_), W);                           \
        FNN_POOL2_VSTEP(VT, VI, __builtin_shuffle(b0_, b1_, odd_), W + 1);                        \
        FNN_ST(VT, y + j, best_);                                                                 \
        FNN_ST(VIDX, idx + j, __builtin_convertvector(at_ + even_ + (__typeof__(at_[0]))(2 * i * W + 2 * j), VIDX)); \
    }
#define FNN_EVEN8 {0, 2, 4, 6, 8, 10, 12, 14}
#define FNN_ODD8 {1, 3, 5, 7, 9, 11, 13, 15}
#define FNN_EVEN4 {0, 2, 4, 6}
#define FNN_ODD4 {1, 3, 5, 7}
#define FNN_POOL2_VECTORS_f                                                                       \
    FNN_POOL2_VEC(float, fnn_v8f, fnn_v8i, fnn_v8i, 8, FNN_EVEN8, FNN_ODD8)                       \
    FNN_POOL2_VEC(float, fnn_v4f, fnn_v4i, fnn_v4i, 4, FNN_EVEN4, FNN_ODD4)
#define FNN_POOL2_VECTORS_d  /* 4 lanes only: GCC 12 scalarised the 8-lane double version */      \
    FNN_POOL2_VEC(double, fnn_v4d, fnn_v4l, fnn_v4i, 4, FNN_EVEN4, FNN_ODD4)
#else
#define FNN_POOL2_VECTORS_f
#define FNN_POOL2_VECTORS_d
#endif

#define FNN_DEFINE_POOL(SUF, T, UT)                                                                   \
FASTNN_CLONES static void fnn_maxpool_plane_##SUF(const T *x, long W, long size, long Ho, long Wo,\
                                                  T *y, int *idx) {                               \
    if (size == 2) {  /* the common case: branch-free (random data makes every compare a coin flip) */ \
        for (long i = 0; i < Ho; i++, y += Wo, idx += Wo) {                                       \
            const T *x0 = x + 2 * i * W, *x1 = x0 + W;                                            \
            long j = 0;                                                                           \
            FNN_POOL2_VECTORS_##SUF;                                                              \
            for (; j < Wo; j++) {                                                                 \
                T b = x0[2 * j];                                                                  \
                UT bb, vb, m;                                                                     \
                int at = 0;                                                                       \
                memcpy(&bb, &b, sizeof(T));                                                       \
                FNN_POOL_STEP(T, UT, x0[2 * j + 1], 1);                                             \
                FNN_POOL_STEP(T, UT, x1[2 * j], (int)W);                                            \
                FNN_POOL_STEP(T, UT, x1[2 * j + 1], (int)W + 1);                                        \
                memcpy(&b, &bb, sizeof(T));                                                       \
                y[j] = b;                                                                         \
                idx[j] = (int)(2 * i * W + 2 * j) + at;                                           \
            }                                                                                     \
        }                                                                                         \
        return;                                                                                   \
    }                                                                                             \
    for (long i = 0; i < Ho; i++, y += Wo, idx += Wo) {                                           \
        const long r0 = i * size;                                                                 \
        for (long j = 0; j < Wo; j++) { y[j] = x[r0 * W + j * size]; idx[j] = (int)(r0 * W + j * size); } \
        for (long r = r0; r < r0 + size; r++)                                                     \
            for (long c = 0; c < size; c++) {                                                     \
                if (r == r0 && c == 0) continue;                                                  \
                const T *xr = x + r * W + c;                                                      \
                const int base = (int)(r * W + c);                                                \
                for (long j = 0; j < Wo; j++) {                                                   \
                    T b = y[j];                                                                   \
                    UT bb, vb, m;                                                                 \
                    int at = idx[j];                                                              \
                    memcpy(&bb, &b, sizeof(T));                                                   \
                    FNN_POOL_STEP(T, UT, xr[j * size], base + (int)(j * size));                   \
                    y[j] = b;                                                                     \
                    idx[j] = at;                                                                  \
                }                                                                                 \
            }                                                                                     \
    }                                                                                             \
}

FNN_DEFINE_CONV(f, float, fnn_vf, FNN_VL_F)
FNN_DEFINE_CONV(d, double, fnn_vd, FNN_VL_D)
FNN_DEFINE_POOL(f, float, uint32_t)
FNN_DEFINE_POOL(d, double, uint64_t)

#endif
