/* Whole-loop training of small networks in C, instantiated for one element type.
 * Include with T (float or double), FNN_GEMM (the matching BLAS gemm pointer type) and the
 * FNN_NAME(x) macro defined (see small_net.h). Activations and deltas are feature-major
 * (units × samples) so that every inner loop runs over contiguous samples and vectorises (libmvec
 * exp/tanh, see simd_math.h).
 *
 * layout: int64 rows of (fan_in, fan_out, w_off, b_off, a_off, d_off) per layer; theta/grad:
 * flat parameters (W row-major fan_in × fan_out at w_off, bias at b_off or −1); work: A_l and
 * D_l blocks (fan_out × n) at a_off/d_off, followed by 2n scratch values. Loss kinds and
 * optimisers as in fastnn/engines.py.
 *
 * The three products of a layer (forward, weight gradient, deltas below) go to the Fortran BLAS
 * gemm passed in (scipy's sgemm/dgemm) when the layer has at least `blas_min_weights` weights
 * (fan_in·fan_out), else to hand loops over the samples. Per layer, whatever the number of
 * samples n: the hand loops win only on layers of a few weights (2×3 up to n ≈ 1000, 2×8 at
 * n ≤ 16); from 2×16 or 4×16 on, BLAS is 1.5–8× faster even at n = 1 (one layer's three
 * products, hand-loop time / BLAS time, so > 1: BLAS faster; 2 threads, AVX-512):
 *
 *   fi×fo  n:   1     4    16    32    64   200  1000 10000
 *   2×3      0.25  0.34  0.45  0.75  0.77  0.77  0.91  1.32
 *   2×8      0.50  0.61  0.86  1.27  1.22  1.11  1.12  1.49
 *   2×16     0.69  0.76  1.15  1.51  1.40  1.33  1.52  1.41
 *   16×16    1.79  2.70  4.32  3.37  3.06  2.41  3.58  2.14
 *   300×10   2.86  4.53  4.90  3.31  2.39  2.53  1.38  2.61
 */

/* Row-major C (m×n) := alpha·op(A)·op(B) + beta·C (ta, tb: 'n' or 't'). Column-major BLAS sees
 * each row-major matrix as its transpose, so it computes Cᵀ = op(B)ᵀ·op(A)ᵀ: operands swapped. */
static inline void FNN_NAME(gemm_rm)(FNN_GEMM gemm, char ta, char tb, long m, long n, long k, T alpha,
                                     const T *A, long lda, const T *B, long ldb, T beta, T *C, long ldc) {
    int m_ = (int)m, n_ = (int)n, k_ = (int)k, lda_ = (int)lda, ldb_ = (int)ldb, ldc_ = (int)ldc;
    gemm(&tb, &ta, &n_, &m_, &k_, &alpha, (T *)B, &ldb_, (T *)A, &lda_, &beta, C, &ldc_);
}

/* Σ x·y over n samples */
static inline __attribute__((always_inline)) T FNN_NAME(dot)(const T *x, const T *y, long n) {
    FNN_REDUCE(T, n, x[i] * y[i]);
}

/* Σ x over n samples */
static inline __attribute__((always_inline)) T FNN_NAME(sum)(const T *x, long n) {
    FNN_REDUCE(T, n, x[i]);
}

/* Σ y·(ls − z): the cross-entropy terms of one output unit (ls = log Σ_units e^z, z shifted) */
static inline __attribute__((always_inline)) double FNN_NAME(xent)(const T *y, const T *ls, const T *z, long n) {
    FNN_REDUCE(double, n, y[i] * (ls[i] - z[i]));
}

/* Σ (a − y)² */
static inline __attribute__((always_inline)) double FNN_NAME(sq_dist)(const T *a, const T *y, long n) {
    FNN_REDUCE(double, n, (a[i] - y[i]) * (a[i] - y[i]));
}

/* z := (init ? b : z) + Σ_{p<rows} w[p·ldw]·x_p with x_p = x + p·ldx (rows ≥ 1), added in the order
 * of p: up to four rows per pass over z (the hand-loop products of small layers) */
