"""thinc_fast's kernels as a backend for the Thinc (and spaCy) you already run.

``ThincFastOps`` is the installed Thinc's own ``NumpyOps`` (Thinc 8.3.x or
9.1.x) with the methods for which thinc_fast has a faster kernel handed to
that kernel: every Thinc layer and every spaCy architecture uses it unchanged.
Thinc finds it through its ``thinc_ops`` entry point (declared in
thinc_fast's ``pyproject.toml``), so once thinc_fast is installed in the same
environment (``pip install .`` in a checkout, or the wheel)::

    from thinc.api import get_ops, set_current_ops, use_ops

    set_current_ops(get_ops("thinc_fast"))      # every model created from now on
    with use_ops("thinc_fast"):                 # or for one block
        ...

    from thinc_fast.backends.thinc_backend import use_thinc_fast
    use_thinc_fast(model_or_nlp)  # the current ops, that model's nodes, Thinc's Optimizer

and in a spaCy training config, one line (see :mod:`thinc_fast.spacy_callbacks`)::

    [initialize]
    before_init = {"@callbacks": "thinc_fast.use_ops.v1"}

Each method takes thinc_fast's kernel only for the inputs that kernel
handles as Thinc's ``NumpyOps`` would (dtypes, layouts, index ranges); every
other call goes to Thinc's own method, so Thinc's results and Thinc's errors
are kept for edge cases (a negative int32 id in ``scatter_add`` is skipped,
as Thinc's kernel skips it, and NumPy's "from the end" for the inputs Thinc
hands to ``numpy.add.at``; a non-contiguous ``seq2col`` input is Thinc's
ValueError). The exceptions are inputs on which Thinc's own kernels read or
write past an array (``gemm`` into an ``out`` of another shape, ``gather_add``
ids of -1 or ``rows``, negative ``which`` entries in ``backprop_maxout`` and
``backprop_reduce_max``, more lengths than rows in the backprop reductions):
those raise an error naming the problem (Thinc's type where it has one).

Bits: ``hash``, ``gather_add``, ``scatter_add``, ``seq2col``, ``maxout``,
``reduce_sum``, ``reduce_max``, every backprop and ``unflatten`` give Thinc's
own bits. Three round differently: ``gemm`` (its sum over k runs in another
order: blocks, short-k and dot kernels, threads), ``reduce_mean`` (the sum
times 1/length, where Thinc adds each row times 1/length: about 1 ulp in a
tenth of the elements) and ``adam`` (one fused pass; Thinc's goes through
blis's axpy: about 1 ulp). A spaCy pipeline trained on the backend therefore
drifts from one trained on Thinc's NumpyOps as training goes on: in 17 spaCy
3.8 pipelines (generated data, 3 epochs) no more than Thinc's own
``NumpyOps(use_blis=False)`` drifted from it in 13, with the same predicted
tags, entities, spans and categories in all 17.

Accelerated: ``gemm`` (and the sgemm inside ``cblas()``, which spaCy's parser
and NER call from Cython: blis with the kernel chosen per CPU and per shape,
split over the cores), ``seq2col`` / ``backprop_seq2col``, ``maxout`` /
``backprop_maxout``, ``hash``, ``gather_add``, ``scatter_add``,
``reduce_sum/mean/max`` and their backprops, and ``adam`` (the update Thinc's
Optimizer calls for each parameter: one fused pass instead of Thinc's three),
and ``unflatten`` (slices instead of ``numpy.split``).
Left to Thinc: the LSTM, the activations (whose clipping differs between
Thinc lines), LayerNorm and the other layers written with NumPy calls.

Thinc's Optimizer does not use the current ops: it asks ``get_array_ops``
for each parameter, which gives Thinc's NumpyOps for NumPy arrays. So the
fused ``adam`` runs only after :func:`use_thinc_fast` (which the spaCy config
line calls), which points that at the backend; :func:`stop_thinc_fast` undoes it.

Large outputs (1 MiB and more) come from a bounded cache of memory already
touched (:func:`thinc_fast.backends.numpy_ops.reused_empty`): a fresh one would
page-fault inside the kernel.

Threads: ``thinc_fast.backends.set_num_threads(n)`` or the
``THINC_FAST_NUM_THREADS`` environment variable (default: the CPUs this
process may run on). Results are the same for any thread count.
"""
from __future__ import annotations

