"""thinc_fast's kernels as a backend for the Thinc (and spaCy) you already run.

``ThincFastOps`` is the installed Thinc's own ``NumpyOps`` (Thinc 8.3.x or
9.1.x) with the methods for which thinc_fast has a faster kernel handed to
that kernel: every Thinc layer and every spaCy architecture uses it unchanged.
Thinc finds it through its ``thinc_ops`` entry point (declared in
thinc_fast's ``pyproject.toml``), so after ``pip install thinc_fast``::

    from thinc.api import get_ops, set_current_ops, use_ops

    set_current_ops(get_ops("thinc_fast"))      # every model created from now on
    with use_ops("thinc_fast"):                 # or for one block
        ...

and in a spaCy training config, one line (see :mod:`thinc_fast.spacy_callbacks`)::

    [initialize]
    before_init = {"@callbacks": "thinc_fast.use_ops.v1"}

Each method takes thinc_fast's kernel only for the inputs that kernel computes
exactly as Thinc's ``NumpyOps`` would (dtypes, layouts, index ranges); every
other call goes to Thinc's own method, so Thinc's results and Thinc's errors
are kept for edge cases (a negative id in ``scatter_add`` is NumPy's
"from the end", as Thinc's fallback has it; a non-contiguous ``seq2col`` input
is Thinc's ValueError).

Accelerated: ``gemm`` (and the sgemm inside ``cblas()``, which spaCy's parser
and NER call from Cython: blis with the kernel chosen per CPU and per shape,
split over the cores), ``seq2col`` / ``backprop_seq2col``, ``maxout`` /
``backprop_maxout``, ``hash``, ``gather_add``, ``scatter_add``,
``reduce_sum/mean/max`` and their backprops. Left to Thinc: the optimizers'
``adam`` (Thinc's per-parameter semantics), the LSTM, activations whose
clipping differs between Thinc lines, and everything that is plain NumPy.

Threads: ``thinc_fast.backends.set_num_threads(n)`` or the
``THINC_FAST_NUM_THREADS`` environment variable (default: the CPUs this
process may run on). Results are the same for any thread count.
"""
from __future__ import annotations

import ctypes
from typing import Any, Dict, Optional

import numpy

from thinc.backends.numpy_ops import NumpyOps as _ThincNumpyOps

from . import numpy_ops as _kernels

__all__ = ["ThincFastOps", "cblas_status"]

_F32 = numpy.dtype("float32")
_F64 = numpy.dtype("float64")
_I32 = numpy.dtype("int32")
_FAST = _kernels.NumpyOps()

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
    """int32 lengths, C-contiguous and 1d, each >= min_length, summing to `total`."""
    if not _c_array(lengths, _I32, 1):
        return False
    if lengths.shape[0] == 0:
        return total == 0
    return int(lengths.min()) >= min_length and int(lengths.sum(dtype=numpy.int64)) == total


def _seq_lengths_ok(lengths: Any, n_seqs: int, min_length: int) -> bool:
    """int32 lengths, C-contiguous and 1d, one per sequence, each >= min_length."""
    return (_c_array(lengths, _I32, 1) and lengths.shape[0] == n_seqs
            and (n_seqs == 0 or int(lengths.min()) >= min_length))


def _ids_in_range(ids: numpy.ndarray, n: int) -> bool:
    return ids.size == 0 or (int(ids.min()) >= 0 and int(ids.max()) < n)


