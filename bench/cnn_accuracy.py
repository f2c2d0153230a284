"""Accuracy check of W8's network (PERFORMANCE.md / issue 13): the course's CNN trained by fastnn
and by PyTorch from the same initial parameters and batch order, batch 64, on Fashion-MNIST
(60,000 training images, Debian's files), test accuracy after each epoch. Default Adam lr 1e-3
with ReLU (W8); E1/E2's other settings: --optimizer sgd --lr 0.01 --momentum 0.5 [--activation tanh].

    flock /tmp/fastnn-bench.lock python bench/cnn_accuracy.py --epochs 10
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--n-train", type=int, default=None, help="cap the training set (default: all)")
    ap.add_argument("--impls", nargs="+", default=["fastnn", "torch"])
    ap.add_argument("--activation", default="relu", choices=["relu", "tanh"])
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd"], help="sgd: with --momentum")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.5)
    args = ap.parse_args(argv)

    import fastnn
    from bench import cnn_workloads, workloads
    from fastnn.datasets import load

    fastnn.set_num_threads(workloads.THREADS)
    X, y = load(args.dataset)
    Xt, yt = load(args.dataset, split="test")
    if args.n_train:
        X, y = X[:args.n_train], y[:args.n_train]
    X, Xt = X.reshape(-1, 1, 28, 28), Xt.reshape(-1, 1, 28, 28)
    params = cnn_workloads.init_params(np.float32, seed=0)
    rng = np.random.default_rng(1)
    orders = [rng.permutation(len(X)) for _ in range(args.epochs)]  # the same batches for both
    results = {}
    for impl in args.impls:
        accs, t0 = [], time.perf_counter()
        if impl == "fastnn":
            model = cnn_workloads.fastnn_model(params, activation=args.activation)
            opt = dict(optimizer="adam") if args.optimizer == "adam" else dict(optimizer="momentum",
                                                                                momentum=args.momentum)
            for order in orders:
                model.fit(X[order], y[order], epochs=1, lr=args.lr, batch_size=64, shuffle=False, seed=len(accs),
                          progress=False, **opt)
                accs.append(model.score(Xt, yt))
        else:
            torch, net = cnn_workloads._torch_net(params, args.activation)
            opt = torch.optim.Adam(net.parameters(), lr=args.lr) if args.optimizer == "adam" else \
                torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum)
            Xtt, ytt = torch.as_tensor(X), torch.as_tensor(y)
            for order in orders:
                net.train()
                for s in range(0, len(order), 64):
                    idx = torch.as_tensor(order[s:s + 64])
                    opt.zero_grad()
                    torch.nn.functional.nll_loss(net(Xtt[idx]), ytt[idx]).backward()
                    opt.step()
                net.eval()
                with torch.inference_mode():
                    accs.append(float((net(torch.as_tensor(Xt)).argmax(1).numpy() == yt).mean()))
        results[impl] = accs
        print(f"{impl:7s} test accuracy per epoch: " + " ".join(f"{a:.4f}" for a in accs)
              + f"   ({time.perf_counter() - t0:.0f} s incl. evaluation)", flush=True)
    if "fastnn" in results and "torch" in results:
        gap = 100 * (results["fastnn"][-1] - results["torch"][-1])
        print(f"after {args.epochs} epochs: fastnn − torch = {gap:+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
