"""Sequential: a stack of layers (convolutions, pooling, dense, dropout) trained with softmax
cross-entropy — and ``course_cnn``, the course's small CNN (EXPERIMENTS.md E).

    >>> from fastnn import Sequential
    >>> from fastnn.layers import Conv2D, MaxPool2D, Flatten, Dense, Dropout
    >>> net = Sequential([Conv2D(1, 10, 5, activation="relu"), MaxPool2D(2),
    ...                   Conv2D(10, 20, 5, activation="relu"), MaxPool2D(2), Flatten(),
    ...                   Dense(320, 50, activation="relu"), Dropout(0.5), Dense(50, 10)],
    ...                  input_shape=(1, 28, 28), seed=0)
    >>> history = net.fit(X, y, epochs=10, lr=1e-3, optimizer="adam", batch_size=64)  # doctest: +SKIP
"""
from __future__ import annotations

import copy
import numbers

import numpy as np

from .. import initializers
from .. import layers as L
from ..backends import get_backend, validate_name
from ..validation import check_targets, check_X
from .base import Model
from .parameters import Parameters

# rows per forward block in predict/evaluate (buffers reused block to block). Measured on W9 (course
# CNN, 10,000 images, float32, Cython kernels, 2 threads; medians of 5): 250 rows 61.5 ms, 500 60.7,
# 1000 64.8, 2000 65.9, 5000 154.9 (the activations of a block stop fitting in cache).
PREDICT_BLOCK = 500
LOSSES = ("cross_entropy", "ce", "categorical_cross_entropy", "log_loss", "nll")


