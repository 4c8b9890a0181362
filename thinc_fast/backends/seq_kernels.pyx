# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, embedsignature=True
"""The sequence engine of the CPU backend: the runners behind NumpyOps's
sequence, hashing, embedding and activation methods, over the loops of
``src/include/seq_loops.h``.

Each runner fills one ``thf_job`` (pool_job.h) whose chunks (rows, sequences
balanced by rows, values or table rows) run on the calling thread and the
gemm's worker pool (:func:`gemm.run_job`). The ``*_into`` functions take
arrays the caller has checked (C-contiguous, matching shapes, float32 or
float64 as the loops need) and pick the loop for their dtypes.
"""
import numpy

cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from .arrays cimport dim, empty_for, f32_c, f32_empty_like, f32_native, size, writable
from .gemm cimport job_init, num_threads, run_job
from .loops cimport *

_F32 = numpy.dtype("float32")

ctypedef fused seq_real:
    float
    double

ctypedef fused seq_index:
    int32_t
    uint32_t
    int64_t

_I32 = numpy.dtype("int32")
_U32 = numpy.dtype("uint32")
_I64 = numpy.dtype("int64")
_U64 = numpy.dtype("uint64")


# The sequence kernels split from 2**18 values of work (about 50 us on one
# thread), so that the textcat config's batches (32 docs, ~550 rows of 64: at
# most 141k values a call) run on the calling thread. Measured at that size on 2
# cores: idle, a split saved up to 15 us a call (gather_add 38 -> 23 us, the
# others 0-7 us, 1-2 ms an epoch in all); with another process on the second
# core the split kernels took 1.5-5x as long (a worker that claimed a chunk and
# was then preempted stalls the caller), and scatter_add, split by columns then,
# took 2-5x as long even idle.
cdef Py_ssize_t SEQ_PARALLEL_MIN = 1 << 18
cdef Py_ssize_t _seq_min_work = SEQ_PARALLEL_MIN


def _set_seq_min_work(min_work):
    """For tests and measurements: the work (values) from which the sequence,
    embedding and activation kernels split over threads. Returns the previous
    value."""
    global _seq_min_work
    before = _seq_min_work
    _seq_min_work = max(1, int(min_work))
    return before


cdef inline int _seq_parts(Py_ssize_t work, Py_ssize_t items) noexcept nogil:
    """How many threads for `work` values in `items` indivisible items."""
    cdef int nthreads = num_threads()
    if nthreads <= 1 or work < _seq_min_work or items < 2:
        return 1
    return <int>min(<Py_ssize_t>nthreads, items)


cdef inline int _seq_chunks(int parts, Py_ssize_t items) noexcept nogil:
    """Chunks for `parts` threads: four each, so that the caller can take over
    the share of a worker that starts late (at most one per item)."""
    cdef Py_ssize_t chunks = 4 * parts if parts > 1 else 1
    return <int>max(1, min(chunks, items, 4095))


cdef object _seq_bounds(const int64_t[::1] offs, int parts):
    """Sequence index boundaries splitting the sequences into `parts` runs of
    about equal rows: an int64 array of parts + 1 entries, entry c the first
    sequence starting at or after c / parts of the rows (NumPy's searchsorted
    of those targets, in a C loop: a few microseconds less per call)."""
    cdef Py_ssize_t nseq = offs.shape[0] - 1, c, lo, hi, mid
    cdef double step = <double>offs[nseq] / parts if parts > 0 else 0.0, target
    out = numpy.empty(max(parts, 1) + 1, dtype=numpy.int64)
    cdef int64_t[::1] b = out
    b[0] = 0
    b[b.shape[0] - 1] = nseq
    for c in range(1, parts):
        target = c * step
        lo = 0
        hi = nseq
        while lo < hi:
            mid = (lo + hi) // 2
            if offs[mid] >= target:
                hi = mid
            else:
                lo = mid + 1
        b[c] = lo
    return out


def lengths_offsets(lengths, Py_ssize_t n_rows, int min_length, int mode):
    """The int64 offsets [0, l0, l0 + l1, ...] of `lengths` when it is a 1d
    C-contiguous int32/int64 NumPy array whose values are all >= min_length
    and add up to at most n_rows (mode 0), exactly n_rows (mode 1) or anything
    (mode 2); else None, and the caller runs the reference's checks (which
    raise its errors). One pass in C instead of a few NumPy calls."""
    return _lengths_offsets(lengths, n_rows, min_length, mode)


