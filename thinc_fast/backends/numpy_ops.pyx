# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, embedsignature=True
"""NumpyOps: the CPU backend, with its kernels in Cython.

gemm goes through blis's Cython interface (any strides, transposes folded into
the strides, ``alpha``/``beta`` so gradients accumulate in place). The
memory-bound kernels (bias+ReLU, ReLU backward, softmax, column sums, the
gradient norm and the fused optimizer steps) take typed memoryviews, check
shapes once at the Python boundary, and run C loops from ``tf_loops.h`` with
the GIL released. Inputs the kernels do not cover (float64, odd layouts) fall
back to the reference implementations of :class:`Ops`.
"""
import os

import numpy

from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from blis.cy cimport gemm as blis_gemm, NO_TRANSPOSE

from .ops import Ops, _check_bias, _check_step_arrays

_F32 = numpy.dtype("float32")

# Work below these sizes runs on one thread: forking costs more than it saves.
cdef long GEMM_PARALLEL_MIN_FLOPS = 1 << 20
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


def set_num_threads(n):
    """Use `n` threads for the CPU kernels (gemm splits, fused optimizer steps).

    ``None`` restores the default: the number of CPUs in this process's
    affinity mask (``os.sched_getaffinity``)."""
    global _num_threads
    if n is None:
        n = default_num_threads()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int or None, got {n!r}")
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
    """sgemm split over `nthreads` threads by blocks of C's larger dimension,
    each block one single-threaded blis call on its own slice."""
    cdef Py_ssize_t size, nblocks, i, start, length
    if nthreads <= 1 or m * n * k < GEMM_PARALLEL_MIN_FLOPS:
        sgemm(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc)
        return
    if n >= m:
        size = _chunk(n, nthreads)
        nblocks = (n + size - 1) // size
        for i in prange(nblocks, num_threads=nthreads, schedule="static"):
            start = i * size
            length = min(size, n - start)
            sgemm(m, length, k, alpha, A, rsa, csa, B + start * csb, rsb, csb,
                  beta, C + start * csc, rsc, csc)
    else:
        size = _chunk(m, nthreads)
        nblocks = (m + size - 1) // size
        for i in prange(nblocks, num_threads=nthreads, schedule="static"):
            start = i * size
            length = min(size, m - start)
            sgemm(length, n, k, alpha, A + start * rsa, rsa, csa, B, rsb, csb,
                  beta, C + start * rsc, rsc, csc)


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
                     Py_ssize_t end, const tf_step* s, const Py_ssize_t* offs,
                     const float* scales, Py_ssize_t nseg) noexcept nogil:
    """tf_adam over [start, end); with segments, each piece takes its segment's
    gradient scale (per-tensor clipping)."""
    cdef tf_step local = s[0]
    cdef Py_ssize_t k, stop
    if offs == NULL:
        tf_adam(w + start, g + start, m + start, v + start,
                avg + start if avg != NULL else NULL, end - start, s)
        return
    k = _segment_at(offs, nseg, start)
    while start < end:
        stop = min(offs[k + 1], end)
        if stop > start:
            local.grad_scale = scales[k]
            tf_adam(w + start, g + start, m + start, v + start,
                    avg + start if avg != NULL else NULL, stop - start, &local)
        start = stop if stop > start else start
        k += 1


cdef void sgd_range(float* w, float* g, float* avg, Py_ssize_t start, Py_ssize_t end,
                    const tf_step* s, const Py_ssize_t* offs, const float* scales,
                    Py_ssize_t nseg) noexcept nogil:
    cdef tf_step local = s[0]
    cdef Py_ssize_t k, stop
    if offs == NULL:
        tf_sgd(w + start, g + start, avg + start if avg != NULL else NULL, end - start, s)
        return
    k = _segment_at(offs, nseg, start)
    while start < end:
        stop = min(offs[k + 1], end)
        if stop > start:
            local.grad_scale = scales[k]
            tf_sgd(w + start, g + start, avg + start if avg != NULL else NULL, stop - start,
                   &local)
        start = stop if stop > start else start
        k += 1


cdef void adam_parallel(float* w, float* g, float* m, float* v, float* avg, Py_ssize_t n,
                        const tf_step* s, const Py_ssize_t* offs, const float* scales,
                        Py_ssize_t nseg, int nthreads) noexcept nogil:
    cdef Py_ssize_t size, nblocks, i, start
    if nthreads <= 1 or n < STREAM_PARALLEL_MIN:
        adam_range(w, g, m, v, avg, 0, n, s, offs, scales, nseg)
        return
    size = _chunk(n, nthreads)
    nblocks = (n + size - 1) // size
    for i in prange(nblocks, num_threads=nthreads, schedule="static"):
        start = i * size
        adam_range(w, g, m, v, avg, start, min(start + size, n), s, offs, scales, nseg)


cdef void sgd_parallel(float* w, float* g, float* avg, Py_ssize_t n, const tf_step* s,
                       const Py_ssize_t* offs, const float* scales, Py_ssize_t nseg,
                       int nthreads) noexcept nogil:
    cdef Py_ssize_t size, nblocks, i, start
    if nthreads <= 1 or n < STREAM_PARALLEL_MIN:
        sgd_range(w, g, avg, 0, n, s, offs, scales, nseg)
        return
    size = _chunk(n, nthreads)
    nblocks = (n + size - 1) // size
    for i in prange(nblocks, num_threads=nthreads, schedule="static"):
        start = i * size
        sgd_range(w, g, avg, start, min(start + size, n), s, offs, scales, nseg)


