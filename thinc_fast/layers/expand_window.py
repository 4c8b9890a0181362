"""expand_window: each row joined with its `window_size` neighbours on either side."""

from typing import Callable, Tuple, TypeVar

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d, Ragged

InT = TypeVar("InT", Floats2d, Ragged)


@builtin("layers", "expand_window.v1")
def expand_window(window_size: int = 1) -> Model:
    """``Y[i] = concat(X[i - w], ..., X[i], ..., X[i + w])`` with zeros past the
    ends (``ops.seq2col``): one step of a convolution. A 2d array is one
    sequence; a Ragged's windows stop at its sequence boundaries. The output
    has ``(2 * window_size + 1) * nI`` columns."""
    if isinstance(window_size, bool) or not isinstance(window_size, int) or window_size < 0:
        raise ValueError(f"expand_window: window_size must be a non-negative int, "
                         f"got {window_size!r}")
    return Model("expand_window", forward, attrs={"window_size": window_size})


def forward(model: Model, X: InT, is_train: bool) -> Tuple[InT, Callable]:
    if isinstance(X, Ragged):
        return _expand_window_ragged(model, X)
    return _expand_window_floats(model, X)


def _expand_window_floats(model: Model, X: Floats2d) -> Tuple[Floats2d, Callable]:
    nW = model.attrs["window_size"]
    if len(X) > 0:
        Y = model.ops.seq2col(X, nW)
    else:
        Y = model.ops.tile(X, (nW * 2) + 1)

    def backprop(dY: Floats2d) -> Floats2d:
        return model.ops.backprop_seq2col(dY, nW)

    return Y, backprop


def _expand_window_ragged(model: Model, Xr: Ragged) -> Tuple[Ragged, Callable]:
    nW = model.attrs["window_size"]
    lengths = Xr.lengths
    Y = Ragged(model.ops.seq2col(Xr.data, nW, lengths=lengths), lengths)

    def backprop(dYr: Ragged) -> Ragged:
        return Ragged(model.ops.backprop_seq2col(dYr.data, nW, lengths=lengths), lengths)

    return Y, backprop
