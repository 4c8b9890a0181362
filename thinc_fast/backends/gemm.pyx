# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, embedsignature=True
"""The gemm engine of the CPU backend: the thread count, the worker pool, the
blis driver and the reused-output cache.

gemm goes through blis (any strides, transposes folded into the strides,
``alpha``/``beta`` so gradients accumulate in place): with blis's expert
interface each product, or each thread's tile of it, runs on the kernel
configuration that serves its shape (``_blis_arch`` decides which), split over
the cores by a small worker pool (``src/include/worker_pool.h``). This module
is the only one that includes worker_pool.h, blis_gemm.h and adapt_split.h
(their state is per module): the other kernel modules run their loops on the same pool through
:func:`run_job` (``gemm.pxd``), each loop a ``thf_job`` of
``src/include/pool_job.h``.
"""
import os

import numpy

cimport numpy as cnp

from libc.stdlib cimport free, malloc
from cpython.number cimport PyIndex_Check
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.string cimport memset
from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND, PyBUF_STRIDES
from libc.stdint cimport int64_t, uint64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, nanosleep, timespec
from blis.cy cimport gemm as blis_gemm, NO_TRANSPOSE

from .arrays cimport ALIGN_BYTES, REUSE_MIN_BYTES, dim, empty_aligned, f32_data, f32_native, writable
from .loops cimport thf_job, thf_job_chunk

from . import _blis_arch
from ..errors import warn_at_caller

cdef extern from "blis_gemm.h" nogil:
    ctypedef struct thf_cntx_t:
        pass
    ctypedef void (*thf_sgemm_plain_ft)(dim_t m, dim_t n, dim_t k, float alpha,
                                       const float* A, inc_t rsa, inc_t csa,
                                       const float* B, inc_t rsb, inc_t csb,
                                       float beta, float* C, inc_t rsc, inc_t csc) noexcept nogil
    ctypedef struct thf_blis_state "struct thf_blis_state_s":
        void* sgemm_ex
        thf_sgemm_plain_ft plain
        thf_cntx_t* large
        thf_cntx_t* thin
        dim_t thin_rows
        dim_t thin_cols
        dim_t thin_k
        dim_t mid_rows
        dim_t mid_cols
        double thin_flops
        int force
        dim_t dot_rows
        dim_t dot_k
        dim_t dot_k_per_row
        dim_t dot_cols
        dim_t smallk_k
        dim_t smallk_cols
        dim_t smallk_rows
        dim_t smallk_trans_rows
        dim_t smallk_trans_k
        dim_t smallk_trans_area
        void* nosup
    thf_blis_state thf_blis
    ctypedef struct thf_split_state "struct thf_split_state_s":
        double min_flops
        double chunk_flops
        int chunks_per_thread
        dim_t align
        int adaptive
    thf_split_state thf_split
    ctypedef struct thf_adapt_class "struct thf_adapt_class_s":
        double ns_per_flop[2]
        unsigned samples[2]
        unsigned calls
        int split
        int threads
        unsigned unhelped
        int last
        unsigned burst
    thf_adapt_class thf_adapt[16][64]
    enum: THF_ADAPT_KINDS
    enum: THF_ADAPT_FIRST_LOOP
    enum: THF_POOL_MASK_CHUNKS
    void thf_adapt_run_job(thf_job* job, int parts)
    int thf_adapt_settle(double alone, double split_avg, unsigned alone_samples,
                         unsigned split_samples, int split)
    int thf_adapt_way(const thf_adapt_class* c, unsigned calls)
    int thf_adapt_timed(const thf_adapt_class* c, unsigned calls)
    int thf_adapt_helped(thf_adapt_class* c, unsigned long long worker_chunks)
    double thf_adapt_update(double avg, unsigned samples, double x)
    void thf_adapt_record(thf_adapt_class* cls, int split, double size, int64_t ns)
    long thf_pool_spin_ns
    long thf_pool_spin_max_ns
    long thf_pool_contended_spin_ns
    int thf_pool_share_check
    int64_t thf_pool_gap_ns
    int64_t thf_pool_spin_budget()
    int thf_pool_pick(uint64_t w, int self)
    int thf_pool_hog_seen(int64_t job_ns, int64_t waited_ns, int polling, unsigned long long worker_chunks, int* missed)
    int64_t thf_pool_budget_for(int64_t base, int64_t most, int64_t gap)
    void thf_pool_set_spin_ns(long ns)
    void thf_pool_set_spin_max_ns(long ns)
    int thf_pool_threads_supported()
    int thf_pool_workers()
    void thf_pool_counters(unsigned long long* out)
    int thf_omp_limit()
    int thf_blis_attach(const size_t* fns, const char* expected_version)
    int thf_pool_grow(int wanted)
    void thf_pool_install_fork_handlers()
    int thf_blis_inside()
    void thf_blis_enter()
    void thf_blis_leave()
    thf_cntx_t* thf_blis_context(int arch)
    int thf_blis_is_thin(dim_t m, dim_t n, dim_t k, inc_t csc)
    int thf_gemm_kind(dim_t m, dim_t n, dim_t k, inc_t csa, inc_t rsb, inc_t csb, inc_t csc)
    int thf_vec_isa
    int thf_vec_best_isa()
    void thf_sgemm_tile(dim_t m, dim_t n, dim_t k, float alpha,
                       const float* A, inc_t rsa, inc_t csa,
                       const float* B, inc_t rsb, inc_t csb,
                       float beta, float* C, inc_t rsc, inc_t csc)
    ctypedef struct thf_gemm_job:
        dim_t m, n, k
        dim_t mt, nt
        int pm, pn
    void thf_gemm_plan(thf_gemm_job* j, int nthreads, int per_thread, dim_t align_m,
                       dim_t align_n)
    void thf_sgemm_threads(dim_t m, dim_t n, dim_t k, float alpha,
                          const float* A, inc_t rsa, inc_t csa,
                          const float* B, inc_t rsb, inc_t csb,
                          float beta, float* C, inc_t rsc, inc_t csc, int nthreads)

