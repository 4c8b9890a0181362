# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, embedsignature=True
"""NumpyOps: the CPU backend, with its kernels in Cython.

gemm goes through blis (any strides, transposes folded into the strides,
``alpha``/``beta`` so gradients accumulate in place): with blis's expert
interface each product, or each thread's tile of it, runs on the kernel
configuration that serves its shape (``_blis_arch`` decides which), split over
the cores by a small worker pool (``src/include/worker_pool.h``). The
memory-bound kernels (bias+ReLU, ReLU backward, softmax, column sums, the
gradient norm and the fused optimizer steps) take typed memoryviews, check
shapes once at the Python boundary, and run C loops from ``stream_loops.h`` with
the GIL released. Inputs the kernels do not cover (float64, odd layouts) fall
back to the reference implementations of :class:`Ops`.
"""
import os
import time

import numpy

from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBUF_FORMAT, PyBUF_ND,
                             PyBUF_STRIDES, PyBUF_WRITABLE)
from blis.cy cimport gemm as blis_gemm, NO_TRANSPOSE

from . import _blis_arch
from .ops import Ops, _check_bias, _check_step_arrays
from .ops import (_backprop_lengths, _check_same_shape, _check_seed, _check_window,
                  _hash_ids, _offsets, _reduce_offsets, _seq2col_offsets)

_F32 = numpy.dtype("float32")

# Work below these sizes runs on one thread: forking costs more than it saves
# (gemm's threshold and tiling knobs live in blis_gemm.h's thf_split).
cdef Py_ssize_t STREAM_PARALLEL_MIN = 1 << 15
cdef Py_ssize_t BLOCK_ALIGN = 16
cdef Py_ssize_t SUMSQ_BLOCK = 1 << 14
cdef int _num_threads = 1


