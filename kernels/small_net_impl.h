/* Whole-loop training of small networks in C, instantiated for one element type.
 * Include with T (float or double), FNN_GEMM (the matching BLAS gemm pointer type) and the
 * FNN_NAME(x) macro defined (see small_net.h). Activations and deltas are feature-major
 * (units × samples) so that every inner loop runs over contiguous samples and vectorises (libmvec
 * exp/tanh, see simd_math.h).
 *
 * layout: int64 rows of (fan_in, fan_out, w_off, b_off, a_off, d_off) per layer; theta/grad:
 * flat parameters (W row-major fan_in × fan_out at w_off, bias at b_off or −1); work: A_l and
 * D_l blocks (fan_out × n) at a_off/d_off, followed by 2n scratch values. Loss, optimiser and
 * activation codes: kernels/codes.h (mirrors fastnn/codes.py). One training run is described by
 * FNN_NAME(net_t) below, filled once per engine by kernels/_cykernels.pyx (SmallNet).
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

/* Parameters and optimiser of a training run */
typedef struct {
    T *theta;     /* flat parameters: W_l (fan_in × fan_out, row-major) at w_off, b_l at b_off */
    T *grad;      /* flat gradient of the last step, same layout (weight decay included) */
    T *m1, *m2;   /* optimiser moments, size values each when used (momentum: m1; Adam: m1, m2) */
    long size;    /* number of parameters */
    int opt;      /* optimiser code FNN_OPT_* */
    double mu;    /* momentum coefficient */
    double b1, b2, eps;  /* Adam β1, β2, ε */
    T wd;         /* L2 weight decay of the weights (added to their gradient) */
} FNN_NAME(params_t);

/* The training data: full batch when order == NULL, else mini-batches of rows of X/Y via order */
typedef struct {
    const T *XT, *YT;         /* full batch: inputs (n_cols × batch) and targets (n_out × batch), feature-major */
    const int64_t *labels;    /* class label per row of X (for the correct counts), or NULL */
    long n_labels;            /* number of labels (0: no correct counts) */
    const T *X, *Y;           /* mini-batches: inputs and targets, row-major (rows × n_cols, rows × n_out) */
    const int64_t *order;     /* mini-batches: rows of X of the steps, batch by batch (NULL: full batch) */
    long n_order;             /* length of order */
    long batch;               /* rows per step (the last mini-batch may be shorter) */
    long n_cols, n_out;       /* input features, outputs */
} FNN_NAME(data_t);

/* Work buffers, sized for `batch` rows */
typedef struct {
    T *XbT, *YbT;   /* a mini-batch's inputs (feature-major, or sample-major for BLAS) and targets (feature-major) */
    int64_t *lb;    /* a mini-batch's labels */
    T *work;        /* A_l and D_l blocks at the layout's a_off/d_off */
    T *scratch;     /* 2·batch scratch values (the end of the work buffer) */
} FNN_NAME(buffers_t);

/* How the steps are computed */
typedef struct {
    int mean_reduction;     /* gradients of the mean loss over a step's rows (else of the summed loss) */
    FNN_GEMM gemm;          /* Fortran BLAS gemm for the products, or NULL: hand loops only */
    long blas_min_weights;  /* layers with fan_in·fan_out ≥ this use gemm */
    int fuse_sgd;           /* plain SGD without weight decay: W −= lr·Xin·Dᵀ inside the GEMM (see train) */
} FNN_NAME(options_t);

/* The first layer from X in sparse rows (kernels/sparse.h), skipping its zeros; R == NULL: dense.
 * Row-major scratch R holds the layer's Z = X·W (then transposed into its feature-major A block)
 * and, in the backward pass, its deltas Dᵀ for the weight gradient Xᵀ·D. A full batch reads all of
 * X in sparse rows (built once); mini-batches compress their rows of the dense X (sparse_rows). */
