"""Helpers shared by the layers and the model, and Thinc's ``thinc.util`` surface.

- boundary checks for layers: :func:`check_input2f`, :func:`check_grad`;
- data shapes and arrays: :func:`get_width`, :func:`get_array_module`,
  :func:`is_numpy_array`, :func:`is_cupy_array`, :func:`convert_recursive`;
- data validation: under :func:`data_validation`, ``Model.initialize`` checks
  its sample ``X`` and ``Y`` against the annotations of the forward function
  (:func:`validate_fwd_input_output`), raising :class:`DataValidationError`;
- :func:`partial`.
"""
from __future__ import annotations

import collections
import collections.abc
import contextlib
import contextvars
import dataclasses
import functools
import importlib.util
import inspect
import types as _pytypes
import typing
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple, TypeVar, Union)

import numpy

from . import types as _types
from .data import fix_random_seed, to_categorical
from .backends import prefer_gpu, require_cpu, require_gpu, set_active_gpu  # noqa: F401
from .errors import ThincFastError
from .types import cupy, get_array_module, has_cupy  # noqa: F401  (one CuPy import, for both)

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model

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
    from . import compat
    from .backends import get_current_ops
    from .backends.cupy_ops import CupyOps

    torch = compat.torch
    if torch is None:
        raise ValueError("Cannot get default Torch device when Torch is not available.")
    ops = get_current_ops()
    if isinstance(ops, CupyOps):  # pragma: no cover - needs a GPU
        return torch.device(f"cuda:{torch.cuda.current_device()}")
    if getattr(ops, "name", None) == "mps" and compat.has_torch_mps_gpu:  # pragma: no cover
        return torch.device("mps")
    return torch.device("cpu")


from ._unsupported import mxnet2xp, tensorflow2xp, xp2mxnet, xp2tensorflow  # noqa: E402



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
    """Within the block, turn data validation on or off (Thinc's API).

    With validation on, ``Model.initialize(X, Y)`` checks the sample data of
    every node it initialises against the type annotations of that node's
    forward function (``X`` against the second argument's, ``Y`` against the
    first item of the returned tuple) and raises :class:`DataValidationError`
    naming the layer, the expected and the given type. Off (the default), the
    only cost is reading this flag once per ``initialize``. Layers check their
    arrays at the boundary (rank, dtype, width) either way.
    """
    token = DATA_VALIDATION.set(bool(validation))
    try:
        yield
    finally:
        DATA_VALIDATION.reset(token)


class DataValidationError(ThincFastError, ValueError):
    """Sample data that does not match a forward function's annotations.

    Thinc's message shape: the layer, the types of ``X`` and ``Y``, then one
    row per problem: where (``X``, ``Y``, ``X -> 0`` for the first item of a
    list) and what (expected vs given). ``errors`` holds the rows as
    ``{"loc": (...), "msg": str}`` dicts (pydantic's shape)."""

    def __init__(self, name: str, X: Any, Y: Any,
                 errors: Sequence[Mapping[str, Any]] = ()) -> None:
        self.name = name
        self.errors = [dict(error) for error in errors]
        rows = [(" -> ".join(str(p) for p in error.get("loc", ())), str(error.get("msg", "")))
                for error in self.errors]
        message = "\n".join([f"Data validation error in '{name}'",
                              f"X: {type(X)} Y: {type(Y)}", _table(rows)])
        super().__init__("\n\n" + message)


def _table(rows: List[Tuple[str, str]]) -> str:
    if not rows:
        return ""
    width = max(len(loc) for loc, _ in rows)
    return "\n".join(f"{loc.ljust(width)}   {msg}" for loc, msg in rows)


# Lists are checked on their first items only, as Thinc does (samples can be big).
_MAX_SAMPLE_ITEMS = 5
_LIST_LIKE = (list, tuple, collections.deque)


