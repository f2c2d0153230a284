"""The bad-input catalogue: hostile arguments and files across the constructor, set_params,
predict/score, save/load, datasets, threads, callbacks and the scikit-learn estimators.

Every case says which exception it must raise and a regex its message must contain (the
argument's or the file's name), or ``None`` for edge inputs that must simply work. Cases
that could crash or exhaust the interpreter run in a memory-limited subprocess.

Run as a script for the outcome tally of issue 15::

    PYTHONPATH=. python tests/test_bad_inputs.py --tally

classes: clear (the right exception, naming the argument/file), handled (a valid edge input
worked), low-level (another exception or a message that names nothing), silent (no error
where one was due) and crash (the subprocess died, hung or ran out of memory).
"""
from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import fastnn
from fastnn import datasets as ds


@dataclass
class Case:
    area: str
    name: str
    fn: Callable  # fn(tmp: Path) -> anything
    exc: object  # exception type / tuple that must be raised, None: must succeed
    match: str = ""  # regex that the message must contain
    sub: bool = False  # run in a memory-limited subprocess
    either: bool = False  # success is acceptable too

    @property
    def id(self):
        return f"{self.area}-{self.name}"


CASES: list = []


def add(area, name, fn, exc, match="", sub=False, either=False):
    CASES.append(Case(area, name, fn, exc, match, sub, either))


# --------------------------------------------------------------------------- helpers
def _data(n=20, d=4, k=3):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, d)), rng.integers(0, k, n)


def _m(**kw):
    kw = {"activation": "tanh", "seed": 0, **kw}
    return fastnn.DeepMLP(kw.pop("layer_dims", [4, 5, 3]), **kw)


def _reg(**kw):
    return fastnn.DeepMLP([4, 5, 1], activation="tanh", output="linear", seed=0, **kw)


# --------------------------------------------------------------------------- constructor
CTOR = [
    # (name, kwargs, exc, match)   exc None: a valid edge input
    ("dims_one", dict(layer_dims=[4]), ValueError, "layer_dims"),
    ("dims_empty", dict(layer_dims=[]), ValueError, "layer_dims"),
    ("dims_zero", dict(layer_dims=[4, 0, 3]), ValueError, "layer_dims"),
    ("dims_negative", dict(layer_dims=[4, -1, 3]), ValueError, "layer_dims"),
    ("dims_float", dict(layer_dims=[4, 2.5, 3]), ValueError, "layer_dims"),
    ("dims_str", dict(layer_dims="784-10"), ValueError, "layer_dims"),
    ("dims_none", dict(layer_dims=None), (TypeError, ValueError), "layer_dims"),
    ("dims_int", dict(layer_dims=5), (TypeError, ValueError), "layer_dims"),
    ("dims_str_entry", dict(layer_dims=[4, "5", 3]), ValueError, "layer_dims"),
    ("dims_bool_entry", dict(layer_dims=[4, True, 3]), ValueError, "layer_dims"),
    ("dims_nan_entry", dict(layer_dims=[4, np.nan, 3]), ValueError, "layer_dims"),
    ("dims_nested", dict(layer_dims=[[4], [3]]), ValueError, "layer_dims"),
    ("dims_dict", dict(layer_dims={"a": 4, "b": 3}), (TypeError, ValueError), "layer_dims"),
    ("dims_tuple_ok", dict(layer_dims=(4, 5, 3)), None, ""),
    ("dims_ndarray_ok", dict(layer_dims=np.array([4, 5, 3])), None, ""),
    ("dims_npint_ok", dict(layer_dims=[np.int64(4), np.int32(5), 3]), None, ""),
    ("act_unknown", dict(activation="swish"), ValueError, "activation"),
    ("act_int", dict(activation=5), TypeError, "activation"),
    ("act_none", dict(activation=None), TypeError, "activation"),
    ("act_empty", dict(activation=""), ValueError, "activation"),
    ("act_softmax_hidden", dict(activation="softmax"), ValueError, "activation"),
    ("act_list_len", dict(activation=["tanh", "relu"]), ValueError, "activation"),
    ("act_list_ok", dict(activation=["relu"]), None, ""),
    ("act_case_ok", dict(activation="ReLU"), None, ""),
    ("out_unknown", dict(output="swish"), ValueError, "activation|output"),
    ("out_none", dict(output=None), TypeError, "activation|output"),
    ("out_int", dict(output=3), TypeError, "activation|output"),
    ("out_softmax_1unit", dict(layer_dims=[4, 5, 1]), ValueError, "softmax"),
    ("loss_unknown", dict(loss="hinge"), ValueError, "loss"),
    ("loss_int", dict(loss=5), ValueError, "loss"),
    ("loss_bce_softmax", dict(loss="bce"), ValueError, "loss"),
    ("loss_mse_softmax", dict(loss="mse"), ValueError, "loss"),
    ("k_zero", dict(k=0), ValueError, r"\bk\b"),
    ("k_negative", dict(k=-1), ValueError, r"\bk\b"),
    ("k_nan", dict(k=np.nan), ValueError, r"\bk\b"),
    ("k_inf", dict(k=np.inf), ValueError, r"\bk\b"),
    ("k_str", dict(k="2"), TypeError, r"\bk\b"),
    ("k_none", dict(k=None), TypeError, r"\bk\b"),
    ("k_bool", dict(k=True), TypeError, r"\bk\b"),
    ("k_complex", dict(k=1j), TypeError, r"\bk\b"),
    ("k_list_len", dict(k=[1.0, 2.0]), ValueError, r"\bk\b"),
    ("k_list_str", dict(k=["2"]), TypeError, r"\bk\b"),
    ("k_list_ok", dict(k=[2.0]), None, ""),
    ("k_npfloat_ok", dict(k=np.float32(2)), None, ""),
    ("output_k_zero", dict(output_k=0), ValueError, "output_k"),
    ("output_k_str", dict(output_k="1"), TypeError, "output_k"),
    ("output_k_nan", dict(output_k=np.nan), ValueError, "output_k"),
    ("alpha_zero", dict(alpha=0), ValueError, "alpha"),
    ("alpha_negative", dict(alpha=-1), ValueError, "alpha"),
    ("alpha_nan", dict(alpha=np.nan), ValueError, "alpha"),
    ("alpha_str", dict(alpha="0.1"), TypeError, "alpha"),
    ("alpha_none", dict(alpha=None), TypeError, "alpha"),
    ("bias_no", dict(bias="no"), TypeError, "bias"),
    ("bias_yes", dict(bias="yes"), TypeError, "bias"),
    ("bias_False_str", dict(bias="False"), TypeError, "bias"),
    ("bias_none", dict(bias=None), TypeError, "bias"),
    ("bias_two", dict(bias=2), TypeError, "bias"),
    ("bias_half", dict(bias=0.5), TypeError, "bias"),
    ("bias_list", dict(bias=[True]), TypeError, "bias"),
    ("bias_npbool_ok", dict(bias=np.bool_(False)), None, ""),
    ("bias_zero_ok", dict(bias=0), None, ""),
    ("init_normal_negative", dict(init=("normal", -1)), ValueError, "init"),
    ("init_normal_nan", dict(init=("normal", np.nan)), ValueError, "init"),
    ("init_normal_str", dict(init=("normal", "a")), TypeError, "init"),
    ("init_normal_two_args", dict(init=("normal", 1, 2)), (TypeError, ValueError), "init"),
    ("init_uniform_zero", dict(init=("uniform", 0)), ValueError, "init"),
    ("init_uniform_negative", dict(init=("uniform", -1)), ValueError, "init"),
    ("init_uniform_inf", dict(init=("uniform", np.inf)), ValueError, "init"),
    ("init_poisson_negative", dict(init=("poisson", -1, 0.25)), ValueError, "init"),
    ("init_poisson_scale_nan", dict(init=("poisson", 1, np.nan)), ValueError, "init"),
    ("init_named_with_arg", dict(init=("xavier", 2)), ValueError, "init|initialiser"),
    ("init_empty_tuple", dict(init=()), ValueError, "init"),
    ("init_int", dict(init=5), ValueError, "init"),
    ("init_none", dict(init=None), ValueError, "init"),
    ("init_unknown", dict(init="orthogonal"), ValueError, "init"),
    ("init_bad_shape", dict(init=lambda rng, fi, fo: np.zeros((fi,))), ValueError, "init"),
    ("init_nan_callable", dict(init=lambda rng, fi, fo: np.full((fi, fo), np.nan)), ValueError, "init"),
    ("init_tuple_ok", dict(init=("normal", 0.1)), None, ""),
    ("init_callable_ok", dict(init=lambda rng, fi, fo: rng.normal(size=(fi, fo))), None, ""),
    ("dtype_none", dict(dtype=None), TypeError, "dtype"),
    ("dtype_float16", dict(dtype="float16"), TypeError, "dtype"),
    ("dtype_int32", dict(dtype=np.int32), TypeError, "dtype"),
    ("dtype_garbage", dict(dtype="abc"), TypeError, "dtype"),
    ("dtype_object", dict(dtype=object), TypeError, "dtype"),
    ("dtype_complex", dict(dtype=np.complex128), TypeError, "dtype"),
    ("dtype_int", dict(dtype=5), TypeError, "dtype"),
    ("dtype_str64_ok", dict(dtype="float64"), None, ""),
    ("dtype_dtype_ok", dict(dtype=np.dtype("float32")), None, ""),
    ("backend_cuda", dict(backend="cuda"), ValueError, "backend"),
    ("backend_none", dict(backend=None), (TypeError, ValueError), "backend"),
    ("backend_int", dict(backend=5), (TypeError, ValueError), "backend"),
    ("backend_empty", dict(backend=""), ValueError, "backend"),
    ("seed_negative", dict(seed=-1), ValueError, "seed"),
    ("seed_float", dict(seed=1.5), TypeError, "seed"),
    ("seed_str", dict(seed="1"), TypeError, "seed"),
    ("seed_bool", dict(seed=True), TypeError, "seed"),
    ("seed_huge_ok", dict(seed=2 ** 64), None, ""),
    ("seed_list", dict(seed=[1, 2]), TypeError, "seed"),
    ("seed_npint_ok", dict(seed=np.int64(3)), None, ""),
    ("seed_none_ok", dict(seed=None), None, ""),
]
for _name, _kw, _exc, _match in CTOR:
    add("ctor", _name, lambda tmp, kw=_kw: _m(**kw), _exc, _match)

