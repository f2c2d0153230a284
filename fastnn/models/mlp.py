"""DeepMLP and MLP: fully connected networks a user builds, trains, inspects and saves.

The model turns the user's options into a ``DenseNet`` (what the engines execute) and a
``Parameters`` object (θ and its per-layer views); training runs through the shared trainer
(fastnn.train), which asks the model for validated data and for an engine (fastnn.engines).
"""
from __future__ import annotations

import numpy as np

from .. import activations as act_mod
from .. import codes, config, initializers
from ..backends import validate_name
from ..engines import ENGINE_CLASSES, KernelEngine, choose_engine, forward_rows, kernel_backend
from ..sparse import first_layer_rows
from ..train.optim import SGD
from ..validation import (all_finite, check_arrays, check_bool, check_choice, check_dtype, check_hyper,
                          check_layer_dims, check_seed, check_targets, check_X, nonfinite_error)
from .base import Model
from .network import DenseNet
from .parameters import Parameters

LOSSES = {
    "mse": "mse", "mean_squared_error": "mse",
    "cross_entropy": "cross_entropy", "ce": "cross_entropy", "categorical_cross_entropy": "cross_entropy",
    "log_loss": "cross_entropy",
    "bce": "bce", "binary_cross_entropy": "bce",
}
LOSS_CODES = {"cross_entropy": codes.LOSS_SOFTMAX_CE, "bce": codes.LOSS_SIGMOID_BCE, "mse": codes.LOSS_MSE}