def validate_fwd_input_output(name: str, func: Callable[..., Any], X: Any, Y: Any) -> None:
    """Check sample input `X` and output `Y` against the annotations of the
    forward function `func` of layer `name` (Thinc's function).

    ``X`` is checked against the annotation of ``func``'s second argument and
    ``Y`` against the first item of its ``Tuple[OutT, Callable]`` return
    annotation; None, an unannotated argument, ``Any`` and type variables
    without a bound check nothing. Understood: the array annotations of
    :mod:`thinc_fast.types` (and any class validating through pydantic's
    ``__get_validators__`` hook), classes, ``Union``/``Optional``, ``List``,
    ``Sequence``, ``Tuple``, ``Dict``/``Mapping``, ``Callable``, ``Literal``
    and type variables (their bound or constraints). Raises
    :class:`DataValidationError`.
    """
    try:
        hash(func)
        lookup = _cached_fwd_annotations
    except TypeError:  # an unhashable callable: not cached
        lookup = _fwd_annotations
    try:
        annot_x, annot_y = lookup(func)
    except ValueError as err:
        raise DataValidationError(name, X, Y, [{"msg": str(err)}]) from None
    errors: List[Tuple[Tuple[Any, ...], str]] = []
    if X is not None and annot_x is not None:
        errors.extend(_type_errors(_sample(X), annot_x, ("X",), func))
    if Y is not None and annot_y is not None:
        errors.extend(_type_errors(_sample(Y), annot_y, ("Y",), func))
    if errors:
        raise DataValidationError(name, X, Y, [{"loc": loc, "msg": msg} for loc, msg in errors])


def _sample(value: Any) -> Any:
    return value[:_MAX_SAMPLE_ITEMS] if isinstance(value, list) else value


def _fwd_annotations(func: Callable[..., Any]) -> Tuple[Any, Any]:
    """The annotations ``func`` gives X and (the first item of) its output; None
    where there is nothing to check. ValueError for a function that is not
    ``forward(model, X, is_train)``."""
    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    if len(params) != 3:
        found = f"{len(params)} ({', '.join(p.name for p in params)})"
        raise ValueError("Invalid forward function. Expected 3 arguments (model, X, is_train), "
                         f"got {found}")
    annot_x: Any = params[1].annotation
    annot_y: Any = sig.return_annotation
    try:  # string annotations (``from __future__ import annotations``), resolved once
        hints = typing.get_type_hints(func, globalns=_namespace(func))
    except Exception:  # an unresolvable name: that annotation checks nothing
        hints = {}
    annot_x = hints.get(params[1].name, annot_x)
    annot_y = hints.get("return", annot_y)
    if typing.get_origin(annot_y) is tuple:
        args = typing.get_args(annot_y)
        if len(args) == 2 and args[1] is not Ellipsis:
            annot_y = args[0]  # forward returns (Y, backprop): check Y
    return _checked(annot_x), _checked(annot_y)


_cached_fwd_annotations = functools.lru_cache(maxsize=512)(_fwd_annotations)


def _checked(annot: Any) -> Any:
    """None for annotations that accept anything."""
    if annot is inspect.Signature.empty or annot is Any or annot is object:
        return None
    if isinstance(annot, TypeVar) and annot.__bound__ is None and not annot.__constraints__:
        return None
    return annot


def _namespace(func: Callable[..., Any]) -> Dict[str, Any]:
    """Where string annotations are looked up: thinc_fast's types, then the function's module."""
    target = inspect.unwrap(func)
    target = getattr(target, "func", target)  # functools.partial
    return {**vars(_types), **getattr(target, "__globals__", {})}


def _type_errors(value: Any, annot: Any, loc: Tuple[Any, ...],
                 func: Callable[..., Any]) -> List[Tuple[Tuple[Any, ...], str]]:
    """Why `value` does not match `annot`: ``[(loc, message)]``, empty when it does."""
    if annot is None or annot is Any or annot is object or annot is inspect.Signature.empty:
        return []
    if isinstance(annot, (str, typing.ForwardRef)):
        resolved = _resolve(annot, func)
        return [] if resolved is None else _type_errors(value, resolved, loc, func)
    if isinstance(annot, TypeVar):
        if annot.__bound__ is not None:
            return _type_errors(value, annot.__bound__, loc, func)
        if annot.__constraints__:
            return _type_errors(value, Union[annot.__constraints__], loc, func)
        return []
    if annot is None.__class__:
        return [] if value is None else [(loc, _expected(annot, value))]
    origin = typing.get_origin(annot)
    args = typing.get_args(annot)
    if origin is typing.Annotated:
        return _type_errors(value, args[0], loc, func)
    if origin is Union or origin is _pytypes.UnionType:
        return _union_errors(value, args, annot, loc, func)
    if origin is typing.Literal:
        if any(type(value) is type(arg) and value == arg for arg in args):
            return []
        return [(loc, f"expected {_type_name(annot)}, got {value!r}")]
    if origin is collections.abc.Callable or annot is Callable:
        return [] if callable(value) else [(loc, _expected(annot, value))]
    if origin in (list, collections.abc.Sequence, collections.abc.MutableSequence,
                  collections.abc.Iterable, collections.abc.Collection):
        return _items_errors(value, args, annot, loc, func)
    if origin is tuple:
        return _tuple_errors(value, args, annot, loc, func)
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return _mapping_errors(value, args, annot, loc, func)
    if origin is type:
        return [] if isinstance(value, type) else [(loc, _expected(annot, value))]
    if origin is not None:  # another generic: Pairs[Floats2d], Model[InT, OutT], Set[int], ...
        return _class_errors(value, origin, annot, loc)
    if isinstance(annot, type):
        return _class_errors(value, annot, annot, loc)
    return []  # an annotation this checker does not understand checks nothing


def _resolve(annot: Any, func: Callable[..., Any]) -> Any:
    ref = annot if isinstance(annot, typing.ForwardRef) else typing.ForwardRef(annot)
    holder = type("_Holder", (), {"__annotations__": {"x": ref}})
    try:
        return typing.get_type_hints(holder, globalns=_namespace(func))["x"]
    except Exception:
        return None


def _union_errors(value: Any, args: Tuple[Any, ...], annot: Any, loc: Tuple[Any, ...],
                  func: Callable[..., Any]) -> List[Tuple[Tuple[Any, ...], str]]:
    members = [arg for arg in args if arg is not None.__class__]
    if value is None and len(members) < len(args):
        return []
    found = []
    for member in members:
        errors = _type_errors(value, member, loc, func)
        if not errors:
            return []
        found.append(errors)
    if len(found) == 1:  # Optional[X]: X's own reasons
        return found[0]
    return [(loc, _expected(annot, value))]


def _items_errors(value: Any, args: Tuple[Any, ...], annot: Any, loc: Tuple[Any, ...],
                  func: Callable[..., Any]) -> List[Tuple[Tuple[Any, ...], str]]:
    if not isinstance(value, _LIST_LIKE):
        return [(loc, _expected(annot, value))]
    if not args:
        return []
    errors: List[Tuple[Tuple[Any, ...], str]] = []
    for i, item in enumerate(value):
        errors.extend(_type_errors(item, args[0], loc + (i,), func))
    return errors


def _tuple_errors(value: Any, args: Tuple[Any, ...], annot: Any, loc: Tuple[Any, ...],
                  func: Callable[..., Any]) -> List[Tuple[Tuple[Any, ...], str]]:
    if not isinstance(value, (tuple, list)):
        return [(loc, _expected(annot, value))]
    if not args:
        return []
    if len(args) == 2 and args[1] is Ellipsis:
        args = (args[0],) * len(value)
    elif len(args) != len(value):
        return [(loc, f"expected {_type_name(annot)}, got a {type(value).__name__} of "
                      f"{len(value)} items")]
    errors: List[Tuple[Tuple[Any, ...], str]] = []
    for i, (item, arg) in enumerate(zip(value, args)):
        errors.extend(_type_errors(item, arg, loc + (i,), func))
    return errors


