"""reduce_mean: one row per sequence, the mean of its rows."""

from typing import Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d, Ragged
from ._reduce import reduce_backprop
from ._util import check_ragged_input


@builtin("layers", "reduce_mean.v1")
def reduce_mean() -> Model:
    """``Y[i] = Xr.data[start_i:end_i].mean(axis=0)``; ``dX`` gives each row of
    sequence ``i`` the value ``dY[i] / length_i``. An empty sequence gives a
    zero row."""
    return Model("reduce_mean", forward)


def forward(model: Model, Xr: Ragged, is_train: bool) -> Tuple[Floats2d, Callable]:
    check_ragged_input(model, Xr)
    lengths = Xr.lengths
    Y = model.ops.reduce_mean(Xr.data, lengths)
    return Y, reduce_backprop(Y, lengths,
                              lambda dY: model.ops.backprop_reduce_mean(dY, lengths))
