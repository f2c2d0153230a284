/* Whole-loop training of small networks in C, instantiated for one element type.
 * Include with T (float or double), SFX (f or d) and the FNN_NAME(x) macro defined (see
 * small_net.h). Activations and deltas are feature-major (units × samples) so that every inner
 * loop runs over contiguous samples and vectorises (libmvec exp/tanh, see simd_math.h).
 *
 * layout: int64 rows of (fan_in, fan_out, w_off, b_off, a_off, d_off) per layer; theta/grad:
 * flat parameters (W row-major fan_in × fan_out at w_off, bias at b_off or −1); work: A_l and
 * D_l blocks (fan_out × n) at a_off/d_off, followed by 2n scratch values. Loss kinds and
 * optimisers as in fastnn/engines.py.
 */

/* Z := f(Wᵀ·Xin + b), feature-major */
static inline __attribute__((always_inline)) void FNN_NAME(dense_t)(const T *W, const T *b, const T *Xin, T *Z, long fi, long fo, long n,
                              int act, T k, T alpha) {
    for (long j = 0; j < fo; j++) {
        T *z = Z + j * n;
        T bj = b ? b[j] : (T)0;
        for (long i = 0; i < n; i++) z[i] = bj;
        for (long p = 0; p < fi; p++) {
            const T w = W[p * fo + j];
            const T *x = Xin + p * n;
            for (long i = 0; i < n; i++) z[i] += w * x[i];
        }
    }
    FNN_NAME(activate_rows)(Z, NULL, 1, fo * n, act, k, alpha);
}

/* Output loss and delta D (feature-major) against targets YT (outputs × samples); returns Σ loss */
static inline __attribute__((always_inline)) double FNN_NAME(loss_t)(T *A, const T *YT, T *D, long m, long n, int kind, int act, T k, T alpha,
                               T scale, T *mx, T *s) {
    double loss = 0.0;
    if (kind == FNN_SOFTMAX_CE) {
        for (long i = 0; i < n; i++) mx[i] = A[i];
        for (long j = 1; j < m; j++) {
            const T *a = A + j * n;
            for (long i = 0; i < n; i++) mx[i] = a[i] > mx[i] ? a[i] : mx[i];
        }
        for (long i = 0; i < n; i++) s[i] = 0;
        for (long j = 0; j < m; j++) {
            const T *a = A + j * n;
            T *d = D + j * n;
            for (long i = 0; i < n; i++) { d[i] = FNN_EXP(a[i] - mx[i]); s[i] += d[i]; }
        }
        for (long j = 0; j < m; j++) {  /* loss Σ y·(log s − (z − max)); P = e / s */
            T *a = A + j * n, *d = D + j * n;
            const T *y = YT + j * n;
            double part = 0.0;
            #pragma omp simd reduction(+:part)
            for (long i = 0; i < n; i++) {
                part += y[i] * (FNN_LOG(s[i]) - (a[i] - mx[i]));
                const T p = d[i] / s[i];
                a[i] = p;
                d[i] = scale * (p - y[i]);
            }
            loss += part;
        }
    } else if (kind == FNN_SIGMOID_BCE) {
        for (long j = 0; j < m * n; j++) {
            const T kz = k * A[j];
            loss += (kz > 0 ? kz : (T)0) + FNN_LOG1P(FNN_EXP(-FNN_ABS(kz))) - YT[j] * kz;
            const T p = (T)1 / ((T)1 + FNN_EXP(-kz));
            A[j] = p;
            D[j] = scale * k * (p - YT[j]);
        }
    } else {  /* MSE on f(z): D = scale·2(A − Y)·f'(A) */
        double part = 0.0;
        #pragma omp simd reduction(+:part)
        for (long j = 0; j < m * n; j++) {
            const T diff = A[j] - YT[j];
            part += diff * diff;
            D[j] = scale * 2 * diff;
        }
        loss = part;
        FNN_NAME(derivative_rows)(D, D, A, 1, m * n, act, k, alpha);
    }
    return loss;
}

/* One forward + backward pass over n samples: fills grad, returns the summed loss */
static inline __attribute__((always_inline)) double FNN_NAME(loss_and_grad)(const T *theta, T *grad, const int64_t *layout, long L, const T *XT,
                                      const T *YT, long n, const int *acts, const double *ks,
                                      const double *alphas, int kind, T scale, T wd, T *work, T *scratch) {
    for (long l = 0; l < L; l++) {
        const int64_t *ly = layout + 6 * l;
        const T *Xin = l == 0 ? XT : work + layout[6 * (l - 1) + 4];
        int act = (kind != FNN_MSE && l == L - 1) ? 0 : acts[l];
        FNN_NAME(dense_t)(theta + ly[2], ly[3] >= 0 ? theta + ly[3] : NULL, Xin, work + ly[4], ly[0], ly[1], n,
                          act, (T)ks[l], (T)alphas[l]);
    }
    const int64_t *lo = layout + 6 * (L - 1);
    double loss = FNN_NAME(loss_t)(work + lo[4], YT, work + lo[5], lo[1], n, kind, acts[L - 1], (T)ks[L - 1],
                                   (T)alphas[L - 1], scale, scratch, scratch + n);
    for (long l = L - 1; l >= 0; l--) {
        const int64_t *ly = layout + 6 * l;
        const long fi = ly[0], fo = ly[1];
        const T *Xin = l == 0 ? XT : work + layout[6 * (l - 1) + 4];
        const T *D = work + ly[5];
        const T *W = theta + ly[2];
        T *dW = grad + ly[2];
        for (long p = 0; p < fi; p++) {
            const T *x = Xin + p * n;
            for (long j = 0; j < fo; j++) {
                const T *d = D + j * n;
                double acc = 0.0;
                #pragma omp simd reduction(+:acc)
                for (long i = 0; i < n; i++) acc += x[i] * d[i];
                dW[p * fo + j] = (T)acc + wd * W[p * fo + j];
            }
        }
        if (ly[3] >= 0) {
            for (long j = 0; j < fo; j++) {
                const T *d = D + j * n;
                double acc = 0.0;
                #pragma omp simd reduction(+:acc)
                for (long i = 0; i < n; i++) acc += d[i];
                grad[ly[3] + j] = (T)acc;
            }
        }
        if (l > 0) {
            const int64_t *lp = layout + 6 * (l - 1);
            T *Dp = work + lp[5];
            const T *Ap = work + lp[4];
            for (long p = 0; p < fi; p++) {
                T *dp = Dp + p * n;
                for (long i = 0; i < n; i++) dp[i] = 0;
                for (long j = 0; j < fo; j++) {
                    const T w = W[p * fo + j];
                    const T *d = D + j * n;
                    for (long i = 0; i < n; i++) dp[i] += w * d[i];
                }
            }
            FNN_NAME(derivative_rows)(Dp, Dp, Ap, 1, fi * n, acts[l - 1], (T)ks[l - 1], (T)alphas[l - 1]);
        }
    }
    return loss;
}

