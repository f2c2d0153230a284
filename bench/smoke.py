"""Run every asv benchmark once, tiny, without timing: ``python bench/smoke.py``.

CI runs this so that benchmarks cannot rot (an exception fails the run). Sizes are shrunk
with FASTNN_BENCH_SCALE (default here 0.01).
"""
import importlib
import inspect
import itertools
import os
import sys
import time

os.environ.setdefault("FASTNN_BENCH_SCALE", "0.01")
# The repository root goes at the END of sys.path: `bench` is found there, while `fastnn` is the
# installed package (with its compiled extension), not the source tree.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") not in (_ROOT, os.path.join(_ROOT, "bench"))]
sys.path.append(_ROOT)
MODULES = ["bench.asv_workloads", "bench.asv_kernels", "bench.asv_sparse"]


def _benchmark_classes(module):
    for name, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ == module.__name__ and not name.startswith("_"):
            methods = [m for m in dir(cls) if m.startswith(("time_", "peakmem_"))]
            if methods:
                yield name, cls, methods


def main() -> int:
    count = 0
    t0 = time.perf_counter()
    for mod_name in MODULES:
        module = importlib.import_module(mod_name)
        for name, cls, methods in _benchmark_classes(module):
            for combo in itertools.product(*getattr(cls, "params", [])) if getattr(cls, "params", None) else [()]:
                bench = cls()
                try:
                    if hasattr(bench, "setup"):
                        bench.setup(*combo)
                except NotImplementedError:
                    print(f"skip {name}{combo}: not applicable")
                    continue
                for method in methods:
                    getattr(bench, method)(*combo)
                    count += 1
                print(f"ok   {name}{combo}: {', '.join(methods)}", flush=True)
    print(f"{count} benchmark calls ran in {time.perf_counter() - t0:.1f} s")
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
