"""Data helpers: minibatch, take, to_categorical, fix_random_seed."""
from __future__ import annotations

import itertools
import random
import sys
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import numpy

SizeT = Union[int, Iterable[int]]


class Batches:
    """The batches of `items`, re-iterable when `size` is an int (then ``len`` works)."""

    def __init__(self, items: Sequence, size: SizeT, shuffle: bool) -> None:
        if not hasattr(items, "__len__") or not hasattr(items, "__getitem__"):
            raise TypeError(f"minibatch expects a sequence (list, range, tuple or array), "
                            f"got {type(items).__name__}")
        if isinstance(size, bool):
            raise TypeError("minibatch: size must be an int or an iterable of ints, got a bool")
        if isinstance(size, (int, numpy.integer)):
            _check_size(size)
        elif not hasattr(size, "__iter__") and not hasattr(size, "__next__"):
            raise TypeError(f"minibatch: size must be an int or an iterable of ints, "
                            f"got {type(size).__name__}")
        self.items = items
        self.size = size
        self.shuffle = shuffle

    def __len__(self) -> int:
        if not isinstance(self.size, (int, numpy.integer)):
            raise TypeError("len() of minibatches is only known for an int batch size")
        return -(-len(self.items) // int(self.size))

    def __iter__(self) -> Iterator[Any]:
        items = self.items
        n = len(items)
        order: Optional[numpy.ndarray] = None
        if self.shuffle:
            order = numpy.arange(n)
            numpy.random.shuffle(order)
        sizes = itertools.repeat(int(self.size)) if isinstance(self.size, (int, numpy.integer)) \
            else iter(self.size)
        start = 0
        while start < n:
            try:
                size = _check_size(next(sizes))
            except StopIteration:
                raise ValueError("minibatch: the iterable of batch sizes ran out before the data") from None
            stop = min(start + size, n)
            yield _take(items, start, stop, order)
            start = stop


def minibatch(items: Sequence, size: SizeT = 128, *, shuffle: bool = False) -> Batches:
    """Split `items` into batches of `size` (an int, or an iterable such as a
    schedule giving each batch's size). Arrays give array batches (views when
    not shuffled), lists give lists, ranges give ranges; ``shuffle=True``
    draws a new order (from NumPy's global RNG) each time it is iterated."""
    return Batches(items, size, shuffle)


def _check_size(size: Any) -> int:
    if isinstance(size, float) and size.is_integer():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, (int, numpy.integer)) or size < 1:
        raise ValueError(f"minibatch: batch size must be a positive int, got {size!r}")
    return int(size)


def _take(items: Sequence, start: int, stop: int, order: Optional[numpy.ndarray]) -> Any:
    if order is None:
        return items[start:stop]
    idx = order[start:stop]
    if hasattr(items, "ndim") and hasattr(items, "dtype"):
        return items[idx]
    if isinstance(items, tuple):
        return tuple(items[i] for i in idx)
    return [items[i] for i in idx]


def take(data: Any, idx: Any) -> Any:
    """The examples `idx` (an int array) of `data`: ``data[idx]`` for an array,
    a list of those entries for a list or tuple (documents)."""
    if hasattr(data, "shape"):
        return data[idx]
    return [data[int(i)] for i in idx]


def to_categorical(Y: Any, n_classes: Optional[int] = None, *,
                   label_smoothing: float = 0.0) -> Any:
    """One-hot float32 vectors for integer labels `Y` of any shape: the result
    has shape ``Y.shape + (n_classes,)`` (NumPy or CuPy, as `Y`). With
    ``label_smoothing=s`` the true class gets ``1 - s`` and the others
    ``s / (n_classes - 1)``. `n_classes` defaults to ``max(Y) + 1``."""
    xp = numpy
    if type(Y).__module__.startswith("cupy"):  # pragma: no cover - needs CuPy
        import cupy as xp
    labels = xp.asarray(Y)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"to_categorical expects integer labels, got dtype {labels.dtype} "
                         f"and shape {labels.shape}")
    top = int(labels.max()) + 1 if labels.size else 0
    if labels.size and int(labels.min()) < 0:
        raise ValueError(f"to_categorical: labels must be >= 0, found {int(labels.min())}")
    if n_classes is None:
        n_classes = top
    if label_smoothing < 0.0:
        raise ValueError(f"to_categorical: the label_smoothing parameter has to be >= 0, "
                         f"but found {label_smoothing}")
    if label_smoothing == 0.0:
        if n_classes < 1:
            raise ValueError(f"to_categorical: n_classes should be at least 1, "
                             f"but {n_classes} was provided")
        off = 0.0
    else:
        if n_classes <= 1:
            raise ValueError("to_categorical: n_classes should be greater than 1 when label "
                             f"smoothing is enabled, but {n_classes} was provided")
        off = label_smoothing / (n_classes - 1)
    if n_classes > 1 and label_smoothing >= (n_classes - 1) / n_classes:
        raise ValueError(f"to_categorical: for {n_classes} classes the label_smoothing parameter "
                         f"has to be less than (n_classes - 1) / n_classes = "
                         f"{(n_classes - 1) / n_classes}, but found {label_smoothing}")
    if top > n_classes:
        raise ValueError(f"to_categorical: label {top - 1} does not fit n_classes={n_classes}")
    table = xp.full((n_classes, n_classes), off, dtype="float32")
    xp.fill_diagonal(table, 1.0 - label_smoothing)
    return table[labels]


def fix_random_seed(seed: int = 0) -> None:
    """Seed Python's, NumPy's, PyTorch's (when it is imported: PyTorch wrappers
    and ``torch.rand`` then repeat, as in Thinc) and CuPy's (when installed)
    global RNGs. PyTorch is not imported for this: a program that uses it has
    imported it before building a PyTorch model."""
    random.seed(seed)
    numpy.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "manual_seed"):
        torch.manual_seed(seed)
    try:  # pragma: no cover - only with CuPy and a GPU
        import cupy

        cupy.random.seed(seed)
    except Exception:
        pass