class ThincFastOps(_ThincNumpyOps):
    """The installed Thinc's NumpyOps, with thinc_fast's kernels where they
    compute what Thinc's would (see the module docstring)."""

    name = "thinc_fast"

    # ------------------------------------------------------------ gemm
    def gemm(self, x, y, out=None, trans1=False, trans2=False):
        """``op(x) @ op(y)`` (into `out` when given), float32 through thinc_fast's
        blis gemm; anything else as Thinc's NumpyOps does it."""
        if (self.use_blis and _c_array(x, _F32, 2) and _c_array(y, _F32, 2)
                and (out is None or (_c_array(out, _F32, 2) and out.flags.writeable))):
            m, k = (x.shape[1], x.shape[0]) if trans1 else x.shape
            k2, n = (y.shape[1], y.shape[0]) if trans2 else y.shape
            if k == k2 and (out is None or out.shape == (m, n)):
                return _FAST.gemm(x, y, out=out, trans1=trans1, trans2=trans2)
        return super().gemm(x, y, out=out, trans1=trans1, trans2=trans2)

    def cblas(self):
        """Thinc's ``CBlas`` with its sgemm set to thinc_fast's (spaCy's parser
        and NER take their gemm from here); Thinc's own when that cannot be set."""
        table = super().cblas()
        setter = _set_sgemm_function()
        if setter is not None:
            setter(table, _kernels.thinc_cblas_sgemm_address())
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

    def maxout(self, X):
        if _real(X) and _c_array(X, ndim=3) and X.shape[2] > 0:
            return _FAST.maxout(X)
        return super().maxout(X)

    def backprop_maxout(self, dY, which, P):
        if (_real(dY) and _c_array(dY, ndim=2) and _c_array(which, _I32, 2)
                and which.shape == dY.shape and isinstance(P, int) and P > 0
                and _ids_in_range(which, P)):
            return _FAST.backprop_maxout(dY, which, P)
        return super().backprop_maxout(dY, which, P)

    def hash(self, ids, seed):
        if _c_array(ids, numpy.dtype("uint64"), 1) and isinstance(seed, int) and 0 <= seed < 2**32:
            return _FAST.hash(ids, seed)
        return super().hash(ids, seed)

    def gather_add(self, table, indices):
        if (_real(table) and _c_array(table, ndim=2) and isinstance(indices, numpy.ndarray)
                and indices.ndim == 2 and indices.dtype.kind in "iu" and indices.flags.c_contiguous
                and _ids_in_range(indices, table.shape[0])):
            return _FAST.gather_add(table, indices)
        return super().gather_add(table, indices)

    def scatter_add(self, table, indices, values):
        """``table[indices] += values`` (repeated ids add up). Ids outside [0, rows)
        go to ``numpy.add.at``, Thinc's NumPy path: -1 is the last row, as spaCy's
        transition model expects (Thinc's own int32 kernel would write before the
        table), and an id past either end is NumPy's IndexError."""
        if (_real(table) and _c_array(table, ndim=2) and table.flags.writeable
                and isinstance(indices, numpy.ndarray) and indices.ndim == 1
                and indices.dtype.kind == "i" and _c_array(values, table.dtype, 2)
                and values.shape == (indices.shape[0], table.shape[1])):
            if _ids_in_range(indices, table.shape[0]):
                return _FAST.scatter_add(table, indices, values)
            numpy.add.at(table, indices, values)
            return table
        return super().scatter_add(table, indices, values)

    # ------------------------------------------------------------ reductions
    def reduce_sum(self, X, lengths):
        if _real(X) and _c_array(X, ndim=2) and _lengths_ok(lengths, X.shape[0], 0):
            return _FAST.reduce_sum(X, lengths)
        return super().reduce_sum(X, lengths)

    def reduce_mean(self, X, lengths):
        if _real(X) and _c_array(X, ndim=2) and _lengths_ok(lengths, X.shape[0], 0):
            return _FAST.reduce_mean(X, lengths)
        return super().reduce_mean(X, lengths)

    def reduce_max(self, X, lengths):
        if _real(X) and _c_array(X, ndim=2) and _lengths_ok(lengths, X.shape[0], 1):
            return _FAST.reduce_max(X, lengths)
        return super().reduce_max(X, lengths)

    def backprop_reduce_sum(self, d_sums, lengths):
        if (_real(d_sums) and _c_array(d_sums, ndim=2)
                and _seq_lengths_ok(lengths, d_sums.shape[0], 0)):
            return _FAST.backprop_reduce_sum(d_sums, lengths)
        return super().backprop_reduce_sum(d_sums, lengths)

    def backprop_reduce_mean(self, d_means, lengths):
        if (_real(d_means) and _c_array(d_means, ndim=2)
                and _seq_lengths_ok(lengths, d_means.shape[0], 0)):
            return _FAST.backprop_reduce_mean(d_means, lengths)
        return super().backprop_reduce_mean(d_means, lengths)

    def backprop_reduce_max(self, d_maxes, which, lengths):
        if (_real(d_maxes) and _c_array(d_maxes, ndim=2) and _c_array(which, _I32, 2)
                and which.shape == d_maxes.shape
                and _seq_lengths_ok(lengths, d_maxes.shape[0], 1)
                and (which.size == 0 or (int(which.min()) >= 0
                                         and bool((which < lengths[:, None]).all())))):
            return _FAST.backprop_reduce_max(d_maxes, which, lengths)
        return super().backprop_reduce_max(d_maxes, which, lengths)