MLP_CASES = [
    ("n_in_str", ("4", 5, 3), ValueError, "layer_dims|n_in"),
    ("n_hidden_zero", (4, 0, 3), ValueError, "layer_dims|n_hidden"),
    ("n_out_float", (4, 5, 1.5), ValueError, "layer_dims|n_out"),
    ("n_out_none", (4, 5, None), ValueError, "layer_dims|n_out"),
]
for _name, _args, _exc, _match in MLP_CASES:
    add("ctor", "MLP_" + _name, lambda tmp, a=_args: fastnn.MLP(*a), _exc, _match)
add("ctor", "MLP_bias_str", lambda tmp: fastnn.MLP(4, 5, 3, bias="no"), TypeError, "bias")
add("ctor", "MLP_dtype_none", lambda tmp: fastnn.MLP(4, 5, 3, dtype=None), TypeError, "dtype")
add("ctor", "MLP_seed_negative", lambda tmp: fastnn.MLP(4, 5, 3, seed=-1), ValueError, "seed")
add("ctor", "MLP_k_str", lambda tmp: fastnn.MLP(4, 5, 3, k="2"), TypeError, r"\bk\b")


# --------------------------------------------------------------------------- set_params
def _set_params(weights=None, biases=None, model=None):
    m = model or _m()
    W0, W1 = (w.copy() for w in m.weights)
    if weights is None:
        weights = [W0, W1]
    elif callable(weights):
        weights = weights(W0, W1)
    if callable(biases):
        biases = biases(*(None if b is None else b.copy() for b in m.biases))
    before = m.params.copy()
    try:
        return m.set_params(weights, biases)
    except Exception:
        assert np.array_equal(m.params, before), "a refused set_params changed the model"
        raise


def _with(A, idx, value):
    A = np.array(A, dtype=np.float64)
    A[idx] = value
    return A


SETP = [
    ("nan_weight", dict(weights=lambda a, b: [a, _with(b, (1, 1), np.nan)]), ValueError, r"weights\[1\]"),
    ("inf_weight", dict(weights=lambda a, b: [_with(a, (0, 0), np.inf), b]), ValueError, r"weights\[0\]"),
    ("neg_inf_weight", dict(weights=lambda a, b: [_with(a, (0, 0), -np.inf), b]), ValueError, r"weights\[0\]"),
    ("nan_bias", dict(biases=lambda a, b: [_with(a, 0, np.nan), b]), ValueError, r"biases\[0\]"),
    ("inf_bias", dict(biases=lambda a, b: [a, _with(b, 2, np.inf)]), ValueError, r"biases\[1\]"),
    ("beyond_float32", dict(weights=lambda a, b: [_with(a, (0, 0), 1e39), b]), ValueError,
     r"weights\[0\].*float32 range"),
    ("wrong_shape", dict(weights=lambda a, b: [a.T, b]), ValueError, r"layer 0|weights\[0\]"),
    ("too_many", dict(weights=lambda a, b: [a, b, b]), ValueError, "weights"),
    ("too_few", dict(weights=lambda a, b: [a]), ValueError, "weights"),
    ("none", dict(weights=lambda a, b: None), TypeError, "weights"),
    ("str", dict(weights=lambda a, b: "abc"), (TypeError, ValueError), "weights"),
    ("str_array", dict(weights=lambda a, b: [np.full(a.shape, "x"), b]), TypeError, r"weights\[0\]"),
    ("complex", dict(weights=lambda a, b: [a + 1j, b]), TypeError, r"weights\[0\]"),
    ("object_none_entry", dict(weights=lambda a, b: [a, None]), (TypeError, ValueError), r"weights\[1\]|layer 1"),
    ("bias_wrong_shape", dict(biases=lambda a, b: [a[:-1], b]), ValueError, r"layer 0|biases\[0\]"),
    ("bias_too_many", dict(biases=lambda a, b: [a, b, b]), ValueError, "biases"),
    ("bias_str", dict(biases=lambda a, b: "ab"), (TypeError, ValueError), "biases"),
    ("ok", dict(), None, ""),
    ("ok_float32_lists", dict(weights=lambda a, b: [a.tolist(), b.astype(np.float32)]), None, ""),
]
for _name, _kw, _exc, _match in SETP:
    add("set_params", _name, lambda tmp, kw=_kw: _set_params(**kw), _exc, _match)
