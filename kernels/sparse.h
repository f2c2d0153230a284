/* First-layer kernels that skip zero inputs (fastnn._cysparse), in C so that GCC vectorises the
 * loops over a layer's units, compiled per instruction set like epilogue.h (FASTNN_CLONES).
 *
 * X is given in compressed sparse rows: row i holds the values values[p] of columns indices[p]
 * for p in indptr[i] .. indptr[i+1]−1 (offsets absolute: a block of rows passes indptr + lo).
 * W is d×m row-major, so the m weights of one input feature are contiguous:
 *
 *   fastnn_spmm_T(ptr, idx, val, n_outer, n_inner, B, ldb, m, C, ldc, scale, accumulate, cur, pk)
 *        C := scale·S·B (+ C if accumulate): S is n_outer × n_inner in compressed rows (ptr, idx,
 *        val), B is n_inner × m, C n_outer × m, both row-major with rows ldb and ldc ≥ m values
 *        apart (a slice of columns of wider matrices: threads may split the units); scratch: cur,
 *        n_outer offsets, and pk, n_inner·FASTNN_SPMM_CHUNK_BYTES bytes.
 *        The forward product is A := X·W (S = X in sparse rows, B = W) and the weight gradient
 *        dW := scale·XᵀD (S = Xᵀ, i.e. X in sparse columns, B = D).
 *        For each nonzero s_ik, C_i += s_ik·B_k is an AXPY over the units: the units go in chunks
 *        of four SIMD vectors (64 floats / 32 doubles) accumulated in registers, and the inner
 *        index in tiles whose rows of B stay in L1 (FASTNN_SPMM_TILE_BYTES), each output row
 *        resuming at its cursor in the next tile. B's columns of a chunk are first packed into
 *        contiguous rows (pk): rows of B 1 KB apart (m = 256 floats) fall into few L1 sets and
 *        evicted each other (3× slower) — the B rows one tile needs are read from L1 by
 *        every output row, and C is read and written once per tile, not once per nonzero.
 *   fastnn_csr_to_csc_T(indptr, indices, values, rows, d, colptr, rowidx, colval, next)
 *        the same block in compressed sparse columns (rows numbered from 0, increasing within a
 *        column; colptr has d+1 offsets from 0; next: d scratch offsets)
 *
 * T is f (float) or d (double). Indices are int32 (d < 2³¹), offsets int64.
 */
#ifndef FASTNN_SPARSE_H
#define FASTNN_SPARSE_H
#include <stdint.h>
#include <string.h>
#include "epilogue.h"

static void fastnn_csr_to_csc_counts(const int64_t *indptr, const int32_t *indices, long rows, long d,
                                     int64_t *colptr) {
    for (long c = 0; c <= d; c++) colptr[c] = 0;
    for (int64_t p = indptr[0]; p < indptr[rows]; p++) colptr[indices[p] + 1]++;
    for (long c = 0; c < d; c++) colptr[c + 1] += colptr[c];
}

/* Inner-dimension tile of fastnn_spmm: the rows of B one tile reads for a chunk of units stay
 * within this many bytes (L1 cache). Measured on 2048×784 blocks, 784→256, float32, one thread
 * (min of 15, shared machine), forward / weight-gradient ms by tile bytes:
 *              8K         16K        24K        32K        48K        64K        1M (untiled)
 *   19 %    3.9/3.8    3.0/2.8    2.7/2.7    2.4/2.3    2.3/2.5    2.3/2.5    2.2/2.3
 *   50 %   10.1/10.6   8.6/8.9   12.5/12.8   5.1/5.6    9.4/13.6  13.9/13.7   8.9/9.4
 * (dense GEMMs 6.0/6.3 ms in the quietest run). */
#ifndef FASTNN_SPMM_TILE_BYTES
#define FASTNN_SPMM_TILE_BYTES 32768
#endif
/* Output rows from which B's chunks are packed; below, B's rows are read where they are (each
 * thread packs its own copy: a 784×300 W packed for 32 rows of a mini-batch costs about as much as
 * their product). 64-row batches, 784→256 / 784→300, one thread, 50 % nonzeros, sparse / dense:
 * packed 0.78 / 0.65, unpacked 0.85 / 0.92. */