typedef struct {
    const int64_t *ptr; const int32_t *idx; const T *val;    /* full batch: all of X (rows × n_cols) in sparse rows */
    const int64_t *tptr; const int32_t *tidx; const T *tval; /* full batch: Xᵀ in sparse rows */
    int64_t *bptr; int32_t *bidx; T *bval;  /* mini-batches: two slots of a batch's rows (batch + 1 offsets, FNN_SLOT_VALUES entries; batch_slot) */
    int64_t *cptr; int32_t *cidx; T *cval;  /* and its columns (n_cols + 1 offsets, entries) */
    int64_t *cur;  /* per thread, span offsets: spmm cursors (also a batch's column counts, sparse_columns) */
    T *pk;         /* per thread, FNN_PACK_BYTES(span) bytes: spmm packing */
    long span;     /* max(batch, n_cols) */
    int threads;   /* threads of the sparse products (at most as many as cur and pk have room for) */
    T *R;          /* FNN_R_VALUES(batch, fan_out): the first layer's batch × fan_out, row-major (forward: rows FNN_R_STRIDE(fan_out) apart from a 64-byte boundary) */
    void *team;    /* a run's spinning helpers (fnn_team_t, spin_team.h) for those products, or NULL: OpenMP */
    int columns_posted;  /* a step's batch columns (tptr..) are being built by the team's helpers */
} FNN_NAME(sparse_t);

/* Everything one training run of the C loop reads and writes (see FNN_NAME(train)) */
typedef struct {
    fnn_layers_t net;           /* the layers, activations and loss */
    FNN_NAME(params_t) params;  /* parameters, gradient and optimiser state */
    FNN_NAME(data_t) data;      /* the training set and the order of its rows */
    FNN_NAME(buffers_t) buf;    /* work buffers */
    FNN_NAME(options_t) opts;   /* reduction, BLAS and fusion choices */
    FNN_NAME(sparse_t) sparse;  /* the first layer's sparse input (sparse.ptr NULL: dense) */
} FNN_NAME(net_t);

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

/* D (c × r) := Sᵀ + b (S r × c, row-major; b: c values added to D's rows, or NULL), in 16 × 16 tiles */
static inline void FNN_NAME(transpose)(const T *restrict S, long r, long c, long lds, T *restrict D, const T *b) {
    for (long i0 = 0; i0 < r; i0 += 16) {
        const long i1 = r - i0 < 16 ? r : i0 + 16;
        for (long j0 = 0; j0 < c; j0 += 16) {
            const long j1 = c - j0 < 16 ? c : j0 + 16;
            for (long j = j0; j < j1; j++) {
                const T bj = b ? b[j] : (T)0;
                for (long i = i0; i < i1; i++) D[j * r + i] = S[i * lds + j] + bj;
            }
        }
    }
}

/* Mini-batches: the batch buffers hold two slots of rows, so that a helper can compress the next
 * batch's rows while the current one's are in use; slot k of batches of up to ``batch`` rows */
static inline void FNN_NAME(batch_slot)(const FNN_NAME(sparse_t) *sp, int k, long batch, long n_cols, int64_t **bptr,
                                        int32_t **bidx, T **bval) {
    const long cap = FNN_SLOT_VALUES(batch, n_cols);
    *bptr = sp->bptr + k * (batch + 1);
    *bidx = sp->bidx + k * cap;
    *bval = sp->bval + k * cap;
}

/* Rows src[0..rows) of the dense X (row-major, n_cols) compressed (every value that is not 0, NaN
 * included) into one slot's offsets, columns and values. (Compressing a batch costs a pass over
 * its rows, about what the dense path's gather costs; a sparse copy of all of X would cost a pass
 * over X and its memory per fit: on Fashion-MNIST, 0.1-0.6 s and 185 MB for a 0.3 s epoch.) */
typedef struct {
    const T *X; const int64_t *src; long rows, n_cols;
    int64_t *bptr; int32_t *bidx; T *bval;
} FNN_NAME(compress_job_t);

static void FNN_NAME(compress_rows)(const FNN_NAME(compress_job_t) *j) {
    int64_t q = 0;
    j->bptr[0] = 0;
    for (long r = 0; r < j->rows; r++) {
        q += FNN_COMPRESS(j->X + j->src[r] * j->n_cols, j->n_cols, j->bidx + q, j->bval + q);
        j->bptr[r + 1] = q;
    }
}

/* The step's inputs in sparse form: all of X (full batch, src == NULL: sp itself) or its rows
 * src[0..rows) in slot k (compressed here unless ``ready``); returned as a sparse_t whose
 * ptr/idx/val (rows numbered from 0) and tptr/tidx/tval (Xbᵀ: the batch's columns, built by
 * sparse_columns) describe the step. */