add("set_params", "bias_for_biasless_model",
    lambda tmp: _set_params(biases=lambda a, b: [np.ones(5), np.ones(3)], model=_m(bias=False)),
    ValueError, "bias")
add("set_params", "biasless_none_ok", lambda tmp: _set_params(model=_m(bias=False)), None)


# --------------------------------------------------------------------------- predict / score
def _fitted():
    return _m()


def _len(X):
    try:
        return len(X)
    except TypeError:
        return 1


def _big(value=1e39, n=20):
    X, _ = _data(n)
    X[3, 1] = value
    return X


X_BAD = [
    ("nan", lambda: _with(_data()[0], (3, 2), np.nan), ValueError, r"X contains NaN"),
    ("inf", lambda: _with(_data()[0], (3, 2), np.inf), ValueError, r"X contains NaN or inf"),
    ("beyond_float32", lambda: _big(), ValueError, r"X .*float32 range"),
    ("beyond_float32_neg", lambda: _big(-1e39), ValueError, r"X .*float32 range"),
    ("strings", lambda: np.full((20, 4), "a"), TypeError, r"X must hold numbers"),
    ("none", lambda: None, TypeError, r"\bX\b"),
    ("str", lambda: "abc", TypeError, r"\bX\b"),
    ("one_d", lambda: np.ones(4), ValueError, r"X must be 2-D"),
    ("three_d", lambda: np.ones((2, 4, 1)), ValueError, r"X must be 2-D"),
    ("wrong_width", lambda: np.ones((3, 5)), ValueError, r"X has 5 features"),
    ("empty", lambda: np.ones((0, 4)), ValueError, r"X is empty"),
    ("ragged", lambda: [[1, 2, 3, 4], [1, 2]], ValueError, r"\bX\b"),
    ("object", lambda: np.array([[1, 2, 3, None]], dtype=object), TypeError, r"\bX\b"),
    ("complex", lambda: np.ones((3, 4)) + 1j, TypeError, r"\bX\b"),
    ("dict", lambda: {"a": 1}, (TypeError, ValueError), r"\bX\b"),
    ("bool_ok", lambda: np.ones((3, 4), dtype=bool), None, ""),
    ("int_ok", lambda: np.ones((3, 4), dtype=np.int64), None, ""),
    ("fortran_ok", lambda: np.asfortranarray(_data()[0]), None, ""),
]
for _name, _mk, _exc, _match in X_BAD:
    for _meth in ("predict", "predict_proba", "forward"):
        add("predict", f"{_meth}_{_name}", lambda tmp, mk=_mk, meth=_meth: getattr(_fitted(), meth)(mk()),
            _exc, _match)
    add("predict", f"score_{_name}", lambda tmp, mk=_mk: _fitted().score(mk(), np.zeros(_len(mk()), int)),
        _exc, _match)
    add("predict", f"reg_predict_{_name}", lambda tmp, mk=_mk: _reg().predict(mk()), _exc, _match)
add("predict", "float64_model_big_ok", lambda tmp: _m(dtype=np.float64).predict(_big(1e39)), None)
add("predict", "block_parallel_beyond_float32",
    lambda tmp: _m(backend="cython").predict(_big(1e39, n=5000)), ValueError, r"X .*float32 range")
add("predict", "forward_logits_str", lambda tmp: _m().forward(_data()[0], logits="no"), TypeError, "logits")
add("predict", "forward_return_all_str", lambda tmp: _m().forward(_data()[0], return_all="no"), TypeError,
    "return_all")
add("predict", "reset_seed_negative", lambda tmp: _m().reset(seed=-1), ValueError, "seed")
add("predict", "reset_seed_str", lambda tmp: _m().reset(seed="a"), TypeError, "seed")
add("predict", "lossgrad_reduction_avg", lambda tmp: _m().loss_and_gradients(*_data(), reduction="avg"),
    ValueError, "reduction")
add("predict", "lossgrad_gradients_str", lambda tmp: _m().loss_and_gradients(*_data(), gradients="no"),
    TypeError, "gradients")
add("predict", "reg_predict_proba", lambda tmp: _reg().predict_proba(_data()[0]), TypeError, "predict_proba")

Y_CLS = [
    ("short", lambda: np.zeros(19, int), ValueError, r"\by\b"),
    ("long", lambda: np.zeros(21, int), ValueError, r"\by\b"),
    ("nan", lambda: _with(np.zeros(20), 3, np.nan), ValueError, r"label|\by\b"),
    ("fraction", lambda: np.full(20, 0.5), ValueError, r"label|\by\b"),
    ("out_of_range", lambda: np.full(20, 3), ValueError, r"label"),
    ("negative", lambda: np.full(20, -1), ValueError, r"label"),
    ("strings", lambda: np.array(["a"] * 20), TypeError, r"\by\b"),
    ("none", lambda: None, TypeError, r"\by\b"),
    ("scalar", lambda: np.int64(1), (TypeError, ValueError), r"\by\b"),
    ("two_d_wrong", lambda: np.zeros((20, 2)), ValueError, r"\by\b"),
    ("onehot_ok", lambda: np.eye(3)[_data()[1]], None, ""),
]
for _name, _mk, _exc, _match in Y_CLS:
    add("score", f"cls_{_name}", lambda tmp, mk=_mk: _fitted().score(_data()[0], mk()), _exc, _match)
    add("score", f"evaluate_{_name}", lambda tmp, mk=_mk: _fitted().evaluate(_data()[0], mk()), _exc, _match)

Y_REG = [
    ("nan", lambda: _with(np.zeros(20), 3, np.nan), ValueError, r"\by\b.*NaN"),
    ("inf", lambda: _with(np.zeros(20), 3, np.inf), ValueError, r"\by\b.*NaN or inf"),
    ("short", lambda: np.zeros(19), ValueError, r"\by\b"),
    ("long", lambda: np.zeros(21), ValueError, r"\by\b"),
    ("none", lambda: None, TypeError, r"\by\b"),
    ("strings", lambda: np.array(["a"] * 20), TypeError, r"\by\b"),
    ("two_columns", lambda: np.zeros((20, 2)), ValueError, r"\by\b"),
    ("scalar", lambda: np.float64(1.0), (TypeError, ValueError), r"\by\b"),
    ("list_ok", lambda: list(np.linspace(0, 1, 20)), None, ""),
    ("column_ok", lambda: np.linspace(0, 1, 20).reshape(-1, 1), None, ""),
]
for _name, _mk, _exc, _match in Y_REG:
    add("score", f"reg_{_name}", lambda tmp, mk=_mk: _reg().score(_data()[0], mk()), _exc, _match)
    add("score", f"reg_evaluate_{_name}", lambda tmp, mk=_mk: _reg().evaluate(_data()[0], mk()), _exc, _match)
    add("score", f"reg_lossgrad_{_name}", lambda tmp, mk=_mk: _reg().loss_and_gradients(_data()[0], mk()),
        _exc, _match)


# --------------------------------------------------------------------------- save
def _nan_model(value=np.nan):
    m = _m()
    m.params[3] = value
    return m


def _save_refused(tmp, model, name="m.npz"):
    """Save a good model, then try ``model`` over it: the good file must survive."""
    target = tmp / name
    _m().save(target)
    before = target.read_bytes()
    try:
        return model.save(target)
    finally:
        assert target.read_bytes() == before, "a refused save changed the old file"
        assert sorted(os.listdir(tmp)) == [name], "a refused save left a file behind"


