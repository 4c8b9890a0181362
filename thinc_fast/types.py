"""Thinc's data types: array annotations and the batch containers.

Array annotations
    ``Floats1d`` ... ``Floats4d``, ``Ints1d`` ... ``Ints4d`` and the unions
    ``Array1d`` ... ``Array4d``, ``FloatsXd``, ``IntsXd``, ``ArrayXd``. They are
    annotations, not constructors. At run time they validate through pydantic
    (both the ``pydantic.v1`` API, via ``__get_validators__``, and pydantic 2's
    own, via ``__get_pydantic_core_schema__``; pydantic is imported only when a
    model is built, so thinc_fast does not depend on it): a NumPy or CuPy array
    of that rank, ``Floats*`` float32, ``Ints*`` int32/int64/uint32/uint64
    (Thinc's rule). As in Thinc, ``isinstance(array, Floats2d)`` is False: use
    :func:`validate_array` for a run-time check.

Batch containers
    :class:`Ragged` (concatenated sequences: 2d ``data`` plus ``lengths``),
    :class:`Padded` (time-major padded batch sorted by decreasing length),
    :class:`Pairs` (two aligned sequences) and :class:`ArgsKwargs`.

Indexing follows NumPy's indexing of the lengths array. Where Thinc 9.1.1 gives
inconsistent results, thinc_fast gives the consistent one instead:

* ``Ragged``: a slice with no or a negative start, a negative ``int``, a stepped
  slice, NumPy integer scalars, boolean masks and empty index arrays all select
  the sequences NumPy would select from ``lengths`` (Thinc fails or returns data
  that does not match the lengths); every result keeps ``data_shape``.
* ``Padded``: every index selects batch columns (Thinc's array index selected
  time steps), keeps them sorted by decreasing length, recomputes ``size_at_t``
  for the sequences kept, and keeps each column's entry of ``indices``.
* ``Ragged(data, lengths)`` raises ``ValueError`` when NumPy ``lengths`` are
  negative or sum to more than ``data.shape[0]`` (Thinc accepts both silently);
  lengths that sum to less are accepted, as in Thinc (trailing rows are unused).
"""
from __future__ import annotations

import collections.abc
import math
import operator
from dataclasses import dataclass
import sys  # noqa: F401  (Thinc's thinc.types has it as an attribute)
from abc import abstractmethod  # noqa: F401  (likewise)
from typing import (TYPE_CHECKING, Any, Callable, Container, Dict, Generic, Iterable,  # noqa: F401
                    Iterator, List, Literal, Optional, Protocol, Sequence, Sized, Tuple, TypeVar,
                    Union, cast, overload)

import numpy

try:  # pragma: no cover - only with CuPy installed
    import cupy
except ImportError:  # pragma: no cover
    cupy = None
has_cupy = cupy is not None


def get_array_module(arr: Any) -> Any:
    """``numpy`` or ``cupy``, whichever owns `arr`; ValueError for anything else
    (Thinc's, which ``thinc_fast.util`` re-exports)."""
    if isinstance(arr, numpy.ndarray):
        return numpy
    if cupy is not None and isinstance(arr, cupy.ndarray):  # pragma: no cover - needs CuPy
        return cupy
    raise ValueError(f"Only numpy and cupy arrays are supported, but found {type(arr)} instead. "
                     "If get_array_module module wasn't called directly, this might indicate "
                     "a bug in Thinc.")


# fmt: off
DeviceTypes = Literal["cpu", "gpu", "tpu"]
Shape = Tuple[int, ...]
Xp = Any  # the array module: numpy or cupy
DTypes = Literal["f", "i", "float16", "float32", "float64", "int32", "int64", "uint32", "uint64"]
DTypesFloat = Literal["f", "float32", "float16", "float64"]
DTypesInt = Literal["i", "int32", "int64", "uint32", "uint64"]

XY_YZ_OutT = TypeVar("XY_YZ_OutT")
XY_XY_OutT = TypeVar("XY_XY_OutT")
ArrayT = TypeVar("ArrayT")
SelfT = TypeVar("SelfT")