#ifndef FASTNN_SPMM_PACK_MIN_ROWS
#define FASTNN_SPMM_PACK_MIN_ROWS 64
#endif
/* Output rows taken through every chunk of units and every inner tile together: their rows of C
 * stay in L2 while B's packed chunks are read tile by tile (C that fits in this many bytes is taken
 * whole; B's chunk is then packed once, else once per block of rows). Before, each chunk made a
 * pass over all rows of C: a 60,000-row full-batch forward (784→256, float32) streamed C
 * from memory once per chunk and tile. That forward on Fashion-MNIST's 60,000 images, one thread
 * (two interleaved builds, two runs each): 418 ms before; 181-214 ms with chunks outermost and
 * 1024-row blocks; 124-164 ms in this order (dense: 208 ms). 2048-row blocks time alike in both. */
#ifndef FASTNN_SPMM_BLOCK_BYTES
#define FASTNN_SPMM_BLOCK_BYTES 262144
#endif
#define FASTNN_SPMM_MIN_BLOCK_ROWS 16
/* Nonzeros of a row taken together in the chunk loop (each with its own NV accumulators) */
#ifndef FASTNN_SPMM_UNROLL
#define FASTNN_SPMM_UNROLL 2
#endif
/* Bytes of one chunk of units: four 64-byte SIMD vectors (up to eight for variant builds: eight-
 * vector chunks, -DFASTNN_SPMM_CHUNK_BYTES=512 and twice the packing space, timed alike on W2r-Fashion,
 * 0.300-0.304 against 0.300-0.307 s per epoch, interleaved builds). */
#ifndef FASTNN_SPMM_CHUNK_BYTES
#define FASTNN_SPMM_CHUNK_BYTES 256
#endif

/* One chunk of NV vectors of VL values of T of output row c (w units valid; B's rows at src with
 * stride ld: packed rows of NV·VL values zero-padded, or B itself), over the stored entries p..end of its sparse row with
 * inner index below k1, accumulated in registers: c += Σ s·val·B[idx]. */