import ctypes
import warnings
from typing import Any, Dict, Optional

import numpy

from thinc.backends.numpy_ops import NumpyOps as _ThincNumpyOps

from . import numpy_ops as _kernels
from .numpy_ops import set_num_threads
from .kernel_args import KernelScalars
from .seq_kernels import bmaxout_f32 as _bmaxout_f32
from .seq_kernels import breduce_sum_f32 as _breduce_sum_f32
from .seq_kernels import lengths_offsets as _lengths_offsets
from .seq_kernels import maxout_f32 as _maxout_f32
from .seq_kernels import reduce_sum_f32 as _reduce_sum_f32
from .seq_kernels import scatter_add_skipping_negatives as _scatter_add_skipping_negatives

__all__ = ["ThincFastOps", "cblas_status", "use_thinc_fast", "stop_thinc_fast"]

_F32 = numpy.dtype("float32")
_F64 = numpy.dtype("float64")
_I32 = numpy.dtype("int32")
# large outputs from memory already touched (see numpy_ops.reused_empty)
_FAST = _kernels.ReusingNumpyOps()
_REUSED_EMPTY = _kernels.reused_empty
_ALIGNED_EMPTY = _kernels.aligned_empty

# Why cblas() hands out thinc_fast's sgemm or not (for `thinc-fast info` and tests).
_CBLAS: Dict[str, Any] = {}


def _set_sgemm_function():
    """Thinc's own ``set_sgemm(CBlas, sgemm_ptr)`` (a Cython cdef function
    exported in ``thinc.backends.cblas.__pyx_capi__``) as a ctypes callable,
    or None with the reason in ``_CBLAS``. Checked by its C signature, so a
    Thinc whose CBlas changed shape is left on its own sgemm."""
    if "setter" in _CBLAS:
        return _CBLAS["setter"]
    _CBLAS["setter"] = None
    try:
        from thinc.backends import cblas as thinc_cblas

        capsule = thinc_cblas.__pyx_capi__["set_sgemm"]
    except (ImportError, AttributeError, KeyError) as exc:
        _CBLAS["reason"] = f"Thinc exports no set_sgemm ({exc})"
        return None
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object,
                                                                   ctypes.c_char_p]
    signature = get_name(capsule)
    text = (signature or b"").decode("ascii", "replace")
    if not (text.startswith("void (") and "CBlas *" in text and text.endswith("sgemm_ptr)")
            and text.count(",") == 1):
        _CBLAS["reason"] = f"Thinc's set_sgemm has an unexpected signature: {text!r}"
        return None
    address = get_pointer(capsule, signature)
    if not address:
        _CBLAS["reason"] = "Thinc's set_sgemm capsule holds no function"
        return None
    # PYFUNCTYPE: called with the GIL held (the function only stores a pointer)
    setter = ctypes.PYFUNCTYPE(None, ctypes.py_object, ctypes.c_void_p)(address)
    _CBLAS.update(setter=setter, reason="thinc_fast's sgemm installed in Thinc's CBlas")
    return setter


def _check_more_lengths_than_rows(name: str, d: Any, lengths: Any) -> None:
    """Thinc's backprop reductions read one row of `d` per length, past its end
    when there are more lengths than rows (garbage in the gradient, no error)."""
    if (isinstance(d, numpy.ndarray) and isinstance(lengths, numpy.ndarray) and d.ndim == 2
            and lengths.ndim == 1 and lengths.shape[0] > d.shape[0]):
        raise ValueError(f"{name}: {lengths.shape[0]} lengths but {d.shape[0]} rows of "
                         "gradient; give one length per row (per sequence)")


