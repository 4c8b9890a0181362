"""The machinery of the stand-in's ``cupy`` (its device arrays, creation
functions and kernels). It lives apart from ``cupy/__init__.py`` so that the
CuPy names that the namespace caches there (``any``, ``all``, ``abs``,
``round``...) never shadow the builtins this code uses."""
import sys as _sys

import numpy as _np

from cupy_standin import _emulator

from . import _names, cuda

_host_types = (_np.ndarray,)
_UNSUPPORTED_KINDS = "OSUMmV"


def _check_dtype(dtype):
    dt = _np.dtype(dtype) if dtype is not None else _np.dtype(float)
    if dt.kind in _UNSUPPORTED_KINDS:
        raise ValueError(f"Unsupported dtype {dt}")
    return dt


def _garbage(arr):
    """`arr` filled with 0xFF bytes (NaN, -1, the largest unsigned): what reused
    device memory may hold, where code wrongly expects zeros."""
    if arr.size:
        arr[...] = _np.frombuffer(b"\xff" * arr.itemsize, dtype=arr.dtype)[0]
    return arr


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "owndata")

    def __init__(self, a):
        self.c_contiguous = bool(a.flags.c_contiguous)
        self.f_contiguous = bool(a.flags.f_contiguous)
        self.owndata = bool(a.flags.owndata)

    def __getitem__(self, name):
        key = {"C_CONTIGUOUS": "c_contiguous", "C": "c_contiguous", "F_CONTIGUOUS": "f_contiguous",
               "F": "f_contiguous", "OWNDATA": "owndata"}.get(name)
        if key is None:
            raise KeyError(name)
        return getattr(self, key)

    def __repr__(self):
        return (f"  C_CONTIGUOUS : {self.c_contiguous}\n  F_CONTIGUOUS : {self.f_contiguous}\n"
                f"  OWNDATA : {self.owndata}")


def _wrap(x, same=None):
    """NumPy results as device arrays (numpy scalars as 0-d arrays); a result that
    is the backing array of an argument comes back as that argument (`same`)."""
    if isinstance(x, _np.ndarray):
        if same is not None and id(x) in same:
            return same[id(x)]
        if x.dtype.kind in _UNSUPPORTED_KINDS:
            raise ValueError(f"Unsupported dtype {x.dtype}")
        obj = object.__new__(ndarray)
        obj._a = x
        return obj
    if isinstance(x, _np.generic):
        return _wrap(_np.asarray(x))
    if type(x) is tuple:
        return tuple(_wrap(v, same) for v in x)
    if type(x) is list:
        return [_wrap(v, same) for v in x]
    return x


def _unwrap(x, host_ok, same):
    """Device arrays to their backing arrays (recorded in `same`); NumPy arrays
    raise TypeError unless `host_ok` (as CuPy refuses host memory)."""
    if type(x) is ndarray:
        same[id(x._a)] = x
        return x._a
    if isinstance(x, _np.ndarray):
        if host_ok:
            return x
        raise TypeError(f"Unsupported type {type(x)}")
    if type(x) in (list, tuple):
        return type(x)(_unwrap(v, host_ok, same) for v in x)
    return x


def _call(fn, args, kwargs, host_ok=False):
    same = {}
    a = _unwrap(args, host_ok, same)
    k = {key: _unwrap(v, host_ok, same) for key, v in kwargs.items()}
    return _wrap(fn(*a, **k), same)


def _operand(x):
    if type(x) is ndarray:
        return x._a
    if isinstance(x, (bool, int, float, complex, _np.generic)):
        return x
    if isinstance(x, (_np.ndarray, list, tuple)):
        raise TypeError(f"Unsupported type {type(x)}")
    return NotImplemented