def _mapping_errors(value: Any, args: Tuple[Any, ...], annot: Any, loc: Tuple[Any, ...],
                    func: Callable[..., Any]) -> List[Tuple[Tuple[Any, ...], str]]:
    if not isinstance(value, collections.abc.Mapping):
        return [(loc, _expected(annot, value))]
    if len(args) != 2:
        return []
    errors: List[Tuple[Tuple[Any, ...], str]] = []
    for key, item in value.items():
        errors.extend(_type_errors(key, args[0], loc + (f"key {key!r}",), func))
        errors.extend(_type_errors(item, args[1], loc + (key,), func))
    return errors


def _class_errors(value: Any, cls: type, annot: Any,
                  loc: Tuple[Any, ...]) -> List[Tuple[Tuple[Any, ...], str]]:
    validators = getattr(cls, "__get_validators__", None)
    if validators is not None:  # the pydantic hook: thinc_fast's array annotations
        for validator in validators():
            try:
                value = validator(value)
            except (TypeError, ValueError, AssertionError) as err:
                return [(loc, f"{_expected(annot, value)} ({err})")]
        return []
    if cls is float:
        ok = isinstance(value, (int, float, numpy.integer, numpy.floating)) and \
            not isinstance(value, bool)
    elif cls is int:
        ok = isinstance(value, (int, numpy.integer)) and not isinstance(value, bool)
    else:
        try:
            ok = isinstance(value, cls)
        except TypeError:  # a Protocol that is not runtime-checkable, ...
            ok = True
    return [] if ok else [(loc, _expected(annot, value))]


def _expected(annot: Any, value: Any) -> str:
    return f"expected {_type_name(annot)}, got {_describe(value)}"


def _describe(value: Any) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "ndim"):
        return f"a {value.ndim}d {value.dtype} array of shape {tuple(value.shape)}"
    if isinstance(value, _LIST_LIKE):
        kinds = sorted({type(item).__name__ for item in value})
        inner = f" of {'/'.join(kinds)}" if kinds else ""
        return f"a {type(value).__name__}{inner} ({len(value)} items)"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def _type_name(annot: Any) -> str:
    if annot is None.__class__ or annot is None:
        return "None"
    if isinstance(annot, TypeVar):
        if annot.__bound__ is not None:
            return _type_name(annot.__bound__)
        return annot.__name__
    if isinstance(annot, typing.ForwardRef):
        return annot.__forward_arg__
    origin = typing.get_origin(annot)
    args = typing.get_args(annot)
    if origin is Union or origin is _pytypes.UnionType:
        names: List[str] = []
        for arg in args:
            name = _type_name(arg)
            if name not in names:
                names.append(name)
        return " | ".join(names)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is not None:
        base = {list: "List", tuple: "Tuple", dict: "Dict", type: "Type"}.get(
            origin, getattr(origin, "__name__", str(origin)))
        if not args:
            return base
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
        return f"{base}[{inner}]"
    return getattr(annot, "__name__", str(annot))


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


def __getattr__(name: str) -> Any:
    if name in _COMPAT_FLAGS:
        from . import compat

        return getattr(compat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["check_input2f", "check_grad", "crossentropy_sum", "get_width", "get_array_module",
           "is_numpy_array", "is_cupy_array", "is_xp_array", "to_numpy", "xp2torch", "torch2xp",
           "get_torch_default_device", "tensorflow2xp", "xp2tensorflow", "mxnet2xp", "xp2mxnet",
           "convert_recursive", "iterate_recursive", "data_validation", "DataValidationError",
           "validate_fwd_input_output", "partial",
           "to_categorical", "fix_random_seed", "has_cupy",
           "has_torch", "copy_array", "prefer_gpu", "require_gpu", "require_cpu",
           "set_active_gpu", "make_tempfile", "use_nvtx_range", "ArrayInfo"]