# Reduction typedefs (Thinc's names).
Tru = Literal[True]
Fal = Literal[False]
OneAx = Union[int, Tuple[int]]
TwoAx = Tuple[int, int]
ThreeAx = Tuple[int, int, int]
FourAx = Tuple[int, int, int, int]
# fmt: on

# The dtypes each annotation accepts (Thinc's rule: floats are float32 only).
_DTYPES_OK: Dict[str, Tuple[str, ...]] = {
    "f": ("float32",),
    "i": ("int32", "int64", "uint32", "uint64"),
}


# ------------------------------------------------------------------ helpers
def _xp(arr: Any) -> Any:
    """numpy, or cupy for a CuPy array (CuPy is imported only when one is seen)."""
    if type(arr).__module__.startswith("cupy"):
        import cupy  # pragma: no cover - needs CuPy

        return cupy  # pragma: no cover
    return numpy


def _is_xp_array(obj: Any) -> bool:
    if isinstance(obj, numpy.ndarray):
        return True
    if type(obj).__module__.startswith("cupy"):  # pragma: no cover - needs CuPy
        import cupy

        return isinstance(obj, cupy.ndarray)
    return False


def _to_host(arr: Any) -> numpy.ndarray:
    return arr.get() if hasattr(arr, "get") and not isinstance(arr, numpy.ndarray) else \
        numpy.asarray(arr)


def _array_errors(obj: Any, ndim: Optional[int], dtype: Optional[str]) -> List[str]:
    errors = []
    if ndim is not None and obj.ndim != ndim:
        errors.append(f"wrong array dimensions (expected {ndim}, got {obj.ndim})")
    if dtype is not None:
        expected = _DTYPES_OK.get(dtype, (dtype,))
        if obj.dtype not in expected:
            errors.append(f"wrong array data type (expected {'/'.join(expected)}, "
                          f"got {obj.dtype})")
    return errors


def validate_array(obj: Any, ndim: Optional[int] = None, dtype: Optional[str] = None) -> Any:
    """`obj` if it is a NumPy/CuPy array of rank `ndim` and kind `dtype` ("f":
    float32, "i": int32/int64/uint32/uint64, or a dtype name); TypeError for a
    non-array, ValueError naming what is wrong otherwise (Thinc's messages)."""
    if not _is_xp_array(obj):
        raise TypeError("not a valid numpy or cupy array")
    errors = _array_errors(obj, ndim, dtype)
    if errors:
        raise ValueError(", ".join(errors))
    return obj


def _pydantic_core_schema(validate: Callable[[Any], Any]) -> Any:
    """A pydantic 2 core schema running `validate` (its TypeErrors reported as
    validation errors, as pydantic 1 did)."""
    from pydantic_core import core_schema

    def check(value: Any) -> Any:
        try:
            return validate(value)
        except TypeError as err:
            raise ValueError(str(err)) from None

    return core_schema.no_info_plain_validator_function(check)