/* θ += Δ for the flat parameter vector */
static inline __attribute__((always_inline)) void FNN_NAME(update)(T *theta, const T *grad, T *m1, T *m2, long size, int opt, double lr, double mu,
                             double b1, double b2, double eps, double t) {
    if (opt == FNN_SGD) {
        const T lr_ = (T)lr;
        for (long i = 0; i < size; i++) theta[i] -= lr_ * grad[i];
    } else if (opt == FNN_MOMENTUM) {
        for (long i = 0; i < size; i++) {
            const T v = (T)mu * m1[i] - (T)lr * grad[i];
            m1[i] = v;
            theta[i] += v;
        }
    } else {
        const double c1 = 1.0 - pow(b1, t), c2 = 1.0 - pow(b2, t);
        for (long i = 0; i < size; i++) {
            const double g = grad[i];
            const double m = b1 * m1[i] + (1.0 - b1) * g;
            const double v = b2 * m2[i] + (1.0 - b2) * g * g;
            m1[i] = (T)m;
            m2[i] = (T)v;
            theta[i] = (T)(theta[i] - lr * (m / c1) / (sqrt(v / c2) + eps));
        }
    }
}

/* Correct predictions of the output block (feature-major; one unit: a > 0.5) */
static inline __attribute__((always_inline)) long FNN_NAME(count_correct)(const T *A, long m, long n, const int64_t *labels) {
    long correct = 0;
    for (long i = 0; i < n; i++) {
        long best = 0;
        if (m == 1) {
            best = A[i] > (T)0.5;
        } else {
            for (long j = 1; j < m; j++)
                if (A[j * n + i] > A[best * n + i]) best = j;
        }
        correct += best == labels[i];
    }
    return correct;
}

/* Run `steps` steps. Full batch when order == NULL (XT/YT are the whole set, feature-major);
 * otherwise mini-batches of `batch` rows gathered from row-major X/Y through `order` into the
 * feature-major buffers XbT/YbT (and labels into lb). Per-step summed loss and correct counts go
 * to losses/correct. Returns the steps done; stops before updating at a non-finite loss. */
FASTNN_CLONES static long FNN_NAME(train)(T *theta, T *grad, T *m1, T *m2, long size, const int64_t *layout, long L,
                            const T *XT, const T *YT, const int64_t *labels, long n_labels,
                            const T *X, const T *Y, const int64_t *order, long n_order, long batch,
                            T *XbT, T *YbT, int64_t *lb, long n_cols, long n_out,
                            const int *acts, const double *ks, const double *alphas, int kind,
                            int mean_reduction, T wd, int opt, const double *lrs, long steps,
                            double mu, double b1, double b2, double eps, double t0,
                            T *work, T *scratch, double *losses, int64_t *correct) {
    const int64_t *lo = layout + 6 * (L - 1);
    for (long s = 0; s < steps; s++) {
        const T *xt = XT, *yt = YT;
        const int64_t *lab = labels;
        long rows = batch;
        if (order) {
            const long start = s * batch;
            rows = n_order - start < batch ? n_order - start : batch;
            for (long r = 0; r < rows; r++) {
                const long src = order[start + r];
                for (long c = 0; c < n_cols; c++) XbT[c * rows + r] = X[src * n_cols + c];
                for (long c = 0; c < n_out; c++) YbT[c * rows + r] = Y[src * n_out + c];
                if (n_labels) lb[r] = labels[src];
            }
            xt = XbT; yt = YbT; lab = lb;
        }
        const T scale = mean_reduction ? (T)1 / (T)rows : (T)1;
        double loss = FNN_NAME(loss_and_grad)(theta, grad, layout, L, xt, yt, rows, acts, ks, alphas, kind,
                                              scale, wd, work, scratch);
        losses[s] = loss;
        if (n_labels) correct[s] = FNN_NAME(count_correct)(work + lo[4], lo[1], rows, lab);
        if (!isfinite(loss)) return s;
        FNN_NAME(update)(theta, grad, m1, m2, size, opt, lrs[s], mu, b1, b2, eps, t0 + s + 1);
    }
    return steps;
}
