"""array_getitem, floats_getitem, ints_getitem: index into the input array."""

from typing import Any, Callable, Sequence, Tuple, Union

from ..model import Model
from ..types import ArrayXd

AxisIndex = Union[int, slice, Sequence[int]]
Index = Union[AxisIndex, Tuple[AxisIndex, ...]]


def array_getitem(index: Index) -> Model:
    """``X -> X[index]`` for any NumPy-style index (e.g. ``(slice(None), slice(None, -1))``
    for ``X[:, :-1]``); backprop scatters ``dY`` into zeros of the input's shape."""
    return Model("array-getitem", forward, attrs={"index": index})


def floats_getitem(index: Index) -> Model:
    """:func:`array_getitem` for float arrays (a separate name for type declarations)."""
    return Model("floats-getitem", forward, attrs={"index": index})


def ints_getitem(index: Index) -> Model:
    """:func:`array_getitem` for int arrays (a separate name for type declarations)."""
    return Model("ints-getitem", forward, attrs={"index": index})


def forward(model: Model, X: ArrayXd, is_train: bool) -> Tuple[ArrayXd, Callable]:
    index = model.attrs["index"]
    shape, dtype = X.shape, X.dtype

    def backprop(dY: Any) -> ArrayXd:
        dX = model.ops.alloc(shape, dtype=dtype)
        dX[index] = dY
        return dX

    if len(X) == 0:
        return X, backprop
    return X[index], backprop