class _Validated:
    """The pydantic hooks of an annotation class whose ``validate(value)``
    returns the value or raises (TypeError or ValueError)."""

    @classmethod
    def __get_validators__(cls) -> Iterator[Callable[[Any], Any]]:
        """Runtime validation for pydantic 1 (and ``pydantic.v1``)."""
        yield cls.validate  # type: ignore[attr-defined]

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Runtime validation for pydantic 2."""
        return _pydantic_core_schema(cls.validate)  # type: ignore[attr-defined]


# ------------------------------------------------------- array annotations
class _Array(_Validated):
    """Any NumPy or CuPy array (an annotation; validates through pydantic)."""

    _ndim: Optional[int] = None
    _dtype: Optional[str] = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{cls.__name__} is an annotation, not a constructor: make arrays "
                        "with ops.alloc*/ops.asarray* or numpy")

    @classmethod
    def validate(cls, value: Any) -> Any:
        return validate_array(value, ndim=cls._ndim, dtype=cls._dtype)

    if TYPE_CHECKING:  # for type checkers: arrays have NumPy's whole surface
        shape: Shape
        ndim: int
        size: int
        dtype: Any
        T: Any

        def __getattr__(self, name: str) -> Any: ...
        def __getitem__(self, key: Any) -> Any: ...
        def __setitem__(self, key: Any, value: Any) -> None: ...
        def __len__(self) -> int: ...
        def __iter__(self) -> Iterator[Any]: ...
        def __add__(self, other: Any) -> Any: ...
        def __radd__(self, other: Any) -> Any: ...
        def __sub__(self, other: Any) -> Any: ...
        def __rsub__(self, other: Any) -> Any: ...
        def __mul__(self, other: Any) -> Any: ...
        def __rmul__(self, other: Any) -> Any: ...
        def __truediv__(self, other: Any) -> Any: ...
        def __rtruediv__(self, other: Any) -> Any: ...
        def __pow__(self, other: Any) -> Any: ...
        def __matmul__(self, other: Any) -> Any: ...
        def __neg__(self) -> Any: ...
        def __lt__(self, other: Any) -> Any: ...
        def __le__(self, other: Any) -> Any: ...
        def __gt__(self, other: Any) -> Any: ...
        def __ge__(self, other: Any) -> Any: ...


class _Floats(_Array):
    """An array of floats (annotation only; validates as any array, as in Thinc)."""


class _Ints(_Array):
    """An array of ints (annotation only; validates as any array, as in Thinc)."""


class _Array1d(_Array):
    """A 1d array."""
    _ndim = 1


class _Array2d(_Array):
    """A 2d array."""
    _ndim = 2


class _Array3d(_Array):
    """A 3d array."""
    _ndim = 3


class _Array4d(_Array):
    """A 4d array."""
    _ndim = 4


class Floats1d(_Array1d, _Floats):
    """A 1d float32 array."""
    _dtype = "f"


class Floats2d(_Array2d, _Floats):
    """A 2d float32 array."""
    _dtype = "f"


class Floats3d(_Array3d, _Floats):
    """A 3d float32 array."""
    _dtype = "f"


class Floats4d(_Array4d, _Floats):
    """A 4d float32 array."""
    _dtype = "f"


class Ints1d(_Array1d, _Ints):
    """A 1d int32/int64/uint32/uint64 array."""
    _dtype = "i"


class Ints2d(_Array2d, _Ints):
    """A 2d int32/int64/uint32/uint64 array."""
    _dtype = "i"


class Ints3d(_Array3d, _Ints):
    """A 3d int32/int64/uint32/uint64 array."""
    _dtype = "i"


class Ints4d(_Array4d, _Ints):
    """A 4d int32/int64/uint32/uint64 array."""
    _dtype = "i"


# fmt: off
Array1d = Union[Floats1d, Ints1d]
Array2d = Union[Floats2d, Ints2d]
Array3d = Union[Floats3d, Ints3d]
Array4d = Union[Floats4d, Ints4d]
FloatsXd = Union[Floats1d, Floats2d, Floats3d, Floats4d]
IntsXd = Union[Ints1d, Ints2d, Ints3d, Ints4d]
ArrayXd = Union[FloatsXd, IntsXd]
List1d = Union[List[Floats1d], List[Ints1d]]
List2d = Union[List[Floats2d], List[Ints2d]]
List3d = Union[List[Floats3d], List[Ints3d]]
List4d = Union[List[Floats4d], List[Ints4d]]
ListXd = Union[List1d, List2d, List3d, List4d]
Array1dT = TypeVar("Array1dT", bound=Array1d)
FloatsXdT = TypeVar("FloatsXdT", Floats1d, Floats2d, Floats3d, Floats4d)
Slicish = Union[slice, List[int], ArrayXd]
# fmt: on


# -------------------------------------------------------------- generators
class Generator(_Validated, collections.abc.Iterator):
    """Annotation for arguments that take an iterator or iterable, so that pydantic
    (which validates neither by itself) accepts them unchanged."""

    @classmethod
    def validate(cls, value: Any) -> Any:
        if not hasattr(value, "__iter__") and not hasattr(value, "__next__"):
            raise TypeError("not a valid iterator")
        return value


_DIn = TypeVar("_DIn")


class Decorator(Protocol):
    """A function that returns its argument's signature unchanged."""

    def __call__(self, name: str) -> Callable[[_DIn], _DIn]: ...