def with_our_sgemm(table: Any) -> Any:
    """Thinc's ``CBlas`` `table` with its sgemm pointed at thinc_fast's gemm
    (left on Thinc's own when Thinc's ``set_sgemm`` is missing or changed:
    :func:`cblas_status` says why); returns `table`."""
    setter = _set_sgemm_function()
    if setter is not None:
        setter(table, _kernels.thinc_cblas_sgemm_address())
    return table


def cblas_status() -> str:
    """Whether ``ThincFastOps.cblas()`` carries thinc_fast's sgemm, and why not."""
    _set_sgemm_function()
    return _CBLAS.get("reason", "not tried")


def _c_array(arr: Any, dtype: Optional[numpy.dtype] = None, ndim: Optional[int] = None) -> bool:
    """`arr` is a C-contiguous ndarray (of `dtype` and `ndim`, when given)."""
    return (isinstance(arr, numpy.ndarray) and arr.flags.c_contiguous
            and (dtype is None or arr.dtype == dtype) and (ndim is None or arr.ndim == ndim))


def _real(arr: Any) -> bool:
    return isinstance(arr, numpy.ndarray) and (arr.dtype == _F32 or arr.dtype == _F64)


def _lengths_ok(lengths: Any, total: int, min_length: int) -> bool:
    """int32 lengths, C-contiguous and 1d, each >= min_length, summing to `total`
    (one pass in C: 1.1 us against 4.1 for lengths.min() and lengths.sum())."""
    return _c_array(lengths, _I32, 1) and _lengths_offsets(lengths, total, min_length, 1) is not None


def _seq_lengths_ok(lengths: Any, n_seqs: int, min_length: int) -> bool:
    """int32 lengths, C-contiguous and 1d, one per sequence, each >= min_length."""
    return (_c_array(lengths, _I32, 1) and lengths.shape[0] == n_seqs
            and (n_seqs == 0 or int(lengths.min()) >= min_length))


