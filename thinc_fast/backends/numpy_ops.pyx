# cython: language_level=3, boundscheck=False, wraparound=False
# cython: cdivision=True, initializedcheck=False, embedsignature=True
"""NumpyOps: the CPU backend, over the kernel engines beside it.

The engines, one module each (as Thinc keeps ``cblas.pyx`` apart): ``gemm``
(the thread count, the worker pool, the blis driver, the reused-output cache),
``stream_kernels`` (the fused optimizer steps, the gradient norms, the
bandwidth and FMA probes) and ``seq_kernels`` (sequences, hashing, embeddings,
activations). Every loop that runs on several threads is a ``thf_job``
(src/include/pool_job.h) on the one worker pool of ``gemm``.

gemm goes through blis (any strides, transposes folded into the strides,
``alpha``/``beta`` so gradients accumulate in place). The memory-bound
kernels (bias+ReLU, ReLU backward, softmax, column sums, the gradient norm
and the fused optimizer steps) read the arrays' headers through NumPy's C API
(``arrays.pxd``: no buffer requests, which cost more than the loop itself
at the sizes of a small batch), check shapes once at the Python boundary,
and run C loops from ``stream_loops.h`` with the GIL released. Inputs the
kernels do not cover (float64, odd layouts) fall back
to the reference implementations of :class:`Ops`.

The engines' public names are importable from here too, as before the split
(``set_gemm_options``, ``gemm_config``, ``fma_peak``, ``stream_triad``, ...).
"""
import inspect

import numpy

cimport numpy as cnp

from .arrays cimport dim, f32_c, f32_data, f32_empty_like, f32_native, size, writable

from .loops cimport (THF_ACT_CLIPPED_LINEAR, THF_ACT_DISH, THF_ACT_GELU, THF_ACT_GELU_APPROX,
                     THF_ACT_HARD_SWISH, THF_ACT_HARD_SWISH_MOBILENET, THF_ACT_MISH,
                     THF_ACT_SIGMOID, THF_ACT_SWISH, thf_bias_add, thf_bias_relu,
                     thf_colsum_inc, thf_relu_backward, thf_softmax_rows)
from libc.stdint cimport uint32_t

from .gemm cimport gemm_fast

from . import stream_kernels
from .gemm import aligned_empty, blis_layout, gemm_call, reused_empty
from .kernel_args import (backprop_lengths, check_bias, check_same_shape, check_seed,
                          check_window, hash_ids, offsets_from_lengths, reduce_offsets,
                          seq2col_offsets)
from .ops import Ops
from .seq_kernels import (act_backward, act_forward, bmaxout_f32, bmaxout_into, breduce_max_into,
                          breduce_sum_f32, breduce_sum_into, bseq2col_into, check_index_run, gather_add_into,
                          hash_into, index_array, lengths_offsets, maxout_f32, maxout_into,
                          ngrams_into, reduce_max_into, reduce_sum_f32, reduce_sum_into,
                          scatter_add_into, seq2col_into)

# The engines' Python-visible names, importable from here as before the split.
from .gemm import (MAX_THREADS_PER_CPU, _gemm_kind, _gemm_plan, _hog_seen, _is_thin,  # noqa: F401
                   _pool_pick, _pool_run_counted, _spin_budget_us, _split_helped,
                   _split_record, _split_settle, _split_update, _split_way,
                   _step_clock_capped_after, _step_clock_force_one, _step_clock_trace,
                   _vector_isa, array_cache_info,
                   default_num_threads, gemm_config, gemm_options, get_num_threads,
                   set_array_cache, set_gemm_options, set_num_threads, split_stats, step_tick,
                   thinc_cblas_sgemm_address)
from .seq_kernels import _set_seq_min_work  # noqa: F401
from .stream_kernels import fma_peak, stream_triad  # noqa: F401

_F32 = numpy.dtype("float32")
_F64 = numpy.dtype("float64")