def _save_to(path_fn):
    def run(tmp):
        cwd = os.getcwd()
        os.chdir(tmp)  # a bad path must not litter the test's folder (nor the repo)
        try:
            return _m().save(path_fn(tmp))
        finally:
            os.chdir(cwd)
    return run


def _in_dir_file(tmp):
    (tmp / "f").write_text("x")
    return tmp / "f" / "m.npz"


add("save", "nan_params", lambda tmp: _save_refused(tmp, _nan_model()), ValueError, r"m\.npz.*NaN|NaN.*m\.npz")
add("save", "inf_params", lambda tmp: _save_refused(tmp, _nan_model(np.inf)), ValueError, r"m\.npz")
add("save", "empty_path", _save_to(lambda tmp: ""), ValueError, "path")
add("save", "none_path", _save_to(lambda tmp: None), TypeError, "path")
add("save", "int_path", _save_to(lambda tmp: 5), TypeError, "path")
add("save", "list_path", _save_to(lambda tmp: ["m.npz"]), TypeError, "path")
add("save", "dir_path", _save_to(lambda tmp: tmp), (ValueError, IsADirectoryError), "folder|directory")
add("save", "trailing_sep", _save_to(lambda tmp: str(tmp / "sub") + os.sep), ValueError, "path|file name")
add("save", "only_ext", _save_to(lambda tmp: ".npz"), ValueError, "path|file name")
add("save", "parent_is_file", _save_to(_in_dir_file), (OSError, ValueError), r"f\b")
add("save", "nul_in_path", _save_to(lambda tmp: "m\0.npz"), (ValueError, TypeError), "path|null")
add("save", "ok_no_ext", _save_to(lambda tmp: tmp / "m"), None)
add("save", "ok_pathlike_subdir", _save_to(lambda tmp: tmp / "new" / "m.npz"), None)
add("save", "ok_generator_seed",
    lambda tmp: fastnn.load_model(fastnn.DeepMLP([4, 5, 3], seed=np.random.default_rng(0)).save(tmp / "g")),
    None)


# --------------------------------------------------------------------------- load
def _good_file(tmp):
    return Path(_m().save(tmp / "good.npz"))


def _config(tmp):
    with np.load(_good_file(tmp)) as d:
        return json.loads(str(d["config"])), d["params"]


def _write(tmp, name="bad.npz", config=None, params=None, raw=None, arrays=None):
    path = tmp / name
    if raw is not None:
        path.write_bytes(raw)
        return path
    arrays = dict(arrays or {})
    if config is not None:
        arrays["config"] = np.array(config if isinstance(config, str) else json.dumps(config))
    if params is not None:
        arrays["params"] = params
    np.savez(path, **arrays)
    return path


def _load_edit(edit=None, params=None, drop=()):
    def run(tmp):
        cfg, p = _config(tmp)
        for k in drop:
            cfg.pop(k)
        if edit:
            cfg.update(edit)
        p = p if params is None else params(p)
        return fastnn.load_model(_write(tmp, config=cfg, params=p))
    return run


LOAD_EDITS = [
    ("no_init", dict(drop=("init",)), "init"),
    ("no_layer_dims", dict(drop=("layer_dims",)), "layer_dims"),
    ("no_activation", dict(drop=("activation",)), "activation"),
    ("no_dtype", dict(drop=("dtype",)), "dtype"),
    ("no_version", dict(drop=("version",)), "version"),
    ("no_format", dict(drop=("format",)), "not a fastnn"),
    ("version_str", dict(edit={"version": "1"}), r"version.*'1'|version.*str"),
    ("version_float", dict(edit={"version": 1.0}), r"version"),
    ("version_future", dict(edit={"version": 99}), r"version 99"),
    ("version_zero", dict(edit={"version": 0}), r"version 0"),
    ("format_other", dict(edit={"format": "keras"}), "not a fastnn"),
    ("dims_huge", dict(edit={"layer_dims": [1000000, 1000000, 3]}), r"layer_dims|parameters"),
    ("dims_str", dict(edit={"layer_dims": "4-5-3"}), "layer_dims"),
    ("dims_negative", dict(edit={"layer_dims": [4, -5, 3]}), "layer_dims"),
    ("dims_float", dict(edit={"layer_dims": [4, 5.5, 3]}), "layer_dims"),
    ("dims_mismatch", dict(edit={"layer_dims": [4, 6, 3]}), r"layer_dims|parameters"),
    ("activation_unknown", dict(edit={"activation": "swish"}), "activation"),
    ("dtype_unknown", dict(edit={"dtype": "float17"}), "dtype"),
    ("dtype_int", dict(edit={"dtype": "int32"}), "dtype"),
    ("bias_str", dict(edit={"bias": "no"}), "bias"),
    ("seed_negative", dict(edit={"seed": -1}), "seed"),
    ("k_str", dict(edit={"k": "x"}), r"\bk\b"),
    ("params_nan", dict(params=lambda p: _with(p, 0, np.nan).astype(p.dtype)), "NaN"),
    ("params_short", dict(params=lambda p: p[:-1]), r"parameter|corrupt"),
    ("params_2d", dict(params=lambda p: p.reshape(1, -1)), r"parameter|corrupt"),
    ("params_float64", dict(params=lambda p: p.astype(np.float64)), r"parameter|dtype|corrupt"),
    ("params_int", dict(params=lambda p: p.astype(np.int32)), r"parameter|dtype|corrupt"),
    ("params_scalar", dict(params=lambda p: np.float32(1)), r"parameter|corrupt"),
]
for _name, _kw, _match in LOAD_EDITS:
    add("load", _name, _load_edit(**_kw), fastnn.ModelFileError, r"bad\.npz.*(" + _match + ")")


def _load_raw(make):
    def run(tmp):
        return fastnn.load_model(make(tmp))
    return run


def _npy(tmp):
    np.save(tmp / "m.npy", np.ones(3))
    return tmp / "m.npy"


def _npy_as_npz(tmp):
    np.save(tmp / "m.npy", np.ones(3))
    os.replace(tmp / "m.npy", tmp / "m.npz")
    return tmp / "m.npz"


def _truncated(tmp):
    raw = _good_file(tmp).read_bytes()
    return _write(tmp, raw=raw[: len(raw) // 2])


def _flipped(tmp):
    raw = bytearray(_good_file(tmp).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    return _write(tmp, raw=bytes(raw))


def _huge_header(tmp, consistent=False):
    """A small .npz whose params header claims 10**12 float32 values (with consistent=True, the
    exact count its layer_dims imply, so that only the file's size gives it away)."""
    import io
    import zipfile

    cfg, _ = _config(tmp)
    cfg["layer_dims"] = [1000000, 1000000, 3]
    n = 10 ** 12 + 4 * 10 ** 6 + 3 if consistent else 10 ** 12
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (n,)})
    path = tmp / "bad.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.npy", _npy_bytes(np.array(json.dumps(cfg))))
        z.writestr("params.npy", buf.getvalue() + b"\0" * 64)
    return path


def _npy_bytes(arr):
    import io

    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