class _Ufunc:
    """A NumPy ufunc taking device arrays and scalars only."""

    def __init__(self, uf):
        self._uf = uf
        self.__name__ = uf.__name__
        self.nin, self.nout, self.nargs = uf.nin, uf.nout, uf.nargs
        self.types = uf.types
        self.identity = uf.identity

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"

    @staticmethod
    def _operand(x, same):
        if type(x) is ndarray:
            same[id(x._a)] = x
            return x._a
        if x is None or isinstance(x, (bool, int, float, complex, _np.generic)):
            return x
        raise TypeError(f"Unsupported type {type(x)}")

    def _args(self, args, kwargs, same):
        a = [self._operand(x, same) for x in args]
        kw = dict(kwargs)
        for key in ("out", "where"):
            if key in kw:
                v = kw[key]
                kw[key] = (tuple(self._operand(o, same) for o in v) if isinstance(v, tuple)
                           else self._operand(v, same))
        return a, kw

    def __call__(self, *args, **kwargs):
        same = {}
        a, k = self._args(args, kwargs, same)
        return _wrap(self._uf(*a, **k), same)

    def reduce(self, array, *args, **kwargs):
        same = {}
        a, k = self._args((array,) + args, kwargs, same)
        return _wrap(self._uf.reduce(*a, **k), same)

    def accumulate(self, array, *args, **kwargs):
        same = {}
        a, k = self._args((array,) + args, kwargs, same)
        return _wrap(self._uf.accumulate(*a, **k), same)

    def outer(self, A, B, **kwargs):
        same = {}
        a, k = self._args((A, B), kwargs, same)
        return _wrap(self._uf.outer(*a, **k), same)

    def reduceat(self, array, indices, *args, **kwargs):
        if self.__name__ != "add":  # CuPy 13 has add.reduceat only
            raise NotImplementedError(f"`cupy_{self.__name__}.reduceat` is not supported yet")
        return _call(self._uf.reduceat, (array, indices) + args, kwargs, host_ok=True)

    def at(self, a, indices, b=None):
        op = {"add": "add", "subtract": "sub", "maximum": "max", "minimum": "min"}.get(self.__name__)
        if op is None:
            raise NotImplementedError(f"`{self.__name__}.at` is not supported yet")
        a._scatter(indices, b, op)


def _rebuild(host):
    return _wrap(host)


