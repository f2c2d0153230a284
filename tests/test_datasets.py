"""Tests for fastnn.datasets.

The download tests serve tiny generated IDX files from an HTTP server on
127.0.0.1 started by a fixture, registered under a test-only dataset name
("tiny") with their own pinned MD5s. Nothing here touches the real network or
the user's real cache: FASTNN_CACHE points into a temporary folder and the
system data folders are emptied, except in the test that reads Debian's
Fashion-MNIST files where they are installed.
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import fastnn.datasets as ds
from fastnn.datasets import DatasetError, IdxFile, load

REPO = Path(__file__).resolve().parents[1]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# the environment as the test session found it, before the isolating fixture
REAL_ENV = dict(os.environ)

N_TRAIN, N_TEST = 20, 10


# --------------------------------------------------------------------------- helpers
def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX, independently of fastnn's reader."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray, *, compress: bool = True, level: int = 9) -> Path:
    data = idx_bytes(arr)
    if compress:
        data = gzip.compress(data, compresslevel=level, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def tiny_arrays(seed: int = 0):
    rng = np.random.RandomState(seed)
    Xtr = rng.randint(0, 256, size=(N_TRAIN, 28, 28)).astype(np.uint8)
    Xtr[0, 0, 0], Xtr[1, 0, 0] = 0, 255  # make the full range appear
    ytr = np.arange(N_TRAIN, dtype=np.uint8) % 10
    Xte = rng.randint(0, 256, size=(N_TEST, 28, 28)).astype(np.uint8)
    yte = np.arange(N_TEST, dtype=np.uint8) % 10
    return {"train-images-idx3-ubyte.gz": Xtr, "train-labels-idx1-ubyte.gz": ytr,
            "t10k-images-idx3-ubyte.gz": Xte, "t10k-labels-idx1-ubyte.gz": yte}


def write_tiny_set(folder: Path, *, compress: bool = True, level: int = 9, names=None):
    """Write the four tiny files; ``names`` maps upstream name -> local name."""
    out = {}
    for fname, arr in tiny_arrays().items():
        local = (names or {}).get(fname, fname if compress else fname[:-3])
        out[fname] = write_idx(folder / local, arr, compress=compress, level=level)
    return out


def tiny_info(md5s) -> ds.DatasetInfo:
    f = {k: IdxFile(k, md5s[k], tiny_arrays()[k].shape) for k in md5s}
    return dataclasses.replace(
        ds.REGISTRY["mnist"], name="tiny", description="test-only tiny IDX set",
        n_train=N_TRAIN, n_test=N_TEST, dirnames=("tiny",),
        files={"train": (f["train-images-idx3-ubyte.gz"], f["train-labels-idx1-ubyte.gz"]),
               "test": (f["t10k-images-idx3-ubyte.gz"], f["t10k-labels-idx1-ubyte.gz"])})


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/m/"


def leftovers(folder: Path):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Private cache, no FASTNN_DATA, no system data folders, no proxies for 127.0.0.1."""
    monkeypatch.setenv("FASTNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(ds._fetch, "SYSTEM_DATA_DIRS", [])
    return tmp_path


@pytest.fixture
def server(tmp_path):
    """HTTP server on 127.0.0.1 serving tmp_path/'www'; records request paths."""
    root = tmp_path / "www"
    root.mkdir()
    requests_seen = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, fmt, *args):  # quiet, but remember what was asked
            requests_seen.append(self.path)

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]

    class Server:
        www = root
        url = f"http://{host}:{port}/"
        requests = requests_seen

    try:
        yield Server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def tiny(server, monkeypatch):
    """The tiny set served at <server>/m1/, registered as dataset 'tiny'."""
    files = write_tiny_set(server.www / "m1")
    info = tiny_info({k: md5(p) for k, p in files.items()})
    monkeypatch.setitem(ds.REGISTRY, "tiny", info)
    monkeypatch.setitem(ds.MIRRORS, "tiny", [server.url + "m1/"])
    return info


def cache_of(tmp_path, name="tiny") -> Path:
    return tmp_path / "cache" / "datasets" / name


