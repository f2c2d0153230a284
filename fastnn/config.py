"""Tunables: engine crossovers, block sizes, chunk lengths — each with the measurement that set it.

Change them here (or pass ``engine=`` to ``fit`` to force an engine) rather than patching modules.
All timings: plain SGD, float32, 2 threads, on the project's 2-core Xeon (AVX-512, OpenBLAS).
"""

# --- which engine runs a training step (fastnn.engines.select) ---------------------------------
# Steps (full batch or mini-batch) with at most this many multiply-adds run in the C loop
# (BLAS for the products of all but tiny layers, see CLOOP_BLAS_MIN_WEIGHTS); larger ones in the
# kernel engine (row blocks, parallel epilogues, less memory). Measured per step, in µs:
#                                               multiply-adds   C loop   Numba loop   Cython kernels
#   2-3-2 tanh, full batch N=200 (W3)                2.4e3       1.1         16           49
#   2-16-16-2 tanh, batch 32                         1.0e4       3.6         22           53
#   2-16-16-2 tanh, full batch N=1000                3.2e5        42        545          169
#   20-20-20-20-2 relu, batch 1                      1.2e3       1.7        9.8           62
#   20-20-20-20-2 relu, batch 32                     4.0e4       5.1         25           74
#   20-20-20-20-2 relu, full batch N=10000           1.2e7      1677       3882         2427
#   100-100-10 sigmoid, batch 1                      1.1e4       3.2         39           42
#   784-300-10 sigmoid, batch 1 (W4)                 2.4e5        40        129          150
#   784-300-10 sigmoid, batch 64 (W2)                1.5e7       448        753          704
#   784-300-10 sigmoid, batch 1024                   2.4e8      5076      14093         6112
#   784-300-10 sigmoid, full batch N=4000            9.5e8     18489      25778        20355
#   784-300-10 sigmoid, full batch N=10000           2.4e9     52574      70942        52272
#   784-256-128-10 sigmoid, full batch N=20000       4.7e9    102817     145990       106785
# The C loop is fastest up to ≈ 2e9 multiply-adds per step and on a par beyond; the limit at 1e9
# leaves the big full-batch steps (W1: 1.4e10) to the kernel engine, whose row blocks need far
# less memory: the C loop holds every layer's activations and deltas for all rows of a step, so
# it also stops at CLOOP_MAX_UNITS rows × units (2·8e6 values: 64 MB in float32; thin nets on many
# rows, e.g. 2-16-16-2 on 1e6 rows, would otherwise take 0.5 GB in float64).
CLOOP_MAX_WORK = 1_000_000_000
CLOOP_MAX_UNITS = 8_000_000
# Numba backend (forced, or "auto" without the Cython one): full-batch steps with more
# multiply-adds than this run through the kernel engine (parallel epilogues); smaller ones and all
# mini-batches through the Numba loop (same table: the Numba loop loses to the kernels beyond ≈2e7).
LOOP_MAX_WORK = 20_000_000

# --- inside the C loop (kernels/small_net_impl.h) -----------------------------------------------
# The products of layers with at least this many weights (fan_in·fan_out) go to BLAS, those of
# smaller layers to hand loops (−1: never BLAS; measurements in small_net_impl.h).
CLOOP_BLAS_MIN_WEIGHTS = 32
# Plain SGD without weight decay: the C loop updates BLAS layers' weights inside their gradient's
# GEMM (W −= lr·X·Dᵀ, BLAS beta = 1) instead of a separate pass over θ and grad (W2: −60 µs/step).
CLOOP_FUSE_SGD = True
# Numba loop: products with more multiply-adds than this go to BLAS (np.dot), smaller to loops.
NUMBA_LOOP_BLAS_MIN_WORK = 32768

# --- row blocks -----------------------------------------------------------------------------------
# Kernel-engine steps over more than 2·ROW_BLOCK rows run block by block, the blocks spread over
# worker threads (W1 at 1.02–1.04× the GEMM floor with 2048, 8–13 MB peak instead of 165 MB).
ROW_BLOCK = 2048
# forward() on at least 2 blocks of this many rows runs block-parallel (measured on W5,
# 10000×784→256→128→10: 1024-row blocks 20.5 ms, 512: 21.0, 2048: 23.5, unblocked 26)
FORWARD_BLOCK = 1024

