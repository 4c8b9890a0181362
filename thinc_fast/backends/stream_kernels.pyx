# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, embedsignature=True
"""The stream engine of the CPU backend: memory-bound passes over flat float32
arrays (the fused optimizer steps and the gradient norms) and the two probes
the benchmarks compare with (``stream_triad``: memory bandwidth, ``fma_peak``:
the FMA throughput).

Every loop runs on the gemm's worker pool as a ``thf_job`` (pool_job.h,
through :func:`gemm.run_job`), not in an OpenMP region: a region waits for
every thread of its team, so one worker the OS has not scheduled (or OpenMP
threads gone to sleep while the pool did the gemms) stalls the whole step.
Chunks are claimed one at a time, four per thread; the caller takes over the
share of a late worker. The loops are those of ``src/include/stream_loops.h``.
"""
import time

import numpy

cimport numpy as cnp
from libc.stdlib cimport free, malloc

from .arrays cimport dim, f32_c, f32_data, f32_native, size

from .gemm cimport grow_pool, job_init, num_threads, run_job, run_job_nogil, run_job_split
from .loops cimport (THF_PEAK_X86, thf_adam, thf_idx, thf_job, thf_job_peak, thf_peak_ymm,
                     thf_peak_zmm, thf_sgd, thf_step, thf_sumsq, thf_triad)

from . import _blis_arch
from .kernel_args import check_scalars, check_step_arrays
from .ops import Ops


# Work below this size runs on one thread: forking costs more than it saves
# (gemm's threshold and tiling knobs live in blis_gemm.h's thf_split).
cdef Py_ssize_t STREAM_PARALLEL_MIN = 1 << 15
cdef Py_ssize_t BLOCK_ALIGN = 16
cdef Py_ssize_t SUMSQ_BLOCK = 1 << 14


cdef inline bint _f32_any_c(arr) noexcept:
    """A C-contiguous native float32 NumPy array of any shape."""
    return f32_native(arr) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>arr)


cdef inline int _stream_parts(Py_ssize_t n, int nthreads) noexcept nogil:
    """Threads for a pass over `n` values: one below STREAM_PARALLEL_MIN."""
    return 1 if nthreads <= 1 or n < STREAM_PARALLEL_MIN else nthreads


cdef inline void _stream_job(thf_job* job, Py_ssize_t n, int parts) noexcept nogil:
    """`job` over [0, n) in 4 chunks per thread (at most 4095), 16-aligned."""
    job_init(job, n)
    job.align = BLOCK_ALIGN
    job.nparts = 1 if parts <= 1 else <int>min(4 * parts, 4095)


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


# ------------------------------------------------------------ optimizer steps
ctypedef struct _step_args:
    float* w
    float* g
    float* m
    float* v
    float* avg
    const thf_step* s
    const Py_ssize_t* offs
    const float* scales
    Py_ssize_t nseg


cdef inline void _step_piece(const _step_args* a, Py_ssize_t start, Py_ssize_t n,
                             const thf_step* s) noexcept nogil:
    """The update rule (thf_adam, or thf_sgd when `a` has no moments) over
    `n` parameters from `start`."""
    cdef float* avg = a.avg + start if a.avg != NULL else NULL
    if a.m != NULL:
        thf_adam(a.w + start, a.g + start, a.m + start, a.v + start, avg, n, s)
    else:
        thf_sgd(a.w + start, a.g + start, avg, n, s)


cdef void _step_range(const thf_job* j, thf_idx start, thf_idx end) noexcept nogil:
    """The rule over [start, end); with segments, each piece takes its
    segment's gradient scale (per-tensor clipping)."""
    cdef const _step_args* a = <const _step_args*>j.ctx
    cdef thf_step local = a.s[0]
    cdef Py_ssize_t k, stop
    if a.offs == NULL:
        _step_piece(a, start, end - start, a.s)
        return
    k = _segment_at(a.offs, a.nseg, start)
    while start < end:
        stop = min(a.offs[k + 1], end)
        if stop > start:
            local.grad_scale = a.scales[k]
            _step_piece(a, start, stop - start, &local)
        start = stop if stop > start else start
        k += 1


cdef int _step_record(object k, float grad_scale, thf_step* s) except -1:
    """The one place a KernelScalars record becomes the C kernels' thf_step
    (stream_loops.h): the same fields, as float32; `grad_scale` is the call's
    clipping factor (1 with per-segment scales)."""
    s.grad_scale = grad_scale
    s.l2_coupled = k.l2_coupled
    s.lr_hat = k.lr_hat
    s.beta1 = k.beta1
    s.beta2 = k.beta2
    s.eps = k.eps
    s.decay = k.decay
    s.avg_rate = k.avg_rate
    s.use_denominator = bool(k.use_denominator)
    return 0


