"""Thinc's ``thinc.util`` surface: helpers for data, arrays and frameworks.

- data shapes and arrays: :func:`get_width`, :func:`get_array_module`,
  :func:`is_numpy_array`, :func:`is_cupy_array`, :func:`convert_recursive`;
- PyTorch/CuPy conversions: :func:`xp2torch`, :func:`torch2xp`, ...;
- Thinc's names from elsewhere, re-exported: the data validation
  (:mod:`thinc_fast.validation`), batching helpers (:mod:`thinc_fast.data`),
  the backend choice (:mod:`thinc_fast.backends`);
- :func:`partial`.

The layers' boundary checks are in ``thinc_fast.layers._util``. This module
imports nothing of the model.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
from typing import Any, Callable, Iterator, Tuple

import numpy

from ._unsupported import mxnet2xp, tensorflow2xp, xp2mxnet, xp2tensorflow  # noqa: F401
from .backends import (CupyOps, get_current_ops, prefer_gpu, require_cpu,  # noqa: F401
                       require_gpu)
from .data import fix_random_seed, to_categorical  # noqa: F401
from .devices import set_active_gpu  # noqa: F401
from .types import cupy, get_array_module, has_cupy  # noqa: F401  (one CuPy import, for both)
from .validation import (DATA_VALIDATION, DataValidationError, data_validation,  # noqa: F401
                         validate_fwd_input_output)

has_torch = importlib.util.find_spec("torch") is not None


# ------------------------------------------------------------ shapes, arrays
def get_width(X: Any, *, dim: int = -1) -> int:
    """The width of a batch, as Thinc infers it for shape inference.

    An array of 2 or more dims gives ``X.shape[dim]``; a 1d array holds integer
    class labels and gives ``max + 1``; a 0d array gives 0. A list or tuple
    gives the width of its first item (0 when empty); a ``Ragged``/``Padded``-
    like object (``.data`` and ``.lengths``) the width of its data.
    """
    if hasattr(X, "lengths") and hasattr(X, "data") and not hasattr(X, "ndim"):
        return get_width(X.data, dim=dim)
    if hasattr(X, "shape") and hasattr(X, "ndim"):
        ndim = len(X.shape)
        if ndim == 0:
            return 0
        if ndim == 1:
            return int(X.max()) + 1
        return int(X.shape[dim])
    if isinstance(X, (list, tuple)):
        return get_width(X[0], dim=dim) if len(X) else 0
    raise ValueError(f"Cannot get width of object of type {type(X).__name__}: it has neither "
                     "a shape nor items")


def is_numpy_array(obj: Any) -> bool:
    """Whether `obj` is a NumPy array."""
    return isinstance(obj, numpy.ndarray)


def is_cupy_array(obj: Any) -> bool:
    """Whether `obj` is a CuPy array (False when CuPy is not installed)."""
    return cupy is not None and isinstance(obj, cupy.ndarray)


def is_xp_array(obj: Any) -> bool:
    """Whether `obj` is a NumPy or CuPy array."""
    return is_numpy_array(obj) or is_cupy_array(obj)


def to_numpy(data: Any) -> numpy.ndarray:
    """A NumPy copy (host) of a NumPy or CuPy array."""
    if is_cupy_array(data):  # pragma: no cover - needs CuPy
        return data.get()
    return numpy.asarray(data)


def xp2torch(xp_tensor: Any, requires_grad: bool = False, device: Any = None) -> Any:
    """A PyTorch tensor sharing memory with a NumPy or CuPy array (needs torch)."""
    import torch

    if is_cupy_array(xp_tensor):  # pragma: no cover - needs CuPy
        tensor = torch.utils.dlpack.from_dlpack(xp_tensor.toDlpack())
    else:
        tensor = torch.from_numpy(numpy.ascontiguousarray(xp_tensor))
    if device is not None:
        tensor = tensor.to(device)
    if requires_grad:
        tensor.requires_grad_()
    return tensor


def torch2xp(torch_tensor: Any, *, ops: Any = None) -> Any:
    """A NumPy (CPU tensors) or CuPy (CUDA tensors) array from a PyTorch tensor."""
    tensor = torch_tensor.detach()
    if tensor.is_cuda:  # pragma: no cover - needs a GPU
        return cupy.from_dlpack(tensor)
    array = tensor.cpu().numpy()
    return ops.asarray(array) if ops is not None else array


def is_torch_array(obj: Any) -> bool:
    """Whether `obj` is a PyTorch tensor. Never imports torch: while torch is
    not imported, nothing can be a tensor."""
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, getattr(torch, "Tensor", ()))


def is_torch_cuda_array(obj: Any) -> bool:
    """Whether `obj` is a PyTorch tensor on a CUDA device."""
    return is_torch_array(obj) and obj.is_cuda


def is_torch_mps_array(obj: Any) -> bool:
    """Whether `obj` is a PyTorch tensor on an Apple (MPS) device."""
    return is_torch_array(obj) and bool(getattr(obj, "is_mps", False))


def is_torch_gpu_array(obj: Any) -> bool:
    """Whether `obj` is a PyTorch tensor on a GPU (CUDA or MPS)."""
    return is_torch_cuda_array(obj) or is_torch_mps_array(obj)


def get_torch_default_device() -> Any:
    """The ``torch.device`` that goes with the current backend: ``cuda:<current
    device>`` under CupyOps, ``mps`` under MPSOps where PyTorch has an MPS
    device (thinc_fast's MPSOps runs on the CPU, so elsewhere ``cpu``), else
    ``cpu``. ValueError when PyTorch is not installed."""
    from . import compat  # not at the top: importing it costs ~15 ms (package metadata)

    torch = compat.torch
    if torch is None:
        raise ValueError("Cannot get default Torch device when Torch is not available.")
    ops = get_current_ops()
    if isinstance(ops, CupyOps):  # pragma: no cover - needs a GPU
        return torch.device(f"cuda:{torch.cuda.current_device()}")
    if getattr(ops, "name", None) == "mps" and compat.has_torch_mps_gpu:  # pragma: no cover
        return torch.device("mps")
    return torch.device("cpu")


def convert_recursive(is_match: Callable[[Any], bool], convert_item: Callable[[Any], Any],
                      obj: Any) -> Any:
    """`obj` with every value for which ``is_match`` holds replaced by
    ``convert_item(value)``, walking into dicts (keys and values), lists and
    tuples, and objects with ``items()`` and a ``from_items`` constructor (such
    as Thinc's ``ArgsKwargs``); containers keep their type."""
    if is_match(obj):
        return convert_item(obj)
    if hasattr(type(obj), "from_items") and hasattr(obj, "items"):
        return type(obj).from_items(convert_recursive(is_match, convert_item, list(obj.items())))
    if isinstance(obj, dict):
        return {convert_recursive(is_match, convert_item, key):
                convert_recursive(is_match, convert_item, value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [convert_recursive(is_match, convert_item, item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(convert_recursive(is_match, convert_item, item) for item in obj)
    return obj


def iterate_recursive(is_match: Callable[[Any], bool], obj: Any) -> Iterator[Any]:
    """Every value inside `obj` (walked as in :func:`convert_recursive`) that matches."""
    if is_match(obj):
        yield obj
    elif hasattr(type(obj), "from_items") and hasattr(obj, "items"):
        yield from iterate_recursive(is_match, list(obj.items()))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from iterate_recursive(is_match, key)
            yield from iterate_recursive(is_match, value)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from iterate_recursive(is_match, item)


def partial(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """``functools.partial`` that keeps the docstring of `func`."""
    bound = functools.partial(func, *args, **kwargs)
    bound.__doc__ = func.__doc__
    return bound


# ------------------------------------------------------ Thinc's util surface
def copy_array(dst: Any, src: Any) -> None:
    """Copy `src` into `dst` in place (``dst[...] = src``), across NumPy and
    CuPy (a CuPy `dst` takes a NumPy `src` through a host-to-device copy)."""
    if is_cupy_array(dst):  # pragma: no cover - needs CuPy
        cupy.copyto(dst, cupy.asarray(src))
    else:
        numpy.copyto(dst, to_numpy(src) if is_cupy_array(src) else src)


@contextlib.contextmanager
def make_tempfile(mode: str = "r") -> Iterator[Any]:
    """A named temporary file, open in `mode`, closed and deleted at the end
    of the block."""
    import os
    import tempfile

    handle = tempfile.NamedTemporaryFile(mode=mode, delete=False)
    try:
        yield handle
    finally:
        handle.close()
        if os.path.exists(handle.name):
            os.remove(handle.name)


@contextlib.contextmanager
def use_nvtx_range(message: str, id_color: int = -1) -> Iterator[None]:
    """Inside the block, the GPU profiler (NVTX) shows a range named `message`
    in colour `id_color`; without CuPy it does nothing."""
    if cupy is None:
        yield
        return
    cupy.cuda.nvtx.RangePush(message, id_color)  # pragma: no cover - needs CuPy
    try:  # pragma: no cover
        yield
    finally:  # pragma: no cover
        cupy.cuda.nvtx.RangePop()


@dataclasses.dataclass
class ArrayInfo:
    """The shape and dtype of an array, to check that a gradient matches the
    output it is the gradient of (``check_consistency`` raises ValueError
    naming both when not)."""

    shape: Tuple[int, ...]
    dtype: Any

    @classmethod
    def from_array(cls, arr: Any) -> "ArrayInfo":
        return cls(shape=tuple(arr.shape), dtype=arr.dtype)

    def check_consistency(self, arr: Any) -> None:
        if tuple(arr.shape) != tuple(self.shape):
            raise ValueError(f"Shape mismatch in backprop. Y: {tuple(self.shape)}, "
                             f"dY: {tuple(arr.shape)}")
        if arr.dtype != self.dtype:
            raise ValueError(f"Type mismatch in backprop. Y: {self.dtype}, dY: {arr.dtype}")


# Thinc's thinc.util also has these flags (from thinc.compat); thinc_fast.compat
# computes them on first use (some import PyTorch or CuPy to find the answer).
_COMPAT_FLAGS = ("has_tensorflow", "has_mxnet", "has_gpu", "has_cupy_gpu",
                 "has_torch_cuda_gpu", "has_torch_mps")


def gpu_is_available() -> bool:
    """Whether a GPU can be used (Thinc's ``util.gpu_is_available``: ``has_gpu``)."""
    from . import compat

    return bool(compat.has_gpu)


def assert_pytorch_installed() -> None:
    """ImportError unless PyTorch can be imported (as Thinc's)."""
    if not has_torch:
        raise ImportError("PyTorch support requires torch: pip install torch (its CPU build: "
                          "see the README)")


def assert_tensorflow_installed() -> None:
    """ImportError: thinc_fast has no TensorFlow support (Thinc's raises when
    TensorFlow is missing)."""
    raise ImportError("TensorFlow is not supported by thinc_fast (see enable_tensorflow)")


def assert_mxnet_installed() -> None:
    """ImportError: thinc_fast has no MXNet support (Thinc's raises when MXNet
    is missing)."""
    raise ImportError("MXNet is not supported by thinc_fast (see enable_mxnet)")


def __getattr__(name: str) -> Any:
    if name in _COMPAT_FLAGS:
        from . import compat

        return getattr(compat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["get_width", "get_array_module",
           "is_numpy_array", "is_cupy_array", "is_xp_array", "to_numpy", "xp2torch", "torch2xp",
           "get_torch_default_device", "tensorflow2xp", "xp2tensorflow", "mxnet2xp", "xp2mxnet",
           "convert_recursive", "iterate_recursive", "data_validation", "DataValidationError",
           "validate_fwd_input_output", "partial",
           "to_categorical", "fix_random_seed", "has_cupy",
           "has_torch", "copy_array", "prefer_gpu", "require_gpu", "require_cpu",
           "set_active_gpu", "make_tempfile", "use_nvtx_range", "ArrayInfo", "gpu_is_available",
           "assert_pytorch_installed", "assert_tensorflow_installed", "assert_mxnet_installed"]