static inline __attribute__((always_inline)) void FNN_NAME(add_rows)(T *restrict z, int init, T b, const T *x, long ldx,
                                                                   const T *w, long ldw, long rows, long n) {
    long p = 0;
    for (; p + 4 <= rows; p += 4, init = 0) {
        const T *x0 = x + p * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        const T w0 = w[p * ldw], w1 = w[(p + 1) * ldw], w2 = w[(p + 2) * ldw], w3 = w[(p + 3) * ldw];
        for (long i = 0; i < n; i++) z[i] = (init ? b : z[i]) + w0 * x0[i] + w1 * x1[i] + w2 * x2[i] + w3 * x3[i];
    }
    for (; p + 2 <= rows; p += 2, init = 0) {
        const T *x0 = x + p * ldx, *x1 = x0 + ldx;
        const T w0 = w[p * ldw], w1 = w[(p + 1) * ldw];
        for (long i = 0; i < n; i++) z[i] = (init ? b : z[i]) + w0 * x0[i] + w1 * x1[i];
    }
    for (; p < rows; p++, init = 0) {
        const T *x0 = x + p * ldx;
        const T w0 = w[p * ldw];
        for (long i = 0; i < n; i++) z[i] = (init ? b : z[i]) + w0 * x0[i];
    }
}

/* Z := f(Wᵀ·Xin + b), feature-major Z (fo × n). Xin is fi × n, or n × fi when sample_major
 * (BLAS only); gemm NULL: hand loops */
static inline __attribute__((always_inline)) void FNN_NAME(dense_t)(FNN_GEMM gemm, const T *W, const T *b,
                              const T *Xin, int sample_major, T *Z, long fi, long fo, long n,
                              int act, T k, T alpha) {
    if (gemm) {
        if (b)
            for (long j = 0; j < fo; j++)
                for (long i = 0; i < n; i++) Z[j * n + i] = b[j];
        const T beta = b ? (T)1 : (T)0;
        if (sample_major)
            FNN_NAME(gemm_rm)(gemm, 't', 't', fo, n, fi, (T)1, W, fo, Xin, fi, beta, Z, n);
        else
            FNN_NAME(gemm_rm)(gemm, 't', 'n', fo, n, fi, (T)1, W, fo, Xin, n, beta, Z, n);
    } else {
        for (long j = 0; j < fo; j++) FNN_NAME(add_rows)(Z + j * n, 1, b ? b[j] : (T)0, Xin, n, W + j, fo, fi, n);
    }
    FNN_NAME(activate_rows)(Z, NULL, 1, fo * n, act, k, alpha);
}

/* dW := Xin·Dᵀ + wd·W (fi × fo); db := Σ_samples D (if db); D feature-major fo × n, Xin as in dense_t.
 * With BLAS and sgd_lr ≠ 0 (plain SGD, wd = 0), W −= sgd_lr·Xin·Dᵀ in the GEMM instead of dW. */
static inline __attribute__((always_inline)) void FNN_NAME(weight_grad_t)(FNN_GEMM gemm, const T *Xin,
                              int sample_major, const T *D, T *W, T *dW, T *db, long fi, long fo,
                              long n, T wd, T sgd_lr) {
    if (gemm) {
        T *C = sgd_lr != 0 ? W : dW;
        const T alpha = sgd_lr != 0 ? -sgd_lr : (T)1, beta = sgd_lr != 0 ? (T)1 : (T)0;
        if (sample_major)
            FNN_NAME(gemm_rm)(gemm, 't', 't', fi, fo, n, alpha, Xin, fi, D, n, beta, C, fo);
        else
            FNN_NAME(gemm_rm)(gemm, 'n', 't', fi, fo, n, alpha, Xin, n, D, n, beta, C, fo);
        if (wd != 0)
            for (long q = 0; q < fi * fo; q++) dW[q] += wd * W[q];
    } else if (n < FNN_LANES) {  /* a few samples (per-sample SGD): dW row p = Σ_i x_pi·D_:i */
        for (long p = 0; p < fi; p++) {
            T *dw = dW + p * fo;
            const T x0 = Xin[p * n];
            for (long j = 0; j < fo; j++) dw[j] = x0 * D[j * n];
            for (long i = 1; i < n; i++) {
                const T x = Xin[p * n + i];
                for (long j = 0; j < fo; j++) dw[j] += x * D[j * n + i];
            }
            if (wd != 0)
                for (long j = 0; j < fo; j++) dw[j] += wd * W[p * fo + j];
        }
    } else {
        for (long p = 0; p < fi; p++)
            for (long j = 0; j < fo; j++)
                dW[p * fo + j] = FNN_NAME(dot)(Xin + p * n, D + j * n, n) + wd * W[p * fo + j];
    }
    if (db)
        for (long j = 0; j < fo; j++) db[j] = FNN_NAME(sum)(D + j * n, n);
}