static inline FNN_NAME(sparse_t) FNN_NAME(sparse_rows)(const FNN_NAME(sparse_t) *sp, const T *X, const int64_t *src,
                                                       long rows, long n_cols, long batch, int k, int ready) {
    FNN_NAME(sparse_t) v = *sp;
    if (!src) return v;
    FNN_NAME(compress_job_t) c = {X, src, rows, n_cols, NULL, NULL, NULL};
    FNN_NAME(batch_slot)(sp, k, batch, n_cols, &c.bptr, &c.bidx, &c.bval);
    if (!ready) FNN_NAME(compress_rows)(&c);
    v.ptr = c.bptr; v.idx = c.bidx; v.val = c.bval;
    v.tptr = sp->cptr; v.tidx = sp->cidx; v.tval = sp->cval;
    return v;
}

/* The batch's columns (Xbᵀ in sparse rows) from its rows, for the weight gradient Xbᵀ·D, as part 0
 * of a team job that a helper takes while the caller finishes the forward pass and the other
 * layers' backward (thread t's cursors as scratch); part 1, when there is a next batch in the run,
 * compresses its rows into the other slot. (Built in turn, the columns took 9 % of a W2r-Fashion
 * epoch's samples and the compression 9 % of the calling thread's, while the helpers waited.) */
typedef struct {
    const FNN_NAME(sparse_t) *v;
    long rows, n_cols;
    FNN_NAME(compress_job_t) next;
} FNN_NAME(columns_job_t);

static void FNN_NAME(sparse_columns)(const void *job_, int p, int parts, int t) {
    const FNN_NAME(columns_job_t) *j = (const FNN_NAME(columns_job_t) *)job_;
    const FNN_NAME(sparse_t) *v = j->v;
    (void)parts;
    if (p == 0)
        FNN_CSC(v->ptr, v->idx, v->val, j->rows, j->n_cols, v->cptr, v->cidx, v->cval, v->cur + t * v->span);
    else
        FNN_NAME(compress_rows)(&j->next);
}

/* One sparse product C := scale·S·B (+ C if accumulate) of spmm_par, as a job for its threads */
typedef struct {
    const FNN_NAME(sparse_t) *sp;
    const int64_t *ptr; const int32_t *idx; const T *val;
    long n_outer, n_inner, m;
    const T *B; T *C; long ldc; T scale; int accumulate;
    int by_units;  /* parts split the units, not the rows (spmm_parts) */
} FNN_NAME(spmm_job_t);

/* Parts of a spmm_par job, one per thread: shares of S's rows with equal shares of its stored
 * entries, or — when those shares would be too few rows to pack B's chunks (a mini-batch's forward,
 * FASTNN_SPMM_PACK_MIN_ROWS) — shares of the units (columns of B and C, whole SIMD vectors). (Two
 * parts per thread, one 64-float chunk of units each, timed alike within the noise on W2r-MNIST:
 * 0.147-0.169 s per epoch against 0.137-0.158, interleaved builds.) */
static inline int FNN_NAME(spmm_parts)(const FNN_NAME(spmm_job_t) *j, int nt, int *by_units) {
    enum { VL = 64 / sizeof(T) };
    const long vecs = (j->m + VL - 1) / VL;
    *by_units = j->n_outer < (long)nt * FASTNN_SPMM_PACK_MIN_ROWS;
    return *by_units ? (vecs < nt ? (int)vecs : nt) : (nt < j->n_outer ? nt : (int)j->n_outer);
}

/* Part p of a spmm_par job (of ``parts``, see spmm_parts), run by thread t (its cursors and packing
 * space) */