# ---------------------------------------------------------------- indexing
def _positions(index: Any, n: int, what: str) -> numpy.ndarray:
    """A NumPy-style 1d index (ints, negatives, a boolean mask) over `n` items as
    non-negative int64 positions on the host; IndexError naming the problem."""
    pos = _to_host(index) if hasattr(index, "dtype") else numpy.asarray(index)
    if pos.dtype == numpy.bool_:
        if pos.shape != (n,):
            raise IndexError(f"{what}: a boolean index must have shape ({n},), got {pos.shape}")
        return numpy.flatnonzero(pos)
    if pos.size == 0:
        pos = pos.astype(numpy.int64)
    if pos.dtype.kind not in "iu":
        raise IndexError(f"{what}: indices must be integers or booleans, got dtype {pos.dtype}")
    if pos.ndim != 1:
        raise IndexError(f"{what}: an array index must be 1d, got shape {pos.shape}")
    pos = pos.astype(numpy.int64, copy=False)
    bad = (pos < -n) | (pos >= n)
    if bad.any():
        raise IndexError(f"{what}: index {int(pos[bad][0])} is out of bounds for {n} "
                         "sequences")
    return numpy.where(pos < 0, pos + n, pos)


def _as_int(index: Any) -> Optional[int]:
    """`index` as an int when it is an integer scalar (Python, NumPy, 0d array)."""
    if isinstance(index, (slice, tuple, list)):
        return None
    if getattr(index, "ndim", 0) != 0:
        return None
    if isinstance(index, (numpy.bool_, numpy.floating)):
        return None
    try:
        return operator.index(index)
    except TypeError:
        return None


def _normalize_int(i: int, n: int, what: str) -> int:
    if not -n <= i < n:
        raise IndexError(f"{what}: index {i} is out of bounds for {n} sequences")
    return i + n if i < 0 else i


# ------------------------------------------------------------------ Ragged
@dataclass(init=False, eq=False)
class Ragged:
    """A batch of sequences of different lengths, concatenated along the first
    dimension: ``data`` (2d: rows by the product of the other dimensions; the
    original shape is ``dataXd``) and ``lengths`` (one row count per sequence).

    Indexing is like indexing ``lengths`` with NumPy (an int, a slice, an int or
    boolean array), and gives a Ragged with the rows of the sequences selected:
    ``ragged[1:4]`` holds sequences 1, 2 and 3. Int and step-1 slices give views
    of ``data``; other indices gather copies.
    """

    data: Array2d
    lengths: Ints1d
    data_shape: Tuple[int, ...]
    starts_ends: Optional[Ints1d] = None

    def __init__(self, data: Any, lengths: Any) -> None:
        shape = getattr(data, "shape", None)
        if shape is None or len(shape) == 0:
            raise TypeError("Ragged data must be an array with at least one dimension, got "
                            f"{type(data).__name__}" + ("" if shape is None else " of shape ()"))
        if not hasattr(lengths, "shape"):  # a list or tuple of ints
            lengths = _xp(data).asarray(lengths, dtype="i")
        _check_lengths(shape, lengths)
        self.data = data if len(shape) == 2 else \
            data.reshape((shape[0], math.prod(shape[1:])))
        self.lengths = lengths
        self.data_shape = (-1,) + tuple(shape[1:])
        self.starts_ends = None

    def _with(self, data2d: Any, lengths: Any) -> "Ragged":
        """A Ragged over rows of this one's data (same row width, no checks)."""
        out = Ragged.__new__(Ragged)
        out.data = data2d
        out.lengths = lengths
        out.data_shape = self.data_shape
        out.starts_ends = None
        return out

    @property
    def dataXd(self) -> ArrayXd:
        """The data in its original shape (first dimension: the rows)."""
        if len(self.data_shape) == 2:
            return self.data
        return self.data.reshape((self.data.shape[0],) + self.data_shape[1:])

    def __len__(self) -> int:
        return self.lengths.shape[0]

    def __getitem__(self, index: Union[int, slice, Array1d, List[int]]) -> "Ragged":
        if isinstance(index, tuple):
            raise IndexError("Ragged arrays do not support 2d indexing.")
        n = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1:
                if stop <= start:
                    return self._with(self.data[0:0], self.lengths[0:0])
                starts_ends = self._get_starts_ends()
                rows = slice(int(starts_ends[start]), int(starts_ends[stop]))
                return self._with(self.data[rows], self.lengths[start:stop])
            return self._gather(numpy.arange(start, stop, step, dtype=numpy.int64))
        i = _as_int(index)
        if i is not None:
            i = _normalize_int(i, n, "Ragged")
            starts_ends = self._get_starts_ends()
            rows = slice(int(starts_ends[i]), int(starts_ends[i + 1]))
            return self._with(self.data[rows], self.lengths[i:i + 1])
        return self._gather(_positions(index, n, "Ragged"))

    def _gather(self, positions: numpy.ndarray) -> "Ragged":
        """The sequences at `positions` (non-negative host ints), in that order."""
        lengths = _to_host(self.lengths).astype(numpy.int64)
        starts = numpy.cumsum(lengths) - lengths
        sel_lengths = lengths[positions]
        shift = starts[positions] - (numpy.cumsum(sel_lengths) - sel_lengths)
        rows = numpy.arange(int(sel_lengths.sum())) + numpy.repeat(shift, sel_lengths)
        xp = _xp(self.data)
        if xp is not numpy:  # pragma: no cover - needs CuPy
            rows, positions = xp.asarray(rows), xp.asarray(positions)
        return self._with(self.data[rows], self.lengths[positions])

    def _get_starts_ends(self) -> Ints1d:
        """int32 offsets, one more than there are sequences: sequence ``i`` is rows
        ``starts_ends[i]:starts_ends[i + 1]`` (computed once, then cached)."""
        if self.starts_ends is None:
            xp = _xp(self.lengths)
            starts_ends = xp.empty(self.lengths.shape[0] + 1, dtype="i")
            starts_ends[0] = 0
            xp.cumsum(self.lengths, dtype="i", out=starts_ends[1:])
            self.starts_ends = starts_ends
        return self.starts_ends

    def _get_starts(self) -> Ints1d:
        return self._get_starts_ends()[:-1]

    def _get_ends(self) -> Ints1d:
        return self._get_starts_ends()[1:]