cdef int segment_sumsq_parallel(const float* g, const float* w, float l2,
                                const Py_ssize_t* offs, Py_ssize_t nseg, double* out,
                                int nthreads) noexcept nogil:
    """out[k] = sum of squares of segment k, each summed over fixed blocks of
    SUMSQ_BLOCK values added in block order: the same totals for any thread
    count. The blocks of all segments run in one parallel loop. Returns -1
    when out of memory (nothing written), else 0."""
    cdef Py_ssize_t npieces = 0, k, j, p, start, length, total_n = offs[nseg]
    cdef Py_ssize_t* pstart
    cdef Py_ssize_t* plen
    cdef double* partial
    for k in range(nseg):
        npieces += (offs[k + 1] - offs[k] + SUMSQ_BLOCK - 1) // SUMSQ_BLOCK
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
            pstart[p] = start
            plen[p] = min(SUMSQ_BLOCK, offs[k + 1] - start)
            start += SUMSQ_BLOCK
            p += 1
    if nthreads <= 1 or total_n < STREAM_PARALLEL_MIN:
        nthreads = 1
    for j in prange(npieces, num_threads=nthreads, schedule="static"):
        partial[j] = tf_sumsq(g + pstart[j], w + pstart[j] if w != NULL else NULL, l2, plen[j])
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
    driver and its workers must agree on the clipping factor bit for bit)."""
    cdef Py_ssize_t nblocks = (n + SUMSQ_BLOCK - 1) // SUMSQ_BLOCK, i, start
    cdef double total = 0.0
    cdef double* partial
    if nblocks <= 1:
        return tf_sumsq(g, w, l2, n)
    partial = <double*>malloc(nblocks * sizeof(double))
    if partial == NULL:  # out of memory: one thread, same block order
        for i in range(nblocks):
            start = i * SUMSQ_BLOCK
            total += tf_sumsq(g + start, w + start if w != NULL else NULL, l2,
                              min(SUMSQ_BLOCK, n - start))
        return total
    if nthreads <= 1 or n < STREAM_PARALLEL_MIN:
        nthreads = 1
    for i in prange(nblocks, num_threads=nthreads, schedule="static"):
        start = i * SUMSQ_BLOCK
        partial[i] = tf_sumsq(g + start, w + start if w != NULL else NULL, l2,
                              min(SUMSQ_BLOCK, n - start))
    for i in range(nblocks):
        total += partial[i]
    free(partial)
    return total


cdef void sgemm(dim_t m, dim_t n, dim_t k, float alpha,
                const float* A, inc_t rsa, inc_t csa,
                const float* B, inc_t rsb, inc_t csb,
                float beta, float* C, inc_t rsc, inc_t csc) noexcept nogil:
    """C := alpha * A @ B + beta * C for strided float32 matrices (m x k, k x n)."""
    blis_gemm(NO_TRANSPOSE, NO_TRANSPOSE, m, n, k, alpha,
              <float*>A, rsa, csa, <float*>B, rsb, csb, beta, C, rsc, csc)


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


class NumpyOps(Ops):
    """CPU backend: blis gemm and fused Cython kernels over float32 arrays."""

    name = "numpy"
    xp = numpy

    def gemm(self, x, y, out=None, trans1=False, trans2=False, *, alpha=1.0, beta=0.0):
        """``out := alpha * op(x) @ op(y) + beta * out`` through blis (float32).

        ``op(a)`` is ``a.T`` when the matching flag is set; any positive row or
        column strides are used as they are, without a copy. Other dtypes use
        the reference implementation.
        """
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
        _gemm_call(m, n, k, alpha, x, rsa, csa, y, rsb, csb, beta, target, lc[0], lc[1],
                   _num_threads)
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
                tf_bias_add(&y[0, 0], &bv[0], y.shape[0], y.shape[1], y.shape[1])
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
                tf_bias_relu(&y[0, 0], &bv[0], y.shape[0], y.shape[1], y.shape[1])
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
                tf_relu_backward(&dx[0], &dy[0], &yv[0], dx.shape[0])
        return dX

    def softmax(self, X, inplace=False, axis=-1):
        """Row-wise numerically stable softmax of a 2d float32 array."""
        if not _is_f32(X) or X.ndim != 2 or axis not in (-1, 1) or not X.flags.c_contiguous:
            return Ops.softmax(self, X, inplace=inplace, axis=axis)
        Y = X if inplace else numpy.empty_like(X)
        cdef const float[:, ::1] x = X
        cdef float[:, ::1] y = Y
        if X.size:
            with nogil:
                tf_softmax_rows(&y[0, 0], &x[0, 0], x.shape[0], x.shape[1],
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
                tf_colsum_inc(&o[0], &x[0, 0], x.shape[0], x.shape[1], x.strides[0] // 4)
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
        cdef tf_step s
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
        cdef tf_step s
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
        with nogil:
            sgd_parallel(&w[0], &g[0], avg_p, w.shape[0], &s, offs_p, sc_p, nseg, nthreads)


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
            tf_triad(&av[start], &bv[start], &cv[start], sv, min(size, n - start))


def _gemm_call(dim_t m, dim_t n, dim_t k, float alpha,
               const float[:, :] a, inc_t rsa, inc_t csa,
               const float[:, :] b, inc_t rsb, inc_t csb,
               float beta, float[:, :] c, inc_t rsc, inc_t csc, int nthreads):
    cdef const float* pa = &a[0, 0]
    cdef const float* pb = &b[0, 0]
    cdef float* pc = &c[0, 0]
    with nogil:
        sgemm_parallel(m, n, k, alpha, pa, rsa, csa, pb, rsb, csb, beta, pc, rsc, csc, nthreads)


set_num_threads(None)