LOAD_RAW = [
    ("npy_file", _npy, r"m\.npy.*(\.npy|not a fastnn)"),
    ("npy_renamed_npz", _npy_as_npz, r"m\.npz.*(\.npy|not a fastnn)"),
    ("text_file", lambda tmp: _write(tmp, raw=b"hello world"), r"bad\.npz.*(corrupt|not a fastnn)"),
    ("empty_file", lambda tmp: _write(tmp, raw=b""), r"bad\.npz.*(empty|corrupt)"),
    ("truncated", _truncated, r"bad\.npz.*(corrupt|truncated)"),
    ("flipped_byte", _flipped, r"bad\.npz"),
    ("foreign_npz", lambda tmp: _write(tmp, arrays={"a": np.ones(3)}), r"bad\.npz.*not a fastnn"),
    ("config_only", lambda tmp: _write(tmp, config=_config(tmp)[0]), r"bad\.npz.*(params|not a fastnn)"),
    ("config_not_json", lambda tmp: _write(tmp, config="{not json", params=np.ones(3, np.float32)),
     r"bad\.npz.*(config|corrupt)"),
    ("config_json_list", lambda tmp: _write(tmp, config="[1, 2]", params=np.ones(3, np.float32)),
     r"bad\.npz.*(config|not a fastnn)"),
    ("config_numeric", lambda tmp: _write(tmp, params=np.ones(3, np.float32),
                                          arrays={"config": np.arange(3)}), r"bad\.npz.*config"),
    ("config_object_array", lambda tmp: _write(tmp, params=np.ones(3, np.float32),
                                               arrays={"config": np.array([{"a": 1}], dtype=object)}),
     r"bad\.npz"),
    ("huge_header", _huge_header, r"bad\.npz.*(parameters|layer_dims|corrupt)"),
    ("huge_header_consistent", lambda tmp: _huge_header(tmp, True), r"bad\.npz.*(truncated|corrupt)"),
    ("folder", lambda tmp: tmp, r"folder|directory"),
]
for _name, _make, _match in LOAD_RAW:
    add("load", _name, _load_raw(_make), fastnn.ModelFileError, _match)
add("load", "missing", lambda tmp: fastnn.load_model(tmp / "nope.npz"), FileNotFoundError, r"nope\.npz")
add("load", "none_path", lambda tmp: fastnn.load_model(None), TypeError, "path")
add("load", "int_path", lambda tmp: fastnn.load_model(5), TypeError, "path")
add("load", "bad_backend", lambda tmp: fastnn.load_model(_good_file(tmp), backend="cuda"), ValueError, "backend")


def _permission_denied(tmp):
    path = _good_file(tmp)
    import builtins

    real_open = builtins.open

    def deny(file, *a, **k):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *a, **k)

    builtins.open = deny
    try:
        return fastnn.load_model(path)
    finally:
        builtins.open = real_open


add("load", "permission_denied", _permission_denied, (PermissionError, fastnn.ModelFileError),
    r"(?i)good\.npz.*permission")
add("load", "roundtrip_ok", lambda tmp: fastnn.load_model(_good_file(tmp)).predict(_data()[0]), None)


# --------------------------------------------------------------------------- datasets
def _idx_bytes(dims, payload, type_code=0x08):
    head = bytes([0, 0, type_code, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return head + payload


def _gzip_bomb(path, header, total_bytes):
    """header + total_bytes zeros as concatenated gzip members (a few MB on disk)."""
    chunk = 1 << 24
    member = gzip.compress(bytes(chunk), compresslevel=9)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(header))
        for _ in range(total_bytes // chunk):
            fh.write(member)
    return path


def _bomb_env(tmp):
    folder = tmp / "data" / "mnist"
    folder.mkdir(parents=True)
    _gzip_bomb(folder / "train-images-idx3-ubyte.gz", _idx_bytes((60000, 28, 28), b""), 3 << 30)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes((60000,), bytes(60000))))
    os.environ["FASTNN_DATA"] = str(tmp / "data")
    try:
        return ds.load("mnist", download=False)
    finally:
        del os.environ["FASTNN_DATA"]


add("datasets", "gzip_bomb_FASTNN_DATA", _bomb_env, ds.DatasetError, r"train-images", sub=True)


def _read_idx(make, **kw):
    def run(tmp):
        path = tmp / "f.idx"
        data = make(tmp)
        path.write_bytes(data)
        return ds.read_idx(path, **kw)
    return run


def _small_bomb(tmp):
    """A header announcing 4 bytes followed by 64 MiB of zeros: refused after reading 5."""
    _gzip_bomb(tmp / "b.gz", _idx_bytes((4,), b""), 64 << 20)
    return (tmp / "b.gz").read_bytes()


IDX = [
    ("bomb_small", _small_bomb, {}, "f.idx"),
    ("bomb_expected", _small_bomb, {"expected_shape": (4,)}, "f.idx"),
    ("truncated_gzip", lambda tmp: gzip.compress(_idx_bytes((10,), bytes(10)))[:-12], {}, "f.idx"),
    ("corrupt_gzip", lambda tmp: b"\x1f\x8b" + b"\xff" * 40, {}, "f.idx"),
    ("bad_magic", lambda tmp: b"\x01\x02\x03\x04" + bytes(10), {}, "f.idx"),
    ("empty", lambda tmp: b"", {}, "f.idx"),
    ("short_header", lambda tmp: bytes([0, 0, 8, 3, 0, 0]), {}, "f.idx"),
    ("short_data", lambda tmp: _idx_bytes((10,), bytes(5)), {}, "f.idx"),
    ("long_data", lambda tmp: _idx_bytes((10,), bytes(15)), {}, "f.idx"),
    ("huge_dims", lambda tmp: _idx_bytes((2 ** 31, 2 ** 31, 2 ** 31), bytes(8)), {}, "f.idx"),
    ("huge_dims_gzip", lambda tmp: gzip.compress(_idx_bytes((2 ** 31, 2 ** 31), bytes(64))), {}, "f.idx"),
    ("wrong_shape", lambda tmp: _idx_bytes((10,), bytes(10)), {"expected_shape": (11,)}, "f.idx"),
    ("wrong_type", lambda tmp: _idx_bytes((10,), bytes(10)), {"expected_shape": (10,), "expected_type": 0x0D},
     "f.idx"),
    ("text", lambda tmp: b"hello, this is not idx", {}, "f.idx"),
]
for _name, _make, _kw, _match in IDX:
    add("datasets", "read_idx_" + _name, _read_idx(_make, **_kw), ds.DatasetError, _match)
add("datasets", "read_idx_ok", _read_idx(lambda tmp: gzip.compress(_idx_bytes((2, 3), bytes(6))),
                                         expected_shape=(None, 3)), None)
add("datasets", "read_idx_folder", lambda tmp: ds.read_idx(tmp), ds.DatasetError, str(os.sep) + "|folder")
add("datasets", "read_idx_missing", lambda tmp: ds.read_idx(tmp / "nope"), ds.DatasetError, "nope")

