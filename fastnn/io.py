"""Saving and loading models: a versioned .npz (allow_pickle=False), written atomically."""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from ._atomic import atomic_path

FORMAT = "fastnn-model"
VERSION = 1


class ModelFileError(ValueError):
    """The file is not a readable fastnn model (corrupt, truncated, foreign or too new)."""


def save_model(model, path):
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    config = {
        "format": FORMAT, "version": VERSION,
        "layer_dims": model.layer_dims,
        "activation": model.activation if isinstance(model.activation, str) else list(model.activation),
        "output": model.output, "loss": model.loss,
        "k": model.k if not isinstance(model.k, tuple) else list(model.k),
        "output_k": model.activations[-1].k, "alpha": model.alpha, "bias": model.bias,
        "init": model.init if isinstance(model.init, str) else repr(model.init),
        "dtype": model.dtype.name, "seed": model.seed,
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, config=np.array(json.dumps(config)), params=model.params)
    return path


def load_model(path, backend="auto"):
    from .models import DeepMLP

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "config" not in data.files or "params" not in data.files:
                raise ModelFileError(f"{path!r} is an .npz file but not a fastnn model (missing config/params)")
            config = json.loads(str(data["config"]))
            params = data["params"]
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, json.JSONDecodeError, KeyError) as exc:
        raise ModelFileError(f"cannot read model file {path!r}: it is corrupt, truncated or not a fastnn "
                             f"model ({type(exc).__name__}: {exc}). Re-save the model.") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{path!r} is not a fastnn model file")
    if config.get("version") != VERSION:
        raise ModelFileError(f"{path!r} has model format version {config.get('version')}; this fastnn reads "
                             f"version {VERSION}. Upgrade fastnn or re-save the model.")
    init = config["init"] if config["init"] in ("uniform", "normal", "lecun", "he", "xavier", "glorot",
                                                 "xavier_uniform", "poisson", "kaiming") else "xavier"
    try:
        model = DeepMLP(config["layer_dims"], activation=config["activation"], output=config["output"],
                        loss=config["loss"], k=config["k"], bias=config["bias"], init=init,
                        dtype=np.dtype(config["dtype"]), backend=backend, seed=config["seed"],
                        alpha=config["alpha"], output_k=config["output_k"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelFileError(f"{path!r} holds an invalid model configuration: {exc}") from exc
    if params.shape != model.params.shape or params.dtype != model.dtype:
        raise ModelFileError(f"{path!r}: parameter vector has shape {params.shape} / {params.dtype}, "
                             f"expected {model.params.shape} / {model.dtype}; the file is corrupt")
    if not np.all(np.isfinite(params)):
        raise ModelFileError(f"{path!r}: parameters contain NaN or inf")
    model.params[:] = params
    model._fitted = True
    return model