static void FNN_NAME(spmm_part)(const void *job_, int p, int parts, int t) {
    const FNN_NAME(spmm_job_t) *j = (const FNN_NAME(spmm_job_t) *)job_;
    const FNN_NAME(sparse_t) *sp = j->sp;
    enum { VL = 64 / sizeof(T) };
    const long pk_len = FNN_PACK_BYTES(sp->span) / (long)sizeof(T), m = j->m;
    int64_t *cur = sp->cur + t * sp->span;
    T *pk = sp->pk + t * pk_len;
    if (j->by_units) {  /* units j0..j1−1, whole vectors; the last part to m */
        const long vecs = (m + VL - 1) / VL;
        const long j0 = vecs * p / parts * VL, j1 = p + 1 == parts ? m : vecs * (p + 1) / parts * VL;
        if (j1 > j0)
            FNN_SPMM(j->ptr, j->idx, j->val, j->n_outer, j->n_inner, j->B + j0, m, j1 - j0, j->C + j0, j->ldc, j->scale,
                     j->accumulate, cur, pk);
    } else {
        const long lo = fnn_sparse_split(j->ptr, j->n_outer, p, parts);
        const long hi = p + 1 == parts ? j->n_outer : fnn_sparse_split(j->ptr, j->n_outer, p + 1, parts);  /* with empty last rows */
        if (hi > lo)
            FNN_SPMM(j->ptr + lo, j->idx, j->val, hi - lo, j->n_inner, j->B, m, m, j->C + lo * j->ldc, j->ldc, j->scale,
                     j->accumulate, cur, pk);
    }
}

/* C := scale·S·B (+ C if accumulate) as FNN_SPMM (sparse.h) for S's n_outer rows in compressed rows
 * (ptr, idx, val), B n_inner × m, C's rows ldc apart, over sp->threads threads when the product is
 * large enough, in parts (spmm_parts): claimed by the run's spinning helpers (sp->team), or else one
 * per thread of an OpenMP team */
static inline void FNN_NAME(spmm_par)(const FNN_NAME(sparse_t) *sp, const int64_t *ptr, const int32_t *idx, const T *val,
                                      long n_outer, long n_inner, const T *B, long m, T *C, long ldc, T scale,
                                      int accumulate) {
    FNN_NAME(spmm_job_t) job = {sp, ptr, idx, val, n_outer, n_inner, m, B, C, ldc, scale, accumulate, 0};
    const int nt = sp->threads > 1 && (ptr[n_outer] - ptr[0]) * m >= FNN_SPARSE_PAR_MIN && n_outer > 1 ? sp->threads : 1;
    const int parts = nt > 1 ? FNN_NAME(spmm_parts)(&job, nt, &job.by_units) : 1;
    if (parts == 1) {
        FNN_NAME(spmm_part)(&job, 0, 1, 0);
    } else if (sp->team) {
        fnn_team_run((fnn_team_t *)sp->team, FNN_NAME(spmm_part), &job, parts);
    } else {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static, 1)
        for (int p = 0; p < parts; p++) FNN_NAME(spmm_part)(&job, p, parts, omp_get_thread_num());
#else
        for (int p = 0; p < parts; p++) FNN_NAME(spmm_part)(&job, p, parts, 0);
#endif
    }
}

/* Z := f(Wᵀ·Xᵀ + b), feature-major Z (fo × n), from the step's rows X in sparse form (see
 * sparse_rows): R := X·W skipping X's zeros (n × fo, row-major), then Z := Rᵀ + b. R's rows start
 * on cache lines (FNN_R_VALUES: n rows FNN_R_STRIDE(fo) values apart after the first 64-byte boundary): threads
 * that split the units (spmm_part) then never write the same cache line of a row. (With rows fo
 * values apart, 300 floats, the line at their boundary went back and forth in most rows; a W2r-
 * Fashion epoch took 0.47-0.55 s in some processes against 0.30-0.36 in others.) */
static inline void FNN_NAME(sparse_dense_t)(const FNN_NAME(sparse_t) *sp, const T *W, const T *b, T *Z, long fi, long fo,
                                            long n, int act, T k, T alpha) {
    T *R = (T *)(((uintptr_t)sp->R + 63) & ~(uintptr_t)63);
    const long ldr = FNN_R_STRIDE(fo);
    FNN_NAME(spmm_par)(sp, sp->ptr, sp->idx, sp->val, n, fi, W, fo, R, ldr, (T)1, 0);
    FNN_NAME(transpose)(R, n, fo, ldr, Z, b);
    FNN_NAME(activate_rows)(Z, NULL, 1, fo * n, act, k, alpha);
}

/* dW (fi × fo) := Xᵀ·Dᵀ + wd·W over the stored x_ij of the step's rows X (n × fi; R := Dᵀ, then
 * Xᵀ in sparse rows times R); with sgd_lr ≠ 0 (plain SGD, wd = 0) W −= sgd_lr·Xᵀ·Dᵀ in the same
 * product instead of dW. db := Σ_samples D (if db). D feature-major fo × n. */