class ndarray:
    """A device array of the stand-in: a NumPy array that refuses to be mixed
    with host arrays, as a CuPy array does."""

    __slots__ = ("_a", "__weakref__")
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        dt = _check_dtype(dtype)
        if memptr is None:
            if strides is not None:
                raise ValueError("stand-in: strides need memptr")
            self._a = _garbage(_np.empty(shape, dtype=dt, order=order))
            return
        if getattr(memptr, "_buffer", None) is None:
            raise NotImplementedError("stand-in: memptr must point into a device array's memory")
        # a view into that array's memory (NumPy checks that it stays inside)
        self._a = _np.ndarray(shape, dtype=dt, buffer=memptr._buffer, offset=memptr._at,
                              strides=strides, order=order)

    # -------------------------------------------------------------- attributes
    @property
    def shape(self):
        return self._a.shape

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    ndim = property(lambda self: self._a.ndim)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: _Flags(self._a))
    _c_contiguous = property(lambda self: bool(self._a.flags.c_contiguous))
    _f_contiguous = property(lambda self: bool(self._a.flags.f_contiguous))
    T = property(lambda self: _wrap(self._a.T))
    real = property(lambda self: _wrap(self._a.real))
    imag = property(lambda self: _wrap(self._a.imag))
    device = property(lambda self: cuda.Device(0))

    @property
    def base(self):
        return None if self._a.base is None or not isinstance(self._a.base, _np.ndarray) \
            else _wrap(self._a.base)

    @property
    def data(self):
        a = self._a
        base = a
        while isinstance(base.base, _np.ndarray):
            base = base.base
        if base.flags.c_contiguous or base.flags.f_contiguous:
            flat = base.reshape(-1, order="A").view(_np.uint8)
            at = a.__array_interface__["data"][0] - base.__array_interface__["data"][0]
            return cuda.MemoryPointer(None, 0, _ptr=a.ctypes.data, _buffer=flat, _at=at)
        return cuda.MemoryPointer(None, 0, _ptr=a.ctypes.data)

    # ---------------------------------------------------- host <-> device
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def get(self, stream=None, order="C", out=None, blocking=True):
        if out is not None:
            if not isinstance(out, _np.ndarray) or out.shape != self.shape:
                raise ValueError("stand-in: get(out=) needs a numpy.ndarray of the same shape")
            out[...] = self._a
            return out
        return _np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, _np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        self._a[...] = arr

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        mine = getattr(_sys.modules["cupy"], ufunc.__name__, None)
        if not isinstance(mine, _Ufunc):
            return NotImplemented
        if method == "__call__":
            if "out" in kwargs and isinstance(kwargs["out"], tuple) and len(kwargs["out"]) == 1:
                kwargs["out"] = kwargs["out"][0]
            return mine(*inputs, **kwargs)
        if method in ("reduce", "accumulate", "outer", "reduceat", "at"):
            return getattr(mine, method)(*inputs, **kwargs)
        return NotImplemented

    def __array_function__(self, func, types, args, kwargs):
        # as CuPy: numpy.f(device arrays) runs cupy.f, when CuPy has an f
        try:
            namespace = _sys.modules["cupy"]
            for part in func.__module__.split(".")[1:]:
                namespace = getattr(namespace, part)
            target = getattr(namespace, func.__name__)
        except AttributeError:
            return NotImplemented
        if target is func:
            return NotImplemented
        return target(*args, **kwargs)

    # ---------------------------------------------------------- conversions
    def __int__(self):
        return int(self._a)

    def __float__(self):
        return float(self._a)

    def __complex__(self):
        return complex(self._a)

    def __bool__(self):
        return bool(self._a)

    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __format__(self, spec):
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    def __reduce__(self):
        return (_rebuild, (_np.array(self._a, copy=True),))

    def __copy__(self):
        return _wrap(self._a.copy())

    def __deepcopy__(self, memo):
        return _wrap(self._a.copy())

    def __dlpack__(self, *args, **kwargs):
        raise NotImplementedError("stand-in: DLPack exchange (with PyTorch...) is not emulated")

    def toDlpack(self):
        raise NotImplementedError("stand-in: DLPack exchange (with PyTorch...) is not emulated")

    # ------------------------------------------------------------- indexing
    @staticmethod
    def _key(key):
        def bound(v):  # CuPy takes __index__, else int(): 0-d device arrays too
            return int(v) if type(v) is ndarray else v

        def one(k):
            if type(k) is ndarray:
                return k._a
            if isinstance(k, slice):
                return slice(bound(k.start), bound(k.stop), bound(k.step))
            return k  # ints, None, Ellipsis, lists and NumPy arrays (CuPy copies them)
        return tuple(one(k) for k in key) if isinstance(key, tuple) else one(key)

    @staticmethod
    def _advanced(key):
        parts = key if isinstance(key, tuple) else (key,)
        return any(isinstance(k, (_np.ndarray, list, bool, _np.bool_)) for k in parts)

    def __getitem__(self, key):
        k = self._key(key)
        out = self._a[k]
        if isinstance(out, _np.generic):
            parts = k if isinstance(k, tuple) else (k,)
            if not any(p is Ellipsis for p in parts):
                out = self._a[parts + (Ellipsis,)]  # a 0-d view, as CuPy gives
        return _wrap(out)

    def __setitem__(self, key, value):
        k = self._key(key)
        if type(value) is ndarray:
            v = value._a
        elif isinstance(value, (_np.ndarray, list, tuple)):
            host = _np.asarray(value)
            if not self._advanced(k) and host.ndim != 0:
                # CuPy fills a basic slice from a scalar only (gh-2079)
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            v = host
        else:
            v = value
        self._a[k] = v

    def _scatter(self, slices, value, op):
        if op == "add" and self.dtype.type not in (_np.int32, _np.float16, _np.float32,
                                                   _np.float64, _np.uint32, _np.uint64):
            raise TypeError("cupy.add.at only supports int32, float16, float32, float64, "
                            "uint32, uint64, as data type")
        k = self._key(slices)
        v = value._a if type(value) is ndarray else _np.asarray(value, dtype=self.dtype)
        {"add": _np.add, "sub": _np.subtract, "max": _np.maximum,
         "min": _np.minimum}[op].at(self._a, k, v)

    def scatter_add(self, slices, value):
        self._scatter(slices, value, "add")

    def scatter_max(self, slices, value):
        self._scatter(slices, value, "max")

    def scatter_min(self, slices, value):
        self._scatter(slices, value, "min")

    # ------------------------------------------------------------- methods
    def copy(self, order="C"):
        return _wrap(_np.array(self._a, order=order, copy=True))

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        dt = _check_dtype(dtype)
        if not copy and dt == self.dtype:
            return self
        return _wrap(self._a.astype(dt, order=order, casting=casting or "unsafe", copy=True))

    def view(self, dtype=None, array_class=None):
        return _wrap(self._a.view() if dtype is None else self._a.view(dtype))

    def fill(self, value):
        if type(value) is ndarray:
            if value.shape != ():
                raise ValueError("non-scalar cupy.ndarray cannot be used for fill")
            value = value._a[()]
        else:
            host = _np.asarray(value, dtype=self.dtype)
            if host.shape != ():
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            value = host[()]
        self._a.fill(value)

    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _wrap(self._a.reshape(shape, order=order))

    def repeat(self, repeats, axis=None):
        if type(repeats) is ndarray:
            raise ValueError("cupy.ndaray cannot be specified as `repeats` argument.")
        return _wrap(self._a.repeat(repeats, axis))

    def item(self):
        return self._a.item()

    def tolist(self):
        return self._a.tolist()

    def tobytes(self, order="C"):
        return self._a.tobytes(order=order)

    def reduced_view(self, dtype=None):
        return self

    def get_pointer(self):
        raise NotImplementedError("stand-in: get_pointer is not emulated")

    def cstruct(self):
        raise NotImplementedError("stand-in: cstruct is not emulated")


