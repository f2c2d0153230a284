"""``load()``: one entry point for every dataset name."""
from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

from . import _fetch, _toy
from ._errors import DatasetError
from ._idx import read_idx
from ._registry import DatasetInfo, get_info
from ._utils import one_hot as _one_hot
from ..validation import check_bool, check_path

__all__ = ["load", "fetch", "SPLITS"]

#: Accepted values of ``split`` (or a tuple/list of them).
SPLITS = ("train", "test", "all")

_GENERATORS = {"moons": _toy.raw_moons, "blobs": _toy.raw_blobs}


def _check_params(info: DatasetInfo, params: Dict[str, object]) -> Dict[str, object]:
    unknown = sorted(set(params) - set(info.params))
    if unknown:
        accepted = ", ".join(info.params) if info.params else "none"
        raise TypeError(f"load({info.name!r}) got unexpected keyword argument(s) "
                        f"{', '.join(unknown)}; parameters accepted for {info.name!r}: {accepted}")
    merged = dict(info.params)
    merged.update(params)
    return merged


def _check_fetch_args(data_home, cache_dir, download, progress):
    """The arguments that say where files are looked for and how they are fetched."""
    return (check_path(data_home, "data_home", allow_none=True), check_path(cache_dir, "cache_dir", allow_none=True),
            check_bool(download, "download"), None if progress is None else check_bool(progress, "progress"))


def _n_classes(info: DatasetInfo, params: Dict[str, object]) -> int:
    if info.kind == "blobs":
        centers = params.get("centers")
        if centers is None:
            return len(_toy.BLOB_CENTERS)
        if isinstance(centers, (int, np.integer)):
            return int(centers)
        return len(np.asarray(centers))
    return info.n_classes


def _raw_idx(info: DatasetInfo, split: str, fetch_kw) -> Tuple[np.ndarray, np.ndarray]:
    parts = ("train", "test") if split == "all" else (split,)
    paths = _fetch.fetch(info, parts, **fetch_kw)
    cache_root = _fetch.get_cache_dir(fetch_kw.get("cache_dir"))
    Xs, ys = [], []
    for part in parts:
        (img_file, lbl_file), (img_path, lbl_path) = info.files[part], paths[part]
        X = read_idx(img_path, img_file.shape, remedy=_fetch.remedy_for(img_path, cache_root))
        y = read_idx(lbl_path, lbl_file.shape, remedy=_fetch.remedy_for(lbl_path, cache_root))
        if len(X) != len(y):
            raise DatasetError(
                f"{img_path} holds {len(X)} images but {lbl_path} holds {len(y)} labels; "
                "the two files do not belong together. "
                + _fetch.remedy_for(img_path, cache_root))
        if y.size and int(y.max()) >= info.n_classes:
            raise DatasetError(
                f"{lbl_path}: label {int(y.max())} is out of range 0..{info.n_classes - 1}; "
                "the file is corrupt or not a label file. "
                + _fetch.remedy_for(lbl_path, cache_root))
        Xs.append(X)
        ys.append(y)
    X = Xs[0] if len(Xs) == 1 else np.concatenate(Xs)
    y = (ys[0] if len(ys) == 1 else np.concatenate(ys)).astype(np.int64)
    return X, y


def _standardize(X: np.ndarray, reference: np.ndarray) -> np.ndarray:
    mean = reference.mean(axis=0)
    std = reference.std(axis=0)
    std[std == 0] = 1.0
    return (X - mean) / std


