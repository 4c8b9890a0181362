"""CupyOps: the GPU backend, with the same interface as NumpyOps.

gemm goes through CuPy (cuBLAS). The RawKernels of ``src/cuda/kernels.cu``
serve bias_add, bias_relu, backprop_relu, softmax, inc_col_sums,
sum_of_squares, the fused optimizer steps (adam_step, sgd_step), hash,
seq2col and its gradient, gather_add, and the reduce_sum/mean/max family with
their gradients. segment_sum_of_squares is CuPy reductions; scatter_add is
``cupyx.scatter_add`` after a bounds check. Everything else (the activations,
maxout, ngrams, the LSTM, ...) is the reference of :class:`Ops` computing
with CuPy arrays.

The fused optimizer step is one kernel launch over the whole device-side
parameter arena, after one reduction for the gradient norm; the step's
scalars reach the kernel from one KernelScalars record (``_step_kernel``).
"""
from __future__ import annotations  # annotations as in ops.py (Thinc's consistency test)

import types
from typing import Any, Optional

import numpy

from ._cuda import get_kernel, launch_shape
from .kernel_args import (KernelScalars, backprop_lengths, check_bias, check_indices,
                          check_scalars, check_seed, check_step_arrays, check_window, hash_ids,
                          host_ints, offsets_from_lengths, reduce_offsets, seq2col_offsets)
from .ops import Ops

try:  # pragma: no cover - exercised on GPU machines only
    import cupy
except ImportError:  # pragma: no cover
    cupy = None


class GPUUnavailableError(RuntimeError):
    """CuPy is not installed, or it finds no CUDA device."""


def gpu_status() -> Optional[str]:
    """None when a GPU is usable, else why not."""
    if cupy is None:
        return ("CuPy is not installed: pip install 'cupy-cuda12x>=13.0' (CUDA 12; "
                "'cupy-cuda13x>=14.0' for CUDA 13: thinc_fast's [cuda12x] and [cuda13x] extras) "
                "on a machine with an NVIDIA GPU")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDARuntimeError and friends
        return f"CuPy found no usable CUDA device ({err})"
    if count < 1:
        return "CuPy found no CUDA device"
    return None


class _UnusableCupyOps:
    """What ``CupyOps()`` is where no GPU can be used: it says what it is, and
    any computation raises GPUUnavailableError with the reason."""

    _ALLOWED = frozenset({"name", "device_type", "device_id", "_problem", "__class__",
                          "__repr__", "__dict__"})

    def __getattribute__(self, attr: str) -> Any:
        if attr in _UnusableCupyOps._ALLOWED:
            return object.__getattribute__(self, attr)
        problem = object.__getattribute__(self, "_problem")
        raise GPUUnavailableError(f"CupyOps cannot run here ({attr} was used): {problem}")

    def __repr__(self) -> str:
        return f"<CupyOps without a GPU: {object.__getattribute__(self, '_problem')}>"


def _f32(arr: Any) -> bool:
    return cupy is not None and isinstance(arr, cupy.ndarray) and arr.dtype == numpy.float32


def _cublas() -> Any:
    """``cupy.cublas``, which ``import cupy`` does not import (None if missing)."""
    try:
        import cupy.cublas as cublas
    except ImportError:  # pragma: no cover - every CuPy >= 13 has it
        return None
    return cublas


