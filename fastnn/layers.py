"""Layers of a :class:`fastnn.Sequential` network (NCHW images, float32 or float64).

    Conv2D(in_ch, out_ch, kernel, stride=1, padding=0, activation=None, k=1.0)
                                  A := f(X ⊛ W + b), W of shape (out_ch, in_ch, kh, kw)
    MaxPool2D(size)               A := max over size×size windows (stride = size), argmax kept
    Flatten()                     (n, C, H, W) -> (n, C·H·W), a view
    Dense(n_in, n_out, activation=None, k=1.0)
                                  A := f(X·W + b), W of shape (n_in, n_out)
    Dropout(p)                    A := X ⊙ m / (1 − p), m ~ Bernoulli(1 − p), in fit only
    ReLU(), Tanh(k), Sigmoid(k), LeakyReLU(alpha)
                                  A := f(X); fused into the Conv2D/Dense before them when that
                                  layer has no activation of its own

A layer is told its input shape once (``build``) and then works on preallocated buffers:
``forward(be, X, A, P, state, train)`` and ``backward(be, X, A, dA, dX, P, G, state)`` with
``dA`` = ∂L/∂A (overwritten), ``dX`` = ∂L/∂X written (None: not needed), ``P``/``G`` the layer's
parameter / gradient views by short name ("W", "b"). Gradients are of the summed loss scaled
as the loss kernel scaled ∂L/∂A of the output; nothing is allocated per step.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import activations as act_mod


class ShapeError(ValueError):
    """A layer does not fit the output of the layer before it."""


def _positive_int(value, what, layer):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{layer}: {what} must be a positive integer, got {value!r}")
    return int(value)


def _pair(value, what, layer, minimum=1):
    vals = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(vals) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < minimum
                             for v in vals):
        low = "positive" if minimum else "non-negative"
        raise ValueError(f"{layer}: {what} must be a {low} integer or a pair of them, got {value!r}")
    return int(vals[0]), int(vals[1])


class Layer:
    """Base class: a layer without parameters whose output has the input's shape."""

    kind = "layer"
    trainable = False  # has parameters
    view = False       # output (and its gradient) are views of the input's buffers

    def __init__(self):
        self.name = None
        self.in_shape = self.out_shape = None

    def __repr__(self):
        return self.describe()

    def describe(self) -> str:
        return f"{type(self).__name__}()"

    def config(self) -> dict:
        """Constructor arguments (JSON-ready), for save/load."""
        return {}

    def build(self, in_shape) -> tuple:
        self.in_shape = tuple(in_shape)
        self.out_shape = self._out_shape(self.in_shape)
        return self.out_shape

    def _out_shape(self, in_shape):
        return in_shape

    def param_specs(self) -> list:
        """[(short name, shape, is_weight)] of the layer's parameters."""
        return []

    def init_params(self, P, rng, init):
        pass

    def allocate(self, be, n, dtype):
        """Per-buffer state (workspaces, indices, masks) for steps of up to n rows."""
        return None

    def forward(self, be, X, A, P, state, train=False, rng=None):
        raise NotImplementedError

    def backward(self, be, X, A, dA, dX, P, G, state):
        raise NotImplementedError

    def _fail(self, message):
        raise ShapeError(f"{self.describe()} {message} (layer {self.name})")


def _activation(activation, k, alpha, layer):
    if activation is None:
        return act_mod.resolve("linear")
    try:
        return act_mod.resolve(activation, k, alpha)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{layer}: {exc}") from None