cdef object _lengths_offsets(object lengths, Py_ssize_t n_rows, int min_length, int mode):
    """:func:`lengths_offsets`, read from the array's header and made in C
    (no buffer taken: the reductions of a textcat batch are a few us each)."""
    if not (cnp.PyArray_Check(lengths) and cnp.PyArray_NDIM(<cnp.ndarray>lengths) == 1
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>lengths)
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>lengths)):
        return None
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>lengths)
    if typenum != cnp.NPY_INT32 and typenum != cnp.NPY_INT64:
        return None
    cdef cnp.npy_intp n = dim(lengths, 0), count = n + 1
    out = cnp.PyArray_EMPTY(1, &count, cnp.NPY_INT64, 0)
    cdef int64_t* o = <int64_t*>cnp.PyArray_DATA(<cnp.ndarray>out)
    cdef const void* lens = cnp.PyArray_DATA(<cnp.ndarray>lengths)
    cdef int64_t acc
    with nogil:
        if typenum == cnp.NPY_INT32:
            acc = _offsets_into(<const int32_t*>lens, n, o, min_length)
        else:
            acc = _offsets_into(<const int64_t*>lens, n, o, min_length)
    if acc < 0 or (mode == 0 and acc > n_rows) or (mode == 1 and acc != n_rows):
        return None
    return out


cdef int64_t _offsets_into(const seq_index* lens, Py_ssize_t n, int64_t* o,
                           int min_length) noexcept nogil:
    """o[0..n] = the running sums of lens[0..n); -1 if a length is below
    min_length (min_length >= 0)."""
    cdef Py_ssize_t i
    cdef int64_t acc = 0, v
    o[0] = 0
    for i in range(n):
        v = <int64_t>lens[i]
        if v < min_length:
            return -1
        acc += v
        o[i + 1] = acc
    return acc


def index_array(indices):
    """`indices` as a C-contiguous int32, uint32 or int64 array; uint64 is
    viewed as int64 (values from 2**63 on turn negative and fail the check)."""
    dt = indices.dtype
    if dt == _I32 or dt == _U32 or dt == _I64:
        return numpy.ascontiguousarray(indices)
    if dt == _U64:
        return numpy.ascontiguousarray(indices).view(numpy.int64)
    return numpy.ascontiguousarray(indices, dtype=numpy.int64)


def check_index_run(idx, Py_ssize_t nrows, method):
    """IndexError unless every index of the 1d `idx` is in [0, nrows)."""
    cdef Py_ssize_t bad = -1
    if idx.shape[0] == 0:
        return
    if idx.dtype == _I32:
        bad = _first_bad_index[int32_t](idx, nrows)
    elif idx.dtype == _U32:
        bad = _first_bad_index[uint32_t](idx, nrows)
    else:
        bad = _first_bad_index[int64_t](idx, nrows)
    if bad >= 0:
        raise IndexError(f"{method}: index {idx[bad]} is out of bounds for a table of "
                         f"{nrows} rows")


cdef Py_ssize_t _first_bad_index(const seq_index[::1] idx, Py_ssize_t nrows) noexcept:
    cdef Py_ssize_t bad
    with nogil:
        if seq_index is int32_t:
            bad = thf_check_idx_i32(&idx[0], idx.shape[0], nrows)
        elif seq_index is uint32_t:
            bad = thf_check_idx_u32(&idx[0], idx.shape[0], nrows)
        else:
            bad = thf_check_idx_i64(&idx[0], idx.shape[0], nrows)
    return bad


cdef void _hash_run(uint32_t[:, ::1] out, const uint64_t[::1] ids, uint32_t seed) noexcept:
    cdef thf_job job
    cdef Py_ssize_t n = ids.shape[0]
    cdef int parts = _seq_parts(4 * n, n)
    job_init(&job, n)
    job.range = thf_job_hash
    job.nparts = _seq_chunks(parts, n)
    job.dst = &out[0, 0]
    job.src = &ids[0]
    job.seed = seed
    run_job(&job, parts)