ndarray.__module__ = "cupy"  # as CuPy's: type(x).__module__ == "cupy"


def _delegate(name):
    def method(self, *args, **kwargs):
        same = {id(self._a): self}
        a = _unwrap(args, True, same)
        k = {key: _unwrap(v, True, same) for key, v in kwargs.items()}
        return _wrap(getattr(self._a, name)(*a, **k), same)
    method.__name__ = name
    return method


for _name in _names.NDARRAY_METHODS:
    if _name not in ndarray.__dict__ and _name not in ("flat", "device") \
            and callable(getattr(_np.ndarray, _name, None)):
        setattr(ndarray, _name, _delegate(_name))


def _binary(uf_name, reflected=False, inplace=False):
    uf = getattr(_np, uf_name)

    def op(self, other):
        o = _operand(other)
        if o is NotImplemented:
            return NotImplemented
        if inplace:
            uf(self._a, o, out=self._a)
            return self
        return _wrap(uf(o, self._a) if reflected else uf(self._a, o))
    op.__name__ = uf_name
    return op


for _dunder, _uf in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                     ("truediv", "true_divide"), ("floordiv", "floor_divide"), ("mod", "remainder"),
                     ("pow", "power"), ("matmul", "matmul"), ("and", "bitwise_and"),
                     ("or", "bitwise_or"), ("xor", "bitwise_xor"), ("lshift", "left_shift"),
                     ("rshift", "right_shift"), ("divmod", "divmod")]:
    setattr(ndarray, f"__{_dunder}__", _binary(_uf))
    setattr(ndarray, f"__r{_dunder}__", _binary(_uf, reflected=True))
    if _dunder != "divmod":
        setattr(ndarray, f"__i{_dunder}__", _binary(_uf, inplace=True))
for _dunder, _uf in [("lt", "less"), ("le", "less_equal"), ("eq", "equal"),
                     ("ne", "not_equal"), ("gt", "greater"), ("ge", "greater_equal")]:
    setattr(ndarray, f"__{_dunder}__", _binary(_uf))
ndarray.__neg__ = lambda self: _wrap(-self._a)
ndarray.__pos__ = lambda self: _wrap(+self._a)
ndarray.__abs__ = lambda self: _wrap(abs(self._a))
ndarray.__invert__ = lambda self: _wrap(~self._a)


# ------------------------------------------------------------- creation
def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if type(obj) is ndarray:
        dt = obj.dtype if dtype is None else _check_dtype(dtype)
        if copy is False and dt != obj.dtype:
            raise ValueError("Unable to avoid copy while creating an array as requested.")
        if not copy and dt == obj.dtype and obj.ndim >= ndmin:
            return obj
        return _wrap(_np.array(obj._a, dtype=dt, copy=True, order=order, ndmin=ndmin))
    if isinstance(obj, (list, tuple)) and any(type(v) is ndarray for v in obj):
        obj = [v._a if type(v) is ndarray else v for v in obj]
    host = _np.array(obj, dtype=dtype, copy=True, ndmin=ndmin)
    _check_dtype(host.dtype)
    # a host array arrives in C order (F order when it was F-contiguous), native byte order
    host_order = "F" if (isinstance(obj, _np.ndarray) and obj.flags.f_contiguous
                         and not obj.flags.c_contiguous and order in ("K", "A", "F")) else "C"
    if host.dtype.byteorder not in ("=", "|"):
        host = host.astype(host.dtype.newbyteorder("="))
    return _wrap(_np.array(host, order=host_order, copy=True))