# --- sparse first layer (fastnn.sparse) ----------------------------------------------------------
# The kernel engine's first layer skips the zeros of X (forward X·W1 and weight gradient Xᵀ·D1 from
# X in sparse rows, built once per fit) when X has at most this fraction of nonzeros. Measured with
# bench/sparse_crossover.py: first-layer forward + weight gradient, sparse time / dense time,
# Cython, float32, one thread, random sparsity (fastest of 25 samples; shared 2-core machine, load ≈ 3):
#   density            0.05  0.10  0.20  0.30  0.40  0.50  0.60  0.70  0.80  1.00
#   784→256, 2048 rows 0.18  0.26  0.37  0.38  0.62  0.77  1.18  1.03  1.12  1.25
#   784→300, 2048 rows 0.16  0.24  0.37  0.38  0.57  0.66  0.85  0.82  1.13  0.83
#   784→256, 64 rows   0.21  0.26  0.37  0.53  0.62  0.78  0.88  0.86  1.13  1.13
#   784→300, 64 rows   0.19  0.26  0.33  0.44  0.45  0.65  0.76  1.01  1.16  1.35
# (dense: 12.6 ms per 2048-row block of 784→256, 0.45 ms per 64-row batch; measured again after
# kernels/sparse.h took C in blocks of rows, on the AMD EPYC: 0.41/0.34 at 20 %, 0.67/0.64 at 50 % for
# 2048 rows.) Mini-batches (blocks of fewer than SPARSE_SMALL_BLOCK rows): up to 60 % nonzeros.
# MNIST has 19 % nonzeros, Fashion-MNIST 50 %. Row blocks of ROW_BLOCK rows and whole full-batch
# steps (inference too) stop at 40 %, below the kernels' crossover: whole W1r fits on Fashion-MNIST (50 %,
# bench/peers.py, 2026-12-01, AMD EPYC) gained nothing in steady state (12-step fits 0.271-0.283 s
# per step sparse vs 0.285-0.287 dense: with two row-block workers at once the sparse kernels slow
# from 0.67× to 0.86-0.93× of dense, their CSR rows and Xᵀ being two streams from memory where dense
# reads each X block twice, the second time from L3) and paid X's sparse rows and their per-block
# transposes (≈0.1-0.2 s per fit, 376 MB): 3-step fits 1.11× the GEMM floor sparse vs 0.99× dense. Steps that
# are not row-blocked (fit(record="layers") keeps every row's activations: the C study) lose more at
# 50 % (bench/sparse_study_step.py, 20 iterations interleaved: sparse 0.82-0.86 s/it vs dense
# 0.64-0.67 on one thread, 0.38 vs 0.325 on two) and win at 19 % (mnist-5k: 0.023 vs 0.038). Fashion-
# MNIST sits at the crossover: `fastnn run C5 --dataset fashion-mnist --jobs 2 --iterations 100`,
# alternated twice, trained its runs in 61-66 s sparse vs 68-74 s dense; dense is kept at 50 % as
# the choice that is never far behind (W1r and the step A/B above favour it by 5-25 %).
SPARSE_MAX_DENSITY_BLOCK = 0.4
SPARSE_MAX_DENSITY_BATCH = 0.6
# the kernel engine's limits by name (tests and benchmarks switch the sparse path on or off)
SPARSE_KERNEL_LIMITS = ("SPARSE_MAX_DENSITY_BLOCK", "SPARSE_MAX_DENSITY_BATCH")
SPARSE_SMALL_BLOCK = 512
# The C whole loop (CLoopEngine) takes its first layer from X in sparse rows (kernels/small_net_impl.h:
# sparse_dense_t / sparse_weight_grad_t) when X has at most this fraction of nonzeros (judged like
# the kernel engine's, fastnn.sparse.rows_below; dense data keeps the dense loop unchanged).
# Measured with bench/sparse_cloop_crossover.py: SGD steps of 784-300-10 (W2's shape), sparse-loop time /
# dense-loop time, float32, random sparsity, shuffled rows, fastest of 5 × 400 steps, each run after a
# 0.3 s pause (shared 2-core AMD EPYC; ±0.1 between runs at 30 %):
#   density              0.10  0.20  0.30  0.40  0.50  0.60  0.80
#   2 threads, batch 64  0.39  0.51  0.61  0.71  0.81  0.89  1.11   (dense 0.34-0.35 ms/step)
#              batch 16  0.43  0.60  0.70  0.83  0.92  1.00  1.41   (dense 0.11-0.18 ms/step)
#   1 thread,  batch 64  0.32  0.40  0.47  0.55  0.63  0.72  0.86   (dense 0.57-0.58 ms/step)
#              batch 16  0.36  0.50  0.63  0.74  0.86  1.00  1.32   (dense 0.18-0.19 ms/step)
# MNIST (19 % nonzeros) and Fashion-MNIST (49.8 %) are taken. (The limit was 30 % from an earlier
# table whose runs followed each other without a pause, and whose sparse products ran on one thread.)
SPARSE_CLOOP_MAX_DENSITY = 0.5
# every limit of the sparse first layer (kernel engine and C loop): all 0 switches it off
SPARSE_LIMITS = SPARSE_KERNEL_LIMITS + ("SPARSE_CLOOP_MAX_DENSITY",)
# Threads of the C loop's sparse products (None: all of fastnn's threads). They split each product
# through helpers that spin while a run lasts (kernels/spin_team.h): with an OpenMP team, whose idle
# threads sleep between the two short products of a step, a two-threaded W2r-MNIST epoch took
# 0.25 s against 0.23 s one-threaded; with the spinning helpers 0.14-0.17 s (dense loop: 0.33 s).
SPARSE_CLOOP_THREADS = None
# Backends whose sparse kernels beat their dense ones (the Numba kernels lose already at 19 % nonzeros:
# 1.3× the dense time at 19 % on 2048-row blocks; NumPy's go through scipy.sparse, single-threaded).
SPARSE_BACKENDS = ("cython",)

# --- the trainer ----------------------------------------------------------------------------------
# A compiled chunk of steps returns to Python about this often (progress bar, Ctrl-C).
CHUNK_SECONDS = 0.15
# The first chunk runs at most this many steps (its time sets the chunk length after it).
FIRST_CHUNK_STEPS = 4
# A unit is dead when |activation| and |delta| stay below this on every recorded sample.
DEAD_TOL = 1e-6
# Divergence: a step loss above DIVERGENCE_FACTOR × max(first step loss, DIVERGENCE_FLOOR) counts as
# divergence even while finite (softmax CE at lr = 1e30 goes 1.1 → 8.8e29 without a NaN).
DIVERGENCE_FACTOR = 1e6
DIVERGENCE_FLOOR = 1e-3