cdef void _ngrams_run(uint64_t[::1] out, const uint64_t[::1] keys, int width) noexcept:
    cdef thf_job job
    cdef Py_ssize_t n = out.shape[0]
    cdef int parts = _seq_parts(n * width, n)
    job_init(&job, n)
    job.range = thf_job_ngrams
    job.nparts = _seq_chunks(parts, n)
    job.dst = &out[0]
    job.src = &keys[0]
    job.flag = width
    run_job(&job, parts)


cdef void _seq2col_run(unsigned char[::1] out, const unsigned char[::1] X,
                       const int64_t[::1] offs, Py_ssize_t nW, Py_ssize_t row_bytes,
                       Py_ssize_t nrows, Py_ssize_t ncols) noexcept:
    cdef thf_job job
    cdef int parts = _seq_parts(nrows * ncols, nrows)
    job_init(&job, nrows)
    job.range = thf_job_seq2col
    job.nparts = _seq_chunks(parts, nrows)
    job.dst = &out[0]
    job.src = &X[0]
    job.offs = &offs[0]
    job.nseq = offs.shape[0] - 1
    job.s0 = nW
    job.s1 = row_bytes
    run_job(&job, parts)


cdef void _bseq2col_run(seq_real[:, ::1] dX, const seq_real[:, ::1] dY, const int64_t[::1] offs,
                        Py_ssize_t nW) noexcept:
    cdef thf_job job
    cdef Py_ssize_t nrows = dX.shape[0]
    cdef int parts = _seq_parts(dY.shape[0] * dY.shape[1], nrows)
    job_init(&job, nrows)
    job.range = thf_job_bseq2col_f if seq_real is float else thf_job_bseq2col_d
    job.nparts = _seq_chunks(parts, nrows)
    job.dst = &dX[0, 0]
    job.src = &dY[0, 0]
    job.offs = &offs[0]
    job.nseq = offs.shape[0] - 1
    job.s0 = nW
    job.s1 = dX.shape[1]
    run_job(&job, parts)


cdef void _reduce_sum_run(seq_real[:, ::1] out, const seq_real[:, ::1] X,
                          const int64_t[::1] offs, int mean) noexcept:
    _reduce_sum_job(thf_job_reduce_sum_f if seq_real is float else thf_job_reduce_sum_d,
                    &out[0, 0], &X[0, 0] if X.shape[0] else NULL, offs, out.shape[0],
                    out.shape[1], mean)


cdef void _reduce_sum_job(thf_range_fn fn, void* out, const void* X, const int64_t[::1] offs,
                          Py_ssize_t nseq, Py_ssize_t ncols, int mean) noexcept:
    cdef thf_job job
    cdef int parts = _seq_parts(offs[nseq] * ncols, nseq)
    job_init(&job, nseq)
    job.range = fn
    job.nparts = _seq_chunks(parts, nseq)
    cdef const int64_t[::1] kb
    if job.nparts > 1:
        kb = _seq_bounds(offs, job.nparts)
        job.bounds = &kb[0]
    job.dst = out
    job.src = X
    job.offs = &offs[0]
    job.s1 = ncols
    job.flag = mean
    run_job(&job, parts)


def reduce_sum_f32(X, lengths, int mean, int mode, empty):
    """Per-sequence sums (means with `mean`) of a C-ordered 2d float32 `X`
    for C-ordered 1d int32 `lengths`, each >= 0, adding up to at most
    (`mode` 0) or exactly (1) the rows; the output as the allocator `empty`
    gives it. None, with nothing done, for anything else (the caller's checks
    then raise their errors). Reads the headers and makes the offsets in C:
    Thinc's own reduce_sum took 5.7 us for 1000 x 1 in 50 sequences, the
    memoryview path 12.8."""
    if not (f32_c(X, 2) and _i32_c(lengths, 1)):
        return None
    offsets = _lengths_offsets(lengths, dim(X, 0), 0, mode)
    if offsets is None:
        return None
    cdef cnp.npy_intp dims[2]
    dims[0] = dim(lengths, 0)
    dims[1] = dim(X, 1)
    out = empty_for(empty, 2, dims, cnp.NPY_FLOAT32, 4)
    if dims[0] and dims[1]:
        _reduce_sum_job(thf_job_reduce_sum_f, cnp.PyArray_DATA(<cnp.ndarray>out),
                        cnp.PyArray_DATA(<cnp.ndarray>X) if dim(X, 0) else NULL, offsets,
                        dims[0], dims[1], mean)
    return out