def _per_layer(value, n, name):
    """Broadcast a scalar (or check a list) to one value per layer."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries but the network has {n} hidden layers")
        return list(value)
    return [value] * n


class DeepMLP(Model):
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
        self.net = DenseNet(self.layer_dims, self.activations, LOSS_CODES[self.loss], self.bias, self.dtype)
        self.parameters = Parameters(self.net.param_specs(), self.dtype)
        self.optimizer_ = None
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

    @property
    def weights(self):
        """Weight matrices W_l of shape (fan_in, fan_out): views, writable in place."""
        return [self.parameters[f"W{l}"] for l in range(self.net.n_layers)]

    @property
    def biases(self):
        """Bias vectors (views), or None per layer when bias=False."""
        return [self.parameters.get(self.params, f"b{l}") for l in range(self.net.n_layers)]

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
        self.optimizer_ = None
        return self

    def describe(self):
        acts = [a.name for a in self.activations[:-1]]
        act = acts[0] if len(set(acts)) == 1 and acts else "/".join(acts) or "-"
        return f"{'-'.join(map(str, self.layer_dims))} {act}→{self.output}"

    def __repr__(self):
        return (f"DeepMLP(layer_dims={self.layer_dims}, activation={self.activation!r}, output={self.output!r}, "
                f"loss={self.loss!r}, k={self.k!r}, bias={self.bias}, init={self.init!r}, "
                f"dtype={self.dtype.name}, backend={self.backend!r}, seed={self.seed!r})")

    # ------------------------------------------------------------------ what the trainer asks for
    def _training_data(self, X, y):
        """(X, Y one-hot or targets, integer labels) validated for this network."""
        if np.ndim(y) == 0:
            raise TypeError(f"y must be an array with one label (or target row) per sample, got the scalar {y!r}")
        X = check_X(X, self.layer_dims[0], self.dtype)
        Y, labels = check_targets(y, X.shape[0], self.layer_dims[-1], self.task, self.dtype)
        return X, Y, labels

    def _validation_data(self, X, y):
        X = check_X(X, self.layer_dims[0], self.dtype, name="validation X")
        try:
            check_targets(y, X.shape[0], self.layer_dims[-1], self.task, self.dtype)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"validation_data: the validation targets do not fit: {exc}") from None
        return X, y

    def _make_engine(self, X, Y, labels, batch, cfg, optimizer):
        """The engine that runs this fit's steps (auto by the work of a step, or cfg.engine)."""
        full_batch = batch >= X.shape[0]
        kind, backend = choose_engine(self.backend, batch, full_batch, self.layer_dims, cfg.engine)
        args = (self.net, self.parameters, optimizer, X, Y, labels, batch, cfg.reduction == "mean")
        if kind in ENGINE_CLASSES:
            return ENGINE_CLASSES[kind](*args)
        # without layer recording nobody reads the activations after the backward pass
        return KernelEngine(backend, *args, share_deltas=cfg.record is None,
                            row_block=config.ROW_BLOCK if cfg.record is None else None)

    # ------------------------------------------------------------------ inference
    def _kernels(self):
        return kernel_backend(self.backend)

    def forward(self, X, return_all=False, logits=False):
        """Output activations (probabilities for softmax/sigmoid outputs); with
        ``return_all=True`` the list of every layer's activations. ``logits=True`` leaves
        the output layer linear.

        Without ``return_all`` large inputs go through the network in blocks of rows, one
        block per core at a time, so that each block's activations are still in cache when
        the next layer reads them."""
        from .. import _threads

        return_all, logits = check_bool(return_all, "return_all"), check_bool(logits, "logits")
        _threads.ensure_configured()
        be = self._kernels()
        threads = _threads.get_num_threads() if getattr(be, "RELEASES_GIL", False) else 1
        X = check_X(X, self.layer_dims[0], self.dtype, finite=False)  # NaN/inf: checked below
        n = X.shape[0]
        block_parallel = not return_all and threads > 1 and n >= 2 * config.FORWARD_BLOCK
        if not block_parallel and not all_finite(X):
            raise nonfinite_error(X)
        # mostly-zero inputs (images): the first layer skips the zeros (density judged on a sample)
        sparse = first_layer_rows(be, X, config.FORWARD_BLOCK if block_parallel else n, estimate=True)
        if return_all:
            outs = [np.empty((n, m), dtype=self.dtype) for m in self.layer_dims[1:]]
            self._forward_rows(X, outs, logits, sparse=sparse)
            return outs
        out = np.empty((n, self.layer_dims[-1]), dtype=self.dtype)
        if not block_parallel:
            hidden = [np.empty((n, m), dtype=self.dtype) for m in self.layer_dims[1:-1]]
            self._forward_rows(X, hidden + [out], logits, sparse=sparse)
            return out
        # large inputs: blocks of rows, each pushed through every layer by one thread while it
        # is in cache (single-threaded GEMMs, see _threads.run_row_blocks); NaN/inf in X is
        # caught from the first layer's X·W (cached, a third of X's size) instead of a pass over X
        block = config.FORWARD_BLOCK
        threads = min(threads, -(-n // block))  # no scratch for threads without a block
        scratch = [[np.empty((block, m), dtype=self.dtype) for m in self.layer_dims[1:-1]]
                   for _ in range(threads)]
        finite = [True] * threads

        def work(w, lo, hi):
            if finite[w]:
                outs = [h[:hi - lo] for h in scratch[w]] + [out[lo:hi]]
                finite[w] = self._forward_rows(X[lo:hi], outs, logits, check=True,
                                               sparse=None if sparse is None else sparse.block(lo, hi))

        _threads.run_row_blocks(work, n, block, threads)
        if not all(finite):
            if not all_finite(X):
                raise nonfinite_error(X)
            raise ValueError("X·W of the first layer overflows to inf: the inputs are too large for the "
                             f"model's {np.dtype(self.dtype).name} weights; scale them (e.g. to [0, 1])")
        return out

    def _forward_rows(self, X, outs, logits, check=False, sparse=None):
        """outs[l] := activations of layer l for the rows of X (see engines.forward_rows; ``sparse``:
        the same rows in sparse form, for the first layer); a softmax output is normalised unless
        ``logits``. With check, returns whether the first layer's X·W was all finite."""
        be = self._kernels()
        out_act = codes.ACT_LINEAR if (logits and codes.output_is_linear(self.net.loss_code)) else int(self.net.acts[-1])
        if not forward_rows(be, self.net, self.parameters, X, outs, out_act, check=check, sparse=sparse):
            return False
        if self.output == "softmax" and not logits:
            be.softmax(outs[-1])
        return True

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

    def loss_and_gradients(self, X, y, reduction="mean", gradients=True, engine="kernels"):
        """(mean loss, [dW_l], [db_l]) of the loss on (X, y); gradients of the summed loss
        for reduction="sum", of the mean loss for "mean". ``engine`` computes them ("kernels":
        the backend's kernels, the reference; "cloop"/"loop": a whole-loop engine); the model
        and its optimiser are not changed."""
        check_choice(reduction, "reduction", ("mean", "sum"))
        gradients = check_bool(gradients, "gradients")
        X, Y, labels = self._training_data(X, y)
        n = X.shape[0]
        kind, backend = choose_engine(self.backend, n, True, self.layer_dims, engine)
        args = (self.net, self.parameters, SGD(), X, Y, labels, n, reduction == "mean")
        eng = ENGINE_CLASSES[kind](*args) if kind in ENGINE_CLASSES else KernelEngine(backend, *args,
                                                                                      row_block=config.ROW_BLOCK)
        loss, grad = eng.gradient()
        mean_loss = float(loss) / n
        if not gradients:
            return mean_loss, None, None
        L, p = self.net.n_layers, self.parameters
        dWs = [p.view(grad, f"W{l}").copy() for l in range(L)]
        dbs = [None if f"b{l}" not in p else p.view(grad, f"b{l}").copy() for l in range(L)]
        return mean_loss, dWs, dbs

    def copy(self):
        new = DeepMLP.__new__(DeepMLP)
        new.__dict__.update(self.__dict__)
        new.parameters = self.parameters.copy()
        new.optimizer_ = None
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