/* Dp := (W·D) ⊙ f'(Ap): deltas of the layer below (fi × n) from this layer's D (fo × n) */
static inline __attribute__((always_inline)) void FNN_NAME(delta_t)(FNN_GEMM gemm, const T *W, const T *D,
                              const T *Ap, T *Dp, long fi, long fo, long n, int act, T k, T alpha) {
    if (gemm) {
        FNN_NAME(gemm_rm)(gemm, 'n', 'n', fi, n, fo, (T)1, W, fo, D, n, (T)0, Dp, n);
    } else {
        for (long p = 0; p < fi; p++) FNN_NAME(add_rows)(Dp + p * n, 1, (T)0, D, n, W + p * fo, 1, fo, n);
    }
    FNN_NAME(derivative_rows)(Dp, Dp, Ap, 1, fi * n, act, k, alpha);
}

/* Output loss and delta D (feature-major) against targets YT (outputs × samples); returns Σ loss.
 * mx, s: n scratch values each. */
static inline __attribute__((always_inline)) double FNN_NAME(loss_t)(T *A, const T *YT, T *D, long m, long n, int kind, int act, T k, T alpha,
                               T scale, T *mx, T *s) {
    double loss = 0.0;
    if (kind == FNN_LOSS_SOFTMAX_CE) {
        for (long i = 0; i < n; i++) mx[i] = A[i];
        for (long j = 1; j < m; j++) {
            const T *a = A + j * n;
            for (long i = 0; i < n; i++) mx[i] = a[i] > mx[i] ? a[i] : mx[i];
        }
        for (long i = 0; i < n; i++) s[i] = 0;
        for (long j = 0; j < m; j++) {  /* z := z − max; e = exp(z) into D; s = Σ e */
            T *a = A + j * n, *d = D + j * n;
            for (long i = 0; i < n; i++) { a[i] -= mx[i]; d[i] = FNN_EXP(a[i]); s[i] += d[i]; }
        }
        for (long i = 0; i < n; i++) { mx[i] = FNN_LOG(s[i]); s[i] = (T)1 / s[i]; }  /* log s, 1/s: once per sample */
        for (long j = 0; j < m; j++) {  /* loss Σ y·(log s − z); P = e / s; D = scale·(P − Y) */
            T *a = A + j * n, *d = D + j * n;
            const T *y = YT + j * n;
            loss += FNN_NAME(xent)(y, mx, a, n);
            for (long i = 0; i < n; i++) {
                const T p = d[i] * s[i];
                a[i] = p;
                d[i] = scale * (p - y[i]);
            }
        }
    } else if (kind == FNN_LOSS_SIGMOID_BCE) {
        for (long j = 0; j < m * n; j++) {
            const T kz = k * A[j];
            loss += (kz > 0 ? kz : (T)0) + FNN_LOG1P(FNN_EXP(-FNN_ABS(kz))) - YT[j] * kz;
            const T p = (T)1 / ((T)1 + FNN_EXP(-kz));
            A[j] = p;
            D[j] = scale * k * (p - YT[j]);
        }
    } else {  /* MSE on f(z): loss Σ (A − Y)²; D = scale·2(A − Y)·f'(A) */
        loss = FNN_NAME(sq_dist)(A, YT, m * n);
        for (long j = 0; j < m * n; j++) D[j] = scale * 2 * (A[j] - YT[j]);
        FNN_NAME(derivative_rows)(D, D, A, 1, m * n, act, k, alpha);
    }
    return loss;
}

/* Forward pass and output loss/delta over n samples; returns the summed loss. XT is the input
 * block, feature-major (fi × n) or sample-major (n × fi) when x_sample_major. */