def breduce_sum_f32(d, lengths, int mean, empty):
    """The gradient of :func:`reduce_sum_f32` for a C-ordered 2d float32 `d`
    (one row per sequence) and C-ordered 1d int32 `lengths` (each >= 0, one
    per row of `d`): each sequence's rows get its row of `d` (divided by its
    length with `mean`). None, with nothing done, for anything else."""
    if not (f32_c(d, 2) and _i32_c(lengths, 1)) or dim(lengths, 0) != dim(d, 0):
        return None
    offsets = _lengths_offsets(lengths, 0, 0, 2)
    if offsets is None:
        return None
    cdef const int64_t[::1] offs = offsets
    cdef cnp.npy_intp dims[2]
    dims[0] = offs[offs.shape[0] - 1]
    dims[1] = dim(d, 1)
    dX = empty_for(empty, 2, dims, cnp.NPY_FLOAT32, 4)
    if dims[0] and dims[1]:
        _breduce_sum_job(thf_job_breduce_sum_f, cnp.PyArray_DATA(<cnp.ndarray>dX),
                         cnp.PyArray_DATA(<cnp.ndarray>d), offs, dims[0], dims[1], mean)
    return dX


cdef void _reduce_max_run(seq_real[:, ::1] out, int32_t[:, ::1] which, const seq_real[:, ::1] X,
                          const int64_t[::1] offs) noexcept:
    cdef thf_job job
    cdef Py_ssize_t nseq = out.shape[0]
    cdef int parts = _seq_parts(offs[nseq] * out.shape[1], nseq)
    job_init(&job, nseq)
    job.range = thf_job_reduce_max_f if seq_real is float else thf_job_reduce_max_d
    job.nparts = _seq_chunks(parts, nseq)
    cdef const int64_t[::1] kb
    if job.nparts > 1:
        kb = _seq_bounds(offs, job.nparts)
        job.bounds = &kb[0]
    job.dst = &out[0, 0]
    job.dst2 = &which[0, 0]
    job.src = &X[0, 0]
    job.offs = &offs[0]
    job.s1 = out.shape[1]
    run_job(&job, parts)


cdef void _breduce_sum_run(seq_real[:, ::1] dX, const seq_real[:, ::1] d, const int64_t[::1] offs,
                           int mean) noexcept:
    _breduce_sum_job(thf_job_breduce_sum_f if seq_real is float else thf_job_breduce_sum_d,
                     &dX[0, 0], &d[0, 0], offs, dX.shape[0], dX.shape[1], mean)


cdef void _breduce_sum_job(thf_range_fn fn, void* dX, const void* d, const int64_t[::1] offs,
                           Py_ssize_t nrows, Py_ssize_t ncols, int mean) noexcept:
    cdef thf_job job
    cdef int parts = _seq_parts(nrows * ncols, nrows)
    job_init(&job, nrows)
    job.range = fn
    job.nparts = _seq_chunks(parts, nrows)
    job.dst = dX
    job.src = d
    job.offs = &offs[0]
    job.nseq = offs.shape[0] - 1
    job.s1 = ncols
    job.flag = mean
    run_job(&job, parts)


cdef void _breduce_max_run(seq_real[:, ::1] dX, const seq_real[:, ::1] d,
                           const int32_t[:, ::1] which, const int64_t[::1] offs) noexcept:
    cdef thf_job job
    cdef Py_ssize_t nseq = d.shape[0]
    cdef int parts = _seq_parts(dX.shape[0] * dX.shape[1], nseq)
    job_init(&job, nseq)
    job.range = thf_job_breduce_max_f if seq_real is float else thf_job_breduce_max_d
    job.nparts = _seq_chunks(parts, nseq)
    cdef const int64_t[::1] kb
    if job.nparts > 1:
        kb = _seq_bounds(offs, job.nparts)
        job.bounds = &kb[0]
    job.dst = &dX[0, 0]
    job.src = &d[0, 0]
    job.src2 = &which[0, 0]
    job.offs = &offs[0]
    job.s1 = dX.shape[1]
    run_job(&job, parts)