def _act_suffix(act):
    if act.name == "linear":
        return ""
    k = f", k={act.k:g}" if act.k != 1.0 and act.name in ("sigmoid", "tanh") else ""
    return f", activation={act.name!r}{k}"


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in PyTorch) with fused bias and activation."""

    kind = "conv"
    trainable = True

    def __init__(self, in_ch, out_ch, kernel, stride=1, padding=0, activation=None, k=1.0, alpha=0.01):
        super().__init__()
        label = f"Conv2D({in_ch!r}, {out_ch!r}, {kernel!r})"
        self.in_ch = _positive_int(in_ch, "in_ch", label)
        self.out_ch = _positive_int(out_ch, "out_ch", label)
        self.kernel = _pair(kernel, "kernel", label)
        s = _pair(stride, "stride", label)
        if s[0] != s[1]:
            raise ValueError(f"{label}: stride must be the same along both axes, got {stride!r}")
        self.stride = s[0]
        p = _pair(padding, "padding", label, minimum=0)
        if p[0] != p[1]:
            raise ValueError(f"{label}: padding must be the same along both axes, got {padding!r}")
        self.padding = p[0]
        self.act = _activation(activation, k, alpha, label)

    def describe(self):
        kh, kw = self.kernel
        ks = kh if kh == kw else (kh, kw)
        extra = (f", stride={self.stride}" if self.stride != 1 else "") + \
                (f", padding={self.padding}" if self.padding else "")
        return f"Conv2D({self.in_ch}, {self.out_ch}, {ks}{extra}{_act_suffix(self.act)})"

    def config(self):
        return {"in_ch": self.in_ch, "out_ch": self.out_ch, "kernel": list(self.kernel), "stride": self.stride,
                "padding": self.padding, "activation": self.act.name, "k": self.act.k, "alpha": self.act.alpha}

    def _out_shape(self, in_shape):
        if len(in_shape) != 3:
            self._fail(f"needs images (channels, height, width) but gets {_shape_text(in_shape)} from the layer "
                       f"before it")
        C, H, W = in_shape
        if C != self.in_ch:
            self._fail(f"expects {self.in_ch} input channels but gets {C} from the layer before it")
        kh, kw = self.kernel
        Hp, Wp = H + 2 * self.padding, W + 2 * self.padding
        if Hp < kh or Wp < kw:
            self._fail(f"has a {kh}×{kw} kernel but gets {H}×{W} images (padding {self.padding})")
        return (self.out_ch, (Hp - kh) // self.stride + 1, (Wp - kw) // self.stride + 1)

    def param_specs(self):
        kh, kw = self.kernel
        return [("W", (self.out_ch, self.in_ch, kh, kw), True), ("b", (self.out_ch,), False)]

    def init_params(self, P, rng, init):
        from . import initializers

        kh, kw = self.kernel
        fan_in = self.in_ch * kh * kw
        W = initializers.initialize(init, rng, fan_in, self.out_ch)  # (fan_in, out) like a dense layer
        P["W"][...] = W.T.reshape(P["W"].shape)
        P["b"][...] = 0

    def allocate(self, be, n, dtype):
        C, H, W = self.in_shape
        kh, kw = self.kernel
        return {"ws": be.conv2d_workspace(n, C, H, W, kh, kw, self.stride, self.padding, dtype)}

    def forward(self, be, X, A, P, state, train=False, rng=None):
        a = self.act
        be.conv2d_forward(X, P["W"], P["b"], A, a.code, a.k, a.alpha, self.stride, self.padding, state["ws"])

    def forward_preact(self, be, X, Z, P, state):
        """Z := X ⊛ W + b (the pre-activations, for statistics)."""
        be.conv2d_forward(X, P["W"], P["b"], Z, act_mod.LINEAR, 1.0, 0.01, self.stride, self.padding, state["ws"])

    def backward(self, be, X, A, dA, dX, P, G, state):
        a = self.act
        if a.code != act_mod.LINEAR:
            be.activation_grad(dA, A, a.code, a.k, a.alpha)
        be.conv2d_backward(X, P["W"], dA, G["W"], G["b"], dX, self.stride, self.padding, state["ws"])


class Dense(Layer):
    """Fully connected: A := f(X·W + b), W of shape (n_in, n_out)."""

    kind = "dense"
    trainable = True

    def __init__(self, n_in, n_out, activation=None, k=1.0, alpha=0.01):
        super().__init__()
        label = f"Dense({n_in!r}, {n_out!r})"
        self.n_in = _positive_int(n_in, "n_in", label)
        self.n_out = _positive_int(n_out, "n_out", label)
        self.act = _activation(activation, k, alpha, label)

    def describe(self):
        return f"Dense({self.n_in}, {self.n_out}{_act_suffix(self.act)})"

    def config(self):
        return {"n_in": self.n_in, "n_out": self.n_out, "activation": self.act.name, "k": self.act.k,
                "alpha": self.act.alpha}

    def _out_shape(self, in_shape):
        if len(in_shape) != 1:
            self._fail(f"needs flat inputs but gets {_shape_text(in_shape)} from the layer before it; put a "
                       f"Flatten() before it")
        if in_shape[0] != self.n_in:
            self._fail(f"gets {in_shape[0]} inputs from the layer before it")
        return (self.n_out,)

    def param_specs(self):
        return [("W", (self.n_in, self.n_out), True), ("b", (self.n_out,), False)]

    def init_params(self, P, rng, init):
        from . import initializers

        P["W"][...] = initializers.initialize(init, rng, self.n_in, self.n_out)
        P["b"][...] = 0

    def forward(self, be, X, A, P, state, train=False, rng=None):
        a = self.act
        be.dense_forward(X, P["W"], P["b"], A, a.code, a.k, a.alpha)

    def forward_preact(self, be, X, Z, P, state):
        be.dense_forward(X, P["W"], P["b"], Z, act_mod.LINEAR, 1.0, 0.01)

    def backward(self, be, X, A, dA, dX, P, G, state):
        a = self.act
        if a.code != act_mod.LINEAR:
            be.activation_grad(dA, A, a.code, a.k, a.alpha)
        be.weight_grad(X, dA, G["W"], G["b"], 1.0)
        if dX is not None:  # dX := dA·Wᵀ (the layer below applies its own activation derivative)
            be.delta_backward(dA, P["W"], X, dX, act_mod.LINEAR, 1.0, 0.01)


class MaxPool2D(Layer):
    """Max pooling over non-overlapping size×size windows (rows/columns left over are dropped)."""

    kind = "pool"

    def __init__(self, size=2):
        super().__init__()
        self.size = _positive_int(size, "size", f"MaxPool2D({size!r})")

    def describe(self):
        return f"MaxPool2D({self.size})"

    def config(self):
        return {"size": self.size}

    def _out_shape(self, in_shape):
        if len(in_shape) != 3:
            self._fail(f"needs images (channels, height, width) but gets {_shape_text(in_shape)} from the layer "
                       f"before it")
        C, H, W = in_shape
        if H < self.size or W < self.size:
            self._fail(f"gets {H}×{W} images from the layer before it, smaller than the window")
        return (C, H // self.size, W // self.size)

    def allocate(self, be, n, dtype):
        return {"idx": np.zeros((n,) + self.out_shape, dtype=np.int32)}

    def forward(self, be, X, A, P, state, train=False, rng=None):
        be.maxpool2d_forward(X, A, state["idx"][:X.shape[0]], self.size)

    def backward(self, be, X, A, dA, dX, P, G, state):
        if dX is not None:
            be.maxpool2d_backward(dA, state["idx"][:dA.shape[0]], dX)


class Flatten(Layer):
    """(n, C, H, W) -> (n, C·H·W): a view, nothing computed."""

    kind = "flatten"
    view = True

    def _out_shape(self, in_shape):
        return (int(np.prod(in_shape)),)

    def forward(self, be, X, A, P, state, train=False, rng=None):
        pass  # A is a view of X

    def backward(self, be, X, A, dA, dX, P, G, state):
        pass  # dX is a view of dA


class Dropout(Layer):
    """Inverted dropout: in fit, each unit is kept with probability 1 − p and scaled by
    1/(1 − p); outside fit the identity. The masks come from the fit's seeded generator."""

    kind = "dropout"

    def __init__(self, p=0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p < 1:
            raise ValueError(f"Dropout(p): p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)

    def describe(self):
        return f"Dropout({self.p:g})"

    def config(self):
        return {"p": self.p}

    def allocate(self, be, n, dtype):
        size = (n,) + self.in_shape
        return {"mask": np.ones(size, dtype=np.uint8), "u": np.zeros(size, dtype=np.float64),
                "active": False}

    def forward(self, be, X, A, P, state, train=False, rng=None):
        np.copyto(A, X)
        state["active"] = train and self.p > 0
        if not state["active"]:
            return
        n = X.shape[0]
        u, mask = state["u"][:n], state["mask"][:n]
        rng.random(out=u)
        np.less(u, 1.0 - self.p, out=mask.view(np.bool_))
        be.dropout_apply(A, mask, 1.0 / (1.0 - self.p))

    def backward(self, be, X, A, dA, dX, P, G, state):
        if dX is None:
            return
        np.copyto(dX, dA)
        if state["active"]:
            be.dropout_apply(dX, state["mask"][:dA.shape[0]], 1.0 / (1.0 - self.p))


class Activation(Layer):
    """An element-wise activation as its own layer (fused into the Conv2D/Dense before it when
    that layer is linear)."""

    kind = "activation"

    def __init__(self, activation, k=1.0, alpha=0.01):
        super().__init__()
        self.act = _activation(activation, k, alpha, type(self).__name__)

    def describe(self):
        a = self.act
        if type(self) is Activation:
            return f"Activation({a.name!r})"
        args = f"{a.k:g}" if a.k != 1.0 else ""
        if a.name == "leaky_relu":
            args = f"{a.alpha:g}"
        return f"{type(self).__name__}({args})"

    def config(self):
        return {"activation": self.act.name, "k": self.act.k, "alpha": self.act.alpha}

    def forward(self, be, X, A, P, state, train=False, rng=None):
        apply_activation(X, A, self.act)

    def backward(self, be, X, A, dA, dX, P, G, state):
        if dX is None:
            return
        np.copyto(dX, dA)
        be.activation_grad(dX, A, self.act.code, self.act.k, self.act.alpha)


class ReLU(Activation):
    def __init__(self):
        super().__init__("relu")

    def config(self):
        return {}


class Tanh(Activation):
    def __init__(self, k=1.0):
        super().__init__("tanh", k)

    def config(self):
        return {"k": self.act.k}


class Sigmoid(Activation):
    def __init__(self, k=1.0):
        super().__init__("sigmoid", k)

    def config(self):
        return {"k": self.act.k}


class LeakyReLU(Activation):
    def __init__(self, alpha=0.01):
        super().__init__("leaky_relu", 1.0, alpha)

    def config(self):
        return {"alpha": self.act.alpha}


def apply_activation(Z, A, act):
    """A := f(Z) with NumPy ufuncs writing into A (no temporaries); Z may be A."""
    code, k = act.code, act.k
    if code == act_mod.LINEAR:
        np.copyto(A, Z)
    elif code == act_mod.RELU:
        np.maximum(Z, 0, out=A)
    elif code == act_mod.RELU6:
        np.clip(Z, 0, 6, out=A)
    elif code == act_mod.LEAKY_RELU:
        np.copyto(A, Z)
        np.multiply(A, act.alpha, out=A, where=A < 0)
    elif code == act_mod.TANH:
        np.multiply(Z, k, out=A)
        np.tanh(A, out=A)
    elif code == act_mod.SIGMOID:  # σ(kz) = ½(1 + tanh(kz/2)): no overflow
        np.multiply(Z, 0.5 * k, out=A)
        np.tanh(A, out=A)
        A += 1
        A *= 0.5
    else:  # pragma: no cover - the registry has no other codes
        raise ValueError(f"unknown activation code {code}")


def _shape_text(shape):
    return "×".join(map(str, shape)) + (" values" if len(shape) == 1 else "")


LAYER_TYPES = {cls.__name__: cls for cls in (Conv2D, Dense, MaxPool2D, Flatten, Dropout, Activation, ReLU, Tanh,
                                             Sigmoid, LeakyReLU)}


def from_config(spec: dict) -> Layer:
    """A layer from {"type": name, **config} (what Sequential.save writes)."""
    spec = dict(spec)
    cls = LAYER_TYPES.get(spec.pop("type", None))
    if cls is None:
        raise ValueError(f"unknown layer type in {spec!r}")
    if "kernel" in spec:
        spec["kernel"] = tuple(spec["kernel"])
    return cls(**spec)


__all__ = ["Layer", "Conv2D", "Dense", "MaxPool2D", "Flatten", "Dropout", "Activation", "ReLU", "Tanh", "Sigmoid",
           "LeakyReLU", "ShapeError", "apply_activation", "from_config"]
