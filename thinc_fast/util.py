"""Helpers shared by the layers and the model, and Thinc's ``thinc.util`` surface.

- boundary checks for layers: :func:`check_input2f`, :func:`check_grad`;
- data shapes and arrays: :func:`get_width`, :func:`get_array_module`,
  :func:`is_numpy_array`, :func:`is_cupy_array`, :func:`convert_recursive`;
- :func:`data_validation` (accepted for Thinc compatibility), :func:`partial`.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.util
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Tuple

import numpy

from .data import fix_random_seed, to_categorical

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

try:  # pragma: no cover - only with CuPy installed
    import cupy
except ImportError:  # pragma: no cover
    cupy = None

has_cupy = cupy is not None
has_torch = importlib.util.find_spec("torch") is not None


# --------------------------------------------------------------- layer checks
def check_input2f(model: "Model", X: Any, dim: Optional[str] = "nI"):
    """`X` as a 2d float32 array of width ``model.get_dim(dim)``.

    Other float dtypes are converted (once: layers downstream receive float32);
    wrong rank, non-float data or a width that does not match raise an error
    naming the model and both widths.
    """
    if not hasattr(X, "ndim") or not hasattr(X, "dtype"):
        raise TypeError(f"Model {model.name!r} expects a 2d float array, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"Model {model.name!r} expects a 2d input (batch, features), "
                         f"got an array of shape {X.shape}")
    if X.dtype != numpy.float32:
        if X.dtype.kind != "f":
            raise TypeError(f"Model {model.name!r} expects floating-point input, got dtype {X.dtype}")
        X = X.astype(numpy.float32)
    if dim is not None:
        width = model.maybe_get_dim(dim)
        if width is None:
            raise ValueError(f"Cannot run model {model.name!r}: dimension {dim!r} is unset. "
                             "Call model.initialize(X=..., Y=...) with sample data first.")
        if X.shape[1] != width:
            raise ValueError(f"Model {model.name!r} expects input width {dim}={width}, "
                             f"but the batch has width {X.shape[1]} (shape {X.shape})")
    return X


def check_grad(model: "Model", dY: Any, shape: Tuple[int, ...]):
    """`dY` as a float32 array of exactly `shape` (the shape of the output)."""
    if not hasattr(dY, "shape") or not hasattr(dY, "dtype"):
        raise TypeError(f"backprop of model {model.name!r} expects an array, got {type(dY).__name__}")
    if tuple(dY.shape) != tuple(shape):
        raise ValueError(f"backprop of model {model.name!r}: gradient has shape {tuple(dY.shape)}, "
                         f"but the output had shape {tuple(shape)}")
    if dY.dtype != numpy.float32:
        if dY.dtype.kind != "f":
            raise TypeError(f"backprop of model {model.name!r} expects a float gradient, "
                            f"got dtype {dY.dtype}")
        dY = dY.astype(numpy.float32)
    return dY


def crossentropy_sum(probs: Any, targets: Any) -> float:
    """``-sum(targets * log(probs))`` over a batch, probabilities clipped at 1e-9:
    the loss whose gradient with respect to the logits is ``probs - targets``.
    (NumPy's functions dispatch to CuPy for device arrays.)"""
    return float(-(targets * numpy.log(numpy.clip(probs, 1e-9, 1.0))).sum())


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


def get_array_module(arr: Any) -> Any:
    """``numpy`` or ``cupy``, whichever owns `arr`; ValueError for anything else."""
    if is_numpy_array(arr):
        return numpy
    if is_cupy_array(arr):  # pragma: no cover - needs CuPy
        return cupy
    raise ValueError(f"Only numpy and cupy arrays are supported, but found {type(arr)} instead. "
                     "If get_array_module module wasn't called directly, this might indicate "
                     "a bug in Thinc.")


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


DATA_VALIDATION: contextvars.ContextVar[bool] = contextvars.ContextVar("data_validation",
                                                                        default=False)


@contextlib.contextmanager
def data_validation(validation: bool) -> Iterator[None]:
    """Within the block, set the data-validation flag (Thinc's API).

    thinc_fast layers always check their input and gradient arrays at the
    boundary (rank, dtype, width, shape), so the flag changes no checks; it is
    kept so that Thinc code runs unchanged.
    """
    token = DATA_VALIDATION.set(bool(validation))
    try:
        yield
    finally:
        DATA_VALIDATION.reset(token)


def partial(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    """``functools.partial`` that keeps the docstring of `func`."""
    bound = functools.partial(func, *args, **kwargs)
    bound.__doc__ = func.__doc__
    return bound


__all__ = ["check_input2f", "check_grad", "crossentropy_sum", "get_width", "get_array_module",
           "is_numpy_array", "is_cupy_array", "is_xp_array", "to_numpy", "xp2torch", "torch2xp",
           "convert_recursive", "iterate_recursive", "data_validation", "partial",
           "to_categorical", "fix_random_seed", "has_cupy",
           "has_torch"]