def _check_lengths(data_shape: Tuple[int, ...], lengths: Any) -> None:
    """ValueError unless `lengths` is 1d and, when on the host, holds no negative
    count and sums to at most the data's rows. (Device lengths are not summed:
    that would wait on the GPU.)"""
    if len(lengths.shape) != 1:
        raise ValueError(f"Ragged lengths must be a 1d array, got shape {tuple(lengths.shape)}")
    if not isinstance(lengths, numpy.ndarray) or lengths.size == 0:
        return
    rows = data_shape[0]
    total = lengths.sum()
    if total > rows:
        total = int(total) if float(total).is_integer() else float(total)
        raise ValueError(f"Ragged lengths sum to {total}, but the data has only {rows} rows "
                         f"(data shape {tuple(data_shape)}): the sequences would run past the "
                         "end of the data")
    smallest = lengths.min()
    if smallest < 0:
        raise ValueError(f"Ragged lengths must not be negative, got {smallest} at position "
                         f"{int(numpy.argmin(lengths))}")


# ------------------------------------------------------------------ Padded
@dataclass(eq=False)
class Padded:
    """A batch of padded sequences, sorted by decreasing length and time-major:
    ``data`` is (steps, batch, ...). ``size_at_t[t]`` is how many sequences are
    still running at step ``t`` (so ``data[t, :size_at_t[t]]`` is the live part),
    ``lengths[b]`` is the length of column ``b`` and ``indices[b]`` its position in
    the original, unsorted batch.

    Indexing selects batch columns (an int, a slice, an int or boolean array);
    the result stays sorted by decreasing length, its ``size_at_t`` counts the
    sequences kept, and each column keeps its entry of ``indices``.
    """

    data: Array3d
    size_at_t: Ints1d
    lengths: Ints1d
    indices: Ints1d

    def copy(self) -> "Padded":
        return Padded(self.data.copy(), self.size_at_t.copy(), self.lengths.copy(),
                      self.indices.copy())

    def __len__(self) -> int:
        return self.lengths.shape[0]

    def __getitem__(self, index: Union[int, slice, Ints1d, List[int]]) -> "Padded":
        if isinstance(index, tuple):
            raise IndexError("Padded arrays do not support multi-dimensional indexing: index "
                             "the batch with an int, a slice or a 1d array")
        n = len(self)
        i = _as_int(index)
        if i is not None:
            i = _normalize_int(i, n, "Padded")
            cols: Any = slice(i, i + 1)
        elif isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step == 1:
                cols = slice(start, max(start, stop))
            else:
                cols = numpy.sort(numpy.arange(start, stop, step, dtype=numpy.int64))
        else:
            cols = numpy.sort(_positions(index, n, "Padded"), kind="stable")
        if not isinstance(cols, slice) and _xp(self.lengths) is not numpy:
            cols = _xp(self.lengths).asarray(cols)  # pragma: no cover - needs CuPy
        lengths = self.lengths[cols]
        return Padded(self.data[:, cols], self._size_at_t(lengths), lengths, self.indices[cols])

    def _size_at_t(self, lengths: Any) -> Any:
        """How many of `lengths` are still running at each of the data's steps."""
        xp = _xp(lengths)
        steps = xp.arange(self.data.shape[0])
        counts = (lengths[None, :] > steps[:, None]).sum(axis=1)
        return counts.astype(getattr(self.size_at_t, "dtype", "i"))