static inline __attribute__((always_inline)) double FNN_NAME(forward_loss)(const T *theta, const int64_t *layout, long L,
                                      const T *XT, int x_sample_major, const T *YT, long n, const int *acts,
                                      const double *ks, const double *alphas, int kind, T scale, T *work,
                                      T *scratch, FNN_GEMM gemm, long blas_min_weights) {
    for (long l = 0; l < L; l++) {
        const int64_t *ly = layout + FNN_LAYOUT_COLS * l;
        const T *Xin = l == 0 ? XT : work + layout[FNN_LAYOUT_COLS * (l - 1) + FNN_COL_A_OFF];
        int act = (FNN_OUTPUT_IS_LINEAR(kind) && l == L - 1) ? FNN_ACT_LINEAR : acts[l];
        FNN_GEMM g = ly[FNN_COL_FAN_IN] * ly[FNN_COL_FAN_OUT] >= blas_min_weights ? gemm : NULL;
        FNN_NAME(dense_t)(g, theta + ly[FNN_COL_W_OFF], ly[FNN_COL_B_OFF] >= 0 ? theta + ly[FNN_COL_B_OFF] : NULL, Xin, l == 0 && x_sample_major,
                          work + ly[FNN_COL_A_OFF], ly[FNN_COL_FAN_IN], ly[FNN_COL_FAN_OUT], n, act, (T)ks[l], (T)alphas[l]);
    }
    const int64_t *lo = layout + FNN_LAYOUT_COLS * (L - 1);
    return FNN_NAME(loss_t)(work + lo[FNN_COL_A_OFF], YT, work + lo[FNN_COL_D_OFF], lo[FNN_COL_FAN_OUT], n, kind, acts[L - 1], (T)ks[L - 1],
                            (T)alphas[L - 1], scale, scratch, scratch + n);
}

/* Backward pass from the output delta: each layer's deltas below (with its old W), then its gradient
 * into grad — or, with sgd_lr ≠ 0, the SGD step of the weights of BLAS layers (see weight_grad_t;
 * their block of grad is left as it was). */
static inline __attribute__((always_inline)) void FNN_NAME(backward)(T *theta, T *grad, const int64_t *layout, long L,
                                      const T *XT, int x_sample_major, long n, const int *acts, const double *ks,
                                      const double *alphas, T wd, T *work, FNN_GEMM gemm, long blas_min_weights,
                                      T sgd_lr) {
    for (long l = L - 1; l >= 0; l--) {
        const int64_t *ly = layout + FNN_LAYOUT_COLS * l;
        const long fi = ly[FNN_COL_FAN_IN], fo = ly[FNN_COL_FAN_OUT];
        const T *Xin = l == 0 ? XT : work + layout[FNN_LAYOUT_COLS * (l - 1) + FNN_COL_A_OFF];
        FNN_GEMM g = fi * fo >= blas_min_weights ? gemm : NULL;
        if (l > 0) {
            const int64_t *lp = layout + FNN_LAYOUT_COLS * (l - 1);
            FNN_NAME(delta_t)(g, theta + ly[FNN_COL_W_OFF], work + ly[FNN_COL_D_OFF], work + lp[FNN_COL_A_OFF], work + lp[FNN_COL_D_OFF], fi, fo, n,
                              acts[l - 1], (T)ks[l - 1], (T)alphas[l - 1]);
        }
        FNN_NAME(weight_grad_t)(g, Xin, l == 0 && x_sample_major, work + ly[FNN_COL_D_OFF], theta + ly[FNN_COL_W_OFF], grad + ly[FNN_COL_W_OFF],
                                ly[FNN_COL_B_OFF] >= 0 ? grad + ly[FNN_COL_B_OFF] : NULL, fi, fo, n, wd, sgd_lr);
    }
}

/* θ += Δ for the flat parameter vector (weight decay is already in grad) */
static inline __attribute__((always_inline)) void FNN_NAME(update)(T *theta, const T *grad, T *m1, T *m2, long size, int opt, double lr, double mu,
                             double b1, double b2, double eps, double t) {
    if (opt == FNN_OPT_SGD) {
        FNN_NAME(sgd)(theta, grad, size, (T)lr, (T)0);
    } else if (opt == FNN_OPT_MOMENTUM) {
        FNN_NAME(momentum)(theta, grad, m1, size, (T)lr, (T)mu, (T)0);
    } else {
        FNN_NAME(adam)(theta, grad, m1, m2, size, (T)lr, (T)b1, (T)b2, (T)eps, (T)(1.0 - pow(b1, t)),
                       (T)(1.0 - pow(b2, t)), (T)0);
    }
}

/* θ −= lr·grad for the parameters that a fused step left out: biases and the weights of hand-loop
 * layers (those of BLAS layers were updated in their gradient's GEMM) */
static inline __attribute__((always_inline)) void FNN_NAME(sgd_rest)(T *theta, const T *grad, const int64_t *layout,
                                                                   long L, double lr, long blas_min_weights) {
    for (long l = 0; l < L; l++) {
        const int64_t *ly = layout + FNN_LAYOUT_COLS * l;
        if (ly[FNN_COL_FAN_IN] * ly[FNN_COL_FAN_OUT] < blas_min_weights) FNN_NAME(sgd)(theta + ly[FNN_COL_W_OFF], grad + ly[FNN_COL_W_OFF], ly[FNN_COL_FAN_IN] * ly[FNN_COL_FAN_OUT], (T)lr, (T)0);
        if (ly[FNN_COL_B_OFF] >= 0) FNN_NAME(sgd)(theta + ly[FNN_COL_B_OFF], grad + ly[FNN_COL_B_OFF], ly[FNN_COL_FAN_OUT], (T)lr, (T)0);
    }
}

