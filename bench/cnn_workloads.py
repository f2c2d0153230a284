"""W8 and W9 (PERFORMANCE.md): the course's CNN (EXPERIMENTS.md E) with fastnn, PyTorch and JAX.

    W8  one training epoch: conv 5×5 1→10, ReLU, max-pool 2; conv 5×5 10→20, ReLU, max-pool 2;
        dense 320→50, ReLU, dropout 0.5; dense 50→10; log-softmax + NLL; Adam lr 1e-3, batch 64,
        60,000 28×28 images in a fixed shuffled order
    W9  inference (class probabilities) of the same net on 10,000 images

Every implementation starts from the same data and initial parameters (``make_w8`` /
``make_w9``; conv weights (out, in, kh, kw), dense weights (fan_in, fan_out), as fastnn keeps
them). ``callable_for(impl, workload, data)`` returns (zero-argument function, calls per run);
``floor(workload, data)`` the GEMM floor: the im2col products of the same work (forward, the
weight gradients and the input gradient of conv2 and the dense layers) as plain NumPy matmuls on
preallocated operands — what no im2col implementation can beat.
"""
from __future__ import annotations

import numpy as np

from .workloads import SEED, mnist_like, shuffle_order

W8_N = 60_000
W8_BATCH = 64
W8_LR = 1e-3
W9_N = 10_000
SHAPES = {"conv1.W": (10, 1, 5, 5), "conv1.b": (10,), "conv2.W": (20, 10, 5, 5), "conv2.b": (20,),
          "dense1.W": (320, 50), "dense1.b": (50,), "dense2.W": (50, 10), "dense2.b": (10,)}