def adam_step(self, weights, gradient, mom1, mom2, averages=None, *, scalars,
              grad_scale=1.0, segments=None):
    """One fused Adam step over 1d float32 arrays, in place, in one pass
    (NumpyOps.adam_step).

    See :meth:`Ops.adam_step` for the formula, `scalars` (a
    :class:`~thinc_fast.backends.kernel_args.KernelScalars`) and `segments`
    (a per-segment `grad_scale`); `gradient` is zeroed.
    """
    return _fused_step(self, True, weights, gradient, mom1, mom2, averages, scalars, grad_scale,
                       segments)


def sgd_step(self, weights, gradient, averages=None, *, scalars, grad_scale=1.0,
             segments=None):
    """One fused SGD step over 1d float32 arrays (NumpyOps.sgd_step); see
    :meth:`Ops.sgd_step`."""
    return _fused_step(self, False, weights, gradient, None, None, averages, scalars,
                       grad_scale, segments)


cdef object _fused_step(object ops, bint adam, object weights, object gradient, object mom1,
                        object mom2, object averages, object scalars, object grad_scale,
                        object segments):
    """adam_step (`adam`) and sgd_step: checks, then the fused loop on the pool
    for 1d float32 C-contiguous arrays, else the reference of Ops. The record
    `scalars` becomes the kernel's thf_step in _step_record only."""
    k = check_scalars("adam_step" if adam else "sgd_step", scalars)
    check_step_arrays(weights, gradient, mom1, mom2, averages)
    offsets, scales = check_scales(segments, grad_scale, weights.shape[0])
    if not (f32_c(weights, 1) and f32_c(gradient, 1)
            and (not adam or (f32_c(mom1, 1) and f32_c(mom2, 1)))
            and (averages is None or f32_c(averages, 1))):
        if adam:
            return Ops.adam_step(ops, weights, gradient, mom1, mom2, averages, scalars=k,
                                 grad_scale=grad_scale, segments=segments)
        return Ops.sgd_step(ops, weights, gradient, averages, scalars=k, grad_scale=grad_scale,
                            segments=segments)
    cdef Py_ssize_t n = dim(weights, 0)
    cdef int nthreads = num_threads()
    cdef thf_step s
    cdef _step_args args
    cdef thf_job job
    _step_record(k, grad_scale if offsets is None else 1.0, &s)
    if n == 0:
        return
    args.w, args.g = f32_data(weights), f32_data(gradient)
    args.m = f32_data(mom1) if adam else NULL
    args.v = f32_data(mom2) if adam else NULL
    args.avg = f32_data(averages) if averages is not None else NULL
    args.s, args.offs, args.scales, args.nseg = &s, NULL, NULL, 0
    if offsets is not None:
        args.offs = <const Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>offsets)
        args.scales = f32_data(scales)
        args.nseg = dim(scales, 0)
    cdef int parts = _stream_parts(n, nthreads)
    _stream_job(&job, n, parts)
    job.range = _step_range
    job.ctx = &args
    run_job(&job, parts)


def check_segments(segments, Py_ssize_t n):
    """`segments` as a C-contiguous intp array of boundaries 0 = s[0] <= ... <= s[-1] = n."""
    offsets = segments
    if not (cnp.PyArray_Check(segments) and cnp.PyArray_TYPE(<cnp.ndarray>segments) == cnp.NPY_INTP
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>segments)):
        offsets = numpy.ascontiguousarray(segments, dtype=numpy.intp)
    if cnp.PyArray_NDIM(<cnp.ndarray>offsets) != 1 or dim(offsets, 0) < 1:
        raise ValueError(f"segments must be a 1d array of boundaries, got shape {offsets.shape}")
    cdef const Py_ssize_t* o = <const Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>offsets)
    cdef Py_ssize_t k, count = dim(offsets, 0), last = o[count - 1]
    cdef bint rising = o[0] == 0 and last == n
    for k in range(1, count):
        rising = rising and o[k] >= o[k - 1]
    if not rising:
        raise ValueError(f"segments must rise from 0 to the array length {n}, got "
                         f"{o[0]}..{last}")
    return offsets


def check_scales(segments, grad_scale, n):
    """(offsets, per-segment float32 scales), or (None, None) for one scalar scale."""
    if segments is None:
        if not numpy.isscalar(grad_scale):
            raise ValueError("grad_scale: an array of scales needs `segments`")
        return None, None
    offsets = check_segments(segments, n)
    scales = grad_scale if f32_c(grad_scale, 1) else \
        numpy.ascontiguousarray(grad_scale, dtype=numpy.float32)
    if scales.shape != (offsets.shape[0] - 1,):
        raise ValueError(f"grad_scale: expected one scale per segment "
                         f"({offsets.shape[0] - 1}), got shape {scales.shape}")
    return offsets, scales