/* Correct predictions of the output block A (m × n, feature-major): argmax unit (the first of
 * equals; one unit: a > 0.5) against the label. best, arg: n scratch values each. */
static inline __attribute__((always_inline)) long FNN_NAME(count_correct)(const T *A, long m, long n, const int64_t *labels,
                                                                        T *restrict best, T *restrict arg) {
    long correct = 0;
    if (m == 1) {
        for (long i = 0; i < n; i++) correct += (int64_t)(A[i] > (T)0.5) == labels[i];
        return correct;
    }
    for (long i = 0; i < n; i++) { best[i] = A[i]; arg[i] = 0; }
    for (long j = 1; j < m; j++) {
        const T *a = A + j * n;
        for (long i = 0; i < n; i++) {  /* arithmetic select: GCC if-converts it under trapping maths */
            const T up = a[i] > best[i];
            arg[i] += up * ((T)j - arg[i]);
            best[i] = a[i] > best[i] ? a[i] : best[i];
        }
    }
    for (long i = 0; i < n; i++) correct += (int64_t)arg[i] == labels[i];
    return correct;
}

/* Gather the rows src[0..rows) of X (row-major, n_cols wide) into Xb: sample-major (rows × n_cols,
 * one copy per row, prefetched) or feature-major (n_cols × rows, in blocks of 16 samples so that
 * the reads of 16 rows and the writes of each 16-sample run share cache lines) */
static inline void FNN_NAME(gather)(const T *X, const int64_t *src, long rows, long n_cols, T *Xb,
                                    int sample_major) {
    if (sample_major) {
        for (long r = 0; r < rows; r++) {  /* rows come from anywhere in X: fetch two rows ahead */
            if (r + 2 < rows)
                for (long c = 0; c < n_cols; c += 64 / sizeof(T)) __builtin_prefetch(X + src[r + 2] * n_cols + c);
            memcpy(Xb + r * n_cols, X + src[r] * n_cols, n_cols * sizeof(T));
        }
        return;
    }
    for (long r0 = 0; r0 < rows; r0 += 16) {
        const long nr = rows - r0 < 16 ? rows - r0 : 16;
        const T *x[16];
        for (long r = 0; r < nr; r++) x[r] = X + src[r0 + r] * n_cols;
        for (long c = 0; c < n_cols; c++)
            for (long r = 0; r < nr; r++) Xb[c * rows + r0 + r] = x[r][c];
    }
}

/* The first layer's input for the mini-batch of `rows` samples order[start..]: read in place from X
 * when those rows are consecutive (unshuffled or pre-shuffled data) and the layer uses BLAS
 * (sample-major), else gathered into XbT (if gather; a recomputation finds it there) */
static inline __attribute__((always_inline)) const T *FNN_NAME(batch_input)(const T *X, const int64_t *order, long start,
                                                                          long rows, long n_cols, T *XbT,
                                                                          int sample_major, int gather) {
    long run = 1;
    while (run < rows && order[start + run] == order[start] + run) run++;
    if (sample_major && run == rows) return X + order[start] * n_cols;
    if (gather) FNN_NAME(gather)(X, order + start, rows, n_cols, XbT, sample_major);
    return XbT;
}

/* Run `steps` steps. Full batch when order == NULL (XT/YT are the whole set, feature-major);
 * otherwise mini-batches of `batch` rows gathered from row-major X/Y through `order` into the
 * buffers XbT (feature-major, or sample-major when the first layer's products go to BLAS) and YbT
 * (feature-major), labels into lb. Per-step summed loss and correct counts go to losses/correct.
 * Returns the steps done; stops before updating at a non-finite loss.
 *
 * fuse_sgd (plain SGD without weight decay only): the weights of BLAS layers take their SGD step
 * inside the gradient's GEMM (W −= lr·Xin·Dᵀ, no pass over grad and θ), so their blocks of grad
 * are stale after a step with a finite loss; FNN_NAME(fused_gradient) recomputes them for the last
 * step when asked for. Fused or not, a step always takes the same path (no dependence on how the
 * steps are split into calls). */
