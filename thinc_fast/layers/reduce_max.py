"""reduce_max: one row per sequence, the column-wise maximum of its rows."""

from typing import Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d, Ragged
from ._reduce import reduce_backprop
from ._util import check_ragged_input


@builtin("layers", "reduce_max.v1")
def reduce_max() -> Model:
    """``Y[i, j] = max over the rows of sequence i of X[:, j]``; ``dX`` routes
    ``dY[i, j]`` to the row that held the maximum (the first, on ties).
    As in Thinc, every sequence must have at least one row (ValueError)."""
    return Model("reduce_max", forward)


def forward(model: Model, Xr: Ragged, is_train: bool) -> Tuple[Floats2d, Callable]:
    check_ragged_input(model, Xr)
    lengths = Xr.lengths
    Y, which = model.ops.reduce_max(Xr.data, lengths)
    return Y, reduce_backprop(Y, lengths,
                              lambda dY: model.ops.backprop_reduce_max(dY, which, lengths))