static inline void FNN_NAME(sparse_weight_grad_t)(const FNN_NAME(sparse_t) *sp, const T *D, T *W, T *dW, T *db,
                                                  long fi, long fo, long n, T wd, T sgd_lr) {
    FNN_NAME(transpose)(D, fo, n, n, sp->R, NULL);
    if (sp->columns_posted) fnn_team_wait((fnn_team_t *)sp->team);  /* the batch's columns */
    if (sgd_lr != 0) {
        FNN_NAME(spmm_par)(sp, sp->tptr, sp->tidx, sp->tval, fi, n, sp->R, fo, W, fo, -sgd_lr, 1);
    } else {
        FNN_NAME(spmm_par)(sp, sp->tptr, sp->tidx, sp->tval, fi, n, sp->R, fo, dW, fo, (T)1, 0);
        if (wd != 0)
            for (long q = 0; q < fi * fo; q++) dW[q] += wd * W[q];
    }
    if (db)
        for (long j = 0; j < fo; j++) db[j] = FNN_NAME(sum)(D + j * n, n);
}

/* Forward pass and output loss/delta over n samples; returns the summed loss. XT is the input
 * block, feature-major (fi × n) or sample-major (n × fi) when x_sample_major; or, when sp is not
 * NULL, the step's rows in sparse form (see sparse_rows) and XT unused. */
static inline __attribute__((always_inline)) double FNN_NAME(forward_loss)(const T *theta, const fnn_layers_t *net,
                                      const T *XT, int x_sample_major, const FNN_NAME(sparse_t) *sp, const T *YT,
                                      long n, T scale, T *work, T *scratch, FNN_GEMM gemm, long blas_min_weights) {
    const int64_t *layout = net->layout;
    const long L = net->L;
    const int *acts = net->acts, kind = net->loss;
    const double *ks = net->ks, *alphas = net->alphas;
    for (long l = 0; l < L; l++) {
        const int64_t *ly = layout + FNN_LAYOUT_COLS * l;
        const T *Xin = l == 0 ? XT : work + layout[FNN_LAYOUT_COLS * (l - 1) + FNN_COL_A_OFF];
        int act = (FNN_OUTPUT_IS_LINEAR(kind) && l == L - 1) ? FNN_ACT_LINEAR : acts[l];
        FNN_GEMM g = ly[FNN_COL_FAN_IN] * ly[FNN_COL_FAN_OUT] >= blas_min_weights ? gemm : NULL;
        if (l == 0 && sp) {
            FNN_NAME(sparse_dense_t)(sp, theta + ly[FNN_COL_W_OFF], ly[FNN_COL_B_OFF] >= 0 ? theta + ly[FNN_COL_B_OFF] : NULL,
                                     work + ly[FNN_COL_A_OFF], ly[FNN_COL_FAN_IN], ly[FNN_COL_FAN_OUT], n, act, (T)ks[l], (T)alphas[l]);
            continue;
        }
        FNN_NAME(dense_t)(g, theta + ly[FNN_COL_W_OFF], ly[FNN_COL_B_OFF] >= 0 ? theta + ly[FNN_COL_B_OFF] : NULL, Xin, l == 0 && x_sample_major,
                          work + ly[FNN_COL_A_OFF], ly[FNN_COL_FAN_IN], ly[FNN_COL_FAN_OUT], n, act, (T)ks[l], (T)alphas[l]);
    }
    const int64_t *lo = layout + FNN_LAYOUT_COLS * (L - 1);
    return FNN_NAME(loss_t)(work + lo[FNN_COL_A_OFF], YT, work + lo[FNN_COL_D_OFF], lo[FNN_COL_FAN_OUT], n, kind, acts[L - 1], (T)ks[L - 1],
                            (T)alphas[L - 1], scale, scratch, scratch + n);
}

/* Backward pass from the output delta: each layer's deltas below (with its old W), then its gradient
 * into grad — or, with sgd_lr ≠ 0, the SGD step of the weights of BLAS layers and of a sparse first
 * layer (see weight_grad_t; their block of grad is left as it was). sp: as in forward_loss. */
