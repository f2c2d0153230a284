"""Where the sparse first layer beats the dense one: forward (X·W, sigmoid) + weight gradient (XᵀD)
of a first layer, sparse kernels over dense ones, by density of X (Cython backend, float32).

    flock /tmp/fastnn-bench.lock python bench/sparse_crossover.py            # ≈ 1-2 min
    python bench/sparse_crossover.py --densities 0.2 0.5 --repeats 3         # quick look
    python bench/sparse_crossover.py --blocks 60000:0 --repeats 5            # unblocked full batch

Blocks of 2048 rows are what a row-blocked full-batch step hands each worker thread (Xᵀ of the
block built once per fit); blocks of 64 rows are mini-batches (Xᵀ built in the call). One thread
(as the row-blocked workers run; on a shared machine threaded BLAS timings of small products are
swamped by oversubscription). Dense and sparse calls alternate in short samples and each figure is
the fastest sample (the machine is shared). Prints sparse time / dense time; < 1: sparse wins.
``--blocks 60000:0`` times a whole 60,000-row full batch on all threads (threads 0 = all): the
step ``fit`` takes unblocked when it records every row's activations (``record="layers"``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DENSITIES = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0]
LAYERS = [(784, 256), (784, 300)]
BLOCKS = [(2048, 1), (64, 1)]  # (rows, threads)


def _best(fn, calls, repeats, out):
    fn()
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        out.append((time.perf_counter() - t) / calls)


def measure(rows, d, m, density, threads, repeats, seed=0):
    """(dense seconds, sparse seconds) per forward + weight gradient of one block."""
    import fastnn
    from fastnn.backends import get_backend
    from fastnn.sparse import to_csr

    fastnn.set_num_threads(threads)
    be = get_backend("cython")
    rng = np.random.default_rng(seed)
    X = rng.random((rows, d), dtype=np.float32)
    X[rng.random((rows, d)) >= density] = 0
    W = rng.standard_normal((d, m)).astype(np.float32)
    D = rng.standard_normal((rows, m)).astype(np.float32)
    A, dW = np.empty((rows, m), np.float32), np.empty((d, m), np.float32)
    csr = to_csr(X)
    xt = csr.transpose().parts if rows > 64 else None

    def dense():
        be.dense_forward(X, W, None, A, 1, 1.0, 0.0)
        be.weight_grad(X, D, dW, None, 1.0)

    def sparse():
        be.sparse_dense_forward(*csr.parts, W, None, A, 1, 1.0, 0.0)
        be.sparse_weight_grad(*csr.parts, D, dW, None, 1.0, xt=xt)

    calls = max(1, int(2e7 // (rows * d * m)))  # ≈ 2-5 ms per timed sample
    td, ts = [], []
    for _ in range(repeats):
        _best(dense, calls, 1, td)
        _best(sparse, calls, 1, ts)
    return min(td), min(ts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--densities", type=float, nargs="+", default=DENSITIES)
    ap.add_argument("--repeats", type=int, default=25)
    ap.add_argument("--blocks", nargs="+", default=[f"{r}:{t}" for r, t in BLOCKS], metavar="ROWS:THREADS",
                    help="blocks to time (threads 0: all of fastnn's threads); default: %(default)s")
    args = ap.parse_args(argv)
    import fastnn

    all_threads = fastnn.get_num_threads()
    try:
        blocks = [tuple(int(v) for v in b.split(":")) for b in args.blocks]
        if any(len(b) != 2 or b[0] < 1 or b[1] < 0 for b in blocks):
            raise ValueError
    except ValueError:
        ap.error(f"--blocks takes ROWS:THREADS pairs (rows ≥ 1, threads ≥ 0), got {args.blocks}")
    print("sparse / dense time, first-layer forward + weight gradient (Cython, float32)")
    header = "density " + "".join(f"  {d}->{m} b{rows:<5d}" for rows, _ in blocks for d, m in LAYERS)
    print(header)
    for density in args.densities:
        cells = []
        for rows, threads in blocks:
            for d, m in LAYERS:
                td, ts = measure(rows, d, m, density, threads or all_threads, args.repeats)
                cells.append(f"  {ts / td:6.2f} ({td * 1e3:6.2f} ms)")
        print(f"{density:6.2f} " + "".join(cells), flush=True)
    fastnn.set_num_threads(all_threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