def gather_add_into(out, table, idx):
    if idx.dtype == _I32:
        if out.dtype == _F32:
            _gather_add_run[float, int32_t](out, table, idx)
        else:
            _gather_add_run[double, int32_t](out, table, idx)
    elif idx.dtype == _U32:
        if out.dtype == _F32:
            _gather_add_run[float, uint32_t](out, table, idx)
        else:
            _gather_add_run[double, uint32_t](out, table, idx)
    else:
        if out.dtype == _F32:
            _gather_add_run[float, int64_t](out, table, idx)
        else:
            _gather_add_run[double, int64_t](out, table, idx)


cdef void _gather_add_run(seq_real[:, ::1] out, const seq_real[:, ::1] table,
                          const seq_index[:, ::1] idx) noexcept:
    cdef thf_job job
    cdef Py_ssize_t nrows = out.shape[0]
    cdef int parts = _seq_parts(nrows * idx.shape[1] * out.shape[1], nrows)
    job_init(&job, nrows)
    if seq_real is float:
        if seq_index is int32_t:
            job.range = thf_job_gather_add_f_i32
        elif seq_index is uint32_t:
            job.range = thf_job_gather_add_f_u32
        else:
            job.range = thf_job_gather_add_f_i64
    else:
        if seq_index is int32_t:
            job.range = thf_job_gather_add_d_i32
        elif seq_index is uint32_t:
            job.range = thf_job_gather_add_d_u32
        else:
            job.range = thf_job_gather_add_d_i64
    job.nparts = _seq_chunks(parts, nrows)
    job.dst = &out[0, 0]
    job.src = &table[0, 0]
    job.src2 = &idx[0, 0]
    job.s0 = idx.shape[1]
    job.s1 = out.shape[1]
    run_job(&job, parts)


def scatter_add_into(table, idx, values, Py_ssize_t vdiv, int skip_negative=0):
    """``table[idx[i]] += values[i // vdiv]``; with `skip_negative`, negative
    indices add nothing (the caller checked the others are < rows)."""
    if idx.dtype == _I32:
        if table.dtype == _F32:
            _scatter_add_run[float, int32_t](table, idx, values, vdiv, skip_negative)
        else:
            _scatter_add_run[double, int32_t](table, idx, values, vdiv, skip_negative)
    elif idx.dtype == _U32:
        if table.dtype == _F32:
            _scatter_add_run[float, uint32_t](table, idx, values, vdiv, skip_negative)
        else:
            _scatter_add_run[double, uint32_t](table, idx, values, vdiv, skip_negative)
    else:
        if table.dtype == _F32:
            _scatter_add_run[float, int64_t](table, idx, values, vdiv, skip_negative)
        else:
            _scatter_add_run[double, int64_t](table, idx, values, vdiv, skip_negative)


cdef void _scatter_add_run(seq_real[:, ::1] table, const seq_index[::1] idx,
                           const seq_real[:, ::1] values, Py_ssize_t vdiv,
                           int skip_negative) noexcept:
    cdef thf_range_fn fn
    if seq_real is float:
        if seq_index is int32_t:
            fn = thf_job_scatter_add_f_i32
        elif seq_index is uint32_t:
            fn = thf_job_scatter_add_f_u32
        else:
            fn = thf_job_scatter_add_f_i64
    else:
        if seq_index is int32_t:
            fn = thf_job_scatter_add_d_i32
        elif seq_index is uint32_t:
            fn = thf_job_scatter_add_d_u32
        else:
            fn = thf_job_scatter_add_d_i64
    _scatter_add_job(fn, &table[0, 0], &values[0, 0], &idx[0], table.shape[0], table.shape[1],
                     idx.shape[0], vdiv, skip_negative)


