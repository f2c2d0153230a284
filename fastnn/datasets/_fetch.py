"""Find the IDX files of a dataset locally, or download them once with pooch.

Resolution order, for each requested split (train / test):

1. ``data_home`` if given, else the folders in ``$FASTNN_DATA`` (``os.pathsep``
   separated), then the system data folders (``SYSTEM_DATA_DIRS``, Debian's
   ``/usr/share/datasets``). A folder is used as-is when it holds the split's
   image and label files (``.gz`` or uncompressed). Under each root fastnn
   looks in the dataset's own subfolder (``<root>/mnist``,
   ``<root>/fashion-mnist``, torchvision's ``<root>/MNIST/raw``...); an explicit
   ``data_home`` may also be that subfolder itself.
2. The per-user cache, ``<cache root>/datasets/<name>/``, where the cache root
   is ``cache_dir``, else ``$FASTNN_CACHE``, else platformdirs' user cache dir.
3. Download what is missing into that cache: pooch fetches each file, trying
   the mirrors in ``MIRRORS[name]`` in order, and keeps it only if its MD5
   matches the pinned hash (pooch writes to a temporary file and moves it into
   place only after the check, so a failure leaves no partial file).

Local files are not hash-checked (a recompressed copy, such as Debian's, has
other bytes than upstream's); they are validated by structure when read.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ._errors import DatasetError
from ._registry import MIRRORS, DatasetInfo, IdxFile

__all__ = ["ENV_DATA", "ENV_CACHE", "SYSTEM_DATA_DIRS", "get_cache_dir", "fetch",
           "search_dirs", "remedy_for"]

ENV_DATA = "FASTNN_DATA"
ENV_CACHE = "FASTNN_CACHE"
#: Folders searched (after data_home / $FASTNN_DATA) for ``<dir>/<dataset>/``;
#: Debian's ``dataset-*`` packages install there.
SYSTEM_DATA_DIRS: List[str] = ["/usr/share/datasets"]

logger = logging.getLogger("fastnn.datasets")

SplitPaths = Dict[str, Tuple[Path, Path]]


def get_cache_dir(cache_dir: "Optional[os.PathLike[str] | str]" = None) -> Path:
    """The folder downloaded datasets are kept in: ``<root>/datasets``.

    ``<root>`` is ``cache_dir`` if given, else ``$FASTNN_CACHE``, else the
    per-user cache folder from platformdirs (``~/.cache/fastnn`` on Linux).
    Each dataset gets a subfolder, e.g. ``<root>/datasets/mnist/``.
    """
    root = cache_dir if cache_dir is not None else os.environ.get(ENV_CACHE) or None
    if root is None:
        import platformdirs

        root = platformdirs.user_cache_dir("fastnn", appauthor=False)
    return Path(root).expanduser() / "datasets"


def _name_variants(f: IdxFile) -> List[str]:
    """Accepted local names: upstream ``x-idx3-ubyte.gz``, ``x-idx3-ubyte``, ``x.idx3-ubyte``."""
    names = [f.fname]
    stem = f.fname[:-3] if f.fname.endswith(".gz") else f.fname
    for n in (stem, stem.replace("-idx", ".idx", 1), stem.replace("-idx", ".idx", 1) + ".gz"):
        if n not in names:
            names.append(n)
    return names


def _find_file(folder: Path, f: IdxFile) -> Optional[Path]:
    for n in _name_variants(f):
        p = folder / n
        if p.is_file():
            return p
    return None


def search_dirs(info: DatasetInfo, data_home: "Optional[os.PathLike[str] | str]" = None) -> List[Path]:
    """The user / system folders searched for ``info``'s files, in order (not the cache)."""
    out: List[Path] = []
    if data_home is not None:
        roots = [Path(data_home).expanduser()]
        out.append(roots[0])  # an explicit data_home may be the dataset folder itself
        if not roots[0].is_dir():
            warnings.warn(f"data_home {str(roots[0])!r} is not a folder; looking for "
                          f"{info.name!r} in the other places instead", stacklevel=5)
    else:
        env = os.environ.get(ENV_DATA, "")
        roots = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    roots += [Path(p) for p in SYSTEM_DATA_DIRS]
    dirnames = info.dirnames or (info.name,)
    for root in roots:
        out += [root / d for d in dirnames]
    seen, unique = set(), []
    for d in out:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    return unique


def remedy_for(path: Path, cache_root: Path) -> str:
    """What to tell the user to do about a bad file, depending on where it is."""
    try:
        in_cache = Path(path).resolve().is_relative_to(cache_root.resolve())
    except (AttributeError, OSError):  # Python < 3.9 has no is_relative_to
        in_cache = str(Path(path).resolve()).startswith(str(cache_root.resolve()))
    if in_cache:
        return (f"It is in fastnn's download cache: delete it (rm '{path}') and load "
                "the dataset again to download a fresh, hash-verified copy.")
    return (f"It was found in a folder you supplied ({Path(path).parent}, via data_home, "
            f"${ENV_DATA} or a system data folder): replace it with an intact copy, or "
            "move it away so that fastnn downloads the data into its cache instead.")


