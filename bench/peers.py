"""The peer table: W1–W9, W1r and W2r for NumPy, each fastnn backend, PyTorch and JAX, in one run.

    python bench/peers.py                 # full size, 5 repeats (several minutes)
    python bench/peers.py --scale 0.05 --repeats 2 --workloads w2 w3
    python bench/peers.py --workloads w1r-mnist w1r-fashion w2r-mnist w2r-fashion --repeats 3

W1r and W2r are W1 and W2 on real images (mnist-5k tiled to 60,000 rows, Fashion-MNIST's 60,000
training images; their zero fraction is printed): fastnn runs them "auto", "dense" (the sparse first
layer off) and "sparse" (the kernel engine, whose first layer skips zero pixels, also for W2r's
mini-batches).

Implementations are interleaved (every repeat runs each implementation once, in turn) so that
the noise of a shared machine hits them alike, with a short pause before each timed call
(``--settle``) so that no implementation pays for the spinning thread pools of the one
before it (NumPy's and scipy's OpenBLAS, PyTorch and JAX each keep their own); the table shows medians, the ratio to NumPy, the
GEMM floor (W1, W5, W8, W9) and the peak memory of one run of each implementation, measured in a fresh
process (resident-set growth over the data already loaded). PyTorch and JAX are optional: they
are listed as "not installed" when missing (pip install torch==2.13.0 jax jaxlib).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") not in (_ROOT, os.path.join(_ROOT, "bench"))]
sys.path.append(_ROOT)  # `bench` from here, `fastnn` from the installed package

REAL_WORKLOADS = ["w1r-mnist", "w1r-fashion", "w2r-mnist", "w2r-fashion"]
WORKLOADS = ["w1", "w2", "w3", "w4", "w5", "w6", "w8", "w9"] + REAL_WORKLOADS
FUNCS = {"w1": "w1_step", "w2": "w2_epoch", "w3": "w3_train", "w4": "w4_epoch", "w5": "w5_forward",
         "w6": "w6_sweep"}
UNITS = {"w1": "s/step", "w2": "s/epoch", "w3": "s", "w4": "s", "w5": "s", "w6": "s", "w8": "s/epoch", "w9": "s"}
CNN_WORKLOADS = ("w8", "w9")  # the course's CNN: bench/cnn_workloads.py
IMPLS = ["numpy", "fastnn-auto", "fastnn-numba", "fastnn-cython", "torch", "jax"]
REAL_IMPLS = ["numpy", "fastnn-auto", "fastnn-dense", "fastnn-sparse", "torch", "jax"]


def _kind(workload):
    """The synthetic workload a real-image one repeats: "w1r-mnist" -> "w1"."""
    return workload.split("r-", 1)[0] if workload in REAL_WORKLOADS else workload


def _callable(impl, workload, data):
    """A zero-argument function running one instance of the workload with this implementation."""
    import numpy as np

    workload = _kind(workload)
    from bench import fastnn_impl, numpy_impl

    if workload in CNN_WORKLOADS:
        from bench import cnn_workloads

        return cnn_workloads.callable_for(impl, workload, data)
    if impl.startswith("fastnn"):
        backend = impl.split("-", 1)[1]
        data = fastnn_impl.prepare(data)
        if workload == "w1":
            steps = fastnn_impl.W1_STEPS
            return lambda: fastnn_impl.w1_steps(**data, backend=backend, steps=steps), steps
        if workload == "w5":
            model = fastnn_impl.w5_model(data["weights"], data["biases"], backend, np.float32)
            return lambda: model.predict_proba(data["X"]), 1
        fn = getattr(fastnn_impl, FUNCS[workload])
        return lambda: fn(**data, backend=backend), 1
    module = {"numpy": numpy_impl}.get(impl)
    if module is None:
        import importlib

        module = importlib.import_module(f"bench.{impl}_impl")
        if not module.available():
            raise ImportError(f"{impl} is not installed")
        data = module.prepare(data)
    fn = getattr(module, FUNCS[workload])
    if workload == "w1":
        def w1_three():
            weights = data["weights"]
            for _ in range(3):
                weights = fn(data["X"], data["Y"], weights, data["lr"]).weights
        return w1_three, 3
    return lambda: fn(**data), 1


MIN_SAMPLE_S = 0.25  # one timed sample lasts at least this long (short calls are repeated back to back)


def _repeated(fn, calls):
    if calls == 1:
        return fn

    def run():
        for _ in range(calls):
            fn()
    return run


def _floor(workload, data):
    from bench import numpy_impl

    workload = _kind(workload)
    if workload in CNN_WORKLOADS:
        from bench import cnn_workloads

        return cnn_workloads.floor(workload, data)
    if workload == "w1":
        out = numpy_impl.gemm_floor_w1_buffers(data["X"], data["weights"])
        return lambda: numpy_impl.gemm_floor_w1(data["X"], data["weights"], out)
    if workload == "w5":
        out = numpy_impl.gemm_floor_w5_buffers(data["X"], data["weights"])
        return lambda: numpy_impl.gemm_floor_w5(data["X"], data["weights"], out)
    return None


def _memory_probe(workload, impl, scale):
    """In a fresh process: peak RSS growth (MB) of one run after data, warm-up and setup
    (Linux: the peak is reset through /proc/self/clear_refs just before the run)."""
    code = f"""
