"""Reader for the IDX format of the MNIST family, with structural validation.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type,
``NN`` the number of dimensions), then ``NN`` big-endian uint32 dimensions,
then the elements in C order. The files may be gzip-compressed; compression is
detected from the content, not the file name, because local copies are often
recompressed or stored uncompressed.

Every way a file can be wrong — not gzip though it says so, cut short, a bad
magic number, unexpected dimensions, too few or too many bytes — raises a
:class:`~fastnn.datasets.DatasetError` that names the file and says what to do.
"""
from __future__ import annotations

import gzip
import os
import zlib
from typing import Optional, Sequence

import numpy as np

from ._errors import DatasetError

__all__ = ["read_idx", "IDX_DTYPES"]

# element-type byte -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
MAX_GZIP_RATIO = 1100  # deflate expands at most ~1032 times
_DEFAULT_REMEDY = "Replace it with an intact copy (or delete it and download it again)."


def _read_bounded(fh, limit: int) -> bytes:
    """The header and at most one byte more than the data it announces: a file (or a gzip
    bomb) longer than its header says is never read, let alone decompressed, in full. ``limit``
    bounds what the stream can hold (the file's size, or deflate's maximum expansion of it)."""
    raw = fh.read(4)
    if len(raw) < 4 or raw[2] not in IDX_DTYPES:
        return raw  # too short / bad magic: reported by the caller
    raw += fh.read(4 * raw[3])
    if len(raw) < 4 + 4 * raw[3]:
        return raw
    count = 1
    for i in range(raw[3]):
        count *= int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big")
    want = count * IDX_DTYPES[raw[2]].itemsize
    if want > limit:
        return raw  # cannot be there: the caller reports the header's claim (as truncation)
    return raw + fh.read(want + 1)


def _fmt_shape(shape: Sequence[Optional[int]]) -> str:
    return "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"


def read_idx(
    path: "os.PathLike[str] | str",
    expected_shape: Optional[Sequence[Optional[int]]] = None,
    *,
    expected_type: int = 0x08,
    remedy: str = _DEFAULT_REMEDY,
) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) into a NumPy array.

    Parameters
    ----------
    path : path-like
        The file. Gzip compression is detected from the first two bytes.
    expected_shape : sequence of int or None, optional
        The dimensions the header must announce; ``None`` entries match any
        size. When given, the magic number must also be exactly
        ``0x0000TTNN`` with ``TT = expected_type`` and ``NN = len(expected_shape)``.
    expected_type : int
        IDX element-type byte required when ``expected_shape`` is given
        (default ``0x08``, unsigned byte, as in all MNIST-family files).
    remedy : str
        What the user should do if the file is bad; appended to error messages.

    Returns
    -------
    numpy.ndarray
        Array with the header's dimensions and the native-endian version of the
        file's element type (``uint8`` for MNIST). It is a read-only view of
        the decoded bytes; copy it before writing to it.

    Raises
    ------
    DatasetError
        If the file is missing, unreadable, truncated, corrupt, or its header
        does not match ``expected_shape``.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}: {path!r}")
    fname = os.fsdecode(os.fspath(path))

    def fail(what: str) -> DatasetError:
        return DatasetError(f"{fname}: {what}. {remedy}")

    try:
        size = os.path.getsize(fname)
        with open(fname, "rb") as fh:
            compressed = fh.read(2) == _GZIP_MAGIC
            fh.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=fh) as gz:
                    raw = _read_bounded(gz, size * MAX_GZIP_RATIO)
            else:
                raw = _read_bounded(fh, size)
    except FileNotFoundError:
        raise DatasetError(f"{fname}: file not found. {remedy}") from None
    except IsADirectoryError:
        raise DatasetError(f"{fname}: is a folder, not an IDX file. {remedy}") from None
    except EOFError:
        raise fail("the gzip stream ends early, so the file is truncated "
                   "(an interrupted download or copy?)") from None
    except zlib.error as exc:
        raise fail(f"the gzip data is corrupt ({exc})") from None
    except gzip.BadGzipFile as exc:
        raise fail(f"the gzip data is corrupt ({exc})") from None
    except OSError as exc:
        raise DatasetError(f"{fname}: cannot be read ({exc}).") from None

    if len(raw) < 4:
        raise fail(f"only {len(raw)} bytes after decompression, too short for an "
                   "IDX header, so the file is truncated or empty")
    magic = int.from_bytes(raw[:4], "big")
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or type_code not in IDX_DTYPES or ndim == 0:
        raise fail(f"bad magic number 0x{magic:08X}: this is not an IDX file "
                   "(expected 0x00000801 for labels or 0x00000803 for images)")
    if expected_shape is not None:
        want = (expected_type << 8) | len(expected_shape)
        if magic != want:
            raise fail(f"bad magic number 0x{magic:08X}, expected 0x{want:08X} "
                       f"(an IDX file of {len(expected_shape)} dimension(s) of type "
                       f"0x{expected_type:02X}); is it the right file?")

    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise fail(f"the header announces {ndim} dimensions but the file ends after "
                   f"{len(raw)} bytes, so it is truncated")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if expected_shape is not None:
        ok = len(dims) == len(expected_shape) and all(
            e is None or d == e for d, e in zip(dims, expected_shape))
        if not ok:
            raise fail(f"the header gives dimensions {_fmt_shape(dims)} but "
                       f"{_fmt_shape(expected_shape)} is expected; the file is "
                       "corrupt or belongs to another data set or split")

    dtype = IDX_DTYPES[type_code]
    count = 1
    for d in dims:
        count *= d
    want_bytes = count * dtype.itemsize
    have_bytes = len(raw) - header_len
    if have_bytes < want_bytes:
        raise fail(f"truncated: the header announces {count} values {_fmt_shape(dims)}, "
                   f"i.e. {want_bytes} bytes of data, but only {have_bytes} follow")
    if have_bytes > want_bytes:
        raise fail(f"unexpected bytes after the {count} values {_fmt_shape(dims)} the header "
                   "announces (the rest was not read); the file is corrupt or its header does "
                   "not match its data")

    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header_len).reshape(dims)
    if dtype.itemsize > 1:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr
