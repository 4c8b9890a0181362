"""The Ops base class: array allocation and xp-generic reference kernels.

Every array computation of a layer or optimizer goes through an ``Ops`` object.
The methods here are written once against ``self.xp`` (NumPy or CuPy) and are
the reference the accelerated backends (``NumpyOps``, ``CupyOps``) are tested
against. They favour clarity over speed.

The surface follows Thinc 9's ``Ops``: construction (``Ops(xp)``,
``NumpyOps(use_blis=True)``), typed allocation and conversion (``alloc2f``,
``reshape3i``, ``asarray1i``, ``to_numpy(byte_order=...)``), batching
(``minibatch``, ``multibatch``), the activations with their gradients, and
Thinc's sequence methods: feature hashing (``hash``, ``ngrams``, with Thinc's
values), ``seq2col``, ``gather_add``/``scatter_add``, ``reduce_*`` over
sequence lengths, ``list2padded``/``padded2list`` and the LSTM.
"""
from __future__ import annotations

import math
import types
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy

from ..types import Padded, SizedGenerator
from .kernel_args import (KernelScalars, backprop_lengths, check_bias, check_gemm_shapes,
                          check_indices, check_same_shape, check_scalars, check_seed,
                          check_step_arrays, check_window, hash_ids, host_ints, reduce_offsets,
                          seq2col_offsets)