class CupyOps(Ops):  # pragma: no cover - needs a GPU
    """GPU backend: cuBLAS gemm and fused RawKernels over float32 device arrays."""

    name = "cupy"

    def __init__(self, device_type: str = "gpu", device_id: Optional[int] = None,
                 **kwargs: Any) -> None:
        """Thinc's ``CupyOps(device_type="gpu", device_id=0)``; `device_id` None
        means the current device. Raises GPUUnavailableError without CuPy or a GPU."""
        if isinstance(device_type, types.ModuleType):  # Thinc's Ops(xp) form
            if cupy is None or device_type is not cupy:
                raise ValueError(f"CupyOps computes with cupy, not {device_type.__name__} "
                                 f"(argument 'device_type')")
            device_type = "gpu"
        problem = gpu_status()
        if problem is not None:
            # As Thinc, the object can be made without a GPU (get_ops("cupy"),
            # use_ops("cupy")); using it raises GPUUnavailableError saying why.
            self.device_type = device_type
            self.device_id = 0 if device_id is None else device_id
            self.__class__ = _UnusableCupyOps
            self._problem = problem
            return
        super().__init__(device_type, cupy.cuda.Device().id if device_id is None else device_id,
                         **kwargs)
        self.xp = cupy

    def to_numpy(self, data: Any, *, byte_order: Optional[str] = None):
        if isinstance(data, cupy.ndarray):
            data = cupy.asnumpy(data)
        return Ops.to_numpy(self, data, byte_order=byte_order)

    def asarray(self, data: Any, dtype: Any = None):
        return cupy.asarray(data, dtype=dtype)

    def gemm(self, x, y, out=None, trans1=False, trans2=False, *, alpha=1.0, beta=0.0):
        """``out := alpha * op(x) @ op(y) + beta * out`` through cuBLAS; `out` is
        not read when ``beta == 0`` (NaN there does not leak into the result)."""
        a, b, out = self._gemm_operands(x, y, out, trans1, trans2, beta)
        if alpha == 1.0 and beta == 0.0:
            cupy.matmul(a, b, out=out)
            return out
        cublas = _cublas()
        if (cublas is not None and out.flags.c_contiguous and out.dtype == numpy.float32
                and x.dtype == numpy.float32 and y.dtype == numpy.float32):
            cublas.gemm("T" if trans1 else "N", "T" if trans2 else "N", x, y, out=out,
                        alpha=alpha, beta=beta)
            return out
        prod = cupy.matmul(a, b)
        if beta == 0.0:
            out[...] = prod * alpha if alpha != 1.0 else prod
        else:
            out *= beta
            out += alpha * prod
        return out

    def _elementwise_ok(self, *arrays: Any) -> bool:
        return all(_f32(a) and a.flags.c_contiguous for a in arrays)

    def _bias_kernel(self, kernel: str, fallback: Any, X, b, inplace: bool):
        if not self._elementwise_ok(X, b) or X.ndim != 2:
            return fallback(self, X, b, inplace=inplace)
        check_bias(X, b)
        Y = X if inplace else X.copy()
        grid, block = launch_shape(Y.size)
        get_kernel(kernel)(grid, block, (Y, b, numpy.int64(Y.shape[0]), numpy.int64(Y.shape[1])))
        return Y

    def bias_add(self, X, b, *, inplace=False):
        """``X + b`` over rows, one kernel launch."""
        return self._bias_kernel("thf_bias_add", Ops.bias_add, X, b, inplace)

    def bias_relu(self, X, b, *, inplace=False):
        """Fused ``max(X + b, 0)``, one kernel launch."""
        return self._bias_kernel("thf_bias_relu", Ops.bias_relu, X, b, inplace)

    def backprop_relu(self, dY, Y, inplace=False):
        if dY.shape != Y.shape:
            raise ValueError(f"backprop_relu: dY has shape {dY.shape} but Y has {Y.shape}")
        if not self._elementwise_ok(dY, Y):
            return Ops.backprop_relu(self, dY, Y, inplace=inplace)
        dX = dY if inplace else cupy.empty_like(dY)
        grid, block = launch_shape(dY.size)
        get_kernel("thf_relu_backward")(grid, block, (dX, dY, Y, numpy.int64(dY.size)))
        return dX

    def softmax(self, X, inplace=False, axis=-1, temperature=1.0):
        if not self._elementwise_ok(X) or X.ndim != 2 or axis not in (-1, 1):
            return Ops.softmax(self, X, inplace=inplace, axis=axis, temperature=temperature)
        if temperature != 1.0:
            X = X / temperature if not inplace else cupy.divide(X, temperature, out=X)
            inplace = True
        Y = X if inplace else cupy.empty_like(X)
        threads = 1
        while threads < min(X.shape[1], 256):
            threads *= 2
        blocks = max(1, min(X.shape[0], 65535))
        get_kernel("thf_softmax_rows")((blocks,), (threads,),
                                      (Y, X, numpy.int64(X.shape[0]), numpy.int64(X.shape[1])),
                                      shared_mem=threads * 4)
        return Y

    def inc_col_sums(self, X, out):
        if not self._elementwise_ok(X, out) or X.ndim != 2:
            return Ops.inc_col_sums(self, X, out)
        if out.shape != (X.shape[1],):
            raise ValueError(f"inc_col_sums: cannot add column sums of {X.shape} into {out.shape}")
        grid, block = launch_shape(X.shape[1])
        get_kernel("thf_colsum_inc")(grid, block, (out, X, numpy.int64(X.shape[0]), numpy.int64(X.shape[1])))
        return out

    def sum_of_squares(self, gradient, weights=None, l2=0.0):
        use_w = weights is not None and l2 != 0.0
        if not self._elementwise_ok(gradient, *( [weights] if use_w else [])):
            return Ops.sum_of_squares(self, gradient, weights, l2)
        n = gradient.size
        grid, block = launch_shape(n, threads=256, max_blocks=1024)
        partial = cupy.zeros(grid[0], dtype=numpy.float64)
        w = weights if use_w else gradient
        get_kernel("thf_sumsq")(grid, block, (gradient, w, numpy.float32(l2 if use_w else 0.0),
                                             numpy.int64(n), partial))
        return float(partial.sum())

    def segment_sum_of_squares(self, gradient, weights=None, l2=0.0, segments=None):
        """Per-segment ``sum((gradient + l2 * weights) ** 2)`` (float64), each
        segment reduced on its own: a NaN in one tensor leaves the others' norms
        finite, as in :meth:`Ops.segment_sum_of_squares`. The sum ``g + l2 w``
        is float32, as in :meth:`sum_of_squares`'s kernel."""
        use_w = weights is not None and l2 != 0.0
        if not self._elementwise_ok(gradient, *([weights] if use_w else [])):
            return Ops.segment_sum_of_squares(self, gradient, weights, l2, segments)
        offsets = host_ints("segment_sum_of_squares", self, segments, "segments")
        sizes = numpy.diff(offsets)
        out = cupy.zeros(sizes.shape[0], dtype=cupy.float64)
        if sizes.shape[0] == 0 or offsets[-1] <= offsets[0]:
            return out
        v = gradient[offsets[0]:offsets[-1]]
        if use_w:
            v = v + numpy.float32(l2) * weights[offsets[0]:offsets[-1]]
        sq = v.astype(cupy.float64)
        sq *= sq
        full = numpy.flatnonzero(sizes > 0)
        starts = offsets[:-1][full] - offsets[0]
        out[cupy.asarray(full)] = cupy.add.reduceat(sq, cupy.asarray(starts))
        return out

    def _segments(self, grad_scale, segments, n):
        """(scales, offsets, nseg) device arrays for the kernels' per-segment scale."""
        if segments is None:
            return (cupy.asarray([grad_scale], dtype=cupy.float32),
                    cupy.asarray([0, n], dtype=cupy.int64), numpy.int32(1))
        offsets = host_ints("optimizer step", self, segments, "segments")
        scales = cupy.asarray(grad_scale, dtype=cupy.float32)
        if scales.shape != (offsets.shape[0] - 1,) or int(offsets[-1]) != n:
            raise ValueError(f"grad_scale: expected one scale per segment "
                             f"({offsets.shape[0] - 1}) of an array of {n} values, got shape "
                             f"{scales.shape}")
        return scales, cupy.asarray(offsets), numpy.int32(scales.shape[0])

    def _segment_scale(self, grad_scale, segments, n: int):
        """See :meth:`Ops._segment_scale` (the reference steps' path): CuPy's
        ``repeat`` takes the repeats from the host, never from a device array."""
        if segments is None:
            return grad_scale
        scales, offsets, _ = self._segments(grad_scale, segments, n)
        sizes = numpy.diff(host_ints("optimizer step", self, segments, "segments"))
        return cupy.repeat(scales, sizes.tolist())

    def adam_step(self, weights, gradient, mom1, mom2, averages=None, *, scalars,
                  grad_scale=1.0, segments=None):
        """One fused Adam step, one kernel launch; see :meth:`Ops.adam_step`."""
        k = check_scalars("adam_step", scalars)
        check_step_arrays(weights, gradient, mom1, mom2, averages)
        arrays = [weights, gradient, mom1, mom2] + ([averages] if averages is not None else [])
        if not self._elementwise_ok(*arrays):
            return Ops.adam_step(self, weights, gradient, mom1, mom2, averages, scalars=k,
                                 grad_scale=grad_scale, segments=segments)
        self._step_kernel("thf_adam", (weights, gradient, mom1, mom2), averages, k,
                          grad_scale, segments)

    def sgd_step(self, weights, gradient, averages=None, *, scalars, grad_scale=1.0,
                 segments=None):
        """One fused SGD step, one kernel launch; see :meth:`Ops.sgd_step`."""
        k = check_scalars("sgd_step", scalars)
        check_step_arrays(weights, gradient, None, None, averages)
        arrays = [weights, gradient] + ([averages] if averages is not None else [])
        if not self._elementwise_ok(*arrays):
            return Ops.sgd_step(self, weights, gradient, averages, scalars=k,
                                grad_scale=grad_scale, segments=segments)
        self._step_kernel("thf_sgd", (weights, gradient), averages, k, grad_scale, segments)

    def _step_kernel(self, name: str, arrays: tuple, averages: Any, k: KernelScalars,
                     grad_scale: Any, segments: Any) -> None:
        """Launch the step kernel `name` of kernels.cu over `arrays` (weights
        first): the one place the record's fields become kernel arguments, in
        thf_step's order (the tail every step kernel takes)."""
        weights = arrays[0]
        scales, offsets, nseg = self._segments(grad_scale, segments, weights.size)
        grid, block = launch_shape(weights.size)
        f = numpy.float32
        get_kernel(name)(grid, block, arrays + (
            averages if averages is not None else weights, numpy.int32(averages is not None),
            numpy.int64(weights.size), scales, offsets, nseg,
            f(k.l2_coupled), f(k.lr_hat), f(k.beta1), f(k.beta2), f(k.eps), f(k.decay),
            f(k.avg_rate), numpy.int32(1 if k.use_denominator else 0)))

    # ------------------------------------- sequences, hashing, embeddings
    # float32 C-contiguous device arrays run the kernels of kernels.cu; the
    # arguments are checked on the host first, with the reference's helpers.
    def _launch(self, name: str, n: int, args: tuple) -> None:
        grid, block = launch_shape(n)
        get_kernel(name)(grid, block, args)

    def hash(self, ids, seed):
        """MurmurHash3 (x64, 128 bits) of each uint64 id, Thinc's values; see :meth:`Ops.hash`."""
        keys = cupy.ascontiguousarray(hash_ids(self, ids))
        s = check_seed(seed)
        out = cupy.empty((keys.shape[0], 4), dtype=cupy.uint32)
        if keys.shape[0]:
            self._launch("thf_hash_u64", keys.shape[0],
                         (out, keys, numpy.int64(keys.shape[0]), numpy.uint32(s)))
        return out

    def seq2col(self, seq, nW, *, lengths=None):
        """See :meth:`Ops.seq2col`."""
        if not self._elementwise_ok(seq) or seq.ndim != 2:
            return Ops.seq2col(self, seq, nW, lengths=lengths)
        nW = check_window("seq2col", nW)
        offsets = seq2col_offsets("seq2col", self, lengths, seq.shape[0])
        nB, nI = seq.shape
        cols = cupy.empty((nB, (2 * nW + 1) * nI), dtype=seq.dtype)
        if cols.size:
            self._launch("thf_seq2col", cols.size, (
                cols, seq, cupy.asarray(offsets), numpy.int64(offsets.shape[0] - 1),
                numpy.int64(nB), numpy.int64(nI), numpy.int32(nW)))
        return cols

    def backprop_seq2col(self, dY, nW, *, lengths=None):
        """See :meth:`Ops.backprop_seq2col`."""
        if not self._elementwise_ok(dY) or dY.ndim != 2:
            return Ops.backprop_seq2col(self, dY, nW, lengths=lengths)
        nW = check_window("backprop_seq2col", nW)
        nF = 2 * nW + 1
        if dY.shape[1] % nF:
            raise ValueError(f"backprop_seq2col: expected a 2d array of {nF} blocks per row "
                             f"(nW={nW}), got shape {dY.shape}")
        offsets = seq2col_offsets("backprop_seq2col", self, lengths, dY.shape[0])
        nB, nI = dY.shape[0], dY.shape[1] // nF
        dX = cupy.empty((nB, nI), dtype=dY.dtype)
        if dX.size:
            self._launch("thf_backprop_seq2col", dX.size, (
                dX, dY, cupy.asarray(offsets), numpy.int64(offsets.shape[0] - 1),
                numpy.int64(nB), numpy.int64(nI), numpy.int32(nW)))
        return dX

    def gather_add(self, table, indices):
        """See :meth:`Ops.gather_add`."""
        if (not self._elementwise_ok(table) or table.ndim != 2
                or not isinstance(indices, cupy.ndarray) or indices.ndim != 2):
            return Ops.gather_add(self, table, indices)
        check_indices("gather_add", self, indices, table.shape[0], ndim=2)
        idx = cupy.ascontiguousarray(indices, dtype=cupy.int64)
        out = cupy.empty((idx.shape[0], table.shape[1]), dtype=table.dtype)
        if out.size:
            self._launch("thf_gather_add", out.size, (
                out, table, idx, numpy.int64(idx.shape[0]), numpy.int64(idx.shape[1]),
                numpy.int64(table.shape[1])))
        return out

    def scatter_add(self, table, indices, values):
        """See :meth:`Ops.scatter_add` (cupyx.scatter_add after the bounds check)."""
        import cupyx

        check_indices("scatter_add", self, indices, table.shape[0])
        cupyx.scatter_add(table, indices, values)
        return table

    def reduce_sum(self, X, lengths):
        """See :meth:`Ops.reduce_sum`."""
        return self._reduce_sum_mean("reduce_sum", X, lengths, 0)

    def reduce_mean(self, X, lengths):
        """See :meth:`Ops.reduce_mean`."""
        return self._reduce_sum_mean("reduce_mean", X, lengths, 1)

    def _reduce_sum_mean(self, method: str, X, lengths, mean: int):
        if not self._elementwise_ok(X) or X.ndim != 2:
            return getattr(Ops, method)(self, X, lengths)
        offsets = reduce_offsets(method, self, X, lengths, min_length=0)
        out = cupy.empty((offsets.shape[0] - 1, X.shape[1]), dtype=X.dtype)
        if out.size:
            self._launch("thf_reduce_sum", out.size, (
                out, X, cupy.asarray(offsets), numpy.int64(out.shape[0]),
                numpy.int64(out.shape[1]), numpy.int32(mean)))
        return out

    def reduce_max(self, X, lengths):
        """See :meth:`Ops.reduce_max`."""
        if not self._elementwise_ok(X) or X.ndim != 2:
            return Ops.reduce_max(self, X, lengths)
        offsets = reduce_offsets("reduce_max", self, X, lengths, min_length=1)
        maxes = cupy.empty((offsets.shape[0] - 1, X.shape[1]), dtype=X.dtype)
        which = cupy.zeros((offsets.shape[0] - 1, X.shape[1]), dtype=cupy.int32)
        if maxes.size:
            self._launch("thf_reduce_max", maxes.size, (
                maxes, which, X, cupy.asarray(offsets), numpy.int64(maxes.shape[0]),
                numpy.int64(maxes.shape[1])))
        return maxes, which

    def backprop_reduce_sum(self, d_sums, lengths):
        """See :meth:`Ops.backprop_reduce_sum`."""
        return self._backprop_sum_mean("backprop_reduce_sum", d_sums, lengths, 0)

    def backprop_reduce_mean(self, d_means, lengths):
        """See :meth:`Ops.backprop_reduce_mean`."""
        return self._backprop_sum_mean("backprop_reduce_mean", d_means, lengths, 1)

    def _backprop_sum_mean(self, method: str, d, lengths, mean: int):
        if not self._elementwise_ok(d):
            return getattr(Ops, method)(self, d, lengths)
        lens = backprop_lengths(method, self, d, lengths, min_length=0)
        offsets = offsets_from_lengths(lens)
        dX = cupy.empty((int(offsets[-1]), d.shape[1]), dtype=d.dtype)
        if dX.size:
            self._launch("thf_backprop_reduce_sum", dX.size, (
                dX, d, cupy.asarray(offsets), numpy.int64(lens.shape[0]),
                numpy.int64(dX.shape[0]), numpy.int64(dX.shape[1]), numpy.int32(mean)))
        return dX

    def backprop_reduce_max(self, d_maxes, which, lengths):
        """See :meth:`Ops.backprop_reduce_max`."""
        if not self._elementwise_ok(d_maxes) or not isinstance(which, cupy.ndarray):
            return Ops.backprop_reduce_max(self, d_maxes, which, lengths)
        lens = backprop_lengths("backprop_reduce_max", self, d_maxes, lengths, min_length=1)
        if which.shape != d_maxes.shape:
            raise ValueError(f"backprop_reduce_max: which has shape {which.shape}, d_maxes "
                             f"{d_maxes.shape}")
        if which.size and bool(((which < 0) | (which >= cupy.asarray(lens)[:, None])).any()):
            raise IndexError("backprop_reduce_max: which holds a row outside its sequence")
        offsets = offsets_from_lengths(lens)
        dX = cupy.empty((int(offsets[-1]), d_maxes.shape[1]), dtype=d_maxes.dtype)
        if dX.size:
            self._launch("thf_backprop_reduce_max", dX.size, (
                dX, d_maxes, cupy.ascontiguousarray(which, dtype=cupy.int32),
                cupy.asarray(offsets), numpy.int64(lens.shape[0]), numpy.int64(dX.shape[0]),
                numpy.int64(dX.shape[1])))
        return dX


# Made by CupyOps.__init__ without a GPU: still an instance of CupyOps (and Ops).
_UnusableCupyOps = type("CupyOps", (_UnusableCupyOps, CupyOps), {"name": "cupy"})