def _describe_failure(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    errno = re.search(r"\[Errno -?\d+\][^\"')]*", text)  # urllib3's nested reason
    if errno:
        text = errno.group(0).strip()
    elif len(text) > 300:
        text = text[:300] + "..."
    if isinstance(exc, ValueError) and "hash" in text.lower():
        return ("checksum mismatch, file refused (the mirror sent other bytes than the "
                f"pinned ones: a changed, corrupt or truncated file): {text}")
    kind = type(exc).__name__
    if kind == "HTTPError":
        return f"HTTP error: {text}"
    if kind in ("ConnectionError", "ConnectTimeout", "ProxyError", "SSLError"):
        return f"could not connect: {text}"
    if kind in ("Timeout", "ReadTimeout"):
        return f"timed out: {text}"
    return f"{kind}: {text}"


def _download(info: DatasetInfo, f: IdxFile, dest: Path, mirrors: Sequence[str],
              progress: bool) -> Path:
    """Fetch ``f`` into ``dest`` with pooch, trying each mirror in turn."""
    import pooch  # lazy: pooch (and requests) cost ~0.1 s to import

    if not mirrors:
        raise DatasetError(f"no download mirror is configured for {info.name!r} "
                           f"(fastnn.datasets.MIRRORS[{info.name!r}] is empty).")
    failures = []
    for i, base in enumerate(mirrors):
        url = base if base.endswith("/") else base + "/"
        url += f.fname
        downloader = (pooch.HTTPDownloader(progressbar=progress)
                      if url.startswith(("http://", "https://")) else None)
        try:
            path = pooch.retrieve(url, known_hash=f"md5:{f.md5}", fname=f.fname,
                                  path=str(dest), downloader=downloader,
                                  progressbar=progress)
        except Exception as exc:  # network, HTTP, hash mismatch: try the next mirror
            why = _describe_failure(exc)
            failures.append(f"  - {url}: {why}")
            logger.warning("fastnn.datasets: %s failed (%s)%s", url, why.split(":")[0],
                           "; trying the next mirror" if i + 1 < len(mirrors) else "")
            continue
        return Path(path)
    lines = "\n".join(failures)
    raise DatasetError(
        f"could not download {f.fname} for dataset {info.name!r} from any mirror:\n{lines}\n"
        f"No partial file was left in {dest}. Check the network connection (or proxy "
        f"settings) and try again; or download the files yourself, put them in a folder "
        f"named {info.name}/ under a folder listed in ${ENV_DATA} (or pass data_home=...); "
        f"offline, load('mnist-5k') gives 5,000 real MNIST digits without a download.")


def fetch(
    info: DatasetInfo,
    splits: Sequence[str] = ("train", "test"),
    *,
    data_home=None,
    cache_dir=None,
    download: bool = True,
    progress: Optional[bool] = None,
    mirrors: Optional[Sequence[str]] = None,
) -> SplitPaths:
    """Paths ``{split: (images, labels)}`` of an IDX dataset, downloading if needed."""
    for s in splits:
        if s not in info.files:
            raise DatasetError(f"dataset {info.name!r} has no split {s!r}; "
                               f"valid splits: {', '.join(info.files)}")
    out: SplitPaths = {}
    searched = search_dirs(info, data_home)
    for s in splits:
        for d in searched:
            found = [_find_file(d, f) for f in info.files[s]]
            if all(found):
                out[s] = (found[0], found[1])
                break
    todo = [s for s in splits if s not in out]
    if not todo:
        return out

    cache = get_cache_dir(cache_dir) / info.name
    missing: List[IdxFile] = []
    for s in todo:
        for f in info.files[s]:
            if _find_file(cache, f) is None:
                missing.append(f)
    if missing and not download:
        where = "\n".join(f"  {d}" for d in searched + [cache])
        names = ", ".join(f.fname for f in missing)
        raise DatasetError(
            f"dataset {info.name!r} is not available locally and download=False.\n"
            f"Missing: {names} (uncompressed copies are accepted too). Looked in:\n{where}\n"
            f"To fix: put the files you have in a folder named {info.name}/ and set "
            f"{ENV_DATA} to the folder above it (or pass data_home=), or allow the "
            f"download (download=True, {info.size}). Offline, load('mnist-5k') gives "
            "5,000 real MNIST digits with no download.")
    if missing:
        if progress is None:
            progress = _stderr_is_terminal()
        use = list(MIRRORS.get(info.name, ()) if mirrors is None else mirrors)
        for f in missing:
            _download(info, f, cache, use, bool(progress))
    for s in todo:
        imgs, labels = (_find_file(cache, f) for f in info.files[s])
        assert imgs is not None and labels is not None
        out[s] = (imgs, labels)
    return out


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