LOAD_DS = [
    ("unknown_name", ("nope",), {}, ds.DatasetError, "nope"),
    ("name_int", (5,), {}, ds.DatasetError, "dataset"),
    ("split_unknown", ("moons", "validation"), {}, ds.DatasetError, "split"),
    ("split_int", ("moons", 5), {}, ds.DatasetError, "split"),
    ("normalize_str", ("moons",), {"normalize": "no"}, TypeError, "normalize"),
    ("flatten_str", ("digits",), {"flatten": "no"}, TypeError, "flatten"),
    ("one_hot_str", ("moons",), {"one_hot": "yes"}, TypeError, "one_hot"),
    ("download_str", ("mnist",), {"download": "no", "data_home": "/nonexistent-fastnn"}, TypeError, "download"),
    ("dtype_garbage", ("moons",), {"dtype": "abc"}, (TypeError, ValueError), "dtype"),
    ("dtype_int_normalize", ("moons",), {"dtype": np.int32}, ValueError, "dtype|normalize"),
    ("dtype_object", ("moons",), {"dtype": object}, (TypeError, ValueError), "dtype|normalize"),
    ("unknown_param", ("moons",), {"n_smaples": 5}, TypeError, "n_smaples"),
    ("moons_n_negative", ("moons",), {"n_samples": -1}, ValueError, "n_samples"),
    ("moons_n_str", ("moons",), {"n_samples": "5"}, (TypeError, ValueError), "n_samples"),
    ("moons_n_float", ("moons",), {"n_samples": 5.5}, (TypeError, ValueError), "n_samples"),
    ("moons_noise_negative", ("moons",), {"noise": -1}, ValueError, "noise"),
    ("moons_noise_str", ("moons",), {"noise": "abc"}, (TypeError, ValueError), "noise"),
    ("moons_noise_nan", ("moons",), {"noise": np.nan}, ValueError, "noise"),
    ("moons_seed_negative", ("moons",), {"seed": -1}, (TypeError, ValueError), "seed"),
    ("moons_seed_str", ("moons",), {"seed": "0"}, (TypeError, ValueError), "seed"),
    ("moons_n_test_zero", ("moons", "test"), {"n_test": 0}, ValueError, "n_test"),
    ("blobs_centers_zero", ("blobs",), {"centers": 0}, (TypeError, ValueError), "centers"),
    ("blobs_centers_str", ("blobs",), {"centers": "abc"}, (TypeError, ValueError), "centers"),
    ("blobs_std_negative", ("blobs",), {"cluster_std": -1}, ValueError, "cluster_std"),
    ("blobs_std_str", ("blobs",), {"cluster_std": "x"}, (TypeError, ValueError), "cluster_std"),
    ("blobs_features_zero", ("blobs",), {"n_features": 0}, ValueError, "n_features"),
    ("blobs_centers_bad_width", ("blobs",), {"centers": [[0, 0, 0]], "n_features": 2}, (TypeError, ValueError),
     "centers|n_features"),
    ("data_home_file", ("mnist",), {"data_home": __file__, "download": False}, ds.DatasetError, "mnist"),
    ("moons_ok_tuple_split", ("moons", ("train", "test")), {}, None, ""),
    ("moons_ok_npbool", ("moons",), {"normalize": np.bool_(False)}, None, ""),
]
LOAD_DS += [
    ("data_home_int", ("mnist",), {"data_home": 5, "download": False}, (TypeError, ds.DatasetError), "data_home"),
    ("cache_dir_int", ("moons",), {"cache_dir": 5}, (TypeError, ds.DatasetError), "cache_dir"),
    ("progress_str", ("mnist",), {"progress": "x", "download": False, "data_home": "/nonexistent-fastnn"},
     TypeError, "progress"),
    ("split_tuple_bad", ("moons", ("train", 5)), {}, ds.DatasetError, "split"),
    ("mnist5k_bad_split", ("mnist-5k", "valid"), {}, ds.DatasetError, "split"),
    ("digits_ok_unflattened", ("digits",), {"flatten": np.bool_(False)}, None, ""),
]
for _name, _args, _kw, _exc, _match in LOAD_DS:
    def _run_load(tmp, a=_args, kw=_kw):
        kw = {**kw, "cache_dir": Path(tmp) / "cache"} if a[0] == "mnist" else kw  # never touch the real cache
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ds.load(*a, **kw)
    add("datasets", "load_" + _name, _run_load, _exc, _match)

UTILS = [
    ("one_hot_negative", lambda: ds.one_hot([0, -1, 2]), ValueError, "label"),
    ("one_hot_nclasses_zero", lambda: ds.one_hot([0, 1], n_classes=0), ValueError, "n_classes"),
    ("one_hot_nclasses_str", lambda: ds.one_hot([0, 1], n_classes="3"), (TypeError, ValueError), "n_classes"),
    ("one_hot_fraction", lambda: ds.one_hot([0.5, 1]), ValueError, r"\by\b|label"),
    ("one_hot_2d", lambda: ds.one_hot(np.zeros((2, 2), int)), ValueError, r"\by\b"),
    ("split_fraction_big", lambda: ds.train_val_split(np.ones((4, 2)), [0, 1, 0, 1], 1.5), ValueError,
     "val_fraction"),
    ("split_fraction_str", lambda: ds.train_val_split(np.ones((4, 2)), [0, 1, 0, 1], "0.1"),
     (TypeError, ValueError), "val_fraction"),
    ("split_fraction_nan", lambda: ds.train_val_split(np.ones((4, 2)), [0, 1, 0, 1], np.nan), ValueError,
     "val_fraction"),
    ("split_lengths", lambda: ds.train_val_split(np.ones((4, 2)), [0, 1, 0]), ValueError, "lengths"),
    ("split_stratify_str", lambda: ds.train_val_split(np.ones((4, 2)), [0, 1, 0, 1], stratify="no"),
     TypeError, "stratify"),
    ("shuffle_seed_negative", lambda: ds.shuffle(np.ones((4, 2)), seed=-1), ValueError, "seed"),
    ("shuffle_seed_str", lambda: ds.shuffle(np.ones((4, 2)), seed="1"), TypeError, "seed"),
    ("shuffle_lengths", lambda: ds.shuffle(np.ones((4, 2)), np.ones(3)), ValueError, "lengths"),
]
UTILS += [
    ("read_idx_none", lambda: ds.read_idx(None), (TypeError, ds.DatasetError), "path"),
    ("read_idx_int", lambda: ds.read_idx(5), (TypeError, ds.DatasetError), "path"),
    ("fetch_split_int", lambda: ds.fetch("mnist", split=5, download=False), ds.DatasetError, "split"),
    ("fetch_generated", lambda: ds.fetch("moons"), ds.DatasetError, "moons"),
    ("one_hot_dtype", lambda: ds.one_hot([0, 1], dtype="abc"), TypeError, "dtype"),
    ("shuffle_X_none", lambda: ds.shuffle(None), (TypeError, ValueError), r"\bX\b"),
    ("split_seed_negative", lambda: ds.train_val_split(np.ones((4, 2)), [0, 1, 0, 1], seed=-1), ValueError,
     "seed"),
]
for _name, _fn, _exc, _match in UTILS:
    add("datasets", _name, lambda tmp, f=_fn: f(), _exc, _match)


# --------------------------------------------------------------------------- threads
def _threads(n):
    def run(tmp):
        try:
            return fastnn.set_num_threads(n)
        finally:
            fastnn.set_num_threads(2)
    return run


THREADS = [
    ("zero", 0, ValueError, "thread"),
    ("negative", -1, ValueError, "thread"),
    ("float", 2.5, TypeError, "thread"),
    ("npfloat", np.float64(2), TypeError, "thread"),
    ("str", "2", TypeError, "thread"),
    ("bool", True, TypeError, "thread"),
    ("list", [2], TypeError, "thread"),
    ("npint_ok", np.int64(2), None, ""),
    ("npint32_ok", np.int32(1), None, ""),
    ("none_ok", None, None, ""),
]
for _name, _n, _exc, _match in THREADS:
    add("threads", _name, _threads(_n), _exc, _match)