def _input_shape(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if not shape or len(shape) not in (1, 3) or any(isinstance(d, bool) or not isinstance(d, numbers.Integral)
                                                     or d < 1 for d in shape):
        raise ValueError("input_shape must be (channels, height, width) of positive integers, e.g. (1, 28, 28), "
                         f"or (n_features,) for a network of Dense layers; got {shape!r}")
    return tuple(int(d) for d in shape)


class Sequential(Model):
    """A feed-forward stack of :mod:`fastnn.layers`, trained with softmax cross-entropy.

    Parameters
    ----------
    layers : list of Layer (``Conv2D``, ``MaxPool2D``, ``Flatten``, ``Dense``, ``Dropout``,
        ``ReLU``/``Tanh``/``Sigmoid``…). The last one gives the class scores (logits); softmax and
        the negative log-likelihood are applied by the loss. An activation layer right after a
        linear ``Conv2D``/``Dense`` is fused into it.
    input_shape : (channels, height, width) of one sample, e.g. (1, 28, 28).
    loss : "cross_entropy" (log-softmax + NLL, fused).
    init : weight initialiser (as for DeepMLP; conv layers use fan_in = in_ch·kh·kw). Biases start at 0.
    dtype : np.float32 (default) or np.float64.
    backend : "auto" | "numpy" | "numba" | "cython".
    seed : seeds the initial weights, and (unless fit gets its own) shuffling and dropout.

    Shapes are checked here: a layer that does not fit the output of the one before it raises
    :class:`fastnn.layers.ShapeError` naming it.
    """

    kind = "sequential"
    fit_defaults = {"batch_size": 64, "record_every": 100}

    def __init__(self, layers, input_shape, loss="cross_entropy", init="he", dtype=np.float32, backend="auto",
                 seed=None):
        if isinstance(layers, L.Layer) or not isinstance(layers, (list, tuple)) or not layers:
            raise TypeError("layers must be a non-empty list of fastnn.layers objects, e.g. "
                            "[Conv2D(1, 10, 5), MaxPool2D(2), Flatten(), Dense(1440, 10)]")
        for i, layer in enumerate(layers):
            if not isinstance(layer, L.Layer):
                raise TypeError(f"layers[{i}] is {type(layer).__name__}, not a fastnn.layers layer")
        if not isinstance(loss, str) or loss.lower() not in LOSSES:
            raise ValueError(f"Sequential supports loss='cross_entropy' (log-softmax + NLL); got {loss!r}")
        self.loss = "cross_entropy"
        self.input_shape = _input_shape(input_shape)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        self.backend = validate_name(backend)
        self.init = init
        initializers.resolve(init)
        self.seed = seed
        self.task = "multiclass"
        self.layers = self._fuse([copy.copy(layer) for layer in layers])
        self._build()
        self.optimizer_ = None
        self.history_ = None
        self._fitted = False
        self.reset(seed)

    # ------------------------------------------------------------------ structure
    @staticmethod
    def _fuse(layers):
        """Fold each activation layer into a linear Conv2D/Dense right before it."""
        out = []
        for layer in layers:
            prev = out[-1] if out else None
            if isinstance(layer, L.Activation) and isinstance(prev, (L.Conv2D, L.Dense)) and prev.act.name == "linear":
                prev.act = layer.act
                continue
            out.append(layer)
        return out

    def _build(self):
        counts = {}
        shape = self.input_shape
        specs = []
        for layer in self.layers:
            counts[layer.kind] = counts.get(layer.kind, 0) + 1
            layer.name = f"{layer.kind}{counts[layer.kind]}"
            shape = layer.build(shape)
            specs += [(f"{layer.name}.{n}", s, w) for n, s, w in layer.param_specs()]
        last = self.layers[-1]
        if len(shape) != 1 or shape[0] < 2:
            raise L.ShapeError(f"the last layer, {last.describe()}, must give one score per class (at least 2) "
                               f"for the softmax, but gives {L._shape_text(shape)}; end with Flatten() and Dense")
        self.n_outputs = shape[0]
        self.parameters = Parameters(specs, self.dtype)
        self.layer_params = self._layer_views(self.parameters, self.parameters.theta)

    def _layer_views(self, params, flat):
        """Per layer, {"W": view, "b": view} of a flat vector in the parameter layout."""
        return [{n: params.view(flat, f"{layer.name}.{n}") for n, _, _ in layer.param_specs()}
                for layer in self.layers]

    @property
    def n_features(self):
        return int(np.prod(self.input_shape))

    def reset(self, seed=None):
        """Draw fresh initial weights (biases 0) and forget the optimiser state."""
        rng = np.random.default_rng(seed)
        for layer, P in zip(self.layers, self.layer_params):
            layer.init_params(P, rng, self.init)
        self.optimizer_ = None
        return self

    def describe(self):
        return " → ".join(layer.describe() for layer in self.layers)

    def summary(self) -> str:
        """A table of the layers: name, output shape, parameters."""
        lines = [f"input {tuple(self.input_shape)}"]
        for layer in self.layers:
            n = sum(int(np.prod(s)) for _, s, _ in layer.param_specs())
            lines.append(f"{layer.name:10s} {layer.describe():45s} -> {str(layer.out_shape):15s} {n:8d} params")
        lines.append(f"total {self.parameters.size} parameters ({self.dtype.name})")
        return "\n".join(lines)

    def __repr__(self):
        return (f"Sequential([{', '.join(l.describe() for l in self.layers)}], input_shape={self.input_shape}, "
                f"init={self.init!r}, dtype={self.dtype.name}, backend={self.backend!r}, seed={self.seed!r})")

    def _kernels(self):
        """The backend module: the chosen one, or for "auto" the first of cython, numba, numpy
        that has every kernel the layers need."""
        needs = {"dense_forward"} | {({"conv": "conv2d_forward", "pool": "maxpool2d_forward",
                                      "dropout": "dropout_apply"}).get(l.kind, "dense_forward") for l in self.layers}
        names = ("cython", "numba", "numpy") if self.backend == "auto" else (self.backend,)
        for name in names:
            try:
                be = get_backend(name)
            except ImportError:
                if self.backend != "auto":
                    raise
                continue
            missing = [k for k in needs if not hasattr(be, k)]
            if not missing:
                return be
            if self.backend != "auto":
                raise ImportError(f"backend {name!r} has no {', '.join(sorted(missing))} kernel; "
                                  f"use backend='auto' or 'numpy'")
        raise ImportError("no fastnn backend with the CNN kernels could be imported")  # pragma: no cover

    # ------------------------------------------------------------------ data
    def _check_X(self, X, name="X"):
        """(n, C, H, W) C-contiguous in the model's dtype from (n, C, H, W), (n, H, W) for one
        channel, or flat (n, C·H·W)."""
        if isinstance(X, np.ndarray) and X.ndim == len(self.input_shape) + 1 and X.shape[1:] != self.input_shape:
            raise ValueError(f"{name} has samples of shape {X.shape[1:]} but the model's input_shape is "
                             f"{self.input_shape}")
        Xa = np.asarray(X) if not isinstance(X, (str, bytes)) and X is not None else X
        if isinstance(Xa, np.ndarray) and Xa.ndim >= 2:
            n = Xa.shape[0]
            if Xa.ndim == 3 and len(self.input_shape) == 3 and self.input_shape[0] == 1 \
                    and Xa.shape[1:] != self.input_shape[1:]:
                raise ValueError(f"{name} has images of shape {Xa.shape[1:]} but the model expects "
                                 f"{self.input_shape[1:]}")
            if Xa.ndim > 2 and int(np.prod(Xa.shape[1:])) == self.n_features:
                Xa = Xa.reshape(n, -1)
            elif Xa.ndim > 2:
                raise ValueError(f"{name} has samples of shape {Xa.shape[1:]} but the model's input_shape is "
                                 f"{self.input_shape}")
        flat = check_X(Xa, self.n_features, self.dtype, name=name)
        return flat.reshape((flat.shape[0],) + self.input_shape)

    def _training_data(self, X, y):
        """(X as (n, C, H, W), one-hot Y, integer labels) validated."""
        X = self._check_X(X)
        Y, labels = check_targets(y, X.shape[0], self.n_outputs, self.task, self.dtype)
        return X, Y, labels

    def _validation_data(self, X, y):
        try:
            X, _, _ = self._training_data(X, y)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"validation_data: {exc}") from None
        return X, y

    # ------------------------------------------------------------------ training
    # fit(X, y, **options) comes from Model (the shared trainer); batch_size defaults to 64 and
    # record_every to 100 here. Dropout is active only inside fit. record="layers" keeps per-layer
    # statistics (min, max, mean, σ, histogram of weights, biases, pre-activations, activations,
    # pooled outputs) every record_every steps in history.snapshots (see fastnn.layer_stats).
    def _make_engine(self, X, Y, labels, batch, cfg, optimizer):
        from ..engines.cnn import CNNEngine

        seed = cfg.seed if cfg.seed is not None else self.seed
        if isinstance(seed, np.random.Generator):  # a model seeded with a Generator: draw the dropout seed
            seed = int(seed.integers(1 << 62))
        return CNNEngine(self, self.parameters, optimizer, X, Y, labels, batch, cfg.reduction == "mean",
                         dropout_seed=seed)

    def _gradient_engine(self, X, y):
        from ..engines.cnn import CNNEngine
        from ..train.optim import make_optimizer

        X, Y, labels = self._training_data(X, y)
        return CNNEngine(self, self.parameters, make_optimizer("sgd"), X, Y, labels, X.shape[0], False)

    def gradient(self, X, y):
        """(summed loss, flat gradient of the summed loss) at the current weights, dropout off."""
        loss, grad = self._gradient_engine(X, y).gradient()
        return float(loss), grad.copy()

    def loss_and_gradients(self, X, y, reduction="mean", gradients=True):
        """(mean loss, [dW per Conv2D/Dense layer], [db per layer]) on (X, y), dropout off; the
        gradients are of the summed loss for reduction="sum", of the mean loss for "mean"."""
        if reduction not in ("mean", "sum"):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        eng = self._gradient_engine(X, y)
        loss, grad = eng.gradient()
        n = eng.X.shape[0]
        if not gradients:
            return loss / n, None, None
        scale = 1.0 / n if reduction == "mean" else 1.0
        trainable = [i for i, layer in enumerate(self.layers) if layer.trainable]
        return (loss / n, [eng.grads[i]["W"] * scale for i in trainable],
                [eng.grads[i]["b"] * scale for i in trainable])

    # ------------------------------------------------------------------ inference
    def _blocks(self, X):
        """Yield (lo, hi, logits) for blocks of PREDICT_BLOCK rows of X (validated), reusing one set
        of buffers."""
        from ..engines.cnn import NetBuffers, blas_limited, forward

        be = self._kernels()
        n = X.shape[0]
        bufs = NetBuffers(self, be, min(PREDICT_BLOCK, n), backward=False)
        for lo in range(0, n, bufs.n):
            hi = min(lo + bufs.n, n)
            bufs.X[:hi - lo] = X[lo:hi]
            with blas_limited():
                out = forward(self, be, bufs, hi - lo)
            yield lo, hi, out

    def predict_logits(self, X):
        """The last layer's outputs (class scores before the softmax), (n, n_classes)."""
        X = self._check_X(X)
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        for lo, hi, Z in self._blocks(X):
            out[lo:hi] = Z
        return out

    def forward(self, X):
        """Class probabilities (n, n_classes) (dropout off)."""
        return self.predict_proba(X)

    def predict_proba(self, X):
        """Class probabilities (n, n_classes)."""
        P = self.predict_logits(X)
        self._kernels().softmax(P)
        return P

    def predict(self, X):
        """Class labels (argmax of the scores)."""
        return np.argmax(self.predict_logits(X), axis=1)

    def score(self, X, y):
        """Accuracy on (X, y)."""
        return self.evaluate(X, y)[1]

    def evaluate(self, X, y):
        """(mean cross-entropy, accuracy) on (X, y), dropout off."""
        X, Y, labels = self._training_data(X, y)
        be = self._kernels()
        total, hits = 0.0, 0
        D = None
        for lo, hi, Z in self._blocks(X):
            hits += int(np.count_nonzero(np.argmax(Z, axis=1) == labels[lo:hi]))
            if D is None:
                D = np.empty_like(Z)
            total += be.softmax_cross_entropy(Z, Y[lo:hi], D[:hi - lo], 0.0)
        return total / X.shape[0], hits / X.shape[0]

    def _one_sample(self, x):
        """One sample, given as (C, H, W), (H, W), flat or a batch of one, as (1, C, H, W)."""
        x = np.asarray(x)
        if x.size != self.n_features:
            raise ValueError(f"x must be one sample of shape {self.input_shape} (or {self.n_features} values), "
                             f"got shape {x.shape}")
        return self._check_X(x.reshape((1,) + self.input_shape), name="x")

    def feature_maps(self, x):
        """[(layer name, output)] of every layer for ONE sample x (C, H, W) — for figures."""
        from ..engines.cnn import NetBuffers, forward

        X = self._one_sample(x)
        be = self._kernels()
        bufs = NetBuffers(self, be, 1, backward=False)
        bufs.X[...] = X
        forward(self, be, bufs, 1)
        return [(layer.name, A[0].copy()) for layer, A in zip(self.layers, bufs.A)]

    def layer_tensors(self, X, grad=None):
        """(tag, array) per layer and quantity at the current weights for inputs X (used by the
        TensorBoard callback)."""
        from ..layer_stats import probe_tensors

        return probe_tensors(self, X, grad)

    # ------------------------------------------------------------------ persistence (save/load: Model, fastnn.io)
    def _config(self) -> dict:
        return {"model": self.kind, "layers": [dict(type=type(l).__name__, **l.config()) for l in self.layers],
                "input_shape": list(self.input_shape), "loss": self.loss,
                "init": self.init if isinstance(self.init, str) else repr(self.init),
                "dtype": self.dtype.name, "seed": self.seed if isinstance(self.seed, int) else None}

    @classmethod
    def _from_config(cls, config, backend="auto"):
        init = config["init"] if config["init"] in initializers.INITIALIZERS else "he"
        return cls([L.from_config(s) for s in config["layers"]], tuple(config["input_shape"]),
                   loss=config["loss"], init=init, dtype=np.dtype(config["dtype"]), backend=backend,
                   seed=config["seed"])


def course_cnn(activation="relu", k=1.0, dropout=0.5, n_classes=10, input_shape=(1, 28, 28), **kwargs):
    """The course's CNN (EXPERIMENTS.md E): conv 5×5 1→10, f, max-pool 2; conv 5×5 10→20, f,
    max-pool 2; dense 320→50, f, dropout 0.5; dense 50→10; log-softmax + NLL. ``activation``
    is f (relu or tanh in E2); other keyword arguments go to :class:`Sequential`."""
    C, H, W = _input_shape(input_shape)
    h, w = ((H - 4) // 2 - 4) // 2, ((W - 4) // 2 - 4) // 2
    kwargs.setdefault("init", "he" if activation in ("relu", "leaky_relu", "relu6") else "xavier")
    return Sequential([
        L.Conv2D(C, 10, 5, activation=activation, k=k), L.MaxPool2D(2),
        L.Conv2D(10, 20, 5, activation=activation, k=k), L.MaxPool2D(2), L.Flatten(),
        L.Dense(20 * h * w, 50, activation=activation, k=k), L.Dropout(dropout), L.Dense(50, n_classes),
    ], input_shape=(C, H, W), **kwargs)
