"""The C study's own training step with the sparse first layer on and off, interleaved: 784-256-128-10,
record="layers" every 5 iterations and the per-iteration update-magnitude callback, as
``fastnn run C`` trains (full-batch steps that are not row-blocked; fastnn.config.SPARSE_MAX_DENSITY_BLOCK).

    flock /tmp/fastnn-bench.lock python bench/sparse_study_step.py fashion-mnist --threads 1
    python bench/sparse_study_step.py mnist-5k --iterations 20

Prints seconds per iteration of each setting; "auto" is what fastnn chooses (or with
``--sparse-limit``), "dense" has every sparse limit switched off. Run two at once (``&``) to see
the C study's --jobs 2 case: two one-thread workers sharing the memory bus.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", nargs="?", default="fashion-mnist")
    ap.add_argument("--threads", type=int, default=None, help="fastnn threads (default: all cores)")
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sparse-limit", type=float, default=None,
                    help="SPARSE_MAX_DENSITY_BLOCK for the 'auto' runs (default: fastnn.config's)")
    args = ap.parse_args(argv)
    import numpy as np

    import fastnn
    from fastnn import config
    from fastnn.datasets import load
    from fastnn.experiments._common import LECTURE3_BASE, _train

    fastnn.set_num_threads(args.threads)
    X, y = load(args.dataset)
    Xt, yt = load(args.dataset, "test")
    print(f"{args.dataset}: {X.shape[0]} rows, {np.count_nonzero(X) / X.size:.1%} nonzero, "
          f"{fastnn.get_num_threads()} thread(s)")
    configs = {"sigmoid + MSE": dict(LECTURE3_BASE),
               "relu + CE": dict(LECTURE3_BASE, activation="relu", output="softmax", loss="ce", init="he")}
    auto = {k: getattr(config, k) for k in config.SPARSE_LIMITS}
    if args.sparse_limit is not None:
        auto["SPARSE_MAX_DENSITY_BLOCK"] = args.sparse_limit
    _train(dict(LECTURE3_BASE, iterations=2, lr_scale=1.0), X, y, Xt, yt, 0, "auto")  # warm up
    for _ in range(args.repeats):
        for name, cfg in configs.items():
            for mode in ("dense", "auto"):
                for k, v in auto.items():
                    setattr(config, k, -1.0 if mode == "dense" else v)
                t = time.perf_counter()
                _, h, _, _ = _train(dict(cfg, iterations=args.iterations, record_every=5, lr_scale=1.0),
                                    X, y, Xt, yt, 0, "auto")
                print(f"  {name:14s} {mode:5s} {h.wall_time / args.iterations:.3f} s/it "
                      f"({time.perf_counter() - t:.1f} s in all, {h.params['engine']})", flush=True)
    for k, v in auto.items():
        setattr(config, k, v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