def load(
    name: str,
    split: Union[str, Sequence[str]] = "train",
    *,
    normalize: bool = True,
    flatten: bool = True,
    one_hot: bool = False,
    dtype=np.float32,
    data_home: "Optional[os.PathLike[str] | str]" = None,
    cache_dir: "Optional[os.PathLike[str] | str]" = None,
    download: bool = True,
    progress: Optional[bool] = None,
    **params,
):
    """Load a dataset as NumPy arrays.

    Parameters
    ----------
    name : str
        One of :func:`list_datasets`: ``"mnist"``, ``"fashion-mnist"``,
        ``"mnist-5k"``, ``"digits"``, ``"moons"``, ``"blobs"``.
    split : {"train", "test", "all"} or a tuple of them
        ``"all"`` is train followed by test. A tuple returns one ``(X, y)``
        pair per entry: ``(Xtr, ytr), (Xte, yte) = load("mnist", ("train", "test"))``.
    normalize : bool
        Image sets (mnist, fashion-mnist, mnist-5k, digits): scale pixels to
        [0, 1] (divide by 255, or by 16 for digits). Generated sets (moons,
        blobs): standardise each feature to zero mean and unit variance using
        the *train* split's statistics (also for the test split). ``False``
        gives the raw values (converted to ``dtype``).
    flatten : bool
        Image sets: rows of ``n_features`` values (784 for 28x28) if True,
        else ``(n, 28, 28)`` (or ``(n, 8, 8)``). Ignored for 2-D point sets.
    one_hot : bool
        Return ``y`` one-hot encoded, ``(n, n_classes)`` of ``dtype``, instead
        of int64 labels.
    dtype : numpy dtype or None
        Dtype of ``X`` (default float32). ``None`` with ``normalize=False``
        keeps the stored dtype (uint8 pixels).
    data_home : path, optional
        A folder with files you already have (mnist / fashion-mnist): either
        the folder holding the four IDX files or one above it holding
        ``mnist/`` / ``fashion-mnist/``. Default: ``$FASTNN_DATA``.
    cache_dir : path, optional
        Root of fastnn's cache (default ``$FASTNN_CACHE`` or the per-user
        cache dir); downloads go to ``<cache_dir>/datasets/<name>/``.
    download : bool
        Download missing files (once, hash-verified). With ``False`` a missing
        file raises :class:`DatasetError` saying where fastnn looked.
    progress : bool, optional
        Show a download progress bar; default: when stderr is a terminal.
    **params
        Generator settings. moons: ``n_samples=200, noise=0.2, seed=0,
        n_test=None`` (test size; default ``n_samples``). blobs:
        ``n_samples=400, centers=None`` (4 centres at (+-2.5, +-2.5)),
        ``cluster_std=1.0, n_features=2, seed=0, n_test=None``. The train
        split is exactly scikit-learn's ``make_moons``/``make_blobs`` with
        ``random_state=seed``; the test split is an independent draw.

    Returns
    -------
    X, y
        ``X``: ``(n_samples, n_features)`` float32, in [0, 1] for image sets.
        ``y``: int64 labels ``0..n_classes-1`` (or one-hot rows).

    Raises
    ------
    DatasetError
        Unknown name or split, files missing with ``download=False``, all
        mirrors failing, or a corrupt / mismatched file (the message names the
        file and what to do).
    """
    info = get_info(name)
    if isinstance(split, (tuple, list)):
        return tuple(load(name, s, normalize=normalize, flatten=flatten, one_hot=one_hot,
                          dtype=dtype, data_home=data_home, cache_dir=cache_dir,
                          download=download, progress=progress, **params) for s in split)
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r} for dataset {info.name!r}; "
                           f"use one of {', '.join(repr(s) for s in SPLITS)} or a tuple of them")
    params = _check_params(info, params)
    normalize, flatten, one_hot = (check_bool(v, n) for v, n in (
        (normalize, "normalize"), (flatten, "flatten"), (one_hot, "one_hot")))
    data_home, cache_dir, download, progress = _check_fetch_args(data_home, cache_dir, download, progress)
    if dtype is not None:
        try:
            np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be a NumPy dtype (e.g. np.float32) or None, got {dtype!r}") from None
    if normalize and dtype is not None and not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"normalize=True needs a floating dtype, not {np.dtype(dtype)}; "
                         "pass normalize=False for raw integer values")

    is_image = True
    if info.kind == "idx":
        fetch_kw = dict(data_home=data_home, cache_dir=cache_dir, download=download,
                        progress=progress)
        X, y = _raw_idx(info, split, fetch_kw)
        scale = 255.0
    elif info.kind == "mnist-5k":
        X, y = _toy.raw_mnist5k(split)
        scale = 255.0
    elif info.kind == "digits":
        X, y = _toy.raw_digits(split)
        scale = 16.0
    elif info.kind in _GENERATORS:
        is_image = False
        gen = _GENERATORS[info.kind]
        X, y = gen(split, **params)
    else:  # pragma: no cover - a registry entry without a loader
        raise DatasetError(f"dataset {info.name!r} has no loader for kind {info.kind!r}")

    if is_image:
        if normalize:
            out_dtype = np.dtype(np.float32 if dtype is None else dtype)
            X = X.astype(out_dtype)
            X /= out_dtype.type(scale)
        else:
            X = X.copy() if dtype is None else X.astype(dtype)
        if flatten:
            X = X.reshape(len(X), -1)
    else:
        if normalize:
            reference = X if split == "train" else gen("train", **params)[0]
            X = _standardize(X, reference)
        X = X.astype(np.float32 if dtype is None else dtype)

    y = np.ascontiguousarray(y, dtype=np.int64)
    if one_hot:
        y = _one_hot(y, _n_classes(info, params), dtype=np.float32 if dtype is None else dtype)
    return X, y


def fetch(
    name: str,
    split: Union[str, Sequence[str]] = ("train", "test"),
    *,
    data_home=None,
    cache_dir=None,
    download: bool = True,
    progress: Optional[bool] = None,
    mirrors: Optional[Sequence[str]] = None,
) -> Dict[str, Tuple[str, str]]:
    """Make sure the files of ``"mnist"`` / ``"fashion-mnist"`` are on disk; return their paths.

    Same resolution as :func:`load` (data_home / ``$FASTNN_DATA`` → system data
    folders → cache → download), without reading the files. Useful to download
    ahead of going offline::

        python -c "import fastnn.datasets as d; print(d.fetch('mnist'))"

    ``mirrors`` overrides ``MIRRORS[name]`` for this call. Returns
    ``{split: (images_path, labels_path)}``.
    """
    info = get_info(name)
    if info.kind != "idx":
        raise DatasetError(f"dataset {info.name!r} has no files to fetch ({info.source}); "
                           "load() it directly.")
    if not isinstance(split, (str, tuple, list)):
        raise DatasetError(f"split must be 'train', 'test', 'all' or a tuple of them, got {split!r}")
    data_home, cache_dir, download, progress = _check_fetch_args(data_home, cache_dir, download, progress)
    splits = (split,) if isinstance(split, str) else tuple(split)
    if "all" in splits:
        splits = tuple(info.files)
    paths = _fetch.fetch(info, splits, data_home=data_home, cache_dir=cache_dir,
                         download=download, progress=progress, mirrors=mirrors)
    return {s: (str(p[0]), str(p[1])) for s, p in paths.items()}