def _predict_after_threads(n, rows=4096, backend="cython"):
    def run(tmp):
        fastnn.set_num_threads(n)
        X = np.random.default_rng(0).standard_normal((rows, 8))
        return fastnn.DeepMLP([8, 16, 3], backend=backend, seed=0).predict(X)
    return run


add("threads", "billion_then_predict", _predict_after_threads(10 ** 9), ValueError, "thread", sub=True)
add("threads", "thousand_then_predict", _predict_after_threads(1000), ValueError, "thread", sub=True)
add("threads", "above_cap", lambda tmp: fastnn.set_num_threads(fastnn._threads.max_threads() + 1)
    if hasattr(fastnn._threads, "max_threads") else fastnn.set_num_threads(4 * (os.cpu_count() or 1) + 257),
    ValueError, "thread", sub=True)
add("threads", "cap_ok_predict", lambda tmp: _predict_after_threads(
    getattr(fastnn._threads, "max_threads", lambda: 16)(), rows=3000)(tmp), None, sub=True)


def _tight_memory_threads(tmp):
    """Under an address-space limit a few MB above the current use, ask for 48 threads: a Python
    exception or success, never an interpreter exit."""
    import resource

    model = fastnn.DeepMLP([8, 16, 3], backend="cython", seed=0)
    X = np.random.default_rng(0).standard_normal((4096, 8))
    model.predict(X)
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + (96 << 20), resource.getrlimit(resource.RLIMIT_AS)[1]))
    fastnn.set_num_threads(48)
    model.predict(X[:2000])  # one pass over all rows: BLAS and the OpenMP epilogues with 48 threads
    return model.predict(X)  # block-parallel: Python worker threads


add("threads", "tight_memory_48", _tight_memory_threads, (RuntimeError, MemoryError), "thread", sub=True,
    either=True)


def _thread_start_fails(tmp):
    import threading

    fastnn.set_num_threads(2)
    from fastnn import _threads as t

    ex = t._state.pop("executor", None)
    if ex is not None:
        ex.shutdown(wait=True)
    real = threading.Thread.start

    def fail(self):
        raise RuntimeError("can't start new thread")

    threading.Thread.start = fail
    try:
        X = np.random.default_rng(0).standard_normal((4096, 8))
        return fastnn.DeepMLP([8, 16, 3], backend="cython", seed=0).predict(X)
    finally:
        threading.Thread.start = real


add("threads", "thread_start_fails", _thread_start_fails, RuntimeError, "thread", sub=True)


# --------------------------------------------------------------------------- callbacks
CALLBACKS = [
    ("patience_negative", lambda: fastnn.EarlyStopping(patience=-1), ValueError, "patience"),
    ("patience_float", lambda: fastnn.EarlyStopping(patience=1.5), TypeError, "patience"),
    ("patience_str", lambda: fastnn.EarlyStopping(patience="3"), TypeError, "patience"),
    ("patience_none", lambda: fastnn.EarlyStopping(patience=None), TypeError, "patience"),
    ("patience_bool", lambda: fastnn.EarlyStopping(patience=True), TypeError, "patience"),
    ("patience_inf", lambda: fastnn.EarlyStopping(patience=np.inf), TypeError, "patience"),
    ("min_delta_negative", lambda: fastnn.EarlyStopping(min_delta=-1), ValueError, "min_delta"),
    ("min_delta_nan", lambda: fastnn.EarlyStopping(min_delta=np.nan), ValueError, "min_delta"),
    ("min_delta_str", lambda: fastnn.EarlyStopping(min_delta="0"), TypeError, "min_delta"),
    ("monitor_unknown", lambda: fastnn.EarlyStopping(monitor="acc"), ValueError, "monitor"),
    ("monitor_int", lambda: fastnn.EarlyStopping(monitor=5), (TypeError, ValueError), "monitor"),
    ("restore_best_str", lambda: fastnn.EarlyStopping(restore_best="no"), TypeError, "restore_best"),
    ("lambda_not_callable", lambda: fastnn.LambdaCallback(on_epoch_end=5), TypeError, "on_epoch_end"),
    ("lambda_step_str", lambda: fastnn.LambdaCallback(on_step_end="x"), TypeError, "on_step_end"),
    ("patience_zero_ok", lambda: fastnn.EarlyStopping(patience=0), None, ""),
    ("patience_npint_ok", lambda: fastnn.EarlyStopping(patience=np.int64(3)), None, ""),
]
for _name, _fn, _exc, _match in CALLBACKS:
    add("callbacks", _name, lambda tmp, f=_fn: f(), _exc, _match)


