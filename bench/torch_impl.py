"""PyTorch CPU peers for W1–W6: plain ``nn.Sequential`` + ``torch.optim.SGD``, float32, eager.

Written as a PyTorch user would: autograd for the backward pass, ``F.cross_entropy`` /
``F.mse_loss``. torch is imported only when a workload runs, so importing this module
without torch works and the first call raises a clear ImportError.
Call pattern: ``w1_step(**prepare(workloads.make_w1()))``; inputs are never modified.

Measuring on a busy machine: torch's OpenMP workers spin-wait between parallel regions;
when other processes compete for the cores this makes the tiny-net workloads (W3, W6)
20–40× slower. Set ``OMP_WAIT_POLICY=PASSIVE`` before torch is imported to avoid it.
"""
from __future__ import annotations

import functools
import importlib.util

import numpy as np

from .workloads import THREADS, Trained

NAME = "torch"
AVAILABLE = importlib.util.find_spec("torch") is not None


@functools.lru_cache(maxsize=None)
def _torch():
    """Import torch once, set its thread count, or say how to get it."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError("the PyTorch peer benchmarks need torch: pip install torch") from exc
    torch.set_num_threads(THREADS)
    return torch


def available():
    """True when torch imports."""
    try:
        _torch()
    except ImportError:
        return False
    return True


def prepare(data):
    """Torch tensors for every array in a workload dict (zero-copy from NumPy)."""
    torch = _torch()

    def conv(v):
        if isinstance(v, np.ndarray):
            return torch.from_numpy(v)
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in data.items()}


def _mlp(weights, biases, activation, output=None):
    """nn.Sequential of Linear layers holding copies of (fan_in, fan_out) weights."""
    torch = _torch()
    nn = torch.nn
    act = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers = []
    for i, W in enumerate(weights):
        W = torch.as_tensor(W)
        lin = torch.nn.utils.skip_init(nn.Linear, W.shape[0], W.shape[1],
                                       bias=biases is not None)
        with torch.no_grad():
            lin.weight.copy_(W.T)
            if biases is not None:
                lin.bias.copy_(torch.as_tensor(biases[i]))
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(act())
    if output == "sigmoid":
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def _params(model):
    """(weights as (fan_in, fan_out) NumPy arrays, biases or None) of an nn.Sequential."""
    lins = [m for m in model if isinstance(m, _torch().nn.Linear)]
    weights = [lin.weight.detach().T.contiguous().numpy() for lin in lins]
    has_bias = lins[0].bias is not None
    biases = [lin.bias.detach().clone().numpy() for lin in lins] if has_bias else None
    return weights, biases


# ---------------------------------------------------------------- W1

def w1_step(X, Y, weights, lr):
    """W1: one full-batch step, sigmoid everywhere, MSE with reduction="sum", no bias."""
    torch = _torch()
    F = torch.nn.functional
    X, Y = torch.as_tensor(X), torch.as_tensor(Y)
    model = _mlp(weights, None, "sigmoid", output="sigmoid")
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    opt.zero_grad()
    loss = F.mse_loss(model(X), Y, reduction="sum")
    loss.backward()
    opt.step()
    return Trained(loss.item() / len(X), *_params(model))


# ---------------------------------------------------------------- W2 and W4

def _sgd_epoch(X, y, weights, biases, order, lr, batch_size):
    """Mini-batch SGD over ``order``, sigmoid hidden, softmax-CE (mean) output."""
    torch = _torch()
    F = torch.nn.functional
    X, y, order = torch.as_tensor(X), torch.as_tensor(y), torch.as_tensor(order)
    model = _mlp(weights, biases, "sigmoid")
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    total = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        opt.zero_grad()
        loss = F.cross_entropy(model(X[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return Trained(total / len(order), *_params(model))


def w2_epoch(X, y, Y, weights, biases, order, lr, batch_size):
    """W2: one epoch of mini-batch SGD (batch 64), 784-300-10, sigmoid + softmax-CE."""
    return _sgd_epoch(X, y, weights, biases, order, lr, batch_size)


def w4_epoch(X, y, Y, weights, biases, order, lr):
    """W4: per-sample SGD (batch 1) over ``order``, 784-300-10, sigmoid + softmax-CE."""
    return _sgd_epoch(X, y, weights, biases, order, lr, 1)


# ---------------------------------------------------------------- W3 and W6

def train_full_batch(X, y, Y, weights, biases, activation, lr, steps):
    """Full-batch gradient descent, f hidden, softmax-CE (mean); final loss and parameters."""
    torch = _torch()
    F = torch.nn.functional
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    model = _mlp(weights, biases, activation)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        opt.step()
    with torch.no_grad():
        loss = F.cross_entropy(model(X), y).item()
    return Trained(loss, *_params(model))


def w3_train(X, y, Y, weights, biases, activation, lr, steps):
    """W3: 2-3-2 tanh net on moons, ``steps`` full-batch steps."""
    return train_full_batch(X, y, Y, weights, biases, activation, lr, steps)


def w6_sweep(X, y, Y, configs, lr, steps):
    """W6: every (activation, width) config of the D2 × D1 grid, one after the other."""
    return [train_full_batch(X, y, Y, c["weights"], c["biases"], c["activation"], lr, steps)
            for c in configs]


# ---------------------------------------------------------------- W5

def w5_forward(X, weights, biases):
    """W5: class probabilities of a sigmoid-hidden, softmax-output MLP (inference mode)."""
    torch = _torch()
    model = _mlp(weights, biases, "sigmoid")
    with torch.inference_mode():
        return torch.softmax(model(torch.as_tensor(X)), dim=1).numpy()