# ------------------------------------------------------------ gradient norms
ctypedef struct _sumsq_args:
    const float* g
    const float* w
    float l2
    const Py_ssize_t* pstart
    const Py_ssize_t* plen
    double* partial
    Py_ssize_t npieces


cdef void _sumsq_range(const thf_job* j, thf_idx lo, thf_idx hi) noexcept nogil:
    """The pieces that start in [lo, hi) of the values."""
    cdef const _sumsq_args* a = <const _sumsq_args*>j.ctx
    cdef Py_ssize_t p = _first_piece_from(a.pstart, a.npieces, lo)
    while p < a.npieces and a.pstart[p] < hi:
        a.partial[p] = thf_sumsq(a.g + a.pstart[p], a.w + a.pstart[p] if a.w != NULL else NULL,
                                 a.l2, a.plen[p])
        p += 1


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


cdef int segment_sumsq_parallel(const float* g, const float* w, float l2,
                                const Py_ssize_t* offs, Py_ssize_t nseg, double* out,
                                int nthreads) noexcept nogil:
    """out[k] = sum of squares of segment k. Each segment is cut at the fixed
    grid of SUMSQ_BLOCK values (the same pieces for any thread count), the
    piece sums are added in order: the same totals for any thread count. The
    threads take contiguous halves of the values (as the update kernels do),
    so each reads what it will update next. Returns -1 when out of memory
    (nothing written), else 0. The pool's workers must be started
    (grow_pool) before."""
    cdef Py_ssize_t npieces = 0, k, p, start, stop
    cdef Py_ssize_t total_n = offs[nseg]
    cdef _sumsq_args args
    cdef thf_job job
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
    args.g, args.w, args.l2 = g, w, l2
    args.pstart, args.plen, args.partial, args.npieces = pstart, plen, partial, npieces
    _stream_job(&job, total_n, _stream_parts(total_n, nthreads))
    job.range = _sumsq_range
    job.ctx = &args
    run_job_nogil(&job, _stream_parts(total_n, nthreads))
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


def sum_of_squares(ops, gradient, weights=None, l2=0.0):
    """NumpyOps.sum_of_squares: ``sum((gradient + l2 * weights) ** 2)``, one
    read-only pass, float64 total."""
    cdef bint use_w = weights is not None and l2 != 0.0
    if not _f32_any_c(gradient) or (use_w and (not _f32_any_c(weights)
                                               or weights.shape != gradient.shape)):
        return Ops.sum_of_squares(ops, gradient, weights, l2)
    cdef Py_ssize_t n = size(gradient)
    cdef const float* gp = f32_data(gradient)
    cdef const float* wp = f32_data(weights) if use_w else NULL
    cdef float l2f = l2
    cdef double total = 0.0
    cdef int nthreads = num_threads()
    if n:
        grow_pool(nthreads)
        with nogil:
            total = sumsq_parallel(gp, wp, l2f, n, nthreads)
    return total

def segment_sum_of_squares(ops, gradient, weights=None, l2=0.0, segments=None):
    """NumpyOps.segment_sum_of_squares: per-segment ``sum((gradient + l2 * weights) ** 2)`` over the 1d arrays,
    segment k being ``[segments[k], segments[k + 1])``: float64 totals, one
    read-only pass, the same for any thread count."""
    offsets = check_segments(segments, gradient.shape[0] if gradient.ndim == 1 else -1)
    cdef bint use_w = weights is not None and l2 != 0.0
    if not f32_c(gradient, 1) or (use_w and (not f32_c(weights, 1)
                                             or dim(weights, 0) != dim(gradient, 0))):
        return Ops.segment_sum_of_squares(ops, gradient, weights, l2, offsets)
    cdef Py_ssize_t nseg = dim(offsets, 0) - 1
    cdef cnp.npy_intp nout = nseg
    out = cnp.PyArray_ZEROS(1, &nout, cnp.NPY_FLOAT64, 0)
    cdef const float* gp = f32_data(gradient)
    cdef const float* wp = f32_data(weights) if use_w else NULL
    cdef const Py_ssize_t* offs = <const Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>offsets)
    cdef double* o = <double*>cnp.PyArray_DATA(<cnp.ndarray>out)
    cdef float l2f = l2
    cdef int nthreads = num_threads(), rc = 0
    if dim(gradient, 0) == 0 or nseg == 0:
        return out
    grow_pool(nthreads)
    with nogil:
        rc = segment_sumsq_parallel(gp, wp, l2f, offs, nseg, o, nthreads)
    if rc != 0:
        raise MemoryError("segment_sum_of_squares: out of memory")
    return out