cdef inline bint _is_f32(arr):
    return getattr(arr, "dtype", None) == _F32 and isinstance(arr, numpy.ndarray)


cdef inline bint _is_real(arr):
    """A float32 or float64 NumPy array in native byte order."""
    return isinstance(arr, numpy.ndarray) and (arr.dtype == _F32 or arr.dtype == _F64)


cdef object _bias_rows(X, b, bint inplace, bint relu):
    """bias_add / bias_relu on a C-contiguous 2d float32 `X` and a float32 `b`:
    ``X + b`` (then ``max(., 0)``) row by row, into `X` when `inplace`."""
    cdef Py_ssize_t nr = dim(X, 0), nc = dim(X, 1)
    if cnp.PyArray_NDIM(<cnp.ndarray>b) != 1 or dim(b, 0) != nc:
        check_bias(X, b)
    if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>b):
        b = numpy.ascontiguousarray(b)
    if inplace and not writable(X):
        raise ValueError(f"{'bias_relu' if relu else 'bias_add'}(inplace=True): the array of "
                         f"shape {X.shape} is read-only; pass inplace=False for a new array")
    Y = X if inplace else X.copy()
    cdef float* y = f32_data(Y)
    cdef const float* bv = f32_data(b)
    if nr and nc:
        with nogil:
            if relu:
                thf_bias_relu(y, bv, nr, nc, nc)
            else:
                thf_bias_add(y, bv, nr, nc, nc)
    return Y


