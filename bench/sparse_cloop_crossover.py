"""Where the C loop's sparse first layer beats its dense one (config.SPARSE_CLOOP_MAX_DENSITY):
mini-batch SGD steps of 784-300-10 (sigmoid, softmax-CE; W2's shape), sparse-loop time / dense-loop
time by density of X (float32, random sparsity, values in (0.05, 1)).

    flock /tmp/fastnn-bench.lock python bench/sparse_cloop_crossover.py          # ≈ 1 min
    python bench/sparse_cloop_crossover.py --densities 0.2 0.5 --repeats 2      # quick look

Each figure is the fastest of ``--repeats`` samples of ``--steps`` steps per engine, the two
engines alternating (the machine is shared), each after a pause (``--settle``): BLAS's idle threads
spin for about 0.1 s after a multithreaded product and would take a core from the sparse products'
helpers, which a fit's back-to-back runs do not meet. < 1: the sparse first layer wins.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DENSITIES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8]


def _engine(X, y, batch, sparse, optimizer):
    """A C-loop engine on X with the sparse first layer forced on or off."""
    import fastnn
    from fastnn import config, engines
    from fastnn.train.optim import make_optimizer

    saved = config.SPARSE_CLOOP_MAX_DENSITY
    config.SPARSE_CLOOP_MAX_DENSITY = 1.0 if sparse else -1.0
    try:
        model = fastnn.DeepMLP([X.shape[1], 300, 10], seed=0, dtype=X.dtype, backend="cython")
        Y = np.eye(10, dtype=X.dtype)[y]
        eng = engines.CLoopEngine(model.net, model.parameters, make_optimizer(optimizer), X, Y, y, batch, True)
    finally:
        config.SPARSE_CLOOP_MAX_DENSITY = saved
    assert eng.sparse == sparse
    return eng


def measure(density, batch, steps, repeats, optimizer, settle=0.3, seed=0):
    """(dense, sparse) seconds per step."""
    rng = np.random.default_rng(seed)
    n = batch * steps
    X = rng.uniform(0.05, 1.0, (n, 784)).astype(np.float32)
    X[rng.random((n, 784)) >= density] = 0
    y = rng.integers(0, 10, n)
    engines = [_engine(X, y, batch, s, optimizer) for s in (False, True)]
    order = rng.permutation(n).astype(np.int64)
    lrs = np.full(steps, 0.01)
    best = [np.inf, np.inf]
    for _ in range(repeats + 1):  # the first round warms up
        for i, eng in enumerate(engines):
            time.sleep(settle)
            t = time.perf_counter()
            eng.run(order, lrs)
            best[i] = min(best[i], (time.perf_counter() - t) / steps)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--densities", type=float, nargs="+", default=DENSITIES)
    ap.add_argument("--batch", type=int, nargs="+", default=[64])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--threads", type=int, default=None, help="fastnn's threads (default: all cores)")
    ap.add_argument("--settle", type=float, default=0.3, help="seconds of pause before each timed run")
    args = ap.parse_args(argv)
    import fastnn

    threads = fastnn.set_num_threads(args.threads)
    print(f"sparse / dense time per step, 784-300-10, {args.optimizer}, float32, {threads} threads")
    print("batch " + " ".join(f"{d:6.2f}" for d in args.densities))
    for batch in args.batch:
        cells, dense_ms = [], []
        for d in args.densities:
            dense, sparse = measure(d, batch, args.steps, args.repeats, args.optimizer, args.settle)
            cells.append(sparse / dense)
            dense_ms.append(dense * 1e3)
        print(f"{batch:5d} " + " ".join(f"{c:6.2f}" for c in cells)
              + f"   (dense {min(dense_ms):.3f}-{max(dense_ms):.3f} ms/step)")


if __name__ == "__main__":
    main()