class ThincFastOps(_ThincNumpyOps):
    """The installed Thinc's NumpyOps, with thinc_fast's kernels where they
    compute what Thinc's would (see the module docstring). The kernels check
    their index arguments before they write anything and raise IndexError for
    one out of range: such calls then go to Thinc's own method."""

    name = "thinc_fast"

    def alloc(self, shape, *, dtype="float32", zeros=True):
        """Thinc's ``alloc``, with the data on a 64-byte boundary (NumPy's
        allocator gives 16): the dot-product gemm reads rows along k whole
        cache lines at a time only from there (see
        :func:`thinc_fast.backends.numpy_ops.aligned_empty`; the kernels'
        large outputs are aligned too)."""
        try:  # aligned_empty checks the shape and dtype before it allocates
            return _ALIGNED_EMPTY(shape, dtype, zeros)
        except (TypeError, ValueError, OverflowError):  # Thinc's own error for them
            return super().alloc(shape, dtype=dtype, zeros=zeros)

    def asarray(self, data, dtype=None):
        """Thinc's ``asarray``. Where it would copy a C-ordered NumPy array to
        another dtype anyway, the copy starts on a 64-byte boundary: Thinc's
        initializers draw weights in float64 and convert them here, and the
        dot-product gemm reads weights along k (one operand off a cache line
        cost 2-5% there, both 23%). Arrays of the dtype asked are returned as
        they are, as Thinc does."""
        if dtype is not None and type(data) is numpy.ndarray and data.flags.c_contiguous:
            wanted = numpy.dtype(dtype)
            if wanted == data.dtype:  # what Thinc returns too (asarray or astype, copy=False)
                return data
            if wanted.kind in "biuf" and wanted.isnative:
                out = _kernels.aligned_empty(data.shape, wanted)
                numpy.copyto(out, data, casting="unsafe")  # astype's casting
                return out
        return super().asarray(data, dtype=dtype)

    # ------------------------------------------------------------ sequences as lists
    def unflatten(self, X, lengths, pad=0):
        """Thinc's ``unflatten``: the same views of `X` (``numpy.split`` at the
        cumulative lengths, the last piece dropped; `pad` rows skipped before
        each non-empty sequence), cut by slicing instead of ``numpy.split``,
        which spends several us a piece (spaCy's ``with_array``: 32 documents a
        batch, 76 us against 21)."""
        if type(X) is numpy.ndarray and X.ndim >= 1 and isinstance(pad, int):
            lens = numpy.asarray(lengths)
            if lens.ndim == 1 and lens.dtype.kind in "iu":
                if pad > 0:
                    lens = numpy.where(lens > 0, lens + pad, 0)
                ends = numpy.cumsum(lens).tolist()
                unflat = [X[start:end] for start, end in zip([0] + ends[:-1], ends)]
                return [piece[pad:] for piece in unflat] if pad > 0 else unflat
        return super().unflatten(X, lengths, pad=pad)

    # ------------------------------------------------------------ gemm
    def gemm(self, x, y, out=None, trans1=False, trans2=False):
        """``op(x) @ op(y)`` (into `out` when given), float32 through thinc_fast's
        blis gemm; anything else as Thinc's NumpyOps does it."""
        if (self.use_blis and isinstance(x, numpy.ndarray) and isinstance(y, numpy.ndarray)
                and x.ndim == 2 and y.ndim == 2 and x.dtype == _F32 and y.dtype == _F32):
            m, k = (x.shape[1], x.shape[0]) if trans1 else x.shape
            k2, n = (y.shape[1], y.shape[0]) if trans2 else y.shape
            if k == k2:  # else Thinc's "Shape mismatch" ValueError
                if isinstance(out, numpy.ndarray) and out.shape != (m, n):
                    # Thinc's blis gemm writes into `out` whatever its shape, past
                    # its end when it is smaller (a heap corruption)
                    raise ValueError(f"gemm: out has shape {out.shape}, but the product is "
                                     f"({m}, {n}): give an out of shape ({m}, {n}), or none")
                if (x.flags.c_contiguous and y.flags.c_contiguous
                        and (out is None or (_c_array(out, _F32) and out.flags.writeable))):
                    if out is None:
                        out = _kernels.reused_empty((m, n))
                    return _FAST.gemm(x, y, out=out, trans1=trans1, trans2=trans2)
        return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)

    def __getstate__(self) -> Dict[str, Any]:
        """Pickled (and deep-copied) without the ``CBlas`` that :meth:`cblas`
        keeps: Thinc's CBlas holds a C pointer and cannot be pickled, and a
        model or spaCy pipeline that has run the parser holds these ops (spaCy's
        ``nlp.pipe(n_process=...)`` under spawn, joblib, Ray pickle it). The
        copy builds its own on its first ``cblas()``."""
        state = dict(self.__dict__)
        state.pop("_thinc_fast_cblas", None)
        return state

    def cblas(self):
        """Thinc's ``CBlas`` with its sgemm set to thinc_fast's (spaCy's parser
        and NER take their gemm from here); Thinc's own when that cannot be set."""
        table = getattr(self, "_thinc_fast_cblas", None)
        if table is None:  # built once: spaCy asks for it at every step
            table = with_our_sgemm(super().cblas())
            self._thinc_fast_cblas = table
        return table

    # ------------------------------------------------------------ sequences
    def seq2col(self, seq, nW, *, lengths=None):
        if (_real(seq) and _c_array(seq, ndim=2) and isinstance(nW, int) and nW >= 0
                and (lengths is None or _lengths_ok(lengths, seq.shape[0], 0))):
            return _FAST.seq2col(seq, nW, lengths=lengths)
        return super().seq2col(seq, nW, lengths=lengths)

    def backprop_seq2col(self, dY, nW, *, lengths=None):
        if (_real(dY) and _c_array(dY, ndim=2) and isinstance(nW, int) and nW >= 0
                and dY.shape[1] % (2 * nW + 1) == 0
                and (lengths is None or _lengths_ok(lengths, dY.shape[0], 0))):
            return _FAST.backprop_seq2col(dY, nW, lengths=lengths)
        return super().backprop_seq2col(dY, nW, lengths=lengths)

    # maxout, its gradient and scatter_add are called per step by spaCy's parser
    # and NER on small arrays (32 x 64 x 2, 256 ids): their float32 cases are
    # checked in C from the arrays' headers (seq_kernels' *_f32 entry points),
    # since Python-level checks cost more than Thinc's whole call there
    def maxout(self, X):
        if type(X) is numpy.ndarray and X.ndim == 3:
            result = _maxout_f32(X, _REUSED_EMPTY)  # float32, C-ordered, pieces > 0
            if result is not None:
                return result
            if X.dtype == _F64 and X.flags.c_contiguous and X.shape[2] > 0:
                return _FAST.maxout(X)
        return super().maxout(X)

    def backprop_maxout(self, dY, which, P):
        if (type(P) is int and P > 0 and type(dY) is numpy.ndarray and dY.ndim == 2
                and _c_array(which, _I32, 2) and which.shape == dY.shape):
            # a piece outside [0, P) is an IndexError naming the range found
            # (Thinc's kernel writes outside dX for a negative one)
            result = _bmaxout_f32(dY, which, P, _REUSED_EMPTY)
            if result is None and dY.dtype == _F64 and dY.flags.c_contiguous:
                result = _FAST.backprop_maxout(dY, which, P)
            if result is not None:
                return result
        if (isinstance(dY, numpy.ndarray) and isinstance(which, numpy.ndarray)
                and which.shape != dY.shape):
            # Thinc's kernel reads `which` as if it had dY's shape, past its end
            raise ValueError(f"backprop_maxout: which has shape {which.shape} and dY "
                             f"{dY.shape}; they must be the same (which is what maxout "
                             "returned with its output)")
        return super().backprop_maxout(dY, which, P)

    def hash(self, ids, seed):
        if _c_array(ids, numpy.dtype("uint64"), 1) and isinstance(seed, int) and 0 <= seed < 2**32:
            return _FAST.hash(ids, seed)
        return super().hash(ids, seed)

    def gather_add(self, table, indices):
        if (_real(table) and _c_array(table, ndim=2) and isinstance(indices, numpy.ndarray)
                and indices.ndim == 2 and indices.dtype.kind in "iu"
                and indices.flags.c_contiguous):
            # an id outside [0, rows) is an IndexError naming it; Thinc's kernel
            # raises only past rows and reads outside the table for -1 or rows
            return _FAST.gather_add(table, indices)
        if (isinstance(table, numpy.ndarray) and table.ndim == 2
                and isinstance(indices, numpy.ndarray) and indices.dtype.kind in "iu"
                and indices.size):
            lo, hi = int(indices.min()), int(indices.max())
            if lo < 0 or hi >= table.shape[0]:
                raise IndexError(f"gather_add: index {lo if lo < 0 else hi} is out of bounds "
                                 f"for a table of {table.shape[0]} rows")
        return super().gather_add(table, indices)

    def scatter_add(self, table, indices, values):
        """``table[indices] += values`` (repeated ids add up), as the installed
        Thinc's NumpyOps does it. Where Thinc runs its own kernel (a float32
        C-ordered 2d table and values, 1d int32 ids) a negative id is
        skipped, as that kernel skips it (spaCy's parser marks a missing token
        with -1); elsewhere, as Thinc's ``numpy.add.at``, -1 is the last row.
        An id past the end is NumPy's IndexError, raised before anything is
        added (Thinc's kernel would write outside the table)."""
        # where Thinc runs its kernel (float32 C-ordered table and values, 1d
        # int32 ids): negative ids skipped, one past the end an IndexError
        result = _scatter_add_skipping_negatives(table, indices, values)
        if result is not None:
            return result
        if (_real(table) and _c_array(table, ndim=2) and table.flags.writeable
                and isinstance(indices, numpy.ndarray) and indices.ndim == 1
                and indices.dtype.kind in "iu" and _c_array(values, table.dtype, 2)
                and values.shape == (indices.shape[0], table.shape[1])):
            try:  # float64, or ids of another integer type: NumPy's meaning of -1
                return _FAST.scatter_add(table, indices, values)
            except IndexError:  # ids outside [0, rows): nothing was added
                pass
            rows = table.shape[0]
            if indices.dtype.kind == "i" and int(indices.min()) >= -rows:
                indices = numpy.where(indices < 0, indices + rows, indices)
                try:
                    return _FAST.scatter_add(table, indices, values)
                except IndexError:  # an id past the end
                    pass
            numpy.add.at(table, indices, values)  # NumPy's IndexError, as Thinc's
            return table
        return super().scatter_add(table, indices, values)

    # ------------------------------------------------------------ optimizer
    def adam(self, weights, gradient, mom1, mom2, beta1, beta2, eps, learn_rate, mod_rate=1.0):
        """Thinc's Adam update of one parameter, in place, in one fused pass
        (split over the threads for large parameters):
        ``m1 = b1 m1 + (1 - b1) g; m2 = b2 m2 + (1 - b2) g^2;
        w -= learn_rate m1 / (sqrt(m2) + eps); g = 0``. Thinc's Optimizer passes
        the bias-corrected rate as `learn_rate`; `mod_rate` is unused, as in Thinc."""
        arrays = (weights, gradient, mom1, mom2)
        if (all(_c_array(a, _F32, 1) for a in arrays)
                and weights.shape == gradient.shape == mom1.shape == mom2.shape
                and all(a.flags.writeable for a in arrays)):
            _FAST.adam_step(weights, gradient, mom1, mom2,
                            scalars=KernelScalars(lr_hat=learn_rate, beta1=beta1, beta2=beta2,
                                                  eps=eps))
            return weights, gradient, mom1, mom2
        return super().adam(weights, gradient, mom1, mom2, beta1, beta2, eps, learn_rate,
                            mod_rate)

    # ------------------------------------------------------------ reductions
    # float32 with int32 lengths: checked in C, the offsets made once
    # (seq_kernels.reduce_sum_f32: 1000 x 1 in 50 sequences took 12.8 us on
    # the path below, Thinc 5.7); lengths must add up to the rows, as Thinc's
    # kernels require
    def reduce_sum(self, X, lengths):
        result = _reduce_sum_f32(X, lengths, 0, 1, _REUSED_EMPTY)
        if result is not None:
            return result
        if _real(X) and _c_array(X, ndim=2) and _lengths_ok(lengths, X.shape[0], 0):
            return _FAST.reduce_sum(X, lengths)
        return super().reduce_sum(X, lengths)

    def reduce_mean(self, X, lengths):
        result = _reduce_sum_f32(X, lengths, 1, 1, _REUSED_EMPTY)
        if result is not None:
            return result
        if _real(X) and _c_array(X, ndim=2) and _lengths_ok(lengths, X.shape[0], 0):
            return _FAST.reduce_mean(X, lengths)
        return super().reduce_mean(X, lengths)

    def reduce_max(self, X, lengths):
        if _real(X) and _c_array(X, ndim=2) and _lengths_ok(lengths, X.shape[0], 1):
            return _FAST.reduce_max(X, lengths)
        return super().reduce_max(X, lengths)

    def backprop_reduce_sum(self, d_sums, lengths):
        result = _breduce_sum_f32(d_sums, lengths, 0, _REUSED_EMPTY)
        if result is not None:
            return result
        if (_real(d_sums) and _c_array(d_sums, ndim=2)
                and _seq_lengths_ok(lengths, d_sums.shape[0], 0)):
            return _FAST.backprop_reduce_sum(d_sums, lengths)
        _check_more_lengths_than_rows("backprop_reduce_sum", d_sums, lengths)
        return super().backprop_reduce_sum(d_sums, lengths)

    def backprop_reduce_mean(self, d_means, lengths):
        result = _breduce_sum_f32(d_means, lengths, 1, _REUSED_EMPTY)
        if result is not None:
            return result
        if (_real(d_means) and _c_array(d_means, ndim=2)
                and _seq_lengths_ok(lengths, d_means.shape[0], 0)):
            return _FAST.backprop_reduce_mean(d_means, lengths)
        _check_more_lengths_than_rows("backprop_reduce_mean", d_means, lengths)
        return super().backprop_reduce_mean(d_means, lengths)

    def backprop_reduce_max(self, d_maxes, which, lengths):
        if (_real(d_maxes) and _c_array(d_maxes, ndim=2) and _c_array(which, _I32, 2)
                and which.shape == d_maxes.shape
                and _seq_lengths_ok(lengths, d_maxes.shape[0], 1)):
            # `which` naming a row outside its sequence is an IndexError, as
            # in Thinc, whose kernel writes before dX for a negative one
            return _FAST.backprop_reduce_max(d_maxes, which, lengths)
        _check_more_lengths_than_rows("backprop_reduce_max", d_maxes, lengths)
        return super().backprop_reduce_max(d_maxes, which, lengths)


_ORIGINALS: Dict[str, Any] = {}


def _optimizer_array_ops(array: Any) -> Any:
    """What Thinc's Optimizer gets for each parameter once :func:`use_thinc_fast`
    ran: the backend for NumPy arrays, Thinc's own answer otherwise."""
    if isinstance(array, numpy.ndarray):
        return _OPTIMIZER_OPS[0]
    return _ORIGINALS["get_array_ops"](array)


_OPTIMIZER_OPS: list = []


def _cpu_ops_are_ours(name: str, **kwargs: Any) -> Any:
    """Thinc's ``get_ops`` once :func:`use_thinc_fast` ran: ``"cpu"`` (Thinc's
    "best CPU backend", what ``use_ops("cpu")`` and ``require_cpu()`` ask for)
    gives the backend; any other name gets Thinc's own answer. spaCy's parser
    and NER build their output layer under ``use_ops("cpu")``, at construction
    and whenever they learn new labels: without this, a pipeline built after
    ``use_thinc_fast(None)`` kept that layer on Thinc's NumpyOps."""
    if name == "cpu":
        return ThincFastOps(**kwargs)
    return _ORIGINALS["thinc.backends.get_ops"](name, **kwargs)


def _thinc_get_ops_modules() -> list:
    """The modules whose ``get_ops`` Thinc's callers look up at call time:
    ``thinc.backends`` (``use_ops``, ``require_cpu``) and ``thinc.api``."""
    import thinc.api
    import thinc.backends

    return [thinc.backends, thinc.api]


def use_thinc_fast(target: Any = None, num_threads: Optional[int] = None) -> Any:
    """Switch the running Thinc (and spaCy) to thinc_fast's backend: the current
    ops become a ``ThincFastOps``; Thinc's Optimizer, which picks its ops per
    parameter with ``thinc.optimizers.get_array_ops`` (Thinc's NumpyOps for any
    NumPy array), gets the backend for NumPy arrays, so its Adam runs fused; and
    when `target` is a Thinc model or a spaCy ``Language`` (anything with
    ``components`` holding models), each of its models moves onto the backend.
    `num_threads`: the kernels' threads (None: unchanged). From then on Thinc's
    ``get_ops("cpu")`` (inside ``use_ops("cpu")`` and ``require_cpu()``) gives
    the backend too, so layers built later land on it. Returns `target`.
    When the current ops are not a CPU NumpyOps (a GPU run), nothing changes
    and a warning says so."""
    from thinc import optimizers as thinc_optimizers
    from thinc.api import get_current_ops, set_current_ops

    current = get_current_ops()
    if not isinstance(current, _ThincNumpyOps):  # CupyOps (spacy train --gpu-id 0), ...
        warnings.warn(f"thinc_fast: the current ops are {type(current).__name__}, not a CPU "
                      f"NumpyOps: left as they are (thinc_fast's backend is for the CPU)",
                      stacklevel=2)
        return target
    if num_threads is not None:
        set_num_threads(num_threads)
    if not isinstance(current, ThincFastOps) and "current_ops" not in _ORIGINALS:
        _ORIGINALS["current_ops"] = current  # what stop_thinc_fast puts back
    ops = ThincFastOps()
    set_current_ops(ops)
    if not _OPTIMIZER_OPS:
        _OPTIMIZER_OPS.append(ops)
    if thinc_optimizers.get_array_ops is not _optimizer_array_ops:
        _ORIGINALS["get_array_ops"] = thinc_optimizers.get_array_ops
        thinc_optimizers.get_array_ops = _optimizer_array_ops
    for module in _thinc_get_ops_modules():
        if module.get_ops is not _cpu_ops_are_ours:
            _ORIGINALS[f"{module.__name__}.get_ops"] = module.get_ops
            module.get_ops = _cpu_ops_are_ours
    for model in _models_of(target):
        _move(model, ops)
    return target


