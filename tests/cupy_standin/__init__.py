"""A CPU stand-in for the part of CuPy that thinc_fast's ``CupyOps`` uses, so
that every line of ``cupy_ops.py`` and every kernel of ``src/cuda/kernels.cu``
runs in the test suite on machines without a GPU. Tests only: it lives in
``tests/`` and is never installed.

How it is used
--------------
``tests/conftest.py`` loads this package as ``cupy_standin``. Then

- ``with cupy_standin.active(): ...`` puts the fake ``cupy``/``cupyx`` of
  ``fake/`` into ``sys.modules`` and into the ``cupy`` globals of thinc_fast's
  modules (``thinc_fast.backends.cupy_ops.cupy``, ``thinc_fast.util.cupy``...),
  so that ``gpu_status()`` is None and ``CupyOps()`` / ``use_ops("cupy")`` /
  ``require_gpu()`` work; leaving the block puts back what was there (the real
  CuPy on a GPU machine, or nothing). The ``cupy_standin`` fixture does this
  for one test, and ``ops`` parameters that are :data:`HOST_OPS` get it
  automatically;
- :data:`HOST_OPS` is CupyOps on the stand-in behind NumPy in, NumPy out, so
  that the tests written for NumpyOps run on it unchanged: every NumPy array
  argument is copied to the device (a view stays a view of a device copy of
  its base array, so strided inputs reach CupyOps strided), the method runs,
  the arrays are copied back (in-place outputs land where the test looks), and
  results come back to the host (one that is an argument's device copy comes
  back as that argument, so ``ops.bias_add(X, b, inplace=True) is X`` holds);
- ``cupy_standin.thread_order("reverse" | "shuffle")`` changes the order in
  which blocks and threads run (see below);
- ``pytest --cupy=real`` (on a machine with a GPU; tools/gpu_check.sh) makes
  all of this the real CuPy: activating does nothing, HOST_OPS is the real
  CupyOps, and the tests marked ``standin_only`` (the stand-in's own checks)
  skip. The same tests then check CupyOps on the GPU, and check the stand-in
  against real CuPy where they assert CuPy's behaviour.

Kernels run on one OS thread: blocks one after the other, and within a block
each thread as a coroutine with its own stack (switched by a few instructions
of assembly on x86-64, by swapcontext elsewhere or with
``THINC_FAST_CUPY_STANDIN_UCONTEXT=1``); kernels that reach no ``__syncthreads``
run their threads as plain calls. The compiled library is cached on disk
(``THINC_FAST_CUPY_STANDIN_CACHE``, default a per-user folder in the temp dir),
keyed by the SHA-256 of the source, the header and the compiler's version.

What it checks that a GPU would not tell you (or only as wrong numbers)
-----------------------------------------------------------------------
The fake ``cupy`` (``fake/cupy/__init__.py``) refuses to mix host and device
arrays as CuPy does, offers only CuPy 13.0's names, fills ``empty`` with
garbage, and compiles ``RawModule``/``RawKernel`` sources with g++
(``_emulator.py``, header in ``_header.py``). A launch checks grid and block
against CUDA's limits, that ``grid``/``block`` are tuples, every argument
against the kernel's C signature (device arrays for pointers, of the
pointee's dtype, C-contiguous and aligned; scalars of the parameter's exact
width, with CuPy's rules: Python int -> int64, float -> double), writes past
an array (guard bytes around each), past ``__shared__`` arrays or the dynamic
shared memory (``shared_mem``), shared memory over 48 KiB, divergent
``__syncthreads``, and unmangled (``extern "C"``) kernel names.

What it cannot catch
--------------------
- Races between real threads: the threads of a block run one after the other
  (as coroutines that switch only at ``__syncthreads``), and blocks one after
  the other, so a missing barrier, a non-atomic update from several threads or
  blocks, or a warp-synchronous assumption gives the right answer here. Running
  with ``thread_order("reverse")`` or ``"shuffle"`` and comparing results
  exposes only races whose outcome depends on that order.
- Anything about speed or memory traffic: coalescing, bank conflicts,
  occupancy, register pressure, launch overhead, the fused step's share of the
  copy bandwidth. ``tools/gpu_check.sh`` measures those on a real GPU.
- Floating point as the GPU does it: g++ on the host rounds differently from
  NVCC (FMA contraction, ``expf``/``sqrtf`` accuracy, summation order of the
  reductions), so results match the GPU only to float tolerance.
- Real CuPy differences it does not emulate: NEP 50 promotion of NumPy
  scalars (CuPy 13 keeps float32 for ``float32_array * numpy.float64(x)``,
  NumPy 2 gives float64), out-of-bounds fancy indices (CuPy wraps them
  silently, the stand-in raises IndexError), CuPy's own random numbers,
  ``ElementwiseKernel``/``ReductionKernel``/``fuse``, DLPack exchange with
  PyTorch (CUDA tensors), asynchronous errors (a kernel fault surfaces here at
  the launch, on a GPU at the next synchronisation), multiple devices and
  streams that overlap, pinned memory, NVRTC-only C++ (g++ may accept or refuse
  other code than NVRTC does; tests/backends/test_gpu.py also compiles the source with
  nvcc when it is installed), and CuPy versions other than 13.0's namespace.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy

from . import _emulator

FAKE = Path(__file__).resolve().parent / "fake"
_NAMES = ("cupy", "cupyx")
_COMPAT_CACHED = ("cupy", "cupyx", "cublas", "has_cupy", "has_cupy_gpu", "cupy_version",
                  "cupy_from_dlpack", "has_gpu")

_CUDA_CACHES = ("_modules", "_kernels")  # thinc_fast.backends._cuda's, per device
_fake_modules: Dict[str, Any] = {}
_saved: List[Any] = []
_depth = 0
_real = False


def use_real_cupy(real: bool = True) -> None:
    """With True (pytest --cupy=real, on a GPU machine), everything that would
    run on the stand-in runs on the real CuPy and GPU instead: activating is a
    no-op and HOST_OPS is the real CupyOps behind host arrays."""
    global _real
    if _depth:
        raise RuntimeError("use_real_cupy: the stand-in is active")
    _real = bool(real)


def is_real() -> bool:
    """Whether the 'stand-in' is the real CuPy (see :func:`use_real_cupy`)."""
    return _real


def skip_reason() -> Optional[str]:
    """Why the stand-in cannot run here (no C++ compiler), or None."""
    if _real:
        return None
    if _emulator.find_compiler() is None:
        return ("the CuPy stand-in compiles kernels.cu with a C++ compiler: none of g++, c++, "
                "clang++ is on PATH")
    return None


def _ours(name: str) -> bool:
    return any(name == n or name.startswith(n + ".") for n in _NAMES)


def _load_fakes() -> None:
    for name in _NAMES:
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(
            name, FAKE / name / "__init__.py", submodule_search_locations=[str(FAKE / name)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise


def activate() -> Any:
    """Make the fake CuPy the ``cupy`` of this process (nestable); returns it."""
    global _depth
    _depth += 1
    if _depth > 1:
        return sys.modules["cupy"]
    if _real:
        import cupy

        return cupy
    try:
        real = {name: mod for name, mod in sys.modules.items() if _ours(name)}
        for name in real:
            del sys.modules[name]
        sys.modules.update(_fake_modules)
        _load_fakes()
        fake = sys.modules["cupy"]
        patched = []
        for modname, module in list(sys.modules.items()):
            if not modname.startswith("thinc_fast") or module is None:
                continue
            space = vars(module)
            if "cupy" in space and (space["cupy"] is None
                                    or getattr(space["cupy"], "__name__", "") == "cupy"):
                patched.append((module, "cupy", space["cupy"]))
                module.cupy = fake
            if "has_cupy" in space and space["has_cupy"] is not True:
                patched.append((module, "has_cupy", space["has_cupy"]))
                module.has_cupy = True
        compat = sys.modules.get("thinc_fast.compat")
        compat_saved = {}
        if compat is not None:
            for name in _COMPAT_CACHED:
                if name in vars(compat):
                    compat_saved[name] = vars(compat).pop(name)
        cuda = sys.modules.get("thinc_fast.backends._cuda")
        modules_saved = {}  # the compiled modules and kernels, per device: real CuPy's
        if cuda is not None:
            for cache in _CUDA_CACHES:
                if isinstance(getattr(cuda, cache, None), dict):
                    modules_saved[cache] = dict(getattr(cuda, cache))
                    getattr(cuda, cache).clear()
        kernels = sys.modules.get("thinc_fast.backends._custom_kernels")
        if kernels is not None and kernels.KERNELS is None:
            patched.append((kernels, "KERNELS", None))
            kernels.KERNELS = kernels._KernelModule()
        _saved.append((real, patched, compat, compat_saved, cuda, modules_saved))
        return fake
    except BaseException:
        _depth -= 1
        raise


def deactivate() -> None:
    """Undo :func:`activate`: the real CuPy (or none) is back."""
    global _depth
    if _depth == 0:
        raise RuntimeError("the CuPy stand-in is not active")
    _depth -= 1
    if _depth or _real:
        return
    real, patched, compat, compat_saved, cuda, modules_saved = _saved.pop()
    fake = sys.modules.get("cupy")
    for name in [n for n in sys.modules if _ours(n)]:
        _fake_modules[name] = sys.modules.pop(name)
    sys.modules.update(real)
    for module, attr, value in reversed(patched):
        setattr(module, attr, value)
    # a thinc_fast module first imported while the stand-in was active took it
    # as its cupy: give it what it would have found
    for modname, module in list(sys.modules.items()):
        if modname.startswith("thinc_fast") and module is not None \
                and vars(module).get("cupy") is fake:
            module.cupy = real.get("cupy")
            if "has_cupy" in vars(module):
                module.has_cupy = real.get("cupy") is not None
    if compat is not None:
        for name in _COMPAT_CACHED:
            vars(compat).pop(name, None)
        vars(compat).update(compat_saved)
    if cuda is not None:
        for cache, saved in modules_saved.items():
            getattr(cuda, cache).clear()
            getattr(cuda, cache).update(saved)


def is_active() -> bool:
    return _depth > 0


@contextlib.contextmanager
def active() -> Iterator[Any]:
    """``with active() as cupy:`` the stand-in is CuPy inside the block."""
    fake = activate()
    try:
        yield fake
    finally:
        deactivate()


@contextlib.contextmanager
def thread_order(order: str) -> Iterator[None]:
    """Run blocks and threads "forward" (default), "reverse" or "shuffle"d."""
    previous = _emulator.set_order(order)
    try:
        yield
    finally:
        _emulator.set_order(previous)


def _array_of(x: Any) -> Optional[numpy.ndarray]:
    """The NumPy array behind a stand-in device array, else None."""
    fake = sys.modules.get("cupy")
    if fake is not None and type(x) is getattr(fake, "ndarray", None):
        return x._a
    return None


def _driver_error_class() -> Any:
    return sys.modules["cupy"].cuda.driver.CUDADriverError


# ------------------------------------------------------------- HOST_OPS
def _map_fields(x: Any, kind: type, fn: Any) -> Any:
    """A copy of dataclass `x` (Ragged, Padded...) with fn applied to its array fields."""
    fields = getattr(type(x), "__dataclass_fields__", None)
    if not fields or not any(type(getattr(x, f, None)) is kind for f in fields):
        return x
    import copy

    out = copy.copy(x)
    for f in fields:
        value = getattr(x, f, None)
        if type(value) is kind:
            object.__setattr__(out, f, fn(value))
    return out


def _address(a: numpy.ndarray) -> int:
    return a.__array_interface__["data"][0]


class _Transfer:
    """NumPy arguments to device arrays and back, for one call."""

    def __init__(self, cupy: Any) -> None:
        self.cupy = cupy
        self.bases: Dict[int, Any] = {}      # id(host base) -> (host base, device bytes)
        self.arrays: Dict[int, Any] = {}     # id(host array) -> (host array, device array)
        self.back: Dict[int, Any] = {}       # id(device array) -> host array

    def _device_view(self, host: numpy.ndarray) -> Any:
        """A device copy of `host`: the same view of a device copy of its base
        array (strides and offset kept), when that base is contiguous."""
        cupy = self.cupy
        base = host
        while isinstance(base.base, numpy.ndarray):
            base = base.base
        if not (base.flags.c_contiguous or base.flags.f_contiguous) or host.size == 0:
            return cupy.array(host)
        if id(base) not in self.bases:
            flat = base.reshape(-1, order="A").view(numpy.uint8)
            self.bases[id(base)] = (base, cupy.asarray(flat))
        _, device_bytes = self.bases[id(base)]
        offset = _address(host) - _address(base)
        return cupy.ndarray(host.shape, dtype=host.dtype, memptr=device_bytes.data + offset,
                            strides=host.strides)

    def _host_view(self, dev: Any) -> Optional[numpy.ndarray]:
        """The host memory that device array `dev` views, when it is a view of
        an argument's device copy."""
        if dev.size == 0:
            return None
        ptr = dev.data.ptr
        low = ptr + sum(min(0, (n - 1) * st) for n, st in zip(dev.shape, dev.strides))
        high = ptr + sum(max(0, (n - 1) * st) for n, st in zip(dev.shape, dev.strides))
        for base, device_bytes in self.bases.values():
            start = device_bytes.data.ptr
            if start <= low and high + dev.itemsize <= start + device_bytes.nbytes:
                host_bytes = base.reshape(-1, order="A").view(numpy.uint8)
                return numpy.ndarray(dev.shape, dtype=dev.dtype, buffer=host_bytes,
                                     offset=ptr - start, strides=dev.strides)
        return None

    def to_device(self, x: Any) -> Any:
        if isinstance(x, numpy.ndarray):
            if x.dtype.kind in "OSUV":
                return x  # CuPy has no such arrays: let CupyOps see the host array
            key = id(x)
            if key not in self.arrays:
                dev = self._device_view(x)
                self.arrays[key] = (x, dev)
                self.back[id(dev)] = x
            return self.arrays[key][1]
        if type(x) in (list, tuple):
            return type(x)(self.to_device(v) for v in x)
        if isinstance(x, dict):
            return {k: self.to_device(v) for k, v in x.items()}
        return _map_fields(x, numpy.ndarray, self.to_device)

    def copy_back(self) -> None:
        for host, dev in self.arrays.values():
            if host.flags.writeable:
                data = dev.get()
                if not numpy.array_equal(data, host, equal_nan=host.dtype.kind in "fc"):
                    host[...] = data

    def to_host(self, x: Any) -> Any:
        cupy = self.cupy
        if type(x) is cupy.ndarray:
            if id(x) in self.back:
                return self.back[id(x)]
            view = self._host_view(x)  # a view of an argument stays a view of it
            return view if view is not None else x.get()
        if type(x) in (list, tuple):
            return type(x)(self.to_host(v) for v in x)
        if isinstance(x, dict):
            return {k: self.to_host(v) for k, v in x.items()}
        x = _map_fields(x, cupy.ndarray, self.to_host)
        from thinc_fast.types import SizedGenerator

        if isinstance(x, SizedGenerator):  # batches come back to the host as they are made
            return SizedGenerator(lambda: (self.to_host(item) for item in x), len(x))
        return x