static inline __attribute__((always_inline)) void FNN_NAME(backward)(T *theta, T *grad, const fnn_layers_t *net,
                                      const T *XT, int x_sample_major, const FNN_NAME(sparse_t) *sp, long n, T wd,
                                      T *work, FNN_GEMM gemm, long blas_min_weights, T sgd_lr) {
    const int64_t *layout = net->layout;
    const int *acts = net->acts;
    const double *ks = net->ks, *alphas = net->alphas;
    for (long l = net->L - 1; l >= 0; l--) {
        const int64_t *ly = layout + FNN_LAYOUT_COLS * l;
        const long fi = ly[FNN_COL_FAN_IN], fo = ly[FNN_COL_FAN_OUT];
        const T *Xin = l == 0 ? XT : work + layout[FNN_LAYOUT_COLS * (l - 1) + FNN_COL_A_OFF];
        FNN_GEMM g = fi * fo >= blas_min_weights ? gemm : NULL;
        if (l > 0) {
            const int64_t *lp = layout + FNN_LAYOUT_COLS * (l - 1);
            FNN_NAME(delta_t)(g, theta + ly[FNN_COL_W_OFF], work + ly[FNN_COL_D_OFF], work + lp[FNN_COL_A_OFF], work + lp[FNN_COL_D_OFF], fi, fo, n,
                              acts[l - 1], (T)ks[l - 1], (T)alphas[l - 1]);
        }
        if (l == 0 && sp)
            FNN_NAME(sparse_weight_grad_t)(sp, work + ly[FNN_COL_D_OFF], theta + ly[FNN_COL_W_OFF], grad + ly[FNN_COL_W_OFF],
                                           ly[FNN_COL_B_OFF] >= 0 ? grad + ly[FNN_COL_B_OFF] : NULL, fi, fo, n, wd, sgd_lr);
        else
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
 * layers (those of BLAS layers, and of a sparse first layer, were updated in their gradient's product) */
static inline __attribute__((always_inline)) void FNN_NAME(sgd_rest)(T *theta, const T *grad, const int64_t *layout,
                                                                   long L, double lr, long blas_min_weights, int sparse) {
    for (long l = 0; l < L; l++) {
        const int64_t *ly = layout + FNN_LAYOUT_COLS * l;
        if (ly[FNN_COL_FAN_IN] * ly[FNN_COL_FAN_OUT] < blas_min_weights && !(l == 0 && sparse)) FNN_NAME(sgd)(theta + ly[FNN_COL_W_OFF], grad + ly[FNN_COL_W_OFF], ly[FNN_COL_FAN_IN] * ly[FNN_COL_FAN_OUT], (T)lr, (T)0);
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

/* Run `steps` steps of the training run `run`, step s with learning rate lrs[s] (t0: the optimiser's
 * step count before the first). Full batch when run->data.order == NULL (XT/YT are the whole set,
 * feature-major); otherwise mini-batches of `batch` rows gathered from row-major X/Y through `order`
 * into the buffers XbT (feature-major, or sample-major when the first layer's products go to BLAS)
 * and YbT (feature-major), labels into lb. Per-step summed loss and correct counts go to
 * losses/correct. Returns the steps done; stops before updating at a non-finite loss.
 *
 * fuse_sgd (plain SGD without weight decay only): the weights of BLAS layers take their SGD step
 * inside the gradient's GEMM (W −= lr·Xin·Dᵀ, no pass over grad and θ), so their blocks of grad
 * are stale after a step with a finite loss; FNN_NAME(fused_gradient) recomputes them for the last
 * step when asked for. Fused or not, a step always takes the same path (no dependence on how the
 * steps are split into calls). */
FASTNN_CLONES static long FNN_NAME(train)(const FNN_NAME(net_t) *run, const double *lrs, long steps, double t0,
                                          double *losses, int64_t *correct) {
    /* the run's fields as locals: the loop reads them as plain values, never through run */
    const fnn_layers_t *net = &run->net;
    const int64_t *layout = net->layout;
    const long L = net->L;
    T *theta = run->params.theta, *grad = run->params.grad, *m1 = run->params.m1, *m2 = run->params.m2;
    const long size = run->params.size;
    const int opt = run->params.opt;
    const double mu = run->params.mu, b1 = run->params.b1, b2 = run->params.b2, eps = run->params.eps;
    const T wd = run->params.wd;
    const T *XT = run->data.XT, *YT = run->data.YT, *X = run->data.X, *Y = run->data.Y;
    const int64_t *labels = run->data.labels, *order = run->data.order;
    const long n_labels = run->data.n_labels, n_order = run->data.n_order, batch = run->data.batch;
    const long n_cols = run->data.n_cols, n_out = run->data.n_out;
    T *XbT = run->buf.XbT, *YbT = run->buf.YbT, *work = run->buf.work, *scratch = run->buf.scratch;
    int64_t *lb = run->buf.lb;
    const int mean_reduction = run->opts.mean_reduction;
    FNN_GEMM gemm = run->opts.gemm;
    long blas_min_weights = run->opts.blas_min_weights;
    int fuse_sgd = run->opts.fuse_sgd;
    const int64_t *lo = layout + FNN_LAYOUT_COLS * (L - 1);
    const int sparse = run->sparse.R != NULL;
    FNN_NAME(sparse_t) spv;  /* a step's sparse rows (sparse_rows) */
    fnn_team_t team;  /* spinning helpers of the sparse products, from the first step they split to the run's end */
    int team_state = sparse && run->sparse.threads > 1 ? 0 : -1;  /* −1: none, 0: not started yet, 1: running */
    int next_ready = 0;  /* the next batch's rows are compressed already (in the other slot) */
    long done = steps;
    if (!gemm) blas_min_weights = LONG_MAX;
    fuse_sgd = fuse_sgd && opt == FNN_OPT_SGD && wd == 0;
    for (long s = 0; s < steps; s++) {
        const T *xt = XT, *yt = YT;
        const int64_t *lab = labels;
        long rows = batch;
        const int x_sample_major = order && layout[FNN_COL_FAN_IN] * layout[FNN_COL_FAN_OUT] >= blas_min_weights;
        if (order) {
            const long start = s * batch;
            rows = n_order - start < batch ? n_order - start : batch;
            if (!sparse) xt = FNN_NAME(batch_input)(X, order, start, rows, n_cols, XbT, x_sample_major, 1);
            for (long r = 0; r < rows; r++) {
                const long src = order[start + r];
                for (long c = 0; c < n_out; c++) YbT[c * rows + r] = Y[src * n_out + c];
                if (n_labels) lb[r] = labels[src];
            }
            yt = YbT; lab = lb;
        }
        FNN_NAME(columns_job_t) columns = {&spv, rows, n_cols, {X, NULL, 0, n_cols, NULL, NULL, NULL}};
        const int slot = (int)(s & 1);
        if (sparse) {
            spv = FNN_NAME(sparse_rows)(&run->sparse, X, order ? order + s * batch : NULL, rows, n_cols, batch, slot,
                                        next_ready);
            next_ready = 0;
            if (team_state == 0 && (spv.ptr[rows] - spv.ptr[0]) * layout[FNN_COL_FAN_OUT] >= FNN_SPARSE_PAR_MIN)
                team_state = fnn_team_start(&team, run->sparse.threads) > 1 ? 1 : -1;  /* (no helper: none to stop) */
            spv.team = team_state == 1 ? (void *)&team : NULL;
            if (order && !spv.team) FNN_NAME(sparse_columns)(&columns, 0, 1, 0);
        }
        const T scale = mean_reduction ? (T)1 / (T)rows : (T)1;
        const double loss = FNN_NAME(forward_loss)(theta, net, xt, x_sample_major, sparse ? &spv : NULL, yt, rows, scale,
                                                   work, scratch, gemm, blas_min_weights);
        if (sparse && order && spv.team) {  /* helpers meanwhile: the batch's columns, the next batch's rows */
            const long start = (s + 1) * batch;
            next_ready = s + 1 < steps && start < n_order;
            if (next_ready) {
                columns.next.src = order + start;
                columns.next.rows = n_order - start < batch ? n_order - start : batch;
                FNN_NAME(batch_slot)(&run->sparse, 1 - slot, batch, n_cols, &columns.next.bptr, &columns.next.bidx,
                                     &columns.next.bval);
            }
            fnn_team_post(&team, FNN_NAME(sparse_columns), &columns, next_ready ? 2 : 1);
            spv.columns_posted = 1;
        }
        losses[s] = loss;
        if (n_labels) correct[s] = FNN_NAME(count_correct)(work + lo[FNN_COL_A_OFF], lo[FNN_COL_FAN_OUT], rows, lab, scratch, scratch + rows);
        const int finite = isfinite(loss), fused = fuse_sgd && finite;
        FNN_NAME(backward)(theta, grad, net, xt, x_sample_major, sparse ? &spv : NULL, rows, wd, work, gemm,
                           blas_min_weights, fused ? (T)lrs[s] : (T)0);
        /* (the weight gradient has waited for it: this only keeps a posted job from outliving `columns`) */
        if (sparse && spv.columns_posted) fnn_team_wait(&team);
        if (!finite) {
            done = s;
            break;
        }
        if (fused)
            FNN_NAME(sgd_rest)(theta, grad, layout, L, lrs[s], blas_min_weights, sparse);
        else
            FNN_NAME(update)(theta, grad, m1, m2, size, opt, lrs[s], mu, b1, b2, eps, t0 + s + 1);
    }
    if (team_state == 1) fnn_team_stop(&team);
    return done;
}

/* grad's weight blocks of the BLAS layers (and of a sparse first layer), Xin·Dᵀ, for step s of the
 * last train call (which fused their SGD step; that step's activations, deltas and gathered batch
 * are still in work and XbT; a sparse batch is gathered again) */
FASTNN_CLONES static void FNN_NAME(fused_gradient)(const FNN_NAME(net_t) *run, long s) {
    const int64_t *layout = run->net.layout;
    const long L = run->net.L;
    T *theta = run->params.theta, *grad = run->params.grad;
    const T *XT = run->data.XT, *X = run->data.X;
    const int64_t *order = run->data.order;
    const long n_order = run->data.n_order, batch = run->data.batch, n_cols = run->data.n_cols;
    T *XbT = run->buf.XbT, *work = run->buf.work;
    FNN_GEMM gemm = run->opts.gemm;
    const long blas_min_weights = run->opts.blas_min_weights;
    const int sparse = run->sparse.R != NULL;
    if (!gemm && !sparse) return;  /* no BLAS layers: nothing was fused */
    const T *xt = XT;
    long rows = batch;
    const int x_sample_major = order && layout[FNN_COL_FAN_IN] * layout[FNN_COL_FAN_OUT] >= blas_min_weights;
    if (order) {
        rows = n_order - s * batch < batch ? n_order - s * batch : batch;
        if (!sparse) xt = FNN_NAME(batch_input)(X, order, s * batch, rows, n_cols, XbT, x_sample_major, 0);
    }
    if (sparse) {
        const FNN_NAME(sparse_t) spv = FNN_NAME(sparse_rows)(&run->sparse, X, order ? order + s * batch : NULL, rows, n_cols,
                                                             batch, 0, 0);
        const FNN_NAME(columns_job_t) columns = {&spv, rows, n_cols, {X, NULL, 0, n_cols, NULL, NULL, NULL}};
        if (order) FNN_NAME(sparse_columns)(&columns, 0, 1, 0);
        FNN_NAME(sparse_weight_grad_t)(&spv, work + layout[FNN_COL_D_OFF], theta + layout[FNN_COL_W_OFF], grad + layout[FNN_COL_W_OFF],
                                       NULL, layout[FNN_COL_FAN_IN], layout[FNN_COL_FAN_OUT], rows, (T)0, (T)0);
    }
    if (!gemm) return;
    for (long l = sparse ? 1 : 0; l < L; l++) {
        const int64_t *ly = layout + FNN_LAYOUT_COLS * l;
        if (ly[FNN_COL_FAN_IN] * ly[FNN_COL_FAN_OUT] >= blas_min_weights)
            FNN_NAME(weight_grad_t)(gemm, l == 0 ? xt : work + layout[FNN_LAYOUT_COLS * (l - 1) + FNN_COL_A_OFF], l == 0 && x_sample_major,
                                    work + ly[FNN_COL_D_OFF], theta + ly[FNN_COL_W_OFF], grad + ly[FNN_COL_W_OFF], NULL, ly[FNN_COL_FAN_IN], ly[FNN_COL_FAN_OUT], rows, (T)0, (T)0);
    }
}