def stop_thinc_fast() -> None:
    """Undo :func:`use_thinc_fast` for what comes next: Thinc's Optimizer and
    ``get_ops("cpu")`` pick their ops as Thinc does, and when the current ops
    are the backend's, the ops that were current before the first
    :func:`use_thinc_fast` come back (a plain Thinc NumpyOps if it never
    switched); any other current ops (a GPU's, those of a ``use_ops`` block)
    stay. The ops put back are the process's, whichever thread or context
    calls it. Models already moved keep the backend."""
    from thinc import optimizers as thinc_optimizers
    from thinc.api import get_current_ops, set_current_ops

    if thinc_optimizers.get_array_ops is _optimizer_array_ops:
        thinc_optimizers.get_array_ops = _ORIGINALS["get_array_ops"]
    for module in _thinc_get_ops_modules():
        if module.get_ops is _cpu_ops_are_ours:
            module.get_ops = _ORIGINALS[f"{module.__name__}.get_ops"]
    before = _ORIGINALS.pop("current_ops", None)
    if isinstance(get_current_ops(), ThincFastOps):
        set_current_ops(before if before is not None else _ThincNumpyOps())


def _models_of(target: Any) -> list:
    if target is None or isinstance(target, type):
        return []
    if hasattr(target, "walk") and hasattr(target, "ops"):
        return [target]
    models = []
    for _name, component in getattr(target, "components", []):
        model = getattr(component, "model", None)
        if model is not None and hasattr(model, "walk"):
            models.append(model)
    return models