cdef void _scatter_add_job(thf_range_fn fn, void* table, const void* values, const void* idx,
                           Py_ssize_t nrows, Py_ssize_t ncols, Py_ssize_t n, Py_ssize_t vdiv,
                           int skip_negative) noexcept:
    """Threads split the table's rows: no two write the same row, and each
    row's additions happen in the order of the indices (any thread count gives
    the same table). Each part reads all the indices, so one part per thread
    (two per thread took 4-25% longer on 2 cores)."""
    cdef thf_job job
    cdef int parts = _seq_parts(n * ncols, nrows)
    job_init(&job, nrows)
    job.range = fn
    job.nparts = parts  # one each: every part reads all the indices
    job.dst = table
    job.src = values
    job.src2 = idx
    job.s0 = vdiv
    job.s1 = ncols
    job.s2 = n
    job.flag = skip_negative
    run_job(&job, parts)


cdef inline bint _i32_c(object a, int ndim) noexcept:
    """`a` is a C-contiguous native int32 NumPy array of `ndim` dimensions."""
    return (cnp.PyArray_Check(a) and cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_INT32
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a) and cnp.PyArray_NDIM(<cnp.ndarray>a) == ndim
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a))


def scatter_add_skipping_negatives(table, indices, values):
    """``table[indices] += values`` (repeated ids add up) as Thinc's own
    kernel computes it: negative ids add nothing. For a writable C-ordered
    float32 `table` of 2 dims, C-ordered 1d int32 `indices` and C-ordered
    float32 `values` of shape ``(len(indices), table.shape[1])``; returns
    `table`, or None (nothing done) for any other arrays. An id of ``rows``
    or more raises IndexError before anything is added (Thinc's kernel would
    write past the table). The checks read the arrays' headers (about 0.5 us
    in all: the wrapper of Thinc's backend took 11 us for 256 ids, the
    kernel 5)."""
    if not (f32_c(table, 2) and writable(table) and _i32_c(indices, 1) and f32_c(values, 2)):
        return None
    cdef Py_ssize_t n = dim(indices, 0), nrows = dim(table, 0), ncols = dim(table, 1)
    if dim(values, 0) != n or dim(values, 1) != ncols:
        return None
    if n == 0 or ncols == 0:
        return table
    cdef const int32_t* ids = <const int32_t*>cnp.PyArray_DATA(<cnp.ndarray>indices)
    cdef int32_t lo, hi
    with nogil:
        thf_minmax_i32(ids, n, &lo, &hi)
    if hi >= nrows:
        raise IndexError(f"scatter_add: index {hi} is out of bounds for a table of {nrows} rows")
    _scatter_add_job(thf_job_scatter_add_f_i32, cnp.PyArray_DATA(<cnp.ndarray>table),
                     cnp.PyArray_DATA(<cnp.ndarray>values), ids, nrows, ncols, n, 1, lo < 0)
    return table


cdef void _maxout_run(seq_real[::1] best, int32_t[::1] which, const seq_real[::1] X,
                      Py_ssize_t P) noexcept:
    _maxout_job(thf_job_maxout_f if seq_real is float else thf_job_maxout_d, &best[0],
                &which[0], &X[0], best.shape[0], P)


cdef void _maxout_job(thf_range_fn fn, void* best, int32_t* which, const void* X,
                      Py_ssize_t n, Py_ssize_t P) noexcept:
    cdef thf_job job
    cdef int parts = _seq_parts(n * P, n)
    job_init(&job, n)
    job.range = fn
    job.nparts = _seq_chunks(parts, n)
    job.dst = best
    job.dst2 = which
    job.src = X
    job.s0 = P
    run_job(&job, parts)


cdef void _bmaxout_run(seq_real[::1] dX, const seq_real[::1] dY, const int32_t[::1] which,
                       Py_ssize_t P) noexcept:
    _bmaxout_job(thf_job_bmaxout_f if seq_real is float else thf_job_bmaxout_d, &dX[0], &dY[0],
                 &which[0], dY.shape[0], P)


cdef void _bmaxout_job(thf_range_fn fn, void* dX, const void* dY, const int32_t* which,
                       Py_ssize_t n, Py_ssize_t P) noexcept:
    cdef thf_job job
    cdef int parts = _seq_parts(n * P, n)
    job_init(&job, n)
    job.range = fn
    job.nparts = _seq_chunks(parts, n)
    job.dst = dX
    job.src = dY
    job.src2 = which
    job.s0 = P
    run_job(&job, parts)