def asarray(a, dtype=None, order=None, *, copy=None, blocking=False):
    if type(a) is ndarray and (dtype is None or _np.dtype(dtype) == a.dtype) and copy is not True:
        return a
    return array(a, dtype=dtype, copy=True if copy is None else copy, order=order or "K")


asanyarray = asarray


def ascontiguousarray(a, dtype=None):
    if type(a) is not ndarray:
        raise TypeError(f"Argument 'a' has incorrect type (expected cupy._core.core._ndarray_base, "
                        f"got {type(a).__name__})")
    dt = a.dtype if dtype is None else _check_dtype(dtype)
    if dt == a.dtype and a._a.flags.c_contiguous:
        return _wrap(a._a.reshape(1)) if a.ndim == 0 else a
    return _wrap(_np.ascontiguousarray(a._a.reshape(1) if a.ndim == 0 else a._a, dtype=dt))


def asfortranarray(a, dtype=None):
    if type(a) is not ndarray:
        raise TypeError(f"Argument 'a' has incorrect type (expected cupy._core.core._ndarray_base, "
                        f"got {type(a).__name__})")
    return _wrap(_np.asfortranarray(a._a, dtype=dtype))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if type(a) is ndarray:
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    if out is not None:
        out[...] = a
        return out
    return _np.asarray(a, order=order)


def empty(shape, dtype=float, order="C"):
    return _wrap(_garbage(_np.empty(shape, dtype=_check_dtype(dtype), order=order)))


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    if type(prototype) is not ndarray:
        raise TypeError(f"Unsupported type {type(prototype)}")
    out = _np.empty_like(prototype._a, dtype=dtype, order=order, shape=shape)
    return _wrap(_garbage(out))


def get_array_module(*args):
    return _sys.modules["cupy"] if any(type(a) is ndarray for a in args) else _np


def repeat(a, repeats, axis=None):
    if type(a) is not ndarray:
        raise TypeError(f"Unsupported type {type(a)}")
    return a.repeat(repeats, axis)


def from_dlpack(array):
    raise NotImplementedError("stand-in: DLPack exchange (with PyTorch...) is not emulated")


fromDlpack = from_dlpack


def is_available():
    return True


def get_default_memory_pool():
    return cuda.get_default_memory_pool()


def get_default_pinned_memory_pool():
    return cuda.get_default_memory_pool()


# ------------------------------------------------------------- kernels
class RawModule:
    """``cupy.RawModule(code=..., options=(), name_expressions=None)``: compiles
    the CUDA source with g++ for the CPU (on first use)."""

    def __init__(self, code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        if code is None or path is not None:
            raise NotImplementedError("stand-in: RawModule(path=...) (cubin/ptx) is not emulated")
        if name_expressions:
            raise NotImplementedError("stand-in: name_expressions (C++ templates) are not emulated")
        if not isinstance(options, tuple):
            raise TypeError(f"options must be a tuple, got {type(options).__name__}")
        self.code = code
        self.options = options
        self._compiled = None

    def _compile(self):
        if self._compiled is None:
            try:
                self._compiled = _emulator.compile_source(self.code, self.options)
            except _emulator.CompileError as err:
                raise cuda.compiler.CompileException(str(err)) from None
        return self._compiled

    def get_function(self, name):
        lib, kernels = self._compile()
        info = kernels.get(name)
        if info is None or not info.extern_c:
            why = "" if info is None else (" (it is not declared extern \"C\", so NVRTC mangles "
                                           "its name)")
            raise cuda.driver.CUDADriverError(
                f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name}{why}")
        return _emulator.Kernel(lib, info)


class RawKernel:
    """``cupy.RawKernel(code, name, options=())``."""

    def __init__(self, code, name, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, jitify=False):
        self.code, self.name, self.options = code, name, options
        self._kernel = None

    @property
    def kernel(self):
        if self._kernel is None:
            self._kernel = RawModule(code=self.code, options=self.options).get_function(self.name)
        return self._kernel

    def __call__(self, grid, block, args, **kwargs):
        self.kernel(grid, block, args, **kwargs)


class ElementwiseKernel:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("stand-in: ElementwiseKernel is not emulated")


class ReductionKernel(ElementwiseKernel):
    pass


def fuse(*args, **kwargs):
    raise NotImplementedError("stand-in: cupy.fuse is not emulated")


