"""JAX (CPU, float32) peers for W1–W6, written the fast idiomatic way.

``jax.jit`` + ``jax.grad`` everywhere; the loops run inside XLA: ``lax.scan`` over the
batches of an epoch (W2, W4), ``lax.fori_loop`` over the steps (W3, W6), and W6 either
one compiled loop per config (``mode="loop"``, the default: it measured ~2× faster) or
all 18 configs at once with ``vmap`` over hidden layers zero-padded to the widest and
masked (``mode="vmap"``).
The first call of each shape compiles; time later calls. jax is imported only when a
workload runs, so importing this module without jax works.
Call pattern: ``w3_train(**prepare(workloads.make_w3()))``; inputs are never modified.
"""
from __future__ import annotations

import functools
import importlib.util
from types import SimpleNamespace

import numpy as np

from .workloads import Trained

NAME = "jax"
AVAILABLE = (importlib.util.find_spec("jax") is not None
             and importlib.util.find_spec("jaxlib") is not None)
ACTIVATION_ORDER = ("tanh", "sigmoid", "relu")     # index used by lax.switch in W6 vmap


def _import():
    """Import jax, or say how to get it."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as exc:
        raise ImportError("the JAX peer benchmarks need jax: pip install jax jaxlib") from exc
    return jax, jnp


def available():
    """True when jax imports."""
    try:
        _import()
    except ImportError:
        return False
    return True


def prepare(data):
    """Device arrays for every array in a workload dict (int64 indices become int32)."""
    jax, jnp = _import()

    def conv(v):
        if isinstance(v, np.ndarray):
            return jax.device_put(v.astype(np.int32) if v.dtype == np.int64 else v)
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return {k: conv(v) for k, v in data.items()}


def _numpy(params):
    """(weights, biases) as NumPy arrays from a list of (W, b) pairs."""
    weights = [np.asarray(W) for W, _ in params]
    no_bias = np.ndim(params[0][1]) == 0                # _pairs puts a scalar 0 there
    biases = None if no_bias else [np.asarray(b) for _, b in params]
    return weights, biases


@functools.lru_cache(maxsize=None)
def _k():
    """Build (once) the jitted kernels."""
    jax, jnp = _import()
    from jax import lax

    acts = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "relu": jax.nn.relu}

    def sgd(params, grads, lr):
        return jax.tree.map(lambda p, g: p - lr * g, params, grads)

    def logits(params, X, act):
        a = X
        for W, b in params[:-1]:
            a = acts[act](a @ W + b)
        W, b = params[-1]
        return a @ W + b

    def ce(params, X, Y, act):
        """mean cross-entropy of softmax(logits) against one-hot Y"""
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(logits(params, X, act)), axis=1))

    def mse_sum(weights, X, T):
        a = X
        for W in weights:
            a = jax.nn.sigmoid(a @ W)
        return jnp.sum((a - T) ** 2)

    @jax.jit
    def w1_step(weights, X, T, lr):
        loss, grads = jax.value_and_grad(mse_sum)(weights, X, T)
        return loss / X.shape[0], sgd(weights, grads, lr)

    @functools.partial(jax.jit, static_argnames="act")
    def sgd_batches(params, X, Y, idx, lr, act):
        """lax.scan over the rows of idx (n_batches, batch): one SGD step per row."""
        def body(carry, ib):
            p, total = carry
            loss, g = jax.value_and_grad(ce)(p, X[ib], Y[ib], act)
            return (sgd(p, g, lr), total + loss * ib.shape[0]), None
        (params, total), _ = lax.scan(body, (params, jnp.zeros((), X.dtype)), idx)
        return params, total

    @functools.partial(jax.jit, static_argnames=("act", "steps"))
    def train_full(params, X, Y, lr, act, steps):
        """lax.fori_loop over full-batch steps; returns params and final loss."""
        def body(_, p):
            return sgd(p, jax.grad(ce)(p, X, Y, act), lr)
        params = lax.fori_loop(0, steps, body, params)
        return params, ce(params, X, Y, act)

    @functools.partial(jax.jit, static_argnames="steps")
    def train_padded(params, masks, act_ids, X, Y, lr, steps):
        """vmap of train_full over configs padded to one width (masked units stay 0)."""
        def one(p, mask, aid):
            def loss(p):
                (W1, b1), (W2, b2) = p
                a1 = lax.switch(aid, [acts[a] for a in ACTIVATION_ORDER], X @ W1 + b1)
                z = (a1 * mask) @ W2 + b2
                return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(z), axis=1))
            p = lax.fori_loop(0, steps, lambda _, p: sgd(p, jax.grad(loss)(p), lr), p)
            return p, loss(p)
        return jax.vmap(one)(params, masks, act_ids)

    @jax.jit
    def forward_proba(params, X):
        return jax.nn.softmax(logits(params, X, "sigmoid"), axis=1)

    return SimpleNamespace(jnp=jnp, w1_step=w1_step, sgd_batches=sgd_batches,
                           train_full=train_full, train_padded=train_padded,
                           forward_proba=forward_proba)


def _pairs(weights, biases):
    """[(W, b), ...] with b = 0 when there are no biases (jnp arrays)."""
    jnp = _k().jnp
    ws = [jnp.asarray(W) for W in weights]
    bs = [jnp.asarray(b) for b in biases] if biases is not None else [0.0] * len(ws)
    return list(zip(ws, bs))


# ---------------------------------------------------------------- W1

def w1_step(X, Y, weights, lr):
    """W1: one full-batch step, sigmoid everywhere, MSE with reduction="sum", no bias."""
    k = _k()
    jnp = k.jnp
    loss, new = k.w1_step([jnp.asarray(W) for W in weights], jnp.asarray(X),
                          jnp.asarray(Y), lr)
    return Trained(float(loss), [np.asarray(W) for W in new], None)


# ---------------------------------------------------------------- W2 and W4

def _sgd_epoch(X, Y, weights, biases, order, lr, batch_size):
    """Mini-batch SGD over ``order``: scan over the full batches, then the short tail."""
    k = _k()
    jnp = k.jnp
    X, Y, order = jnp.asarray(X), jnp.asarray(Y), jnp.asarray(order)
    params = _pairs(weights, biases)
    n_full = len(order) // batch_size
    params, total = k.sgd_batches(params, X, Y, order[:n_full * batch_size].reshape(
        n_full, batch_size), lr, "sigmoid")
    if n_full * batch_size < len(order):
        params, tail = k.sgd_batches(params, X, Y, order[n_full * batch_size:][None, :],
                                     lr, "sigmoid")
        total = total + tail
    return Trained(float(total) / len(order), *_numpy(params))


def w2_epoch(X, y, Y, weights, biases, order, lr, batch_size):
    """W2: one epoch of mini-batch SGD (batch 64), 784-300-10, sigmoid + softmax-CE."""
    return _sgd_epoch(X, Y, weights, biases, order, lr, batch_size)


def w4_epoch(X, y, Y, weights, biases, order, lr):
    """W4: per-sample SGD (batch 1) over ``order``, 784-300-10, sigmoid + softmax-CE."""
    return _sgd_epoch(X, Y, weights, biases, order, lr, 1)


# ---------------------------------------------------------------- W3 and W6

def train_full_batch(X, y, Y, weights, biases, activation, lr, steps):
    """Full-batch gradient descent in one jitted lax.fori_loop; final loss and parameters."""
    k = _k()
    params, loss = k.train_full(_pairs(weights, biases), k.jnp.asarray(X), k.jnp.asarray(Y),
                                lr, activation, steps)
    return Trained(float(loss), *_numpy(params))


def w3_train(X, y, Y, weights, biases, activation, lr, steps):
    """W3: 2-3-2 tanh net on moons, jax.jit + lax.fori_loop over the steps."""
    return train_full_batch(X, y, Y, weights, biases, activation, lr, steps)


def w6_sweep(X, y, Y, configs, lr, steps, mode="loop"):
    """W6: the D2 × D1 grid, all configs in one vmapped call ("vmap") or one by one ("loop")."""
    if mode == "loop":
        return [train_full_batch(X, y, Y, c["weights"], c["biases"], c["activation"], lr, steps)
                for c in configs]
    k = _k()
    jnp = k.jnp
    widths = [c["weights"][0].shape[1] for c in configs]
    h = max(widths)

    def pad(a, shape):
        return jnp.zeros(shape, a.dtype).at[tuple(slice(0, s) for s in a.shape)].set(a)

    def stack(i, j, shape):
        return jnp.stack([pad(jnp.asarray(c[i][j]), shape) for c in configs])

    n_in, n_out = configs[0]["weights"][0].shape[0], configs[0]["weights"][1].shape[1]
    params = [(stack("weights", 0, (n_in, h)), stack("biases", 0, (h,))),
              (stack("weights", 1, (h, n_out)), stack("biases", 1, (n_out,)))]
    masks = jnp.asarray(np.arange(h)[None, :] < np.array(widths)[:, None], X.dtype)
    act_ids = jnp.asarray([ACTIVATION_ORDER.index(c["activation"]) for c in configs])
    params, losses = k.train_padded(params, masks, act_ids, jnp.asarray(X), jnp.asarray(Y),
                                    lr, steps)
    (W1, b1), (W2, b2) = [(np.asarray(W), np.asarray(b)) for W, b in params]
    losses = np.asarray(losses)
    return [Trained(float(losses[i]), [W1[i, :, :w], W2[i, :w, :]], [b1[i, :w], b2[i]])
            for i, w in enumerate(widths)]


# ---------------------------------------------------------------- W5

def w5_forward(X, weights, biases):
    """W5: class probabilities of a sigmoid-hidden, softmax-output MLP."""
    k = _k()
    return np.asarray(k.forward_proba(_pairs(weights, biases), k.jnp.asarray(X)))