def maxout_f32(X, empty):
    """``(best, which)`` of maxout over the last axis of a C-ordered float32
    `X` whose last axis is not empty (`which`: int32, the first piece reaching
    the max); the outputs as the allocator `empty` gives them (see
    ``arrays.empty_for``). None, with nothing done, for any other `X`. Reads
    the array's header instead of taking buffers: Thinc's own maxout took 4 us
    for 32 x 64 x 2, this method's memoryview path 8."""
    if not (f32_native(X) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>X)):
        return None
    cdef int nd = cnp.PyArray_NDIM(<cnp.ndarray>X)
    if nd < 1 or dim(X, nd - 1) == 0:
        return None
    cdef Py_ssize_t P = dim(X, nd - 1), n = size(X) // P
    cdef cnp.npy_intp* dims = cnp.PyArray_DIMS(<cnp.ndarray>X)
    best = empty_for(empty, nd - 1, dims, cnp.NPY_FLOAT32, 4)
    which = empty_for(empty, nd - 1, dims, cnp.NPY_INT32, 4)
    if n:
        _maxout_job(thf_job_maxout_f, cnp.PyArray_DATA(<cnp.ndarray>best),
                    <int32_t*>cnp.PyArray_DATA(<cnp.ndarray>which),
                    cnp.PyArray_DATA(<cnp.ndarray>X), n, P)
    return best, which


def bmaxout_f32(dY, which, Py_ssize_t P, empty):
    """The gradient of maxout for a C-ordered float32 `dY` and a C-ordered
    int32 `which` of its shape: ``dX`` of shape ``dY.shape + (P,)`` from the
    allocator `empty`, ``dX[..., p] = dY`` where ``which == p``, else 0.
    IndexError when a piece is outside ``[0, P)``; None, with nothing done,
    for other arrays (`which` of another dtype is checked by the caller, on
    its own values)."""
    if not (f32_native(dY) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>dY)):
        return None
    cdef int nd = cnp.PyArray_NDIM(<cnp.ndarray>dY), i
    if nd > 31 or P <= 0 or not _i32_c(which, nd):
        return None
    cdef cnp.npy_intp dims[32]
    for i in range(nd):
        dims[i] = dim(dY, i)
        if dim(which, i) != dims[i]:
            return None
    dims[nd] = P
    cdef Py_ssize_t n = size(dY)
    cdef const int32_t* w = <const int32_t*>cnp.PyArray_DATA(<cnp.ndarray>which)
    cdef Py_ssize_t bad = 0
    if P > 2147483647:
        return None
    if n:
        with nogil:
            bad = thf_count_bad_pieces(w, n, <int32_t>P)
    if bad:
        raise IndexError(f"backprop_maxout: which holds pieces outside [0, {P}): "
                         f"{int(which.min())}..{int(which.max())}")
    dX = empty_for(empty, nd + 1, dims, cnp.NPY_FLOAT32, 4)
    if n:
        _bmaxout_job(thf_job_bmaxout_f, cnp.PyArray_DATA(<cnp.ndarray>dX),
                     cnp.PyArray_DATA(<cnp.ndarray>dY), w, n, P)
    return dX


def act_forward(X, inplace, int kind, double p0, double p1, double p2, double p3):
    """``f(X)`` for a float32 C-contiguous NumPy array (written into X with
    `inplace`); None for anything else (the caller then uses the reference)."""
    if not (isinstance(X, numpy.ndarray) and X.dtype == _F32 and X.flags.c_contiguous):
        return None
    if inplace and not X.flags.writeable:
        return None
    Y = X if inplace else f32_empty_like(X)
    if X.size:
        _act_forward_run(Y.reshape(-1), X.reshape(-1), kind, p0, p1, p2, p3)
    return Y