class NumpyOps(Ops):
    """CPU backend: blis gemm and fused Cython kernels over float32 arrays."""

    name = "numpy"
    xp = numpy
    # how the kernels below allocate their outputs (the Thinc backend's instance
    # takes reused_empty): on 64-byte boundaries, as alloc's arrays, so that the
    # next product reads whole cache lines (gemm.aligned_empty)
    _empty = staticmethod(aligned_empty)

    def _new_array(self, shape, dtype, zeros):
        return aligned_empty(shape, dtype, zeros)

    def cblas(self):
        """A new ``thinc.backends.cblas.CBlas`` (Thinc's table of C BLAS
        functions, for Cython code compiled against Thinc, as Thinc's
        ``NumpyOps.cblas()`` returns) whose sgemm is this module's gemm: blis
        with the kernel chosen per shape, split over the threads. Needs Thinc
        (8.3 or 9.1) installed; raises NotImplementedError without it."""
        try:
            from thinc.backends.cblas import CBlas
        except ImportError as exc:
            raise NotImplementedError(
                "NumpyOps.cblas() returns Thinc's CBlas, a Cython type for code compiled "
                f"against Thinc, and Thinc cannot be imported here ({exc}): "
                "pip install 'thinc>=8.3,<9.2'") from exc
        from .thinc_backend import with_our_sgemm

        return with_our_sgemm(CBlas())

    def gemm(self, x, y, out=None, trans1=False, trans2=False, *, alpha=1.0, beta=0.0):
        """``out := alpha * op(x) @ op(y) + beta * out`` through blis (float32).

        ``op(a)`` is ``a.T`` when the matching flag is set; any positive row or
        column strides are used as they are, without a copy. Other dtypes use
        the reference implementation.
        """
        result = gemm_fast(x, y, out, trans1, trans2, alpha, beta)
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
        la = blis_layout(x)
        if la is None:
            x = numpy.ascontiguousarray(x)
            la = blis_layout(x)
        lb = blis_layout(y)
        if lb is None:
            y = numpy.ascontiguousarray(y)
            lb = blis_layout(y)
        target = out
        lc = blis_layout(out)
        if lc is None:
            target = numpy.ascontiguousarray(out)
            lc = blis_layout(target)
        rsa, csa = (la[1], la[0]) if trans1 else la
        rsb, csb = (lb[1], lb[0]) if trans2 else lb
        gemm_call(m, n, k, alpha, x, rsa, csa, y, rsb, csb, beta, target, lc[0], lc[1])
        if target is not out:
            out[...] = target
        return out

    def bias_add(self, X, b, *, inplace=False):
        """``X + b`` with `b` broadcast over rows (fused, in one pass)."""
        if not (f32_c(X, 2) and f32_native(b)):
            return Ops.bias_add(self, X, b, inplace=inplace)
        return _bias_rows(X, b, inplace, False)

    def bias_relu(self, X, b, *, inplace=False):
        """Fused ``max(X + b, 0)`` in one pass over memory."""
        if not (f32_c(X, 2) and f32_native(b)):
            return Ops.bias_relu(self, X, b, inplace=inplace)
        return _bias_rows(X, b, inplace, True)

    def backprop_relu(self, dY, Y, inplace=False):
        """``dX = dY * (Y > 0)`` in one pass."""
        if not (f32_native(dY) and f32_native(Y)):
            return Ops.backprop_relu(self, dY, Y, inplace=inplace)
        if dY.shape != Y.shape:
            raise ValueError(f"backprop_relu: dY has shape {dY.shape} but Y has {Y.shape}")
        dY_c = dY if cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>dY) else numpy.ascontiguousarray(dY)
        Y_c = Y if cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>Y) else numpy.ascontiguousarray(Y)
        in_place = inplace and dY_c is dY and writable(dY)
        dX = dY_c if in_place else f32_empty_like(dY_c)
        cdef float* dx = f32_data(dX)
        cdef const float* dy = f32_data(dY_c)
        cdef const float* yv = f32_data(Y_c)
        cdef Py_ssize_t n = size(dX)
        if n:
            with nogil:
                thf_relu_backward(dx, dy, yv, n)
        return dX

    def softmax(self, X, inplace=False, axis=-1, temperature=1.0):
        """Row-wise numerically stable softmax of a 2d float32 array (of ``X / temperature``)."""
        if not f32_c(X, 2) or axis not in (-1, 1):
            return Ops.softmax(self, X, inplace=inplace, axis=axis, temperature=temperature)
        in_place = inplace and writable(X)  # a read-only X: the result in a new array
        if temperature != 1.0:
            X = numpy.divide(X, temperature, out=X) if in_place else X / temperature
            in_place = True
        Y = X if in_place else f32_empty_like(X)
        cdef Py_ssize_t nr = dim(X, 0), nc = dim(X, 1)
        cdef const float* x = f32_data(X)
        cdef float* y = f32_data(Y)
        if nr and nc:
            with nogil:
                thf_softmax_rows(y, x, nr, nc, nc, nc)
        return Y

    def inc_col_sums(self, X, out):
        """``out += X.sum(axis=0)`` in one pass over `X`."""
        if not (f32_native(X) and f32_native(out)) or cnp.PyArray_NDIM(<cnp.ndarray>X) != 2 \
                or cnp.PyArray_STRIDE(<cnp.ndarray>X, 1) != 4 \
                or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>out):
            return Ops.inc_col_sums(self, X, out)
        if cnp.PyArray_NDIM(<cnp.ndarray>out) != 1 or dim(out, 0) != dim(X, 1):
            raise ValueError(f"inc_col_sums: cannot add column sums of {X.shape} into {out.shape}")
        if not writable(out):
            raise ValueError(f"inc_col_sums: `out` (shape {out.shape}) is read-only")
        cdef Py_ssize_t nr = dim(X, 0), nc = dim(X, 1)
        cdef Py_ssize_t ld = cnp.PyArray_STRIDE(<cnp.ndarray>X, 0) // 4
        cdef float* o = f32_data(out)
        cdef const float* x = f32_data(X)
        if nr and nc:
            with nogil:
                thf_colsum_inc(o, x, nr, nc, ld)
        return out

    def sum_of_squares(self, gradient, weights=None, l2=0.0):
        """``sum((gradient + l2 * weights) ** 2)``, one read-only pass, float64 total."""
        return stream_kernels.sum_of_squares(self, gradient, weights, l2)

    def segment_sum_of_squares(self, gradient, weights=None, l2=0.0, segments=None):
        """Per-segment ``sum((gradient + l2 * weights) ** 2)`` over the 1d arrays,
        segment k being ``[segments[k], segments[k + 1])``: float64 totals, one
        read-only pass, the same for any thread count."""
        return stream_kernels.segment_sum_of_squares(self, gradient, weights, l2, segments)

    # The fused optimizer steps, defined with their engine (stream_kernels.pyx):
    # the record of scalars becomes the C kernel's thf_step in one place there.
    adam_step = stream_kernels.adam_step
    sgd_step = stream_kernels.sgd_step

    # ------------------------------------- sequences, hashing, embeddings
    # Each method checks its arguments with the checks of kernel_args.py (the
    # same errors as the reference), then runs a runner of seq_kernels.pyx (a
    # loop of seq_loops.h on the pool). Arrays the loops do not cover (other
    # dtypes, CuPy arrays) take the reference implementation of Ops.
    def hash(self, ids, seed):
        """MurmurHash3 (x64, 128 bits) of each uint64 id: a (len(ids), 4) uint32
        array with Thinc's values; see :meth:`Ops.hash`."""
        keys = numpy.ascontiguousarray(hash_ids(self, ids))
        cdef uint32_t s = check_seed(seed)
        out = numpy.empty((keys.shape[0], 4), dtype=numpy.uint32)
        if keys.shape[0]:
            hash_into(out, keys, s)
        return out

    def ngrams(self, n, keys):
        """One uint64 hash per window of `n` keys (Thinc's values); see :meth:`Ops.ngrams`."""
        k = numpy.ascontiguousarray(hash_ids(self, keys))
        cdef int width = int(n)
        cdef Py_ssize_t nout = max(0, k.shape[0] - width + 1) if width >= 1 else 0
        out = numpy.empty((nout,), dtype=numpy.uint64)
        if nout:
            ngrams_into(out, k, width)
        return out

    def seq2col(self, seq, nW, *, lengths=None):
        """Each row with its `nW` neighbours on either side, within its
        sequence; see :meth:`Ops.seq2col`. Any dtype (the rows are copied)."""
        if not isinstance(seq, numpy.ndarray) or seq.ndim != 2:
            return Ops.seq2col(self, seq, nW, lengths=lengths)
        nW = check_window("seq2col", nW)
        seq = numpy.ascontiguousarray(seq)
        offsets = lengths_offsets(lengths, seq.shape[0], 0, 1)
        if offsets is None:
            offsets = seq2col_offsets("seq2col", self, lengths, seq.shape[0])
        cols = self._empty((seq.shape[0], (2 * nW + 1) * seq.shape[1]), dtype=seq.dtype)
        if cols.size:
            seq2col_into(cols.reshape(-1).view(numpy.uint8), seq.reshape(-1).view(numpy.uint8),
                         offsets, nW, seq.shape[1] * seq.dtype.itemsize,
                         seq.shape[0], cols.shape[1])
        return cols

    def backprop_seq2col(self, dY, nW, *, lengths=None):
        """The gradient of :meth:`seq2col`; see :meth:`Ops.backprop_seq2col`."""
        if not _is_real(dY) or dY.ndim != 2:
            return Ops.backprop_seq2col(self, dY, nW, lengths=lengths)
        nW = check_window("backprop_seq2col", nW)
        nF = 2 * nW + 1
        if dY.shape[1] % nF:
            raise ValueError(f"backprop_seq2col: expected a 2d array of {nF} blocks per row "
                             f"(nW={nW}), got shape {dY.shape}")
        dY = numpy.ascontiguousarray(dY)
        offsets = lengths_offsets(lengths, dY.shape[0], 0, 1)
        if offsets is None:
            offsets = seq2col_offsets("backprop_seq2col", self, lengths, dY.shape[0])
        dX = self._empty((dY.shape[0], dY.shape[1] // nF), dtype=dY.dtype)
        if dX.size:
            bseq2col_into(dX, dY, offsets, nW)
        return dX

    def reduce_sum(self, X, lengths):
        """Per-sequence sums of the rows of `X`; see :meth:`Ops.reduce_sum`."""
        return self._reduce_sum_mean("reduce_sum", X, lengths, 0)

    def reduce_mean(self, X, lengths):
        """Per-sequence means of the rows of `X`; see :meth:`Ops.reduce_mean`."""
        return self._reduce_sum_mean("reduce_mean", X, lengths, 1)

    def _reduce_sum_mean(self, method, X, lengths, int mean):
        result = reduce_sum_f32(X, lengths, mean, 0, self._empty)  # float32, int32 lengths
        if result is not None:
            return result
        if not _is_real(X) or X.ndim != 2:
            return getattr(Ops, method)(self, X, lengths)
        offsets = lengths_offsets(lengths, X.shape[0], 0, 0)
        if offsets is None:
            offsets = reduce_offsets(method, self, X, lengths, min_length=0)
        out = self._empty((offsets.shape[0] - 1, X.shape[1]), dtype=X.dtype)
        if out.size:
            X = numpy.ascontiguousarray(X)
            reduce_sum_into(out, X, offsets, mean)
        return out

    def reduce_max(self, X, lengths):
        """``(maxes, which)`` per sequence; see :meth:`Ops.reduce_max`."""
        if not _is_real(X) or X.ndim != 2:
            return Ops.reduce_max(self, X, lengths)
        offsets = lengths_offsets(lengths, X.shape[0], 1, 0)
        if offsets is None:
            offsets = reduce_offsets("reduce_max", self, X, lengths, min_length=1)
        out = self._empty((offsets.shape[0] - 1, X.shape[1]), dtype=X.dtype)
        which = numpy.zeros((offsets.shape[0] - 1, X.shape[1]), dtype=numpy.int32)
        if out.size:
            X = numpy.ascontiguousarray(X)
            reduce_max_into(out, which, X, offsets)
        return out, which

    def backprop_reduce_sum(self, d_sums, lengths):
        """The gradient of :meth:`reduce_sum`; see :meth:`Ops.backprop_reduce_sum`."""
        return self._backprop_sum_mean("backprop_reduce_sum", d_sums, lengths, 0)

    def backprop_reduce_mean(self, d_means, lengths):
        """The gradient of :meth:`reduce_mean`; see :meth:`Ops.backprop_reduce_mean`."""
        return self._backprop_sum_mean("backprop_reduce_mean", d_means, lengths, 1)

    def _backprop_sum_mean(self, method, d, lengths, int mean):
        result = breduce_sum_f32(d, lengths, mean, self._empty)  # float32, int32 lengths
        if result is not None:
            return result
        if not _is_real(d):
            return getattr(Ops, method)(self, d, lengths)
        offsets = lengths_offsets(lengths, 0, 0, 2) if d.ndim == 2 else None
        if offsets is None or offsets.shape[0] - 1 != d.shape[0]:
            offsets = offsets_from_lengths(backprop_lengths(method, self, d, lengths, min_length=0))
        dX = self._empty((int(offsets[offsets.shape[0] - 1]), d.shape[1]), dtype=d.dtype)
        if dX.size:
            d = numpy.ascontiguousarray(d)
            breduce_sum_into(dX, d, offsets, mean)
        return dX

    def backprop_reduce_max(self, d_maxes, which, lengths):
        """The gradient of :meth:`reduce_max`; see :meth:`Ops.backprop_reduce_max`."""
        if not _is_real(d_maxes) or not isinstance(which, numpy.ndarray):
            return Ops.backprop_reduce_max(self, d_maxes, which, lengths)
        offsets = lengths_offsets(lengths, 0, 1, 2) if d_maxes.ndim == 2 else None
        if offsets is None or offsets.shape[0] - 1 != d_maxes.shape[0]:
            offsets = offsets_from_lengths(backprop_lengths("backprop_reduce_max", self, d_maxes, lengths,
                                                 min_length=1))
        lens = numpy.diff(offsets)
        if which.shape != d_maxes.shape:
            raise ValueError(f"backprop_reduce_max: which has shape {which.shape}, d_maxes "
                             f"{d_maxes.shape}")
        if which.size and bool(((which < 0) | (which >= lens[:, None])).any()):
            raise IndexError("backprop_reduce_max: which holds a row outside its sequence")
        dX = self._empty((int(offsets[offsets.shape[0] - 1]), d_maxes.shape[1]),
                         dtype=d_maxes.dtype)
        if dX.size:
            d_maxes = numpy.ascontiguousarray(d_maxes)
            which = numpy.ascontiguousarray(which, dtype=numpy.int32)
            breduce_max_into(dX, d_maxes, which, offsets)
        return dX

    def gather_add(self, table, indices):
        """``out[i] = sum_j table[indices[i, j]]``; see :meth:`Ops.gather_add`."""
        if (not _is_real(table) or table.ndim != 2 or not table.flags.c_contiguous
                or not isinstance(indices, numpy.ndarray) or indices.ndim != 2
                or indices.dtype.kind not in "iu"):
            return Ops.gather_add(self, table, indices)
        idx = index_array(indices)
        check_index_run(idx.reshape(-1), table.shape[0], "gather_add")
        out = self._empty((idx.shape[0], table.shape[1]), dtype=table.dtype)
        if out.size:
            if idx.shape[1] == 0:
                out.fill(0)
            else:
                gather_add_into(out, table, idx)
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
        idx = index_array(indices).reshape(-1)
        check_index_run(idx, table.shape[0], "scatter_add")
        if idx.shape[0] and table.shape[1]:
            values = numpy.ascontiguousarray(values).reshape(-1, table.shape[1])
            scatter_add_into(table, idx, values, vdiv)
        return table

    def maxout(self, X):
        """Max over the last axis: ``(best, which)``; see :meth:`Ops.maxout`."""
        result = maxout_f32(X, self._empty)  # float32 C-ordered: no buffers taken
        if result is not None:
            return result
        if not _is_real(X) or X.ndim < 1 or X.shape[X.ndim - 1] == 0:
            return Ops.maxout(self, X)
        X = numpy.ascontiguousarray(X)
        best = self._empty(X.shape[:X.ndim - 1], dtype=X.dtype)
        which = self._empty(X.shape[:X.ndim - 1], dtype=numpy.int32)
        if best.size:
            maxout_into(best.reshape(-1), which.reshape(-1), X.reshape(-1),
                        X.shape[X.ndim - 1])
        return best, which

    def backprop_maxout(self, dY, which, P):
        """Scatter `dY` back to the winning pieces; see :meth:`Ops.backprop_maxout`."""
        if isinstance(P, int):  # float32 dY, int32 which, both C-ordered: checked in C
            result = bmaxout_f32(dY, which, P, self._empty)
            if result is not None:
                return result
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
            bmaxout_into(dX.reshape(-1), dY.reshape(-1), which.reshape(-1), pieces)
        return dX


# ------------------------------------------------------------ activations
# One row per activation: float32 C-contiguous NumPy arrays run the fused
# loops of seq_loops.h (exp computed inline, so they vectorise), anything
# else the reference of Ops. Each method takes the signature of the Ops
# method of its name (Thinc's); the row gives the loop, the docstrings, and
# the loop parameters as expressions of the method's parameters (``p`` of
# thf_act_forward / thf_act_backward; unused ones 0).
#   name: (kind, forward parameters, gradient parameters, forward doc, gradient doc)
_ACTIVATIONS = {
    "sigmoid": (THF_ACT_SIGMOID, (), (),
                "``1 / (1 + exp(-X))``, X clipped to [-20, 20]", "``dY * Y * (1 - Y)``"),
    "swish": (THF_ACT_SWISH, (), (), "``X * sigmoid(X)``", None),
    "gelu": (THF_ACT_GELU, (), (), "``X * Phi(X)``", None),
    "gelu_approx": (THF_ACT_GELU_APPROX, (), (), "The tanh approximation of GELU", None),
    "mish": (THF_ACT_MISH, ("threshold",), ("threshold",),
             "``X * tanh(softplus(X))``, X from `threshold` on", None),
    "dish": (THF_ACT_DISH, (), (), "``0.5 X (1 + X / sqrt(1 + X^2))``", None),
    "clipped_linear": (THF_ACT_CLIPPED_LINEAR, ("slope", "offset", "min_val", "max_val"),
                       ("slope", "(min_val - offset) / slope", "(max_val - offset) / slope"),
                       "``clip(X * slope + offset, min_val, max_val)`` (relu_k, hard_sigmoid "
                       "and hard_tanh go through it)", None),
    "hard_swish": (THF_ACT_HARD_SWISH, (), (), "``X * hard_sigmoid(X)``", None),
    "hard_swish_mobilenet": (THF_ACT_HARD_SWISH_MOBILENET, (), (), "``X * relu6(X + 3) / 6``",
                             None),
}

_FORWARD = """def {name}{signature}:
    Y = act_forward(X, inplace, {kind}, {params})
    return Ops.{name}(self, X, {passed}) if Y is None else Y
"""
_BACKWARD = """def {name}{signature}:
    check_same_shape("{name}", {shapes})
    dX = act_backward(dY, {first}, {second}, inplace, {kind}, {params})
    return Ops.{name}(self, dY, {passed}) if dX is None else dX
"""


def _activation(name, template, kind, params, nparams, doc):
    """A NumpyOps method `name` from its row: the loop `kind` with `params`
    (padded to `nparams`) for float32 C-contiguous arrays, Ops's otherwise."""
    signature = inspect.signature(getattr(Ops, name))
    names = list(signature.parameters)
    arrays = [n for n in names[1:] if signature.parameters[n].default is inspect.Parameter.empty]
    passed = ", ".join(f"{n}={n}" for n in names[2:])  # after self and X (dY)
    source = template.format(
        name=name, signature=str(signature), kind=kind,
        params=", ".join(list(params) + ["0.0"] * (nparams - len(params))),
        shapes=", ".join(f"{n}={n}" for n in arrays),
        first=arrays[1] if len(arrays) > 1 else "None",
        second=arrays[2] if len(arrays) > 2 else "None",
        passed=passed)
    namespace = {"Ops": Ops, "act_forward": act_forward, "act_backward": act_backward,
                 "check_same_shape": check_same_shape}
    exec(source, namespace)
    method = namespace[name]
    method.__module__ = __name__
    method.__qualname__ = f"NumpyOps.{name}"
    method.__doc__ = doc
    return method


for _name, (_kind, _fparams, _bparams, _fdoc, _bdoc) in _ACTIVATIONS.items():
    setattr(NumpyOps, _name, _activation(
        _name, _FORWARD, _kind, _fparams, 4, f"{_fdoc}; see :meth:`Ops.{_name}`."))
    setattr(NumpyOps, f"backprop_{_name}", _activation(
        f"backprop_{_name}", _BACKWARD, _kind, _bparams, 3,
        f"{_bdoc or f'The gradient of :meth:`{_name}`'}; see :meth:`Ops.backprop_{_name}`."))
del _name, _kind, _fparams, _bparams, _fdoc, _bdoc


class ReusingNumpyOps(NumpyOps):
    """NumpyOps whose large outputs come from the reuse cache (:func:`reused_empty`):
    for callers that make many short-lived large outputs, as the Thinc backend."""

    _empty = staticmethod(reused_empty)
