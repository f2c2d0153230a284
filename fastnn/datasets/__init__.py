"""Datasets for fastnn: MNIST and Fashion-MNIST (downloaded once, verified and
cached, or read from files you already have), an offline real-MNIST subset,
and small toy sets.

>>> from fastnn.datasets import load, list_datasets
>>> X, y = load("mnist-5k")                # 4,000 real digits, no download
>>> X.shape, X.dtype, y[:5]                # doctest: +SKIP
((4000, 784), dtype('float32'), array([...]))
>>> (Xtr, ytr), (Xte, yte) = load("mnist", ("train", "test"))   # doctest: +SKIP

Names: ``mnist``, ``fashion-mnist``, ``mnist-5k``, ``digits``, ``moons``,
``blobs`` (see :func:`list_datasets`). Where files are looked for, in order:
``data_home`` / ``$FASTNN_DATA`` → system data folders (Debian's
``/usr/share/datasets``) → the cache (``cache_dir`` / ``$FASTNN_CACHE`` /
per-user cache) → a one-time download with pooch from the mirrors in
:data:`MIRRORS`, checked against pinned MD5 hashes.

Importing this module imports only NumPy and the standard library;
scikit-learn, pooch and platformdirs are imported when first needed.
"""
from ._errors import DatasetError
from ._fetch import ENV_CACHE, ENV_DATA, SYSTEM_DATA_DIRS, get_cache_dir
from ._idx import read_idx
from ._load import SPLITS, fetch, load
from ._registry import MIRRORS, REGISTRY, DatasetInfo, IdxFile, list_datasets
from ._utils import one_hot, shuffle, train_val_split

__all__ = [
    "load",
    "fetch",
    "list_datasets",
    "one_hot",
    "train_val_split",
    "shuffle",
    "read_idx",
    "get_cache_dir",
    "DatasetError",
    "DatasetInfo",
    "IdxFile",
    "MIRRORS",
    "REGISTRY",
    "SPLITS",
    "SYSTEM_DATA_DIRS",
    "ENV_DATA",
    "ENV_CACHE",
]