cdef void _act_forward_run(float[::1] Y, const float[::1] X, int kind, float p0, float p1,
                           float p2, float p3) noexcept:
    cdef thf_job job
    cdef Py_ssize_t n = X.shape[0]
    cdef int parts = _seq_parts(8 * n, n // 64)
    job_init(&job, n)
    job.range = thf_job_act_forward
    job.nparts = _seq_chunks(parts, n // 64)
    job.align = 16
    job.dst = &Y[0]
    job.src = &X[0]
    job.flag = kind
    job.p[0] = p0
    job.p[1] = p1
    job.p[2] = p2
    job.p[3] = p3
    run_job(&job, parts)


def act_backward(dY, X, Y, inplace, int kind, double p0, double p1, double p2):
    """``dY * f'(.)`` for float32 C-contiguous NumPy arrays (written into dY
    with `inplace`); None for anything else."""
    for arr in (dY, X, Y):
        if arr is not None and not (isinstance(arr, numpy.ndarray) and arr.dtype == _F32
                                    and arr.flags.c_contiguous):
            return None
    if inplace and not dY.flags.writeable:
        return None
    dX = dY if inplace else f32_empty_like(dY)
    if dY.size:
        _act_backward_run(dX.reshape(-1), dY.reshape(-1), X.reshape(-1),
                          (X if Y is None else Y).reshape(-1), kind, p0, p1, p2)
    return dX


cdef void _act_backward_run(float[::1] dX, const float[::1] dY, const float[::1] X,
                            const float[::1] Y, int kind, float p0, float p1,
                            float p2) noexcept:
    cdef thf_job job
    cdef Py_ssize_t n = dY.shape[0]
    cdef int parts = _seq_parts(8 * n, n // 64)
    job_init(&job, n)
    job.range = thf_job_act_backward
    job.nparts = _seq_chunks(parts, n // 64)
    job.align = 16
    job.dst = &dX[0]
    job.src = &dY[0]
    job.src2 = &X[0]
    job.src3 = &Y[0]
    job.flag = kind
    job.p[0] = p0
    job.p[1] = p1
    job.p[2] = p2
    run_job(&job, parts)


# ------------------------------------------------------------ entry points
def hash_into(out, keys, uint32_t seed):
    """MurmurHash3 x64-128 of the uint64 `keys` into the (n, 4) uint32 `out`."""
    _hash_run(out, keys, seed)


def ngrams_into(out, keys, int width):
    """One uint64 hash per window of `width` keys into `out`."""
    _ngrams_run(out, keys, width)


def seq2col_into(out, X, offsets, Py_ssize_t nW, Py_ssize_t row_bytes, Py_ssize_t nrows,
                 Py_ssize_t ncols):
    """seq2col over the bytes of the rows (any dtype): `out` and `X` as uint8."""
    _seq2col_run(out, X, offsets, nW, row_bytes, nrows, ncols)


def bseq2col_into(dX, dY, offsets, Py_ssize_t nW):
    """The gradient of seq2col (float32 or float64)."""
    if dX.dtype == _F32:
        _bseq2col_run[float](dX, dY, offsets, nW)
    else:
        _bseq2col_run[double](dX, dY, offsets, nW)


def reduce_sum_into(out, X, offsets, int mean):
    """Per-sequence sums (means with `mean`) of the rows of `X`."""
    if X.dtype == _F32:
        _reduce_sum_run[float](out, X, offsets, mean)
    else:
        _reduce_sum_run[double](out, X, offsets, mean)


def reduce_max_into(out, which, X, offsets):
    """Per-sequence maxima of the rows of `X` and the row of each."""
    if X.dtype == _F32:
        _reduce_max_run[float](out, which, X, offsets)
    else:
        _reduce_max_run[double](out, which, X, offsets)


def breduce_sum_into(dX, d, offsets, int mean):
    """The gradient of reduce_sum (reduce_mean with `mean`)."""
    if d.dtype == _F32:
        _breduce_sum_run[float](dX, d, offsets, mean)
    else:
        _breduce_sum_run[double](dX, d, offsets, mean)


def breduce_max_into(dX, d, which, offsets):
    """The gradient of reduce_max."""
    if d.dtype == _F32:
        _breduce_max_run[float](dX, d, which, offsets)
    else:
        _breduce_max_run[double](dX, d, which, offsets)


def maxout_into(best, which, X, Py_ssize_t P):
    """Max over each run of `P` values of the 1d `X`."""
    if X.dtype == _F32:
        _maxout_run[float](best, which, X, P)
    else:
        _maxout_run[double](best, which, X, P)


def bmaxout_into(dX, dY, which, Py_ssize_t P):
    """The gradient of maxout."""
    if dY.dtype == _F32:
        _bmaxout_run[float](dX, dY, which, P)
    else:
        _bmaxout_run[double](dX, dY, which, P)
