"""Saving and loading models: a versioned .npz (allow_pickle=False), written atomically.

``save`` refuses what ``load_model`` would refuse (NaN/inf parameters, a path that is no file
name), so a good file is never replaced by an unreadable one. ``load_model`` checks the file
before trusting it: the configuration is read first, and the size of the parameter vector
it implies is compared with the array header *before* anything of that size is allocated, so
a small file claiming a huge network is refused, not allocated.
"""
from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib

import numpy as np

from ._atomic import atomic_path
from .validation import check_bool, check_dtype, check_layer_dims, check_path

FORMAT = "fastnn-model"
VERSION = 1
CONFIG_KEYS = ("layer_dims", "activation", "output", "loss", "k", "output_k", "alpha", "bias", "init",
               "dtype", "seed")
MAX_CONFIG_BYTES = 1 << 20  # a configuration is a few hundred bytes of JSON
MAX_DEFLATE_RATIO = 1100  # deflate expands at most ~1032×: a member claiming more is corrupt
_NAMED_INITS = ("uniform", "normal", "lecun", "he", "xavier", "glorot", "xavier_uniform", "poisson", "kaiming")
# what reading a damaged zip / .npy can raise
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, struct.error, OSError, ValueError, EOFError, KeyError,
                NotImplementedError)


class ModelFileError(ValueError):
    """The file is not a readable fastnn model (corrupt, truncated, foreign or too new)."""


def _check_path(path) -> str:
    path = check_path(path, "path")
    if "\0" in path:
        raise ValueError(f"path {path!r} contains a NUL character")
    return path


def _nonfinite_parameter(model):
    """'weights[l]' / 'biases[l]' of the first parameter array holding NaN or inf, else None."""
    for kind, arrays in (("weights", model.weights), ("biases", model.biases)):
        for l, A in enumerate(arrays):
            if A is not None and not np.isfinite(A).all():
                return f"{kind}[{l}]"
    return None


def save_model(model, path):
    path = _check_path(path)
    name = os.path.basename(path)
    if name in ("", ".npz", ".", ".."):
        raise ValueError(f"path {path!r} has no file name; give one such as 'model.npz'")
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a folder; give a file name inside it, e.g. "
                         f"{os.path.join(path, 'model.npz')!r}")
    if not path.endswith(".npz"):
        path += ".npz"
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a folder; give another file name")
    bad = _nonfinite_parameter(model)
    if bad is not None:
        raise ValueError(f"refusing to save to {path!r}: the model's {bad} contains NaN or inf (did training "
                         "diverge?). Nothing was written; an existing file there is untouched. Reset or "
                         "retrain the model (e.g. with a lower learning rate) first.")
    config = {
        "format": FORMAT, "version": VERSION,
        "layer_dims": model.layer_dims,
        "activation": model.activation if isinstance(model.activation, str) else list(model.activation),
        "output": model.output, "loss": model.loss,
        "k": model.k if not isinstance(model.k, tuple) else list(model.k),
        "output_k": model.activations[-1].k, "alpha": model.alpha, "bias": model.bias,
        "init": model.init if isinstance(model.init, str) else repr(model.init),
        "dtype": model.dtype.name,
        "seed": model.seed if isinstance(model.seed, int) else None,  # a Generator is not stored
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, config=np.array(json.dumps(config)), params=model.params)
    return path


def _n_params(layer_dims, bias) -> int:
    return sum(a * b + (b if bias else 0) for a, b in zip(layer_dims[:-1], layer_dims[1:]))


def _read_config(z, path) -> dict:
    info = z.getinfo("config.npy")
    if info.file_size > MAX_CONFIG_BYTES:
        raise ModelFileError(f"{path!r}: the config entry claims {info.file_size} bytes, far more than a model "
                             "configuration; the file is corrupt or not a fastnn model")
    with z.open(info) as fh:
        arr = np.lib.format.read_array(fh, allow_pickle=False)
    if arr.shape != () or arr.dtype.kind != "U":
        raise ModelFileError(f"{path!r}: its config entry is a {arr.dtype} array of shape {arr.shape}, not the "
                             "JSON text fastnn writes; the file is corrupt or not a fastnn model")
    try:
        config = json.loads(str(arr))
    except ValueError as exc:
        raise ModelFileError(f"{path!r}: its config entry is not valid JSON ({exc}); the file is corrupt. "
                             "Re-save the model.") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path!r} is not a fastnn model file (its config has no format "
                             f"{FORMAT!r})")
    version = config.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelFileError(f"{path!r}: the model format version is {version!r} "
                             f"({type(version).__name__}), not an integer such as {VERSION}; the file is "
                             "corrupt or was not written by fastnn. Re-save the model.")
    if version != VERSION:
        raise ModelFileError(f"{path!r} has model format version {version}; this fastnn reads "
                             f"version {VERSION}. Upgrade fastnn or re-save the model.")
    missing = [k for k in CONFIG_KEYS if k not in config]
    if missing:
        raise ModelFileError(f"{path!r}: the model configuration lacks {', '.join(missing)}; the file is "
                             "corrupt or incomplete. Re-save the model.")
    return config