def _move(model: Any, ops: Any) -> None:
    """Every CPU node of `model` onto `ops`. spaCy's parser and NER rebuild their
    output layer when they learn new labels (their ``resize_output`` attr, which
    builds it under ``use_ops("cpu")``): that function is wrapped so that the
    new layer moves too, also after :func:`stop_thinc_fast`."""
    for node in model.walk():
        if isinstance(node.ops, _ThincNumpyOps):  # never a GPU model
            node.ops = ops
        resize = node.attrs.get("resize_output")
        if callable(resize) and not getattr(resize, "thinc_fast_moves", False):
            node.attrs["resize_output"] = _MovesResized(resize, ops)


class _MovesResized:
    """A parser model's ``resize_output(model, n_outputs)`` that moves the model
    it resized, and what it returns, onto `ops`. A class at module level, not a
    closure: a pipeline holding it must pickle (spaCy's ``nlp.pipe(n_process=)``
    under spawn, joblib, Ray). Left out of saved models as the function it
    wraps is (Thinc skips attrs that msgpack cannot write)."""

    thinc_fast_moves = True

    def __init__(self, resize: Any, ops: Any) -> None:
        self.resize = resize
        self.ops = ops

    def __call__(self, model: Any, *args: Any, **kwargs: Any) -> Any:
        result = self.resize(model, *args, **kwargs)
        for moved in (model, result):
            if hasattr(moved, "walk"):
                _move(moved, self.ops)
        return result
