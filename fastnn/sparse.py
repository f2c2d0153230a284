"""Sparse rows of the input, for a first layer that skips zero pixels.

Image data is mostly zeros (MNIST 81 %, Fashion-MNIST 50 %), and the first layer carries most
of a network's multiply-adds (forward X·W1 and weight gradient Xᵀ·D1; it needs no input
gradient). Each backend has two kernels over ``CSR.parts`` = (indptr, indices, values):

    sparse_dense_forward(indptr, indices, values, W, b, A, act, k, alpha, check=False)
                                                  A := f(X·W + b), skipping the zeros of X
    sparse_weight_grad(indptr, indices, values, D, dW, db, scale, accumulate=False, xt=None)
                                                  dW := scale·XᵀD; db := scale·Σ_rows D
                                                  (xt: ``csr.transpose().parts``, if built once)

``to_csr(X)`` builds the form once per fit (X does not change between steps), ``csr_rows(csr,
order)`` permutes it for an epoch's shuffled order (its mini-batches are then row ranges) and
``csr.block(lo, hi)`` is a row range without copying (offsets in ``indptr`` are absolute).
``first_layer_rows`` decides, by the crossovers measured in ``fastnn.config``, whether a kernel
engine's first layer takes this path.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import config


class CSR(NamedTuple):
    """Rows of a matrix in compressed sparse row form (offsets absolute, see ``block``)."""

    indptr: np.ndarray   # int64, rows + 1 offsets into indices/values
    indices: np.ndarray  # int32 column of each stored value, increasing within a row
    values: np.ndarray   # the stored values (every nonzero of X; NaN and ±inf are kept)
    n_cols: int

    @property
    def n_rows(self) -> int:
        return self.indptr.shape[0] - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1] - self.indptr[0])

    @property
    def density(self) -> float:
        """Fraction of the rows' entries that are stored (nonzero)."""
        cells = self.n_rows * self.n_cols
        return self.nnz / cells if cells else 0.0

    @property
    def parts(self) -> tuple:
        """(indptr, indices, values): the kernels' arguments."""
        return self.indptr, self.indices, self.values

    def block(self, lo: int, hi: int) -> "CSR":
        """Rows lo..hi−1 as a view (no copy)."""
        if not 0 <= lo <= hi <= self.n_rows:
            raise ValueError(f"row block {lo}:{hi} is outside the {self.n_rows} rows")
        return CSR(self.indptr[lo:hi + 1], self.indices, self.values, self.n_cols)

    def transpose(self) -> "CSR":
        """Xᵀ of these rows in sparse rows (offsets from 0, row numbers from the block's first row):
        the form the weight gradient Xᵀ·D walks. Build it once for rows that do not change (the row
        blocks of a full-batch fit) and pass ``xt=`` to ``sparse_weight_grad``."""
        cs = _compiled()
        if cs is not None and self.values.dtype in (np.float32, np.float64):  # one counting sort
            colptr = np.empty(self.n_cols + 1, dtype=np.int64)
            rowidx, colval = np.empty(self.nnz, dtype=np.int32), np.empty(self.nnz, dtype=self.values.dtype)
            cs.csr_transpose(self.indptr, self.indices, self.values, self.n_cols, colptr, rowidx, colval)
            return CSR(colptr, rowidx, colval, self.n_rows)
        import scipy.sparse as sp

        lo, hi = int(self.indptr[0]), int(self.indptr[-1])
        csc = sp.csr_matrix((self.values[lo:hi], self.indices[lo:hi], self.indptr - lo),
                            shape=(self.n_rows, self.n_cols)).tocsc()
        csc.sort_indices()
        return CSR(csc.indptr.astype(np.int64), csc.indices.astype(np.int32),
                   np.ascontiguousarray(csc.data, dtype=self.values.dtype), self.n_rows)

    def toarray(self) -> np.ndarray:
        """The dense rows (for checks and tests)."""
        out = np.zeros((self.n_rows, self.n_cols), dtype=self.values.dtype)
        lo = self.indptr[0]
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        out[rows, self.indices[lo:self.indptr[-1]]] = self.values[lo:self.indptr[-1]]
        return out


def to_csr(X) -> CSR:
    """The nonzeros of a 2-D float array X, row by row (NaN and ±inf count as nonzero)."""
    X = np.asarray(X)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.floating):
        raise ValueError(f"to_csr needs a 2-D float array X, got shape {X.shape} and dtype {X.dtype}")
    if X.shape[1] >= 2 ** 31:
        raise ValueError(f"to_csr: X has {X.shape[1]} columns; column indices are int32 (< 2**31)")
    cs = _compiled()
    if cs is not None and X.dtype in (np.float32, np.float64):  # two parallel passes over X
        from . import _threads

        X = np.ascontiguousarray(X)
        threads = _threads.get_num_threads()
        indptr = np.empty(X.shape[0] + 1, dtype=np.int64)
        cs.csr_counts(X, indptr, threads)
        indices, values = np.empty(indptr[-1], dtype=np.int32), np.empty(indptr[-1], dtype=X.dtype)
        cs.csr_fill(X, indptr, indices, values, threads)
        return CSR(indptr, indices, values, X.shape[1])
    mask = X != 0
    indptr = np.zeros(X.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(mask, axis=1), out=indptr[1:])
    indices = np.nonzero(mask)[1].astype(np.int32)
    values = np.ascontiguousarray(X[mask])
    return CSR(indptr, indices, values, X.shape[1])


def _compiled():
    """The compiled builder (fastnn._cysparse), or None without the Cython extension."""
    try:
        from . import _cysparse
    except ImportError:  # pragma: no cover - extension not built
        return None
    return _cysparse