def init_params(dtype=np.float32, seed=SEED):
    """PyTorch's default initialisation, U(±1/√fan_in) for weights and biases."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in SHAPES.items():
        layer = name.split(".")[0]
        w_shape = SHAPES[f"{layer}.W"]
        fan_in = int(np.prod(w_shape[1:])) if len(w_shape) == 4 else w_shape[0]
        bound = 1 / np.sqrt(fan_in)
        out[name] = rng.uniform(-bound, bound, size=shape).astype(dtype)
    return out


def make_w8(dtype=np.float32, n=W8_N, seed=SEED):
    X, y = mnist_like(n, 784, 10, dtype, seed)
    return dict(X=X.reshape(n, 1, 28, 28), y=y, params=init_params(dtype, seed), order=shuffle_order(n, seed),
                lr=W8_LR, batch_size=W8_BATCH)


def make_w9(dtype=np.float32, n=W9_N, seed=SEED):
    X, _ = mnist_like(n, 784, 10, dtype, seed)
    return dict(X=X.reshape(n, 1, 28, 28), params=init_params(dtype, seed + 3))


# ---------------------------------------------------------------- fastnn
def fastnn_model(params, backend="auto", activation="relu"):
    import fastnn

    model = fastnn.models.course_cnn(activation, seed=0, backend=backend, dtype=params["conv1.W"].dtype)
    for name, value in params.items():
        model.parameters[name][...] = value
    return model


def fastnn_w8(X, y, params, order, lr, batch_size, backend="auto"):
    """One epoch with fit (the order applied to X beforehand, outside the timing, as for W2)."""
    model = fastnn_model(params, backend)
    h = model.fit(X, y, epochs=1, lr=lr, batch_size=batch_size, optimizer="adam", shuffle=False, seed=0,
                  progress=False)
    return h.loss[-1]


# ---------------------------------------------------------------- PyTorch
def _torch_net(params, activation="relu"):
    from .torch_impl import _torch

    torch = _torch()
    nn, F = torch.nn, torch.nn.functional
    f = {"relu": F.relu, "tanh": torch.tanh}[activation]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5)
            self.fc1, self.fc2 = nn.Linear(320, 50), nn.Linear(50, 10)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            x = F.max_pool2d(f(self.conv1(x)), 2)
            x = F.max_pool2d(f(self.conv2(x)), 2)
            x = self.drop(f(self.fc1(x.flatten(1))))
            return F.log_softmax(self.fc2(x), dim=1)

    net = Net()
    with torch.no_grad():
        for layer, mod in (("conv1", net.conv1), ("conv2", net.conv2), ("dense1", net.fc1), ("dense2", net.fc2)):
            W = torch.as_tensor(params[f"{layer}.W"])
            mod.weight.copy_(W if W.ndim == 4 else W.T)
            mod.bias.copy_(torch.as_tensor(params[f"{layer}.b"]))
    return torch, net


def torch_w8(X, y, params, order, lr, batch_size):
    torch, net = _torch_net(params)
    X, y, order = torch.as_tensor(X), torch.as_tensor(y), torch.as_tensor(order)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    total = 0.0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        opt.zero_grad()
        loss = torch.nn.functional.nll_loss(net(X[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(order)


def torch_w9_model(params):
    torch, net = _torch_net(params)
    net.eval()

    def run(X):
        with torch.inference_mode():
            return net(torch.as_tensor(X)).exp().numpy()
    return run


# ---------------------------------------------------------------- JAX (jit per step)
def _jax_fns():
    from .jax_impl import _import

    jax, jnp = _import()
    lax = jax.lax

    def conv(x, W, b):
        y = lax.conv_general_dilated(x, W, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def logits(p, x, key=None):
        x = pool(jax.nn.relu(conv(x, p["conv1.W"], p["conv1.b"])))
        x = pool(jax.nn.relu(conv(x, p["conv2.W"], p["conv2.b"])))
        x = jax.nn.relu(x.reshape(x.shape[0], -1) @ p["dense1.W"] + p["dense1.b"])
        if key is not None:
            x = jnp.where(jax.random.bernoulli(key, 0.5, x.shape), x * 2.0, 0.0)
        return x @ p["dense2.W"] + p["dense2.b"]

    def loss(p, x, y, key):
        lp = jax.nn.log_softmax(logits(p, x, key))
        return -jnp.mean(jnp.take_along_axis(lp, y[:, None], axis=1))

    @jax.jit
    def step(p, m, v, t, x, y, key, lr):
        value, g = jax.value_and_grad(loss)(p, x, y, key)
        m = jax.tree_util.tree_map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        p = jax.tree_util.tree_map(lambda w, a, b: w - lr * (a / c1) / (jnp.sqrt(b / c2) + 1e-8), p, m, v)
        return p, m, v, value

    @jax.jit
    def probs(p, x):
        return jax.nn.softmax(logits(p, x), axis=1)

    return jax, jnp, step, probs


def jax_w8(X, y, params, order, lr, batch_size):
    jax, jnp, step, _ = _jax_fns()
    p = {k: jnp.asarray(v) for k, v in params.items()}
    m = jax.tree_util.tree_map(jnp.zeros_like, p)
    v = jax.tree_util.tree_map(jnp.zeros_like, p)
    X, y = np.asarray(X), np.asarray(y).astype(np.int32)
    key = jax.random.PRNGKey(0)
    total = 0.0
    for i, start in enumerate(range(0, len(order), batch_size)):
        idx = order[start:start + batch_size]
        key, sub = jax.random.split(key)
        p, m, v, value = step(p, m, v, float(i + 1), X[idx], y[idx], sub, lr)
        total += float(value) * len(idx)
    return total / len(order)


def jax_w9_model(params):
    jax, jnp, _, probs = _jax_fns()
    p = {k: jnp.asarray(v) for k, v in params.items()}
    return lambda X: np.asarray(probs(p, jnp.asarray(X)))


# ---------------------------------------------------------------- dispatch and floor
def callable_for(impl, workload, data):
    """(zero-argument function, calls per run) of W8/W9 for impl: fastnn-<backend>, torch, jax."""
    if impl == "numpy":
        raise ImportError("W8/W9 have no plain-NumPy version (the floor column is the NumPy GEMMs)")
    if impl.startswith("fastnn"):
        backend = impl.split("-", 1)[1]
        if workload == "w8":
            d = dict(data, X=np.ascontiguousarray(data["X"][data["order"]]), y=data["y"][data["order"]])
            return lambda: fastnn_w8(backend=backend, **d), 1
        model = fastnn_model(data["params"], backend)
        return lambda: model.predict_proba(data["X"]), 1
    if impl == "torch":
        from . import torch_impl

        if not torch_impl.available():
            raise ImportError("torch is not installed")
        if workload == "w8":
            return lambda: torch_w8(**data), 1
        run = torch_w9_model(data["params"])
        return lambda: run(data["X"]), 1
    if impl == "jax":
        from . import jax_impl

        if not jax_impl.available():
            raise ImportError("jax is not installed")
        if workload == "w8":
            return lambda: jax_w8(**data), 1
        run = jax_w9_model(data["params"])
        return lambda: run(data["X"]), 1
    raise ImportError(f"unknown implementation {impl!r}")


def _dense_products(n, training, dt):
    """(A, B, C) operands of the dense layers' products for a batch of n: forward X·W, and with
    training the weight gradients Xᵀ·D and the input gradients D·Wᵀ of dense2 and dense1."""
    shapes = [(n, 320, 50), (n, 50, 10)]
    if training:
        shapes += [(320, n, 50), (50, n, 10), (n, 10, 50), (n, 50, 320)]
    return [(np.ones((m, k), dt), np.ones((k, o), dt), np.empty((m, o), dt)) for m, k, o in shapes]


def floor(workload, data):
    """The GEMM floor of W8 (every batch of the epoch) or W9 (blocks of 1000 images): the im2col
    products of the two convolutions (bench/conv_floor.py: W·cols, and in training D·colsᵀ and,
    for conv2, Wᵀ·D) and the dense layers' products, np.matmul into preallocated arrays."""
    from fastnn import _threads

    from .conv_floor import gemm_floor

    dt = data["X"].dtype
    n_total = len(data["X"])
    training = workload == "w8"
    batch = data["batch_size"] if training else min(1000, n_total)
    threads = _threads.get_num_threads()
    workers = []
    for _ in range(threads):  # own operands per thread
        conv = gemm_floor(batch, dt, np.random.default_rng(0))
        if not training:
            conv = {k: f for k, f in conv.items() if "W·cols" in k}
        workers.append((list(conv.values()), _dense_products(batch, training, dt)))
    calls = -(-n_total // batch)

    def work(w, lo, hi):
        conv, dense = workers[w]
        for f in conv:
            f()
        for a, b, c in dense:
            np.matmul(a, b, out=c)

    # the batches shared by the threads, each product single-threaded (the best arrangement for
    # these small products on this machine: one 2-thread BLAS team per product is several times slower)
    return lambda: _threads.run_row_blocks(work, calls, 1, threads)


__all__ = ["make_w8", "make_w9", "callable_for", "floor"]
