"""asv benchmarks of the workloads W1–W6 (../shared/spec/PERFORMANCE.md): plain NumPy written
as the course notebooks wrote it versus each fastnn backend. Data and initial weights are built
in ``setup``; Numba's compiled code is warmed there too, so JIT time is never timed.

Set FASTNN_BENCH_SCALE (e.g. 0.02) to shrink every workload for a smoke run.
"""
import os

import numpy as np

from . import fastnn_impl, numpy_impl, workloads

IMPLS = ["numpy", "fastnn-auto", "fastnn-numba", "fastnn-cython"]
SCALE = float(os.environ.get("FASTNN_BENCH_SCALE", "1"))


def _data(name):
    return workloads.make(name, dtype=np.float32, scale=SCALE)


def _backend(impl):
    return impl.split("-", 1)[1]


class _Workload:
    params = [IMPLS]
    param_names = ["impl"]
    name = None
    timeout = 600

    def setup(self, impl):
        self.data = _data(self.name)
        if impl != "numpy":
            self.data = fastnn_impl.prepare(self.data)  # e.g. the epoch's order applied (untimed)
            self.warm(impl)

    def warm(self, impl):
        """Run the fastnn function once on a small slice (compiles Numba code, loads caches)."""
        small = workloads.make(self.name, dtype=np.float32, scale=0.01)
        self.run(impl, small)

    def run(self, impl, data):
        raise NotImplementedError

    def time_workload(self, impl):
        self.run(impl, self.data)

    def peakmem_workload(self, impl):
        self.run(impl, self.data)


def run_w1(impl, d):
    """W1_STEPS full-batch steps of W1 (or W1r) with ``impl``."""
    if impl == "numpy":
        weights = d["weights"]
        for _ in range(fastnn_impl.W1_STEPS):
            weights = numpy_impl.w1_step(d["X"], d["Y"], weights, d["lr"]).weights
    else:
        fastnn_impl.w1_steps(**d, backend=_backend(impl))


def w1_floor_buffers(d):
    return numpy_impl.gemm_floor_w1_buffers(d["X"], d["weights"])


def run_w1_floor(d, out):
    """The matrix products of W1_STEPS W1 steps on preallocated arrays."""
    for _ in range(fastnn_impl.W1_STEPS):
        numpy_impl.gemm_floor_w1(d["X"], d["weights"], out)


def run_w2(impl, d):
    """One mini-batch epoch of W2 (or W2r) with ``impl``."""
    if impl == "numpy":
        numpy_impl.w2_epoch(**d)
    else:
        fastnn_impl.w2_epoch(**d, backend=_backend(impl))


class W1FullBatchStep(_Workload):
    """W1 ×3: full-batch steps of 784-256-128-10, sigmoid, MSE, no bias, lr·Σ, N = 60000."""

    name = "w1"

    def run(self, impl, d):
        run_w1(impl, d)


class W1GemmFloor:
    """The matrix products of three W1 steps on preallocated arrays (the practical limit)."""

    timeout = 600

    def setup(self):
        self.data = _data("w1")
        self.out = w1_floor_buffers(self.data)

    def time_gemm_floor(self):
        run_w1_floor(self.data, self.out)


class W2MiniBatchEpoch(_Workload):
    """W2: one epoch of mini-batch SGD (batch 64), 784-300-10, sigmoid + softmax-CE."""

    name = "w2"

    def run(self, impl, d):
        run_w2(impl, d)


class W3TinyNet(_Workload):
    """W3: 2-3-2 tanh + softmax-CE on 200 moons samples, 20000 full-batch steps."""

    name = "w3"

    def run(self, impl, d):
        if impl == "numpy":
            numpy_impl.w3_train(**d)
        else:
            fastnn_impl.w3_train(**d, backend=_backend(impl))


class W4PerSample(_Workload):
    """W4: per-sample SGD (batch 1), 784-300-10, 10000 samples."""

    name = "w4"

    def run(self, impl, d):
        if impl == "numpy":
            numpy_impl.w4_epoch(**d)
        else:
            fastnn_impl.w4_epoch(**d, backend=_backend(impl))


class W5Inference(_Workload):
    """W5: inference 10000 × 784 → 256 → 128 → 10."""

    name = "w5"

    def setup(self, impl):
        super().setup(impl)
        if impl != "numpy":
            self.model = fastnn_impl.w5_model(self.data["weights"], self.data["biases"], _backend(impl))

    def warm(self, impl):
        d = workloads.make("w5", dtype=np.float32, scale=0.01)
        fastnn_impl.w5_forward(**d, backend=_backend(impl))

    def run(self, impl, d):
        if impl == "numpy":
            numpy_impl.w5_forward(**d)
        else:
            self.model.predict_proba(d["X"])


class W5GemmFloor:
    timeout = 300

    def setup(self):
        self.data = _data("w5")
        self.out = numpy_impl.gemm_floor_w5_buffers(self.data["X"], self.data["weights"])

    def time_gemm_floor(self):
        numpy_impl.gemm_floor_w5(self.data["X"], self.data["weights"], self.out)


class W6Sweep(_Workload):
    """W6: moons D2 × D1 grid, 18 trainings × 20000 steps (fastnn: all cores via fastnn.sweep)."""

    name = "w6"

    def warm(self, impl):
        d = workloads.make("w6", dtype=np.float32, scale=0.01)
        fastnn_impl.w6_sweep(**d, backend=_backend(impl), jobs=1)

    def run(self, impl, d):
        if impl == "numpy":
            numpy_impl.w6_sweep(**d)
        else:
            fastnn_impl.w6_sweep(**d, backend=_backend(impl))