def csr_rows(csr: CSR, idx) -> CSR:
    """Rows ``idx`` of ``csr`` in that order, as a new CSR (e.g. an epoch's shuffled order:
    its mini-batches are then ``block``s)."""
    idx = np.asarray(idx, dtype=np.int64)
    if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= csr.n_rows)):
        raise ValueError(f"csr_rows needs a 1-D array of row indices in 0..{csr.n_rows - 1}")
    starts = csr.indptr[idx]
    lengths = csr.indptr[idx + 1] - starts
    indptr = np.zeros(idx.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    # position of every stored value: its row's old start + its offset within the row
    src = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
    return CSR(indptr, csr.indices[src], csr.values[src], csr.n_cols)


def zero_fraction(X) -> float:
    """Fraction of exact zeros in X."""
    X = np.asarray(X)
    return 1.0 - np.count_nonzero(X) / X.size if X.size else 0.0


# first_layer_rows judges X's density first from at most this many evenly spaced rows
DENSITY_SAMPLE_ROWS = 256


def first_layer_rows(backend, X, block_rows: int, estimate: bool = False):
    """X in sparse rows when ``backend``'s sparse first layer beats its dense one on blocks of
    ``block_rows`` rows of X (density at most config.SPARSE_MAX_DENSITY_BLOCK, or _BATCH for
    blocks under config.SPARSE_SMALL_BLOCK rows), else None. The density is first judged from a
    sample of rows (dense inputs cost no pass over X), then, unless ``estimate``, confirmed exactly."""
    if getattr(backend, "NAME", None) not in config.SPARSE_BACKENDS:
        return None
    limit = config.SPARSE_MAX_DENSITY_BATCH if block_rows < config.SPARSE_SMALL_BLOCK else \
        config.SPARSE_MAX_DENSITY_BLOCK
    return rows_below(X, limit, estimate)


def rows_below(X, limit: float, estimate: bool = False):
    """X in sparse rows if at most a fraction ``limit`` of its entries are nonzero, else None: judged
    first from at most DENSITY_SAMPLE_ROWS evenly spaced rows (a dense X costs no pass over it), then,
    unless ``estimate``, confirmed exactly."""
    if not _sample_below(X, limit):
        return None
    csr = to_csr(X)
    return csr if estimate or csr.density <= limit else None


def density_below(X, limit: float) -> bool:
    """Whether at most a fraction ``limit`` of X's entries are nonzero (NaN counts), judged like
    rows_below but without building the sparse rows."""
    return _sample_below(X, limit) and np.count_nonzero(X) <= limit * X.size


def _sample_below(X, limit: float) -> bool:
    """At most a fraction ``limit`` of nonzeros in at most DENSITY_SAMPLE_ROWS evenly spaced rows of X."""
    if X.ndim != 2 or X.size == 0:
        return False
    sample = X[::max(1, X.shape[0] // DENSITY_SAMPLE_ROWS)]
    return np.count_nonzero(sample) <= limit * sample.size


def loop_first_layer(X, full_batch: bool):
    """Whether the C loop's first layer skips X's zeros (at most config.SPARSE_CLOOP_MAX_DENSITY
    nonzeros), and X in sparse rows for a full batch (None for mini-batches, whose rows the loop
    compresses at each step): (sparse, csr or None)."""
    limit = config.SPARSE_CLOOP_MAX_DENSITY
    if full_batch:
        csr = rows_below(X, limit)
        return csr is not None, csr
    return density_below(X, limit), None


def loop_buffers(csr, n_cols: int, dtype, rows: int, fan_out: int, threads: int = 1) -> tuple:
    """The 15 arrays of the C loop's sparse first layer (kernels/_cykernels.pyx: SmallNet(sparse=)),
    sized by kernels/small_net.h (``_cykernels.sparse_buffer_sizes``): full batch (``csr``: X in
    sparse rows): X's (indptr, indices, values) and Xᵀ's; mini-batches of ``rows`` rows (``csr``
    None): two slots of a batch's compressed rows (the C loop compresses the next batch while the
    current one is in use) and room for its columns; then, for each of ``threads`` threads, the
    products' cursors (max(rows, n_cols)) and packing space; and the first layer's scratch R. Unused
    arrays (and empty ones) hold one element."""
    from . import _cykernels

    dt, d = np.dtype(dtype), int(n_cols)
    slot, pack_bytes, r_values = _cykernels.sparse_buffer_sizes(rows, d, fan_out)

    def some(a, dtype):  # never empty: the C side takes the address of the first element
        return a if a.size else np.zeros(1, dtype=dtype)

    one_i64, one_i32, one_t = np.zeros(1, np.int64), np.zeros(1, np.int32), np.zeros(1, dt)
    if csr is not None:
        xt = csr.transpose()
        parts = (csr.indptr, some(csr.indices, np.int32), some(csr.values, dt),
                 xt.indptr, some(xt.indices, np.int32), some(xt.values, dt))
        batch = (one_i64, one_i32, one_t, one_i64, one_i32, one_t)
    else:
        parts = (one_i64, one_i32, one_t, one_i64, one_i32, one_t)
        batch = (np.zeros(2 * (rows + 1), np.int64), np.zeros(2 * slot, np.int32), np.zeros(2 * slot, dt),
                 np.zeros(d + 1, np.int64), np.zeros(slot, np.int32), np.zeros(slot, dt))
    span = max(rows, d)
    return (*parts, *batch,
            np.zeros(span * threads, np.int64), np.zeros(-(-pack_bytes // dt.itemsize) * threads, dt),
            np.zeros(r_values, dt))
