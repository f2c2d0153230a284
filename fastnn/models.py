"""DeepMLP and MLP: the models a user builds, trains, inspects and saves."""
from __future__ import annotations

import numpy as np

from . import activations as act_mod
from . import initializers
from .backends import get_backend, validate_name
from .engines import A_OFF, B_OFF, D_OFF, FAN_IN, FAN_OUT, MSE, SIGMOID_BCE, SOFTMAX_CE, W_OFF
from .validation import (all_finite, check_arrays, check_bool, check_choice, check_dtype, check_hyper,
                         check_layer_dims, check_seed, check_targets, check_X, nonfinite_error)

# forward() on at least 2 blocks of this many rows runs block-parallel (measured on W5,
# 10000×784→256→128→10: 1024-row blocks 20.5 ms, 512: 21.0, 2048: 23.5, unblocked 26)
PARALLEL_FORWARD_BLOCK = 1024

LOSSES = {
    "mse": "mse", "mean_squared_error": "mse",
    "cross_entropy": "cross_entropy", "ce": "cross_entropy", "categorical_cross_entropy": "cross_entropy",
    "log_loss": "cross_entropy",
    "bce": "bce", "binary_cross_entropy": "bce",
}


def _per_layer(value, n, name):
    """Broadcast a scalar (or check a list) to one value per layer."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries but the network has {n} hidden layers")
        return list(value)
    return [value] * n


class DeepMLP:
    """A fully connected network ``layer_dims[0] → … → layer_dims[-1]``.

    Parameters
    ----------
    layer_dims : list of int, e.g. ``[784, 256, 128, 10]``.
    activation : hidden activation name, or one per hidden layer: sigmoid, tanh, relu,
        relu6, leaky_relu, linear.
    output : "softmax" | "sigmoid" | "linear" | any hidden activation name.
    loss : "cross_entropy" (softmax output; with a sigmoid output it means binary CE),
        "bce", "mse", or None to pick the canonical loss of the output.
    k : steepness of sigmoid/tanh, σ(kx) and tanh(kx) (scalar or per hidden layer);
        ``output_k`` for the output layer (defaults to k when it is a scalar).
    alpha : slope of leaky_relu for negative inputs.
    bias : include bias vectors.
    init : "uniform" (U[-1, 1]), "normal", "lecun", "he", "xavier"/"glorot",
        "xavier_uniform", "poisson", a tuple such as ("uniform", 0.5) / ("normal", 0.1)
        / ("poisson", 1, 0.25), or a callable ``f(rng, fan_in, fan_out)``.
    dtype : np.float32 (default) or np.float64.
    backend : "auto" | "numpy" | "numba" | "cython".
    seed : seeds the initial weights (and the default shuffling).
    """

    def __init__(self, layer_dims, activation="sigmoid", output="softmax", loss=None, k=1.0, bias=True,
                 init="xavier", dtype=np.float32, backend="auto", seed=None, alpha=0.01, output_k=None):
        self.layer_dims = check_layer_dims(layer_dims)
        n_hidden = len(self.layer_dims) - 2
        self.dtype = check_dtype(dtype)
        self.backend = validate_name(backend)
        self.seed = check_seed(seed)
        self.bias = check_bool(bias, "bias")
        self.init = init
        initializers.resolve(init)  # fail early on unknown names and bad parameters
        check_hyper(k, alpha, output_k)

        acts = _per_layer(activation, n_hidden, "activation")
        ks = _per_layer(k, n_hidden, "k")
        hidden = [act_mod.resolve(a, kk, alpha) for a, kk in zip(acts, ks)]
        if output_k is None:
            output_k = k if not isinstance(k, (list, tuple)) else 1.0
        out = act_mod.resolve(output, output_k, alpha, allow_softmax=True)
        self.activation = activation
        self.output = out.name
        self.k = k
        self.alpha = alpha
        self.loss = self._resolve_loss(loss, out.name)
        if out.name == "softmax":  # softmax is fused with CE; the layer itself is linear
            out = act_mod.Activation("linear", out.k, out.alpha)
        self.activations = hidden + [out]
        self._loss_kind = {"cross_entropy": SOFTMAX_CE, "bce": SIGMOID_BCE, "mse": MSE}[self.loss]
        n_out = self.layer_dims[-1]
        if self.loss == "cross_entropy" and n_out < 2:
            raise ValueError("a softmax output needs at least 2 units; for two classes use 2 outputs "
                             "or output='sigmoid' with 1 unit and loss='bce'")
        if self.loss == "mse" and self.output != "sigmoid":  # linear, tanh, relu… heads: real targets
            self.task = "regression"
        elif self.loss == "bce" and n_out == 1:
            self.task = "binary"
        else:
            self.task = "multiclass"
        self._build_layout()
        self._theta = np.zeros(self._n_params, dtype=self.dtype)
        self._opt_state = None
        self._opt_t = 0
        self._fitted = False
        self.history_ = None
        self.reset(seed)

    # ------------------------------------------------------------------ structure
    @staticmethod
    def _resolve_loss(loss, output):
        if loss is None:
            loss = {"softmax": "cross_entropy", "sigmoid": "bce"}.get(output, "mse")
        if not isinstance(loss, str) or loss.lower() not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; choose 'cross_entropy', 'bce' or 'mse'")
        loss = LOSSES[loss.lower()]
        if loss == "cross_entropy" and output == "sigmoid":
            loss = "bce"  # sigmoid outputs + cross-entropy is the binary (per-unit) cross-entropy
        if loss == "cross_entropy" and output != "softmax":
            raise ValueError(f"loss='cross_entropy' needs output='softmax' (or 'sigmoid'), got output={output!r}")
        if loss == "bce" and output != "sigmoid":
            raise ValueError(f"loss='bce' needs output='sigmoid', got output={output!r}")
        if loss == "mse" and output == "softmax":
            raise ValueError("output='softmax' is trained with loss='cross_entropy'; for MSE use "
                             "output='sigmoid' or 'linear'")
        return loss

    def _build_layout(self):
        L = len(self.layer_dims) - 1
        layout = np.zeros((L, 6), dtype=np.int64)
        off = 0
        for l in range(L):
            fi, fo = self.layer_dims[l], self.layer_dims[l + 1]
            layout[l, FAN_IN], layout[l, FAN_OUT], layout[l, W_OFF] = fi, fo, off
            off += fi * fo
            if self.bias:
                layout[l, B_OFF] = off
                off += fo
            else:
                layout[l, B_OFF] = -1
            layout[l, A_OFF] = layout[l, D_OFF] = 0
        self._layout = layout
        self._n_params = off

    def _param_view(self, flat, l, kind):
        fi, fo = int(self._layout[l, FAN_IN]), int(self._layout[l, FAN_OUT])
        if kind == "W":
            o = int(self._layout[l, W_OFF])
            return flat[o:o + fi * fo].reshape(fi, fo)
        o = int(self._layout[l, B_OFF])
        return None if o < 0 else flat[o:o + fo]

    def _segments(self):
        """(offset, size, is_weight) of every parameter array in the flat vector."""
        out = []
        for l in range(len(self.layer_dims) - 1):
            fi, fo = int(self._layout[l, FAN_IN]), int(self._layout[l, FAN_OUT])
            out.append((int(self._layout[l, W_OFF]), fi * fo, True))
            if self._layout[l, B_OFF] >= 0:
                out.append((int(self._layout[l, B_OFF]), fo, False))
        return out

    @property
    def weights(self):
        """Weight matrices W_l of shape (fan_in, fan_out): views, writable in place."""
        return [self._param_view(self._theta, l, "W") for l in range(len(self.layer_dims) - 1)]

    @property
    def biases(self):
        """Bias vectors (views), or None per layer when bias=False."""
        return [self._param_view(self._theta, l, "b") for l in range(len(self.layer_dims) - 1)]

    @property
    def params(self):
        """All parameters as one flat vector (a view)."""
        return self._theta

    @property
    def n_params(self):
        return self._theta.size

    def set_params(self, weights, biases=None):
        """Copy given weight (and bias) arrays into the model, checking shapes and finiteness
        first (a refused call changes nothing)."""
        Ws = check_arrays(weights, [W.shape for W in self.weights], "weights", self.dtype)
        bs = None if biases is None else check_arrays(
            biases, [None if b is None else b.shape for b in self.biases], "biases", self.dtype)
        for W, new in zip(self.weights, Ws):
            W[...] = new
        for b, new in zip(self.biases, bs or ()):
            if new is not None:
                b[...] = new
        return self

    def reset(self, seed=None):
        """Draw fresh initial weights (biases start at 0) and clear optimiser state."""
        rng = np.random.default_rng(check_seed(seed))
        for l in range(len(self.layer_dims) - 1):
            fi, fo = self.layer_dims[l], self.layer_dims[l + 1]
            self.weights[l][...] = initializers.initialize(self.init, rng, fi, fo)
            if self.bias:
                self.biases[l][...] = 0
        self._opt_state = None
        self._opt_t = 0
        return self

    def _optimizer_state(self, optimizer):
        if self._opt_state is None or self._opt_state[0] != optimizer:
            size = self._theta.size if optimizer != "sgd" else 1
            self._opt_state = (optimizer, np.zeros(size, self.dtype),
                               np.zeros(self._theta.size if optimizer == "adam" else 1, self.dtype))
            self._opt_t = 0
        return self._opt_state[1], self._opt_state[2]

    def describe(self):
        acts = [a.name for a in self.activations[:-1]]
        act = acts[0] if len(set(acts)) == 1 and acts else "/".join(acts) or "-"
        return f"{'-'.join(map(str, self.layer_dims))} {act}→{self.output}"

    def __repr__(self):
        return (f"DeepMLP(layer_dims={self.layer_dims}, activation={self.activation!r}, output={self.output!r}, "
                f"loss={self.loss!r}, k={self.k!r}, bias={self.bias}, init={self.init!r}, "
                f"dtype={self.dtype.name}, backend={self.backend!r}, seed={self.seed!r})")

    # ------------------------------------------------------------------ training
    def fit(self, X, y, *, epochs=None, iterations=None, lr=0.01, batch_size=None, reduction="mean",
            optimizer="sgd", momentum=0.9, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
            schedule="constant", validation_data=None, validation_every=None, callbacks=(), shuffle=True,
            seed=None, record=None, record_every=10, progress=True, on_divergence="raise"):
        """Train in place and return a :class:`~fastnn.history.History`.

        ``batch_size=None`` is full-batch gradient descent (one step per iteration), an int
        gives mini-batches (1 = per-sample SGD). ``reduction="sum"`` sums gradients over the
        batch (the classic notebooks' lr·Σ), ``"mean"`` averages them. Give ``iterations``
        (optimiser steps) or ``epochs`` (passes over X; default 10). ``optimizer``: "sgd",
        "momentum" (``momentum``), "adam" (``betas``, ``eps``); ``weight_decay`` is an L2
        penalty on the weights. ``schedule``: "constant", ("cosine", {"lr_min":…, "cycles":…}),
        ("step", {"step_size":…, "gamma":…}) or f(step, total). ``record="layers"`` keeps
        per-layer statistics every ``record_every`` steps. On NaN/inf the run stops with
        :class:`~fastnn.training.TrainingDiverged` (or just stops when ``on_divergence="stop"``).
        """
        from .training import fit

        return fit(self, X, y, epochs=epochs, iterations=iterations, lr=lr, batch_size=batch_size,
                   reduction=reduction, optimizer=optimizer, momentum=momentum, betas=betas, eps=eps,
                   weight_decay=weight_decay, schedule=schedule, validation_data=validation_data,
                   validation_every=validation_every, callbacks=callbacks, shuffle=shuffle, seed=seed,
                   record=record, record_every=record_every, progress=progress, on_divergence=on_divergence)

    # ------------------------------------------------------------------ inference
    def _kernels(self):
        if self.backend != "auto":
            return get_backend(self.backend)
        for name in ("cython", "numba", "numpy"):
            try:
                return get_backend(name)
            except ImportError:
                continue

    def forward(self, X, return_all=False, logits=False):
        """Output activations (probabilities for softmax/sigmoid outputs); with
        ``return_all=True`` the list of every layer's activations. ``logits=True`` leaves
        the output layer linear.

        Without ``return_all`` large inputs go through the network in blocks of rows, one
        block per core at a time, so that each block's activations are still in cache when
        the next layer reads them."""
        from . import _threads

        return_all, logits = check_bool(return_all, "return_all"), check_bool(logits, "logits")
        _threads.ensure_configured()
        be = self._kernels()
        threads = _threads.get_num_threads() if getattr(be, "RELEASES_GIL", False) else 1
        X = check_X(X, self.layer_dims[0], self.dtype, finite=False)  # NaN/inf: checked below
        n = X.shape[0]
        block_parallel = not return_all and threads > 1 and n >= 2 * PARALLEL_FORWARD_BLOCK
        if not block_parallel and not all_finite(X):
            raise nonfinite_error(X)
        if return_all:
            outs = [np.empty((n, m), dtype=self.dtype) for m in self.layer_dims[1:]]
            self._forward_rows(X, outs, logits)
            return outs
        out = np.empty((n, self.layer_dims[-1]), dtype=self.dtype)
        if not block_parallel:
            hidden = [np.empty((n, m), dtype=self.dtype) for m in self.layer_dims[1:-1]]
            self._forward_rows(X, hidden + [out], logits)
            return out
        # large inputs: blocks of rows, each pushed through every layer by one thread while it
        # is in cache (single-threaded GEMMs, see _threads.run_row_blocks); NaN/inf in X is
        # caught from the first layer's X·W (cached, a third of X's size) instead of a pass over X
        block = PARALLEL_FORWARD_BLOCK
        threads = min(threads, -(-n // block))  # no scratch for threads without a block
        scratch = [[np.empty((block, m), dtype=self.dtype) for m in self.layer_dims[1:-1]]
                   for _ in range(threads)]
        finite = [True] * threads

        def work(w, lo, hi):
            if finite[w]:
                outs = [h[:hi - lo] for h in scratch[w]] + [out[lo:hi]]
                finite[w] = self._forward_rows(X[lo:hi], outs, logits, check=True)

        _threads.run_row_blocks(work, n, block, threads)
        if not all(finite):
            if not all_finite(X):
                raise nonfinite_error(X)
            raise ValueError("X·W of the first layer overflows to inf: the inputs are too large for the "
                             f"model's {np.dtype(self.dtype).name} weights; scale them (e.g. to [0, 1])")
        return out

    def _forward_rows(self, X, outs, logits, check=False):
        """outs[l] := activations of layer l for the rows of X (preallocated, C-contiguous).
        With check, returns whether the first layer's X·W was all finite."""
        be = self._kernels()
        inp = X
        L = len(self.layer_dims) - 1
        for l in range(L):
            a = self.activations[l]
            act = act_mod.LINEAR if (l == L - 1 and self.loss == "bce" and logits) else a.code
            ok = be.dense_forward(inp, self.weights[l], self.biases[l], outs[l], act, a.k, a.alpha,
                                  check=check and l == 0)
            if check and l == 0 and not ok:
                return False
            if l == L - 1 and self.output == "softmax" and not logits:
                be.softmax(outs[l])
            inp = outs[l]
        return True

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes); for one sigmoid unit, [1 − p, p]."""
        if self.task == "regression":
            raise TypeError("predict_proba is for classifiers; this model has a linear output (regression)")
        P = self.forward(X)
        if self.task == "binary":
            return np.hstack([1 - P, P])
        return P

    def predict(self, X):
        """Class labels (argmax of the outputs), or the outputs for regression models."""
        out = self.forward(X)
        if self.task == "regression":
            return out[:, 0] if out.shape[1] == 1 else out
        if self.task == "binary":
            return (out[:, 0] > 0.5).astype(np.int64)
        return np.argmax(out, axis=1)

    def score(self, X, y):
        """Accuracy for classifiers, R² for regression."""
        if self.task == "regression":
            X = check_X(X, self.layer_dims[0], self.dtype)
            y, _ = check_targets(y, X.shape[0], self.layer_dims[-1], self.task, np.float64)
            pred = np.asarray(self.predict(X), dtype=np.float64).reshape(y.shape)
            ss_res = ((y - pred) ** 2).sum()
            ss_tot = ((y - y.mean(axis=0)) ** 2).sum()
            return float(1 - ss_res / ss_tot) if ss_tot > 0 else 0.0
        X = check_X(X, self.layer_dims[0], self.dtype)
        _, labels = check_targets(y, X.shape[0], self.layer_dims[-1], self.task, self.dtype)
        return float(np.mean(self.predict(X) == labels))

    def evaluate(self, X, y):
        """(mean loss, accuracy) on (X, y) without changing the model (accuracy NaN for regression)."""
        loss, _, _ = self.loss_and_gradients(X, y, reduction="mean", gradients=False)
        acc = self.score(X, y) if self.task != "regression" else float("nan")
        return loss, acc

    def loss_and_gradients(self, X, y, reduction="mean", gradients=True):
        """(mean loss, [dW_l], [db_l]) of the loss on (X, y); gradients of the summed loss
        for reduction="sum", of the mean loss for "mean" (reference NumPy computation
        through the chosen backend's kernels)."""
        from .engines import ROW_BLOCK, KernelEngine

        check_choice(reduction, "reduction", ("mean", "sum"))
        gradients = check_bool(gradients, "gradients")

        X = check_X(X, self.layer_dims[0], self.dtype)
        Y, labels = check_targets(y, X.shape[0], self.layer_dims[-1], self.task, self.dtype)
        state, t = self._opt_state, self._opt_t
        eng = KernelEngine(self._kernels(), self, X, Y, labels, X.shape[0], "sgd", (0.0, 0.9, 0.999, 1e-8),
                           0.0, reduction == "mean", row_block=ROW_BLOCK)
        self._opt_state, self._opt_t = state, t  # the engine asked for SGD state; the model keeps its own
        loss, _ = eng._step(X, Y, X.shape[0], 0.0, 1, update=False)
        mean_loss = float(loss) / X.shape[0]
        if not gradients:
            return mean_loss, None, None
        L = len(self.layer_dims) - 1
        dWs = [self._param_view(eng.grad, l, "W").copy() for l in range(L)]
        dbs = [None if self._param_view(eng.grad, l, "b") is None else self._param_view(eng.grad, l, "b").copy()
               for l in range(L)]
        return mean_loss, dWs, dbs

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the model to ``path`` (a versioned .npz, no pickle), atomically."""
        from .io import save_model

        return save_model(self, path)

    @classmethod
    def load(cls, path, backend="auto"):
        from .io import load_model

        return load_model(path, backend=backend)

    def copy(self):
        new = DeepMLP.__new__(DeepMLP)
        new.__dict__.update(self.__dict__)
        new._theta = self._theta.copy()
        new._opt_state = None
        new._opt_t = 0
        new.history_ = None
        return new


class MLP(DeepMLP):
    """One hidden layer: ``MLP(n_in, n_hidden, n_out, **same options as DeepMLP)``."""

    def __init__(self, n_in, n_hidden, n_out, activation="sigmoid", output="softmax", loss=None, k=1.0,
                 bias=True, init="xavier", dtype=np.float32, backend="auto", seed=None, alpha=0.01,
                 output_k=None):
        super().__init__([n_in, n_hidden, n_out], activation=activation, output=output, loss=loss, k=k,
                         bias=bias, init=init, dtype=dtype, backend=backend, seed=seed, alpha=alpha,
                         output_k=output_k)
