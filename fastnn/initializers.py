"""Weight initialisers, all seeded through ``numpy.random.Generator``.

Each maps (rng, fan_in, fan_out) -> a float64 array of shape (fan_in, fan_out):

    uniform(a)        U(−a, a)                       (a = 1 by default, the classic notebooks')
    normal(sigma)     N(0, σ²)
    lecun             N(0, 1)·√(1/fan_in)
    he                N(0, 1)·√(2/fan_in)
    xavier / glorot   N(0, 1)·√(2/(fan_in + fan_out))
    xavier_uniform    U(−a, a), a = √(6/(fan_in + fan_out))
    poisson(lam, scale)  Poisson(λ)·scale
    callable          f(rng, fan_in, fan_out) -> array of that shape
"""
from __future__ import annotations

import numpy as np


def uniform(a: float = 1.0):
    def init(rng, fan_in, fan_out):
        return rng.uniform(-a, a, size=(fan_in, fan_out))
    init.__name__ = f"uniform({a:g})"
    return init


def normal(sigma: float = 1.0):
    def init(rng, fan_in, fan_out):
        return rng.normal(0.0, sigma, size=(fan_in, fan_out))
    init.__name__ = f"normal({sigma:g})"
    return init


def lecun(rng, fan_in, fan_out):
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(1.0 / fan_in)


def he(rng, fan_in, fan_out):
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def xavier(rng, fan_in, fan_out):
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / (fan_in + fan_out))


def xavier_uniform(rng, fan_in, fan_out):
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_in, fan_out))


def poisson(lam: float = 1.0, scale: float = 0.25):
    def init(rng, fan_in, fan_out):
        return rng.poisson(lam, size=(fan_in, fan_out)) * scale
    init.__name__ = f"poisson({lam:g})*{scale:g}"
    return init


INITIALIZERS = {
    "uniform": uniform(1.0),
    "normal": normal(1.0),
    "lecun": lecun,
    "he": he,
    "kaiming": he,
    "xavier": xavier,
    "glorot": xavier,
    "xavier_normal": xavier,
    "glorot_normal": xavier,
    "xavier_uniform": xavier_uniform,
    "glorot_uniform": xavier_uniform,
    "poisson": poisson(1.0, 0.25),
}


# the parameters of each parametrised initialiser: (name, must be > 0 (else ≥ 0 / any finite))
_PARAMETERS = {"uniform": (("a", ">0"),), "normal": (("sigma", ">0"),),
               "poisson": (("lam", ">=0"), ("scale", "finite"))}


def _check_parameters(spec):
    """init=("uniform", a) / ("normal", sigma) / ("poisson", lam, scale): counts and ranges."""
    from .validation import check_number

    params = _PARAMETERS[spec[0]]
    if len(spec) - 1 > len(params):
        raise TypeError(f"init={spec!r}: {spec[0]!r} takes at most {len(params)} parameter(s) "
                        f"({', '.join(p for p, _ in params)})")
    for value, (pname, rule) in zip(spec[1:], params):
        label = f"init={spec!r}: {pname}"
        check_number(value, label, low=None if rule == "finite" else 0, low_open=rule == ">0")


def resolve(spec):
    """A name, a (name, parameter…) tuple such as ("uniform", 0.5) / ("normal", 0.1) /
    ("poisson", 1, 0.25), or a callable ``f(rng, fan_in, fan_out)``."""
    if callable(spec):
        return spec
    if isinstance(spec, tuple) and spec and isinstance(spec[0], str):
        factories = {"uniform": uniform, "normal": normal, "poisson": poisson}
        if spec[0] not in factories:
            raise ValueError(f"initialiser {spec[0]!r} takes no parameters; parametrised ones are "
                             f"{', '.join(factories)}")
        _check_parameters(spec)
        return factories[spec[0]](*spec[1:])
    if isinstance(spec, str) and spec.lower() in INITIALIZERS:
        return INITIALIZERS[spec.lower()]
    raise ValueError(f"unknown init {spec!r}; choose one of {', '.join(sorted(INITIALIZERS))}, "
                     "a tuple like ('uniform', 0.5) or ('normal', 0.1), or a callable f(rng, fan_in, fan_out)")


def initialize(spec, rng, fan_in: int, fan_out: int) -> np.ndarray:
    """Draw one weight matrix and check what a callable returned."""
    W = np.asarray(resolve(spec)(rng, fan_in, fan_out), dtype=np.float64)
    if W.shape != (fan_in, fan_out):
        raise ValueError(f"initialiser returned shape {W.shape}, expected ({fan_in}, {fan_out})")
    if not np.all(np.isfinite(W)):
        raise ValueError("initialiser returned NaN or inf weights")
    return W