FASTNN_CLONES static long FNN_NAME(train)(T *theta, T *grad, T *m1, T *m2, long size, const int64_t *layout, long L,
                            const T *XT, const T *YT, const int64_t *labels, long n_labels,
                            const T *X, const T *Y, const int64_t *order, long n_order, long batch,
                            T *XbT, T *YbT, int64_t *lb, long n_cols, long n_out,
                            const int *acts, const double *ks, const double *alphas, int kind,
                            int mean_reduction, T wd, int opt, const double *lrs, long steps,
                            double mu, double b1, double b2, double eps, double t0,
                            T *work, T *scratch, double *losses, int64_t *correct,
                            FNN_GEMM gemm, long blas_min_weights, int fuse_sgd) {
    const int64_t *lo = layout + FNN_LAYOUT_COLS * (L - 1);
    if (!gemm) blas_min_weights = LONG_MAX;
    fuse_sgd = fuse_sgd && opt == FNN_OPT_SGD && wd == 0;
    for (long s = 0; s < steps; s++) {
        const T *xt = XT, *yt = YT;
        const int64_t *lab = labels;
        long rows = batch;
        const int x_sample_major = order && layout[0] * layout[1] >= blas_min_weights;
        if (order) {
            const long start = s * batch;
            rows = n_order - start < batch ? n_order - start : batch;
            xt = FNN_NAME(batch_input)(X, order, start, rows, n_cols, XbT, x_sample_major, 1);
            for (long r = 0; r < rows; r++) {
                const long src = order[start + r];
                for (long c = 0; c < n_out; c++) YbT[c * rows + r] = Y[src * n_out + c];
                if (n_labels) lb[r] = labels[src];
            }
            yt = YbT; lab = lb;
        }
        const T scale = mean_reduction ? (T)1 / (T)rows : (T)1;
        const double loss = FNN_NAME(forward_loss)(theta, layout, L, xt, x_sample_major, yt, rows, acts, ks, alphas,
                                                   kind, scale, work, scratch, gemm, blas_min_weights);
        losses[s] = loss;
        if (n_labels) correct[s] = FNN_NAME(count_correct)(work + lo[FNN_COL_A_OFF], lo[FNN_COL_FAN_OUT], rows, lab, scratch, scratch + rows);
        const int finite = isfinite(loss), fused = fuse_sgd && finite;
        FNN_NAME(backward)(theta, grad, layout, L, xt, x_sample_major, rows, acts, ks, alphas, wd, work, gemm,
                           blas_min_weights, fused ? (T)lrs[s] : (T)0);
        if (!finite) return s;
        if (fused)
            FNN_NAME(sgd_rest)(theta, grad, layout, L, lrs[s], blas_min_weights);
        else
            FNN_NAME(update)(theta, grad, m1, m2, size, opt, lrs[s], mu, b1, b2, eps, t0 + s + 1);
    }
    return steps;
}

/* grad's weight blocks of the BLAS layers, Xin·Dᵀ, for step s of the last train call (which fused
 * their SGD step; that step's activations, deltas and gathered batch are still in work and XbT) */
FASTNN_CLONES static void FNN_NAME(fused_gradient)(T *theta, T *grad, const int64_t *layout, long L, const T *XT,
                                                   const T *X, const int64_t *order, long n_order, long batch,
                                                   T *XbT, long n_cols, long s, T *work, FNN_GEMM gemm,
                                                   long blas_min_weights) {
    const T *xt = XT;
    long rows = batch;
    const int x_sample_major = order && layout[0] * layout[1] >= blas_min_weights;
    if (order) {
        rows = n_order - s * batch < batch ? n_order - s * batch : batch;
        xt = FNN_NAME(batch_input)(X, order, s * batch, rows, n_cols, XbT, x_sample_major, 0);
    }
    for (long l = 0; l < L; l++) {
        const int64_t *ly = layout + FNN_LAYOUT_COLS * l;
        if (ly[FNN_COL_FAN_IN] * ly[FNN_COL_FAN_OUT] >= blas_min_weights)
            FNN_NAME(weight_grad_t)(gemm, l == 0 ? xt : work + layout[FNN_LAYOUT_COLS * (l - 1) + FNN_COL_A_OFF], l == 0 && x_sample_major,
                                    work + ly[FNN_COL_D_OFF], theta + ly[FNN_COL_W_OFF], grad + ly[FNN_COL_W_OFF], NULL, ly[FNN_COL_FAN_IN], ly[FNN_COL_FAN_OUT], rows, (T)0, (T)0);
    }
}