cdef extern from "step_threads.h" nogil:
    ctypedef struct thf_steps_state:
        int enabled
        int phase
        int one
        int count
        int held
        int64_t last_ns
        double all_ns
        double one_ns
        unsigned long long tries
        unsigned long long chose_one
    thf_steps_state thf_steps
    int thf_steps_tick(thf_steps_state* s, int64_t now_ns)
    void thf_steps_reset(thf_steps_state* s)
    int thf_steps_capped(const thf_steps_state* s)
    int64_t thf_steps_now()
    enum: THF_STEPS_HOLDING


cdef extern from "worker_pool.h" nogil:
    void thf_pool_run(void (*fn)(void* ctx, int chunk) noexcept nogil, void* ctx, int nchunks,
                     int nthreads)


_F32 = numpy.dtype("float32")

cdef int _num_threads = 1


def default_num_threads():
    """The CPUs this process may run on (its affinity mask), at least 1, and at
    most ``THINC_FAST_NUM_THREADS`` (or else ``OMP_NUM_THREADS``, whose first
    entry counts when it lists one per nesting level, "4,2") when set. A value
    that is not a positive whole number is skipped with a RuntimeWarning that
    names it."""
    try:
        cpus = max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = max(1, os.cpu_count() or 1)
    for name in ("THINC_FAST_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        first = value.split(",")[0].strip() if name == "OMP_NUM_THREADS" else value
        if first.isdigit() and int(first) > 0:
            return min(cpus, int(first))
        # at the user's line: the first call comes while thinc_fast is imported
        warn_at_caller(f"thinc_fast: {name}={value!r} is not a positive whole number of "
                       f"threads; ignored (set it to 1, 2, ... or unset it)", RuntimeWarning)
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
    thf_steps_reset(&thf_steps)


def get_num_threads():
    """The number of threads the CPU kernels use."""
    return _num_threads


cdef int num_threads() noexcept nogil:
    """The number of threads the CPU kernels use now: set_num_threads's count,
    or 1 while the step clock (step_threads.h) has measured one thread faster
    for this training loop's steps."""
    if _num_threads > 1 and thf_steps_capped(&thf_steps):
        return 1
    return _num_threads


def step_tick():
    """Tell the kernels that a training step ended (Optimizer.update_arena
    calls it once per step): with several threads and the adaptive split on,
    steps are timed in blocks on every thread and on one, and run the faster
    way (step_threads.h; :func:`gemm_config`'s ``step_*`` entries say what
    it measured). Never changes a result: every kernel gives the same bits on
    any thread count."""
    if _num_threads > 1 and thf_split.adaptive:
        thf_steps_tick(&thf_steps, thf_steps_now())


cdef void grow_pool(int nthreads) noexcept:
    """Start the pool's workers if missing (needs the GIL: call before nogil)."""
    if nthreads > 1 and thf_pool_workers() < nthreads - 1:
        thf_pool_grow(nthreads - 1)


cdef void job_init(thf_job* job, Py_ssize_t n) noexcept nogil:
    """An empty job over [0, n): one chunk, no alignment, every field zero."""
    memset(job, 0, sizeof(thf_job))
    job.n = n
    job.nparts = 1
    job.align = 1


cdef void run_job_nogil(thf_job* job, int parts) noexcept nogil:
    """Run `job` (its nparts chunks) on up to `parts` threads, the caller
    included, with the workers already started (grow_pool); one chunk, or one
    thread, runs on the caller alone, and so does a job whose loop and size
    measured faster alone (``adaptive_split``, adapt_split.h)."""
    if parts <= 1 or job.nparts <= 1:
        job.range(job, 0, job.n)
    elif thf_split.adaptive:
        thf_adapt_run_job(job, parts)
    else:
        thf_pool_run(thf_job_chunk, job, job.nparts, parts)


cdef void run_job_split(thf_job* job, int parts) noexcept nogil:
    """run_job_nogil, always split over `parts` threads when it has several
    chunks (the peak measurements: they must use every thread)."""
    if parts <= 1 or job.nparts <= 1:
        job.range(job, 0, job.n)
    else:
        thf_pool_run(thf_job_chunk, job, job.nparts, parts)


cdef void run_job(thf_job* job, int parts) noexcept:
    """run_job_nogil called with the GIL: the pool's workers are started here
    when missing, and the GIL is released while the job runs."""
    grow_pool(parts)
    with nogil:
        run_job_nogil(job, parts)


cdef void sgemm_parallel(dim_t m, dim_t n, dim_t k, float alpha,
                         const float* A, inc_t rsa, inc_t csa,
                         const float* B, inc_t rsb, inc_t csb,
                         float beta, float* C, inc_t rsc, inc_t csc, int nthreads) noexcept nogil:
    """sgemm split into tiles of C over up to `nthreads` threads (the caller
    included), each tile one single-threaded blis call on the context its
    shape asks for; small products run on the calling thread."""
    thf_sgemm_threads(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc, nthreads)


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


cdef int gemm_threads() noexcept nogil:
    """Threads for one gemm: num_threads(), capped by OpenMP's limit so that
    threadpoolctl's ``threadpool_limits`` caps gemm like our loops."""
    return min(num_threads(), thf_omp_limit())


def blis_layout(arr):
    """Strides (in elements) blis accepts for the stored 2d float32 array `arr`,
    or None.

    Row-major (column stride 1, row stride >= ncols) and column-major layouts
    pass as they are, size-1 dimensions get a canonical stride, anything else
    (negative, zero, unaligned or general strides) returns None: copy first.
    """
    cdef inc_t rs, cs
    if not (cnp.PyArray_Check(arr) and cnp.PyArray_NDIM(<cnp.ndarray>arr) == 2):
        return None
    if not _c_layout(arr, &rs, &cs):
        return None
    return rs, cs


cdef bint _c_layout(object a, inc_t* rs, inc_t* cs) noexcept:
    """The element strides blis takes for the 2d float32 NumPy array `a` (read
    from its header; see blis_layout), or False."""
    cdef Py_ssize_t m = dim(a, 0), n = dim(a, 1)
    cdef Py_ssize_t sr = cnp.PyArray_STRIDE(<cnp.ndarray>a, 0), sc = cnp.PyArray_STRIDE(<cnp.ndarray>a, 1)
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


cdef inline bint _f32_2d(object a) noexcept:
    return f32_native(a) and cnp.PyArray_NDIM(<cnp.ndarray>a) == 2


cdef object gemm_fast(object x, object y, object out, bint trans1, bint trans2, float alpha,
                       float beta):
    """The common case in C: float32 ndarrays with strides blis takes, shapes
    that fit, an `out` that is writable (or None). Returns the output, or None
    to let the general path check, copy and raise. Reads the arrays' headers
    (arrays.pxd): no buffer requests."""
    cdef Py_ssize_t m, k, n, k2
    cdef inc_t rsa, csa, rsb, csb, rsc, csc
    cdef cnp.npy_intp dims[2]
    cdef int nthreads
    if type(x) is not numpy.ndarray or type(y) is not numpy.ndarray:
        return None
    if out is not None and type(out) is not numpy.ndarray:
        return None
    if not (_f32_2d(x) and _f32_2d(y)):
        return None
    m, k = (dim(x, 1), dim(x, 0)) if trans1 else (dim(x, 0), dim(x, 1))
    k2, n = (dim(y, 1), dim(y, 0)) if trans2 else (dim(y, 0), dim(y, 1))
    if k != k2 or m == 0 or n == 0 or k == 0:
        return None
    if not (_c_layout(x, &rsa, &csa) and _c_layout(y, &rsb, &csb)):
        return None
    if trans1:
        rsa, csa = csa, rsa
    if trans2:
        rsb, csb = csb, rsb
    if out is None:
        if beta != 0.0:
            return None
        dims[0] = m
        dims[1] = n
        out = empty_aligned(2, dims, cnp.NPY_FLOAT32, 4)
    elif not (_f32_2d(out) and writable(out)) or dim(out, 0) != m or dim(out, 1) != n:
        return None
    if not _c_layout(out, &rsc, &csc):
        return None
    cdef const float* pa = f32_data(x)
    cdef const float* pb = f32_data(y)
    cdef float* pc = f32_data(out)
    nthreads = gemm_threads()
    grow_pool(nthreads)  # needs the GIL
    with nogil:
        sgemm_parallel(m, n, k, alpha, pa, rsa, csa, pb, rsb, csb, beta, pc, rsc, csc, nthreads)
    return out


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
cdef Py_ssize_t _CACHE_MIN_BYTES = REUSE_MIN_BYTES  # arrays.pxd: 1 MiB
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


def aligned_empty(shape, dtype=_F32, zeros=False):
    """``numpy.empty(shape, dtype)`` (``numpy.zeros`` with `zeros`), C-ordered,
    with its data on a 64-byte boundary (arrays.pxd's ``empty_aligned``: the
    vector kernels read rows that start there without splitting cache lines).
    The block is NumPy's, 63 bytes longer, kept as the array's base. Plain
    numbers (bool, ints, floats, complex, native order) take a C path of about
    NumPy's own cost, except zeros of 1 MiB and more, whose block comes from
    ``numpy.zeros`` (lazily zeroed pages); other dtypes, which no kernel
    reads, are NumPy's own arrays."""
    cdef cnp.npy_intp dims[32]
    cdef int nd, i
    cdef Py_ssize_t count = 1, nbytes
    dt = dtype if type(dtype) is numpy.dtype else numpy.dtype(dtype)
    if isinstance(shape, (int, numpy.integer)):
        shape = (int(shape),)
    elif type(shape) is not tuple:
        shape = tuple(shape)
    nd = len(shape)
    if nd > 32:
        raise ValueError(f"aligned_empty: at most 32 dimensions, got {nd}")
    for i in range(nd):
        d = shape[i]
        if type(d) is bool or not PyIndex_Check(d):  # NumPy's rule: 2.5 or True is no size
            raise TypeError(f"aligned_empty: dimension {d!r} of {shape} is not an integer")
        dims[i] = d
        if dims[i] < 0:
            raise ValueError(f"aligned_empty: negative dimensions are not allowed: {shape}")
        if dims[i] and count > PY_SSIZE_T_MAX // dims[i]:
            raise ValueError(f"aligned_empty: an array of shape {shape} is too big")
        count *= dims[i]
    if count > (PY_SSIZE_T_MAX - ALIGN_BYTES) // max(<Py_ssize_t>dt.itemsize, 1):
        raise ValueError(f"aligned_empty: an array of shape {shape} is too big")
    if not (dt is _F32 or (dt.kind in "biufc" and dt.isnative)):
        return numpy.zeros(shape, dt) if zeros else numpy.empty(shape, dt)
    nbytes = count * dt.itemsize
    if zeros and nbytes >= 1 << 20:
        block = numpy.zeros(nbytes + ALIGN_BYTES - 1, numpy.uint8)
        off = (-<Py_ssize_t>cnp.PyArray_DATA(<cnp.ndarray>block)) & (ALIGN_BYTES - 1)
        return block[off:off + nbytes].view(dt).reshape(shape)
    arr = empty_aligned(nd, dims, dt.num, dt.itemsize)
    if zeros and nbytes:
        memset(cnp.PyArray_DATA(<cnp.ndarray>arr), 0, nbytes)
    return arr


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
        return aligned_empty(shape, dt)
    cdef _ReusedBlock block = _ReusedBlock.__new__(_ReusedBlock)
    block.ptr = _cache_take(nbytes + ALIGN_BYTES, &block.capacity)
    if block.ptr == NULL:
        raise MemoryError(f"cannot allocate {nbytes} bytes for an array of shape {shape}")
    block.shape[0] = block.capacity
    block.strides[0] = 1
    # malloc's large blocks start 16 bytes past a page: the data start at the
    # first 64-byte boundary (see aligned_empty)
    cdef Py_ssize_t off = (-<Py_ssize_t>block.ptr) & (ALIGN_BYTES - 1)
    return numpy.frombuffer(block, dtype=dt, count=count, offset=off).reshape(shape)


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


def gemm_call(dim_t m, dim_t n, dim_t k, float alpha,
               const float[:, :] a, inc_t rsa, inc_t csa,
               const float[:, :] b, inc_t rsb, inc_t csb,
               float beta, float[:, :] c, inc_t rsc, inc_t csc):
    cdef const float* pa = &a[0, 0]
    cdef const float* pb = &b[0, 0]
    cdef float* pc = &c[0, 0]
    cdef int nthreads = gemm_threads()
    grow_pool(nthreads)  # needs the GIL
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
    cdef int nthreads = min(gemm_threads(), thf_pool_workers() + 1)
    sgemm_parallel(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, 1, nthreads)


def thinc_cblas_sgemm_address():
    """The address of a C function with Thinc's ``CBlas`` sgemm signature that
    runs this module's gemm (for :mod:`thinc_fast.backends.thinc_backend`,
    which installs it in the ``CBlas`` objects it hands to Thinc and spaCy).
    Starts the pool's workers first, since the function runs without the GIL."""
    cdef int nthreads = gemm_threads()
    grow_pool(nthreads)
    return <size_t>&_thinc_cblas_sgemm


# ------------------------------------------------------------ gemm set-up
_GEMM_MODES = {"shape": 0, "large": 1, "thin": 2, "default": 3}


def _setup_gemm():
    """Load blis's expert interface and the contexts ``_blis_arch`` chose."""
    cdef size_t fns[7]
    plan = _blis_arch.gemm_plan()
    if _blis_arch.isa_cap() == "avx2" and thf_vec_best_isa() > 3:
        _vector_isa(3)  # the AVX2 builds of the dot and short-k kernels
    _blis_arch.after_blis_init()  # blis initialised when blis.cy was imported
    thf_pool_install_fork_handlers()  # fork_guard.h: fork() waits for our blis calls
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
    status = {"expert": rc == 0, "load_code": rc, "large": None, "thin": None,
              "large_sup_off": thf_blis.nosup != NULL}  # set only by a successful attach
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
        thf_blis.dot_rows = plan["dot_rows"]
        thf_blis.dot_k = plan["dot_k"]
        thf_blis.dot_k_per_row = plan["dot_k_per_row"]
        thf_blis.dot_cols = plan["dot_cols"]
        thf_blis.smallk_k = plan["smallk_k"]
        thf_blis.smallk_rows = plan["smallk_rows"]
        thf_blis.smallk_trans_rows = plan["smallk_trans_rows"]
        thf_blis.smallk_trans_k = plan["smallk_trans_k"]
        thf_blis.smallk_trans_area = plan["smallk_trans_area"]
    else:
        status["large"] = _blis_arch.active_arch()
    _blis_arch.record_gemm_setup(status)


def _hold_blis_call(double seconds):
    """Tests: count a blis call in for `seconds` on this thread, as a gemm
    inside blis would (fork_guard.h), with the GIL released throughout;
    returns the monotonic clock (time.monotonic's) read just before the count
    goes out."""
    cdef timespec ts, now
    ts.tv_sec = <long>seconds
    ts.tv_nsec = <long>((seconds - ts.tv_sec) * 1e9)
    with nogil:
        thf_blis_enter()
        nanosleep(&ts, NULL)
        clock_gettime(CLOCK_MONOTONIC, &now)
        thf_blis_leave()
    return now.tv_sec + now.tv_nsec * 1e-9


def gemm_config():
    """How gemm runs now: the contexts per shape, the thresholds, the split,
    and the pool's counters (jobs split over threads, their tiles, the tiles
    the workers took: a low share means the other cores were busy)."""
    cdef unsigned long long counters[6]
    thf_pool_counters(counters)
    return {
        "pool_jobs": counters[0],
        "pool_tiles": counters[1],
        "pool_tiles_by_workers": counters[2],
        "pool_moves": counters[3],
        "pool_hog_signs": counters[4],
        "pool_shared_polls": counters[5],
        "expert": thf_blis.sgemm_ex != NULL,
        "large": thf_blis.large != NULL,
        "thin": thf_blis.thin != NULL,
        "large_sup_off": thf_blis.nosup != NULL,
        "thin_rows": thf_blis.thin_rows,
        "thin_cols": thf_blis.thin_cols,
        "thin_k": thf_blis.thin_k,
        "mid_rows": thf_blis.mid_rows,
        "mid_cols": thf_blis.mid_cols,
        "thin_flops": thf_blis.thin_flops,
        "dot_rows": thf_blis.dot_rows,
        "dot_k": thf_blis.dot_k,
        "dot_k_per_row": thf_blis.dot_k_per_row,
        "dot_cols": thf_blis.dot_cols,
        "smallk_k": thf_blis.smallk_k,
        "smallk_cols": thf_blis.smallk_cols,
        "smallk_rows": thf_blis.smallk_rows,
        "smallk_trans_rows": thf_blis.smallk_trans_rows,
        "smallk_trans_k": thf_blis.smallk_trans_k,
        "smallk_trans_area": thf_blis.smallk_trans_area,
        "mode": {v: k for k, v in _GEMM_MODES.items()}[thf_blis.force],
        "threads": gemm_threads(),
        "pool_threads_supported": bool(thf_pool_threads_supported()),
        "pool_workers": thf_pool_workers(),
        "blis_calls_now": thf_blis_inside(),  # under way on any thread (fork_guard.h)
        "spin_us": thf_pool_spin_ns / 1000.0,
        "spin_max_us": thf_pool_spin_max_ns / 1000.0,
        "contended_spin_us": thf_pool_contended_spin_ns / 1000.0,
        "share_check": thf_pool_share_check,
        "pool_gap_us": thf_pool_gap_ns / 1000.0,
        "pool_spin_now_us": thf_pool_spin_budget() / 1000.0,
        "min_flops": thf_split.min_flops,
        "chunk_flops": thf_split.chunk_flops,
        "chunks_per_thread": thf_split.chunks_per_thread,
        "align": thf_split.align,
        "adaptive_split": thf_split.adaptive,
        "step_threads": thf_steps.enabled,
        "step_one_thread": bool(thf_steps_capped(&thf_steps)),
        "step_all_us": thf_steps.all_ns / 1000.0,
        "step_one_us": thf_steps.one_ns / 1000.0,
        "step_tries": thf_steps.tries,
        "step_tries_won_by_one": thf_steps.chose_one,
    }


def split_stats():
    """What the adaptive split has measured (``adaptive_split``, adapt_split.h):
    per size class that has run, ``{"kind": "large" | "dot" | "smallk" (gemm) | "loop N"
    (the N-th pool loop run: an optimizer step, a sequence kernel...),
    "flops": the class's least size (a power of two: flops for gemm, values
    or rows for a loop), "threads": the thread count, "ns_per_gflop_alone",
    "ns_per_gflop_split": moving averages in ns per 1e9 units (None: not
    measured), "samples_alone", "samples_split", "calls", "splits": whether
    its next ordinary call splits}``."""
    cdef thf_adapt_class* cls
    cdef int kind, c
    out = []
    for kind in range(THF_ADAPT_KINDS):
        for c in range(64):
            cls = &thf_adapt[kind][c]
            if cls.calls == 0:
                continue
            name = ("large", "dot", "smallk")[kind] if kind < THF_ADAPT_FIRST_LOOP \
                else f"loop {kind - THF_ADAPT_FIRST_LOOP + 1}"
            out.append({
                "kind": name, "flops": float(2 ** c), "threads": cls.threads,
                "ns_per_gflop_alone": cls.ns_per_flop[0] * 1e9 if cls.samples[0] else None,
                "ns_per_gflop_split": cls.ns_per_flop[1] * 1e9 if cls.samples[1] else None,
                "samples_alone": cls.samples[0], "samples_split": cls.samples[1],
                "calls": cls.calls, "splits": bool(cls.split),
            })
    return out


def _split_settle(double alone, double split, unsigned alone_samples, unsigned split_samples,
                  bint splitting):
    """The adaptive split's rule (tests): whether a class with these averages
    and samples that splits now (`splitting`) goes on splitting."""
    return bool(thf_adapt_settle(alone, split, alone_samples, split_samples, splitting))


def _split_way(unsigned alone_samples, unsigned split_samples, bint splitting, unsigned calls,
               last=None):
    """(whether a class's `calls`-th call splits, whether its time counts)
    (tests): its current way, the other for 4 calls in a row in every 256 once
    both ways have 8 samples; the first of those 4 and the first call back
    are not timed. Warming up, a call that goes another way than the call
    before (`last`, default the same way) is not timed."""
    cdef thf_adapt_class c
    memset(&c, 0, sizeof(c))
    c.samples[0] = alone_samples
    c.samples[1] = split_samples
    c.split = splitting
    c.last = splitting if last is None else bool(last)
    return bool(thf_adapt_way(&c, calls)), bool(thf_adapt_timed(&c, calls))


def _split_helped(bint splitting, worker_chunks, unsigned calls=0):
    """Split calls that workers ran `worker_chunks` chunks of (a list), in a
    class whose current way is `splitting`: whether each call's time counts,
    and the class's call count after them, from `calls` (tests)."""
    cdef thf_adapt_class c
    memset(&c, 0, sizeof(c))
    c.split = splitting
    c.calls = calls
    counted = []
    for w in worker_chunks:
        c.calls += 1
        counted.append(bool(thf_adapt_helped(&c, w)))
    return counted, c.calls


def _split_record(double alone, double split, unsigned alone_samples, unsigned split_samples,
                  bint splitting, records):
    """A class with these averages (ns per unit) and samples that splits now
    (`splitting`), after the timed calls `records`, a list of (went split,
    ns per unit) in order (tests): its (alone average, split average,
    whether it splits)."""
    cdef thf_adapt_class c
    memset(&c, 0, sizeof(c))
    c.ns_per_flop[0] = alone
    c.ns_per_flop[1] = split
    c.samples[0] = alone_samples
    c.samples[1] = split_samples
    c.split = splitting
    for way, x in records:
        thf_adapt_record(&c, 1 if way else 0, 1e6, <int64_t>(x * 1e6))
    return c.ns_per_flop[0], c.ns_per_flop[1], bool(c.split)


def _split_update(double avg, unsigned samples, double x):
    """The adaptive split's average after one more sample (tests)."""
    return thf_adapt_update(avg, samples, x)


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
    thf_gemm_plan(&j, nthreads, thf_split.chunks_per_thread if per_thread is None else per_thread,
                  thf_split.align, thf_split.align)
    return j.pm, j.pn, j.mt, j.nt


def _is_thin(dim_t m, dim_t n, dim_t k):
    """Whether an m x n x k product with a row-major C runs on the thin
    context under the current rules (tests)."""
    return bool(thf_blis_is_thin(m, n, k, 1))


def _gemm_kind(dim_t m, dim_t n, dim_t k, bint trans2=False, bint trans1=False):
    """The kernel an m x n x k product with row-major operands and C runs on
    under the current rules, `trans2` for A @ B^T, `trans1` for A^T @ B:
    "dot", "smallk", "thin" or "large" (tests)."""
    kind = thf_gemm_kind(m, n, k, m if trans1 else 1, 1 if trans2 else n, k if trans2 else 1, 1)
    return ("large", "thin", "dot", "smallk")[kind]


def _vector_isa(isa=None):
    """The build of the vector kernels (the short-k and dot kernels) that
    runs: 4 AVX-512, 3 AVX2, 0 baseline, -1 not chosen yet; `isa` forces one
    the CPU runs (tests). Returns the previous value."""
    global thf_vec_isa
    before = thf_vec_isa
    if isa is not None:
        thf_vec_isa = isa
    return before


def _pool_pick(int nchunks, int helpers, claimed, int thread):
    """The chunk `thread` (0: the caller, h: helper h) claims next in a job of
    `nchunks` chunks and `helpers` helpers whose chunks `claimed` are taken;
    -1 when none is left (tests). Up to 12 chunks: its own first (index
    thread, thread + threads, ...), then the others from the last; more: in
    order (`claimed` then gives how many were)."""
    cdef uint64_t w = (<uint64_t>helpers << 24) | (<uint64_t>nchunks << 12)
    if nchunks > THF_POOL_MASK_CHUNKS:
        w |= <uint64_t>claimed
    else:
        for c in claimed:
            w |= <uint64_t>1 << c
    return thf_pool_pick(w, thread)


cdef extern from *:
    """
    /* _pool_run_counted's chunk: add one to the chunk's slot of its job, after
     * a short spin so that workers get chunks too (tests). */
    typedef struct { int *counts; int nchunks; int job; int spin; } thf_counted_job;
    static void thf_counted_chunk(void *ctx, int chunk)
    {
        thf_counted_job *j = (thf_counted_job *)ctx;
        volatile double x = 1.0;
        for (int i = 0; i < j->spin; ++i)
            x = x * 1.0000001 + 1e-9;
        __atomic_add_fetch(&j->counts[j->job * j->nchunks + chunk], 1, __ATOMIC_RELAXED);
    }
    """
    ctypedef struct thf_counted_job:
        int* counts
        int nchunks
        int job
        int spin
    void thf_counted_chunk(void* ctx, int chunk) noexcept nogil


def _pool_run_counted(int nchunks, int nthreads, int jobs, int spin=200):
    """Run `jobs` pool jobs of `nchunks` chunks each on up to `nthreads`
    threads, back to back, each chunk adding one to its own slot; returns the
    slots (jobs x nchunks: every one must be 1) and how many chunks the
    workers ran (tests)."""
    counts = numpy.zeros((jobs, nchunks), dtype=numpy.intc)
    cdef int[:, ::1] view = counts
    cdef thf_counted_job j
    cdef int i
    j.counts = &view[0, 0]
    j.nchunks = nchunks
    j.spin = spin
    before = gemm_config()["pool_tiles_by_workers"]
    grow_pool(nthreads)
    with nogil:
        for i in range(jobs):
            j.job = i
            thf_pool_run(thf_counted_chunk, &j, nchunks, nthreads)
    return counts, gemm_config()["pool_tiles_by_workers"] - before


def _hog_seen(jobs):
    """The pool's rule for signs of a CPU hog, over a run of jobs given as
    (job's length in us, caller's wait for workers in us, workers polling at
    publish, chunks the workers did): whether each job sets the contended
    state (tests)."""
    cdef int missed = 0
    return [bool(thf_pool_hog_seen(<int64_t>(t * 1000), <int64_t>(w * 1000), polling, chunks,
                                  &missed))
            for t, w, polling, chunks in jobs]


#: What set_gemm_options takes, with the smallest value each allows (None: any)
_GEMM_OPTIONS = {
    "mode": None, "thin_rows": None, "thin_cols": None, "thin_k": None, "mid_rows": None,
    "mid_cols": None, "thin_flops": 0, "dot_rows": 0, "dot_k": 1, "dot_k_per_row": 0, "dot_cols": 0,
    "smallk_k": 0, "smallk_cols": 1, "smallk_rows": 0, "smallk_trans_rows": 0, "smallk_trans_k": 0,
    "smallk_trans_area": 0,
    "spin_us": 0, "spin_max_us": 0, "contended_spin_us": 0, "share_check": 0,
    "min_flops": None, "chunk_flops": None,
    "chunks_per_thread": 1, "align": 1, "adaptive_split": 0, "step_threads": 0,
}


def gemm_options():
    """The settable part of :func:`gemm_config`: ``set_gemm_options(**gemm_options())``
    puts back what it holds."""
    config = gemm_config()
    return {name: config[name] for name in _GEMM_OPTIONS}


def set_gemm_options(**options):
    """Tune gemm (for tests and measurements; the defaults are the measured choice).

    Options (None leaves one as it is): mode: "shape" (per product: thin ones
    on the thin context, the dot kernel where its rule says), "large" or "thin"
    (every product on that context), "default" (blis's basic gemm on its
    process-wide context). thin_rows, thin_cols, thin_k, mid_rows, mid_cols,
    thin_flops: the thin-context rule; dot_rows, dot_k, dot_k_per_row,
    dot_cols: the dot kernel's (dot_gemm.h); smallk_k, smallk_rows, smallk_trans_k,
    smallk_cols: the short-k kernel's (smallk_gemm.h: n at least smallk_cols,
    and k at most smallk_k, or at most smallk_rows rows with A contiguous
    along k or k at most smallk_trans_k; 0 never); see
    _blis_arch.THIN_RULES. spin_us: how long an idle
    worker polls for the next job before it sleeps; spin_max_us: how long it
    may poll when jobs come a little apart, as in spaCy's loop (twice the usual
    gap, up to this; 0 or at most spin_us: never longer than spin_us).
    contended_spin_us: the poll after signs that another thread wants the
    workers' CPUs (default 0: sleep at once, so that a woken worker preempts
    it); share_check: 1 (default) cuts a poll short, and counts such a sign,
    when its CPU gave it under 75% of the time (worker_pool.h), 0 never.
    min_flops, chunk_flops, chunks_per_thread, align: the split over threads.
    adaptive_split: 1 (default) splits a product, or a loop on the pool (an
    optimizer step, a sequence kernel), only where splitting its size class
    measured faster than one thread (:func:`split_stats`), 0 splits every
    product the plan cuts and every loop over its size threshold (the bits
    are the same either way); setting it starts the measurements anew.
    step_threads: 1 (default) times a training loop's whole steps on every
    thread and on one (:func:`step_tick`, step_threads.h) and runs them the
    faster way, while adaptive_split is on; 0 never caps the threads.
    Every value is checked before any is set. Returns the previous
    :func:`gemm_config`."""
    global thf_pool_contended_spin_ns, thf_pool_share_check
    unknown = sorted(set(options) - set(_GEMM_OPTIONS))
    if unknown:
        raise TypeError(f"set_gemm_options: unknown option(s) {unknown}; "
                        f"known: {list(_GEMM_OPTIONS)}")
    given = {name: value for name, value in options.items() if value is not None}
    if "mode" in given and given["mode"] not in _GEMM_MODES:
        raise ValueError(f"set_gemm_options: mode must be one of {sorted(_GEMM_MODES)}, "
                         f"got {given['mode']!r}")
    for name, value in given.items():
        least = _GEMM_OPTIONS[name]
        if least is not None and value < least:
            raise ValueError(f"set_gemm_options: {name} must be >= {least}, got {value!r}")
    before = gemm_config()
    if "mode" in given:
        thf_blis.force = _GEMM_MODES[given["mode"]]
    if "thin_rows" in given:
        thf_blis.thin_rows = given["thin_rows"]
    if "thin_cols" in given:
        thf_blis.thin_cols = given["thin_cols"]
    if "thin_k" in given:
        thf_blis.thin_k = given["thin_k"]
    if "mid_rows" in given:
        thf_blis.mid_rows = given["mid_rows"]
    if "mid_cols" in given:
        thf_blis.mid_cols = given["mid_cols"]
    if "thin_flops" in given:
        thf_blis.thin_flops = given["thin_flops"]
    if "dot_rows" in given:
        thf_blis.dot_rows = given["dot_rows"]
    if "smallk_k" in given:
        thf_blis.smallk_k = given["smallk_k"]
    if "smallk_cols" in given:
        thf_blis.smallk_cols = given["smallk_cols"]
    if "smallk_rows" in given:
        thf_blis.smallk_rows = given["smallk_rows"]
    if "smallk_trans_rows" in given:
        thf_blis.smallk_trans_rows = given["smallk_trans_rows"]
    if "smallk_trans_k" in given:
        thf_blis.smallk_trans_k = given["smallk_trans_k"]
    if "smallk_trans_area" in given:
        thf_blis.smallk_trans_area = given["smallk_trans_area"]
    if "dot_k" in given:
        thf_blis.dot_k = given["dot_k"]
    if "dot_cols" in given:
        thf_blis.dot_cols = given["dot_cols"]
    if "dot_k_per_row" in given:
        thf_blis.dot_k_per_row = given["dot_k_per_row"]
    if "spin_us" in given:
        thf_pool_set_spin_ns(<long>(given["spin_us"] * 1000))
    if "spin_max_us" in given:
        thf_pool_set_spin_max_ns(<long>(given["spin_max_us"] * 1000))
    if "contended_spin_us" in given:
        thf_pool_contended_spin_ns = <long>(given["contended_spin_us"] * 1000)
    if "share_check" in given:
        thf_pool_share_check = 1 if given["share_check"] else 0
    if "min_flops" in given:
        thf_split.min_flops = given["min_flops"]
    if "chunk_flops" in given:
        thf_split.chunk_flops = given["chunk_flops"]
    if "chunks_per_thread" in given:
        thf_split.chunks_per_thread = given["chunks_per_thread"]
    if "align" in given:
        thf_split.align = given["align"]
    if "adaptive_split" in given:
        thf_split.adaptive = 1 if given["adaptive_split"] else 0
        memset(thf_adapt, 0, sizeof(thf_adapt))  # measured anew from here
    if "step_threads" in given:
        thf_steps.enabled = 1 if given["step_threads"] else 0
    thf_steps_reset(&thf_steps)  # any change: the step clock starts over
    return before


def _step_clock_force_one():
    """Put the step clock in its "one thread, held" state as of now (tests)."""
    thf_steps.one = 1
    thf_steps.phase = THF_STEPS_HOLDING
    thf_steps.count = 0
    thf_steps.held = 0
    thf_steps.last_ns = thf_steps_now()


def _step_clock_capped_after(double ms):
    """Whether the step clock would cap the threads `ms` milliseconds after
    its last tick (tests: the lapse, without depending on the real clock)."""
    cdef thf_steps_state st = thf_steps
    st.last_ns = thf_steps_now() - <int64_t>(ms * 1e6)
    return bool(thf_steps_capped(&st))


def _step_clock_trace(double all_us, double one_us, int steps, bint enabled=True):
    """The step clock's choice for each of `steps` steps (tests): a fresh clock
    ticked by steps that take `all_us` on every thread and `one_us` on one;
    returns the list of "this step ran on one thread" flags."""
    cdef thf_steps_state st
    memset(&st, 0, sizeof(st))
    st.enabled = enabled
    cdef int64_t now = 1000
    cdef int one = 0
    out = []
    thf_steps_tick(&st, now)
    for _ in range(steps):
        out.append(bool(one))
        now += <int64_t>((one_us if one else all_us) * 1000)
        one = thf_steps_tick(&st, now)
    return out


_setup_gemm()
set_num_threads(None)