Shape = Union[int, Tuple[int, ...]]
SizeT = Union[int, Iterable[Union[int, float]]]

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Ops:
    """Reference array operations over the array module ``xp``."""

    name: str = "base"
    xp: Any = numpy

    def __init__(self, device_type: Any = "cpu", device_id: int = -1, *, use_blis: bool = True,
                 **kwargs: Any) -> None:
        """``Ops()``, ``Ops(numpy)`` / ``Ops(cupy)`` (the array module as first
        argument, as Thinc allows), or Thinc's ``(device_type, device_id)``.

        use_blis: accepted for Thinc's ``NumpyOps(use_blis=True)``; thinc_fast's
        NumpyOps always multiplies through blis."""
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected settings: {sorted(kwargs)}")
        if isinstance(device_type, types.ModuleType):
            if type(self).xp is not device_type and type(self).name != "base":
                raise ValueError(f"{type(self).__name__} computes with {type(self).xp.__name__}, "
                                 f"not {device_type.__name__} (argument 'device_type')")
            self.xp = device_type
            device_type = "gpu" if device_type.__name__.startswith("cupy") else "cpu"
        if not isinstance(device_type, str):
            raise TypeError(f"{type(self).__name__}: argument 'device_type' must be 'cpu', 'gpu' "
                            f"or an array module, got {type(device_type).__name__}")
        if isinstance(device_id, bool) or not isinstance(device_id, (int, numpy.integer)):
            raise TypeError(f"{type(self).__name__}: argument 'device_id' must be an int, "
                            f"got {type(device_id).__name__}")
        self.device_type = device_type
        self.device_id = int(device_id)
        self.use_blis = bool(use_blis)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ------------------------------------------------------------------ arrays
    def alloc(self, shape: Shape, *, dtype: Any = "float32", zeros: bool = True):
        """A new array of `shape`, zero-filled unless ``zeros=False``."""
        if isinstance(shape, (int, numpy.integer)):
            shape = (shape,)
        for d in shape:  # a plain loop: any() over a generator cost ~0.4 us a call
            if not isinstance(d, (int, numpy.integer)) or d < 0:
                raise ValueError(f"alloc: invalid shape {shape!r}: dimensions must be "
                                 f"non-negative ints")
        return self._new_array(shape, dtype, zeros)

    def _new_array(self, shape: Shape, dtype: Any, zeros: bool):
        """The array :meth:`alloc` returns (its arguments checked); backends
        override it to place the data (NumpyOps: on a 64-byte boundary)."""
        return self.xp.zeros(shape, dtype=dtype) if zeros else self.xp.empty(shape, dtype=dtype)

    def alloc1f(self, d0: int, *, dtype: Any = "float32", zeros: bool = True):
        return self.alloc((d0,), dtype=dtype, zeros=zeros)

    def alloc2f(self, d0: int, d1: int, *, dtype: Any = "float32", zeros: bool = True):
        return self.alloc((d0, d1), dtype=dtype, zeros=zeros)

    def alloc3f(self, d0: int, d1: int, d2: int, *, dtype: Any = "float32", zeros: bool = True):
        return self.alloc((d0, d1, d2), dtype=dtype, zeros=zeros)

    def alloc4f(self, d0: int, d1: int, d2: int, d3: int, *, dtype: Any = "float32",
                zeros: bool = True):
        return self.alloc((d0, d1, d2, d3), dtype=dtype, zeros=zeros)

    def alloc_f(self, shape: Shape, *, dtype: Any = "float32", zeros: bool = True):
        return self.alloc(shape, dtype=dtype, zeros=zeros)

    def alloc1i(self, d0: int, *, dtype: Any = "int32", zeros: bool = True):
        return self.alloc((d0,), dtype=dtype, zeros=zeros)

    def alloc2i(self, d0: int, d1: int, *, dtype: Any = "int32", zeros: bool = True):
        return self.alloc((d0, d1), dtype=dtype, zeros=zeros)

    def alloc3i(self, d0: int, d1: int, d2: int, *, dtype: Any = "int32", zeros: bool = True):
        return self.alloc((d0, d1, d2), dtype=dtype, zeros=zeros)

    def alloc4i(self, d0: int, d1: int, d2: int, d3: int, *, dtype: Any = "int32",
                zeros: bool = True):
        return self.alloc((d0, d1, d2, d3), dtype=dtype, zeros=zeros)

    def alloc_i(self, shape: Shape, *, dtype: Any = "int32", zeros: bool = True):
        return self.alloc(shape, dtype=dtype, zeros=zeros)

    def reshape(self, array: Any, shape: Shape):
        """`array` with a new shape (a view where NumPy/CuPy can make one)."""
        if isinstance(shape, (int, numpy.integer)):
            shape = (shape,)
        return array.reshape(shape)

    def reshape1(self, array: Any, d0: int):
        return self.reshape(array, (d0,))

    def reshape2(self, array: Any, d0: int, d1: int):
        return self.reshape(array, (d0, d1))

    def reshape3(self, array: Any, d0: int, d1: int, d2: int):
        return self.reshape(array, (d0, d1, d2))

    def reshape4(self, array: Any, d0: int, d1: int, d2: int, d3: int):
        return self.reshape(array, (d0, d1, d2, d3))

    def reshape1f(self, array: Any, d0: int):
        return self.reshape(array, (d0,))

    def reshape2f(self, array: Any, d0: int, d1: int):
        return self.reshape(array, (d0, d1))

    def reshape3f(self, array: Any, d0: int, d1: int, d2: int):
        return self.reshape(array, (d0, d1, d2))

    def reshape4f(self, array: Any, d0: int, d1: int, d2: int, d3: int):
        return self.reshape(array, (d0, d1, d2, d3))

    def reshape_f(self, array: Any, shape: Shape):
        return self.reshape(array, shape)

    def reshape1i(self, array: Any, d0: int):
        return self.reshape(array, (d0,))

    def reshape2i(self, array: Any, d0: int, d1: int):
        return self.reshape(array, (d0, d1))

    def reshape3i(self, array: Any, d0: int, d1: int, d2: int):
        return self.reshape(array, (d0, d1, d2))

    def reshape4i(self, array: Any, d0: int, d1: int, d2: int, d3: int):
        return self.reshape(array, (d0, d1, d2, d3))

    def reshape_i(self, array: Any, shape: Shape):
        return self.reshape(array, shape)

    def asarray(self, data: Any, dtype: Any = None):
        """`data` as an array of this backend (no copy when it already is one
        of that dtype); CuPy arrays given to a NumPy backend come to the host.
        `dtype` may be given by position, as Thinc's NumpyOps and CupyOps take it."""
        if self.xp is numpy and type(data).__module__.split(".")[0] == "cupy":
            data = data.get()
        return self.xp.asarray(data, dtype=dtype)

    def _asarray_nd(self, method: str, ndim: int, data: Any, dtype: Any):
        arr = self.asarray(data, dtype=dtype)
        if arr.ndim != ndim:
            raise ValueError(f"{method}: expected a {ndim}d array, got shape {arr.shape}")
        return arr

    def asarray1f(self, data: Any, *, dtype: Any = "float32"):
        return self._asarray_nd("asarray1f", 1, data, dtype)

    def asarray2f(self, data: Any, *, dtype: Any = "float32"):
        return self._asarray_nd("asarray2f", 2, data, dtype)

    def asarray3f(self, data: Any, *, dtype: Any = "float32"):
        return self._asarray_nd("asarray3f", 3, data, dtype)

    def asarray4f(self, data: Any, *, dtype: Any = "float32"):
        return self._asarray_nd("asarray4f", 4, data, dtype)

    def asarray_f(self, data: Any, *, dtype: Any = "float32"):
        return self.asarray(data, dtype=dtype)

    def asarray1i(self, data: Any, *, dtype: Any = "int32"):
        return self._asarray_nd("asarray1i", 1, data, dtype)

    def asarray2i(self, data: Any, *, dtype: Any = "int32"):
        return self._asarray_nd("asarray2i", 2, data, dtype)

    def asarray3i(self, data: Any, *, dtype: Any = "int32"):
        return self._asarray_nd("asarray3i", 3, data, dtype)

    def asarray4i(self, data: Any, *, dtype: Any = "int32"):
        return self._asarray_nd("asarray4i", 4, data, dtype)

    def asarray_i(self, data: Any, *, dtype: Any = "int32"):
        return self.asarray(data, dtype=dtype)

    def as_contig(self, data: Any, dtype: Any = None):
        """`data` as a C-contiguous array (a no-op when it already is one)."""
        if data.flags["C_CONTIGUOUS"] and dtype in (None, data.dtype):
            return data
        return self.xp.ascontiguousarray(data, dtype=dtype)

    def to_numpy(self, data: Any, *, byte_order: Optional[str] = None):
        """`data` as a NumPy array on the host; with `byte_order` (``"<"``,
        ``">"``, ``"="`` or ``"|"``, as ``numpy.dtype.newbyteorder``), in
        that byte order."""
        if not isinstance(data, numpy.ndarray):
            if type(data).__module__.split(".")[0] == "cupy":
                data = data.get()
            else:
                data = numpy.asarray(data)
        if byte_order:
            data = numpy.asarray(data, dtype=data.dtype.newbyteorder(byte_order))
        return data

    # ---------------------------------------------------------------- batching
    def minibatch(self, size: SizeT, sequence: Any, *, shuffle: bool = False,
                  buffer: int = 1) -> SizedGenerator:
        """The batches of `sequence`, as a re-iterable with a ``len()``.

        size: an int, or an iterator of sizes (a generator, or a schedule,
        which then moves on); one size is drawn per batch, all of them when
        ``minibatch`` is called, so the number of batches is known. Sizes are
        truncated to ints (a schedule's 1.5 gives 1) and must be >= 1.
        ``shuffle=True`` draws a new order from NumPy's global RNG each time
        the result is iterated (the same draw as Thinc for the same seed).
        Lists give lists, tuples tuples, ranges ranges (lists when shuffled),
        arrays contiguous arrays of this backend (views when not shuffled);
        other sequences are indexed with an int array. `buffer` batches are
        gathered before they are handed out."""
        return self._batches("minibatch", size, (sequence,), shuffle, buffer, single=True)

    def multibatch(self, size: SizeT, sequence: Any, *others: Any, shuffle: bool = False,
                   buffer: int = 1) -> SizedGenerator:
        """Like :meth:`minibatch` over several sequences at once: each batch is a
        list with one batch per sequence, all taken at the same positions. The
        first sequence sets the length, as in Thinc: later ones may be longer
        (their extra items are never batched), not shorter."""
        return self._batches("multibatch", size, (sequence,) + others, shuffle, buffer,
                             single=False)

    def _batches(self, method: str, size: SizeT, sequences: Tuple[Any, ...], shuffle: bool,
                 buffer: int, single: bool) -> SizedGenerator:
        for i, seq in enumerate(sequences):
            if not hasattr(seq, "__len__") or not hasattr(seq, "__getitem__"):
                which = "sequence" if i == 0 else f"sequence {i + 1}"
                raise ValueError(f"Can't {method} data: {which} must be a sequence (list, tuple, "
                                 f"range or array), got {type(seq).__name__}")
        length = len(sequences[0])
        for i, seq in enumerate(sequences[1:], 2):
            if len(seq) < length:
                raise ValueError(f"Can't {method} data: sequence {i} has {len(seq)} items, "
                                 f"fewer than the first's {length} (the first sets the "
                                 f"length; later sequences may be longer)")
        if isinstance(buffer, bool) or not isinstance(buffer, (int, numpy.integer)) or buffer < 1:
            raise ValueError(f"{method}: argument 'buffer' must be an int >= 1, got {buffer!r}")
        sizes = _batch_sizes(method, length, size)
        indices = numpy.arange(length)

        def batches() -> Iterator[Any]:
            if shuffle:
                numpy.random.shuffle(indices)
            queue: List[Any] = []
            start = 0
            for n in sizes:
                stop = min(start + n, length)  # the last batch may be cut short
                idx = indices[start:stop] if shuffle else None
                parts = [self._get_batch(seq, start, stop, idx) for seq in sequences]
                queue.append(parts[0] if single else parts)
                if len(queue) >= buffer:
                    yield from queue
                    queue = []
                start += n
            yield from queue

        return SizedGenerator(batches, len(sizes))

    def _get_batch(self, sequence: Any, start: int, stop: int, idx: Optional[numpy.ndarray]):
        """Items ``start:stop`` of `sequence` (or those at `idx`, when shuffled)."""
        if idx is None:
            batch = sequence[start:stop]
        elif isinstance(sequence, (list, range)):
            return [sequence[i] for i in idx]
        elif isinstance(sequence, tuple):
            return tuple(sequence[i] for i in idx)
        else:
            batch = sequence[idx]
        if isinstance(batch, numpy.ndarray) or type(batch).__module__.split(".")[0] == "cupy":
            batch = self.as_contig(self.asarray(batch))
        return batch

    def cblas(self):
        """Thinc's table of C BLAS functions (``thinc.backends.cblas.CBlas``),
        for Cython code compiled against Thinc. Only :class:`NumpyOps` has one."""
        raise NotImplementedError(
            f"{type(self).__name__} does not provide C BLAS functions: Thinc's CBlas "
            "table comes from NumpyOps().cblas(), with Thinc installed")

    def gemm(self, x, y, out=None, trans1: bool = False, trans2: bool = False, *,
             alpha: float = 1.0, beta: float = 0.0):
        """General matrix product: ``out := alpha * op(x) @ op(y) + beta * out``.

        ``op(a)`` is ``a.T`` when the matching ``trans`` flag is set. With
        ``beta=1`` the product accumulates into `out` (gradient accumulation).
        """
        a, b, out = self._gemm_operands(x, y, out, trans1, trans2, beta)
        prod = self.xp.matmul(a, b)
        if alpha != 1.0:
            prod = prod * alpha
        if beta == 0.0:
            out[...] = prod
        else:
            out *= beta
            out += prod
        return out

    def _gemm_operands(self, x, y, out, trans1: bool, trans2: bool, beta: float):
        """``(op(x), op(y), out)`` after checking shapes; allocates `out` when None."""
        a = x.T if trans1 else x
        b = y.T if trans2 else y
        m, _ = check_gemm_shapes(a, b, trans1, trans2)
        n = b.shape[1]
        if out is None:
            if beta != 0.0:
                raise ValueError("gemm: beta != 0 needs an `out` array to accumulate into")
            out = self.xp.empty((m, n), dtype=numpy.result_type(a.dtype, b.dtype))
        elif out.shape != (m, n):
            raise ValueError(f"gemm: `out` has shape {out.shape}, expected {(m, n)}")
        return a, b, out

    def affine(self, X, W, b):
        """``Y = X @ W.T + b``."""
        Y = self.gemm(X, W, trans2=True)
        return self.bias_add(Y, b, inplace=True)

    def bias_add(self, X, b, *, inplace: bool = False):
        """``X + b`` with `b` broadcast over the rows of `X`."""
        check_bias(X, b)
        if inplace:
            X += b
            return X
        return X + b

    def bias_relu(self, X, b, *, inplace: bool = False):
        """Fused ``max(X + b, 0)``."""
        check_bias(X, b)
        Y = X if inplace else X.copy()
        Y += b
        self.xp.maximum(Y, 0, out=Y)
        return Y

    def relu(self, X, inplace: bool = False):
        """``max(X, 0)``."""
        if inplace:
            self.xp.maximum(X, 0, out=X)
            return X
        return self.xp.maximum(X, 0)

    def backprop_relu(self, dY, Y, inplace: bool = False):
        """``dX = dY`` where ``Y > 0`` or Y is NaN, else 0 (Thinc's rule: only
        outputs <= 0 block the gradient), for `Y` the output of the ReLU."""
        if dY.shape != Y.shape:
            raise ValueError(f"backprop_relu: dY has shape {dY.shape} but Y has {Y.shape}")
        dX = dY if inplace else dY.copy()
        dX[Y <= 0] = 0
        return dX

    def softmax(self, X, inplace: bool = False, axis: int = -1, temperature: float = 1.0):
        """``exp(X - max) / sum(exp(X - max))`` along `axis`, of ``X / temperature``."""
        Y = X if inplace else X.copy()
        if temperature != 1.0:
            Y /= temperature
        Y -= Y.max(axis=axis, keepdims=True)
        self.xp.exp(Y, out=Y)
        Y /= Y.sum(axis=axis, keepdims=True)
        return Y

    def backprop_softmax(self, Y, dY, axis: int = -1, temperature: float = 1.0):
        """Gradient of the softmax: ``dX = Y * (dY - sum(dY * Y))``, divided by
        `temperature` (the softmax of ``X / temperature``)."""
        check_same_shape("backprop_softmax", Y=Y, dY=dY)
        if temperature != 1.0:
            dY = dY / temperature
        dX = Y * dY
        dX -= Y * dX.sum(axis=axis, keepdims=True)
        return dX

    def inc_col_sums(self, X, out):
        """``out += X.sum(axis=0)``: bias gradients accumulated in place."""
        if X.ndim != 2 or out.shape != (X.shape[1],):
            raise ValueError(f"inc_col_sums: cannot add column sums of {X.shape} into {out.shape}")
        out += X.sum(axis=0)
        return out

    def maxout(self, X):
        """Max over the last axis: returns ``(best, which)``."""
        which = X.argmax(axis=-1)
        best = self.xp.take_along_axis(X, which[..., None], axis=-1)[..., 0]
        return best, which.astype("int32")

    def backprop_maxout(self, dY, which, P: int):
        """Scatter `dY` back to the piece that won: shape ``dY.shape + (P,)``.
        Raises IndexError for a `which` entry outside ``[0, P)``."""
        if which.shape != dY.shape:
            raise ValueError(f"backprop_maxout: which has shape {which.shape}, dY has {dY.shape}")
        if which.size and (int(which.min()) < 0 or int(which.max()) >= P):
            raise IndexError(f"backprop_maxout: which holds pieces outside [0, {P}): "
                             f"{int(which.min())}..{int(which.max())}")
        dX = self.alloc(dY.shape + (P,), dtype=dY.dtype)
        # written by index: put_along_axis is CuPy 14's only, and [cuda12x] allows 13
        flat = dX.reshape((-1, P))
        flat[self.xp.arange(flat.shape[0]), self.xp.asarray(which).reshape(-1).astype("int64")] = \
            self.xp.asarray(dY).reshape(-1)
        return dX

    def get_dropout_mask(self, shape: Shape, drop: Optional[float]):
        """A float32 mask of 0 and ``1 / (1 - drop)`` entries (inverted dropout):
        all ones for ``drop`` None or 0, all zeros for 1. The uniform draw is
        Thinc's, so a seeded run gives Thinc's mask."""
        if drop is None or drop == 0:
            return self.xp.ones(shape, dtype="float32")
        if isinstance(drop, bool) or not isinstance(drop, (int, float, numpy.floating)) \
                or not 0.0 <= drop <= 1.0:
            raise ValueError(f"get_dropout_mask: dropout rate 'drop' must be in [0, 1] or None, "
                             f"got {drop!r}")
        if drop >= 1.0:
            return self.alloc_f(shape)
        keep = self.xp.random.uniform(0.0, 1.0, shape) >= drop
        return keep.astype("float32") / (1.0 - drop)

    # ------------------------------------------------------ shapes and lists
    def tile(self, X, reps):
        """`X` repeated `reps` times (``xp.tile``)."""
        return self.xp.tile(X, reps)

    def flatten(self, X: Sequence[Any], dtype: Any = None, pad: int = 0,
                ndim_if_empty: int = 2):
        """Concatenate the arrays of `X` along the first axis, with `pad` zero
        rows before each non-empty one and after the last (empty arrays are
        skipped). An empty `X` gives a zero-size array of `ndim_if_empty` dims."""
        if X is None or len(X) == 0:
            return self.alloc((0,) * ndim_if_empty, dtype=dtype or "f")
        shape_if_empty = X[0].shape
        arrays = [x for x in X if x.size != 0]
        if not arrays:
            return self.alloc(shape_if_empty, dtype=dtype or "f")
        if int(pad) >= 1:
            padded = []
            for x in arrays:
                padded.append(self.xp.zeros((pad,) + x.shape[1:], dtype=x.dtype))
                padded.append(x)
            padded.append(self.xp.zeros((pad,) + arrays[-1].shape[1:], dtype=arrays[-1].dtype))
            arrays = padded
        result = self.xp.concatenate(arrays)
        if dtype is not None:
            result = self.xp.asarray(result, dtype=dtype)
        return result

    def unflatten(self, X, lengths, pad: int = 0) -> List[Any]:
        """The arrays :meth:`flatten` joined: views of `X` of the given lengths
        (the `pad` rows around them dropped)."""
        sizes = [int(n) for n in self.to_numpy(lengths).reshape(-1)]
        if any(n < 0 for n in sizes):
            raise ValueError(f"unflatten: 'lengths' must be >= 0, got {sizes}")
        pad = int(pad)
        total = sum(n + pad for n in sizes if n > 0) + (pad if any(sizes) else 0)
        if total != X.shape[0]:
            raise ValueError(f"unflatten: 'lengths' (sum {sum(sizes)}, pad={pad}) account for "
                             f"{total} rows, X has {X.shape[0]}")
        out = []
        start = 0
        for n in sizes:
            if n > 0:
                start += pad
            out.append(X[start:start + n])
            start += n
        return out

    def pad(self, seqs: Sequence[Any], round_to: int = 1):
        """Stack arrays of different lengths into one ``(len(seqs), max_len, ...)``
        array, zero-filled, with `max_len` rounded up to a multiple of
        `round_to`. The arrays must share ndim, dtype and the other dims."""
        if round_to < 1:
            raise ValueError(f"Rounding for padding must at least be 1, was: {round_to}")
        if not seqs:
            raise ValueError("Cannot pad empty sequence")
        if len(set(seq.ndim for seq in seqs)) != 1:
            raise ValueError("Cannot pad sequences with different ndims")
        if len(set(seq.dtype for seq in seqs)) != 1:
            raise ValueError("Cannot pad sequences with different dtypes")
        if len(set(seq.shape[1:] for seq in seqs)) != 1:
            raise ValueError("Cannot pad sequences that differ on other dimensions")
        max_len = max(len(seq) for seq in seqs)
        max_len += -max_len % round_to
        out = self.alloc((len(seqs), max_len) + seqs[0].shape[1:], dtype=seqs[0].dtype)
        for i, seq in enumerate(seqs):
            out[i, :seq.shape[0]] = seq
        return out

    def unpad(self, padded, lengths: Sequence[int]) -> List[Any]:
        """The arrays :meth:`pad` stacked: ``padded[i, :lengths[i]]``."""
        return [padded[i, :int(n)] for i, n in enumerate(lengths)]

    def insert_into(self, shape: Shape, Xs: Sequence[Any]):
        """A zero array of `shape` with ``Xs[i]`` written at the start of row i."""
        out = self.alloc(shape, dtype=Xs[0].dtype)
        for i, x in enumerate(Xs):
            out[i, :x.shape[0]] = x
        return out

    def position_encode(self, N: int, D: int, period: int = 10000, out: Any = None):
        """Thinc's sinusoidal position encoding, an (N, D) float32 array: row
        ``pos``, columns ``j`` and ``j + 1`` (j even) hold
        ``sin(pos / period ** (2 j / D))`` and ``cos(pos / period ** (2 j / D))``;
        an odd D's last column repeats the sine of the last pair. Into `out`
        when given (shape (N, D))."""
        if out is None:
            out = self.alloc((N, D), dtype="float32", zeros=False)
        elif tuple(out.shape) != (N, D):
            raise ValueError(f"position_encode: out has shape {tuple(out.shape)}, expected "
                             f"({N}, {D})")
        xp = numpy
        pos = xp.arange(N, dtype="float32")[:, None]
        even = xp.arange(0, D - 1, 2, dtype="float32")
        last = even[-1:] if len(even) else xp.zeros(1, dtype="float32")
        rates = xp.power(xp.float32(period), xp.float32(2) * even / xp.float32(D))
        values = xp.empty((N, D), dtype="float32")
        values[:, 0:2 * len(even):2] = xp.sin(pos / rates)
        values[:, 1:2 * len(even):2] = xp.cos(pos / rates)
        if D % 2:
            values[:, D - 1:] = xp.sin(pos / xp.power(xp.float32(period),
                                                      xp.float32(2) * last / xp.float32(D)))
        out[...] = self.asarray(values)
        return out

    def gather_add(self, table, indices):
        """``out[i] = sum_j table[indices[i, j]]`` for a 2d `table` and 2d int
        `indices`; IndexError for an index outside ``[0, len(table))``."""
        check_indices("gather_add", self, indices, table.shape[0], ndim=2)
        return table[indices].sum(axis=1)

    def scatter_add(self, table, indices, values):
        """``table[indices] += values`` in place, repeated indices adding up;
        returns `table`. IndexError, before anything changes, for an index
        outside ``[0, len(table))``."""
        check_indices("scatter_add", self, indices, table.shape[0])
        self.xp.add.at(table, indices, values)
        return table

    # ------------------------------------------------------------- hashing
    def hash(self, ids, seed: int):
        """MurmurHash3 (the x64 128-bit variant) of each 64-bit id with
        `seed`, as a (len(ids), 4) uint32 array: the low and high halves of
        its two 64-bit words. The values of Thinc's ``NumpyOps.hash`` for the
        same ids and seed, so hashed tables carry over. `ids` is a 1d array
        of integers, taken as uint64; `seed` an int in ``[0, 2**32)``."""
        xp = self.xp
        keys = hash_ids(self, ids)
        seed = check_seed(seed)
        u64 = xp.uint64
        k1 = keys * u64(_MMH_C1)
        k1 = ((k1 << u64(31)) | (k1 >> u64(33))) * u64(_MMH_C2)
        h2 = xp.full(keys.shape, seed ^ 8, dtype="uint64")
        h1 = k1 ^ h2
        h1 += h2
        h2 += h1
        h1 = _fmix64(xp, h1)
        h2 = _fmix64(xp, h2)
        h1 += h2
        h2 += h1
        out = xp.empty((keys.shape[0], 4), dtype="uint32")
        low = u64(0xFFFFFFFF)
        out[:, 0] = h1 & low
        out[:, 1] = h1 >> u64(32)
        out[:, 2] = h2 & low
        out[:, 3] = h2 >> u64(32)
        return out

    def ngrams(self, n: int, keys):
        """One uint64 hash per window of `n` consecutive `keys` (MurmurHash64A
        of their 8 n bytes, seed 0; Thinc's values): ``len(keys) - n + 1``
        hashes, none when ``n < 1`` or ``n > len(keys)``."""
        xp = self.xp
        keys = hash_ids(self, keys)
        n = int(n)
        nout = max(0, keys.shape[0] - n + 1) if n >= 1 else 0
        if nout == 0:
            return self.alloc((0,), dtype="uint64")
        u64 = xp.uint64
        m = u64(_MMH64A_M)
        h = xp.full((nout,), (8 * n * _MMH64A_M) % (1 << 64), dtype="uint64")
        for j in range(n):
            k = keys[j:j + nout] * m
            k ^= k >> u64(47)
            k *= m
            h ^= k
            h *= m
        h ^= h >> u64(47)
        h *= m
        h ^= h >> u64(47)
        return h

    # ----------------------------------------------------------- sequences
    # A batch of sequences is one array of rows and `lengths`, the rows of
    # each sequence in turn (Thinc's Ragged layout).
    def seq2col(self, seq, nW: int, *, lengths=None):
        """Each row with its `nW` neighbours on either side: an (N, I) `seq`
        gives (N, (2 nW + 1) I), row t holding rows t - nW .. t + nW side by
        side, zeros where they fall outside t's sequence. `lengths` splits the
        rows into sequences (default: one sequence of N rows).

        >>> Ops().seq2col(numpy.array([[1.], [2.], [3.]], "f"), 1).tolist()
        [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 0.0]]
        """
        nW = check_window("seq2col", nW)
        if seq.ndim != 2:
            raise ValueError(f"seq2col: expected a 2d array, got shape {seq.shape}")
        nB, nI = seq.shape
        offsets = seq2col_offsets("seq2col", self, lengths, nB)
        nF = 2 * nW + 1
        cols = self.alloc((nB, nF, nI), dtype=seq.dtype)
        rows, starts, ends = self._row_bounds(offsets)
        for k in range(nF):
            src = rows + (k - nW)
            ok = (src >= starts) & (src < ends)
            cols[ok, k] = seq[src[ok]]
        return cols.reshape((nB, nF * nI))

    def backprop_seq2col(self, dY, nW: int, *, lengths=None):
        """The gradient of :meth:`seq2col`: ``dX[s]`` sums the blocks of `dY`
        that copied row s. `dY` is (N, (2 nW + 1) I); returns (N, I)."""
        nW = check_window("backprop_seq2col", nW)
        nF = 2 * nW + 1
        if dY.ndim != 2 or dY.shape[1] % nF:
            raise ValueError(f"backprop_seq2col: expected a 2d array of {nF} blocks per row "
                             f"(nW={nW}), got shape {dY.shape}")
        nB, nI = dY.shape[0], dY.shape[1] // nF
        offsets = seq2col_offsets("backprop_seq2col", self, lengths, nB)
        dX = self.alloc((nB, nI), dtype=dY.dtype)
        dY3 = dY.reshape((nB, nF, nI))
        rows, starts, ends = self._row_bounds(offsets)
        for k in range(nF):
            src = rows + (k - nW)
            ok = (src >= starts) & (src < ends)
            dX[src[ok]] += dY3[ok, k]
        return dX

    def _row_bounds(self, offsets: numpy.ndarray):
        """(row index, start and end of its sequence), one entry per row, as
        int64 arrays of this backend."""
        lens = numpy.diff(offsets)
        starts = numpy.repeat(offsets[:-1], lens)
        ends = numpy.repeat(offsets[1:], lens)
        rows = numpy.arange(offsets[-1], dtype="int64")
        return self.asarray(rows), self.asarray(starts), self.asarray(ends)

    def reduce_sum(self, X, lengths):
        """``out[k]``: the sum of the rows of sequence k (zeros when it is
        empty). ValueError for a negative length, IndexError when the lengths
        add up to more rows than `X` has."""
        offsets = reduce_offsets("reduce_sum", self, X, lengths, min_length=0)
        out = self.alloc((len(offsets) - 1, X.shape[1]), dtype=X.dtype)
        for k, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
            if b > a:
                out[k] = X[a:b].sum(axis=0)
        return out

    def reduce_mean(self, X, lengths):
        """``out[k]``: the mean of the rows of sequence k (zeros when it is
        empty); errors as :meth:`reduce_sum`."""
        offsets = reduce_offsets("reduce_mean", self, X, lengths, min_length=0)
        out = self.alloc((len(offsets) - 1, X.shape[1]), dtype=X.dtype)
        for k, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
            if b > a:
                out[k] = X[a:b].mean(axis=0)
        return out

    def reduce_max(self, X, lengths):
        """``(maxes, which)``: the column maxima of each sequence and their
        row within it (int32, the first on ties). ValueError for a length
        below 1, IndexError when the lengths add up to more rows than `X`."""
        offsets = reduce_offsets("reduce_max", self, X, lengths, min_length=1)
        nseq = len(offsets) - 1
        maxes = self.alloc((nseq, X.shape[1]), dtype=X.dtype)
        which = self.alloc((nseq, X.shape[1]), dtype="int32")
        if X.shape[1]:
            for k, (a, b) in enumerate(zip(offsets[:-1], offsets[1:])):
                which[k] = X[a:b].argmax(axis=0)
                maxes[k] = X[a:b].max(axis=0)
        return maxes, which

    def reduce_first(self, X, lengths):
        """``(firsts, starts_ends)``: the first row of each sequence, and the
        int32 offsets ``[0, l0, l0 + l1, ...]``. The lengths must be >= 1
        (ValueError) and add up to the rows of `X` (IndexError)."""
        offsets = reduce_offsets("reduce_first", self, X, lengths, min_length=1, exact=True)
        if len(offsets) == 1:
            return self.alloc((0, X.shape[1]), dtype=X.dtype), self.asarray(lengths)
        starts_ends = self.asarray(offsets, dtype="int32")
        return X[starts_ends[:-1]], starts_ends

    def reduce_last(self, X, lengths):
        """``(lasts, last_rows)``: the last row of each sequence and its int32
        row index; errors as :meth:`reduce_first`."""
        offsets = reduce_offsets("reduce_last", self, X, lengths, min_length=1, exact=True)
        if len(offsets) == 1:
            return self.alloc((0, X.shape[1]), dtype=X.dtype), self.asarray(lengths)
        lasts = self.asarray(offsets[1:] - 1, dtype="int32")
        return X[lasts], lasts

    def backprop_reduce_first(self, d_firsts, starts_ends):
        """The gradient of :meth:`reduce_first`: `d_firsts` at each first row, zeros elsewhere."""
        offs = host_ints("backprop_reduce_first", self, starts_ends, "starts_ends")
        if offs.size == 0:
            return self.alloc((0, d_firsts.shape[1]), dtype=d_firsts.dtype)
        if offs.size == 1:
            raise ValueError("backprop_reduce_first: starts_ends must not have size 1")
        if d_firsts.shape[0] != offs.size - 1:
            raise ValueError(f"backprop_reduce_first: {d_firsts.shape[0]} gradient rows for "
                             f"{offs.size - 1} sequences")
        dX = self.alloc((int(offs[-1]), d_firsts.shape[1]), dtype=d_firsts.dtype)
        dX[self.asarray(offs[:-1])] = d_firsts
        return dX

    def backprop_reduce_last(self, d_lasts, lasts):
        """The gradient of :meth:`reduce_last`: `d_lasts` at each last row, zeros elsewhere."""
        rows = host_ints("backprop_reduce_last", self, lasts, "lasts")
        if rows.size == 0:
            return self.alloc((0, d_lasts.shape[1]), dtype=d_lasts.dtype)
        if d_lasts.shape[0] != rows.size:
            raise ValueError(f"backprop_reduce_last: {d_lasts.shape[0]} gradient rows for "
                             f"{rows.size} sequences")
        dX = self.alloc((int(rows[-1]) + 1, d_lasts.shape[1]), dtype=d_lasts.dtype)
        dX[self.asarray(rows)] = d_lasts
        return dX

    def backprop_reduce_sum(self, d_sums, lengths):
        """The gradient of :meth:`reduce_sum`: row k of `d_sums` repeated over
        the rows of sequence k."""
        lens = backprop_lengths("backprop_reduce_sum", self, d_sums, lengths, min_length=0)
        return self.xp.repeat(d_sums, lens.tolist(), axis=0)

    def backprop_reduce_mean(self, d_means, lengths):
        """The gradient of :meth:`reduce_mean`: ``d_means[k] / lengths[k]``
        over the rows of sequence k."""
        lens = backprop_lengths("backprop_reduce_mean", self, d_means, lengths, min_length=0)
        scale = self.asarray(1.0 / numpy.maximum(lens, 1), dtype=d_means.dtype)
        return self.xp.repeat(d_means * scale[:, None], lens.tolist(), axis=0)

    def backprop_reduce_max(self, d_maxes, which, lengths):
        """The gradient of :meth:`reduce_max`: ``d_maxes[k, j]`` at row
        ``which[k, j]`` of sequence k, zeros elsewhere. ValueError for a
        length below 1, IndexError for a `which` outside its sequence."""
        lens = backprop_lengths("backprop_reduce_max", self, d_maxes, lengths, min_length=1)
        if which.shape != d_maxes.shape:
            raise ValueError(f"backprop_reduce_max: which has shape {which.shape}, d_maxes "
                             f"{d_maxes.shape}")
        xp = self.xp
        lens_x = self.asarray(lens)[:, None]
        if which.size and bool(((which < 0) | (which >= lens_x)).any()):
            raise IndexError("backprop_reduce_max: which holds a row outside its sequence")
        dX = self.alloc((int(lens.sum()), d_maxes.shape[1]), dtype=d_maxes.dtype)
        starts = self.asarray(numpy.cumsum(lens) - lens)
        cols = xp.arange(d_maxes.shape[1])[None, :]
        dX[starts[:, None] + which.astype("int64"), cols] = d_maxes
        return dX

    def softmax_sequences(self, Xs, lengths, *, inplace: bool = False, axis: int = -1):
        """Softmax over the rows of each sequence, per column: ``exp(X)`` (X
        clipped to [-20, 20]) divided by its sum over the sequence (Thinc's
        formula). 2d arrays only."""
        if Xs.ndim >= 3:
            raise NotImplementedError(f"Softmax currently only supports 2d. Got: {Xs.ndim}")
        new_x = self.xp.exp(self.xp.clip(Xs, -20.0, 20.0))
        new_x /= self.backprop_reduce_sum(self.reduce_sum(new_x, lengths), lengths)
        return new_x

    def backprop_softmax_sequences(self, dY, Y, lengths):
        """The gradient of :meth:`softmax_sequences` given its output `Y`."""
        dX = Y * dY
        dX -= Y * self.backprop_reduce_sum(self.reduce_sum(dX, lengths), lengths)
        return dX

    def list2padded(self, seqs):
        """A list of 2d arrays as a ``Padded``: data (T, B, I), the sequences
        sorted longest first (ties: the later one first, as Thinc), zeros
        after each one's end; ``size_at_t[t]``: how many are longer than t."""
        if not seqs:
            return Padded(self.alloc3f(0, 0, 0), self.alloc1i(0), self.alloc1i(0),
                          self.alloc1i(0))
        if len(seqs) == 1:
            data = self.reshape3(seqs[0], seqs[0].shape[0], 1, seqs[0].shape[1])
            return Padded(data, self.asarray1i([1] * data.shape[0]),
                          self.asarray1i([data.shape[0]]), self.asarray1i([0]))
        order = sorted(((len(seq), i) for i, seq in enumerate(seqs)), reverse=True)
        indices = [i for _, i in order]
        lengths = [n for n, _ in order]
        arr = self.pad([seqs[i] for i in indices])
        arr = self.as_contig(arr.transpose((1, 0, 2)))
        nS = arr.shape[0]
        lens = numpy.asarray(lengths)
        size_at_t = [int((lens > t).sum()) for t in range(nS)]
        return Padded(arr, self.asarray1i(size_at_t), self.asarray1i(lengths),
                      self.asarray1i(indices))

    def padded2list(self, padded):
        """The list of arrays a ``Padded`` holds, in their original order."""
        indices = self.to_numpy(padded.indices)
        lengths = self.to_numpy(padded.lengths)
        data = self.as_contig(padded.data.transpose((1, 0, 2)))
        out: List[Any] = [None] * len(lengths)
        for i in range(data.shape[0]):
            out[int(indices[i])] = data[i, :int(lengths[i])]
        return out

    # ----------------------------------------------------------------- LSTM
    def lstm_forward_training(self, params, H0, C0, X, size_at_t):
        """A (bidirectional, stacked) LSTM over time-major packed rows.

        `X` (N, nI) holds timestep 0 of every sequence, then timestep 1, ...;
        ``size_at_t[t]`` sequences are still running at step t (non-increasing).
        `params` is Thinc's flat layout: per layer, per direction, ``Wx``
        (4 nH, nI), ``bx`` (4 nH), ``Wh`` (4 nH, nH), ``bh`` (4 nH), the gates
        in the order forget, input, output, cell. H0 and C0 (depth, dirs, nH)
        are the initial states, H0 seeding the cells and C0 the hiddens (the
        order in which Thinc 9.1.1 hands them on). Returns ``(Y, fwd_state)``:
        Y (N, dirs nH) the last layer's outputs, and the state
        ``(Ys, G, C, X, H0, C0)`` with Ys, C (depth, dirs, N, nH) and the
        activated gates G (depth, dirs, N, 4 nH, interleaved per unit)."""
        Y, Ys, G, C = _lstm_forward(self, params, H0, C0, X, size_at_t)
        return Y, (Ys, G, C, X, H0, C0)

    def lstm_forward_inference(self, params, H0, C0, X, size_at_t):
        """The output of :meth:`lstm_forward_training` alone."""
        return _lstm_forward(self, params, H0, C0, X, size_at_t)[0]

    def backprop_lstm(self, dY, lengths, params, fwd_state):
        """The gradient of :meth:`lstm_forward_training` through every
        timestep: ``(dX, d_params)``, d_params in the layout of `params`
        (``bx`` and ``bh`` get the same gradient). `lengths` is the
        ``size_at_t`` of the forward pass."""
        return _lstm_backward(self, dY, lengths, params, fwd_state)

    # ---------------------------------------------------- activations
    # Each forward takes X and returns Y (written into X with inplace=True);
    # each backprop returns dX = dY * f'(.) (written into dY with inplace=True)
    # and raises ValueError when dY and X (or Y) differ in shape.
    def sigmoid(self, X, *, inplace: bool = False):
        """``1 / (1 + exp(-X))``, with X clipped to [-20, 20]."""
        if inplace:
            self.xp.clip(X, -20.0, 20.0, out=X)
            self.xp.negative(X, out=X)
            self.xp.exp(X, out=X)
            X += 1.0
            self.xp.reciprocal(X, out=X)
            return X
        return 1.0 / (1.0 + self.xp.exp(-self.xp.clip(X, -20.0, 20.0)))

    def dsigmoid(self, Y, *, inplace: bool = False):
        """The sigmoid's derivative from its output: ``Y * (1 - Y)``."""
        if inplace:
            Y *= 1.0 - Y
            return Y
        return Y * (1.0 - Y)

    def backprop_sigmoid(self, dY, Y, *, inplace: bool = False):
        """``dY * Y * (1 - Y)`` for `Y` the sigmoid's output."""
        check_same_shape("backprop_sigmoid", dY=dY, Y=Y)
        return _times(dY, self.dsigmoid(Y), inplace)

    def dtanh(self, Y, *, inplace: bool = False):
        """tanh's derivative from its output: ``1 - Y ** 2``."""
        if inplace:
            Y **= 2
            Y *= -1.0
            Y += 1.0
            return Y
        return 1.0 - Y ** 2

    def clipped_linear(self, X, slope: float = 1.0, offset: float = 0.0, min_val: float = 0.0,
                       max_val: float = 1.0, inplace: bool = False):
        """``clip(X * slope + offset, min_val, max_val)``."""
        if inplace:
            X *= slope
            X += offset
            return self.xp.clip(X, min_val, max_val, out=X)
        return self.xp.clip(X * slope + offset, min_val, max_val)

    def backprop_clipped_linear(self, dY, X, slope: float = 1.0, offset: float = 0.0,
                                min_val: float = 0.0, max_val: float = 1.0,
                                inplace: bool = False):
        """``dY * slope`` where ``min_val < X * slope + offset < max_val``, else 0."""
        check_same_shape("backprop_clipped_linear", dY=dY, X=X)
        low = (min_val - offset) / slope
        high = (max_val - offset) / slope
        inside = (low < X) & (X < high)
        dX = self.xp.where(inside, X.dtype.type(slope), X.dtype.type(0.0))
        return _times(dY, dX, inplace)

    def relu_k(self, X, n: float = 6.0, inplace: bool = False):
        """``clip(X, 0, n)`` (ReLU6 for n=6)."""
        return self.clipped_linear(X, max_val=n, inplace=inplace)

    def backprop_relu_k(self, dY, X, n: float = 6.0, inplace: bool = False):
        return self.backprop_clipped_linear(dY, X, max_val=n, inplace=inplace)

    def hard_sigmoid(self, X, inplace: bool = False):
        """``clip(0.2 X + 0.5, 0, 1)``."""
        return self.clipped_linear(X, slope=0.2, offset=0.5, inplace=inplace)

    def backprop_hard_sigmoid(self, dY, X, inplace: bool = False):
        return self.backprop_clipped_linear(dY, X, slope=0.2, offset=0.5, inplace=inplace)

    def hard_tanh(self, X, inplace: bool = False):
        """``clip(X, -1, 1)``."""
        return self.clipped_linear(X, min_val=-1.0, max_val=1.0, inplace=inplace)

    def backprop_hard_tanh(self, dY, X, inplace: bool = False):
        return self.backprop_clipped_linear(dY, X, min_val=-1.0, max_val=1.0, inplace=inplace)

    def swish(self, X, inplace: bool = False):
        """``X * sigmoid(X)`` (SiLU)."""
        S = self.sigmoid(X)
        if inplace:
            X *= S
            return X
        return X * S

    def backprop_swish(self, dY, X, Y, inplace: bool = False):
        """``dY * (Y + sigmoid(X) * (1 - Y))`` for `Y` the forward output."""
        check_same_shape("backprop_swish", dY=dY, X=X, Y=Y)
        return _times(dY, Y + self.sigmoid(X) * (1.0 - Y), inplace)

    def hard_swish(self, X, inplace: bool = False):
        """``X * hard_sigmoid(X)``."""
        S = self.hard_sigmoid(X)
        if inplace:
            X *= S
            return X
        return X * S

    def backprop_hard_swish(self, dY, X, inplace: bool = False):
        """``dY * (0.4 X + 0.5)`` on [-2.5, 2.5]; ``dY`` above, 0 below."""
        check_same_shape("backprop_hard_swish", dY=dY, X=X)
        dX = X * 0.4 + 0.5
        dX[X > 2.5] = 1.0
        dX[X < -2.5] = 0.0
        return _times(dY, dX, inplace)

    def hard_swish_mobilenet(self, X, inplace: bool = False):
        """``X * relu6(X + 3) / 6`` (MobileNetV3's h-swish)."""
        S = self.relu_k(X + 3.0) / 6.0
        if inplace:
            X *= S
            return X
        return X * S

    def backprop_hard_swish_mobilenet(self, dY, X, inplace: bool = False):
        """``dY * (2 X + 3) / 6`` on [-3, 3]; ``dY`` above, 0 below."""
        check_same_shape("backprop_hard_swish_mobilenet", dY=dY, X=X)
        dX = (X * 2.0 + 3.0) * (1.0 / 6.0)
        dX[X > 3.0] = 1.0
        dX[X < -3.0] = 0.0
        return _times(dY, dX, inplace)

    def dish(self, X, inplace: bool = False):
        """``0.5 X (1 + X / sqrt(1 + X^2))``."""
        S = 0.5 * (X / self.xp.sqrt(X * X + 1.0) + 1.0)
        if inplace:
            X *= S
            return X
        return X * S

    def backprop_dish(self, dY, X, inplace: bool = False):
        """``dY * (0.5 + X / sqrt(1 + X^2) - 0.5 X^3 / (1 + X^2)^1.5)``."""
        check_same_shape("backprop_dish", dY=dY, X=X)
        x2p1 = X * X + 1.0
        dX = X / self.xp.sqrt(x2p1) - 0.5 * X * (X * X) / x2p1 ** 1.5 + 0.5
        return _times(dY, dX, inplace)

    def erf(self, X):
        """The error function, to 1.5e-7 (Abramowitz and Stegun 7.1.26, as Thinc)."""
        sign = self.xp.sign(X)
        ax = self.xp.abs(X)
        t = 1.0 / (1.0 + 0.3275911 * ax)
        poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
                + 0.254829592) * t
        return (sign * (1.0 - poly * self.xp.exp(-ax * ax))).astype(X.dtype)

    def sechsq(self, X):
        """``sech(X) ** 2``, with X clipped to [-20, 20]."""
        return (1.0 / self.xp.cosh(self.xp.clip(X, -20.0, 20.0))) ** 2

    def gelu_approx(self, X, inplace: bool = False):
        """``0.5 X (1 + tanh(sqrt(2 / pi) (X + 0.044715 X^3)))``."""
        S = (0.5 * (1.0 + self.xp.tanh(SQRT_2_OVER_PI * (X + 0.044715 * X ** 3)))).astype(X.dtype)
        if inplace:
            X *= S
            return X
        return X * S

    def backprop_gelu_approx(self, dY, X, inplace: bool = False):
        """``dY * (0.5 (1 + tanh(u)) + 0.5 X sech(u)^2 u')`` with
        ``u = sqrt(2 / pi) (X + 0.044715 X^3)``."""
        check_same_shape("backprop_gelu_approx", dY=dY, X=X)
        u = SQRT_2_OVER_PI * (X + 0.044715 * X ** 3)
        du = SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * X * X)
        dX = 0.5 * (1.0 + self.xp.tanh(u)) + 0.5 * X * self.sechsq(u) * du
        return _times(dY, dX.astype(X.dtype), inplace)

    def gelu(self, X, inplace: bool = False):
        """``X * Phi(X)``, Phi the standard normal CDF (through :meth:`erf`)."""
        cdf = 0.5 * (1.0 + self.erf(INV_SQRT2 * X))
        if inplace:
            X *= cdf
            return X
        return X * cdf

    def backprop_gelu(self, dY, X, inplace: bool = False):
        """``dY * (Phi(X) + X * phi(X))``, phi the standard normal density."""
        check_same_shape("backprop_gelu", dY=dY, X=X)
        dX = 0.5 * (1.0 + self.erf(INV_SQRT2 * X)) + X * (INV_SQRT_2PI * self.xp.exp(-0.5 * X * X))
        return _times(dY, dX, inplace)

    def mish(self, X, threshold: float = 20.0, inplace: bool = False):
        """``X * tanh(log(1 + exp(X)))``; just X from `threshold` on."""
        Xc = self.xp.minimum(X, threshold)
        Y = self.xp.where(X >= threshold, X, X * self.xp.tanh(self.xp.log1p(self.xp.exp(Xc))))
        if inplace:
            X[...] = Y
            return X
        return Y

    def backprop_mish(self, dY, X, threshold: float = 20.0, inplace: bool = False):
        """``dY * exp(X) * w / d^2`` below `threshold` (dY from it on), with
        ``w = 4 (X + 1) + 4 exp(2X) + exp(3X) + exp(X) (4X + 6)`` and
        ``d = (exp(X) + 1)^2 + 1``."""
        check_same_shape("backprop_mish", dY=dY, X=X)
        xp = self.xp
        below = X < threshold
        Xs = xp.minimum(X, threshold)
        e = xp.exp(Xs)
        omega = 4.0 * (Xs + 1.0) + 4.0 * xp.exp(2.0 * Xs) + xp.exp(3.0 * Xs) + e * (4.0 * Xs + 6.0)
        delta = (e + 1.0) ** 2 + 1.0
        grad = xp.where(below, e * omega / (delta * delta), X.dtype.type(1.0)).astype(X.dtype)
        return _times(dY, grad, inplace)

    def logloss(self, y_true, y_pred):
        """Elementwise ``-(y log(p + 1e-8) + (1 - y) log(1 - p + 1e-8))``."""
        log_p = self.xp.log(y_pred + 1e-8)
        log_q = self.xp.log((1 - y_pred) + 1e-8)
        return -(y_true * log_p + (1 - y_true) * log_q)
    # --------------------------------------------------------------- optimizers
    def sum_of_squares(self, gradient, weights=None, l2: float = 0.0) -> float:
        """``sum((gradient + l2 * weights) ** 2)`` as a Python float (float64 sum).

        Non-finite whenever either array holds NaN or inf (weights only count
        when ``l2 != 0``): the optimizer's finiteness check and global norm.
        """
        g = gradient.astype("float64")
        if weights is not None and l2 != 0.0:
            g = g + l2 * weights.astype("float64")
        return float((g * g).sum())

    def segment_sum_of_squares(self, gradient, weights=None, l2: float = 0.0, segments=None):
        """Per-segment ``sum((gradient + l2 * weights) ** 2)`` of 1d arrays, segment
        k being ``gradient[segments[k]:segments[k + 1]]``: a float64 array with
        one total per segment (the per-tensor norms of a parameter arena)."""
        offsets = [int(o) for o in segments]
        g = gradient.astype("float64")
        if weights is not None and l2 != 0.0:
            g = g + l2 * weights.astype("float64")
        sq = g * g
        return self.xp.asarray([float(sq[a:b].sum()) for a, b in zip(offsets, offsets[1:])],
                               dtype="float64")

    def _segment_scale(self, grad_scale, segments, n: int):
        """`grad_scale` as one factor or, with `segments`, one factor per value."""
        if segments is None:
            return grad_scale
        offsets = self.xp.asarray(segments, dtype="int64")
        sizes = offsets[1:] - offsets[:-1]
        scales = self.xp.asarray(grad_scale, dtype="float32")
        if scales.shape != (sizes.shape[0],) or int(offsets[-1]) != n:
            raise ValueError(f"grad_scale: expected one scale per segment ({sizes.shape[0]}) of "
                             f"an array of {n} values, got shape {scales.shape}")
        return self.xp.repeat(scales, sizes)

    def adam_step(self, weights, gradient, mom1, mom2, averages=None, *,
                  scalars: KernelScalars, grad_scale: Any = 1.0, segments: Any = None) -> None:
        """One fused Adam step over 1d float32 arrays, in place; zeroes `gradient`.

        With ``k = scalars`` (a :class:`~thinc_fast.backends.kernel_args.KernelScalars`):
        ``g = (gradient + k.l2_coupled * w) * grad_scale``,
        ``m = k.beta1 m + (1 - k.beta1) g``, ``v = k.beta2 v + (1 - k.beta2) g^2``,
        ``w -= k.lr_hat * m / (sqrt(v) + k.eps)`` (``w -= k.lr_hat * m`` without
        ``k.use_denominator``: RAdam's first steps), then ``w -= k.decay * w`` and
        ``averages -= k.avg_rate * (averages - w)``. With `segments` (boundaries
        ``0 = s[0] <= ... <= s[-1] = len(w)``), `grad_scale` holds one factor
        per segment: per-tensor clipping over a whole parameter arena.
        """
        k = check_scalars("adam_step", scalars)
        check_step_arrays(weights, gradient, mom1, mom2, averages)
        grad_scale = self._segment_scale(grad_scale, segments, weights.shape[0])
        g = (gradient + k.l2_coupled * weights) * grad_scale
        mom1 *= k.beta1
        mom1 += (1.0 - k.beta1) * g
        mom2 *= k.beta2
        mom2 += (1.0 - k.beta2) * g * g
        if k.use_denominator:
            weights -= k.lr_hat * mom1 / (self.xp.sqrt(mom2) + k.eps)
        else:
            weights -= k.lr_hat * mom1
        weights -= k.decay * weights
        gradient.fill(0)
        if averages is not None:
            averages -= k.avg_rate * (averages - weights)

    def sgd_step(self, weights, gradient, averages=None, *, scalars: KernelScalars,
                 grad_scale: Any = 1.0, segments: Any = None) -> None:
        """One fused SGD step with ``k = scalars``:
        ``w -= k.lr_hat * (gradient + k.l2_coupled w) * grad_scale``, then
        ``w -= k.decay * w``; ``averages -= k.avg_rate * (averages - w)``; zeroes
        `gradient`. The record's Adam fields are not used. `segments` as in
        :meth:`adam_step`."""
        k = check_scalars("sgd_step", scalars)
        check_step_arrays(weights, gradient, None, None, averages)
        grad_scale = self._segment_scale(grad_scale, segments, weights.shape[0])
        weights -= k.lr_hat * ((gradient + k.l2_coupled * weights) * grad_scale)
        weights -= k.decay * weights
        gradient.fill(0)
        if averages is not None:
            averages -= k.avg_rate * (averages - weights)

    def adam(self, weights, gradient, mom1, mom2, beta1: float, beta2: float, eps: float,
             learn_rate: float, mod_rate: float = 1.0):
        """Thinc's Ops.adam: one step with a bias-corrected `learn_rate` given by
        the caller. Returns ``(weights, gradient, mom1, mom2)``."""
        self.adam_step(weights, gradient, mom1, mom2,
                       scalars=KernelScalars(lr_hat=learn_rate * mod_rate, beta1=beta1,
                                             beta2=beta2, eps=eps))
        return weights, gradient, mom1, mom2

    def clip_gradient(self, gradient, threshold: float):
        """Scale `gradient` in place so that its L2 norm is at most `threshold`."""
        norm = math.sqrt(self.sum_of_squares(gradient))
        if norm >= threshold and norm > 0:
            gradient *= threshold / norm
        return gradient

    def update_averages(self, ema, weights, t: int, max_decay: float = 0.9999) -> None:
        """``ema -= (1 - d) * (ema - weights)`` with ``d = min((1 + t) / (10 + t), max_decay)``."""
        decay = min((1.0 + t) / (10.0 + t), max_decay)
        ema -= (1.0 - decay) * (ema - weights)