def default_num_threads():
    """The CPUs this process may run on (its affinity mask), at least 1, and at
    most ``THINC_FAST_NUM_THREADS`` (or ``OMP_NUM_THREADS``) when set."""
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = max(1, os.cpu_count() or 1)
    for name in ("THINC_FAST_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return min(cpus, int(value))
    return cpus


MAX_THREADS_PER_CPU = 4


def set_num_threads(n):
    """Use `n` threads for the CPU kernels (gemm splits, fused optimizer steps).

    ``None`` restores the default: the number of CPUs in this process's
    affinity mask (``os.sched_getaffinity``). More threads than CPUs are
    allowed up to ``4 * os.cpu_count()`` (they only slow the kernels down);
    more is refused with ValueError."""
    global _num_threads
    if n is None:
        n = default_num_threads()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int or None, got {n!r}")
    cpus = os.cpu_count() or 1
    limit = MAX_THREADS_PER_CPU * cpus
    if n > limit:
        raise ValueError(f"set_num_threads: n={n} is more than this machine can use: it has "
                         f"{cpus} CPUs (at most {limit} threads, {MAX_THREADS_PER_CPU} per CPU); "
                         "use None for the default (the CPUs this process may run on)")
    _num_threads = n


def get_num_threads():
    """The number of threads the CPU kernels use."""
    return _num_threads


cdef inline Py_ssize_t _chunk(Py_ssize_t total, int parts) noexcept nogil:
    cdef Py_ssize_t size = (total + parts - 1) // parts
    return ((size + BLOCK_ALIGN - 1) // BLOCK_ALIGN) * BLOCK_ALIGN


cdef void sgemm_parallel(dim_t m, dim_t n, dim_t k, float alpha,
                         const float* A, inc_t rsa, inc_t csa,
                         const float* B, inc_t rsb, inc_t csb,
                         float beta, float* C, inc_t rsc, inc_t csc, int nthreads) noexcept nogil:
    """sgemm split into tiles of C over up to `nthreads` threads (the caller
    included), each tile one single-threaded blis call on the context its
    shape asks for; small products run on the calling thread."""
    thf_sgemm_threads(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc, nthreads)


cdef inline Py_ssize_t _segment_at(const Py_ssize_t* offs, Py_ssize_t nseg,
                                   Py_ssize_t pos) noexcept nogil:
    """The segment k holding position `pos`: offs[k] <= pos < offs[k + 1]."""
    cdef Py_ssize_t lo = 0, hi = nseg - 1, mid
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if offs[mid] <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo


cdef void adam_range(float* w, float* g, float* m, float* v, float* avg, Py_ssize_t start,
                     Py_ssize_t end, const thf_step* s, const Py_ssize_t* offs,
                     const float* scales, Py_ssize_t nseg) noexcept nogil:
    """thf_adam over [start, end); with segments, each piece takes its segment's
    gradient scale (per-tensor clipping)."""
    cdef thf_step local = s[0]
    cdef Py_ssize_t k, stop
    if offs == NULL:
        thf_adam(w + start, g + start, m + start, v + start,
                avg + start if avg != NULL else NULL, end - start, s)
        return
    k = _segment_at(offs, nseg, start)
    while start < end:
        stop = min(offs[k + 1], end)
        if stop > start:
            local.grad_scale = scales[k]
            thf_adam(w + start, g + start, m + start, v + start,
                    avg + start if avg != NULL else NULL, stop - start, &local)
        start = stop if stop > start else start
        k += 1


cdef void sgd_range(float* w, float* g, float* avg, Py_ssize_t start, Py_ssize_t end,
                    const thf_step* s, const Py_ssize_t* offs, const float* scales,
                    Py_ssize_t nseg) noexcept nogil:
    cdef thf_step local = s[0]
    cdef Py_ssize_t k, stop
    if offs == NULL:
        thf_sgd(w + start, g + start, avg + start if avg != NULL else NULL, end - start, s)
        return
    k = _segment_at(offs, nseg, start)
    while start < end:
        stop = min(offs[k + 1], end)
        if stop > start:
            local.grad_scale = scales[k]
            thf_sgd(w + start, g + start, avg + start if avg != NULL else NULL, stop - start,
                   &local)
        start = stop if stop > start else start
        k += 1


# The optimizer kernels run on the gemm's worker pool (worker_pool.h), not in an
# OpenMP region: a region waits for every thread of its team, so one worker the
# OS has not scheduled (or OpenMP threads gone to sleep while the pool did the
# gemms) stalls the whole step. Chunks are claimed one at a time, four per
# thread; the caller takes over the share of a late worker.
ctypedef struct _step_job:
    float* w
    float* g
    float* m
    float* v
    float* avg
    Py_ssize_t n
    Py_ssize_t size
    const thf_step* s
    const Py_ssize_t* offs
    const float* scales
    Py_ssize_t nseg
    bint adam


cdef void _step_chunk(void* ctx, int chunk) noexcept nogil:
    cdef _step_job* job = <_step_job*>ctx
    cdef Py_ssize_t start = chunk * job.size
    cdef Py_ssize_t end = min(start + job.size, job.n)
    if start >= end:
        return
    if job.adam:
        adam_range(job.w, job.g, job.m, job.v, job.avg, start, end, job.s, job.offs, job.scales,
                   job.nseg)
    else:
        sgd_range(job.w, job.g, job.avg, start, end, job.s, job.offs, job.scales, job.nseg)


cdef inline Py_ssize_t _pool_chunk(Py_ssize_t n, int nthreads) noexcept nogil:
    """Chunk size for 4 chunks per thread (at most 4095 chunks), 16-aligned."""
    cdef Py_ssize_t size = _chunk(n, 4 * nthreads)
    if (n + size - 1) // size > 4095:
        size = _chunk(n, 4095)
    return size


cdef void _grow_pool(int nthreads) noexcept:
    """Start the pool's workers if missing (needs the GIL: call before nogil)."""
    if nthreads > 1 and thf_pool_workers() < nthreads - 1:
        thf_pool_grow(nthreads - 1)


cdef void _run_step(_step_job* job, int nthreads) noexcept nogil:
    cdef int nchunks
    if nthreads <= 1 or job.n < STREAM_PARALLEL_MIN:
        job.size = job.n
        _step_chunk(job, 0)
        return
    job.size = _pool_chunk(job.n, nthreads)
    nchunks = <int>((job.n + job.size - 1) // job.size)
    thf_pool_run(_step_chunk, job, nchunks, nthreads)


cdef void adam_parallel(float* w, float* g, float* m, float* v, float* avg, Py_ssize_t n,
                        const thf_step* s, const Py_ssize_t* offs, const float* scales,
                        Py_ssize_t nseg, int nthreads) noexcept nogil:
    cdef _step_job job
    job.w, job.g, job.m, job.v, job.avg = w, g, m, v, avg
    job.n, job.size, job.s = n, n, s
    job.offs, job.scales, job.nseg, job.adam = offs, scales, nseg, True
    _run_step(&job, nthreads)


cdef void sgd_parallel(float* w, float* g, float* avg, Py_ssize_t n, const thf_step* s,
                       const Py_ssize_t* offs, const float* scales, Py_ssize_t nseg,
                       int nthreads) noexcept nogil:
    cdef _step_job job
    job.w, job.g, job.m, job.v, job.avg = w, g, NULL, NULL, avg
    job.n, job.size, job.s = n, n, s
    job.offs, job.scales, job.nseg, job.adam = offs, scales, nseg, False
    _run_step(&job, nthreads)


cdef inline Py_ssize_t _first_piece_from(const Py_ssize_t* pstart, Py_ssize_t npieces,
                                         Py_ssize_t pos) noexcept nogil:
    """The first piece j with pstart[j] >= pos (npieces if none)."""
    cdef Py_ssize_t lo = 0, hi = npieces, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if pstart[mid] < pos:
            lo = mid + 1
        else:
            hi = mid
    return lo


ctypedef struct _sumsq_job:
    const float* g
    const float* w
    float l2
    const Py_ssize_t* pstart
    const Py_ssize_t* plen
    double* partial
    Py_ssize_t npieces
    Py_ssize_t n
    Py_ssize_t size


cdef void _sumsq_chunk(void* ctx, int chunk) noexcept nogil:
    """The pieces that start in chunk `chunk`'s range of values."""
    cdef _sumsq_job* job = <_sumsq_job*>ctx
    cdef Py_ssize_t lo = chunk * job.size
    cdef Py_ssize_t hi = min(lo + job.size, job.n)
    cdef Py_ssize_t j = _first_piece_from(job.pstart, job.npieces, lo)
    while j < job.npieces and job.pstart[j] < hi:
        job.partial[j] = thf_sumsq(job.g + job.pstart[j],
                                  job.w + job.pstart[j] if job.w != NULL else NULL,
                                  job.l2, job.plen[j])
        j += 1


cdef int segment_sumsq_parallel(const float* g, const float* w, float l2,
                                const Py_ssize_t* offs, Py_ssize_t nseg, double* out,
                                int nthreads) noexcept nogil:
    """out[k] = sum of squares of segment k. Each segment is cut at the fixed
    grid of SUMSQ_BLOCK values (the same pieces for any thread count), the
    piece sums are added in order: the same totals for any thread count. The
    threads take contiguous halves of the values (as the update kernels do),
    so each reads what it will update next. Returns -1 when out of memory
    (nothing written), else 0."""
    cdef Py_ssize_t npieces = 0, k, j, p, t, start, stop, lo, hi, size, nblocks
    cdef Py_ssize_t total_n = offs[nseg]
    cdef _sumsq_job job
    cdef Py_ssize_t* pstart
    cdef Py_ssize_t* plen
    cdef double* partial
    for k in range(nseg):
        start = offs[k]
        while start < offs[k + 1]:
            start = min(offs[k + 1], (start // SUMSQ_BLOCK + 1) * SUMSQ_BLOCK)
            npieces += 1
    pstart = <Py_ssize_t*>malloc((npieces + 1) * sizeof(Py_ssize_t))
    plen = <Py_ssize_t*>malloc((npieces + 1) * sizeof(Py_ssize_t))
    partial = <double*>malloc((npieces + 1) * sizeof(double))
    if pstart == NULL or plen == NULL or partial == NULL:
        free(pstart)
        free(plen)
        free(partial)
        return -1
    p = 0
    for k in range(nseg):
        start = offs[k]
        while start < offs[k + 1]:
            stop = min(offs[k + 1], (start // SUMSQ_BLOCK + 1) * SUMSQ_BLOCK)
            pstart[p] = start
            plen[p] = stop - start
            start = stop
            p += 1
    if nthreads <= 1 or total_n < STREAM_PARALLEL_MIN:
        for j in range(npieces):
            partial[j] = thf_sumsq(g + pstart[j], w + pstart[j] if w != NULL else NULL, l2,
                                  plen[j])
    else:
        job.g, job.w, job.l2 = g, w, l2
        job.pstart, job.plen, job.partial, job.npieces = pstart, plen, partial, npieces
        job.size = _pool_chunk(total_n, nthreads)
        job.n = total_n
        thf_pool_run(_sumsq_chunk, &job, <int>((total_n + job.size - 1) // job.size), nthreads)
    p = 0
    for k in range(nseg):
        out[k] = 0.0
        while p < npieces and pstart[p] < offs[k + 1]:
            out[k] += partial[p]
            p += 1
    free(pstart)
    free(plen)
    free(partial)
    return 0


cdef double sumsq_parallel(const float* g, const float* w, float l2, Py_ssize_t n,
                           int nthreads) noexcept nogil:
    """Sum of squares over fixed blocks of SUMSQ_BLOCK values, the block sums
    added in block order: the same total whatever the thread count (the Ray
    driver and its workers must agree on the clipping factor bit for bit).
    One segment of segment_sumsq_parallel (the same pieces, on the pool)."""
    cdef Py_ssize_t offs[2]
    cdef Py_ssize_t i, start
    cdef double total = 0.0
    offs[0] = 0
    offs[1] = n
    if segment_sumsq_parallel(g, w, l2, offs, 1, &total, nthreads) == 0:
        return total
    total = 0.0  # out of memory: one thread, same block order
    for i in range((n + SUMSQ_BLOCK - 1) // SUMSQ_BLOCK):
        start = i * SUMSQ_BLOCK
        total += thf_sumsq(g + start, w + start if w != NULL else NULL, l2,
                          min(SUMSQ_BLOCK, n - start))
    return total


cdef void sgemm(dim_t m, dim_t n, dim_t k, float alpha,
                const float* A, inc_t rsa, inc_t csa,
                const float* B, inc_t rsb, inc_t csb,
                float beta, float* C, inc_t rsc, inc_t csc) noexcept nogil:
    """C := alpha * A @ B + beta * C for strided float32 matrices (m x k, k x n), one thread."""
    thf_sgemm_tile(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc)


cdef void _sgemm_default(dim_t m, dim_t n, dim_t k, float alpha,
                         const float* A, inc_t rsa, inc_t csa,
                         const float* B, inc_t rsb, inc_t csb,
                         float beta, float* C, inc_t rsc, inc_t csc) noexcept nogil:
    """blis's basic gemm on its default context (when the expert interface is not there)."""
    blis_gemm(NO_TRANSPOSE, NO_TRANSPOSE, m, n, k, alpha,
              <float*>A, rsa, csa, <float*>B, rsb, csb, beta, C, rsc, csc)


cdef int _gemm_threads() noexcept nogil:
    """Threads for one gemm: set_num_threads's count, capped by OpenMP's limit
    so that threadpoolctl's ``threadpool_limits`` caps gemm like our loops."""
    return min(_num_threads, thf_omp_limit())


cdef inline bint _is_f32(arr):
    return getattr(arr, "dtype", None) == _F32 and isinstance(arr, numpy.ndarray)


def _blis_layout(arr):
    """Strides (in elements) blis accepts for the stored 2d array `arr`, or None.

    Row-major (column stride 1, row stride >= ncols) and column-major layouts
    pass as they are, size-1 dimensions get a canonical stride, anything else
    (negative, zero, unaligned or general strides) returns None: copy first.
    """
    cdef Py_ssize_t m = arr.shape[0], n = arr.shape[1]
    cdef Py_ssize_t sr = arr.strides[0], sc = arr.strides[1]
    if sr % 4 or sc % 4:
        return None
    cdef Py_ssize_t rs = sr // 4, cs = sc // 4
    if m == 1 and n == 1:
        return 1, 1
    if m == 1:
        if cs < 1:
            return None
        if cs == 1:
            return n, 1
        return 1, cs
    if n == 1:
        if rs < 1:
            return None
        if rs == 1:
            return 1, m
        return rs, 1
    if cs == 1 and rs >= n:
        return rs, cs
    if rs == 1 and cs >= m:
        return rs, cs
    return None


cdef bint _c_layout(const Py_buffer* v, inc_t* rs, inc_t* cs) noexcept:
    """_blis_layout on a buffer: the element strides blis takes, or False."""
    cdef Py_ssize_t m = v.shape[0], n = v.shape[1]
    cdef Py_ssize_t sr = v.strides[0], sc = v.strides[1]
    if sr % 4 or sc % 4:
        return False
    sr //= 4
    sc //= 4
    if m == 1 and n == 1:
        rs[0] = 1
        cs[0] = 1
    elif m == 1:
        if sc < 1:
            return False
        rs[0] = n if sc == 1 else 1
        cs[0] = sc
    elif n == 1:
        if sr < 1:
            return False
        rs[0] = sr
        cs[0] = m if sr == 1 else 1
    elif sc == 1 and sr >= n:
        rs[0] = sr
        cs[0] = sc
    elif sr == 1 and sc >= m:
        rs[0] = sr
        cs[0] = sc
    else:
        return False
    return True


cdef inline bint _f32_2d(const Py_buffer* v) noexcept:
    return v.ndim == 2 and v.itemsize == 4 and v.format != NULL and v.format[0] == b"f" \
        and v.format[1] == 0


cdef object _gemm_fast(object x, object y, object out, bint trans1, bint trans2, float alpha,
                       float beta):
    """The common case in C: float32 ndarrays with strides blis takes, shapes
    that fit, an `out` that is writable (or None). Returns the output, or None
    to let the general path check, copy and raise."""
    cdef Py_buffer bx, by, bo
    cdef bint have_x = False, have_y = False, have_o = False
    cdef Py_ssize_t m, k, n, k2
    cdef inc_t rsa, csa, rsb, csb, rsc, csc, t
    cdef int nthreads
    if type(x) is not numpy.ndarray or type(y) is not numpy.ndarray:
        return None
    if out is not None and type(out) is not numpy.ndarray:
        return None
    try:
        if PyObject_GetBuffer(x, &bx, PyBUF_STRIDES | PyBUF_FORMAT) < 0:
            return None
        have_x = True
        if PyObject_GetBuffer(y, &by, PyBUF_STRIDES | PyBUF_FORMAT) < 0:
            return None
        have_y = True
        if not (_f32_2d(&bx) and _f32_2d(&by)):
            return None
        m, k = (bx.shape[1], bx.shape[0]) if trans1 else (bx.shape[0], bx.shape[1])
        k2, n = (by.shape[1], by.shape[0]) if trans2 else (by.shape[0], by.shape[1])
        if k != k2 or m == 0 or n == 0 or k == 0:
            return None
        if not (_c_layout(&bx, &rsa, &csa) and _c_layout(&by, &rsb, &csb)):
            return None
        if trans1:
            rsa, csa = csa, rsa
        if trans2:
            rsb, csb = csb, rsb
        if out is None:
            if beta != 0.0:
                return None
            out = numpy.empty((m, n), dtype=_F32)
        try:
            PyObject_GetBuffer(out, &bo, PyBUF_STRIDES | PyBUF_FORMAT | PyBUF_WRITABLE)
        except BufferError:
            return None
        have_o = True
        if not _f32_2d(&bo) or bo.shape[0] != m or bo.shape[1] != n:
            return None
        if not _c_layout(&bo, &rsc, &csc):
            return None
        nthreads = _gemm_threads()
        if thf_pool_workers() < nthreads - 1:
            thf_pool_grow(nthreads - 1)  # needs the GIL
        with nogil:
            sgemm_parallel(m, n, k, alpha, <const float*>bx.buf, rsa, csa,
                           <const float*>by.buf, rsb, csb, beta, <float*>bo.buf, rsc, csc,
                           nthreads)
        return out
    finally:
        if have_x:
            PyBuffer_Release(&bx)
        if have_y:
            PyBuffer_Release(&by)
        if have_o:
            PyBuffer_Release(&bo)


# ------------------------------------------------------------ reused output memory
# A fresh array of a few megabytes comes from the OS (mmap) with its pages not
# yet mapped, and the kernel that first writes it takes a page fault per 4 KiB:
# measured in spaCy's nlp.pipe (Xeon VM), a 5000x288 gemm output took 1.7-3.7x
# the time of the same product into memory already touched. The Thinc backend
# therefore takes its large outputs from a small cache of blocks that arrays
# give back when the last of them (views included) is gone. Bounded: at most
# _CACHE_SLOTS blocks and _cache_limit bytes are kept (THINC_FAST_ARRAY_CACHE_MB,
# default 64; 0 turns it off); blocks below _CACHE_MIN_BYTES (1 MiB) are NumPy's own:
# smaller ones glibc keeps in its heap, and caching them slowed training (3-7%).
cdef enum:
    _CACHE_SLOTS = 32
cdef Py_ssize_t _CACHE_MIN_BYTES = 1024 * 1024
cdef char* _cache_ptr[_CACHE_SLOTS]
cdef Py_ssize_t _cache_cap[_CACHE_SLOTS]
cdef int _cache_count = 0
cdef Py_ssize_t _cache_bytes = 0
cdef Py_ssize_t _cache_limit = 64 * 1024 * 1024
cdef unsigned long long _cache_hits = 0, _cache_misses = 0
cdef char* _BYTE_FORMAT = b"B"


cdef void _cache_drop(int i) noexcept:
    """Forget slot i (keeping the others in order: oldest first)."""
    global _cache_count, _cache_bytes
    _cache_bytes -= _cache_cap[i]
    for j in range(i, _cache_count - 1):
        _cache_ptr[j] = _cache_ptr[j + 1]
        _cache_cap[j] = _cache_cap[j + 1]
    _cache_count -= 1


cdef char* _cache_take(Py_ssize_t nbytes, Py_ssize_t* capacity) noexcept:
    """A cached block of at least `nbytes` (at most twice that), else a new one."""
    global _cache_hits, _cache_misses
    cdef int best = -1
    cdef char* ptr
    for i in range(_cache_count):
        if nbytes <= _cache_cap[i] <= 2 * nbytes and (best < 0 or _cache_cap[i] < _cache_cap[best]):
            best = i
    if best >= 0:
        ptr = _cache_ptr[best]
        capacity[0] = _cache_cap[best]
        _cache_drop(best)
        _cache_hits += 1
        return ptr
    _cache_misses += 1
    capacity[0] = (nbytes + 4095) // 4096 * 4096
    return <char*>malloc(capacity[0])


cdef void _cache_give(char* ptr, Py_ssize_t capacity) noexcept:
    """Keep a block for reuse, dropping the oldest ones to stay in bounds."""
    global _cache_count, _cache_bytes
    if capacity > _cache_limit:
        free(ptr)
        return
    while _cache_count > 0 and (_cache_count >= _CACHE_SLOTS
                                or _cache_bytes + capacity > _cache_limit):
        free(_cache_ptr[0])
        _cache_drop(0)
    _cache_ptr[_cache_count] = ptr
    _cache_cap[_cache_count] = capacity
    _cache_count += 1
    _cache_bytes += capacity


cdef class _ReusedBlock:
    """Memory from the cache, exported as bytes; back to the cache when freed."""
    cdef char* ptr
    cdef Py_ssize_t capacity
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]

    def __getbuffer__(self, Py_buffer* view, int flags):
        view.buf = self.ptr
        view.len = self.shape[0]
        view.readonly = 0
        view.itemsize = 1
        if flags & PyBUF_FORMAT:
            view.format = _BYTE_FORMAT
        else:
            view.format = NULL
        view.ndim = 1
        view.shape = NULL
        view.strides = NULL
        if flags & PyBUF_ND:
            view.shape = self.shape
        if (flags & PyBUF_STRIDES) == PyBUF_STRIDES:
            view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL
        view.obj = self

    def __releasebuffer__(self, Py_buffer* view):
        pass

    def __dealloc__(self):
        if self.ptr != NULL:
            if _cache_limit > 0:
                _cache_give(self.ptr, self.capacity)
            else:
                free(self.ptr)
            self.ptr = NULL


def reused_empty(shape, dtype=_F32):
    """``numpy.empty(shape, dtype)``, C-ordered, whose memory (when large) comes
    from the reuse cache and returns to it once the array and its views are gone
    (see the comment above; ``array_cache_info()`` counts hits)."""
    dt = numpy.dtype(dtype)
    cdef Py_ssize_t count = 1
    shape = (int(shape),) if isinstance(shape, (int, numpy.integer)) else tuple(shape)
    for d in shape:
        count *= d
    cdef Py_ssize_t nbytes = count * dt.itemsize
    if nbytes < _CACHE_MIN_BYTES or _cache_limit <= 0:
        return numpy.empty(shape, dtype=dt)
    cdef _ReusedBlock block = _ReusedBlock.__new__(_ReusedBlock)
    block.ptr = _cache_take(nbytes, &block.capacity)
    if block.ptr == NULL:
        raise MemoryError(f"cannot allocate {nbytes} bytes for an array of shape {shape}")
    block.shape[0] = nbytes
    block.strides[0] = 1
    return numpy.frombuffer(block, dtype=dt, count=count).reshape(shape)


def array_cache_info():
    """The reuse cache: blocks and bytes held, the limit, hits and misses."""
    return {"blocks": _cache_count, "bytes": _cache_bytes, "limit": _cache_limit,
            "hits": _cache_hits, "misses": _cache_misses}


def set_array_cache(limit_mb):
    """Hold at most `limit_mb` MiB of freed output blocks for reuse (0: none)."""
    global _cache_limit
    if limit_mb is None or limit_mb < 0:
        raise ValueError(f"set_array_cache: limit_mb must be >= 0, got {limit_mb!r}")
    _cache_limit = <Py_ssize_t>(float(limit_mb) * 1024 * 1024)
    while _cache_count > 0 and _cache_bytes > _cache_limit:
        free(_cache_ptr[0])
        _cache_drop(0)


_env_cache_mb = os.environ.get("THINC_FAST_ARRAY_CACHE_MB", "").strip()
if _env_cache_mb:
    try:
        set_array_cache(float(_env_cache_mb))
    except ValueError:
        pass


class NumpyOps(Ops):
    """CPU backend: blis gemm and fused Cython kernels over float32 arrays."""

    name = "numpy"
    xp = numpy
    # how the kernels below allocate their outputs (the Thinc backend's instance
    # takes reused_empty)
    _empty = staticmethod(numpy.empty)

    def gemm(self, x, y, out=None, trans1=False, trans2=False, *, alpha=1.0, beta=0.0):
        """``out := alpha * op(x) @ op(y) + beta * out`` through blis (float32).

        ``op(a)`` is ``a.T`` when the matching flag is set; any positive row or
        column strides are used as they are, without a copy. Other dtypes use
        the reference implementation.
        """
        result = _gemm_fast(x, y, out, trans1, trans2, alpha, beta)
        if result is not None:
            return result
        if not (_is_f32(x) and _is_f32(y) and (out is None or _is_f32(out))):
            return Ops.gemm(self, x, y, out=out, trans1=trans1, trans2=trans2,
                            alpha=alpha, beta=beta)
        a_t, b_t, out = self._gemm_operands(x, y, out, trans1, trans2, beta)
        m, k = a_t.shape
        n = b_t.shape[1]
        if not out.flags.writeable:
            raise ValueError("gemm: `out` is read-only")
        if m == 0 or n == 0:
            return out
        if k == 0:
            if beta == 0.0:
                out.fill(0)
            else:
                out *= beta
            return out
        la = _blis_layout(x)
        if la is None:
            x = numpy.ascontiguousarray(x)
            la = _blis_layout(x)
        lb = _blis_layout(y)
        if lb is None:
            y = numpy.ascontiguousarray(y)
            lb = _blis_layout(y)
        target = out
        lc = _blis_layout(out)
        if lc is None:
            target = numpy.ascontiguousarray(out)
            lc = _blis_layout(target)
        rsa, csa = (la[1], la[0]) if trans1 else la
        rsb, csb = (lb[1], lb[0]) if trans2 else lb
        _gemm_call(m, n, k, alpha, x, rsa, csa, y, rsb, csb, beta, target, lc[0], lc[1])
        if target is not out:
            out[...] = target
        return out

    def bias_add(self, X, b, *, inplace=False):
        """``X + b`` with `b` broadcast over rows (fused, in one pass)."""
        if not (_is_f32(X) and _is_f32(b)) or X.ndim != 2 or not X.flags.c_contiguous:
            return Ops.bias_add(self, X, b, inplace=inplace)
        _check_bias(X, b)
        Y = X if inplace else X.copy()
        cdef float[:, ::1] y = Y
        cdef float[::1] bv = numpy.ascontiguousarray(b)
        if Y.size:
            with nogil:
                thf_bias_add(&y[0, 0], &bv[0], y.shape[0], y.shape[1], y.shape[1])
        return Y

    def bias_relu(self, X, b, *, inplace=False):
        """Fused ``max(X + b, 0)`` in one pass over memory."""
        if not (_is_f32(X) and _is_f32(b)) or X.ndim != 2 or not X.flags.c_contiguous:
            return Ops.bias_relu(self, X, b, inplace=inplace)
        _check_bias(X, b)
        Y = X if inplace else X.copy()
        cdef float[:, ::1] y = Y
        cdef float[::1] bv = numpy.ascontiguousarray(b)
        if Y.size:
            with nogil:
                thf_bias_relu(&y[0, 0], &bv[0], y.shape[0], y.shape[1], y.shape[1])
        return Y

    def backprop_relu(self, dY, Y, inplace=False):
        """``dX = dY * (Y > 0)`` in one pass."""
        if not (_is_f32(dY) and _is_f32(Y)):
            return Ops.backprop_relu(self, dY, Y, inplace=inplace)
        if dY.shape != Y.shape:
            raise ValueError(f"backprop_relu: dY has shape {dY.shape} but Y has {Y.shape}")
        dY_c = numpy.ascontiguousarray(dY)
        Y_c = numpy.ascontiguousarray(Y)
        dX = dY_c if (inplace and dY_c is dY) else numpy.empty_like(dY_c)
        cdef float[::1] dx = dX.reshape(-1)
        cdef const float[::1] dy = dY_c.reshape(-1)
        cdef const float[::1] yv = Y_c.reshape(-1)
        if dX.size:
            with nogil:
                thf_relu_backward(&dx[0], &dy[0], &yv[0], dx.shape[0])
        return dX

    def softmax(self, X, inplace=False, axis=-1, temperature=1.0):
        """Row-wise numerically stable softmax of a 2d float32 array (of ``X / temperature``)."""
        if not _is_f32(X) or X.ndim != 2 or axis not in (-1, 1) or not X.flags.c_contiguous:
            return Ops.softmax(self, X, inplace=inplace, axis=axis, temperature=temperature)
        if temperature != 1.0:
            X = X / temperature if not inplace else numpy.divide(X, temperature, out=X)
            inplace = True
        Y = X if inplace else numpy.empty_like(X)
        cdef const float[:, ::1] x = X
        cdef float[:, ::1] y = Y
        if X.size:
            with nogil:
                thf_softmax_rows(&y[0, 0], &x[0, 0], x.shape[0], x.shape[1],
                                x.shape[1], y.shape[1])
        return Y

    def inc_col_sums(self, X, out):
        """``out += X.sum(axis=0)`` in one pass over `X`."""
        if (not (_is_f32(X) and _is_f32(out)) or X.ndim != 2
                or X.strides[1] != 4 or not out.flags.c_contiguous):
            return Ops.inc_col_sums(self, X, out)
        if out.shape != (X.shape[1],):
            raise ValueError(f"inc_col_sums: cannot add column sums of {X.shape} into {out.shape}")
        cdef const float[:, :] x = X
        cdef float[::1] o = out
        if X.size:
            with nogil:
                thf_colsum_inc(&o[0], &x[0, 0], x.shape[0], x.shape[1], x.strides[0] // 4)
        return out

    def sum_of_squares(self, gradient, weights=None, l2=0.0):
        """``sum((gradient + l2 * weights) ** 2)``, one read-only pass, float64 total."""
        if not _is_f32(gradient) or not gradient.flags.c_contiguous or (
                weights is not None and l2 != 0.0 and
                (not _is_f32(weights) or not weights.flags.c_contiguous
                 or weights.shape != gradient.shape)):
            return Ops.sum_of_squares(self, gradient, weights, l2)
        cdef const float[::1] g = gradient.reshape(-1)
        cdef const float[::1] w
        cdef const float* wp = NULL
        cdef float l2f = l2
        cdef double total = 0.0
        cdef int nthreads = _num_threads
        if weights is not None and l2 != 0.0:
            w = weights.reshape(-1)
            if w.shape[0]:
                wp = &w[0]
        if g.shape[0]:
            _grow_pool(nthreads)
            with nogil:
                total = sumsq_parallel(&g[0], wp, l2f, g.shape[0], nthreads)
        return total

    def segment_sum_of_squares(self, gradient, weights=None, l2=0.0, segments=None):
        """Per-segment ``sum((gradient + l2 * weights) ** 2)`` over the 1d arrays,
        segment k being ``[segments[k], segments[k + 1])``: float64 totals, one
        read-only pass, the same for any thread count."""
        offsets = _check_segments(segments, gradient.shape[0] if gradient.ndim == 1 else -1)
        if not _is_f32(gradient) or gradient.ndim != 1 or not gradient.flags.c_contiguous or (
                weights is not None and l2 != 0.0 and
                (not _is_f32(weights) or not weights.flags.c_contiguous
                 or weights.shape != gradient.shape)):
            return Ops.segment_sum_of_squares(self, gradient, weights, l2, offsets)
        cdef Py_ssize_t nseg = offsets.shape[0] - 1
        out = numpy.zeros(nseg, dtype="float64")
        cdef const float[::1] g = gradient
        cdef const float[::1] w
        cdef const float* wp = NULL
        cdef const float* gp = NULL
        cdef const Py_ssize_t[::1] offs = offsets
        cdef double[::1] o = out
        cdef float l2f = l2
        cdef int nthreads = _num_threads, rc = 0
        if weights is not None and l2 != 0.0:
            w = weights
            if w.shape[0]:
                wp = &w[0]
        if g.shape[0] == 0 or nseg == 0:
            return out
        gp = &g[0]
        _grow_pool(nthreads)
        with nogil:
            rc = segment_sumsq_parallel(gp, wp, l2f, &offs[0], nseg, &o[0], nthreads)
        if rc != 0:
            raise MemoryError("segment_sum_of_squares: out of memory")
        return out

    def adam_step(self, weights, gradient, mom1, mom2, averages=None, *, lr_hat, beta1,
                  beta2, eps, grad_scale=1.0, l2_coupled=0.0, decay=0.0, avg_rate=0.0,
                  use_denominator=True, segments=None):
        """One fused Adam step over 1d float32 arrays, in place, in one pass.

        See :meth:`Ops.adam_step` for the formula and for `segments` (a
        per-segment `grad_scale`); `gradient` is zeroed.
        """
        _check_step_arrays(weights, gradient, mom1, mom2, averages)
        offsets, scales = _check_scales(segments, grad_scale, weights.shape[0])
        arrays = (weights, gradient, mom1, mom2) + ((averages,) if averages is not None else ())
        if not all(_is_f32(a) and a.ndim == 1 and a.flags.c_contiguous for a in arrays):
            return Ops.adam_step(self, weights, gradient, mom1, mom2, averages, lr_hat=lr_hat,
                                 beta1=beta1, beta2=beta2, eps=eps, grad_scale=grad_scale,
                                 l2_coupled=l2_coupled, decay=decay, avg_rate=avg_rate,
                                 use_denominator=use_denominator, segments=segments)
        cdef float[::1] w = weights, g = gradient, m = mom1, v = mom2, avg
        cdef float* avg_p = NULL
        cdef const Py_ssize_t[::1] offs
        cdef const float[::1] sc
        cdef const Py_ssize_t* offs_p = NULL
        cdef const float* sc_p = NULL
        cdef Py_ssize_t nseg = 0
        cdef int nthreads = _num_threads
        cdef thf_step s
        s.grad_scale = grad_scale if offsets is None else 1.0
        s.l2_coupled = l2_coupled
        s.lr_hat = lr_hat
        s.beta1 = beta1
        s.beta2 = beta2
        s.eps = eps
        s.decay = decay
        s.avg_rate = avg_rate
        s.use_denominator = bool(use_denominator)
        if w.shape[0] == 0:
            return
        if offsets is not None:
            offs = offsets
            sc = scales
            offs_p = &offs[0]
            sc_p = &sc[0]
            nseg = sc.shape[0]
        if averages is not None:
            avg = averages
            avg_p = &avg[0]
        _grow_pool(nthreads)
        with nogil:
            adam_parallel(&w[0], &g[0], &m[0], &v[0], avg_p, w.shape[0], &s, offs_p, sc_p,
                          nseg, nthreads)

    def sgd_step(self, weights, gradient, averages=None, *, learn_rate, grad_scale=1.0,
                 l2_coupled=0.0, decay=0.0, avg_rate=0.0, segments=None):
        """One fused SGD step over 1d float32 arrays; see :meth:`Ops.sgd_step`."""
        _check_step_arrays(weights, gradient, None, None, averages)
        offsets, scales = _check_scales(segments, grad_scale, weights.shape[0])
        arrays = (weights, gradient) + ((averages,) if averages is not None else ())
        if not all(_is_f32(a) and a.ndim == 1 and a.flags.c_contiguous for a in arrays):
            return Ops.sgd_step(self, weights, gradient, averages, learn_rate=learn_rate,
                                grad_scale=grad_scale, l2_coupled=l2_coupled, decay=decay,
                                avg_rate=avg_rate, segments=segments)
        cdef float[::1] w = weights, g = gradient, avg
        cdef float* avg_p = NULL
        cdef const Py_ssize_t[::1] offs
        cdef const float[::1] sc
        cdef const Py_ssize_t* offs_p = NULL
        cdef const float* sc_p = NULL
        cdef Py_ssize_t nseg = 0
        cdef int nthreads = _num_threads
        cdef thf_step s
        s.grad_scale = grad_scale if offsets is None else 1.0
        s.l2_coupled = l2_coupled
        s.lr_hat = learn_rate
        s.beta1 = s.beta2 = s.eps = 0.0
        s.use_denominator = 1
        s.decay = decay
        s.avg_rate = avg_rate
        if w.shape[0] == 0:
            return
        if offsets is not None:
            offs = offsets
            sc = scales
            offs_p = &offs[0]
            sc_p = &sc[0]
            nseg = sc.shape[0]
        if averages is not None:
            avg = averages
            avg_p = &avg[0]
        _grow_pool(nthreads)
        with nogil:
            sgd_parallel(&w[0], &g[0], avg_p, w.shape[0], &s, offs_p, sc_p, nseg, nthreads)

    # ------------------------------------- sequences, hashing, embeddings
    # Each method checks its arguments with the helpers of ops.py (the same
    # errors as the reference), then runs a loop of seq_loops.h on slices of
    # the work, one per thread. Arrays the loops do not cover (other dtypes,
    # CuPy arrays) take the reference implementation of Ops.
    def hash(self, ids, seed):
        """MurmurHash3 (x64, 128 bits) of each uint64 id: a (len(ids), 4) uint32
        array with Thinc's values; see :meth:`Ops.hash`."""
        keys = numpy.ascontiguousarray(_hash_ids(self, ids))
        cdef uint32_t s = _check_seed(seed)
        out = numpy.empty((keys.shape[0], 4), dtype=numpy.uint32)
        if keys.shape[0]:
            _hash_run(out, keys, s)
        return out

    def ngrams(self, n, keys):
        """One uint64 hash per window of `n` keys (Thinc's values); see :meth:`Ops.ngrams`."""
        k = numpy.ascontiguousarray(_hash_ids(self, keys))
        cdef int width = int(n)
        cdef Py_ssize_t nout = max(0, k.shape[0] - width + 1) if width >= 1 else 0
        out = numpy.empty((nout,), dtype=numpy.uint64)
        if nout:
            _ngrams_run(out, k, width)
        return out

    def seq2col(self, seq, nW, *, lengths=None):
        """Each row with its `nW` neighbours on either side, within its
        sequence; see :meth:`Ops.seq2col`. Any dtype (the rows are copied)."""
        if not isinstance(seq, numpy.ndarray) or seq.ndim != 2:
            return Ops.seq2col(self, seq, nW, lengths=lengths)
        nW = _check_window("seq2col", nW)
        seq = numpy.ascontiguousarray(seq)
        offsets = _lengths_offsets(lengths, seq.shape[0], 0, 1)
        if offsets is None:
            offsets = _seq2col_offsets("seq2col", self, lengths, seq.shape[0])
        cols = self._empty((seq.shape[0], (2 * nW + 1) * seq.shape[1]), dtype=seq.dtype)
        if cols.size:
            _seq2col_run(cols.reshape(-1).view(numpy.uint8), seq.reshape(-1).view(numpy.uint8),
                         offsets, nW, seq.shape[1] * seq.dtype.itemsize,
                         seq.shape[0], cols.shape[1])
        return cols

    def backprop_seq2col(self, dY, nW, *, lengths=None):
        """The gradient of :meth:`seq2col`; see :meth:`Ops.backprop_seq2col`."""
        if not _is_real(dY) or dY.ndim != 2:
            return Ops.backprop_seq2col(self, dY, nW, lengths=lengths)
        nW = _check_window("backprop_seq2col", nW)
        nF = 2 * nW + 1
        if dY.shape[1] % nF:
            raise ValueError(f"backprop_seq2col: expected a 2d array of {nF} blocks per row "
                             f"(nW={nW}), got shape {dY.shape}")
        dY = numpy.ascontiguousarray(dY)
        offsets = _lengths_offsets(lengths, dY.shape[0], 0, 1)
        if offsets is None:
            offsets = _seq2col_offsets("backprop_seq2col", self, lengths, dY.shape[0])
        dX = self._empty((dY.shape[0], dY.shape[1] // nF), dtype=dY.dtype)
        if dX.size:
            if dX.dtype == _F32:
                _bseq2col_run[float](dX, dY, offsets, nW)
            else:
                _bseq2col_run[double](dX, dY, offsets, nW)
        return dX

    def reduce_sum(self, X, lengths):
        """Per-sequence sums of the rows of `X`; see :meth:`Ops.reduce_sum`."""
        return self._reduce_sum_mean("reduce_sum", X, lengths, 0)

    def reduce_mean(self, X, lengths):
        """Per-sequence means of the rows of `X`; see :meth:`Ops.reduce_mean`."""
        return self._reduce_sum_mean("reduce_mean", X, lengths, 1)

    def _reduce_sum_mean(self, method, X, lengths, int mean):
        if not _is_real(X) or X.ndim != 2:
            return getattr(Ops, method)(self, X, lengths)
        offsets = _lengths_offsets(lengths, X.shape[0], 0, 0)
        if offsets is None:
            offsets = _reduce_offsets(method, self, X, lengths, min_length=0)
        out = numpy.empty((offsets.shape[0] - 1, X.shape[1]), dtype=X.dtype)
        if out.size:
            X = numpy.ascontiguousarray(X)
            if X.dtype == _F32:
                _reduce_sum_run[float](out, X, offsets, mean)
            else:
                _reduce_sum_run[double](out, X, offsets, mean)
        return out

    def reduce_max(self, X, lengths):
        """``(maxes, which)`` per sequence; see :meth:`Ops.reduce_max`."""
        if not _is_real(X) or X.ndim != 2:
            return Ops.reduce_max(self, X, lengths)
        offsets = _lengths_offsets(lengths, X.shape[0], 1, 0)
        if offsets is None:
            offsets = _reduce_offsets("reduce_max", self, X, lengths, min_length=1)
        out = numpy.empty((offsets.shape[0] - 1, X.shape[1]), dtype=X.dtype)
        which = numpy.zeros((offsets.shape[0] - 1, X.shape[1]), dtype=numpy.int32)
        if out.size:
            X = numpy.ascontiguousarray(X)
            if X.dtype == _F32:
                _reduce_max_run[float](out, which, X, offsets)
            else:
                _reduce_max_run[double](out, which, X, offsets)
        return out, which

    def backprop_reduce_sum(self, d_sums, lengths):
        """The gradient of :meth:`reduce_sum`; see :meth:`Ops.backprop_reduce_sum`."""
        return self._backprop_sum_mean("backprop_reduce_sum", d_sums, lengths, 0)

    def backprop_reduce_mean(self, d_means, lengths):
        """The gradient of :meth:`reduce_mean`; see :meth:`Ops.backprop_reduce_mean`."""
        return self._backprop_sum_mean("backprop_reduce_mean", d_means, lengths, 1)

    def _backprop_sum_mean(self, method, d, lengths, int mean):
        if not _is_real(d):
            return getattr(Ops, method)(self, d, lengths)
        offsets = _lengths_offsets(lengths, 0, 0, 2) if d.ndim == 2 else None
        if offsets is None or offsets.shape[0] - 1 != d.shape[0]:
            offsets = _offsets(_backprop_lengths(method, self, d, lengths, min_length=0))
        dX = numpy.empty((int(offsets[offsets.shape[0] - 1]), d.shape[1]), dtype=d.dtype)
        if dX.size:
            d = numpy.ascontiguousarray(d)
            if d.dtype == _F32:
                _breduce_sum_run[float](dX, d, offsets, mean)
            else:
                _breduce_sum_run[double](dX, d, offsets, mean)
        return dX

    def backprop_reduce_max(self, d_maxes, which, lengths):
        """The gradient of :meth:`reduce_max`; see :meth:`Ops.backprop_reduce_max`."""
        if not _is_real(d_maxes) or not isinstance(which, numpy.ndarray):
            return Ops.backprop_reduce_max(self, d_maxes, which, lengths)
        offsets = _lengths_offsets(lengths, 0, 1, 2) if d_maxes.ndim == 2 else None
        if offsets is None or offsets.shape[0] - 1 != d_maxes.shape[0]:
            offsets = _offsets(_backprop_lengths("backprop_reduce_max", self, d_maxes, lengths,
                                                 min_length=1))
        lens = numpy.diff(offsets)
        if which.shape != d_maxes.shape:
            raise ValueError(f"backprop_reduce_max: which has shape {which.shape}, d_maxes "
                             f"{d_maxes.shape}")
        if which.size and bool(((which < 0) | (which >= lens[:, None])).any()):
            raise IndexError("backprop_reduce_max: which holds a row outside its sequence")
        dX = numpy.empty((int(offsets[offsets.shape[0] - 1]), d_maxes.shape[1]),
                         dtype=d_maxes.dtype)
        if dX.size:
            d_maxes = numpy.ascontiguousarray(d_maxes)
            which = numpy.ascontiguousarray(which, dtype=numpy.int32)
            if d_maxes.dtype == _F32:
                _breduce_max_run[float](dX, d_maxes, which, offsets)
            else:
                _breduce_max_run[double](dX, d_maxes, which, offsets)
        return dX

    def gather_add(self, table, indices):
        """``out[i] = sum_j table[indices[i, j]]``; see :meth:`Ops.gather_add`."""
        if (not _is_real(table) or table.ndim != 2 or not table.flags.c_contiguous
                or not isinstance(indices, numpy.ndarray) or indices.ndim != 2
                or indices.dtype.kind not in "iu"):
            return Ops.gather_add(self, table, indices)
        idx = _index_array(indices)
        _check_index_run(idx.reshape(-1), table.shape[0], "gather_add")
        out = self._empty((idx.shape[0], table.shape[1]), dtype=table.dtype)
        if out.size:
            if idx.shape[1] == 0:
                out.fill(0)
            else:
                _gather_add_call(out, table, idx)
        return out

    def scatter_add(self, table, indices, values):
        """``table[indices] += values`` in place; see :meth:`Ops.scatter_add`."""
        cdef Py_ssize_t vdiv = 1
        if (not _is_real(table) or table.ndim != 2 or not table.flags.c_contiguous
                or not table.flags.writeable or not isinstance(indices, numpy.ndarray)
                or indices.ndim not in (1, 2) or indices.dtype.kind not in "iu"
                or not isinstance(values, numpy.ndarray) or values.dtype != table.dtype):
            return Ops.scatter_add(self, table, indices, values)
        if values.shape == indices.shape + (table.shape[1],):
            vdiv = 1
        elif indices.ndim == 2 and values.shape == (indices.shape[0], 1, table.shape[1]):
            vdiv = indices.shape[1]
        else:
            return Ops.scatter_add(self, table, indices, values)
        idx = _index_array(indices).reshape(-1)
        _check_index_run(idx, table.shape[0], "scatter_add")
        if idx.shape[0] and table.shape[1]:
            values = numpy.ascontiguousarray(values).reshape(-1, table.shape[1])
            _scatter_add_call(table, idx, values, vdiv)
        return table

    def maxout(self, X):
        """Max over the last axis: ``(best, which)``; see :meth:`Ops.maxout`."""
        if not _is_real(X) or X.ndim < 1 or X.shape[X.ndim - 1] == 0:
            return Ops.maxout(self, X)
        X = numpy.ascontiguousarray(X)
        best = self._empty(X.shape[:X.ndim - 1], dtype=X.dtype)
        which = self._empty(X.shape[:X.ndim - 1], dtype=numpy.int32)
        if best.size:
            if X.dtype == _F32:
                _maxout_run[float](best.reshape(-1), which.reshape(-1), X.reshape(-1),
                                   X.shape[X.ndim - 1])
            else:
                _maxout_run[double](best.reshape(-1), which.reshape(-1), X.reshape(-1),
                                    X.shape[X.ndim - 1])
        return best, which

    def backprop_maxout(self, dY, which, P):
        """Scatter `dY` back to the winning pieces; see :meth:`Ops.backprop_maxout`."""
        if not _is_real(dY) or not isinstance(which, numpy.ndarray):
            return Ops.backprop_maxout(self, dY, which, P)
        if which.shape != dY.shape:
            raise ValueError(f"backprop_maxout: which has shape {which.shape}, dY has {dY.shape}")
        cdef Py_ssize_t pieces = P
        if which.size and (int(which.min()) < 0 or int(which.max()) >= pieces):
            raise IndexError(f"backprop_maxout: which holds pieces outside [0, {P}): "
                             f"{int(which.min())}..{int(which.max())}")
        dX = self._empty(dY.shape + (pieces,), dtype=dY.dtype)
        if dX.size:
            dY = numpy.ascontiguousarray(dY)
            which = numpy.ascontiguousarray(which, dtype=numpy.int32)
            if dY.dtype == _F32:
                _bmaxout_run[float](dX.reshape(-1), dY.reshape(-1), which.reshape(-1), pieces)
            else:
                _bmaxout_run[double](dX.reshape(-1), dY.reshape(-1), which.reshape(-1), pieces)
        return dX

    # Activations: float32 C-contiguous arrays run the fused loops of
    # seq_loops.h (exp computed inline, so they vectorise); others the reference.
    def sigmoid(self, X, *, inplace=False):
        """``1 / (1 + exp(-X))``, X clipped to [-20, 20]; see :meth:`Ops.sigmoid`."""
        Y = _act_forward(X, inplace, THF_ACT_SIGMOID, 0.0, 0.0, 0.0, 0.0)
        return Ops.sigmoid(self, X, inplace=inplace) if Y is None else Y

    def backprop_sigmoid(self, dY, Y, *, inplace=False):
        """``dY * Y * (1 - Y)``; see :meth:`Ops.backprop_sigmoid`."""
        _check_same_shape("backprop_sigmoid", dY=dY, Y=Y)
        dX = _act_backward(dY, Y, None, inplace, THF_ACT_SIGMOID, 0.0, 0.0, 0.0)
        return Ops.backprop_sigmoid(self, dY, Y, inplace=inplace) if dX is None else dX

    def swish(self, X, inplace=False):
        """``X * sigmoid(X)``; see :meth:`Ops.swish`."""
        Y = _act_forward(X, inplace, THF_ACT_SWISH, 0.0, 0.0, 0.0, 0.0)
        return Ops.swish(self, X, inplace=inplace) if Y is None else Y

    def backprop_swish(self, dY, X, Y, inplace=False):
        """The gradient of :meth:`swish`; see :meth:`Ops.backprop_swish`."""
        _check_same_shape("backprop_swish", dY=dY, X=X, Y=Y)
        dX = _act_backward(dY, X, Y, inplace, THF_ACT_SWISH, 0.0, 0.0, 0.0)
        return Ops.backprop_swish(self, dY, X, Y, inplace=inplace) if dX is None else dX

    def gelu(self, X, inplace=False):
        """``X * Phi(X)``; see :meth:`Ops.gelu`."""
        Y = _act_forward(X, inplace, THF_ACT_GELU, 0.0, 0.0, 0.0, 0.0)
        return Ops.gelu(self, X, inplace=inplace) if Y is None else Y

    def backprop_gelu(self, dY, X, inplace=False):
        """The gradient of :meth:`gelu`; see :meth:`Ops.backprop_gelu`."""
        _check_same_shape("backprop_gelu", dY=dY, X=X)
        dX = _act_backward(dY, X, None, inplace, THF_ACT_GELU, 0.0, 0.0, 0.0)
        return Ops.backprop_gelu(self, dY, X, inplace=inplace) if dX is None else dX

    def gelu_approx(self, X, inplace=False):
        """The tanh approximation of GELU; see :meth:`Ops.gelu_approx`."""
        Y = _act_forward(X, inplace, THF_ACT_GELU_APPROX, 0.0, 0.0, 0.0, 0.0)
        return Ops.gelu_approx(self, X, inplace=inplace) if Y is None else Y

    def backprop_gelu_approx(self, dY, X, inplace=False):
        """The gradient of :meth:`gelu_approx`; see :meth:`Ops.backprop_gelu_approx`."""
        _check_same_shape("backprop_gelu_approx", dY=dY, X=X)
        dX = _act_backward(dY, X, None, inplace, THF_ACT_GELU_APPROX, 0.0, 0.0, 0.0)
        return Ops.backprop_gelu_approx(self, dY, X, inplace=inplace) if dX is None else dX

    def mish(self, X, threshold=20.0, inplace=False):
        """``X * tanh(softplus(X))``, X from `threshold` on; see :meth:`Ops.mish`."""
        Y = _act_forward(X, inplace, THF_ACT_MISH, threshold, 0.0, 0.0, 0.0)
        return Ops.mish(self, X, threshold, inplace=inplace) if Y is None else Y

    def backprop_mish(self, dY, X, threshold=20.0, inplace=False):
        """The gradient of :meth:`mish`; see :meth:`Ops.backprop_mish`."""
        _check_same_shape("backprop_mish", dY=dY, X=X)
        dX = _act_backward(dY, X, None, inplace, THF_ACT_MISH, threshold, 0.0, 0.0)
        return Ops.backprop_mish(self, dY, X, threshold, inplace=inplace) if dX is None else dX

    def dish(self, X, inplace=False):
        """``0.5 X (1 + X / sqrt(1 + X^2))``; see :meth:`Ops.dish`."""
        Y = _act_forward(X, inplace, THF_ACT_DISH, 0.0, 0.0, 0.0, 0.0)
        return Ops.dish(self, X, inplace=inplace) if Y is None else Y

    def backprop_dish(self, dY, X, inplace=False):
        """The gradient of :meth:`dish`; see :meth:`Ops.backprop_dish`."""
        _check_same_shape("backprop_dish", dY=dY, X=X)
        dX = _act_backward(dY, X, None, inplace, THF_ACT_DISH, 0.0, 0.0, 0.0)
        return Ops.backprop_dish(self, dY, X, inplace=inplace) if dX is None else dX

    def clipped_linear(self, X, slope=1.0, offset=0.0, min_val=0.0, max_val=1.0,
                       inplace=False):
        """``clip(X * slope + offset, min_val, max_val)``; see :meth:`Ops.clipped_linear`
        (relu_k, hard_sigmoid and hard_tanh go through it)."""
        Y = _act_forward(X, inplace, THF_ACT_CLIPPED_LINEAR, slope, offset, min_val, max_val)
        if Y is None:
            return Ops.clipped_linear(self, X, slope=slope, offset=offset, min_val=min_val,
                                      max_val=max_val, inplace=inplace)
        return Y

    def backprop_clipped_linear(self, dY, X, slope=1.0, offset=0.0, min_val=0.0,
                                max_val=1.0, inplace=False):
        """The gradient of :meth:`clipped_linear`; see :meth:`Ops.backprop_clipped_linear`."""
        _check_same_shape("backprop_clipped_linear", dY=dY, X=X)
        low = (min_val - offset) / slope
        high = (max_val - offset) / slope
        dX = _act_backward(dY, X, None, inplace, THF_ACT_CLIPPED_LINEAR, slope, low, high)
        if dX is None:
            return Ops.backprop_clipped_linear(self, dY, X, slope=slope, offset=offset,
                                               min_val=min_val, max_val=max_val,
                                               inplace=inplace)
        return dX

    def hard_swish(self, X, inplace=False):
        """``X * hard_sigmoid(X)``; see :meth:`Ops.hard_swish`."""
        Y = _act_forward(X, inplace, THF_ACT_HARD_SWISH, 0.0, 0.0, 0.0, 0.0)
        return Ops.hard_swish(self, X, inplace=inplace) if Y is None else Y

    def backprop_hard_swish(self, dY, X, inplace=False):
        """The gradient of :meth:`hard_swish`; see :meth:`Ops.backprop_hard_swish`."""
        _check_same_shape("backprop_hard_swish", dY=dY, X=X)
        dX = _act_backward(dY, X, None, inplace, THF_ACT_HARD_SWISH, 0.0, 0.0, 0.0)
        return Ops.backprop_hard_swish(self, dY, X, inplace=inplace) if dX is None else dX

    def hard_swish_mobilenet(self, X, inplace=False):
        """``X * relu6(X + 3) / 6``; see :meth:`Ops.hard_swish_mobilenet`."""
        Y = _act_forward(X, inplace, THF_ACT_HARD_SWISH_MOBILENET, 0.0, 0.0, 0.0, 0.0)
        return Ops.hard_swish_mobilenet(self, X, inplace=inplace) if Y is None else Y

    def backprop_hard_swish_mobilenet(self, dY, X, inplace=False):
        """The gradient of :meth:`hard_swish_mobilenet`; see
        :meth:`Ops.backprop_hard_swish_mobilenet`."""
        _check_same_shape("backprop_hard_swish_mobilenet", dY=dY, X=X)
        dX = _act_backward(dY, X, None, inplace, THF_ACT_HARD_SWISH_MOBILENET, 0.0, 0.0, 0.0)
        if dX is None:
            return Ops.backprop_hard_swish_mobilenet(self, dY, X, inplace=inplace)
        return dX


def _check_segments(segments, Py_ssize_t n):
    """`segments` as a C-contiguous intp array of boundaries 0 = s[0] <= ... <= s[-1] = n."""
    offsets = numpy.ascontiguousarray(segments, dtype=numpy.intp)
    if offsets.ndim != 1 or offsets.shape[0] < 1:
        raise ValueError(f"segments must be a 1d array of boundaries, got shape {offsets.shape}")
    cdef const Py_ssize_t[::1] o = offsets
    cdef Py_ssize_t k, last = o[o.shape[0] - 1]
    cdef bint rising = o[0] == 0 and last == n
    for k in range(1, o.shape[0]):
        rising = rising and o[k] >= o[k - 1]
    if not rising:
        raise ValueError(f"segments must rise from 0 to the array length {n}, got "
                         f"{o[0]}..{last}")
    return offsets


def _check_scales(segments, grad_scale, n):
    """(offsets, per-segment float32 scales), or (None, None) for one scalar scale."""
    if segments is None:
        if not numpy.isscalar(grad_scale):
            raise ValueError("grad_scale: an array of scales needs `segments`")
        return None, None
    offsets = _check_segments(segments, n)
    scales = numpy.ascontiguousarray(grad_scale, dtype=numpy.float32)
    if scales.shape != (offsets.shape[0] - 1,):
        raise ValueError(f"grad_scale: expected one scale per segment "
                         f"({offsets.shape[0] - 1}), got shape {scales.shape}")
    return offsets, scales


def stream_triad(a, b, c, scalar):
    """``a[:] = b + scalar * c`` over 1d float32 arrays, threaded like the
    optimizer kernels: the memory-bandwidth probe the benchmarks compare with."""
    cdef float[::1] av = a
    cdef const float[::1] bv = b, cv = c
    cdef float sv = scalar
    cdef Py_ssize_t n = av.shape[0], size, nblocks, i, start
    cdef int nthreads = _num_threads
    if bv.shape[0] != n or cv.shape[0] != n:
        raise ValueError("stream_triad: arrays differ in length")
    if n == 0:
        return
    size = _chunk(n, nthreads)
    nblocks = (n + size - 1) // size
    with nogil:
        for i in prange(nblocks, num_threads=nthreads, schedule="static"):
            start = i * size
            thf_triad(&av[start], &bv[start], &cv[start], sv, min(size, n - start))


def _gemm_call(dim_t m, dim_t n, dim_t k, float alpha,
               const float[:, :] a, inc_t rsa, inc_t csa,
               const float[:, :] b, inc_t rsb, inc_t csb,
               float beta, float[:, :] c, inc_t rsc, inc_t csc):
    cdef const float* pa = &a[0, 0]
    cdef const float* pb = &b[0, 0]
    cdef float* pc = &c[0, 0]
    cdef int nthreads = _gemm_threads()
    if thf_pool_workers() < nthreads - 1:
        thf_pool_grow(nthreads - 1)  # needs the GIL
    with nogil:
        sgemm_parallel(m, n, k, alpha, pa, rsa, csa, pb, rsb, csb, beta, pc, rsc, csc, nthreads)


cdef void _thinc_cblas_sgemm(bint transA, bint transB, int M, int N, int K, float alpha,
                             const float* A, int lda, const float* B, int ldb, float beta,
                             float* C, int ldc) noexcept nogil:
    """``C := alpha * op(A) @ op(B) + beta * C`` with the signature of Thinc's
    ``CBlas`` sgemm (row-major matrices with leading dimensions; ``op(A)`` is
    M x K, ``op(B)`` K x N, C M x N), on this module's gemm: the per-shape blis
    context and the split over the pool's threads. spaCy's parser and NER call
    it from nogil loops; only workers started beforehand (by
    :func:`thinc_cblas_sgemm_address`) help, so it never needs the GIL."""
    if M <= 0 or N <= 0:
        return
    cdef inc_t rsa = 1 if transA else lda
    cdef inc_t csa = lda if transA else 1
    cdef inc_t rsb = 1 if transB else ldb
    cdef inc_t csb = ldb if transB else 1
    cdef int nthreads = min(_gemm_threads(), thf_pool_workers() + 1)
    sgemm_parallel(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, 1, nthreads)


def thinc_cblas_sgemm_address():
    """The address of a C function with Thinc's ``CBlas`` sgemm signature that
    runs this module's gemm (for :mod:`thinc_fast.backends.thinc_backend`,
    which installs it in the ``CBlas`` objects it hands to Thinc and spaCy).
    Starts the pool's workers first, since the function runs without the GIL."""
    cdef int nthreads = _gemm_threads()
    if thf_pool_workers() < nthreads - 1:
        thf_pool_grow(nthreads - 1)
    return <size_t>&_thinc_cblas_sgemm


def fma_peak(threads=None, *, seconds=0.05, repeats=3):
    """The CPU's measured float32 FMA peak in GFLOP/s: independent fused
    multiply-add chains at the widest vector width the CPU has (AVX-512 zmm,
    else AVX2 ymm), on `threads` threads at once (default: the kernels' thread
    count; 1 for one core), each running about `seconds`; the best of `repeats`.
    Returns ``{"gflops", "threads", "width", "isa"}``; None on a CPU without
    AVX2/FMA or off x86-64 (nothing to measure it with here)."""
    cdef thf_peak_job job
    cdef float sink = 0.0
    cdef int n = _num_threads if threads is None else int(threads)
    flags = _blis_arch.cpu_flags()
    if not THF_PEAK_X86:
        return None
    if {"avx512f"} <= flags:
        job.width, isa = 16, "AVX-512 (zmm)"
    elif {"avx2", "fma"} <= flags:
        job.width, isa = 8, "AVX2 (ymm)"
    else:
        return None
    if n < 1:
        raise ValueError(f"fma_peak: threads must be >= 1, got {n}")
    job.iters = 1 << 14
    while True:  # calibrate on one thread
        start = time.perf_counter()
        with nogil:
            if job.width == 16:
                thf_peak_zmm(job.iters, &sink)
            else:
                thf_peak_ymm(job.iters, &sink)
        took = time.perf_counter() - start
        if took > seconds / 8 or job.iters > (1 << 40):
            break
        job.iters *= 4
    job.iters = max(1, <long>(job.iters * seconds / max(took, 1e-9)))
    if n > 1:
        _grow_pool(n)
    best = 0.0
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        with nogil:
            if n > 1:
                thf_pool_run(thf_peak_chunk, &job, n, n)
            else:
                thf_peak_chunk(&job, 0)
        took = time.perf_counter() - start
        best = max(best, 2.0 * job.width * 12 * job.iters * n / took / 1e9)
    return {"gflops": best, "threads": n, "width": job.width, "isa": isa}


class ReusingNumpyOps(NumpyOps):
    """NumpyOps whose large outputs come from the reuse cache (:func:`reused_empty`):
    for callers that make many short-lived large outputs, as the Thinc backend."""

    _empty = staticmethod(reused_empty)


# ------------------------------------------------------------ gemm set-up
_GEMM_MODES = {"shape": 0, "large": 1, "thin": 2, "default": 3}


def _setup_gemm():
    """Load blis's expert interface and the contexts ``_blis_arch`` chose."""
    cdef size_t fns[6]
    plan = _blis_arch.gemm_plan()
    _blis_arch.after_blis_init()  # blis initialised when blis.cy was imported
    thf_blis.plain = _sgemm_default
    addresses = _blis_arch.expert_functions()
    rc = -1
    if addresses is not None:
        for i, address in enumerate(addresses):
            fns[i] = address or 0
        inner = _blis_arch.blis_inner_version()
        rc = -3
        if inner in _blis_arch.EXPERT_BLIS_VERSIONS:
            rc = thf_blis_attach(fns, inner.encode())
    status = {"expert": rc == 0, "load_code": rc, "large": None, "thin": None}
    if rc == 0:
        large_id, thin_id = plan.get("large_id"), plan.get("thin_id")
        if large_id is not None:
            thf_blis.large = thf_blis_context(large_id)
            if thf_blis.large != NULL:
                status["large"] = plan.get("large")
        if thf_blis.large == NULL:  # blis's own active configuration
            status["large"] = _blis_arch.active_arch()
        if thin_id is not None:
            thf_blis.thin = thf_blis_context(thin_id)
            if thf_blis.thin != NULL:
                status["thin"] = plan.get("thin")
        thf_blis.thin_rows = plan["thin_rows"]
        thf_blis.thin_cols = plan["thin_cols"]
        thf_blis.thin_k = plan["thin_k"]
        thf_blis.mid_rows = plan["mid_rows"]
        thf_blis.mid_cols = plan["mid_cols"]
        thf_blis.thin_flops = plan["thin_flops"]
    else:
        status["large"] = _blis_arch.active_arch()
    _blis_arch.record_gemm_setup(status)


def gemm_config():
    """How gemm runs now: the contexts per shape, the thresholds, the split,
    and the pool's counters (jobs split over threads, their tiles, the tiles
    the workers took: a low share means the other cores were busy)."""
    cdef unsigned long long counters[5]
    thf_pool_counters(counters)
    return {
        "pool_jobs": counters[0],
        "pool_tiles": counters[1],
        "pool_tiles_by_workers": counters[2],
        "pool_moves": counters[3],
        "pool_hog_signs": counters[4],
        "expert": thf_blis.sgemm_ex != NULL,
        "large": thf_blis.large != NULL,
        "thin": thf_blis.thin != NULL,
        "thin_rows": thf_blis.thin_rows,
        "thin_cols": thf_blis.thin_cols,
        "thin_k": thf_blis.thin_k,
        "mid_rows": thf_blis.mid_rows,
        "mid_cols": thf_blis.mid_cols,
        "thin_flops": thf_blis.thin_flops,
        "mode": {v: k for k, v in _GEMM_MODES.items()}[thf_blis.force],
        "threads": _gemm_threads(),
        "pool_threads_supported": bool(thf_pool_threads_supported()),
        "pool_workers": thf_pool_workers(),
        "spin_us": thf_pool_spin_ns / 1000.0,
        "spin_max_us": thf_pool_spin_max_ns / 1000.0,
        "pool_gap_us": thf_pool_gap_ns / 1000.0,
        "pool_spin_now_us": thf_pool_spin_budget() / 1000.0,
        "min_flops": thf_split.min_flops,
        "chunk_flops": thf_split.chunk_flops,
        "chunks_per_thread": thf_split.chunks_per_thread,
        "align": thf_split.align,
    }


def _spin_budget_us(double spin_us, double spin_max_us, double gap_us):
    """The pool's rule: how long an idle worker polls (us) for these settings and
    a usual gap of `gap_us` between jobs (tests)."""
    return thf_pool_budget_for(<int64_t>(spin_us * 1000), <int64_t>(spin_max_us * 1000),
                              <int64_t>(gap_us * 1000)) / 1000.0


def _gemm_plan(dim_t m, dim_t n, dim_t k, int nthreads, per_thread=None):
    """(tiles down, tiles across, tile height, tile width) for an m x n x k
    product; per_thread: tiles per thread at most (default: chunks_per_thread,
    as when the workers sleep)."""
    cdef thf_gemm_job j
    j.m = m
    j.n = n
    j.k = k
    thf_gemm_plan(&j, nthreads, thf_split.chunks_per_thread if per_thread is None else per_thread)
    return j.pm, j.pn, j.mt, j.nt


def _is_thin(dim_t m, dim_t n, dim_t k):
    """Whether an m x n x k product with a row-major C runs on the thin
    context under the current rules (tests)."""
    return bool(thf_blis_is_thin(m, n, k, 1))


def _hog_seen(jobs):
    """The pool's rule for signs of a CPU hog, over a run of jobs given as
    (job's length in us, caller's wait for workers in us, workers polling at
    publish, chunks the workers did): whether each job sets the contended
    state (tests)."""
    cdef int missed = 0
    return [bool(thf_pool_hog_seen(<int64_t>(t * 1000), <int64_t>(w * 1000), polling, chunks,
                                  &missed))
            for t, w, polling, chunks in jobs]


def set_gemm_options(*, mode=None, thin_rows=None, thin_cols=None, thin_k=None, mid_rows=None,
                     mid_cols=None, thin_flops=None, spin_us=None,
                     spin_max_us=None, min_flops=None, chunk_flops=None, chunks_per_thread=None, align=None):
    """Tune gemm (for tests and measurements; the defaults are the measured choice).

    mode: "shape" (per product: thin ones on the thin context), "large" or
    "thin" (every product on that context), "default" (blis's basic gemm on
    its process-wide context). spin_us: how long an idle worker polls for the
    next job before it sleeps; spin_max_us: how long it may poll when jobs come
    a little apart, as in spaCy's loop (twice the usual gap, up to this; 0 or
    at most spin_us: never longer than spin_us). Returns the previous settings."""
    before = gemm_config()
    if mode is not None:
        if mode not in _GEMM_MODES:
            raise ValueError(f"set_gemm_options: mode must be one of {sorted(_GEMM_MODES)}, got {mode!r}")
        thf_blis.force = _GEMM_MODES[mode]
    if thin_rows is not None:
        thf_blis.thin_rows = thin_rows
    if thin_cols is not None:
        thf_blis.thin_cols = thin_cols
    if thin_k is not None:
        thf_blis.thin_k = thin_k
    if mid_rows is not None:
        thf_blis.mid_rows = mid_rows
    if mid_cols is not None:
        thf_blis.mid_cols = mid_cols
    if thin_flops is not None:
        if thin_flops < 0:
            raise ValueError("set_gemm_options: thin_flops must be >= 0")
        thf_blis.thin_flops = thin_flops
    if spin_us is not None:
        if spin_us < 0:
            raise ValueError("set_gemm_options: spin_us must be >= 0")
        thf_pool_set_spin_ns(<long>(spin_us * 1000))
    if spin_max_us is not None:
        if spin_max_us < 0:
            raise ValueError("set_gemm_options: spin_max_us must be >= 0")
        thf_pool_set_spin_max_ns(<long>(spin_max_us * 1000))
    if min_flops is not None:
        thf_split.min_flops = min_flops
    if chunk_flops is not None:
        thf_split.chunk_flops = chunk_flops
    if chunks_per_thread is not None:
        if chunks_per_thread < 1:
            raise ValueError("set_gemm_options: chunks_per_thread must be >= 1")
        thf_split.chunks_per_thread = chunks_per_thread
    if align is not None:
        if align < 1:
            raise ValueError("set_gemm_options: align must be >= 1")
        thf_split.align = align
    return before


_setup_gemm()
set_num_threads(None)


# --------------------------------------------------------------------------
# Sequence, hashing, embedding and activation kernels of NumpyOps:
# one runner per operation fills a thf_seq_job (seq_loops.h) whose chunks
# (rows, sequences balanced by rows, values or table rows) run on the calling
# thread and the gemm's worker pool (worker_pool.h): a late worker never stalls
# the caller, unlike an OpenMP region's closing barrier.

ctypedef fused seq_real:
    float
    double

ctypedef fused seq_index:
    int32_t
    uint32_t
    int64_t

_F64 = numpy.dtype("float64")
_I32 = numpy.dtype("int32")
_U32 = numpy.dtype("uint32")
_I64 = numpy.dtype("int64")
_U64 = numpy.dtype("uint64")


cdef inline bint _is_real(arr):
    """A float32 or float64 NumPy array in native byte order."""
    return isinstance(arr, numpy.ndarray) and (arr.dtype == _F32 or arr.dtype == _F64)


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
    if _num_threads <= 1 or work < _seq_min_work or items < 2:
        return 1
    return <int>min(<Py_ssize_t>_num_threads, items)


cdef inline int _seq_chunks(int parts, Py_ssize_t items) noexcept nogil:
    """Chunks for `parts` threads: four each, so that the caller can take over
    the share of a worker that starts late (at most one per item)."""
    cdef Py_ssize_t chunks = 4 * parts if parts > 1 else 1
    return <int>max(1, min(chunks, items, 4095))


cdef void _run_job(thf_seq_job* job, int parts) noexcept:
    """Run `job` (its nparts chunks) on `parts` threads. Called with the GIL:
    the pool's workers are started here when missing."""
    if parts > 1 and thf_pool_workers() < parts - 1:
        thf_pool_grow(parts - 1)
    with nogil:
        if parts <= 1 or job.nparts <= 1:
            job.range(job, 0, job.n)
        else:
            thf_pool_run(thf_seq_chunk, job, job.nparts, parts)


cdef void _job_init(thf_seq_job* job, Py_ssize_t n) noexcept:
    memset(job, 0, sizeof(thf_seq_job))
    job.n = n
    job.nparts = 1
    job.align = 1


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


def _lengths_offsets(lengths, Py_ssize_t n_rows, int min_length, int mode):
    """The int64 offsets [0, l0, l0 + l1, ...] of `lengths` when it is a 1d
    C-contiguous int32/int64 NumPy array whose values are all >= min_length
    and add up to at most n_rows (mode 0), exactly n_rows (mode 1) or anything
    (mode 2); else None, and the caller runs the reference's checks (which
    raise its errors). One pass in C instead of a few NumPy calls."""
    if (not isinstance(lengths, numpy.ndarray) or lengths.ndim != 1
            or not lengths.flags.c_contiguous):
        return None
    if lengths.dtype == _I32:
        return _offsets_of[int32_t](lengths, n_rows, min_length, mode)
    if lengths.dtype == _I64:
        return _offsets_of[int64_t](lengths, n_rows, min_length, mode)
    return None


cdef object _offsets_of(const seq_index[::1] lens, Py_ssize_t n_rows, int min_length, int mode):
    cdef Py_ssize_t i, n = lens.shape[0]
    cdef int64_t acc = 0, v
    out = numpy.empty(n + 1, dtype=numpy.int64)
    cdef int64_t[::1] o = out
    o[0] = 0
    for i in range(n):
        v = <int64_t>lens[i]
        if v < min_length:
            return None
        acc += v
        o[i + 1] = acc
    if (mode == 0 and acc > n_rows) or (mode == 1 and acc != n_rows):
        return None
    return out


def _index_array(indices):
    """`indices` as a C-contiguous int32, uint32 or int64 array; uint64 is
    viewed as int64 (values from 2**63 on turn negative and fail the check)."""
    dt = indices.dtype
    if dt == _I32 or dt == _U32 or dt == _I64:
        return numpy.ascontiguousarray(indices)
    if dt == _U64:
        return numpy.ascontiguousarray(indices).view(numpy.int64)
    return numpy.ascontiguousarray(indices, dtype=numpy.int64)


def _check_index_run(idx, Py_ssize_t nrows, method):
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
    cdef thf_seq_job job
    cdef Py_ssize_t n = ids.shape[0]
    cdef int parts = _seq_parts(4 * n, n)
    _job_init(&job, n)
    job.range = thf_job_hash
    job.nparts = _seq_chunks(parts, n)
    job.dst = &out[0, 0]
    job.src = &ids[0]
    job.seed = seed
    _run_job(&job, parts)


cdef void _ngrams_run(uint64_t[::1] out, const uint64_t[::1] keys, int width) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t n = out.shape[0]
    cdef int parts = _seq_parts(n * width, n)
    _job_init(&job, n)
    job.range = thf_job_ngrams
    job.nparts = _seq_chunks(parts, n)
    job.dst = &out[0]
    job.src = &keys[0]
    job.flag = width
    _run_job(&job, parts)


cdef void _seq2col_run(unsigned char[::1] out, const unsigned char[::1] X,
                       const int64_t[::1] offs, Py_ssize_t nW, Py_ssize_t row_bytes,
                       Py_ssize_t nrows, Py_ssize_t ncols) noexcept:
    cdef thf_seq_job job
    cdef int parts = _seq_parts(nrows * ncols, nrows)
    _job_init(&job, nrows)
    job.range = thf_job_seq2col
    job.nparts = _seq_chunks(parts, nrows)
    job.dst = &out[0]
    job.src = &X[0]
    job.offs = &offs[0]
    job.nseq = offs.shape[0] - 1
    job.s0 = nW
    job.s1 = row_bytes
    _run_job(&job, parts)


cdef void _bseq2col_run(seq_real[:, ::1] dX, const seq_real[:, ::1] dY, const int64_t[::1] offs,
                        Py_ssize_t nW) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t nrows = dX.shape[0]
    cdef int parts = _seq_parts(dY.shape[0] * dY.shape[1], nrows)
    _job_init(&job, nrows)
    job.range = thf_job_bseq2col_f if seq_real is float else thf_job_bseq2col_d
    job.nparts = _seq_chunks(parts, nrows)
    job.dst = &dX[0, 0]
    job.src = &dY[0, 0]
    job.offs = &offs[0]
    job.nseq = offs.shape[0] - 1
    job.s0 = nW
    job.s1 = dX.shape[1]
    _run_job(&job, parts)


cdef void _reduce_sum_run(seq_real[:, ::1] out, const seq_real[:, ::1] X,
                          const int64_t[::1] offs, int mean) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t nseq = out.shape[0]
    cdef int parts = _seq_parts(offs[nseq] * out.shape[1], nseq)
    _job_init(&job, nseq)
    job.range = thf_job_reduce_sum_f if seq_real is float else thf_job_reduce_sum_d
    job.nparts = _seq_chunks(parts, nseq)
    cdef const int64_t[::1] kb
    if job.nparts > 1:
        kb = _seq_bounds(offs, job.nparts)
        job.bounds = &kb[0]
    job.dst = &out[0, 0]
    job.src = &X[0, 0] if X.shape[0] else NULL
    job.offs = &offs[0]
    job.s1 = out.shape[1]
    job.flag = mean
    _run_job(&job, parts)


cdef void _reduce_max_run(seq_real[:, ::1] out, int32_t[:, ::1] which, const seq_real[:, ::1] X,
                          const int64_t[::1] offs) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t nseq = out.shape[0]
    cdef int parts = _seq_parts(offs[nseq] * out.shape[1], nseq)
    _job_init(&job, nseq)
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
    _run_job(&job, parts)


cdef void _breduce_sum_run(seq_real[:, ::1] dX, const seq_real[:, ::1] d, const int64_t[::1] offs,
                           int mean) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t nrows = dX.shape[0]
    cdef int parts = _seq_parts(nrows * dX.shape[1], nrows)
    _job_init(&job, nrows)
    job.range = thf_job_breduce_sum_f if seq_real is float else thf_job_breduce_sum_d
    job.nparts = _seq_chunks(parts, nrows)
    job.dst = &dX[0, 0]
    job.src = &d[0, 0]
    job.offs = &offs[0]
    job.nseq = offs.shape[0] - 1
    job.s1 = dX.shape[1]
    job.flag = mean
    _run_job(&job, parts)


cdef void _breduce_max_run(seq_real[:, ::1] dX, const seq_real[:, ::1] d,
                           const int32_t[:, ::1] which, const int64_t[::1] offs) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t nseq = d.shape[0]
    cdef int parts = _seq_parts(dX.shape[0] * dX.shape[1], nseq)
    _job_init(&job, nseq)
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
    _run_job(&job, parts)


def _gather_add_call(out, table, idx):
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
    cdef thf_seq_job job
    cdef Py_ssize_t nrows = out.shape[0]
    cdef int parts = _seq_parts(nrows * idx.shape[1] * out.shape[1], nrows)
    _job_init(&job, nrows)
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
    _run_job(&job, parts)


def _scatter_add_call(table, idx, values, Py_ssize_t vdiv):
    if idx.dtype == _I32:
        if table.dtype == _F32:
            _scatter_add_run[float, int32_t](table, idx, values, vdiv)
        else:
            _scatter_add_run[double, int32_t](table, idx, values, vdiv)
    elif idx.dtype == _U32:
        if table.dtype == _F32:
            _scatter_add_run[float, uint32_t](table, idx, values, vdiv)
        else:
            _scatter_add_run[double, uint32_t](table, idx, values, vdiv)
    else:
        if table.dtype == _F32:
            _scatter_add_run[float, int64_t](table, idx, values, vdiv)
        else:
            _scatter_add_run[double, int64_t](table, idx, values, vdiv)


cdef void _scatter_add_run(seq_real[:, ::1] table, const seq_index[::1] idx,
                           const seq_real[:, ::1] values, Py_ssize_t vdiv) noexcept:
    """Threads split the table's rows: no two write the same row, and each
    row's additions happen in the order of the indices (any thread count gives
    the same table). Each part reads all the indices, so one part per thread
    (two per thread took 4-25% longer on 2 cores)."""
    cdef thf_seq_job job
    cdef Py_ssize_t nrows = table.shape[0]
    cdef int parts = _seq_parts(idx.shape[0] * table.shape[1], nrows)
    _job_init(&job, nrows)
    if seq_real is float:
        if seq_index is int32_t:
            job.range = thf_job_scatter_add_f_i32
        elif seq_index is uint32_t:
            job.range = thf_job_scatter_add_f_u32
        else:
            job.range = thf_job_scatter_add_f_i64
    else:
        if seq_index is int32_t:
            job.range = thf_job_scatter_add_d_i32
        elif seq_index is uint32_t:
            job.range = thf_job_scatter_add_d_u32
        else:
            job.range = thf_job_scatter_add_d_i64
    job.nparts = parts  # one each: every part reads all the indices
    job.dst = &table[0, 0]
    job.src = &values[0, 0]
    job.src2 = &idx[0]
    job.s0 = vdiv
    job.s1 = table.shape[1]
    job.s2 = idx.shape[0]
    _run_job(&job, parts)


cdef void _maxout_run(seq_real[::1] best, int32_t[::1] which, const seq_real[::1] X,
                      Py_ssize_t P) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t n = best.shape[0]
    cdef int parts = _seq_parts(n * P, n)
    _job_init(&job, n)
    job.range = thf_job_maxout_f if seq_real is float else thf_job_maxout_d
    job.nparts = _seq_chunks(parts, n)
    job.dst = &best[0]
    job.dst2 = &which[0]
    job.src = &X[0]
    job.s0 = P
    _run_job(&job, parts)


cdef void _bmaxout_run(seq_real[::1] dX, const seq_real[::1] dY, const int32_t[::1] which,
                       Py_ssize_t P) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t n = dY.shape[0]
    cdef int parts = _seq_parts(n * P, n)
    _job_init(&job, n)
    job.range = thf_job_bmaxout_f if seq_real is float else thf_job_bmaxout_d
    job.nparts = _seq_chunks(parts, n)
    job.dst = &dX[0]
    job.src = &dY[0]
    job.src2 = &which[0]
    job.s0 = P
    _run_job(&job, parts)


def _act_forward(X, inplace, int kind, double p0, double p1, double p2, double p3):
    """``f(X)`` for a float32 C-contiguous NumPy array (written into X with
    `inplace`); None for anything else (the caller then uses the reference)."""
    if not (isinstance(X, numpy.ndarray) and X.dtype == _F32 and X.flags.c_contiguous):
        return None
    if inplace and not X.flags.writeable:
        return None
    Y = X if inplace else numpy.empty_like(X)
    if X.size:
        _act_forward_run(Y.reshape(-1), X.reshape(-1), kind, p0, p1, p2, p3)
    return Y


cdef void _act_forward_run(float[::1] Y, const float[::1] X, int kind, float p0, float p1,
                           float p2, float p3) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t n = X.shape[0]
    cdef int parts = _seq_parts(8 * n, n // 64)
    _job_init(&job, n)
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
    _run_job(&job, parts)


def _act_backward(dY, X, Y, inplace, int kind, double p0, double p1, double p2):
    """``dY * f'(.)`` for float32 C-contiguous NumPy arrays (written into dY
    with `inplace`); None for anything else."""
    for arr in (dY, X, Y):
        if arr is not None and not (isinstance(arr, numpy.ndarray) and arr.dtype == _F32
                                    and arr.flags.c_contiguous):
            return None
    if inplace and not dY.flags.writeable:
        return None
    dX = dY if inplace else numpy.empty_like(dY)
    if dY.size:
        _act_backward_run(dX.reshape(-1), dY.reshape(-1), X.reshape(-1),
                          (X if Y is None else Y).reshape(-1), kind, p0, p1, p2)
    return dX


cdef void _act_backward_run(float[::1] dX, const float[::1] dY, const float[::1] X,
                            const float[::1] Y, int kind, float p0, float p1,
                            float p2) noexcept:
    cdef thf_seq_job job
    cdef Py_ssize_t n = dY.shape[0]
    cdef int parts = _seq_parts(8 * n, n // 64)
    _job_init(&job, n)
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
    _run_job(&job, parts)