def _check_params_header(z, path, n_expected, dtype, layer_dims, disk_size):
    """The params entry's .npy header against the configuration, before reading its data."""
    info = z.getinfo("params.npy")
    with z.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
            np.lib.format.read_array_header_2_0
        shape, _, file_dtype = reader(fh)
    n_file = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    if shape != (n_expected,) or file_dtype.kind != "f" or file_dtype.itemsize != dtype.itemsize:
        raise ModelFileError(f"{path!r}: parameter vector has shape {shape} / {file_dtype}, expected "
                             f"({n_expected},) / {dtype} for layer_dims={layer_dims}; the file is corrupt")
    nbytes = n_file * file_dtype.itemsize
    stored = info.compress_type == zipfile.ZIP_STORED
    if nbytes > info.file_size or info.compress_size > disk_size or \
            info.file_size > info.compress_size * (1 if stored else MAX_DEFLATE_RATIO):
        raise ModelFileError(f"{path!r}: the parameters should take {nbytes} bytes (layer_dims={layer_dims}) "
                             f"but the file ({disk_size} bytes) cannot hold them; it is truncated or corrupt. "
                             "Re-save the model.")


def _read(fh, path):
    """(config, params) of an open model file, validated against each other."""
    with zipfile.ZipFile(fh) as z:
        names = set(z.namelist())
        if not {"config.npy", "params.npy"} <= names:
            raise ModelFileError(f"{path!r} is an .npz file but not a fastnn model (missing config/params)")
        config = _read_config(z, path)
        try:
            layer_dims = check_layer_dims(config["layer_dims"], "layer_dims in the file")
            bias = check_bool(config["bias"], "bias in the file")
            dtype = check_dtype(config["dtype"], "dtype in the file")
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{path!r} holds an invalid model configuration: {exc}") from exc
        _check_params_header(z, path, _n_params(layer_dims, bias), dtype, layer_dims, os.path.getsize(path))
        with z.open("params.npy") as f:
            params = np.lib.format.read_array(f, allow_pickle=False)
    return config, params


def load_model(path, backend="auto"):
    from .backends import validate_name
    from .models import DeepMLP

    path = _check_path(path)
    validate_name(backend)  # the caller's argument: its error is not the file's
    if os.path.isdir(path):
        raise ModelFileError(f"{path!r} is a folder, not a model file; give the .npz file written by save()")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        fh = open(path, "rb")
    except PermissionError as exc:
        raise ModelFileError(f"cannot open model file {path!r}: permission denied; check the file's "
                             "permissions (the file itself may be fine)") from exc
    except OSError as exc:
        raise ModelFileError(f"cannot open model file {path!r}: {exc.strerror or exc}") from exc
    with fh:
        head = fh.read(6)
        if not head:
            raise ModelFileError(f"{path!r} is empty (0 bytes), not a fastnn model; it is corrupt. Re-save the model.")
        if head == b"\x93NUMPY":
            raise ModelFileError(f"{path!r} is a single NumPy array (.npy), not a fastnn model: models are the "
                                 ".npz files written by model.save()")
        fh.seek(0)
        try:
            config, params = _read(fh, path)
        except ModelFileError:
            raise
        except _READ_ERRORS as exc:
            raise ModelFileError(f"cannot read model file {path!r}: it is corrupt, truncated or not a fastnn "
                                 f"model ({type(exc).__name__}: {exc}). Re-save the model.") from exc
    init = config["init"] if config["init"] in _NAMED_INITS else "xavier"
    try:
        model = DeepMLP(config["layer_dims"], activation=config["activation"], output=config["output"],
                        loss=config["loss"], k=config["k"], bias=config["bias"], init=init,
                        dtype=config["dtype"], backend=backend, seed=config["seed"],
                        alpha=config["alpha"], output_k=config["output_k"])
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path!r} holds an invalid model configuration: {exc}") from exc
    if params.shape != model.params.shape:
        raise ModelFileError(f"{path!r}: parameter vector has shape {params.shape} / {params.dtype}, "
                             f"expected {model.params.shape} / {model.dtype}; the file is corrupt")
    if not np.all(np.isfinite(params)):
        raise ModelFileError(f"{path!r}: parameters contain NaN or inf")
    model.params[:] = params
    model._fitted = True
    return model