# ------------------------------------------------------------ probes
cdef void _triad_range(const thf_job* j, thf_idx lo, thf_idx hi) noexcept nogil:
    thf_triad(<float*>j.dst + lo, <const float*>j.src + lo, <const float*>j.src2 + lo, j.p[0],
              hi - lo)


def stream_triad(a, b, c, scalar):
    """``a[:] = b + scalar * c`` over 1d float32 arrays, on the pool as the
    optimizer kernels run (one 16-aligned share per thread): the
    memory-bandwidth probe the benchmarks compare with."""
    cdef float[::1] av = a
    cdef const float[::1] bv = b, cv = c
    cdef Py_ssize_t n = av.shape[0]
    cdef int nthreads = num_threads()
    cdef thf_job job
    if bv.shape[0] != n or cv.shape[0] != n:
        raise ValueError("stream_triad: arrays differ in length")
    if n == 0:
        return
    job_init(&job, n)
    job.range = _triad_range
    job.nparts = <int>min(nthreads, 4095)
    job.align = BLOCK_ALIGN
    job.dst = &av[0]
    job.src = &bv[0]
    job.src2 = &cv[0]
    job.p[0] = scalar
    run_job(&job, nthreads)


def fma_peak(threads=None, *, seconds=0.05, repeats=3):
    """The CPU's measured float32 FMA peak in GFLOP/s: independent fused
    multiply-add chains at the widest vector width the CPU has (AVX-512 zmm,
    else AVX2 ymm; ymm under ``THINC_FAST_ISA=avx2``), on `threads` threads at
    once (default: the kernels' thread count; 1 for one core), each running
    about `seconds`; the best of `repeats`. On several threads a run counts
    only once every thread has run its part at the same time (it took under
    1.5x a part's time on one thread): a VM may hold a vCPU back for a
    moment, and a worker that does not run leaves its part to the caller, so
    such a run measures one thread (a 2-vCPU Zen 3 VM read 98-115 GFLOP/s for
    2 threads at times, 167-196 at others, 94-100 for one). Up to 10 more
    runs are tried for one that does; without it, the best is returned as it is.
    Returns ``{"gflops", "threads", "width", "isa"}``; None on a CPU without
    AVX2/FMA or off x86-64 (nothing to measure it with here)."""
    cdef thf_job job
    cdef float sink = 0.0
    cdef int width
    cdef long iters
    cdef int n = num_threads() if threads is None else int(threads)
    cdef float* sinks
    flags = _blis_arch.usable_flags()  # THINC_FAST_ISA=avx2: the ymm peak
    if not THF_PEAK_X86:
        return None
    if {"avx512f"} <= flags:
        width, isa = 16, "AVX-512 (zmm)"
    elif {"avx2", "fma"} <= flags:
        width, isa = 8, "AVX2 (ymm)"
    else:
        return None
    if n < 1:
        raise ValueError(f"fma_peak: threads must be >= 1, got {n}")
    iters = 1 << 14
    while True:  # calibrate on one thread
        start = time.perf_counter()
        with nogil:
            if width == 16:
                thf_peak_zmm(iters, &sink)
            else:
                thf_peak_ymm(iters, &sink)
        took = time.perf_counter() - start
        if took > seconds / 8 or iters > (1 << 40):
            break
        iters *= 4
    iters = max(1, <long>(iters * seconds / max(took, 1e-9)))
    sinks = <float*>malloc(n * sizeof(float))
    if sinks == NULL:
        raise MemoryError("fma_peak: out of memory")
    job_init(&job, n)  # one unit per thread, all at once
    job.range = thf_job_peak
    job.nparts = n
    job.flag = width
    job.s0 = iters
    job.dst = sinks
    grow_pool(n)
    best = 0.0
    together = n == 1  # a run whose parts ran at the same time
    runs = 0
    try:
        while runs < max(1, repeats) or (not together and runs < max(1, repeats) + 10):
            start = time.perf_counter()
            with nogil:
                run_job_split(&job, n)
            took = time.perf_counter() - start
            runs += 1
            # a part takes `seconds` on one thread (calibrated above); a run whose
            # parts did not overlap took longer and rates lower, so max() keeps
            # the best run that did, once there is one
            together = together or took < 1.5 * seconds
            best = max(best, 2.0 * width * 12 * iters * n / took / 1e9)
    finally:
        free(sinks)
    return {"gflops": best, "threads": n, "width": width, "isa": isa}