def _times(dY: Any, dX: Any, inplace: bool) -> Any:
    """``dY * dX``, into `dY` when `inplace`."""
    if inplace:
        dY *= dX
        return dY
    return dY * dX


def _batch_sizes(method: str, length: int, size: Any) -> List[int]:
    """The size of each batch covering `length` items (the last may be cut short)."""
    if isinstance(size, bool):
        raise TypeError(f"{method}: argument 'size' must be an int or an iterator of sizes, "
                        f"got a bool")
    if isinstance(size, (int, numpy.integer)):
        if size < 1:
            raise ValueError(f"{method}: argument 'size' must be >= 1, got {size}")
        return [int(size)] * (-(-length // int(size)))
    try:
        sizes = iter(size)
    except TypeError:
        raise TypeError(f"{method}: argument 'size' must be an int or an iterator of sizes, "
                        f"got {type(size).__name__}") from None
    out: List[int] = []
    total = 0
    while total < length:
        try:
            value = next(sizes)
        except StopIteration:
            raise ValueError(f"{method}: the sizes given as 'size' ran out after {len(out)} "
                             f"batches ({total} of {length} items)") from None
        if isinstance(value, bool) or not isinstance(value, (int, float, numpy.integer,
                                                                numpy.floating)) \
                or not math.isfinite(value) or int(value) < 1:
            raise ValueError(f"{method}: each batch size drawn from 'size' must be a number "
                             f">= 1, got {value!r}")
        out.append(int(value))
        total += out[-1]
    return out


# ------------------------------------------------------------------ hashing
_MMH_C1 = 0x87C37B91114253D5
_MMH_C2 = 0x4CF5AD432745937F
_MMH64A_M = 0xC6A4A7935BD1E995


def _fmix64(xp: Any, h: Any) -> Any:
    """MurmurHash3's 64-bit finaliser, in place on a uint64 array."""
    u64 = xp.uint64
    h ^= h >> u64(33)
    h *= u64(0xFF51AFD7ED558CCD)
    h ^= h >> u64(33)
    h *= u64(0xC4CEB9FE1A85EC53)
    h ^= h >> u64(33)
    return h


# --------------------------------------------------------------------- LSTM
def _lstm_steps(ops: Ops, size_at_t: Any, n_rows: int) -> List[Tuple[int, int]]:
    """(first row, size) of each timestep; sizes non-increasing, adding up to the rows."""
    sizes = host_ints("lstm", ops, size_at_t, "size_at_t")
    if (sizes < 0).any() or (numpy.diff(sizes) > 0).any() or int(sizes.sum()) != n_rows:
        raise ValueError(f"lstm: size_at_t must be non-increasing sizes >= 0 adding up to the "
                         f"{n_rows} rows of X, got {sizes.tolist()}")
    starts = numpy.cumsum(sizes) - sizes
    return [(int(a), int(n)) for a, n in zip(starts, sizes)]


def _lstm_weights(ops: Ops, params: Any, offset: int, nH: int, nI: int):
    """One layer-direction's ``(Wx, Wh, bias, next offset)`` from Thinc's flat
    layout, the gates interleaved per unit (row 4 u + gate) and bias = bx + bh."""
    def take(size: int, shape: Tuple[int, ...]):
        nonlocal offset
        if offset + size > params.shape[0]:
            raise ValueError(f"lstm: params has {params.shape[0]} values, too few for "
                             f"this layout")
        part = params[offset:offset + size].reshape(shape)
        offset += size
        return part

    Wx = take(4 * nH * nI, (4, nH, nI)).transpose((1, 0, 2)).reshape((4 * nH, nI))
    bx = take(4 * nH, (4, nH)).T.reshape((4 * nH,))
    Wh = take(4 * nH * nH, (4, nH, nH)).transpose((1, 0, 2)).reshape((4 * nH, nH))
    bh = take(4 * nH, (4, nH)).T.reshape((4 * nH,))
    return ops.as_contig(Wx), ops.as_contig(Wh), bx + bh, offset


def _lstm_pack(xp: Any, dWx: Any, dWh: Any, d_bias: Any) -> Any:
    """Gradients of the interleaved weights back in Thinc's flat layout."""
    nH4, nI = dWx.shape
    nH = nH4 // 4
    wx = dWx.reshape((nH, 4, nI)).transpose((1, 0, 2)).ravel()
    wh = dWh.reshape((nH, 4, nH)).transpose((1, 0, 2)).ravel()
    b = d_bias.reshape((nH, 4)).T.ravel()
    return xp.concatenate((wx, b, wh, b))


def _lstm_inputs(ops: Ops, params: Any, H0: Any, C0: Any, X: Any):
    params = ops.as_contig(ops.asarray(params), dtype="float32")
    X = ops.as_contig(ops.asarray(X), dtype="float32")
    H0 = ops.asarray(H0, dtype="float32")
    C0 = ops.asarray(C0, dtype="float32")
    if H0.ndim != 3 or H0.shape != C0.shape:
        raise ValueError(f"lstm: H0 and C0 must both be (depth, dirs, nH), got {H0.shape} "
                         f"and {C0.shape}")
    if X.ndim != 2:
        raise ValueError(f"lstm: expected a 2d X, got shape {X.shape}")
    return params, H0, C0, X


def _lstm_forward(ops: Ops, params: Any, H0: Any, C0: Any, X: Any, size_at_t: Any):
    xp = ops.xp
    params, H0, C0, X = _lstm_inputs(ops, params, H0, C0, X)
    depth, dirs, nH = H0.shape
    N = X.shape[0]
    steps = _lstm_steps(ops, size_at_t, N)
    batch = max([n for _, n in steps], default=0)
    Ys = xp.zeros((depth, dirs, N, nH), dtype="float32")
    G = xp.zeros((depth, dirs, N, 4 * nH), dtype="float32")
    C = xp.zeros((depth, dirs, N, nH), dtype="float32")
    offset = 0
    layer_in = X
    for i in range(depth):
        for d in range(dirs):
            Wx, Wh, bias, offset = _lstm_weights(ops, params, offset, nH, layer_in.shape[1])
            Gid = G[i, d]
            if N:
                ops.gemm(layer_in, Wx, out=Gid, trans2=True)
            Gid += bias
            h = xp.empty((batch, nH), dtype="float32")
            c = xp.empty((batch, nH), dtype="float32")
            h[...] = C0[i, d]  # Thinc hands C0 on as the hiddens, H0 as the cells
            c[...] = H0[i, d]
            for start, size in (steps if d == 0 else steps[::-1]):
                if size == 0:
                    continue
                g = Gid[start:start + size]
                ops.gemm(h[:size], Wh, out=g, trans2=True, beta=1.0)
                g3 = g.reshape((size, nH, 4))
                g3[:, :, :3] = ops.sigmoid(g3[:, :, :3])
                g3[:, :, 3] = xp.tanh(g3[:, :, 3])
                cell = g3[:, :, 0] * c[:size] + g3[:, :, 1] * g3[:, :, 3]
                C[i, d, start:start + size] = cell
                Ys[i, d, start:start + size] = xp.tanh(cell) * g3[:, :, 2]
                c[:size] = cell
                h[:size] = Ys[i, d, start:start + size]
        layer_in = ops.as_contig(Ys[i].transpose((1, 0, 2)).reshape((N, dirs * nH)))
    if offset != params.shape[0]:
        raise ValueError(f"lstm: params has {params.shape[0]} values, the layout "
                         f"(depth={depth}, dirs={dirs}, nH={nH}, nI={X.shape[1]}) needs {offset}")
    return layer_in, Ys, G, C


def _lstm_backward(ops: Ops, dY: Any, size_at_t: Any, params: Any, fwd_state: Tuple):
    xp = ops.xp
    Ys, G, C, X = fwd_state[:4]
    depth, dirs, N, nH = C.shape
    if len(fwd_state) >= 6:
        H0, C0 = fwd_state[4], fwd_state[5]
    else:
        H0 = C0 = xp.zeros((depth, dirs, nH), dtype="float32")
    params, H0, C0, X = _lstm_inputs(ops, params, H0, C0, X)
    steps = _lstm_steps(ops, size_at_t, N)
    batch = max([n for _, n in steps], default=0)
    dY = ops.as_contig(ops.asarray(dY), dtype="float32")
    if dY.shape != (N, dirs * nH):
        raise ValueError(f"backprop_lstm: dY has shape {dY.shape}, expected {(N, dirs * nH)}")
    inputs = [X] + [ops.as_contig(Ys[i].transpose((1, 0, 2)).reshape((N, dirs * nH)))
                    for i in range(depth - 1)]
    layout = []
    offset = 0
    for i in range(depth):
        for d in range(dirs):
            start = offset
            Wx, Wh, _, offset = _lstm_weights(ops, params, offset, nH, inputs[i].shape[1])
            layout.append((i, d, Wx, Wh, start, offset))
    d_params = xp.zeros(params.shape, dtype="float32")
    dX = dY
    for i in reversed(range(depth)):
        dH = dX.reshape((N, dirs, nH))
        dX = xp.zeros(inputs[i].shape, dtype="float32")
        for _, d, Wx, Wh, p0, p1 in [entry for entry in layout if entry[0] == i]:
            order = steps if d == 0 else steps[::-1]
            Gid, Cid, Yid = G[i, d], C[i, d], Ys[i, d]
            dG = xp.zeros((N, 4 * nH), dtype="float32")
            Hprev = xp.zeros((N, nH), dtype="float32")
            dh = xp.zeros((batch, nH), dtype="float32")
            dc = xp.zeros((batch, nH), dtype="float32")
            for p in reversed(range(len(order))):
                start, size = order[p]
                if size == 0:
                    continue
                rows = slice(start, start + size)
                # The state this step started from: the previous step's rows
                # where that step ran them, the initial state elsewhere.
                c_prev = xp.empty((size, nH), dtype="float32")
                h_prev = xp.empty((size, nH), dtype="float32")
                c_prev[...] = H0[i, d]
                h_prev[...] = C0[i, d]
                m = min(size, order[p - 1][1]) if p > 0 else 0
                if m:
                    prev = order[p - 1][0]
                    c_prev[:m] = Cid[prev:prev + m]
                    h_prev[:m] = Yid[prev:prev + m]
                Hprev[rows] = h_prev
                g3 = Gid[rows].reshape((size, nH, 4))
                hf, hi, ho, hc = g3[:, :, 0], g3[:, :, 1], g3[:, :, 2], g3[:, :, 3]
                tc = xp.tanh(Cid[rows])
                dy = dH[rows, d] + dh[:size]
                dcell = dc[:size] + dy * ho * (1.0 - tc * tc)
                dG3 = dG[rows].reshape((size, nH, 4))
                dG3[:, :, 0] = dcell * c_prev * hf * (1.0 - hf)
                dG3[:, :, 1] = dcell * hc * hi * (1.0 - hi)
                dG3[:, :, 2] = dy * tc * ho * (1.0 - ho)
                dG3[:, :, 3] = dcell * hi * (1.0 - hc * hc)
                dh_prev = ops.gemm(dG[rows], Wh)
                dh[...] = 0.0
                dc[...] = 0.0
                dh[:m] = dh_prev[:m]
                dc[:m] = (dcell * hf)[:m]
            if N:
                dWx = ops.gemm(dG, inputs[i], trans1=True)
                dWh = ops.gemm(dG, Hprev, trans1=True)
                ops.gemm(dG, Wx, out=dX, beta=1.0)
            else:
                dWx = xp.zeros(Wx.shape, dtype="float32")
                dWh = xp.zeros(Wh.shape, dtype="float32")
            d_params[p0:p1] = _lstm_pack(xp, dWx, dWh, dG.sum(axis=0))
    return dX, d_params
