"""asv benchmarks of W1r and W2r (../shared/spec/PERFORMANCE.md): W1 and W2 on real images, which
are mostly zeros (mnist-5k tiled to 60,000 rows: 81 % zeros; Fashion-MNIST's 60,000 training
images: 50 %). fastnn "dense" has its sparse first layer switched off, "sparse" runs the kernel
engine whose first layer skips zero pixels, "auto" is the default choice. The baseline of W1r is
the dense GEMM floor (W1rGemmFloor), that of W2r fastnn's dense path.

Set FASTNN_BENCH_SCALE (e.g. 0.02) to shrink every workload for a smoke run.
"""
import numpy as np

from . import fastnn_impl, workloads
from .asv_workloads import SCALE, run_w1, run_w1_floor, run_w2, w1_floor_buffers

IMPLS = ["numpy", "fastnn-auto", "fastnn-dense", "fastnn-sparse"]


def _data(name, which, scale=SCALE):
    """The workload's data; NotImplementedError (asv: skip) when the images cannot be loaded."""
    from fastnn.datasets import DatasetError

    try:
        return workloads.make(f"{name}-{which}", dtype=np.float32, scale=scale)
    except DatasetError as exc:
        raise NotImplementedError(f"{which} images are not available here: {exc}") from None


class _RealWorkload:
    params = [IMPLS, list(workloads.REAL_SETS)]
    param_names = ["impl", "images"]
    name = None
    timeout = 600

    def setup(self, impl, which):
        self.data = _data(self.name, which)
        if impl != "numpy":
            self.data = fastnn_impl.prepare(self.data)
            small = _data(self.name, which, scale=0.01)
            self.run(impl, fastnn_impl.prepare(small))  # warm up (JIT, caches, thread pools)

    def time_workload(self, impl, which):
        self.run(impl, self.data)

    def peakmem_workload(self, impl, which):
        self.run(impl, self.data)

    def track_zero_fraction(self, impl, which):
        """Fraction of exact zeros of the images (the same for every implementation)."""
        return workloads.zero_fraction(self.data["X"])

    track_zero_fraction.unit = "fraction"


class W1rFullBatchStep(_RealWorkload):
    """W1r ×3: W1's full-batch steps (784-256-128-10, sigmoid, MSE, no bias, lr·Σ) on real images."""

    name = "w1r"

    def run(self, impl, d):
        run_w1(impl, d)


class W1rGemmFloor:
    """The dense matrix products of three W1 steps on the real images (the dense limit)."""

    params = [list(workloads.REAL_SETS)]
    param_names = ["images"]
    timeout = 600

    def setup(self, which):
        self.data = _data("w1r", which)
        self.out = w1_floor_buffers(self.data)

    def time_gemm_floor(self, which):
        run_w1_floor(self.data, self.out)


class W2rMiniBatchEpoch(_RealWorkload):
    """W2r: one epoch of W2 (batch 64, 784-300-10, sigmoid + softmax-CE) on real images."""

    name = "w2r"

    def run(self, impl, d):
        run_w2(impl, d)