# --------------------------------------------------------------------------- scikit-learn
def _sk(kind, X=None, y=None, **params):
    from sklearn.exceptions import ConvergenceWarning

    from fastnn.sklearn import FastMLPClassifier, FastMLPRegressor

    Xd, yd = _data(30)
    X = Xd if X is None else X
    params = {"hidden_layer_sizes": (4,), "max_iter": 2, "random_state": 0, **params}
    if kind == "clf":
        est, y = FastMLPClassifier(**params), (yd if y is None else y)
    else:
        est, y = FastMLPRegressor(**params), (Xd[:, 0] if y is None else y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


SK_PARAMS = [
    ("shuffle_str", {"shuffle": "no"}, TypeError, "shuffle"),
    ("warm_start_str", {"warm_start": "no"}, TypeError, "warm_start"),
    ("early_stopping_str", {"early_stopping": "yes"}, TypeError, "early_stopping"),
    ("verbose_str", {"verbose": "no"}, TypeError, "verbose"),
    ("verbose_negative", {"verbose": -1}, (TypeError, ValueError), "verbose"),
    ("dtype_float16", {"dtype": "float16"}, (TypeError, ValueError), "dtype"),
    ("dtype_int", {"dtype": np.int32}, (TypeError, ValueError), "dtype"),
    ("dtype_garbage", {"dtype": "abc"}, (TypeError, ValueError), "dtype"),
    ("k_str", {"k": "2"}, TypeError, r"\bk\b"),
    ("k_zero", {"k": 0}, ValueError, r"\bk\b"),
    ("k_list_str", {"k": ["2"]}, TypeError, r"\bk\b"),
    ("init_normal_negative", {"init": ("normal", -1)}, ValueError, "init"),
    ("init_unknown", {"init": "orthogonal"}, ValueError, "init"),
    ("random_state_negative", {"random_state": -1}, ValueError, "random_state"),
    ("random_state_str", {"random_state": "0"}, (TypeError, ValueError), "random_state"),
    ("hidden_zero", {"hidden_layer_sizes": (0,)}, ValueError, "hidden_layer_sizes"),
    ("hidden_str", {"hidden_layer_sizes": "10"}, (TypeError, ValueError), "hidden_layer_sizes"),
    ("hidden_float", {"hidden_layer_sizes": (2.5,)}, ValueError, "hidden_layer_sizes"),
    ("hidden_none", {"hidden_layer_sizes": None}, TypeError, "hidden_layer_sizes"),
    ("activation_unknown", {"activation": "swish"}, ValueError, "activation"),
    ("activation_int", {"activation": 5}, (TypeError, ValueError), "activation"),
    ("solver_lbfgs", {"solver": "lbfgs"}, ValueError, "solver"),
    ("alpha_negative", {"alpha": -1}, ValueError, "alpha"),
    ("alpha_str", {"alpha": "0.1"}, TypeError, "alpha"),
    ("alpha_nan", {"alpha": np.nan}, ValueError, "alpha"),
    ("batch_zero", {"batch_size": 0}, ValueError, "batch_size"),
    ("batch_str", {"batch_size": "big"}, TypeError, "batch_size"),
    ("batch_float", {"batch_size": 2.5}, TypeError, "batch_size"),
    ("lr_zero", {"learning_rate_init": 0}, ValueError, "learning_rate_init"),
    ("lr_str", {"learning_rate_init": "0.1"}, TypeError, "learning_rate_init"),
    ("lr_nan", {"learning_rate_init": np.nan}, ValueError, "learning_rate_init"),
    ("max_iter_zero", {"max_iter": 0}, ValueError, "max_iter"),
    ("max_iter_float", {"max_iter": 1.5}, TypeError, "max_iter"),
    ("tol_negative", {"tol": -1}, ValueError, "tol"),
    ("momentum_big", {"momentum": 1.5}, ValueError, "momentum"),
    ("momentum_negative", {"momentum": -0.1}, ValueError, "momentum"),
    ("beta_1_one", {"beta_1": 1.0}, ValueError, "beta_1"),
    ("beta_2_negative", {"beta_2": -0.1}, ValueError, "beta_2"),
    ("epsilon_zero", {"epsilon": 0}, ValueError, "epsilon"),
    ("validation_fraction_one", {"validation_fraction": 1.0}, ValueError, "validation_fraction"),
    ("n_iter_no_change_zero", {"n_iter_no_change": 0}, ValueError, "n_iter_no_change"),
    ("reduction_avg", {"reduction": "avg"}, ValueError, "reduction"),
    ("backend_cuda", {"backend": "cuda"}, ValueError, "backend"),
    ("ok_npbool", {"shuffle": np.bool_(False)}, None, ""),
    ("ok_verbose_zero", {"verbose": 0}, None, ""),
    ("ok_dtype_float64", {"dtype": "float64"}, None, ""),
]
for _name, _params, _exc, _match in SK_PARAMS:
    for _kind in ("clf", "reg"):
        add("sklearn", f"{_kind}_{_name}", lambda tmp, k=_kind, p=_params: _sk(k, **p), _exc, _match)


def _sk_score(kind, y_score):
    def run(tmp):
        est = _sk(kind)
        return est.score(_data(30)[0], y_score())
    return run


SK_SCORE = [
    ("reg_nan", "reg", lambda: _with(np.zeros(30), 2, np.nan), ValueError, r"NaN"),
    ("reg_inf", "reg", lambda: _with(np.zeros(30), 2, np.inf), ValueError, r"infinity|inf"),
    ("reg_short", "reg", lambda: np.zeros(29), ValueError, r"samples"),
    ("reg_strings", "reg", lambda: np.array(["a"] * 30), (TypeError, ValueError), r"\by\b|string|float"),
    ("clf_short", "clf", lambda: np.zeros(29, int), ValueError, r"samples"),
]
for _name, _kind, _y, _exc, _match in SK_SCORE:
    add("sklearn", "score_" + _name, _sk_score(_kind, _y), _exc, _match)
add("sklearn", "fit_X_nan", lambda tmp: _sk("clf", X=_with(_data(30)[0], (1, 1), np.nan)), ValueError, "NaN")
add("sklearn", "fit_y_nan_reg", lambda tmp: _sk("reg", y=_with(np.zeros(30), 1, np.nan)), ValueError, "NaN")
add("sklearn", "fit_y_short", lambda tmp: _sk("clf", y=np.zeros(29, int)), ValueError, "samples")
add("sklearn", "fit_one_class", lambda tmp: _sk("clf", y=np.zeros(30, int)), ValueError, "class")
add("sklearn", "fit_X_beyond_float32", lambda tmp: _sk("clf", X=_big(1e39, 30), dtype="float32"), ValueError,
    r"X .*float32 range")


# --------------------------------------------------------------------------- running a case
def classify(case, tmp):
    """(outcome class, detail) of one case run in this process."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.fn(Path(tmp))
    except MemoryError as exc:
        return ("clear" if case.exc and isinstance(exc, case.exc) and re.search(case.match, str(exc))
                else "crash"), f"MemoryError: {exc}"
    except BaseException as exc:  # noqa: B902 - a KeyboardInterrupt-like error is an outcome too
        if isinstance(exc, AssertionError) and "refused" in str(exc):
            return "silent", f"AssertionError: {exc}"
        detail = f"{type(exc).__name__}: {exc}"
        if case.exc is not None and isinstance(exc, case.exc) and re.search(case.match, str(exc), re.S):
            return "clear", detail
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return "low-level", detail
    if case.exc is None or case.either:
        return "handled", "ok"
    return "silent", "no error raised"


def run_in_subprocess(case, tmp, timeout=120):
    """Run one case in a child limited to 2.5 GB of address space; a dying child is a crash."""
    cmd = [sys.executable, os.path.abspath(__file__), "--one", case.id, str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "crash", f"timed out after {timeout} s"
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("OUTCOME ")]
    if proc.returncode != 0 or not lines:
        return "crash", f"exit code {proc.returncode}; stderr: {proc.stderr[-500:]}"
    outcome, detail = json.loads(lines[-1][len("OUTCOME "):])
    return outcome, detail


def run_case(case, tmp):
    return run_in_subprocess(case, tmp) if case.sub else classify(case, tmp)


BY_ID = {c.id: c for c in CASES}
assert len(BY_ID) == len(CASES), "duplicate case ids"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path):
    outcome, detail = run_case(case, tmp_path)
    want = f"{case.exc.__name__ if isinstance(case.exc, type) else case.exc} matching {case.match!r}" \
        if case.exc is not None else "success"
    assert outcome in ("clear", "handled"), f"{case.id}: {outcome} ({detail}); wanted {want}"


def test_catalogue_size():
    assert len(CASES) >= 300


def _tally(areas=None):
    from collections import Counter

    counts, per_area, bad = Counter(), {}, []
    for case in CASES:
        if areas and case.area not in areas:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            outcome, detail = run_case(case, Path(tmp))
        counts[outcome] += 1
        per_area.setdefault(case.area, Counter())[outcome] += 1
        if outcome not in ("clear", "handled"):
            bad.append(f"{outcome:9s} {case.id}: {detail[:160]}")
        fastnn.set_num_threads(2)
    return counts, per_area, bad


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (5 << 29, resource.getrlimit(resource.RLIMIT_AS)[1]))
        fastnn.set_num_threads(2)
        print("OUTCOME " + json.dumps(classify(BY_ID[sys.argv[2]], sys.argv[3])), flush=True)
    elif sys.argv[1] == "--tally":
        fastnn.set_num_threads(2)
        counts, per_area, bad = _tally(sys.argv[2:] or None)
        classes = ("clear", "handled", "low-level", "silent", "crash")
        print(f"{'area':12s} " + " ".join(f"{c:>9s}" for c in classes))
        for area, c in per_area.items():
            print(f"{area:12s} " + " ".join(f"{c[k]:9d}" for k in classes))
        print(f"{'total':12s} " + " ".join(f"{counts[k]:9d}" for k in classes) + f"   ({sum(counts.values())} cases)")
        print("\n".join(bad))