# --------------------------------------------------------------------------- downloads
def test_first_load_downloads_and_caches_second_load_offline(tiny, server, tmp_path, monkeypatch):
    X, y = load("tiny", progress=False)
    assert X.shape == (N_TRAIN, 784) and X.dtype == np.float32
    assert sorted(server.requests) == ["/m1/train-images-idx3-ubyte.gz",
                                       "/m1/train-labels-idx1-ubyte.gz"]
    assert leftovers(cache_of(tmp_path)) == ["train-images-idx3-ubyte.gz",
                                             "train-labels-idx1-ubyte.gz"]
    expected = tiny_arrays()
    np.testing.assert_array_equal(X.reshape(-1, 28, 28) * 255,
                                  expected["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y, expected["train-labels-idx1-ubyte.gz"])

    # second load: from the cache, no request, even with every mirror dead
    monkeypatch.setitem(ds.MIRRORS, "tiny", [dead_url()])
    n_before = len(server.requests)
    X2, y2 = load("tiny", download=False)
    X3, _ = load("tiny")
    assert len(server.requests) == n_before
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(X, X3)


def test_fetch_gets_only_missing_files(tiny, server, tmp_path):
    load("tiny", "train", progress=False)
    paths = ds.fetch("tiny", progress=False)
    assert set(paths) == {"train", "test"}
    assert sorted(server.requests) == sorted(  # each file fetched once
        "/m1/" + f.fname for pair in tiny.files.values() for f in pair)
    assert all(Path(p).parent == cache_of(tmp_path) for pair in paths.values() for p in pair)


def test_checksum_mismatch_is_refused(tiny, server, tmp_path, monkeypatch):
    bad = dataclasses.replace(tiny, files={"train": (
        dataclasses.replace(tiny.files["train"][0], md5="0" * 32), tiny.files["train"][1])})
    monkeypatch.setitem(ds.REGISTRY, "tiny", bad)
    with pytest.raises(DatasetError) as err:
        load("tiny", progress=False)
    msg = str(err.value)
    assert "checksum mismatch" in msg and "train-images-idx3-ubyte.gz" in msg
    assert "0" * 32 in msg  # the expected hash is shown
    assert "No partial file" in msg
    assert "train-images-idx3-ubyte.gz" not in leftovers(cache_of(tmp_path))
    assert not [f for f in leftovers(cache_of(tmp_path)) if f.startswith("tmp")]


def test_unreachable_and_404_mirrors_fall_through(tiny, server, tmp_path, monkeypatch):
    monkeypatch.setitem(ds.MIRRORS, "tiny", [dead_url(), server.url + "nowhere/",
                                             server.url + "m1/"])
    X, y = load("tiny", "test", progress=False)
    assert X.shape == (N_TEST, 784)
    assert "/nowhere/t10k-images-idx3-ubyte.gz" in server.requests  # the 404 was tried
    assert leftovers(cache_of(tmp_path)) == ["t10k-images-idx3-ubyte.gz",
                                             "t10k-labels-idx1-ubyte.gz"]


def test_all_mirrors_failing_leaves_no_partial_file(tiny, server, tmp_path, monkeypatch):
    # a mirror that serves a truncated file (hash fails), a 404, and a dead host
    trunc = server.www / "trunc" / "train-images-idx3-ubyte.gz"
    trunc.parent.mkdir()
    data = (server.www / "m1" / "train-images-idx3-ubyte.gz").read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    dead = dead_url()
    monkeypatch.setitem(ds.MIRRORS, "tiny", [server.url + "trunc/", server.url + "404/", dead])
    with pytest.raises(DatasetError) as err:
        load("tiny", progress=False)
    msg = str(err.value)
    assert "from any mirror" in msg
    assert "checksum mismatch" in msg and "HTTP error" in msg and "could not connect" in msg
    assert dead in msg
    assert leftovers(cache_of(tmp_path)) == []


def test_download_false_says_where_it_looked(tiny, server, tmp_path):
    with pytest.raises(DatasetError) as err:
        load("tiny", download=False)
    msg = str(err.value)
    assert "download=False" in msg and "FASTNN_DATA" in msg and "download=True" in msg
    assert str(cache_of(tmp_path)) in msg
    assert "mnist-5k" in msg
    assert server.requests == []


def test_progress_bar_download(tiny, server, capsys):
    X, _ = load("tiny", "test", progress=True)
    assert X.shape == (N_TEST, 784)
    assert "100%" in capsys.readouterr().err


# --------------------------------------------------------------------------- local files
@pytest.mark.parametrize("variant", ["gz-recompressed", "uncompressed", "dot-names"])
def test_user_folder_is_used_as_is(tiny, server, tmp_path, monkeypatch, variant):
    """Files you already have need not match the download hashes, only the structure."""
    home = tmp_path / "mydata"
    if variant == "gz-recompressed":
        files = write_tiny_set(home / "tiny", level=1)
        assert md5(files["train-images-idx3-ubyte.gz"]) != tiny.files["train"][0].md5
    elif variant == "uncompressed":
        write_tiny_set(home / "tiny", compress=False)
    else:  # LeCun's unpacked names: train-images.idx3-ubyte
        write_tiny_set(home / "tiny", compress=False, names={
            k: k[:-3].replace("-idx", ".idx") for k in tiny_arrays()})
    monkeypatch.setitem(ds.MIRRORS, "tiny", [dead_url()])
    (Xtr, ytr), (Xte, yte) = load("tiny", ("train", "test"), data_home=home, download=False)
    assert Xtr.shape == (N_TRAIN, 784) and Xte.shape == (N_TEST, 784)
    # data_home may also be the dataset folder itself; FASTNN_DATA names the root
    X2, _ = load("tiny", data_home=home / "tiny", download=False)
    monkeypatch.setenv("FASTNN_DATA", os.pathsep.join([str(tmp_path / "nothing"), str(home)]))
    X3, _ = load("tiny", download=False)
    np.testing.assert_array_equal(Xtr, X2)
    np.testing.assert_array_equal(Xtr, X3)
    assert server.requests == [] and leftovers(cache_of(tmp_path)) == []


def test_missing_data_home_warns_and_falls_through(tiny, server, tmp_path):
    with pytest.warns(UserWarning, match="is not a folder") as rec:
        X, _ = load("tiny", "test", data_home=tmp_path / "typo", progress=False)
    assert X.shape == (N_TEST, 784) and len(server.requests) == 2
    assert rec[0].filename == __file__  # points at the caller's line


def test_system_data_dir_is_searched(tiny, tmp_path, monkeypatch):
    write_tiny_set(tmp_path / "sys" / "tiny", level=1)
    monkeypatch.setattr(ds._fetch, "SYSTEM_DATA_DIRS", [str(tmp_path / "sys")])
    X, _ = load("tiny", download=False)
    assert X.shape == (N_TRAIN, 784)


def _home_with(tmp_path, mutate):
    """A data_home with the tiny set whose train images are replaced by mutate(bytes)."""
    home = tmp_path / "home"
    files = write_tiny_set(home / "tiny")
    p = files["train-images-idx3-ubyte.gz"]
    p.write_bytes(mutate(p.read_bytes()))
    return home, p


@pytest.mark.parametrize("mutate, expected", [
    (lambda b: b[: len(b) // 2], "truncated"),  # cut gzip stream
    (lambda b: gzip.compress(gzip.decompress(b)[:-100]), "truncated"),  # short payload
    (lambda b: gzip.compress(gzip.decompress(b) + b"\0" * 7), "unexpected bytes"),
    (lambda b: gzip.compress(b"\x00\x00\x08\x04" + gzip.decompress(b)[4:]), "bad magic number"),
    (lambda b: gzip.compress(b"PK\x03\x04" + gzip.decompress(b)[4:]), "bad magic number"),
    (lambda b: b"\x1f\x8b" + b"garbage" * 10, "gzip data is corrupt"),
    (lambda b: b"", "too short"),
])
def test_corrupt_user_file_is_detected(tiny, tmp_path, mutate, expected):
    home, path = _home_with(tmp_path, mutate)
    with pytest.raises(DatasetError) as err:
        load("tiny", data_home=home, download=False)
    msg = str(err.value)
    assert expected in msg
    assert str(path) in msg
    assert "replace it with an intact copy" in msg


def test_mismatched_files_are_detected(tiny, tmp_path, monkeypatch):
    home = tmp_path / "home"
    write_tiny_set(home / "tiny")
    arrays = tiny_arrays()
    # wrong image size in the header
    write_idx(home / "tiny" / "t10k-images-idx3-ubyte.gz", np.zeros((N_TEST, 27, 28), np.uint8))
    with pytest.raises(DatasetError, match=r"dimensions \(10, 27, 28\).*\(10, 28, 28\)"):
        load("tiny", "test", data_home=home, download=False)
    # a labels file used as images
    write_idx(home / "tiny" / "t10k-images-idx3-ubyte.gz", arrays["t10k-labels-idx1-ubyte.gz"])
    with pytest.raises(DatasetError, match="bad magic number 0x00000801, expected 0x00000803"):
        load("tiny", "test", data_home=home, download=False)
    # labels out of range
    write_tiny_set(home / "tiny")
    write_idx(home / "tiny" / "t10k-labels-idx1-ubyte.gz", np.full(N_TEST, 12, np.uint8))
    with pytest.raises(DatasetError, match="label 12 is out of range"):
        load("tiny", "test", data_home=home, download=False)
    # counts that disagree (a registry that allows any count)
    info = ds.REGISTRY["tiny"]
    loose = dataclasses.replace(info, files={"test": tuple(
        dataclasses.replace(f, shape=(None,) + f.shape[1:]) for f in info.files["test"])})
    monkeypatch.setitem(ds.REGISTRY, "tiny", loose)
    write_tiny_set(home / "tiny")
    write_idx(home / "tiny" / "t10k-labels-idx1-ubyte.gz", np.zeros(N_TEST - 1, np.uint8))
    with pytest.raises(DatasetError, match="10 images but .* holds 9 labels"):
        load("tiny", "test", data_home=home, download=False)


def test_corrupt_cached_file_says_delete_it(tiny, tmp_path):
    load("tiny", progress=False)
    cached = cache_of(tmp_path) / "train-labels-idx1-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:-9])
    with pytest.raises(DatasetError) as err:
        load("tiny")
    msg = str(err.value)
    assert str(cached) in msg and "delete it" in msg and "download cache" in msg


def test_read_idx_direct(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    p = write_idx(tmp_path / "a.gz", a, compress=False)  # uncompressed despite the name
    np.testing.assert_array_equal(ds.read_idx(p), a)
    np.testing.assert_array_equal(ds.read_idx(p, (None, 3, 4)), a)
    # other element types are read too (big-endian int32 here)
    b = np.array([[1, -2], [300000, 4]], dtype=">i4")
    q = tmp_path / "b.idx"
    q.write_bytes(struct.pack(">I", 0x0C02) + struct.pack(">2I", 2, 2) + b.tobytes())
    np.testing.assert_array_equal(ds.read_idx(q), b.astype(np.int32))
    with pytest.raises(DatasetError, match="file not found"):
        ds.read_idx(tmp_path / "missing.gz")


# --------------------------------------------------------------------------- names and registry
def test_list_datasets_describes_every_name():
    infos = ds.list_datasets()
    assert set(infos) == {"mnist", "fashion-mnist", "mnist-5k", "digits", "moons", "blobs"}
    for name, info in infos.items():
        text = str(info)
        assert text.startswith(name + ":")
        assert info.source and info.size and f"{info.n_train:,} train" in text
    assert infos["mnist"].n_train == 60_000 and infos["mnist"].n_test == 10_000
    assert infos["mnist"].n_features == 784
    for name in ("mnist", "fashion-mnist"):
        assert len(ds.MIRRORS[name]) >= 2
        for split in ("train", "test"):
            for f in infos[name].files[split]:
                assert len(f.md5) == 32 and int(f.md5, 16) >= 0
    assert infos["mnist"].files["train"][0].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert infos["fashion-mnist"].files["train"][0].md5 == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"


def test_unknown_name_and_split():
    with pytest.raises(ValueError) as err:
        load("cifar10")
    assert "'mnist'" in str(err.value) and "'moons'" in str(err.value)
    with pytest.raises(DatasetError, match="Did you mean 'fashion-mnist'"):
        load("Fashion_MNIST")
    with pytest.raises(DatasetError, match="unknown split 'validation'"):
        load("mnist-5k", "validation")
    with pytest.raises(TypeError, match="n_samples"):
        load("mnist-5k", n_samples=10)
    with pytest.raises(TypeError, match="parameters accepted for 'moons': n_samples, noise"):
        load("moons", n_sample=10)


def test_mnist_name_reads_local_files(tmp_path, monkeypatch):
    """load('mnist') end to end, on a shrunken copy of its registry entry."""
    info = ds.REGISTRY["mnist"]
    small = dataclasses.replace(info, files={s: tuple(
        dataclasses.replace(f, shape=((N_TRAIN if s == "train" else N_TEST),) + f.shape[1:])
        for f in pair) for s, pair in info.files.items()})
    monkeypatch.setitem(ds.REGISTRY, "mnist", small)
    monkeypatch.setitem(ds.MIRRORS, "mnist", [dead_url()])
    write_tiny_set(tmp_path / "data" / "mnist")
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    X, y = load("mnist", "all", download=False)
    assert X.shape == (N_TRAIN + N_TEST, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(y.tolist()) == set(range(10)) and y.dtype == np.int64
    Xi, yi = load("mnist", "test", normalize=False, flatten=False, dtype=None, one_hot=True)
    assert Xi.dtype == np.uint8 and Xi.shape == (N_TEST, 28, 28)
    assert yi.shape == (N_TEST, 10) and yi.dtype == np.float32
    np.testing.assert_array_equal(yi.sum(1), 1)


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(),
                    reason=f"{DEBIAN_FASHION} not present (apt-get install dataset-fashion-mnist)")
def test_debian_fashion_mnist(monkeypatch):
    monkeypatch.setitem(ds.MIRRORS, "fashion-mnist", [dead_url()])
    (Xtr, ytr), (Xte, yte) = load("fashion-mnist", ("train", "test"), flatten=False,
                                  data_home=DEBIAN_FASHION, download=False)
    assert Xtr.shape == (60_000, 28, 28) and Xte.shape == (10_000, 28, 28)
    assert Xtr.dtype == np.float32 and 0.0 <= Xtr.min() and Xtr.max() <= 1.0
    np.testing.assert_array_equal(np.bincount(ytr), np.full(10, 6_000))
    np.testing.assert_array_equal(np.bincount(yte), np.full(10, 1_000))
    # and it is found with no configuration at all, as a system data folder
    monkeypatch.setattr(ds._fetch, "SYSTEM_DATA_DIRS", ["/usr/share/datasets"])
    assert ds.fetch("fashion-mnist", "test", download=False)["test"][0].startswith(
        str(DEBIAN_FASHION))


def test_real_mnist_if_available(monkeypatch):
    """The real MNIST files, if this machine has them (FASTNN_DATA or the user cache)."""
    for var in ("FASTNN_DATA", "FASTNN_CACHE"):
        if var in REAL_ENV:
            monkeypatch.setenv(var, REAL_ENV[var])
        else:
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(ds._fetch, "SYSTEM_DATA_DIRS", ["/usr/share/datasets"])
    try:
        ds.fetch("mnist", download=False)
    except DatasetError:
        pytest.skip("real MNIST files not available offline here (set FASTNN_DATA or "
                    "run fastnn.datasets.fetch('mnist') once online)")
    (Xtr, ytr), (Xte, yte) = load("mnist", ("train", "test"), download=False)
    assert Xtr.shape == (60_000, 784) and Xte.shape == (10_000, 784)
    assert set(ytr.tolist()) == set(range(10))


# --------------------------------------------------------------------------- mnist-5k
def test_mnist5k_shapes_and_ranges():
    X, y = load("mnist-5k")
    assert X.shape == (4_000, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.dtype == np.int64
    Xt, yt = load("mnist-5k", "test", flatten=False)
    assert Xt.shape == (1_000, 28, 28)
    Xa, ya = load("mnist-5k", "all", normalize=False, dtype=None)
    assert Xa.dtype == np.uint8 and Xa.shape == (5_000, 784) and Xa.max() == 255
    np.testing.assert_array_equal(ya, np.concatenate([y, yt]))
    np.testing.assert_allclose(Xa[:4000] / 255.0, X, rtol=1e-6)
    # the arrays handed out are writable copies; the in-process memo stays intact
    X[:] = -1
    np.testing.assert_array_equal(load("mnist-5k")[0][:4000].min(), 0.0)


def test_mnist5k_split_is_stratified_and_stable():
    from fastnn.datasets import _toy

    train, test = _toy.mnist5k_split_indices()
    assert len(train) == 4_000 and len(test) == 1_000
    assert len(np.intersect1d(train, test)) == 0
    np.testing.assert_array_equal(np.union1d(train, test), np.arange(5_000))
    _, ytr = load("mnist-5k", "train")
    _, yte = load("mnist-5k", "test")
    np.testing.assert_array_equal(np.bincount(ytr), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(yte), np.full(10, 100))
    assert not np.all(np.diff(ytr) >= 0)  # shuffled, not class-sorted
    # pinned: the split must never change between runs, machines or NumPy versions
    assert hashlib.md5(train.astype("<i8").tobytes()).hexdigest() == \
        "aeb3fe42710357dfae4a10f8b3f3cdb6"
    assert hashlib.md5(test.astype("<i8").tobytes()).hexdigest() == \
        "14a4e335e671130c7736b106f360cd42"


def test_mnist5k_same_in_a_fresh_process():
    code = ("import hashlib, fastnn.datasets as d; X, y = d.load('mnist-5k', 'test');"
            "print(hashlib.md5(X.tobytes() + y.tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    X, y = load("mnist-5k", "test")
    assert out.stdout.strip() == hashlib.md5(X.tobytes() + y.tobytes()).hexdigest()


# --------------------------------------------------------------------------- digits, moons, blobs
def test_digits():
    X, y = load("digits")
    Xt, yt = load("digits", "test", flatten=False)
    assert X.shape == (1_438, 64) and Xt.shape == (359, 8, 8) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(y.tolist()) == set(yt.tolist()) == set(range(10))
    info = ds.list_datasets()["digits"]
    assert (info.n_train, info.n_test) == (len(y), len(yt))
    counts = np.bincount(y) + np.bincount(yt)
    np.testing.assert_allclose(np.bincount(yt) / counts, 0.2, atol=0.01)


def test_moons_defaults_match_sklearn():
    from sklearn.datasets import make_moons

    X, y = load("moons", normalize=False)
    Xs, ys = make_moons(n_samples=200, noise=0.2, random_state=0)
    np.testing.assert_allclose(X, Xs.astype(np.float32))
    np.testing.assert_array_equal(y, ys)
    Z, _ = load("moons")
    assert Z.dtype == np.float32 and Z.shape == (200, 2)
    np.testing.assert_allclose(Z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(Z.std(0), 1, atol=1e-5)
    # test split: an independent draw, standardised with the train statistics
    Zt, yt = load("moons", "test")
    Xt, _ = load("moons", "test", normalize=False)
    np.testing.assert_allclose(Zt, (Xt - Xs.mean(0)) / Xs.std(0), rtol=1e-4, atol=1e-5)
    assert not np.allclose(Xt, X)
    assert np.bincount(yt).tolist() == [100, 100]
    X5, y5 = load("moons", n_samples=50, noise=0.0, seed=3, n_test=30)
    assert X5.shape == (50, 2) and load("moons", "test", n_samples=50, n_test=30)[0].shape == (30, 2)
    assert load("moons", "all")[0].shape == (400, 2)


def test_blobs():
    X, y = load("blobs")
    assert X.shape == (400, 2) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [100] * 4
    raw, _ = load("blobs", normalize=False)
    for k, c in enumerate([(-2.5, -2.5), (2.5, -2.5), (-2.5, 2.5), (2.5, 2.5)]):
        np.testing.assert_allclose(raw[y == k].mean(0), c, atol=0.35)
    X3, y3 = load("blobs", centers=3, n_features=5, n_samples=90, one_hot=True)
    assert X3.shape == (90, 5) and y3.shape == (90, 3)
    np.testing.assert_array_equal(load("blobs")[0], X)  # seeded: identical each call


@pytest.mark.parametrize("name", ["mnist-5k", "digits", "moons", "blobs"])
def test_one_hot_and_dtype_options(name):
    X, y = load(name, one_hot=True, dtype=np.float64)
    n_classes = ds.list_datasets()[name].n_classes
    assert X.dtype == np.float64 and y.shape == (len(X), n_classes) and y.dtype == np.float64
    np.testing.assert_array_equal(y.sum(1), 1)
    with pytest.raises(ValueError, match="floating dtype"):
        load(name, dtype=np.int32)


# --------------------------------------------------------------------------- helpers
def test_one_hot():
    out = ds.one_hot([2, 0, 1, 2])
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[[2, 0, 1, 2]])
    assert out.dtype == np.float32
    assert ds.one_hot(np.array([0, 1]), n_classes=5).shape == (2, 5)
    assert ds.one_hot(np.array([1.0, 0.0]), dtype=np.int8).dtype == np.int8
    assert ds.one_hot([], n_classes=3).shape == (0, 3)
    for bad, match in [([0, -1], ">= 0"), ([0, 3], "out of range"), ([0.5, 1], "integer"),
                       ([[0, 1]], "1-D"), (["a"], "integer")]:
        with pytest.raises(ValueError, match=match):
            ds.one_hot(bad, n_classes=3)


def test_train_val_split_is_stratified_and_seeded():
    y = np.repeat(np.arange(4), [50, 30, 15, 5])
    X = np.arange(len(y) * 2).reshape(-1, 2)
    Xtr, Xva, ytr, yva = ds.train_val_split(X, y, val_fraction=0.2, seed=1)
    assert np.bincount(yva).tolist() == [10, 6, 3, 1]
    assert np.bincount(ytr).tolist() == [40, 24, 12, 4]
    np.testing.assert_array_equal(y[Xtr[:, 0] // 2], ytr)  # rows stay paired
    assert len(np.intersect1d(Xtr[:, 0], Xva[:, 0])) == 0
    again = ds.train_val_split(X, y, val_fraction=0.2, seed=1)
    np.testing.assert_array_equal(again[1], Xva)
    other = ds.train_val_split(X, y, val_fraction=0.2, seed=2)
    assert not np.array_equal(other[1], Xva)
    _, Xv2, _, _ = ds.train_val_split(X, y, val_fraction=0.25, stratify=False)
    assert len(Xv2) == 25
    gen = ds.train_val_split(X, y, seed=np.random.default_rng(0))
    assert len(gen[1]) == 5 + 3 + 2 + 1  # round(0.1 * n_c): 15 -> 2, 5 -> 1
    with pytest.raises(ValueError, match="val_fraction"):
        ds.train_val_split(X, y, val_fraction=1.0)
    with pytest.raises(ValueError, match="different lengths"):
        ds.train_val_split(X, y[:-1])


def test_shuffle():
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    Xs, ys = ds.shuffle(X, y, seed=0)
    np.testing.assert_array_equal(Xs[:, 0] // 2, ys)
    assert not np.array_equal(ys, y)
    np.testing.assert_array_equal(ds.shuffle(X, seed=0), Xs)
    np.testing.assert_array_equal(ds.shuffle(X, y, seed=0)[1], ys)
    assert not np.array_equal(ds.shuffle(X, y, seed=1)[1], ys)
    with pytest.raises(TypeError, match="seed"):
        ds.shuffle(X, y, seed=0.5)


# --------------------------------------------------------------------------- import cost
def test_import_is_lazy():
    code = ("import sys, fastnn.datasets; "
            "print(sorted(m for m in ('sklearn', 'pooch', 'mlxtend', 'platformdirs', "
            "'requests', 'scipy', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert out.stdout.strip() == "[]"