#define FASTNN_SPMM_CHUNK(T, VEC, VL, NV)                                                          \
    do {                                                                                           \
        VEC a[FASTNN_SPMM_UNROLL][NV];                                                             \
        for (int q = 0; q < FASTNN_SPMM_UNROLL; q++)                                               \
            for (int u = 0; u < NV; u++) a[q][u] = (VEC){0};                                       \
        /* FASTNN_SPMM_UNROLL nonzeros at a time: UNROLL·NV independent FMA chains */              \
        for (; p + FASTNN_SPMM_UNROLL - 1 < end && idx[p + FASTNN_SPMM_UNROLL - 1] < k1;           \
             p += FASTNN_SPMM_UNROLL) {                                                            \
            for (int q = 0; q < FASTNN_SPMM_UNROLL; q++) {                                         \
                const T v = scale * val[p + q], *b = src + (long)idx[p + q] * ld;                  \
                for (int u = 0; u < NV; u++) {                                                     \
                    VEC bu;                                                                        \
                    memcpy(&bu, b + u * VL, sizeof bu);                                            \
                    a[q][u] += v * bu;                                                             \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        for (; p < end && idx[p] < k1; p++) { /* the rest, one at a time */                        \
            const T v = scale * val[p], *b = src + (long)idx[p] * ld;                              \
            for (int u = 0; u < NV; u++) {                                                         \
                VEC bu;                                                                            \
                memcpy(&bu, b + u * VL, sizeof bu);                                                \
                a[0][u] += v * bu;                                                                 \
            }                                                                                      \
        }                                                                                          \
        for (int q = 1; q < FASTNN_SPMM_UNROLL; q++)                                               \
            for (int u = 0; u < NV; u++) a[0][u] += a[q][u];                                       \
        if (w >= NV * VL) {                                                                        \
            for (int u = 0; u < NV; u++) {                                                         \
                VEC cu;                                                                            \
                memcpy(&cu, c + u * VL, sizeof cu);                                                \
                cu += a[0][u];                                                                     \
                memcpy(c + u * VL, &cu, sizeof cu);                                                \
            }                                                                                      \
        } else { /* the last, partial chunk of a row */                                            \
            T part[NV * VL];                                                                       \
            for (int u = 0; u < NV; u++) memcpy(part + u * VL, &a[0][u], sizeof a[0][u]);          \
            for (long j = 0; j < w; j++) c[j] += part[j];                                          \
        }                                                                                          \
    } while (0)

#if FASTNN_SPMM_CHUNK_BYTES > 256
#define FASTNN_SPMM_WIDE_CASES(T, VEC, VL)                                                         \
    case 8: FASTNN_SPMM_CHUNK(T, VEC, VL, 8); break;                                               \
    case 7: FASTNN_SPMM_CHUNK(T, VEC, VL, 7); break;                                               \
    case 6: FASTNN_SPMM_CHUNK(T, VEC, VL, 6); break;                                               \
    case 5: FASTNN_SPMM_CHUNK(T, VEC, VL, 5); break;
#else
#define FASTNN_SPMM_WIDE_CASES(T, VEC, VL)
#endif

#define FASTNN_DEFINE_SPARSE(SUFFIX, T)                                                            \
typedef T fastnn_vec_##SUFFIX __attribute__((vector_size(64)));                                   \
FASTNN_CLONES static void fastnn_spmm_##SUFFIX(const int64_t *restrict ptr,                       \
        const int32_t *restrict idx, const T *restrict val, long n_outer, long n_inner,           \
        const T *restrict B, long ldb, long m, T *restrict C, long ldc, T scale, int accumulate,  \
        int64_t *restrict cur, T *restrict pk) {                                                  \
    enum { VL = 64 / sizeof(T), J = FASTNN_SPMM_CHUNK_BYTES / sizeof(T) };                     \
    const int packed = n_outer >= FASTNN_SPMM_PACK_MIN_ROWS;                                       \
    /* rows of C taken through every chunk and tile together (all of them when C fits in cache, or \
     * when B is the larger operand: repacking its chunks per block would cost more than C's pass) */\
    const long rb_fit = FASTNN_SPMM_BLOCK_BYTES / (m * (long)sizeof(T)),                           \
               rb = n_outer * m * (long)sizeof(T) <= FASTNN_SPMM_BLOCK_BYTES || n_inner > n_outer ? n_outer\
                    : (rb_fit > FASTNN_SPMM_MIN_BLOCK_ROWS ? rb_fit : FASTNN_SPMM_MIN_BLOCK_ROWS); \
    for (long i0 = 0; i0 < n_outer; i0 += rb) {                                                    \
        const long i1 = n_outer - i0 > rb ? i0 + rb : n_outer;                                     \
        if (!accumulate) {                                                                         \
            for (long i = i0; i < i1; i++) memset(C + i * ldc, 0, m * sizeof(T));                 \
        }                                                                                          \
        for (long j0 = 0; j0 < m;) {                                                               \
            const long w = m - j0 >= J ? J : m - j0, nv = (w + VL - 1) / VL, ws = nv * VL;         \
            /* vectors per chunk in registers, the rows of B they read (stride ld), the inner tile */\
            const long nvf = packed ? nv : w / VL, ld = packed ? ws : ldb;                         \
            const T *src = packed ? pk : B + j0;                                                   \
            const long K = packed ? FASTNN_SPMM_TILE_BYTES / (ws * (long)sizeof(T)) : n_inner;     \
            if (packed && (i0 == 0 || m > J)) { /* one chunk of B packed at a time */              \
                for (long k = 0; k < n_inner; k++) {                                               \
                    for (long j = 0; j < w; j++) pk[k * ws + j] = B[k * ldb + j0 + j];             \
                    for (long j = w; j < ws; j++) pk[k * ws + j] = 0;                              \
                }                                                                                  \
            }                                                                                      \
            for (long i = i0; i < i1; i++) cur[i] = ptr[i];                                        \
            for (long k1 = K; k1 - K < n_inner; k1 += K) {                                         \
                for (long i = i0; i < i1; i++) {                                                   \
                    int64_t p = cur[i];                                                            \
                    const int64_t end = ptr[i + 1], p0 = p;                                        \
                    if (p >= end || idx[p] >= k1) continue;                                        \
                    T *c = C + i * ldc + j0;                                                       \
                    switch (nvf) {                                                                 \
                    FASTNN_SPMM_WIDE_CASES(T, fastnn_vec_##SUFFIX, VL)                             \
                    case 4: FASTNN_SPMM_CHUNK(T, fastnn_vec_##SUFFIX, VL, 4); break;               \
                    case 3: FASTNN_SPMM_CHUNK(T, fastnn_vec_##SUFFIX, VL, 3); break;               \
                    case 2: FASTNN_SPMM_CHUNK(T, fastnn_vec_##SUFFIX, VL, 2); break;               \
                    case 1: FASTNN_SPMM_CHUNK(T, fastnn_vec_##SUFFIX, VL, 1); break;               \
                    default: break;                                                                \
                    }                                                                              \
                    if (nvf * VL < w) { /* unpacked: the lanes after the last whole vector */      \
                        for (p = p0; p < end && idx[p] < k1; p++) {                                \
                            const T v = scale * val[p], *b = src + (long)idx[p] * ld;              \
                            for (long j = nvf * VL; j < w; j++) c[j] += v * b[j];                  \
                        }                                                                          \
                    }                                                                              \
                    cur[i] = p;                                                                    \
                }                                                                                  \
            }                                                                                      \
            j0 += w;                                                                               \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
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
}

FASTNN_DEFINE_SPARSE(f, float)
FASTNN_DEFINE_SPARSE(d, double)

/* fastnn_compress_row_T(x, n, idx, val): idx, val := the columns and values of the n values at x
 * that are not 0 (NaN included), in order; returns their count. Writes up to FASTNN_COMPRESS_SLACK
 * values past the last one it keeps (the buffers need that room). The C loop compresses each
 * mini-batch's rows with it: branch-free scalar code takes about a cycle a value; with AVX-512,
 * sixteen floats are compared and compressed in registers at once (the register form of
 * vcompressps: its memory form is slow on AMD Zen 4). */
#define FASTNN_COMPRESS_SLACK 16
#define FASTNN_DEFINE_COMPRESS(SUFFIX, T)                                                          \
/* columns j0..n−1 of the row at x, branch-free: the cursor advances past values kept only */      \
static inline long fastnn_compress_cols_##SUFFIX(const T *x, long j0, long n, int32_t *idx, T *val) {     \
    long q = 0;                                                                                    \
    for (long j = j0; j < n; j++) {                                                                \
        idx[q] = (int32_t)j;                                                                       \
        val[q] = x[j];                                                                             \
        q += x[j] != 0;                                                                            \
    }                                                                                              \
    return q;                                                                                      \
}
FASTNN_DEFINE_COMPRESS(f, float)
FASTNN_DEFINE_COMPRESS(d, double)

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static inline long fastnn_compress_row_avx512_f(const float *x, long n, int32_t *idx,
                                                                            float *val) {
    long q = 0, j = 0;
    __m512i cols = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i sixteen = _mm512_set1_epi32(16);
    for (; j + 16 <= n; j += 16) {
        const __m512 v = _mm512_loadu_ps(x + j);
        const __mmask16 keep = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);  /* NaN: kept */
        _mm512_storeu_ps(val + q, _mm512_maskz_compress_ps(keep, v));
        _mm512_storeu_si512((void *)(idx + q), _mm512_maskz_compress_epi32(keep, cols));
        q += __builtin_popcount((unsigned)keep);
        cols = _mm512_add_epi32(cols, sixteen);
    }
    return q + fastnn_compress_cols_f(x, j, n, idx + q, val + q);
}
#endif

static inline long fastnn_compress_row_f(const float *x, long n, int32_t *idx, float *val) {
#if defined(__GNUC__) && defined(__x86_64__)
    static int avx512 = -1;  /* (a benign race: every thread computes the same value) */
    if (avx512 < 0) avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
    if (avx512) return fastnn_compress_row_avx512_f(x, n, idx, val);
#endif
    return fastnn_compress_cols_f(x, 0, n, idx, val);
}

static inline long fastnn_compress_row_d(const double *x, long n, int32_t *idx, double *val) {
    return fastnn_compress_cols_d(x, 0, n, idx, val);
}


#endif
