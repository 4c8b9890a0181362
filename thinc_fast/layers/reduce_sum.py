"""reduce_sum: one row per sequence, the sum of its rows."""

from typing import Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d, Ragged
from ._reduce import reduce_backprop
from ._util import check_ragged_input


@builtin("layers", "reduce_sum.v1")
def reduce_sum() -> Model:
    """``Y[i] = Xr.data[start_i:end_i].sum(axis=0)``; ``dX`` repeats ``dY[i]``
    over the rows of sequence ``i``. An empty sequence gives a zero row."""
    return Model("reduce_sum", forward)


def forward(model: Model, Xr: Ragged, is_train: bool) -> Tuple[Floats2d, Callable]:
    check_ragged_input(model, Xr)
    lengths = Xr.lengths
    Y = model.ops.reduce_sum(Xr.data, lengths)
    return Y, reduce_backprop(Y, lengths,
                              lambda dY: model.ops.backprop_reduce_sum(dY, lengths))
