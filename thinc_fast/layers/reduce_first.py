"""reduce_first: one row per sequence, its first row."""

from typing import Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d, Ragged
from ._reduce import reduce_backprop
from ._util import check_ragged_input


@builtin("layers", "reduce_first.v1")
def reduce_first() -> Model:
    """``Y[i] = first row of sequence i``; ``dX`` is ``dY[i]`` on that row and
    zero elsewhere. As in Thinc, every sequence must have at least one row."""
    return Model("reduce_first", forward)


def forward(model: Model, Xr: Ragged, is_train: bool) -> Tuple[Floats2d, Callable]:
    check_ragged_input(model, Xr)
    Y, starts_ends = model.ops.reduce_first(Xr.data, Xr.lengths)
    return Y, reduce_backprop(Y, Xr.lengths,
                              lambda dY: model.ops.backprop_reduce_first(dY, starts_ends))