class HostOps:
    """CupyOps on the stand-in, called with NumPy arrays and returning NumPy
    arrays (see the module docstring). Use as an ``ops`` parameter; the stand-in
    must be active when it is called (tests/conftest.py activates it for every
    test that has it among its parameters)."""

    uses_cupy_standin = True
    name = "cupy"

    def __repr__(self) -> str:
        return "CupyOps(on the CPU stand-in, host arrays in and out)"

    @property
    def device_ops(self) -> Any:
        """The CupyOps object behind it (one per activation)."""
        if not is_active():
            raise RuntimeError("HostOps: the CuPy stand-in is not active (use the cupy_standin "
                               "fixture or cupy_standin.active())")
        cupy = sys.modules["cupy"]
        ops = _device_ops.get(id(cupy))
        if ops is None:
            from thinc_fast.backends.cupy_ops import CupyOps

            ops = _device_ops[id(cupy)] = CupyOps()
        return ops

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        value = getattr(self.device_ops, attr)
        if not callable(value) or isinstance(value, type):
            return value

        @functools.wraps(value)  # keeps the signature: tests inspect it
        def call(*args: Any, **kwargs: Any) -> Any:
            transfer = _Transfer(sys.modules["cupy"])
            dargs = transfer.to_device(args)
            dkwargs = transfer.to_device(kwargs)
            result = value(*dargs, **dkwargs)
            transfer.copy_back()
            return transfer.to_host(result)
        return call


_device_ops: Dict[int, Any] = {}  # CupyOps by id(cupy module)
HOST_OPS = HostOps()
