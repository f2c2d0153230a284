"""The course CNN's convolution-side kernels per backend, against the GEMM floor of its im2col products.

    flock /tmp/fastnn-bench.lock python bench/conv_floor.py [--batch 64 10000] [--dtype float32] [--threads 2]

For each batch size it times, per backend, every kernel one training step of the course's CNN
calls (conv 5×5 1→10 on 28×28 + ReLU, max-pool 2, conv 5×5 10→20 + ReLU, max-pool 2, their
backward passes; the first layer skips its input gradient), interleaved round by round, and
prints the median per kernel and their sum next to the *GEMM floor*: the five im2col products
(two forward, two weight gradients, one column gradient) done by ``np.matmul`` on preallocated
arrays — what any im2col implementation must at least spend. Batch 10,000 is the inference
shape (the forward kernels matter there; the NumPy reference is skipped above 1,000).
"""
import argparse
import time

import numpy as np

import fastnn
from fastnn import activations as act
from fastnn.backends import available_backends, get_backend

LAYERS = [dict(C=1, H=28, F=10, k=5), dict(C=10, H=12, F=20, k=5)]  # the course's two convolutions


def _median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def step_kernels(be, n, dtype, rng):
    """name -> zero-argument callable, for every conv-side kernel of one training step"""
    calls = {}
    for li, L in enumerate(LAYERS):
        C, H, F, k = L["C"], L["H"], L["F"], L["k"]
        Ho = H - k + 1
        X = rng.standard_normal((n, C, H, H)).astype(dtype)
        Wt = (rng.standard_normal((F, C, k, k)) * 0.1).astype(dtype)
        b = np.zeros(F, dtype)
        A = np.empty((n, F, Ho, Ho), dtype)
        D = rng.standard_normal(A.shape).astype(dtype)
        dW, db = np.empty_like(Wt), np.empty_like(b)
        dX = np.empty_like(X) if li > 0 else None
        ws = be.conv2d_workspace(n, C, H, H, k, k, 1, 0, dtype)
        Y = np.empty((n, F, Ho // 2, Ho // 2), dtype)
        idx = np.empty(Y.shape, np.int32)
        dPool = np.empty_like(A)
        calls[f"conv{li + 1} forward"] = lambda X=X, Wt=Wt, b=b, A=A, ws=ws: be.conv2d_forward(
            X, Wt, b, A, act.RELU, 1.0, 0.01, 1, 0, ws)
        calls[f"pool{li + 1} forward"] = lambda A=A, Y=Y, idx=idx: be.maxpool2d_forward(A, Y, idx, 2)
        calls[f"pool{li + 1} backward"] = lambda Y=Y, idx=idx, dPool=dPool: be.maxpool2d_backward(Y, idx, dPool)
        calls[f"relu{li + 1} grad"] = lambda D=D, A=A: be.activation_grad(D, A, act.RELU, 1.0, 0.01)
        calls[f"conv{li + 1} backward"] = lambda X=X, Wt=Wt, D=D, dW=dW, db=db, dX=dX, ws=ws: be.conv2d_backward(
            X, Wt, D, dW, db, dX, 1, 0, ws)
    return calls


def gemm_floor(n, dtype, rng):
    """name -> callable for the im2col products (np.matmul into preallocated outputs)"""
    calls = {}
    for li, L in enumerate(LAYERS):
        K, P, F = L["C"] * L["k"] ** 2, (L["H"] - L["k"] + 1) ** 2, L["F"]
        cols = rng.standard_normal((K, n * P)).astype(dtype)
        Wm = (rng.standard_normal((F, K)) / np.sqrt(K)).astype(dtype)
        Z = np.empty((F, n * P), dtype)
        dW = np.empty((F, K), dtype)
        dcols = np.empty_like(cols)  # its own output: no product feeds the next (no overflow, no denormals)
        calls[f"conv{li + 1} W·cols"] = lambda Wm=Wm, cols=cols, Z=Z: np.matmul(Wm, cols, out=Z)
        calls[f"conv{li + 1} D·colsᵀ"] = lambda Z=Z, cols=cols, dW=dW: np.matmul(Z, cols.T, out=dW)
        if li > 0:
            calls[f"conv{li + 1} Wᵀ·D"] = lambda Wm=Wm, Z=Z, dcols=dcols: np.matmul(Wm.T, Z, out=dcols)
    return calls


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 10000])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", nargs="+", default=available_backends())
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    fastnn.set_num_threads(args.threads)
    dtype = np.dtype(args.dtype)
    print(f"{dtype.name}, {args.threads} threads (machine shared: compare ratios within one run)")
    for n in args.batch:
        reps = max(3, int(2000 // n))
        rng = np.random.default_rng(0)
        names = [b for b in args.backends if b != "numpy" or n <= 1000]  # the reference is too slow beyond
        suites = {name: step_kernels(get_backend(name), n, dtype, rng) for name in names}
        floor = gemm_floor(n, dtype, rng)
        results = {name: {k: [] for k in s} for name, s in suites.items()}
        floor_t = {k: [] for k in floor}
        for _ in range(args.rounds):  # interleaved: every backend sees the same machine load
            for name, s in suites.items():
                for k, fn in s.items():
                    results[name][k].append(_median_ms(fn, reps))
            for k, fn in floor.items():
                floor_t[k].append(_median_ms(fn, reps))
        kernels = list(next(iter(suites.values())))
        print(f"\nbatch {n}: median ms per call")
        print(f"{'kernel':<18}" + "".join(f"{b:>10}" for b in suites))
        for k in kernels:
            print(f"{k:<18}" + "".join(f"{np.median(results[b][k]):10.3f}" for b in suites))
        fwd = [k for k in kernels if "forward" in k]
        print(f"{'step total':<18}" + "".join(f"{sum(np.median(results[b][k]) for k in kernels):10.3f}"
                                              for b in suites))
        print(f"{'forward only':<18}" + "".join(f"{sum(np.median(results[b][k]) for k in fwd):10.3f}"
                                                for b in suites))
        total_floor = sum(np.median(v) for v in floor_t.values())
        fwd_floor = sum(np.median(v) for k, v in floor_t.items() if "W·cols" in k)
        for k, v in floor_t.items():
            print(f"  floor {k:<14}{np.median(v):10.3f}")
        print(f"GEMM floor: step {total_floor:.3f} ms, forward {fwd_floor:.3f} ms")


if __name__ == "__main__":
    main()