import resource, sys, json
sys.path.append({_ROOT!r})
import numpy as np
from bench import workloads
from bench.peers import _callable
data = workloads.make({workload!r}, np.float32, scale={scale})
small = workloads.make({workload!r}, np.float32, scale=0.01)
_callable({impl!r}, {workload!r}, small)[0]()
fn, _ = _callable({impl!r}, {workload!r}, data)
import gc; gc.collect()
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
before = status("VmRSS:")
fn()
print(json.dumps((status("VmHWM:") - before) / 1024))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    if out.returncode != 0:
        return None
    return float(out.stdout.strip().splitlines()[-1])


def _w7(repeats=3):
    """Cold start: `import fastnn` + first training step in a fresh process (warm caches)."""
    code = ("import time; t=time.perf_counter(); import fastnn, numpy as np; "
            "from fastnn.datasets import load; X, y = load('moons'); "
            "m = fastnn.DeepMLP([2, 8, 2], seed=0); m.fit(X, y, iterations=1, progress=False); "
            "m2 = fastnn.DeepMLP([784, 300, 10], seed=0); Xb = np.random.rand(256, 784).astype('f4'); "
            "m2.fit(Xb, np.arange(256) % 10, epochs=1, batch_size=64, progress=False); "
            "print(time.perf_counter()-t)")
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", nargs="+", default=WORKLOADS + ["w7"])
    ap.add_argument("--impls", nargs="+", default=None,
                    help=f"default: {' '.join(IMPLS)}; for W1r/W2r: {' '.join(REAL_IMPLS)}")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--settle", type=float, default=0.2,
                    help="seconds to pause before each timed call, so that the thread pools of the "
                         "implementation that ran before (OpenBLAS spins ≈0.1 s after a call) are idle")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    import numpy as np

    import fastnn
    from bench import workloads

    fastnn.set_num_threads(workloads.THREADS)
    print(f"fastnn from {os.path.dirname(fastnn.__file__)}, {workloads.THREADS} threads", flush=True)
    results = {}
    from fastnn.datasets import DatasetError

    for workload in [w for w in args.workloads if w != "w7"]:
        try:
            data = workloads.make(workload, np.float32, scale=args.scale)
            small = workloads.make(workload, np.float32, scale=0.01)
        except DatasetError as exc:  # W1r/W2r without their images (offline)
            print(f"[{workload}] skipped: {exc}", file=sys.stderr)
            continue
        runs, per = {}, {}
        impls = args.impls or (REAL_IMPLS if workload in REAL_WORKLOADS else IMPLS)
        zeros = workloads.zero_fraction(data["X"]) if workload in REAL_WORKLOADS else None
        for impl in impls:
            try:
                _callable(impl, workload, small)[0]()  # warm up: JIT, caches, thread pools
                fn, steps = _callable(impl, workload, data)
                t = time.perf_counter()
                fn()
                calls = max(1, int(MIN_SAMPLE_S / (time.perf_counter() - t)))  # short workloads: repeat
                runs[impl], per[impl] = _repeated(fn, calls), steps * calls
            except ImportError as exc:
                print(f"[{workload}] {impl}: {exc}", file=sys.stderr)
        floor = _floor(workload, data)
        floor_calls = 1
        if floor is not None:
            t = time.perf_counter()
            floor()
            floor_calls = max(1, int(MIN_SAMPLE_S / (time.perf_counter() - t)))
            floor = _repeated(floor, floor_calls)
        times = {impl: [] for impl in runs}
        times_floor = []
        for _ in range(args.repeats):
            for impl, fn in runs.items():
                time.sleep(args.settle)
                t = time.perf_counter()
                fn()
                times[impl].append((time.perf_counter() - t) / per[impl])
            if floor is not None:
                time.sleep(args.settle)
                t = time.perf_counter()
                floor()
                times_floor.append((time.perf_counter() - t) / floor_calls)
        row = {impl: statistics.median(v) for impl, v in times.items()}
        mem = {} if args.no_memory else {impl: _memory_probe(workload, impl, args.scale) for impl in runs}
        results[workload] = {"median_s": row, "floor_s": statistics.median(times_floor) if times_floor else None,
                             "peak_mb": mem, "unit": UNITS[_kind(workload)], "zero_fraction": zeros}
        _print_row(workload, results[workload])
    if "w7" in args.workloads:
        t = _w7()
        results["w7"] = {"median_s": {"fastnn": statistics.median(t)}, "all_s": t}
        print(f"W7 import fastnn + first steps (fresh process, warm caches): median {statistics.median(t):.2f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


def _print_row(workload, r):
    base = r["median_s"].get("numpy")
    zeros = f"   {100 * r['zero_fraction']:.1f} % zeros" if r.get("zero_fraction") is not None else ""
    print(f"\n{workload.upper()} ({r['unit']})" + (f"   GEMM floor {r['floor_s']:.4f}" if r["floor_s"] else "") + zeros)
    for impl, t in r["median_s"].items():
        ratio = f"{base / t:6.2f}× vs numpy" if base else ""
        floor = f"  {t / r['floor_s']:.2f}× floor" if r["floor_s"] else ""
        mem = r["peak_mb"].get(impl)
        mem_s = f"  peak +{mem:7.1f} MB" if mem is not None else ""
        print(f"  {impl:14s} {t:9.4f}  {ratio}{floor}{mem_s}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
