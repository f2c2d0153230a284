"""asv benchmarks of W8 (one training epoch of the course's CNN, Adam, batch 64, 60,000 28×28
images) and W9 (inference on 10,000 images) for each fastnn backend (PERFORMANCE.md; the PyTorch
and JAX columns are in bench/peers.py --workloads w8 w9). Data, parameters and warm-up (Numba
compilation) in ``setup``. FASTNN_BENCH_SCALE (e.g. 0.02) shrinks both for a smoke run.
"""
import os

import numpy as np

from . import cnn_workloads, workloads

IMPLS = ["fastnn-auto", "fastnn-numba", "fastnn-cython"]
SCALE = float(os.environ.get("FASTNN_BENCH_SCALE", "1"))


class _CNNWorkload:
    params = [IMPLS]
    param_names = ["impl"]
    name = None
    timeout = 600

    def setup(self, impl):
        import fastnn

        fastnn.set_num_threads(workloads.THREADS)
        small = workloads.make(self.name, np.float32, scale=0.002)
        cnn_workloads.callable_for(impl, self.name, small)[0]()  # compiles / loads, untimed
        self.fn = cnn_workloads.callable_for(impl, self.name, workloads.make(self.name, np.float32, scale=SCALE))[0]

    def time_workload(self, impl):
        self.fn()

    def peakmem_workload(self, impl):
        self.fn()


class W8CNNEpoch(_CNNWorkload):
    """W8: one epoch of the course's CNN, Adam lr 1e-3, batch 64, 60,000 images."""

    name = "w8"


class W9CNNInference(_CNNWorkload):
    """W9: class probabilities of the course's CNN for 10,000 images."""

    name = "w9"
