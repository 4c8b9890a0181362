"""The ``cupy`` of the CPU stand-in (tests only; see ``tests/cupy_standin``).

Device arrays are :class:`ndarray` objects that wrap a NumPy array and behave
as CuPy's do where that matters for finding bugs in GPU glue code:

- no implicit conversion either way: ``numpy.asarray(x)`` raises TypeError
  (``.get()`` / ``cupy.asnumpy`` copy to the host); a NumPy array given to a
  ufunc, an operator, ``cupy.concatenate``... raises TypeError; assigning a
  NumPy array into a basic slice raises ValueError (CuPy's gh-2079); a pointer
  argument of a kernel must be a device array;
- host data is copied on the way in (``cupy.asarray(host)`` never shares
  memory with ``host``), in C or F order as CuPy does;
- reductions and scalar indexing give 0-d device arrays, not NumPy scalars;
- ``cupy.empty``/``empty_like``/``ndarray(shape)`` are filled with 0xFF bytes
  (NaN, -1), as reused GPU memory holds garbage, not zeros;
- only CuPy 13.0's names exist (``_names.py``): ``cupy.put_along_axis`` does
  not, nor do ndarray methods that CuPy lacks; ``cupy.repeat`` refuses a device
  array of repeats; ``cupy.ascontiguousarray`` refuses a NumPy array;
- ``cupy.cublas`` is a submodule that ``import cupy`` does not import;
- ``RawModule``/``RawKernel`` compile the CUDA source with g++ and run it on
  the CPU (``cupy_standin._emulator``).
"""
import numpy as _np

from . import _names
from ._core import (ElementwiseKernel, RawKernel, RawModule, ReductionKernel, _call,  # noqa: F401
                    _rebuild, _Ufunc, _wrap, array, asanyarray, asarray, ascontiguousarray,
                    asfortranarray, asnumpy, empty, empty_like, from_dlpack, fromDlpack, fuse,
                    get_array_module, get_default_memory_pool, get_default_pinned_memory_pool,
                    is_available, ndarray, repeat)
from . import cuda, linalg, random, testing  # noqa: E402,F401

__version__ = "13.0.0"


def __getattr__(name):
    """Everything else of CuPy 13's namespace, from NumPy: ufuncs that refuse
    host arrays, functions that copy results into device arrays, and NumPy's
    own types and constants (as CuPy re-exports them)."""
    if name not in _names.NAMESPACE:
        raise AttributeError(f"module 'cupy' has no attribute {name!r} (the stand-in offers "
                             f"CuPy 13.0's names only)")
    obj = getattr(_np, name, None)
    if obj is None:
        raise AttributeError(f"module 'cupy' has no attribute {name!r} (NumPy {_np.__version__} "
                             f"lacks it, so the stand-in does too)")
    if isinstance(obj, _np.ufunc):
        value = _Ufunc(obj)
    elif callable(obj) and not isinstance(obj, type):
        value = _function(obj)
    else:
        value = obj
    globals()[name] = value  # cached (this module holds no code that uses builtins by name)
    return value


def _function(np_func):
    def f(*args, **kwargs):
        return _call(np_func, args, kwargs)
    f.__name__ = getattr(np_func, "__name__", "function")
    f.__qualname__ = f.__name__
    f.__module__ = "cupy"
    f.__doc__ = f"stand-in for cupy.{f.__name__} (computed by NumPy on the host)"
    return f


# the ufuncs, made now (numpy.exp(device array) looks them up here)
for _name in _names.NAMESPACE:
    if isinstance(getattr(_np, _name, None), _np.ufunc):
        globals()[_name] = _Ufunc(getattr(_np, _name))
del _name
