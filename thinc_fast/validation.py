"""Data validation: sample data checked against a forward function's annotations.

Under :func:`data_validation` (off by default), ``Model.initialize`` checks
its sample ``X`` and ``Y`` against the annotations of each node's forward
function (:func:`validate_fwd_input_output`) and raises
:class:`DataValidationError` naming the layer, the expected and the given type.
The layers' own boundary checks (rank, dtype, width) are in
``thinc_fast.layers._util`` and run either way.

Thinc keeps these names in ``thinc.util``; ``thinc_fast.util`` re-exports them.
This module imports nothing of the model, so the model can import it.
"""
from __future__ import annotations

import collections
import collections.abc
import contextlib
import contextvars
import functools
import inspect
import types as _pytypes
import typing
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Sequence, Tuple, TypeVar,
                    Union)

import numpy

from . import types as _types
from .errors import ThincFastError


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


__all__ = ["DATA_VALIDATION", "data_validation", "DataValidationError",
           "validate_fwd_input_output"]