# ------------------------------------------------------------ Pairs, ArgsKwargs
_P = TypeVar("_P", bound=Sequence)


@dataclass
class Pairs(Generic[_P]):
    """Two aligned sequences; indexing indexes both."""

    one: _P
    two: _P

    def __getitem__(self, index: Any) -> "Pairs[_P]":
        return Pairs(self.one[index], self.two[index])

    def __len__(self) -> int:
        return len(self.one)


@dataclass
class ArgsKwargs:
    """Positional and keyword arguments to spread into a function:
    ``f(*ak.args, **ak.kwargs)``. ``keys``/``values``/``items`` walk the positions
    of ``args`` (as ints) and then the ``kwargs``."""

    args: Tuple[Any, ...]
    kwargs: Dict[str, Any]

    @classmethod
    def from_items(cls, items: Iterable[Tuple[Union[int, str], Any]]) -> "ArgsKwargs":
        """From ``(key, value)`` pairs such as ``items()`` gives: int keys become
        positional arguments in the order they come (the int itself is not
        used), string keys keyword arguments."""
        args: List[Any] = []
        kwargs: Dict[str, Any] = {}
        for key, value in items:
            if isinstance(key, int):
                args.append(value)
            else:
                kwargs[key] = value
        return cls(args=tuple(args), kwargs=kwargs)

    def keys(self) -> Iterable[Union[int, str]]:
        yield from range(len(self.args))
        yield from self.kwargs.keys()

    def values(self) -> Iterable[Any]:
        yield from self.args
        yield from self.kwargs.values()

    def items(self) -> Iterable[Tuple[Union[int, str], Any]]:
        yield from enumerate(self.args)
        yield from self.kwargs.items()


@dataclass
class Unserializable:
    """A value wrapped so that it is not serialized with the model."""

    obj: Any


Batchable = Union[Pairs, Ragged, Padded, ArrayXd, List, Tuple]


class SizedGenerator:
    """An iterable with a ``len()`` that calls ``get_items()`` afresh each time
    it is iterated (Thinc's ``SizedGenerator``; what ``Ops.minibatch`` returns)."""

    __slots__ = ("get_items", "length")

    def __init__(self, get_items: Callable[[], Iterator[Any]], length: int) -> None:
        self.get_items = get_items
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Any]:
        yield from self.get_items()

    def __repr__(self) -> str:
        return f"<SizedGenerator of {self.length} items>"


__all__ = [
    "Floats1d", "Floats2d", "Floats3d", "Floats4d", "FloatsXd",
    "Ints1d", "Ints2d", "Ints3d", "Ints4d", "IntsXd",
    "Array1d", "Array2d", "Array3d", "Array4d", "ArrayXd",
    "List1d", "List2d", "List3d", "List4d", "ListXd",
    "Shape", "Xp", "DTypes", "DTypesFloat", "DTypesInt", "DeviceTypes", "Batchable",
    "Generator", "SizedGenerator", "Decorator",
    "Ragged", "Padded", "Pairs", "ArgsKwargs", "Unserializable", "validate_array",
]
